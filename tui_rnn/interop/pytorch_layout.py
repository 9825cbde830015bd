"""tui-rnn's parameters under PyTorch's names, gate orders and biases, and back.

PyTorch's `nn.RNN(nonlinearity="tanh")`, `nn.LSTM` and `nn.GRU(K, m, layers, batch_first=True)`
under a prefix (`rnn.` when exporting), and `nn.Linear(m, K)` under `fc.`:

    tui-rnn        PyTorch                       rows (gate blocks of m)
    W_x.l  (U)     rnn.weight_ih_l{l}            rnn: h;  lstm: i f o g -> i f g o;  gru: r z n
    W_h.l  (W)     rnn.weight_hh_l{l}            the same blocks
    b.l    (b)     rnn.bias_ih_l{l}              (and rnn.bias_hh_l{l} = 0: tui-rnn has one bias)
    V, c           fc.weight, fc.bias

The input is the one-hot of the vocabulary index, so layer 0's W_x is (G m, K) either way.
Importing adds PyTorch's two biases into tui-rnn's one. A GRU keeps PyTorch's names and gate
order, but PyTorch's GRU applies the reset gate after the recurrent product, tui-rnn's before it
(Cho et al.): the same tensors compute another function in `nn.GRU`, so a GRU is imported only
from a file whose metadata says it is tui-rnn's (docs/interop_gru.py computes it in PyTorch).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tui_rnn.cells.model import Model, ModelSpec
from tui_rnn.interop.errors import ModelFileError

# Gate blocks, top to bottom, as each side stores them (ONNX's are in onnx_graph.py).
TUI_GATES = {"rnn": ("h",), "lstm": ("i", "f", "o", "g"), "gru": ("r", "z", "n")}
PYTORCH_GATES = {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
CELL_BY_GATES = {1: "rnn", 4: "lstm", 3: "gru"}

RNN_PREFIX = "rnn."
OUTPUT_PREFIX = "fc."

_LAYER_TENSOR = re.compile(
    r"^(?P<prefix>.*?)(?P<kind>weight_ih|weight_hh|bias_ih|bias_hh)_l(?P<layer>\d+)$"
)


def reorder_gates(rows: np.ndarray, source: tuple[str, ...], target: tuple[str, ...]) -> np.ndarray:
    """`rows` (a weight or bias whose first axis holds the gate blocks in `source` order) with
    its blocks in `target` order (a copy)."""
    blocks = np.split(rows, len(source), axis=0)
    return np.concatenate([blocks[source.index(gate)] for gate in target], axis=0)


def to_pytorch(model: Model) -> dict[str, np.ndarray]:
    """The model's tensors under PyTorch's names (C-contiguous copies, the model's dtype)."""
    spec = model.spec
    tui, torch = TUI_GATES[spec.cell], PYTORCH_GATES[spec.cell]
    tensors: dict[str, np.ndarray] = {}
    for layer in range(spec.layers):
        W_x, W_h, b = model.layer(layer)
        tensors[f"{RNN_PREFIX}weight_ih_l{layer}"] = reorder_gates(W_x, tui, torch)
        tensors[f"{RNN_PREFIX}weight_hh_l{layer}"] = reorder_gates(W_h, tui, torch)
        tensors[f"{RNN_PREFIX}bias_ih_l{layer}"] = reorder_gates(b, tui, torch)
        tensors[f"{RNN_PREFIX}bias_hh_l{layer}"] = np.zeros_like(b)
    tensors[f"{OUTPUT_PREFIX}weight"] = np.array(model["V"])
    tensors[f"{OUTPUT_PREFIX}bias"] = np.array(model["c"])
    return {name: np.ascontiguousarray(value) for name, value in tensors.items()}


@dataclass(frozen=True)
class ImportedWeights:
    """A model read from PyTorch's layout: its spec (vocabulary in the file's order) and its
    parameters under tui-rnn's names."""

    spec: ModelSpec
    params: dict[str, np.ndarray]

    def model(self) -> Model:
        model = Model.zeros(self.spec)
        for name, value in self.params.items():
            model[name][...] = value
        return model


def _shape(value) -> tuple[int, ...]:
    return tuple(int(n) for n in value.shape)


def layer_names(shapes: dict[str, tuple[int, ...]]):
    """(prefix, {layer: {kind: name}}, output weight name, output bias name) of a file's
    tensor names, or ModelFileError naming the first tensor that fits no cell."""
    prefixes: set[str] = set()
    layers: dict[int, dict[str, str]] = {}
    outputs: dict[str, list[str]] = {}
    for name in shapes:
        if name.endswith("_reverse"):
            raise ModelFileError(
                f"tensor {name!r} belongs to a bidirectional layer: tui-rnn's layers read one way"
            )
        match = _LAYER_TENSOR.match(name)
        if match:
            prefixes.add(match["prefix"])
            layers.setdefault(int(match["layer"]), {})[match["kind"]] = name
        elif name.endswith((".weight", ".bias")) or name in ("weight", "bias"):
            outputs.setdefault(name.rsplit(".", 1)[-1], []).append(name)
        else:
            raise ModelFileError(
                f"tensor {name!r} is no part of an RNN, LSTM or GRU (PyTorch's weight_ih_l0 ...) "
                "nor of its output layer (*.weight, *.bias): tui-rnn imports exactly those"
            )
    if not layers:
        raise ModelFileError(
            "the file has no recurrent layer (no tensor named like PyTorch's weight_ih_l0): "
            "it is not an RNN, LSTM or GRU"
        )
    if len(prefixes) > 1:
        shown = ", ".join(repr(p) for p in sorted(prefixes))
        raise ModelFileError(
            f"the recurrent tensors have {len(prefixes)} prefixes ({shown}): tui-rnn imports one "
            "stack of layers"
        )
    if len(outputs.get("weight", ())) != 1 or len(outputs.get("bias", ())) != 1:
        listed = sorted(outputs.get("weight", []) + outputs.get("bias", []))
        raise ModelFileError(
            "the file needs exactly one output layer (a *.weight of shape (K, m) and a *.bias of "
            f"shape (K,)); it has {listed or 'none'}"
        )
    weight, bias = outputs["weight"][0], outputs["bias"][0]
    if weight[: -len("weight")] != bias[: -len("bias")]:
        raise ModelFileError(f"the output layer's {weight!r} and {bias!r} are not one layer")
    for layer in range(len(layers)):
        found = layers.get(layer, {})
        for kind in ("weight_ih", "weight_hh"):
            if kind not in found:
                raise ModelFileError(
                    f"layer {layer} has no {kind}_l{layer} (layers must be numbered 0, 1, ... "
                    "each with weight_ih and weight_hh)"
                )
    return prefixes.pop(), layers, weight, bias


def read_layout(shapes: dict[str, tuple[int, ...]], cell: str | None, dtype: str):
    """(ModelSpec, names) from the tensors' names and shapes alone, checked before any of their
    bytes are read. `cell` is the file's `cell` metadata (None: none); it decides between cells
    the shapes cannot tell apart and must agree with them."""
    _, layers, weight, bias = layer_names(shapes)
    first_hh = shapes[layers[0]["weight_hh"]]
    if len(first_hh) != 2 or first_hh[1] < 1 or first_hh[0] % first_hh[1]:
        raise ModelFileError(
            f"{layers[0]['weight_hh']} has shape {first_hh}: a recurrent weight is (G m, m)"
        )
    m = first_hh[1]
    gates = first_hh[0] // m
    if gates not in CELL_BY_GATES:
        raise ModelFileError(
            f"{layers[0]['weight_hh']} has {gates} gate blocks of {m}: an RNN has 1, a GRU 3, "
            "an LSTM 4"
        )
    by_shape = CELL_BY_GATES[gates]
    if cell is not None and cell != by_shape:
        raise ModelFileError(
            f"the file's metadata says cell {cell!r} but its shapes are an {by_shape.upper()}'s "
            f"({gates} gate blocks)"
        )
    if by_shape == "gru" and cell != "gru":
        raise ModelFileError(
            "this is PyTorch's GRU, which computes another function than tui-rnn's (its reset "
            "gate acts after the recurrent product, tui-rnn's before it): tui-rnn imports only "
            "GRUs it exported (metadata cell = gru)"
        )
    K = shapes[weight][0] if len(shapes[weight]) == 2 else -1
    expected = {weight: (K, m), bias: (K,)}
    for layer, names in layers.items():
        inputs = K if layer == 0 else m
        expected[names["weight_ih"]] = (gates * m, inputs)
        expected[names["weight_hh"]] = (gates * m, m)
        for kind in ("bias_ih", "bias_hh"):
            if kind in names:
                expected[names[kind]] = (gates * m,)
    for name, shape in expected.items():
        if shapes[name] != shape or K < 1:
            raise ModelFileError(
                f"{name} has shape {shapes[name]}, but a {by_shape} of hidden size {m} over "
                f"{K if K >= 1 else '?'} characters needs {shape}: the shapes disagree"
            )
    spec = ModelSpec(cell=by_shape, vocab_size=K, hidden_size=m, layers=len(layers), dtype=dtype)
    return spec, (layers, weight, bias)


def from_pytorch(
    tensors: dict[str, np.ndarray], spec: ModelSpec, names, dtype: str
) -> ImportedWeights:
    """Tensors in PyTorch's layout (names as read_layout found them) as tui-rnn's parameters in
    `dtype`: gate blocks reordered, the two biases of a layer added into one."""
    layers, weight, bias = names
    tui, torch = TUI_GATES[spec.cell], PYTORCH_GATES[spec.cell]
    m = spec.hidden_size
    params: dict[str, np.ndarray] = {}
    for layer, found in sorted(layers.items()):
        x_name, h_name, b_name = spec.layer_names(layer)
        params[x_name] = reorder_gates(tensors[found["weight_ih"]], torch, tui)
        params[h_name] = reorder_gates(tensors[found["weight_hh"]], torch, tui)
        zero = np.zeros(spec.module.GATES * m, dtype=dtype)
        bias_ih = tensors[found["bias_ih"]] if "bias_ih" in found else zero
        bias_hh = tensors[found["bias_hh"]] if "bias_hh" in found else zero
        if spec.cell == "gru" and bias_hh[2 * m :].any():
            raise ModelFileError(
                f"{found['bias_hh']} has a non-zero candidate (n) block: in tui-rnn's GRU that "
                "bias cannot sit inside the reset gate, so this is PyTorch's GRU, another function"
            )
        # One bias: their sum, or the one that is not zero as it is (-0.0 kept, so export ->
        # import -> export gives the same bits).
        if not bias_hh.any():
            total = bias_ih
        elif not bias_ih.any():
            total = bias_hh
        else:
            total = bias_ih.astype(dtype) + bias_hh.astype(dtype)
        params[b_name] = reorder_gates(total, torch, tui)
    params["V"] = tensors[weight]
    params["c"] = tensors[bias]
    cast = {name: np.asarray(value, dtype=dtype) for name, value in params.items()}
    for name, value in cast.items():
        if not np.isfinite(value).all():
            raise ModelFileError(
                f"the file's weights hold NaN or infinity (tui-rnn's {name}, in {dtype}): "
                "they cannot be a trained model"
            )
    return ImportedWeights(spec, cast)


def sorted_vocabulary(weights: ImportedWeights, chars: list[str]) -> tuple[ImportedWeights, str]:
    """The same model over its vocabulary in sorted order (a run's vocabulary is sorted): the
    input columns of layer 0 and the output rows permuted alike, so it computes the same
    function. Returns (weights, vocabulary)."""
    order = sorted(range(len(chars)), key=lambda i: chars[i])
    if order == list(range(len(chars))):
        return weights, "".join(chars)
    params = dict(weights.params)
    x_name = weights.spec.layer_names(0)[0]
    params[x_name] = np.ascontiguousarray(params[x_name][:, order])
    params["V"] = np.ascontiguousarray(params["V"][order])
    params["c"] = np.ascontiguousarray(params["c"][order])
    return ImportedWeights(weights.spec, params), "".join(chars[i] for i in order)
