"""A passage as `tui-rnn inspect` writes it: coloured text for a terminal (ansi), one standalone
HTML page, or JSON; and the palettes as Rich styles, which the app's passage view shares.

Every character of the text goes through safe.text: `glyph` (safe_text.char: control characters,
newlines and tabs as visible symbols, a newline then also breaks the line) for the terminal and
the app, safe_text.html (the one escaping function) for the page, where every character is one
<span> coloured by its probability (or the chosen unit's activation) whose `title` holds the
model's top-5 guesses for the character after it.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.color import Color
from rich.console import Console, Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Span, Text

from tui_rnn.inspection.colours import PALETTES, Colouring, ink
from tui_rnn.inspection.neurons import FEATURES, NeuronMatch, find_neurons
from tui_rnn.inspection.passage import (
    MAX_LENGTH,
    Neuron,
    Passage,
    PassageError,
    model_label,
    read_passage,
    run_text,
)
from tui_rnn.safe import text as safe_text
from tui_rnn.store import checkpoint, export
from tui_rnn.training.corpus import CorpusError, encode, load_corpus

NO_COLOUR = (88, 88, 88)  # the first character: nothing predicted it


@dataclass(frozen=True)
class Heading:
    """What the page is about: the run, the model, where the text came from."""

    run: str
    model: str  # e.g. "current model, iter 3,000"
    source: str  # e.g. "the validation text (its first 2,000 characters)"


def glyph(ch: str) -> str:
    """A character as one visible symbol (see safe_text.char)."""
    return safe_text.char(ch)


def glyphs(passage: Passage) -> list[str]:
    """Every character's symbol; a newline's is followed by a line break."""
    table = [glyph(ch) + ("\n" if ch == "\n" else "") for ch in passage.chars]
    return [table[i] for i in passage.ids]


def palette_colours(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(background, ink) RGB rows of a palette; the last row is the no-colour entry (index -1)."""
    background = np.vstack([PALETTES[name], NO_COLOUR]).astype(np.uint8)
    text = ink(background)
    return background, np.repeat(text[:, None], 3, axis=1)


def palette_styles(name: str) -> list[Style]:
    """A Rich style per palette entry (index -1: the no-colour one)."""
    background, text = palette_colours(name)
    return [
        Style(bgcolor=Color.from_rgb(*map(int, bg)), color=Color.from_rgb(*map(int, fg)))
        for bg, fg in zip(background, text, strict=True)
    ]


def passage_text(passage: Passage, colouring: Colouring) -> Text:
    """The passage as Rich text, each run of equally shaded characters one span."""
    pieces = glyphs(passage)
    shade = colouring.shades(passage)
    styles = palette_styles(colouring.palette_name)
    ends = np.cumsum([len(piece) for piece in pieces])
    changes = np.flatnonzero(np.diff(shade)) + 1  # where a new shade begins
    starts = np.concatenate([[0], changes])
    stops = np.concatenate([changes, [len(pieces)]])
    spans = [
        Span(int(ends[a - 1]) if a else 0, int(ends[b - 1]), styles[shade[a]])
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True)
    ]
    return Text("".join(pieces), spans=spans, no_wrap=False)


def legend(colouring: Colouring, cells: int = 16, what: str | None = None) -> Text:
    """`probability: 1 ████████ 0`: the colour scale in a line (`what` names it otherwise)."""
    named, first, last = colouring.legend
    what = what or named
    styles = palette_styles(colouring.palette_name)[:-1]
    text = Text(f"{what}: {first} ")
    for k in range(cells):
        text.append(" ", styles[round(k * (len(styles) - 1) / (cells - 1))])
    text.append(f" {last}")
    return text


def loss_line(passage: Passage) -> str:
    if passage.loss_nats is None:
        return "one character: nothing to predict, no loss"
    return (
        f"loss {passage.loss_nats:.4f} nats = {passage.loss_bits:.4f} bits per character over "
        f"{passage.predictions:,} predictions"
    )


def neurons_table(matches: list[NeuronMatch]) -> Table:
    table = Table(title="units that track features of the text (Pearson r)", title_justify="left")
    table.add_column("unit", justify="left")
    table.add_column("feature", justify="left")
    table.add_column("r", justify="right")
    for match in matches:
        table.add_row(match.neuron.label, match.feature, f"{match.r:+.3f}")
    return table


def ansi(
    passage: Passage,
    colouring: Colouring,
    heading: Heading,
    matches: list[NeuronMatch] | None = None,
) -> Group:
    """What `--format ansi` prints: a heading, the loss, the scale, the coloured passage."""
    header = Text(
        safe_text.terminal(f"{heading.run} · {heading.model} · {heading.source}"), style="bold"
    )
    parts: list[RenderableType] = [header, Text(loss_line(passage)), legend(colouring), Text()]
    parts.append(passage_text(passage, colouring))
    if matches:
        parts += [Text(), neurons_table(matches)]
    return Group(*parts)


