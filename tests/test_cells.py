"""The cells: the report's rnn to the bit, exact gradients for every cell, batches, dtypes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import report_reference as report_model

from tui_rnn.cells.model import CELLS, Model, ModelSpec

FIXTURES = Path(__file__).parent / "fixtures"


def _bytes_equal(a, b) -> bool:
    """Equal bit for bit (array_equal would call -0.0 and 0.0 equal)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# -- the report's model, bit for bit ----------------------------------------------------------
def test_report_rnn_names_and_layout_are_model_pys():
    spec = ModelSpec(vocab_size=65, hidden_size=100)
    assert spec.param_shapes() == report_model.param_shapes(65, 100)
    assert list(spec.param_shapes()) == list(report_model.PARAM_NAMES)
    assert spec.param_count == report_model.param_count(65, 100)
    assert spec.state_width == 100


@pytest.mark.parametrize("hidden", [1, 7, 30, 100])
def test_report_rnn_forward_backward_and_step_are_model_pys_to_the_bit(hidden):
    """A few hundred random sequences, carried states and vocabularies at each size."""
    rng = np.random.default_rng(hidden)
    for trial in range(75):
        K, T = int(rng.integers(2, 90)), int(rng.integers(1, 60))
        sigma = float(rng.choice([0.01, 0.1, 0.6]))
        spec = ModelSpec(vocab_size=K, hidden_size=hidden)
        model = Model.zeros(spec).init(np.random.Generator(np.random.PCG64(trial)), sigma)
        params = report_model.init_params(
            K, hidden, sigma, np.random.Generator(np.random.PCG64(trial))
        )
        assert _bytes_equal(model.flat, params.flat)
        model.flat[: hidden + K] = rng.standard_normal(hidden + K) * 0.1  # non-zero biases
        params.flat[...] = model.flat
        inputs, targets = rng.integers(0, K, T), rng.integers(0, K, T)
        h0 = np.tanh(rng.standard_normal(hidden)) if trial % 3 else np.zeros(hidden)

        loss, grads, h = report_model.loss_and_grads(params, inputs, targets, h0)
        got, cache = model.forward(inputs, targets, [h0[None, :]])
        got_grads = model.backward(cache)
        assert got == loss and type(got) is float
        assert _bytes_equal(got_grads.flat, grads.flat), (trial, K, T)
        assert _bytes_equal(cache.final_state[0][0], h)

        x = int(inputs[0])
        h_step, logits = report_model.step(params, h0, x)
        state, got_logits = model.step([h0[None, :]], [x])
        assert _bytes_equal(state[0][0], h_step) and _bytes_equal(got_logits[0], logits)


def test_trainer_loop_from_the_cell_reproduces_the_golden_report_run():
    """3,000 AdaGrad updates (model.py's update, copied) give the report's parameters."""
    from tui_rnn.training.corpus import builtin_corpus

    golden = json.loads((FIXTURES / "golden_report_run.json").read_text(encoding="utf-8"))
    corpus = builtin_corpus()
    model = Model.zeros(ModelSpec(vocab_size=corpus.vocab_size)).init(
        np.random.Generator(np.random.PCG64(0))
    )
    grads = Model.zeros(model.spec)
    memory = np.zeros_like(model.flat)
    scratch = (np.empty_like(memory), np.empty_like(memory))
    state = model.zero_state(1)
    for e in range(0, 3000 * 25, 25):
        inputs, targets = corpus.data[e : e + 25], corpus.data[e + 1 : e + 26]
        _, cache = model.forward(inputs, targets, state)
        g = np.clip(model.backward(cache, grads).flat, -5, 5, out=grads.flat)
        g_squared, update = scratch
        memory += np.multiply(g, g, out=g_squared)
        np.multiply(0.1, g, out=update)
        update /= np.sqrt(np.add(memory, 1e-8, out=g_squared), out=g_squared)
        model.flat -= update
        state = cache.final_state

    def sha(array):
        return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()

    assert sha(model.flat) == golden["sha256"]["params"]
    assert sha(memory) == golden["sha256"]["memory"]
    assert sha(state[0][0]) == golden["sha256"]["h"]


# -- every cell: exact gradients ---------------------------------------------------------------
def tiny_problem(cell, layers, batch, dtype="float64", K=7, m=5, T=6, seed=0):
    spec = ModelSpec(cell=cell, vocab_size=K, hidden_size=m, layers=layers, dtype=dtype)
    rng = np.random.default_rng(seed)
    model = Model.zeros(spec).init(rng, sigma=0.5)
    model.flat += (0.1 * rng.standard_normal(model.flat.size)).astype(dtype)  # biases too
    inputs = rng.integers(0, K, (T, batch))
    inputs[1] = inputs[0]  # repeated inputs: their columns add up
    targets = rng.integers(0, K, (T, batch))
    state = [(0.5 * rng.standard_normal((batch, spec.state_width))).astype(dtype)]
    state += [(0.5 * rng.standard_normal((batch, spec.state_width))).astype(dtype)]
    return model, inputs, targets, state[:layers]


