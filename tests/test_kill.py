"""Real `tui-rnn train` processes killed at random moments: the run always survives.

After a kill -9 the run directory must hold a loadable checkpoint, and resuming must produce
exactly (bit for bit) the run that was never interrupted: parameters, loss history, samples.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_text

from tui_rnn.cli import main
from tui_rnn.store import checkpoint, export, rundir
from tui_rnn.training.corpus import load_corpus
from tui_rnn.training.trainer import Trainer

UPDATES = 3000  # under a second of training for the tiny model below
OPTIONS = ["--hidden", "8", "--seq-length", "10", "--sample-every", "100", "--sample-length", "20"]
# A batched, stacked, gated model with every stateful option: dropout masks, Adam, validation.
LSTM_UPDATES = 600
LSTM_OPTIONS = [
    *OPTIONS,
    *("--cell", "lstm", "--layers", "2", "--batch", "4", "--dtype", "float32"),
    *("--optimizer", "adam", "--dropout", "0.2", "--val-fraction", "0.1", "--eval-every", "50"),
]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("kill") / "corpus.txt"
    path.write_text(make_text(3000, seed=11), encoding="utf-8")
    return path


def _argv(corpus_file, run_dir, *extra, options=OPTIONS, updates=UPDATES):
    argv = ["train", str(corpus_file), *options, "--iterations", str(updates)]
    return argv + ["--run-dir", str(run_dir), "--json", *extra]


def run_state(run_dir) -> dict:
    arrays = checkpoint.load_checkpoint(run_dir)
    arrays.pop("samples_bytes")
    arrays["samples.txt"] = np.frombuffer((Path(run_dir) / "samples.txt").read_bytes(), np.uint8)
    return arrays


def assert_same_state(expected: dict, actual: dict) -> None:
    assert expected.keys() == actual.keys()
    for name in expected:
        if name in Trainer.TIMING:  # wall-clock: never the same twice
            continue
        assert np.array_equal(expected[name], actual[name]), name


@pytest.fixture(scope="module")
def uninterrupted(corpus_file, tmp_path_factory):
    """The reference: the same run, in one go, saving rarely."""
    run_dir = tmp_path_factory.mktemp("whole") / "run"
    assert main(_argv(corpus_file, run_dir, "--save-every", "1000")) == 0
    return run_state(run_dir)


@pytest.fixture(scope="module")
def uninterrupted_lstm(corpus_file, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("whole-lstm") / "run"
    argv = _argv(corpus_file, run_dir, "--save-every", "1000", **_LSTM)
    assert main(argv) == 0
    return run_state(run_dir)


_LSTM = {"options": LSTM_OPTIONS, "updates": LSTM_UPDATES}


def start_training(corpus_file, run_dir, **which) -> subprocess.Popen:
    """A real `tui-rnn train` saving very often, so that kills land during saves too."""
    argv = [sys.executable, "-m", "tui_rnn", *_argv(corpus_file, run_dir, **which)]
    argv += ["--save-every", "0.01"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_first_checkpoint(process, run_dir, limit=30.0) -> None:
    deadline = time.monotonic() + limit
    while not (run_dir / rundir.CHECKPOINT_FILE).exists():
        if process.poll() is not None:
            pytest.fail(f"training exited early: {process.stderr.read().decode()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("no checkpoint appeared")
        time.sleep(0.005)


def kill_and_resume(corpus_file, run_dir, delay, uninterrupted, **which) -> None:
    process = start_training(corpus_file, run_dir, **which)
    try:
        wait_for_first_checkpoint(process, run_dir)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
        process.stdout.close()
        process.stderr.close()
    # Killed at any moment, the run loads...
    arrays = checkpoint.load_checkpoint(run_dir)
    assert 0 <= checkpoint.checkpoint_iteration(arrays) <= which.get("updates", UPDATES)
    checkpoint.restore_trainer(run_dir, load_corpus(corpus_file))
    # ...and resuming it (to the run's own target) replays the uninterrupted run bit for bit.
    assert main(["train", "--resume", str(run_dir), "--json"]) == 0
    assert_same_state(uninterrupted, run_state(run_dir))


def test_kill_9_at_random_moments(corpus_file, uninterrupted, tmp_path):
    moments = random.Random(5)
    for k in range(3):
        kill_and_resume(corpus_file, tmp_path / f"run{k}", moments.uniform(0, 0.3), uninterrupted)


def test_kill_9_of_a_batched_stacked_lstm(corpus_file, uninterrupted_lstm, tmp_path):
    kill_and_resume(corpus_file, tmp_path / "run", 0.15, uninterrupted_lstm, **_LSTM)


@pytest.mark.slow
def test_kill_9_of_a_batched_stacked_lstm_at_many_moments(
    corpus_file, uninterrupted_lstm, tmp_path
):
    moments = random.Random(99)
    for k in range(8):
        delay = moments.uniform(0, 0.6)
        kill_and_resume(corpus_file, tmp_path / f"run{k}", delay, uninterrupted_lstm, **_LSTM)


@pytest.mark.slow
def test_kill_9_at_many_random_moments(corpus_file, uninterrupted, tmp_path):
    moments = random.Random(2024)
    for k in range(24):
        kill_and_resume(corpus_file, tmp_path / f"run{k}", moments.uniform(0, 0.5), uninterrupted)


@pytest.mark.slow
def test_kill_9_again_and_again_on_the_same_run(corpus_file, uninterrupted, tmp_path):
    """Kill, resume in a new process, kill again...: the damage never accumulates."""
    run_dir = tmp_path / "run"
    moments = random.Random(7)
    process = start_training(corpus_file, run_dir)
    wait_for_first_checkpoint(process, run_dir)
    for _ in range(20):
        time.sleep(moments.uniform(0.02, 0.15))
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdout.close()
        process.stderr.close()
        checkpoint.load_checkpoint(run_dir)
        argv = [sys.executable, "-m", "tui_rnn", "train", "--resume", str(run_dir)]
        process = subprocess.Popen(
            [*argv, "--json", "--save-every", "0.01"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    process.wait()
    process.stdout.close()
    process.stderr.close()
    assert main(["train", "--resume", str(run_dir), "--json"]) == 0
    assert_same_state(uninterrupted, run_state(run_dir))


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_saves_and_exits_cleanly_and_export_works_meanwhile(
    stop, corpus_file, uninterrupted, tmp_path, capsys
):
    run_dir = tmp_path / "run"
    process = start_training(corpus_file, run_dir)
    try:
        wait_for_first_checkpoint(process, run_dir)
        for k in range(3):  # export while it trains: reads only, never disturbs it
            output = tmp_path / f"export{k}.csv"
            assert main(["export", str(run_dir), "--output", str(output)]) == 0
            rows = output.read_text().splitlines()
            assert rows[0] == ",".join(export.FIELDS)
            assert [int(r.split(",")[0]) for r in rows[1:]] == list(range(1, len(rows)))
        process.send_signal(stop)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    if process.returncode == 0:  # it finished before the signal came: nothing to stop
        summary = json.loads(out)
        assert summary["interrupted"] is False
    else:
        assert process.returncode == 128 + stop, err.decode()
        summary = json.loads(out)
        assert summary["interrupted"] is True
        assert err.decode().strip() == ""
    # The state it reported is the state it saved.
    assert (
        checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run_dir))
        == summary["iterations"]
    )
    assert main(["train", "--resume", str(run_dir), "--json"]) == 0
    assert_same_state(uninterrupted, run_state(run_dir))


def test_the_evaluation_at_a_target_is_on_disk_when_done_is_said_and_survives_going_on(
    corpus_file, tmp_path
):
    """train --iterations 50 with validation every 20 evaluates at 20, 40 and at its target 50;
    killed right after it says done, the run on disk holds that evaluation (and the best model
    it may have chosen), and `--resume --iterations 70` keeps it."""
    run_dir = tmp_path / "run"
    options = [*OPTIONS, "--val-fraction", "0.1", "--eval-every", "20"]
    argv = [sys.executable, "-m", "tui_rnn", "train", str(corpus_file), *options]
    argv += ["--iterations", "50", "--run-dir", str(run_dir)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in process.stdout:
        if line.startswith("done:"):
            process.send_signal(signal.SIGKILL)  # (it may have exited already: no matter)
            break
    else:
        pytest.fail("train never said done")
    process.wait(timeout=30)
    process.stdout.close()
    at_done = checkpoint.load_checkpoint(run_dir)
    assert list(at_done["val_iterations"]) == [0, 20, 40, 50]
    losses = at_done["val_loss_history"]
    assert float(at_done["best_val_loss"]) == losses.min()
    assert int(at_done["best_iteration"]) == at_done["val_iterations"][losses.argmin()]

    assert main(["train", "--resume", str(run_dir), "--iterations", "70", "--json"]) == 0
    after = checkpoint.load_checkpoint(run_dir)
    assert list(after["val_iterations"]) == [0, 20, 40, 50, 60, 70]
    assert np.array_equal(after["val_loss_history"][:4], losses)  # the evaluation at 50 too
    all_losses = after["val_loss_history"]
    best = int(after["val_iterations"][all_losses.argmin()])
    assert int(after["best_iteration"]) == best
    assert float(after["best_val_loss"]) == all_losses.min()
    if best <= 50:  # the model chosen before going on is the one kept, bit for bit
        assert np.array_equal(after["best_params"], at_done["best_params"])
    rows = export.history_columns(**export.history_arrays(after))
    measured = rows["iteration"][~np.isnan(rows["val_loss"])]
    assert list(measured) == [20, 40, 50, 60, 70]
