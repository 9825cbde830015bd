"""The vanilla (Elman) recurrent layer: the report's cell.

For a layer with input x_t (a character for layer 0, the layer below's h_t otherwise):

    a_t = W h_{t-1} + U x_t + b          (1)
    h_t = tanh(a_t)                      (2)

Shapes: U (m x in), W (m x m), b (m). Time runs along the first axis and the B streams along
the second: XU[t] = U x_t + b for every stream is computed for the whole sequence before the
loop (layer 0 by row lookup of U's columns, never one-hot); only the recurrence loops.

At B = 1 the loops take NumPy's matrix-vector path, the report's arithmetic to the bit
(tests/report_reference.py): a (1, m) state would make W h a matrix-matrix product, with other
rounding.
"""

from __future__ import annotations

import numpy as np

from tui_rnn.cells import layer
from tui_rnn.cells.layer import Perturb

NAMES = ("U", "W", "b")  # input weights, recurrent weights, bias of a layer
GATES = 1  # rows of U, W, b per hidden unit
STATE_FACTOR = 1  # the state is h


def layer_forward(
    XU: np.ndarray,
    W: np.ndarray,
    state0: np.ndarray,
    perturb: Perturb | None = None,
    keep: bool = True,
) -> layer.LayerCache:
    """h_t for t = 1..T from XU[t] = U x_t + b (T, B or 1, m) and h_0 = state0 (B, m).

    perturb(t, src, lo, hi, a) may add to the pre-activation a_t (rows lo:hi, source h_{t-1})
    before (2): the gradient check's perturbed copies use it. (keep: the layer keeps only H.)
    """
    T, (B, m) = len(XU), state0.shape
    H = np.empty((T + 1, B, m), dtype=np.result_type(XU, W, state0))
    H[0] = state0
    if B == 1 and perturb is None:  # vectors per step: (T + 1, m) and (T, m) views
        dot, add, tanh = np.dot, np.add, np.tanh
        for h_prev, h, xu in zip(H[:-1, 0], H[1:, 0], XU[:, 0], strict=True):
            dot(W, h_prev, out=h)  # (1): np.dot(W, h) + XU, the report's order and rounding
            add(h, xu, out=h)
            tanh(h, out=h)  # (2)
        return layer.LayerCache(H)
    WT = np.ascontiguousarray(W.T)  # a transposed view would make every product slower
    for t, (h_prev, a, xu) in enumerate(zip(H[:-1], H[1:], XU, strict=True)):
        np.matmul(h_prev, WT, out=a)  # (1): W h_{t-1} ...
        a += xu  # ... + U x_t + b
        if perturb is not None:
            perturb(t, h_prev, 0, m, a)
        np.tanh(a, out=a)  # (2)
    return layer.LayerCache(H)


def layer_backward(
    cache: layer.LayerCache, W: np.ndarray, dH: np.ndarray, dW: np.ndarray
) -> np.ndarray:
    """dL/da_t for every t (T, B, m) from dL/dh_t through the layer's output; dL/dW into dW.

    dL/dh_t = dH[t] + W^T dL/da_{t+1};  dL/da_t = dL/dh_t * (1 - h_t^2);
    dL/dW = sum_t dL/da_t h_{t-1}^T (one product over all t and streams).
    """
    H = cache.H[1:]
    T, B, m = H.shape
    dtanh = 1.0 - H * H  # tanh'(a_t) = 1 - h_t^2
    dA = np.empty_like(H)
    da_next: np.ndarray | None  # dL/da_{t+1}
    if B == 1:
        da_next, carried = np.zeros(m, dtype=H.dtype), np.empty(m, dtype=H.dtype)
        dot, add, multiply = np.dot, np.add, np.multiply
        # (dH + W^T da_{t+1}) * tanh', the report's order and rounding, from t = T down to 1
        for da, dh, dtanh_t in zip(dA[::-1, 0], dH[::-1, 0], dtanh[::-1, 0], strict=True):
            dot(da_next, W, out=carried)
            add(dh, carried, out=da)
            da_next = multiply(da, dtanh_t, out=da)
    else:
        carried, da_next = np.zeros((B, m), dtype=H.dtype), None
        for da, dh, dtanh_t in zip(dA[::-1], dH[::-1], dtanh[::-1], strict=True):
            if da_next is not None:
                np.matmul(da_next, W, out=carried)  # W^T dL/da_{t+1}, as rows
            np.add(carried, dh, out=da)
            da_next = np.multiply(da, dtanh_t, out=da)
    np.matmul(dA.reshape(T * B, m).T, cache.H[:-1].reshape(T * B, m), out=dW)
    return dA


def layer_tangent(
    cache: layer.LayerCache,
    W: np.ndarray,
    dXU: np.ndarray | None,
    start: int,
    perturb: Perturb | None,
) -> np.ndarray:
    """The forward-mode derivative of h_t (per copy) from step `start` on: what the complex
    step measures, since Im tanh(a + i da) = tanh'(a) da once da^2 underflows against a.

    da_t = W dh_{t-1} + dXU[t] (+ perturb(t, h_{t-1}, ...));  dh_t = (1 - h_t^2) da_t.
    cache holds the unperturbed trajectory (B = 1); returns dh (T - start, n, m).
    """
    H = cache.H
    T, m = len(H) - 1, H.shape[2]
    dH = np.zeros((T - start + 1, layer.copies(dXU, perturb), m))
    dtanh = 1.0 - H[start + 1 :] * H[start + 1 :]
    WT = np.ascontiguousarray(W.T)
    for t in range(start, T):
        da = np.matmul(dH[t - start], WT, out=dH[t - start + 1])
        if dXU is not None:
            da += dXU[t - start]
        if perturb is not None:
            perturb(t, H[t], 0, m, da)
        da *= dtanh[t - start]
    return dH[1:]


def step(inp: np.ndarray, W: np.ndarray, b: np.ndarray, state: np.ndarray) -> np.ndarray:
    """One step for sampling: h = tanh(W h + U x + b), with inp = U x (sampling.step's order).

    state and inp are (m,) vectors at B = 1 (the matrix-vector path) or (B, m).
    """
    if state.ndim == 1:
        return np.tanh(W @ state + inp + b)
    return np.tanh(state @ W.T + inp + b)


def forget_bias(b: np.ndarray) -> None:
    """No gate to open: the vanilla layer's bias starts at zero."""
