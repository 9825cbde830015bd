"""The inspector (i): a passage as a copy of the model reads it, the units inside it, and
training health, in three views (1, 2, 3).

Probabilities colours each character by its probability (or surprisal); Neurons by one unit's
activation, beside the units that track features of the text best; Health tables the weight
and gradient norms, update ratios, clipping and saturation the engine thread measures while the
model trains. The model is copied between two updates, as the generator's is, and the passage
read on a worker: this screen only renders what arrives in messages.
"""

from __future__ import annotations

import numpy as np
from rich.console import Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import ActiveBinding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import ContentSwitcher, Footer, OptionList, Static, Tab, Tabs
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState, get_current_worker

from tui_rnn.app.keys import Scope, bindings, footer_bindings
from tui_rnn.app.messages import HealthUpdate, PassageRead
from tui_rnn.app.requests import ModelCopy, Session, WatchHealth
from tui_rnn.app.session import wait_for_answer
from tui_rnn.app.widgets.fields import SafeTextArea
from tui_rnn.app.widgets.generator_pane import unknown_characters
from tui_rnn.app.widgets.passage_view import PassageView
from tui_rnn.inspection.colours import Colouring
from tui_rnn.inspection.neurons import NeuronTable, neuron_correlations
from tui_rnn.inspection.output import legend, loss_line, palette_styles
from tui_rnn.inspection.passage import (
    DEFAULT_LENGTH,
    MAX_LENGTH,
    Neuron,
    Passage,
    activation_kinds,
    read_passage,
)
from tui_rnn.safe import text as safe_text
from tui_rnn.training.corpus import encode
from tui_rnn.training.health import HealthReport

VIEWS = {"probabilities": "Probabilities", "neurons": "Neurons", "health": "Health"}
SOURCES = {"validation": "validation text", "training": "training text", "yours": "your text"}
FIND_SHOWN = 50  # units in the Find-neurons list
HEALTHY_RATIO = (1e-4, 1e-2)  # update / weight within 10x of CS231n's 1e-3: green, else red


def _ratio_style(ratio: float | None) -> str:
    if ratio is None:
        return ""
    low, high = HEALTHY_RATIO
    return "green" if low <= ratio <= high else "red"


def _g(value: float | None, spec: str = ".3g") -> str:
    return "–" if value is None else format(value, spec)


def health_view(report: HealthReport | None) -> Group:
    """The Health view: what was measured, the parameters' table, the saturation table."""
    if report is None:
        return Group(Text("waiting for the engine…", style="dim"))
    if report.measured:
        window = f"clipped: share of entries at ±{report.clip:g} over the last {report.window}"
        head = Text.assemble(
            (f"update {report.iteration:,}", "bold"),
            f" · measured a few times a second while training ({report.seconds * 1e6:,.0f} µs"
            f" each) · {window} measured updates · update/weight ≈ 1e-3 is healthy (green: "
            f"within 10x)",
        )
    else:
        head = Text.assemble(
            (f"weights at iter {report.iteration:,}", "bold"),
            " · gradients, updates, clipping and saturation appear once the model trains "
            "(t on the main screen)",
        )
    table = Table(expand=False, pad_edge=False, box=None, header_style="bold")
    for column in ("parameter", "layer", "shape", "|θ|", "|g|", "|Δθ|/|θ|", "clipped"):
        table.add_column(column, justify="left" if column in ("parameter", "shape") else "right")
    for p in report.parameters:
        table.add_row(
            p.name,
            "out" if p.layer is None else str(p.layer),
            "×".join(map(str, p.shape)),
            _g(p.weight_norm),
            _g(p.grad_norm),
            Text(_g(p.update_ratio, ".1e"), style=_ratio_style(p.update_ratio)),
            _g(p.clipped, ".1%"),
        )
    parts: list[RenderableType] = [head, Text(), table]
    if report.saturation:
        saturated = Table(expand=False, pad_edge=False, box=None, header_style="bold")
        for column in ("layer", "unit / gate", "saturated when", "share"):
            saturated.add_column(column, justify="right" if column == "share" else "left")
        for row in report.saturation:
            saturated.add_row(str(row.layer), row.kind, row.rule, f"{row.fraction:.1%}")
        parts += [Text(), saturated]
    return Group(*parts)


