"""Every training option, defined once: its flag, type, range, default and help.

The command line (argparse), config.json (reading a run back), resume (which options may change)
and the app's forms all use this table, so a rule is written in one place and every way in
refuses the same values with the same one-line message.

Defaults are resolved here, never by argparse: argparse's defaults are None, so an option the
user gave (even at its default value) is told from one left out. Resolution order: what the
user gave, then the preset (`--preset`), then defaults that depend on other options (the
learning rate on the optimizer, the initialisation scale on the cell), then the plain defaults,
which are the report's setup: `TrainConfig()` is the report's run. `resolve` makes a new run's
config; `resumed_config` keeps a saved run's, refusing any option given that differs but --eta.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from tui_rnn.training.optim import DEFAULT_ETA, OPTIMIZERS

CELLS = ("rnn", "lstm", "gru")
DTYPES = ("float64", "float32")
LR_SCHEDULES = ("constant", "cosine", "linear")
WEEK = 7 * 24 * 3600.0  # the longest --time-limit: longer is a typo, not a plan
# The longest sample (--sample-length): one takes seconds at the default size, and the log of
# the last 200 samples in memory stays under 20 million characters. Longer text is what
# `tui-rnn generate --length` is for: it streams.
MAX_SAMPLE_LENGTH = 100_000


class OptionError(ValueError):
    """A value an option cannot take, with a one-line message naming the flag."""


class _Default:
    """`auto` typed for an option whose default is derived (--sigma auto): given, so that a
    resume compares it with the run's, and resolved like an option left out."""

    def __repr__(self) -> str:
        return "auto"


AUTO = _Default()


@dataclass(frozen=True)
class Option:
    """One option: how it is spelled, parsed, checked and shown."""

    name: str  # the TrainConfig field (or the run-level key) it sets
    flag: str  # "--hidden"
    kind: type  # int, float or str
    default: object  # the report's value; None when `resolve` derives it
    help: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is not allowed
    high_open: bool = False
    resume: str = "fixed"  # "fixed": a resumed run keeps the run's; "change": may change
    metavar: str | None = None
    allow_none: bool = False  # None is a meaningful value (e.g. sigma: the cell's default)
    duration: bool = False  # typed as 90, 90s, 3m or 1h30m; a number of seconds
    default_label: str | None = None  # the default said in words ("off")

    def parse(self, text: str):
        """The value of `text` typed in by a user, or OptionError with a one-line reason."""
        text = text.strip()
        if self.kind is str:
            return self.check(text)
        if self.duration:
            return self.check(parse_duration(text, self.flag))
        if self.allow_none and text.lower() in ("", "auto", "default"):
            return None
        try:
            value = int(text) if self.kind is int else float(text)
        except ValueError:
            what = "a whole number" if self.kind is int else "a number"
            raise OptionError(f"{self.flag} must be {what}, got {text!r}") from None
        return self.check(value)

    def check(self, value, label: str | None = None):
        """`value` if this option can take it (from argparse, config.json or a form).

        Messages name the option by `label` (default: its flag; config.json's checks pass the
        field's name)."""
        if label is not None and label != self.flag:
            try:
                return self.check(value)
            except OptionError as err:
                raise OptionError(str(err).replace(self.flag, label, 1)) from None
        if value is None and self.allow_none:
            return None
        if self.kind is str:
            if not isinstance(value, str):
                raise OptionError(f"{self.flag} must be a name, got {value!r}")
            if self.choices and value not in self.choices:
                raise OptionError(
                    f"{self.flag} must be one of {', '.join(self.choices)}, got {value!r}"
                )
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise OptionError(f"{self.flag} must be a number, got {value!r}")
        if self.kind is int:
            if not isinstance(value, int):  # 100.0 in a hand-edited config.json too
                raise OptionError(f"{self.flag} must be a whole number, got {value!r}")
        else:
            value = float(value)
            if not math.isfinite(value):
                raise OptionError(f"{self.flag} must be a finite number, got {value!r}")
        shown = f"{value:,}" if self.kind is int else f"{value:g}"
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            sign = ">" if self.low_open else ">="
            raise OptionError(f"{self.flag} must be {sign} {_number(self.low)}, got {shown}")
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            sign = "<" if self.high_open else "<="
            raise OptionError(f"{self.flag} must be {sign} {_number(self.high)}, got {shown}")
        return value

    @property
    def default_text(self) -> str:
        if self.default_label is not None:
            return self.default_label
        return (
            "derived"
            if self.default is None
            else f"{self.default:g}"
            if isinstance(self.default, float)
            else str(self.default)
        )


