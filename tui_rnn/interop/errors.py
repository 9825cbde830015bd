"""The one error of model files: a file, a name or a shape tui-rnn cannot use, as one line."""

from __future__ import annotations

from tui_rnn.safe.files import RunError


class ModelFileError(RunError):
    """A model file that cannot be read, written or mapped onto a tui-rnn model; the message is
    one line saying what is wrong and what to do."""
