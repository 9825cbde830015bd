"""The generator: a prompt, a length, a temperature, current or best model; Enter generates.

This pane only validates what was typed (plain Python, instant) and shows the text as it
streams in; the app runs the model on a worker thread and feeds `append` with chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Checkbox, Input, Label, Static

MAX_LENGTH = 10_000
DEFAULT_LENGTH = 300
MAX_PROMPT_SHOWN = 200  # a huge prompt is shown shortened above its continuation


@dataclass
class GenerateRequest(Message):
    prompt: str
    length: int
    temperature: float
    best: bool


def parse_options(length_text: str, temperature_text: str) -> tuple[int, float]:
    """(length, temperature) or ValueError with a message naming the field and the fix."""
    try:
        length = int(length_text.strip() or DEFAULT_LENGTH)
    except ValueError:
        raise ValueError(f"length must be a whole number, got {length_text!r}") from None
    if not 1 <= length <= MAX_LENGTH:
        raise ValueError(f"length must be between 1 and {MAX_LENGTH:,}, got {length}")
    try:
        temperature = float(temperature_text.strip() or 1.0)
    except ValueError:
        raise ValueError(f"temperature must be a number, got {temperature_text!r}") from None
    if not (temperature >= 0 and temperature <= 100):  # also rejects NaN
        raise ValueError(f"temperature must be between 0 (greedy) and 100, got {temperature}")
    return length, temperature


def unknown_characters(prompt: str, vocabulary) -> list[str]:
    known = set(vocabulary)
    return sorted({ch for ch in prompt if ch not in known})


class GeneratorPane(Vertical):
    def __init__(self, vocabulary=(), **kwargs):
        super().__init__(**kwargs)
        self.vocabulary = tuple(vocabulary)
        self.generation = 0  # increases with every Enter; stale chunks are ignored
        self._header = Text()
        self._parts: list[str] = []
        self.running = False

    def compose(self) -> ComposeResult:
        yield Input(placeholder="prompt (g), Enter generates", id="gen-prompt")
        with Horizontal(id="gen-options"):
            yield Label("len")
            yield Input(str(DEFAULT_LENGTH), id="gen-length", type="integer", max_length=5)
            yield Label("temp")
            yield Input("1.0", id="gen-temperature", type="number", max_length=6)
            yield Checkbox("best", id="gen-best")
        yield Static("", id="gen-message")
        with VerticalScroll(id="gen-scroll"):
            yield Static("", id="gen-output")

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def say(self, message: str) -> None:
        self.query_one("#gen-message", Static).update(Text(message))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        prompt = self.query_one("#gen-prompt", Input).value
        try:
            length, temperature = parse_options(
                self.query_one("#gen-length", Input).value,
                self.query_one("#gen-temperature", Input).value,
            )
        except ValueError as err:
            self.say(str(err))
            return
        unknown = unknown_characters(prompt, self.vocabulary)
        if unknown:
            shown = " ".join(repr(ch) for ch in unknown[:8]) + (" ..." if len(unknown) > 8 else "")
            self.say(f"not in the model's vocabulary: {shown}; remove them and press Enter again")
            return
        self.say("")
        best = self.query_one("#gen-best", Checkbox).value
        self.post_message(GenerateRequest(prompt, length, temperature, best))

    def begin(self, generation: int, prompt: str, best: bool, temperature: float) -> None:
        self.generation = generation
        self.running = True
        shown = prompt if len(prompt) <= MAX_PROMPT_SHOWN else "…" + prompt[-MAX_PROMPT_SHOWN:]
        self._header = Text.assemble(
            (f"[{'best' if best else 'current'} model, temperature {temperature:g}] ", "dim"),
            (shown, "bold"),
        )
        self._parts = []
        self._show()

    def append(self, generation: int, text: str, done: bool) -> None:
        if generation != self.generation:
            return
        self._parts.append(text)
        if done:
            self.running = False
        self._show()

    def _show(self) -> None:
        output = self._header.copy()
        output.append(self.text)
        if self.running:
            output.append("▌", style="blink")
        self.query_one("#gen-output", Static).update(output)
        self.query_one("#gen-scroll", VerticalScroll).scroll_end(animate=False)
