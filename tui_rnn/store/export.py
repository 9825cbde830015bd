"""Exporting a run's loss history (CSV, JSON) and samples (samples.txt's text, or JSON).

The writers take plain arrays, so the app can export straight from an in-memory Trainer and the
CLI from a checkpoint:

    CSV   iteration,epoch,loss,smooth_loss,val_loss,chars_seen,seconds
          one row per update, a header, nothing else
    JSON  {"fields": [...], "rows": N, "config": {config.json},
           "history": {"iteration": [...], "epoch": [...], "loss": [...], ...}}
    samples: samples.txt's records as they are, or as JSON
          {"samples": [{"iteration", "smooth_loss", "best", "by_hand", "text"}, ...]}

val_loss is the validation loss (nats per character) on the rows of the updates after which it
was measured, empty (CSV) or null (JSON) elsewhere; chars_seen counts the training characters
read so far (updates x streams x seq_length: the axis on which runs of different batch sizes
compare), seconds the training time so far. Losses are written in the shortest decimal form
that reads back as the same float, so an export holds exactly what the run holds. Every file
is written atomically (a temporary file in the same directory, renamed into place), so a reader
never sees half an export.
"""

from __future__ import annotations

import dataclasses
import io
import json
import sys
from pathlib import Path

import numpy as np

from tui_rnn.safe import files
from tui_rnn.safe import text as safe_text
from tui_rnn.store import checkpoint, rundir
from tui_rnn.store import config as store_config
from tui_rnn.store import samples as store_samples

FORMATS = ("csv", "json")
FIELDS = ("iteration", "epoch", "loss", "smooth_loss", "val_loss", "chars_seen", "seconds")
_ROWS_PER_CHUNK = 1 << 16  # format this many rows at a time: memory stays flat for long runs


def history_columns(
    loss,
    smooth_loss,
    epoch_starts,
    val_iterations=(),
    val_loss=(),
    seconds=None,
    chars_per_update: int = 0,
) -> dict[str, np.ndarray]:
    """The columns of an export. Row i is update number i + 1.

    `epoch_starts[e - 1]` is the number of updates done before epoch e began (LossHistory's);
    `val_iterations[k]` the update after which `val_loss[k]` was measured (0: before any).
    """
    loss = np.asarray(loss, dtype=np.float32)
    smooth_loss = np.asarray(smooth_loss, dtype=np.float32)
    if loss.shape != smooth_loss.shape or loss.ndim != 1:
        raise ValueError("loss and smooth_loss must be 1-D arrays of the same length")
    rows = np.arange(loss.size, dtype=np.int64)
    epoch_starts = np.asarray(epoch_starts, dtype=np.int64)
    val = np.full(loss.size, np.nan)
    measured = np.asarray(val_iterations, dtype=np.int64)
    after_updates = measured > 0  # a loss measured before any update has no row
    val[measured[after_updates] - 1] = np.asarray(val_loss, dtype=np.float64)[after_updates]
    seconds = np.zeros(loss.size, np.float32) if seconds is None else np.asarray(seconds)
    return {
        "iteration": rows + 1,
        "epoch": np.searchsorted(epoch_starts, rows, side="right").astype(np.int64),
        "loss": loss,
        "smooth_loss": smooth_loss,
        "val_loss": val,
        "chars_seen": (rows + 1) * int(chars_per_update),
        "seconds": seconds.astype(np.float32),
    }


def _decimal(values: np.ndarray) -> np.ndarray:
    """Shortest round-tripping decimal strings (numpy's float repr, integers as is); NaN (a
    value not measured) as an empty string."""
    text = values.astype(str)
    if values.dtype.kind == "f":
        text = np.where(np.isnan(values), "", text)
    return text


def _chunks(columns: dict[str, np.ndarray]):
    n = columns["iteration"].size
    for start in range(0, n, _ROWS_PER_CHUNK):
        stop = min(n, start + _ROWS_PER_CHUNK)
        yield [_decimal(columns[name][start:stop]) for name in FIELDS]


