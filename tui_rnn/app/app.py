"""The tui-rnn app: four panes over one training session, driven by a handful of keys.

Threads: the engine thread (session.py) owns the trainer; the gradient check and the generator
run as Textual thread workers. All of them talk to the UI only through messages (messages.py),
so the UI thread does no NumPy work and never waits for the model.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import signal
import time
from collections.abc import Iterable
from concurrent.futures import TimeoutError as FutureTimeout

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input
from textual.worker import get_current_worker

from ..gradcheck import DEFAULT_SEQ_LENGTHS
from .generator_pane import GenerateRequest, GeneratorPane
from .gradcheck_pane import METHODS, GradcheckPane
from .help_screen import HelpScreen
from .keys import KEYS
from .loss_chart import LossChart, iteration_label
from .messages import (
    Diverged,
    EngineStopped,
    GeneratedText,
    GradcheckDone,
    GradcheckRowDone,
    GradcheckStarted,
    Notice,
    SampleAdded,
    Status,
    TrainingProgress,
)
from .samples_pane import SampleScreen, SamplesPane
from .session import TrainingSession
from .status_bar import StatusBar


class KeysFooter(Footer):
    """The Footer, in two rows of six keys when the `-narrow` class is set (narrow screens)."""

    NARROW = 104  # eleven compact keys and the palette hint need 103 columns

    def compose(self) -> ComposeResult:
        yield from super().compose()
        if self.has_class("-narrow"):  # Footer.compose sets one column per key inline
            self.styles.grid_size_columns = 6

    def on_resize(self) -> None:
        narrow = self.app.size.width < self.NARROW
        if narrow != self.has_class("-narrow"):
            self.set_class(narrow, "-narrow")
            self.show_command_palette = not narrow
            self.refresh(recompose=True)


class Panes(Container):
    """The 2 x 2 grid of panes; a wider left column on wide screens (see app.tcss)."""

    WIDE = 160

    def on_resize(self) -> None:
        self.set_class(self.app.size.width >= self.WIDE, "-wide")


def while_shown(handler):
    """Drop a thread's message that arrives while the app is being torn down (its widgets may
    be gone by then: the engine still reports its final save during shutdown)."""

    @functools.wraps(handler)
    def handle(self, message):
        if self._screen_stack and not (self._closing or self._closed or self._unmounting):
            handler(self, message)

    return handle


STREAM_INTERVAL = 0.04  # seconds between generator chunks: smooth, but few messages
SHUTDOWN_TIMEOUT = 60.0


def default_gradcheck(session: TrainingSession, method: str, on_row, should_stop):
    """The gradient check of the session's model at its initialisation (same seed, sigma, m)."""
    from ..gradcheck import run_gradcheck

    config = session.trainer.config
    return run_gradcheck(
        session.corpus.data,
        len(session.trainer.chars),
        hidden_size=config.hidden_size,
        sigma=config.sigma,
        seed=config.seed,
        method=method,
        on_row=on_row,
        should_stop=should_stop,
    )


