"""What every command shares: the one-line usage error, argparse types, and the way out (stdout
written safely, one line on stderr, strict JSON).

A user's mistake is a UsageError (or a lower layer's one-line error), printed by `main` as one
line with exit code 2; what the commands print goes through `write_stdout`, so a path or a
corpus character never reaches a terminal raw and a failing stdout is one line too.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from tui_rnn.safe import files
from tui_rnn.safe import text as safe_text
from tui_rnn.store import rundir
from tui_rnn.store.checkpoint import CHECKPOINTS
from tui_rnn.training.generation import parse_number
from tui_rnn.training.options import OptionError

EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake in what the user asked for; printed as one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would print the whole usage first
        raise UsageError(f"{message} (see {self.prog} --help)")


def process_started() -> float:
    """When this process began, on time.monotonic()'s clock, so that a time limit counts the
    interpreter's start-up too (Linux's /proc; elsewhere, or if it cannot be read: now)."""
    now = time.monotonic()
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22, starttime: clock ticks after boot
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return now
    return now - age if 0 <= age < 600 else now


# -- argparse types: reject NaN, infinities and out-of-range values up front --------------------
def number_type(
    kind: type, flag: str, low: float | None = None, low_open: bool = False
) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        try:
            return parse_number(text, kind, flag, low, low_open)
        except OptionError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = flag  # argparse names the type in its messages
    return parse


def path_type(flag: str, what: str = "a directory path") -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{flag} needs {what}, got an empty one")
        return text

    parse.__name__ = flag
    return parse


def named_run_dir(text: str) -> Path:
    """The run directory RUN_DIR names; for `latest`, which run that is, said on stderr (the
    command's stdout is its output)."""
    run_dir = rundir.resolve_run_dir(text)
    if text == rundir.LATEST and str(run_dir) != text:
        print_error(f"tui-rnn: latest is {run_dir}")
    return run_dir


# -- the way out -------------------------------------------------------------------------------
def print_warning(message: str) -> None:
    print_error(f"tui-rnn: warning: {message}")


def print_error(line: str) -> None:
    """One line on stderr: the paths and corpus characters in it shown on a terminal, never
    obeyed, and a newline in a name shown as ↵ (see `shown_line`)."""
    shown = shown_line(line, sys.stderr) + "\n"
    try:
        try:
            sys.stderr.write(shown)
        except UnicodeEncodeError:  # a terminal that cannot show ␛ or ↵: escapes, not nothing
            encoding = getattr(sys.stderr, "encoding", None) or "ascii"
            sys.stderr.write(shown.encode(encoding, "backslashreplace").decode(encoding))
        sys.stderr.flush()
    except OSError:  # nowhere left to say it
        pass


def json_line(document: object) -> str:
    """One line of strict JSON: NaN and infinities (which JSON lacks) become null."""

    def strict(value: object) -> object:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: strict(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [strict(v) for v in value]
        return value

    return json.dumps(strict(document), allow_nan=False) + "\n"


def output_error(reason: str) -> files.OutputError:
    return files.OutputError(f"cannot write to standard output: {reason}", "stdout", reason)


def write_stdout(text: str) -> None:
    """Print a line of ours on stdout (a path in it shown safely on a terminal); a failing
    stdout is one line."""
    files.write_output(
        sys.stdout, safe_text.terminal(text) if safe_text.isatty(sys.stdout) else text
    )


def say(line: str) -> None:
    """One line of ours on stdout ("wrote PATH"), the paths in it shown as `print_error`
    shows them."""
    files.write_output(sys.stdout, shown_line(line, sys.stdout) + "\n")


def shown_line(line: str, stream: object) -> str:
    """A line of ours naming paths, kept one line wherever it goes (a newline in a name must
    not forge a line of its own, an undecodable byte not fail to encode): on a terminal
    every control shown (safe_text.line), into a pipe or a file exact but for those."""
    return safe_text.line(line) if safe_text.isatty(stream) else safe_text.one_line(line)


def silence_stdout() -> None:
    """After stdout failed (a full disk, a closed pipe): send what is still buffered, and
    anything after, to /dev/null, so that exiting does not fail again with a second message."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, ValueError, OSError):  # not a real file (a test's stream)
        pass


# -- which model of a run ------------------------------------------------------------------------
def checkpoint_arguments(parser: argparse.ArgumentParser, default: str = "best") -> None:
    """--checkpoint best|latest, and --current for latest: which of a run's models to use."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--checkpoint",
        choices=CHECKPOINTS,
        default=default,
        help="the run's best model (lowest validation loss, else smooth loss) or its latest "
        f"({default})",
    )
    which.add_argument(
        "--current",
        dest="checkpoint",
        action="store_const",
        const="latest",
        default=default,
        help="the latest model: --checkpoint latest",
    )


def model_choice_argument(parser: argparse.ArgumentParser) -> None:
    """--checkpoint best|latest beside --best, for commands whose default is the latest model."""
    parser.add_argument(
        "--checkpoint",
        choices=CHECKPOINTS,
        default=None,
        help="the run's best model or its latest (latest; --best is --checkpoint best)",
    )


def use_best(best: bool, checkpoint: str | None) -> bool:
    """Whether --best or --checkpoint asks for the best model; one line if they disagree."""
    if best and checkpoint == "latest":
        raise UsageError("--best and --checkpoint latest ask for different models: give one")
    return best or checkpoint == "best"
