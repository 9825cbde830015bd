"""The colour scales of a passage, shared by `tui-rnn inspect` and the app's inspector: what the
model gave each character (its probability, or its surprisal in bits) from light yellow to dark
red, or one unit's activation from blue through white to red, as indices into palettes of STEPS
RGB colours."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tui_rnn.inspection.passage import Neuron, Passage

# -- colour scales --------------------------------------------------------------------------------
# Light for what the model expected, dark red for what surprised it (ColorBrewer YlOrRd), and
# blue - white - red for an activation from -1 to 1 (ColorBrewer RdBu, reversed).
SEQUENTIAL = ((255, 255, 204), (254, 217, 118), (253, 141, 60), (227, 26, 28), (128, 0, 38))


DIVERGING = ((33, 102, 172), (146, 197, 222), (247, 247, 247), (244, 165, 130), (178, 24, 43))


STEPS = 64  # entries per palette


MAX_BITS = 8.0  # surprisal shown at full colour from here (p = 1/256)


COLOURINGS = ("probability", "surprisal", "neuron")


def palette(anchors, steps: int = STEPS) -> np.ndarray:
    """(steps, 3) uint8 colours, linear between the anchors."""
    anchors = np.asarray(anchors, dtype=np.float64)
    at = np.linspace(0, len(anchors) - 1, steps)
    low = np.minimum(at.astype(int), len(anchors) - 2)
    frac = (at - low)[:, None]
    return np.rint(anchors[low] * (1 - frac) + anchors[low + 1] * frac).astype(np.uint8)


def ink(colours: np.ndarray) -> np.ndarray:
    """Black or white text for each background colour, whichever reads better (by its
    relative luminance, WCAG's weights)."""
    linear = (colours / 255.0) ** 2.2
    luminance = linear @ np.array([0.2126, 0.7152, 0.0722])
    return np.where(luminance > 0.2, 0, 255).astype(np.uint8)


PALETTES = {"sequential": palette(SEQUENTIAL), "diverging": palette(DIVERGING)}


def shades(values: np.ndarray, low: float, high: float, steps: int = STEPS) -> np.ndarray:
    """Palette indices of `values` on [low, high] (clipped); -1 where a value is NaN."""
    position = (np.asarray(values, dtype=np.float64) - low) / (high - low)
    index = np.rint(np.clip(position, 0.0, 1.0) * (steps - 1))
    return np.where(np.isnan(position), -1, index).astype(np.intp)


@dataclass(frozen=True)
class Colouring:
    """What colours a passage: its probabilities, their surprisal, or one unit's activation."""

    mode: str = "probability"  # one of COLOURINGS
    neuron: Neuron | None = None  # the unit of mode "neuron"

    def __post_init__(self) -> None:
        if self.mode == "neuron" and self.neuron is None:
            raise ValueError('a "neuron" colouring needs its neuron')

    @property
    def shown_neuron(self) -> Neuron | None:
        """The unit whose activation colours the passage (None: the probabilities do)."""
        return self.neuron if self.mode == "neuron" else None

    @property
    def palette_name(self) -> str:
        return "diverging" if self.mode == "neuron" else "sequential"

    def values(self, passage: Passage) -> np.ndarray:
        """The number each character is coloured by."""
        neuron = self.shown_neuron
        if neuron is not None:
            return passage.unit(neuron)
        return passage.surprisal_bits if self.mode == "surprisal" else passage.probability

    def shades(self, passage: Passage) -> np.ndarray:
        """The palette index of every character (-1: no colour, the first one's probability)."""
        values = self.values(passage)
        neuron = self.shown_neuron
        if neuron is not None:
            if neuron.kind == "c":  # unbounded: coloured as the tanh(c) that h reads
                values = np.tanh(values)
            return shades(values, -1.0, 1.0)
        if self.mode == "surprisal":
            return shades(values, 0.0, MAX_BITS)
        return shades(1.0 - values, 0.0, 1.0)  # p = 1 light, p = 0 darkest

    @property
    def legend(self) -> tuple[str, str, str]:
        """(what, the palette's first end, its last end)."""
        neuron = self.shown_neuron
        if neuron is not None:
            of = "tanh of " if neuron.kind == "c" else ""
            return (f"{of}activation of unit {neuron.label}", "-1", "+1")
        if self.mode == "surprisal":
            return ("surprisal", "0 bits", f"{MAX_BITS:g}+ bits")
        return ("probability", "1", "0")
