"""Property-based tests (hypothesis) of import → save → load → export.

For arbitrary GeoJSON property dicts (text with lone surrogates and control characters,
integers far past 64 bits, floats with NaN and ±Infinity, booleans, nulls, nested
arrays and objects, 100,001-character text) and point geometries (2D, 3D, NaN, empty,
null), imported the way the app's *Add data* tab does, exactly one of:

* a clean :class:`GeoError` whose message names a feature, and every file of the
  workspace byte-identical; or
* a save whose load returns the values as geo/ingest/values.py documents the
  conversions (an independent model of those rules below), and whose GeoJSON (strict
  JSON: no NaN), GeoPackage (opened with pyogrio) and CSV (the csv module) exports are
  valid.

Profiles: ``catchscope-ci`` (the default: derandomised, no example database, a modest
number of examples so the suite stays fast on two cores) and ``catchscope-dev``
(random, ten times the examples) — ``HYPOTHESIS_PROFILE=catchscope-dev pytest
tests/test_import_properties.py`` to hunt.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from geo.core.catalogue import Datum
from geo.core.errors import GeoError
from geo.core.workspace import copy_workspace, open_workspace
from geo.export.site import collect, render
from geo.ingest.importer import import_into, workspace_reference
from geo.ingest.read import ImportOptions, ingest_bytes
from tests.conftest import REPO

settings.register_profile("catchscope-ci", derandomize=True, database=None, deadline=None,
                          max_examples=30, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("catchscope-dev", deadline=None, max_examples=300,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "catchscope-ci"))
EXAMPLES = settings().max_examples

SITE = "AWS-000521"
LON, LAT = 120.9631, 31.1921
LAYER = "discharge_points"
MAX_CHARS = 100_000  # Limits.max_value_chars
EXACT_INT = 2**53 - 1

# --- strategies -------------------------------------------------------------------------------

_ODD = ["\ud800", "\udfff", "\udc80x", "\x00", "\x1b[31m", "\r", "\r\n", "\n", "\t", "\x7f",
        "\x85", "\ufffe", "\uffff", "=", "+", "-", "@", "é", "名称", "😀", "\u202e", '"', "'",
        "<b>", "&amp;", " "]
texts = st.lists(st.one_of(st.sampled_from(_ODD), st.characters(exclude_categories=[])),
                 max_size=8).map("".join)
long_text = st.just("y" * (MAX_CHARS + 1))
ints = st.one_of(st.integers(-10, 10), st.integers(-(2**70), 2**70),
                 st.sampled_from([EXACT_INT, EXACT_INT + 1, -(2**63), 2**63 - 1, 2**63, 2**64]))
floats = st.floats(allow_nan=True, allow_infinity=True)
scalars = st.one_of(st.none(), st.booleans(), ints, floats, texts)
nested = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)), max_leaves=6)
#: What one column holds: a column of one type is stored typed, a mix as text.
COLUMN_VALUES = {
    "int": ints, "float": floats, "bool": st.booleans(), "text": texts,
    "nested": nested, "any": st.one_of(scalars, nested), "long": st.one_of(texts, long_text),
}
#: Names our own fields, GDAL or the store also use (checked to import or refuse cleanly).
ODD_KEYS = ["", " ", "FID", "Fid", "geometry", "Geometry", "geom", "row_id", "name", "Name",
            "source", "Source", "datum", "layer", "kind", "aws_ref", "x" * 80]
GEOMETRIES = ["point", "point", "point", "point3d", "nan", "empty", "null"]


@st.composite
def uploads(draw: st.DrawFn) -> dict[str, Any]:
    """Features (``fid`` hyp-<i>), columns keyed ``k<i>_<text>`` plus odd names."""
    n = draw(st.integers(1, 4))
    kinds = draw(st.lists(st.sampled_from(sorted(COLUMN_VALUES)), max_size=4))
    keys = [f"k{i}_" + draw(texts) for i in range(len(kinds))]
    odd = draw(st.lists(st.sampled_from(ODD_KEYS), max_size=2, unique=True))
    features = []
    for j in range(n):
        props: dict[str, Any] = {"fid": f"hyp-{j}"}
        for key, kind in zip(keys, kinds, strict=True):
            if draw(st.booleans()) or j == 0:
                props[key] = draw(COLUMN_VALUES[kind])
        for key in odd:
            props[key] = draw(st.one_of(scalars, nested))
        geometry = draw(st.sampled_from(GEOMETRIES))
        x = LON + draw(st.floats(-0.005, 0.005))
        y = LAT + draw(st.floats(-0.005, 0.005))
        features.append({"props": props, "geometry": geometry, "xy": (x, y)})
    return {"features": features, "keys": keys, "odd": odd}


def _geometry(kind: str, xy: tuple[float, float]) -> dict[str, Any] | None:
    x, y = xy
    return {"point": {"type": "Point", "coordinates": [x, y]},
            "point3d": {"type": "Point", "coordinates": [x, y, 12.5]},
            "nan": {"type": "Point", "coordinates": [x, float("nan")]},
            "empty": {"type": "Point", "coordinates": []},
            "null": None}[kind]


def _document(upload: dict[str, Any]) -> bytes:
    features = [{"type": "Feature", "properties": f["props"],
                 "geometry": _geometry(f["geometry"], f["xy"])} for f in upload["features"]]
    # ensure_ascii: lone surrogates become \ud800 escapes, NaN/Infinity bare tokens (as
    # JavaScript's and Python's writers do)
    return json.dumps({"type": "FeatureCollection", "features": features}).encode("ascii")


# --- the documented conversions, modelled independently ------------------------------------

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff]")


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # a JSON reader pairs a high surrogate escape with a low one that follows it (one
    # astral character, as UTF-16 does); only what is left alone is a lone surrogate
    text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    text = re.sub("[\ud800-\udfff]", "\ufffd", text)
    return _CONTROL.sub("", text)


def _ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {_clean(str(k)): _ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ready(v) for v in value]
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _value(raw: Any) -> Any:
    """One value as cleaned, before the column's type is decided."""
    if isinstance(raw, float) and not math.isfinite(raw):
        return None
    if isinstance(raw, str):
        return _clean(raw)
    if isinstance(raw, dict | list):
        return json.dumps(_ready(raw), ensure_ascii=False, separators=(", ", ": "))
    return raw


