"""The gradient check: it passes the real backward pass, flags broken ones, and is exact.

Every threshold-based assertion keeps the 10x margin the defaults promise: the real backward
pass must reach at most threshold / 10, a broken one at least 10 x threshold.
"""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
import report_reference as report
from conftest import Terminal

from tui_rnn import cli
from tui_rnn.cells.model import Model, ModelSpec
from tui_rnn.gradcheck import batch, table
from tui_rnn.gradcheck import check as gradcheck_check
from tui_rnn.gradcheck.check import GradcheckOptions, GradcheckReport, run_gradcheck
from tui_rnn.gradcheck.common import DEFAULT_EPS, DEFAULT_SEQ_LENGTHS, default_h, default_threshold
from tui_rnn.gradcheck.vanilla import PARAM_NAMES, numerical_gradients, numerical_gradients_loop
from tui_rnn.training.options import TrainConfig
from tui_rnn.training.trainer import Trainer

METHODS = ("central", "complex")


def init_params(K: int, m: int, sigma: float, rng) -> Model:
    """The report's model, drawn as training draws it (U, W, V)."""
    return Model.zeros(ModelSpec(vocab_size=K, hidden_size=m)).init(rng, sigma)


RECURRENT = ("b", "U", "W")  # what the broken backward passes get wrong
OUTPUT = ("c", "V")  # what they still get right


# -- deliberately broken backward passes (each one a textbook mistake) ---------------------------
def backward_variant(bug: str | None):
    """model.backward rewritten, with one mistake: "tanh", "carry" or "transpose" (None: none)."""

    def analytic(params: Model, inputs, targets, h0) -> report.Params:
        inputs, targets = np.asarray(inputs), np.asarray(targets)
        _, H, P = report.forward(params, inputs, targets, h0)
        grads = report.Params.zeros(params.vocab_size, params.hidden_size)
        T = len(inputs)
        G = P.copy()
        G[np.arange(T), targets] -= 1.0
        grads.V[...] = G.T @ H
        grads.c[...] = G.sum(axis=0)
        dH = G @ params.V
        # "tanh": forget that h_t = tanh(a_t), i.e. drop the factor 1 - h_t^2.
        dtanh = np.ones_like(H) if bug == "tanh" else 1.0 - H * H
        dA = np.empty_like(H)
        da_next = np.zeros(params.hidden_size)
        for t in range(T - 1, -1, -1):
            if bug == "carry":  # forget the dL/dh_t that flows back from step t + 1
                carried = 0.0
            elif bug == "transpose":  # W da instead of W^T da
                carried = params.W @ da_next
            else:
                carried = params.W.T @ da_next
            da_next = dA[t] = (dH[t] + carried) * dtanh[t]
        H_prev = np.vstack([h0[None, :], H[:-1]])
        grads.W[...] = dA.T @ H_prev
        grads.b[...] = dA.sum(axis=0)
        np.add.at(grads.U.T, inputs, dA)
        return grads

    return analytic


def worst(report: GradcheckReport, names=None) -> float:
    return max(r.max_rel_error for r in report.rows if names is None or r.parameter in names)


# -- the real backward pass passes, with margin ---------------------------------------------------
@pytest.mark.parametrize("hidden", [5, 100])
@pytest.mark.parametrize("method", METHODS)
def test_real_backward_pass_passes_with_tenfold_margin(small_corpus, method, hidden):
    report = run_gradcheck(
        small_corpus.data,
        small_corpus.vocab_size,
        GradcheckOptions(hidden_size=hidden, method=method),
    )
    assert report.passed
    assert [(r.parameter, r.seq_length) for r in report.rows] == [
        (name, L) for name in PARAM_NAMES for L in DEFAULT_SEQ_LENGTHS
    ]
    assert worst(report) <= default_threshold(method) / 10
    assert all(r.max_abs_grad > 0 and r.method == method for r in report.rows)
    assert report.hidden == hidden and report.h == default_h(method)


def test_the_rewritten_backward_pass_without_a_bug_agrees_with_the_model(small_corpus):
    """So the broken variants below differ from the truth only by their one mistake."""
    report = run_gradcheck(
        small_corpus.data,
        small_corpus.vocab_size,
        GradcheckOptions(hidden_size=5, method="complex"),
        analytic=backward_variant(None),
    )
    assert report.passed and worst(report) <= default_threshold("complex") / 10


