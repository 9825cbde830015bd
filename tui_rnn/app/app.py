"""The tui-rnn App: the main screen over one training session, and the screens pushed over it.

The App owns the session's life (the engine stopped and the state saved on every way out, a
signal included) and the app-wide keys (help, quit); the main screen holds the layout, the
engine's messages and the training keys. To switch runs, the new run is opened on a worker and
posted as RunOpened; only then is the current one saved and closed, and a new main screen over
a new session, in an app mode of its own, replaces the old one and every screen over it.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial
from typing import Any

from textual.actions import parse as parse_action
from textual.app import App, SystemCommand
from textual.binding import Keymap
from textual.command import CommandPalette
from textual.dom import DOMNode
from textual.notifications import SeverityLevel
from textual.screen import Screen

from tui_rnn.app.keys import KEYS, SCOPE_TITLES, WATCH_HELP, Scope, bindings
from tui_rnn.app.messages import EngineStopped, RunOpened, Status
from tui_rnn.app.requests import Session, Train
from tui_rnn.app.screens.help_screen import HelpScreen
from tui_rnn.app.screens.inspector_screen import InspectorScreen
from tui_rnn.app.screens.main_screen import GradcheckFn, MainScreen, default_gradcheck
from tui_rnn.app.screens.watch_screen import WatchScreen
from tui_rnn.app.session import TrainingSession
from tui_rnn.app.shown import fit_paths
from tui_rnn.app.watch import WatchOpened, WatchSession
from tui_rnn.safe import text

SHUTDOWN_TIMEOUT = 60.0


def main_screen(session: Session, **options: Any) -> MainScreen:
    """The main screen of a session: read-only for a watched run."""
    if isinstance(session, WatchSession):
        return WatchScreen(session, **options)
    return MainScreen(session, **options)


# Textual's toasts: 60 cells wide, at most half of their rack (the screen but its 2-cell
# scrollbar), less a border and padding of 3 cells.
TOAST_WIDTH, TOAST_SCROLLBAR, TOAST_FRAME = 60, 2, 3


def toast_width(screen_width: int) -> int:
    """Cells of text in a toast on a screen this wide."""
    return min(TOAST_WIDTH, (screen_width - TOAST_SCROLLBAR) // 2) - TOAST_FRAME


class TuiRnnApp(App[None]):
    """`TuiRnnApp(session)`; the CLI builds the session, tests can build their own."""

    CSS_PATH = "app.tcss"
    TITLE = "tui-rnn"
    DEFAULT_MODE = "run-1"  # the first run's main screen (see _add_main_mode)
    BINDINGS = bindings(Scope.APP)

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
        self.session: Session = session
        # Every run's main screen is made alike (see switch_session).
        self._make_main = partial(
            main_screen,
            gradcheck_on_start=gradcheck_on_start,
            gradcheck=gradcheck,
            seq_lengths=seq_lengths,
            show_rate=show_rate,
            generation_seed=generation_seed,
        )
        self.main = self._make_main(session)
        self._mode_count = 0
        self.switching = False  # a session being switched to (its old screens still going)
        self._add_main_mode()  # run-1, the DEFAULT_MODE: the app starts on it
        self.quitting = False
        self.engine_error: str | None = None  # why the last engine to stop stopped, if it failed
        self.keymap: dict[str, str] = {}  # what set_keymap was given (the help screen shows it)

    @property
    def status(self) -> Status:
        """The newest status the main screen has shown."""
        return self.main.status

    def on_mount(self) -> None:
        self._catch_signals(True)

    def _add_main_mode(self) -> str:
        """A new app mode whose base screen is self.main: each run's main screen is the base
        of a mode of its own, so that switching runs removes it, and every screen over it,
        whole (see switch_session)."""
        self._mode_count += 1
        mode, main = f"run-{self._mode_count}", self.main
        self.add_mode(mode, lambda: main)
        return mode

    # -- keys -------------------------------------------------------------------------------------
    def set_keymap(self, keymap: Keymap) -> None:
        self.keymap = dict(keymap)
        super().set_keymap(keymap)

    def update_keymap(self, keymap: Keymap) -> None:
        self.keymap.update(keymap)
        super().update_keymap(keymap)

    @property
    def palette_open(self) -> bool:
        """Whether the command palette is on the screen stack (under another screen too)."""
        return any(isinstance(screen, CommandPalette) for screen in self.screen_stack)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Over the palette, F1 would stack the help on it and ctrl+p a second palette (whose
        # id the first one holds): neither while a palette is open.
        if action in ("help", "command_palette") and self.palette_open:
            return False
        return True

    def action_command_palette(self) -> None:
        if not self.palette_open:
            super().action_command_palette()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
            return
        session = self.session
        run = f"run {text.line(str(session.run_dir))} · corpus {text.line(session.corpus.name)}"
        self.push_screen(HelpScreen(self.keymap, run))

    # -- notifications ----------------------------------------------------------------------------
    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification of the app's own (markup=False: the text is not markup) through
        safe_text, its paths shortened to the toast's width (see shown.fit_paths)."""
        if not markup:
            message = fit_paths(text.terminal(message), toast_width(self.size.width))
            title = text.line(title)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    async def action_quit(self) -> None:
        """Stop training cleanly, save the state, then exit."""
        if self.quitting:
            return
        self.quitting = True
        saved = self.session.shutdown()  # the main screen's keys are off from now on
        self.refresh_bindings()
        self.workers.cancel_all()
        if not saved.done():
            self.notify("saving the training state…", timeout=SHUTDOWN_TIMEOUT, markup=False)
            try:
                await asyncio.wait_for(asyncio.wrap_future(saved), SHUTDOWN_TIMEOUT)
            except TimeoutError:
                pass
        self.exit()

    def key_node(self, scope: Scope, screen: Screen | None = None) -> DOMNode | None:
        """The node whose actions a scope's keys run on `screen` (the current one by default),
        None when that scope is not on it."""
        screen = self.screen if screen is None else screen
        main = self.main
        if scope == Scope.APP:
            return self
        if screen is main:
            nodes = {
                Scope.MAIN: main,
                Scope.WATCH: main if isinstance(main, WatchScreen) else None,
                Scope.CHART: main.chart,
                Scope.GENERATOR: main.generator,
                Scope.GRADCHECK: main.gradcheck_pane,
            }
            return nodes.get(scope)
        if getattr(screen, "SCOPE", None) == scope:  # a screen's own keys (runs, compare)
            return screen
        if isinstance(screen, InspectorScreen) and scope == Scope.INSPECTOR:
            return screen
        return None

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's commands but its Quit (ours saves first, and says so), then every action
        of keys.py that can run now on `screen`: its words as the title, where its key works
        as the help (the words again would show every command twice)."""
        for command in super().get_system_commands(screen):
            if command.callback != self.action_quit:
                yield command
        for key in KEYS:
            node = self.key_node(key.scope, screen)
            name, parameters = parse_action(key.action)[1:]
            if node is None or node.check_action(name, parameters) is not True:
                continue
            where = (
                ""
                if key.scope in (Scope.APP, Scope.MAIN, getattr(screen, "SCOPE", None))
                else f"{key.scope.value}: "
            )
            words = WATCH_HELP.get(name, key.help) if isinstance(screen, WatchScreen) else key.help
            yield SystemCommand(
                f"{where}{words[0].upper()}{words[1:]}",
                f"key {key.shown(self.keymap)} · {SCOPE_TITLES[key.scope]}",
                partial(self.run_action, key.action, node),
            )

    def on_engine_stopped(self, message: EngineStopped) -> None:
        """Bubbled up from the main screen; the command line reports a failed engine."""
        self.engine_error = message.error

    # -- switching runs ---------------------------------------------------------------------------
    async def on_run_opened(self, message: RunOpened) -> None:
        if self.quitting:  # too late: let it go untouched
            message.run.close()
            return
        session = TrainingSession(message.run, warnings=message.warnings)
        if await self.switch_session(session) and message.train:
            session.request(Train())

    async def on_watch_opened(self, message: WatchOpened) -> None:
        if not self.quitting:
            await self.switch_session(message.session)

    async def switch_session(self, session: Session) -> bool:
        """Save and close the current run (engine stopped, state saved, lock released), then
        show `session` on a new main screen in place of the old one; False if the current one
        would not stop."""
        self.switching = True
        try:
            return await self._switch_session(session)
        finally:
            self.switching = False

    async def _switch_session(self, session: Session) -> bool:
        old = self.session
        if old.running:
            try:
                await asyncio.wait_for(asyncio.wrap_future(old.shutdown()), SHUTDOWN_TIMEOUT)
            except TimeoutError:  # still saving: never release a lock under a writer
                session.close()
                self.notify(
                    "the current run did not stop in time: not switching",
                    severity="error",
                    markup=False,
                )
                return False
        old.close()
        old_mode = self.current_mode
        self.session = session
        self.main = self._make_main(session)
        await self.switch_mode(self._add_main_mode())
        await self.remove_mode(old_mode)  # the old main screen and every screen over it
        return True

    # -- leaving ----------------------------------------------------------------------------------
    def _catch_signals(self, catch: bool) -> None:
        """SIGTERM (e.g. `kill`) quits like ctrl+q, and SIGHUP (the terminal window closed, an
        ssh connection dropped) saves and leaves at once: either way the state is saved."""
        handlers = {"SIGTERM": lambda: self.call_later(self.action_quit), "SIGHUP": self.hang_up}
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
    leave_now = staticmethod(os._exit)

    def hang_up(self) -> None:
        self.quitting = True
        self.workers.cancel_all()
        try:
            self.session.shutdown().result(timeout=SHUTDOWN_TIMEOUT)
        except FutureTimeout:
            pass
        self.leave_now(128 + signal.SIGHUP)

    def on_unmount(self) -> None:
        # Any way out (ctrl+q, a test ending, an error) stops the engine and saves the state.
        self._catch_signals(False)
        if self.session.running:
            try:
                self.session.shutdown().result(timeout=SHUTDOWN_TIMEOUT)
            except FutureTimeout:
                pass
