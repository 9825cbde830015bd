"""The GRU layer as in Cho et al. 2014 (the reset gate acts before the recurrent product).

For a layer with input x_t, state h_{t-1} and gate order r, z, n:

    r_t = sigma(W_x[r] x_t + W_h[r] h_{t-1} + b[r])             (1)  reset gate
    z_t = sigma(W_x[z] x_t + W_h[z] h_{t-1} + b[z])             (2)  update gate
    n_t = tanh(W_x[n] x_t + W_h[n] (r_t * h_{t-1}) + b[n])      (3)  candidate
    h_t = z_t * h_{t-1} + (1 - z_t) * n_t                       (4)
        = n_t + z_t * (h_{t-1} - n_t)                           (the form computed)

Shapes: W_x (3m x in), W_h (3m x m), b (3m), rows in the order r, z, n. z is the share of the
old state kept (Cho's and PyTorch's convention): z near 1 carries h unchanged. Cho's form applies
r to h_{t-1} before the product, so n needs no bias of its own inside it (PyTorch's variant,
r * (W_h[n] h + b_hn), would), and a step is two products: rows r, z on h_{t-1} (one batched
product, gate by gate), then rows n on r * h_{t-1}. W_x x_t + b for the whole sequence is one
product before the loop (layer 0: a row lookup). The gates are kept gate-major, (3, B, m) a step,
so that the elementwise work runs on whole contiguous blocks, never on column slices of a
(B, 3m) row (several times slower, the transcendental functions above all); the backward pass
works gate-major too and returns its rows in W's layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tui_rnn.cells import layer
from tui_rnn.cells.layer import Perturb, kept

NAMES = ("W_x", "W_h", "b")  # input weights, recurrent weights, bias of a layer
GATES = 3  # r, z, n: rows of W_x, W_h, b per hidden unit
STATE_FACTOR = 1  # the state is h


@dataclass(eq=False)
class LayerCache(layer.LayerCache):
    gates: np.ndarray | None  # (T, 3, B, m): r, z, n after (1)-(3) (None: not kept)
    RH: np.ndarray | None  # (T, B, m): r_t * h_{t-1}, the source of W_h[n]

    def activations(self) -> dict[str, np.ndarray]:
        if self.gates is None:
            return {}
        return {name: self.gates[:, k] for k, name in enumerate("rzn")}


def by_gate(rows: np.ndarray) -> np.ndarray:
    """A (..., 3m) array of pre-activations seen gate-major, (3, ..., m) (a view)."""
    return np.moveaxis(rows.reshape(*rows.shape[:-1], 3, -1), -2, 0)


def _sigmoid(a: np.ndarray) -> None:
    """sigma(a) = (1 + tanh(a / 2)) / 2, in place (never overflows)."""
    a *= 0.5
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5


def cell(
    xw: np.ndarray,
    h_prev: np.ndarray,
    W_rz_T: np.ndarray,
    W_n_T: np.ndarray,
    a: np.ndarray,
    rh: np.ndarray,
    h: np.ndarray,
    perturb: Perturb | None = None,
    t: int = 0,
) -> None:
    """(1)-(4) for one step: a (3, ..., m) receives r, z, n; rh receives r * h_{t-1}; h
    receives h_t. xw: W_x x_t + b gate-major (3, ..., m).

    W_rz_T (2, m, m): each of gates r, z's rows of W_h, transposed; W_n_T: rows n's."""
    m = h_prev.shape[-1]
    rz, n = a[:2], a[2]
    np.matmul(h_prev, W_rz_T, out=rz)  # (1), (2): rows r, z on h_{t-1} ...
    rz += xw[:2]  # ... + W_x x_t + b
    if perturb is not None:
        perturb(t, h_prev, 0, m, rz[0])
        perturb(t, h_prev, m, 2 * m, rz[1])
    _sigmoid(rz)
    r, z = rz
    np.multiply(r, h_prev, out=rh)  # r_t * h_{t-1}
    np.matmul(rh, W_n_T, out=n)  # (3): rows n on r * h ...
    n += xw[2]  # ... + W_x x_t + b
    if perturb is not None:
        perturb(t, rh, 2 * m, 3 * m, n)
    np.tanh(n, out=n)
    np.subtract(h_prev, n, out=h)  # (4): n + z * (h_{t-1} - n)
    h *= z
    h += n


def layer_forward(
    XW: np.ndarray,
    W_h: np.ndarray,
    state0: np.ndarray,
    perturb: Perturb | None = None,
    keep: bool = True,
) -> LayerCache:
    """h_t for t = 1..T from XW[t] = W_x x_t + b (T, B or 1, 3m) and h_0 = state0 (B, m).

    perturb(t, src, lo, hi, a) may add to the pre-activations of rows lo:hi (source h_{t-1}
    for r, z; r * h_{t-1} for n). keep=False keeps only h (no backward pass then).
    """
    T, (B, m) = len(XW), state0.shape
    dtype = np.result_type(XW, W_h, state0)
    H = np.empty((T + 1, B, m), dtype)
    H[0] = state0
    gates = np.empty((T if keep else 1, 3, B, m), dtype)
    RH = np.empty((T if keep else 1, B, m), dtype)
    W_rz_T, W_n_T = _gate_transposes(W_h)
    XW_by_gate = np.ascontiguousarray(by_gate(XW).swapaxes(0, 1))  # (T, 3, B or 1, m)
    for t in range(T):
        k = t if keep else 0
        cell(XW_by_gate[t], H[t], W_rz_T, W_n_T, gates[k], RH[k], H[t + 1], perturb, t)
    return LayerCache(H, gates if keep else None, RH if keep else None)


def layer_backward(
    cache: LayerCache, W_h: np.ndarray, dH: np.ndarray, dW_h: np.ndarray
) -> np.ndarray:
    """dL/da_t for every t (T, B, 3m) from dL/dh_t through the layer's output; dL/dW_h into
    dW_h.

    dh_t    = dH[t] + z_{t+1} dh_{t+1} + r_{t+1} * d(rh)_{t+1} + W_h[r,z]^T da[r,z]_{t+1}
    da[n]   = dh_t * (1 - z) * (1 - n^2)                    (4, 3)
    da[z]   = dh_t * (h_{t-1} - n) * z (1 - z)              (4, 2)
    d(rh)_t = W_h[n]^T da[n]                                (3)
    da[r]   = d(rh)_t * h_{t-1} * r (1 - r)                 (3, 1)
    dL/dW_h[r,z] = sum_t da[r,z] h_{t-1}^T;  dL/dW_h[n] = sum_t da[n] (r * h_{t-1})^T
    """
    gates, RH = kept(cache.gates), kept(cache.RH)
    H_prev = cache.H[:-1]
    T, B, m = RH.shape
    r, z, n = (gates[:, k] for k in range(3))
    factor_n = (1.0 - z) * (1.0 - n * n)
    factor_z = (H_prev - n) * z * (1.0 - z)
    factor_r = H_prev * r * (1.0 - r)
    dA = np.empty_like(gates)  # gate-major, as the gates: (T, 3, B, m)
    da_r, da_z, da_n = (dA[:, k] for k in range(3))
    dh = np.zeros((B, m), dtype=gates.dtype)
    drh = np.empty((B, m), dtype=gates.dtype)
    carried = np.empty((B, m), dtype=gates.dtype)
    through = np.empty((B, m), dtype=gates.dtype)
    W_r, W_z, W_n = W_h[:m], W_h[m : 2 * m], W_h[2 * m :]
    for t in range(T - 1, -1, -1):
        dh += dH[t]
        np.multiply(dh, factor_n[t], out=da_n[t])
        np.multiply(dh, factor_z[t], out=da_z[t])
        np.matmul(da_n[t], W_n, out=drh)
        np.multiply(drh, factor_r[t], out=da_r[t])
        if t == 0:
            break
        np.matmul(da_r[t], W_r, out=carried)  # dh_{t-1}: through (1), (2) ...
        carried += np.matmul(da_z[t], W_z, out=through)
        dh *= z[t]  # ... (4) directly ...
        dh += carried
        dh += np.multiply(drh, r[t], out=carried)  # ... and through r * h in (3)
    rows = np.ascontiguousarray(dA.transpose(0, 2, 1, 3)).reshape(T, B, 3 * m)  # W's layout
    flat = rows.reshape(T * B, 3 * m)
    np.matmul(flat[:, : 2 * m].T, H_prev.reshape(T * B, m), out=dW_h[: 2 * m])
    np.matmul(flat[:, 2 * m :].T, RH.reshape(T * B, m), out=dW_h[2 * m :])
    return rows


def layer_tangent(
    cache: LayerCache,
    W_h: np.ndarray,
    dXW: np.ndarray | None,
    start: int,
    perturb: Perturb | None,
) -> np.ndarray:
    """The forward-mode derivative of h_t (per copy) from step `start`: the complex step's
    imaginary part, linear once its square underflows against the real part.

    da[r,z] = W_h[r,z] dh_{t-1} + dXW[r,z] (+ perturb);  dr, dz = sigma' da[r], sigma' da[z]
    d(rh) = dr h_{t-1} + r dh_{t-1};  da[n] = W_h[n] d(rh) + dXW[n] (+ perturb);
    dn = (1 - n^2) da[n];  dh_t = dn + dz (h_{t-1} - n) + z (dh_{t-1} - dn).
    cache: the unperturbed trajectory (B = 1). Returns dh (T - start, n, m).
    """
    H, gates, RH = cache.H, kept(cache.gates), kept(cache.RH)
    T, m, n_copies = len(gates), H.shape[2], layer.copies(dXW, perturb)
    r, z, n = (gates[start:, k] for k in range(3))
    dH = np.zeros((T - start + 1, n_copies, m))
    W_rz_T, W_n_T = _transposes(W_h)
    da = np.empty((n_copies, 3 * m))
    drh = np.empty((n_copies, m))
    for t in range(start, T):
        s, h_prev, dh_prev = t - start, H[t], dH[t - start]
        da_rz, dn = da[:, : 2 * m], da[:, 2 * m :]
        np.matmul(dh_prev, W_rz_T, out=da_rz)
        if dXW is not None:
            da_rz += dXW[s, :, : 2 * m]
        if perturb is not None:
            perturb(t, h_prev, 0, 2 * m, da_rz)
        da[:, :m] *= r[s] * (1.0 - r[s])
        da[:, m : 2 * m] *= z[s] * (1.0 - z[s])
        np.multiply(da[:, :m], h_prev, out=drh)
        drh += r[s] * dh_prev
        np.matmul(drh, W_n_T, out=dn)
        if dXW is not None:
            dn += dXW[s, :, 2 * m :]
        if perturb is not None:
            perturb(t, RH[t], 2 * m, 3 * m, dn)
        dn *= 1.0 - n[s] * n[s]
        dh = dH[s + 1]
        np.subtract(dh_prev, dn, out=dh)
        dh *= z[s]
        dh += dn
        dh += da[:, m : 2 * m] * (h_prev - n[s])
    return dH[1:]


def step(inp: np.ndarray, W_h: np.ndarray, b: np.ndarray, state: np.ndarray) -> np.ndarray:
    """One step for sampling: h from inp = W_x x and h_{t-1} ((m,) or (B, m))."""
    m = state.shape[-1]
    dtype = np.result_type(inp, W_h, state)
    a = np.empty((3, *state.shape), dtype)
    rh = np.empty(state.shape, dtype)
    h = np.empty(state.shape, dtype)
    W_rz_T = W_h[: 2 * m].reshape(2, m, m).transpose(0, 2, 1)
    cell(by_gate(inp + b), state, W_rz_T, W_h[2 * m :].T, a, rh, h)
    return h


def _transposes(W_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous transposes of W_h's rows r, z (together, (m, 2m)) and rows n: products with
    a transposed view are slower, and a sequence does T of them."""
    m = W_h.shape[1]
    return np.ascontiguousarray(W_h[: 2 * m].T), np.ascontiguousarray(W_h[2 * m :].T)


def _gate_transposes(W_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The transposes of gates r and z's rows of W_h, stacked (2, m, m), and of rows n's,
    contiguous (see _transposes)."""
    m = W_h.shape[1]
    W_rz_T = W_h[: 2 * m].reshape(2, m, m).transpose(0, 2, 1)
    return np.ascontiguousarray(W_rz_T), np.ascontiguousarray(W_h[2 * m :].T)


def forget_bias(b: np.ndarray) -> None:
    """No forget gate: the GRU's biases start at zero (z = 1/2)."""
