"""End to end against the step alone and the textbook loop, side by side under the same load.

    python benchmarks/bench_end_to_end.py [--rounds 3] [--updates 3000]

In alternating rounds, at one BLAS thread and the pinned kernels, vanilla m = 100:

  command   `tui-rnn train --batch 64 --dtype float32 --iterations N --json` in a fresh process:
            the chars/s it reports (its training loop with its samples and checkpoints, not
            its start-up);
  trainer   the same run's Trainer.train in this process (no run directory, no CLI);
  cells     the cells' step alone as benchmarks/bench_cells.py (2) times it (forward,
            backward, clip, AdaGrad on B = 64 streams), over the same N updates: the mean, not
            the best round;
  textbook  benchmarks/textbook_rnn.py (B = 1, float64, one-hot vectors), the baseline.

Prints each round and the medians, and the ratios to the textbook loop. Asserts nothing.
"""

from __future__ import annotations

import tui_rnn  # noqa: F401  first: it pins OpenBLAS's kernels before NumPy loads (blas.py)

# isort: split
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cells import CellTrainer  # noqa: E402
from textbook_rnn import TextbookRNN  # noqa: E402

from tui_rnn.cells.model import ModelSpec  # noqa: E402
from tui_rnn.training.corpus import builtin_corpus  # noqa: E402
from tui_rnn.training.optim import AdaGrad  # noqa: E402
from tui_rnn.training.options import TrainConfig  # noqa: E402
from tui_rnn.training.trainer import Trainer  # noqa: E402

B, T, M = 64, 25, 100


def command(updates: int) -> float:
    """chars/s as `tui-rnn train` reports it."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "tui_rnn", "train", "--batch", str(B), "--dtype"]
        argv += ["float32", "--iterations", str(updates), "--run-dir", f"{tmp}/run", "--json"]
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return float(json.loads(done.stdout)["chars_per_second"])


def timed(step, updates: int, chars: int) -> float:
    began = time.perf_counter()
    for _ in range(updates):
        step()
    return updates * chars / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--textbook-updates", type=int, default=2000)
    args = parser.parse_args()
    corpus = builtin_corpus()
    spec = ModelSpec(vocab_size=corpus.vocab_size, hidden_size=M, dtype="float32")
    rates: dict[str, list[float]] = {"command": [], "trainer": [], "cells": [], "textbook": []}
    print(f"load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    for r in range(args.rounds):
        rates["command"].append(command(args.updates))
        with threadpool_limits(limits=1, user_api="blas"):
            config = TrainConfig(batch_size=B, dtype="float32")
            trainer = Trainer(corpus.data, corpus.chars, config)
            began = time.perf_counter()
            trainer.train(args.updates)
            rates["trainer"].append(args.updates * B * T / (time.perf_counter() - began))
            cells = CellTrainer(spec, corpus.data, B, T, AdaGrad, 0.1)
            rates["cells"].append(timed(cells.step, args.updates, B * T))
            textbook = TextbookRNN(corpus.data, corpus.vocab_size, M, T)
            rates["textbook"].append(timed(textbook.step, args.textbook_updates, T))
        line = ", ".join(f"{name} {values[-1]:,.0f}" for name, values in rates.items())
        print(f"round {r + 1}: {line} chars/s", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    textbook = statistics.median(rates["textbook"])
    print(f"\n{'':10s}{'chars/s (median)':>18s}{'vs textbook':>14s}")
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"{name:10s}{median:18,.0f}{median / textbook:13.1f}x")


if __name__ == "__main__":
    main()
