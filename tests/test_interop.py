"""export-model and import-model without optional tools: PyTorch's layout, the round trip to the
bit, imported runs in every command, files refused in one line, the page's offline rules."""

from __future__ import annotations

import json
import os
import re
import struct

import numpy as np
import pytest
from conftest import make_text
from interop_support import CELL_LAYERS, probabilities, refused, run_command, train_run
from safetensors.numpy import load_file, save_file

from tui_rnn.interop import onnx_graph, pytorch_layout
from tui_rnn.store import checkpoint
from tui_rnn.store.config import read_config


@pytest.fixture
def runs(interop_runs):
    return interop_runs


def export(run_dir, output, capsys, *extra):
    code, out, err = run_command("export-model", [run_dir, output, *extra], capsys)
    assert code == 0, err
    assert out.startswith(f"wrote {output}")
    return output


def imported(file, run_dir, capsys, *extra):
    code, out, err = run_command("import-model", [file, run_dir, *extra], capsys)
    assert code == 0, err
    assert out.startswith(f"imported {file} into {run_dir}")
    return run_dir


# -- the layout --------------------------------------------------------------------------------
def test_lstm_gates_go_into_pytorchs_order_and_the_bias_into_bias_ih(runs, tmp_path, capsys):
    model, chars, _ = checkpoint.load_model(runs["lstm", 2], best=True)
    tensors = load_file(export(runs["lstm", 2], tmp_path / "m.safetensors", capsys))
    m = model.hidden_size
    for layer in range(2):
        W_x, W_h, b = model.layer(layer)
        for tui_block, torch_block in ((0, 0), (1, 1), (2, 3), (3, 2)):  # i f o g -> i f g o
            rows, torch_rows = (
                slice(tui_block * m, (tui_block + 1) * m),
                slice(torch_block * m, (torch_block + 1) * m),
            )
            assert np.array_equal(tensors[f"rnn.weight_ih_l{layer}"][torch_rows], W_x[rows])
            assert np.array_equal(tensors[f"rnn.weight_hh_l{layer}"][torch_rows], W_h[rows])
            assert np.array_equal(tensors[f"rnn.bias_ih_l{layer}"][torch_rows], b[rows])
        assert not tensors[f"rnn.bias_hh_l{layer}"].any()
        assert b.any()  # trained: the test would not see a misplaced bias otherwise
    assert np.array_equal(tensors["fc.weight"], model["V"])
    assert np.array_equal(tensors["fc.bias"], model["c"])
    kinds = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    names = {f"rnn.{kind}_l{n}" for kind in kinds for n in (0, 1)} | {"fc.weight", "fc.bias"}
    assert set(tensors) == names


def test_the_metadata_says_what_the_tensors_are(runs, tmp_path, capsys):
    from safetensors import safe_open

    path = export(runs["gru", 2], tmp_path / "m.safetensors", capsys)
    with safe_open(str(path), "np") as f:
        metadata = f.metadata()
    _, chars, _ = checkpoint.load_model(runs["gru", 2])
    assert json.loads(metadata["vocabulary"]) == list(chars)
    assert (metadata["cell"], metadata["layers"], metadata["hidden_size"]) == ("gru", "2", "12")
    assert metadata["dtype"] == "float64"
    assert "tui_rnn_version" in metadata


@pytest.mark.parametrize("key", [*CELL_LAYERS, "float32"])
def test_export_import_export_gives_the_same_tensors_to_the_bit(runs, tmp_path, capsys, key):
    first = export(runs[key], tmp_path / "first.safetensors", capsys)
    run_dir = imported(first, tmp_path / "imported", capsys)
    second = export(run_dir, tmp_path / "second.safetensors", capsys)
    a, b = load_file(first), load_file(second)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].tobytes() == b[name].tobytes(), name
    original, _, _ = checkpoint.load_model(runs[key], best=True)
    model, _, _ = checkpoint.load_model(run_dir)
    assert model.flat.dtype == original.flat.dtype
    assert model.flat.tobytes() == original.flat.tobytes()


