"""`tui-rnn eval`'s speed per character against the training forward pass (figures for the
performance docs).

    python benchmarks/bench_eval.py [--chars 200000] [--rounds 3]

For each model (the report's rnn, m = 100, float64; a 2-layer LSTM, m = 256, float32; a GRU,
m = 128, float64), on the first --chars characters of the built-in tinyshakespeare, the best of
--rounds of:

    eval --text   scoring.score_text on a file: decoding, one stream from a zero state in
                  chunks of scoring.CHUNK steps (what `tui-rnn eval RUN --text FILE` does)
    eval split    scoring.score_split: the trainer's validation (EVAL_STREAMS streams)
    forward B=1   the training forward pass as an update makes it (seq_length 25, gates kept),
                  one stream: the report's setup
    forward B=32  the same with 32 streams side by side (per character)

in thousands of characters per second. One stream cannot be batched (each step needs the one
before), so `eval --text` is compared with the training forward pass at B = 1.
"""

from __future__ import annotations

import tui_rnn  # noqa: F401  first: it pins OpenBLAS's kernels before NumPy loads (blas.py)

# isort: split
import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from tui_rnn.cells.model import Model, ModelSpec  # noqa: E402
from tui_rnn.inspection import scoring  # noqa: E402
from tui_rnn.training.corpus import builtin_corpus  # noqa: E402

MODELS = (
    ("rnn m=100 f64", ModelSpec(cell="rnn", hidden_size=100, vocab_size=65)),
    (
        "lstm 2x256 f32",
        ModelSpec(cell="lstm", hidden_size=256, layers=2, vocab_size=65, dtype="float32"),
    ),
    ("gru m=128 f64", ModelSpec(cell="gru", hidden_size=128, vocab_size=65)),
)
SEQ_LENGTH = 25


def best(fn, rounds: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def training_forward(model: Model, data: np.ndarray, batch: int, chars: int) -> None:
    """Forward passes as training makes them (gates kept for backward) over `chars` characters."""
    segment = (len(data) - 1) // batch
    starts = np.arange(batch) * segment
    state = model.zero_state(batch)
    for p in range(0, max(SEQ_LENGTH, chars // batch), SEQ_LENGTH):
        if p + SEQ_LENGTH >= segment:
            break
        index = starts + p + np.arange(SEQ_LENGTH)[:, None]
        _, cache = model.forward(data[index], data[index + 1], state)
        state = cache.final_state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    corpus = builtin_corpus()
    data = corpus.data[: args.chars]
    n = len(data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "text.txt"
        path.write_text(corpus.decode(data), encoding="utf-8")
        print(f"{n:,} characters of {corpus.name}; best of {args.rounds}; thousand chars/s")
        print(f"{'model':<16}{'eval --text':>13}{'eval split':>12}{'fwd B=1':>10}{'fwd B=32':>10}")
        for label, spec in MODELS:
            model = Model.zeros(spec).init(np.random.default_rng(0))
            one = [("m", model, corpus.chars)]
            text = best(lambda: scoring.score_text(path, one), args.rounds)  # noqa: B023
            split = best(lambda: scoring.score_split(model, data), args.rounds)  # noqa: B023
            b1 = best(lambda: training_forward(model, data, 1, n), args.rounds)  # noqa: B023
            b32 = best(lambda: training_forward(model, data, 32, n), args.rounds)  # noqa: B023
            rates = [n / t / 1000 for t in (text, split, b1, b32)]
            print(
                f"{label:<16}"
                + "".join(f"{r:>{w}.1f}" for r, w in zip(rates, (13, 12, 10, 10), strict=True))
            )


if __name__ == "__main__":
    main()
