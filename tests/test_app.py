"""The Textual app, driven as a user drives it: every key, the generator's fields, the chart's
views, the settings, the gradient check, divergence, resizing, hostile text, random keys.

Training is bounded (a tiny model, a few hundred updates) and each test waits for what it
expects rather than sleeping a fixed time. Only public Textual APIs: Pilot's `press` (and, while
the engine trains, key events posted to the app as the terminal driver posts them: Pilot waits
for the process to go idle after each key, which it never does while training), the
`message_hook` of `run_test` for notifications, `app.workers.wait_for_complete()`.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import random
import re
import signal
import time
from dataclasses import replace

import numpy as np
import pytest
from conftest import make_session
from rich.cells import cell_len
from textual import events
from textual.notifications import Notify
from textual.widgets import Footer, Input

from tui_rnn.app import TuiRnnApp
from tui_rnn.app.keys import KEYS, RESERVED, Scope
from tui_rnn.app.messages import RunState, TrainingProgress
from tui_rnn.app.screens.help_screen import HelpScreen
from tui_rnn.app.screens.inspector_screen import InspectorScreen, TextScreen
from tui_rnn.app.screens.main_screen import GradcheckTarget
from tui_rnn.app.screens.settings_screen import SettingsScreen
from tui_rnn.app.widgets.generator_pane import GeneratorPane
from tui_rnn.app.widgets.gradcheck_pane import GradcheckPane, GradcheckTablesScreen
from tui_rnn.app.widgets.loss_chart import LossChart
from tui_rnn.app.widgets.passage_view import PassageView
from tui_rnn.app.widgets.samples_pane import SampleScreen, SamplesPane
from tui_rnn.app.widgets.status_bar import StatusBar
from tui_rnn.store import checkpoint, rundir
from tui_rnn.store import config as store_config
from tui_rnn.training.trainer import DivergenceError

WAIT = 60.0  # seconds before a wait gives up (generous: a loaded machine is slow)


def quick_gradcheck(target: GradcheckTarget, method, on_row, should_stop):
    """The real gradient check on the first two lengths, with its time zeroed (snapshots)."""
    from tui_rnn.gradcheck.check import run_gradcheck

    options = replace(target.options(method), seq_lengths=(5, 10))
    report = run_gradcheck(
        target.data,
        target.vocab_size,
        options,
        model=target.model,
        on_row=on_row,
        should_stop=should_stop,
    )
    return replace(report, seconds=0.0)


def make_app(session, **kwargs) -> TuiRnnApp:
    kwargs.setdefault("gradcheck", quick_gradcheck)
    kwargs.setdefault("seq_lengths", (5, 10))
    kwargs.setdefault("gradcheck_on_start", False)
    app = TuiRnnApp(session, **kwargs)
    app.animation_level = "none"
    return app


CHARACTERS = {"space": " ", "full_stop": ".", "enter": "\r", "tab": "\t", "backspace": "\x7f"}


async def send_keys(pilot, *keys: str) -> None:
    """Key events posted to the app as the terminal driver posts them, without Pilot's wait for
    an idle process (never idle while the engine trains)."""
    for key in keys:
        character = key if len(key) == 1 else CHARACTERS.get(key)
        pilot.app.post_message(events.Key(key, character))
        await asyncio.sleep(0.002)
    await pilot.pause(0.01)


async def wait_until(pilot, predicate, timeout: float = WAIT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {predicate.__doc__ or predicate}")
        await pilot.pause(0.02)


async def train_to_done(pilot) -> None:
    """t, then wait for the target (short targets: Pilot's press is quick)."""
    await pilot.press("t")
    await wait_until(pilot, lambda: pilot.app.status.state == RunState.DONE)


async def open_settings(pilot) -> None:
    await pilot.press("T")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, SettingsScreen))


def screen_text(app) -> str:
    """The text on the screen (the screenshot's SVG without tags and escapes)."""
    svg = app.export_screenshot()
    body = svg[svg.index("</style>") :]
    return html.unescape(re.sub(r"<[^>]+>", "", body)).replace("\xa0", " ")


def box_title(app) -> str:
    return app.query_one("#chart-box").border_title


def gradcheck_finished(app) -> bool:
    pane = app.main.gradcheck_pane
    return all("running" not in pane.summaries[m].plain for m in ("central", "complex"))


class Notes(list):
    """Notifications, collected with run_test's message_hook."""

    def __call__(self, message) -> None:
        if isinstance(message, Notify):
            self.append(message.notification.message)

    def any(self, *parts: str) -> bool:
        return any(all(p in note for p in parts) for note in self)


def run(coroutine):
    return asyncio.run(coroutine)


NOT_ON_MAIN = (  # not on the main screen
    Scope.MODAL, Scope.INSPECTOR, Scope.PASSAGE, Scope.EDITOR, Scope.RUNS, Scope.COMPARE,
    Scope.NEW_RUN,
)  # fmt: skip


# -- the key map ----------------------------------------------------------------------------------
CHAINS = (  # scopes whose keys are active together (a pane's, the main screen's, the app's)
    (Scope.APP, Scope.MAIN),
    (Scope.APP, Scope.MAIN, Scope.CHART),
    (Scope.APP, Scope.MAIN, Scope.GENERATOR),
    (Scope.APP, Scope.MAIN, Scope.GRADCHECK),
    (Scope.APP, Scope.MODAL),
    (Scope.APP, Scope.NEW_RUN, Scope.MODAL),
    (Scope.APP, Scope.RUNS, Scope.MODAL),
    (Scope.APP, Scope.COMPARE, Scope.MODAL),
    (Scope.APP, Scope.INSPECTOR, Scope.PASSAGE),
    (Scope.APP, Scope.MODAL, Scope.EDITOR),
    (Scope.APP, Scope.MAIN, Scope.WATCH),
    (Scope.APP, Scope.MAIN, Scope.WATCH, Scope.CHART),
    (Scope.APP, Scope.MAIN, Scope.WATCH, Scope.GENERATOR),
    (Scope.APP, Scope.MAIN, Scope.WATCH, Scope.GRADCHECK),
)


