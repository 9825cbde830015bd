"""config.json: every option of a run, its corpus (path, size, sha256), its vocabulary and
versions; written when a run begins, and again when it resumes or its learning rate or target
changes.

Everything else a run holds is sized from this file, so reading it back checks it field by
field (types, ranges, the vocabulary, whether the model fits in memory) and refuses a damaged
or hand-edited one in one line naming the first bad field.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeGuard

import numpy as np

from tui_rnn import __version__
from tui_rnn.safe import files
from tui_rnn.safe.files import MissingRunFile, RunError
from tui_rnn.store.rundir import CONFIG_FILE, SCHEMA_VERSION, require_run_directory
from tui_rnn.training.corpus import Corpus
from tui_rnn.training.options import OptionError, TrainConfig
from tui_rnn.training.trainer import check_fits_memory

CONFIG_LIMIT = 64 << 20  # config.json: a vocabulary of every Unicode character is 7 MB of JSON


class FutureSchemaError(RunError):
    """Written by a newer tui-rnn: never fall back to an older checkpoint behind its back."""


def corpus_record(corpus: Corpus) -> dict:
    """config.json's "corpus": what the run's text is and how to check it is the same."""
    size_bytes = None
    if corpus.path:
        try:
            size_bytes = os.path.getsize(corpus.path)
        except OSError:
            pass
    return {
        "name": corpus.name,
        "path": corpus.path,
        "characters": len(corpus),
        "bytes": size_bytes,
        "sha256": corpus.sha256,
        "vocab_size": corpus.vocab_size,
    }


def config_document(config: TrainConfig, corpus: Corpus, **extra) -> dict:
    """What config.json holds: every option, the corpus and its hash, the vocabulary, versions."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tui_rnn_version": __version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "corpus": corpus_record(corpus),
        "vocabulary": "".join(corpus.chars),
        **extra,
    }


def has_corpus(document: dict) -> bool:
    """False for a run imported without a text (import-model with no CORPUS): it has a
    vocabulary but no corpus until it is first trained on one."""
    return document["corpus"].get("characters") is not None


def write_config_document(run_dir: str | Path, document: dict) -> dict:
    text = json_text(document) + "\n"
    files.atomic_write(Path(run_dir) / CONFIG_FILE, lambda f: f.write(text.encode("utf-8")))
    return document


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(document: object, indent: int = 2) -> str:
    """`document` as JSON that UTF-8 can hold: characters as they are, but a path's
    undecodable bytes (os.fsdecode's surrogate escapes, which no UTF-8 can write) as \\udcXX
    escapes, which json.loads reads back to the same path."""
    text = json.dumps(document, indent=indent, ensure_ascii=False, allow_nan=False)
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def write_config(run_dir: str | Path, config: TrainConfig, corpus: Corpus, **extra) -> dict:
    return write_config_document(run_dir, config_document(config, corpus, **extra))


def record_eta_change(document: dict, iteration: int, eta: float) -> None:
    """A new learning rate from `iteration` on, in a config.json document: the config's eta,
    and one more entry in eta_changes."""
    document["config"]["eta"] = eta
    document.setdefault("eta_changes", []).append({"iteration": iteration, "eta": eta})


def read_config(run_dir: str | Path) -> dict:
    """config.json, checked field by field (RunError naming the first bad field)."""
    run_dir = Path(run_dir)
    require_run_directory(run_dir)
    path = run_dir / CONFIG_FILE
    try:
        raw = files.read_file(path, CONFIG_LIMIT)
    except MissingRunFile:
        raise RunError(f"{run_dir} has no {CONFIG_FILE}: it is not a tui-rnn run") from None
    try:
        document = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise RunError(
            f"{path} is not JSON tui-rnn reads (nested too deeply): the run is damaged"
        ) from None
    except ValueError as err:
        raise RunError(f"{path} is unreadable or not JSON ({err}): the run is damaged") from None
    if not isinstance(document, dict):
        raise RunError(f"{path} is not a tui-rnn config: the run is damaged")
    version = document.get("schema_version")
    if not _is_int(version):
        raise RunError(f"{path} has no schema version: it is not a tui-rnn run")
    if version > SCHEMA_VERSION:
        raise RunError(
            f"{path} has schema version {version}, newer than this tui-rnn understands "
            f"({SCHEMA_VERSION}): upgrade tui-rnn"
        )
    problem = config_problem(document)
    if problem:
        raise RunError(f"{path}: {problem}: the run is damaged or was edited; fix or restore it")
    return document


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# The options every schema-1 config.json holds; options later versions add take their defaults.
SCHEMA_1_OPTIONS = (
    "hidden_size",
    "seq_length",
    "eta",
    "sigma",
    "seed",
    "sample_every",
    "sample_length",
    "clip",
    "eps",
)
# Options added within schema 2: a config.json written before them takes their defaults (the
# constant learning rate, no warmup, no early stopping), which is how that run trained.
LATER_OPTIONS = ("lr_schedule", "warmup", "eta_min", "patience", "schedule_end")


