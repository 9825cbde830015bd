"""The Textual app (the only part of tui-rnn that imports textual)."""

from .app import TuiRnnApp
from .session import TrainingSession

__all__ = ["TrainingSession", "TuiRnnApp"]
