"""The loss chart: a braille figure (figure.braille, the renderer the comparison uses too).

The series arrive thinned on the engine thread (ChartData), so a redraw rasterises about two
points per column whatever the run's length; redraws are rate-limited and skipped when nothing
changed. It draws the training loss (the report's smooth_loss; for a run with validation or
batches, TensorBoard's debiased EMA of the loss, in nats per character), the per-update loss
(the same EMA, its weight chosen) and the validation loss when asked, the best model and the
epoch boundaries, all in one unit (per chunk, as the report, or nats or bits per character).
The y axis leaves out the curves' initial drop (see `skipped`), which would squeeze the rest
into a few rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from rich.text import Text
from textual.message import Message
from textual.widget import Widget

from tui_rnn.app.keys import Scope, bindings
from tui_rnn.app.messages import ChartData
from tui_rnn.charts import figure
from tui_rnn.charts.curves import skipped

MAX_REDRAWS_PER_SECOND = 4
WINDOWS = (1.0, 0.25, 0.05)  # all updates, the recent quarter, the recent 5%
UNITS = ("chunk", "nats", "bits")  # loss per chunk (the report's), per character
UNIT_NAMES = {"chunk": "per chunk", "nats": "nats/char", "bits": "bits/char"}
SMOOTHING = (0.0, 0.6, 0.9, 0.99, 0.999)  # TensorBoard's EMA weights; 0.6 is its default
DEFAULT_SMOOTHING = 1
NO_DATA = "no updates yet: press t to train"
# The series' colours (the pane's title names them in the same ones).
SMOOTH_COLOR, LOSS_COLOR, VALIDATION_COLOR, BEST_COLOR = "cyan", "grey62", "magenta", "green"
EPOCH_COLOR = "grey42"


@dataclass(frozen=True)
class ChartOptions:
    """How the chart is drawn (the UI's side of the view; the engine's is session.ChartView)."""

    log_y: bool = False
    full_y: bool = False
    window: int = 0  # index into WINDOWS
    loss: bool = False  # the per-update loss under smooth_loss
    smoothing: int = DEFAULT_SMOOTHING  # index into SMOOTHING
    validation: bool = True
    unit: str | None = None  # one of UNITS; None: nats/char for a per_char run, else per chunk

    def unit_for(self, data: ChartData | None) -> str:
        if self.unit is not None:
            return self.unit
        per_char = data is not None and (data.per_char or len(data.val_loss) > 0)
        return "nats" if per_char else "chunk"

    @property
    def window_fraction(self) -> float:
        return WINDOWS[self.window]

    @property
    def smoothing_weight(self) -> float:
        return SMOOTHING[self.smoothing]

    def describe(self, data: ChartData | None = None) -> str:
        """What is on, for the pane's title (plain text; the report's per-chunk loss unsaid)."""
        unit = self.unit_for(data)
        parts = [] if unit == "chunk" else [UNIT_NAMES[unit]]
        if self.window:
            parts.append(f"recent {WINDOWS[self.window]:.0%}")
        if self.log_y:
            parts.append("log y")
        if self.full_y:
            parts.append("full y")
        return " · ".join(parts)


def in_unit(data: ChartData, unit: str) -> ChartData:
    """The data with every loss in `unit`: the training losses come per chunk of seq_length
    characters, the validation loss in nats per character."""
    n = data.seq_length or 1
    per_chunk = {"chunk": 1.0, "nats": 1.0 / n, "bits": 1.0 / (n * math.log(2))}[unit]
    per_char = {"chunk": float(n), "nats": 1.0, "bits": 1.0 / math.log(2)}[unit]
    if per_chunk == 1.0 and per_char == 1.0:
        return data

    def times(values: Sequence[float], factor: float) -> list[float]:
        return (np.asarray(values, dtype=np.float64) * factor).tolist()

    return replace(
        data,
        smooth_loss=times(data.smooth_loss, per_chunk),
        loss=times(data.loss, per_chunk),
        best_smooth_loss=data.best_smooth_loss * per_chunk,
        val_loss=times(data.val_loss, per_char),
    )


def y_range(data: ChartData, options: ChartOptions) -> tuple[float, float]:
    """(low, high) of the y axis in loss units: the data that matters (see the module doc)."""
    skip = 0.0 if options.full_y else skipped(data.points)
    lows, highs = [], []

    def take(xs, ys, robust: bool) -> None:
        x, y = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        keep = np.isfinite(y)
        later = keep & (x > skip)
        y = y[later] if later.any() else y[keep]
        if y.size:
            if robust and not options.full_y:
                low, high = np.percentile(y, [1, 99])
            else:
                low, high = y.min(), y.max()
            lows.append(float(low))
            highs.append(float(high))

    take(data.iterations, data.smooth_loss, robust=False)
    if options.loss and len(data.loss):
        take(data.loss_iterations, data.loss, robust=True)
    if options.validation and len(data.val_loss):
        take(data.val_iterations, data.val_loss, robust=False)
    if not lows:
        return 0.0, 1.0
    low, high = min(lows), max(highs)
    if options.log_y:
        low = max(low, 1e-12)
    pad = (high - low) * 0.04 or max(abs(high) * 0.01, 0.5)
    low, high = low - pad, high + pad
    if options.log_y:
        low = max(low, min(lows) / 1.05, 1e-12)
    return low, high


def off_the_chart(data: ChartData, options: ChartOptions) -> str:
    """Where smooth_loss has points the y axis leaves out (its start, see `skipped`): "↑" above
    it (the loss fell), "↓" below (it grew), "↕" both, "" none."""
    data = in_unit(data, options.unit_for(data))
    if not data.smooth_loss:
        return ""
    low, high = y_range(data, options)
    above, below = max(data.smooth_loss) > high, min(data.smooth_loss) < low
    return {(True, True): "↕", (True, False): "↑", (False, True): "↓"}.get((above, below), "")


def _series(label: str, x: Sequence[float], y: Sequence[float], color: str) -> figure.Series:
    """ChartData's lists as the figure's arrays."""
    return figure.Series(
        label, np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), color
    )


def chart_figure(data: ChartData, options: ChartOptions = ChartOptions()) -> figure.Figure:
    """What the chart shows, in the unit chosen: the per-update loss under the validation loss
    under smooth_loss, the best model's point, the epoch boundaries, over the window sent and
    the y range that matters (y_range); on a log axis the values' log10, labelled in loss units."""
    data = in_unit(data, options.unit_for(data))
    left = float(data.first_iteration - 1) if data.first_iteration > 1 else 0.0
    right = max(float(data.iterations[-1]), left + 2.0)
    series = []
    if options.loss and len(data.loss):
        series.append(_series("loss", data.loss_iterations, data.loss, LOSS_COLOR))
    if options.validation and len(data.val_loss):
        series.append(_series("validation", data.val_iterations, data.val_loss, VALIDATION_COLOR))
    series.append(_series("smooth_loss", data.iterations, data.smooth_loss, SMOOTH_COLOR))
    best: tuple[figure.Marker, ...] = ()
    if left <= data.best_iteration:  # at 0 too: training made the initial model no better
        best = (figure.Marker(float(data.best_iteration), data.best_smooth_loss, BEST_COLOR),)
    return figure.Figure(
        tuple(series),
        x_label="iteration",
        vlines=tuple(float(start) for start in data.epoch_starts),
        vline_color=EPOCH_COLOR,
        log_y=options.log_y,
        markers=best,
        x_range=(left, right),
        y_range=y_range(data, options),
    )


