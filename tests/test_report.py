"""`tui-rnn report`: the golden report of a small run (timing lines, versions and paths masked),
the SVG figure, reproducibility, the best model's text as `generate` writes it, escaping of
corpus and model text, where it may be written, and one-line errors for runs it cannot report.

Update the golden files after an intended change with:
    TUI_RNN_UPDATE_GOLDEN=1 python -m pytest tests/test_report.py
then read the diff of tests/golden_report/.
"""

from __future__ import annotations

import os
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import Terminal, copy_runs, fails, make_text, trained_once

from tui_rnn import report
from tui_rnn.cli import main
from tui_rnn.driver import Run, RunRequest
from tui_rnn.store import checkpoint, config
from tui_rnn.training.history import Sample

GOLDEN = Path(__file__).parent / "golden_report"
SVG = "{http://www.w3.org/2000/svg}"
MASKED_LINES = (
    "- run directory:",
    "- corpus file:",
    "- written by:",
    "- training time:",
    "- speed:",
)


def masked(text: str) -> str:
    """The report with what may differ between two writes of the same run masked: measured
    times (speed, each check's duration), versions and paths."""
    lines = []
    for line in text.splitlines():
        if line.startswith(MASKED_LINES):
            line = line.split(":")[0] + ": <masked>"
        lines.append(re.sub(r"; \d+\.\d+ s\)$", "; <time> s)", line))
    return "\n".join(lines) + "\n"


def make_run(tmp_path, name="golden", hand_samples=True) -> Path:
    """A small run with two epochs, validation, scheduled samples and two taken by hand."""
    corpus = tmp_path / "corpus.txt"
    if not corpus.exists():
        corpus.write_text(make_text(2000, seed=7), encoding="utf-8")
    run_dir = Path("runs") / name
    argv = ["train", "corpus.txt", "--hidden", "12", "--seq-length", "10", "--iterations", "250"]
    argv += ["--sample-every", "100", "--sample-length", "60", "--val-fraction", "0.1"]
    argv += ["--eval-every", "50", "--run-dir", str(run_dir), "--json"]
    assert main(argv) == 0
    if hand_samples:  # as the app's s and b keys record them
        run = Run.open(RunRequest(resume=str(run_dir)), warn=print)
        try:
            trainer = run.trainer
            run.record_sample(replace(trainer.synthesize(), by_hand=True))
            run.record_sample(trainer.synthesize_best(80))
        finally:
            run.close()
    return run_dir


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("trained")
    trained_once(base, lambda: make_run(base))
    return base


@pytest.fixture
def golden_run(tmp_path, monkeypatch, capsys, trained_runs):
    monkeypatch.chdir(tmp_path)
    copy_runs(trained_runs, tmp_path)
    capsys.readouterr()
    return Path("runs/golden")


def test_the_report_of_a_small_run_is_the_golden_one(golden_run, capsys):
    before = {p.name: p.read_bytes() for p in golden_run.iterdir() if p.is_file()}
    assert main(["report", str(golden_run)]) == 0
    out = golden_run / "report"
    assert capsys.readouterr().out == f"wrote {out / 'report.md'} and {out / 'fig1.svg'}\n"
    text, svg = (out / "report.md").read_text("utf-8"), (out / "fig1.svg").read_text("utf-8")
    if os.environ.get("TUI_RNN_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        (GOLDEN / "report.md").write_text(masked(text), "utf-8")
        (GOLDEN / "fig1.svg").write_text(svg, "utf-8")
    assert masked(text) == (GOLDEN / "report.md").read_text("utf-8")
    assert svg == (GOLDEN / "fig1.svg").read_text("utf-8")
    # the run itself is only read
    assert {p.name: p.read_bytes() for p in golden_run.iterdir() if p.is_file()} == before
    # the seed report's order, and what each part holds
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## 1. Table 1: gradient check",
        "## 2. Fig. 1: the loss",  # (per character: the golden run has validation)
        "## 3. Samples during training",
        "## 4. 1,000 characters from the best model",
        "## 5. Settings, speed and validation",
    ]
    assert text.count("**Gradient check: central differences") == 2  # at init and trained
    assert text.count("**Gradient check: complex step") == 2
    assert text.count("| report's max |") == 4 * 5 and text.count("| max rel |") == 4 * 5
    for header in ("### iter = 0, training loss", "### iter = 100,", "### iter = 200,"):
        assert header in text
    hand = text.split("### Samples taken by hand")[1].split("## 4.")[0]
    assert "#### by hand, iter = 250" in hand and "#### best model, iter = " in hand
    assert "by hand" not in text.split("### Samples taken by hand")[0]
    assert "| update | validation loss (nats/char) | bits/char |" in text
    assert "![Fig. 1" in text and "(fig1.svg)" in text and "```text" in text


