"""The command line: the app, train, generate, gradcheck, export, runs, report.

    tui-rnn [CORPUS] [training options]          the app (built-in corpus if none)
    tui-rnn train [CORPUS] [training options]    headless training
    tui-rnn generate RUN_DIR [--prompt TEXT] ...
    tui-rnn gradcheck [CORPUS] ...
    tui-rnn export RUN_DIR ...
    tui-rnn inspect RUN_DIR [--text FILE | --prompt TEXT] ...
    tui-rnn runs [DIR] [--json]                  the runs under DIR (./runs), newest first
    tui-rnn report RUN_DIR [--output DIR]        report.md and fig1.svg

Wherever a RUN_DIR is taken (--resume too), `latest` is the most recently updated run under
./runs (unless a file or directory named latest exists: it wins). A corpus file named like a
command stays reachable as ./runs.

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

COMMANDS = ("train", "generate", "gradcheck", "export", "inspect", "runs", "report")
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
    parser.add_argument("--encoding", default=None, help="the corpus's encoding (utf-8)")


def add_training_options(parser: argparse.ArgumentParser) -> None:
    from .options import EPOCHS, ITERATIONS, PRESETS, SAVE_EVERY, add_arguments, argparse_type

    add_corpus_options(parser)
    add_arguments(parser)
    g = parser.add_argument_group("how far")
    g.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default=None,
        help="report: the report's setup (the default); quality: the best model this machine "
        "trains in a few minutes (see the README); options given explicitly override it",
    )
    length = g.add_mutually_exclusive_group()
    for option in (ITERATIONS, EPOCHS):
        length.add_argument(
            option.flag,
            type=argparse_type(option),
            default=None,
            metavar=option.metavar,
            help=option.help,
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
        help="continue a saved run exactly where it stopped (latest: the newest under ./runs)",
    )
    r.add_argument(
        SAVE_EVERY.flag,
        type=argparse_type(SAVE_EVERY),
        default=None,
        metavar=SAVE_EVERY.metavar,
        help=SAVE_EVERY.help,
    )


def run_request(args):
    """What the command line asked for, as the run driver takes it."""
    from .options import given
    from .run import RunRequest
    from .runs import resolve_run_dir

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


def open_run(args, warn=None, lazy: bool = False):
    """The run the command line asks for (tui_rnn.run.Run): new, or resumed with --resume.

    `warn(message)` hears non-fatal news, such as a damaged newest checkpoint that was skipped
    or carriage returns in a new corpus (default: stderr); the app collects them to show them
    in its window.
    """
    from .run import Run

    return Run.open(run_request(args), warn or _warn, lazy=lazy)


def limit_blas_threads(threads: int = 1):
    """The run's --threads BLAS threads (one by default: at m = 100 the matrices are too small
    for a second thread to pay off)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def cmd_train(args) -> int:
    """Train headless. Saves every --save-every seconds, at every sample, on SIGINT / SIGTERM /
    SIGHUP and at the end; a divergence or a failed write stops it with the last good checkpoint
    kept."""
    import threading

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
        run = open_run(args)
        try:
            return _train_run(args, run, stop_signal)
        finally:
            run.close()
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


