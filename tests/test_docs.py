"""The documentation: the README a newcomer reads, docs/options.md generated from the option
tables and never stale, and no relative link (or #heading) in README.md and docs/ that leads
nowhere."""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
try:
    import make_options_doc
finally:
    sys.path.pop(0)

README = ROOT / "README.md"
COMMANDS = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install . && tui-rnn",
    'python3 -m venv .venv && . .venv/bin/activate && pip install ".[test]" && python -m pytest',
)
MAX_README_LINES = 300


def documents() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


# -- docs/options.md ----------------------------------------------------------------------------
def test_options_doc_is_what_the_generator_writes():
    written = (ROOT / "docs" / "options.md").read_text(encoding="utf-8")
    assert written == make_options_doc.render(), (
        "docs/options.md is stale: run python scripts/make_options_doc.py"
    )


def test_a_changed_option_changes_the_page():
    """The comparison above can fail: a new default, range or resume rule shows in the page."""
    title, source, options = make_options_doc.TABLES[0]
    first = options[0]
    changed = replace(first, help="a help text nobody wrote", resume="change")
    tables = [(title, source, (changed, *options[1:])), *make_options_doc.TABLES[1:]]
    page = make_options_doc.render(tables)
    assert page != make_options_doc.render()
    row = next(line for line in page.splitlines() if line.startswith(f"| `{first.flag}"))
    assert "a help text nobody wrote" in row and row.endswith("| may change |")


def test_every_option_of_every_table_has_its_row():
    page = make_options_doc.render()
    rows = [line for line in page.splitlines() if line.startswith("| `--")]
    flags = [option.flag for _, _, options in make_options_doc.TABLES for option in options]
    assert len(rows) == len(flags)
    for flag, row in zip(flags, rows, strict=True):
        assert row.startswith(f"| `{flag}")


def test_a_range_is_said_as_the_option_checks_it():
    from tui_rnn.training import options

    assert make_options_doc.range_text(options.BY_NAME["dropout"]) == "0 ≤ P < 1"
    assert make_options_doc.range_text(options.BY_NAME["layers"]) == "1 ≤ N ≤ 16"
    assert make_options_doc.range_text(options.BY_NAME["eta"]) == "X > 0"
    assert make_options_doc.range_text(options.BY_NAME["cell"]) == "`rnn`, `lstm`, `gru`"


def test_a_pipe_in_a_help_text_stays_in_its_cell():
    assert make_options_doc.cell("a | b") == "a \\| b"


# -- README ---------------------------------------------------------------------------------------
def test_the_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines"


def test_the_readme_opens_with_the_two_commands():
    """After the title, the first thing is the code block of the set-up commands, exactly."""
    lines = [line for line in README.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines[0].startswith("# ")
    assert lines[1].startswith("```")
    assert tuple(lines[2:4]) == COMMANDS
    assert lines[4] == "```"


# -- links ----------------------------------------------------------------------------------------
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
FENCED = re.compile(r"^\s*```.*?^\s*```[^\n]*$", re.MULTILINE | re.DOTALL)


def without_code(text: str) -> str:
    """The text with fenced code blocks and inline code spans taken out."""
    return re.sub(r"`[^`]*`", "", FENCED.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for line in FENCED.sub("", path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = anchor = slug(match.group(1))
            n = 0
            while anchor in found:
                n += 1
                anchor = f"{base}-{n}"
            found.add(anchor)
    return found


def broken_links(path: Path) -> list[str]:
    problems = []
    for target in LINK.findall(without_code(path.read_text(encoding="utf-8"))):
        if SCHEME.match(target):
            continue  # a web address: not checked here
        file_part, _, fragment = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{path.name}: {target} (no such file)")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            problems.append(f"{path.name}: {target} (no such heading)")
    return problems


@pytest.mark.parametrize("path", documents(), ids=lambda p: p.name)
def test_every_relative_link_leads_somewhere(path):
    assert broken_links(path) == []


def test_the_docs_are_linked_from_the_readme():
    text = README.read_text(encoding="utf-8")
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{page.name}" in text, page.name


def test_the_link_check_finds_a_broken_link_and_heading(tmp_path):
    (tmp_path / "a.md").write_text("# Title\n\n## Some `code`, here\n", encoding="utf-8")
    page = tmp_path / "b.md"
    page.write_text(
        "[ok](a.md) [ok](a.md#some-code-here) [web](https://example.org/x.md)\n"
        "[gone](missing.md) [no heading](a.md#nowhere) ![img](pic.svg)\n"
        "```\n[in code](not-checked.md)\n```\n`[inline](not-checked.md)`\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "b.md: missing.md (no such file)",
        "b.md: a.md#nowhere (no such heading)",
        "b.md: pic.svg (no such file)",
    ]