def test_losses_are_per_character_said_once_and_every_best_is_named(golden_run):
    text = report.write_report(golden_run).read_text("utf-8")
    heading = text.split("## 1.")[0]
    assert heading.count("nats per character") == 1  # the unit, said once
    assert "smooth_loss" not in heading and "training loss 2." in heading
    assert "- best model: iter = 250, the lowest validation loss, 2." in heading
    samples = text.split("## 3.")[1].split("## 4.")[0]
    assert "### iter = 0, training loss 3.6889" in samples  # ln 40: where the loss starts
    assert "smooth_loss" not in samples


def test_the_reports_run_keeps_its_smooth_loss(tmp_path, monkeypatch):
    """One stream, no validation: the report's setup, its figures in its own units."""
    monkeypatch.chdir(tmp_path)
    Path("corpus.txt").write_text(make_text(2000, seed=7), encoding="utf-8")
    argv = ["train", "corpus.txt", "--hidden", "8", "--seq-length", "10", "--iterations", "120"]
    assert main([*argv, "--sample-every", "100", "--run-dir", "runs/plain", "--json"]) == 0
    path = report.write_report("runs/plain")
    text = path.read_text("utf-8")
    assert "nats per character" not in text.split("## 1.")[0]
    assert "smooth_loss = " in text and "the lowest smooth_loss, " in text
    assert "## 2. Fig. 1: the smooth loss" in text and "### iter = 100, smooth_loss = " in text
    root = ET.parse(path.parent / report.FIGURE_FILE).getroot()
    assert [p.find(f"{SVG}title").text for p in root.findall(f".//{SVG}path")] == ["smooth_loss"]


def test_markdown_escapes_only_syntax_and_time_is_said_once(golden_run):
    text = report.write_report(golden_run).read_text("utf-8")
    plain = re.sub(r"```.*?```", "", text, flags=re.S)  # outside code blocks
    assert "\\-" not in plain and "\\." not in plain
    assert "- corpus: corpus.txt, " in plain and ", encoding utf-8" in plain
    (time_line,) = [line for line in text.splitlines() if line.startswith("- training time:")]
    durations = re.findall(r"\d+\.\d s|\d+:\d\d:\d\d", time_line)
    assert len(durations) == 2  # the training time once, and with validation and samples
    assert re.fullmatch(r"- training time: \S+ s for 250 updates \(\S+ s with .*\)", time_line)


def test_the_text_chart_leaves_out_the_first_fall(golden_run):
    text = report.write_report(golden_run).read_text("utf-8")
    chart = text.split("```text\n")[1].split("```")[0].splitlines()[:16]
    rows_with_training = [row for row in chart if "*" in row]
    assert len(rows_with_training) >= 8  # not squeezed into a few rows
    assert "its y axis leaves out the first 62 updates' fall" in text


def test_progress_is_told_step_by_step_and_shown_on_a_terminal(golden_run, monkeypatch, capsys):
    steps: list[str] = []
    report.write_report(golden_run, progress=steps.append)
    assert steps[0] == "Table 1, at initialisation (the run's seed and sigma): central differences"
    assert len(steps) == 6 and steps[-1] == "1,000 characters from the best model"
    terminal = Terminal()
    with monkeypatch.context() as patch:
        patch.setattr(sys, "stderr", terminal)
        assert main(["report", str(golden_run)]) == 0
    assert "report: Table 1" in terminal.getvalue()
    capsys.readouterr()
    assert main(["report", str(golden_run)]) == 0  # not a terminal: nothing on stderr
    assert capsys.readouterr().err == ""


def test_a_cut_samples_file_is_said_in_the_report(golden_run, capsys):
    path = golden_run / "samples.txt"
    whole = path.read_bytes()
    path.write_bytes(whole[: whole.rindex(b"iter = 200") + 40])
    assert main(["report", str(golden_run)]) == 0
    assert "shorter than the" in capsys.readouterr().err
    text = (golden_run / "report" / "report.md").read_text("utf-8")
    section = text.split("## 3.")[1].split("## 4.")[0]
    assert "Only the whole records: " in section and "### iter = 100" in section
    assert "### iter = 200" not in section


