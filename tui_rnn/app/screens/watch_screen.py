"""The main screen of a watched run (`tui-rnn watch`, or Enter on a run another process holds):
the main screen, read-only, over a WatchSession (app/watch.py).

What would change the run is greyed out, its Footer tooltip saying why (WatchSession.read_only,
through check_action returning None). `t` takes over a run that nobody trains any more: it is
resumed here on a worker, its lock taken as opening any run takes it, and the app switches to
it and trains it (RunOpened with `train`). `q` quits, as ctrl+q: a viewer has nothing to save.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual import work
from textual.binding import ActiveBinding
from textual.worker import Worker, WorkerState

from tui_rnn.app.keys import WATCH_HELP, Scope, bindings
from tui_rnn.app.messages import RunOpened, SamplesReplaced
from tui_rnn.app.screens.main_screen import MainScreen
from tui_rnn.app.watch import WatchSession
from tui_rnn.driver import Run, RunRequest
from tui_rnn.safe import text as safe_text


class WatchScreen(MainScreen):
    BINDINGS = bindings(Scope.WATCH)  # and the main screen's (Textual merges them)
    SAMPLES_HINTS = ("Samples", "none yet: the trainer's samples appear here")

    def __init__(self, session: WatchSession, **kwargs: Any) -> None:
        super().__init__(session, **kwargs)
        self.watched = session
        self._take_over_worker: Worker | None = None

    def on_mount(self) -> None:  # before the main screen's own on_mount
        self.generator.save_refused = self.watched.read_only("save")

    def on_samples_replaced(self, message: SamplesReplaced) -> None:
        self.samples.replace_samples(message.samples)
        self._title_samples()

    # -- keys -------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "quit":
            return True
        if self.watched.read_only(action) is not None:
            return None  # greyed out; active_bindings gives the reason as its tooltip
        if action == "train":  # nobody trains it: t takes it over
            return (self.watched.running and not self.watched.closing) or None
        return super().check_action(action, parameters)

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """The main screen's, each greyed key's tooltip saying why, and t saying it takes the
        run over."""
        active = super().active_bindings
        for key, (node, binding, enabled, _) in active.items():
            why = self.watched.read_only(binding.action)
            if binding.action == "train" and enabled:
                taking = replace(binding, description="Take over")
                active[key] = ActiveBinding(node, taking, enabled, WATCH_HELP["train"])
            elif binding.action == "quit":
                active[key] = ActiveBinding(node, binding, enabled, WATCH_HELP["quit"])
            elif not enabled and why:
                active[key] = ActiveBinding(node, binding, enabled, why)
        return active

    def action_train(self) -> None:
        self.notify("taking the run over…", timeout=3)
        self._take_over_worker = self.take_over()

    @work(thread=True, exclusive=True, group="open-run", exit_on_error=False)
    def take_over(self) -> None:
        """Resume the run here (refused in one line if a trainer holds it again); the app
        switches to it and trains it."""
        warnings: list[str] = []
        run = Run.open(RunRequest(resume=str(self.watched.run_dir)), warnings.append, lazy=True)
        self.app.post_message(RunOpened(run, tuple(warnings), train=True))

    async def action_quit(self) -> None:
        await self.app.run_action("app.quit")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A take-over refused (the main screen's handler says its own workers' failures)."""
        if event.worker is not self._take_over_worker or event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        reason = str(error) if isinstance(error, ValueError | OSError) else repr(error)
        self.notify(
            safe_text.terminal(f"cannot take the run over: {reason}"),
            severity="error",
            timeout=15,
            markup=False,
        )