def test_key_map_has_no_clashes_ids_tooltips_and_keeps_the_reserved_keys_free():
    assert len({k.id for k in KEYS}) == len(KEYS)
    for chain in CHAINS:
        seen: dict[str, str] = {}
        for key in KEYS:
            if key.scope not in chain:
                continue
            for name in key.key.split(","):
                assert name not in seen, f"{name} is bound to {seen[name]} and {key.name}"
                seen[name] = key.name
    for key in KEYS:
        binding = key.binding()
        assert binding.id == f"tui-rnn.{key.name}" and binding.tooltip == key.help
        assert not set(key.key.split(",")) & set(RESERVED), key.name


def test_every_action_exists_on_its_node(session_factory):
    from tui_rnn.app.screens.compare_screen import CompareScreen
    from tui_rnn.app.screens.main_screen import MainScreen
    from tui_rnn.app.screens.new_run_screen import NewRunScreen
    from tui_rnn.app.screens.runs_screen import RunsScreen
    from tui_rnn.app.screens.watch_screen import WatchScreen

    app = make_app(session_factory(target=10))
    classes = {
        Scope.RUNS: RunsScreen,
        Scope.COMPARE: CompareScreen,
        Scope.APP: type(app),
        Scope.MAIN: MainScreen,
        Scope.WATCH: WatchScreen,
        Scope.CHART: LossChart,
        Scope.GENERATOR: GeneratorPane,
        Scope.GRADCHECK: GradcheckPane,
        Scope.MODAL: HelpScreen,
        Scope.NEW_RUN: NewRunScreen,
        Scope.INSPECTOR: InspectorScreen,
        Scope.PASSAGE: PassageView,
        Scope.EDITOR: TextScreen,
    }
    for key in KEYS:
        name = key.action.split("(")[0]
        assert hasattr(classes[key.scope], f"action_{name}"), key.name


def test_the_footer_is_one_row_that_fits_and_follows_the_focus(session_factory):
    session = session_factory(target=10)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24)) as pilot:
            footer = app.query_one(Footer)

            def shown() -> set[str]:
                return {
                    binding.action
                    for binding in (b.binding for b in app.screen.active_bindings.values())
                    if binding.show
                }

            def fits() -> bool:
                width = app.size.width
                return footer.size.height == 1 and footer.virtual_size.width <= width

            for width in (80, 100, 200):
                await pilot.resize_terminal(width, 30)
                app.main.samples.focus()
                await wait_until(pilot, lambda: app.focused is app.main.samples)
                await wait_until(pilot, fits)
                assert {"train", "quit", "help"} <= shown()
                assert "toggle_log" not in shown()  # chart keys only while the chart has focus
                await pilot.press("l")
                await wait_until(pilot, lambda: "toggle_log" in shown())
                assert {"cycle_window", "quit"} <= shown()
                await wait_until(pilot, fits)
                await pilot.press("g")  # the prompt: letters type (t is not Train there)
                await wait_until(pilot, lambda: "save" in shown() and "toggle_log" not in shown())
                assert {"leave", "quit", "help"} <= shown() and "train" not in shown()
                await wait_until(pilot, fits)

    run(scenario())


def test_the_command_palette_offers_every_action_that_can_run(session_factory):
    session = session_factory(target=100)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.1)
            titles = [c.title for c in app.get_system_commands(app.screen)]
            for key in KEYS:
                if key.scope in NOT_ON_MAIN or key.action in ("quit", "pause", "export"):
                    continue
                if key.action == "write_report":  # nothing trained yet
                    continue
                if key.action == "toggle_validation":  # no validation loss in this run
                    continue
                assert any(key.help[1:] in t for t in titles), key.name
            assert not any("pause training" in t for t in titles)  # nothing to pause yet
            (log,) = [
                c for c in app.get_system_commands(app.screen) if "logarithmic" in c.title.lower()
            ]
            await log.callback()
            assert app.main.chart.options.log_y

    run(scenario())


# -- training -------------------------------------------------------------------------------------
def test_t_trains_to_the_target_and_saves(session_factory):
    session = session_factory(target=300)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            assert app.main.check_action("pause", ()) is False  # nothing to pause: not shown
            assert app.main.check_action("train", ()) is True
            await train_to_done(pilot)
            samples = app.main.samples.samples
            assert [s.iteration for s in samples] == list(range(0, 301, 50))
            assert app.main.chart.data.points == 300

    run(scenario())
    arrays = checkpoint.load_checkpoint(session.run_dir)
    assert checkpoint.checkpoint_iteration(arrays) == 300
    assert (session.run_dir / rundir.SAMPLES_FILE).read_text().count("iter = ") == 7


def test_t_on_a_finished_run_goes_on_by_another_epochs_worth(tmp_path, small_corpus, tiny_config):
    session = make_session(
        tmp_path / "run", small_corpus, tiny_config, 120, requested={"epochs": 0.05}
    )
    per_epoch = session.trainer.updates_per_epoch
    more = round(0.05 * per_epoch)
    notes = Notes()

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30), message_hook=notes) as pilot:
            await train_to_done(pilot)
            assert app.main.check_action("train", ()) is True  # t goes on
            await pilot.press("t")
            await wait_until(pilot, lambda: app.status.target == 120 + more)
            await wait_until(pilot, lambda: app.status.state == RunState.DONE)
            assert session.trainer.iteration == 120 + more
            assert "/" + f"{120 + more:,}" in str(app.query_one(StatusBar).render())
            await wait_until(pilot, lambda: notes.any("target raised to", f"{120 + more:,}"))

    run(scenario())
    assert store_config.read_config(session.run_dir)["target_iterations"] == 120 + more


def test_going_on_past_the_target_keeps_its_evaluation_and_best_model(session_factory):
    """Done at 50 (validation every 20, and at the target), `t` trains on, ctrl+q: the run
    on disk still holds the evaluation at 50, saved before the app said done."""
    session = session_factory(target=50, val_fraction=0.1, eval_every=20)
    on_disk: dict = {}

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            await train_to_done(pilot)
            on_disk.update(checkpoint.load_checkpoint(session.run_dir))  # as a kill -9 leaves it
            await pilot.press("t")
            await wait_until(pilot, lambda: session.trainer.iteration > 60)
            await pilot.press("ctrl+q")

    run(scenario())
    assert list(on_disk["val_iterations"]) == [0, 20, 40, 50]
    after = checkpoint.load_checkpoint(session.run_dir)
    assert list(after["val_iterations"][:4]) == [0, 20, 40, 50]
    assert np.array_equal(after["val_loss_history"][:4], on_disk["val_loss_history"])
    losses = after["val_loss_history"]
    assert int(after["best_iteration"]) == after["val_iterations"][losses.argmin()]
    if int(after["best_iteration"]) <= 50:
        assert np.array_equal(after["best_params"], on_disk["best_params"])


