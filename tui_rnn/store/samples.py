"""samples.txt: every sample of a run, appended as it comes, each under a header line.

Each sample is one fsynced append, so a kill leaves at worst a torn last record; a checkpoint
records how much of the file its state accounts for, and a resumed run cuts the file back to
that and writes the rest again, identically. A file shorter than its checkpoint says (a bad
copy, an editor) is noticed wherever it is read: its last record may be cut anywhere, so only
the records before it count. Read back, it is text to show and export: nothing a run
continues from.
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
_SAMPLE_HEADER_BYTES = re.compile(_SAMPLE_HEADER.pattern.encode("ascii"), re.MULTILINE)


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
    return read_checked_samples(run_dir, upto)[0]


def read_checked_samples(run_dir: str | Path, upto: int | None = None) -> tuple[str, str | None]:
    """(text, problem): samples.txt's first `upto` bytes (a checkpoint's samples_bytes) as
    text, and None; or, when the file is shorter than that (cut or edited since), only its
    whole records and what is wrong, in words (see `shortfall`)."""
    raw, problem = _read_checked(Path(run_dir) / SAMPLES_FILE, upto)
    return raw.decode("utf-8", errors="replace"), problem


def _read_checked(path: Path, upto: int | None) -> tuple[bytes, str | None]:
    try:
        with files.open_read(path) as f:
            size = os.fstat(f.fileno()).st_size
            raw = f.read(size if upto is None else min(upto, size))
    except MissingRunFile:
        size, raw = 0, b""
    except OSError as err:
        raise RunError(f"cannot read {path}: {files.describe(err)}") from None
    if upto is None or size >= upto:
        return raw, None
    intact = intact_length(raw)
    return raw[:intact], shortfall(path, size, upto, intact)


def intact_length(raw: bytes) -> int:
    """The bytes of a cut samples.txt that hold whole records: up to its last header (the
    record under it may end anywhere, even just after a blank line of its text)."""
    headers = list(_SAMPLE_HEADER_BYTES.finditer(raw))
    return headers[-1].start() if headers else 0


def shortfall(path: Path, size: int, upto: int, intact: int) -> str:
    """What is wrong with a samples.txt of `size` bytes whose checkpoint accounts for `upto`."""
    kept = f"the records in its first {intact:,} bytes are whole" if intact else "none is whole"
    return (
        f"{path} is {size:,} bytes, shorter than the {upto:,} its checkpoint accounts for (cut "
        f"or edited since): its last record may be damaged; {kept}"
    )


def repair_samples(run_dir: str | Path, upto: int) -> str | None:
    """Before a resumed run appends to samples.txt: cut the file to `upto` bytes (what its
    checkpoint accounts for), or, when it is shorter than that, back to its whole records, so
    that the next record starts on a line of its own. What was wrong, in words, or None."""
    path = Path(run_dir) / SAMPLES_FILE
    if (files.file_size(path) or 0) >= upto:  # the usual case: nothing to read
        truncate_samples(run_dir, upto)
        return None
    raw, problem = _read_checked(path, upto)
    truncate_samples(run_dir, len(raw))
    return f"{problem}: they are kept, the rest is dropped"


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


def read_samples(
    run_dir: str | Path,
    limit: int | None = 200,
    tail_bytes: int = 1 << 20,
    upto: int | None = None,
):
    """The last `limit` samples of a run, parsed from (the tail of) samples.txt, or of its
    first `upto` bytes."""
    path = Path(run_dir) / SAMPLES_FILE
    try:
        with files.open_read(path) as f:
            size = f.seek(0, os.SEEK_END)
            if upto is not None:
                size = min(size, upto)
            start = max(0, size - tail_bytes)
            f.seek(start)
            raw = f.read(size - start)
    except MissingRunFile:
        return []
    except OSError as err:
        raise RunError(f"cannot read {path}: {files.describe(err)}") from None
    samples = parse_samples(raw.decode("utf-8", errors="replace"))
    return samples if limit is None else samples[-limit:]
