"""The inspector's passage: every character one cell (two for a wide one) with its own
background, a cursor, scrolling; drawn line by line (Textual's line API), so moving the cursor
or scrolling redraws only what is visible, whatever the passage's length.

Characters come as glyphs (safe_text.char: control characters, newlines and tabs as visible
symbols, never obeyed); a newline's glyph (↵) ends its line, and lines longer than the view wrap
at its width. The styles (one Rich style per character: its shade) come from the screen, which
recolours without a new layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.events import Click, Resize
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui_rnn.app.keys import Scope, bindings

CURSOR = Style(reverse=True, bold=True)


class PassageView(ScrollView, can_focus=True):
    BINDINGS = bindings(Scope.PASSAGE)

    @dataclass
    class CursorMoved(Message):
        index: int

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, PassageView.CursorMoved)  # only where it is now matters

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.glyphs: list[str] = []
        self.widths: list[int] = []
        self.newline: list[bool] = []
        self.char_styles: list[Style] = []
        self.cursor = 0
        self.lines: list[tuple[int, int]] = []  # (first character, end) of each screen line
        self._line_starts = np.zeros(1, dtype=np.intp)
        self._wrap = 0  # the width the lines were laid out for

    # -- what it shows ----------------------------------------------------------------------------
    def show(self, glyphs: list[str], newline: list[bool], styles: list[Style], cursor=0) -> None:
        """A new passage (glyph, ends a line?, style per character); the cursor on `cursor`."""
        self.glyphs, self.newline, self.char_styles = glyphs, newline, styles
        self.widths = [cell_len(g) for g in glyphs]
        self.cursor = min(max(0, cursor), max(0, len(glyphs) - 1))
        self._layout()
        self._follow_cursor()
        self.refresh()
        self.post_message(self.CursorMoved(self.cursor))

    def recolour(self, styles: list[Style]) -> None:
        self.char_styles = styles
        self.refresh()

    def _layout(self) -> None:
        """Cut the characters into screen lines: after a newline, and where the next character
        would not fit the width."""
        width = max(2, self.scrollable_content_region.width)
        lines, start, used = [], 0, 0
        for i, (w, ends) in enumerate(zip(self.widths, self.newline, strict=True)):
            if used + w > width and i > start:
                lines.append((start, i))
                start, used = i, 0
            used += w
            if ends:
                lines.append((start, i + 1))
                start, used = i + 1, 0
        if start < len(self.glyphs) or not lines:
            lines.append((start, len(self.glyphs)))
        self.lines, self._wrap = lines, width
        self._line_starts = np.array([a for a, _ in lines], dtype=np.intp)
        self.virtual_size = Size(width, len(lines))

    def line_of(self, index: int) -> int:
        return int(np.searchsorted(self._line_starts, index, side="right")) - 1

    def on_resize(self, event: Resize) -> None:
        if self.scrollable_content_region.width != self._wrap and self.glyphs:
            self._layout()
            self._follow_cursor()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        row = y + int(self.scroll_offset.y)
        if row >= len(self.lines) or not self.glyphs:
            return Strip.blank(width, self.rich_style)
        start, end = self.lines[row]
        styles, glyphs, cursor = self.char_styles, self.glyphs, self.cursor
        segments = [
            Segment(glyphs[i], styles[i] + CURSOR if i == cursor else styles[i])
            for i in range(start, end)
        ]
        return Strip(segments).simplify().extend_cell_length(width, self.rich_style)

    # -- the cursor -------------------------------------------------------------------------------
    def move_to(self, index: int) -> None:
        if not self.glyphs:
            return
        index = min(max(0, index), len(self.glyphs) - 1)
        if index == self.cursor:
            return
        old, self.cursor = self.cursor, index
        self._refresh_line(self.line_of(old))
        self._refresh_line(self.line_of(index))
        self._follow_cursor()
        self.post_message(self.CursorMoved(index))

    def _refresh_line(self, line: int) -> None:
        y = line - int(self.scroll_offset.y)
        if 0 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def _follow_cursor(self) -> None:
        """Scroll so that the cursor's line is in view."""
        line, top, height = self.line_of(self.cursor), int(self.scroll_offset.y), self.size.height
        if line < top:
            self.scroll_to(y=line, animate=False)
        elif height and line >= top + height:
            self.scroll_to(y=line - height + 1, animate=False)

    def _column(self, index: int) -> int:
        start = self.lines[self.line_of(index)][0]
        return sum(self.widths[start:index])

    def _at_column(self, line: int, column: int) -> int:
        """The character of a screen line at (or before) a cell column."""
        start, end = self.lines[line]
        used = 0
        for i in range(start, end):
            used += self.widths[i]
            if used > column:
                return i
        return max(start, end - 1)

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_line(self, delta: int) -> None:
        if not self.glyphs:
            return
        line = min(max(0, self.line_of(self.cursor) + delta), len(self.lines) - 1)
        self.move_to(self._at_column(line, self._column(self.cursor)))

    def action_page(self, delta: int) -> None:
        self.action_line(delta * max(1, self.size.height - 1))

    def action_jump(self, index: int) -> None:
        self.move_to(index if index >= 0 else len(self.glyphs) + index)

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or not self.glyphs:
            return
        line = offset.y + int(self.scroll_offset.y)
        if 0 <= line < len(self.lines):
            self.move_to(self._at_column(line, offset.x))