def test_going_on_is_the_runs_requested_epochs_else_two(session_factory):
    session = session_factory(target=20)
    run = session.run
    per_epoch = session.trainer.updates_per_epoch
    assert run.extend_target() == 20 + 2 * per_epoch  # the run asked for iterations only
    run.document["requested"] = {"iterations": None, "epochs": 0.5}
    before = run.target
    assert run.extend_target() == before + round(0.5 * per_epoch)
    assert store_config.read_config(session.run_dir)["target_iterations"] == run.target


def test_settings_change_target_and_learning_rate_with_inline_errors(session_factory):
    session = session_factory(target=100)
    per_epoch = session.trainer.updates_per_epoch

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            await train_to_done(pilot)
            await open_settings(pilot)
            screen = app.screen
            iterations = screen.query_one("#set-iterations", Input)
            epochs = screen.query_one("#set-epochs", Input)
            eta = screen.query_one("#set-eta", Input)
            message = screen.query_one("#settings-message")
            # epochs and updates follow each other (what the user types in)
            epochs.focus()
            await wait_until(pilot, lambda: app.focused is epochs)
            epochs.value = "1"
            await wait_until(pilot, lambda: iterations.value == str(per_epoch))
            iterations.focus()
            await wait_until(pilot, lambda: app.focused is iterations)
            # bad values are named, nothing is applied
            iterations.value, eta.value = "50", "-1"
            await pilot.press("enter")
            await wait_until(pilot, lambda: "eta must be > 0" in str(message.render()))
            assert "above the run's iteration 100" in str(message.render())
            assert iterations.has_class("-invalid") and eta.has_class("-invalid")
            eta.value = "abc"
            await pilot.press("enter")
            await wait_until(pilot, lambda: "eta must be a number" in str(message.render()))
            assert isinstance(app.screen, SettingsScreen)
            iterations.value, eta.value = "250", "0.05"
            await pilot.press("enter")
            await wait_until(pilot, lambda: not isinstance(app.screen, SettingsScreen))
            await wait_until(pilot, lambda: app.status.target == 250 and app.status.eta == 0.05)
            assert app.status.state == RunState.IDLE  # below the target again: t trains
            assert "eta 0.05" in str(app.query_one(StatusBar).render())
            await train_to_done(pilot)

    run(scenario())
    document = store_config.read_config(session.run_dir)
    assert document["target_iterations"] == 250
    assert document["config"]["eta"] == 0.05
    assert document["eta_changes"] == [{"iteration": 100, "eta": 0.05}]
    assert session.trainer.iteration == 250 and session.trainer.config.eta == 0.05


def test_settings_typed_key_by_key(session_factory):
    """As a user types: the epochs field follows the updates typed (and does not feed back
    into them), Tab moves on, Enter applies."""
    session = session_factory(target=100)
    per_epoch = session.trainer.updates_per_epoch

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            await train_to_done(pilot)
            await open_settings(pilot)
            screen = app.screen
            iterations = screen.query_one("#set-iterations", Input)
            epochs = screen.query_one("#set-epochs", Input)
            await wait_until(pilot, lambda: app.focused is iterations)
            await pilot.press("backspace", *"20000")  # the value starts selected
            await pilot.pause(0.1)
            assert iterations.value == "20000"  # not rewritten from the rounded epochs
            assert epochs.value == f"{20000 / per_epoch:.4g}"
            await pilot.press("tab", "tab", "backspace", *"0.05", "enter")
            await wait_until(pilot, lambda: app.status.target == 20000 and app.status.eta == 0.05)
            # and in epochs: 2 epochs from the run's start
            await open_settings(pilot)
            await pilot.press("tab", "backspace", "2", "enter")
            await wait_until(pilot, lambda: app.status.target == 2 * per_epoch)
            # only the learning rate, on a run at its target: the target is left alone
            await train_to_done(pilot)
            target = app.status.target
            await open_settings(pilot)
            await pilot.press("tab", "tab", "backspace", *"0.02", "enter")
            await wait_until(pilot, lambda: app.status.eta == 0.02)
            assert app.status.target == target and not isinstance(app.screen, SettingsScreen)

    run(scenario())
    document = store_config.read_config(session.run_dir)
    assert document["target_iterations"] == 2 * session.trainer.updates_per_epoch
    assert document["config"]["eta"] == 0.02
    assert [change["eta"] for change in document["eta_changes"]] == [0.05, 0.02]


def test_p_pauses_and_saves_then_t_resumes_and_ctrl_q_saves(session_factory):
    session = session_factory(target=10**8)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            await send_keys(pilot, "t")
            await wait_until(pilot, lambda: app.status.state == RunState.TRAINING)
            await wait_until(pilot, lambda: app.status.iteration > 100)
            # while training: the time so far and the time left, on one line
            await wait_until(pilot, lambda: app.status.remaining is not None)
            line = str(app.query_one(StatusBar).render())
            assert re.search(r"time \d+:\d\d, \d+:\d\d(:\d\d)? left", line), line
            await send_keys(pilot, "p")
            await wait_until(pilot, lambda: app.status.state == RunState.PAUSED)
            paused_at = session.trainer.iteration
            saved = checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(session.run_dir))
            assert saved == paused_at
            await pilot.pause(0.2)
            assert session.trainer.iteration == paused_at  # really paused
            await send_keys(pilot, "t")
            await wait_until(pilot, lambda: session.trainer.iteration > paused_at + 50)
            await send_keys(pilot, "ctrl+q")
            await wait_until(pilot, lambda: not session.running)
        return app

    app = run(scenario())
    assert app.return_code == 0 or app.return_code is None
    saved = checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(session.run_dir))
    assert saved == session.trainer.iteration > 150
    assert session.state == RunState.PAUSED


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_save_the_state(name, session_factory):
    signum = getattr(signal, name, None)
    if signum is None:
        pytest.skip(f"no {name} here")
    session = session_factory(target=10**8)
    unhandled, left = [], []
    # A guard while the app runs: if the app did not take the signal, it lands here (instead
    # of ending pytest) and the test fails.
    previous = signal.signal(signum, lambda *args: unhandled.append(args))

    async def scenario():
        app = make_app(session)
        app.leave_now = left.append  # SIGHUP would end the process
        async with app.run_test(size=(100, 30)) as pilot:
            await send_keys(pilot, "t")
            await wait_until(pilot, lambda: session.trainer.iteration > 100)
            os.kill(os.getpid(), signum)
            await wait_until(pilot, lambda: not session.running or unhandled)
            assert not unhandled
            if name == "SIGHUP":
                assert left == [128 + signum]
                await send_keys(pilot, "ctrl+q")

    try:
        run(scenario())
    finally:
        signal.signal(signum, previous)
    saved = checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(session.run_dir))
    assert saved == session.trainer.iteration > 100