def _train_run(args, run, stop_signal) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.text import Text

    from . import runs, safeio, safetext
    from .train import DivergenceError

    trainer, run_dir = run.trainer, run.run_dir
    # The progress bar (and what is said beside it) goes to stderr when it is a terminal, never
    # into a pipe; samples go to stdout (through safetext on a terminal, exact into a pipe),
    # and not at all with --json, whose stdout is the one JSON summary.
    console = Console(stderr=True)
    show_bar = safetext.isatty(sys.stderr)
    samples_on_terminal = safetext.isatty(sys.stdout)
    out_console = console if show_bar else Console()
    started = time.perf_counter()
    start_iteration = trainer.iteration
    failure = None
    if run.done:
        more = run.trainer.iteration + max(1, round(2 * trainer.updates_per_epoch))
        _print_error(
            f"tui-rnn: {run_dir} is already at iteration {trainer.iteration:,}, past its "
            f"target {run.target:,}: to train further give the new total, e.g. tui-rnn train "
            f"--resume {run_dir} --iterations {more}"
        )

    def say(line: str, style: str | None = None) -> None:
        """A line for the person watching: above the bar, or on stderr."""
        if show_bar:
            progress.console.print(Text(safetext.terminal(line), style=style or ""))
        else:
            _print_error(line)

    def on_sample(sample):
        if args.json:
            return
        if samples_on_terminal:  # shown, never obeyed; soft_wrap: no added newlines
            out_console.print(f"[bold]{sample.header}[/bold]")
            out_console.print(Text(safetext.terminal(sample.text)), soft_wrap=True)
            out_console.print()
        else:  # a pipe or a file: the exact record, as in samples.txt
            safeio.write_output(sys.stdout, runs.format_sample(sample))

    def on_validation(loss):
        if show_bar:
            say(
                f"iter {trainer.iteration:,}: val_loss {loss:.4f} nats/char "
                f"({loss / math.log(2):.3f} bits)"
            )

    fields = [
        TextColumn("[bold]iter {task.completed:,.0f}/{task.total:,.0f}"),
        BarColumn(),
        TextColumn("smooth_loss {task.fields[smooth_loss]:.3f}"),
    ]
    if trainer.validating:
        fields.append(TextColumn("val {task.fields[val]}"))
    fields += [TextColumn("{task.fields[rate]:,.0f} chars/s"), TimeRemainingColumn()]
    progress = Progress(*fields, console=console, disable=not show_bar, transient=False)
    try:
        with progress, limit_blas_threads(trainer.config.threads):
            task = progress.add_task(
                "train",
                total=run.target,
                completed=trainer.iteration,
                smooth_loss=trainer.smooth_loss,
                rate=0.0,
                val=_loss_text(trainer.val_loss),
            )

            def on_progress(p):
                progress.update(
                    task,
                    completed=p.iteration,
                    smooth_loss=p.smooth_loss,
                    rate=p.chars_per_second,
                    val=_loss_text(p.val_loss),
                )

            while not run.done and not stop_signal:
                run.train_slice(
                    interrupt=lambda: bool(stop_signal),
                    on_sample=on_sample,
                    on_progress=on_progress,
                    on_validation=on_validation,
                )
                trouble = run.trouble()
                if trouble:
                    say(f"warning: {trouble}", "yellow")
            run.save_if_unsaved()
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
        if not isinstance(err, runs.RunWriteError):
            run.save_if_unsaved()  # the run itself is fine: keep it, then say what failed
            reason = err.reason if isinstance(err, safeio.OutputError) else safeio.describe(err)
            raise _output_error(f"{reason}; the run is saved in {run_dir}") from None
        failure = str(err)
    except runs.RunWriteError as err:
        failure = str(err)
    except MemoryError:  # the machine's memory is shared: the estimate before training passed
        last_good = runs.checkpoint_iteration(runs.load_checkpoint(run_dir))
        failure = (
            f"out of memory at iteration {trainer.iteration + 1}; the run is kept at its last "
            f"checkpoint (iteration {last_good}) in {run_dir}: free some memory and resume it, "
            "or start a run with a smaller --batch, --seq-length or --hidden"
        )
    if failure is not None:
        raise TrainingStopped(failure)
    seconds = time.perf_counter() - started
    updates = trainer.iteration - start_iteration
    best_val = trainer.best_val_loss if trainer.validating else None
    summary = {
        "iterations": trainer.iteration,
        "target": run.target,
        "epochs": trainer.epoch,
        "smooth_loss": trainer.smooth_loss,
        "loss_per_char": trainer.smooth_loss / trainer.config.seq_length,
        "best_smooth_loss": trainer.best_smooth_loss,
        "best_iteration": trainer.best_iteration,
        "val_loss": trainer.val_loss,
        "best_val_loss": best_val,
        "best_val_iteration": trainer.best_iteration if trainer.validating else None,
        "seconds": seconds,
        "train_seconds": trainer.train_seconds,
        "chars_per_second": updates * trainer.chars_per_update / seconds if seconds else 0.0,
        "run_dir": str(run_dir),
        "interrupted": bool(stop_signal),
    }
    if args.json:
        _print(_json_line(summary))
    else:
        state = "stopped (saved)" if stop_signal else "done"
        val = ""
        if best_val is not None:
            val = f", best val_loss {best_val:.4f} at iter {trainer.best_iteration:,}"
        line = (
            f"{state}: {summary['iterations']:,} updates, epoch {summary['epochs']}, "
            f"smooth_loss {summary['smooth_loss']:.3f} (best "
            f"{summary['best_smooth_loss']:.3f}){val}, "
            f"{summary['chars_per_second']:,.0f} chars/s, run in {run_dir}"
        )
        try:
            _print(line + "\n")
        except OSError as err:
            raise _output_error(f"{safeio.describe(err)}; the run is saved in {run_dir}") from None
    return 128 + stop_signal[0] if stop_signal else 0


