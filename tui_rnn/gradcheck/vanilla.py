"""The batched numerical gradients of the report's model (one vanilla layer: b, c, U, W, V).

Its own fast path, written in the report's equations, because the golden tests pin its numbers
to the last bit. Each perturbed copy of the model is one row of a batch, so a time step of
thousands of copies is one matrix product; perturbing one entry is a rank-one change
(W' h = W h + delta h[j] e_i), so every copy shares the weights. The loss on T characters is
the sum of the first T per-step losses, so one pass over max(T) steps gives every length, and
a copy starts at the first step that reads its entry (U[:, k] where x_t = k; W at step 2, since
h0 = 0) from the unperturbed trajectory: entries never read get gn = 0 exactly. Chunks of
copies run on batch's thread pool, fixed by the entry order and sizes, so the bits never depend
on the thread count.

The complex step carries complex arithmetic as separate real and imaginary float64 arrays (the
weights are real, so W (Hr + i Hi) is two real products), with tanh and log-softmax written in
real functions exactly as complex arithmetic defines them; `complex_loss`, the plain complex128
forward pass, is what the tests compare it with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tui_rnn.cells.model import Model
from tui_rnn.gradcheck import batch
from tui_rnn.gradcheck.common import default_h

PARAM_NAMES = ("b", "c", "U", "W", "V")  # the report's model, in flat order


@dataclass
class Base:
    """The unperturbed model and its trajectory on the longest sequence."""

    params: Model
    inputs: np.ndarray
    targets: np.ndarray
    A_in: np.ndarray  # U x_t + b for every t
    H: np.ndarray  # h_t for every t
    O: np.ndarray  # o_t for every t
    method: str
    h: float


def make_base(params: Model, inputs, targets, method: str, h: float) -> Base:
    A_in = params.U.T[inputs] + params.b
    H = np.empty((len(inputs), params.hidden_size))
    state = np.zeros(params.hidden_size)
    for t in range(len(inputs)):
        state = H[t] = np.tanh(params.W @ state + A_in[t])
    O = H @ params.V.T + params.c
    return Base(params, inputs, targets, A_in, H, O, method, h)


def entries(params: Model, inputs: np.ndarray, name: str):
    """(flat indices within the parameter, row i, key, first step the entry acts at)."""
    m, K, T = params.hidden_size, params.vocab_size, len(inputs)
    if name == "b":
        i = np.arange(m)
        return i, i, np.zeros(m, np.intp), np.zeros(m, np.intp)
    if name == "c":
        k = np.arange(K)
        return k, k, np.zeros(K, np.intp), np.zeros(K, np.intp)
    if name == "V":  # V[k, j]
        k, j = np.divmod(np.arange(K * m), m)
        return np.arange(K * m), k, j, np.zeros(K * m, np.intp)
    if name == "W":  # W[i, j]: W h0 = 0 at the first step
        i, j = np.divmod(np.arange(m * m), m)
        return np.arange(m * m), i, j, np.ones(m * m, np.intp)
    if name == "U":  # U[i, k]: read first where x_t = k (never: T)
        first = np.full(K, T, np.intp)
        seen = np.unique(inputs, return_index=True)
        first[seen[0]] = seen[1]
        i, k = np.divmod(np.arange(m * K), K)
        return np.arange(m * K), i, k, first[k]
    raise ValueError(name)


def _recurrent_chunk(base: Base, name: str, i, key, start, lengths, stop) -> np.ndarray:
    """Prefix loss changes (central: l+ - l-; complex: Im l) for copies perturbing b, U or W."""
    p, x, T = base.params, base.inputs, len(base.inputs)
    n, m = len(i), p.hidden_size
    s0 = int(start.min())
    steps = T - s0
    WT = p.W.T
    # Rows 0..n-1 and n..2n-1: central, the +h and -h copies; complex, real and imaginary parts.
    states = np.empty((2 * n, steps, m))
    prev = np.zeros((2 * n, m))
    if s0 > 0:
        prev[: n if base.method == "complex" else 2 * n] = base.H[s0 - 1]
    rows = np.arange(n)
    hits_by_step = [key == x[t] for t in range(T)] if name == "U" else []
    for t in range(s0, T):
        batch.check_stop(stop, t - s0 + 1)
        A = prev @ WT
        out = states[:, t - s0]
        if base.method == "central":
            A += base.A_in[t]
            delta = base.h
            for half, sign in ((A[:n], delta), (A[n:], -delta)):
                if name == "b":
                    half[rows, i] += sign
                elif name == "U":
                    hit = hits_by_step[t]
                    half[rows[hit], i[hit]] += sign
                else:  # W: (W + d e_i e_j^T) h = W h + d h_j e_i
                    source = prev[:n] if sign > 0 else prev[n:]
                    half[rows, i] += sign * source[rows, key]
            np.tanh(A, out=out)
        else:
            Ar, Ai = A[:n], A[n:]
            Ar += base.A_in[t]
            if name == "b":
                Ai[rows, i] += base.h
            elif name == "U":
                hit = hits_by_step[t]
                Ai[rows[hit], i[hit]] += base.h
            else:  # i h (hr_j + i hi_j) = -h hi_j + i h hr_j
                hr_j, hi_j = prev[rows, key], prev[n + rows, key]
                Ar[rows, i] -= base.h * hi_j
                Ai[rows, i] += base.h * hr_j
            out[:n], out[n:] = batch.complex_tanh(Ar, Ai)
        prev = out
    return _output_changes(base, states, start, s0, lengths)


def _output_changes(base: Base, states: np.ndarray, start, s0: int, lengths) -> np.ndarray:
    """Prefix loss changes from the copies' states (2n, T - s0, m): central, the +h and -h
    copies' states; complex, the real and imaginary parts."""
    p, T = base.params, len(base.inputs)
    rows, steps, m = states.shape
    n, K = rows // 2, p.vocab_size
    change = np.empty((n, steps))
    for block in batch.time_blocks(steps, 2 * n * K * 8 * 4):
        span = block.stop - block.start
        O = (states[:, block].reshape(2 * n * span, m) @ p.V.T).reshape(2 * n, span, -1)
        y = base.targets[s0:][block]
        if base.method == "central":
            O += p.c
            losses = batch.step_losses(O, y)
            change[:, block] = losses[:n] - losses[n:]
        else:
            change[:, block] = batch.imag_step_losses(O[:n] + p.c, O[n:], y)
    return batch.prefix_changes(change, start, s0, T, lengths)


