"""The sampling controls: top-k, stop strings, several samples, prompts from files, --output,
--beam, --score; in the engine and through `tui-rnn generate`."""

from __future__ import annotations

import io
import json
import math
import sys

import numpy as np
import pytest
from conftest import fails, make_text

from tui_rnn.cells.model import Model, ModelSpec
from tui_rnn.cli import main
from tui_rnn.store import checkpoint
from tui_rnn.training import beam, generation, sampling
from tui_rnn.training.corpus import CorpusError
from tui_rnn.training.options import OptionError


def make_model(vocab=12, seed=7):
    model = Model.zeros(ModelSpec(cell="gru", vocab_size=vocab, hidden_size=16))
    return model.init(np.random.default_rng(seed), 0.5)


CHARS = tuple("abcdefgh ij\n")


# -- the engine -----------------------------------------------------------------------------------
def test_top_k_keeps_the_k_likeliest_and_breaks_ties_to_the_lowest_index():
    logits = np.array([1.0, 3.0, 2.0, 3.0, -1.0])
    p = sampling.distribution(logits, top_k=2)
    assert np.flatnonzero(p).tolist() == [1, 3]
    np.testing.assert_allclose(p[[1, 3]], [0.5, 0.5])
    tie = sampling.distribution(np.array([2.0, 1.0, 1.0, 1.0]), top_k=2)
    assert np.flatnonzero(tie).tolist() == [0, 1]  # of the three tied, the lowest index
    full = sampling.distribution(logits)
    for k in (0, 5, 9):  # off, or the whole vocabulary
        np.testing.assert_array_equal(sampling.distribution(logits, top_k=k), full)
    both = sampling.distribution(logits, top_p=0.5, top_k=3)  # top-k first, then the nucleus
    assert np.flatnonzero(both).tolist() == [1, 3]


def test_top_k_of_one_is_greedy():
    model = make_model()
    greedy = list(
        sampling.continue_prompt(model, [1, 2], 50, np.random.default_rng(0), greedy=True)
    )
    one = list(sampling.continue_prompt(model, [1, 2], 50, np.random.default_rng(5), top_k=1))
    assert one == greedy


def stop_run(text: str, stops, inclusive=False) -> tuple[str, bool]:
    scanner = sampling.StopScanner(stops, inclusive)
    out = []
    for ch in text:
        out += [c for c, _ in scanner.feed(ch, 0.0)]
        if scanner.stopped:
            return "".join(out), True
    return "".join(out + [c for c, _ in scanner.finish()]), False


def test_stop_strings_end_the_text_at_their_first_occurrence():
    assert stop_run("one\ntwo\n\nthree", ["\n\n"]) == ("one\ntwo", True)
    assert stop_run("one\ntwo\n\nthree", ["\n\n"], inclusive=True) == ("one\ntwo\n\n", True)
    assert stop_run("abcabd", ["abd", "ca"]) == ("ab", True)  # "ca" ends first
    assert stop_run("xabcd", ["bc", "abc"]) == ("x", True)  # both end at c: abc starts first
    assert stop_run("no stop here", ["zz"]) == ("no stop here", False)
    assert stop_run("aab", ["ab"]) == ("a", True)  # a held "a" that did not begin it is kept
    assert stop_run("same the x", [" the"]) == ("same", True)
    assert stop_run("ab", ["abcd"]) == ("ab", False)  # held back, then written at the end
    with pytest.raises(ValueError, match="empty"):
        sampling.StopScanner([""])


def hand_log_probabilities(model, prompt, ids) -> list[float]:
    state, logits = sampling.prime(model, prompt)
    out = []
    for x in ids:
        shifted = logits - logits.max()
        out.append(shifted[x] - math.log(np.exp(shifted).sum()))
        state, logits = sampling.step(model, state, x)
    return out


