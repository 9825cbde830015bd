"""What both batched gradient checks share: per-step losses of perturbed copies, the thread pool
that runs chunks of copies, and the budget (memory per chunk, estimated time, sampled entries).

A chunk is a function of a stop test returning, for n entries, the change of the loss on each
prefix of the sequence: (n, lengths) sums of per-step changes (central: l+ - l-; complex: Im l).
The chunks of a check are fixed by the entry order and the sizes, never by the number of
threads, so results are bit-identical whatever the pool size.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

RECURRENT_CHUNK = 256  # entries per chunk for recurrent parameters (2 x 256 x T x m floats)
OUTPUT_CHUNK = 512  # entries per chunk for c, V

# -- memory: what a chunk, and all chunks in flight, may hold -------------------------------------
CHUNK_BYTES = 128 * 2**20  # one chunk's arrays (its copies' states, logits, losses)
MEMORY_BUDGET = 512 * 2**20  # all chunks running at once, plus the unperturbed trajectory
STOP_EVERY = 32  # time steps between two looks at the stop flag inside a chunk

# -- time: the estimate that decides between every entry and a sample --------------------------
# A check runs every entry when its estimated time fits TIME_BUDGET (the report's default table
# is estimated at about 1 s; measured 0.5-1 s); otherwise a seeded sample of each parameter's
# entries, scaled to fit. The estimate counts matrix-product flops, elementwise operations and
# Python steps at rates fixed here (measured on a 2-core machine, float64, one thread), never
# timed at run time: the same check always chooses the same entries.
TIME_BUDGET = 4.0  # estimated seconds (of one thread)
GEMM_FLOPS = 3.0e10  # flops per second in matrix products
ELEMENT_SECONDS = 1.0e-9  # one elementwise operation on one float
STEP_SECONDS = 2.5e-5  # Python and NumPy call overhead of one layer's time step in a chunk
MIN_SAMPLE = 64  # a sampled parameter keeps at least this many live entries
SAMPLE_SEED = 20_250_101


def step_seconds(flops: float, elements: float, layers: int, copies: int) -> float:
    """Estimated seconds of one perturbed entry's time step (its share of a chunk's step)."""
    return flops / GEMM_FLOPS + elements * ELEMENT_SECONDS + STEP_SECONDS * layers / copies


def softmax_elements(vocab: int, method: str) -> float:
    """Elementwise work of one entry's output at one step: central recomputes two softmaxes;
    the complex step's imaginary part needs about three passes over one."""
    return 2 * 10 * vocab if method == "central" else 4 * vocab


class Stopped(Exception):
    """Raised inside a chunk when the stop flag turns true."""


class TooLarge(ValueError):
    """The check cannot fit its memory budget even one copy at a time."""


def mib(size: float) -> str:
    return f"{size / 2**20:,.0f} MB" if size < 2**30 else f"{size / 2**30:,.1f} GB"


