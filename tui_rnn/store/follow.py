"""A run followed from another process, read-only: its newest checkpoint, what its trainer
publishes over it (live.bin, store/live.py), and whether that trainer still runs.

    watched = WatchedRun(run_dir)
    watched.load()                  # the whole story so far
    changes = watched.poll()        # every half second or so: what changed since

Nothing is written and no lock is taken. Whether a trainer still runs is the run's lock, probed
the way `tui-rnn runs` probes it (rundir.lock_holder: a shared flock asked for without waiting
and let go at once; a trainer starting meanwhile retries over that instant): held, the trainer
runs; free while the newest status says training or paused, the trainer is gone without a word
(killed), and the updates it published past its last checkpoint are lost. Polling, never
inotify alone: a network file system tells no one. Every failure (the run deleted, damaged,
unreadable while watched) becomes `problem`, one line to show; poll never raises.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

from tui_rnn.safe.files import RunError
from tui_rnn.store import checkpoint, live, rundir
from tui_rnn.store import config as store_config
from tui_rnn.training.history import LossHistory, Sample
from tui_rnn.training.options import TrainConfig

# What a viewer says the trainer is doing (besides live.STATES, which the trainer publishes).
GONE = "gone"  # the status said training or paused, and nobody holds the lock: killed
OPEN = "open"  # another process holds the lock and has published nothing yet (or never will)
IDLE = "idle"  # nobody holds the lock and nothing was published: the checkpoint says it all
DELETED = "deleted"


@dataclass(frozen=True)
class TrainerState:
    """The trainer as a viewer sees it."""

    state: str  # live.STATES, GONE, OPEN, IDLE or DELETED
    pid: str | None  # the process holding the lock, or the one that published last
    iteration: int  # the newest update known (published, or the checkpoint's)
    target: int | None
    checkpoint: int | None  # the newest checkpoint's iteration on disk
    chars_per_second: float | None = None
    eta: float | None = None
    epoch: int | None = None
    message: str | None = None  # why it failed

    @property
    def lost(self) -> int | None:
        """Updates published after the last checkpoint by a trainer that is gone."""
        if self.state != GONE or self.checkpoint is None:
            return None
        return max(0, self.iteration - self.checkpoint)

    @property
    def running(self) -> bool:
        return self.state in (*live.RUNNING_STATES, OPEN)

    def line(self) -> str:
        """The status line's words for it."""
        pid = self.pid or "?"
        if self.state == GONE:
            return (
                f"trainer (pid {pid}) is no longer running: at least {self.lost:,} updates "
                f"since the last checkpoint (iter {self.checkpoint:,}) were lost; t takes the "
                "run over"
            )
        if self.state == live.TRAINING:
            return f"training in pid {pid}"
        if self.state == live.PAUSED:
            return f"paused in pid {pid}"
        if self.state == OPEN:
            return f"open in pid {pid}, which publishes nothing (yet)"
        if self.state == live.FINISHED:
            return "finished: the trainer reached its target"
        if self.state == live.STOPPED:
            return "stopped before its target (resume it to go on)"
        if self.state == live.FAILED:
            return f"failed: {self.message}" if self.message else "failed"
        if self.state == DELETED:
            return "the run was deleted"
        done = self.target is not None and self.iteration >= self.target
        return "done (no trainer)" if done else "stopped (no trainer)"


