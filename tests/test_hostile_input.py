"""Hostile input: each case ends in one line on stderr, exit code 2, no traceback, nothing lost."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import make_text

from tui_rnn import runs
from tui_rnn.cli import main
from tui_rnn.corpus import from_text
from tui_rnn.train import DivergenceError, TrainConfig, Trainer

TINY = ["--hidden", "8", "--seq-length", "10", "--sample-every", "40", "--sample-length", "20"]


def fails(argv, capsys) -> str:
    """Run the CLI; it must fail with exactly one line on stderr and exit code 2."""
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tui-rnn: error: ")
    return lines[0]


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(make_text(800, seed=5), encoding="utf-8")
    return path


@pytest.fixture
def run_dir(tmp_path, corpus_file):
    run = tmp_path / "run"
    argv = ["train", str(corpus_file), *TINY, "--iterations", "50", "--run-dir", str(run)]
    assert main([*argv, "--json"]) == 0
    return run


# -- corpora -----------------------------------------------------------------------------------
CORPORA = {
    "missing": (None, "does not exist"),
    "directory": ("DIR", "is a directory"),
    "empty": (b"", "is empty"),
    "binary": (b"\x7fELF\x02\x01\x00\x00" * 50, "looks binary"),
    "undecodable": ("caf\u00e9 au lait, ".encode("latin-1") * 20, "not valid utf-8"),
    "too short": (b"hello", "fewer than seq_length + 1"),
    "one character": (b"a" * 500, "only one distinct character"),
}


@pytest.mark.parametrize("case", CORPORA)
def test_bad_corpus(case, tmp_path, capsys):
    content, expected = CORPORA[case]
    path = tmp_path / "corpus.txt"
    if content == "DIR":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    run = tmp_path / "run"
    line = fails(["train", path, *TINY, "--run-dir", run], capsys)
    assert expected in line
    assert not run.exists()  # nothing was created for a corpus we refused


# -- options -----------------------------------------------------------------------------------
OPTIONS = {
    "hidden 0": (["--hidden", "0"], "--hidden"),
    "hidden negative": (["--hidden", "-4"], "--hidden"),
    "eta 0": (["--eta", "0"], "--eta"),
    "eta negative": (["--eta", "-0.1"], "--eta"),
    "eta NaN": (["--eta", "nan"], "--eta"),
    "eta inf": (["--eta", "inf"], "--eta"),
    "seq_length 0": (["--seq-length", "0"], "--seq-length"),
    "sigma negative": (["--sigma", "-0.01"], "--sigma"),
    "unknown option": (["--learning-rate", "3"], "--learning-rate"),
    "not a number": (["--hidden", "many"], "--hidden"),
    "hidden too big for memory": (["--hidden", str(10**9)], "--hidden"),  # not a MemoryError
    "epochs overflow": (["--epochs", "1e308"], "--epochs"),  # not an OverflowError
}


@pytest.mark.parametrize("case", OPTIONS)
def test_bad_option(case, corpus_file, tmp_path, capsys):
    options, expected = OPTIONS[case]
    run = tmp_path / "run"
    line = fails(["train", corpus_file, "--run-dir", run, *options], capsys)
    assert expected in line
    assert not run.exists()


@pytest.mark.parametrize("option", ["--run-dir", "--resume"])
def test_an_empty_directory_path_is_refused_not_replaced_by_a_new_run(
    option, corpus_file, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    line = fails(["train", corpus_file, option, ""], capsys)
    assert option in line and "empty" in line
    assert not (tmp_path / "runs").exists()


# -- runs and checkpoints ----------------------------------------------------------------------
def every_command(run):
    return [
        ["train", "--resume", run],
        ["generate", run],
        ["export", run],
    ]


def test_missing_run(tmp_path, capsys):
    for argv in every_command(tmp_path / "nowhere"):
        assert "does not exist" in fails(argv, capsys)


def test_a_directory_that_is_not_a_run(tmp_path, capsys):
    for argv in every_command(tmp_path):
        assert "not a tui-rnn run" in fails(argv, capsys)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def _flip_bytes(path: Path) -> None:
    """Damage array data in the middle of the archive (the zip CRC catches it)."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("params.npy")
    middle = info.header_offset + 200
    raw[middle : middle + 16] = bytes(16)
    path.write_bytes(bytes(raw))


