"""What a new user and an adversary met in the app, each driven as they met it (Pilot; the
terminal-level ones are in tests/test_app_terminal.py): the command palette, the new-run form,
the panes at 80x24 and 120x40, the runs screen, notifications, the loss figures, exporting a
model from the runs screen."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_runs, make_session, make_text
from rich.cells import cell_len
from test_app import (
    Notes,
    gradcheck_finished,
    make_app,
    run,
    screen_text,
    train_to_done,
    wait_until,
)
from test_app_workspace import (  # noqa: F401 (trained_runs: a fixture)
    UPDATED,
    move_to,
    open_runs,
    row_keys,
    set_updated,
    trained_runs,
)
from textual.command import CommandPalette
from textual.widgets import DataTable, Input

from tui_rnn.app.messages import Notice
from tui_rnn.app.screens.export_screen import ExportModelScreen
from tui_rnn.app.screens.help_screen import HelpScreen
from tui_rnn.app.screens.new_run_screen import NewRunScreen, TextFileTree
from tui_rnn.app.screens.runs_screen import RunsScreen
from tui_rnn.app.widgets.status_bar import StatusBar
from tui_rnn.charts.curves import Smoother
from tui_rnn.gradcheck import batch as gradcheck_batch
from tui_rnn.interop.import_model import import_model
from tui_rnn.store.workspace import COLUMNS
from tui_rnn.training.corpus import from_text, load_corpus
from tui_rnn.training.history import SMOOTH_LOSS_WEIGHT, debiased_smooth_loss
from tui_rnn.training.options import TrainConfig

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
            await wait_until(pilot, lambda: app.session is not session and not app.switching)
            assert app.session.trainer.config.layers == 2

    run(scenario())
    app_session = session  # the old one was closed by the switch
    assert not app_session.running


# -- the gradient-check pane ----------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_2_layer_models_gradient_check_is_whole_at_120x40_and_scrolls_at_80x24(
    cell, session_factory, monkeypatch
):
    # A time budget this small samples the entries, as a large model's check does: its
    # status lines say so (the longest they get).
    monkeypatch.setattr(gradcheck_batch, "TIME_BUDGET", 0.02)
    session = session_factory(target=0, cell=cell, layers=2, hidden_size=100)  # long counts

    async def scenario():
        app = make_app(session, gradcheck_on_start=True, seq_lengths=(5, 10, 15, 25))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: gradcheck_finished(app), timeout=120)
            pane = app.main.gradcheck_pane
            await pilot.pause(0.1)
            assert pane.table.row_count == 16
            assert pane.max_scroll_x == 0 and pane.max_scroll_y == 0  # every row and column
            for method in ("central", "complex"):
                status = app.query_one(f"#gc-{method}-status")
                shown = str(status.render())
                assert re.search(r"passed.* sampled [\d,]+ of [\d,]+.* s\b", shown), shown
                assert cell_len(shown) <= status.size.width  # whole, no ellipsis
            await pilot.resize_terminal(80, 24)
            await wait_until(pilot, lambda: pane.max_scroll_y > 0)  # the table scrolls there
            assert pane.max_scroll_x > 0
            await pilot.resize_terminal(120, 40)
            await wait_until(pilot, lambda: pane.max_scroll_x == pane.max_scroll_y == 0)

    run(scenario())


# -- the runs screen ------------------------------------------------------------------------------
@pytest.fixture
def dated_runs(tmp_path, monkeypatch, trained_runs):  # noqa: F811 (a fixture)
    """./runs as `train` names runs (by the second they were made, here within one hour): `a`
    (validating) and `b` (two streams) of test_app_workspace, renamed, and the app's own run
    (a 2-layer LSTM on a text with a long name: wide cells)."""
    monkeypatch.chdir(tmp_path)
    copy_runs(trained_runs, tmp_path)
    os.rename("runs/a", "runs/20261207-141516")
    os.rename("runs/b", "runs/20261207-143301")
    set_updated("runs/20261207-141516", UPDATED)
    set_updated("runs/20261207-143301", UPDATED + 60)
    Path("tinyshakespeare.txt").write_text(Path("corpus.txt").read_text("utf-8"), "utf-8")
    config = TrainConfig(
        cell="lstm", layers=2, hidden_size=100, seq_length=10, sample_every=50, sample_length=20
    )
    corpus = load_corpus("tinyshakespeare.txt")
    return make_session(Path("runs/20261207-145944"), corpus, config, 60)


def detail_text(screen: RunsScreen) -> str:
    return str(screen.query_one("#runs-detail").render())


def test_the_runs_screen_at_80x24_keeps_names_apart_and_breaks_the_detail_between_parts(
    dated_runs,
):
    async def scenario():
        app = make_app(dated_runs)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_runs(pilot, 3)
            table = screen.query_one(DataTable)
            names = [str(table.get_cell_at((row, 1))).strip() for row in range(3)]
            assert len(set(names)) == 3, names  # not all "20261207-…"
            for name, key in zip(names, row_keys(screen), strict=True):
                assert key.endswith(name.lstrip("…")), (name, key)  # the name's end is kept
            for name in ("20261207-141516", "20261207-143301"):
                await move_to(pilot, screen, name)
                summary = screen.current
                train, (best, of) = summary.training_loss, summary.best_loss
                parts = [
                    f"runs/{name}",
                    f"corpus {summary.corpus}",
                    f"train {train:.3f} nats/char",
                    f"best {of} {best:.3f} @ {summary.best_iteration:,}",
                    f"updated {dict(zip(COLUMNS, summary.cells(), strict=True))['updated']}",
                ]
                lines = detail_text(screen).splitlines()
                assert 1 < len(lines) <= 3 and all(len(line) <= 78 for line in lines)
                for part in parts:  # each part whole on one line: never wrapped mid-field
                    assert any(part in line for line in lines), (part, lines)

    run(scenario())


# -- loss figures ---------------------------------------------------------------------------------
def test_debiased_smooth_loss_is_tensorboards_ema_recovered_from_smooth_loss():
    rng = np.random.default_rng(3)
    losses = rng.uniform(30.0, 90.0, 4000)
    initial, smooth = 104.3, 104.3
    recurrence = Smoother(SMOOTH_LOSS_WEIGHT).smooth(losses.astype(np.float32))
    for t, loss in enumerate(losses, start=1):
        smooth = 0.999 * smooth + 0.001 * loss
        if t in (1, 2, 50, 3999):
            got = debiased_smooth_loss(smooth, initial, t)
            assert got == pytest.approx(float(recurrence[t - 1]), rel=1e-6)
    assert debiased_smooth_loss(smooth, initial, 1) != smooth
    assert debiased_smooth_loss(50.0, initial, 0) == 50.0  # no update: nothing to average


def debiased_per_char(history_loss: np.ndarray, seq_length: int) -> np.ndarray:
    """TensorBoard's debiased EMA (weight 0.999) of the per-update loss, by its recurrence."""
    out, s = [], 0.0
    for t, x in enumerate(history_loss.astype(np.float64), start=1):
        s = 0.999 * s + 0.001 * x
        out.append(s / (1 - 0.999**t) / seq_length)
    return np.array(out)


