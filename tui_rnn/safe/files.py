"""The files of a run directory: never through a symbolic link, never a pipe, never torn.

Every file of a run (config.json, the checkpoints, samples.txt, the lock, exports) is opened
through this module, by these rules:

- The last path component is opened with O_NOFOLLOW (a symbolic link is refused, never
  followed) and O_NONBLOCK (opening a named pipe or a device cannot block), then fstat must
  say it is a regular file; only then is O_NONBLOCK cleared and the file used.
- A file written in place (appended, truncated, the lock) must have a single hard link, so
  that no other name's content changes with it.
- Sizes come from fstat of the open file and are checked before anything is allocated.
- Replacing a file is atomic: a temporary file beside it, fsync, os.replace, fsync of the
  directory. A crash at any moment leaves the old file or the new one.

Failures are one line naming the file, the reason and what to do: RunError (a file refused or
unreadable; MissingRunFile when it does not exist) and RunWriteError (a write failed: a full
disk, permissions; what was on disk before is intact).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeVar

try:
    import fcntl
except ImportError:  # not POSIX: no flock, no O_NONBLOCK to clear
    fcntl = None  # type: ignore[assignment]

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


class RunError(ValueError):
    """A run directory or file we cannot use, with a one-line reason and a remedy.

    Raised here, it also carries its parts (`path`, `reason`, `remedy`) so that a caller can
    say the same with a remedy of its own."""

    def __init__(
        self, message: str, path: str | Path | None = None, reason: str = "", remedy: str = ""
    ):
        super().__init__(message)
        self.path, self.reason, self.remedy = path, reason, remedy


class MissingRunFile(RunError):
    """A run file that does not exist (callers decide whether that is an error)."""


class RunWriteError(RunError):
    """Writing into a run failed (full disk, permissions); what was on disk before is intact."""


class OutputError(RunWriteError):
    """Standard output refused what we wrote (a full disk, /dev/full, a dead terminal)."""


class NotRegularFileError(OSError):
    """open_regular found a named pipe, a device, a socket or a directory."""


class LockHeld(Exception):
    """Another process holds the lock; `holder` is the pid it wrote (or "?")."""

    def __init__(self, holder: str):
        super().__init__(holder)
        self.holder = holder


def _file_mode() -> int:
    """rw for everyone the umask allows (mkstemp's files are private; a run is for sharing)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _file_mode()

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


_LINK = "a symbolic link, which tui-rnn never follows"
_REASONS = {
    errno.ENOENT: "it does not exist",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENAMETOOLONG: "a name in the path is too long",
    errno.ENOTDIR: "a component of the path is not a directory",
    errno.ENOSPC: "No space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EISDIR: "it is a directory",
    errno.EIO: "input/output error",
}


def describe(err: OSError) -> str:
    """A short reason for an OSError ("permission denied", "a symbolic link loop ...")."""
    if isinstance(err, NotRegularFileError):
        return err.strerror or str(err)
    if err.errno == errno.ELOOP:
        return _LINK if err.strerror == _LINK else "a symbolic link loop"
    known = _REASONS.get(err.errno) if err.errno is not None else None
    return known or err.strerror or str(err)


def _remedy(err: OSError) -> str:
    if err.errno == errno.ELOOP and err.strerror == _LINK:
        return "replace it with the file it points to, or remove it"
    if isinstance(err, NotRegularFileError):
        return "tui-rnn uses only regular files in a run directory: remove it"
    if err.errno == errno.ELOOP:
        return "fix or remove the link"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "check its permissions and those of its directories"
    if err.errno == errno.ENAMETOOLONG:
        return "use a shorter path"
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free some disk space"
    return "check the path"


_Error = TypeVar("_Error", bound=RunError)


def _failure(kind: type[_Error], path: str | Path, err: OSError, what: str = "") -> _Error:
    """`[what ]path: reason; remedy` as an error of `kind` carrying its parts."""
    reason, remedy = describe(err), _remedy(err)
    return kind(f"{what}{path}: {reason}; {remedy}", path, reason, remedy)


def _refused(path: str | Path, err: OSError, what: str = "") -> RunError:
    return _failure(RunError, path, err, what)


def open_regular(
    path: str | Path, flags: int = os.O_RDONLY, mode: int = 0o666, follow_symlinks: bool = False
) -> int:
    """Open `path` and return its descriptor, refusing anything but a regular file.

    O_NONBLOCK makes opening a named pipe return at once (fstat then refuses it); it is cleared
    before the descriptor is returned. Without follow_symlinks a final symbolic link is refused
    (OSError ELOOP, strerror "a symbolic link ..."). A non-regular file raises
    NotRegularFileError. Other failures are the OSError of open(2).
    """
    extra = _O_NONBLOCK | _O_BINARY | (0 if follow_symlinks else _O_NOFOLLOW)
    try:
        fd = os.open(path, flags | extra, mode)
    except OSError as err:
        # ELOOP / EMLINK: O_NOFOLLOW met a link; ENXIO: a pipe without a reader (write-only);
        # EISDIR: a directory opened for writing.
        if err.errno in (errno.ELOOP, errno.EMLINK, errno.ENXIO, errno.EISDIR):
            _explain_refused_open(path, err, follow_symlinks)
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError(
                errno.EINVAL, f"{_kind(info.st_mode)}, not a regular file", str(path)
            )
        if _O_NONBLOCK and fcntl is not None:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _explain_refused_open(path: str | Path, err: OSError, follow_symlinks: bool) -> None:
    """Turn the errno of a refused open into what the file is (a link, a pipe ...)."""
    try:
        info = os.lstat(path)
    except OSError:
        return
    link = stat.S_ISLNK(info.st_mode)
    if link and not follow_symlinks and err.errno in (errno.ELOOP, errno.EMLINK):
        raise OSError(errno.ELOOP, _LINK, str(path)) from None
    if not link and not stat.S_ISREG(info.st_mode):
        raise NotRegularFileError(
            errno.EINVAL, f"{_kind(info.st_mode)}, not a regular file", str(path)
        ) from None


def _open_run_file(path: str | Path, flags: int, write: bool = False) -> int:
    """open_regular for a run file, failures as RunError; in-place writes need one hard link."""
    try:
        fd = open_regular(path, flags, FILE_MODE)
    except FileNotFoundError as err:
        raise MissingRunFile(
            f"{path} does not exist", path, describe(err), "check the path"
        ) from None
    except OSError as err:
        if write and err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _failure(RunWriteError, path, err) from None
        raise _refused(path, err) from None
    if write and os.fstat(fd).st_nlink > 1:
        os.close(fd)
        reason = "it has other hard links, so writing it would change another file"
        remedy = "replace it with a copy of its own"
        raise RunError(f"{path}: {reason}; {remedy}", path, reason, remedy)
    return fd


# -- reading -------------------------------------------------------------------------------------
def read_file(path: str | Path, limit: int) -> bytes:
    """The whole of a regular file, refused (RunError) if it is larger than `limit` bytes.

    The size is taken from fstat before anything is allocated; MissingRunFile if it is absent.
    """
    fd = _open_run_file(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            reason = f"{size:,} bytes, more than the {limit:,} tui-rnn writes there"
            remedy = "it is not a file tui-rnn wrote"
            raise RunError(f"{path} is {reason}: {remedy}", path, reason, remedy)
        chunks, total = [], 0
        while total <= limit:  # the file may grow while we read: never past the limit
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise RunError(f"{path} grew past {limit:,} bytes while being read: try again")
        return b"".join(chunks)
    except OSError as err:
        raise _refused(path, err, what="cannot read ") from None
    finally:
        os.close(fd)


def open_read(path: str | Path) -> BinaryIO:
    """A checked regular file, open for binary reading (close it; it is a context manager)."""
    return os.fdopen(_open_run_file(path, os.O_RDONLY), "rb")


def file_size(path: str | Path) -> int | None:
    """The size of a regular file (lstat: a link is refused, not followed); None if missing."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise _refused(path, err) from None
    if stat.S_ISLNK(info.st_mode):
        raise _refused(path, OSError(errno.ELOOP, _LINK, str(path)))
    if not stat.S_ISREG(info.st_mode):
        reason = f"{_kind(info.st_mode)}, not a regular file"
        raise _refused(path, NotRegularFileError(errno.EINVAL, reason, str(path)))
    return info.st_size


def check_regular_or_missing(path: str | Path) -> None:
    """Refuse (RunError) a path that exists and is not a regular file; links are not followed."""
    file_size(path)


# -- output streams ------------------------------------------------------------------------------
def write_output(stream: IO[Any], data: str | bytes, name: str = "standard output") -> None:
    """Write `data` to an output stream (stdout, or its binary buffer) and flush it.

    A failure (a full disk, /dev/full, a closed terminal) raises OutputError with one line.
    BrokenPipeError passes through: a reader that stopped early (`| head`) is not an error.
    Text from a corpus or a model must have gone through safe.text on a terminal first.
    """
    try:
        stream.write(data)
        stream.flush()
    except BrokenPipeError:
        raise
    except OSError as err:
        reason = describe(err)
        raise OutputError(f"cannot write to {name}: {reason}", name, reason) from None


# -- writing -------------------------------------------------------------------------------------
def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_error(path: str | Path, err: OSError, what: str = "write") -> RunWriteError:
    return _failure(RunWriteError, path, err, f"cannot {what} ")


def fsync_directory(path: str | Path) -> None:
    """Make a rename in `path` durable (best effort: some file systems refuse)."""
    try:
        fd = os.open(path, os.O_RDONLY | _O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def unlink_quietly(path: str | Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def atomic_write(
    path: str | Path,
    write: Callable[[BinaryIO], object],
    keep_previous: str | Path | None = None,
) -> Path:
    """Call write(file) on a temporary file beside `path`, fsync it, then rename it over `path`.

    A crash at any moment leaves either the old file or the new one, never a torn mix. An
    existing `path` that is not a regular file (a link, a pipe, a directory) is refused, never
    replaced. With `keep_previous`, the old `path` (if any) first becomes that file (a hard link
    renamed into place, or a copy), so a crash leaves both. Raises RunWriteError (the temporary
    file removed) when the directory is unwritable or full, RunError for a refused destination.
    """
    path = Path(path)
    check_regular_or_missing(path)
    if keep_previous is not None:
        check_regular_or_missing(keep_previous)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):  # POSIX: mkstemp's 0o600 would make a run private
                os.fchmod(f.fileno(), FILE_MODE)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous is not None and file_size(path) is not None:
            _keep_previous(path, Path(keep_previous))
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None:
            unlink_quietly(tmp)
        raise _write_error(path, err) from None
    except BaseException:
        if tmp is not None:
            unlink_quietly(tmp)
        raise
    fsync_directory(path.parent)
    return path


def _keep_previous(path: Path, previous: Path) -> None:
    """Make `previous` a copy of regular file `path` atomically: a hard link renamed into place
    (or, on file systems without hard links, a copy)."""
    link = previous.parent / f".{previous.name}.{secrets.token_hex(6)}.tmp"
    try:
        os.link(path, link, follow_symlinks=False)
    except OSError:  # no hard links here: copy (costs one more write)
        with open_read(path) as source:
            fd = os.open(link, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW, FILE_MODE)
            with os.fdopen(fd, "wb") as f:
                while chunk := source.read(1 << 20):
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
    try:
        os.replace(link, previous)
    except BaseException:
        unlink_quietly(link)
        raise


def append(path: str | Path, data: bytes) -> int:
    """Append `data` in one write (O_APPEND), fsynced; create the file if needed. Returns the
    file's new size. A kill in the middle leaves at worst a torn last record."""
    fd = _open_run_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, write=True)
    try:
        _write_all(fd, data)
        os.fsync(fd)
        return os.fstat(fd).st_size
    except OSError as err:
        raise _write_error(path, err, "append to") from None
    finally:
        os.close(fd)


def open_append(path: str | Path) -> int:
    """A descriptor appending to the regular file `path` (created if missing, one hard link),
    for a file written many times by one process (append_through; close it when done)."""
    return _open_run_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, write=True)


