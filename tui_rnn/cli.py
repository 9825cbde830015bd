"""The command line: the app, train, generate, gradcheck, export.

    tui-rnn [CORPUS] [training options]          the app (built-in corpus if none)
    tui-rnn train [CORPUS] [training options]    headless training
    tui-rnn generate RUN_DIR [--prompt TEXT] ...
    tui-rnn gradcheck [CORPUS] ...
    tui-rnn export RUN_DIR ...

Every user mistake ends in one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

COMMANDS = ("train", "generate", "gradcheck", "export")
EXIT_USAGE = 2


class UsageError(Exception):
    """A mistake in what the user asked for; printed as one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print the whole usage first
        raise UsageError(f"{message} (see {self.prog} --help)")


# -- option types: reject NaN, infinities and out-of-range values up front ----------------------
def _number(kind, name, low=None, low_inclusive=True):
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


def _path(name, what="a directory path"):
    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{name} needs {what}, got an empty one")
        return text

    parse.__name__ = name
    return parse


def add_corpus_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "corpus",
        nargs="?",
        default=None,
        metavar="CORPUS",
        help="a text file to learn (default: the built-in tinyshakespeare)",
    )
    parser.add_argument("--encoding", default="utf-8", help="the corpus's encoding (utf-8)")


def add_training_options(parser: argparse.ArgumentParser) -> None:
    add_corpus_options(parser)
    g = parser.add_argument_group("model and training")
    g.add_argument(
        "--hidden", type=_number(int, "--hidden", 1), default=100, help="hidden size m (100)"
    )
    g.add_argument(
        "--seq-length",
        type=_number(int, "--seq-length", 1),
        default=25,
        help="characters per update (25)",
    )
    g.add_argument(
        "--eta",
        type=_number(float, "--eta", 0, False),
        default=0.1,
        help="AdaGrad learning rate (0.1)",
    )
    g.add_argument(
        "--sigma",
        type=_number(float, "--sigma", 0),
        default=0.01,
        help="std of the Gaussian weight init (0.01)",
    )
    g.add_argument("--seed", type=_number(int, "--seed", 0), default=0, help="random seed (0)")
    length = g.add_mutually_exclusive_group()
    length.add_argument(
        "--iterations",
        type=_number(int, "--iterations", 0),
        default=None,
        help="train up to this many updates in total",
    )
    length.add_argument(
        "--epochs",
        type=_number(float, "--epochs", 0),
        default=None,
        help="train up to this many epochs in total (default 2)",
    )
    g.add_argument(
        "--sample-every",
        type=_number(int, "--sample-every", 1),
        default=10_000,
        help="updates between samples (10000)",
    )
    g.add_argument(
        "--sample-length",
        type=_number(int, "--sample-length", 0),
        default=200,
        help="characters per sample (200)",
    )
    r = parser.add_argument_group("run directory")
    r.add_argument(
        "--run-dir",
        type=_path("--run-dir"),
        default=None,
        help="where to keep the run (runs/<timestamp>)",
    )
    r.add_argument(
        "--resume",
        type=_path("--resume"),
        default=None,
        metavar="RUN_DIR",
        help="continue a saved run exactly where it stopped",
    )
    r.add_argument(
        "--save-every",
        type=_number(float, "--save-every", 0, False),
        default=10.0,
        help="seconds between automatic checkpoints (10)",
    )


def train_config(args):
    from .train import TrainConfig

    config = TrainConfig(
        hidden_size=args.hidden,
        seq_length=args.seq_length,
        eta=args.eta,
        sigma=args.sigma,
        seed=args.seed,
        sample_every=args.sample_every,
        sample_length=args.sample_length,
    )
    try:
        config.validate()
    except ValueError as err:
        raise UsageError(str(err)) from None
    return config


def check_model_fits(vocab_size: int, hidden_size: int, arrays: int | None = None) -> None:
    """Refuse a model that cannot fit in this machine's memory up front, with one line (else
    NumPy raises MemoryError with a traceback, or the kernel kills us halfway)."""
    from .model import TRAINER_ARRAYS, check_fits_memory

    try:
        check_fits_memory(vocab_size, hidden_size, arrays or TRAINER_ARRAYS)
    except ValueError as err:
        raise UsageError(f"{err}: use a smaller --hidden") from None


