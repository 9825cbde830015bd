"""Corpus loading: vocabulary, compact storage, any Unicode, encodings, and every refusal."""

from __future__ import annotations

import hashlib
import tracemalloc

import numpy as np
import pytest

from tui_rnn.training import corpus as corpus_module
from tui_rnn.training.corpus import (
    BUILTIN_NAME,
    CorpusError,
    UnknownCharactersError,
    check_trainable,
    from_text,
    load_corpus,
)


def assert_one_line_error(excinfo, *words):
    message = str(excinfo.value)
    assert message and "\n" not in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


# -- refusals --------------------------------------------------------------------------------
def test_missing_file_is_refused(tmp_path):
    with pytest.raises(CorpusError) as excinfo:
        load_corpus(tmp_path / "nope.txt")
    assert_one_line_error(excinfo, "nope.txt", "does not exist")


def test_directory_is_refused(tmp_path):
    with pytest.raises(CorpusError) as excinfo:
        load_corpus(tmp_path)
    assert_one_line_error(excinfo, str(tmp_path), "directory")


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(CorpusError) as excinfo:
        load_corpus(path)
    assert_one_line_error(excinfo, "empty.txt", "empty")


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    with pytest.raises(CorpusError) as excinfo:
        load_corpus(path)
    assert_one_line_error(excinfo, "image.png", "binary")


