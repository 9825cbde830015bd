"""The Textual app (the only part of tui-rnn that imports textual)."""

from tui_rnn.app.app import TuiRnnApp
from tui_rnn.app.session import TrainingSession

__all__ = ["TrainingSession", "TuiRnnApp"]