def _loss_text(loss: float | None) -> str:
    return "-" if loss is None else f"{loss:.3f}"


# -- generate ---------------------------------------------------------------------------------
def cmd_generate(args) -> int:
    import numpy as np

    from . import runs, safeio, safetext, sampling
    from .corpus import UnknownCharactersError

    try:
        sampling.validate_options(args.temperature, args.top_p, args.length)
    except ValueError as err:
        raise UsageError(str(err)) from None
    run_dir = runs.resolve_run_dir(args.run_dir)
    params, chars, _ = runs.load_model(run_dir, best=args.best, warn=_warn)
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

    from . import gradcheck, safeio
    from .options import MODEL_OPTIONS, given

    run_dir = _gradcheck_run_dir(args)
    fresh = given(args, MODEL_OPTIONS)
    if run_dir:
        if fresh:
            flag = next(o.flag for o in MODEL_OPTIONS if o.name in fresh)
            raise UsageError(
                f"{flag} describes a fresh model but {run_dir} is a run, whose own model is "
                f"checked: drop {flag}, or give a corpus file to check a fresh model"
            )
        corpus, model = _run_model(run_dir, args)
        subject = {"model": model}
    else:
        corpus, subject = _fresh_model(args, fresh)
    try:
        seq_lengths = gradcheck.parse_seq_lengths(args.seq_lengths)
        report = gradcheck.run_gradcheck(
            corpus.data,
            corpus.vocab_size,
            **subject,
            seq_lengths=seq_lengths,
            method=args.method,
            h=args.h,
            eps=args.eps,
            threshold=args.threshold,
            full=args.full,
        )
    except ValueError as err:
        raise UsageError(str(err)) from None
    except MemoryError:
        raise UsageError(
            "not enough memory for this check: use a smaller --hidden or shorter --seq-lengths"
        ) from None
    except KeyboardInterrupt:
        _print_error("tui-rnn: gradcheck interrupted")
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


def _gradcheck_run_dir(args) -> str | None:
    """The run to check: --run, or the positional argument when it is a directory (or
    `latest`, naming none)."""
    from .runs import LATEST, resolve_run_dir

    positional = args.corpus
    if positional == LATEST and not os.path.lexists(positional):
        positional = str(resolve_run_dir(positional))
    if positional is not None and os.path.isdir(positional):
        if args.run_dir:
            raise UsageError(
                f"{positional} is a run directory and --run {args.run_dir} names another: give one"
            )
        args.corpus = None
        return positional
    return None if args.run_dir is None else str(resolve_run_dir(args.run_dir))


def _run_model(run_dir, args):
    """(corpus, model) of a saved run: its newest model, on its own corpus."""
    from . import runs

    model, chars, document = runs.load_model(run_dir, warn=_warn)
    retry = f"tui-rnn gradcheck --run {run_dir} CORPUS"
    return runs.load_run_corpus(document, args.corpus, args.encoding, retry), model


def _fresh_model(args, fresh: dict):
    """(corpus, run_gradcheck's model arguments) for a model initialised as training would."""
    from .cells import ModelSpec
    from .corpus import load_corpus
    from .options import resolve
    from .train import check_fits_memory

    config = resolve(fresh)
    corpus = load_corpus(args.corpus, encoding=args.encoding or "utf-8")
    check_fits_memory(config, corpus.vocab_size)
    spec = ModelSpec(
        cell=config.cell,
        vocab_size=corpus.vocab_size,
        hidden_size=config.hidden_size,
        layers=config.layers,
    )
    return corpus, {"spec": spec, "sigma": config.sigma, "seed": config.seed}