def _kind(value: Any) -> str:
    return ("bool" if isinstance(value, bool) else "int" if isinstance(value, int)
            else "float" if isinstance(value, float) else "text")


def _as_text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def expected_column(raws: list[Any]) -> list[Any]:
    """The stored values of one field (features that reached the import, in order)."""
    values = [_value(v) for v in raws]
    kinds = {_kind(v) for v in values if v is not None}
    if kinds <= {"int", "float"} and kinds and not any(
            isinstance(v, int) and not isinstance(v, bool) and abs(v) > EXACT_INT
            for v in values):
        return values
    if kinds == {"bool"} or kinds == {"text"} or not kinds:
        return values
    return [_as_text(v) for v in values]


def expected_name(key: str) -> str:
    return _clean(key).strip()[:63].rstrip()


def _same(loaded: Any, expected: Any) -> bool:
    if isinstance(loaded, np.generic):
        loaded = loaded.item()
    if loaded is None or loaded is pd.NA or (isinstance(loaded, float) and math.isnan(loaded)):
        return expected is None
    if isinstance(expected, bool) or isinstance(loaded, bool):
        return bool(loaded) == bool(expected) and expected is not None
    if isinstance(expected, int | float) and isinstance(loaded, int | float):
        return float(loaded) == float(expected)
    return loaded == expected


# --- the test ---------------------------------------------------------------------------------


def tree_hash(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_workspace(REPO, tmp_path_factory.mktemp("template") / "demo")


def _fresh(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("example") / "demo"
    shutil.copytree(template, root)
    return root


def _strict(token: str) -> None:
    raise ValueError(f"not strict JSON: {token}")


def check_exports(root: Path, fids: set[str], tmp: Path) -> None:
    """GeoJSON parses as strict JSON, the GeoPackage opens, every CSV parses."""
    data = collect(open_workspace(root), SITE)
    geojson = render(data, "geojson")
    for name, raw in geojson.items():
        document = json.loads(raw.decode("utf-8"), parse_constant=_strict)
        if name.endswith("-scope.geojson"):
            exported = {f["properties"]["fid"] for f in document["features"]}
            assert fids <= exported
    path = tmp / "scope.gpkg"
    path.write_bytes(render(data, "gpkg")[f"{SITE}-scope.gpkg"])
    for layer, _ in pyogrio.list_layers(path):
        pyogrio.read_dataframe(path, layer=str(layer))
    for name, raw in render(data, "csv").items():
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
        assert rows and len({len(r) for r in rows}) == 1, name
        if name.endswith("-points.csv"):
            assert fids <= {r[0] for r in rows[1:]}


@settings(max_examples=EXAMPLES, deadline=None)
@given(upload=uploads())
def test_import_save_load_export(upload: dict[str, Any], template: Path,
                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    root = _fresh(template, tmp_path_factory)
    before = tree_hash(root)
    ws = open_workspace(root)
    try:
        result = ingest_bytes(_document(upload), "upload.geojson",
                              ImportOptions(datum=Datum.WGS84),
                              reference=lambda near: workspace_reference(ws, near))
        report = import_into(ws, LAYER, result, site=SITE, author="hypothesis")
    except GeoError as err:
        event("refused")
        message = str(err)
        message.encode("utf-8")  # printable wherever the app or CLI shows it
        assert re.search(r"feature \d+", message), message
        assert tree_hash(root) == before
        _expect_refusal(upload, message)
        return
    event("saved")
    features = upload["features"]
    reached = [f for f in features if f["geometry"] in ("point", "point3d", "empty")]
    imported = [f for f in features if f["geometry"] in ("point", "point3d")]
    assert report.imported == len(imported)
    loaded = open_workspace(root).load(LAYER).set_index("fid")
    for key in upload["keys"]:
        column = expected_name(key)
        stored = expected_column([f["props"].get(key) for f in reached])
        by_fid = dict(zip([f["props"]["fid"] for f in reached], stored, strict=True))
        for feature in imported:
            fid = feature["props"]["fid"]
            if column not in loaded.columns:  # no feature that reached the import had it
                assert by_fid[fid] is None
                continue
            got = loaded.loc[fid, column]
            assert _same(got, by_fid[fid]), (column, fid, got, by_fid[fid])
    fids = {f["props"]["fid"] for f in imported}
    assert fids <= set(loaded.index)
    check_exports(root, fids, tmp_path_factory.mktemp("exports"))


def _expect_refusal(upload: dict[str, Any], message: str) -> None:
    """A refusal must be one of the documented ones, for data that calls for it."""
    reached = [f for f in upload["features"] if f["geometry"] in ("point", "point3d", "empty")]
    too_long = any(len(v) > MAX_CHARS for f in reached for v in
                   (_value(x) for x in f["props"].values()) if isinstance(v, str))
    if "per value" in message:
        assert too_long, message
    else:
        assert "nothing can be imported" in message, message
        assert not [f for f in upload["features"] if f["geometry"] in ("point", "point3d")]
