"""What the interop tests share: the tools they need (PyTorch, onnxruntime, Node, Chromium),
skipped where absent unless TUI_RNN_REQUIRE_INTEROP=1 (CI) makes a missing one a failure;
small trained runs of every cell; the two commands run in-process.

PyTorch stays out of tui-rnn's dependencies (a CUDA build is gigabytes): these tests are how it
is checked that PyTorch, onnxruntime and a browser compute what tui-rnn computes.
"""

from __future__ import annotations

import importlib
import os
import shutil

import numpy as np
import pytest

REQUIRE_ENV = "TUI_RNN_REQUIRE_INTEROP"


def required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def missing(what: str, install: str):
    """Skip (saying what is missing and how to get it), or fail when CI requires it."""
    message = f"{what} is not available ({install})"
    if required():
        pytest.fail(f"{message}, and {REQUIRE_ENV}=1 requires it")
    pytest.skip(message)


def need_module(name: str, install: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"the Python package {name}", install)


def need_program(names: tuple[str, ...], install: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    missing(f"the program {names[0]}", install)


TORCH = "pip install torch==2.13.0 safetensors"
ONNX = 'pip install onnx onnxruntime (or "tui-rnn[onnx]" onnxruntime)'
NODE = "apt-get install nodejs"
CHROMIUM = "apt-get install chromium chromium-driver; pip install selenium"


# -- runs -----------------------------------------------------------------------------------------
CELL_LAYERS = [(cell, layers) for cell in ("rnn", "lstm", "gru") for layers in (1, 2)]


def train_run(run_dir, corpus_file, cell: str, layers: int, hidden: int = 12, **options) -> None:
    """A small run trained for a few updates through the CLI (its biases are no longer zero)."""
    from tui_rnn.cli import main

    argv = ["train", str(corpus_file), "--cell", cell, "--layers", str(layers)]
    argv += ["--hidden", str(hidden), "--iterations", "40", "--run-dir", str(run_dir)]
    argv += ["--sample-every", "1000"]
    for flag, value in options.items():
        argv += [f"--{flag.replace('_', '-')}", str(value)]
    assert main(argv) == 0


def make_runs(base) -> dict:
    """A corpus and one small trained run per (cell, layers), and a float32 GRU, under `base`."""
    from conftest import make_text

    corpus = base / "corpus.txt"
    corpus.write_text(make_text(6000), encoding="utf-8")
    made = {"corpus": corpus}
    for cell, layers in CELL_LAYERS:
        made[cell, layers] = base / f"{cell}{layers}"
        train_run(made[cell, layers], corpus, cell, layers)
    made["float32"] = base / "gru_float32"
    train_run(made["float32"], corpus, "gru", 1, dtype="float32")
    return made


def probabilities(model, ids) -> np.ndarray:
    """p_t over the vocabulary after each character, from a zero state: the model's forward
    pass, as `tui-rnn inspect` reads a passage (T, K)."""
    ids = np.asarray(ids)
    _, cache = model.forward(ids[:, None], np.append(ids[1:], ids[-1])[:, None], model.zero_state())
    return cache.probabilities[:, 0, :]


# -- the commands in-process -----------------------------------------------------------------------
def run_command(command: str, argv, capsys) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `tui-rnn COMMAND ARGV`, in-process through main()."""
    from tui_rnn.cli import main

    capsys.readouterr()
    code = main([command, *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    return code, out, err


def refused(command: str, argv, capsys) -> str:
    """The command must fail with one line on stderr and exit code 2; returns the line."""
    code, _, err = run_command(command, argv, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tui-rnn: error: ")
    return lines[0]
