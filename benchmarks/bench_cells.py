"""The cells' speed, side by side in one run (the figures of docs/performance.md, Cells).

    python benchmarks/bench_cells.py [--rounds 7] [--threads 1,2] [--no-torch]

(1) the report's model, m = 100, B = 1, float64: forward + backward per character, tui_rnn/cells
    against tui-rnn 0.1.0's model.py (the code the cells replace, kept frozen in
    tests/report_reference.py), on the built-in corpus's chunks;
(2) vanilla m = 100, B = 64 streams, T = 25, float32: characters per second of forward +
    backward + clip + AdaGrad, against the textbook loop (benchmarks/textbook_rnn.py: B = 1,
    float64, one-hot vectors, as the assignment is usually first written);
(3) one-layer LSTM 256, B = 32, T = 64, float32: forward + backward + clip + Adam, against
    PyTorch's nn.LSTM + Linear + cross-entropy + Adam doing the same training step (one-hot
    input of the same K, clip_grad_value_ 5, loss summed over time and averaged over streams)
    at the same thread count. PyTorch is optional (benchmark only): without it the script says
    so and skips the comparison. Install the CPU build with `pip install torch==2.13.0`.

Every comparison alternates its two sides over many short rounds (a slow spell of the machine
hits both), and reports the best and the median round. After (2) and (3) it prints where the
cells' time goes: matrix products (timed alone, same shapes) against everything else.
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
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import report_reference as report_model  # noqa: E402  (tests/: 0.1.0's model.py, frozen)
from textbook_rnn import TextbookRNN  # noqa: E402

from tui_rnn.cells.model import Model, ModelSpec  # noqa: E402
from tui_rnn.training.corpus import builtin_corpus  # noqa: E402
from tui_rnn.training.optim import AdaGrad, Adam  # noqa: E402


def timed(fn, repeats: int) -> float:
    """Seconds per call of fn(), over `repeats` calls."""
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - started) / repeats


def rounds(sides: dict, repeats: int, n_rounds: int) -> dict[str, list[float]]:
    """Alternate the sides round by round; seconds per call of each, one figure per round."""
    for fn in sides.values():  # warm up: allocations, BLAS kernels
        timed(fn, max(1, repeats // 5))
    result = {name: [] for name in sides}
    for _ in range(n_rounds):
        for name, fn in sides.items():
            result[name].append(timed(fn, repeats))
    return result


def summary(seconds: list[float], per: float, unit: str, scale: float) -> str:
    best, median = min(seconds), statistics.median(seconds)
    return f"{per / best * scale:>12,.2f} {unit} best, {per / median * scale:>12,.2f} median"


class Streams:
    """B streams over the corpus, each reading its own segment, chunk after chunk."""

    def __init__(self, data, batch: int, seq_length: int):
        self.data, self.T = data, seq_length
        self.starts = np.arange(batch) * ((len(data) - 1) // batch)
        self.position = 0

    def next(self):
        if self.position + self.T + 1 > (len(self.data) - 1) // len(self.starts):
            self.position = 0
        index = self.starts[None, :] + self.position + np.arange(self.T)[:, None]
        self.position += self.T
        return self.data[index], self.data[index + 1]


class CellTrainer:
    """One training step of a cells.Model: forward, backward, clip, optimizer."""

    def __init__(self, spec: ModelSpec, data, batch: int, seq_length: int, optimizer, eta):
        self.model = Model.zeros(spec).init(np.random.default_rng(0))
        self.grads = Model.zeros(spec)
        self.optimizer, self.eta = optimizer(spec.param_count, np.dtype(spec.dtype)), eta
        self.streams = Streams(data, batch, seq_length)
        self.state = self.model.zero_state(batch)

    def step(self) -> float:
        inputs, targets = self.streams.next()
        loss, cache = self.model.forward(inputs, targets, self.state)
        g = self.model.backward(cache, self.grads).flat
        np.clip(g, -5.0, 5.0, out=g)
        self.optimizer.step(self.model.flat, g, self.eta)
        self.state = cache.final_state
        return loss


def where_the_time_goes(trainer: CellTrainer, repeats: int) -> str:
    """The step's time split: its matrix products (timed alone, the same shapes) and the rest."""
    model, spec = trainer.model, trainer.model.spec
    inputs, targets = trainer.streams.next()
    T, B = inputs.shape
    m, K = spec.hidden_size, spec.vocab_size
    G = spec.module.GATES
    dtype = np.dtype(spec.dtype)
    rng = np.random.default_rng(0)
    h = rng.standard_normal((B, m)).astype(dtype)
    W_hT = np.ascontiguousarray(model.layer(0)[1].T)
    da = rng.standard_normal((B, G * m)).astype(dtype)
    big_a = rng.standard_normal((T * B, G * m)).astype(dtype)
    big_h = rng.standard_normal((T * B, m)).astype(dtype)
    logits_g = rng.standard_normal((T * B, K)).astype(dtype)
    V = model["V"]
    products = {
        "recurrent products, forward (T x (B, m) @ (m, G m))": lambda: [h @ W_hT for _ in range(T)],
        "recurrent products, backward (T x (B, G m) @ (G m, m))": lambda: [
            da @ model.layer(0)[1] for _ in range(T)
        ],
        "dL/dW_h (one (G m, T B) @ (T B, m))": lambda: big_a.T @ big_h,
        "output layer: logits, dV, dh (three (T B) x m x K)": lambda: (
            big_h @ V.T,
            logits_g.T @ big_h,
            logits_g @ V,
        ),
    }
    step = min(timed(trainer.step, repeats) for _ in range(3))
    lines = [f"  a whole step: {step * 1e3:.2f} ms (best of 3)"]
    total = 0.0
    for name, fn in products.items():
        seconds = min(timed(fn, repeats) for _ in range(3))
        total += seconds
        lines.append(f"  {name}: {seconds * 1e3:.2f} ms ({seconds / step:.0%})")
    state = trainer.state
    forward = min(timed(lambda: model.forward(inputs, targets, state), repeats) for _ in range(3))
    _, cache = model.forward(inputs, targets, state)
    backward = min(timed(lambda: model.backward(cache, trainer.grads), repeats) for _ in range(3))
    lines.append(
        f"  everything else (elementwise gates and softmax, input lookup, column sums, clip, "
        f"optimizer, Python): {(step - total) * 1e3:.2f} ms ({(step - total) / step:.0%})"
    )
    g = trainer.grads.flat
    update = min(
        timed(lambda: (np.clip(g, -5, 5, out=g), trainer.optimizer.step(model.flat, g, 0.0)),
              repeats)
        for _ in range(3)
    )  # fmt: skip
    lines.append(
        f"  forward {forward * 1e3:.2f} ms, backward {backward * 1e3:.2f} ms, clip + "
        f"{type(trainer.optimizer).__name__} {update * 1e3:.2f} ms (each timed alone)"
    )
    return "\n".join(lines)


