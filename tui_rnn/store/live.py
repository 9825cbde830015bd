"""live.bin: a run's progress as its trainer publishes it, for viewers in other processes.

The trainer appends framed records every few seconds (--publish-every) and never rewrites one:

    b"TRL"  kind (1 byte)  length (u32)  CRC-32 of kind and payload (u32)  payload

Kind 1 is a batch of loss-history rows: the first row's index and the count, then the loss, the
smooth loss and the training seconds as float32 arrays. Kind 2 is a JSON event: "start" (a
trainer began, or went back to a checkpoint: a reader drops what lies past its counts),
"status", "validations", "epochs" or "sample". Rows replace the rows they name; validations
and epochs replace what a reader holds from where they start. So a reader holding the newest
checkpoint's history and applying the records in order holds what the trainer held. A reader
stops at the first record that is incomplete or fails its checksum (still being written, or
torn by a kill) and reads on from there at its next poll.

It is a view, not the run: checkpoints never refer to it, a resumed trainer first cuts off the
records past its checkpoint, and a missing or damaged live.bin loses nothing. Only the process
holding the run's lock writes it (Publisher); readers (LogReader, store/follow.py) only read.
"""

from __future__ import annotations

import json
import math
import os
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from tui_rnn.safe import files
from tui_rnn.safe.files import MissingRunFile, RunError
from tui_rnn.store import samples as store_samples
from tui_rnn.store.rundir import LIVE_FILE
from tui_rnn.training.history import LossHistory, Sample
from tui_rnn.training.trainer import Trainer

MAGIC = b"TRL"
ROWS, EVENT = 1, 2
HEADER = struct.Struct("<3sBII")  # magic, kind, payload length, crc32
ROWS_HEAD = struct.Struct("<QI")  # first row, count
MAX_RECORD = 32 << 20  # bytes of one payload: checked before anything is allocated
MAX_ROWS = 1 << 20  # rows per record (12 MiB)
READ_CHUNK = 8 << 20  # bytes a reader reads at a time

# The trainer's states as published. A viewer tells a trainer that is gone without saying so
# (killed) by the run's lock: free while the newest status says training or paused.
TRAINING, PAUSED, FINISHED, STOPPED, FAILED = "training", "paused", "finished", "stopped", "failed"
STATES = (TRAINING, PAUSED, FINISHED, STOPPED, FAILED)
RUNNING_STATES = (TRAINING, PAUSED)


class LiveDamage(ValueError):
    """A complete record that cannot be what a trainer wrote."""


# -- records -------------------------------------------------------------------------------------
def frame(kind: int, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(bytes((kind,))))
    return HEADER.pack(MAGIC, kind, len(payload), crc) + payload


def rows_record(first: int, loss, smooth_loss, seconds) -> bytes:
    head = ROWS_HEAD.pack(int(first), len(loss))
    parts = [np.ascontiguousarray(a, dtype="<f4").tobytes() for a in (loss, smooth_loss, seconds)]
    return frame(ROWS, head + b"".join(parts))


def event_record(event: dict) -> bytes:
    return frame(EVENT, json.dumps(event, separators=(",", ":"), allow_nan=False).encode())


@dataclass(frozen=True)
class Record:
    offset: int  # where it starts in live.bin
    end: int  # where the next one starts
    kind: int
    payload: bytes

    def rows(self) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """(first row, loss, smooth loss, seconds) of a rows record."""
        if len(self.payload) < ROWS_HEAD.size:
            raise LiveDamage("a rows record too short for its header")
        first, count = ROWS_HEAD.unpack_from(self.payload)
        if len(self.payload) != ROWS_HEAD.size + 12 * count:
            raise LiveDamage(f"a rows record of {count:,} rows has {len(self.payload):,} bytes")
        body = np.frombuffer(self.payload, dtype="<f4", offset=ROWS_HEAD.size)
        return first, body[:count], body[count : 2 * count], body[2 * count :]

    def event(self) -> dict:
        def refuse(constant: str):
            raise LiveDamage(f"{constant} in an event")

        try:
            event = json.loads(self.payload.decode("utf-8"), parse_constant=refuse)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise LiveDamage(f"an event that is not JSON ({err})") from None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise LiveDamage("an event without a type")
        return event


