"""Sampling: greedy, temperature, top-p, priming, unknown prompt characters, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from tui_rnn.cells.model import Model, ModelSpec
from tui_rnn.training import generation, sampling
from tui_rnn.training.corpus import UnknownCharactersError, from_text


def make_model(cell="rnn", layers=1, sigma=0.5):
    """A random model whose output distributions are far from uniform."""
    model = Model.zeros(ModelSpec(cell=cell, vocab_size=12, hidden_size=16, layers=layers))
    return model.init(np.random.default_rng(7), sigma)


@pytest.fixture
def params():
    return make_model()


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def take(params, length, seed, **options):
    rng = np.random.default_rng(seed)
    return list(sampling.generate(params, params.zero_state(1), 3, length, rng, **options))


@pytest.mark.parametrize(
    "cell, layers", [("rnn", 1), ("rnn", 2), ("lstm", 1), ("lstm", 2), ("gru", 1), ("gru", 3)]
)
def test_step_matches_the_model_forward_pass(cell, layers):
    model = make_model(cell, layers, sigma=None)
    inputs = np.array([3, 1, 4, 1, 5, 9, 2, 6])[:, None]
    _, cache = model.forward(inputs, inputs, model.zero_state(1))
    state = model.zero_state(1)
    for t, x in enumerate(inputs[:, 0]):
        state, logits = sampling.step(model, state, int(x))
        for layer in range(layers):
            np.testing.assert_allclose(
                state[layer][0, :16], cache.activations[f"h.{layer}"][t, 0], rtol=0, atol=1e-14
            )
        probabilities = cache.probabilities[t, 0]
        np.testing.assert_allclose(softmax(logits), probabilities, rtol=1e-12, atol=1e-15)


def test_greedy_and_temperature_zero_are_deterministic_argmax(params):
    greedy = take(params, 40, seed=1, greedy=True)
    assert greedy == take(params, 40, seed=2, greedy=True)  # the seed does not matter
    assert greedy == take(params, 40, seed=3, temperature=0.0)
    h, x = params.zero_state(1), 3  # follow the argmax by hand
    for chosen in greedy:
        h, logits = sampling.step(params, h, x)
        x = int(np.argmax(logits))
        assert chosen == x


def test_same_seed_same_text_different_seed_different_text(params):
    first = take(params, 200, seed=5)
    assert first == take(params, 200, seed=5)
    assert first != take(params, 200, seed=6)
    assert len(set(first)) > 3  # really sampled, not stuck on one character


def test_temperature_scales_the_logits():
    logits = np.array([2.0, 1.0, 0.5, -1.0, -3.0])
    np.testing.assert_allclose(sampling.distribution(logits, 1.0), softmax(logits), rtol=1e-14)
    for temperature in (0.25, 0.5, 2.0, 10.0):
        expected = softmax(logits / temperature)
        np.testing.assert_allclose(sampling.distribution(logits, temperature), expected, 1e-14)
    cold, hot = sampling.distribution(logits, 0.1), sampling.distribution(logits, 10.0)
    assert cold.max() > 0.99  # nearly greedy
    assert hot.max() - hot.min() < 0.2  # nearly uniform


def test_distribution_is_stable_for_large_logits_and_tiny_temperatures():
    p = sampling.distribution(np.array([1000.0, 999.0, -1000.0]), 0.01)
    assert np.isfinite(p).all() and p.sum() == pytest.approx(1.0)
    with np.errstate(all="raise"):  # no overflow warning either
        p = sampling.distribution(np.array([1.0, 2.0, 0.5]), 1e-320)
    np.testing.assert_array_equal(p, [0.0, 1.0, 0.0])


def test_choose_never_returns_an_impossible_character_even_at_the_top_edge():
    class TopOfRange:
        def random(self):
            return 1.0  # beyond what a Generator returns, to reach the guard

    p = np.array([0.2, 0.5, 0.3, 0.0, 0.0])
    assert sampling.choose(p, TopOfRange()) == 2


@pytest.mark.parametrize("top_p", [0.05, 0.3, 0.5, 0.7, 0.9, 0.999])
def test_top_p_keeps_exactly_the_nucleus(top_p):
    logits = np.random.default_rng(0).standard_normal(30) * 2
    full = softmax(logits)
    order = np.argsort(-full)
    # The nucleus: the likeliest characters, fewest first, until their mass reaches top_p.
    mass, nucleus = 0.0, set()
    for i in order:
        nucleus.add(int(i))
        mass += full[i]
        if mass >= top_p:
            break
    p = sampling.distribution(logits, 1.0, top_p)
    assert set(np.flatnonzero(p).tolist()) == nucleus
    assert p.sum() == pytest.approx(1.0)
    kept = sorted(nucleus)
    np.testing.assert_allclose(p[kept], full[kept] / full[kept].sum(), rtol=1e-12)


def test_sampling_with_top_p_never_leaves_the_nucleus(params):
    support = set()
    h, x, rng = params.zero_state(1), 3, np.random.default_rng(0)
    for _ in range(300):
        h, logits = sampling.step(params, h, x)
        p = sampling.distribution(logits, 1.0, 0.6)
        x = sampling.choose(p, rng)
        assert p[x] > 0
        support.add(x)
    assert len(support) > 1


def test_choose_follows_the_distribution():
    p = np.array([0.1, 0.0, 0.6, 0.0, 0.3])
    rng = np.random.default_rng(0)
    counts = np.bincount([sampling.choose(p, rng) for _ in range(20_000)], minlength=5)
    assert counts[1] == 0 and counts[3] == 0  # zero-probability characters never come up
    np.testing.assert_allclose(counts / counts.sum(), p, atol=0.015)


def test_prime_then_continue_equals_generating_from_the_last_prompt_character(params):
    prompt = [1, 5, 2, 7]
    h = params.zero_state(1)
    for x in prompt[:-1]:
        h, _ = sampling.step(params, h, x)
    h_primed, _ = sampling.prime(params, prompt[:-1])
    np.testing.assert_array_equal(h_primed[0], h[0])
    expected = list(sampling.generate(params, h, prompt[-1], 50, np.random.default_rng(4)))
    got = list(sampling.continue_prompt(params, prompt, 50, np.random.default_rng(4)))
    assert got == expected
    # A different prompt really changes the continuation (the state is used).
    other = list(sampling.continue_prompt(params, [9, 9, 9, 7], 50, np.random.default_rng(4)))
    assert other != got


def test_prime_needs_a_character(params):
    with pytest.raises(ValueError):
        sampling.prime(params, [])


def test_generate_streams_lazily(params):
    stream = sampling.generate(params, params.zero_state(1), 3, 10**9, np.random.default_rng(0))
    assert [next(stream) for _ in range(5)] == take(params, 5, seed=0)


def test_generate_ends_early_when_asked_to_stop(params):
    looks = []

    def stop():
        looks.append(1)
        return len(looks) >= 2

    text = list(
        sampling.generate(
            params, params.zero_state(1), 3, 10_000, np.random.default_rng(0), should_stop=stop
        )
    )
    assert 0 < len(text) < 10_000 and text == take(params, len(text), seed=0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_every_cell_continues_a_prompt_reproducibly(cell):
    model = make_model(cell, 2, sigma=None)
    first = list(sampling.continue_prompt(model, [1, 2, 3], 60, np.random.default_rng(1), 0.8, 0.9))
    again = list(sampling.continue_prompt(model, [1, 2, 3], 60, np.random.default_rng(1), 0.8, 0.9))
    assert first == again and len(set(first)) > 2


def test_unknown_prompt_characters_are_named():
    corpus = from_text("hello world, hello there")
    with pytest.raises(UnknownCharactersError) as excinfo:
        corpus.encode("hello Zürich")
    message = str(excinfo.value)
    assert "'Z'" in message and "'ü'" in message and "'c'" in message
    assert "\n" not in message
    assert corpus.decode(corpus.encode("hello there")) == "hello there"


@pytest.mark.parametrize(
    "temperature, top_p, length, word",
    [
        (-1.0, 1.0, 10, "temperature"),
        (float("nan"), 1.0, 10, "temperature"),
        (1.0, 0.0, 10, "top-p"),
        (1.0, 1.5, 10, "top-p"),
        (1.0, float("nan"), 10, "top-p"),
        (1.0, 1.0, -1, "length"),
    ],
)
def test_generation_options_refuse_what_cannot_work(temperature, top_p, length, word):
    with pytest.raises(ValueError, match=word):
        generation.resolve({"temperature": temperature, "top_p": top_p, "length": length})


def test_generation_options_accept_the_defaults_and_greedy():
    generation.resolve({"temperature": 1.0, "top_p": 1.0, "length": 200})
    generation.resolve({"temperature": 0.0, "top_p": 0.9, "length": 1})


def test_start_ids_encodes_the_prompt_or_starts_at_a_newline():
    from tui_rnn.training.corpus import UnknownCharactersError
    from tui_rnn.training.sampling import start_ids

    chars = ("\n", " ", "a", "b")
    assert start_ids("ab a", chars) == [2, 3, 1, 2]
    assert start_ids("", chars) == [0]
    assert start_ids("", ("x", "y")) == [0]
    assert start_ids("", ("a", "b", "\n")) == [2]
    with pytest.raises(UnknownCharactersError, match="'z'"):
        start_ids("abz", chars)
