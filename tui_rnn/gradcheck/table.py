"""Showing a gradient check: the report's Table 1 (rich or Markdown) and a one-line verdict.

Per parameter, one column per sequence length, four lines:
- report's max, report's sum: the report's criteria, max_i |ga_i - gn_i| / max(eps, S) and
  sum_i |ga_i - gn_i| / max(eps, S) with S = sum_i (|ga_i| + |gn_i|) over the parameter;
- max rel, sum rel: the elementwise relative error r_i = |ga_i - gn_i| / max(eps, |ga_i| +
  |gn_i|), its max (which decides pass or fail) and its sum.
No textual here: the app's pane draws its own from the same rows.
"""

from __future__ import annotations

import math

from rich.table import Table

METHOD_NAMES = {"central": "central differences", "complex": "complex step"}
LINES = (  # (label, row attribute)
    ("report's max", "report_max_error"),
    ("report's sum", "report_sum_error"),
    ("max rel", "max_rel_error"),
    ("sum rel", "sum_rel_error"),
)
LEGEND = (
    "report's max / sum: max|ga - gn| / Σ(|ga| + |gn|) and Σ|ga - gn| / Σ(|ga| + |gn|) over the "
    "parameter (the report's Table 1); max rel / sum rel: of the elementwise "
    "|ga - gn| / max(eps, |ga| + |gn|); max rel decides pass or fail."
)


def title(report) -> str:
    model = f"{report.cell}" + (f" x {report.layers} layers" if report.layers > 1 else "")
    text = (
        f"Gradient check: {METHOD_NAMES[report.method]}, h = {report.h:g}, eps = {report.eps:g}, "
        f"threshold = {report.threshold:g}, {model}, m = {report.hidden}"
    )
    return text + (f" ({sampling_note(report)})" if report.sampled else "")


def sampling_note(report) -> str:
    return f"sampled {report.checked_entries:,} of {report.total_entries:,} entries"


def _grid(report):
    lengths = sorted({row.seq_length for row in report.rows})
    names = list(dict.fromkeys(row.parameter for row in report.rows))
    cells = {(row.parameter, row.seq_length): row for row in report.rows}
    return lengths, names, cells


def report_table(report):
    """The table as a rich Table; a failing row's max rel cell is red."""

    lengths, names, cells = _grid(report)
    table = Table(title=title(report), caption=LEGEND)
    table.add_column("parameter")
    table.add_column("error")
    for L in lengths:
        table.add_column(f"seq {L}", justify="right")
    for name in names:
        for n, (label, attribute) in enumerate(LINES):
            line = [name if n == 0 else "", label]
            for L in lengths:
                row = cells.get((name, L))
                if row is None:
                    line.append("")
                    continue
                text = f"{getattr(row, attribute):.2e}"
                if attribute == "max_rel_error":
                    style = "green" if row.passed else "bold red"
                    text = f"[{style}]{text}[/{style}]"
                line.append(text)
            table.add_row(*line, end_section=n == len(LINES) - 1)
    return table


def markdown_table(report, legend: bool = True) -> str:
    """The same table in Markdown (for reports and the README), the legend under it unless
    `legend` is False (a page of several tables says it once)."""
    lengths, names, cells = _grid(report)
    out = [f"**{title(report)}**", ""]
    out.append("| parameter | error | " + " | ".join(f"seq {L}" for L in lengths) + " |")
    out.append("|---|---|" + "---|" * len(lengths))
    for name in names:
        for n, (label, attribute) in enumerate(LINES):
            values = []
            for L in lengths:
                row = cells.get((name, L))
                values.append("" if row is None else f"{getattr(row, attribute):.1e}")
            out.append(f"| {name if n == 0 else ''} | {label} | " + " | ".join(values) + " |")
    if legend:
        out += ["", LEGEND]
    return "\n".join(out)


def plain_table(report) -> str:
    """The same table as plain text (for a pipe or a file): the title on one line, columns
    aligned with spaces, a failing max rel marked with *, the legend, no colours or boxes."""
    lengths, names, cells = _grid(report)
    grid = [["parameter", "error", *(f"seq {L}" for L in lengths)]]
    for name in names:
        for n, (label, attribute) in enumerate(LINES):
            line = [name if n == 0 else "", label]
            for L in lengths:
                row = cells.get((name, L))
                if row is None:
                    line.append("")
                    continue
                failed = attribute == "max_rel_error" and not row.passed
                line.append(f"{getattr(row, attribute):.2e}" + ("*" if failed else ""))
            grid.append(line)
    widths = [max(len(line[k]) for line in grid) for k in range(len(grid[0]))]
    out = [title(report), ""]
    for line in grid:
        cells_text = [
            text.ljust(width) if k < 2 else text.rjust(width)
            for k, (text, width) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells_text).rstrip())
    out += ["", LEGEND]
    if any(not row.passed for row in report.rows):
        out.append("*: over the threshold.")
    return "\n".join(out)


def verdict(report) -> str:
    """One line: pass or fail, the worst row, sampling, the time."""
    if not report.rows:
        return "STOPPED before any row finished"
    worst = max(report.rows, key=lambda row: _sort_key(row.max_rel_error))
    where = (
        f"worst {worst.parameter} at seq {worst.seq_length}: max rel error "
        f"{worst.max_rel_error:.2e}, max |ga-gn| {worst.max_abs_error:.1e}, "
        f"max |ga| {worst.max_abs_grad:.1e}"
    )
    failed = [row for row in report.rows if not row.passed]
    timing = f"{report.seconds:.2f} s"
    if report.sampled:
        timing = f"{sampling_note(report)} (--full checks all); {timing}"
    if report.stopped:
        return f"STOPPED after {len(report.rows)} rows ({where}; {timing})"
    if failed:
        return (
            f"FAIL: {len(failed)} of {len(report.rows)} rows exceed the threshold "
            f"{report.threshold:g} ({where}; {timing})"
        )
    return (
        f"PASS: all {len(report.rows)} rows within the threshold {report.threshold:g} "
        f"({where}; {timing})"
    )


def _sort_key(value: float) -> float:
    return math.inf if math.isnan(value) else value
