"""The inspector's costs, side by side in one run (the figures of docs/performance.md).

    python benchmarks/bench_inspect.py [CORPUS] [--rounds 15] [--updates 3000]

The report's model (vanilla RNN, m = 100, float64), trained for --updates updates on CORPUS
(the built-in tinyshakespeare by default) so that its probabilities and colours are realistic.

(1) A 2,000-character passage, each step timed on its own (best and median of --rounds):
    read      read_passage: the forward pass from a zero state, probabilities, surprisal, top-5
              and every unit's activation
    colours   the palette index of every character and its Rich style (what the app recolours)
    ansi      the Rich text of `tui-rnn inspect --format ansi`, rendered to a truecolor string
    widget    the app's passage view, headless at 120x40: its layout and every visible line
    neurons   every unit's Pearson r with every feature (Find neurons; not part of the render)
    The target: read + colours + ansi + widget under 50 ms.
(2) The health statistics' cost per update, timed directly: the observer's clock check (every
    update) plus one measurement twice a second (as the app does), against an update; and the
    bound when it measures after every update. Target: <= 2%. The same training with and
    without the monitor is also timed in alternating rounds, with a second plain trainer as a
    control: on a shared machine their spread (the noise) is far larger than the cost.
"""

from __future__ import annotations

import tui_rnn  # noqa: F401  first: it pins OpenBLAS's kernels before NumPy loads (blas.py)

# isort: split
import argparse
import asyncio
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from textual.app import App  # noqa: E402

from tui_rnn.app.widgets.passage_view import PassageView  # noqa: E402
from tui_rnn.inspection import colours as inspection_colours
from tui_rnn.inspection import neurons
from tui_rnn.inspection import passage as inspection_passage
from tui_rnn.inspection.output import Heading, ansi, palette_styles  # noqa: E402
from tui_rnn.safe import text  # noqa: E402
from tui_rnn.training.corpus import builtin_corpus, load_corpus  # noqa: E402
from tui_rnn.training.health import HealthMonitor, measure  # noqa: E402
from tui_rnn.training.options import TrainConfig
from tui_rnn.training.trainer import Trainer

LENGTH = 2000


def best_and_median(fn, rounds: int) -> tuple[float, float, object]:
    fn()  # warm up
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times), result


class Headless(App):
    def compose(self):
        yield PassageView()


def widget_times(passage, styles, rounds: int) -> list[float]:
    """show() (glyph widths and layout) plus render_line for every visible row, headless."""
    shown = [text.char(ch) for ch in passage.chars]
    glyphs = [shown[i] for i in passage.ids]
    breaks = [passage.chars[i] == "\n" for i in passage.ids]
    times = []

    async def run():
        app = Headless()
        async with app.run_test(size=(120, 40)) as pilot:
            view = app.query_one(PassageView)
            await pilot.pause()
            for _ in range(rounds + 1):
                started = time.perf_counter()
                view.show(glyphs, breaks, styles)
                for y in range(view.size.height):
                    view.render_line(y)
                times.append(time.perf_counter() - started)

    asyncio.run(run())
    return times[1:]


def health_overhead(trainer_factory, updates: int, rounds: int):
    """Seconds per update of two plain trainers (the second a control: their difference is the
    machine's noise) and one with the monitor, in rounds whose order alternates; one
    measurement's cost; the observer's clock check on the updates it does not measure."""
    plain, control, watched = trainer_factory(), trainer_factory(), trainer_factory()
    HealthMonitor(interval=0.5).attach(watched)
    times = {"without the monitor": [], "without (control)": [], "with it": []}
    sides = list(zip(times.values(), (plain, control, watched), strict=True))
    for k in range(rounds):
        for seconds, trainer in sides[:: 1 if k % 2 else -1]:
            target = trainer.iteration + updates
            started = time.perf_counter()
            trainer.train(target)
            seconds.append((time.perf_counter() - started) / updates)
    costs = []
    watched.on_update = lambda t, cache: costs.append(measure(t, cache).seconds)
    watched.train(watched.iteration + 300)
    idle = HealthMonitor(interval=1e9)
    idle.attach(watched)
    watched.train(watched.iteration + 1)  # its one measurement; from now on only the clock
    cache = watched.model.forward(watched.train_data[:25], watched.train_data[1:26], watched.state)[
        1
    ]
    calls = 100_000
    started = time.perf_counter()
    for _ in range(calls):
        idle.observe(watched, cache)
    return times, costs, (time.perf_counter() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--updates", type=int, default=3000)
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")  # as training and the app run
    corpus = load_corpus(args.corpus) if args.corpus else builtin_corpus()

    def trainer_factory():
        return Trainer(corpus.data, corpus.chars, TrainConfig(sample_every=10**9))

    trainer = trainer_factory()
    trainer.train(args.updates)
    model, chars = trainer.model, corpus.chars
    ids = corpus.data[100_000 : 100_000 + LENGTH]
    print(
        f"report's model, m = 100, after {args.updates:,} updates; a {LENGTH:,}-character passage"
    )
    print(f"{'':10}{'best':>10}{'median':>10}")
    rows = {}
    best, median, passage = best_and_median(
        lambda: inspection_passage.read_passage(model, ids, chars), args.rounds
    )
    rows["read"] = (best, median)
    styles = palette_styles("sequential")

    def colours():
        return [styles[k] for k in inspection_colours.Colouring().shades(passage).tolist()]

    best, median, char_styles = best_and_median(colours, args.rounds)
    rows["colours"] = (best, median)
    heading = Heading("runs/bench", "current model", "a passage")

    def ansi_text():
        out = io.StringIO()
        Console(file=out, force_terminal=True, color_system="truecolor", width=120).print(
            ansi(passage, inspection_colours.Colouring(), heading), soft_wrap=True
        )
        return out.getvalue()

    rows["ansi"] = best_and_median(ansi_text, args.rounds)[:2]
    times = widget_times(passage, char_styles, args.rounds)
    rows["widget"] = (min(times), statistics.median(times))
    rows["neurons"] = best_and_median(lambda: neurons.find_neurons(passage, 20), args.rounds)[:2]
    for name, (best, median) in rows.items():
        print(f"{name:10}{best * 1e3:>8.2f} ms{median * 1e3:>7.2f} ms")
    render = [sum(rows[k][i] for k in ("read", "colours", "ansi", "widget")) for i in (0, 1)]
    print(f"{'render':10}{render[0] * 1e3:>8.2f} ms{render[1] * 1e3:>7.2f} ms   (target < 50 ms)")

    print("\nhealth statistics, report's run (m = 100, B = 1), alternating rounds of 500 updates:")
    times, costs, check = health_overhead(trainer_factory, 500, 3 * args.rounds)
    for label, seconds in times.items():
        best, median = min(seconds), statistics.median(seconds)
        print(f"  update {label:21}{best * 1e6:8.1f} us best, {median * 1e6:.1f} median")
    a = statistics.median(times["without the monitor"])
    fastest = min(times["without the monitor"])
    one = statistics.median(costs)
    print(f"  the clock check, every update {check * 1e6:7.2f} us = {check / fastest:.3%} of one")
    print(
        f"  one measurement              {one * 1e6:8.1f} us = {one / a:.2f} updates; at most 2 "
        f"a second: {2 * one:.3%} of the training time"
    )
    print(
        f"  together: {check / fastest + 2 * one:.3%} per update (target <= 2%); measuring "
        f"after every update would cost {one / fastest:.1%}"
    )


if __name__ == "__main__":
    main()
