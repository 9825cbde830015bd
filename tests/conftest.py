"""Shared fixtures: small generated corpora (tests never read ../shared/data) and tiny configs."""

from __future__ import annotations

import tui_rnn  # noqa: F401  first: it pins OpenBLAS's kernels before NumPy loads (tui_rnn/blas.py)

# isort: split
import io

import numpy as np
import pytest

_WORDS = (
    "the of and to a in that is was he for it with as his on be at by had not are but from or "
    "have an they which one you were her all she there would their we him been has when who "
    "will more no if out so said what up its about into than them can only other new some could "
    "time these two may then do first any my now such like our over man me even most made after"
).split()


def make_text(n_chars: int = 20_000, seed: int = 0) -> str:
    """Deterministic English-like text: words from a fixed list, sentences, lines, paragraphs."""
    rng = np.random.default_rng(seed)
    pieces, size = [], 0
    while size < n_chars:
        words = [str(w) for w in rng.choice(_WORDS, size=int(rng.integers(4, 12)))]
        sentence = " ".join(words).capitalize() + rng.choice([". ", "? ", ", ", ".\n", ".\n\n"])
        pieces.append(sentence)
        size += len(sentence)
    return "".join(pieces)[:n_chars]


@pytest.fixture(scope="session")
def small_text() -> str:
    """About 20k characters of English-like text (a few dozen distinct characters)."""
    return make_text(20_000)


@pytest.fixture
def small_corpus_file(tmp_path, small_text):
    """A UTF-8 file holding `small_text`; returns its path."""
    path = tmp_path / "corpus.txt"
    path.write_text(small_text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def small_corpus(small_text):
    from tui_rnn.training.corpus import from_text

    return from_text(small_text, name="small")


@pytest.fixture
def tiny_config():
    """A model small enough to train a few hundred updates in well under a second."""
    from tui_rnn.training.options import TrainConfig

    return TrainConfig(hidden_size=16, seq_length=10, seed=0, sample_every=50, sample_length=30)


@pytest.fixture(scope="session")
def interop_runs(tmp_path_factory):
    """Small trained runs of every cell, shared by the interop tests (interop_support.py)."""
    from interop_support import make_runs

    return make_runs(tmp_path_factory.mktemp("interop"))


def trained_once(base, make) -> None:
    """Call make() with `base` as the working directory (runs trained once for a module, then
    copied into each test's directory with copy_runs: relative names, as a user types them)."""
    import os

    here = os.getcwd()
    os.chdir(base)
    try:
        make()
    finally:
        os.chdir(here)


def copy_runs(template, dest) -> None:
    """Copy `template`'s corpus.txt and runs/ into `dest` (links copied as links)."""
    import shutil
    from pathlib import Path

    shutil.copy2(Path(template) / "corpus.txt", Path(dest) / "corpus.txt")
    shutil.copytree(Path(template) / "runs", Path(dest) / "runs", symlinks=True)


def fails(argv, capsys) -> str:
    """Run the CLI in-process: it must fail with exactly one line on stderr and exit code 2."""
    from tui_rnn.cli import main

    capsys.readouterr()
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tui-rnn: error: ")
    return lines[0]


def files_outside(root, run_dir) -> dict:
    """{path: bytes} of every regular file under `root` but outside `run_dir` (links not
    followed): compare before and after to prove a command wrote nothing outside its run."""
    import os
    import stat
    from pathlib import Path

    root, run_dir = Path(root), Path(run_dir)
    found = {}
    for folder, dirs, names in os.walk(root):
        if Path(folder) == run_dir:
            dirs[:] = []
            continue
        for name in names:
            path = Path(folder) / name
            if stat.S_ISREG(os.lstat(path).st_mode):
                found[path] = path.read_bytes()
    return found


# -- hand-made archives: what a hostile or damaged checkpoint can look like ---------------------
def npy_bytes(descr: str, shape: tuple, data: bytes = b"", fortran_order: bool = False) -> bytes:
    """A version 1.0 .npy file as np.save writes it (header padded to 64 bytes), any shape."""
    import struct

    header = f"{{'descr': {descr!r}, 'fortran_order': {fortran_order}, 'shape': {shape!r}, }}"
    pad = -(10 + len(header) + 1) % 64
    header = (header + " " * pad + "\n").encode("latin-1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def write_zip(path, members) -> None:
    """A zip archive from (name, stored bytes, method, declared size, crc or None) tuples: any
    declared size or compression method, whatever the bytes are (zipfile would not lie). A
    stored member (method 0) declares `size` as both its sizes."""
    import struct
    import zlib

    local, central = bytearray(), bytearray()
    for name, data, method, size, crc in members:
        name_bytes = name.encode()
        crc = zlib.crc32(data) if crc is None else crc
        offset = len(local)
        stored = size if method == 0 else len(data)
        local += struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, stored, size,
            len(name_bytes), 0,
        ) + name_bytes + data  # fmt: skip
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, stored, size,
            len(name_bytes), 0, 0, 0, 0, 0, offset,
        ) + name_bytes  # fmt: skip
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(local), 0
    )
    with open(path, "wb") as f:
        f.write(bytes(local + central + end))


