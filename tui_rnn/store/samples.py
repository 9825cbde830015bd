"""samples.txt: every sample of a run, appended as it comes, each under a header line.

Each sample is one fsynced append, so a kill leaves at worst a torn last record; a checkpoint
records how much of the file its state accounts for, and a resumed run cuts the file back to
that and writes the rest again, identically. Read back, it is text to show and export:
nothing a run continues from.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tui_rnn.safe import files
from tui_rnn.safe.files import MissingRunFile, RunError, RunWriteError
from tui_rnn.store.rundir import SAMPLES_FILE
from tui_rnn.training.history import Sample

_SAMPLE_HEADER = re.compile(
    r"^(best model, |by hand, )?iter = (\d+), smooth_loss = (\S+)\n", re.MULTILINE
)


def format_sample(sample: Sample) -> str:
    """One record of samples.txt: the header line, the text, a blank line."""
    return f"{sample.header}\n{sample.text}\n\n"


def append_sample(run_dir: str | Path, sample: Sample) -> int:
    """Append one sample to samples.txt in a single write, fsynced; returns the file's new size.

    A kill in the middle leaves at worst a torn last record, which resume cuts off.
    """
    try:
        return files.append(Path(run_dir) / SAMPLES_FILE, format_sample(sample).encode("utf-8"))
    except RunWriteError as err:
        raise RunWriteError(
            f"cannot append to {err.path}: {err.reason}; the last checkpoint is intact: "
            f"{err.remedy}, then resume with --resume {run_dir}"
        ) from None


def truncate_samples(run_dir: str | Path, size: int) -> None:
    """Cut samples.txt back to `size` bytes: what the checkpoint being resumed accounts for."""
    files.truncate(Path(run_dir) / SAMPLES_FILE, size)


def read_samples_text(run_dir: str | Path, upto: int | None = None) -> str:
    """samples.txt as text, its first `upto` bytes if given (a checkpoint's samples_bytes)."""
    path = Path(run_dir) / SAMPLES_FILE
    try:
        with files.open_read(path) as f:
            size = os.fstat(f.fileno()).st_size
            raw = f.read(size if upto is None else min(upto, size))
    except MissingRunFile:
        return ""
    except OSError as err:
        raise RunError(f"cannot read {path}: {files.describe(err)}") from None
    return raw.decode("utf-8", errors="replace")


def parse_samples(text: str) -> list[Sample]:
    """Samples from samples.txt text (a generated line that looks exactly like a header would
    fool it; only the in-memory sample log is built from this, never the checkpoint)."""
    headers = list(_SAMPLE_HEADER.finditer(text))
    samples = []
    for i, match in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        body = text[match.end() : end]
        if not body.endswith("\n\n"):
            continue  # a torn last record
        try:
            smooth = float(match.group(3))
        except ValueError:
            continue
        kind = match.group(1)
        samples.append(
            Sample(
                int(match.group(2)),
                smooth,
                body[:-2],
                best=kind == "best model, ",
                by_hand=kind == "by hand, ",
            )
        )
    return samples


def read_samples(run_dir: str | Path, limit: int | None = 200, tail_bytes: int = 1 << 20):
    """The last `limit` samples of a run, parsed from (the tail of) samples.txt."""
    path = Path(run_dir) / SAMPLES_FILE
    try:
        with files.open_read(path) as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - tail_bytes))
            raw = f.read(tail_bytes)
    except MissingRunFile:
        return []
    except OSError as err:
        raise RunError(f"cannot read {path}: {files.describe(err)}") from None
    samples = parse_samples(raw.decode("utf-8", errors="replace"))
    return samples if limit is None else samples[-limit:]
