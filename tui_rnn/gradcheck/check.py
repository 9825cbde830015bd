"""The gradient check: the report's Table 1 for any model, every entry of every parameter.

On the first T characters of a corpus (inputs data[0:T], targets data[1:T+1]), from a zero
state, in float64, each entry's numerical gradient gn_e is compared with the backward pass's ga_e:

    central:  gn_e = (L(theta + h e_e) - L(theta - h e_e)) / 2h          (h = 1e-4)
    complex:  gn_e = Im L(theta + i h e_e) / h                          (h = 1e-20)

A row per parameter and length holds the elementwise relative error r_e = |ga_e - gn_e| /
max(eps, |ga_e| + |gn_e|), whose max decides pass or fail, and the report's own two criteria,
max_e and sum_e of |ga_e - gn_e| / max(eps, S) with S = sum_e (|ga_e| + |gn_e|): a whole-parameter
denominator, so they are far smaller, and an error in a small entry hides behind the large ones.

GradcheckOptions is validated once, when made, so a bad option is refused before any work; the
corpus and the model are checked against it when the run starts. The work goes to the report's
model's fast path (vanilla) or to any cell's (generic), within batch's budget: every entry when
the estimated time fits, else a seeded, labelled sample (`full` checks every entry anyway); a
check that cannot fit memory is refused with its cause (ValueError).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Protocol

import numpy as np

from tui_rnn.cells.model import Model, ModelSpec
from tui_rnn.gradcheck import batch, generic, vanilla
from tui_rnn.gradcheck.batch import Selection, TooLarge
from tui_rnn.gradcheck.common import (
    DEFAULT_EPS,
    DEFAULT_SEQ_LENGTHS,
    check_method,
    default_h,
    default_threshold,
)


class FlatGradients(Protocol):
    """What an injected backward pass of the report's model returns: a flat gradient vector."""

    @property
    def flat(self) -> np.ndarray: ...


# Backward passes under test (tests inject broken ones). The report's model's, written as the
# report writes it: (model, inputs, targets, h0) -> gradients with a `flat` vector.
AnalyticFn = Callable[[Model, np.ndarray, np.ndarray, np.ndarray], FlatGradients]
# Any model's: (model, inputs, targets) -> a gradient Model or its flat vector.
ModelAnalyticFn = Callable[[Model, np.ndarray, np.ndarray], "Model | np.ndarray"]


# -- the options ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class GradcheckOptions:
    """How to check, and the fresh model to check when none is given.

    Validated when made: ValueError with a one-line message naming the option as the command line
    spells it. `seq_lengths` is kept ascending and distinct. A given model ignores hidden_size,
    spec, sigma and seed.
    """

    method: str = "central"  # "central" | "complex"
    seq_lengths: Sequence[int] = DEFAULT_SEQ_LENGTHS
    h: float | None = None  # None: the method's default
    eps: float = DEFAULT_EPS  # the floor of the relative error's denominator
    threshold: float | None = None  # the largest passing max rel error; None: the method's
    full: bool = False  # every entry, whatever the time budget
    hidden_size: int = 100  # a fresh report's model (when no spec is given)
    spec: ModelSpec | None = None  # a fresh model of any cell and number of layers
    sigma: float | None = None  # a fresh model's initial scale; None: the cell's default
    seed: int = 0  # a fresh model's initialisation
    workers: int | None = None  # threads (None: the CPUs); the results never depend on it

    def __post_init__(self) -> None:
        check_method(self.method)
        object.__setattr__(self, "eps", float(self.eps))
        for name, value in (
            ("--h", self.resolved_h),
            ("--eps", self.eps),
            ("--threshold", self.resolved_threshold),
        ):
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value:g}")
        sigma = self.sigma
        if sigma is not None and (not math.isfinite(sigma) or sigma < 0):
            raise ValueError(f"--sigma must be >= 0, got {sigma:g}")
        if self.hidden_size < 1:
            raise ValueError(f"--hidden must be at least 1, got {self.hidden_size}")
        lengths = sorted(set(int(L) for L in self.seq_lengths))
        if not lengths:
            raise ValueError("--seq-lengths is empty: give one or more lengths, e.g. 5,10,15,25")
        if lengths[0] < 1:
            raise ValueError(f"sequence lengths must be at least 1, got {lengths[0]}")
        object.__setattr__(self, "seq_lengths", tuple(lengths))

    @property
    def resolved_h(self) -> float:
        """The step: `h`, or the method's default."""
        return default_h(self.method) if self.h is None else float(self.h)

    @property
    def resolved_threshold(self) -> float:
        """The threshold: `threshold`, or the method's default."""
        return default_threshold(self.method) if self.threshold is None else float(self.threshold)


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
    options: GradcheckOptions,
    *,
    model: Model | None = None,
    on_row: Callable[[GradcheckRow], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    analytic: AnalyticFn | None = None,
    model_analytic: ModelAnalyticFn | None = None,
) -> GradcheckReport:
    """The report's Table 1 for a model: every entry of every parameter at each length.

    The model is `model` (a cells.Model, e.g. from a run), or a fresh one initialised exactly
    as training does from the options' seed and sigma: their `spec` (any cell and layers), else
    the report's model with their `hidden_size`. Rows come in the parameters' flat order (b, c,
    U, W, V for the report's model), lengths ascending; on_row(row) is called from this thread
    as each row completes, and should_stop() ends the check early (`stopped`). `analytic` (the
    report's model) or `model_analytic` (any model) replaces the backward pass under test.
    Raises ValueError with a one-line message for a corpus or model that does not fit the
    options, and for a check too large for memory (naming the cause).
    """
    started = time.perf_counter()
    lengths = list(options.seq_lengths)
    model, inputs, targets = _the_subject(data, vocab_size, options, model, analytic)
    path = vanilla if model.spec.is_report_rnn else generic  # the report's model: its fast path
    names = list(model.params)
    selections, estimate = _select_entries(path, model, inputs, names, options)
    exact = {
        L: _analytic_gradients(model, inputs[:L], targets[:L], analytic, model_analytic)
        for L in lengths
    }
    rows: list[GradcheckRow] = []

    def on_parameter(name: str, numerical: np.ndarray) -> None:
        for row in _rows(name, exact, numerical, selections[name], options):
            rows.append(row)
            if on_row is not None:
                on_row(row)

    done = path.numerical_gradients(
        model, inputs, targets, lengths, options.method, options.resolved_h, names=names,
        should_stop=should_stop, on_parameter=on_parameter, workers=options.workers,
        selections=selections,
    )  # fmt: skip
    return GradcheckReport(
        rows=rows,
        method=options.method,
        h=options.resolved_h,
        eps=options.eps,
        threshold=options.resolved_threshold,
        hidden=model.spec.hidden_size,
        seconds=time.perf_counter() - started,
        stopped=len(done) < len(names),
        cell=model.spec.cell,
        layers=model.spec.layers,
        checked_entries=sum(len(s.entries) for s in selections.values()),
        total_entries=model.spec.param_count,
        estimated_seconds=estimate,
    )


