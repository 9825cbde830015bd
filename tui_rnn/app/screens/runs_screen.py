"""The runs screen (o): every run under ./runs in a table, as `tui-rnn runs` lists them.

The table is listed on a worker (config.json and the checkpoints' counters, never a lock taken);
the app's own run is in it even when it lives elsewhere. Enter opens a run on a worker (its lock
taken, or the refusal said in one line) and posts it to the app (RunOpened), which saves and
closes the current run and switches; a run another process holds (its state: that pid) is
watched instead, read-only (WatchOpened, app/watch.py). Space marks runs to compare (one colour
each), c compares, e scores them on a text side by side (eval_screen.py).
x exports the run's model (a path prompt).

Every run's losses are in one unit, nats per character: the training loss as TensorBoard's
debiased EMA (from the run's smooth_loss, which starts at a uniform guess's loss), the best
named by what it is the best of (the validation loss, else the training loss). A name too long
for its column keeps its end, which tells runs made the same day apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import ActiveBinding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from tui_rnn.app.keys import Scope, bindings, footer_bindings
from tui_rnn.app.messages import RunOpened
from tui_rnn.app.requests import Session
from tui_rnn.app.screens.compare_screen import COLORS, MAX_RUNS, CompareScreen
from tui_rnn.app.screens.eval_screen import EvalScreen
from tui_rnn.app.screens.export_screen import ExportModelScreen
from tui_rnn.app.screens.new_run_screen import NewRunScreen
from tui_rnn.app.session import wait_for_answer
from tui_rnn.app.shown import keep_end, show_path
from tui_rnn.app.watch import WatchOpened, WatchSession
from tui_rnn.charts import figure
from tui_rnn.driver import Run, RunRequest
from tui_rnn.interop.export_model import Exported
from tui_rnn.safe import files
from tui_rnn.safe import text as safe_text
from tui_rnn.store import rundir, workspace
from tui_rnn.store.workspace import (
    COLUMNS,
    DAMAGED,
    DONE,
    OPEN,
    RIGHT_ALIGNED,
    THIS_PROCESS,
    RunSummary,
)

STATE_STYLES = {OPEN: "yellow", DAMAGED: "red", DONE: "cyan"}
MARK = "●"
# The table's headers (workspace.COLUMNS are its column keys, `tui-rnn runs` prints them whole):
# short, so that every column fits 80 terminal columns; the detail line has the full values.
HEADERS = {"iter/target": "iter", "loss (nats/char)": "train", "best": "best"}
UNIT = "nats/char"  # every loss on this screen
MAX_CORPUS = 12  # a corpus's name is cut to this (with an ellipsis) when the table is narrow
MIN_NAME = 8


def when(updated: float | None) -> str:
    """'11-28 21:49' (the year is in the detail line)."""
    return "" if updated is None else datetime.fromtimestamp(updated).strftime("%m-%d %H:%M")


def compact_cells(summary: RunSummary) -> dict[str, str]:
    """The row's cells in short forms, by column (workspace.cells: the full ones)."""
    full = dict(zip(COLUMNS, summary.cells(), strict=True))
    progress = ""
    if summary.iteration is not None:
        target = "?" if summary.target is None else figure.iteration_label(summary.target)
        progress = f"{figure.iteration_label(summary.iteration)}/{target}"
    train, best = summary.training_loss, summary.best_loss
    return full | {
        "iter/target": progress,
        "loss (nats/char)": "" if train is None else f"{train:.3f}",
        "best": "" if best is None else f"{best[0]:.3f} {best[1]}",
        "state": state_cell(summary),
        "updated": when(summary.updated),
    }


def detail_lines(parts: list[str], width: int) -> list[str]:
    """`parts` joined with " · " into lines of at most `width` cells, each part whole on one
    line (one wider than a line is cut, keeping its end: a path's end names the run)."""
    lines: list[str] = []
    line = ""
    for part in parts:
        part = keep_end(part, width)
        joined = f"{line} · {part}" if line else part
        if cell_len(joined) <= width:
            line = joined
        else:
            lines.append(line)
            line = part
    return lines + [line] if line else lines


def state_cell(summary: RunSummary) -> str:
    """The state as the table shows it: a run another process holds, by that process's pid
    (Enter watches it)."""
    if summary.state == OPEN and summary.holder not in (None, THIS_PROCESS):
        return f"pid {summary.holder}"
    return summary.state


