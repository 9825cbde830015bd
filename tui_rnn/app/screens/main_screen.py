"""The main screen: a status line, four panes in a 2 x 2 grid, the Footer; and everything that
happens on it: the engine's messages, the keys of training, and the thread workers (the
gradient check, the generator, the report).

The screen asks the engine for work with typed requests (requests.py); threads talk back only
through messages (messages.py): the engine thread of the session, and the workers, which check
`is_cancelled` in every loop so that quitting is immediate. A worker's exception ends it;
on_worker_state_changed shows it in its pane.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import ActiveBinding
from textual.containers import Container, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TextArea
from textual.worker import Worker, WorkerState, get_current_worker

from tui_rnn import report
from tui_rnn.app.keys import Scope, bindings, footer_bindings
from tui_rnn.app.messages import (
    Diverged,
    EngineStopped,
    GeneratedSaved,
    GeneratedText,
    GenerationStarted,
    GradcheckDone,
    GradcheckRowDone,
    GradcheckStarted,
    Notice,
    RunState,
    SampleAdded,
    Status,
    TrainingProgress,
)
from tui_rnn.app.requests import (
    BestSample,
    ChangeSettings,
    ChartView,
    Checkpoint,
    Export,
    Pause,
    SampleNow,
    SaveGenerated,
    Session,
    SetChartView,
    Train,
)
from tui_rnn.app.screens.inspector_screen import InspectorScreen
from tui_rnn.app.screens.new_run_screen import NewRunScreen
from tui_rnn.app.screens.runs_screen import RunsScreen
from tui_rnn.app.screens.settings_screen import Settings, SettingsScreen
from tui_rnn.app.session import wait_for_answer
from tui_rnn.app.shown import keep_end, show_path
from tui_rnn.app.widgets.generator_pane import GenerateRequest, GeneratorPane, Request, SaveRequest
from tui_rnn.app.widgets.gradcheck_pane import METHODS, GradcheckPane
from tui_rnn.app.widgets.loss_chart import (
    LOSS_COLOR,
    SMOOTH_COLOR,
    VALIDATION_COLOR,
    LossChart,
    in_unit,
    off_the_chart,
)
from tui_rnn.app.widgets.samples_pane import SampleScreen, SamplesPane
from tui_rnn.app.widgets.status_bar import StatusBar
from tui_rnn.cells.model import Model
from tui_rnn.charts import figure
from tui_rnn.gradcheck.check import GradcheckOptions, GradcheckReport, GradcheckRow, run_gradcheck
from tui_rnn.gradcheck.common import DEFAULT_SEQ_LENGTHS
from tui_rnn.safe import text as safe_text
from tui_rnn.training import sampling
from tui_rnn.training.generation import texts as generated_texts
from tui_rnn.training.options import TrainConfig
from tui_rnn.training.trainer import model_spec

STREAM_INTERVAL = 0.04  # seconds between generator chunks: smooth, but few messages
MIN_SIZE = (80, 24)
WIDE = 160
# The grid's left column: the report's gradient-check table (41 columns, its borders in), as
# wide as the model's table and its status lines (sampled N of M) need where the generator's
# fields keep their 41; 81 on wide screens. Its top row is as tall as the table where the bottom
# panes keep BOTTOM_ROWS: a 2-layer LSTM's whole at 120x40, scrolled only at 80x24.
LEFT, RIGHT, WIDE_LEFT, BOTTOM_ROWS = 41, 41, 81, 16
WHERE_PARTS = ("corpus", "run_dir")  # status parts that overflow to the samples' subtitle


@dataclass(frozen=True)
class GradcheckTarget:
    """The model a gradient check is run on: at initialisation (model None), or a copy."""

    data: np.ndarray
    vocab_size: int
    config: TrainConfig  # the run's options (cell, layers, hidden size, sigma, seed)
    model: Model | None = None
    iteration: int = 0
    full: bool = False  # every entry whatever the time budget (`r`); else sampled if large

    @property
    def label(self) -> str:
        return "at init" if self.model is None else f"at iter {self.iteration:,}"

    def options(self, method: str) -> GradcheckOptions:
        """run_gradcheck's options: the run's model at init (a copy ignores spec, sigma, seed)."""

        config = self.config
        spec = model_spec(config, self.vocab_size)
        return GradcheckOptions(
            method=method, full=self.full, spec=spec, sigma=config.sigma, seed=config.seed
        )


GradcheckFn = Callable[
    [GradcheckTarget, str, Callable[[GradcheckRow], None], Callable[[], bool]], GradcheckReport
]


def default_gradcheck(target: GradcheckTarget, method: str, on_row, should_stop):
    """The report's gradient check of the target model (at init: the run's seed and sigma)."""

    return run_gradcheck(
        target.data,
        target.vocab_size,
        target.options(method),
        model=target.model,
        on_row=on_row,
        should_stop=should_stop,
    )


def room(box) -> int:
    """Cells a border title of `box` has (its corners and a space either side off; before the
    first layout, no limit)."""
    return box.outer_size.width - 4 if box.outer_size.width else 10**6


def fill(parts: list[str], *rooms: int) -> list[list[str]]:
    """`parts` (most important first) joined with " · " into one line per room, in order:
    each part goes to the first line it still fits (a part that fits none is dropped)."""
    lines: list[list[str]] = [[] for _ in rooms]
    for part in parts:
        for line, room in zip(lines, rooms, strict=True):
            if cell_len(" · ".join([*line, part])) <= room:
                line.append(part)
                break
    return lines


def grid_size(screen: tuple[int, int], table: tuple[int, int], chrome: int = 2) -> tuple[int, int]:
    """(left column width, top row height) of the panes on a screen of `screen` cells, for a
    gradient-check table of `table` cells (its status lines in); `chrome` rows are the status
    line's and the Footer's."""
    width, height = screen
    panes = height - chrome
    if width >= WIDE:
        left = max(WIDE_LEFT, table[0] + 3)
    else:  # its borders and a scrollbar's column
        left = max(LEFT, min(table[0] + 3, width - RIGHT))
    half = -(-panes // 2)
    top = max(half, min(table[1] + 2, panes - BOTTOM_ROWS))
    return left, top


class Panes(Container):
    """The 2 x 2 grid of panes, sized by grid_size."""


class MainScreen(Screen):
    BINDINGS = bindings(Scope.MAIN)
    HORIZONTAL_BREAKPOINTS = [(0, "-too-narrow"), (MIN_SIZE[0], "-normal"), (WIDE, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-too-short"), (MIN_SIZE[1], "-high-enough")]
    SAMPLES_HINTS = ("Samples (s, b)", "none yet: t trains, s samples now")  # title, subtitle

    def __init__(
        self,
        session: Session,
        *,
        gradcheck_on_start: bool = True,
        gradcheck: GradcheckFn = default_gradcheck,
        seq_lengths: Sequence[int] | None = None,
        show_rate: bool = True,
        generation_seed: int | None = None,
    ):
        super().__init__()
        self.session = session
        self.status: Status = session.status()
        self.gradcheck_on_start = gradcheck_on_start
        self.gradcheck_fn = gradcheck
        self.seq_lengths = tuple(seq_lengths or DEFAULT_SEQ_LENGTHS)
        self.show_rate = show_rate
        self.gradcheck_run = 0
        self.generation = 0
        config = session.trainer.config
        self.next_seed = config.seed if generation_seed is None else generation_seed
        self._gradcheck_worker: Worker | None = None
        self._generate_worker: Worker | None = None
        self._report_worker: Worker | None = None
        self._overflow: list = []
        self._titles: dict[tuple, Text | None] = {}

    # -- layout -----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusBar(show_rate=self.show_rate, id="status")
        with Panes(id="panes"):
            with Vertical(id="gradcheck-box", classes="pane"):
                yield GradcheckPane(
                    self.seq_lengths,
                    tuple(self.session.trainer.spec.param_shapes()),
                    id="gradcheck",
                )
            with Vertical(id="chart-box", classes="pane"):
                yield LossChart(id="chart")
            with Vertical(id="samples-box", classes="pane"):
                yield SamplesPane(id="samples")
            with Vertical(id="generator-box", classes="pane"):
                yield GeneratorPane(self.session.trainer.chars, id="generator")
        yield Static(
            Text(
                f"make the terminal at least {MIN_SIZE[0]}x{MIN_SIZE[1]} to see tui-rnn "
                "(it keeps running; ctrl+q saves and quits)"
            ),
            id="too-small",
        )
        yield Footer(compact=True)

    @property
    def chart(self) -> LossChart:
        return self.query_one(LossChart)

    @property
    def gradcheck_pane(self) -> GradcheckPane:
        return self.query_one(GradcheckPane)

    @property
    def generator(self) -> GeneratorPane:
        return self.query_one(GeneratorPane)

    @property
    def samples(self) -> SamplesPane:
        return self.query_one(SamplesPane)

    def on_mount(self) -> None:
        self.query_one("#gradcheck-box").border_title = "Gradient check (r)"
        self.query_one("#generator-box").border_title = "Generator (g)"
        self._title_samples()
        self._title_chart()
        self.query_one(StatusBar).show(self.status)
        # Everything built so far lives as long as the app: keep it out of the collector's
        # full passes, which otherwise pause the UI for tens of milliseconds now and then.
        gc.freeze()
        self.session.start(self.post_message)
        # The first pane in reading order: tab then goes pane by pane (the chart, the samples)
        # and reaches the generator's text fields last.
        self.gradcheck_pane.focus()
        if self.gradcheck_on_start:
            self.start_gradcheck(current=False)

    def on_resize(self) -> None:
        self._size_panes()
        self.refresh_bindings()  # the Footer shows what fits the new width
        self.call_after_refresh(self._title_chart)  # the titles: what fits the panes' widths

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """Textual's active bindings, with the Footer's keys cut to what fits its one row (see
        keys.footer_bindings): the focused pane's and the most important ones win."""
        return footer_bindings(self, super().active_bindings)

    # -- the status line and the panes' titles ----------------------------------------------------
    def _show_status(self, status: Status) -> None:
        changed = status.state != self.status.state
        self.status = status
        self.query_one(StatusBar).show(status)
        self._title_chart()
        if changed:
            self.refresh_bindings()

    def on_status_bar_overflow(self, message: StatusBar.Overflow) -> None:
        self._overflow = message.parts
        self._title_chart()
        self._title_samples()

    def _title_chart(self) -> None:
        box = self.query_one("#chart-box")
        self._set_title(box, "border_title", self._chart_legend(room(box)))
        # The best model, then the status line's overflow (most important first): in the chart's
        # subtitle as far as it has room, the rest in the generator's.
        parts = [self._best_text()] + [
            self._compact(p) for p in self._overflow if p.name not in WHERE_PARTS
        ]
        rooms = (room(box), room(self.query_one("#generator-box")))
        chart, generator = fill([p for p in parts if p], *rooms)
        self._set_title(box, "border_subtitle", Text(" · ".join(chart)))
        generator_box = self.query_one("#generator-box")
        self._set_title(generator_box, "border_subtitle", Text(" · ".join(generator)) or None)

    def _chart_legend(self, room: int) -> Text:
        """The chart's title: its series in their colours, the view, where the start went;
        in shorter forms (level 1: short names; 2: without `Loss (l)`) when the longer ones do
        not fit `room` cells."""
        data, options = self.chart.data, self.chart.options
        training = "train" if data is not None and data.per_char else "smooth_loss"
        for level in (0, 1, 2):
            short = level > 0
            legend = Text("Loss (l) " if level < 2 else "", "bold")
            legend.append(training, SMOOTH_COLOR)
            if options.loss:
                weight = options.smoothing_weight
                loss = f"EMA {weight:g}" if short else f"loss EMA {weight:g}"
                legend.append_text(Text.assemble(" · ", (loss if weight else "loss", LOSS_COLOR)))
            if data is not None and len(data.val_loss) and options.validation:
                val = "val" if short else "validation"
                legend.append_text(Text.assemble(" · ", (val, VALIDATION_COLOR)))
            view = options.describe(data)
            if view:
                legend.append(f" · {view.replace('/char', '') if short else view}", "dim")
            off = "" if data is None or options.full_y else off_the_chart(data, options)
            if off:
                legend.append(f" · {off}f" if short else f" · {off} start: f", "dim")
            if legend.cell_len <= room:
                break
        return legend

    def _compact(self, part) -> str:
        """A status part as a subtitle has room for it: the validation loss without its best
        (the subtitle says the best), the speed in thousands."""
        status = self.status
        if part.name == "val_loss" and status.val_loss is not None:
            return f"val {status.val_loss:.3f}"
        if part.name == "speed" and status.chars_per_second is not None and self.show_rate:
            return f"{figure.iteration_label(status.chars_per_second)} chars/s"
        return part.text.plain

    def _best_text(self) -> str:
        """The best model, named by what it is the best of: the validation loss when
        validating (as the status line says it), else the training loss the chart draws
        (smooth_loss, or a per_char run's debiased EMA) in the chart's unit; at iteration 0,
        the initial model."""
        data, status = self.chart.data, self.status
        if data is None or not data.points:
            return ""
        at = figure.iteration_label(data.best_iteration)
        if status.best_val_loss is not None:  # at 0 too: the one validation so far may be it
            return f"best val {status.best_val_loss:.3f} @ {at}"
        if data.best_iteration == 0:
            return "best: the initial model"
        shown = in_unit(data, self.chart.options.unit_for(data))
        training = "train" if data.per_char else "smooth_loss"
        return f"best {training} {shown.best_smooth_loss:.3f} @ {at}"

    def _set_title(self, box, which: str, text: Text | None) -> None:
        """Set a border title only when it changed (each change repaints the pane, and
        progress arrives twice a second while the engine shares the GIL with this thread)."""
        key = (box.id, which)
        if self._titles.get(key, False) != text:
            self._titles[key] = text
            setattr(box, which, text)

    def _title_samples(self) -> None:
        count = len(self.samples.samples)
        box = self.query_one("#samples-box")
        title = f"Samples ({count:,}) · ↑/↓ Enter opens" if count else self.SAMPLES_HINTS[0]
        self._set_title(box, "border_title", Text(title))
        where = [p.text.plain for p in self._overflow if p.name in WHERE_PARTS]
        if where:
            # The corpus whole if it can be, then as much of the run directory's end as fits.
            room = max(10, box.size.width - 6)
            if len(where) == 2:
                corpus = keep_end(where[0], room // 2)
                where = [corpus, keep_end(where[1], room - cell_len(corpus) - 3)]
            subtitle = Text(" · ".join(keep_end(w, room) for w in where))
        elif count:
            subtitle = None
        else:
            subtitle = Text(self.SAMPLES_HINTS[1])
        self._set_title(box, "border_subtitle", subtitle)

    # -- messages from the engine -----------------------------------------------------------------
    def on_training_progress(self, message: TrainingProgress) -> None:
        if message.chart is not None:
            self.chart.show(message.chart)
        self._show_status(message.status)

    def on_sample_added(self, message: SampleAdded) -> None:
        self.samples.add_sample(message.sample)
        self._title_samples()
        if message.show and not isinstance(self.app.screen, SampleScreen):
            self.app.push_screen(SampleScreen(message.sample))

    def on_notice(self, message: Notice) -> None:
        self.notify(
            safe_text.terminal(message.text),
            severity=message.severity,
            timeout=message.timeout,
            markup=False,
        )

    def on_diverged(self, message: Diverged) -> None:
        self.notify(
            safe_text.terminal(message.text),
            title="Training diverged",
            severity="error",
            timeout=60,
            markup=False,
        )

    def on_engine_stopped(self, message: EngineStopped) -> None:
        self.refresh_bindings()  # the message bubbles on to the app, which keeps its error

    def on_loss_chart_view_changed(self, message: LossChart.ViewChanged) -> None:
        options = message.options
        view = ChartView(
            bins=message.bins,
            window=options.window_fraction,
            loss=options.loss,
            smoothing=options.smoothing_weight,
        )
        self.session.request(SetChartView(view))
        self._title_chart()

    # -- keys -------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """True: the key does something now; None: greyed out; False: not shown at all."""
        engine = self.session.running and not self.session.closing
        state = self.status.state
        if action == "train":
            if state == RunState.TRAINING:
                return False  # p is shown instead
            return engine and state != RunState.ERROR or None
        if action == "pause":
            return engine and state == RunState.TRAINING
        if action == "settings" and isinstance(self.focused, Input | TextArea):
            return False  # a priority key: in a text field, T is a letter
        if action in ("sample", "best", "checkpoint", "settings"):
            return engine or None
        if action == "export":
            return engine and self.status.iteration > 0 or None
        if action == "gradcheck":
            return not self.session.closing or None
        if action == "inspector":
            return engine or None
        if action == "write_report":
            return engine and self.status.iteration > 0 or None
        return True

    def action_train(self) -> None:
        self.session.request(Train())

    def action_pause(self) -> None:
        self.session.request(Pause())

    def action_sample(self) -> None:
        self.session.request(SampleNow())

    def action_best(self) -> None:
        self.session.request(BestSample(1000))

    def action_export(self) -> None:
        self.session.request(Export())

    def action_checkpoint(self) -> None:
        self.session.request(Checkpoint())

    # Screen.set_focus, not Widget.focus (which waits for the next turn of the event loop): a
    # key typed right after `l` already goes to the chart.
    def action_focus_prompt(self) -> None:
        self.set_focus(self.query_one("#gen-prompt"))

    def action_focus_chart(self) -> None:
        self.set_focus(self.chart)

    def action_focus_next(self) -> None:
        self.focus_next()

    def action_focus_previous(self) -> None:
        self.focus_previous()

    async def action_settings(self) -> None:
        def apply(settings: Settings | None) -> None:
            if settings is not None and (settings.target is not None or settings.eta is not None):
                self.session.request(ChangeSettings(settings.target, settings.eta))

        # Awaited (T is a priority key, run before the keys after it are handed on): the keys
        # typed right after T go to the settings' focused field, not to this screen.
        screen = SettingsScreen(self.status, lambda: self.session.trainer.iteration)
        await self.app.push_screen(screen, apply)

    def action_gradcheck(self) -> None:
        self.start_gradcheck(current=True)

    async def action_inspector(self) -> None:
        # Awaited: the inspector is whole before the keys typed after `i` reach it (a `3` to its
        # tabs would otherwise be lost).
        await self.app.push_screen(InspectorScreen(self.session))

    # -- runs: the runs screen, a new run, the report ---------------------------------------------
    def action_runs(self) -> None:
        self.app.push_screen(RunsScreen(self.session))

    def action_new_run(self) -> None:
        self.app.push_screen(NewRunScreen())

    def action_write_report(self) -> None:
        self.notify("writing the report…", timeout=3, markup=False)
        self._report_worker = self.write_report()

    @work(thread=True, exclusive=True, group="report", exit_on_error=False)
    def write_report(self) -> Path | None:
        """The state saved first, then report.md and fig1.svg from the run's files."""
        worker = get_current_worker()
        run_dir = wait_for_answer(self.session.save_now())
        if run_dir is None:
            return None
        output = self.session.report_output  # None: into the run (RUN_DIR/report)
        return report.write_report(run_dir, output, should_stop=lambda: worker.is_cancelled)

    # -- the gradient check (a thread worker) -----------------------------------------------------
    def start_gradcheck(self, current: bool) -> None:
        """The check of the model at init, or of the current model (a copy from the engine)."""
        if self.session.closing:
            return
        self.gradcheck_run += 1
        for method in METHODS:
            self.gradcheck_pane.start(method, self.gradcheck_pane.model, " (queued)")
        self._gradcheck_worker = self.check_gradients(self.gradcheck_run, current)

    @work(thread=True, exclusive=True, group="gradcheck", exit_on_error=False)
    def check_gradients(self, run: int, current: bool) -> None:
        worker = get_current_worker()
        trainer = self.session.trainer
        target = GradcheckTarget(
            self.session.corpus.data, len(trainer.chars), trainer.config, full=current
        )
        if current:
            model = wait_for_answer(self.session.model_copy(best=False))
            if model is None:
                return
            if model.iteration > 0:
                target = GradcheckTarget(
                    target.data,
                    target.vocab_size,
                    target.config,
                    model.params,
                    model.iteration,
                    full=True,
                )
        for method in METHODS:
            if worker.is_cancelled:
                return
            self.post_message(GradcheckStarted(run, method, target.label))

            def on_row(row: GradcheckRow, method: str = method) -> None:
                self.post_message(GradcheckRowDone(run, method, row))

            report = self.gradcheck_fn(target, method, on_row, lambda: worker.is_cancelled)
            self.post_message(GradcheckDone(run, method, None if worker.is_cancelled else report))

    def on_gradcheck_started(self, message: GradcheckStarted) -> None:
        if message.run == self.gradcheck_run:
            self.gradcheck_pane.start(message.method, message.model)

    def _size_panes(self) -> None:
        left, top = grid_size(self.size, self.gradcheck_pane.short_size)
        styles = self.query_one(Panes).styles
        styles.grid_columns = f"{left} 1fr"
        styles.grid_rows = f"{top} 1fr"

    def on_gradcheck_pane_wants(self, message: GradcheckPane.Wants) -> None:
        if self.size.width:  # (before the first layout, on_resize sizes it)
            self._size_panes()

    def on_gradcheck_pane_titled(self, message: GradcheckPane.Titled) -> None:
        self._set_title(self.query_one("#gradcheck-box"), "border_subtitle", Text(message.subtitle))

    def on_gradcheck_row_done(self, message: GradcheckRowDone) -> None:
        if message.run == self.gradcheck_run:
            self.gradcheck_pane.add_row(message.method, message.row)

    def on_gradcheck_done(self, message: GradcheckDone) -> None:
        if message.run == self.gradcheck_run:
            self.gradcheck_pane.finish(message.method, message.report)

    # -- the generator (a thread worker) ----------------------------------------------------------
    def on_generate_request(self, message: GenerateRequest) -> None:
        request = message.request
        if self.session.closing or not self.session.running:
            self.generator.fail(self.generator.generation, "the model is not available")
            return
        self.generation += 1
        if request.beam is not None:  # beam search draws nothing
            seeds = [0 if request.seed is None else request.seed]
        elif request.seed is None:
            seeds = list(range(self.next_seed, self.next_seed + request.count))
            self.next_seed += request.count
        else:
            seeds = list(range(request.seed, request.seed + request.count))
        self.generator.begin(self.generation, request, seeds)
        self._generate_worker = self.generate(self.generation, request, seeds)

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def generate(self, generation: int, request: Request, seeds: list[int]) -> None:
        """Each text as `tui-rnn generate RUN --seed S` (and the same options) would write
        it, streamed in chunks with its characters' log-probabilities."""
        worker = get_current_worker()
        model = wait_for_answer(self.session.model_copy(request.best))
        if model is None:
            return
        self.post_message(GenerationStarted(generation, model.label))
        ids = sampling.start_ids(request.prompt, model.chars)
        config = request.config(seeds[0])

        def cancelled() -> bool:  # beam search looks at it between its steps
            return worker.is_cancelled

        for index, (_, text) in enumerate(
            generated_texts(model.params, model.chars, ids, config, cancelled)
        ):
            pending: list[str] = []
            log_probabilities: list[float] = []
            last = time.monotonic()
            for ch, log_p in text:
                if worker.is_cancelled:
                    return
                pending.append(ch)
                log_probabilities.append(log_p)
                now = time.monotonic()
                if now - last >= STREAM_INTERVAL:
                    chunk = GeneratedText(
                        generation, index, "".join(pending), False, tuple(log_probabilities)
                    )
                    self.post_message(chunk)
                    pending, log_probabilities, last = [], [], now
            if worker.is_cancelled:
                return
            last_chunk = "".join(pending)
            self.post_message(
                GeneratedText(generation, index, last_chunk, True, tuple(log_probabilities))
            )

    def on_generation_started(self, message: GenerationStarted) -> None:
        self.generator.started(message.generation, message.model)

    def on_generated_text(self, message: GeneratedText) -> None:
        self.generator.append(
            message.generation,
            message.index,
            message.text,
            message.done,
            message.log_probabilities,
        )

    def on_save_request(self, message: SaveRequest) -> None:
        self.session.request(SaveGenerated(message.text))

    def on_generated_saved(self, message: GeneratedSaved) -> None:
        self.generator.saved(show_path(message.path))

    # -- workers' ends ----------------------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self._report_worker:
            self._report_done(event)
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        text = f"{type(error).__name__}: {error}"
        if event.worker is self._gradcheck_worker:
            pane = self.gradcheck_pane
            failure: str | None = text
            for method in METHODS:
                if pane.reports[method] is None:
                    pane.fail(method, failure)
                    failure = None  # the methods after it never ran
        elif event.worker is self._generate_worker:
            self.generator.fail(self.generation, f"generation failed: {text}")

    def _report_done(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.SUCCESS and event.worker.result is not None:
            path = event.worker.result
            text = f"report written: {path} (and {path.parent / report.FIGURE_FILE})"
            self.notify(safe_text.terminal(text), title="Report", timeout=20, markup=False)
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            known = isinstance(error, ValueError | OSError | RuntimeError)  # RunError is one
            text = str(error) if known else f"{type(error).__name__}: {error}"
            self.notify(
                safe_text.terminal(f"no report: {text}"), severity="error", timeout=20, markup=False
            )
