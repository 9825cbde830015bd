"""Every generation option, defined once: the prompt (or a file holding it), length,
temperature, top-k, top-p, greedy, beam search, stop strings, how many samples, seed, which
model, where the text goes and whether it is scored.

`tui-rnn generate` builds its parser from GENERATION_OPTIONS, and the app's generator pane reads
its fields by the same rows (narrowing a range to what its window holds), so a rule is written in
one place. A typed value is read in two steps: `parse` (a number, finite, not below its low
bound; the command line's message, naming the flag) and `check` (the whole range, as
GenerationConfig applies it). The app shows a row's `rule`, a few characters: "top-p: in (0, 1]".

`resolve` knows which options were given (a value that is not None; a switch that is on), so
that beam search, which takes no sampling option, refuses only those given explicitly.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tui_rnn.training import beam as beam_search
from tui_rnn.training import sampling
from tui_rnn.training.beam import MAX_WIDTH
from tui_rnn.training.corpus import CorpusError, decode_blocks, open_text
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
    short: str | None = None  # "-n"
    many: bool = False  # repeatable: every value is kept, in order (--stop)
    metavar: str | None = None
    sampling: bool = False  # a choice of how to sample: beam search refuses it

    def parse(self, text: str) -> int | float:
        return parse_number(text, self.kind, self.flag, self.low, self.low_open)

    def check(self, value: object) -> object:
        """`value` if it is in range, else OptionError: "top-p must be in (0, 1], got 1.5"."""
        if value is None and self.default is None:  # not given, and nothing to take instead
            return value
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
PROMPT_FILE = _opt(
    "prompt_file",
    "--prompt-file",
    "prompt file",
    str,
    None,
    "prime with this file's text (- for standard input; one trailing newline is dropped)",
    metavar="FILE",
)
LENGTH = _opt("length", "--length", "len", int, 200, "characters to generate (200)", low=1)
TEMPERATURE = _opt(
    "temperature",
    "--temperature",
    "temp",
    float,
    1.0,
    "divide the logits by T: < 1 safer, > 1 wilder, 0 = greedy (1.0)",
    low=0,
    sampling=True,
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
    sampling=True,
)
TOP_K = _opt(
    "top_k",
    "--top-k",
    "top-k",
    int,
    0,
    "sample only from the K likeliest characters (0 = off)",
    low=0,
    metavar="K",
    sampling=True,
)
GREEDY = _opt(
    "greedy", "--greedy", "greedy", bool, False, "always take the likeliest", sampling=True
)
BEAM = _opt(
    "beam",
    "--beam",
    "beam",
    int,
    None,
    f"beam search with K beams (1-{MAX_WIDTH}) for the likeliest text of --length characters "
    "(deterministic; takes no sampling option)",
    low=1,
    high=MAX_WIDTH,
    metavar="K",
)
STOP = _opt(
    "stop",
    "--stop",
    "stop",
    str,
    (),
    "end at the first occurrence of this string (repeatable; escapes such as \\n understood); "
    "it is left out of the text unless --stop-inclusive",
    many=True,
    metavar="STRING",
)
STOP_INCLUSIVE = _opt(
    "stop_inclusive", "--stop-inclusive", "stop-inclusive", bool, False, "keep the stop string"
)
BEST = _opt("best", "--best", "best", bool, False, "use the best model")
SEED = _opt("seed", "--seed", "seed", int, 0, "sampling seed (0)", low=0, sampling=True)
NUM_SAMPLES = _opt(
    "num_samples",
    "--num-samples",
    "n",
    int,
    1,
    "N samples from the one prompt, sample i drawn with seed + i, each under a header line",
    low=1,
    short="-n",
    metavar="N",
    sampling=True,
)
OUTPUT = _opt(
    "output",
    "--output",
    "output",
    str,
    None,
    "write the samples here instead of stdout (atomically): .jsonl gives one JSON object per "
    "sample (text, seed, settings, log-probability), any other name the text as printed",
    metavar="FILE",
)
SCORE = _opt(
    "score",
    "--score",
    "score",
    bool,
    False,
    "print on stderr the log-probability of the prompt and of each text, in nats and bits per "
    "character",
)

GENERATION_OPTIONS = (
    PROMPT,
    PROMPT_FILE,
    LENGTH,
    TEMPERATURE,
    TOP_P,
    TOP_K,
    GREEDY,
    BEAM,
    STOP,
    STOP_INCLUSIVE,
    BEST,
    SEED,
    NUM_SAMPLES,
    OUTPUT,
    SCORE,
)
BY_NAME = {option.name: option for option in GENERATION_OPTIONS}


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
    prompt_file: str | None = None  # where the prompt comes from (read by `read_prompt_file`)
    top_k: int = 0  # 0: off
    beam: int | None = None  # None: sample
    stop: tuple[str, ...] = ()  # unescaped
    stop_inclusive: bool = False
    num_samples: int = 1
    output: str | None = None
    score: bool = False
    given: frozenset[str] = frozenset()  # the options given explicitly (see `given`)

    def __post_init__(self) -> None:
        for option in GENERATION_OPTIONS:
            option.check(getattr(self, option.name))
        if any(not stop for stop in self.stop):
            raise OptionError("--stop needs a string of at least one character, got an empty one")
        if self.prompt_file is not None and not self.prompt_file:
            raise OptionError("--prompt-file needs a file path (or - for standard input)")
        if self.output is not None and not self.output.strip():
            raise OptionError("--output needs a file path, got an empty one")
        if "prompt" in self.given and "prompt_file" in self.given:
            raise OptionError("--prompt and --prompt-file both give the prompt: use one")
        if self.beam is not None:
            refused = [o.flag for o in GENERATION_OPTIONS if o.sampling and o.name in self.given]
            if refused:
                raise OptionError(
                    f"--beam searches for the likeliest text and takes no sampling option: "
                    f"drop {', '.join(refused)}"
                )

    @property
    def seeds(self) -> list[int]:
        """Each sample's seed: seed + i (beam search draws nothing: one text)."""
        return [self.seed + i for i in range(self.num_samples)]

    @property
    def headers(self) -> bool:
        """Whether each text goes under a header line: several, or -n given."""
        return self.num_samples > 1 or "num_samples" in self.given

    def settings(self) -> dict[str, object]:
        """What produced a text, for a record of it (JSON types)."""
        chosen: dict[str, object] = {"prompt": self.prompt, "length": self.length}
        if self.beam is not None:
            chosen["beam"] = self.beam
        else:
            chosen.update(
                temperature=self.temperature,
                top_p=self.top_p,
                top_k=self.top_k,
                greedy=self.greedy or self.temperature == 0,
            )
        chosen.update(stop=list(self.stop), stop_inclusive=self.stop_inclusive)
        return chosen


