"""Inside the model: a passage read by a model character by character, the units that track
simple features of the text, and the colour scales that show both (Karpathy's "The Unreasonable
Effectiveness of Recurrent Neural Networks" visualisations, for every cell and layer count).

A passage x_0 .. x_{N-1} is read from a zero state, one stream (B = 1), in chunks of CHUNK steps
with the state carried (so memory stays bounded however long the text):

    h_t = cell(x_t, h_{t-1}) per layer,  p_t = softmax(V h^L_t + c)     (the model's forward pass)
    probability[t]   = p_{t-1}[x_t]          what the model gave character t (NaN for t = 0: no
                                              character precedes it, so nothing predicted it)
    loss[t]          = -ln p_{t-1}[x_t]       nats (surprisal_bits = loss / ln 2)
    top_ids[t]       = the TOP likeliest characters to follow x_t under p_t, likeliest first
    activations      = "h.l" (and "c.l" for an LSTM): every unit of layer l after reading x_t
    loss_nats        = mean of loss[1:], the passage's loss per character (loss_bits = / ln 2)

`find_neurons` ranks every unit (layer, unit, h or c) by the absolute value of its Pearson
correlation with each of FEATURES, simple properties of the text at each character (inside
quotes, position in the line ...), keeping each unit's best feature. The colour scales map
probabilities, surprisals and activations to palette entries (RGB), shared by the app and by
`tui-rnn inspect`'s three formats (inspect_output.py). Nothing here knows a UI.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .cells import Model, ModelSpec

CHUNK = 1024  # steps per forward pass: bounds the memory of the cache for long passages
TOP = 5  # likeliest next characters kept per position
DEFAULT_LENGTH = 2000  # characters of a run's text shown when none is given
MAX_LENGTH = 100_000  # the longest passage read at once
MAX_BYTES = 512 << 20  # the most memory a passage's arrays may take
LN2 = math.log(2.0)


class PassageError(ValueError):
    """A passage that cannot be read (empty, too long for memory, a unit that does not exist):
    one line saying what to change."""


@dataclass(frozen=True, eq=False)
class Passage:
    """A passage as a model read it (see the module docstring for every array)."""

    ids: np.ndarray  # (N,) vocabulary ids
    chars: tuple[str, ...]  # the model's vocabulary
    spec: ModelSpec
    probability: np.ndarray  # (N,) float, NaN at 0
    loss: np.ndarray  # (N,) nats, NaN at 0
    top_ids: np.ndarray  # (N, TOP) ids, likeliest first
    top_probabilities: np.ndarray  # (N, TOP)
    activations: dict[str, np.ndarray]  # "h.0" -> (N, m) float32

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def text(self) -> str:
        return "".join(self.chars[i] for i in self.ids)

    @property
    def surprisal_bits(self) -> np.ndarray:
        return self.loss / LN2

    @property
    def predictions(self) -> int:
        """How many characters were predicted (all but the first)."""
        return len(self.ids) - 1

    @property
    def loss_nats(self) -> float | None:
        """The passage's loss per character in nats (None for a one-character passage)."""
        return float(self.loss[1:].mean()) if self.predictions else None

    @property
    def loss_bits(self) -> float | None:
        nats = self.loss_nats
        return None if nats is None else nats / LN2

    def top(self, t: int) -> list[tuple[str, float]]:
        """The likeliest characters to follow character t, with their probabilities."""
        return [
            (self.chars[i], float(p))
            for i, p in zip(self.top_ids[t], self.top_probabilities[t], strict=True)
        ]

    @property
    def kinds(self) -> tuple[str, ...]:
        return activation_kinds(self.spec)

    def unit(self, neuron: Neuron) -> np.ndarray:
        """One unit's activation at every character, (N,) float32."""
        return self.activations[f"{neuron.kind}.{neuron.layer}"][:, neuron.unit]


def activation_kinds(spec: ModelSpec) -> tuple[str, ...]:
    """What a unit can show: its output h, and an LSTM's cell state c."""
    return ("h", "c") if spec.cell == "lstm" else ("h",)


def passage_bytes(spec: ModelSpec, length: int) -> int:
    """The memory a passage of `length` characters takes (its arrays)."""
    units = spec.hidden_size * spec.layers * len(activation_kinds(spec))
    return length * (units * 4 + 2 * 8 + TOP * 16)


