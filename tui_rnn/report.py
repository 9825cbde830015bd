"""The report of a run, as the DD2424 report presents one: report.md and the figure it links.

    write_report(run_dir, output=None) -> the path of report.md      (default RUN_DIR/report/)

In the seed report's order:
1. Table 1, the gradient check of the run's model at initialisation (its seed and sigma, as the
   report checked it) and of the trained model (the newest checkpoint), by central differences
   and by the complex step: per parameter and sequence length the report's two criteria and
   the elementwise relative error that decides pass or fail (gradcheck.table).
2. Fig. 1, smooth_loss (and the validation loss, times seq_length to share its scale) against
   the updates, epoch boundaries marked: fig1.svg (charts.figure), and the same chart as text.
3. The scheduled samples (every sample_every updates) under their `iter = N, smooth_loss = X`
   headers, then the samples taken by hand (`s`, `b` in the app) apart.
4. 1,000 characters from the best model, reproducibly: a generator of its own seeded with the
   run's seed, from a newline and a zero state: what `tui-rnn generate RUN_DIR --best --length
   1000 --seed SEED` writes. The run's own generator is never touched.
5. The settings, the measured speed (from the checkpoint's seconds history), and the
   validation losses when there are any.

Everything comes from one read of the newest good checkpoint (plus config.json and the part of
samples.txt that checkpoint accounts for), so a report of a run that is training elsewhere is
consistent, and the same run gives the same report: only the lines of measured time (speed,
each check's duration), the versions and the paths can differ. Text from the corpus or the
model goes through safe.text (`markdown_inline` in running text, `fence` and `markdown` for
samples); files are written through safe.files (atomic, never through a symbolic link). An
output directory inside another run's directory is refused.
"""

from __future__ import annotations

import math
import os
import platform
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from tui_rnn import __version__
from tui_rnn.charts import figure
from tui_rnn.charts.curves import debiased_ema, skipped, thin_history
from tui_rnn.gradcheck import check, common
from tui_rnn.gradcheck.table import LEGEND, METHOD_NAMES, markdown_table, verdict
from tui_rnn.safe import files
from tui_rnn.safe import text as safe_text
from tui_rnn.safe.files import RunError, RunWriteError
from tui_rnn.store import checkpoint, rundir
from tui_rnn.store import config as store_config
from tui_rnn.store import samples as store_samples
from tui_rnn.training import sampling
from tui_rnn.training.history import SMOOTH_LOSS_WEIGHT, Sample, per_character, training_loss
from tui_rnn.training.options import BY_NAME, TrainConfig
from tui_rnn.training.trainer import model_spec

REPORT_DIR = "report"
REPORT_FILE = "report.md"
FIGURE_FILE = "fig1.svg"
BEST_SAMPLE_LENGTH = 1000
MAX_SAMPLES = 100  # per list: scheduled samples beyond it are shown evenly spaced
FIGURE_BINS = 320  # the SVG's series: each bin's min and max (about two points per pixel)
TEXT_CHART = (72, 16)  # columns and rows of the text chart
MAX_VALIDATION_ROWS = 25
COLORS = {"smooth": "#1f77b4", "validation": "#d62728"}


class ReportStopped(Exception):
    """should_stop() said stop (the app is quitting): nothing was written."""


def split_samples(samples: list[Sample], sample_every: int) -> tuple[list[Sample], list[Sample]]:
    """(scheduled, by hand): a scheduled sample is the first plain one at each multiple of
    sample_every; samples from the best model, marked by hand, at another iteration, or a
    second one at the same iteration (runs older than the `by hand` mark) were asked for."""
    scheduled, by_hand, seen = [], [], set()
    for sample in samples:
        if (
            sample.best
            or sample.by_hand
            or sample.iteration % sample_every
            or (sample.iteration in seen)
        ):
            by_hand.append(sample)
        else:
            seen.add(sample.iteration)
            scheduled.append(sample)
    return scheduled, by_hand


