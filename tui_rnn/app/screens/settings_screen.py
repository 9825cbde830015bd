"""The training settings (T): the run's target, in updates or in epochs, and its learning rate.

Enter in any field applies, escape cancels. Every bad value is named under the fields (the field
turns red) and nothing is applied. A new learning rate is recorded in config.json's
`eta_changes`, as `--resume --eta` records it; a new target in its `target_iterations`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static

from tui_rnn.app.keys import Scope, bindings
from tui_rnn.app.messages import Status
from tui_rnn.app.widgets.fields import SafeInput, read_fields
from tui_rnn.training.options import BY_NAME, EPOCHS, ITERATIONS, OptionError


@dataclass(frozen=True)
class Settings:
    target: int | None = None  # None: unchanged
    eta: float | None = None


def epochs_text(iterations: int, updates_per_epoch: int) -> str:
    return f"{iterations / max(1, updates_per_epoch):.4g}"


def parse_iterations(text: str, at: int) -> int:
    """The new target typed in (1,000 and 1_000 read as 1000): --iterations' rule, and above
    the run's iteration."""
    try:
        target = ITERATIONS.parse(text.replace(",", "").replace("_", ""))
    except OptionError as err:
        raise ValueError(str(err).replace("--iterations", "target", 1)) from None
    if target <= at:
        raise ValueError(f"target must be above the run's iteration {at:,}, got {target:,}")
    return target


def parse_epochs(text: str, at: int, updates_per_epoch: int) -> int:
    """The new target as epochs: --epochs' rule, then as updates."""
    try:
        epochs = EPOCHS.parse(text)
    except OptionError as err:
        raise ValueError(str(err).replace("--epochs", "epochs", 1)) from None
    if epochs * updates_per_epoch > 2**62:
        raise ValueError(f"epochs must be at most {2**62 // updates_per_epoch:,}, got {text!r}")
    return parse_iterations(str(round(epochs * updates_per_epoch)), at)


def parse_eta(text: str) -> float:
    try:
        return BY_NAME["eta"].parse(text)
    except OptionError as err:
        raise ValueError(str(err).replace("--eta", "eta")) from None


TARGET_FIELDS = ("set-iterations", "set-epochs")


class SettingsScreen(ModalScreen[Settings | None]):
    BINDINGS = bindings(Scope.MODAL)
    AUTO_FOCUS = "#set-iterations"

    def __init__(self, status: Status, iteration: Callable[[], int] | None = None) -> None:
        """`iteration` reads the run's live iteration (it moves while the run trains): a new
        target is checked against it when applied, not against the status of when T was
        pressed."""
        super().__init__()
        self.status = status
        self.live_iteration = iteration or (lambda: status.iteration)
        self.source: str | None = None  # the target field the user typed in
        self.initial = {
            "set-iterations": str(status.target),
            "set-epochs": epochs_text(status.target, status.updates_per_epoch),
        }

    def compose(self) -> ComposeResult:
        s = self.status
        with Vertical():
            yield Static(Text("Training settings", style="bold"), classes="modal-title")
            yield Static(self.where(), id="settings-where")
            with Grid(id="settings-grid"):
                yield Label("target (updates)")
                yield SafeInput(self.initial["set-iterations"], id="set-iterations")
                yield Label("or (epochs)")
                yield SafeInput(self.initial["set-epochs"], id="set-epochs")
                yield Label("learning rate eta")
                yield SafeInput(f"{s.eta:g}", id="set-eta")
            yield Static("", id="settings-message")
            yield Static(Text("Enter applies · escape cancels"), classes="modal-hint")
        yield Footer(compact=True)  # this screen's keys, not the main screen's

    def where(self) -> Text:
        s = self.status
        return Text(
            f"The run is at iter {self.live_iteration():,} "
            f"({s.updates_per_epoch:,} updates per epoch).",
            style="dim",
        )

    def on_mount(self) -> None:
        self.set_interval(0.5, self._show_where)

    def _show_where(self) -> None:
        self.query_one("#settings-where", Static).update(self.where())

    def on_input_changed(self, event: Input.Changed) -> None:
        """The target typed in one unit is shown in the other. Only the focused field is the
        user's: a change to the other one is this method's own (its Changed message arrives
        later), and must not echo back."""
        field_id = event.input.id
        if field_id not in TARGET_FIELDS or event.input is not self.focused:
            return
        if event.value == self.initial[field_id] and self.source is None:
            return  # the field's first value (Textual posts it on mount), not an edit
        self.source = field_id
        s = self.status
        try:
            if field_id == "set-iterations":
                value = parse_iterations(event.value, -1)
                other, text = "#set-epochs", epochs_text(value, s.updates_per_epoch)
            else:
                value = parse_epochs(event.value, -1, s.updates_per_epoch)
                other, text = "#set-iterations", str(value)
        except ValueError:
            return
        self.query_one(other, Input).value = text

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        s = self.status
        at = self.live_iteration()  # now, not when the screen opened: training goes on
        rules = {"set-eta": parse_eta}
        if self.source == "set-iterations":  # the field the user typed the target in
            rules[self.source] = lambda text: parse_iterations(text, at)
        elif self.source == "set-epochs":
            rules[self.source] = lambda text: parse_epochs(text, at, s.updates_per_epoch)
        values, problems = read_fields(self, rules)
        if problems:
            self.query_one("#settings-message", Static).update(Text("; ".join(problems)))
            return
        # No source: the target stays as it is.
        target = s.target if self.source is None else values[self.source]
        eta = values["set-eta"]
        self.dismiss(
            Settings(
                target=None if target == s.target else target,
                eta=None if eta == s.eta else eta,
            )
        )
