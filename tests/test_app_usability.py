"""What a new user and an adversary met in the app, each driven as they met it (Pilot; the
terminal-level ones are in tests/test_app_terminal.py): the command palette, the new-run form,
the panes at 80x24 and 120x40, the runs screen, notifications, the loss figures, exporting a
model from the runs screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_session, make_text
from test_app import (
    Notes,
    gradcheck_finished,
    make_app,
    run,
    screen_text,
    train_to_done,
    wait_until,
)
from textual.command import CommandPalette
from textual.widgets import DataTable, Input

from tui_rnn.app.messages import Notice
from tui_rnn.app.screens.help_screen import HelpScreen
from tui_rnn.app.screens.new_run_screen import NewRunScreen, TextFileTree
from tui_rnn.app.screens.runs_screen import RunsScreen
from tui_rnn.training.corpus import from_text

TITLE = "t\x1b]2;PWNED\x07x"  # an OSC sequence: sets the terminal's title
RED = "evil\x1b[31mname"  # a CSI sequence: colours what follows


def controls(text: str) -> set[str]:
    """The control characters in `text` but newline and tab."""
    return {ch for ch in text if (ord(ch) < 32 and ch not in "\n\t") or 0x7F <= ord(ch) < 0xA0}


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


# -- hostile file and run names -------------------------------------------------------------------
def test_file_and_run_names_reach_the_screen_only_through_the_filter(
    tmp_path, monkeypatch, tiny_config
):
    monkeypatch.chdir(tmp_path)
    for name in (TITLE, RED):
        Path(f"{name}.txt").write_text("hello\n", encoding="utf-8")
    corpus = from_text(make_text(5000), name=f"{TITLE}.txt")
    session = make_session(Path("runs") / RED, corpus, tiny_config, 20)
    notes = Notes()
    seen: list[str] = []

    def shows(app, *parts: str) -> bool:
        text = screen_text(app)
        seen.append(text)
        return all(part in text for part in parts)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(200, 40), message_hook=notes, notifications=True) as pilot:
            await train_to_done(pilot)  # the run's directory is made
            assert shows(app, "t␛]2;PWNED␇x.txt", "evil␛[31mname")  # the status line
            await pilot.press("c")  # a toast naming the checkpoint's path
            await wait_until(pilot, lambda: notes.any("checkpoint"))
            await wait_until(pilot, lambda: shows(app, "checkpoint", "evil␛[31mname"))
            await pilot.press("f1")
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
            await wait_until(pilot, lambda: shows(app, "corpus t␛]2;PWNED␇x.txt"))
            await pilot.press("escape", "o")
            await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen))
            table = app.screen.query_one(DataTable)
            await wait_until(pilot, lambda: table.row_count == 1)
            await wait_until(pilot, lambda: shows(app, "evil␛[31mname", "PWNED"))
            await pilot.press("escape", "n")
            await wait_until(pilot, lambda: isinstance(app.screen, NewRunScreen))
            form = app.screen
            tree = form.query_one(TextFileTree)
            await wait_until(pilot, lambda: len(tree.root.children) == 3)
            labels = sorted(str(node.label) for node in tree.root.children)
            assert labels == ["evil␛[31mname.txt", "runs", "t␛]2;PWNED␇x.txt"]
            assert not controls(str(tree.root.label))
            (node,) = [n for n in tree.root.children if "PWNED" in str(n.label)]
            tree.select_node(node)
            await wait_until(pilot, lambda: form.corpus == f"{TITLE}.txt")
            corpus_line = str(form.query_one("#new-corpus").render())
            assert "corpus: t␛]2;PWNED␇x.txt" in corpus_line
            assert shows(app, "t␛]2;PWNED␇x.txt")

    run(scenario())
    assert all(not controls(note) for note in notes) and notes.any("␛")
    for text in seen:
        assert not controls(text)


# -- notifications ---------------------------------------------------------------------------------
def test_toasts_at_80_columns_keep_paths_whole_and_wait_under_a_modal_screen(
    tmp_path, monkeypatch, small_corpus, tiny_config
):
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "somewhere" / "deeper" / "a_run_with_a_rather_long_directory_name"
    session = make_session(run_dir, small_corpus, tiny_config, 30)  # absolute: not under .
    notes = Notes()

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24), message_hook=notes, notifications=True) as pilot:
            await train_to_done(pilot)
            for key, file in (("c", "checkpoint.npz"), ("e", "loss_history.json")):
                await pilot.press(key)
                await wait_until(pilot, lambda f=file: notes.any(f))
                (note,) = [n for n in notes if file in n]
                paths = [w.strip(":()") for w in note.split() if "/" in w or "…" in w]
                assert paths and all(len(p) <= 36 for p in paths)  # a toast's 36 cells
                assert any(p.endswith("long_directory_name") or file in p for p in paths)
                # each path whole on one line of the screen: never wrapped mid-path
                await wait_until(pilot, lambda ps=paths: all(p in screen_text(app) for p in ps))
            app.clear_notifications()
            await pilot.press("f1")
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
            app.main.post_message(Notice("a notice while the help is up"))
            await wait_until(pilot, lambda: notes.any("while the help"))
            await pilot.pause(0.3)
            assert "while the help" not in screen_text(app)  # not over the help
            await pilot.press("escape")
            await wait_until(pilot, lambda: "while the help" in screen_text(app))

    run(scenario())


# -- the new-run form ------------------------------------------------------------------------------
def test_the_new_run_form_starts_at_its_first_field_and_only_when_asked(
    tmp_path, monkeypatch, small_corpus, tiny_config
):
    monkeypatch.chdir(tmp_path)
    Path("corpus.txt").write_text(make_text(6000), encoding="utf-8")
    session = make_session(Path("runs/current"), small_corpus, tiny_config, 10)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(app.screen, NewRunScreen))
            form = app.screen
            await wait_until(pilot, lambda: app.focused is not None)
            assert app.focused is form.focus_chain[0]  # the first field: the corpus
            assert app.focused.id == "new-builtin"
            # the key that starts is in the Footer
            shown = {b.binding.id for b in form.active_bindings.values() if b.binding.show}
            assert "tui-rnn.new-start" in shown
            # Tab and Enter, in every field: the focus moves on, nothing starts
            hidden = form.query_one("#new-hidden", Input)
            while app.focused is not hidden:
                await pilot.press("tab")
            for _ in range(3):
                before = app.focused
                await pilot.press("enter")
                assert app.focused is not before and app.screen is form
            assert app.session is session
            # a space in a number field whose value is selected replaces nothing
            layers = form.query_one("#new-layers", Input)
            layers.focus()
            await pilot.pause()
            assert layers.selected_text == "1"
            await pilot.press("space")
            assert layers.value == "1" and not layers.has_class("-invalid")
            await pilot.press("2")  # a digit does replace it: typing as usual
            assert layers.value == "2"
            await pilot.press("ctrl+s")  # the one key that starts
            await wait_until(pilot, lambda: app.session is not session)
            assert app.session.trainer.config.layers == 2

    run(scenario())
    app_session = session  # the old one was closed by the switch
    assert not app_session.running


# -- the gradient-check pane ----------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_2_layer_models_gradient_check_is_whole_at_120x40_and_scrolls_at_80x24(
    cell, session_factory
):
    session = session_factory(target=0, cell=cell, layers=2)

    async def scenario():
        app = make_app(session, gradcheck_on_start=True, seq_lengths=(5, 10, 15, 25))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: gradcheck_finished(app), timeout=120)
            pane = app.main.gradcheck_pane
            await pilot.pause(0.1)
            assert pane.table.row_count == 16
            assert pane.max_scroll_x == 0 and pane.max_scroll_y == 0  # every row and column
            for method in ("central", "complex"):
                shown = str(app.query_one(f"#gc-{method}-status").render())
                assert "passed" in shown and not shown.endswith("…")
            await pilot.resize_terminal(80, 24)
            await wait_until(pilot, lambda: pane.max_scroll_y > 0)  # the table scrolls there
            assert pane.max_scroll_x > 0
            await pilot.resize_terminal(120, 40)
            await wait_until(pilot, lambda: pane.max_scroll_x == pane.max_scroll_y == 0)

    run(scenario())
