"""Format readers of :mod:`geo.ingest.read`: each returns the features in the file's own CRS.

GeoJSON (parsed in Python), KML/KMZ and GPX (XML checked for entities and network
links), zipped Shapefile and GeoPackage (through /vsimem or a private temp copy),
CSV/XLSX (longitude/latitude columns detected or chosen).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sqlite3
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import pyproj
import shapely
from shapely.geometry import shape

from geo.core.crs import WGS84, parse_crs
from geo.core.errors import DataReadError, UnsafeInputError
from geo.ingest.model import ImportOptions, ImportQuestion, Limits, RejectedFeature, SourceFormat
from geo.ingest.sniff import _files, _read_member, _sniff_content
from geo.ingest.values import NonFinite, feature_label

__all__: list[str] = []



@dataclass
class _Read:
    frame: gpd.GeoDataFrame
    crs_text: str
    crs_implied: bool = False  # the CRS comes from the format's definition, not the file
    layers: list[str] = field(default_factory=list)
    layer: str | None = None
    rejected: list[RejectedFeature] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _ogr_read(data: bytes, name: str, layer: str | int | None = None) -> gpd.GeoDataFrame:
    """Read bytes with pyogrio (GDAL sees only /vsimem)."""
    try:
        frame = pyogrio.read_dataframe(io.BytesIO(data), layer=layer, on_invalid="warn")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
            pyogrio.errors.GeometryError, pyogrio.errors.FieldError, OSError, ValueError,
            RuntimeError) as err:
        raise DataReadError(f"{name} cannot be read: {err}. It may be damaged or truncated; "
                            "export it again.") from err
    if not isinstance(frame, gpd.GeoDataFrame):
        raise DataReadError(f"{name} has no geometries to import.")
    return frame


def _ogr_layers(data: bytes, name: str) -> list[tuple[str, str]]:
    try:
        return [(str(a), str(b)) for a, b in pyogrio.list_layers(io.BytesIO(data))]
    except (pyogrio.errors.DataSourceError, OSError, ValueError, RuntimeError) as err:
        raise DataReadError(f"{name} cannot be opened: {err}. It may be damaged or "
                            "truncated; export it again.") from err


def _pick_layer(name: str, layers: list[str], wanted: str | None, what: str) -> str:
    if wanted is not None:
        if wanted not in layers:
            raise DataReadError(f"{name} has no {what} {wanted!r}; it has: {', '.join(layers)}.")
        return wanted
    if len(layers) == 1:
        return layers[0]
    raise ImportQuestion(
        f"{name} holds {len(layers)} {what}s: {', '.join(layers)}. Choose one with "
        "--src-layer NAME.",
        questions={"src_layer": f"Which {what} of {name} to import?"},
        choices={"src_layer": layers},
    )


def _read_geojson(data: bytes, name: str, options: ImportOptions) -> _Read:
    try:
        # NaN/Infinity tokens are not JSON; parsed as markers, they become nulls with a note
        doc = json.loads(data.decode("utf-8-sig"), parse_constant=NonFinite)
    except UnicodeDecodeError as err:
        raise DataReadError(f"{name} is not UTF-8 text, so not GeoJSON ({err}).") from err
    except json.JSONDecodeError as err:
        raise DataReadError(
            f"{name} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
            "the file may be truncated or malformed. Export it again."
        ) from err
    except RecursionError as err:
        raise DataReadError(f"{name} is nested too deeply to be GeoJSON.") from err
    except ValueError as err:  # e.g. an integer of over 4,300 digits
        raise DataReadError(f"{name} holds a value Python's JSON reader refuses ({err}).") \
            from err
    if not isinstance(doc, dict) or "type" not in doc:
        raise DataReadError(f"{name} is JSON but not GeoJSON: it has no top-level \"type\".")
    kind = doc.get("type")
    if kind == "Topology":
        raise DataReadError(f"{name} is TopoJSON; convert it to GeoJSON first.")
    crs_text, implied, crs = _geojson_crs(doc, name)
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise DataReadError(f"{name}: a FeatureCollection needs a \"features\" list.")
    elif kind == "Feature":
        features = [doc]
    elif kind in _GEOMETRY_TYPES:
        features = [{"type": "Feature", "geometry": doc, "properties": {}}]
    else:
        raise DataReadError(
            f"{name} is JSON with type {str(kind)[:40]!r}, not GeoJSON (expected "
            "FeatureCollection, Feature or a geometry)."
        )
    if len(features) > options.limits.max_features:
        raise UnsafeInputError(f"{name} holds {len(features)} features, over the limit of "
                               f"{options.limits.max_features}.")
    rows: list[dict[str, Any]] = []
    geoms: list[Any] = []
    numbers: list[int] = []  # 0-based position in the file, kept as the frame's index
    rejected: list[RejectedFeature] = []
    flattened = 0
    for number, feature in enumerate(features, start=1):
        label = f"feature {number}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            rejected.append(RejectedFeature(label, "not a GeoJSON Feature object"))
            continue
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            rejected.append(RejectedFeature(label, "\"properties\" is not an object"))
            continue
        props = dict(props)
        if "geometry" in props:  # would be lost under the features' own geometry column
            props["src_geometry" if "src_geometry" not in props else "src_geometry_"] = \
                props.pop("geometry")
        if "fid" not in props and isinstance(feature.get("id"), str | int) \
                and not isinstance(feature.get("id"), bool):
            props["fid"] = str(feature["id"])
        geometry = feature.get("geometry")
        if geometry is None:
            rejected.append(RejectedFeature(_label(number, props), "no geometry (null)"))
            continue
        try:
            geom, dropped = _geojson_geometry(geometry, options.limits)
        except _BadGeometry as err:
            rejected.append(RejectedFeature(_label(number, props), str(err)))
            continue
        flattened += dropped
        rows.append(props)
        geoms.append(geom)
        numbers.append(number - 1)
    # object cells and names: values reach geo.ingest.values as parsed (pandas' string
    # storage would fail on a lone surrogate before anything could be said about it)
    keys = list(dict.fromkeys(key for row in rows for key in row))
    cells = np.empty((len(rows), len(keys)), dtype=object)
    for i, row in enumerate(rows):
        cells[i] = [row.get(key) for key in keys]
    attributes = pd.DataFrame(cells, index=numbers, columns=pd.Index(keys, dtype=object),
                              dtype=object)
    frame = gpd.GeoDataFrame(attributes, geometry=gpd.GeoSeries(geoms, index=numbers), crs=crs)
    notes = [f"{flattened} features have heights or measures (Z/M); layers are 2D, so they "
             "are dropped."] if flattened else []
    return _Read(frame, crs_text, implied, rejected=rejected, notes=notes)


_GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                   "MultiPolygon", "GeometryCollection")


class _BadGeometry(ValueError):
    pass


def _positions(coords: Any, depth: int = 0) -> tuple[Any, int, bool]:
    """Coordinates as 2D positions, their count and whether a Z/M value was dropped."""
    if depth > 6:
        raise _BadGeometry("coordinates nested too deeply")
    if not isinstance(coords, list):
        raise _BadGeometry("coordinates are not arrays of numbers")
    if coords and not isinstance(coords[0], list):  # one position
        if any(isinstance(c, NonFinite) or (isinstance(c, float) and not math.isfinite(c))
               for c in coords):
            raise _BadGeometry("coordinates hold NaN or Infinity")
        if len(coords) < 2 or not all(isinstance(c, int | float) and not isinstance(c, bool)
                                      for c in coords):
            raise _BadGeometry("coordinates are not arrays of numbers")
        return coords[:2], 1, len(coords) > 2
    cleaned, count, dropped = [], 0, False
    for part in coords:
        positions, n, lost = _positions(part, depth + 1)
        cleaned.append(positions)
        count += n
        dropped = dropped or lost
    return cleaned, count, dropped


def _geojson_geometry(geometry: Any, limits: Limits, depth: int = 0) -> tuple[Any, bool]:
    if not isinstance(geometry, dict) or geometry.get("type") not in _GEOMETRY_TYPES:
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        raise _BadGeometry(f"unknown geometry type {str(kind)[:40]!r}")
    if geometry["type"] == "GeometryCollection":
        members = geometry.get("geometries")
        if not isinstance(members, list) or depth > 2:
            raise _BadGeometry("a malformed GeometryCollection")
        parts = [_geojson_geometry(g, limits, depth + 1) for g in members]
        return (shapely.GeometryCollection([g for g, _ in parts]),
                any(lost for _, lost in parts))
    positions, count, dropped = _positions(geometry.get("coordinates"))
    if count > limits.max_vertices_per_feature:
        raise _BadGeometry(f"{count:,} vertices, over the limit of "
                           f"{limits.max_vertices_per_feature:,} per feature; simplify it")
    try:
        return shape({"type": geometry["type"], "coordinates": positions}), dropped
    except (ValueError, TypeError, IndexError, KeyError, AttributeError,
            shapely.errors.GEOSException) as err:
        raise _BadGeometry(f"malformed {geometry['type']} coordinates ({err})") from err


def _geojson_crs(doc: dict[str, Any], name: str) -> tuple[str, bool, pyproj.CRS]:
    member = doc.get("crs")
    if member is None:
        return "EPSG:4326 (GeoJSON, RFC 7946)", True, WGS84
    if not isinstance(member, dict):
        raise DataReadError(f"{name}: its \"crs\" member is malformed.")
    if member.get("type") != "name":
        raise UnsafeInputError(
            f"{name}: its \"crs\" member is of type {str(member.get('type'))[:20]!r}; only "
            "named CRSs are read (a linked CRS would make GDAL fetch a file or URL). Remove "
            "the \"crs\" member and pass --crs if the data is not in WGS84."
        )
    value = (member.get("properties") or {}).get("name")
    check_crs_text(value, f"{name}: its \"crs\" member")
    crs = parse_crs(value, where=name)
    return f"{crs.to_string()} (GeoJSON crs member)", False, crs


_label = feature_label

#: CRS text that names a file or URL (GDAL reads /vsi… paths, PROJ '+init=' files).
_CRS_REFERENCE = re.compile(r"^\s*[/.~\\]|/vsi|://|\+init\s*=|^\s*[A-Za-z]:[\\/]", re.I)


def check_crs_text(value: Any, where: str) -> None:
    """Refuse a CRS given as text that points at a file or URL instead of describing one."""
    if isinstance(value, str) and _CRS_REFERENCE.search(value):
        raise UnsafeInputError(
            f"{where} is {value[:60]!r}, a path, URL or '+init=' file reference, not a CRS; "
            "refusing it. Give an EPSG code such as EPSG:4326 (or the CRS's WKT)."
        )


_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _check_xml(data: bytes, name: str) -> ET.Element:
    if _DOCTYPE.search(data):
        raise UnsafeInputError(
            f"{name} declares a DOCTYPE or entities, which can make XML readers fetch other "
            "files; refusing it. Export it again without them."
        )
    try:
        return ET.fromstring(data)  # noqa: S314 - no DOCTYPE, hence no entities
    except ET.ParseError as err:
        raise DataReadError(f"{name} is not well-formed XML ({err}); it may be truncated.") \
            from err


def _read_kml(data: bytes, name: str, options: ImportOptions) -> _Read:
    root = _check_xml(data, name)
    for element in root.iter():
        local = element.tag.rsplit("}", 1)[-1]
        if local == "NetworkLink":
            raise UnsafeInputError(
                f"{name} holds a NetworkLink, which makes GDAL fetch another file or URL; "
                "refusing it. Save the linked data into the KML itself (or upload it)."
            )
    layers = [n for n, _ in _ogr_layers(data, name)]
    if not layers:
        raise DataReadError(f"{name} holds no placemarks.")
    if options.src_layer and options.src_layer not in layers:
        raise DataReadError(f"{name} has no folder {options.src_layer!r}; it has: "
                            f"{', '.join(layers)}.")
    chosen = [layers.index(options.src_layer)] if options.src_layer else range(len(layers))
    frames = []
    for index in chosen:
        # By index: a Document without a name is a layer named after the /vsimem file,
        # which differs on every read.
        part = _ogr_read(data, name, index)
        if len(layers) > 1:
            part["kml_folder"] = layers[index]
        frames.append(part)
    frame = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)
    # LIBKML's display housekeeping (not data); a description is kept when present.
    frame = frame.drop(columns=[c for c in ("id", "timestamp", "begin", "end", "altitudeMode",
                                            "tessellate", "extrude", "visibility", "drawOrder",
                                            "icon") if c in frame.columns])
    frame = _drop_empty(frame, ("description",))
    if "Name" in frame.columns and "name" not in frame.columns:
        frame = frame.rename(columns={"Name": "name"})
    return _Read(frame, "EPSG:4326 (KML)", True, layers=layers, layer=options.src_layer)


def _drop_empty(frame: gpd.GeoDataFrame, columns: tuple[str, ...]) -> gpd.GeoDataFrame:
    empty = [c for c in columns if c in frame.columns
             and (frame[c].isna() | (frame[c].astype(str).str.strip() == "")).all()]
    return frame.drop(columns=empty)


def _read_gpx(data: bytes, name: str, options: ImportOptions) -> _Read:
    _check_xml(data, name)
    available = [n for n, _ in _ogr_layers(data, name)]
    counts = {}
    for layer in ("waypoints", "routes", "tracks"):
        if layer in available:
            counts[layer] = len(_ogr_read(data, name, layer))
    if options.src_layer:
        layer = _pick_layer(name, available, options.src_layer, "GPX layer")
    else:
        non_empty = [n for n, c in counts.items() if c]
        if not non_empty:
            raise DataReadError(f"{name} holds no waypoints, routes or tracks.")
        layer = _pick_layer(name, [f"{n}" for n in non_empty], None, "GPX layer")
    frame = _ogr_read(data, name, layer)
    frame = _drop_empty(frame, tuple(c for c in frame.columns if c != frame.geometry.name))
    return _Read(frame, "EPSG:4326 (GPX)", True, layers=available, layer=layer)


def _read_kmz(archive: zipfile.ZipFile, name: str, options: ImportOptions) -> _Read:
    kmls = [i for i in _files(archive) if i.filename.lower().endswith(".kml")]
    doc = next((i for i in kmls if i.filename.lower() == "doc.kml"), None) or kmls[0]
    inner = _read_member(archive, doc, name)
    if _sniff_content(inner, doc.filename) is not SourceFormat.KML:
        raise DataReadError(f"{name}: {doc.filename} is not KML.")
    read = _read_kml(inner, name, options)
    if len(kmls) > 1:
        read.notes.append(f"{name} holds {len(kmls)} KML files; read {doc.filename}.")
    return read


def _read_shapefile_zip(archive: zipfile.ZipFile, name: str, options: ImportOptions) -> _Read:
    members: dict[str, dict[str, zipfile.ZipInfo]] = {}
    for info in _files(archive):
        path = PurePosixPath(info.filename.replace("\\", "/"))
        members.setdefault(str(path.with_suffix("")).lower(), {})[path.suffix.lower()] = info
    stems = {stem: parts for stem, parts in members.items() if ".shp" in parts}
    names = {PurePosixPath(stem).name: stem for stem in stems}
    chosen = names[_pick_layer(name, sorted(names), options.src_layer, "shapefile")]
    parts = stems[chosen]
    missing = [ext for ext in (".shx", ".dbf") if ext not in parts]
    if missing:
        raise DataReadError(
            f"{name}: {PurePosixPath(chosen).name}.shp comes without "
            f"{' and '.join(missing)}. A shapefile needs .shp, .shx and .dbf (and .prj for "
            "its CRS); zip all of them together."
        )
    clean = io.BytesIO()
    with zipfile.ZipFile(clean, "w", zipfile.ZIP_STORED) as out:
        for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
            if ext in parts:
                out.writestr(f"data{ext}", _read_member(archive, parts[ext], name))
    frame = _ogr_read(clean.getvalue(), name)
    notes = [] if ".prj" in parts else [f"{name} has no .prj file, so no CRS."]
    crs_text = frame.crs.to_string() if frame.crs is not None else "none (no .prj)"
    return _Read(frame, crs_text, layers=sorted(names), layer=PurePosixPath(chosen).name,
                 notes=notes)


def _read_gpkg(data: bytes, name: str, options: ImportOptions) -> _Read:
    with tempfile.TemporaryDirectory(prefix="catchscope-upload-") as folder:
        path = Path(folder) / "upload.gpkg"
        path.write_bytes(data)
        _check_sqlite(path, name)
        try:
            layers = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
        except (pyogrio.errors.DataSourceError, OSError, ValueError, RuntimeError) as err:
            raise DataReadError(f"{name} cannot be opened as a GeoPackage: {err}.") from err
        if not layers:
            raise DataReadError(f"{name} holds no vector layers.")
        layer = _pick_layer(name, layers, options.src_layer, "layer")
        try:
            frame = pyogrio.read_dataframe(path, layer=layer, on_invalid="warn")
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError,
                ValueError, RuntimeError) as err:
            raise DataReadError(f"{name}: layer {layer!r} cannot be read: {err}.") from err
    if not isinstance(frame, gpd.GeoDataFrame):
        raise DataReadError(f"{name}: layer {layer!r} has no geometry column.")
    crs_text = frame.crs.to_string() if frame.crs is not None else "none (undefined SRS)"
    return _Read(frame, crs_text, layers=layers, layer=layer)


def _check_sqlite(path: Path, name: str) -> None:
    """Refuse SQLite files that are not GeoPackages or hold virtual tables (file readers)."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            con.execute("PRAGMA trusted_schema=OFF")
            app_id = con.execute("PRAGMA application_id").fetchone()[0]
            tables = con.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as err:
        raise DataReadError(f"{name} is a damaged SQLite/GeoPackage file ({err}).") from err
    names = {row[1] for row in tables}
    if app_id not in (0x47504B47, 0x47503130) and "gpkg_contents" not in names:
        raise DataReadError(f"{name} is an SQLite database but not a GeoPackage.")
    for kind, table, sql in tables:
        text = (sql or "").upper()
        if "VIRTUAL TABLE" in text and "USING RTREE" not in text:
            raise UnsafeInputError(
                f"{name}: table {table!r} is a virtual table ({(sql or '')[:60]}…), which "
                "can read other files; refusing it."
            )
        del kind


