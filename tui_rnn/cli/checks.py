"""`tui-rnn gradcheck` and `tui-rnn inspect`: the commands that look inside a model.

gradcheck compares analytic and numerical gradients (the report's Table 1) of a fresh model,
made as `train` would make it, or of a saved run's; inspect shows a passage as a run's model
reads it. Both only read a run.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from rich.console import Console

from tui_rnn.cells.model import Model, ModelSpec
from tui_rnn.cli.common import (
    UsageError,
    json_line,
    named_run_dir,
    output_error,
    print_error,
    print_warning,
    say,
    use_best,
    write_stdout,
)
from tui_rnn.gradcheck import check, table
from tui_rnn.inspection.output import inspect_run
from tui_rnn.inspection.passage import PassageError
from tui_rnn.safe import files
from tui_rnn.safe import text as safe_text
from tui_rnn.store import checkpoint
from tui_rnn.store.rundir import LATEST, resolve_run_dir
from tui_rnn.training.corpus import Corpus, UnknownCharactersError, load_corpus
from tui_rnn.training.options import MODEL_OPTIONS, given, resolve
from tui_rnn.training.trainer import check_fits_memory


def cmd_gradcheck(args: argparse.Namespace) -> int:
    """The report's Table 1 (or one JSON object); exit 1 when any row fails."""
    run_dir = gradcheck_run_dir(args)
    fresh = given(args, MODEL_OPTIONS)
    if run_dir:
        if fresh:
            flag = next(o.flag for o in MODEL_OPTIONS if o.name in fresh)
            raise UsageError(
                f"{flag} describes a fresh model but {run_dir} is a run, whose own model is "
                f"checked: drop {flag}, or give a corpus file to check a fresh model"
            )
        corpus, model = run_model(run_dir, args)
        fresh_fields: dict[str, Any] = {}
    else:
        model = None
        corpus, fresh_fields = fresh_model(args, fresh)
    try:
        options = check.GradcheckOptions(
            seq_lengths=check.parse_seq_lengths(args.seq_lengths),
            method=args.method,
            h=args.h,
            eps=args.eps,
            threshold=args.threshold,
            full=args.full,
            **fresh_fields,
        )
        report = check.run_gradcheck(corpus.data, corpus.vocab_size, options, model=model)
    except ValueError as err:
        raise UsageError(str(err)) from None
    except MemoryError:
        raise UsageError(
            "not enough memory for this check: use a smaller --hidden or shorter --seq-lengths"
        ) from None
    except KeyboardInterrupt:
        print_error("tui-rnn: gradcheck interrupted")
        return 130
    if args.json:
        write_stdout(json_line(report.to_json()))
    elif not safe_text.isatty(sys.stdout):  # a pipe or a file: plain lines, nothing wrapped
        write_stdout(table.plain_table(report) + "\n" + table.verdict(report) + "\n")
    else:
        try:
            console = Console()
            console.print(table.report_table(report))
            console.print(table.verdict(report), highlight=False)
        except OSError as err:
            raise output_error(files.describe(err)) from None
    return 0 if report.passed else 1


def gradcheck_run_dir(args: argparse.Namespace) -> str | None:
    """The run to check: --run, or the positional argument when it is a directory (or
    `latest`, naming none)."""
    positional = args.corpus
    if positional == LATEST and not os.path.lexists(positional):
        positional = str(resolve_run_dir(positional))
    if positional is not None and os.path.isdir(positional):
        if args.run_dir:
            raise UsageError(
                f"{positional} is a run directory and --run {args.run_dir} names another: give one"
            )
        args.corpus = None
        return positional
    return None if args.run_dir is None else str(resolve_run_dir(args.run_dir))


def run_model(run_dir: str, args: argparse.Namespace) -> tuple[Corpus, Model]:
    """(corpus, model) of a saved run: its newest model, on its own corpus."""
    model, _, document = checkpoint.load_model(run_dir, warn=print_warning)
    retry = f"tui-rnn gradcheck --run {run_dir} CORPUS"
    return checkpoint.load_run_corpus(document, args.corpus, args.encoding, retry), model


def fresh_model(
    args: argparse.Namespace, fresh: dict[str, object]
) -> tuple[Corpus, dict[str, Any]]:
    """(corpus, GradcheckOptions' model fields) for a model initialised as training would."""
    config = resolve(fresh)
    corpus = load_corpus(args.corpus, encoding=args.encoding or "utf-8")
    check_fits_memory(config, corpus.vocab_size)
    spec = ModelSpec(
        cell=config.cell,
        vocab_size=corpus.vocab_size,
        hidden_size=config.hidden_size,
        layers=config.layers,
    )
    return corpus, {"spec": spec, "sigma": config.sigma, "seed": config.seed}


def cmd_inspect(args: argparse.Namespace) -> int:
    """A passage as the run's model reads it: probabilities, a unit, the units found."""
    try:
        path = inspect_run(
            str(named_run_dir(args.run_dir)),
            text_file=args.text,
            prompt=args.prompt,
            best=use_best(args.best, args.checkpoint),
            neuron=args.neuron,
            find=args.find_neurons,
            fmt=args.format,
            output=args.output,
            warn=print_warning,
        )
    except PassageError as err:
        raise UsageError(str(err)) from None
    except UnknownCharactersError as err:
        raise UsageError(f"the text has {err}") from None
    if path is not None:
        say(f"wrote {path}")
    return 0