def write_csv(f, columns: dict[str, np.ndarray]) -> None:
    """Write the CSV text (header + one row per update) to binary file `f` (a missing value,
    such as val_loss where none was measured, is an empty field)."""
    f.write((",".join(FIELDS) + "\n").encode("ascii"))
    for chunk in _chunks(columns):
        lines = (",".join(row) + "\n" for row in zip(*chunk, strict=True))
        f.write("".join(lines).encode("ascii"))


def _column_text(values: np.ndarray):
    """JSON numbers; NaN and infinities (which JSON lacks) as null."""
    for start in range(0, values.size, _ROWS_PER_CHUNK):
        chunk = values[start : start + _ROWS_PER_CHUNK]
        text = _decimal(chunk)
        if chunk.dtype.kind == "f":
            text = np.where(np.isfinite(chunk), text, "null")  # JSON has no NaN
        yield ",".join(text)


def write_json(f, columns: dict[str, np.ndarray], config: dict | None) -> None:
    """Write the JSON document to binary file `f`, the columns as arrays of numbers."""
    n = columns["iteration"].size
    config_text = store_config.json_text(config)
    config_text = config_text.replace("\n", "\n  ")
    f.write(f'{{\n  "fields": {json.dumps(list(FIELDS))},\n  "rows": {n},\n'.encode())
    f.write(f'  "config": {config_text},\n  "history": {{'.encode())
    for k, name in enumerate(FIELDS):
        f.write(f'{"," if k else ""}\n    "{name}": ['.encode("ascii"))
        f.write(",".join(_column_text(columns[name])).encode("ascii"))
        f.write(b"]")
    f.write(b"\n  }\n}\n")


def write_output(path: str | Path, write) -> Path | None:
    """Write atomically to `path`, or to stdout when path is "-"; RunError if that fails.

    On a terminal, stdout shows the text through safe.text (a corpus's escape sequences are
    shown, not obeyed); into a pipe or a file it gets the exact bytes.
    """
    if str(path) == "-":
        buffer = io.BytesIO()
        write(buffer)
        data = buffer.getvalue()
        if safe_text.isatty(sys.stdout):
            files.write_output(sys.stdout, safe_text.terminal(data.decode("utf-8", "replace")))
        else:
            files.write_output(sys.stdout, "")  # what was printed before comes first
            files.write_output(sys.stdout.buffer, data)
        return None
    if not str(path):
        raise files.RunError("--output needs a file path (or - for stdout), got an empty one")
    try:
        return files.atomic_write(path, write)
    except files.RunError as err:
        raise type(err)(f"cannot write {err.path}: {err.reason}; choose another --output") from None


def history_arrays(source, chars_per_update: int = 0) -> dict:
    """The history of a Trainer (a consistent copy, safe while another thread trains) or of
    checkpoint arrays, as history_columns' keyword arguments."""
    history = getattr(source, "history", None)
    if history is not None:  # a Trainer
        loss, smooth = history.snapshot()
        size = len(loss)
        return {
            "loss": loss,
            "smooth_loss": smooth,
            "epoch_starts": np.array(history.epoch_starts, dtype=np.int64),
            "val_iterations": np.array(history.val_iterations),
            "val_loss": np.array(history.val_loss),
            "seconds": history.seconds[:size].copy(),
            "chars_per_update": source.chars_per_update,
        }
    return {
        "loss": source["loss_history"],
        "smooth_loss": source["smooth_loss_history"],
        "epoch_starts": source["epoch_starts"],
        "val_iterations": source.get("val_iterations", ()),
        "val_loss": source.get("val_loss_history", ()),
        "seconds": source.get("seconds_history"),
        "chars_per_update": chars_per_update,
    }


