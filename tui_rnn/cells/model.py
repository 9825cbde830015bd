"""Character models: a stack of recurrent layers (rnn, lstm or gru) and a softmax output layer.

For inputs x_1..x_T (vocabulary ids), targets y_1..y_T and B streams side by side:

    h^0_t = x_t (a character: layer 0 reads a column of its input matrix, never a one-hot)
    h^l_t = cell_l(h^{l-1}_t, state^l_{t-1})      l = 1..L (rnn.py, lstm.py, gru.py)
    o_t   = V d(h^L_t) + c                         (d: inverted dropout, training only)
    p_t   = softmax(o_t)
    loss  = (1/B) sum_streams sum_t -log p_t[y_t]

With B = 1 and one vanilla layer this is the report's model to the bit.

Parameters are named views into one flat vector, so that optimizers, clipping, checkpoints and
the best-model copy each touch one contiguous array. In flat order: the one-layer rnn's are the
report's b, c, U, W, V; any other model's are each layer l's input weights, recurrent weights and
bias (rnn: U.l, W.l, b.l; lstm and gru: W_x.l, W_h.l, b.l), then V and c.

Initialisation draws the weights in flat order, N(0, sigma^2) for a given sigma; otherwise the
one-layer rnn keeps the report's sigma = 0.01 and every other model takes torch-rnn's scale,
W_x, W_h ~ N(0, 1 / (in + m)) and V ~ N(0, 1 / m), which keeps the pre-activations' variance
near 1 whatever the sizes. Biases are zero but the LSTM's forget gate (1).

Dropout (p > 0, training only) multiplies each layer's output by a mask of Bernoulli(1 - p) /
(1 - p) before it feeds the layer above or the output (char-rnn's placement: the recurrence sees
the undropped h), drawn from the caller's generator (never the sampler's) as one (T, B, m) array
per layer; p = 0 draws nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tui_rnn.cells import gru, lstm, rnn
from tui_rnn.cells.layer import CellModule, LayerCache

CELLS = ("rnn", "lstm", "gru")
DTYPES = ("float64", "float32")
CELL_MODULES: dict[str, CellModule] = {"rnn": rnn, "lstm": lstm, "gru": gru}
REPORT_SIGMA = 0.01  # the report's initialisation scale, the one-layer rnn's default


def log_softmax(O: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Row-wise log softmax, shifted by the row maximum so exp never overflows (into `out`,
    which may be O itself)."""
    shifted = np.subtract(O, O.max(axis=-1, keepdims=True), out=out)
    shifted -= np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return shifted


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """What a model is: cell, sizes, layers and float type (its parameters follow)."""

    cell: str = "rnn"
    vocab_size: int
    hidden_size: int = 100
    layers: int = 1
    dtype: str = "float64"

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"--cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        for flag, value in (
            ("--hidden", self.hidden_size),
            ("--layers", self.layers),
            ("the vocabulary size", self.vocab_size),
        ):
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{flag} must be a whole number >= 1, got {value!r}")

    @property
    def module(self) -> CellModule:
        """The cell's module: its equations (rnn, lstm or gru)."""
        return CELL_MODULES[self.cell]

    @property
    def is_report_rnn(self) -> bool:
        """The report's model: one vanilla layer, with the report's parameter names."""
        return self.cell == "rnn" and self.layers == 1

    @property
    def state_width(self) -> int:
        """The width of one layer's state: m, or 2m for an LSTM ([h | c])."""
        return self.module.STATE_FACTOR * self.hidden_size

    def layer_names(self, layer: int) -> tuple[str, str, str]:
        """(input weights, recurrent weights, bias) of a layer: ("U", "W", "b") for the report's
        model, ("W_x.1", "W_h.1", "b.1") for an LSTM's second layer."""
        if self.is_report_rnn:
            return self.module.NAMES
        inputs, recurrent, bias = self.module.NAMES
        return f"{inputs}.{layer}", f"{recurrent}.{layer}", f"{bias}.{layer}"

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape, in the order of the flat vector."""
        m, K, G = self.hidden_size, self.vocab_size, self.module.GATES
        if self.is_report_rnn:
            return {"b": (m,), "c": (K,), "U": (m, K), "W": (m, m), "V": (K, m)}
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in range(self.layers):
            x_name, h_name, b_name = self.layer_names(layer)
            shapes[x_name] = (G * m, K if layer == 0 else m)
            shapes[h_name] = (G * m, m)
            shapes[b_name] = (G * m,)
        shapes["V"] = (K, m)
        shapes["c"] = (K,)
        return shapes

    @property
    def param_count(self) -> int:
        return sum(int(np.prod(shape)) for shape in self.param_shapes().values())

    def activation_count(self, seq_length: int, batch_size: int) -> int:
        """About how many numbers one update holds besides the parameters (an upper estimate,
        for refusing what cannot fit): per layer and step the gates, their gradients and a
        few state-sized arrays (h, c, masks); at the output the scores, the probabilities
        and their gradient."""
        m, K, G = self.hidden_size, self.vocab_size, self.module.GATES
        per_step = self.layers * (2 * G * m + 4 * m) + 3 * K
        return seq_length * batch_size * per_step

    def parameter_layer(self, name: str) -> int | None:
        """The layer a parameter belongs to (None for V and c)."""
        if name in ("V", "c"):
            return None
        return int(name.split(".")[1]) if "." in name else 0

    def default_sigma(self, name: str) -> float:
        """The standard deviation a weight is drawn with when no sigma is given."""
        if self.is_report_rnn:
            return REPORT_SIGMA
        m = self.hidden_size
        if name == "V":
            return 1.0 / np.sqrt(m)
        fan_in = self.vocab_size if self.parameter_layer(name) == 0 else m
        return 1.0 / np.sqrt(fan_in + m)


@dataclass(eq=False, slots=True)
class ForwardCache:
    """What the backward pass, the carried state and the inspector need from a forward pass."""

    inputs: np.ndarray  # (T, B) ids
    targets: np.ndarray  # (T, B) ids
    layers: list[LayerCache]  # one per layer (the cell's own)
    fed: list[np.ndarray]  # fed[l]: what layer l's output fed upwards (after dropout), (T, B, m)
    masks: list[np.ndarray | None]  # dropout masks, one per layer (None: no dropout)
    log_probabilities: np.ndarray  # (T, B, K)
    step_losses: np.ndarray  # (T, B): -log p_t[y_t]

    @property
    def probabilities(self) -> np.ndarray:
        """p_t, (T, B, K): a new array at each call (an evaluation never needs it)."""
        return np.exp(self.log_probabilities)

    @property
    def final_state(self) -> list[np.ndarray]:
        """One (B, state_width) array per layer: the state to carry into the next chunk."""
        return [layer.final_state for layer in self.layers]

    @property
    def activations(self) -> dict[str, np.ndarray]:
        """(T, B, m) arrays by name: "h.0", "h.1", and the cell's own ("c.0", "i.0", "r.0" ...)."""
        shown: dict[str, np.ndarray] = {}
        for layer, cache in enumerate(self.layers):
            shown[f"h.{layer}"] = cache.outputs
            for name, values in cache.activations().items():
                shown[f"{name}.{layer}"] = values
        return shown


