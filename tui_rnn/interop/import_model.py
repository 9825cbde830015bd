"""`tui-rnn import-model FILE RUN_DIR [CORPUS]`: a safetensors file in PyTorch's layout becomes a
run directory that generate, inspect, gradcheck, the app and `train --resume` take.

Everything is read and checked before anything is written: the header (safetensors_file), the
names and shapes (pytorch_layout.read_layout: the cell from the shapes, a GRU only with
tui-rnn's metadata), the vocabulary (the file's `vocabulary` metadata or --vocab FILE: a JSON
list of distinct one-character strings, one per input column), the options, the corpus (its
characters must be in the vocabulary) and the tensors' values. Then the run is made as `train`
makes one (store: lock, config.json, a first checkpoint): tui-rnn's default training options for
the cell, or those given; the model as both current and best; iteration 0, the optimizer's
state zero, the random streams those of the seed. A vocabulary that is not in sorted order
(a run's is) is sorted, the input columns and output rows permuted alike: the same function.

Without a corpus the run records none (config.json's corpus.characters is null, `imported`
says where it came from); the first `train --resume RUN_DIR CORPUS` makes that text its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from tui_rnn.interop import pytorch_layout, safetensors_file
from tui_rnn.interop.errors import ModelFileError
from tui_rnn.safe import files
from tui_rnn.store import checkpoint, rundir
from tui_rnn.store import config as store_config
from tui_rnn.training.corpus import (
    Corpus,
    UnknownCharactersError,
    check_trainable,
    in_vocabulary,
    load_corpus,
)
from tui_rnn.training.options import CELLS, DTYPES, OptionError, TrainConfig, resolve
from tui_rnn.training.trainer import Trainer, check_fits_memory

VOCABULARY_LIMIT = 64 << 20  # a JSON list of every Unicode character is about 12 MB
MODEL_OPTIONS_FROM_FILE = ("cell", "layers", "hidden_size")


def parse_vocabulary(text: str, where: str) -> list[str]:
    """A vocabulary from its JSON (a list of distinct one-character strings, at least two)."""
    try:
        chars = json.loads(text)
    except (ValueError, RecursionError):
        chars = None
    if not isinstance(chars, list) or not all(isinstance(ch, str) and len(ch) == 1 for ch in chars):
        raise ModelFileError(
            f"{where} is not a JSON list of one-character strings (the vocabulary in index order)"
        )
    surrogates = [ch for ch in chars if 0xD800 <= ord(ch) <= 0xDFFF]
    if surrogates:
        raise ModelFileError(
            f"{where} holds U+{ord(surrogates[0]):04X}, half of a surrogate pair, not a character"
        )
    seen: set[str] = set()
    for ch in chars:
        if ch in seen:
            raise ModelFileError(f"{where} lists {ch!r} twice: a vocabulary's characters differ")
        seen.add(ch)
    if len(chars) < 2:
        raise ModelFileError(f"{where} has {len(chars)} character(s): a model needs at least 2")
    return chars


def read_vocabulary_file(path: str | Path) -> list[str]:
    """--vocab FILE: the user's file (links followed, never a pipe), size checked first."""
    try:
        fd = files.open_regular(path, follow_symlinks=True)
    except FileNotFoundError:
        raise ModelFileError(f"--vocab {path} does not exist: check the path") from None
    except OSError as err:
        raise ModelFileError(f"cannot read --vocab {path}: {files.describe(err)}") from None
    try:
        size = os.fstat(fd).st_size
        if size > VOCABULARY_LIMIT:
            raise ModelFileError(
                f"--vocab {path} has {size:,} bytes, more than a vocabulary's JSON can need"
            )
        with os.fdopen(os.dup(fd), "rb") as f:
            raw = f.read(VOCABULARY_LIMIT + 1)
    except OSError as err:
        raise ModelFileError(f"cannot read --vocab {path}: {files.describe(err)}") from None
    finally:
        os.close(fd)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFileError(f"--vocab {path} is not UTF-8 JSON") from None
    return parse_vocabulary(text, f"--vocab {path}")


def _metadata_choice(metadata: dict[str, str], key: str, choices, path) -> str | None:
    value = metadata.get(key)
    if value is not None and value not in choices:
        raise ModelFileError(
            f"{path}'s metadata says {key} {value[:20]!r}: tui-rnn knows {', '.join(choices)}"
        )
    return value


def read_model(path: str | Path, vocab_path: str | Path | None = None, dtype: str | None = None):
    """(ImportedWeights in vocabulary order, the vocabulary, the file's metadata) of a
    safetensors file in PyTorch's layout. `dtype` converts (default: the file's)."""
    header = safetensors_file.peek(path)
    cell = _metadata_choice(header.metadata, "cell", CELLS, path)
    dtype = dtype or _metadata_choice(header.metadata, "dtype", DTYPES, path) or header.dtype
    spec, names = pytorch_layout.read_layout(header.shapes, cell, dtype)
    if vocab_path is not None:
        chars = read_vocabulary_file(vocab_path)
        where = f"--vocab {vocab_path}"
    elif "vocabulary" in header.metadata:
        chars = parse_vocabulary(header.metadata["vocabulary"], f"{path}'s vocabulary metadata")
        where = f"{path}'s vocabulary metadata"
    else:
        raise ModelFileError(
            f"{path} has no vocabulary metadata: give the characters of its {spec.vocab_size} "
            "inputs with --vocab FILE (a JSON list of one-character strings in index order)"
        )
    if len(chars) != spec.vocab_size:
        raise ModelFileError(
            f"{where} has {len(chars):,} characters but the model reads and writes "
            f"{spec.vocab_size:,}: the vocabulary does not fit"
        )
    return spec, names, header, chars