def parse_records(data: bytes, offset: int) -> tuple[list[Record], int, str | None]:
    """The complete, sound records at the start of `data` (which begins at `offset` in the
    file), where they end, and what is wrong with the record there, if anything: None when
    it is only incomplete (still being written, or torn by a kill), or unsound but last."""
    records: list[Record] = []
    at = 0
    while len(data) - at >= HEADER.size:
        magic, kind, length, crc = HEADER.unpack_from(data, at)
        if magic != MAGIC or kind not in (ROWS, EVENT):
            return records, offset + at, f"no record starts at byte {offset + at:,}"
        if length > MAX_RECORD:
            return records, offset + at, f"a record of {length:,} bytes at byte {offset + at:,}"
        start = at + HEADER.size
        if len(data) - start < length:
            break
        payload = bytes(data[start : start + length])
        if zlib.crc32(payload, zlib.crc32(bytes((kind,)))) != crc:
            if start + length == len(data):
                break  # the newest record: perhaps still arriving (a network file system)
            return records, offset + at, f"the record at byte {offset + at:,} fails its checksum"
        records.append(Record(offset + at, offset + start + length, kind, payload))
        at = start + length
    return records, offset + at, None


# -- what the records say ----------------------------------------------------------------------
def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LiveDamage(f"{value!r} where a count belongs")
    return value


@dataclass(frozen=True)
class LiveStatus:
    """The trainer's newest status, as published."""

    state: str
    pid: int
    host: str
    time: float  # seconds since the epoch when it was published
    iteration: int
    target: int
    epoch: int
    checkpoint: int  # the iteration of the newest checkpoint it saved
    publish_every: float
    chars_per_second: float | None = None  # over the last interval; None unless training
    eta: float | None = None  # the learning rate in use (after any decay)
    smooth_loss: float | None = None
    best_smooth_loss: float | None = None
    best_iteration: int | None = None
    val_loss: float | None = None
    best_val_loss: float | None = None
    train_seconds: float | None = None
    samples_bytes: int | None = None
    message: str | None = None  # why it failed

    @classmethod
    def from_event(cls, event: dict) -> LiveStatus:
        state = event.get("state")
        if state not in STATES:
            raise LiveDamage(f"a status with state {state!r}")
        values: dict[str, Any] = {"state": state}
        for f in fields(cls):
            if f.name == "state":
                continue
            value = event.get(f.name)
            if f.name in ("host", "message"):
                values[f.name] = (
                    value if isinstance(value, str) else ("" if f.name == "host" else None)
                )
            elif f.name in ("pid", "iteration", "target", "epoch", "checkpoint"):
                values[f.name] = _count(value)
            elif f.name in ("best_iteration", "samples_bytes"):
                values[f.name] = None if value is None else _count(value)
            elif f.name in ("time", "publish_every"):
                number = _finite(value)
                if number is None:
                    raise LiveDamage(f"a status without its {f.name}")
                values[f.name] = number
            else:
                values[f.name] = _finite(value)
        return cls(**values)


@dataclass(frozen=True)
class LiveSample:
    offset: int | None  # where it starts in samples.txt (None: read from samples.txt itself)
    sample: Sample


