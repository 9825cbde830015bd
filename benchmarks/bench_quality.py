"""The quality preset: recipes compared side by side, and the preset timed as a user types it.

    python benchmarks/bench_quality.py                       # `tui-rnn train --preset quality`
    python benchmarks/bench_quality.py --repeat 3            #   ... three times, one after another
    python benchmarks/bench_quality.py --recipes             # the recipes below, compared
    python benchmarks/bench_quality.py --recipes --recipe="--hidden 256 --eta 4e-3" ...

As typed: a real `tui-rnn train --preset quality --json` in a fresh process, timed from before it
starts to its exit (start-up included); prints the wall time, the updates its time limit fixed,
and the best validation loss (nats per character on the last 10% of the text).

Recipes (--recipes): each recipe is `--preset quality` plus its options. Every recipe trains the
number of updates it would fit in SECONDS on a quiet machine, so that recipes are compared at
what they can do in the budget even when this machine is loaded:

  1. speed: each recipe's seconds per update (and per validation pass, sample and checkpoint)
     measured as the time limit measures them (tui_rnn/training/budget.py), the fastest of
     alternating rounds (recipes that differ only in their learning rate share one), beside a
     reference recipe whose quiet speed is known (--reference, --reference-ms per update on a
     quiet machine): the load factor is the reference's time now over its quiet time, and each
     recipe's quiet time is its time now over that factor;
  2. updates: what fits in SECONDS at the quiet speed, with its evaluations, samples and
     checkpoints (budget.updates_within);
  3. training: `tui-rnn train --preset quality RECIPE --iterations N --json` (the schedule made
     for N updates), --jobs at a time: the losses do not depend on the load, only the waiting.

Prints numbers; asserts nothing.
"""

from __future__ import annotations

import tui_rnn  # noqa: F401  first: it pins OpenBLAS's kernels before NumPy loads (blas.py)

# isort: split
import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import astuple, fields, replace
from pathlib import Path

from tui_rnn.cli.parser import build_parser
from tui_rnn.training import budget
from tui_rnn.training.corpus import load_corpus
from tui_rnn.training.options import PRESET_RUN_OPTIONS, given, resolve
from tui_rnn.training.trainer import default_eval_every

# The recipe the reference speed is for: the preset as it is (two GRU layers of 160, batch 16,
# seq 64, float32, Adam 8e-3, 200 updates of warmup, cosine), REFERENCE_MS an update on the
# quiet 2-core AMD EPYC VM of docs/performance.md (about its mean in three runs as typed).
REFERENCE = "--layers 2 --hidden 160 --batch 16 --eta 8e-3 --warmup 200"
REFERENCE_MS = 55.0
# Each explicit, so that the list compares the same recipes after the preset changes.
RECIPES = (
    REFERENCE,
    "--layers 1 --hidden 192 --batch 16 --eta 8e-3 --warmup 200",
    "--layers 1 --hidden 192 --batch 16 --eta 8e-3 --warmup 200 --lr-schedule linear",
    "--layers 2 --hidden 144 --batch 16 --eta 8e-3 --warmup 200",
    "--layers 2 --hidden 128 --batch 16 --eta 8e-3 --warmup 200",
    "--layers 1 --hidden 192 --batch 16 --eta 1.2e-2 --warmup 200",
    "--layers 1 --hidden 192 --batch 16 --eta 5e-3 --warmup 100",
    "--layers 1 --hidden 192 --batch 16 --eta 3e-3 --warmup 0",
    "--layers 1 --hidden 192 --batch 32 --eta 3e-3 --warmup 0",
    "--layers 1 --hidden 192 --batch 8 --eta 4e-3 --warmup 200",
    "--layers 1 --hidden 192 --seq-length 128 --batch 8 --eta 8e-3 --warmup 200",
    "--layers 1 --hidden 256 --batch 16 --eta 8e-3 --warmup 200",
    "--layers 1 --hidden 160 --batch 16 --eta 8e-3 --warmup 200",
    "--layers 1 --hidden 128 --batch 16 --eta 4e-3 --warmup 0",
    "--layers 1 --hidden 128 --batch 32 --eta 5e-3 --warmup 0",
)


def recipe_config(recipe: str):
    args = build_parser("train").parse_args(shlex.split(recipe))
    return resolve(given(args), "quality"), args


def speed_key(config) -> tuple:
    """What a recipe's speed depends on: its config less the learning rate and its schedule."""
    same = dict(eta=1.0, lr_schedule="constant", warmup=0, eta_min=0.0, patience=None)
    return tuple(sorted(replace(config, schedule_end=None, seed=0, **same).to_dict().items()))


def measure_speeds(recipes: list[str], corpus, rounds: int, seconds: float) -> dict:
    """Each recipe's budget.Speed: the fastest of `rounds` measurements taken in alternation
    (the least disturbed by other jobs), one per distinct model and batch (recipes that differ
    only in their learning rate share it)."""
    configs = {recipe: recipe_config(recipe)[0] for recipe in recipes}
    keys = {recipe: speed_key(config) for recipe, config in configs.items()}
    first = {key: recipe for recipe, key in reversed(keys.items())}
    measured: dict[tuple, list[budget.Speed]] = {key: [] for key in first}
    for r in range(rounds):
        for key, recipe in first.items():
            config = replace(configs[recipe], schedule_end=None)
            speed = budget.measure(config, corpus.data, corpus.chars, None, seconds)
            measured[key].append(speed)
        print(f"speed round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    fastest = {
        key: budget.Speed(*(min(getattr(s, f.name) for s in speeds) for f in fields(budget.Speed)))
        for key, speeds in measured.items()
    }
    return {recipe: fastest[keys[recipe]] for recipe in recipes}