def zip_members(path) -> list:
    """The members of a (stored) .npz as write_zip tuples, to rebuild it with changes."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i), 0, i.file_size, None) for i in z.infolist()]


@pytest.fixture
def no_hang():
    """Fail (instead of hanging the suite) if the test blocks for 20 s, e.g. opening a named
    pipe or livelocking."""
    import signal

    class Blocked(BaseException):  # not an OSError: code under test must not swallow it
        pass

    def on_alarm(signum, frame):
        raise Blocked("blocked for 20 s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def run_unprivileged(function) -> tuple[int, str]:
    """Call function() (returning an exit code) in a forked child that runs as `nobody` when we
    are root (CI is: EACCES can never happen to root), as ourselves otherwise; returns
    (exit code, what it wrote to stderr)."""
    import os
    import sys
    import traceback

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 99
        try:
            os.close(read_end)
            sys.stderr = os.fdopen(write_end, "w")
            sys.stdout = open(os.devnull, "w")
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            code = function()
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                sys.stderr.flush()
            finally:
                os._exit(code)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as f:
        while chunk := f.read(65536):
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", "replace")


# -- a terminal in-process ------------------------------------------------------------------------
class Terminal(io.StringIO):
    """A text stream that says it is a terminal (as a pty's is)."""

    def isatty(self) -> bool:
        return True

    @property
    def buffer(self):  # `export --output -` writes bytes
        return _TerminalBytes(self)


class _TerminalBytes:
    def __init__(self, text):
        self.text = text

    def write(self, data: bytes) -> int:
        return self.text.write(data.decode("utf-8"))

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


def run_on_pty(argv, env=None, timeout: float = 30) -> tuple[int, str, bytes]:
    """Run a command with its standard output on a real pseudo-terminal; returns (exit code,
    what the terminal received with the driver's \\r\\n made \\n again, stderr)."""
    import os
    import pty
    import select
    import subprocess

    main_fd, terminal_fd = pty.openpty()
    process = subprocess.Popen(argv, stdout=terminal_fd, stderr=subprocess.PIPE, env=env)
    os.close(terminal_fd)
    shown = b""
    while select.select([main_fd], [], [], timeout)[0]:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:  # the other end closed (EIO)
            break
        if not chunk:
            break
        shown += chunk
    os.close(main_fd)
    code = process.wait(timeout=timeout)
    return code, shown.decode("utf-8").replace("\r\n", "\n"), process.stderr.read()


# -- app sessions ---------------------------------------------------------------------------------
def make_session(run_dir, corpus, config, target: int, save_every: float = 10.0, **extra):
    """A TrainingSession of a new run (made at its first save) for Pilot tests."""
    from tui_rnn.app import TrainingSession
    from tui_rnn.driver import Run
    from tui_rnn.training.trainer import Trainer

    trainer = Trainer(corpus.data, corpus.chars, config)
    return TrainingSession(
        Run.new(trainer, corpus, run_dir, target, save_every=save_every, **extra)
    )


@pytest.fixture
def session_factory(tmp_path, small_corpus, tiny_config):
    """session_factory(target, name, corpus=..., **config changes): a new session."""
    from dataclasses import replace

    def factory(target=300, name="run", corpus=small_corpus, **config_changes):
        config = replace(tiny_config, **config_changes)
        return make_session(tmp_path / name, corpus, config, target)

    return factory


@pytest.fixture
def snap_compare(snap_compare):
    """The plugin's snap_compare with every text cursor steady: a blinking cursor is drawn or
    not by the clock, and a loaded machine would catch it either way."""

    def compare(app, *args, run_before=None, **kwargs):
        async def steady_cursors(pilot):
            if run_before is not None:
                await run_before(pilot)
            for widget in pilot.app.screen.query("Input, TextArea"):
                widget.cursor_blink = False
            await pilot.pause()

        return snap_compare(app, *args, run_before=steady_cursors, **kwargs)

    return compare
