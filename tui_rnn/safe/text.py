"""Text from a corpus or a model, made safe for where it is shown. The one place that does it.

A corpus can hold anything, and a model trained on it can write anything back: `ESC ] 0 ; ...
BEL` sets a terminal's title, `ESC [ ? 1049 l` leaves the alternate screen, U+202E reverses
the text after it. So text that did not come from tui-rnn itself never reaches a terminal raw:

- `terminal(text)`: keeps `\\n` and `\\t`, drops `\\r`, and shows every other control
  character as one visible character (one to one, so but for a dropped `\\r` a character's
  position in the text is its position on screen):
    C0 controls U+0000..U+001F      the Unicode control pictures U+2400..U+241F (ESC as ␛)
    DEL U+007F                      ␡ (U+2421)
    C1 controls U+0080..U+009F      � (U+FFFD): no control pictures exist for them
    bidi and other invisible format controls (U+061C, U+200B..U+200F, U+202A..U+202E,
    U+2060..U+2069, U+FEFF)         � (U+FFFD)
    line / paragraph separators     ␤ (U+2424): some terminals move to a new line on them
    lone surrogates U+D800..U+DFFF  � (U+FFFD): no character, and no encoding writes them
- `line(text)`: `terminal`, on one line (newlines and tabs shown as ↵ and ⇥), and the bytes of
  a file name that are not UTF-8 (os.fsdecode's surrogate escapes) shown as `\\xNN`: for
  messages and lists naming paths.
- `one_line(text)`: exact but for line breaks (↵) and undecodable bytes (`\\xNN`): a message
  naming a path, into a pipe or a file.
- `html(text)`: `terminal`, then HTML-escaped (`&`, `<`, `>`, quotes), for pages and reports
  (a path's undecodable bytes as `\\xNN` too).
- `markdown(text)`: for text inside a fenced code block of a Markdown file: `terminal`, and
  a line of backticks can never close the fence (see `fence`).
- `markdown_inline(text)`: for running Markdown (a sentence, a heading, a table cell): one
  line, every character that could be syntax there (emphasis, links, tables, HTML, entities,
  autolinks) backslash-escaped, and no other.

Plain files and pipes keep the exact text: `write(stream, text)` filters only when the stream
is a terminal.
"""

from __future__ import annotations

import html as _html
import re
import unicodedata

_CONTROL_PICTURES = {cp: chr(0x2400 + cp) for cp in range(0x20)}
_TABLE: dict[int, str | None] = {**_CONTROL_PICTURES}
_TABLE[ord("\n")] = "\n"
_TABLE[ord("\t")] = "\t"
_TABLE[ord("\r")] = None  # dropped: a carriage return would overwrite the line on screen
_TABLE[0x7F] = "\u2421"
for _cp in range(0x80, 0xA0):
    _TABLE[_cp] = "\ufffd"
for _cp in (0x061C, *range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x206A)):
    _TABLE[_cp] = "\ufffd"
_TABLE[0xFEFF] = "\ufffd"
_TABLE[0x2028] = "\u2424"
_TABLE[0x2029] = "\u2424"
_SURROGATES = range(0xD800, 0xE000)  # no character: a file name's undecodable bytes (see `line`)
for _cp in _SURROGATES:
    _TABLE[_cp] = "\ufffd"

_UNSAFE = re.compile(
    "["
    + "".join(re.escape(chr(cp)) for cp in sorted(_TABLE) if cp not in _SURROGATES)
    + "\ud800-\udfff]"
)
# os.fsdecode's surrogate escapes: the bytes of a file name that are not UTF-8.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def is_safe(text: str) -> bool:
    """True when `terminal(text)` would not change the text (only \\n and \\t controls)."""
    return _UNSAFE.search(text.replace("\n", "").replace("\t", "")) is None


