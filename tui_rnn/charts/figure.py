"""Line charts of a few series, without a plotting library: the axes (ranges, round-number
ticks and their labels), an SVG writer (the report's Fig. 1), a text chart (the same figure
inside Markdown), a braille chart (the app's loss and comparison charts, as Rich Text), and the
raster the text and braille charts draw from.

    figure = Figure((Series("smooth_loss", x, y, "#1f77b4"),), vlines=epoch_starts)
    svg(figure)                  an SVG document: axes, ticks, one <path> per series, the
                                 vertical lines (epoch boundaries) as dashed <line>s, a legend
    text(figure, 72, 16)         the same chart in characters: one marker per series
    braille(figure, 110, 30)     Rich Text of 110 x 30 cells: each cell 2 x 4 braille dots,
                                 coloured by the series on top; y and x ticks and labels

Series arrive thinned by the caller (curves.thin_history: each bin's minimum and maximum), so
a figure of a million updates is a few hundred points per series. Everything is deterministic:
the same figure gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from rich.text import Span, Text

from tui_rnn.safe import text as safe_text

MARKERS = "*o+x#@"  # the text chart's marker of each series, in order
# Braille dots: the bit of the dot at (row in the cell 0..3, column 0..1) (Unicode's order).
BRAILLE_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.uint8)
BRAILLE = np.array([chr(0x2800 + code) for code in range(256)])  # the glyph of each bit pattern
BRAILLE_ORDER = np.argsort(BRAILLE_BITS.T.ravel())  # dots (dot col, dot row) in their bits' order
DASH_DOTS = 4  # a dashed series: 4 dot columns (two cells) on, 4 off
AXIS_STYLE = "dim"


# -- ticks and their labels -------------------------------------------------------------------
def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round-number ticks (1, 2, 5 x 10^k steps) covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low]
    span = high - low
    raw = span / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    steps = [m * magnitude for m in (0.5, 1, 2, 5, 10)]  # ascending, round numbers
    index = next(i for i, s in enumerate(steps) if s >= raw)
    while index > 0 and span / steps[index] < 1.5:  # at least two ticks
        index -= 1
    step = steps[index]
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + 1e-9 * step:
        ticks.append(value)
        value += step
    return ticks


def log_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Ticks for a log axis from `low` to `high` (both > 0): round numbers in the values' own
    units (nice_ticks) within a decade; over more, 1, 2, 5 x 10^k, or powers of ten only, or
    every few of them, whichever gives at most count + 1."""
    if not (0 < low < high) or not math.isfinite(high) or high / low < 10:
        return nice_ticks(low, high, count)
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    for mantissas in ((1, 2, 5), (1,)):
        ticks = [m * 10.0**e for e in decades for m in mantissas if low <= m * 10.0**e <= high]
        if len(ticks) <= count + 1:
            return ticks
    return ticks[:: math.ceil(len(ticks) / (count + 1))]


def iteration_label(value: float) -> str:
    """1234567 -> '1.23M', 45000 -> '45k', 800 -> '800'."""
    for threshold, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:.3g}{suffix}"
    return f"{value:.0f}"


def tick_label(value: float) -> str:
    return f"{value:.4g}"


def seconds_label(value: float) -> str:
    """Training time: 45 -> '45s', 600 -> '10m', 9000 -> '2.5h'."""
    if abs(value) < 120:
        return f"{value:.3g}s"
    if abs(value) < 7200:
        return f"{value / 60:.3g}m"
    return f"{value / 3600:.3g}h"


# -- the figure -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Series:
    label: str
    x: np.ndarray
    y: np.ndarray
    color: str = "#1f77b4"  # an SVG colour, or for braille any Rich colour ("cyan", "grey62")
    dashed: bool = False


@dataclass(frozen=True)
class Marker:
    """One point drawn on top of the series (the best model)."""

    x: float
    y: float
    color: str = "green"
    glyph: str = "●"  # the text and braille charts' character


