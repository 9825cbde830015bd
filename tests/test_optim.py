"""Optimizers: AdaGrad is the report's update bit for bit; RMSProp and Adam follow their
textbook formulas; named state round-trips; float32 stays float32."""

from __future__ import annotations

import numpy as np
import pytest

from tui_rnn.training.optim import DEFAULT_ETA, OPTIMIZERS, make_optimizer


def _gradients(n, size, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [np.clip(rng.standard_normal(size) * 3, -5, 5).astype(dtype) for _ in range(n)]


def test_adagrad_is_the_report_update_bit_for_bit():
    """The update train.py used before optimizers were objects (five temporaries, in order)."""
    rng = np.random.default_rng(1)
    theta = rng.standard_normal(500)
    reference, memory = theta.copy(), np.zeros(500)
    opt = make_optimizer("adagrad", 500)
    for g in _gradients(50, 500):
        memory += g * g
        reference -= 0.1 * g / np.sqrt(memory + 1e-8)
        opt.step(theta, g.copy(), 0.1)
    assert np.array_equal(theta, reference)
    assert np.array_equal(opt.memory, memory)


def test_rmsprop_and_adam_follow_their_formulas():
    grads = _gradients(40, 300, seed=2)
    theta0 = np.random.default_rng(3).standard_normal(300)
    # RMSProp, decay 0.95
    theta, ms = theta0.copy(), np.zeros(300)
    opt = make_optimizer("rmsprop", 300)
    got = theta0.copy()
    for g in grads:
        ms = 0.95 * ms + 0.05 * g * g
        theta -= 2e-3 * g / (np.sqrt(ms) + 1e-8)
        opt.step(got, g, 2e-3)
    np.testing.assert_allclose(got, theta, rtol=1e-12, atol=1e-15)
    # Adam, (0.9, 0.999)
    theta, m, v = theta0.copy(), np.zeros(300), np.zeros(300)
    opt = make_optimizer("adam", 300)
    got = theta0.copy()
    for t, g in enumerate(grads, start=1):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        theta -= 2e-3 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        opt.step(got, g, 2e-3)
    np.testing.assert_allclose(got, theta, rtol=1e-12, atol=1e-15)
    assert int(opt.t) == len(grads)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_round_trip_continues_exactly(name):
    grads = _gradients(30, 64, seed=4)
    straight = np.ones(64)
    opt = make_optimizer(name, 64)
    for g in grads:
        opt.step(straight, g, DEFAULT_ETA[name])
    resumed = np.ones(64)
    first = make_optimizer(name, 64)
    for g in grads[:12]:
        first.step(resumed, g, DEFAULT_ETA[name])
    saved = {k: v.copy() for k, v in first.state_arrays().items()}
    second = make_optimizer(name, 64)
    second.load_state(saved)
    for g in grads[12:]:
        second.step(resumed, g, DEFAULT_ETA[name])
    assert np.array_equal(resumed, straight)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_float32_stays_float32_and_descends(name):
    theta = np.full(10, 3.0, dtype=np.float32)
    opt = make_optimizer(name, 10, np.float32)
    for _ in range(2000):
        opt.step(theta, (2 * theta).astype(np.float32), 0.05)  # minimise |theta|^2
    assert theta.dtype == np.float32
    assert all(a.dtype in (np.float32, np.int64) for a in opt.state_arrays().values())
    assert float(np.abs(theta).max()) < 0.5


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        make_optimizer("sgd", 3)


def test_wrong_state_shape_is_refused():
    opt = make_optimizer("adagrad", 5)
    with pytest.raises(ValueError, match="shape"):
        opt.load_state({"memory": np.zeros(6)})
