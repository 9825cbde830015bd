"""The training state: AdaGrad, clipping, smooth loss, epochs, the best model, samples.

One update (as in the DD2424 assignment and min-char-rnn):
    X, Y = data[e : e+n], data[e+1 : e+n+1]      (n = seq_length)
    loss, grads, h = forward/backward from h
    g = clip(grads, -5, 5)
    mem += g * g;  theta -= eta * g / sqrt(mem + eps)
    smooth_loss = 0.999 smooth_loss + 0.001 loss
    e += n; when a chunk would run past the end: e = 0, h = 0, next epoch.

The Trainer knows nothing about files or screens: runs.py saves it, the CLI and the app drive it.
"""

from __future__ import annotations

import json
import math
import numbers
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from . import sampling
from .model import Params, init_params, loss_and_grads, loss_only

# The longest sample (--sample-length). One sample of it takes 2 to 4 s at the default size
# (17 to 38 us per character on a busy 2-core machine: benchmarks/bench_checkpoint.py), the log
# of the last 200 samples in memory stays under 20 million characters, samples.txt grows a
# few hundred kB per sample. Longer text is what `tui-rnn generate --length` is for: it streams.
MAX_SAMPLE_LENGTH = 100_000


@dataclass
class TrainConfig:
    hidden_size: int = 100
    seq_length: int = 25
    eta: float = 0.1
    sigma: float = 0.01
    seed: int = 0
    sample_every: int = 10_000
    sample_length: int = 200
    clip: float = 5.0
    eps: float = 1e-8

    def validate(self, names: str = "flags") -> None:
        """Raise ValueError naming the first field that cannot work: its command-line flag
        (names="flags": "--hidden") or its name in config.json (names="fields": "hidden_size").
        Types are checked too (a hand-edited config.json can hold anything)."""
        for name, (flag, kind, low, low_included, high) in _RULES.items():
            label = flag if names == "flags" else name
            value = getattr(self, name)
            if kind is int:
                ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
                if not ok:
                    raise ValueError(f"{label} must be an integer, got {value!r}")
            elif not (
                isinstance(value, numbers.Real)
                and not isinstance(value, bool)
                and math.isfinite(value)
            ):
                raise ValueError(f"{label} must be a finite number, got {value!r}")
            if value < low or (value == low and not low_included):
                raise ValueError(
                    f"{label} must be {'>=' if low_included else '>'} {low}, got {value}"
                )
            if high is not None and value > high:
                raise ValueError(f"{label} must be at most {high:,}, got {value}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# field: (command-line flag, type, lowest value, lowest allowed?, highest value or None)
_RULES = {
    "hidden_size": ("--hidden", int, 1, True, None),
    "seq_length": ("--seq-length", int, 1, True, None),
    "eta": ("--eta", float, 0, False, None),
    "sigma": ("--sigma", float, 0, True, None),
    "seed": ("--seed", int, 0, True, None),
    "sample_every": ("--sample-every", int, 1, True, None),
    "sample_length": ("--sample-length", int, 0, True, MAX_SAMPLE_LENGTH),
    "clip": ("clip", float, 0, False, None),
    "eps": ("eps", float, 0, False, None),
}


_LARGEST_LOSS = float(np.finfo(np.float32).max)
_SMALLER = "use a smaller --sigma (the default is 0.01)"


class DivergenceError(RuntimeError):
    """The loss became NaN or infinite; the update that would have used it was not applied."""

    def __init__(self, iteration: int, loss: float, eta: float):
        self.iteration = iteration
        self.loss = loss
        super().__init__(
            f"training diverged at iteration {iteration} (loss = {loss}): lower --eta "
            f"(now {eta:g}) and resume from the last good checkpoint"
        )


class Interrupted(Exception):
    """A sample was stopped by `interrupt()`; the random generator is as it was before it."""


def parse_rng_state(text: str) -> dict:
    """The PCG64 state a checkpoint stores as JSON, checked field by field (ValueError)."""
    if len(text) > 1024:  # the real state is about 150 characters
        raise ValueError(f"rng_state is {len(text):,} characters long")
    try:
        state = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise ValueError(f"rng_state is not JSON ({err})") from None
    inner = state.get("state") if isinstance(state, dict) else None
    if (
        not isinstance(inner, dict)
        or set(state) != {"bit_generator", "state", "has_uint32", "uinteger"}
        or state["bit_generator"] != "PCG64"
        or set(inner) != {"state", "inc"}
        or not all(_integer_in(inner[k], 0, 1 << 128) for k in ("state", "inc"))
        or not _integer_in(state["has_uint32"], 0, 2)
        or not _integer_in(state["uinteger"], 0, 1 << 32)
    ):
        raise ValueError("rng_state is not a PCG64 state")
    return state


def _integer_in(value, low: int, stop: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value < stop


class LossHistory:
    """Per-update loss and smooth loss in growable float32 arrays (8 bytes per update).

    Epochs are stored as the iterations at which each epoch started, not per row.
    """

    def __init__(self, capacity: int = 4096):
        self._loss = np.empty(capacity, dtype=np.float32)
        self._smooth = np.empty(capacity, dtype=np.float32)
        self._size = 0
        # Epoch e (1-based) starts after update number epoch_starts[e - 1].
        self.epoch_starts = np.zeros(1, dtype=np.int64)

    def __len__(self) -> int:
        return self._size

    def append(self, loss: float, smooth_loss: float) -> None:
        if self._size == self._loss.size:
            self._grow(2 * self._loss.size)
        self._loss[self._size] = loss
        self._smooth[self._size] = smooth_loss
        self._size += 1

    def _grow(self, capacity: int) -> None:
        for name in ("_loss", "_smooth"):
            old = getattr(self, name)
            new = np.empty(capacity, dtype=np.float32)
            new[: self._size] = old[: self._size]
            setattr(self, name, new)

    def start_epoch(self, after_iteration: int) -> None:
        self.epoch_starts = np.append(self.epoch_starts, after_iteration)

    @property
    def loss(self) -> np.ndarray:
        return self._loss[: self._size]

    @property
    def smooth_loss(self) -> np.ndarray:
        return self._smooth[: self._size]

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
    def from_arrays(cls, loss, smooth_loss, epoch_starts) -> LossHistory:
        history = cls(capacity=max(4096, 2 * len(loss)))
        history._loss[: len(loss)] = loss
        history._smooth[: len(loss)] = smooth_loss
        history._size = len(loss)
        history.epoch_starts = np.asarray(epoch_starts, dtype=np.int64).copy()
        return history


@dataclass(frozen=True)
class Sample:
    iteration: int
    smooth_loss: float
    text: str
    best: bool = False

    @property
    def header(self) -> str:
        kind = "best model, " if self.best else ""
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


class Trainer:
    """Everything that changes during training, and the one method that changes it: `step`."""

    def __init__(self, data: np.ndarray, chars: tuple[str, ...], config: TrainConfig):
        config.validate()
        if len(data) < config.seq_length + 1:  # corpus.check_trainable says this to users
            raise ValueError(
                f"the text has {len(data)} characters, fewer than seq_length + 1 = "
                f"{config.seq_length + 1}"
            )
        self.data = data
        self.chars = tuple(chars)
        self.config = config
        K, m = len(self.chars), config.hidden_size
        self.rng = np.random.Generator(np.random.PCG64(config.seed))
        self.params = init_params(K, m, config.sigma, self.rng)
        self.grads = Params.zeros(K, m)
        self.memory = np.zeros_like(self.params.flat)  # AdaGrad's running sum of g^2
        self._scratch = (np.empty_like(self.memory), np.empty_like(self.memory))
        self.h = np.zeros(m)
        self.position = 0
        self.iteration = 0
        self.epoch = 1
        self.smooth_loss = -math.log(1.0 / K) * config.seq_length
        self.best_flat = self.params.flat.copy()
        self.best_smooth_loss = self.smooth_loss
        self.best_iteration = 0
        self.history = LossHistory()
        self.last_sample_iteration = -1
        self.samples: deque[Sample] = deque(maxlen=200)  # all of them go to disk (runs.py)

    # -- derived quantities --------------------------------------------------------------------
    @property
    def updates_per_epoch(self) -> int:
        return (len(self.data) - 1) // self.config.seq_length

    @property
    def best_params(self) -> Params:
        return Params.from_flat(self.best_flat, len(self.chars), self.config.hidden_size)

    def target_iterations(self, iterations: int | None = None, epochs: float | None = None) -> int:
        if iterations is not None:
            return int(iterations)
        updates = (2 if epochs is None else epochs) * self.updates_per_epoch
        if not math.isfinite(updates):  # int(round(inf)) would raise OverflowError
            raise ValueError(f"--epochs {epochs:g} is more updates than can be counted: give fewer")
        return int(round(updates))

    def check_initial_loss(self) -> None:
        """Raise ValueError naming --sigma when the initial weights are so large that the loss
        of the first chunk is not finite (or overflows the float32 history): no update could
        ever be applied, and --eta is not the cause."""
        sigma = f"--sigma {self.config.sigma:g}"
        if not np.isfinite(self.params.flat).all():
            raise ValueError(f"{sigma} makes the initial weights overflow to infinity: {_SMALLER}")
        n = self.config.seq_length
        with np.errstate(all="ignore"):
            loss = loss_only(self.params, self.data[:n], self.data[1 : n + 1], self.h)
        if not abs(loss) <= _LARGEST_LOSS:
            raise ValueError(
                f"{sigma} makes the first loss {loss:.3g}, too large to train: {_SMALLER}"
            )

    # -- one update ----------------------------------------------------------------------------
    def step(self) -> float:
        """One AdaGrad update on the next chunk; returns the chunk's loss."""
        n = self.config.seq_length
        if self.position + n + 1 > len(self.data):  # the chunk would run past the end
            self.position = 0
            self.h = np.zeros_like(self.h)
            self.epoch += 1
            self.history.start_epoch(self.iteration)
        e = self.position
        inputs, targets = self.data[e : e + n], self.data[e + 1 : e + n + 1]
        loss, grads, h = loss_and_grads(self.params, inputs, targets, self.h, self.grads)
        # Diverged: NaN, inf, or too large for the float32 history (a huge eta makes the loss
        # grow by about eta per update, so it overflows float32 long before float64).
        if not abs(loss) <= _LARGEST_LOSS:
            raise DivergenceError(self.iteration + 1, loss, self.config.eta)
        g = np.clip(grads.flat, -self.config.clip, self.config.clip, out=grads.flat)
        # mem += g * g;  theta -= eta * g / sqrt(mem + eps), computed in the two scratch
        # buffers (in the same order, so bit for bit the same) instead of five temporaries.
        g_squared, update = self._scratch
        self.memory += np.multiply(g, g, out=g_squared)
        np.multiply(self.config.eta, g, out=update)
        update /= np.sqrt(np.add(self.memory, self.config.eps, out=g_squared), out=g_squared)
        self.params.flat -= update
        self.h = h
        self.position = e + n
        self.iteration += 1
        self.smooth_loss = 0.999 * self.smooth_loss + 0.001 * loss
        self.history.append(loss, self.smooth_loss)
        if self.smooth_loss < self.best_smooth_loss:
            np.copyto(self.best_flat, self.params.flat)
            self.best_smooth_loss = self.smooth_loss
            self.best_iteration = self.iteration
        return loss

    # -- samples -------------------------------------------------------------------------------
    def sample_due(self) -> bool:
        return (
            self.iteration % self.config.sample_every == 0
            and self.last_sample_iteration != self.iteration
        )

    def synthesize(self, length: int | None = None, interrupt=None) -> Sample:
        """A sample from the current hidden state and the next input character (the report's).

        `interrupt()` is asked before every character; when it says stop, the random generator
        is put back as it was and Interrupted raised, so the sample can be drawn again later,
        identically (a resumed run stays the uninterrupted one)."""
        length = self.config.sample_length if length is None else length
        text = self._sample_text(self.params, length, interrupt)
        return Sample(self.iteration, self.smooth_loss, text)

    def synthesize_best(self, length: int = 1000, interrupt=None) -> Sample:
        """The report's last section: text from the best model (lowest smooth loss)."""
        text = self._sample_text(self.best_params, length, interrupt)
        return Sample(self.best_iteration, self.best_smooth_loss, text, best=True)

    def _sample_text(self, params: Params, length: int, interrupt) -> str:
        x = int(self.data[self.position])
        ids = sampling.generate(params, self.h.copy(), x, length, self.rng)
        if interrupt is None:
            return "".join(self.chars[i] for i in ids)
        before = self.rng.bit_generator.state
        text = []
        for i in ids:
            if interrupt():
                self.rng.bit_generator.state = before
                raise Interrupted(f"sample stopped after {len(text):,} of {length:,} characters")
            text.append(self.chars[i])
        return "".join(text)

    def _record_due_sample(self, interrupt=None) -> Sample | None:
        if not self.sample_due():
            return None
        sample = self.synthesize(interrupt=interrupt)
        self.samples.append(sample)
        self.last_sample_iteration = self.iteration
        return sample

    # -- many updates --------------------------------------------------------------------------
    def train(
        self,
        until_iteration: int,
        should_stop: Callable[[], bool] | None = None,
        on_sample: Callable[[Sample], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        progress_every: float = 0.25,
        interrupt: Callable[[], bool] | None = None,
    ) -> int:
        """Update until `until_iteration` or until `should_stop()` is true; returns updates done.

        `should_stop` (a deadline, a waiting request) is asked only after the first update, so
        every call makes progress however soon it says stop. `interrupt` (a signal) is asked
        before every update and every sampled character: a sample it stops is undone (see
        `synthesize`) and falls due again on the next call. Samples fall due before the first
        update and every `sample_every` updates; progress is reported at most every
        `progress_every` seconds (and once at the end).
        """
        done = 0
        started = last_report = time.perf_counter()
        new_samples: list[Sample] = []

        def take_sample() -> bool:
            try:
                sample = self._record_due_sample(interrupt)
            except Interrupted:
                return False
            if sample is not None:
                new_samples.append(sample)
                if on_sample:
                    on_sample(sample)
            return True

        going = take_sample()
        while going and self.iteration < until_iteration:
            if interrupt is not None and interrupt():
                break
            if done and should_stop is not None and should_stop():
                break
            self.step()
            done += 1
            going = take_sample()
            now = time.perf_counter()
            if on_progress is not None and now - last_report >= progress_every:
                on_progress(self.progress(done, now - started, new_samples))
                new_samples = []
                last_report = now
        if on_progress is not None:
            on_progress(self.progress(done, time.perf_counter() - started, new_samples))
        return done

    def progress(self, updates: int, seconds: float, new_samples=()) -> Progress:
        rate = updates * self.config.seq_length / seconds if seconds > 0 else 0.0
        return Progress(
            self.iteration,
            self.epoch,
            self.smooth_loss,
            self.best_smooth_loss,
            rate,
            list(new_samples),
        )

    # -- state for checkpoints (runs.py writes it; no pickles: arrays and JSON strings) --------
    def state_arrays(self) -> dict[str, np.ndarray]:
        return {
            "params": self.params.flat,
            "memory": self.memory,
            "h": self.h,
            "best_params": self.best_flat,
            "loss_history": self.history.loss,
            "smooth_loss_history": self.history.smooth_loss,
            "epoch_starts": self.history.epoch_starts,
            "scalars": np.array(
                [
                    self.position,
                    self.iteration,
                    self.epoch,
                    self.best_iteration,
                    self.last_sample_iteration,
                ],
                dtype=np.int64,
            ),
            "losses": np.array([self.smooth_loss, self.best_smooth_loss], dtype=np.float64),
            "rng_state": np.array(json.dumps(self.rng.bit_generator.state)),
        }

    def load_state_arrays(self, arrays) -> None:
        """Restore exactly what `state_arrays` saved (after checking shapes)."""
        expected = self.params.flat.shape
        for name in ("params", "memory", "best_params"):
            if arrays[name].shape != expected:
                raise ValueError(
                    f"checkpoint {name} has shape {arrays[name].shape}, the model needs {expected}"
                )
        self.params.flat[...] = arrays["params"]
        self.memory[...] = arrays["memory"]
        self.best_flat[...] = arrays["best_params"]
        self.h = np.array(arrays["h"], dtype=np.float64)
        (
            self.position,
            self.iteration,
            self.epoch,
            self.best_iteration,
            self.last_sample_iteration,
        ) = (int(v) for v in arrays["scalars"])
        self.smooth_loss, self.best_smooth_loss = (float(v) for v in arrays["losses"])
        self.history = LossHistory.from_arrays(
            arrays["loss_history"], arrays["smooth_loss_history"], arrays["epoch_starts"]
        )
        self.rng.bit_generator.state = json.loads(str(arrays["rng_state"]))