def given(values: Mapping[str, object]) -> frozenset[str]:
    """The generation options `values` gives: not None, a switch not off, a list not empty."""
    return frozenset(name for name, value in values.items() if name in BY_NAME and _set(value))


def _set(value: object) -> bool:
    if value is None or value is False:
        return False
    return not (isinstance(value, list | tuple) and not value)


def resolve(values: Mapping[str, object]) -> GenerationConfig:
    """A GenerationConfig from name -> value (an argparse namespace's vars, whose defaults are
    None): what is missing takes its default; stop strings are unescaped; OptionError names the
    first value out of range or the first contradiction."""
    named = given(values)
    chosen: dict[str, Any] = {o.name: o.default for o in GENERATION_OPTIONS}
    chosen.update({name: values[name] for name in named})
    chosen["stop"] = tuple(unescape(text, STOP.flag) for text in chosen["stop"])
    return GenerationConfig(**chosen, given=named)


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"'}
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.?)", re.DOTALL)


def unescape(text: str, flag: str = "--stop") -> str:
    r"""`text` with its escapes replaced: \n \t \r \0 \\ \' \" \xHH \uHHHH \UHHHHHHHH.
    An unknown escape is an OptionError (a backslash meant as one is written \\)."""

    def replace(match: re.Match) -> str:
        code = match.group(1)
        if code in _ESCAPES:
            return _ESCAPES[code]
        if len(code) > 1:
            value = int(code[1:], 16)
            if value <= sys.maxunicode:
                return chr(value)
        raise OptionError(
            f"{flag} {text!r}: unknown escape \\{code} (use \\n, \\t, \\r, \\\\, \\xHH or "
            "\\uHHHH; a backslash itself is \\\\)"
        )

    return _ESCAPE.sub(replace, text)