def complex_step_gradient(model, inputs, targets, state, **forward_options):
    """Im L(theta + i h e_k) / h for every entry, with a genuinely complex128 model."""
    probe = Model(model.spec, model.flat.astype(np.complex128))
    grad = np.empty(model.flat.size)
    for k in range(model.flat.size):
        probe.flat[k] += 1e-20j
        loss, _ = probe.forward(inputs, targets, state, **forward_options)
        grad[k] = loss.imag / 1e-20
        probe.flat[k] = model.flat[k]
    return grad


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers, batch", [(1, 1), (1, 3), (2, 1), (2, 3)])
def test_backward_equals_the_complex_step_gradient(cell, layers, batch):
    model, inputs, targets, state = tiny_problem(cell, layers, batch)
    loss, cache = model.forward(inputs, targets, state)
    analytic = model.backward(cache).flat
    numerical = complex_step_gradient(model, inputs, targets, state)
    scale = np.abs(numerical).max()
    assert np.abs(analytic - numerical).max() <= 1e-12 * scale
    assert np.count_nonzero(analytic) > 0.6 * analytic.size  # not a comparison of zeros


@pytest.mark.parametrize("cell", CELLS)
def test_backward_with_dropout_is_the_gradient_of_the_dropped_loss(cell):
    model, inputs, targets, state = tiny_problem(cell, 2, 3)
    options = {"dropout": 0.4}
    _, cache = model.forward(
        inputs, targets, state, dropout_rng=np.random.default_rng(5), **options
    )
    analytic = model.backward(cache).flat
    numerical = np.empty_like(analytic)
    probe = Model(model.spec, model.flat.astype(np.complex128))
    for k in range(model.flat.size):  # the same masks every time: the same dropout seed
        probe.flat[k] += 1e-20j
        loss, _ = probe.forward(
            inputs, targets, state, dropout_rng=np.random.default_rng(5), **options
        )
        numerical[k] = loss.imag / 1e-20
        probe.flat[k] = model.flat[k]
    assert np.abs(analytic - numerical).max() <= 1e-12 * np.abs(numerical).max()
    assert any(mask is not None and (mask == 0).any() for mask in cache.masks)


