"""The command line's surface: COMMANDS, one row per command (its name, description, the function
that runs it and the one that adds its arguments), and APP, the app launcher that runs when no
command is named. `build_parser` makes argparse's parser from a row.

The training options come from their table (tui_rnn/training/options.py), the generation options
from theirs (tui_rnn/training/generation.py): the app's forms read the same tables.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tui_rnn import __version__
from tui_rnn.cli.checks import cmd_gradcheck, cmd_inspect
from tui_rnn.cli.common import (
    OneLineParser,
    checkpoint_arguments,
    model_choice_argument,
    number_type,
    path_type,
)
from tui_rnn.cli.evaluate import cmd_eval
from tui_rnn.cli.generate import cmd_generate
from tui_rnn.cli.model_files import (
    EXPORT_DESCRIPTION,
    IMPORT_DESCRIPTION,
    add_export_model_arguments,
    add_import_model_arguments,
    cmd_export_model,
    cmd_import_model,
)
from tui_rnn.cli.runs import cmd_export, cmd_report, cmd_runs
from tui_rnn.cli.train import cmd_app, cmd_train, cmd_watch
from tui_rnn.gradcheck import common
from tui_rnn.inspection.passage import DEFAULT_LENGTH, Neuron, PassageError, parse_neuron
from tui_rnn.training.generation import GENERATION_OPTIONS, GenerationOption
from tui_rnn.training.options import (
    EPOCHS,
    ITERATIONS,
    MODEL_OPTIONS,
    PRESETS,
    PUBLISH_EVERY,
    SAVE_EVERY,
    TIME_LIMIT,
    add_arguments,
    argparse_type,
)


@dataclass(frozen=True)
class Command:
    name: str  # tui-rnn NAME ... (the app: "")
    description: str
    run: Callable[[argparse.Namespace], int]  # the exit code
    arguments: Callable[[argparse.ArgumentParser], None]


# -- arguments ---------------------------------------------------------------------------------
def corpus_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "corpus",
        nargs="?",
        default=None,
        metavar="CORPUS",
        help="a text file to learn (default: the built-in tinyshakespeare)",
    )
    parser.add_argument("--encoding", default=None, help="the corpus's encoding (utf-8)")


def training_arguments(parser: argparse.ArgumentParser) -> None:
    """The corpus, the options table, how far to train and where the run goes."""
    corpus_arguments(parser)
    add_arguments(parser)
    how_far = parser.add_argument_group("how far")
    how_far.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default=None,
        help="report: the report's setup (the default); quality: the best model this machine "
        "trains in 3 minutes (--time-limit 3m, a cosine schedule, early stopping; see the "
        "README); options given explicitly override it",
    )
    length = how_far.add_mutually_exclusive_group()
    for option in (ITERATIONS, EPOCHS, TIME_LIMIT):
        length.add_argument(
            option.flag,
            type=argparse_type(option),
            default=None,
            metavar=option.metavar,
            help=option.help,
        )
    run = parser.add_argument_group("run directory")
    run.add_argument(
        "--run-dir",
        type=path_type("--run-dir"),
        default=None,
        help="where to keep the run (runs/<timestamp>)",
    )
    run.add_argument(
        "--resume",
        type=path_type("--resume"),
        default=None,
        metavar="RUN_DIR",
        help="continue a saved run exactly where it stopped (latest: the newest under ./runs)",
    )
    run.add_argument(
        SAVE_EVERY.flag,
        type=argparse_type(SAVE_EVERY),
        default=None,
        metavar=SAVE_EVERY.metavar,
        help=SAVE_EVERY.help,
    )
    run.add_argument(
        PUBLISH_EVERY.flag,
        type=argparse_type(PUBLISH_EVERY),
        default=None,
        metavar=PUBLISH_EVERY.metavar,
        help=f"{PUBLISH_EVERY.help} ({PUBLISH_EVERY.default_text})",
    )


def app_arguments(parser: argparse.ArgumentParser) -> None:
    training_arguments(parser)
    parser.add_argument("--version", action="version", version=f"tui-rnn {__version__}")


def train_arguments(parser: argparse.ArgumentParser) -> None:
    training_arguments(parser)
    parser.add_argument(
        "--json", action="store_true", help="print one JSON summary on stdout at the end"
    )


def generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run made by train or the app, or latest"
    )
    # Every default is None, so that `generation.resolve` knows what was given.
    for option in GENERATION_OPTIONS:
        flags = (option.short, option.flag) if option.short else (option.flag,)
        named: dict[str, Any] = {"dest": option.name, "default": None, "help": option.help}
        if option.kind is bool:
            parser.add_argument(*flags, action="store_true", **named)
            continue
        named["metavar"] = option.metavar
        if option.many:
            named["action"] = "append"
        if option.kind is not str:
            named["type"] = generation_type(option)
        parser.add_argument(*flags, **named)
    model_choice_argument(parser)


def eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs", nargs="+", metavar="RUN", help="runs made by train or the app (latest: the newest)"
    )
    parser.add_argument(
        "--text",
        type=path_type("--text", "a file path"),
        metavar="FILE",
        help="score every model on this text, read as one stream from a zero state (default: "
        "each run on its own validation text, else its corpus, exactly as it trained)",
    )
    parser.add_argument("--encoding", default=None, help="the text's encoding (utf-8)")
    checkpoint_arguments(parser)
    parser.add_argument(
        "--worst",
        type=number_type(int, "--worst", 1),
        metavar="N",
        help="also show the N passages each model finds most surprising",
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON list, one object per run, best first"
    )


def generation_type(option: GenerationOption) -> Callable[[str], int | float]:
    """A generation option's argparse type: its whole range checked (--top-p's upper bound
    too), so that every bad value is argparse's one line."""
    low = number_type(option.kind, option.flag, option.low, option.low_open)

    def parse(text: str) -> int | float:
        value = low(text)
        if not option.within(value):
            allowed = f"{option.flag} must be {option.allowed}"
            raise argparse.ArgumentTypeError(f"{allowed}, got {text!r}")
        return value

    parse.__name__ = option.flag  # argparse names the type in its messages
    return parse