def _garbage(path: Path) -> None:
    path.write_bytes(b"these are not the bytes of a checkpoint\n" * 10)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [(_truncate, "truncated or corrupt"), (_flip_bytes, "corrupt"), (_garbage, "not an .npz")],
)
def test_damaged_checkpoints(damage, expected, run_dir, capsys):
    for name in (runs.CHECKPOINT_FILE, runs.PREVIOUS_CHECKPOINT_FILE):
        damage(run_dir / name)
    for argv in every_command(run_dir):
        line = fails(argv, capsys)
        assert expected in line and "checkpoint" in line


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous(run_dir, capsys):
    previous = runs.load_checkpoint_file(run_dir / runs.PREVIOUS_CHECKPOINT_FILE)
    _flip_bytes(run_dir / runs.CHECKPOINT_FILE)
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir), "--iterations", "70", "--json"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and f"iteration {runs.checkpoint_iteration(previous)}" in err
    assert runs.checkpoint_iteration(runs.load_checkpoint(run_dir)) == 70


def test_a_run_from_another_corpus_is_refused(run_dir, corpus_file, tmp_path, capsys):
    same_vocabulary = tmp_path / "shuffled.txt"
    text = corpus_file.read_text(encoding="utf-8")
    same_vocabulary.write_text(text[::-1], encoding="utf-8")
    line = fails(["train", same_vocabulary, "--resume", run_dir], capsys)
    assert "not the text this run was trained on" in line

    other_vocabulary = tmp_path / "digits.txt"
    other_vocabulary.write_text("0123456789 " * 100, encoding="utf-8")
    assert "different vocabulary" in fails(["train", other_vocabulary, "--resume", run_dir], capsys)

    corpus_file.write_text(text + text[:50], encoding="utf-8")  # edited in place
    assert "not the text this run" in fails(["train", "--resume", run_dir], capsys)
    assert runs.checkpoint_iteration(runs.load_checkpoint(run_dir)) == 50  # untouched


def test_resume_with_too_many_epochs(run_dir, capsys):
    assert "--epochs" in fails(["train", "--resume", run_dir, "--epochs", "1e308"], capsys)


def test_a_moved_corpus_says_how_to_resume(run_dir, corpus_file, capsys):
    moved = corpus_file.with_name("moved.txt")
    corpus_file.rename(moved)
    line = fails(["train", "--resume", run_dir], capsys)
    assert "does not exist" in line and "--resume" in line
    assert main(["train", str(moved), "--resume", str(run_dir), "--iterations", "60"]) == 0


def _rewrite_checkpoint(path: Path, **changes) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays.update(changes)
    np.savez(path, **arrays)


def test_a_future_checkpoint_schema_is_refused_without_falling_back(run_dir, capsys):
    _rewrite_checkpoint(run_dir / runs.CHECKPOINT_FILE, schema_version=np.array(99))
    for argv in every_command(run_dir):
        line = fails(argv, capsys)
        assert "schema version 99" in line and "upgrade tui-rnn" in line


def test_a_future_config_schema_is_refused(run_dir, capsys):
    document = json.loads((run_dir / "config.json").read_text())
    document["schema_version"] = 7
    (run_dir / "config.json").write_text(json.dumps(document))
    for argv in every_command(run_dir):
        assert "schema version 7" in fails(argv, capsys)


def test_a_broken_config_is_refused(run_dir, capsys):
    (run_dir / "config.json").write_text('{"schema_version": 1, "config": ')
    for argv in every_command(run_dir):
        assert "not JSON" in fails(argv, capsys)


def test_a_checkpoint_that_does_not_fit_its_config_is_refused(run_dir, capsys):
    document = json.loads((run_dir / "config.json").read_text())
    document["config"]["hidden_size"] = 9
    (run_dir / "config.json").write_text(json.dumps(document))
    for argv in every_command(run_dir)[:2]:
        assert "does not fit its config" in fails(argv, capsys)


