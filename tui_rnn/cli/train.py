"""`tui-rnn train`, the app launcher and `tui-rnn watch`: the commands that open a run through
the run driver (new, or resumed with --resume), and the one that follows a run trained
elsewhere, read-only.

`cmd_train` owns the signals and the loop, and turns what stops training early into one line;
what a person watching sees is the Reporter's (cli/reporter.py). The app, and Textual with it,
is imported only when it is launched.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from types import FrameType

from threadpoolctl import threadpool_limits

from tui_rnn.cli.common import UsageError, output_error, print_error, print_warning, say
from tui_rnn.cli.reporter import Reporter, summary
from tui_rnn.driver import Run, RunRequest, Warn
from tui_rnn.safe import files
from tui_rnn.store import checkpoint, live
from tui_rnn.store.rundir import resolve_run_dir
from tui_rnn.training.options import given
from tui_rnn.training.trainer import DivergenceError

# SIGINT / SIGTERM / SIGHUP (the terminal closed, the ssh connection dropped; none on Windows):
# finish the update, save, exit.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM) + (
    (signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()
)


class TrainingStopped(UsageError):
    """Training stopped early (divergence, a full disk, a failing stdout); the run is kept."""


def run_request(args: argparse.Namespace) -> RunRequest:
    """What the command line asked for, as the run driver takes it."""
    return RunRequest(
        corpus=args.corpus,
        encoding=args.encoding,
        options=given(args),
        preset=args.preset,
        iterations=args.iterations,
        epochs=args.epochs,
        run_dir=args.run_dir,
        resume=None if args.resume is None else str(resolve_run_dir(args.resume)),
        save_every=args.save_every,
        time_limit=args.time_limit,
        started=getattr(args, "started", None),
        publish_every=args.publish_every,
    )


def open_run(args: argparse.Namespace, warn: Warn | None = None, lazy: bool = False) -> Run:
    """The run the command line asks for: new, or resumed with --resume.

    `warn(message)` hears non-fatal news, such as a damaged newest checkpoint that was skipped
    or carriage returns in a new corpus (default: stderr); the app collects them to show them
    in its window.
    """
    return Run.open(run_request(args), warn or print_warning, lazy=lazy)


def limit_blas_threads(threads: int = 1) -> threadpool_limits:
    """The run's --threads BLAS threads (one by default: at m = 100 the matrices are too small
    for a second thread to pay off)."""
    return threadpool_limits(limits=threads, user_api="blas")


def cmd_train(args: argparse.Namespace) -> int:
    """Train headless. Saves every --save-every seconds, at every sample, on SIGINT / SIGTERM /
    SIGHUP and at the end; a divergence or a failed write stops it with the last good checkpoint
    kept."""
    stop_signal: list[int] = []  # the signal that asked us to stop, if any

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_signal.append(signum)

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS} if in_main_thread else {}
    try:
        run = open_run(args)
        try:
            return train_run(run, stop_signal, as_json=args.json)
        finally:
            run.close()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def train_run(run: Run, stop_signal: list[int], as_json: bool) -> int:
    """Train `run` to its target or until a signal arrives in `stop_signal`; the exit code."""
    trainer = run.trainer
    if run.done:
        print_error(stopped_early(run) if trainer.stopped_early else past_target(run))
    started = time.perf_counter()
    start_iteration = trainer.iteration
    reporter = Reporter(trainer, run.target, as_json)
    failure = None
    try:
        with reporter, limit_blas_threads(trainer.config.threads):
            while not run.done and not stop_signal:
                run.train_slice(
                    interrupt=lambda: bool(stop_signal),
                    on_sample=reporter.sample,
                    on_progress=reporter.progress,
                    on_validation=reporter.validation,
                )
                trouble = run.trouble()
                if trouble:
                    reporter.say(f"warning: {trouble}", "yellow")
                if run.time_up:
                    reporter.say(out_of_time(run), "yellow")
                    break
            run.save_if_unsaved()
    except DivergenceError as err:
        failure = diverged(run, err)
    except files.RunWriteError as err:  # a run file, or stdout (files.OutputError)
        failure = str(err)
    except OSError as err:  # stdout failed inside rich: the run itself is fine, keep it
        run.save_if_unsaved()
        reason = f"{files.describe(err)}; the run is saved in {run.run_dir}"
        raise output_error(reason) from None
    except MemoryError:  # the machine's memory is shared: the estimate before training passed
        failure = out_of_memory(run)
    if failure is not None:
        run.publish(live.FAILED, failure)
        raise TrainingStopped(failure)
    seconds = time.perf_counter() - started
    updates = trainer.iteration - start_iteration
    if trainer.stopped_early and updates:
        reporter.say(early_stop(run))
    reporter.finish(summary(run, seconds, updates, interrupted=bool(stop_signal)))
    return 128 + stop_signal[0] if stop_signal else 0


def out_of_time(run: Run) -> str:
    trainer = run.trainer
    return (
        f"time limit reached at update {trainer.iteration:,} of {run.target:,} (this machine "
        f"ran slower than measured): saved in {run.run_dir}; tui-rnn train --resume "
        f"{run.run_dir} trains the rest"
    )


def early_stop(run: Run) -> str:
    trainer = run.trainer
    return (
        f"stopped early at update {trainer.iteration:,} of {run.target:,}: no better "
        f"validation loss in {trainer.config.patience} evaluations (--patience)"
    )


def stopped_early(run: Run) -> str:
    trainer = run.trainer
    return (
        f"tui-rnn: {run.run_dir} stopped early at iteration {trainer.iteration:,} (no better "
        f"validation loss in {trainer.config.patience} evaluations): to train further give "
        f"a larger patience, e.g. tui-rnn train --resume {run.run_dir} --patience "
        f"{2 * (trainer.config.patience or 1)}"
    )


def past_target(run: Run) -> str:
    trainer = run.trainer
    more = trainer.iteration + max(1, round(2 * trainer.updates_per_epoch))
    where = "at" if trainer.iteration == run.target else "past"
    return (
        f"tui-rnn: {run.run_dir} is already at iteration {trainer.iteration:,}, {where} its "
        f"target {run.target:,}: to train further give the new total, e.g. tui-rnn train "
        f"--resume {run.run_dir} --iterations {more}"
    )


def diverged(run: Run, err: DivergenceError) -> str:
    # Nothing after the last checkpoint is saved: on disk the run stays at its last good state
    # (the parameters in memory may already be huge or infinite).
    last_good = checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run.run_dir))
    eta = run.trainer.config.eta
    assert eta is not None  # TrainConfig fills it in from the optimizer
    return (
        f"training diverged at iteration {err.iteration} (loss = {err.loss:.3g}) with "
        f"eta = {eta:g}; the run is kept at its last good checkpoint (iteration "
        f"{last_good}) in {run.run_dir}: continue with a smaller learning rate, e.g. "
        f"tui-rnn train --resume {run.run_dir} --eta {eta / 10:g}"
    )


def out_of_memory(run: Run) -> str:
    last_good = checkpoint.checkpoint_iteration(checkpoint.load_checkpoint(run.run_dir))
    return (
        f"out of memory at iteration {run.trainer.iteration + 1}; the run is kept at its last "
        f"checkpoint (iteration {last_good}) in {run.run_dir}: free some memory and resume it, "
        "or start a run with a smaller --batch, --seq-length or --hidden"
    )


def cmd_app(args: argparse.Namespace) -> int:
    """The app on the run the command line asks for; after it exits, where the run is."""
    # Textual loads only for the app: headless commands start ~0.3 s sooner without it.
    from tui_rnn.app import TrainingSession, TuiRnnApp

    warnings: list[str] = []

    def warn(message: str) -> None:  # seen now (and after the app exits), and in the app
        warnings.append(message)
        print_warning(message)

    run = open_run(args, warn=warn, lazy=True)  # made at the first update or save
    try:
        return run_app(TuiRnnApp(TrainingSession(run, warnings=warnings)))
    finally:
        run.close()


def cmd_watch(args: argparse.Namespace) -> int:
    """The app, read-only, on a run another process trains (or trained): it follows what the
    trainer publishes. No lock is taken and nothing is written into the run."""
    from tui_rnn.app import TuiRnnApp, WatchSession  # Textual only for the app (see cmd_app)

    run_dir = resolve_run_dir(args.run_dir)
    session = WatchSession.open(
        run_dir, corpus=args.corpus, encoding=args.encoding, output=args.output
    )
    return run_app(TuiRnnApp(session))


def run_app(app) -> int:
    """Run the app; after it exits, where the run it ends on is (the runs screen and `t` on a
    watched run switch runs)."""
    try:
        app.run()
    finally:
        app.session.close()  # the run open at the end: its lock released, if it held one
    session = app.session
    if app.engine_error:
        print_error(f"tui-rnn: error: {app.engine_error}")
        return 1
    if session.watching:  # a watched run: nothing of it to save or say but where it is
        if app.return_code:  # an unhandled exception: Textual has shown its traceback
            print_error("tui-rnn: error: the app stopped on an unexpected error (above)")
            return 1
        say(f"watched {session.run_dir}; nothing was written into it")
        return 0
    run = session.run
    if app.return_code:  # an unhandled exception: Textual has shown its traceback
        saved = (
            f"; the run is saved in {run.run_dir}: continue with tui-rnn --resume {run.run_dir}"
            if run.created
            else ""
        )
        print_error(f"tui-rnn: error: the app stopped on an unexpected error (above){saved}")
        return 1
    if not run.created:
        say("nothing was trained or saved, so no run directory was made")
        return 0
    state = "done" if run.done else "saved"
    say(
        f"{state} at iter {run.trainer.iteration:,} in {run.run_dir}; continue with: "
        f"tui-rnn --resume {run.run_dir}" + (" (t trains on past the target)" if run.done else "")
    )
    return 0