MAX_PROMPT_CHARS = 1 << 20  # a prompt is primed one character at a time: more would take long
_PROMPT_FILE_REMEDY = "save it as UTF-8"


def read_prompt_file(path: str) -> str:
    """The prompt held by a file (- for standard input): its text as is, but for one trailing
    newline (editors add one). CorpusError (one line) for a file that is missing, not a
    regular file, not UTF-8, empty or longer than MAX_PROMPT_CHARS."""
    name = "standard input" if path == "-" else f"--prompt-file {path}"
    too_long = f"{name} holds more than {MAX_PROMPT_CHARS:,} characters: use a shorter prompt"
    if path == "-":
        limit = 4 * (MAX_PROMPT_CHARS + 2)  # UTF-8 takes at most 4 bytes a character
        raw = sys.stdin.buffer.read(limit + 1)
        if not raw:
            raise CorpusError(f"{name} is empty: give it a prompt")
        if len(raw) > limit:
            raise CorpusError(too_long)
        blocks = decode_blocks([raw], "utf-8", name, _PROMPT_FILE_REMEDY)
    else:
        blocks = open_text(path, "utf-8", what="--prompt-file", remedy=_PROMPT_FILE_REMEDY)
    pieces, size = [], 0
    for piece in blocks:
        pieces.append(piece)
        size += len(piece)
        if size > MAX_PROMPT_CHARS + 2:  # (+2: a trailing newline may still be dropped)
            break
    text = "".join(pieces)
    text = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
    if len(text) > MAX_PROMPT_CHARS:
        raise CorpusError(too_long)
    if not text:
        raise CorpusError(
            f"{name} holds no prompt: write one in it, or leave --prompt-file out to start at a "
            "newline"
        )
    return text


Text = Iterator[tuple[str, float]]  # a text as it comes: each character and its log-probability


def texts(
    model,
    chars: Sequence[str],
    prompt_ids: Sequence[int],
    config: GenerationConfig,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[tuple[int | None, Text]]:
    """Each text `config` asks for, as (its seed, None for beam search; its characters with
    their log-probabilities as they come). Sample i is `continue_prompt`'s with seed + i: with
    the old options, what `tui-rnn generate` always wrote."""
    if config.beam is not None:
        found = beam_search.search(
            model,
            chars,
            prompt_ids,
            config.length,
            config.beam,
            stops=config.stop,
            stop_inclusive=config.stop_inclusive,
            should_stop=should_stop,
        )
        if found is not None:
            pairs = zip(found.ids, found.log_probabilities, strict=True)
            yield None, ((chars[i], log_p) for i, log_p in pairs)
        return
    for seed in config.seeds:
        rng = np.random.Generator(np.random.PCG64(seed))
        yield (
            seed,
            sampling.continuation(
                model,
                chars,
                prompt_ids,
                config.length,
                rng,
                temperature=config.temperature,
                top_p=config.top_p,
                top_k=config.top_k,
                greedy=config.greedy,
                stops=config.stop,
                stop_inclusive=config.stop_inclusive,
                should_stop=should_stop,
            ),
        )


def sample_header(index: int, count: int, seed: int | None) -> str:
    """The line over a sample when there are several: "sample 2 of 5 · seed 8"."""
    return f"sample {index + 1} of {count} · seed {seed}"
