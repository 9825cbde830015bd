"""Gradient check: analytic gradients against numerical ones, for every parameter entry.

On the first T characters of a corpus (inputs data[0:T], targets data[1:T+1]), h0 = 0, float64,
for every entry theta_e of b, c, U, W, V and each sequence length T:

    central:  gn_e = (L(theta + h e_e) - L(theta - h e_e)) / 2h          (h = 1e-4)
    complex:  gn_e = Im L(theta + i h e_e) / h                          (h = 1e-20)

and the elementwise relative error r_e = |ga_e - gn_e| / max(eps, |ga_e| + |gn_e|), summarised
per parameter and length by its max and its sum (the report's two criteria).

Why it is fast (about 23,000 entries x 4 lengths at m = 100):
- Batching: each perturbed copy of the model is one row of a batch, so a time step of thousands
  of copies is one matrix product. Perturbing one entry is a rank-one change, so no copy holds
  its own matrix: W' h = W h + delta h[j] e_i is the shared product plus one scalar per row.
- Causality: the loss on the first T characters is the sum of the per-step losses of the
  first T steps, so one pass over max(T) steps gives the numerical gradient for every length.
- A perturbation cannot act before the step that first reads it (U[:, k] before x_t = k; W
  before step 2, since h0 = 0). Copies start there from the unperturbed trajectory, and the
  per-step loss differences before it are exactly zero, so entries that the sequence never
  reads get gn = 0 exactly, like their analytic gradient.
- Chunks of copies run on a thread pool (NumPy and BLAS release the GIL). Chunks are fixed
  by the entry order, not by the number of threads, so results are bit-identical run to run.

Complex step: complex arithmetic is carried as separate real and imaginary float64 arrays (the
weights are real, so W (Hr + i Hi) is two real products), with tanh and log-softmax written out
in real functions, exactly as complex arithmetic defines them; `complex_loss` is the plain
complex128 forward pass that the tests compare it with.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .model import PARAM_NAMES, Params, init_params, loss_and_grads, loss_only

METHODS = ("central", "complex")
DEFAULT_SEQ_LENGTHS = (5, 10, 15, 25)
# The floor of the relative error's denominator. A central difference carries rounding noise of
# about ulp(loss) / 2h ~ 1e-11 in absolute terms; divided by a gradient that is itself ~1e-9 it
# would look like a 1% error. Below eps the error is measured against eps instead, so
# tiny-gradient noise reads as <= ~1e-5 while any gradient above 1e-6 is compared relatively.
DEFAULT_EPS = 1e-6
_DEFAULT_H = {"central": 1e-4, "complex": 1e-20}
# Measured at m = 100, sigma = 0.01 (tinyshakespeare and the tests' generated text), seq lengths
# 5..25: the correct backward pass reaches max r <= 2.3e-5 (central) and <= 4e-13 (complex) at
# init, <= 6.2e-5 and <= 6e-11 after 40,000 updates; the three broken ones in
# tests/test_gradcheck.py reach max r >= 9.5e-2 (m = 100) and >= 1.1e-1 (m = 20). Each
# threshold sits at least 10x from both sides (complex: > 100x).
_DEFAULT_THRESHOLD = {"central": 1e-3, "complex": 1e-8}

_RECURRENT_CHUNK = 256  # entries per chunk for b, U, W (a chunk holds ~2 x 256 x T x m floats)
_OUTPUT_CHUNK = 512  # entries per chunk for c, V

AnalyticFn = Callable[[Params, np.ndarray, np.ndarray, np.ndarray], Params]


def default_h(method: str) -> float:
    _check_method(method)
    return _DEFAULT_H[method]


def default_threshold(method: str) -> float:
    _check_method(method)
    return _DEFAULT_THRESHOLD[method]


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown gradient check method {method!r}: use central or complex")


# -- the report ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class GradcheckRow:
    parameter: str  # "b", "c", "U", "W", "V"
    seq_length: int
    max_rel_error: float
    sum_rel_error: float
    max_abs_error: float  # max |ga - gn|
    max_abs_grad: float  # max |ga|
    passed: bool  # max_rel_error <= threshold
    method: str  # "central" | "complex"

    def to_json(self) -> dict:
        return {
            "parameter": self.parameter,
            "seq_length": self.seq_length,
            "max_rel_error": _json_number(self.max_rel_error),
            "sum_rel_error": _json_number(self.sum_rel_error),
            "max_abs_error": _json_number(self.max_abs_error),
            "max_abs_grad": _json_number(self.max_abs_grad),
            "passed": self.passed,
        }


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None  # JSON has no NaN


@dataclass
class GradcheckReport:
    rows: list[GradcheckRow]
    method: str
    h: float
    eps: float
    threshold: float
    hidden: int
    seconds: float
    stopped: bool = False  # should_stop() ended the run early; rows holds what was finished

    @property
    def passed(self) -> bool:
        return not self.stopped and bool(self.rows) and all(row.passed for row in self.rows)

    def to_json(self) -> dict:
        return {
            "rows": [row.to_json() for row in self.rows],
            "method": self.method,
            "h": self.h,
            "eps": self.eps,
            "threshold": self.threshold,
            "hidden": self.hidden,
            "seconds": self.seconds,
            "passed": self.passed,
        }


def compare(
    ga: np.ndarray, gn: np.ndarray, eps: float, threshold: float
) -> tuple[float, float, float, float, bool]:
    """(max r, sum r, max |ga - gn|, max |ga|, passed) with r = |ga - gn| / max(eps, |ga|+|gn|)."""
    diff = np.abs(ga - gn)
    rel = diff / np.maximum(eps, np.abs(ga) + np.abs(gn))
    max_rel = float(rel.max())
    max_abs_error, max_abs_grad = float(diff.max()), float(np.abs(ga).max())
    return max_rel, float(rel.sum()), max_abs_error, max_abs_grad, max_rel <= threshold


# -- analytic gradients -------------------------------------------------------------------------
def analytic_gradients(params: Params, inputs, targets, h0) -> Params:
    """The model's own backward pass (the gradient of the unclipped loss)."""
    return loss_and_grads(params, inputs, targets, h0)[1]