def bench_report_model(corpus, n_rounds: int) -> None:
    """(1) B = 1, float64: cells against model.py, per character."""
    K, m, T = corpus.vocab_size, 100, 25
    model = Model.zeros(ModelSpec(vocab_size=K, hidden_size=m)).init(
        np.random.Generator(np.random.PCG64(0))
    )
    params = report_model.Params.from_flat(model.flat.copy(), K, m)
    grads, cell_grads = report_model.Params.zeros(K, m), Model.zeros(model.spec)
    data = corpus.data
    chunks = [(data[e : e + T], data[e + 1 : e + T + 1]) for e in range(0, 40 * T, T)]
    h0, state = np.zeros(m), model.zero_state(1)

    def with_model_py():
        for inputs, targets in chunks:
            report_model.loss_and_grads(params, inputs, targets, h0, grads)

    def with_cells():
        for inputs, targets in chunks:
            _, cache = model.forward(inputs, targets, state)
            model.backward(cache, cell_grads)

    # Many short rounds: on a shared machine the best of many is the steadiest figure.
    with threadpool_limits(limits=1, user_api="blas"):
        result = rounds({"model.py": with_model_py, "cells": with_cells}, 5, 5 * n_rounds)
    chars = len(chunks) * T
    print("(1) the report's model, m = 100, B = 1, float64, forward + backward, 1 BLAS thread")
    for name, seconds in result.items():
        best, median = min(seconds) / chars * 1e6, statistics.median(seconds) / chars * 1e6
        print(f"    {name:10s} {best:8.2f} us/char best, {median:8.2f} median")
    ratio = min(result["model.py"]) / min(result["cells"])
    print(f"    cells / model.py speed: {ratio:.2f}x (best rounds; > 1: cells faster)\n")


