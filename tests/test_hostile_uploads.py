"""The hostile uploads corpus (tests/hostile/uploads/) through ``catchscope import``.

Each file of MANIFEST.toml is imported by ``catchscope import`` into a fresh copy of the
demo workspace: a refusal must be clean (exit 1, the manifest's message, no traceback,
every file of the workspace byte-identical), an import must add the manifest's number of
features and say what it converted.  The command runs in this interpreter (its Typer app
and error handling, without 74 interpreter starts); the files of :data:`IN_A_PROCESS`
run in a real process as a user runs it, as all do in ``bench/hostile_uploads.py``,
which prints the totals.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from geo.core.workspace import open_workspace
from tests.conftest import REPO

UPLOADS = REPO / "tests" / "hostile" / "uploads"


def _corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hostile_uploads_corpus", UPLOADS / "corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


corpus = _corpus()
ENTRIES = {entry.path: entry for entry in corpus.manifest()}
#: One of each way in: odd values, text encodings, an archive, a spreadsheet, a GeoPackage.
IN_A_PROCESS = frozenset({"int-past-int64.geojson", "lone-surrogates.geojson",
                          "ten-mb-string.geojson", "zip-slip-dotdot.zip", "formulas.xlsx",
                          "odd-values.gpkg", "utf16.csv"})


def test_manifest_lists_every_file_and_the_corpus_is_large_enough() -> None:
    on_disk = {p.name for p in UPLOADS.iterdir()
               if p.is_file() and p.name not in ("MANIFEST.toml", "README.md", "corpus.py")}
    committed = {path for path, entry in ENTRIES.items() if not entry.generated}
    assert on_disk == committed
    assert set(ENTRIES) >= IN_A_PROCESS
    assert {path for path, entry in ENTRIES.items() if entry.generated} == set(corpus.GENERATED)
    assert set(corpus.committed()) == committed  # every file has its builder
    assert len(committed) >= 30
    assert {e.expect for e in ENTRIES.values()} == {"refused", "imported"}
    formats = {e.format for e in ENTRIES.values()}
    assert {"GeoJSON", "CSV", "XLSX", "zipped Shapefile", "GeoPackage", "KML", "KMZ",
            "GPX", "VRT"} <= formats


def _strict(token: str) -> None:
    raise ValueError(f"not strict JSON: {token}")


@pytest.mark.parametrize("path", sorted(ENTRIES))
def test_hostile_upload(path: str, tmp_path: Path) -> None:
    entry = ENTRIES[path]
    outcome = corpus.run(entry, tmp_path, in_process=path not in IN_A_PROCESS)
    where = f"{path}: exit {outcome.returncode}\n{outcome.stdout}\n{outcome.stderr}"
    assert not outcome.traceback, where
    assert not outcome.changed_on_refusal, where
    assert outcome.label == ("refused cleanly" if entry.expect == "refused" else "imported"), \
        where
    assert outcome.as_expected, where
    if entry.expect == "imported":
        layer = open_workspace(tmp_path / "workspace").load(entry.layer)
        json.loads(layer.to_json(), parse_constant=_strict)  # what the map and exports read