# -- sessions: what train and the app both need ---------------------------------------------------
# Options a resumed run takes from its config.json (option dest -> TrainConfig field). Passing
# one with a value other than the run's (and other than its default) is refused; only --eta,
# --iterations / --epochs and --save-every may change on resume.
_RUN_OPTIONS = {
    "hidden": "hidden_size",
    "seq_length": "seq_length",
    "sigma": "sigma",
    "seed": "seed",
    "sample_every": "sample_every",
    "sample_length": "sample_length",
}


def _warn(message: str) -> None:
    _print_error(f"tui-rnn: warning: {message}")


def _print_error(line: str) -> None:
    """One line on stderr (paths and corpus characters in it shown safely on a terminal)."""
    from . import safetext

    try:
        safetext.write(sys.stderr, line + "\n")
        sys.stderr.flush()
    except OSError:  # nowhere left to say it
        pass


def open_session(args, warn=None):
    """(trainer, corpus, run_dir, target_iterations) for a new run or `args.resume`.

    A new run gets its directory, config.json and a first checkpoint; a resumed run is exactly
    the state of its newest good checkpoint. The run's lock is held by this process from here
    on (runs.unlock_run(run_dir) releases it; so does exiting). `warn(message)` hears
    non-fatal news, such as a damaged newest checkpoint that was skipped or carriage returns in
    a new corpus (default: stderr); the app collects them to show them in its window.
    """
    from . import runs
    from .corpus import check_trainable, load_corpus
    from .train import Trainer

    warn = warn or _warn
    if getattr(args, "resume", None):
        return _resume_session(args, warn)
    config = train_config(args)
    corpus = load_corpus(args.corpus, encoding=args.encoding)
    check_trainable(corpus, config.seq_length)
    check_model_fits(corpus.vocab_size, config.hidden_size)
    try:  # before the run directory exists: a refusal leaves nothing behind
        trainer = Trainer(corpus.data, corpus.chars, config)
        trainer.check_initial_loss()
        target = trainer.target_iterations(args.iterations, args.epochs)
    except MemoryError:
        raise UsageError(
            f"not enough memory for a model with --hidden {config.hidden_size}: use a smaller "
            "--hidden"
        ) from None
    except ValueError as err:
        raise UsageError(str(err)) from None
    run_dir = runs.prepare_run_dir(args.run_dir or runs.new_run_dir())
    runs.lock_run(run_dir)
    try:
        runs.refuse_existing_run(run_dir)  # again, under the lock: another process may have begun
    except BaseException:
        runs.unlock_run(run_dir)
        raise
    if "\r" in corpus.chars:  # said once, when the run begins
        warn(
            f"{corpus.name} has carriage returns (\\r, Windows line endings): the model learns "
            "\\r as a character of its own; convert the file (e.g. dos2unix) and start a new "
            "run if that is not what you want"
        )
    try:
        runs.write_config(
            run_dir,
            config,
            corpus,
            encoding=args.encoding,
            save_every=args.save_every,
            target_iterations=target,
            requested={"iterations": args.iterations, "epochs": args.epochs},
            eta_changes=[],
        )
        runs.save_checkpoint(run_dir, trainer)
    except BaseException:
        runs.abandon_new_run(run_dir)  # no config.json without a checkpoint is left behind
        raise
    return trainer, corpus, run_dir, target


