"""The help screen (F1): what each pane shows and what each key does."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .keys import KEYS

PANES = (
    (
        "Gradient check",
        "analytic vs numerical gradients of the model at its initialisation: the largest (max) "
        "and the summed (sum) relative error per parameter for each sequence length T, by "
        "central differences and by the complex step; green passed, red failed.",
    ),
    (
        "Smooth loss",
        "smooth_loss against iteration; grey vertical lines are epoch boundaries, the green "
        "dot is the best model (lowest smooth loss).",
    ),
    (
        "Samples",
        "every synthesized text, headed iter = N, smooth_loss = X; up/down to move, Enter "
        "opens one in full.",
    ),
    (
        "Generator",
        "a prompt, a length and a temperature (0 = greedy); Enter continues the prompt with "
        "the current model, or the best model when ticked (Tab moves between the fields).",
    ),
)


def help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for key in KEYS:
        table.add_row(key.shown, key.help)
    table.add_row("ctrl+p", "command palette: every action above by name")
    table.add_row("tab", "move focus between panes and fields")
    return table


def panes_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for name, text in PANES:
        table.add_row(name, text)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("f1", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll():
                yield Static("tui-rnn: keys", classes="help-title")
                yield Static(help_table())
                yield Static("Panes", classes="help-title")
                yield Static(panes_table())
            yield Static(Text("escape or F1 closes"), id="help-hint")
