"""The braille chart and the raster under it (tui_rnn/figure.py), without the app: where a point
lands (cell and dot), dashed series, vertical lines, markers, log y, what lies outside the box.
The SVG and the text chart are tested byte for byte through the report's golden files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tui_rnn.charts import figure
from tui_rnn.charts.figure import Box, Figure, Marker, Series


def braille_dots(glyph: str) -> set[tuple[int, int]]:
    """The (row 0..3, column 0..1) dots of a braille character."""
    code = ord(glyph) - 0x2800
    assert 0 <= code < 256, glyph
    return {(r, c) for r in range(4) for c in range(2) if code & int(figure.BRAILLE_BITS[r, c])}


def plot(text) -> list[str]:
    """The rows right of the y axis, above the x axis."""
    rows = []
    for line in text.plain.splitlines():
        if "└" in line:
            break
        rows.append(line.split("│" if "│" in line.split("┤")[0] else "┤", 1)[1])
    return rows


def style_at(text, line: int, column: int) -> str | None:
    """The style of the character at (line, column) of the text."""
    offset = sum(len(row) + 1 for row in text.plain.split("\n")[:line]) + column
    found = [str(s.style) for s in text.spans if s.start <= offset < s.end]
    return found[-1] if found else None


def unit_figure(*series: Series, **fields) -> Figure:
    """x and y both from 0 to 8: on a chart of 8 x 8 plot cells, one cell per unit (2 x 4 dots)."""
    return Figure(series, x_label="", x_range=(0.0, 8.0), y_range=(0.0, 8.0), **fields)


# the chart is 10 x 10 cells: 8 plot rows (then the x axis and its labels), a 1-character y label
# margin and its axis, so 8 plot columns
WIDTH, HEIGHT = 10, 10


def test_the_geometry_of_a_small_chart():
    text = figure.braille(unit_figure(Series("a", [1.0], [7.0], "cyan")), WIDTH, HEIGHT)
    lines = text.plain.split("\n")
    assert len(lines) == HEIGHT
    # the y ticks: 0 and 5 (one per three rows, the round step 5) are too few for 8 rows, so
    # the next finer step, 2: 8, 6, 4, 2 at rows (8 - y) / 8 * 8; 0 would be below the last row
    assert [line[:2] for line in lines[:8]] == ["8┤", " │", "6┤", " │", "4┤", " │", "2┤", " │"]
    assert lines[8] == " └┬────┬──"  # ticks at x = 0 and 5 (columns 0 and 5)
    assert lines[9].split() == ["0", "5"]
    assert all(len(row) == 8 for row in plot(text))


def test_a_point_lands_in_its_cell_and_dot():
    # x = 1 of 0..8 is dot column 2 of 16: cell 1, its left dot; y = 7 is dot row
    # (8 - 7) / 8 * 32 = 4 of 32: cell row 1, its top dot
    text = figure.braille(unit_figure(Series("a", [1.0], [7.0], "cyan")), WIDTH, HEIGHT)
    rows = plot(text)
    drawn = [(r, c) for r, row in enumerate(rows) for c, ch in enumerate(row) if ch != " "]
    assert drawn == [(1, 1)]
    assert rows[1][1] == "⠁" and braille_dots(rows[1][1]) == {(0, 0)}
    assert style_at(text, 1, 2 + 1) == "cyan"  # "│" and the margin come first
    # x = 1.6 is dot column 3 (the cell's right one), y = 6.1 dot row 7 (its bottom one)
    text = figure.braille(unit_figure(Series("a", [1.6], [6.1])), WIDTH, HEIGHT)
    assert braille_dots(plot(text)[1][1]) == {(3, 1)}


def test_a_line_fills_every_dot_column_between_its_points():
    # a horizontal line at y = 4.9: dot row (8 - 4.9) / 8 * 32 = 12.4 -> 12, cell row 3, dot 0
    text = figure.braille(unit_figure(Series("a", [0.0, 8.0], [4.9, 4.9])), WIDTH, HEIGHT)
    rows = plot(text)
    assert rows[3] == "⠉" * 8  # both dots of the top row of every cell
    assert all(set(row) == {" "} for r, row in enumerate(rows) if r != 3)
    # a vertical jump is filled: from y = 7.9 to y = 0.1 in one column
    text = figure.braille(unit_figure(Series("a", [2.0, 2.1], [7.9, 0.1])), WIDTH, HEIGHT)
    assert [row[2] for row in plot(text)] == ["⡇"] * 8  # the left dot column, every row


def test_dashed_series_show_two_cells_of_every_four():
    solid = figure.braille(unit_figure(Series("a", [0.0, 8.0], [4.9, 4.9])), WIDTH, HEIGHT)
    dashed = figure.braille(
        unit_figure(Series("a", [0.0, 8.0], [4.9, 4.9], dashed=True)), WIDTH, HEIGHT
    )
    assert plot(solid)[3] == "⠉⠉⠉⠉⠉⠉⠉⠉"
    assert plot(dashed)[3] == "⠉⠉  ⠉⠉  "


def test_the_topmost_series_owns_a_cell():
    under = Series("under", [0.0, 8.0], [4.9, 4.9], "grey62")
    over = Series("over", [0.0, 8.0], [4.1, 4.1], "cyan")  # same cell row 3, its bottom dots
    text = figure.braille(unit_figure(under, over), WIDTH, HEIGHT)
    assert plot(text)[3] == "⣀" * 8  # only the top series' dots, not both
    assert {style_at(text, 3, 2 + c) for c in range(8)} == {"cyan"}
    text = figure.braille(unit_figure(over, under), WIDTH, HEIGHT)
    assert plot(text)[3] == "⠉" * 8 and style_at(text, 3, 2) == "grey62"


def test_vertical_lines_show_where_no_series_is_and_meet_the_x_axis():
    line = Series("a", [0.0, 8.0], [4.9, 4.9], "cyan")
    text = figure.braille(unit_figure(line, vlines=(6.0, 0.0, 9.0)), WIDTH, HEIGHT)
    rows = plot(text)
    # 6 of 0..8 is column 6; 0 (the left edge) and 9 (outside) draw nothing
    assert [row[6] for row in rows] == ["│", "│", "│", "⠉", "│", "│", "│", "│"]
    assert all(row.count("│") == (row[6] == "│") for row in rows)
    assert style_at(text, 0, 2 + 6) == "#999999"
    assert text.plain.split("\n")[8][2 + 6] == "┴"
    # on a tick column the axis shows both
    text = figure.braille(unit_figure(line, vlines=(5.0,)), WIDTH, HEIGHT)
    assert text.plain.split("\n")[8][2 + 5] == "┼"


def test_a_marker_sits_on_top_in_its_cell():
    line = Series("a", [0.0, 8.0], [4.9, 4.9], "cyan")
    best = Marker(5.5, 4.5, "green")
    text = figure.braille(unit_figure(line, markers=(best, Marker(20.0, 4.0))), WIDTH, HEIGHT)
    rows = plot(text)
    assert rows[3][5] == "●" and style_at(text, 3, 2 + 5) == "green"
    assert "".join(rows).count("●") == 1  # the one outside the box is not drawn


def test_a_line_leaving_the_box_stops_at_its_edge():
    """Above the y range (smooth_loss's start, left out of the axis) nothing is drawn, not a
    line squeezed into the top row."""
    area = Box(0.0, 8.0, 0.0, 8.0)
    grid = figure.raster([0.0, 2.0, 4.0, 8.0], [20.0, 20.0, 4.0, 4.0], area, 8, 8)
    assert not grid[:, :2].any()  # above the box: nothing
    assert grid[0, 2:4].any()  # the fall enters at the top
    assert grid[4, 4:].all() and grid.sum(axis=0)[5:].tolist() == [1, 1, 1]
    below = figure.raster([0.0, 8.0], [-5.0, -5.0], area, 8, 8)
    assert not below.any()
    # the bottom edge itself is in the box (its last row)
    assert figure.raster([0.0, 8.0], [0.0, 0.0], area, 8, 8)[7].all()
    # left and right of the box too: a line crossing an edge enters there at its own height
    # (a validation series of the whole run under a chart of its recent part)
    grid = figure.raster([-40.0, -8.0, 4.0, 16.0], [0.5, 0.5, 4.0, 7.5], area, 8, 8)
    assert not grid[7].any() and grid[:, 0].tolist() == [0, 0, 0, 0, 0, 1, 0, 0]  # y = 2.25
    assert np.flatnonzero(grid[:, 7]).min() == 2  # up to y = 5.75 at x = 8, not y = 7.5
    # non-finite points are dropped
    grid = figure.raster([0.0, 4.0, np.nan, 8.0], [4.0, 4.0, 4.0, 4.0], area, 8, 8)
    assert grid[4].all() and grid.sum() == 8


def test_log_y_plots_log10_with_labels_in_the_values_units():
    x = np.linspace(0.0, 100.0, 200)
    y = 40.0 + 65.0 * np.exp(-x / 10)  # 105 falling to 40
    fig = Figure((Series("loss", x, y),), x_label="", log_y=True, y_range=(38.0, 110.0))
    area = figure.box(fig)
    assert area.y0 == pytest.approx(math.log10(38)) and area.y1 == pytest.approx(math.log10(110))
    text = figure.braille(fig, 60, 14)  # 12 plot rows: a tick every 3 or so
    labels = {}
    for r, line in enumerate(text.plain.split("\n")[:12]):
        if "┤" in line:
            labels[float(line.split("┤")[0])] = r
    assert set(labels) == {40.0, 60.0, 80.0, 100.0}  # loss values, not their log10
    for value, row in labels.items():  # each at its log10's row
        assert row == int((area.y1 - math.log10(value)) / (area.y1 - area.y0) * 12)
    gaps = [labels[a] - labels[b] for a, b in ((40, 60), (60, 80), (80, 100))]
    assert gaps[0] > gaps[-1]  # equal steps in loss: closer together higher up
    # the curve's first point (105) is in the top rows, its last (40) at the bottom
    rows = plot(text)
    assert rows[1][0] != " " and rows[labels[40.0]][-1] != " "


def test_log_ticks_over_decades():
    assert figure.log_ticks(40.0, 110.0, 4) == figure.nice_ticks(40.0, 110.0, 4)
    assert figure.log_ticks(0.5, 100.0, 4) == [1.0, 10.0, 100.0]
    assert figure.log_ticks(0.9, 60.0, 6) == [1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
    many = figure.log_ticks(1e-3, 1e9, 4)
    assert len(many) <= 5 and all(math.log10(t) == round(math.log10(t)) for t in many)
    # on a chart, a diverging run (1.5 to 20,000) gets labels all the way down
    fig = Figure(
        (Series("loss", [0.0, 1.0], [1.5, 2e4]),), x_label="", log_y=True, y_range=(1.4, 2.2e4)
    )
    lines = figure.braille(fig, 40, 20).plain.split("\n")
    labels = [line.split("┤")[0].strip() for line in lines if "┤" in line]
    assert labels == ["1e+04", "1000", "100", "10"]


def test_ticks_next_to_each_other_are_not_both_labelled():
    labels = figure.y_label_rows(unit_figure(), Box(0.0, 8.0, 0.0, 8.0), 4)
    rows = sorted(labels)
    assert all(b - a >= 2 for a, b in zip(rows, rows[1:], strict=False))


def test_the_chart_never_exceeds_its_size():
    x = np.arange(1.0, 1_000_001.0, 4_999.0)
    fig = Figure((Series("a", x, 50 + np.sin(x)),), x_label="update")
    for width, height in ((20, 5), (41, 9), (110, 30)):
        lines = figure.braille(fig, width, height).plain.split("\n")
        assert len(lines) == height
        assert max(len(line) for line in lines) <= width
        assert len(lines[0]) == width  # plot rows are full width


def test_many_epoch_lines_are_thinned_and_the_legend_says_so():
    """52 epochs of a small corpus: every line would make a wall of dashes."""
    x = np.arange(1, 5201, dtype=float)
    many = Figure(
        (Series("smooth_loss", x, 50 - x / 1000, "#1f77b4"),),
        vlines=tuple(float(v) for v in range(100, 5200, 100)),  # 51 boundaries
    )
    svg = figure.svg(many)
    drawn = svg.count("<line", svg.index('class="vlines"'), svg.index("</g>", svg.index("vlines")))
    assert 0 < drawn <= 720 // 24
    assert "every 2nd epoch boundary" in svg or "every 3rd epoch boundary" in svg
    text = figure.text(many, width=60, height=10)
    columns = {i for line in text.splitlines()[:10] for i, c in enumerate(line) if c == ":"}
    assert 0 < len(columns) <= 60 // 4
    assert "every 4th epoch boundary" in text
    few = Figure(many.series, vlines=(1000.0, 2000.0))
    assert "every" not in figure.svg(few) and figure.svg(few).count("epoch boundary") == 1
    assert [figure.vline_legend(few, k) for k in (1, 2, 3, 4, 11, 21, 22)] == [
        "epoch boundary",
        "every 2nd epoch boundary",
        "every 3rd epoch boundary",
        "every 4th epoch boundary",
        "every 11th epoch boundary",
        "every 21st epoch boundary",
        "every 22nd epoch boundary",
    ]
