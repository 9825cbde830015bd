"""The inspector (i), driven as a user drives it: the passage read by a copy of the model (the
same numbers as the engine's forward pass), the cursor's top-5, the three views, Find neurons,
your own text (hostile paste shown, never obeyed), the best model, live health while training
(and no observer left behind); snapshots at 80x24 and 120x40."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from test_app import (
    make_app,
    make_session,
    run,
    screen_text,
    send_keys,
    wait_until,
)
from textual import events

from tui_rnn.app.messages import RunState
from tui_rnn.app.screens.inspector_screen import InspectorScreen, TextScreen
from tui_rnn.app.screens.main_screen import MainScreen
from tui_rnn.app.widgets.passage_view import PassageView
from tui_rnn.inspection import neurons, passage


@pytest.fixture
def new_session(tmp_path, small_corpus, tiny_config):
    def factory(target: int, **config_changes):
        config = replace(tiny_config, **config_changes)
        return make_session(tmp_path / "run", small_corpus, config, target)

    return factory


async def open_inspector(pilot) -> InspectorScreen:
    await pilot.press("i")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, InspectorScreen))
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.passage is not None)
    await pilot.pause(0.05)
    return screen


def test_the_passage_is_the_models_reading_the_cursors_top5_units_and_health(
    tmp_path, small_corpus, tiny_config
):
    session = make_session(tmp_path / "run", small_corpus, tiny_config, 60)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("t")
            await wait_until(pilot, lambda: app.status.state == RunState.DONE)
            screen = await open_inspector(pilot)
            trainer = session.trainer
            start = trainer.position  # the training text where training reads next
            ids = trainer.train_data[start : start + passage.DEFAULT_LENGTH]
            expected = passage.read_passage(trainer.model, ids, trainer.chars)
            assert np.array_equal(screen.passage.ids, ids)
            np.testing.assert_allclose(
                screen.passage.probability[1:], expected.probability[1:], rtol=1e-12
            )
            assert "current model, iter 60" in screen_text(app)
            assert "the first character: nothing predicted it" in screen_text(app)
            await pilot.press("right", "right")
            view = screen.query_one(PassageView)
            await wait_until(pilot, lambda: view.cursor == 2)
            await pilot.pause(0.05)
            shown = screen_text(app)
            assert f"#2 of {len(ids):,} · p = {expected.probability[2]:.4f}" in shown
            (c, q), *_ = expected.top(2)
            assert f"{c!r} {q:.3f}" in shown or f"'↵' {q:.3f}" in shown
            assert f"loss {expected.loss_nats:.4f} nats = {expected.loss_bits:.4f} bits" in shown
            await pilot.press("end")
            assert view.cursor == len(ids) - 1
            await pilot.press("home", "down")
            assert view.cursor > 0
            before = list(view.char_styles)
            await pilot.press("s")  # surprisal: other shades
            assert screen.colouring.mode == "surprisal" and view.char_styles != before
            assert "surprisal: 0 bits" in screen_text(app)
            # Neurons: one unit's activation, Find neurons, Enter shows one
            assert screen.check_action("unit", (1,)) is False  # only in the Neurons view
            await pilot.press("2")
            await wait_until(pilot, lambda: screen.view == "neurons")
            assert screen.colouring.mode == "neuron"
            await pilot.press("right_square_bracket", "right_square_bracket")
            assert screen.neuron == neurons.Neuron(0, 2, "h")
            assert "unit 0:2:h" in screen_text(app)
            assert screen.check_action("toggle_kind", ()) is False  # an rnn has no cell state
            best = screen.neurons.ranked(1)[0]
            await pilot.press("f", "down", "enter")
            await wait_until(pilot, lambda: screen.neuron == best.neuron)
            shown = screen_text(app)
            assert f"unit {best.neuron.label}" in shown
            assert f"{best.feature:<15}{best.r:+.2f}" in shown
            await pilot.press("3")  # Health: the weights until the model trains again
            await wait_until(pilot, lambda: "weights at iter 60" in screen_text(app))
            assert "|Δθ|/|θ|" in screen_text(app)
            await pilot.press("escape")
            assert isinstance(app.screen, MainScreen)

    run(scenario())


def test_health_updates_while_training_and_the_observer_leaves_with_the_screen(new_session):
    session = new_session(target=200_000)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            await send_keys(pilot, "t")
            await wait_until(pilot, lambda: app.status.state == RunState.TRAINING)
            await send_keys(pilot, "i")
            await wait_until(pilot, lambda: isinstance(app.screen, InspectorScreen))
            screen = app.screen
            await send_keys(pilot, "3")
            await wait_until(pilot, lambda: screen.health is not None and screen.health.measured)
            first = screen.health.iteration
            await wait_until(pilot, lambda: screen.health.iteration > first)  # a few a second
            assert session.trainer.on_update is not None
            assert "update " in screen_text(app) and "saturated when" in screen_text(app)
            await send_keys(pilot, "escape")
            await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
            await wait_until(pilot, lambda: session.trainer.on_update is None)
            await send_keys(pilot, "p")

    run(scenario())


def test_your_text_hostile_paste_is_shown_and_refused_then_typed_text_is_read(
    new_session,
):
    session = new_session(target=10, val_fraction=0.2)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await open_inspector(pilot)
            assert "validation text" in screen.label  # the run has one: shown first
            await pilot.press("e")
            await wait_until(pilot, lambda: isinstance(app.screen, TextScreen))
            area = app.screen.query_one("#insp-text-area")
            app.post_message(events.Paste("the \x1b]0;pwned\x07 man"))  # as the terminal does
            await pilot.pause(0.1)
            assert area.text == "the \u241b]0;pwned\u2407 man"
            await pilot.press("ctrl+s")
            assert isinstance(app.screen, TextScreen)
            message = str(app.screen.query_one("#insp-text-message").render())
            assert "not in the model's vocabulary: " in message and "'␇' '␛'" in message
            area.clear()
            await pilot.press(*"the man", "enter", "ctrl+s")
            await wait_until(pilot, lambda: app.screen is screen)
            await wait_until(pilot, lambda: screen.passage.text == "the man\n")
            assert "your text" in screen.label
            await pilot.press("b")
            await wait_until(pilot, lambda: screen.label.startswith("best model"))
            await pilot.press("t")  # your text -> validation -> training
            await wait_until(pilot, lambda: "validation text" in screen.label)
            titles = [c.title for c in app.get_system_commands(screen)]
            assert any("Colour by probability" in t for t in titles)  # the palette: its keys
            assert not any("Train: start" in t for t in titles)  # not the main screen's

    run(scenario())


# -- snapshots --------------------------------------------------------------------------------
def inspector_app(tmp_path, monkeypatch, small_corpus, tiny_config, *views):
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    session = make_session(Path("runs/snapshot"), small_corpus, tiny_config, 300)
    app = make_app(session, show_rate=False)

    async def run_before(pilot):
        await pilot.press("t")
        await wait_until(pilot, lambda: app.status.state == RunState.DONE)
        screen = await open_inspector(pilot)
        await pilot.press(*["right"] * 7)
        for keys in views:
            await pilot.press(*keys)
        await pilot.pause(0.2)
        app.clear_notifications()
        screen.query_one(PassageView).styles.scrollbar_size_vertical = 0
        await pilot.pause(0.1)

    return app, run_before


def test_inspector_probabilities_at_80x24(
    snap_compare, tmp_path, monkeypatch, small_corpus, tiny_config
):
    app, run_before = inspector_app(tmp_path, monkeypatch, small_corpus, tiny_config)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_inspector_neurons_at_120x40(
    snap_compare, tmp_path, monkeypatch, small_corpus, tiny_config
):
    app, run_before = inspector_app(
        tmp_path, monkeypatch, small_corpus, tiny_config, ["2"], ["f", "down", "down", "enter"]
    )
    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
