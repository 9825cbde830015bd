"""`tui-rnn eval`: the trainer's validation loss reproduced, any text read as one stream, runs side
by side, the most surprising passages, bad input."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from conftest import fails, make_text

from tui_rnn.cli import main
from tui_rnn.inspection import scoring
from tui_rnn.inspection.passage import read_passage
from tui_rnn.store import checkpoint
from tui_rnn.training.corpus import encode

KEYS = {"run", "nats_per_char", "bits_per_char", "perplexity", "characters", "unknown_characters"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs on one corpus: an rnn with validation (batch 4), and a gru without."""
    base = tmp_path_factory.mktemp("eval")
    corpus = base / "corpus.txt"
    corpus.write_text(make_text(12_000, seed=5), encoding="utf-8")
    common = ["--hidden", "24", "--json", "--sample-every", "1000"]
    a = ["--iterations", "160", "--val-fraction", "0.2", "--eval-every", "40", "--batch", "4"]
    assert main(["train", str(corpus), *a, *common, "--run-dir", str(base / "a")]) == 0
    b = ["--iterations", "60", "--cell", "gru"]
    assert main(["train", str(corpus), *b, *common, "--run-dir", str(base / "b")]) == 0
    return base


def eval_json(capsys, *argv) -> list[dict]:
    capsys.readouterr()
    assert main(["eval", *map(str, argv), "--json"]) == 0
    out = capsys.readouterr()
    assert out.err == ""  # no progress bar off a terminal
    return json.loads(out.out)


def test_eval_current_equals_the_validation_loss_the_run_recorded(runs, capsys):
    history = checkpoint.read_history(runs / "a")
    assert history.val_iterations[-1] == history.counters["iteration"]  # at its last update
    [result] = eval_json(capsys, runs / "a", "--current")
    assert result["text"] == "validation text" and result["checkpoint"] == "latest"
    assert abs(result["nats_per_char"] - float(history.val_loss[-1])) <= 1e-9
    [same] = eval_json(capsys, runs / "a", "--checkpoint", "latest")
    assert same == result


def test_eval_best_equals_the_best_validation_loss(runs, capsys):
    counters = checkpoint.read_counters(runs / "a", checkpoint.read_config(runs / "a"))
    [result] = eval_json(capsys, runs / "a")
    assert result["checkpoint"] == "best"
    assert result["iteration"] == counters["best_iteration"]
    assert abs(result["nats_per_char"] - counters["best_val_loss"]) <= 1e-9


def test_a_run_without_validation_is_scored_on_its_corpus(runs, capsys):
    [result] = eval_json(capsys, runs / "b")
    assert result["text"] == "corpus"
    assert result["characters"] > 11_000 and result["unknown_characters"] == 0


