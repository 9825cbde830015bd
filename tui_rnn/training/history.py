"""What training records, as plain data: the loss history, the samples and the progress
reports.

The trainer fills them, tui_rnn.store saves and reads them back, and the front ends show them,
so they live apart from all three. The history is kept in growable float32 arrays, never
lists of Python floats, so a long run's history stays small and a chart copies it at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SMOOTH_LOSS_WEIGHT = 0.999  # the trainer's: smooth_loss = 0.999 smooth_loss + 0.001 loss


def per_character(batch_size: int, val_fraction: float) -> bool:
    """Whether a run's losses are shown per character (nats): it has validation, a loss per
    character, or streams, whose chunks are not the report's; else per chunk, as the report
    shows them."""
    return val_fraction > 0 or batch_size > 1


def debiased_smooth_loss(
    smooth_loss: float, initial: float, updates: int, weight: float = SMOOTH_LOSS_WEIGHT
) -> float:
    """TensorBoard's debiased EMA of the per-update loss after `updates` updates, from the
    trainer's smooth_loss (the same EMA started at `initial`): it starts where the loss starts,
    where smooth_loss starts at `initial` and takes thousands of updates to forget it. The two
    differ by a^t times their starts' difference, so smooth_loss gives it exactly. With no
    update yet there is no loss to average: `smooth_loss` as it is."""
    if updates <= 0:
        return smooth_loss
    decay = math.exp(updates * math.log(weight))  # a^t
    return (smooth_loss - decay * initial) / -math.expm1(updates * math.log(weight))


def training_loss(smooth_loss: float, updates: int, vocab_size: int, seq_length: int) -> float:
    """The smoothed training loss per character (nats) of a run whose smooth_loss (per chunk
    of seq_length characters) started at the uniform guess's loss n ln K."""
    initial = seq_length * math.log(vocab_size)
    return debiased_smooth_loss(smooth_loss, initial, updates) / seq_length


class LossHistory:
    """Per-update loss, smooth loss and training seconds in growable float32 arrays.

    12 bytes per update. Epochs are stored as the iterations at which each epoch started, and
    validation losses as (iteration, loss) pairs.
    """

    def __init__(self, capacity: int = 4096):
        self._loss = np.empty(capacity, dtype=np.float32)
        self._smooth = np.empty(capacity, dtype=np.float32)
        self._seconds = np.empty(capacity, dtype=np.float32)
        self._size = 0
        # Epoch e (1-based) starts after update number epoch_starts[e - 1].
        self.epoch_starts = np.zeros(1, dtype=np.int64)
        self.val_iterations = np.zeros(0, dtype=np.int64)
        self.val_loss = np.zeros(0, dtype=np.float64)

    def __len__(self) -> int:
        return self._size

    def append(self, loss: float, smooth_loss: float, seconds: float = 0.0) -> None:
        if self._size == self._loss.size:
            self._grow(2 * self._loss.size)
        self._loss[self._size] = loss
        self._smooth[self._size] = smooth_loss
        self._seconds[self._size] = seconds
        self._size += 1

    def _grow(self, capacity: int) -> None:
        for name in ("_loss", "_smooth", "_seconds"):
            old = getattr(self, name)
            new = np.empty(capacity, dtype=np.float32)
            new[: self._size] = old[: self._size]
            setattr(self, name, new)

    def put_rows(self, first: int, loss, smooth_loss, seconds) -> None:
        """Rows `first`, `first` + 1, ... are these (a live view's record); the history grows
        if they go past its end. A gap before `first` repeats the row before it (or the first
        new one): a chart draws a flat stretch there, never an invalid value."""
        first, count = int(first), len(loss)
        self._reserve(first + count)
        if first > self._size:
            arrays = (self._loss, self._smooth, self._seconds)
            new = (loss, smooth_loss, seconds)
            for array, values in zip(arrays, new, strict=True):
                if self._size:
                    fill = array[self._size - 1]
                else:
                    fill = values[0] if count else 0.0
                array[self._size : first] = fill
        self._loss[first : first + count] = loss
        self._smooth[first : first + count] = smooth_loss
        self._seconds[first : first + count] = seconds
        self._size = max(self._size, first + count)

    def truncate(self, size: int) -> None:
        """Keep only the first `size` rows (no-op if there are fewer)."""
        self._size = max(0, min(self._size, int(size)))

    def _reserve(self, size: int) -> None:
        if size > self._loss.size:
            self._grow(max(size, 2 * self._loss.size))

    def start_epoch(self, after_iteration: int) -> None:
        self.epoch_starts = np.append(self.epoch_starts, after_iteration)

    def add_validation(self, iteration: int, loss: float) -> None:
        self.val_iterations = np.append(self.val_iterations, iteration)
        self.val_loss = np.append(self.val_loss, loss)

    @property
    def loss(self) -> np.ndarray:
        return self._loss[: self._size]

    @property
    def smooth_loss(self) -> np.ndarray:
        return self._smooth[: self._size]

    @property
    def seconds(self) -> np.ndarray:
        """Training seconds (the run's total) when each update finished; not reproducible."""
        return self._seconds[: self._size]

    @property
    def iterations(self) -> np.ndarray:
        """Row i holds the losses of update number i + 1."""
        return np.arange(1, self._size + 1, dtype=np.int64)

    @property
    def epochs(self) -> np.ndarray:
        """The (1-based) epoch of each update."""
        return np.searchsorted(self.epoch_starts, np.arange(self._size), side="right")

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of (loss, smooth_loss), safe to read from another thread."""
        size = self._size
        return self._loss[:size].copy(), self._smooth[:size].copy()

    @classmethod
    def from_arrays(
        cls, loss, smooth_loss, epoch_starts, seconds=None, val_iterations=(), val_loss=()
    ) -> LossHistory:
        history = cls(capacity=max(4096, 2 * len(loss)))
        n = len(loss)
        history._loss[:n] = loss
        history._smooth[:n] = smooth_loss
        history._seconds[:n] = 0.0 if seconds is None else seconds
        history._size = n
        history.epoch_starts = np.asarray(epoch_starts, dtype=np.int64).copy()
        history.val_iterations = np.asarray(val_iterations, dtype=np.int64).copy()
        history.val_loss = np.asarray(val_loss, dtype=np.float64).copy()
        return history


@dataclass(frozen=True)
class Sample:
    """A piece of generated text, with the iteration and smooth loss of the model it came
    from (samples.txt's header line says them)."""

    iteration: int
    smooth_loss: float
    text: str
    best: bool = False  # from the best model (`b`)
    by_hand: bool = False  # asked for (`s`), not one of the scheduled samples

    @property
    def header(self) -> str:
        kind = "best model, " if self.best else "by hand, " if self.by_hand else ""
        return f"{kind}iter = {self.iteration}, smooth_loss = {self.smooth_loss:.4f}"


@dataclass
class Progress:
    """What a progress bar or a status line shows after some updates."""

    iteration: int
    epoch: int
    smooth_loss: float
    best_smooth_loss: float
    chars_per_second: float
    new_samples: list[Sample] = field(default_factory=list)
    val_loss: float | None = None  # the newest validation loss (nats per character)
    best_val_loss: float | None = None
    eta: float | None = None  # the learning rate of the next update