def read_passage(
    model: Model,
    ids,
    chars,
    *,
    chunk: int = CHUNK,
    should_stop: Callable[[], bool] | None = None,
) -> Passage | None:
    """The passage `ids` read by `model` from a zero state (see the module docstring).

    Returns None when `should_stop()` turned true between two chunks (a cancelled worker).
    Raises PassageError for an empty or too long passage.
    """
    ids = np.asarray(ids, dtype=np.intp).reshape(-1)
    spec, N = model.spec, len(ids)
    if N == 0:
        raise PassageError("the text is empty: give at least one character")
    if N > MAX_LENGTH or passage_bytes(spec, N) > MAX_BYTES:
        longest = min(MAX_LENGTH, MAX_BYTES // passage_bytes(spec, 1))
        raise PassageError(
            f"the text has {N:,} characters, more than the {longest:,} this model's passage "
            "can hold: use a shorter text"
        )
    K, m = spec.vocab_size, spec.hidden_size
    top = min(TOP, K)
    probability = np.full(N, np.nan)
    loss = np.full(N, np.nan)
    top_ids = np.empty((N, top), dtype=np.intp)
    top_p = np.empty((N, top))
    names = [f"{kind}.{layer}" for layer in range(spec.layers) for kind in activation_kinds(spec)]
    activations = {name: np.empty((N, m), dtype=np.float32) for name in names}
    # The last character's target is unknown: the model's guesses for it are kept (its top-5),
    # the loss of a stand-in target is not.
    targets = np.append(ids[1:], ids[-1])
    state = model.zero_state(1)
    for start in range(0, N, chunk):
        if should_stop is not None and start and should_stop():
            return None
        end = min(N, start + chunk)
        _, cache = model.forward(ids[start:end, None], targets[start:end, None], state, keep=False)
        state = cache.final_state
        P = cache.probabilities[:, 0, :]  # (T, K): p_t for t in start..end-1
        predicted = slice(start + 1, min(N, end + 1))  # characters start+1 .. end
        T = predicted.stop - predicted.start
        probability[predicted] = P[np.arange(T), ids[predicted]]
        loss[predicted] = cache.step_losses[:T, 0]
        if top < K:
            best = np.argpartition(-P, top - 1, axis=1)[:, :top]
        else:
            best = np.broadcast_to(np.arange(K), P.shape)
        best_p = np.take_along_axis(P, best, axis=1)
        order = np.lexsort((best, -best_p), axis=1)  # likeliest first, ties by id
        top_ids[start:end] = np.take_along_axis(best, order, axis=1)
        top_p[start:end] = np.take_along_axis(best_p, order, axis=1)
        for name, values in cache.activations.items():
            if name in activations:
                activations[name][start:end] = values[:, 0, :]
    return Passage(ids, tuple(chars), spec, probability, loss, top_ids, top_p, activations)


def model_label(best: bool, iteration: int) -> str:
    """ "current model, iter 3,000" or "best model, iter 2,400"."""
    return f"{'best' if best else 'current'} model, iter {iteration:,}"


def run_text(document: dict, length: int = DEFAULT_LENGTH) -> tuple[np.ndarray, str]:
    """(ids, what they are) of a run's default passage: the first `length` characters of its
    validation text when it has one, else of its corpus (read again from config.json's path
    and checked to be the text the run was trained on). RunError when it cannot be read."""
    from .corpus import CorpusError, load_corpus
    from .options import TrainConfig
    from .runs import RunError, check_same_corpus
    from .train import split_text

    give = "or give a text: --text FILE or --prompt TEXT"
    try:
        corpus = load_corpus(document["corpus"].get("path"), document.get("encoding", "utf-8"))
        check_same_corpus(document, corpus)
    except (CorpusError, RunError) as err:
        reason = str(err).split(":")[0] if isinstance(err, RunError) else str(err)
        raise RunError(
            f"cannot read the run's corpus for its default text ({reason}); {give}"
        ) from None
    _, held_out = split_text(corpus.data, TrainConfig.from_dict(document["config"]).val_fraction)
    text, what = (held_out, "validation text") if len(held_out) else (corpus.data, "corpus")
    ids = np.asarray(text[:length], dtype=np.intp)
    return ids, f"the start of its {what} ({len(ids):,} of {len(text):,} characters)"


# -- units ----------------------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class Neuron:
    """One unit: layer and unit 0-based, kind "h" (its output) or "c" (an LSTM's cell state)."""

    layer: int
    unit: int
    kind: str = "h"

    @property
    def label(self) -> str:
        return f"{self.layer}:{self.unit}:{self.kind}"

    def check(self, spec: ModelSpec) -> Neuron:
        """self, or PassageError naming what does not exist in this model."""
        if not 0 <= self.layer < spec.layers:
            raise PassageError(
                f"layer {self.layer} does not exist: the model has {spec.layers} layer(s), "
                f"0 to {spec.layers - 1}"
            )
        if not 0 <= self.unit < spec.hidden_size:
            raise PassageError(
                f"unit {self.unit} does not exist: each layer has {spec.hidden_size} units, "
                f"0 to {spec.hidden_size - 1}"
            )
        if self.kind not in activation_kinds(spec):
            raise PassageError(
                f"{self.kind!r} is not a state of this {spec.cell} model: use h"
                + (" or c" if spec.cell == "lstm" else " (c is an LSTM's cell state)")
            )
        return self


def parse_neuron(text: str) -> Neuron:
    """'L:N' or 'L:N:h' / 'L:N:c' (0-based), as --neuron takes it; PassageError otherwise."""
    parts = text.strip().split(":")
    usage = f"a unit is LAYER:UNIT or LAYER:UNIT:h|c (0-based, e.g. 0:42), got {text!r}"
    if len(parts) not in (2, 3) or not all(p.strip().isdigit() for p in parts[:2]):
        raise PassageError(usage)
    kind = parts[2].strip() if len(parts) == 3 else "h"
    if kind not in ("h", "c"):
        raise PassageError(usage)
    return Neuron(int(parts[0]), int(parts[1]), kind)


# -- features of the text -------------------------------------------------------------------------
# Each feature describes the text at character t as the model stands after reading it (the
# activations at t are the state after x_t). Per-character features are looked up in a table
# made once per vocabulary character; the running ones (quotes, brackets, position) are
# vectorised over the whole text.
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


# -- colour scales --------------------------------------------------------------------------------
# Light for what the model expected, dark red for what surprised it (ColorBrewer YlOrRd), and
# blue - white - red for an activation from -1 to 1 (ColorBrewer RdBu, reversed).
SEQUENTIAL = ((255, 255, 204), (254, 217, 118), (253, 141, 60), (227, 26, 28), (128, 0, 38))
DIVERGING = ((33, 102, 172), (146, 197, 222), (247, 247, 247), (244, 165, 130), (178, 24, 43))
STEPS = 64  # entries per palette
MAX_BITS = 8.0  # surprisal shown at full colour from here (p = 1/256)
COLOURINGS = ("probability", "surprisal", "neuron")


def palette(anchors, steps: int = STEPS) -> np.ndarray:
    """(steps, 3) uint8 colours, linear between the anchors."""
    anchors = np.asarray(anchors, dtype=np.float64)
    at = np.linspace(0, len(anchors) - 1, steps)
    low = np.minimum(at.astype(int), len(anchors) - 2)
    frac = (at - low)[:, None]
    return np.rint(anchors[low] * (1 - frac) + anchors[low + 1] * frac).astype(np.uint8)


def ink(colours: np.ndarray) -> np.ndarray:
    """Black or white text for each background colour, whichever reads better (by its
    relative luminance, WCAG's weights)."""
    linear = (colours / 255.0) ** 2.2
    luminance = linear @ np.array([0.2126, 0.7152, 0.0722])
    return np.where(luminance > 0.2, 0, 255).astype(np.uint8)


PALETTES = {"sequential": palette(SEQUENTIAL), "diverging": palette(DIVERGING)}


def shades(values: np.ndarray, low: float, high: float, steps: int = STEPS) -> np.ndarray:
    """Palette indices of `values` on [low, high] (clipped); -1 where a value is NaN."""
    position = (np.asarray(values, dtype=np.float64) - low) / (high - low)
    index = np.rint(np.clip(position, 0.0, 1.0) * (steps - 1))
    return np.where(np.isnan(position), -1, index).astype(np.intp)


@dataclass(frozen=True)
class Colouring:
    """What colours a passage: its probabilities, their surprisal, or one unit's activation."""

    mode: str = "probability"  # one of COLOURINGS
    neuron: Neuron | None = None

    @property
    def palette_name(self) -> str:
        return "diverging" if self.mode == "neuron" else "sequential"

    def values(self, passage: Passage) -> np.ndarray:
        """The number each character is coloured by."""
        if self.mode == "neuron":
            return passage.unit(self.neuron)
        return passage.surprisal_bits if self.mode == "surprisal" else passage.probability

    def shades(self, passage: Passage) -> np.ndarray:
        """The palette index of every character (-1: no colour, the first one's probability)."""
        values = self.values(passage)
        if self.mode == "neuron":
            if self.neuron.kind == "c":  # unbounded: coloured as the tanh(c) that h reads
                values = np.tanh(values)
            return shades(values, -1.0, 1.0)
        if self.mode == "surprisal":
            return shades(values, 0.0, MAX_BITS)
        return shades(1.0 - values, 0.0, 1.0)  # p = 1 light, p = 0 darkest

    @property
    def legend(self) -> tuple[str, str, str]:
        """(what, the palette's first end, its last end)."""
        if self.mode == "neuron":
            of = "tanh of " if self.neuron.kind == "c" else ""
            return (f"{of}activation of unit {self.neuron.label}", "-1", "+1")
        if self.mode == "surprisal":
            return ("surprisal", "0 bits", f"{MAX_BITS:g}+ bits")
        return ("probability", "1", "0")