class LiveState:
    """What a reader holds after applying records in order: the history (rows, epochs,
    validations), the newest samples, the newest status and start event.

    Without `keep_rows` only the number of rows is kept (the trainer cutting its own file)."""

    SAMPLES_KEPT = 200

    def __init__(self, history: LossHistory | None = None, keep_rows: bool = True):
        self.history = history if history is not None else LossHistory()
        self.keep_rows = keep_rows
        self.rows = len(self.history)
        self.rows_seen = False  # whether any rows record was applied
        self.samples: list[LiveSample] = []
        self.status: LiveStatus | None = None
        self.start: dict | None = None
        self.samples_bytes: int | None = None  # the newest size of samples.txt published

    @property
    def validations(self) -> list[tuple[int, float]]:
        h = self.history
        return [(int(i), float(v)) for i, v in zip(h.val_iterations, h.val_loss, strict=True)]

    def apply(self, record: Record) -> str:
        """Apply one record; returns what it changed ("rows", "status", "start", ...)."""
        if record.kind == ROWS:
            first, loss, smooth, seconds = record.rows()
            if self.keep_rows:
                self.history.put_rows(first, loss, smooth, seconds)
            self.rows = max(self.rows, first + len(loss))
            self.rows_seen = True
            return "rows"
        event = record.event()
        kind = event["type"]
        if kind == "status":
            self.status = LiveStatus.from_event(event)
            if self.status.samples_bytes is not None:
                self.samples_bytes = self.status.samples_bytes
        elif kind == "start":
            self._start(event)
        elif kind == "epochs":
            start, starts = _count(event.get("from")), event.get("starts")
            if not isinstance(starts, list):
                raise LiveDamage("epochs without their starts")
            kept = self.history.epoch_starts[:start]
            new = np.array([_count(v) for v in starts], dtype=np.int64)
            self.history.epoch_starts = np.concatenate([kept, new])
        elif kind == "validations":
            self._validations(event)
        elif kind == "sample":
            self._sample(event)
        return kind

    def _start(self, event: dict) -> None:
        self.start = event
        rows = _count(event.get("rows"))
        self.rows = min(self.rows, rows)
        self.history.truncate(rows)
        h = self.history
        h.epoch_starts = h.epoch_starts[: max(1, _count(event.get("epochs")))]
        count = _count(event.get("validations"))
        h.val_iterations, h.val_loss = h.val_iterations[:count], h.val_loss[:count]
        samples_bytes = event.get("samples_bytes")
        if samples_bytes is not None:
            end = _count(samples_bytes)
            self.samples_bytes = end
            self.samples = [s for s in self.samples if s.offset is None or s.offset < end]

    def _validations(self, event: dict) -> None:
        start, entries = _count(event.get("from")), event.get("entries")
        if not isinstance(entries, list):
            raise LiveDamage("validations without their entries")
        iterations, losses = [], []
        for entry in entries:
            if not (isinstance(entry, list) and len(entry) == 2):
                raise LiveDamage("a validation that is not [iteration, loss]")
            loss = _finite(entry[1])
            if loss is None and entry[1] is not None:
                raise LiveDamage("a validation loss that is not a number")
            iterations.append(_count(entry[0]))
            losses.append(math.nan if loss is None else loss)
        h = self.history
        h.val_iterations = np.concatenate(
            [h.val_iterations[:start], np.array(iterations, dtype=np.int64)]
        )
        h.val_loss = np.concatenate([h.val_loss[:start], np.array(losses, dtype=np.float64)])

    def _sample(self, event: dict) -> None:
        offset, size = _count(event.get("offset")), _count(event.get("size"))
        text, smooth = event.get("text"), _finite(event.get("smooth_loss"))
        if not isinstance(text, str) or smooth is None:
            raise LiveDamage("a sample without its text or smooth loss")
        sample = Sample(
            _count(event.get("iteration")),
            smooth,
            text,
            best=event.get("best") is True,
            by_hand=event.get("by_hand") is True,
        )
        kept = [s for s in self.samples if s.offset is None or s.offset < offset]
        kept.append(LiveSample(offset, sample))
        self.samples = kept[-self.SAMPLES_KEPT :]
        self.samples_bytes = offset + size


