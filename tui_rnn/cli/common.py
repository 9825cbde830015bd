"""common: split from tui_rnn.cli."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from threadpoolctl import threadpool_limits

from tui_rnn.driver import Run, RunRequest
from tui_rnn.safe import files
from tui_rnn.safe import text as safe_text
from tui_rnn.store.rundir import resolve_run_dir
from tui_rnn.training.options import given

COMMANDS = ("train", "generate", "gradcheck", "export", "inspect", "runs", "report")


EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake in what the user asked for; printed as one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print the whole usage first
        raise UsageError(f"{message} (see {self.prog} --help)")


# -- option types: reject NaN, infinities and out-of-range values up front ----------------------
def number_type(kind, name, low=None, low_inclusive=True):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{name} must be finite, got {text!r}")
        if low is not None and (value < low if low_inclusive else value <= low):
            sign = ">=" if low_inclusive else ">"
            raise argparse.ArgumentTypeError(f"{name} must be {sign} {low}, got {text!r}")
        return value

    parse.__name__ = name
    return parse


def path_type(name, what="a directory path"):
    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{name} needs {what}, got an empty one")
        return text

    parse.__name__ = name
    return parse


def run_request(args):
    """What the command line asked for, as the run driver takes it."""

    return RunRequest(
        corpus=args.corpus,
        encoding=args.encoding,
        options=given(args),
        preset=args.preset,
        iterations=args.iterations,
        epochs=args.epochs,
        run_dir=args.run_dir,
        resume=None if args.resume is None else str(resolve_run_dir(args.resume)),
        save_every=args.save_every,
    )


def print_warning(message: str) -> None:
    print_error(f"tui-rnn: warning: {message}")


def print_error(line: str) -> None:
    """One line on stderr (paths and corpus characters in it shown safely on a terminal)."""

    try:
        safe_text.write(sys.stderr, line + "\n")
        sys.stderr.flush()
    except OSError:  # nowhere left to say it
        pass


def open_run(args, warn=None, lazy: bool = False):
    """The run the command line asks for (tui_rnn.run.Run): new, or resumed with --resume.

    `warn(message)` hears non-fatal news, such as a damaged newest checkpoint that was skipped
    or carriage returns in a new corpus (default: stderr); the app collects them to show them
    in its window.
    """

    return Run.open(run_request(args), warn or print_warning, lazy=lazy)


def limit_blas_threads(threads: int = 1):
    """The run's --threads BLAS threads (one by default: at m = 100 the matrices are too small
    for a second thread to pay off)."""

    return threadpool_limits(limits=threads, user_api="blas")


def json_line(document: dict) -> str:
    """One line of strict JSON: NaN and infinities (which JSON lacks) become null."""

    def strict(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: strict(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [strict(v) for v in value]
        return value

    return json.dumps(strict(document), allow_nan=False) + "\n"


def output_error(reason: str):

    return files.OutputError(f"cannot write to standard output: {reason}", "stdout", reason)


def write_stdout(text: str) -> None:
    """Print a line of ours on stdout (a path in it shown safely on a terminal); a failing
    stdout is one line."""

    files.write_output(
        sys.stdout, safe_text.terminal(text) if safe_text.isatty(sys.stdout) else text
    )


def silence_stdout() -> None:
    """After stdout failed (a full disk, a closed pipe): send what is still buffered, and
    anything after, to /dev/null, so that exiting does not fail again with a second message."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, ValueError, OSError):  # not a real file (a test's stream)
        pass
