"""Training: AdaGrad and clipping, epochs, smooth loss, samples, the best model, seeds."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import pytest
import report_reference as report

from tui_rnn.training.corpus import from_text
from tui_rnn.training.history import LossHistory
from tui_rnn.training.options import OptionError, TrainConfig
from tui_rnn.training.trainer import DivergenceError, Trainer


def make_trainer(corpus, config) -> Trainer:
    return Trainer(corpus.data, corpus.chars, config)


def hidden(trainer: Trainer) -> np.ndarray:
    """The report's h: stream 0 of the single layer's state."""
    return trainer.state[0][0]


def report_params(trainer: Trainer) -> report.Params:
    """A copy of the current parameters as the report's code holds them."""
    flat = trainer.model.flat.copy()
    return report.Params.from_flat(flat, len(trainer.chars), trainer.config.hidden_size)


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
        trainer.model.flat.tobytes(),
        trainer.best_flat.tobytes(),
        trainer.optimizer.memory.tobytes(),
        hidden(trainer).tobytes(),
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
        theta = report_params(trainer)
        memory = trainer.optimizer.memory.copy()
        e, n = trainer.position, config.seq_length
        loss, grads, h = report.loss_and_grads(
            theta,
            small_corpus.data[e : e + n],
            small_corpus.data[e + 1 : e + n + 1],
            hidden(trainer),
        )
        assert trainer.step() == loss
        g = np.clip(grads.flat, -5.0, 5.0)
        memory += g * g
        expected = theta.flat - 0.5 * g / np.sqrt(memory + 1e-8)
        np.testing.assert_array_equal(trainer.optimizer.memory, memory)
        np.testing.assert_array_equal(trainer.model.flat, expected)
        np.testing.assert_array_equal(hidden(trainer), h)
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
        h, theta = hidden(trainer).copy(), report_params(trainer)
        if k > 0:
            assert np.abs(h).max() > 0
        chunk = corpus.data[k * n : k * n + n + 1]
        assert trainer.step() == report.loss_only(theta, chunk[:-1], chunk[1:], h)
    assert trainer.position == updates * n and trainer.epoch == 1
    assert trainer.position + n + 1 > N  # the next chunk would run past the end...
    theta = report_params(trainer)
    loss = trainer.step()  # ...so it starts over from 0 with a zero hidden state
    assert loss == report.loss_only(theta, corpus.data[:n], corpus.data[1 : n + 1], np.zeros(6))
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
    ids = report.generate(report_params(trainer), hidden(trainer).copy(), x, 40, rng)
    expected = "".join(small_corpus.chars[i] for i in ids)
    h_before = hidden(trainer).copy()
    sample = trainer.synthesize(40)
    assert sample.text == expected and sample.iteration == 37
    np.testing.assert_array_equal(hidden(trainer), h_before)  # sampling leaves training alone


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
    np.testing.assert_array_equal(replay.model.flat, trainer.best_flat)
    assert not np.array_equal(trainer.model.flat, trainer.best_flat)
    best = trainer.synthesize_best(25)
    assert best.best and best.iteration == trainer.best_iteration
    assert best.header.startswith("best model, iter = ")


def test_divergence_is_reported_and_the_update_not_applied(small_corpus, tiny_config):
    trainer = make_trainer(small_corpus, tiny_config)
    trainer.step()
    trainer.model["V"][0, 0] = np.nan
    before = trainer.model.flat.copy()
    with pytest.raises(DivergenceError) as excinfo:
        trainer.step()
    assert excinfo.value.iteration == 2 and "--eta" in str(excinfo.value)
    assert trainer.iteration == 1
    np.testing.assert_array_equal(trainer.model.flat, before)


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
    with pytest.raises(OptionError, match="--seq-length 10"):
        Trainer(corpus.data, corpus.chars, TrainConfig(hidden_size=4, seq_length=10))


# -- streams, validation, optimizers, the other cells --------------------------------------------
def test_batch_cuts_the_text_into_equal_segments_one_stream_each(small_corpus):
    config = TrainConfig(hidden_size=8, seq_length=10, batch_size=4)
    trainer = make_trainer(small_corpus, config)
    segment = len(small_corpus) // 4
    assert trainer.segment == segment
    assert trainer.updates_per_epoch == (segment - 1) // 10
    inputs, targets = trainer.next_chunk()
    assert inputs.shape == targets.shape == (10, 4)
    for b in range(4):
        start = b * segment
        assert inputs[:, b].tolist() == small_corpus.data[start : start + 10].tolist()
        assert targets[:, b].tolist() == small_corpus.data[start + 1 : start + 11].tolist()


