"""The Textual app, driven through Pilot: every key, the generator, divergence, resize, random
keys. Training is bounded (a tiny model, a few hundred updates) and each test waits for the
engine thread rather than sleeping a fixed time."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from textual import events
from textual.keys import _character_to_key

from tui_rnn import runs
from tui_rnn.app import TrainingSession, TuiRnnApp
from tui_rnn.app.generator_pane import GeneratorPane
from tui_rnn.app.gradcheck_pane import GradcheckPane
from tui_rnn.app.help_screen import HelpScreen
from tui_rnn.app.loss_chart import LossChart
from tui_rnn.app.samples_pane import SampleScreen, SamplesPane
from tui_rnn.app.session import thin_history
from tui_rnn.train import DivergenceError, Trainer

WAIT = 20.0  # seconds before a wait gives up (generous: CI machines can be slow)


def make_session(run_dir: Path, corpus, config, target: int, save_every: float = 10.0):
    run_dir = runs.prepare_run_dir(run_dir)
    trainer = Trainer(corpus.data, corpus.chars, config)
    runs.write_config(run_dir, config, corpus)
    runs.save_checkpoint(run_dir, trainer)
    return TrainingSession(trainer, corpus, run_dir, target, save_every=save_every)


def quick_gradcheck(session, method, on_row, should_stop):
    """The real gradient check on the first two lengths, with its time zeroed (snapshots)."""
    from tui_rnn.gradcheck import run_gradcheck

    config = session.trainer.config
    report = run_gradcheck(
        session.corpus.data,
        len(session.trainer.chars),
        hidden_size=config.hidden_size,
        sigma=config.sigma,
        seed=config.seed,
        seq_lengths=(5, 10),
        method=method,
        on_row=on_row,
        should_stop=should_stop,
    )
    return replace(report, seconds=0.0)


def make_app(session, **kwargs) -> TuiRnnApp:
    kwargs.setdefault("gradcheck", quick_gradcheck)
    kwargs.setdefault("seq_lengths", (5, 10))
    app = TuiRnnApp(session, **kwargs)
    app.animation_level = "none"  # Pilot waits for animations after every key
    return app


async def press(pilot, *keys: str) -> None:
    """Send keys like Pilot.press, without its wait for the process to go idle after each key
    (which never happens while the engine thread trains, so every key would cost a second)."""
    app = pilot.app
    for key in keys:
        char = key if len(key) == 1 else {"space": " ", "full_stop": "."}.get(key)
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)
        await asyncio.sleep(0.002)
    await pilot.pause(0.01)


async def wait_until(pilot, predicate, timeout: float = WAIT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {predicate.__doc__ or predicate}")
        await pilot.pause(0.02)


def gradcheck_finished(app) -> bool:
    pane = app.query_one(GradcheckPane)
    return all(
        "running" not in str(pane.query_one(f"#gc-{m}-status").render())
        for m in ("central", "complex")
    )


@pytest.fixture
def session_factory(tmp_path, small_corpus, tiny_config):
    def factory(target=300, name="run", **config_changes):
        config = replace(tiny_config, **config_changes)
        return make_session(tmp_path / name, small_corpus, config, target)

    return factory


def run(coroutine):
    return asyncio.run(coroutine)


# -- training keys --------------------------------------------------------------------------------
def test_t_trains_to_the_target_and_saves(session_factory):
    session = session_factory(target=300)

    async def scenario():
        app = make_app(session, gradcheck_on_start=False)
        async with app.run_test(size=(100, 30)) as pilot:
            assert app.check_action("pause", ()) is None  # nothing to pause yet
            assert app.check_action("train", ()) is True
            await press(pilot, "t")
            await wait_until(pilot, lambda: app.status.state == "done")
            assert app.check_action("train", ()) is None
            samples = app.query_one(SamplesPane).samples
            assert [s.iteration for s in samples] == list(range(0, 301, 50))
            assert app.query_one(LossChart).data.points == 300

    run(scenario())
    arrays = runs.load_checkpoint(session.run_dir)
    assert runs.checkpoint_iteration(arrays) == 300
    assert (session.run_dir / runs.SAMPLES_FILE).read_text().count("iter = ") == 7


def test_p_pauses_and_saves_then_t_resumes_and_ctrl_q_saves(session_factory):
    session = session_factory(target=10**8)

    async def scenario():
        app = make_app(session, gradcheck_on_start=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await press(pilot, "t")
            await wait_until(pilot, lambda: app.status.state == "training")
            await wait_until(pilot, lambda: app.status.iteration > 100)
            await press(pilot, "p")
            await wait_until(pilot, lambda: app.status.state == "paused")
            paused_at = session.trainer.iteration
            saved = runs.checkpoint_iteration(runs.load_checkpoint(session.run_dir))
            assert saved == paused_at
            await pilot.pause(0.2)
            assert session.trainer.iteration == paused_at  # really paused
            await press(pilot, "t")
            await wait_until(pilot, lambda: session.trainer.iteration > paused_at + 50)
            await press(pilot, "ctrl+q")
            await wait_until(pilot, lambda: not session.running)
        return app

    app = run(scenario())
    assert app.return_code == 0 or app.return_code is None
    saved = runs.checkpoint_iteration(runs.load_checkpoint(session.run_dir))
    assert saved == session.trainer.iteration > 150
    assert session.state == "paused"


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
        app = make_app(session, gradcheck_on_start=False)
        app._leave_now = left.append  # SIGHUP would end the process
        async with app.run_test(size=(100, 30)) as pilot:
            await press(pilot, "t")
            await wait_until(pilot, lambda: session.trainer.iteration > 100)
            os.kill(os.getpid(), signum)
            await wait_until(pilot, lambda: not session.running or unhandled)
            assert not unhandled
            if name == "SIGHUP":
                assert left == [128 + signum]
                await press(pilot, "ctrl+q")

    try:
        run(scenario())
    finally:
        signal.signal(signum, previous)
    saved = runs.checkpoint_iteration(runs.load_checkpoint(session.run_dir))
    assert saved == session.trainer.iteration > 100


def test_s_b_e_c_keys(session_factory):
    session = session_factory(target=120)

    async def scenario():
        app = make_app(session, gradcheck_on_start=False)
        async with app.run_test(size=(100, 30)) as pilot:
            assert app.check_action("export", ()) is None  # no history yet
            await press(pilot, "t")
            await wait_until(pilot, lambda: app.status.state == "done")
            pane = app.query_one(SamplesPane)
            before = len(pane.samples)
            await press(pilot, "s")
            await wait_until(pilot, lambda: len(pane.samples) == before + 1)
            assert len(pane.samples[-1].text) == session.trainer.config.sample_length
            await press(pilot, "b")
            await wait_until(pilot, lambda: isinstance(app.screen, SampleScreen))
            best = pane.samples[-1]
            assert best.best and len(best.text) == 1000
            assert best.header.startswith("best model, iter = ")
            await press(pilot, "escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, SampleScreen))
            await press(pilot, "e")
            csv_path = session.run_dir / "loss_history.csv"
            json_path = session.run_dir / "loss_history.json"
            await wait_until(pilot, lambda: csv_path.exists() and json_path.exists())
            await press(pilot, "c")
            await pilot.pause(0.2)
            messages = [n.message for n in app._notifications]
            assert any("loss_history.csv" in m and "loss_history.json" in m for m in messages)
            assert any("checkpoint" in m for m in messages)
            # Enter on the highlighted sample opens it in full.
            pane.focus()
            pane.highlighted = 0
            await press(pilot, "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, SampleScreen))
            assert app.screen.sample.iteration == 0
            await press(pilot, "escape")

    run(scenario())
    lines = (session.run_dir / "loss_history.csv").read_text().splitlines()
    assert len(lines) == 1 + 120
    document = json.loads((session.run_dir / "loss_history.json").read_text())
    assert document  # the export module's layout; its own tests check the contents
    # the best-model sample and the s sample are both in samples.txt, and saved with the run
    assert (session.run_dir / runs.SAMPLES_FILE).read_text().count("best model, iter = ") == 1


# -- generator ------------------------------------------------------------------------------------
def test_g_prompt_enter_streams_a_continuation_and_escape_leaves(session_factory):
    session = session_factory(target=50)

    async def scenario():
        app = make_app(session, gradcheck_on_start=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await press(pilot, "g")
            prompt = app.query_one("#gen-prompt")
            await wait_until(pilot, lambda: app.focused is prompt)
            generator = app.query_one(GeneratorPane)
            app.query_one("#gen-length").value = "123"
            await press(pilot, *"the ", "enter")
            await wait_until(pilot, lambda: not generator.running and len(generator.text) == 123)
            assert set(generator.text) <= set(session.trainer.chars)
            # an unknown character is named, nothing is generated
            prompt.value = "the ∑"
            await press(pilot, "enter")

            def message():
                return str(app.query_one("#gen-message").render())

            await wait_until(pilot, lambda: "not in the model's vocabulary" in message())
            assert "∑" in message()
            assert len(generator.text) == 123
            # a bad temperature is named too
            prompt.value = "the"
            app.query_one("#gen-temperature").value = "-1"
            await press(pilot, "enter")
            await wait_until(pilot, lambda: "temperature" in message())
            await press(pilot, "escape")
            await wait_until(pilot, lambda: app.focused is not prompt)
            assert app.check_action("leave_prompt", ()) is None

    run(scenario())


def test_generation_is_reproducible_for_a_seed(session_factory):
    texts = []
    for name in ("a", "b"):
        session = session_factory(target=0, name=name)

        async def scenario(session=session):
            app = make_app(session, gradcheck_on_start=False, generation_seed=7)
            async with app.run_test(size=(100, 30)) as pilot:
                await press(pilot, "g", *"of", "enter")
                generator = app.query_one(GeneratorPane)
                await wait_until(pilot, lambda: len(generator.text) == 300)
                texts.append(generator.text)

        run(scenario())
    assert texts[0] == texts[1]


# -- gradient check -------------------------------------------------------------------------------
def test_gradcheck_fills_both_tables_and_r_reruns(session_factory):
    session = session_factory(target=0)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: gradcheck_finished(app))
            pane = app.query_one(GradcheckPane)
            for method in ("central", "complex"):
                assert pane.rows_done[method] == 5 * 2  # 5 parameters x 2 lengths
                assert "passed" in str(pane.query_one(f"#gc-{method}-status").render())
                cell = pane.table(method).get_cell("W-max", "10")
                assert float(str(cell)) < 1e-3
            first = app._gradcheck_run
            await press(pilot, "r")
            await wait_until(pilot, lambda: app._gradcheck_run == first + 1)
            await wait_until(pilot, lambda: gradcheck_finished(app))
            assert pane.rows_done["complex"] == 10

    run(scenario())


def test_failed_gradcheck_rows_are_marked(session_factory):
    session = session_factory(target=0)

    def broken(session, method, on_row, should_stop):
        from tui_rnn.gradcheck import analytic_gradients, run_gradcheck

        def wrong(params, inputs, targets, h0):
            grads = analytic_gradients(params, inputs, targets, h0)
            grads.W[...] *= 1.5
            return grads

        config = session.trainer.config
        return run_gradcheck(
            session.corpus.data,
            len(session.trainer.chars),
            hidden_size=config.hidden_size,
            seq_lengths=(5, 10),
            method=method,
            on_row=on_row,
            analytic=wrong,
        )

    async def scenario():
        app = make_app(session, gradcheck=broken)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: gradcheck_finished(app))
            pane = app.query_one(GradcheckPane)
            assert "FAILED" in str(pane.query_one("#gc-central-status").render())
            assert pane.failed["central"] == 2  # W at both lengths
            assert "red" in str(pane.table("central").get_cell("W-max", "5").style)
            assert "green" in str(pane.table("central").get_cell("b-max", "5").style)

    run(scenario())


# -- divergence, help, resize, random keys -----------------------------------------------------
def test_divergence_restores_the_checkpoint_and_pauses(session_factory, monkeypatch):
    session = session_factory(target=10**6)
    trainer = session.trainer
    real_step = trainer.step

    def step():
        if trainer.iteration == 180:
            raise DivergenceError(trainer.iteration + 1, float("nan"), trainer.config.eta)
        return real_step()

    monkeypatch.setattr(trainer, "step", step)

    async def scenario():
        app = make_app(session, gradcheck_on_start=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await press(pilot, "t")
            await wait_until(pilot, lambda: app.status.state == "paused")
            await pilot.pause(0.05)
            messages = [n.message for n in app._notifications]
            assert any("diverged at iteration 181" in m and "--eta" in m for m in messages)

    run(scenario())
    # samples fall due every 50 updates and each one saves: the last good state is iter 150
    assert trainer.iteration == 150
    assert np.isfinite(trainer.params.flat).all()


def test_f1_opens_and_closes_the_help_screen(session_factory):
    session = session_factory(target=0)

    async def scenario():
        app = make_app(session, gradcheck_on_start=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await press(pilot, "f1")
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
            screen_text = app.export_screenshot().replace("&#160;", " ")
            assert "ctrl+q" in screen_text and "Gradient check" in screen_text
            await press(pilot, "f1")
            await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen))
            await press(pilot, "f1")
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
            await press(pilot, "escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen))

    run(scenario())


def test_command_palette_offers_the_actions(session_factory):
    session = session_factory(target=100)

    async def scenario():
        app = make_app(session, gradcheck_on_start=False)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.1)
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert any(t.startswith("Train") for t in titles)
            assert not any(t.startswith("Pause") for t in titles)  # greyed keys are left out

    run(scenario())


def test_resize_reflows_the_panes(session_factory):
    session = session_factory(target=200)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await press(pilot, "t")
            await wait_until(pilot, lambda: app.status.state == "done")
            chart = app.query_one(LossChart)
            await pilot.pause(0.3)
            small = chart.content_size.width
            assert app.query_one("KeysFooter").has_class("-narrow")
            await pilot.resize_terminal(200, 60)
            await pilot.pause(0.3)
            assert chart.content_size.width > small
            assert app.query_one("#panes").has_class("-wide")
            assert app.query_one(GradcheckPane).has_class("-wide")
            assert not app.query_one("KeysFooter").has_class("-narrow")
            lines = str(chart.render()).splitlines()
            assert max(len(line) for line in lines) > small  # redrawn at the new width
            await pilot.resize_terminal(80, 24)
            await pilot.pause(0.3)
            assert chart.content_size.width == small
            # a very long prompt and sample do not push the panes around
            app.query_one("#gen-prompt").value = "the " * 2000
            app.query_one("#gen-length").value = "5000"
            await press(pilot, "g", "enter")
            generator = app.query_one(GeneratorPane)
            await wait_until(pilot, lambda: len(generator.text) == 5000)
            await pilot.pause(0.1)
            assert (
                app.query_one("#generator-box").size.height
                == app.query_one("#chart-box").size.height
            )

    run(scenario())


def test_500_random_keys_raise_nothing(session_factory):
    session = session_factory(target=400)
    keys = (
        list("tpsbegrcq")
        + ["escape", "f1", "enter", "tab", "shift+tab", "up", "down", "left", "right"]
        + ["pageup", "pagedown", "home", "end", "space", "backspace", "x", "1", "full_stop"]
    )
    rng = random.Random(0)
    presses = [rng.choice(keys) for _ in range(500)]

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await press(pilot, *presses)
            await pilot.pause(0.1)
            assert app.is_running
            assert session.running  # the engine survived
        return app

    app = run(scenario())
    assert app.engine_error is None


def test_thin_history_keeps_extremes_and_the_last_point():
    values = np.linspace(10, 0, 100_001).astype(np.float32)
    values[12_345] = 50.0  # a spike
    values[77_777] = -5.0  # the best point
    x, y = thin_history(values, 200)
    assert len(x) <= 2 * 200 + 1
    assert 50.0 in y and -5.0 in y
    assert x[-1] == len(values) and y[-1] == values[-1]
    assert np.all(np.diff(x) > 0)
    short_x, short_y = thin_history(values[:50], 200)
    assert short_x.tolist() == list(range(1, 51))


def test_cli_builds_the_session_runs_the_app_and_unlocks(
    tmp_path, small_corpus_file, monkeypatch, capsys
):
    from tui_rnn import cli

    launched = []

    def fake_run(self):  # the real one needs a terminal; the session is what we check
        launched.append(self.session)

    monkeypatch.setattr(TuiRnnApp, "run", fake_run)
    run_dir = tmp_path / "cli-run"
    argv = [
        str(small_corpus_file),
        "--hidden",
        "8",
        "--iterations",
        "40",
        "--run-dir",
        str(run_dir),
    ]
    assert cli.main(argv) == 0
    (session,) = launched
    assert session.target == 40 and session.trainer.config.hidden_size == 8
    assert f"tui-rnn --resume {run_dir}" in capsys.readouterr().out
    assert run_dir.resolve() not in runs._held_locks  # the lock is released on the way out
    assert cli.main(["--resume", str(run_dir)]) == 0  # and the run can be opened again
    assert launched[1].trainer.iteration == 0


def test_quitting_a_finished_run_says_how_to_train_further(
    tmp_path, small_corpus_file, monkeypatch, capsys
):
    from tui_rnn import cli

    def fake_run(self):  # the first run trains to its target, as `t` would
        if self.session.target == 30:
            self.session.trainer.train(self.session.target)
            runs.save_checkpoint(self.session.run_dir, self.session.trainer)

    monkeypatch.setattr(TuiRnnApp, "run", fake_run)
    run_dir = tmp_path / "done-run"
    argv = [
        str(small_corpus_file),
        "--hidden",
        "8",
        "--iterations",
        "30",
        "--run-dir",
        str(run_dir),
    ]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "done at iter 30" in out and f"tui-rnn --resume {run_dir} --iterations " in out
    more = int(out.split("--iterations ")[1].split()[0])
    assert more > 30
    assert cli.main(["--resume", str(run_dir), "--iterations", str(more)]) == 0
    assert "continue with" in capsys.readouterr().out  # not done any more: 30 < target


def test_requests_after_the_engine_stopped_are_answered_not_left_waiting(tmp_path, small_corpus):
    """A generate request racing ctrl+q must not wait 30 s for a model copy that never comes."""
    from tui_rnn.train import TrainConfig

    session = make_session(tmp_path / "run", small_corpus, TrainConfig(hidden_size=4), 50)
    session.start(lambda message: None)
    session.shutdown().result(timeout=WAIT)
    assert session.wait_stopped(WAIT)
    late = session.model_copy()
    with pytest.raises(RuntimeError, match="stopped"):
        late.result(timeout=1)
    assert session.shutdown().result(timeout=1) is None
