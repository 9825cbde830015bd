"""Run directories: config, checkpoints, samples, locking. No pickles anywhere; atomic writes.

RUN_DIR/config.json          every option, the corpus (path, size, sha256), the vocabulary, versions
RUN_DIR/checkpoint.npz       the full training state (Trainer.state_arrays + schema version +
                             the length of samples.txt that the state accounts for)
RUN_DIR/checkpoint.prev.npz  the checkpoint before it, kept in case the newest is damaged
RUN_DIR/samples.txt          every sample, appended as it comes
RUN_DIR/.lock                held (flock) by the process training the run

A crash at any moment (kill -9, power loss, full disk) leaves a loadable checkpoint: every
checkpoint is written to a temporary file in the run directory, flushed, fsynced and renamed
over the old one, and the old one is first kept as checkpoint.prev.npz. samples.txt may run
ahead of the checkpoint (samples written after it, or a torn last sample); resuming truncates it
to the length the checkpoint recorded, and the resumed run writes those samples again, identically.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import re
import shutil
import stat
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from . import __version__
from .corpus import Corpus
from .model import Params
from .train import DivergenceError, Sample, TrainConfig, Trainer

SCHEMA_VERSION = 1
CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.npz"
PREVIOUS_CHECKPOINT_FILE = "checkpoint.prev.npz"
SAMPLES_FILE = "samples.txt"
LOCK_FILE = ".lock"
_NPZ_MAGIC = b"PK\x03\x04"  # every .npz is a zip archive and starts with a local file header


def _file_mode() -> int:
    """rw for everyone the umask allows (mkstemp's files are private; a run is for sharing)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()


def _share(f) -> None:
    if hasattr(os, "fchmod"):  # POSIX
        os.fchmod(f.fileno(), _FILE_MODE)


class RunError(ValueError):
    """A run directory or checkpoint we cannot use, with a one-line reason and a remedy."""


class RunWriteError(RunError):
    """Writing into a run failed (full disk, permissions); what was on disk before is intact."""


class FutureSchemaError(RunError):
    """Written by a newer tui-rnn: never fall back to an older checkpoint behind its back."""


def _reason(err: OSError) -> str:
    return err.strerror or str(err)


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


def _unlink_quietly(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def atomic_write(path: str | Path, write) -> Path:
    """Call write(file) on a temporary file beside `path`, fsync it, then rename it over `path`.

    A crash at any moment leaves either the old file or the new one, never a torn mix.
    Raises OSError (the temporary file removed) when the directory is unwritable or full.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            _share(f)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
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
    """Create the directory of a new run and prove we can write in it (os.access lies to root)."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():  # mkdir would only say "File exists"
        raise RunError(f"{run_dir} is a file, not a directory: choose another --run-dir")
    for name in (CONFIG_FILE, CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE, SAMPLES_FILE):
        if (run_dir / name).exists():
            raise RunError(
                f"{run_dir} already holds a run ({name}): continue it with --resume {run_dir} "
                "or choose another --run-dir"
            )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe_fd, probe = tempfile.mkstemp(prefix=".probe.", dir=run_dir)
        os.close(probe_fd)
        os.unlink(probe)
    except OSError as err:
        raise RunWriteError(
            f"cannot write in run directory {run_dir}: {_reason(err)}; choose another --run-dir"
        ) from None
    return run_dir


def remove_temporaries(run_dir: str | Path) -> None:
    """Delete temporary files a killed writer left behind (only while holding the run's lock)."""
    for pattern in (".checkpoint.*.tmp", ".prev.*.tmp", f".{CONFIG_FILE}.*.tmp", ".probe.*"):
        for path in Path(run_dir).glob(pattern):
            _unlink_quietly(path)


# -- locking: one writer per run -----------------------------------------------------------------
_held_locks: dict[Path, int] = {}


def lock_run(run_dir: str | Path) -> None:
    """Take the run's lock for this process (idempotent); refuse if another process holds it.

    The kernel drops the lock when the process dies, even by kill -9.
    """
    key = Path(run_dir).resolve()
    if key in _held_locks:
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: no locking
        return
    path = key / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise RunWriteError(f"cannot create {path}: {_reason(err)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise RunError(
            f"{run_dir} is being trained by another tui-rnn process (pid {holder}): "
            "wait for it to stop, or stop it first"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held_locks[key] = fd
    remove_temporaries(key)


def unlock_run(run_dir: str | Path) -> None:
    fd = _held_locks.pop(Path(run_dir).resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


# -- config.json ---------------------------------------------------------------------------------
def config_document(config: TrainConfig, corpus: Corpus, **extra) -> dict:
    """What config.json holds: every option, the corpus and its hash, the vocabulary, versions."""
    size_bytes = None
    if corpus.path:
        try:
            size_bytes = os.path.getsize(corpus.path)
        except OSError:
            pass
    return {
        "schema_version": SCHEMA_VERSION,
        "tui_rnn_version": __version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "corpus": {
            "name": corpus.name,
            "path": corpus.path,
            "characters": len(corpus),
            "bytes": size_bytes,
            "sha256": corpus.sha256,
            "vocab_size": corpus.vocab_size,
        },
        "vocabulary": "".join(corpus.chars),
        **extra,
    }


def write_config_document(run_dir: str | Path, document: dict) -> dict:
    path = Path(run_dir) / CONFIG_FILE
    try:
        atomic_write_text(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    except OSError as err:
        raise RunWriteError(f"cannot write {path}: {_reason(err)}") from None
    return document


def write_config(run_dir: str | Path, config: TrainConfig, corpus: Corpus, **extra) -> dict:
    return write_config_document(run_dir, config_document(config, corpus, **extra))


def read_config(run_dir: str | Path) -> dict:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        if run_dir.exists():
            raise RunError(f"{run_dir} is a file, not a run directory: give the run's directory")
        raise RunError(f"run directory {run_dir} does not exist: check the path")
    path = run_dir / CONFIG_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{run_dir} has no {CONFIG_FILE}: it is not a tui-rnn run") from None
    except (OSError, ValueError) as err:
        raise RunError(f"{path} is unreadable or not JSON ({err}): the run is damaged") from None
    if not isinstance(document, dict):
        raise RunError(f"{path} is not a tui-rnn config: the run is damaged")
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise RunError(f"{path} has no schema version: it is not a tui-rnn run")
    if version > SCHEMA_VERSION:
        raise RunError(
            f"{path} has schema version {version}, newer than this tui-rnn understands "
            f"({SCHEMA_VERSION}): upgrade tui-rnn"
        )
    if (
        not isinstance(document.get("config"), dict)
        or not isinstance(document.get("vocabulary"), str)
        or not isinstance(document.get("corpus"), dict)
    ):
        raise RunError(f"{path} lacks the config, corpus or vocabulary: the run is damaged")
    try:
        TrainConfig.from_dict(document["config"]).validate()
    except (TypeError, ValueError) as err:
        raise RunError(f"{path} holds an invalid config ({err}): the run is damaged") from None
    return document


# -- checkpoints ---------------------------------------------------------------------------------
# name -> (dtype kind(s), number of dimensions) that a checkpoint must have.
_CHECKPOINT_LAYOUT = {
    "schema_version": ("iu", 0),
    "params": ("f", 1),
    "memory": ("f", 1),
    "h": ("f", 1),
    "best_params": ("f", 1),
    "loss_history": ("f", 1),
    "smooth_loss_history": ("f", 1),
    "epoch_starts": ("iu", 1),
    "scalars": ("iu", 1),
    "losses": ("f", 1),
    "rng_state": ("U", 0),
}
_OPTIONAL_LAYOUT = {"samples_bytes": ("iu", 0)}


def samples_size(run_dir: str | Path) -> int:
    try:
        return os.path.getsize(Path(run_dir) / SAMPLES_FILE)
    except FileNotFoundError:
        return 0


def save_checkpoint(
    run_dir: str | Path, trainer: Trainer, samples_bytes: int | None = None
) -> Path:
    """Write the trainer's whole state atomically, keeping the previous checkpoint beside it.

    Call it between updates, from the thread that drives the trainer. `samples_bytes` is how
    much of samples.txt this state accounts for (default: all of it, as it is now).
    Raises DivergenceError rather than save non-finite parameters, and RunWriteError when the
    disk refuses (the previous checkpoints are then untouched).
    """
    run_dir = Path(run_dir)
    if not (np.isfinite(trainer.params.flat).all() and np.isfinite(trainer.memory).all()):
        loss = float(trainer.history.loss[-1]) if len(trainer.history) else float("nan")
        raise DivergenceError(trainer.iteration, loss, trainer.config.eta)
    arrays = trainer.state_arrays()
    arrays["schema_version"] = np.array(SCHEMA_VERSION)
    size = samples_size(run_dir) if samples_bytes is None else samples_bytes
    arrays["samples_bytes"] = np.array(size, dtype=np.int64)
    path = run_dir / CHECKPOINT_FILE
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".checkpoint.", suffix=".tmp", dir=run_dir)
        with os.fdopen(fd, "wb") as f:
            _share(f)
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            _keep_previous(path, run_dir / PREVIOUS_CHECKPOINT_FILE)
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None:
            _unlink_quietly(tmp)
        hint = "free some disk space" if err.errno == errno.ENOSPC else "check the directory"
        raise RunWriteError(
            f"cannot write a checkpoint in {run_dir}: {_reason(err)}; the previous checkpoint "
            f"is intact: {hint}, then resume with --resume {run_dir}"
        ) from None
    except BaseException:
        if tmp is not None:
            _unlink_quietly(tmp)
        raise
    _fsync_dir(run_dir)
    return path


def _keep_previous(path: Path, previous: Path) -> None:
    """Make `previous` a copy of `path` atomically: a hard link renamed into place (or a copy)."""
    link = path.parent / f".prev.{os.getpid()}.tmp"
    _unlink_quietly(link)
    try:
        os.link(path, link)
    except OSError:  # file systems without hard links: copy (costs one more write)
        shutil.copyfile(path, link)
    os.replace(link, previous)


def _check_layout(arrays: dict[str, np.ndarray], path: Path) -> None:
    for layout, required in ((_CHECKPOINT_LAYOUT, True), (_OPTIONAL_LAYOUT, False)):
        for name, (kinds, ndim) in layout.items():
            if name not in arrays:
                if required:
                    raise RunError(f"checkpoint {path} lacks {name!r}: it is damaged")
                continue
            array = arrays[name]
            if array.dtype.kind not in kinds or array.ndim != ndim:
                raise RunError(
                    f"checkpoint {path} has a malformed {name!r} "
                    f"({array.dtype}, {array.ndim} dimensions): it is damaged"
                )
    scalars, losses = arrays["scalars"], arrays["losses"]
    if scalars.shape != (5,) or losses.shape != (2,):
        raise RunError(f"checkpoint {path} has malformed counters: it is damaged")
    iteration = int(scalars[1])
    if len(arrays["loss_history"]) != iteration or len(arrays["smooth_loss_history"]) != iteration:
        raise RunError(f"checkpoint {path} has a loss history that does not match its iteration")
    for name in ("params", "memory", "h", "best_params"):
        if not np.isfinite(arrays[name]).all():
            raise RunError(f"checkpoint {path} holds non-finite {name}: it is damaged")


def load_checkpoint_file(path: str | Path) -> dict[str, np.ndarray]:
    """Read one checkpoint (never unpickling), checking its schema version and layout."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
            if magic != _NPZ_MAGIC:
                raise RunError(f"checkpoint {path} is not an .npz archive: it is corrupt")
            f.seek(0)
            with np.load(f, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise RunError(f"checkpoint {path} does not exist") from None
    except ValueError as err:
        if isinstance(err, RunError):
            raise
        if "pickle" in str(err).lower():
            raise RunError(
                f"checkpoint {path} holds pickled Python objects, which tui-rnn never loads: "
                "it was not written by tui-rnn"
            ) from None
        raise RunError(f"checkpoint {path} is damaged ({err})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError) as err:
        raise RunError(f"checkpoint {path} is truncated or corrupt ({err})") from None
    version = arrays.get("schema_version")
    if version is None or version.shape != () or version.dtype.kind not in "iu":
        raise RunError(f"checkpoint {path} has no schema version: it was not written by tui-rnn")
    if int(version) > SCHEMA_VERSION:
        raise FutureSchemaError(
            f"checkpoint {path} has schema version {int(version)}, newer than this tui-rnn "
            f"understands ({SCHEMA_VERSION}): upgrade tui-rnn"
        )
    _check_layout(arrays, path)
    return arrays


def load_checkpoint_with_source(run_dir: str | Path) -> tuple[dict[str, np.ndarray], Path, list]:
    """(arrays, the file they came from, reasons the newer file was skipped).

    Tries checkpoint.npz, then checkpoint.prev.npz if the newest is damaged.
    """
    run_dir = Path(run_dir)
    problems: list[str] = []
    for name in (CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            return load_checkpoint_file(path), path, problems
        except FutureSchemaError:
            raise
        except RunError as err:
            problems.append(str(err))
    if problems:
        raise RunError(problems[0] + " (and no earlier checkpoint is usable)")
    if not run_dir.is_dir():
        raise RunError(f"run directory {run_dir} does not exist: check the path")
    raise RunError(
        f"{run_dir} has no checkpoint (it was stopped before its first save): start a new run"
    )


def load_checkpoint(run_dir: str | Path) -> dict[str, np.ndarray]:
    """The newest loadable checkpoint of a run (falling back to the previous one if damaged)."""
    return load_checkpoint_with_source(run_dir)[0]


def checkpoint_iteration(arrays: dict[str, np.ndarray]) -> int:
    return int(arrays["scalars"][1])


def _load_into(trainer: Trainer, arrays: dict[str, np.ndarray], run_dir) -> None:
    if arrays["h"].shape != trainer.h.shape:
        raise RunError(f"the checkpoint in {run_dir} does not fit its config (hidden state shape)")
    position = int(arrays["scalars"][0])
    if not 0 <= position < len(trainer.data):
        raise RunError(f"the checkpoint in {run_dir} points outside the corpus: it is damaged")
    try:
        trainer.load_state_arrays(arrays)
    except (KeyError, ValueError, TypeError) as err:
        raise RunError(f"the checkpoint in {run_dir} does not fit its config ({err})") from None


def restore_trainer(run_dir: str | Path, corpus: Corpus, warn=None) -> Trainer:
    """A Trainer in exactly the state of the run's newest good checkpoint, ready to continue.

    Checks the corpus is the run's own, truncates samples.txt to what the checkpoint accounts
    for, and refills trainer.samples from it. `warn(message)` hears about a damaged newest
    checkpoint that was skipped.
    """
    document = read_config(run_dir)
    check_same_corpus(document, corpus)
    try:
        trainer = Trainer(corpus.data, corpus.chars, TrainConfig.from_dict(document["config"]))
    except (TypeError, ValueError) as err:  # a hand-edited or damaged config.json
        raise RunError(f"{Path(run_dir) / CONFIG_FILE} holds unusable options ({err})") from None
    arrays, source, problems = load_checkpoint_with_source(run_dir)
    if problems and warn is not None:
        warn(
            f"{problems[0]}; continuing from {source.name} "
            f"(iteration {checkpoint_iteration(arrays)})"
        )
    _load_into(trainer, arrays, run_dir)
    if "samples_bytes" in arrays:
        truncate_samples(run_dir, int(arrays["samples_bytes"]))
    trainer.samples.extend(read_samples(run_dir, limit=trainer.samples.maxlen))
    return trainer


def restore_into(trainer: Trainer, run_dir: str | Path) -> int:
    """Put the run's newest good checkpoint back into `trainer` (e.g. after a divergence).

    Returns the iteration restored. The trainer's config (eta included) is left as it is.
    """
    arrays = load_checkpoint(run_dir)
    _load_into(trainer, arrays, run_dir)
    return trainer.iteration


def check_same_corpus(document: dict, corpus: Corpus) -> None:
    run_corpus = document["corpus"].get("path") or document["corpus"].get("name")
    if document["vocabulary"] != "".join(corpus.chars):
        raise RunError(
            f"{corpus.name} has a different vocabulary ({corpus.vocab_size} characters) from "
            f"the run's corpus {run_corpus} ({len(document['vocabulary'])} characters): "
            "resume with the run's own corpus"
        )
    saved = document["corpus"].get("sha256")
    if saved and saved != corpus.sha256:
        raise RunError(
            f"{corpus.name} is not the text this run was trained on (its sha256 differs): "
            f"resume with {run_corpus}"
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
_SAMPLE_HEADER = re.compile(r"^(best model, )?iter = (\d+), smooth_loss = (\S+)\n", re.MULTILINE)


def format_sample(sample: Sample) -> str:
    """One record of samples.txt: the header line, the text, a blank line."""
    return f"{sample.header}\n{sample.text}\n\n"


def append_sample(run_dir: str | Path, sample: Sample) -> int:
    """Append one sample to samples.txt in a single write, fsynced; returns the file's new size.

    A kill in the middle leaves at worst a torn last record, which resume cuts off.
    """
    path = Path(run_dir) / SAMPLES_FILE
    data = format_sample(sample).encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            return os.fstat(fd).st_size
        finally:
            os.close(fd)
    except OSError as err:
        hint = "free some disk space" if err.errno == errno.ENOSPC else "check the directory"
        raise RunWriteError(
            f"cannot append to {path}: {_reason(err)}; the last checkpoint is intact: "
            f"{hint}, then resume with --resume {run_dir}"
        ) from None


def append_run_file(run_dir: str | Path, name: str, data: bytes) -> int:
    """Append `data` to RUN_DIR/name in one write, fsynced; returns the file's new size.

    Never follows a symlink (O_NOFOLLOW) and appends only to a regular file (never a FIFO or
    a device, which O_NONBLOCK keeps from hanging the open). Minimal until tui_rnn/safeio.py
    (the hardening work) provides the shared writer with this contract.
    """
    path = Path(run_dir) / name
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0), 0o644)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise RunWriteError(
                f"{path} is a symbolic link: tui-rnn never writes through one"
            ) from None
        if err.errno == errno.ENXIO:  # a FIFO with no reader (O_NONBLOCK)
            raise RunWriteError(f"{path} is not a regular file: remove it or rename it") from None
        raise RunWriteError(f"cannot append to {path}: {_reason(err)}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RunWriteError(f"{path} is not a regular file: remove it or rename it")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        return os.fstat(fd).st_size
    except OSError as err:
        hint = "free some disk space" if err.errno == errno.ENOSPC else "check the directory"
        raise RunWriteError(f"cannot append to {path}: {_reason(err)}; {hint}") from None
    finally:
        os.close(fd)


def truncate_samples(run_dir: str | Path, size: int) -> None:
    """Cut samples.txt back to `size` bytes: what the checkpoint being resumed accounts for."""
    path = Path(run_dir) / SAMPLES_FILE
    try:
        if path.exists() and path.stat().st_size > size:
            os.truncate(path, size)
    except OSError as err:
        raise RunWriteError(f"cannot truncate {path}: {_reason(err)}") from None


def read_samples_text(run_dir: str | Path, upto: int | None = None) -> str:
    """samples.txt as text, its first `upto` bytes if given (a checkpoint's samples_bytes)."""
    path = Path(run_dir) / SAMPLES_FILE
    try:
        with open(path, "rb") as f:
            raw = f.read() if upto is None else f.read(upto)
    except FileNotFoundError:
        return ""
    except OSError as err:
        raise RunError(f"cannot read {path}: {_reason(err)}") from None
    return raw.decode("utf-8", errors="replace")


def parse_samples(text: str) -> list[Sample]:
    """Samples from samples.txt text (a generated line that looks exactly like a header would
    fool it; only the in-memory sample log is built from this, never the checkpoint)."""
    headers = list(_SAMPLE_HEADER.finditer(text))
    samples = []
    for i, match in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        body = text[match.end() : end]
        if not body.endswith("\n\n"):
            continue  # a torn last record
        try:
            smooth = float(match.group(3))
        except ValueError:
            continue
        samples.append(Sample(int(match.group(2)), smooth, body[:-2], best=bool(match.group(1))))
    return samples


def read_samples(run_dir: str | Path, limit: int | None = 200, tail_bytes: int = 1 << 20):
    """The last `limit` samples of a run, parsed from (the tail of) samples.txt."""
    path = Path(run_dir) / SAMPLES_FILE
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - tail_bytes))
            raw = f.read()
    except OSError:
        return []
    samples = parse_samples(raw.decode("utf-8", errors="replace"))
    return samples if limit is None else samples[-limit:]
