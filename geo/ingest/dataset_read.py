"""Reading public datasets as they are published, clipped to an area of interest first.

A continental HydroBASINS or WDPA file is gigabytes: it is never read whole.  A path a
user typed is checked (:func:`geo.ingest.sniff.user_path`: no ``/vsi…``, URL or system
file), then GDAL opens only a **private copy** in a fresh temporary folder — of a
GeoPackage (checked for virtual tables first), of a shapefile's ``.shp``/``.shx``/
``.dbf``/``.prj``/``.cpg``, or of the shapefile members of a zip (names, sizes and ratio
checked before anything is extracted).  Features are read with a bounding box (the
file's spatial index) through Arrow, then kept when they meet the area itself; the
link columns of a network are read for the whole file without geometry.  Small files
(GeoJSON from Overpass, OSM XML / PBF) are read from bytes, as any upload; a table
(Aqueduct's CSV) is read by pandas, which never hands the path to GDAL.

An area of interest is ``LON,LAT,RADIUS_KM`` (a circle, measured on the ground) or
``WEST,SOUTH,EAST,NORTH`` in WGS84 degrees (:func:`parse_aoi`).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import sqlite3
import stat
import struct
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
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
from shapely.geometry.base import BaseGeometry

from geo.core.errors import DataReadError, UnsafeInputError
from geo.ingest.model import Limits
from geo.ingest.readers import _check_sqlite
from geo.ingest.sniff import _check_member_name, user_path

__all__ = [
    "Aoi",
    "DatasetLimits",
    "DatasetSource",
    "Peek",
    "local_metric_crs",
    "open_source",
    "parse_aoi",
    "peek",
]

_OGR_ERRORS = (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
               pyogrio.errors.FieldError, pyogrio.errors.GeometryError, OSError, ValueError,
               RuntimeError)
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_SHP_MAGIC = b"\x00\x00\x27\x0a"


@dataclass(frozen=True)
class DatasetLimits:
    """How much a public dataset may be: big files on disk, a layer's worth once clipped."""

    max_file_bytes: int = 32 * 1024**3
    max_zip_entries: int = 500
    max_unzipped_bytes: int = 64 * 1024**3
    max_ratio: float = 100.0
    max_features_out: int = 250_000
    upload: Limits = field(default_factory=Limits)


# --- the area of interest -------------------------------------------------------------------


