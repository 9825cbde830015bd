"""Make the README's screenshot (assets/screenshot.svg) with the app itself.

    python scripts/screenshot.py                      # writes assets/screenshot.svg
    python scripts/screenshot.py --output /tmp/s.svg --updates 3000

The real app runs headless (Textual's `App.run_test`) at 120x40 on the built-in corpus and the
report's model (seed 0), in a temporary working directory with a fixed run directory name
(runs/demo). It checks the model's gradient at initialisation as it always does on start, trains
a fixed number of updates on its own engine thread (`t`, then wait for `done`), writes two samples
from the prompt "ROMEO:" with seeds 1 and 2 in the generator, then focuses the loss chart, so the
Footer shows the chart's keys. The SVG is `App.export_screenshot`.

What is the same on every run of this script on an x86-64 machine with AVX2 (tui_rnn/blas.py
pins the kernels): the training, the samples, the generated text, the chart, the tables. What
is not: the status line's training time and speed would differ on every run, so the app is
started with `show_rate=False`, which shows them as `time –` and `– chars/s`; the gradient
check's two durations in the top-left pane ("passed, 0.7 s") are real timings and vary (and
with them the SVG's class names, which Rich derives from the content).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the checkout's tui_rnn, not an installed copy

import tui_rnn  # noqa: E402, F401  first: it pins the kernels before NumPy loads (blas.py)

# isort: split
from textual.widgets import Input  # noqa: E402

from tui_rnn.app import TrainingSession, TuiRnnApp  # noqa: E402
from tui_rnn.app.messages import RunState  # noqa: E402
from tui_rnn.driver import Run  # noqa: E402
from tui_rnn.training.corpus import builtin_corpus  # noqa: E402
from tui_rnn.training.options import TrainConfig  # noqa: E402
from tui_rnn.training.trainer import Trainer  # noqa: E402

SIZE = (120, 40)
UPDATES = 10_000
SAMPLE_EVERY = 2_000  # a few samples in the samples pane
RUN_DIR = Path("runs/demo")
PROMPT = "ROMEO:"
WAIT = 300.0  # seconds before a wait gives up (training on a loaded machine)


async def wait_until(pilot, predicate, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not predicate():
        if loop.time() > deadline:
            raise SystemExit(f"screenshot: timed out waiting for {what}")
        await pilot.pause(0.05)


async def still_screen(pilot) -> str:
    """The screenshot once two taken half a second apart are the same (the chart redraws on a
    timer, the generator's text is laid out after it arrives)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    before = pilot.app.export_screenshot()
    while True:
        await pilot.pause(0.5)
        now = pilot.app.export_screenshot()
        if now == before:
            return now
        if loop.time() > deadline:
            raise SystemExit("screenshot: the screen never stopped changing")
        before = now


def gradcheck_finished(app: TuiRnnApp) -> bool:
    summaries = app.main.gradcheck_pane.summaries
    return all(
        method in summaries and "running" not in summaries[method].plain
        for method in ("central", "complex")
    )


async def take(updates: int) -> str:
    """The screenshot's SVG, with the working directory already a temporary one."""
    corpus = builtin_corpus()
    config = replace(TrainConfig(), sample_every=SAMPLE_EVERY)
    trainer = Trainer(corpus.data, corpus.chars, config)
    session = TrainingSession(Run.new(trainer, corpus, RUN_DIR, updates))
    app = TuiRnnApp(session, show_rate=False, generation_seed=1)
    app.animation_level = "none"
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: gradcheck_finished(app), "the gradient check")
            await pilot.press("t")
            await wait_until(pilot, lambda: app.status.state == RunState.DONE, "training")
            await pilot.press("g")
            app.query_one("#gen-prompt", Input).value = PROMPT
            app.query_one("#gen-count", Input).value = "2"
            await pilot.press("enter")
            generator = app.main.generator
            await wait_until(pilot, lambda: len(generator.text) > 0 and not generator.running,
                             "the generator")  # fmt: skip
            await pilot.press("escape", "l")
            app.clear_notifications()
            return await still_screen(pilot)
    finally:
        session.shutdown().result(timeout=WAIT)
        session.run.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "assets" / "screenshot.svg")
    parser.add_argument("--updates", type=int, default=UPDATES, help=f"({UPDATES:,})")
    args = parser.parse_args(argv)
    output = args.output.resolve()
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="tui-rnn-screenshot-") as work:
        os.chdir(work)  # the run directory is made there: relative, as a user sees it
        try:
            svg = asyncio.run(take(args.updates))
        finally:
            os.chdir(here)
    output.write_text(svg, encoding="utf-8")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
