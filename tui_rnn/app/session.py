"""The training session: one engine thread drives the run; the UI only sends it requests.

Every touch of the run (updates, samples, checkpoints, exports, parameter copies for the
generator and the gradient check, changes of target and learning rate) happens on the engine
thread, so nothing races and the UI thread never runs NumPy. Requests go into a queue; while
training, the run's slice stops at the next update whenever a request is waiting, the request
is handled, and training continues.

Opening, saving, samples, validation, divergence and changes of target or learning rate are
the run driver's (tui_rnn/run.py, the one `tui-rnn train` uses); this module adds the thread,
the requests and the messages (see messages.py), posted through the `post` callable it is
given, e.g. `Screen.post_message`, which is thread-safe and never blocks.

Checkpoints are written every `save_every` seconds of training, at every sample, on pause, on
request, and when the session shuts down. A new run's directory is made at its first update or
save: launching the app and quitting leaves nothing behind.
"""

from __future__ import annotations

import math
import queue
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from pathlib import Path

from textual.worker import get_current_worker
from threadpoolctl import threadpool_limits

from tui_rnn.app.messages import (
    ChartData,
    Diverged,
    EngineStopped,
    HealthUpdate,
    Notice,
    RunState,
    SampleAdded,
    Status,
    TrainingProgress,
)
from tui_rnn.cells.model import Model
from tui_rnn.charts.curves import Smoother, thin_history
from tui_rnn.driver import Run
from tui_rnn.inspection.passage import model_label
from tui_rnn.safe import files
from tui_rnn.store import export, rundir, samples
from tui_rnn.training.health import HealthMonitor, weights_report
from tui_rnn.training.history import Sample
from tui_rnn.training.options import OptionError
from tui_rnn.training.trainer import DivergenceError, Trainer

GENERATED_FILE = "generated.txt"


@dataclass(frozen=True)
class ChartView:
    """What the chart shows; set by the UI, read by the engine when it prepares ChartData."""

    bins: int = 200  # about half the chart's width in columns (two points per bin)
    window: float = 1.0  # the fraction of the updates shown, newest last (1.0: all)
    loss: bool = False  # send the per-update loss too
    smoothing: float = 0.6  # TensorBoard's EMA weight for the per-update loss (0: raw)


@dataclass(frozen=True)
class ModelCopy:
    """A copy of the current or best parameters, taken between two updates."""

    params: Model
    chars: tuple[str, ...]
    best: bool
    iteration: int  # the update the model is from (the best model's own for best)
    position: int = 0  # where training reads next in the training text (stream 0)

    @property
    def label(self) -> str:
        return model_label(self.best, self.iteration)


