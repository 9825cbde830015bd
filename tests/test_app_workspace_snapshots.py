"""Snapshots (80x24 and 120x40) of the runs screen, the comparison of two runs and the new-run
form, over the runs of tests/test_app_workspace.py's `workspace` (fixed names, seeds and file
times). Update with: pytest tests/test_app_workspace_snapshots.py --snapshot-update, then look
at the SVGs under tests/__snapshots__/."""

from __future__ import annotations

import pytest
from test_app import make_app, wait_until
from test_app_workspace import move_to, open_runs, trained_runs, workspace  # noqa: F401 (fixtures)

from tui_rnn.app.screens.compare_screen import CompareScreen
from tui_rnn.app.screens.new_run_screen import NewRunScreen, TextFileTree

SIZES = [(80, 24), (120, 40)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_runs_screen(snap_compare, workspace, size):  # noqa: F811
    async def run_before(pilot):
        await open_runs(pilot, 3)
        await pilot.pause(0.1)

    assert snap_compare(make_app(workspace), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_comparing_two_runs(snap_compare, workspace, size):  # noqa: F811
    async def run_before(pilot):
        screen = await open_runs(pilot, 3)
        for name in ("a", "b"):
            await move_to(pilot, screen, name)
            await pilot.press("space")
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, CompareScreen))
        chart = pilot.app.screen.chart
        await wait_until(pilot, lambda: chart.data is not None and chart.data.bins == chart.bins)
        screen = pilot.app.screen

        def offers_validation() -> bool:
            shown = screen.active_bindings.values()
            return any(b.binding.action == "toggle_validation" and b.enabled for b in shown)

        await wait_until(pilot, offers_validation)
        await pilot.pause(0.1)

    assert snap_compare(make_app(workspace), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_new_run_form(snap_compare, workspace, size):  # noqa: F811
    async def run_before(pilot):
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, NewRunScreen))
        form = pilot.app.screen
        tree = form.query_one(TextFileTree)
        await wait_until(pilot, lambda: len(tree.root.children) == 2)
        form.query_one("#new-batch").value = "0"  # an inline error
        await wait_until(pilot, lambda: "--batch" in str(form.query_one("#new-message").render()))
        await pilot.pause(0.1)

    assert snap_compare(make_app(workspace), terminal_size=size, run_before=run_before)
