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
    r.add_argument("--run-dir", default=None, help="where to keep the run (runs/<timestamp>)")
    r.add_argument(
        "--resume",
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


# -- sessions: what train and the app both need ---------------------------------------------------
def open_session(args):
    """(trainer, corpus, run_dir, target_iterations) for a new or resumed run."""
    from . import runs
    from .corpus import check_trainable, load_corpus
    from .train import Trainer

    if args.resume:
        document = runs.read_config(args.resume)
        corpus_path = args.corpus or document["corpus"].get("path")
        encoding = document.get("encoding", args.encoding)
        corpus = load_corpus(corpus_path, encoding=encoding)
        trainer = runs.restore_trainer(args.resume, corpus)
        run_dir = Path(args.resume)
    else:
        config = train_config(args)
        corpus = load_corpus(args.corpus, encoding=args.encoding)
        check_trainable(corpus, config.seq_length)
        run_dir = runs.prepare_run_dir(args.run_dir or runs.new_run_dir())
        trainer = Trainer(corpus.data, corpus.chars, config)
        runs.write_config(run_dir, config, corpus, encoding=args.encoding)
        runs.save_checkpoint(run_dir, trainer)
    target = trainer.target_iterations(args.iterations, args.epochs)
    return trainer, corpus, run_dir, target


def limit_blas_threads():
    """One BLAS thread: at m = 100 the matrices are too small for a second thread to pay off."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def cmd_train(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from . import runs

    trainer, corpus, run_dir, target = open_session(args)
    console = Console(stderr=args.json)
    quiet = args.json
    stop_requested = False

    def on_signal(signum, frame):  # SIGINT / SIGTERM: finish the update, save, exit
        nonlocal stop_requested
        stop_requested = True

    previous_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    started = time.perf_counter()
    start_iteration = trainer.iteration
    diverged = None

    def on_sample(sample):
        runs.append_sample(run_dir, sample)
        if not quiet:
            progress.console.print(f"[bold]{sample.header}[/bold]")
            progress.console.print(sample.text, markup=False, highlight=False)
            progress.console.print()

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

            from .train import DivergenceError

            while trainer.iteration < target and not stop_requested:
                deadline = time.monotonic() + args.save_every
                try:
                    trainer.train(
                        target,
                        should_stop=lambda d=deadline: stop_requested or time.monotonic() >= d,
                        on_sample=on_sample,
                        on_progress=on_progress,
                    )
                except DivergenceError as err:
                    diverged = err
                    break
                runs.save_checkpoint(run_dir, trainer)
    finally:
        for s, handler in previous_handlers.items():
            signal.signal(s, handler)
    if diverged is not None:
        print(f"tui-rnn: error: {diverged}", file=sys.stderr)
        return 1
    runs.save_checkpoint(run_dir, trainer)
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
        "interrupted": stop_requested,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        state = "stopped (saved)" if stop_requested else "done"
        console.print(
            f"{state}: {summary['iterations']:,} updates, epoch {summary['epochs']}, "
            f"smooth_loss {summary['smooth_loss']:.3f} (best {summary['best_smooth_loss']:.3f} "
            f"at iter {summary['best_iteration']:,}), {summary['chars_per_second']:,.0f} chars/s, "
            f"run in {run_dir}"
        )
    return 130 if stop_requested else 0


# -- generate ---------------------------------------------------------------------------------
def start_ids(prompt: str, chars, encode):
    """The prompt's ids, or a newline (else the first vocabulary character) when it is empty."""
    if prompt:
        return encode(prompt)
    return [chars.index("\n") if "\n" in chars else 0]


def cmd_generate(args) -> int:
    import numpy as np

    from . import runs, sampling
    from .corpus import UnknownCharactersError, encode

    try:
        sampling.validate_options(args.temperature, args.top_p, args.length)
    except ValueError as err:
        raise UsageError(str(err)) from None
    params, chars, _ = runs.load_model(args.run_dir, best=args.best)
    try:
        prompt_ids = start_ids(args.prompt, chars, lambda text: encode(text, chars))
    except UnknownCharactersError as err:
        raise UsageError(f"the prompt has {err}") from None
    rng = np.random.Generator(np.random.PCG64(args.seed))
    out = sys.stdout
    out.write(args.prompt)
    for i in sampling.continue_prompt(
        params, prompt_ids, args.length, rng, args.temperature, args.top_p, args.greedy
    ):
        out.write(chars[i])
    out.write("\n")
    out.flush()
    return 0


# -- gradcheck, export, the app (their own issues) ---------------------------------------------
def cmd_gradcheck(args) -> int:
    raise UsageError("gradcheck is not available yet")


def cmd_export(args) -> int:
    raise UsageError("export is not available yet")


def cmd_app(args) -> int:
    raise UsageError("the app is not available yet: use tui-rnn train")


# -- parsers -----------------------------------------------------------------------------------
def build_parser(command: str | None) -> argparse.ArgumentParser:
    if command is None:
        parser = OneLineParser(
            prog="tui-rnn",
            description="Train, check and play with a character-level RNN in your terminal. "
            f"Commands: {', '.join(COMMANDS)} (tui-rnn COMMAND --help).",
        )
        add_training_options(parser)
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
        parser.description = "Generate text from a saved run."
        parser.add_argument("run_dir", metavar="RUN_DIR")
        parser.add_argument("--prompt", default="", help="text to prime the model with")
        parser.add_argument("--length", type=_number(int, "--length", 0), default=200)
        parser.add_argument("--temperature", type=_number(float, "--temperature", 0), default=1.0)
        parser.add_argument("--top-p", type=_number(float, "--top-p", 0, False), default=1.0)
        parser.add_argument("--greedy", action="store_true", help="always take the likeliest")
        parser.add_argument("--best", action="store_true", help="use the best model")
        parser.add_argument("--seed", type=_number(int, "--seed", 0), default=0)
        parser.set_defaults(run=cmd_generate)
    elif command == "gradcheck":
        parser.description = "Compare analytic and numerical gradients (the report's Table 1)."
        add_corpus_options(parser)
        parser.set_defaults(run=cmd_gradcheck)
    elif command == "export":
        parser.description = "Export a run's loss history or samples."
        parser.add_argument("run_dir", metavar="RUN_DIR")
        parser.set_defaults(run=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .corpus import CorpusError
    from .runs import RunError

    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(command)
    try:
        args = parser.parse_args(argv[1:] if command else argv)
        return args.run(args)
    except (UsageError, CorpusError, RunError) as err:
        print(f"tui-rnn: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. tui-rnn generate ... | head
        return 0


if __name__ == "__main__":
    sys.exit(main())
