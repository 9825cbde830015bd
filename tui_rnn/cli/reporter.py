"""What a person watching `tui-rnn train` sees: the samples, the progress bar and the lines beside
it, and the summary at the end (a line, or one JSON object with --json).

The progress bar (and what is said beside it) goes to stderr when it is a terminal, never into a
pipe; samples go to stdout (through safetext on a terminal, exact into a pipe), and not at all
with --json, whose stdout is the one JSON summary. A run with a validation split ends by saying
where its best model is and what it writes (a sample `tui-rnn generate RUN --best` reproduces;
in the JSON, `best_sample`). The training loop only calls the Reporter.
"""

from __future__ import annotations

import math
import sys
from types import TracebackType

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from tui_rnn.cli.common import json_line, output_error, print_error, say, write_stdout
from tui_rnn.driver import Run
from tui_rnn.safe import files
from tui_rnn.safe import text as safe_text
from tui_rnn.store import samples
from tui_rnn.store.rundir import CHECKPOINT_FILE
from tui_rnn.training import budget, history, sampling, schedule
from tui_rnn.training.history import per_character, training_loss
from tui_rnn.training.trainer import Trainer

BEST_SAMPLE_LENGTH = budget.SUMMARY_SAMPLE  # characters sampled from the best model (planned for)
BEST_SAMPLE_SEED = 0  # tui-rnn generate's default seed: `generate RUN --best` writes the same


class Reporter:
    """The training loop's voice: a context (the progress bar runs inside it) whose methods
    are the loop's callbacks."""

    def __init__(self, trainer: Trainer, target: int, as_json: bool) -> None:
        self.trainer = trainer
        config = trainer.config
        self.per_char = per_character(config.batch_size, config.val_fraction)
        self.as_json = as_json
        self.show_bar = safe_text.isatty(sys.stderr)
        self.samples_on_terminal = safe_text.isatty(sys.stdout)
        console = Console(stderr=True)
        self.out = console if self.show_bar else Console()
        self.bar = Progress(
            *progress_columns(trainer.validating, schedule.varies(trainer.config), self.per_char),
            console=console,
            disable=not self.show_bar,
            transient=False,
        )
        self.target = target
        self.task: TaskID  # the bar's one task, from __enter__ on

    def __enter__(self) -> Reporter:
        self.bar.start()
        trainer = self.trainer
        self.task = self.bar.add_task(
            "train",
            total=self.target,
            completed=trainer.iteration,
            smooth_loss=self.shown_loss(trainer.smooth_loss, trainer.iteration),
            rate=0.0,
            val=loss_text(trainer.val_loss),
            eta=trainer.eta,
        )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.bar.stop()

    def shown_loss(self, smooth_loss: float, iteration: int) -> float:
        """The training loss the bar shows: per character where the run's losses are (see
        history.per_character), else the report's smooth_loss."""
        if not self.per_char:
            return smooth_loss
        trainer = self.trainer
        return training_loss(smooth_loss, iteration, len(trainer.chars), trainer.config.seq_length)

    def say(self, line: str, style: str | None = None) -> None:
        """A line for the person watching: above the bar, or on stderr."""
        if self.show_bar:
            self.bar.console.print(Text(safe_text.line(line), style=style or ""))
        else:
            print_error(line)

    def sample(self, sample: history.Sample) -> None:
        if self.as_json:
            return
        if self.samples_on_terminal:  # shown, never obeyed; soft_wrap: no added newlines
            self.out.print(f"[bold]{sample.header}[/bold]")
            self.out.print(Text(safe_text.terminal(sample.text)), soft_wrap=True)
            self.out.print()
        else:  # a pipe or a file: the exact record, as in samples.txt
            files.write_output(sys.stdout, samples.format_sample(sample))

    def progress(self, progress: history.Progress) -> None:
        self.bar.update(
            self.task,
            completed=progress.iteration,
            smooth_loss=self.shown_loss(progress.smooth_loss, progress.iteration),
            rate=progress.chars_per_second,
            val=loss_text(progress.val_loss),
            eta=progress.eta,
        )

    def validation(self, loss: float) -> None:
        if self.show_bar:
            self.say(
                f"iter {self.trainer.iteration:,}: val_loss {loss:.4f} nats/char "
                f"({loss / math.log(2):.3f} bits)"
            )

    def finish(self, summary: dict) -> None:
        """The summary on stdout: one JSON object, or one line."""
        if self.as_json:
            write_stdout(json_line(summary))
            return
        run_dir = summary["run_dir"]
        state = "stopped (saved)" if summary["interrupted"] else "done"
        line = (
            f"{state}: {summary['iterations']:,} updates, epoch {summary['epochs']}, "
            f"{summary_losses(summary, self.per_char)}, "
            f"{summary['chars_per_second']:,.0f} chars/s, run in {run_dir}"
        )
        try:
            say(line)
            if summary.get("best_sample") is not None:
                say(best_model_text(summary))
                write_stdout(summary["best_sample"] + "\n")  # model text: exact in a pipe
        except OSError as err:
            raise output_error(f"{files.describe(err)}; the run is saved in {run_dir}") from None