# -- broken backward passes are flagged, with margin ----------------------------------------------
@pytest.mark.parametrize("bug", ["tanh", "carry", "transpose"])
@pytest.mark.parametrize("method", METHODS)
def test_broken_backward_pass_fails_by_tenfold(small_corpus, method, bug):
    # m = 20, sigma = 0.01: at m = 5 the tanh bug shifts gradients by only ~5e-3 relative
    # (h_t ~ 0.01, so 1 - h_t^2 ~ 1), which central differences flag, but without the 10x margin.
    report = run_gradcheck(
        small_corpus.data,
        small_corpus.vocab_size,
        GradcheckOptions(hidden_size=20, method=method),
        analytic=backward_variant(bug),
    )
    assert not report.passed
    assert worst(report, RECURRENT) >= 10 * default_threshold(method)
    # The output layer does not depend on the mistake, and the check says so.
    assert all(r.passed for r in report.rows if r.parameter in OUTPUT)


@pytest.mark.parametrize("method", METHODS)
def test_dropping_tanh_derivative_is_caught_at_the_report_setting(small_corpus, method):
    """At sigma = 0.01, tanh'(a) = 1 - h^2 is within ~1e-4 of 1: the subtlest of the three."""
    report = run_gradcheck(
        small_corpus.data,
        small_corpus.vocab_size,
        GradcheckOptions(hidden_size=100, seq_lengths=(25,), method=method),
        analytic=backward_variant("tanh"),
    )
    assert worst(report, RECURRENT) >= 10 * default_threshold(method)


# -- the batched numerical gradients are the one-entry-at-a-time ones ----------------------------
@pytest.mark.parametrize(
    "method, h",
    [
        ("complex", None),
        # The loop's own (L+ - L-) / 2h carries rounding noise ~ ulp(L) / 2h; at h = 1e-2 that is
        # ~1e-13, so a 1e-12 agreement tests the batching rather than the loop's noise.
        ("central", 1e-2),
    ],
)
def test_batched_numerical_gradients_equal_the_loop(small_corpus, method, h):
    K, m = small_corpus.vocab_size, 6
    params = init_params(K, m, 0.5, np.random.default_rng(3))  # tanh well out of its linear part
    params.b[...] = 0.1 * np.random.default_rng(4).standard_normal(m)
    lengths = (4, 9)
    data = small_corpus.data.astype(np.intp)
    batched = numerical_gradients(params, data[:9], data[1:10], lengths, method, h)
    for n, L in enumerate(lengths):
        loop = Model(
            params.spec, numerical_gradients_loop(params, data[:L], data[1 : L + 1], method, h)
        )
        for name in PARAM_NAMES:
            expected = getattr(loop, name)
            assert np.abs(batched[name][n] - expected).max() <= 1e-12 * max(
                1.0, np.abs(expected).max()
            ), (name, L)
            assert np.abs(expected).max() > 1e-3  # the comparison is not between zeros


def test_complex_tanh_is_numpy_complex_tanh():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-3, 3, 500), rng.uniform(-40, 40, 100), [0.0, 400.0, -400.0]])
    for y in (rng.uniform(-1e-20, 1e-20, x.size), rng.uniform(-1.0, 1.0, x.size)):
        real, imag = batch.complex_tanh(x, y)
        expected = np.tanh(x + 1j * y)
        np.testing.assert_allclose(real, expected.real, rtol=1e-14, atol=1e-300)
        np.testing.assert_allclose(imag, expected.imag, rtol=1e-13, atol=1e-300)


# -- reproducibility, initialisation, progress ---------------------------------------------------
def test_same_seed_gives_bit_identical_reports_whatever_the_thread_count(small_corpus):
    def rows(**kwargs):
        report = run_gradcheck(
            small_corpus.data,
            small_corpus.vocab_size,
            GradcheckOptions(hidden_size=20, seed=7, **kwargs),
        )
        return report.rows

    assert rows(workers=1) == rows(workers=2) == rows(workers=2)
    assert rows(method="complex", workers=1) == rows(method="complex", workers=3)
    other_seed = run_gradcheck(
        small_corpus.data, small_corpus.vocab_size, GradcheckOptions(hidden_size=20, seed=8)
    ).rows
    assert other_seed != rows()


