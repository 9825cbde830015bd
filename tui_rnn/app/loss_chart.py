"""The smooth-loss chart: plotext 5 draws into a string, Rich parses its colours, we show it.

The history arrives already thinned (ChartData, prepared on the engine thread), so a redraw
costs one plotext build of at most ~2 points per column, whatever the length of the run.
Redraws happen at most `MAX_REDRAWS_PER_SECOND` times a second, and only when something changed.
"""

from __future__ import annotations

import math

import plotext as plt
from rich.text import Text
from textual.widget import Widget

from .messages import ChartData

MAX_REDRAWS_PER_SECOND = 4


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round-number ticks (1, 2, 5 x 10^k steps) covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low]
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + 1e-9 * step:
        ticks.append(value)
        value += step
    return ticks


def iteration_label(value: float) -> str:
    """1234567 -> '1.23M', 45000 -> '45k', 800 -> '800'."""
    for threshold, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:.3g}{suffix}"
    return f"{value:.0f}"


def build_chart(data: ChartData | None, width: int, height: int) -> str:
    """The chart as a string with ANSI colours, `width` x `height` cells."""
    width, height = max(width, 20), max(height, 5)
    if data is None or not data.iterations:
        return "no updates yet: press t to train"
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    x, y = data.iterations, data.smooth_loss
    right = max(x[-1], 2.0)
    plt.xlim(0, right)
    for start in data.epoch_starts:  # epoch boundaries
        if 0 < start <= right:
            plt.vline(start, "gray")
    plt.plot(x, y, marker="braille", color="cyan")
    if data.best_iteration > 0:
        plt.scatter(
            [float(data.best_iteration)], [data.best_smooth_loss], marker="●", color="green"
        )
    ticks = nice_ticks(0, right, max(2, width // 14))
    plt.xticks(ticks, [iteration_label(t) for t in ticks])
    if height >= 8:
        plt.xlabel("iteration")
    return plt.build()


class LossChart(Widget):
    """Shows the newest ChartData; redraws lazily on a timer and on resize."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._data: ChartData | None = None
        self._text = Text("no updates yet: press t to train")
        self._dirty = True
        self._size_built = (0, 0)

    def on_mount(self) -> None:
        self.set_interval(1 / MAX_REDRAWS_PER_SECOND, self._redraw_if_needed)

    def show(self, data: ChartData) -> None:
        self._data = data
        self._dirty = True

    @property
    def data(self) -> ChartData | None:
        return self._data

    def on_resize(self) -> None:
        self._dirty = True
        self._redraw_if_needed()

    def _redraw_if_needed(self) -> None:
        size = (self.content_size.width, self.content_size.height)
        if not self._dirty and size == self._size_built:
            return
        if size[0] <= 0 or size[1] <= 0:
            return
        self.redraw(*size)

    def redraw(self, width: int, height: int) -> None:
        self._text = Text.from_ansi(build_chart(self._data, width, height), no_wrap=True)
        self._dirty = False
        self._size_built = (width, height)
        self.refresh()

    def render(self) -> Text:
        return self._text