@dataclass(frozen=True)
class Aoi:
    """An area of interest in EPSG:4326: its polygon, its bounding box and how it was given."""

    geometry: BaseGeometry
    label: str

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees."""
        west, south, east, north = self.geometry.bounds
        return float(west), float(south), float(east), float(north)


def local_metric_crs(lon: float, lat: float, *, equal_area: bool = False) -> pyproj.CRS:
    """An azimuthal CRS centred on a point: equidistant (distances) or equal-area (areas).

    Distances from the centre are true in the equidistant one; areas are true in the
    Lambert equal-area one, so a circle drawn there has the area asked for.
    """
    proj = "laea" if equal_area else "aeqd"
    return pyproj.CRS.from_proj4(f"+proj={proj} +lat_0={lat:.8f} +lon_0={lon:.8f} "
                                 "+x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs")


def parse_aoi(text: str) -> Aoi:
    """``LON,LAT,RADIUS_KM`` (a circle) or ``WEST,SOUTH,EAST,NORTH`` (a box), WGS84 degrees.

    Raises
    ------
    DataReadError
        If the text is neither, or a value is out of range.
    """
    try:
        values = [float(part) for part in str(text).split(",")]
    except ValueError:
        values = []
    if len(values) == 3:
        lon, lat, radius = values
        if not (-180 <= lon <= 180 and -90 <= lat <= 90 and 0 < radius <= 5000):
            raise DataReadError(f"--aoi {text!r}: LON,LAT,RADIUS_KM needs -180 ≤ lon ≤ 180, "
                                "-90 ≤ lat ≤ 90 and 0 < radius ≤ 5000 km.")
        metric = local_metric_crs(lon, lat)
        circle = shapely.Point(0, 0).buffer(radius * 1000.0, quad_segs=32)
        geometry = gpd.GeoSeries([circle], crs=metric).to_crs("EPSG:4326").iloc[0]
        return Aoi(shapely.make_valid(geometry),
                   f"a circle of {radius:g} km around {lon:.4f}, {lat:.4f}")
    if len(values) == 4:
        west, south, east, north = values
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise DataReadError(f"--aoi {text!r}: WEST,SOUTH,EAST,NORTH needs west < east "
                                "and south < north, within ±180 / ±90 degrees.")
        return Aoi(shapely.box(west, south, east, north),
                   f"the box {west:g}, {south:g}, {east:g}, {north:g}")
    raise DataReadError(f"--aoi {text!r}: give LON,LAT,RADIUS_KM (e.g. 77.34,11.11,200) or "
                        "WEST,SOUTH,EAST,NORTH in WGS84 degrees.")


# --- the source -----------------------------------------------------------------------------


@dataclass
class DatasetSource:
    """A dataset file opened for reading: a private copy for GDAL, or bytes, or a table.

    ``how`` is ``"ogr"`` (``path`` is the private copy; ``layers`` lists its layers),
    ``"bytes"`` (``data`` holds a small file read as any upload) or ``"table"`` (a CSV
    read by pandas from ``path``, the user's file).
    """

    name: str
    how: str
    path: Path | None = None
    data: bytes | None = None
    layers: list[str] = field(default_factory=list)
    size: int = 0
    notes: list[str] = field(default_factory=list)

    def info(self, layer: str) -> dict[str, Any]:
        """The ``read_info`` (pyogrio) of a layer of the private copy (fields, CRS, count)."""
        try:
            return dict(pyogrio.read_info(self._ogr_target(), layer=layer))
        except _OGR_ERRORS as err:
            raise DataReadError(f"{self.name}: layer {layer!r} cannot be read ({err}).") from err

    def fields(self, layer: str | None = None) -> list[str]:
        """Field names of a layer (of the table, for a CSV)."""
        if self.how == "table":
            assert self.path is not None
            try:
                header = pd.read_csv(self.path, nrows=0, encoding_errors="replace")
            except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
                    OSError) as err:
                raise DataReadError(f"{self.name}: not a readable CSV table ({err}).") from err
            return [str(c) for c in header.columns]
        info = self.info(layer or self.layers[0])
        return [str(f) for f in info["fields"]]

    def read(self, layer: str, *, aoi: Aoi | None = None, columns: Sequence[str] | None = None,
             fids: np.ndarray | None = None, geometry: bool = True) -> pd.DataFrame:
        """Features of a layer (FIDs as the index), by area of interest or by FID.

        With ``aoi`` only features whose bounding box meets the area's are read (the
        caller keeps those that meet the area itself); with ``fids`` exactly those.
        Geometry comes back in the file's CRS.
        """
        kwargs: dict[str, Any] = {"layer": layer, "fid_as_index": True, "use_arrow": True,
                                  "read_geometry": geometry, "on_invalid": "warn"}
        if columns is not None:
            kwargs["columns"] = list(columns)
        if fids is not None:
            if len(fids) == 0:
                return pd.DataFrame()
            kwargs["fids"] = np.asarray(fids, dtype=np.int64)
        if aoi is not None:
            kwargs["bbox"] = self._bbox_in_file_crs(layer, aoi)
        try:
            return pyogrio.read_dataframe(self._ogr_target(), **kwargs)
        except _OGR_ERRORS as err:
            raise DataReadError(f"{self.name}: layer {layer!r} cannot be read ({err}). It may "
                                "be damaged or truncated; download it again.") from err

    def read_table(self, columns: Sequence[str]) -> pd.DataFrame:
        """The given columns of a CSV table (read by pandas, never by GDAL)."""
        assert self.path is not None
        try:
            return pd.read_csv(self.path, usecols=list(columns), low_memory=False,
                               encoding_errors="replace")
        except (pd.errors.ParserError, ValueError, UnicodeDecodeError, OSError) as err:
            raise DataReadError(f"{self.name}: the table cannot be read ({err}).") from err

    def _ogr_target(self) -> Path | io.BytesIO:
        if self.how == "bytes":
            assert self.data is not None
            return io.BytesIO(self.data)
        assert self.path is not None
        return self.path

    def _bbox_in_file_crs(self, layer: str, aoi: Aoi) -> tuple[float, float, float, float]:
        crs_text = self.info(layer).get("crs")
        if not crs_text:
            raise DataReadError(
                f"{self.name}: layer {layer!r} declares no CRS, so the area of interest "
                "cannot be placed in it. Published HydroSHEDS, WDPA and Aqueduct files are in "
                "WGS84 (EPSG:4326) and ship a .prj: include it.")
        crs = pyproj.CRS.from_user_input(crs_text)
        if crs.equals(pyproj.CRS.from_epsg(4326)):
            return aoi.bounds
        transformer = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        bounds = transformer.transform_bounds(*aoi.bounds, densify_pts=21)
        return tuple(float(v) for v in bounds)  # type: ignore[return-value]


@contextlib.contextmanager
def open_source(path_text: str | Path, *, limits: DatasetLimits | None = None
                ) -> Iterator[DatasetSource]:
    """Open a dataset file a user named, for reading: a context manager.

    GeoPackage, shapefile (``.shp`` with its siblings, or zipped), CSV tables, and any
    format small enough to be read from bytes (GeoJSON, OSM XML / PBF).  The private
    copy is deleted on exit.

    Raises
    ------
    UnsafeInputError, DataReadError
        For paths that are not plain files, refused formats, hostile zips, unreadable
        files; the message says what to do.
    """
    limits = limits or DatasetLimits()
    path = user_path(path_text)
    size = path.stat().st_size
    name = path.name
    if size == 0:
        raise DataReadError(f"{name} is empty (0 bytes); nothing to import.")
    if size > limits.max_file_bytes:
        raise UnsafeInputError(f"{name} is {size / 1e9:.1f} GB, over the limit of "
                               f"{limits.max_file_bytes / 1e9:.0f} GB.")
    with open(path, "rb") as handle:
        head = handle.read(64)
    suffix = path.suffix.lower()
    with tempfile.TemporaryDirectory(prefix="catchscope-dataset-") as folder:
        private = Path(folder)
        if head.startswith(b"SQLite format 3\x00"):
            copy = private / "data.gpkg"
            shutil.copyfile(path, copy)
            _check_sqlite(copy, name)
            yield _ogr_source(name, copy, size)
        elif head.startswith(_SHP_MAGIC) and suffix == ".shp":
            yield _ogr_source(name, _copy_shapefile(path, private), size)
        elif head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            yield _ogr_source(name, _extract_shapefiles(path, private, name, limits), size)
        elif suffix in (".csv", ".tsv") and b"\x00" not in head:
            yield DatasetSource(name, "table", path=path, size=size)
        else:
            if size > limits.upload.max_bytes:
                raise UnsafeInputError(
                    f"{name} is {size / 1e6:.0f} MB: files of this format are read whole, up "
                    f"to {limits.upload.max_bytes / 1e6:.0f} MB. Convert it to a GeoPackage "
                    "(ogr2ogr -f GPKG out.gpkg in) so it can be read by area of interest.")
            yield DatasetSource(name, "bytes", data=path.read_bytes(), size=size)


def _ogr_source(name: str, path: Path, size: int) -> DatasetSource:
    try:
        layers = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except _OGR_ERRORS as err:
        raise DataReadError(f"{name} cannot be opened: {err}. It may be damaged or "
                            "truncated; download it again.") from err
    if not layers:
        raise DataReadError(f"{name} holds no vector layers.")
    return DatasetSource(name, "ogr", path=path, layers=layers, size=size)


def _copy_shapefile(shp: Path, private: Path) -> Path:
    """Copy a shapefile's parts (same stem, any case of extension) as ``data.*``."""
    siblings = {p.suffix.lower(): p for p in shp.parent.iterdir()
                if p.stem == shp.stem and stat.S_ISREG(p.lstat().st_mode)}
    missing = [ext for ext in (".shx", ".dbf") if ext not in siblings]
    if missing:
        raise DataReadError(f"{shp.name} comes without {' and '.join(missing)} beside it; a "
                            "shapefile needs .shp, .shx and .dbf (and .prj for its CRS).")
    for ext in _SHAPEFILE_PARTS:
        if ext in siblings:
            shutil.copyfile(siblings[ext], private / f"data{ext}")
    return private / "data.shp"


