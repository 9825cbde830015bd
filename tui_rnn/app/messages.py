"""Messages from the engine thread and the workers to the UI, as dataclasses: small, immutable
in use, and cheap to handle.

Threads call `screen.post_message(...)` (thread-safe, never blocks; a message posted to a
screen that is already closed is dropped), and a message the screen does not stop bubbles on to
the app. Progress messages replace an unhandled predecessor of the same kind in the queue, so a
busy UI sees the newest state rather than a backlog.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from textual.message import Message
from textual.notifications import SeverityLevel

from tui_rnn.driver import Run
from tui_rnn.gradcheck.check import GradcheckReport, GradcheckRow
from tui_rnn.inspection.neurons import NeuronTable
from tui_rnn.inspection.passage import Passage
from tui_rnn.training.health import HealthReport
from tui_rnn.training.history import Sample


class RunState(StrEnum):
    """What the engine is doing with the run."""

    IDLE = "idle"  # not started in this session, below the target
    TRAINING = "training"
    PAUSED = "paused"
    DONE = "done"  # at the target (t goes on)
    ERROR = "error"  # the engine stopped on an error


@dataclass(frozen=True)
class Status:
    """Everything the status line shows."""

    state: RunState
    iteration: int
    target: int
    epoch: int
    smooth_loss: float
    best_smooth_loss: float
    best_iteration: int
    chars_per_second: float | None  # None when not training
    run_dir: str
    corpus: str = ""  # the corpus's name (a file name: shown through safe_text.terminal)
    eta: float = 0.0  # the learning rate, --eta (what the settings change)
    current_eta: float | None = None  # the next update's, as a schedule or decay has it
    elapsed: float = 0.0  # seconds spent training since the app started
    remaining: float | None = None  # seconds to the target at the current speed
    updates_per_epoch: int = 0
    val_loss: float | None = None  # the newest validation loss, nats per character
    best_val_loss: float | None = None
    seq_length: int = 0  # for the smooth loss per character
    trouble: str | None = None  # training going badly although the loss is finite
    # A run with validation or batches shows its losses per character, the training loss as
    # TensorBoard's debiased EMA (it starts where the loss starts); the report's, smooth_loss.
    per_char: bool = False
    train_loss: float | None = None  # that EMA, nats per character (per_char runs)
    # Watching a run another process trains: what that trainer does, shown instead of `state`
    # (in `watch_style`), and a second part when it matters (the updates a killed one lost).
    watching: str | None = None
    watch_style: str = ""
    watch_note: str | None = None


@dataclass(frozen=True)
class ChartData:
    """The chart's series, thinned to about two points per column off the UI thread.

    The iterations start at `first_iteration` (the window shown: all updates, or a recent part
    that follows the newest). The per-update loss (smoothed with `loss_smoothing`, TensorBoard's
    debiased EMA weight, 0 = raw) is sent only when the chart shows it; the validation loss only
    when the run has one.
    """

    iterations: list[float]
    smooth_loss: list[float]
    epoch_starts: list[int]  # the iterations after which epochs 2, 3, ... began
    best_iteration: int
    best_smooth_loss: float
    points: int  # length of the full history
    first_iteration: int = 1
    loss_iterations: tuple[float, ...] | list[float] = ()
    loss: tuple[float, ...] | list[float] = ()
    loss_smoothing: float = 0.0
    val_iterations: tuple[float, ...] | list[float] = ()
    val_loss: tuple[float, ...] | list[float] = ()  # nats per character
    seq_length: int = 0  # characters per chunk: the training losses are per chunk
    # A per_char run (see Status): `smooth_loss` holds TensorBoard's debiased EMA of the loss
    # (weight 0.999, as smooth_loss's) and `best_smooth_loss` its value at the best model.
    per_char: bool = False


@dataclass
class TrainingProgress(Message):
    status: Status
    chart: ChartData | None = None

    def can_replace(self, message: Message) -> bool:
        # A newer progress message makes an older one pointless, unless only the older carries
        # a chart; charts are always sent together with a status, so compare both.
        return isinstance(message, TrainingProgress) and (
            self.chart is not None or message.chart is None
        )


@dataclass
class SampleAdded(Message):
    sample: Sample
    show: bool = False  # open it in full (the `b` key)


@dataclass
class SamplesReplaced(Message):
    """The samples shown are these now (a watched run read again from the start)."""

    samples: list[Sample]


@dataclass
class Notice(Message):
    """A line for the user (saved checkpoint, export paths, problems)."""

    text: str
    severity: SeverityLevel = "information"
    timeout: float = 5.0


@dataclass
class Diverged(Message):
    text: str


@dataclass
class EngineStopped(Message):
    """The engine thread has ended (after quit: state saved)."""

    error: str | None = None


@dataclass
class RunOpened(Message):
    """A run opened on a worker (the runs screen's Enter, the new-run form): the app saves and
    closes the current one and switches to it."""

    run: Run  # its lock held (a new run's directory comes at its first save)
    warnings: tuple[str, ...] = ()
    train: bool = False  # start training at once (a watched run taken over with t)


@dataclass
class GradcheckStarted(Message):
    run: int  # which check (rows of an abandoned one are dropped)
    method: str
    model: str  # which model: "at init" or "at iter N"


@dataclass
class GradcheckRowDone(Message):
    run: int
    method: str
    row: GradcheckRow


@dataclass
class GradcheckDone(Message):
    run: int
    method: str
    report: GradcheckReport | None  # None when stopped


@dataclass
class GenerationStarted(Message):
    generation: int  # which Enter press (stale text is dropped)
    model: str  # "current model, iter N" or "best model, iter N"


@dataclass
class GeneratedText(Message):
    generation: int
    index: int  # which sample of the request (0-based)
    text: str
    done: bool = False  # this sample is complete
    log_probabilities: tuple[float, ...] = ()  # of each character of `text` (nats)

    def can_replace(self, message: Message) -> bool:
        return False  # every chunk carries new characters


@dataclass
class GeneratedSaved(Message):
    """The generator's text was appended to the run's file (its path as the app shows it)."""

    path: str
    size: int  # the file's size now, in bytes


@dataclass
class PassageRead(Message):
    """The inspector's passage, read by a copy of the model on a worker thread."""

    request: int  # which read (an older one's result is dropped)
    passage: Passage
    glyphs: list[str]  # every character as shown (safe_text.char)
    neurons: NeuronTable  # every unit's correlation with every feature
    model: str  # "current model, iter N"
    source: str  # where the text came from


@dataclass
class HealthUpdate(Message):
    """Training health, measured on the engine thread (a few a second while training)."""

    report: HealthReport

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, HealthUpdate)  # only the newest matters