def test_s_b_e_c_keys(session_factory):
    session = session_factory(target=120)
    notes = Notes()

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30), message_hook=notes) as pilot:
            assert app.main.check_action("export", ()) is None  # no history yet
            await train_to_done(pilot)
            pane = app.main.samples
            before = len(pane.samples)
            await pilot.press("s")
            await wait_until(pilot, lambda: len(pane.samples) == before + 1)
            assert len(pane.samples[-1].text) == session.trainer.config.sample_length
            await pilot.press("b")
            await wait_until(pilot, lambda: isinstance(app.screen, SampleScreen))
            best = pane.samples[-1]
            assert best.best and len(best.text) == 1000
            assert best.header.startswith("best model, iter = ")
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, SampleScreen))
            await pilot.press("e")
            csv_path = session.run_dir / "loss_history.csv"
            json_path = session.run_dir / "loss_history.json"
            await wait_until(pilot, lambda: csv_path.exists() and json_path.exists())
            await pilot.press("c")
            await wait_until(pilot, lambda: notes.any("loss_history.csv", "loss_history.json"))
            await wait_until(pilot, lambda: notes.any("checkpoint"))
            # Enter on the highlighted sample opens it in full.
            pane.focus()
            pane.highlighted = 0
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, SampleScreen))
            assert app.screen.sample.iteration == 0
            await pilot.press("escape")

    run(scenario())
    lines = (session.run_dir / "loss_history.csv").read_text().splitlines()
    assert len(lines) == 1 + 120
    assert json.loads((session.run_dir / "loss_history.json").read_text())
    assert (session.run_dir / rundir.SAMPLES_FILE).read_text().count("best model, iter = ") == 1


def test_the_status_line_never_wraps_and_the_run_is_always_named(session_factory):
    session = session_factory(target=10**8, name="a-long-run-directory-name-" + "x" * 30)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 24)) as pilot:
            await send_keys(pilot, "t")
            await wait_until(pilot, lambda: app.status.remaining is not None)
            bar = app.query_one(StatusBar)
            await wait_until(pilot, lambda: " left" in str(bar.render()))  # the time to go
            assert bar.size.height == 1 and cell_len(str(bar.render())) <= 98
            await send_keys(pilot, "p")
            await wait_until(pilot, lambda: app.status.state == RunState.PAUSED)
            for width in (80, 120, 200):
                await pilot.resize_terminal(width, 30)
                await pilot.pause(0.2)
                assert bar.size.height == 1
                assert cell_len(str(bar.render())) <= width - 2
                text = screen_text(app)
                assert "small" in text  # the corpus
                assert session.run_dir.name[-20:] in text  # the run directory's end

    run(scenario())


# -- the chart -----------------------------------------------------------------------------------
def test_chart_keys_work_only_while_the_chart_has_the_focus(session_factory):
    session = session_factory(target=200)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await train_to_done(pilot)
            chart = app.main.chart
            await pilot.press("y", "z", "u")  # the samples have the focus: nothing changes
            assert chart.options.log_y is False and chart.options.window == 0
            assert not chart.options.loss
            await pilot.press("l")
            assert app.focused is chart
            await pilot.press("y", "z", "u", "plus", "f")
            options = chart.options
            assert options.log_y and options.window == 1 and options.loss and options.full_y
            assert options.smoothing_weight == 0.9
            await wait_until(pilot, lambda: chart.data is not None and len(chart.data.loss) > 0)
            data = chart.data
            assert data.first_iteration == 200 - 50 + 1  # the recent quarter, up to the newest
            assert data.iterations[-1] == 200 and data.loss_smoothing == 0.9
            assert session.chart_view.window == 0.25
            await pilot.press("minus", "minus", "minus")
            assert chart.options.smoothing_weight == 0.0
            await wait_until(pilot, lambda: chart.data.loss_smoothing == 0.0)
            # the raw loss, thinned: its extremes are there
            history = session.trainer.history.loss[150:]
            assert max(chart.data.loss) == pytest.approx(float(history.max()))
            assert chart.check_action("toggle_validation", ()) is False  # no validation yet
            # a validation series (the engine sends none yet): drawn, and v hides it
            data = replace(chart.data, val_iterations=[100.0, 200.0], val_loss=[30.0, 29.0])
            app.main.post_message(TrainingProgress(app.status, data))
            # (named "val" when "validation" does not fit the title)
            await wait_until(pilot, lambda: re.search(r"\bval(idation)?\b", str(box_title(app))))
            assert chart.check_action("toggle_validation", ()) is True
            await pilot.press("v")
            assert chart.options.validation is False
            await wait_until(pilot, lambda: not re.search(r"\bval", str(box_title(app))))

    run(scenario())


# -- the generator --------------------------------------------------------------------------------
async def open_generator(pilot):
    await pilot.press("g")
    prompt = pilot.app.query_one("#gen-prompt", Input)
    await wait_until(pilot, lambda: pilot.app.focused is prompt)
    return pilot.app.main.generator, prompt


def message_of(app) -> str:
    return str(app.query_one("#gen-message").render())


def test_g_prompt_enter_streams_a_continuation_and_escape_leaves(session_factory):
    session = session_factory(target=50)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            generator, prompt = await open_generator(pilot)
            app.query_one("#gen-length", Input).value = "123"
            await pilot.press(*"the ", "enter")
            await wait_until(pilot, lambda: not generator.running and len(generator.text) == 123)
            assert set(generator.text) <= set(session.trainer.chars)
            # an unknown character is named, nothing is generated, the old output is gone
            prompt.value = "the ∑"
            await pilot.press("enter")
            await wait_until(pilot, lambda: "prompt: not in the vocabulary" in message_of(app))
            assert "∑" in message_of(app) and generator.text == ""
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.focused is not prompt)
            assert isinstance(app.focused, SamplesPane)

    run(scenario())


