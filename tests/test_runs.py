"""Run directories: config.json, atomic checkpoints, exact resume, samples, locking, export."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import make_text

from tui_rnn import __version__
from tui_rnn.cli import main
from tui_rnn.store import checkpoint, export, rundir
from tui_rnn.store import config as store_config
from tui_rnn.store import samples as store_samples
from tui_rnn.training.corpus import load_corpus
from tui_rnn.training.options import TrainConfig
from tui_rnn.training.trainer import Trainer

TINY = ["--hidden", "8", "--seq-length", "10", "--sample-every", "40", "--sample-length", "25"]


@pytest.fixture
def short_corpus_file(tmp_path):
    """About 70 updates per epoch at seq_length 10, so a few hundred updates cross epochs."""
    path = tmp_path / "short.txt"
    path.write_text(make_text(700, seed=3), encoding="utf-8")
    return path


def train(corpus, run_dir, *options) -> int:
    return main(["train", str(corpus), *TINY, "--run-dir", str(run_dir), "--json", *options])


def resume(run_dir, *options) -> int:
    return main(["train", "--resume", str(run_dir), "--json", *options])


def run_state(run_dir) -> dict:
    """Everything a run holds that must replay bit for bit."""
    arrays = checkpoint.load_checkpoint(run_dir)
    arrays.pop("samples_bytes")
    arrays["samples.txt"] = np.frombuffer((Path(run_dir) / "samples.txt").read_bytes(), np.uint8)
    return arrays


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        if name in Trainer.TIMING:  # wall-clock: never the same twice
            continue
        assert a[name].dtype == b[name].dtype, name
        assert np.array_equal(a[name], b[name]), name


# -- config.json -------------------------------------------------------------------------------
def test_config_json_records_every_option_the_corpus_and_versions(tmp_path, short_corpus_file):
    run_dir = tmp_path / "run"
    assert train(short_corpus_file, run_dir, "--iterations", "20", "--eta", "0.05") == 0
    document = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    raw = short_corpus_file.read_bytes()
    text = raw.decode("utf-8")
    assert document["schema_version"] == rundir.SCHEMA_VERSION
    assert document["tui_rnn_version"] == __version__
    assert document["numpy_version"] == np.__version__
    assert (
        document["config"]
        == TrainConfig(
            hidden_size=8, seq_length=10, eta=0.05, sample_every=40, sample_length=25
        ).to_dict()
    )
    assert document["corpus"]["sha256"] == hashlib.sha256(raw).hexdigest()
    assert document["corpus"]["characters"] == len(text)
    assert document["corpus"]["bytes"] == len(raw)
    assert document["corpus"]["path"] == str(short_corpus_file.resolve())
    assert document["vocabulary"] == "".join(sorted(set(text)))
    assert document["encoding"] == "utf-8"
    assert document["target_iterations"] == 20
    assert document["save_every"] == 10.0


# -- checkpoints -------------------------------------------------------------------------------
def test_checkpoint_restores_the_exact_state(tmp_path, small_corpus, tiny_config):
    run_dir = rundir.prepare_run_dir(tmp_path / "run")
    store_config.write_config(run_dir, tiny_config, small_corpus)
    trainer = Trainer(small_corpus.data, small_corpus.chars, tiny_config)
    trainer.train(137)
    checkpoint.save_checkpoint(run_dir, trainer)
    restored = checkpoint.restore_trainer(run_dir, small_corpus)
    assert_same_state(trainer.state_arrays(), restored.state_arrays())
    trainer.train(260)
    restored.train(260)
    assert_same_state(trainer.state_arrays(), restored.state_arrays())


def test_checkpoints_are_never_read_by_np_load(tmp_path, short_corpus_file, monkeypatch):
    """np.load trusts headers and inflates members; every load goes through npzsafe."""
    run_dir = tmp_path / "run"
    assert train(short_corpus_file, run_dir, "--iterations", "30") == 0
    seen = []

    def spy(*args, **kwargs):
        seen.append(args)
        raise AssertionError("np.load was called")

    monkeypatch.setattr(np, "load", spy)
    checkpoint.load_checkpoint(run_dir)
    checkpoint.load_model(run_dir, best=True)
    export.export_run(run_dir, "json")
    assert resume(run_dir, "--iterations", "35") == 0
    assert checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run_dir)) == 35
    assert seen == []


def test_previous_checkpoint_is_kept_and_used_when_the_newest_is_damaged(
    tmp_path, small_corpus, tiny_config
):
    run_dir = rundir.prepare_run_dir(tmp_path / "run")
    store_config.write_config(run_dir, tiny_config, small_corpus)
    trainer = Trainer(small_corpus.data, small_corpus.chars, tiny_config)
    trainer.train(10)
    checkpoint.save_checkpoint(run_dir, trainer)
    trainer.train(25)
    checkpoint.save_checkpoint(run_dir, trainer)
    previous = checkpoint.load_checkpoint_file(run_dir / rundir.PREVIOUS_CHECKPOINT_FILE)
    assert checkpoint.checkpoint_iteration(previous) == 10
    assert checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run_dir)) == 25

    newest = run_dir / rundir.CHECKPOINT_FILE
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # torn
    warnings = []
    restored = checkpoint.restore_trainer(run_dir, small_corpus, warn=warnings.append)
    assert restored.iteration == 10
    assert len(warnings) == 1 and "truncated or corrupt" in warnings[0]


# -- exact resume ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("length", "stops"),
    [("--iterations", ["37", "100", "173", "240"]), ("--epochs", ["0.5", "1", "2.5"])],
)
def test_stopped_and_resumed_run_is_bit_identical(tmp_path, short_corpus_file, length, stops):
    whole = tmp_path / "whole"
    assert train(short_corpus_file, whole, length, stops[-1]) == 0
    pieces = tmp_path / "pieces"
    assert train(short_corpus_file, pieces, length, stops[0]) == 0
    for stop in stops[1:]:
        assert resume(pieces, length, stop) == 0
    state = run_state(pieces)
    assert int(state["epoch"]) >= 3 if length == "--epochs" else True
    assert_same_state(run_state(whole), state)


def test_resume_cuts_samples_written_after_the_checkpoint(tmp_path, short_corpus_file):
    whole, pieces = tmp_path / "whole", tmp_path / "pieces"
    assert train(short_corpus_file, whole, "--iterations", "130") == 0
    assert train(short_corpus_file, pieces, "--iterations", "50") == 0
    # As after a kill -9 between writing samples and the next checkpoint: one whole record
    # the checkpoint does not account for, then a torn one.
    with open(pieces / "samples.txt", "a", encoding="utf-8") as f:
        f.write("iter = 80, smooth_loss = 70.0000\nnot from this state\n\niter = 1")
    assert resume(pieces, "--iterations", "130") == 0
    assert (pieces / "samples.txt").read_bytes() == (whole / "samples.txt").read_bytes()
    assert_same_state(run_state(whole), run_state(pieces))


def cut_samples(run_dir: Path, keep: int) -> bytes:
    """samples.txt cut to its first `keep` bytes (a bad copy, an editor); what it held."""
    path = run_dir / "samples.txt"
    whole = path.read_bytes()
    path.write_bytes(whole[:keep])
    return whole


def test_resume_notices_a_cut_samples_file_and_starts_the_next_record_afresh(
    tmp_path, short_corpus_file, capsys
):
    """samples.txt shorter than its checkpoint says: its last record may be cut anywhere (even
    just after a blank line of its text, where it would parse as whole), so the records before
    it are kept, it is dropped, and the next sample starts a record of its own."""
    run_dir = tmp_path / "run"
    assert train(short_corpus_file, run_dir, "--iterations", "180") == 0  # samples 0 ... 160
    whole = (run_dir / "samples.txt").read_bytes()
    last = whole.rindex(b"iter = 160")
    keep = last + whole[last:].index(b"\n") + 1 + 10  # its header and 10 characters of text
    cut_samples(run_dir, keep)
    capsys.readouterr()
    assert resume(run_dir, "--iterations", "200") == 0
    err = capsys.readouterr().err
    assert f"samples.txt is {keep:,} bytes, shorter than the {len(whole):,}" in err
    assert f"the records in its first {last:,} bytes are whole: they are kept" in err
    text = (run_dir / "samples.txt").read_text(encoding="utf-8")
    samples = store_samples.parse_samples(text)
    assert [s.iteration for s in samples] == [0, 40, 80, 120, 200]
    assert text == "".join(store_samples.format_sample(s) for s in samples)
    assert text.startswith(whole[:last].decode("utf-8"))  # what was whole, kept as it was
    assert int(checkpoint.load_checkpoint(run_dir)["samples_bytes"]) == len(text.encode())
    assert resume(run_dir, "--iterations", "200") == 0  # consistent again: nothing more said
    assert "shorter than" not in capsys.readouterr().err
    assert (run_dir / "samples.txt").read_text(encoding="utf-8") == text


def test_a_cut_samples_file_is_said_when_exported_and_only_whole_records_are(trained_run, capsys):
    whole = cut_samples(trained_run, -5)  # all but the last record's end
    assert main(["export", str(trained_run), "--samples", "--output", "-"]) == 0
    out, err = capsys.readouterr()
    assert "shorter than the" in err and "only those are exported" in err
    assert out.encode() == whole[: whole.rindex(b"iter = 160")]
    cut_samples(trained_run, 0)  # shorter still: none is whole
    assert main(["export", str(trained_run), "--samples", "--format", "json", "--output", "-"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"samples": []} and "none is whole" in err


def test_resume_refills_the_sample_log(tmp_path, short_corpus_file):
    run_dir = tmp_path / "run"
    assert train(short_corpus_file, run_dir, "--iterations", "120") == 0
    corpus = load_corpus(short_corpus_file)
    trainer = checkpoint.restore_trainer(run_dir, corpus)
    assert [s.iteration for s in trainer.samples] == [0, 40, 80, 120]
    text = (run_dir / "samples.txt").read_text(encoding="utf-8")
    assert text == "".join(store_samples.format_sample(s) for s in trainer.samples)
    assert all(len(s.text) == 25 for s in trainer.samples)


def test_resume_goes_on_to_the_runs_own_target(tmp_path, short_corpus_file):
    run_dir = tmp_path / "run"
    assert train(short_corpus_file, run_dir, "--iterations", "30") == 0
    config = json.loads((run_dir / "config.json").read_text())
    config["target_iterations"] = 75  # as if the run had been stopped on its way to 75
    (run_dir / "config.json").write_text(json.dumps(config))
    assert resume(run_dir) == 0
    assert checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run_dir)) == 75


def test_a_target_the_run_is_past_changes_nothing(tmp_path, short_corpus_file, capsys):
    run_dir = tmp_path / "run"
    assert train(short_corpus_file, run_dir, "--iterations", "60") == 0
    before = run_state(run_dir)
    capsys.readouterr()
    assert resume(run_dir, "--iterations", "20") == 0
    assert "past its target 20" in capsys.readouterr().err
    assert json.loads((run_dir / "config.json").read_text())["target_iterations"] == 60
    assert_same_state(before, run_state(run_dir))


def test_resume_refuses_other_options_but_records_a_new_eta(tmp_path, short_corpus_file, capsys):
    run_dir = tmp_path / "run"
    assert train(short_corpus_file, run_dir, "--iterations", "20") == 0
    capsys.readouterr()
    assert resume(run_dir, "--hidden", "32") == 2
    err = capsys.readouterr().err
    assert "--hidden 32 conflicts with the run's hidden_size = 8" in err
    assert len(err.strip().splitlines()) == 1
    assert resume(run_dir, "--hidden", "8", "--iterations", "25") == 0  # the run's own value

    assert resume(run_dir, "--eta", "0.02", "--iterations", "40") == 0
    document = store_config.read_config(run_dir)
    assert document["config"]["eta"] == 0.02
    assert document["eta_changes"] == [{"iteration": 25, "eta": 0.02}]
    assert checkpoint.restore_trainer(run_dir, load_corpus(short_corpus_file)).config.eta == 0.02


def test_a_run_being_trained_is_locked(tmp_path, short_corpus_file, capsys):
    import fcntl

    run_dir = tmp_path / "run"
    assert train(short_corpus_file, run_dir, "--iterations", "10") == 0
    with open(run_dir / rundir.LOCK_FILE, "r+") as held:  # another process's lock, as flock sees it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242\n")
        held.flush()
        capsys.readouterr()
        assert resume(run_dir, "--iterations", "20") == 2
        assert "open in another tui-rnn process (pid 4242)" in capsys.readouterr().err
    assert resume(run_dir, "--iterations", "20") == 0  # the lock went with its holder


def test_a_new_run_never_overwrites_an_old_one(tmp_path, short_corpus_file, capsys):
    run_dir = tmp_path / "run"
    assert train(short_corpus_file, run_dir, "--iterations", "10") == 0
    before = (run_dir / rundir.CHECKPOINT_FILE).read_bytes()
    assert train(short_corpus_file, run_dir, "--iterations", "10") == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (run_dir / rundir.CHECKPOINT_FILE).read_bytes() == before


# -- export ------------------------------------------------------------------------------------
@pytest.fixture
def trained_run(tmp_path, short_corpus_file):
    run_dir = tmp_path / "run"
    assert train(short_corpus_file, run_dir, "--iterations", "180") == 0
    return run_dir


def test_csv_export_holds_every_update_exactly(trained_run, capsys):
    assert main(["export", str(trained_run)]) == 0
    path = trained_run / "loss_history.csv"
    assert str(path) in capsys.readouterr().out
    arrays = checkpoint.load_checkpoint(trained_run)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(export.FIELDS)
    assert all(r["val_loss"] == "" for r in rows)  # no validation in this run
    assert [int(r["chars_seen"]) for r in rows] == [10 * i for i in range(1, 181)]
    seconds = np.array([float(r["seconds"]) for r in rows])
    assert (np.diff(seconds) >= 0).all() and seconds[-1] > 0
    assert [int(r["iteration"]) for r in rows] == list(range(1, 181))
    loss = np.array([np.float32(r["loss"]) for r in rows])
    smooth = np.array([np.float32(r["smooth_loss"]) for r in rows])
    assert np.array_equal(loss, arrays["loss_history"])
    assert np.array_equal(smooth, arrays["smooth_loss_history"])
    epochs = np.array([int(r["epoch"]) for r in rows])
    # An epoch starts when the next chunk would run past the end: updates_per_epoch = 69.
    updates_per_epoch = (len(load_corpus(trained_run.parent / "short.txt")) - 1) // 10
    assert np.array_equal(epochs, np.arange(180) // updates_per_epoch + 1)
    assert epochs[-1] == 3


def test_csv_export_loads_in_pandas(trained_run):
    pandas = pytest.importorskip("pandas")
    assert main(["export", str(trained_run)]) == 0
    frame = pandas.read_csv(trained_run / "loss_history.csv")
    assert list(frame.columns) == list(export.FIELDS)
    assert frame["val_loss"].isna().all() and frame["seconds"].dtype.kind == "f"
    assert len(frame) == 180


def test_json_export_has_the_history_and_the_config(trained_run, tmp_path):
    out = tmp_path / "out" / "history.json"
    out.parent.mkdir()
    assert main(["export", str(trained_run), "--format", "json", "--output", str(out)]) == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    arrays = checkpoint.load_checkpoint(trained_run)
    assert document["config"] == store_config.read_config(trained_run)
    assert document["fields"] == list(export.FIELDS)
    assert document["history"]["val_loss"] == [None] * 180
    assert document["rows"] == 180
    history = document["history"]
    assert history["iteration"] == list(range(1, 181))
    assert np.array_equal(np.array(history["loss"], np.float32), arrays["loss_history"])
    assert np.array_equal(
        np.array(history["smooth_loss"], np.float32), arrays["smooth_loss_history"]
    )
    assert len(history["epoch"]) == 180


def test_samples_export_and_stdout(trained_run, capsys):
    assert main(["export", str(trained_run), "--samples"]) == 0
    exported = (trained_run / "samples_export.txt").read_bytes()
    assert exported == (trained_run / "samples.txt").read_bytes()
    assert exported.count(b"iter = ") == 5  # iterations 0, 40, 80, 120, 160
    capsys.readouterr()
    assert main(["export", str(trained_run), "--output", "-"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(",".join(export.FIELDS) + "\n1,1,")
    assert out.count("\n") == 181
    assert main(["export", str(trained_run)]) == 0
    assert out == (trained_run / "loss_history.csv").read_text()


def test_export_from_memory_matches_export_from_the_run(trained_run, tmp_path):
    trainer = checkpoint.restore_trainer(trained_run, load_corpus(trained_run.parent / "short.txt"))
    assert main(["export", str(trained_run)]) == 0
    assert main(["export", str(trained_run), "--format", "json"]) == 0
    from_run = [(trained_run / f"loss_history.{f}").read_bytes() for f in ("csv", "json")]
    paths = export.export_history(trained_run, trainer)  # the app's form
    assert [p.name for p in paths] == ["loss_history.csv", "loss_history.json"]
    assert [p.read_bytes() for p in paths] == from_run
    mine = export.export_history(trainer, tmp_path / "mine.csv", "csv")
    assert mine.read_bytes() == from_run[0]


def test_history_columns_number_epochs_from_epoch_starts():
    columns = export.history_columns([1.0, 2.0, 3.0, 4.0, 5.0], [1.0] * 5, [0, 2, 4])
    assert columns["iteration"].tolist() == [1, 2, 3, 4, 5]
    assert columns["epoch"].tolist() == [1, 1, 2, 2, 3]


def test_parse_samples_skips_a_torn_record():
    text = "iter = 0, smooth_loss = 1.5000\nab\n\nc\n\nbest model, iter = 7, smooth_loss = 1.2"
    text += "000\nxy\n\niter = 9, smooth_loss = 1.1000\ntorn"
    samples = store_samples.parse_samples(text)
    assert [(s.iteration, s.text, s.best) for s in samples] == [
        (0, "ab\n\nc", False),
        (7, "xy", True),
    ]


def test_umask_decides_file_modes(tmp_path, short_corpus_file):
    run_dir = tmp_path / "run"
    assert train(short_corpus_file, run_dir, "--iterations", "5") == 0
    mode = (run_dir / rundir.CHECKPOINT_FILE).stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_a_target_below_the_iteration_is_refused_and_the_run_keeps_its_own(tmp_path, small_corpus):
    """The app's settings reach the engine thread while it trains: a target it has passed
    meanwhile must not leave the run beyond its own target."""
    from tui_rnn.driver import Run
    from tui_rnn.training.options import OptionError

    trainer = Trainer(small_corpus.data, small_corpus.chars, TrainConfig(hidden_size=8))
    run = Run.new(trainer, small_corpus, tmp_path / "run", 100)
    run.train_slice()
    assert trainer.iteration == 100
    with pytest.raises(OptionError, match="already at iter 100"):
        run.set_target(iterations=40)
    assert run.target == 100
    assert run.done
    run.save_if_unsaved()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["target_iterations"] == 100


def test_a_run_going_badly_ends_its_slice_so_it_is_said_at_once(tmp_path, small_corpus):
    from tui_rnn.driver import Run

    config = TrainConfig(hidden_size=8, seq_length=10, eta=1000.0)
    trainer = Trainer(small_corpus.data, small_corpus.chars, config)
    run = Run.new(trainer, small_corpus, tmp_path / "run", 3000)
    run.save_every = 1e9  # no checkpoint falls due: only the trouble may end the slice
    run.train_slice()
    assert trainer.iteration < 3000
    assert "going badly" in run.trouble()
    assert run.trouble() is None  # said once
    run.train_slice()
    assert trainer.iteration == 3000
