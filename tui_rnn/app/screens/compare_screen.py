"""Comparing runs: the marked runs' smoothed loss (and validation) curves overlaid, one colour
each, x by updates, characters seen or training time.

Histories are read once from each run's newest good checkpoint (read-only, safe while another
process trains it) and thinned on workers; the UI thread only draws, with the loss chart's
braille renderer. Losses are per character, so runs of any sequence length compare; by updates
only runs that read as many characters per update do, which the title says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState, get_current_worker

from tui_rnn.app.keys import Scope, bindings
from tui_rnn.app.requests import Session
from tui_rnn.app.session import wait_for_answer
from tui_rnn.charts import figure
from tui_rnn.charts.curves import thin_history
from tui_rnn.safe import files, text
from tui_rnn.store import checkpoint
from tui_rnn.store.workspace import RunSummary

COLORS = ("cyan", "magenta", "yellow", "green")  # one per run, in the order marked
MAX_RUNS = len(COLORS)
AXES = ("updates", "characters", "time")
AXIS_LABELS = {"updates": "update", "characters": "characters seen", "time": "training time"}
AXIS_FORMATS = {
    "updates": figure.iteration_label,
    "characters": figure.iteration_label,
    "time": figure.seconds_label,
}


@dataclass(frozen=True)
class RunCurves:
    """One run's history as the comparison needs it (per-character losses)."""

    name: str
    model: str  # "rnn 1x100 B=1 n=25"
    chars_per_update: int
    loss: np.ndarray  # smooth_loss / seq_length of every update, float32
    seconds: np.ndarray  # training seconds after every update
    val_iterations: np.ndarray
    val_loss: np.ndarray  # nats per character

    @classmethod
    def read(cls, summary: RunSummary) -> RunCurves:
        history = checkpoint.read_history(summary.path)
        config = history.config
        return cls(
            text.line(summary.name),
            f"{summary.model_text} B={config.batch_size} n={config.seq_length}",
            history.chars_per_update,
            (history.smooth_loss / np.float32(config.seq_length)).astype(np.float32),
            history.seconds,
            history.val_iterations,
            history.val_loss,
        )

    def x_of(self, iterations: np.ndarray, axis: str) -> np.ndarray:
        """Where updates number `iterations` (1-based; 0 = before any) lie on the x axis."""
        iterations = np.asarray(iterations, dtype=np.int64)
        if axis == "updates":
            return iterations.astype(np.float64)
        if axis == "characters":
            return iterations.astype(np.float64) * self.chars_per_update
        padded = np.concatenate([[0.0], self.seconds.astype(np.float64)])
        return padded[np.clip(iterations, 0, len(self.seconds))]


@dataclass(frozen=True)
class Curve:
    """A run's series, thinned and placed on the chosen x axis."""

    label: str
    model: str
    color: str
    x: np.ndarray
    y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray


@dataclass(frozen=True)
class CompareData:
    curves: tuple[Curve, ...]
    axis: str
    comparable: bool  # the runs read the same characters per update
    bins: int  # thinned for a chart this many columns wide


def prepare(histories: list[RunCurves], axis: str, bins: int) -> CompareData:
    """The curves of every run on `axis`, each thinned to about `bins` bins (worker thread)."""
    curves = []
    for history, color in zip(histories, COLORS, strict=False):
        iterations, values = thin_history(history.loss, bins)
        curves.append(
            Curve(
                history.name,
                history.model,
                color,
                history.x_of(iterations.astype(np.int64), axis),
                values,
                history.x_of(history.val_iterations, axis),
                np.asarray(history.val_loss, dtype=np.float64),
            )
        )
    comparable = len({h.chars_per_update for h in histories}) <= 1
    return CompareData(tuple(curves), axis, comparable, bins)


def compare_figure(data: CompareData, log_y=False, validation=True) -> figure.Figure:
    """Each run's smooth loss, then its validation loss dashed, in the run's colour; later runs
    on top."""
    series = []
    for curve in data.curves:
        series.append(figure.Series(curve.label, curve.x, curve.y, curve.color))
        if validation and len(curve.val_y):
            series.append(
                figure.Series(curve.label, curve.val_x, curve.val_y, curve.color, dashed=True)
            )
    return figure.Figure(tuple(series), x_label="", log_y=log_y, x_format=AXIS_FORMATS[data.axis])


def render(data: CompareData | None, width: int, height: int, log_y=False, validation=True) -> Text:
    """The chart as Rich Text, `width` x `height` cells (figure.braille)."""
    if data is None or not data.curves:
        return Text("reading the runs…" if data is None else "no runs to compare", style="dim")
    return figure.braille(compare_figure(data, log_y, validation), width, height)


