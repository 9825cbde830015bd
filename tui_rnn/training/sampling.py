"""Synthesizing text: priming with a prompt, temperature, top-p (nucleus) and greedy decoding.

One step of the model for one character (its cell's `step`; for the report's RNN
h = tanh(W h + U x + b), o = V h + c), then
    p = softmax(o / temperature), restricted to its top-p nucleus,
and the next character is drawn from p by one uniform number (or taken as argmax).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from tui_rnn.training.corpus import encode

_STOP_CHECK = 256  # characters between two looks at should_stop (a call costs ~0.1 us)


def step(model, state: list[np.ndarray], x: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Advance one stream's state (one (1, width) array per layer) by one input character;
    return (state, logits over the vocabulary)."""
    state, logits = model.step(state, np.array([x], dtype=np.intp))
    return state, logits[0]


def distribution(logits: np.ndarray, temperature: float = 1.0, top_p: float = 1.0) -> np.ndarray:
    """Probabilities over the vocabulary after temperature and top-p."""
    # Shift by the maximum before dividing, so even a tiny temperature cannot overflow
    # (the other characters go to -inf, probability 0).
    with np.errstate(over="ignore"):
        z = (logits - logits.max()) / temperature
    p = np.exp(z)
    p /= p.sum()
    if top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        cumulative = np.cumsum(p[order])
        # Keep the smallest prefix whose mass reaches top_p (always at least one character).
        keep = order[: int(np.searchsorted(cumulative, top_p)) + 1]
        nucleus = np.zeros_like(p)
        nucleus[keep] = p[keep]
        p = nucleus / nucleus.sum()
    return p


def choose(p: np.ndarray, rng: np.random.Generator) -> int:
    """Inverse-CDF draw: one uniform number per character, so runs replay bit for bit."""
    cumulative = np.cumsum(p)
    index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    if index == p.size:  # u * total rounded up to total: the last character with p > 0
        index = int(np.flatnonzero(p)[-1])
    return index


def prime(model, prompt_ids, state=None) -> tuple[list[np.ndarray], np.ndarray]:
    """Feed the prompt through the recurrence; return (state, logits for the next character)."""
    state = model.zero_state(1) if state is None else state
    logits = None
    for x in prompt_ids:
        state, logits = step(model, state, int(x))
    if logits is None:
        raise ValueError("prime needs at least one character")
    return state, logits


def generate(
    model,
    state: list[np.ndarray],
    x: int,
    length: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_p: float = 1.0,
    greedy: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[int]:
    """Yield `length` character indices that follow input `x` from `state`.

    A generator, so callers can stream characters as they come. Temperature 0 means greedy.
    It ends early when `should_stop()` turns true (looked at every few hundred characters).
    """
    greedy = greedy or temperature == 0
    for i in range(length):
        if should_stop is not None and i % _STOP_CHECK == 0 and i and should_stop():
            return
        state, logits = step(model, state, x)
        if greedy:
            x = int(np.argmax(logits))
        else:
            x = choose(distribution(logits, temperature, top_p), rng)
        yield x


def start_ids(prompt: str, chars) -> list[int]:
    """The prompt's ids (UnknownCharactersError names strangers), or, for an empty prompt, a
    newline (else the first vocabulary character): the model starts as at a paragraph break."""
    if prompt:
        return [int(i) for i in encode(prompt, chars)]
    return [chars.index("\n") if "\n" in chars else 0]


def continue_prompt(
    model,
    prompt_ids,
    length: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_p: float = 1.0,
    greedy: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[int]:
    """Prime on all but the prompt's last character, then generate from its last character."""
    prompt_ids = [int(i) for i in prompt_ids]
    state = model.zero_state(1)
    if len(prompt_ids) > 1:
        state, _ = prime(model, prompt_ids[:-1], state)
    yield from generate(
        model, state, prompt_ids[-1], length, rng, temperature, top_p, greedy, should_stop
    )