@pytest.mark.parametrize("cell", CELLS)
def test_a_batch_is_the_mean_of_its_streams(cell):
    model, inputs, targets, state = tiny_problem(cell, 2, 4)
    loss, cache = model.forward(inputs, targets, state)
    grads = model.backward(cache).flat
    losses, stream_grads = [], []
    for b in range(4):
        one = [s[b : b + 1] for s in state]
        loss_b, cache_b = model.forward(inputs[:, b], targets[:, b], one)
        losses.append(loss_b)
        stream_grads.append(model.backward(cache_b).flat)
        for layer in range(2):
            np.testing.assert_allclose(cache_b.final_state[layer][0], cache.final_state[layer][b])
        np.testing.assert_allclose(cache_b.step_losses[:, 0], cache.step_losses[:, b])
    assert loss == pytest.approx(np.mean(losses), rel=1e-13)
    np.testing.assert_allclose(grads, np.mean(stream_grads, axis=0), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("batch", [1, 3])
def test_step_by_step_equals_the_forward_pass(cell, batch):
    model, inputs, targets, state = tiny_problem(cell, 2, batch)
    loss, cache = model.forward(inputs, targets, state)
    carried, total = state, 0.0
    for t in range(len(inputs)):
        carried, logits = model.step(carried, inputs[t])
        log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        total -= log_p[np.arange(batch), targets[t]].sum() / batch
        for layer in range(2):
            h = cache.activations[f"h.{layer}"][t]
            np.testing.assert_allclose(carried[layer][:, : model.spec.hidden_size], h, rtol=1e-12)
    assert total == pytest.approx(loss, rel=1e-12)
    for layer in range(2):
        np.testing.assert_allclose(carried[layer], cache.final_state[layer], rtol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_carrying_the_state_across_chunks_equals_one_long_sequence(cell):
    model, inputs, targets, state = tiny_problem(cell, 2, 2, T=9)
    whole, cache = model.forward(inputs, targets, state)
    first, cache_a = model.forward(inputs[:4], targets[:4], state)
    second, cache_b = model.forward(inputs[4:], targets[4:], cache_a.final_state)
    assert first + second == pytest.approx(whole, rel=1e-13)
    for a, b in zip(cache_b.final_state, cache.final_state, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    assert model.loss(inputs, targets, state) == whole


# -- float32 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
def test_float32_end_to_end(cell):
    model64, inputs, targets, state64 = tiny_problem(cell, 2, 3)
    spec32 = ModelSpec(cell=cell, vocab_size=7, hidden_size=5, layers=2, dtype="float32")
    model = Model(spec32, model64.flat.astype(np.float32))
    state = [s.astype(np.float32) for s in state64]
    loss, cache = model.forward(
        inputs, targets, state, dropout=0.2, dropout_rng=np.random.default_rng(1)
    )
    grads = model.backward(cache)
    assert grads.flat.dtype == np.float32 and cache.probabilities.dtype == np.float32
    assert cache.step_losses.dtype == np.float32
    assert all(s.dtype == np.float32 for s in cache.final_state)
    assert all(a.dtype == np.float32 for a in cache.activations.values())
    new_state, logits = model.step(state, inputs[0])
    assert logits.dtype == np.float32 and all(s.dtype == np.float32 for s in new_state)
    assert (
        model.zero_state(2)[0].dtype == np.float32 and model.zeros(spec32).flat.dtype == np.float32
    )
    # Without dropout (float32 masks are drawn as float32) it is the float64 model, rounded.
    loss, cache = model.forward(inputs, targets, state)
    loss64, cache64 = model64.forward(inputs, targets, state64)
    assert loss == pytest.approx(loss64, rel=1e-5)
    grads64 = model64.backward(cache64).flat
    np.testing.assert_allclose(model.backward(cache).flat, grads64, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_batched_float32_is_bit_reproducible(cell):
    """The same bits at the same thread count, run after run. OpenBLAS's Haswell kernels
    (tui_rnn/blas.py) run a product on two threads with other inner sums than on one, so
    `threads` is part of a run's config (a resume keeps it) and the bits hold at a fixed count
    (docs/models.md)."""
    from threadpoolctl import threadpool_limits

    def run(threads):
        spec = ModelSpec(cell=cell, vocab_size=30, hidden_size=64, dtype="float32")
        model = Model.zeros(spec).init(np.random.default_rng(0))
        rng = np.random.default_rng(1)
        inputs, targets = rng.integers(0, 30, (25, 16)), rng.integers(0, 30, (25, 16))
        with threadpool_limits(limits=threads, user_api="blas"):
            loss, cache = model.forward(
                inputs, targets, model.zero_state(16), dropout=0.1, dropout_rng=rng
            )
            return loss, model.backward(cache).flat.tobytes(), cache.final_state[0].tobytes()

    assert run(1) == run(1)
    assert run(2) == run(2)


# -- dropout ------------------------------------------------------------------------------------
def test_dropout_zero_draws_nothing_and_dropout_draws_in_a_fixed_order():
    model, inputs, targets, state = tiny_problem("lstm", 2, 3)
    rng = np.random.default_rng(7)
    before = rng.bit_generator.state
    plain, _ = model.forward(inputs, targets, state, dropout=0.0, dropout_rng=rng)
    assert rng.bit_generator.state == before
    assert plain == model.forward(inputs, targets, state)[0]

    def dropped(seed):
        return model.forward(
            inputs, targets, state, dropout=0.5, dropout_rng=np.random.default_rng(seed)
        )

    (a, cache), (b, _) = dropped(3), dropped(3)
    assert a == b and a != plain and a != dropped(4)[0]
    expected = np.random.default_rng(3)
    for mask in cache.masks:  # layer 0's mask first, each one (T, B, m)
        keep = expected.random(mask.shape) < 0.5
        assert np.array_equal(mask, keep * 2.0)
    with pytest.raises(ValueError, match="dropout_rng"):
        model.forward(inputs, targets, state, dropout=0.5)


# -- names, shapes, initialisation, activations -----------------------------------------------
def test_parameter_names_and_order():
    rnn2 = ModelSpec(cell="rnn", vocab_size=10, hidden_size=4, layers=2)
    assert rnn2.param_shapes() == {
        "U.0": (4, 10), "W.0": (4, 4), "b.0": (4,),
        "U.1": (4, 4), "W.1": (4, 4), "b.1": (4,),
        "V": (10, 4), "c": (10,),
    }  # fmt: skip
    lstm = ModelSpec(cell="lstm", vocab_size=10, hidden_size=4, layers=2)
    assert list(lstm.param_shapes().items())[:4] == [
        ("W_x.0", (16, 10)), ("W_h.0", (16, 4)), ("b.0", (16,)), ("W_x.1", (16, 4))
    ]  # fmt: skip
    assert lstm.state_width == 8
    gru = ModelSpec(cell="gru", vocab_size=10, hidden_size=4)
    assert gru.param_shapes()["W_h.0"] == (12, 4) and gru.state_width == 4
    assert gru.param_count == 12 * 10 + 12 * 4 + 12 + 40 + 10
    model = Model.zeros(lstm)
    model["W_h.1"][...] = 3.0  # views into the flat vector
    start = sum(int(np.prod(s)) for s in list(lstm.param_shapes().values())[:4])
    assert (model.flat[start : start + 64] == 3.0).all() and model.params["W_h.1"].base is not None


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"cell": "transformer"}, "--cell"),
        ({"layers": 0}, "--layers"),
        ({"hidden_size": 0}, "--hidden"),
        ({"dtype": "float16"}, "--dtype"),
    ],
)
def test_bad_specs_are_one_line_errors(kwargs, words):
    with pytest.raises(ValueError, match=words):
        ModelSpec(vocab_size=5, **kwargs)


