"""What the command line says to a user's mistakes: a mistyped command, a value out of range, a
target of no update or too many, a run already at its target, an output that is a link."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import pytest
from conftest import fails, make_text

from tui_rnn.cli import main
from tui_rnn.cli import parser as cli_parser

TINY = ["--hidden", "8", "--seq-length", "10", "--sample-every", "100", "--sample-length", "20"]


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(make_text(3000, seed=5), encoding="utf-8")
    return path


@pytest.fixture
def app_seen(monkeypatch):
    """The corpora the app would have been launched on (the app itself is not started)."""
    seen: list[str | None] = []
    app = dataclasses.replace(cli_parser.APP, run=lambda args: seen.append(args.corpus) or 0)
    monkeypatch.setattr(cli_parser, "APP", app)
    return seen


# -- a mistyped command -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "word, nearest",
    [("trian", "train"), ("generat", "generate"), ("rnus", "runs"), ("foo", None)],
)
def test_a_mistyped_command_is_named_with_the_nearest(
    word, nearest, tmp_path, monkeypatch, capsys, app_seen
):
    monkeypatch.chdir(tmp_path)
    line = fails([word], capsys)
    assert f"unknown command {word!r}" in line
    assert "does not exist" not in line
    assert all(name in line for name in cli_parser.BY_NAME)  # the commands, listed
    if nearest:
        assert f"did you mean {nearest!r}?" in line
    else:
        assert "did you mean" not in line
    assert app_seen == []


def test_a_word_that_may_be_a_corpus_still_goes_to_the_app(tmp_path, monkeypatch, capsys, app_seen):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "trian").write_text(make_text(500), encoding="utf-8")  # a file: the corpus
    for word in ("trian", "missing.txt", "data/missing"):  # (the app says if it is missing)
        assert main([word]) == 0
    assert app_seen == ["trian", "missing.txt", "data/missing"]


# -- values out of range ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "flag, value", [("--top-p", "1.5"), ("--top-p", "0"), ("--temperature", "-1")]
)
def test_every_bad_generate_value_is_argparses_one_line(flag, value, tmp_path, capsys):
    line = fails(["generate", tmp_path / "nowhere", flag, value], capsys)
    assert line.startswith(f"tui-rnn: error: argument {flag}: {flag} must be ")
    assert line.endswith(f"got {value!r} (see tui-rnn generate --help)")


# -- targets ------------------------------------------------------------------------------------
@pytest.mark.parametrize("flag, value", [("--iterations", "0"), ("--epochs", "0.000001")])
def test_a_target_of_no_update_is_refused_and_makes_no_run(
    flag, value, tmp_path, corpus_file, capsys
):
    run_dir = tmp_path / "run"
    line = fails(["train", corpus_file, *TINY, flag, value, "--run-dir", run_dir], capsys)
    assert f"{flag} {value if flag == '--iterations' else '1e-06'} is less than one update" in line
    assert not os.path.lexists(run_dir)


@pytest.mark.parametrize(
    "flag, value",
    [("--epochs", "1e20"), ("--iterations", str(10**22)), ("--iterations", str(2**53 + 1))],
)
def test_a_target_beyond_two_to_the_53_updates_is_refused(
    flag, value, tmp_path, corpus_file, capsys
):
    run_dir = tmp_path / "run"
    line = fails(["train", corpus_file, *TINY, flag, value, "--run-dir", run_dir], capsys)
    assert "more than 2**53 updates" in line and "e+" not in line.split("is more")[1]
    assert not os.path.lexists(run_dir)


def test_a_run_at_its_target_is_not_said_to_be_past_it(tmp_path, corpus_file, capsys):
    run_dir = tmp_path / "run"
    argv = ["train", corpus_file, *TINY, "--iterations", "20", "--run-dir", run_dir, "--json"]
    assert main([str(a) for a in argv]) == 0
    for target, word in (("20", "at"), ("10", "past")):
        capsys.readouterr()
        assert main(["train", "--resume", str(run_dir), "--iterations", target, "--json"]) == 0
        err = capsys.readouterr().err
        assert f"is already at iteration 20, {word} its target {target}" in err
        assert ("past" in err) == (word == "past")


# -- outputs ------------------------------------------------------------------------------------
def test_an_output_link_outside_any_run_is_refused_without_naming_run_directories(
    tmp_path, corpus_file, capsys
):
    run_dir = tmp_path / "run"
    argv = ["train", corpus_file, *TINY, "--iterations", "5", "--run-dir", run_dir, "--json"]
    assert main([str(a) for a in argv]) == 0
    link = tmp_path / "history.csv"
    link.symlink_to(tmp_path / "elsewhere.csv")
    line = fails(["export", run_dir, "--output", link], capsys)
    assert "symbolic link" in line and "run directory" not in line
    assert not os.path.lexists(tmp_path / "elsewhere.csv")


def test_json_and_samples_stay_apart(tmp_path, corpus_file, capsys):
    run_dir = tmp_path / "run"
    argv = ["train", corpus_file, *TINY, "--iterations", "5", "--run-dir", run_dir, "--json"]
    assert main([str(a) for a in argv]) == 0
    capsys.readouterr()
    assert main(["export", str(run_dir), "--samples", "--format", "json", "--output", "-"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [s["iteration"] for s in document["samples"]] == [0]
    assert document["samples"][0]["text"] in Path(run_dir, "samples.txt").read_text()


# -- the summary ----------------------------------------------------------------------------------
def test_the_summary_says_losses_per_character_once_and_names_each_best(
    tmp_path, corpus_file, capsys
):
    def summary_line(*options) -> str:
        run_dir = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        argv = ["train", corpus_file, *TINY, "--iterations", "60", "--run-dir", run_dir]
        assert main([str(a) for a in (*argv, *options)]) == 0
        (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("done:")]
        return line

    line = summary_line("--val-fraction", "0.1", "--eval-every", "20")
    assert line.count("nats/char") == 1 and "smooth_loss" not in line
    assert re.search(
        r"training \d\.\d{4}, validation \d\.\d{4} \(lowest \d\.\d{4}, at iter \d+\)", line
    )
    line = summary_line("--batch", "2")
    assert re.search(r"nats/char: training \d\.\d{4} \(lowest \d\.\d{4}, at iter \d+\)", line)
    line = summary_line()  # the report's setup: its smooth_loss, per chunk
    assert re.search(r"smooth_loss \d+\.\d{3} \(lowest \d+\.\d{3}, at iter \d+\)", line)
    assert "nats/char" not in line
