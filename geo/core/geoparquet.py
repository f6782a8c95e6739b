"""Layers at scale as GeoParquet: Hilbert-sorted, with bbox columns, read by row group.

A layer of a million catchment units or protected areas is a GeoParquet file (or a folder
of them, one per spatial partition, for dask) that :func:`write_geoparquet` writes
Hilbert-sorted (neighbours on the ground are neighbours in the file) in row groups, with
GeoParquet 1.1 covering columns (``bbox.xmin`` … ``bbox.ymax``), so every row group's
extent is in the file's statistics.  Readers then take only what they need:

* :func:`read_geoparquet` — the whole layer, or the rows meeting one bbox;
* :func:`read_geoparquet_near` — the rows whose bbox comes within a distance of any of
  many geometries (every site's parcels, every chain feature): row groups whose extent
  meets none are skipped unread, and of the others only the bbox columns are read before
  the geometries of the matching rows are decoded;
* :func:`read_geoparquet_columns` — attribute columns of every row, no geometry (e.g.
  the ``next_down`` links of every unit, for walks over the whole network).

Rows come back in file order, and from :func:`read_geoparquet_near` with their positions
in the layer, so a subset lines up with the columns read for all rows.  Geometry is WKB
(the GeoParquet default); the CRS is the file's (PROJJSON in the ``geo`` metadata;
OGC:CRS84 when absent).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyproj
import shapely

from geo.core.errors import DataReadError, DataWriteError

__all__ = [
    "DEFAULT_ROW_GROUP_SIZE",
    "PARQUET_SUFFIXES",
    "ParquetLayer",
    "Reach",
    "is_parquet_path",
    "open_parquet_layer",
    "read_geoparquet",
    "read_geoparquet_columns",
    "read_geoparquet_near",
    "write_geoparquet",
]

#: File (or folder) suffixes read as GeoParquet.
PARQUET_SUFFIXES = (".parquet", ".geoparquet")
#: Rows per row group: small enough that a bbox read skips most of a continent's file,
#: large enough that the file's metadata stays small (20 row groups per million rows).
DEFAULT_ROW_GROUP_SIZE = 50_000
_BBOX = ("xmin", "ymin", "xmax", "ymax")


def is_parquet_path(path: Path) -> bool:
    """Whether a layer source is GeoParquet (by its suffix: a file or a folder of parts)."""
    return path.suffix.lower() in PARQUET_SUFFIXES


@dataclass(frozen=True)
class _Part:
    """One file of a layer: its row groups' extents and where its rows start."""

    path: Path
    offset: int
    rows: tuple[int, ...]
    extents: np.ndarray  # (row groups, 4): xmin, ymin, xmax, ymax; NaN when unknown


@dataclass(frozen=True)
class ParquetLayer:
    """A GeoParquet layer opened for reading: its parts, columns, CRS and covering."""

    path: Path
    parts: tuple[_Part, ...]
    geometry: str
    crs: pyproj.CRS
    covering: tuple[str, ...] | None  # struct column and field names, or None
    columns: tuple[str, ...]
    schema: pa.Schema

    @property
    def num_rows(self) -> int:
        """Rows of the whole layer."""
        return sum(sum(p.rows) for p in self.parts)

    def extents(self) -> np.ndarray:
        """Every row group's extent (rows, 4), in the file's CRS."""
        return np.vstack([p.extents for p in self.parts]) if self.parts else np.empty((0, 4))


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir()
                       if p.suffix.lower() in PARQUET_SUFFIXES and p.is_file())
        if not files:
            raise DataReadError(f"{path.name}: a folder with no .parquet file in it.")
        return files
    if not path.is_file():
        raise DataReadError(f"Data file {path} does not exist.")
    return [path]


def _geo_metadata(schema: pa.Schema, where: str) -> dict[str, Any]:
    raw = (schema.metadata or {}).get(b"geo")
    if raw is None:
        raise DataReadError(f"{where}: a Parquet file without GeoParquet metadata (no 'geo' "
                            "key); write it with geopandas to_parquet or catchscope.")
    try:
        meta: dict[str, Any] = json.loads(raw)
    except ValueError as err:
        raise DataReadError(f"{where}: its GeoParquet metadata is not JSON ({err}).") from err
    return meta


def _statistic(row_group: Any, column: int, which: str) -> float:
    stats = row_group.column(column).statistics
    if stats is None or not stats.has_min_max:
        return float("nan")
    return float(stats.min if which == "min" else stats.max)


