"""A time limit turned into a number of updates, by measuring this machine on a throw-away copy.

A run given --time-limit T must train the same bits as the same config given --iterations N,
so T becomes N once, before the first update, and N is recorded: from then on the run trains
to N like any other. The speed is measured by a throw-away Trainer of the same config holding a
copy of the model (a fresh optimizer, state and random generators of its own), under the run's
BLAS threads: the run's model, optimizer, state and generators are never touched. What else a
run spends time on is measured the same way and planned for: validation passes (every
eval_every updates and at the end), samples, checkpoints, and the summary's sample from the
best model. A machine that slows down later is the driver's to catch (a wall-clock stop).
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from tui_rnn.training.optim import make_optimizer
from tui_rnn.training.options import TrainConfig
from tui_rnn.training.trainer import EVAL_CHUNK, DivergenceError, Trainer, evaluation_shape

# The share of the time limit spent measuring, and its bounds in seconds: a shared machine's
# speed wanders by tens of percent from one second to the next, so not too short a look.
MEASURE_SHARE, MEASURE_LEAST, MEASURE_MOST = 0.015, 0.2, 3.0
# Head room on the measured speed (the loop around the step, a noisy measurement): the
# wall-clock stop catches the rest.
SPEED_MARGIN = 1.05
SUMMARY_SAMPLE = 200  # characters the summary samples from the best model
_SAVE_LATENCY = 0.05  # seconds a checkpoint's rename and fsync add to writing its bytes


@dataclass(frozen=True)
class Speed:
    """Seconds this machine takes for each kind of work of a run."""

    update: float  # one update: forward, backward, clip, optimizer, bookkeeping
    evaluation: float  # one validation pass over the held-out text (0 without one)
    sample_char: float  # one sampled character
    save: float  # one checkpoint

    def per_update(self, config: TrainConfig, eval_every: int, save_every: float) -> float:
        """Seconds per update with its share of evaluations, samples and checkpoints."""
        seconds = self.update * SPEED_MARGIN
        if eval_every:
            seconds += self.evaluation / eval_every
        seconds += (config.sample_length * self.sample_char + self.save) / config.sample_every
        return seconds * (1 + self.save / save_every)

    def overhead(self, config: TrainConfig) -> float:
        """What a run spends besides its updates and their share: at its start a validation
        pass, a sample and two checkpoints (the first one and the sample's), at its end the
        last validation pass, a checkpoint and the summary's sample from the best model."""
        evaluations = 2 * self.evaluation if config.val_fraction else 0.0
        summary = SUMMARY_SAMPLE if config.val_fraction else 0
        samples = (config.sample_length + summary) * self.sample_char
        return evaluations + samples + 3 * self.save


def measure(
    config: TrainConfig,
    data: np.ndarray,
    chars: tuple[str, ...],
    params: np.ndarray | None = None,
    seconds: float = 1.0,
    set_threads: bool = True,
) -> Speed:
    """This machine's speed at `config` on `data`, measured for about `seconds` on a copy of
    `params` (default: the run's initial weights, drawn by a generator of the copy's own;
    `params` itself is only read), under the run's BLAS threads; with set_threads False under
    the process's as they are (BLAS threads are the whole process's: another run training in
    it meanwhile would compute other bits)."""
    # The learning rate's schedule is no part of the speed; the copy takes none.
    plain = replace(config, lr_schedule="constant", warmup=0, eta_min=0.0, lr_decay=1.0)
    probe = Trainer(data, chars, replace(plain, schedule_end=None, patience=None))
    start = probe.model.flat.copy() if params is None else params
    with threadpool_limits(limits=config.threads if set_threads else None, user_api="blas"):
        _step(probe, start)  # the first update allocates: not timed
        updates, began = 0, time.perf_counter()
        while updates < 3 or time.perf_counter() - began < seconds:
            _step(probe, start)
            updates += 1
        update = (time.perf_counter() - began) / updates
        evaluation = _evaluation_seconds(probe)
        began = time.perf_counter()
        probe.synthesize(length=20)
        sample_char = (time.perf_counter() - began) / 20
    return Speed(update, evaluation, sample_char, _save_seconds(probe))


def _step(probe: Trainer, start: np.ndarray) -> None:
    """One update of the copy; one that diverges (a learning rate far too large) starts the
    copy again from `start`: its time is what is measured, not its result."""
    try:
        probe.step()
    except DivergenceError:
        probe.model.flat[...] = start
        probe.optimizer = make_optimizer(
            probe.config.optimizer, start.size, start.dtype, probe.config.eps
        )


def _evaluation_seconds(probe: Trainer) -> float:
    """A whole validation pass, timed on its first chunk of steps and scaled: the faster of
    two timings (the first pays for its arrays, which a run allocates once)."""
    if not probe.validating:
        return 0.0
    streams, length = evaluation_shape(len(probe.val_data))
    steps = min(length, EVAL_CHUNK)
    full = probe.val_data
    probe.val_data = full[: streams * steps + 1]
    timings = []
    for _ in range(2):
        began = time.perf_counter()
        probe.evaluate()
        timings.append(time.perf_counter() - began)
    probe.val_data = full
    return min(timings) * length / steps


def _save_seconds(probe: Trainer) -> float:
    """A checkpoint's arrays written to memory, plus the disk's rename and fsync."""
    arrays: dict[str, Any] = probe.state_arrays()  # Any: np.savez's stub types a keyword
    began = time.perf_counter()
    np.savez(io.BytesIO(), **arrays)
    return time.perf_counter() - began + _SAVE_LATENCY


def measuring_seconds(time_limit: float) -> float:
    """How long to measure for a time limit: a small share of it, within bounds."""
    return min(MEASURE_MOST, max(MEASURE_LEAST, MEASURE_SHARE * time_limit))


def updates_within(
    speed: Speed, seconds: float, config: TrainConfig, eval_every: int, save_every: float
) -> int:
    """The updates that fit in `seconds` with their evaluations, samples and checkpoints and
    what the run spends besides (0: not even one)."""
    left = seconds - speed.overhead(config)
    per_update = speed.per_update(config, eval_every, save_every)
    return max(0, math.floor(left / per_update))