def checkpoint_history(run_dir) -> np.ndarray:
    """The run's per-update losses as its checkpoint holds them."""
    with np.load(Path(run_dir) / "checkpoint.npz", allow_pickle=False) as arrays:
        return arrays["loss_history"]


def titles_of(app) -> str:
    box = app.query_one("#chart-box")
    return f"{box.border_title} | {box.border_subtitle}"


@pytest.mark.parametrize(
    "changes",
    [{"batch_size": 2}, {"val_fraction": 0.1, "eval_every": 20}],
    ids=["batches", "validation"],
)
def test_a_run_with_batches_or_validation_shows_losses_per_character(changes, session_factory):
    session = session_factory(target=60, **changes)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(160, 40)) as pilot:
            await train_to_done(pilot)
            await wait_until(pilot, lambda: app.main.chart.data.points == 60)
            trainer = session.trainer
            expected = debiased_per_char(trainer.history.loss, trainer.config.seq_length)
            line = str(app.query_one(StatusBar).render())
            assert f"train {expected[-1]:.3f} nats/char" in line
            assert "smooth_loss" not in line and line.count("nats") == 1  # the unit said once
            # the chart: that curve, per character, starting where the loss starts
            data = app.main.chart.data
            assert data.per_char and data.smooth_loss[0] == pytest.approx(
                trainer.history.loss[0], rel=1e-5
            )
            assert data.smooth_loss[-1] / trainer.config.seq_length == pytest.approx(
                expected[-1], rel=1e-5
            )
            title = titles_of(app)
            assert "train" in title and "nats/char" in title and "smooth_loss" not in title
            if changes.get("val_fraction"):
                assert f"best val {trainer.best_val_loss:.3f}" in title
                assert f"(best val {trainer.best_val_loss:.3f})" in line
            else:
                best = expected[trainer.best_iteration - 1]
                assert f"best train {best:.3f} @" in title

    run(scenario())


def test_the_reports_setup_keeps_smooth_loss_and_names_its_best(session_factory):
    session = session_factory(target=60)  # batch 1, no validation: the report's setup

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(160, 40)) as pilot:
            await train_to_done(pilot)
            await pilot.pause(0.3)
            trainer = session.trainer
            line = str(app.query_one(StatusBar).render())
            assert f"smooth_loss {trainer.smooth_loss:.3f}" in line and "train " not in line
            title = titles_of(app)
            assert "smooth_loss" in title and "nats" not in title
            assert f"best smooth_loss {trainer.best_smooth_loss:.3f} @" in title

    run(scenario())


