"""Runs as a workspace: every run under a directory, listed from what is cheap to read.

    list_runs("runs") -> [RunSummary, ...]      newest first (`tui-rnn runs`, the app's runs)
    summarize(run_dir) -> RunSummary

A run is a directory directly under DIR holding a config.json or a checkpoint (symbolic links
are skipped, never followed). For each one this reads config.json (checked as every command
checks it) and the newest good checkpoint's counters: safe.npz reads their few bytes and checks
every other member's header, never reading the parameters or the history. Whether another
process holds the run's lock is probed without taking it (rundir.lock_holder). A run that cannot
be read is `damaged`, with the reason; one at its target is `done`, else `stopped`; one whose
lock is held is `open (pid N)` whatever else is true.

No Textual here: the app's runs screen shows the same summaries.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.cells import cell_len

from tui_rnn.safe import text
from tui_rnn.safe.files import RunError
from tui_rnn.store import checkpoint, rundir
from tui_rnn.store import config as store_config
from tui_rnn.training.history import training_loss
from tui_rnn.training.options import TrainConfig

# The losses in one unit, said once in the header: the smoothed training loss per character
# (history.training_loss, so runs of any seq_length or batch compare), and the best model's
# loss, marked with what it is the best of (val: the lowest validation loss; train: the lowest
# smoothed training loss).
COLUMNS = (
    "name",
    "model",
    "corpus",
    "iter/target",
    "loss (nats/char)",
    "best",
    "state",
    "updated",
)
RIGHT_ALIGNED = {"iter/target", "loss (nats/char)", "best"}
OPEN, STOPPED, DONE, DAMAGED = "open", "stopped", "done", "damaged"
THIS_PROCESS = "self"  # RunSummary.holder when the lock is this process's own


@dataclass(frozen=True)
class RunSummary:
    """One row of the runs table. None: not known (a damaged run's missing parts)."""

    path: Path
    state: str  # OPEN, STOPPED, DONE, DAMAGED
    holder: str | None = None  # who holds the lock: a pid, "?" or THIS_PROCESS; None if free
    updated: float | None = None  # seconds since the epoch: config.json or a checkpoint changed
    cell: str | None = None
    layers: int | None = None
    hidden_size: int | None = None
    batch_size: int | None = None
    seq_length: int | None = None
    vocab_size: int | None = None  # (the uniform guess's loss, where smooth_loss starts)
    corpus: str | None = None  # the corpus's name as recorded (a path as given, or built-in)
    iteration: int | None = None
    target: int | None = None
    smooth_loss: float | None = None
    best_smooth_loss: float | None = None
    best_val_loss: float | None = None  # nats per character; None without validation
    best_iteration: int | None = None
    problem: str | None = None  # why it is damaged, or why its newest checkpoint was skipped

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def state_text(self) -> str:
        if self.state != OPEN:
            return self.state
        return "open (this app)" if self.holder == THIS_PROCESS else f"open (pid {self.holder})"

    @property
    def model_text(self) -> str:
        if self.cell is None:
            return ""
        return f"{self.cell} {self.layers}x{self.hidden_size}"

    @property
    def training_loss(self) -> float | None:
        """The smoothed training loss per character, nats (history.training_loss)."""
        return self._per_character(self.smooth_loss, self.iteration)

    @property
    def best_loss(self) -> tuple[float, str] | None:
        """(the best model's loss per character, what it is the best of: "val" or "train")."""
        if self.best_val_loss is not None:
            return self.best_val_loss, "val"
        best = self._per_character(self.best_smooth_loss, self.best_iteration)
        return None if best is None else (best, "train")

    def _per_character(self, smooth_loss: float | None, updates: int | None) -> float | None:
        if smooth_loss is None or updates is None or not self.vocab_size or not self.seq_length:
            return None
        return training_loss(smooth_loss, updates, self.vocab_size, self.seq_length)

    @property
    def chars_per_update(self) -> int | None:
        if self.batch_size is None or self.seq_length is None:
            return None
        return self.batch_size * self.seq_length

    def cells(self) -> tuple[str, ...]:
        """The row's text, in COLUMNS order, safe to show (corpus and run names through
        safe.text, on one line)."""
        progress = ""
        if self.iteration is not None:
            target = "?" if self.target is None else f"{self.target:,}"
            progress = f"{self.iteration:,}/{target}"
        best = "" if self.best_loss is None else "{:.4f} ({})".format(*self.best_loss)
        corpus = "" if self.corpus is None else os.path.basename(self.corpus) or self.corpus
        return (
            text.line(self.name),
            self.model_text,
            text.line(corpus),
            progress,
            _number(self.training_loss, 4),
            best,
            self.state_text,
            ""
            if self.updated is None
            else datetime.fromtimestamp(self.updated).strftime("%Y-%m-%d %H:%M"),
        )

    def sort_key(self, column: str):
        """A key ordering the rows by `column` (unknown values last, then by name)."""
        value = {
            "name": self.name,
            "model": (self.cell or "", self.layers or 0, self.hidden_size or 0),
            "corpus": self.corpus or "",
            "iter/target": self.iteration,
            "loss (nats/char)": self.training_loss,
            "best": None if self.best_loss is None else self.best_loss[0],
            "state": self.state_text,
            "updated": self.updated,
        }[column]
        return (value is None, value if value is not None else 0, self.name)

    def to_json(self) -> dict:
        """The row as strict JSON values (null for what is not known)."""
        pid = os.getpid() if self.holder == THIS_PROCESS else self.holder
        return {
            "name": self.name,
            "path": str(self.path),
            "cell": self.cell,
            "layers": self.layers,
            "hidden_size": self.hidden_size,
            "batch_size": self.batch_size,
            "seq_length": self.seq_length,
            "corpus": self.corpus,
            "iteration": self.iteration,
            "target": self.target,
            "smooth_loss": self.smooth_loss,
            "best_smooth_loss": self.best_smooth_loss,
            "best_val_loss": self.best_val_loss,
            "best_iteration": self.best_iteration,
            "training_loss": self.training_loss,  # nats per character, smoothed
            "state": self.state,
            "pid": int(pid) if isinstance(pid, str) and pid.isdigit() else pid,
            "updated": None
            if self.updated is None
            else datetime.fromtimestamp(self.updated, UTC).isoformat(timespec="seconds"),
            "problem": self.problem,
        }


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def summarize(run_dir: str | Path) -> RunSummary:
    """The summary of one run (never raises for a damaged run: it says so)."""
    run_dir = Path(run_dir)
    fields: dict = {"updated": rundir.run_updated(run_dir)}
    try:
        holder = THIS_PROCESS if rundir.holds_lock(run_dir) else rundir.lock_holder(run_dir)
    except RunError as err:  # the lock file is a link, a pipe ...: never used, so damaged
        holder, fields["problem"] = None, str(err)
    state = DAMAGED
    if "problem" not in fields:
        try:
            document = store_config.read_config(run_dir)
            config = TrainConfig.from_dict(document["config"])  # schema 1: the defaults
            fields.update(
                cell=config.cell,
                layers=config.layers,
                hidden_size=config.hidden_size,
                batch_size=config.batch_size,
                seq_length=config.seq_length,
                vocab_size=len(document["vocabulary"]),
                corpus=document["corpus"]["name"],
                target=document.get("target_iterations"),
            )
            skipped: list[str] = []  # a damaged newest checkpoint: said, the previous one used
            counters = checkpoint.read_counters(run_dir, document, skipped.append)
            fields["problem"] = skipped[0] if skipped else None
            validating = config.val_fraction > 0
            fields.update(
                iteration=counters["iteration"],
                smooth_loss=counters["smooth_loss"],
                best_smooth_loss=counters["best_smooth_loss"],
                best_val_loss=_finite(counters["best_val_loss"]) if validating else None,
                best_iteration=counters["best_iteration"],
            )
            target = fields["target"]
            state = DONE if target is not None and counters["iteration"] >= target else STOPPED
        except RunError as err:
            fields["problem"] = str(err)
    if holder is not None:
        state = OPEN
    return RunSummary(run_dir, state, holder, **fields)


def list_runs(base: str | Path = rundir.RUNS_DIR) -> list[RunSummary]:
    """Every run directly under `base`, newest first (then by name); [] if `base` does not
    exist; RunError if it is not a directory."""
    found = [
        summarize(d) for d in rundir.run_directories(base) if rundir.run_updated(d) is not None
    ]
    return sorted(found, key=lambda s: (-(s.updated or 0.0), s.name))


def format_table(summaries: list[RunSummary]) -> str:
    """The runs as a plain text table: a header, one line per run, columns aligned."""
    rows = [COLUMNS] + [s.cells() for s in summaries]
    widths = [max(cell_len(row[i]) for row in rows) for i in range(len(COLUMNS))]

    def line(row) -> str:
        cells = []
        for cell, width, column in zip(row, widths, COLUMNS, strict=True):
            pad = " " * (width - cell_len(cell))
            cells.append(pad + cell if column in RIGHT_ALIGNED else cell + pad)
        return "  ".join(cells).rstrip()

    return "\n".join(line(row) for row in rows) + "\n"
