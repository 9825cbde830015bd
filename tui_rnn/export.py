"""Exporting a run's loss history (CSV, JSON) and samples (text).

The writers take plain arrays, so the app can export straight from an in-memory Trainer and the
CLI from a checkpoint:

    CSV   iteration,epoch,loss,smooth_loss          one row per update, a header, nothing else
    JSON  {"fields": [...], "rows": N, "config": {config.json},
           "history": {"iteration": [...], "epoch": [...], "loss": [...], "smooth_loss": [...]}}

Losses are written in the shortest decimal form that reads back as the same float32, so an
export holds exactly what the run holds. Every file is written atomically (a temporary file in
the same directory, renamed into place), so a reader never sees half an export.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np

from . import runs, safeio, safetext

FORMATS = ("csv", "json")
FIELDS = ("iteration", "epoch", "loss", "smooth_loss")
_ROWS_PER_CHUNK = 1 << 16  # format this many rows at a time: memory stays flat for long runs


def history_columns(loss, smooth_loss, epoch_starts) -> dict[str, np.ndarray]:
    """The four columns of an export. Row i is update number i + 1.

    `epoch_starts[e - 1]` is the number of updates done before epoch e began (LossHistory's).
    """
    loss = np.asarray(loss, dtype=np.float32)
    smooth_loss = np.asarray(smooth_loss, dtype=np.float32)
    if loss.shape != smooth_loss.shape or loss.ndim != 1:
        raise ValueError("loss and smooth_loss must be 1-D arrays of the same length")
    rows = np.arange(loss.size, dtype=np.int64)
    epoch_starts = np.asarray(epoch_starts, dtype=np.int64)
    return {
        "iteration": rows + 1,
        "epoch": np.searchsorted(epoch_starts, rows, side="right").astype(np.int64),
        "loss": loss,
        "smooth_loss": smooth_loss,
    }


def _decimal(values: np.ndarray) -> np.ndarray:
    """Shortest round-tripping decimal strings (numpy's float32 repr, integers as is)."""
    return values.astype(str)


def _chunks(columns: dict[str, np.ndarray]):
    n = columns["iteration"].size
    for start in range(0, n, _ROWS_PER_CHUNK):
        stop = min(n, start + _ROWS_PER_CHUNK)
        yield [_decimal(columns[name][start:stop]) for name in FIELDS]


def write_csv(f, columns: dict[str, np.ndarray]) -> None:
    """Write the CSV text (header + one row per update) to binary file `f`."""
    f.write((",".join(FIELDS) + "\n").encode("ascii"))
    for chunk in _chunks(columns):
        lines = (f"{i},{e},{l},{s}\n" for i, e, l, s in zip(*chunk, strict=True))
        f.write("".join(lines).encode("ascii"))


def _column_text(values: np.ndarray):
    """JSON numbers; NaN and infinities (which JSON lacks) as null."""
    for start in range(0, values.size, _ROWS_PER_CHUNK):
        chunk = values[start : start + _ROWS_PER_CHUNK]
        text = _decimal(chunk)
        if chunk.dtype.kind == "f":
            text = np.where(np.isfinite(chunk), text, "null")
        yield ",".join(text)


def write_json(f, columns: dict[str, np.ndarray], config: dict | None) -> None:
    """Write the JSON document to binary file `f`, the columns as arrays of numbers."""
    n = columns["iteration"].size
    config_text = json.dumps(config, indent=2, ensure_ascii=False, allow_nan=False)
    config_text = config_text.replace("\n", "\n  ")
    f.write(f'{{\n  "fields": {json.dumps(list(FIELDS))},\n  "rows": {n},\n'.encode())
    f.write(f'  "config": {config_text},\n  "history": {{'.encode())
    for k, name in enumerate(FIELDS):
        f.write(f'{"," if k else ""}\n    "{name}": ['.encode("ascii"))
        f.write(",".join(_column_text(columns[name])).encode("ascii"))
        f.write(b"]")
    f.write(b"\n  }\n}\n")


def _write_output(path: str | Path, write) -> Path | None:
    """Write atomically to `path`, or to stdout when path is "-"; RunError if that fails.

    On a terminal, stdout shows the text through safetext (a corpus's escape sequences are
    shown, not obeyed); into a pipe or a file it gets the exact bytes.
    """
    if str(path) == "-":
        buffer = io.BytesIO()
        write(buffer)
        data = buffer.getvalue()
        if safetext.isatty(sys.stdout):
            safeio.write_output(sys.stdout, safetext.terminal(data.decode("utf-8", "replace")))
        else:
            safeio.write_output(sys.stdout, "")  # what was printed before comes first
            safeio.write_output(sys.stdout.buffer, data)
        return None
    if not str(path):
        raise runs.RunError("--output needs a file path (or - for stdout), got an empty one")
    try:
        return safeio.atomic_write(path, write)
    except runs.RunError as err:
        raise type(err)(f"cannot write {err.path}: {err.reason}; choose another --output") from None


def history_arrays(source) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(loss, smooth_loss, epoch_starts) from a Trainer, a LossHistory, checkpoint arrays
    (a mapping with loss_history / smooth_loss_history / epoch_starts) or such a triple."""
    history = getattr(source, "history", source)  # a Trainer holds a LossHistory
    if hasattr(history, "snapshot"):  # copies, safe while another thread trains
        loss, smooth = history.snapshot()
        return loss, smooth, np.array(history.epoch_starts, dtype=np.int64)
    if isinstance(source, dict):
        return source["loss_history"], source["smooth_loss_history"], source["epoch_starts"]
    loss, smooth, epoch_starts = source
    return loss, smooth, epoch_starts


def export_history(source, path, fmt: str = "csv", config: dict | None = None):
    """Write the loss history of `source` (see history_arrays) to `path` ("-" for stdout).

    fmt is "csv" or "json"; `config` (the run's config.json document) goes into the JSON.
    Returns the path written (None for stdout). Raises RunWriteError if the path is unwritable.

    Also callable as export_history(run_dir, trainer): both formats at their default paths in
    the run directory, the JSON with the run's config.json; returns [csv_path, json_path].
    """
    if isinstance(source, str | Path) and hasattr(path, "history"):
        return export_trainer(source, path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    columns = history_columns(*history_arrays(source))
    if fmt == "csv":
        return _write_output(path, lambda f: write_csv(f, columns))
    return _write_output(path, lambda f: write_json(f, columns, config))


def export_trainer(run_dir: str | Path, trainer, formats=FORMATS) -> list[Path]:
    """Export an in-memory trainer's history into its run directory (the app's `e` key)."""
    try:
        config = runs.read_config(run_dir)
    except runs.RunError:
        config = None
    arrays = history_arrays(trainer)  # one snapshot for every format
    return [
        export_history(arrays, default_output(run_dir, fmt), fmt, config=config) for fmt in formats
    ]


def export_samples(text: str, path: str | Path):
    """Write samples text (samples.txt's format) to `path` ("-" for stdout)."""
    return _write_output(path, lambda f: f.write(text.encode("utf-8")))


def default_output(run_dir: str | Path, fmt: str = "csv", samples: bool = False) -> Path:
    """RUN_DIR/loss_history.csv, RUN_DIR/loss_history.json or RUN_DIR/samples_export.txt."""
    run_dir = Path(run_dir)
    return run_dir / ("samples_export.txt" if samples else f"loss_history.{fmt}")


_RUN_FILES = (
    runs.CONFIG_FILE,
    runs.CHECKPOINT_FILE,
    runs.PREVIOUS_CHECKPOINT_FILE,
    runs.SAMPLES_FILE,
    runs.LOCK_FILE,
)


def _refuse_run_files(run_dir: str | Path, output) -> None:
    """An export must never replace the run it reads (e.g. --output RUN_DIR/config.json)."""
    if str(output) == "-":
        return
    target = Path(output).resolve()
    for name in _RUN_FILES:
        if target == (Path(run_dir) / name).resolve():
            raise runs.RunError(
                f"--output {output} is the run's own {name}: writing it would damage the run; "
                "choose another --output"
            )


def export_run(
    run_dir: str | Path,
    fmt: str = "csv",
    output: str | Path | None = None,
    samples: bool = False,
    warn=None,
):
    """Export a saved run from its newest good checkpoint; returns (path or None, row count).

    Reads only: a run that is still training is not disturbed, and what is exported is one
    consistent checkpoint (the samples are those that checkpoint accounts for). `warn(message)`
    hears why the newest checkpoint was skipped, if it was.
    """
    document = runs.read_config(run_dir)
    arrays = runs.load_checkpoint(run_dir, warn, document)
    output = default_output(run_dir, fmt, samples) if output is None else output
    _refuse_run_files(run_dir, output)
    if samples:
        upto = int(arrays["samples_bytes"]) if "samples_bytes" in arrays else None
        text = runs.read_samples_text(run_dir, upto)
        return export_samples(text, output), len(runs.parse_samples(text))
    path = export_history(arrays, output, fmt, config=document)
    return path, len(arrays["loss_history"])
