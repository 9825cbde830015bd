"""Training to a budget: a time limit that fixes the number of updates (and the same bits as
--iterations), learning-rate schedules that resume exactly, early stopping that stops where an
uninterrupted run stops, and the summary's best model."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import fails, make_text

from tui_rnn.cli import main
from tui_rnn.cli.parser import build_parser
from tui_rnn.cli.train import run_request
from tui_rnn.driver import Run, RunRequest
from tui_rnn.store import checkpoint, rundir
from tui_rnn.training import budget, schedule
from tui_rnn.training.corpus import load_corpus
from tui_rnn.training.options import (
    PRESET_RUN_OPTIONS,
    OptionError,
    TrainConfig,
    format_duration,
    parse_duration,
    resolve,
)
from tui_rnn.training.trainer import Trainer

TINY = ["--hidden", "8", "--seq-length", "10", "--sample-every", "200", "--sample-length", "20"]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("budget") / "corpus.txt"
    path.write_text(make_text(4000, seed=5), encoding="utf-8")
    return path


def train(corpus_file, run_dir, *options, capsys=None) -> dict:
    argv = ["train", str(corpus_file), *TINY, *options, "--run-dir", str(run_dir), "--json"]
    assert main([str(a) for a in argv]) == 0
    return json.loads(capsys.readouterr().out.splitlines()[-1]) if capsys else {}


def resume(run_dir, *options) -> None:
    assert main(["train", "--resume", str(run_dir), *map(str, options), "--json"]) == 0


def state(run_dir) -> dict:
    arrays = checkpoint.load_checkpoint(run_dir)
    for name in (*Trainer.TIMING, "samples_bytes"):
        arrays.pop(name)
    arrays["samples.txt"] = np.frombuffer((Path(run_dir) / "samples.txt").read_bytes(), np.uint8)
    return arrays


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name]), name


def assert_same_training(a: dict, b: dict) -> None:
    """The same parameters, optimizer state, counters and smooth loss: all but what evaluation
    records, for a run continued past a target keeps that target's evaluation (and the best
    model it chose), which a run trained straight through never made."""
    kept = ("val", "best", "evaluations", "undo")
    assert_same_state(
        {k: v for k, v in a.items() if not any(w in k for w in kept)},
        {k: v for k, v in b.items() if not any(w in k for w in kept)},
    )


def document(run_dir) -> dict:
    return json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8"))


# -- durations ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, seconds",
    [("90", 90), ("90s", 90), ("3m", 180), ("1h30m", 5400), ("1.5h", 5400), ("2m30s", 150)],
)
def test_a_duration_reads_as_seconds(text, seconds):
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    "text, words",
    [
        ("soon", "must be a duration such as 90, 90s, 3m or 1h30m"),
        ("3 minutes", "must be a duration"),
        ("1h30", "must be a duration"),
        ("0", "must be longer than zero"),
        ("0m", "must be longer than zero"),
        ("169h", "must be at most a week"),
    ],
)
def test_a_bad_duration_is_one_line(text, words):
    with pytest.raises(OptionError, match=words):
        parse_duration(text)


# -- schedules ---------------------------------------------------------------------------------
def config(**changes) -> TrainConfig:
    return TrainConfig(optimizer="adam", eta=0.01, **changes)


def test_the_schedules_follow_their_equations():
    N, W, eta, low = 100, 10, 0.01, 0.001
    cosine = config(lr_schedule="cosine", warmup=W, eta_min=low)
    linear = config(lr_schedule="linear", warmup=W, eta_min=low)
    for t in range(W):
        assert schedule.learning_rate(cosine, t, N) == eta * (t + 1) / W
    for t in (W, 37, N - 1):
        progress = (t - W) / (N - W)
        want = low + (eta - low) * (1 + math.cos(math.pi * progress)) / 2
        assert math.isclose(schedule.learning_rate(cosine, t, N), want, rel_tol=1e-15)
        assert math.isclose(schedule.learning_rate(linear, t, N), eta - (eta - low) * progress)
    assert math.isclose(schedule.learning_rate(cosine, W, N), eta)  # the peak, after warmup
    for t in (N, N + 1, 10 * N):  # past its end: eta_min, never stretched
        assert schedule.learning_rate(cosine, t, N) == low == schedule.learning_rate(linear, t, N)
    rates = [schedule.learning_rate(cosine, t, N) for t in range(W, N)]
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))


def test_the_constant_schedule_is_the_learning_rate_itself():
    plain = TrainConfig()
    assert all(schedule.learning_rate(plain, t, None) == plain.eta for t in (0, 5, 10**6))
    warm = TrainConfig(warmup=4, schedule_end=50)
    assert [schedule.learning_rate(warm, t, 50) for t in range(6)] == [
        0.1 * 1 / 4,
        0.1 * 2 / 4,
        0.1 * 3 / 4,
        0.1,
        0.1,
        0.1,
    ]


def test_the_trainer_takes_the_scheduled_rate(small_corpus):
    cosine = TrainConfig(
        hidden_size=8, seq_length=10, optimizer="adam", eta=0.01, lr_schedule="cosine",
        warmup=5, schedule_end=40,
    )  # fmt: skip
    trainer = Trainer(small_corpus.data, small_corpus.chars, cosine)
    seen = []
    for _ in range(45):
        seen.append(trainer.eta)
        trainer.step()
    assert seen == [schedule.learning_rate(cosine, t, 40) for t in range(45)]
    with pytest.raises(OptionError, match="needs the run's last update"):
        Trainer(small_corpus.data, small_corpus.chars, TrainConfig(lr_schedule="linear"))


# -- a cosine schedule killed midway and resumed ---------------------------------------------------
SCHEDULED = ["--optimizer", "adam", "--lr-schedule", "cosine", "--warmup", "50"]
SCHEDULED += ["--eta-min", "1e-4", "--val-fraction", "0.1", "--eval-every", "40"]


# For the time limit: a short warmup, that even a slow machine's few updates go past.
LIMITED = [*SCHEDULED[:4], "--warmup", "5", *SCHEDULED[6:]]


def start_process(corpus_file, run_dir, *options) -> subprocess.Popen:
    argv = [sys.executable, "-m", "tui_rnn", "train", str(corpus_file), *TINY, *map(str, options)]
    argv += ["--run-dir", str(run_dir), "--json", "--save-every", "0.01"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def kill_midway(process, run_dir, delay: float, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    try:
        while not (run_dir / rundir.CHECKPOINT_FILE).exists():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.005)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
        process.stdout.close()
        process.stderr.close()


def test_a_cosine_schedule_killed_and_resumed_is_the_uninterrupted_run(corpus_file, tmp_path):
    whole = tmp_path / "whole"
    train(corpus_file, whole, *SCHEDULED, "--iterations", 600)
    assert document(whole)["config"]["schedule_end"] == 600
    for k, delay in enumerate((0.2,)):
        run_dir = tmp_path / f"killed{k}"
        kill_midway(
            start_process(corpus_file, run_dir, *SCHEDULED, "--iterations", 600), run_dir, delay
        )
        assert checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run_dir)) <= 600
        resume(run_dir)
        assert_same_state(state(whole), state(run_dir))


def test_a_schedule_continued_past_its_end_keeps_eta_min(corpus_file, tmp_path, capsys):
    run_dir = tmp_path / "run"
    train(corpus_file, run_dir, *SCHEDULED, "--iterations", 200)
    capsys.readouterr()
    resume(run_dir, "--iterations", 260)
    summary = json.loads(capsys.readouterr().out)
    assert summary["iterations"] == 260 and summary["eta"] == 1e-4
    config = document(run_dir)["config"]
    assert config["schedule_end"] == 200  # not stretched to the new target
    assert config["lr_schedule"] == "cosine"


# -- the time limit ----------------------------------------------------------------------------
def test_a_time_limited_run_is_the_run_of_its_recorded_iterations(corpus_file, tmp_path, capsys):
    limited = tmp_path / "limited"
    summary = train(corpus_file, limited, *LIMITED, "--time-limit", "1.5", capsys=capsys)
    recorded = document(limited)
    target = recorded["target_iterations"]
    assert recorded["requested"]["time_limit"] == 1.5
    (record,) = recorded["time_limits"]
    assert record["iteration"] == 0 and record["target"] == target and record["seconds"] == 1.5
    assert recorded["config"]["schedule_end"] == target and target > 5
    if summary["iterations"] < target:  # this machine slowed down: the clock stopped it
        assert summary["stopped"] == "time_limit"
        resume(limited)
    same = tmp_path / "same"
    again = train(corpus_file, same, *LIMITED, "--iterations", target, capsys=capsys)
    assert_same_state(state(limited), state(same))
    assert repr(again["smooth_loss"]) == repr(
        float(checkpoint.load_checkpoint(limited)["smooth_loss"])
    )


def test_a_time_limited_run_stopped_midway_and_resumed_ends_where_it_would_have(
    corpus_file, tmp_path
):
    """Stopped as a kill -9 stops it: nothing after its last checkpoint is kept."""
    run_dir = tmp_path / "stopped"
    argv = ["train", str(corpus_file), *TINY, *map(str, LIMITED), "--time-limit", "1.5"]
    args = build_parser("train").parse_args([*argv[1:], "--run-dir", str(run_dir)])
    request = replace(run_request(args), save_every=0.01)
    run = Run.open(request, warn=print)
    try:
        while run.trainer.iteration < run.target // 3:
            run.train_slice()
    finally:
        run.close()  # the process is gone: no last save
    target = document(run_dir)["target_iterations"]
    assert 0 < checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run_dir)) < target
    resume(run_dir)  # no time limit now: to the recorded target
    whole = tmp_path / "whole"
    train(corpus_file, whole, *LIMITED, "--iterations", target)
    assert_same_state(state(whole), state(run_dir))


def test_measuring_never_touches_the_run(small_corpus):
    trainer = Trainer(small_corpus.data, small_corpus.chars, TrainConfig(hidden_size=8))
    trainer.train(30)
    before = trainer.state_arrays()
    before = {name: np.array(value, copy=True) for name, value in before.items()}
    speed = budget.measure(trainer.config, trainer.data, trainer.chars, trainer.model.flat, 0.05)
    assert speed.update > 0 and speed.sample_char > 0 and speed.save > 0
    after = trainer.state_arrays()
    for name in before:
        if name not in Trainer.TIMING:
            assert np.array_equal(before[name], after[name]), name


def test_the_command_exits_within_its_time_limit(tmp_path):
    """The report's model: start-up, measuring, training, checkpoints, samples and the summary,
    all within T + 5 s of the command's start (a bound on behaviour, not a speed). On a machine
    so loaded that starting alone takes the whole limit, the run is refused, in time too."""
    run_dir = tmp_path / "run"
    argv = [sys.executable, "-m", "tui_rnn", "train", "--time-limit", "4"]
    argv += ["--run-dir", str(run_dir), "--json"]
    began = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    wall = time.monotonic() - began
    assert wall < 4 + 5, f"{wall:.1f} s"
    if done.returncode == 2:
        assert done.stderr.count("\n") == 1 and "leaves no time to train" in done.stderr
        assert not run_dir.exists()
        return
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["time_limit"] == 4 and summary["iterations"] > 0
    saved = checkpoint.load_checkpoint(run_dir)
    assert checkpoint.checkpoint_iteration(saved) == summary["iterations"]


def test_a_machine_slower_than_measured_stops_at_the_limit_saved(
    corpus_file, tmp_path, monkeypatch, capsys
):
    measure = budget.measure

    def too_fast(*args, **kwargs):  # as if the machine slowed down tenfold after measuring
        speed = measure(*args, **kwargs)
        return budget.Speed(speed.update / 10, speed.evaluation, speed.sample_char, speed.save)

    monkeypatch.setattr(budget, "measure", too_fast)
    run_dir = tmp_path / "run"
    began = time.monotonic()
    summary = train(corpus_file, run_dir, "--time-limit", "1", capsys=capsys)
    assert time.monotonic() - began < 1 + 5
    target = document(run_dir)["target_iterations"]
    assert summary["stopped"] == "time_limit" and 0 < summary["iterations"] < target
    assert summary["target"] == target
    assert (
        checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run_dir))
        == (summary["iterations"])
    )


def test_resume_with_a_time_limit_trains_that_much_more(corpus_file, tmp_path, capsys):
    run_dir = tmp_path / "run"
    train(corpus_file, run_dir, "--iterations", 100)
    capsys.readouterr()
    resume(run_dir, "--time-limit", "1.5")
    summary = json.loads(capsys.readouterr().out)
    recorded = document(run_dir)
    (record,) = recorded["time_limits"]
    assert record["iteration"] == 100 and record["seconds"] == 1.5
    assert recorded["target_iterations"] == record["target"] == summary["target"] > 100
    line = fails(["train", "--resume", run_dir, "--time-limit", "5", "--iterations", "900"], capsys)
    assert "--time-limit" in line and "--iterations" in line


def test_a_presets_time_limit_gives_way_to_iterations_or_epochs():
    assert (
        Run._time_limit(RunRequest(preset="quality")) == PRESET_RUN_OPTIONS["quality"]["time_limit"]
    )
    assert Run._time_limit(RunRequest(preset="quality", iterations=10)) is None
    assert Run._time_limit(RunRequest(preset="quality", epochs=1.0)) is None
    assert Run._time_limit(RunRequest(preset="quality", resume="somewhere")) is None
    assert Run._time_limit(RunRequest(preset="quality", time_limit=60.0)) == 60.0
    assert Run._time_limit(RunRequest()) is None
    with pytest.raises(OptionError, match="--time-limit and --epochs"):
        Run._time_limit(RunRequest(time_limit=60.0, epochs=2.0))


def test_the_quality_preset_schedules_and_stops_early(corpus_file, tmp_path, capsys):
    quality = resolve({}, "quality")
    assert quality.lr_schedule != "constant" and quality.patience and quality.val_fraction == 0.1
    train(corpus_file, tmp_path / "run", "--preset", "quality", "--iterations", 30)
    recorded = document(tmp_path / "run")
    assert "time_limit" not in recorded["requested"] and "time_limits" not in recorded
    assert recorded["config"]["schedule_end"] == 30
    # The preset's warmup (200 updates) takes a tenth of a run this short; one given is checked.
    assert quality.warmup > 30 and recorded["config"]["warmup"] == 3
    line = fails(["train", corpus_file, "--preset", "quality", "--warmup", "200",
                  "--iterations", "30", "--run-dir", tmp_path / "other"], capsys)  # fmt: skip
    assert "--warmup 200 is at or beyond the run's last update (30)" in line
    # A preset's schedule gives way to --lr-decay, its patience to --val-fraction 0.
    assert resolve({"lr_decay": 0.9}, "quality").lr_schedule == "constant"
    assert resolve({"val_fraction": 0.0}, "quality").patience is None


# -- early stopping ----------------------------------------------------------------------------
def overfitting_corpus(tmp_path) -> Path:
    """Letters drawn independently with skewed frequencies, the held-out half from the same
    draw: a model learns the frequencies (the validation loss falls below log 8), then
    memorises its 400 training letters, which tell nothing about the others (it rises)."""
    rng = np.random.default_rng(3)
    frequencies = [0.35, 0.25, 0.15, 0.1, 0.06, 0.04, 0.03, 0.02]
    path = tmp_path / "letters.txt"
    path.write_text("".join(rng.choice(list("abcdefgh"), 800, p=frequencies)), encoding="utf-8")
    return path


OVERFIT = ["--hidden", "64", "--seq-length", "20", "--optimizer", "adam", "--eta", "0.01"]
OVERFIT += ["--val-fraction", "0.5", "--eval-every", "20", "--patience", "4"]
OVERFIT += ["--sample-every", "100", "--sample-length", "10"]


def test_patience_stops_an_overfitting_run_keeping_its_best_model(tmp_path, capsys):
    corpus = overfitting_corpus(tmp_path)
    run_dir = tmp_path / "run"
    argv = ["train", str(corpus), *OVERFIT, "--iterations", 5000, "--run-dir", run_dir, "--json"]
    assert main([str(a) for a in argv]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["stopped"] == "patience" and summary["iterations"] < 5000
    arrays = checkpoint.load_checkpoint(run_dir)
    iterations, losses = arrays["val_iterations"], arrays["val_loss_history"]
    best = int(np.argmin(losses))
    assert iterations[-1] == summary["iterations"]
    assert len(losses) - 1 - best == 4  # four evaluations without a better one, then stop
    assert summary["best_val_iteration"] == iterations[best] == int(arrays["best_iteration"])
    assert summary["best_val_loss"] == losses[best] < losses[-1]
    assert losses[best] < losses[0] - 0.2  # it learned before it overfitted
    # The model kept is the best one: it reads the held-out text at the best loss.
    restored = checkpoint.restore_trainer(run_dir, load_corpus(str(corpus)))
    assert restored.evaluate(restored.best_flat) == losses[best]
    # Resumed, it stays stopped (and says how to go on); a larger patience trains on.
    assert main(["train", "--resume", str(run_dir), "--iterations", "6000", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["iterations"] == summary["iterations"]
    assert "stopped early" in captured.err and "--patience" in captured.err
    resume(run_dir, "--patience", "5", "--iterations", summary["iterations"] + 1)
    assert checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run_dir)) == (
        summary["iterations"] + 1
    )
    assert document(run_dir)["config"]["patience"] == 5


def test_a_run_stopped_and_resumed_stops_where_the_uninterrupted_one_does(tmp_path, capsys):
    corpus = overfitting_corpus(tmp_path)
    base = ["train", str(corpus), *OVERFIT, "--json", "--run-dir"]
    assert main([*map(str, base), str(tmp_path / "whole"), "--iterations", "5000"]) == 0
    stopped = json.loads(capsys.readouterr().out)["iterations"]
    # Halfway, off the evaluation schedule (so its target's evaluation must not count), then on.
    middle = stopped // 2 + 7
    assert main([*map(str, base), str(tmp_path / "parts"), "--iterations", str(middle)]) == 0
    resume(tmp_path / "parts", "--iterations", 5000)
    assert_same_training(state(tmp_path / "whole"), state(tmp_path / "parts"))


# -- the summary's best model ------------------------------------------------------------------
def test_the_summary_says_where_the_best_model_is_and_what_it_writes(corpus_file, tmp_path, capsys):
    run_dir = tmp_path / "run"
    options = ["--val-fraction", "0.1", "--iterations", "120"]
    summary = train(corpus_file, run_dir, *options, capsys=capsys)
    assert summary["best_model"] == str(run_dir / rundir.CHECKPOINT_FILE)
    assert len(summary["best_sample"]) == 200
    assert main(["generate", str(run_dir), "--best", "--length", "200"]) == 0
    assert capsys.readouterr().out == summary["best_sample"] + "\n"
    # Without --json: after the summary line, where the model is and its sample.
    argv = ["train", "--resume", str(run_dir), "--iterations", "130"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("done: 130 updates")
    assert lines[1].startswith("best model: val_loss ") and str(run_dir) in lines[1]
    assert "--best" in lines[1]
    # A run without validation says nothing more, and its JSON has no sample.
    plain = train(corpus_file, tmp_path / "plain", "--iterations", "20", capsys=capsys)
    assert plain["best_sample"] is None and plain["best_model"] is None


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options, words",
    [
        (["--time-limit", "soon"], "--time-limit must be a duration"),
        (["--time-limit", "0"], "--time-limit must be longer than zero"),
        (["--time-limit", "8d"], "--time-limit must be a duration"),
        (["--time-limit", "200h"], "at most a week"),
        (["--time-limit", "1m", "--iterations", "10"], "--time-limit"),
        (["--time-limit", "1m", "--epochs", "1"], "--time-limit"),
        (["--patience", "0"], "--patience must be >= 1"),
        (["--patience", "3"], "--patience 3 needs a validation loss"),
        (["--lr-schedule", "cosine", "--eta-min", "0.5"], "--eta-min 0.5 is above --eta 0.1"),
        (["--eta-min", "0.01"], "--eta-min needs a schedule"),
        (["--warmup", "50", "--iterations", "50"], "--warmup 50 is at or beyond"),
        (["--lr-schedule", "linear", "--lr-decay", "0.9"], "--lr-decay 0.9 cannot go with"),
        (["--lr-schedule", "sawtooth"], "--lr-schedule must be one of constant, cosine, linear"),
    ],
)
def test_bad_budget_options_are_one_line_and_write_nothing(
    options, words, corpus_file, tmp_path, capsys
):
    run_dir = tmp_path / "run"
    line = fails(["train", corpus_file, *TINY, *options, "--run-dir", run_dir], capsys)
    assert words in line
    assert not run_dir.exists()


def test_a_time_limit_with_no_time_to_train_is_refused(corpus_file, tmp_path, capsys):
    run_dir = tmp_path / "run"
    options = ["--val-fraction", "0.1", "--time-limit", "0.1"]  # less than measuring takes
    line = fails(["train", corpus_file, *TINY, *options, "--run-dir", run_dir], capsys)
    assert "--time-limit 0.1s leaves no time to train" in line and "--val-fraction" in line
    assert not run_dir.exists()


def test_a_time_limit_too_short_for_the_warmup_is_refused(corpus_file, tmp_path, capsys):
    run_dir = tmp_path / "run"
    options = ["--warmup", "100000000", "--time-limit", "1"]
    line = fails(["train", corpus_file, *TINY, *options, "--run-dir", run_dir], capsys)
    assert "--warmup 100,000,000 is at or beyond the run's last update" in line
    assert not run_dir.exists()


# -- older runs --------------------------------------------------------------------------------
def test_a_run_from_before_the_budget_options_resumes_bit_for_bit(corpus_file, tmp_path):
    """Its config.json lacks the schedule's and patience's keys and its checkpoint the patience
    counter: it resumes as it trained, constant learning rate and no early stopping."""
    whole, old = tmp_path / "whole", tmp_path / "old"
    train(corpus_file, whole, "--val-fraction", "0.1", "--iterations", "150")
    train(corpus_file, old, "--val-fraction", "0.1", "--iterations", "80")
    recorded = document(old)
    for name in ("lr_schedule", "warmup", "eta_min", "patience", "schedule_end"):
        del recorded["config"][name]
    (old / "config.json").write_text(json.dumps(recorded), encoding="utf-8")
    arrays = checkpoint.load_checkpoint(old)
    del arrays["evaluations_since_best"]
    for name in ("checkpoint.npz", "checkpoint.prev.npz"):
        (old / name).unlink(missing_ok=True)
    with open(old / "checkpoint.npz", "wb") as f:
        np.savez(f, **arrays)
    resume(old, "--iterations", "150")
    assert_same_training(state(whole), state(old))


def test_the_driver_measures_a_time_limit_before_writing_anything(tmp_path):
    """The driver's own path (the app's): a RunRequest with a time limit and no command start."""
    corpus = tmp_path / "c.txt"
    corpus.write_text(make_text(3000, seed=9), encoding="utf-8")
    request = RunRequest(
        corpus=str(corpus), options={"hidden_size": 8}, time_limit=2.0,
        run_dir=str(tmp_path / "run"),
    )  # fmt: skip
    run = Run.open(request, warn=print, lazy=True)
    try:
        assert run.target > 0 and run.time_left is not None and run.time_left < 2.0
        assert not run.created  # measured, nothing written yet
    finally:
        run.close()
