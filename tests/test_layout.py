"""The package's shape (scripts/check_layout.py): layers, no import cycles, sizes, local imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_layout_holds():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_layout.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_checker_finds_a_cycle_and_a_layer_breach(tmp_path):
    """The checker itself can fail: a package with a cycle and an upward import."""
    package = tmp_path / "tui_rnn"
    (package / "cells").mkdir(parents=True)
    (package / "store").mkdir()
    (package / "__init__.py").write_text("")
    (package / "cells" / "__init__.py").write_text("")
    (package / "store" / "__init__.py").write_text("")
    (package / "cells" / "a.py").write_text("from tui_rnn.store.b import x\ny = 1\n")
    (package / "store" / "b.py").write_text("from tui_rnn.cells.a import y\nx = 1\n")
    (package / "cells" / "c.py").write_text("def f():\n    import json\n    import textual\n")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import check_layout
    finally:
        sys.path.pop(0)
    found = "\n".join(check_layout.problems(tmp_path))
    assert "import cycle" in found
    assert "cells imports tui_rnn.store.b, a layer above it" in found
    assert "no comment saying why" in found
    assert "imports textual outside" in found
