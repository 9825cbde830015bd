"""tui-rnn's GRU in PyTorch, from the tensors `tui-rnn export-model RUN model.safetensors` writes.

The file's tensors have nn.GRU's names and shapes (gate blocks r, z, n), but nn.GRU computes
another function: its candidate is tanh(W_in x + b_in + r * (W_hn h + b_hn)), with the reset gate
after the recurrent product; tui-rnn's (Cho et al. 2014) applies it before:

    r  = sigma(W_ir x + b_ir + W_hr h + b_hr)
    z  = sigma(W_iz x + b_iz + W_hz h + b_hz)
    n  = tanh(W_in x + b_in + W_hn (r * h) + b_hn)      (b_hn is zero in tui-rnn's files)
    h' = (1 - z) * n + z * h

`GRU` below is a drop-in for nn.GRU(input_size, hidden_size, num_layers, batch_first=True) that
computes this, with the same parameter names, so `CharGRU` (rnn + fc, as the file is laid out)
loads the file with load_state_dict(strict=True) and trains on in PyTorch:

    model = CharGRU.from_file("model.safetensors")
    logits, h_n = model(torch.tensor([[model.vocabulary.index(ch) for ch in "ROMEO:"]]))
    p_next = logits[0, -1].softmax(-1)

Needs torch and safetensors (pip install torch safetensors).
"""

from __future__ import annotations

import json

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn


class GRU(nn.Module):
    """tui-rnn's GRU layers, batch first: (B, T, input) -> ((B, T, m), h_n (layers, B, m))."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1):
        super().__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        for layer in range(num_layers):
            inputs = input_size if layer == 0 else hidden_size
            for name, shape in (
                (f"weight_ih_l{layer}", (3 * hidden_size, inputs)),
                (f"weight_hh_l{layer}", (3 * hidden_size, hidden_size)),
                (f"bias_ih_l{layer}", (3 * hidden_size,)),
                (f"bias_hh_l{layer}", (3 * hidden_size,)),
            ):
                self.register_parameter(name, nn.Parameter(torch.zeros(shape)))

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        B, T, _ = x.shape
        m = self.hidden_size
        if h0 is None:
            h0 = x.new_zeros(self.num_layers, B, m)
        finals = []
        for layer in range(self.num_layers):
            W_i, W_h = getattr(self, f"weight_ih_l{layer}"), getattr(self, f"weight_hh_l{layer}")
            b_i, b_h = getattr(self, f"bias_ih_l{layer}"), getattr(self, f"bias_hh_l{layer}")
            inputs = x @ W_i.T + b_i  # W_i x_t + b_i for every t: (B, T, 3m)
            h, outputs = h0[layer], []
            for t in range(T):
                rz = torch.sigmoid(inputs[:, t, : 2 * m] + h @ W_h[: 2 * m].T + b_h[: 2 * m])
                r, z = rz[:, :m], rz[:, m:]
                n = torch.tanh(inputs[:, t, 2 * m :] + (r * h) @ W_h[2 * m :].T + b_h[2 * m :])
                h = (1 - z) * n + z * h
                outputs.append(h)
            x = torch.stack(outputs, dim=1)
            finals.append(h)
        return x, torch.stack(finals)


class CharGRU(nn.Module):
    """The exported model: one-hot characters -> tui-rnn's GRU -> nn.Linear -> logits."""

    def __init__(self, vocabulary: list[str], hidden_size: int, num_layers: int):
        super().__init__()
        self.vocabulary = vocabulary
        self.rnn = GRU(len(vocabulary), hidden_size, num_layers)
        self.fc = nn.Linear(hidden_size, len(vocabulary))

    def forward(self, ids: torch.Tensor, h0: torch.Tensor | None = None):
        x = nn.functional.one_hot(ids, len(self.vocabulary)).to(self.fc.weight.dtype)
        out, h_n = self.rnn(x, h0)
        return self.fc(out), h_n

    @classmethod
    def from_file(cls, path: str) -> CharGRU:
        with safe_open(path, "pt") as f:
            metadata = f.metadata()
        if metadata.get("cell") != "gru":
            raise ValueError(f"{path} is not a tui-rnn GRU (its cell is {metadata.get('cell')})")
        model = cls(
            json.loads(metadata["vocabulary"]),
            int(metadata["hidden_size"]),
            int(metadata["layers"]),
        )
        tensors = load_file(path)
        model.to(next(iter(tensors.values())).dtype)
        model.load_state_dict(tensors, strict=True)
        return model
