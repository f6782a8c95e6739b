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
  :class:`ImportQuestion` (a :class:`~geo.core.errors.NeedsAnswerError`) names the option to
  pass (``crs``, ``swap_axes``, ``datum``, ``src_layer``, ``lon_col``/``lat_col``).
* Invalid geometries are repaired with ``shapely.make_valid`` (each repair reported) or
  rejected per feature with a reason; the rest imports.

Everything returned is in EPSG:4326, with the coordinates' original datum recorded.

The code is split by concern: :mod:`geo.ingest.model` (options, limits, results,
questions), :mod:`geo.ingest.sniff` (paths, sizes, format sniffing, zip guards) and
:mod:`geo.ingest.readers` (one reader per format); this module is the pipeline and
re-exports their public names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.core.catalogue import Datum
from geo.core.crs import WGS84, convert_datum, looks_swapped, parse_crs, suspect_datum_offset
from geo.core.errors import CRSError, DataReadError, UnsafeInputError
from geo.ingest.model import (
    LEGAL_NOTE_CHINA,
    FeatureRepair,
    ImportOptions,
    ImportQuestion,
    IngestResult,
    Limits,
    RejectedFeature,
    SourceFormat,
)
from geo.ingest.readers import (
    _label,
    _Read,
    _read_csv,
    _read_geojson,
    _read_gpkg,
    _read_gpx,
    _read_kml,
    _read_kmz,
    _read_shapefile_zip,
    _read_xlsx,
    check_crs_text,
)
from geo.ingest.sniff import (
    _check_size,
    _classify_zip,
    _display_name,
    _open_zip,
    read_user_file,
    sniff_format,
)
from geo.ingest.values import clean_attributes

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
    _clean_read(read, name, options.limits)
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


def _clean_read(read: _Read, name: str, limits: Limits) -> None:
    """Make names and values storable; leave out features with non-finite coordinates.

    Field names and values as :mod:`geo.ingest.values` says, before any question is asked
    about the data (so a preview shows what would be saved).
    """
    frame = read.frame
    raw = pd.DataFrame(frame.drop(columns=frame.geometry.name))

    def label(row: int) -> str:
        index = frame.index[row]
        number = int(index) + 1 if isinstance(index, int | np.integer) else row + 1
        return _label(number, raw.iloc[row])

    table, notes = clean_attributes(raw, name, limits, label)
    read.notes.extend(notes)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    finite = np.ones(len(geoms), dtype=bool)
    finite[np.unique(owner[~np.isfinite(coords).all(axis=1)])] = False
    for row in np.flatnonzero(~finite):
        read.rejected.append(RejectedFeature(label(int(row)),
                                             "coordinates hold NaN or infinite values"))
    flattened = int((shapely.has_z(geoms) | shapely.has_m(geoms)).sum())
    if flattened:
        read.notes.append(f"{flattened} features have heights or measures (Z/M); layers are "
                          "2D, so they are dropped.")
    read.frame = gpd.GeoDataFrame(table[finite], geometry=gpd.GeoSeries(
        geoms[finite], index=frame.index[finite]), crs=frame.crs)


def _assign_crs(read: _Read, name: str, options: ImportOptions) -> gpd.GeoDataFrame:
    frame = read.frame
    if options.crs:
        check_crs_text(options.crs, "--crs")  # typed in the app by anyone who may import
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
    if shapely.has_z(geom) or shapely.has_m(geom):
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
            return converted, datum, LEGAL_NOTE_CHINA
        return frame, datum, None
    trusted = reference(frame) if callable(reference) else reference
    if trusted is not None and not trusted.empty:
        suspicion = suspect_datum_offset(frame, trusted)
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
