"""How the app holds up while it trains: speed, UI lag, chart redraw cost.

    python benchmarks/bench_app.py [--iterations 20000] [--rounds 4] [--corpus FILE]

(a) training speed inside the app (engine thread, UI running) vs `tui-rnn train` of the same
    corpus and model, in alternating rounds (train then app, app then train, ...) so that a
    change in the machine's load hits both alike; each round's ratio, and their spread;
(b) UI lag while training: how late a 50 ms timer on the UI's event loop fires (p50, p95, max)
    in each app round; then for the app idle, and for the app idle while `tui-rnn train` runs in
    a separate process (what a process-based engine would give, before any IPC cost);
(c) chart redraw time with 1,000,000 points of history: thinning and smoothing (engine thread)
    and the braille figure built as Rich Text and rendered to segments (UI thread), for
    smooth_loss alone and with everything on (the per-update loss smoothed under it, a
    validation series, the epoch lines, the best point, log y).

The app runs headless (App.run_test): it lays out and renders every frame, only the bytes are
not written to a terminal. The load average is printed with every round (the machine may be
shared). Prints numbers; asserts nothing.
"""

from __future__ import annotations

import tui_rnn  # noqa: F401  first: it pins OpenBLAS's kernels before NumPy loads (blas.py)

# isort: split
import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from tui_rnn.app import TrainingSession, TuiRnnApp
from tui_rnn.app.messages import RunState, TrainingProgress
from tui_rnn.app.session import ChartView
from tui_rnn.app.widgets.loss_chart import ChartOptions, build_chart
from tui_rnn.driver import Run
from tui_rnn.store import checkpoint, samples
from tui_rnn.training.corpus import load_corpus
from tui_rnn.training.history import LossHistory
from tui_rnn.training.options import TrainConfig
from tui_rnn.training.trainer import Trainer

TICK = 0.05


def new_session(corpus, iterations: int, run_dir: Path) -> TrainingSession:
    config = TrainConfig()
    trainer = Trainer(corpus.data, corpus.chars, config)
    return TrainingSession(Run.new(trainer, corpus, run_dir, iterations))


def headless_speed(corpus, iterations: int, run_dir: Path) -> float:
    """chars/s of the plain training loop, saving samples and checkpoints as `train` does."""
    from threadpoolctl import threadpool_limits

    session = new_session(corpus, iterations, run_dir)
    trainer = session.trainer

    def on_sample(sample):
        samples.append_sample(run_dir, sample)
        checkpoint.save_checkpoint(run_dir, trainer)

    with threadpool_limits(limits=1, user_api="blas"):
        started = time.perf_counter()
        trainer.train(iterations, on_sample=on_sample)
        seconds = time.perf_counter() - started
    return iterations * trainer.config.seq_length / seconds


