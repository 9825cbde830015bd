"""Hostile input: each case ends in one line on stderr, exit code 2, no traceback, nothing lost."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import subprocess
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import fails, make_text

from tui_rnn.cli import main
from tui_rnn.store import checkpoint, rundir
from tui_rnn.store import config as store_config
from tui_rnn.training.corpus import from_text
from tui_rnn.training.options import TrainConfig
from tui_rnn.training.trainer import DivergenceError, Trainer

TINY = ["--hidden", "8", "--seq-length", "10", "--sample-every", "40", "--sample-length", "20"]


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
    # Activations: about 1e16 bytes for one update, whatever the parameters need.
    "an update too big for memory": (
        ["--cell", "lstm", "--hidden", "1000", "--batch", str(10**9), "--seq-length", "100"],
        "GiB, more than this machine's",
    ),
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
    for name in (rundir.CHECKPOINT_FILE, rundir.PREVIOUS_CHECKPOINT_FILE):
        damage(run_dir / name)
    for argv in every_command(run_dir):
        line = fails(argv, capsys)
        assert expected in line and "checkpoint" in line


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous(run_dir, capsys):
    previous = checkpoint.load_checkpoint_file(run_dir / rundir.PREVIOUS_CHECKPOINT_FILE)
    _flip_bytes(run_dir / rundir.CHECKPOINT_FILE)
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir), "--iterations", "70", "--json"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and f"iteration {checkpoint.checkpoint_iteration(previous)}" in err
    assert checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run_dir)) == 70


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
    assert "changed since the run began" in fails(["train", "--resume", run_dir], capsys)
    assert checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run_dir)) == 50  # untouched


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
    _rewrite_checkpoint(run_dir / rundir.CHECKPOINT_FILE, schema_version=np.array(99))
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
    for name in (rundir.CHECKPOINT_FILE, rundir.PREVIOUS_CHECKPOINT_FILE):
        _rewrite_checkpoint(run_dir / name, params=evil)
    # The payload is live: a loader that allows pickles runs it.
    with np.load(run_dir / rundir.CHECKPOINT_FILE, allow_pickle=True) as npz:
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
    assert "a-file/run" in line and "component of the path is a file" in line


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
        for name in (rundir.CONFIG_FILE, rundir.CHECKPOINT_FILE, rundir.SAMPLES_FILE)
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
    for name, extra in (
        ("out.csv", []),
        ("out.json", ["--format", "json"]),
        ("out", ["--samples"]),
    ):
        line = fails(["export", run_dir, "--output", blocker / name, *extra], capsys)
        assert "cannot write" in line and "--output" in line
    assert "--format" in fails(["export", run_dir, "--format", "xml"], capsys)


def test_export_takes_its_format_from_the_extension_and_refuses_a_contradiction(
    run_dir, tmp_path, capsys
):
    assert main(["export", str(run_dir), "--output", str(tmp_path / "x.json")]) == 0
    assert json.loads((tmp_path / "x.json").read_text())["fields"][0] == "iteration"
    line = fails(["export", run_dir, "--format", "csv", "--output", tmp_path / "y.json"], capsys)
    assert "--format csv contradicts --output" in line and not (tmp_path / "y.json").exists()


def test_a_full_disk_stops_training_with_the_last_checkpoint_intact(
    run_dir, corpus_file, monkeypatch, capsys
):
    """The disk fills up during the third save: the run stops cleanly and resumes later."""
    real_savez = np.savez
    saves = []

    def savez_on_a_filling_disk(f, **arrays):
        saves.append(int(arrays["iteration"]))
        if len(saves) >= 3:
            f.write(b"PK\x03\x04 half a checkpoint")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_savez(f, **arrays)

    monkeypatch.setattr(checkpoint.np, "savez", savez_on_a_filling_disk)
    argv = ["train", "--resume", run_dir, "--iterations", "200", "--save-every", "1000"]
    line = fails(argv, capsys)
    assert "No space left on device" in line and "previous checkpoint is intact" in line
    last_good = checkpoint.load_checkpoint(run_dir)
    assert checkpoint.checkpoint_iteration(last_good) == saves[1]  # the last save that completed
    assert not list(run_dir.glob(".checkpoint.*.tmp"))

    monkeypatch.setattr(checkpoint.np, "savez", real_savez)  # space freed
    assert main(["train", "--resume", str(run_dir), "--json"]) == 0
    assert checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run_dir)) == 200


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
        last_good = checkpoint.load_checkpoint(run)
        assert checkpoint.checkpoint_iteration(last_good) > 0
        rescued = tmp_path / "rescued"
        shutil.copytree(run, rescued)
    finally:
        subprocess.run(["umount", str(disk)], check=False)
    iteration = checkpoint.checkpoint_iteration(last_good)
    assert main(["train", "--resume", str(rescued), "--iterations", str(iteration + 5)]) == 0


# -- prompts -----------------------------------------------------------------------------------
def test_a_prompt_with_unknown_characters(run_dir, capsys):
    line = fails(["generate", run_dir, "--prompt", "the Ωmega ☃"], capsys)
    assert "'Ω'" in line and "'☃'" in line and "vocabulary" in line


def test_ctrl_c_during_generate_is_one_line_and_exit_130(run_dir, capsys, monkeypatch):
    from tui_rnn.training import sampling

    def interrupted(*args, **kwargs):
        yield "a", 0.0
        raise KeyboardInterrupt

    monkeypatch.setattr(sampling, "continuation", interrupted)
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
            before = (
                trainer.params.flat.copy(),
                trainer.optimizer.memory.copy(),
                trainer.iteration,
            )
            trainer.step()
    assert np.array_equal(trainer.params.flat, before[0])
    assert np.array_equal(trainer.optimizer.memory, before[1])
    assert trainer.iteration == before[2] == len(trainer.history)
    assert np.isfinite(trainer.history.smooth_loss).all()


def test_divergence_keeps_the_last_good_checkpoint_and_says_what_to_change(
    corpus_file, tmp_path, capsys
):
    run = tmp_path / "run"
    line = fails(["train", corpus_file, *TINY, "--eta", "1e300", "--run-dir", run], capsys)
    assert "diverged" in line and "--eta" in line and "last good checkpoint (iteration 0)" in line
    arrays = checkpoint.load_checkpoint(run)
    assert checkpoint.checkpoint_iteration(arrays) == 0
    assert np.isfinite(arrays["params"]).all()
    assert main(["train", "--resume", str(run), "--eta", "0.05", "--iterations", "30"]) == 0
    assert checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run)) == 30


def test_a_checkpoint_of_infinite_parameters_is_never_written(tmp_path):
    corpus = from_text(make_text(400, seed=1))
    trainer = Trainer(corpus.data, corpus.chars, TrainConfig(hidden_size=8, seq_length=10))
    run = rundir.prepare_run_dir(tmp_path / "run")
    checkpoint.save_checkpoint(run, trainer)
    before = (run / rundir.CHECKPOINT_FILE).read_bytes()
    trainer.params.flat[3] = np.inf
    with pytest.raises(DivergenceError):
        checkpoint.save_checkpoint(run, trainer)
    assert (run / rundir.CHECKPOINT_FILE).read_bytes() == before


# -- 4. nothing hangs, signals always work ----------------------------------------------------
def test_a_tiny_save_every_still_makes_progress(corpus_file, tmp_path, no_hang):
    """--save-every 1e-12 livelocked at iteration 0: every slice ended before its first update."""
    run = tmp_path / "run"
    argv = ["train", corpus_file, *TINY, "--iterations", "25", "--save-every", "1e-12"]
    assert main([str(a) for a in [*argv, "--run-dir", run, "--json"]]) == 0
    assert checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run)) == 25


def test_the_app_engine_makes_progress_with_a_tiny_save_every(corpus_file, tmp_path, no_hang):
    import time

    from tui_rnn.app.messages import RunState
    from tui_rnn.app.requests import Train
    from tui_rnn.app.session import TrainingSession
    from tui_rnn.training.corpus import load_corpus

    corpus = load_corpus(corpus_file)
    config = TrainConfig(hidden_size=8, seq_length=10, sample_every=40, sample_length=20)
    from tui_rnn.driver import Run

    trainer = Trainer(corpus.data, corpus.chars, config)
    run = tmp_path / "run"
    session = TrainingSession(Run.new(trainer, corpus, run, 30, save_every=1e-12))
    session.start(lambda message: None)
    session.request(Train())
    deadline = time.monotonic() + 15
    while session.state != RunState.DONE and time.monotonic() < deadline:
        time.sleep(0.01)
    session.shutdown().result(timeout=10)
    assert trainer.iteration == 30
    assert checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run)) == 30


def test_sample_length_is_bounded(corpus_file, tmp_path, capsys):
    from tui_rnn.training.options import MAX_SAMPLE_LENGTH

    run = tmp_path / "run"
    line = fails(["train", corpus_file, "--sample-length", "1000000000", "--run-dir", run], capsys)
    assert "--sample-length" in line and f"{MAX_SAMPLE_LENGTH:,}" in line
    assert not run.exists()
    # The maximum is fine: the refusal is of the zero updates asked for (checked after every
    # option; a target of no update used to make a run of no update, and now is refused).
    argv = ["train", corpus_file, *TINY, "--sample-length", MAX_SAMPLE_LENGTH, "--iterations", "0"]
    line = fails([*argv, "--run-dir", run], capsys)
    assert "--sample-length" not in line and "less than one update" in line


def test_an_interrupted_sample_is_undone_and_comes_again_identically():
    from tui_rnn.training.trainer import Interrupted

    corpus = from_text(make_text(400, seed=1))
    config = TrainConfig(hidden_size=8, seq_length=10)
    trainer, reference = (Trainer(corpus.data, corpus.chars, config) for _ in range(2))
    asked = []

    def interrupt_at_the_third_look():  # looked at every few hundred characters
        asked.append(1)
        return len(asked) >= 3

    with pytest.raises(Interrupted):
        trainer.synthesize(5000, interrupt=interrupt_at_the_third_look)
    assert trainer.synthesize(300) == reference.synthesize(300)


@pytest.mark.parametrize("signum", [15, pytest.param(2, marks=pytest.mark.slow)])
def test_a_signal_stops_a_long_sample(corpus_file, tmp_path, signum):
    """The longest sample takes seconds: SIGTERM / SIGINT stop it, undo it, save and exit."""
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    argv = [sys.executable, "-m", "tui_rnn", "train", str(corpus_file), "--hidden", "256"]
    argv += ["--seq-length", "10", "--sample-length", "100000", "--iterations", "100"]
    argv += ["--run-dir", str(run), "--json"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not (run / rundir.CHECKPOINT_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # the first sample (due at iteration 0) is being drawn now
    process.send_signal(signum)
    try:
        code = process.wait(timeout=20)
    finally:
        process.kill()
    assert code == 128 + signum, process.stderr.read().decode()
    assert json.loads(process.stdout.read())["interrupted"] is True
    assert checkpoint.samples_size(run) == 0  # no half sample written
    arrays = checkpoint.load_checkpoint(run)
    assert (
        checkpoint.checkpoint_iteration(arrays) == 0 and int(arrays["last_sample_iteration"]) == -1
    )


# -- 5. tracebacks on plausible input ---------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "undefined", "punycode"])
def test_an_encoding_that_cannot_read_the_file(encoding, corpus_file, tmp_path, capsys):
    run = tmp_path / "run"
    line = fails(["train", corpus_file, "--encoding", encoding, "--run-dir", run], capsys)
    assert encoding in line and "--encoding" in line
    assert not run.exists()


def test_every_codec_either_reads_a_file_or_refuses_it_in_one_line(tmp_path):
    import encodings.aliases

    from tui_rnn.training.corpus import CorpusError, load_corpus

    path = tmp_path / "plain.txt"
    path.write_bytes(b"hello world, +AGEA- xn--b \\x41 =41 hello\n" * 3)
    names = set(encodings.aliases.aliases.values()) | {"undefined", "punycode", "idna", "utf-7"}
    for name in sorted(names):
        try:
            load_corpus(path, encoding=name)
        except CorpusError as err:
            assert "\n" not in str(err)


def test_a_sigma_so_large_the_weights_overflow(corpus_file, tmp_path, capsys):
    run = tmp_path / "run"
    line = fails(["train", corpus_file, *TINY, "--sigma", "1e308", "--run-dir", run], capsys)
    assert "--sigma" in line and "--eta" not in line
    assert not run.exists()  # no half-made run


LONG = "a" * 300


def test_a_path_component_too_long(run_dir, corpus_file, tmp_path, capsys):
    long_dir = tmp_path / LONG
    for argv in (
        ["train", long_dir / "corpus.txt", "--run-dir", tmp_path / "run2"],
        ["train", corpus_file, *TINY, "--run-dir", long_dir / "run"],
        ["train", "--resume", long_dir],
        ["generate", long_dir],
        ["export", long_dir],
        ["gradcheck", long_dir / "corpus.txt"],
        ["gradcheck", "--run", long_dir],
        ["export", run_dir, "--output", tmp_path / f"{LONG}.csv"],
        [long_dir / "corpus.txt"],  # the app: refused before it starts
    ):
        line = fails(argv, capsys)
        assert "too long" in line, argv


def test_a_corpus_in_a_directory_the_user_cannot_enter(corpus_file, tmp_path):
    from conftest import run_unprivileged

    locked = tmp_path / "locked"
    locked.mkdir()
    shutil.copy(corpus_file, locked / "corpus.txt")
    locked.chmod(0o700 if os.geteuid() == 0 else 0o000)  # root's 0o700 keeps nobody out
    try:
        argv = ["train", str(locked / "corpus.txt"), "--run-dir", str(tmp_path / "run")]
        code, err = run_unprivileged(lambda: main(argv))
    finally:
        locked.chmod(0o700)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "corpus.txt" in err and "permission denied" in err.lower()


def _world_readable_copy(run_dir):
    """A copy of the run that `nobody` can read (pytest's tmp_path is private to root)."""
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="tui-rnn-test-"))
    top.chmod(0o755)
    shutil.copytree(run_dir, top / "run")
    for path in [top / "run", *(top / "run").iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return top


@pytest.mark.parametrize("both", [False, True])
def test_an_unreadable_checkpoint_is_not_called_corrupt(run_dir, both):
    from conftest import run_unprivileged

    top = _world_readable_copy(run_dir)
    run = top / "run"
    try:
        names = [rundir.CHECKPOINT_FILE] + ([rundir.PREVIOUS_CHECKPOINT_FILE] if both else [])
        for name in names:
            (run / name).chmod(0o600 if os.geteuid() == 0 else 0o000)
        code, err = run_unprivileged(lambda: main(["generate", str(run), "--length", "5"]))
    finally:
        shutil.rmtree(top)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "permission denied" in err.lower() and "corrupt" not in err
    assert code == (2 if both else 0)
    if not both:
        assert "warning" in err and "checkpoint.prev.npz" in err


STDOUT_COMMANDS = {
    "generate": lambda run, corpus: ["generate", run, "--length", "50"],
    "export": lambda run, corpus: ["export", run, "--output", "-"],
    "export samples": lambda run, corpus: ["export", run, "--samples", "--output", "-"],
    "export message": lambda run, corpus: ["export", run],
    "gradcheck --json": lambda run, corpus: [
        "gradcheck",
        corpus,
        "--hidden",
        "3",
        "--seq-lengths",
        "2",
        "--json",
    ],  # fmt: skip
    "gradcheck": lambda run, corpus: ["gradcheck", corpus, "--hidden", "3", "--seq-lengths", "2"],
    "train --json": lambda run, corpus: ["train", "--resume", run, "--iterations", "55", "--json"],
    "train": lambda run, corpus: ["train", "--resume", run, "--iterations", "55"],
}


@pytest.mark.parametrize("command", STDOUT_COMMANDS)
def test_a_full_stdout_is_one_line(command, run_dir, corpus_file, monkeypatch, capsys):
    with open("/dev/full", "w") as full:
        monkeypatch.setattr("sys.stdout", full)
        line = fails(STDOUT_COMMANDS[command](run_dir, corpus_file), capsys)
    assert "standard output" in line and "No space left on device" in line
    if command.startswith("train"):  # the run itself is saved
        assert checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run_dir)) == 55


