"""Every generation option, defined once: prompt, length, temperature, top-p, greedy, best, seed.

`tui-rnn generate` builds its parser from GENERATION_OPTIONS, and the app's generator pane reads
its fields by the same rows (narrowing a range to what its window holds), so a rule is written in
one place. A typed value is read in two steps: `parse` (a number, finite, not below its low
bound; the command line's message, naming the flag) and `check` (the whole range, as
GenerationConfig applies it). The app shows a row's `rule`, a few characters: "top-p: in (0, 1]".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tui_rnn.training.options import OptionError


def parse_number(
    text: str, kind: type, flag: str, low: float | None = None, low_open: bool = False
) -> int | float:
    """`text` as an int or a float (`kind`), finite and not below `low`, or OptionError with
    the command line's one-line reason. The CLI's other number options read their text by it."""
    try:
        value = int(text) if kind is int else float(text)
    except ValueError:
        raise OptionError(f"{flag} must be a number, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise OptionError(f"{flag} must be finite, got {text!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise OptionError(f"{flag} must be {'>' if low_open else '>='} {low}, got {text!r}")
    return value


@dataclass(frozen=True)
class GenerationOption:
    """One generation option: how it is spelled, read and checked."""

    name: str  # the GenerationConfig field
    flag: str  # "--top-p"
    label: str  # the app's short name for its field: "top-p"
    kind: type  # int, float, str, or bool (a switch)
    default: object  # None: no value (the app's seed: the app picks one)
    help: str
    low: float | None = None
    low_open: bool = False  # low itself is not allowed
    high: float | None = None  # allowed itself

    def parse(self, text: str) -> int | float:
        return parse_number(text, self.kind, self.flag, self.low, self.low_open)

    def check(self, value: object) -> object:
        """`value` if it is in range, else OptionError: "top-p must be in (0, 1], got 1.5"."""
        if self.kind in (int, float) and not self.within(value):
            raise OptionError(f"{self.flag.lstrip('-')} must be {self.allowed}, got {value}")
        return value

    def within(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high

    def read(self, text: str) -> object:
        """A form's field: empty is the default; a bad value is OptionError with the `rule`."""
        if not text.strip():
            return self.default
        try:
            return self.check(self.parse(text.strip()))
        except OptionError:
            raise OptionError(self.rule) from None

    @property
    def allowed(self) -> str:
        """The allowed values, in words: "in (0, 1]", "a number >= 0", "1-10,000"."""
        sign = ">" if self.low_open else ">="
        if self.kind is float:
            if self.high is None:
                return f"a number {sign} {self.low:g}"
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"
        if self.high is None:
            return f"{sign} {self.low:,}"
        high = _whole_number(int(self.high))
        return f"{self.low:,}{' to ' if '*' in high else '-'}{high}"

    @property
    def rule(self) -> str:
        """The rule as the app shows it under a field: "len: 1-10,000"."""
        return f"{self.label}: {self.allowed}" + (" or empty" if self.default is None else "")


def _whole_number(value: int) -> str:
    """10,000; a bound like 2**63 - 1 as 2**63-1."""
    if value > 2**32 and value & (value + 1) == 0:
        return f"2**{value.bit_length()}-1"
    return f"{value:,}"


def _opt(name, flag, label, kind, default, help, **rules) -> GenerationOption:
    return GenerationOption(name, flag, label, kind, default, help, **rules)


# -- the table (in the order `tui-rnn generate --help` lists them) ------------------------------
PROMPT = _opt("prompt", "--prompt", "prompt", str, "", "text to prime the model with")
LENGTH = _opt("length", "--length", "len", int, 200, "characters to generate (200)", low=1)
TEMPERATURE = _opt(
    "temperature",
    "--temperature",
    "temp",
    float,
    1.0,
    "divide the logits by T: < 1 safer, > 1 wilder, 0 = greedy (1.0)",
    low=0,
)
TOP_P = _opt(
    "top_p",
    "--top-p",
    "top-p",
    float,
    1.0,
    "sample only from the likeliest characters holding this much mass (1.0 = off)",
    low=0,
    low_open=True,
    high=1,
)
GREEDY = _opt("greedy", "--greedy", "greedy", bool, False, "always take the likeliest")
BEST = _opt("best", "--best", "best", bool, False, "use the best model")
SEED = _opt("seed", "--seed", "seed", int, 0, "sampling seed (0)", low=0)

GENERATION_OPTIONS = (PROMPT, LENGTH, TEMPERATURE, TOP_P, GREEDY, BEST, SEED)


@dataclass(frozen=True)
class GenerationConfig:
    """What to generate, checked (build it with `resolve`)."""

    prompt: str
    length: int
    temperature: float  # 0: greedy
    top_p: float
    greedy: bool
    best: bool
    seed: int

    def __post_init__(self) -> None:
        for option in GENERATION_OPTIONS:
            option.check(getattr(self, option.name))


def resolve(values: Mapping[str, object]) -> GenerationConfig:
    """A GenerationConfig from name -> value (an argparse namespace's vars): what is missing
    takes its default; OptionError names the first value out of range."""
    chosen: dict[str, Any] = {o.name: values.get(o.name, o.default) for o in GENERATION_OPTIONS}
    return GenerationConfig(**chosen)