def test_a_continuation_is_continue_prompts_text_with_its_log_probabilities():
    model = make_model()
    ids = list(sampling.continue_prompt(model, [3, 1], 120, np.random.default_rng(4), 0.9))
    pairs = list(
        sampling.continuation(model, CHARS, [3, 1], 120, np.random.default_rng(4), temperature=0.9)
    )
    assert "".join(c for c, _ in pairs) == "".join(CHARS[i] for i in ids)
    expected = hand_log_probabilities(model, [3, 1], ids)
    np.testing.assert_allclose([lp for _, lp in pairs], expected, rtol=1e-12)


def test_a_continuation_stops_where_the_free_text_first_holds_a_stop_string():
    model = make_model()
    free = "".join(
        c for c, _ in sampling.continuation(model, CHARS, [0], 400, np.random.default_rng(2))
    )
    stop = free[150:152]
    cut = free.index(stop)
    stopped = sampling.continuation(model, CHARS, [0], 400, np.random.default_rng(2), stops=[stop])
    assert "".join(c for c, _ in stopped) == free[:cut]
    kept = sampling.continuation(
        model, CHARS, [0], 400, np.random.default_rng(2), stops=[stop], stop_inclusive=True
    )
    assert "".join(c for c, _ in kept) == free[: cut + len(stop)]


# -- the options ---------------------------------------------------------------------------------
def test_beam_refuses_only_the_sampling_options_given_explicitly():
    generation.resolve({"beam": 4, "length": 30, "best": True, "stop": ["\\n"]})
    with pytest.raises(OptionError) as refused:
        generation.resolve({"beam": 4, "temperature": 1.0, "top_k": 3, "seed": 0})
    message = str(refused.value)
    assert "--temperature" in message and "--top-k" in message and "--seed" in message
    assert "--top-p" not in message


def test_option_values_and_contradictions():
    config = generation.resolve({"stop": ["\\n\\n", "\\t\\u00e9\\\\"], "num_samples": 3, "seed": 5})
    assert config.stop == ("\n\n", "\té\\")
    assert config.seeds == [5, 6, 7] and config.headers
    assert not generation.resolve({}).headers
    assert generation.resolve({"num_samples": 1}).headers  # -n given: each text has a header
    for values, words in [
        ({"stop": [""]}, "--stop"),
        ({"stop": ["a\\q"]}, "escape"),
        ({"beam": 0}, "beam"),
        ({"beam": 65}, "beam"),
        ({"num_samples": 0}, "num-samples"),
        ({"top_k": -1}, "top-k"),
        ({"prompt": "a", "prompt_file": "x"}, "--prompt-file"),
    ]:
        with pytest.raises(OptionError, match=words):
            generation.resolve(values)


def test_a_prompt_file_is_used_as_is_but_for_one_trailing_newline(tmp_path, monkeypatch):
    cases = {
        "a.txt": (b"The king\n", "The king"),
        "b.txt": (b"two\n\n", "two\n"),
        "c.txt": (b"crlf\r\n", "crlf"),
        "d.txt": (b"\xef\xbb\xbfbom", "bom"),
        "e.txt": (b"  spaces  ", "  spaces  "),
    }
    for name, (raw, prompt) in cases.items():
        (tmp_path / name).write_bytes(raw)
        assert generation.read_prompt_file(str(tmp_path / name)) == prompt
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"from stdin\n")))
    assert generation.read_prompt_file("-") == "from stdin"
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "newline.txt").write_bytes(b"\n")
    (tmp_path / "latin.txt").write_bytes("café".encode("latin-1"))
    for name, words in [
        ("empty.txt", "empty"),
        ("newline.txt", "no prompt"),
        ("latin.txt", "UTF-8"),
    ]:
        with pytest.raises(CorpusError, match=words):
            generation.read_prompt_file(str(tmp_path / name))


# -- tui-rnn generate ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("controls")
    corpus = base / "corpus.txt"
    corpus.write_text(make_text(8000, seed=3), encoding="utf-8")
    run_dir = base / "run"
    argv = ["train", corpus, "--iterations", 200, "--hidden", 24, "--run-dir", run_dir, "--json"]
    assert main([str(a) for a in argv]) == 0
    return run_dir


