"""Watching a run another process trains: the app read-only, following what the trainer
publishes (store/live.py, read through store/follow.py).

A WatchSession stands where a TrainingSession stands (requests.Session), so the main screen,
the inspector, the gradient check and the generator work on it unchanged, with the run's
newest checkpoint as their model (read from disk at each request). Its thread polls the run
every half second (never inotify alone: a network file system tells no one) and posts what
changed as the engine's messages do. It takes no lock and writes nothing into the run: what
would save there goes to `output`, a directory outside the run that the user chose, or is
refused. Its main screen (screens/watch_screen.py) greys out the keys that would change the
run (`read_only` says why), and `t` takes over a run that nobody trains any more.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from textual.message import Message
from threadpoolctl import threadpool_limits

from tui_rnn.app.messages import (
    EngineStopped,
    HealthUpdate,
    Notice,
    RunState,
    SampleAdded,
    SamplesReplaced,
    Status,
    TrainingProgress,
)
from tui_rnn.app.requests import (
    ChartView,
    Command,
    CopyModel,
    EngineRequest,
    ModelCopy,
    Quit,
    SaveGenerated,
    SaveNow,
    SetChartView,
    WatchHealth,
)
from tui_rnn.app.session import GENERATED_FILE, ChartSmoothers, EngineThread, chart_data
from tui_rnn.safe import files
from tui_rnn.safe.files import RunError
from tui_rnn.store import checkpoint, follow, live
from tui_rnn.training.corpus import Corpus
from tui_rnn.training.health import weights_report
from tui_rnn.training.history import debiased_smooth_loss
from tui_rnn.training.options import TrainConfig
from tui_rnn.training.trainer import Trainer

POLL_EVERY = 0.5  # seconds between looks at the run: it follows within a publish and this

# What the status line says the trainer does (label, style).
LABELS = {
    live.TRAINING: ("◉ watching: training in pid {pid}", "bold green"),
    live.PAUSED: ("◉ watching: paused in pid {pid}", "bold yellow"),
    follow.OPEN: ("◉ watching: open in pid {pid}", "bold yellow"),
    follow.GONE: ("✖ trainer (pid {pid}) is no longer running", "bold red"),
    live.FINISHED: ("■ watching: finished", "bold cyan"),
    live.STOPPED: ("■ watching: stopped", "bold yellow"),
    live.FAILED: ("✖ watching: failed", "bold red"),
    follow.IDLE: ("○ watching: nobody trains it", "bold"),
    follow.DELETED: ("✖ watching: the run was deleted", "bold red"),
}
RUN_STATES = {
    live.TRAINING: RunState.TRAINING,
    live.PAUSED: RunState.PAUSED,
    live.FINISHED: RunState.DONE,
    live.FAILED: RunState.ERROR,
}


@dataclass
class WatchOpened(Message):
    """A run opened to watch (the runs screen's Enter on a run another process holds): the
    app switches to it."""

    session: WatchSession


def inside(run_dir: Path, path: str | Path) -> bool:
    """Whether `path` is the run directory or inside it (links resolved)."""
    run, where = Path(run_dir).resolve(), Path(path).resolve()
    return where == run or run in where.parents


def check_output(run_dir: Path, output: str | Path) -> Path:
    """`output` as a directory a viewer may write into: never the run directory or inside it."""
    path = Path(output)
    if inside(run_dir, path):
        raise RunError(
            f"--output {output} is inside the watched run {run_dir}: a viewer writes nothing "
            "there; choose a directory outside it"
        )
    if path.exists() and not path.is_dir():
        raise RunError(f"--output {output} is a file: give a directory")
    return path


class WatchSession(EngineThread):
    """A run trained elsewhere, followed read-only (see the module's docstring)."""

    watching = True
    STOPPED = "the viewer has stopped"

    def __init__(
        self,
        watched: follow.WatchedRun,
        trainer: Trainer,
        corpus: Corpus,
        *,
        output: Path | None = None,
        poll_every: float = POLL_EVERY,
    ):
        self.watched = watched
        self._trainer = trainer  # never trained: the run's options, vocabulary and texts
        self._corpus = corpus
        self.output = output
        self.poll_every = float(poll_every)
        self.chart_view = ChartView()
        self._smoothers = ChartSmoothers()
        super().__init__()
        self._said: tuple[str, str | None] | None = None  # the trainer's state and pid, as said

    @classmethod
    def open(
        cls,
        run_dir: str | Path,
        *,
        corpus: str | None = None,
        encoding: str | None = None,
        output: str | Path | None = None,
        poll_every: float = POLL_EVERY,
    ) -> WatchSession:
        """Read the run (RunError, one line, when it cannot be: not a run, damaged, its corpus
        missing) and its corpus; nothing is written, no lock taken."""
        run_dir = Path(run_dir)
        out = None if output is None else check_output(run_dir, output)
        watched = follow.WatchedRun(run_dir)
        watched.load()
        document = watched.document
        retry = f"tui-rnn watch {run_dir} --corpus CORPUS"
        text = checkpoint.load_run_corpus(document, corpus, encoding, retry)
        trainer = Trainer(text.data, text.chars, TrainConfig.from_dict(document["config"]))
        return cls(watched, trainer, text, output=out, poll_every=poll_every)

    # -- what the screens read (requests.Session) -------------------------------------------------
    @property
    def trainer(self) -> Trainer:
        return self._trainer

    @property
    def corpus(self) -> Corpus:
        return self._corpus

    @property
    def run_dir(self) -> Path:
        return self.watched.run_dir

    @property
    def on_disk(self) -> bool:
        return True

    def read_only(self, action: str) -> str | None:
        """Why a key cannot act on a watched run (its tooltip), or None if it can."""
        trainer = self.watched.trainer()
        where = f"pid {trainer.pid}" if trainer.running else "the process that trains it"
        if action == "train":
            if trainer.state == follow.DELETED:
                return "the run was deleted: nothing to take over"
            if trainer.running:
                return f"read-only: {where} trains this run (t takes it over once it stops)"
            return None
        if action in ("pause", "settings"):
            return f"read-only: pause or change the run in {where}"
        if action in ("sample", "best"):
            return "read-only: samples are the trainer's to draw; the generator (g) makes yours"
        if action == "checkpoint":
            return "read-only: the trainer saves the checkpoints"
        if action == "export":
            return f"read-only: tui-rnn export {self.run_dir} --output FILE writes it elsewhere"
        if action in ("write_report", "save") and self.output is None:
            return "read-only: give tui-rnn watch --output DIR to save outside the run"
        return None

    @property
    def report_output(self) -> Path | None:
        return self.output

    @property
    def per_char(self) -> bool:
        """Whether the run's losses are shown per character (as TrainingSession.per_char)."""
        t = self._trainer
        return t.validating or t.config.batch_size > 1

    def status(self) -> Status:
        watched, t = self.watched, self._trainer
        trainer = watched.trainer()
        published = watched.status
        counters = watched.counters or {}
        label, style = LABELS.get(trainer.state, ("◉ watching", "bold"))
        note = None
        if trainer.state == follow.GONE:
            note = (
                f"at least {trainer.lost:,} updates since the last checkpoint (iter "
                f"{trainer.checkpoint or 0:,}) lost · t takes the run over"
            )
        elif trainer.state == follow.OPEN:
            note = "it publishes nothing: following its checkpoints"
        elif trainer.state == live.FAILED and trainer.message:
            note = trainer.message
        best = watched.best or (0, t.initial_smooth_loss)
        smooth = watched.smooth_loss
        history = watched.history
        val_loss = float(history.val_loss[-1]) if len(history.val_loss) else None
        best_val = published.best_val_loss if published is not None else None
        if best_val is None and t.validating and counters.get("best_val_loss") is not None:
            value = float(counters["best_val_loss"])
            best_val = value if value < float("inf") else None
        seconds = published.train_seconds if published is not None else None
        if seconds is None:
            seconds = float(counters.get("train_seconds", 0.0))
        rate = trainer.chars_per_second
        target = trainer.target if trainer.target is not None else trainer.iteration
        remaining = None
        if rate and trainer.state == live.TRAINING:
            remaining = max(0, target - trainer.iteration) * t.chars_per_update / rate
        return Status(
            state=RUN_STATES.get(trainer.state, RunState.IDLE),
            iteration=trainer.iteration,
            target=target,
            epoch=trainer.epoch or int(counters.get("epoch", 1)),
            smooth_loss=t.initial_smooth_loss if smooth is None else smooth,
            best_smooth_loss=best[1],
            best_iteration=best[0],
            chars_per_second=rate,
            run_dir=str(self.run_dir),
            corpus=self._corpus.name,
            eta=trainer.eta or t.base_eta,
            elapsed=seconds,
            remaining=remaining,
            updates_per_epoch=t.updates_per_epoch,
            val_loss=val_loss,
            best_val_loss=best_val,
            seq_length=t.config.seq_length,
            per_char=self.per_char,
            train_loss=self._train_loss(trainer.iteration, smooth),
            watching=label.format(pid=trainer.pid or "?"),
            watch_style=style,
            watch_note=note,
        )

    def _train_loss(self, iteration: int, smooth: float | None) -> float | None:
        """The debiased EMA of the training loss per character, as a TrainingSession shows
        it for a per_char run (None for the report's kind of run)."""
        t = self._trainer
        if not self.per_char or smooth is None:
            return None
        chunk = debiased_smooth_loss(smooth, t.initial_smooth_loss, iteration)
        return chunk / t.config.seq_length

    # -- requests (any thread) --------------------------------------------------------------------
    def start(self, post: Callable[[Message], object]) -> None:
        self._post = post
        self._thread = threading.Thread(target=self._run, name="tui-rnn watch", daemon=True)
        self._thread.start()

    def save_now(self) -> Future[Path]:
        """The run directory at once: a viewer has nothing to save (the files are the
        trainer's, as they are)."""
        answer: Future[Path] = Future()
        answer.set_result(self.run_dir)
        return answer

    def close(self) -> None:
        """Nothing to release: a viewer holds no lock."""

    # -- the thread -------------------------------------------------------------------------------
    def _run(self) -> None:
        error = None
        try:
            threadpool_limits(limits=1, user_api="blas")  # the model copies' reads: one thread
            self._progress()
            self._post(SamplesReplaced(list(self.watched.samples)))
            self._say_trainer()
            if self.watched.problem:
                self._post(Notice(self.watched.problem, "error", timeout=30))
            next_poll = time.monotonic() + self.poll_every
            while True:
                wait = max(0.0, next_poll - time.monotonic())
                try:
                    request = self._requests.get(timeout=wait)
                except queue.Empty:
                    request = None
                if request is not None and not self._handle(request):
                    return
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self.poll_every
                    self._react(self.watched.poll())
        except BaseException as err:  # report, never die silently
            error = "".join(traceback.format_exception_only(err)).strip()
            self._post(Notice(f"the viewer stopped: {error}", "error", timeout=30))
        finally:
            self._stopped.set()
            self._answer_pending()
            self._post(EngineStopped(error))

    def _handle(self, request: EngineRequest) -> bool:
        match request:
            case Quit(answer):
                answer.set_result(None)
                return False
            case CopyModel(best, answer):
                try:
                    answer.set_result(self._model_copy(best))
                except (RunError, OSError, KeyError, ValueError) as err:
                    answer.set_exception(RunError(f"no model to use: {err}"))
            case _:
                try:
                    self._carry_out(request)
                except (OSError, RunError) as err:
                    self._post(Notice(f"{request.what} failed: {err}", "error", timeout=15))
        return True

    def _carry_out(self, command: Command) -> None:
        match command:
            case SetChartView(view):
                self.chart_view = view
                self._progress()
            case WatchHealth(post):
                if post is not None:  # the newest checkpoint's weights: no update is watched
                    copy = self._model_copy(False)
                    post(HealthUpdate(weights_report(copy.params, copy.iteration)))
            case SaveNow(answer):
                answer.set_result(self.run_dir)
            case SaveGenerated(text):
                self._save_generated(text)
            case _:
                reason = self.read_only(command.what) or "read-only"
                self._post(Notice(f"{command.what}: {reason}", "warning"))

    def _model_copy(self, best: bool) -> ModelCopy:
        """The newest checkpoint's model, read now (read-only, no lock)."""
        document = self.watched.document
        arrays = checkpoint.load_checkpoint(self.run_dir, document=document)
        model = checkpoint.model_from_arrays(document, arrays, best)
        iteration = int(arrays["best_iteration" if best else "iteration"])
        position = int(arrays["position"])
        return ModelCopy(model, self._trainer.chars, best, iteration, position)

    def _save_generated(self, text: str) -> None:
        if self.output is None:
            self._post(Notice(self.read_only("save") or "read-only", "warning"))
            return
        data = text.encode("utf-8")
        self.output.mkdir(parents=True, exist_ok=True)
        size = files.append_run_file(self.output, GENERATED_FILE, data)
        path = self.output / GENERATED_FILE
        self._post(Notice(f"appended {len(data):,} bytes to {path} (now {size:,})", timeout=8))

    # -- following -------------------------------------------------------------------------------
    def _progress(self) -> None:
        watched = self.watched
        best = watched.best or (0, self._trainer.initial_smooth_loss)
        chart = chart_data(
            watched.history,
            self.chart_view,
            self._smoothers,
            best[0],
            best[1],
            self._trainer.config.seq_length,
            self.per_char,
        )
        self._post(TrainingProgress(self.status(), chart))

    def _react(self, changes: set[str]) -> None:
        if not changes:
            return
        if changes & {"reload", "samples_reset"}:
            self._post(SamplesReplaced(list(self.watched.samples)))
        elif "samples" in changes:
            for sample in self.watched.added_samples:
                self._post(SampleAdded(sample))
        if changes - {"samples"}:
            self._progress()
        if "trainer" in changes or "reload" in changes:
            self._say_trainer()
        if "problem" in changes:
            problem = self.watched.problem
            if problem:
                self._post(Notice(problem, "error", timeout=30))
            else:
                self._post(Notice(f"following {self.run_dir} again", timeout=8))

    def _say_trainer(self) -> None:
        """A notice when the trainer's state changes (the status line says it all along)."""
        trainer = self.watched.trainer()
        said = (trainer.state, trainer.pid)
        if said == self._said:
            return
        first = self._said is None
        self._said = said
        if trainer.state == follow.GONE:
            self._post(Notice(trainer.line(), "error", timeout=60))
        elif trainer.state in (live.FINISHED, live.STOPPED, live.FAILED) and not first:
            self._post(Notice(f"the trainer: {trainer.line()}", timeout=15))
        elif trainer.state == live.TRAINING and not first:
            self._post(Notice(f"following the trainer in pid {trainer.pid}", timeout=8))
