"""The samples log: every synthesized text, newest last, each headed `iter = N, smooth_loss = X`.

Up/down move through the samples; Enter (or a click) opens one in full in a modal screen.
Each entry is two lines (header, then the start of the text on one line with newlines shown as
↵), so a very long sample never pushes the others away. Sample text is the model's: it is
shown through safe_text (control characters visible, never obeyed) and never as markup.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from tui_rnn.app.keys import Scope, bindings
from tui_rnn.safe import text
from tui_rnn.training.history import Sample

MAX_SAMPLES_SHOWN = 500  # the oldest leave the list (all of them stay in samples.txt)
PREVIEW_CHARS = 400


def sample_prompt(sample: Sample) -> Group:
    """Two lines, each cut to the pane's width (a Rich Group keeps Text's no_wrap; a bare Text
    would be re-wrapped by the OptionList)."""
    header = Text(
        sample.header,
        style="bold magenta" if sample.best else "bold",
        no_wrap=True,
        overflow="ellipsis",
    )
    preview = text.line(sample.text[:PREVIEW_CHARS])
    body = Text(
        preview or "(empty)", style="" if preview else "dim", no_wrap=True, overflow="ellipsis"
    )
    return Group(header, body)


class SamplesPane(OptionList):
    """A list of samples; the highlight follows the newest unless the user moved it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.samples: list[Sample] = []

    def add_sample(self, sample: Sample) -> None:
        following = self.highlighted is None or self.highlighted == len(self.samples) - 1
        self.samples.append(sample)
        self.add_option(Option(sample_prompt(sample)))
        if len(self.samples) > MAX_SAMPLES_SHOWN:
            self.samples.pop(0)
            self.remove_option_at_index(0)
        if following:
            self.highlighted = len(self.samples) - 1

    def replace_samples(self, samples: list[Sample]) -> None:
        """Show these instead (newest last, the highlight on the newest)."""
        self.samples = []
        self.clear_options()
        for sample in samples[-MAX_SAMPLES_SHOWN:]:
            self.samples.append(sample)
            self.add_option(Option(sample_prompt(sample)))
        self.highlighted = len(self.samples) - 1 if self.samples else None

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self.samples):
            self.app.push_screen(SampleScreen(self.samples[event.option_index]))


class SampleScreen(ModalScreen[None]):
    """One sample in full, scrollable."""

    BINDINGS = bindings(Scope.MODAL)

    def __init__(self, sample: Sample) -> None:
        super().__init__()
        self.sample = sample

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.sample.header), classes="modal-title")
            with VerticalScroll():
                yield Static(Text(text.terminal(self.sample.text)), id="sample-text")
            yield Static(
                Text(f"{len(self.sample.text):,} characters · escape closes"), classes="modal-hint"
            )
        yield Footer(compact=True)  # this screen's keys, not the main screen's
