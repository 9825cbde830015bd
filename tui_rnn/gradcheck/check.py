"""Gradient check: analytic gradients against numerical ones, for every parameter entry.

On the first T characters of a corpus (inputs data[0:T], targets data[1:T+1]), from a zero
state, in float64, for every entry theta_e of every parameter and each sequence length T:

    central:  gn_e = (L(theta + h e_e) - L(theta - h e_e)) / 2h          (h = 1e-4)
    complex:  gn_e = Im L(theta + i h e_e) / h                          (h = 1e-20)

compared with the backward pass's ga_e. Per parameter and length a row reports:
- the elementwise relative error r_e = |ga_e - gn_e| / max(eps, |ga_e| + |gn_e|), its max
  (which decides pass or fail against the threshold) and its sum (CS231n's criterion);
- the report's own criteria, max_e |ga_e - gn_e| / max(eps, S) and sum_e |ga_e - gn_e| /
  max(eps, S), with S = sum_e (|ga_e| + |gn_e|) over the whole parameter: a large sum in the
  denominator, so they are 3 to 6 orders of magnitude smaller (and an error in a small entry
  hides behind the large ones).

Where the work is done: gradcheck_vanilla (the report's model, one vanilla layer: its own fast
path, whose numbers the golden tests pin to the last bit), gradcheck_generic (any cell and
number of layers), gradcheck_batch (what both share: chunks on a thread pool, the memory and
time budget, sampled entries), gradcheck_table (the table and the verdict).

Budget: a check runs every entry when its estimated time fits batch.TIME_BUDGET (the
report's default table does, with room); otherwise it checks a seeded sample of each parameter's
entries and says so ("sampled N of M entries"); `full=True` (--full) checks every entry anyway.
Memory is bounded before anything big is allocated: chunks shrink to fit, and a check that
cannot fit even one perturbed copy is refused with the cause (ValueError).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from tui_rnn.cells.model import Model, ModelSpec
from tui_rnn.gradcheck import batch, generic, vanilla
from tui_rnn.gradcheck.batch import TooLarge
from tui_rnn.gradcheck.common import (
    DEFAULT_EPS,
    DEFAULT_SEQ_LENGTHS,
    AnalyticFn,
    ModelAnalyticFn,
    _check_method,
    default_h,
    default_threshold,
)


# -- the report ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class GradcheckRow:
    parameter: str  # "b", "c", "U", "W", "V" (the report's model) or "W_x.0", "W_h.1", ...
    seq_length: int
    max_rel_error: float  # max_e |ga - gn| / max(eps, |ga| + |gn|): decides `passed`
    sum_rel_error: float
    max_abs_error: float  # max |ga - gn|
    max_abs_grad: float  # max |ga|
    passed: bool  # max_rel_error <= threshold
    method: str  # "central" | "complex"
    report_max_error: float = math.nan  # the report's: max |ga - gn| / max(eps, sum(|ga|+|gn|))
    report_sum_error: float = math.nan  # the report's: sum |ga - gn| / max(eps, sum(|ga|+|gn|))
    entries: int = 0  # entries compared (all of them unless the check was sampled)
    total_entries: int = 0  # entries in the parameter

    @property
    def sampled(self) -> bool:
        return self.entries < self.total_entries

    def to_json(self) -> dict:
        return {
            "parameter": self.parameter,
            "seq_length": self.seq_length,
            "max_rel_error": _json_number(self.max_rel_error),
            "sum_rel_error": _json_number(self.sum_rel_error),
            "report_max_error": _json_number(self.report_max_error),
            "report_sum_error": _json_number(self.report_sum_error),
            "max_abs_error": _json_number(self.max_abs_error),
            "max_abs_grad": _json_number(self.max_abs_grad),
            "entries": self.entries,
            "total_entries": self.total_entries,
            "passed": self.passed,
        }


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None  # JSON has no NaN


@dataclass
class GradcheckReport:
    rows: list[GradcheckRow]
    method: str
    h: float
    eps: float
    threshold: float
    hidden: int
    seconds: float
    stopped: bool = False  # should_stop() ended the run early; rows holds what was finished
    cell: str = "rnn"
    layers: int = 1
    checked_entries: int = 0  # entries whose numerical gradient was compared
    total_entries: int = 0  # entries of the model
    estimated_seconds: float = math.nan  # the budget's estimate of the selected work

    @property
    def sampled(self) -> bool:
        return self.checked_entries < self.total_entries

    @property
    def passed(self) -> bool:
        return not self.stopped and bool(self.rows) and all(row.passed for row in self.rows)

    def to_json(self) -> dict:
        return {
            "rows": [row.to_json() for row in self.rows],
            "method": self.method,
            "h": self.h,
            "eps": self.eps,
            "threshold": self.threshold,
            "cell": self.cell,
            "layers": self.layers,
            "hidden": self.hidden,
            "sampled": self.sampled,
            "checked_entries": self.checked_entries,
            "total_entries": self.total_entries,
            "seconds": self.seconds,
            "passed": self.passed,
        }


def compare(
    ga: np.ndarray, gn: np.ndarray, eps: float, threshold: float
) -> tuple[float, float, float, float, bool]:
    """(max r, sum r, max |ga - gn|, max |ga|, passed) with r = |ga - gn| / max(eps, |ga|+|gn|)."""
    diff = np.abs(ga - gn)
    rel = diff / np.maximum(eps, np.abs(ga) + np.abs(gn))
    max_rel = float(rel.max())
    max_abs_error, max_abs_grad = float(diff.max()), float(np.abs(ga).max())
    return max_rel, float(rel.sum()), max_abs_error, max_abs_grad, max_rel <= threshold


def report_criteria(ga: np.ndarray, gn: np.ndarray, eps: float) -> tuple[float, float]:
    """The report's (max, sum): max|ga - gn| and sum|ga - gn| over max(eps, sum(|ga| + |gn|))."""
    diff = np.abs(ga - gn)
    scale = max(eps, float((np.abs(ga) + np.abs(gn)).sum()))
    return float(diff.max()) / scale, float(diff.sum()) / scale