def generate(capsys, *argv) -> tuple[str, str]:
    capsys.readouterr()
    assert main(["generate", *map(str, argv)]) == 0
    out = capsys.readouterr()
    return out.out, out.err


def expected_text(run, prompt, length, seed, **options) -> str:
    """What the engine writes, as generate always wrote it: prompt, continuation, newline."""
    model, chars, _ = checkpoint.load_model(run)
    ids = sampling.continue_prompt(
        model, sampling.start_ids(prompt, chars), length, np.random.default_rng(seed), **options
    )
    return prompt + "".join(chars[i] for i in ids) + "\n"


def test_the_old_options_write_what_they_always_wrote(run, capsys):
    out, err = generate(capsys, run, "--prompt", "The ", "--length", 150, "--seed", 9)
    rng = np.random.Generator(np.random.PCG64(9))
    model, chars, _ = checkpoint.load_model(run)
    ids = sampling.continue_prompt(model, sampling.start_ids("The ", chars), 150, rng)
    assert out == "The " + "".join(chars[i] for i in ids) + "\n" and err == ""


def test_n_samples_each_under_its_header_with_seed_plus_i(run, capsys):
    out, _ = generate(capsys, run, "-n", 3, "--seed", 4, "--length", 40, "--prompt", "a")
    singles = [
        generate(capsys, run, "--seed", s, "--length", 40, "--prompt", "a")[0] for s in (4, 5, 6)
    ]
    expected = "".join(
        f"## sample {i + 1} of 3 · seed {4 + i}\n{text}" for i, text in enumerate(singles)
    )
    assert out == expected
    assert len(set(singles)) == 3


def test_stop_ends_the_text_at_the_first_occurrence(run, capsys):
    free, _ = generate(capsys, run, "--length", 400, "--seed", 2)
    body = free[:-1]
    stop = " the"
    assert stop in body[1:]
    out, _ = generate(capsys, run, "--length", 400, "--seed", 2, "--stop", stop)
    assert out == body[: body.index(stop)] + "\n"
    out, _ = generate(capsys, run, "--length", 400, "--seed", 2, "--stop", stop, "--stop-inclusive")
    assert out == body[: body.index(stop) + len(stop)] + "\n"
    newline, _ = generate(
        capsys, run, "--length", 400, "--seed", 2, "--stop", "\\n", "--prompt", "A"
    )
    assert newline.count("\n") == 1


def test_a_prompt_from_stdin_equals_the_same_prompt_given(run, capsys, monkeypatch):
    given, _ = generate(capsys, run, "--prompt", "Then the", "--length", 60)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"Then the\n")))
    read, _ = generate(capsys, run, "--prompt-file", "-", "--length", 60)
    assert read == given


def test_output_jsonl_holds_each_sample_with_its_seed_settings_and_log_probability(
    run, capsys, tmp_path
):
    path = tmp_path / "samples.jsonl"
    out, _ = generate(
        capsys, run, "-n", 2, "--seed", 7, "--length", 50, "--top-k", 5, "--output", path
    )
    assert out == ""
    records = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    model, chars, _ = checkpoint.load_model(run)
    for i, record in enumerate(records):
        assert record["seed"] == 7 + i and record["sample"] == i + 1
        rng = np.random.Generator(np.random.PCG64(7 + i))
        ids = list(sampling.continue_prompt(model, sampling.start_ids("", chars), 50, rng, top_k=5))
        assert record["text"] == "".join(chars[j] for j in ids)
        start = sampling.start_ids("", chars)
        total = sum(hand_log_probabilities(model, start, ids))
        assert record["log_probability"] == pytest.approx(total, rel=1e-10)
        assert record["settings"]["top_k"] == 5 and record["settings"]["length"] == 50
        assert record["settings"]["run"] == str(run)
    assert len(records) == 2


