"""Line charts of a few series, without a plotting library: the axes (ranges, round-number
ticks and their labels), an SVG writer (the report's Fig. 1), a text chart (the same figure
inside Markdown), and the raster both the text chart and the app's braille charts draw from.

    figure = Figure((Series("smooth_loss", x, y, "#1f77b4"),), vlines=epoch_starts)
    svg(figure)                  an SVG document: axes, ticks, one <path> per series, the
                                 vertical lines (epoch boundaries) as dashed <line>s, a legend
    text(figure, 72, 16)         the same chart in characters: one marker per series

Series arrive thinned by the caller (curves.thin_history: each bin's minimum and maximum), so
a figure of a million updates is a few hundred points per series. Everything is deterministic:
the same figure gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import safetext

MARKERS = "*o+x#@"  # the text chart's marker of each series, in order


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
    color: str = "#1f77b4"  # an SVG colour (the app's charts use their own palette)


@dataclass(frozen=True)
class Figure:
    series: tuple[Series, ...]
    x_label: str = "update"
    y_label: str = "loss"
    vlines: tuple[float, ...] = ()  # e.g. epoch boundaries
    vline_label: str = "epoch boundary"
    x_format: Callable[[float], str] = iteration_label
    y_format: Callable[[float], str] = tick_label
    log_y: bool = False  # y drawn as log10 (ticks labelled in the values' own units)
    title: str = ""


@dataclass(frozen=True)
class Box:
    """The data ranges a chart shows (y in log10 units for a log axis)."""

    x0: float
    x1: float
    y0: float
    y1: float

    def x_ticks(self, count: int) -> list[float]:
        return [t for t in nice_ticks(self.x0, self.x1, count) if self.x0 <= t <= self.x1]


def y_values(figure: Figure, y) -> np.ndarray:
    """`y` as drawn: log10 of it on a log axis (NaN where it is not positive)."""
    y = np.asarray(y, dtype=np.float64)
    if figure.log_y:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(np.where(y > 0, y, np.nan))
    return y


def box(figure: Figure) -> Box:
    """x from 0 (or the smallest x below it) to the largest; y over every finite value with 4%
    padding (a flat series gets a unit of room)."""
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
    return [(math.log10(t), figure.y_format(t)) for t in nice_ticks(low, high, count) if t > 0]


def raster(x, y, area: Box, cols: int, rows: int) -> np.ndarray:
    """A (rows, cols) grid, row 0 at the top, marking the cells a line through the points
    (x, y) crosses: each point's column filled from its row to the previous point's row, and
    sparse series (fewer points than columns) interpolated at every column, so the line has no
    gaps. Points outside the box are clipped to its edge; non-finite ones break nothing (they
    are dropped)."""
    grid = np.zeros((rows, cols), dtype=bool)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if not x.size:
        return grid
    if x.size > 1 and x.size < 2 * cols:
        between = np.linspace(x[0], x[-1], 2 * cols)
        order = np.argsort(np.concatenate([x, between]), kind="stable")
        y = np.concatenate([y, np.interp(between, x, y)])[order]
        x = np.concatenate([x, between])[order]
    col = np.clip(((x - area.x0) / (area.x1 - area.x0) * cols).astype(np.int64), 0, cols - 1)
    row = np.clip(((area.y1 - y) / (area.y1 - area.y0) * rows).astype(np.int64), 0, rows - 1)
    previous = np.concatenate([row[:1], row[:-1]])
    low, high = np.minimum(row, previous), np.maximum(row, previous)
    spans = high - low + 1
    cells = np.repeat(col, spans)
    offsets = np.arange(spans.sum()) - np.repeat(np.cumsum(spans) - spans, spans)
    grid[np.repeat(low, spans) + offsets, cells] = True
    return grid


# -- SVG ----------------------------------------------------------------------------------------
_MARGIN = (64, 16, 34, 46)  # left, right, top (the legend), bottom (ticks and the x label)


def svg(figure: Figure, width: int = 720, height: int = 400) -> str:
    """The figure as a standalone SVG document (text escaped through safetext.html)."""
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
            f"{safetext.html(text)}</text>"
        )

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
    ]
    if figure.title:
        out.append(f"<title>{safetext.html(figure.title)}</title>")
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
    vlines = [v for v in figure.vlines if area.x0 < v <= area.x1]
    if vlines:
        lines = "".join(
            f'<line x1="{px(v):.1f}" y1="{top}" x2="{px(v):.1f}" y2="{bottom_y}"/>' for v in vlines
        )
        out.append(f'<g class="vlines" stroke="#999999" stroke-dasharray="4 3">{lines}</g>')
    out.append(
        f'<g stroke="black" stroke-width="1">'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom_y}"/>'
        f'<line x1="{left}" y1="{bottom_y}" x2="{left + plot_w}" y2="{bottom_y}"/>'
        f"{''.join(ticks)}</g>"
    )
    out.append(f'<g fill="black">{"".join(labels)}</g>')
    for series in figure.series:
        x = np.asarray(series.x, dtype=np.float64)
        y = y_values(figure, series.y)
        keep = np.isfinite(x) & np.isfinite(y)
        if not keep.any():
            continue
        points = [f"{px(a):.1f},{py(b):.1f}" for a, b in zip(x[keep], y[keep], strict=True)]
        out.append(
            f'<path d="M{"L".join(points)}" fill="none" stroke="{safetext.html(series.color)}" '
            f'stroke-width="1.5" stroke-linejoin="round"><title>{safetext.html(series.label)}'
            "</title></path>"
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
    entries = [(s.label, s.color, "") for s in figure.series]
    if vlines:
        entries.append((figure.vline_label, "#999999", ' stroke-dasharray="4 3"'))
    for text, color, dash in entries:
        out.append(
            f'<line x1="{legend_x}" y1="14" x2="{legend_x + 18}" y2="14" '
            f'stroke="{safetext.html(color)}" stroke-width="2"{dash}/>'
        )
        out.append(label(legend_x + 23, 18, text, "start"))
        legend_x += 23 + 7 * len(text) + 18
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- text ---------------------------------------------------------------------------------------
def text(figure: Figure, width: int = 72, height: int = 16) -> str:
    """The figure in characters, `width` columns of plot (plus the y labels) by `height` rows:
    series drawn with MARKERS in order (later ones on top), vertical lines as ':', then the x
    ticks, the x label and a legend. Labels are ours; series labels go through safetext."""
    area = box(figure)
    canvas = np.full((height, width), " ", dtype="<U1")
    for v in figure.vlines:
        if area.x0 < v <= area.x1:
            col = min(width - 1, int((v - area.x0) / (area.x1 - area.x0) * width))
            canvas[:, col] = ":"
    for series, marker in zip(figure.series, MARKERS, strict=False):
        cells = raster(series.x, y_values(figure, series.y), area, width, height)
        canvas[cells] = marker
    labels = {}
    for value, label_text in y_ticks(figure, area, max(2, height // 3)):
        row = int((area.y1 - value) / (area.y1 - area.y0) * height)
        if 0 <= row < height:
            labels[row] = label_text
    margin = max((len(v) for v in labels.values()), default=0)
    lines = [f"{labels.get(r, ''):>{margin}} |{''.join(canvas[r]).rstrip()}" for r in range(height)]
    lines.append(" " * margin + " +" + "-" * width)
    ticks = [" "] * (width + 12)
    for value in area.x_ticks(max(2, width // 12)):
        label_text = figure.x_format(value)
        start = int((value - area.x0) / (area.x1 - area.x0) * width)
        start = max(0, min(start - len(label_text) // 2, len(ticks) - len(label_text)))
        if all(c == " " for c in ticks[max(0, start - 1) : start + len(label_text) + 1]):
            ticks[start : start + len(label_text)] = label_text
    lines.append(" " * (margin + 2) + "".join(ticks).rstrip())
    lines.append(" " * (margin + 2) + figure.x_label.center(width).rstrip())
    markers = zip(figure.series, MARKERS, strict=False)
    legend = [f"{marker} {safetext.line(series.label)}" for series, marker in markers]
    if any(area.x0 < v <= area.x1 for v in figure.vlines):
        legend.append(f": {figure.vline_label}")
    lines.append(" " * (margin + 2) + "   ".join(legend))
    return "\n".join(lines) + "\n"