class TuiRnnApp(App):
    """`TuiRnnApp(session)`; the CLI builds the session, tests can build their own."""

    CSS_PATH = "app.tcss"
    TITLE = "tui-rnn"
    BINDINGS = [
        Binding(k.key, k.action, k.label, tooltip=k.help, priority=k.key == "ctrl+q") for k in KEYS
    ]

    def __init__(
        self,
        session: TrainingSession,
        *,
        gradcheck_on_start: bool = True,
        gradcheck=default_gradcheck,
        seq_lengths=None,
        show_rate: bool = True,
        generation_seed: int | None = None,
    ):
        super().__init__()
        self.session = session
        self.status = session.status()
        self.gradcheck_on_start = gradcheck_on_start
        self._gradcheck = gradcheck
        self._seq_lengths = tuple(seq_lengths or DEFAULT_SEQ_LENGTHS)
        self._gradcheck_run = 0
        self._show_rate = show_rate
        self._generation = 0
        self._generation_seed = (
            session.trainer.config.seed if generation_seed is None else generation_seed
        )
        self._quitting = False
        self._unmounting = False
        self.engine_error: str | None = None

    # -- layout -----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusBar(show_rate=self._show_rate, id="status")
        with Panes(id="panes"):
            with Vertical(id="gradcheck-box", classes="pane"):
                yield GradcheckPane(self._seq_lengths, id="gradcheck")
            with Vertical(id="chart-box", classes="pane"):
                yield LossChart(id="chart")
            with Vertical(id="samples-box", classes="pane"):
                yield SamplesPane(id="samples")
            with Vertical(id="generator-box", classes="pane"):
                yield GeneratorPane(self.session.trainer.chars, id="generator")
        yield KeysFooter(compact=True)

    def on_mount(self) -> None:
        self.query_one("#gradcheck-box").border_title = "Gradient check (r)"
        self.query_one("#chart-box").border_title = "Smooth loss"
        self.query_one("#samples-box").border_title = "Samples (s, b; Enter opens)"
        self.query_one("#generator-box").border_title = "Generator (g)"
        self.query_one("#samples-box").border_subtitle = "none yet: t trains, s samples now"
        self.query_one(StatusBar).show(self.status)
        # Everything built so far lives as long as the app: keep it out of the collector's
        # full passes, which otherwise pause the UI for tens of milliseconds now and then.
        gc.freeze()
        self.session.start(self.post_message)
        self._catch_sigterm(True)
        self.query_one(SamplesPane).focus()
        if self.gradcheck_on_start:
            self.action_gradcheck()

    # -- messages from the threads ----------------------------------------------------------------
    @while_shown
    def on_training_progress(self, message: TrainingProgress) -> None:
        self._show_status(message.status)
        if message.chart is not None:
            chart = self.query_one(LossChart)
            chart.show(message.chart)
            box = self.query_one("#chart-box")
            data = message.chart
            if data.best_iteration > 0:
                box.border_subtitle = (
                    f"best {data.best_smooth_loss:.3f} @ {iteration_label(data.best_iteration)}"
                )
            else:
                box.border_subtitle = ""

    def _show_status(self, status: Status) -> None:
        changed = status.state != self.status.state
        self.status = status
        self.query_one(StatusBar).show(status)
        if changed:
            self._refresh_keys()

    @while_shown
    def on_sample_added(self, message: SampleAdded) -> None:
        pane = self.query_one(SamplesPane)
        pane.add_sample(message.sample)
        count = pane.option_count
        self.query_one(
            "#samples-box"
        ).border_subtitle = f"{count:,} sample{'' if count == 1 else 's'}"
        if message.show and not self._quitting and not isinstance(self.screen, SampleScreen):
            self.push_screen(SampleScreen(message.sample))

    @while_shown
    def on_notice(self, message: Notice) -> None:
        self.notify(message.text, severity=message.severity, timeout=message.timeout)

    @while_shown
    def on_diverged(self, message: Diverged) -> None:
        self.notify(message.text, title="Training diverged", severity="error", timeout=60)

    def on_engine_stopped(self, message: EngineStopped) -> None:
        self.engine_error = message.error
        self._refresh_keys()
        if self._quitting:
            self.exit()

    @while_shown
    def on_gradcheck_started(self, message: GradcheckStarted) -> None:
        if message.run == self._gradcheck_run:
            self.query_one(GradcheckPane).start(message.method)

    @while_shown
    def on_gradcheck_row_done(self, message: GradcheckRowDone) -> None:
        if message.run == self._gradcheck_run:
            self.query_one(GradcheckPane).add_row(message.method, message.row)

    @while_shown
    def on_gradcheck_done(self, message: GradcheckDone) -> None:
        if message.run == self._gradcheck_run:
            self.query_one(GradcheckPane).finish(message.method, message.report, message.error)

    @while_shown
    def on_generated_text(self, message: GeneratedText) -> None:
        self.query_one(GeneratorPane).append(message.generation, message.text, message.done)

    # -- keys -------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """True: the key does something now; None: shown greyed out."""
        engine = self.session.running and not self._quitting
        state = self.status.state
        if action == "train":
            return engine and state in ("idle", "paused") or None
        if action == "pause":
            return engine and state == "training" or None
        if action in ("sample", "best", "checkpoint"):
            return engine or None
        if action == "export":
            return engine and self.status.iteration > 0 or None
        if action == "leave_prompt":
            return isinstance(self.focused, Input) or None
        if action in ("focus_prompt", "help"):
            return not isinstance(self.screen, HelpScreen | SampleScreen) or None
        return True

    def _refresh_keys(self) -> None:
        """Re-evaluate check_action for the Footer (not while the app is being torn down)."""
        if self._screen_stack:
            self.refresh_bindings()

    def on_descendant_focus(self) -> None:
        self._refresh_keys()

    def on_descendant_blur(self) -> None:
        self._refresh_keys()

    def action_train(self) -> None:
        self.session.train()

    def action_pause(self) -> None:
        self.session.pause()

    def action_sample(self) -> None:
        self.session.sample()

    def action_best(self) -> None:
        self.session.best_sample(1000)

    def action_export(self) -> None:
        self.session.export()

    def action_checkpoint(self) -> None:
        self.session.checkpoint()

    def action_focus_prompt(self) -> None:
        self.query_one("#gen-prompt", Input).focus()

    def action_leave_prompt(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one(SamplesPane).focus()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_gradcheck(self) -> None:
        if self._quitting:
            return
        self._gradcheck_run += 1
        run = self._gradcheck_run
        for method in METHODS:
            self.query_one(GradcheckPane).start(method, " (queued)")
        self.run_worker(
            lambda: self._gradcheck_job(run),
            name="gradcheck",
            group="gradcheck",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    async def action_quit(self) -> None:
        """Stop training cleanly, save the state, then exit."""
        if self._quitting:
            return
        self._quitting = True
        self._refresh_keys()
        self.workers.cancel_group(self, "gradcheck")
        self.workers.cancel_group(self, "generate")
        if not self.session.running:
            self.exit()
            return
        self.notify("saving the training state…", timeout=SHUTDOWN_TIMEOUT)
        future = self.session.shutdown()
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), SHUTDOWN_TIMEOUT)
        except TimeoutError:
            pass
        self.exit()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)  # includes Quit -> action_quit
        for key in KEYS:
            if key.action == "quit" or not self.check_action(key.action, ()):
                continue
            yield SystemCommand(
                f"{key.label} ({key.shown})", key.help, getattr(self, f"action_{key.action}")
            )

    # -- workers ----------------------------------------------------------------------------------
    def _gradcheck_job(self, run: int) -> None:
        worker = get_current_worker()
        for method in METHODS:
            if worker.is_cancelled:
                return
            self.post_message(GradcheckStarted(run, method))

            def on_row(row, method=method):
                self.post_message(GradcheckRowDone(run, method, row))

            try:
                report = self._gradcheck(self.session, method, on_row, lambda: worker.is_cancelled)
            except Exception as err:  # shown in the pane; the app goes on
                self.post_message(GradcheckDone(run, method, None, f"{type(err).__name__}: {err}"))
                continue
            if worker.is_cancelled:
                report = None
            self.post_message(GradcheckDone(run, method, report))

    def on_generate_request(self, request: GenerateRequest) -> None:
        if self._quitting or not self.session.running:
            self.query_one(GeneratorPane).say("the model is not available (the engine stopped)")
            return
        self._generation += 1
        generation = self._generation
        self.query_one(GeneratorPane).begin(
            generation, request.prompt, request.best, request.temperature
        )
        self.run_worker(
            lambda: self._generate_job(generation, request),
            name="generate",
            group="generate",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _generate_job(self, generation: int, request: GenerateRequest) -> None:
        import numpy as np

        from .. import sampling

        worker = get_current_worker()
        try:
            params, chars = self.session.model_copy(request.best).result(timeout=30)
        except (FutureTimeout, RuntimeError):  # the engine is stopping (quit) or stuck
            self.post_message(GeneratedText(generation, " [the model did not answer]", True))
            return
        ids = sampling.start_ids(request.prompt, chars)
        rng = np.random.Generator(np.random.PCG64([self._generation_seed, generation]))
        pending: list[str] = []
        last = time.monotonic()
        for i in sampling.continue_prompt(params, ids, request.length, rng, request.temperature):
            if worker.is_cancelled:
                break
            pending.append(chars[i])
            now = time.monotonic()
            if now - last >= STREAM_INTERVAL:
                self.post_message(GeneratedText(generation, "".join(pending)))
                pending, last = [], now
        self.post_message(GeneratedText(generation, "".join(pending), done=True))

    # -- leaving ----------------------------------------------------------------------------------
    def _catch_sigterm(self, catch: bool) -> None:
        """SIGTERM (e.g. `kill`) quits like ctrl+q, and SIGHUP (the terminal window closed, an
        ssh connection dropped) saves and leaves at once: either way the state is saved."""
        handlers = {"SIGTERM": lambda: self.call_later(self.action_quit), "SIGHUP": self._hang_up}
        for name, handler in handlers.items():
            signum = getattr(signal, name, None)
            if signum is None:  # no SIGHUP on Windows
                continue
            try:
                loop = asyncio.get_running_loop()
                if catch:
                    loop.add_signal_handler(signum, handler)
                else:
                    loop.remove_signal_handler(signum)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread, or no signals here (Windows): ctrl+q still saves

    # The terminal is gone, so Textual's own shutdown would wait forever to restore it (its
    # writer blocks): save, then end the process directly (tests replace this).
    _leave_now = staticmethod(os._exit)

    def _hang_up(self) -> None:
        self._quitting = True
        self.workers.cancel_group(self, "gradcheck")
        self.workers.cancel_group(self, "generate")
        try:
            self.session.shutdown().result(timeout=SHUTDOWN_TIMEOUT)
        except FutureTimeout:
            pass
        self._leave_now(128 + signal.SIGHUP)

    def on_unmount(self) -> None:
        # Any way out (ctrl+q, a test ending, an error) stops the engine and saves the state.
        self._unmounting = True
        self._catch_sigterm(False)
        if self.session.running:
            try:
                self.session.shutdown().result(timeout=SHUTDOWN_TIMEOUT)
            except FutureTimeout:
                pass