def test_output_with_another_extension_is_what_stdout_shows(run, capsys, tmp_path):
    shown, _ = generate(capsys, run, "-n", 2, "--length", 30, "--prompt", "Th")
    path = tmp_path / "samples.txt"
    generate(capsys, run, "-n", 2, "--length", 30, "--prompt", "Th", "--output", path)
    assert path.read_text("utf-8") == shown


def test_beam_writes_the_search_result(run, capsys):
    out, _ = generate(capsys, run, "--beam", 6, "--length", 40, "--prompt", "The")
    model, chars, _ = checkpoint.load_model(run)
    found = beam.search(model, chars, sampling.start_ids("The", chars), 40, 6)
    assert out == "The" + "".join(chars[i] for i in found.ids) + "\n"


def test_score_prints_the_log_probability_of_prompt_and_text_on_stderr(run, capsys, tmp_path):
    out, err = generate(capsys, run, "--score", "--prompt", "The man", "--length", 30, "--seed", 1)
    model, chars, _ = checkpoint.load_model(run)
    prompt_ids = sampling.start_ids("The man", chars)
    prompt_lp, predicted = sampling.score_ids(model, prompt_ids)
    lines = err.splitlines()
    assert len(lines) == 2 and predicted == 6
    assert f"{predicted} predicted" in lines[0] and f"{prompt_lp:.4f} nats" in lines[0]
    bits = -prompt_lp / predicted / math.log(2)
    assert f"{bits:.4f} bits/char" in lines[0]
    ids = [chars.index(c) for c in out[len("The man") : -1]]
    text_lp = sum(hand_log_probabilities(model, prompt_ids, ids))
    assert "30 characters" in lines[1] and f"{text_lp:.4f} nats" in lines[1]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["-n", "0"], ["--num-samples"]),
        (["--beam", "0"], ["--beam"]),
        (["--beam", "65"], ["beam", "1-64"]),
        (["--beam", "3", "--temperature", "0.5", "--seed", "1"], ["--temperature", "--seed"]),
        (["--stop", ""], ["--stop"]),
        (["--prompt-file", "{tmp}/empty.txt"], ["empty"]),
        (["--prompt-file", "{tmp}/strange.txt"], ["vocabulary"]),
        (["--prompt-file", "{tmp}"], ["directory"]),
        (["--prompt-file", "{tmp}/missing.txt"], ["does not exist"]),
        (["--prompt", "x", "--prompt-file", "{tmp}/strange.txt"], ["--prompt-file"]),
        (["--output", "{tmp}/no/such/dir/out.jsonl"], ["--output"]),
        (["--output", "{run}/checkpoint.npz"], ["checkpoint.npz"]),
    ],
)
def test_bad_generate_input_is_one_line_and_writes_nothing(run, tmp_path, capsys, argv, words):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "strange.txt").write_text("☃☃☃", encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = [a.format(tmp=tmp_path, run=run) for a in argv]
    line = fails(["generate", str(run), "--output", str(tmp_path / "out.jsonl"), *argv], capsys)
    for word in words:
        assert word in line
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_checkpoint_picks_the_model_for_generate_and_inspect(tmp_path, small_corpus_file, capsys):
    """--checkpoint best is --best; latest is the default; --best with latest is refused."""
    from tui_rnn.cli import main

    run = tmp_path / "run"
    argv = ["train", str(small_corpus_file), "--hidden", "8", "--seq-length", "10"]
    assert main([*argv, "--val-fraction", "0.2", "--iterations", "40", "--run-dir", str(run)]) == 0

    def out(*args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    generate = ["generate", run, "--length", "40", "--seed", "3"]
    assert out(*generate, "--checkpoint", "best")[1] == out(*generate, "--best")[1]
    assert out(*generate, "--checkpoint", "latest")[1] == out(*generate)[1]
    code, _, err = out(*generate, "--best", "--checkpoint", "latest")
    assert code == 2 and len(err.strip().splitlines()) == 1
    inspect = ["inspect", run, "--prompt", "the", "--format", "json"]
    assert out(*inspect, "--checkpoint", "best")[1] == out(*inspect, "--best")[1]