def test_a_full_stdout_in_a_real_process_prints_nothing_more(run_dir):
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "tui_rnn", "generate", str(run_dir), "--length", "9999"],
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    err = result.stderr.decode()
    assert result.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert "standard output" in err


def _edit_config(run_dir, edit) -> None:
    document = json.loads((run_dir / rundir.CONFIG_FILE).read_text(encoding="utf-8"))
    text = edit(document)
    if text is None:
        text = json.dumps(document)
    (run_dir / rundir.CONFIG_FILE).write_text(text, encoding="utf-8")


def _set(path, value, raw=None):
    """An edit setting document[path...] = value (raw: JSON text that replaces it verbatim)."""

    def edit(document):
        *parents, last = path
        target = document
        for key in parents:
            target = target[key]
        if value is _MISSING:
            del target[last]
            return None
        target[last] = "@RAW@" if raw is not None else value
        return json.dumps(document).replace('"@RAW@"', raw) if raw is not None else None

    return edit


_MISSING = object()
DEEP = "[" * 100_000 + "]" * 100_000
CONFIG_EDITS = {
    "nested 100,000 deep": (lambda d: '{"schema_version": 1, "config": ' + DEEP + "}", "JSON"),
    "target_iterations null": (_set(["target_iterations"], None), "target_iterations"),
    "target_iterations abc": (_set(["target_iterations"], "abc"), "target_iterations"),
    "target_iterations 1e400": (_set(["target_iterations"], 0, "1e400"), "target_iterations"),
    "eta_changes not a list": (_set(["eta_changes"], {"a": 1}), "eta_changes"),
    "corpus.path a number": (_set(["corpus", "path"], 42), "corpus.path"),
    "corpus.path a list": (_set(["corpus", "path"], ["a", "b"]), "corpus.path"),
    "encoding a number": (_set(["encoding"], 8), "encoding"),
    "hidden_size 1e400": (_set(["config", "hidden_size"], 0, "1e400"), "hidden_size"),
    "hidden_size 10**7": (_set(["config", "hidden_size"], 10**7), "hidden_size"),
    "hidden_size a float": (_set(["config", "hidden_size"], 8.0), "hidden_size"),
    "hidden_size missing": (_set(["config", "hidden_size"], _MISSING), "hidden_size"),
    "eta NaN": (_set(["config", "eta"], 0, "NaN"), "eta"),
    "sample_length huge": (_set(["config", "sample_length"], 10**9), "sample_length"),
    "vocabulary not sorted": (_set(["vocabulary"], "zyx"), "vocabulary"),
    "rng seed a string": (_set(["config", "seed"], "0"), "seed"),
}


