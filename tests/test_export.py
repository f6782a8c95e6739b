"""Exports: RFC 7946 GeoJSON, GeoPackage, KML/KMZ, CSV, HTML, bundle; safety; redaction.

Every vector format is opened by an independent reader, GDAL's ``ogrinfo`` (Debian
gdal-bin): in CI (``CI=true``) a missing ``ogrinfo`` fails these tests instead of
skipping them.  The RFC 7946 rules are checked by a small checker written here.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon, box
from typer.testing import CliRunner

import geo
from geo.core.errors import DataWriteError, GeoError, SiteNotFoundError
from geo.core.records import SiteRecord
from geo.core.workspace import open_workspace
from geo.export.site import (
    CLIPPED,
    COARSENED,
    ExportFormat,
    NothingToExportError,
    collect,
    export_bytes,
    export_site,
    feature_collection,
    main_file_name,
    metadata,
    render,
)
from tests.conftest import HOSTILE_VALUES

REF = "AWS-000001"
DEMO_REF = "AWS-000522"
VECTOR_FORMATS = ("geojson", "gpkg", "kml", "kmz", "csv")


# --- an independent RFC 7946 checker ------------------------------------------------------


def _signed_area(ring: list[list[float]]) -> float:
    xs = np.array([p[0] for p in ring])
    ys = np.array([p[1] for p in ring])
    return float(np.sum(xs[:-1] * ys[1:] - xs[1:] * ys[:-1]) / 2)


def _positions(coords: Any) -> list[list[float]]:
    if coords and isinstance(coords[0], (int, float)):
        return [coords]
    return [p for part in coords for p in _positions(part)]


def _decimals(value: float) -> int:
    text = repr(float(value))
    if "e" in text:
        return 99
    return len(text.split(".")[1].rstrip("0")) if "." in text else 0


def _check_polygon(rings: list[list[list[float]]], where: str) -> list[str]:
    problems = []
    for index, ring in enumerate(rings):
        if len(ring) < 4:
            problems.append(f"{where}: ring {index} has {len(ring)} positions (< 4)")
        if ring[0] != ring[-1]:
            problems.append(f"{where}: ring {index} is not closed")
        area = _signed_area(ring)
        if index == 0 and area <= 0:
            problems.append(f"{where}: exterior ring is not counter-clockwise")
        if index > 0 and area >= 0:
            problems.append(f"{where}: hole {index} is not clockwise")
    return problems


def _check_geometry(geometry: dict[str, Any], where: str) -> list[str]:
    kind = geometry["type"]
    if kind == "Polygon":
        return _check_polygon(geometry["coordinates"], where)
    if kind == "MultiPolygon":
        return [p for poly in geometry["coordinates"] for p in _check_polygon(poly, where)]
    if kind == "GeometryCollection":
        return [p for g in geometry["geometries"] for p in _check_geometry(g, where)]
    return []


def check_rfc7946(document: dict[str, Any]) -> list[str]:
    """Every RFC 7946 rule a stakeholder's reader may rely on; returns the problems."""
    problems = []
    if "crs" in document:
        problems.append("collection has a 'crs' member")
    if document.get("type") != "FeatureCollection":
        problems.append("not a FeatureCollection")
    boxes = [("collection", document.get("bbox"), document["features"])]
    for feature in document["features"]:
        where = f"feature {feature.get('id')}"
        if "crs" in feature or "crs" in (feature.get("geometry") or {}):
            problems.append(f"{where}: has a 'crs' member")
        geometry = feature["geometry"]
        for lon, lat, *_ in _positions(geometry.get("coordinates", [])):
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                problems.append(f"{where}: position {lon}, {lat} is not lon/lat")
            if max(_decimals(lon), _decimals(lat)) > 7:
                problems.append(f"{where}: more than 7 decimals ({lon}, {lat})")
        problems += _check_geometry(geometry, where)
        boxes.append((where, feature.get("bbox"), [feature]))
    for where, bbox, features in boxes:
        if bbox is None:
            problems.append(f"{where}: no bbox")
            continue
        west, south, east, north = bbox
        if not (west <= east and south <= north):
            problems.append(f"{where}: bbox {bbox} is not [west, south, east, north]")
        for feature in features:
            for lon, lat, *_ in _positions(feature["geometry"].get("coordinates", [])):
                if not (west - 1e-9 <= lon <= east + 1e-9 and south - 1e-9 <= lat <= north + 1e-9):
                    problems.append(f"{where}: bbox {bbox} does not hold {lon}, {lat}")
                    break
    return problems