def _resume_session(args, warn):
    from . import runs
    from .corpus import CorpusError, load_corpus
    from .train import TrainConfig

    run_dir = Path(args.resume)
    document = runs.read_config(run_dir)
    runs.check_has_checkpoint(run_dir)
    saved = document["config"]
    defaults = TrainConfig()
    for option, name in _RUN_OPTIONS.items():
        value = getattr(args, option, None)
        if value is not None and value != getattr(defaults, name) and value != saved.get(name):
            flag = "--" + option.replace("_", "-")
            raise UsageError(
                f"{flag} {value} conflicts with the run's {name} = {saved.get(name)}: a resumed "
                f"run keeps its options (only --eta, --iterations, --epochs, --save-every may "
                f"change); drop {flag} or start a new run"
            )
    if getattr(args, "run_dir", None) and Path(args.run_dir).resolve() != run_dir.resolve():
        raise UsageError("--run-dir and --resume both given: a resumed run stays in its directory")
    encoding = document.get("encoding", "utf-8")
    if getattr(args, "encoding", "utf-8") not in ("utf-8", encoding):
        raise UsageError(f"--encoding {args.encoding} conflicts with the run's {encoding}")
    corpus_path = args.corpus or document["corpus"].get("path")
    try:
        corpus = load_corpus(corpus_path, encoding=encoding)
    except CorpusError as err:
        raise runs.RunError(
            f"cannot load the run's corpus: {err} (or give it: tui-rnn train CORPUS --resume "
            f"{run_dir})"
        ) from None
    runs.lock_run(run_dir)
    try:
        return _continue_session(args, warn, run_dir, document, corpus)
    except BaseException:
        runs.unlock_run(run_dir)
        raise


def _continue_session(args, warn, run_dir, document, corpus):
    from . import runs
    from .train import TrainConfig

    saved = document["config"]
    defaults = TrainConfig()
    trainer = runs.restore_trainer(run_dir, corpus, warn=warn, document=document)
    changed = False
    eta = getattr(args, "eta", None)
    if eta is not None and eta != defaults.eta and eta != trainer.config.eta:
        # A deliberate change (e.g. after a divergence): recorded, so the run stays explainable.
        trainer.config.eta = eta
        saved["eta"] = eta
        document.setdefault("eta_changes", []).append({"iteration": trainer.iteration, "eta": eta})
        changed = True
    if args.iterations is not None or args.epochs is not None:
        try:
            target = trainer.target_iterations(args.iterations, args.epochs)
        except ValueError as err:
            raise UsageError(str(err)) from None
    else:
        target = int(document.get("target_iterations", trainer.target_iterations()))
    if document.get("target_iterations") != target:
        document["target_iterations"] = target
        changed = True
    if changed:
        runs.write_config_document(run_dir, document)
    return trainer, corpus, run_dir, target