class TrainingSession:
    """A run (tui_rnn.run.Run) and the engine thread that drives it."""

    def __init__(
        self,
        run: Run,
        *,
        progress_every: float = 1.0,
        warnings: Sequence[str] = (),
    ):
        self.run = run
        # Status and chart once a second while training: each message is UI work (a chart
        # redraw above all) that shares the GIL with the engine.
        self.progress_every = float(progress_every)
        # What opening the run had to say (a damaged newest checkpoint skipped, carriage
        # returns in the corpus): printed before the app took the screen, so shown again in it.
        self.warnings = tuple(warnings)
        # Replaced (never mutated) by the UI; read by the engine when it prepares the chart.
        self.chart_view = ChartView()
        self.state = RunState.DONE if run.done else RunState.IDLE
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._post: Callable[[object], object] = lambda message: None
        self._rate: float | None = None
        self._elapsed = 0.0  # seconds of training before the current stretch
        self._stretch_started: float | None = None  # monotonic time the current stretch began
        self._smoother: Smoother | None = None
        self._stopped = threading.Event()
        self._quitting = threading.Event()  # set by shutdown: a long sample stops at once
        self._trouble: str | None = None  # training going badly (said once, shown in status)
        self._health = HealthMonitor()  # attached to the trainer while someone watches

    # The run's parts, as the UI reads them.
    @property
    def trainer(self) -> Trainer:
        return self.run.trainer

    @property
    def corpus(self):
        return self.run.corpus

    @property
    def run_dir(self) -> Path:
        return self.run.run_dir

    @property
    def target(self) -> int:
        return self.run.target

    @property
    def save_every(self) -> float:
        return self.run.save_every

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
        """Start or resume training; on a finished run, raise the target first (see
        `more_iterations`)."""
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

    def change_settings(self, target: int | None = None, eta: float | None = None) -> None:
        """A new target (iterations, counting the run's total) and/or learning rate."""
        self.request("settings", target, eta)

    def save_generated(self, text: str) -> None:
        """Append generated text (with its header) to RUN_DIR/generated.txt."""
        self.request("save_generated", text)

    def set_chart_view(self, view: ChartView) -> None:
        self.chart_view = view
        self.request("chart")

    def save_now(self) -> Future:
        """A Future of the run directory, resolved once the state is saved (between two
        updates; training goes on). A new run without an update is left unmade."""
        future: Future = Future()
        self.request("save_now", future)
        return future

    def model_copy(self, best: bool = False) -> Future:
        """A Future of a ModelCopy taken between two updates."""
        future: Future = Future()
        self.request("params", best, future)
        return future

    def watch_health(self, post: Callable[[object], object] | None) -> None:
        """Send HealthUpdate messages through `post` (a few a second while training, and one
        now); None stops them (and the trainer's observer: nothing is measured)."""
        self.request("health", post)

    def shutdown(self) -> Future:
        """Stop training, save the state, end the thread; the Future resolves when saved."""
        future: Future = Future()
        if not self.running:
            future.set_result(None)
            return future
        self._quitting.set()
        self.request("quit", future)
        return future

    def wait_stopped(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    # -- what the UI shows ------------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        """Seconds spent training since the session started."""
        if self._stretch_started is None:
            return self._elapsed
        return self._elapsed + time.monotonic() - self._stretch_started

    def remaining(self) -> float | None:
        """Seconds to the target at the current speed (None while not training)."""
        if self.state != RunState.TRAINING or not self._rate:
            return None
        updates_per_second = self._rate / self.trainer.chars_per_update
        return max(0, self.target - self.trainer.iteration) / updates_per_second

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
            chars_per_second=self._rate if self.state == RunState.TRAINING else None,
            run_dir=str(self.run_dir),
            corpus=getattr(self.corpus, "name", "") or "",
            eta=t.eta,  # the learning rate of the next update, as scheduled
            elapsed=self.elapsed,
            remaining=self.remaining(),
            updates_per_epoch=t.updates_per_epoch,
            val_loss=t.val_loss,
            best_val_loss=t.best_val_loss if t.validating else None,
            seq_length=t.config.seq_length,
            trouble=self._trouble,
        )

    def chart(self) -> ChartData:
        t = self.trainer
        view = self.chart_view
        history = t.history
        points = len(history)
        start = points - max(1, math.ceil(points * view.window)) if view.window < 1 else 0
        start = max(0, start)
        iterations, values = thin_history(history.smooth_loss[start:], view.bins, start)
        loss_x, loss_y = (), ()
        if view.loss and points:
            if self._smoother is None or self._smoother.weight != view.smoothing:
                self._smoother = Smoother(view.smoothing)
            smoothed = self._smoother.smooth(history.loss, source=history)
            x, y = thin_history(smoothed[start:], view.bins, start)
            loss_x, loss_y = x.tolist(), y.tolist()
        return ChartData(
            iterations=iterations.tolist(),
            smooth_loss=values.tolist(),
            epoch_starts=[int(v) for v in history.epoch_starts[1:]],
            best_iteration=t.best_iteration,
            best_smooth_loss=float(t.best_smooth_loss),
            points=points,
            first_iteration=start + 1,
            loss_iterations=loss_x,
            loss=loss_y,
            loss_smoothing=view.smoothing,
            val_iterations=history.val_iterations.astype(float).tolist(),
            val_loss=history.val_loss.tolist(),
            seq_length=t.config.seq_length,
        )

    def _publish(self, chart: bool = True) -> None:
        self._post(TrainingProgress(self.status(), self.chart() if chart else None))

    # -- the engine thread ------------------------------------------------------------------------
    def _run(self) -> None:
        error = None
        try:
            # The run's --threads BLAS threads (one by default), as headless training uses.
            # Set for the whole process, not as a context: the gradient check's own limit
            # contexts then restore this value when they end.
            threadpool_limits(limits=self.trainer.config.threads, user_api="blas")
            self._publish()
            for warning in self.warnings:
                self._warn(warning)
            for sample in samples.read_samples(self.run_dir, limit=200):  # a resumed run's
                self._post(SampleAdded(sample))
            while True:
                if self.state == RunState.TRAINING:
                    self._train_slice()
                    while not self._commands.empty():
                        if not self._handle(*self._commands.get()):
                            return
                elif not self._handle(*self._commands.get()):
                    return
        except BaseException as err:  # report, never die silently
            error = "".join(traceback.format_exception_only(err)).strip()
            self._set_state(RunState.ERROR)
            self._post(Notice(f"the engine stopped: {error}", "error", timeout=30))
            self._publish(chart=False)
        finally:
            self._stopped.set()
            self._answer_pending()
            self._post(EngineStopped(error))

    def _set_state(self, state: RunState) -> None:
        """Change state, keeping the training clock: it runs only while training."""
        now = time.monotonic()
        if self._stretch_started is not None:
            self._elapsed += now - self._stretch_started
            self._stretch_started = None
        if state == RunState.TRAINING:
            self._stretch_started = now
        self.state = state

    def _handle(self, name: str, args: tuple) -> bool:
        """Carry out one request; False means quit."""
        if name == "quit":
            (future,) = args
            try:
                if self.state == RunState.TRAINING:
                    self._set_state(RunState.PAUSED)
                if self.run.created:  # a new run never trained or saved leaves nothing behind
                    self.run.save_if_unsaved()
                self._publish(chart=False)
            finally:
                future.set_result(None)
            return False
        if name == "params":
            best, future = args
            t = self.trainer
            params = t.best_params.copy() if best else t.params.copy()
            iteration = t.best_iteration if best else t.iteration
            future.set_result(ModelCopy(params, t.chars, best, iteration, t.position))
            return True
        handler = getattr(self, f"_do_{name}")
        try:
            handler(*args)
        except (OSError, files.RunError, DivergenceError) as err:
            self._post(Notice(f"{name.replace('_', ' ')} failed: {err}", "error", timeout=15))
        return True

    def _do_train(self) -> None:
        if self.state == RunState.DONE:
            before = self.target
            self.run.extend_target()
            self._follow_target()
            self._post(
                Notice(
                    f"target raised to {self.target:,} updates ({self.target - before:,} more; "
                    "T changes it)",
                    timeout=8,
                )
            )
        if self.state in (RunState.IDLE, RunState.PAUSED) and not self.run.done:
            self._set_state(RunState.TRAINING)
            self._publish(chart=False)

    def _follow_target(self) -> None:
        """After the target moved: done, or ready to train again."""
        if self.run.done and self.state != RunState.ERROR:
            self._set_state(RunState.DONE)
        elif self.state == RunState.DONE:
            self._set_state(RunState.IDLE)

    def _do_settings(self, target: int | None, eta: float | None) -> None:
        changes = []
        if eta is not None and eta != self.trainer.config.eta:
            self.run.set_eta(eta)
            changes.append(f"learning rate {eta:g} from iter {self.trainer.iteration:,}")
        if target is not None and target != self.target:
            try:
                self.run.set_target(iterations=target)
            except OptionError as err:  # training went on after the form checked it
                self._post(Notice(f"{err} (T sets a higher one)", "warning"))
            else:
                self._follow_target()
                changes.append(f"target {self.target:,} updates")
        self._publish(chart=False)
        if changes:
            self._post(Notice("; ".join(changes)))

    def _do_pause(self) -> None:
        if self.state == RunState.TRAINING:
            self._set_state(RunState.PAUSED)
            self.run.save_if_unsaved()
            self._publish()
            self._post(Notice(f"paused at iter {self.trainer.iteration:,}; state saved"))

    def _do_sample(self) -> None:
        sample = replace(self.trainer.synthesize(interrupt=self._quitting.is_set), by_hand=True)
        self.trainer.samples.append(sample)
        self._record_sample(sample)

    def _do_best(self, length: int) -> None:
        sample = self.trainer.synthesize_best(length, interrupt=self._quitting.is_set)
        self._record_sample(sample, show=True)

    def _do_save_now(self, future: Future) -> None:
        try:
            if self.run.created or self.trainer.iteration > 0:
                self.run.save_if_unsaved()
        except BaseException as err:  # the waiting worker says it (and the Notice too)
            future.set_exception(err)
            raise
        future.set_result(self.run_dir)

    def _do_checkpoint(self) -> None:
        path = self.run_dir / rundir.CHECKPOINT_FILE
        if self.run.save_if_unsaved():
            self._post(Notice(f"checkpoint saved: {path} (iter {self.trainer.iteration:,})"))
        else:
            self._post(Notice(f"{path} already holds this state (iter {self.trainer.iteration:,})"))

    def _do_export(self) -> None:
        self.run.create()
        paths = export.export_trainer(self.run_dir, self.trainer)
        # One file a line, by name (a toast wraps a long path mid-word): the directory first.
        names = "\n".join(f"  {path.name}" for path in paths)
        self._post(Notice(f"loss history exported into {self.run_dir}:\n{names}", timeout=10))

    def _do_save_generated(self, text: str) -> None:
        data = text.encode("utf-8")
        self.run.create()  # saving into the run: it exists from now on
        size = files.append_run_file(self.run_dir, GENERATED_FILE, data)
        path = self.run_dir / GENERATED_FILE
        self._post(Notice(f"appended {len(data):,} bytes to {path} (now {size:,})", timeout=8))

    def _do_chart(self) -> None:
        self._publish()

    def _do_health(self, post: Callable[[object], object] | None) -> None:
        monitor, trainer = self._health, self.trainer
        if post is None:
            monitor.detach(trainer)
            monitor.publish = None
            return

        def publish(report) -> None:
            post(HealthUpdate(report))

        monitor.publish = publish
        monitor.attach(trainer)
        # The newest measured update (its iteration says how old), else the weights alone.
        post(HealthUpdate(monitor.latest or weights_report(trainer.model, trainer.iteration)))

    def _record_sample(self, sample: Sample, show: bool = False) -> None:
        self.run.record_sample(sample)  # saved at once: it moved the random generator
        self._show_sample(sample, show)

    def _show_sample(self, sample: Sample, show: bool = False) -> None:
        self._post(SampleAdded(sample, show))
        self._publish(chart=False)  # the status line catches up with the sample's iteration

    def _train_slice(self) -> None:
        """Train until a request arrives, a checkpoint falls due, or the target is reached."""
        commands = self._commands

        def on_progress(progress) -> None:
            self._rate = progress.chars_per_second
            self._publish()

        try:
            self.run.train_slice(
                should_stop=lambda: not commands.empty(),
                interrupt=self._quitting.is_set,
                on_sample=self._show_sample,
                on_progress=on_progress,
                on_validation=lambda loss: self._publish(),
                progress_every=self.progress_every,
            )
        except DivergenceError as err:
            self._recover(err)
            return
        trouble = self.run.trouble()
        if trouble:
            self._trouble = trouble
            self._post(Notice(trouble, "warning", timeout=30))
            self._publish(chart=False)
        if self.run.time_up:  # the time limit ran out before its target: spent, t trains on
            self.run.time_up = False
            self._set_state(RunState.PAUSED)
            self._publish()
            self._post(
                Notice(
                    f"time limit reached at iter {self.trainer.iteration:,} of "
                    f"{self.target:,}; state saved (t trains the rest)",
                    "warning",
                    timeout=15,
                )
            )
        elif self.run.done:
            self._set_state(RunState.DONE)
            self._publish()
            self._post(
                Notice(f"training done: {self.trainer.iteration:,} updates (t goes on)", timeout=10)
            )

    def _warn(self, message: str) -> None:
        self._post(Notice(message, "warning", timeout=30))

    def _recover(self, err: DivergenceError) -> None:
        """Back to the last good checkpoint, paused, with advice."""
        try:
            self.run.restore_last_good(warn=self._warn)
        except (files.RunError, KeyError, ValueError) as load_error:
            self._set_state(RunState.ERROR)
            self._publish()
            self._post(Diverged(f"{err}. Could not restore a checkpoint: {load_error}"))
            return
        self._set_state(RunState.PAUSED)
        self._publish()
        eta = self.trainer.base_eta
        self._post(
            Diverged(
                f"Training diverged at iteration {err.iteration:,} (loss = {err.loss}). "
                f"Restored the last good checkpoint (iteration {self.trainer.iteration:,}) and "
                f"paused. Lower the learning rate: press T and set it to {eta / 10:g} "
                f"(now {eta:g}), then t; t alone retries with the same settings."
            )
        )


MODEL_TIMEOUT = 30.0  # seconds a worker waits for the engine's copy of the model


def wait_for_model(future: Future) -> ModelCopy | None:
    """The engine's answer, or None if the worker was cancelled meanwhile (quitting)."""
    worker = get_current_worker()
    deadline = time.monotonic() + MODEL_TIMEOUT
    while not worker.is_cancelled:
        try:
            return future.result(timeout=0.05)
        except FutureTimeout:
            if time.monotonic() > deadline:
                raise TimeoutError("the model did not answer (the engine is busy)") from None
    return None