class _Payload:
    """Unpickling this creates the marker file: proof that a pickle was executed."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickled_checkpoint_is_refused_and_never_executed(run_dir, tmp_path, capsys):
    marker = tmp_path / f"pwned-{uuid.uuid4().hex}"
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload(marker)
    for name in (runs.CHECKPOINT_FILE, runs.PREVIOUS_CHECKPOINT_FILE):
        _rewrite_checkpoint(run_dir / name, params=evil)
    # The payload is live: a loader that allows pickles runs it.
    with np.load(run_dir / runs.CHECKPOINT_FILE, allow_pickle=True) as npz:
        npz["params"]
    assert marker.exists()
    marker.unlink()

    for argv in every_command(run_dir):
        assert "pickled Python objects" in fails(argv, capsys)
    assert not marker.exists()


# -- writing -----------------------------------------------------------------------------------
def test_an_unwritable_run_directory(corpus_file, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    line = fails(["train", corpus_file, *TINY, "--run-dir", blocker / "run"], capsys)
    assert "cannot write in run directory" in line


def test_a_run_dir_that_is_a_file(corpus_file, tmp_path, capsys):
    taken = tmp_path / "notes.txt"
    taken.write_text("my notes\n", encoding="utf-8")
    line = fails(["train", corpus_file, *TINY, "--run-dir", taken], capsys)
    assert "notes.txt is a file" in line and "--run-dir" in line
    assert taken.read_text(encoding="utf-8") == "my notes\n"


def test_a_read_only_run_directory(corpus_file, tmp_path, capsys):
    target = tmp_path / "readonly"
    target.mkdir()
    if os.geteuid() != 0:
        target.chmod(0o500)
        cleanup = lambda: target.chmod(0o700)  # noqa: E731
    else:  # root writes through permissions: use a read-only mount instead
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(target)],
            capture_output=True,
        )
        if mounted.returncode != 0:
            pytest.skip("running as root without permission to mount a read-only tmpfs")
        cleanup = lambda: subprocess.run(["umount", str(target)], check=False)  # noqa: E731
    try:
        line = fails(["train", corpus_file, *TINY, "--run-dir", target / "run"], capsys)
        assert "cannot write in run directory" in line
    finally:
        cleanup()


def test_an_export_never_overwrites_the_runs_own_files(run_dir, capsys):
    originals = {
        name: (run_dir / name).read_bytes()
        for name in (runs.CONFIG_FILE, runs.CHECKPOINT_FILE, runs.SAMPLES_FILE)
    }
    for name in originals:
        for extra in ([], ["--format", "json"], ["--samples"]):
            line = fails(["export", run_dir, "--output", run_dir / name, *extra], capsys)
            assert f"run's own {name}" in line and "--output" in line
    for name, content in originals.items():
        assert (run_dir / name).read_bytes() == content
    assert main(["generate", str(run_dir), "--length", "5"]) == 0  # the run still works


def test_an_unwritable_export_path(run_dir, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for extra in ([], ["--format", "json"], ["--samples"]):
        line = fails(["export", run_dir, "--output", blocker / "out.csv", *extra], capsys)
        assert "cannot write" in line and "--output" in line
    assert "--format" in fails(["export", run_dir, "--format", "xml"], capsys)


def test_a_full_disk_stops_training_with_the_last_checkpoint_intact(
    run_dir, corpus_file, monkeypatch, capsys
):
    """The disk fills up during the third save: the run stops cleanly and resumes later."""
    real_savez = np.savez
    saves = []

    def savez_on_a_filling_disk(f, **arrays):
        saves.append(int(arrays["scalars"][1]))
        if len(saves) >= 3:
            f.write(b"PK\x03\x04 half a checkpoint")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_savez(f, **arrays)

    monkeypatch.setattr(runs.np, "savez", savez_on_a_filling_disk)
    argv = ["train", "--resume", run_dir, "--iterations", "200", "--save-every", "1000"]
    line = fails(argv, capsys)
    assert "No space left on device" in line and "previous checkpoint is intact" in line
    last_good = runs.load_checkpoint(run_dir)
    assert runs.checkpoint_iteration(last_good) == saves[1]  # the last save that completed
    assert not list(run_dir.glob(".checkpoint.*.tmp"))

    monkeypatch.setattr(runs.np, "savez", real_savez)  # space freed
    assert main(["train", "--resume", str(run_dir), "--json"]) == 0
    assert runs.checkpoint_iteration(runs.load_checkpoint(run_dir)) == 200


def test_a_real_full_disk(corpus_file, tmp_path, capsys):
    """A tiny tmpfs (needs root): the checkpoints outgrow it while the run trains."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        run = disk / "run"
        argv = ["train", corpus_file, "--hidden", "8", "--seq-length", "10", "--run-dir", run]
        argv += ["--sample-every", "100", "--iterations", "200000", "--save-every", "0.05"]
        line = fails(argv, capsys)
        assert "No space left on device" in line
        last_good = runs.load_checkpoint(run)
        assert runs.checkpoint_iteration(last_good) > 0
        rescued = tmp_path / "rescued"
        shutil.copytree(run, rescued)
    finally:
        subprocess.run(["umount", str(disk)], check=False)
    iteration = runs.checkpoint_iteration(last_good)
    assert main(["train", "--resume", str(rescued), "--iterations", str(iteration + 5)]) == 0


