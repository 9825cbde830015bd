"""File names anyone who can put a file in a directory chooses: bytes that are not UTF-8, a
newline, escape sequences. A run on such a file or in such a directory works; its config.json
holds the name losslessly (surrogate escapes in JSON); messages, tables and pages show it on
one line, never obeyed; and what cannot be written names the real problem."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Terminal, make_text

from tui_rnn import cli
from tui_rnn.cli import main
from tui_rnn.store import config as store_config

TINY = ["--hidden", "8", "--seq-length", "10", "--sample-every", "40", "--sample-length", "20"]
UNDECODABLE = os.fsdecode(b"c\xff.txt")  # 'c\udcff.txt'
shown = "c\\xff.txt"  # as every message and table shows it


@pytest.fixture
def undecodable_corpus(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path(UNDECODABLE).write_text(make_text(1500, seed=2), encoding="utf-8")
    return UNDECODABLE


def test_a_corpus_whose_name_is_not_utf8_trains_resumes_and_is_listed(undecodable_corpus, capsys):
    assert main(["train", undecodable_corpus, *TINY, "--iterations", "20", "--run-dir", "r"]) == 0
    raw = Path("r/config.json").read_bytes()
    raw.decode("utf-8")  # strict UTF-8 ...
    assert b'"c\\udcff.txt"' in raw  # ... holding the name as an escape
    document = store_config.read_config("r")
    assert document["corpus"]["path"].endswith(UNDECODABLE)  # read back losslessly
    assert main(["train", "--resume", "r", "--iterations", "30", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["iterations"] == 30
    assert main(["runs", "."]) == 0
    assert shown in capsys.readouterr().out
    assert main(["runs", ".", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["corpus"] == UNDECODABLE
    assert main(["export", "r", "--format", "json", "--output", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["corpus"]["path"].endswith(UNDECODABLE)
    assert main(["report", "r"]) == 0
    assert "c\\\\xff" in Path("r/report/report.md").read_text(encoding="utf-8")


def test_a_run_directory_whose_name_is_not_utf8_is_inspected_as_a_page(undecodable_corpus, capsys):
    run_dir = os.fsdecode(b"bad\xff\xfename")
    assert (
        main(["train", undecodable_corpus, *TINY, "--iterations", "20", "--run-dir", run_dir]) == 0
    )
    assert "bad\\xff\\xfename" in capsys.readouterr().out  # the summary names it
    argv = ["inspect", run_dir, "--format", "html", "--prompt", "the", "--output", "page.html"]
    assert main(argv) == 0
    assert "wrote page.html" in capsys.readouterr().out
    Path("page.html").read_bytes().decode("utf-8")


def test_a_newline_in_a_run_directory_name_never_forges_a_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("corpus.txt").write_text(make_text(1500, seed=2), encoding="utf-8")
    run_dir = "nl2\n# H\x1b]0;X\x07"
    assert main(["train", "corpus.txt", *TINY, "--iterations", "20", "--run-dir", run_dir]) == 0
    out = capsys.readouterr().out
    summary = out.splitlines()[-1]  # into a pipe: exact, but on one line
    assert summary.startswith("done:") and summary.endswith("nl2↵# H\x1b]0;X\x07")
    for argv in (["export", run_dir], ["report", run_dir]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert out.count("\n") == 1 and "nl2↵# H\x1b]0;X\x07" in out
    terminal = Terminal()
    with monkeypatch.context() as patch:
        patch.setattr(sys, "stdout", terminal)
        assert main(["export", run_dir]) == 0  # on a terminal: shown, never obeyed
    assert terminal.getvalue().count("\n") == 1 and "nl2↵# H␛]0;X␇" in terminal.getvalue()
    terminal = Terminal()
    with monkeypatch.context() as patch:
        patch.setattr(sys, "stderr", terminal)
        assert main(["train", "--resume", run_dir, "--iterations", "10"]) == 0  # past its target
    said = terminal.getvalue().split("\n")[0]  # (the progress bar follows it on a terminal)
    assert said.startswith("tui-rnn: nl2↵# H␛]0;X␇ is already at iteration 20")
    assert "\x1b" not in said and "\x07" not in said


def test_what_cannot_be_encoded_is_named_not_blamed_on_stdout():
    err = UnicodeEncodeError("utf-8", "c\udcff.txt", 1, 2, "surrogates not allowed")
    problem = cli.encoding_problem(err)
    assert "file name" in problem and "\\xff" in problem and "standard output" not in problem
    err = UnicodeEncodeError("cp1252", "a\u6f22", 1, 2, "character maps to <undefined>")
    assert "standard output" not in cli.encoding_problem(err)  # stdout here is UTF-8


def test_a_latin1_stdout_is_still_named_as_the_problem(tmp_path):
    (tmp_path / "corpus.txt").write_text("漢字かな " * 300, encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "latin-1"}
    argv = [sys.executable, "-m", "tui_rnn", "train", "corpus.txt", *TINY, "--iterations", "2"]
    result = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, encoding="latin-1"
    )
    assert result.returncode == 2
    assert "standard output's encoding (latin-1) cannot write" in result.stderr