def test_undecodable_file_is_refused_and_names_the_fix(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("café crème brûlée, ".encode("latin-1") * 10)
    with pytest.raises(CorpusError) as excinfo:
        load_corpus(path)  # utf-8 by default
    assert_one_line_error(excinfo, "latin.txt", "utf-8", "--encoding")


def test_unknown_encoding_is_refused(small_corpus_file):
    with pytest.raises(CorpusError) as excinfo:
        load_corpus(small_corpus_file, encoding="no-such-codec")
    assert_one_line_error(excinfo, "no-such-codec")


def test_too_short_corpus_is_refused(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("abcdefghij", encoding="utf-8")  # 10 characters
    corpus = load_corpus(path)
    check_trainable(corpus, seq_length=9)  # 10 >= 9 + 1: fine
    with pytest.raises(CorpusError) as excinfo:
        check_trainable(corpus, seq_length=10)
    assert_one_line_error(excinfo, "short.txt", "10 characters", "11", "--seq-length")


def test_single_character_corpus_is_refused(tmp_path):
    path = tmp_path / "aaaa.txt"
    path.write_text("a" * 1000, encoding="utf-8")
    with pytest.raises(CorpusError) as excinfo:
        check_trainable(load_corpus(path), seq_length=25)
    assert_one_line_error(excinfo, "aaaa.txt", "one distinct character")


# -- what a good corpus looks like -------------------------------------------------------------
def test_vocabulary_is_sorted_distinct_characters_and_data_round_trips(small_corpus_file):
    text = small_corpus_file.read_text(encoding="utf-8")
    corpus = load_corpus(small_corpus_file)
    assert corpus.chars == tuple(sorted(set(text)))
    assert len(corpus) == len(text)
    assert corpus.data.dtype == np.uint8  # fewer than 256 distinct characters
    assert corpus.decode(corpus.data) == text
    np.testing.assert_array_equal(corpus.encode(text), corpus.data)
    assert corpus.path == str(small_corpus_file.resolve())
    assert len(corpus.sha256) == 64


def test_cjk_and_emoji_round_trip(tmp_path):
    text = "春眠不覺曉，處處聞啼鳥。😀🎉 naïve café 👍🏽\n" * 20 + "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ✓"
    path = tmp_path / "unicode.txt"
    path.write_text(text, encoding="utf-8")
    corpus = load_corpus(path)
    assert len(corpus) == len(text)  # one entry per code point, astral ones included
    assert corpus.chars == tuple(sorted(set(text)))
    assert "😀" in corpus.chars and "曉" in corpus.chars
    assert corpus.decode(corpus.data) == text
    assert corpus.decode(corpus.encode("處處😀")) == "處處😀"


def test_dtype_is_the_smallest_that_fits():
    assert from_text("hello world").data.dtype == np.uint8
    many = "".join(chr(0x4E00 + i) for i in range(300))  # 300 distinct CJK characters
    corpus = from_text(many * 2)
    assert corpus.vocab_size == 300
    assert corpus.data.dtype == np.uint16
    assert corpus.decode(corpus.data) == many * 2


def test_latin1_encoding_option(tmp_path):
    text = "café crème brûlée, à la française. " * 10
    path = tmp_path / "latin.txt"
    path.write_bytes(text.encode("latin-1"))
    corpus = load_corpus(path, encoding="latin-1")
    assert corpus.decode(corpus.data) == text
    assert "é" in corpus.chars and "û" in corpus.chars


def test_utf16_file_with_nul_bytes_is_text(tmp_path):
    text = "hello wide world\n" * 5
    path = tmp_path / "wide.txt"
    path.write_bytes(text.encode("utf-16"))
    assert load_corpus(path, encoding="utf-16").decode(load_corpus(path, "utf-16").data) == text


def test_a_utf8_byte_order_mark_is_not_part_of_the_text(tmp_path):
    text = "hello world\n" * 5
    path = tmp_path / "bom.txt"
    path.write_bytes(text.encode("utf-8-sig"))
    corpus = load_corpus(path)
    assert "\ufeff" not in corpus.chars
    assert corpus.decode(corpus.data) == text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_wide_unicode_without_encoding_says_which_encoding_to_pass(tmp_path, encoding):
    path = tmp_path / "wide.txt"
    path.write_bytes(("hello wide world\n" * 5).encode(encoding))  # with a byte order mark
    with pytest.raises(CorpusError) as excinfo:
        load_corpus(path)
    assert_one_line_error(excinfo, "wide.txt", f"--encoding {encoding}")


def test_encode_names_unknown_characters():
    corpus = from_text("abc abc")
    with pytest.raises(UnknownCharactersError) as excinfo:
        corpus.encode("abz€")
    assert excinfo.value.unknown == ["z", "€"]
    assert "'z'" in str(excinfo.value) and "'€'" in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError) and not isinstance(excinfo.value, KeyError)


def test_builtin_corpus_is_large_natural_text():
    corpus = load_corpus(None)
    assert corpus.name == BUILTIN_NAME
    assert len(corpus) >= 500_000
    assert 30 <= corpus.vocab_size <= 200
    assert corpus.data.dtype == np.uint8
    check_trainable(corpus, 25)
    assert " the " in corpus.decode(corpus.data[:5000])


def test_characters_split_across_read_blocks_decode_correctly(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_module, "_CHUNK_BYTES", 5)  # every multi-byte char gets split
    monkeypatch.setattr(corpus_module, "_SNIFF_BYTES", 3)
    text = "añb€c😀d春" * 7
    path = tmp_path / "split.txt"
    path.write_text(text, encoding="utf-8")
    corpus = load_corpus(path)
    assert corpus.decode(corpus.data) == text
    assert corpus.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_bytes(text.encode("utf-8") + b"ok\xff" + b"more text")  # bad byte in a late block
    with pytest.raises(CorpusError, match="not valid utf-8"):
        load_corpus(path)
    path.write_bytes(text.encode("utf-8")[:-1])  # the file ends inside a character
    with pytest.raises(CorpusError, match="not valid utf-8"):
        load_corpus(path)


def test_large_file_loads_compactly(tmp_path, small_text):
    """About 20 MB: one byte per character, peak memory a small multiple (no timing assertion)."""
    text = small_text + "é—😀"  # a few multi-byte characters, the last one astral
    repeats = 20_000_000 // len(text.encode("utf-8")) + 1
    path = tmp_path / "large.txt"
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(repeats):
            f.write(text)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        corpus = load_corpus(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * size, f"peak {peak / size:.1f}x the file size"
    assert len(corpus) == repeats * len(text)
    assert corpus.data.dtype == np.uint8
    assert corpus.data.nbytes == len(corpus)
    assert corpus.chars == tuple(sorted(set(text)))
    assert corpus.decode(corpus.data[-len(text) :]) == text
