"""The app's side of measuring and steering: the generator's stop string, n samples, top-k and
beam mode as `tui-rnn generate` writes them, its bits per character and surprise colours, and
the runs screen scoring the marked runs on a text as `tui-rnn eval` does."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import make_text
from test_app import make_app, open_generator, run, wait_until
from test_app_workspace import move_to, open_runs, trained_runs, workspace  # noqa: F401
from textual.widgets import DataTable, Input

from tui_rnn.app.screens.eval_screen import EvalScreen
from tui_rnn.app.widgets.generator_pane import SAMPLING_FIELDS, bits_per_char
from tui_rnn.cli import main
from tui_rnn.inspection import colours, scoring
from tui_rnn.inspection.output import palette_styles


def cli_samples(capsys, run_dir, tmp_path, *argv) -> list[dict]:
    """What `tui-rnn generate RUN ... --output x.jsonl` writes, one record per text."""
    out = tmp_path / "cli.jsonl"
    capsys.readouterr()
    assert main(["generate", str(run_dir), *map(str, argv), "--output", str(out)]) == 0
    return [json.loads(line) for line in out.read_text("utf-8").splitlines()]


def test_stop_n_and_top_k_write_what_the_cli_writes_with_bits_per_char(
    session_factory, capsys, tmp_path
):
    session = session_factory(target=0)
    state = {}

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            generator, prompt = await open_generator(pilot)
            for field, value in {
                "gen-length": "300",
                "gen-seed": "11",
                "gen-count": "3",
                "gen-top-k": "5",
                "gen-stop": "e",
            }.items():
                app.query_one(f"#{field}", Input).value = value
            prompt.value = "the"
            await pilot.press("enter")
            await wait_until(pilot, lambda: generator.request and not generator.running)
            state["texts"] = ["".join(parts) for parts in generator.samples]
            state["log_p"] = [list(v) for v in generator.log_probabilities]
            state["header"] = str(app.query_one("#gen-header").render())
            state["output"] = "".join(str(o.render()) for o in generator.outputs)

    run(scenario())
    records = cli_samples(
        capsys, session.run_dir, tmp_path,
        "--prompt", "the", "--length", 300, "--seed", 11, "-n", 3, "--top-k", 5, "--stop", "e",
    )  # fmt: skip
    assert state["texts"] == [r["text"] for r in records]
    assert any(len(t) < 300 for t in state["texts"])  # a stop string ended one early
    for log_p, record in zip(state["log_p"], records, strict=True):
        assert math.fsum(log_p) == pytest.approx(record["log_probability"], rel=1e-12)
        bits = bits_per_char(log_p)
        assert f"{bits:.3f} bits/char" in state["output"]
    overall = bits_per_char([v for values in state["log_p"] for v in values])
    assert f"{overall:.3f} bits/char" in state["header"]


def test_beam_mode_turns_the_sampling_fields_off_and_writes_the_search(
    session_factory, capsys, tmp_path
):
    session = session_factory(target=0)
    state = {}

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            generator, prompt = await open_generator(pilot)
            app.query_one("#gen-length", Input).value = "60"
            app.query_one("#gen-temperature", Input).value = "abc"  # off in beam mode
            beam = app.query_one("#gen-beam", Input)
            beam.value = "6"
            await pilot.pause(0.05)
            assert all(app.query_one(f"#{f}", Input).disabled for f in SAMPLING_FIELDS)
            prompt.value = "of"
            prompt.focus()
            await pilot.press("enter")
            await wait_until(pilot, lambda: generator.request and not generator.running)
            state["text"] = generator.text
            assert "beam search, 6 beams" in str(app.query_one("#gen-header").render())
            beam.value = "65"  # not a width: sampling again, and the bad fields said
            await pilot.pause(0.05)
            assert not any(app.query_one(f"#{f}", Input).disabled for f in SAMPLING_FIELDS)
            await pilot.press("enter")
            message = app.query_one("#gen-message")
            await wait_until(pilot, lambda: "beam: 1-64" in str(message.render()))
            assert "temp: a number >= 0" in str(message.render())

    run(scenario())
    [record] = cli_samples(
        capsys, session.run_dir, tmp_path, "--prompt", "of", "--length", 60, "--beam", 6
    )
    assert state["text"] == record["text"]


def test_colour_shows_each_characters_surprise_in_the_inspectors_colours(session_factory):
    session = session_factory(target=0)

    async def scenario():
        app = make_app(session)
        async with app.run_test(size=(100, 30)) as pilot:
            generator, prompt = await open_generator(pilot)
            app.query_one("#gen-length", Input).value = "80"
            await pilot.press("enter")
            await wait_until(pilot, lambda: generator.request and not generator.running)
            plain = generator.sample_text(0)
            assert not any(span.style in palette_styles("sequential") for span in plain.spans)
            app.query_one("#gen-colour").focus()
            await pilot.press("space")
            await wait_until(pilot, lambda: generator.colouring)
            shown = generator.sample_text(0)
            styles = palette_styles("sequential")
            bits = -np.asarray(generator.log_probabilities[0]) / math.log(2)
            expected = colours.shades(bits, 0.0, colours.MAX_BITS)
            start = len(shown.plain) - len(generator.text)
            for i in range(len(generator.text)):  # each character's span has its shade
                at = [s for s in shown.spans if s.start <= start + i < s.end and s.style in styles]
                assert len(at) == 1 and at[0].style == styles[expected[i]]
            assert "surprisal" in str(app.query_one("#gen-header").render())

    run(scenario())


def test_the_runs_screen_scores_the_marked_runs_on_a_text(workspace, tmp_path):  # noqa: F811
    text = tmp_path / "other.txt"
    text.write_text(make_text(3000, seed=21), encoding="utf-8")
    expected = scoring.evaluate_runs(["runs/a", "runs/b"], str(text))

    async def scenario():
        app = make_app(workspace)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await open_runs(pilot, 3)
            for name in ("b", "a"):
                await move_to(pilot, screen, name)
                await pilot.press("space")
            await pilot.press("e")
            await wait_until(pilot, lambda: isinstance(app.screen, EvalScreen))
            field = app.screen.query_one("#eval-text", Input)
            await wait_until(pilot, lambda: app.focused is field)
            field.value = str(text)
            await pilot.press("enter")
            table = app.screen.query_one("#eval-table", DataTable)
            await wait_until(pilot, lambda: table.row_count == 2)
            rows = [[str(c) for c in table.get_row_at(r)] for r in range(2)]
            for row, result in zip(rows, expected, strict=True):
                assert row[0] == result.run
                assert f"{result.score.bits_per_char:.4f}" in row
            # a text that cannot be read: one line under the form, no table change
            field.value = str(tmp_path / "missing.txt")
            field.focus()
            await pilot.press("enter")
            status = app.screen.query_one("#eval-status")
            await wait_until(pilot, lambda: "does not exist" in str(status.render()))
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, EvalScreen))

    run(scenario())
