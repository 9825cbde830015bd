"""The gradient-check pane: the report's table (parameter x {max, sum} rows, one column per
sequence length) for the two numerical methods, filled in row by row as results arrive.

A cell is the relative error |analytic - numerical| / max(eps, |analytic| + |numerical|) taken
over the parameter's entries (max, or sum); green when the row passed its threshold, red when
not. The check itself runs on a worker thread (see app.py); this pane only shows rows.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

PARAMETERS = ("b", "c", "U", "W", "V")
METHODS = {
    "central": "central differences",
    "complex": "complex step",
}


def short_float(value: float) -> str:
    """3.1e-07 -> '3.1e-7': narrow columns fit an 80-column terminal."""
    text = f"{value:.1e}"
    mantissa, exponent = text.split("e")
    return f"{mantissa}e{int(exponent)}"


VALUE_WIDTH = 8  # " 7.6e-10": a space, then at most 7 characters
LABEL_WIDTH = 6  # "W max "


class MethodTable(DataTable):
    """No cell padding: the table is 6 + 8 x 4 = 38 columns, which fits an 80-column screen."""


class GradcheckPane(VerticalScroll):
    """Two tables (central differences, complex step) with a one-line status above each;
    stacked when the pane is narrow, side by side when it is wide."""

    WIDE = 79  # two tables of 38, a gap, the scrollbar

    def __init__(self, seq_lengths=(5, 10, 15, 25), **kwargs):
        super().__init__(**kwargs)
        self.seq_lengths = tuple(seq_lengths)
        self.rows_done: dict[str, int] = {method: 0 for method in METHODS}
        self.failed: dict[str, int] = {method: 0 for method in METHODS}

    def compose(self) -> ComposeResult:
        for method in METHODS:
            with Vertical(classes="gc-method"):
                yield Static(
                    f"{METHODS[method]}: waiting", id=f"gc-{method}-status", classes="gc-status"
                )
                yield MethodTable(
                    id=f"gc-{method}",
                    cursor_type="none",
                    zebra_stripes=True,
                    show_cursor=False,
                    cell_padding=0,
                )

    def on_resize(self) -> None:
        self.set_class(self.size.width >= self.WIDE, "-wide")

    def on_mount(self) -> None:
        for method in METHODS:
            self._reset_table(method)

    def table(self, method: str) -> DataTable:
        return self.query_one(f"#gc-{method}", DataTable)

    def _reset_table(self, method: str) -> None:
        table = self.table(method)
        table.clear(columns=True)
        table.add_column("param", key="param", width=LABEL_WIDTH)
        for T in self.seq_lengths:
            table.add_column(Text(f"T={T}", justify="right"), key=str(T), width=VALUE_WIDTH)
        for name in PARAMETERS:
            for stat in ("max", "sum"):
                table.add_row(
                    Text(f"{name} {stat}", style="bold" if stat == "max" else "dim"),
                    *(Text("·", style="dim", justify="right") for _ in self.seq_lengths),
                    key=f"{name}-{stat}",
                )
        self.rows_done[method] = 0
        self.failed[method] = 0

    def start(self, method: str, detail: str = "") -> None:
        """A (re-)run begins: empty the table and say so."""
        self._reset_table(method)
        self.set_status(method, f"running{detail}")

    def set_status(self, method: str, text: str, style: str = "") -> None:
        label = Text.assemble((f"{METHODS[method]}: ", "bold"), (text, style))
        self.query_one(f"#gc-{method}-status", Static).update(label)

    def add_row(self, method: str, row) -> None:
        """One (parameter, sequence length) result."""
        table = self.table(method)
        column = str(row.seq_length)
        if column not in {str(key.value) for key in table.columns}:
            return  # a length this pane was not built for
        colour = "green" if row.passed else "bold red"
        for stat, value in (("max", row.max_rel_error), ("sum", row.sum_rel_error)):
            key = f"{row.parameter}-{stat}"
            if key in {k.value for k in table.rows}:
                style = colour if stat == "max" else ("dim " + colour.split()[-1])
                table.update_cell(
                    key, column, Text(short_float(value), style=style, justify="right")
                )
        self.rows_done[method] += 1
        self.failed[method] += 0 if row.passed else 1
        total = len(PARAMETERS) * len(self.seq_lengths)
        self.set_status(method, f"running {self.rows_done[method]}/{total}")

    def finish(self, method: str, report=None, error: str | None = None) -> None:
        if error is not None:
            self.set_status(method, f"failed: {error}", "bold red")
        elif report is None:
            self.set_status(method, "stopped (press r to run again)", "yellow")
        else:
            verdict, style = ("passed", "green") if report.passed else ("FAILED", "bold red")
            self.set_status(
                method,
                f"{verdict} (< {report.threshold:.0e}, h = {report.h:.0e}, {report.seconds:.1f} s)",
                style,
            )
