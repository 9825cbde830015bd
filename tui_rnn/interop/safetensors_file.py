"""safetensors files: written with the `safetensors` package, read here, strictly.

The format: an 8-byte little-endian header length N, N bytes of JSON (name -> {dtype, shape,
data_offsets}, and "__metadata__": string -> string), then the tensors' bytes. Reading checks,
before anything is allocated from the file, that N fits the file and HEADER_LIMIT, that the
header is an object of well-formed entries, that every tensor's offsets hold exactly its
shape's bytes and that the tensors tile the data without gaps or overlaps; then the caller sees
every shape and the metadata (`peek`) before asking for the bytes (`read_tensors`). A file that
fails any check is refused in one line (ModelFileError).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import save as safetensors_bytes

from tui_rnn.interop.errors import ModelFileError
from tui_rnn.safe import files

HEADER_LIMIT = 100_000_000  # the safetensors package's own limit on the JSON header
DTYPES: dict[str, np.dtype] = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
_NAMES = {"float32": "F32", "float64": "F64"}


@dataclass(frozen=True)
class TensorEntry:
    dtype: np.dtype
    shape: tuple[int, ...]
    begin: int  # offsets into the data section
    end: int


@dataclass(frozen=True)
class Header:
    """What a safetensors file holds, from its header alone."""

    path: Path
    tensors: dict[str, TensorEntry]
    metadata: dict[str, str]
    data_start: int  # 8 + N

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: entry.shape for name, entry in self.tensors.items()}

    @property
    def dtype(self) -> str:
        """float64 if any tensor is, else float32."""
        kinds = {entry.dtype.itemsize for entry in self.tensors.values()}
        return "float64" if 8 in kinds else "float32"


def encode(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """The bytes of a safetensors file (little-endian, as the format says)."""
    for name, value in tensors.items():
        if value.dtype.name not in _NAMES:
            raise ValueError(f"{name} is {value.dtype}: only float32 and float64 are written")
    return safetensors_bytes(
        {name: np.ascontiguousarray(value) for name, value in tensors.items()}, metadata
    )


def _refuse(path, what: str) -> ModelFileError:
    return ModelFileError(f"{path} is not a safetensors file tui-rnn can read: {what}")


def _open(path: Path) -> int:
    """A descriptor of the file (links followed: it is the user's file, not a run's), never a
    pipe or a device."""
    try:
        return files.open_regular(path, follow_symlinks=True)
    except FileNotFoundError:
        raise ModelFileError(f"{path} does not exist: check the path") from None
    except OSError as err:
        raise ModelFileError(f"cannot read {path}: {files.describe(err)}") from None


def _read_exactly(fd: int, size: int, path) -> bytes:
    chunks, total = [], 0
    while total < size:
        chunk = os.read(fd, min(1 << 24, size - total))
        if not chunk:
            raise _refuse(path, "it ended early (truncated)")
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _entry(name: str, raw, data_size: int, path) -> TensorEntry:
    if not isinstance(raw, dict) or set(raw) != {"dtype", "shape", "data_offsets"}:
        raise _refuse(path, f"tensor {name!r} is not described by dtype, shape and data_offsets")
    dtype, shape, offsets = raw["dtype"], raw["shape"], raw["data_offsets"]
    if dtype not in DTYPES:
        shown = dtype if isinstance(dtype, str) and len(dtype) < 16 else "unknown"
        raise ModelFileError(
            f"tensor {name!r} in {path} is {shown}: tui-rnn reads F32 and F64 tensors (convert "
            "the model with .float() or .double() before saving it)"
        )

    def whole(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    if not isinstance(shape, list) or len(shape) > 8 or not all(whole(n) for n in shape):
        raise _refuse(path, f"tensor {name!r} has a malformed shape")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(whole(n) for n in offsets)):
        raise _refuse(path, f"tensor {name!r} has malformed data_offsets")
    begin, end = offsets
    nbytes = math.prod(shape) * DTYPES[dtype].itemsize
    if not begin <= end <= data_size or end - begin != nbytes:
        raise _refuse(
            path, f"tensor {name!r} claims bytes {begin}..{end} of {data_size} for {nbytes} bytes"
        )
    return TensorEntry(DTYPES[dtype], tuple(shape), begin, end)


def peek(path: str | Path) -> Header:
    """The header of a safetensors file, checked (see the module docstring); no tensor bytes
    are read."""
    path = Path(path)
    fd = _open(path)
    try:
        size = os.fstat(fd).st_size
        if size < 8:
            raise _refuse(path, f"it has {size} bytes, fewer than the 8 of the header's length")
        length = int.from_bytes(_read_exactly(fd, 8, path), "little")
        if length > HEADER_LIMIT or 8 + length > size:
            raise _refuse(
                path,
                f"its header claims {length:,} bytes (the file has {size:,}; at most "
                f"{HEADER_LIMIT:,} are allowed)",
            )
        raw = _read_exactly(fd, length, path)
    finally:
        os.close(fd)
    try:
        document = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise _refuse(path, "its header is not JSON") from None
    if not isinstance(document, dict):
        raise _refuse(path, "its header is not a JSON object")
    metadata = document.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise _refuse(path, "its __metadata__ is not an object of strings")
    data_size = size - 8 - length
    tensors = {name: _entry(name, entry, data_size, path) for name, entry in document.items()}
    covered = 0
    for entry in sorted(tensors.values(), key=lambda e: (e.begin, e.end)):
        if entry.begin != covered:
            raise _refuse(path, "its tensors overlap or leave gaps in the data")
        covered = entry.end
    if covered != data_size:
        raise _refuse(path, f"its tensors cover {covered:,} of its {data_size:,} data bytes")
    return Header(path, tensors, metadata, 8 + length)


def read_tensors(
    header: Header, wanted: Callable[[str], bool] = lambda name: True
) -> dict[str, np.ndarray]:
    """The tensors `peek` described (native byte order), read from the file again: it must
    still be the same size."""
    fd = _open(header.path)
    tensors = {}
    try:
        size = os.fstat(fd).st_size
        last = max((e.end for e in header.tensors.values()), default=0)
        if size != header.data_start + last:
            raise ModelFileError(f"{header.path} changed while it was read: try again")
        for name, entry in header.tensors.items():
            if not wanted(name):
                continue
            os.lseek(fd, header.data_start + entry.begin, os.SEEK_SET)
            raw = _read_exactly(fd, entry.end - entry.begin, header.path)
            values = np.frombuffer(raw, dtype=entry.dtype).reshape(entry.shape)
            tensors[name] = values.astype(entry.dtype.newbyteorder("="), copy=True)
    finally:
        os.close(fd)
    return tensors
