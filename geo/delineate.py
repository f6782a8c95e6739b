"""Catchment delineation from a DEM and an outlet, in pure numpy.

The pipeline (each step a public function, so the benchmark can time it):

1. :func:`fill_depressions` — Priority-Flood (Barnes, Lehman & Mulla 2014) done
   on the *graph of depressions* rather than cell by cell: every cell is labelled
   with the pit its steepest-descent path ends in (pointer jumping, vectorised),
   the lowest pass between each pair of neighbouring basins is found with one sort,
   and the priority flood (``heapq``) runs over basins only.  A cell's filled
   elevation is ``max(z, spill level of its basin)`` — the same answer as the
   cell-by-cell algorithm (Cordonnier, Bovy & Braun 2019 use the same reduction).
   Grid edges and cells next to nodata drain out of the grid.
2. :func:`flow_directions` — D8 steepest descent with metric distances (geodesic
   cell sizes for lon/lat grids).  Cells left without a downhill neighbour (flats,
   including filled depressions) get directions from the Garbrecht & Martz (1997)
   gradients as formulated by Barnes, Lehman & Mulla (2014): towards lower terrain
   (weight 2) and away from higher terrain (weight 1), both breadth-first searches
   over the flat cells only.
3. :func:`flow_accumulation` — upstream cell counts in topological order
   (Kahn's algorithm, one vectorised step per wave; no per-cell Python).
4. :func:`snap_outlet` — the highest-accumulation cell within ``snap_distance_m``.
5. :func:`upstream_mask` — every cell whose flow path reaches the outlet
   (pointer jumping), polygonised with :func:`rasterio.features.shapes`.

:func:`delineate_catchment` runs it all and returns a one-row GeoDataFrame in
EPSG:4326 with the area (metric CRS), the DEM resolution, the requested and the
snapped outlet, and warnings (:class:`~geo.errors.CoarseDEMWarning`,
:class:`~geo.errors.FlatTerrainWarning`) when the answer should not be trusted:
on a plain of canals and polders such as Kunshan, water goes where channels and
sluices send it, not where a DEM slopes.  DEM values are taken as metres.
"""

from __future__ import annotations

import heapq
import json
import math
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import rasterio.features
import shapely
from affine import Affine
from numpy.typing import NDArray
from shapely.geometry import shape

from geo.catalogue import LayerSpec
from geo.crs import metric_crs, to_wgs84
from geo.errors import (
    CatalogueError,
    CoarseDEMWarning,
    CRSError,
    DataReadError,
    DataWriteError,
    DelineationError,
    DelineationWarning,
    FlatTerrainWarning,
)
from geo.io import atomic_write_bytes, write_layer
from geo.raster import DEFAULT_MAX_BYTES, RasterSource, open_raster

__all__ = [
    "DEFAULT_SNAP_DISTANCE_M",
    "MAX_DEM_CELLS",
    "MAX_FLAT_SHARE",
    "MIN_CATCHMENT_CELLS",
    "MIN_RELIEF_M",
    "FlowModel",
    "Outlet",
    "add_catchment_layer",
    "condition_dem",
    "delineate_catchment",
    "delineate_from_click",
    "fill_depressions",
    "flow_accumulation",
    "flow_directions",
    "snap_outlet",
    "upstream_mask",
]

#: Default search radius when snapping an outlet to the stream.
DEFAULT_SNAP_DISTANCE_M = 500.0
#: Fewer cells than this in a catchment: the DEM is too coarse for it.
MIN_CATCHMENT_CELLS = 100
#: Less relief than this (m) over a catchment (5th to 95th percentile of its
#: elevations, so DEM noise and a few spikes do not count): too flat for D8.
MIN_RELIEF_M = 5.0
#: More than this share of cells routed across flats: too flat as well.
MAX_FLAT_SHARE = 0.5
#: Largest DEM conditioned (cells): 25 M cells ≈ 2.6 GiB of working memory.
MAX_DEM_CELLS = 25_000_000
_BYTES_PER_CELL = 110

_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
_GEOD = pyproj.Geod(ellps="WGS84")
_SEED_MASK = np.iinfo(np.int32).min


def _index_dtype(size: int) -> type[np.signedinteger[Any]]:
    return np.int32 if size < np.iinfo(np.int32).max else np.int64


def _shift(array: NDArray[Any], dr: int, dc: int, fill: Any) -> NDArray[Any]:
    """``out[r, c] = array[r + dr, c + dc]``, ``fill`` where that falls off the grid."""
    height, width = array.shape
    out = np.full_like(array, fill)
    out[max(0, -dr): height - max(0, dr), max(0, -dc): width - max(0, dc)] = array[
        max(0, dr): height - max(0, -dr), max(0, dc): width - max(0, -dc)
    ]
    return out


