"""A new run from the app (n): a corpus (the built-in one, or a text file picked in the working
directory's tree) and the options that shape a run, filled from a preset, then ctrl+s or the
Start button (Enter only moves to the next field, so an Enter meant for a field starts nothing).

The corpus: the built-in one (the first choice), or a text file picked in a DirectoryTree of
the working directory that lists only directories and files that start as UTF-8 text
(corpus.looks_like_text; hidden ones left out). The options: cell, layers, hidden size, batch,
sequence length, optimizer, learning rate (empty: the optimizer's default), validation
fraction and time limit (empty: none, two epochs), filled from a preset (choosing one fills
them in). Every field is checked as it is
typed, by the command line's own rules (options.BY_NAME[name].parse: one place defines them):
a bad value turns its field red and is named under the form.

Start (or ctrl+s) opens the run on a worker as `tui-rnn train` would (Run.open,
lazy: its directory is made at its first update or save); what only the whole request can tell
(a corpus too short for the sequence length, a batch too large for the text) is named under
the form the same way. Once open it goes to the app (RunOpened), which saves and closes the
current run and switches to the new one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from rich.console import Group
from rich.text import Text, TextType
from textual import work
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DirectoryTree, Footer, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from tui_rnn.app.keys import Scope, bindings
from tui_rnn.app.messages import RunOpened
from tui_rnn.app.widgets.fields import SafeInput, read_fields
from tui_rnn.driver import Run, RunRequest
from tui_rnn.safe import text as safe_text
from tui_rnn.training.corpus import BUILTIN_NAME, looks_like_text
from tui_rnn.training.optim import DEFAULT_ETA
from tui_rnn.training.options import (
    BY_NAME,
    PRESET_RUN_OPTIONS,
    PRESETS,
    RUN_BY_NAME,
    format_duration,
)

# (field id, option name, label): the form's fields in order; a name with choices is a Select.
FIELDS = (
    ("new-cell", "cell", "cell"),
    ("new-layers", "layers", "layers"),
    ("new-hidden", "hidden_size", "hidden size"),
    ("new-batch", "batch_size", "batch"),
    ("new-seq-length", "seq_length", "sequence length"),
    ("new-optimizer", "optimizer", "optimizer"),
    ("new-eta", "eta", "learning rate"),
    ("new-val", "val_fraction", "validation fraction"),
    ("new-time", "time_limit", "time limit"),
)
NAMES = {field_id: name for field_id, name, _ in FIELDS}
OPTIONS = {**BY_NAME, **RUN_BY_NAME}  # the fields' options: the run's and its time limit
NUMBER = r"[0-9eE.+\-_]*"  # the characters of a number (the option's rule checks the rest)
DURATION = r"[0-9.hmsHMS ]*"  # 90, 90s, 3m, 1h30m


def preset_values(preset: str) -> dict[str, object]:
    """Every field's value under a preset: the preset's, else the option's default."""
    values = {**PRESETS[preset], **PRESET_RUN_OPTIONS.get(preset, {})}
    return {name: values.get(name, OPTIONS[name].default) for _, name, _ in FIELDS}


def parse_field(name: str, text: str):
    """A field's value by the command line's rule (OptionError, one line, naming the flag);
    an empty learning rate or time limit is not given: the optimizer's default, no limit."""
    if name in ("eta", "time_limit") and not text.strip():
        return None
    return OPTIONS[name].parse(text)


def is_directory(path: Path) -> bool:
    """A directory (False for one we may not even look at)."""
    try:
        return path.is_dir()
    except OSError:
        return False


class TextFileTree(DirectoryTree):
    """Directories and text files (no hidden ones): what a corpus can be. Every name is shown
    through safe_text (a file named with an escape sequence would otherwise reach the terminal
    raw: Rich strips only some control characters)."""

    def process_label(self, label: TextType) -> Text:
        plain = label if isinstance(label, str) else label.plain
        return super().process_label(Text(safe_text.line(plain)))

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [
            path
            for path in paths
            if not path.name.startswith(".") and (is_directory(path) or looks_like_text(path))
        ]