def output_chunk(H, O, targets, method, h, name, k, j, lengths, stop) -> np.ndarray:
    """Prefix loss changes for copies perturbing c[k] or V[k, j] (the states do not change).

    H, O: the unperturbed top-layer states and logits (T, m) and (T, K)."""
    n, T, K = len(k), len(targets), O.shape[1]
    change = np.empty((n, T))
    for block in batch.time_blocks(T, 2 * n * K * 8 * 3):
        batch.check_stop(stop, 0)
        span = block.stop - block.start
        rows, steps = np.arange(n)[:, None], np.arange(span)[None, :]
        O_block, y = O[block], targets[block]
        shift = np.ones((n, span)) if name == "c" else H[block][:, j].T  # d o_t[k] / d theta
        if method == "central":
            O_pm = np.broadcast_to(O_block, (2 * n, span, K)).copy()
            O_pm[rows, steps, k[:, None]] += h * shift
            O_pm[n + rows, steps, k[:, None]] -= h * shift
            losses = batch.step_losses(O_pm, y)
            change[:, block] = losses[:n] - losses[n:]
        else:
            Oi = np.zeros((n, span, K))
            Oi[rows, steps, k[:, None]] = h * shift
            change[:, block] = batch.imag_step_losses(O_block, Oi, y)
    return batch.prefix_changes(change, np.zeros(n, np.intp), 0, T, lengths)


def chunk_bytes(params: Model, T: int, name: str) -> float:
    """Bytes of one perturbed copy (its +h/-h or real/imaginary pair) in a chunk of `name`."""
    hidden, vocab = params.hidden_size, params.vocab_size
    prefix = 8 * T * 3  # its per-step changes and their prefix sums
    if name in ("c", "V"):
        return prefix + 8 * 2 * vocab * 3  # (its logits over a time block: bounded apart)
    return prefix + 8 * T * 2 * hidden * 2  # its states (x2: the half-chunk rule)