# -- the whole check ----------------------------------------------------------------------------
def analytic_gradients(model: Model, inputs, targets, h0=None) -> Model:
    """The model's own backward pass (the gradient of the unclipped loss, from a zero state)."""
    return generic.analytic_gradients(model, inputs, targets)


def run_gradcheck(
    data: np.ndarray,
    vocab_size: int,
    *,
    hidden_size: int = 100,
    sigma: float | None = None,
    seed: int = 0,
    model: Model | None = None,
    spec: ModelSpec | None = None,
    seq_lengths: Sequence[int] = DEFAULT_SEQ_LENGTHS,
    method: str = "central",
    h: float | None = None,
    eps: float = DEFAULT_EPS,
    threshold: float | None = None,
    full: bool = False,
    on_row: Callable[[GradcheckRow], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    analytic: AnalyticFn | None = None,
    model_analytic: ModelAnalyticFn | None = None,
    workers: int | None = None,
) -> GradcheckReport:
    """The report's Table 1 for a model: every entry of every parameter at each length.

    The model is `model` (a cells.Model, e.g. from a run), or a fresh one initialised exactly
    as training does with the same seed and sigma (None: the cell's default): `spec` (any cell
    and layers), else the report's model with `hidden_size`. Rows come in the parameters' flat
    order (b, c, U, W, V for the report's model), lengths ascending; on_row(row) is called from
    this thread as each row completes. `full` checks every entry whatever the budget.
    `analytic` (the report's model: (model, inputs, targets, h0) -> gradients) or
    `model_analytic` (any Model -> gradient Model or flat array) replaces the backward pass
    under test (tests inject broken ones). Raises ValueError with a one-line message for bad
    options, and for a check too large for memory (naming the cause).
    """
    started = time.perf_counter()
    _check_method(method)
    h = default_h(method) if h is None else float(h)
    threshold = default_threshold(method) if threshold is None else float(threshold)
    eps = float(eps)
    lengths = _check_options(data, vocab_size, hidden_size, sigma, seq_lengths, h, eps, threshold)
    model = _the_model(vocab_size, hidden_size, sigma, seed, model, spec)
    data = np.asarray(data)
    if data.size and int(data.max()) >= vocab_size:
        raise ValueError(f"the data holds ids >= the vocabulary size {vocab_size}")
    T = max(lengths)
    inputs = data[:T].astype(np.intp)
    targets = data[1 : T + 1].astype(np.intp)
    report_rnn = model.spec.is_report_rnn
    path = vanilla if report_rnn else generic
    subject = model  # the report's model reads as its equations: model.W, model.U ...
    names = list(model.params)

    if analytic is not None and not report_rnn:
        raise ValueError("analytic= is for the report's model: give model_analytic= instead")
    _check_memory(model, T)
    for name in names:  # one perturbed copy must fit: refuse before anything big is allocated
        batch.chunk_size(path.PATH, subject, T, name)
    costs = {name: path.entry_seconds(subject, inputs, name, method) for name in names}
    selections, estimate = batch.select_entries(costs, full)
    exact, h0 = {}, np.zeros(model.spec.hidden_size)
    for L in lengths:
        if analytic is not None:
            grads = analytic(model, inputs[:L], targets[:L], h0)
            exact[L] = Model(model.spec, grads.flat)
        elif model_analytic is not None:
            grads = model_analytic(model, inputs[:L], targets[:L])
            exact[L] = grads if isinstance(grads, Model) else Model(model.spec, grads)
        else:
            exact[L] = generic.analytic_gradients(model, inputs[:L], targets[:L])

    rows: list[GradcheckRow] = []

    def on_parameter(name: str, numerical: np.ndarray) -> None:
        checked = selections[name].entries
        for n, L in enumerate(lengths):
            ga = exact[L][name].reshape(-1)[checked]
            gn = numerical[n].reshape(-1)[checked]
            stats = compare(ga, gn, eps, threshold)
            report_max, report_sum = report_criteria(ga, gn, eps)
            row = GradcheckRow(
                name, L, *stats, method=method, report_max_error=report_max,
                report_sum_error=report_sum, entries=len(checked),
                total_entries=selections[name].total,
            )  # fmt: skip
            rows.append(row)
            if on_row is not None:
                on_row(row)

    done = path.numerical_gradients(
        subject,
        inputs,
        targets,
        lengths,
        method,
        h,
        names=names,
        should_stop=should_stop,
        on_parameter=on_parameter,
        workers=workers,
        selections=selections,
    )
    return GradcheckReport(
        rows=rows,
        method=method,
        h=h,
        eps=eps,
        threshold=threshold,
        hidden=model.spec.hidden_size,
        seconds=time.perf_counter() - started,
        stopped=len(done) < len(names),
        cell=model.spec.cell,
        layers=model.spec.layers,
        checked_entries=sum(len(s.entries) for s in selections.values()),
        total_entries=model.spec.param_count,
        estimated_seconds=estimate,
    )


def _the_model(vocab_size, hidden_size, sigma, seed, model, spec) -> Model:
    """The model to check, as a float64 copy (the caller's parameters are never touched)."""
    if model is not None:
        if model.spec.vocab_size != vocab_size:
            raise ValueError(
                f"the model has a vocabulary of {model.spec.vocab_size} characters but the "
                f"corpus has {vocab_size}: check it with the run's own corpus"
            )
        return generic.float64_model(model)
    spec = spec or ModelSpec(vocab_size=vocab_size, hidden_size=hidden_size)
    if spec.vocab_size != vocab_size:
        raise ValueError(f"the spec's vocabulary ({spec.vocab_size}) is not the corpus's")
    spec = replace(spec, dtype="float64")
    return Model.zeros(spec).init(np.random.Generator(np.random.PCG64(seed)), sigma)


def _check_memory(model: Model, T: int) -> None:
    """Refuse, naming the cause, a check whose unperturbed trajectory and backward passes
    alone would not fit the memory budget (then chunk sizes bound the rest)."""
    spec = model.spec
    per_step = 8 * (6 * spec.vocab_size + 12 * spec.layers * spec.module.GATES * spec.hidden_size)
    need = T * per_step
    if need > batch.MEMORY_BUDGET / 2:
        raise TooLarge(
            f"sequence length {T} needs {batch.mib(need)} for the model's own "
            f"forward and backward passes (a vocabulary of {spec.vocab_size}), more than the "
            f"check's {batch.mib(batch.MEMORY_BUDGET / 2)}: use shorter "
            "--seq-lengths"
        )


def parse_seq_lengths(text: str) -> tuple[int, ...]:
    """'5,10,15,25' -> (5, 10, 15, 25); ValueError with a one-line message otherwise."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise ValueError("--seq-lengths is empty: give lengths like 5,10,15,25")
    try:
        return tuple(int(part) for part in parts)
    except ValueError:
        raise ValueError(
            f"--seq-lengths must be comma-separated whole numbers like 5,10,15,25, got {text!r}"
        ) from None


def _check_options(data, vocab_size, hidden_size, sigma, seq_lengths, h, eps, threshold):
    """The sorted distinct lengths, or ValueError naming the first bad option."""
    for name, value in (("--h", h), ("--eps", eps), ("--threshold", threshold)):
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {value:g}")
    if sigma is not None and (not math.isfinite(sigma) or sigma < 0):
        raise ValueError(f"--sigma must be >= 0, got {sigma:g}")
    if hidden_size < 1:
        raise ValueError(f"--hidden must be at least 1, got {hidden_size}")
    if vocab_size < 1:
        raise ValueError("the corpus has an empty vocabulary: give a text with some characters")
    lengths = sorted(set(int(L) for L in seq_lengths))
    if not lengths:
        raise ValueError("--seq-lengths is empty: give one or more lengths, e.g. 5,10,15,25")
    if lengths[0] < 1:
        raise ValueError(f"sequence lengths must be at least 1, got {lengths[0]}")
    available = len(data) - 1  # the targets are the inputs shifted by one
    if lengths[-1] > available:
        raise ValueError(
            f"sequence length {lengths[-1]} needs {lengths[-1] + 1} characters (inputs and "
            f"targets shifted by one) but the corpus has {len(data)}: use shorter --seq-lengths"
        )
    return lengths
