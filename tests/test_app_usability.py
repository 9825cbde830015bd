"""What a new user and an adversary met in the app, each driven as they met it (Pilot; the
terminal-level ones are in tests/test_app_terminal.py): the command palette, the new-run form,
the panes at 80x24 and 120x40, the runs screen, notifications, the loss figures, exporting a
model from the runs screen."""

from __future__ import annotations

import pytest
from test_app import make_app, run, wait_until
from textual.command import CommandPalette

from tui_rnn.app.screens.help_screen import HelpScreen


# -- the command palette --------------------------------------------------------------------------
def test_ctrl_p_f1_ctrl_p_leaves_the_app_running_with_one_palette(session_factory):
    session = session_factory(target=10)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            for key in ("ctrl+p", "f1", "ctrl+p"):
                await pilot.press(key)
                await pilot.pause(0.3)
            palettes = [s for s in app.screen_stack if isinstance(s, CommandPalette)]
            assert len(palettes) == 1 and isinstance(app.screen, CommandPalette)
            assert not any(isinstance(s, HelpScreen) for s in app.screen_stack)
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is app.main)
            await pilot.press("f1")  # the help still opens once the palette is gone
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("ctrl+p")  # a palette over the help, then F1 does nothing
            await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
            await pilot.press("f1")
            await pilot.pause(0.2)
            assert isinstance(app.screen, CommandPalette) and app.is_running

    run(scenario())


def test_the_palette_lists_each_command_once_and_one_quit_that_saves(session_factory):
    session = session_factory(target=10)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.1)
            commands = list(app.get_system_commands(app.screen))
            for command in commands:  # the help under a title never repeats the title
                assert command.help.lower() not in command.title.lower(), command
            titles = [c.title for c in commands]
            assert len(titles) == len(set(titles))
            quits = [c for c in commands if "quit" in c.title.lower()]
            assert len(quits) == 1 and "save" in quits[0].title
            assert "ctrl+q" in quits[0].help
            await quits[0].callback()  # the app's own quit: the engine stopped, then exit
            assert session.closing and not session.running
        assert app.return_code == 0

    run(scenario())
