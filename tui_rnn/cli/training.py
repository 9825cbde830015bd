"""training: split from tui_rnn.cli."""

from __future__ import annotations

import math
import signal
import sys
import threading
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from tui_rnn.cli.common import (
    UsageError,
    json_line,
    limit_blas_threads,
    open_run,
    output_error,
    print_error,
    write_stdout,
)
from tui_rnn.safe import files
from tui_rnn.safe import text as safe_text
from tui_rnn.store import checkpoint, samples
from tui_rnn.training.trainer import DivergenceError


def cmd_train(args) -> int:
    """Train headless. Saves every --save-every seconds, at every sample, on SIGINT / SIGTERM /
    SIGHUP and at the end; a divergence or a failed write stops it with the last good checkpoint
    kept."""

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


def _train_run(args, run, stop_signal) -> int:

    trainer, run_dir = run.trainer, run.run_dir
    # The progress bar (and what is said beside it) goes to stderr when it is a terminal, never
    # into a pipe; samples go to stdout (through safetext on a terminal, exact into a pipe),
    # and not at all with --json, whose stdout is the one JSON summary.
    console = Console(stderr=True)
    show_bar = safe_text.isatty(sys.stderr)
    samples_on_terminal = safe_text.isatty(sys.stdout)
    out_console = console if show_bar else Console()
    started = time.perf_counter()
    start_iteration = trainer.iteration
    failure = None
    if run.done:
        more = run.trainer.iteration + max(1, round(2 * trainer.updates_per_epoch))
        print_error(
            f"tui-rnn: {run_dir} is already at iteration {trainer.iteration:,}, past its "
            f"target {run.target:,}: to train further give the new total, e.g. tui-rnn train "
            f"--resume {run_dir} --iterations {more}"
        )

    def say(line: str, style: str | None = None) -> None:
        """A line for the person watching: above the bar, or on stderr."""
        if show_bar:
            progress.console.print(Text(safe_text.terminal(line), style=style or ""))
        else:
            print_error(line)

    def on_sample(sample):
        if args.json:
            return
        if samples_on_terminal:  # shown, never obeyed; soft_wrap: no added newlines
            out_console.print(f"[bold]{sample.header}[/bold]")
            out_console.print(Text(safe_text.terminal(sample.text)), soft_wrap=True)
            out_console.print()
        else:  # a pipe or a file: the exact record, as in samples.txt
            files.write_output(sys.stdout, samples.format_sample(sample))

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
        last_good = checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run_dir))
        eta = trainer.config.eta
        failure = (
            f"training diverged at iteration {err.iteration} (loss = {err.loss:.3g}) with "
            f"eta = {eta:g}; the run is kept at its last good checkpoint (iteration "
            f"{last_good}) in {run_dir}: continue with a smaller learning rate, e.g. "
            f"tui-rnn train --resume {run_dir} --eta {eta / 10:g}"
        )
    except (files.OutputError, OSError) as err:  # stdout failed (rich raises OSError)
        if not isinstance(err, files.RunWriteError):
            run.save_if_unsaved()  # the run itself is fine: keep it, then say what failed
            reason = err.reason if isinstance(err, files.OutputError) else files.describe(err)
            raise output_error(f"{reason}; the run is saved in {run_dir}") from None
        failure = str(err)
    except files.RunWriteError as err:
        failure = str(err)
    except MemoryError:  # the machine's memory is shared: the estimate before training passed
        last_good = checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run_dir))
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
        write_stdout(json_line(summary))
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
            write_stdout(line + "\n")
        except OSError as err:
            raise output_error(f"{files.describe(err)}; the run is saved in {run_dir}") from None
    return 128 + stop_signal[0] if stop_signal else 0


def _loss_text(loss: float | None) -> str:
    return "-" if loss is None else f"{loss:.3f}"
