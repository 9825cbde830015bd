"""The app's runs: the runs screen (o: list, sort, mark, compare, open), switching the app's run
(no lock leaks, the old run's files intact), the new-run form (n: every field's rule, presets,
the corpus picker, starting), and the report (w). Driven with Pilot as a user would."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_runs, make_text, trained_once
from test_app import (
    Notes,
    make_app,
    make_session,
    run,
    screen_text,
    train_to_done,
    wait_until,
)
from textual.widgets import DataTable, Input, Select

from tui_rnn.app import WatchSession
from tui_rnn.app.screens.compare_screen import CompareScreen
from tui_rnn.app.screens.main_screen import MainScreen
from tui_rnn.app.screens.new_run_screen import NewRunScreen, TextFileTree, preset_values
from tui_rnn.app.screens.runs_screen import RunsScreen
from tui_rnn.cli import main
from tui_rnn.safe import files
from tui_rnn.store import checkpoint, rundir
from tui_rnn.training.corpus import load_corpus
from tui_rnn.training.options import TrainConfig

UPDATED = 1769508900.0  # 2026-01-27 10:15 UTC: every run's files, for stable pictures
TINY = ["--hidden", "8", "--seq-length", "10", "--sample-every", "50", "--sample-length", "20"]


def set_updated(run_dir, when: float) -> None:
    for path in Path(run_dir).iterdir():
        os.utime(path, (when, when), follow_symlinks=False)


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    def make():
        Path("corpus.txt").write_text(make_text(6000, seed=4), encoding="utf-8")
        for name, extra in (
            ("a", ["--val-fraction", "0.1", "--eval-every", "40"]),
            ("b", ["--batch", "2"]),
        ):
            argv = ["train", "corpus.txt", *TINY, "--iterations", "120", "--run-dir"]
            assert main([*argv, f"runs/{name}", *extra, "--json"]) == 0

    base = tmp_path_factory.mktemp("trained")
    trained_once(base, make)
    return base


@pytest.fixture
def workspace(tmp_path, monkeypatch, trained_runs):
    """./runs holding `a` (validating, oldest), `b` (two streams) and the app's own run
    `current` (newest, open in the app: returned as a session)."""
    monkeypatch.chdir(tmp_path)
    copy_runs(trained_runs, tmp_path)
    set_updated("runs/a", UPDATED)
    set_updated("runs/b", UPDATED + 60)
    config = TrainConfig(hidden_size=8, seq_length=10, sample_every=50, sample_length=20)
    corpus = load_corpus("corpus.txt")  # a file: the run can be resumed from its config
    session = make_session(Path("runs/current"), corpus, config, 60)
    set_updated("runs/current", UPDATED + 120)
    return session


def row_keys(screen: RunsScreen) -> list[str]:
    table = screen.query_one(DataTable)
    return [
        Path(table.coordinate_to_cell_key((r, 0)).row_key.value).name
        for r in range(table.row_count)
    ]


async def open_runs(pilot, count: int) -> RunsScreen:
    await pilot.press("o")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, RunsScreen))
    screen = pilot.app.screen
    table = screen.query_one(DataTable)
    await wait_until(pilot, lambda: table.row_count == count)
    # the columns take their contents' widths on the table's next idle
    await wait_until(pilot, lambda: table.columns["name"].content_width >= len("current"))
    width = sum(column.get_render_width(table) for column in table.columns.values())
    await wait_until(pilot, lambda: table.virtual_size.width >= width)
    return screen


async def move_to(pilot, screen: RunsScreen, name: str) -> None:
    table = screen.query_one(DataTable)
    table.move_cursor(row=row_keys(screen).index(name))
    detail = screen.query_one("#runs-detail")
    await wait_until(pilot, lambda: str(detail.render()).startswith(f"runs/{name} "))


def locks_here() -> set[str]:
    """The runs under the working directory whose locks this process holds (other tests'
    runs may still hold theirs: _held_locks is the process's)."""
    here = Path.cwd().resolve()
    return {p.name for p in rundir._held_locks if p.is_relative_to(here)}


def held_by_anyone(run_dir) -> bool:
    """Whether any descriptor holds the run's lock, this process's included (a probe of our
    own: a leaked descriptor here would still refuse it)."""
    return files.lock_holder(Path(run_dir) / rundir.LOCK_FILE) is not None


def test_runs_screen_lists_sorts_marks_and_compares(workspace):
    notes = Notes()
    broken = Path("runs/broken")
    broken.mkdir()
    (broken / "config.json").write_text("{ damaged")
    set_updated(broken, UPDATED - 60)

    async def scenario():
        app = make_app(workspace)
        async with app.run_test(size=(120, 40), message_hook=notes) as pilot:
            screen = await open_runs(pilot, 4)
            assert row_keys(screen)[:3] == ["current", "b", "a"]  # newest first
            (current,) = [s for s in screen.summaries if s.name == "current"]
            assert current.state_text == "open (this app)"
            await pilot.press("s")  # by name
            await wait_until(pilot, lambda: row_keys(screen) == ["a", "b", "broken", "current"])
            await pilot.press("S")
            await wait_until(pilot, lambda: row_keys(screen) == ["current", "broken", "b", "a"])
            # a click on a header sorts by that column
            table = screen.query_one(DataTable)
            columns = list(table.columns.values())
            x = sum(column.get_render_width(table) for column in columns[:2]) + 1
            await pilot.click(table, offset=(x, 0))  # "model"
            await wait_until(pilot, lambda: screen.sort_column == "model" and not screen.reverse)
            # r reads the runs again
            shutil.copytree("runs/a", "runs/a2")
            await pilot.press("r")
            await wait_until(pilot, lambda: table.row_count == 5)
            # the detail line says why a run is damaged; it cannot be marked
            await move_to(pilot, screen, "broken")
            assert "config.json" in str(screen.query_one("#runs-detail").render())
            await pilot.press("space")
            await wait_until(pilot, lambda: notes.any("broken is damaged"))
            for name in ("a", "b"):
                await move_to(pilot, screen, name)
                await pilot.press("space")
            assert [p.name for p in screen.marked] == ["a", "b"]
            await pilot.press("c")
            await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen))
            compare = app.screen
            chart = compare.chart
            await wait_until(pilot, lambda: chart.data is not None and len(chart.data.curves) == 2)
            a, b = chart.data.curves
            assert (a.label, b.label) == ("a", "b") and a.color != b.color
            assert len(a.val_y) == 4 and not len(b.val_y)  # a validates at 0, 40, 80, 120
            assert a.x[-1] == b.x[-1] == 120  # by updates
            title = str(compare.query_one("#compare-title").render())
            assert "batch x seq_length differ" in title  # 10 vs 20 characters per update
            await pilot.press("x")  # characters seen: b read twice as many per update
            await wait_until(pilot, lambda: chart.data.axis == "characters")
            assert chart.data.curves[1].x[-1] == 2 * chart.data.curves[0].x[-1] == 2400
            assert "differ" not in str(compare.query_one("#compare-title").render())
            await pilot.press("x")
            await wait_until(pilot, lambda: chart.data.axis == "time")
            assert 0 < chart.data.curves[0].x[-1] < 60  # training seconds
            await pilot.press("y", "v")
            assert chart.log_y and not chart.validation
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is screen)
            # space again unmarks
            for name in ("current", "a"):
                await move_to(pilot, screen, name)
                await pilot.press("space")
            assert [p.name for p in screen.marked] == ["b", "current"]  # a unmarked
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert any("Overlay the marked runs" in t for t in titles)  # the palette has them
            await pilot.press("n")  # a new run from here too
            await wait_until(pilot, lambda: isinstance(app.screen, NewRunScreen))

    run(scenario())


