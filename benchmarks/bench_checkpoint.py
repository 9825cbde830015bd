"""What the strict checkpoint reader costs, and how long the longest sample takes.

1. Loading a default-size checkpoint (m = 100, built-in corpus, a history of UPDATES updates):
   tui-rnn's strict reader (checkpoint.load_checkpoint_file: npzsafe, the layout from config.json,
   CRC-32, value checks) side by side with a bare np.load of the same file (no checks at all).
2. Refusing a deflate bomb (a member inflating to 2 GB) with the strict reader.
3. Sampling speed at the default size, and so the time of one --sample-length 100,000 sample.

    python benchmarks/bench_checkpoint.py                   # 100,000 updates of history
    python benchmarks/bench_checkpoint.py --updates 1000000

Prints numbers; asserts nothing. Timings on a shared machine are noisy: best of --rounds.
"""

from __future__ import annotations

import tui_rnn  # noqa: F401  first: it pins OpenBLAS's kernels before NumPy loads (blas.py)

# isort: split
import argparse
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from tui_rnn.safe import files
from tui_rnn.store import checkpoint, config, rundir
from tui_rnn.training.corpus import builtin_corpus
from tui_rnn.training.history import LossHistory
from tui_rnn.training.options import MAX_SAMPLE_LENGTH, TrainConfig
from tui_rnn.training.trainer import Trainer


def best_of(rounds: int, function) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def deflate_bomb(path: Path, size: int) -> None:
    """An .npz whose one member is a deflated .npy of `size` zero bytes."""
    import struct

    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }" % (size // 8)
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
    segment_compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = segment_compressor.compress(bytes(1 << 20)) + segment_compressor.flush(
        zlib.Z_FULL_FLUSH
    )
    stream = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = stream.compress(npy) + stream.flush(zlib.Z_FULL_FLUSH)
    data += segment * (size >> 20) + stream.flush()
    name = b"params.npy"
    usize = len(npy) + size
    local = struct.pack(
        "<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, 0, len(data), usize, len(name), 0
    )
    central = struct.pack(
        "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, 0, len(data), usize,
        len(name), 0, 0, 0, 0, 0, 0,
    )  # fmt: skip
    end_offset = len(local) + len(name) + len(data)
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(name), end_offset, 0
    )
    path.write_bytes(local + name + data + central + name + end)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=100_000, help="history length (100000)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    corpus = builtin_corpus()
    trainer = Trainer(corpus.data, corpus.chars, TrainConfig())
    trainer.train(10)
    history = np.linspace(80.0, 50.0, args.updates, dtype=np.float32)  # a history's size
    trainer.history = LossHistory.from_arrays(history, history, [0])
    trainer.iteration = args.updates
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = rundir.prepare_run_dir(Path(tmp) / "run")
        config.write_config(run_dir, trainer.config, corpus)
        checkpoint.save_checkpoint(run_dir, trainer)
        path = run_dir / rundir.CHECKPOINT_FILE
        document = config.read_config(run_dir)

        def bare() -> None:
            with np.load(path, allow_pickle=False) as npz:
                {name: npz[name] for name in npz.files}

        strict = best_of(args.rounds, lambda: checkpoint.load_checkpoint_file(path, document))
        plain = best_of(args.rounds, bare)
        size = path.stat().st_size
        print(f"checkpoint: m = 100, K = {corpus.vocab_size}, {args.updates:,} updates, {size:,} B")
        print(f"  strict reader (checkpoint.load_checkpoint_file)  {strict * 1000:8.2f} ms")
        print(f"  bare np.load, no checks                     {plain * 1000:8.2f} ms")

        bomb = run_dir / "bomb.npz"
        deflate_bomb(bomb, 2 << 30)
        refused = best_of(args.rounds, lambda: _refuse(bomb, document))
        print(f"deflate bomb ({bomb.stat().st_size:,} B inflating to 2 GiB), refused in "
              f"{refused * 1000:.2f} ms")  # fmt: skip

    with threadpool_limits(limits=1, user_api="blas"):
        sampler = Trainer(corpus.data, corpus.chars, TrainConfig())
        seconds = best_of(max(1, args.rounds // 2), lambda: sampler.synthesize(20_000))
    per_char = seconds / 20_000
    longest = per_char * MAX_SAMPLE_LENGTH
    print(f"sampling at m = 100: {per_char * 1e6:.1f} us per character; the longest sample "
          f"(--sample-length {MAX_SAMPLE_LENGTH:,}) takes {longest:.1f} s")  # fmt: skip


def _refuse(path: Path, document: dict) -> None:
    try:
        checkpoint.load_checkpoint_file(path, document)
    except files.RunError:
        return
    raise AssertionError("the bomb was not refused")


if __name__ == "__main__":
    main()
