"""What publishing progress for viewers (live.bin, --publish-every) costs training, and what
viewers following the run cost it.

    python benchmarks/bench_publish.py [CORPUS] [--rounds 5] [--seconds 20]
    python benchmarks/bench_publish.py [CORPUS] --viewers 10 [--rounds 5] [--seconds 20]

Each trial is a fresh process training the report's model (the default options) on CORPUS for
--seconds of wall clock, checkpoints every 10 s included, and reports updates per second. The
first mode interleaves trials publishing every 2 s ("on") with trials publishing nothing
("off"), alternating which goes first in each round; the second interleaves trials publishing
with --viewers headless viewers following the run (`tui-rnn watch` in Textual's headless mode,
or with --readers the bare reader, store/follow.py, polling twice a second) against trials
publishing with none (each viewer in a session of its own, as in another terminal). The script
prints every trial (with the share of a core the trainer and each viewer used, from /proc), the
medians, their difference, and the spread of each setting against itself (max - min over the
median): the difference passes when it is within 2%, or within the spread of the trials
publishing (on/on: the machine's noise).
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
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from tui_rnn.driver import Run, RunRequest

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
ROOT = Path(__file__).resolve().parents[1]


def trial(corpus: str, seconds: float, publish_every: float, viewers: int, readers: bool) -> dict:
    """Train for `seconds` (after the run is open) and count the updates."""
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        run_dir = Path(tmp) / "run"
        request = RunRequest(
            corpus=corpus, run_dir=str(run_dir), iterations=10**9, publish_every=publish_every
        )
        run = Run.open(request, warn=lambda message: None)
        spent = [0.0, 0]  # seconds inside Publisher.publish, calls
        if run.publisher is not None:
            publish = run.publisher.publish

            def timed(*args, **kwargs) -> None:
                began = time.perf_counter()
                publish(*args, **kwargs)
                spent[0] += time.perf_counter() - began
                spent[1] += 1

            run.publisher.publish = timed  # type: ignore[method-assign]
        followers = [start_viewer(run_dir, readers) for _ in range(viewers)]
        try:
            with threadpool_limits(limits=1, user_api="blas"):
                run.train_slice(should_stop=lambda: True)  # the first update
                for viewer in followers:  # every viewer up before the clock starts
                    assert viewer.stdout is not None and viewer.stdout.readline().strip() == "ready"
                time.sleep(1.0 if viewers else 0.0)  # their first polls
                start_iteration, started = run.trainer.iteration, time.perf_counter()
                cpu_started = time.process_time()
                viewers_started = [cpu_seconds(viewer.pid) for viewer in followers]
                deadline = started + seconds
                while time.perf_counter() < deadline:
                    run.train_slice(should_stop=lambda: time.perf_counter() >= deadline)
                elapsed = time.perf_counter() - started
                updates = run.trainer.iteration - start_iteration
                trainer_cpu = (time.process_time() - cpu_started) / elapsed
                viewer_cpu = [
                    (cpu_seconds(viewer.pid) - before) / elapsed
                    for viewer, before in zip(followers, viewers_started, strict=True)
                ]
        finally:
            for viewer in followers:
                viewer.send_signal(signal.SIGTERM)
            for viewer in followers:
                try:
                    viewer.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    viewer.kill()
            run.close()
        return {
            "updates": updates,
            "seconds": elapsed,
            "rate": updates / elapsed,
            "publish_seconds": spent[0],
            "publishes": spent[1],
            "trainer_cpu": trainer_cpu,  # the share of a core the trainer got
            "viewer_cpu": viewer_cpu,  # each viewer's share of a core (Linux; else NaN)
        }


def cpu_seconds(pid: int) -> float:
    """CPU seconds a process has used (utime + stime from /proc; NaN where there is none)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def start_viewer(run_dir: Path, readers: bool) -> subprocess.Popen:
    if readers:
        code = (
            "import time, sys\n"
            "from tui_rnn.store import follow\n"
            "w = follow.WatchedRun(sys.argv[1]); w.load()\n"
            "while True:\n"
            "    w.poll(); time.sleep(0.5)\n"
        )
        code = code.replace("w.load()\n", "w.load(); print('ready', flush=True)\n")
        argv = [sys.executable, "-c", code, str(run_dir)]
    else:
        argv = [sys.executable, __file__, "--headless-viewer", str(run_dir)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # A session of its own, as a viewer in another terminal has: Linux shares the CPU between
    # sessions first (autogroups), so viewers in the trainer's session would be charged to it.
    return subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def headless_viewer(run_dir: str) -> int:
    """`tui-rnn watch RUN_DIR` in Textual's headless mode (drawn, shown nowhere); says "ready"
    on stdout once its main screen is up, and quits on SIGTERM (as the app does)."""
    from tui_rnn.app import TuiRnnApp, WatchSession  # the trainer's process never loads Textual

    app = TuiRnnApp(WatchSession.open(run_dir), gradcheck_on_start=False)

    async def run() -> None:
        task = asyncio.create_task(app.run_async(headless=True, size=(120, 40)))
        while not (app.is_running and app.main.is_mounted):
            await asyncio.sleep(0.05)
        print("ready", flush=True)
        await task

    asyncio.run(run())
    return 0


def run_trial(args, setting: str) -> dict:
    argv = [
        sys.executable,
        __file__,
        args.corpus,
        "--trial",
        setting,
        "--seconds",
        str(args.seconds),
    ]
    if args.viewers:
        argv += ["--viewers", str(args.viewers)] + (["--readers"] if args.readers else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def spread(rates: list[float]) -> float:
    return (max(rates) - min(rates)) / statistics.median(rates)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=str(DEFAULT_CORPUS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0, help="of training per trial")
    parser.add_argument("--viewers", type=int, default=0, help="compare N viewers against none")
    parser.add_argument("--readers", action="store_true", help="bare readers, not the app")
    parser.add_argument(
        "--trial", choices=("on", "off", "viewers", "alone"), help=argparse.SUPPRESS
    )
    parser.add_argument("--headless-viewer", metavar="RUN_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.headless_viewer:
        return headless_viewer(args.headless_viewer)
    if args.trial:
        every = 0.0 if args.trial == "off" else 2.0
        viewers = args.viewers if args.trial == "viewers" else 0
        print(json.dumps(trial(args.corpus, args.seconds, every, viewers, args.readers)))
        return 0
    settings = ("viewers", "alone") if args.viewers else ("on", "off")
    rates: dict[str, list[float]] = {s: [] for s in settings}
    load = os.getloadavg()[0]
    for round_ in range(args.rounds):
        order = settings if round_ % 2 == 0 else settings[::-1]
        for setting in order:
            result = run_trial(args, setting)
            rates[setting].append(result["rate"])
            inside = ""
            if result["publishes"]:
                inside = (
                    f"; {result['publishes']} publishes took {1e3 * result['publish_seconds']:.1f}"
                    f" ms ({result['publish_seconds'] / result['seconds']:.3%} of the time)"
                )
            if result["viewer_cpu"]:
                inside += (
                    f"; CPU: trainer {result['trainer_cpu']:.0%} of a core, each viewer "
                    f"{statistics.median(result['viewer_cpu']):.1%} (median)"
                )
            print(
                f"round {round_ + 1} {setting:>7}: {result['updates']:,} updates in "
                f"{result['seconds']:.1f} s = {result['rate']:,.0f} updates/s{inside}",
                flush=True,
            )
    test, base = settings
    medians = {s: statistics.median(rates[s]) for s in settings}
    difference = medians[test] / medians[base] - 1
    noise = spread(rates[test])  # identical trials differ this much: the machine's own noise
    what = (
        f"{args.viewers} {'readers' if args.readers else 'headless viewers'}"
        if args.viewers
        else "publishing"
    )
    print(f"load average: {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    for setting in settings:
        print(
            f"{setting:>7}: median {medians[setting]:,.0f} updates/s "
            f"(spread {spread(rates[setting]):.1%} over {len(rates[setting])} trials)"
        )
    verdict = "pass" if abs(difference) <= 0.02 or abs(difference) <= noise else "FAIL"
    print(f"{what}: {difference:+.1%} against {base} (noise {noise:.1%}): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
