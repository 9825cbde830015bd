"""Gradient check speed: the batched check against the one-entry-at-a-time loop, and every cell.

    python benchmarks/bench_gradcheck.py [CORPUS] [--hidden 100] [--repeats 3] [--loop-entries 300]
                                         [--skip-report] [--skip-cells]

The full default table (every entry of b, c, U, W, V at seq lengths 5, 10, 15, 25) is timed for
both methods, with the default thread pool and with one thread. The loop (numerical_gradients_loop:
one forward pass per entry and sign, as a textbook check does it) would take minutes, so it is
timed on a random subset of entries at each length and extrapolated to all of them; the script
says so in its output. Every forward pass costs the same whatever entry it perturbs, so the
extrapolation is linear.

Then every entry of a 2-layer LSTM with m = 100 (and a 2-layer GRU), both methods (--full: over
the time budget they would otherwise be sampled), with the default thread pool; and the
sampled default check of a 3,084-character CJK text (every character distinct, so K = 3,084:
the app's startup check on such a corpus used to take 90+ s and 2.5 GB).
"""

from __future__ import annotations

import tui_rnn  # noqa: F401  first: it pins OpenBLAS's kernels before NumPy loads (blas.py)

# isort: split
import argparse
import os
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from tui_rnn.cells.model import Model, ModelSpec
from tui_rnn.gradcheck.batch import workers
from tui_rnn.gradcheck.check import GradcheckOptions, run_gradcheck
from tui_rnn.gradcheck.common import DEFAULT_SEQ_LENGTHS, METHODS
from tui_rnn.gradcheck.vanilla import numerical_gradients_loop
from tui_rnn.training.corpus import from_text, load_corpus


def time_batched(corpus, hidden, method, workers, repeats):
    seconds = []
    for _ in range(repeats):
        report = run_gradcheck(
            corpus.data,
            corpus.vocab_size,
            GradcheckOptions(hidden_size=hidden, method=method, workers=workers),
        )
        assert report.passed
        seconds.append(report.seconds)
    return min(seconds), statistics.median(seconds)


def time_loop(corpus, hidden, method, sample_size, seed=0):
    """(extrapolated seconds for every entry at every length, entries timed, total entries)."""
    spec = ModelSpec(vocab_size=corpus.vocab_size, hidden_size=hidden)
    params = Model.zeros(spec).init(np.random.Generator(np.random.PCG64(0)), 0.01)
    rng = np.random.default_rng(seed)
    sample = rng.choice(params.flat.size, size=min(sample_size, params.flat.size), replace=False)
    data = corpus.data.astype(np.intp)
    total = 0.0
    with threadpool_limits(limits=1, user_api="blas"):
        for L in DEFAULT_SEQ_LENGTHS:
            started = time.perf_counter()
            numerical_gradients_loop(params, data[:L], data[1 : L + 1], method, entries=sample)
            per_entry = (time.perf_counter() - started) / len(sample)
            total += per_entry * params.flat.size
    return total, len(sample), params.flat.size


def time_cells(corpus, repeats: int) -> None:
    """Every entry of 2-layer LSTM and GRU models (m = 100), both methods, default threads."""
    for cell in ("lstm", "gru"):
        spec = ModelSpec(cell=cell, vocab_size=corpus.vocab_size, hidden_size=100, layers=2)
        total = 0.0
        for method in METHODS:
            seconds = []
            for _ in range(repeats):
                report = run_gradcheck(
                    corpus.data,
                    corpus.vocab_size,
                    GradcheckOptions(spec=spec, method=method, full=True),
                )
                assert report.passed and not report.sampled
                seconds.append(report.seconds)
            total += min(seconds)
            print(
                f"{cell} 2 x 100, every one of {report.total_entries:,} entries x "
                f"{len(DEFAULT_SEQ_LENGTHS)} lengths, {method:8s}: {min(seconds):.1f} s best / "
                f"{statistics.median(seconds):.1f} s median of {repeats} (estimated "
                f"{report.estimated_seconds:.0f} s on one thread)"
            )
        print(f"{cell} 2 x 100, both methods: {total:.1f} s")


def time_cjk() -> None:
    """The default (budgeted) check of a text whose 3,084 characters are all distinct."""
    rng = np.random.default_rng(0)
    chars = [chr(0x4E00 + k) for k in rng.permutation(3084)]
    corpus = from_text("".join(chars), name="cjk")
    for method in METHODS:
        report = run_gradcheck(corpus.data, corpus.vocab_size, GradcheckOptions(method=method))
        assert report.passed
        print(
            f"CJK text, K = {corpus.vocab_size:,}, m = 100, {method:8s}: {report.seconds:.1f} s, "
            f"sampled {report.checked_entries:,} of {report.total_entries:,} entries"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=None, help="(built-in tinyshakespeare)")
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loop-entries", type=int, default=300)
    parser.add_argument("--skip-report", action="store_true", help="skip the report's model")
    parser.add_argument("--skip-cells", action="store_true", help="skip LSTM, GRU and CJK")
    args = parser.parse_args()

    corpus = load_corpus(args.corpus)
    print(
        f"corpus {corpus.name}: K = {corpus.vocab_size}, m = {args.hidden}, seq lengths "
        f"{','.join(map(str, DEFAULT_SEQ_LENGTHS))}, {os.cpu_count()} CPUs, "
        f"default pool {workers()} threads, load average {os.getloadavg()[0]:.2f}"
    )
    if not args.skip_report:
        for method in METHODS:
            best, median = time_batched(corpus, args.hidden, method, None, args.repeats)
            best1, median1 = time_batched(corpus, args.hidden, method, 1, args.repeats)
            loop, timed, entries = time_loop(corpus, args.hidden, method, args.loop_entries)
            print(
                f"{method:8s} batched, all {entries:,} entries x {len(DEFAULT_SEQ_LENGTHS)} "
                f"lengths: {best:.2f} s best / {median:.2f} s median of {args.repeats} (default "
                f"threads); {best1:.2f} s / {median1:.2f} s (1 thread)"
            )
            print(
                f"{'':8s} one entry at a time: {loop:.1f} s (extrapolated from {timed} random "
                f"entries per length, 1 thread) -> batched is {loop / best:.0f}x faster "
                f"({loop / best1:.0f}x on 1 thread)"
            )
    if not args.skip_cells:
        time_cells(corpus, max(1, args.repeats // 3))
        time_cjk()


if __name__ == "__main__":
    main()
