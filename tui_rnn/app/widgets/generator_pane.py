"""The generator: a prompt, a length, temperature, top-p, top-k, a seed, how many samples,
beam search (a width: the beam mode, in which the sampling fields are off), a stop string,
current or best model, the text coloured by surprise or not; Enter (from any field) generates,
ctrl+s saves the text.

This pane only checks what was typed (plain Python, instant: every bad value is named in a line
under the fields, and the field turns red) and shows the text from its start as it streams
in, under a one-line header that stays in view (whole in its tooltip): what produced it (prompt,
model and its iteration, the settings, the seeds) and, once written, its bits per character
under the model. The main screen runs the model on a worker thread and feeds `append` with
chunks and their characters' log-probabilities, which colour the text by surprise with the
inspector's colours; ctrl+s appends the whole text to the run's generated.txt, and the pane
says where. Everything from the corpus or the model is shown through safe_text (never as
markup).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from rich.text import Span, Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Checkbox, Input, Label, Static

from tui_rnn.app.keys import Scope, bindings
from tui_rnn.app.widgets.fields import SafeInput, read_fields
from tui_rnn.inspection import colours
from tui_rnn.inspection.output import palette_styles
from tui_rnn.safe import text as safe_text
from tui_rnn.training import generation
from tui_rnn.training.generation import GenerationConfig
from tui_rnn.training.options import OptionError

MAX_LENGTH = 10_000
DEFAULT_LENGTH = 300
MAX_COUNT = 10
MAX_PROMPT_SHOWN = 40  # a long prompt is shown shortened in the header
MAX_SEED = 2**63 - 1
REDRAWS_PER_SECOND = 8  # while text streams in (a redraw lays out the whole sample)
LN2 = math.log(2.0)


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
    top_k: int = 0
    beam: int | None = None  # a width: beam search (one text, no sampling settings)
    stop: tuple[str, ...] = ()

    def config(self, seed: int) -> GenerationConfig:
        """The generation options of `tui-rnn generate` that write these texts (the first
        sample drawn with `seed`)."""
        return GenerationConfig(
            prompt=self.prompt,
            length=self.length,
            temperature=self.temperature,
            top_p=self.top_p,
            greedy=False,
            best=self.best,
            seed=seed,
            top_k=self.top_k,
            beam=self.beam,
            stop=self.stop,
            num_samples=1 if self.beam else self.count,
        )


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
    "gen-count": replace(generation.NUM_SAMPLES, high=MAX_COUNT),
    "gen-top-k": generation.TOP_K,
    "gen-beam": generation.BEAM,
}
RULES = {field: option.rule for field, option in FIELD_OPTIONS.items()}
FIELDS = {field: option.read for field, option in FIELD_OPTIONS.items()}  # field id -> its reader
SAMPLING_FIELDS = tuple(f for f, o in FIELD_OPTIONS.items() if o.sampling)  # off in beam mode


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
    stop = "".join(f" · stop {safe_text.line(s)}" for s in request.stop)
    if request.beam is not None:
        return f"{model} · beam search, {request.beam} beams{stop} · {request.length:,} chars"
    seed = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}"
    top_k = f" · top-k {request.top_k}" if request.top_k else ""
    return (
        f"{model} · temperature {request.temperature:g} · top-p {request.top_p:g}{top_k} · "
        f"{seed}{stop} · {request.count} × {request.length:,} chars"
    )


sample_header = generation.sample_header


def bits_per_char(log_probabilities: Sequence[float]) -> float | None:
    """The mean surprise of a text under the model: -sum(log p) / n / ln 2 (None: no text)."""
    if not log_probabilities:
        return None
    return -math.fsum(log_probabilities) / len(log_probabilities) / LN2


class BestBox(Checkbox, inherit_bindings=False):
    """A checkbox without keys of its own: Enter generates and space ticks it (both the pane's
    keys, in keys.py). Ticked shows an X, unticked a blank: not a colour alone, which a
    low-colour terminal draws the same either way."""

    BUTTON_INNER = " "

    def watch_value(self) -> None:
        self.BUTTON_INNER = "X" if self.value else " "
        super().watch_value()


class ColourBox(BestBox):
    """Colour the text by surprise (a box like best's)."""


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
        self.log_probabilities: list[list[float]] = []  # of each sample's characters
        self._styles = palette_styles("sequential")
        self.running = False
        self.streaming = 0  # the sample the text is coming in for
        self.outputs: list[Static] = []  # one per sample: only the growing one is redrawn
        self._redraw: Timer | None = None
        self._pending: set[int] = set()
        self.save_refused: str | None = None  # why ctrl+s cannot save (a read-only run)

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
            yield Label("beam")
            yield SafeInput("", placeholder="off", id="gen-beam")
            yield BestBox("best", id="gen-best")
        with Horizontal(classes="gen-options"):
            yield Label("top-k")
            yield SafeInput("", placeholder="off", id="gen-top-k")
            yield Label("stop")
            yield SafeInput("", placeholder="\\n…", id="gen-stop")
            yield ColourBox("colour", id="gen-colour")
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

    @property
    def beam_mode(self) -> bool:
        """A beam width is typed (a good one): beam search, the sampling fields off."""
        try:
            return FIELDS["gen-beam"](self.query_one("#gen-beam", Input).value) is not None
        except OptionError:
            return False

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "gen-beam":
            for field_id in SAMPLING_FIELDS:
                self.query_one(f"#{field_id}", Input).disabled = self.beam_mode

    def read_request(self) -> Request | None:
        """The fields as a Request, or None after naming every bad value (the output cleared)."""
        beam = self.beam_mode
        readers = {f: read for f, read in FIELDS.items() if not (beam and f in SAMPLING_FIELDS)}
        values, problems = read_fields(self, readers)
        stop_field = self.query_one("#gen-stop", Input)
        stop: tuple[str, ...] = ()
        try:
            stop = (generation.unescape(stop_field.value, "stop"),) if stop_field.value else ()
            stop_field.remove_class("-invalid")
        except OptionError as err:
            stop_field.add_class("-invalid")
            problems.append(str(err))
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
        sampled = {f: values.get(f, FIELD_OPTIONS[f].default) for f in FIELD_OPTIONS}
        return Request(
            prompt=prompt.value,
            length=values["gen-length"],
            temperature=sampled["gen-temperature"],
            top_p=sampled["gen-top-p"],
            seed=sampled["gen-seed"],
            count=sampled["gen-count"],
            best=self.query_one("#gen-best", Checkbox).value,
            top_k=sampled["gen-top-k"],
            beam=values["gen-beam"],
            stop=stop,
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_generate()

    def action_generate(self) -> None:
        request = self.read_request()
        if request is not None:
            self.post_message(GenerateRequest(request))

    def action_toggle_best(self) -> None:
        """Tick or untick the box under the cursor (best, or colour)."""
        focused = self.screen.focused
        box = focused if isinstance(focused, BestBox) else self.query_one("#gen-best", BestBox)
        box.toggle()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "gen-colour":
            self._show_header()
            for index in range(len(self.samples)):
                self._show_sample(index)

    def action_leave(self) -> None:
        """Back to the samples."""
        self.screen.set_focus(self.screen.query_one("SamplesPane"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "save" and self.save_refused:
            return None  # greyed out; the main screen's Footer says why
        return True

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
        self.log_probabilities = []
        self.running = False
        self.outputs = []
        self.query_one("#gen-scroll").remove_children()
        self._show_header()

    def begin(self, generation: int, request: Request, seeds: list[int]) -> None:
        """A request was sent; the model is being copied (its iteration comes with `started`)."""
        self.generation = generation
        self.request, self.seeds, self.model = request, seeds, "…"
        self.samples = [[] for _ in seeds]
        self.log_probabilities = [[] for _ in seeds]
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

    def append(
        self,
        generation: int,
        index: int,
        text: str,
        done: bool,
        log_probabilities: Sequence[float] = (),
    ) -> None:
        if generation != self.generation or not self.running:
            return
        self.samples[index].append(text)
        self.log_probabilities[index].extend(log_probabilities)
        self.streaming = index + 1 if done else index
        if done and index == len(self.samples) - 1:
            self.running = False
        self._pending.add(index)
        if done:
            if self._redraw is not None:
                self._redraw.stop()
            self._redraw_now()
            if not self.running:
                self._show_header()  # with the bits per character of the whole text
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
            if request.beam is None:
                lines.append(f"## {sample_header(index, len(self.seeds), seed)}")
            else:
                lines.append(f"## beam search, {request.beam} beams")
            lines.append(request.prompt + "".join(parts))
        return "\n".join(lines) + "\n\n"

    def _show_header(self) -> None:
        header = self.query_one("#gen-header", Static)
        if self.request is None:
            header.update(Text())
            header.tooltip = None
            return
        prompt = shown_prompt(self.request.prompt) or "(empty: starts at a newline)"
        shown = Text.assemble(("prompt ", "dim"), (prompt, "bold"))
        bits = None if self.running else bits_per_char(self.all_log_probabilities)
        if bits is not None:
            shown.append(f" · {bits:.3f} bits/char", "bold")
        shown.append(" · " + header_line(self.request, self.model, self.seeds), "dim")
        if self.colouring:
            what, low, high = colours.Colouring("surprisal").legend
            shown.append(f" · coloured by {what}, {low} to {high}", "dim")
        shown.no_wrap = True
        shown.overflow = "ellipsis"
        header.update(shown)  # one line: the text below it gets the pane's rows
        header.tooltip = shown.plain

    def saved(self, path: str) -> None:
        """ctrl+s wrote the text: say where (the pane may show only its start)."""
        self.say(f"ctrl+s saved the whole text to {path}")

    @property
    def colouring(self) -> bool:
        return self.query_one("#gen-colour", Checkbox).value

    @property
    def all_log_probabilities(self) -> list[float]:
        return [v for values in self.log_probabilities for v in values]

    def _show_sample(self, index: int) -> None:
        if index >= len(self.outputs) or self.request is None:  # cleared: no outputs, no request
            return
        # The scroll stays where it is: the text's start first.
        self.outputs[index].update(self.sample_text(index))

    def sample_text(self, index: int) -> Text:
        """Sample `index` as shown: its header when there are several, the end of the prompt,
        the text (coloured by surprise when colour is ticked), the cursor while it streams."""
        request = self.request
        assert request is not None
        count = len(self.samples)
        text = Text()
        if count > 1:
            head = sample_header(index, count, self.seeds[index])
            bits = bits_per_char(self.log_probabilities[index])
            if bits is not None and (index < self.streaming or not self.running):
                head += f" · {bits:.3f} bits/char"
            text.append(f"── {head} ──\n", "dim")
        text.append(safe_text.terminal(request.prompt[-MAX_PROMPT_SHOWN:]), "bold")
        written = "".join(self.samples[index])
        if self.colouring:
            text.append_text(self._surprise_text(written, self.log_probabilities[index]))
        else:
            text.append(safe_text.terminal(written))
        if self.running and index == self.streaming:
            text.append("▌", style="blink")
        return text

    def _surprise_text(self, written: str, log_probabilities: Sequence[float]) -> Text:
        """`written` with each character's background its surprise, -log2 p, on the
        inspector's scale (colours.MAX_BITS and more: the darkest)."""
        shown = [safe_text.terminal(ch) for ch in written]  # one to one but for a dropped \r
        bits = -np.asarray(log_probabilities[: len(shown)], dtype=np.float64) / LN2
        shade = colours.shades(bits, 0.0, colours.MAX_BITS)
        ends = np.cumsum([len(piece) for piece in shown])
        spans = []
        for a, b in _runs(shade):
            start = int(ends[a - 1]) if a else 0
            spans.append(Span(start, int(ends[b - 1]), self._styles[shade[a]]))
        return Text("".join(shown), spans=spans)


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of equal values."""
    if not len(values):
        return []
    changes = np.flatnonzero(np.diff(values)) + 1
    starts = np.concatenate([[0], changes]).tolist()
    stops = np.concatenate([changes, [len(values)]]).tolist()
    return list(zip(starts, stops, strict=True))