def test_two_runs_on_a_text_side_by_side_best_first(runs, capsys, tmp_path):
    text = tmp_path / "other.txt"
    text.write_text(make_text(3000, seed=9), encoding="utf-8")
    results = eval_json(capsys, runs / "b", runs / "a", "--text", text)
    assert [KEYS <= r.keys() for r in results] == [True, True]
    losses = [r["nats_per_char"] for r in results]
    assert losses == sorted(losses)
    for r in results:
        assert r["bits_per_char"] == pytest.approx(r["nats_per_char"] / math.log(2), rel=1e-12)
        assert r["perplexity"] == pytest.approx(math.exp(r["nats_per_char"]), rel=1e-12)
        assert r["characters"] == 2999 and r["text"] == str(text)
    capsys.readouterr()
    assert main(["eval", str(runs / "b"), str(runs / "a"), "--text", str(text)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "one stream" in lines[0]
    header, *rows = lines[1:]
    assert header.split()[:2] == ["run", "model"] and "bits/char" in header
    assert [row.split()[0] for row in rows] == [r["run"] for r in results]
    for row, r in zip(rows, results, strict=True):
        assert f"{r['bits_per_char']:.4f}" in row and "2,999" in row


def test_a_text_is_scored_as_the_inspector_reads_it(runs, tmp_path):
    model, chars, _ = checkpoint.load_model(runs / "a")
    text = make_text(2500, seed=11)
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    [(score, _)] = scoring.score_text(path, [("a", model, chars)])
    passage = read_passage(model, encode(text, chars), chars)
    assert score.characters == len(text) - 1 and score.unknown_characters == 0
    assert score.nats_per_char == pytest.approx(passage.loss_nats, rel=1e-12)


def test_unknown_characters_are_skipped_and_counted_the_state_carrying_over(runs, tmp_path):
    model, chars, _ = checkpoint.load_model(runs / "a")
    text = make_text(2000, seed=12)
    strange = "".join(ch + ("☃€" if i % 97 == 5 else "") for i, ch in enumerate(text))
    clean, dirty = tmp_path / "clean.txt", tmp_path / "dirty.txt"
    clean.write_text(text, encoding="utf-8")
    dirty.write_text(strange, encoding="utf-8")
    [(plain, _)] = scoring.score_text(clean, [("a", model, chars)])
    [(skipped, _)] = scoring.score_text(dirty, [("a", model, chars)])
    assert skipped.unknown_characters == 2 * sum(1 for i in range(len(text)) if i % 97 == 5)
    assert skipped.characters == plain.characters
    assert skipped.nats_per_char == pytest.approx(plain.nats_per_char, rel=1e-12)


def test_the_score_does_not_depend_on_how_the_text_is_cut(runs, monkeypatch):
    model, chars, _ = checkpoint.load_model(runs / "a")
    text = make_text(5000, seed=13)
    whole = scoring.TextScorer(model, chars)
    whole.feed(text)
    expected = whole.finish()
    monkeypatch.setattr(scoring, "CHUNK", 37)
    cut = scoring.TextScorer(model, chars)
    rng = np.random.default_rng(0)
    start = 0
    while start < len(text):
        size = int(rng.integers(1, 300))
        cut.feed(text[start : start + size])
        assert len(cut.ids) <= 37  # what waits for the model stays under a chunk
        start += size
    score = cut.finish()
    assert score.characters == expected.characters
    assert score.nats_per_char == pytest.approx(expected.nats_per_char, rel=1e-12)


def test_worst_keeps_the_windows_of_highest_mean_loss():
    rng = np.random.default_rng(3)
    losses = rng.exponential(size=1000)
    worst = scoring.WorstPassages(5, window=10)
    for start in range(0, 1000, 100):  # fed in pieces, as chunks come
        worst.add(np.arange(start, start + 100) + 7, losses[start : start + 100])
    means = losses.reshape(100, 10).mean(axis=1)
    expected = np.argsort(-means, kind="stable")[:5]
    found = worst.worst()
    assert [s.start for s in found] == [int(w) * 10 + 7 for w in expected]
    np.testing.assert_allclose([s.nats_per_char for s in found], means[expected], rtol=1e-12)


def test_worst_passages_come_with_their_text_context_and_marks(runs, capsys, tmp_path):
    text = make_text(4000, seed=14)
    odd = ".,?" * 20  # in the vocabulary, but never in this order
    text = text[:2000] + odd + text[2000:]
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    [result] = eval_json(capsys, runs / "a", "--text", path, "--worst", 3)
    passages = result["worst"]
    assert len(passages) == 3
    p = passages[0]
    assert p["start"] < 2000 + len(odd) and p["end"] > 2000  # the worst is in the odd part
    bits = [p["bits_per_char"] for p in passages]
    assert bits == sorted(bits, reverse=True) and bits[-1] > result["bits_per_char"]
    for p in passages:
        assert p["text"] == text[p["start"] : p["end"]]
        assert p["before"] == text[max(0, p["start"] - scoring.CONTEXT) : p["start"]]
        assert p["after"] == text[p["end"] : p["end"] + scoring.CONTEXT]
        assert p["line"] == text[: p["start"]].count("\n") + 1
        assert p["marked"] and all(0 <= i < len(p["text"]) for i in p["marked"])
    capsys.readouterr()
    assert main(["eval", str(runs / "a"), "--text", str(path), "--worst", "3"]) == 0
    out = capsys.readouterr().out
    assert "3 most surprising passages" in out
    marks = [m for m in (line.strip() for line in out.splitlines()) if m and set(m) <= set("-^")]
    assert len(marks) == 3 and all("^" in m for m in marks)


def test_worst_on_the_runs_own_validation_text(runs, capsys):
    [result] = eval_json(capsys, runs / "a", "--worst", 2)
    corpus = (runs / "corpus.txt").read_text("utf-8")
    for p in result["worst"]:
        held_out_start = len(corpus) - int(len(corpus) * 0.2)
        assert p["start"] >= held_out_start  # offsets in the corpus, inside its held-out tail
        assert p["text"] == corpus[p["start"] : p["end"]]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--text", "{tmp}"], ["directory"]),
        (["--text", "{tmp}/missing.txt"], ["does not exist"]),
        (["--text", "{tmp}/empty.txt"], ["empty"]),
        (["--text", "{tmp}/latin.txt"], ["utf-8", "--encoding"]),
        (["--text", "{tmp}/strange.txt"], ["nothing to predict"]),
        (["--text", "{tmp}/fifo"], ["not a regular file"]),
        (["--worst", "0"], ["--worst"]),
        (["--encoding", "latin-1"], ["--text"]),
        (["--checkpoint", "newest"], ["--checkpoint"]),
    ],
)
def test_bad_eval_input_is_one_line(runs, tmp_path, capsys, argv, words):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "latin.txt").write_bytes("déjà vu".encode("latin-1"))
    (tmp_path / "strange.txt").write_text("☃☃☃☃", encoding="utf-8")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
    elif "fifo" in argv[-1]:
        pytest.skip("needs named pipes")
    argv = [a.format(tmp=tmp_path) for a in argv]
    line = fails(["eval", str(runs / "a"), *argv], capsys)
    for word in words:
        assert word in line


def test_a_window_spread_wide_by_unknown_characters_is_not_a_passage():
    worst = scoring.WorstPassages(3, window=4)
    positions = np.array([0, 1, 2, 3, 10, 11, 12, 10_000])  # the second window spans 9,991
    worst.add(positions, np.array([1.0, 1.0, 1.0, 1.0, 9.0, 9.0, 9.0, 9.0]))
    assert [s.start for s in worst.worst()] == [0]