# -- per-step losses ------------------------------------------------------------------------------
def step_losses(O: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """-log softmax(o_t)[y_t] for each step (last axis: vocabulary, next-to-last: time)."""
    top = O.max(axis=-1, keepdims=True)
    shifted = O - top
    np.exp(shifted, out=shifted)
    log_sum = np.log(shifted.sum(axis=-1)) + top[..., 0]
    steps = np.arange(O.shape[-2])
    return log_sum - O[..., steps, targets]


def imag_step_losses(Or: np.ndarray, Oi: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Im of -log softmax(Or + i Oi)[y_t] per step, shifted by the real part's maximum.

    log sum_k e^{o_k} = M + log S with S = sum_k e^{Or_k - M} (cos Oi_k + i sin Oi_k), so its
    imaginary part is arg S = atan2(Im S, Re S).
    """
    weights = np.exp(Or - Or.max(axis=-1, keepdims=True))
    sin_oi, cos_oi = sin_cos(Oi)
    imag_sum = (weights * sin_oi).sum(axis=-1)
    real_sum = (weights * cos_oi).sum(axis=-1)
    steps = np.arange(Oi.shape[-2])
    return np.arctan2(imag_sum, real_sum) - Oi[..., steps, targets]


def complex_tanh(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tanh(x + iy) as (real, imaginary) float64 arrays.

    tanh(x + iy) = (sinh 2x + i sin 2y) / (cosh 2x + cos 2y); multiplied through by
    2u = 2 e^{-2|x|} this is (sign(x) (1 - u^2) + 2i u sin 2y) / (1 + u^2 + 2u cos 2y), which
    never overflows, and 1 - u^2 = -expm1(-2|x|) (1 + u) keeps full precision near x = 0.
    """
    minus_2x = -2.0 * np.abs(x)
    u = np.exp(minus_2x)  # not 1 + expm1: that would round u to 0 long before it underflows
    em = np.expm1(minus_2x, out=minus_2x)  # u - 1
    sin2y, cos2y = sin_cos(2.0 * y)
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


def sin_cos(y: np.ndarray) -> tuple[np.ndarray, np.ndarray | float]:
    """(sin y, cos y), skipping the two slowest ufuncs when every |y| is tiny (h = 1e-20 is)."""
    if np.abs(y).max(initial=0.0) < _TINY_ANGLE:
        return y.copy(), 1.0
    return np.sin(y), np.cos(y)


def prefix_changes(change: np.ndarray, start, s0: int, T: int, lengths) -> np.ndarray:
    """(n, len(lengths)): the loss change on each prefix, from per-step changes (n, T - s0).

    Steps before an entry's own start are set to exactly zero (it was not read yet).
    """
    full = np.zeros((change.shape[0], T))
    full[:, s0:] = change
    full[np.arange(T)[None, :] < np.asarray(start)[:, None]] = 0.0
    return np.cumsum(full, axis=1)[:, lengths]


def time_blocks(steps: int, bytes_per_step: float, limit: float = CHUNK_BYTES / 2):
    """Slices of at most as many steps as fit `limit` bytes (all steps when they fit: then the
    products keep the shapes, and the bits, of a check that never needed blocks)."""
    size = max(1, min(steps, int(limit // max(bytes_per_step, 1.0))))
    return [slice(lo, min(lo + size, steps)) for lo in range(0, steps, size)]


def check_stop(stop: Callable[[], bool], t: int) -> None:
    if t % STOP_EVERY == 0 and stop():
        raise Stopped


# -- chunks on a thread pool ----------------------------------------------------------------------
Chunk = Callable[[Callable[[], bool]], np.ndarray]  # stop -> (n, lengths)


@dataclass
class Parameter:
    """One parameter's chunks: the flat indices each chunk computes, and the chunks."""

    name: str
    size: int
    tasks: list[tuple[np.ndarray, Chunk]]


def workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_chunks(
    plan: Sequence[Parameter],
    n_lengths: int,
    scale: float,
    should_stop: Callable[[], bool] | None,
    on_parameter: Callable[[str, np.ndarray], None] | None,
    pool_size: int,
) -> dict[str, np.ndarray]:
    """Run every chunk of every parameter; {name: (n_lengths, size) gradients} in plan order.

    on_parameter(name, grads) is called as each parameter completes. When should_stop() turns
    true (looked at between chunks and every STOP_EVERY steps inside one) or the caller is
    interrupted (KeyboardInterrupt), running chunks end at their next look and the parameters
    finished so far are returned (or the exception propagates).
    """

    aborted = threading.Event()

    def stop() -> bool:
        return aborted.is_set() or (should_stop is not None and should_stop())

    def run(chunk: Chunk):
        if stop():
            return None
        try:
            return chunk(stop)
        except Stopped:
            return None

    result: dict[str, np.ndarray] = {}
    pool = ThreadPoolExecutor(max_workers=pool_size)
    # Each thread runs whole chunks; a second BLAS thread per product would only add overhead.
    with threadpool_limits(limits=1, user_api="blas"):
        try:
            futures = [
                [(index, pool.submit(run, chunk)) for index, chunk in parameter.tasks]
                for parameter in plan
            ]
            for parameter, submitted in zip(plan, futures, strict=True):
                grads = np.zeros((n_lengths, parameter.size))
                for index, future in submitted:
                    changes = None if stop() else future.result()
                    if changes is None:
                        return result
                    grads[:, index] = changes.T / scale
                result[parameter.name] = grads
                if on_parameter is not None:
                    on_parameter(parameter.name, grads)
        finally:
            aborted.set()
            pool.shutdown(wait=True, cancel_futures=True)
    return result


@dataclass(frozen=True)
class Path:
    """What a batched check (vanilla, generic) provides to the runner.

    subject: the model (a cells.Model); base: its unperturbed trajectory.
    """

    make_base: Callable  # (subject, inputs, targets, method, h) -> base
    entries: Callable  # (subject, inputs, name) -> (flat indices, row, column, first step)
    chunk_bytes: Callable  # (subject, T, name) -> bytes of one perturbed copy
    shape: Callable  # (subject, name) -> the parameter's shape
    output_chunk: Callable  # (base, name, rows, columns, lengths, stop) -> (n, lengths)
    recurrent_chunk: Callable  # (base, name, rows, columns, starts, lengths, stop) -> same


def chunk_size(path: Path, subject, T: int, name: str) -> int:
    """Copies per chunk: the default, fewer for long sequences (chunk memory)."""
    default = OUTPUT_CHUNK if name in ("c", "V") else RECURRENT_CHUNK
    bytes_per_copy = path.chunk_bytes(subject, T, name)
    return copies_per_chunk(default, bytes_per_copy, lambda: f"sequence length {T}")


def chunk_plan(path: Path, subject, base, name: str, inputs, selection, lengths) -> Parameter:
    """The chunks computing the selected entries of one parameter, in a fixed order (entries
    sorted by the step they start at; those never read are left out: their gn is 0)."""
    index, rows, columns, start = path.entries(subject, inputs, name)
    T = len(inputs)
    live = (start < T) & np.isin(index, selection.entries)
    order = np.argsort(start[live], kind="stable")
    index, rows, columns, start = (v[live][order] for v in (index, rows, columns, start))
    size = chunk_size(path, subject, T, name)
    tasks: list[tuple[np.ndarray, Chunk]] = []
    for lo in range(0, len(index), size):
        sl = slice(lo, lo + size)
        if name in ("c", "V"):

            def run(stop, sl=sl):
                return path.output_chunk(base, name, rows[sl], columns[sl], lengths, stop)

        else:

            def run(stop, sl=sl):
                return path.recurrent_chunk(
                    base, name, rows[sl], columns[sl], start[sl], lengths, stop
                )

        tasks.append((index[sl], run))
    return Parameter(name, math.prod(path.shape(subject, name)), tasks)


def numerical_gradients(
    path: Path, subject, inputs, targets, seq_lengths, method, h, names, should_stop,
    on_parameter, workers, selections,
) -> dict[str, np.ndarray]:  # fmt: skip
    """The batched numerical gradients of `names` (see the paths' numerical_gradients)."""
    T = max(seq_lengths)
    inputs = np.asarray(inputs, dtype=np.intp)[:T]
    targets = np.asarray(targets, dtype=np.intp)[:T]
    base = path.make_base(subject, inputs, targets, method, h)
    lengths = np.asarray(seq_lengths) - 1
    shapes = {name: path.shape(subject, name) for name in names}
    selections = selections or {
        name: Selection(np.arange(math.prod(shape)), math.prod(shape))
        for name, shape in shapes.items()
    }
    plan = [
        chunk_plan(path, subject, base, name, inputs, selections[name], lengths) for name in names
    ]
    biggest = max(path.chunk_bytes(subject, T, name) * RECURRENT_CHUNK for name in names)

    def reshape(name, grads):
        if on_parameter is not None:
            on_parameter(name, grads.reshape((len(lengths), *shapes[name])))

    done = run_chunks(
        plan,
        len(lengths),
        2 * h if method == "central" else h,
        should_stop,
        reshape,
        pool_size(workers, min(biggest, CHUNK_BYTES)),
    )
    return {name: grads.reshape((len(lengths), *shapes[name])) for name, grads in done.items()}


def pool_size(requested: int | None, chunk_bytes: float) -> int:
    """Threads: as requested (default: the CPUs), but no more chunks in flight than fit."""
    fit = max(1, int(MEMORY_BUDGET // max(chunk_bytes, 1.0)))
    return max(1, min(requested or workers(), fit))


def copies_per_chunk(default: int, bytes_per_copy: float, what: Callable[[], str]) -> int:
    """The chunk size: `default` copies, fewer when that would not fit CHUNK_BYTES.

    TooLarge (naming the cause, from what()) when even one copy does not fit.
    """
    fit = int(CHUNK_BYTES // max(bytes_per_copy, 1.0))
    if fit < 1:
        raise TooLarge(
            f"{what()} needs {mib(bytes_per_copy)} per perturbed copy, more than the check's "
            f"{mib(CHUNK_BYTES)}: use shorter --seq-lengths"
        )
    return min(default, fit)


# -- sampling -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    """Which entries of one parameter a check computes."""

    entries: np.ndarray  # flat indices, ascending (live sampled ones and every dead one)
    total: int  # entries in the parameter

    @property
    def sampled(self) -> bool:
        return len(self.entries) < self.total


def select_entries(costs: dict[str, np.ndarray], full: bool) -> tuple[dict[str, Selection], float]:
    """Every entry if the estimated time fits the budget (or `full`), else a seeded sample.

    costs[name][e] is entry e's estimated seconds (0 for an entry the sequence never reads: its
    numerical gradient is exactly 0 for free, so it is always checked). A sample keeps the same
    fraction of each parameter's live entries (at least MIN_SAMPLE), drawn without replacement
    from a generator seeded by SAMPLE_SEED and the parameter's position. Returns the selections
    and the estimated seconds of what was selected.
    """
    total = sum(float(c.sum()) for c in costs.values())
    fraction = 1.0 if full or total <= TIME_BUDGET else TIME_BUDGET / total
    selections, estimate = {}, 0.0
    for position, (name, cost) in enumerate(costs.items()):
        live = np.flatnonzero(cost > 0)
        keep = live
        if fraction < 1.0:
            count = min(len(live), max(MIN_SAMPLE, math.ceil(fraction * len(live))))
            rng = np.random.Generator(np.random.PCG64([SAMPLE_SEED, position]))
            keep = np.sort(rng.choice(live, size=count, replace=False))
        entries = np.union1d(np.flatnonzero(cost <= 0), keep)
        selections[name] = Selection(entries, cost.size)
        estimate += float(cost[keep].sum())
    return selections, estimate