BAD_VALUES = [
    ("gen-length", "0", "len: 1-10,000"),
    ("gen-length", "abc", "len: 1-10,000"),
    ("gen-length", "10001", "len: 1-10,000"),
    ("gen-temperature", "abc", "temp: a number >= 0"),
    ("gen-temperature", "-1", "temp: a number >= 0"),
    ("gen-top-p", "0", "top-p: in (0, 1]"),
    ("gen-top-p", "1.5", "top-p: in (0, 1]"),
    ("gen-top-p", "x", "top-p: in (0, 1]"),
    ("gen-seed", "x", "seed: 0 to 2**63-1 or empty"),
    ("gen-seed", "-3", "seed: 0 to 2**63-1 or empty"),
    ("gen-count", "0", "n: 1-10"),
]


def test_every_bad_generator_value_is_named_and_clears_the_output(session_factory):
    session = session_factory(target=0)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24)) as pilot:
            generator, prompt = await open_generator(pilot)
            length = app.query_one("#gen-length", Input)
            length.value = "10000"
            await pilot.pause(0.05)
            assert re.search(r"len\s*10000(?!\d)", screen_text(app))  # shown whole
            for field, value, named in BAD_VALUES:
                length.value = "20"
                prompt.focus()
                await pilot.press("enter")
                await wait_until(pilot, lambda: len(generator.text) == 20 and not generator.running)
                box = app.query_one(f"#{field}", Input)
                good, box.value = box.value, value
                await pilot.press("enter")
                await wait_until(pilot, lambda n=named: n in message_of(app))
                assert box.has_class("-invalid")
                assert generator.text == "" and generator.request is None  # the old text went
                assert generator.outputs == [] and not app.query(".gen-sample")
                box.value = good

    run(scenario())


def test_enter_generates_from_every_field_and_space_ticks_best(session_factory):
    session = session_factory(target=0)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            generator, prompt = await open_generator(pilot)
            app.query_one("#gen-length", Input).value = "5"
            best = app.query_one("#gen-best")
            done = 0
            for field in ("#gen-prompt", "#gen-length", "#gen-temperature", "#gen-top-p"):
                app.query_one(field).focus()
                await pilot.press("enter")
                done += 1
                await wait_until(pilot, lambda d=done: generator.generation == d)
            for field in ("#gen-seed", "#gen-count", "#gen-best"):
                app.query_one(field).focus()
                await pilot.press("enter")
                done += 1
                await wait_until(pilot, lambda d=done: generator.generation == d)
            assert best.value is False  # Enter on the box generated, it did not tick it
            await pilot.press("space")
            assert best.value is True
            await wait_until(pilot, lambda: not generator.running)

    run(scenario())


def test_several_samples_with_headers_seeds_as_the_cli_and_a_header_that_stays(
    session_factory, capsys
):
    from tui_rnn import cli

    session = session_factory(target=0)
    texts = {}

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            generator, prompt = await open_generator(pilot)
            app.query_one("#gen-length", Input).value = "2000"
            app.query_one("#gen-seed", Input).value = "5"
            app.query_one("#gen-count", Input).value = "3"
            app.query_one("#gen-top-p", Input).value = "0.9"
            prompt.value = "the"
            await pilot.press("enter")
            await wait_until(pilot, lambda: not generator.running and len(generator.text) == 6000)
            header = str(app.query_one("#gen-header").render())
            for part in ("current model, iter 0", "temperature 1", "top-p 0.9", "seeds 5-7"):
                assert part in header
            assert "prompt the ·" in header
            output = "".join(str(o.render()) for o in generator.outputs)
            for n in (1, 2, 3):
                assert f"sample {n} of 3 · seed {n + 4}" in output
            # the output shows its start (ctrl+s saves the rest); the header is in view above it
            await pilot.pause(0.1)
            scroll = app.query_one("#gen-scroll")
            assert scroll.scroll_y == 0 and scroll.max_scroll_y > 0
            box = app.query_one("#generator-box").region
            assert box.contains_region(app.query_one("#gen-header").region)
            texts.update({i: "".join(parts) for i, parts in enumerate(generator.samples)})

    run(scenario())
    # each sample is what `tui-rnn generate RUN --seed S` writes
    for index, seed in enumerate((5, 6, 7)):
        argv = ["generate", str(session.run_dir), "--prompt", "the", "--length", "2000"]
        assert cli.main(argv + ["--seed", str(seed), "--top-p", "0.9"]) == 0
        assert capsys.readouterr().out == "the" + texts[index] + "\n"


def test_ctrl_s_appends_the_text_with_its_header_and_never_through_a_symlink(
    session_factory, tmp_path
):
    session = session_factory(target=0)
    notes = Notes()
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("untouched")

    async def scenario():
        app = make_app(session, generation_seed=3)
        async with app.run_test(size=(100, 30), message_hook=notes) as pilot:
            generator, prompt = await open_generator(pilot)
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: "nothing to save yet" in message_of(app))
            app.query_one("#gen-length", Input).value = "40"
            prompt.value = "of"
            await pilot.press("enter")
            await wait_until(pilot, lambda: len(generator.text) == 40 and not generator.running)
            first = generator.text
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: notes.any("generated.txt"))
            await pilot.press("enter")  # seed 4 this time (the next one)
            await wait_until(pilot, lambda: "seed 4" in str(app.query_one("#gen-header").render()))
            await wait_until(pilot, lambda: len(generator.text) == 40 and not generator.running)
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: len(notes) >= 2)
            saved = (session.run_dir / "generated.txt").read_text()
            assert saved.count("# current model, iter 0") == 2 and 'prompt "of"' in saved
            assert "## sample 1 of 1 · seed 3\nof" + first + "\n" in saved
            assert saved.endswith("## sample 1 of 1 · seed 4\nof" + generator.text + "\n\n")
            # a symlink put in its place is refused, and what it points to is left alone
            (session.run_dir / "generated.txt").rename(tmp_path / "saved.txt")
            (session.run_dir / "generated.txt").symlink_to(elsewhere)
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: notes.any("symbolic link"))

    run(scenario())
    assert elsewhere.read_text() == "untouched"