def cli_train_speed(corpus_path, iterations: int, run_dir: Path) -> float:
    """chars/s that `tui-rnn train --json` reports for itself."""
    command = [sys.executable, "-m", "tui_rnn", "train"]
    if corpus_path:
        command.append(str(corpus_path))
    command += ["--iterations", str(iterations), "--run-dir", str(run_dir), "--json"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return float(json.loads(out)["chars_per_second"])


def lateness_stats(stamps: list[float]) -> dict:
    late = [max(0.0, (b - a) - TICK) * 1000 for a, b in zip(stamps, stamps[1:], strict=False)]
    if not late:
        return {"ticks": 0}
    late.sort()
    return {
        "ticks": len(late),
        "p50_ms": statistics.median(late),
        "p95_ms": late[min(len(late) - 1, int(0.95 * len(late)))],
        "max_ms": late[-1],
    }


def thread_cpu_seconds(native_id: int) -> float:
    """CPU seconds (user + system) one thread of this process has used (Linux /proc)."""
    stat = Path(f"/proc/self/task/{native_id}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # fields 3.. of proc_pid_stat(5)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def engine_thread() -> threading.Thread:
    return next(t for t in threading.enumerate() if t.name == "tui-rnn engine")


async def run_app(session: TrainingSession, train: bool, seconds: float | None = None) -> dict:
    """Run the app headless; optionally train to the target; time a 50 ms timer meanwhile, and
    the CPU time of the UI thread and of the engine thread while training."""
    app = TuiRnnApp(session, gradcheck_on_start=False)
    stamps: list[float] = []
    result: dict = {}
    done = asyncio.Event()
    finished: list[float] = []

    def hook(message) -> None:
        """Every message the app handles: note when the engine says the target is reached
        (waiting for it by polling would add wake-ups the app itself does not have)."""
        if isinstance(message, TrainingProgress) and message.status.state == RunState.DONE:
            if not finished:
                finished.append(time.perf_counter())
            done.set()

    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        await pilot.pause(0.5)  # settle: first layout, first chart
        app.set_interval(TICK, lambda: stamps.append(time.perf_counter()))
        if train:
            ui, engine = threading.main_thread().native_id, engine_thread().native_id
            cpu = [thread_cpu_seconds(ui), thread_cpu_seconds(engine)]
            started = time.perf_counter()
            start_iteration = session.trainer.iteration
            app.main.action_train()
            await done.wait()
            elapsed = finished[0] - started
            ui_cpu = thread_cpu_seconds(ui) - cpu[0]
            engine_cpu = thread_cpu_seconds(engine) - cpu[1]
            updates = session.trainer.iteration - start_iteration
            result["chars_per_second"] = updates * session.trainer.config.seq_length / elapsed
            result["ui_cpu"] = ui_cpu / elapsed  # fractions of a core over the training
            result["engine_cpu"] = engine_cpu / elapsed
        else:
            await asyncio.sleep(seconds or 5.0)
        result.update(lateness_stats(stamps))
        session.shutdown().result(timeout=60)
    return result


def lag_with_training_process(corpus_path, iterations: int, run_dir: Path, session) -> dict:
    """The UI idle while `tui-rnn train` runs in another process: a process-engine's floor."""
    command = [sys.executable, "-m", "tui_rnn", "train"]
    if corpus_path:
        command.append(str(corpus_path))
    command += ["--iterations", str(iterations), "--run-dir", str(run_dir), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # let it load the corpus and start
    result = asyncio.run(run_app(session, train=False, seconds=4.0))
    process.send_signal(signal.SIGINT)  # train saves, prints its JSON summary, exits
    out, _ = process.communicate(timeout=60)
    try:
        result["process_chars_per_second"] = json.loads(out)["chars_per_second"]
    except (ValueError, KeyError):
        pass
    return result


def chart_redraw(points: int = 1_000_000, width: int = 110, height: int = 30) -> dict:
    rng = np.random.default_rng(0)
    loss = (40 + 60 * np.exp(-np.arange(points) / 2e5) + rng.normal(0, 2, points)).astype(
        np.float32
    )
    smooth = loss.copy()
    for i in range(1, points):  # the EMA, as the trainer computes it (not timed)
        smooth[i] = 0.999 * smooth[i - 1] + 0.001 * loss[i]
    corpus_like = np.zeros(1000, dtype=np.uint8)
    trainer = Trainer(corpus_like, tuple("ab"), TrainConfig(hidden_size=4))
    trainer.history = LossHistory.from_arrays(loss, smooth, [0, 300_000, 600_000, 900_000])
    trainer.best_iteration = int(np.argmin(smooth)) + 1
    trainer.best_smooth_loss = float(smooth.min())
    session = TrainingSession(Run.new(trainer, None, Path("."), points, create=False))
    from rich.console import Console

    devnull = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the benchmark)
    console = Console(width=width, height=height, file=devnull, color_system="truecolor")
    result = {"points": points}
    validation = {
        "val_iterations": [float(i) for i in range(10_000, points + 1, 10_000)],
        "val_loss": [float(smooth[i - 1]) + 1.0 for i in range(10_000, points + 1, 10_000)],
    }
    variants = (
        ("plain", ChartView(bins=width), ChartOptions(), {}),
        (
            "all",
            ChartView(bins=width, loss=True, smoothing=0.9),
            ChartOptions(loss=True, smoothing=2, log_y=True),
            validation,
        ),
    )
    for name, view, options, extra in variants:
        session.chart_view = view
        started = time.perf_counter()
        data = session.chart()  # the first one smooths the whole history (then incremental)
        result[f"{name}_first_ms"] = (time.perf_counter() - started) * 1000
        data = type(data)(**{**data.__dict__, **extra})
        build_chart(data, width, height, options)  # warm up (first-call caches)
        thin, ui = [], []
        for _ in range(20):
            t0 = time.perf_counter()
            data = session.chart()
            t1 = time.perf_counter()
            data = type(data)(**{**data.__dict__, **extra})
            text = build_chart(data, width, height, options)
            list(console.render(text))  # to segments, as the widget's render does
            t2 = time.perf_counter()
            thin.append((t1 - t0) * 1000)
            ui.append((t2 - t1) * 1000)
        drawn = len(data.iterations) + len(data.loss) + len(data.val_loss)
        result[f"{name}_drawn"] = drawn
        result[f"{name}_thin_median_ms"] = statistics.median(thin)
        result[f"{name}_thin_max_ms"] = max(thin)
        result[f"{name}_ui_median_ms"] = statistics.median(ui)
        result[f"{name}_ui_max_ms"] = max(ui)
    return result


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=4, help="alternating train/app rounds")
    parser.add_argument("--corpus", default=None, help="a text file (default: built-in)")
    args = parser.parse_args()
    corpus = load_corpus(args.corpus)
    print(f"corpus {corpus.name}: {len(corpus):,} chars, K = {corpus.vocab_size}; m = 100")
    print(f"{os.cpu_count()} cores, {load()}")
    base = Path(tempfile.mkdtemp(prefix="bench_app."))

    chart = chart_redraw()  # first, while the heap is small (as in a freshly started app)
    for name, label in (
        ("plain", "smooth_loss"),
        ("all", "+ loss EMA 0.9 + validation + epoch lines + best, log y"),
    ):
        print(
            f"(c) chart with {chart['points']:,} points [{label}] ({chart[f'{name}_drawn']} "
            f"drawn): engine thread (thin + smooth) median {chart[f'{name}_thin_median_ms']:.1f} "
            f"ms, max {chart[f'{name}_thin_max_ms']:.1f} ms, first {chart[f'{name}_first_ms']:.1f} "
            f"ms; braille figure + Rich segments (UI thread) median "
            f"{chart[f'{name}_ui_median_ms']:.1f} ms, max {chart[f'{name}_ui_max_ms']:.1f} ms"
        )

    loop = headless_speed(corpus, args.iterations, base / "headless")
    print(f"(a) the bare training loop in-process: {loop:,.0f} chars/s ({load()})")

    ratios, lags = [], []
    for round_ in range(args.rounds):
        speeds = {}
        order = ("train", "app") if round_ % 2 == 0 else ("app", "train")
        for what in order:
            if what == "train":
                speeds[what] = cli_train_speed(args.corpus, args.iterations, base / f"cli{round_}")
            else:
                session = new_session(corpus, args.iterations, base / f"app{round_}")
                result = asyncio.run(run_app(session, train=True))
                speeds[what] = result["chars_per_second"]
                lags.append(result)
        ratios.append(speeds["app"] / speeds["train"])
        lag = lags[-1]
        print(
            f"(a) round {round_ + 1} ({' then '.join(order)}): tui-rnn train "
            f"{speeds['train']:,.0f} chars/s, app {speeds['app']:,.0f} chars/s = "
            f"{100 * ratios[-1]:.1f}%; (b) UI lag p50 {lag['p50_ms']:.1f} ms, p95 "
            f"{lag['p95_ms']:.1f} ms, max {lag['max_ms']:.1f} ms ({lag['ticks']} ticks); CPU "
            f"while training: UI thread {100 * lag['ui_cpu']:.1f}%, engine "
            f"{100 * lag['engine_cpu']:.1f}% of a core; {load()}"
        )
    print(
        f"(a) app / tui-rnn train over {len(ratios)} rounds: median "
        f"{100 * statistics.median(ratios):.1f}%, spread {100 * min(ratios):.1f} to "
        f"{100 * max(ratios):.1f}%"
    )
    print(
        f"(b) UI lag while training, worst round: p50 {max(r['p50_ms'] for r in lags):.1f} ms, "
        f"p95 {max(r['p95_ms'] for r in lags):.1f} ms, max {max(r['max_ms'] for r in lags):.1f} ms"
    )

    idle = asyncio.run(run_app(new_session(corpus, 0, base / "idle"), train=False, seconds=4.0))
    print(
        f"(b) UI lag, app idle: p50 {idle['p50_ms']:.1f} ms, p95 {idle['p95_ms']:.1f} ms, "
        f"max {idle['max_ms']:.1f} ms"
    )
    process = lag_with_training_process(
        args.corpus, 10**7, base / "process", new_session(corpus, 0, base / "idle2")
    )
    print(
        f"(b) UI lag, app idle + `tui-rnn train` in another process: p50 "
        f"{process['p50_ms']:.1f} ms, p95 {process['p95_ms']:.1f} ms, max "
        f"{process['max_ms']:.1f} ms; that process trained at "
        f"{process.get('process_chars_per_second', float('nan')):,.0f} chars/s"
    )
    print(f"{load()}; runs left in {base}")


if __name__ == "__main__":
    main()