def test_initialisation():
    lstm = Model.zeros(ModelSpec(cell="lstm", vocab_size=50, hidden_size=200, layers=2))
    lstm.init(np.random.default_rng(0))
    for layer in range(2):
        b = lstm[f"b.{layer}"]
        assert (b[200:400] == 1.0).all() and not b[:200].any() and not b[400:].any()
    assert lstm["W_h.1"].std() == pytest.approx(1 / np.sqrt(400), rel=0.02)
    assert lstm["W_x.0"].std() == pytest.approx(1 / np.sqrt(250), rel=0.02)
    assert lstm["V"].std() == pytest.approx(1 / np.sqrt(200), rel=0.05)
    gru = Model.zeros(ModelSpec(cell="gru", vocab_size=50, hidden_size=100)).init(
        np.random.default_rng(0), sigma=0.02
    )
    assert gru["W_h.0"].std() == pytest.approx(0.02, rel=0.02) and not gru["b.0"].any()
    # The same seed, the same model; weights drawn in flat order.
    again = Model.zeros(gru.spec).init(np.random.default_rng(0), sigma=0.02)
    assert _bytes_equal(again.flat, gru.flat)


def test_activations_are_named_by_layer():
    for cell, names in (("rnn", set()), ("lstm", set("cifog")), ("gru", set("rzn"))):
        model, inputs, targets, state = tiny_problem(cell, 2, 3)
        _, cache = model.forward(inputs, targets, state)
        expected = {f"{name}.{layer}" for name in names | {"h"} for layer in (0, 1)}
        assert set(cache.activations) == expected
        assert all(a.shape == (6, 3, 5) for a in cache.activations.values())
        assert cache.probabilities.shape == (6, 3, 7) and cache.step_losses.shape == (6, 3)
        np.testing.assert_allclose(cache.probabilities.sum(axis=-1), 1.0)
    _, cache = tiny_problem("lstm", 1, 1)[0].forward([1, 2], [2, 3], [np.zeros((1, 10))])
    gates = cache.activations
    assert ((gates["i.0"] > 0) & (gates["i.0"] < 1)).all() and (np.abs(gates["g.0"]) < 1).all()


@pytest.mark.parametrize(
    "rows, width, K",
    [(25, 100, 65), (1600, 100, 65), (2048, 64, 9), (300, 40, 3000)],  # both strategies
)
def test_input_column_sums_are_the_scatter_add_to_the_bit(rows, width, K):
    """Layer 0's dW_x: bincount or sorted blocks, whichever is faster, always np.add.at's bits."""
    from tui_rnn.cells.model import column_sums

    rng = np.random.default_rng(rows)
    ids = rng.integers(0, min(K, 60), rows)
    dA = rng.standard_normal((rows, width))
    dA[3] = -0.0  # signed zeros too: (0 + -0) + ... as a scatter-add starting from zeros
    expected = np.zeros((K, width))
    np.add.at(expected, ids, dA)
    assert _bytes_equal(column_sums(ids, dA, K), expected)
    got32 = column_sums(ids, dA.astype(np.float32), K)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, expected, rtol=1e-4, atol=1e-4)


def test_log_softmax_is_stable_for_huge_logits():
    from tui_rnn.cells.model import log_softmax

    out = log_softmax(np.array([[1000.0, 999.0, -1000.0], [0.0, 0.0, 0.0]]))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(np.exp(out).sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(out[1], np.log(1 / 3), rtol=1e-15)
