"""The LSTM layer (Hochreiter and Schmidhuber 1997, with a forget gate) in torch-rnn's layout.

For a layer with input x_t, state [h_{t-1} | c_{t-1}] and gate order i, f, o, g:

    a_t = W_x x_t + W_h h_{t-1} + b      (1)  the four gates' pre-activations, (4m)
    i_t = sigma(a_t[i])                  (2)  input gate
    f_t = sigma(a_t[f])                  (3)  forget gate
    o_t = sigma(a_t[o])                  (4)  output gate
    g_t = tanh(a_t[g])                   (5)  candidate
    c_t = f_t * c_{t-1} + i_t * g_t      (6)
    h_t = o_t * tanh(c_t)                (7)

Shapes: W_x (4m x in), W_h (4m x m), b (4m), rows in the order i, f, o, g: the three sigmoid
gates are one block. W_x x_t + b for the whole sequence is one product before the loop (layer 0:
a row lookup of W_x's columns); each step is one product for the four gates, whose results are
stored gate-major, (4, B, m), so that (2)-(7) run on whole contiguous blocks rather than on
column slices of a (B, 4m) row. sigma(a) = (1 + tanh(a / 2)) / 2 never overflows. The forget
gate's bias starts at 1 (torch-rnn, Jozefowicz et al. 2015): the cell remembers from the first
update.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tui_rnn.cells import layer
from tui_rnn.cells.layer import Perturb, kept

NAMES = ("W_x", "W_h", "b")  # input weights, recurrent weights, bias of a layer
GATES = 4  # i, f, o, g: rows of W_x, W_h, b per hidden unit
STATE_FACTOR = 2  # the state is [h | c]


@dataclass(eq=False)
class LayerCache(layer.LayerCache):
    C: np.ndarray  # (T + 1, B, m): C[0] = c_0, C[t + 1] = c_t
    gates: np.ndarray | None  # (T, 4, B, m): i, f, o, g after (2)-(5) (None: not kept)
    tanh_c: np.ndarray | None  # (T, B, m)

    def state_at(self, t: int) -> np.ndarray:
        """The (B, 2m) state [h | c] after t steps (t = 0: the initial state)."""
        return np.concatenate([self.H[t], self.C[t]], axis=-1)

    def activations(self) -> dict[str, np.ndarray]:
        shown = {"c": self.C[1:]}
        if self.gates is not None:
            for k, name in enumerate("ifog"):
                shown[name] = self.gates[:, k]
        return shown


def cell(
    a: np.ndarray, c_prev: np.ndarray, c: np.ndarray, tanh_c: np.ndarray, h: np.ndarray
) -> None:
    """(2)-(7) for one step, in place: a (4, ..., m) holds a_t gate by gate on entry and i, f, o,
    g on return."""
    i, f, o, g = a
    ifo = a[:3]
    ifo *= 0.5
    np.tanh(ifo, out=ifo)
    ifo *= 0.5
    ifo += 0.5  # (2)-(4): sigma(a) = (1 + tanh(a / 2)) / 2
    np.tanh(g, out=g)  # (5)
    np.multiply(f, c_prev, out=c)  # (6): f * c_{t-1} ...
    np.multiply(i, g, out=tanh_c)
    c += tanh_c  # ... + i * g
    np.tanh(c, out=tanh_c)
    np.multiply(o, tanh_c, out=h)  # (7)


def by_gate(rows: np.ndarray) -> np.ndarray:
    """A (..., 4m) array of pre-activations seen gate-major, (4, ..., m) (a view)."""
    return np.moveaxis(rows.reshape(*rows.shape[:-1], 4, -1), -2, 0)


def layer_forward(
    XW: np.ndarray,
    W_h: np.ndarray,
    state0: np.ndarray,
    perturb: Perturb | None = None,
    keep: bool = True,
) -> LayerCache:
    """h_t, c_t for t = 1..T from XW[t] = W_x x_t + b (T, B or 1, 4m), state0 = [h_0 | c_0].

    perturb(t, src, lo, hi, a) may add to a_t (rows lo:hi = one gate, source h_{t-1}) before
    (2)-(5). keep=False keeps only h and c (evaluation, the gradient check): no backward pass.
    """
    T, (B, width) = len(XW), state0.shape
    m = width // 2
    dtype = np.result_type(XW, W_h, state0)
    H = np.empty((T + 1, B, m), dtype)
    C = np.empty((T + 1, B, m), dtype)
    H[0], C[0] = state0[:, :m], state0[:, m:]
    gates = np.empty((T if keep else 1, 4, B, m), dtype)
    tanh_c = np.empty((T if keep else 1, B, m), dtype)
    W_hT = np.ascontiguousarray(W_h.reshape(4, m, m).transpose(0, 2, 1))  # each gate's W_h^T
    for t in range(T):
        k = t if keep else 0
        a = np.matmul(H[t], W_hT, out=gates[k])  # (1): W_h h_{t-1} for the four gates ...
        a += by_gate(XW[t])  # ... + W_x x_t + b
        if perturb is not None:
            for gate in range(4):
                perturb(t, H[t], gate * m, (gate + 1) * m, a[gate])
        cell(a, C[t], C[t + 1], tanh_c[k], H[t + 1])
    return LayerCache(H, C, gates if keep else None, tanh_c if keep else None)


def layer_backward(
    cache: LayerCache, W_h: np.ndarray, dH: np.ndarray, dW_h: np.ndarray
) -> np.ndarray:
    """dL/da_t for every t (T, B, 4m) from dL/dh_t through the layer's output; dL/dW_h into
    dW_h.

    dh_t  = dH[t] + W_h^T da_{t+1}                        (7 and 1 of the next step)
    dc_t  = dc_{t+1} * f_{t+1} + dh_t * o_t * (1 - tanh^2 c_t)       (7, 6 of the next step)
    da[o] = dh_t * tanh c_t * o (1 - o)                   (7, 4)
    da[i] = dc_t * g_t * i (1 - i);  da[f] = dc_t * c_{t-1} * f (1 - f)    (6, 2, 3)
    da[g] = dc_t * i_t * (1 - g^2)                        (6, 5)
    dL/dW_h = sum_t da_t h_{t-1}^T (one product over all t and streams)
    The factors that do not depend on the recurrence are computed for all t before the loop.
    """
    gates, tanh_c = kept(cache.gates), kept(cache.tanh_c)
    T, B, m = tanh_c.shape
    i, f, o, g = (gates[:, k] for k in range(4))
    dc_dh = np.multiply(tanh_c, tanh_c)  # d c-path of (7): o (1 - tanh^2 c)
    np.subtract(1.0, dc_dh, out=dc_dh)
    dc_dh *= o
    factor = np.empty_like(gates)  # da = factor * dc_t (gates i, f, g) or * dh_t (gate o)
    sigmoid_slopes = factor[:, :3]  # s (1 - s) for i, f, o at once ...
    np.subtract(1.0, gates[:, :3], out=sigmoid_slopes)
    sigmoid_slopes *= gates[:, :3]
    factor[:, 0] *= g  # ... times g_t: da[i]
    factor[:, 1] *= cache.C[:-1]  # ... times c_{t-1}: da[f]
    factor[:, 2] *= tanh_c  # ... times tanh c_t: da[o]
    np.multiply(g, g, out=factor[:, 3])  # i (1 - g^2): da[g]
    np.subtract(1.0, factor[:, 3], out=factor[:, 3])
    factor[:, 3] *= i
    dA = np.empty((T, B, 4 * m), dtype=gates.dtype)  # rows: the layout of W_x, W_h and b
    dh = np.zeros((B, m), dtype=gates.dtype)
    dc = np.zeros((B, m), dtype=gates.dtype)
    dc_from_h = np.empty((B, m), dtype=gates.dtype)
    for t in range(T - 1, -1, -1):
        if t < T - 1:
            np.matmul(dA[t + 1], W_h, out=dh)  # W_h^T da_{t+1}, as rows
            dc *= f[t + 1]  # dc_{t+1} * f_{t+1}
        dh += dH[t]  # dh_t
        dc += np.multiply(dh, dc_dh[t], out=dc_from_h)  # dc_t
        da = by_gate(dA[t])
        np.multiply(dc, factor[t, :2], out=da[:2])  # i, f
        np.multiply(dh, factor[t, 2], out=da[2])  # o
        np.multiply(dc, factor[t, 3], out=da[3])  # g
    np.matmul(dA.reshape(T * B, 4 * m).T, cache.H[:-1].reshape(T * B, m), out=dW_h)
    return dA


def layer_tangent(
    cache: LayerCache,
    W_h: np.ndarray,
    dXW: np.ndarray | None,
    start: int,
    perturb: Perturb | None,
) -> np.ndarray:
    """The forward-mode derivative of h_t (per copy) from step `start`: the complex step's
    imaginary part, linear once its square underflows against the real part.

    da = W_h dh_{t-1} + dXW[t] (+ perturb);  di = i (1 - i) da[i], likewise f, o;
    dg = (1 - g^2) da[g];  dc = f dc_{t-1} + c_{t-1} df + i dg + g di;
    dh = o (1 - tanh^2 c) dc + tanh c do.   cache: the unperturbed trajectory (B = 1).
    Returns dh (T - start, n, m).
    """
    H, C, gates, tanh_c = cache.H, cache.C, kept(cache.gates), kept(cache.tanh_c)
    T, m, n = len(gates), H.shape[2], layer.copies(dXW, perturb)
    i, f, o, g = (gates[start:, k] for k in range(4))
    slope = np.stack([i * (1 - i), f * (1 - f), o * (1 - o), 1 - g * g], axis=1)  # (T', 4, 1, m)
    dH = np.zeros((T - start + 1, n, m))
    dc = np.zeros((n, m))
    da = np.empty((4, n, m))
    W_hT = np.ascontiguousarray(W_h.reshape(4, m, m).transpose(0, 2, 1))
    for t in range(start, T):
        s = t - start
        np.matmul(dH[s], W_hT, out=da)
        if dXW is not None:
            da += by_gate(dXW[s])
        if perturb is not None:
            for gate in range(4):
                perturb(t, H[t], gate * m, (gate + 1) * m, da[gate])
        da *= slope[s]
        dc *= f[s]
        dc += C[t] * da[1]
        dc += i[s] * da[3]
        dc += g[s] * da[0]
        np.multiply(o[s] * (1.0 - tanh_c[t] ** 2), dc, out=dH[s + 1])
        dH[s + 1] += tanh_c[t] * da[2]
    return dH[1:]


def step(inp: np.ndarray, W_h: np.ndarray, b: np.ndarray, state: np.ndarray) -> np.ndarray:
    """One step for sampling: [h | c] from inp = W_x x, state [h_{t-1} | c_{t-1}] ((2m,) or
    (B, 2m))."""
    m = state.shape[-1] // 2
    h, c_prev = state[..., :m], state[..., m:]
    a = (W_h @ h if state.ndim == 1 else h @ W_h.T) + inp + b  # (1)
    new = np.empty_like(state, dtype=a.dtype)
    tanh_c = np.empty_like(c_prev, dtype=a.dtype)
    cell(by_gate(a), c_prev, new[..., m:], tanh_c, new[..., :m])
    return new


def forget_bias(b: np.ndarray) -> None:
    """The forget gate's bias starts at 1 (torch-rnn's choice)."""
    m = b.size // GATES
    b[m : 2 * m] = 1.0
