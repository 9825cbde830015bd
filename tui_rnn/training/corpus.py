"""Text -> vocabulary -> integer array, the built-in corpus, and whether a text can be
trained on (alone, and cut into a config's streams).

The vocabulary is the sorted set of distinct characters (any Unicode code point). The text is
kept only as a compact integer array of vocabulary indices (uint8 / uint16 / int32, the smallest
that fits), read, hashed and decoded 1 MiB at a time so that a 100 MB file never needs a Python
list, a one-hot matrix or even its raw bytes in memory: the peak is about twice the final array.
"""

from __future__ import annotations

import codecs
import dataclasses
import gzip
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from tui_rnn.safe import files
from tui_rnn.training.options import OptionError, TrainConfig

BUILTIN_NAME = "tinyshakespeare"
_BUILTIN_FILE = "tinyshakespeare.txt.gz"
_CHUNK_BYTES = 1 << 20  # read and decode 1 MiB at a time: the temporaries stay small
_SNIFF_BYTES = 65536  # how much of the start of a file is checked for NUL bytes


class CorpusError(ValueError):
    """A corpus we refuse, with a one-line message saying what is wrong and what to do."""


class UnknownCharactersError(ValueError):
    """Text holds characters that are not in the vocabulary."""

    def __init__(self, unknown: list[str]):
        self.unknown = unknown
        shown = " ".join(repr(ch) for ch in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        super().__init__(
            f"{len(unknown)} character(s) not in the model's vocabulary: {shown}; "
            "remove them or train on a corpus that has them"
        )


@dataclass(frozen=True, eq=False)
class Corpus:
    """A text as vocabulary indices. `data[i]` is the index in `chars` of the i-th character."""

    data: np.ndarray
    chars: tuple[str, ...]
    name: str
    path: str | None = None
    sha256: str = ""
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index.update({ch: i for i, ch in enumerate(self.chars)})

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def encode(self, text: str) -> np.ndarray:
        """Vocabulary indices of `text`; raises UnknownCharactersError naming the strangers."""
        return encode(text, self.chars, self._index)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def encode(text: str, chars, index: dict[str, int] | None = None) -> np.ndarray:
    index = index if index is not None else {ch: i for i, ch in enumerate(chars)}
    unknown = sorted({ch for ch in text if ch not in index})
    if unknown:
        raise UnknownCharactersError(unknown)
    return np.fromiter((index[ch] for ch in text), dtype=np.int64, count=len(text))


def in_vocabulary(corpus: Corpus, chars) -> Corpus:
    """The same text as indices into `chars`, a vocabulary that holds every character of the
    corpus and maybe more (an imported model's); UnknownCharactersError names any it lacks."""
    chars = tuple(chars)
    if chars == corpus.chars:
        return corpus
    index = {ch: i for i, ch in enumerate(chars)}
    unknown = sorted(ch for ch in corpus.chars if ch not in index)
    if unknown:
        raise UnknownCharactersError(unknown)
    lookup = np.array([index[ch] for ch in corpus.chars], dtype=np.int64)
    data = lookup[corpus.data].astype(_index_dtype(len(chars)))
    return dataclasses.replace(corpus, data=data, chars=chars, _index={})


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _index_dtype(vocab_size: int):
    """The smallest integer type that holds the indices of a vocabulary of this size."""
    if vocab_size <= 1 << 8:
        return np.uint8
    if vocab_size <= 1 << 16:
        return np.uint16
    return np.int32


def corpus_from_chunks(chunks, name: str, path: str | None = None, sha256: str = "") -> Corpus:
    """Build a Corpus from an iterable of decoded text chunks in one pass.

    Each chunk is mapped to provisional ids (order of first appearance) through a code-point
    lookup table and kept in the smallest type that fits so far; at the end one small
    permutation turns them into sorted-vocabulary ids. Peak memory is about twice the final
    array (the provisional pieces and the result) plus a few MB per chunk.
    """
    lookup = np.full(128, -1, dtype=np.int32)  # code point -> provisional id
    code_points: list[int] = []  # provisional id -> code point
    pieces: list[np.ndarray] = []
    for chunk in chunks:
        if not chunk:
            continue
        cps = _code_points(chunk)
        top = int(cps.max())
        if top >= lookup.size:
            lookup = np.concatenate([lookup, np.full(top + 1 - lookup.size, -1, np.int32)])
        present = np.flatnonzero(np.bincount(cps))
        new = present[lookup[present] < 0]
        lookup[new] = np.arange(len(code_points), len(code_points) + new.size)
        code_points.extend(int(cp) for cp in new)
        pieces.append(lookup[cps].astype(_index_dtype(len(code_points))))
    total = sum(piece.size for piece in pieces)
    if total == 0:
        raise CorpusError(f"{name} is empty: give a text file with some characters in it")
    order = np.argsort(np.array(code_points, dtype=np.int64), kind="stable")
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    data = np.empty(total, dtype=_index_dtype(order.size))
    start = 0
    pieces.reverse()
    while pieces:  # each piece is freed once copied: the peak stays near twice the data
        piece = pieces.pop()
        data[start : start + piece.size] = rank[piece]
        start += piece.size
    chars = tuple(chr(code_points[i]) for i in order)
    return Corpus(data=data, chars=chars, name=name, path=path, sha256=sha256)


def from_text(text: str, name: str = "<text>") -> Corpus:
    """A corpus from a string (tests and small inputs)."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return corpus_from_chunks([text], name=name, sha256=digest)


_ENCODING_REMEDY = "pass --encoding with the file's encoding, e.g. --encoding latin-1"


def decode_blocks(
    blocks, encoding: str, name: str, remedy: str = _ENCODING_REMEDY
) -> Iterator[str]:
    """Decode an iterable of byte blocks incrementally (a character may span two blocks);
    undecodable bytes are a CorpusError ending in `remedy`.

    One leading byte order mark (U+FEFF; Windows editors write one) is not text and is dropped
    in every encoding, as the utf-16 and utf-32 codecs drop theirs themselves.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset, first = 0, True
    for block in _then_end(blocks):
        try:
            text = decoder.decode(block, final=not block)
        except UnicodeDecodeError as err:
            raise CorpusError(
                f"{name} is not valid {encoding} (near byte {max(0, offset + err.start)}): "
                + remedy
            ) from None
        except (UnicodeError, ValueError, TypeError, LookupError) as err:  # odd codecs
            raise CorpusError(
                f"{name} cannot be read as {encoding} ({err}): pass --encoding with the file's "
                "encoding, e.g. --encoding utf-8 or latin-1"
            ) from None
        offset += len(block)
        if first and text:
            first = False
            if text[0] == "\ufeff":
                text = text[1:]
        yield text


def _then_end(blocks):
    """The blocks, then one empty block that tells the decoder the input is complete."""
    yield from blocks
    yield b""


def _split(raw: bytes):
    view = memoryview(raw)
    return (view[start : start + _CHUNK_BYTES] for start in range(0, len(raw), _CHUNK_BYTES))


def _read_blocks(f, first: bytes, digest, name: str):
    """`first`, then the rest of the file in blocks, each fed to `digest` on the way."""
    block = first
    while block:
        digest.update(block)
        yield block
        try:
            block = f.read(_CHUNK_BYTES)
        except OSError as err:
            raise CorpusError(
                f"cannot read {name}: {files.describe(err)}; check the file"
            ) from None


_BYTE_ORDER_MARKS = (  # UTF-32 first: its little-endian mark starts like UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _nul_bytes_message(name: str, first: bytes) -> str:
    for mark, encoding in _BYTE_ORDER_MARKS:
        if first.startswith(mark):
            return (
                f"{name} is {encoding.upper()} text (it starts with its byte order mark): "
                f"pass --encoding {encoding}"
            )
    return (
        f"{name} looks binary (it holds NUL bytes): give a plain text file, or pass "
        "--encoding utf-16 (or utf-32) if it is wide Unicode text"
    )


def load_corpus(path: str | Path | None = None, encoding: str = "utf-8") -> Corpus:
    """Load a text file (or the built-in corpus when `path` is None)."""
    if path is None:
        return builtin_corpus()
    p = Path(path)
    digest = hashlib.sha256()
    corpus = corpus_from_chunks(open_text(p, encoding, digest), name=str(p), path=str(p.resolve()))
    return dataclasses.replace(corpus, sha256=digest.hexdigest())


def open_text(
    path: str | Path,
    encoding: str = "utf-8",
    digest=None,
    what: str = "corpus file",
    remedy: str = _ENCODING_REMEDY,
) -> Iterator[str]:
    """The text of a file, decoded a block at a time (its memory stays that of a block), after
    the checks every text read by tui-rnn passes: a known text encoding, a regular file (never
    a directory, a pipe or a device), not empty, no NUL bytes but in UTF-16/32, a byte order
    mark where the encoding needs one. Each refusal is a CorpusError of one line, raised here
    (before any text), or while reading for undecodable bytes. `digest` (a hashlib object)
    sees every byte read; `what` names the file in the line saying it does not exist, `remedy`
    ends the line refusing undecodable bytes."""
    p = Path(path)
    name = str(p)
    codec = _text_codec(encoding)
    fd = _open_text_file(p, name, what)
    f = os.fdopen(fd, "rb")
    try:
        try:
            first = f.read(_SNIFF_BYTES)
        except OSError as err:
            raise CorpusError(
                f"cannot read {name}: {files.describe(err)}; check the file"
            ) from None
        if not first:
            raise CorpusError(f"{name} is empty: give a text file with some characters in it")
        # NUL bytes are legitimate only in the wide Unicode encodings.
        if b"\x00" in first and not codec.startswith(("utf-16", "utf-32")):
            raise CorpusError(_nul_bytes_message(name, first))
        if codec in ("utf-16", "utf-32") and not _has_byte_order_mark(first, codec):
            raise CorpusError(
                f"{name} does not start with a byte order mark, so {encoding} cannot tell "
                f"its byte order: pass --encoding {codec}-le (or {codec}-be)"
            )
    except BaseException:
        f.close()
        raise
    return _decoded_file(f, first, digest or hashlib.sha256(), encoding, name, remedy)


def _text_codec(encoding: str) -> str:
    """The codec's canonical name, or CorpusError when it is unknown or not bytes -> text."""
    try:
        codec_info = codecs.lookup(encoding)
    except LookupError:
        raise CorpusError(
            f"unknown encoding {encoding!r}: use a Python codec name such as utf-8 or latin-1"
        ) from None
    # base64, zlib, hex, rot13 ... are codecs too, but not bytes -> str: bytes.decode refuses
    # them by this same flag.
    if not getattr(codec_info, "_is_text_encoding", True) or not codec_info.incrementaldecoder:
        raise CorpusError(
            f"{encoding!r} is not a text encoding: use a Python text codec such as utf-8 or latin-1"
        ) from None
    return codec_info.name


def _decoded_file(f, first: bytes, digest, encoding: str, name: str, remedy: str) -> Iterator[str]:
    with f:
        yield from decode_blocks(_read_blocks(f, first, digest, name), encoding, name, remedy)


def looks_like_text(path: str | Path, sniff: int = 4096) -> bool:
    """Whether `path` is a regular file (links followed, never a pipe or a device) whose start
    reads as UTF-8 text: not empty, no NUL bytes, valid UTF-8 but for a character cut at the
    end. For pickers (the app's new-run form); load_corpus decides what it accepts."""
    try:
        fd = files.open_regular(path, follow_symlinks=True)
    except OSError:
        return False
    try:
        head = os.read(fd, sniff)
    except OSError:
        return False
    finally:
        os.close(fd)
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.reason == "unexpected end of data" and err.start >= len(head) - 3
    return True


def _has_byte_order_mark(first: bytes, codec: str) -> bool:
    return any(first.startswith(mark) for mark, name in _BYTE_ORDER_MARKS if name == codec)


def _open_text_file(p: Path, name: str, what: str = "corpus file") -> int:
    """A descriptor of the corpus file (links followed: a corpus may be one), refusing a
    directory, a named pipe or a device (a FIFO would block forever, and resume needs to read
    the text again), each with its own line."""
    try:
        return files.open_regular(p, follow_symlinks=True)
    except FileNotFoundError:
        raise CorpusError(f"{what} {name} does not exist: check the path") from None
    except files.NotRegularFileError as err:
        kind = err.strerror or ""
        if "directory" in kind:
            raise CorpusError(f"{name} is a directory: give a text file inside it") from None
        raise CorpusError(
            f"{name} is not a regular file ({kind.split(',')[0]}): save the text to a "
            "file and give that"
        ) from None
    except OSError as err:
        raise CorpusError(f"cannot read {name}: {files.describe(err)}; check the path") from None


def builtin_corpus_path():
    """Where the built-in corpus lives: inside the installed package, or in the source tree."""
    packaged = resources.files("tui_rnn").joinpath("assets", _BUILTIN_FILE)
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "assets" / _BUILTIN_FILE  # a source checkout


def builtin_corpus() -> Corpus:
    raw = gzip.decompress(builtin_corpus_path().read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    return corpus_from_chunks(
        decode_blocks(_split(raw), "utf-8", BUILTIN_NAME),
        name=BUILTIN_NAME,
        path=None,
        sha256=digest,
    )


def check_trainable(corpus: Corpus, seq_length: int) -> None:
    """Refuse corpora a char-RNN cannot learn from, with a message saying why."""
    if len(corpus) < seq_length + 1:
        raise CorpusError(
            f"{corpus.name} has {len(corpus)} characters, fewer than seq_length + 1 = "
            f"{seq_length + 1}: use a longer text or a smaller --seq-length"
        )
    if corpus.vocab_size < 2:
        raise CorpusError(
            f"{corpus.name} has only one distinct character ({corpus.chars[0]!r}): "
            "there is nothing to predict; use a real text"
        )


def check_streams(train_length: int, val_length: int, config: TrainConfig) -> None:
    """OptionError unless every stream's segment of the training text holds a chunk (n + 1
    characters: the targets are shifted by one) and the held-out text a validation loss."""
    n, B = config.seq_length, config.batch_size
    if train_length // B < n + 1:
        raise OptionError(
            f"the training text has {train_length:,} characters: too few for "
            f"--batch {B} streams of --seq-length {n} (each needs {n + 1}); use a smaller "
            "--batch, --seq-length or --val-fraction, or a longer text"
        )
    if config.val_fraction > 0 and val_length < 2:
        raise OptionError(
            f"--val-fraction {config.val_fraction:g} holds out {val_length} "
            "characters: too few to measure a validation loss; use a larger fraction"
        )
