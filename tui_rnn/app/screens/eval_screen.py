"""Scoring runs on a text (e on the runs screen), as `tui-rnn eval` scores them: the marked runs'
models side by side, best first, in nats and bits per character and perplexity.

A text file is typed in (empty: each run on its own validation text, else its corpus, exactly as
its trainer measures it), and best or latest models chosen; Enter scores them on a worker
(inspection/scoring.py: the file read once as it streams, the progress said under the form; this
app's run saved first, so its newest state is what is scored) and the table shows them. A text
that cannot be read is one line under the form, as the command line says it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Checkbox, DataTable, Footer, Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from tui_rnn.app.keys import Scope, bindings
from tui_rnn.app.requests import Session
from tui_rnn.app.session import wait_for_answer
from tui_rnn.app.widgets.fields import SafeInput
from tui_rnn.inspection import scoring
from tui_rnn.inspection.scoring import RunScore
from tui_rnn.safe import text as safe_text

NUMERIC = {"characters", "unknown", "nats/char", "bits/char", "perplexity"}
PROGRESS_INTERVAL = 0.2  # seconds between two progress messages


class Cancelled(Exception):
    """The screen was closed while its runs were being scored."""


class EvalScreen(Screen):
    """The runs to score, a text, the table."""

    BINDINGS = bindings(Scope.MODAL)

    @dataclass
    class Progressed(Message):
        fraction: float

    @dataclass
    class Scored(Message):
        scores: list[RunScore]
        own_text: bool

    def __init__(self, runs: list[Path], session: Session) -> None:
        super().__init__()
        self.runs = runs
        self.session = session  # the run open in the app (saved before it is scored)
        self.scores: list[RunScore] = []
        self._worker: Worker | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="eval-title")
        with Horizontal(id="eval-form"):
            yield SafeInput(
                placeholder="a text file (empty: each run's own validation text)", id="eval-text"
            )
            yield Checkbox("latest model", id="eval-latest")
        yield Static(id="eval-status")
        yield DataTable(id="eval-table", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        names = ", ".join(safe_text.line(run.name) for run in self.runs)
        self.query_one("#eval-title", Static).update(
            Text.assemble(("Evaluate", "bold"), f" · {len(self.runs)} run(s): {names}")
        )
        self.say("Enter scores them (best models unless latest is ticked) · escape closes")
        self.query_one("#eval-text", Input).focus()

    def say(self, line: str, style: str = "dim") -> None:
        self.query_one("#eval-status", Static).update(Text(safe_text.line(line), style=style))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip() or None
        latest = self.query_one("#eval-latest", Checkbox).value
        self.say("scoring…")
        self._worker = self.score(text, "latest" if latest else "best")

    @work(thread=True, exclusive=True, group="evaluate", exit_on_error=False)
    def score(self, text: str | None, checkpoint: str) -> None:
        worker = get_current_worker()
        session = self.session
        if any(run.resolve() == session.run_dir.resolve() for run in self.runs):
            wait_for_answer(session.save_now())
        last = [0.0]

        def progress(fraction: float) -> None:
            if worker.is_cancelled:
                raise Cancelled
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL:
                last[0] = now
                self.post_message(self.Progressed(fraction))

        try:
            scores = scoring.evaluate_runs(self.runs, text, None, checkpoint, progress=progress)
        except Cancelled:
            return
        self.post_message(self.Scored(scores, own_text=text is None))

    def on_eval_screen_progressed(self, message: Progressed) -> None:
        self.say(f"scoring… {message.fraction:.0%}")

    def on_eval_screen_scored(self, message: Scored) -> None:
        self.scores = message.scores
        columns, rows = scoring.table(message.scores, message.own_text)
        table = self.query_one("#eval-table", DataTable)
        table.clear(columns=True)
        for column in columns:
            table.add_column(column, key=column)
        for row in rows:
            cells = [
                Text(safe_text.line(cell), justify="right" if name in NUMERIC else "left")
                for name, cell in zip(columns, row, strict=True)
            ]
            table.add_row(*cells)
        best = message.scores[0] if message.scores else None
        if best is not None:
            how = "each on its own text" if message.own_text else "one stream from a zero state"
            self.say(f"best: {best.run} at {best.score.bits_per_char:.4f} bits/char ({how})")
        table.focus()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self._worker and event.state == WorkerState.ERROR:
            self.say(f"cannot score: {event.worker.error}", style="bold red")
