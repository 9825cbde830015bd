"""The chart's numbers without a screen: thinning, TensorBoard's smoothing, the y axis that
leaves out the initial drop, log scale, the recent window, the validation series, and what the
chart draws of them (figure.braille's own geometry is tested in test_figure.py)."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from tui_rnn.app.messages import ChartData
from tui_rnn.app.requests import ChartView
from tui_rnn.app.session import TrainingSession
from tui_rnn.app.widgets.loss_chart import (
    BEST_COLOR,
    EPOCH_COLOR,
    LOSS_COLOR,
    NO_DATA,
    SMOOTH_COLOR,
    VALIDATION_COLOR,
    ChartOptions,
    build_chart,
    chart_figure,
    y_range,
)
from tui_rnn.charts import figure
from tui_rnn.charts.curves import Smoother, ema, thin_history
from tui_rnn.driver import Run
from tui_rnn.training.history import LossHistory
from tui_rnn.training.options import TrainConfig
from tui_rnn.training.trainer import Trainer


def styles(text) -> set[str]:
    """The styles a chart's Rich Text uses (the series' colours among them)."""
    return {str(span.style) for span in text.spans}


def styled(text, style: str) -> str:
    """The characters drawn in `style`."""
    return "".join(text.plain[s.start : s.end] for s in text.spans if str(s.style) == style)


def cells(text, style: str) -> set[int]:
    """Where (offsets into the plain text) the characters drawn in `style` are."""
    return {i for s in text.spans if str(s.style) == style for i in range(s.start, s.end)}


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
    later_x, _ = thin_history(values[:50], 200, start=1000)
    assert later_x[0] == 1001


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.6, 0.9, 0.99, 0.999, 0.9999])
def test_ema_is_the_recurrence(weight):
    rng = np.random.default_rng(1)
    x = rng.normal(50, 5, 30_000)
    s, expected = 7.0, np.empty_like(x)
    for t, value in enumerate(x):
        s = weight * s + (1 - weight) * value
        expected[t] = s
    got = ema(x, weight, initial=7.0) if weight else ema(x, weight)
    if weight == 0.0:
        expected = x
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_smoother_is_debiased_and_incremental():
    rng = np.random.default_rng(2)
    x = rng.normal(40, 3, 10_000).astype(np.float32)
    smoother = Smoother(0.9)
    smoother.smooth(x[:100], source="a")
    smoother.smooth(x[:3_000], source="a")
    got = smoother.smooth(x, source="a")
    s, expected = 0.0, []
    for t, value in enumerate(x.astype(np.float64), start=1):
        s = 0.9 * s + 0.1 * value
        expected.append(s / (1 - 0.9**t))  # TensorBoard: no pull towards the zero start
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert got[0] == pytest.approx(x[0])
    # another series (a restored checkpoint) starts again
    again = smoother.smooth(x[:10] + 1, source="b")
    assert again[0] == pytest.approx(x[0] + 1)


def curve(n=10_000, start=105.0, plateau=48.0):
    """A loss curve: a fast drop from `start`, then a slow fall to about `plateau`."""
    t = np.arange(1, n + 1, dtype=np.float64)
    smooth = plateau + (start - plateau) * np.exp(-t / (0.004 * n)) + 4 * np.exp(-t / n)
    return t, smooth


def chart_data(n=10_000, **fields) -> ChartData:
    x, y = curve(n)
    return ChartData(
        iterations=x.tolist(),
        smooth_loss=y.tolist(),
        epoch_starts=[],
        best_iteration=n,
        best_smooth_loss=float(y[-1]),
        points=n,
        **fields,
    )


def test_the_y_axis_leaves_out_the_initial_drop_unless_asked():
    data = chart_data()
    low, high = y_range(data, ChartOptions())
    assert 47 < low < 50 and high < 60  # the part that matters fills the axis
    low, high = y_range(data, ChartOptions(full_y=True))
    assert high > 104  # the first loss, on request
    rows = build_chart(data, 80, 20).plain
    assert "105" not in rows
    assert "100┤" in build_chart(data, 80, 20, ChartOptions(full_y=True)).plain


def test_after_200k_updates_the_46_to_52_range_fills_most_of_the_axis():
    """The issue's case: smooth_loss starts at -log(1/65) * 25 = 104.4 and forgets it slowly
    (0.999 per update) while the loss itself falls to the high 40s."""
    n = 200_000
    t = np.arange(1, n + 1)
    loss = 46 + 14 * np.exp(-t / 3_000) + 6 * np.exp(-t / 60_000)
    smooth = ema(loss, 0.999, initial=104.4)
    x, y = thin_history(smooth.astype(np.float32), 100)
    data = ChartData(x.tolist(), y.tolist(), [], n, float(y.min()), n)
    low, high = y_range(data, ChartOptions())
    assert (52 - 46) / (high - low) > 0.5  # was 6 / 58: 3 rows of 13
    assert y_range(data, ChartOptions(full_y=True))[1] > 104


def test_the_noisy_loss_counts_by_its_percentiles():
    data = chart_data()
    x = np.asarray(data.iterations)
    rng = np.random.default_rng(0)
    loss = np.asarray(data.smooth_loss) + rng.normal(0, 3, len(x))
    loss[5_000] = 500.0  # one absurd update
    with_loss = ChartData(**{**data.__dict__, "loss_iterations": x.tolist(), "loss": loss.tolist()})
    low, high = y_range(with_loss, ChartOptions(loss=True))
    assert high < 100  # the spike does not flatten the curves


def test_log_y_plots_log10_labelled_in_loss_units():
    data = chart_data()
    plain = build_chart(data, 80, 24, ChartOptions(log_y=True, full_y=True)).plain
    labels = [float(v) for v in re.findall(r"^\s*([0-9.]+)┤", plain, re.MULTILINE)]
    assert labels and min(labels) >= 40 and max(labels) <= 110  # loss values, not log10s
    # the rows are spaced by log10: equal steps in loss are closer together higher up
    rows = {
        float(v): i
        for i, line in enumerate(plain.splitlines())
        for v in re.findall(r"^\s*([0-9.]+)┤", line)
    }
    ticks = sorted(rows)
    assert len(ticks) >= 3
    gaps = [rows[a] - rows[b] for a, b in zip(ticks, ticks[1:], strict=False)]
    assert gaps[0] > gaps[-1]  # linear ticks: equal gaps


def test_the_validation_series_is_drawn_when_there_is_one():
    data = chart_data(val_iterations=[2_000.0, 6_000.0, 10_000.0], val_loss=[52.0, 50.0, 49.5])
    assert VALIDATION_COLOR in styles(build_chart(data, 80, 20))
    assert VALIDATION_COLOR not in styles(build_chart(data, 80, 20, ChartOptions(validation=False)))
    assert VALIDATION_COLOR not in styles(build_chart(chart_data(), 80, 20))
    # its range counts
    high_val = chart_data(val_iterations=[9_000.0], val_loss=[70.0])
    assert y_range(high_val, ChartOptions())[1] > 70


def session_with_history(n=100_000) -> TrainingSession:
    rng = np.random.default_rng(0)
    t, smooth = curve(n)
    loss = (smooth + rng.normal(0, 2, n)).astype(np.float32)
    trainer = Trainer(np.zeros(1000, dtype=np.uint8), tuple("ab"), TrainConfig(hidden_size=4))
    trainer.history = LossHistory.from_arrays(loss, smooth.astype(np.float32), [0, n // 2])
    return TrainingSession(Run.new(trainer, None, ".", n, create=False))


def test_the_recent_window_follows_the_newest_and_the_loss_is_thinned_and_smoothed():
    session = session_with_history()
    session.chart_view = ChartView(bins=100, window=0.25, loss=True, smoothing=0.0)
    data = session.chart()
    assert data.first_iteration == 75_001 and data.iterations[-1] == 100_000
    assert len(data.iterations) <= 201 and len(data.loss) <= 201
    raw = session.trainer.history.loss[75_000:]
    assert max(data.loss) == pytest.approx(float(raw.max()))  # raw: its extremes are kept
    session.chart_view = ChartView(bins=100, window=1.0, loss=True, smoothing=0.99)
    smoothed = session.chart()
    assert smoothed.first_iteration == 1 and smoothed.loss_smoothing == 0.99
    assert max(smoothed.loss[len(smoothed.loss) // 2 :]) < float(raw.max())  # smoothed


def test_every_series_is_drawn_in_one_unit():
    """The training losses come per chunk of seq_length characters, the validation loss in
    nats per character: the chart converts both to the unit shown (k cycles it)."""
    import math

    from tui_rnn.app.messages import ChartData
    from tui_rnn.app.widgets.loss_chart import ChartOptions, in_unit

    data = ChartData(
        iterations=[1.0, 2.0],
        smooth_loss=[50.0, 40.0],
        epoch_starts=[],
        best_iteration=2,
        best_smooth_loss=40.0,
        points=2,
        val_iterations=[2.0],
        val_loss=[1.5],
        seq_length=25,
    )
    assert ChartOptions().unit_for(data) == "nats"  # a run with validation: per character
    nats = in_unit(data, "nats")
    assert (
        nats.smooth_loss == [2.0, 1.6] and nats.val_loss == [1.5] and nats.best_smooth_loss == 1.6
    )
    chunk = in_unit(data, "chunk")
    assert chunk.smooth_loss == [50.0, 40.0] and chunk.val_loss == [37.5]
    bits = in_unit(data, "bits")
    assert bits.val_loss == pytest.approx([1.5 / math.log(2)], rel=1e-15)
    no_validation = ChartData([1.0], [50.0], [], 1, 50.0, 1, seq_length=25)
    assert ChartOptions().unit_for(no_validation) == "chunk"  # the report's scale


def plot_rows(text) -> list[str]:
    """The chart's plot rows: what lies right of the y axis, above the x axis."""
    rows = []
    for line in text.plain.splitlines():
        if "└" in line:
            break
        rows.append(re.split("[│┤]", line, maxsplit=1)[1])
    return rows


