"""The model: analytic gradients against central differences and against a plain loop."""

from __future__ import annotations

import numpy as np
import pytest

from tui_rnn.model import (
    PARAM_NAMES,
    Params,
    init_params,
    log_softmax,
    loss_and_grads,
    loss_only,
)


def random_problem(K=6, m=5, T=8, sigma=0.5, seed=0, dtype=np.int64):
    """Params with weights big enough that every gradient is far from zero, plus data."""
    rng = np.random.default_rng(seed)
    params = init_params(K, m, sigma, rng)
    params.b[...] = 0.1 * rng.standard_normal(m)
    params.c[...] = 0.1 * rng.standard_normal(K)
    inputs = rng.integers(0, K, T).astype(dtype)
    # A repeated input: dU must add both contributions into one column.
    inputs[min(1, T - 1)] = inputs[0]
    targets = rng.integers(0, K, T).astype(dtype)
    h0 = np.tanh(rng.standard_normal(m))  # a carried state, so dW sees h_0 too
    return params, inputs, targets, h0


def reference_loop(params: Params, inputs, targets, h0):
    """Equations (1)-(5) and their gradients, one timestep at a time, with one-hot columns.

    Written independently of model.py: column vectors, x_t = one-hot, outer products.
    """
    K, m = params.vocab_size, params.hidden_size
    U, W, V = params.U, params.W, params.V
    b, c = params.b.reshape(m, 1), params.c.reshape(K, 1)
    T = len(inputs)
    xs, ys, hs, ps = [], [], {-1: h0.reshape(m, 1)}, []
    loss = 0.0
    for t in range(T):
        x = np.zeros((K, 1))
        x[inputs[t]] = 1.0
        y = np.zeros((K, 1))
        y[targets[t]] = 1.0
        a = W @ hs[t - 1] + U @ x + b
        hs[t] = np.tanh(a)
        o = V @ hs[t] + c
        p = np.exp(o) / np.exp(o).sum()
        loss -= float(np.log(y.T @ p)[0, 0])
        xs.append(x)
        ys.append(y)
        ps.append(p)
    dU, dW, dV = np.zeros_like(U), np.zeros_like(W), np.zeros_like(V)
    db, dc = np.zeros((m, 1)), np.zeros((K, 1))
    dh_next = np.zeros((m, 1))  # W^T dL/da_{t+1}
    for t in reversed(range(T)):
        g = ps[t] - ys[t]
        dV += g @ hs[t].T
        dc += g
        dh = V.T @ g + dh_next
        da = dh * (1 - hs[t] ** 2)
        dW += da @ hs[t - 1].T
        dU += da @ xs[t].T
        db += da
        dh_next = W.T @ da
    grads = {"b": db.ravel(), "c": dc.ravel(), "U": dU, "W": dW, "V": dV}
    return loss, grads, hs[T - 1].ravel()


def numerical_gradient(params: Params, inputs, targets, h0, step=1e-5) -> np.ndarray:
    """Central differences of the loss for every entry of the flat parameter vector."""
    flat = params.flat
    grad = np.empty_like(flat)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + step
        up = loss_only(params, inputs, targets, h0)
        flat[i] = saved - step
        down = loss_only(params, inputs, targets, h0)
        flat[i] = saved
        grad[i] = (up - down) / (2 * step)
    return grad


def test_analytic_gradients_match_central_differences():
    params, inputs, targets, h0 = random_problem(K=5, m=4, T=7)
    _, grads, _ = loss_and_grads(params, inputs, targets, h0)
    numeric = numerical_gradient(params, inputs, targets, h0)
    for name, analytic in grads.items():
        num = Params.from_flat(numeric, params.vocab_size, params.hidden_size)
        expected = getattr(num, name)
        assert np.abs(analytic).max() > 1e-4, f"d{name} is too small to test anything"
        relative = np.abs(analytic - expected) / np.maximum(
            1e-8, np.abs(analytic) + np.abs(expected)
        )
        assert relative.max() < 1e-6, f"d{name}: relative error {relative.max():.2e}"


@pytest.mark.parametrize("dtype", [np.int64, np.uint8])
@pytest.mark.parametrize("K, m, T", [(7, 10, 25), (30, 12, 40), (3, 2, 1)])
def test_vectorized_pass_equals_per_timestep_loop(K, m, T, dtype):
    params, inputs, targets, h0 = random_problem(K, m, T, seed=K + m + T, dtype=dtype)
    loss, grads, h_last = loss_and_grads(params, inputs, targets, h0)
    ref_loss, ref_grads, ref_h = reference_loop(params, inputs, targets, h0)
    assert loss == pytest.approx(ref_loss, rel=1e-13, abs=1e-12)
    for name in PARAM_NAMES:
        difference = np.abs(getattr(grads, name) - ref_grads[name]).max()
        assert difference < 1e-12, f"d{name} differs by {difference:.2e}"
    assert np.abs(h_last - ref_h).max() < 1e-14
    assert loss_only(params, inputs, targets, h0) == loss


def test_gradients_written_into_a_reused_buffer_are_fresh():
    params, inputs, targets, h0 = random_problem()
    first = loss_and_grads(params, inputs, targets, h0)[1].flat.copy()
    buffer = Params.zeros(params.vocab_size, params.hidden_size)
    buffer.flat[...] = 123.0  # stale garbage must not leak into the result
    _, grads, _ = loss_and_grads(params, inputs, targets, h0, buffer)
    assert grads is buffer
    np.testing.assert_array_equal(grads.flat, first)


def test_loss_at_init_is_about_log_K_per_character():
    K, T = 40, 25
    params = init_params(K, 100, 0.01, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    loss = loss_only(params, rng.integers(0, K, T), rng.integers(0, K, T), np.zeros(100))
    assert loss == pytest.approx(T * np.log(K), rel=1e-2)


def test_log_softmax_is_stable_for_huge_logits():
    O = np.array([[1000.0, 0.0, -1000.0], [1e308, 1e308, 0.0]])
    logP = log_softmax(O)
    assert np.isfinite(logP[:, :2]).all()
    np.testing.assert_allclose(np.exp(logP).sum(axis=1), 1.0)
    assert logP[0, 0] == 0.0 and logP[1, 0] == pytest.approx(-np.log(2))


def test_params_are_views_of_one_flat_vector():
    params = Params.zeros(4, 3)
    assert params.flat.size == 3 + 4 + 3 * 4 + 3 * 3 + 4 * 3
    params.flat[...] = np.arange(params.flat.size)
    assert params.b.tolist() == [0, 1, 2] and params.c.tolist() == [3, 4, 5, 6]
    params.W[0, 0] = -1.0
    assert (params.flat == -1.0).sum() == 1
    assert params.U.shape == (3, 4) and params.W.shape == (3, 3) and params.V.shape == (4, 3)
    copy = params.copy()
    copy.U[...] = -7.0
    assert not (params.U == -7.0).any()
    with pytest.raises(ValueError, match="needs"):
        Params.from_flat(np.zeros(5), 4, 3)


def test_init_params_gaussian_weights_zero_biases_and_seeded():
    a = init_params(50, 60, 0.01, np.random.default_rng(3))
    b = init_params(50, 60, 0.01, np.random.default_rng(3))
    np.testing.assert_array_equal(a.flat, b.flat)
    assert not a.b.any() and not a.c.any()
    weights = np.concatenate([a.U.ravel(), a.W.ravel(), a.V.ravel()])
    assert weights.std() == pytest.approx(0.01, rel=0.05)
    assert abs(weights.mean()) < 1e-3
