"""The vanilla character RNN: parameters, forward pass, backward pass.

For inputs x_1..x_T (vocabulary indices; x_t stands for a one-hot vector) and targets y_1..y_T:

    a_t = W h_{t-1} + U x_t + b          (1)
    h_t = tanh(a_t)                      (2)
    o_t = V h_t + c                      (3)
    p_t = softmax(o_t)                   (4)
    L   = -sum_t log p_t[y_t]            (5)

Shapes: U (m x K), W (m x m), V (K x m), b (m), c (K); m = hidden size, K = vocabulary size.
Time runs along the first axis of every array below (H[t] is h_t as a row), so every step that
does not depend on the recurrence is one matrix operation over the whole sequence; only the
tanh recurrence (2) and the dh recurrence in the backward pass loop over t.

All five parameters are views into one flat vector, so AdaGrad, clipping, checkpoints and the
best-model copy each touch one contiguous array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PARAM_NAMES = ("b", "c", "U", "W", "V")


def param_shapes(vocab_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
    m, K = hidden_size, vocab_size
    return {"b": (m,), "c": (K,), "U": (m, K), "W": (m, m), "V": (K, m)}


def param_count(vocab_size: int, hidden_size: int) -> int:
    """P = m + K + 2mK + m^2: the length of the flat parameter vector."""
    m, K = hidden_size, vocab_size
    return m + K + 2 * m * K + m * m


# Float64 arrays of the model's size that a Trainer holds: the parameters, the gradients,
# AdaGrad's memory, two scratch buffers and the best parameters.
TRAINER_ARRAYS = 6


def physical_memory() -> int | None:
    """This machine's memory in bytes (None where it cannot be asked: no check then)."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_fits_memory(
    vocab_size: int, hidden_size: int, arrays: int = TRAINER_ARRAYS, name: str = "--hidden"
) -> None:
    """Raise ValueError when `arrays` float64 arrays of the model's size cannot fit in this
    machine's memory (NumPy would raise MemoryError halfway, or the kernel kill us)."""
    count = param_count(vocab_size, hidden_size)
    needed, total = arrays * 8 * count, physical_memory()
    if total is not None and needed > total:
        raise ValueError(
            f"{name} {hidden_size} needs about {needed / 2**30:,.1f} GiB ({count:,} parameters "
            f"in {arrays} arrays), more than this machine's {total / 2**30:,.1f} GiB of memory"
        )


@dataclass(eq=False)
class Params:
    """b, c, U, W, V as views into `flat` (writing to one writes to the other)."""

    flat: np.ndarray
    b: np.ndarray
    c: np.ndarray
    U: np.ndarray
    W: np.ndarray
    V: np.ndarray

    @classmethod
    def from_flat(cls, flat: np.ndarray, vocab_size: int, hidden_size: int) -> Params:
        shapes = param_shapes(vocab_size, hidden_size)
        needed = sum(int(np.prod(shape)) for shape in shapes.values())
        if flat.shape != (needed,):
            raise ValueError(f"flat vector has shape {flat.shape}, the model needs ({needed},)")
        views, start = {}, 0
        for name, shape in shapes.items():
            size = int(np.prod(shape))
            views[name] = flat[start : start + size].reshape(shape)
            start += size
        return cls(flat=flat, **views)

    @classmethod
    def zeros(cls, vocab_size: int, hidden_size: int, dtype=np.float64) -> Params:
        size = sum(int(np.prod(s)) for s in param_shapes(vocab_size, hidden_size).values())
        return cls.from_flat(np.zeros(size, dtype=dtype), vocab_size, hidden_size)

    @property
    def hidden_size(self) -> int:
        return self.W.shape[0]

    @property
    def vocab_size(self) -> int:
        return self.c.shape[0]

    def copy(self) -> Params:
        return Params.from_flat(self.flat.copy(), self.vocab_size, self.hidden_size)

    def items(self):
        return ((name, getattr(self, name)) for name in PARAM_NAMES)