def cmd_export(args) -> int:
    """Write a run's loss history or samples from its newest checkpoint (only reads the run)."""
    from .export import export_run
    from .runs import resolve_run_dir

    run_dir = resolve_run_dir(args.run_dir)
    path, count = export_run(run_dir, args.format, args.output, args.samples, warn=_warn)
    if path is not None:
        _print(f"wrote {count:,} {'samples' if args.samples else 'updates'} to {path}\n")
    return 0


def cmd_inspect(args) -> int:
    """A passage as the run's model reads it: probabilities, a unit, the units found."""
    from .corpus import UnknownCharactersError
    from .inspect import PassageError
    from .inspect_output import inspect_run
    from .runs import resolve_run_dir

    try:
        path = inspect_run(
            resolve_run_dir(args.run_dir),
            text_file=args.text,
            prompt=args.prompt,
            best=args.best,
            neuron=args.neuron,
            find=args.find_neurons,
            fmt=args.format,
            output=args.output,
            warn=_warn,
        )
    except PassageError as err:
        raise UsageError(str(err)) from None
    except UnknownCharactersError as err:
        raise UsageError(f"the text has {err}") from None
    if path is not None:
        _print(f"wrote {path}\n")
    return 0


def cmd_runs(args) -> int:
    """The runs under DIR, newest first, as a table or a JSON list (reads, never locks)."""
    from . import runs, workspace

    if args.dir is not None and not os.path.lexists(args.dir):
        raise UsageError(f"{args.dir} does not exist: give a directory holding runs")
    base = runs.RUNS_DIR if args.dir is None else args.dir
    summaries = workspace.list_runs(base)
    if args.json:
        _print(_json_line([summary.to_json() for summary in summaries]))
    elif not summaries:
        _print(f"no runs in {base} (tui-rnn train makes one there)\n")
    else:
        _print(workspace.format_table(summaries))
    return 0


def cmd_report(args) -> int:
    """Write a run's report (report.md and fig1.svg); only reads the run."""
    from . import report, runs

    run_dir = runs.resolve_run_dir(args.run_dir)
    path = report.write_report(
        run_dir, args.output, corpus_path=args.corpus, encoding=args.encoding, warn=_warn
    )
    _print(f"wrote {path} and {path.parent / report.FIGURE_FILE}\n")
    return 0