def test_enter_switches_the_app_to_a_run_and_leaks_no_lock(workspace):
    current_dir = workspace.run_dir

    async def scenario():
        app = make_app(workspace)
        async with app.run_test(size=(100, 30)) as pilot:
            await train_to_done(pilot)
            old_main, old_session = app.main, app.session
            trained = old_session.trainer.iteration
            screen = await open_runs(pilot, 3)
            await move_to(pilot, screen, "a")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.session is not old_session and not app.switching)
            await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
            assert app.main is not old_main and app.screen is app.main
            assert app.session.run_dir == Path("runs/a") and app.status.iteration == 120
            assert not old_session.running
            # the old run: saved, closed, intact; one lock held, the new run's
            assert not held_by_anyone(current_dir) and not rundir.holds_lock(current_dir)
            assert locks_here() == {"a"}
            assert (
                checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(current_dir)) == trained
            )
            # and back again
            screen = await open_runs(pilot, 3)
            await move_to(pilot, screen, "current")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.session.run_dir == current_dir)
            await wait_until(pilot, lambda: app.status.iteration == trained)
            assert not held_by_anyone("runs/a")
            assert locks_here() == {"current"}
            # Enter on the run open here just closes the screen
            screen = await open_runs(pilot, 3)
            await move_to(pilot, screen, "current")
            session = app.session
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.screen is app.main)
            assert app.session is session
        return app

    app = run(scenario())
    app.session.run.close()  # as cmd_app does on the way out
    assert locks_here() == set()
    for name in ("a", "b", "current"):
        checkpoint.load_checkpoint(Path("runs") / name)