@dataclass(frozen=True)
class Figure:
    series: tuple[Series, ...]
    x_label: str = "update"
    y_label: str = "loss"
    vlines: tuple[float, ...] = ()  # e.g. epoch boundaries
    vline_label: str = "epoch boundary"
    vline_color: str = "#999999"
    x_format: Callable[[float], str] = iteration_label
    y_format: Callable[[float], str] = tick_label
    log_y: bool = False  # y drawn as log10 (ticks labelled in the values' own units)
    title: str = ""
    markers: tuple[Marker, ...] = ()
    # The ranges shown (y in the values' own units, also on a log axis); None: box() fits the
    # data. What lies outside is cut off at the edge.
    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class Box:
    """The data ranges a chart shows (y in log10 units for a log axis)."""

    x0: float
    x1: float
    y0: float
    y1: float

    def x_ticks(self, count: int) -> list[float]:
        return [t for t in nice_ticks(self.x0, self.x1, count) if self.x0 <= t <= self.x1]

    def column(self, x: npt.ArrayLike, cols: int) -> np.ndarray:
        """The column (0..cols-1) of x; outside the box, the edge's."""
        where = (np.asarray(x, dtype=np.float64) - self.x0) / (self.x1 - self.x0) * cols
        return np.clip(where.astype(np.int64), 0, cols - 1)

    def row(self, y: npt.ArrayLike, rows: int) -> np.ndarray:
        """The row of y (already in the box's units), row 0 at the top: 0..rows-1 inside the
        box (its bottom edge in the last row), -1 above it, `rows` below it."""
        where = (self.y1 - np.asarray(y, dtype=np.float64)) / (self.y1 - self.y0) * rows
        where = np.where(where == rows, rows - 1, where)  # y0 itself: the bottom row
        return np.clip(np.floor(where), -1, rows).astype(np.int64)


def y_values(figure: Figure, y: npt.ArrayLike) -> np.ndarray:
    """`y` as drawn: log10 of it on a log axis (NaN where it is not positive)."""
    y = np.asarray(y, dtype=np.float64)
    if figure.log_y:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(np.where(y > 0, y, np.nan))
    return y


def box(figure: Figure) -> Box:
    """The figure's x_range and y_range where given; else x from 0 (or the smallest x below it)
    to the largest, y over every finite value with 4% padding (a flat series gets a unit of
    room)."""
    area = _fitted_box(figure)
    x0, x1 = figure.x_range if figure.x_range is not None else (area.x0, area.x1)
    y0, y1 = area.y0, area.y1
    if figure.y_range is not None:
        y0, y1 = (float(v) for v in y_values(figure, figure.y_range))
    return Box(float(x0), float(x1), y0, y1)


def _fitted_box(figure: Figure) -> Box:
    xs = [np.asarray(s.x, dtype=np.float64) for s in figure.series]
    ys = [y_values(figure, s.y) for s in figure.series]
    x_all = np.concatenate(xs) if xs else np.zeros(0)
    y_all = np.concatenate(ys) if ys else np.zeros(0)
    x_all, y_all = x_all[np.isfinite(x_all)], y_all[np.isfinite(y_all)]
    x0 = min(0.0, float(x_all.min())) if x_all.size else 0.0
    x1 = float(x_all.max()) if x_all.size else 1.0
    if x1 <= x0:
        x1 = x0 + 1.0
    if not y_all.size:
        return Box(x0, x1, 0.0, 1.0)
    low, high = float(y_all.min()), float(y_all.max())
    pad = (high - low) * 0.04 or max(abs(high) * 0.01, 0.5)
    return Box(x0, x1, low - pad, high + pad)


def y_ticks(figure: Figure, area: Box, count: int) -> list[tuple[float, str]]:
    """(position in the box's y units, label) of round-number ticks within the y range."""
    if not figure.log_y:
        return [(t, figure.y_format(t)) for t in nice_ticks(area.y0, area.y1, count)]
    low, high = 10**area.y0, 10**area.y1
    return [(math.log10(t), figure.y_format(t)) for t in log_ticks(low, high, count) if t > 0]


