"""Synthesizing text: priming with a prompt, temperature, top-p (nucleus) and greedy decoding.

One step of the model (equations (1)-(4) in model.py) for one character:
    h = tanh(W h + U x + b),  p = softmax((V h + c) / temperature)
then the next character is drawn from p (restricted to its top-p nucleus), or taken as argmax.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .corpus import encode
from .model import Params


def step(params: Params, h: np.ndarray, x: int) -> tuple[np.ndarray, np.ndarray]:
    """Advance the hidden state by one input character; return (h, logits o)."""
    h = np.tanh(params.W @ h + params.U[:, x] + params.b)
    return h, params.V @ h + params.c


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


def prime(params: Params, prompt_ids, h: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Feed the prompt through the recurrence; return (h, logits for the next character)."""
    h = np.zeros(params.hidden_size) if h is None else h
    logits = None
    for x in prompt_ids:
        h, logits = step(params, h, int(x))
    if logits is None:
        raise ValueError("prime needs at least one character")
    return h, logits


def generate(
    params: Params,
    h: np.ndarray,
    x: int,
    length: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_p: float = 1.0,
    greedy: bool = False,
) -> Iterator[int]:
    """Yield `length` character indices that follow input `x` from hidden state `h`.

    A generator, so callers can stream characters as they come. Temperature 0 means greedy.
    """
    greedy = greedy or temperature == 0
    for _ in range(length):
        h, logits = step(params, h, x)
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
    params: Params,
    prompt_ids,
    length: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_p: float = 1.0,
    greedy: bool = False,
) -> Iterator[int]:
    """Prime on all but the prompt's last character, then generate from its last character."""
    prompt_ids = [int(i) for i in prompt_ids]
    h = np.zeros(params.hidden_size)
    if len(prompt_ids) > 1:
        h, _ = prime(params, prompt_ids[:-1], h)
    yield from generate(params, h, prompt_ids[-1], length, rng, temperature, top_p, greedy)


def validate_options(temperature: float, top_p: float, length: int) -> None:
    """Raise ValueError with a one-line reason for options sampling cannot honour."""
    if not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a number >= 0 (0 = greedy), got {temperature}")
    if not np.isfinite(top_p) or not 0 < top_p <= 1:
        raise ValueError(f"top-p must be in (0, 1], got {top_p}")
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