def test_the_same_run_gives_the_same_report_twice(golden_run, tmp_path):
    first = report.write_report(golden_run, tmp_path / "one")
    second = report.write_report(golden_run, tmp_path / "two")
    one, two = first.read_text("utf-8"), second.read_text("utf-8")
    assert masked(one) == masked(two)
    differing = [a for a, b in zip(one.splitlines(), two.splitlines(), strict=True) if a != b]
    assert all(masked(line) != line for line in differing)  # only masked lines may differ
    assert (first.parent / "fig1.svg").read_bytes() == (second.parent / "fig1.svg").read_bytes()


def test_the_svg_parses_and_holds_one_path_per_series(golden_run, tmp_path):
    path = report.write_report(golden_run, tmp_path / "out").parent / report.FIGURE_FILE
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    paths = root.findall(f".//{SVG}path")
    # Per character, the golden run having validation (the report's run: smooth_loss, and the
    # validation loss x seq_length; see test_the_reports_run_keeps_its_smooth_loss).
    titles = [p.find(f"{SVG}title").text for p in paths]
    assert titles == ["training loss (smoothed)", "validation loss"]
    (vlines,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "vlines"]
    epochs = checkpoint.load_checkpoint(golden_run)["epoch_starts"]
    assert len(vlines) == len(epochs) - 1 >= 1  # one dashed line per epoch boundary
    assert len(root.findall(f".//{SVG}text")) > 8  # ticks, axis labels, legend
    d = paths[0].get("d")
    assert d.startswith("M") and d.count("L") + 1 <= 2 * report.FIGURE_BINS + 1


def test_the_best_models_text_is_what_generate_writes(golden_run, capsys):
    text = (report.write_report(golden_run)).read_text("utf-8")
    seed = config.read_config(golden_run)["config"]["seed"]
    capsys.readouterr()
    argv = ["generate", str(golden_run), "--best", "--length", "1000", "--seed", str(seed)]
    assert main(argv) == 0
    generated = capsys.readouterr().out[:-1]  # generate ends with a newline of its own
    assert len(generated) == 1000
    section = text.split("## 4.")[1].split("## 5.")[0]
    body = section.split("```\n", 1)[1].rsplit("\n```", 1)[0]
    assert body == generated
    # and the run's own generator was never touched: the next scheduled sample is unchanged
    arrays = checkpoint.load_checkpoint(golden_run)
    assert report.best_model_text(config.read_config(golden_run), arrays) == generated


