"""What the UI asks of the engine thread: one frozen dataclass per request, and the answers.

The session queues these and the engine thread dispatches them by type (session.py), so a
misspelt request or a wrong argument is a type error, not a silent no-op. A request that needs
an answer carries a Future, resolved on the engine thread. Both sides import this module, which
imports neither of them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeAlias

from tui_rnn.app.messages import HealthUpdate
from tui_rnn.cells.model import Model
from tui_rnn.inspection.passage import model_label


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