def _extract_shapefiles(path: Path, private: Path, name: str, limits: DatasetLimits) -> Path:
    """Extract the shapefiles of a zip (checked first) into ``private``; one folder of them."""
    try:
        archive = zipfile.ZipFile(path)
        entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise DataReadError(f"{name} is not a readable zip archive ({err}).") from err
    with archive:
        if len(entries) > limits.max_zip_entries:
            raise UnsafeInputError(f"{name} holds {len(entries)} entries, over the limit of "
                                   f"{limits.max_zip_entries} (zip bomb guard).")
        total = 0
        stems: dict[str, dict[str, zipfile.ZipInfo]] = {}
        for info in entries:
            _check_member_name(info, name)
            if info.flag_bits & 0x1:
                raise DataReadError(f"{name}: {info.filename!r} is encrypted.")
            total += info.file_size
            if info.file_size > 1024**2 and info.file_size > limits.max_ratio * max(
                    info.compress_size, 1):
                raise UnsafeInputError(f"{name}: {info.filename!r} expands more than "
                                       f"{limits.max_ratio:.0f} times (zip bomb guard).")
            member = PurePosixPath(info.filename.replace("\\", "/"))
            if member.suffix.lower() in _SHAPEFILE_PARTS and "__MACOSX" not in member.parts:
                stems.setdefault(member.stem, {})[member.suffix.lower()] = info
        if total > limits.max_unzipped_bytes:
            raise UnsafeInputError(f"{name} would expand to {total / 1e9:.1f} GB, over the "
                                   f"limit of {limits.max_unzipped_bytes / 1e9:.0f} GB.")
        shapes = {stem: parts for stem, parts in stems.items()
                  if {".shp", ".shx", ".dbf"} <= set(parts)}
        if not shapes:
            inner = [i.filename for i in entries if i.filename.lower().endswith(".zip")]
            hint = (f" It holds zip files ({', '.join(inner[:3])}): unzip it and import "
                    "those." if inner else "")
            raise DataReadError(f"{name} holds no complete shapefile (.shp, .shx and .dbf)."
                                + hint)
        for k, (stem, parts) in enumerate(sorted(shapes.items())):
            base = _safe_stem(stem, k)
            for ext, info in parts.items():
                with archive.open(info) as source, open(private / f"{base}{ext}", "wb") as out:
                    shutil.copyfileobj(source, out, 1024**2)
                if (private / f"{base}{ext}").stat().st_size > info.file_size:
                    raise UnsafeInputError(f"{name}: {info.filename!r} is larger than declared.")
    return private


