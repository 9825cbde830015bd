"""Text from a corpus or a model never drives the terminal; pipes and files get it exactly.

A corpus full of escape sequences (set the title, leave the alternate screen, BEL, a bidi
override, carriage returns) trains a model that writes them back. On a terminal every command
shows them through safe_text.terminal (visible symbols); into a pipe or a file the bytes are
exactly the model's.
"""

from __future__ import annotations

import pty
import subprocess
import sys

import pytest
from conftest import Terminal, fails, run_on_pty

from tui_rnn.cli import main
from tui_rnn.safe import text as safe_text
from tui_rnn.store import rundir
from tui_rnn.store import samples as store_samples

HOSTILE = "a b\x1b]0;pwned\x07\x1b[?1049l ab\u202eba\r\n"
OPTIONS = ["--hidden", "12", "--seq-length", "10", "--sample-every", "30", "--sample-length", "80"]


CONTROLS = set("\x1b\x07\r\u202e")


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    corpus = base / "hostile.txt"
    corpus.write_bytes((HOSTILE * 40).encode("utf-8"))
    run = base / "run"
    argv = ["train", corpus, *OPTIONS, "--iterations", "61", "--run-dir", run, "--json"]
    assert main([str(a) for a in argv]) == 0
    samples = (run / rundir.SAMPLES_FILE).read_bytes().decode("utf-8")
    assert CONTROLS & set(samples), "the model should write control characters back"
    return run, corpus


def _pipe_and_terminal(argv, capsys, monkeypatch) -> tuple[str, str]:
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 0
    piped = capsys.readouterr().out
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main([str(a) for a in argv]) == 0
    monkeypatch.undo()
    return piped, terminal.getvalue()


def test_generate_filters_on_a_terminal_and_is_exact_in_a_pipe(hostile_run, capsys, monkeypatch):
    run, _ = hostile_run
    argv = ["generate", run, "--length", "400", "--temperature", "1.5", "--prompt", "a"]
    piped, shown = _pipe_and_terminal(argv, capsys, monkeypatch)
    assert CONTROLS & set(piped)  # the exact text, escape sequences included
    assert shown == safe_text.terminal(piped)
    assert not CONTROLS & set(shown)


@pytest.mark.parametrize("extra", [["--samples"], ["--format", "json"], []])
def test_export_to_stdout_filters_on_a_terminal_and_is_exact_in_a_pipe(
    hostile_run, extra, capsys, monkeypatch
):
    run, _ = hostile_run
    piped, shown = _pipe_and_terminal(["export", run, "--output", "-", *extra], capsys, monkeypatch)
    if extra == ["--samples"]:
        assert piped == (run / rundir.SAMPLES_FILE).read_bytes().decode("utf-8")
    assert shown == safe_text.terminal(piped)
    assert not CONTROLS & set(shown)


def test_train_prints_samples_filtered_on_a_terminal_and_exact_in_a_pipe(
    hostile_run, tmp_path, capsys, monkeypatch
):
    _, corpus = hostile_run
    argv = ["train", corpus, *OPTIONS, "--iterations", "61"]
    capsys.readouterr()
    assert main([str(a) for a in [*argv, "--run-dir", tmp_path / "piped"]]) == 0
    piped = capsys.readouterr().out
    records = (tmp_path / "piped" / rundir.SAMPLES_FILE).read_bytes().decode("utf-8")
    assert CONTROLS & set(records)
    assert records in piped  # every sample, byte for byte, in order

    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main([str(a) for a in [*argv, "--run-dir", tmp_path / "shown"]]) == 0
    monkeypatch.undo()
    shown = terminal.getvalue()
    for sample in store_samples.parse_samples(records):
        assert safe_text.terminal(sample.text) in shown
    assert "\x07" not in shown and "\u202e" not in shown and "\x1b]0;" not in shown


def test_error_messages_on_a_terminal_show_control_characters(tmp_path, capsys, monkeypatch):
    name = tmp_path / "evil\x1b]0;pwned\x07.txt"
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["train", str(name), "--run-dir", str(tmp_path / "run")]) == 2
    monkeypatch.undo()
    shown = terminal.getvalue()
    assert "evil\u241b]0;pwned\u2407.txt" in shown and "\x1b" not in shown
    line = fails(["train", name, "--run-dir", tmp_path / "run"], capsys)  # a pipe: exact
    assert str(name) in line


@pytest.mark.skipif(not hasattr(pty, "openpty"), reason="needs a pseudo-terminal")
def test_generate_on_a_real_pseudo_terminal(hostile_run):
    run, _ = hostile_run
    argv = [sys.executable, "-m", "tui_rnn", "generate", str(run), "--length", "400"]
    argv += ["--temperature", "1.5", "--prompt", "a"]
    piped = subprocess.run(argv, capture_output=True, timeout=60).stdout.decode("utf-8")
    code, text, _ = run_on_pty(argv)  # the terminal driver's \r\n made \n again
    assert code == 0
    assert CONTROLS & set(piped)
    assert text == safe_text.terminal(piped)