def best_model_text(summary: dict) -> str:
    """Where the best model is, its validation loss, and what it writes."""
    loss = summary["best_val_loss"]
    run_dir = summary["run_dir"]
    return (
        f"best model: val_loss {loss:.4f} nats/char ({loss / math.log(2):.3f} bits) at iter "
        f"{summary['best_val_iteration']:,}, kept in {summary['best_model']} (tui-rnn "
        f"generate {run_dir} --best); {BEST_SAMPLE_LENGTH} characters from it:"
    )


def summary_losses(summary: dict, per_char: bool) -> str:
    """The losses of the summary line, each best named by what it is the best of: per
    character (nats, said once) where the run has validation or streams, else the report's
    smooth_loss."""
    at = f"at iter {summary['best_iteration']:,}"
    if not per_char:
        smooth, lowest = summary["smooth_loss"], summary["best_smooth_loss"]
        return f"smooth_loss {smooth:.3f} (lowest {lowest:.3f}, {at})"
    text = f"losses in nats/char: training {summary['training_loss']:.4f}"
    if summary["best_val_loss"] is None:
        return text + f" (lowest {summary['best_training_loss']:.4f}, {at})"
    val = summary["val_loss"]
    shown = "-" if val is None else f"{val:.4f}"
    return text + f", validation {shown} (lowest {summary['best_val_loss']:.4f}, {at})"


def progress_columns(
    validating: bool, scheduled: bool = False, per_char: bool = False
) -> list[ProgressColumn]:
    columns: list[ProgressColumn] = [
        TextColumn("[bold]iter {task.completed:,.0f}/{task.total:,.0f}"),
        BarColumn(),
        TextColumn(("train" if per_char else "smooth_loss") + " {task.fields[smooth_loss]:.3f}"),
    ]
    if validating:
        columns.append(TextColumn("val {task.fields[val]}"))
    if per_char:
        columns.append(TextColumn("nats/char"))
    if scheduled:  # the learning rate moves: show where it is
        columns.append(TextColumn("lr {task.fields[eta]:.2e}"))
    return columns + [TextColumn("{task.fields[rate]:,.0f} chars/s"), TimeRemainingColumn()]


def summary(run: Run, seconds: float, updates: int, interrupted: bool) -> dict:
    """The run at the end of `tui-rnn train` (`updates` made in `seconds`), as --json prints
    it."""
    trainer = run.trainer
    best_val = trainer.best_val_loss if trainer.validating else None
    has_best = trainer.validating and math.isfinite(trainer.best_val_loss)
    n, K = trainer.config.seq_length, len(trainer.chars)
    return {
        "iterations": trainer.iteration,
        "target": run.target,
        "epochs": trainer.epoch,
        "smooth_loss": trainer.smooth_loss,
        "loss_per_char": trainer.smooth_loss / trainer.config.seq_length,
        "best_smooth_loss": trainer.best_smooth_loss,
        "best_iteration": trainer.best_iteration,
        # Per character (nats), smoothed as TensorBoard smooths (history.training_loss).
        "training_loss": training_loss(trainer.smooth_loss, trainer.iteration, K, n),
        "best_training_loss": training_loss(trainer.best_smooth_loss, trainer.best_iteration, K, n),
        "val_loss": trainer.val_loss,
        "best_val_loss": best_val,
        "best_val_iteration": trainer.best_iteration if trainer.validating else None,
        "seconds": seconds,
        "train_seconds": trainer.train_seconds,
        "chars_per_second": updates * trainer.chars_per_update / seconds if seconds else 0.0,
        "run_dir": str(run.run_dir),
        "interrupted": interrupted,
        "stopped": stop_reason(run, interrupted),
        "eta": trainer.eta,
        "time_limit": (run.document.get("requested") or {}).get("time_limit"),
        "best_model": str(run.run_dir / CHECKPOINT_FILE) if has_best else None,
        "best_sample": best_sample(trainer) if has_best else None,
    }


def stop_reason(run: Run, interrupted: bool) -> str:
    """Why training ended: the target, --patience, the time limit's clock, or a signal."""
    if interrupted:
        return "signal"
    if run.trainer.stopped_early:
        return "patience"
    if run.time_up:
        return "time_limit"
    return "target"


def best_sample(trainer: Trainer, length: int = BEST_SAMPLE_LENGTH) -> str:
    """What the best model writes from a paragraph break, with a generator of its own (the
    run's is never touched): the text `tui-rnn generate RUN --best --length 200` prints."""
    rng = np.random.Generator(np.random.PCG64(BEST_SAMPLE_SEED))
    start = sampling.start_ids("", trainer.chars)
    ids = sampling.continue_prompt(trainer.best_params, start, length, rng)
    return "".join(trainer.chars[i] for i in ids)


def loss_text(loss: float | None) -> str:
    return "-" if loss is None else f"{loss:.3f}"
