"""An Input that never shows a control character raw.

What is typed or pasted goes through safetext.terminal (the one filter) before it enters the
field: a pasted `ESC ] 0 ; title BEL` becomes `␛]0;title␇`, visible, and (not being in any
vocabulary) named by the generator as such; a carriage return is dropped. Every change of the
text goes through Input.replace, so this is the one place to filter it.
"""

from __future__ import annotations

from textual.widgets import Input

from .. import safetext


class SafeInput(Input):
    def replace(self, text: str, start: int, end: int) -> None:
        super().replace(safetext.terminal(text), start, end)
