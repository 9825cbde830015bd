"""commands: split from tui_rnn.cli."""

from __future__ import annotations

import os
import sys

import numpy as np
from rich.console import Console

from tui_rnn import report
from tui_rnn.cells.model import ModelSpec
from tui_rnn.cli.common import (
    UsageError,
    json_line,
    open_run,
    output_error,
    print_error,
    print_warning,
    write_stdout,
)
from tui_rnn.gradcheck import check as gradcheck_check
from tui_rnn.gradcheck import table
from tui_rnn.inspection.output import inspect_run
from tui_rnn.inspection.passage import PassageError
from tui_rnn.safe import files
from tui_rnn.safe import text as safe_text
from tui_rnn.store import checkpoint, rundir, workspace
from tui_rnn.store.export import export_run
from tui_rnn.store.rundir import LATEST, resolve_run_dir
from tui_rnn.training import sampling
from tui_rnn.training.corpus import UnknownCharactersError, load_corpus
from tui_rnn.training.options import MODEL_OPTIONS, given, resolve
from tui_rnn.training.trainer import check_fits_memory


# -- generate ---------------------------------------------------------------------------------
def cmd_generate(args) -> int:

    try:
        sampling.validate_options(args.temperature, args.top_p, args.length)
    except ValueError as err:
        raise UsageError(str(err)) from None
    run_dir = rundir.resolve_run_dir(args.run_dir)
    params, chars, _ = checkpoint.load_model(run_dir, best=args.best, warn=print_warning)
    try:
        prompt_ids = sampling.start_ids(args.prompt, chars)
    except UnknownCharactersError as err:
        raise UsageError(f"the prompt has {err}") from None
    rng = np.random.Generator(np.random.PCG64(args.seed))
    # Streamed a line (or 256 characters) at a time: shown through safetext on a terminal,
    # exact into a pipe or a file.
    out = sys.stdout
    shown = safe_text.isatty(out)
    pending = [args.prompt]
    for i in sampling.continue_prompt(
        params, prompt_ids, args.length, rng, args.temperature, args.top_p, args.greedy
    ):
        pending.append(chars[i])
        if chars[i] == "\n" or len(pending) >= 256:
            text = "".join(pending)
            files.write_output(out, safe_text.terminal(text) if shown else text)
            pending = []
    text = "".join(pending) + "\n"
    files.write_output(out, safe_text.terminal(text) if shown else text)
    return 0


# -- gradcheck, export, the app (their own issues) ---------------------------------------------
def cmd_gradcheck(args) -> int:
    """The report's Table 1 (or one JSON object); exit 1 when any row fails."""

    run_dir = _gradcheck_run_dir(args)
    fresh = given(args, MODEL_OPTIONS)
    if run_dir:
        if fresh:
            flag = next(o.flag for o in MODEL_OPTIONS if o.name in fresh)
            raise UsageError(
                f"{flag} describes a fresh model but {run_dir} is a run, whose own model is "
                f"checked: drop {flag}, or give a corpus file to check a fresh model"
            )
        corpus, model = _run_model(run_dir, args)
        subject = {"model": model}
    else:
        corpus, subject = _fresh_model(args, fresh)
    try:
        seq_lengths = gradcheck_check.parse_seq_lengths(args.seq_lengths)
        model = subject.pop("model", None)  # a run's; else `subject` describes a fresh one
        options = gradcheck_check.GradcheckOptions(
            seq_lengths=seq_lengths,
            method=args.method,
            h=args.h,
            eps=args.eps,
            threshold=args.threshold,
            full=args.full,
            **subject,
        )
        report = gradcheck_check.run_gradcheck(corpus.data, corpus.vocab_size, options, model=model)
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
    else:
        try:
            console = Console()
            console.print(table.report_table(report))
            console.print(table.verdict(report), highlight=False)
        except OSError as err:
            raise output_error(files.describe(err)) from None
    return 0 if report.passed else 1


def _gradcheck_run_dir(args) -> str | None:
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


def _run_model(run_dir, args):
    """(corpus, model) of a saved run: its newest model, on its own corpus."""

    model, chars, document = checkpoint.load_model(run_dir, warn=print_warning)
    retry = f"tui-rnn gradcheck --run {run_dir} CORPUS"
    return checkpoint.load_run_corpus(document, args.corpus, args.encoding, retry), model


def _fresh_model(args, fresh: dict):
    """(corpus, run_gradcheck's model arguments) for a model initialised as training would."""

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


def cmd_export(args) -> int:
    """Write a run's loss history or samples from its newest checkpoint (only reads the run)."""

    run_dir = resolve_run_dir(args.run_dir)
    path, count = export_run(run_dir, args.format, args.output, args.samples, warn=print_warning)
    if path is not None:
        write_stdout(f"wrote {count:,} {'samples' if args.samples else 'updates'} to {path}\n")
    return 0


def cmd_inspect(args) -> int:
    """A passage as the run's model reads it: probabilities, a unit, the units found."""

    try:
        path = inspect_run(
            resolve_run_dir(args.run_dir),
            text_file=args.text,
            prompt=args.prompt,
            best=args.best,
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
        write_stdout(f"wrote {path}\n")
    return 0


def cmd_runs(args) -> int:
    """The runs under DIR, newest first, as a table or a JSON list (reads, never locks)."""

    if args.dir is not None and not os.path.lexists(args.dir):
        raise UsageError(f"{args.dir} does not exist: give a directory holding runs")
    base = rundir.RUNS_DIR if args.dir is None else args.dir
    summaries = workspace.list_runs(base)
    if args.json:
        write_stdout(json_line([summary.to_json() for summary in summaries]))
    elif not summaries:
        write_stdout(f"no runs in {base} (tui-rnn train makes one there)\n")
    else:
        write_stdout(workspace.format_table(summaries))
    return 0


def cmd_report(args) -> int:
    """Write a run's report (report.md and fig1.svg); only reads the run."""

    run_dir = rundir.resolve_run_dir(args.run_dir)
    path = report.write_report(
        run_dir, args.output, corpus_path=args.corpus, encoding=args.encoding, warn=print_warning
    )
    write_stdout(f"wrote {path} and {path.parent / report.FIGURE_FILE}\n")
    return 0


def cmd_app(args) -> int:
    # Textual loads only for the app: headless commands start ~0.3 s sooner without it.
    from tui_rnn.app import TrainingSession, TuiRnnApp

    warnings: list[str] = []

    def warn(message: str) -> None:  # seen now (and after the app exits), and in the app
        warnings.append(message)
        print_warning(message)

    run = open_run(args, warn=warn, lazy=True)  # made at the first update or save
    session = TrainingSession(run, warnings=warnings)
    app = TuiRnnApp(session)
    try:
        app.run()
    finally:
        run.close()
        app.session.run.close()  # the run open at the end (o and n switch runs)
    if app.engine_error:
        print_error(f"tui-rnn: error: {app.engine_error}")
        return 1
    run = app.session.run
    trainer, run_dir = run.trainer, run.run_dir
    if not run.created:
        write_stdout("nothing was trained or saved, so no run directory was made\n")
        return 0
    state = "done" if run.done else "saved"
    write_stdout(
        f"{state} at iter {trainer.iteration:,} in {run_dir}; continue with: "
        f"tui-rnn --resume {run_dir}" + (" (t trains on past the target)\n" if run.done else "\n")
    )
    return 0