def entry_seconds(params: Model, inputs, name: str, method: str) -> np.ndarray:
    """Estimated seconds of each entry of `name` (0: never read, gn = 0 for free)."""
    index, _, _, start = entries(params, inputs, name)
    T, m, K = len(inputs), params.hidden_size, params.vocab_size
    output = batch.softmax_elements(K, method)
    copies = batch.chunk_size(PATH, params, T, name)
    if name in ("c", "V"):
        per_step = batch.step_seconds(0, output, 1, copies)
    else:  # two rows per entry (+h and -h, or real and imaginary parts) through W and V
        tanh = 2 * 6 * m if method == "central" else 2 * 15 * m
        flops = 2 * (2 * m * m + 2 * m * K)
        per_step = batch.step_seconds(flops, tanh + output + 2 * 4 * K, 1, copies)
    cost = np.zeros(getattr(params, name).size)
    cost[index] = np.where(start < T, (T - start) * per_step, 0.0)
    return cost


def numerical_gradients(
    params: Model,
    inputs,
    targets,
    seq_lengths: Sequence[int],
    method: str = "central",
    h: float | None = None,
    names: Sequence[str] = PARAM_NAMES,
    should_stop: Callable[[], bool] | None = None,
    on_parameter: Callable[[str, np.ndarray], None] | None = None,
    workers: int | None = None,
    selections: dict | None = None,
) -> dict[str, np.ndarray]:
    """Numerical gradients of the entries of `names`, batched: {name: (len(seq_lengths), *shape)}.

    inputs/targets must be at least max(seq_lengths) long. `selections` (name -> Selection)
    limits the work to some entries (the others are left 0); default: every entry.
    on_parameter(name, grads) is called as each parameter completes (in `names` order); when
    should_stop() turns true the parameters finished so far are returned.
    """

    h = default_h(method) if h is None else h
    return batch.numerical_gradients(
        PATH, params, inputs, targets, seq_lengths, method, h, names, should_stop, on_parameter,
        workers, selections,
    )  # fmt: skip


# -- one entry at a time: the reference, and the benchmark's baseline -----------------------------
def complex_log_softmax(O: np.ndarray) -> np.ndarray:
    """Row-wise log softmax of a complex array, shifted by the real part's row maximum."""
    shifted = O - O.real.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def complex_loss(params: Model, inputs, targets) -> complex:
    """The loss of a complex128 model, one step at a time (the reference for the complex step)."""
    inputs, targets = np.asarray(inputs), np.asarray(targets)
    h = np.zeros(params.hidden_size, dtype=np.complex128)
    H = np.empty((len(inputs), params.hidden_size), dtype=np.complex128)
    for t, x in enumerate(inputs):
        h = H[t] = np.tanh(params.W @ h + params.U[:, x] + params.b)
    logP = complex_log_softmax(H @ params.V.T + params.c)
    return -logP[np.arange(len(inputs)), targets].sum()


def numerical_gradients_loop(
    params: Model, inputs, targets, method: str = "central", h: float | None = None, entries=None
) -> np.ndarray:
    """Numerical gradient of the loss on (inputs, targets) as a flat vector, one entry at a time.

    `entries` (flat indices) limits the work to a subset; the others are left NaN.
    """

    h = default_h(method) if h is None else h
    inputs, targets = np.asarray(inputs), np.asarray(targets)
    entries = range(params.flat.size) if entries is None else entries
    grad = np.full(params.flat.size, np.nan)
    h0 = np.zeros(params.hidden_size)
    if method == "central":
        probe = params.copy()
        for e in entries:
            probe.flat[e] = params.flat[e] + h
            plus = probe.loss(inputs[:, None], targets[:, None], [h0[None]])
            probe.flat[e] = params.flat[e] - h
            minus = probe.loss(inputs[:, None], targets[:, None], [h0[None]])
            probe.flat[e] = params.flat[e]
            grad[e] = (plus - minus) / (2 * h)
    else:
        probe = Model(params.spec, params.flat.astype(np.complex128))
        for e in entries:
            probe.flat[e] = params.flat[e] + 1j * h
            grad[e] = complex_loss(probe, inputs, targets).imag / h
            probe.flat[e] = params.flat[e]
    return grad


PATH = batch.Path(
    make_base=make_base,
    entries=entries,
    chunk_bytes=chunk_bytes,
    shape=lambda params, name: getattr(params, name).shape,
    output_chunk=lambda base, name, k, j, lengths, stop: output_chunk(
        base.H, base.O, base.targets, base.method, base.h, name, k, j, lengths, stop
    ),
    recurrent_chunk=_recurrent_chunk,
)
