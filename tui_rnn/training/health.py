"""Training health, measured on the engine side a few times a second without changing a bit of
training: how large the weights, gradients and updates of each parameter are, how often
clipping bites, and how saturated each layer's units are.

A `HealthMonitor` is the trainer's `on_update` observer: after an update it looks at the clock
and, at most once every `interval` seconds, measures from what the trainer already holds (the
parameters, the clipped gradient in `trainer.grads`, the update the optimizer subtracted in
`optimizer.last_update`, the update's forward cache); between those it costs one clock read.

Per parameter p (theta_p before the update, g_p the clipped gradient the optimizer used,
Delta_p the update):

    weight norm    |theta_p|
    gradient norm  |g_p|
    update ratio   |Delta_p| / |theta_p|      CS231n's rule of thumb: about 1e-3 is healthy; much
                                              lower learns slowly, much higher is unstable
    clipped        the fraction of g_p's entries at the bound +-C (clipped), over the last
                   CLIP_WINDOW measured updates

Per layer l, from the measured update's forward pass (every step and stream):

    h              |h| > 0.99: the output at tanh's flat ends (for an LSTM, o * tanh(c))
    i f o / r z    a sigmoid gate below 0.01 or above 0.99 (shut or wide open)
    g / n          a tanh candidate beyond +-0.99
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tui_rnn.cells.model import ForwardCache, Model

SATURATED = 0.99  # |tanh| above this, a sigmoid within 1 - this of 0 or 1
CLIP_WINDOW = 8  # measured updates the clipped fraction is averaged over
INTERVAL = 0.5  # seconds between two measurements
SIGMOID_GATES = ("i", "f", "o", "r", "z")
TANH_CANDIDATES = ("g", "n")
RULES = {
    "h": f"|h| > {SATURATED}",
    **{gate: f"< {1 - SATURATED:.2g} or > {SATURATED}" for gate in SIGMOID_GATES},
    **{gate: f"|{gate}| > {SATURATED}" for gate in TANH_CANDIDATES},
}


@dataclass(frozen=True)
class ParameterHealth:
    name: str
    layer: int | None  # None for the output layer's V and c
    shape: tuple[int, ...]
    weight_norm: float
    grad_norm: float | None = None  # None: no update measured yet
    update_ratio: float | None = None
    clipped: float | None = None


@dataclass(frozen=True)
class Saturation:
    layer: int
    kind: str  # "h" or a gate ("i", "f", "o", "g"; "r", "z", "n")
    fraction: float

    @property
    def rule(self) -> str:
        return RULES[self.kind]


@dataclass(frozen=True)
class HealthReport:
    iteration: int  # the update measured (or the model's, for weights only)
    parameters: tuple[ParameterHealth, ...]
    saturation: tuple[Saturation, ...] = ()
    clip: float = 0.0
    measured: bool = True  # False: weights only, no update seen yet
    seconds: float = 0.0  # what measuring cost
    window: int = 0  # updates the clipped fraction covers


def _segment_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(values, starts) if len(values) else np.zeros(len(starts))


def _layout(model: Model) -> tuple[list[str], np.ndarray]:
    """(parameter names in flat order, where each starts in the flat vector)."""
    names = list(model.params)
    sizes = [model.params[name].size for name in names]
    return names, np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)


def weights_report(model: Model, iteration: int) -> HealthReport:
    """The weight norms alone (no update seen yet)."""
    names, starts = _layout(model)
    flat = model.flat.astype(np.float64)
    norms = np.sqrt(_segment_sums(flat * flat, starts))
    parameters = tuple(
        ParameterHealth(name, model.spec.parameter_layer(name), model.params[name].shape, norm)
        for name, norm in zip(names, norms.tolist(), strict=True)
    )
    return HealthReport(iteration, parameters, measured=False)


def saturation(cache: ForwardCache) -> tuple[Saturation, ...]:
    """The saturated fraction of every layer's outputs and gates in a forward pass."""
    rows = []
    for name, values in cache.activations.items():
        kind, layer = name.split(".")
        if kind in ("h", *TANH_CANDIDATES):
            count = np.count_nonzero(np.abs(values) > SATURATED)
        elif kind in SIGMOID_GATES:
            count = np.count_nonzero(np.abs(values - 0.5) > SATURATED - 0.5)
        else:  # an LSTM's cell state c is not bounded: nothing saturates
            continue
        rows.append(Saturation(int(layer), kind, count / max(1, values.size)))
    return tuple(sorted(rows, key=lambda row: (row.layer, row.kind != "h")))


def measure(trainer, cache: ForwardCache, clipped_window: deque | None = None) -> HealthReport:
    """The health of the update the trainer just made (see the module docstring); reads only."""
    started = time.perf_counter()
    model = trainer.model
    names, starts = _layout(model)
    theta = model.flat
    delta = trainer.optimizer.last_update  # theta_before = theta + delta
    g = trainer.grads.flat
    before = theta + delta
    weight = np.sqrt(_segment_sums(before * before, starts))
    grad = np.sqrt(_segment_sums(g * g, starts))
    update = np.sqrt(_segment_sums(delta * delta, starts))
    clip = trainer.config.clip
    sizes = np.diff(np.append(starts, len(theta)))
    clipped = _segment_sums((np.abs(g) >= clip).astype(np.float64), starts) / np.maximum(1, sizes)
    if clipped_window is None:
        clipped_window = deque(maxlen=1)
    clipped_window.append(clipped)
    clipped_mean = np.mean(clipped_window, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(weight > 0, update / weight, np.inf)
    parameters = tuple(
        ParameterHealth(
            name,
            trainer.spec.parameter_layer(name),
            model.params[name].shape,
            float(weight[k]),
            float(grad[k]),
            float(ratio[k]),
            float(clipped_mean[k]),
        )
        for k, name in enumerate(names)
    )
    return HealthReport(
        trainer.iteration,
        parameters,
        saturation(cache),
        clip,
        True,
        time.perf_counter() - started,
        len(clipped_window),
    )


class HealthMonitor:
    """The trainer's `on_update` observer: a report at most every `interval` seconds, handed to
    `publish` (on the training thread) and kept as `latest`."""

    def __init__(
        self,
        publish: Callable[[HealthReport], None] | None = None,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.publish = publish
        self.interval = interval
        self.clock = clock
        self.latest: HealthReport | None = None
        self._next = -np.inf
        self._clipped: deque = deque(maxlen=CLIP_WINDOW)

    def observe(self, trainer, cache: ForwardCache) -> None:
        now = self.clock()
        if now < self._next:
            return
        self._next = now + self.interval
        self.latest = measure(trainer, cache, self._clipped)
        if self.publish is not None:
            self.publish(self.latest)

    def attach(self, trainer) -> None:
        trainer.on_update = self.observe

    @staticmethod
    def detach(trainer) -> None:
        trainer.on_update = None