def gradcheck_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "corpus",
        nargs="?",
        default=None,
        metavar="CORPUS|RUN_DIR",
        help="a text file (a fresh model, as train would make it, on its first characters; "
        "default: the built-in corpus) or a run directory (its newest model, on its corpus)",
    )
    parser.add_argument("--encoding", default=None, help="the corpus's encoding (utf-8)")
    add_arguments(parser, MODEL_OPTIONS, "the fresh model (as train makes it)")
    parser.add_argument(
        "--run", dest="run_dir", metavar="RUN_DIR", help="check a saved run's model instead"
    )
    check = parser.add_argument_group("the check")
    check.add_argument(
        "--seq-lengths",
        default=",".join(map(str, common.DEFAULT_SEQ_LENGTHS)),
        metavar="5,10,15,25",
        help="sequence lengths, comma-separated (5,10,15,25)",
    )
    check.add_argument(
        "--method",
        choices=common.METHODS,
        default="central",
        help="central differences or complex step (central)",
    )
    check.add_argument(
        "--h",
        type=number_type(float, "--h", 0, low_open=True),
        help="step (central 1e-4, complex 1e-20)",
    )
    check.add_argument(
        "--eps",
        type=number_type(float, "--eps", 0, low_open=True),
        default=common.DEFAULT_EPS,
        help=f"floor of the relative error's denominator ({common.DEFAULT_EPS:g})",
    )
    check.add_argument(
        "--threshold",
        type=number_type(float, "--threshold", 0, low_open=True),
        help="largest max relative error that passes (central 1e-3, complex 1e-8)",
    )
    check.add_argument(
        "--full",
        action="store_true",
        help="check every entry even when the check is over its time budget (otherwise a "
        "seeded sample of entries, labelled as such)",
    )
    check.add_argument("--json", action="store_true", help="print one JSON object instead")