# -- reading -----------------------------------------------------------------------------------
class LogReader:
    """Reads live.bin as it grows, record by record, never writing and never taking a lock.

    `read()` returns the records completed since the last call. It notices when the file was
    cut back or replaced (a trainer resuming the run, someone deleting it) by comparing the
    header of the last record it read with what is there now: then `reset` is set and the
    caller starts over from a fresh LogReader.
    """

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LIVE_FILE
        self.offset = 0  # where the next record starts
        self.exists = False
        self.reset = False  # the file changed under us: start over
        self.problem: str | None = None  # a record that is not a torn tail (damage)
        self._identity: tuple[int, int] | None = None
        self._last: tuple[int, bytes] | None = None  # (offset, header) of the newest record

    def read(self, limit: int = 64 << 20) -> list[Record]:
        """New complete records (about `limit` bytes of them at most). RunError if live.bin is
        refused (a link, a pipe) or unreadable; a missing file has no records (`exists`)."""
        try:
            f = files.open_read(self.path)
        except MissingRunFile:
            self.reset = self.reset or self.exists or self.offset > 0
            self.exists = False
            return []
        with f:
            try:
                return self._read_from(f, limit)
            except OSError as err:
                raise RunError(f"cannot read {self.path}: {files.describe(err)}") from None

    def _read_from(self, f, limit: int) -> list[Record]:
        info = os.fstat(f.fileno())
        identity = (info.st_dev, info.st_ino)
        if self._identity not in (None, identity) or info.st_size < self.offset:
            self.reset = True
            return []
        if not self._same_last(f):
            self.reset = True
            return []
        self._identity, self.exists = identity, True
        records: list[Record] = []
        pending, position = b"", self.offset  # pending starts at file offset `position`
        while limit > 0:
            available = info.st_size - position - len(pending)
            if available <= 0:
                break
            f.seek(position + len(pending))
            chunk = f.read(min(READ_CHUNK, available))
            if not chunk:
                break
            pending += chunk
            limit -= len(chunk)
            found, end, problem = parse_records(pending, position)
            records += found
            pending, position = pending[end - position :], end
            self.problem = problem
            if problem is not None:
                break
        if records:
            last = records[-1]
            self._last = (last.offset, frame_header(last))
        self.offset = position
        return records

    def _same_last(self, f) -> bool:
        if self._last is None:
            return True
        offset, header = self._last
        f.seek(offset)
        return f.read(len(header)) == header


def frame_header(record: Record) -> bytes:
    crc = zlib.crc32(record.payload, zlib.crc32(bytes((record.kind,))))
    return HEADER.pack(MAGIC, record.kind, len(record.payload), crc)


def read_records(run_dir: str | Path) -> Iterator[Record]:
    """Every complete, sound record of live.bin from its start (none if it is missing)."""
    reader = LogReader(run_dir)
    while True:
        records = reader.read()
        if not records:
            return
        yield from records


# -- writing: the trainer's side -----------------------------------------------------------------
def _past(record: Record, trainer: Trainer, samples_bytes: int) -> bool:
    """Whether a record says something the trainer (just restored from a checkpoint) does not
    hold: it was published after that checkpoint was saved."""
    if record.kind == ROWS:
        first, loss, _, _ = record.rows()
        return first + len(loss) > len(trainer.history)
    event = record.event()
    kind = event["type"]
    h = trainer.history
    if kind in ("status", "start"):
        return _count(event.get("iteration")) > trainer.iteration
    if kind == "epochs":
        return _count(event.get("from")) + len(event.get("starts") or ()) > len(h.epoch_starts)
    if kind == "validations":
        entries = event.get("entries") or []
        end = _count(event.get("from")) + len(entries)
        return end > len(h.val_loss) or any(_count(e[0]) > trainer.iteration for e in entries)
    if kind == "sample":
        return _count(event.get("offset")) + _count(event.get("size")) > samples_bytes
    return False


