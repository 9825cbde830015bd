"""`tui-rnn eval`: how well runs' models predict a text, side by side, best first.

The scoring is tui_rnn/inspection/scoring.py's; this module reads the options, shows progress on
a terminal, and prints the table (or JSON) and the most surprising passages, every character of
a text or a run name through safetext.
"""

from __future__ import annotations

import argparse
import sys
import unicodedata

from tui_rnn.cli.common import UsageError, json_line, named_run_dir, print_warning, write_stdout
from tui_rnn.inspection import scoring
from tui_rnn.inspection.scoring import RunScore, Surprise
from tui_rnn.safe import text as safe_text

NUMERIC = {"characters", "unknown", "nats/char", "bits/char", "perplexity"}


def cmd_eval(args: argparse.Namespace) -> int:
    if args.encoding is not None and args.text is None:
        raise UsageError("--encoding is the encoding of --text FILE: give the text too")
    run_dirs = [named_run_dir(run) for run in args.runs]
    bar = ProgressBar() if safe_text.isatty(sys.stderr) else None
    try:
        scores = scoring.evaluate_runs(
            run_dirs,
            text=args.text,
            encoding=args.encoding,
            checkpoint=args.checkpoint,
            worst=args.worst or 0,
            progress=bar,
            warn=print_warning,
        )
    finally:
        if bar is not None:
            bar.clear()
    if args.json:
        write_stdout(json_line([s.to_json(worst=bool(args.worst)) for s in scores]))
        return 0
    if args.text is not None:
        write_stdout(f"on {args.text}: one stream from a zero state\n")
    columns, rows = scoring.table(scores, own_text=args.text is None)
    write_stdout(format_table(columns, [[safe_text.line(cell) for cell in row] for row in rows]))
    for result in scores if args.worst else ():
        write_stdout("\n" + worst_passages(result))
    return 0


def format_table(columns: list[str], rows: list[list[str]]) -> str:
    widths = [max(cells(str(c)) for c in column) for column in zip(columns, *rows, strict=True)]

    def line(cells_: list[str]) -> str:
        shown = []
        for name, cell, width in zip(columns, cells_, widths, strict=True):
            pad = " " * (width - cells(cell))
            shown.append(pad + cell if name in NUMERIC else cell + pad)
        return "  ".join(shown).rstrip() + "\n"

    return line(columns) + "".join(line(row) for row in rows)


def worst_passages(result: RunScore) -> str:
    """The passages a run's model found most surprising: each on one line (context either
    side), under it `-` under each of its characters and `^` under the surprising ones."""
    mean = result.score.nats_per_char
    head = (
        f"{safe_text.line(result.run)} ({result.model}): the {len(result.worst)} most surprising "
        f"passages of {scoring.PASSAGE} characters (^: a loss at least {scoring.MARK:g} times "
        f"the text's {result.score.bits_per_char:.3f} bits/char)\n"
    )
    if not result.worst:
        return head + "  (the text is shorter than a passage)\n"
    lines = [head]
    for rank, surprise in enumerate(result.worst, 1):
        place = f"line {surprise.line:,}, " if surprise.line else ""
        lines.append(
            f"{rank:>3}. {place}characters {surprise.start:,}-{surprise.end - 1:,}: "
            f"{surprise.bits_per_char:.3f} bits/char\n"
        )
        shown, marks = passage_line(surprise, mean)
        lines.append(f"     {shown}\n     {marks.rstrip()}\n")
    return "".join(lines)


def passage_line(surprise: Surprise, nats_per_char: float) -> tuple[str, str]:
    """(the passage and its context on one line, every character visible; the marks under it)."""
    before = "".join(safe_text.char(ch) for ch in surprise.before)
    shown, marks = [before], [" " * cells(before)]
    for ch, loss in zip(surprise.text, surprise.losses, strict=True):
        visible = safe_text.char(ch)
        mark = "^" if scoring.surprising(loss, nats_per_char) else "-"
        shown.append(visible)
        marks.append(mark * cells(visible))
    shown.append("".join(safe_text.char(ch) for ch in surprise.after))
    return "".join(shown), "".join(marks)


def cells(text: str) -> int:
    """The terminal cells `text` takes: East Asian wide characters two, combining marks none."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


class ProgressBar:
    """A line on stderr (a terminal only) saying how far the scoring got."""

    WIDTH = 30

    def __init__(self) -> None:
        self.shown = -1

    def __call__(self, fraction: float) -> None:
        percent = int(fraction * 100)
        if percent != self.shown:
            self.shown = percent
            filled = int(fraction * self.WIDTH)
            bar = "█" * filled + "·" * (self.WIDTH - filled)
            sys.stderr.write(f"\reval {bar} {percent:3d}%")
            sys.stderr.flush()

    def clear(self) -> None:
        if self.shown >= 0:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