def open_parquet_layer(path: Path) -> ParquetLayer:
    """Open a GeoParquet file or folder: parts, row-group extents, geometry column, CRS.

    Raises
    ------
    DataReadError
        If it is missing, not Parquet, has no GeoParquet metadata, or its parts disagree
        on columns.
    """
    path = Path(path)
    files = _files(path)
    parts: list[_Part] = []
    schema: pa.Schema | None = None
    offset = 0
    meta: dict[str, Any] = {}
    for file in files:
        try:
            handle = pq.ParquetFile(file)
        except (pa.ArrowException, OSError) as err:
            raise DataReadError(f"{file.name}: cannot be read as Parquet ({err}).") from err
        if schema is None:
            schema = handle.schema_arrow
            meta = _geo_metadata(schema, file.name)
        elif handle.schema_arrow.names != schema.names:
            raise DataReadError(f"{path.name}: part {file.name} has other columns than "
                                f"{files[0].name}; every part of a layer has the same columns.")
        md = handle.metadata
        covering = _covering(meta)
        index = {md.schema.column(j).path: j for j in range(md.num_columns)}
        extents = np.full((md.num_row_groups, 4), np.nan)
        if covering is not None:
            found = [index.get(f"{covering[0]}.{f}") for f in covering[1:]]
            slots = [s for s in found if s is not None]
            for g in range(md.num_row_groups if len(slots) == 4 else 0):
                rg = md.row_group(g)
                extents[g] = [_statistic(rg, slots[0], "min"), _statistic(rg, slots[1], "min"),
                              _statistic(rg, slots[2], "max"), _statistic(rg, slots[3], "max")]
        rows = tuple(md.row_group(g).num_rows for g in range(md.num_row_groups))
        parts.append(_Part(file, offset, rows, extents))
        offset += sum(rows)
    assert schema is not None
    geometry = str(meta.get("primary_column", "geometry"))
    column_meta = meta.get("columns", {}).get(geometry, {})
    encoding = str(column_meta.get("encoding", "WKB")).upper()
    if encoding != "WKB":
        raise DataReadError(f"{path.name}: geometry encoded as {encoding}; catchscope reads "
                            "WKB GeoParquet (geopandas' and GDAL's default).")
    crs_value = column_meta.get("crs", "OGC:CRS84")
    try:
        crs = _crs(json.dumps(crs_value, sort_keys=True) if isinstance(crs_value, dict)
                   else str(crs_value or "OGC:CRS84"))
    except pyproj.exceptions.CRSError as err:
        raise DataReadError(f"{path.name}: its CRS cannot be read ({err}).") from err
    covering = _covering(meta)
    hidden = {geometry, *(covering[:1] if covering else ())}
    columns = tuple(n for n in schema.names if n not in hidden and not n.startswith("__"))
    return ParquetLayer(path, tuple(parts), geometry, crs, covering, columns, schema)


@functools.lru_cache(maxsize=64)
def _crs(text: str) -> pyproj.CRS:
    """A CRS from its PROJJSON or name, parsed once per process (PROJ takes ~30 ms)."""
    return pyproj.CRS.from_user_input(text)


def _covering(meta: dict[str, Any]) -> tuple[str, ...] | None:
    """``(struct column, xmin, ymin, xmax, ymax field names)`` of the bbox covering."""
    geometry = str(meta.get("primary_column", "geometry"))
    bbox = meta.get("columns", {}).get(geometry, {}).get("covering", {}).get("bbox")
    if not bbox:
        return None
    paths = [bbox.get(k) for k in _BBOX]
    if not all(isinstance(p, list) and len(p) == 2 for p in paths):
        return None
    struct = {p[0] for p in paths}
    if len(struct) != 1:
        return None
    return (paths[0][0], *(p[1] for p in paths))


def _boxes(layer: ParquetLayer, table: pa.Table) -> np.ndarray:
    """(n, 4) bboxes of a table's rows: the covering columns, or the decoded geometry's."""
    if layer.covering is not None and layer.covering[0] in table.column_names:
        struct = table.column(layer.covering[0]).combine_chunks()
        return np.column_stack([
            struct.field(f).to_numpy(zero_copy_only=False).astype(float)
            for f in layer.covering[1:]])
    geoms = shapely.from_wkb(table.column(layer.geometry).to_numpy(zero_copy_only=False))
    return shapely.bounds(geoms)


