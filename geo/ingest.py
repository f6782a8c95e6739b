"""Bring your own data: safe reading of uploaded files, from bytes.

Formats: GeoJSON, zipped Shapefile, GeoPackage (pick a layer), KML / KMZ, CSV / XLSX
with longitude/latitude columns, GPX.  The format is sniffed from the content (magic
bytes, XML root, JSON type), never trusted from the extension; a file whose content
contradicts its extension is refused.

Safety rules
------------
* User bytes reach GDAL only from memory (pyogrio reads ``bytes`` through ``/vsimem``)
  or, for GeoPackage, from a private copy in a fresh temporary folder; never a user path.
  A path typed on the command line is read by Python (:func:`read_user_file`) after
  refusing ``/vsi…``, URLs, GDAL connection strings and system folders.
* Formats that read other files or URLs are refused: VRT, GeoTIFF/rasters, KML with
  ``NetworkLink``, GeoJSON with a ``crs`` link, XML with a DOCTYPE/entities, SQLite
  virtual tables.
* Zip archives are checked *before* anything is extracted: entry count, total
  uncompressed size, compression ratio, and names (``..``, absolute, drive letters,
  symlinks); members are then read with their declared sizes as hard caps.
* Size, feature and vertex limits (:class:`Limits`), coordinate range check.
* A missing CRS, swapped axes or a GCJ-02/BD-09 offset is never resolved silently:
  :class:`ImportQuestion` (a :class:`~geo.errors.NeedsAnswerError`) names the option to
  pass (``crs``, ``swap_axes``, ``datum``, ``src_layer``, ``lon_col``/``lat_col``).
* Invalid geometries are repaired with ``shapely.make_valid`` (each repair reported) or
  rejected per feature with a reason; the rest imports.

Everything returned is in EPSG:4326, with the coordinates' original datum recorded.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import stat
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
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

from geo.catalogue import Datum
from geo.crs import WGS84, convert_datum, looks_swapped, parse_crs, suspect_datum_offset
from geo.errors import CRSError, DataReadError, NeedsAnswerError, UnsafeInputError

__all__ = [
    "LEGAL_NOTE_CHINA",
    "FeatureRepair",
    "ImportOptions",
    "ImportQuestion",
    "IngestResult",
    "Limits",
    "RejectedFeature",
    "SourceFormat",
    "ingest_bytes",
    "read_user_file",
    "sniff_format",
    "with_answers",
]

#: Shown once whenever GCJ-02 / BD-09 coordinates are converted.
LEGAL_NOTE_CHINA = (
    "Legal note: coordinates were converted from GCJ-02/BD-09 to WGS84 for analysis in "
    "this workspace. Publishing maps of China made from converted coordinates may be "
    "restricted by Chinese surveying and mapping law (maps for publication need review); "
    "check before you publish exports of these features."
)


@dataclass(frozen=True)
class Limits:
    """What an upload may hold; every refusal names the limit it hit."""

    max_bytes: int = 50 * 1024 * 1024
    max_zip_entries: int = 200
    max_unzipped_bytes: int = 250 * 1024 * 1024
    max_ratio: float = 100.0
    ratio_floor_bytes: int = 1024 * 1024  # small members may compress as well as they like
    max_features: int = 200_000
    max_vertices_per_feature: int = 250_000
    max_vertices_total: int = 2_000_000


@dataclass(frozen=True)
class ImportOptions:
    """The user's answers; ``None`` means "detect, and ask if in doubt"."""

    crs: str | None = None
    datum: Datum | None = None
    swap_axes: bool = False
    src_layer: str | None = None
    lon_col: str | None = None
    lat_col: str | None = None
    limits: Limits = field(default_factory=Limits)


class SourceFormat(StrEnum):
    """Formats an upload may be in (as sniffed from its content)."""

    GEOJSON = "GeoJSON"
    SHAPEFILE_ZIP = "zipped Shapefile"
    GPKG = "GeoPackage"
    KML = "KML"
    KMZ = "KMZ"
    CSV = "CSV"
    XLSX = "XLSX"
    GPX = "GPX"
    ZIP = "zip archive"