def limit_blas_threads():
    """One BLAS thread: at m = 100 the matrices are too small for a second thread to pay off."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def cmd_train(args) -> int:
    """Train headless. Saves every --save-every seconds, at every sample, on SIGINT / SIGTERM /
    SIGHUP and at the end; a divergence or a failed write stops it with the last good checkpoint
    kept."""
    import threading

    from . import runs

    stop_signal = []  # the signal that asked us to stop, if any

    def on_signal(signum, frame):  # SIGINT / SIGTERM / SIGHUP: finish the update, save, exit
        stop_signal.append(signum)

    # SIGHUP: the terminal closed or the ssh connection dropped (no SIGHUP on Windows).
    handled = (signal.SIGINT, signal.SIGTERM) + (
        (signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()
    )
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_handlers = {s: signal.signal(s, on_signal) for s in handled} if in_main_thread else {}
    try:
        trainer, corpus, run_dir, target = open_session(args)
        try:
            return _train_session(args, trainer, run_dir, target, stop_signal)
        finally:
            runs.unlock_run(run_dir)
    finally:
        for s, handler in previous_handlers.items():
            signal.signal(s, handler)


class TrainingStopped(UsageError):
    """Training stopped early (divergence, a full disk, a failing stdout); the run is kept."""


def _json_line(document: dict) -> str:
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


def _output_error(reason: str):
    from . import safeio

    return safeio.OutputError(f"cannot write to standard output: {reason}", "stdout", reason)


def _print(text: str) -> None:
    """Print a line of ours on stdout (a path in it shown safely on a terminal); a failing
    stdout is one line."""
    from . import safeio, safetext

    safeio.write_output(
        sys.stdout, safetext.terminal(text) if safetext.isatty(sys.stdout) else text
    )


def _train_session(args, trainer, run_dir, target, stop_signal) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.text import Text

    from . import runs, safeio, safetext
    from .train import DivergenceError

    console = Console(stderr=args.json)
    quiet = args.json
    started = time.perf_counter()
    start_iteration = trainer.iteration
    failure = None
    saved_iteration = [trainer.iteration]  # open_session has just saved or restored this state

    def save():
        runs.save_checkpoint(run_dir, trainer)
        saved_iteration[0] = trainer.iteration

    def save_if_new():  # a second save of the same state would push out checkpoint.prev.npz
        if trainer.iteration != saved_iteration[0]:
            save()

    def on_sample(sample):
        runs.append_sample(run_dir, sample)
        save()  # the sample moved the random generator and samples.txt: always save
        if quiet:
            return
        if safetext.isatty(console.file):  # shown, never obeyed; soft_wrap: no added newlines
            progress.console.print(f"[bold]{sample.header}[/bold]")
            progress.console.print(Text(safetext.terminal(sample.text)), soft_wrap=True)
            progress.console.print()
        else:  # a pipe or a file: the exact record, as in samples.txt
            safeio.write_output(console.file, runs.format_sample(sample))

    progress = Progress(
        TextColumn("[bold]iter {task.completed:,.0f}/{task.total:,.0f}"),
        BarColumn(),
        TextColumn("smooth_loss {task.fields[smooth_loss]:.3f}"),
        TextColumn("{task.fields[rate]:,.0f} chars/s"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
        transient=False,
    )
    try:
        with progress, limit_blas_threads():
            task = progress.add_task(
                "train",
                total=target,
                completed=trainer.iteration,
                smooth_loss=trainer.smooth_loss,
                rate=0.0,
            )

            def on_progress(p):
                progress.update(
                    task, completed=p.iteration, smooth_loss=p.smooth_loss, rate=p.chars_per_second
                )

            while trainer.iteration < target and not stop_signal:
                deadline = time.monotonic() + args.save_every
                trainer.train(
                    target,
                    should_stop=lambda d=deadline: time.monotonic() >= d,
                    on_sample=on_sample,
                    on_progress=on_progress,
                    interrupt=lambda: bool(stop_signal),
                )
                save_if_new()
            save_if_new()
    except DivergenceError as err:
        # Nothing after the last checkpoint is saved: on disk the run stays at its last
        # good state (the parameters in memory may already be huge or infinite).
        last_good = runs.checkpoint_iteration(runs.load_checkpoint(run_dir))
        eta = trainer.config.eta
        failure = (
            f"training diverged at iteration {err.iteration} (loss = {err.loss:.3g}) with "
            f"eta = {eta:g}; the run is kept at its last good checkpoint (iteration "
            f"{last_good}) in {run_dir}: continue with a smaller learning rate, e.g. "
            f"tui-rnn train --resume {run_dir} --eta {eta / 10:g}"
        )
    except (safeio.OutputError, OSError) as err:  # stdout failed (rich raises OSError)
        save_if_new()  # the run itself is fine: keep it, then say what failed
        reason = err.reason if isinstance(err, safeio.OutputError) else safeio.describe(err)
        raise _output_error(f"{reason}; the run is saved in {run_dir}") from None
    except runs.RunWriteError as err:
        failure = str(err)
    if failure is not None:
        raise TrainingStopped(failure)
    seconds = time.perf_counter() - started
    updates = trainer.iteration - start_iteration
    summary = {
        "iterations": trainer.iteration,
        "epochs": trainer.epoch,
        "smooth_loss": trainer.smooth_loss,
        "best_smooth_loss": trainer.best_smooth_loss,
        "best_iteration": trainer.best_iteration,
        "seconds": seconds,
        "chars_per_second": updates * trainer.config.seq_length / seconds if seconds else 0.0,
        "run_dir": str(run_dir),
        "interrupted": bool(stop_signal),
    }
    if args.json:
        _print(_json_line(summary))
    else:
        state = "stopped (saved)" if stop_signal else "done"
        line = (
            f"{state}: {summary['iterations']:,} updates, epoch {summary['epochs']}, "
            f"smooth_loss {summary['smooth_loss']:.3f} (best "
            f"{summary['best_smooth_loss']:.3f} at iter {summary['best_iteration']:,}), "
            f"{summary['chars_per_second']:,.0f} chars/s, run in {run_dir}"
        )
        try:
            shown = safetext.terminal(line) if safetext.isatty(console.file) else line
            console.print(shown, markup=False, highlight=False)
        except OSError as err:
            raise _output_error(f"{safeio.describe(err)}; the run is saved in {run_dir}") from None
    return 128 + stop_signal[0] if stop_signal else 0


# -- generate ---------------------------------------------------------------------------------
def cmd_generate(args) -> int:
    import numpy as np

    from . import runs, safeio, safetext, sampling
    from .corpus import UnknownCharactersError

    try:
        sampling.validate_options(args.temperature, args.top_p, args.length)
    except ValueError as err:
        raise UsageError(str(err)) from None
    params, chars, _ = runs.load_model(args.run_dir, best=args.best, warn=_warn)
    try:
        prompt_ids = sampling.start_ids(args.prompt, chars)
    except UnknownCharactersError as err:
        raise UsageError(f"the prompt has {err}") from None
    rng = np.random.Generator(np.random.PCG64(args.seed))
    # Streamed a line (or 256 characters) at a time: shown through safetext on a terminal,
    # exact into a pipe or a file.
    out = sys.stdout
    shown = safetext.isatty(out)
    pending = [args.prompt]
    for i in sampling.continue_prompt(
        params, prompt_ids, args.length, rng, args.temperature, args.top_p, args.greedy
    ):
        pending.append(chars[i])
        if chars[i] == "\n" or len(pending) >= 256:
            text = "".join(pending)
            safeio.write_output(out, safetext.terminal(text) if shown else text)
            pending = []
    text = "".join(pending) + "\n"
    safeio.write_output(out, safetext.terminal(text) if shown else text)
    return 0


# -- gradcheck, export, the app (their own issues) ---------------------------------------------
def cmd_gradcheck(args) -> int:
    """The report's Table 1 (or one JSON object); exit 1 when any row fails."""
    from rich.console import Console

    from . import gradcheck, runs, safeio
    from .corpus import CorpusError, load_corpus

    params = None
    if args.run_dir:
        fresh = [f for f in ("hidden", "sigma", "seed") if getattr(args, f) is not None]
        if fresh:
            raise UsageError(
                f"--{fresh[0]} describes a fresh model but --run checks the run's own model: "
                f"drop --{fresh[0]} or --run"
            )
        params, chars, document = runs.load_model(args.run_dir, warn=_warn)
        corpus_path = args.corpus or document["corpus"].get("path")
        encoding = args.encoding if args.corpus else document.get("encoding", args.encoding)
        try:
            corpus = load_corpus(corpus_path, encoding=encoding)
        except CorpusError as err:
            raise runs.RunError(
                f"cannot load the run's corpus: {err} (or give it: tui-rnn gradcheck CORPUS "
                f"--run {args.run_dir})"
            ) from None
        if corpus.chars != chars:
            raise runs.RunError(
                f"{corpus.name} has a different vocabulary from the run's corpus: "
                "check the run with its own corpus"
            )
    else:
        corpus = load_corpus(args.corpus, encoding=args.encoding)
        check_model_fits(corpus.vocab_size, 100 if args.hidden is None else args.hidden)
    try:
        seq_lengths = gradcheck.parse_seq_lengths(args.seq_lengths)
        report = gradcheck.run_gradcheck(
            corpus.data,
            corpus.vocab_size,
            hidden_size=100 if args.hidden is None else args.hidden,
            sigma=0.01 if args.sigma is None else args.sigma,
            seed=0 if args.seed is None else args.seed,
            params=params,
            seq_lengths=seq_lengths,
            method=args.method,
            h=args.h,
            eps=args.eps,
            threshold=args.threshold,
        )
    except ValueError as err:
        raise UsageError(str(err)) from None
    except MemoryError:
        raise UsageError(
            f"not enough memory to check a model with --hidden {args.hidden}: use a smaller "
            "--hidden"
        ) from None
    except KeyboardInterrupt:
        print("tui-rnn: gradcheck interrupted", file=sys.stderr)
        return 130
    if args.json:
        _print(_json_line(report.to_json()))
    else:
        try:
            console = Console()
            console.print(gradcheck.report_table(report))
            console.print(gradcheck.verdict(report), highlight=False)
        except OSError as err:
            raise _output_error(safeio.describe(err)) from None
    return 0 if report.passed else 1


