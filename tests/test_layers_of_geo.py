"""The stage packages of ``geo`` import one way, down the pipeline, with no cycles.

The rules are DESIGN.md's picture of the layers, and every package's ``__init__.py``
docstring says the same ("May import: …"). Every import counts: at module level, inside
functions and under ``TYPE_CHECKING`` (a cycle hidden in a function is still a cycle a
reader has to untangle).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

GEO = Path(__file__).resolve().parents[1] / "geo"

#: Which stage packages each one may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "reports": {"core"},
    "store": {"core"},
    "ingest": {"core", "store"},
    "raster": {"core"},
    "scope": {"core", "raster"},
    "maps": {"core", "raster", "scope"},
    "export": {"core", "raster", "scope", "maps"},
    "serve": {"core"},
    "publish": {"core", "raster", "scope", "maps", "export"},
    "cli": {"core", "reports", "store", "ingest", "raster", "scope", "maps", "export", "serve",
            "publish"},
}


def _modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if not all((root.parent / Path(*parts[:i]) / "__init__.py").exists()
                   for i in range(1, len(parts))):
            continue  # build scripts in plain folders (geo/maps/static/vendor.py)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, modules: set[str]) -> list[tuple[int, str]]:
    """The ``geo`` modules a file imports, with line numbers (``from x import module`` too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    edges = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            edges += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "geo"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "geo":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                edges.append((node.lineno, sub if sub in modules else node.module))
    return edges


def _graph(root: Path) -> dict[str, list[tuple[int, str]]]:
    modules = _modules(root)
    return {name: _imports(path, set(modules)) for name, path in modules.items()}


def layer_violations(root: Path) -> list[str]:
    """``'geo.core.io:12 imports geo.scope.assess (core may import nothing above it)'``…"""
    problems = []
    for module, edges in _graph(root).items():
        parts = module.split(".")
        if len(parts) < 2:
            continue  # geo/__init__.py re-exports the public surface from anywhere
        package = parts[1]
        for line, target in edges:
            target_parts = target.split(".")
            if len(target_parts) < 2:
                problems.append(f"{module}:{line} imports the top package `geo`; import the "
                                "module that defines the name instead")
                continue
            used = target_parts[1]
            if used != package and used not in ALLOWED.get(package, set()):
                allowed = ", ".join(sorted(ALLOWED.get(package, set()))) or "nothing else"
                problems.append(f"{module}:{line} imports {target} ({package} may import "
                                f"{allowed})")
    return problems


def import_cycles(root: Path) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan), as sorted names."""
    graph = {m: sorted({t for _, t in edges if t != m}) for m, edges in _graph(root).items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, []):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycles() -> None:
    assert import_cycles(GEO) == []


def test_packages_import_only_down_the_stages() -> None:
    assert layer_violations(GEO) == []


def test_top_level_of_geo_is_a_short_list_of_stages() -> None:
    entries = sorted(p.name for p in GEO.iterdir() if p.name != "__pycache__")
    assert len(entries) <= 12, entries
    assert {p.name for p in GEO.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_says_what_it_may_import(package: str) -> None:
    doc = ast.get_docstring(ast.parse((GEO / package / "__init__.py").read_text("utf-8")))
    assert doc and "May import:" in doc
    said = set(re.findall(r"``geo\.(\w+)``", doc.split("May import:")[1]))
    if package == "cli":
        return  # "every other package"
    assert said == ALLOWED[package], f"geo/{package}/__init__.py says {said}"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "geo"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_the_checks_catch_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/a.py": "def f():\n    from geo.core import b\n",
        "core/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from geo.core.a import f\n",
        "core/c.py": "from geo.scope.assess import x\n",
        "scope/__init__.py": "",
        "scope/assess.py": "from geo.core.c import y\nx = 1\n",
    })
    assert import_cycles(root) == [["geo.core.a", "geo.core.b"],
                                   ["geo.core.c", "geo.scope.assess"]]
    assert layer_violations(root) == [
        "geo.core.c:1 imports geo.scope.assess (core may import nothing else)"]