def test_export_takes_the_best_model_unless_asked_for_the_latest(runs, tmp_path, capsys):
    # Weights so large that the loss starts far above a uniform guess's: the smooth loss rises,
    # so the best model stays the initial one.
    run = tmp_path / "run"
    train_run(run, runs["corpus"], "rnn", 1, sigma=3)
    best, _, _ = checkpoint.load_model(run, best=True)
    latest, _, _ = checkpoint.load_model(run)
    assert not np.array_equal(best.flat, latest.flat)
    for which, model in (("best", best), ("latest", latest)):
        path = export(run, tmp_path / f"{which}.safetensors", capsys, "--checkpoint", which)
        assert np.array_equal(load_file(path)["fc.weight"], model["V"])
    default = load_file(export(run, tmp_path / "default.safetensors", capsys))
    assert np.array_equal(default["fc.weight"], best["V"])


# -- imported runs in every command ------------------------------------------------------------
def test_an_imported_run_generates_inspects_checks_and_trains_on(runs, tmp_path, capsys):
    from tui_rnn.cli import main

    file = export(runs["lstm", 2], tmp_path / "m.safetensors", capsys)
    run_dir = imported(file, tmp_path / "imp", capsys)
    document = read_config(run_dir)
    assert document["corpus"]["characters"] is None and document["imported"]["file"]
    arrays = checkpoint.load_checkpoint(run_dir)
    assert int(arrays["iteration"]) == 0
    assert not any(arrays[name].any() for name in arrays if name.startswith("opt."))

    def output(argv):
        capsys.readouterr()
        assert main([str(a) for a in argv]) == 0
        return capsys.readouterr().out

    generate = ["generate", "--prompt", "The ", "--temperature", "0.7", "--seed", "3"]
    assert output([*generate, run_dir]) == output([*generate, runs["lstm", 2], "--best"])
    inspected = json.loads(output(["inspect", run_dir, "--prompt", "the man", "--format", "json"]))
    assert inspected["cell"] == "lstm" and inspected["characters"] == 7
    capsys.readouterr()
    assert (
        main(["gradcheck", "--run", str(run_dir), str(runs["corpus"]), "--seq-lengths", "5"]) == 0
    )
    # Without a corpus, training asks for one; the first one given becomes the run's own.
    assert "no corpus of its own" in refused_main(["train", "--resume", run_dir], capsys)
    output(["train", runs["corpus"], "--resume", run_dir, "--iterations", "5"])
    assert read_config(run_dir)["corpus"]["characters"] == 6000
    output(["train", "--resume", run_dir, "--iterations", "8"])
    assert int(checkpoint.load_checkpoint(run_dir)["iteration"]) == 8


