"""A strict reader for the .npz archives tui-rnn writes (np.savez: a zip of stored .npy files).

np.load trusts the file: a header length of 1 raises tokenize errors, a declared shape of
(10**12,) allocates terabytes, a deflated member inflates gigabytes before anything is checked.
This reader trusts nothing and allocates only what its caller allowed:

1. The archive must end with a zip end-of-central-directory record (np.savez writes no
   comment) listing at most MAX_MEMBERS members; zipfile then lists the members and their
   offsets (nothing is decompressed, ever).
2. Every member must be a stored (not compressed, not encrypted) file named NAME.npy whose
   bytes lie inside the archive, and whose local header agrees with the central directory.
3. A member's .npy header is parsed here by a small strict grammar (never ast, tokenize or
   eval): magic, version 1, 2 or 3, a header of at most MAX_HEADER_BYTES holding a dict of
   exactly 'descr', 'fortran_order' and 'shape'. Only plain numbers, booleans and fixed-width
   unicode strings are accepted (no objects, no structured dtypes).
4. The caller says, per member, which dtype kinds and which exact shape it accepts (`Expect`),
   and that is checked against the header BEFORE the member's data is read; then exactly its
   size is read, its CRC-32 checked, and the array copied out of the bytes.

Every failure raises NpzError with a one-line reason. Read the small members first (counters)
and bound the others by them:

    with open(path, "rb") as f:
        npz = NpzReader(f)
        counters = npz.read("scalars", Expect("iu", (5,)))
        history = npz.read("loss_history", Expect("f", (int(counters[1]),)))
"""

from __future__ import annotations

import math
import os
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Literal

import numpy as np

MAX_MEMBERS = 64  # np.savez of a checkpoint writes a dozen
MAX_HEADER_BYTES = 4096  # np.save writes about 128 bytes; numpy itself refuses more than 10,000
MAX_DIMENSIONS = 32
_MAX_CENTRAL_DIRECTORY = MAX_MEMBERS * (46 + 256 + 64)  # entry, name, extra fields
_END_RECORD = struct.Struct("<4s4H2LH")  # end of central directory, comment length last
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_NPY_MAGIC = b"\x93NUMPY"


class NpzError(ValueError):
    """The archive is not one tui-rnn wrote, or not what the caller expected: one line why."""


class NpzMismatch(NpzError):
    """A well-formed member whose dtype or shape is not what the caller expected."""


@dataclass(frozen=True)
class Expect:
    """What the caller accepts for one member: dtype kinds (numpy's one-letter codes: "f"
    float, "iu" integers, "b" bool, "c" complex, "U" unicode string), the exact shape, and for
    "U" the longest string in characters."""

    kinds: str
    shape: tuple[int, ...]
    max_chars: int = 0


@dataclass(frozen=True)
class Header:
    """A parsed .npy header and where the member's data lies in the archive."""

    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool
    data_offset: int  # of the array's bytes in the archive
    nbytes: int  # exactly prod(shape) * itemsize
    header_bytes: bytes  # the .npy magic, version, length and header (for the CRC)


# -- the .npy header: a small strict grammar ------------------------------------------------------
_TOKEN = re.compile(r" *(?:([{}():,])|'([A-Za-z0-9_<>|=]*)'|(True|False)|(\d{1,19}))")
_DESCR = re.compile(r"([<>|=])([biufcU])(\d{1,7})")
_ITEMSIZES = {"b": (1,), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "f": (2, 4, 8), "c": (8, 16)}


def _tokens(text: str):
    position, end = 0, len(text.rstrip(" "))
    while position < end:
        match = _TOKEN.match(text, position)
        if match is None or match.end() > end:
            raise NpzError(f"unexpected {text[position : position + 10]!r}")
        position = match.end()
        punctuation, string, boolean, integer = match.groups()
        if punctuation:
            yield "punct", punctuation
        elif string is not None:
            yield "str", string
        elif boolean:
            yield "bool", boolean == "True"
        else:
            yield "int", int(integer)
    yield "end", None