def _views(height: int, width: int, dr: int, dc: int) -> tuple[
    tuple[slice, slice], tuple[slice, slice]
]:
    """Slices pairing each cell (first) with its neighbour at (dr, dc) (second)."""
    here = (slice(max(0, -dr), height - max(0, dr)), slice(max(0, -dc), width - max(0, dc)))
    there = (slice(max(0, dr), height - max(0, -dr)), slice(max(0, dc), width - max(0, -dc)))
    return here, there


def _neighbour_cells(
    code: NDArray[np.uint8], index: NDArray[np.signedinteger[Any]], width: int
) -> NDArray[np.signedinteger[Any]]:
    """Flat index of the neighbour each direction code (0-7, 255 = none) points to."""
    steps = np.array([dr * width + dc for dr, dc in _OFFSETS] + [0], dtype=index.dtype)
    return index + steps[np.minimum(code, 8)]


def _distinct(values: NDArray[np.integer[Any]], owner: NDArray[np.int64]) -> NDArray[np.int64]:
    """Drop repeated indices without sorting (``owner`` is scratch space, one slot per cell).

    ``np.unique`` sorts (or hashes: slow for millions of ints in numpy 2.4); writing
    each value's position into ``owner`` keeps exactly one occurrence of each.
    """
    values = values.astype(np.int64, copy=False)
    position = np.arange(values.size, dtype=np.int64)
    owner[values] = position
    return values[owner[values] == position]