class Publisher:
    """The trainer's side: every `every` seconds, what changed since the last record, in one
    write (rows, epochs, validations, then the status). It is a view: a write that fails turns
    publishing off (`problem` says why) and training goes on."""

    def __init__(self, run_dir: str | Path, every: float):
        self.path = Path(run_dir) / LIVE_FILE
        self.every = float(every)
        self.rows = 0  # history rows published
        self.epochs = 0  # epoch starts published
        self.validations: list[tuple[int, float]] = []
        self.samples_bytes = 0
        self.problem: str | None = None
        self.state: str | None = None  # the state last published
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._rate_mark: tuple[int, float] | None = None
        self._host = socket.gethostname()

    @property
    def on(self) -> bool:
        return self.every > 0 and self.problem is None

    # -- beginning ---------------------------------------------------------------------------------
    def begin(self, trainer: Trainer, samples_bytes: int, *, new: bool) -> None:
        """Called by the process that just took the run's lock: live.bin is emptied (a new
        run) or cut back to what the trainer holds (a run resumed from its checkpoint), then,
        if publishing, a start event written. Cut even when not publishing: no reader may see
        records the run no longer holds."""
        self.samples_bytes = samples_bytes
        try:
            if new:
                files.truncate(self.path, 0)
            else:
                self._cut(trainer, samples_bytes)
        except (RunError, OSError) as err:
            self._fail(f"cannot prepare {self.path}: {err}")
            return
        if self.on:
            self.restart(trainer, samples_bytes)

    def _cut(self, trainer: Trainer, samples_bytes: int) -> None:
        tally = LiveState(keep_rows=False)
        cut = 0
        try:
            for record in read_records(self.path.parent):
                if _past(record, trainer, samples_bytes):
                    break
                tally.apply(record)
                cut = record.end
        except (RunError, ValueError, TypeError, KeyError, IndexError):
            pass  # a damaged record (LiveDamage is a ValueError) ends what is kept
        files.truncate(self.path, cut)
        # A log without rows starts at the checkpoint (viewers read the rows before it there);
        # one with rows goes on from its last, so that it holds every row from its first.
        rows = tally.rows if tally.rows_seen else len(trainer.history)
        self.rows = min(rows, len(trainer.history))
        self.epochs = min(len(tally.history.epoch_starts), len(trainer.history.epoch_starts))
        self.validations = tally.validations

    def restart(self, trainer: Trainer, samples_bytes: int | None = None) -> None:
        """A start event: the trainer holds exactly this (after taking the lock, or after
        going back to its last good checkpoint); readers drop what lies past it."""
        h = trainer.history
        self.rows = min(self.rows, len(h))
        self.epochs = min(self.epochs, len(h.epoch_starts))
        self.validations = self.validations[: len(h.val_loss)]
        event = {
            "type": "start",
            "pid": os.getpid(),
            "host": self._host,
            "time": time.time(),
            "iteration": trainer.iteration,
            "rows": len(h),
            "epochs": len(h.epoch_starts),
            "validations": len(h.val_loss),
            "samples_bytes": samples_bytes,
        }
        self._rate_mark = None
        # The rows it holds and the log lacks go with it: a reader never sees the history
        # shorter than the trainer's just because the start was read before the rows.
        self._write([event_record(event), *self._history_records(trainer)])

    # -- publishing ------------------------------------------------------------------------------
    def publish(
        self,
        trainer: Trainer,
        state: str,
        *,
        target: int,
        checkpoint: int | None,
        message: str | None = None,
    ) -> None:
        """Append what changed since the last call, and the status."""
        if not self.on:
            return
        if self._fd is not None and self._file_replaced():
            # Deleted or replaced meanwhile (someone tidying up): a new file, starting at the
            # checkpoint, as for a run that never published before.
            self.close()
            self.epochs, self.validations = 0, []
            self.rows = min(checkpoint or 0, len(trainer.history))
            self.restart(trainer, self.samples_bytes)
        records = self._history_records(trainer)
        records.append(event_record(self._status(trainer, state, target, checkpoint, message)))
        self._write(records)
        self.state = state

    def sample(self, sample: Sample, offset: int, size: int) -> None:
        """A sample appended to samples.txt at `offset` (`size` bytes)."""
        self.samples_bytes = offset + size
        if not self.on:
            return
        event = {
            "type": "sample",
            "offset": offset,
            "size": size,
            "iteration": sample.iteration,
            "smooth_loss": _finite(sample.smooth_loss),
            "best": sample.best,
            "by_hand": sample.by_hand,
            "text": sample.text,
        }
        self._write([event_record(event)])

    def _history_records(self, trainer: Trainer) -> list[bytes]:
        h = trainer.history
        records = []
        if self.rows > len(h):  # went back without restart(): say where the history ends
            self.restart(trainer)
        for first in range(self.rows, len(h), MAX_ROWS):
            last = min(len(h), first + MAX_ROWS)
            records.append(
                rows_record(
                    first, h.loss[first:last], h.smooth_loss[first:last], h.seconds[first:last]
                )
            )
        self.rows = len(h)
        if len(h.epoch_starts) != self.epochs:
            start = min(self.epochs, len(h.epoch_starts))
            starts = [int(v) for v in h.epoch_starts[start:]]
            records.append(event_record({"type": "epochs", "from": start, "starts": starts}))
            self.epochs = len(h.epoch_starts)
        current = list(zip(h.val_iterations.tolist(), h.val_loss.tolist(), strict=True))
        if current != self.validations:
            same = min(len(current), len(self.validations))
            while same and current[same - 1] != self.validations[same - 1]:
                same -= 1
            entries = [[i, _finite(loss)] for i, loss in current[same:]]
            records.append(event_record({"type": "validations", "from": same, "entries": entries}))
            self.validations = current
        return records

    def _status(
        self, trainer: Trainer, state: str, target: int, checkpoint: int | None, message: str | None
    ) -> dict:
        now = time.monotonic()
        rate = None
        if state == TRAINING:
            if self._rate_mark is not None and now > self._rate_mark[1]:
                updates = trainer.iteration - self._rate_mark[0]
                rate = updates * trainer.chars_per_update / (now - self._rate_mark[1])
            self._rate_mark = (trainer.iteration, now)
        else:
            self._rate_mark = None
        return {
            "type": "status",
            "state": state,
            "pid": os.getpid(),
            "host": self._host,
            "time": time.time(),
            "iteration": trainer.iteration,
            "target": int(target),
            "epoch": trainer.epoch,
            "checkpoint": int(checkpoint if checkpoint is not None else 0),
            "publish_every": self.every,
            "chars_per_second": rate,
            "eta": _finite(trainer.eta),
            "smooth_loss": _finite(trainer.smooth_loss),
            "best_smooth_loss": _finite(trainer.best_smooth_loss),
            "best_iteration": trainer.best_iteration,
            "val_loss": _finite(trainer.val_loss),
            "best_val_loss": _finite(trainer.best_val_loss) if trainer.validating else None,
            "train_seconds": _finite(trainer.train_seconds),
            "samples_bytes": self.samples_bytes,
            "message": message,
        }

    # -- the file ----------------------------------------------------------------------------------
    def _write(self, records: list[bytes]) -> None:
        if not records or not self.on:
            return
        try:
            fd = self._descriptor()
            files.append_through(fd, b"".join(records), self.path)
        except (RunError, OSError) as err:
            self._fail(str(err))

    def _descriptor(self) -> int:
        if self._fd is None:
            fd = files.open_append(self.path)
            info = os.fstat(fd)
            self._fd, self._identity = fd, (info.st_dev, info.st_ino)
        return self._fd

    def _file_replaced(self) -> bool:
        try:
            info = os.lstat(self.path)
        except OSError:
            return True
        return (info.st_dev, info.st_ino) != self._identity

    def _fail(self, reason: str) -> None:
        self.problem = f"publishing stopped (training goes on): {reason}"
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_sample_prefix(run_dir: str | Path, upto: int | None, limit: int) -> list[LiveSample]:
    """The samples in the first `upto` bytes of samples.txt (all of it if None): those a
    viewer shows from before the samples live.bin holds."""
    found = store_samples.read_samples(run_dir, limit=limit, upto=upto)
    return [LiveSample(None, sample) for sample in found]
