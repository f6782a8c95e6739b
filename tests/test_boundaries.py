"""Architecture rules that keep the code base in shape."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

GEO = Path(__file__).resolve().parents[1] / "geo"
MODULES = sorted(p for p in GEO.rglob("*.py"))
#: Modules of the importable package (build scripts in plain folders such as geo/static/
#: are not part of the library's surface).
PACKAGE_MODULES = [p for p in MODULES
                   if all((d / "__init__.py").exists() for d in p.relative_to(GEO).parents
                          for d in [GEO / d])]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_library_never_imports_streamlit(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            assert not name.split(".")[0].startswith("streamlit"), (
                f"{path.name}:{node.lineno} imports {name}; keep Streamlit in app.py / ui/"
            )


def _module_name(path: Path) -> str:
    parts = path.relative_to(GEO).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("geo", *parts))


@pytest.mark.parametrize("path", [p for p in PACKAGE_MODULES if p.name != "__main__.py"],
                         ids=lambda p: _module_name(p))
def test_every_module_declares_its_public_surface(path: Path) -> None:
    module = importlib.import_module(_module_name(path))
    assert hasattr(module, "__all__"), f"{path.name} has no __all__"
    for name in module.__all__:
        assert hasattr(module, name), f"{path.name}: __all__ names missing {name!r}"


def test_all_errors_descend_from_geoerror() -> None:
    import geo.core.errors as errors

    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and not issubclass(obj, Warning):
            assert issubclass(obj, errors.GeoError), name