def test_fresh_model_is_the_trainers_initialisation(small_corpus):
    seen = []

    def spy(params, inputs, targets, h0):
        seen.append((params.flat.copy(), inputs.copy(), targets.copy(), h0.copy()))
        return gradcheck_check.analytic_gradients(params, inputs, targets, h0)

    run_gradcheck(
        small_corpus.data,
        small_corpus.vocab_size,
        GradcheckOptions(hidden_size=7, sigma=0.02, seed=5, seq_lengths=(3,)),
        analytic=spy,
    )
    config = TrainConfig(hidden_size=7, sigma=0.02, seed=5)
    trainer = Trainer(small_corpus.data, small_corpus.chars, config)
    ((flat, inputs, targets, h0),) = seen
    assert np.array_equal(flat, trainer.params.flat)
    assert np.array_equal(inputs, small_corpus.data[:3]) and np.array_equal(
        targets, small_corpus.data[1:4]
    )
    assert not h0.any()


def test_rows_are_reported_as_they_complete_and_stop_is_honoured(small_corpus):
    seen = []
    report = run_gradcheck(
        small_corpus.data,
        small_corpus.vocab_size,
        GradcheckOptions(hidden_size=5),
        on_row=seen.append,
    )
    assert seen == report.rows

    polls = []

    def stop_after_first_parameter():
        polls.append(1)
        return bool(seen_partial)

    seen_partial = []
    partial = run_gradcheck(
        small_corpus.data,
        small_corpus.vocab_size,
        GradcheckOptions(hidden_size=5, workers=1),
        on_row=seen_partial.append,
        should_stop=stop_after_first_parameter,
    )
    assert polls
    assert partial.stopped and not partial.passed
    assert partial.rows == report.rows[: len(DEFAULT_SEQ_LENGTHS)]  # b's rows, then it stopped


# -- bad options ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"h": 0.0}, "--h"),
        ({"h": -1e-4}, "--h"),
        ({"eps": 0.0}, "--eps"),
        ({"threshold": float("nan")}, "--threshold"),
        ({"seq_lengths": ()}, "empty"),
        ({"seq_lengths": (5, 40)}, "40"),
        ({"seq_lengths": (0,)}, "at least 1"),
        ({"method": "forward"}, "forward"),
        ({"hidden_size": 0}, "--hidden"),
    ],
)
def test_bad_options_raise_one_line_value_errors(kwargs, words):
    data = np.arange(30) % 4
    with pytest.raises(ValueError) as caught:
        run_gradcheck(data, 4, GradcheckOptions(hidden_size=kwargs.pop("hidden_size", 3), **kwargs))
    message = str(caught.value)
    assert words in message and "\n" not in message


