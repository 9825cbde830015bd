"""export-model and import-model: models that leave tui-rnn and come back (tui_rnn/interop/)."""

from __future__ import annotations

import argparse

from tui_rnn.cli.common import UsageError, path_type, print_warning, write_stdout
from tui_rnn.interop.errors import ModelFileError
from tui_rnn.interop.export_model import CHECKPOINTS, FORMATS, export_model
from tui_rnn.interop.import_model import import_model
from tui_rnn.store.rundir import resolve_run_dir
from tui_rnn.training.options import BY_NAME, TRAINING_OPTIONS, add_arguments, given

EXPORT_DESCRIPTION = (
    "Write a run's model as a safetensors file in PyTorch's layout (nn.RNN/LSTM/GRU under rnn., "
    "nn.Linear under fc.), an ONNX graph, or a self-contained web page that generates text "
    "offline. The format comes from OUTPUT's extension (.safetensors, .onnx, .html) or --format."
)
IMPORT_DESCRIPTION = (
    "Make a run directory from a safetensors file in PyTorch's layout (an RNN or LSTM from "
    "PyTorch, or any model tui-rnn exported): generate, inspect, gradcheck and train --resume "
    "take it. The vocabulary comes from the file's metadata or --vocab; CORPUS, if given, "
    "becomes the run's text."
)
IMPORT_OPTIONS = (BY_NAME["seed"], *TRAINING_OPTIONS)  # the model's own come from the file


def add_export_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run made by train or the app, or latest"
    )
    parser.add_argument(
        "output",
        metavar="OUTPUT",
        type=path_type("OUTPUT", "a file path"),
        help="the file to write (atomically; never one of the run's own files)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="safetensors, onnx or html (default: from OUTPUT's extension)",
    )
    parser.add_argument(
        "--checkpoint",
        choices=CHECKPOINTS,
        default="best",
        help="the best model or the latest (best)",
    )
    parser.set_defaults(run=cmd_export_model)


def cmd_export_model(args) -> int:
    """Write the run's model; one line saying where and how large."""
    try:
        exported = export_model(
            resolve_run_dir(args.run_dir),
            args.output,
            args.format,
            args.checkpoint,
            warn=print_warning,
        )
    except ModelFileError as err:
        raise UsageError(str(err)) from None
    write_stdout(
        f"wrote {exported.path} ({exported.format}, {exported.size:,} bytes; the "
        f"{args.checkpoint} model, iteration {exported.iteration:,})\n"
    )
    return 0


def add_import_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        metavar="FILE",
        type=path_type("FILE", "a file path"),
        help="a .safetensors file",
    )
    parser.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        type=path_type("RUN_DIR"),
        help="the run directory to make (it must not hold a run)",
    )
    parser.add_argument(
        "corpus",
        nargs="?",
        default=None,
        metavar="CORPUS",
        help="a text to train on later (its characters must be in the vocabulary)",
    )
    parser.add_argument("--encoding", default=None, help="the corpus's encoding (utf-8)")
    parser.add_argument(
        "--vocab",
        type=path_type("--vocab", "a file path"),
        metavar="FILE",
        default=None,
        help="the vocabulary as a JSON list of one-character strings in index order (default: "
        "the file's vocabulary metadata)",
    )
    add_arguments(parser, IMPORT_OPTIONS, "training options (tui-rnn's defaults)")
    parser.set_defaults(run=cmd_import_model)


def cmd_import_model(args) -> int:
    """Make the run; one line saying what it holds and what to do next."""
    try:
        run_dir = import_model(
            args.file,
            args.run_dir,
            args.corpus,
            encoding=args.encoding,
            vocab_path=args.vocab,
            options=given(args, IMPORT_OPTIONS),
            warn=print_warning,
        )
    except ModelFileError as err:
        raise UsageError(str(err)) from None
    next_step = (
        f"tui-rnn train --resume {run_dir}"
        if args.corpus
        else f"tui-rnn train CORPUS --resume {run_dir}"
    )
    write_stdout(
        f"imported {args.file} into {run_dir}; try tui-rnn generate {run_dir}, "
        f"or train on: {next_step}\n"
    )
    return 0