class NewRunScreen(ModalScreen[None]):
    SCOPE = Scope.NEW_RUN
    BINDINGS = bindings(Scope.NEW_RUN) + bindings(Scope.MODAL)

    def __init__(self, root: str | Path = ".") -> None:
        super().__init__()
        self.root = Path(root).resolve()  # (its name labels the tree)
        self.corpus: str | None = None  # None: the built-in corpus
        self.preset = "report"
        self._worker: Worker | None = None

    def compose(self) -> ComposeResult:
        values = preset_values(self.preset)
        with Vertical():
            yield Static(Text("New run", style="bold"), classes="modal-title")
            yield Static(id="new-corpus")
            with Horizontal(id="new-body"):
                with Vertical(id="new-picker"):
                    yield OptionList(
                        Option(  # (a Group keeps no_wrap: a bare Text would be re-wrapped)
                            Group(
                                Text(f"built-in: {BUILTIN_NAME}", no_wrap=True, overflow="ellipsis")
                            ),
                            id="builtin",
                        ),
                        id="new-builtin",
                    )
                    yield TextFileTree(self.root, id="new-tree")
                with Grid(id="new-grid"):
                    yield Label("preset")
                    yield Select(
                        [(name, name) for name in PRESETS],
                        value=self.preset,
                        allow_blank=False,
                        compact=True,
                        id="new-preset",
                    )
                    for field_id, name, label in FIELDS:
                        yield Label(label)
                        option = OPTIONS[name]
                        if option.choices:
                            yield Select(
                                [(choice, choice) for choice in option.choices],
                                value=values[name],
                                allow_blank=False,
                                compact=True,
                                id=field_id,
                            )
                        else:
                            # Only what a number (or a duration) can hold: a stray key (a space)
                            # never replaces the value selected when the field took the focus.
                            allowed = DURATION if name == "time_limit" else NUMBER
                            yield SafeInput(
                                _text(values[name], name),
                                id=field_id,
                                compact=True,
                                restrict=allowed,
                            )
            yield Static("", id="new-message")
            with Horizontal(id="new-buttons"):
                yield Button("Start", id="new-start", variant="primary", compact=True)
                yield Static(
                    Text("ctrl+s starts · Enter: next field · esc cancels"),
                    classes="modal-hint",
                )
        yield Footer(compact=True)  # this screen's keys, not the main screen's

    def on_mount(self) -> None:
        self._show_corpus()
        self._eta_placeholder()
        self.query_one("#new-time", Input).placeholder = "none (2 epochs)"
        self.query_one("#new-builtin").focus()  # the first field: the corpus

    # -- the corpus -------------------------------------------------------------------------------
    def _show_corpus(self) -> None:
        if self.corpus is None:
            text = Text.assemble("corpus: ", (f"built-in ({BUILTIN_NAME})", "bold"))
        else:
            text = Text.assemble("corpus: ", (safe_text.line(self.corpus), "bold"))
        self.query_one("#new-corpus", Static).update(text)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.corpus = None
        self._show_corpus()

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        path = event.path
        try:
            relative = os.path.relpath(path)
            self.corpus = relative if not relative.startswith("..") else str(path)
        except ValueError:  # another drive (Windows)
            self.corpus = str(path)
        self._show_corpus()

    # -- the fields -------------------------------------------------------------------------------
    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == "new-preset" and event.value != self.preset:
            self.preset = str(event.value)
            for field_id, name, _ in FIELDS:  # a preset sets every field
                value = preset_values(self.preset)[name]
                if OPTIONS[name].choices:  # a Select (see compose)
                    self.query_one(f"#{field_id}", Select).value = value
                else:
                    self.query_one(f"#{field_id}", Input).value = _text(value, name)
        self._eta_placeholder()

    def _eta_placeholder(self) -> None:
        optimizer = str(self.query_one("#new-optimizer", Select).value)  # never blank
        eta = self.query_one("#new-eta", Input)
        eta.placeholder = f"{DEFAULT_ETA[optimizer]:g} (default)"

    def on_input_changed(self, event: Input.Changed) -> None:
        """Each field checked as it is typed (the message names the last problem)."""
        field_id = event.input.id
        if field_id not in NAMES:
            return
        _, problems = read_fields(self, {field_id: lambda text: parse_field(NAMES[field_id], text)})
        self._say("; ".join(problems))

    def _read(self) -> tuple[dict[str, object], list[str]]:
        rules = {
            field_id: (lambda text, name=name: parse_field(name, text))
            for field_id, name, _ in FIELDS
            if not OPTIONS[name].choices
        }
        values, problems = read_fields(self, rules)
        options = {NAMES[field_id]: value for field_id, value in values.items()}
        for field_id, name, _ in FIELDS:
            if OPTIONS[name].choices:
                options[name] = OPTIONS[name].check(self.query_one(f"#{field_id}", Select).value)
        return options, problems

    def _say(self, text: str, style: str = "") -> None:
        self.query_one("#new-message", Static).update(Text(text, style=style))

    # -- starting ---------------------------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in a field goes to the next one: a run starts only when asked (ctrl+s, or
        the Start button), never by an Enter meant for a field."""
        event.stop()
        self.focus_next()

    def action_start(self) -> None:
        self.start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "new-start":
            self.start()

    def start(self) -> None:
        options, problems = self._read()
        if problems:
            self._say("; ".join(problems))
            return
        time_limit = options.pop("time_limit", None)
        assert time_limit is None or isinstance(time_limit, float)
        request = RunRequest(
            corpus=self.corpus,
            options={name: value for name, value in options.items() if value is not None},
            preset=self.preset,
            time_limit=time_limit,
            # An emptied time limit is none, even under a preset that has one: two epochs.
            epochs=2.0 if time_limit is None and self._preset_time_limit() else None,
        )
        self._say("starting…", "dim")
        self._worker = self.open_run(request)

    def _preset_time_limit(self) -> bool:
        return PRESET_RUN_OPTIONS.get(self.preset, {}).get("time_limit") is not None

    @work(thread=True, exclusive=True, group="new-run", exit_on_error=False)
    def open_run(self, request: RunRequest) -> None:
        warnings: list[str] = []
        run = Run.open(request, warnings.append, lazy=True)
        self.app.post_message(RunOpened(run, tuple(warnings)))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self._worker and event.state == WorkerState.ERROR:
            error = event.worker.error
            known = isinstance(error, ValueError | OSError)  # OptionError, CorpusError, RunError
            text = str(error) if known else f"{type(error).__name__}: {error}"
            self._say(safe_text.terminal(text))


def _text(value, name: str = "") -> str:
    if value is None:
        return ""
    if OPTIONS.get(name) is not None and OPTIONS[name].duration:
        return format_duration(float(value))
    return f"{value:g}" if isinstance(value, float) else str(value)
