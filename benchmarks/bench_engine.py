"""Characters per second: the tui_rnn engine against a textbook implementation, same run.

    python benchmarks/bench_engine.py [CORPUS] [--rounds 5] [--seconds 2]
    python benchmarks/bench_engine.py [CORPUS] --updates 20000      # also compare smooth losses

Both models train on the same corpus from the same seed, in alternating rounds (engine with one
BLAS thread, engine with two, textbook with one, textbook with two, repeat), so a slow spell of
the machine hits all of them alike. Each model keeps training across rounds, so the figures are
for realistic parameters, not the first steps. The reported rate is the median over rounds of
characters consumed (updates * seq_length) per second of the update alone (no sampling, no
checkpoints). With --updates N each model instead trains exactly N updates (still in
alternating rounds) and the script prints both smooth losses at the end: same equations, same
initialisation, same AdaGrad, so they should land close to each other (rounding differences
grow chaotically, so not bit for bit).
"""

from __future__ import annotations

import tui_rnn  # noqa: F401  first: it pins OpenBLAS's kernels before NumPy loads (blas.py)

# isort: split
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from textbook_rnn import TextbookRNN  # noqa: E402

from tui_rnn.training.corpus import check_trainable, load_corpus  # noqa: E402
from tui_rnn.training.options import TrainConfig
from tui_rnn.training.trainer import Trainer

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"


def timed_updates(model, updates: int) -> float:
    started = time.perf_counter()
    for _ in range(updates):
        model.step()
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=str(DEFAULT_CORPUS))
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--seq-length", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (speed mode)")
    parser.add_argument("--seconds", type=float, default=2.0, help="per model per round")
    parser.add_argument(
        "--updates", type=int, default=None, help="train each model exactly this many updates"
    )
    args = parser.parse_args(argv)

    corpus = load_corpus(args.corpus)
    check_trainable(corpus, args.seq_length)
    config = TrainConfig(hidden_size=args.hidden, seq_length=args.seq_length, seed=args.seed)
    engine = Trainer(corpus.data, corpus.chars, config)
    textbook = TextbookRNN(
        corpus.data, corpus.vocab_size, args.hidden, args.seq_length, seed=args.seed
    )
    blas = threadpool_info()
    blas_name = ", ".join(f"{i['internal_api']} {i.get('version')}" for i in blas) or "none"
    print(
        f"corpus {corpus.name}: {len(corpus):,} chars, K = {corpus.vocab_size}; "
        f"m = {args.hidden}, seq_length = {args.seq_length}, float64, batch 1"
    )
    print(
        f"numpy {np.__version__}, BLAS {blas_name}, {os.cpu_count()} CPUs, "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}"
    )

    runs = [  # (label, model, BLAS threads)
        ("engine, 1 BLAS thread", engine, 1),
        ("engine, 2 BLAS threads", engine, 2),
        ("textbook, 1 BLAS thread", textbook, 1),
        ("textbook, 2 BLAS threads", textbook, 2),
    ]
    if args.updates is None:
        # Warm up (allocations, BLAS kernels) and size the rounds from a rough rate.
        rough = {"engine": 20 / timed_updates(engine, 20)}
        rough["textbook"] = 20 / timed_updates(textbook, 20)
        rounds = args.rounds
        per_run = [max(1, int(args.seconds * rough[label.split(",")[0]])) for label, _, _ in runs]
        schedule = [per_run] * rounds
    else:
        # Each model trains exactly args.updates, in 2 * rounds runs (1 and 2 threads a round).
        rounds = max(1, args.updates // 1000)
        shares = [
            args.updates // (2 * rounds) + (i < args.updates % (2 * rounds))
            for i in range(2 * rounds)
        ]
        schedule = [[a, b, a, b] for a, b in zip(shares[::2], shares[1::2], strict=True)]

    rates: dict[str, list[float]] = {label: [] for label, _, _ in runs}
    for r, sizes in enumerate(schedule):
        for (label, model, threads), updates in zip(runs, sizes, strict=True):
            with threadpool_limits(limits=threads, user_api="blas"):
                seconds = timed_updates(model, updates)
            rates[label].append(updates * args.seq_length / seconds)
        print(f"round {r + 1}/{rounds} done", file=sys.stderr, flush=True)

    print()
    print(f"{'':28s}{'chars/s (median)':>18s}{'min':>10s}{'max':>10s}")
    median = {}
    for label, values in rates.items():
        median[label] = statistics.median(values)
        print(f"{label:28s}{median[label]:18,.0f}{min(values):10,.0f}{max(values):10,.0f}")
    best_textbook = max(median["textbook, 1 BLAS thread"], median["textbook, 2 BLAS threads"])
    print()
    for threads in (1, 2):
        label = f"engine, {threads} BLAS thread{'s' if threads > 1 else ''}"
        print(f"ratio {label} / fastest textbook: {median[label] / best_textbook:.2f}x")
    if args.updates is not None:
        print()
        print(f"after {engine.iteration:,} updates (seed {args.seed}):")
        print(f"  engine   smooth_loss {engine.smooth_loss:.3f}")
        print(f"  textbook smooth_loss {textbook.smooth_loss:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