def format_for(output, fmt: str | None, samples: bool = False) -> str:
    """The export format: `fmt` if given, else the output's extension (.csv, .json), else csv;
    of the samples, txt or json. A contradiction (--format csv --output x.json) is refused in
    one line."""
    suffix = Path(str(output)).suffix.lower().lstrip(".") if output not in (None, "-") else ""
    if samples:  # samples.txt's text, or JSON; never CSV
        if fmt == "csv":
            raise files.RunError(
                "--samples exports text (the default) or --format json, not csv: drop --format"
            )
        return "json" if fmt == "json" or (fmt is None and suffix == "json") else "txt"
    if fmt is None:
        return suffix if suffix in FORMATS else "csv"
    if suffix in FORMATS and suffix != fmt:
        raise files.RunError(
            f"--format {fmt} contradicts --output {output} (a .{suffix} file): drop --format, "
            f"or name the file .{fmt}"
        )
    return fmt


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
    arrays = source if isinstance(source, dict) and "loss" in source else history_arrays(source)
    columns = history_columns(**arrays)
    if fmt == "csv":
        return write_output(path, lambda f: write_csv(f, columns))
    return write_output(path, lambda f: write_json(f, columns, config))


def export_trainer(run_dir: str | Path, trainer, formats=FORMATS) -> list[Path]:
    """Export an in-memory trainer's history into its run directory (the app's `e` key)."""
    try:
        config = store_config.read_config(run_dir)
    except files.RunError:
        config = None
    arrays = history_arrays(trainer)  # one snapshot for every format
    return [
        export_history(arrays, default_output(run_dir, fmt), fmt, config=config) for fmt in formats
    ]


def export_samples(text: str, path: str | Path, fmt: str = "txt"):
    """Write samples text (samples.txt's format) to `path` ("-" for stdout): as it is, or
    as JSON, {"samples": [{"iteration", "smooth_loss", "best", "by_hand", "text"}, ...]}."""
    if fmt == "json":
        records = [dataclasses.asdict(sample) for sample in store_samples.parse_samples(text)]
        text = store_config.json_text({"samples": records}) + "\n"
    return write_output(path, lambda f: f.write(text.encode("utf-8")))


def default_output(run_dir: str | Path, fmt: str = "csv", samples: bool = False) -> Path:
    """RUN_DIR/loss_history.csv, RUN_DIR/loss_history.json or RUN_DIR/samples_export.txt
    (.json)."""
    run_dir = Path(run_dir)
    return run_dir / (f"samples_export.{fmt}" if samples else f"loss_history.{fmt}")


_RUN_FILES = (
    rundir.CONFIG_FILE,
    rundir.CHECKPOINT_FILE,
    rundir.PREVIOUS_CHECKPOINT_FILE,
    rundir.SAMPLES_FILE,
    rundir.LOCK_FILE,
    rundir.LIVE_FILE,
)


def refuse_run_files(run_dir: str | Path, output) -> None:
    """An export must never replace the run it reads (e.g. --output RUN_DIR/config.json)."""
    if str(output) == "-":
        return
    target = Path(output).resolve()
    for name in _RUN_FILES:
        if target == (Path(run_dir) / name).resolve():
            raise files.RunError(
                f"--output {output} is the run's own {name}: writing it would damage the run; "
                "choose another --output"
            )


def export_run(
    run_dir: str | Path,
    fmt: str | None = None,
    output: str | Path | None = None,
    samples: bool = False,
    warn=None,
):
    """Export a saved run from its newest good checkpoint; returns (path or None, row count).

    Reads only: a run that is still training is not disturbed, and what is exported is one
    consistent checkpoint (the samples are those that checkpoint accounts for). `warn(message)`
    hears why the newest checkpoint was skipped, if it was, and of a samples.txt shorter
    than that checkpoint accounts for.
    """
    document = store_config.read_config(run_dir)
    fmt = format_for(output, fmt, samples)
    arrays = checkpoint.load_checkpoint(run_dir, warn, document)
    output = default_output(run_dir, fmt, samples) if output is None else output
    refuse_run_files(run_dir, output)
    if samples:
        upto = int(arrays["samples_bytes"]) if "samples_bytes" in arrays else None
        text, problem = store_samples.read_checked_samples(run_dir, upto)
        if problem and warn is not None:
            warn(f"{problem}: only those are exported")
        return export_samples(text, output, fmt), len(store_samples.parse_samples(text))
    config = document["config"]
    chars_per_update = config.get("batch_size", 1) * config["seq_length"]
    path = export_history(history_arrays(arrays, chars_per_update), output, fmt, config=document)
    return path, len(arrays["loss_history"])