def cmd_export(args) -> int:
    """Write a run's loss history or samples from its newest checkpoint (only reads the run)."""
    from .export import export_run

    path, count = export_run(args.run_dir, args.format, args.output, args.samples, warn=_warn)
    if path is not None:
        _print(f"wrote {count:,} {'samples' if args.samples else 'updates'} to {path}\n")
    return 0


def cmd_app(args) -> int:
    from . import runs
    from .app import TrainingSession, TuiRnnApp

    warnings: list[str] = []

    def warn(message: str) -> None:  # seen now (and after the app exits), and in the app
        warnings.append(message)
        _warn(message)

    trainer, corpus, run_dir, target = open_session(args, warn=warn)
    session = TrainingSession(
        trainer, corpus, run_dir, target, save_every=args.save_every, warnings=warnings
    )
    app = TuiRnnApp(session)
    try:
        app.run()
    finally:
        runs.unlock_run(run_dir)
    if app.engine_error:
        _print_error(f"tui-rnn: error: {app.engine_error}")
        return 1
    if trainer.iteration >= session.target:  # (the app may have moved the target)
        more = trainer.iteration + trainer.updates_per_epoch
        _print(
            f"done at iter {trainer.iteration:,}, saved in {run_dir}; train further with: "
            f"tui-rnn --resume {run_dir} --iterations {more}\n"
        )
        return 0
    _print(
        f"saved at iter {trainer.iteration:,} in {run_dir}; "
        f"continue with: tui-rnn --resume {run_dir}\n"
    )
    return 0