# -- gradient check -------------------------------------------------------------------------------
def test_gradcheck_at_init_on_start_then_r_checks_the_current_model(session_factory):
    session = session_factory(target=150)

    async def scenario():
        app = make_app(session, gradcheck_on_start=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: gradcheck_finished(app))
            pane = app.main.gradcheck_pane
            assert pane.model == "at init"
            for method in ("central", "complex"):
                assert len(pane.rows[method]) == 5 * 2  # 5 parameters x 2 lengths
                assert "passed" in pane.summaries[method].plain
            assert float(str(pane.table.get_cell("central-W-max", "10"))) < 1e-3
            at_init = pane.rows["complex"][("W", 10)].max_rel_error
            await train_to_done(pilot)
            await pilot.press("r")
            await wait_until(pilot, lambda: pane.model == "at iter 150")
            await wait_until(pilot, lambda: gradcheck_finished(app))
            assert "at iter 150" in str(app.query_one("#gradcheck-box").border_subtitle)
            assert pane.rows["complex"][("W", 10)].max_rel_error != at_init
            await app.workers.wait_for_complete()

    run(scenario())


def test_the_gradcheck_table_fits_the_pane(session_factory):
    session = session_factory(target=0)

    async def scenario():
        app = make_app(session, gradcheck_on_start=True, seq_lengths=(5, 10, 15, 25))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: gradcheck_finished(app))
            pane = app.main.gradcheck_pane
            assert pane.table.row_count == 10 and pane.max_scroll_y == 0  # all visible
            await pilot.resize_terminal(200, 60)
            await wait_until(pilot, lambda: pane.tall)
            assert pane.table.row_count == 20 and pane.max_scroll_y == 0  # max and sum rows
            for method in ("central", "complex"):
                status = app.query_one(f"#gc-{method}-status")
                assert status.size.height == 1  # the heading never breaks
            await pilot.resize_terminal(80, 24)
            await wait_until(pilot, lambda: not pane.tall)
            pane.focus()
            await pilot.press("m")
            assert pane.measure == "sum"
            row = pane.rows["central"][("U", 5)]
            shown = str(pane.table.get_cell("central-U-sum", "5"))
            assert shown == f"{row.sum_rel_error:.1e}".replace("e-0", "e-")
            await pilot.press("m")  # the report's own criteria (issue 13), labelled as such
            assert pane.measure == "report max"
            shown = str(pane.table.get_cell("central-U-report max", "5"))
            assert shown == f"{row.report_max_error:.1e}".replace("e-0", "e-")
            await pilot.press("m", "m")
            assert pane.measure == "max"
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, GradcheckTablesScreen))
            await wait_until(pilot, lambda: "threshold" in screen_text(app))
            assert "model at init" in screen_text(app)
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is app.main)

    run(scenario())


def test_failed_gradcheck_rows_are_marked(session_factory):
    session = session_factory(target=0)

    def broken(target, method, on_row, should_stop):
        from tui_rnn.gradcheck.check import GradcheckOptions, analytic_gradients, run_gradcheck

        def wrong(params, inputs, targets, h0):
            grads = analytic_gradients(params, inputs, targets, h0)
            grads.W[...] *= 1.5
            return grads

        return run_gradcheck(
            target.data,
            target.vocab_size,
            GradcheckOptions(
                hidden_size=target.config.hidden_size, seq_lengths=(5, 10), method=method
            ),
            on_row=on_row,
            analytic=wrong,
        )

    async def scenario():
        app = make_app(session, gradcheck=broken, gradcheck_on_start=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: gradcheck_finished(app))
            pane = app.main.gradcheck_pane
            assert "FAILED (W)" in pane.summaries["central"].plain
            assert pane.failed["central"] == 2  # W at both lengths
            assert "red" in str(pane.table.get_cell("central-W-max", "5").style)
            assert "green" in str(pane.table.get_cell("central-b-max", "5").style)

    run(scenario())


def test_a_gradcheck_error_is_shown_in_the_pane(session_factory):
    session = session_factory(target=0)

    def failing(target, method, on_row, should_stop):
        if method == "complex":
            raise ValueError("the complex step broke")
        return quick_gradcheck(target, method, on_row, should_stop)

    async def scenario():
        app = make_app(session, gradcheck=failing, gradcheck_on_start=True)
        async with app.run_test(size=(100, 30)) as pilot:
            pane = app.main.gradcheck_pane
            await wait_until(pilot, lambda: "failed" in pane.summaries["complex"].plain)
            assert "ValueError: the complex step broke" in pane.summaries["complex"].plain
            assert "passed" in pane.summaries["central"].plain
            assert app.is_running

    run(scenario())


def test_a_sampled_gradcheck_says_so_in_the_pane(session_factory):
    """A check over its time budget compares a sample of the entries: the pane must never
    show it as a check of every entry."""
    session = session_factory(target=0)

    def sampled(target, method, on_row, should_stop):
        report = quick_gradcheck(target, method, on_row, should_stop)
        return replace(report, checked_entries=64, total_entries=report.total_entries or 1000)

    async def scenario():
        app = make_app(session, gradcheck=sampled, gradcheck_on_start=True)
        async with app.run_test(size=(120, 40)) as pilot:
            pane = app.main.gradcheck_pane
            await wait_until(pilot, lambda: "passed" in pane.summaries["complex"].plain)
            for method in ("central", "complex"):
                assert "sampled 64 of" in pane.summaries[method].plain

    run(scenario())


def test_quitting_stops_a_running_gradcheck_and_generation_at_once(
    tmp_path, small_corpus, monkeypatch
):
    from tui_rnn.training import sampling
    from tui_rnn.training.options import TrainConfig

    continue_prompt = sampling.continue_prompt

    def slow_continue_prompt(*args, **kwargs):
        # 1 ms a character: the 100,000 asked for would take 100 s, so only a stop ends it
        # in time, however fast or loaded the machine is.
        for i in continue_prompt(*args, **kwargs):
            time.sleep(0.001)
            yield i

    monkeypatch.setattr(sampling, "continue_prompt", slow_continue_prompt)
    session = make_session(tmp_path / "run", small_corpus, TrainConfig(hidden_size=100), 0)
    stopped = []

    def endless(target, method, on_row, should_stop):
        while not should_stop():
            time.sleep(0.001)
        stopped.append(method)
        return quick_gradcheck(target, method, on_row, lambda: True)

    async def scenario():
        app = make_app(session, gradcheck=endless, gradcheck_on_start=True)
        async with app.run_test(size=(100, 30)) as pilot:
            generator, prompt = await open_generator(pilot)
            app.query_one("#gen-length", Input).value = "10000"
            app.query_one("#gen-count", Input).value = "10"
            await pilot.press("enter")
            await wait_until(pilot, lambda: len(generator.text) > 0)
            loop = asyncio.get_running_loop()
            started = loop.time()
            await send_keys(pilot, "ctrl+q")
            await app.workers.wait_for_complete()
            assert loop.time() - started < 2.0
            assert len(generator.text) < 100_000  # it did not run to the end
            assert stopped == ["central"]

    run(scenario())


