"""Catchment delineation from a DEM and an outlet.

:func:`condition_dem` reads a GeoTIFF DEM safely (:func:`geo.raster.overlay.open_raster`) and
conditions it with :mod:`geo.raster.terrain` (fill pits and depressions, resolve flats, D8,
accumulation) into a :class:`FlowModel`; :func:`snap_outlet` moves the requested
outlet to the highest-accumulation cell within ``snap_distance_m``; the upstream
cells are polygonised with :func:`rasterio.features.shapes`.

:func:`delineate_catchment` runs it all and returns a one-row GeoDataFrame in
EPSG:4326 with the area (metric CRS), the DEM resolution, the requested and the
snapped outlet, and warnings (:class:`~geo.core.errors.CoarseDEMWarning`,
:class:`~geo.core.errors.FlatTerrainWarning`) when the answer should not be trusted:
on a plain of canals and polders such as Kunshan, water goes where channels and
sluices send it, not where a DEM slopes.  DEM values are taken as metres.
:func:`delineate_from_click` is the same for the app (warnings in the result);
:func:`add_catchment_layer` puts a result in a workspace's catalogue.
"""

from __future__ import annotations

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

from geo.core.catalogue import LayerSpec, toml_value
from geo.core.crs import metric_crs, to_wgs84
from geo.core.errors import (
    CatalogueError,
    CoarseDEMWarning,
    CRSError,
    DataReadError,
    DataWriteError,
    DelineationError,
    DelineationWarning,
    FlatTerrainWarning,
)
from geo.core.io import atomic_write_bytes, write_layer
from geo.raster.overlay import DEFAULT_MAX_BYTES, RasterSource, open_raster
from geo.raster.terrain import fill_depressions, flow_accumulation, flow_directions, upstream_mask

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

_GEOD = pyproj.Geod(ellps="WGS84")


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
        A single-band GeoTIFF DEM in metres, any CRS (see :func:`geo.raster.overlay.open_raster`).
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
        If the point lies outside the DEM or on nodata with nothing valid nearby, or if
        the outlet would move farther than ``snap_distance_m`` (> 0): the cell under the
        point is larger than the snap distance, its centre farther away.
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
    _check_move(model, row, snap_distance_m, float(distance[pick]))
    return Outlet(float(lon), float(lat), float(lons[pick]), float(lats[pick]),
                  float(distance[pick]), int(flat_index[pick]), int(accumulation[pick]))


def _check_move(model: FlowModel, row: int, snap_distance_m: float, moved_m: float) -> None:
    """Refuse an outlet that would move farther than the snap distance asked for.

    Only the cell under the point can lie beyond the snap distance (its centre is up to
    half a cell diagonal away): on a DEM whose cells are larger than the snap distance the
    outlet would silently jump kilometres.  0 asks for the cell under the point as it is.
    """
    if snap_distance_m <= 0 or moved_m <= snap_distance_m:
        return
    raise DelineationError(
        f"The outlet would move {moved_m:,.0f} m, to the centre of the DEM cell under it, "
        f"more than the snap distance of {snap_distance_m:,.0f} m: DEM {model.name} has "
        f"cells of about {model.resolution_m(row):,.0f} m, too coarse to place an outlet "
        f"within {snap_distance_m:,.0f} m. Use a finer DEM (cells well under the snap "
        f"distance), raise the snap distance to at least {math.ceil(moved_m):,} m, or set it "
        "to 0 to take the cell under the point as it is."
    )


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
    lines = [f"{key} = {toml_value(value)}" for key, value in spec_fields.items()]
    lines += ["", "[style]", 'color = "#1f78b4"', "fill_opacity = 0.1", "weight = 2.5"]
    atomic_write_bytes(layer_file, ("\n".join(lines) + "\n").encode("utf-8"),
                       overwrite=overwrite)
    return data_file, layer_file
