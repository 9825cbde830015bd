"""parser: split from tui_rnn.cli."""

from __future__ import annotations

import argparse

from tui_rnn import __version__
from tui_rnn.cli.commands import (
    cmd_app,
    cmd_export,
    cmd_generate,
    cmd_gradcheck,
    cmd_inspect,
    cmd_report,
    cmd_runs,
)
from tui_rnn.cli.common import COMMANDS, OneLineParser, number_type, path_type
from tui_rnn.cli.training import cmd_train
from tui_rnn.gradcheck import common
from tui_rnn.inspection.passage import DEFAULT_LENGTH, PassageError, parse_neuron
from tui_rnn.training.options import (
    EPOCHS,
    ITERATIONS,
    MODEL_OPTIONS,
    PRESETS,
    SAVE_EVERY,
    add_arguments,
    argparse_type,
)


def add_corpus_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "corpus",
        nargs="?",
        default=None,
        metavar="CORPUS",
        help="a text file to learn (default: the built-in tinyshakespeare)",
    )
    parser.add_argument("--encoding", default=None, help="the corpus's encoding (utf-8)")


def add_training_options(parser: argparse.ArgumentParser) -> None:

    add_corpus_options(parser)
    add_arguments(parser)
    g = parser.add_argument_group("how far")
    g.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default=None,
        help="report: the report's setup (the default); quality: the best model this machine "
        "trains in a few minutes (see the README); options given explicitly override it",
    )
    length = g.add_mutually_exclusive_group()
    for option in (ITERATIONS, EPOCHS):
        length.add_argument(
            option.flag,
            type=argparse_type(option),
            default=None,
            metavar=option.metavar,
            help=option.help,
        )
    r = parser.add_argument_group("run directory")
    r.add_argument(
        "--run-dir",
        type=path_type("--run-dir"),
        default=None,
        help="where to keep the run (runs/<timestamp>)",
    )
    r.add_argument(
        "--resume",
        type=path_type("--resume"),
        default=None,
        metavar="RUN_DIR",
        help="continue a saved run exactly where it stopped (latest: the newest under ./runs)",
    )
    r.add_argument(
        SAVE_EVERY.flag,
        type=argparse_type(SAVE_EVERY),
        default=None,
        metavar=SAVE_EVERY.metavar,
        help=SAVE_EVERY.help,
    )