def terminal(text: str) -> str:
    """`text` with every control character shown, not obeyed (see the module docstring)."""
    if is_safe(text):  # the common case: no copy
        return text
    return text.translate(_TABLE)


def char(ch: str) -> str:
    """One character as `terminal` shows it, with \\n and \\t made visible too (↵ and ⇥) and a
    combining mark shown on a dotted circle (◌́, Unicode's convention; alone it would merge
    into the cell before it): for per-character views (the inspector, a top-5 list) where a raw
    newline would break the layout. Never empty, never zero cells wide."""
    if ch == "\n":
        return "\u21b5"
    if ch == "\t":
        return "\u21e5"
    if ch == "\r":
        return "\u240d"
    if unicodedata.category(ch) in ("Mn", "Me"):  # a combining mark alone: on a dotted circle
        return "\u25cc" + ch
    return terminal(ch) or "\ufffd"


def line(text: str) -> str:
    """`terminal(text)` on one line: newlines and tabs shown as ↵ and ⇥ too (a list entry, a
    table cell, a message naming a path), and a file name's undecodable bytes as \\xNN."""
    return "".join(char(ch) if ch in "\n\t" else ch for ch in terminal(escaped_bytes(text)))


_LINE_BREAKS = re.compile("[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """`text` exact but for what would break it into lines (a newline, a carriage return, a
    line separator: shown as ↵) and a file name's undecodable bytes (\\xNN): a message of
    ours naming a path, for a pipe or a file (a terminal gets `line`)."""
    return _LINE_BREAKS.sub("\u21b5", escaped_bytes(text))


def escaped_bytes(text: str) -> str:
    """`text` with the surrogate escapes of undecodable bytes (os.fsdecode's, in a path whose
    name is not UTF-8) written as \\xNN: shown, where they could not be encoded."""
    if not _ESCAPED_BYTE.search(text):
        return text
    return _ESCAPED_BYTE.sub(lambda match: f"\\x{ord(match.group()) - 0xDC00:02x}", text)


def html(text: str) -> str:
    """`terminal(text)` (undecodable bytes of a path as \\xNN), HTML-escaped (quotes too, so
    it is safe inside an attribute)."""
    return _html.escape(terminal(escaped_bytes(text)), quote=True)


def fence(text: str) -> str:
    """A Markdown code fence longer than any run of backticks in `text` (at least three)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def markdown(text: str) -> str:
    """`text` for the inside of a fenced code block (`fence(text)` gives the fence)."""
    return terminal(text)


# What Markdown (CommonMark with GitHub's tables, strikethrough, autolinks and math) or HTML could
# read as syntax inside a line (never at its start: the text always follows a prefix of ours):
# escapes, code, emphasis, links, HTML and entities, table cells, strikethrough, math, a heading's
# closing #s, e-mail autolinks. `-`, `+`, `.`, `!`, `(`, `)` are syntax only at a line's start
# or after an escaped `[`, so they stay as they are (tui-rnn, utf-8, c.txt).
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]<>&|~$#@])")
# GitHub's extended autolinks begin at www. or a scheme's ://: an escape there breaks them.
_AUTOLINK = re.compile(r"(?i)(?<=www)\.|:(?=//)")


def markdown_inline(text: str) -> str:
    """`text` inside running Markdown: `terminal`, newlines and tabs shown (↵, ⇥) so it stays
    one line, and every character that could be syntax there backslash-escaped (CommonMark
    allows it for any ASCII punctuation), so `*`, `_`, `[`, `|`, `<`, `&` ... are only
    characters and no autolink forms; the rest is left as it is."""
    escaped = _MARKDOWN_PUNCTUATION.sub(r"\\\1", line(text))
    return _AUTOLINK.sub(lambda match: "\\" + match.group(), escaped)


def isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def write(stream, text: str) -> None:
    """Write model or corpus text to `stream`: filtered on a terminal, exact otherwise."""
    stream.write(terminal(text) if isatty(stream) else text)
