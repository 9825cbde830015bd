"""The strict .npz reader: what np.savez writes reads back exactly; nothing else gets through."""

from __future__ import annotations

import io
import random
import struct
import zipfile

import numpy as np
import pytest
from conftest import npy_bytes, write_zip

from tui_rnn.safe.npz import Expect, NpzError, NpzReader, parse_dtype, parse_header

ARRAYS = {
    "f8": np.linspace(-1, 1, 7),
    "f4": np.arange(5, dtype=np.float32) / 3,
    "i8": np.array([-(2**62), 0, 2**62], dtype=np.int64),
    "u1": np.arange(10, dtype=np.uint8),
    "b1": np.array([True, False, True]),
    "scalar": np.array(7),
    "empty": np.zeros(0),
    "matrix": np.arange(12.0).reshape(3, 4),
    "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    "big_endian": np.arange(4, dtype=">f8"),
    "text": np.array('{"a": [1, 2]} ünïcode'),
    "c16": np.array([1 + 2j, -3j]),
}


def expect_of(array: np.ndarray, max_chars: int = 100) -> Expect:
    return Expect(array.dtype.kind, array.shape, max_chars)


def savez_bytes(**arrays) -> io.BytesIO:
    f = io.BytesIO()
    np.savez(f, **arrays)
    f.seek(0)
    return f


def test_what_np_savez_writes_reads_back_exactly():
    npz = NpzReader(savez_bytes(**ARRAYS))
    assert npz.names == tuple(ARRAYS)
    for name, array in ARRAYS.items():
        got = npz.read(name, expect_of(array))
        assert got.dtype == array.dtype and got.shape == array.shape, name
        assert np.array_equal(got, array), name
        assert got.flags.writeable  # a copy, not a view of the file's bytes


def test_members_can_be_read_in_any_order_and_bounded_by_earlier_ones():
    counters = np.array([3, 9], dtype=np.int64)
    npz = NpzReader(savez_bytes(history=np.arange(9.0), counters=counters))
    n = int(npz.read("counters", Expect("iu", (2,)))[1])
    assert np.array_equal(npz.read("history", Expect("f", (n,))), np.arange(9.0))
    with pytest.raises(NpzError, match="shape"):
        npz.read("history", Expect("f", (n - 1,)))


@pytest.mark.parametrize(
    ("expect", "word"),
    [
        (Expect("iu", (7,)), "dtype"),
        (Expect("f", (8,)), "shape"),
        (Expect("f", ()), "shape"),
    ],
)
def test_expectations_are_checked_before_the_data_is_read(expect, word):
    npz = NpzReader(savez_bytes(a=np.zeros(7)))
    with pytest.raises(NpzError, match=word):
        npz.read("a", expect)


def test_strings_longer_than_allowed_are_refused():
    npz = NpzReader(savez_bytes(s=np.array("x" * 50)))
    assert str(npz.read("s", Expect("U", (), 50))) == "x" * 50
    with pytest.raises(NpzError, match="longer than 49"):
        npz.read("s", Expect("U", (), 49))


def test_compressed_archives_are_refused():
    f = io.BytesIO()
    np.savez_compressed(f, a=np.zeros(1000))
    f.seek(0)
    with pytest.raises(NpzError, match="compressed"):
        NpzReader(f)