def _frame(layer: ParquetLayer, table: pa.Table) -> gpd.GeoDataFrame:
    wkb = table.column(layer.geometry).to_numpy(zero_copy_only=False)
    attributes = table.drop_columns([c for c in table.column_names
                                     if c not in layer.columns])
    frame = attributes.to_pandas()
    frame.index = pd.RangeIndex(len(frame))
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(shapely.from_wkb(wkb), crs=layer.crs),
                            crs=layer.crs)


def _row_groups(layer: ParquetLayer, hit: np.ndarray | None) -> Iterator[tuple[_Part, int, int]]:
    """``(part, row group, first row)`` of every row group (or those ``hit`` says)."""
    k = 0
    for part in layer.parts:
        start = part.offset
        for g, n in enumerate(part.rows):
            if hit is None or hit[k]:
                yield part, g, start
            start += n
            k += 1


def _read(part: _Part, group: int, columns: Sequence[str]) -> pa.Table:
    try:
        return pq.ParquetFile(part.path).read_row_group(group, columns=list(columns))
    except (pa.ArrowException, OSError) as err:
        raise DataReadError(f"{part.path.name}: row group {group} cannot be read ({err}).") from err


def _wanted(layer: ParquetLayer, columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return list(layer.columns)
    unknown = [c for c in columns if c not in layer.columns]
    if unknown:
        raise DataReadError(f"{layer.path.name} has no column(s) {', '.join(unknown)}; it has: "
                            f"{', '.join(layer.columns)}.")
    return list(dict.fromkeys(columns))


def _concat(layer: ParquetLayer, tables: list[pa.Table], rows: list[np.ndarray],
            columns: list[str]) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    if not tables:
        empty = layer.schema.empty_table().select([*columns, layer.geometry])
        return _frame(layer, empty), np.array([], dtype=np.int64)
    return _frame(layer, pa.concat_tables(tables)), np.concatenate(rows)


def read_geoparquet(path: Path | ParquetLayer, *, columns: Sequence[str] | None = None,
                    bbox: tuple[float, float, float, float] | None = None) -> gpd.GeoDataFrame:
    """Read a GeoParquet layer whole, or the rows whose bbox meets ``bbox``.

    Parameters
    ----------
    path : Path or ParquetLayer
        A ``.parquet`` file or a folder of them (the parts of one layer).
    columns : sequence of str, optional
        Attribute columns to read (default all); the geometry always comes.
    bbox : tuple, optional
        ``(minx, miny, maxx, maxy)`` in the file's CRS.

    Returns
    -------
    GeoDataFrame
        In the file's CRS and row order.

    Raises
    ------
    DataReadError
        If the file cannot be read or a column does not exist.
    """
    layer = path if isinstance(path, ParquetLayer) else open_parquet_layer(path)
    reach = None if bbox is None else Reach.of(np.array([shapely.box(*bbox)]), 0.0)
    return _select(layer, columns, reach)[0]


def read_geoparquet_near(path: Path | ParquetLayer, geometries: Sequence[Any] | np.ndarray, *,
                         distance: float = 0.0,
                         columns: Sequence[str] | None = None
                         ) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Rows whose bbox comes within ``distance`` of any of ``geometries`` (a superset).

    Row groups whose extent (from the file's statistics) comes near no geometry are not
    read; of the others the bbox columns are read first and only the matching rows'
    geometries are decoded.  Every row whose geometry lies within ``distance`` of a query
    geometry is returned (and some more, whose bbox only does).

    Parameters
    ----------
    path : Path or ParquetLayer
        The layer.
    geometries : sequence of shapely geometries
        Query geometries, in the file's CRS.
    distance : float
        In the file's CRS units (degrees for EPSG:4326).
    columns : sequence of str, optional
        Attribute columns to read (default all).

    Returns
    -------
    tuple of GeoDataFrame and ndarray
        The rows (file CRS, file order) and their positions in the layer, so they line up
        with :func:`read_geoparquet_columns`.
    """
    layer = path if isinstance(path, ParquetLayer) else open_parquet_layer(path)
    geoms = np.asarray(geometries, dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))] if len(geoms) else geoms
    if not len(geoms):
        return _concat(layer, [], [], _wanted(layer, columns))
    return _select(layer, columns, Reach.of(geoms, float(distance)))


def _pieces(geoms: np.ndarray, length: float) -> np.ndarray:
    """Boxes (n, 4) of short pieces of the geometries' lines, boundaries and points."""
    parts = shapely.get_parts(geoms)
    lines = np.where(shapely.get_dimensions(parts) == 2, shapely.boundary(parts), parts)
    lines = shapely.get_parts(lines)  # a polygon's boundary may hold several rings
    cut = shapely.segmentize(lines, max_segment_length=length)
    coords, index = shapely.get_coordinates(cut, return_index=True)
    if not len(coords):
        return np.zeros((0, 4))
    same = index[1:] == index[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    segments = np.column_stack([np.minimum(a[:, 0], b[:, 0]), np.minimum(a[:, 1], b[:, 1]),
                                np.maximum(a[:, 0], b[:, 0]), np.maximum(a[:, 1], b[:, 1])])
    points = np.column_stack([coords, coords])  # lone points (and every vertex)
    return np.vstack([segments, points])


@dataclass(frozen=True)
class Reach:
    """Where query geometries reach, for "does this box come near any of them?".

    The geometries' boxes, widened by the distance, are marked on a grid of cells about
    their own size (a bitmap, or sorted cell ids when the grid is huge); a box is near
    when it meets a marked cell (a superset, never a miss).  A geometry far larger than a
    cell (a river across the map) is marked by the boxes of its pieces — its lines cut
    at half a cell — and, for a polygon, the cells whose centre lies inside it.
    """

    cell: float
    x0: float
    y0: float
    nx: int
    ny: int
    marked: np.ndarray  # dense (nx * ny,) bools, or sorted int64 cell ids
    dense: bool

    _MAX_CELLS = 64  # cells a query box may cover before its pieces are marked instead
    _DENSE = 64_000_000  # grid cells kept as a bitmap

    @classmethod
    def of(cls, geoms: np.ndarray, distance: float) -> Reach:
        """Where ``geoms`` reach, widened by ``distance`` (their CRS units)."""
        geoms = np.asarray(geoms, dtype=object)
        bounds = shapely.bounds(geoms)
        usable = ~np.isnan(bounds).any(axis=1)
        geoms, bounds = geoms[usable], bounds[usable]
        pad = np.array([-distance, -distance, distance, distance])
        wide = bounds + pad
        size = np.maximum(wide[:, 2] - wide[:, 0], wide[:, 3] - wide[:, 1])
        x0, y0 = (float(wide[:, 0].min()), float(wide[:, 1].min())) if len(wide) else (0, 0)
        extent = float(max(wide[:, 2].max() - x0, wide[:, 3].max() - y0)) if len(wide) else 1
        # about the size of the query geometries when there are many (no finer than 1/2048
        # of their extent: a point has no size, the rows tested have some); a few are
        # marked piece by piece on the finest grid
        typical = 2.0 * float(np.median(size)) if len(size) >= 64 else 0.0
        cell = max(typical, extent / 2048, 1e-9)
        ix0, iy0, ix1, iy1 = cls._span(wide, cell, x0, y0)
        nx = int(ix1.max()) + 1 if len(wide) else 1
        ny = int(iy1.max()) + 1 if len(wide) else 1
        small = (ix1 - ix0 + 1) * (iy1 - iy0 + 1) <= cls._MAX_CELLS
        ids = [cls._ids(ix0[small], iy0[small], ix1[small], iy1[small], ny)]
        if (~small).any():
            pieces = _pieces(geoms[~small], cell / 2) + pad
            ids.append(cls._ids(*cls._span(pieces, cell, x0, y0), ny))
            ids.append(cls._inside(geoms[~small], cell, x0, y0, nx, ny))
        every = np.concatenate(ids)
        dense = nx * ny <= cls._DENSE
        if dense:
            marked = np.zeros(nx * ny, dtype=bool)
            marked[every] = True
        else:
            marked = np.unique(every)
        return cls(cell, x0, y0, nx, ny, marked, dense)

    @staticmethod
    def _inside(geoms: np.ndarray, cell: float, x0: float, y0: float, nx: int,
                ny: int) -> np.ndarray:
        """Ids of the cells whose centre lies inside a polygonal geometry of ``geoms``."""
        out = [np.array([], dtype=np.int64)]
        for geom in geoms:
            if shapely.get_dimensions(geom) < 2:
                continue
            gx0, gy0, gx1, gy1 = Reach._span(shapely.bounds(geom)[None, :], cell, x0, y0)
            xs = np.arange(max(int(gx0[0]), 0), min(int(gx1[0]), nx - 1) + 1)
            ys = np.arange(max(int(gy0[0]), 0), min(int(gy1[0]), ny - 1) + 1)
            if len(xs) * len(ys) > 4_000_000:  # too many to test: take the whole box
                gx, gy = np.meshgrid(xs, ys, indexing="ij")
                out.append((gx * ny + gy).ravel())
                continue
            gx, gy = np.meshgrid(xs, ys, indexing="ij")
            centre_x, centre_y = x0 + (gx.ravel() + 0.5) * cell, y0 + (gy.ravel() + 0.5) * cell
            hit = shapely.contains_xy(geom, centre_x, centre_y)
            out.append((gx.ravel() * ny + gy.ravel())[hit])
        return np.concatenate(out)

    @staticmethod
    def _span(boxes: np.ndarray, cell: float, x0: float, y0: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        ix0 = np.floor((boxes[:, 0] - x0) / cell).astype(np.int64)
        iy0 = np.floor((boxes[:, 1] - y0) / cell).astype(np.int64)
        ix1 = np.floor((boxes[:, 2] - x0) / cell).astype(np.int64)
        iy1 = np.floor((boxes[:, 3] - y0) / cell).astype(np.int64)
        return ix0, iy0, ix1, iy1

    @staticmethod
    def _ids(ix0: np.ndarray, iy0: np.ndarray, ix1: np.ndarray, iy1: np.ndarray,
             ny: int) -> np.ndarray:
        """Every cell id (``ix * ny + iy``) each box covers, concatenated."""
        wide, high = ix1 - ix0 + 1, iy1 - iy0 + 1
        count = wide * high
        owner = np.repeat(np.arange(len(count)), count)
        k = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        return (ix0[owner] + k // high[owner]) * ny + iy0[owner] + k % high[owner]

    def hits(self, boxes: np.ndarray) -> np.ndarray:
        """Which of ``boxes`` (n, 4) may come within the distance of a query geometry."""
        known = ~np.isnan(boxes).any(axis=1)
        out = ~known  # a box the statistics do not give is read, not skipped
        idx = np.flatnonzero(known)
        if not len(idx):
            return out
        ix0, iy0, ix1, iy1 = self._span(boxes[idx], self.cell, self.x0, self.y0)
        ix0, iy0 = np.maximum(ix0, 0), np.maximum(iy0, 0)
        ix1, iy1 = np.minimum(ix1, self.nx - 1), np.minimum(iy1, self.ny - 1)
        inside = (ix0 <= ix1) & (iy0 <= iy1)
        count = np.where(inside, (ix1 - ix0 + 1) * (iy1 - iy0 + 1), 0)
        huge = count > 4 * self._MAX_CELLS
        if huge.any():  # a box far larger than the cells (a row group): column by column
            ids = self.marked if not self.dense else np.flatnonzero(self.marked)
            for k in np.flatnonzero(huge):
                columns = np.arange(ix0[k], ix1[k] + 1) * self.ny
                lo = np.searchsorted(ids, columns + iy0[k], side="left")
                hi = np.searchsorted(ids, columns + iy1[k], side="right")
                out[idx[k]] = bool((hi > lo).any())
        some = np.flatnonzero(inside & ~huge)
        if len(some):
            ids = self._ids(ix0[some], iy0[some], ix1[some], iy1[some], self.ny)
            if self.dense:
                marked = self.marked[ids]
            else:
                at = np.minimum(np.searchsorted(self.marked, ids), len(self.marked) - 1)
                marked = self.marked[at] == ids if len(self.marked) else np.zeros(len(ids),
                                                                                 dtype=bool)
            starts = np.concatenate([[0], np.cumsum(count[some])[:-1]])
            out[idx[some]] = np.logical_or.reduceat(marked, starts)
        return out


def _select(layer: ParquetLayer, columns: Sequence[str] | None,
            reach: Reach | None) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    wanted = _wanted(layer, columns)
    hit = None if reach is None else reach.hits(layer.extents())
    tables, rows = [], []
    for part, group, first in _row_groups(layer, hit):
        if reach is None:
            table = _read(part, group, [*wanted, layer.geometry])
            tables.append(table)
            rows.append(np.arange(first, first + table.num_rows, dtype=np.int64))
            continue
        cover = [layer.covering[0]] if layer.covering else [layer.geometry]
        boxes = _boxes(layer, _read(part, group, cover))
        keep = np.flatnonzero(reach.hits(boxes))
        if not len(keep):
            continue
        table = _read(part, group, [*wanted, layer.geometry]).take(pa.array(keep))
        tables.append(table)
        rows.append(first + keep.astype(np.int64))
    return _concat(layer, tables, rows, wanted)


def read_geoparquet_columns(path: Path | ParquetLayer, columns: Sequence[str]) -> pa.Table:
    """Attribute columns of every row of a layer, in file order, without geometry.

    Raises
    ------
    DataReadError
        If a column does not exist or a part cannot be read.
    """
    layer = path if isinstance(path, ParquetLayer) else open_parquet_layer(path)
    wanted = _wanted(layer, columns)
    tables = []
    for part in layer.parts:
        try:
            tables.append(pq.ParquetFile(part.path).read(columns=wanted))
        except (pa.ArrowException, OSError) as err:
            raise DataReadError(f"{part.path.name}: cannot be read ({err}).") from err
    return pa.concat_tables(tables) if tables else layer.schema.empty_table().select(wanted)


def write_geoparquet(frame: gpd.GeoDataFrame, path: Path, *,
                     row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
                     partitions: int | None = None, overwrite: bool = False) -> Path:
    """Write a layer as Hilbert-sorted GeoParquet 1.1 with bbox columns, atomically.

    Parameters
    ----------
    frame : GeoDataFrame
        Any CRS (written as it is); empty geometries sort last.
    path : Path
        ``….parquet``: one file; with ``partitions``, a folder of that many files
        (``part-00000.parquet`` …), each a contiguous run of the Hilbert order, so each
        covers a compact area (for dask-geopandas, one partition per file).
    row_group_size : int
        Rows per row group.
    partitions : int, optional
        Write a partitioned folder instead of one file.
    overwrite : bool
        Replace an existing file or folder.

    Raises
    ------
    DataWriteError
        If the target exists without ``overwrite`` or the write fails.
    """
    path = Path(path)
    if not is_parquet_path(path):
        raise DataWriteError(f"{path.name}: a GeoParquet layer's name ends in .parquet.")
    ordered = _hilbert_sorted(frame)
    try:
        return _write_parts(ordered, path, partitions, row_group_size, overwrite)
    except DataWriteError:
        raise
    except (ValueError, pa.ArrowException, OSError) as err:
        raise DataWriteError(f"Could not write {path.name}: {err}") from err


def _hilbert_sorted(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frame = frame.reset_index(drop=True)
    geoms = frame.geometry
    usable = ~(geoms.isna() | geoms.is_empty)
    key = np.full(len(frame), np.iinfo(np.uint32).max, dtype=np.int64)
    if usable.any():
        key[usable.to_numpy()] = geoms[usable].hilbert_distance(
            total_bounds=geoms[usable].total_bounds).to_numpy()
    return frame.iloc[np.argsort(key, kind="stable")].reset_index(drop=True)


def _to_parquet(frame: gpd.GeoDataFrame, target: Path, row_group_size: int) -> None:
    frame.to_parquet(target, index=False, write_covering_bbox=True, schema_version="1.1.0",
                     row_group_size=row_group_size)
    with open(target, "rb") as handle:
        os.fsync(handle.fileno())


def _write_parts(ordered: gpd.GeoDataFrame, path: Path, partitions: int | None,
                 row_group_size: int, overwrite: bool) -> Path:
    """Write beside the target under a temporary name, then rename it into place."""
    if path.exists() and not overwrite:
        raise DataWriteError(f"{path} already exists; pass --overwrite (or overwrite=True) "
                             "to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        if partitions is None:
            _to_parquet(ordered, staging / path.name, row_group_size)
            if path.is_dir():
                shutil.rmtree(path)
            os.replace(staging / path.name, path)
            return path
        count = min(max(1, int(partitions)), max(len(ordered), 1))
        cuts = np.linspace(0, len(ordered), count + 1).round().astype(int)
        parts = staging / path.name
        parts.mkdir()
        for k, (a, b) in enumerate(itertools.pairwise(cuts)):
            _to_parquet(ordered.iloc[a:b], parts / f"part-{k:05d}.parquet", row_group_size)
        old = staging / f"{path.name}.old"
        if path.exists():
            path.rename(old)  # a folder cannot be replaced in one rename: old aside, new in
        parts.rename(path)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
    return path