# -- html --------------------------------------------------------------------------------------
def _hex(rgb) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb)


def _number(value: float, digits: int = 4) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def title(passage: Passage, t: int, activation: float | None = None) -> str:
    """The hover text of character t: what it is, its probability, the top-5 that follow."""
    ch = glyph(passage.chars[passage.ids[t]])
    if t == 0:
        lines = [f"{ch!r} #{t}: the first character, nothing predicted it"]
    else:
        p, bits = passage.probability[t], passage.surprisal_bits[t]
        lines = [f"{ch!r} #{t}: p = {_number(p)} ({_number(bits, 3)} bits)"]
    if activation is not None:
        lines.append(f"activation {activation:+.4f}")
    lines.append("next: " + ", ".join(f"{glyph(c)!r} {q:.3f}" for c, q in passage.top(t)))
    return "\n".join(lines)


_PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; background: #fafafa; color: #222; }
h1 { font-size: 1.2em; } p.meta { color: #555; margin: 0.2em 0; }
pre.passage { font: 15px/1.45 ui-monospace, Menlo, Consolas, monospace; white-space: pre-wrap;
  word-break: break-all; background: #fff; padding: 1em; border: 1px solid #ddd; }
pre.passage span:hover { outline: 1px solid #000; }
.scale span { display: inline-block; width: 1.2em; height: 1em; vertical-align: middle; }
table { border-collapse: collapse; margin-top: 1.5em; }
td, th { padding: 0.15em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }
td.r { text-align: right; font-variant-numeric: tabular-nums; }
"""


def html_page(
    passage: Passage,
    colouring: Colouring,
    heading: Heading,
    matches: list[NeuronMatch] | None = None,
) -> str:
    """One standalone page: inline CSS, no scripts; every character a span with a title."""
    esc = safe_text.html
    background, text = palette_colours(colouring.palette_name)
    classes = "\n".join(
        f".s{k} {{ background: {_hex(bg)}; color: {_hex(fg)}; }}"
        for k, (bg, fg) in enumerate(zip(background, text, strict=True))
    )
    shade = colouring.shades(passage)
    shade = np.where(shade < 0, len(background) - 1, shade)
    neuron = colouring.shown_neuron
    activation = passage.unit(neuron) if neuron is not None else None
    spans = []
    for t, (i, k) in enumerate(zip(passage.ids.tolist(), shade.tolist(), strict=True)):
        ch = passage.chars[i]
        shown = esc(glyph(ch)) + ("\n" if ch == "\n" else "")
        value = None if activation is None else float(activation[t])
        spans.append(f'<span class="s{k}" title="{esc(title(passage, t, value))}">{shown}</span>')
    what, first, last = colouring.legend
    cells = 16
    scale = "".join(
        f'<span class="s{round(k * (len(background) - 2) / (cells - 1))}"></span>'
        for k in range(cells)
    )
    table = ""
    if matches:
        rows = "\n".join(
            f"<tr><td>{esc(m.neuron.label)}</td><td>{esc(m.feature)}</td>"
            f'<td>{esc(FEATURES[m.feature][0])}</td><td class="r">{m.r:+.3f}</td></tr>'
            for m in matches
        )
        table = (
            "<table><caption>units that track features of the text (Pearson r)</caption>\n"
            "<tr><th>unit</th><th>feature</th><th>meaning</th><th>r</th></tr>\n"
            f"{rows}\n</table>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>tui-rnn inspect: {esc(heading.run)}</title>\n"
        f"<style>{_PAGE_STYLE}{classes}\n</style>\n</head>\n<body>\n"
        f"<h1>{esc(heading.run)}</h1>\n"
        f'<p class="meta">{esc(heading.model)} · {esc(heading.source)}</p>\n'
        f'<p class="meta">{esc(loss_line(passage))}</p>\n'
        f'<p class="meta scale">{esc(what)}: {esc(first)} {scale} {esc(last)} '
        "(hover a character: its probability and the model's top-5 guesses for the next)</p>\n"
        f'<pre class="passage">{"".join(spans)}</pre>\n{table}\n</body>\n</html>\n'
    )


# -- json --------------------------------------------------------------------------------------
def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def json_document(
    passage: Passage,
    colouring: Colouring,
    heading: Heading,
    matches: list[NeuronMatch] | None = None,
) -> dict:
    """Per character: the character, its probability (null for the first), its surprisal in
    bits, the top-5 (character, probability) pairs that follow it, and the chosen unit's
    activation; the passage's loss; the units found, with --find-neurons."""
    neuron = colouring.shown_neuron
    activation = passage.unit(neuron) if neuron is not None else None
    chars = []
    for t, i in enumerate(passage.ids.tolist()):
        entry = {
            "char": passage.chars[i],
            "probability": _finite(passage.probability[t]),
            "surprisal_bits": _finite(passage.surprisal_bits[t]),
            "top5": [[c, q] for c, q in passage.top(t)],
        }
        if activation is not None:
            entry["activation"] = float(activation[t])
        chars.append(entry)
    document = {
        "run": heading.run,
        "model": heading.model,
        "source": heading.source,
        "cell": passage.spec.cell,
        "layers": passage.spec.layers,
        "hidden": passage.spec.hidden_size,
        "characters": len(passage),
        "predictions": passage.predictions,
        "loss_nats": passage.loss_nats,
        "loss_bits": passage.loss_bits,
        "neuron": None
        if neuron is None
        else {"layer": neuron.layer, "unit": neuron.unit, "kind": neuron.kind},
        "chars": chars,
    }
    if matches is not None:
        document["neurons"] = [m.to_json() for m in matches]
        document["features"] = {name: description for name, (description, _) in FEATURES.items()}
    return document


# -- the command ---------------------------------------------------------------------------------
FORMATS = ("ansi", "html", "json")
_SUFFIXES = {".html": "html", ".htm": "html", ".json": "json", ".ansi": "ansi", ".ans": "ansi"}


def output_format(fmt: str | None, output: str | None, terminal: bool) -> str:
    """--format if given; else --output's extension (.html, .json, .ansi); else ansi when the
    output is a terminal, json otherwise."""
    if fmt is not None:
        return fmt
    if output not in (None, "-"):
        return _SUFFIXES.get(Path(output).suffix.lower(), "json")
    return "ansi" if terminal else "json"


def passage_ids(document: dict, chars, text_file: str | None, prompt: str | None):
    """(ids, what they are) of the text to inspect: --prompt, --text FILE (read in the run's
    encoding), or the run's own text (passage.run_text)."""

    if prompt is not None:
        if not prompt:
            raise PassageError("the text is empty: give --prompt at least one character")
        return encode(prompt, chars), f"--prompt ({_characters(len(prompt))})"
    if text_file is None:
        return run_text(document)
    try:
        size = os.stat(text_file).st_size
    except OSError:
        size = 0  # load_corpus says what is wrong with it
    if size > 4 * MAX_LENGTH:  # UTF-8 takes at most 4 bytes a character
        raise PassageError(
            f"{text_file} has {size:,} bytes, more than a passage of at most {MAX_LENGTH:,} "
            "characters can hold: use a shorter text"
        )
    try:
        corpus = load_corpus(text_file, document.get("encoding", "utf-8"))
    except CorpusError as err:  # its messages speak of a corpus: this is --text's file
        raise PassageError(f"--text: {err}".replace("corpus file ", "file ", 1)) from None
    text = corpus.decode(corpus.data)
    return encode(text, chars), f"{corpus.name} ({_characters(len(text))})"


def _characters(count: int) -> str:
    return f"{count:,} character" + ("" if count == 1 else "s")


def inspect_run(
    run_dir: str,
    *,
    text_file: str | None = None,
    prompt: str | None = None,
    best: bool = False,
    neuron: Neuron | None = None,
    find: int | None = None,
    fmt: str | None = None,
    output: str | None = None,
    warn: Callable[[str], None] | None = None,
) -> Path | None:
    """`tui-rnn inspect`: read the passage, then write it in `fmt` to `output` (None or "-":
    stdout). Returns the path written (None for stdout). Raises PassageError, RunError,
    CorpusError, UnknownCharactersError (one line each)."""

    to_stdout = output in (None, "-")
    fmt = output_format(fmt, output, to_stdout and safe_text.isatty(sys.stdout))
    if not to_stdout:
        export.refuse_run_files(run_dir, output)
    model, chars, document, iteration = checkpoint.load_model_at(run_dir, best, warn)
    if neuron is not None:
        neuron.check(model.spec)
    ids, source = passage_ids(document, chars, text_file, prompt)
    passage = read_passage(model, ids, chars)
    matches = find_neurons(passage, find) if find else None
    colouring = Colouring("neuron", neuron) if neuron is not None else Colouring()
    heading = Heading(str(run_dir), model_label(best, iteration), source)
    if fmt == "ansi":
        if to_stdout:  # on a terminal rich picks its colours; into a pipe, as TERM says
            console = Console(file=sys.stdout, force_terminal=True)
            console.print(ansi(passage, colouring, heading, matches), soft_wrap=True)
            return None
        buffer = io.StringIO()
        console = Console(file=buffer, force_terminal=True, color_system="truecolor", width=100)
        console.print(ansi(passage, colouring, heading, matches), soft_wrap=True)
        data = buffer.getvalue()
    elif fmt == "html":
        data = html_page(passage, colouring, heading, matches)
    else:
        data = json.dumps(json_document(passage, colouring, heading, matches), allow_nan=False)
        data += "\n"
    destination = "-" if output is None else output
    return export.write_output(destination, lambda f: f.write(data.encode()))