# -- parsers -----------------------------------------------------------------------------------
def build_parser(command: str | None) -> argparse.ArgumentParser:
    if command is None:
        parser = OneLineParser(
            prog="tui-rnn",
            description="Train, check and play with a character-level RNN in your terminal. "
            f"Commands: {', '.join(COMMANDS)} (tui-rnn COMMAND --help).",
        )
        add_training_options(parser)
        from . import __version__

        parser.add_argument("--version", action="version", version=f"tui-rnn {__version__}")
        parser.set_defaults(run=cmd_app)
        return parser
    parser = OneLineParser(prog=f"tui-rnn {command}")
    if command == "train":
        parser.description = "Train headless, printing samples, and save the run."
        add_training_options(parser)
        parser.add_argument(
            "--json", action="store_true", help="print one JSON summary on stdout at the end"
        )
        parser.set_defaults(run=cmd_train)
    elif command == "generate":
        parser.description = (
            "Generate text from a saved run: the prompt primes the hidden state character by "
            "character, then the model continues (an empty prompt starts from a newline)."
        )
        parser.add_argument("run_dir", metavar="RUN_DIR", help="a run made by train or the app")
        parser.add_argument("--prompt", default="", help="text to prime the model with")
        parser.add_argument(
            "--length",
            type=_number(int, "--length", 0),
            default=200,
            help="characters to generate (200)",
        )
        parser.add_argument(
            "--temperature",
            type=_number(float, "--temperature", 0),
            default=1.0,
            help="divide the logits by T: < 1 safer, > 1 wilder, 0 = greedy (1.0)",
        )
        parser.add_argument(
            "--top-p",
            type=_number(float, "--top-p", 0, False),
            default=1.0,
            help="sample only from the likeliest characters holding this much mass (1.0 = off)",
        )
        parser.add_argument("--greedy", action="store_true", help="always take the likeliest")
        parser.add_argument("--best", action="store_true", help="use the best model")
        parser.add_argument(
            "--seed", type=_number(int, "--seed", 0), default=0, help="sampling seed (0)"
        )
        parser.set_defaults(run=cmd_generate)
    elif command == "gradcheck":
        from . import gradcheck

        parser.description = (
            "Compare analytic and numerical gradients of every parameter entry (the report's "
            "Table 1). Exit code 1 when any row fails."
        )
        add_corpus_options(parser)
        model = parser.add_argument_group("the model (default: a fresh one, as train makes it)")
        model.add_argument("--hidden", type=_number(int, "--hidden", 1), help="hidden size (100)")
        model.add_argument("--sigma", type=_number(float, "--sigma", 0), help="init std (0.01)")
        model.add_argument("--seed", type=_number(int, "--seed", 0), help="init seed (0)")
        model.add_argument(
            "--run", dest="run_dir", metavar="RUN_DIR", help="check a saved run's model instead"
        )
        check = parser.add_argument_group("the check")
        check.add_argument(
            "--seq-lengths",
            default=",".join(map(str, gradcheck.DEFAULT_SEQ_LENGTHS)),
            metavar="5,10,15,25",
            help="sequence lengths, comma-separated (5,10,15,25)",
        )
        check.add_argument(
            "--method",
            choices=gradcheck.METHODS,
            default="central",
            help="central differences or complex step (central)",
        )
        check.add_argument(
            "--h",
            type=_number(float, "--h", 0, False),
            help="step (central 1e-4, complex 1e-20)",
        )
        check.add_argument(
            "--eps",
            type=_number(float, "--eps", 0, False),
            default=gradcheck.DEFAULT_EPS,
            help=f"floor of the relative error's denominator ({gradcheck.DEFAULT_EPS:g})",
        )
        check.add_argument(
            "--threshold",
            type=_number(float, "--threshold", 0, False),
            help="largest max relative error that passes (central 1e-3, complex 1e-8)",
        )
        check.add_argument("--json", action="store_true", help="print one JSON object instead")
        parser.set_defaults(run=cmd_gradcheck)
    elif command == "export":
        parser.description = (
            "Export a run's loss history (one row per update: iteration, epoch, loss, "
            "smooth_loss) or its samples, from its newest checkpoint; safe while it trains."
        )
        parser.add_argument("run_dir", metavar="RUN_DIR")
        parser.add_argument("--format", choices=("csv", "json"), default="csv", help="(csv)")
        parser.add_argument(
            "--output",
            type=_path("--output", "a file path (or - for stdout)"),
            metavar="PATH",
            default=None,
            help="where to write, - for stdout "
            "(default RUN_DIR/loss_history.FORMAT, or RUN_DIR/samples_export.txt)",
        )
        parser.add_argument(
            "--samples", action="store_true", help="export the samples as text instead"
        )
        parser.set_defaults(run=cmd_export)
    return parser