def _boundary(valid: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Mark valid cells on the grid's edge or next to nodata: water leaves the grid there."""
    height, width = valid.shape
    inner = valid.copy()
    inner[0, :] = inner[-1, :] = inner[:, 0] = inner[:, -1] = False
    for dr, dc in _OFFSETS:
        here, there = _views(height, width, dr, dc)
        inner[here] &= valid[there]
    return valid & ~inner


# --- 1. depressions -----------------------------------------------------------------------


def fill_depressions(
    dem: NDArray[np.floating[Any]], valid: NDArray[np.bool_] | None = None
) -> NDArray[np.floating[Any]]:
    """Fill every pit and depression so each cell has a non-ascending path out of the grid.

    Parameters
    ----------
    dem : ndarray
        2-D elevations; NaN (or ``~valid``) is nodata.  Edge cells and cells next to
        nodata drain out of the grid.
    valid : ndarray of bool, optional
        Cells that hold data (default: the finite cells).

    Returns
    -------
    ndarray
        Filled elevations, same dtype, NaN outside ``valid``.  Depressions become
        flat at their spill elevation; nothing else changes.
    """
    z = np.asarray(dem)
    valid = np.isfinite(z) if valid is None else (valid & np.isfinite(z))
    height, width = z.shape
    size = height * width
    itype = _index_dtype(size)
    index = np.arange(size, dtype=itype).reshape(height, width)
    boundary = _boundary(valid)
    zf = np.where(valid, z, np.inf)

    # Steepest descent is not needed to label basins: the lowest neighbour will do.
    lowest, towards = _lowest_neighbour(zf, index, width)
    # A one-cell pit is raised to its lowest neighbour and drains into it: the same
    # answer (every path through the cell climbs at least that high), far fewer basins.
    one_cell_pit = valid & ~boundary & (lowest > zf)
    if one_cell_pit.any():
        zf[one_cell_pit] = lowest[one_cell_pit]
        pit_towards = towards[one_cell_pit]
        lowest, towards = _lowest_neighbour(zf, index, width)
        towards[one_cell_pit] = pit_towards  # equal height: still non-ascending, no cycle
        lowest[one_cell_pit] = -np.inf
    receiver = np.where(lowest < zf, towards, index)
    del lowest, towards, one_cell_pit
    root = receiver.ravel()
    while True:  # pointer jumping: log2(longest path) passes
        jumped = root[root]
        if np.array_equal(jumped, root):
            break
        root = jumped
    flat_valid = valid.ravel()
    is_pit = (root == index.ravel()) & flat_valid & ~boundary.ravel()
    pits = np.flatnonzero(is_pit)
    out = np.where(valid, zf, np.nan).astype(z.dtype, copy=False)
    if pits.size == 0:
        return out
    # Basin 0 is "outside" (every basin whose root is a boundary cell); pits are 1..P.
    label = np.zeros(size, dtype=itype)
    label[pits] = np.arange(1, pits.size + 1, dtype=itype)
    basin = np.where(flat_valid, label[root], -1).reshape(height, width)
    del root, label, receiver
    passes = _basin_passes(basin, zf, boundary)
    spill = _flood_basins(pits.size + 1, *passes)
    filled = np.maximum(zf, spill[np.maximum(basin, 0)].astype(zf.dtype))
    out[valid] = filled[valid]
    return out


def _lowest_neighbour(
    zf: NDArray[np.floating[Any]], index: NDArray[np.signedinteger[Any]], width: int
) -> tuple[NDArray[np.floating[Any]], NDArray[np.signedinteger[Any]]]:
    height = zf.shape[0]
    lowest = np.full_like(zf, np.inf)
    code = np.full(zf.shape, 255, dtype=np.uint8)
    for k, (dr, dc) in enumerate(_OFFSETS):
        here, there = _views(height, width, dr, dc)
        lower = zf[there] < lowest[here]
        np.copyto(lowest[here], zf[there], where=lower)
        np.copyto(code[here], k, where=lower)
    return lowest, _neighbour_cells(code, index, width)


def _basin_passes(
    basin: NDArray[np.signedinteger[Any]], zf: NDArray[np.floating[Any]],
    boundary: NDArray[np.bool_],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Lowest pass between each pair of touching basins, plus boundary outlets of pits."""
    n_basins = int(basin.max()) + 1
    lows, highs, weights = [], [], []
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        other = _shift(basin, dr, dc, -1)
        touch = (basin != other) & (basin >= 0) & (other >= 0)
        a, b = basin[touch].astype(np.int64), other[touch].astype(np.int64)
        lows.append(np.minimum(a, b))
        highs.append(np.maximum(a, b))
        weights.append(np.maximum(zf[touch], _shift(zf, dr, dc, np.inf)[touch]))
    # A boundary cell inside a pit's basin lets that pit spill out of the grid.
    edge = boundary & (basin > 0)
    lows.append(np.zeros(int(edge.sum()), dtype=np.int64))
    highs.append(basin[edge].astype(np.int64))
    weights.append(zf[edge])
    low, high = np.concatenate(lows), np.concatenate(highs)
    weight = np.concatenate(weights).astype(np.float64)
    key = low * n_basins + high
    order = np.argsort(key)
    key, weight = key[order], weight[order]
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    weight = np.minimum.reduceat(weight, starts)
    key = key[starts]
    return key // n_basins, key % n_basins, weight


def _flood_basins(
    n_basins: int, low: NDArray[np.int64], high: NDArray[np.int64], weight: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Priority-Flood over the basin graph from basin 0 (outside): spill level per basin."""
    source = np.concatenate([low, high])
    target = np.concatenate([high, low])
    weights = np.concatenate([weight, weight])
    order = np.argsort(source, kind="stable")
    starts = np.zeros(n_basins + 1, dtype=np.int64)
    np.cumsum(np.bincount(source, minlength=n_basins), out=starts[1:])
    targets, passes, bounds = target[order].tolist(), weights[order].tolist(), starts.tolist()
    level = [math.inf] * n_basins
    level[0] = -math.inf
    done = bytearray(n_basins)
    heap: list[tuple[float, int]] = [(-math.inf, 0)]
    while heap:
        current, node = heapq.heappop(heap)
        if done[node]:
            continue
        done[node] = 1
        for k in range(bounds[node], bounds[node + 1]):
            nxt = targets[k]
            if done[nxt]:
                continue
            reach = passes[k] if passes[k] > current else current
            if reach < level[nxt]:
                level[nxt] = reach
                heapq.heappush(heap, (reach, nxt))
    return np.asarray(level)


# --- 2. flow directions ----------------------------------------------------------------------


def flow_directions(
    filled: NDArray[np.floating[Any]],
    valid: NDArray[np.bool_] | None = None,
    *,
    dx_m: float | NDArray[np.float64] = 1.0,
    dy_m: float = 1.0,
) -> tuple[NDArray[np.signedinteger[Any]], NDArray[np.bool_]]:
    """D8 receivers on a filled DEM, with flats resolved towards their outlets.

    Parameters
    ----------
    filled : ndarray
        Output of :func:`fill_depressions` (NaN = nodata).
    valid : ndarray of bool, optional
        Cells that hold data (default: the finite cells).
    dx_m : float or ndarray
        Cell width in metres, a scalar or one value per row (lon/lat grids).
    dy_m : float
        Cell height in metres.

    Returns
    -------
    receivers : ndarray of int
        Flat index (row-major) of each cell's downstream neighbour; -1 where water
        leaves the grid (edge / next to nodata) and on nodata.
    resolved_flat : ndarray of bool
        Cells that had no downhill neighbour and were routed across a flat.
    """
    z = np.asarray(filled)
    valid = np.isfinite(z) if valid is None else (valid & np.isfinite(z))
    height, width = z.shape
    itype = _index_dtype(height * width)
    index = np.arange(height * width, dtype=itype).reshape(height, width)
    dx = np.broadcast_to(np.asarray(dx_m, dtype=np.float64).reshape(-1, 1), (height, 1))
    zf = np.where(valid, z, np.inf).astype(np.float64)
    best = np.zeros((height, width))
    code = np.full((height, width), 255, dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        for k, (dr, dc) in enumerate(_OFFSETS):
            here, there = _views(height, width, dr, dc)
            distance = np.hypot(dc * dx[here[0]], dr * dy_m)
            slope = (zf[here] - zf[there]) / distance
            steeper = slope > best[here]
            np.copyto(best[here], slope, where=steeper)
            np.copyto(code[here], k, where=steeper)
    del best
    receivers = np.where((code < 8) & valid, _neighbour_cells(code, index, width), -1)
    receivers = receivers.astype(itype, copy=False)
    flat = valid & ~_boundary(valid) & (receivers == -1)
    if flat.any():
        _resolve_flats(zf, flat, receivers, width)
    return receivers.ravel(), flat


def _bfs(
    seeds: NDArray[np.signedinteger[Any]],
    zf: NDArray[np.float64],
    flat: NDArray[np.bool_],
    width: int,
    height: int,
) -> NDArray[np.int32]:
    """Breadth-first distance from ``seeds`` through equal-elevation flat cells."""
    distance = np.zeros(zf.size, dtype=np.int32)
    visited = ~flat
    visited[seeds] = True
    offsets = np.array([dr * width + dc for dr, dc in _OFFSETS], dtype=np.int64)
    owner = np.zeros(zf.size, dtype=np.int64)
    # Seeds may sit on the grid's edge: drop their neighbours that fall off it.
    rows, cols = np.divmod(seeds.astype(np.int64), width)
    moves = np.array(_OFFSETS)
    inside = ((rows[:, None] + moves[:, 0] >= 0) & (rows[:, None] + moves[:, 0] < height)
              & (cols[:, None] + moves[:, 1] >= 0) & (cols[:, None] + moves[:, 1] < width))
    source = np.broadcast_to(seeds.astype(np.int64)[:, None], inside.shape)[inside]
    target = (seeds.astype(np.int64)[:, None] + offsets)[inside]
    step = 0
    while target.size:
        step += 1
        keep = ~visited[target] & (zf[target] == zf[source])
        frontier = _distinct(target[keep], owner)
        visited[frontier] = True
        distance[frontier] = step
        # Flat cells are interior: all their neighbours exist.
        source = np.repeat(frontier, offsets.size)
        target = (frontier[:, None] + offsets).ravel()
    return distance


def _resolve_flats(
    zf2d: NDArray[np.float64],
    flat2d: NDArray[np.bool_],
    receivers2d: NDArray[np.signedinteger[Any]],
    width: int,
) -> None:
    """Garbrecht–Martz flat routing (Barnes et al. 2014 formulation), in place."""
    height = zf2d.shape[0]
    zf, flat, receivers = zf2d.ravel(), flat2d.ravel(), receivers2d.ravel()
    cells = np.flatnonzero(flat)  # interior cells: all 8 neighbours exist and hold data
    offsets = [dr * width + dc for dr, dc in _OFFSETS]
    low_seeds, high_seeds = [], []
    for offset in offsets:
        neighbour = cells + offset
        same = zf[neighbour] == zf[cells]
        low_seeds.append(neighbour[same & ~flat[neighbour]])
        high_seeds.append(cells[zf[neighbour] > zf[cells]])
    owner = np.zeros(zf.size, dtype=np.int64)
    lows = _distinct(np.concatenate(low_seeds).astype(np.int64), owner)
    highs = _distinct(np.concatenate(high_seeds).astype(np.int64), owner)
    towards = _bfs(lows, zf, flat, width, height)
    away = _bfs(highs, zf, flat, width, height) if highs.size else np.zeros_like(towards)
    # away is relative: subtracting it is Barnes' (max_away - away) up to a per-flat constant.
    mask = 2 * towards.astype(np.int64) - away
    mask[lows] = _SEED_MASK
    best = mask[cells].copy()
    for offset in offsets:
        neighbour = cells + offset
        candidate = mask[neighbour]
        ok = (zf[neighbour] == zf[cells]) & (flat[neighbour] | (candidate == _SEED_MASK))
        better = ok & (candidate < best)
        best[better] = candidate[better]
        receivers[cells[better]] = neighbour[better]


# --- 3. accumulation ---------------------------------------------------------------------------


def flow_accumulation(
    receivers: NDArray[np.signedinteger[Any]], valid: NDArray[np.bool_] | None = None
) -> NDArray[np.int64]:
    """Count the cells draining through each cell (itself included), as a flat array.

    Processes cells in topological order, one vectorised wave at a time (Kahn's
    algorithm): a cell is added to its receiver once all its donors are done.

    Raises
    ------
    DelineationError
        If the receivers contain a cycle (not a drainage tree).
    """
    receivers = receivers.ravel()
    size = receivers.size
    has = receivers >= 0
    indegree = np.bincount(receivers[has], minlength=size).astype(np.int32)
    accumulation = np.ones(size, dtype=np.int64)
    if valid is not None:
        accumulation[~valid.ravel()] = 0
    frontier = np.flatnonzero(indegree == 0)
    owner = np.zeros(size, dtype=np.int64)
    processed = 0
    while frontier.size:
        processed += frontier.size
        targets = receivers[frontier].astype(np.intp)
        keep = targets >= 0
        frontier, targets = frontier[keep], targets[keep]
        np.add.at(accumulation, targets, accumulation[frontier])
        np.subtract.at(indegree, targets, 1)
        targets = targets[indegree[targets] == 0]
        frontier = _distinct(targets, owner)
    if processed < size:
        raise DelineationError(
            f"Flow directions contain a cycle ({size - processed} cells never drain); "
            "this is a bug in flow routing — please report it with the DEM."
        )
    return accumulation


def upstream_mask(receivers: NDArray[np.signedinteger[Any]], outlet: int) -> NDArray[np.bool_]:
    """Cells whose flow path passes through flat index ``outlet`` (flat bool array)."""
    receivers = receivers.ravel()
    index = np.arange(receivers.size, dtype=receivers.dtype)
    end = np.where(receivers >= 0, receivers, index)
    end[outlet] = outlet
    while True:
        jumped = end[end]
        if np.array_equal(jumped, end):
            break
        end = jumped
    return end == outlet


# --- the model: a conditioned DEM ----------------------------------------------------------------


@dataclass
class FlowModel:
    """A conditioned DEM: filled elevations, receivers and accumulation on its grid."""

    name: str
    transform: Affine
    crs: pyproj.CRS
    shape: tuple[int, int]
    dem: NDArray[np.floating[Any]]
    filled: NDArray[np.floating[Any]]
    receivers: NDArray[np.signedinteger[Any]]
    accumulation: NDArray[np.int64]
    resolved_flat: NDArray[np.bool_]
    dx_m: NDArray[np.float64]
    dy_m: float
    timings: dict[str, float] = field(default_factory=dict)

    def resolution_m(self, row: int | None = None) -> float:
        """Cell size in metres (geometric mean of width and height; at ``row`` if given)."""
        dx = float(self.dx_m[row if row is not None else self.shape[0] // 2])
        return math.sqrt(dx * self.dy_m)

    def cell_centre(self, flat_index: int) -> tuple[float, float]:
        """Centre of a cell in the DEM's CRS."""
        row, col = divmod(int(flat_index), self.shape[1])
        x, y = self.transform @ (col + 0.5, row + 0.5)
        return float(x), float(y)


def _cell_sizes_m(
    transform: Affine, crs: pyproj.CRS, height: int
) -> tuple[NDArray[np.float64], float]:
    if not crs.is_geographic:
        unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
        return np.full(height, abs(transform.a) * unit), abs(transform.e) * unit
    ellipsoid = crs.ellipsoid
    if ellipsoid is None:
        raise CRSError(f"CRS {crs.name} has no ellipsoid; cannot measure its cells.")
    a, b = ellipsoid.semi_major_metre, ellipsoid.semi_minor_metre
    e2 = 1.0 - (b / a) ** 2
    lat = np.radians(transform.f + transform.e * (np.arange(height) + 0.5))
    w = np.sqrt(1.0 - e2 * np.sin(lat) ** 2)
    dx = np.radians(abs(transform.a)) * a * np.cos(lat) / w
    dy = np.radians(abs(transform.e)) * a * (1.0 - e2) / w**3
    return dx, float(np.mean(dy))


def condition_dem(
    source: RasterSource,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_cells: int = MAX_DEM_CELLS,
) -> FlowModel:
    """Read a DEM and condition it: fill, route (flats resolved), accumulate.

    Parameters
    ----------
    source : Path, str, bytes or DatasetReader
        A single-band GeoTIFF DEM in metres, any CRS (see :func:`geo.raster.open_raster`).
    max_bytes : int
        Memory limit of the raster read, checked right after opening.
    max_cells : int
        Refuse larger DEMs (checked right after opening): conditioning peaks at about
        110 bytes per cell (``bench/bench_delineate.py``).

    Raises
    ------
    CRSError
        If the DEM declares no CRS.
    DataReadError, UnsafeInputError
        If the file cannot be read, is refused, or has more than ``max_cells`` cells.
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    with open_raster(source, max_bytes=max_bytes) as dataset:
        name = Path(str(dataset.name)).name if not isinstance(source, bytes) else "uploaded DEM"
        cells = dataset.width * dataset.height
        if cells > max_cells:
            raise DataReadError(
                f"DEM {name} has {dataset.width} × {dataset.height} = {cells:,} cells; "
                f"delineation is limited to {max_cells:,} (about "
                f"{max_cells * _BYTES_PER_CELL / 2**30:.1f} GiB of working memory). Crop it to "
                "the area upstream of the outlet (`gdalwarp -te …`) or resample it (`-tr …`)."
            )
        if dataset.crs is None:
            raise CRSError(f"DEM {name} has no CRS; assign it with `gdal_edit.py -a_srs EPSG:…`.")
        crs = pyproj.CRS.from_user_input(dataset.crs.to_wkt())
        band = dataset.read(1, masked=True)
        transform = dataset.transform
    dtype = np.float64 if band.dtype == np.float64 else np.float32
    dem = band.astype(dtype).filled(np.nan)
    valid = np.isfinite(dem)
    if not valid.any():
        raise DelineationError(f"DEM {name} holds no data (every cell is nodata).")
    dx_m, dy_m = _cell_sizes_m(transform, crs, dem.shape[0])
    timings["read"] = time.perf_counter() - start
    start = time.perf_counter()
    filled = fill_depressions(dem, valid)
    timings["fill_depressions"] = time.perf_counter() - start
    start = time.perf_counter()
    receivers, resolved_flat = flow_directions(filled, valid, dx_m=dx_m, dy_m=dy_m)
    timings["flow_directions"] = time.perf_counter() - start
    start = time.perf_counter()
    accumulation = flow_accumulation(receivers, valid)
    timings["flow_accumulation"] = time.perf_counter() - start
    return FlowModel(name, transform, crs, dem.shape, dem, filled, receivers, accumulation,
                     resolved_flat, dx_m, dy_m, timings)


# --- 4. outlet ----------------------------------------------------------------------


@dataclass(frozen=True)
class Outlet:
    """The outlet as asked and as used (WGS84 lon/lat, metres)."""

    requested_lon: float
    requested_lat: float
    lon: float
    lat: float
    snap_distance_m: float
    cell: int
    accumulation: int


def snap_outlet(model: FlowModel, lon: float, lat: float, snap_distance_m: float) -> Outlet:
    """Move the outlet to the highest-accumulation cell within ``snap_distance_m``.

    Parameters
    ----------
    model : FlowModel
        From :func:`condition_dem`.
    lon, lat : float
        Requested outlet, WGS84 degrees.
    snap_distance_m : float
        Search radius in metres (0: the cell under the point).

    Raises
    ------
    DelineationError
        If the point lies outside the DEM or on nodata with nothing valid nearby.
    """
    if not (math.isfinite(lon) and math.isfinite(lat)) or snap_distance_m < 0:
        raise DelineationError(
            f"Outlet ({lon}, {lat}) / snap distance {snap_distance_m} m is not valid; give "
            "LON,LAT in WGS84 degrees and a snap distance ≥ 0."
        )
    to_dem = pyproj.Transformer.from_crs("EPSG:4326", model.crs, always_xy=True)
    to_wgs = pyproj.Transformer.from_crs(model.crs, "EPSG:4326", always_xy=True)
    x, y = to_dem.transform(lon, lat)
    col_f, row_f = ~model.transform @ (x, y)
    height, width = model.shape
    if not (0 <= row_f < height and 0 <= col_f < width):
        (west, south), (east, north) = (
            to_wgs.transform(*(model.transform @ (0, height))),
            to_wgs.transform(*(model.transform @ (width, 0))),
        )
        raise DelineationError(
            f"Outlet ({lon:.6f}, {lat:.6f}) lies outside DEM {model.name}, which covers "
            f"lon {west:.4f}–{east:.4f}, lat {south:.4f}–{north:.4f}. Give a point inside it "
            "(LON,LAT order, WGS84)."
        )
    row, col = int(row_f), int(col_f)
    reach_r = math.ceil(snap_distance_m / model.dy_m) + 1
    reach_c = math.ceil(snap_distance_m / float(model.dx_m[row])) + 1
    r0, r1 = max(0, row - reach_r), min(height, row + reach_r + 1)
    c0, c1 = max(0, col - reach_c), min(width, col + reach_c + 1)
    rows, cols = np.mgrid[r0:r1, c0:c1]
    flat_index = (rows * width + cols).ravel()
    xs, ys = model.transform @ (cols.ravel() + 0.5, rows.ravel() + 0.5)
    lons, lats = to_wgs.transform(xs, ys)
    _, _, distance = _GEOD.inv(np.full(lons.shape, lon), np.full(lats.shape, lat), lons, lats)
    valid = np.isfinite(model.dem.ravel()[flat_index])
    here = flat_index == row * width + col
    candidate = valid & ((distance <= snap_distance_m) | here)
    if not candidate.any():
        raise DelineationError(
            f"Outlet ({lon:.6f}, {lat:.6f}) falls on nodata in DEM {model.name} and no cell "
            f"with data lies within {snap_distance_m:g} m; raise --snap-distance."
        )
    accumulation = model.accumulation[flat_index]
    score = np.where(candidate, accumulation, -1)
    best = np.flatnonzero(score == score.max())
    pick = best[np.argmin(distance[best])]
    return Outlet(float(lon), float(lat), float(lons[pick]), float(lats[pick]),
                  float(distance[pick]), int(flat_index[pick]), int(accumulation[pick]))


# --- 5. delineation ----------------------------------------------------------------

_MODEL_CACHE: OrderedDict[tuple[str, int, int], FlowModel] = OrderedDict()
_MODEL_CACHE_SIZE = 2


def _model_for(source: RasterSource | FlowModel, max_bytes: int) -> FlowModel:
    if isinstance(source, FlowModel):
        return source
    if isinstance(source, (str, Path)) and Path(source).is_file():
        stat = Path(source).stat()
        key = (str(Path(source).resolve()), stat.st_mtime_ns, stat.st_size)
        if key in _MODEL_CACHE:
            _MODEL_CACHE.move_to_end(key)
            return _MODEL_CACHE[key]
        model = condition_dem(source, max_bytes=max_bytes)
        _MODEL_CACHE[key] = model
        while len(_MODEL_CACHE) > _MODEL_CACHE_SIZE:
            _MODEL_CACHE.popitem(last=False)
        return model
    return condition_dem(source, max_bytes=max_bytes)


def _polygon(model: FlowModel, inside: NDArray[np.bool_]) -> Any:
    grid = inside.reshape(model.shape)
    rows = np.flatnonzero(grid.any(axis=1))
    cols = np.flatnonzero(grid.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    window = grid[r0:r1, c0:c1].astype(np.uint8)
    transform = model.transform @ Affine.translation(c0, r0)
    parts = [shape(geom) for geom, _ in rasterio.features.shapes(
        window, mask=window.astype(bool), transform=transform)]
    return shapely.union_all(parts)


def _judge(model: FlowModel, inside: NDArray[np.bool_], outlet: Outlet) -> tuple[
    list[tuple[type[DelineationWarning], str]], float, float
]:
    cells = int(inside.sum())
    elevations = model.dem.ravel()[inside]
    relief = float(np.nanmax(elevations) - np.nanmin(elevations))
    low, high = np.nanpercentile(elevations, (5, 95))
    robust_relief = float(high - low)
    flat_share = float(model.resolved_flat.ravel()[inside].mean())
    resolution = model.resolution_m(outlet.cell // model.shape[1])
    found: list[tuple[type[DelineationWarning], str]] = []
    if cells < MIN_CATCHMENT_CELLS:
        found.append((CoarseDEMWarning, (
            f"The catchment covers only {cells} DEM cell(s) of about {resolution:,.0f} m: the "
            f"DEM is too coarse for it (fewer than {MIN_CATCHMENT_CELLS} cells), so its outline "
            "is blocky and may be wrong. Use a finer DEM (e.g. 30 m Copernicus GLO-30) or an "
            "official catchment layer."
        )))
    if robust_relief < MIN_RELIEF_M or flat_share > MAX_FLAT_SHARE:
        found.append((FlatTerrainWarning, (
            f"The terrain is too flat for a DEM catchment: {robust_relief:.1f} m of relief "
            f"(5th–95th percentile; {relief:.1f} m extreme to extreme) and "
            f"{flat_share:.0%} of cells routed across flats. On a plain of canals and polders "
            "(like Kunshan) water goes where channels and sluices send it; use the official "
            "catchment units or the river network instead of this outline."
        )))
    return found, relief, flat_share


def delineate_catchment(
    dem: RasterSource | FlowModel,
    lon: float,
    lat: float,
    *,
    snap_distance_m: float = DEFAULT_SNAP_DISTANCE_M,
    fid: str = "catchment",
    name: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> gpd.GeoDataFrame:
    """Delineate the catchment draining to an outlet.

    Parameters
    ----------
    dem : Path, str, bytes, DatasetReader or FlowModel
        A GeoTIFF DEM (metres, any CRS) or an already conditioned model.  Paths are
        conditioned once and cached (two DEMs), so repeated clicks are fast.
    lon, lat : float
        Requested outlet in WGS84 degrees.
    snap_distance_m : float
        Search radius for the highest-accumulation cell (the stream).
    fid, name : str
        Feature id and label of the result.
    max_bytes : int
        Memory limit checked right after opening the DEM.

    Returns
    -------
    GeoDataFrame
        One row in EPSG:4326: ``fid, name, area_km2`` (in a UTM CRS),
        ``dem_resolution_m, cells, relief_m, flat_share, requested_lon/lat,
        outlet_lon/lat, snap_distance_m, accuracy ("derived"), source, warnings``.

    Warns
    -----
    CoarseDEMWarning
        Fewer than :data:`MIN_CATCHMENT_CELLS` cells.
    FlatTerrainWarning
        Relief below :data:`MIN_RELIEF_M` or most cells routed across flats.
    """
    model = _model_for(dem, max_bytes)
    outlet = snap_outlet(model, lon, lat, snap_distance_m)
    inside = upstream_mask(model.receivers, outlet.cell)
    found, relief, flat_share = _judge(model, inside, outlet)
    frame = gpd.GeoDataFrame(
        {
            "fid": [fid],
            "name": [name or f"Catchment above ({outlet.lon:.5f}, {outlet.lat:.5f})"],
            "cells": [int(inside.sum())],
            "dem_resolution_m": [round(model.resolution_m(outlet.cell // model.shape[1]), 2)],
            "relief_m": [round(relief, 2)],
            "flat_share": [round(flat_share, 4)],
            "requested_lon": [outlet.requested_lon],
            "requested_lat": [outlet.requested_lat],
            "outlet_lon": [outlet.lon],
            "outlet_lat": [outlet.lat],
            "snap_distance_m": [round(outlet.snap_distance_m, 1)],
            "accuracy": ["derived"],
            "source": [f"D8 delineation from DEM {model.name}"],
            "warnings": [" | ".join(message for _, message in found)],
        },
        geometry=[_polygon(model, inside)],
        crs=model.crs.to_wkt(),
    )
    frame = to_wgs84(frame, where=f"catchment from {model.name}")
    area = frame.to_crs(metric_crs(frame)).area.iloc[0] / 1e6
    frame.insert(2, "area_km2", round(float(area), 4))
    for category, message in found:
        warnings.warn(message, category, stacklevel=2)
    return frame


def delineate_from_click(
    dem_path: Path | str,
    lon: float,
    lat: float,
    snap_distance_m: float = DEFAULT_SNAP_DISTANCE_M,
) -> gpd.GeoDataFrame:
    """:func:`delineate_catchment` for a map click: warnings go into the result, not out.

    The app shows the ``warnings`` column (empty when the answer looks sound) next
    to the drawn catchment; nothing is emitted as a Python warning.  The DEM is
    conditioned on the first click and cached for the next ones.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DelineationWarning)
        return delineate_catchment(dem_path, lon, lat, snap_distance_m=snap_distance_m)


# --- 6. into the catalogue ---------------------------------------------------------------------


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def add_catchment_layer(
    workspace_root: Path,
    layer_id: str,
    catchment: gpd.GeoDataFrame,
    *,
    title: str | None = None,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Add a delineated catchment to a workspace as a ``kind = "catchment"`` layer.

    Writes ``data/derived/<layer_id>.geojson`` (RFC 7946, atomically) and
    ``layers/<layer_id>.toml``, so the catchment appears in the catalogue.

    Parameters
    ----------
    workspace_root : Path
        The workspace folder (holds ``layers/`` and ``data/``).
    layer_id : str
        New layer id (lower-case letters, digits, ``_``).
    catchment : GeoDataFrame
        Output of :func:`delineate_catchment` (EPSG:4326).
    title : str, optional
        Layer title (default: from the outlet).
    overwrite : bool
        Replace an existing layer of that id.

    Returns
    -------
    tuple of Path
        The data file and the layer file written.

    Raises
    ------
    CatalogueError
        If ``layer_id`` is not a valid id.
    DataWriteError
        If the layer exists and ``overwrite`` is False, or writing fails.
    """
    row = catchment.iloc[0]
    source = f"derived/{layer_id}.geojson"
    notes = str(row.get("warnings", "") or "")
    spec_fields: dict[str, Any] = {
        "id": layer_id,
        "title": title or f"Catchment above ({row['outlet_lon']:.5f}, {row['outlet_lat']:.5f})",
        "description": (
            f"Delineated from a DEM ({row['dem_resolution_m']:g} m cells): "
            f"{row['area_km2']:g} km², outlet snapped {row['snap_distance_m']:g} m."
            + (f" Warning: {notes}" if notes else "")
        ),
        "kind": "catchment",
        "source": source,
        "crs": "EPSG:4326",
        "datum": "wgs84",
        "accuracy": "derived",
        "id_field": "fid",
        "label_field": "name",
        "evidences": ["catchments"],
        "attribution": str(row.get("source", "DEM delineation")),
        "licence": "derived by catchscope; the DEM's licence applies",
    }
    try:
        LayerSpec.model_validate(spec_fields)
    except ValueError as err:
        raise CatalogueError(f"Cannot add layer {layer_id!r}: {err}") from err
    root = Path(workspace_root)
    layer_file = root / "layers" / f"{layer_id}.toml"
    data_file = root / "data" / source
    for target in (layer_file, data_file):
        if target.exists() and not overwrite:
            raise DataWriteError(
                f"{target} already exists; pick another layer id or pass --overwrite."
            )
    frame = catchment.copy()
    frame["fid"] = layer_id if len(frame) == 1 else [f"{layer_id}_{i}" for i in range(len(frame))]
    write_layer(frame, data_file, overwrite=overwrite, RFC7946="YES")
    lines = [f"{key} = {_toml(value)}" for key, value in spec_fields.items()]
    lines += ["", "[style]", 'color = "#1f78b4"', "fill_opacity = 0.1", "weight = 2.5"]
    atomic_write_bytes(layer_file, ("\n".join(lines) + "\n").encode("utf-8"),
                       overwrite=overwrite)
    return data_file, layer_file