class WatchedRun:
    """What a viewer knows of a run and how it learns more (see the module's docstring)."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.document: dict = {}
        self.config: TrainConfig | None = None
        self.history = LossHistory()
        self.samples: list[Sample] = []
        self.status: live.LiveStatus | None = None
        self.holder: str | None = None  # the pid holding the run's lock, if another process
        self.counters: dict | None = None  # the newest checkpoint's
        self.problem: str | None = None
        self.deleted = False
        self._earlier_samples: list[Sample] = []  # from samples.txt, before those published
        self.added_samples: list[Sample] = []  # what the last poll added to `samples`
        self._seen = 0  # samples published from here on in samples.txt are new
        self._state = live.LiveState(self.history)
        self._reader = live.LogReader(self.run_dir)
        self._checkpoint_mark: tuple | None = None
        self._config_mark: tuple | None = None

    # -- reading -----------------------------------------------------------------------------------
    def load(self) -> None:
        """Read everything from the start: config.json, the newest checkpoint's history, every
        record of live.bin over it, and the samples before those it holds. RunError for a run
        that cannot be read at all (not a run, damaged)."""
        rundir.require_run_directory(self.run_dir)
        document = store_config.read_config(self.run_dir)
        self._config_mark = _mark(self.run_dir / rundir.CONFIG_FILE)
        config = TrainConfig.from_dict(document["config"])
        holder = rundir.lock_holder(self.run_dir)  # before the records: see poll
        self._checkpoint_mark = _mark(self.run_dir / rundir.CHECKPOINT_FILE)
        history, counters = LossHistory(), None
        if _has_checkpoint(self.run_dir):  # none yet: a trainer about to save its first
            base = checkpoint.read_history(self.run_dir, document, loss=True)
            history = LossHistory.from_arrays(
                base.smooth_loss if base.loss is None else base.loss,
                base.smooth_loss,
                base.epoch_starts,
                base.seconds,
                base.val_iterations,
                base.val_loss,
            )
            counters = base.counters
        state = live.LiveState(history)
        reader = live.LogReader(self.run_dir)
        while records := reader.read():
            for record in records:
                _apply(state, record)
        self.document, self.config = document, config
        self.history, self._state, self._reader = history, state, reader
        self.counters = counters
        self.holder = holder
        self.status = state.status
        self._earlier_samples = self._samples_before(state)
        self.samples = self._all_samples()
        self.added_samples = []
        self._seen = self._samples_end()
        self.problem = reader.problem and f"{reader.path}: {reader.problem}"
        self.deleted = False

    def _samples_before(self, state: live.LiveState) -> list[Sample]:
        """The samples from before those live.bin holds, from samples.txt."""
        offsets = [s.offset for s in state.samples if s.offset is not None]
        upto = min(offsets) if offsets else state.samples_bytes
        if upto == 0:
            return []
        found = live.read_sample_prefix(self.run_dir, upto, live.LiveState.SAMPLES_KEPT)
        return [s.sample for s in found]

    def poll(self) -> set[str]:
        """Learn what changed: "history", "samples" (see added_samples), "samples_reset",
        "status", "trainer", "checkpoint", "config", "reload" (everything may have changed),
        "problem". Never raises."""
        changes: set[str] = set()
        problem, trainer = self.problem, self.trainer()
        try:
            self._poll(changes)
            self.problem = self._reader.problem and f"{self._reader.path}: {self._reader.problem}"
        except (RunError, OSError, ValueError, KeyError) as err:
            self.problem = self._describe(err)
        if self.problem != problem:
            changes.add("problem")
        now = self.trainer()
        if (now.state, now.pid) != (trainer.state, trainer.pid):
            changes.add("trainer")
        return changes

    def _poll(self, changes: set[str]) -> None:
        if not os.path.isdir(self.run_dir):
            self.deleted = True
            raise RunError(f"{self.run_dir} was deleted")
        if self.deleted:  # it is back
            self._reload(changes)
            return
        # The lock before the records: a trainer writes its last status, then lets go of the
        # lock; read in this order, a free lock and a status still saying "training" mean
        # the trainer is gone without its last word.
        holder = rundir.lock_holder(self.run_dir)
        if holder != self.holder:
            self.holder = holder
            changes.add("trainer")
        records = self._reader.read()
        if self._reader.reset:  # cut back (a trainer resumed the run) or replaced
            self._reload(changes)
            return
        for record in records:
            changes.add(_apply(self._state, record))
        if records:
            self.status = self._state.status
            self._take_samples(changes)
        # A file that changed is read again; one that cannot be read is tried at every poll
        # (its mark is kept only once read), so its problem stays said until it is fixed.
        mark = _mark(self.run_dir / rundir.CONFIG_FILE)
        if mark != self._config_mark:
            self.document = store_config.read_config(self.run_dir)
            self.config = TrainConfig.from_dict(self.document["config"])
            self._config_mark = mark
            changes.add("config")
        mark = _mark(self.run_dir / rundir.CHECKPOINT_FILE)
        if mark != self._checkpoint_mark:
            if mark is not None:
                self.counters = checkpoint.read_counters(self.run_dir, self.document)
                changes.add("checkpoint")
            self._checkpoint_mark = mark
            if mark is not None and (not self._reader.exists or self._reader.problem):
                self._reload(changes)  # nothing published: follow the checkpoints
        changes.discard("start")
        if changes & {"rows", "epochs", "validations"}:
            changes -= {"rows", "epochs", "validations"}
            changes.add("history")

    def _take_samples(self, changes: set[str]) -> None:
        """The samples now; "samples" with `added_samples` when only new ones came, else
        "samples_reset" (a start event dropped some)."""
        samples = self._all_samples()
        if samples == self.samples:
            return
        fresh = [
            s.sample for s in self._state.samples if s.offset is not None and s.offset >= self._seen
        ]
        kept = samples[: len(samples) - len(fresh)]
        if (
            fresh
            and len(kept) <= len(self.samples)
            and kept == self.samples[len(self.samples) - len(kept) :]
        ):
            self.added_samples = fresh
            changes.add("samples")
        else:
            self.added_samples = []
            changes.add("samples_reset")
        self.samples = samples
        self._seen = self._samples_end()

    def _samples_end(self) -> int:
        """Where in samples.txt the newest published sample starts, plus one."""
        offsets = [s.offset for s in self._state.samples if s.offset is not None]
        return max(offsets) + 1 if offsets else 0

    def _all_samples(self) -> list[Sample]:
        published = [s.sample for s in self._state.samples]
        return (self._earlier_samples + published)[-live.LiveState.SAMPLES_KEPT :]

    def _reload(self, changes: set[str]) -> None:
        self.load()
        changes.update({"reload", "history", "samples", "status", "config", "checkpoint"})

    def _describe(self, err: Exception) -> str:
        if self.deleted or not os.path.isdir(self.run_dir):
            self.deleted = True
            return f"{self.run_dir} was deleted: showing what was read before"
        return f"cannot follow {self.run_dir}: {err}"

    # -- what it says ------------------------------------------------------------------------------
    @property
    def target(self) -> int | None:
        if self.status is not None:
            return self.status.target
        target = self.document.get("target_iterations")
        return target if isinstance(target, int) else None

    @property
    def checkpoint_iteration(self) -> int | None:
        return None if self.counters is None else int(self.counters["iteration"])

    def trainer(self) -> TrainerState:
        """What the trainer is doing, as far as a viewer can tell."""
        status, holder = self.status, self.holder
        iteration = max(len(self.history), status.iteration if status else 0)
        known = TrainerState(IDLE, None, iteration, self.target, self.checkpoint_iteration)
        if self.deleted:
            return replace(known, state=DELETED)
        if status is None or (holder is not None and str(status.pid) != holder):
            if holder is None:
                return known
            start = self._state.start
            began = start is not None and str(start.get("pid")) == holder
            # A trainer that began and has not published its first status yet is training.
            return replace(known, state=live.TRAINING if began else OPEN, pid=holder)
        said = replace(
            known,
            state=status.state,
            pid=str(status.pid),
            eta=status.eta,
            epoch=status.epoch,
            message=status.message,
        )
        if holder is not None:
            return replace(said, chars_per_second=status.chars_per_second)
        return replace(said, state=GONE) if status.state in live.RUNNING_STATES else said

    @property
    def smooth_loss(self) -> float | None:
        if len(self.history):
            return float(self.history.smooth_loss[-1])
        return None if self.counters is None else float(self.counters["smooth_loss"])

    @property
    def best(self) -> tuple[int, float] | None:
        """(iteration, smooth loss) of the best model as published, or the checkpoint's."""
        status = self.status
        if status is not None and status.best_iteration is not None:
            loss = status.best_smooth_loss
            return status.best_iteration, math.nan if loss is None else loss
        if self.counters is None:
            return None
        return int(self.counters["best_iteration"]), float(self.counters["best_smooth_loss"])


def _apply(state: live.LiveState, record: live.Record) -> str:
    """One record into the state; a record that cannot be what a trainer wrote is skipped."""
    try:
        return state.apply(record)
    except (ValueError, TypeError, KeyError, IndexError):  # LiveDamage is a ValueError
        return "damaged"


def _has_checkpoint(run_dir: Path) -> bool:
    return any(
        _mark(run_dir / name) is not None
        for name in (rundir.CHECKPOINT_FILE, rundir.PREVIOUS_CHECKPOINT_FILE)
    )


def _mark(path: Path) -> tuple | None:
    """What tells that a file changed (lstat: a link is never followed), None if missing."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)