def _the_subject(
    data: np.ndarray,
    vocab_size: int,
    options: GradcheckOptions,
    model: Model | None,
    analytic: AnalyticFn | None,
) -> tuple[Model, np.ndarray, np.ndarray]:
    """The float64 model to check and its (inputs, targets) on the longest length, or
    ValueError naming what does not fit the options."""
    T = options.seq_lengths[-1]
    _check_corpus(data, vocab_size, T)
    checked = _the_model(vocab_size, options, model)
    data = np.asarray(data)
    if data.size and int(data.max()) >= vocab_size:
        raise ValueError(f"the data holds ids >= the vocabulary size {vocab_size}")
    if analytic is not None and not checked.spec.is_report_rnn:
        raise ValueError("analytic= is for the report's model: give model_analytic= instead")
    return checked, data[:T].astype(np.intp), data[1 : T + 1].astype(np.intp)


def _check_corpus(data: np.ndarray, vocab_size: int, longest: int) -> None:
    """ValueError when the corpus has no vocabulary or is too short for the longest length."""
    if vocab_size < 1:
        raise ValueError("the corpus has an empty vocabulary: give a text with some characters")
    available = len(data) - 1  # the targets are the inputs shifted by one
    if longest > available:
        raise ValueError(
            f"sequence length {longest} needs {longest + 1} characters (inputs and "
            f"targets shifted by one) but the corpus has {len(data)}: use shorter --seq-lengths"
        )


def _the_model(vocab_size: int, options: GradcheckOptions, model: Model | None) -> Model:
    """The model to check, as a float64 copy (the caller's parameters are never touched)."""
    if model is not None:
        if model.spec.vocab_size != vocab_size:
            raise ValueError(
                f"the model has a vocabulary of {model.spec.vocab_size} characters but the "
                f"corpus has {vocab_size}: check it with the run's own corpus"
            )
        return generic.float64_model(model)
    spec = options.spec or ModelSpec(vocab_size=vocab_size, hidden_size=options.hidden_size)
    if spec.vocab_size != vocab_size:
        raise ValueError(f"the spec's vocabulary ({spec.vocab_size}) is not the corpus's")
    spec = replace(spec, dtype="float64")
    rng = np.random.Generator(np.random.PCG64(options.seed))
    return Model.zeros(spec).init(rng, options.sigma)


def _select_entries(
    path: ModuleType, model: Model, inputs: np.ndarray, names: list[str], options: GradcheckOptions
) -> tuple[dict[str, Selection], float]:
    """The entries to check and their estimated seconds, after refusing (TooLarge) a check
    that cannot fit memory, before anything big is allocated."""
    T = len(inputs)
    _check_memory(model, T)
    for name in names:  # one perturbed copy of each parameter must fit a chunk
        batch.chunk_size(path.PATH, model, T, name)
    costs = {name: path.entry_seconds(model, inputs, name, options.method) for name in names}
    return batch.select_entries(costs, options.full)


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


def _analytic_gradients(
    model: Model,
    inputs: np.ndarray,
    targets: np.ndarray,
    analytic: AnalyticFn | None,
    model_analytic: ModelAnalyticFn | None,
) -> Model:
    """The gradients under test: an injected backward pass, else the model's own."""
    if analytic is not None:
        h0 = np.zeros(model.spec.hidden_size)
        return Model(model.spec, analytic(model, inputs, targets, h0).flat)
    if model_analytic is not None:
        grads = model_analytic(model, inputs, targets)
        return grads if isinstance(grads, Model) else Model(model.spec, grads)
    return generic.analytic_gradients(model, inputs, targets)


def _rows(
    name: str,
    exact: dict[int, Model],
    numerical: np.ndarray,
    selection: Selection,
    options: GradcheckOptions,
) -> Iterator[GradcheckRow]:
    """One parameter's rows, a length at a time: its checked entries' ga against gn."""
    checked = selection.entries
    for n, (L, grads) in enumerate(exact.items()):
        ga = grads[name].reshape(-1)[checked]
        gn = numerical[n].reshape(-1)[checked]
        stats = compare(ga, gn, options.eps, options.resolved_threshold)
        report_max, report_sum = report_criteria(ga, gn, options.eps)
        yield GradcheckRow(
            name, L, *stats, method=options.method, report_max_error=report_max,
            report_sum_error=report_sum, entries=len(checked), total_entries=selection.total,
        )  # fmt: skip


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