@dataclass(eq=False)
class Model:
    """A model's spec and its parameters: named views into one flat vector."""

    spec: ModelSpec
    flat: np.ndarray
    params: dict[str, np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        needed = self.spec.param_count
        if self.flat.shape != (needed,):
            raise ValueError(
                f"flat vector has shape {self.flat.shape}, the model needs ({needed},)"
            )
        self.params, start = {}, 0
        for name, shape in self.spec.param_shapes().items():
            size = int(np.prod(shape))
            self.params[name] = self.flat[start : start + size].reshape(shape)
            start += size
        self._cell = self.spec.module
        self._layers: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for layer in range(self.spec.layers):
            inputs, recurrent, bias = self.spec.layer_names(layer)
            self._layers.append((self.params[inputs], self.params[recurrent], self.params[bias]))

    # -- making one ------------------------------------------------------------------------------
    @classmethod
    def zeros(cls, spec: ModelSpec) -> Model:
        return cls(spec, np.zeros(spec.param_count, dtype=spec.dtype))

    @classmethod
    def from_flat(cls, spec: ModelSpec, flat: np.ndarray) -> Model:
        """Views into `flat` (no copy): writing to the model writes to the vector."""
        return cls(spec, flat)

    def copy(self) -> Model:
        return Model(self.spec, self.flat.copy())

    def init(self, rng: np.random.Generator, sigma: float | None = None) -> Model:
        """Draw the weights in flat order (see the module docstring); biases zero."""
        self.flat[...] = 0.0
        for name, weights in self.params.items():
            if weights.ndim == 2:
                scale = self.spec.default_sigma(name) if sigma is None else sigma
                with np.errstate(over="ignore"):  # a huge --sigma: refused by the caller
                    weights[...] = scale * rng.standard_normal(weights.shape)
        for layer in range(self.spec.layers):
            self.spec.module.forget_bias(self.layer(layer)[2])
        return self

    def __getitem__(self, name: str) -> np.ndarray:
        return self.params[name]

    def __getattr__(self, name: str) -> np.ndarray:
        """model.W, model.U ...: the report's names read as in its equations (any parameter
        whose name is an identifier)."""
        params = self.__dict__.get("params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(name)

    @property
    def hidden_size(self) -> int:
        return self.spec.hidden_size

    @property
    def vocab_size(self) -> int:
        return self.spec.vocab_size

    def layer(self, layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(input weights, recurrent weights, bias) of a layer."""
        return self._layers[layer]

    @property
    def dtype(self) -> np.dtype:
        return self.flat.dtype

    def zero_state(self, batch: int = 1) -> list[np.ndarray]:
        """One (batch, state_width) array of zeros per layer."""
        width = self.spec.state_width
        return [np.zeros((batch, width), dtype=self.dtype) for _ in range(self.spec.layers)]

    # -- training ----------------------------------------------------------------------------------
    def input_projection(self, layer: int, X: np.ndarray) -> np.ndarray:
        """W_x x_t + b for every t and stream: (T, B, G m). Layer 0 looks up columns by id."""
        W_x, _, b = self.layer(layer)
        if layer == 0:  # rows of W_x^T (+ b)
            if X.size < len(W_x.T):  # few: gather, then add b (the report's order)
                XW = W_x.T[X]
                XW += b
                return XW
            return np.take(W_x.T + b, X, axis=0)  # many: add b to the table once (same sums)
        T, B, m = X.shape
        XW = (X.reshape(T * B, m) @ W_x.T).reshape(T, B, -1)
        XW += b
        return XW

    def output_losses(self, top: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(log p_t, -log p_t[y_t]) for every t and stream from the top layer's output."""
        T, B, m = top.shape
        logits = top.reshape(T * B, m) @ self["V"].T
        logits += self["c"]
        log_p = log_softmax(logits, out=logits)
        picked = log_p[np.arange(T * B), targets.reshape(-1)]
        return log_p.reshape(T, B, -1), -picked.reshape(T, B)

    def forward(
        self,
        inputs: npt.ArrayLike,
        targets: npt.ArrayLike,
        state: Sequence[np.ndarray],
        *,
        dropout: float = 0.0,
        dropout_rng: np.random.Generator | None = None,
        keep: bool = True,
    ) -> tuple[float, ForwardCache]:
        """(loss, cache) for inputs and targets (T, B) from `state` (one array per layer).

        loss = mean over the B streams of each stream's summed step losses (B = 1: the
        report's loss). keep=False keeps no gates (evaluation: no backward pass).
        """
        ids, target_ids = _ids(inputs), _ids(targets)
        rng = dropout_rng if dropout else None  # p = 0 draws nothing
        if dropout and rng is None:
            raise ValueError("dropout needs a dropout_rng (its own stream, not the sampler's)")
        layers: list[LayerCache] = []
        fed: list[np.ndarray] = []
        masks: list[np.ndarray | None] = []
        X = ids  # h^0_t = x_t
        for layer, (_, W_h, _) in enumerate(self._layers):
            XW = self.input_projection(layer, X)
            cache = self._cell.layer_forward(XW, W_h, state[layer], keep=keep)  # h^l_t
            X, mask = cache.outputs, None
            if rng is not None:
                keep_p = 1.0 - dropout
                drawn = rng.random(X.shape, dtype=_real(self.dtype)) < keep_p
                mask = drawn.astype(self.dtype) / np.asarray(keep_p, dtype=self.dtype)
                X = X * mask  # d(h^l_t)
            layers.append(cache)
            fed.append(X)
            masks.append(mask)
        log_p, step_losses = self.output_losses(X, target_ids)  # log p_t, -log p_t[y_t]
        loss = step_losses.sum() / ids.shape[1]  # the mean over streams of their sums
        return loss.item(), ForwardCache(ids, target_ids, layers, fed, masks, log_p, step_losses)

    def backward(self, cache: ForwardCache, grads: Model | np.ndarray | None = None) -> Model:
        """d loss / d parameters, written into `grads` (a Model or a flat array; views)."""
        if grads is None:
            grads = Model(self.spec, np.zeros_like(self.flat))
        elif isinstance(grads, np.ndarray):
            grads = Model(self.spec, grads)
        T, B = cache.inputs.shape
        K, spec = self.spec.vocab_size, self.spec
        G = cache.probabilities.reshape(T * B, K)  # a new array: changed in place
        G[np.arange(T * B), cache.targets.reshape(-1)] -= 1.0  # dL/do_t = p_t - y_t
        if B > 1:
            G /= B  # the mean over streams
        top = cache.fed[-1].reshape(T * B, -1)
        np.matmul(G.T, top, out=grads["V"])  # dL/dV = sum_t g_t h_t^T
        G.sum(axis=0, out=grads["c"])
        dX = (G @ self["V"]).reshape(T, B, -1)  # dL/d(what fed V)
        for layer in range(spec.layers - 1, -1, -1):
            W_x, W_h, _ = self.layer(layer)
            dW_x, dW_h, db = grads.layer(layer)
            mask = cache.masks[layer]
            if mask is not None:
                dX = dX * mask
            dA = spec.module.layer_backward(cache.layers[layer], W_h, dX, dW_h).reshape(T * B, -1)
            dA.sum(axis=0, out=db)
            if layer == 0:
                dW_x[...] = column_sums(cache.inputs, dA, K).T
            else:
                np.matmul(dA.T, cache.fed[layer - 1].reshape(T * B, -1), out=dW_x)
                dX = (dA @ W_x).reshape(T, B, -1)
        return grads

    def loss(
        self, inputs: npt.ArrayLike, targets: npt.ArrayLike, state: Sequence[np.ndarray]
    ) -> float:
        """The loss alone (no gates kept): evaluation."""
        return self.evaluate(inputs, targets, state)[0]

    def evaluate(
        self, inputs: npt.ArrayLike, targets: npt.ArrayLike, state: Sequence[np.ndarray]
    ) -> tuple[float, list[np.ndarray]]:
        """(loss, final state) without keeping gates: validation over held-out text."""
        loss, cache = self.forward(inputs, targets, state, keep=False)
        return loss, cache.final_state

    # -- one step (sampling, the inspector, reference loops) -----------------------------------
    def step(
        self, state: Sequence[np.ndarray], x: npt.ArrayLike
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Advance every layer by one input id per stream (x: (B,)); return (state, logits).

        No dropout. At B = 1 this is sampling.step's arithmetic to the bit (matrix-vector).
        """
        x = np.asarray(x, dtype=np.intp).reshape(-1)
        vector = len(x) == 1
        m, cell, new = self.spec.hidden_size, self.spec.module, []
        below = None
        for layer in range(self.spec.layers):
            W_x, W_h, b = self.layer(layer)
            s = state[layer][0] if vector else state[layer]
            if layer == 0:
                inp = W_x[:, x[0]] if vector else W_x.T[x]
            else:
                inp = W_x @ below if vector else below @ W_x.T
            s = cell.step(inp, W_h, b, s)
            below = s[..., :m]
            new.append(s[None] if vector else s)
        V, c = self["V"], self["c"]
        logits = V @ below + c if vector else below @ V.T + c
        return new, (logits[None] if vector else logits)


def _ids(values: npt.ArrayLike) -> np.ndarray:
    """Ids as a (T, B) integer array ((T,) is one stream)."""
    ids = np.asarray(values)
    if ids.dtype.kind not in "iu":
        ids = ids.astype(np.intp)
    return ids[:, None] if ids.ndim == 1 else ids


def _real(dtype: npt.DTypeLike) -> np.dtype:
    return np.finfo(dtype).dtype  # complex128 -> float64


def column_sums(ids: np.ndarray, dA: np.ndarray, K: int) -> np.ndarray:
    """sum_t dA_t x_t^T as (K, G m): row k adds the dA rows of the steps whose input is k.

    That scatter-add is np.add.at(out, ids, dA), slow. Two faster ways do the same sums, in the
    same order ((0 + row_first) + ... + row_last, rows in (time, stream) order): the rows sorted
    by character (stable) and each character's block summed down its rows, for many rows per
    character (a batch of wide LSTM gates); else one bincount over the flat indices
    (accumulating in float64). In float64 both give the same bits (tested).
    """
    ids = ids.reshape(-1)
    rows, width = dA.shape
    if rows * width >= 2**15:
        counts = np.bincount(ids, minlength=K)
        present = np.flatnonzero(counts)
        if rows >= 8 * len(present):
            by_id = np.take(dA, np.argsort(ids, kind="stable"), axis=0)
            ends = np.cumsum(counts)
            sums = np.zeros((K, width), dA.dtype)
            for k in present:
                block = by_id[ends[k] - counts[k] : ends[k]]
                np.add.reduce(block, axis=0, out=sums[k], initial=0.0)
            return sums
    cells = ids.astype(np.intp)[:, None] * width + np.arange(width)
    sums = np.bincount(cells.ravel(), weights=dA.ravel(), minlength=K * width)
    return sums.reshape(K, width).astype(dA.dtype, copy=False)