def refused_main(argv, capsys) -> str:
    from tui_rnn.cli import main

    capsys.readouterr()
    assert main([str(a) for a in argv]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_a_corpus_the_vocabulary_covers_is_trained_on_in_the_models_indices(runs, tmp_path, capsys):
    from tui_rnn.cli import main

    file = export(runs["rnn", 1], tmp_path / "m.safetensors", capsys)
    _, chars, _ = checkpoint.load_model(runs["rnn", 1])
    narrow = tmp_path / "narrow.txt"
    narrow.write_text("the cat sat on the mat. " * 40, encoding="utf-8")
    assert set("the cat sat on the mat. ") < set(chars)
    run_dir = imported(file, tmp_path / "imp", capsys, narrow, "--seq-length", "10")
    document = read_config(run_dir)
    assert document["vocabulary"] == "".join(chars)
    assert document["config"]["seq_length"] == 10
    capsys.readouterr()
    assert main(["train", "--resume", str(run_dir), "--iterations", "30"]) == 0
    assert int(checkpoint.load_checkpoint(run_dir)["iteration"]) == 30
    # A text with a character the model lacks is refused, and nothing is written.
    stranger = tmp_path / "stranger.txt"
    stranger.write_text("the cat sat on the mat. \u00e9" * 40, encoding="utf-8")
    line = refused("import-model", [file, tmp_path / "other", stranger], capsys)
    assert "'\u00e9'" in line
    assert not (tmp_path / "other").exists()


def test_an_unsorted_vocabulary_is_sorted_and_the_model_computes_the_same(tmp_path, capsys):
    rng = np.random.default_rng(4)
    chars = list("zyx wvu\nabc")
    K, m = len(chars), 6
    tensors = {
        "weight_ih_l0": rng.standard_normal((m, K)),
        "weight_hh_l0": rng.standard_normal((m, m)) * 0.5,
        "bias_ih_l0": rng.standard_normal(m),
        "bias_hh_l0": rng.standard_normal(m),
        "out.weight": rng.standard_normal((K, m)),
        "out.bias": rng.standard_normal(K),
    }
    file = tmp_path / "m.safetensors"
    save_file(tensors, str(file), metadata={"vocabulary": json.dumps(chars)})
    model, run_chars, _ = checkpoint.load_model(imported(file, tmp_path / "imp", capsys))
    assert list(run_chars) == sorted(chars)
    text = "abc xyz\nwvu cab zz"
    p_run = probabilities(model, [run_chars.index(ch) for ch in text])
    # The same model by hand in the file's order: h = tanh(W_ih x + b_ih + W_hh h + b_hh).
    h, expected = np.zeros(m), []
    for ch in text:
        h = np.tanh(tensors["weight_ih_l0"][:, chars.index(ch)] + tensors["bias_ih_l0"]
                    + tensors["weight_hh_l0"] @ h + tensors["bias_hh_l0"])  # fmt: skip
        logits = tensors["out.weight"] @ h + tensors["out.bias"]
        expected.append(np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum())
    order = [chars.index(ch) for ch in run_chars]
    assert np.allclose(p_run, np.array(expected)[:, order], rtol=0, atol=1e-12)


# -- files refused -------------------------------------------------------------------------------
def _header_file(path, header: dict, data: bytes = b"") -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


def _rnn_tensors(K=5, m=3, **changes):
    tensors = {
        "rnn.weight_ih_l0": np.ones((m, K)),
        "rnn.weight_hh_l0": np.ones((m, m)),
        "rnn.bias_ih_l0": np.ones(m),
        "rnn.bias_hh_l0": np.zeros(m),
        "fc.weight": np.ones((K, m)),
        "fc.bias": np.ones(K),
    }
    tensors.update(changes)
    return {name: value for name, value in tensors.items() if value is not None}


VOCAB5 = json.dumps(list("abcde"))


def _save(path, metadata=None, **changes) -> None:
    """The small rnn of _rnn_tensors with `changes` (name=None drops a tensor), saved."""
    tensors = _rnn_tensors(**{name.replace("__", "."): value for name, value in changes.items()})
    save_file(tensors, str(path), {"vocabulary": VOCAB5} if metadata is None else metadata)


def _bad(kind: str, path) -> str:
    """Write a bad model file of `kind`; return what its one-line refusal must say."""
    m = 3
    if kind == "text":
        path.write_text("this is not a model, just text\n" * 20)
        return "header claims"
    if kind == "huge header":
        path.write_bytes(struct.pack("<Q", 1 << 62) + b"{}")
        return "header claims"
    if kind == "short":
        path.write_bytes(b"\x01\x00")
        return "fewer than the 8"
    if kind == "not json":
        path.write_bytes(struct.pack("<Q", 4) + b"{{{{")
        return "not JSON"
    if kind == "offsets":
        entry = {"dtype": "F64", "shape": [4], "data_offsets": [0, 64]}
        _header_file(path, {"fc.bias": entry}, bytes(64))
        return "claims bytes"
    if kind == "gap":
        entry = {"dtype": "F64", "shape": [1], "data_offsets": [8, 16]}
        _header_file(path, {"fc.bias": entry}, bytes(16))
        return "gaps"
    if kind == "float16":
        _save(path, fc__bias=np.ones(5, np.float16))
        return "F16"
    if kind == "stranger name":
        _save(path, encoder__embedding=np.ones((5, m)))
        return "'encoder.embedding' is no part"
    if kind == "no layers":
        _save(path, rnn__weight_ih_l0=None, rnn__weight_hh_l0=None, rnn__bias_ih_l0=None,
              rnn__bias_hh_l0=None)  # fmt: skip
        return "no recurrent layer"
    if kind == "two outputs":
        _save(path, head__weight=np.ones((5, m)), head__bias=np.ones(5))
        return "exactly one output layer"
    if kind == "bidirectional":
        _save(path, rnn__weight_ih_l0_reverse=np.ones((m, 5)))
        return "bidirectional"
    if kind == "shapes disagree":
        _save(path, fc__weight=np.ones((5, 4)))
        return "the shapes disagree"
    if kind == "gate count":
        _save(path, rnn__weight_hh_l0=np.ones((2 * m, m)))
        return "2 gate blocks"
    if kind == "vocabulary too short":
        _save(path, {"vocabulary": json.dumps(list("abcd"))})
        return "does not fit"
    if kind == "vocabulary repeats":
        _save(path, {"vocabulary": json.dumps(list("abcda"))})
        return "twice"
    if kind == "vocabulary of words":
        _save(path, {"vocabulary": json.dumps(["a", "b", "cd", "e", "f"])})
        return "one-character strings"
    if kind == "no vocabulary":
        _save(path, {})
        return "--vocab"
    if kind == "not finite":
        _save(path, fc__bias=np.array([1, 2, np.nan, 4, 5.0]))
        return "NaN"
    gru = {f"rnn__{name}": np.ones(shape) for name, shape in (
        ("weight_ih_l0", (3 * m, 5)), ("weight_hh_l0", (3 * m, m)), ("bias_ih_l0", (3 * m,)),
        ("bias_hh_l0", (3 * m,)))}  # fmt: skip
    if kind == "pytorch gru":
        _save(path, **gru)
        return "another function"
    if kind == "pytorch gru with our metadata":  # its candidate's bias inside the reset gate
        _save(path, {"vocabulary": VOCAB5, "cell": "gru"}, **gru)
        return "non-zero candidate"
    if kind == "cell disagrees":
        _save(path, {"vocabulary": VOCAB5, "cell": "lstm"})
        return "cell 'lstm'"
    raise AssertionError(kind)


BAD_KINDS = [
    "text", "huge header", "short", "not json", "offsets", "gap", "float16", "stranger name",
    "no layers", "two outputs", "bidirectional", "shapes disagree", "gate count",
    "vocabulary too short", "vocabulary repeats", "vocabulary of words", "no vocabulary",
    "not finite", "pytorch gru", "pytorch gru with our metadata", "cell disagrees",
]  # fmt: skip


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_a_bad_model_file_is_refused_in_one_line_and_nothing_is_written(tmp_path, capsys, kind):
    file = tmp_path / "bad.safetensors"
    expected = _bad(kind, file)
    before = sorted(os.listdir(tmp_path))
    line = refused("import-model", [file, tmp_path / "run"], capsys)
    assert expected in line, line
    assert sorted(os.listdir(tmp_path)) == before


def test_a_good_hand_made_file_is_imported_so_the_bad_ones_fail_for_their_reason(tmp_path, capsys):
    file = tmp_path / "good.safetensors"
    _save(file)
    imported(file, tmp_path / "run", capsys)
    vocab = tmp_path / "vocab.json"
    vocab.write_text(VOCAB5)
    save_file(_rnn_tensors(), str(tmp_path / "bare.safetensors"))
    imported(tmp_path / "bare.safetensors", tmp_path / "run2", capsys, "--vocab", vocab)


def test_import_never_overwrites_a_run(runs, tmp_path, capsys):
    file = export(runs["rnn", 1], tmp_path / "m.safetensors", capsys)
    before = (runs["gru", 1] / "checkpoint.npz").read_bytes()
    assert "already holds a run" in refused("import-model", [file, runs["gru", 1]], capsys)
    assert (runs["gru", 1] / "checkpoint.npz").read_bytes() == before


# -- export's own refusals and the page's rules ----------------------------------------------------
@pytest.mark.parametrize(
    "output, extra, said",
    [
        ("model.bin", [], "cannot tell the format"),
        ("model.onnx", ["--format", "html"], "contradicts"),
        ("{run}/checkpoint.npz", ["--format", "html"], "the run's own checkpoint.npz"),
        ("{run}/config.json", ["--format", "onnx"], "the run's own config.json"),
        ("missing/dir/m.html", [], "cannot write"),
    ],
)
def test_export_refusals_are_one_line(runs, tmp_path, capsys, monkeypatch, output, extra, said):
    monkeypatch.chdir(tmp_path)
    run = runs["rnn", 1]
    before = {name: (run / name).read_bytes() for name in ("checkpoint.npz", "config.json")}
    line = refused("export-model", [run, output.format(run=run), *extra], capsys)
    assert said in line, line
    assert before == {name: (run / name).read_bytes() for name in before}


def test_without_the_onnx_extra_export_says_how_to_get_it(runs, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(onnx_graph, "HAVE_ONNX", False)
    line = refused("export-model", [runs["rnn", 1], tmp_path / "m.onnx"], capsys)
    assert 'pip install "tui-rnn[onnx]"' in line
    assert not (tmp_path / "m.onnx").exists()


def page_tags(page: str) -> list[tuple[str, dict]]:
    """Every element's (name, attributes), as a browser's parser sees them."""
    from html.parser import HTMLParser

    tags = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, dict(attrs)))

    Collector().feed(page)
    return tags


