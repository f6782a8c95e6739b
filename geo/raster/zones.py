"""Zonal statistics of a workspace's rasters over a site's parcels, catchment units and IWRAs.

:func:`zonal_stats` counts the cells of a raster whose centre lies in each zone (all
cells touching the zone when no centre does: tiny parcels on coarse grids); areas use
the projected cell size, or exact ellipsoidal cell areas per row for geographic
(lon/lat) rasters.  :func:`zonal_stats_for_layers` runs it for a catalogue raster over a
catalogue vector layer.

:func:`site_raster_stats` runs :func:`zonal_stats` for every raster layer
of the catalogue over the zones that matter to a site: its parcels, the catchment
units it relies on or affects, and the IWRAs screened for it (from
:func:`geo.scope.assess.assess_site`); without a site, every parcel, catchment unit and
IWRA of the workspace.  The answer is one long table (one row per raster and zone,
or per raster, zone and class for categorical rasters) that the app shows, the
``catchscope scope`` command prints (:func:`zonal_markdown`, :func:`render_zonal`)
and the exports write as a CSV and a GeoPackage attribute table.

Zones that hold no cell of a raster (outside its extent, or only nodata) are left
out; cells count when their centre lies in the zone, or every touched cell for
zones smaller than a cell (``cells_rule``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import rasterio.features
from rasterio.io import DatasetReader
from rasterio.windows import Window
from rich.console import Console
from rich.table import Table
from rich.text import Text

from geo.core.catalogue import LayerKind
from geo.core.errors import CRSError, GeoError
from geo.core.workspace import Workspace
from geo.raster.files import (
    DEFAULT_MAX_BYTES,
    RasterSource,
    cell_areas_m2,
    open_raster,
    require_crs,
    source_name,
    window_transform,
)
from geo.raster.overlay import is_categorical, raster_layer_path, raster_style_args

__all__ = [
    "ZONAL_COLUMNS",
    "ZONE_KINDS",
    "render_zonal",
    "site_raster_stats",
    "site_zones",
    "zonal_markdown",
    "zonal_records",
    "zonal_stats",
    "zonal_stats_for_layers",
]

#: Which features are zones, and what the tables call them.
ZONE_KINDS: dict[str, str] = {
    LayerKind.SITE.value: "site parcel",
    LayerKind.CATCHMENT_UNIT.value: "catchment unit",
    LayerKind.IWRA.value: "IWRA",
}

#: Columns of :func:`site_raster_stats` (continuous rows leave the class columns empty,
#: categorical rows the statistics).
ZONAL_COLUMNS = ["raster", "raster_title", "units", "type", "zone_type", "zone", "name",
                 "cells", "area_km2", "mean", "min", "max", "p10", "p50", "p90", "class",
                 "class_label", "share_pct", "cells_rule"]


# --- zonal statistics ------------------------------------------------------------------------


def _zone_window(
    dataset: DatasetReader, geom_bounds: tuple[float, float, float, float]
) -> Window | None:
    inverse = ~dataset.transform
    minx, miny, maxx, maxy = geom_bounds
    cols, rows = zip(*(inverse @ (x, y) for x in (minx, maxx) for y in (miny, maxy)), strict=True)
    col0, col1 = max(0, math.floor(min(cols))), min(dataset.width, math.ceil(max(cols)))
    row0, row1 = max(0, math.floor(min(rows))), min(dataset.height, math.ceil(max(rows)))
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def zonal_stats(
    raster: RasterSource,
    zones: gpd.GeoDataFrame,
    *,
    categorical: bool,
    classes: Mapping[float, str] | None = None,
    id_column: str = "fid",
    label_column: str = "name",
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> pd.DataFrame:
    """Statistics of a raster's band 1 inside each zone.

    A cell counts when its centre lies in the zone; a zone that contains no cell
    centre (smaller than a cell) uses every cell it touches instead, and says so
    in ``cells_rule``.  Nodata cells are left out.

    Parameters
    ----------
    raster : Path, str, bytes or DatasetReader
        The raster (see :func:`open_raster`); must declare a CRS.
    zones : GeoDataFrame
        Polygons in any CRS (transformed to the raster's CRS).
    categorical : bool
        Class shares (True) or continuous statistics (False).
    classes : dict, optional
        ``{value: label}`` to name classes (categorical only).
    id_column, label_column : str
        Columns naming each zone (the index is used when ``id_column`` is absent).
    max_bytes : int
        Memory limit checked right after opening.

    Returns
    -------
    DataFrame
        Continuous: one row per zone with ``zone, name, cells, area_km2, mean, min,
        max, p10, p50, p90, cells_rule``.  Categorical: one row per zone and class
        present with ``zone, name, class, label, cells, area_km2, share_pct,
        cells_rule`` (``share_pct`` of the zone's valid area; sums to 100).
    """
    if zones.crs is None:
        raise CRSError("The zones have no CRS; load them through the workspace (EPSG:4326).")
    with open_raster(raster, max_bytes=max_bytes) as dataset:
        name = source_name(raster, None)
        crs = require_crs(dataset, name)
        local = zones.to_crs(dataset.crs.to_wkt())
        ids = local[id_column] if id_column in local.columns else pd.Series(local.index)
        labels = local[label_column] if label_column in local.columns else ids
        rows: list[dict[str, Any]] = []
        for geom, zone_id, label in zip(local.geometry, ids, labels, strict=True):
            rows.extend(_zone_rows(dataset, crs, geom, str(zone_id), str(label),
                                   categorical=categorical, classes=classes or {}))
    columns = (
        ["zone", "name", "class", "label", "cells", "area_km2", "share_pct", "cells_rule"]
        if categorical
        else ["zone", "name", "cells", "area_km2", "mean", "min", "max", "p10", "p50", "p90",
              "cells_rule"]
    )
    return pd.DataFrame(rows, columns=columns)


def _zone_rows(
    dataset: DatasetReader,
    crs: pyproj.CRS,
    geom: Any,
    zone_id: str,
    label: str,
    *,
    categorical: bool,
    classes: Mapping[float, str],
) -> list[dict[str, Any]]:
    base = {"zone": zone_id, "name": label}
    window = None if geom is None or geom.is_empty else _zone_window(dataset, geom.bounds)
    values = np.empty(0)
    areas = np.empty(0)
    rule = "none"
    if window is not None:
        data = dataset.read(1, window=window, masked=True)
        transform = window_transform(dataset, window)
        for rule_name, touched in (("centre", False), ("touched", True)):
            inside = rasterio.features.geometry_mask(
                [geom], out_shape=data.shape, transform=transform, invert=True,
                all_touched=touched,
            )
            if inside.any():
                rule = rule_name
                break
        keep = inside & ~np.ma.getmaskarray(data)
        cell_area = np.broadcast_to(cell_areas_m2(transform, crs, data.shape[0]), data.shape)
        values = np.asarray(data.data[keep], dtype=np.float64)
        areas = cell_area[keep]
    if categorical:
        total = areas.sum()
        out = []
        for value in np.unique(values):
            hit = values == value
            out.append({**base, "class": value, "label": classes.get(value, f"{value:g}"),
                        "cells": int(hit.sum()), "area_km2": areas[hit].sum() / 1e6,
                        "share_pct": 100.0 * areas[hit].sum() / total, "cells_rule": rule})
        return out
    if values.size == 0:
        nan = float("nan")
        return [{**base, "cells": 0, "area_km2": 0.0, "mean": nan, "min": nan, "max": nan,
                 "p10": nan, "p50": nan, "p90": nan, "cells_rule": rule}]
    p10, p50, p90 = np.percentile(values, (10, 50, 90))
    return [{**base, "cells": int(values.size), "area_km2": areas.sum() / 1e6,
             "mean": float(values.mean()), "min": float(values.min()),
             "max": float(values.max()), "p10": float(p10), "p50": float(p50),
             "p90": float(p90), "cells_rule": rule}]




def zonal_stats_for_layers(
    workspace: Workspace,
    zones_layer: str,
    raster_layer: str,
    *,
    categorical: bool | None = None,
    classes: Mapping[float, str] | None = None,
) -> pd.DataFrame:
    """Zonal statistics of a catalogue raster over a catalogue vector layer.

    ``categorical=None`` decides from the raster (colour table / few integer values).
    Zones are identified by their workspace ``fid`` and ``name``; see :func:`zonal_stats`.
    """
    zones = workspace.load(zones_layer)
    path = raster_layer_path(workspace, raster_layer)
    if categorical is None:
        categorical = is_categorical(path)
    return zonal_stats(path, zones, categorical=categorical, classes=classes)


# --- a site's zones ------------------------------------------------------------------------


def site_zones(workspace: Workspace, scope_or_site: object | None = None) -> gpd.GeoDataFrame:
    """The zones of a site (or of the whole workspace), in EPSG:4326.

    Parameters
    ----------
    workspace : Workspace
        The opened workspace.
    scope_or_site : SiteScope, str or None
        A scope (its parcels, relied-on/affected catchment units and screened IWRAs),
        an AWS reference (its parcels, every catchment unit and IWRA) or None (all).

    Returns
    -------
    GeoDataFrame
        ``fid, name, kind, zone_type, geometry``; polygons only.
    """
    features = getattr(scope_or_site, "features", None)
    if isinstance(features, gpd.GeoDataFrame) and "kind" in features:
        frame = features.to_crs("EPSG:4326")
        frame = frame[frame["kind"].astype(str).isin(list(ZONE_KINDS))]
    else:
        parts = [workspace.load_kind(LayerKind(kind)) for kind in ZONE_KINDS]
        parts = [p for p in parts if not p.empty]
        if not parts:
            return gpd.GeoDataFrame({"fid": [], "name": [], "kind": [], "zone_type": []},
                                    geometry=[], crs="EPSG:4326")
        frame = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
        if isinstance(scope_or_site, str):
            parcels = frame["kind"] == LayerKind.SITE.value
            frame = frame[~parcels | (frame["aws_ref"] == scope_or_site)]
    frame = frame[frame.geometry.notna()]
    frame = frame[frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    frame = frame.drop_duplicates(subset="fid").reset_index(drop=True)
    out = gpd.GeoDataFrame(frame[["fid", "name", "kind"]].copy(), geometry=frame.geometry.values,
                           crs="EPSG:4326")
    out["zone_type"] = out["kind"].map(ZONE_KINDS)
    order = {kind: i for i, kind in enumerate(ZONE_KINDS)}
    return out.sort_values(by="kind", key=lambda s: s.map(order), kind="stable").reset_index(
        drop=True)


def site_raster_stats(
    workspace: Workspace,
    scope_or_site: object | None = None,
    *,
    rasters: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Zonal statistics of every raster layer over a site's zones (one long table).

    Parameters
    ----------
    workspace : Workspace
        The opened workspace.
    scope_or_site : SiteScope, str or None
        See :func:`site_zones`.
    rasters : sequence of str, optional
        Raster layer ids (default: every raster layer of the catalogue).

    Returns
    -------
    DataFrame
        Columns :data:`ZONAL_COLUMNS`; ``type`` is ``continuous`` (``mean … p90`` in the
        raster's ``units``) or ``categorical`` (``class``, ``class_label``,
        ``share_pct`` of the zone's valid area, ``area_km2`` of the class).  Empty
        (with those columns) when the workspace has no raster or no zone.

    Raises
    ------
    GeoError
        If a raster cannot be read (the message names it).
    """
    ids = [s.id for s in workspace.specs.values() if s.is_raster] if rasters is None \
        else list(rasters)
    zones = site_zones(workspace, scope_or_site)
    if not ids or zones.empty:
        return pd.DataFrame(columns=ZONAL_COLUMNS)
    zone_types = dict(zip(zones["fid"].astype(str), zones["zone_type"], strict=True))
    tables = []
    for layer_id in ids:
        spec = workspace.spec(layer_id)
        path = workspace.source_path(spec)
        style = raster_style_args(spec)
        try:
            categorical = style["categorical"]
            if categorical is None:
                categorical = is_categorical(path)
            labels = {value: item if isinstance(item, str) else item[0]
                      for value, item in (style["classes"] or {}).items()}
            stats = zonal_stats(path, zones, categorical=categorical, classes=labels)
        except GeoError as err:
            raise GeoError(f"Raster layer {layer_id}: {err}") from err
        stats = stats[stats["cells"] > 0].copy()
        if stats.empty:
            continue
        if categorical:
            stats = stats.rename(columns={"label": "class_label"})
        stats.insert(0, "raster", layer_id)
        stats.insert(1, "raster_title", spec.title)
        stats.insert(2, "units", spec.raster.units)
        stats.insert(3, "type", "categorical" if categorical else "continuous")
        stats.insert(4, "zone_type", stats["zone"].map(zone_types))
        tables.append(stats)
    if not tables:
        return pd.DataFrame(columns=ZONAL_COLUMNS)
    return pd.concat(tables, ignore_index=True).reindex(columns=ZONAL_COLUMNS)


def zonal_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-able rows of :func:`site_raster_stats` (NaN → None; empty columns dropped)."""
    rows = []
    for row in table.to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for key, value in row.items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            clean[key] = value.item() if hasattr(value, "item") else value
        rows.append(clean)
    return rows


def _number(value: Any, digits: str = ",.1f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(float(value), digits)


def _display_rows(table: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    """(zone type, zone name, area, statistic) lines for the terminal and Markdown."""
    out = []
    for row in table.to_dict(orient="records"):
        units = f" {row['units']}" if row["units"] else ""
        if row["type"] == "continuous":
            stat = (f"mean {_number(row['mean'])}{units}, min {_number(row['min'])}, "
                    f"max {_number(row['max'])}, p10–p90 {_number(row['p10'])}–"
                    f"{_number(row['p90'])}")
        else:
            stat = (f"{row['class_label']}: {_number(row['share_pct'])} % "
                    f"({_number(row['area_km2'], ',.3f')} km²)")
        if row["cells_rule"] == "touched":  # the cells' area would overstate a small zone
            area = f"{int(row['cells'])} cell(s) touched (zone smaller than a cell)"
        else:
            area = f"{_number(row['area_km2'], ',.3f')} km² ({int(row['cells']):,} cells)"
        out.append((str(row["zone_type"]), f"{row['name']} ({row['zone']})", area, stat))
    return out


def zonal_markdown(table: pd.DataFrame, escape: Any = str) -> str:
    """A Markdown section (one table per raster); ``escape`` makes data values safe."""
    if table.empty:
        return ""
    lines = ["## Rasters: zonal statistics", "",
             "Per site parcel, catchment unit and IWRA (cells whose centre lies in the zone; "
             "every touched cell for zones smaller than a cell).", ""]
    for layer_id, group in table.groupby("raster", sort=False):
        title = group["raster_title"].iloc[0]
        lines += [f"### {escape(title)} ({escape(layer_id)})", "",
                  "| zone type | zone | area | statistics |", "|---|---|---|---|"]
        lines += [f"| {escape(a)} | {escape(b)} | {escape(c)} | {escape(d)} |"
                  for a, b, c, d in _display_rows(group)]
        lines.append("")
    return "\n".join(lines)


def render_zonal(table: pd.DataFrame, console: Console) -> None:
    """Print one rich table per raster (data values as plain text, never markup)."""
    for layer_id, group in table.groupby("raster", sort=False):
        out = Table(title=f"{group['raster_title'].iloc[0]} ({layer_id}): zonal statistics")
        for column in ("zone type", "zone", "area", "statistics"):
            out.add_column(column)
        for cells in _display_rows(group):
            out.add_row(*(Text(c) for c in cells))
        console.print(out)