def cmd_app(args) -> int:
    from .app import TrainingSession, TuiRnnApp

    warnings: list[str] = []

    def warn(message: str) -> None:  # seen now (and after the app exits), and in the app
        warnings.append(message)
        _warn(message)

    run = open_run(args, warn=warn, lazy=True)  # made at the first update or save
    session = TrainingSession(run, warnings=warnings)
    app = TuiRnnApp(session)
    try:
        app.run()
    finally:
        run.close()
        app.session.run.close()  # the run open at the end (o and n switch runs)
    if app.engine_error:
        _print_error(f"tui-rnn: error: {app.engine_error}")
        return 1
    run = app.session.run
    trainer, run_dir = run.trainer, run.run_dir
    if not run.created:
        _print("nothing was trained or saved, so no run directory was made\n")
        return 0
    state = "done" if run.done else "saved"
    _print(
        f"{state} at iter {trainer.iteration:,} in {run_dir}; continue with: "
        f"tui-rnn --resume {run_dir}" + (" (t trains on past the target)\n" if run.done else "\n")
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
        parser.add_argument(
            "run_dir", metavar="RUN_DIR", help="a run made by train or the app, or latest"
        )
        parser.add_argument("--prompt", default="", help="text to prime the model with")
        parser.add_argument(
            "--length",
            type=_number(int, "--length", 1),
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
        parser.add_argument(
            "corpus",
            nargs="?",
            default=None,
            metavar="CORPUS|RUN_DIR",
            help="a text file (a fresh model, as train would make it, on its first characters; "
            "default: the built-in corpus) or a run directory (its newest model, on its corpus)",
        )
        parser.add_argument("--encoding", default=None, help="the corpus's encoding (utf-8)")
        from .options import MODEL_OPTIONS, add_arguments

        add_arguments(parser, MODEL_OPTIONS, "the fresh model (as train makes it)")
        parser.add_argument(
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
        check.add_argument(
            "--full",
            action="store_true",
            help="check every entry even when the check is over its time budget (otherwise a "
            "seeded sample of entries, labelled as such)",
        )
        check.add_argument("--json", action="store_true", help="print one JSON object instead")
        parser.set_defaults(run=cmd_gradcheck)
    elif command == "export":
        parser.description = (
            "Export a run's loss history (one row per update: iteration, epoch, loss, "
            "smooth_loss, val_loss, chars_seen, seconds) or its samples, from its newest "
            "checkpoint; safe while it trains."
        )
        parser.add_argument(
            "run_dir",
            metavar="RUN_DIR",
            help="a run directory made by tui-rnn train or the app (runs/<timestamp>), or latest",
        )
        parser.add_argument(
            "--format",
            choices=("csv", "json"),
            default=None,
            help="csv or json (default: from --output's extension, else csv)",
        )
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
    elif command == "inspect":
        _inspect_arguments(parser)
    elif command == "runs":
        parser.description = (
            "List the runs under DIR, newest first: name, model, corpus, iterations/target, "
            "smooth loss, best (validation) loss, state (open (pid N), stopped, done, "
            "damaged), last update. Reads config.json and the checkpoints' counters only; "
            "never takes a lock."
        )
        parser.add_argument(
            "dir", nargs="?", default=None, metavar="DIR", help="a directory of runs (./runs)"
        )
        parser.add_argument(
            "--json", action="store_true", help="a JSON list of objects (null: not known)"
        )
        parser.set_defaults(run=cmd_runs)
    elif command == "report":
        parser.description = (
            "Write a run's report: Table 1 (the gradient check at initialisation and of the "
            "trained model), Fig. 1 (the smooth loss, as SVG and as text), the samples, "
            "1,000 characters from the best model, the settings and speed. Only reads the run."
        )
        parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, or latest")
        parser.add_argument(
            "--output",
            type=_path("--output"),
            metavar="DIR",
            default=None,
            help="where report.md and fig1.svg go (RUN_DIR/report/)",
        )
        parser.add_argument(
            "--corpus", default=None, help="the run's corpus file, if it moved since"
        )
        parser.add_argument("--encoding", default=None, help="the corpus's encoding (the run's)")
        parser.set_defaults(run=cmd_report)
    return parser


def _inspect_arguments(parser: argparse.ArgumentParser) -> None:
    from .inspect import DEFAULT_LENGTH, PassageError, parse_neuron

    def neuron(text: str):
        try:
            return parse_neuron(text)
        except PassageError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parser.description = (
        "Show a passage as a run's model reads it: each character coloured by the probability "
        "the model gave it (or by one unit's activation), the top-5 guesses for the next, the "
        "units that track features of the text."
    )
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run made by train or the app, or latest"
    )
    text = parser.add_mutually_exclusive_group()
    text.add_argument(
        "--text",
        type=_path("--text", "a file path"),
        metavar="FILE",
        help=f"the text to read (default: the first {DEFAULT_LENGTH:,} characters of the run's "
        "validation text, else of its corpus)",
    )
    text.add_argument("--prompt", metavar="TEXT", help="the text to read, given here")
    parser.add_argument("--best", action="store_true", help="the best model, not the current")
    parser.add_argument(
        "--neuron",
        type=neuron,
        metavar="L:N[:h|c]",
        help="colour by this unit's activation (layer and unit 0-based; c: an LSTM's cell)",
    )
    parser.add_argument(
        "--find-neurons",
        type=_number(int, "--find-neurons", 1),
        metavar="K",
        help="also list the K units that track a feature of the text best (Pearson r)",
    )
    parser.add_argument(
        "--format",
        choices=("ansi", "html", "json"),
        help="ansi (coloured text), html (a page) or json (default: from --output's extension, "
        "else ansi on a terminal, json otherwise)",
    )
    parser.add_argument(
        "--output",
        type=_path("--output", "a file path (or - for stdout)"),
        metavar="PATH",
        help="write here (atomically; never one of the run's own files) instead of stdout",
    )
    parser.set_defaults(run=cmd_inspect)


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
    from .options import OptionError
    from .runs import RunError

    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(command)
    try:
        args = parser.parse_args(argv[1:] if command else argv)
        code = args.run(args)
        safeio.write_output(sys.stdout, "")  # what is still buffered must reach it too
        return code
    except (UsageError, CorpusError, RunError, OptionError) as err:
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
