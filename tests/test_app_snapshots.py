"""Snapshots of the main screen and the help screen from a seeded, finished run.

Everything that varies between runs is kept out of the picture: the run directory is a fixed
relative path, the speed shows its placeholder (training is over), the gradient check's time is
zeroed, notifications are cleared, and the gradient-check pane's scrollbar is hidden. Update
with: pytest tests/test_app_snapshots.py --snapshot-update (then look at the SVGs).
"""

from __future__ import annotations

from pathlib import Path

from test_app import gradcheck_finished, make_app, make_session, press, wait_until

from tui_rnn.app.gradcheck_pane import GradcheckPane


def finished_app(tmp_path, monkeypatch, small_corpus, tiny_config):
    monkeypatch.chdir(tmp_path)
    session = make_session(Path("runs/snapshot"), small_corpus, tiny_config, 300)
    app = make_app(session, show_rate=False)

    async def run_before(pilot):
        await press(pilot, "t")
        await wait_until(pilot, lambda: app.status.state == "done" and gradcheck_finished(app))
        await pilot.pause(0.4)  # the chart redraws on its timer
        app.clear_notifications()
        # The gradient-check pane's scrollbar thumb is sometimes drawn from a layout pass
        # before the last one (one eighth of a cell off): keep it out of the picture.
        app.query_one(GradcheckPane).styles.scrollbar_size_vertical = 0
        await pilot.pause(0.2)

    return app, run_before


def test_main_screen(snap_compare, tmp_path, monkeypatch, small_corpus, tiny_config):
    app, run_before = finished_app(tmp_path, monkeypatch, small_corpus, tiny_config)
    assert snap_compare(app, terminal_size=(100, 32), run_before=run_before)


def test_main_screen_at_80x24(snap_compare, tmp_path, monkeypatch, small_corpus, tiny_config):
    app, run_before = finished_app(tmp_path, monkeypatch, small_corpus, tiny_config)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_help_screen(snap_compare, tmp_path, monkeypatch, small_corpus, tiny_config):
    app, run_before = finished_app(tmp_path, monkeypatch, small_corpus, tiny_config)

    async def open_help(pilot):
        await run_before(pilot)
        await press(pilot, "f1")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(100, 32), run_before=open_help)