def test_checker_catches_what_it_should() -> None:
    clockwise = [[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]
    bad = {"type": "FeatureCollection", "crs": {}, "bbox": [1, 0, 0, 1], "features": [
        {"type": "Feature", "id": "a", "bbox": [0, 0, 1, 1], "properties": {},
         "geometry": {"type": "Polygon", "coordinates": [clockwise]}},
        {"type": "Feature", "id": "b", "bbox": [0, 0, 1, 1], "properties": {},
         "geometry": {"type": "Point", "coordinates": [0.123456789, 0.5]}},
        {"type": "Feature", "id": "c", "properties": {},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}},
    ]}
    problems = "\n".join(check_rfc7946(bad))
    for expected in ("'crs' member", "not counter-clockwise", "more than 7 decimals",
                     "not [west, south, east, north]", "(< 4)", "not closed", "c: no bbox"):
        assert expected in problems


# --- ogrinfo, the independent reader -------------------------------------------------------


def _ogrinfo() -> str:
    found = shutil.which("ogrinfo")
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("ogrinfo (Debian gdal-bin) is missing in CI: install gdal-bin")
        pytest.skip("ogrinfo (Debian gdal-bin) is not installed")
    return found


def ogr_counts(source: str, *options: str) -> dict[str, int]:
    """Layer name -> feature count, parsed from ``ogrinfo -so -al``."""
    result = subprocess.run([_ogrinfo(), "-ro", "-so", "-al", *options, source],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stderr, result.stderr
    counts: dict[str, int] = {}
    layer = None
    for line in result.stdout.splitlines():
        if line.startswith("Layer name: "):
            layer = line.removeprefix("Layer name: ").strip()
        elif line.startswith("Feature Count: ") and layer is not None:
            counts[layer] = int(line.removeprefix("Feature Count: "))
    return counts


# --- workspaces -----------------------------------------------------------------------------


@pytest.fixture
def tiny_ws(make_workspace, three_parcels, outfalls):
    """A site with parcels (one clockwise with a hole), outfalls, an intake, a river, a unit."""
    parcels = three_parcels.copy()
    square = box(120.952, 31.18, 120.953, 31.181)
    hole = box(120.9523, 31.1803, 120.9527, 31.1807)
    clockwise = Polygon(list(square.exterior.coords)[::-1], [list(hole.exterior.coords)])
    parcels.loc[len(parcels)] = ["p4", "Block D", REF, "surveyed", "test survey", clockwise]
    parcels["opened"] = [np.datetime64("2020-01-02"), None, None, None]
    parcels["staff"] = [10, np.nan, 3, 4]
    parcels.loc[1, "name"] = HOSTILE_VALUES[0]
    dps = outfalls.copy()
    dps["aws_ref"] = REF
    dps["lon"] = dps.geometry.x
    dps.loc[0, "name"] = "=HYPERLINK(\"http://x\")"
    intake = gpd.GeoDataFrame(
        {"fid": ["ws1"], "name": ["Intake"], "aws_ref": [REF], "accuracy": ["surveyed"],
         "source": ["test"]}, geometry=[Point(120.96, 31.19)], crs="EPSG:4326")
    river = gpd.GeoDataFrame(
        {"fid": ["r1"], "name": ["Test river"], "accuracy": ["official"], "source": ["t"]},
        geometry=[LineString([(120.94, 31.179), (120.97, 31.1795)])], crs="EPSG:4326")
    pipe = gpd.GeoDataFrame(
        {"fid": ["pipe1"], "name": ["Outfall drain"], "aws_ref": [REF], "accuracy": ["surveyed"],
         "source": ["t"]}, geometry=[LineString([(120.9505, 31.1805), (120.975, 31.1795)])],
        crs="EPSG:4326")
    unit = gpd.GeoDataFrame(
        {"fid": ["cu1"], "name": ["Test unit"], "level": ["section"], "next_down": [None],
         "accuracy": ["derived"], "source": ["t"]},
        geometry=[box(120.9, 31.1, 121.0, 31.25)], crs="EPSG:4326")
    record = SiteRecord(aws_ref=REF, site_name="Test site", catchment_name="Test catchment")
    empty = SiteRecord(aws_ref="AWS-000002", site_name="Nothing mapped")
    root = make_workspace(
        layers={
            "sites": ("site", parcels, {"evidences": ["site_boundaries"],
                                        "attribution": "Test survey", "licence": "CC0",
                                        "source_date": "2024",
                                        "style": {"color": "#b2182b", "fill_color": "#ef8a62"}}),
            "outfalls": ("discharge_point", dps, {"evidences": ["discharge"]}),
            "intakes": ("water_source", intake, {"evidences": ["owned_water_sources"]}),
            "rivers": ("river", river, {}),
            "pipes": ("pipe", pipe, {"evidences": ["infrastructure"]}),
            "units": ("catchment_unit", unit, {}),
        },
        records=[record, empty],
    )
    return open_workspace(root)


@pytest.fixture(scope="module")
def demo():
    """The demo site's export set, collected once for the module."""
    ws = open_workspace()
    if DEMO_REF not in ws.records:
        pytest.skip("the demo workspace has no record of AWS-000522")
    return collect(ws, DEMO_REF)


# --- GeoJSON ----------------------------------------------------------------------------------


def test_demo_geojson_follows_rfc7946(demo) -> None:
    document = json.loads(render(demo, "geojson")[f"{DEMO_REF}-scope.geojson"])
    assert check_rfc7946(document) == []
    ids = [f["id"] for f in document["features"]]
    assert len(ids) == len(set(ids)) == len(demo.features)
    assert ids == [f["properties"]["fid"] for f in document["features"]]
    for feature in document["features"]:
        props = feature["properties"]
        for key in ("layer", "kind", "aws_element", "name", "source", "accuracy", "datum"):
            assert key in props
    kinds = {f["properties"]["kind"] for f in document["features"]}
    assert {"site", "discharge_point", "catchment_unit"} <= kinds


def test_tiny_geojson_fixes_winding_and_serialises_values(tiny_ws) -> None:
    data = collect(tiny_ws, REF)
    document = json.loads(render(data, "geojson")[f"{REF}-scope.geojson"])
    assert check_rfc7946(document) == []
    by_id = {f["id"]: f for f in document["features"]}
    holed = by_id["p4"]["geometry"]["coordinates"]
    assert len(holed) == 2 and _signed_area(holed[0]) > 0 > _signed_area(holed[1])
    assert by_id["p1"]["properties"]["opened"].startswith("2020-01-02")
    assert by_id["p2"]["properties"]["staff"] is None  # NaN → null
    assert by_id["p2"]["properties"]["name"] == HOSTILE_VALUES[0]  # data, not markup
    # one feature per line: two years' exports diff line by line
    text = render(data, "geojson")[f"{REF}-scope.geojson"].decode()
    assert len(text.strip().splitlines()) == len(document["features"]) + 2


def test_geojson_is_stable_between_exports(tiny_ws) -> None:
    first = render(collect(tiny_ws, REF), "geojson")
    second = render(collect(tiny_ws, REF), "geojson")
    assert first == second
    assert f"{REF}-layers/outfalls.geojson" in first


def test_feature_collection_reprojects_and_rounds(three_parcels) -> None:
    utm = three_parcels.to_crs("EPSG:32651")
    document = feature_collection(utm)
    assert check_rfc7946(document) == []
    assert document["bbox"][0] == pytest.approx(120.95, abs=1e-7)


# --- independent reader: every vector format ------------------------------------------------


@pytest.mark.parametrize("fmt", VECTOR_FORMATS)
def test_ogrinfo_reads_every_vector_format(demo, tmp_path: Path, fmt: str) -> None:
    written = export_site(demo.workspace, DEMO_REF, fmt, tmp_path / fmt)
    main = written[0]
    n = len(demo.features)
    if fmt == "geojson":
        assert sum(ogr_counts(str(main)).values()) == n
        per_layer = sum(sum(ogr_counts(str(p)).values()) for p in written[1:])
        assert per_layer == n
    elif fmt == "gpkg":
        counts = ogr_counts(str(main))
        tables = {"site_record", "checklist", "iwras", "layer_sources", "layer_styles"}
        assert tables <= set(counts)
        # issue 15: where the map and the report disagree, and the auditor's answer beside ours
        assert {"map_vs_report", "auditor_answers"} <= set(counts)
        assert counts["auditor_answers"] == 4
        # every statement with its basis, and the water chain's links with theirs
        assert counts["statements"] == len(demo.tables["statements"]) > 0
        assert counts["water_chain"] == len(demo.scope.chain.edges)
        assert sum(v for k, v in counts.items() if k not in tables | {
            "findings", "audit_indicators", "raster_zonal_stats", "map_vs_report",
            "auditor_answers", "statements", "water_chain"}) == n
        # the demo DEM: zonal statistics per parcel, catchment unit and IWRA
        assert counts["raster_zonal_stats"] == len(demo.tables["raster_zonal_stats"]) > 0
        assert counts["checklist"] >= 6
        assert counts["iwras"] == len(demo.tables["iwras"])
    elif fmt == "kml":
        assert sum(ogr_counts(str(main)).values()) == n
    elif fmt == "kmz":
        assert sum(ogr_counts(f"/vsizip/{main}/doc.kml").values()) == n
    else:
        points = int((demo.features.geometry.geom_type == "Point").sum())
        counts = ogr_counts(str(main), "-oo", "X_POSSIBLE_NAMES=lon",
                            "-oo", "Y_POSSIBLE_NAMES=lat")
        assert list(counts.values()) == [points]
        assert {p.name for p in written} == {f"{DEMO_REF}-points.csv", f"{DEMO_REF}-iwras.csv",
                                             f"{DEMO_REF}-checklist.csv",
                                             f"{DEMO_REF}-statements.csv",
                                             f"{DEMO_REF}-raster_zonal_stats.csv"}


def _null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _same(got: Any, want: Any) -> bool:
    """Equal after a file round trip: nulls alike, numbers close, dates as ISO text."""
    if _null(got) or _null(want):
        return _null(got) and _null(want)
    if isinstance(want, (bool, np.bool_)):  # GDAL reads JSON booleans as 0/1
        return bool(got) == bool(want)
    if isinstance(want, (int, float, np.number)) and not isinstance(want, bool):
        return math.isclose(float(got), float(want), rel_tol=1e-12)
    return str(got) == str(want)


def _same_shape(got: Any, want: Any) -> bool:
    """Same geometry within 1e-7°, a single polygon read back as a one-part multi included."""
    got_parts, want_parts = shapely.get_parts(got), shapely.get_parts(want)
    return len(got_parts) == len(want_parts) and all(
        a.normalize().equals_exact(b.normalize(), tolerance=1e-7)
        for a, b in zip(got_parts, want_parts, strict=True))


def test_round_trip_geojson_and_gpkg(demo, tmp_path: Path) -> None:
    expected = demo.features.set_index("fid")
    geojson = export_site(demo.workspace, DEMO_REF, "geojson", tmp_path / "s.geojson")[0]
    back = pyogrio.read_dataframe(geojson).set_index("fid")
    assert list(back.index) == list(expected.index)
    for fid, row in back.iterrows():
        assert _same_shape(row.geometry, expected.loc[fid].geometry), fid
        for column in back.columns.drop("geometry"):
            if column == "id":  # GDAL surfaces the feature id as a field
                assert row["id"] == fid
                continue
            assert _same(row[column], expected.loc[fid, column]), (fid, column)
    gpkg = export_site(demo.workspace, DEMO_REF, "gpkg", tmp_path / "s.gpkg")[0]
    layers = [name for name, geom in pyogrio.list_layers(gpkg) if geom is not None]
    fids = []
    for layer in layers:
        frame = pyogrio.read_dataframe(gpkg, layer=layer)
        fids += list(frame["fid"])
        for _, row in frame.iterrows():
            assert _same_shape(row.geometry, expected.loc[row["fid"]].geometry), row["fid"]
            for column in ("name", "layer", "kind", "role", "aws_element", "accuracy",
                           "source", "datum", "redacted"):
                assert _same(row[column], expected.loc[row["fid"], column]), column
    assert sorted(fids) == sorted(expected.index)


def test_gpkg_carries_qgis_styles_and_tables(demo, tmp_path: Path) -> None:
    gpkg = export_site(demo.workspace, DEMO_REF, "gpkg", tmp_path / "s.gpkg")[0]
    with sqlite3.connect(gpkg) as db:
        rows = db.execute("SELECT f_table_name, f_geometry_column, styleSLD, styleQML, "
                          "useAsDefault FROM layer_styles").fetchall()
        registered = {r[0] for r in db.execute("SELECT table_name FROM gpkg_contents")}
        record = dict(db.execute("SELECT field, value FROM site_record").fetchall())
    spatial = {name for name, geom in pyogrio.list_layers(gpkg) if geom is not None}
    assert {r[0] for r in rows} == spatial
    assert "layer_styles" in registered
    site_style = next(r for r in rows if r[0] == "site")
    spec = demo.workspace.spec("sites").style
    assert spec.color in site_style[2] and (spec.fill_color or spec.color) in site_style[2]
    ET.fromstring(site_style[2])  # well-formed SLD
    assert 'attr="layer"' in site_style[3] and site_style[4] == 1
    assert record["aws_ref"] == DEMO_REF


# --- KML ------------------------------------------------------------------------------------


def test_kml_has_styles_names_and_escaped_descriptions(tiny_ws) -> None:
    kml = render(collect(tiny_ws, REF), "kml")[f"{REF}-scope.kml"]
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    root = ET.fromstring(kml)
    styles = {s.get("id") for s in root.iter("{http://www.opengis.net/kml/2.2}Style")}
    assert "style-sites" in styles
    site_style = root.find(".//k:Style[@id='style-sites']/k:PolyStyle/k:color", ns)
    assert site_style is not None and site_style.text.endswith("628aef")  # #ef8a62 as bbggrr
    placemarks = root.findall(".//k:Placemark", ns)
    assert len(placemarks) == len(collect(tiny_ws, REF).features)
    hostile = next(p for p in placemarks if p.get("id") == "f-p2")
    assert hostile.findtext("k:name", namespaces=ns) == HOSTILE_VALUES[0]
    description = hostile.findtext("k:description", namespaces=ns)
    assert "<img" not in description and "&lt;img" in description
    assert description.startswith("<table")
    assert hostile.findtext("k:styleUrl", namespaces=ns) == "#style-sites"


def test_kmz_is_zipped_doc_kml(tiny_ws) -> None:
    name, mime, payload = export_bytes(tiny_ws, REF, "kmz")
    assert name.endswith(".kmz") and mime == "application/vnd.google-earth.kmz"
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        assert archive.namelist() == ["doc.kml"]
        ET.fromstring(archive.read("doc.kml"))


# --- CSV ------------------------------------------------------------------------------------


def test_csv_points_have_lon_lat_and_no_formulas(tiny_ws) -> None:
    parts = render(collect(tiny_ws, REF), "csv")
    raw = parts[f"{REF}-points.csv"]
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel shows Chinese names
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert {r["fid"] for r in rows} == {"dp1", "dp2", "ws1"}
    dp2 = next(r for r in rows if r["fid"] == "dp2")
    assert float(dp2["lon"]) == pytest.approx(120.9515) and float(dp2["lat"]) == pytest.approx(
        31.1805)
    dp1 = next(r for r in rows if r["fid"] == "dp1")
    assert dp1["name"].startswith("'=")  # CSV injection defused
    assert f"{REF}-checklist.csv" in parts


# --- HTML -----------------------------------------------------------------------------------


def test_html_is_standalone_and_offline(tiny_ws) -> None:
    name, mime, payload = export_bytes(tiny_ws, REF, "html")
    page = payload.decode()
    assert mime == "text/html" and name == f"{REF}-map.html"
    assert re.search(r"<(script|link)[^>]+(src|href)=[\"']?(https?:)?//", page) is None
    assert "L.map(" in page or "L.map (" in page
    assert HOSTILE_VALUES[0] not in page  # escaped, never live markup


# --- the bundle -----------------------------------------------------------------------------


def test_bundle_holds_everything_with_readme_and_metadata(demo, tmp_path: Path) -> None:
    target = export_site(demo.workspace, DEMO_REF, "bundle", tmp_path / "b.zip")[0]
    with zipfile.ZipFile(target) as archive:
        names = {n.split("/", 1)[1] for n in archive.namelist()}
        readme = archive.read(f"{DEMO_REF}-export/README.txt").decode()
        meta = json.loads(archive.read(f"{DEMO_REF}-export/metadata.json"))
    for expected in (f"{DEMO_REF}-scope.geojson", f"{DEMO_REF}-scope.gpkg",
                     f"{DEMO_REF}-scope.kml", f"{DEMO_REF}-scope.kmz",
                     f"{DEMO_REF}-points.csv", f"{DEMO_REF}-iwras.csv",
                     f"{DEMO_REF}-checklist.csv", f"{DEMO_REF}-map.html",
                     f"{DEMO_REF}-raster_zonal_stats.csv",
                     f"{DEMO_REF}-sheet-a4.pdf", f"{DEMO_REF}-sheet-a4.png",
                     "README.txt", "metadata.json", f"{DEMO_REF}-layers/sites.geojson"):
        assert expected in names
    for phrase in ("QGIS", "Google Earth", "EPSG:4326", "licence", "illustrative"):
        assert phrase in readme
    assert meta["site"]["aws_ref"] == DEMO_REF
    assert meta["software"]["version"] == geo.__version__
    assert meta["feature_count"] == len(demo.features)
    assert sum(layer["features"] for layer in meta["layers"]) == len(demo.features)
    assert meta["redaction"] is None
    assert all(item["licence"] for item in meta["licences"])
    assert set(meta["files"]) == names


# --- safety -----------------------------------------------------------------------------------


def test_refuses_to_overwrite_without_overwrite(tiny_ws, tmp_path: Path) -> None:
    target = tmp_path / "s.geojson"
    export_site(tiny_ws, REF, "geojson", target)
    before = target.read_bytes()
    with pytest.raises(DataWriteError, match=r"already exist.*--overwrite"):
        export_site(tiny_ws, REF, "geojson", target)
    assert target.read_bytes() == before
    assert export_site(tiny_ws, REF, "geojson", target, overwrite=True) == [target]


def test_refuses_before_rendering_when_the_main_file_exists(tiny_ws, tmp_path: Path,
                                                           monkeypatch) -> None:
    import geo.export.site as export_module

    export_site(tiny_ws, REF, "kml", tmp_path)  # into a folder: <folder>/<ref>-scope.kml
    existing = tmp_path / f"{REF}-scope.kml"
    assert existing.exists()

    def no_render(*args, **kwargs):
        raise AssertionError("rendered although the target exists")

    monkeypatch.setattr(export_module, "render", no_render)
    with pytest.raises(DataWriteError, match=rf"{REF}-scope.kml already exists; pass --overwrite"):
        export_site(tiny_ws, REF, "kml", tmp_path)
    with pytest.raises(DataWriteError, match="already exists"):
        export_site(tiny_ws, REF, "kml", existing)


@pytest.mark.parametrize("fmt", [f.value for f in ExportFormat])
def test_main_file_name_is_the_rendered_main_file(tiny_ws, fmt: str) -> None:
    data = collect(tiny_ws, REF)
    assert next(iter(render(data, fmt))) == main_file_name(REF, fmt)


def test_failed_writer_leaves_no_partial_files(tiny_ws, tmp_path: Path, monkeypatch) -> None:
    import geo.export.site as export_module

    real = export_module.atomic_path
    calls = {"n": 0}

    def failing_second(target, *, overwrite=False):
        calls["n"] += 1
        if calls["n"] == 2:
            class _Broken:
                def __enter__(self):
                    self.ctx = real(target, overwrite=overwrite)
                    tmp = self.ctx.__enter__()
                    tmp.write_bytes(b"half a fi")
                    raise OSError("disk full")

                def __exit__(self, *exc):
                    return False
            return _Broken()
        return real(target, overwrite=overwrite)

    monkeypatch.setattr(export_module, "atomic_path", failing_second)
    out = tmp_path / "csv"
    with pytest.raises(OSError, match="disk full"):
        export_site(tiny_ws, REF, "csv", out)
    assert calls["n"] == 2
    assert not out.exists() or [p.name for p in out.iterdir()
                                if not p.name.startswith(".")] == []


def test_failed_render_writes_nothing(tiny_ws, tmp_path: Path, monkeypatch) -> None:
    import geo.export.site as export_module

    def broken(data):
        raise GeoError("renderer broke")

    monkeypatch.setitem(export_module._RENDERERS, ExportFormat.KML, broken)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(GeoError, match="renderer broke"):
        export_site(tiny_ws, REF, "bundle", out / "b.zip")
    with pytest.raises(GeoError, match="renderer broke"):
        export_site(tiny_ws, REF, "kml", out)
    assert list(out.iterdir()) == []


def test_site_with_nothing_to_export_gets_a_clear_message(tiny_ws) -> None:
    with pytest.raises(NothingToExportError,
                       match=r"AWS-000002 has nothing to export.*kind 'site'"):
        export_bytes(tiny_ws, "AWS-000002", "geojson")
    with pytest.raises(SiteNotFoundError, match="Known sites"):
        export_bytes(tiny_ws, "AWS-000404", "geojson")
    with pytest.raises(SiteNotFoundError, match="not an AWS reference"):
        export_bytes(tiny_ws, "../../etc/passwd", "geojson")


def test_unknown_format_and_redaction_are_refused(tiny_ws) -> None:
    with pytest.raises(GeoError, match=r"Unknown export format 'docx'.*geojson"):
        export_bytes(tiny_ws, REF, "docx")
    with pytest.raises(GeoError, match="Unknown redaction"):
        export_bytes(tiny_ws, REF, "geojson", redact="everything")


# --- redaction -------------------------------------------------------------------------------


def test_redaction_coarsens_intakes_and_outfalls_to_1km(tiny_ws) -> None:
    data = collect(tiny_ws, REF, redact="sensitive")
    assert sorted(data.redacted_fids) == ["dp1", "dp2", "pipe1", "ws1"]
    document = json.loads(render(data, "geojson")[f"{REF}-scope.geojson"])
    assert check_rfc7946(document) == []
    to_utm = Transformer.from_crs("EPSG:4326", data.metric_crs, always_xy=True)
    original = {r.fid: r.geometry for r in open_workspace(tiny_ws.root).load_kind(
        *[k for k in ("discharge_point", "water_source")]).itertuples()}
    for feature in document["features"]:
        props = feature["properties"]
        if props["kind"] in ("discharge_point", "water_source"):
            assert props["redacted"] == COARSENED
            x, y = to_utm.transform(*feature["geometry"]["coordinates"])
            assert (x - 500) % 1000 == pytest.approx(0, abs=0.05) or (x - 500) % 1000 == \
                pytest.approx(1000, abs=0.05)
            assert (y - 500) % 1000 == pytest.approx(0, abs=0.05) or (y - 500) % 1000 == \
                pytest.approx(1000, abs=0.05)
            ox, oy = to_utm.transform(original[feature["id"]].x, original[feature["id"]].y)
            assert math.hypot(x - ox, y - oy) <= 710
            assert props.get("lon") is None  # a coordinate attribute would give it away
        elif props["kind"] == "pipe":  # a pipe ending at an outfall would show where it is
            assert props["redacted"] == CLIPPED
            start = to_utm.transform(*feature["geometry"]["coordinates"][0])
            true = to_utm.transform(120.9505, 31.1805)
            assert math.hypot(start[0] - true[0], start[1] - true[1]) == pytest.approx(1000, 1)
        else:
            assert props["redacted"] is None
    meta = metadata(data)
    assert meta["redaction"]["mode"] == "sensitive" and meta["redaction"]["grid_m"] == 1000
    assert sorted(meta["redaction"]["features"]) == ["dp1", "dp2", "pipe1", "ws1"]


def _coordinate_pairs(text: str) -> np.ndarray:
    pairs = np.array([(float(a), float(b)) for a, b in
                      re.findall(r"(\d{2,3}\.\d+)\s*,\s*(\d{2,3}\.\d+)", text)])
    return np.vstack([pairs, pairs[:, ::-1]])  # GeoJSON/KML lon,lat; Leaflet lat,lon


def test_redaction_reaches_every_format_with_coordinates(tiny_ws) -> None:
    true = np.array([(120.9505, 31.1805), (120.9515, 31.1805), (120.96, 31.19)])
    plain, redacted = collect(tiny_ws, REF), collect(tiny_ws, REF, redact="sensitive")
    for fmt, name in (("kml", f"{REF}-scope.kml"), ("csv", f"{REF}-points.csv"),
                      ("html", f"{REF}-map.html"), ("geojson", f"{REF}-scope.geojson")):
        for data, hidden in ((plain, False), (redacted, True)):
            text = render(data, fmt)[name].decode("utf-8-sig")
            if fmt == "csv":  # lon and lat are separate columns
                found = all(f"{x:g}" in text for x, _ in true)
                assert found != hidden, fmt
                continue
            xy = _coordinate_pairs(text)
            nearest = np.min(np.hypot(xy[:, None, 0] - true[None, :, 0],
                                      xy[:, None, 1] - true[None, :, 1]), axis=0) * 1e5
            if hidden:  # the true position (kept to < 1 m when not redacted) is gone;
                # what remains near it is public anyway (the site's own parcels)
                assert (nearest > 10).all(), (fmt, nearest)  # metres, roughly
            else:
                assert (nearest < 1).all(), (fmt, nearest)


def test_drop_sensitive_leaves_them_out(tiny_ws) -> None:
    data = collect(tiny_ws, REF, redact="drop-sensitive")
    assert not data.features["kind"].isin(["discharge_point", "water_source", "pipe"]).any()
    assert sorted(data.redacted_fids) == ["dp1", "dp2", "pipe1", "ws1"]
    assert set(data.features["fid"]) >= {"p1", "p2", "p3", "p4"}


# --- the app's entry point and the CLI ----------------------------------------------------------


@pytest.mark.parametrize("fmt", [f.value for f in ExportFormat if f.value not in ("pdf", "png",
                                                                                 "bundle")])
def test_export_bytes_gives_name_mime_and_payload(tiny_ws, fmt: str) -> None:
    name, mime, payload = export_bytes(tiny_ws, REF, fmt)
    assert name.startswith(REF) and "/" not in name
    assert mime and payload


def test_cli_export_and_refusal(tmp_path: Path, tiny_ws) -> None:
    from geo.cli.main import app

    runner = CliRunner()
    target = tmp_path / "out.geojson"
    args = ["export", REF, "--format", "geojson", "-o", str(target), "-w", str(tiny_ws.root)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert json.loads(target.read_text())["type"] == "FeatureCollection"
    second = runner.invoke(app, args)
    assert second.exit_code == 1
    assert "--overwrite" in second.output and "Traceback" not in second.output
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    gone = runner.invoke(app, ["export", "AWS-000002", "-f", "kml", "-w", str(tiny_ws.root),
                               "-o", str(tmp_path / "x.kml")])
    assert gone.exit_code == 1 and "nothing to export" in gone.output


def test_geo_does_not_write_files_named_after_data(tiny_ws, tmp_path: Path) -> None:
    written = export_site(tiny_ws, REF, "geojson", tmp_path / "dir")
    names = {p.relative_to(tmp_path / "dir").as_posix() for p in written}
    assert f"{REF}-scope.geojson" in names and f"{REF}-layers/outfalls.geojson" in names
    assert all(re.fullmatch(rf"{REF}-(scope|layers/[a-z0-9_]+)\.geojson", n) for n in names)


def test_site_without_point_features_exports_csv_and_bundle(make_workspace, three_parcels,
                                                            tmp_path) -> None:
    """Parcels only (no intakes, outfalls or plants): the points CSV is a header, not a crash."""
    root = make_workspace(
        layers={"sites": ("site", three_parcels, {"evidences": ["site_boundaries"]})},
        records=[SiteRecord(aws_ref=REF, site_name="Parcels only")],
    )
    ws = open_workspace(root)
    name, _, payload = export_bytes(ws, REF, "csv")
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        points = next(archive.read(n) for n in archive.namelist() if n.endswith("-points.csv"))
    rows = list(csv.reader(io.StringIO(points.decode("utf-8-sig"))))
    assert rows[0][:3] == ["fid", "lon", "lat"] and len(rows) == 1, name
    written = export_site(ws, REF, "bundle", tmp_path / "b.zip")
    with zipfile.ZipFile(written[0]) as archive:
        assert any(n.endswith("-points.csv") for n in archive.namelist())
