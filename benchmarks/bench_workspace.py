"""Runs as a workspace: how fast the runs are listed, the comparison drawn, the report written.

    python benchmarks/bench_workspace.py [--runs 100] [--points 1000000] [--rounds 20]

(a) `tui-rnn runs` over N runs of the report's model (m = 100, 10,000 updates of history each,
    one of them held open by another process): workspace.list_runs in-process (median and max
    of the rounds), and the whole command in a subprocess (Python's start included), table and
    --json;
(b) comparing 4 runs of 1,000,000 updates each (with 100 validation losses each) on a
    110 x 30 chart (a 120 x 40 terminal): the worker's part (compare.prepare: thinning and
    placing on the x axis) and the UI thread's (compare.render: the braille raster, plus Rich
    rendering it to segments as the widget's render does), by updates, without and with the
    validation curves;
(c) `tui-rnn report` of a report's-model run of 2,000 updates (four full gradient checks, the
    figure, 1,000 characters from the best model).

Prints numbers; asserts nothing.
"""

from __future__ import annotations

import tui_rnn  # noqa: F401  first: it pins OpenBLAS's kernels before NumPy loads (blas.py)

# isort: split
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from tui_rnn.app.screens.compare_screen import AXES, RunCurves, prepare, render
from tui_rnn.cli import main as cli_main
from tui_rnn.store import workspace


def timed(function, rounds: int) -> tuple[float, float]:
    """(median, max) milliseconds of `rounds` calls."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def make_runs(base: Path, count: int) -> Path:
    """`count` runs under base/runs: one trained run of the report's model, copied."""
    first = base / "runs" / "run-000"
    argv = ["train", "--iterations", "10000", "--run-dir", str(first), "--json"]
    with open(os.devnull, "w") as quiet:
        stdout, sys.stdout = sys.stdout, quiet
        try:
            assert cli_main(argv) == 0
        finally:
            sys.stdout = stdout
    for i in range(1, count):
        shutil.copytree(first, base / "runs" / f"run-{i:03d}")
    return base / "runs"


def bench_listing(base: Path, count: int, rounds: int) -> None:
    folder = make_runs(base, count)
    size = sum(p.stat().st_size for p in (folder / "run-000").iterdir())
    held = folder / "run-007"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from tui_rnn.store import rundir; rundir.lock_run({str(held)!r}); "
         "print('locked', flush=True); import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline() == "locked\n"
    try:
        summaries = workspace.list_runs(folder)
        assert len(summaries) == count
        assert sum(s.state == "open" for s in summaries) == 1
        median, worst = timed(lambda: workspace.list_runs(folder), rounds)
        print(
            f"(a) list {count} runs ({size / 1e6:.2f} MB each, one held by another process): "
            f"workspace.list_runs median {median:.1f} ms, max {worst:.1f} ms "
            f"({median / count * 1000:.0f} us per run)"
        )
        for extra in ([], ["--json"]):
            command = [sys.executable, "-m", "tui_rnn", "runs", str(folder), *extra]

            def whole(command=command):
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)

            median, worst = timed(whole, max(3, rounds // 4))
            print(
                f"(a) `tui-rnn runs {' '.join(['DIR', *extra])}` in a subprocess, Python's start "
                f"included: median {median:.0f} ms, max {worst:.0f} ms"
            )
        python = [sys.executable, "-c", "import tui_rnn.cli"]
        median, _ = timed(lambda: subprocess.run(python, check=True), max(3, rounds // 4))
        print(f"    (Python start + import tui_rnn.cli alone: median {median:.0f} ms)")
    finally:
        holder.stdin.close()
        holder.wait()


def synthetic_history(points: int, seed: int, chars_per_update: int) -> RunCurves:
    rng = np.random.default_rng(seed)
    t = np.arange(points)
    loss = (1.5 + 2.7 * np.exp(-t / (2e5 * (1 + seed))) + rng.normal(0, 0.01, points)).astype(
        np.float32
    )
    seconds = np.cumsum(rng.uniform(2e-4, 4e-4, points)).astype(np.float32)
    val_iterations = np.arange(0, points + 1, points // 100)
    val_loss = 1.6 + 2.6 * np.exp(-val_iterations / (2e5 * (1 + seed)))
    return RunCurves(
        f"run-{seed}", "rnn 1x100 B=1 n=25", chars_per_update, loss, seconds, val_iterations,
        val_loss,
    )  # fmt: skip


def bench_compare(points: int, rounds: int, width: int = 110, height: int = 30) -> None:
    histories = [synthetic_history(points, k, 25 * (1 + k % 2)) for k in range(4)]
    console = Console(width=width, height=height, file=open(os.devnull, "w"))  # noqa: SIM115
    bins = width
    for axis in AXES:
        median, worst = timed(lambda axis=axis: prepare(histories, axis, bins), rounds)
        print(
            f"(b) 4 runs x {points:,} updates, x by {axis}: worker (thin + place) median "
            f"{median:.1f} ms, max {worst:.1f} ms"
        )
    data = prepare(histories, "updates", bins)
    drawn = sum(len(c.x) + len(c.val_x) for c in data.curves)
    for label, options in (
        ("smoothed curves", {"validation": False}),
        ("+ validation curves", {"validation": True}),
    ):

        def draw(options=options):
            text = render(data, width, height, **options)
            list(console.render(text))  # to segments, as the widget's render does

        draw()
        median, worst = timed(draw, rounds)
        print(
            f"(b) redraw on the UI thread [{label}] ({drawn:,} points drawn): braille raster + "
            f"Rich segments median {median:.1f} ms, max {worst:.1f} ms"
        )


def bench_report(base: Path, updates: int) -> None:
    run_dir = base / "report-run"
    argv = ["train", "--iterations", str(updates), "--run-dir", str(run_dir), "--json"]
    subprocess.run([sys.executable, "-m", "tui_rnn", *argv], check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tui_rnn", "report", str(run_dir)], check=True,
        capture_output=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    size = (run_dir / "report" / "report.md").stat().st_size
    print(
        f"(c) tui-rnn report of the report's model after {updates:,} updates: {seconds:.1f} s "
        f"(report.md {size / 1000:.0f} kB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--report-updates", type=int, default=2000)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench_workspace."))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    bench_listing(base, args.runs, args.rounds)
    bench_compare(args.points, args.rounds)
    bench_report(base, args.report_updates)
    print(f"load average {os.getloadavg()[0]:.1f}; runs left in {base}")


if __name__ == "__main__":
    main()
