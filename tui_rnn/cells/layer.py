"""What every layer's forward pass keeps: its states, the state to carry, what to show."""

from __future__ import annotations

from dataclasses import dataclass

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