class TextScreen(ModalScreen[str | None]):
    """Your text: typed or pasted (control characters shown, never obeyed); ctrl+s reads it."""

    BINDINGS = bindings(Scope.MODAL) + bindings(Scope.EDITOR)
    AUTO_FOCUS = "#insp-text-area"  # at compose: the first keys typed already land in it

    def __init__(self, text: str, vocabulary) -> None:
        super().__init__()
        self.text, self.vocabulary = text, tuple(vocabulary)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Your text", style="bold"), classes="modal-title")
            yield SafeTextArea(self.text, id="insp-text-area")
            yield Static("", id="insp-text-message")
            yield Static(
                Text(f"ctrl+s reads it (at most {MAX_LENGTH:,} characters) · escape cancels"),
                classes="modal-hint",
            )
        yield Footer(compact=True)  # this screen's keys, not the inspector's

    def action_read(self) -> None:
        """Read the text once the editor has taken every key typed before ctrl+s: a key reaches
        the editor as it is typed, but ctrl+s acts only after it has bubbled up to the app, and
        keys typed in the same burst may still wait in the editor's queue. A callback queued
        behind them runs after them."""
        self.query_one(SafeTextArea).call_later(self._read)

    def _read(self) -> None:
        if not self.is_active:
            return  # closed meanwhile (escape)
        text = self.query_one(SafeTextArea).text
        unknown = unknown_characters(text, self.vocabulary)
        problem = None
        if not text:
            problem = "type or paste some text first"
        elif unknown:
            shown = " ".join(repr(safe_text.char(ch)) for ch in unknown[:8])
            more = " ..." if len(unknown) > 8 else ""
            problem = f"not in the model's vocabulary: {shown}{more}; remove them"
        elif len(text) > MAX_LENGTH:
            problem = f"{len(text):,} characters: at most {MAX_LENGTH:,}"
        if problem:
            self.query_one("#insp-text-message", Static).update(Text(problem))
            return
        self.dismiss(text)


