"""The help screen (F1): every key, by where it works, and what each pane shows. Generated from
keys.py, the one key map (remapped keys are shown as remapped)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from tui_rnn.app.keys import KEYS, SCOPE_TITLES, Scope, bindings

PANES = (
    (
        "Status line",
        "state, iteration / target, the training loss (the report's smooth_loss, per chunk; "
        "for a run with validation or batches, TensorBoard's debiased EMA of the loss in nats "
        "per character, which starts where the loss starts), the validation loss and the best "
        "one, the time spent training since the app started and the time left to the target, "
        "epoch, speed, "
        "learning rate (eta), corpus and run directory; what does not fit moves to the chart's "
        "and the samples' subtitles.",
    ),
    (
        "Gradient check",
        "analytic vs numerical gradients (cd: central differences, cs: the complex step) of "
        "the model at its initialisation on start, of the current model after r: the largest "
        "(max) and the summed (sum) relative error per parameter and sequence length T; green "
        "passed, red failed.",
    ),
    (
        "Loss chart",
        "the training loss against iteration (cyan: smooth_loss, or train, the debiased EMA "
        "per character), the per-update loss (grey, u) and the validation loss (magenta) when "
        "there is one; grey vertical lines are epoch boundaries, the green dot is the best "
        "model (by validation loss when there is one). The y axis leaves out the start (the "
        "first 5% of the updates, at least smooth_loss's 3,000-update warm-up; f shows it).",
    ),
    (
        "Samples",
        "every synthesized text, headed iter = N, smooth_loss = X; up/down to move, Enter "
        "opens one in full.",
    ),
    (
        "Generator",
        "a prompt, len, temp (0 = greedy), top-p, top-k, seed (empty: the next one), n "
        "samples, beam (a width: beam search for the likeliest text, the sampling fields "
        "off), stop (a string that ends the text; \\n for a newline), best (space ticks it) "
        "for the best model and colour (the text by surprise, the inspector's colours); "
        "Enter generates from any field, the header says the text's bits per character, "
        "ctrl+s appends the text with its header to RUN_DIR/generated.txt.",
    ),
    (
        "Inspector (i)",
        "a passage as a copy of the current (or best, b) model reads it from a zero state: "
        "1 each character coloured by its probability (s: surprisal), the cursor's top-5 next "
        "characters and the passage's loss; 2 one unit's activation (-1 blue, +1 red) and the "
        "units that track features of the text (f, Enter shows one); 3 training health (norms, "
        "update/weight ratio, clipping, saturation), live while training. t changes the text, e "
        "takes yours, r reads again.",
    ),
)


def keys_table(scope: Scope, keymap: dict[str, str] | None = None) -> Table:
    """The keys of one scope: key, what it does."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True, min_width=8)
    table.add_column()
    for key in KEYS:
        if key.scope == scope:
            table.add_row(key.shown(keymap), key.help)
    if scope == Scope.APP:
        table.add_row("ctrl+p", "command palette: every action by name")
        table.add_row("tab", "move the focus between panes and fields")
    return table


def panes_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for name, text in PANES:
        table.add_row(name, text)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = bindings(Scope.MODAL)

    def __init__(self, keymap: dict[str, str] | None = None, run: str = "") -> None:
        super().__init__()
        self.keymap = keymap
        self.run = run

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll():
                yield Static(Text("tui-rnn: keys"), classes="help-title")
                if self.run:
                    yield Static(Text(self.run, style="dim"))
                for scope in Scope:
                    yield Static(Text(SCOPE_TITLES[scope]), classes="help-scope")
                    yield Static(keys_table(scope, self.keymap))
                yield Static(Text("Panes"), classes="help-title")
                yield Static(panes_table())
            yield Static(Text("escape or F1 closes"), classes="modal-hint")
        yield Footer(compact=True)  # this screen's keys, not the main screen's
