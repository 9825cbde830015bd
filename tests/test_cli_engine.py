"""The command line end to end, in subprocesses: train --json, generate, and bad input."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from tui_rnn.cli import main

SUMMARY_KEYS = {
    "iterations",
    "epochs",
    "smooth_loss",
    "best_smooth_loss",
    "seconds",
    "chars_per_second",
    "run_dir",
}


def tui_rnn(*args, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui_rnn", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        timeout=timeout,
    )


def assert_usage_error(result, *words):
    """Exit code 2, exactly one line on stderr starting with the program name, no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tui-rnn: error: ")
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One small run trained through the CLI (shared by the tests below); (result, run_dir)."""
    from conftest import make_text

    base = tmp_path_factory.mktemp("cli")
    corpus = base / "corpus.txt"
    corpus.write_text(make_text(6000, seed=1), encoding="utf-8")
    run_dir = base / "run"
    result = tui_rnn(
        "train", corpus, "--iterations", 300, "--hidden", 32, "--sample-every", 100,
        "--sample-length", 20, "--json", "--run-dir", run_dir, cwd=base,
    )  # fmt: skip
    return result, run_dir, corpus


def test_train_json_prints_exactly_one_summary_object(trained_run):
    result, run_dir, corpus = trained_run
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert result.stdout.strip().count("\n") == 0
    assert SUMMARY_KEYS <= summary.keys()
    assert summary["iterations"] == 300
    updates_per_epoch = (len(corpus.read_text(encoding="utf-8")) - 1) // 25
    assert summary["epochs"] == 300 // updates_per_epoch + 1
    vocab = len(set(corpus.read_text(encoding="utf-8")))
    assert summary["smooth_loss"] < -math.log(1 / vocab) * 25  # it learned something
    assert summary["best_smooth_loss"] <= summary["smooth_loss"]
    assert summary["seconds"] > 0 and summary["chars_per_second"] > 0
    assert summary["run_dir"] == str(run_dir)
    assert (run_dir / "config.json").is_file() and (run_dir / "checkpoint.npz").is_file()
    lines = (run_dir / "samples.txt").read_text(encoding="utf-8").splitlines()
    headers = [line.split(",")[0] for line in lines if line.startswith("iter = ")]
    assert headers == ["iter = 0", "iter = 100", "iter = 200", "iter = 300"]


def test_generate_from_the_trained_run(trained_run):
    _, run_dir, corpus = trained_run
    vocabulary = set(corpus.read_text(encoding="utf-8"))
    first = tui_rnn("generate", run_dir, "--prompt", "The ", "--length", 60, "--seed", 3)
    assert first.returncode == 0, first.stderr
    text = first.stdout
    assert text.startswith("The ") and text.endswith("\n")
    assert len(text) == len("The ") + 60 + 1
    assert set(text[:-1]) <= vocabulary
    again = tui_rnn("generate", run_dir, "--prompt", "The ", "--length", 60, "--seed", 3)
    assert again.stdout == text
    other = tui_rnn("generate", run_dir, "--prompt", "The ", "--length", 60, "--seed", 4)
    assert other.stdout != text
    greedy = [
        tui_rnn("generate", run_dir, "--length", 40, "--greedy", "--seed", s).stdout for s in (1, 2)
    ]
    assert greedy[0] == greedy[1]
    best = tui_rnn("generate", run_dir, "--best", "--length", 10, "--temperature", 0.5)
    assert best.returncode == 0 and len(best.stdout) == 11


def test_generate_names_unknown_prompt_characters(trained_run):
    _, run_dir, _ = trained_run
    result = tui_rnn("generate", run_dir, "--prompt", "the 😀 Ωmega")
    assert_usage_error(result, "'😀'", "'Ω'", "vocabulary")


def test_train_with_latin1_encoding(tmp_path):
    corpus = tmp_path / "latin.txt"
    corpus.write_bytes("Déjà vu, café crème à la française. ".encode("latin-1") * 40)
    refused = tui_rnn("train", corpus, "--iterations", 5, "--json", "--run-dir", tmp_path / "a")
    assert_usage_error(refused, "utf-8", "--encoding")
    result = tui_rnn(
        "train", corpus, "--encoding", "latin-1", "--iterations", 20, "--hidden", 8, "--json",
        "--run-dir", tmp_path / "b",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["iterations"] == 20
    vocabulary = json.loads((tmp_path / "b" / "config.json").read_text("utf-8"))["vocabulary"]
    assert "é" in vocabulary and "à" in vocabulary


def test_bad_options_in_a_subprocess_end_in_one_line(tmp_path, small_corpus_file):
    assert_usage_error(tui_rnn("train", small_corpus_file, "--hidden", "0"), "--hidden")
    assert_usage_error(tui_rnn("train", tmp_path / "missing.txt"), "missing.txt")
    assert_usage_error(tui_rnn("generate", tmp_path), "config.json")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_is_refused_instead_of_blocking(tmp_path):
    fifo = tmp_path / "corpus.fifo"
    os.mkfifo(fifo)  # opening it for reading would wait forever for a writer
    result = tui_rnn("train", fifo, "--run-dir", tmp_path / "run", timeout=60)
    assert_usage_error(result, "corpus.fifo", "not a regular file")


def make_bad_corpora(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.bin").write_bytes(b"\x00\x01\x02binary\x00" * 100)
    (tmp_path / "short.txt").write_text("too short", encoding="utf-8")
    (tmp_path / "same.txt").write_text("z" * 500, encoding="utf-8")
    (tmp_path / "latin.txt").write_bytes("é".encode("latin-1") * 100)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "{corpus}", "--hidden", "0"], ["--hidden"]),
        (["train", "{corpus}", "--hidden", "ten"], ["--hidden"]),
        (["train", "{corpus}", "--eta", "0"], ["--eta"]),
        (["train", "{corpus}", "--eta", "-0.1"], ["--eta"]),
        (["train", "{corpus}", "--eta", "nan"], ["--eta"]),
        (["train", "{corpus}", "--sigma", "inf"], ["--sigma"]),
        (["train", "{corpus}", "--seq-length", "0"], ["--seq-length"]),
        (["train", "{corpus}", "--seed", "-3"], ["--seed"]),
        (["train", "{corpus}", "--sample-every", "0"], ["--sample-every"]),
        (["train", "{corpus}", "--iterations", "5", "--epochs", "1"], ["--epochs"]),
        (["train", "{corpus}", "--no-such-option"], ["--no-such-option"]),
        (["train", "{corpus}", "--encoding", "klingon"], ["klingon"]),
        (["train", "{corpus}", "--encoding", "rot13"], ["rot13", "not a text encoding"]),
        (["train", "{corpus}", "--encoding", "base64"], ["base64", "not a text encoding"]),
        (["train", "{corpus}", "--encoding", "zlib"], ["zlib", "not a text encoding"]),
        (["train", "{tmp}/missing.txt"], ["missing.txt", "does not exist"]),
        (["train", "{tmp}"], ["directory"]),
        (["train", "{tmp}/empty.txt"], ["empty"]),
        (["train", "{tmp}/binary.bin"], ["binary"]),
        (["train", "{tmp}/short.txt"], ["seq_length + 1"]),
        (["train", "{tmp}/same.txt"], ["one distinct character"]),
        (["train", "{tmp}/latin.txt"], ["utf-8", "--encoding"]),
        (["gradcheck", "{corpus}", "--hidden", "1000000"], ["--hidden", "memory"]),
        (["generate", "{tmp}/missing-run"], ["does not exist"]),
        (["generate", "{tmp}", "--length", "-1"], ["--length"]),
        (["generate", "{tmp}", "--length", "0"], ["--length must be >= 1"]),
        (["generate", "{tmp}", "--temperature", "-1"], ["--temperature"]),
        (["generate", "{tmp}", "--top-p", "0"], ["--top-p"]),
        (["generate", "{tmp}", "--top-p", "1.5"], ["top-p"]),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, words, tmp_path, small_corpus_file, capsys):
    make_bad_corpora(tmp_path)
    argv = [a.format(corpus=small_corpus_file, tmp=tmp_path) for a in argv]
    argv += ["--run-dir", str(tmp_path / "run")] if argv[0] == "train" else []
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tui-rnn: error: ")
    for word in words:
        assert word in err
    assert not (tmp_path / "run" / "checkpoint.npz").exists()  # nothing was trained


def test_train_warns_when_training_goes_badly_although_the_loss_is_finite(
    small_corpus_file, tmp_path, capsys
):
    from tui_rnn.cli import main

    argv = ["train", str(small_corpus_file), "--hidden", "8", "--seq-length", "10", "--eta"]
    argv += ["1000", "--iterations", "1500", "--run-dir", str(tmp_path / "run"), "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "--eta 100" in warnings[0]
    assert json.loads(captured.out)["smooth_loss"] > 0
