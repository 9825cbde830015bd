"""A model as one ONNX graph (float32), built from ONNX's own RNN, LSTM and GRU operators.

    indices  int64 [T]                 vocabulary ids, T dynamic
    h0       float32 [layers, 1, m]    (and c0 for an LSTM) the initial state, zeros to start
    ->
    logits   float32 [T, K]            o_t = V h^L_t + c (logits: softmax them to sample)
    h_n      float32 [layers, 1, m]    (and c_n) the final state, to carry into the next call

OneHot turns the ids into layer 0's inputs, then one operator per layer (weights W, R and the
bias B = [tui-rnn's b, zeros], gate blocks in ONNX's orders: LSTM i, o, f, c; GRU z, r, h), then
a Gemm. ONNX's GRU with linear_before_reset = 0 applies the reset gate before the recurrent
product, which is tui-rnn's GRU. Always float32 whatever the run's dtype: onnxruntime's CPU
LSTM has no double kernel. The vocabulary and the model's description are in the metadata.

The `onnx` package is an optional extra (pip install "tui-rnn[onnx]"); without it, `build`
raises ModelFileError saying so.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np

from tui_rnn.cells.model import Model
from tui_rnn.interop.errors import ModelFileError
from tui_rnn.interop.pytorch_layout import TUI_GATES, reorder_gates

# Whether the optional extra is installed (build() says how to get it). onnx itself is imported
# by build(): importing it takes 2-3 s, which every command (and a --time-limit) would pay.
HAVE_ONNX = importlib.util.find_spec("onnx") is not None

OPSET = 17
IR_VERSION = 8  # the IR of opset 17: runtimes from 2022 on read it
ONNX_GATES = {"rnn": ("h",), "lstm": ("i", "o", "f", "g"), "gru": ("z", "r", "n")}
OPERATORS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
MISSING = 'exporting to ONNX needs the onnx package: pip install "tui-rnn[onnx]"'


def _weights(model: Model, layer: int) -> list[np.ndarray]:
    """[W, R, B] of one layer in ONNX's shapes and gate order, float32."""
    cell = model.spec.cell
    source, target = TUI_GATES[cell], ONNX_GATES[cell]
    W_x, W_h, b = model.layer(layer)
    W = reorder_gates(W_x, source, target)[None]
    R = reorder_gates(W_h, source, target)[None]
    B = np.concatenate([reorder_gates(b, source, target), np.zeros_like(b)])[None]
    return [np.ascontiguousarray(a, dtype=np.float32) for a in (W, R, B)]


def build(model: Model, chars, metadata: dict[str, str]):
    """The ONNX ModelProto of `model` (checked by onnx's checker)."""
    if not HAVE_ONNX:
        raise ModelFileError(MISSING)
    # Here, not at the top: importing onnx takes seconds (see HAVE_ONNX).
    import onnx
    from onnx import TensorProto, helper, numpy_helper  # (the same import, by name)

    spec = model.spec
    cell, L, m, K = spec.cell, spec.layers, spec.hidden_size, spec.vocab_size
    lstm = cell == "lstm"
    initializers = [
        numpy_helper.from_array(np.array([K], dtype=np.int64), "depth"),
        numpy_helper.from_array(np.array([0.0, 1.0], dtype=np.float32), "one_hot_values"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis_1"),
        numpy_helper.from_array(np.ascontiguousarray(model["V"], np.float32), "V"),
        numpy_helper.from_array(np.ascontiguousarray(model["c"], np.float32), "c"),
    ]
    nodes = [
        helper.make_node("OneHot", ["indices", "depth", "one_hot_values"], ["one_hot"], axis=-1),
        helper.make_node("Unsqueeze", ["one_hot", "axis_1"], ["x_0"]),
    ]
    finals: dict[str, list[str]] = {"h": [], "c": []}
    for layer in range(L):
        names = [f"W_{layer}", f"R_{layer}", f"B_{layer}"]
        weights = zip(_weights(model, layer), names, strict=True)
        initializers += [numpy_helper.from_array(array, name) for array, name in weights]
        initializers.append(numpy_helper.from_array(np.array([layer], np.int64), f"layer_{layer}"))
        inputs = [f"x_{layer}", *names, ""]
        for state in ("h", "c") if lstm else ("h",):
            nodes.append(
                helper.make_node(
                    "Gather", [f"{state}0", f"layer_{layer}"], [f"{state}0_{layer}"], axis=0
                )
            )
            inputs.append(f"{state}0_{layer}")
        outputs = [f"y_{layer}", f"h_n_{layer}"] + ([f"c_n_{layer}"] if lstm else [])
        operator = helper.make_node(OPERATORS[cell], inputs, outputs, hidden_size=m)
        if cell == "gru":  # the reset gate before the recurrent product: tui-rnn's GRU
            operator.attribute.append(helper.make_attribute("linear_before_reset", 0))
        nodes.append(operator)
        # Y is [T, 1 direction, 1 stream, m]: drop the direction for the next layer's input.
        nodes.append(helper.make_node("Squeeze", [f"y_{layer}", "axis_1"], [f"x_{layer + 1}"]))
        finals["h"].append(f"h_n_{layer}")
        if lstm:
            finals["c"].append(f"c_n_{layer}")
    nodes.append(helper.make_node("Squeeze", [f"x_{L}", "axis_1"], ["top"]))
    nodes.append(helper.make_node("Gemm", ["top", "V", "c"], ["logits"], transB=1))
    for state, parts in finals.items():
        if parts:
            nodes.append(helper.make_node("Concat", parts, [f"{state}_n"], axis=0))
    states = ("h", "c") if lstm else ("h",)
    graph = helper.make_graph(
        nodes,
        f"tui_rnn_{cell}",
        [helper.make_tensor_value_info("indices", TensorProto.INT64, ["T"])]
        + [helper.make_tensor_value_info(f"{s}0", TensorProto.FLOAT, [L, 1, m]) for s in states],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["T", K])]
        + [helper.make_tensor_value_info(f"{s}_n", TensorProto.FLOAT, [L, 1, m]) for s in states],
        initializers,
    )
    proto = helper.make_model(
        graph,
        producer_name="tui-rnn",
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
    )
    described = {**metadata, "vocabulary": json.dumps(list(chars), ensure_ascii=True)}
    helper.set_model_props(proto, described)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def encode(model: Model, chars, metadata: dict[str, str]) -> bytes:
    """The bytes of the .onnx file."""
    return build(model, chars, metadata).SerializeToString()