def append_through(fd: int, data: bytes, path: str | Path) -> int:
    """Append `data` through `fd` (from open_append), without fsync: for a file that is a view,
    not a record to recover from. Returns the file's new size. When the write fails the file
    is cut back to what it held before (no torn record left for readers to stop at) and
    RunWriteError raised."""
    try:
        before = os.fstat(fd).st_size
    except OSError as err:
        raise _write_error(path, err, "append to") from None
    try:
        _write_all(fd, data)
        return before + len(data)
    except OSError as err:
        try:
            os.ftruncate(fd, before)
        except OSError:
            pass
        raise _write_error(path, err, "append to") from None


def _run_file_path(run_dir: str | Path, name: str) -> Path:
    if not name or name in (".", "..") or os.path.basename(name) != name:
        raise ValueError(f"{name!r} is not a file name of a run directory")
    return Path(run_dir) / name


def append_run_file(run_dir: str | Path, name: str, data: bytes) -> int:
    """Append `data` to the run's file `name` (e.g. generated.txt); returns its new size."""
    return append(_run_file_path(run_dir, name), data)


def truncate(path: str | Path, size: int) -> None:
    """Cut a regular file down to `size` bytes (never grow it; a missing file is left missing),
    through a descriptor opened without following links: never os.truncate(path)."""
    try:
        fd = _open_run_file(path, os.O_WRONLY, write=True)
    except MissingRunFile:
        return
    try:
        if os.fstat(fd).st_size > size:
            os.ftruncate(fd, size)
            os.fsync(fd)
    except OSError as err:
        raise _write_error(path, err, "truncate") from None
    finally:
        os.close(fd)