def bench_batched_rnn(corpus, n_rounds: int, threads: list[int]) -> None:
    """(2) vanilla B = 64, T = 25, float32 against the textbook loop."""
    spec = ModelSpec(vocab_size=corpus.vocab_size, hidden_size=100, dtype="float32")
    print("(2) vanilla m = 100: B = 64, T = 25, float32 (forward + backward + clip + AdaGrad) "
          "against the textbook loop (B = 1, float64)")  # fmt: skip
    for n in threads:
        cells = CellTrainer(spec, corpus.data, 64, 25, AdaGrad, 0.1)
        textbook = TextbookRNN(corpus.data, corpus.vocab_size, 100, 25)
        with threadpool_limits(limits=n, user_api="blas"):
            result = rounds({"cells": cells.step, "textbook": textbook.step}, 20, 3 * n_rounds)
        per = {"cells": 64 * 25, "textbook": 25}
        for name, seconds in result.items():
            print(f"    {n} thread(s) {name:9s} {summary(seconds, per[name], 'chars/s', 1.0)}")
        ratio = (per["cells"] / min(result["cells"])) / (per["textbook"] / min(result["textbook"]))
        print(f"    {n} thread(s): cells / textbook = {ratio:.1f}x (best rounds)")
        if n == threads[0]:
            with threadpool_limits(limits=n, user_api="blas"):
                print(where_the_time_goes(cells, 40))
    print()


def bench_lstm(corpus, n_rounds: int, threads: list[int], use_torch: bool) -> None:
    """(3) LSTM 256, B = 32, T = 64, float32, Adam, against PyTorch."""
    K, m, B, T = corpus.vocab_size, 256, 32, 64
    spec = ModelSpec(cell="lstm", vocab_size=K, hidden_size=m, dtype="float32")
    print("(3) LSTM, 1 layer, m = 256, B = 32, T = 64, float32 (forward + backward + clip + Adam)")
    torch = None
    if use_torch:
        try:
            import torch
        except ImportError:
            print(
                "    PyTorch is not installed: skipping the comparison (pip install torch==2.13.0)"
            )
    for n in threads:
        cells = CellTrainer(spec, corpus.data, B, T, Adam, 2e-3)
        sides = {"cells": cells.step}
        if torch is not None:
            torch.set_num_threads(n)
            sides["pytorch"] = torch_step(torch, corpus.data, K, m, B, T)
        with threadpool_limits(limits=n, user_api="blas"):
            result = rounds(sides, 5, 3 * n_rounds)
        for name, seconds in result.items():
            print(f"    {n} thread(s) {name:8s} {summary(seconds, T * B, 'chars/s', 1.0)}"
                  f"  ({min(seconds) * 1e3:.1f} ms per step)")  # fmt: skip
        if torch is not None:
            ratio = min(result["pytorch"]) / min(result["cells"])
            print(f"    {n} thread(s): cells / PyTorch = {ratio:.2f}x (best rounds; > 1: faster)")
        if n == threads[0]:
            with threadpool_limits(limits=n, user_api="blas"):
                print(where_the_time_goes(cells, 10))
    if torch is not None:
        print(f"    PyTorch {torch.__version__}, oneDNN (mkldnn) enabled: "
              f"{torch.backends.mkldnn.is_available()}")  # fmt: skip


def torch_step(torch, data, K: int, m: int, B: int, T: int):
    """PyTorch doing the same training step (state carried, detached, between steps)."""
    torch.manual_seed(0)
    lstm, linear = torch.nn.LSTM(K, m), torch.nn.Linear(m, K)
    params = list(lstm.parameters()) + list(linear.parameters())
    optimizer = torch.optim.Adam(params, lr=2e-3)
    one_hot = torch.eye(K)
    streams = Streams(data, B, T)
    carried = [None]

    def step() -> float:
        inputs, targets = streams.next()
        x = one_hot[torch.from_numpy(inputs.astype(np.int64))]
        out, state = lstm(x, carried[0])
        carried[0] = tuple(s.detach() for s in state)
        logits = linear(out).reshape(T * B, K)
        y = torch.from_numpy(targets.astype(np.int64)).reshape(-1)
        loss = torch.nn.functional.cross_entropy(logits, y, reduction="sum") / B
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_value_(params, 5.0)
        optimizer.step()
        return loss.item()

    return step


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated (1,2)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--only", choices=("1", "2", "3"), help="run one comparison")
    args = parser.parse_args(argv)
    threads = [int(n) for n in args.threads.split(",")]
    corpus = builtin_corpus()
    blas = ", ".join(
        f"{i['internal_api']} {i.get('version')} ({i.get('architecture')})"
        for i in threadpool_info()
    )
    print(
        f"numpy {np.__version__}, BLAS {blas}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}; built-in corpus, K = {corpus.vocab_size}\n"
    )
    if args.only in (None, "1"):
        bench_report_model(corpus, args.rounds)
    if args.only in (None, "2"):
        bench_batched_rnn(corpus, args.rounds, threads)
    if args.only in (None, "3"):
        bench_lstm(corpus, args.rounds, threads, not args.no_torch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
