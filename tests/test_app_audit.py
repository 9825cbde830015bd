"""The user audit's findings (tmux at 80x24 and 120x40), each driven as the user met it: the
settings checked against the live iteration and keys typed in a burst after T, what the panes
name at every size, the runs table at 80 columns, the editor's last keys, the export toast."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from rich.cells import cell_len
from rich.text import Text
from test_app import (
    Notes,
    gradcheck_finished,
    make_app,
    run,
    screen_text,
    send_keys,
    train_to_done,
    wait_until,
)
from textual import events
from textual.widgets import Input

from tui_rnn.app.messages import RunState, TrainingProgress
from tui_rnn.app.requests import ChangeSettings
from tui_rnn.app.screens.inspector_screen import InspectorScreen
from tui_rnn.app.screens.settings_screen import SettingsScreen
from tui_rnn.app.widgets.generator_pane import RULES
from tui_rnn.app.widgets.status_bar import StatusBar


def post_keys(app, *keys: str) -> None:
    """Keys as a terminal delivers a burst: all posted before the app handles the first."""
    for key in keys:
        app.post_message(events.Key(key, key if len(key) == 1 else None))


# -- 1. the settings ------------------------------------------------------------------------------
def test_keys_typed_in_a_burst_after_T_land_in_the_target(session_factory):
    session = session_factory(target=100)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await train_to_done(pilot)
            post_keys(app, "T", "ctrl+u", "2", "5", "0")
            await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
            field = app.screen.query_one("#set-iterations", Input)
            await wait_until(pilot, lambda: field.value == "250")
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.status.target == 250)
            # in a text field T is a letter, not the settings
            await pilot.press("g", "T")
            assert app.query_one("#gen-prompt", Input).value == "T"
            assert not isinstance(app.screen, SettingsScreen)

    run(scenario())


def test_a_target_is_checked_against_the_live_iteration_not_the_one_at_T(session_factory):
    session = session_factory(target=10**7)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await send_keys(pilot, "t")
            await wait_until(pilot, lambda: session.trainer.iteration > 0)
            await send_keys(pilot, "T")
            await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
            screen = app.screen
            opened_at = screen.status.iteration
            await wait_until(pilot, lambda: session.trainer.iteration > opened_at + 200)
            field = screen.query_one("#set-iterations", Input)
            field.value = str(opened_at + 100)  # above the iteration at T, below the live one
            await pilot.pause(0.05)
            await send_keys(pilot, "enter")
            message = screen.query_one("#settings-message")
            await wait_until(pilot, lambda: "above the run's iteration" in str(message.render()))
            assert app.screen is screen and field.has_class("-invalid")
            assert session.target == 10**7
            await send_keys(pilot, "escape")
            await send_keys(pilot, "p")
            await wait_until(pilot, lambda: app.status.state == RunState.PAUSED)

    run(scenario())


def test_the_engine_refuses_a_target_the_run_has_passed(session_factory):
    session = session_factory(target=100)
    notes = Notes()

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24), message_hook=notes) as pilot:
            await train_to_done(pilot)
            session.request(ChangeSettings(target=50))  # as a form checked before training went on
            await wait_until(pilot, lambda: notes.any("target 50 not set", "iter 100"))
            assert app.status.target == 100 and session.target == 100

    run(scenario())


# -- 8. the inspector's "your text" ---------------------------------------------------------------
def test_ctrl_s_after_a_burst_of_keys_reads_every_key_typed(session_factory):
    session = session_factory(target=10)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("i")
            await wait_until(pilot, lambda: isinstance(app.screen, InspectorScreen))
            screen = app.screen
            await wait_until(pilot, lambda: screen.passage is not None)
            post_keys(app, "e", *"the man said", "enter", *"then he", "ctrl+s")
            await wait_until(pilot, lambda: app.screen is screen)
            await wait_until(pilot, lambda: screen.typed != "")
            assert screen.typed == "the man said\nthen he"

    run(scenario())


# -- 2. the gradient check's measure --------------------------------------------------------------
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_the_gradcheck_measure_shown_is_named_at_every_size(size, session_factory):
    session = session_factory(target=0)

    async def scenario():
        app = make_app(session, gradcheck_on_start=True)
        async with app.run_test(size=size) as pilot:
            await wait_until(pilot, lambda: gradcheck_finished(app))
            await pilot.pause(0.05)
            assert "max rel. error · model at init" in screen_text(app)
            app.set_focus(app.main.gradcheck_pane)
            await pilot.press("m")
            await pilot.pause(0.05)
            text = screen_text(app)
            assert "sum rel. error · model at init" in text and "max rel. error" not in text
            assert re.search(r"sum\s+T=5", text)  # the table's corner says it too

    run(scenario())


# -- 3. the generator's messages and keys ---------------------------------------------------------
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_every_bad_generator_field_is_named_on_screen_at_once(size, session_factory):
    session = session_factory(target=0)
    bad = {"gen-length": "0", "gen-temperature": "abc", "gen-top-p": "2", "gen-seed": "-1"}
    bad["gen-count"] = "11"
    bad.update({"gen-top-k": "-1", "gen-beam": "65"})

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=size) as pilot:
            await pilot.press("g")
            message = app.query_one("#gen-message")
            assert not message.display  # no message: no empty row
            for field, value in bad.items():
                app.query_one(f"#{field}", Input).value = value
            await pilot.press("enter")
            await wait_until(pilot, lambda: message.display)
            await pilot.pause(0.05)
            for field in bad:
                assert app.query_one(f"#{field}", Input).has_class("-invalid")
            # on the screen, whole: the generator pane's lines (the right column) joined
            lines = [line for line in screen_text(app).splitlines() if line.count("│") >= 2]
            shown = "".join(line.rsplit("│", 2)[-2] for line in lines).replace(" ", "")
            for rule in RULES.values():
                assert rule.replace(" ", "") in shown, rule
            for field in bad:  # fixed: the message goes, and its row
                app.query_one(f"#{field}", Input).value = "" if field == "gen-seed" else "1"
            await pilot.press("enter")
            await wait_until(pilot, lambda: not message.display)

    run(scenario())


def test_the_footer_says_enter_generates_in_a_generator_field(session_factory):
    session = session_factory(target=0)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24)) as pilot:

            def footer() -> str:
                return screen_text(app).rstrip().splitlines()[-1]

            for field in ("#gen-prompt", "#gen-length", "#gen-seed", "#gen-best"):
                app.set_focus(app.query_one(field))
                await wait_until(pilot, lambda: re.search(r"(enter|⏎) ?Generate", footer()))
                generate = app.screen.active_bindings["enter"]
                assert generate.binding.show and generate.enabled

    run(scenario())


# -- 4, 5, 6. the chart's titles ------------------------------------------------------------------
def chart_titles(app) -> tuple[str, str, str]:
    chart, generator = app.query_one("#chart-box"), app.query_one("#generator-box")
    titles = (chart.border_title, chart.border_subtitle, generator.border_subtitle)
    return tuple(Text.from_markup(title or "").plain for title in titles)


def test_with_validation_the_chart_names_the_best_by_validation_as_the_status_line(
    session_factory,
):
    session = session_factory(target=300, val_fraction=0.1, eval_every=50)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await train_to_done(pilot)
            await pilot.pause(0.05)
            status = app.status
            assert status.best_val_loss is not None and session.trainer.best_iteration > 0
            best = f"best val {status.best_val_loss:.3f} @ {session.trainer.best_iteration}"
            assert best in chart_titles(app)[1]
            shown = str(app.query_one(StatusBar).render())  # the best named: of the validation
            assert f"(best val {status.best_val_loss:.3f})" in shown

    run(scenario())


def test_a_best_model_at_iteration_0_is_said_and_the_arrow_points_to_the_hidden_start(
    session_factory,
):
    session = session_factory(target=600, eta=3.0)  # the loss grows: its start is below

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await train_to_done(pilot)
            await pilot.pause(0.05)
            assert session.trainer.best_iteration == 0
            title, subtitle, _ = chart_titles(app)
            assert "best: the initial model" in subtitle
            assert "↓ start: f" in title and "↑" not in title

    run(scenario())


def overflowing_status(status):
    """A status that overflows at 80 columns: training, validating, a rate and a time left."""
    return replace(
        status,
        state=RunState.TRAINING,
        iteration=8_942,
        target=20_000,
        chars_per_second=12_345.0,
        elapsed=125.0,
        remaining=600.0,
        val_loss=0.632,
        best_val_loss=0.631,
        epoch=12,
    )


@pytest.mark.parametrize("width", [80, 100, 120])
def test_the_chart_titles_fit_and_keep_what_matters(width, session_factory):
    session = session_factory(target=300, val_fraction=0.1, eval_every=50)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(width, 24)) as pilot:
            await train_to_done(pilot)
            main = app.main
            main.post_message(TrainingProgress(overflowing_status(app.status), main.chart.data))
            await pilot.pause(0.1)
            title, subtitle, generator = chart_titles(app)
            for box, text in (
                ("#chart-box", title),
                ("#chart-box", subtitle),
                ("#generator-box", generator),
            ):
                assert cell_len(text) <= app.query_one(box).outer_size.width - 4, text
            assert re.search(r"[↑↓↕] ?(start: )?f$", title)  # the hint is whole
            assert "…" not in screen_text(app).splitlines()[11], screen_text(app)
            assert "best val 0.631" in subtitle
            shown = str(app.query_one(StatusBar).render()) + subtitle + generator
            important = ["val 0.632", "epoch 12", "time 2:05, 10:00 left"]
            less = ["12.3k chars/s", "eta 0.1"] if width > 80 else ["eta 0.1"]
            for part in important + less:
                assert part in shown, part

    run(scenario())


# -- 9. small terminals, the modals' keys ---------------------------------------------------------
def test_the_too_small_note_is_whole_at_60x20(session_factory):
    session = session_factory(target=0)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(60, 20)) as pilot:
            await pilot.pause(0.05)
            text = " ".join(screen_text(app).split())
            assert "make the terminal at least 80x24 to see tui-rnn" in text
            assert "(it keeps running; ctrl+q saves and quits)" in text

    run(scenario())


@pytest.mark.parametrize("key", ["f1", "T"])
def test_a_modal_screen_shows_its_own_keys_in_the_footer(key, session_factory):
    session = session_factory(target=0)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24)) as pilot:
            main = app.screen
            await pilot.press(key)
            await wait_until(pilot, lambda: app.screen is not main)
            await pilot.pause(0.1)
            footer = screen_text(app).rstrip().splitlines()[-1]
            assert "Close" in footer and "Train" not in footer and "Sample" not in footer

    run(scenario())


# -- 11. the export toast -------------------------------------------------------------------------
def test_the_export_toast_shows_each_file_whole_on_its_own_line(session_factory):
    session = session_factory(target=30, name="a_run_with_a_rather_long_directory_name")
    notes = Notes()

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24), message_hook=notes) as pilot:
            await train_to_done(pilot)
            await pilot.press("e")
            await wait_until(pilot, lambda: notes.any("loss_history.json"))
            (note,) = [n for n in notes if "loss_history.json" in n]
            lines = note.splitlines()  # the directory, then one file a line, by name
            assert lines[1:] == ["  loss_history.csv", "  loss_history.json"]
            # the directory as a toast 80 columns wide has room for it: its end, never broken
            assert lines[0].startswith("loss history exported into …")
            assert lines[0].endswith(str(session.run_dir)[-20:] + ":")

    run(scenario())


def test_tab_in_a_burst_moves_field_by_field(session_factory):
    session = session_factory(target=0)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("g")
            # (a field's text is selected when tab enters it: a key replaces it)
            post_keys(app, "tab", "4", "2", "tab", "0", "shift+tab", "end", "7")
            length = app.query_one("#gen-length", Input)
            await wait_until(pilot, lambda: length.value == "427")
            assert app.query_one("#gen-temperature", Input).value == "0"
            assert app.query_one("#gen-prompt", Input).value == ""

    run(scenario())
