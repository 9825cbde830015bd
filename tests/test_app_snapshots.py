"""Snapshots of the main screen (80x24 and 120x40), the help and the settings from a seeded,
finished run.

Everything that varies between runs is kept out of the picture: the run directory is a fixed
relative path, the speed and the times show their placeholders (show_rate=False), the gradient
check's time is zeroed, notifications are cleared, and the gradient-check pane's scrollbar is
hidden. Update with: pytest tests/test_app_snapshots.py --snapshot-update (then look at the SVGs).
"""

from __future__ import annotations

from pathlib import Path

from test_app import gradcheck_finished, make_app, make_session, wait_until

from tui_rnn.app.messages import RunState


def finished_app(tmp_path, monkeypatch, small_corpus, tiny_config):
    monkeypatch.chdir(tmp_path)
    session = make_session(Path("runs/snapshot"), small_corpus, tiny_config, 300)
    app = make_app(session, show_rate=False, gradcheck_on_start=True)

    async def run_before(pilot):
        await pilot.press("t")
        await wait_until(
            pilot, lambda: app.status.state == RunState.DONE and gradcheck_finished(app)
        )
        await pilot.pause(0.4)  # the chart redraws on its timer
        app.clear_notifications()
        # The gradient-check pane's scrollbar thumb is sometimes drawn from a layout pass
        # before the last one (one eighth of a cell off): keep it out of the picture.
        app.main.gradcheck_pane.styles.scrollbar_size_vertical = 0
        await pilot.pause(0.2)

    return app, run_before


def test_main_screen_at_80x24(snap_compare, tmp_path, monkeypatch, small_corpus, tiny_config):
    app, run_before = finished_app(tmp_path, monkeypatch, small_corpus, tiny_config)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_main_screen_at_120x40_generated_text_and_the_chart_focused(
    snap_compare, tmp_path, monkeypatch, small_corpus, tiny_config
):
    app, run_before = finished_app(tmp_path, monkeypatch, small_corpus, tiny_config)

    async def generate_and_focus_the_chart(pilot):
        await run_before(pilot)
        await pilot.press("g", *"the")
        app.query_one("#gen-length").value = "120"
        app.query_one("#gen-seed").value = "1"
        app.query_one("#gen-count").value = "2"
        await pilot.press("enter")
        generator = app.main.generator
        await wait_until(pilot, lambda: len(generator.text) == 240 and not generator.running)
        await pilot.press("escape", "l", "u")  # the chart, with the per-update loss under it
        await wait_until(pilot, lambda: app.main.chart.data.loss)
        await pilot.pause(0.4)
        app.clear_notifications()
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(120, 40), run_before=generate_and_focus_the_chart)


def test_help_screen(snap_compare, tmp_path, monkeypatch, small_corpus, tiny_config):
    app, run_before = finished_app(tmp_path, monkeypatch, small_corpus, tiny_config)

    async def open_help(pilot):
        await run_before(pilot)
        await pilot.press("f1")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(120, 40), run_before=open_help)


def test_settings_screen(snap_compare, tmp_path, monkeypatch, small_corpus, tiny_config):
    app, run_before = finished_app(tmp_path, monkeypatch, small_corpus, tiny_config)

    async def open_settings(pilot):
        await run_before(pilot)
        await pilot.press("T")
        await pilot.pause(0.1)
        field = app.screen.query_one("#set-eta")
        field.cursor_blink = False  # a blinking cursor is on or off by the time taken
        field.value = "-1"
        await pilot.press("enter")  # an inline error
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(80, 24), run_before=open_settings)