class _Parser:
    """dict := '{' [pair (',' pair)* [',']] '}'; pair := str ':' value;
    value := str | bool | '(' ')' | '(' int ',' ')' | '(' int (',' int)+ [','] ')'."""

    def __init__(self, text: str):
        self._tokens = _tokens(text)
        self._next = next(self._tokens)

    def _take(self, kind: str, value=None):
        token_kind, token_value = self._next
        if token_kind != kind or (value is not None and token_value != value):
            raise NpzError(f"expected {value or kind} in the .npy header, found {token_value!r}")
        self._next = next(self._tokens, ("end", None))
        return token_value

    def _at(self, kind: str, value=None) -> bool:
        return self._next[0] == kind and (value is None or self._next[1] == value)

    def parse(self) -> dict:
        items: dict = {}
        self._take("punct", "{")
        while not self._at("punct", "}"):
            key = self._take("str")
            if key in items:
                raise NpzError(f"the .npy header repeats {key!r}")
            self._take("punct", ":")
            items[key] = self._value()
            if not self._at("punct", "}"):
                self._take("punct", ",")
        self._take("punct", "}")
        self._take("end")
        return items

    def _value(self):
        if self._at("str") or self._at("bool"):
            return self._take(self._next[0])
        self._take("punct", "(")
        shape = []
        while not self._at("punct", ")"):
            shape.append(self._take("int"))
            if len(shape) > MAX_DIMENSIONS:
                raise NpzError("the .npy header has too many dimensions")
            if self._at("punct", ")") and len(shape) == 1:
                raise NpzError("a one-element shape needs its comma")
            if not self._at("punct", ")"):
                self._take("punct", ",")
        self._take("punct", ")")
        return tuple(shape)


def parse_dtype(descr: str) -> np.dtype:
    """A plain numeric, bool or fixed-width unicode dtype from its descr ('<f8', '|b1', '<U5')."""
    match = _DESCR.fullmatch(descr)
    if re.fullmatch(r"[<>|=]O\d*", descr):
        raise NpzError(
            f"dtype {descr!r} holds pickled Python objects, which tui-rnn never loads: it was "
            "not written by tui-rnn"
        )
    if match is None:
        raise NpzError(f"dtype {descr!r} is not a plain number or string type")
    order, kind, size = match.group(1), match.group(2), int(match.group(3))
    itemsize = 4 * size if kind == "U" else size
    if kind != "U" and size not in _ITEMSIZES[kind]:
        raise NpzError(f"dtype {descr!r} has an impossible size")
    if (order == "|") != (itemsize == 1):
        raise NpzError(f"dtype {descr!r} has an impossible byte order")
    return np.dtype(descr)


def parse_header(raw: bytes) -> tuple[np.dtype, tuple[int, ...], bool, int]:
    """(dtype, shape, fortran_order, header length) from the start of a .npy file."""
    if raw[:6] != _NPY_MAGIC:
        raise NpzError("not an .npy file (bad magic)")
    if len(raw) < 10:
        raise NpzError("a truncated .npy header")
    major, minor = raw[6], raw[7]
    if major not in (1, 2, 3) or minor != 0:
        raise NpzError(f".npy format version {major}.{minor} is not one numpy writes")
    if major == 1:
        (length,), start = struct.unpack("<H", raw[8:10]), 10
    else:
        if len(raw) < 12:
            raise NpzError("a truncated .npy header")
        (length,), start = struct.unpack("<I", raw[8:12]), 12
    if length > MAX_HEADER_BYTES:
        raise NpzError(f"an .npy header of {length:,} bytes (at most {MAX_HEADER_BYTES:,})")
    text_bytes = raw[start : start + length]
    if len(text_bytes) < length:
        raise NpzError("a truncated .npy header")
    if not text_bytes.endswith(b"\n"):
        raise NpzError("the .npy header does not end with a newline")
    try:
        text = text_bytes[:-1].decode("ascii")
    except UnicodeDecodeError:
        raise NpzError("the .npy header is not ASCII") from None
    items = _Parser(text).parse()
    if set(items) != {"descr", "fortran_order", "shape"}:
        raise NpzError(f"the .npy header has keys {sorted(items)}")
    descr, fortran_order, shape = items["descr"], items["fortran_order"], items["shape"]
    if not isinstance(descr, str) or not isinstance(fortran_order, bool):
        raise NpzError("the .npy header's descr or fortran_order has the wrong type")
    if not isinstance(shape, tuple):
        raise NpzError("the .npy header's shape is not a tuple")
    return parse_dtype(descr), shape, fortran_order, start + length