def test_corpus_and_model_text_is_escaped_for_markdown(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hostile = "*odd*_[x](y)|<b>&amp;.txt"
    (tmp_path / hostile).write_text(make_text(2000, seed=2), encoding="utf-8")
    run_dir = Path("runs/hostile")
    argv = ["train", hostile, "--hidden", "8", "--seq-length", "10", "--iterations", "30"]
    assert main([*argv, "--run-dir", str(run_dir), "--json"]) == 0
    run = Run.open(RunRequest(resume=str(run_dir)), warn=print)
    try:
        evil = "````\n# heading\n\x1b]0;pwned\x07<script>|"
        run.record_sample(Sample(run.trainer.iteration, 30.0, evil, by_hand=True))
    finally:
        run.close()
    text = report.write_report(run_dir).read_text("utf-8")
    assert "\x1b" not in text and "\x07" not in text
    # Every character that is syntax inside a line escaped, and no other: with [ and ]
    # escaped, (y) is no link target; . is syntax only at a line's start.
    assert "- corpus: \\*odd\\*\\_\\[x\\](y)\\|\\<b\\>\\&amp;.txt," in text
    assert "````\n# heading" in text  # inside a longer fence:
    block = text.split("#### by hand, iter = 30, smooth_loss = 30.0000\n\n")[1]
    assert block.startswith("`````\n````\n# heading\n␛]0;pwned␇<script>|\n`````\n")


def test_scheduled_and_hand_samples_are_told_apart_in_runs_without_the_mark():
    samples = [
        Sample(0, 9.0, "a"),
        Sample(0, 9.0, "typed s at iter 0, before training"),  # an old run: no mark
        Sample(37, 8.0, "s at iter 37"),
        Sample(100, 7.0, "b"),
        Sample(100, 7.0, "best", best=True),
        Sample(200, 6.0, "c"),
        Sample(200, 6.0, "s", by_hand=True),
    ]
    scheduled, by_hand = report.split_samples(samples, 100)
    assert [s.text for s in scheduled] == ["a", "b", "c"]
    assert [s.text for s in by_hand] == [
        "typed s at iter 0, before training",
        "s at iter 37",
        "best",
        "s",
    ]


def test_where_the_report_may_go(golden_run, tmp_path, capsys):
    other = make_run(tmp_path, "other", hand_samples=False)
    capsys.readouterr()
    # made when missing, however deep
    assert main(["report", str(golden_run), "--output", "out/a/b"]) == 0
    assert (tmp_path / "out/a/b/report.md").is_file()
    # inside another run's directory: refused, nothing made
    line = fails(["report", str(golden_run), "--output", str(other / "x")], capsys)
    assert "inside the run" in line and not (other / "x").exists()
    assert "inside the run" in fails(["report", str(golden_run), "--output", str(other)], capsys)
    # its own run directory is fine
    assert main(["report", str(golden_run), "--output", str(golden_run)]) == 0
    assert (golden_run / "report.md").is_file()
    # a link is never followed: as the directory, or as a file in it
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    assert "symbolic link" in fails(["report", str(golden_run), "--output", "link"], capsys)
    (tmp_path / "out2").mkdir()
    (tmp_path / "out2" / "report.md").symlink_to(tmp_path / "elsewhere" / "target.md")
    assert "symbolic link" in fails(["report", str(golden_run), "--output", "out2"], capsys)
    assert os.listdir(tmp_path / "elsewhere") == []
    (tmp_path / "plain").write_text("x")
    assert "not a directory" in fails(["report", str(golden_run), "--output", "plain"], capsys)


def test_a_damaged_or_empty_run_is_one_line(tmp_path, monkeypatch, capsys, golden_run):
    empty = Path("runs/empty")  # saved before any update (`--iterations 0` is refused now)
    Run.open(RunRequest(corpus="corpus.txt", run_dir=str(empty)), warn=print).close()
    capsys.readouterr()
    assert "no updates yet" in fails(["report", str(empty)], capsys)
    not_a_run = tmp_path / "plain-dir"
    not_a_run.mkdir()
    assert "not a tui-rnn run" in fails(["report", str(not_a_run)], capsys)
    assert "does not exist" in fails(["report", "nowhere"], capsys)
    never_saved = Path("runs/never-saved")
    never_saved.mkdir()
    (never_saved / "config.json").write_bytes((golden_run / "config.json").read_bytes())
    assert "no checkpoint" in fails(["report", str(never_saved)], capsys)
    for name in ("checkpoint.npz", "checkpoint.prev.npz"):
        path = golden_run / name
        path.write_bytes(path.read_bytes()[:-50])
    assert "truncated or corrupt" in fails(["report", str(golden_run)], capsys)
    assert not (golden_run / "report").exists()


def test_another_text_of_the_same_vocabulary_is_refused_naming_both(tmp_path, monkeypatch, capsys):
    """Table 1 on another text would state the run's corpus and sha256 under figures of
    another: report and gradcheck check the sha256 as resume does."""
    monkeypatch.chdir(tmp_path)
    golden_run = make_run(tmp_path, hand_samples=False)
    text = Path("corpus.txt").read_text(encoding="utf-8")
    Path("other.txt").write_text(text[::-1], encoding="utf-8")  # the same characters
    for argv in (
        ["report", str(golden_run), "--corpus", "other.txt"],
        ["gradcheck", "other.txt", "--run", str(golden_run), "--seq-lengths", "5"],
    ):
        line = fails(argv, capsys)
        assert "other.txt is not the text this run was trained on" in line, argv
        assert "corpus.txt" in line and "sha256" in line
    assert not (golden_run / "report").exists()


def test_a_moved_corpus_is_named_and_can_be_given(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    golden_run = make_run(tmp_path, hand_samples=False)
    os.rename("corpus.txt", "moved.txt")
    line = fails(["report", str(golden_run)], capsys)
    assert "cannot load the run's corpus" in line and "--corpus CORPUS" in line
    assert main(["report", str(golden_run), "--corpus", "moved.txt"]) == 0
    Path("other.txt").write_text("entirely different text, another vocabulary")
    assert "different vocabulary" in fails(
        ["report", str(golden_run), "--corpus", "other.txt"], capsys
    )