def _silence_stdout() -> None:
    """After stdout failed (a full disk, a closed pipe): send what is still buffered, and
    anything after, to /dev/null, so that exiting does not fail again with a second message."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, ValueError, OSError):  # not a real file (a test's stream)
        pass


def main(argv: list[str] | None = None) -> int:
    from . import safeio
    from .corpus import CorpusError
    from .runs import RunError

    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(command)
    try:
        args = parser.parse_args(argv[1:] if command else argv)
        code = args.run(args)
        safeio.write_output(sys.stdout, "")  # what is still buffered must reach it too
        return code
    except (UsageError, CorpusError, RunError) as err:
        if isinstance(err, safeio.OutputError):
            _silence_stdout()
        _print_error(f"tui-rnn: error: {err}")
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. tui-rnn generate ... | head
        _silence_stdout()
        return 0
    except UnicodeEncodeError as err:  # e.g. a latin-1 terminal and a model writing CJK
        _silence_stdout()
        _print_error(
            f"tui-rnn: error: standard output's encoding ({err.encoding}) cannot write "
            f"{err.object[err.start : err.end]!r}: use a UTF-8 locale or PYTHONIOENCODING=utf-8"
        )
        return EXIT_USAGE
    except OSError as err:  # anything else the system refused: still one line
        _print_error(f"tui-rnn: error: {safeio.describe(err)} ({err.filename or err})")
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C in generate, export, or while a corpus loads
        _print_error("tui-rnn: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
