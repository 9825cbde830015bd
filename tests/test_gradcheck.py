"""The gradient check: it passes the real backward pass, flags broken ones, and is exact.

Every threshold-based assertion keeps the 10x margin the defaults promise: the real backward
pass must reach at most threshold / 10, a broken one at least 10 x threshold.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tui_rnn import cli, gradcheck
from tui_rnn.gradcheck import (
    DEFAULT_EPS,
    DEFAULT_SEQ_LENGTHS,
    GradcheckReport,
    default_h,
    default_threshold,
    numerical_gradients,
    numerical_gradients_loop,
    run_gradcheck,
)
from tui_rnn.model import PARAM_NAMES, Params, forward, init_params
from tui_rnn.train import TrainConfig, Trainer

METHODS = ("central", "complex")
RECURRENT = ("b", "U", "W")  # what the broken backward passes get wrong
OUTPUT = ("c", "V")  # what they still get right


# -- deliberately broken backward passes (each one a textbook mistake) ---------------------------
def backward_variant(bug: str | None):
    """model.backward rewritten, with one mistake: "tanh", "carry" or "transpose" (None: none)."""

    def analytic(params: Params, inputs, targets, h0) -> Params:
        inputs, targets = np.asarray(inputs), np.asarray(targets)
        _, H, P = forward(params, inputs, targets, h0)
        grads = Params.zeros(params.vocab_size, params.hidden_size)
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


def worst(report: GradcheckReport, names=PARAM_NAMES) -> float:
    return max(row.max_rel_error for row in report.rows if row.parameter in names)


# -- the real backward pass passes, with margin ---------------------------------------------------
@pytest.mark.parametrize("hidden", [5, 100])
@pytest.mark.parametrize("method", METHODS)
def test_real_backward_pass_passes_with_tenfold_margin(small_corpus, method, hidden):
    report = run_gradcheck(
        small_corpus.data, small_corpus.vocab_size, hidden_size=hidden, method=method
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
        hidden_size=5,
        method="complex",
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
        hidden_size=20,
        method=method,
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
        hidden_size=100,
        seq_lengths=(25,),
        method=method,
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
        loop = Params.from_flat(
            numerical_gradients_loop(params, data[:L], data[1 : L + 1], method, h), K, m
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
        real, imag = gradcheck.complex_tanh(x, y)
        expected = np.tanh(x + 1j * y)
        np.testing.assert_allclose(real, expected.real, rtol=1e-14, atol=1e-300)
        np.testing.assert_allclose(imag, expected.imag, rtol=1e-13, atol=1e-300)


# -- reproducibility, initialisation, progress ---------------------------------------------------
def test_same_seed_gives_bit_identical_reports_whatever_the_thread_count(small_corpus):
    def rows(**kwargs):
        report = run_gradcheck(
            small_corpus.data, small_corpus.vocab_size, hidden_size=20, seed=7, **kwargs
        )
        return report.rows

    assert rows(workers=1) == rows(workers=2) == rows(workers=2)
    assert rows(method="complex", workers=1) == rows(method="complex", workers=3)
    other_seed = run_gradcheck(
        small_corpus.data, small_corpus.vocab_size, hidden_size=20, seed=8
    ).rows
    assert other_seed != rows()


def test_fresh_model_is_the_trainers_initialisation(small_corpus):
    seen = []

    def spy(params, inputs, targets, h0):
        seen.append((params.flat.copy(), inputs.copy(), targets.copy(), h0.copy()))
        return gradcheck.analytic_gradients(params, inputs, targets, h0)

    run_gradcheck(
        small_corpus.data,
        small_corpus.vocab_size,
        hidden_size=7,
        sigma=0.02,
        seed=5,
        seq_lengths=(3,),
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
        small_corpus.data, small_corpus.vocab_size, hidden_size=5, on_row=seen.append
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
        hidden_size=5,
        on_row=seen_partial.append,
        should_stop=stop_after_first_parameter,
        workers=1,
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
        run_gradcheck(data, 4, hidden_size=kwargs.pop("hidden_size", 3), **kwargs)
    message = str(caught.value)
    assert words in message and "\n" not in message


# -- the command line ----------------------------------------------------------------------------
def run_cli(capsys, *argv):
    code = cli.main(["gradcheck", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_the_table_and_a_verdict(capsys, small_corpus_file):
    code, out, err = run_cli(capsys, small_corpus_file, "--hidden", 5)
    assert code == 0, err
    for text in ("max error", "sum error", "seq 5", "seq 25", "central differences", "PASS"):
        assert text in out
    assert out.count("max error") == len(PARAM_NAMES)
    assert "PASS: all 20 rows" in out and "FAIL" not in out


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
        "hidden",
        "seconds",
        "passed",
    }
    assert document["method"] == "central" and document["hidden"] == 4
    assert document["eps"] == DEFAULT_EPS and document["passed"] is True
    assert len(document["rows"]) == 2 * len(PARAM_NAMES)
    for row in document["rows"]:
        assert set(row) == {
            "parameter",
            "seq_length",
            "max_rel_error",
            "sum_rel_error",
            "max_abs_error",
            "max_abs_grad",
            "passed",
        }
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
            hidden_size=3,
            seq_lengths=(4,),
            threshold=threshold,
        )
        console = Console(force_terminal=True, color_system="standard", width=120)
        with console.capture() as capture:
            console.print(gradcheck.report_table(report))
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