# -- the archive ----------------------------------------------------------------------------------
class NpzReader:
    """The members of an .npz archive in the seekable binary file `f`, read one at a time."""

    def __init__(self, f: BinaryIO):
        self._f = f
        self._size = f.seek(0, os.SEEK_END)
        self._headers: dict[str, Header] = {}
        self._members: dict[str, zipfile.ZipInfo] = {}
        self._check_end_record()
        try:
            f.seek(0)
            infos = zipfile.ZipFile(f).infolist()
        except Exception as err:  # zipfile raises many kinds on hostile input; all mean damage
            raise NpzError(f"not a valid zip archive ({type(err).__name__}: {err})") from None
        # zipfile reads the central directory by its size, not by the end record's count: a
        # damaged size drops the last members silently, and the last one may be optional.
        if len(infos) != self._entries:
            raise NpzError(
                f"its central directory lists {len(infos)} members, its end record {self._entries}"
            )
        for info in infos:
            self._add(info)

    def _check_end_record(self) -> None:
        """The archive ends with an end record, no comment, a small central directory."""
        if self._size < _END_RECORD.size:
            raise NpzError("too short to be an .npz archive")
        self._f.seek(self._size - _END_RECORD.size)
        record = _END_RECORD.unpack(self._f.read(_END_RECORD.size))
        signature, disk, directory_disk, disk_entries, entries, directory_size, _, comment = record
        if signature != b"PK\x05\x06" or comment != 0:
            raise NpzError("not an .npz archive (no zip end record at its end)")
        if disk != 0 or directory_disk != 0 or disk_entries != entries:
            raise NpzError("its zip end record is damaged (an archive of one disk has none)")
        if entries > MAX_MEMBERS or directory_size > _MAX_CENTRAL_DIRECTORY:
            raise NpzError(f"{entries:,} members, more than an .npz tui-rnn writes")
        self._entries = entries

    def _add(self, info: zipfile.ZipInfo) -> None:
        name = info.filename
        if not name.endswith(".npy") or "/" in name or name == ".npy":
            raise NpzError(f"member {name!r} is not an .npy array")
        key = name[: -len(".npy")]
        if key in self._members:
            raise NpzError(f"member {name!r} appears twice")
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise NpzError(f"member {name!r} is compressed (tui-rnn stores members as they are)")
        if info.flag_bits & 0x1:
            raise NpzError(f"member {name!r} is encrypted")
        if info.header_offset + _LOCAL_HEADER.size + info.file_size > self._size:
            raise NpzError(f"member {name!r} claims more bytes than the archive has")
        self._members[key] = info

    @property
    def names(self) -> tuple[str, ...]:
        """The member names, without .npy, in archive order."""
        return tuple(self._members)

    def header(self, name: str) -> Header:
        """The parsed .npy header of member `name` (reads at most a few kB)."""
        if name in self._headers:
            return self._headers[name]
        info = self._members.get(name)
        if info is None:
            raise NpzError(f"no member {name!r}")
        f = self._f
        f.seek(info.header_offset)
        local = f.read(_LOCAL_HEADER.size)
        if len(local) < _LOCAL_HEADER.size:
            raise NpzError(f"member {name!r}: a truncated local header")
        signature, _, flags, method, _, _, _, _, _, name_length, extra_length = (
            _LOCAL_HEADER.unpack(local)
        )
        if signature != b"PK\x03\x04" or method != zipfile.ZIP_STORED or flags & 0x1:
            raise NpzError(f"member {name!r}: its local header disagrees with the directory")
        if f.read(name_length) != info.filename.encode("utf-8"):
            raise NpzError(f"member {name!r}: its local header names another file")
        start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
        if start + info.file_size > self._size:
            raise NpzError(f"member {name!r} claims more bytes than the archive has")
        f.seek(start)
        raw = f.read(min(info.file_size, 12 + MAX_HEADER_BYTES))
        try:
            dtype, shape, fortran_order, length = parse_header(raw)
        except NpzError as err:
            raise NpzError(f"member {name!r}: {err}") from None
        nbytes = math.prod(shape) * dtype.itemsize
        if length + nbytes != info.file_size:
            raise NpzError(
                f"member {name!r}: its header declares {nbytes:,} bytes of data, "
                f"the archive holds {info.file_size - length:,}"
            )
        header = Header(dtype, shape, fortran_order, start + length, nbytes, raw[:length])
        self._headers[name] = header
        return header

    def check(self, name: str, expect: Expect) -> Header:
        """Member `name`'s header, checked against `expect` (its data is not read)."""
        header = self.header(name)
        if header.dtype.kind not in expect.kinds:
            raise NpzMismatch(
                f"member {name!r} has dtype {header.dtype.str}, expected kind {expect.kinds}"
            )
        if header.shape != tuple(expect.shape):
            raise NpzMismatch(f"member {name!r} has shape {header.shape}, expected {expect.shape}")
        if header.dtype.kind == "U" and header.dtype.itemsize > 4 * expect.max_chars:
            raise NpzMismatch(f"member {name!r} holds strings longer than {expect.max_chars:,}")
        return header

    def read(self, name: str, expect: Expect) -> np.ndarray:
        """Member `name` as a new array, after checking its header against `expect`."""
        header = self.check(name, expect)
        self._f.seek(header.data_offset)
        data = self._f.read(header.nbytes)
        if len(data) != header.nbytes:
            raise NpzError(f"member {name!r} is truncated")
        if zlib.crc32(data, zlib.crc32(header.header_bytes)) != self._members[name].CRC:
            raise NpzError(f"member {name!r} fails its CRC-32 check (its bytes changed)")
        order: Literal["C", "F"] = "F" if header.fortran_order else "C"
        array = np.frombuffer(data, dtype=header.dtype).reshape(header.shape, order=order)
        return array.copy()