def test_the_runs_screen_shows_every_runs_losses_per_character(dated_runs):
    async def scenario():
        app = make_app(dated_runs)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_runs(pilot, 3)
            assert str(screen.query_one("#runs-title").render()).count("nats/char") == 1
            table = screen.query_one(DataTable)
            for name in ("20261207-141516", "20261207-143301"):
                await move_to(pilot, screen, name)
                summary = screen.current
                row = table.get_row_index(str(summary.path))
                cells = [str(c).strip() for c in table.get_row_at(row)]
                n = summary.seq_length
                # the training loss: the debiased EMA of the run's own losses, per character
                history = checkpoint_history(summary.path)
                expected = debiased_per_char(history, n)[-1]
                assert f"{expected:.3f}" in cells
                if summary.best_val_loss is not None:
                    assert f"{summary.best_val_loss:.3f} val" in cells
                else:
                    best = debiased_per_char(history, n)[summary.best_iteration - 1]
                    assert f"{best:.3f} train" in cells

    run(scenario())


# -- exporting a model from the runs screen -------------------------------------------------------
def test_e_on_the_runs_screen_exports_the_runs_model_to_a_path_typed_in(dated_runs):
    notes = Notes()

    async def scenario():
        app = make_app(dated_runs)
        async with app.run_test(size=(100, 30), message_hook=notes) as pilot:
            screen = await open_runs(pilot, 3)
            binding = next(b for b in RunsScreen.BINDINGS if b.id == "tui-rnn.runs-export")
            assert binding.key == "x" and "export" in binding.tooltip
            await move_to(pilot, screen, "20261207-143301")
            await pilot.press("x")
            await wait_until(pilot, lambda: isinstance(app.screen, ExportModelScreen))
            prompt = app.screen
            path = prompt.query_one("#export-path", Input)
            assert path.value == "20261207-143301.safetensors" and app.focused is path
            await pilot.press("ctrl+u", *"quick.txt", "enter")  # q types (it closes elsewhere)
            message = prompt.query_one("#export-message")
            await wait_until(pilot, lambda: "cannot tell the format" in str(message.render()))
            assert app.screen is prompt and not Path("quick.txt").exists()
            await pilot.press("ctrl+u", *"quick.safetensors", "enter")
            await wait_until(pilot, lambda: app.screen is screen)
            await wait_until(pilot, lambda: notes.any("wrote", "quick.safetensors"))

    run(scenario())
    import_model("quick.safetensors", "imported")  # a model file tui-rnn reads back
    assert Path("imported/config.json").is_file()


# -- the generator at 80x24 ------------------------------------------------------------------------
def test_the_generator_at_80x24_shows_the_texts_start_and_where_ctrl_s_saved_it(
    tmp_path, monkeypatch, small_corpus, tiny_config
):
    monkeypatch.chdir(tmp_path)
    session = make_session(Path("runs/gen"), small_corpus, tiny_config, 0)

    async def scenario():
        app = make_app(session, generation_seed=1)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("g", *"the")
            app.query_one("#gen-length", Input).value = "800"
            app.query_one("#gen-count", Input).value = "2"
            await pilot.press("enter")
            generator = app.main.generator
            await wait_until(pilot, lambda: len(generator.text) == 1600 and not generator.running)
            await pilot.pause(0.2)
            header = app.query_one("#gen-header")
            scroll = app.query_one("#gen-scroll")
            assert header.size.height == 1 and "seeds 1-2" in header.tooltip
            assert scroll.size.height >= 3  # more rows of text than of header
            assert scroll.scroll_y == 0  # its start, the first sample's heading first
            first_line = screen_text(app).splitlines()
            assert any("sample 1 of 2 · seed 1" in line for line in first_line)
            await pilot.press("ctrl+s")
            message = app.query_one("#gen-message")
            path = "runs/gen/generated.txt"
            await wait_until(pilot, lambda: path in str(message.render()))
            assert "saved the whole text" in str(message.render()) and message.display
            assert Path(path).read_text("utf-8").count("## sample") == 2

    run(scenario())


# -- the main screen's focus, the best box, the samples' keys -------------------------------------
def test_tab_goes_pane_by_pane_in_reading_order_and_reaches_the_generator_last(session_factory):
    session = session_factory(target=10)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24)) as pilot:
            main = app.main
            await wait_until(pilot, lambda: app.focused is not None)
            order = [app.focused]
            for _ in range(3):
                await pilot.press("tab")
                order.append(app.focused)
            assert order[:3] == [main.gradcheck_pane, main.chart, main.samples]
            assert not isinstance(order[1], Input)  # the first tab: not into a text field
            assert order[3] is app.query_one("#gen-prompt")

    run(scenario())


def test_the_best_box_shows_ticked_and_unticked_without_colour(session_factory):
    session = session_factory(target=0)

    def box_row(app) -> str:  # the box as drawn: its characters, no colour
        return str(app.query_one("#gen-best").render())

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.1)
            assert "▐ ▌ best" in box_row(app)
            app.query_one("#gen-best").focus()
            await pilot.press("space")
            await wait_until(pilot, lambda: "▐X▌ best" in box_row(app))
            assert app.query_one("#gen-best").value is True

    run(scenario())


def test_the_samples_pane_says_its_keys(session_factory):
    session = session_factory(target=0)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("s")
            await wait_until(pilot, lambda: len(app.main.samples.samples) == 1)
            title = str(app.query_one("#samples-box").border_title)
            assert "↑/↓" in title and "Enter" in title
            assert "↑/↓ Enter opens" in screen_text(app)  # whole at 80 columns

    run(scenario())
