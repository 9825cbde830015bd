"""One update in two source trees, side by side: has a change made it slower (or faster)?

    git worktree add /tmp/old 84051da          # tui-rnn 0.1.0, say
    python benchmarks/bench_against.py /tmp/old .
    python benchmarks/bench_against.py /tmp/old . --config '{"cell": "gru", "hidden_size": 192,
        "batch_size": 32, "seq_length": 64, "dtype": "float32", "optimizer": "adam"}'
        --warmup 10 --updates 40

Each tree runs in its own process (both are the package `tui_rnn`), alternately, three times:
a run on the built-in corpus (the report's default, or --config's TrainConfig fields), --warmup
updates of warm-up (300), then the best of --rounds (5) rounds of --updates (1,000) updates, one
BLAS thread. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import tui_rnn  # noqa: F401  first: it pins OpenBLAS's kernels before NumPy loads (blas.py)

# isort: split
import argparse
import json
import subprocess
import sys

TIMER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
config, warmup, updates, rounds = json.loads(sys.argv[2]), *map(int, sys.argv[3:6])
from threadpoolctl import threadpool_limits
try:  # the packaged layout
    from tui_rnn.training.corpus import builtin_corpus
    from tui_rnn.training.options import TrainConfig
    from tui_rnn.training.trainer import Trainer
except ImportError:  # a tree from before the packages
    from tui_rnn.corpus import builtin_corpus
    from tui_rnn.train import TrainConfig, Trainer
corpus = builtin_corpus()
trainer = Trainer(corpus.data, corpus.chars, TrainConfig(**config))
with threadpool_limits(1, user_api="blas"):
    for _ in range(warmup):
        trainer.step()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(updates):
            trainer.step()
        best = min(best, (time.perf_counter() - started) / updates)
print(best)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs=2, help="two source trees (each holding tui_rnn/)")
    parser.add_argument("--alternations", type=int, default=3)
    parser.add_argument("--config", default="{}", help="TrainConfig fields as JSON")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    config = json.loads(args.config)
    chars = config.get("batch_size", 1) * config.get("seq_length", 25)
    sizes = [str(n) for n in (args.warmup, args.updates, args.rounds)]
    times = {tree: [] for tree in args.trees}
    for _ in range(args.alternations):
        for tree in args.trees:
            out = subprocess.run(
                [sys.executable, "-c", TIMER, tree, args.config, *sizes],
                capture_output=True,
                text=True,
                check=True,
            )
            times[tree].append(float(out.stdout))
    for tree, seconds in times.items():
        shown = ", ".join(f"{s * 1e6:.0f}" for s in seconds)
        print(f"{tree}: {shown} us per update ({chars / min(seconds):,.0f} chars/s at best)")


if __name__ == "__main__":
    main()
