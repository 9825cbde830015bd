"""The key map: every key of the app, once (training, the panes, the runs, new runs, the report,
the inspector).

Each `Key` becomes one Textual `Binding` (with an `id`, so `App.set_keymap` can remap it, and a
tooltip), one line of the help screen and one command of the palette. Keys live in scopes that
follow the focus (APP everywhere, MAIN on the main screen, a pane's only while it has the focus,
a screen's only on it), so the chart's letters never shadow a training key; each node's
`check_action` says which can act now. The Footer shows as many of the ranked keys as fit its
one row (footer_bindings); the rest are in the help (F1) and the command palette (ctrl+p).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from textual.binding import ActiveBinding, Binding, BindingType
from textual.dom import DOMNode
from textual.screen import Screen


class Scope(StrEnum):
    APP = "app"  # everywhere
    MAIN = "main"  # the main screen
    CHART = "chart"  # the loss chart has the focus
    GENERATOR = "generator"  # a field of the generator has the focus
    GRADCHECK = "gradcheck"  # the gradient-check pane has the focus
    RUNS = "runs"  # the runs screen (o)
    COMPARE = "compare"  # the marked runs' curves (c on the runs screen)
    MODAL = "modal"  # a screen over the main one (help, a sample, settings, full tables)
    NEW_RUN = "new-run"  # the new-run form (n)
    INSPECTOR = "inspector"  # the inspector screen (i)
    PASSAGE = "passage"  # the inspector's passage has the focus
    EDITOR = "editor"  # the inspector's "your text" editor
    WATCH = "watch"  # the main screen of a watched run (tui-rnn watch): read-only


SCOPE_TITLES = {
    Scope.APP: "Everywhere",
    Scope.MAIN: "Main screen",
    Scope.CHART: "Loss chart (l or tab to focus it)",
    Scope.GENERATOR: "Generator (g to focus it)",
    Scope.GRADCHECK: "Gradient check (tab to focus it)",
    Scope.RUNS: "Runs (o)",
    Scope.COMPARE: "Comparing runs (c on the runs screen)",
    Scope.MODAL: "Screens over the main one",
    Scope.NEW_RUN: "New run form (n)",
    Scope.INSPECTOR: "Inspector (i): probabilities, neurons, health",
    Scope.PASSAGE: "Inspector: the passage",
    Scope.EDITOR: "Inspector: your text (e)",
    Scope.WATCH: "Watching a run another process trains (tui-rnn watch; greyed keys say why)",
}


@dataclass(frozen=True)
class Key:
    name: str  # the binding id is "tui-rnn.<name>" (App.set_keymap({"tui-rnn.train": "f5"}))
    key: str  # Textual key name(s), comma-separated
    action: str  # action on the scope's node, without the action_ prefix
    label: str  # short Footer text
    help: str  # one line: help screen, command palette, Footer tooltip
    scope: Scope
    footer: int | None = None  # rank in the Footer (lower first); None: help and palette only
    priority: bool = False
    display: str | None = None  # how the Footer and the help write the key
    group: str | None = None  # keys shown together in the Footer under one label

    @property
    def id(self) -> str:
        return f"tui-rnn.{self.name}"

    def binding(self) -> Binding:
        return Binding(
            self.key,
            self.action,
            self.label,
            show=self.footer is not None,
            key_display=self.display,
            priority=self.priority,
            tooltip=self.help,
            id=self.id,
            group=Binding.Group(self.group, compact=True) if self.group else None,
        )

    def shown(self, keymap: dict[str, str] | None = None) -> str:
        """The key as the help screen writes it (after a remap, the new key)."""
        key = (keymap or {}).get(self.id, self.key)
        if key == self.key and self.display:
            return self.display
        return " ".join(DISPLAY.get(k, k) for k in key.split(","))


DISPLAY = {
    "escape": "esc",
    "enter": "enter",
    "question_mark": "?",
    "minus": "-",
    "plus": "+",
    "equals_sign": "=",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "left_curly_bracket": "{",
    "right_curly_bracket": "}",
    "pageup": "pgup",
    "pagedown": "pgdn",
}

_I, _P = Scope.INSPECTOR, Scope.PASSAGE
INSPECTOR_KEYS = (
    Key("insp-close", "escape", "close", "Back", "back to the main screen", _I, 0),
    Key(
        "insp-probabilities",
        "1",
        "view('probabilities')",
        "View",
        "probabilities",
        _I,
        3,
        group="View",
    ),
    Key("insp-neurons", "2", "view('neurons')", "View", "neurons", _I, 3, group="View"),
    Key("insp-health", "3", "view('health')", "View", "training health", _I, 3, group="View"),
    Key(
        "insp-surprisal",
        "s",
        "toggle_surprisal",
        "Surprisal",
        "colour by probability / surprisal (bits)",
        _I,
        4,
    ),
    Key(
        "insp-text",
        "t",
        "cycle_text",
        "Text",
        "the text: validation / training (current position) / yours",
        _I,
        5,
    ),
    # A priority key (the inspector has no text field): the editor is up before the keys typed
    # right after `e` are handed on, so they land in it.
    Key("insp-edit", "e", "edit_text", "Yours", "type or paste your own text", _I, 6, True),
    Key("insp-best", "b", "toggle_best", "Best", "the best model / the current one", _I, 7),
    Key(
        "insp-reread",
        "r",
        "reread",
        "Reread",
        "read the text again with a fresh copy of the model",
        _I,
        8,
    ),
    Key(
        "insp-unit-down",
        "left_square_bracket",
        "unit(-1)",
        "Unit",
        "the previous unit",
        _I,
        9,
        group="Unit",
    ),
    Key(
        "insp-unit-up",
        "right_square_bracket",
        "unit(1)",
        "Unit",
        "the next unit",
        _I,
        9,
        group="Unit",
    ),
    Key(
        "insp-layer-down",
        "left_curly_bracket",
        "layer(-1)",
        "Layer",
        "the layer below",
        _I,
        group="Layer",
    ),
    Key(
        "insp-layer-up",
        "right_curly_bracket",
        "layer(1)",
        "Layer",
        "the layer above",
        _I,
        group="Layer",
    ),
    Key("insp-kind", "c", "toggle_kind", "h/c", "an LSTM unit's output h / cell state c", _I, 10),
    Key(
        "insp-find",
        "f",
        "find",
        "Find",
        "the units that track features of the text (Enter shows one)",
        _I,
        11,
    ),
    Key("insp-left", "left", "move(-1)", "Move", "the previous character", _P),
    Key("insp-right", "right", "move(1)", "Move", "the next character", _P),
    Key("insp-up", "up", "line(-1)", "Move", "the line above", _P),
    Key("insp-down", "down", "line(1)", "Move", "the line below", _P),
    Key("insp-page-up", "pageup", "page(-1)", "Page", "a page up", _P),
    Key("insp-page-down", "pagedown", "page(1)", "Page", "a page down", _P),
    Key("insp-home", "home", "jump(0)", "Start", "the first character", _P),
    Key("insp-end", "end", "jump(-1)", "End", "the last character", _P),
    Key(
        "insp-read",
        "ctrl+s",
        "read",
        "Read",
        "read this text (back to the inspector)",
        Scope.EDITOR,
        1,
    ),
)

KEYS: tuple[Key, ...] = (
    # -- everywhere -----------------------------------------------------------------------------
    Key(
        "quit", "ctrl+q", "quit", "Quit", "stop training, save the state, quit", Scope.APP, 0, True
    ),
    Key("help", "f1", "help", "Help", "all keys and panes (this help)", Scope.APP, 1, True),
    Key(
        "help-too",
        "question_mark",
        "help",
        "Help",
        "this help, as F1 (not in text fields)",
        Scope.APP,
    ),
    # -- the main screen ------------------------------------------------------------------------
    Key(
        "train",
        "t",
        "train",
        "Train",
        "train: start, resume, or go on past the target",
        Scope.MAIN,
        2,
    ),
    Key("pause", "p", "pause", "Pause", "pause training (the state is saved)", Scope.MAIN, 2),
    Key("sample", "s", "sample", "Sample", "a sample from the current model now", Scope.MAIN, 10),
    Key("best", "b", "best", "Best", "1,000 characters from the best model", Scope.MAIN, 11),
    Key("prompt", "g", "focus_prompt", "Prompt", "type a prompt for the generator", Scope.MAIN, 12),
    Key("check", "r", "gradcheck", "Check", "gradient check of the current model", Scope.MAIN, 13),
    # A priority key: its screen is pushed before the keys typed after it are handed on, so
    # `T` then a burst of keys lands in the settings' field (off in text fields, see MainScreen).
    Key(
        "settings",
        "T",
        "settings",
        "Settings",
        "training target and learning rate",
        Scope.MAIN,
        14,
        priority=True,
    ),
    Key("chart", "l", "focus_chart", "Chart", "focus the loss chart (its keys)", Scope.MAIN),
    # Priority, as T: the focus moves before the keys typed after tab are handed on, so a
    # burst (tab 0 tab abc ...) fills field after field.
    Key("next", "tab", "focus_next", "Next", "the next pane or field", Scope.MAIN, priority=True),
    Key(
        "previous",
        "shift+tab",
        "focus_previous",
        "Previous",
        "the previous pane or field",
        Scope.MAIN,
        priority=True,
    ),
    Key("export", "e", "export", "Export", "loss history as CSV and JSON into the run", Scope.MAIN),
    Key("checkpoint", "c", "checkpoint", "Save", "save a checkpoint now", Scope.MAIN),
    Key(
        "inspector",
        "i",
        "inspector",
        "Inspect",
        "the inspector: probabilities, neurons, training health",
        Scope.MAIN,
        15,
    ),
    Key("runs", "o", "runs", "Runs", "the runs: open one, compare them", Scope.MAIN, 16),
    Key("new-run", "n", "new_run", "New", "start a new run (a form)", Scope.MAIN, 18),
    Key(
        "report",
        "w",
        "write_report",
        "Report",
        "write the report of this run (report.md, fig1.svg)",
        Scope.MAIN,
        17,
    ),
    # -- the loss chart, while it has the focus ----------------------------------------------------
    Key("log-y", "y", "toggle_log", "Log y", "logarithmic / linear y axis", Scope.CHART, 3),
    Key(
        "window",
        "z",
        "cycle_window",
        "Window",
        "all updates / the recent 25% / the recent 5% (follows the newest)",
        Scope.CHART,
        4,
    ),
    Key("raw", "u", "toggle_raw", "Loss", "the per-update loss under smooth_loss", Scope.CHART, 5),
    Key(
        "smooth-less",
        "minus",
        "smoothing(-1)",
        "Smooth",
        "less smoothing of the loss (TensorBoard's debiased EMA)",
        Scope.CHART,
        6,
        group="Smooth",
    ),
    Key(
        "smooth-more",
        "plus,equals_sign",
        "smoothing(1)",
        "Smooth",
        "more smoothing of the loss (TensorBoard's debiased EMA)",
        Scope.CHART,
        6,
        group="Smooth",
    ),
    Key(
        "validation", "v", "toggle_validation", "Val", "the validation loss on/off", Scope.CHART, 7
    ),
    Key(
        "units",
        "k",
        "cycle_unit",
        "Units",
        "loss per chunk (the report's) / nats per character / bits per character",
        Scope.CHART,
        7,
    ),
    Key(
        "full-y",
        "f",
        "toggle_full",
        "Full y",
        "y axis from the first loss (the initial drop)",
        Scope.CHART,
        8,
    ),
    # -- the generator, while one of its fields has the focus --------------------------------------
    Key(
        "generate", "enter", "generate", "Generate", "generate (from any field)", Scope.GENERATOR, 3
    ),
    Key(
        "save-text",
        "ctrl+s",
        "save",
        "Save",
        "append the text to RUN_DIR/generated.txt",
        Scope.GENERATOR,
        4,
    ),
    Key(
        "leave",
        "escape",
        "leave",
        "Leave",
        "leave the generator (back to the samples)",
        Scope.GENERATOR,
        5,
    ),
    Key(
        "best-model",
        "space",
        "toggle_best",
        "Tick",
        "tick or untick the box: best (the best model, not the current) or colour (the "
        "text by surprise)",
        Scope.GENERATOR,
    ),
    # -- the gradient-check pane, while it has the focus -------------------------------------------
    Key(
        "gc-tables",
        "enter",
        "tables",
        "Tables",
        "the full tables of both methods",
        Scope.GRADCHECK,
        3,
    ),
    Key(
        "gc-measure",
        "m",
        "cycle_measure",
        "Measure",
        "which error the table shows: max / sum relative error (and the report's, when known)",
        Scope.GRADCHECK,
        4,
    ),
    # -- the runs screen ---------------------------------------------------------------------------
    Key(
        "open-run",
        "enter",
        "open",
        "Open",
        "open the run in the app (this one is saved and closed)",
        Scope.RUNS,
        2,
    ),
    Key("mark", "space", "mark", "Mark", "mark or unmark the run to compare", Scope.RUNS, 3),
    Key("compare", "c", "compare", "Compare", "overlay the marked runs' curves", Scope.RUNS, 4),
    Key("sort", "s", "sort", "Sort", "sort by the next column (or click a header)", Scope.RUNS, 5),
    Key("sort-reverse", "S", "reverse", "Reverse", "reverse the order", Scope.RUNS, 6),
    Key("refresh", "r", "refresh", "Refresh", "read the runs again", Scope.RUNS, 7),
    # Priority: the table's own home/end scroll sideways, which a row cursor never needs.
    Key("runs-first", "home", "first_row", "First", "the first run", Scope.RUNS, priority=True),
    Key("runs-last", "end", "last_row", "Last", "the last run", Scope.RUNS, priority=True),
    Key("runs-new", "n", "new_run", "New", "start a new run (a form)", Scope.RUNS, 8),
    Key(
        "runs-eval",
        "e",
        "evaluate",
        "Eval",
        "score the marked runs (or the one under the cursor) on a text, side by side",
        Scope.RUNS,
    ),
    Key(
        "runs-export",
        "x",
        "export_model",
        "Export",
        "export the run's model: safetensors (PyTorch), ONNX or a web page (a path prompt)",
        Scope.RUNS,
        9,
    ),
    # -- comparing runs ---------------------------------------------------------------------------
    Key(
        "x-axis",
        "x",
        "cycle_x",
        "X axis",
        "x: updates / characters seen / training time",
        Scope.COMPARE,
        2,
    ),
    Key("compare-log-y", "y", "toggle_log", "Log y", "logarithmic / linear y", Scope.COMPARE, 3),
    Key(
        "compare-validation",
        "v",
        "toggle_validation",
        "Val",
        "the validation losses on/off",
        Scope.COMPARE,
        4,
    ),
    # -- the new-run form: Enter in a field moves on, only this key or the Start button starts --
    Key(
        "new-start",
        "ctrl+s",
        "start",
        "Start",
        "start the run with this corpus and these options",
        Scope.NEW_RUN,
        1,
    ),
    # -- screens over the main one ---------------------------------------------------------------
    Key("close", "escape,q", "dismiss", "Close", "close this screen", Scope.MODAL, 0),
    *INSPECTOR_KEYS,
    # -- watching a run (the main screen of tui-rnn watch) --------------------------------------
    Key("watch-quit", "q", "quit", "Quit", "quit the viewer (nothing to save)", Scope.WATCH, 0),
)

# What a key does on a watched run's main screen where it differs from its help (Footer tooltips
# and the command palette): t takes the run over, quitting has nothing to save.
WATCH_HELP: dict[str, str] = {
    "train": "take the run over: resume it here from its last checkpoint, and train",
    "quit": "quit the viewer (nothing to save)",
}

# Keys kept free for screens to come, app-wide; not bound until they exist. No key of KEYS
# may take one (tests/test_app.py checks it).
RESERVED: dict[str, str] = {}

BY_NAME = {k.name: k for k in KEYS}
BY_ID = {k.id: k for k in KEYS}


def keys_in(scope: Scope) -> tuple[Key, ...]:
    return tuple(k for k in KEYS if k.scope == scope)


def bindings(scope: Scope) -> list[BindingType]:
    """The BINDINGS of the node that owns `scope`."""
    return [k.binding() for k in keys_in(scope)]


def footer_rank(binding: Binding) -> int | None:
    """The Footer rank of one of our bindings (None for others, e.g. Textual's own)."""
    for key in KEYS:
        if key.id == binding.id:
            return key.footer
    return None


PALETTE_WIDTH = 13  # the Footer's command-palette key, docked right


def unshadowed(screen: Screen, active: dict[str, ActiveBinding]) -> dict[str, ActiveBinding]:
    """The active bindings with ours in the Footer where a focused field's own hidden binding
    takes the same key: in a generator field, Enter is the Input's submit (not shown), which
    generates; the Footer says so with the pane's `Enter Generate`."""
    focused = screen.focused
    if focused is None:
        return active
    ours: dict[str, tuple[DOMNode, Key]] = {}  # key -> (node, Key): the nearest ancestor's
    for node in focused.ancestors:
        for binding in node.BINDINGS:
            key = BY_ID.get(binding.id) if isinstance(binding, Binding) and binding.id else None
            if key is not None and key.footer is not None:
                for name in key.key.split(","):
                    ours.setdefault(name, (node, key))
    result = dict(active)
    for name, active_binding in active.items():
        if active_binding.binding.show or footer_rank(active_binding.binding) is not None:
            continue
        if name in ours:
            node, key = ours[name]
            enabled = bool(node.check_action(key.action, ()))
            result[name] = ActiveBinding(node, key.binding(), enabled, key.help)
    return result


def footer_bindings(screen: Screen, active: dict[str, ActiveBinding]) -> dict[str, ActiveBinding]:
    """A screen's active bindings with the Footer's keys cut to what fits its one row.

    Only the Footer and the key panel read this; key presses go through Textual's binding
    chain, so a key left out of the Footer still works (it is in the help and the palette).
    The keys of the focused widget and the most important ones (the `footer` rank) win.
    """
    active = unshadowed(screen, active)
    budget = screen.size.width - PALETTE_WIDTH
    ranked = sorted(
        (rank, key)
        for key, (_, binding, _, _) in active.items()
        if binding.show and (rank := footer_rank(binding)) is not None
    )
    kept, groups = set(), set()
    for _, key in ranked:
        binding = active[key].binding
        cost = len(screen.app.get_key_display(binding)) + 1
        if binding.group is None:
            cost += len(binding.description) + 1
        elif binding.group.description not in groups:
            cost += len(binding.group.description) + 2
            groups.add(binding.group.description)
        if cost <= budget:
            kept.add(key)
            budget -= cost
    return {
        key: active_binding
        for key, active_binding in active.items()
        if key in kept
        or not active_binding.binding.show
        or footer_rank(active_binding.binding) is None
    }
