"""The quality preset as a user waits for it: a real `tui-rnn train`, stopped by SIGINT.

Runs `tui-rnn train --preset quality --val-fraction 0.1` on the built-in corpus (or CORPUS) in
a fresh process, sends it SIGINT after SECONDS of wall clock (start-up, evaluation and
checkpoints included, as a user waits), and prints the validation loss against training
seconds read back from the run, then the best validation loss. Several option sets run one
after the other and are printed side by side:

    python benchmarks/bench_quality.py                                  # the preset, 180 s
    python benchmarks/bench_quality.py --variant= --variant="--cell rnn --hidden 256"

Prints numbers; asserts nothing.
"""

from __future__ import annotations

import tui_rnn  # noqa: F401  first: it pins OpenBLAS's kernels before NumPy loads (blas.py)

# isort: split
import argparse
import json
import math
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_variant(extra: list[str], seconds: float, corpus: str | None) -> dict:
    from tui_rnn.store import checkpoint
    from tui_rnn.store import config as store_config

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        argv = [sys.executable, "-m", "tui_rnn", "train", *([corpus] if corpus else [])]
        argv += ["--preset", "quality", "--val-fraction", "0.1", "--iterations", "10000000"]
        argv += ["--run-dir", str(run_dir), "--json", *extra]
        started = time.monotonic()
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
        wall = time.monotonic() - started
        if process.returncode not in (0, 130):
            sys.exit(f"training failed ({process.returncode}): {err.decode()}")
        summary = json.loads(out)
        document = store_config.read_config(run_dir)
        arrays = checkpoint.load_checkpoint(run_dir)
    seconds_at = arrays["seconds_history"]
    curve = []
    for iteration, loss in zip(arrays["val_iterations"], arrays["val_loss_history"], strict=True):
        at = float(seconds_at[iteration - 1]) if iteration > 0 else 0.0
        curve.append((int(iteration), at, float(loss)))
    config = document["config"]
    return {
        "options": " ".join(extra) or "(the preset)",
        "model": f"{config['cell']} {config['layers']}x{config['hidden_size']}, batch "
        f"{config['batch_size']}, seq {config['seq_length']}, {config['optimizer']} "
        f"{config['eta']:g}, {config['dtype']}",
        "wall": wall,
        "updates": summary["iterations"],
        "chars_per_second": summary["chars_per_second"],
        "best_val_loss": summary["best_val_loss"],
        "curve": curve,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--corpus", default=None, help="a text file (default: built-in)")
    parser.add_argument(
        "--variant",
        action="append",
        default=None,
        help="extra train options, quoted (repeatable; default: the preset alone)",
    )
    args = parser.parse_args()
    variants = args.variant or [""]
    results = []
    for variant in variants:
        print(f"-- {variant or '(the preset)'}: {args.seconds:.0f} s", flush=True)
        result = run_variant(shlex.split(variant), args.seconds, args.corpus)
        results.append(result)
        print(f"   {result['model']}")
        print("   seconds  update  val_loss (nats/char)  bits/char")
        for iteration, at, loss in result["curve"]:
            print(f"   {at:7.1f} {iteration:7,}  {loss:8.4f}           {loss / math.log(2):6.3f}")
    print()
    print("options                          updates  chars/s   wall (s)  best val_loss")
    for r in results:
        print(
            f"{r['options'][:32]:<32} {r['updates']:>8,} {r['chars_per_second']:>8,.0f} "
            f"{r['wall']:>9.1f}  {r['best_val_loss']:.4f}"
        )


if __name__ == "__main__":
    main()