def import_model(
    path: str | Path,
    run_dir: str | Path,
    corpus_path: str | Path | None = None,
    *,
    encoding: str | None = None,
    vocab_path: str | Path | None = None,
    options: dict | None = None,
    warn=None,
) -> Path:
    """Make RUN_DIR from the model in `path` (see the module docstring); returns RUN_DIR.
    Raises ModelFileError, RunError, OptionError or CorpusError (one line each), having
    written nothing but for a failing disk."""
    options = dict(options or {})
    fixed = [name for name in MODEL_OPTIONS_FROM_FILE if name in options]
    if fixed:
        raise OptionError(f"{fixed[0]} comes from the model file: it cannot be given")
    spec, names, header, chars = read_model(path, vocab_path, options.get("dtype"))
    model_options = {"cell": spec.cell, "layers": spec.layers, "hidden_size": spec.hidden_size}
    config = resolve({"dtype": spec.dtype, **options, **model_options})
    check_fits_memory(config, spec.vocab_size)
    if os.path.isdir(run_dir):  # said before the file is read; checked again under the lock
        rundir.refuse_existing_run(run_dir)
    corpus = None
    if corpus_path is not None:
        encoding = encoding or "utf-8"
        corpus = load_corpus(corpus_path, encoding=encoding)
        check_trainable(corpus, config.seq_length)
    tensors = safetensors_file.read_tensors(header)
    weights = pytorch_layout.from_pytorch(tensors, spec, names, spec.dtype)
    weights, vocabulary = pytorch_layout.sorted_vocabulary(weights, chars)
    if corpus is not None:
        try:
            corpus = in_vocabulary(corpus, vocabulary)
        except UnknownCharactersError as err:
            raise ModelFileError(
                f"{corpus.name} has {err}".replace("train on a corpus", "import with a text")
            ) from None
    trainer = _trainer(config, corpus, vocabulary)
    trainer.model.flat[...] = weights.model().flat
    trainer.best_flat[...] = trainer.model.flat
    imported = {
        "file": str(Path(path).resolve()),
        "tui_rnn_version": header.metadata.get("tui_rnn_version"),
    }
    if corpus is not None:
        document = store_config.config_document(
            trainer.config,
            corpus,
            encoding=encoding,
            target_iterations=trainer.target_iterations(),
            requested={"iterations": None, "epochs": None},
            eta_changes=[],
            imported=imported,
        )
    else:
        document = store_config.config_document(
            config, _no_corpus(vocabulary, path), eta_changes=[], imported=imported
        )
        document["corpus"]["characters"] = None
    _create(Path(run_dir), document, trainer)
    return Path(run_dir)


def _no_corpus(vocabulary: str, path) -> Corpus:
    """A stand-in for config_document when the run has no text yet (its characters: null)."""
    return Corpus(
        data=np.zeros(0, np.uint8), chars=tuple(vocabulary), name=f"none (imported from {path})"
    )


def _trainer(config: TrainConfig, corpus: Corpus | None, vocabulary: str) -> Trainer:
    """A fresh trainer of `config` over the corpus or, without one, over a stand-in text just
    long enough for its streams (the trainer never reads it: nothing is trained here). Its
    sampling stream restarts at the seed: the initialisation it drew is overwritten."""
    if corpus is not None:
        trainer = Trainer(corpus.data, corpus.chars, config)
    else:
        B, n, held_out = config.batch_size, config.seq_length, config.val_fraction
        length = B * (n + 1) + 2
        while (length - int(length * held_out)) // B < n + 1 or (
            held_out > 0 and int(length * held_out) < 2
        ):
            length = 2 * length
        stand_in = np.zeros(length, dtype=np.uint8)
        trainer = Trainer(stand_in, tuple(vocabulary), TrainConfig(**config.to_dict()))
    trainer.rng = np.random.Generator(np.random.PCG64(config.seed))
    return trainer


def _create(run_dir: Path, document: dict, trainer: Trainer) -> None:
    """Make the run directory as a new run is made: lock, config.json, the first checkpoint
    (no config.json is left without a checkpoint)."""
    run_dir = rundir.prepare_run_dir(run_dir)
    rundir.lock_run(run_dir)
    try:
        rundir.refuse_existing_run(run_dir)  # under the lock: another process may have begun
        store_config.write_config_document(run_dir, document)
        checkpoint.save_checkpoint(run_dir, trainer, samples_bytes=0)
    except BaseException:
        rundir.abandon_new_run(run_dir)
        raise
    finally:
        rundir.unlock_run(run_dir)
