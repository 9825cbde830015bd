"""Backward passes of every cell, written again from the equations, one step and one layer at a
time (one stream, column vectors), each with an optional deliberate mistake.

Independent of tui_rnn.cells except for the Model's parameter views: the gradient check must
pass `reference_gradients(model, x, y)` and catch every `bug` below with both methods.
"""

from __future__ import annotations

import numpy as np

BUGS = {
    "rnn": ("tanh", "carry", "transpose"),
    "lstm": ("forget_path", "carry_h", "output_gate", "c_prev"),
    "gru": ("z_convention", "carry", "reset_path", "transpose"),
}


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def reference_gradients(model, inputs, targets, bug: str | None = None) -> np.ndarray:
    """d loss / d flat from a zero state, for inputs and targets (T,), with `bug` injected."""
    spec = model.spec
    K, L = spec.vocab_size, spec.layers
    grads = type(model)(spec, np.zeros_like(model.flat))
    T = len(inputs)
    below = [np.eye(K)[:, x] for x in inputs]  # layer 0 reads one-hot columns (reference only)
    records = []
    for layer in range(L):
        W_x, W_h, b = model.layer(layer)
        record = _forward(spec.cell, W_x, W_h, b, below)
        records.append(record)
        below = record["h"]
    V, c = model["V"], model["c"]
    dh_out = []
    for t in range(T):
        o = V @ below[t] + c
        p = np.exp(o - o.max())
        p /= p.sum()
        g = p.copy()
        g[targets[t]] -= 1.0
        grads["V"][...] += np.outer(g, below[t])
        grads["c"][...] += g
        dh_out.append(V.T @ g)
    for layer in range(L - 1, -1, -1):
        W_x, W_h, b = model.layer(layer)
        dW_x, dW_h, db = grads.layer(layer)
        da = _backward(spec.cell, W_h, records[layer], dh_out, bug)
        for t in range(T):
            dW_x += np.outer(da[t], records[layer]["x"][t])
            if spec.cell == "gru":  # rows r, z read h_{t-1}; rows n read r * h_{t-1}
                m = W_h.shape[1]
                h_prev, rh = records[layer]["src"][t]
                dW_h[: 2 * m] += np.outer(da[t][: 2 * m], h_prev)
                dW_h[2 * m :] += np.outer(da[t][2 * m :], rh)
            else:
                dW_h += np.outer(da[t], records[layer]["src"][t])
            db += da[t]
        dh_out = [W_x.T @ da[t] for t in range(T)]
    return grads.flat


def _forward(cell, W_x, W_h, b, xs):
    m = W_h.shape[1]
    h, c = np.zeros(m), np.zeros(m)
    rec = {"x": xs, "h": [], "src": []}
    for x in xs:
        a = W_x @ x + b
        if cell == "rnn":
            rec["src"].append(h)
            h = np.tanh(a + W_h @ h)
        elif cell == "lstm":
            rec["src"].append(h)
            a = a + W_h @ h
            i, f, o = sigmoid(a[:m]), sigmoid(a[m : 2 * m]), sigmoid(a[2 * m : 3 * m])
            g = np.tanh(a[3 * m :])
            c_prev = c
            c = f * c_prev + i * g
            h = o * np.tanh(c)
            rec.setdefault("gates", []).append((i, f, o, g, c_prev, c))
        else:
            r = sigmoid(a[:m] + W_h[:m] @ h)
            z = sigmoid(a[m : 2 * m] + W_h[m : 2 * m] @ h)
            n = np.tanh(a[2 * m :] + W_h[2 * m :] @ (r * h))
            rec["src"].append((h, r * h))
            rec.setdefault("gates", []).append((r, z, n, h))
            h = z * h + (1 - z) * n
        rec["h"].append(h)
    return rec


def _backward(cell, W_h, rec, dh_out, bug):
    """dL/da_t (the pre-activations) for every t."""
    m = W_h.shape[1]
    T = len(dh_out)
    da = [None] * T
    carried_h, carried_c = np.zeros(m), np.zeros(m)
    for t in range(T - 1, -1, -1):
        dh = dh_out[t] + carried_h
        if cell == "rnn":
            h = rec["h"][t]
            da[t] = dh if bug == "tanh" else dh * (1 - h * h)
            recurrent = W_h if bug == "transpose" else W_h.T
            carried_h = np.zeros(m) if bug == "carry" else recurrent @ da[t]
        elif cell == "lstm":
            i, f, o, g, c_prev, c = rec["gates"][t]
            dc = dh * o * (1 - np.tanh(c) ** 2) + carried_c
            d_o = dh * np.tanh(c)
            d_f = dc * (c if bug == "c_prev" else c_prev)
            slope_o = 1.0 if bug == "output_gate" else o * (1 - o)
            da[t] = np.concatenate(
                [dc * g * i * (1 - i), d_f * f * (1 - f), d_o * slope_o, dc * i * (1 - g * g)]
            )
            carried_c = np.zeros(m) if bug == "forget_path" else dc * f
            carried_h = np.zeros(m) if bug == "carry_h" else W_h.T @ da[t]
        else:
            r, z, n, h_prev = rec["gates"][t]
            if bug == "z_convention":  # differentiates h = (1 - z) h_prev + z n instead
                dn, dz, keep = dh * z, dh * (n - h_prev), dh * (1 - z)
            else:
                dn, dz, keep = dh * (1 - z), dh * (h_prev - n), dh * z
            da_n = dn * (1 - n * n)
            W_n = W_h[2 * m :]
            drh = (W_n if bug == "transpose" else W_n.T) @ da_n
            da_r = drh * h_prev * r * (1 - r)
            da_z = dz * z * (1 - z)
            da[t] = np.concatenate([da_r, da_z, da_n])
            through_r = 0.0 if bug == "reset_path" else drh * r
            carried_h = keep + through_r + W_h[: 2 * m].T @ da[t][: 2 * m]
            if bug == "carry":
                carried_h = np.zeros(m)
    return da
