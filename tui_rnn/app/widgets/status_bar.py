"""The status line: one row that never wraps.

Its parts in order of importance: state (with a warning sign when training goes badly; what
the trainer of a watched run does, and what a killed one lost), iteration/target, the training
loss (the report's smooth_loss, or for a run with validation or batches TensorBoard's debiased
EMA in nats per character), validation loss (when the run has one, with the best validation
loss), training time and the time to the target, epoch, speed, learning rate, corpus, run
directory. As many as fit the width are shown (in reading order); the rest are posted
(`StatusBar.Overflow`) for the main screen to show in pane subtitles, so the screen never
shifts by a row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import Static

from tui_rnn.app.messages import RunState, Status
from tui_rnn.app.shown import show_path
from tui_rnn.safe import text as safe_text

STATE_STYLES = {
    RunState.IDLE: ("○ idle", "bold"),
    RunState.TRAINING: ("▶ training", "bold green"),
    RunState.PAUSED: ("❚❚ paused", "bold yellow"),
    RunState.DONE: ("■ done", "bold cyan"),
    RunState.ERROR: ("✖ error", "bold red"),
}
SEPARATOR = " │ "
OPTIONAL = 9  # parts of this rank are shown when there is room, never moved to a subtitle


@dataclass(frozen=True)
class Part:
    name: str  # "state", "iteration", ... (the main screen places overflowing parts by name)
    text: Text
    rank: int  # lower is kept first


def clock(seconds: float) -> str:
    """3725 -> '1:02:05', 65 -> '1:05'."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def per_char(status: Status) -> str:
    """The smooth loss per character, in nats and bits (the report's loss is per chunk)."""
    if not status.seq_length:
        return ""
    nats = status.smooth_loss / status.seq_length
    return f"{nats:.3f} nats/char ({nats / math.log(2):.3f} bits)"


def status_parts(status: Status, show_rate: bool = True) -> list[Part]:
    """Every part, in reading order."""
    label, style = STATE_STYLES.get(status.state, (str(status.state), "bold"))
    if status.chars_per_second is None or not show_rate:
        rate = "– chars/s"
    else:
        rate = f"{status.chars_per_second:,.0f} chars/s"
    time = f"time {clock(status.elapsed)}" if show_rate else "time –"
    if status.remaining is not None and show_rate:
        time += f", {clock(status.remaining)} left"
    state = Text(label, style=style)
    if status.watching is not None:
        state = Text(status.watching, style=status.watch_style or "bold")
    if status.trouble:
        state.append(" ⚠ going badly", style="bold yellow")
    eta = status.eta if status.current_eta is None else status.current_eta  # as scheduled
    val = ""
    if status.val_loss is not None:
        val = f"val {status.val_loss:.3f}"
        if status.best_val_loss is not None:
            val += f" (best val {status.best_val_loss:.3f})"
    if status.per_char and status.train_loss is not None:  # the unit said once, here
        training, note = f"train {status.train_loss:.3f} nats/char", ""
    else:  # the report's figure, and what it is per character
        training, note = f"smooth_loss {status.smooth_loss:.3f}", per_char(status)
    parts = [
        Part("state", state, 0),
        Part("watch_note", Text(status.watch_note or "", style="bold"), 0),
        Part("iteration", Text(f"iter {status.iteration:,}/{status.target:,}"), 0),
        Part("smooth_loss", Text(training), 1),
        Part("val_loss", Text(val), 1),
        Part("per_char", Text(note, style="dim"), OPTIONAL),
        Part("time", Text(time), 2),
        Part("epoch", Text(f"epoch {status.epoch}"), 3),
        Part("speed", Text(rate), 4),
        Part("eta", Text(f"eta {eta:.3g}"), 5),
        Part("corpus", Text(safe_text.line(status.corpus), style="dim"), 6),
        Part("run_dir", Text(show_path(status.run_dir), style="dim"), 7),
    ]
    return [part for part in parts if part.text.plain]


def fit(parts: list[Part], width: int) -> tuple[list[Part], list[Part]]:
    """(shown, overflow): the most important parts that fit in `width` cells on one line."""
    shown: set[str] = set()
    used = 0
    for part in sorted(parts, key=lambda p: p.rank):
        extra = part.text.cell_len + (len(SEPARATOR) if shown else 0)
        if used + extra <= width:
            shown.add(part.name)
            used += extra
    overflow = [p for p in parts if p.name not in shown and p.rank < OPTIONAL]
    return [p for p in parts if p.name in shown], overflow


def status_line(parts: list[Part]) -> Text:
    return Text(SEPARATOR, style="dim").join(part.text for part in parts)


class StatusBar(Static):
    """One line; what does not fit is announced with an Overflow message."""

    @dataclass
    class Overflow(Message):
        """The parts that did not fit, for the main screen's subtitles."""

        parts: list[Part]

    def __init__(self, show_rate: bool = True, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.show_rate = show_rate
        self.status: Status | None = None
        self._overflow: list[str] | None = None

    def show(self, status: Status) -> None:
        self.status = status
        self._update()

    def on_resize(self) -> None:
        self._update()

    def _update(self) -> None:
        if self.status is None:
            return
        width = self.content_size.width or self.app.size.width - 2
        shown, overflow = fit(status_parts(self.status, self.show_rate), width)
        self.update(status_line(shown), layout=False)
        texts = [p.text.plain for p in overflow]
        if texts != self._overflow:  # only a change (progress comes twice a second)
            self._overflow = texts
            self.post_message(self.Overflow(overflow))
