"""The runs screen (o): every run under ./runs in a table, as `tui-rnn runs` lists them.

Sortable (s: the next column, S: reverse, or click a header), refreshed with r. Enter opens the
run in the app: it is opened on a worker (its lock taken; another process holding it is said in
one line) and posted to the app (RunOpened), which saves and closes the current run and
switches. Space marks runs to compare (at most four, one colour each); c compares them.
The table is listed on a worker (workspace.list_runs: config.json and the checkpoints'
counters, never a lock taken).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from .. import runs, safetext, workspace
from ..run import Run, RunRequest
from ..workspace import COLUMNS, DAMAGED, DONE, OPEN, THIS_PROCESS, RunSummary
from .compare import COLORS, MAX_RUNS, CompareScreen
from .keys import Scope, bindings
from .messages import RunOpened

STATE_STYLES = {OPEN: "yellow", DAMAGED: "red", DONE: "cyan"}
MARK = "●"


class RunsScreen(Screen):
    SCOPE = Scope.RUNS
    BINDINGS = bindings(Scope.RUNS) + bindings(Scope.MODAL)

    @dataclass
    class Listed(Message):
        summaries: list[RunSummary]

    def __init__(self, base: str | Path = runs.RUNS_DIR) -> None:
        super().__init__()
        self.base = Path(base)
        self.summaries: list[RunSummary] = []
        self.marked: list[Path] = []  # in the order marked (their colours)
        self.sort_column = "updated"
        self.reverse = True  # newest first, as tui-rnn runs lists them
        self._open_worker: Worker | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="runs-title")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="runs-detail")
        yield Static(id="runs-hint")
        yield Footer(compact=True)

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    def on_mount(self) -> None:
        self._title()
        self.table.focus()

    def on_screen_resume(self) -> None:  # shown: first, and back from a screen over it
        self.action_refresh()

    # -- the table --------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="runs-list", exit_on_error=False)
    def list_runs(self) -> None:
        summaries = workspace.list_runs(self.base)
        run_dir = self.app.session.run_dir
        shown = {s.path.resolve() for s in summaries}
        if self.app.session.run.created and run_dir.resolve() not in shown:
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
        for column in COLUMNS:
            arrow = (" ▼" if self.reverse else " ▲") if column == self.sort_column else ""
            table.add_column(column + arrow, key=column)
        ordered = sorted(
            self.summaries, key=lambda s: s.sort_key(self.sort_column), reverse=self.reverse
        )
        if self.reverse:  # unknown values last either way
            ordered.sort(key=lambda s: s.sort_key(self.sort_column)[0])
        for summary in ordered:
            table.add_row(*self._row(summary), key=str(summary.path))
        if cursor is not None:
            try:
                table.move_cursor(row=table.get_row_index(str(cursor.path)))
            except Exception:  # noqa: BLE001 (the run is gone: the cursor stays where it is)
                pass
        self._title()
        self._detail()

    def _row(self, summary: RunSummary) -> list:
        cells = summary.cells()
        mark = Text(" ")
        if summary.path in self.marked:
            mark = Text(MARK, style=COLORS[self.marked.index(summary.path)])
        state = Text(cells[COLUMNS.index("state")], style=STATE_STYLES.get(summary.state, ""))
        row = [mark, *(Text(c) for c in cells)]
        row[1 + COLUMNS.index("state")] = state
        if summary.holder == THIS_PROCESS:
            row[1] = Text(cells[0], style="bold")
        return row

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def _detail(self) -> None:
        """The highlighted run in full (what a narrow table cuts): path, corpus, state,
        updated, and why it is damaged."""
        summary = self.current
        text = Text()
        if summary is not None:
            cells = dict(zip(COLUMNS, summary.cells(), strict=True))
            parts = [safetext.line(str(summary.path)), cells["model"]]
            if summary.corpus is not None:
                parts.append(f"corpus {safetext.line(summary.corpus)}")
            parts += [cells["state"], f"updated {cells['updated']}"]
            text.append(" · ".join(p for p in parts if p))
            if summary.problem:
                text.append("\n" + safetext.line(summary.problem), style="red")
        self.query_one("#runs-detail", Static).update(text)

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
            f" in {safetext.line(str(self.base))}/ · {count:,} run{'s' if count != 1 else ''}",
            f" · sorted by {self.sort_column}",
        )
        if self.marked:
            title.append(f" · {len(self.marked)} marked (c compares)", style="bold")
        self.query_one("#runs-title", Static).update(title)
        hint = "enter opens · space marks · c compares · s sorts · r refreshes · esc closes"
        if not count:
            hint = "no runs yet: n starts one (tui-rnn train makes them too) · esc closes"
        self.query_one("#runs-hint", Static).update(Text(hint, style="dim"))

    # -- keys -------------------------------------------------------------------------------------
    def action_refresh(self) -> None:
        self.list_runs()

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
            self.notify(f"{safetext.line(summary.name)} is damaged: nothing to compare")
            return
        elif len(self.marked) >= MAX_RUNS:
            self.notify(f"at most {MAX_RUNS} runs at once: unmark one first (space)")
            return
        else:
            self.marked.append(summary.path)
        self._fill()

    def action_compare(self) -> None:
        chosen = [s for path in self.marked for s in self.summaries if s.path == path]
        if not chosen and self.current is not None and self.current.state != DAMAGED:
            chosen = [self.current]  # nothing marked: the run under the cursor
        if not chosen:
            self.notify("mark runs to compare with space first")
            return
        self.app.push_screen(CompareScreen(chosen))

    def action_new_run(self) -> None:
        from .new_run_screen import NewRunScreen

        self.app.push_screen(NewRunScreen())

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        summary = self.current
        if summary is None:
            return
        if self._open_worker is not None and self._open_worker.is_running:
            self.notify("a run is being opened: wait for it")
            return
        name = safetext.line(summary.name)
        session = self.app.session
        if session.run.created and summary.path.resolve() == session.run_dir.resolve():
            self.notify(f"{name} is the run open here")
            self.dismiss()
            return
        if summary.state == OPEN and summary.holder != THIS_PROCESS:
            self.notify(
                f"{name} is open in another tui-rnn process (pid {summary.holder}): close it "
                "there first",
                severity="error",
            )
            return
        if summary.state == DAMAGED:
            self.notify(
                safetext.terminal(f"cannot open {name}: {summary.problem}"),
                severity="error",
                timeout=15,
                markup=False,
            )
            return
        self.notify(f"opening {name}…", timeout=3)
        self._open_worker = self.open_run(summary.path)

    @work(thread=True, exclusive=True, group="open-run", exit_on_error=False)
    def open_run(self, path: Path) -> None:
        """Resume the run (its lock taken here, or refused); the app switches to it."""
        if runs.holds_lock(path):  # this app's own run: a second Run would share its lock
            raise runs.RunError(f"{path} is already open in this app")
        warnings: list[str] = []
        run = Run.open(RunRequest(resume=str(path)), warnings.append, lazy=True)
        self.app.post_message(RunOpened(run, tuple(warnings)))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self._open_worker and event.state == WorkerState.ERROR:
            text = str(event.worker.error)
            self.notify(safetext.terminal(text), severity="error", timeout=15, markup=False)
            self.action_refresh()