def open_lock(path: str | Path) -> int:
    """Create or open the lock file, take its flock and write our pid into it; returns the
    descriptor (closing it releases the lock; the kernel drops it when the process dies, even
    by kill -9). Raises LockHeld when another process holds it, RunError when the file is
    refused. Without flock (not POSIX) the file is opened but nothing is locked."""
    fd = _open_run_file(path, os.O_RDWR | os.O_CREAT, write=True)
    if fcntl is None:  # not POSIX: no locking
        return fd
    for attempt in range(_LOCK_ATTEMPTS):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if attempt == _LOCK_ATTEMPTS - 1:
                holder = _holder(fd)
                os.close(fd)
                raise LockHeld(holder) from None
            time.sleep(_LOCK_RETRY)  # perhaps only lock_holder's probe: it lets go at once
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError as err:
        os.close(fd)
        raise _write_error(path, err) from None
    return fd


# A lock another process holds is refused after this many tries, _LOCK_RETRY seconds apart
# (half a second in all): a probe by lock_holder (`tui-rnn runs` in another terminal) holds a
# shared lock for microseconds, and must never make a trainer that starts at that moment give
# up, even against probes in a tight loop.
_LOCK_ATTEMPTS = 50
_LOCK_RETRY = 0.01


def _holder(fd: int) -> str:
    """The pid the lock's holder wrote into the file (digits only), or "?"."""
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 32).decode("ascii", "replace").strip()
    return text if text.isdigit() else "?"


def lock_holder(path: str | Path) -> str | None:
    """The pid written in a lock file that another process holds ("?" if unreadable), or None
    when nobody holds it (or it does not exist).

    Never disturbs the holder: a descriptor of our own, read-only (never a link, never a pipe),
    asks for a *shared* lock without waiting. Held by someone, that is refused at once; free, it
    is granted and released at once by closing the descriptor (open_lock retries over that
    instant). Nothing is written. Never call it on a lock this process holds: where flock is
    emulated by POSIX locks (NFS), closing any descriptor of the file would drop ours."""
    try:
        fd = open_regular(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise _refused(path, err) from None
    try:
        if fcntl is None:  # not POSIX: no locking
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _holder(fd)
        return None
    finally:
        os.close(fd)  # releases the shared lock if it was granted
