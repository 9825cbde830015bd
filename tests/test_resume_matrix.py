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


@pytest.mark.parametrize("name", [n for n in CONFIGS if "validation" in n])
def test_a_run_continued_past_its_target_equals_one_trained_straight_through(
    name, corpus, tmp_path
):
    """Reaching a target off the --eval-every schedule evaluates there (the run's final
    validation loss, possibly its best model); training on (`--resume --iterations`, `t` in the
    app) undoes that evaluation, so the longer run is the one never stopped, bit for bit."""
    config = dict(**CONFIGS[name], **COMMON)
    whole = Trainer(corpus.data, corpus.chars, TrainConfig(**config))
    whole.train(UPDATES)
    target = 3 * config["eval_every"] - 1  # just before a scheduled evaluation
    run_dir = rundir.prepare_run_dir(tmp_path / "run")
    first = Trainer(corpus.data, corpus.chars, TrainConfig(**config))
    store_config.write_config(run_dir, first.config, corpus)
    first.train(target)
    assert first.history.val_iterations[-1] == target  # the target's own evaluation
    became_best = first.best_iteration == target
    checkpoint.save_checkpoint(run_dir, first)
    resumed = checkpoint.restore_trainer(run_dir, corpus)
    assert resumed.before_end_evaluation is not None
    finished = state(resumed)
    assert "undo.best_params" in finished
    resumed.samples.clear()
    resumed.samples.extend(first.samples)
    resumed.train(UPDATES)
    expected, got = state(whole), state(resumed)
    assert expected.keys() == got.keys()
    for key in expected:
        assert np.array_equal(expected[key], got[key]), key
    assert target not in got["val_iterations"]
    if became_best:  # the undo restored an older best model
        assert got["best_iteration"] != target


def test_the_targets_evaluation_can_be_the_best_model_and_is_undone(corpus, tmp_path):
    """The case that matters: the evaluation at the target chose the best model."""
    config = TrainConfig(**CONFIGS["lstm: float32, adam, dropout, validation"], **COMMON)
    for target in range(31, 89):
        first = Trainer(corpus.data, corpus.chars, config)
        first.train(target)
        if first.best_iteration == target:
            break
    else:
        pytest.fail("no target between 31 and 88 was the best model: change the search")
    before = first.before_end_evaluation
    assert before["best_iteration"] < target
    first.train(UPDATES, should_stop=lambda: True)  # one update on, no new target reached
    assert first.iteration == target + 1
    assert first.best_iteration == before["best_iteration"]
    assert np.array_equal(first.best_flat, before["best_params"])
    assert target not in first.history.val_iterations
