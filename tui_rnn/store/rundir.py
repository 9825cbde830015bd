"""A run's directory: its file names, making a new one, its lock, and finding runs.

Every other store module works inside a directory this one has checked: a new run's is made
and proved writable before anything is written, one holding a run is never overwritten, and
only the process holding the lock (flock, dropped by the kernel even on kill -9) writes.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from datetime import datetime
from pathlib import Path

from tui_rnn.safe import files
from tui_rnn.safe.files import RunError, RunWriteError

SCHEMA_VERSION = 2  # of config.json and of checkpoints; schema 1 runs are read and upgraded

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.npz"
PREVIOUS_CHECKPOINT_FILE = "checkpoint.prev.npz"
SAMPLES_FILE = "samples.txt"
LOCK_FILE = ".lock"
LIVE_FILE = "live.bin"  # what the trainer publishes for viewers (store/live.py); not the run
RUN_FILES = (
    CONFIG_FILE,
    CHECKPOINT_FILE,
    PREVIOUS_CHECKPOINT_FILE,
    SAMPLES_FILE,
    LOCK_FILE,
    LIVE_FILE,
)


# -- run directory -------------------------------------------------------------------------------
def _directory_state(path: Path, what: str) -> bool:
    """True if `path` is a directory, False if it does not exist; RunError for anything else
    (a file, a symbolic link loop, a name too long, a directory we may not enter)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return False
    except OSError as err:
        if err.errno == errno.ENOTDIR:
            raise RunError(f"{path}: a component of the path is a file: check the {what}") from None
        raise RunError(f"{path}: {files.describe(err)}: check the {what}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise RunError(f"{path} is a file, not a directory: give the {what}")
    return True


def require_run_directory(run_dir: Path) -> None:
    """RunError unless `run_dir` is a directory (one line saying what it is instead)."""
    if not _directory_state(run_dir, "run directory"):
        raise RunError(f"run directory {run_dir} does not exist: check the path")


def new_run_dir(base: str | Path = "runs") -> Path:
    base = Path(base)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for suffix in [""] + [f"-{i}" for i in range(1, 1000)]:
        candidate = base / f"{stamp}{suffix}"
        try:
            os.lstat(candidate)
        except FileNotFoundError:
            return candidate
        except OSError as err:
            raise RunError(
                f"cannot look in {base}: {files.describe(err)}; choose a --run-dir"
            ) from None
    raise RunError(f"cannot find a free run directory name under {base}")


def prepare_run_dir(run_dir: str | Path) -> Path:
    """Create the directory of a new run and prove we can write in it (os.access lies to root).

    A directory that already holds a run is refused; one whose run never saved a checkpoint
    (killed before its first save) may be used afresh (see refuse_existing_run).
    """
    run_dir = Path(run_dir)
    if _directory_state(run_dir, "--run-dir"):
        refuse_existing_run(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe_fd, probe = tempfile.mkstemp(prefix=".probe.", dir=run_dir)
        os.close(probe_fd)
        os.unlink(probe)
    except OSError as err:
        raise RunWriteError(
            f"cannot write in run directory {run_dir}: {files.describe(err)}; choose another "
            "--run-dir"
        ) from None
    return run_dir


def refuse_existing_run(run_dir: str | Path) -> None:
    """Refuse to start a new run in a directory holding one. A run that never saved a
    checkpoint holds nothing to lose and may be started afresh; samples without any checkpoint
    are named with what to delete."""
    run_dir = Path(run_dir)
    check_run_files(run_dir)
    for name in (CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE):
        if files.file_size(run_dir / name) is not None:
            raise RunError(
                f"{run_dir} already holds a run ({name}): continue it with --resume {run_dir} "
                "or choose another --run-dir"
            )
    if files.file_size(run_dir / SAMPLES_FILE):
        raise RunError(
            f"{run_dir} holds samples of a run but no checkpoint: to start afresh there, delete "
            f"{run_dir / SAMPLES_FILE} and {run_dir / CONFIG_FILE}; or choose another --run-dir"
        )


def abandon_new_run(run_dir: str | Path) -> None:
    """Undo a new run whose first checkpoint could not be written: no config.json without a
    checkpoint is left behind (the lock is released; the directory stays)."""
    run_dir = Path(run_dir)
    try:
        if files.file_size(run_dir / CHECKPOINT_FILE) is None:
            files.unlink_quietly(run_dir / CONFIG_FILE)
    except RunError:  # called while another error is on its way out: never replace it
        pass
    finally:
        unlock_run(run_dir)


def remove_temporaries(run_dir: str | Path) -> None:
    """Delete temporary files a killed writer left behind (only while holding the run's lock)."""
    for pattern in (".checkpoint.*.tmp", ".prev.*.tmp", f".{CONFIG_FILE}.*.tmp", ".probe.*"):
        for path in Path(run_dir).glob(pattern):
            files.unlink_quietly(path)


def check_run_files(run_dir: str | Path) -> None:
    """Refuse a run any of whose files is a symbolic link, a named pipe or a device (one line
    naming it): a writer must never write through one."""
    for name in RUN_FILES:
        files.check_regular_or_missing(Path(run_dir) / name)


# -- locking: one writer per run -----------------------------------------------------------------
_held_locks: dict[Path, int] = {}


def lock_run(run_dir: str | Path) -> None:
    """Take the run's lock for this process (idempotent); refuse if another process holds it,
    or if any file of the run is not a regular file.

    The kernel drops the lock when the process dies, even by kill -9.
    """
    key = Path(run_dir).resolve()
    if key in _held_locks:
        return
    try:
        fd = files.open_lock(key / LOCK_FILE)
    except files.LockHeld as held:
        raise RunError(
            f"{run_dir} is open in another tui-rnn process (pid {held.holder}): close it "
            "there first (quit the app or stop the training), then try again"
        ) from None
    _held_locks[key] = fd
    try:
        check_run_files(key)
    except BaseException:
        unlock_run(key)
        raise
    remove_temporaries(key)


def unlock_run(run_dir: str | Path) -> None:
    fd = _held_locks.pop(Path(run_dir).resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


def holds_lock(run_dir: str | Path) -> bool:
    """Whether this process holds the run's lock."""
    return Path(run_dir).resolve() in _held_locks


def lock_holder(run_dir: str | Path) -> str | None:
    """The pid of another process holding the run's lock ("?" if it wrote none), or None. Never
    takes the lock, never waits, never writes (files.lock_holder); this process's own lock is
    never probed (see holds_lock)."""
    if holds_lock(run_dir):
        return None
    return files.lock_holder(Path(run_dir) / LOCK_FILE)


# -- finding runs: `latest` ----------------------------------------------------------------------
LATEST = "latest"
RUNS_DIR = "runs"  # where new runs go (runs/<timestamp>), relative to the working directory


def run_updated(run_dir: str | Path) -> float | None:
    """When the run last changed: the newest modification time of its config.json and
    checkpoints (lstat: links never followed), or None if it has none of them (not a run)."""
    times = []
    for name in (CONFIG_FILE, CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE):
        try:
            times.append(os.lstat(Path(run_dir) / name).st_mtime)
        except OSError:
            pass
    return max(times, default=None)


def run_directories(base: str | Path = RUNS_DIR) -> list[Path]:
    """The directories directly under `base` (real directories: a symbolic link is skipped,
    never followed); [] if `base` does not exist, RunError if it is not a directory."""
    base = Path(base)
    if not _directory_state(base, "runs directory"):
        return []
    try:
        with os.scandir(base) as entries:
            return sorted(
                Path(entry.path) for entry in entries if entry.is_dir(follow_symlinks=False)
            )
    except OSError as err:
        raise RunError(f"cannot list {base}: {files.describe(err)}") from None


def resolve_run_dir(text: str | Path, base: str | Path = RUNS_DIR) -> Path:
    """The run directory a user means: `text` itself, or for `latest` (unless a file or
    directory of that name exists: it wins) the most recently updated run under ./runs.
    RunError (one line) when there is none. Every command taking a RUN_DIR calls this."""
    if str(text) != LATEST or os.path.lexists(text):
        return Path(text)
    newest = None
    for run_dir in run_directories(base):
        updated = run_updated(run_dir)
        if updated is not None and (newest is None or (updated, run_dir.name) > newest[:2]):
            newest = (updated, run_dir.name, run_dir)
    if newest is None:
        raise RunError(
            f"there is no run under {base}/ to be {LATEST!r}: train one (tui-rnn train) or give "
            "a run directory"
        )
    return newest[2]
