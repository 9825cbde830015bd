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
from pathlib import Path

import numpy as np

from tui_rnn import __version__
from tui_rnn.charts import figure
from tui_rnn.charts.curves import thin_history
from tui_rnn.gradcheck import check, common
from tui_rnn.gradcheck.table import LEGEND, METHOD_NAMES, markdown_table, verdict
from tui_rnn.safe import files
from tui_rnn.safe import text as safe_text
from tui_rnn.safe.files import RunError, RunWriteError
from tui_rnn.store import checkpoint, rundir
from tui_rnn.store import config as store_config
from tui_rnn.store import samples as store_samples
from tui_rnn.training import sampling
from tui_rnn.training.history import Sample
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
) -> Path:
    """Write report.md and fig1.svg for the run; returns the path of report.md. RunError (one
    line) for a run that is not one, is damaged, has no checkpoint or no updates yet, or an
    output refused; ReportStopped when `should_stop()` turned true (nothing written)."""
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
    markdown, svg = build_report(run_dir, document, arrays, corpus, should_stop)

    def write(name: str, text: str) -> Path:
        data = text.encode("utf-8", "replace")
        return files.atomic_write(out / name, lambda f: f.write(data))

    write(FIGURE_FILE, svg)
    return write(REPORT_FILE, markdown)


# -- the report ---------------------------------------------------------------------------------
def build_report(run_dir, document, arrays, corpus, should_stop=None) -> tuple[str, str]:
    """(report.md, fig1.svg) of a run from its config.json, one checkpoint's arrays and its
    corpus."""
    config = TrainConfig.from_dict(document["config"])
    samples_text = store_samples.read_samples_text(run_dir, _samples_bytes(arrays))
    fig = loss_figure(arrays, config)
    sections = [
        _heading(run_dir, document, arrays, config),
        _table_1(document, arrays, corpus, config, should_stop),
        _figure_1(fig, config),
        _samples(store_samples.parse_samples(samples_text), config),
        _best_sample(document, arrays, config, should_stop),
        _settings(run_dir, document, arrays, config, corpus),
    ]
    return "\n\n".join(sections).rstrip() + "\n", figure.svg(fig)


def _samples_bytes(arrays) -> int | None:
    return int(arrays["samples_bytes"]) if "samples_bytes" in arrays else None


def _best_loss_text(arrays, config: TrainConfig) -> str:
    text = f"smooth_loss = {float(arrays['best_smooth_loss']):.4f}"
    if config.val_fraction > 0 and math.isfinite(float(arrays["best_val_loss"])):
        val = float(arrays["best_val_loss"])
        text += f", validation loss {val:.4f} nats/char ({val / math.log(2):.3f} bits/char)"
    return text


def _heading(run_dir, document, arrays, config: TrainConfig) -> str:
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
            f"- trained: {iteration:,}{target_text} updates (epoch {int(arrays['epoch'])}), "
            f"smooth_loss = {float(arrays['smooth_loss']):.4f}",
            f"- best model: iter = {int(arrays['best_iteration']):,}, "
            f"{_best_loss_text(arrays, config)}",
            f"- run directory: {safe_text.markdown_inline(str(Path(run_dir).resolve()))}",
            f"- written by: tui-rnn {__version__}, NumPy {np.__version__}, "
            f"Python {platform.python_version()}",
        ]
    )


def _table_1(document, arrays, corpus, config: TrainConfig, should_stop) -> str:
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


def loss_figure(arrays, config: TrainConfig) -> figure.Figure:
    """Fig. 1: smooth_loss against updates (and the validation loss x seq_length)."""
    x, y = thin_history(arrays["smooth_loss_history"], FIGURE_BINS)
    series = [figure.Series("smooth_loss", x, y, COLORS["smooth"])]
    val_x, val_y = arrays["val_iterations"], arrays["val_loss_history"]
    if len(val_y):
        n = config.seq_length
        series.append(
            figure.Series(
                f"validation loss x {n}",
                np.asarray(val_x, dtype=np.float64),
                np.asarray(val_y, dtype=np.float64) * n,
                COLORS["validation"],
            )
        )
    return figure.Figure(
        tuple(series),
        x_label="update",
        y_label=f"loss of {config.seq_length} characters (nats)",
        vlines=tuple(float(v) for v in arrays["epoch_starts"][1:]),
        title="Fig. 1: smooth_loss against updates",
    )


def _figure_1(fig: figure.Figure, config: TrainConfig) -> str:
    n = config.seq_length
    caption = (
        f"Fig. 1: smooth_loss (the loss of a {n}-character chunk, smoothed as 0.999 s + 0.001 "
        "loss) against updates; dashed lines mark epoch boundaries"
    )
    if len(fig.series) > 1:
        caption += f"; the validation loss (nats per character) times {n}, on the same scale"
    chart = figure.text(fig, *TEXT_CHART)
    return "\n".join(
        [
            "## 2. Fig. 1: the smooth loss",
            "",
            f"![{caption}]({FIGURE_FILE})",
            "",
            caption + ". The same chart as text:",
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


def _samples(samples: list[Sample], config: TrainConfig) -> str:
    scheduled, by_hand = split_samples(samples, config.sample_every)
    out = [
        "## 3. Samples during training",
        "",
        f"Every {config.sample_every:,} updates, {config.sample_length:,} characters from the "
        "model as it was (from stream 0's state and its next input character).",
    ]
    shown = scheduled
    if len(scheduled) > MAX_SAMPLES:
        index = np.unique(np.linspace(0, len(scheduled) - 1, MAX_SAMPLES).round().astype(int))
        shown = [scheduled[i] for i in index]
        out += ["", f"{len(shown)} of the {len(scheduled):,} samples, evenly spaced."]
    if not shown:
        out += ["", "None yet."]
    for sample in shown:
        out += _sample_block(sample.header, sample)
    out += ["", "### Samples taken by hand", ""]
    if not by_hand:
        out.append("None.")
    else:
        if len(by_hand) > MAX_SAMPLES:
            out.append(f"The last {MAX_SAMPLES} of {len(by_hand):,}.")
            by_hand = by_hand[-MAX_SAMPLES:]
        out.append("Taken in the app (`s`: the current model, `b`: the best model), in order.")
        for sample in by_hand:
            out += _sample_block(sample.header, sample, level="####")
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


def _best_sample(document, arrays, config: TrainConfig, should_stop) -> str:
    text = best_model_text(document, arrays, should_stop=should_stop)
    iteration = int(arrays["best_iteration"])
    header = f"best model, iter = {iteration}, {_best_loss_text(arrays, config)}"
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


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
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
        f"- training time: {_clock(seconds[-1])} ({seconds[-1]:,.1f} s) for {n:,} updates "
        f"({float(arrays['train_seconds']):,.1f} s with validation and samples)",
        f"- speed: {n * per_update / seconds[-1]:,.0f} characters/s over the run, "
        f"{recent_rate:,.0f} over its last {recent:,} updates",
    ]


def _settings(run_dir, document, arrays, config: TrainConfig, corpus) -> str:
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
            "lowest smooth_loss.",
        ]
    return "\n".join(out)
