"""The generator: a prompt, a length, temperature, top-p, a seed, how many samples, current or
best model; Enter (from any field) generates, ctrl+s saves the text.

This pane only checks what was typed (plain Python, instant: every bad value is named in a line
under the fields, and the field turns red) and shows the text from its start as it streams in,
under a one-line header that stays in view: what produced it (prompt, model and its iteration,
temperature, top-p, the seeds; whole in its tooltip). The main screen runs the model on a worker
thread and feeds `append` with chunks; ctrl+s appends the whole text to the run's generated.txt,
and the pane says where.
Everything from the corpus or the model is shown through safe_text (never as markup).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Checkbox, Input, Label, Static

from tui_rnn.app.keys import Scope, bindings
from tui_rnn.app.widgets.fields import SafeInput, read_fields
from tui_rnn.safe import text as safe_text
from tui_rnn.training import generation
from tui_rnn.training.generation import GenerationOption

MAX_LENGTH = 10_000
DEFAULT_LENGTH = 300
MAX_COUNT = 10
MAX_PROMPT_SHOWN = 40  # a long prompt is shown shortened in the header
MAX_SEED = 2**63 - 1
REDRAWS_PER_SECOND = 8  # while text streams in (a redraw lays out the whole sample)


@dataclass(frozen=True)
class Request:
    """What Enter asks for (validated)."""

    prompt: str
    length: int
    temperature: float
    top_p: float
    seed: int | None  # None: the app picks the next seed (shown in the header)
    count: int
    best: bool


@dataclass
class GenerateRequest(Message):
    """Generate what `request` asks for (the main screen runs it on a worker)."""

    request: Request


@dataclass
class SaveRequest(Message):
    """Append this text (headers and samples, exactly as generated) to generated.txt."""

    text: str


# -- the fields: the generation options (tui_rnn/training/generation.py), narrowed to what the
# pane holds; a bad field shows its option's rule, one short clause (the field turns red), so that
# every bad field is named even at 80x24 ----------------------------------------------------------
FIELD_OPTIONS = {
    "gen-length": replace(generation.LENGTH, default=DEFAULT_LENGTH, high=MAX_LENGTH),
    "gen-temperature": generation.TEMPERATURE,
    "gen-top-p": generation.TOP_P,
    "gen-seed": replace(generation.SEED, default=None, high=MAX_SEED),
    "gen-count": GenerationOption(
        "count", "--count", "n", int, 1, "samples", low=1, high=MAX_COUNT
    ),
}
RULES = {field: option.rule for field, option in FIELD_OPTIONS.items()}
FIELDS = {field: option.read for field, option in FIELD_OPTIONS.items()}  # field id -> its reader


def unknown_characters(prompt: str, vocabulary) -> list[str]:
    known = set(vocabulary)
    return sorted({ch for ch in prompt if ch not in known})


def shown_prompt(prompt: str) -> str:
    """The prompt on one line, every character visible (safe_text.char), shortened."""
    if len(prompt) > MAX_PROMPT_SHOWN:
        prompt = "…" + prompt[-MAX_PROMPT_SHOWN:]
    return "".join(
        safe_text.char(ch) if ch in "\n\t\r" else ch for ch in safe_text.terminal(prompt)
    )


def header_line(request: Request, model: str, seeds: list[int]) -> str:
    """What produced the text (plain; the file keeps the prompt exact, JSON-quoted)."""
    seed = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}"
    return (
        f"{model} · temperature {request.temperature:g} · top-p {request.top_p:g} · {seed} · "
        f"{request.count} × {request.length:,} chars"
    )


def sample_header(index: int, count: int, seed: int) -> str:
    return f"sample {index + 1} of {count} · seed {seed}"


class BestBox(Checkbox, inherit_bindings=False):
    """A checkbox without keys of its own: Enter generates and space ticks it (both the pane's
    keys, in keys.py). Ticked shows an X, unticked a blank: not a colour alone, which a
    low-colour terminal draws the same either way."""

    BUTTON_INNER = " "

    def watch_value(self) -> None:
        self.BUTTON_INNER = "X" if self.value else " "
        super().watch_value()


class GeneratorPane(Vertical):
    BINDINGS = bindings(Scope.GENERATOR)

    def __init__(self, vocabulary: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vocabulary = tuple(vocabulary)
        self.generation = 0  # increases with every Enter; stale chunks are ignored
        self.request: Request | None = None
        self.model = ""
        self.seeds: list[int] = []
        self.samples: list[list[str]] = []  # the text of each sample, in chunks
        self.running = False
        self.streaming = 0  # the sample the text is coming in for
        self.outputs: list[Static] = []  # one per sample: only the growing one is redrawn
        self._redraw: Timer | None = None
        self._pending: set[int] = set()

    def compose(self) -> ComposeResult:
        yield SafeInput(placeholder="prompt (g), Enter generates", id="gen-prompt")
        with Horizontal(classes="gen-options"):
            yield Label("len")
            yield SafeInput(str(DEFAULT_LENGTH), id="gen-length")
            yield Label("temp")
            yield SafeInput("1.0", id="gen-temperature")
            yield Label("top-p")
            yield SafeInput("1.0", id="gen-top-p")
        with Horizontal(classes="gen-options"):
            yield Label("seed")
            yield SafeInput("", placeholder="auto", id="gen-seed")
            yield Label("n")
            yield SafeInput("1", id="gen-count")
            yield BestBox("best", id="gen-best")
        yield Static("", id="gen-message")
        yield Static("", id="gen-header")
        yield VerticalScroll(id="gen-scroll")

    # -- reading the fields -----------------------------------------------------------------------
    @property
    def text(self) -> str:
        """The generated characters of every sample (without prompt and headers)."""
        return "".join("".join(parts) for parts in self.samples)

    def say(self, message: str) -> None:
        """A line under the fields; none: the row is hidden (a row counts at 80x24)."""
        line = self.query_one("#gen-message", Static)
        line.update(Text(safe_text.terminal(message)))
        line.display = bool(message)

    def read_request(self) -> Request | None:
        """The fields as a Request, or None after naming every bad value (the output cleared)."""
        values, problems = read_fields(self, FIELDS)
        prompt = self.query_one("#gen-prompt", Input)
        unknown = unknown_characters(prompt.value, self.vocabulary)
        prompt.set_class(bool(unknown), "-invalid")
        if unknown:
            shown = " ".join(repr(safe_text.char(ch)) for ch in unknown[:8])
            more = " ..." if len(unknown) > 8 else ""
            problems.append(f"prompt: not in the vocabulary {shown}{more}")
        if problems:
            self.clear()
            self.say("; ".join(problems))
            return None
        self.say("")
        return Request(
            prompt=prompt.value,
            length=values["gen-length"],
            temperature=values["gen-temperature"],
            top_p=values["gen-top-p"],
            seed=values["gen-seed"],
            count=values["gen-count"],
            best=self.query_one("#gen-best", Checkbox).value,
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_generate()

    def action_generate(self) -> None:
        request = self.read_request()
        if request is not None:
            self.post_message(GenerateRequest(request))

    def action_toggle_best(self) -> None:
        self.query_one(BestBox).toggle()

    def action_leave(self) -> None:
        """Back to the samples."""
        self.screen.set_focus(self.screen.query_one("SamplesPane"))

    def action_save(self) -> None:
        if self.request is None or not self.samples:
            self.say("nothing to save yet: Enter generates")
        elif self.running:
            self.say("still generating: save when it is done")
        else:
            self.post_message(SaveRequest(self.document()))

    # -- the output -------------------------------------------------------------------------------
    def clear(self) -> None:
        """No output (after an error, nothing from before may look like its result)."""
        self.generation += 1  # chunks still on their way are dropped
        self.request, self.model, self.seeds, self.samples = None, "", [], []
        self.running = False
        self.outputs = []
        self.query_one("#gen-scroll").remove_children()
        self._show_header()

    def begin(self, generation: int, request: Request, seeds: list[int]) -> None:
        """A request was sent; the model is being copied (its iteration comes with `started`)."""
        self.generation = generation
        self.request, self.seeds, self.model = request, seeds, "…"
        self.samples = [[] for _ in seeds]
        self.running, self.streaming = True, 0
        scroll = self.query_one("#gen-scroll")
        scroll.remove_children()
        self.outputs = [Static(classes="gen-sample") for _ in seeds]
        scroll.mount_all(self.outputs)
        self._show_header()
        for index in range(len(seeds)):
            self._show_sample(index)

    def started(self, generation: int, model: str) -> None:
        if generation == self.generation:
            self.model = model
            self._show_header()

    def append(self, generation: int, index: int, text: str, done: bool) -> None:
        if generation != self.generation or not self.running:
            return
        self.samples[index].append(text)
        self.streaming = index + 1 if done else index
        if done and index == len(self.samples) - 1:
            self.running = False
        self._pending.add(index)
        if done:
            if self._redraw is not None:
                self._redraw.stop()
            self._redraw_now()
        elif self._redraw is None:  # at most REDRAWS_PER_SECOND while it streams
            self._redraw = self.set_timer(1 / REDRAWS_PER_SECOND, self._redraw_now)

    def _redraw_now(self) -> None:
        self._redraw = None
        for index in sorted(self._pending):
            if index < len(self.samples):
                self._show_sample(index)
        self._pending.clear()

    def fail(self, generation: int, error: str) -> None:
        if generation == self.generation:
            self.clear()
            self.say(error)

    def document(self) -> str:
        """The text as saved: the header (the prompt exact, JSON-quoted), each sample under its
        own header, the prompt and its continuation exactly as generated."""
        request = self.request
        assert request is not None  # action_save asks only once there is text
        header = header_line(request, self.model, self.seeds)
        lines = [f"# {header} · prompt {json.dumps(request.prompt)}"]
        for index, (seed, parts) in enumerate(zip(self.seeds, self.samples, strict=True)):
            lines.append(f"## {sample_header(index, len(self.seeds), seed)}")
            lines.append(request.prompt + "".join(parts))
        return "\n".join(lines) + "\n\n"

    def _show_header(self) -> None:
        header = self.query_one("#gen-header", Static)
        if self.request is None:
            header.update(Text())
            header.tooltip = None
            return
        prompt = shown_prompt(self.request.prompt) or "(empty: starts at a newline)"
        text = Text.assemble(
            ("prompt ", "dim"),
            (prompt, "bold"),
            (" · " + header_line(self.request, self.model, self.seeds), "dim"),
            no_wrap=True,
            overflow="ellipsis",
        )
        header.update(text)  # one line: the text below it gets the pane's rows
        header.tooltip = text.plain

    def saved(self, path: str) -> None:
        """ctrl+s wrote the text: say where (the pane may show only its start)."""
        self.say(f"ctrl+s saved the whole text to {path}")

    def _show_sample(self, index: int) -> None:
        outputs, request = self.outputs, self.request
        if index >= len(outputs) or request is None:  # cleared: no outputs, no request
            return
        count = len(self.samples)
        text = Text()
        if count > 1:
            text.append(f"── {sample_header(index, count, self.seeds[index])} ──\n", "dim")
        text.append(safe_text.terminal(request.prompt[-MAX_PROMPT_SHOWN:]), "bold")
        text.append(safe_text.terminal("".join(self.samples[index])))
        if self.running and index == self.streaming:
            text.append("▌", style="blink")
        outputs[index].update(text)  # the scroll stays where it is: the text's start first
