"""Text from a corpus or a model never drives a terminal: tui_rnn.safetext."""

from __future__ import annotations

import io

import pytest

from tui_rnn.safe import text as safe_text

HOSTILE = "a\x1b]0;pwned\x07b\x1b[?1049lc\r\n\td\x7fe\x9bf\u202eg\u2028h\ufeffi"


def test_terminal_shows_every_control_and_keeps_newlines_and_tabs():
    shown = safe_text.terminal(HOSTILE)
    assert shown == "a␛]0;pwned␇b␛[?1049lc\n\td␡e\ufffdf\ufffdg␤h\ufffdi"
    assert safe_text.is_safe(shown)
    assert not safe_text.is_safe(HOSTILE)


@pytest.mark.parametrize("cp", [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x202E, 0x2066])
def test_no_control_character_survives(cp):
    shown = safe_text.terminal(f"x{chr(cp)}y")
    if chr(cp) in "\n\t":
        assert shown == f"x{chr(cp)}y"
    else:
        assert all(ord(ch) >= 0x20 and not 0x7F <= ord(ch) < 0xA0 for ch in shown)
        assert len(shown) == (2 if cp == 0x0D else 3)


def test_plain_text_is_returned_as_is():
    text = "ROMEO:\nBut soft, what light — through yonder window breaks? Ünïcödé 漢字\t"
    assert safe_text.terminal(text) is text


def test_char_is_one_visible_character():
    for ch in ["\n", "\t", "\r", "\x1b", "a", "\u202e"]:
        shown = safe_text.char(ch)
        assert len(shown) == 1 and safe_text.is_safe(shown) and shown not in "\n\t"


def test_html_escapes_after_filtering():
    assert safe_text.html('<b a="1">&\x1b') == "&lt;b a=&quot;1&quot;&gt;&amp;␛"


def test_fence_is_longer_than_any_backtick_run():
    assert safe_text.fence("no ticks") == "```"
    assert safe_text.fence("a ```` b") == "`````"


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self._tty = tty

    def isatty(self):
        return self._tty


def test_write_filters_terminals_only():
    tty, pipe = _Stream(True), _Stream(False)
    safe_text.write(tty, HOSTILE)
    safe_text.write(pipe, HOSTILE)
    assert tty.getvalue() == safe_text.terminal(HOSTILE)
    assert pipe.getvalue() == HOSTILE
