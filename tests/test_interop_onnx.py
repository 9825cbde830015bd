"""The ONNX export run by onnxruntime computes tui-rnn's probabilities and final state. Skipped
without onnx and onnxruntime (failed under TUI_RNN_REQUIRE_INTEROP=1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from interop_support import CELL_LAYERS, ONNX, need_module, run_command

from tui_rnn.store import checkpoint


@pytest.fixture(scope="module")
def ort():
    need_module("onnx", ONNX)
    return need_module("onnxruntime", ONNX)


def tui_pass(model, ids):
    """(probabilities (T, K), final state per layer) from a zero state."""
    ids = np.asarray(ids)
    _, cache = model.forward(ids[:, None], np.append(ids[1:], ids[-1])[:, None], model.zero_state())
    return cache.probabilities[:, 0, :], [s[0] for s in cache.final_state]


def softmax(logits):
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("key", [*CELL_LAYERS, "float32"])
def test_onnxruntime_computes_tui_rnns_probabilities_and_state(
    interop_runs, tmp_path, capsys, ort, key
):
    run = interop_runs[key]
    model, chars, _ = checkpoint.load_model(run, best=True)
    output = tmp_path / "model.onnx"
    code, _, err = run_command("export-model", [run, output], capsys)
    assert code == 0, err
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()][0] == "indices"
    lstm = model.spec.cell == "lstm"
    L, m = model.spec.layers, model.hidden_size
    assert [o.name for o in session.get_outputs()] == ["logits", "h_n"] + (["c_n"] if lstm else [])
    text = Path(interop_runs["corpus"]).read_text(encoding="utf-8")[:300]
    ids = np.array([chars.index(ch) for ch in text], dtype=np.int64)
    zeros = {name: np.zeros((L, 1, m), np.float32) for name in (["h0", "c0"] if lstm else ["h0"])}
    outputs = session.run(None, {"indices": ids, **zeros})
    logits = outputs[0]
    assert logits.dtype == np.float32 and logits.shape == (300, len(chars))
    expected, state = tui_pass(model, ids)
    assert np.abs(softmax(logits.astype(np.float64)) - expected).max() < 1e-5
    assert np.abs(outputs[1][:, 0, :] - np.array([s[:m] for s in state])).max() < 1e-5
    if lstm:
        assert np.abs(outputs[2][:, 0, :] - np.array([s[m:] for s in state])).max() < 1e-5
    # The state carries: two calls, the second from the first's h_n (c_n), read the same text.
    first = session.run(None, {"indices": ids[:120], **zeros})
    carried = dict(zip(zeros, first[1:], strict=True))
    second = session.run(None, {"indices": ids[120:], **carried})
    assert np.abs(np.concatenate([first[0], second[0]]) - logits).max() < 1e-5
    metadata = session.get_modelmeta().custom_metadata_map
    assert json.loads(metadata["vocabulary"]) == list(chars)
    assert metadata["cell"] == model.spec.cell