def _non_finite(document: dict) -> str | None:
    """Where the first NaN or infinity is (Python's json reads them; JSON has none)."""
    stack = [(value, key) for key, value in reversed(document.items())]
    while stack:  # iterative: the document may be nested as deep as json allows
        value, where = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return where
        if isinstance(value, dict):
            stack.extend((v, f"{where}.{k}") for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((v, f"{where}[{i}]") for i, v in reversed(list(enumerate(value))))
    return None


def config_problem(document: dict) -> str | None:
    """What is wrong with a config.json document, field by field (None if nothing)."""
    where = _non_finite(document)
    if where:
        return f"{where} is not a finite number"
    config, corpus, vocabulary = (document.get(k) for k in ("config", "corpus", "vocabulary"))
    if not isinstance(config, dict):
        return "config is missing or not an object"
    version = document.get("schema_version")
    required = (
        SCHEMA_1_OPTIONS
        if version == 1
        else tuple(name for name in TrainConfig.field_names() if name not in LATER_OPTIONS)
    )
    for name in required:
        if name not in config:
            return f"config.{name} is missing"
    try:
        options = TrainConfig.from_dict(config)
        options.validate(names="fields")
    except (TypeError, ValueError) as err:
        return f"config.{err}"
    if options.needs_schedule_end and options.schedule_end is None:
        return "config.schedule_end is missing (the last update of the learning-rate schedule)"
    if not isinstance(vocabulary, str) or len(vocabulary) < 2:
        return "vocabulary is missing or not a text of at least 2 characters"
    if list(vocabulary) != sorted(set(vocabulary)):
        return "vocabulary is not sorted distinct characters"
    try:
        check_fits_memory(options, len(vocabulary), label="config.hidden_size")
    except OptionError as err:
        return str(err)
    if not isinstance(corpus, dict):
        return "corpus is missing or not an object"
    checks = {
        "corpus.path": (corpus.get("path"), lambda v: v is None or isinstance(v, str)),
        "corpus.name": (corpus.get("name"), lambda v: isinstance(v, str)),
        "corpus.sha256": (corpus.get("sha256", ""), lambda v: isinstance(v, str)),
        "corpus.characters": (
            corpus.get("characters"),
            lambda v: (
                (_is_int(v) and v > options.seq_length)
                or (v is None and isinstance(document.get("imported"), dict))
            ),
        ),
        "corpus.vocab_size": (
            corpus.get("vocab_size", len(vocabulary)),
            lambda v: v == len(vocabulary),
        ),
        "encoding": (document.get("encoding", "utf-8"), lambda v: isinstance(v, str) and v),
        "target_iterations": (
            document.get("target_iterations", 0),
            lambda v: _is_int(v) and v >= 0,
        ),
        "save_every": (document.get("save_every", 1), lambda v: _is_number(v) and v > 0),
        "eta_changes": (document.get("eta_changes", []), _eta_changes_ok),
        "time_limits": (document.get("time_limits", []), _time_limits_ok),
        "requested": (document.get("requested", {}), lambda v: isinstance(v, dict)),
    }
    for name, (value, ok) in checks.items():
        if not ok(value):
            return f"{name} is invalid ({_shorten(value)})"
    return None


def _time_limits_ok(value) -> bool:
    return isinstance(value, list) and all(
        isinstance(c, dict)
        and _is_int(c.get("iteration"))
        and _is_int(c.get("target"))
        and _is_number(c.get("seconds"))
        for c in value
    )


def record_time_limit(document: dict, record: dict) -> None:
    """A time limit turned into a target (config.json's time_limits: when, how long, the speed
    measured and the target it fixed), beside the target itself."""
    document.setdefault("time_limits", []).append(record)
    document["target_iterations"] = record["target"]


def _eta_changes_ok(value) -> bool:
    return isinstance(value, list) and all(
        isinstance(c, dict) and _is_int(c.get("iteration")) and _is_number(c.get("eta"))
        for c in value
    )


def _shorten(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