def test_the_chart_draws_its_series_the_best_point_and_the_epoch_lines():
    n = 10_000
    data = replace(chart_data(n), epoch_starts=[5_000], best_iteration=8_000)
    data = replace(data, best_smooth_loss=data.smooth_loss[8_000 - 1])
    text = build_chart(data, 80, 20)
    plot = plot_rows(text)
    width = len(plot[0])
    assert len(plot) == 20 - 3  # the x axis, its labels and "iteration" below
    assert all(len(row) == width for row in plot)  # every row the full width
    assert text.plain.splitlines()[-1].strip() == "iteration"
    # the best model: one green dot in its column (8,000 of 0..10,000) and its row
    (best,) = [(r, row.index("●")) for r, row in enumerate(plot) if "●" in row]
    assert styled(text, BEST_COLOR) == "●"
    assert best[1] == int(0.8 * width)
    low, high = y_range(data, ChartOptions())
    assert best[0] == int((high - data.best_smooth_loss) / (high - low) * len(plot))
    # the epoch boundary: a grey line in the column of update 5,000, where no curve is
    column = int(0.5 * width)
    assert {row[column] for row in plot} <= {"│"} | {chr(c) for c in range(0x2800, 0x2900)}
    assert styled(text, EPOCH_COLOR).count("│") >= len(plot) - 2
    assert "┴" in text.plain  # where it meets the x axis
    # smooth_loss's start lies above the axis: the line leaves at the top and is not drawn there
    # (its first column is blank, not a line squeezed into the top row)
    assert plot[0][0] == " " and SMOOTH_COLOR in styles(text)
    # the x ticks are updates, 0 to 10k
    assert re.search(r"^\s*0\s+2k\s+4k\s+6k\s+8k\s+10k$", text.plain.splitlines()[-2])