def export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        help="a run directory made by tui-rnn train or the app (runs/<timestamp>), or latest",
    )
    parser.add_argument(
        "--format",
        choices=("csv", "json"),
        default=None,
        help="csv or json (default: from --output's extension, else csv)",
    )
    parser.add_argument(
        "--output",
        type=path_type("--output", "a file path (or - for stdout)"),
        metavar="PATH",
        default=None,
        help="where to write, - for stdout "
        "(default RUN_DIR/loss_history.FORMAT, or RUN_DIR/samples_export.txt or .json)",
    )
    parser.add_argument(
        "--samples",
        action="store_true",
        help="export the samples instead (as text, or as JSON with --format json)",
    )


def neuron_type(text: str) -> Neuron:
    try:
        return parse_neuron(text)
    except PassageError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def inspect_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run made by train or the app, or latest"
    )
    text = parser.add_mutually_exclusive_group()
    text.add_argument(
        "--text",
        type=path_type("--text", "a file path"),
        metavar="FILE",
        help=f"the text to read (default: the first {DEFAULT_LENGTH:,} characters of the run's "
        "validation text, else of its corpus)",
    )
    text.add_argument("--prompt", metavar="TEXT", help="the text to read, given here")
    parser.add_argument("--best", action="store_true", help="the best model, not the current")
    model_choice_argument(parser)
    parser.add_argument(
        "--neuron",
        type=neuron_type,
        metavar="L:N[:h|c]",
        help="colour by this unit's activation (layer and unit 0-based; c: an LSTM's cell)",
    )
    parser.add_argument(
        "--find-neurons",
        type=number_type(int, "--find-neurons", 1),
        metavar="K",
        help="also list the K units that track a feature of the text best (Pearson r)",
    )
    parser.add_argument(
        "--format",
        choices=("ansi", "html", "json"),
        help="ansi (coloured text), html (a page) or json (default: from --output's extension, "
        "else ansi on a terminal, json otherwise)",
    )
    parser.add_argument(
        "--output",
        type=path_type("--output", "a file path (or - for stdout)"),
        metavar="PATH",
        help="write here (atomically; never one of the run's own files) instead of stdout",
    )


def watch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run another process trains (or trained), or latest"
    )
    parser.add_argument(
        "--output",
        type=path_type("--output"),
        metavar="DIR",
        default=None,
        help="where the report (w) and the generator's text (ctrl+s) go: a directory outside "
        "the run (without it, nothing can be saved)",
    )
    parser.add_argument("--corpus", default=None, help="the run's corpus file, if it moved since")
    parser.add_argument("--encoding", default=None, help="the corpus's encoding (the run's)")


def runs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dir", nargs="?", default=None, metavar="DIR", help="a directory of runs (./runs)"
    )
    parser.add_argument(
        "--json", action="store_true", help="a JSON list of objects (null: not known)"
    )


def report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, or latest")
    parser.add_argument(
        "--output",
        type=path_type("--output"),
        metavar="DIR",
        default=None,
        help="where report.md and fig1.svg go (RUN_DIR/report/)",
    )
    parser.add_argument("--corpus", default=None, help="the run's corpus file, if it moved since")
    parser.add_argument("--encoding", default=None, help="the corpus's encoding (the run's)")


