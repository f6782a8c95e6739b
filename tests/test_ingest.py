"""Bring your own data: a corpus of bad inputs (each refused with its message, workspace
untouched), round trips per format, and the ``catchscope import`` exit codes.

Every input is built in code.  Tests run on a private copy of the demo workspace.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import openpyxl
import pytest
from shapely.geometry import LineString, Point, Polygon, box
from typer.testing import CliRunner

from geo.cli.main import app
from geo.core.catalogue import Datum
from geo.core.crs import wgs84_to_gcj02
from geo.core.errors import (
    CatalogueError,
    CRSError,
    DataReadError,
    GeoError,
    LayerNotFoundError,
    NeedsAnswerError,
    SiteNotFoundError,
    UnsafeInputError,
)
from geo.core.workspace import open_workspace
from geo.ingest.importer import import_into, workspace_reference
from geo.ingest.read import ImportOptions, Limits, ingest_bytes, read_user_file

SITE = "AWS-000521"
# Near the demo's Luxshare site in Jinxi, Kunshan (WGS84).
LON, LAT = 120.9631, 31.1921


# --- helpers ----------------------------------------------------------------------------------


def tree_hash(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (the workspace must be byte-identical)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def points(n: int = 3, *, crs: str | None = "EPSG:4326", **columns: Any) -> gpd.GeoDataFrame:
    data = {"name": [f"outfall {i}" for i in range(n)], **columns}
    geoms = [Point(LON + 0.0005 * i, LAT + 0.0003 * i) for i in range(n)]
    return gpd.GeoDataFrame(data, geometry=geoms, crs=crs)


def geojson(frame: gpd.GeoDataFrame | None = None) -> bytes:
    return (frame if frame is not None else points()).to_json(drop_id=True).encode()


def fc(*features: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features), **extra}).encode()


def feature(geometry: Any, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def to_bytes(frame: gpd.GeoDataFrame, driver: str, suffix: str, tmp: Path, **kw: Any) -> bytes:
    path = tmp / f"x{suffix}"
    frame.to_file(path, driver=driver, engine="pyogrio", **kw)
    return path.read_bytes()


def shapefile_parts(frame: gpd.GeoDataFrame, tmp: Path) -> dict[str, bytes]:
    folder = tmp / "shp"
    folder.mkdir(exist_ok=True)
    frame.to_file(folder / "data.shp", engine="pyogrio")
    return {p.suffix: p.read_bytes() for p in folder.iterdir()}


def make_zip(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, payload in entries.items():
            archive.writestr(name, payload)
    return buffer.getvalue()


def kml(body: str, *, head: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>{head}'
            f'<kml xmlns="http://www.opengis.net/kml/2.2"><Document>{body}</Document></kml>'
            ).encode()


PLACEMARK = (f"<Placemark><name>Outfall K</name><Point><coordinates>{LON},{LAT},0"
             "</coordinates></Point></Placemark>")


def attempt(root: Path, data: bytes, filename: str, *, layer: str = "discharge_points",
            kind: str | None = None, site: str | None = None,
            field_map: dict[str, str] | None = None, **options: Any) -> Any:
    """Read and import like the CLI does (not a dry run)."""
    ws = open_workspace(root)
    result = ingest_bytes(data, filename, ImportOptions(**options),
                          reference=lambda frame: workspace_reference(ws, frame))
    return import_into(ws, layer, result, kind=kind, site=site, field_map=field_map)


# --- the corpus -------------------------------------------------------------------------------


@dataclass
class Bad:
    """One bad input: how to make it, what must be raised, with which message."""

    make: Callable[[Path], tuple[bytes | str, str]]
    error: type[GeoError]
    match: str
    options: dict[str, Any] = field(default_factory=dict)
    no_zip_extraction: bool = False


def _tiff() -> bytes:
    return b"II*\x00" + b"\x08\x00\x00\x00" + b"\x00" * 64


def _gpkg_two_layers(tmp: Path) -> bytes:
    path = tmp / "two.gpkg"
    points().to_file(path, layer="one", engine="pyogrio")
    points(2).to_file(path, layer="two", engine="pyogrio", mode="a")
    return path.read_bytes()


def _gpkg_with(tmp: Path, sql: str) -> bytes:
    path = tmp / "evil.gpkg"
    points().to_file(path, layer="pts", engine="pyogrio")
    con = sqlite3.connect(path)
    con.execute(sql)
    con.commit()
    con.close()
    return path.read_bytes()


def _plain_sqlite(tmp: Path) -> bytes:
    path = tmp / "plain.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (a INTEGER)")
    con.commit()
    con.close()
    return path.read_bytes()


def _symlink_zip(tmp: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("data.shp")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def _xlsx(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _gcj_csv(tmp: Path) -> tuple[bytes, str]:
    ws = open_workspace(tmp.parent / "demo")
    sites = ws.load("sites")
    anchors = sites.geometry.representative_point()
    lon, lat = wgs84_to_gcj02(anchors.x.to_numpy(), anchors.y.to_numpy())
    rows = "\n".join(f"p{i},{a:.6f},{b:.6f}" for i, (a, b) in enumerate(zip(lon, lat, strict=True)))
    return f"name,lng,lat\n{rows}\n".encode(), "amap_points.csv"


def _spiral(n: int) -> dict[str, Any]:
    t = np.linspace(0, 50, n)
    coords = np.column_stack([LON + 1e-4 * t * np.cos(t), LAT + 1e-4 * t * np.sin(t)])
    return {"type": "LineString", "coordinates": coords.round(7).tolist()}


def _shp_zip(tmp: Path, drop: tuple[str, ...] = (), prefix: str = "") -> bytes:
    parts = shapefile_parts(points(), tmp)
    return make_zip({f"{prefix}data{ext}": payload for ext, payload in parts.items()
                     if ext not in drop})


BAD: dict[str, Bad] = {
    # not what the extension says
    "png-named-geojson": Bad(lambda t: (b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "a.geojson"),
                             DataReadError, "is a PNG image"),
    "kml-named-geojson": Bad(lambda t: (kml(PLACEMARK), "a.geojson"), DataReadError,
                             "is not GeoJSON: its content is KML"),
    "geojson-named-kml": Bad(lambda t: (geojson(), "a.kml"), DataReadError,
                             "is not KML: its content is GeoJSON"),
    "csv-named-gpkg": Bad(lambda t: (b"name,lon,lat\na,1,2\n", "a.gpkg"), DataReadError,
                          "is not GeoPackage: its content is CSV"),
    "zip-named-csv": Bad(lambda t: (_shp_zip(t), "a.csv"), DataReadError,
                         "is not CSV: its content is zip archive"),
    "shapefile-named-kmz": Bad(lambda t: (_shp_zip(t), "a.kmz"), DataReadError,
                               "is not KMZ: the archive holds a zipped Shapefile"),
    "xls-ole": Bad(lambda t: (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "a.xls"),
                   DataReadError, r"old Excel \(.xls\)"),
    "bare-shp": Bad(lambda t: (shapefile_parts(points(), t)[".shp"], "a.shp"), DataReadError,
                    "bare .shp file; zip it"),
    "binary-junk": Bad(lambda t: (bytes(range(256)) * 4, "data.bin"), DataReadError,
                       "binary file of a kind we do not read"),
    "unknown-xml": Bad(lambda t: (b"<?xml version='1.0'?><gml:FeatureCollection "
                                  b"xmlns:gml='http://www.opengis.net/gml'/>", "a.gml"),
                       DataReadError, "not KML or GPX"),
    # truncated / malformed GeoJSON
    "geojson-truncated": Bad(lambda t: (geojson()[:-25], "a.geojson"), DataReadError,
                             r"not valid JSON .*truncated"),
    "geojson-not-object": Bad(lambda t: (b"[1, 2, 3]", "a.geojson"), DataReadError,
                              "no top-level \"type\""),
    "geojson-wrong-type": Bad(lambda t: (b'{"type": "Banana"}', "a.geojson"), DataReadError,
                              "not GeoJSON \\(expected FeatureCollection"),
    "geojson-no-features": Bad(lambda t: (b'{"type": "FeatureCollection"}', "a.geojson"),
                               DataReadError, "needs a \"features\" list"),
    "geojson-bad-coordinates": Bad(
        lambda t: (fc(feature({"type": "Point", "coordinates": "abc"}),
                      feature({"type": "Polygon", "coordinates": [[[0, 0], [1]]]})), "a.geojson"),
        DataReadError, r"nothing can be imported \(feature 1: coordinates are not arrays"),
    "geojson-null-geometries": Bad(lambda t: (fc(feature(None, name="x")), "a.geojson"),
                                   DataReadError, r"feature 1 \(name 'x'\): no geometry"),
    "topojson": Bad(lambda t: (b'{"type": "Topology", "objects": {}}', "a.json"),
                    DataReadError, "TopoJSON"),
    "geojson-crs-link": Bad(
        lambda t: (fc(feature({"type": "Point", "coordinates": [LON, LAT]}),
                      crs={"type": "link", "properties": {"href": "http://example.com/crs"}}),
                   "a.geojson"), UnsafeInputError, "linked CRS would make GDAL fetch"),
    "geojson-crs-unknown": Bad(
        lambda t: (fc(feature({"type": "Point", "coordinates": [LON, LAT]}),
                      crs={"type": "name", "properties": {"name": "EPSG:99999999"}}),
                   "a.geojson"), CRSError, "unknown CRS"),
    "geometry-collection-only": Bad(
        lambda t: (fc(feature({"type": "GeometryCollection", "geometries": [
            {"type": "Point", "coordinates": [LON, LAT]}]})), "a.geojson"),
        DataReadError, "GeometryCollection; split it"),
    # shapefile zips missing parts
    "shapefile-no-shx": Bad(lambda t: (_shp_zip(t, drop=(".shx",)), "a.zip"), DataReadError,
                            r"data.shp comes without .shx"),
    "shapefile-no-dbf": Bad(lambda t: (_shp_zip(t, drop=(".dbf",)), "a.zip"), DataReadError,
                            r"comes without .dbf"),
    "shapefile-no-shp": Bad(lambda t: (_shp_zip(t, drop=(".shp",)), "a.zip"), DataReadError,
                            "shapefile parts but no .shp"),
    "shapefile-no-prj": Bad(lambda t: (_shp_zip(t, drop=(".prj",)), "a.zip"), NeedsAnswerError,
                            r"does not say which coordinate reference system.*--crs EPSG"),
    "zip-without-data": Bad(lambda t: (make_zip({"readme.txt": b"hello"}), "a.zip"),
                            DataReadError, "holds no shapefile, KML or spreadsheet"),
    "zip-corrupt": Bad(lambda t: (b"PK\x03\x04" + b"\x00" * 100, "a.zip"), DataReadError,
                       "not a readable zip archive"),
    # zip bombs, checked before extracting
    "zip-bomb-entries": Bad(lambda t: (make_zip({f"f{i}.txt": b"x" for i in range(201)}),
                                       "a.zip"), UnsafeInputError,
                            "201 entries, over the limit of 200", no_zip_extraction=True),
    "zip-bomb-ratio": Bad(lambda t: (make_zip({"data.shp": b"\x00" * 30_000_000}), "a.zip"),
                          UnsafeInputError, r"expands \d+ times \(limit 100\)",
                          no_zip_extraction=True),
    "zip-bomb-total-size": Bad(
        lambda t: (make_zip({f"part{i}.dbf": np.random.default_rng(i).bytes(400_000)
                             for i in range(3)}, compression=zipfile.ZIP_STORED), "a.zip"),
        UnsafeInputError, r"would expand to 1 MB, over the limit of 1 MB",
        {"limits": Limits(max_unzipped_bytes=1_000_000)}, no_zip_extraction=True),
    # zip-slip
    "zip-slip-dotdot": Bad(lambda t: (make_zip({"../../evil.shp": b"x"}), "a.zip"),
                           UnsafeInputError, "zip-slip guard", no_zip_extraction=True),
    "zip-slip-absolute": Bad(lambda t: (make_zip({"/etc/cron.d/evil.shp": b"x"}), "a.zip"),
                             UnsafeInputError, "zip-slip guard", no_zip_extraction=True),
    "zip-slip-drive": Bad(lambda t: (make_zip({"C:\\Windows\\evil.shp": b"x"}), "a.zip"),
                          UnsafeInputError, "zip-slip guard", no_zip_extraction=True),
    "zip-symlink": Bad(lambda t: (_symlink_zip(t), "a.zip"), UnsafeInputError,
                       "symbolic link", no_zip_extraction=True),
    # KML / XML that reads other files or URLs
    "kml-networklink": Bad(
        lambda t: (kml("<NetworkLink><Link><href>http://example.com/more.kml</href></Link>"
                       "</NetworkLink>" + PLACEMARK), "a.kml"),
        UnsafeInputError, "NetworkLink"),
    "kmz-networklink": Bad(
        lambda t: (make_zip({"doc.kml": kml("<NetworkLink><Link><href>/etc/passwd</href>"
                                            "</Link></NetworkLink>")}), "a.kmz"),
        UnsafeInputError, "NetworkLink"),
    "kml-external-entity": Bad(
        lambda t: (kml("<Placemark><name>&xxe;</name></Placemark>",
                       head='<!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'),
                   "a.kml"), UnsafeInputError, "DOCTYPE or entities"),
    "gpx-entity-bomb": Bad(
        lambda t: (b'<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa">'
                   b'<!ENTITY b "&a;&a;&a;&a;&a;">]><gpx version="1.1"><wpt lat="31" '
                   b'lon="120"><name>&b;</name></wpt></gpx>', "a.gpx"),
        UnsafeInputError, "DOCTYPE or entities"),
    "kml-truncated": Bad(lambda t: (kml(PLACEMARK)[:-30], "a.kml"), DataReadError,
                         "not well-formed XML"),
    "geotiff": Bad(lambda t: (_tiff(), "dem.tif"), UnsafeInputError, "TIFF/GeoTIFF raster"),
    "geotiff-named-geojson": Bad(lambda t: (_tiff(), "a.geojson"), UnsafeInputError,
                                 "TIFF/GeoTIFF raster"),
    "ogr-vrt": Bad(
        lambda t: (b'<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd'
                   b'</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>', "a.vrt"),
        UnsafeInputError, "GDAL VRT/WMS description"),
    "raster-vrt-named-tif": Bad(
        lambda t: (b'<VRTDataset rasterXSize="1" rasterYSize="1"><VRTRasterBand band="1">'
                   b'<SimpleSource><SourceFilename>/vsicurl/http://example.com/x.tif'
                   b'</SourceFilename></SimpleSource></VRTRasterBand></VRTDataset>', "dem.tif"),
        UnsafeInputError, "GDAL VRT/WMS description"),
    "gdal-wms": Bad(lambda t: (b"<GDAL_WMS><Service name='TMS'><ServerUrl>http://example.com/"
                               b"</ServerUrl></Service></GDAL_WMS>", "a.xml"),
                    UnsafeInputError, "GDAL VRT/WMS description"),
    # GeoPackages we refuse
    "sqlite-not-gpkg": Bad(lambda t: (_plain_sqlite(t), "a.gpkg"), DataReadError,
                           "SQLite database but not a GeoPackage"),
    "gpkg-virtual-table": Bad(
        lambda t: (_gpkg_with(t, "CREATE VIRTUAL TABLE notes USING fts4(body)"), "a.gpkg"),
        UnsafeInputError, "virtual table"),
    "gpkg-two-layers": Bad(lambda t: (_gpkg_two_layers(t), "a.gpkg"), NeedsAnswerError,
                           "holds 2 layers: one, two. Choose one with --src-layer"),
    "gpkg-crs-contradiction": Bad(lambda t: (to_bytes(points(), "GPKG", ".gpkg", t), "a.gpkg"),
                                  CRSError, "declares its CRS as EPSG:4326, but --crs says",
                                  {"crs": "EPSG:3857"}),
    # size
    "empty-file": Bad(lambda t: (b"", "a.geojson"), DataReadError, r"is empty \(0 bytes\)"),
    "over-size-limit": Bad(lambda t: (b'{"type": "FeatureCollection", "features": ['
                                      + b" " * (50 * 1024 * 1024), "big.geojson"),
                           UnsafeInputError, "over the upload limit of 52 MB"),
    # coordinates
    "coordinates-projected": Bad(
        lambda t: (fc(feature({"type": "Point", "coordinates": [351_000, 3_452_000]})),
                   "a.geojson"), DataReadError, r"out of range .*They look projected"),
    "coordinates-beyond-pole": Bad(
        lambda t: (fc(feature({"type": "Point", "coordinates": [120.0, 95.0]})), "a.geojson"),
        DataReadError, r"found x=120, y=95; longitude must lie within ±180"),
    "coordinates-swapped": Bad(lambda t: (b"name,lon,lat\nA,31.1921,120.9631\n", "a.csv"),
                               NeedsAnswerError, "wrong order.*--swap-axes"),
    "coordinates-gcj02": Bad(_gcj_csv, NeedsAnswerError,
                             r"look copied from a Chinese web map. Pass --datum gcj02"),
    # CSV / XLSX
    "csv-no-coordinate-columns": Bad(lambda t: (b"name,foo,bar\nA,1,2\n", "a.csv"),
                                     NeedsAnswerError, "no longitude column found.*--lon-col"),
    "csv-text-in-coordinates": Bad(
        lambda t: (b"name,lon,lat\nA,120.96,31.19\nB,east,31.19\n", "a.csv"),
        DataReadError, r"1 cells are not numbers \(row 3: 'east'\)"),
    "csv-header-only": Bad(lambda t: (b"name,lon,lat\n", "a.csv"), DataReadError,
                           "column names but no rows"),
    "csv-two-candidate-columns": Bad(lambda t: (b"x,lon,lat\n1,120.9,31.1\n", "a.csv"),
                                     NeedsAnswerError, "several columns could hold the longitude"),
    "xlsx-text-in-coordinates": Bad(
        lambda t: (_xlsx([["name", "longitude", "latitude"], ["A", "n/a", 31.19]]), "a.xlsx"),
        DataReadError, "column 'longitude' must hold decimal degrees"),
    # vertex limits
    "million-vertex-line": Bad(lambda t: (fc(feature(_spiral(1_000_000), name="spiral")),
                                          "huge.geojson"),
                               DataReadError, "1,000,000 vertices, over the limit of 250,000"),
    "total-vertex-limit": Bad(lambda t: (geojson(points(20)), "a.geojson"), UnsafeInputError,
                              "holds 20 vertices, over the limit of 10",
                              {"limits": Limits(max_vertices_total=10)}),
    # invalid geometry that cannot be repaired
    "polygon-collapses": Bad(
        lambda t: (fc(feature({"type": "Polygon", "coordinates": [[
            [LON, LAT], [LON + 0.001, LAT], [LON + 0.002, LAT], [LON, LAT]]]})), "a.geojson"),
        DataReadError, "collapses to"),
}


@dataclass
class BadTarget:
    """Well-formed data aimed at a wrong target or with wrong options."""

    data: Callable[[Path], tuple[bytes, str]]
    target: dict[str, Any]
    error: type[GeoError]
    match: str


BAD_TARGETS: dict[str, BadTarget] = {
    "polygons-into-points-layer": BadTarget(
        lambda t: (geojson(gpd.GeoDataFrame({"name": ["p"]}, geometry=[box(LON, LAT, LON + .001,
                                                                           LAT + .001)],
                                            crs=4326)), "a.geojson"),
        {}, DataReadError, r"no feature fits layer 'discharge_points'.*takes points"),
    "unknown-site": BadTarget(lambda t: (geojson(), "a.geojson"), {"site": "AWS-999999"},
                              SiteNotFoundError, "AWS-999999"),
    "unknown-layer-without-kind": BadTarget(lambda t: (geojson(), "a.geojson"),
                                            {"layer": "my_outfalls"}, LayerNotFoundError,
                                            "add --kind KIND"),
    "kind-mismatch": BadTarget(lambda t: (geojson(), "a.geojson"), {"kind": "pipe"},
                               CatalogueError, "is a discharge_point layer, not pipe"),
    "unknown-kind": BadTarget(lambda t: (geojson(), "a.geojson"),
                              {"layer": "x_new", "kind": "volcano"}, CatalogueError,
                              "Unknown layer kind 'volcano'"),
    "field-map-unknown-source": BadTarget(lambda t: (geojson(), "a.geojson"),
                                          {"field_map": {"编号": "fid"}}, DataReadError,
                                          "has no field 编号"),
    "bad-accuracy-values": BadTarget(lambda t: (geojson(points(accuracy=["guess"] * 3)),
                                                "a.geojson"), {}, DataReadError,
                                     "accuracy values guess are not allowed"),
    "catchment-units-without-links": BadTarget(
        lambda t: (geojson(gpd.GeoDataFrame({"name": ["u"]}, geometry=[box(LON, LAT, LON + .01,
                                                                           LAT + .01)],
                                            crs=4326)), "a.geojson"),
        {"layer": "catchment_units"}, DataReadError, "catchment units need next_down and level"),
}

BAD_PATHS = {
    "vsicurl": ("/vsicurl/http://example.com/data.zip", UnsafeInputError, "not a plain file path"),
    "http-url": ("http://example.com/data.geojson", UnsafeInputError, "not a plain file path"),
    "vsizip": ("/vsizip//tmp/data.zip/x.shp", UnsafeInputError, "not a plain file path"),
    "gdal-connection-string": ("PG:dbname=postgres", UnsafeInputError, "connection string"),
    "etc-passwd": ("/etc/passwd", UnsafeInputError, "is a system file"),
    "dev-zero": ("/dev/zero", UnsafeInputError, "is a system file"),
    "proc-environ": ("/proc/self/environ", UnsafeInputError, "is a system file"),
    "missing-file": ("{tmp}/nope.geojson", DataReadError, "no such file"),
    "folder": ("{tmp}", DataReadError, "not a regular file"),
}


def test_corpus_is_large_enough() -> None:
    assert len(BAD) + len(BAD_TARGETS) + len(BAD_PATHS) >= 40


@pytest.fixture
def workspace(demo_copy: Path) -> Path:
    return demo_copy


@pytest.mark.parametrize("case_id", sorted(BAD))
def test_bad_input_is_refused_and_workspace_unchanged(
    case_id: str, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = BAD[case_id]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    data, filename = case.make(scratch)
    assert isinstance(data, bytes)
    if case.no_zip_extraction:  # the guard must refuse before reading any member
        def refuse(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("a zip member was opened before the guard refused the archive")

        monkeypatch.setattr(zipfile.ZipFile, "open", refuse)
    before = tree_hash(workspace)
    with pytest.raises(case.error, match=case.match):
        attempt(workspace, data, filename, site=SITE, **case.options)
    assert tree_hash(workspace) == before


@pytest.mark.parametrize("case_id", sorted(BAD_TARGETS))
def test_bad_target_is_refused_and_workspace_unchanged(
    case_id: str, workspace: Path, tmp_path: Path
) -> None:
    case = BAD_TARGETS[case_id]
    data, filename = case.data(tmp_path)
    before = tree_hash(workspace)
    with pytest.raises(case.error, match=case.match):
        attempt(workspace, data, filename, **case.target)
    assert tree_hash(workspace) == before


@pytest.mark.parametrize("case_id", sorted(BAD_PATHS))
def test_bad_path_is_refused_and_workspace_unchanged(case_id: str, workspace: Path,
                                                     tmp_path: Path) -> None:
    text, error, match = BAD_PATHS[case_id]
    before = tree_hash(workspace)
    with pytest.raises(error, match=match):
        data, name = read_user_file(text.format(tmp=tmp_path))
        attempt(workspace, data, name)
    assert tree_hash(workspace) == before


def test_bad_inputs_exit_1_with_message_from_cli(workspace: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    before = tree_hash(workspace)
    bad = tmp_path / "outfalls.geojson"
    bad.write_bytes(geojson()[:-10])
    for args, message in [
        ([str(bad)], "not valid JSON"),
        (["/etc/passwd"], "is a system file"),
        (["/vsicurl/http://example.com/x.zip"], "not a plain file path"),
        ([str(bad), "--datum", "mars"], "is not one of wgs84"),
    ]:
        result = runner.invoke(app, ["import", *args, "--layer", "discharge_points",
                                     "-w", str(workspace)])
        assert result.exit_code == 1, result.output
        assert message in result.output
        assert "Traceback" not in result.output
    assert tree_hash(workspace) == before


# --- what imports ------------------------------------------------------------------------------


def _round_trip_inputs(tmp: Path) -> dict[str, tuple[bytes, str, dict[str, Any]]]:
    frame = points(3, ref=["R1", "R2", "R3"])
    parts = shapefile_parts(frame, tmp)
    gpx = ('<?xml version="1.0"?><gpx version="1.1" creator="test" '
           'xmlns="http://www.topografix.com/GPX/1/1">'
           + "".join(f'<wpt lat="{p.y}" lon="{p.x}"><name>{n}</name></wpt>'
                     for p, n in zip(frame.geometry, frame["name"], strict=True))
           + "</gpx>").encode()
    placemarks = "".join(
        f"<Placemark><name>{n}</name><Point><coordinates>{p.x},{p.y}</coordinates></Point>"
        "</Placemark>" for p, n in zip(frame.geometry, frame["name"], strict=True))
    csv_text = "名称,经度,纬度\n" + "".join(
        f"{n},{p.x},{p.y}\n" for p, n in zip(frame.geometry, frame["name"], strict=True))
    return {
        "geojson": (geojson(frame), "outfalls.geojson", {}),
        "shapefile-zip": (make_zip({f"survey/outfalls{e}": b for e, b in parts.items()}),
                          "outfalls.zip", {}),
        "gpkg": (to_bytes(frame, "GPKG", ".gpkg", tmp, layer="outfalls"), "outfalls.gpkg", {}),
        "kml": (kml(placemarks), "outfalls.kml", {}),
        "kmz": (make_zip({"doc.kml": kml(placemarks)}), "outfalls.kmz", {}),
        "csv": (csv_text.encode("utf-8"), "outfalls.csv", {}),
        "csv-gbk": (csv_text.encode("gb18030"), "outfalls.csv", {}),
        "xlsx": (_xlsx([["name", "lng", "lat"],
                        *[[n, p.x, p.y] for p, n in zip(frame.geometry, frame["name"],
                                                       strict=True)]]), "outfalls.xlsx", {}),
        "gpx": (gpx, "outfalls.gpx", {}),
    }


ROUND_TRIP_FORMATS = ["geojson", "shapefile-zip", "gpkg", "kml", "kmz", "csv", "csv-gbk",
                      "xlsx", "gpx"]


@pytest.mark.parametrize("fmt", ROUND_TRIP_FORMATS)
def test_round_trip_into_a_new_layer(fmt: str, workspace: Path, tmp_path: Path) -> None:
    data, filename, options = _round_trip_inputs(tmp_path)[fmt]
    report = attempt(workspace, data, filename, layer="my_outfalls", kind="discharge_point",
                     site=SITE, **options)
    assert report.imported == 3 and report.created
    ws = open_workspace(workspace)  # a fresh open sees it: the TOML and the store are on disk
    loaded = ws.load("my_outfalls")
    assert len(loaded) == 3
    expected = points(3)
    got = loaded.sort_values("name").geometry
    assert np.allclose(got.x.to_numpy(), expected.geometry.x.to_numpy(), atol=1e-7)
    assert np.allclose(got.y.to_numpy(), expected.geometry.y.to_numpy(), atol=1e-7)
    assert sorted(loaded["name"]) == ["outfall 0", "outfall 1", "outfall 2"]
    assert set(loaded["aws_ref"]) == {SITE}
    assert set(loaded["accuracy"]) == {"surveyed"}
    assert set(loaded["datum"]) == {"wgs84"}
    assert loaded["source"].str.startswith(filename).all()
    assert loaded["fid"].is_unique
    assert ws.spec("my_outfalls").evidences  # counts for the discharge element


@pytest.mark.parametrize("fmt", ["geojson", "shapefile-zip", "gpkg", "kml"])
def test_polygon_round_trip_with_repair_report(fmt: str, workspace: Path, tmp_path: Path) -> None:
    bowtie = Polygon([(LON, LAT), (LON + .002, LAT + .002), (LON + .002, LAT), (LON, LAT + .002)])
    frame = gpd.GeoDataFrame({"name": ["Block Z", "Bow tie"], "ref": ["pz", "pbow"]},
                             geometry=[box(LON, LAT, LON + .001, LAT + .001), bowtie], crs=4326)
    if fmt == "geojson":
        data, name = geojson(frame), "parcels.geojson"
    elif fmt == "shapefile-zip":
        data = make_zip({f"parcels{e}": b for e, b in shapefile_parts(frame, tmp_path).items()})
        name = "parcels.zip"
    elif fmt == "gpkg":
        data, name = to_bytes(frame, "GPKG", ".gpkg", tmp_path), "parcels.gpkg"
    else:
        data, name = to_bytes(frame, "KML", ".kml", tmp_path), "parcels.kml"
    report = attempt(workspace, data, name, layer="sites", site=SITE)
    assert report.imported == 2
    assert [r.feature for r in report.repairs] == ["feature 2 (name 'Bow tie')"]
    assert "Self-intersection" in report.repairs[0].problem
    assert "make_valid: Polygon → MultiPolygon" in report.repairs[0].change
    sites = open_workspace(workspace).load("sites")
    assert sites.is_valid.all()
    assert {"Block Z", "Bow tie"} <= set(sites["name"])


def test_per_feature_rejection_keeps_the_rest(workspace: Path) -> None:
    data = fc(feature({"type": "Point", "coordinates": [LON, LAT]}, name="good"),
              feature(None, name="no geometry"),
              feature({"type": "LineString", "coordinates": [[LON, LAT], [LON + .001, LAT]]},
                      name="a line"),
              feature({"type": "Point", "coordinates": [LON + 0.001, LAT]}, name="good 2"))
    report = attempt(workspace, data, "mixed.geojson", site=SITE)
    assert report.imported == 2
    reasons = {r.feature: r.reason for r in report.rejected}
    assert reasons["feature 2 (name 'no geometry')"] == "no geometry (null)"
    assert "is a LineString; layer 'discharge_points' (discharge_point) takes points" in \
        reasons["feature 3 (name 'a line')"]
    loaded = open_workspace(workspace).load("discharge_points")
    assert {"good", "good 2"} <= set(loaded["name"])


def test_gcj02_points_converted_with_datum_recorded(workspace: Path, tmp_path: Path) -> None:
    (tmp_path / "demo").exists()
    data, name = _gcj_csv(tmp_path / "x")
    report = attempt(workspace, data, name, site=SITE, datum=Datum.GCJ02)
    assert report.legal_note and "Publishing maps of China" in report.legal_note
    ws = open_workspace(workspace)
    loaded = ws.load("discharge_points")
    new = loaded[loaded["source"].str.startswith(name)]
    assert set(new["datum"]) == {"gcj02"}
    # Converted back onto the parcels they were taken from.
    parcels = ws.load("sites").to_crs(32651)
    distances = new.to_crs(32651).geometry.apply(lambda g: parcels.distance(g).min())
    assert distances.max() < 1.0


def test_swapped_axes_fixed_on_request(workspace: Path) -> None:
    report = attempt(workspace, f"name,lon,lat\nA,{LAT},{LON}\n".encode(), "s.csv",
                     site=SITE, swap_axes=True)
    loaded = open_workspace(workspace).load("discharge_points")
    new = loaded[loaded["name"] == "A"].geometry.iloc[0]
    assert (round(new.x, 4), round(new.y, 4)) == (LON, LAT)
    assert any("Swapped" in n for n in report.notes)


def test_fid_kept_when_unique_generated_when_taken(workspace: Path) -> None:
    taken = open_workspace(workspace).load("sites")["fid"].iloc[0]
    frame = points(3, fid=["mine-1", taken, "mine-1"])
    report = attempt(workspace, geojson(frame), "f.geojson", site=SITE)
    assert report.fids_generated == 2
    fids = list(report.frame["fid"])
    assert fids[0] == "mine-1" and taken not in fids and len(set(fids)) == 3


def test_replace_mode_and_dry_run(workspace: Path) -> None:
    before = tree_hash(workspace)
    ws = open_workspace(workspace)
    result = ingest_bytes(geojson(), "o.geojson")
    dry = import_into(ws, "discharge_points", result, site=SITE, mode="replace", dry_run=True)
    assert dry.saved is None and "Dry run: nothing was saved." in dry.lines()
    assert tree_hash(workspace) == before
    import_into(ws, "discharge_points", result, site=SITE, mode="replace")
    assert len(ws.load("discharge_points")) == 3


def test_cli_import_success_and_history_undo(workspace: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "outfalls.kml"
    path.write_bytes(kml(PLACEMARK))
    before = len(open_workspace(workspace).load("discharge_points"))
    result = runner.invoke(app, ["import", str(path), "--layer", "discharge_points",
                                 "--site", SITE, "-w", str(workspace)])
    assert result.exit_code == 0, result.output
    assert "Imported 1 features into layer 'discharge_points'" in result.output
    assert len(open_workspace(workspace).load("discharge_points")) == before + 1
    result = runner.invoke(app, ["history", "discharge_points", "-w", str(workspace)])
    assert result.exit_code == 0 and "migrate" in result.output and "import" in result.output
    result = runner.invoke(app, ["undo", "discharge_points", "-w", str(workspace)])
    assert result.exit_code == 0, result.output
    assert len(open_workspace(workspace).load("discharge_points")) == before
    result = runner.invoke(app, ["undo", "discharge_points", "-w", str(workspace)])
    assert result.exit_code == 1 and "Nothing to undo" in result.output


def test_cli_new_layer_with_kind(workspace: Path, tmp_path: Path) -> None:
    path = tmp_path / "pipes.geojson"
    path.write_bytes(geojson(gpd.GeoDataFrame(
        {"name": ["main"]}, geometry=[LineString([(LON, LAT), (LON + .002, LAT + .001)])],
        crs=4326)))
    result = CliRunner().invoke(app, ["import", str(path), "--layer", "site_pipes", "--kind",
                                      "pipe", "--site", SITE, "-w", str(workspace)])
    assert result.exit_code == 0, result.output
    ws = open_workspace(workspace)
    assert ws.spec("site_pipes").kind.value == "pipe"
    assert len(ws.load("site_pipes")) == 1
