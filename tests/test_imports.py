"""tdlib's import graph: no circle, and the layers import downwards only (tdlib/__init__.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tdlib

ROOT = Path(tdlib.__file__).parent


def _modules() -> dict[str, Path]:
    """Every module of tdlib by dotted name (a package by its ``__init__``)."""
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ["tdlib", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name of ``from <dots><name> import ...`` inside ``module``."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """Edges module -> tdlib modules it imports, at any depth of its code (lazy imports count)."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node)
                # "from pkg import sub" imports the submodule; "from mod import name" the module
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path ``[a, b, ..., a]``, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_graph_sees_lazy_and_relative_imports():
    g = import_graph()
    assert "tdlib.nets.topdown" in g["tdlib.nets.factory"]  # module level
    assert "tdlib.pyramid" in g["tdlib.nets.layers"]  # inside a function, two dots
    assert "tdlib.book.chapters" in g["tdlib.book.results"]  # inside a function


def test_no_import_circle_in_tdlib():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


LOWER = ("tdlib.nets", "tdlib.data", "tdlib.pyramid", "tdlib.io", "tdlib.provenance")
UPPER = ("tdlib.train", "tdlib.book", "tdlib.experiments", "tdlib.bench", "tdlib.cli", "tdlib.explain")


@pytest.mark.parametrize("lower", LOWER)
def test_lower_layers_import_nothing_above_them(lower):
    g = import_graph()
    bad = sorted((m, t) for m, ts in g.items() if m == lower or m.startswith(lower + ".")
                 for t in ts if t.startswith(UPPER))
    assert not bad, f"{lower} imports upper layers: {bad}"


def test_explain_imports_only_the_layers_below_it():
    """Grad-CAM sits above nets, data and speed, beside robustness, below train, book and experiments."""
    g = import_graph()
    allowed = ("tdlib.explain", "tdlib.nets", "tdlib.data", "tdlib.pyramid", "tdlib.speed", "tdlib.io",
               "tdlib.provenance")
    bad = sorted((m, t) for m, ts in g.items() if m.startswith("tdlib.explain") for t in ts
                 if not t.startswith(allowed))
    assert not bad, f"tdlib.explain imports layers above it: {bad}"


def test_book_machinery_imports_no_experiment():
    g = import_graph()
    bad = sorted((m, t) for m, ts in g.items() if m.startswith("tdlib.book") for t in ts
                 if t.startswith("tdlib.experiments"))
    assert not bad
