"""Odd values in an upload are converted (with a note) or refused (with a message naming
feature and field), and a refused import leaves every file of the workspace byte-identical.

Three ways in, as users meet them: the library calls the app's *Add data* tab makes
(``ingest_bytes`` then ``import_into``, ui/add_data.py), ``catchscope import`` through
typer's CliRunner, and ``catchscope import`` as a real process.  Then the store on its
own (the *Draw and edit* path) and saves that fail midway, by faults injected into the
store's steps.  The workspace is hashed file by file before and after.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point
from typer.testing import CliRunner

from geo.cli.main import app
from geo.core.errors import DataReadError, DataWriteError
from geo.core.workspace import open_workspace
from geo.ingest.importer import import_into, workspace_reference
from geo.ingest.read import ImportOptions, ingest_bytes
from geo.store import gpkg as store
from tests.conftest import REPO

SITE = "AWS-000521"
LON, LAT = 120.9631, 31.1921
LAYER = "discharge_points"


def tree_hash(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (names included: a new file is a change)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def geojson_text(*props: dict[str, Any], coordinates: Any = None) -> str:
    """A FeatureCollection of points; ``json.dumps`` writes NaN/Infinity and \\ud800 as is."""
    features = [{"type": "Feature", "properties": p,
                 "geometry": {"type": "Point",
                              "coordinates": coordinates or [LON + i * 1e-4, LAT]}}
                for i, p in enumerate(props)]
    return json.dumps({"type": "FeatureCollection", "features": features})


def app_import(root: Path, data: bytes, name: str, *, layer: str = LAYER,
               kind: str | None = None) -> Any:
    """What ui/add_data.py does: ingest the bytes, then import_into with the base version."""
    ws = open_workspace(root)
    result = ingest_bytes(data, name, ImportOptions(),
                          reference=lambda near: workspace_reference(ws, near))
    base = store.layer_version(ws, layer) if layer in ws.specs else None
    return import_into(ws, layer, result, kind=kind, site=SITE, field_map={}, mode="append",
                       base_version=base, author="tester")


# --- converted, with a note naming the field and the feature ---------------------------------

#: (properties of feature 1, field, the value loaded back, the note)
CONVERTED: dict[str, tuple[dict[str, Any], str, Any, str]] = {
    "int-past-int64": ({"n": 99999999999999999999}, "n", "99999999999999999999",
                       r"Field 'n': integers past ±9,007,199,254,740,991 \(2\*\*53 - 1\), "
                       r"which maps and GIS round \(feature 1 \(name 'f1'\): "
                       r"99999999999999999999\); the field is kept as text, so no digit is lost"),
    "int-past-2**53": ({"n": 2**60}, "n", str(2**60), "kept as text"),
    "int-below-int64": ({"n": -(2**63) - 1}, "n", str(-(2**63) - 1), "kept as text"),
    "uint64": ({"n": 2**63}, "n", str(2**63), "kept as text"),
    "nan": ({"x": float("nan")}, "x", None,
            r"Field 'x': NaN/Infinity .*\(feature 1 \(name 'f1'\): NaN\); stored as empty"),
    "infinity": ({"x": float("-inf")}, "x", None, r"\(feature 1 \(name 'f1'\): -Infinity\)"),
    "lone-surrogate": ({"note": "a\ud800b"}, "note", "a\ufffdb",
                       r"Field 'note': invalid characters \(lone UTF-16 surrogates\) "
                       r"replaced by U\+FFFD \(feature 1"),
    "control-characters": ({"note": "a\x00b\x1b[31mc\r\nd\x7f\tok"}, "note", "ab[31mc\nd\tok",
                           r"Field 'note': control characters removed \(feature 1"),
    "nested": ({"tags": {"a": [1, {"b": None}], "c": "x\ud800"}}, "tags",
               '{"a": [1, {"b": null}], "c": "x\ufffd"}',
               r"Field 'tags': nested objects/arrays .*stored as JSON text"),
    "mixed-types": ({"v": "text"}, "v", "text",
                    r"Field 'v' mixes text \(feature 1 \(name 'f1'\)\), integers "
                    r"\(feature 2 \(name 'f2'\)\); it is kept as text"),
}


@pytest.mark.parametrize("case_id", sorted(CONVERTED))
def test_odd_value_is_converted_with_a_note(case_id: str, demo_copy: Path) -> None:
    props, column, expected, note = CONVERTED[case_id]
    second = {"name": "f2", column: 7} if case_id == "mixed-types" else {"name": "f2"}
    data = geojson_text({"name": "f1", **props}, second).encode()
    report = app_import(demo_copy, data, "odd.geojson")
    assert any(re.search(note, line) for line in report.lines()), report.lines()
    loaded = open_workspace(demo_copy).load(LAYER)
    value = loaded.loc[loaded["name"] == "f1", column].iloc[0]
    if expected is None:
        assert value is None or value != value  # null (None or NaN)
    else:
        assert value == expected
    if case_id == "mixed-types":
        assert loaded.loc[loaded["name"] == "f2", column].iloc[0] == "7"


def test_odd_field_names_are_renamed(demo_copy: Path) -> None:
    long_name = "x" * 300
    data = geojson_text({"name": "f1", "": 1, "   ": 2, long_name: 3, "geometry": "g",
                         "geom": "h", "row_id": 4, "FID": "upper", "Source": "s",
                         "Kind": "k", "a\ud800": 5}).encode()
    report = app_import(demo_copy, data, "names.geojson")
    loaded = open_workspace(demo_copy).load(LAYER)
    row = loaded[loaded["name"] == "f1"].iloc[0]
    assert row["field_2"] == 1 and row["field_3"] == 2
    assert row["x" * 63] == 3
    assert row["src_geometry"] == "g" and row["src_geom"] == "h" and row["src_row_id"] == 4
    assert row["FID_2"] == "upper" and row["Source_2"] == "s" and row["src_Kind"] == "k"
    assert row["a\ufffd"] == 5
    assert row["fid"] != "upper" and row["source"].startswith("names.geojson")
    lines = "\n".join(report.lines())
    assert "Field '' renamed 'field_2' (it is empty)" in lines
    assert "longer than 63 characters, cut" in lines
    assert "Field 'FID' renamed 'FID_2'" in lines


def test_the_issue_cases_import_and_export_cleanly(demo_copy: Path, tmp_path: Path) -> None:
    """The two reports of issue 14 (int past 2**63, "\\ud800") through the real CLI."""
    path = tmp_path / "odd.geojson"
    path.write_text(geojson_text({"name": "big", "n": 2**64 + 1},
                                 {"name": "sur\ud800", "n": 1}), encoding="utf-8",
                    errors="surrogatepass")
    done = _run_cli("import", str(path), "--layer", LAYER, "--site", SITE, "-w", str(demo_copy))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "kept as text" in done.stdout and "U+FFFD" in done.stdout
    out = tmp_path / "out"
    out.mkdir()
    done = _run_cli("export", SITE, "-f", "geojson", "-o", str(out), "-w", str(demo_copy))
    assert done.returncode == 0, done.stderr
    for geojson_file in out.glob("*.geojson"):
        json.loads(geojson_file.read_text(encoding="utf-8"), parse_constant=_no_constant)
    names = {f["properties"].get("name") for f in json.loads(
        next(out.glob("*-scope.geojson")).read_text(encoding="utf-8"))["features"]}
    assert "sur\ufffd" in names


def _no_constant(token: str) -> None:
    raise ValueError(f"not strict JSON: {token}")


# --- refused, naming feature and field; nothing written ----------------------------------------

TEN_MB = 10 * 1024 * 1024

#: (GeoJSON text, the message (regex))
REFUSED: dict[str, tuple[str, str]] = {
    "ten-mb-string": (geojson_text({"name": "long", "description": "a" * TEN_MB}),
                      r"feature 1 \(name 'long'\), field 'description': a value of "
                      r"10,485,760 characters, over the limit of 100,000 per value"),
    "nested-too-deep": (geojson_text({"name": "deep", "tree": json.loads("[" * 70 + "]" * 70)}),
                        r"feature 1 \(name 'deep'\), field 'tree': a nested value that "
                        r"cannot be stored \(nested more than 64 levels deep\)"),
    "nan-coordinates": (geojson_text({"name": "nowhere"},
                                     coordinates=[float("nan"), float("nan")]),
                        r"nothing can be imported \(feature 1 \(name 'nowhere'\): coordinates "
                        r"hold NaN or Infinity\)"),
}


@pytest.fixture(params=sorted(REFUSED))
def refused(request: pytest.FixtureRequest) -> tuple[str, str, str]:
    text, message = REFUSED[request.param]
    return request.param, text, message


@pytest.mark.parametrize("layer, kind", [(LAYER, None), ("new_points", "discharge_point")])
def test_refused_through_the_app_path_leaves_workspace_identical(
        refused: tuple[str, str, str], layer: str, kind: str | None, demo_copy: Path) -> None:
    _, text, message = refused
    before = tree_hash(demo_copy)
    with pytest.raises(DataReadError, match=message):
        app_import(demo_copy, text.encode(), "odd.geojson", layer=layer, kind=kind)
    assert tree_hash(demo_copy) == before


def test_refused_through_cli_runner(refused: tuple[str, str, str], demo_copy: Path,
                                    tmp_path: Path) -> None:
    _, text, message = refused
    path = tmp_path / "odd.geojson"
    path.write_text(text, encoding="utf-8")
    before = tree_hash(demo_copy)
    result = CliRunner().invoke(app, ["import", str(path), "--layer", LAYER, "--site", SITE,
                                      "-w", str(demo_copy)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert re.search(message, " ".join(result.output.split())), result.output
    assert tree_hash(demo_copy) == before


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("catchscope")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "geo.cli.main"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env={"PATH": "/usr/bin:/bin", "COLUMNS": "400",
                                         "LANG": "C.UTF-8", "HOME": str(REPO.parent)},
                          check=False)


@pytest.mark.parametrize("case_id", ["ten-mb-string", "nan-coordinates"])
def test_refused_through_a_real_process(case_id: str, demo_copy: Path, tmp_path: Path) -> None:
    text, message = REFUSED[case_id]
    path = tmp_path / "odd.geojson"
    path.write_text(text, encoding="utf-8")
    before = tree_hash(demo_copy)
    done = _run_cli("import", str(path), "--layer", LAYER, "--site", SITE,
                    "-w", str(demo_copy))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("error:")
    assert re.search(message, " ".join(done.stderr.split())), done.stderr
    assert tree_hash(demo_copy) == before


# --- the store on its own (Draw and edit): refuses what no GeoPackage holds ------------------


@pytest.mark.parametrize("value, message", [
    (2**63, r"feature 'dp-x', field 'depth': the integer 9223372036854775808 is past the "
            r"64-bit range"),
    (float("inf"), r"feature 'dp-x', field 'depth': inf is not a number a layer can hold"),
    ("a\ud800", r"feature 'dp-x', field 'depth': its text is not valid Unicode"),
])
def test_store_refuses_unstorable_values_and_writes_nothing(value: Any, message: str,
                                                            demo_copy: Path) -> None:
    ws = open_workspace(demo_copy)
    new = gpd.GeoDataFrame({"fid": ["dp-x"], "name": ["x"],
                            "depth": pd.Series([value], dtype=object)},
                           geometry=[Point(LON, LAT)], crs="EPSG:4326")
    before = tree_hash(demo_copy)
    with pytest.raises(DataWriteError, match=message):
        store.save_layer(ws, LAYER, new, base_version=0)
    assert tree_hash(demo_copy) == before


# --- saves that fail midway ---------------------------------------------------------------------

#: Where a save can break: inside the transaction, and after its commit (the layer file).
FAULTS = {
    "writing-the-table": "_write_table",
    "recording-history": "_record",
    "counting-changes": "_diff",
    "rewriting-layer-file": "_write_spec",
}


def _points(n: int, prefix: str) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": [f"{prefix} {i}" for i in range(n)]},
                            geometry=[Point(LON + i * 1e-4, LAT) for i in range(n)],
                            crs="EPSG:4326")


@pytest.mark.parametrize("fault, target", [
    (fault, target) for fault in sorted(FAULTS)
    for target in ("migrate", "migrate-beside-stored", "new-layer", "stored-layer")
    if not (fault == "rewriting-layer-file" and target == "stored-layer")  # rewrites none
])
def test_a_save_failing_midway_leaves_workspace_identical(
        fault: str, target: str, demo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layer, kind = ("new_points", "discharge_point") if target == "new-layer" else (LAYER, None)
    data = _points(2, "first").to_json().encode()
    if target == "stored-layer":  # a first import moves the layer into the store
        app_import(demo_copy, data, "first.geojson")
    if target == "migrate-beside-stored":  # the store exists, with another layer
        app_import(demo_copy, data, "first.geojson", layer="other_points",
                   kind="discharge_point")
    before = tree_hash(demo_copy)
    real = getattr(store, FAULTS[fault])
    # history: a migration or creation records version 1 first; break the save's own
    fail_at = 1 if fault == "recording-history" and target != "stored-layer" else 0
    calls = []

    def broken(*args: Any, **kwargs: Any) -> Any:
        calls.append(FAULTS[fault])
        if len(calls) - 1 == fail_at:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, FAULTS[fault], broken)
    with pytest.raises(DataWriteError, match=r"disk on fire\. Nothing was saved\.") as caught:
        app_import(demo_copy, _points(3, "second").to_json().encode(), "second.geojson",
                   layer=layer, kind=kind)
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert tree_hash(demo_copy) == before
    monkeypatch.setattr(store, FAULTS[fault], real)
    report = app_import(demo_copy, _points(3, "second").to_json().encode(), "second.geojson",
                        layer=layer, kind=kind)  # and the next save works
    assert report.saved is not None and report.imported == 3


def test_a_fault_midway_through_the_cli_is_a_message(demo_copy: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ok.geojson"
    path.write_text(_points(2, "p").to_json(), encoding="utf-8")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "_write_table", broken)
    before = tree_hash(demo_copy)
    result = CliRunner().invoke(app, ["import", str(path), "--layer", LAYER, "-w",
                                      str(demo_copy)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "No space left on device" in result.output and "Nothing was saved" in result.output
    assert tree_hash(demo_copy) == before