def test_a_batched_update_is_the_mean_of_the_streams_losses_and_gradients(small_corpus):
    config = TrainConfig(hidden_size=8, seq_length=10, batch_size=3, seed=2)
    trainer = make_trainer(small_corpus, config)
    for _ in range(4):  # carried states, not the first chunk only
        trainer.step()
    model = trainer.model.copy()
    states = [layer.copy() for layer in trainer.state]
    inputs, targets = (a.copy() for a in trainer.next_chunk())
    losses, grads = [], []
    for b in range(3):
        loss, cache = model.forward(
            inputs[:, b : b + 1], targets[:, b : b + 1], [s[b : b + 1] for s in states]
        )
        losses.append(loss)
        grads.append(model.backward(cache).flat.copy())
    memory = trainer.optimizer.memory.copy()
    loss = trainer.step()
    assert loss == pytest.approx(np.mean(losses), rel=1e-12)
    g = np.clip(np.mean(grads, axis=0), -5, 5)
    np.testing.assert_allclose(trainer.optimizer.memory, memory + g * g, rtol=1e-10, atol=1e-14)


def test_an_epoch_ends_when_every_stream_has_read_its_segment(small_corpus):
    config = TrainConfig(hidden_size=6, seq_length=25, batch_size=8)
    trainer = make_trainer(small_corpus, config)
    per_epoch = trainer.updates_per_epoch
    for _ in range(per_epoch):
        trainer.step()
    assert trainer.epoch == 1 and any(np.abs(s).max() > 0 for s in trainer.state)
    trainer.next_chunk()  # the next one starts epoch 2 from zero states
    assert trainer.epoch == 2 and trainer.position == 0
    assert all(not s.any() for s in trainer.state)
    assert trainer.history.epoch_starts.tolist() == [0, per_epoch]


def test_too_large_a_batch_is_refused_in_one_line(small_corpus):
    config = TrainConfig(hidden_size=4, seq_length=25, batch_size=2000)
    with pytest.raises(OptionError, match="--batch 2000"):
        make_trainer(small_corpus, config)


def test_validation_holds_out_the_end_and_reads_it_from_zero_states(small_corpus):
    config = TrainConfig(hidden_size=8, seq_length=10, batch_size=2, val_fraction=0.1)
    trainer = make_trainer(small_corpus, config)
    held_out = int(len(small_corpus) * 0.1)
    assert len(trainer.val_data) == held_out
    assert len(trainer.train_data) + held_out == len(small_corpus)
    # The default interval: an evaluation reads the held-out text once, ~5% of the time.
    assert trainer.eval_every == math.ceil(held_out / (0.15 * 2 * 10))
    assert config.eval_every == trainer.eval_every  # recorded, so a resume keeps it
    trainer.train(30)
    val = trainer.val_data
    streams = 32
    length = (len(val) - 1) // streams
    total = 0.0
    model = trainer.model
    for b in range(streams):  # each stream alone, from a zero state, to its end
        chunk = val[b * length : (b + 1) * length + 1]
        loss, _ = model.forward(chunk[:-1, None], chunk[1:, None], model.zero_state(1))
        total += loss
    assert trainer.evaluate() == pytest.approx(total / (streams * length), rel=1e-10)


def test_validation_is_due_every_eval_every_and_at_the_target(small_corpus):
    config = TrainConfig(hidden_size=8, seq_length=10, val_fraction=0.2, eval_every=25)
    trainer = make_trainer(small_corpus, config)
    seen = []
    trainer.train(60, on_validation=seen.append)
    assert trainer.history.val_iterations.tolist() == [0, 25, 50, 60]
    assert trainer.history.val_loss.tolist() == seen
    best = int(np.argmin(seen))
    assert trainer.best_val_loss == min(seen)
    assert trainer.best_iteration == [0, 25, 50, 60][best]
    trainer.train(60)  # nothing new: no second evaluation at the same iteration
    assert len(trainer.history.val_loss) == 4


def test_with_validation_the_best_model_is_the_lowest_validation_loss(small_corpus):
    config = TrainConfig(hidden_size=16, seq_length=10, val_fraction=0.2, eval_every=40)
    trainer = make_trainer(small_corpus, config)
    snapshots = {}
    trainer.train(
        200,
        on_validation=lambda loss: snapshots.update({trainer.iteration: trainer.model.flat.copy()}),
    )
    losses = dict(
        zip(trainer.history.val_iterations.tolist(), trainer.history.val_loss, strict=True)
    )
    best = min(losses, key=losses.get)
    assert trainer.best_iteration == best
    np.testing.assert_array_equal(trainer.best_flat, snapshots[best])
    assert trainer.evaluate(trainer.best_flat) == losses[best]