@dataclass(frozen=True)
class FeatureRepair:
    """An invalid geometry that ``make_valid`` repaired."""

    feature: str
    problem: str
    change: str


@dataclass(frozen=True)
class RejectedFeature:
    """A feature left out of the import, and why."""

    feature: str
    reason: str


@dataclass
class IngestResult:
    """What was read: features in EPSG:4326 plus everything the user should know."""

    filename: str
    format: SourceFormat
    frame: gpd.GeoDataFrame
    source_crs: str
    datum: Datum
    source_layers: list[str] = field(default_factory=list)
    source_layer: str | None = None
    repairs: list[FeatureRepair] = field(default_factory=list)
    rejected: list[RejectedFeature] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    legal_note: str | None = None


class ImportQuestion(NeedsAnswerError):
    """The import needs an answer; ``choices`` lists allowed answers, ``preview`` the data.

    ``preview`` holds the features as read (EPSG:4326 when the CRS is known, else None)
    so an app can show them while asking.
    """

    def __init__(self, message: str, *, questions: dict[str, str],
                 choices: dict[str, list[str]] | None = None,
                 preview: gpd.GeoDataFrame | None = None) -> None:
        self.choices = dict(choices or {})
        self.preview = preview
        super().__init__(message, questions=questions)


# --- paths typed by a user (CLI) ------------------------------------------------------------

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_SYSTEM_DIRS = ("/etc", "/proc", "/sys", "/dev", "/boot", "/run", "/var/run", "/var/lib")


def read_user_file(path_text: str | Path, *, limits: Limits | None = None) -> tuple[bytes, str]:
    """Read a file a user named on the command line, refusing anything but a plain file.

    Returns
    -------
    (bytes, str)
        The content and the file's base name.

    Raises
    ------
    UnsafeInputError
        For GDAL virtual paths (``/vsi…``), URLs and connection strings (``http://``,
        ``PG:``…), and files under system folders (``/etc``, ``/proc``, ``/dev``…).
    DataReadError
        If the file does not exist, is not a regular file, or is over the size limit.
    """
    limits = limits or Limits()
    text = str(path_text).strip()
    if text.startswith(("/vsi", "\\\\", "//")) or (_SCHEME.match(text) and not
                                                    re.match(r"^[A-Za-z]:[\\/]", text)):
        raise UnsafeInputError(
            f"{text!r} is not a plain file path (GDAL virtual path, URL or connection "
            "string); refusing to open it. Download the file first and give its path."
        )
    path = Path(text).expanduser().resolve()
    if any(path == Path(d) or path.is_relative_to(d) for d in _SYSTEM_DIRS):
        raise UnsafeInputError(
            f"{text!r} is a system file; refusing to read it. Give the path of your data file."
        )
    if not path.exists():
        raise DataReadError(f"{text}: no such file.")
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise DataReadError(f"{text}: not a regular file (a folder, device or pipe).")
    size = path.stat().st_size
    _check_size(size, path.name, limits)
    with open(path, "rb") as handle:
        data = handle.read(limits.max_bytes + 1)
    _check_size(len(data), path.name, limits)
    return data, path.name


def _check_size(size: int, name: str, limits: Limits) -> None:
    if size == 0:
        raise DataReadError(f"{name} is empty (0 bytes); nothing to import.")
    if size > limits.max_bytes:
        raise UnsafeInputError(
            f"{name} is {size / 1e6:.1f} MB, over the upload limit of "
            f"{limits.max_bytes / 1e6:.0f} MB. Split it or simplify the geometries."
        )


