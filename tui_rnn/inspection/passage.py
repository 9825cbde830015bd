"""A passage as a model reads it, character by character: what the model gave each character,
its guesses for the next one, and every unit's activation (the data of Karpathy's "The
Unreasonable Effectiveness of Recurrent Neural Networks" visualisations, for every cell and
layer count); and the units (Neuron) one can look at.

A passage x_0 .. x_{N-1} is read from a zero state, one stream (B = 1), in chunks of CHUNK steps
with the state carried (so memory stays bounded however long the text):

    h_t = cell(x_t, h_{t-1}) per layer,  p_t = softmax(V h^L_t + c)     (the model's forward pass)
    probability[t]   = p_{t-1}[x_t]          what the model gave character t (NaN for t = 0: no
                                              character precedes it, so nothing predicted it)
    loss[t]          = -ln p_{t-1}[x_t]       nats (surprisal_bits = loss / ln 2)
    top_ids[t]       = the TOP likeliest characters to follow x_t under p_t, likeliest first
    activations      = "h.l" (and "c.l" for an LSTM): every unit of layer l after reading x_t
    loss_nats        = mean of loss[1:], the passage's loss per character (loss_bits = / ln 2)

Nothing here knows a UI: `tui-rnn inspect` (output.py) and the app's inspector draw from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt

from tui_rnn.cells.model import Model, ModelSpec
from tui_rnn.safe.files import RunError
from tui_rnn.store.checkpoint import check_same_corpus, fit_vocabulary, run_corpus_path
from tui_rnn.training.corpus import CorpusError, load_corpus
from tui_rnn.training.options import TrainConfig
from tui_rnn.training.trainer import split_text

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


@overload
def read_passage(
    model: Model, ids: npt.ArrayLike, chars: Sequence[str], *, chunk: int = ...
) -> Passage: ...


@overload
def read_passage(
    model: Model,
    ids: npt.ArrayLike,
    chars: Sequence[str],
    *,
    chunk: int = ...,
    should_stop: Callable[[], bool] | None,
) -> Passage | None: ...


def read_passage(
    model: Model,
    ids: npt.ArrayLike,
    chars: Sequence[str],
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

    give = "or give a text: --text FILE or --prompt TEXT"
    try:
        path = run_corpus_path(document)
        corpus = fit_vocabulary(document, load_corpus(path, document.get("encoding", "utf-8")))
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