@pytest.mark.parametrize("case", CONFIG_EDITS)
def test_a_hand_edited_config_is_checked_field_by_field(case, run_dir, capsys):
    edit, word = CONFIG_EDITS[case]
    _edit_config(run_dir, edit)
    for argv in (["train", "--resume", run_dir, "--eta", "0.05"], ["generate", run_dir]):
        line = fails(argv, capsys)
        assert word in line and rundir.CONFIG_FILE in line, line
    fails(["export", run_dir], capsys)


def test_a_nan_smooth_loss_is_damage_and_the_json_summary_stays_json(run_dir, capsys):
    """A smooth loss is an average of finite losses: NaN means damage (the previous checkpoint
    is used, with a warning), and the summary is strict JSON whatever it holds."""
    path = run_dir / rundir.CHECKPOINT_FILE
    with np.load(path, allow_pickle=False) as npz:
        arrays = dict(npz)
    arrays["smooth_loss"] = np.array(np.nan)
    np.savez(path, **arrays)
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir), "--json"]) == 0

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    captured = capsys.readouterr()
    summary = json.loads(captured.out, parse_constant=refuse)
    assert math.isfinite(summary["smooth_loss"]) and summary["best_val_loss"] is None
    assert "smooth loss is not finite" in captured.err and "checkpoint.prev.npz" in captured.err