# --- CSV / XLSX -----------------------------------------------------------------------------

_LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度", "東經", "东经", "point_x",
              "lon_wgs84", "longitude_wgs84", "lon_dd")
_LAT_NAMES = ("lat", "latitude", "y", "纬度", "北緯", "北纬", "point_y", "lat_wgs84",
              "latitude_wgs84", "lat_dd")


def _normalise(column: str) -> str:
    text = re.sub(r"\(.*?\)|（.*?）|\[.*?\]", "", str(column)).strip().lower()
    return re.sub(r"[\s\-]+", "_", text)


def _detect(columns: list[str], names: tuple[str, ...], chosen: str | None, what: str,
            name: str) -> str:
    if chosen is not None:
        if chosen not in columns:
            raise DataReadError(f"{name} has no column {chosen!r}; columns are: "
                                f"{', '.join(map(str, columns))}.")
        return chosen
    found = [c for c in columns if _normalise(c) in names]
    if len(found) == 1:
        return found[0]
    option = "--lon-col" if what == "longitude" else "--lat-col"
    if not found:
        raise ImportQuestion(
            f"{name}: no {what} column found (looked for {', '.join(names[:6])}…); columns "
            f"are: {', '.join(map(str, columns))}. Name it with {option} COLUMN.",
            questions={option.strip("-").replace("-", "_"): f"Which column holds the {what}?"},
            choices={option.strip("-").replace("-", "_"): [str(c) for c in columns]},
        )
    raise ImportQuestion(
        f"{name}: several columns could hold the {what}: {', '.join(found)}. Choose one "
        f"with {option} COLUMN.",
        questions={option.strip("-").replace("-", "_"): f"Which column holds the {what}?"},
        choices={option.strip("-").replace("-", "_"): found},
    )