def _number(value: float) -> str:
    return f"{value:,}" if float(value).is_integer() else f"{value:g}"


_DURATION = re.compile(
    r"(?:(?P<h>\d+(?:\.\d*)?)h)?(?:(?P<m>\d+(?:\.\d*)?)m)?(?:(?P<s>\d+(?:\.\d*)?)s)?"
)


def parse_duration(text: str, flag: str = "--time-limit") -> float:
    """Seconds from `90`, `90s`, `3m`, `1h30m` or `1.5h`; OptionError unless above zero and at
    most a week."""
    text = text.strip().lower()
    plain = re.fullmatch(r"\d+(?:\.\d*)?", text)
    parts = None if plain else _DURATION.fullmatch(text)
    if not plain and (parts is None or not any(parts.groups())):
        raise OptionError(f"{flag} must be a duration such as 90, 90s, 3m or 1h30m, got {text!r}")
    if plain:
        seconds = float(text)
    else:
        assert parts is not None
        hours, minutes, secs = (float(part or 0) for part in parts.group("h", "m", "s"))
        seconds = 3600 * hours + 60 * minutes + secs
    if seconds <= 0:
        raise OptionError(f"{flag} must be longer than zero, got {text!r}")
    if seconds > WEEK:
        raise OptionError(f"{flag} must be at most a week (168h), got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """90 -> "1m30s", 180 -> "3m", 5400 -> "1h30m", 2.5 -> "2.5s"."""
    whole = round(seconds)
    if abs(seconds - whole) > 1e-9 or whole < 60:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v)


def _opt(name, flag, kind, default, help, **rules) -> Option:
    return Option(name, flag, kind, default, help, **rules)


# -- the table ----------------------------------------------------------------------------------
MODEL_OPTIONS = (
    _opt("cell", "--cell", str, "rnn", "the recurrent cell", choices=CELLS),
    _opt("layers", "--layers", int, 1, "stacked recurrent layers", low=1, high=16, metavar="N"),
    _opt("hidden_size", "--hidden", int, 100, "hidden size m of every layer", low=1, metavar="M"),
    _opt(
        "sigma",
        "--sigma",
        float,
        None,
        "std of the Gaussian weight init (default: the report's 0.01 for a one-layer rnn, "
        "otherwise the scaled init N(0, 1/(inputs + m)))",
        low=0,
        allow_none=True,
        metavar="S",
    ),
    _opt(
        "seed",
        "--seed",
        int,
        0,
        "seed of everything random: same seed, same run",
        low=0,
        metavar="S",
    ),
)

TRAINING_OPTIONS = (
    _opt(
        "seq_length",
        "--seq-length",
        int,
        25,
        "characters per stream per update",
        low=1,
        metavar="N",
    ),
    _opt(
        "batch_size",
        "--batch",
        int,
        1,
        "streams trained at once: the text is cut into this many equal segments",
        low=1,
        metavar="B",
    ),
    _opt(
        "dropout",
        "--dropout",
        float,
        0.0,
        "dropout on each layer's output",
        low=0,
        high=1,
        high_open=True,
        metavar="P",
    ),
    _opt("dtype", "--dtype", str, "float64", "floating-point type", choices=DTYPES),
    _opt("optimizer", "--optimizer", str, "adagrad", "the update rule", choices=OPTIMIZERS),
    _opt(
        "eta",
        "--eta",
        float,
        None,
        "learning rate (adagrad 0.1, rmsprop and adam 2e-3); may change on resume",
        low=0,
        low_open=True,
        resume="change",
        metavar="X",
    ),
    _opt(
        "clip",
        "--clip",
        float,
        5.0,
        "clip every gradient entry to [-C, C]",
        low=0,
        low_open=True,
        metavar="C",
    ),
    _opt(
        "lr_decay",
        "--lr-decay",
        float,
        1.0,
        "multiply the learning rate by F per epoch after --decay-after epochs",
        low=0,
        low_open=True,
        high=1,
        metavar="F",
    ),
    _opt(
        "decay_after",
        "--decay-after",
        float,
        10.0,
        "epochs before the decay starts",
        low=0,
        metavar="E",
    ),
    _opt(
        "lr_schedule",
        "--lr-schedule",
        str,
        "constant",
        "how the learning rate moves: constant, or from --eta down to --eta-min along a cosine "
        "or a line that ends at the run's last update (then it stays at --eta-min)",
        choices=LR_SCHEDULES,
    ),
    _opt(
        "warmup",
        "--warmup",
        int,
        0,
        "updates over which the learning rate first rises linearly to --eta",
        low=0,
        metavar="W",
    ),
    _opt(
        "eta_min",
        "--eta-min",
        float,
        0.0,
        "the learning rate a cosine or linear schedule ends at (at most --eta)",
        low=0,
        metavar="X",
    ),
    _opt(
        "val_fraction",
        "--val-fraction",
        float,
        0.0,
        "hold out this fraction at the end of the text for the validation loss",
        low=0,
        high=0.5,
        metavar="F",
    ),
    _opt(
        "eval_every",
        "--eval-every",
        int,
        None,
        "updates between validation losses (default: from the sizes, so that they take about "
        "5 percent of the training time)",
        low=1,
        allow_none=True,
        metavar="N",
    ),
    _opt(
        "patience",
        "--patience",
        int,
        None,
        "stop after N validation losses in a row without a better one (needs --val-fraction); "
        "the best model is kept",
        low=1,
        allow_none=True,
        resume="change",
        metavar="N",
        default_label="off",
    ),
    _opt("threads", "--threads", int, 1, "BLAS threads for training", low=1, high=256, metavar="N"),
    _opt(
        "sample_every", "--sample-every", int, 10_000, "updates between samples", low=1, metavar="N"
    ),
    _opt(
        "sample_length",
        "--sample-length",
        int,
        200,
        "characters per sample",
        low=0,
        high=MAX_SAMPLE_LENGTH,
        metavar="N",
    ),
)

CONFIG_OPTIONS = MODEL_OPTIONS + TRAINING_OPTIONS
BY_NAME: dict[str, Option] = {option.name: option for option in CONFIG_OPTIONS}

# How long a run trains, how often it saves and publishes: kept in config.json beside the config
# (all but how often it publishes), never in it (they may change on every resume and in the
# app's settings), checked by the same rules.
ITERATIONS = _opt(
    "iterations",
    "--iterations",
    int,
    None,
    "train up to this many updates in total",
    low=0,
    resume="change",
    metavar="N",
)
EPOCHS = _opt(
    "epochs",
    "--epochs",
    float,
    None,
    "train up to this many epochs in total (default 2)",
    low=0,
    resume="change",
    metavar="E",
)
SAVE_EVERY = _opt(
    "save_every",
    "--save-every",
    float,
    None,
    "seconds between automatic checkpoints (10)",
    low=0,
    low_open=True,
    resume="change",
    metavar="SECONDS",
)
TIME_LIMIT = _opt(
    "time_limit",
    "--time-limit",
    float,
    None,
    "train for this long (90, 90s, 3m, 1h30m), start-up and the end included: the run "
    "measures its speed, fixes its number of updates (recorded, so that --iterations gives "
    "the same run) and stops early, saved, if the machine slows down; on resume: this much "
    "more",
    low=0,
    low_open=True,
    high=WEEK,
    resume="change",
    metavar="DURATION",
    duration=True,
    default_label="none",
)
# Not kept in config.json: a resumed run publishes every 2 seconds unless told otherwise.
PUBLISH_EVERY = _opt(
    "publish_every",
    "--publish-every",
    float,
    2.0,
    "seconds between the progress records a viewer (tui-rnn watch) follows, in RUN_DIR/live.bin; "
    "0 publishes nothing",
    low=0,
    high=3600,
    resume="change",
    metavar="SECONDS",
)
RUN_OPTIONS = (ITERATIONS, EPOCHS, TIME_LIMIT, SAVE_EVERY, PUBLISH_EVERY)
RUN_BY_NAME: dict[str, Option] = {option.name: option for option in RUN_OPTIONS}

# Presets: named sets of defaults. Options given explicitly override them. "report" is empty:
# the plain defaults are the report's setup.
PRESETS: dict[str, dict[str, object]] = {
    "report": {},
    # The recipe that reached the lowest validation loss in 3 minutes on a 2-core machine among
    # those compared (GRU 128 to 256 in one or two layers, batches 8 to 32, Adam's eta 3e-3 to
    # 1.2e-2 with warmup and a schedule): benchmarks/bench_quality.py, docs/performance.md.
    "quality": {
        "cell": "gru",
        "layers": 2,
        "hidden_size": 160,
        "seq_length": 64,
        "batch_size": 16,
        "dtype": "float32",
        "optimizer": "adam",
        "eta": 8e-3,
        "val_fraction": 0.1,
        "sample_every": 1000,
        "lr_schedule": "cosine",
        "warmup": 200,
        "patience": 5,
    },
}
# A preset's run options (how long it trains), apart from the config: an explicit --iterations
# or --epochs replaces them, and a resumed run trains to the target it recorded.
PRESET_RUN_OPTIONS: dict[str, dict[str, object]] = {
    "report": {},
    "quality": {"time_limit": 180.0},
}


@dataclass
class TrainConfig:
    """The options that define a run (config.json's "config"). TrainConfig() is the report's."""

    cell: str = "rnn"
    layers: int = 1
    hidden_size: int = 100
    sigma: float | None = None  # None: the cell's default (0.01 for the report's rnn)
    seed: int = 0
    seq_length: int = 25
    batch_size: int = 1
    dropout: float = 0.0
    dtype: str = "float64"
    optimizer: str = "adagrad"
    eta: float | None = None  # None: DEFAULT_ETA[optimizer]
    clip: float = 5.0
    lr_decay: float = 1.0
    decay_after: float = 10.0
    lr_schedule: str = "constant"
    warmup: int = 0
    eta_min: float = 0.0
    val_fraction: float = 0.0
    eval_every: int | None = None  # None: derived from the sizes when the text is known
    patience: int | None = None  # None: no early stopping
    threads: int = 1
    sample_every: int = 10_000
    sample_length: int = 200
    eps: float = 1e-8  # AdaGrad's (and the others') epsilon; not a command-line option
    # The last update a schedule (or warmup) is made for: the run's first target, recorded
    # when the run begins (not an option). None when the learning rate needs no end.
    schedule_end: int | None = None
    preset: str = "report"
    extra: dict = field(default_factory=dict, repr=False)  # unknown keys of a newer config

    def __post_init__(self) -> None:
        if self.eta is None and isinstance(self.optimizer, str) and self.optimizer in DEFAULT_ETA:
            self.eta = DEFAULT_ETA[self.optimizer]
        if self.sigma is None and self.cell == "rnn" and self.layers == 1:
            self.sigma = 0.01  # the report's, recorded as such (the cell's default anyway)

    def validate(self, names: str = "flags") -> None:
        """OptionError naming the first option that cannot work: by its flag ("--hidden"), or
        with names="fields" by its name in config.json ("hidden_size"). Types are checked too
        (a hand-edited config.json can hold anything)."""
        for option in CONFIG_OPTIONS:
            label = option.flag if names == "flags" else option.name
            option.check(getattr(self, option.name), label)
        if self.eta is None:
            raise OptionError("--eta is missing")
        if not (isinstance(self.eps, float | int) and math.isfinite(self.eps) and self.eps > 0):
            raise OptionError(f"eps must be a positive number, got {self.eps!r}")
        if self.preset not in PRESETS:
            raise OptionError(f"--preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        self._validate_schedule()
        if self.patience is not None and self.val_fraction == 0:
            raise OptionError(
                f"--patience {self.patience} needs a validation loss to watch: give "
                "--val-fraction F too (e.g. 0.1), or leave --patience out"
            )

    def _validate_schedule(self) -> None:
        if self.lr_decay != 1 and self.lr_schedule != "constant":
            raise OptionError(
                f"--lr-decay {self.lr_decay:g} cannot go with --lr-schedule {self.lr_schedule}, "
                "which sets the learning rate itself: drop --lr-decay or use --lr-schedule "
                "constant"
            )
        assert self.eta is not None
        if self.eta_min > self.eta:
            raise OptionError(
                f"--eta-min {self.eta_min:g} is above --eta {self.eta:g}: a schedule ends "
                "below where it starts; give a smaller --eta-min"
            )
        end = self.schedule_end
        if end is not None and (isinstance(end, bool) or not isinstance(end, int) or end < 1):
            raise OptionError(f"schedule_end must be a whole number >= 1, got {end!r}")
        if end is not None and self.warmup >= end:
            raise OptionError(
                f"--warmup {self.warmup:,} is at or beyond the run's last update ({end:,}): "
                "give a smaller --warmup or train for longer"
            )

    @property
    def needs_schedule_end(self) -> bool:
        """Whether the learning rate depends on the run's last update (a decaying schedule,
        or a warmup that must end before it)."""
        return self.lr_schedule != "constant" or self.warmup > 0

    # Compatibility with the report's names.
    @property
    def batch(self) -> int:
        return self.batch_size

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("extra")
        return data

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls) if f.name != "extra")

    @classmethod
    def from_dict(cls, data: Mapping) -> TrainConfig:
        """A config from config.json (schema 1 runs lack the newer keys: the report's values)."""
        known = {f.name for f in fields(cls)} - {"extra"}
        config = cls(**{k: v for k, v in data.items() if k in known})
        return config


def make_schedule(config: TrainConfig, given: Mapping[str, object], last: int) -> None:
    """Fix the schedule of a new run of `last` updates. A preset's warmup (one not given) takes
    at most a tenth of a shorter run than the preset's own, so that `--preset quality
    --iterations 100` works as typed; a warmup the user gives is checked as given."""
    config.schedule_end = last
    if given.get("warmup") in (None, AUTO):
        config.warmup = min(config.warmup, last // 10)
    config.validate()


def resolve(given: Mapping[str, object], preset: str | None = None) -> TrainConfig:
    """A TrainConfig from the options the user gave (name -> value) and a preset."""
    preset = preset or "report"
    if preset not in PRESETS:
        raise OptionError(f"--preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    values: dict[str, Any] = dict(PRESETS[preset])  # checked by validate() below
    given = {k: v for k, v in given.items() if v is not None and v is not AUTO}
    if given.get("optimizer", values.get("optimizer")) != values.get("optimizer"):
        values.pop("eta", None)  # a preset's learning rate is for its own optimizer
    if given.get("val_fraction") == 0:
        values.pop("patience", None)  # a preset's early stopping needs its validation split
    if given.get("lr_decay", 1) != 1 and "lr_schedule" not in given:
        for name in ("lr_schedule", "eta_min"):  # a per-epoch decay replaces the schedule
            values.pop(name, None)
    values.update(given)
    config = TrainConfig(**values, preset=preset)
    config.validate()
    # Options that would be recorded but change nothing: refused, not silently ignored.
    if "eval_every" in given and config.val_fraction == 0:
        raise OptionError(
            "--eval-every needs a validation loss to compute: give --val-fraction F too "
            "(e.g. 0.1), or leave --eval-every out"
        )
    if "decay_after" in given and config.lr_decay == 1:
        raise OptionError(
            "--decay-after needs a decay to start: give --lr-decay F too (e.g. 0.97), or "
            "leave --decay-after out"
        )
    if "eta_min" in given and config.lr_schedule == "constant":
        raise OptionError(
            "--eta-min needs a schedule that ends there: give --lr-schedule cosine or linear "
            "too, or leave --eta-min out"
        )
    return config


def resumed_config(
    saved: TrainConfig, given: Mapping[str, object], preset: str | None = None
) -> TrainConfig:
    """The config a saved run goes on with: its own, with the learning rate `given` if any.
    OptionError for any other option given with a value other than the run's (even `auto`:
    what a new run of the model would take), or another preset: a resumed run keeps them."""
    for name, value in given.items():
        option = BY_NAME[name]
        if value is AUTO:
            value = getattr(resolve({"cell": saved.cell, "layers": saved.layers}), name)
            if value == getattr(saved, name):
                continue
            value = "auto"
        if value is None or option.resume == "change" or value == getattr(saved, name):
            continue
        raise OptionError(
            f"{option.flag} {value} conflicts with the run's {name} = "
            f"{getattr(saved, name)}: a resumed run keeps its options (only --eta, "
            "--patience, --iterations, --epochs, --time-limit, --save-every may change); drop "
            f"{option.flag} or start a new run"
        )
    if preset and preset != saved.preset:
        raise OptionError(
            f"--preset {preset} conflicts with the run's preset {saved.preset}: "
            "drop --preset or start a new run"
        )
    changes = {
        name: BY_NAME[name].check(given[name])
        for name in ("eta", "patience")
        if given.get(name) is not None and given[name] is not AUTO
    }
    if not changes:
        return saved
    config = replace(saved, **changes)
    config.validate()  # e.g. a new --eta below the schedule's --eta-min
    return config


# -- argparse -----------------------------------------------------------------------------------
def argparse_type(option: Option) -> Callable[[str], object]:

    def parse(text: str):
        try:
            value = option.parse(text)
        except OptionError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
        return AUTO if value is None else value  # None is argparse's "not given"

    parse.__name__ = option.flag  # argparse names the type in its messages
    return parse


def add_arguments(parser, options=CONFIG_OPTIONS, title: str = "model and training") -> None:
    """Add `options` to an argparse parser; every default is None (see `given`)."""
    group = parser.add_argument_group(title)
    for option in options:
        # An option derived from others says its defaults in its help already.
        suffix = "" if option.default is None else f" ({option.default_text})"
        group.add_argument(
            option.flag,
            dest=option.name,
            type=argparse_type(option),
            default=None,
            metavar=option.metavar
            or ("{" + ",".join(option.choices) + "}" if option.choices else None),
            help=option.help + suffix,
        )


def given(args, options=CONFIG_OPTIONS) -> dict[str, object]:
    """The options present on the command line (argparse namespace -> name: value)."""
    return {
        o.name: getattr(args, o.name) for o in options if getattr(args, o.name, None) is not None
    }
