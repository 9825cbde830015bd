"""What a trainer publishes for viewers (live.bin) and how a viewer reads it back.

The records replay to exactly the trainer's history; a torn last record is ignored; a resumed
run cuts off the records past its checkpoint; the run itself (checkpoints, exact resume) never
depends on live.bin; a viewer (store/follow.py) never writes and never raises.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import fails

from tui_rnn.driver import Run, RunRequest
from tui_rnn.safe import files
from tui_rnn.store import checkpoint, follow, live, rundir
from tui_rnn.training.corpus import load_corpus
from tui_rnn.training.trainer import Trainer

VALIDATING = {"val_fraction": 0.1, "eval_every": 40, "sample_every": 60}
KILLED = {**VALIDATING, "sample_every": 1000}  # killed_run's: no sample (and save) after the first


def new_run(run_dir, corpus, config, target, publish_every=1e-9, save_every=10.0, **changes) -> Run:
    """A run publishing at every update (a tiny publish_every: every check finds it due)."""
    trainer = Trainer(corpus.data, corpus.chars, replace(config, **changes))
    return Run.new(
        trainer, corpus, run_dir, target, publish_every=publish_every, save_every=save_every
    )


@pytest.fixture
def file_corpus(small_corpus_file):
    """The small corpus read from a file: a run of it can be resumed."""
    return load_corpus(str(small_corpus_file))


def train(run: Run, until: int | None = None) -> None:
    target = run.target
    if until is not None:
        run.target = until
    while not run.done:
        run.train_slice()
    run.target = target


def replay(run_dir) -> live.LiveState:
    state = live.LiveState()
    for record in live.read_records(run_dir):
        state.apply(record)
    return state


def assert_same_history(history, arrays: dict) -> None:
    assert np.array_equal(history.loss, arrays["loss_history"])
    assert np.array_equal(history.smooth_loss, arrays["smooth_loss_history"])
    assert np.array_equal(history.seconds, arrays["seconds_history"])
    assert np.array_equal(history.epoch_starts, arrays["epoch_starts"])
    assert np.array_equal(history.val_iterations, arrays["val_iterations"])
    assert np.array_equal(history.val_loss, arrays["val_loss_history"])


def snapshot(run_dir) -> dict:
    """Every file of the run: size, modification time and checksum, by name."""
    found = {}
    for entry in os.scandir(run_dir):
        info = entry.stat(follow_symlinks=False)
        digest = hashlib.sha256(Path(entry.path).read_bytes()).hexdigest()
        found[entry.name] = (info.st_size, info.st_mtime_ns, digest)
    return found


# -- publishing --------------------------------------------------------------------------------
def test_the_records_replay_to_the_trainers_history_and_samples(
    tmp_path, small_corpus, tiny_config
):
    run = new_run(tmp_path / "run", small_corpus, tiny_config, 200, **VALIDATING)
    train(run)
    run.close()
    state = replay(tmp_path / "run")
    arrays = checkpoint.load_checkpoint(tmp_path / "run")
    assert len(state.history) == 200 and len(state.history.val_loss) >= 5
    assert_same_history(state.history, arrays)
    assert [s.sample for s in state.samples] == list(run.trainer.samples)
    assert state.status is not None and state.status.state == live.FINISHED
    assert state.status.iteration == 200 and state.status.checkpoint == 200
    assert state.status.pid == os.getpid()


def test_a_run_that_publishes_nothing_has_no_live_file(tmp_path, small_corpus, tiny_config):
    run = new_run(tmp_path / "run", small_corpus, tiny_config, 50, publish_every=0)
    train(run)
    run.close()
    assert not (tmp_path / "run" / rundir.LIVE_FILE).exists()


def test_publishing_changes_nothing_in_the_checkpoint(tmp_path, small_corpus, tiny_config):
    states = {}
    for every in (0, 1e-9):
        run = new_run(tmp_path / f"run{every}", small_corpus, tiny_config, 120, every, **VALIDATING)
        train(run)
        run.close()
        states[every] = checkpoint.load_checkpoint(tmp_path / f"run{every}")
    assert states[0].keys() == states[1e-9].keys()
    for name in states[0]:
        if name not in Trainer.TIMING:
            assert np.array_equal(states[0][name], states[1e-9][name]), name


def test_a_torn_last_record_is_ignored_and_read_once_complete(tmp_path, small_corpus, tiny_config):
    run = new_run(tmp_path / "run", small_corpus, tiny_config, 40)
    train(run)
    run.close()
    path = tmp_path / "run" / rundir.LIVE_FILE
    whole = path.read_bytes()
    records = list(live.read_records(tmp_path / "run"))
    for cut in (1, 5, len(records[-1].payload)):  # in the payload, in the header
        path.write_bytes(whole[:-cut])
        reader = live.LogReader(tmp_path / "run")
        assert [r.offset for r in reader.read()] == [r.offset for r in records[:-1]]
        assert reader.problem is None
        with open(path, "ab") as f:  # the rest of the write arrives
            f.write(whole[-cut:])
        assert [r.offset for r in reader.read()] == [records[-1].offset]


def test_a_damaged_record_is_named_and_nothing_after_it_is_read(
    tmp_path, small_corpus, tiny_config
):
    run = new_run(tmp_path / "run", small_corpus, tiny_config, 40)
    train(run)
    run.close()
    path = tmp_path / "run" / rundir.LIVE_FILE
    records = list(live.read_records(tmp_path / "run"))
    middle = records[len(records) // 2]
    data = bytearray(path.read_bytes())
    data[middle.offset + live.HEADER.size] ^= 0xFF
    path.write_bytes(bytes(data))
    reader = live.LogReader(tmp_path / "run")
    assert len(reader.read()) == len(records) // 2
    assert reader.problem == f"the record at byte {middle.offset:,} fails its checksum"


def test_a_failed_write_turns_publishing_off_and_training_goes_on(
    tmp_path, small_corpus, tiny_config, monkeypatch
):
    warnings = []
    run = new_run(tmp_path / "run", small_corpus, tiny_config, 60)
    run.warn = warnings.append

    def full(fd, data, path):
        raise files.RunWriteError(f"cannot append to {path}: No space left on device")

    monkeypatch.setattr(files, "append_through", full)
    train(run)
    run.close()
    assert run.trainer.iteration == 60
    assert len(warnings) == 1 and "publishing stopped (training goes on)" in warnings[0]


# -- resuming ----------------------------------------------------------------------------------
def advance(run: Run, until: int) -> None:
    """Train on to `until` without saving (unless a sample falls due)."""
    while run.trainer.iteration < until:
        run.train_slice(should_stop=lambda: run.trainer.iteration >= until)


def killed_run(run_dir, corpus, config, saved: int, reached: int) -> Run:
    """A run saved at `saved` that published up to `reached`, then lost its process (its lock
    let go, nothing more said)."""
    run = new_run(run_dir, corpus, config, 10_000, save_every=1e9, **KILLED)
    advance(run, saved)  # never at a target: its evaluation would be kept
    run.save()
    advance(run, reached)
    run.publish()
    run.publisher.close()
    rundir.unlock_run(run_dir)
    return run


def test_a_resumed_run_cuts_off_the_records_past_its_checkpoint(tmp_path, file_corpus, tiny_config):
    run_dir = tmp_path / "run"
    killed_run(run_dir, file_corpus, tiny_config, saved=90, reached=150)
    assert replay(run_dir).status.iteration == 150
    resumed = Run.open(RunRequest(resume=str(run_dir), iterations=200), warn=print)
    state = replay(run_dir)
    assert state.start is not None and state.start["pid"] == os.getpid()
    assert state.start["iteration"] == 90 and state.status.iteration <= 90
    arrays = checkpoint.load_checkpoint(run_dir)
    assert_same_history(state.history, arrays)
    train(resumed)
    resumed.close()
    state = replay(run_dir)
    assert_same_history(state.history, checkpoint.load_checkpoint(run_dir))
    assert state.status.state == live.FINISHED and state.status.iteration == 200


@pytest.mark.parametrize("damage", ["deleted", "garbage", "a link"])
def test_exact_resume_does_not_depend_on_the_live_file(tmp_path, file_corpus, tiny_config, damage):
    whole = new_run(tmp_path / "whole", file_corpus, tiny_config, 150, publish_every=0, **KILLED)
    train(whole)
    whole.close()
    run_dir = tmp_path / "run"
    killed_run(run_dir, file_corpus, tiny_config, saved=90, reached=120)
    path = run_dir / rundir.LIVE_FILE
    path.unlink()
    if damage == "garbage":
        path.write_bytes(os.urandom(5000))
    elif damage == "a link":
        (tmp_path / "elsewhere").write_bytes(b"")
        path.symlink_to(tmp_path / "elsewhere")
    if damage == "a link":  # refused like any run file that is a link, never written through
        with pytest.raises(files.RunError, match="live.bin.*symbolic link"):
            Run.open(RunRequest(resume=str(run_dir), iterations=150), warn=print)
        return
    resumed = Run.open(RunRequest(resume=str(run_dir), iterations=150), warn=print)
    train(resumed)
    resumed.close()
    expected, actual = (checkpoint.load_checkpoint(d) for d in (tmp_path / "whole", run_dir))
    for name in expected:
        if name not in Trainer.TIMING:
            assert np.array_equal(expected[name], actual[name]), name
    watched = follow.WatchedRun(run_dir)  # the checkpoint's history, the records over it
    watched.load()
    assert_same_history(watched.history, actual)


# -- following ---------------------------------------------------------------------------------
def test_a_viewer_sees_a_trainer_that_is_gone_and_what_it_lost(tmp_path, file_corpus, tiny_config):
    run_dir = tmp_path / "run"
    killed_run(run_dir, file_corpus, tiny_config, saved=90, reached=150)
    watched = follow.WatchedRun(run_dir)
    watched.load()
    trainer = watched.trainer()
    assert trainer.state == follow.GONE and trainer.lost == 60
    assert trainer.line() == (
        f"trainer (pid {os.getpid()}) is no longer running: at least 60 updates since the last "
        "checkpoint (iter 90) were lost; t takes the run over"
    )
    assert len(watched.history) == 150  # what it published, lost or not


def test_a_viewer_follows_a_trainer_and_writes_nothing(tmp_path, small_corpus, tiny_config):
    run_dir = tmp_path / "run"
    run = new_run(run_dir, small_corpus, tiny_config, 300, save_every=1e9, **VALIDATING)
    train(run, until=100)
    run.publish()
    watched = follow.WatchedRun(run_dir)
    watched.load()
    assert len(watched.history) == 100
    before = snapshot(run_dir)
    for until in (150, 220):
        train(run, until=until)
        run.publish()
        assert {"history", "status"} <= watched.poll()
        assert len(watched.history) == until and watched.status.iteration == until
        assert watched.samples[-1] == run.trainer.samples[-1]
    assert watched.poll() == set()
    train(run)
    run.close()
    watched.poll()
    assert watched.trainer().state == live.FINISHED
    assert_same_history(watched.history, checkpoint.load_checkpoint(run_dir))
    after = snapshot(run_dir)
    again = follow.WatchedRun(run_dir)
    again.load()
    for _ in range(3):
        again.poll()
    assert snapshot(run_dir) == after
    assert set(after) == set(before)


def test_a_viewer_follows_a_trainer_that_starts_again(tmp_path, file_corpus, tiny_config):
    run_dir = tmp_path / "run"
    killed_run(run_dir, file_corpus, tiny_config, saved=90, reached=150)
    watched = follow.WatchedRun(run_dir)
    watched.load()
    resumed = Run.open(RunRequest(resume=str(run_dir), iterations=250), warn=print)
    changes = watched.poll()
    assert "reload" in changes and len(watched.history) == 90
    train(resumed)
    resumed.close()
    watched.poll()
    assert watched.trainer().state == live.FINISHED and len(watched.history) == 250
    assert_same_history(watched.history, checkpoint.load_checkpoint(run_dir))


def test_a_run_deleted_or_damaged_while_watched_is_a_message(tmp_path, small_corpus, tiny_config):
    import shutil

    run_dir = tmp_path / "run"
    run = new_run(run_dir, small_corpus, tiny_config, 60)
    train(run)
    run.close()
    watched = follow.WatchedRun(run_dir)
    watched.load()
    for name in (rundir.CHECKPOINT_FILE, rundir.PREVIOUS_CHECKPOINT_FILE):
        (run_dir / name).write_bytes(b"not a checkpoint")
    assert "problem" in watched.poll()
    assert watched.problem.startswith(f"cannot follow {run_dir}: checkpoint ")
    assert "truncated or corrupt" in watched.problem
    shutil.rmtree(run_dir)
    assert "problem" in watched.poll()
    assert watched.problem == f"{run_dir} was deleted: showing what was read before"
    assert watched.trainer().line() == "the run was deleted"
    assert len(watched.history) == 60  # what was read is still shown


# -- the option ----------------------------------------------------------------------------------
def test_publish_every_is_checked_like_every_option(tmp_path, small_corpus_file, capsys):
    line = fails(["train", small_corpus_file, "--publish-every", "-1"], capsys)
    assert "--publish-every must be >= 0, got -1" in line