def _display_name(filename: str) -> str:
    base = re.split(r"[\\/]", filename or "upload")[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip()[:120]
    return base or "upload"


# --- sniffing -------------------------------------------------------------------------------

_EXTENSION_FORMATS: dict[str, tuple[SourceFormat, ...]] = {
    ".geojson": (SourceFormat.GEOJSON,),
    ".json": (SourceFormat.GEOJSON,),
    ".zip": (SourceFormat.ZIP,),
    ".kmz": (SourceFormat.ZIP,),
    ".xlsx": (SourceFormat.ZIP,),
    ".kml": (SourceFormat.KML,),
    ".gpkg": (SourceFormat.GPKG,),
    ".csv": (SourceFormat.CSV,),
    ".tsv": (SourceFormat.CSV,),
    ".txt": (SourceFormat.CSV,),
    ".gpx": (SourceFormat.GPX,),
}

_REFUSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"II*\x00", "a TIFF/GeoTIFF raster"),
    (b"MM\x00*", "a TIFF/GeoTIFF raster"),
    (b"II+\x00", "a BigTIFF raster"),
    (b"MM\x00+", "a BigTIFF raster"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or Office file; save it as .xlsx or .csv"),
    (b"\x1f\x8b", "a gzip archive; upload a .zip"),
    (b"7z\xbc\xaf", "a 7-Zip archive; upload a .zip"),
    (b"Rar!", "a RAR archive; upload a .zip"),
    (b"\x00\x00'\n", "a bare .shp file; zip it with its .shx, .dbf and .prj"),
    (b"\x89HDF", "an HDF5/NetCDF file"),
    (b"CDF\x01", "a NetCDF file"),
)


def _xml_root(data: bytes) -> str | None:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"<"):
        return None
    text = head.decode("utf-8", errors="replace")
    for match in re.finditer(r"<\s*([A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)", text):
        name = match.group(2)
        if not text[match.start():].startswith(("<?", "<!")):
            return name
    return "?"


def sniff_format(data: bytes, filename: str = "") -> SourceFormat:
    """Tell an upload's format from its content, cross-checked with its extension.

    Raises
    ------
    UnsafeInputError
        For formats that read other files or URLs (VRT, rasters) or that we refuse.
    DataReadError
        For content we cannot read, or content that contradicts the extension.
    """
    name = _display_name(filename)
    sniffed = _sniff_content(data, name)
    expected = _EXTENSION_FORMATS.get(PurePosixPath(name).suffix.lower())
    if expected and sniffed not in expected:
        claimed = expected[0].value
        raise DataReadError(
            f"{name} is not {claimed}: its content is {sniffed.value}. Rename it with the "
            "right extension if that is what it is, or export it again."
        )
    return sniffed


def _sniff_content(data: bytes, name: str) -> SourceFormat:
    if not data:
        raise DataReadError(f"{name} is empty (0 bytes); nothing to import.")
    for magic, what in _REFUSED_MAGIC:
        if data.startswith(magic):
            if "TIFF" in what:
                raise UnsafeInputError(
                    f"{name} is {what}. Rasters are not imported as features (a TIFF can "
                    "also point GDAL at other files); add rasters as layer files instead."
                )
            raise DataReadError(f"{name} is {what}, not a vector data file we import.")
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return SourceFormat.ZIP
    if data.startswith(b"SQLite format 3\x00"):
        return SourceFormat.GPKG
    root = _xml_root(data)
    if root is not None:
        lowered = root.lower()
        if lowered in ("ogrvrtdatasource", "vrtdataset", "gdal_wms", "wms_capabilities"):
            raise UnsafeInputError(
                f"{name} is a GDAL VRT/WMS description, which makes GDAL read other files "
                "or URLs; refusing it. Upload the data itself."
            )
        if lowered == "kml":
            return SourceFormat.KML
        if lowered == "gpx":
            return SourceFormat.GPX
        raise DataReadError(
            f"{name} is XML with root <{root}>, not KML or GPX. Export it as GeoJSON, "
            "GeoPackage, KML or a zipped Shapefile."
        )
    stripped = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith((b"{", b"[")):
        return SourceFormat.GEOJSON
    if b"\x00" in data[:8192]:
        raise DataReadError(f"{name} is a binary file of a kind we do not read.")
    return SourceFormat.CSV


# --- zip archives ---------------------------------------------------------------------------