# -- where it goes ------------------------------------------------------------------------------
def output_directory(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """The directory the report goes to (made if missing): `output`, default RUN_DIR/report.
    Refused (RunError, one line): a symbolic link or a file there, or a place inside another
    run's directory (its files are that run's alone)."""
    run_dir = Path(run_dir)
    out = Path(output) if output is not None else run_dir / REPORT_DIR
    try:
        info = os.lstat(out)
    except FileNotFoundError:
        info = None
    except OSError as err:
        raise RunError(f"{out}: {files.describe(err)}: give another --output") from None
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise RunError(
            f"{out} is a symbolic link, which tui-rnn never follows for a report: give a real "
            "directory as --output"
        )
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise RunError(f"{out} is not a directory: give a directory as --output")
    own = run_dir.resolve()
    target = out.resolve()
    for folder in (target, *target.parents):
        if folder == own:
            break
        if rundir.run_updated(folder) is not None:
            raise RunError(
                f"{out} is inside the run {folder}: the report of {run_dir} must not go among "
                "another run's files; give another --output"
            )
    if info is None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RunWriteError(
                f"cannot make {out}: {files.describe(err)}; give another --output"
            ) from None
    return out


def write_report(
    run_dir: str | Path,
    output: str | Path | None = None,
    *,
    corpus_path: str | None = None,
    encoding: str | None = None,
    warn: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write report.md and fig1.svg for the run; returns the path of report.md. RunError (one
    line) for a run that is not one, is damaged, has no checkpoint or no updates yet, or an
    output refused; ReportStopped when `should_stop()` turned true (nothing written).
    `progress(step)` hears each step as it begins (the gradient checks take seconds)."""
    run_dir = Path(run_dir)
    document = store_config.read_config(run_dir)
    arrays = checkpoint.load_checkpoint(run_dir, warn, document)
    if checkpoint.checkpoint_iteration(arrays) == 0:
        raise RunError(
            f"{run_dir} has no updates yet, so nothing to report: train it first (tui-rnn "
            f"train --resume {run_dir})"
        )
    retry = f"tui-rnn report {run_dir} --corpus CORPUS"
    corpus = checkpoint.load_run_corpus(document, corpus_path, encoding, retry)
    out = output_directory(run_dir, output)
    markdown, svg = build_report(run_dir, document, arrays, corpus, should_stop, warn, progress)

    def write(name: str, text: str) -> Path:
        data = text.encode("utf-8", "replace")
        return files.atomic_write(out / name, lambda f: f.write(data))

    write(FIGURE_FILE, svg)
    return write(REPORT_FILE, markdown)


# -- the report ---------------------------------------------------------------------------------
def build_report(
    run_dir, document, arrays, corpus, should_stop=None, warn=None, progress=None
) -> tuple[str, str]:
    """(report.md, fig1.svg) of a run from its config.json, one checkpoint's arrays and its
    corpus. `warn` hears of a samples.txt shorter than the checkpoint accounts for, `progress`
    of each step."""
    config = TrainConfig.from_dict(document["config"])
    samples_text, problem = store_samples.read_checked_samples(run_dir, _samples_bytes(arrays))
    if problem and warn is not None:
        warn(f"{problem}: the report shows only those")
    losses = Losses(config, len(document["vocabulary"]))
    fig = loss_figure(arrays, config, losses)
    heading = _heading(run_dir, document, arrays, config, losses)
    table_1 = _table_1(document, arrays, corpus, config, should_stop, progress)
    if progress is not None:
        progress("Fig. 1 and the samples")
    sections = [
        heading,
        table_1,
        _figure_1(fig, config, losses, len(arrays["loss_history"])),
        _samples(store_samples.parse_samples(samples_text), config, losses, problem),
        _best_sample(document, arrays, config, losses, should_stop, progress),
        _settings(run_dir, document, arrays, config, corpus, losses),
    ]
    return "\n\n".join(sections).rstrip() + "\n", figure.svg(fig)


class Losses:
    """How the report shows a run's losses: per character (nats, said once in the heading)
    where the run has validation or streams, the training curve smoothed as TensorBoard
    smooths it; else the report's smooth_loss, the loss of a chunk of seq_length characters."""

    def __init__(self, config: TrainConfig, vocab_size: int):
        self.per_char = per_character(config.batch_size, config.val_fraction)
        self.seq_length = config.seq_length
        self.vocab_size = vocab_size

    def training(self, smooth_loss: float, updates: int) -> str:
        """The smoothed training loss after `updates`, named, as the report shows it."""
        if not self.per_char:
            return f"smooth_loss = {smooth_loss:.4f}"
        return f"training loss {self.per_character(smooth_loss, updates):.4f}"

    def per_character(self, smooth_loss: float, updates: int) -> float:
        return training_loss(smooth_loss, updates, self.vocab_size, self.seq_length)

    def heading(self, sample: Sample) -> str:
        """A sample's heading: samples.txt's header, or with its loss per character."""
        if not self.per_char:
            return sample.header
        kind = "best model, " if sample.best else "by hand, " if sample.by_hand else ""
        loss = self.training(sample.smooth_loss, sample.iteration)
        return f"{kind}iter = {sample.iteration}, {loss}"

    def best(self, arrays, config: TrainConfig) -> str:
        """The best model's loss, named by what it is the lowest of."""
        val = float(arrays["best_val_loss"])
        if config.val_fraction > 0 and math.isfinite(val):  # (per character, then)
            return f"the lowest validation loss, {val:.4f} ({val / math.log(2):.3f} bits/char)"
        smooth, at = float(arrays["best_smooth_loss"]), int(arrays["best_iteration"])
        if not self.per_char:
            return f"the lowest smooth_loss, {smooth:.4f}"
        return f"the lowest smoothed training loss, {self.per_character(smooth, at):.4f}"


def _samples_bytes(arrays) -> int | None:
    return int(arrays["samples_bytes"]) if "samples_bytes" in arrays else None


def _heading(run_dir, document, arrays, config: TrainConfig, losses: Losses) -> str:
    corpus = document["corpus"]
    model = f"{config.cell}, {config.layers} layer{'s' if config.layers > 1 else ''}"
    spec = model_spec(config, len(document["vocabulary"]))
    iteration, target = int(arrays["iteration"]), document.get("target_iterations")
    target_text = f" of {target:,}" if isinstance(target, int) else ""
    return "\n".join(
        [
            f"# Report: {safe_text.markdown_inline(Path(run_dir).name)}",
            "",
            f"- corpus: {safe_text.markdown_inline(corpus['name'])}, {corpus['characters']:,} "
            f"characters, K = {len(document['vocabulary'])} distinct",
            f"- model: {model}, m = {config.hidden_size}, {config.dtype} "
            f"({spec.param_count:,} parameters)",
            *(
                ["- losses: in nats per character (bits: divided by ln 2)"]
                if losses.per_char
                else []
            ),
            f"- trained: {iteration:,}{target_text} updates (epoch {int(arrays['epoch'])}), "
            f"{losses.training(float(arrays['smooth_loss']), iteration)}",
            f"- best model: iter = {int(arrays['best_iteration']):,}, "
            f"{losses.best(arrays, config)}",
            f"- run directory: {safe_text.markdown_inline(str(Path(run_dir).resolve()))}",
            f"- written by: tui-rnn {__version__}, NumPy {np.__version__}, "
            f"Python {platform.python_version()}",
        ]
    )


def _table_1(document, arrays, corpus, config: TrainConfig, should_stop, progress=None) -> str:
    out = [
        "## 1. Table 1: gradient check",
        "",
        "Analytic gradients against numerical ones for every parameter entry, on the first "
        "characters of the corpus from a zero state (the report's setting), with both methods: "
        f"{METHOD_NAMES['central']} and the {METHOD_NAMES['complex']}. {LEGEND}",
    ]
    lengths = [L for L in common.DEFAULT_SEQ_LENGTHS if L < len(corpus.data)]
    K = len(document["vocabulary"])
    spec = model_spec(config, K)
    subjects = (
        ("At initialisation (the run's seed and sigma)", None),
        (
            f"The trained model (iter = {int(arrays['iteration']):,})",
            checkpoint.model_from_arrays(document, arrays),
        ),
    )
    for title, model in subjects:
        out += ["", f"### {title}"]
        for method in common.METHODS:
            if progress is not None:
                progress(f"Table 1, {title[0].lower()}{title[1:]}: {METHOD_NAMES[method]}")
            try:
                # spec, sigma, seed: the fresh model at init (the trained model ignores them)
                options = check.GradcheckOptions(
                    method=method,
                    seq_lengths=lengths,
                    spec=spec,
                    sigma=config.sigma,
                    seed=config.seed,
                )
                result = check.run_gradcheck(
                    corpus.data, K, options, model=model, should_stop=should_stop
                )
            except ValueError as err:  # a corpus too short, a check too large for memory
                out += ["", f"{METHOD_NAMES[method]}: not computed ({err})"]
                continue
            if result.stopped:
                raise ReportStopped("the report was stopped during the gradient check")
            out += ["", markdown_table(result, legend=False), "", verdict(result)]
    return "\n".join(out)


def loss_figure(arrays, config: TrainConfig, losses: Losses | None = None) -> figure.Figure:
    """Fig. 1: the training loss against updates, and the validation loss. Per character
    (nats), the training loss TensorBoard's debiased EMA of each update's loss, where the run's
    losses are (see Losses); else the report's smooth_loss (and the validation loss x
    seq_length, on its scale)."""
    losses = Losses(config, 2) if losses is None else losses
    n = config.seq_length
    val_x = np.asarray(arrays["val_iterations"], dtype=np.float64)
    val_y = np.asarray(arrays["val_loss_history"], dtype=np.float64)
    if losses.per_char:
        per_update = np.asarray(arrays["loss_history"], dtype=np.float64) / n
        x, y = thin_history(debiased_ema(per_update, SMOOTH_LOSS_WEIGHT), FIGURE_BINS)
        series = [figure.Series("training loss (smoothed)", x, y, COLORS["smooth"])]
        if len(val_y):
            series.append(figure.Series("validation loss", val_x, val_y, COLORS["validation"]))
        y_label, title = "loss (nats per character)", "Fig. 1: the loss against updates"
    else:
        x, y = thin_history(arrays["smooth_loss_history"], FIGURE_BINS)
        series = [figure.Series("smooth_loss", x, y, COLORS["smooth"])]
        if len(val_y):
            label = f"validation loss x {n}"
            series.append(figure.Series(label, val_x, val_y * n, COLORS["validation"]))
        y_label = f"loss of {n} characters (nats)"
        title = "Fig. 1: smooth_loss against updates"
    return figure.Figure(
        tuple(series),
        x_label="update",
        y_label=y_label,
        vlines=tuple(float(v) for v in arrays["epoch_starts"][1:]),
        title=title,
    )


def settled_range(fig: figure.Figure, updates: int) -> tuple[float, float] | None:
    """The y range of the text chart without the curves' first steep fall (the updates of
    charts.curves.skipped), which would squeeze the rest into a few rows, as the app's chart
    leaves it out; None when nothing is left out."""
    skip = skipped(updates)
    lows, highs, cut = [], [], False
    for series in fig.series:
        x, y = np.asarray(series.x), np.asarray(series.y)
        keep = np.isfinite(y)
        later = keep & (x > skip)
        shown = y[later] if later.any() else y[keep]
        if shown.size:
            lows.append(float(shown.min()))
            highs.append(float(shown.max()))
            cut = cut or bool((y[keep] > shown.max()).any() or (y[keep] < shown.min()).any())
    if not lows or not cut:
        return None
    low, high = min(lows), max(highs)
    pad = (high - low) * 0.04 or max(abs(high) * 0.01, 0.5)
    return low - pad, high + pad


def _figure_1(fig: figure.Figure, config: TrainConfig, losses: Losses, updates: int) -> str:
    n = config.seq_length
    if losses.per_char:
        caption = (
            "Fig. 1: the training loss (each update's loss per character, smoothed as "
            f"TensorBoard smooths it: an exponential moving average of weight {SMOOTH_LOSS_WEIGHT} "
            "started at zero and divided by its bias, so it starts where the loss starts)"
        )
        if len(fig.series) > 1:
            caption += " and the validation loss"
        caption += ", in nats per character, against updates; dashed lines mark epoch boundaries"
        section = "## 2. Fig. 1: the loss"
    else:
        caption = (
            f"Fig. 1: smooth_loss (the loss of a {n}-character chunk, smoothed as 0.999 s + "
            "0.001 loss) against updates; dashed lines mark epoch boundaries"
        )
        if len(fig.series) > 1:
            caption += f"; the validation loss (nats per character) times {n}, on the same scale"
        section = "## 2. Fig. 1: the smooth loss"
    y_range = settled_range(fig, updates)
    chart = figure.text(replace(fig, y_range=y_range), *TEXT_CHART)
    as_text = "The same chart as text"
    if y_range is not None:
        as_text += f" (its y axis leaves out the first {skipped(updates):,.0f} updates' fall)"
    return "\n".join(
        [
            section,
            "",
            f"![{caption}]({FIGURE_FILE})",
            "",
            f"{caption}. {as_text}:",
            "",
            "```text",
            chart.rstrip("\n"),
            "```",
        ]
    )


def _sample_block(heading: str, sample: Sample, level: str = "###") -> list[str]:
    text = safe_text.markdown(sample.text)
    fence = safe_text.fence(text)
    return ["", f"{level} {heading}", "", fence, text, fence]


def _samples(
    samples: list[Sample], config: TrainConfig, losses: Losses, problem: str | None = None
) -> str:
    scheduled, by_hand = split_samples(samples, config.sample_every)
    out = [
        "## 3. Samples during training",
        "",
        f"Every {config.sample_every:,} updates, {config.sample_length:,} characters from the "
        "model as it was (from stream 0's state and its next input character).",
    ]
    if problem:
        out += ["", f"Only the whole records: {safe_text.markdown_inline(problem)}."]
    shown = scheduled
    if len(scheduled) > MAX_SAMPLES:
        index = np.unique(np.linspace(0, len(scheduled) - 1, MAX_SAMPLES).round().astype(int))
        shown = [scheduled[i] for i in index]
        out += ["", f"{len(shown)} of the {len(scheduled):,} samples, evenly spaced."]
    if not shown:
        out += ["", "None yet."]
    for sample in shown:
        out += _sample_block(losses.heading(sample), sample)
    out += ["", "### Samples taken by hand", ""]
    if not by_hand:
        out.append("None.")
    else:
        if len(by_hand) > MAX_SAMPLES:
            out.append(f"The last {MAX_SAMPLES} of {len(by_hand):,}.")
            by_hand = by_hand[-MAX_SAMPLES:]
        out.append("Taken in the app (`s`: the current model, `b`: the best model), in order.")
        for sample in by_hand:
            out += _sample_block(losses.heading(sample), sample, level="####")
    return "\n".join(out)


def best_model_text(document, arrays, length: int = BEST_SAMPLE_LENGTH, should_stop=None) -> str:
    """`length` characters from the best model: a generator of its own seeded with the run's
    seed, from a newline and a zero state (`tui-rnn generate RUN --best --seed SEED`)."""
    config = TrainConfig.from_dict(document["config"])
    chars = tuple(document["vocabulary"])
    model = checkpoint.model_from_arrays(document, arrays, best=True)
    rng = np.random.Generator(np.random.PCG64(config.seed))
    ids = list(
        sampling.continue_prompt(
            model, sampling.start_ids("", chars), length, rng, should_stop=should_stop
        )
    )
    if len(ids) < length:
        raise ReportStopped("the report was stopped while sampling the best model")
    return "".join(chars[i] for i in ids)


def _best_sample(
    document, arrays, config: TrainConfig, losses: Losses, should_stop, progress=None
) -> str:
    if progress is not None:
        progress(f"{BEST_SAMPLE_LENGTH:,} characters from the best model")
    text = best_model_text(document, arrays, should_stop=should_stop)
    iteration = int(arrays["best_iteration"])
    header = f"The best model, iter = {iteration:,}, {losses.best(arrays, config)}"
    safe = safe_text.markdown(text)
    fence = safe_text.fence(safe)
    return "\n".join(
        [
            f"## 4. {BEST_SAMPLE_LENGTH:,} characters from the best model",
            "",
            f"{header}. Generated from a newline with a zero state by a random generator seeded "
            f"with the run's seed {config.seed} (the run's own is not touched): the text "
            f"`tui-rnn generate RUN_DIR --best --length {BEST_SAMPLE_LENGTH} --seed {config.seed}` "
            "writes.",
            "",
            fence,
            safe,
            fence,
        ]
    )


def _duration(seconds: float) -> str:
    """12.3 s under a minute, else 1:02:03."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _speed_lines(arrays, config: TrainConfig) -> list[str]:
    seconds = np.asarray(arrays["seconds_history"], dtype=np.float64)
    per_update = config.batch_size * config.seq_length
    if not len(seconds) or seconds[-1] <= 0:
        return ["- training time: not recorded (a run from an older tui-rnn)"]
    n = len(seconds)
    recent = max(1, n // 10)
    before = seconds[n - recent - 1] if n > recent else 0.0
    recent_rate = recent * per_update / max(seconds[-1] - before, 1e-9)
    return [
        f"- training time: {_duration(seconds[-1])} for {n:,} updates "
        f"({_duration(float(arrays['train_seconds']))} with validation and samples)",
        f"- speed: {n * per_update / seconds[-1]:,.0f} characters/s over the run, "
        f"{recent_rate:,.0f} over its last {recent:,} updates",
    ]


def _settings(run_dir, document, arrays, config: TrainConfig, corpus, losses: Losses) -> str:
    out = [
        "## 5. Settings, speed and validation",
        "",
        "| option | flag | value |",
        "|---|---|---|",
    ]
    for name, value in config.to_dict().items():
        flag = BY_NAME[name].flag if name in BY_NAME else ""
        out.append(f"| {name} | {flag} | {value} |")  # numbers and names of choices only
    recorded = document["corpus"]
    eta_changes = document.get("eta_changes") or []
    changes = ", ".join(f"{c['eta']:g} from iter {c['iteration']:,}" for c in eta_changes)
    out += [
        "",
        f"- corpus: {safe_text.markdown_inline(recorded['name'])}, sha256 "
        f"{safe_text.markdown_inline(recorded.get('sha256') or '?')}, encoding "
        f"{safe_text.markdown_inline(document.get('encoding', 'utf-8'))}",
        f"- corpus file: {safe_text.markdown_inline(str(corpus.path or 'built-in'))}",
        f"- target: {document.get('target_iterations', 0):,} updates; "
        f"{len(arrays['epoch_starts'])} epoch(s) begun",
        f"- learning rate changes: {changes or 'none'}",
        *_speed_lines(arrays, config),
    ]
    val_x, val_y = arrays["val_iterations"], arrays["val_loss_history"]
    if len(val_y):
        best = int(np.argmin(val_y))
        rows = np.unique(
            np.concatenate(
                [np.linspace(0, len(val_y) - 1, MAX_VALIDATION_ROWS).round(), [best]]
            ).astype(int)
        )
        out += [
            "",
            f"Validation: the last {config.val_fraction:g} of the text, never trained on, read "
            f"every {config.eval_every:,} updates from a zero state; the best model is the one "
            f"with the lowest validation loss ({float(val_y[best]):.4f} nats/char at iter "
            f"{int(val_x[best]):,}).",
            "",
            "| update | validation loss (nats/char) | bits/char |",
            "|---:|---:|---:|",
        ]
        for i in rows:
            mark = " (best)" if i == best else ""
            out.append(
                f"| {int(val_x[i]):,}{mark} | {float(val_y[i]):.4f} | "
                f"{float(val_y[i]) / math.log(2):.4f} |"
            )
    else:
        out += [
            "",
            "Validation: none (no --val-fraction); the best model is the one with the "
            f"lowest {'smoothed training loss' if losses.per_char else 'smooth_loss'}.",
        ]
    return "\n".join(out)