def testjson_lines_hold_null_for_nan_and_infinity():
    from tui_rnn.cli.common import json_line

    line = json_line({"a": math.nan, "b": [math.inf, 1.5], "c": {"d": -math.inf}})
    assert json.loads(line) == {"a": None, "b": [None, 1.5], "c": {"d": None}}


# -- 6. messages that lead the user astray ----------------------------------------------------
def test_a_run_without_a_checkpoint_can_be_started_afresh(corpus_file, tmp_path, capsys):
    """kill -9 before the first save left config.json alone: resume says how, a new run works."""
    run = tmp_path / "run"
    rundir.prepare_run_dir(run)
    store_config.write_config(run, TrainConfig(hidden_size=8), from_text(make_text(400)))
    line = fails(["train", "--resume", run], capsys)
    assert "no checkpoint" in line and f"--run-dir {run}" in line and "--resume" not in line
    argv = ["train", corpus_file, *TINY, "--iterations", "5", "--run-dir", run, "--json"]
    assert main([str(a) for a in argv]) == 0
    assert store_config.read_config(run)["config"]["seq_length"] == 10


def test_a_full_disk_at_the_first_save_leaves_no_half_made_run(
    corpus_file, tmp_path, monkeypatch, capsys
):
    def savez_on_a_full_disk(f, **arrays):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    run = tmp_path / "run"
    monkeypatch.setattr(np, "savez", savez_on_a_full_disk)
    line = fails(["train", corpus_file, *TINY, "--run-dir", run], capsys)
    assert "No space left on device" in line and "resume" not in line
    assert not (run / rundir.CONFIG_FILE).exists()
    monkeypatch.undo()
    argv = ["train", corpus_file, *TINY, "--iterations", "5", "--run-dir", run, "--json"]
    assert main([str(a) for a in argv]) == 0