def build_chart(data: ChartData | None, width: int, height: int, options=ChartOptions()) -> Text:
    """The chart as Rich Text, `width` x `height` cells."""
    if data is None or not data.iterations:
        return Text(NO_DATA)
    return figure.braille(chart_figure(data, options), max(width, 20), max(height, 5))


class LossChart(Widget, can_focus=True):
    """Shows the newest ChartData; redraws lazily on a timer and on resize."""

    BINDINGS = bindings(Scope.CHART)

    @dataclass
    class ViewChanged(Message):
        """The options changed (or the width did): the engine may need other series."""

        options: ChartOptions
        bins: int

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._data: ChartData | None = None
        self._text = Text(NO_DATA)
        self._dirty = True
        self._size_built = (0, 0)
        self.options = ChartOptions()

    def on_mount(self) -> None:
        self.set_interval(1 / MAX_REDRAWS_PER_SECOND, self._redraw_if_needed)

    def show(self, data: ChartData) -> None:
        had_validation = self.has_validation
        self._data = data
        self._dirty = True
        if self.has_validation != had_validation:
            self.refresh_bindings()

    @property
    def data(self) -> ChartData | None:
        return self._data

    @property
    def has_validation(self) -> bool:
        return self._data is not None and len(self._data.val_loss) > 0

    @property
    def bins(self) -> int:
        return max(10, self.content_size.width)  # two points (a bin's min and max) per column

    def on_resize(self) -> None:
        self._dirty = True
        self._redraw_if_needed()
        self.post_message(self.ViewChanged(self.options, self.bins))

    def _redraw_if_needed(self) -> None:
        size = (self.content_size.width, self.content_size.height)
        if not self._dirty and size == self._size_built:
            return
        if size[0] <= 0 or size[1] <= 0:
            return
        self.redraw(*size)

    def redraw(self, width: int, height: int) -> None:
        self._text = build_chart(self._data, width, height, self.options)
        self._dirty = False
        self._size_built = (width, height)
        self.refresh()

    def render(self) -> Text:
        return self._text

    # -- keys -------------------------------------------------------------------------------------
    def set_options(self, **changes) -> None:
        self.options = replace(self.options, **changes)
        self._dirty = True
        self._redraw_if_needed()
        self.post_message(self.ViewChanged(self.options, self.bins))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_validation":
            return self.has_validation  # no key in the Footer until there is a validation loss
        return True

    def action_toggle_log(self) -> None:
        self.set_options(log_y=not self.options.log_y)

    def action_toggle_full(self) -> None:
        self.set_options(full_y=not self.options.full_y)

    def action_cycle_window(self) -> None:
        self.set_options(window=(self.options.window + 1) % len(WINDOWS))

    def action_toggle_raw(self) -> None:
        self.set_options(loss=not self.options.loss)

    def action_smoothing(self, step: int) -> None:
        """More or less smoothing of the per-update loss (and show it)."""
        index = min(len(SMOOTHING) - 1, max(0, self.options.smoothing + step))
        self.set_options(smoothing=index, loss=True)

    def action_toggle_validation(self) -> None:
        self.set_options(validation=not self.options.validation)

    def action_cycle_unit(self) -> None:
        current = self.options.unit_for(self._data)
        self.set_options(unit=UNITS[(UNITS.index(current) + 1) % len(UNITS)])
