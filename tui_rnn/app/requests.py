"""What the UI asks of the engine thread: one frozen dataclass per request, the answers, and
`Session`, what the screens use of a session.

The session queues these and the engine thread dispatches them by type (session.py, watch.py),
so a misspelt request or a wrong argument is a type error, not a silent no-op. A request that
needs an answer carries a Future, resolved on the engine thread. Both sides import this module,
which imports neither of them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, TypeAlias

from textual.message import Message

from tui_rnn.app.messages import HealthUpdate, Status
from tui_rnn.cells.model import Model
from tui_rnn.inspection.passage import model_label
from tui_rnn.training.corpus import Corpus
from tui_rnn.training.trainer import Trainer


@dataclass(frozen=True)
class ChartView:
    """What the chart shows: the engine prepares ChartData for it."""

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


# -- commands: requests the engine carries out (a failure is said in a Notice named `what`) --------
@dataclass(frozen=True)
class Train:
    """Start or resume training; on a finished run, raise the target first."""

    what: ClassVar[str] = "train"


@dataclass(frozen=True)
class Pause:
    """Pause training and save the state."""

    what: ClassVar[str] = "pause"


@dataclass(frozen=True)
class SampleNow:
    """A sample from the current model now (recorded in samples.txt)."""

    what: ClassVar[str] = "sample"


@dataclass(frozen=True)
class BestSample:
    """`length` characters from the best model, opened in full."""

    length: int = 1000
    what: ClassVar[str] = "best"


@dataclass(frozen=True)
class Checkpoint:
    """Save a checkpoint now (and say where)."""

    what: ClassVar[str] = "checkpoint"


@dataclass(frozen=True)
class Export:
    """The loss history as CSV and JSON into the run directory."""

    what: ClassVar[str] = "export"


@dataclass(frozen=True)
class ChangeSettings:
    """A new target (iterations, counting the run's total) and/or learning rate; None: as is."""

    target: int | None = None
    eta: float | None = None
    what: ClassVar[str] = "settings"


@dataclass(frozen=True)
class SaveGenerated:
    """Append generated text (with its header) to RUN_DIR/generated.txt."""

    text: str
    what: ClassVar[str] = "save generated"


@dataclass(frozen=True)
class SetChartView:
    """Show the chart this way from now on (a new ChartData follows at once)."""

    view: ChartView
    what: ClassVar[str] = "chart"


@dataclass(frozen=True)
class WatchHealth:
    """Send HealthUpdate messages through `post` (one now, a few a second while training);
    None stops them, and the trainer's observer with them: nothing is measured."""

    post: Callable[[HealthUpdate], object] | None
    what: ClassVar[str] = "health"


@dataclass(frozen=True)
class SaveNow:
    """Save the state between two updates (training goes on); `answer` gets the run
    directory. A new run without an update is left unmade."""

    answer: Future[Path]
    what: ClassVar[str] = "save now"


# -- the engine's own: answered whatever happens (an error in them stops the engine) ---------------
@dataclass(frozen=True)
class CopyModel:
    """A ModelCopy of the current (or best) parameters into `answer`."""

    best: bool
    answer: Future[ModelCopy]


@dataclass(frozen=True)
class Quit:
    """Stop training, save the state, end the thread; `answer` resolves once saved."""

    answer: Future[None]


Command: TypeAlias = (
    Train
    | Pause
    | SampleNow
    | BestSample
    | Checkpoint
    | Export
    | ChangeSettings
    | SaveGenerated
    | SetChartView
    | WatchHealth
    | SaveNow
)
EngineRequest: TypeAlias = Command | CopyModel | Quit


class Session(Protocol):
    """What the screens use of a session: a TrainingSession (a run this app trains, session.py)
    or a WatchSession (a run another process trains, followed read-only, watch.py)."""

    watching: bool  # read-only: another process trains the run (or may again)

    @property
    def trainer(self) -> Trainer: ...  # the run's options, vocabulary and texts

    @property
    def corpus(self) -> Corpus: ...

    @property
    def run_dir(self) -> Path: ...

    @property
    def on_disk(self) -> bool: ...  # the run directory exists (a new run's: at its first save)

    @property
    def running(self) -> bool: ...  # the engine thread serves requests

    @property
    def closing(self) -> bool: ...

    def start(self, post: Callable[[Message], object]) -> None: ...

    def request(self, request: EngineRequest) -> None: ...

    def status(self) -> Status: ...

    def save_now(self) -> Future[Path]: ...

    def model_copy(self, best: bool = False) -> Future[ModelCopy]: ...

    def shutdown(self) -> Future[None]: ...

    def close(self) -> None: ...  # after shutdown: the run's lock released, if it held one

    def read_only(self, action: str) -> str | None: ...  # why a key cannot act on the run

    @property
    def report_output(self) -> Path | None: ...  # where the report goes (None: into the run)
