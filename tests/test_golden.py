"""The report's run must not change by a bit: golden values made by tui-rnn 0.1.0 (see
tests/fixtures/README.md) against today's code, and a schema-1 run that must resume and
continue exactly as the old code continued it."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tui_rnn import blas
from tui_rnn.cli import main
from tui_rnn.store import checkpoint

FIXTURES = Path(__file__).parent / "fixtures"
# The fixtures are the report's figures with OpenBLAS's Haswell kernels (tui_rnn/blas.py): a CPU
# that cannot run them computes other last bits, and nothing here could match.
pytestmark = pytest.mark.skipif(
    not blas.can_run_pinned_kernels(), reason="this CPU cannot run Haswell's kernels"
)


def _sha(array) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def as_schema_1(arrays: dict) -> dict:
    """The arrays the golden values were taken of (schema 1's names and packing), made from a
    newer checkpoint's: the same numbers, bit for bit."""
    v1 = dict(arrays)
    v1["memory"] = arrays["opt.memory"]
    v1["h"] = arrays["state.0"].reshape(-1)
    v1["scalars"] = np.array(
        [
            int(arrays[name])
            for name in ("position", "iteration", "epoch", "best_iteration")
            + ("last_sample_iteration",)
        ],
        dtype=np.int64,
    )
    v1["losses"] = np.array(
        [float(arrays["smooth_loss"]), float(arrays["best_smooth_loss"])], dtype=np.float64
    )
    return v1


@pytest.fixture(scope="module")
def golden():
    return json.loads((FIXTURES / "golden_report_run.json").read_text(encoding="utf-8"))


def test_default_run_is_bit_identical_to_the_report_code(golden):
    from tui_rnn.training.corpus import builtin_corpus
    from tui_rnn.training.options import TrainConfig
    from tui_rnn.training.trainer import Trainer

    corpus = builtin_corpus()
    trainer = Trainer(corpus.data, corpus.chars, TrainConfig())
    samples = []
    trainer.train(3000, on_sample=samples.append)
    samples.append(trainer.synthesize())
    samples.append(trainer.synthesize_best(300))
    assert trainer.iteration == golden["iteration"]
    assert repr(trainer.smooth_loss) == golden["smooth_loss"]
    assert repr(trainer.best_smooth_loss) == golden["best_smooth_loss"]
    state = as_schema_1(trainer.state_arrays())
    for name, digest in golden["sha256"].items():
        assert _sha(state[name]) == digest, name
    text = "".join(f"{s.header}\n{s.text}\n\n" for s in samples)
    assert hashlib.sha256(text.encode()).hexdigest() == golden["samples_sha256"]


@pytest.mark.parametrize("method", ["central", "complex"])
def test_default_gradient_check_table_is_unchanged(golden, method):
    from tui_rnn.gradcheck import check
    from tui_rnn.training.corpus import builtin_corpus

    corpus = builtin_corpus()
    report = check.run_gradcheck(
        corpus.data, corpus.vocab_size, check.GradcheckOptions(method=method)
    )
    got = [
        [row.parameter, row.seq_length, repr(row.max_rel_error), repr(row.sum_rel_error)]
        for row in report.rows
    ]
    assert got == golden["gradcheck_default"][method]


def test_schema_1_run_resumes_bit_for_bit(tmp_path):
    run_dir = tmp_path / "v1_run"
    shutil.copytree(FIXTURES / "v1_run", run_dir)
    corpus = FIXTURES / "v1_corpus.txt"
    code = main(["train", str(corpus), "--resume", str(run_dir), "--iterations", "700", "--json"])
    assert code == 0
    expected = dict(np.load(FIXTURES / "v1_run_continued_to_700.npz", allow_pickle=False))
    arrays = as_schema_1(checkpoint.load_checkpoint(run_dir))
    for name in ("params", "memory", "h", "best_params", "loss_history", "smooth_loss_history"):
        assert np.array_equal(arrays[name], expected[name]), name
    assert (run_dir / "samples.txt").read_bytes() == (
        FIXTURES / "v1_run_continued_to_700.samples.txt"
    ).read_bytes()
