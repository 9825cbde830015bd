"""The learning rate of each update: warmup, then constant, cosine or linear down to eta_min.

With eta = --eta, W = --warmup, N the run's last update (config.schedule_end) and t the index
of the update from 0:

    t < W          eta_t = eta (t + 1) / W
    constant       eta_t = eta
    cosine         eta_t = eta_min + (eta - eta_min) (1 + cos(pi (t - W) / (N - W))) / 2
    linear         eta_t = eta - (eta - eta_min) (t - W) / (N - W)
    t >= N         eta_t = eta_min (constant: eta): a run trained on past its schedule's end
                   keeps the rate it ended at; the schedule is never stretched

A pure function of the config and t, so a resumed run continues its schedule exactly and the
same config trains the same bits. char-rnn's per-epoch --lr-decay goes with the constant
schedule only and is applied by the trainer, which knows the epoch.
"""

from __future__ import annotations

import math

from tui_rnn.training.options import TrainConfig


def learning_rate(config: TrainConfig, t: int, last: int | None) -> float:
    """The learning rate of update index `t` (from 0) of a run whose schedule ends at update
    `last` (None: a constant schedule without warmup, which needs no end)."""
    eta = config.eta
    assert eta is not None  # TrainConfig fills it in from the optimizer
    warmup = config.warmup
    if t < warmup:
        return eta * (t + 1) / warmup
    if config.lr_schedule == "constant":
        return eta
    if last is None:
        raise ValueError(f"a {config.lr_schedule} schedule needs the run's last update")
    eta_min = config.eta_min
    if t >= last:
        return eta_min
    progress = (t - warmup) / (last - warmup)
    if config.lr_schedule == "cosine":
        return eta_min + (eta - eta_min) * (1 + math.cos(math.pi * progress)) / 2
    return eta - (eta - eta_min) * progress


def varies(config: TrainConfig) -> bool:
    """Whether the learning rate changes during the run (warmup, a schedule or a decay)."""
    return config.needs_schedule_end or config.lr_decay != 1