# -- the command line ----------------------------------------------------------------------------
def run_cli(capsys, *argv):
    code = cli.main(["gradcheck", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_the_table_and_a_verdict(capsys, monkeypatch, small_corpus_file):
    terminal = Terminal()  # on a terminal: rich's table (piped: plain, see below)
    monkeypatch.setattr(sys, "stdout", terminal)
    code, _, err = run_cli(capsys, small_corpus_file, "--hidden", 5)
    monkeypatch.undo()
    out = terminal.getvalue()
    assert code == 0, err
    for text in ("report's max", "report's sum", "max rel", "sum rel", "seq 5", "seq 25"):
        assert text in out
    for label in ("report's max", "report's sum", "max rel", "sum rel"):  # a line each
        assert out.count(f"│ {label} ") == len(PARAM_NAMES)
    assert "central differences" in out and "sampled" not in out
    assert "PASS: all 20 rows" in out and "FAIL" not in out


def test_cli_piped_prints_plain_lines_the_title_whole(capsys, small_corpus_file):
    code, out, err = run_cli(capsys, small_corpus_file, "--hidden", 5, "--seq-lengths", "5,10")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Gradient check: central differences, h = 0.0001, eps = ")
    assert lines[0].endswith("rnn, m = 5")  # one line, however long
    assert not set(out) & set("│┃━─┏┗╇\x1b")  # no boxes, no colours
    header = next(line for line in lines if line.startswith("parameter"))
    assert header.split() == ["parameter", "error", "seq", "5", "seq", "10"]
    for label in ("report's max", "report's sum", "max rel", "sum rel"):  # a line each
        rows = [line for line in lines if re.match(rf"\S*\s+{label}\s+\d", line)]
        assert len(rows) == len(PARAM_NAMES)
    assert lines[-1].startswith("PASS: all 10 rows")

    code, out, err = run_cli(
        capsys, small_corpus_file, "--hidden", 4, "--seq-lengths", "3", "--threshold", "1e-30"
    )
    assert code == 1 and "*: over the threshold." in out
    rows = [line for line in out.splitlines() if re.match(r"\S*\s+max rel\s+\d", line)]
    assert rows and all(line.endswith("*") for line in rows)


def test_cli_repeated_seq_lengths_are_checked_once(capsys, small_corpus_file):
    code, out, err = run_cli(
        capsys, small_corpus_file, "--hidden", 4, "--seq-lengths", "5,5,5", "--json"
    )
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert [row["seq_length"] for row in rows] == [5] * len(PARAM_NAMES)


def test_cli_json_schema_and_failing_exit_code(capsys, small_corpus_file):
    code, out, err = run_cli(
        capsys, small_corpus_file, "--hidden", 4, "--seq-lengths", "3,6", "--json"
    )
    assert code == 0, err
    document = json.loads(out)
    assert set(document) == {
        "rows",
        "method",
        "h",
        "eps",
        "threshold",
        "cell",
        "layers",
        "hidden",
        "sampled",
        "checked_entries",
        "total_entries",
        "seconds",
        "passed",
    }
    assert document["method"] == "central" and document["hidden"] == 4
    assert document["cell"] == "rnn" and document["layers"] == 1 and document["sampled"] is False
    assert document["checked_entries"] == document["total_entries"] > 0
    assert document["eps"] == DEFAULT_EPS and document["passed"] is True
    assert len(document["rows"]) == 2 * len(PARAM_NAMES)
    for row in document["rows"]:
        assert set(row) == {
            "parameter",
            "seq_length",
            "max_rel_error",
            "sum_rel_error",
            "report_max_error",
            "report_sum_error",
            "max_abs_error",
            "max_abs_grad",
            "entries",
            "total_entries",
            "passed",
        }
        assert 0 < row["report_max_error"] <= row["report_sum_error"] < row["sum_rel_error"]
        assert row["entries"] == row["total_entries"]
        assert row["seq_length"] in (3, 6) and row["parameter"] in PARAM_NAMES

    # A threshold no central difference can meet: every row fails, exit code 1.
    code, out, err = run_cli(
        capsys, small_corpus_file, "--hidden", 4, "--seq-lengths", "3", "--threshold", "1e-30"
    )
    assert code == 1
    assert "FAIL" in out


def test_cli_complex_method(capsys, small_corpus_file):
    code, out, err = run_cli(
        capsys,
        small_corpus_file,
        "--hidden",
        4,
        "--method",
        "complex",
        "--seq-lengths",
        "5",
        "--json",
    )
    document = json.loads(out)
    assert code == 0 and document["h"] == 1e-20 and document["threshold"] == 1e-8


def test_failing_cells_are_red(small_corpus):
    from rich.console import Console

    def render(threshold):
        report = run_gradcheck(
            small_corpus.data,
            small_corpus.vocab_size,
            GradcheckOptions(hidden_size=3, seq_lengths=(4,), threshold=threshold),
        )
        console = Console(force_terminal=True, color_system="standard", width=120)
        with console.capture() as capture:
            console.print(table.report_table(report))
        return capture.get()

    red = "\x1b[1;31m"
    assert red not in render(None)
    assert render(1e-30).count(red) == len(PARAM_NAMES)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--h", "0"], "--h"),
        (["--h", "-1"], "--h"),
        (["--seq-lengths", ""], "empty"),
        (["--seq-lengths", "5,x"], "--seq-lengths"),
        (["--seq-lengths", "5,100000"], "100000"),
        (["--method", "forward"], "forward"),
        (["--eps", "0"], "--eps"),
    ],
)
def test_cli_bad_options_are_one_line_errors(capsys, small_corpus_file, argv, words):
    code, out, err = run_cli(capsys, small_corpus_file, "--hidden", 3, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("tui-rnn: error:") and err.count("\n") == 1 and words in err


def test_cli_checks_a_saved_run(capsys, tmp_path, small_corpus_file):
    run_dir = tmp_path / "run"
    code = cli.main(
        ["train", str(small_corpus_file), "--hidden", "6", "--iterations", "30"]
        + ["--run-dir", str(run_dir), "--json"]
    )
    assert code == 0
    capsys.readouterr()
    code, out, err = run_cli(capsys, "--run", run_dir, "--seq-lengths", "5,10", "--json")
    assert code == 0, err
    assert json.loads(out)["hidden"] == 6

    code, out, err = run_cli(capsys, "--run", run_dir, "--hidden", 8)
    assert code == 2 and "--hidden" in err and err.count("\n") == 1


# -- every cell: the generic check --------------------------------------------------------------
CELL_MODELS = [("rnn", 2), ("lstm", 1), ("lstm", 2), ("gru", 1), ("gru", 2)]


def tiny_spec(corpus, cell, layers, hidden=6):
    from tui_rnn.cells.model import ModelSpec

    return ModelSpec(cell=cell, vocab_size=corpus.vocab_size, hidden_size=hidden, layers=layers)


@pytest.mark.parametrize("cell, layers", CELL_MODELS)
@pytest.mark.parametrize("method", METHODS)
def test_every_cell_passes_with_tenfold_margin(small_corpus, cell, layers, method):
    spec = tiny_spec(small_corpus, cell, layers)
    report = run_gradcheck(
        small_corpus.data,
        small_corpus.vocab_size,
        GradcheckOptions(spec=spec, seq_lengths=(4, 9), method=method),
    )
    assert report.passed and not report.sampled
    assert report.cell == cell and report.layers == layers
    names = list(spec.param_shapes())  # W_x.0, W_h.0, b.0, ..., V, c: the flat order
    assert [(r.parameter, r.seq_length) for r in report.rows] == [
        (name, L) for name in names for L in (4, 9)
    ]
    assert worst(report, names) <= default_threshold(method) / 10
    assert report.checked_entries == report.total_entries == spec.param_count


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("method, h", [("complex", None), ("central", 1e-2)])
def test_generic_numerical_gradients_equal_the_one_entry_loop(
    small_corpus, cell, layers, method, h
):
    """The batched complex step propagates only imaginary parts (tangents): it must equal a
    genuine complex128 forward pass of a complex Model, one entry at a time, to 1e-12."""
    from tui_rnn.cells.model import Model, ModelSpec
    from tui_rnn.gradcheck import generic as gradcheck_generic

    spec = ModelSpec(cell=cell, vocab_size=6, hidden_size=4, layers=layers)
    model = Model.zeros(spec).init(np.random.default_rng(3), sigma=0.5)
    model.flat += 0.1 * np.random.default_rng(4).standard_normal(model.flat.size)
    data = np.random.default_rng(5).integers(0, 5, 10)  # character 5 is never read
    lengths = (4, 9)
    batched = gradcheck_generic.numerical_gradients(model, data[:9], data[1:10], lengths, method, h)
    for n, L in enumerate(lengths):
        loop = gradcheck_generic.numerical_gradients_loop(
            model, data[:L], data[1 : L + 1], method, h
        )
        loop = Model(spec, loop)
        for name in spec.param_shapes():
            scale = max(1.0, np.abs(loop[name]).max())
            assert np.abs(batched[name][n] - loop[name]).max() <= 1e-12 * scale, (name, L)
        assert np.abs(loop.flat).max() > 1e-3


@pytest.mark.parametrize("method", METHODS)
def test_generic_check_of_the_report_model_equals_its_fast_path(small_corpus, method):
    from tui_rnn.cells.model import Model
    from tui_rnn.gradcheck import generic as gradcheck_generic

    params = init_params(small_corpus.vocab_size, 6, 0.5, np.random.default_rng(3))
    model = Model(tiny_spec(small_corpus, "rnn", 1), params.flat)
    data = small_corpus.data.astype(np.intp)
    fast = numerical_gradients(params, data[:9], data[1:10], (4, 9), method)
    generic = gradcheck_generic.numerical_gradients(model, data[:9], data[1:10], (4, 9), method)
    for name in PARAM_NAMES:
        np.testing.assert_allclose(generic[name], fast[name], rtol=1e-12, atol=1e-15)


# -- every cell: deliberately broken backward passes are caught ---------------------------------
def reference_analytic(bug):
    from reference_backward import reference_gradients

    return lambda model, inputs, targets: reference_gradients(model, inputs, targets, bug)


def _bug_cases():
    from reference_backward import BUGS

    return [(cell, layers, bug) for cell, layers in CELL_MODELS for bug in BUGS[cell]]


@pytest.mark.parametrize("cell, layers", CELL_MODELS)
def test_the_rewritten_backward_passes_agree_with_the_cells(small_corpus, cell, layers):
    """So each broken variant below differs from the truth by its one mistake only."""
    report = run_gradcheck(
        small_corpus.data,
        small_corpus.vocab_size,
        GradcheckOptions(
            spec=tiny_spec(small_corpus, cell, layers), seq_lengths=(4, 9), method="complex"
        ),
        model_analytic=reference_analytic(None),
    )
    assert report.passed and worst(report) <= default_threshold("complex") / 10


@pytest.mark.parametrize("cell, layers, bug", _bug_cases())
@pytest.mark.parametrize("method", METHODS)
def test_broken_backward_passes_of_every_cell_fail_by_tenfold(
    small_corpus, cell, layers, bug, method
):
    report = run_gradcheck(
        small_corpus.data,
        small_corpus.vocab_size,
        GradcheckOptions(
            spec=tiny_spec(small_corpus, cell, layers), seq_lengths=(4, 9), method=method
        ),
        model_analytic=reference_analytic(bug),
    )
    assert not report.passed
    assert worst(report) >= 10 * default_threshold(method)
    # The output layer does not depend on the mistake, and the check says so.
    assert all(r.passed for r in report.rows if r.parameter in ("V", "c"))


# -- the report's criteria (issue 13) ------------------------------------------------------------
def test_the_reports_criteria_by_hand(small_corpus):
    """max|ga - gn| / max(eps, sum(|ga| + |gn|)) and the sum version, over each parameter."""
    K, m = small_corpus.vocab_size, 5
    params = init_params(K, m, 0.01, np.random.Generator(np.random.PCG64(0)))
    data = small_corpus.data.astype(np.intp)
    report = run_gradcheck(small_corpus.data, K, GradcheckOptions(hidden_size=m, seq_lengths=(6,)))
    numerical = numerical_gradients(params, data[:6], data[1:7], (6,))
    exact = gradcheck_check.analytic_gradients(params, data[:6], data[1:7], np.zeros(m))
    for row in report.rows:
        ga, gn = getattr(exact, row.parameter).ravel(), numerical[row.parameter][0].ravel()
        pairs = list(zip(ga.tolist(), gn.tolist(), strict=True))
        total = max(DEFAULT_EPS, sum(abs(a) + abs(n) for a, n in pairs))
        max_by_hand = max(abs(a - n) for a, n in pairs) / total
        sum_by_hand = sum(abs(a - n) for a, n in pairs) / total
        assert row.report_max_error == pytest.approx(max_by_hand, rel=1e-12)
        assert row.report_sum_error == pytest.approx(sum_by_hand, rel=1e-12)
        assert row.report_max_error < row.max_rel_error  # the report's is the laxer one
        assert row.entries == row.total_entries == ga.size


@pytest.mark.parametrize("bug", ["tanh", "carry", "transpose"])
def test_broken_passes_still_fail_through_the_elementwise_check(small_corpus, bug):
    """Pass or fail stays the elementwise max: the report's criteria are shown, not judged."""
    report = run_gradcheck(
        small_corpus.data,
        small_corpus.vocab_size,
        GradcheckOptions(hidden_size=20, seq_lengths=(10,)),
        analytic=backward_variant(bug),
    )
    failed = [row for row in report.rows if not row.passed]
    assert failed and all(row.max_rel_error > report.threshold for row in failed)
    assert all(row.passed == (row.max_rel_error <= report.threshold) for row in report.rows)
    # The report's max moves less than the elementwise max (its denominator is the whole sum).
    assert all(row.report_max_error < row.max_rel_error for row in failed)


def test_markdown_table_has_all_four_lines(small_corpus):
    report = run_gradcheck(
        small_corpus.data, small_corpus.vocab_size, GradcheckOptions(hidden_size=3)
    )
    text = table.markdown_table(report)
    for label in ("report's max", "report's sum", "max rel", "sum rel"):
        assert text.count(f"| {label} |") == len(PARAM_NAMES)


# -- the budget: every entry when it fits, a labelled seeded sample otherwise ---------------------
def test_the_default_table_fits_the_budget_with_room():
    from tui_rnn.gradcheck import batch, vanilla
    from tui_rnn.training.corpus import builtin_corpus

    corpus = builtin_corpus()
    params = init_params(corpus.vocab_size, 100, 0.01, np.random.default_rng(0))
    inputs = corpus.data[:25].astype(np.intp)
    for method in METHODS:
        costs = {name: vanilla.entry_seconds(params, inputs, name, method) for name in PARAM_NAMES}
        selections, estimate = batch.select_entries(costs, full=False)
        assert not any(s.sampled for s in selections.values())
        assert estimate <= batch.TIME_BUDGET / 2


def test_a_check_over_the_budget_is_a_labelled_seeded_sample(small_corpus, monkeypatch, capsys):
    from rich.console import Console

    monkeypatch.setattr(batch, "TIME_BUDGET", 1e-3)
    monkeypatch.setattr(batch, "MIN_SAMPLE", 8)
    spec = tiny_spec(small_corpus, "lstm", 2, hidden=8)

    def check(**kwargs):
        return run_gradcheck(
            small_corpus.data,
            small_corpus.vocab_size,
            GradcheckOptions(spec=spec, seq_lengths=(5,), **kwargs),
        )

    report = check()
    assert report.sampled and report.passed
    assert report.checked_entries < report.total_entries == spec.param_count
    assert all(row.entries <= row.total_entries for row in report.rows)
    assert any(row.sampled for row in report.rows)
    document = report.to_json()
    assert document["sampled"] is True and document["checked_entries"] == report.checked_entries
    note = f"sampled {report.checked_entries:,} of {report.total_entries:,} entries"
    console = Console(width=200)
    with console.capture() as capture:
        console.print(table.report_table(report))
    assert note in " ".join(capture.get().split()) and note in table.verdict(report)
    assert check().rows == report.rows  # the same entries every time
    full = check(full=True)
    assert not full.sampled and full.checked_entries == spec.param_count


def test_long_sequences_shrink_chunks_to_the_memory_budget(small_corpus):
    """gradcheck --seq-lengths 19999 --hidden 4 grew to GBs: its chunks now fit CHUNK_BYTES."""
    from tui_rnn.cells.model import Model
    from tui_rnn.gradcheck import batch, vanilla
    from tui_rnn.gradcheck import generic as gradcheck_generic

    params = init_params(65, 4, 0.01, np.random.default_rng(0))
    for name in PARAM_NAMES:
        size = batch.chunk_size(vanilla.PATH, params, 19_999, name)
        assert size * vanilla.chunk_bytes(params, 19_999, name) <= batch.CHUNK_BYTES
        assert 1 <= size < (512 if name in ("c", "V") else 256)  # the defaults
    model = Model.zeros(tiny_spec(small_corpus, "lstm", 2))
    assert batch.chunk_size(gradcheck_generic.PATH, model, 19_999, "W_h.0") < 256


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_a_check_that_cannot_fit_memory_is_refused_naming_the_sequence_length(cell):
    from tui_rnn.cells.model import ModelSpec

    data = (np.arange(3_000_001) % 65).astype(np.uint8)
    spec = ModelSpec(cell=cell, vocab_size=65, hidden_size=4)
    with pytest.raises(ValueError) as caught:
        run_gradcheck(data, 65, GradcheckOptions(spec=spec, seq_lengths=(3_000_000,)))
    message = str(caught.value)
    assert "sequence length 3000000" in message and "--seq-lengths" in message
    assert "\n" not in message


def test_the_stop_flag_is_seen_inside_a_long_chunk():
    data = (np.arange(3_001) % 7).astype(np.uint8)
    polls = []

    def stop():
        polls.append(1)
        return len(polls) > 3

    report = run_gradcheck(
        data, 7, GradcheckOptions(hidden_size=3, seq_lengths=(3_000,), workers=1), should_stop=stop
    )
    assert report.stopped and not report.passed
    # One chunk per parameter here: more polls than chunks means it looked inside one.
    assert len(polls) > 3


@pytest.mark.slow
def test_seq_length_19999_at_hidden_4_stays_small():
    import tracemalloc

    from tui_rnn.training.corpus import builtin_corpus

    corpus = builtin_corpus()
    tracemalloc.start()
    try:
        report = run_gradcheck(
            corpus.data, corpus.vocab_size, GradcheckOptions(hidden_size=4, seq_lengths=(19_999,))
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.passed and report.sampled
    assert peak < 700 * 2**20


@pytest.mark.slow
def test_ctrl_c_stops_a_long_check_between_and_inside_chunks(tmp_path, small_text):
    import signal
    import subprocess
    import sys
    import time

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(small_text, encoding="utf-8")
    argv = [sys.executable, "-m", "tui_rnn", "gradcheck", str(corpus), "--hidden", "4"]
    check = subprocess.Popen(
        argv + ["--seq-lengths", "19000", "--full"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(4)  # well inside the check (it takes ~25 s)
    check.send_signal(signal.SIGINT)
    out, err = check.communicate(timeout=60)
    assert check.returncode == 130 and err == "tui-rnn: gradcheck interrupted\n" and out == ""


def test_cli_full_and_a_refused_sequence_length(capsys, tmp_path, small_text, monkeypatch):

    code, out, err = run_cli(capsys, "--hidden", 3, "--seq-lengths", "4", "--json", "--full")
    assert code == 0 and json.loads(out)["sampled"] is False

    monkeypatch.setattr(batch, "MEMORY_BUDGET", 2**20)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(small_text, encoding="utf-8")
    code, out, err = run_cli(capsys, corpus, "--hidden", 3, "--seq-lengths", "5000")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "sequence length 5000" in err and "--seq-lengths" in err


def test_generic_reports_are_bit_identical_whatever_the_thread_count(small_corpus):
    spec = tiny_spec(small_corpus, "lstm", 2)

    def rows(**kwargs):
        return run_gradcheck(
            small_corpus.data,
            small_corpus.vocab_size,
            GradcheckOptions(spec=spec, seq_lengths=(4, 9), **kwargs),
        ).rows

    assert rows(workers=1) == rows(workers=2) == rows(workers=3)
    assert rows(method="complex", workers=1) == rows(method="complex", workers=2)


def test_a_given_model_is_checked_in_float64_and_left_untouched(small_corpus):
    from tui_rnn.cells.model import Model, ModelSpec

    spec = ModelSpec(cell="gru", vocab_size=small_corpus.vocab_size, hidden_size=5, dtype="float32")
    model = Model.zeros(spec).init(np.random.default_rng(0))
    before = model.flat.copy()
    report = run_gradcheck(
        small_corpus.data,
        small_corpus.vocab_size,
        GradcheckOptions(seq_lengths=(6,), method="complex"),
        model=model,
    )
    assert report.passed and report.cell == "gru" and report.hidden == 5
    assert model.flat.dtype == np.float32 and np.array_equal(model.flat, before)
    with pytest.raises(ValueError, match="vocabulary"):
        run_gradcheck(small_corpus.data[:50], 3, GradcheckOptions(), model=model)


# -- the command line for every model ------------------------------------------------------------
def test_cli_checks_any_cell_and_names_parameters_by_layer(small_corpus_file, capsys):
    argv = ["gradcheck", str(small_corpus_file), "--cell", "lstm", "--layers", "2"]
    argv += ["--hidden", "3", "--seq-lengths", "3,5", "--method", "complex", "--json"]
    assert cli.main(argv) == 0
    document = json.loads(capsys.readouterr().out)
    names = [row["parameter"] for row in document["rows"]]
    assert names[:2] == ["W_x.0", "W_x.0"] and "W_h.1" in names and names[-1] == "c"
    assert document["cell"] == "lstm" and document["layers"] == 2 and document["passed"]


def test_cli_takes_a_run_directory_as_its_positional_argument(small_corpus_file, tmp_path, capsys):
    run_dir = tmp_path / "run"
    train = ["train", str(small_corpus_file), "--cell", "gru", "--hidden", "4", "--seq-length"]
    assert cli.main([*train, "8", "--iterations", "30", "--run-dir", str(run_dir), "--json"]) == 0
    capsys.readouterr()
    assert cli.main(["gradcheck", str(run_dir), "--seq-lengths", "4", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["cell"] == "gru" and document["passed"]
    assert cli.main(["gradcheck", str(run_dir), "--hidden", "5"]) == 2
    assert "describes a fresh model" in capsys.readouterr().err