def _open_zip(data: bytes, name: str, limits: Limits) -> zipfile.ZipFile:
    """Open a zip and refuse it *before extracting anything* if it looks hostile."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as err:
        raise DataReadError(f"{name} is not a readable zip archive ({err}); it may be "
                            "truncated. Zip the files again.") from err
    if len(entries) > limits.max_zip_entries:
        raise UnsafeInputError(
            f"{name} holds {len(entries)} entries, over the limit of "
            f"{limits.max_zip_entries}; refusing to open it (zip bomb guard)."
        )
    total = 0
    for info in entries:
        _check_member_name(info, name)
        if info.flag_bits & 0x1:
            raise DataReadError(f"{name}: {info.filename!r} is encrypted; upload it unencrypted.")
        total += info.file_size
        if (info.file_size > limits.ratio_floor_bytes
                and info.file_size > limits.max_ratio * max(info.compress_size, 1)):
            ratio = info.file_size / max(info.compress_size, 1)
            raise UnsafeInputError(
                f"{name}: {info.filename!r} expands {ratio:.0f} times (limit "
                f"{limits.max_ratio:.0f}); refusing it (zip bomb guard)."
            )
    if total > limits.max_unzipped_bytes:
        raise UnsafeInputError(
            f"{name} would expand to {total / 1e6:.0f} MB, over the limit of "
            f"{limits.max_unzipped_bytes / 1e6:.0f} MB; refusing it (zip bomb guard)."
        )
    if total > limits.ratio_floor_bytes and total > limits.max_ratio * len(data):
        raise UnsafeInputError(
            f"{name} expands {total / len(data):.0f} times (limit {limits.max_ratio:.0f}); "
            "refusing it (zip bomb guard)."
        )
    return archive


def _check_member_name(info: zipfile.ZipInfo, name: str) -> None:
    member = info.filename
    parts = re.split(r"[\\/]", member)
    if (member.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", member)
            or ".." in parts or "\x00" in member):
        raise UnsafeInputError(
            f"{name}: entry {member!r} points outside the archive (absolute path, drive "
            "letter or '..'); refusing it (zip-slip guard)."
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UnsafeInputError(f"{name}: entry {member!r} is a symbolic link; refusing it.")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    try:
        with archive.open(info) as handle:
            payload = handle.read(info.file_size + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise DataReadError(f"{name}: entry {info.filename!r} cannot be read ({err}).") from err
    if len(payload) > info.file_size:
        raise UnsafeInputError(f"{name}: entry {info.filename!r} is larger than declared.")
    return payload


def _files(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [i for i in archive.infolist() if not i.is_dir()
            and not PurePosixPath(i.filename).name.startswith(".")
            and "__MACOSX" not in i.filename]


def _classify_zip(archive: zipfile.ZipFile, name: str) -> SourceFormat:
    names = [i.filename.replace("\\", "/") for i in _files(archive)]
    lowered = [n.lower() for n in names]
    if "xl/workbook.xml" in lowered:
        return SourceFormat.XLSX
    if any(n.endswith(".shp") for n in lowered):
        return SourceFormat.SHAPEFILE_ZIP
    if any(n.endswith(".kml") for n in lowered):
        return SourceFormat.KMZ
    if any(n.endswith((".dbf", ".shx")) for n in lowered):
        raise DataReadError(
            f"{name} has shapefile parts but no .shp file. A shapefile needs .shp, .shx and "
            ".dbf (and .prj for its CRS); zip all of them together."
        )
    listing = ", ".join(names[:8]) or "nothing"
    raise DataReadError(
        f"{name} holds no shapefile, KML or spreadsheet (it contains: {listing}). "
        "Zip a shapefile's .shp, .shx, .dbf and .prj, or upload the file itself."
    )


# --- readers: each returns the features as read, in the file's own CRS ----------------------


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
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise DataReadError(f"{name} is not UTF-8 text, so not GeoJSON ({err}).") from err
    except json.JSONDecodeError as err:
        raise DataReadError(
            f"{name} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
            "the file may be truncated or malformed. Export it again."
        ) from err
    except RecursionError as err:
        raise DataReadError(f"{name} is nested too deeply to be GeoJSON.") from err
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
        if "fid" not in props and isinstance(feature.get("id"), str | int):
            props["fid"] = str(feature["id"])
        geometry = feature.get("geometry")
        if geometry is None:
            rejected.append(RejectedFeature(_label(number, props), "no geometry (null)"))
            continue
        try:
            geom = _geojson_geometry(geometry, options.limits)
        except _BadGeometry as err:
            rejected.append(RejectedFeature(_label(number, props), str(err)))
            continue
        rows.append(props)
        geoms.append(geom)
        numbers.append(number - 1)
    frame = gpd.GeoDataFrame(pd.DataFrame(rows, index=numbers), geometry=geoms, crs=crs)
    return _Read(frame, crs_text, implied, rejected=rejected)


_GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                   "MultiPolygon", "GeometryCollection")


class _BadGeometry(ValueError):
    pass


def _count_positions(coords: Any, depth: int = 0) -> int:
    if depth > 6:
        raise _BadGeometry("coordinates nested too deeply")
    if isinstance(coords, list) and coords and isinstance(coords[0], int | float):
        return 1
    if not isinstance(coords, list):
        raise _BadGeometry("coordinates are not arrays of numbers")
    return sum(_count_positions(c, depth + 1) for c in coords)


def _geojson_geometry(geometry: Any, limits: Limits) -> Any:
    if not isinstance(geometry, dict) or geometry.get("type") not in _GEOMETRY_TYPES:
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        raise _BadGeometry(f"unknown geometry type {str(kind)[:40]!r}")
    if geometry["type"] != "GeometryCollection":
        count = _count_positions(geometry.get("coordinates"))
        if count > limits.max_vertices_per_feature:
            raise _BadGeometry(f"{count:,} vertices, over the limit of "
                               f"{limits.max_vertices_per_feature:,} per feature; simplify it")
    try:
        return shape(geometry)
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
    crs = parse_crs(value, where=name)
    return f"{crs.to_string()} (GeoJSON crs member)", False, crs


def _label(number: int, props: dict[str, Any] | pd.Series) -> str:
    for key in ("fid", "name", "Name", "NAME", "id"):
        value = props.get(key) if hasattr(props, "get") else None
        if value is not None and not (isinstance(value, float) and np.isnan(value)):
            return f"feature {number} ({key} {str(value)[:40]!r})"
    return f"feature {number}"


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
        for column in attributes.columns:
            converted = pd.to_numeric(attributes[column], errors="coerce")
            filled = attributes[column].astype(str).str.strip() != ""
            if filled.any() and converted[filled].notna().all():
                attributes[column] = converted
            else:
                attributes[column] = attributes[column].replace("", None)
    geometry = gpd.points_from_xy(lon, lat)
    if options.crs:
        crs_text, implied, crs = options.crs, False, None
    else:
        crs_text = f"EPSG:4326 lon/lat, from the column names {lon_col!r}/{lat_col!r}"
        implied, crs = True, WGS84
    frame = gpd.GeoDataFrame(attributes.reset_index(drop=True), geometry=geometry, crs=crs)
    return _Read(frame, crs_text, implied)


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


# --- the pipeline ---------------------------------------------------------------------------


def ingest_bytes(
    data: bytes,
    filename: str,
    options: ImportOptions | None = None,
    *,
    reference: gpd.GeoSeries | Callable[[gpd.GeoDataFrame], gpd.GeoSeries] | None = None,
) -> IngestResult:
    """Read an uploaded file from bytes into checked, repaired WGS84 features.

    Parameters
    ----------
    data : bytes
        The file's content (never a path).
    filename : str
        The name the user gave it; only its extension and base name are used.
    options : ImportOptions, optional
        Answers to questions (CRS, datum, axis order, layer, columns) and limits.
    reference : GeoSeries or callable, optional
        Trusted WGS84 features of the workspace near the data (site parcels, rivers...)
        against which GCJ-02/BD-09 offsets are detected; or a function of the features
        read that returns them (called only when the datum is not given).

    Returns
    -------
    IngestResult
        Features in EPSG:4326 with their original attributes, plus repairs, rejected
        features and notes.

    Raises
    ------
    ImportQuestion
        When a CRS, datum, axis order, layer or column must be chosen by the user.
    UnsafeInputError, DataReadError, CRSError
        For refused or unreadable input (the message says what and what to do).
    """
    options = options or ImportOptions()
    name = _display_name(filename)
    _check_size(len(data), name, options.limits)
    source_format = sniff_format(data, name)
    read, source_format = _read_any(data, name, source_format, options)
    frame = _assign_crs(read, name, options)
    frame, notes = _fix_axes(frame, name, options, read)
    _check_ranges(frame, name, options)
    frame = frame.to_crs(WGS84) if not frame.crs.equals(WGS84) else frame
    _check_finite(frame, name)
    frame, rejected, repairs = _check_geometries(frame, name, options.limits)
    rejected = read.rejected + rejected
    if frame.empty:
        reasons = "; ".join(f"{r.feature}: {r.reason}" for r in rejected[:5]) or "no features"
        raise DataReadError(f"{name}: nothing can be imported ({reasons}).")
    frame, datum, legal = _resolve_datum(frame, name, options, reference)
    if datum in (Datum.GCJ02, Datum.BD09):
        notes.append(f"Converted {len(frame)} features from {datum.value.upper()} to WGS84.")
    return IngestResult(
        filename=name, format=source_format, frame=frame,
        source_crs=read.crs_text, datum=datum, source_layers=read.layers,
        source_layer=read.layer, repairs=repairs, rejected=rejected,
        notes=[*read.notes, *notes], legal_note=legal,
    )


def _read_any(data: bytes, name: str, source_format: SourceFormat,
              options: ImportOptions) -> tuple[_Read, SourceFormat]:
    if source_format is SourceFormat.ZIP:
        archive = _open_zip(data, name, options.limits)
        inner = _classify_zip(archive, name)
        suffix = PurePosixPath(name).suffix.lower()
        expected = {".kmz": SourceFormat.KMZ, ".xlsx": SourceFormat.XLSX}.get(suffix)
        if expected is not None and inner is not expected:
            raise DataReadError(f"{name} is not {expected.value}: the archive holds a "
                                f"{inner.value}. Rename it if that is what it is.")
        if inner is SourceFormat.XLSX:
            return _read_xlsx(archive, data, name, options), inner
        if inner is SourceFormat.KMZ:
            return _read_kmz(archive, name, options), inner
        return _read_shapefile_zip(archive, name, options), inner
    readers = {
        SourceFormat.GEOJSON: _read_geojson,
        SourceFormat.KML: _read_kml,
        SourceFormat.GPX: _read_gpx,
        SourceFormat.GPKG: _read_gpkg,
        SourceFormat.CSV: _read_csv,
    }
    return readers[source_format](data, name, options), source_format


def _assign_crs(read: _Read, name: str, options: ImportOptions) -> gpd.GeoDataFrame:
    frame = read.frame
    if options.crs:
        wanted = parse_crs(options.crs, where="--crs")
        if frame.crs is None or read.crs_implied:
            read.crs_text = f"{wanted.to_string()} (given with --crs)"
            return frame.set_crs(wanted, allow_override=True)
        if not frame.crs.equals(wanted):
            raise CRSError(
                f"{name} declares its CRS as {frame.crs.to_string()}, but --crs says "
                f"{wanted.to_string()}. The file's own CRS is used; drop --crs (a CRS is "
                "never re-labelled, only transformed)."
            )
    if frame.crs is None:
        preview = None
        raise ImportQuestion(
            f"{name} does not say which coordinate reference system its coordinates are in "
            f"({read.crs_text}). Pass --crs EPSG:… (e.g. EPSG:4326 for lon/lat degrees, "
            "EPSG:4490 for CGCS2000, EPSG:32651 for UTM 51N).",
            questions={"crs": "Which CRS are the coordinates in (e.g. EPSG:4326)?"},
            preview=preview,
        )
    return frame


def _fix_axes(frame: gpd.GeoDataFrame, name: str, options: ImportOptions,
              read: _Read) -> tuple[gpd.GeoDataFrame, list[str]]:
    notes: list[str] = []
    if not frame.crs.is_geographic:
        if options.swap_axes:
            raise CRSError(f"{name}: --swap-axes applies to lon/lat degrees; the data is in "
                           f"{frame.crs.to_string()}, whose axes GDAL already orders.")
        return frame, notes
    if options.swap_axes:
        swapped = frame.set_geometry(shapely.transform(
            np.asarray(frame.geometry.values), lambda xy: xy[:, ::-1]))
        notes.append("Swapped the coordinate axes (latitude/longitude → longitude/latitude).")
        return swapped, notes
    if looks_swapped(frame):
        minx, miny, maxx, maxy = frame.total_bounds
        raise ImportQuestion(
            f"{name}: the coordinates look like latitude/longitude in the wrong order "
            f"(x {minx:.4f}…{maxx:.4f}, y {miny:.4f}…{maxy:.4f}). Pass --swap-axes to swap "
            "them.",
            questions={"swap_axes": "Swap latitude and longitude?"},
            choices={"swap_axes": ["yes", "no"]},
        )
    del read
    return frame, notes


def _check_ranges(frame: gpd.GeoDataFrame, name: str, options: ImportOptions) -> None:
    if not frame.crs.is_geographic:
        return
    coords = shapely.get_coordinates(np.asarray(frame.geometry.values))
    if coords.size == 0:
        return
    bad_x = np.abs(coords[:, 0]) > 180
    bad_y = np.abs(coords[:, 1]) > 90
    if bad_x.any() or bad_y.any():
        x, y = coords[np.flatnonzero(bad_x | bad_y)[0]]
        hint = ("They look projected (metres): pass --crs with the projected CRS, e.g. "
                "EPSG:32651." if max(abs(x), abs(y)) > 1000 else "Check the columns/values.")
        where = "given with --crs" if options.crs else "as declared"
        raise DataReadError(
            f"{name}: coordinates out of range for longitude/latitude degrees ({where}): "
            f"found x={x:g}, y={y:g}; longitude must lie within ±180 and latitude within "
            f"±90. {hint}"
        )


def _check_finite(frame: gpd.GeoDataFrame, name: str) -> None:
    coords = shapely.get_coordinates(np.asarray(frame.geometry.values))
    if coords.size and not np.isfinite(coords).all():
        raise DataReadError(f"{name}: some coordinates cannot be transformed to WGS84 (NaN or "
                            "infinite); check the CRS (--crs).")
    if coords.size and ((np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any()):
        raise DataReadError(f"{name}: after transformation some coordinates fall outside "
                            "±180/±90; the CRS is probably wrong (--crs).")


_DIMENSION = {"Point": 0, "MultiPoint": 0, "LineString": 1, "MultiLineString": 1,
              "LinearRing": 1, "Polygon": 2, "MultiPolygon": 2}


def _check_geometries(frame: gpd.GeoDataFrame, name: str, limits: Limits
                      ) -> tuple[gpd.GeoDataFrame, list[RejectedFeature], list[FeatureRepair]]:
    geoms = np.asarray(frame.geometry.values, dtype=object)
    counts = np.array([0 if g is None else shapely.get_num_coordinates(g) for g in geoms])
    if counts.sum() > limits.max_vertices_total:
        raise UnsafeInputError(f"{name} holds {int(counts.sum()):,} vertices, over the limit "
                               f"of {limits.max_vertices_total:,}; simplify it first.")
    keep: list[int] = []
    fixed: list[Any] = []
    rejected: list[RejectedFeature] = []
    repairs: list[FeatureRepair] = []
    for i, geom in enumerate(geoms):
        label = _label(int(frame.index[i]) + 1, frame.iloc[i])
        reason, repaired, repair = _check_one(geom, int(counts[i]), limits)
        if reason:
            rejected.append(RejectedFeature(label, reason))
            continue
        if repair:
            repairs.append(FeatureRepair(label, *repair))
        keep.append(i)
        fixed.append(repaired)
    out = frame.iloc[keep].copy()
    out = out.set_geometry(gpd.GeoSeries(fixed, index=out.index, crs=frame.crs))
    return out, rejected, repairs


def _check_one(geom: Any, count: int, limits: Limits
               ) -> tuple[str | None, Any, tuple[str, str] | None]:
    if geom is None:
        return "no geometry (null)", None, None
    if geom.is_empty:
        return "empty geometry", None, None
    if count > limits.max_vertices_per_feature:
        return (f"{count:,} vertices, over the limit of {limits.max_vertices_per_feature:,} "
                "per feature; simplify it"), None, None
    if geom.geom_type == "GeometryCollection":
        return "a GeometryCollection; split it into points, lines or polygons", None, None
    if shapely.has_z(geom):
        geom = shapely.force_2d(geom)
    if geom.is_valid:
        return None, geom, None
    problem = shapely.is_valid_reason(geom)
    repaired = shapely.make_valid(geom)
    want = _DIMENSION.get(geom.geom_type)
    if repaired.geom_type == "GeometryCollection":
        parts = [p for p in shapely.get_parts(repaired) if _DIMENSION.get(p.geom_type) == want]
        repaired = shapely.union_all(parts) if parts else shapely.Point()
    if repaired.is_empty or _DIMENSION.get(repaired.geom_type) != want:
        return (f"invalid geometry ({problem}) that collapses to "
                f"{'nothing' if repaired.is_empty else repaired.geom_type} when repaired"), \
            None, None
    change = f"{geom.geom_type} → {repaired.geom_type}"
    if want == 2:
        change += f", area {geom.area:.3g} → {repaired.area:.3g} sq. degrees"
    elif want == 1:
        change += f", length {geom.length:.3g} → {repaired.length:.3g} degrees"
    return None, repaired, (problem, f"repaired with make_valid: {change}")


def _resolve_datum(frame: gpd.GeoDataFrame, name: str, options: ImportOptions,
                   reference: gpd.GeoSeries | Callable[[gpd.GeoDataFrame], gpd.GeoSeries] | None
                   ) -> tuple[gpd.GeoDataFrame, Datum, str | None]:
    if options.datum is not None:
        datum = Datum(options.datum)
        if datum is Datum.UNKNOWN:
            raise CRSError("--datum must be wgs84, cgcs2000, gcj02 or bd09, not unknown.")
        if datum in (Datum.GCJ02, Datum.BD09):
            converted = convert_datum(frame, datum, Datum.WGS84)
            return converted, datum, LEGAL_NOTE_CHINA  # type: ignore[return-value]
        return frame, datum, None
    if callable(reference):
        reference = reference(frame)
    if reference is not None and not reference.empty:
        suspicion = suspect_datum_offset(frame, reference)
        if suspicion is not None:
            label = {"gcj02": "GCJ-02 (Amap/Gaode, Tencent)", "bd09": "BD-09 (Baidu)"}[
                suspicion.datum.value]
            raise ImportQuestion(
                f"{name}: the features sit a median {suspicion.distance_as_declared_m:.0f} m "
                f"from the workspace's own features, but "
                f"{suspicion.distance_if_converted_m:.0f} m after converting from "
                f"{label}: they look copied from a Chinese web map. Pass --datum "
                f"{suspicion.datum.value} to convert them to WGS84, or --datum wgs84 to keep "
                "them as they are.",
                questions={"datum": "Which datum were the coordinates taken in?"},
                choices={"datum": [suspicion.datum.value, "wgs84", "gcj02", "bd09"]},
                preview=frame,
            )
    return frame, Datum.WGS84, None


def with_answers(options: ImportOptions, **answers: Any) -> ImportOptions:
    """A copy of ``options`` with some answers filled in (for apps asking step by step)."""
    return replace(options, **answers)
