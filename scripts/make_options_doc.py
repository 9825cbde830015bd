"""Write docs/options.md from the option tables, so the page can never disagree with the code.

    python scripts/make_options_doc.py            # rewrite docs/options.md
    python scripts/make_options_doc.py --check    # exit 1 if docs/options.md is stale

Every table named in TABLES is documented, one Markdown table each: flag, type, range, default,
what it does, and what a resumed run does with it. A new table of options (an `Option` tuple
anywhere in the package) is documented by adding one line to TABLES. tests/test_docs.py fails
when docs/options.md differs from what this script writes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the checkout's tui_rnn, not an installed copy

from tui_rnn.training import generation, options  # noqa: E402

DOC = ROOT / "docs" / "options.md"

# (title, where the table is defined, the options): one section of docs/options.md each.
TABLES: list[tuple[str, str, Sequence[options.Option | generation.GenerationOption]]] = [
    ("Model options", "tui_rnn/training/options.py: MODEL_OPTIONS", options.MODEL_OPTIONS),
    ("Training options", "tui_rnn/training/options.py: TRAINING_OPTIONS", options.TRAINING_OPTIONS),
    ("How long a run trains, how often it saves and publishes",
     "tui_rnn/training/options.py: RUN_OPTIONS", options.RUN_OPTIONS),
    ("Generation options (generate and the app's generator)",
     "tui_rnn/training/generation.py: GENERATION_OPTIONS", generation.GENERATION_OPTIONS),
]  # fmt: skip

KINDS = {int: "integer", float: "number", str: "text", bool: "switch"}
RESUME = {
    "fixed": "kept",  # a resumed run keeps its own value; another is refused
    "change": "may change",
    None: "",  # generation options belong to no run
}


def cell(text: str) -> str:
    """Text that stays inside one cell of a Markdown table."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def code(text: str) -> str:
    return f"`{text}`"


def number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def range_text(option: options.Option) -> str:
    """The values the option takes, as its checks say them."""
    choices = getattr(option, "choices", ())
    if choices:
        text = ", ".join(code(c) for c in choices)
    else:
        name = getattr(option, "metavar", None) or "value"
        low, high = getattr(option, "low", None), getattr(option, "high", None)
        low_sign = "<" if getattr(option, "low_open", False) else "≤"
        high_sign = "<" if getattr(option, "high_open", False) else "≤"
        if low is not None and high is not None:
            text = f"{number(low)} {low_sign} {name} {high_sign} {number(high)}"
        elif low is not None:
            text = f"{name} {'>' if low_sign == '<' else '≥'} {number(low)}"
        elif high is not None:
            text = f"{name} {high_sign} {number(high)}"
        else:
            text = "any"
    if getattr(option, "allow_none", False):
        text += "; `auto`: the default"
    return text


def default_text(option: options.Option) -> str:
    default = option.default
    label = getattr(option, "default_label", None)
    if label is not None:
        return label
    if default is None:  # a run derives it; a generation option is simply not given
        return "none" if isinstance(option, generation.GenerationOption) else "derived"
    if default == ():
        return "none"
    if isinstance(default, bool) or not isinstance(default, int | float):
        return code(str(default))
    return code(number(default))


def flag_text(option: options.Option) -> str:
    """The flag (and its short form) and its metavar (an option with choices lists them under
    values)."""
    short = getattr(option, "short", None)
    text = code(f"{option.flag} {getattr(option, 'metavar', None) or ''}".strip())
    return f"{text} ({code(short)})" if short else text


def table(rows: Iterable[options.Option]) -> list[str]:
    lines = [
        "| option | type | values | default | what it does | on resume |",
        "|---|---|---|---|---|---|",
    ]
    for option in rows:
        kind = (
            "duration"
            if getattr(option, "duration", False)
            else KINDS.get(option.kind, option.kind.__name__)
        )
        if getattr(option, "many", False):
            kind += " (repeatable)"
        resume = RESUME.get(getattr(option, "resume", None), "")
        lines.append(
            "| "
            + " | ".join(
                cell(part)
                for part in (
                    flag_text(option),
                    kind,
                    range_text(option),
                    default_text(option),
                    option.help,
                    resume,
                )
            )
            + " |"
        )
    return lines


def preset_lines() -> list[str]:
    rows = {o.name: o for _, _, table_rows in TABLES for o in table_rows}
    lines = ["| preset | sets |", "|---|---|"]
    for name, values in options.PRESETS.items():
        values = {**values, **options.PRESET_RUN_OPTIONS.get(name, {})}
        sets = ", ".join(
            code(f"{rows[key].flag if key in rows else key} {preset_value(rows.get(key), value)}")
            for key, value in values.items()
        )
        sets = sets or "nothing: the plain defaults are the report's"
        lines.append(f"| {code(name)} | {cell(sets)} |")
    return lines


def preset_value(option, value) -> str:
    if getattr(option, "duration", False):
        return options.format_duration(value)
    return number(value) if isinstance(value, float) else str(value)


def render(tables: Sequence[tuple[str, str, Sequence[options.Option]]] = TABLES) -> str:
    """docs/options.md as this script writes it."""
    out = [
        "<!-- Generated by scripts/make_options_doc.py from the option tables; do not edit. -->",
        "<!-- After changing an option: python scripts/make_options_doc.py -->",
        "",
        "# Options",
        "",
        "Every option below is defined once, in the table named under its heading; the command",
        "line, `config.json`, resume and the app's forms all read that table, so each refuses the",
        "same values with the same one-line message (exit code 2). A default marked *derived*",
        "depends on other options: its text says how. A value given on the command",
        "line is told from one left out even when it equals the default: defaults are resolved",
        "in this order: what was given, then the preset (`--preset`), then the defaults derived",
        "from other options, then the plain defaults below, which are the report's setup.",
        "",
        "*On resume*: `kept` means a resumed run keeps the value in its `config.json`, and",
        "giving another (even the default) is refused; `may change` means a resume may give a",
        "new value (a new `--eta` is recorded in `config.json`'s `eta_changes`). The notes that",
        "are not in the table (the corpus and `--encoding`, `--preset`, `--run-dir`,",
        "`--resume`, `--json`) are in [the command line](cli.md).",
    ]
    for title, source, rows in tables:
        out += ["", f"## {title}", "", f"Defined in `{source}`.", ""]
        out += table(rows)
    out += [
        "",
        "## Presets",
        "",
        "`--preset NAME` (defined in `tui_rnn/training/options.py: PRESETS` and",
        "`PRESET_RUN_OPTIONS`) sets these; options given explicitly override them, and another",
        "`--optimizer` takes its own default `--eta`, not the preset's; an explicit `--iterations`",
        "or `--epochs` replaces a preset's `--time-limit`, `--val-fraction 0` its `--patience`,",
        "`--lr-decay` its schedule. [The models](models.md#presets) say what each is for.",
        "",
    ]
    out += preset_lines()
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC.relative_to(ROOT)} is stale: run python scripts/make_options_doc.py")
            return 1
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
