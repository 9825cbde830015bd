"""The training session: one engine thread owns the Trainer; the UI only sends it requests.

Every touch of the trainer (updates, samples, checkpoints, exports, parameter copies for the
generator) happens on the engine thread, so nothing races and the UI thread never runs NumPy.
Requests go into a queue; while training, `Trainer.train` stops at the next update whenever a
request is waiting (its `should_stop`), the request is handled, and training continues.

The engine posts messages (see messages.py) through the `post` callable it is given, e.g.
`App.post_message`, which is thread-safe and never blocks.

Checkpoints are written every `save_every` seconds of training, at every sample, on pause, on
request, and when the session shuts down.
"""

from __future__ import annotations

import math
import queue
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path

import numpy as np

from .. import runs
from ..train import DivergenceError, Sample, Trainer
from .messages import (
    ChartData,
    Diverged,
    EngineStopped,
    Notice,
    SampleAdded,
    Status,
    TrainingProgress,
)

IDLE, TRAINING, PAUSED, DONE, ERROR = "idle", "training", "paused", "done", "error"


def thin_history(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(iterations, values) with at most 2 * bins points: each bin's minimum and maximum.

    Keeping both extremes (in their original order) means no peak or dip disappears, and the
    best point of the curve is always among the points drawn. Iterations are 1-based.
    """
    n = len(values)
    if n <= 2 * bins:
        return np.arange(1, n + 1, dtype=np.float64), values.astype(np.float64)
    per_bin = n // bins
    used = per_bin * bins
    blocks = values[:used].reshape(bins, per_bin)
    starts = np.arange(bins) * per_bin
    low = starts + blocks.argmin(axis=1)
    high = starts + blocks.argmax(axis=1)
    index = np.sort(np.concatenate([low, high, [n - 1]]))  # always end at the newest update
    index = index[np.concatenate([[True], np.diff(index) > 0])]
    return (index + 1).astype(np.float64), values[index].astype(np.float64)


def export_history(run_dir: Path, trainer: Trainer) -> list[Path]:
    """Write the loss history as CSV and JSON into the run directory; return the paths."""
    from .. import export

    config = runs.read_config(run_dir)
    return [
        export.export_history(trainer, export.default_output(run_dir, fmt), fmt, config=config)
        for fmt in ("csv", "json")
    ]


class TrainingSession:
    """A trainer, its corpus and run directory, and the engine thread that drives them."""

    def __init__(
        self,
        trainer: Trainer,
        corpus,
        run_dir: str | Path,
        target: int,
        *,
        save_every: float = 10.0,
        progress_every: float = 0.5,
        warnings: Sequence[str] = (),
    ):
        self.trainer = trainer
        self.corpus = corpus
        self.run_dir = Path(run_dir)
        self.target = int(target)
        self.save_every = float(save_every)
        self.progress_every = float(progress_every)
        # What opening the run had to say (a damaged newest checkpoint skipped, carriage
        # returns in the corpus): printed before the app took the screen, so shown again in it.
        self.warnings = tuple(warnings)
        # Written by the UI on resize; read by the engine when it thins the history.
        self.chart_bins = 200
        self.state = DONE if trainer.iteration >= self.target else IDLE
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._post: Callable[[object], object] = lambda message: None
        self._next_save = math.inf
        self._rate: float | None = None
        self._stopped = threading.Event()
        # The state on disk is the trainer's unless this is set (avoid saving the same state
        # twice: the second save would push the previous good checkpoint out).
        self._unsaved = False

    # -- requests (any thread) --------------------------------------------------------------------
    def start(self, post: Callable[[object], object]) -> None:
        """Start the engine thread; it posts an initial status and chart right away."""
        self._post = post
        self._thread = threading.Thread(target=self._run, name="tui-rnn engine", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def request(self, name: str, *args) -> None:
        self._commands.put((name, args))
        if self._stopped.is_set():  # too late: nobody will serve it, so nobody may wait on it
            self._answer_pending()

    def _answer_pending(self) -> None:
        """Resolve the futures of requests the stopped engine will never serve."""
        while True:
            try:
                name, args = self._commands.get_nowait()
            except queue.Empty:
                return
            for future in args:
                if isinstance(future, Future) and not future.done():
                    if name == "quit":
                        future.set_result(None)
                    else:
                        future.set_exception(RuntimeError("the engine has stopped"))

    def train(self) -> None:
        self.request("train")

    def pause(self) -> None:
        self.request("pause")

    def sample(self) -> None:
        self.request("sample")

    def best_sample(self, length: int = 1000) -> None:
        self.request("best", length)

    def checkpoint(self) -> None:
        self.request("checkpoint")

    def export(self) -> None:
        self.request("export")

    def set_chart_bins(self, bins: int) -> None:
        self.chart_bins = max(10, int(bins))
        self.request("chart")

    def model_copy(self, best: bool = False) -> Future:
        """A Future of (Params copy, vocabulary) taken between two updates."""
        future: Future = Future()
        self.request("params", best, future)
        return future

    def shutdown(self) -> Future:
        """Stop training, save the state, end the thread; the Future resolves when saved."""
        future: Future = Future()
        if not self.running:
            future.set_result(None)
            return future
        self.request("quit", future)
        return future

    def wait_stopped(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    # -- what the UI shows ------------------------------------------------------------------------
    def status(self) -> Status:
        t = self.trainer
        return Status(
            state=self.state,
            iteration=t.iteration,
            target=self.target,
            epoch=t.epoch,
            smooth_loss=t.smooth_loss,
            best_smooth_loss=t.best_smooth_loss,
            best_iteration=t.best_iteration,
            chars_per_second=self._rate if self.state == TRAINING else None,
            run_dir=str(self.run_dir),
        )

    def chart(self) -> ChartData:
        t = self.trainer
        iterations, values = thin_history(t.history.smooth_loss, self.chart_bins)
        return ChartData(
            iterations=iterations.tolist(),
            smooth_loss=values.tolist(),
            epoch_starts=[int(v) for v in t.history.epoch_starts[1:]],
            best_iteration=t.best_iteration,
            best_smooth_loss=float(t.best_smooth_loss),
            points=len(t.history),
        )

    def _publish(self, chart: bool = True) -> None:
        self._post(TrainingProgress(self.status(), self.chart() if chart else None))

    # -- the engine thread ------------------------------------------------------------------------
    def _run(self) -> None:
        error = None
        try:
            from threadpoolctl import threadpool_limits

            # One BLAS thread, as headless training uses (the matrices are small). Set for the
            # whole process, not as a context: the gradient check's own limit contexts then
            # restore this value when they end.
            threadpool_limits(limits=1, user_api="blas")
            self._publish()
            for warning in self.warnings:
                self._warn(warning)
            for sample in runs.read_samples(self.run_dir, limit=200):  # a resumed run's
                self._post(SampleAdded(sample))
            while True:
                if self.state == TRAINING:
                    self._train_slice()
                    while not self._commands.empty():
                        if not self._handle(*self._commands.get()):
                            return
                elif not self._handle(*self._commands.get()):
                    return
        except BaseException as err:  # report, never die silently
            error = "".join(traceback.format_exception_only(err)).strip()
            self.state = ERROR
            self._post(Notice(f"the engine stopped: {error}", "error", timeout=30))
            self._publish(chart=False)
        finally:
            self._stopped.set()
            self._answer_pending()
            self._post(EngineStopped(error))

    def _handle(self, name: str, args: tuple) -> bool:
        """Carry out one request; False means quit."""
        if name == "quit":
            (future,) = args
            try:
                if self.state == TRAINING:
                    self.state = PAUSED
                self._save_if_unsaved()
                self._publish(chart=False)
            finally:
                future.set_result(None)
            return False
        if name == "params":
            best, future = args
            params = self.trainer.best_params.copy() if best else self.trainer.params.copy()
            future.set_result((params, self.trainer.chars))
            return True
        handler = getattr(self, f"_do_{name}")
        try:
            handler(*args)
        except (OSError, runs.RunError, DivergenceError) as err:
            self._post(Notice(f"{name} failed: {err}", "error", timeout=15))
        return True

    def _do_train(self) -> None:
        if self.state in (IDLE, PAUSED) and self.trainer.iteration < self.target:
            self.state = TRAINING
            self._next_save = time.monotonic() + self.save_every
            self._publish(chart=False)

    def _do_pause(self) -> None:
        if self.state == TRAINING:
            self.state = PAUSED
            self._save_if_unsaved()
            self._publish()
            self._post(Notice(f"paused at iter {self.trainer.iteration:,}; state saved"))

    def _do_sample(self) -> None:
        sample = self.trainer.synthesize()
        self.trainer.samples.append(sample)
        self._record_sample(sample)

    def _do_best(self, length: int) -> None:
        self._record_sample(self.trainer.synthesize_best(length), show=True)

    def _do_checkpoint(self) -> None:
        path = self.run_dir / runs.CHECKPOINT_FILE
        if self._save_if_unsaved():
            self._post(Notice(f"checkpoint saved: {path} (iter {self.trainer.iteration:,})"))
        else:
            self._post(Notice(f"{path} already holds this state (iter {self.trainer.iteration:,})"))

    def _do_export(self) -> None:
        paths = export_history(self.run_dir, self.trainer)
        self._post(Notice("loss history exported: " + ", ".join(str(p) for p in paths), timeout=10))

    def _do_chart(self) -> None:
        self._publish()

    def _save(self) -> Path:
        self._next_save = time.monotonic() + self.save_every
        path = runs.save_checkpoint(self.run_dir, self.trainer)
        self._unsaved = False
        return path

    def _save_if_unsaved(self) -> bool:
        if self._unsaved:
            self._save()
            return True
        self._next_save = time.monotonic() + self.save_every
        return False

    def _record_sample(self, sample: Sample, show: bool = False) -> None:
        # Saved at once: the sample moved the random generator and grew samples.txt.
        runs.append_sample(self.run_dir, sample)
        self._save()
        self._post(SampleAdded(sample, show))
        self._publish(chart=False)  # the status line catches up with the sample's iteration

    def _train_slice(self) -> None:
        """Train until a request arrives, a checkpoint falls due, or the target is reached."""
        commands = self._commands

        def should_stop() -> bool:
            return not commands.empty() or time.monotonic() >= self._next_save

        def on_progress(progress) -> None:
            self._rate = progress.chars_per_second
            self._unsaved = True
            self._publish()

        try:
            self.trainer.train(
                self.target,
                should_stop=should_stop,
                on_sample=self._record_sample,
                on_progress=on_progress,
                progress_every=self.progress_every,
            )
        except DivergenceError as err:
            self._recover(err)
            return
        self._unsaved = True
        if self.trainer.iteration >= self.target:
            self.state = DONE
            self._save()
            self._publish()
            self._post(Notice(f"training done: {self.trainer.iteration:,} updates", timeout=10))
        elif time.monotonic() >= self._next_save:
            self._save()

    def _warn(self, message: str) -> None:
        self._post(Notice(message, "warning", timeout=30))

    def _recover(self, err: DivergenceError) -> None:
        """Back to the last good checkpoint, paused, with advice."""
        try:
            runs.restore_into(self.trainer, self.run_dir, warn=self._warn)
            self._unsaved = False
        except (runs.RunError, KeyError, ValueError) as load_error:
            self.state = ERROR
            self._publish()
            self._post(Diverged(f"{err}. Could not restore a checkpoint: {load_error}"))
            return
        self.state = PAUSED
        self._publish()
        eta = self.trainer.config.eta
        self._post(
            Diverged(
                f"Training diverged at iteration {err.iteration:,} (loss = {err.loss}). "
                f"Restored the last good checkpoint (iteration {self.trainer.iteration:,}) and "
                f"paused. Lower the learning rate: quit (ctrl+q) and run "
                f"tui-rnn --resume {self.run_dir} --eta {eta / 10:g} (now {eta:g}); "
                f"pressing t retries with the same settings."
            )
        )
