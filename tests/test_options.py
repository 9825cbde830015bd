"""Every training option defined once: parsing, ranges, defaults, presets, and resume rules."""

from __future__ import annotations

import argparse
import json
import math

import pytest

from tui_rnn.cli import main
from tui_rnn.training.options import (
    BY_NAME,
    CONFIG_OPTIONS,
    PRESETS,
    RUN_OPTIONS,
    OptionError,
    TrainConfig,
    add_arguments,
    given,
    resolve,
)


def test_the_plain_defaults_are_the_reports_run():
    config = TrainConfig()
    assert (config.cell, config.layers, config.hidden_size, config.seq_length) == (
        "rnn",
        1,
        100,
        25,
    )
    assert (config.batch_size, config.optimizer, config.eta, config.sigma) == (
        1,
        "adagrad",
        0.1,
        0.01,
    )
    assert (config.clip, config.dtype, config.val_fraction, config.dropout) == (
        5.0,
        "float64",
        0,
        0,
    )
    assert resolve({}) == config


def test_derived_defaults_follow_the_options_they_depend_on():
    assert resolve({"optimizer": "adam"}).eta == 2e-3
    assert resolve({"optimizer": "rmsprop"}).eta == 2e-3
    assert resolve({"optimizer": "adam", "eta": 0.01}).eta == 0.01
    assert resolve({"cell": "lstm"}).sigma is None  # the cell's scaled initialisation
    assert resolve({"layers": 2}).sigma is None
    assert resolve({"cell": "lstm", "sigma": 0.05}).sigma == 0.05


def test_a_preset_gives_defaults_that_explicit_options_override():
    quality = resolve({}, "quality")
    for name, value in PRESETS["quality"].items():
        assert getattr(quality, name) == value
    assert quality.preset == "quality" and quality.val_fraction > 0
    mine = resolve({"hidden_size": 64, "cell": "lstm"}, "quality")
    assert mine.hidden_size == 64 and mine.cell == "lstm"
    assert mine.batch_size == PRESETS["quality"]["batch_size"] != TrainConfig().batch_size
    with pytest.raises(OptionError, match="--preset"):
        resolve({}, "fast")


def test_a_presets_learning_rate_goes_with_its_optimizer():
    assert resolve({"optimizer": "adagrad"}, "quality").eta == 0.1  # AdaGrad's own default
    assert resolve({"optimizer": "adagrad", "eta": 0.05}, "quality").eta == 0.05
    assert resolve({"optimizer": "adam"}, "quality").eta == PRESETS["quality"]["eta"]


@pytest.mark.parametrize(
    "options, words",
    [
        ({"eval_every": 5}, "--eval-every needs a validation loss"),
        ({"decay_after": 2.0}, "--decay-after needs a decay"),
    ],
)
def test_an_option_that_would_change_nothing_is_refused(options, words):
    with pytest.raises(OptionError, match=words):
        resolve(options)
    assert resolve({**options, "val_fraction": 0.1, "lr_decay": 0.9})  # with what it needs


@pytest.mark.parametrize(
    "flag, text, words",
    [
        ("--hidden", "0", "--hidden must be >= 1, got 0"),
        ("--hidden", "1.5", "--hidden must be a whole number"),
        ("--dropout", "1", "--dropout must be < 1"),
        ("--eta", "0", "--eta must be > 0"),
        ("--eta", "nan", "--eta must be a finite number"),
        ("--layers", "17", "--layers must be <= 16"),
        ("--val-fraction", "0.9", "--val-fraction must be <= 0.5"),
        ("--cell", "transformer", "--cell must be one of rnn, lstm, gru"),
        ("--sample-length", "100001", "--sample-length must be <= 100,000"),
        ("--iterations", "-5", "--iterations must be >= 0, got -5"),
        ("--epochs", "inf", "--epochs must be a finite number"),
        ("--save-every", "0", "--save-every must be > 0, got 0"),
    ],
)
def test_every_way_in_refuses_a_bad_value_with_the_same_line(flag, text, words, tmp_path, capsys):
    option = next(o for o in CONFIG_OPTIONS + RUN_OPTIONS if o.flag == flag)
    with pytest.raises(OptionError) as form:  # the app's forms
        option.parse(text)
    assert words in str(form.value)
    assert main(["train", flag, text, "--run-dir", str(tmp_path / "r")]) == 2  # the CLI
    line = capsys.readouterr().err
    assert words in line and line.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_a_hand_edited_config_is_named_by_field():
    config = TrainConfig(hidden_size=100.0)
    with pytest.raises(OptionError, match="^hidden_size must be a whole number"):
        config.validate(names="fields")
    with pytest.raises(OptionError, match="^--hidden must be a whole number"):
        config.validate()


def test_argparse_defaults_are_none_so_given_is_told_from_defaulted():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert given(parser.parse_args([])) == {}
    assert given(parser.parse_args(["--hidden", "100", "--cell", "gru"])) == {
        "hidden_size": 100,
        "cell": "gru",
    }
    assert BY_NAME["sigma"].parse("auto") is None


def test_resume_compares_only_the_options_given_even_at_their_default(
    small_corpus_file, tmp_path, capsys
):
    run = str(tmp_path / "run")
    argv = ["train", str(small_corpus_file), "--hidden", "8", "--seq-length", "10"]
    assert main([*argv, "--iterations", "20", "--run-dir", run, "--json"]) == 0
    # --hidden 100 is the default value, but given: it conflicts with the run's 8.
    assert main(["train", "--resume", run, "--hidden", "100"]) == 2
    assert "--hidden 100 conflicts with the run's hidden_size = 8" in capsys.readouterr().err
    assert main(["train", "--resume", run, "--hidden", "8", "--iterations", "30", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["iterations"] == 30
    # --eta may change: recorded in config.json.
    assert main(["train", "--resume", run, "--eta", "0.05", "--iterations", "40", "--json"]) == 0
    document = json.loads((tmp_path / "run" / "config.json").read_text())
    assert document["eta_changes"] == [{"iteration": 30, "eta": 0.05}]
    assert document["config"]["eta"] == 0.05 and math.isclose(document["config"]["clip"], 5)
    assert main(["train", "--resume", run, "--preset", "quality"]) == 2
    assert "--preset quality conflicts" in capsys.readouterr().err


def test_the_docs_document_every_option():
    from pathlib import Path

    page = (Path(__file__).parent.parent / "docs" / "options.md").read_text(encoding="utf-8")
    table = page[page.index("| option |") :]
    for option in CONFIG_OPTIONS:
        assert f"`{option.flag}" in table, option.flag


def test_sigma_auto_on_resume_is_compared_with_the_runs_sigma(tmp_path, capsys):
    from conftest import make_text

    corpus = tmp_path / "text.txt"
    corpus.write_text(make_text(600, seed=2), encoding="utf-8")
    base = ["train", str(corpus), "--hidden", "8", "--iterations", "5", "--json"]
    assert main([*base, "--sigma", "0.05", "--run-dir", str(tmp_path / "a")]) == 0
    assert main([*base, "--run-dir", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    resume = ["train", "--iterations", "6", "--json", "--sigma", "auto", "--resume"]
    assert main([*resume, str(tmp_path / "a")]) == 2
    assert "--sigma auto conflicts with the run's sigma = 0.05" in capsys.readouterr().err
    assert main([*resume, str(tmp_path / "b")]) == 0  # its sigma is the default: no conflict
