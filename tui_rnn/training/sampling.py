"""Synthesizing text: priming with a prompt, temperature, top-k, top-p (nucleus) and greedy
decoding, stop strings, and the log-probability of what was written.

One step of the model for one character (its cell's `step`; for the report's RNN
h = tanh(W h + U x + b), o = V h + c), then
    p = softmax(o / temperature), restricted to its top-k characters, then to its top-p nucleus,
and the next character is drawn from p by one uniform number (or taken as argmax). The
log-probability of a character is the model's own, log softmax(o)[x], whatever the settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from tui_rnn.cells.model import log_softmax
from tui_rnn.training.corpus import encode

_STOP_CHECK = 256  # characters between two looks at should_stop (a call costs ~0.1 us)
_SCORE_CHUNK = 1024  # steps per forward pass when scoring a prompt (bounds its memory)


def step(model, state: list[np.ndarray], x: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Advance one stream's state (one (1, width) array per layer) by one input character;
    return (state, logits over the vocabulary)."""
    state, logits = model.step(state, np.array([x], dtype=np.intp))
    return state, logits[0]


def distribution(
    logits: np.ndarray, temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0
) -> np.ndarray:
    """Probabilities over the vocabulary after temperature, top-k (0: off) and top-p."""
    # Shift by the maximum before dividing, so even a tiny temperature cannot overflow
    # (the other characters go to -inf, probability 0).
    with np.errstate(over="ignore"):
        z = (logits - logits.max()) / temperature
    p = np.exp(z)
    p /= p.sum()
    if 0 < top_k < p.size:
        # The k likeliest; a tie at the k-th place goes to the lowest index, as greedy's does.
        dropped = np.argsort(-p, kind="stable")[top_k:]
        p[dropped] = 0.0
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
    top_k: int = 0,
) -> Iterator[int]:
    """Yield `length` character indices that follow input `x` from `state`.

    A generator, so callers can stream characters as they come. Temperature 0 means greedy.
    It ends early when `should_stop()` turns true (looked at every few hundred characters).
    """
    draws = _draws(model, state, x, length, rng, temperature, top_p, top_k, greedy, should_stop)
    for drawn, _ in draws:
        yield drawn


def generate_scored(
    model,
    state: list[np.ndarray],
    x: int,
    length: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_p: float = 1.0,
    greedy: bool = False,
    should_stop: Callable[[], bool] | None = None,
    top_k: int = 0,
) -> Iterator[tuple[int, float]]:
    """`generate`'s characters (the same draws), each with its log-probability under the
    model (nats)."""
    draws = _draws(model, state, x, length, rng, temperature, top_p, top_k, greedy, should_stop)
    for drawn, logits in draws:
        yield drawn, float(log_softmax(logits)[drawn])


def _draws(model, state, x, length, rng, temperature, top_p, top_k, greedy, should_stop):
    """(character, the logits it was drawn from), `length` times."""
    greedy = greedy or temperature == 0
    for i in range(length):
        if should_stop is not None and i % _STOP_CHECK == 0 and i and should_stop():
            return
        state, logits = step(model, state, x)
        if greedy:
            x = int(np.argmax(logits))
        else:
            x = choose(distribution(logits, temperature, top_p, top_k), rng)
        yield x, logits


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
    top_k: int = 0,
) -> Iterator[int]:
    """Prime on all but the prompt's last character, then generate from its last character."""
    state, last = primed(model, prompt_ids)
    yield from generate(
        model, state, last, length, rng, temperature, top_p, greedy, should_stop, top_k
    )


def primed(model, prompt_ids) -> tuple[list[np.ndarray], int]:
    """(the state after all but the prompt's last character, that last character)."""
    prompt_ids = [int(i) for i in prompt_ids]
    state = model.zero_state(1)
    if len(prompt_ids) > 1:
        state, _ = prime(model, prompt_ids[:-1], state)
    return state, prompt_ids[-1]


def continuation(
    model,
    chars: Sequence[str],
    prompt_ids,
    length: int,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    greedy: bool = False,
    stops: Sequence[str] = (),
    stop_inclusive: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[tuple[str, float]]:
    """(character, its log-probability) of what continues the prompt: `continue_prompt`'s
    characters, up to the first occurrence of a stop string in them (which is left out unless
    `stop_inclusive`). A character that may begin a stop string is held back until it is known
    not to."""
    state, last = primed(model, prompt_ids)
    scanner = StopScanner(stops, stop_inclusive)
    draws = generate_scored(
        model, state, last, length, rng, temperature, top_p, greedy, should_stop, top_k
    )
    for x, log_p in draws:
        yield from scanner.feed(chars[x], log_p)
        if scanner.stopped:
            return
    yield from scanner.finish()


class StopScanner:
    """Watches text as it is written for the first occurrence of any of the stop strings (the
    one that starts first when several end at one character)."""

    def __init__(self, stops: Sequence[str] = (), inclusive: bool = False):
        if any(not stop for stop in stops):
            raise ValueError("a stop string cannot be empty")
        self.stops = sorted(set(stops), key=len, reverse=True)  # the longest match starts first
        self.inclusive = inclusive
        self.keep = max(map(len, self.stops), default=1) - 1  # held back: may begin a stop
        self.held: list[tuple[str, float]] = []
        self.stopped = False

    def feed(self, ch: str, log_p: float) -> list[tuple[str, float]]:
        """What can be written now, after `ch` was generated."""
        if not self.stops:
            return [(ch, log_p)]
        self.held.append((ch, log_p))
        tail = "".join(c for c, _ in self.held)
        for stop in self.stops:
            if tail.endswith(stop):
                self.stopped = True
                kept = len(self.held) - (0 if self.inclusive else len(stop))
                released, self.held = self.held[:kept], []
                return released
        released = self.held[: max(0, len(self.held) - self.keep)]
        self.held = self.held[len(released) :]
        return released

    def finish(self) -> list[tuple[str, float]]:
        """What is still held back when generation ends without a stop."""
        released, self.held = self.held, []
        return released


def score_ids(model, ids) -> tuple[float, int]:
    """(log-probability of ids[1:] given what precedes each, how many were predicted) from a
    zero state: the first character is only read."""
    ids = np.asarray(ids, dtype=np.intp).reshape(-1)
    state, total = model.zero_state(1), 0.0
    for start in range(0, max(0, len(ids) - 1), _SCORE_CHUNK):
        end = min(len(ids) - 1, start + _SCORE_CHUNK)
        inputs, targets = ids[start:end, None], ids[start + 1 : end + 1, None]
        loss, cache = model.forward(inputs, targets, state, keep=False)
        state, total = cache.final_state, total - loss
    return total, max(0, len(ids) - 1)