def test_a_corpus_edited_in_place_is_called_changed(run_dir, corpus_file, capsys):
    text = corpus_file.read_text(encoding="utf-8")
    corpus_file.write_text(text[::-1], encoding="utf-8")  # same vocabulary, other text
    line = fails(["train", "--resume", run_dir], capsys)
    assert "changed since the run began" in line
    assert line.count(str(corpus_file.resolve())) == 1

    corpus_file.write_text(text + "\u00e9\u00e8", encoding="utf-8")  # a grown vocabulary
    line = fails(["train", "--resume", run_dir], capsys)
    assert "changed since the run began" in line and "vocabulary" in line
    assert line.count(str(corpus_file.resolve())) == 1


def test_a_symlink_loop_is_called_a_loop(tmp_path, capsys):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    for argv in (["train", tmp_path / "a"], ["train", "--resume", tmp_path / "a"]):
        line = fails(argv, capsys)
        assert "symbolic link" in line and "loop" in line and "does not exist" not in line
    assert "loop" in fails(["generate", tmp_path / "a"], capsys)


def test_an_empty_export_output_is_refused_by_name(run_dir, capsys):
    line = fails(["export", run_dir, "--output", ""], capsys)
    assert "--output" in line and "busy" not in line


def test_windows_line_endings_are_named_once(tmp_path, capsys):
    path = tmp_path / "crlf.txt"
    path.write_bytes(make_text(800, seed=2).replace("\n", "\r\n").encode())
    run = tmp_path / "run"
    capsys.readouterr()
    assert main(["train", str(path), *TINY, "--iterations", "5", "--run-dir", str(run)]) == 0
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "\\r" in err and "line endings" in err
    assert main(["train", "--resume", str(run), "--iterations", "10", "--json"]) == 0
    assert "warning" not in capsys.readouterr().err  # once: when the run begins


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_a_byte_order_mark_is_dropped_in_an_explicit_byte_order(encoding, tmp_path):
    from tui_rnn.training.corpus import load_corpus

    text = make_text(300, seed=4)
    path = tmp_path / "bom.txt"
    path.write_bytes(("\ufeff" + text).encode(encoding))
    corpus = load_corpus(path, encoding=encoding)
    assert "\ufeff" not in corpus.chars
    assert corpus.decode(corpus.data) == text