def cut(text: str, width: int) -> str:
    """`text` in at most `width` cells, an ellipsis at its end when cut."""
    if cell_len(text) <= width:
        return text
    while text and cell_len(text) > width - 1:
        text = text[:-1]
    return text + "…"


class RunsScreen(Screen):
    SCOPE = Scope.RUNS
    BINDINGS = bindings(Scope.RUNS) + bindings(Scope.MODAL)

    @dataclass
    class Listed(Message):
        summaries: list[RunSummary]

    def __init__(self, session: Session, base: str | Path = rundir.RUNS_DIR) -> None:
        super().__init__()
        self.session = session  # the run open in the app
        self.base = Path(base)
        self.summaries: list[RunSummary] = []
        self.marked: list[Path] = []  # in the order marked (their colours)
        self.sort_column = "updated"
        self.reverse = True  # newest first, as tui-rnn runs lists them
        self._list_worker: Worker | None = None
        self._open_worker: Worker | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="runs-title")
        # No padding: each cell brings its one-cell gap (see _row), so 80 columns hold them all.
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True, cell_padding=0)
        yield Static(id="runs-detail")
        yield Static(id="runs-hint")
        yield Footer(compact=True)

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        """The Footer's keys cut to what fits its one row, most important first (the rest are
        in the help and the palette)."""
        return footer_bindings(self, super().active_bindings)

    def on_mount(self) -> None:
        self._title()
        self.table.focus()

    def on_screen_resume(self) -> None:  # shown: first, and back from a screen over it
        self.action_refresh()

    # -- the table --------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="runs-list", exit_on_error=False)
    def list_runs(self) -> None:
        summaries = workspace.list_runs(self.base)
        run_dir = self.session.run_dir
        shown = {s.path.resolve() for s in summaries}
        if self.session.on_disk and run_dir.resolve() not in shown:
            summaries.append(workspace.summarize(run_dir))  # this app's run, kept elsewhere
        self.post_message(self.Listed(summaries))

    def on_runs_screen_listed(self, message: Listed) -> None:
        self.summaries = message.summaries
        present = {s.path for s in self.summaries}
        self.marked = [p for p in self.marked if p in present]
        self._fill()

    def _fill(self) -> None:
        table = self.table
        cursor = self.current
        table.clear(columns=True)
        table.add_column(" ", key="mark", width=1)
        rows = {s.path: compact_cells(s) for s in self.summaries}
        headers = {}
        for column in COLUMNS:
            arrow = (" ▼" if self.reverse else " ▲") if column == self.sort_column else ""
            headers[column] = HEADERS.get(column, column) + arrow
        widths = self._widths(headers, list(rows.values()))
        for column in COLUMNS:
            header = headers[column]
            header = header.rjust(widths[column]) if column in RIGHT_ALIGNED else header
            table.add_column(Text(" " + header), key=column, width=widths[column] + 1)
        ordered = sorted(self.summaries, key=self._sort_key, reverse=self.reverse)
        if self.reverse:  # unknown values last either way
            ordered.sort(key=lambda s: self._sort_key(s)[0])
        for summary in ordered:
            table.add_row(*self._row(summary, rows[summary.path], widths), key=str(summary.path))
        if cursor is not None:
            try:
                table.move_cursor(row=table.get_row_index(str(cursor.path)))
            except Exception:  # noqa: BLE001 (the run is gone: the cursor stays where it is)
                pass
        self._title()
        self._detail()

    def _widths(self, headers: dict[str, str], rows: list[dict[str, str]]) -> dict[str, int]:
        """Each column's width (without its one-cell gap): as wide as its cells, but the corpus
        at most MAX_CORPUS and the name what is left of the table's width (at least MIN_NAME)
        when the table would not fit."""
        widths = {
            c: max([cell_len(headers[c])] + [cell_len(row[c]) for row in rows]) for c in COLUMNS
        }
        room = (self.table.size.width or self.app.size.width) - 2  # the mark, a scrollbar
        room -= len(COLUMNS)  # the gaps
        if sum(widths.values()) > room:
            widths["corpus"] = min(widths["corpus"], max(MAX_CORPUS, cell_len(headers["corpus"])))
        if sum(widths.values()) > room:
            others = sum(w for c, w in widths.items() if c != "name")
            widths["name"] = max(MIN_NAME, cell_len(headers["name"]), room - others)
        return widths

    def _sort_key(self, summary: RunSummary):
        """workspace's order (the losses per character: runs of other sequence lengths
        compare)."""
        return summary.sort_key(self.sort_column)

    def _row(self, summary: RunSummary, cells: dict[str, str], widths: dict[str, int]) -> list:
        mark = Text(" ")
        if summary.path in self.marked:
            mark = Text(MARK, style=COLORS[self.marked.index(summary.path)])
        row = [mark]
        for column in COLUMNS:
            # A name keeps its end (runs made the same day differ there), the rest their start.
            fit = keep_end if column == "name" else cut
            cell = fit(cells[column], widths[column])
            text = Text(" " + (cell.rjust(widths[column]) if column in RIGHT_ALIGNED else cell))
            if column == "state":
                text.stylize(STATE_STYLES.get(summary.state, ""))
            if column == "name" and summary.holder == THIS_PROCESS:
                text.stylize("bold")
            row.append(text)
        return row

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def on_resize(self) -> None:
        self._detail()

    def _detail(self) -> None:
        """The highlighted run in full (what the table shortens): path, model, corpus,
        iteration/target, losses (and a report-style run's smooth_loss, as its report says
        it), state, updated, and why it is damaged; broken into lines between its parts."""
        summary = self.current
        detail = self.query_one("#runs-detail", Static)
        text = Text(no_wrap=True, overflow="ellipsis")
        if summary is not None:
            cells = dict(zip(COLUMNS, summary.cells(), strict=True))
            parts = [show_path(summary.path), cells["model"]]
            if summary.corpus is not None:
                parts.append(f"corpus {safe_text.line(summary.corpus)}")
            if cells["iter/target"]:
                parts.append(f"iter {cells['iter/target']}")
            train, best = summary.training_loss, summary.best_loss
            if train is not None:
                parts.append(f"train {train:.3f} {UNIT}")
            report_run = summary.best_val_loss is None and summary.batch_size == 1
            if report_run and summary.smooth_loss is not None:
                parts.append(f"smooth_loss {summary.smooth_loss:.3f}")  # the report's figure
            if best is not None:
                at = f" @ {summary.best_iteration:,}" if summary.best_iteration is not None else ""
                parts.append(f"best {best[1]} {best[0]:.3f}{at}")
            state = cells["state"]
            if summary.state == OPEN and summary.holder != THIS_PROCESS:
                state = f"open in another process (pid {summary.holder}): enter watches it"
            parts += [state, f"updated {cells['updated']}"]
            width = detail.content_size.width or self.app.size.width - 2
            text.append("\n".join(detail_lines([p for p in parts if p], width)))
            if summary.problem:
                text.append("\n" + safe_text.line(summary.problem), style="red")
        detail.update(text)

    @property
    def current(self) -> RunSummary | None:
        table = self.table
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((s for s in self.summaries if str(s.path) == key), None)

    def _title(self) -> None:
        count = len(self.summaries)
        title = Text.assemble(
            ("Runs", "bold"),
            f" in {show_path(self.base)}/ · {count:,} run{'s' if count != 1 else ''}",
            f" · sorted by {self.sort_column} · losses in {UNIT}",
        )
        if self.marked:
            title.append(f" · {len(self.marked)} marked (c compares, e scores)", style="bold")
        self.query_one("#runs-title", Static).update(title)
        hint = "enter opens · space marks · c compares · e evals · x exports · esc closes"
        if not count:
            hint = "no runs yet: n starts one (tui-rnn train makes them too) · esc closes"
        self.query_one("#runs-hint", Static).update(Text(hint, style="dim"))

    # -- keys -------------------------------------------------------------------------------------
    def action_first_row(self) -> None:
        self.table.move_cursor(row=0)

    def action_last_row(self) -> None:
        self.table.move_cursor(row=max(0, self.table.row_count - 1))

    def action_refresh(self) -> None:
        self._list_worker = self.list_runs()

    def action_sort(self) -> None:
        index = COLUMNS.index(self.sort_column)
        self.sort_column = COLUMNS[(index + 1) % len(COLUMNS)]
        self.reverse = self.sort_column == "updated"
        self._fill()

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self._fill()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        column = event.column_key.value
        if column not in COLUMNS:
            return
        if column == self.sort_column:
            self.reverse = not self.reverse
        else:
            self.sort_column, self.reverse = column, False
        self._fill()

    def action_mark(self) -> None:
        summary = self.current
        if summary is None:
            return
        if summary.path in self.marked:
            self.marked.remove(summary.path)
        elif summary.state == DAMAGED:
            self.notify(
                f"{safe_text.line(summary.name)} is damaged: nothing to compare", markup=False
            )
            return
        elif len(self.marked) >= MAX_RUNS:
            self.notify(f"at most {MAX_RUNS} runs at once: unmark one first (space)", markup=False)
            return
        else:
            self.marked.append(summary.path)
        self._fill()

    def action_compare(self) -> None:
        chosen = [s for path in self.marked for s in self.summaries if s.path == path]
        if not chosen and self.current is not None and self.current.state != DAMAGED:
            chosen = [self.current]  # nothing marked: the run under the cursor
        if not chosen:
            self.notify("mark runs to compare with space first", markup=False)
            return
        self.app.push_screen(CompareScreen(chosen, self.session))

    def action_evaluate(self) -> None:
        chosen = [s.path for path in self.marked for s in self.summaries if s.path == path]
        if not chosen and self.current is not None and self.current.state != DAMAGED:
            chosen = [self.current.path]  # nothing marked: the run under the cursor
        if not chosen:
            self.notify("mark runs to score with space first")
            return
        self.app.push_screen(EvalScreen(chosen, self.session))

    def action_new_run(self) -> None:
        self.app.push_screen(NewRunScreen())

    def action_export_model(self) -> None:
        """A path prompt, then the model written (the app's own run saved first)."""
        summary = self.current
        if summary is None:
            return
        if summary.state == DAMAGED:
            self.notify(
                f"cannot export {summary.name}: {summary.problem}", severity="error", markup=False
            )
            return
        session = self.session
        own = session.on_disk and summary.path.resolve() == session.run_dir.resolve()
        before = (lambda: wait_for_answer(session.save_now())) if own else None

        def done(exported: Exported | None) -> None:
            if exported is not None:
                self.notify(
                    f"wrote {exported.path} ({exported.format}, {exported.size:,} bytes; "
                    f"iteration {exported.iteration:,})",
                    title="Model exported",
                    timeout=15,
                    markup=False,
                )

        # A viewer writes nothing into the run it watches, nor into one another process trains.
        watched = [summary.path] if summary.state == OPEN and summary.holder != THIS_PROCESS else []
        if session.watching:
            watched.append(session.run_dir)
        self.app.push_screen(ExportModelScreen(summary.path, before, tuple(watched)), done)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        summary = self.current
        if summary is None:
            return
        if self._open_worker is not None and self._open_worker.is_running:
            self.notify("a run is being opened: wait for it", markup=False)
            return
        name = safe_text.line(summary.name)
        session = self.session
        if session.on_disk and summary.path.resolve() == session.run_dir.resolve():
            here = "watched" if session.watching else "open"
            self.notify(f"{name} is the run {here} here", markup=False)
            self.dismiss()
            return
        if summary.state == OPEN and summary.holder != THIS_PROCESS:
            self.notify(
                f"watching {name}, trained in pid {summary.holder}…", timeout=3, markup=False
            )
            self._open_worker = self.watch_run(summary.path)
            return
        if summary.state == DAMAGED:
            self.notify(
                safe_text.terminal(f"cannot open {name}: {summary.problem}"),
                severity="error",
                timeout=15,
                markup=False,
            )
            return
        self.notify(f"opening {name}…", timeout=3, markup=False)
        self._open_worker = self.open_run(summary.path)

    @work(thread=True, exclusive=True, group="open-run", exit_on_error=False)
    def open_run(self, path: Path) -> None:
        """Resume the run (its lock taken here, or refused); the app switches to it."""
        if rundir.holds_lock(path):  # this app's own run: a second Run would share its lock
            raise files.RunError(f"{path} is already open in this app")
        warnings: list[str] = []
        run = Run.open(RunRequest(resume=str(path)), warnings.append, lazy=True)
        self.app.post_message(RunOpened(run, tuple(warnings)))

    @work(thread=True, exclusive=True, group="open-run", exit_on_error=False)
    def watch_run(self, path: Path) -> None:
        """Follow the run read-only (no lock: another process holds it); the app switches."""
        self.app.post_message(WatchOpened(WatchSession.open(path)))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        if event.worker is self._open_worker:
            text = str(event.worker.error)
            self.notify(safe_text.terminal(text), severity="error", timeout=15, markup=False)
            self.action_refresh()
        elif event.worker is self._list_worker:
            text = f"cannot list the runs: {event.worker.error}"
            self.notify(safe_text.terminal(text), severity="error", timeout=15, markup=False)
