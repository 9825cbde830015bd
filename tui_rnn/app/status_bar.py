"""The status line: state, iteration, epoch, smooth loss, best, speed, run directory."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from .messages import Status

STATE_STYLES = {
    "idle": ("○ idle", "bold"),
    "training": ("▶ training", "bold green"),
    "paused": ("❚❚ paused", "bold yellow"),
    "done": ("■ done", "bold cyan"),
    "error": ("✖ error", "bold red"),
}


def status_parts(status: Status, show_rate: bool = True) -> list[Text]:
    label, style = STATE_STYLES.get(status.state, (status.state, "bold"))
    if status.chars_per_second is None or not show_rate:
        rate = "– chars/s"
    else:
        rate = f"{status.chars_per_second:,.0f} chars/s"
    parts = [
        Text(label, style=style),
        Text(f"iter {status.iteration:,}/{status.target:,}"),
        Text(f"epoch {status.epoch}"),
        Text(f"smooth_loss {status.smooth_loss:.3f}"),
        Text(f"best {status.best_smooth_loss:.3f} @ {status.best_iteration:,}"),
        Text(rate),
        Text(status.run_dir, style="dim"),
    ]
    return parts


def pack(parts: list[Text], width: int) -> Text:
    """Join the parts with separators, breaking lines only between parts."""
    separator = Text(" │ ", style="dim")
    lines: list[list[Text]] = [[]]
    used = 0
    for part in parts:
        extra = part.cell_len + (separator.cell_len if lines[-1] else 0)
        if lines[-1] and used + extra > width:
            lines.append([])
            used, extra = 0, part.cell_len
        lines[-1].append(part)
        used += extra
    return Text("\n").join(separator.join(line) for line in lines)


def status_text(status: Status, show_rate: bool = True, width: int = 1000) -> Text:
    return pack(status_parts(status, show_rate), width)


class StatusBar(Static):
    def __init__(self, show_rate: bool = True, **kwargs):
        super().__init__("", **kwargs)
        self.show_rate = show_rate
        self.status: Status | None = None
        self._lines = 0

    def show(self, status: Status) -> None:
        self.status = status
        self._update()

    def on_resize(self) -> None:
        self._update()

    def _update(self) -> None:
        if self.status is not None:
            width = self.content_size.width or self.app.size.width - 2
            text = status_text(self.status, self.show_rate, width)
            lines = text.plain.count("\n") + 1
            # A relayout of the whole screen costs far more than the line itself: only when
            # the number of lines changes.
            self.update(text, layout=lines != self._lines)
            self._lines = lines
