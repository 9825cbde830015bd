"""`tui-rnn inspect` as a user runs it: the three formats hold what the engine computed, the
page parses with one span per character and its top-5 title, a hostile text never drives a
real terminal, the default text is the run's validation text (else its corpus), and every
mistake is one line and exit code 2."""

from __future__ import annotations

import json
import os
import pty
import re
import sys
from html.parser import HTMLParser

import pytest
from conftest import fails, make_text, run_on_pty

from tui_rnn.cli import main
from tui_rnn.inspection import neurons
from tui_rnn.inspection import passage as inspection_passage
from tui_rnn.inspection.output import glyph, title
from tui_rnn.store import checkpoint, rundir
from tui_rnn.training.corpus import load_corpus

EXTRA = '<b>&"x"</b>\tz\n'  # characters that mean something in HTML, and a tab
OPTIONS = ["--hidden", "12", "--seq-length", "10", "--sample-every", "1000"]


def train(base, name, *extra):
    corpus = base / f"{name}.txt"
    corpus.write_text((make_text(3000, seed=4) + EXTRA) * 2, encoding="utf-8")
    run = base / name
    argv = ["train", corpus, *OPTIONS, "--iterations", "40", "--run-dir", run, "--json", *extra]
    assert main([str(a) for a in argv]) == 0
    return run, corpus


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train(tmp_path_factory.mktemp("inspect"), "run")


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    return train(tmp_path_factory.mktemp("inspect"), "val", "--val-fraction", "0.25")