@pytest.mark.parametrize("name", ["rmsprop", "adam"])
def test_other_optimizers_default_to_their_own_learning_rate(small_corpus, name):
    from tui_rnn.training.optim import make_optimizer

    config = TrainConfig(hidden_size=8, seq_length=10, optimizer=name)
    assert config.eta == 2e-3
    trainer = make_trainer(small_corpus, config)
    reference = make_optimizer(name, trainer.model.flat.size)
    theta = trainer.model.flat.copy()
    inputs, targets = trainer.next_chunk()
    _, cache = trainer.model.forward(inputs, targets, trainer.state)
    g = np.clip(trainer.model.backward(cache).flat.copy(), -5, 5)
    trainer.step()
    reference.step(theta, g, 2e-3)
    np.testing.assert_array_equal(trainer.model.flat, theta)


def test_learning_rate_decays_per_epoch_after_decay_after(small_corpus):
    config = TrainConfig(hidden_size=4, seq_length=10, lr_decay=0.5, decay_after=1)
    trainer = make_trainer(small_corpus, config)
    rates = {}
    for epoch in (1, 2, 3, 4):
        trainer.epoch = epoch
        rates[epoch] = trainer.eta
    assert rates == {1: 0.1, 2: 0.1, 3: 0.05, 4: 0.025}


def test_dropout_masks_have_their_own_stream_so_samples_never_change_the_weights(small_corpus):
    config = TrainConfig(
        cell="lstm", layers=2, hidden_size=8, seq_length=10, dropout=0.3, sample_every=10**6
    )
    plain, sampled = make_trainer(small_corpus, config), make_trainer(small_corpus, config)
    for k in range(30):
        plain.step()
        sampled.step()
        if k % 7 == 0:
            sampled.synthesize(50)
    np.testing.assert_array_equal(plain.model.flat, sampled.model.flat)
    no_dropout = make_trainer(small_corpus, replace(config, dropout=0.0))
    for _ in range(30):
        no_dropout.step()
    assert not np.array_equal(plain.model.flat, no_dropout.model.flat)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_every_cell_trains_reproducibly_in_float32(small_corpus, cell):
    config = TrainConfig(
        cell=cell,
        layers=2,
        hidden_size=16,
        seq_length=12,
        batch_size=4,
        dtype="float32",
        optimizer="adam",
        sample_every=40,
        sample_length=20,
    )
    runs = []
    for _ in range(2):
        trainer = make_trainer(small_corpus, config)
        trainer.train(120)
        runs.append(trainer)
    a, b = runs
    assert a.model.flat.dtype == np.float32 and a.optimizer.m.dtype == np.float32
    assert all(s.dtype == np.float32 for s in a.state)
    np.testing.assert_array_equal(a.model.flat, b.model.flat)
    assert [s.text for s in a.samples] == [s.text for s in b.samples]
    assert a.history.loss[-20:].mean() < 0.8 * a.history.loss[:5].mean()


def test_a_run_going_badly_is_named_with_what_to_try(small_corpus):
    config = TrainConfig(hidden_size=8, seq_length=10, eta=1000.0)
    trainer = make_trainer(small_corpus, config)
    trainer.train(999)
    assert trainer.trouble() is None  # too early to say
    trainer.train(1200)
    message = trainer.trouble()
    assert trainer.smooth_loss > trainer.initial_smooth_loss
    assert message and "eta = 1000" in message and "--eta 100" in message
    healthy = make_trainer(small_corpus, TrainConfig(hidden_size=8, seq_length=10))
    healthy.train(1200)
    assert healthy.trouble() is None


def test_a_huge_sigma_is_named_before_training(small_corpus):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one line on stderr: no NumPy warning before it
        trainer = make_trainer(small_corpus, TrainConfig(hidden_size=8, seq_length=10, sigma=1e308))
    with pytest.raises(OptionError, match="--sigma"):
        trainer.check_initial_loss()
    make_trainer(small_corpus, TrainConfig(hidden_size=8, seq_length=10)).check_initial_loss()


def test_history_keeps_training_seconds():
    history = LossHistory(capacity=2)
    for i in range(5):
        history.append(1.0, 1.0, seconds=0.5 * i)
    assert history.seconds.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
