"""The chart's series, prepared on the engine thread in NumPy: thinning to about two points per
column, TensorBoard's smoothing of the per-update loss, and the updates a chart's y axis leaves
out (the first steep fall, which would squeeze the rest into a few rows).

TensorBoard's smoothing is an exponential moving average with weight a (0 <= a < 1), started
at zero and divided by its bias, so the first points are not dragged towards zero:

    s_0 = 0,  s_t = a s_{t-1} + (1 - a) x_t,  shown_t = s_t / (1 - a^t)

`Smoother` keeps the running value, so each progress message smooths only the updates that
arrived since the previous one. The trainer's smooth_loss is the same EMA (weight 0.999) started
at the loss of a uniform guess s_0 instead of zero, s_t = a^t s_0 + z_t, so its debiased value
comes from it alone: (s_t - a^t s_0) / (1 - a^t) (training.history.debiased_smooth_loss, in a
lower layer: the runs table needs it too).
"""

from __future__ import annotations

import math

import numpy as np

SKIP_FRACTION = 0.05  # the first 5% of the updates do not set a chart's y axis ...
# ... nor smooth_loss's warm-up: it starts at -log(1/K) * seq_length and forgets that start as
# 0.999^t, which takes 3 / (1 - 0.999) = 3,000 updates to fall below 5% (the trainer's EMA).
SMOOTH_WARMUP = 3_000

# a^-B is kept below 10^150 inside one block of `ema` (no overflow, exact enough); the carry
# from one block into the next is then a^B s <= 10^-150 s, below float64's resolution.
_BLOCK_RANGE = 150.0


def thin_history(values: np.ndarray, bins: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(iterations, values) with at most 2 * bins + 1 points: each bin's minimum and maximum.

    `values[i]` belongs to iteration start + i + 1. Keeping both extremes (in their original
    order) means no peak or dip disappears, and the best point of the curve is always among the
    points drawn; the newest point is always the last.
    """
    n = len(values)
    if n <= 2 * bins:
        return np.arange(start + 1, start + n + 1, dtype=np.float64), values.astype(np.float64)
    per_bin = n // bins
    used = per_bin * bins
    blocks = values[:used].reshape(bins, per_bin)
    starts = np.arange(bins) * per_bin
    low = starts + blocks.argmin(axis=1)
    high = starts + blocks.argmax(axis=1)
    index = np.sort(np.concatenate([low, high, [n - 1]]))  # always end at the newest update
    index = index[np.concatenate([[True], np.diff(index) > 0])]
    return (index + start + 1).astype(np.float64), values[index].astype(np.float64)


def skipped(points: int) -> float:
    """The updates, from the first, that do not set a chart's y axis: 5% of them, at least
    smooth_loss's warm-up, at most a quarter."""
    return min(max(SKIP_FRACTION * points, SMOOTH_WARMUP), points / 4)


def debiased_ema(x: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing of all of `x`: the EMA from zero divided by 1 - weight^t, so
    that it starts where `x` starts (float64)."""
    smoothed = ema(x, weight)
    if weight > 0.0 and len(smoothed):
        t = np.arange(1, len(smoothed) + 1, dtype=np.float64)
        smoothed /= -np.expm1(t * math.log(weight))  # 1 - a^t
    return smoothed


def ema(x: np.ndarray, weight: float, initial: float = 0.0) -> np.ndarray:
    """s_t = weight s_{t-1} + (1 - weight) x_t for t = 1..n from s_0 = `initial` (float64).

    Vectorised in blocks of B updates: inside a block s_j = a^j (s_0 + sum_k a^-k (1-a) x_k),
    one cumulative sum; B is as long as a^-B stays far from overflowing.
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n == 0:
        return x.copy()
    a = float(weight)
    if a == 0.0:
        return x.copy()
    block = min(n, max(1, int(_BLOCK_RANGE / -math.log10(a))))
    rows = -(-n // block)
    padded = np.zeros(rows * block)
    padded[:n] = (1.0 - a) * x
    u = padded.reshape(rows, block)
    k = np.arange(1, block + 1, dtype=np.float64)
    grow, shrink = a**-k, a**k
    local = shrink * np.cumsum(u * grow, axis=1)  # each block started from 0
    carry = np.empty(rows)  # the value just before each block
    carry[0] = initial
    carry[1:] = local[:-1, -1]  # + a^B * (the carry before): below float64's resolution
    if rows > 1:
        carry[1] += shrink[-1] * initial
    return (local + shrink * carry[:, None]).ravel()[:n]


class Smoother:
    """The debiased EMA of a growing series, extended incrementally (one per weight)."""

    def __init__(self, weight: float):
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"the smoothing weight must be in [0, 1), got {weight}")
        self.weight = weight
        self._values = np.empty(0, dtype=np.float32)
        self._state = 0.0  # s_n, not debiased
        self._source: object = None

    def smooth(self, x: np.ndarray, source: object = None) -> np.ndarray:
        """The debiased EMA of all of `x` (a series that only grows; `source` identifies it:
        another source, or a shorter series, starts again from zero)."""
        n_old = len(self._values)
        if source is not self._source or len(x) < n_old:
            self._values, self._state, self._source, n_old = self._values[:0], 0.0, source, 0
        if len(x) > n_old:
            new = ema(x[n_old:], self.weight, self._state)
            self._state = float(new[-1])
            t = np.arange(n_old + 1, len(x) + 1, dtype=np.float64)
            if self.weight > 0.0:
                new /= -np.expm1(t * math.log(self.weight))  # 1 - a^t
            self._values = np.concatenate([self._values, new.astype(np.float32)])
        return self._values