def planned_updates(recipe: str, speed: budget.Speed, factor: float, seconds: float, corpus):
    """The updates a recipe fits in `seconds` at its speed divided by the load `factor`."""
    config, _ = recipe_config(recipe)
    quiet = budget.Speed(*(value / factor for value in astuple(speed)))
    eval_every = config.eval_every or default_eval_every(config, len(corpus))
    return budget.updates_within(quiet, seconds, config, eval_every, 10.0), quiet


def train_recipe(recipe: str, updates: int, corpus: str | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        argv = [sys.executable, "-m", "tui_rnn", "train", *([corpus] if corpus else [])]
        argv += ["--preset", "quality", *shlex.split(recipe), "--iterations", str(updates)]
        argv += ["--run-dir", str(run_dir), "--json", "--save-every", "60"]
        began = time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            return {"recipe": recipe, "error": done.stderr.strip()}
        summary = json.loads(done.stdout)
        summary["recipe"], summary["wall"] = recipe, time.monotonic() - began
        return summary


def run_as_typed(corpus: str | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        argv = [sys.executable, "-m", "tui_rnn", "train", *([corpus] if corpus else [])]
        argv += ["--preset", "quality", "--run-dir", str(run_dir), "--json"]
        began = time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True)
        wall = time.monotonic() - began
        if done.returncode != 0:
            sys.exit(f"training failed ({done.returncode}): {done.stderr}")
        summary = json.loads(done.stdout)
        summary["wall"] = wall
        return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=None, help="a text file (default: built-in)")
    parser.add_argument("--repeat", type=int, default=1, help="as typed: this many runs")
    parser.add_argument("--recipes", action="store_true", help="compare recipes (see above)")
    parser.add_argument(
        "--recipe", action="append", default=None, help="options added to --preset quality "
        "(repeatable; default: the built-in list); the reference is always measured"
    )  # fmt: skip
    preset_seconds = float(PRESET_RUN_OPTIONS["quality"]["time_limit"])  # type: ignore[arg-type]
    parser.add_argument(
        "--seconds", type=float, default=preset_seconds - 10,
        help="training seconds to plan each recipe for (the time limit less start-up, "
        "measuring and the end)",
    )  # fmt: skip
    parser.add_argument("--reference", default=REFERENCE)
    parser.add_argument("--reference-ms", type=float, default=REFERENCE_MS)
    parser.add_argument("--rounds", type=int, default=5, help="speed: alternating rounds")
    parser.add_argument("--speed-seconds", type=float, default=2.0, help="speed: per measure")
    parser.add_argument("--jobs", type=int, default=1, help="recipes trained at once")
    parser.add_argument("--speed-only", action="store_true", help="plan, do not train")
    args = parser.parse_args()

    if not args.recipes:
        for k in range(args.repeat):
            s = run_as_typed(args.corpus)
            print(
                f"run {k + 1}: wall {s['wall']:.1f} s, {s['iterations']:,} updates (target "
                f"{s['target']:,}, stopped: {s['stopped']}), best val_loss "
                f"{s['best_val_loss']:.4f} at update {s['best_val_iteration']:,}",
                flush=True,
            )
        return

    corpus = load_corpus(args.corpus)
    recipes = list(dict.fromkeys([args.reference, *(args.recipe or RECIPES)]))
    load = os.getloadavg()[0]
    speeds = measure_speeds(recipes, corpus, args.rounds, args.speed_seconds)
    factor = speeds[args.reference].update * 1e3 / args.reference_ms
    print(
        f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}; the reference takes "
        f"{speeds[args.reference].update * 1e3:.1f} ms an update now, {args.reference_ms:g} "
        f"quietly: load factor {factor:.2f}"
    )
    plans = {}
    print(
        f"{'recipe (--preset quality plus)':58s} ms/upd now  quiet  updates in {args.seconds:g} s"
    )
    for recipe in recipes:
        updates, quiet = planned_updates(recipe, speeds[recipe], factor, args.seconds, corpus)
        plans[recipe] = updates
        print(
            f"{recipe[:58]:58s} {speeds[recipe].update * 1e3:10.1f} {quiet.update * 1e3:6.1f}"
            f"  {updates:>8,}",
            flush=True,
        )
    if args.speed_only:
        return
    print(f"\n{'recipe (--preset quality plus)':58s}  updates  stopped   best val  bits/char")
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(train_recipe, r, plans[r], args.corpus) for r in recipes]
        for future in as_completed(futures):  # each as it ends: a long comparison says as it goes
            r = future.result()
            if "error" in r:
                print(f"{r['recipe'][:58]:58s}  failed: {r['error']}", flush=True)
                continue
            best = r["best_val_loss"]
            print(
                f"{r['recipe'][:58]:58s} {r['iterations']:>8,}  {r['stopped']:8s} {best:9.4f}"
                f"  {best / math.log(2):9.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