# -- complex arithmetic on (real, imaginary) float64 pairs ---------------------------------------
def complex_tanh(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tanh(x + iy) as (real, imaginary) float64 arrays.

    tanh(x + iy) = (sinh 2x + i sin 2y) / (cosh 2x + cos 2y); multiplied through by
    2u = 2 e^{-2|x|} this is (sign(x) (1 - u^2) + 2i u sin 2y) / (1 + u^2 + 2u cos 2y), which
    never overflows, and 1 - u^2 = -expm1(-2|x|) (1 + u) keeps full precision near x = 0.
    """
    minus_2x = -2.0 * np.abs(x)
    u = np.exp(minus_2x)  # not 1 + expm1: that would round u to 0 long before it underflows
    em = np.expm1(minus_2x, out=minus_2x)  # u - 1
    sin2y, cos2y = _sin_cos(2.0 * y)
    den = cos2y * (2.0 * u)
    den += u * u
    den += 1.0
    real = em * (u + 1.0)
    real *= -np.sign(x)
    real /= den
    imag = sin2y
    imag *= 2.0 * u
    imag /= den
    return real, imag


# Below 2^-27, sin y and cos y round to y and 1 exactly (y^3/6 and y^2/2 are under half an ulp).
_TINY_ANGLE = 2.0**-27


def _sin_cos(y: np.ndarray) -> tuple[np.ndarray, np.ndarray | float]:
    """(sin y, cos y), skipping the two slowest ufuncs when every |y| is tiny (h = 1e-20 is)."""
    if np.abs(y).max(initial=0.0) < _TINY_ANGLE:
        return y.copy(), 1.0
    return np.sin(y), np.cos(y)


def _step_losses(O: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """-log softmax(o_t)[y_t] for each step (last axis: vocabulary, next-to-last: time)."""
    top = O.max(axis=-1, keepdims=True)
    shifted = O - top
    np.exp(shifted, out=shifted)
    log_sum = np.log(shifted.sum(axis=-1)) + top[..., 0]
    steps = np.arange(O.shape[-2])
    return log_sum - O[..., steps, targets]


def _imag_step_losses(Or: np.ndarray, Oi: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Im of -log softmax(Or + i Oi)[y_t] per step, shifted by the real part's maximum.

    log sum_k e^{o_k} = M + log S with S = sum_k e^{Or_k - M} (cos Oi_k + i sin Oi_k), so its
    imaginary part is arg S = atan2(Im S, Re S).
    """
    weights = np.exp(Or - Or.max(axis=-1, keepdims=True))
    sin_oi, cos_oi = _sin_cos(Oi)
    imag_sum = (weights * sin_oi).sum(axis=-1)
    real_sum = (weights * cos_oi).sum(axis=-1)
    steps = np.arange(Oi.shape[-2])
    return np.arctan2(imag_sum, real_sum) - Oi[..., steps, targets]


def complex_log_softmax(O: np.ndarray) -> np.ndarray:
    """Row-wise log softmax of a complex array, shifted by the real part's row maximum."""
    shifted = O - O.real.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def complex_loss(params: Params, inputs, targets) -> complex:
    """The loss of a complex128 model, one step at a time (the reference for the complex step)."""
    inputs, targets = np.asarray(inputs), np.asarray(targets)
    h = np.zeros(params.hidden_size, dtype=np.complex128)
    H = np.empty((len(inputs), params.hidden_size), dtype=np.complex128)
    for t, x in enumerate(inputs):
        h = H[t] = np.tanh(params.W @ h + params.U[:, x] + params.b)
    logP = complex_log_softmax(H @ params.V.T + params.c)
    return -logP[np.arange(len(inputs)), targets].sum()


# -- numerical gradients, one entry at a time (the reference and the benchmark's baseline) -------
def numerical_gradients_loop(
    params: Params, inputs, targets, method: str = "central", h: float | None = None, entries=None
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
            plus = loss_only(probe, inputs, targets, h0)
            probe.flat[e] = params.flat[e] - h
            minus = loss_only(probe, inputs, targets, h0)
            probe.flat[e] = params.flat[e]
            grad[e] = (plus - minus) / (2 * h)
    else:
        probe = Params.from_flat(
            params.flat.astype(np.complex128), params.vocab_size, params.hidden_size
        )
        for e in entries:
            probe.flat[e] = params.flat[e] + 1j * h
            grad[e] = complex_loss(probe, inputs, targets).imag / h
            probe.flat[e] = params.flat[e]
    return grad


# -- numerical gradients, batched ---------------------------------------------------------------
@dataclass
class _Base:
    """The unperturbed model and its trajectory on the longest sequence."""

    params: Params
    inputs: np.ndarray
    targets: np.ndarray
    A_in: np.ndarray  # U x_t + b for every t
    H: np.ndarray  # h_t for every t
    O: np.ndarray  # o_t for every t
    method: str
    h: float


def _make_base(params: Params, inputs, targets, method: str, h: float) -> _Base:
    A_in = params.U.T[inputs] + params.b
    H = np.empty((len(inputs), params.hidden_size))
    state = np.zeros(params.hidden_size)
    for t in range(len(inputs)):
        state = H[t] = np.tanh(params.W @ state + A_in[t])
    O = H @ params.V.T + params.c
    return _Base(params, inputs, targets, A_in, H, O, method, h)


def _entries(base: _Base, name: str):
    """(flat indices within the parameter, row i, key, first step the entry acts at)."""
    m, K, T = base.params.hidden_size, base.params.vocab_size, len(base.inputs)
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
        seen = np.unique(base.inputs, return_index=True)
        first[seen[0]] = seen[1]
        i, k = np.divmod(np.arange(m * K), K)
        return np.arange(m * K), i, k, first[k]
    raise ValueError(name)


def _recurrent_chunk(base: _Base, name: str, i, key, start) -> np.ndarray:
    """Per-step loss changes (central: l+ - l-; complex: Im l) for copies perturbing b, U or W.

    Returns (n, T); entry r's row is zero before start[r], where its perturbation cannot act.
    """
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
    hits_by_step = [key == x[t] for t in range(T)] if name == "U" else None
    for t in range(s0, T):
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
            out[:n], out[n:] = complex_tanh(Ar, Ai)
        prev = out
    O = (states.reshape(2 * n * steps, m) @ p.V.T).reshape(2 * n, steps, -1)
    y = base.targets[s0:]
    if base.method == "central":
        O += p.c
        losses = _step_losses(O, y)
        change = losses[:n] - losses[n:]
    else:
        change = _imag_step_losses(O[:n] + p.c, O[n:], y)
    return _place(change, start, s0, T)


def _output_chunk(base: _Base, name: str, k, j) -> np.ndarray:
    """Per-step loss changes for copies perturbing c[k] or V[k, j] (the states do not change)."""
    n, T = len(k), len(base.inputs)
    rows, steps = np.arange(n)[:, None], np.arange(T)[None, :]
    shift = np.ones((n, T)) if name == "c" else base.H[:, j].T  # d o_t[k] / d theta
    if base.method == "central":
        O = np.broadcast_to(base.O, (2 * n, T, base.O.shape[1])).copy()
        O[rows, steps, k[:, None]] += base.h * shift
        O[n + rows, steps, k[:, None]] -= base.h * shift
        losses = _step_losses(O, base.targets)
        return losses[:n] - losses[n:]
    Oi = np.zeros((n, T, base.O.shape[1]))
    Oi[rows, steps, k[:, None]] = base.h * shift
    return _imag_step_losses(base.O, Oi, base.targets)


def _place(change: np.ndarray, start, s0: int, T: int) -> np.ndarray:
    full = np.zeros((change.shape[0], T))
    full[:, s0:] = change
    full[np.arange(T)[None, :] < start[:, None]] = 0.0  # exactly: the entry was not read yet
    return full


def _chunk_tasks(base: _Base, name: str):
    """[(flat indices, callable returning (n, T) per-step changes)], in a fixed order."""
    index, a, b_, start = _entries(base, name)
    T = len(base.inputs)
    live = start < T  # entries never read leave gn = 0 exactly
    order = np.argsort(start[live], kind="stable")
    index, a, b_, start = (v[live][order] for v in (index, a, b_, start))
    tasks = []
    if name in ("c", "V"):
        for lo in range(0, len(index), _OUTPUT_CHUNK):
            sl = slice(lo, lo + _OUTPUT_CHUNK)
            tasks.append((index[sl], lambda sl=sl: _output_chunk(base, name, a[sl], b_[sl])))
    else:
        for lo in range(0, len(index), _RECURRENT_CHUNK):
            sl = slice(lo, lo + _RECURRENT_CHUNK)
            tasks.append(
                (index[sl], lambda sl=sl: _recurrent_chunk(base, name, a[sl], b_[sl], start[sl]))
            )
    return tasks


def _workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def numerical_gradients(
    params: Params,
    inputs,
    targets,
    seq_lengths: Sequence[int],
    method: str = "central",
    h: float | None = None,
    names: Sequence[str] = PARAM_NAMES,
    should_stop: Callable[[], bool] | None = None,
    on_parameter: Callable[[str, np.ndarray], None] | None = None,
    workers: int | None = None,
) -> dict[str, np.ndarray]:
    """Numerical gradients of every entry of `names`, batched: {name: (len(seq_lengths), *shape)}.

    inputs/targets must be at least max(seq_lengths) long. on_parameter(name, grads) is called
    as each parameter completes (in `names` order); when should_stop() turns true the parameters
    finished so far are returned.
    """
    h = default_h(method) if h is None else h
    T = max(seq_lengths)
    inputs = np.asarray(inputs, dtype=np.intp)[:T]
    targets = np.asarray(targets, dtype=np.intp)[:T]
    base = _make_base(params, inputs, targets, method, h)
    lengths = np.asarray(seq_lengths) - 1
    scale = 2 * h if method == "central" else h
    stop = should_stop or (lambda: False)
    from threadpoolctl import threadpool_limits

    result: dict[str, np.ndarray] = {}
    pool = ThreadPoolExecutor(max_workers=workers or _workers())
    # Each thread runs whole chunks; a second BLAS thread per product would only add overhead.
    with threadpool_limits(limits=1, user_api="blas"):
        try:
            plan = [(name, _chunk_tasks(base, name)) for name in names]
            futures = {
                name: [(idx, pool.submit(_unless_stopped, run, stop)) for idx, run in tasks]
                for name, tasks in plan
            }
            for name in names:
                shape = getattr(params, name).shape
                grads = np.zeros((len(lengths), math.prod(shape)))
                for idx, future in futures[name]:
                    change = None if stop() else future.result()
                    if change is None:
                        return result
                    grads[:, idx] = np.cumsum(change, axis=1)[:, lengths].T / scale
                result[name] = grads.reshape((len(lengths), *shape))
                if on_parameter is not None:
                    on_parameter(name, result[name])
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return result


def _unless_stopped(run, stop):
    return None if stop() else run()


# -- the whole check ----------------------------------------------------------------------------
def run_gradcheck(
    data: np.ndarray,
    vocab_size: int,
    *,
    hidden_size: int = 100,
    sigma: float = 0.01,
    seed: int = 0,
    params: Params | None = None,
    seq_lengths: Sequence[int] = DEFAULT_SEQ_LENGTHS,
    method: str = "central",
    h: float | None = None,
    eps: float = DEFAULT_EPS,
    threshold: float | None = None,
    on_row: Callable[[GradcheckRow], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    analytic: AnalyticFn | None = None,
    workers: int | None = None,
) -> GradcheckReport:
    """The report's Table 1: every entry of b, c, U, W, V at each sequence length.

    The model is `params` (e.g. from a run) or a fresh one initialised exactly as
    Trainer(...) does with the same seed. Rows come in parameter order (b, c, U, W, V), lengths
    ascending; on_row(row) is called from this thread as each row completes. `analytic`
    replaces the backward pass under test (tests inject broken ones). Raises ValueError with a
    one-line message for bad options.
    """
    started = time.perf_counter()
    _check_method(method)
    h = default_h(method) if h is None else float(h)
    threshold = default_threshold(method) if threshold is None else float(threshold)
    eps = float(eps)
    lengths = _check_options(data, vocab_size, hidden_size, sigma, seq_lengths, h, eps, threshold)
    if params is None:
        rng = np.random.Generator(np.random.PCG64(seed))
        params = init_params(vocab_size, hidden_size, sigma, rng)
    else:
        if params.vocab_size != vocab_size:
            raise ValueError(
                f"the model has a vocabulary of {params.vocab_size} characters but the corpus "
                f"has {vocab_size}: check it with the run's own corpus"
            )
        params = Params.from_flat(
            params.flat.astype(np.float64, copy=True), vocab_size, params.hidden_size
        )
    data = np.asarray(data)
    if data.size and int(data.max()) >= vocab_size:
        raise ValueError(f"the data holds ids >= the vocabulary size {vocab_size}")
    analytic = analytic or analytic_gradients
    T = max(lengths)
    inputs = data[:T].astype(np.intp)
    targets = data[1 : T + 1].astype(np.intp)
    h0 = np.zeros(params.hidden_size)
    exact = {L: analytic(params, inputs[:L], targets[:L], h0) for L in lengths}

    rows: list[GradcheckRow] = []

    def on_parameter(name: str, numerical: np.ndarray) -> None:
        for n, L in enumerate(lengths):
            stats = compare(getattr(exact[L], name), numerical[n], eps, threshold)
            row = GradcheckRow(name, L, *stats, method=method)
            rows.append(row)
            if on_row is not None:
                on_row(row)

    done = numerical_gradients(
        params,
        inputs,
        targets,
        lengths,
        method,
        h,
        should_stop=should_stop,
        on_parameter=on_parameter,
        workers=workers,
    )
    return GradcheckReport(
        rows=rows,
        method=method,
        h=h,
        eps=eps,
        threshold=threshold,
        hidden=params.hidden_size,
        seconds=time.perf_counter() - started,
        stopped=len(done) < len(PARAM_NAMES),
    )


def parse_seq_lengths(text: str) -> tuple[int, ...]:
    """'5,10,15,25' -> (5, 10, 15, 25); ValueError with a one-line message otherwise."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise ValueError("--seq-lengths is empty: give lengths like 5,10,15,25")
    try:
        return tuple(int(part) for part in parts)
    except ValueError:
        raise ValueError(
            f"--seq-lengths must be comma-separated whole numbers like 5,10,15,25, got {text!r}"
        ) from None


def _check_options(data, vocab_size, hidden_size, sigma, seq_lengths, h, eps, threshold):
    """The sorted distinct lengths, or ValueError naming the first bad option."""
    for name, value in (("--h", h), ("--eps", eps), ("--threshold", threshold)):
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {value:g}")
    if not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f"--sigma must be >= 0, got {sigma:g}")
    if hidden_size < 1:
        raise ValueError(f"--hidden must be at least 1, got {hidden_size}")
    if vocab_size < 1:
        raise ValueError("the corpus has an empty vocabulary: give a text with some characters")
    lengths = sorted(set(int(L) for L in seq_lengths))
    if not lengths:
        raise ValueError("--seq-lengths is empty: give one or more lengths, e.g. 5,10,15,25")
    if lengths[0] < 1:
        raise ValueError(f"sequence lengths must be at least 1, got {lengths[0]}")
    available = len(data) - 1  # the targets are the inputs shifted by one
    if lengths[-1] > available:
        raise ValueError(
            f"sequence length {lengths[-1]} needs {lengths[-1] + 1} characters (inputs and "
            f"targets shifted by one) but the corpus has {len(data)}: use shorter --seq-lengths"
        )
    return lengths


# -- presentation (rich, no textual) ------------------------------------------------------------
METHOD_NAMES = {"central": "central differences", "complex": "complex step"}


def report_table(report: GradcheckReport):
    """The report's Table 1: a max-error and a sum-error line per parameter, a column per length.

    A failing row's max-error cell is red.
    """
    from rich.table import Table

    lengths = sorted({row.seq_length for row in report.rows})
    table = Table(
        title=f"Gradient check: {METHOD_NAMES[report.method]}, h = {report.h:g}, "
        f"eps = {report.eps:g}, threshold = {report.threshold:g}, m = {report.hidden}",
    )
    table.add_column("parameter")
    table.add_column("error")
    for L in lengths:
        table.add_column(f"seq {L}", justify="right")
    cells = {(row.parameter, row.seq_length): row for row in report.rows}
    for name in PARAM_NAMES:
        if not any(key[0] == name for key in cells):
            continue
        max_line, sum_line = [name, "max error"], ["", "sum error"]
        for L in lengths:
            row = cells.get((name, L))
            if row is None:
                max_line.append("")
                sum_line.append("")
                continue
            style = "green" if row.passed else "bold red"
            max_line.append(f"[{style}]{row.max_rel_error:.2e}[/{style}]")
            sum_line.append(f"{row.sum_rel_error:.2e}")
        table.add_row(*max_line)
        table.add_row(*sum_line, end_section=True)
    return table


def verdict(report: GradcheckReport) -> str:
    """One line: pass or fail, the worst row, the time."""
    if not report.rows:
        return "STOPPED before any row finished"
    worst = max(report.rows, key=lambda row: _sort_key(row.max_rel_error))
    where = (
        f"worst {worst.parameter} at seq {worst.seq_length}: max rel error "
        f"{worst.max_rel_error:.2e}, max |ga-gn| {worst.max_abs_error:.1e}, "
        f"max |ga| {worst.max_abs_grad:.1e}"
    )
    failed = [row for row in report.rows if not row.passed]
    timing = f"{report.seconds:.2f} s"
    if report.stopped:
        return f"STOPPED after {len(report.rows)} rows ({where}; {timing})"
    if failed:
        return (
            f"FAIL: {len(failed)} of {len(report.rows)} rows exceed the threshold "
            f"{report.threshold:g} ({where}; {timing})"
        )
    return (
        f"PASS: all {len(report.rows)} rows within the threshold {report.threshold:g} "
        f"({where}; {timing})"
    )


def _sort_key(value: float) -> float:
    return math.inf if math.isnan(value) else value