def test_a_damaged_run_is_refused_in_one_line_and_one_open_elsewhere_is_watched(workspace):
    notes = Notes()
    holder = subprocess.Popen(
        [sys.executable, "-c", "from tui_rnn.store import rundir; rundir.lock_run('runs/b'); "
         "print('locked', flush=True); import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline() == "locked\n"
    Path("runs/a/config.json").write_text("{ damaged")

    async def scenario():
        app = make_app(workspace)
        async with app.run_test(size=(100, 30), message_hook=notes) as pilot:
            session = app.session
            screen = await open_runs(pilot, 3)
            await move_to(pilot, screen, "a")
            await pilot.press("enter")
            await wait_until(pilot, lambda: notes.any("cannot open a:", "config.json"))
            assert app.session is session and app.screen is screen
            # A run another process holds is watched, read-only (tui-rnn watch), its lock left.
            await move_to(pilot, screen, "b")
            await pilot.press("enter")
            await wait_until(
                pilot, lambda: notes.any("watching b, trained in pid", str(holder.pid))
            )
            await wait_until(pilot, lambda: isinstance(app.session, WatchSession))
            assert app.session.run_dir == Path("runs/b") and not rundir.holds_lock("runs/b")
            assert all("\n" not in note for note in notes)

    try:
        run(scenario())
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_the_new_run_form_checks_every_field_and_starts_the_run(workspace):
    Path("notes.md").write_text("some text\n")
    Path("data.bin").write_bytes(b"\x00\x01binary")
    Path(".hidden.txt").write_text("hidden\n")
    os.mkfifo("pipe.txt")  # never opened (it would block)

    async def scenario():
        app = make_app(workspace)
        async with app.run_test(size=(100, 32)) as pilot:
            old = app.session
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(app.screen, NewRunScreen))
            form = app.screen
            message = form.query_one("#new-message")

            def field(field_id: str) -> Input:
                return form.query_one(f"#{field_id}", Input)

            for field_id, text, words in (
                ("new-hidden", "x", "--hidden must be a whole number, got 'x'"),
                ("new-layers", "0", "--layers must be >= 1"),
                ("new-batch", "0", "--batch must be >= 1"),
                ("new-seq-length", "-3", "--seq-length must be >= 1"),
                ("new-eta", "-1", "--eta must be > 0"),
                ("new-val", "0.9", "--val-fraction must be <= 0.5"),
            ):
                field(field_id).value = text
                await wait_until(pilot, lambda w=words: w in str(message.render()))
                assert field(field_id).has_class("-invalid")
            await pilot.press("ctrl+s")  # refused: nothing starts
            await pilot.pause(0.1)
            assert app.screen is form and app.session is old
            # a preset fills every field; its own values are valid
            form.query_one("#new-preset", Select).value = "quality"
            quality = preset_values("quality")  # the options module's preset, as it is
            await wait_until(
                pilot, lambda: field("new-hidden").value == str(quality["hidden_size"])
            )
            assert field("new-seq-length").value == str(quality["seq_length"])
            assert field("new-batch").value == str(quality["batch_size"])
            assert form.query_one("#new-cell", Select).value == quality["cell"]
            assert form.query_one("#new-optimizer", Select).value == quality["optimizer"] == "adam"
            assert field("new-val").value == "0.1"
            assert "0.002" in field("new-eta").placeholder  # adam's default when left empty
            assert not any(field(f).has_class("-invalid") for f in ("new-hidden", "new-val"))
            # the corpus: the built-in first; text files only in the tree
            tree = form.query_one(TextFileTree)
            await wait_until(pilot, lambda: len(tree.root.children) >= 3)
            names = sorted(str(node.label) for node in tree.root.children)
            assert names == ["corpus.txt", "notes.md", "runs"]
            assert "built-in (tinyshakespeare)" in str(form.query_one("#new-corpus").render())
            (corpus,) = [n for n in tree.root.children if str(n.label) == "corpus.txt"]
            tree.select_node(corpus)
            await wait_until(pilot, lambda: form.corpus == "corpus.txt")
            # what only the whole request can tell is said under the form too
            field("new-seq-length").value = "100000"
            field("new-batch").value = "1"
            field("new-val").value = "0"
            field("new-hidden").focus()
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: "fewer than seq_length + 1" in str(message.render()))
            assert app.screen is form and app.session is old
            for field_id, text in (
                ("new-hidden", "12"),
                ("new-seq-length", "10"),
                ("new-batch", "2"),
            ):
                field(field_id).value = text
            field("new-val").value = "0.1"
            field("new-hidden").focus()
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: app.session is not old and not app.switching)
            await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
            config = app.session.trainer.config
            assert (config.hidden_size, config.seq_length, config.batch_size) == (12, 10, 2)
            assert (config.optimizer, config.val_fraction, config.preset) == (
                "adam",
                0.1,
                "quality",
            )
            assert app.session.corpus.name == "corpus.txt"
            assert not app.session.run.created  # made at its first update or save
            assert not held_by_anyone(workspace.run_dir)  # the old run was closed
        return app

    app = run(scenario())
    app.session.run.close()
    assert locks_here() == set()