# -- text from the corpus or the model -----------------------------------------------------------
HOSTILE = "\x1b]0;title\x07 \x1b[?1049l \r \x9b \u202e [red]x[/] [bold]"
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def test_corpus_and_model_text_never_reach_the_terminal_raw(tmp_path, tiny_config):
    from conftest import make_text

    from tui_rnn.training.corpus import from_text

    text = (make_text(4000) + HOSTILE) * 3
    corpus = from_text(text, name="evil[red]name\x1b[31m")
    config = replace(tiny_config, sample_length=400)
    session = make_session(tmp_path / "run", corpus, config, 60)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await train_to_done(pilot)
            await pilot.press("s")
            await wait_until(pilot, lambda: len(app.main.samples.samples) >= 3)
            generator, prompt = await open_generator(pilot)
            prompt.post_message(events.Paste("[red]x[/] "))  # markup, in the vocabulary
            app.query_one("#gen-length", Input).value = "300"
            await wait_until(pilot, lambda: prompt.value == "[red]x[/] ")
            await pilot.press("enter")
            await wait_until(pilot, lambda: len(generator.text) == 300 and not generator.running)
            assert CONTROLS.search(generator.text)  # the model wrote control characters
            main = screen_text(app)
            found = CONTROLS.search(main)
            assert not found, repr(main[found.start() - 80 : found.end() + 20])
            assert "[red]x[/]" in main and "␛" in main  # shown literally, made visible
            assert "evil[red]name␛[31m" in main  # the corpus name in the status line
            # every sample, opened in full
            pane = app.main.samples
            pane.focus()
            for index in range(len(pane.samples)):
                pane.highlighted = index
                await pilot.press("enter")
                await wait_until(pilot, lambda: isinstance(app.screen, SampleScreen))
                shown = screen_text(app)
                found = CONTROLS.search(shown)
                assert not found, repr(shown[found.start() - 80 : found.end() + 20])
                await pilot.press("escape")
                await wait_until(pilot, lambda: app.screen is app.main)
            samples = "".join(s.text for s in pane.samples)
            assert CONTROLS.search(samples)  # the model did write control characters
            # a pasted escape sequence is shown as symbols (and is not in the vocabulary)
            generator, prompt = await open_generator(pilot)
            prompt.value = ""
            prompt.post_message(events.Paste(HOSTILE))
            await wait_until(pilot, lambda: "␛" in prompt.value)
            await pilot.press("enter")
            await wait_until(pilot, lambda: "prompt: not in the vocabulary" in message_of(app))
            shown = screen_text(app)
            found = CONTROLS.search(shown)
            assert not found, repr(shown[found.start() - 80 : found.end() + 20])
            assert "'␛'" in message_of(app)

    run(scenario())


# -- divergence, help, resize, random keys -----------------------------------------------------
def test_divergence_restores_the_checkpoint_and_pauses(session_factory, monkeypatch):
    session = session_factory(target=10**6)
    trainer = session.trainer
    real_step = trainer.step
    notes = Notes()

    def step():
        if trainer.iteration == 180:
            raise DivergenceError(trainer.iteration + 1, float("nan"), trainer.config.eta)
        return real_step()

    monkeypatch.setattr(trainer, "step", step)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30), message_hook=notes) as pilot:
            await send_keys(pilot, "t")
            await wait_until(pilot, lambda: app.status.state == RunState.PAUSED)
            await wait_until(pilot, lambda: notes.any("diverged at iteration 181", "press T"))

    run(scenario())
    # samples fall due every 50 updates and each one saves: the last good state is iter 150
    assert trainer.iteration == 150
    assert np.isfinite(trainer.model.flat).all()


def test_f1_opens_and_closes_the_help_screen_which_shows_remapped_keys(session_factory):
    session = session_factory(target=0)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f1")
            # the screenshot once the help screen has rendered (not just been pushed)
            await wait_until(pilot, lambda: "tui-rnn: keys" in screen_text(app))
            assert isinstance(app.screen, HelpScreen)
            assert "ctrl+q" in screen_text(app) and "Everywhere" in screen_text(app)
            await pilot.press("f1")
            await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen))
            await pilot.press("question_mark")
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen))
            # every binding has an id: remapped, the new key works, the old one does not
            app.set_keymap({"tui-rnn.sample": "k"})
            await pilot.press("k")
            pane = app.main.samples
            await wait_until(pilot, lambda: len(pane.samples) == 1)
            await pilot.press("s")
            await pilot.pause(0.2)
            assert len(pane.samples) == 1
            await pilot.press("f1")
            await wait_until(pilot, lambda: "Main screen" in screen_text(app))
            assert re.search(r"\bk\s+a sample from the current model", screen_text(app))

    run(scenario())


def test_resize_reflows_the_panes(session_factory):
    session = session_factory(target=200)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await train_to_done(pilot)
            chart = app.main.chart
            await pilot.pause(0.3)
            small = chart.content_size.width
            await pilot.resize_terminal(200, 60)
            await pilot.pause(0.3)
            assert chart.content_size.width > small
            assert app.screen.has_class("-wide")
            lines = str(chart.render()).splitlines()
            assert max(len(line) for line in lines) >= chart.content_size.width - 2  # full width
            await pilot.resize_terminal(80, 24)
            await pilot.pause(0.3)
            assert chart.content_size.width == small
            # below 80x24: one line says so instead of a garbled layout
            for size in ((79, 30), (100, 23)):
                await pilot.resize_terminal(*size)
                await wait_until(pilot, lambda: "Generator" not in screen_text(app))
                assert "make the terminal at least 80x24" in screen_text(app)
            await pilot.resize_terminal(80, 24)
            await wait_until(pilot, lambda: "Generator" in screen_text(app))
            assert "make the terminal" not in screen_text(app)
            # a very long prompt and sample do not push the panes around
            app.query_one("#gen-prompt", Input).value = "the " * 1000
            app.query_one("#gen-length", Input).value = "3000"
            await pilot.press("g", "enter")
            generator = app.main.generator
            await wait_until(pilot, lambda: len(generator.text) == 3000)
            await pilot.pause(0.1)
            assert (
                app.query_one("#generator-box").size.height
                == app.query_one("#chart-box").size.height
            )

    run(scenario())


