"""The training session: one engine thread drives the run; the UI only sends it requests.

Every touch of the run (updates, samples, checkpoints, exports, model copies, new targets and
learning rates) happens on the engine thread, so nothing races and the UI thread never runs
NumPy. Requests (requests.py) are queued and dispatched by type; while training, the run's
slice stops at the next update whenever one is waiting. What is done to the run is the driver's
(tui_rnn/driver.py, as `tui-rnn train` uses it); this module adds the thread, the requests and
the messages, posted through the `post` callable it is given (e.g. `Screen.post_message`:
thread-safe, never blocking). The state is saved every `save_every` seconds of training, at
every sample, on pause, on request and on shutdown; a new run's directory appears at its first
update or save, so launching the app and quitting leaves nothing behind.
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
from typing import TypeVar, assert_never

from textual.message import Message
from textual.worker import get_current_worker
from threadpoolctl import threadpool_limits

from tui_rnn.app.messages import (
    ChartData,
    Diverged,
    EngineStopped,
    GeneratedSaved,
    HealthUpdate,
    Notice,
    RunState,
    SampleAdded,
    Status,
    TrainingProgress,
)
from tui_rnn.app.requests import (
    BestSample,
    ChangeSettings,
    ChartView,
    Checkpoint,
    Command,
    CopyModel,
    EngineRequest,
    Export,
    ModelCopy,
    Pause,
    Quit,
    SampleNow,
    SaveGenerated,
    SaveNow,
    SetChartView,
    Train,
    WatchHealth,
)
from tui_rnn.charts.curves import Smoother, thin_history
from tui_rnn.driver import Run
from tui_rnn.safe import files
from tui_rnn.store import export, live, rundir, samples
from tui_rnn.training.corpus import Corpus
from tui_rnn.training.health import HealthMonitor, HealthReport, weights_report
from tui_rnn.training.history import (
    SMOOTH_LOSS_WEIGHT,
    LossHistory,
    Progress,
    Sample,
    debiased_smooth_loss,
)
from tui_rnn.training.options import OptionError
from tui_rnn.training.trainer import DivergenceError, Trainer

GENERATED_FILE = "generated.txt"
# What viewers of the run are told the app is doing (store/live.py).
LIVE_STATES = {
    RunState.IDLE: live.PAUSED,
    RunState.TRAINING: live.TRAINING,
    RunState.PAUSED: live.PAUSED,
    RunState.DONE: live.FINISHED,
    RunState.ERROR: live.FAILED,
}


class EngineThread:
    """What the app talks to on a session's own thread: typed requests (requests.py) queued and
    served in order, each Future answered, even those left when the thread has stopped."""

    STOPPED = "the engine has stopped"  # why a request left unserved failed

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[EngineRequest] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._post: Callable[[Message], object] = lambda message: None
        self._stopped = threading.Event()
        self._quitting = threading.Event()  # set by shutdown: a long sample stops at once

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def closing(self) -> bool:
        """Shutting down (or shut down): the session takes no new work."""
        return self._quitting.is_set()

    def request(self, request: EngineRequest) -> None:
        """Queue a request for the thread (see requests.py); it is handled in order."""
        self._requests.put(request)
        if self._stopped.is_set():  # too late: nobody will serve it, so nobody may wait on it
            self._answer_pending()

    def model_copy(self, best: bool = False) -> Future[ModelCopy]:
        """A Future of a ModelCopy taken between two requests."""
        answer: Future[ModelCopy] = Future()
        self.request(CopyModel(best, answer))
        return answer

    def shutdown(self) -> Future[None]:
        """Stop the thread (a session that trains saves first); the Future resolves then."""
        self._quitting.set()
        answer: Future[None] = Future()
        if not self.running:
            answer.set_result(None)
            return answer
        self.request(Quit(answer))
        return answer

    def _answer_pending(self) -> None:
        """Resolve the futures of requests the stopped thread will never serve."""
        while True:
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                return
            match request:
                case Quit(answer=answer) if not answer.done():
                    answer.set_result(None)
                case SaveNow(answer=answer) | CopyModel(answer=answer) if not answer.done():
                    answer.set_exception(RuntimeError(self.STOPPED))


class TrainingSession(EngineThread):
    """A run (tui_rnn.driver.Run) and the engine thread that drives it."""

    watching = False

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
        # Replaced (never mutated) when a SetChartView is handled; read when the chart is made.
        self.chart_view = ChartView()
        self.state = RunState.DONE if run.done else RunState.IDLE
        super().__init__()
        self._rate: float | None = None
        self._elapsed = 0.0  # seconds of training before the current stretch
        self._stretch_started: float | None = None  # monotonic time the current stretch began
        self._smoothers = ChartSmoothers()
        self._trouble: str | None = None  # training going badly (said once, shown in status)
        self._health = HealthMonitor()  # attached to the trainer while someone watches

    # The run's parts, as the UI reads them.
    @property
    def trainer(self) -> Trainer:
        return self.run.trainer

    @property
    def corpus(self) -> Corpus:
        corpus = self.run.corpus
        assert corpus is not None, "the app opens runs with their corpus"
        return corpus

    @property
    def run_dir(self) -> Path:
        return self.run.run_dir

    @property
    def on_disk(self) -> bool:
        return self.run.created

    def close(self) -> None:
        """Say how training ended to the run's viewers and release its lock."""
        self.run.close()

    def read_only(self, action: str) -> str | None:
        """Why a key cannot act (only a watched run refuses any): never, here."""
        return None

    @property
    def report_output(self) -> Path | None:
        return None  # the report goes into the run (RUN_DIR/report)

    @property
    def target(self) -> int:
        return self.run.target

    @property
    def save_every(self) -> float:
        return self.run.save_every

    @property
    def eta(self) -> float:
        """The learning rate (never None once TrainConfig has checked itself)."""
        eta = self.trainer.config.eta
        assert eta is not None
        return eta

    # -- requests (any thread) --------------------------------------------------------------------
    def start(self, post: Callable[[Message], object]) -> None:
        """Start the engine thread; it posts an initial status and chart right away."""
        self._post = post
        self._thread = threading.Thread(target=self._run, name="tui-rnn engine", daemon=True)
        self._thread.start()

    def save_now(self) -> Future[Path]:
        """A Future of the run directory, resolved once the state is saved (between two
        updates; training goes on). A new run without an update is left unmade."""
        answer: Future[Path] = Future()
        self.request(SaveNow(answer))
        return answer

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

    @property
    def per_char(self) -> bool:
        """Whether the run's losses are shown per character (see Status.per_char)."""
        t = self.trainer
        return t.validating or t.config.batch_size > 1

    def status(self) -> Status:
        t = self.trainer
        train_loss = None
        if self.per_char:
            chunk = debiased_smooth_loss(t.smooth_loss, t.initial_smooth_loss, t.iteration)
            train_loss = chunk / t.config.seq_length
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
            corpus=self.corpus.name,
            eta=t.base_eta,
            current_eta=t.eta,
            elapsed=self.elapsed,
            remaining=self.remaining(),
            updates_per_epoch=t.updates_per_epoch,
            val_loss=t.val_loss,
            best_val_loss=t.best_val_loss if t.validating else None,
            seq_length=t.config.seq_length,
            trouble=self._trouble,
            per_char=self.per_char,
            train_loss=train_loss,
        )

    def chart(self) -> ChartData:
        t = self.trainer
        return chart_data(
            t.history,
            self.chart_view,
            self._smoothers,
            t.best_iteration,
            t.best_smooth_loss,
            t.config.seq_length,
            self.per_char,
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
            self.run.publish(LIVE_STATES[self.state])  # the run's viewers: what the app does
            self._publish()
            for warning in self.warnings:
                self._warn(warning)
            for sample in samples.read_samples(self.run_dir, limit=200):  # a resumed run's
                self._post(SampleAdded(sample))
            while True:
                if self.state == RunState.TRAINING:
                    self._train_slice()
                    while not self._requests.empty():
                        if not self._handle(self._requests.get()):
                            return
                elif not self._handle(self._requests.get()):
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
        """Change state, keeping the training clock (it runs only while training), and tell
        the run's viewers (this process holds the run: idle and paused are both paused)."""
        now = time.monotonic()
        if self._stretch_started is not None:
            self._elapsed += now - self._stretch_started
            self._stretch_started = None
        if state == RunState.TRAINING:
            self._stretch_started = now
        self.state = state
        self.run.publish(LIVE_STATES[state])  # and training goes on publishing as it goes

    def _handle(self, request: EngineRequest) -> bool:
        """Carry out one request; False means quit."""
        match request:
            case Quit(answer):
                try:
                    if self.state == RunState.TRAINING:
                        self._set_state(RunState.PAUSED)
                    if self.run.created:  # a new run never trained or saved leaves nothing
                        self.run.save_if_unsaved()
                    self._publish(chart=False)
                finally:
                    answer.set_result(None)
                return False
            case CopyModel(best, answer):
                t = self.trainer
                params = t.best_params.copy() if best else t.params.copy()
                iteration = t.best_iteration if best else t.iteration
                answer.set_result(ModelCopy(params, t.chars, best, iteration, t.position))
            case _:
                try:
                    self._carry_out(request)
                except (OSError, files.RunError, DivergenceError) as err:
                    self._post(Notice(f"{request.what} failed: {err}", "error", timeout=15))
        return True

    def _carry_out(self, command: Command) -> None:
        match command:
            case Train():
                self._train()
            case Pause():
                self._pause()
            case SampleNow():
                self._sample_now()
            case BestSample(length):
                self._best_sample(length)
            case Checkpoint():
                self._checkpoint()
            case Export():
                self._export()
            case ChangeSettings(target, eta):
                self._change_settings(target, eta)
            case SaveGenerated(text):
                self._save_generated(text)
            case SetChartView(view):
                self.chart_view = view
                self._publish()
            case WatchHealth(post):
                self._watch_health(post)
            case SaveNow(answer):
                self._save_now(answer)
            case _:
                assert_never(command)

    def _train(self) -> None:
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

    def _change_settings(self, target: int | None, eta: float | None) -> None:
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

    def _pause(self) -> None:
        if self.state == RunState.TRAINING:
            self._set_state(RunState.PAUSED)
            self.run.save_if_unsaved()
            self._publish()
            self._post(Notice(f"paused at iter {self.trainer.iteration:,}; state saved"))

    def _sample_now(self) -> None:
        sample = replace(self.trainer.synthesize(interrupt=self._quitting.is_set), by_hand=True)
        self.trainer.samples.append(sample)
        self._record_sample(sample)

    def _best_sample(self, length: int) -> None:
        sample = self.trainer.synthesize_best(length, interrupt=self._quitting.is_set)
        self._record_sample(sample, show=True)

    def _save_now(self, answer: Future[Path]) -> None:
        try:
            if self.run.created or self.trainer.iteration > 0:
                self.run.save_if_unsaved()
        except BaseException as err:  # the waiting worker says it (and the Notice too)
            answer.set_exception(err)
            raise
        answer.set_result(self.run_dir)

    def _checkpoint(self) -> None:
        path = self.run_dir / rundir.CHECKPOINT_FILE
        if self.run.save_if_unsaved():
            self._post(Notice(f"checkpoint saved: {path} (iter {self.trainer.iteration:,})"))
        else:
            self._post(Notice(f"{path} already holds this state (iter {self.trainer.iteration:,})"))

    def _export(self) -> None:
        self.run.create()
        paths = export.export_trainer(self.run_dir, self.trainer)
        # One file a line, by name (a toast wraps a long path mid-word): the directory first.
        names = "\n".join(f"  {path.name}" for path in paths)
        self._post(Notice(f"loss history exported into {self.run_dir}:\n{names}", timeout=10))

    def _save_generated(self, text: str) -> None:
        data = text.encode("utf-8")
        self.run.create()  # saving into the run: it exists from now on
        size = files.append_run_file(self.run_dir, GENERATED_FILE, data)
        path = self.run_dir / GENERATED_FILE
        self._post(Notice(f"appended {len(data):,} bytes to {path} (now {size:,})", timeout=8))
        self._post(GeneratedSaved(str(path), size))

    def _watch_health(self, post: Callable[[HealthUpdate], object] | None) -> None:
        monitor, trainer = self._health, self.trainer
        if post is None:
            monitor.detach(trainer)
            monitor.publish = None
            return

        def publish(report: HealthReport) -> None:
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
        requests = self._requests

        def on_progress(progress: Progress) -> None:
            self._rate = progress.chars_per_second
            self._publish()

        try:
            self.run.train_slice(
                should_stop=lambda: not requests.empty(),
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
        eta = self.eta
        self._post(
            Diverged(
                f"Training diverged at iteration {err.iteration:,} (loss = {err.loss}). "
                f"Restored the last good checkpoint (iteration {self.trainer.iteration:,}) and "
                f"paused. Lower the learning rate: press T and set it to {eta / 10:g} "
                f"(now {eta:g}), then t; t alone retries with the same settings."
            )
        )


@dataclass
class ChartSmoothers:
    """The running EMAs a chart keeps from one progress message to the next."""

    loss: Smoother | None = None  # the per-update loss, at the view's weight
    training: Smoother | None = None  # a per_char run's training curve (SMOOTH_LOSS_WEIGHT)


def chart_data(
    history: LossHistory,
    view: ChartView,
    smoothers: ChartSmoothers,
    best_iteration: int,
    best_smooth_loss: float,
    seq_length: int,
    per_char: bool,
) -> ChartData:
    """The chart's series for `view`, thinned; the smoothers are extended (or made anew)."""
    points = len(history)
    start = points - max(1, math.ceil(points * view.window)) if view.window < 1 else 0
    start = max(0, start)
    training, best = history.smooth_loss, float(best_smooth_loss)
    if per_char and points:  # the debiased EMA in its place (see ChartData)
        if smoothers.training is None:
            smoothers.training = Smoother(SMOOTH_LOSS_WEIGHT)
        training = smoothers.training.smooth(history.loss, source=history)
        if 0 < best_iteration <= len(training):
            best = float(training[best_iteration - 1])
    iterations, values = thin_history(training[start:], view.bins, start)
    loss_x: list[float] = []
    loss_y: list[float] = []
    if view.loss and points:
        if smoothers.loss is None or smoothers.loss.weight != view.smoothing:
            smoothers.loss = Smoother(view.smoothing)
        smoothed = smoothers.loss.smooth(history.loss, source=history)
        x, y = thin_history(smoothed[start:], view.bins, start)
        loss_x, loss_y = x.tolist(), y.tolist()
    return ChartData(
        iterations=iterations.tolist(),
        smooth_loss=values.tolist(),
        epoch_starts=[int(v) for v in history.epoch_starts[1:]],
        best_iteration=best_iteration,
        best_smooth_loss=best,
        points=points,
        first_iteration=start + 1,
        loss_iterations=loss_x,
        loss=loss_y,
        loss_smoothing=view.smoothing,
        val_iterations=history.val_iterations.astype(float).tolist(),
        val_loss=history.val_loss.tolist(),
        seq_length=seq_length,
        per_char=per_char,
    )


MODEL_TIMEOUT = 30.0  # seconds a worker waits for the engine's answer

T = TypeVar("T")


def wait_for_answer(answer: Future[T]) -> T | None:
    """The engine's answer (on a worker), or None if the worker was cancelled meanwhile
    (quitting)."""
    worker = get_current_worker()
    deadline = time.monotonic() + MODEL_TIMEOUT
    while not worker.is_cancelled:
        try:
            return answer.result(timeout=0.05)
        except FutureTimeout:
            if time.monotonic() > deadline:
                raise TimeoutError("the model did not answer (the engine is busy)") from None
    return None
