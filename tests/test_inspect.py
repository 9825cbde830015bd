"""The inspector's engine shows the truth: probabilities, top-5 and activations are the model's
forward pass (every cell, one and two layers, any chunking); the features mean what they say;
find-neurons ranks a hand-planted quote neuron first; the health statistics are the norms,
ratios and fractions they claim, and watching them changes no bit of training."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_text

from tui_rnn.cells.model import Model, ModelSpec
from tui_rnn.inspection import colours, neurons
from tui_rnn.inspection import passage as inspection_passage
from tui_rnn.inspection.passage import Neuron
from tui_rnn.training.corpus import from_text
from tui_rnn.training.health import CLIP_WINDOW, HealthMonitor, measure, weights_report
from tui_rnn.training.options import TrainConfig
from tui_rnn.training.trainer import Trainer

TEXT = make_text(700, seed=3) + 'He said "stop (now)" [x] and “left”.\n\tEnd'


def ids_of(text: str, chars) -> np.ndarray:
    return np.array([chars.index(ch) for ch in text])


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_probabilities_top5_and_activations_are_the_forward_pass(cell, layers):
    chars = tuple(sorted(set(TEXT)))
    ids = ids_of(TEXT, chars)
    spec = ModelSpec(cell=cell, vocab_size=len(chars), hidden_size=9, layers=layers)
    model = Model.zeros(spec).init(np.random.default_rng(1), sigma=0.6)  # confident guesses
    passage = inspection_passage.read_passage(
        model, ids, chars, chunk=37
    )  # state carried over 21 chunks
    loss, cache = model.forward(ids[:-1], ids[1:], model.zero_state(1))  # one pass, no chunks
    P = cache.probabilities[:, 0, :]
    N = len(ids)
    expected = P[np.arange(N - 1), ids[1:]]
    assert np.isnan(passage.probability[0]) and np.isnan(passage.loss[0])
    np.testing.assert_allclose(passage.probability[1:], expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(passage.loss[1:], -np.log(expected), rtol=1e-12)
    assert passage.loss_nats == pytest.approx(loss / (N - 1), rel=1e-12)
    assert passage.loss_bits == pytest.approx(passage.loss_nats / np.log(2), rel=1e-15)
    # top-5 after character t: the 5 largest of p_t, likeliest first, and the right characters
    order = np.argsort(-P, axis=1, kind="stable")[:, :5]
    np.testing.assert_allclose(
        passage.top_probabilities[:-1], np.take_along_axis(P, order, 1), rtol=1e-12
    )
    # the right characters: exactly the forward pass's top 5 (the probabilities agree to 1e-12,
    # not to the bit: read in chunks of 37, the products take other BLAS kernel paths)
    np.testing.assert_array_equal(passage.top_ids[:-1], order)
    np.testing.assert_allclose(
        np.take_along_axis(P, passage.top_ids[:-1], 1), passage.top_probabilities[:-1], rtol=1e-12
    )
    assert np.all(np.diff(passage.top_probabilities, axis=1) <= 0)
    # the last character's guesses: one step further from the final state
    _, logits = model.step(cache.final_state, ids[-1:])
    last = np.exp(logits[0] - logits[0].max())
    last /= last.sum()
    np.testing.assert_allclose(passage.top_probabilities[-1], np.sort(last)[::-1][:5], rtol=1e-12)
    kinds = ("h", "c") if cell == "lstm" else ("h",)
    assert set(passage.activations) == {f"{k}.{l}" for k in kinds for l in range(layers)}
    for name, values in passage.activations.items():
        np.testing.assert_array_equal(values[:-1], cache.activations[name][:, 0].astype(np.float32))


def test_the_report_model_reads_bit_for_bit_like_one_forward_pass():
    chars = tuple(sorted(set(TEXT)))
    ids = ids_of(TEXT, chars)
    model = Model.zeros(ModelSpec(vocab_size=len(chars))).init(np.random.default_rng(0), 0.3)
    passage = inspection_passage.read_passage(model, ids, chars)
    _, cache = model.forward(ids[:-1], ids[1:], model.zero_state(1))
    assert np.array_equal(
        passage.probability[1:], cache.probabilities[np.arange(len(ids) - 1), 0, ids[1:]]
    )


def test_an_empty_or_too_long_passage_is_one_clear_error():
    model = Model.zeros(ModelSpec(vocab_size=3, hidden_size=4))
    with pytest.raises(inspection_passage.PassageError, match="empty"):
        inspection_passage.read_passage(model, [], "abc")
    with pytest.raises(inspection_passage.PassageError, match="use a shorter text"):
        inspection_passage.read_passage(
            model, np.zeros(inspection_passage.MAX_LENGTH + 1, dtype=int), "abc"
        )
    one = inspection_passage.read_passage(model, [1], "abc")
    assert one.predictions == 0 and one.loss_nats is None and len(one.top(0)) == 3


def test_features_mean_what_they_say():
    text = 'ab "c d" (e (f) g)) h\n[i]\tJ 42 “k”'
    chars = tuple(sorted(set(text)))
    spec = ModelSpec(vocab_size=len(chars))
    passage = inspection_passage.Passage(ids_of(text, chars), chars, spec, *([None] * 5))
    values = neurons.feature_values(passage)

    def shown(name):
        return "".join(str(int(v))[-1] for v in values[name])

    assert set(values) == set(neurons.FEATURES)
    # text:                         ab "c d" (e (f) g)) h↵[i]⇥J 42 “k”
    assert shown("in_quotes") == "0001111000000000000000000000000110"
    assert shown("in_parentheses") == "0000000001111111100000000000000000"  # ) unmatched: 0
    assert shown("in_brackets") == "0000000000000000000000110000000000"
    assert shown("line_position") == "1234567890123456789010123456789012"
    assert shown("word_start") == "1000101000100100100010010010000010"
    assert shown("word_position") == "1200101000100100100010010010000010"
    assert shown("in_word") == "1100101000100100100010010010000010"
    assert shown("vowel") == "1000000000100000000000010000000000"
    assert shown("uppercase") == "0000000000000000000000000010000000"
    assert shown("digit") == "0000000000000000000000000000110000"
    assert shown("space") == "0010010010010001000100000101001000"
    assert shown("newline") == "0000000000000000000001000000000000"
    assert shown("punctuation") == "0001000101001010011000101000000101"
    assert values["line_position"][21] == 0 and values["line_position"][20] == 21


def test_correlations_are_pearsons_r_and_zero_for_a_constant_unit():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((300, 7)).astype(np.float32)
    A[:, 3] = 0.5  # a dead unit: r is undefined, reported 0
    F = np.stack([rng.standard_normal(300), (rng.random(300) > 0.5) * 1.0, np.ones(300)], 1)
    F[:, 0] += 2 * A[:, 1]
    r = neurons.correlations(A, F, block=3)
    for u in range(7):
        for f in range(3):
            if u == 3 or f == 2:
                assert r[u, f] == 0
            else:
                assert r[u, f] == pytest.approx(np.corrcoef(A[:, u], F[:, f])[0, 1], abs=1e-12)


def quoted_text() -> str:
    """English-like text with quoted spans of 3 to 12 words (no two quotes side by side)."""
    rng = np.random.default_rng(7)
    words, out, i = make_text(6000, seed=5).split(" "), [], 0
    while i < len(words):
        if rng.random() < 0.1:
            n = int(rng.integers(3, 13))
            out.append('"' + " ".join(words[i : i + n]) + '"')
            i += n
        else:
            out.append(words[i])
            i += 1
    return " ".join(out)


def planted_quote_model(chars, m: int = 24, seed: int = 0) -> tuple[Model, Neuron]:
    """A two-layer vanilla RNN whose layer-1 unit K is "inside quotes" (set by hand).

    A tanh unit cannot toggle on its own (h_t = XOR(h_{t-1}, quote) is not a threshold of a
    sum), so layer 0 keeps a copy k of the quote state one step late and computes, at each
    character, o = "an opening quote now" and c = "a closing quote now" (a quote when k says
    outside, a quote when k says inside); layer 1's unit K holds its value (W K = 3 K, so
    tanh keeps it near +-1) and is set by o and reset by c, on time. Every other unit has
    random weights (distractors that do track other features)."""
    K, q = len(chars), chars.index('"')
    spec = ModelSpec(cell="rnn", vocab_size=K, hidden_size=m, layers=2)
    model = Model.zeros(spec).init(np.random.default_rng(seed), sigma=0.5)
    U0, W0, b0 = model.layer(0)
    U1, W1, b1 = model.layer(1)
    k, o, c, unit = 0, 1, 2, 5
    big, hold, push = 10.0, 3.0, 3.0
    for row in (U0[k], W0[k], U0[o], W0[o], U0[c], W0[c], W0[:, [k, o, c]], U1[unit], W1[unit]):
        row[...] = 0.0
    quote = np.arange(K) == q
    U0[o], b0[o], W0[o, k] = 2 * big * quote, -2 * big, -big  # quote and k outside
    U0[c], b0[c], W0[c, k] = 2 * big * quote, -2 * big, big  # quote and k inside
    W0[k, k], W0[k, o], W0[k, c], b0[k] = hold, push, -push, -0.5  # one step late
    W1[unit, unit], U1[unit, o], U1[unit, c], b1[unit] = hold, push, -push, -0.5  # on time
    model["V"][...] = 0.0
    return model, Neuron(1, unit, "h")


def test_find_neurons_ranks_a_planted_quote_neuron_first():
    text = quoted_text()
    chars = tuple(sorted(set(text)))
    model, planted = planted_quote_model(chars)
    passage = inspection_passage.read_passage(model, ids_of(text, chars), chars)
    inside = neurons.feature_values(passage)["in_quotes"]
    assert 0.15 < inside.mean() < 0.6  # the text really is quoted in places
    found = neurons.find_neurons(passage, 5)
    assert found[0].neuron == planted and found[0].feature == "in_quotes"
    assert found[0].r > 0.9
    # the late copy in layer 0 tracks it too, a little less well; the rest are random units
    assert found[1].neuron == Neuron(0, 0, "h") and found[1].feature == "in_quotes"
    assert 0.5 < found[1].r < found[0].r
    assert all(abs(a.r) >= abs(b.r) for a, b in zip(found, found[1:], strict=False))
    table = neurons.neuron_correlations(passage)
    assert table.of(planted)[0] == ("in_quotes", pytest.approx(found[0].r))
    assert len(neurons.find_neurons(passage)) == 2 * 24


def test_colour_scales():
    chars = ("a", "b")
    spec = ModelSpec(vocab_size=2, hidden_size=1)
    probability = np.array([np.nan, 1.0, 0.5, 1e-300])
    h = np.array([[-1.0], [0.0], [1.0], [0.2]], dtype=np.float32)
    passage = inspection_passage.Passage(
        np.zeros(4, int), chars, spec, probability, -np.log(probability), None, None, {"h.0": h}
    )
    assert colours.Colouring().shades(passage).tolist() == [-1, 0, 32, 63]  # p = 1 lightest
    assert colours.Colouring("surprisal").shades(passage).tolist() == [-1, 0, 8, 63]  # 1 bit: 1/8
    neuron = colours.Colouring("neuron", Neuron(0, 0))
    assert neuron.shades(passage).tolist() == [0, 32, 63, 38] and neuron.palette_name == "diverging"
    # An LSTM's cell state is unbounded: coloured by tanh(c), so 0.5 and 5 are told apart.
    c = np.array([[-5.0], [0.0], [0.5], [5.0]], dtype=np.float32)
    lstm = inspection_passage.Passage(
        np.zeros(4, int),
        chars,
        ModelSpec(cell="lstm", vocab_size=2, hidden_size=1),
        probability,
        -np.log(probability),
        None,
        None,
        {"h.0": h, "c.0": c},
    )
    cell = colours.Colouring("neuron", Neuron(0, 0, "c"))
    assert cell.shades(lstm).tolist() == [0, 32, 46, 63]  # tanh(0.5) = 0.46
    assert cell.legend[0] == "tanh of activation of unit 0:0:c"
    light, dark = colours.PALETTES["sequential"][[0, -1]]
    assert light.tolist() == [255, 255, 204] and dark.tolist() == [128, 0, 38]
    assert colours.ink(np.array([light, dark])).tolist() == [
        0,
        255,
    ]  # black on light, white on dark


def test_parse_neuron():
    assert inspection_passage.parse_neuron("0:42") == Neuron(0, 42, "h")
    assert inspection_passage.parse_neuron(" 1:3:c ") == Neuron(1, 3, "c")
    for bad in ("1", "a:b", "0:1:x", "0:-1", "0:1:h:2", ""):
        with pytest.raises(inspection_passage.PassageError, match="LAYER:UNIT"):
            inspection_passage.parse_neuron(bad)
    spec = ModelSpec(vocab_size=5, hidden_size=8, layers=2, cell="lstm")
    assert Neuron(1, 7, "c").check(spec)
    for neuron, problem in (
        (Neuron(2, 0), "layer 2"),
        (Neuron(0, 8), "unit 8"),
    ):
        with pytest.raises(inspection_passage.PassageError, match=problem):
            neuron.check(spec)
    with pytest.raises(inspection_passage.PassageError, match="'c' is not a state"):
        Neuron(0, 0, "c").check(ModelSpec(vocab_size=5))


# -- health -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus():
    return from_text(make_text(6000, seed=2))


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_watching_health_changes_no_bit_of_training(corpus, cell):
    config = dict(hidden_size=12, seq_length=10, cell=cell, batch_size=2, sample_every=100)
    plain = Trainer(corpus.data, corpus.chars, TrainConfig(**config))
    watched = Trainer(corpus.data, corpus.chars, TrainConfig(**config))
    reports = []
    HealthMonitor(reports.append, interval=0.0).attach(watched)  # every update
    plain.train(150)
    watched.train(150)
    assert len(reports) == 150 and reports[-1].iteration == 150
    for name, value in plain.state_arrays().items():
        if name not in Trainer.TIMING:
            assert np.array_equal(value, watched.state_arrays()[name]), name


def test_health_is_the_norms_ratios_and_fractions_it_claims(corpus):
    config = TrainConfig(hidden_size=10, seq_length=12, clip=0.05)
    trainer = Trainer(corpus.data, corpus.chars, config)
    trainer.train(20)
    before = trainer.model.flat.copy()
    seen = []
    trainer.on_update = lambda t, cache: seen.append((measure(t, cache), cache.activations))
    trainer.step()
    (report, activations), model = seen[0], trainer.model
    grads = trainer.grads
    old = Model.from_flat(trainer.spec, before)
    assert report.iteration == 21 and report.measured and report.clip == 0.05
    for row in report.parameters:
        theta, g = old[row.name], grads[row.name]
        assert row.shape == theta.shape
        assert row.weight_norm == pytest.approx(np.linalg.norm(theta), rel=1e-9)
        assert row.grad_norm == pytest.approx(np.linalg.norm(g), rel=1e-9)
        step = np.linalg.norm(model[row.name] - theta)
        assert row.update_ratio == pytest.approx(step / np.linalg.norm(theta), rel=1e-6)
        assert row.clipped == pytest.approx(np.mean(np.abs(g) == 0.05))
    assert any(row.clipped > 0 for row in report.parameters)  # at clip 0.05 it bites
    layers = {row.name: row.layer for row in report.parameters}
    assert layers == {"b": 0, "c": None, "U": 0, "W": 0, "V": None}
    (row,) = report.saturation
    h = activations["h.0"]
    assert row.kind == "h" and row.fraction == pytest.approx(np.mean(np.abs(h) > 0.99))
    weights = weights_report(model, 21)
    assert not weights.measured and weights.parameters[3].grad_norm is None
    assert weights.parameters[3].weight_norm == pytest.approx(np.linalg.norm(model["W"]))


def test_gate_saturation_and_the_clipped_window(corpus):
    config = TrainConfig(hidden_size=6, seq_length=8, cell="lstm", layers=2, sigma=2.0)
    trainer = Trainer(corpus.data, corpus.chars, config)
    seen = []
    monitor = HealthMonitor(interval=0.0)
    trainer.on_update = lambda t, cache: (monitor.observe(t, cache), seen.append(cache))
    trainer.train(CLIP_WINDOW + 3)
    report, cache = monitor.latest, seen[-1]
    assert report.window == CLIP_WINDOW
    rows = {(row.layer, row.kind): row.fraction for row in report.saturation}
    assert set(rows) == {(layer, kind) for layer in (0, 1) for kind in "hifog"}
    for layer in (0, 1):
        for kind in "ifo":
            gate = cache.activations[f"{kind}.{layer}"]
            expected = np.mean((gate < 0.01) | (gate > 0.99))
            assert rows[layer, kind] == pytest.approx(expected)
        g = cache.activations[f"g.{layer}"]
        assert rows[layer, "g"] == pytest.approx(np.mean(np.abs(g) > 0.99))
    assert max(rows.values()) > 0  # sigma 2: something saturates


def test_the_monitor_measures_at_most_once_per_interval(corpus):
    trainer = Trainer(corpus.data, corpus.chars, TrainConfig(hidden_size=6, seq_length=8))
    now = [0.0]
    reports = []
    HealthMonitor(reports.append, interval=0.5, clock=lambda: now[0]).attach(trainer)
    for _ in range(10):
        trainer.step()
        now[0] += 0.2  # five updates a second
    assert [r.iteration for r in reports] == [1, 4, 7, 10]