# -- the commands ------------------------------------------------------------------------------
COMMANDS = (
    Command(
        "train",
        "Train headless, printing samples, and save the run.",
        cmd_train,
        train_arguments,
    ),
    Command(
        "generate",
        "Generate text from a saved run: the prompt primes the hidden state character by "
        "character, then the model continues (an empty prompt starts from a newline).",
        cmd_generate,
        generate_arguments,
    ),
    Command(
        "eval",
        "Score runs' models on a text: the loss in nats and bits per character and the "
        "perplexity, with the characters scored and those the vocabulary lacks (skipped, the "
        "state carried over them); several runs side by side, best first.",
        cmd_eval,
        eval_arguments,
    ),
    Command(
        "gradcheck",
        "Compare analytic and numerical gradients of every parameter entry (the report's "
        "Table 1). Exit code 1 when any row fails.",
        cmd_gradcheck,
        gradcheck_arguments,
    ),
    Command(
        "watch",
        "Watch a run another process trains (tui-rnn train in another terminal, tmux, nohup): "
        "the app, read-only, following the chart, the samples and the status within seconds; "
        "the gradient check, inspector and generator use its newest checkpoint. Takes no lock "
        "and writes nothing into the run; any number may watch one run. When the trainer is "
        "gone, t takes the run over.",
        cmd_watch,
        watch_arguments,
    ),
    Command(
        "export",
        "Export a run's loss history (one row per update: iteration, epoch, loss, "
        "smooth_loss, val_loss, chars_seen, seconds) or its samples, from its newest "
        "checkpoint; safe while it trains.",
        cmd_export,
        export_arguments,
    ),
    Command(
        "inspect",
        "Show a passage as a run's model reads it: each character coloured by the probability "
        "the model gave it (or by one unit's activation), the top-5 guesses for the next, the "
        "units that track features of the text.",
        cmd_inspect,
        inspect_arguments,
    ),
    Command(
        "runs",
        "List the runs under DIR, newest first: name, model, corpus, iterations/target, "
        "the smoothed training loss and the best model's loss per character, state (open "
        "(pid N), stopped, done, damaged), last update. Reads config.json and the "
        "checkpoints' counters only; never takes a lock.",
        cmd_runs,
        runs_arguments,
    ),
    Command(
        "report",
        "Write a run's report: Table 1 (the gradient check at initialisation and of the "
        "trained model), Fig. 1 (the loss, as SVG and as text), the samples, "
        "1,000 characters from the best model, the settings and speed. Only reads the run.",
        cmd_report,
        report_arguments,
    ),
    Command("export-model", EXPORT_DESCRIPTION, cmd_export_model, add_export_model_arguments),
    Command("import-model", IMPORT_DESCRIPTION, cmd_import_model, add_import_model_arguments),
)
BY_NAME = {command.name: command for command in COMMANDS}
APP = Command(
    "",
    "Train, check and play with a character-level RNN in your terminal. "
    f"Commands: {', '.join(BY_NAME)} (tui-rnn COMMAND --help).",
    cmd_app,
    app_arguments,
)


def unknown_command(word: str) -> str | None:
    """Why `word`, the first word of a command line that names no command, is a mistyped
    command rather than the app's corpus (None: it may be a corpus). A word that is a file,
    or looks like a path (a separator, an extension) or an option, is left to the app."""
    if word.startswith("-") or os.sep in word or "/" in word or os.path.splitext(word)[1]:
        return None
    if os.path.lexists(word):
        return None
    near = min(BY_NAME, key=lambda name: edit_distance(word, name))
    hint = f"did you mean {near!r}? " if edit_distance(word, near) <= 2 else ""
    return f"unknown command {word!r}: {hint}(commands: {', '.join(BY_NAME)}; see tui-rnn --help)"


def edit_distance(a: str, b: str) -> int:
    """Levenshtein's distance: the fewest insertions, deletions and substitutions."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


def build_parser(name: str | None) -> argparse.ArgumentParser:
    """The parser of command `name` (None: the app's)."""
    command = APP if name is None else BY_NAME[name]
    prog = f"tui-rnn {command.name}" if command.name else "tui-rnn"
    parser = OneLineParser(prog=prog, description=command.description)
    command.arguments(parser)
    parser.set_defaults(run=command.run)
    return parser