# -- prompts -----------------------------------------------------------------------------------
def test_a_prompt_with_unknown_characters(run_dir, capsys):
    line = fails(["generate", run_dir, "--prompt", "the Ωmega ☃"], capsys)
    assert "'Ω'" in line and "'☃'" in line and "vocabulary" in line


def test_ctrl_c_during_generate_is_one_line_and_exit_130(run_dir, capsys, monkeypatch):
    from tui_rnn import sampling

    def interrupted(*args, **kwargs):
        yield 0
        raise KeyboardInterrupt

    monkeypatch.setattr(sampling, "continue_prompt", interrupted)
    capsys.readouterr()
    assert main(["generate", str(run_dir), "--length", "1000"]) == 130
    err = capsys.readouterr().err
    assert err == "tui-rnn: interrupted\n"


# -- divergence --------------------------------------------------------------------------------
def test_step_raises_before_applying_the_update():
    corpus = from_text(make_text(400, seed=1))
    trainer = Trainer(
        corpus.data, corpus.chars, TrainConfig(hidden_size=8, seq_length=10, eta=1e300)
    )
    with pytest.raises(DivergenceError):
        for _ in range(10):
            before = (trainer.params.flat.copy(), trainer.memory.copy(), trainer.iteration)
            trainer.step()
    assert np.array_equal(trainer.params.flat, before[0])
    assert np.array_equal(trainer.memory, before[1])
    assert trainer.iteration == before[2] == len(trainer.history)
    assert np.isfinite(trainer.history.smooth_loss).all()


def test_divergence_keeps_the_last_good_checkpoint_and_says_what_to_change(
    corpus_file, tmp_path, capsys
):
    run = tmp_path / "run"
    line = fails(["train", corpus_file, *TINY, "--eta", "1e300", "--run-dir", run], capsys)
    assert "diverged" in line and "--eta" in line and "last good checkpoint (iteration 0)" in line
    arrays = runs.load_checkpoint(run)
    assert runs.checkpoint_iteration(arrays) == 0
    assert np.isfinite(arrays["params"]).all()
    assert main(["train", "--resume", str(run), "--eta", "0.05", "--iterations", "30"]) == 0
    assert runs.checkpoint_iteration(runs.load_checkpoint(run)) == 30


def test_a_checkpoint_of_infinite_parameters_is_never_written(tmp_path):
    corpus = from_text(make_text(400, seed=1))
    trainer = Trainer(corpus.data, corpus.chars, TrainConfig(hidden_size=8, seq_length=10))
    run = runs.prepare_run_dir(tmp_path / "run")
    runs.save_checkpoint(run, trainer)
    before = (run / runs.CHECKPOINT_FILE).read_bytes()
    trainer.params.flat[3] = np.inf
    with pytest.raises(DivergenceError):
        runs.save_checkpoint(run, trainer)
    assert (run / runs.CHECKPOINT_FILE).read_bytes() == before