# -- parsers -----------------------------------------------------------------------------------
def build_parser(command: str | None) -> argparse.ArgumentParser:
    if command is None:
        parser = OneLineParser(
            prog="tui-rnn",
            description="Train, check and play with a character-level RNN in your terminal. "
            f"Commands: {', '.join(COMMANDS)} (tui-rnn COMMAND --help).",
        )
        add_training_options(parser)

        parser.add_argument("--version", action="version", version=f"tui-rnn {__version__}")
        parser.set_defaults(run=cmd_app)
        return parser
    parser = OneLineParser(prog=f"tui-rnn {command}")
    if command == "train":
        parser.description = "Train headless, printing samples, and save the run."
        add_training_options(parser)
        parser.add_argument(
            "--json", action="store_true", help="print one JSON summary on stdout at the end"
        )
        parser.set_defaults(run=cmd_train)
    elif command == "generate":
        parser.description = (
            "Generate text from a saved run: the prompt primes the hidden state character by "
            "character, then the model continues (an empty prompt starts from a newline)."
        )
        parser.add_argument(
            "run_dir", metavar="RUN_DIR", help="a run made by train or the app, or latest"
        )
        parser.add_argument("--prompt", default="", help="text to prime the model with")
        parser.add_argument(
            "--length",
            type=number_type(int, "--length", 1),
            default=200,
            help="characters to generate (200)",
        )
        parser.add_argument(
            "--temperature",
            type=number_type(float, "--temperature", 0),
            default=1.0,
            help="divide the logits by T: < 1 safer, > 1 wilder, 0 = greedy (1.0)",
        )
        parser.add_argument(
            "--top-p",
            type=number_type(float, "--top-p", 0, False),
            default=1.0,
            help="sample only from the likeliest characters holding this much mass (1.0 = off)",
        )
        parser.add_argument("--greedy", action="store_true", help="always take the likeliest")
        parser.add_argument("--best", action="store_true", help="use the best model")
        parser.add_argument(
            "--seed", type=number_type(int, "--seed", 0), default=0, help="sampling seed (0)"
        )
        parser.set_defaults(run=cmd_generate)
    elif command == "gradcheck":
        parser.description = (
            "Compare analytic and numerical gradients of every parameter entry (the report's "
            "Table 1). Exit code 1 when any row fails."
        )
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
            type=number_type(float, "--h", 0, False),
            help="step (central 1e-4, complex 1e-20)",
        )
        check.add_argument(
            "--eps",
            type=number_type(float, "--eps", 0, False),
            default=common.DEFAULT_EPS,
            help=f"floor of the relative error's denominator ({common.DEFAULT_EPS:g})",
        )
        check.add_argument(
            "--threshold",
            type=number_type(float, "--threshold", 0, False),
            help="largest max relative error that passes (central 1e-3, complex 1e-8)",
        )
        check.add_argument(
            "--full",
            action="store_true",
            help="check every entry even when the check is over its time budget (otherwise a "
            "seeded sample of entries, labelled as such)",
        )
        check.add_argument("--json", action="store_true", help="print one JSON object instead")
        parser.set_defaults(run=cmd_gradcheck)
    elif command == "export":
        parser.description = (
            "Export a run's loss history (one row per update: iteration, epoch, loss, "
            "smooth_loss, val_loss, chars_seen, seconds) or its samples, from its newest "
            "checkpoint; safe while it trains."
        )
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
            "(default RUN_DIR/loss_history.FORMAT, or RUN_DIR/samples_export.txt)",
        )
        parser.add_argument(
            "--samples", action="store_true", help="export the samples as text instead"
        )
        parser.set_defaults(run=cmd_export)
    elif command == "inspect":
        _inspect_arguments(parser)
    elif command == "runs":
        parser.description = (
            "List the runs under DIR, newest first: name, model, corpus, iterations/target, "
            "smooth loss, best (validation) loss, state (open (pid N), stopped, done, "
            "damaged), last update. Reads config.json and the checkpoints' counters only; "
            "never takes a lock."
        )
        parser.add_argument(
            "dir", nargs="?", default=None, metavar="DIR", help="a directory of runs (./runs)"
        )
        parser.add_argument(
            "--json", action="store_true", help="a JSON list of objects (null: not known)"
        )
        parser.set_defaults(run=cmd_runs)
    elif command == "report":
        parser.description = (
            "Write a run's report: Table 1 (the gradient check at initialisation and of the "
            "trained model), Fig. 1 (the smooth loss, as SVG and as text), the samples, "
            "1,000 characters from the best model, the settings and speed. Only reads the run."
        )
        parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, or latest")
        parser.add_argument(
            "--output",
            type=path_type("--output"),
            metavar="DIR",
            default=None,
            help="where report.md and fig1.svg go (RUN_DIR/report/)",
        )
        parser.add_argument(
            "--corpus", default=None, help="the run's corpus file, if it moved since"
        )
        parser.add_argument("--encoding", default=None, help="the corpus's encoding (the run's)")
        parser.set_defaults(run=cmd_report)
    return parser


def _inspect_arguments(parser: argparse.ArgumentParser) -> None:

    def neuron(text: str):
        try:
            return parse_neuron(text)
        except PassageError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parser.description = (
        "Show a passage as a run's model reads it: each character coloured by the probability "
        "the model gave it (or by one unit's activation), the top-5 guesses for the next, the "
        "units that track features of the text."
    )
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
    parser.add_argument(
        "--neuron",
        type=neuron,
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
    parser.set_defaults(run=cmd_inspect)