def _decode_text(data: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DataReadError(f"{name} is neither UTF-8 nor GB18030 text; save it as UTF-8 CSV.")


def _read_csv(data: bytes, name: str, options: ImportOptions) -> _Read:
    text = _decode_text(data, name)
    sample = text[:20_000]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    try:
        table = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                            skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        raise DataReadError(f"{name} is not a readable CSV table ({err}).") from err
    return _points_from_table(table, name, options, typed=False)


def _read_xlsx(archive: zipfile.ZipFile, data: bytes, name: str, options: ImportOptions) -> _Read:
    del archive  # already checked by the zip guard
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many kinds for damaged workbooks
        raise DataReadError(f"{name} is not a readable XLSX workbook ({err}).") from err
    try:
        sheets = list(book.sheetnames)
        sheet = options.src_layer or sheets[0]
        if sheet not in sheets:
            raise DataReadError(f"{name} has no sheet {sheet!r}; it has: {', '.join(sheets)}.")
        rows = []
        for i, row in enumerate(book[sheet].iter_rows(values_only=True)):
            if i > options.limits.max_features + 1:
                raise UnsafeInputError(f"{name}: sheet {sheet!r} has over "
                                       f"{options.limits.max_features} rows, the limit.")
            rows.append(row)
    finally:
        book.close()
    if not rows or not any(v is not None for v in rows[0]):
        raise DataReadError(f"{name}: sheet {sheet!r} is empty; the first row must hold "
                            "column names.")
    header = [str(v).strip() if v is not None else f"column_{i + 1}"
              for i, v in enumerate(rows[0])]
    header = [h if h not in header[:i] else f"{h}.{header[:i].count(h)}"  # as pandas' CSV
              for i, h in enumerate(header)]
    body = [r for r in rows[1:] if any(v is not None and str(v).strip() for v in r)]
    table = pd.DataFrame(body, columns=header)
    read = _points_from_table(table, name, options, typed=True)
    read.layers, read.layer = sheets, sheet
    if len(sheets) > 1 and options.src_layer is None:
        read.notes.append(f"{name} has {len(sheets)} sheets; read the first, {sheet!r} "
                          "(choose another with --src-layer).")
    return read


def _points_from_table(table: pd.DataFrame, name: str, options: ImportOptions,
                       *, typed: bool) -> _Read:
    table.columns = [str(c).strip() for c in table.columns]
    if table.empty:
        raise DataReadError(f"{name} has column names but no rows.")
    if len(table) > options.limits.max_features:
        raise UnsafeInputError(f"{name} has {len(table)} rows, over the limit of "
                               f"{options.limits.max_features}.")
    columns = list(table.columns)
    lon_col = _detect(columns, _LON_NAMES, options.lon_col, "longitude", name)
    lat_col = _detect(columns, _LAT_NAMES, options.lat_col, "latitude", name)
    lon = _numbers(table[lon_col], lon_col, name)
    lat = _numbers(table[lat_col], lat_col, name)
    attributes = table.drop(columns=[lon_col, lat_col])
    if not typed:
        attributes = pd.DataFrame({column: _typed_text(attributes.iloc[:, i])
                                   for i, column in enumerate(attributes.columns)},
                                  index=attributes.index)
    geometry = gpd.points_from_xy(lon, lat)
    if options.crs:
        crs_text, implied, crs = options.crs, False, None
    else:
        crs_text = f"EPSG:4326 lon/lat, from the column names {lon_col!r}/{lat_col!r}"
        implied, crs = True, WGS84
    frame = gpd.GeoDataFrame(attributes.reset_index(drop=True), geometry=geometry, crs=crs)
    return _Read(frame, crs_text, implied)


def _typed_text(column: pd.Series) -> pd.Series:
    """A CSV column as numbers when every filled cell is one, kept exactly; else text.

    Numbers must be finite and integers within 64 bits: ``inf``, ``1e999`` or a 20-digit
    identifier stay text (as written), not a lossy float.
    """
    text = column.astype(object)
    filled = text.map(lambda v: isinstance(v, str) and v.strip() != "")
    if not filled.any():
        return text.where(filled, None)
    cells = text[filled].map(str.strip)
    if cells.map(lambda v: _INTEGER.fullmatch(v) is not None).all():
        integers = cells.map(int)
        if integers.between(-(2**63), 2**63 - 1).all():
            values = [int(integers[i]) if f else None for i, f in filled.items()]
            return pd.Series(pd.array(values, dtype="Int64"), index=column.index)
        return text.where(filled, None)
    converted = pd.to_numeric(text.where(filled, None), errors="coerce")
    numbers = converted[filled].to_numpy(dtype=float)
    if converted.dtype.kind == "f" and np.isfinite(numbers).all():
        return converted
    return text.where(filled, None)


_INTEGER = re.compile(r"[+-]?\d{1,4000}")


def _numbers(column: pd.Series, label: str, name: str) -> NDArrayFloat:
    text = column.astype(str).str.strip().str.replace("°", "", regex=False)
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna()
    if bad.any():
        rows = [f"row {i + 2}: {str(column.iloc[i])[:20]!r}" for i in np.flatnonzero(bad)[:5]]
        raise DataReadError(
            f"{name}: column {label!r} must hold decimal degrees (or coordinates in --crs), "
            f"but {int(bad.sum())} cells are not numbers ({'; '.join(rows)}). Fix those "
            "cells or remove the rows."
        )
    return values.to_numpy(dtype=float)


NDArrayFloat = np.ndarray
