"""Gradient check speed: the batched check against the one-entry-at-a-time loop.

    python benchmarks/bench_gradcheck.py [CORPUS] [--hidden 100] [--repeats 3] [--loop-entries 300]

The full default table (every entry of b, c, U, W, V at seq lengths 5, 10, 15, 25) is timed for
both methods, with the default thread pool and with one thread. The loop (numerical_gradients_loop:
one forward pass per entry and sign, as a textbook check does it) would take minutes, so it is
timed on a random subset of entries at each length and extrapolated to all of them; the script
says so in its output. Every forward pass costs the same whatever entry it perturbs, so the
extrapolation is linear.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from tui_rnn.corpus import load_corpus
from tui_rnn.gradcheck import (
    DEFAULT_SEQ_LENGTHS,
    METHODS,
    _workers,
    numerical_gradients_loop,
    run_gradcheck,
)
from tui_rnn.model import init_params


def time_batched(corpus, hidden, method, workers, repeats):
    seconds = []
    for _ in range(repeats):
        report = run_gradcheck(
            corpus.data, corpus.vocab_size, hidden_size=hidden, method=method, workers=workers
        )
        assert report.passed
        seconds.append(report.seconds)
    return min(seconds), statistics.median(seconds)


def time_loop(corpus, hidden, method, sample_size, seed=0):
    """(extrapolated seconds for every entry at every length, entries timed, total entries)."""
    params = init_params(corpus.vocab_size, hidden, 0.01, np.random.Generator(np.random.PCG64(0)))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=None, help="(built-in tinyshakespeare)")
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loop-entries", type=int, default=300)
    args = parser.parse_args()

    corpus = load_corpus(args.corpus)
    print(
        f"corpus {corpus.name}: K = {corpus.vocab_size}, m = {args.hidden}, seq lengths "
        f"{','.join(map(str, DEFAULT_SEQ_LENGTHS))}, {os.cpu_count()} CPUs, "
        f"default pool {_workers()} threads"
    )
    for method in METHODS:
        best, median = time_batched(corpus, args.hidden, method, None, args.repeats)
        best1, median1 = time_batched(corpus, args.hidden, method, 1, args.repeats)
        loop, timed, entries = time_loop(corpus, args.hidden, method, args.loop_entries)
        print(
            f"{method:8s} batched, all {entries:,} entries x {len(DEFAULT_SEQ_LENGTHS)} lengths: "
            f"{best:.2f} s best / {median:.2f} s median of {args.repeats} (default threads); "
            f"{best1:.2f} s / {median1:.2f} s (1 thread)"
        )
        print(
            f"{'':8s} one entry at a time: {loop:.1f} s (extrapolated from {timed} random "
            f"entries per length, 1 thread) -> batched is {loop / best:.0f}x faster "
            f"({loop / best1:.0f}x on 1 thread)"
        )


if __name__ == "__main__":
    main()
