"""The report's update in two source trees, side by side: has a change made it slower?

    git worktree add /tmp/old 84051da          # tui-rnn 0.1.0, say
    python benchmarks/bench_against.py /tmp/old .

Each tree runs in its own process (both are the package `tui_rnn`), alternately, three times:
the report's default run on the built-in corpus, 300 updates of warm-up, then the best of 5
rounds of 1,000 updates, one BLAS thread. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import tui_rnn  # noqa: F401  first: it pins OpenBLAS's kernels before NumPy loads (blas.py)

# isort: split
import argparse
import subprocess
import sys

TIMER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from threadpoolctl import threadpool_limits
try:  # the packaged layout
    from tui_rnn.training.corpus import builtin_corpus
    from tui_rnn.training.options import TrainConfig
    from tui_rnn.training.trainer import Trainer
except ImportError:  # a tree from before the packages
    from tui_rnn.corpus import builtin_corpus
    from tui_rnn.train import TrainConfig, Trainer
corpus = builtin_corpus()
trainer = Trainer(corpus.data, corpus.chars, TrainConfig())
with threadpool_limits(1, user_api="blas"):
    for _ in range(300):
        trainer.step()
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(1000):
            trainer.step()
        best = min(best, (time.perf_counter() - started) / 1000)
print(best)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs=2, help="two source trees (each holding tui_rnn/)")
    parser.add_argument("--alternations", type=int, default=3)
    args = parser.parse_args()
    times = {tree: [] for tree in args.trees}
    for _ in range(args.alternations):
        for tree in args.trees:
            out = subprocess.run(
                [sys.executable, "-c", TIMER, tree], capture_output=True, text=True, check=True
            )
            times[tree].append(float(out.stdout))
    for tree, seconds in times.items():
        shown = ", ".join(f"{s * 1e6:.0f}" for s in seconds)
        print(f"{tree}: {shown} us per update ({25 / min(seconds):,.0f} chars/s at best)")


if __name__ == "__main__":
    main()
