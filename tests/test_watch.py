"""`tui-rnn watch`: the app, read-only, on a run another process trains.

Real `tui-rnn train` processes in the background, the viewer driven with Pilot. Every wait is
generous (the machine may be loaded) and no test asserts a speed: how soon the viewer follows
is printed (pytest -s) and measured in benchmarks/bench_publish.py.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_text
from test_app import Notes, make_app, run, screen_text, wait_until
from textual.widgets import Input

from tui_rnn.app import TrainingSession, WatchSession
from tui_rnn.app.messages import RunState, SamplesReplaced
from tui_rnn.app.screens.export_screen import ExportModelScreen
from tui_rnn.app.screens.help_screen import HelpScreen
from tui_rnn.app.screens.inspector_screen import InspectorScreen
from tui_rnn.app.screens.runs_screen import RunsScreen
from tui_rnn.cli import main
from tui_rnn.store import checkpoint, live, rundir
from tui_rnn.training.trainer import Trainer

TINY = ["--hidden", "8", "--seq-length", "10", "--sample-every", "100", "--sample-length", "20"]
LONG_WAIT = 60.0  # seconds: a trainer starting on a loaded machine, a kill noticed
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(make_text(4000, seed=7), encoding="utf-8")
    return path


def start_trainer(corpus_file, run_dir, *extra) -> subprocess.Popen:
    """`tui-rnn train` in a process of its own, publishing four times a second."""
    argv = [sys.executable, "-m", "tui_rnn", "train", str(corpus_file), *TINY]
    argv += ["--run-dir", str(run_dir), "--publish-every", "0.25", "--json", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for_checkpoint(process: subprocess.Popen, run_dir: Path) -> None:
    deadline = time.monotonic() + LONG_WAIT
    while not (run_dir / rundir.CHECKPOINT_FILE).exists():
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() < deadline, "the trainer did not start"
        time.sleep(0.05)


def published_iteration(run_dir: Path) -> int:
    """The newest iteration the trainer published, read from live.bin directly."""
    state = live.LiveState(keep_rows=False)
    for record in live.read_records(run_dir):
        state.apply(record)
    return 0 if state.status is None else state.status.iteration


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)
    if process.stderr:
        process.stderr.close()


def snapshot(run_dir: Path) -> dict:
    """Every file of the run: name, size, modification time, checksum."""
    found = {}
    for entry in os.scandir(run_dir):
        info = entry.stat(follow_symlinks=False)
        digest = hashlib.sha256(Path(entry.path).read_bytes()).hexdigest()
        found[entry.name] = (info.st_size, info.st_mtime_ns, digest)
    return found


def watch_app(run_dir, **kwargs):
    session = WatchSession.open(run_dir, **kwargs)
    return make_app(session)


# -- following a trainer ---------------------------------------------------------------------------
def test_the_viewer_follows_a_trainer_in_another_process(tmp_path, corpus_file):
    run_dir = tmp_path / "run"
    trainer = start_trainer(corpus_file, run_dir, "--iterations", "10000000")
    try:
        wait_for_checkpoint(trainer, run_dir)

        async def scenario():
            app = watch_app(run_dir)
            async with app.run_test(size=(100, 30)) as pilot:
                await wait_until(pilot, lambda: app.status.state == RunState.TRAINING, LONG_WAIT)
                assert app.status.watching == f"◉ watching: training in pid {trainer.pid}"
                lags = []
                for _ in range(3):
                    published = published_iteration(run_dir)
                    began = time.monotonic()
                    await wait_until(
                        pilot, lambda p=published: app.status.iteration >= p, LONG_WAIT
                    )
                    lags.append(time.monotonic() - began)
                    await pilot.pause(0.3)
                print(f"the viewer caught up with the trainer's records in {max(lags):.2f} s")
                assert app.main.chart.data.points >= published
                assert app.main.check_action("train", ()) is None  # greyed: another trains it
                await pilot.press("q")
            return app

        app = run(scenario())
        assert app.return_code == 0 and not app.session.running
    finally:
        stop(trainer)


def test_a_killed_trainer_is_said_and_t_takes_the_run_over_exactly(tmp_path, corpus_file):
    run_dir = tmp_path / "run"
    trainer = start_trainer(corpus_file, run_dir, "--iterations", "10000000", "--save-every", "0.5")
    try:
        wait_for_checkpoint(trainer, run_dir)
        notes = Notes()

        async def scenario():
            app = watch_app(run_dir)
            async with app.run_test(size=(100, 30), message_hook=notes) as pilot:
                await wait_until(
                    pilot,
                    lambda: app.status.state == RunState.TRAINING and app.status.iteration > 300,
                    LONG_WAIT,
                )
                trainer.send_signal(signal.SIGKILL)
                trainer.wait(timeout=30)
                killed = time.monotonic()
                gone = f"trainer (pid {trainer.pid}) is no longer running"
                await wait_until(pilot, lambda: gone in (app.status.watching or ""), LONG_WAIT)
                print(
                    f"the viewer said the trainer was gone {time.monotonic() - killed:.2f} s after"
                )
                saved = checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run_dir))
                assert app.status.watch_note.startswith("at least ")
                assert f"since the last checkpoint (iter {saved:,}) lost" in app.status.watch_note
                # The toast and the repaint follow the status by a message or two.
                await wait_until(pilot, lambda: notes.any(gone, "t takes the run over"))
                await wait_until(pilot, lambda: gone in screen_text(app))
                assert app.main.check_action("train", ()) is True
                await pilot.press("t")  # take the run over: resumed here, training
                await wait_until(
                    pilot,
                    lambda: (
                        isinstance(app.session, TrainingSession)
                        and app.status.state == RunState.TRAINING
                    ),
                    LONG_WAIT,
                )
                session = app.session
                assert rundir.holds_lock(run_dir)
                await wait_until(pilot, lambda: session.trainer.iteration >= saved + 200, LONG_WAIT)
                await pilot.press("p")
                await wait_until(pilot, lambda: app.status.state == RunState.PAUSED, LONG_WAIT)
                await pilot.press("ctrl+q")
            return saved

        saved = run(scenario())
    finally:
        stop(trainer)
    # The same run trained straight through to the same update is the same, bit for bit.
    taken_over = checkpoint.load_checkpoint(run_dir)
    reached = checkpoint.checkpoint_iteration(taken_over)
    assert reached >= saved + 200
    whole = tmp_path / "whole"
    argv = ["train", str(corpus_file), *TINY, "--iterations", str(reached), "--run-dir", str(whole)]
    assert main([*argv, "--save-every", "1000", "--json"]) == 0
    expected = checkpoint.load_checkpoint(whole)
    for name in expected:
        if name not in (*Trainer.TIMING, "samples_bytes"):
            assert np.array_equal(expected[name], taken_over[name]), name
    samples = (run_dir / rundir.SAMPLES_FILE).read_bytes()
    assert samples == (whole / rundir.SAMPLES_FILE).read_bytes()


# -- read-only ------------------------------------------------------------------------------------
@pytest.fixture
def finished_run(tmp_path, corpus_file):
    run_dir = tmp_path / "run"
    argv = ["train", str(corpus_file), *TINY, "--iterations", "300", "--run-dir", str(run_dir)]
    assert main([*argv, "--val-fraction", "0.1", "--eval-every", "50", "--json"]) == 0
    return run_dir


def test_watching_a_finished_run_for_a_minute_with_every_view_opened_changes_nothing(
    tmp_path, finished_run
):
    """Every view opened once, each waited for, then the viewer left polling until a minute
    has passed (a minute of wall time, mostly idle)."""
    before = snapshot(finished_run)
    notes = Notes()

    async def scenario():
        app = watch_app(finished_run)
        async with app.run_test(size=(120, 40), message_hook=notes) as pilot:
            began = time.monotonic()
            main_screen = app.main
            await wait_until(pilot, lambda: app.status.watching == "■ watching: finished")
            assert app.status.iteration == 300 and main_screen.chart.data.points == 300
            assert len(main_screen.samples.samples) == 4  # iter 0, 100, 200, 300
            for action in ("pause", "sample", "best", "settings", "checkpoint", "export"):
                assert main_screen.check_action(action, ()) is None, action  # greyed
            assert main_screen.check_action("write_report", ()) is None  # no --output given
            await pilot.press("p", "s", "b", "T", "c", "e", "w")  # (t would take the run over)
            await pilot.press("r")  # the gradient check of the newest checkpoint's model
            await app.workers.wait_for_complete()
            assert "at iter 300" in str(main_screen.query_one("#gradcheck-box").border_subtitle)
            await pilot.press("g", "a", "enter")  # the generator
            await wait_until(pilot, lambda: not main_screen.generator.running)
            assert main_screen.generator.samples
            await pilot.press("ctrl+s")  # greyed: refused, nothing saved
            await pilot.press("escape", "l", "y", "z", "u", "v", "k")  # the chart's views
            await pilot.press("i")  # the inspector, every view
            await wait_until(pilot, lambda: isinstance(app.screen, InspectorScreen))
            for key in ("2", "3", "1", "b", "t"):
                await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.press("escape", "f1")
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("escape", "o")  # the runs screen
            await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen))
            await app.workers.wait_for_complete()
            await pilot.press("x")  # export the model: a path inside the run is refused
            await wait_until(pilot, lambda: isinstance(app.screen, ExportModelScreen))
            field = app.screen.query_one("#export-path", Input)
            field.value = str(finished_run / "model.safetensors")
            await pilot.press("enter")
            await wait_until(pilot, lambda: "inside the watched run" in screen_text(app))
            await pilot.press("escape", "escape")
            while time.monotonic() - began < 60:  # the viewer keeps polling the run
                await pilot.pause(1.0)
            assert app.status.watching == "■ watching: finished"
            assert not notes.any("failed")
            await pilot.press("q")
        return app

    app = run(scenario())
    assert app.return_code == 0
    assert snapshot(finished_run) == before
    assert sorted(os.listdir(tmp_path)) == ["corpus.txt", "run"]  # nothing beside it either


def test_what_would_save_into_the_run_goes_to_the_output_directory(tmp_path, finished_run):
    before = snapshot(finished_run)
    output = tmp_path / "elsewhere"

    async def scenario():
        app = watch_app(finished_run, output=output)
        async with app.run_test(size=(120, 40)) as pilot:
            assert app.main.check_action("write_report", ()) is True
            await pilot.press("w")
            await app.workers.wait_for_complete()
            await pilot.press("g", "a", "enter")
            await wait_until(pilot, lambda: not app.main.generator.running)
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: (output / "generated.txt").exists())
            await pilot.press("escape", "q")

    run(scenario())
    assert (output / "report.md").exists() and (output / "fig1.svg").exists()
    assert snapshot(finished_run) == before


def test_an_output_inside_the_run_is_refused(finished_run, capsys):
    from conftest import fails

    line = fails(["watch", finished_run, "--output", finished_run / "report"], capsys)
    assert "is inside the watched run" in line


def test_a_run_deleted_while_watched_is_a_message(tmp_path, finished_run):
    notes = Notes()

    async def scenario():
        app = watch_app(finished_run)
        async with app.run_test(size=(100, 30), message_hook=notes) as pilot:
            await wait_until(pilot, lambda: app.status.watching == "■ watching: finished")
            shutil.rmtree(finished_run)
            await wait_until(pilot, lambda: notes.any("was deleted"))
            assert app.status.watching == "✖ watching: the run was deleted"
            assert app.main.chart.data.points == 300  # what was read is still shown
            await pilot.press("q")

    run(scenario())


# -- the runs screen ------------------------------------------------------------------------------
def test_the_runs_screen_marks_a_run_another_process_holds_and_watches_it(
    tmp_path, finished_run, session_factory, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    held = tmp_path / "runs" / "held"
    shutil.copytree(finished_run, held)
    code = (
        "import sys, time\n"
        "from tui_rnn.store import rundir\n"
        "rundir.lock_run(sys.argv[1]); print('locked', flush=True); time.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(held)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        notes = Notes()

        async def scenario():
            app = make_app(session_factory(target=10, name="app-run"))
            async with app.run_test(size=(120, 40), message_hook=notes) as pilot:
                await pilot.press("o")
                await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen))
                screen = app.screen
                await wait_until(pilot, lambda: bool(screen.summaries))
                assert f"pid {holder.pid}" in screen_text(app)
                (listed,) = [s.path for s in screen.summaries if s.name == "held"]
                screen.table.move_cursor(row=screen.table.get_row_index(str(listed)))
                await pilot.press("enter")
                await wait_until(pilot, lambda: isinstance(app.session, WatchSession))
                assert app.session.run_dir.resolve() == held.resolve()
                await wait_until(pilot, lambda: app.status.watching is not None)
                assert app.status.watching == f"◉ watching: open in pid {holder.pid}"
                assert not rundir.holds_lock(held)
                await pilot.press("q")

        run(scenario())
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_a_viewer_says_what_its_keys_do_in_the_palette_and_the_samples_pane(finished_run):
    """Quitting a viewer saves nothing, t takes over, and no hint asks it to train or sample."""

    async def scenario():
        app = watch_app(finished_run)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: app.status.watching == "■ watching: finished")
            titles = [str(command.title) for command in app.get_system_commands(app.screen)]
            assert "Quit the viewer (nothing to save)" in titles
            assert not any("Stop training" in title for title in titles)
            app.main.post_message(SamplesReplaced(()))  # a run with no samples yet
            box = app.main.query_one("#samples-box")
            await wait_until(pilot, lambda: str(box.border_title) == "Samples")
            assert "t trains" not in app.main.SAMPLES_HINTS[1]
            await pilot.press("q")

    run(scenario())
