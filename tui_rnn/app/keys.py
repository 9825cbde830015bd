"""The app's keys in one place: the Footer, the help screen and the command palette use this."""

from __future__ import annotations

from typing import NamedTuple


class Key(NamedTuple):
    key: str  # Textual key name
    action: str  # App action (without the action_ prefix)
    label: str  # short Footer description
    help: str  # one line for the help screen and the command palette
    shown: str  # how the help screen writes the key


KEYS = (
    Key("t", "train", "Train", "start or resume training", "t"),
    Key("p", "pause", "Pause", "pause training (the state is saved)", "p"),
    Key("s", "sample", "Sample", "synthesize a sample from the current model now", "s"),
    Key("b", "best", "Best", "1,000 characters from the best model (lowest smooth loss)", "b"),
    Key("e", "export", "Export", "export the loss history as CSV and JSON into the run dir", "e"),
    Key("g", "focus_prompt", "Prompt", "type a prompt for the generator (Enter generates)", "g"),
    Key("escape", "leave_prompt", "Leave", "leave the prompt (back to the samples)", "escape"),
    Key("r", "gradcheck", "Check", "run the gradient check again", "r"),
    Key("c", "checkpoint", "Save", "save a checkpoint now", "c"),
    Key("f1", "help", "Help", "this help screen", "F1"),
    Key("ctrl+q", "quit", "Quit", "stop training, save the state, quit", "ctrl+q"),
)
