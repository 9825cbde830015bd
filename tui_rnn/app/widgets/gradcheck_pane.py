"""The gradient-check pane: the report's Table 1 for both numerical methods (cd: central
differences, cs: complex step) in one table, filled in row by row as results arrive.

Rows are method and parameter, columns the sequence lengths T, cells a relative error (max or
sum over the parameter's entries), green when the row passed. A tall pane shows both measures,
a short one one at a time (m cycles them); Enter opens the full tables. The check runs on a
worker of the main screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from tui_rnn.app.keys import Scope, bindings
from tui_rnn.gradcheck.check import GradcheckReport, GradcheckRow
from tui_rnn.gradcheck.table import sampling_note
from tui_rnn.safe import text as safe_text

PARAMETERS = ("b", "c", "U", "W", "V")  # the report's model; other models pass their own
METHODS = {"central": "central differences", "complex": "complex step"}
SHORT = {"central": "cd", "complex": "cs"}
# measure -> (label, the GradcheckRow field): the elementwise relative errors (max decides pass
# or fail) and the report's own criteria (sums over the parameter in the denominator).
MEASURES = {
    "max": ("max rel. error", "max_rel_error"),
    "sum": ("sum rel. error", "sum_rel_error"),
    "report max": ("the report's max error", "report_max_error"),
    "report sum": ("the report's sum error", "report_sum_error"),
}
# The measure as the pane's subtitle and its table's corner name it (at every size: the pane is
# 41 columns wide at 80, its subtitle has room for about 36 with the model).
SHOWN = {
    "max": ("max rel. error", "max"),
    "sum": ("sum rel. error", "sum"),
    "report max": ("report's max", "r.max"),
    "report sum": ("report's sum", "r.sum"),
}
PAIRS = (("max", "sum"), ("report max", "report sum"))
VALUE_WIDTH = 8  # " 7.6e-10": a space, then at most 7 characters
LABEL_WIDTH = 6  # "cs W  "
TALL_LABEL_WIDTH = 10  # "cs W max  "
STATUS_LINES = 2  # one per method, above the table


def short_float(value: float | None) -> str:
    """3.1e-07 -> '3.1e-7': narrow columns fit an 80-column terminal."""
    if value is None:
        return "–"
    text = f"{value:.1e}"
    if "e" not in text:  # nan, inf
        return text
    mantissa, exponent = text.split("e")
    return f"{mantissa}e{int(exponent)}"


def measure_value(row: GradcheckRow, measure: str) -> float | None:
    return getattr(row, MEASURES[measure][1], None)


class MethodTable(DataTable, can_focus=False):
    """No cell padding: 6 + 8 x 4 = 38 columns fit the pane at 80 columns."""


class GradcheckPane(VerticalScroll):
    """One table for both methods, a one-line summary per method above it."""

    BINDINGS = bindings(Scope.GRADCHECK)

    @dataclass
    class Titled(Message):
        """What the pane's subtitle says changed: the measure shown, the model checked."""

        subtitle: str

    class Wants(Message):
        """The pane needs another size to show its table and status lines whole (short_size
        changed: a check sampled its entries says so in a longer line)."""

    def __init__(
        self,
        seq_lengths: Sequence[int] = (5, 10, 15, 25),
        parameters: Sequence[str] = PARAMETERS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.seq_lengths = tuple(seq_lengths)
        self.parameters = tuple(parameters)  # the model's, in flat order (W_x.0, W_h.0 ...)
        # A label is "cs " + the name (+ " max" when tall): wide enough for the longest name
        # (each value brings its own leading space).
        longest = max(len(name) for name in self.parameters)
        self.label_width = max(LABEL_WIDTH, longest + 3)
        self.tall_label_width = max(TALL_LABEL_WIDTH, longest + 7)
        self.rows: dict[str, dict[tuple[str, int], GradcheckRow]] = {m: {} for m in METHODS}
        self.reports: dict[str, GradcheckReport | None] = {m: None for m in METHODS}
        self.summaries: dict[str, Text] = {m: Text(f"{METHODS[m]}: waiting") for m in METHODS}
        self.short_summaries: dict[str, Text] = dict(self.summaries)  # where the long do not fit
        self._wanted = self.short_size
        self.model = ""  # "at init" / "at iter N"
        self.measure = "max"
        self.tall = False

    def compose(self) -> ComposeResult:
        for method in METHODS:
            yield Static(self.summaries[method], id=f"gc-{method}-status", classes="gc-status")
        yield MethodTable(
            id="gc-table", cursor_type="none", zebra_stripes=True, show_cursor=False, cell_padding=0
        )

    def on_mount(self) -> None:
        self._rebuild()

    @property
    def tall_height(self) -> int:
        """Rows a tall layout needs: summaries, header, method x parameter x (max, sum)."""
        return STATUS_LINES + 1 + 2 * len(self.parameters) * 2

    @property
    def short_size(self) -> tuple[int, int]:
        """(columns, rows) the one-measure layout needs whole, its status lines in their short
        forms: the main screen sizes the pane to it where the screen has room (and again when
        a status line grows, Wants)."""
        table = self.label_width + VALUE_WIDTH * len(self.seq_lengths)
        status = max(text.cell_len for text in self.short_summaries.values())
        return max(table, status), STATUS_LINES + 1 + len(METHODS) * len(self.parameters)

    def on_resize(self) -> None:
        tall = self.size.height >= self.tall_height
        if tall != self.tall:
            self.tall = tall
            self._rebuild()
        for method in METHODS:
            self._show_status(method)

    # -- what is shown ----------------------------------------------------------------------------
    @property
    def table(self) -> DataTable:
        return self.query_one(MethodTable)

    def available_measures(self) -> list[str]:
        found = [
            m
            for m in MEASURES
            if m in ("max", "sum")
            or any(
                measure_value(r, m) is not None
                for rows in self.rows.values()
                for r in rows.values()
            )
        ]
        return found

    def shown_measures(self) -> tuple[str, ...]:
        if not self.tall:
            return (self.measure,)
        return next(pair for pair in PAIRS if self.measure in pair)

    @property
    def subtitle(self) -> str:
        """The measure shown (both of a pair when tall) and the model: `max rel. error · model
        at init`."""
        names = [SHOWN[m][0] for m in self.shown_measures()]
        if len(names) == 2:
            names = [names[0].replace("max", "max & sum")]
        return " · ".join(names + ([f"model {self.model}"] if self.model else []))

    def _rebuild(self) -> None:
        table = self.table
        table.clear(columns=True)
        corner = "" if self.tall else SHOWN[self.measure][1]  # tall: every row names its own
        table.add_column(
            Text(corner, style="bold"),
            key="label",
            width=self.tall_label_width if self.tall else self.label_width,
        )
        for T in self.seq_lengths:
            table.add_column(Text(f"T={T}", justify="right"), key=str(T), width=VALUE_WIDTH)
        for method in METHODS:
            for name in self.parameters:
                for measure in self.shown_measures():
                    label = f"{SHORT[method]} {name}" + (
                        f" {measure.split()[-1]}" if self.tall else ""
                    )
                    table.add_row(
                        Text(label, style="bold" if measure.endswith("max") else "dim"),
                        *(self.cell(method, name, T, measure) for T in self.seq_lengths),
                        key=f"{method}-{name}-{measure}",
                    )
        self.border_hint()
        self.post_message(self.Titled(self.subtitle))

    def border_hint(self) -> None:
        """The measure shown, in the table's header tooltip (the pane title is the screen's)."""
        self.tooltip = (
            f"rows: cd = central differences, cs = complex step; "
            f"cells: {', '.join(MEASURES[m][0] for m in self.shown_measures())}; "
            "m changes the measure, Enter opens the full tables"
        )

    def cell(self, method: str, name: str, T: int, measure: str) -> Text:
        row = self.rows[method].get((name, T))
        if row is None:
            return Text("·", style="dim", justify="right")
        colour = "green" if row.passed else "bold red"
        style = colour if measure.endswith("max") else "dim " + colour.split()[-1]
        return Text(short_float(measure_value(row, measure)), style=style, justify="right")

    def set_status(self, method: str, text: str, style: str = "", short: str | None = None) -> None:
        """The method's line: `text` after the method's name, or where that does not fit the
        pane, `short` (the same facts, shorter) after its abbreviation."""
        self.summaries[method] = Text.assemble(
            (f"{SHORT[method]} ", "bold"),
            (f"{METHODS[method]}: ", "bold"),
            (text, style),
            no_wrap=True,
            overflow="ellipsis",
        )
        self.short_summaries[method] = Text.assemble(
            (f"{SHORT[method]} ", "bold"),
            (text if short is None else short, style),
            no_wrap=True,
            overflow="ellipsis",
        )
        if self.short_size != self._wanted:
            self._wanted = self.short_size
            self.post_message(self.Wants())
        self._show_status(method)

    def _show_status(self, method: str) -> None:
        room = self.scrollable_content_region.width
        text = self.summaries[method]
        if room and text.cell_len > room:
            text = self.short_summaries[method]
        self.query_one(f"#gc-{method}-status", Static).update(text)

    # -- progress ---------------------------------------------------------------------------------
    def start(self, method: str, model: str, detail: str = "") -> None:
        """A (re-)run begins: empty the method's rows and say so."""
        self.model = model
        self.rows[method] = {}
        self.reports[method] = None
        self._rebuild()
        self.set_status(method, f"running{detail}")

    def add_row(self, method: str, row: GradcheckRow) -> None:
        """One (parameter, sequence length) result."""
        if row.seq_length not in self.seq_lengths or row.parameter not in self.parameters:
            return  # a length this pane was not built for
        self.rows[method][(row.parameter, row.seq_length)] = row
        table = self.table
        for measure in self.shown_measures():
            table.update_cell(
                f"{method}-{row.parameter}-{measure}",
                str(row.seq_length),
                self.cell(method, row.parameter, row.seq_length, measure),
            )
        total = len(self.parameters) * len(self.seq_lengths)
        self.set_status(method, f"running {len(self.rows[method])}/{total}")

    def finish(self, method: str, report: GradcheckReport | None) -> None:
        self.reports[method] = report
        if report is None:
            self.set_status(method, "stopped (r runs it again)", "yellow")
            return
        failed = " ".join(sorted({r.parameter for r in report.rows if not r.passed}))
        seconds = f"{report.seconds:.1f} s"
        verdict, style = ("passed", "green") if report.passed else ("FAILED", "bold red")
        # A check over its time budget compared a sample of the entries: never shown as all,
        # so the short form says so before the time and the failed parameters' names.
        long = f"{verdict}, {seconds}" if report.passed else f"{verdict} ({failed}), {seconds}"
        short = [verdict]
        if report.sampled:
            long += f"; {sampling_note(report)}"
            short.append(f"sampled {report.checked_entries:,} of {report.total_entries:,}")
        short.append(seconds)
        if not report.passed:
            short.append(failed)
        self.set_status(method, long, style, short=", ".join(short))

    def fail(self, method: str, error: str | None) -> None:
        """The check raised `error` on this method (None: it stopped before this method)."""
        if error is None:
            self.set_status(method, "not run (r runs the check again)", "yellow")
        else:
            self.set_status(method, f"failed: {safe_text.terminal(error)}", "bold red")

    @property
    def failed(self) -> dict[str, int]:
        """Rows that did not pass, per method."""
        return {m: sum(not r.passed for r in rows.values()) for m, rows in self.rows.items()}

    # -- keys -------------------------------------------------------------------------------------
    def action_cycle_measure(self) -> None:
        if self.tall:
            pairs = [p for p in PAIRS if all(m in self.available_measures() for m in p)]
            index = next(i for i, p in enumerate(pairs) if self.measure in p) if pairs else 0
            self.measure = pairs[(index + 1) % len(pairs)][0]
        else:
            measures = self.available_measures()
            index = measures.index(self.measure) if self.measure in measures else -1
            self.measure = measures[(index + 1) % len(measures)]
        self._rebuild()

    def action_tables(self) -> None:
        self.app.push_screen(GradcheckTablesScreen(self))


def full_table(pane: GradcheckPane, method: str) -> DataTable:
    """One method's table as in the report: rows parameter x measure, columns T."""
    table = MethodTable(cursor_type="none", zebra_stripes=True, show_cursor=False, cell_padding=0)
    table.add_column("", key="label", width=pane.tall_label_width + 2)
    for T in pane.seq_lengths:
        table.add_column(Text(f"T={T}", justify="right"), key=str(T), width=VALUE_WIDTH)
    for name in pane.parameters:
        for measure in pane.available_measures():
            table.add_row(
                Text(f"{name} {measure}", style="bold" if measure.endswith("max") else "dim"),
                *(pane.cell(method, name, T, measure) for T in pane.seq_lengths),
            )
    return table


def report_line(report: GradcheckReport | None, summary: Text) -> Text:
    if report is None:
        return summary
    return Text.assemble(
        summary,
        (
            f"\nthreshold {report.threshold:.0e} on the max relative error, h = {report.h:.0e}, "
            f"eps = {report.eps:.0e}, hidden size {report.hidden}"
            + (f", {sampling_note(report)} (r checks every entry)" if report.sampled else ""),
            "dim",
        ),
    )


class GradcheckTablesScreen(ModalScreen[None]):
    """Both methods' full tables, with their settings."""

    BINDINGS = bindings(Scope.MODAL)

    def __init__(self, pane: GradcheckPane) -> None:
        super().__init__()
        self.pane = pane

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(f"Gradient check of the model {self.pane.model}".rstrip(), style="bold"),
                classes="modal-title",
            )
            with VerticalScroll():
                for method in METHODS:
                    yield Static(
                        report_line(self.pane.reports[method], self.pane.summaries[method])
                    )
                    yield full_table(self.pane, method)
            yield Static(Text("escape closes"), classes="modal-hint")
        yield Footer(compact=True)  # this screen's keys, not the main screen's
