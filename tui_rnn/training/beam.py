"""Beam search: the likeliest continuation of a prompt under the model, K hypotheses at a time.

A continuation y_1 .. y_t is scored by its log-probability,
    score(y) = sum_i log p(y_i | prompt, y_1 .. y_{i-1}),
and each step extends every beam by every character and keeps the K best candidates. Ties go to
the earlier beam, then to the larger logit, then to the lowest character index, so that K = 1
is greedy decoding exactly and every search is deterministic. A beam whose text comes to end in
a stop string is finished; the finished beams and those that reach the full length are compared
by their score per character (length-normalised: a shorter text would otherwise always win, its
sum having fewer negative terms). Without stop strings every beam has the full length, and the
result is simply the one of highest score.

The beams advance side by side as one batch of K streams (Model.step), so a step costs about
what one stream's does for small K.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tui_rnn.cells.model import log_softmax
from tui_rnn.training import sampling

MAX_WIDTH = 64


@dataclass(frozen=True)
class BeamResult:
    """The continuation found: its characters (a stop string left out unless inclusive) with the
    log-probability of each, and whether a stop string ended it."""

    ids: tuple[int, ...]
    log_probabilities: tuple[float, ...]
    stopped: bool

    @property
    def log_probability(self) -> float:
        return float(sum(self.log_probabilities))


@dataclass(frozen=True)
class _Finished:
    normalised: float
    order: int  # found before a later one of the same score: it wins
    ids: tuple[int, ...]
    log_probabilities: tuple[float, ...]
    stopped: bool


def search(
    model,
    chars: Sequence[str],
    prompt_ids,
    length: int,
    width: int,
    *,
    stops: Sequence[str] = (),
    stop_inclusive: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> BeamResult | None:
    """The best continuation of at most `length` characters found by a beam of `width`
    (None when `should_stop()` turned true: a cancelled search)."""
    if not 1 <= width <= MAX_WIDTH:
        raise ValueError(f"the beam width must be 1-{MAX_WIDTH}, got {width}")
    if any(not stop for stop in stops):
        raise ValueError("a stop string cannot be empty")
    stops = sorted(set(stops), key=len, reverse=True)  # the longest match starts first
    keep = max(map(len, stops), default=0)
    state, last = sampling.primed(model, prompt_ids)
    V = model.vocab_size
    scores = np.zeros(1)
    tokens = np.zeros((1, 0), dtype=np.intp)
    token_log_p = np.zeros((1, 0))
    tails = [""]  # the last characters of each beam's text, enough to see a stop string end
    inputs = np.array([last], dtype=np.intp)
    finished: list[_Finished] = []
    found = 0  # how many finished beams were seen: the order they were found in
    for _ in range(length):
        if should_stop is not None and should_stop():
            return None
        state, logits = model.step(state, inputs)
        log_p = log_softmax(logits)
        total = scores[:, None] + log_p
        k = len(scores)
        order = np.lexsort(
            (np.tile(np.arange(V), k), -logits.ravel(), np.repeat(np.arange(k), V), -total.ravel())
        )
        parents: list[int] = []
        chosen: list[int] = []
        for flat in order:
            beam, ch = divmod(int(flat), V)
            tail = (tails[beam] + chars[ch])[-keep:] if keep else ""
            stop = next((s for s in stops if tail.endswith(s)), None)
            if stop is None:
                parents.append(beam)
                chosen.append(ch)
                if len(parents) == width:
                    break
                continue
            ids = (*tokens[beam], ch)
            logs = (*token_log_p[beam], float(log_p[beam, ch]))
            kept = len(ids) - (0 if stop_inclusive else len(stop))
            finished.append(
                _Finished(
                    float(total[beam, ch]) / len(ids),
                    found,
                    tuple(int(i) for i in ids[:kept]),
                    logs[:kept],
                    True,
                )
            )
            found += 1
        if not parents:  # every candidate ended in a stop string
            break
        rows = np.array(parents, dtype=np.intp)
        picked = np.array(chosen, dtype=np.intp)
        scores = total[rows, picked]
        tokens = np.column_stack([tokens[rows], picked])
        token_log_p = np.column_stack([token_log_p[rows], log_p[rows, picked]])
        tails = [
            (tails[b] + chars[c])[-keep:] if keep else ""
            for b, c in zip(parents, chosen, strict=True)
        ]
        state = [layer[rows] for layer in state]
        inputs = picked
        finished = sorted(finished, key=lambda f: (-f.normalised, f.order))[:width]
    else:
        steps = max(1, tokens.shape[1])
        for beam in range(len(scores)):
            finished.append(
                _Finished(
                    float(scores[beam]) / steps,
                    found + beam,
                    tuple(int(i) for i in tokens[beam]),
                    tuple(float(v) for v in token_log_p[beam]),
                    False,
                )
            )
    best = min(finished, key=lambda f: (-f.normalised, f.order))
    return BeamResult(best.ids, best.log_probabilities, best.stopped)
