"""What a cell is to the model: the constants and functions each cell's module (rnn.py, lstm.py,
gru.py) provides, and the cache every layer's forward pass keeps. The cells are modules, not
classes: each is its equations and the loops that compute them, nothing more."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(eq=False)
class LayerCache:
    """The base of each cell's cache: H (T + 1, B, m), with H[0] = h_0 and H[t + 1] = h_t."""

    H: np.ndarray

    @property
    def outputs(self) -> np.ndarray:
        return self.H[1:]

    @property
    def final_state(self) -> np.ndarray:
        return self.state_at(-1).copy()

    def state_at(self, t: int) -> np.ndarray:
        """The (B, state width) state after t steps (t = 0: the initial state)."""
        return self.H[t]

    def activations(self) -> dict[str, np.ndarray]:
        """(T, B, m) arrays by name besides h (the cell's gates)."""
        return {}


def kept(values: np.ndarray | None) -> np.ndarray:
    """An array a forward pass keeps only with keep=True, which the backward pass needs."""
    if values is None:
        raise ValueError("this forward pass ran with keep=False: it kept nothing to differentiate")
    return values


class Perturb(Protocol):
    """The gradient check's hook into a layer's loop: perturb(t, src, lo, hi, a) adds to the
    pre-activations `a` of rows lo:hi at step t, whose recurrent product reads `src`; it
    perturbs `copies` rows (copies of the model) at once."""

    copies: int

    def __call__(self, t: int, src: np.ndarray, lo: int, hi: int, a: np.ndarray, /) -> None: ...


def copies(dX: np.ndarray | None, perturb: Perturb | None) -> int:
    """How many perturbed copies a tangent carries: dX's or the hook's."""
    if dX is not None:
        return dX.shape[1]
    if perturb is None:
        raise ValueError("a tangent needs the tangent of its input or a perturbation")
    return perturb.copies


class CellModule(Protocol):
    """What rnn.py, lstm.py and gru.py each provide. `cache` is the cell's own LayerCache."""

    NAMES: tuple[str, str, str]  # a layer's input weights, recurrent weights, bias
    GATES: int  # rows of each of them per hidden unit
    STATE_FACTOR: int  # the state's width in units of m: h (1) or [h | c] (2)

    def layer_forward(
        self,
        XW: np.ndarray,
        W_h: np.ndarray,
        state0: np.ndarray,
        perturb: Perturb | None = None,
        /,
        *,
        keep: bool = True,
    ) -> LayerCache: ...

    def layer_backward(
        self, cache: Any, W_h: np.ndarray, dH: np.ndarray, dW_h: np.ndarray, /
    ) -> np.ndarray: ...

    def layer_tangent(
        self,
        cache: Any,
        W_h: np.ndarray,
        dXW: np.ndarray | None,
        start: int,
        perturb: Perturb | None,
        /,
    ) -> np.ndarray: ...

    def step(
        self, inp: np.ndarray, W_h: np.ndarray, b: np.ndarray, state: np.ndarray, /
    ) -> np.ndarray: ...

    def forget_bias(self, b: np.ndarray, /) -> None: ...