def test_w_writes_the_report_after_saving_the_state(workspace):
    notes = Notes()

    async def scenario():
        app = make_app(workspace)
        async with app.run_test(size=(100, 30), message_hook=notes) as pilot:
            assert app.main.check_action("write_report", ()) is None  # nothing trained yet
            await train_to_done(pilot)
            await pilot.press("s")  # a sample by hand: it is recorded and saved
            await wait_until(pilot, lambda: len(app.main.samples.samples) == 3)
            await pilot.press("w")
            await wait_until(pilot, lambda: notes.any("report written:", "report.md"), timeout=60)

    run(scenario())
    text = (workspace.run_dir / "report" / "report.md").read_text("utf-8")
    assert "- trained: 60 of 60 updates" in text
    assert "#### by hand, iter = 60" in text  # the `s` sample, listed apart
    assert (workspace.run_dir / "report" / "fig1.svg").is_file()


# -- the runs table at 80 columns (the user audit) -------------------------------------------------
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_the_runs_table_fits_with_every_column_and_home_end_move(size, workspace):
    async def scenario():
        app = make_app(workspace)
        async with app.run_test(size=size) as pilot:
            screen = await open_runs(pilot, 3)
            table = screen.query_one(DataTable)
            width = sum(column.get_render_width(table) for column in table.columns.values())
            assert width <= size[0] - 1  # every column on screen (a scrollbar's cell spare)
            header = next(line for line in screen_text(app).splitlines() if "model" in line)
            for name in ("name", "model", "corpus", "iter", "train", "best", "state", "updated"):
                assert re.search(rf"\b{name}\b", header), (name, header)
            assert "0.4" not in header and "…" not in header
            assert table.cursor_row == 0
            await pilot.press("end")
            assert row_keys(screen)[table.cursor_row] == row_keys(screen)[-1] != "current"
            detail = str(screen.query_one("#runs-detail").render())
            assert "updated 2026-01-27" in detail and "corpus corpus.txt" in detail
            await pilot.press("home")
            assert table.cursor_row == 0

    run(scenario())
