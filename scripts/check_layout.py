"""Check the shape of the package: layers, no import cycles, sizes, imports inside functions.

    python scripts/check_layout.py          # prints each problem, exits 1 if there is any

The layers, lowest first; a module may import its own package and the layers below it:

    blas, safe, cells, training, store, interop, gradcheck, inspection, charts, driver, report,
    app, cli

`tui_rnn/__init__.py` (the version and the BLAS pin) may be imported by anything, and
`tui_rnn/__main__.py` sits on top. Imports under `if TYPE_CHECKING:` count for the layers and the
cycles (a type is a dependency too) but are not function-local imports. tests/test_layout.py runs
this script.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = "tui_rnn"
LAYERS = [
    "blas",
    "safe",
    "cells",
    "training",
    "store",
    "interop",
    "gradcheck",
    "inspection",
    "charts",
    "driver",
    "report",
    "app",
    "cli",
    "__main__",
]
MAX_TOP_LEVEL_FILES = 8
MAX_MODULE_LINES = 700
MAX_LOCAL_IMPORTS = 15
UI_PACKAGE = "app"  # the only layer that may import textual


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def imported_modules(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".")
        if not is_package:
            base.pop()
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    return [source] + [f"{source}.{alias.name}" for alias in node.names]


def is_local(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside a function, and not under `if TYPE_CHECKING:`."""
    current = parents.get(node)
    while current is not None:
        if isinstance(current, ast.If) and "TYPE_CHECKING" in ast.unparse(current.test):
            return False
        if isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef):
            return True
        current = parents.get(current)
    return False


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return cycles


def problems(root: Path) -> list[str]:
    package = root / PACKAGE
    files = sorted(package.rglob("*.py"))
    modules = {module_name(f, root): f for f in files}
    stdlib = set(sys.stdlib_module_names)
    found: list[str] = []
    edges: dict[str, set[str]] = defaultdict(set)
    local_imports: list[str] = []

    top_level = [f for f in files if f.parent == package]
    if len(top_level) > MAX_TOP_LEVEL_FILES:
        found.append(
            f"{len(top_level)} Python files directly under {PACKAGE}/ "
            f"(at most {MAX_TOP_LEVEL_FILES}): {', '.join(f.name for f in top_level)}"
        )
    for module, path in modules.items():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        where = path.relative_to(root)
        if len(lines) > MAX_MODULE_LINES:
            found.append(f"{where}: {len(lines)} lines (at most {MAX_MODULE_LINES})")
        if module.rsplit(".", 1)[-1] in stdlib:
            found.append(f"{where}: the module's name shadows the standard library's")
        tree = ast.parse(text)
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        layer = layer_of(module)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            targets = imported_modules(node, module, path.name == "__init__.py")
            if is_local(node, parents):
                line = lines[node.lineno - 1]
                above = lines[node.lineno - 2] if node.lineno > 1 else ""
                if "#" not in line and not above.strip().startswith("#"):
                    found.append(
                        f"{where}:{node.lineno}: an import inside a function with no comment "
                        "saying why"
                    )
                local_imports.append(f"{where}:{node.lineno}")
            if any(t == "textual" or t.startswith("textual.") for t in targets):
                if layer != UI_PACKAGE:
                    found.append(f"{where}:{node.lineno}: imports textual outside {PACKAGE}/app/")
            for target in targets:
                if target not in modules or target == module or target == PACKAGE:
                    continue
                edges[module].add(target)
                theirs = layer_of(target)
                if layer in LAYERS and theirs in LAYERS and layer != theirs:
                    if LAYERS.index(theirs) > LAYERS.index(layer):
                        found.append(
                            f"{where}:{node.lineno}: {layer} imports {target}, a layer above it"
                        )
    for module in modules:
        edges.setdefault(module, set())
    for cycle in find_cycles(edges):
        found.append("import cycle: " + " -> ".join(cycle))
    if len(local_imports) > MAX_LOCAL_IMPORTS:
        found.append(
            f"{len(local_imports)} imports inside functions (at most {MAX_LOCAL_IMPORTS}): "
            + ", ".join(local_imports)
        )
    return found


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    found = problems(root)
    for problem in found:
        print(problem)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