def test_the_per_update_loss_lies_under_smooth_loss():
    data = chart_data()
    rng = np.random.default_rng(0)
    noisy = (np.asarray(data.smooth_loss) + rng.normal(0, 0.3, data.points)).tolist()
    data = replace(data, loss_iterations=data.iterations, loss=noisy)
    shown = chart_figure(data, ChartOptions(loss=True))
    assert [s.label for s in shown.series] == ["loss", "smooth_loss"]
    text = figure.braille(shown, 80, 20)
    assert text.plain == build_chart(data, 80, 20, ChartOptions(loss=True)).plain
    assert LOSS_COLOR in styles(text) and SMOOTH_COLOR in styles(text)
    # smooth_loss is drawn last: every cell it passes through is its colour, the loss around it
    alone = figure.braille(replace(shown, series=shown.series[1:]), 80, 20)  # the same axes
    assert LOSS_COLOR not in styles(alone)
    smooth = cells(alone, SMOOTH_COLOR)
    assert smooth and cells(text, SMOOTH_COLOR) == smooth
    assert cells(text, LOSS_COLOR) and not cells(text, LOSS_COLOR) & smooth


def test_no_updates_yet_and_a_tiny_chart():
    assert build_chart(None, 80, 20).plain == NO_DATA
    empty = ChartData([], [], [], 0, float("inf"), 0)
    assert build_chart(empty, 80, 20).plain == NO_DATA
    one = ChartData([1.0], [104.0], [], 1, 104.0, 1)
    tiny = build_chart(one, 3, 2)  # drawn at its minimum size, never an error
    assert "●" in tiny.plain and max(len(line) for line in tiny.plain.splitlines()) <= 20


def test_a_recent_window_cuts_the_validation_series_at_its_left_edge():
    """The validation loss comes for the whole run: under a chart of its recent part, its
    earlier points are cut off at the left edge, not piled up in the first column."""
    val_x = [float(i) for i in range(500, 10_001, 500)]
    data = chart_data(val_iterations=val_x, val_loss=np.linspace(4.0, 2.0, 20).tolist())
    window = replace(
        data,
        iterations=data.iterations[7_500:],
        smooth_loss=data.smooth_loss[7_500:],
        first_iteration=7_501,
    )
    shown = chart_figure(window, ChartOptions(unit="nats"))
    assert [s.label for s in shown.series] == ["validation", "smooth_loss"]
    validation = figure.braille(replace(shown, series=shown.series[:1]), 80, 20)
    rows = plot_rows(validation)
    assert sum(row[0] != " " for row in rows) == 1  # the line entering at x = 7,500
    assert "7.5k" in validation.plain.splitlines()[-2]  # the x axis starts at the window