def _safe_stem(stem: str, k: int) -> str:
    """A layer name GDAL will list: the shapefile's own stem when it is plain, else one of ours."""
    plain = "".join(ch for ch in stem if ch.isalnum() or ch in "_-")
    return plain[:80] if plain and plain == stem else f"layer_{k + 1}"


# --- a first look, without GDAL ----------------------------------------------------------------


@dataclass(frozen=True)
class Peek:
    """The field names of a file's layers, read without GDAL, to tell a dataset cheaply.

    ``osm`` marks an OSM XML / PBF file; ``sample`` holds a few GeoJSON properties rows
    (for Overpass exports, told by their ``way/123`` ids).
    """

    fields: tuple[tuple[str, ...], ...] = ()
    osm: bool = False
    sample: pd.DataFrame | None = None


def peek(path_text: str | Path, *, limits: DatasetLimits | None = None) -> Peek | None:
    """Field names of a file's layers (DBF headers, GeoPackage tables, CSV header, GeoJSON).

    Nothing is copied, extracted or handed to GDAL: a file that is no public dataset goes
    on to the plain import untouched.  None when the file cannot be told this way.
    """
    limits = limits or DatasetLimits()
    try:
        path = user_path(path_text)
        with open(path, "rb") as handle:
            head = handle.read(4096)
        size = path.stat().st_size
        suffix = path.suffix.lower()
        if head.startswith(b"SQLite format 3\x00"):
            return Peek(_gpkg_fields(path))
        if head.startswith(_SHP_MAGIC) and suffix == ".shp":
            dbf = next((p for p in path.parent.iterdir() if p.stem == path.stem
                        and p.suffix.lower() == ".dbf"), None)
            return Peek((_dbf_fields(dbf.read_bytes()[:65536]),)) if dbf else None
        if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            return Peek(_zipped_dbf_fields(path, limits))
        if suffix in (".csv", ".tsv"):
            header = pd.read_csv(path, nrows=0, encoding_errors="replace")
            return Peek((tuple(str(c) for c in header.columns),))
        if size > limits.upload.max_bytes:
            return None
        data = path.read_bytes()
    except (OSError, ValueError, sqlite3.Error, zipfile.BadZipFile, struct.error,
            pd.errors.ParserError, pd.errors.EmptyDataError, DataReadError,
            UnsafeInputError):
        return None
    if _is_osm(data):
        return Peek(osm=True)
    return _geojson_fields(data)