@pytest.mark.parametrize("count", [pytest.param(500, marks=pytest.mark.slow), 150])
def test_random_keys_raise_nothing(count, session_factory):
    session = session_factory(target=400)
    keys = (
        list("tpsbegrclyzufvmT")
        + ["escape", "f1", "enter", "tab", "shift+tab", "up", "down", "left", "right", "plus"]
        + ["pageup", "pagedown", "home", "end", "space", "backspace", "x", "1", "full_stop"]
        + ["minus", "ctrl+s"]
    )
    rng = random.Random(0)
    presses = [rng.choice(keys) for _ in range(count)]

    async def scenario():
        app = make_app(session, gradcheck_on_start=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await send_keys(pilot, *presses)
            await pilot.pause(0.1)
            assert app.is_running
            assert session.running  # the engine survived
        return app

    app = run(scenario())
    assert app.engine_error is None


def test_cli_builds_the_session_runs_the_app_and_unlocks(
    tmp_path, small_corpus_file, monkeypatch, capsys
):
    from tui_rnn import cli

    launched = []

    def fake_run(self):  # the real one needs a terminal; the session is what we check
        launched.append(self.session)
        if len(launched) == 2:  # the user saved (c): the run is made then
            self.session.run.save()

    monkeypatch.setattr(TuiRnnApp, "run", fake_run)
    run_dir = tmp_path / "cli-run"
    argv = [str(small_corpus_file), "--hidden", "8", "--iterations", "40", "--run-dir"]
    assert cli.main(argv + [str(run_dir)]) == 0
    (session,) = launched
    assert session.target == 40 and session.trainer.config.hidden_size == 8
    assert "no run directory was made" in capsys.readouterr().out
    assert not run_dir.exists()  # launch and quit leave nothing behind
    assert cli.main(argv + [str(run_dir)]) == 0
    assert f"tui-rnn --resume {run_dir}" in capsys.readouterr().out
    assert run_dir.resolve() not in rundir._held_locks  # the lock is released on the way out
    assert cli.main(["--resume", str(run_dir)]) == 0  # and the run can be opened again
    assert launched[2].trainer.iteration == 0


def test_an_unhandled_exception_in_the_app_exits_non_zero_with_the_run_saved(
    tmp_path, small_corpus_file, monkeypatch, capsys
):
    from textual.app import App

    from tui_rnn import cli

    real_run = App.run

    async def crash(pilot):  # the user saved, then something in the app raised
        pilot.app.session.run.save()
        pilot.app.call_next(lambda: 1 / 0)

    monkeypatch.setattr(
        TuiRnnApp, "run", lambda self: real_run(self, headless=True, auto_pilot=crash)
    )
    run_dir = tmp_path / "crashed"
    argv = [str(small_corpus_file), "--hidden", "8", "--iterations", "40", "--run-dir"]
    assert cli.main(argv + [str(run_dir)]) == 1
    out, err = capsys.readouterr()
    assert "ZeroDivisionError" in err  # Textual's traceback, then our line
    last = err.strip().splitlines()[-1]
    assert last.startswith("tui-rnn: error: the app stopped on an unexpected error")
    assert f"tui-rnn --resume {run_dir}" in last
    assert "done at" not in out and "saved at" not in out
    assert checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run_dir)) == 0
    assert run_dir.resolve() not in rundir._held_locks


def test_quitting_a_finished_run_says_how_to_train_further(
    tmp_path, small_corpus_file, monkeypatch, capsys
):
    from tui_rnn import cli

    raise_target = []

    def fake_run(self):  # the first run trains to its target, as `t` would
        run = self.session.run
        if raise_target:  # `t` on a finished run: the app raised the target
            run.set_target(iterations=run.trainer.iteration + 100)
        elif run.target == 30:
            while not run.done:
                run.train_slice()

    monkeypatch.setattr(TuiRnnApp, "run", fake_run)
    run_dir = tmp_path / "done-run"
    argv = [str(small_corpus_file), "--hidden", "8", "--iterations", "30", "--run-dir"]
    assert cli.main(argv + [str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "done at iter 30" in out and f"tui-rnn --resume {run_dir}" in out
    assert "t trains on past the target" in out
    assert cli.main(["--resume", str(run_dir), "--iterations", "60"]) == 0
    assert "saved at iter 30" in capsys.readouterr().out  # not done any more: 30 < 60
    raise_target.append(True)
    assert cli.main(["--resume", str(run_dir), "--iterations", "30"]) == 0
    assert "saved at iter 30" in capsys.readouterr().out  # the app's target, not the CLI's
    assert store_config.read_config(run_dir)["target_iterations"] == 130


def test_requests_after_the_engine_stopped_are_answered_not_left_waiting(tmp_path, small_corpus):
    """A generate request racing ctrl+q must not wait 30 s for a model copy that never comes."""
    from tui_rnn.training.options import TrainConfig

    session = make_session(tmp_path / "run", small_corpus, TrainConfig(hidden_size=4), 50)
    session.start(lambda message: None)
    session.shutdown().result(timeout=WAIT)
    assert session.wait_stopped(WAIT)
    late = session.model_copy()
    with pytest.raises(RuntimeError, match="stopped"):
        late.result(timeout=1)
    assert session.shutdown().result(timeout=1) is None


def test_the_gradcheck_pane_names_any_models_parameters(session_factory):
    """A stacked LSTM's check: rows W_x.0 ... c, not the report's b, c, U, W, V."""
    session = session_factory(target=0, cell="lstm", layers=2, hidden_size=4, sigma=None)
    names = tuple(session.trainer.spec.param_shapes())

    async def scenario():
        app = make_app(session, gradcheck_on_start=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: gradcheck_finished(app))
            pane = app.main.gradcheck_pane
            assert pane.parameters == names and names[0] == "W_x.0" and "W_h.1" in names
            assert {name for name, _ in pane.rows["complex"]} == set(names)
            row = pane.rows["complex"][("W_h.1", 5)]
            label = str(pane.table.get_cell(f"complex-W_h.1-{pane.measure}", "label"))
            assert label.startswith("cs W_h.1") and row.passed
            assert "passed" in pane.summaries["complex"].plain

    run(scenario())
