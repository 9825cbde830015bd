"""Exact resume for every kind of model: a run saved at any update and restored from disk
continues bit for bit as the run that was never interrupted (in-process, tiny models)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_text

from tui_rnn.store import checkpoint, rundir
from tui_rnn.store import config as store_config
from tui_rnn.training.corpus import from_text
from tui_rnn.training.options import TrainConfig
from tui_rnn.training.trainer import Trainer

CONFIGS = {
    "report rnn": dict(hidden_size=8),
    "stacked rnn, 3 streams": dict(layers=2, hidden_size=8, batch_size=3),
    "lstm: float32, adam, dropout, validation": dict(
        cell="lstm",
        layers=2,
        hidden_size=8,
        batch_size=4,
        dtype="float32",
        optimizer="adam",
        dropout=0.25,
        val_fraction=0.1,
        eval_every=30,
    ),
    "gru: rmsprop, decay, validation": dict(
        cell="gru",
        hidden_size=10,
        batch_size=2,
        optimizer="rmsprop",
        lr_decay=0.8,
        decay_after=0,
        val_fraction=0.2,
        eval_every=40,
    ),
}
COMMON = dict(seq_length=10, sample_every=25, sample_length=15, seed=4)
UPDATES = 170


@pytest.fixture(scope="module")
def corpus():
    return from_text(make_text(1200, seed=8), name="matrix")


def state(trainer: Trainer) -> dict:
    arrays = {k: np.array(v) for k, v in trainer.state_arrays().items()}
    for name in Trainer.TIMING:  # wall-clock: never the same twice
        arrays.pop(name)
    arrays["samples"] = np.array([s.text for s in trainer.samples])
    return arrays


@pytest.mark.parametrize("name", CONFIGS)
def test_a_run_restored_from_disk_continues_bit_for_bit(name, corpus, tmp_path):
    config = TrainConfig(**CONFIGS[name], **COMMON)
    whole = Trainer(corpus.data, corpus.chars, config)
    whole.train(UPDATES)
    epochs_crossed = whole.epoch
    assert epochs_crossed >= 2, "the run must cross an epoch boundary"
    for stop in (1, 25, whole.updates_per_epoch, 97):  # the first update, a sample, an epoch
        run_dir = rundir.prepare_run_dir(tmp_path / f"{stop}")
        first = Trainer(corpus.data, corpus.chars, TrainConfig(**CONFIGS[name], **COMMON))
        store_config.write_config(run_dir, first.config, corpus)
        first.train(UPDATES, should_stop=lambda first=first, stop=stop: first.iteration >= stop)
        checkpoint.save_checkpoint(run_dir, first)
        resumed = checkpoint.restore_trainer(run_dir, corpus)
        resumed.samples.clear()
        resumed.samples.extend(first.samples)
        resumed.train(UPDATES)
        expected, got = state(whole), state(resumed)
        assert expected.keys() == got.keys()
        for key in expected:
            assert expected[key].dtype == got[key].dtype, (stop, key)
            assert np.array_equal(expected[key], got[key]), (stop, key)


# Where a run continued past its target departs from one trained straight through, on purpose:
# the evaluation at the old target (and the best model it may have chosen) is kept, so these two
# tests asserted the opposite before (that training on undid it, losing that best model).
EVALUATION_STATE = ("val_iterations", "val_loss_history", "evaluations", "best_params")
BEST_COUNTERS = ("best_iteration", "best_smooth_loss", "best_val_loss")


@pytest.mark.parametrize("name", [n for n in CONFIGS if "validation" in n])
def test_a_run_continued_past_its_target_keeps_the_targets_evaluation(name, corpus, tmp_path):
    """Reaching a target off the --eval-every schedule evaluates there (the run's final
    validation loss, possibly its best model); training on (`--resume --iterations`, `t` in the
    app) keeps that evaluation. Everything that trains (parameters, optimizer, states, smooth
    loss, random generators) stays bit for bit the run trained straight through."""
    config = dict(**CONFIGS[name], **COMMON)
    whole = Trainer(corpus.data, corpus.chars, TrainConfig(**config))
    whole.train(UPDATES)
    target = 3 * config["eval_every"] - 1  # just before a scheduled evaluation
    run_dir = rundir.prepare_run_dir(tmp_path / "run")
    first = Trainer(corpus.data, corpus.chars, TrainConfig(**config))
    store_config.write_config(run_dir, first.config, corpus)
    first.train(target)
    assert first.history.val_iterations[-1] == target  # the target's own evaluation
    at_target = first.history.val_loss[-1]
    checkpoint.save_checkpoint(run_dir, first)
    resumed = checkpoint.restore_trainer(run_dir, corpus)
    assert not any(key.startswith("undo.") for key in resumed.state_arrays())
    resumed.samples.clear()
    resumed.samples.extend(first.samples)
    resumed.train(UPDATES)
    expected, got = state(whole), state(resumed)
    assert expected.keys() == got.keys()
    for key in expected:
        if key not in (*EVALUATION_STATE, *BEST_COUNTERS):
            assert np.array_equal(expected[key], got[key]), key
    k = list(got["val_iterations"]).index(target)  # kept, in its place
    assert got["val_loss_history"][k] == at_target
    assert np.array_equal(np.delete(got["val_iterations"], k), expected["val_iterations"])
    assert np.array_equal(np.delete(got["val_loss_history"], k), expected["val_loss_history"])
    assert got["evaluations"] == expected["evaluations"] + 1
    assert got["best_val_loss"] == min(expected["best_val_loss"], at_target)


def test_the_targets_evaluation_can_be_the_best_model_and_is_kept(corpus, tmp_path):
    """The case that matters: the evaluation at the target chose the best model, and training
    on (saved, resumed, one update more, never better) keeps it."""
    config = TrainConfig(**CONFIGS["lstm: float32, adam, dropout, validation"], **COMMON)
    for target in range(31, 89):
        first = Trainer(corpus.data, corpus.chars, config)
        first.train(target)
        if first.best_iteration == target:
            break
    else:
        pytest.fail("no target between 31 and 88 was the best model: change the search")
    best = first.best_flat.copy()
    run_dir = rundir.prepare_run_dir(tmp_path / "run")
    store_config.write_config(run_dir, first.config, corpus)
    checkpoint.save_checkpoint(run_dir, first)
    resumed = checkpoint.restore_trainer(run_dir, corpus)
    resumed.train(UPDATES, should_stop=lambda: True)  # one update on, no new target reached
    assert resumed.iteration == target + 1
    assert resumed.best_iteration == target
    assert np.array_equal(resumed.best_flat, best)
    assert target in resumed.history.val_iterations
