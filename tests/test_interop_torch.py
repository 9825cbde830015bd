"""Exports loaded in PyTorch compute tui-rnn's probabilities; models made in PyTorch, imported,
compute PyTorch's. Skipped without PyTorch (failed under TUI_RNN_REQUIRE_INTEROP=1)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from interop_support import CELL_LAYERS, TORCH, need_module, probabilities, run_command

from tui_rnn.store import checkpoint

DOCS_GRU = Path(__file__).resolve().parent.parent / "docs" / "interop_gru.py"


@pytest.fixture(scope="module")
def torch():
    need_module("safetensors.torch", TORCH)
    return need_module("torch", TORCH)


@pytest.fixture(scope="module")
def docs_gru(torch):
    spec = importlib.util.spec_from_file_location("interop_gru", DOCS_GRU)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def char_model(torch, cell: str, K: int, m: int, layers: int):
    """rnn (nn.RNN tanh / nn.LSTM / nn.GRU, batch first) and fc (nn.Linear): the exported layout."""
    nn = torch.nn
    recurrent = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
    model = nn.Module()
    model.rnn = recurrent(K, m, layers, batch_first=True)
    model.fc = nn.Linear(m, K)
    return model.double()


def torch_probabilities(torch, model, ids, K) -> np.ndarray:
    with torch.no_grad():
        x = torch.nn.functional.one_hot(torch.tensor([ids]), K).double()
        out, _ = model.rnn(x)  # zero initial state
        return model.fc(out)[0].softmax(-1).numpy()


def text_ids(runs, chars, length=300):
    text = Path(runs["corpus"]).read_text(encoding="utf-8")[:length]
    return [chars.index(ch) for ch in text]


def export(run_dir, output, capsys):
    code, _, err = run_command("export-model", [run_dir, output], capsys)
    assert code == 0, err
    return output


@pytest.mark.parametrize("cell, layers", CELL_LAYERS)
def test_pytorch_computes_the_exported_models_probabilities(
    interop_runs, tmp_path, capsys, torch, docs_gru, cell, layers
):
    from safetensors.torch import load_file

    run = interop_runs[cell, layers]
    ours, chars, _ = checkpoint.load_model(run, best=True)
    K, m = len(chars), ours.hidden_size
    file = export(run, tmp_path / "model.safetensors", capsys)
    ids = text_ids(interop_runs, chars)
    expected = probabilities(ours, ids)
    if cell == "gru":
        theirs = docs_gru.CharGRU.from_file(str(file))
        with torch.no_grad():
            got = theirs(torch.tensor([ids]))[0][0].softmax(-1).numpy()
        # nn.GRU loads the same tensors but is another function: why the documented module.
        other = char_model(torch, "gru", K, m, layers)
        other.load_state_dict(load_file(str(file)), strict=True)
        assert np.abs(torch_probabilities(torch, other, ids, K) - expected).max() > 1e-3
    else:
        theirs = char_model(torch, cell, K, m, layers)
        theirs.load_state_dict(load_file(str(file)), strict=True)
        got = torch_probabilities(torch, theirs, ids, K)
    assert got.shape == expected.shape == (300, K)
    assert np.abs(got - expected).max() < 1e-6


def save_pytorch_model(torch, path, cell, chars, m, layers, prefix="rnn.", metadata=True):
    from safetensors.torch import save_file

    torch.manual_seed(len(chars) * 10 + layers)
    model = char_model(torch, cell, len(chars), m, layers)
    state = model.state_dict()
    for name, value in state.items():
        if "bias" in name:
            assert value.abs().min() > 0  # both of PyTorch's biases are in play
    tensors = {
        (prefix + name[len("rnn.") :] if name.startswith("rnn.") else name): value.contiguous()
        for name, value in state.items()
    }
    described = {"vocabulary": json.dumps(chars)}
    if metadata:
        described.update(
            cell=cell, layers=str(layers), hidden_size=str(m), dtype="float64",
        )  # fmt: skip
    save_file(tensors, str(path), metadata=described)
    return model


@pytest.mark.parametrize(
    "cell, layers, prefix, metadata",
    [("rnn", 1, "rnn.", True), ("rnn", 2, "", False), ("lstm", 1, "lstm.", False),
     ("lstm", 2, "rnn.", True)],
)  # fmt: skip
def test_a_model_made_in_pytorch_imports_with_pytorchs_probabilities(
    tmp_path, capsys, torch, cell, layers, prefix, metadata
):
    chars = list("the quick brown fox, jumps over a lazy dog.\nTHE END!")
    chars = list(dict.fromkeys(chars))  # distinct, in the order of first appearance: unsorted
    file = tmp_path / "pytorch.safetensors"
    model = save_pytorch_model(torch, file, cell, chars, 10, layers, prefix, metadata)
    code, _, err = run_command("import-model", [file, tmp_path / "run"], capsys)
    assert code == 0, err
    ours, run_chars, _ = checkpoint.load_model(tmp_path / "run")
    text = "the lazy dog jumps over the brown fox.\nTHE END! " * 4
    expected = torch_probabilities(torch, model, [chars.index(ch) for ch in text], len(chars))
    got = probabilities(ours, [run_chars.index(ch) for ch in text])
    order = [chars.index(ch) for ch in run_chars]  # the run's vocabulary is sorted
    assert np.abs(got - expected[:, order]).max() < 1e-9


def test_a_gru_made_in_pytorch_is_refused_as_another_function(tmp_path, capsys, torch):
    file = tmp_path / "gru.safetensors"
    save_pytorch_model(torch, file, "gru", list("abcdef"), 4, 1, metadata=False)
    code, _, err = run_command("import-model", [file, tmp_path / "run"], capsys)
    assert code == 2 and "another function" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