def inspect_json(capsys, *argv) -> dict:
    capsys.readouterr()
    assert main(["inspect", *map(str, argv), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_holds_what_the_engine_computed(trained, capsys):
    run, _ = trained
    text = 'The <b>man</b> & "his" cat.\n\tzz'
    doc = inspect_json(capsys, run, "--prompt", text, "--neuron", "0:3", "--find-neurons", "4")
    model, chars, _, iteration = checkpoint.load_model_at(run)
    passage = inspection_passage.read_passage(model, [chars.index(ch) for ch in text], chars)
    assert [c["char"] for c in doc["chars"]] == list(text)
    assert doc["chars"][0]["probability"] is None and doc["chars"][0]["surprisal_bits"] is None
    for t, entry in enumerate(doc["chars"][1:], 1):
        assert entry["probability"] == passage.probability[t]  # exact: JSON keeps every digit
        assert entry["surprisal_bits"] == passage.surprisal_bits[t]
    for t, entry in enumerate(doc["chars"]):
        assert [tuple(pair) for pair in entry["top5"]] == passage.top(t)
        assert entry["activation"] == float(passage.activations["h.0"][t, 3])
    assert doc["loss_nats"] == passage.loss_nats and doc["loss_bits"] == passage.loss_bits
    assert doc["neuron"] == {"layer": 0, "unit": 3, "kind": "h"}
    assert doc["model"] == f"current model, iter {iteration:,}" == "current model, iter 40"
    assert doc["neurons"] == [m.to_json() for m in neurons.find_neurons(passage, 4)]
    assert len(doc["neurons"]) == 4 and set(doc["features"]) == set(neurons.FEATURES)
    assert doc["source"] == f"--prompt ({len(text)} characters)"
    best = inspect_json(capsys, run, "--prompt", "the", "--best")
    assert best["model"].startswith("best model, iter ") and "activation" not in best["chars"][0]


def test_the_default_text_is_the_validation_text_else_the_start_of_the_corpus(
    trained, validated, capsys
):
    for (run, corpus), what in ((trained, "corpus"), (validated, "validation text")):
        text = corpus.read_text(encoding="utf-8")
        held_out = text[len(text) - int(len(text) * 0.25) :] if what != "corpus" else text
        doc = inspect_json(capsys, run)
        assert (
            "".join(c["char"] for c in doc["chars"])
            == held_out[: inspection_passage.DEFAULT_LENGTH]
        )
        shown = min(len(held_out), inspection_passage.DEFAULT_LENGTH)
        assert (
            doc["source"] == f"the start of its {what} ({shown:,} of {len(held_out):,} characters)"
        )
    from_file = inspect_json(capsys, trained[0], "--text", trained[1])
    assert len(from_file["chars"]) == len(trained[1].read_text(encoding="utf-8"))


class Spans(HTMLParser):
    """The spans inside <pre class="passage">: (title, text) each; and any script."""

    def __init__(self):
        super().__init__()
        self.spans, self.inside, self.scripts, self.current = [], False, 0, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "pre" and attrs.get("class") == "passage":
            self.inside = True
        elif tag == "span" and self.inside:
            self.current = [attrs.get("title"), ""]
            self.spans.append(self.current)
        elif tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag):
        if tag == "pre":
            self.inside = False
        elif tag == "span":
            self.current = None

    def handle_data(self, data):
        if self.current is not None:
            self.current[1] += data


def test_the_html_page_has_one_span_per_character_with_its_top5_title(trained, tmp_path, capsys):
    run, _ = trained
    text = 'The <b>man</b> & "his" cat.\n\tzz\n'
    page = tmp_path / "page.html"
    assert main(["inspect", str(run), "--prompt", text, "--output", str(page)]) == 0
    assert capsys.readouterr().out == f"wrote {page}\n"
    source = page.read_text(encoding="utf-8")
    assert source.startswith("<!DOCTYPE html>") and "<style>" in source
    parser = Spans()
    parser.feed(source)
    assert parser.scripts == 0 and len(parser.spans) == len(text)
    model, chars, _, _ = checkpoint.load_model_at(run)
    passage = inspection_passage.read_passage(model, [chars.index(ch) for ch in text], chars)
    for t, ((hover, shown), ch) in enumerate(zip(parser.spans, text, strict=True)):
        assert shown == glyph(ch) + ("\n" if ch == "\n" else "")
        assert hover == title(passage, t)
    assert "next: " in parser.spans[3][0] and "p = " in parser.spans[3][0]
    body = source.split("<body>")[1]
    assert ">&lt;</span>" in body and "<b>" not in body  # escaped, never markup
    neuron = tmp_path / "neuron.htm"
    argv = ["inspect", run, "--prompt", text, "--neuron", "0:2", "--find-neurons", "3"]
    assert main([str(a) for a in [*argv, "--output", neuron]]) == 0
    parser = Spans()
    parser.feed(neuron.read_text(encoding="utf-8"))
    assert "activation " in parser.spans[5][0] and len(parser.spans) == len(text)
    assert neuron.read_text(encoding="utf-8").count("<tr><td>") == 3


def test_format_follows_the_flag_the_output_name_then_the_terminal(trained, tmp_path, capsys):
    run, _ = trained
    capsys.readouterr()
    assert main(["inspect", str(run), "--prompt", "the"]) == 0  # a pipe: JSON
    assert json.loads(capsys.readouterr().out)["characters"] == 3
    coloured = tmp_path / "passage.ansi"
    assert main(["inspect", str(run), "--prompt", "the", "--output", str(coloured)]) == 0
    assert re.search(r"\x1b\[[0-9;]*48;2;", coloured.read_text())  # truecolor backgrounds
    assert capsys.readouterr().out == f"wrote {coloured}\n"
    assert main(["inspect", str(run), "--prompt", "the", "--format", "html", "--output", "-"]) == 0
    assert capsys.readouterr().out.startswith("<!DOCTYPE html>")
    assert main(["inspect", str(run), "--prompt", "the", "--format", "ansi"]) == 0
    assert "\x1b[" in capsys.readouterr().out  # asked for: colours even into a pipe


def test_mistakes_are_one_line(trained, tmp_path, capsys):
    run, _ = trained
    assert "the text is empty" in fails(["inspect", run, "--prompt", ""], capsys)
    line = fails(["inspect", run, "--prompt", "the€ é"], capsys)
    assert "2 character(s) not in the model's vocabulary: 'é' '€'" in line
    assert "unit 12 does not exist" in fails(["inspect", run, "--neuron", "0:12"], capsys)
    assert "layer 1 does not exist" in fails(["inspect", run, "--neuron", "1:0"], capsys)
    assert "'c' is not a state" in fails(["inspect", run, "--neuron", "0:1:c"], capsys)
    assert "LAYER:UNIT" in fails(["inspect", run, "--neuron", "zero"], capsys)
    assert "not allowed with" in fails(["inspect", run, "--text", "a", "--prompt", "b"], capsys)
    assert ">= 1" in fails(["inspect", run, "--find-neurons", "0"], capsys)
    for name in (rundir.CONFIG_FILE, rundir.CHECKPOINT_FILE):
        line = fails(["inspect", run, "--output", run / name], capsys)
        assert f"is the run's own {name}" in line
    assert "does not exist" in fails(["inspect", tmp_path / "nothing"], capsys)
    line = fails(["inspect", run, "--text", tmp_path / "missing.txt"], capsys)
    assert "--text: file" in line and "does not exist" in line and "corpus" not in line
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "is empty" in fails(["inspect", run, "--text", empty], capsys)
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(4 * inspection_passage.MAX_LENGTH + 1)
    assert "use a shorter text" in fails(["inspect", run, "--text", big], capsys)
    assert "use a shorter text" in fails(["inspect", run, "--prompt", "a" * 100_001], capsys)
    assert (run / rundir.CONFIG_FILE).read_text().startswith("{")  # nothing was damaged


def test_the_run_corpus_gone_is_one_line_naming_the_way_out(tmp_path, capsys):
    run, corpus = train(tmp_path, "moved")
    corpus.rename(tmp_path / "elsewhere.txt")
    line = fails(["inspect", run], capsys)
    assert "cannot read the run's corpus" in line and "--text FILE or --prompt TEXT" in line
    assert main(["inspect", str(run), "--prompt", "the", "--format", "json"]) == 0


HOSTILE = "a b\x1b]0;pwned\x07\x1b[?1049l ab\u202eba\r\n"
CONTROLS = set("\x1b\x07\r\u202e")


@pytest.mark.skipif(not hasattr(pty, "openpty"), reason="needs a pseudo-terminal")
def test_ansi_on_a_real_pseudo_terminal_shows_no_raw_control_character(tmp_path):
    corpus = tmp_path / "hostile.txt"
    corpus.write_bytes((HOSTILE * 40).encode("utf-8"))
    run = tmp_path / "run"
    argv = ["train", corpus, *OPTIONS, "--iterations", "20", "--run-dir", run, "--json"]
    assert main([str(a) for a in argv]) == 0
    assert CONTROLS <= set(load_corpus(corpus).chars)
    command = [sys.executable, "-m", "tui_rnn", "inspect", str(run), "--prompt", HOSTILE * 3]
    environment = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    code, text, errors = run_on_pty(command, environment)
    assert code == 0, errors
    assert re.search(r"\x1b\[[0-9;]*48;2;", text)  # coloured backgrounds (truecolor)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)  # only colour codes are ours
    assert not CONTROLS & set(plain), sorted(CONTROLS & set(plain))
    assert "a b\u241b]0;pwned\u2407\u241b[?1049l ab\ufffdba\u240d\u21b5\n" in plain
    assert plain.count("\u21b5\n") == 3  # every newline shown, and kept as a line break
