"""The file layer of run directories: no link followed, no pipe opened, sizes checked first,
atomic replacement, one-line errors."""

from __future__ import annotations

import errno
import os
import tracemalloc

import pytest
from conftest import run_unprivileged

from tui_rnn.safe import files
from tui_rnn.safe.files import MissingRunFile, RunError, RunWriteError

VICTIM = bytes(range(200)) * 10  # 2,000 bytes somewhere outside the run


@pytest.fixture
def run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    victim = tmp_path / "victim.bin"
    victim.write_bytes(VICTIM)
    return run


def victim_intact(run) -> bool:
    return (run.parent / "victim.bin").read_bytes() == VICTIM


def link(run, name):
    (run / name).symlink_to(run.parent / "victim.bin")
    return run / name


def fifo(run, name):
    os.mkfifo(run / name)
    return run / name


OPERATIONS = {
    "read_file": lambda path: files.read_file(path, 1 << 20),
    "open_read": lambda path: files.open_read(path).close(),
    "file_size": files.file_size,
    "append": lambda path: files.append(path, b"more"),
    "truncate": lambda path: files.truncate(path, 6),
    "open_lock": lambda path: os.close(files.open_lock(path)),
    "atomic_write": lambda path: files.atomic_write(path, lambda f: f.write(b"new")),
}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_link_is_refused_never_followed(run, operation):
    path = link(run, "file")
    with pytest.raises(RunError, match="symbolic link") as refused:
        OPERATIONS[operation](path)
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)
    assert victim_intact(run) and path.is_symlink()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_named_pipe_is_refused_without_blocking(run, operation, no_hang):
    path = fifo(run, "file")
    with pytest.raises(RunError, match="named pipe"):
        OPERATIONS[operation](path)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_directory_is_refused(run, operation):
    (run / "file").mkdir()
    with pytest.raises(RunError, match="directory"):
        OPERATIONS[operation](run / "file")


@pytest.mark.parametrize("operation", ["append", "truncate", "open_lock"])
def test_in_place_writes_refuse_a_file_with_other_hard_links(run, operation):
    os.link(run.parent / "victim.bin", run / "file")
    with pytest.raises(RunError, match="hard links"):
        OPERATIONS[operation](run / "file")
    assert victim_intact(run)


def test_a_dangling_link_is_not_created_through(run):
    (run / "samples.txt").symlink_to(run.parent / "created-elsewhere.txt")
    with pytest.raises(RunError, match="symbolic link"):
        files.append(run / "samples.txt", b"x")
    assert not (run.parent / "created-elsewhere.txt").exists()


def test_the_size_is_checked_before_anything_is_allocated(run):
    path = run / "sparse"
    with open(path, "wb") as f:
        f.truncate(1 << 30)  # 1 GiB, sparse: costs no disk
    tracemalloc.start()
    with pytest.raises(RunError, match="1,073,741,824 bytes"):
        files.read_file(path, 1 << 20)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20


def test_reading_writing_appending_truncating(run):
    path = run / "samples.txt"
    assert files.file_size(path) is None
    with pytest.raises(MissingRunFile):
        files.read_file(path, 100)
    files.truncate(path, 0)  # a missing file stays missing
    assert not path.exists()
    assert files.append(path, b"hello ") == 6
    assert files.append_run_file(run, "samples.txt", b"world") == 11
    assert files.read_file(path, 11) == b"hello world"
    with pytest.raises(RunError, match="more than the 10"):
        files.read_file(path, 10)
    files.truncate(path, 20)  # never grows
    files.truncate(path, 5)
    assert path.read_bytes() == b"hello"
    with files.open_read(path) as f:
        assert f.read() == b"hello"
    assert files.file_size(path) == 5


@pytest.mark.parametrize("name", ["", ".", "..", "../escape.txt", "a/b.txt", "/etc/passwd"])
def test_append_run_file_takes_only_a_plain_name(run, name):
    with pytest.raises(ValueError):
        files.append_run_file(run, name, b"x")
    assert not (run.parent / "escape.txt").exists()


def test_atomic_write_keeps_the_previous_file_and_leaves_no_temporaries(run):
    path, previous = run / "checkpoint.npz", run / "checkpoint.prev.npz"
    files.atomic_write(path, lambda f: f.write(b"one"), keep_previous=previous)
    assert path.read_bytes() == b"one" and not previous.exists()
    files.atomic_write(path, lambda f: f.write(b"two"), keep_previous=previous)
    assert path.read_bytes() == b"two" and previous.read_bytes() == b"one"
    assert os.stat(path).st_nlink == 1 and os.stat(previous).st_nlink == 1
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.npz", "checkpoint.prev.npz"]


def test_atomic_write_refuses_a_linked_previous_file(run):
    path = run / "checkpoint.npz"
    path.write_bytes(b"one")
    link(run, "checkpoint.prev.npz")
    with pytest.raises(RunError, match="checkpoint.prev.npz.*symbolic link"):
        files.atomic_write(
            path, lambda f: f.write(b"two"), keep_previous=run / "checkpoint.prev.npz"
        )
    assert path.read_bytes() == b"one" and victim_intact(run)


def test_a_failed_write_is_one_line_and_leaves_the_old_file(run):
    path = run / "config.json"
    path.write_bytes(b"old")

    def full_disk(f):
        f.write(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(RunWriteError, match="No space left on device; free some disk space"):
        files.atomic_write(path, full_disk)
    assert path.read_bytes() == b"old" and os.listdir(run) == ["config.json"]


def test_a_name_too_long_is_one_line(run):
    path = run / ("a" * 300) / "config.json"
    for operation in OPERATIONS.values():
        with pytest.raises(RunError, match="too long"):
            operation(path)


def test_the_lock_is_exclusive_and_names_its_holder(run):
    path = run / ".lock"
    fd = files.open_lock(path)
    try:
        assert path.read_text() == f"{os.getpid()}\n"
        with pytest.raises(files.LockHeld) as held:
            files.open_lock(path)  # another open file description: flock refuses it too
        assert held.value.holder == str(os.getpid())
    finally:
        os.close(fd)
    os.close(files.open_lock(path))  # released with its descriptor


def test_a_file_the_user_cannot_read_is_permission_denied(run):
    path = run / "config.json"
    path.write_bytes(b"{}")
    run.parent.chmod(0o755)
    run.chmod(0o755)
    path.chmod(0o600 if os.geteuid() == 0 else 0o000)

    def read():
        try:
            files.read_file(path, 100)
        except RunError as err:
            print(err, file=__import__("sys").stderr)
            return 2
        return 0

    try:
        code, err = run_unprivileged(read)
    finally:
        path.chmod(0o600)
        run.parent.chmod(0o700)
    assert code == 2 and "permission denied" in err and "config.json" in err