class CompareChart(Widget):
    """Draws the newest CompareData; asks for new series when its width changes."""

    @dataclass
    class Resized(Message):
        """The chart's width changed: the series are thinned again for `bins` bins."""

        bins: int

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data: CompareData | None = None
        self.log_y = False
        self.validation = True
        self._text = render(None, 0, 0)

    @property
    def bins(self) -> int:
        return max(10, self.content_size.width)  # min and max per bin: two points per column

    def show(self, data: CompareData) -> None:
        self.data = data
        self.redraw()

    def set_view(self, **changes) -> None:
        for name, value in changes.items():
            setattr(self, name, value)
        self.redraw()

    def redraw(self) -> None:
        width, height = self.content_size.width, self.content_size.height
        if width > 0 and height > 0:
            self._text = render(self.data, width, height, self.log_y, self.validation)
        self.refresh()

    def on_resize(self) -> None:
        self.redraw()
        self.post_message(self.Resized(self.bins))

    def render(self) -> Text:
        return self._text


class CompareScreen(Screen):
    """The marked runs' curves over each other; x cycles the axis, y log, v validation."""

    SCOPE = Scope.COMPARE
    BINDINGS = bindings(Scope.COMPARE) + bindings(Scope.MODAL)

    @dataclass
    class Loaded(Message):
        histories: list[RunCurves]
        problems: list[str]

    @dataclass
    class Prepared(Message):
        data: CompareData

    def __init__(self, summaries: list[RunSummary], session: Session) -> None:
        super().__init__()
        self.summaries = summaries[:MAX_RUNS]
        self.session = session  # the run open in the app (saved before its history is read)
        self.histories: list[RunCurves] | None = None
        self.axis = AXES[0]

    def compose(self) -> ComposeResult:
        yield Static(id="compare-title")
        yield CompareChart(id="compare-chart")
        yield Static(id="compare-legend")
        yield Footer(compact=True)

    @property
    def chart(self) -> CompareChart:
        return self.query_one(CompareChart)

    def on_mount(self) -> None:
        self._title()
        self.load()

    @work(thread=True, exclusive=True, group="compare-load", exit_on_error=False)
    def load(self) -> None:
        """Each run's history from its newest checkpoint (this app's run saved first)."""
        session = self.session
        if any(s.path.resolve() == session.run_dir.resolve() for s in self.summaries):
            wait_for_answer(session.save_now())
        histories, problems = [], []
        for summary in self.summaries:
            if get_current_worker().is_cancelled:
                return
            try:
                histories.append(RunCurves.read(summary))
            except files.RunError as err:
                problems.append(str(err))
        self.post_message(self.Loaded(histories, problems))

    def on_compare_screen_loaded(self, message: Loaded) -> None:
        self.histories = message.histories
        for problem in message.problems:
            self.notify(text.terminal(problem), severity="error", timeout=15, markup=False)
        self._prepare()

    def _prepare(self) -> None:
        if self.histories is not None:
            self.thin(self.histories, self.axis, self.chart.bins)

    @work(thread=True, exclusive=True, group="compare-thin", exit_on_error=False)
    def thin(self, histories: list[RunCurves], axis: str, bins: int) -> None:
        self.post_message(self.Prepared(prepare(histories, axis, bins)))

    def on_compare_screen_prepared(self, message: Prepared) -> None:
        self.chart.show(message.data)
        self._title()
        self.refresh_bindings()  # v (validation) is offered once a run has some

    def on_compare_chart_resized(self, message: CompareChart.Resized) -> None:
        data = self.chart.data
        if data is None or data.bins != message.bins:
            self._prepare()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Either worker's failure (reading the histories, thinning the series), said."""
        if event.state == WorkerState.ERROR:
            error = f"cannot compare the runs: {event.worker.error}"
            self.notify(text.terminal(error), severity="error", timeout=15, markup=False)

    def _title(self) -> None:
        chart = self.chart
        title = Text.assemble(
            ("Compare", "bold"), f" · loss/char (nats) by {AXIS_LABELS[self.axis]} (x)"
        )
        if chart.log_y:
            title.append(" · log y")
        data = chart.data
        if data is not None and not data.comparable and self.axis == "updates":
            title.append(
                " · ⚠ batch x seq_length differ: compare by characters or time (x)",
                style="bold yellow",
            )
        self.query_one("#compare-title", Static).update(title)
        legend = Text()
        curves = data.curves if data is not None else ()
        for curve in curves:
            legend.append("━━ ", style=curve.color)
            legend.append(f"{curve.label} ", style="bold")
            legend.append(f"{curve.model}   ", style="dim")
        if curves and chart.validation and any(len(c.val_y) for c in curves):
            legend.append("╍╍ validation", style="dim")
        self.query_one("#compare-legend", Static).update(legend)

    # -- keys -------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_validation":
            data = self.chart.data
            return data is not None and any(len(c.val_y) for c in data.curves)
        return True

    def action_cycle_x(self) -> None:
        self.axis = AXES[(AXES.index(self.axis) + 1) % len(AXES)]
        self._title()
        self._prepare()

    def action_toggle_log(self) -> None:
        self.chart.set_view(log_y=not self.chart.log_y)
        self._title()

    def action_toggle_validation(self) -> None:
        self.chart.set_view(validation=not self.chart.validation)
        self._title()
