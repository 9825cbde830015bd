"""Run directories: config, checkpoints, samples, exports. No pickles anywhere; atomic writes.

RUN_DIR/config.json          every option, the corpus (path, size, sha256), the vocabulary
RUN_DIR/checkpoint.npz       the full training state (Trainer.state_arrays + schema version)
RUN_DIR/checkpoint.prev.npz  the checkpoint before it, kept in case the newest is damaged
RUN_DIR/samples.txt          every sample, appended as it comes
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np

from . import __version__
from .corpus import Corpus
from .model import Params
from .train import Sample, TrainConfig, Trainer

SCHEMA_VERSION = 1
CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.npz"
PREVIOUS_CHECKPOINT_FILE = "checkpoint.prev.npz"
SAMPLES_FILE = "samples.txt"


class RunError(ValueError):
    """A run directory or checkpoint we cannot use, with a one-line reason and a remedy."""


# -- atomic writes -------------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write) -> Path:
    """Call write(file) on a temporary file beside `path`, fsync it, then rename it over `path`.

    A crash at any moment leaves either the old file or the new one, never a torn mix.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


# -- run directory -------------------------------------------------------------------------------
def new_run_dir(base: str | Path = "runs") -> Path:
    base = Path(base)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for suffix in [""] + [f"-{i}" for i in range(1, 1000)]:
        candidate = base / f"{stamp}{suffix}"
        if not candidate.exists():
            return candidate
    raise RunError(f"cannot find a free run directory name under {base}")


def prepare_run_dir(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunError(
            f"cannot create run directory {run_dir}: {err.strerror}; choose another --run-dir"
        ) from None
    if not os.access(run_dir, os.W_OK):
        raise RunError(f"run directory {run_dir} is not writable: choose another --run-dir")
    return run_dir


def write_config(run_dir: Path, config: TrainConfig, corpus: Corpus, **extra) -> dict:
    document = {
        "schema_version": SCHEMA_VERSION,
        "tui_rnn_version": __version__,
        "config": config.to_dict(),
        "corpus": {
            "name": corpus.name,
            "path": corpus.path,
            "characters": len(corpus),
            "sha256": corpus.sha256,
        },
        "vocabulary": "".join(corpus.chars),
        **extra,
    }
    atomic_write_text(run_dir / CONFIG_FILE, json.dumps(document, indent=2, ensure_ascii=False))
    return document


def read_config(run_dir: str | Path) -> dict:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run directory {run_dir} does not exist: check the path")
    path = run_dir / CONFIG_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{run_dir} has no {CONFIG_FILE}: it is not a tui-rnn run") from None
    except (OSError, ValueError) as err:
        raise RunError(f"{path} is unreadable or not JSON ({err}): the run is damaged") from None
    if not isinstance(document, dict) or "config" not in document or "vocabulary" not in document:
        raise RunError(f"{path} lacks the config or the vocabulary: the run is damaged")
    version = document.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise RunError(
            f"{path} has schema version {version}, newer than this tui-rnn understands "
            f"({SCHEMA_VERSION}): upgrade tui-rnn"
        )
    return document


# -- checkpoints ---------------------------------------------------------------------------------
def save_checkpoint(run_dir: str | Path, trainer: Trainer) -> Path:
    """Write the trainer's whole state atomically, keeping the previous checkpoint beside it."""
    run_dir = Path(run_dir)
    arrays = trainer.state_arrays()
    arrays["schema_version"] = np.array(SCHEMA_VERSION)
    path = run_dir / CHECKPOINT_FILE

    def write(f):
        np.savez(f, **arrays)

    fd, tmp = tempfile.mkstemp(prefix=".checkpoint.", suffix=".tmp", dir=run_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():  # keep the last good one: hard link, then atomic rename over .prev
            link = run_dir / f".prev.{os.getpid()}.tmp"
            if link.exists():
                link.unlink()
            os.link(path, link)
            os.replace(link, run_dir / PREVIOUS_CHECKPOINT_FILE)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(run_dir)
    return path


def load_checkpoint_file(path: str | Path) -> dict[str, np.ndarray]:
    """Read one checkpoint (never unpickling), checking its schema version."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise RunError(f"checkpoint {path} does not exist") from None
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise RunError(
                f"checkpoint {path} holds pickled Python objects, which tui-rnn never loads: "
                "it was not written by tui-rnn"
            ) from None
        raise RunError(f"checkpoint {path} is damaged ({err})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise RunError(f"checkpoint {path} is truncated or corrupt ({err})") from None
    version = arrays.get("schema_version")
    if version is None or version.shape != () or not np.issubdtype(version.dtype, np.integer):
        raise RunError(f"checkpoint {path} has no schema version: it was not written by tui-rnn")
    if int(version) > SCHEMA_VERSION:
        raise RunError(
            f"checkpoint {path} has schema version {int(version)}, newer than this tui-rnn "
            f"understands ({SCHEMA_VERSION}): upgrade tui-rnn"
        )
    return arrays


def load_checkpoint(run_dir: str | Path) -> dict[str, np.ndarray]:
    """The newest loadable checkpoint of a run (falling back to the previous one if damaged)."""
    run_dir = Path(run_dir)
    errors = []
    for name in (CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            return load_checkpoint_file(path)
        except RunError as err:
            errors.append(str(err))
    if errors:
        raise RunError(errors[0])
    raise RunError(f"{run_dir} has no checkpoint yet: train it first (tui-rnn train)")


def restore_trainer(run_dir: str | Path, corpus: Corpus) -> Trainer:
    """A Trainer in exactly the state of the run's newest good checkpoint."""
    document = read_config(run_dir)
    check_same_corpus(document, corpus)
    trainer = Trainer(corpus.data, corpus.chars, TrainConfig.from_dict(document["config"]))
    try:
        trainer.load_state_arrays(load_checkpoint(run_dir))
    except (KeyError, ValueError) as err:
        if isinstance(err, RunError):
            raise
        raise RunError(f"the checkpoint in {run_dir} does not fit its config ({err})") from None
    return trainer


def check_same_corpus(document: dict, corpus: Corpus) -> None:
    if document["vocabulary"] != "".join(corpus.chars):
        raise RunError(
            f"{corpus.name} has a different vocabulary from the run's corpus "
            f"({document['corpus'].get('name')}): resume with the run's own corpus"
        )
    saved = document["corpus"].get("sha256")
    if saved and saved != corpus.sha256:
        raise RunError(
            f"{corpus.name} is not the text this run was trained on (content hash differs): "
            f"resume with {document['corpus'].get('path') or document['corpus'].get('name')}"
        )


def load_model(run_dir: str | Path, best: bool = False) -> tuple[Params, tuple[str, ...], dict]:
    """Parameters (current or best) and vocabulary of a run, for generation."""
    document = read_config(run_dir)
    chars = tuple(document["vocabulary"])
    hidden = int(document["config"]["hidden_size"])
    arrays = load_checkpoint(run_dir)
    flat = arrays["best_params" if best else "params"]
    try:
        params = Params.from_flat(np.array(flat, dtype=np.float64), len(chars), hidden)
    except ValueError as err:
        raise RunError(f"the checkpoint in {run_dir} does not fit its config ({err})") from None
    return params, chars, document


# -- samples -------------------------------------------------------------------------------------
def append_sample(run_dir: str | Path, sample: Sample) -> None:
    with open(Path(run_dir) / SAMPLES_FILE, "a", encoding="utf-8") as f:
        f.write(f"{sample.header}\n{sample.text}\n\n")
