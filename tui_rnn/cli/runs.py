"""`tui-rnn export`, `tui-rnn runs` and `tui-rnn report`: the commands that read saved runs
(never taking a lock, so they are safe while a run trains) and write what they find.
"""

from __future__ import annotations

import argparse
import os
import sys

from rich.console import Console

from tui_rnn import report
from tui_rnn.cli.common import UsageError, json_line, print_warning, say, write_stdout
from tui_rnn.safe import text as safe_text
from tui_rnn.store import rundir, workspace
from tui_rnn.store.export import export_run


def cmd_export(args: argparse.Namespace) -> int:
    """Write a run's loss history or samples from its newest checkpoint (only reads the run)."""
    run_dir = rundir.resolve_run_dir(args.run_dir)
    path, count = export_run(run_dir, args.format, args.output, args.samples, warn=print_warning)
    if path is not None:
        say(f"wrote {count:,} {'samples' if args.samples else 'updates'} to {path}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """The runs under DIR, newest first, as a table or a JSON list (reads, never locks)."""
    if args.dir is not None and not os.path.lexists(args.dir):
        raise UsageError(f"{args.dir} does not exist: give a directory holding runs")
    base = rundir.RUNS_DIR if args.dir is None else args.dir
    summaries = workspace.list_runs(base)
    if args.json:
        write_stdout(json_line([summary.to_json() for summary in summaries]))
    elif not summaries:
        say(f"no runs in {base} (tui-rnn train makes one there)")
    else:
        write_stdout(workspace.format_table(summaries))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write a run's report (report.md and fig1.svg); only reads the run. On a terminal, what
    it is doing is shown on stderr as it goes (the gradient checks take seconds)."""
    run_dir = rundir.resolve_run_dir(args.run_dir)
    options = dict(corpus_path=args.corpus, encoding=args.encoding, warn=print_warning)
    if safe_text.isatty(sys.stderr):
        with Console(stderr=True).status("report: reading the run") as status:
            path = report.write_report(
                run_dir,
                args.output,
                progress=lambda step: status.update(f"report: {safe_text.line(step)}"),
                **options,
            )
    else:
        path = report.write_report(run_dir, args.output, **options)
    say(f"wrote {path} and {path.parent / report.FIGURE_FILE}")
    return 0
