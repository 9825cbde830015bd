"""`tui-rnn export-model`: a run's model (best or latest) as a safetensors file in PyTorch's
layout, an ONNX graph or a web page, the format from the output's extension or given.

The run is only read; the file is written atomically, never over one of the run's own files.
The safetensors metadata (all strings) says what the tensors are: `vocabulary` (a JSON list of
one-character strings in index order), `cell`, `layers`, `hidden_size`, `dtype` and
`tui_rnn_version`; the ONNX graph carries the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tui_rnn import __version__
from tui_rnn.cells.model import Model
from tui_rnn.interop import onnx_graph, pytorch_layout, safetensors_file, web_page
from tui_rnn.interop.errors import ModelFileError
from tui_rnn.safe import files
from tui_rnn.store import checkpoint, export

FORMATS = ("safetensors", "onnx", "html")
SUFFIXES = {".safetensors": "safetensors", ".onnx": "onnx", ".html": "html", ".htm": "html"}
CHECKPOINTS = ("best", "latest")


def format_for(output: str | Path, fmt: str | None) -> str:
    """--format if given (and not contradicted by the extension), else the extension's."""
    suffix = Path(str(output)).suffix.lower()
    implied = SUFFIXES.get(suffix)
    if fmt is None:
        if implied is None:
            raise ModelFileError(
                f"cannot tell the format of {output} from its extension: name it .safetensors, "
                ".onnx or .html, or give --format"
            )
        return implied
    if fmt not in FORMATS:
        raise ModelFileError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if implied is not None and implied != fmt:
        raise ModelFileError(
            f"--format {fmt} contradicts {output} (a {suffix} file): drop --format, or name the "
            f"file for {fmt}"
        )
    return fmt


def metadata(model: Model, chars) -> dict[str, str]:
    spec = model.spec
    return {
        "vocabulary": json.dumps(list(chars), ensure_ascii=True),
        "cell": spec.cell,
        "layers": str(spec.layers),
        "hidden_size": str(spec.hidden_size),
        "dtype": spec.dtype,
        "tui_rnn_version": __version__,
    }


def encode(model: Model, chars, fmt: str, title: str = "", subtitle: str = "") -> bytes:
    """The bytes of the file in `fmt`."""
    if fmt == "safetensors":
        return safetensors_file.encode(pytorch_layout.to_pytorch(model), metadata(model, chars))
    if fmt == "onnx":
        return onnx_graph.encode(model, chars, metadata(model, chars))
    return web_page.encode(model, chars, title, subtitle)


@dataclass(frozen=True)
class Exported:
    path: Path
    format: str
    size: int  # bytes
    iteration: int  # of the model exported


def export_model(
    run_dir: str | Path,
    output: str | Path,
    fmt: str | None = None,
    which: str = "best",
    warn=None,
) -> Exported:
    """Write the run's `which` model ("best" or "latest") to `output`. Raises ModelFileError,
    RunError (one line each)."""
    if which not in CHECKPOINTS:
        raise ModelFileError(f"--checkpoint must be best or latest, got {which!r}")
    if not str(output) or str(output) == "-":
        raise ModelFileError(
            "export-model writes a file: give its path (.safetensors, .onnx, .html)"
        )
    fmt = format_for(output, fmt)
    export.refuse_run_files(run_dir, output)
    best = which == "best"
    model, chars, document, iteration = checkpoint.load_model_at(run_dir, best, warn)
    spec = model.spec
    name = Path(run_dir).resolve().name or str(run_dir)
    subtitle = (
        f"{spec.cell}, {spec.layers} layer{'s' if spec.layers > 1 else ''} of {spec.hidden_size}, "
        f"{spec.vocab_size} characters; the {which} model, iteration {iteration:,}"
    )
    data = encode(model, chars, fmt, name, subtitle)
    try:
        path = files.atomic_write(output, lambda f: f.write(data))
    except files.RunError as err:
        raise type(err)(f"cannot write {err.path}: {err.reason}; choose another OUTPUT") from None
    return Exported(path, fmt, len(data), iteration)