def init_params(
    vocab_size: int, hidden_size: int, sigma: float, rng: np.random.Generator, dtype=np.float64
) -> Params:
    """Weights ~ N(0, sigma^2), biases zero (drawn in the order U, W, V)."""
    params = Params.zeros(vocab_size, hidden_size, dtype)
    for name in ("U", "W", "V"):
        weights = getattr(params, name)
        with np.errstate(over="ignore"):  # a huge sigma: Trainer.check_initial_loss says so
            weights[...] = sigma * rng.standard_normal(weights.shape)
    return params


def log_softmax(O: np.ndarray) -> np.ndarray:
    """Row-wise log softmax, shifted by the row maximum so exp never overflows."""
    shifted = O - O.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def forward(params: Params, inputs: np.ndarray, targets: np.ndarray, h0: np.ndarray):
    """Loss (5) and what the backward pass needs: hidden states H and probabilities P."""
    T = len(inputs)
    H = np.empty((T, params.hidden_size), dtype=params.flat.dtype)
    A_in = params.U.T[inputs] + params.b  # U x_t + b for every t: columns of U, no one-hot
    W, h = params.W, h0
    for t in range(T):  # (1), (2): the recurrence is the only loop (np.dot: W @ h, less overhead)
        h = H[t] = np.tanh(np.dot(W, h) + A_in[t])
    logP = log_softmax(H @ params.V.T + params.c)  # (3), (4) for all t at once
    loss = -logP[np.arange(T), targets].sum()  # (5)
    return float(loss), H, np.exp(logP)


def backward(
    params: Params, inputs, targets, h0, H: np.ndarray, P: np.ndarray, grads: Params
) -> Params:
    """Gradients of (5) written into `grads` (a Params, e.g. views of a reusable buffer)."""
    T = len(inputs)
    G = P.copy()
    G[np.arange(T), targets] -= 1.0  # dL/do_t = p_t - y_t
    np.matmul(G.T, H, out=grads.V)  # dL/dV = sum_t g_t h_t^T
    G.sum(axis=0, out=grads.c)  # dL/dc = sum_t g_t
    dH = G @ params.V  # the part of dL/dh_t that comes through o_t
    dtanh = 1.0 - H * H  # tanh'(a_t) = 1 - h_t^2
    dA = np.empty_like(H)
    W, da_next = params.W, np.zeros(params.hidden_size, dtype=H.dtype)
    for t in range(T - 1, -1, -1):  # dL/dh_t = V^T g_t + W^T dL/da_{t+1}
        da_next = dA[t] = (dH[t] + np.dot(da_next, W)) * dtanh[t]
    H_prev = np.vstack([h0[None, :], H[:-1]])
    np.matmul(dA.T, H_prev, out=grads.W)  # dL/dW = sum_t da_t h_{t-1}^T
    dA.sum(axis=0, out=grads.b)  # dL/db = sum_t da_t
    # dL/dU = sum_t da_t x_t^T: add da_t into column x_t. That scatter-add is
    # np.add.at(grads.U.T, inputs, dA); one bincount over the flat indices of U^T does the same
    # sums in the same order, three times faster.
    K, m = params.vocab_size, params.hidden_size
    cells = inputs.astype(np.intp)[:, None] * m + np.arange(m)  # where da_t[i] lands in U^T
    dU_T = np.bincount(cells.ravel(), weights=dA.ravel(), minlength=K * m).reshape(K, m)
    grads.U[...] = dU_T.T
    return grads


def loss_and_grads(params: Params, inputs, targets, h0, grads: Params | None = None):
    """(loss, gradients, last hidden state) for one sequence."""
    inputs = np.asarray(inputs)
    targets = np.asarray(targets)
    loss, H, P = forward(params, inputs, targets, h0)
    if grads is None:
        grads = Params.zeros(params.vocab_size, params.hidden_size, params.flat.dtype)
    backward(params, inputs, targets, h0, H, P, grads)
    return loss, grads, H[-1].copy()


def loss_only(params: Params, inputs, targets, h0) -> float:
    return forward(params, np.asarray(inputs), np.asarray(targets), h0)[0]
