"""A run directory never reaches outside itself, and a damaged newest checkpoint always falls back.

Every file of a run is opened without following symbolic links and refused unless it is a
regular file (a named pipe would block forever): each case ends in one line, and no byte
outside the run directory changes. Any failure to read the newest checkpoint (a flipped bit, a
lying header, a compressed member, a deflate bomb, a missing or unreadable file) is damage: a
warning, and the previous checkpoint is used.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import fails, files_outside, make_text, npy_bytes, write_zip, zip_members

from tui_rnn.cli import main
from tui_rnn.safe import files
from tui_rnn.store import checkpoint, config, rundir

TINY = ["--hidden", "8", "--seq-length", "10", "--sample-every", "40", "--sample-length", "20"]
RUN_FILES = (
    rundir.LOCK_FILE,
    rundir.SAMPLES_FILE,
    rundir.CONFIG_FILE,
    rundir.CHECKPOINT_FILE,
    rundir.PREVIOUS_CHECKPOINT_FILE,
)


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """A finished run with both checkpoints, samples and a lock file; copied by each test."""
    base = tmp_path_factory.mktemp("base")
    corpus = base / "corpus.txt"
    corpus.write_text(make_text(800, seed=5), encoding="utf-8")
    run = base / "run"
    argv = ["train", corpus, *TINY, "--iterations", "50", "--run-dir", run, "--json"]
    assert main([str(a) for a in argv]) == 0
    assert all((run / name).exists() for name in RUN_FILES)
    return base


@pytest.fixture
def world(tmp_path, base_run):
    """(run_dir, corpus) copied from base_run into tmp_path; tmp_path is 'the world outside'."""
    shutil.copytree(base_run / "run", tmp_path / "run")
    shutil.copy(base_run / "corpus.txt", tmp_path / "corpus.txt")
    # The corpus's recorded path must stay valid: point config.json at the copy.
    document = config.read_config(tmp_path / "run")
    document["corpus"]["path"] = str(tmp_path / "corpus.txt")
    config.write_config_document(tmp_path / "run", document)
    return tmp_path / "run", tmp_path / "corpus.txt"


def link_outside(run: Path, name: str) -> Path:
    """Replace run/name by a symbolic link to a copy of it outside the run (or, for the lock,
    to a 2,000-byte file), so that a command following the link would find what it wants."""
    target = run.parent / "outside" / name
    target.parent.mkdir(exist_ok=True)
    if name == rundir.LOCK_FILE:
        target.write_bytes(bytes(range(200)) * 10)
    else:
        shutil.copy(run / name, target)
    (run / name).unlink()
    (run / name).symlink_to(target)
    return target


def make_fifo(run: Path, name: str) -> None:
    (run / name).unlink(missing_ok=True)
    os.mkfifo(run / name)


WRITERS = {
    "resume": lambda run, corpus: ["train", "--resume", run, "--iterations", "60"],
    "resume with a new eta": lambda run, corpus: [
        "train",
        "--resume",
        run,
        "--iterations",
        "60",
        "--eta",
        "0.05",
    ],  # fmt: skip
}


# -- 1. never follow a link, never open a pipe -------------------------------------------------
@pytest.mark.parametrize("name", RUN_FILES)
@pytest.mark.parametrize("command", WRITERS)
def test_a_run_whose_file_is_a_link_is_refused_and_nothing_outside_changes(
    world, name, command, capsys
):
    run, corpus = world
    link_outside(run, name)
    before = files_outside(run.parent, run)
    line = fails(WRITERS[command](run, corpus), capsys)
    assert name in line and "symbolic link" in line
    assert files_outside(run.parent, run) == before
    assert (run / name).is_symlink()  # refused, not silently replaced


@pytest.mark.parametrize("name", RUN_FILES)
def test_a_run_whose_file_is_a_named_pipe_is_refused(world, name, no_hang, capsys):
    run, corpus = world
    make_fifo(run, name)
    line = fails(WRITERS["resume"](run, corpus), capsys)
    assert name in line and "not a regular file" in line


def test_a_lock_link_in_a_fresh_run_directory_never_truncates_its_target(tmp_path, world, capsys):
    _, corpus = world
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    victim = tmp_path / "victim.bin"
    victim.write_bytes(bytes(range(200)) * 10)  # 2,000 bytes, as in the issue
    (fresh / rundir.LOCK_FILE).symlink_to(victim)
    before = files_outside(tmp_path, fresh)
    line = fails(["train", corpus, *TINY, "--iterations", "5", "--run-dir", fresh], capsys)
    assert ".lock" in line and "symbolic link" in line
    assert files_outside(tmp_path, fresh) == before


READERS = {
    "generate": lambda run: ["generate", run, "--length", "5"],
    "export": lambda run: ["export", run],
    "export json": lambda run: ["export", run, "--format", "json", "--output", "-"],
    "export samples": lambda run: ["export", run, "--samples", "--output", "-"],
}


@pytest.mark.parametrize("kind", ["link", "fifo"])
@pytest.mark.parametrize("command", READERS)
def test_readers_refuse_a_config_that_is_a_link_or_a_pipe(world, kind, command, no_hang, capsys):
    run, _ = world
    if kind == "link":
        link_outside(run, rundir.CONFIG_FILE)
    else:
        make_fifo(run, rundir.CONFIG_FILE)
    before = files_outside(run.parent, run)
    line = fails(READERS[command](run), capsys)
    assert rundir.CONFIG_FILE in line
    assert ("symbolic link" if kind == "link" else "not a regular file") in line
    assert files_outside(run.parent, run) == before


@pytest.mark.parametrize("kind", ["link", "fifo"])
def test_samples_export_refuses_samples_that_are_a_link_or_a_pipe(world, kind, no_hang, capsys):
    run, _ = world
    if kind == "link":
        link_outside(run, rundir.SAMPLES_FILE)
    else:
        make_fifo(run, rundir.SAMPLES_FILE)
    line = fails(READERS["export samples"](run), capsys)
    assert rundir.SAMPLES_FILE in line
    assert ("symbolic link" if kind == "link" else "not a regular file") in line


@pytest.mark.parametrize("kind", ["link", "fifo"])
@pytest.mark.parametrize("command", READERS)
def test_a_newest_checkpoint_that_is_a_link_or_a_pipe_falls_back(
    world, kind, command, no_hang, capsys
):
    run, _ = world
    if kind == "link":
        link_outside(run, rundir.CHECKPOINT_FILE)
    else:
        make_fifo(run, rundir.CHECKPOINT_FILE)
    capsys.readouterr()
    assert main([str(a) for a in READERS[command](run)]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and rundir.CHECKPOINT_FILE in err and "checkpoint.prev.npz" in err


@pytest.mark.parametrize("kind", ["link", "fifo"])
def test_both_checkpoints_links_or_pipes_is_one_line(world, kind, no_hang, capsys):
    run, _ = world
    for name in (rundir.CHECKPOINT_FILE, rundir.PREVIOUS_CHECKPOINT_FILE):
        link_outside(run, name) if kind == "link" else make_fifo(run, name)
    for command in READERS:
        line = fails(READERS[command](run), capsys)
        assert rundir.CHECKPOINT_FILE in line


def test_an_export_never_writes_through_a_link_in_the_run_directory(world, capsys):
    run, _ = world
    target = run.parent / "outside.csv"
    target.write_text("mine\n")
    (run / "loss_history.csv").symlink_to(target)
    line = fails(["export", run], capsys)
    assert "loss_history.csv" in line and "symbolic link" in line
    assert target.read_text() == "mine\n"


def test_an_unstarted_run_with_a_linked_samples_file_is_refused(world, capsys):
    run, corpus = world
    for name in (rundir.CHECKPOINT_FILE, rundir.PREVIOUS_CHECKPOINT_FILE):
        (run / name).unlink()
    link_outside(run, rundir.SAMPLES_FILE)
    before = files_outside(run.parent, run)
    line = fails(["train", corpus, *TINY, "--iterations", "5", "--run-dir", run], capsys)
    assert rundir.SAMPLES_FILE in line
    assert files_outside(run.parent, run) == before


# -- 3. a damaged newest checkpoint always falls back ----------------------------------------
def _npy_header_length_offset(path: Path) -> int:
    raw = path.read_bytes()
    return raw.index(b"\x93NUMPY") + 8


def header_length_one(path: Path) -> None:
    """Byte 68 (the first member's .npy header length) set to 0x01: a tokenize.TokenError."""
    raw = bytearray(path.read_bytes())
    offset = _npy_header_length_offset(path)
    assert offset == 68
    raw[offset] = 0x01
    path.write_bytes(bytes(raw))


def not_an_npy_member(path: Path) -> None:
    members = zip_members(path)
    members.append(("notes.txt", b"hello", 0, 5, None))
    write_zip(path, members)


def an_npy_member_that_is_not_npy(path: Path) -> None:
    members = [
        (
            name,
            b"just some bytes" if name == "state.0.npy" else data,
            0,
            15 if name == "state.0.npy" else n,
            c,
        )
        for name, data, _, n, c in zip_members(path)
    ]
    write_zip(path, members)


def a_terabyte_shape(path: Path) -> None:
    """params declared (10**12,) float64 (7.28 TiB), with 8 bytes of data."""
    members = []
    for name, data, method, size, crc in zip_members(path):
        if name == "params.npy":
            data = npy_bytes("<f8", (10**12,), b"\x00" * 8)
            size = len(data)
        members.append((name, data, method, size, crc))
    write_zip(path, members)


def a_deflate_bomb(path: Path) -> None:
    """params.npy deflated: 2 MB that inflate to 2 GB (np.savez never compresses)."""
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = block.compress(bytes(1 << 20)) + block.flush(zlib.Z_FULL_FLUSH)
    header = npy_bytes("<f8", (2000 * (1 << 17),))
    stream = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = stream.compress(header) + stream.flush(zlib.Z_FULL_FLUSH) + segment * 2000
    data += stream.flush()
    members = []
    for name, stored, method, size, crc in zip_members(path):
        if name == "params.npy":
            stored, method, size, crc = data, 8, len(header) + 2000 * (1 << 20), 0
        members.append((name, stored, method, size, crc))
    write_zip(path, members)


def an_object_array(path: Path) -> None:
    members = []
    for name, data, method, size, crc in zip_members(path):
        if name == "state.0.npy":
            data = npy_bytes("|O", (8,), b"\x00" * 64)
            size = len(data)
        members.append((name, data, method, size, crc))
    write_zip(path, members)


def a_deep_rng_state(path: Path) -> None:
    arrays = checkpoint.load_checkpoint_file(path)
    arrays["rng_state"] = np.array("[" * 100_000 + "]" * 100_000)
    np.savez(path, **arrays)


def a_wrong_history_length(path: Path) -> None:
    arrays = checkpoint.load_checkpoint_file(path)
    arrays["loss_history"] = arrays["loss_history"][:-1]
    np.savez(path, **arrays)


def an_undo_without_its_evaluation(path: Path) -> None:
    arrays = checkpoint.load_checkpoint_file(path)
    arrays["undo.best_params"] = arrays["best_params"]
    arrays["undo.best_iteration"] = np.array(0, dtype=np.int64)
    arrays["undo.best_smooth_loss"] = arrays["best_smooth_loss"]
    arrays["undo.best_val_loss"] = np.array(np.inf)
    np.savez(path, **arrays)


def some_undo_counters(path: Path) -> None:
    arrays = checkpoint.load_checkpoint_file(path)
    arrays["undo.best_iteration"] = np.array(0, dtype=np.int64)
    np.savez(path, **arrays)


def a_central_directory_short_of_a_member(path: Path) -> None:
    """One bit flipped in the central directory such that zipfile lists one member fewer,
    silently (as a random flip did: the member lost was samples_bytes, which is optional)."""
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        count = len(archive.infolist())
    for bit in range((len(raw) - 300) * 8, (len(raw) - 22) * 8):
        flipped = bytearray(raw)
        flipped[bit // 8] ^= 1 << (bit % 8)
        try:
            with zipfile.ZipFile(io.BytesIO(bytes(flipped))) as archive:
                if len(archive.infolist()) < count:
                    path.write_bytes(bytes(flipped))
                    return
        except Exception:  # zipfile noticed: not the flip wanted here
            continue
    raise AssertionError("no flip drops a member silently: the test needs another way")


def deleted(path: Path) -> None:
    path.unlink()


DAMAGE = {
    "header length 0x01": (header_length_one, "header"),
    "a member that is not .npy": (not_an_npy_member, "notes.txt"),
    "an .npy member that is not .npy": (an_npy_member_that_is_not_npy, "state.0"),
    "a (10**12,) shape": (a_terabyte_shape, "params"),
    "a deflate bomb": (a_deflate_bomb, "compressed"),
    "an object array": (an_object_array, "state.0"),
    "rng_state nested 100,000 deep": (a_deep_rng_state, "rng_state"),
    "a history that does not match the iteration": (a_wrong_history_length, "loss_history"),
    "undo arrays without an evaluation to undo": (an_undo_without_its_evaluation, "undo"),
    "some of the undo counters": (some_undo_counters, "undo"),
    "a central directory short of a member": (a_central_directory_short_of_a_member, "members"),
    "deleted": (deleted, "missing"),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_a_damaged_newest_checkpoint_falls_back_with_a_warning(world, case, capsys):
    run, _ = world
    damage, word = DAMAGE[case]
    previous = checkpoint.checkpoint_iteration(
        checkpoint.load_checkpoint_file(run / "checkpoint.prev.npz")
    )
    damage(run / rundir.CHECKPOINT_FILE)
    for command in ("generate", "export samples"):
        capsys.readouterr()
        assert main([str(a) for a in READERS[command](run)]) == 0
        err = capsys.readouterr().err
        assert "warning" in err and word in err and "checkpoint.prev.npz" in err, err
        assert len(err.strip().splitlines()) == 1
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--iterations", "70", "--json"]) == 0
    err = capsys.readouterr().err
    assert f"iteration {previous}" in err and word in err
    assert checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run)) == 70


@pytest.mark.parametrize("case", [c for c in DAMAGE if c != "deleted"])
def test_both_checkpoints_damaged_is_one_line(world, case, capsys):
    run, _ = world
    damage, word = DAMAGE[case]
    damage(run / rundir.PREVIOUS_CHECKPOINT_FILE)
    damage(run / rundir.CHECKPOINT_FILE)
    for argv in (["generate", run], ["export", run], ["train", "--resume", run]):
        line = fails(argv, capsys)
        assert "checkpoint" in line and word in line


def test_a_deflate_bomb_is_refused_without_inflating_it(world):
    import time
    import tracemalloc

    run, _ = world
    a_deflate_bomb(run / rundir.CHECKPOINT_FILE)
    tracemalloc.start()
    started = time.process_time()
    with pytest.raises(files.RunError, match="compressed"):
        checkpoint.load_checkpoint_file(run / rundir.CHECKPOINT_FILE)
    seconds = time.process_time() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # Inflating would take 2 GB and many seconds; refusing reads a few kB. Generous bounds: a
    # correctness check (nothing was inflated), not a benchmark.
    assert peak < 20 * 2**20 and seconds < 2.0


def test_no_checkpoints_at_all_says_to_start_afresh(world, capsys):
    run, corpus = world
    for name in (rundir.CHECKPOINT_FILE, rundir.PREVIOUS_CHECKPOINT_FILE):
        (run / name).unlink()
    (run / rundir.SAMPLES_FILE).unlink()
    line = fails(["train", "--resume", run], capsys)
    assert "no checkpoint" in line and f"--run-dir {run}" in line


# -- the fuzz: every single-bit flip or truncation loads identically or falls back -------------
def _fuzz_cases(count: int, seed: int):
    rng = random.Random(seed)
    for _ in range(count):
        if rng.random() < 0.8:
            yield "flip", rng.random()
        else:
            yield "truncate", rng.random()


def _assert_loads_or_falls_back(run: Path, original: bytes, previous: dict, newest: dict, cases):
    path = run / rundir.CHECKPOINT_FILE
    outcomes = {"identical": 0, "fell back": 0}
    for kind, where in cases:
        raw = bytearray(original)
        if kind == "flip":
            bit = int(where * len(raw) * 8)
            raw[bit // 8] ^= 1 << (bit % 8)
        else:
            del raw[int(where * len(raw)) :]
        path.write_bytes(bytes(raw))
        arrays, source, problems = checkpoint.load_checkpoint_with_source(run)
        expected = newest if source.name == rundir.CHECKPOINT_FILE else previous
        assert arrays.keys() == expected.keys()
        for name in arrays:
            assert arrays[name].dtype == expected[name].dtype, (kind, where, name)
            nan = arrays[name].dtype.kind == "f"
            assert np.array_equal(arrays[name], expected[name], equal_nan=nan), (kind, where)
        if source.name == rundir.CHECKPOINT_FILE:
            assert not problems
            outcomes["identical"] += 1
        else:
            assert len(problems) == 1 and rundir.CHECKPOINT_FILE in problems[0]
            outcomes["fell back"] += 1
    return outcomes


def _fuzz(world, count, seed):
    run, _ = world
    original = (run / rundir.CHECKPOINT_FILE).read_bytes()
    newest = checkpoint.load_checkpoint_file(run / rundir.CHECKPOINT_FILE)
    previous = checkpoint.load_checkpoint_file(run / rundir.PREVIOUS_CHECKPOINT_FILE)
    outcomes = _assert_loads_or_falls_back(
        run, original, previous, newest, _fuzz_cases(count, seed)
    )
    assert outcomes["fell back"] > count // 2  # nearly every byte of a checkpoint matters


def test_random_bit_flips_and_truncations_load_identically_or_fall_back(world):
    _fuzz(world, 200, seed=1)


@pytest.mark.slow
def test_many_random_bit_flips_and_truncations(world):
    _fuzz(world, 5000, seed=2)


def _header_cases(original: bytes, every_bit: bool):
    """Flips in the first .npy header: every bit of its magic, version and length, and of its
    text every bit (slow) or one bit per byte."""
    start = original.index(b"\x93NUMPY")
    (length,) = struct.unpack("<H", original[start + 8 : start + 10])
    size = len(original) * 8
    bits = list(range(start * 8, (start + 10) * 8))
    for byte in range(start + 10, start + 10 + length):
        bits += range(byte * 8, byte * 8 + 8) if every_bit else [byte * 8 + byte % 8]
    return [("flip", (bit + 0.5) / size) for bit in bits]


@pytest.mark.parametrize("every_bit", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_flips_in_an_npy_header_load_identically_or_fall_back(world, every_bit):
    """The part a strict parser must get right: the first .npy header (byte 68 is in it)."""
    run, _ = world
    original = (run / rundir.CHECKPOINT_FILE).read_bytes()
    newest = checkpoint.load_checkpoint_file(run / rundir.CHECKPOINT_FILE)
    previous = checkpoint.load_checkpoint_file(run / rundir.PREVIOUS_CHECKPOINT_FILE)
    cases = _header_cases(original, every_bit)
    _assert_loads_or_falls_back(run, original, previous, newest, cases)


def test_the_app_shows_why_the_newest_checkpoint_was_skipped(world, capsys):
    """The warning printed before the app takes the screen is never seen: the app shows it."""
    import time

    from tui_rnn.app.messages import Notice
    from tui_rnn.app.session import TrainingSession
    from tui_rnn.cli.parser import build_parser
    from tui_rnn.cli.train import open_run

    run, _ = world
    deleted(run / rundir.CHECKPOINT_FILE)
    warnings: list[str] = []
    args = build_parser(None).parse_args(["--resume", str(run)])
    run_ = open_run(args, warn=warnings.append)
    posted: list = []
    try:
        session = TrainingSession(run_, warnings=warnings)
        session.start(posted.append)
        deadline = time.monotonic() + 10
        while not any(isinstance(m, Notice) for m in posted) and time.monotonic() < deadline:
            time.sleep(0.01)
        session.shutdown().result(timeout=10)
    finally:
        run_.close()
    notices = [m for m in posted if isinstance(m, Notice) and m.severity == "warning"]
    assert len(notices) == 1 and notices[0].text == warnings[0]
    assert "checkpoint.npz is missing" in warnings[0] and "checkpoint.prev.npz" in warnings[0]
    assert capsys.readouterr().err == ""  # collected, not printed behind the app's back
