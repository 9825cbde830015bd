"""Export a run's model from the runs screen (e): a path prompt, as `tui-rnn export-model`.

The path's extension picks the format (.safetensors in PyTorch's layout, .onnx, .html: a page
that generates text offline), the choice the model (the best, as the command's default, or the
latest). The file is written on a worker by the command's own engine (interop.export_model:
atomically, never over one of the run's files); the app's own run is saved first, so its newest
state is what goes out. A refusal is said under the fields, the form stays; the written file
in a toast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from tui_rnn.app.keys import Scope, bindings
from tui_rnn.app.shown import show_path
from tui_rnn.app.watch import inside
from tui_rnn.app.widgets.fields import SafeInput
from tui_rnn.interop.export_model import CHECKPOINTS, Exported, export_model
from tui_rnn.safe import text as safe_text


class ExportModelScreen(ModalScreen[Exported | None]):
    """The path prompt; dismissed with what was written (None: cancelled)."""

    BINDINGS = bindings(Scope.MODAL)
    AUTO_FOCUS = "#export-path"

    def __init__(
        self,
        run_dir: Path,
        before: Callable[[], object] | None = None,
        watched: tuple[Path, ...] = (),
    ) -> None:
        """`before` runs on the worker first (the app's own run: its state saved); nothing is
        written inside a `watched` run (a viewer writes nothing there)."""
        super().__init__()
        self.run_dir = run_dir
        self.before = before
        self.watched = watched
        self._worker: Worker | None = None
        self.warnings: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text.assemble(("Export the model of ", "bold"), show_path(self.run_dir)),
                classes="modal-title",
            )
            with Grid(id="export-grid"):
                yield Label("file")
                yield SafeInput(f"{self.run_dir.name}.safetensors", id="export-path")
                yield Label("model")
                yield Select(
                    [(f"the {which} model", which) for which in CHECKPOINTS],
                    value=CHECKPOINTS[0],
                    allow_blank=False,
                    compact=True,
                    id="export-which",
                )
            yield Static("", id="export-message")
            yield Static(  # the extension picks the format
                Text("Enter exports · .safetensors, .onnx or .html · esc cancels"),
                classes="modal-hint",
            )
        yield Footer(compact=True)

    def say(self, text: str, style: str = "") -> None:
        self.query_one("#export-message", Static).update(Text(safe_text.terminal(text), style))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        path = event.value.strip()
        if not path:
            self.say("give the file's path (.safetensors, .onnx or .html)")
            return
        which = str(self.query_one("#export-which", Select).value)
        for run in self.watched:
            if inside(run, path):
                self.say(
                    f"{path} is inside the watched run {run}: a viewer writes nothing there; "
                    "choose a path outside it"
                )
                return
        self.say("exporting…", "dim")
        self._worker = self.export(path, which)

    @work(thread=True, exclusive=True, group="export-model", exit_on_error=False)
    def export(self, path: str, which: str) -> Exported:
        if self.before is not None:
            self.before()
        self.warnings = []
        return export_model(self.run_dir, path, None, which, warn=self.warnings.append)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self._worker:
            return
        if event.state == WorkerState.SUCCESS:
            self.dismiss(event.worker.result)
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            known = isinstance(error, ValueError | OSError | RuntimeError)  # ModelFileError ...
            self.say(str(error) if known else f"{type(error).__name__}: {error}")
