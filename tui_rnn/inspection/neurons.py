"""Which units track what: FEATURES, simple properties of the text at every character (inside
quotes or brackets, the position in the line or the word, a letter, a vowel ...), and every unit
(layer, unit, h or c) ranked by the absolute value of its Pearson correlation with them, each
with the feature it tracks best.

A feature describes the text at character t as the model stands after reading it (the
activations at t are the state after x_t). Per-character features are looked up in a table made
once per vocabulary character; the running ones (quotes, brackets, positions) are vectorised
over the whole text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tui_rnn.inspection.passage import Neuron, Passage

OPEN_QUOTES, CLOSE_QUOTES, TOGGLE_QUOTES = "\u201c", "\u201d", '"'


def _is_vowel(ch: str) -> bool:
    base = unicodedata.normalize("NFD", ch)[:1].lower()
    return base in "aeiou" and base != ""


def _is_letter(ch: str) -> bool:
    return ch.isalpha()


_CHARACTER_FEATURES: dict[str, tuple[str, Callable[[str], bool]]] = {
    "in_word": ("the character is a letter", _is_letter),
    "vowel": ("the character is a vowel (a e i o u, accented too, any case)", _is_vowel),
    "uppercase": ("the character is an uppercase letter", str.isupper),
    "digit": ("the character is a digit", str.isdigit),
    "space": ("the character is a space or tab (not a newline)", lambda ch: ch in " \t"),
    "newline": ("the character is a newline: the next one starts a line", lambda ch: ch == "\n"),
    "punctuation": (
        "the character is punctuation (Unicode category P*)",
        lambda ch: unicodedata.category(ch).startswith("P"),
    ),
}


def _table(chars, test: Callable[[str], bool], ids: np.ndarray) -> np.ndarray:
    return np.array([bool(test(ch)) for ch in chars], dtype=np.float64)[ids]


def _in_quotes(chars, ids) -> np.ndarray:
    """1 from an opening quote up to (not including) its closing one: `"` toggles, “ opens and
    ” closes."""
    codes = {**dict.fromkeys(OPEN_QUOTES, 1), **dict.fromkeys(CLOSE_QUOTES, 2), TOGGLE_QUOTES: 3}
    kind = np.array([codes.get(ch, 0) for ch in chars], dtype=np.int8)[ids]
    where = np.flatnonzero(kind)
    if not len(where):
        return np.zeros(len(ids))
    states = np.empty(len(where) + 1)
    states[0] = inside = 0.0  # before the first quote
    for k, t in enumerate(where, 1):  # only the quote characters: few
        inside = 1.0 if kind[t] == 1 else 0.0 if kind[t] == 2 else 1.0 - inside
        states[k] = inside
    return states[np.searchsorted(where, np.arange(len(ids)), side="right")]  # latest quote <= t


def _inside(chars, ids, opening: str, closing: str) -> np.ndarray:
    """1 while at least one bracket is open (an unmatched closing one is ignored): the depth is
    the walk s_t = opens - closes reflected at 0, d_t = s_t - min(0, min_{u<=t} s_u)."""
    step = np.array(
        [1 if ch in opening else -1 if ch in closing else 0 for ch in chars], dtype=np.int64
    )[ids]
    walk = np.cumsum(step)
    depth = walk - np.minimum(0, np.minimum.accumulate(walk))
    return (depth > 0).astype(np.float64)


def _since(flags: np.ndarray) -> np.ndarray:
    """For each t, the steps since the latest t' <= t with flags[t'] (t + 1 when none)."""
    t = np.arange(len(flags))
    last = np.maximum.accumulate(np.where(flags, t, -1))
    return (t - last).astype(np.float64)


def _line_position(chars, ids) -> np.ndarray:
    """Characters read since the latest newline (0 right after one)."""
    return _since(_table(chars, lambda ch: ch == "\n", ids) > 0)


def _word_start(chars, ids) -> np.ndarray:
    letter = _table(chars, _is_letter, ids) > 0
    before = np.concatenate([[False], letter[:-1]])
    return (letter & ~before).astype(np.float64)


def _word_position(chars, ids) -> np.ndarray:
    """Letters of the current word read so far (0 outside a word)."""
    letter = _table(chars, _is_letter, ids) > 0
    return np.where(letter, _since(~letter), 0.0)


FEATURES: dict[str, tuple[str, Callable]] = {
    "in_quotes": (
        'inside a quotation: from an opening quote (" or \u201c) up to its closing one',
        _in_quotes,
    ),
    "in_parentheses": ("inside ( ) (nested counts once)", lambda c, i: _inside(c, i, "(", ")")),
    "in_brackets": ("inside [ ] or { }", lambda c, i: _inside(c, i, "[{", "]}")),
    "line_position": ("characters read since the latest newline", _line_position),
    "word_start": ("the first letter of a word", _word_start),
    "word_position": ("letters of the current word read so far (0 outside words)", _word_position),
    **{
        name: (description, lambda c, i, test=test: _table(c, test, i))
        for name, (description, test) in _CHARACTER_FEATURES.items()
    },
}


def feature_values(passage: Passage) -> dict[str, np.ndarray]:
    """Every feature of FEATURES at every character of the passage, (N,) float64 each."""
    return {name: make(passage.chars, passage.ids) for name, (_, make) in FEATURES.items()}


@dataclass(frozen=True)
class NeuronMatch:
    """A unit and the feature it tracks best, with their signed Pearson correlation r."""

    neuron: Neuron
    feature: str
    r: float

    def to_json(self) -> dict:
        n = self.neuron
        return {
            "layer": n.layer,
            "unit": n.unit,
            "kind": n.kind,
            "feature": self.feature,
            "r": self.r,
        }


def correlations(activations: np.ndarray, features: np.ndarray, block: int = 256) -> np.ndarray:
    """Pearson's r of every column of `activations` (N, U) with every column of `features`
    (N, F), as (U, F): r = sum_t a'_t f'_t / (|a'| |f'|) with a', f' centred; 0 where a column
    is constant (r is undefined there). Units are taken `block` at a time (bounded memory)."""
    F = features - features.mean(axis=0)
    f_norm = np.sqrt(np.einsum("tf,tf->f", F, F))
    r = np.zeros((activations.shape[1], features.shape[1]))
    for start in range(0, activations.shape[1], block):
        A = activations[:, start : start + block].astype(np.float64)
        A -= A.mean(axis=0)
        a_norm = np.sqrt(np.einsum("tu,tu->u", A, A))
        denominator = np.outer(a_norm, f_norm)
        with np.errstate(invalid="ignore", divide="ignore"):
            block_r = (A.T @ F) / denominator
        r[start : start + block] = np.where(denominator > 0, block_r, 0.0)
    return np.clip(r, -1.0, 1.0)


def unit_table(passage: Passage) -> tuple[list[Neuron], np.ndarray]:
    """(every unit, their activations as columns (N, U) float32), layer by layer, h before c."""
    neurons, columns = [], []
    m = passage.spec.hidden_size
    for layer in range(passage.spec.layers):
        for kind in passage.kinds:
            neurons += [Neuron(layer, unit, kind) for unit in range(m)]
            columns.append(passage.activations[f"{kind}.{layer}"])
    return neurons, np.concatenate(columns, axis=1)


@dataclass(frozen=True, eq=False)
class NeuronTable:
    """Every unit's Pearson r with every feature of a passage."""

    neurons: list[Neuron]
    features: list[str]
    r: np.ndarray  # (units, features)

    def ranked(self, k: int | None = None) -> list[NeuronMatch]:
        """The units ranked by |r| with the feature each tracks best (ties: the earlier unit),
        the first k of them (all with k None)."""
        best = np.argmax(np.abs(self.r), axis=1)
        best_r = self.r[np.arange(len(self.neurons)), best]
        order = np.argsort(-np.abs(best_r), kind="stable")[:k]
        return [
            NeuronMatch(self.neurons[u], self.features[best[u]], float(best_r[u])) for u in order
        ]

    def of(self, neuron: Neuron) -> list[tuple[str, float]]:
        """One unit's r with every feature, largest |r| first."""
        row = self.r[self.neurons.index(neuron)]
        order = np.argsort(-np.abs(row), kind="stable")
        return [(self.features[f], float(row[f])) for f in order]


def neuron_correlations(passage: Passage) -> NeuronTable:
    """Every unit against every feature of FEATURES."""
    values = feature_values(passage)
    neurons, activations = unit_table(passage)
    features = np.stack(list(values.values()), axis=1)
    return NeuronTable(neurons, list(values), correlations(activations, features))


def find_neurons(passage: Passage, k: int | None = None) -> list[NeuronMatch]:
    """The k units (all with None) that track a feature of the text best, ranked by |r|."""
    return neuron_correlations(passage).ranked(k)
