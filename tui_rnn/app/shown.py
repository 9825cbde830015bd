"""How the app writes what it did not make: file names, paths, and messages that hold them.

A file name can hold anything (an escape sequence that sets the terminal's title, a newline), so
every name goes through safe_text.line, the one filter, before it reaches a widget. A path is
shown relative to the working directory when it lies under it, and where it does not fit it is
cut from its start ('…' + its end, which names the run and the file), never wrapped mid-path.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.cells import cell_len

from tui_rnn.safe import text as safe_text

# What may stick to a path in a sentence ("into runs/a:", "(and runs/a/fig1.svg)").
_OPENING, _CLOSING = "(\"'", ")\"':;,."


def keep_end(text: str, width: int) -> str:
    """`text` cut to `width` cells from the start ('…' + its end): a path's end names the run."""
    if cell_len(text) <= width:
        return text
    while text and cell_len(text) > width - 1:
        text = text[1:]
    return "…" + text


def relative(path: str | Path) -> str:
    """`path` relative to the working directory when it lies under it, else as it is."""
    text = str(path)
    if not os.path.isabs(text):
        return text
    try:
        here = os.getcwd()
        inside = os.path.commonpath([here, text]) == here
    except (OSError, ValueError):  # no working directory any more, another drive
        return text
    return os.path.relpath(text, here) if inside and text != here else text


def show_path(path: str | Path) -> str:
    """A path as the app shows it: relative where it can be, on one line, every character
    visible."""
    return safe_text.line(relative(path))


def fit_paths(message: str, width: int) -> str:
    """`message` (already through safe_text) with each path in it made relative, and each one
    still wider than `width` cells cut from its start, so that a toast `width` cells wide wraps
    between words and never inside a path."""
    lines = []
    for line in message.split("\n"):
        words = []
        for word in line.split(" "):
            core = word.lstrip(_OPENING)
            head = word[: len(word) - len(core)]
            stripped = core.rstrip(_CLOSING)
            tail = core[len(stripped) :]
            if os.sep in stripped:
                stripped = relative(stripped)
                stripped = keep_end(stripped, max(4, width - cell_len(head + tail)))
            words.append(head + stripped + tail)
        lines.append(" ".join(words))
    return "\n".join(lines)
