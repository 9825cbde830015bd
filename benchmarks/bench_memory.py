"""Resident memory of a long headless run: does it stay flat?

Runs a real `tui-rnn train` process per cell (built-in corpus, a small model, checkpoints every
10 s and at every sample, as usual) for UPDATES updates and reads its resident set size from
/proc while it trains. What should grow is the loss history only: 12 bytes per update (loss,
smooth loss and training seconds as float32), held in arrays that double when full, so about
12 MB (24 MB just after a doubling) at 1,000,000 updates.

    python benchmarks/bench_memory.py                       # 1,000,000 updates (a few minutes)
    python benchmarks/bench_memory.py --updates 200000 --cells rnn,lstm,gru --layers 2 --batch 4

Linux only (/proc). Prints numbers; asserts nothing.
"""

from __future__ import annotations

import tui_rnn  # noqa: F401  first: it pins OpenBLAS's kernels before NumPy loads (blas.py)

# isort: split
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def status_kib(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def checkpoint_iteration(run_dir: Path) -> int | None:
    from tui_rnn.safe import files
    from tui_rnn.store import checkpoint

    try:
        return checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run_dir))
    except files.RunError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1_000_000)
    parser.add_argument("--cells", default="rnn", help="comma-separated: rnn,lstm,gru")
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--seq-length", type=int, default=25)
    parser.add_argument("--sample-every", type=int, default=10_000)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between readings")
    args = parser.parse_args()
    table = [measure(args, cell) for cell in args.cells.split(",")]
    print()
    print("cell   updates   RSS early (MiB)   RSS last (MiB)   peak (MiB)   bytes/update")
    for row in table:
        print("{:<5} {:>9,} {:>17.1f} {:>16.1f} {:>12.1f} {:>14.1f}".format(*row))


def measure(args, cell: str) -> tuple:
    print(f"-- {cell}, {args.layers} layer(s), batch {args.batch}, hidden {args.hidden}")
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        argv = [sys.executable, "-m", "tui_rnn", "train", "--json", "--run-dir", str(run_dir)]
        argv += ["--hidden", str(args.hidden), "--seq-length", str(args.seq_length)]
        argv += ["--cell", cell, "--layers", str(args.layers), "--batch", str(args.batch)]
        argv += ["--iterations", str(args.updates), "--sample-every", str(args.sample_every)]
        started = time.monotonic()
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        readings = []  # (seconds, iteration at the last checkpoint, rss KiB)
        peak = 0
        while process.poll() is None:
            rss = status_kib(process.pid, "VmRSS")
            if rss is not None:
                iteration = checkpoint_iteration(run_dir)
                readings.append((time.monotonic() - started, iteration, rss))
                if iteration is not None:
                    seconds = readings[-1][0]
                    print(f"{seconds:7.1f} s  iteration {iteration:>9,}  RSS {rss / 1024:7.1f} MiB")
            peak = status_kib(process.pid, "VmHWM") or 0
            time.sleep(args.every)
        out, err = process.communicate()
        if process.returncode != 0:
            sys.exit(f"training failed: {err.decode()}")
        summary = json.loads(out)
        checkpoint_bytes = (run_dir / "checkpoint.npz").stat().st_size if run_dir.exists() else 0

    known = [(s, i, r) for s, i, r in readings if i is not None]
    early = next((r for r in known if r[1] >= args.updates // 10), known[0])
    last = known[-1]
    growth = (last[2] - early[2]) * 1024 / max(1, last[1] - early[1])
    print(f"model: {cell}, hidden {args.hidden}, seq_length {args.seq_length}, built-in corpus")
    print(f"updates: {summary['iterations']:,} in {summary['seconds']:.0f} s")
    print(f"resident memory at iteration {early[1]:,}: {early[2] / 1024:.1f} MiB")
    print(f"resident memory at iteration {last[1]:,}: {last[2] / 1024:.1f} MiB")
    print(f"peak resident memory (VmHWM, last reading): {peak / 1024:.1f} MiB")
    print(f"growth: {growth:.1f} bytes per update (the loss history alone: 12)")
    if summary["iterations"] < 1_000_000:
        extra = (1_000_000 - last[1]) * growth / 2**20
        print(f"extrapolated to 1,000,000 updates: {last[2] / 1024 + extra:.1f} MiB")
    print(f"final checkpoint: {checkpoint_bytes / 2**20:.1f} MiB")
    return (
        cell,
        summary["iterations"],
        early[2] / 1024,
        last[2] / 1024,
        peak / 1024,
        growth,
    )


if __name__ == "__main__":
    main()