def y_label_rows(figure: Figure, area: Box, rows: int, count: int = 0) -> dict[int, str]:
    """{row: label} of the y ticks on a chart `rows` rows high (row 0 at the top): `count`
    ticks or fewer (default: one per three rows); a tick next to a labelled row is left out."""
    labels: dict[int, str] = {}
    for value, label in y_ticks(figure, area, count or max(2, rows // 3)):
        row = int((area.y1 - value) / (area.y1 - area.y0) * rows)
        if 0 <= row < rows and not (row - 1 in labels or row + 1 in labels):
            labels[row] = label
    return labels


def x_tick_line(figure: Figure, area: Box, cols: int, room: int) -> tuple[str, list[int]]:
    """The x tick labels under a plot `cols` columns wide, in a line of `room` characters (at
    most), each centred on its tick and left out where it would touch another; and the
    columns of the ticks labelled."""
    ticks = [" "] * room
    columns = []
    for value in area.x_ticks(max(2, cols // 12)):
        label = figure.x_format(value)
        column = int((value - area.x0) / (area.x1 - area.x0) * cols)
        start = max(0, min(column - len(label) // 2, room - len(label)))
        if all(c == " " for c in ticks[max(0, start - 1) : start + len(label) + 1]):
            ticks[start : start + len(label)] = label
            columns.append(min(column, cols - 1))
    return "".join(ticks).rstrip(), columns


def raster(x: npt.ArrayLike, y: npt.ArrayLike, area: Box, cols: int, rows: int) -> np.ndarray:
    """A (rows, cols) grid, row 0 at the top, marking the cells a line through the points
    (x, y) crosses: each point's column filled from its row to the previous point's row, and
    sparse series (fewer points than columns) interpolated at every column, so the line has no
    gaps. A line leaving the box runs to its edge and stops there: nothing is drawn outside
    (x is taken as ascending, as a series over time is); non-finite points break nothing
    (they are dropped)."""
    grid = np.zeros((rows, cols), dtype=bool)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = _within_x(x[keep], y[keep], area)
    if not x.size:
        return grid
    if x.size > 1 and x.size < 2 * cols:
        between = np.linspace(x[0], x[-1], 2 * cols)
        order = np.argsort(np.concatenate([x, between]), kind="stable")
        y = np.concatenate([y, np.interp(between, x, y)])[order]
        x = np.concatenate([x, between])[order]
    col = area.column(x, cols)
    row = area.row(y, rows)  # -1 above the box, `rows` below it
    previous = np.concatenate([row[:1], row[:-1]])
    low, high = np.minimum(row, previous), np.maximum(row, previous)
    spans = high - low + 1
    cells = np.repeat(col, spans)
    offsets = np.arange(spans.sum()) - np.repeat(np.cumsum(spans) - spans, spans)
    rows_drawn = np.repeat(low, spans) + offsets
    inside = (rows_drawn >= 0) & (rows_drawn < rows)
    grid[rows_drawn[inside], cells[inside]] = True
    return grid


def _within_x(x: np.ndarray, y: np.ndarray, area: Box) -> tuple[np.ndarray, np.ndarray]:
    """The points of a series (x ascending) inside the box's x range, with the points where
    its line crosses the range's edges (y interpolated there)."""
    inside = (x >= area.x0) & (x <= area.x1)
    if inside.all():
        return x, y
    edges = [e for e in (area.x0, area.x1) if x[0] < e < x[-1]]
    if edges and np.all(np.diff(x) >= 0):
        order = np.argsort(np.concatenate([x, edges]), kind="stable")
        y = np.concatenate([y, np.interp(edges, x, y)])[order]
        x = np.concatenate([x, edges])[order]
        inside = (x >= area.x0) & (x <= area.x1)
    return x[inside], y[inside]


# -- SVG ----------------------------------------------------------------------------------------
_MARGIN = (64, 16, 34, 46)  # left, right, top (the legend), bottom (ticks and the x label)


def svg(figure: Figure, width: int = 720, height: int = 400) -> str:
    """The figure as a standalone SVG document (text escaped through safe_text.html)."""
    left, right, top, bottom = _MARGIN
    plot_w, plot_h = width - left - right, height - top - bottom
    area = box(figure)

    def px(x: float) -> float:
        return left + (x - area.x0) / (area.x1 - area.x0) * plot_w

    def py(y: float) -> float:
        return top + (area.y1 - y) / (area.y1 - area.y0) * plot_h

    def label(x: float, y: float, text: str, anchor: str = "middle", extra: str = "") -> str:
        return (
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>'
            f"{safe_text.html(text)}</text>"
        )

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
    ]
    if figure.title:
        out.append(f"<title>{safe_text.html(figure.title)}</title>")
    out.append(f'<rect width="{width}" height="{height}" fill="white"/>')
    bottom_y = top + plot_h
    grid, ticks, labels = [], [], []
    for value, text in y_ticks(figure, area, max(2, plot_h // 60)):
        if not area.y0 <= value <= area.y1:
            continue
        y = py(value)
        grid.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}"/>')
        ticks.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{left}" y2="{y:.1f}"/>')
        labels.append(label(left - 7, y + 4, text, "end"))
    for value in area.x_ticks(max(2, plot_w // 90)):
        x = px(value)
        ticks.append(f'<line x1="{x:.1f}" y1="{bottom_y}" x2="{x:.1f}" y2="{bottom_y + 4}"/>')
        labels.append(label(x, bottom_y + 16, figure.x_format(value)))
    out.append(f'<g stroke="#e6e6e6">{"".join(grid)}</g>')
    vlines, every = shown_vlines(figure, area, plot_w // 24)
    vline_color = safe_text.html(figure.vline_color)
    if vlines:
        lines = "".join(
            f'<line x1="{px(v):.1f}" y1="{top}" x2="{px(v):.1f}" y2="{bottom_y}"/>' for v in vlines
        )
        out.append(f'<g class="vlines" stroke="{vline_color}" stroke-dasharray="4 3">{lines}</g>')
    out.append(
        f'<g stroke="black" stroke-width="1">'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom_y}"/>'
        f'<line x1="{left}" y1="{bottom_y}" x2="{left + plot_w}" y2="{bottom_y}"/>'
        f"{''.join(ticks)}</g>"
    )
    out.append(f'<g fill="black">{"".join(labels)}</g>')
    for series in figure.series:
        xs = np.asarray(series.x, dtype=np.float64)
        ys = y_values(figure, series.y)
        keep = np.isfinite(xs) & np.isfinite(ys)
        if not keep.any():
            continue
        points = [f"{px(a):.1f},{py(b):.1f}" for a, b in zip(xs[keep], ys[keep], strict=True)]
        dash = ' stroke-dasharray="6 4"' if series.dashed else ""
        out.append(
            f'<path d="M{"L".join(points)}" fill="none" stroke="{safe_text.html(series.color)}" '
            f'stroke-width="1.5" stroke-linejoin="round"{dash}><title>'
            f"{safe_text.html(series.label)}</title></path>"
        )
    for marker in figure.markers:
        y = float(y_values(figure, [marker.y])[0])
        if area.x0 <= marker.x <= area.x1 and area.y0 <= y <= area.y1:
            out.append(
                f'<circle cx="{px(marker.x):.1f}" cy="{py(y):.1f}" r="3.5" '
                f'fill="{safe_text.html(marker.color)}"/>'
            )
    out.append(label(left + plot_w / 2, height - 8, figure.x_label))
    out.append(
        label(
            14,
            top + plot_h / 2,
            figure.y_label,
            extra=f' transform="rotate(-90 14 {top + plot_h / 2:.1f})"',
        )
    )
    legend_x = left
    entries = [
        (s.label, s.color, ' stroke-dasharray="6 4"' if s.dashed else "") for s in figure.series
    ]
    if vlines:
        entries.append((vline_legend(figure, every), figure.vline_color, ' stroke-dasharray="4 3"'))
    for text, color, dash in entries:
        out.append(
            f'<line x1="{legend_x}" y1="14" x2="{legend_x + 18}" y2="14" '
            f'stroke="{safe_text.html(color)}" stroke-width="2"{dash}/>'
        )
        out.append(label(legend_x + 23, 18, text, "start"))
        legend_x += 23 + 7 * len(text) + 18
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- text ---------------------------------------------------------------------------------------
def text(figure: Figure, width: int = 72, height: int = 16) -> str:
    """The figure in characters, `width` columns of plot (plus the y labels) by `height` rows:
    series drawn with MARKERS in order (later ones on top), vertical lines as ':', then the x
    ticks, the x label and a legend. Labels are ours; series labels go through safe.text."""
    area = box(figure)
    canvas = np.full((height, width), " ", dtype="<U1")
    columns = vline_columns(figure, area, width)
    canvas[:, columns] = ":"
    for series, symbol in zip(figure.series, MARKERS, strict=False):
        cells = raster(series.x, y_values(figure, series.y), area, width, height)
        canvas[cells] = symbol
    for row, column, marker in marker_cells(figure, area, width, height):
        canvas[row, column] = marker.glyph
    labels = y_label_rows(figure, area, height)
    margin = max((len(v) for v in labels.values()), default=0)
    lines = [f"{labels.get(r, ''):>{margin}} |{''.join(canvas[r]).rstrip()}" for r in range(height)]
    lines.append(" " * margin + " +" + "-" * width)
    lines.append(" " * (margin + 2) + x_tick_line(figure, area, width, width + 12)[0])
    lines.append(" " * (margin + 2) + figure.x_label.center(width).rstrip())
    symbols = zip(figure.series, MARKERS, strict=False)
    legend = [f"{symbol} {safe_text.line(series.label)}" for series, symbol in symbols]
    if columns:
        legend.append(f": {vline_legend(figure, shown_vlines(figure, area, width // 4)[1])}")
    lines.append(" " * (margin + 2) + "   ".join(legend))
    return "\n".join(lines) + "\n"


# -- braille ------------------------------------------------------------------------------------
def braille_codes(dots: np.ndarray) -> np.ndarray:
    """A (4 rows, 2 cols) x cells grid of dots as each cell's braille bit pattern (uint8)."""
    rows, cols = dots.shape[0] // 4, dots.shape[1] // 2
    cells = dots.reshape(rows, 4, cols, 2).transpose(0, 2, 3, 1)  # (row, col, dot col, dot row)
    # each cell's 8 dots in the order of their bits (BRAILLE_BITS), least significant first
    return np.packbits(
        cells.reshape(rows, cols, 8)[..., BRAILLE_ORDER], axis=-1, bitorder="little"
    )[..., 0]


def braille(figure: Figure, width: int, height: int) -> Text:
    """The figure as Rich Text, `width` x `height` cells: the y tick labels and axis, a plot of
    2 x 4 braille dots per cell, the x axis with its ticks, their labels, and the x label when
    there are 8 rows or more. Series are drawn in order, later ones on top: a cell shows the
    dots of the topmost series in it, in its colour; a dashed series shows two cells of every
    four. The vertical lines (epoch boundaries) show where no series is, the markers over all."""
    area = box(figure)
    x_label = bool(figure.x_label) and height >= 8
    rows = max(2, height - 2 - x_label)
    labels = y_label_rows(figure, area, rows, max(2, -(-rows // 3)))  # about one in 3 rows
    if len(labels) < rows / 5:  # the round steps (1, 2, 5) fell far short: the next finer one
        labels = y_label_rows(figure, area, rows, max(2, rows // 2))
    margin = max((len(v) for v in labels.values()), default=1)
    cols = max(4, width - margin - 1)
    # Each cell's braille dots and the index of its style (0: empty, 1: a vertical line).
    styles: list[str | None] = [None, figure.vline_color]
    codes = np.zeros((rows, cols), dtype=np.uint8)
    owner = np.zeros((rows, cols), dtype=np.int64)
    vlines = vline_columns(figure, area, cols)
    owner[:, vlines] = 1
    dashes = (np.arange(2 * cols) // DASH_DOTS) % 2 == 0
    for series in figure.series:
        dots = raster(series.x, y_values(figure, series.y), area, 2 * cols, 4 * rows)
        if series.dashed:
            dots &= dashes
        series_codes = braille_codes(dots)
        drawn = series_codes > 0
        codes[drawn], owner[drawn] = series_codes[drawn], len(styles)
        styles.append(series.color)
    glyphs = BRAILLE[codes]
    glyphs[owner == 0], glyphs[owner == 1] = " ", "│"
    for row, column, marker in marker_cells(figure, area, cols, rows):
        glyphs[row, column], owner[row, column] = marker.glyph, len(styles)
        styles.append(marker.color)

    # One string and its spans (one per run of cells of one style), not a Text.append per run.
    pieces: list[str] = []
    spans: list[Span] = []
    offset = 0
    changes = np.ones((rows, cols), dtype=bool)
    changes[:, 1:] = owner[:, 1:] != owner[:, :-1]
    for r in range(rows):
        pieces += [f"{labels.get(r, ''):>{margin}}", "┤" if r in labels else "│"]
        spans.append(Span(offset + margin, offset + margin + 1, AXIS_STYLE))
        offset += margin + 1
        pieces += ["".join(glyphs[r].tolist()), "\n"]
        starts = np.flatnonzero(changes[r]).tolist()
        for start, end in zip(starts, starts[1:] + [cols], strict=True):
            style = styles[owner[r, start]]
            if style is not None:
                spans.append(Span(offset + start, offset + end, style))
        offset += cols + 1
    tick_labels, tick_columns = x_tick_line(figure, area, cols, cols)
    axis = np.full(cols, "─", dtype="<U1")
    axis[vlines] = "┴"
    axis[tick_columns] = np.where(axis[tick_columns] == "┴", "┼", "┬")
    axis_line = " " * margin + "└" + "".join(axis.tolist())
    spans.append(Span(offset, offset + len(axis_line), AXIS_STYLE))
    pieces += [axis_line, "\n", " " * (margin + 1) + tick_labels]
    if x_label:
        offset += len(axis_line) + 1 + margin + 1 + len(tick_labels)
        label_line = "\n" + " " * (margin + 1) + figure.x_label.center(cols).rstrip()
        spans.append(Span(offset, offset + len(label_line), AXIS_STYLE))
        pieces.append(label_line)
    return Text("".join(pieces), no_wrap=True, overflow="crop", spans=spans)


# -- where lines and markers fall on a grid ------------------------------------------------------
def shown_vlines(figure: Figure, area: Box, room: int) -> tuple[list[float], int]:
    """(the vertical lines drawn, k): those inside the x range (the left edge excluded), every
    k-th of them when more than `room` would crowd the plot (52 epochs of a small corpus)."""
    inside = [v for v in figure.vlines if area.x0 < v <= area.x1]
    every = max(1, math.ceil(len(inside) / max(1, room)))
    return inside[every - 1 :: every], every


def vline_legend(figure: Figure, every: int) -> str:
    """The legend of the vertical lines: "epoch boundary", or "every 5th epoch boundary"."""
    if every == 1:
        return figure.vline_label
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(every % 10 if every % 100 not in (11, 12, 13) else 0)
    return f"every {every}{suffix or 'th'} {figure.vline_label}"


def vline_columns(figure: Figure, area: Box, cols: int) -> list[int]:
    """The columns of the vertical lines drawn on a plot `cols` cells wide (at most one in
    four columns: see shown_vlines)."""
    shown, _ = shown_vlines(figure, area, cols // 4)
    return sorted(set(area.column(shown, cols).tolist())) if shown else []


def marker_cells(figure: Figure, area: Box, cols: int, rows: int) -> list[tuple[int, int, Marker]]:
    """(row, column, marker) of the markers inside the box."""
    cells = []
    for marker in figure.markers:
        y = float(y_values(figure, [marker.y])[0])
        if area.x0 <= marker.x <= area.x1 and area.y0 <= y <= area.y1:
            cells.append((int(area.row(y, rows)), int(area.column(marker.x, cols)), marker))
    return cells
