"""Beam search: K = 1 is greedy, a wide enough beam is exhaustive, stop strings, determinism."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tui_rnn.cells.model import Model, ModelSpec
from tui_rnn.training import beam, sampling


def make_model(vocab=12, cell="rnn", layers=1, seed=7, sigma=0.5):
    model = Model.zeros(ModelSpec(cell=cell, vocab_size=vocab, hidden_size=16, layers=layers))
    return model.init(np.random.default_rng(seed), sigma)


def log_probability(model, prompt, continuation) -> float:
    """log p(continuation | prompt) by hand: the model stepped one character at a time."""
    state, logits = sampling.prime(model, prompt)
    total = 0.0
    for x in continuation:
        log_p = logits - logits.max()
        log_p -= np.log(np.exp(log_p).sum())
        total += log_p[x]
        state, logits = sampling.step(model, state, x)
    return total


@pytest.mark.parametrize("cell, layers", [("rnn", 1), ("lstm", 2), ("gru", 1)])
def test_a_beam_of_one_is_greedy_decoding(cell, layers):
    model = make_model(cell=cell, layers=layers)
    chars = tuple("abcdefghijkl")
    prompt = [3, 1, 4]
    greedy = list(
        sampling.continue_prompt(model, prompt, 80, np.random.default_rng(0), greedy=True)
    )
    found = beam.search(model, chars, prompt, 80, 1)
    assert list(found.ids) == greedy
    assert not found.stopped
    expected = log_probability(model, prompt, greedy)
    assert found.log_probability == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_beam_of_27_finds_the_likeliest_of_all_27_continuations(seed):
    model = make_model(vocab=3, seed=seed, sigma=1.0)
    chars = ("x", "y", "z")
    prompt = [0, 2]
    every = {c: log_probability(model, prompt, c) for c in itertools.product(range(3), repeat=3)}
    likeliest = max(every, key=every.get)
    found = beam.search(model, chars, prompt, 3, 27)
    assert found.ids == likeliest
    assert found.log_probability == pytest.approx(every[likeliest], rel=1e-12)


def test_the_log_probabilities_returned_are_those_of_the_text_returned():
    model = make_model(vocab=5, seed=11, sigma=1.5, cell="lstm")
    chars = tuple("abcde")
    found = beam.search(model, chars, [1, 2], 25, 8)
    assert len(found.ids) == 25
    steps = []
    state, logits = sampling.prime(model, [1, 2])
    for x in found.ids:
        log_p = logits - logits.max()
        steps.append(log_p[x] - np.log(np.exp(log_p).sum()))
        state, logits = sampling.step(model, state, x)
    np.testing.assert_allclose(found.log_probabilities, steps, rtol=1e-10)


def test_the_search_is_deterministic():
    model = make_model()
    chars = tuple("abcdefghijkl")
    first = beam.search(model, chars, [2, 5], 40, 8)
    assert first == beam.search(model, chars, [2, 5], 40, 8)


def test_a_stop_string_ends_a_beam_and_is_left_out_unless_inclusive():
    model = make_model(vocab=4, seed=5, sigma=1.0)
    chars = ("a", "b", "c", "\n")
    free = beam.search(model, chars, [0], 30, 4)
    text = "".join(chars[i] for i in free.ids)
    stop = text[4:6]  # a string the unstopped search writes
    found = beam.search(model, chars, [0], 30, 4, stops=[stop])
    written = "".join(chars[i] for i in found.ids)
    assert stop not in written
    if found.stopped:
        kept = beam.search(model, chars, [0], 30, 4, stops=[stop], stop_inclusive=True)
        assert "".join(chars[i] for i in kept.ids) == written + stop
        assert kept.stopped


def test_finished_and_full_length_beams_are_compared_per_character():
    """A stop string that the likeliest beam writes at once: the search returns a text whose
    mean log-probability per character is the best among those it saw."""
    model = make_model(vocab=3, seed=3, sigma=1.0)
    chars = ("x", "y", "z")
    every = {}
    for n in (1, 2, 3):
        for c in itertools.product(range(3), repeat=n):
            every[c] = log_probability(model, [0], c)
    stop = "z"
    # with a full beam every text ending in its first z, or of length 3 without one, competes
    complete = {
        c: lp / len(c)
        for c, lp in every.items()
        if ("".join(chars[i] for i in c).find(stop) == len(c) - 1)
        or (len(c) == 3 and stop not in "".join(chars[i] for i in c))
    }
    best = max(complete, key=complete.get)
    found = beam.search(model, chars, [0], 3, 27, stops=[stop], stop_inclusive=True)
    assert found.ids == best


def test_widths_outside_1_to_64_are_refused():
    model = make_model()
    for width in (0, 65):
        with pytest.raises(ValueError, match="1-64"):
            beam.search(model, tuple("abcdefghijkl"), [1], 5, width)
    with pytest.raises(ValueError, match="empty"):
        beam.search(model, tuple("abcdefghijkl"), [1], 5, 2, stops=[""])


def test_a_cancelled_search_returns_none():
    model = make_model()
    assert beam.search(model, tuple("abcdefghijkl"), [1], 5, 2, should_stop=lambda: True) is None
