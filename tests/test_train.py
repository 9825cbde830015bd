"""Training: AdaGrad and clipping, epochs, smooth loss, samples, the best model, seeds."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import pytest

from tui_rnn import sampling
from tui_rnn.corpus import from_text
from tui_rnn.model import loss_and_grads, loss_only
from tui_rnn.train import DivergenceError, LossHistory, TrainConfig, Trainer


def make_trainer(corpus, config) -> Trainer:
    return Trainer(corpus.data, corpus.chars, config)


def test_training_lowers_the_loss(small_corpus, tiny_config):
    trainer = make_trainer(small_corpus, replace(tiny_config, hidden_size=32))
    start = trainer.smooth_loss
    trainer.train(1500)
    loss = trainer.history.loss
    assert loss[-200:].mean() < 0.75 * loss[:20].mean()
    assert trainer.smooth_loss < start
    assert trainer.best_smooth_loss <= trainer.smooth_loss
    # Per character, clearly better than guessing uniformly among the K characters.
    per_char = loss[-200:].mean() / tiny_config.seq_length
    assert per_char < 0.7 * math.log(small_corpus.vocab_size)


def fingerprint(trainer: Trainer):
    return (
        trainer.history.loss.tobytes(),
        trainer.history.smooth_loss.tobytes(),
        [(s.iteration, s.smooth_loss, s.text) for s in trainer.samples],
        trainer.params.flat.tobytes(),
        trainer.best_flat.tobytes(),
        trainer.memory.tobytes(),
        trainer.h.tobytes(),
    )


def test_same_seed_is_bit_for_bit_identical_and_another_seed_differs(small_corpus, tiny_config):
    runs = []
    for seed in (0, 0, 1):
        trainer = make_trainer(small_corpus, replace(tiny_config, seed=seed))
        trainer.train(230)
        runs.append(fingerprint(trainer))
    assert runs[0] == runs[1]
    assert len(runs[0][2]) == 5  # samples at 0, 50, 100, 150, 200 were compared
    for a, b in zip(runs[0], runs[2], strict=True):
        assert a != b


def test_one_update_is_adagrad_with_clipping(small_corpus):
    # Big weights and a big eta make some gradients exceed the clipping bound.
    config = TrainConfig(hidden_size=8, seq_length=12, sigma=1.0, eta=0.5, seed=3)
    trainer = make_trainer(small_corpus, config)
    for _ in range(3):  # not the first update only: memory must accumulate
        theta = trainer.params.copy()
        memory = trainer.memory.copy()
        e, n = trainer.position, config.seq_length
        loss, grads, h = loss_and_grads(
            theta, small_corpus.data[e : e + n], small_corpus.data[e + 1 : e + n + 1], trainer.h
        )
        assert trainer.step() == loss
        g = np.clip(grads.flat, -5.0, 5.0)
        memory += g * g
        expected = theta.flat - 0.5 * g / np.sqrt(memory + 1e-8)
        np.testing.assert_array_equal(trainer.memory, memory)
        np.testing.assert_array_equal(trainer.params.flat, expected)
        np.testing.assert_array_equal(trainer.h, h)
    assert np.abs(grads.flat).max() > 5.0, "no gradient was large enough to test clipping"


def test_smooth_loss_starts_at_seq_length_log_K_and_follows_0999(small_corpus, tiny_config):
    trainer = make_trainer(small_corpus, tiny_config)
    K, n = small_corpus.vocab_size, tiny_config.seq_length
    assert trainer.smooth_loss == -math.log(1.0 / K) * n
    smooth = trainer.smooth_loss
    for _ in range(5):
        loss = trainer.step()
        smooth = 0.999 * smooth + 0.001 * loss
        assert trainer.smooth_loss == smooth
    np.testing.assert_array_equal(trainer.history.smooth_loss[-1], np.float32(smooth))


@pytest.mark.parametrize("extra", [0, 1, 6])  # N - 1 a multiple of n, and two other cases
def test_epochs_reset_hidden_state_and_position_exactly_at_the_end(extra):
    n = 7
    text = "".join("abcdefghij"[(i * i + 3 * i) % 10] for i in range(4 * n + 1 + extra))
    corpus = from_text(text)
    trainer = make_trainer(corpus, TrainConfig(hidden_size=6, seq_length=n, seed=0))
    N = len(corpus)
    updates = (N - 1) // n
    assert trainer.updates_per_epoch == updates
    for k in range(updates):  # one epoch: the hidden state is carried from chunk to chunk
        assert trainer.position == k * n
        h, theta = trainer.h.copy(), trainer.params.copy()
        if k > 0:
            assert np.abs(h).max() > 0
        chunk = corpus.data[k * n : k * n + n + 1]
        assert trainer.step() == loss_only(theta, chunk[:-1], chunk[1:], h)
    assert trainer.position == updates * n and trainer.epoch == 1
    assert trainer.position + n + 1 > N  # the next chunk would run past the end...
    theta = trainer.params.copy()
    loss = trainer.step()  # ...so it starts over from 0 with a zero hidden state
    assert loss == loss_only(theta, corpus.data[:n], corpus.data[1 : n + 1], np.zeros(6))
    assert trainer.epoch == 2 and trainer.position == n
    assert trainer.history.epoch_starts.tolist() == [0, updates]
    assert trainer.history.epochs.tolist() == [1] * updates + [2]
    assert trainer.target_iterations() == 2 * updates  # the default: 2 epochs
    assert trainer.target_iterations(epochs=0.5) == round(0.5 * updates)
    assert trainer.target_iterations(iterations=17) == 17


def test_samples_at_iteration_zero_and_every_sample_every(small_corpus, tiny_config):
    trainer = make_trainer(small_corpus, tiny_config)  # sample_every 50, length 30
    seen = []
    trainer.train(120, on_sample=seen.append)
    assert [s.iteration for s in seen] == [0, 50, 100]
    assert list(trainer.samples) == seen
    first = seen[0]
    assert first.smooth_loss == -math.log(1.0 / small_corpus.vocab_size) * 10
    assert seen[1].smooth_loss == pytest.approx(float(trainer.history.smooth_loss[49]), 1e-6)
    assert all(len(s.text) == 30 and set(s.text) <= set(small_corpus.chars) for s in seen)
    assert seen[1].header == f"iter = 50, smooth_loss = {seen[1].smooth_loss:.4f}"
    trainer.train(150, on_sample=seen.append)  # continuing does not repeat iteration 100
    assert [s.iteration for s in seen] == [0, 50, 100, 150]


def test_a_sample_comes_from_the_current_state_and_next_character(small_corpus, tiny_config):
    trainer = make_trainer(small_corpus, tiny_config)
    for _ in range(37):
        trainer.step()
    rng = copy.deepcopy(trainer.rng)
    x = int(small_corpus.data[trainer.position])
    ids = sampling.generate(trainer.params, trainer.h.copy(), x, 40, rng)
    expected = "".join(small_corpus.chars[i] for i in ids)
    h_before = trainer.h.copy()
    sample = trainer.synthesize(40)
    assert sample.text == expected and sample.iteration == 37
    np.testing.assert_array_equal(trainer.h, h_before)  # sampling leaves training alone


def test_best_model_is_the_one_with_the_lowest_smooth_loss(small_corpus, tiny_config):
    def run(until: int) -> Trainer:
        """300 good updates, then a far too large eta so the smooth loss climbs again."""
        trainer = make_trainer(small_corpus, replace(tiny_config, hidden_size=24, seq_length=8))
        trainer.train(min(until, 300))
        trainer.config.eta = 20.0
        trainer.train(until)
        return trainer

    trainer = run(600)
    smooth = trainer.history.smooth_loss
    assert smooth[-1] > smooth.min() + 1.0, "the smooth loss never rose: nothing to test"
    assert trainer.best_iteration == int(np.argmin(smooth)) + 1 < 600
    assert np.float32(trainer.best_smooth_loss) == smooth.min()
    replay = run(trainer.best_iteration)
    np.testing.assert_array_equal(replay.params.flat, trainer.best_flat)
    assert not np.array_equal(trainer.params.flat, trainer.best_flat)
    best = trainer.synthesize_best(25)
    assert best.best and best.iteration == trainer.best_iteration
    assert best.header.startswith("best model, iter = ")


def test_divergence_is_reported_and_the_update_not_applied(small_corpus, tiny_config):
    trainer = make_trainer(small_corpus, tiny_config)
    trainer.step()
    trainer.params.V[0, 0] = np.nan
    before = trainer.params.flat.copy()
    with pytest.raises(DivergenceError) as excinfo:
        trainer.step()
    assert excinfo.value.iteration == 2 and "--eta" in str(excinfo.value)
    assert trainer.iteration == 1
    np.testing.assert_array_equal(trainer.params.flat, before)


def test_state_arrays_restore_an_identical_continuation(small_corpus, tiny_config):
    original = make_trainer(small_corpus, tiny_config)
    original.train(60)
    copy_ = make_trainer(small_corpus, tiny_config)
    copy_.load_state_arrays({k: np.array(v) for k, v in original.state_arrays().items()})
    original.train(130)
    copy_.train(130)
    assert fingerprint(original)[:2] == fingerprint(copy_)[:2]
    assert fingerprint(original)[3:] == fingerprint(copy_)[3:]
    assert [s.text for s in original.samples][-1] == [s.text for s in copy_.samples][-1]


def test_train_stops_when_asked_and_reports_progress(small_corpus, tiny_config):
    trainer = make_trainer(small_corpus, tiny_config)
    reports = []
    done = trainer.train(
        1000, should_stop=lambda: trainer.iteration >= 40, on_progress=reports.append
    )
    assert done == 40 and trainer.iteration == 40
    assert reports[-1].iteration == 40 and reports[-1].epoch == 1
    assert reports[-1].smooth_loss == trainer.smooth_loss
    assert reports[-1].chars_per_second > 0


def test_loss_history_grows_and_stays_float32():
    history = LossHistory(capacity=4)
    for i in range(1000):
        history.append(float(i), float(-i))
    assert len(history) == 1000
    assert history.loss.dtype == np.float32 and history.smooth_loss.dtype == np.float32
    assert history.loss[999] == 999 and history.smooth_loss[10] == -10
    assert history.iterations[0] == 1 and history.iterations[-1] == 1000
    loss, _ = history.snapshot()
    history.append(5.0, 5.0)
    assert len(loss) == 1000  # a snapshot is a copy


@pytest.mark.parametrize(
    "change, word",
    [
        ({"hidden_size": 0}, "--hidden"),
        ({"seq_length": 0}, "--seq-length"),
        ({"eta": 0.0}, "--eta"),
        ({"eta": float("nan")}, "--eta"),
        ({"sigma": -1.0}, "--sigma"),
        ({"sigma": float("inf")}, "--sigma"),
        ({"sample_every": 0}, "--sample-every"),
        ({"sample_length": -1}, "--sample-length"),
        ({"seed": -1}, "--seed"),
    ],
)
def test_config_refuses_options_that_cannot_work(change, word):
    with pytest.raises(ValueError, match=word):
        replace(TrainConfig(), **change).validate()


def test_trainer_refuses_text_shorter_than_one_chunk():
    corpus = from_text("abcdefghij")
    Trainer(corpus.data, corpus.chars, TrainConfig(hidden_size=4, seq_length=9))
    with pytest.raises(ValueError, match="seq_length"):
        Trainer(corpus.data, corpus.chars, TrainConfig(hidden_size=4, seq_length=10))
