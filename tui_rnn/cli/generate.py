"""`tui-rnn generate`: text from a saved run's model, streamed to stdout (or written to a file).

Its options are the generation options' table (tui_rnn/training/generation.py), which the app's
generator pane reads its fields by too. Every option is checked, the prompt read and the model
loaded before the first character is written; `--output` is written atomically at the end, so
a refused or interrupted command leaves nothing behind.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from pathlib import Path

from tui_rnn.cli.common import (
    UsageError,
    json_line,
    named_run_dir,
    print_error,
    print_warning,
    use_best,
)
from tui_rnn.safe import files
from tui_rnn.safe import text as safe_text
from tui_rnn.store import checkpoint, export
from tui_rnn.training import generation, sampling
from tui_rnn.training.corpus import UnknownCharactersError

CHUNK = 256  # characters gathered before a write when no newline comes sooner
LN2 = math.log(2.0)


def cmd_generate(args: argparse.Namespace) -> int:
    """The prompt, then `length` characters that continue it (or N samples, or beam search)."""
    config = generation.resolve(vars(args))
    prompt = config.prompt
    if config.prompt_file is not None:
        prompt = generation.read_prompt_file(config.prompt_file)
    run_dir = named_run_dir(args.run_dir)
    to_file = config.output not in (None, "-")
    if to_file:
        export.refuse_run_files(run_dir, config.output)
        check_destination(str(config.output))
    best = use_best(config.best, args.checkpoint)
    model, chars, _, iteration = checkpoint.load_model_at(run_dir, best=best, warn=print_warning)
    try:
        prompt_ids = sampling.start_ids(prompt, chars)
    except UnknownCharactersError as err:
        raise UsageError(f"the prompt has {err}") from None
    for stop in config.stop:
        if not set(stop) <= set(chars):
            print_warning(
                f"--stop {stop!r} holds characters the model never writes: it cannot end a text"
            )
    if config.score:  # the prompt's first character is only read: nothing predicts it
        log_probability, predicted = sampling.score_ids(model, prompt_ids[: len(prompt)])
        say_score(f"prompt ({len(prompt):,} characters)", log_probability, predicted, "predicted")
    settings = {
        **config.settings(),
        "prompt": prompt,
        "run": str(run_dir),
        "model": "best" if best else "current",
        "iteration": iteration,
    }
    out = Writer(
        buffered=to_file, jsonl=to_file and Path(str(config.output)).suffix.lower() == ".jsonl"
    )
    count = 1 if config.beam is not None else config.num_samples
    for index, (seed, text) in enumerate(generation.texts(model, chars, prompt_ids, config)):
        if config.headers and not out.jsonl:
            out.write(f"## {generation.sample_header(index, count, seed)}\n")
        out.write(prompt)
        kept: list[str] = []
        total = 0.0
        for ch, log_p in text:
            out.write(ch)
            kept.append(ch)
            total += log_p
        out.end_text()
        if config.score:
            what = "text" if count == 1 else f"sample {index + 1}"
            say_score(what if seed is None else f"{what} (seed {seed})", total, len(kept))
        if out.jsonl:
            record: dict[str, object] = {"sample": index + 1, "seed": seed, "text": "".join(kept)}
            record.update(log_probability=total, characters=len(kept), settings=settings)
            out.record(record)
    if to_file:
        export.write_output(str(config.output), lambda f: f.write(out.getvalue().encode()))
    return 0


def check_destination(path: str) -> None:
    """Refuse, before anything is generated, an --output that could not be written."""
    parent = Path(path).parent
    if not parent.is_dir():
        raise UsageError(f"--output {path}: {parent} is not a directory; choose another --output")
    try:
        files.check_regular_or_missing(path)
    except files.RunError as err:
        raise UsageError(f"--output {path}: {err.reason}; choose another --output") from None


class Writer:
    """Where the texts go: stdout as they come (through safetext on a terminal, exact into a
    pipe), or a buffer for --output (the text as printed, or one JSON object per line)."""

    def __init__(self, buffered: bool, jsonl: bool):
        self.buffer = io.StringIO() if buffered else None
        self.jsonl = jsonl
        self.shown = not buffered and safe_text.isatty(sys.stdout)
        self.pending: list[str] = []

    def write(self, text: str) -> None:
        if self.jsonl or not text:
            return
        self.pending.append(text)
        if text.endswith("\n") or len(self.pending) >= CHUNK:
            self.flush()

    def end_text(self) -> None:
        self.write("\n")

    def record(self, document: dict) -> None:
        assert self.buffer is not None
        self.buffer.write(json_line(document))

    def flush(self) -> None:
        text, self.pending = "".join(self.pending), []
        if self.buffer is not None:
            self.buffer.write(text)
        else:
            files.write_output(sys.stdout, safe_text.terminal(text) if self.shown else text)

    def getvalue(self) -> str:
        self.flush()
        return self.buffer.getvalue() if self.buffer is not None else ""


def say_score(what: str, log_probability: float, characters: int, noun="characters") -> None:
    """One line on stderr: a text's log-probability (nats) and its bits per character."""
    if not characters:
        print_error(f"score: {what}: no character predicted")
        return
    bits = -log_probability / characters / LN2
    print_error(
        f"score: {what}: {characters:,} {noun}, log-probability {log_probability:.4f} nats, "
        f"{bits:.4f} bits/char"
    )