def test_pickled_object_arrays_are_refused_unread():
    f = io.BytesIO()
    np.save(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.npy", f.getvalue())
    archive.seek(0)
    with pytest.raises(NpzError, match="dtype '\\|O'"):
        NpzReader(archive).read("a", Expect("fO", (1,)))


def test_structured_dtypes_are_refused():
    f = io.BytesIO()
    np.save(f, np.zeros(2, dtype=[("a", "<f8"), ("b", "<i4")]))
    with pytest.raises(NpzError):
        parse_header(f.getvalue())


def _archive(tmp_path, members):
    path = tmp_path / "a.npz"
    write_zip(path, members)
    return open(path, "rb")


def test_members_that_are_not_npy_and_too_many_members_are_refused(tmp_path):
    data = npy_bytes("<f8", (1,), bytes(8))
    with (
        pytest.raises(NpzError, match="notes.txt"),
        _archive(
            tmp_path, [("a.npy", data, 0, len(data), None), ("notes.txt", b"hi", 0, 2, None)]
        ) as f,
    ):
        NpzReader(f)
    many = [(f"m{i}.npy", data, 0, len(data), None) for i in range(65)]
    with pytest.raises(NpzError, match="65 members"), _archive(tmp_path, many) as f:
        NpzReader(f)
    twice = [("a.npy", data, 0, len(data), None)] * 2
    with pytest.raises(NpzError, match="twice"), _archive(tmp_path, twice) as f:
        NpzReader(f)


def test_a_declared_size_beyond_the_file_is_refused(tmp_path):
    data = npy_bytes("<f8", (1,), bytes(8))
    with (
        pytest.raises(NpzError, match="more bytes"),
        _archive(tmp_path, [("a.npy", data, 0, 10**9, None)]) as f,
    ):
        NpzReader(f)


def test_a_lying_shape_is_refused_without_allocating(tmp_path):
    data = npy_bytes("<f8", (10**12,), bytes(8))
    with _archive(tmp_path, [("a.npy", data, 0, len(data), None)]) as f:
        npz = NpzReader(f)
        with pytest.raises(NpzError, match="declares 8,000,000,000,000 bytes"):
            npz.read("a", Expect("f", (10**12,)))


def test_a_changed_byte_fails_the_crc(tmp_path):
    f = savez_bytes(a=np.arange(100.0))
    raw = bytearray(f.getvalue())
    raw[raw.index(b"\x93NUMPY") + 200] ^= 0x10
    with pytest.raises(NpzError, match="CRC"):
        NpzReader(io.BytesIO(bytes(raw))).read("a", Expect("f", (100,)))


def test_every_truncation_is_an_npz_error():
    raw = savez_bytes(a=np.arange(3.0), b=np.array("xyz")).getvalue()
    for size in range(len(raw)):
        with pytest.raises(NpzError):
            npz = NpzReader(io.BytesIO(raw[:size]))
            npz.read("a", Expect("f", (3,)))
            npz.read("b", Expect("U", (), 3))


# -- the header grammar ---------------------------------------------------------------------------
def header(text: str, version: int = 1) -> bytes:
    body = (text + "\n").encode("latin-1")
    size = struct.pack("<H" if version == 1 else "<I", len(body))
    return b"\x93NUMPY" + bytes([version, 0]) + size + body


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }", (5,)),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (), }    ", ()),
        ("{'shape': (2, 3), 'fortran_order': True, 'descr': '<i4'}", (2, 3)),
        ("{ 'descr' : '|b1' , 'fortran_order' : False , 'shape' : ( 1 , 2 , ) }", (1, 2)),
    ],
)
def test_headers_numpy_could_write_are_accepted(text, shape):
    for version in (1, 2, 3):
        dtype, got, _, _ = parse_header(header(text, version))
        assert got == shape


@pytest.mark.parametrize(
    "raw",
    [
        b"\x93NUMPY\x01\x00\x01\x00{",  # byte 68 of a checkpoint set to 0x01
        header("{'descr': '<f8', 'fortran_order': False}"),
        header("{'descr': '<f8', 'fortran_order': False, 'shape': (5,), 'x': 1}"),
        header("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (5,)}"),
        header("{'descr': '<f8', 'fortran_order': False, 'shape': (5)}"),
        header("{'descr': '<f8', 'fortran_order': False, 'shape': (-5,)}"),
        header("{'descr': '<f8', 'fortran_order': 0, 'shape': (5,)}"),
        header("{'descr': '|O', 'fortran_order': False, 'shape': (5,)}"),
        header("{'descr': '<V8', 'fortran_order': False, 'shape': (5,)}"),
        header("{'descr': '<f16', 'fortran_order': False, 'shape': (5,)}"),
        header("{'descr': '|f8', 'fortran_order': False, 'shape': (5,)}"),
        header("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (5,)}"),
        header("{'descr': '<f8', 'fortran_order': False, 'shape': (5,), } x"),
        header("{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }\n"),
        header("{'descr': '<f8', 'fortran_order': __import__('os'), 'shape': (5,)}"),
        header("{'descr': '<f8', 'fortran_order': False, 'shape': (" + "1," * 33 + ")}"),
        header("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,)}"),
        header("{'descr': '<f8', 'fortran_order': False, 'shape': (5,)}", version=4),
        b"\x93NUMPY\x02\x00" + struct.pack("<I", 100_000) + b"{" * 100_000,
        b"\x93NUMPX\x01\x00\x10\x00",
        b"\x93NUMPY",
    ],
)
def test_headers_outside_the_grammar_are_refused(raw):
    with pytest.raises(NpzError):
        parse_header(raw)


def test_random_mutations_of_a_header_never_raise_anything_else():
    good = header("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }    ")
    rng = random.Random(3)
    alphabet = b"{}()[]:,' \n0123456789<>|=fiubcUOV_TrueFalse\x00\xff"
    for _ in range(3000):
        raw = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(raw))
            if rng.random() < 0.5:
                raw[position] = rng.choice(alphabet)
            else:
                raw[position] ^= 1 << rng.randrange(8)
        try:
            dtype, shape, _, _ = parse_header(bytes(raw))
        except NpzError:
            continue
        assert dtype.kind in "biufcU" and all(isinstance(n, int) and n >= 0 for n in shape)


@pytest.mark.parametrize("descr", ["<f8", "<f4", "<f2", "|b1", "|u1", "<i2", ">i8", "<U0", "<c8"])
def test_plain_dtypes(descr):
    assert parse_dtype(descr) == np.dtype(descr)
