"""Messages from background threads to the UI: small, immutable, and cheap to handle.

Threads call `app.post_message(...)` (thread-safe, never blocks). Progress messages replace an
unhandled predecessor of the same kind in the queue, so a busy UI sees the newest state rather
than a backlog.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ..train import Sample


@dataclass(frozen=True)
class Status:
    """Everything the status line shows."""

    state: str  # idle | training | paused | done | diverged | error
    iteration: int
    target: int
    epoch: int
    smooth_loss: float
    best_smooth_loss: float
    best_iteration: int
    chars_per_second: float | None  # None when not training
    run_dir: str


@dataclass(frozen=True)
class ChartData:
    """A thinned smooth-loss curve, prepared off the UI thread as plain Python lists."""

    iterations: list[float]
    smooth_loss: list[float]
    epoch_starts: list[int]  # the iterations after which epochs 2, 3, ... began
    best_iteration: int
    best_smooth_loss: float
    points: int  # length of the full history


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
class Notice(Message):
    """A line for the user (saved checkpoint, export paths, problems)."""

    text: str
    severity: str = "information"  # information | warning | error
    timeout: float = 5.0


@dataclass
class Diverged(Message):
    text: str


@dataclass
class EngineStopped(Message):
    """The engine thread has ended (after quit: state saved)."""

    error: str | None = None


@dataclass
class GradcheckStarted(Message):
    run: int  # which press of r (rows of an abandoned run are dropped)
    method: str


@dataclass
class GradcheckRowDone(Message):
    run: int
    method: str
    row: object  # gradcheck.GradcheckRow


@dataclass
class GradcheckDone(Message):
    run: int
    method: str
    report: object | None  # gradcheck.GradcheckReport, None when stopped or failed
    error: str | None = None


@dataclass
class GeneratedText(Message):
    generation: int  # which Enter press this belongs to (stale chunks are dropped)
    text: str
    done: bool = False

    def can_replace(self, message: Message) -> bool:
        return False  # every chunk carries new characters