class InspectorScreen(Screen):
    BINDINGS = bindings(Scope.INSPECTOR)

    def __init__(self, session: Session, best: bool = False) -> None:
        super().__init__()
        self.session = session
        trainer = session.trainer
        self.sources = (["validation"] if len(trainer.val_data) > 1 else []) + ["training"]
        self.source = self.sources[0]
        self.typed = ""
        self.best = best
        self.view = "probabilities"
        self.surprisal = False
        self.neuron = Neuron(0, 0, "h")
        self.passage: Passage | None = None
        self.neurons: NeuronTable | None = None
        self.label = "reading…"
        self.problem: str | None = None  # the last read's failure, shown until the next one
        self.request = 0
        self.health: HealthReport | None = None
        self._reader: Worker | None = None
        self._styles = {name: palette_styles(name) for name in ("sequential", "diverging")}

    def compose(self) -> ComposeResult:
        yield Static(id="insp-title")
        yield Tabs(*(Tab(title, id=view) for view, title in VIEWS.items()), id="insp-tabs")
        yield PassageView(id="insp-passage")
        with ContentSwitcher(initial="panel-probabilities", id="insp-panels"):
            yield Static(id="panel-probabilities")
            with Horizontal(id="panel-neurons"):
                yield Static(id="neuron-info")
                with Vertical(id="find-box"):
                    yield Static(Text("Find neurons (f · Enter shows one)", style="bold"))
                    yield OptionList(id="find-list")
            with VerticalScroll(id="panel-health"):
                yield Static(id="health-table")
        yield Footer(compact=True)

    @property
    def view_box(self) -> PassageView:
        return self.query_one(PassageView)

    def on_mount(self) -> None:
        self.session.request(WatchHealth(self.post_message))
        self.view_box.focus()
        self._show_title()
        self.read()

    def on_unmount(self) -> None:
        self.session.request(WatchHealth(None))

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        return footer_bindings(self, super().active_bindings)

    # -- reading the passage (a thread worker) ----------------------------------------------------
    def read(self) -> None:
        if not self.session.running:
            self.problem = "the engine has stopped: no model to read with"
            self._show_title()
            return
        self.request += 1
        self.label = f"reading the {SOURCES[self.source]}…"
        self._show_title()
        self._reader = self.read_passage(self.request, self.source, self.best, self.typed)

    @work(thread=True, exclusive=True, group="inspect", exit_on_error=False)
    def read_passage(self, request: int, source: str, best: bool, typed: str) -> None:
        worker = get_current_worker()
        model = wait_for_answer(self.session.model_copy(best))
        if model is None:
            return
        ids, label = self.text_ids(source, model, typed)
        passage = read_passage(
            model.params, ids, model.chars, should_stop=lambda: worker.is_cancelled
        )
        if passage is None or worker.is_cancelled:
            return
        shown = [safe_text.char(ch) for ch in model.chars]
        glyphs = [shown[i] for i in passage.ids]
        table = neuron_correlations(passage)
        self.post_message(PassageRead(request, passage, glyphs, table, model.label, label))

    def text_ids(self, source: str, model: ModelCopy, typed: str) -> tuple[np.ndarray, str]:
        """(ids, what they are) of a source (on the worker: the texts never change)."""
        trainer = self.session.trainer
        if source == "yours":
            return encode(typed, model.chars), "your text"
        if source == "validation":
            return trainer.val_data[:DEFAULT_LENGTH], "the validation text"
        # Where training reads next: its position, or 0 when the next update begins an epoch.
        start = model.position
        if start + trainer.config.seq_length + 1 > trainer.segment:
            start = 0
        return trainer.train_data[start : start + DEFAULT_LENGTH], f"training text from {start:,}"

    def on_passage_read(self, message: PassageRead) -> None:
        if message.request != self.request:
            return
        same = self.passage is not None and len(self.passage) == len(message.passage)
        self.passage, self.neurons, self.problem = message.passage, message.neurons, None
        self.label = f"{message.model} · {message.source}"
        spec = message.passage.spec
        self.neuron = Neuron(
            min(self.neuron.layer, spec.layers - 1),
            min(self.neuron.unit, spec.hidden_size - 1),
            self.neuron.kind if self.neuron.kind in activation_kinds(spec) else "h",
        )
        newline = [ch == "\n" for ch in message.passage.chars]
        breaks = [newline[i] for i in message.passage.ids]
        cursor = self.view_box.cursor if same else 0
        self.view_box.show(message.glyphs, breaks, self._char_styles(message.passage), cursor)
        self._fill_find_list()
        self._show_title()
        self._show_panel()
        self.refresh_bindings()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self._reader and event.state == WorkerState.ERROR:
            self.problem = f"could not read the text: {event.worker.error}"
            self._show_title()

    # -- what is shown ----------------------------------------------------------------------------
    @property
    def colouring(self) -> Colouring:
        if self.view == "neurons":
            return Colouring("neuron", self.neuron)
        return Colouring("surprisal" if self.surprisal else "probability")

    def _char_styles(self, passage: Passage) -> list[Style]:
        colouring = self.colouring
        styles = self._styles[colouring.palette_name]
        return [styles[k] for k in colouring.shades(passage).tolist()]

    def _recolour(self) -> None:
        if self.passage is not None:
            self.view_box.recolour(self._char_styles(self.passage))
        self._show_panel()

    def _show_title(self) -> None:
        text = Text.assemble(("Inspector", "bold"), " · ", safe_text.terminal(self.label))
        if self.problem:
            text.append(" · " + safe_text.terminal(self.problem), "bold red")
        self.query_one("#insp-title", Static).update(text)

    def _show_panel(self) -> None:
        if self.view == "probabilities":
            self.query_one("#panel-probabilities", Static).update(self._cursor_info())
        elif self.view == "neurons":
            self.query_one("#neuron-info", Static).update(self._neuron_info())
        else:
            self.query_one("#health-table", Static).update(health_view(self.health))

    def _cursor_info(self) -> Text:
        passage = self.passage
        if passage is None:
            return Text("reading…", style="dim")
        t = self.view_box.cursor
        ch = repr(safe_text.char(passage.chars[passage.ids[t]]))
        text = Text.assemble((f"{ch} #{t:,}", "bold"), f" of {len(passage):,}")
        if t == 0:
            text.append(" · the first character: nothing predicted it", "dim")
        else:
            p, bits = passage.probability[t], passage.surprisal_bits[t]
            text.append(f" · p = {p:.4f} · {bits:.2f} bits ({passage.loss[t]:.3f} nats)")
        text.append("\nnext: ")
        for c, q in passage.top(t):
            text.append(repr(safe_text.char(c)), "bold")
            text.append(f" {q:.3f}  ")
        text.append(f"\npassage: {loss_line(passage)}\n")
        text.append_text(legend(self.colouring))
        text.append(f" · s: {'probability' if self.surprisal else 'surprisal'}", "dim")
        return text

    def _neuron_info(self) -> Text:
        passage, neuron = self.passage, self.neuron
        if passage is None or self.neurons is None:
            return Text("reading…", style="dim")
        t = self.view_box.cursor
        ch = repr(safe_text.char(passage.chars[passage.ids[t]]))
        text = Text.assemble((f"unit {neuron.label}", "bold"))
        keys = ["[ ] unit"] + ["{ } layer"] * (passage.spec.layers > 1)
        keys += ["c h/c"] * (len(passage.kinds) > 1)
        text.append(f"  ({' · '.join(keys)})\n", "dim")
        text.append(f"at {ch} #{t:,}: {float(passage.unit(neuron)[t]):+.3f}\n")
        text.append("tracks (Pearson r):\n", "dim")
        for name, r in self.neurons.of(neuron)[:3]:
            text.append(f"  {name:<15}{r:+.2f}\n")
        text.append_text(legend(self.colouring, what="activation"))
        return text

    def _fill_find_list(self) -> None:
        found = self.query_one("#find-list", OptionList)
        found.clear_options()
        if self.neurons is not None:
            found.add_options(
                Option(Text(f"{m.neuron.label:<9} {m.feature:<15}{m.r:+.3f}"), id=m.neuron.label)
                for m in self.neurons.ranked(FIND_SHOWN)
            )

    def on_passage_view_cursor_moved(self, message: PassageView.CursorMoved) -> None:
        self._show_panel()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is None:  # every option of the list has its unit's label as id
            return
        layer, unit, kind = event.option.id.split(":")
        self.neuron = Neuron(int(layer), int(unit), kind)
        self._recolour()

    def on_health_update(self, message: HealthUpdate) -> None:
        self.health = message.report
        if self.view == "health":
            self._show_panel()

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        event.stop()
        view = event.tab.id
        if view is None or view == self.view:
            return
        self.view = view
        self.query_one(ContentSwitcher).current = f"panel-{view}"
        for name in VIEWS:
            self.set_class(name == view, f"-{name}")
        if view == "health":  # the passage is hidden: its tables scroll with the keys
            self.set_focus(self.query_one("#panel-health"))
        elif not isinstance(self.focused, OptionList):
            self.set_focus(self.view_box)
        self._recolour()
        self.refresh_bindings()

    # -- keys -------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        spec = self.passage.spec if self.passage is not None else None
        if action == "toggle_surprisal":
            return self.view == "probabilities"
        if action in ("unit", "find"):
            return self.view == "neurons" and spec is not None
        if action == "layer":  # not shown where there is nothing to choose
            return self.view == "neurons" and spec is not None and spec.layers > 1
        if action == "toggle_kind":
            return self.view == "neurons" and spec is not None and spec.cell == "lstm"
        if action in ("cycle_text", "edit_text", "toggle_best", "reread"):
            return self.session.running or None
        return True

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_view(self, view: str) -> None:
        self.query_one(Tabs).active = view

    def action_toggle_surprisal(self) -> None:
        self.surprisal = not self.surprisal
        self._recolour()

    def action_cycle_text(self) -> None:
        sources = self.sources + (["yours"] if self.typed else [])
        self.source = sources[(sources.index(self.source) + 1) % len(sources)]
        self.read()

    async def action_edit_text(self) -> None:
        def done(text: str | None) -> None:
            if text:
                self.typed, self.source = text, "yours"
                self.read()

        # Awaited: the editor has the focus before the keys typed after `e` are handed on.
        await self.app.push_screen(TextScreen(self.typed, self.session.trainer.chars), done)

    def action_toggle_best(self) -> None:
        self.best = not self.best
        self.read()

    def action_reread(self) -> None:
        self.read()

    def _select(self, neuron: Neuron) -> None:
        self.neuron = neuron
        self._recolour()

    def action_unit(self, delta: int) -> None:
        if self.passage is None:  # check_action offers it only with a passage
            return
        m = self.passage.spec.hidden_size
        n = self.neuron
        self._select(Neuron(n.layer, (n.unit + delta) % m, n.kind))

    def action_layer(self, delta: int) -> None:
        if self.passage is None:
            return
        layers = self.passage.spec.layers
        n = self.neuron
        self._select(Neuron(min(max(0, n.layer + delta), layers - 1), n.unit, n.kind))

    def action_toggle_kind(self) -> None:
        n = self.neuron
        self._select(Neuron(n.layer, n.unit, "c" if n.kind == "h" else "h"))

    def action_find(self) -> None:
        self.set_focus(self.query_one("#find-list", OptionList))