def test_the_page_is_offline_and_text_from_the_run_is_never_markup(tmp_path, capsys):
    hostile = '<script>alert("x")</script> fetch(import(http://a.b/)) &amp; XMLHttpRequest\n'
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(make_text(3000) + hostile * 5, encoding="utf-8")
    run = tmp_path / "fetch(import(x)) <b>"
    train_run(run, corpus, "rnn", 1, hidden=8)
    page = export(run, tmp_path / "page.html", capsys).read_text(encoding="utf-8")
    for forbidden in ("http:", "https:", "fetch(", "XMLHttpRequest", "import(", "<b>"):
        assert forbidden not in page, forbidden
    tags = page_tags(page)
    assert [name for name, _ in tags].count("script") == 3
    assert len(re.findall(r"</script", page)) == 3
    assert not [attrs for _, attrs in tags if {"src", "href", "action"} & set(attrs)]
    assert "innerHTML" not in page and "outerHTML" not in page
    data = re.search(r'<script type="application/json" id="model">(.*?)</script>', page, re.S)[1]
    description = json.loads(data)
    _, chars, _ = checkpoint.load_model(run)
    assert description["vocabulary"] == list(chars) and "<" in chars
    for element in ('id="prompt"', 'id="temperature"', 'id="length"', 'id="seed"',
                    'id="generate"', '<textarea id="output" readonly'):  # fmt: skip
        assert element in page


def test_layout_round_trip_by_hand_for_every_cell():
    from tui_rnn.cells.model import Model, ModelSpec

    rng = np.random.default_rng(0)
    for cell in ("rnn", "lstm", "gru"):
        spec = ModelSpec(cell=cell, vocab_size=7, hidden_size=4, layers=3)
        model = Model.zeros(spec).init(rng)
        model.flat[:] = rng.standard_normal(model.flat.size)
        tensors = pytorch_layout.to_pytorch(model)
        found, names = pytorch_layout.read_layout(
            {n: t.shape for n, t in tensors.items()}, cell, "float64"
        )
        assert found == spec
        back = pytorch_layout.from_pytorch(tensors, spec, names, "float64").model()
        assert back.flat.tobytes() == model.flat.tobytes()
