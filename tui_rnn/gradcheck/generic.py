"""Numerical gradients of any model (rnn, lstm, gru; any number of layers), batched.

The loss is Model.loss on the first T characters from a zero state, in float64; parameters are
named by cell (W_x.0, W_h.1, b.1, V, c, ...). Perturbed copies are the rows of a batch run
through the cells' own layer code, so any cell the model knows is checked by its own forward
pass, with the structure of a one-entry perturbation exploited as in vanilla: a rank-one
change added to one pre-activation row (the `perturb` hook of layer_forward), copies of layer l
starting from the unperturbed states of layers below it, V and c with no recurrence at all,
and every length as a prefix sum of per-step loss changes from the step the entry is first read.

Complex step: with h = 1e-20 the real part of every perturbed copy equals the unperturbed
trajectory (h^2 underflows against it), and the imaginary part is exactly the forward-mode
derivative times h, so only the imaginary parts are propagated (each cell's `layer_tangent`)
from the shared real trajectory, and the softmax is taken in genuine complex arithmetic
(batch.imag_step_losses). The tests hold it equal to a plain complex128 forward pass, entry by
entry, for every cell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from tui_rnn.cells.model import ForwardCache, Model
from tui_rnn.gradcheck import batch
from tui_rnn.gradcheck.common import default_h
from tui_rnn.gradcheck.vanilla import output_chunk


@dataclass
class Base:
    """The unperturbed float64 model and its trajectory (one stream) on the longest sequence."""

    model: Model
    inputs: np.ndarray  # (T,)
    targets: np.ndarray  # (T,)
    cache: ForwardCache
    XW: list[np.ndarray]  # each layer's input projection W_x x_t + b, (T, 1, G m)
    H_top: np.ndarray  # (T, m): the top layer's states
    O: np.ndarray  # (T, K): the logits
    method: str
    h: float


def make_base(model: Model, inputs, targets, method: str, h: float) -> Base:
    _, cache = model.forward(inputs, targets, model.zero_state(1))
    XW, X = [], inputs[:, None]
    for layer in range(model.spec.layers):
        XW.append(model.input_projection(layer, X))
        X = cache.fed[layer]
    H_top = cache.fed[-1][:, 0]
    O = H_top @ model["V"].T + model["c"]
    return Base(model, inputs, targets, cache, XW, H_top, O, method, h)


def layer_of(model: Model, name: str) -> int:
    """The layer a weight or bias belongs to (V and c belong to none)."""
    layer = model.spec.parameter_layer(name)
    if layer is None:
        raise ValueError(f"{name} belongs to no layer")
    return layer


def entries(model: Model, inputs: np.ndarray, name: str):
    """(flat indices, row i, column j, first step the entry acts at) of a parameter."""
    spec, T = model.spec, len(inputs)
    shape = model[name].shape
    index = np.arange(model[name].size)
    if name == "c":
        return index, index, np.zeros_like(index), np.zeros_like(index)
    if name == "V":
        k, j = np.divmod(index, shape[1])
        return index, k, j, np.zeros_like(index)
    layer = layer_of(model, name)
    role = spec.layer_names(layer).index(name)  # 0: input weights, 1: recurrent, 2: bias
    if role == 2:
        return index, index, np.zeros_like(index), np.zeros_like(index)
    i, j = np.divmod(index, shape[1])
    if role == 1:  # the state starts at 0: W_h acts from the second step
        return index, i, j, np.ones_like(index)
    if layer > 0:
        return index, i, j, np.zeros_like(index)
    first = np.full(shape[1], T, np.intp)  # W_x.0[:, k] acts where x_t = k first (never: T)
    seen = np.unique(inputs, return_index=True)
    first[seen[0]] = seen[1]
    return index, i, j, first[j]


class Perturbation:
    """The `perturb` hook: adds copy r's rank-one change to its pre-activation row i_r.

    Copy r perturbs one entry (row i_r, column j_r) by delta_r; at step t its pre-activation
    row i_r grows by delta_r times: 1 (a bias), x_t[j_r] (input weights: for layer 0, 1 where
    x_t = j_r), or src[j_r] (recurrent weights: src is what the product reads, h_{t-1} or, for
    the GRU's candidate rows, r * h_{t-1}; one row per copy, or the unperturbed one).
    """

    def __init__(self, role: int, layer: int, i, j, delta, offset: int, base: Base, stop):
        self.role, self.i, self.j, self.delta, self.offset = role, i, j, delta, offset
        self.copies = len(i)
        self.stop, self.calls = stop, 0  # the stop flag is looked at every STOP_EVERY calls
        if role == 0:
            self.x = base.inputs if layer == 0 else base.cache.fed[layer - 1][:, 0]
        self.layer = layer
        self._blocks: dict[tuple[int, int], np.ndarray] = {}

    def __call__(self, t: int, src: np.ndarray, lo: int, hi: int, a: np.ndarray) -> None:
        self.calls += 1
        batch.check_stop(self.stop, self.calls)
        t += self.offset
        inside = self._blocks.get((lo, hi))
        if inside is None:
            inside = self._blocks[(lo, hi)] = np.flatnonzero((self.i >= lo) & (self.i < hi))
        if self.role == 0 and self.layer == 0:  # only copies whose column is this input
            inside = inside[self.j[inside] == self.x[t]]
            a[inside, self.i[inside] - lo] += self.delta[inside]
            return
        if self.role == 2:
            factor = 1.0
        elif self.role == 0:
            factor = self.x[t, self.j[inside]]
        else:  # the same rows as the copies, or the unperturbed source for all of them
            factor = src[inside if len(src) > 1 else 0, self.j[inside]]
        a[inside, self.i[inside] - lo] += self.delta[inside] * factor


def _layers_above(base: Base, first: int, X: np.ndarray, s0: int) -> np.ndarray:
    """Run layers first..L-1 on per-copy inputs X (T', n, m) from their unperturbed states."""
    model, cell = base.model, base.model.spec.module
    for layer in range(first, model.spec.layers):
        state0 = np.repeat(base.cache.layers[layer].state_at(s0), X.shape[1], axis=0)
        XW = model.input_projection(layer, X)
        X = cell.layer_forward(XW, model.layer(layer)[1], state0, keep=False).outputs
    return X


def _tangents_above(base: Base, first: int, dX: np.ndarray, s0: int) -> np.ndarray:
    """The tangents of layers first..L-1 driven by the tangent dX (T', n, m) of their input."""
    model, cell = base.model, base.model.spec.module
    for layer in range(first, model.spec.layers):
        W_x, W_h, _ = model.layer(layer)
        T_, n, m = dX.shape
        dXW = (dX.reshape(T_ * n, m) @ W_x.T).reshape(T_, n, -1)
        dX = cell.layer_tangent(base.cache.layers[layer], W_h, dXW, s0, None)
    return dX


def _recurrent_chunk(base: Base, name: str, i, j, start, lengths, stop) -> np.ndarray:
    """Prefix loss changes for copies perturbing entries of one layer's W_x, W_h or b."""
    model, spec = base.model, base.model.spec
    layer = layer_of(model, name)
    role = spec.layer_names(layer).index(name)
    cell, W_h = spec.module, model.layer(layer)[1]
    n, s0 = len(i), int(start.min())
    if base.method == "central":  # rows 0..n-1: +h, n..2n-1: -h
        delta = np.concatenate([np.full(n, base.h), np.full(n, -base.h)])
        hook = Perturbation(role, layer, np.tile(i, 2), np.tile(j, 2), delta, s0, base, stop)
        state0 = np.repeat(base.cache.layers[layer].state_at(s0), 2 * n, axis=0)
        X = cell.layer_forward(base.XW[layer][s0:], W_h, state0, hook, keep=False).outputs
        top = _layers_above(base, layer + 1, X, s0)
    else:  # the imaginary parts only: tangents of the unperturbed trajectory
        hook = Perturbation(role, layer, i, j, np.full(n, base.h), 0, base, stop)
        dX = cell.layer_tangent(base.cache.layers[layer], W_h, None, s0, hook)
        top = _tangents_above(base, layer + 1, dX, s0)
    return _output_changes(base, top, n, s0, start, lengths)


def _output_changes(base: Base, top: np.ndarray, n: int, s0: int, start, lengths) -> np.ndarray:
    """Per-step loss changes from the copies' top states (central: 2n rows, their states;
    complex: n rows, their tangents), summed into prefixes."""
    model, T = base.model, len(base.inputs)
    steps, rows, m = top.shape
    K = model.spec.vocab_size
    change = np.empty((n, steps))
    for block in batch.time_blocks(steps, rows * K * 8 * 4):
        span = block.stop - block.start
        O = (top[block].reshape(span * rows, m) @ model["V"].T).reshape(span, rows, K)
        O = O.transpose(1, 0, 2)  # (copies, time, vocabulary)
        y = base.targets[s0:][block]
        if base.method == "central":
            O += model["c"]
            losses = batch.step_losses(O, y)
            change[:, block] = losses[:n] - losses[n:]
        else:
            change[:, block] = batch.imag_step_losses(base.O[s0:][block], O, y)
    return batch.prefix_changes(change, start, s0, T, lengths)


def chunk_bytes(base_model: Model, T: int, name: str) -> float:
    """Bytes of one perturbed copy (both rows of a central pair) in a chunk of `name`."""
    spec = base_model.spec
    prefix = 8 * T * 3
    if name in ("c", "V"):
        return prefix + 8 * 2 * spec.vocab_size * 3
    above = spec.layers - layer_of(base_model, name)
    m, G = spec.hidden_size, spec.module.GATES
    per_step = above * (2 * m + G * m) + G * m
    return prefix + 8 * T * 2 * per_step * 2  # x2: the half-chunk rule


def entry_seconds(model: Model, inputs, name: str, method: str) -> np.ndarray:
    """Estimated seconds of each entry of `name` (0: never read, gn = 0 for free)."""
    spec, T = model.spec, len(inputs)
    m, K, G = spec.hidden_size, spec.vocab_size, spec.module.GATES
    index, _, _, start = entries(model, inputs, name)
    output = batch.softmax_elements(K, method)
    copies = batch.chunk_size(PATH, model, T, name)
    if name in ("c", "V"):
        per_step = batch.step_seconds(0, output, 1, copies)
    else:  # layers l..L-1 and the output, for two rows (central) or one tangent (complex)
        layers = spec.layers - layer_of(model, name)
        rows = 2 if method == "central" else 1
        flops = rows * ((2 * layers - 1) * 2 * G * m * m + 2 * m * K)
        elements = rows * layers * G * m * (8 if method == "central" else 12) + output
        per_step = batch.step_seconds(flops, elements + rows * 4 * K, layers, copies)
    cost = np.zeros(model[name].size)
    cost[index] = np.where(start < T, (T - start) * per_step, 0.0)
    return cost


def numerical_gradients(
    model: Model,
    inputs,
    targets,
    seq_lengths: Sequence[int],
    method: str = "central",
    h: float | None = None,
    names: Sequence[str] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_parameter: Callable[[str, np.ndarray], None] | None = None,
    workers: int | None = None,
    selections: dict | None = None,
) -> dict[str, np.ndarray]:
    """Numerical gradients of a model's parameters: {name: (len(seq_lengths), *shape)}.

    The model is taken in float64. `selections` (name -> Selection) limits the work to some
    entries (the others are left 0). on_parameter(name, grads) is called as each parameter
    completes; when should_stop() turns true the parameters finished so far are returned.
    """

    h = default_h(method) if h is None else h
    model = float64_model(model)
    names = list(model.params) if names is None else list(names)
    return batch.numerical_gradients(
        PATH, model, inputs, targets, seq_lengths, method, h, names, should_stop, on_parameter,
        workers, selections,
    )  # fmt: skip


def float64_model(model: Model) -> Model:
    """The model in float64 (a copy; the check never changes the caller's parameters)."""

    spec = replace(model.spec, dtype="float64")
    return Model(spec, model.flat.astype(np.float64, copy=True))


def analytic_gradients(model: Model, inputs, targets) -> Model:
    """The model's own backward pass: the gradient of the loss from a zero state (float64)."""
    model = float64_model(model)
    _, cache = model.forward(inputs, targets, model.zero_state(1))
    return model.backward(cache)


def numerical_gradients_loop(
    model: Model, inputs, targets, method: str = "central", h: float | None = None, entries=None
) -> np.ndarray:
    """Numerical gradient of Model.loss as a flat vector, one entry at a time (the reference):
    central differences in float64, or a genuinely complex128 model for the complex step.

    `entries` (flat indices) limits the work to a subset; the others are left NaN.
    """

    h = default_h(method) if h is None else h
    model = float64_model(model)
    entries = range(model.flat.size) if entries is None else entries
    grad = np.full(model.flat.size, np.nan)
    if method == "central":
        probe = model.copy()
        state = probe.zero_state(1)
        for e in entries:
            probe.flat[e] = model.flat[e] + h
            plus = probe.loss(inputs, targets, state)
            probe.flat[e] = model.flat[e] - h
            minus = probe.loss(inputs, targets, state)
            probe.flat[e] = model.flat[e]
            grad[e] = (plus - minus) / (2 * h)
    else:
        probe = Model(model.spec, model.flat.astype(np.complex128))
        state = probe.zero_state(1)
        for e in entries:
            probe.flat[e] = model.flat[e] + 1j * h
            grad[e] = probe.loss(inputs, targets, state).imag / h
            probe.flat[e] = model.flat[e]
    return grad


PATH = batch.Path(
    make_base=make_base,
    entries=entries,
    chunk_bytes=chunk_bytes,
    shape=lambda model, name: model[name].shape,
    output_chunk=lambda base, name, k, j, lengths, stop: output_chunk(
        base.H_top, base.O, base.targets, base.method, base.h, name, k, j, lengths, stop
    ),
    recurrent_chunk=_recurrent_chunk,
)