def _is_osm(data: bytes) -> bool:
    """OSM XML (root ``<osm``, no DOCTYPE or entities) or PBF (a first blob "OSMHeader")."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") and re.search(rb"<osm[\s>]", head):
        return not re.search(rb"<!(?:DOCTYPE|ENTITY)", head, re.IGNORECASE)
    return b"OSMHeader" in data[4:24]


def _geojson_fields(data: bytes) -> Peek | None:
    if not data[:64].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return None
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        return None
    rows = []
    for feature in features[:200]:
        props = feature.get("properties") if isinstance(feature, dict) else None
        if isinstance(props, dict):
            row = dict(props)
            if "id" in feature and "id" not in row:
                row["id"] = feature["id"]
            rows.append(row)
    try:
        sample = pd.DataFrame(rows)
    except (UnicodeError, ValueError, TypeError):
        # Not a file any public dataset publishes (e.g. lone surrogates in its names): the
        # ordinary import reads it and says what is wrong.
        return None
    return Peek((tuple(str(c) for c in sample.columns),), sample=sample)


def _dbf_fields(header: bytes) -> tuple[str, ...]:
    """Field names from a dBASE header: 32-byte descriptors after the first 32 bytes."""
    length = struct.unpack("<H", header[8:10])[0]
    names = []
    for start in range(32, min(length, len(header)) - 1, 32):
        if header[start] == 0x0D:
            break
        names.append(header[start:start + 11].split(b"\x00")[0].decode("latin-1").strip())
    return tuple(names)


def _zipped_dbf_fields(path: Path, limits: DatasetLimits) -> tuple[tuple[str, ...], ...]:
    with zipfile.ZipFile(path) as archive:
        entries = archive.infolist()
        if len(entries) > limits.max_zip_entries:
            return ()
        out = []
        for info in entries:
            if info.filename.lower().endswith(".dbf") and not info.flag_bits & 0x1:
                with archive.open(info) as handle:
                    out.append(_dbf_fields(handle.read(65536)))
        return tuple(out)


def _gpkg_fields(path: Path) -> tuple[tuple[str, ...], ...]:
    """Columns of a GeoPackage's feature tables, read by SQLite (read-only, immutable)."""
    con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        con.execute("PRAGMA trusted_schema=OFF")
        tables = [row[0] for row in con.execute(
            "SELECT table_name FROM gpkg_contents WHERE data_type IN ('features', "
            "'attributes')").fetchall()]
        out = []
        for table in tables[:50]:
            quoted = '"' + str(table).replace('"', '""') + '"'
            out.append(tuple(str(row[1]) for row in con.execute(
                f"PRAGMA table_info({quoted})").fetchall()))
        return tuple(out)
    finally:
        con.close()
