"""The same OpenBLAS kernels and one BLAS thread on every machine (tui_rnn/blas.py): what makes
the report's run the same to the bit wherever it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tui_rnn import blas

FIXTURES = Path(__file__).parent / "fixtures"
PINNED = blas.can_run_pinned_kernels()
needs_pinned = pytest.mark.skipif(not PINNED, reason="this CPU cannot run Haswell's kernels")

PROBE = (
    "import tui_rnn, numpy, json; from threadpoolctl import threadpool_info; "
    "print(json.dumps([[i.get('architecture'), i['num_threads']] for i in threadpool_info() "
    "if i['internal_api'] == 'openblas']))"
)


def probe(**env) -> list:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENBLAS_")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@needs_pinned
def test_importing_tui_rnn_first_pins_the_kernels_and_one_thread():
    assert probe() == [["Haswell", 1]]
    assert blas.kernels() == {blas.KERNELS}  # this test process too (conftest imports it first)


@needs_pinned
def test_a_users_own_choice_is_left_alone():
    assert probe(OPENBLAS_CORETYPE="Sandybridge", OPENBLAS_NUM_THREADS="2") == [["Sandybridge", 2]]


@needs_pinned
def test_the_reports_run_from_the_command_line_is_the_reports(tmp_path):
    """What a user checks: 3,000 updates of the default run, in a fresh process."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENBLAS_")}
    command = "from tui_rnn.cli import main; main()"
    argv = ["train", "--iterations", "3000", "--json"]
    out = subprocess.run(
        [sys.executable, "-c", command, *argv, "--run-dir", str(tmp_path / "run")],
        env=clean, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    golden = json.loads((FIXTURES / "golden_report_run.json").read_text(encoding="utf-8"))
    assert repr(json.loads(out.stdout)["smooth_loss"]) == golden["smooth_loss"]
