"""Runs as a workspace from the command line: `tui-rnn runs` (the table, --json, every state,
the lock probe against a real training process), `latest` wherever a RUN_DIR is taken, and a
corpus named like a command staying reachable."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import copy_runs, fails, make_text, trained_once

from tui_rnn.cli import main
from tui_rnn.cli import parser as cli_parser
from tui_rnn.safe import files
from tui_rnn.store import checkpoint, config, rundir, workspace
from tui_rnn.store.workspace import COLUMNS
from tui_rnn.training.history import training_loss

TINY = ["--hidden", "8", "--seq-length", "10", "--sample-every", "100", "--sample-length", "20"]


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(make_text(6000, seed=3), encoding="utf-8")
    return path


def train(corpus_file, run_dir, iterations: int, *extra) -> Path:
    args = ["train", corpus_file, *TINY, "--iterations", iterations, "--run-dir", run_dir, "--json"]
    assert main([str(a) for a in (*args, *extra)]) == 0
    return Path(run_dir)


def age(run_dir, seconds_ago: float) -> None:
    """Make every file of a run look last changed `seconds_ago` (ordering without sleeping)."""
    when = time.time() - seconds_ago
    for path in Path(run_dir).iterdir():
        os.utime(path, (when, when), follow_symlinks=False)


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    def make():
        Path("corpus.txt").write_text(make_text(6000, seed=3), encoding="utf-8")
        train("corpus.txt", "runs/done", 60)
        stopped = train(
            "corpus.txt", "runs/stopped", 40, "--val-fraction", "0.1", "--eval-every", "20"
        )
        document = config.read_config(stopped)
        document["target_iterations"] = 500  # as if stopped by Ctrl-C halfway
        config.write_config_document(stopped, document)
        train("corpus.txt", "runs/newest", 30, "--batch", "2")

    base = tmp_path_factory.mktemp("trained")
    trained_once(base, make)
    return base


@pytest.fixture
def workspace_dir(tmp_path, trained_runs, monkeypatch, capsys):
    """./runs with three runs: `done` (oldest), `stopped` (halfway, validating), `newest`."""
    monkeypatch.chdir(tmp_path)
    copy_runs(trained_runs, tmp_path)
    age("runs/done", 300)
    age("runs/stopped", 200)
    age("runs/newest", 100)
    capsys.readouterr()
    return tmp_path / "runs"


def runs_json(capsys, *args) -> list[dict]:
    capsys.readouterr()
    assert main(["runs", *args, "--json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out)


def test_runs_lists_newest_first_with_the_issues_columns(workspace_dir, capsys):
    assert main(["runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split("  ")
    assert [h.strip() for h in header if h.strip()] == list(COLUMNS)
    names = [line.split()[0] for line in lines[1:]]
    assert names == ["newest", "stopped", "done"]
    newest, stopped, done = lines[1:]
    assert "rnn 1x8" in done and "corpus.txt" in done and "60/60" in done
    assert done.split()[-3] == "done" and stopped.split()[-3] == "stopped"
    assert "40/500" in stopped and "(val)" in stopped  # the best validation loss, marked
    # the same from any directory, given DIR
    assert main(["runs", str(workspace_dir)]) == 0
    assert capsys.readouterr().out.splitlines() == lines


def test_runs_json_is_strict_with_null_for_what_is_not_known(workspace_dir, capsys):
    rows = runs_json(capsys)
    assert [r["name"] for r in rows] == ["newest", "stopped", "done"]
    newest, stopped, done = rows
    assert done["state"] == "done" and done["iteration"] == 60 and done["target"] == 60
    assert stopped["state"] == "stopped" and stopped["target"] == 500
    assert stopped["best_val_loss"] is not None and done["best_val_loss"] is None
    assert newest["batch_size"] == 2 and newest["hidden_size"] == 8 and newest["cell"] == "rnn"
    assert all(r["pid"] is None and r["problem"] is None for r in rows)
    for row in rows:  # updated: ISO 8601, in the order listed
        assert row["updated"].endswith("+00:00")
    assert [r["updated"] for r in rows] == sorted((r["updated"] for r in rows), reverse=True)


def test_damaged_runs_say_so_and_why(workspace_dir, capsys, corpus_file):
    (workspace_dir / "stopped" / "config.json").write_text("{ not json")
    for name in ("checkpoint.npz", "checkpoint.prev.npz"):
        path = workspace_dir / "done" / name
        if path.exists():
            path.write_bytes(path.read_bytes()[:100])  # truncated
    empty = workspace_dir / "never-saved"
    empty.mkdir()
    (empty / "config.json").write_bytes((workspace_dir / "newest" / "config.json").read_bytes())
    (workspace_dir / "not-a-run").mkdir()  # no run files: not listed
    (workspace_dir / "linked").symlink_to(workspace_dir / "newest")  # never followed
    rows = {r["name"]: r for r in runs_json(capsys)}
    assert set(rows) == {"newest", "stopped", "done", "never-saved"}
    assert rows["stopped"]["state"] == "damaged" and "config.json" in rows["stopped"]["problem"]
    assert rows["done"]["state"] == "damaged" and "truncated" in rows["done"]["problem"]
    assert rows["done"]["cell"] == "rnn"  # what config.json says is still shown
    assert rows["never-saved"]["state"] == "damaged"
    assert "no checkpoint" in rows["never-saved"]["problem"]
    newest = workspace_dir / "newest" / "checkpoint.npz"
    newest.write_bytes(newest.read_bytes()[:-10])  # the previous checkpoint is used: said
    (row,) = [r for r in runs_json(capsys) if r["name"] == "newest"]
    assert "checkpoint.prev.npz is used" in row["problem"] and row["iteration"] < 30
    assert main(["runs"]) == 0
    table = capsys.readouterr().out
    assert table.count("damaged") == 3


def test_no_runs_and_bad_directories(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["runs"]) == 0
    assert "no runs in runs" in capsys.readouterr().out
    assert runs_json(capsys) == []
    assert "does not exist" in fails(["runs", "nowhere"], capsys)
    (tmp_path / "file").write_text("x")
    assert "is a file" in fails(["runs", "file"], capsys)


def test_the_table_is_safe_on_a_terminal(tmp_path, corpus_file, capsys):
    run_dir = train(corpus_file, tmp_path / "runs" / "evil\x1b]0;pwned\x07\nname", 20)
    (summary,) = workspace.list_runs(tmp_path / "runs")
    cells = summary.cells()
    assert "\x1b" not in cells[0] and "\n" not in cells[0] and cells[0] == "evil␛]0;pwned␇↵name"
    assert summary.to_json()["name"] == run_dir.name  # JSON keeps it exact (escaped by json)


# -- the lock probe -------------------------------------------------------------------------------
def test_open_pid_against_a_real_training_process_which_it_never_disturbs(
    tmp_path, corpus_file, capsys
):
    run_dir = tmp_path / "runs" / "busy"
    argv = [sys.executable, "-m", "tui_rnn", "train", str(corpus_file), *TINY]
    argv += ["--iterations", "100000000", "--run-dir", str(run_dir), "--save-every", "0.05"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (run_dir / rundir.CHECKPOINT_FILE).exists():
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        for _ in range(50):  # probed again and again while it trains and saves
            (row,) = runs_json(capsys, str(tmp_path / "runs"))
            assert row["state"] == "open" and row["pid"] == process.pid, row
        assert main(["runs", str(tmp_path / "runs")]) == 0
        assert f"open (pid {process.pid})" in capsys.readouterr().out
        with pytest.raises(files.RunError, match=f"pid {process.pid}"):
            rundir.lock_run(run_dir)  # still held: the probes took nothing from it
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGINT)  # train saves and stops normally
        assert process.wait(timeout=60) == 128 + signal.SIGINT, process.stderr.read()
        process.stderr.close()
    (row,) = runs_json(capsys, str(tmp_path / "runs"))
    assert row["state"] == "stopped" and row["pid"] is None and row["iteration"] > 0
    checkpoint.load_checkpoint(run_dir)  # intact


def test_a_probe_never_makes_a_starting_trainer_give_up(tmp_path):
    """The probe holds a shared lock for an instant; open_lock retries over it."""
    path = tmp_path / ".lock"
    path.write_text("")
    stop = threading.Event()
    probes = []

    def probe():
        while not stop.is_set():
            probes.append(files.lock_holder(path))

    thread = threading.Thread(target=probe)
    thread.start()
    try:
        for _ in range(300):
            os.close(files.open_lock(path))  # would raise LockHeld if a probe made it fail
    finally:
        stop.set()
        thread.join()
    assert len(probes) > 100
    # it saw the lock free, or held (by us; "?" while the pid is being written)
    assert set(probes) <= {None, str(os.getpid()), "?"} and None in probes


def test_this_processs_own_lock_is_never_probed(tmp_path, corpus_file):
    run_dir = train(corpus_file, tmp_path / "runs" / "mine", 20)
    rundir.lock_run(run_dir)
    try:
        (summary,) = workspace.list_runs(tmp_path / "runs")
        assert summary.state == "open" and summary.state_text == "open (this app)"
        assert summary.to_json()["pid"] == os.getpid()
        assert rundir.lock_holder(run_dir) is None  # never probed: see holds_lock
    finally:
        rundir.unlock_run(run_dir)
    assert workspace.summarize(run_dir).state == "done"


# -- latest -------------------------------------------------------------------------------------
def test_latest_is_the_most_recently_updated_run_everywhere(workspace_dir, capsys, corpus_file):
    assert rundir.resolve_run_dir("latest") == Path("runs/newest")
    age("runs/newest", 1000)  # now `stopped` is the newest (a symlinked one never counts)
    (workspace_dir / "link").symlink_to(workspace_dir / "done")
    os.utime(workspace_dir / "link", follow_symlinks=False)
    assert rundir.resolve_run_dir("latest") == Path("runs/stopped")
    # generate, export, gradcheck (positional and --run), inspect, report and --resume take it
    assert main(["generate", "latest", "--length", "5"]) == 0
    assert main(["export", "latest", "--output", "-"]) == 0
    assert capsys.readouterr().out.count("\n") > 40
    assert main(["gradcheck", "latest", "--seq-lengths", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hidden"] == 8
    assert main(["gradcheck", "--run", "latest", "--seq-lengths", "5", "--json"]) == 0
    capsys.readouterr()
    assert main(["inspect", "latest", "--prompt", "the", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)
    assert main(["report", "latest"]) == 0
    assert "runs/stopped/report/report.md" in capsys.readouterr().out
    assert main(["train", "--resume", "latest", "--iterations", "45", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_dir"] == "runs/stopped"


def test_generate_says_on_stderr_which_run_latest_is(workspace_dir, capsys):
    assert main(["generate", "latest", "--length", "5"]) == 0
    out, err = capsys.readouterr()
    assert err == "tui-rnn: latest is runs/newest\n"  # stdout stays the model's text alone
    assert "runs/newest" not in out
    assert main(["generate", "runs/newest", "--length", "5"]) == 0  # named: nothing said
    assert capsys.readouterr().err == ""


def test_the_table_shows_every_loss_per_character_and_names_each_best(workspace_dir, capsys):
    """One unit for every run (said once, in the header): the smoothed training loss per
    character, and the best model's loss marked with what it is the lowest of."""
    assert main(["runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "loss (nats/char)" in lines[0]
    rows = {line.split()[0]: line for line in lines[1:]}
    for row in runs_json(capsys):
        name, n = row["name"], row["seq_length"]
        document = config.read_config(workspace_dir / name)
        expected = training_loss(
            row["smooth_loss"], row["iteration"], len(document["vocabulary"]), n
        )
        assert row["training_loss"] == expected  # (the new key; smooth_loss keeps its meaning)
        assert 1.0 < expected < 5.0  # per character, not per chunk of 10
        assert f"{expected:.4f}" in rows[name]
    assert "(val)" in rows["stopped"] and "(train)" in rows["done"] and "(train)" in rows["newest"]


def test_a_path_named_latest_wins_and_none_is_one_line(tmp_path, monkeypatch, capsys, corpus_file):
    monkeypatch.chdir(tmp_path)
    assert "no run under runs/" in fails(["generate", "latest"], capsys)
    assert "no run under runs/" in fails(["train", "--resume", "latest"], capsys)
    train(corpus_file, "latest", 20)  # a run directory named latest, outside ./runs
    train(corpus_file, "runs/other", 20)
    assert rundir.resolve_run_dir("latest") == Path("latest")
    capsys.readouterr()
    assert main(["export", "latest", "--output", "-"]) == 0
    assert capsys.readouterr().out.count("\n") == 21  # its 20 updates, not runs/other's


# -- a corpus named like a command --------------------------------------------------------------
@pytest.mark.parametrize("name", ["runs", "report"])
def test_a_corpus_named_like_a_command_stays_reachable(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(make_text(3000), encoding="utf-8")
    seen = []
    app = dataclasses.replace(cli_parser.APP, run=lambda args: seen.append(args.corpus) or 0)
    monkeypatch.setattr(cli_parser, "APP", app)
    assert main([f"./{name}"]) == 0  # the app, on the file
    assert seen == [f"./{name}"]
    assert main(["train", f"./{name}", *TINY, "--iterations", "5", "--run-dir", "r"]) == 0
    assert config.read_config("r")["corpus"]["name"] == f"{name}"
    capsys.readouterr()
    if name == "runs":  # the command itself: ./runs is a file, so one line
        assert "is a file" in fails(["runs"], capsys)
    else:
        assert "RUN_DIR" in fails(["report"], capsys)
    assert seen == [f"./{name}"]  # the command never reached the app
