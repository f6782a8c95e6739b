"""The columnar portfolio engine: GeoParquet layers read in part, joins in arrays, one walk.

``catchscope scope --all`` against a continent's catchment units (a million) and
protected areas (hundreds of thousands) cannot load every layer whole.  Here a catchment
unit or IWRA layer stored as GeoParquet (:mod:`geo.core.geoparquet`, Hilbert-sorted with
bbox columns) is read in part:

* **units** — the attribute columns of every unit (id, name, ``next_down``, level,
  accuracy: the network, walked over the whole graph), and the geometry only of the
  units whose box comes near a parcel or a water-chain feature (row groups elsewhere are
  skipped, rows elsewhere never decoded).  The scene's unit frame still has every unit,
  in file order, with an empty geometry where none was read, so every join below sees
  the same rows as the reference engine;
* **IWRAs** — only those within the largest band of some site.

Then the portfolio's joins run vectorised: parcels × units (one STRtree query), sites ×
IWRAs (:mod:`geo.scope.screening`: bracketed distances, exact only near a band's edge,
bounded memory), water bodies × units for the chain's outlet units (one query for all),
and each unit's way down ``next_down`` to its sink is walked once and shared by every
chain that reaches it (:class:`geo.scope.flows.UnitTails`).  Other layers are small and
read whole.  The rows are built by :func:`geo.scope.summary.portfolio_table`, as for the
reference engine; a test compares the two row by row.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyproj
import shapely

from geo.core.catalogue import LayerKind, LayerSpec
from geo.core.crs import to_wgs84
from geo.core.errors import CatalogueError, DataReadError, GeoError, ScopeError
from geo.core.geoparquet import (
    ParquetLayer,
    is_parquet_path,
    open_parquet_layer,
    read_geoparquet_columns,
    read_geoparquet_near,
)
from geo.core.workspace import STANDARD_COLUMNS, Workspace, check_unit_columns, standardise
from geo.scope.checklist import evidence_of
from geo.scope.flows import (
    WATER_BODY_KINDS,
    UnitTails,
    WaterChain,
    build_flow_graph,
    precompute_outlets,
    water_chain,
)
from geo.scope.scene import Scene, _bands, containing_catchments
from geo.scope.screening import (
    count_pairs,
    count_site_iwras,
    counts_table,
    prepare_sites,
    query_boxes_of,
)
from geo.scope.summary import Progress, areas_by_site, overlaps_by_site, portfolio_table
from geo.scope.units import parcel_unit_overlaps, relied_on_affected

__all__ = ["BIG_KINDS", "PortfolioScene", "assess_portfolio", "big_layer_columns",
           "load_portfolio_scene", "run_portfolio"]

#: Layer kinds read in part when stored as GeoParquet (the others are small).
BIG_KINDS = (LayerKind.CATCHMENT_UNIT, LayerKind.IWRA)
_CHAIN_KINDS = (LayerKind.WATER_SOURCE, LayerKind.FACILITY, LayerKind.DISCHARGE_POINT,
                LayerKind.PIPE, LayerKind.RIVER, LayerKind.LAKE)
#: How far (degrees) a unit's box may be from a chain feature and still be read: a point
#: computed on a river (where a discharge enters it) may lie off the line by rounding.
_UNIT_MARGIN_DEG = 1e-6
#: Widening (degrees) of query boxes sent to a layer in another CRS or datum (GCJ-02 and
#: BD-09 shift positions by up to about a kilometre).
_DATUM_MARGIN_DEG = 0.02
_EMPTY = shapely.Point()

# Reads rows of a big layer near query geometries (in the file's CRS) and their positions
# in the layer: the local reader, or the dask engine's.
RowReader = Callable[[ParquetLayer, np.ndarray, float, list[str]],
                     tuple[gpd.GeoDataFrame, np.ndarray]]


def _read_near(layer: ParquetLayer, geometries: np.ndarray, distance: float,
               columns: list[str]) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    return read_geoparquet_near(layer, geometries, distance=distance, columns=columns)


@dataclass(eq=False)
class PortfolioScene:
    """A :class:`Scene` for the portfolio, with the big layers read only in part.

    ``scene.features`` holds the small layers only; ``scene.units`` every unit (geometry
    where read); ``scene.iwras`` the IWRAs read near the sites (all of a small layer; of
    the GeoParquet ones only when asked).  ``iwra_layers`` are the GeoParquet IWRA
    layers (for engines that count them apart).
    """

    scene: Scene
    iwra_layers: dict[str, ParquetLayer] = field(default_factory=dict)
    #: The IWRA counts, begun as soon as the IWRAs were read: (site refs, counts).
    counting: Future[tuple[np.ndarray, np.ndarray]] | None = None


def _parquet(ws: Workspace, spec: LayerSpec) -> ParquetLayer | None:
    if spec.kind not in BIG_KINDS or not is_parquet_path(ws.source_path(spec)):
        return None
    return open_parquet_layer(ws.source_path(spec))


def big_layer_columns(spec: LayerSpec, layer: ParquetLayer, extra: Iterable[str]) -> list[str]:
    """The file columns a big layer's standard columns (and ``extra``) are made of.

    First the checks its loader makes: the id field, a unit's next_down and level, no
    feature without geometry.

    Raises
    ------
    CatalogueError, DataReadError
        As :meth:`geo.core.workspace.Workspace.load` would for the whole layer.
    """
    where = f"layer {spec.id!r} ({spec.source})"
    if spec.id_field not in layer.columns:
        raise CatalogueError(
            f"{spec.id}.toml: id_field {spec.id_field!r} is not a column of {spec.source}; "
            f"columns are: {', '.join(layer.columns)}.")
    if spec.kind == LayerKind.CATCHMENT_UNIT:
        check_unit_columns(spec, layer.columns)
    wanted = [spec.id_field, spec.label_field, spec.site_field, "accuracy", "source",
              "datum", *extra]
    missing_geometry = _null_geometries(layer)
    if missing_geometry:
        raise DataReadError(f"{where}: features without geometry: "
                            f"{', '.join(missing_geometry)}.")
    return [c for c in dict.fromkeys(wanted) if c and c in layer.columns]


def _null_geometries(layer: ParquetLayer) -> list[str]:
    """Where the first features without geometry are, from the files' statistics."""
    found: list[str] = []
    for part in layer.parts:
        meta = pq.ParquetFile(part.path).metadata
        column = next((j for j in range(meta.num_columns)
                       if meta.schema.column(j).path == layer.geometry), None)
        if column is None:
            continue
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(column).statistics
            if stats is not None and stats.null_count:
                found.append(f"{stats.null_count} in {part.path.name} row group {g}")
    return found[:5]


def _standard(frame: pd.DataFrame, spec: LayerSpec, geometry: Any, crs: Any) -> gpd.GeoDataFrame:
    """Standard columns of rows read from a GeoParquet layer, as its loader makes them."""
    return standardise(gpd.GeoDataFrame(frame, geometry=geometry, crs=crs), spec)


def _to_file_crs(geoms: np.ndarray, layer: ParquetLayer, spec: LayerSpec,
                 distance_deg: float) -> tuple[np.ndarray, float]:
    """Query geometries (EPSG:4326) in the file's CRS, widened where it is another.

    A layer in lon/lat WGS84 takes them as they are; any other CRS or datum gets boxes
    widened by :data:`_DATUM_MARGIN_DEG` and transformed (a superset: the joins test the
    real geometries afterwards).
    """
    lonlat = layer.crs.equals(pyproj.CRS.from_epsg(4326), ignore_axis_order=True)
    if lonlat and spec.datum.value in ("wgs84", "cgcs2000"):
        return geoms, distance_deg
    pad = distance_deg + _DATUM_MARGIN_DEG
    bounds = shapely.bounds(geoms) + np.array([-pad, -pad, pad, pad])
    transformer = pyproj.Transformer.from_crs("EPSG:4326", layer.crs, always_xy=True)
    boxes = [transformer.transform_bounds(b[0], b[1], b[2], b[3], densify_pts=21)
             for b in bounds]
    return shapely.box(*np.asarray(boxes, dtype=float).T), 0.0


def _rows_near(spec: LayerSpec, layer: ParquetLayer, geoms: np.ndarray, distance_deg: float,
               columns: list[str], reader: RowReader) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Rows of a big layer near ``geoms`` in EPSG:4326, as read, and their positions."""
    query, distance = _to_file_crs(geoms, layer, spec, distance_deg)
    part, rows = reader(layer, query, distance, columns)
    moved = to_wgs84(part, declared_crs=spec.crs, datum=spec.datum,
                     where=f"layer {spec.id!r} ({spec.source})")
    return moved, np.asarray(rows, dtype=np.int64)


def _owned_rows(spec: LayerSpec, layer: ParquetLayer) -> gpd.GeoDataFrame | None:
    """A big layer's features that carry a site's aws_ref (evidence of that site)."""
    if not spec.site_field or spec.site_field not in layer.columns:
        return None
    columns = big_layer_columns(spec, layer, ())
    table = read_geoparquet_columns(layer, columns).to_pandas()
    frame = _standard(table, spec, np.full(len(table), _EMPTY, dtype=object), "EPSG:4326")
    owned = frame[frame["aws_ref"].notna()]
    return owned if not owned.empty else None


def load_portfolio_scene(ws: Workspace, bands_km: Iterable[float] | None, *,
                         reader: RowReader = _read_near,
                         read_iwras: bool = True) -> PortfolioScene:
    """Load a workspace for the portfolio, its big GeoParquet layers only in part.

    Parameters
    ----------
    ws : Workspace
        The opened workspace.
    bands_km : iterable of float or None
        IWRA bands; None for the workspace's.
    reader : callable, optional
        Reads a big layer's rows near query geometries (the dask engine passes its own).
    read_iwras : bool
        Read the GeoParquet IWRA layers' rows near the sites into ``scene.iwras``; the
        dask engine counts them on its workers instead.

    Returns
    -------
    PortfolioScene

    Raises
    ------
    GeoError
        As :func:`geo.scope.scene.load_scene` (bad bands, broken unit links, bad files).
    """
    cfg = ws.settings.scope
    bands = _bands(bands_km, cfg.buffer_bands_km)
    tolerance = cfg.onsite_tolerance_m
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ScopeError(f"The on-site tolerance must be ≥ 0 m, got {tolerance}.")
    small, big, declared, empty = _open_layers(ws)
    features = _concat(list(small.values()))

    def of(*kinds: LayerKind) -> gpd.GeoDataFrame:
        return features[features["kind"].isin([k.value for k in kinds])].reset_index(drop=True)

    parcels = of(LayerKind.SITE)
    located = parcels[parcels["aws_ref"].notna()]
    chain = of(*_CHAIN_KINDS)
    near_units = np.concatenate([np.asarray(located.geometry.values),
                                 np.asarray(chain.geometry.values)])
    # the IWRAs are read, and counted, in a thread while this one reads the units and
    # builds their network (Python): the counts are ready when the portfolio needs them
    pool = ThreadPoolExecutor(max_workers=1)
    reading = pool.submit(_iwras, ws, small, big if read_iwras else {}, located,
                          max(bands) * 1000.0, reader)
    counting = pool.submit(_count_read, reading, located, bands, tolerance) \
        if read_iwras else None
    pool.shutdown(wait=False)
    units = _units(ws, small, big, near_units, reader)
    iwras = reading.result()
    level = ws.settings.catchment_level
    level_units = units
    if not units.empty and (units["level"] == level).any() and not (
            units["level"] == level).all():
        level_units = units[units["level"] == level].reset_index(drop=True)
    owned = _owned(ws, small, big, units)
    site_names = {ref: rec.site_name for ref, rec in ws.records.items()}
    for ref in owned["aws_ref"].dropna().astype(str).unique():
        site_names.setdefault(ref, ref)
    parcel_sites = dict(zip(parcels["fid"].astype(str), parcels["aws_ref"], strict=True))
    graph = build_flow_graph(chain, site_names=site_names,
                             parcels={k: str(v) for k, v in parcel_sites.items() if v},
                             units=level_units if not level_units.empty else None,
                             inference_tolerance_m=cfg.inference_tolerance_m)
    scene = Scene(workspace=ws, bands_km=bands, onsite_tolerance_m=tolerance,
                  inference_tolerance_m=cfg.inference_tolerance_m, level=level,
                  features=features, parcels=parcels, units=units, level_units=level_units,
                  iwras=iwras, catchments=of(LayerKind.CATCHMENT), graph=graph,
                  site_names=site_names, declared=declared, empty_layers=empty)
    for ref, evidence in zip(owned["aws_ref"].tolist(), evidence_of(owned), strict=True):
        scene.owned.setdefault(str(ref), []).append(evidence)
    scene.non_polygons = set(parcels.loc[~parcels.geom_type.isin(["Polygon", "MultiPolygon"]),
                                         "fid"].astype(object).tolist())
    return PortfolioScene(scene, {k: v for k, v in big.items()
                                  if ws.spec(k).kind == LayerKind.IWRA}, counting)


def _open_layers(ws: Workspace) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, ParquetLayer],
                                          dict[str, list[str]], dict[str, list[str]]]:
    """Small layers loaded whole, big GeoParquet ones opened; declared and empty ids."""
    small: dict[str, gpd.GeoDataFrame] = {}
    big: dict[str, ParquetLayer] = {}
    declared: dict[str, list[str]] = {}
    empty: dict[str, list[str]] = {}
    for spec in ws.specs.values():
        if spec.is_raster:
            continue
        declared.setdefault(spec.kind.value, []).append(spec.id)
        layer = _parquet(ws, spec)
        if layer is not None:
            if layer.num_rows == 0:
                empty.setdefault(spec.kind.value, []).append(spec.id)
            else:
                big[spec.id] = layer
            continue
        frame = ws.load(spec.id)
        if frame.empty:
            empty.setdefault(spec.kind.value, []).append(spec.id)
        else:
            small[spec.id] = frame
    return small, big, declared, empty


def _owned(ws: Workspace, small: dict[str, gpd.GeoDataFrame], big: dict[str, ParquetLayer],
           units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Every feature carrying a site's aws_ref, big layers included, in catalogue order."""
    frames = []
    for spec in ws.specs.values():
        if spec.id in small:
            frame = small[spec.id]
            frames.append(frame[frame["aws_ref"].notna()])
        elif spec.id in big and spec.kind == LayerKind.CATCHMENT_UNIT:
            frames.append(units[(units["layer"] == spec.id) & units["aws_ref"].notna()])
        elif spec.id in big:
            extra = _owned_rows(spec, big[spec.id])
            if extra is not None:
                frames.append(extra)
    return _concat([f for f in frames if not f.empty])


def _concat(frames: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Frames one after the other (EPSG:4326), aws_ref None where absent."""
    if frames:
        out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry",
                               crs="EPSG:4326")
    else:
        out = gpd.GeoDataFrame({c: pd.Series(dtype="object") for c in STANDARD_COLUMNS},
                               geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")
    out["aws_ref"] = out["aws_ref"].astype("object").where(out["aws_ref"].notna(), None)
    return out


def _units(ws: Workspace, small: dict[str, gpd.GeoDataFrame], big: dict[str, ParquetLayer],
           near: np.ndarray, reader: RowReader) -> gpd.GeoDataFrame:
    """Every catchment unit in catalogue order, geometry where a query geometry is near."""
    frames = []
    for spec in ws.layers_of_kind(LayerKind.CATCHMENT_UNIT):
        if spec.id in small:
            frames.append(small[spec.id])
        elif spec.id in big:
            layer = big[spec.id]
            columns = big_layer_columns(spec, layer, ("next_down", "level"))
            table = read_geoparquet_columns(layer, columns).to_pandas()
            geometry = np.full(len(table), _EMPTY, dtype=object)
            if len(near):
                found, rows = _rows_near(spec, layer, near, _UNIT_MARGIN_DEG, [], reader)
                geometry[rows] = np.asarray(found.geometry.values)
            frames.append(_standard(table, spec, geometry, "EPSG:4326"))
    return _concat(frames) if frames else _concat([]).iloc[:0]


def _iwras(ws: Workspace, small: dict[str, gpd.GeoDataFrame], big: dict[str, ParquetLayer],
           located: gpd.GeoDataFrame, reach_m: float, reader: RowReader) -> gpd.GeoDataFrame:
    """IWRAs of small layers, and those of big layers within ``reach_m`` of a site."""
    boxes = np.array([], dtype=object)
    if not located.empty:
        bounds = located.geometry.bounds.groupby(located["aws_ref"].astype(str).to_numpy())
        per_site = bounds.agg({"minx": "min", "miny": "min", "maxx": "max", "maxy": "max"})
        boxes = query_boxes_of(per_site.to_numpy(), reach_m)
    frames = []
    for spec in ws.layers_of_kind(LayerKind.IWRA):
        if spec.id in small:
            frames.append(small[spec.id])
        elif spec.id in big and len(boxes):
            layer = big[spec.id]
            found, _ = _rows_near(spec, layer, boxes, 0.0, big_layer_columns(spec, layer, ()),
                                  reader)
            frames.append(_standard(pd.DataFrame(found.drop(columns="geometry")), spec,
                                    found.geometry.to_numpy(), "EPSG:4326"))
    return _concat([f for f in frames if not f.empty])


Counter = Callable[[Scene, gpd.GeoDataFrame, list[str]], dict[str, dict[str, int]]]


def _thresholds(bands: Iterable[float], tolerance: float) -> tuple[list[float], list[float]]:
    """The bands sorted, and the distances counted (as geo.scope.iwra.count_iwras does)."""
    ordered = sorted(float(b) for b in bands)
    return ordered, [min(tolerance, ordered[-1] * 1000.0), *(b * 1000.0 for b in ordered)]


def _count_read(reading: Future[gpd.GeoDataFrame], located: gpd.GeoDataFrame,
                bands: Iterable[float], tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """In the reading thread: the IWRAs just read, counted per site and threshold."""
    sites = prepare_sites(located)
    _, thresholds = _thresholds(bands, tolerance)
    return sites.refs, count_pairs(sites, reading.result().geometry, thresholds,
                                   workers=min(2, os.cpu_count() or 1))


def _count_local(scene: Scene, located: gpd.GeoDataFrame,
                 refs: list[str]) -> dict[str, dict[str, int]]:
    workers = min(2, os.cpu_count() or 1)
    return count_site_iwras(located, scene.iwras, bands_km=scene.bands_km,
                            onsite_tolerance_m=scene.onsite_tolerance_m, site_refs=refs,
                            workers=workers).to_dict(orient="index")


def run_portfolio(portfolio: PortfolioScene, progress: Progress | None = None, *,
                  counter: Counter = _count_local) -> pd.DataFrame:
    """The portfolio table of a loaded :class:`PortfolioScene` (see the module docstring).

    ``counter`` counts the IWRAs per site and band (the dask engine passes its own).
    """
    scene = portfolio.scene
    refs = sorted(scene.site_names)
    total = len(refs) + 3
    begun = portfolio.counting
    if counter is _count_local and begun is not None:  # the counts begun at loading

        def counter(scene: Scene, located: gpd.GeoDataFrame,
                    refs: list[str]) -> dict[str, dict[str, int]]:
            bands, _ = _thresholds(scene.bands_km, scene.onsite_tolerance_m)
            return counts_table(*begun.result(), bands, refs).to_dict(orient="index")

    def tick(done: int, message: str) -> None:
        if progress is not None:
            progress(done, total, message)

    tick(0, "catchment units")
    located = scene.parcels[scene.parcels["aws_ref"].notna()]
    # the spatial joins (mostly in GEOS and numpy, which let go of the GIL) run in a thread
    # of their own while this one walks the chains (Python): two cores, both busy
    for frame in (scene.level_units, scene.graph.units):
        if frame is not None and not frame.empty:
            _ = frame.sindex  # built once, here, not by two threads at once

    def joins() -> tuple[dict[str, list[Any]], dict[str, float]]:
        return (overlaps_by_site(parcel_unit_overlaps(located, scene.level_units)),
                areas_by_site(located))

    with ThreadPoolExecutor(max_workers=2) as pool:
        spatial = pool.submit(joins)
        counting = pool.submit(counter, scene, located, refs)
        containing = containing_catchments(scene, located)
        tick(1, "IWRAs")
        tick(2, "water chains")
        chains, failed = _chains(scene, refs, lambda k, ref: tick(3 + k, ref))
        units = relied_on_affected(scene, chains, walk=False)
        overlaps, areas = spatial.result()
        table = portfolio_table(scene, refs, overlaps=overlaps, areas=areas,
                                containing=containing, counts=counting.result, chains=chains,
                                failed=failed, units=units)
    tick(total, "done")
    return table


def _chains(scene: Scene, refs: list[str], tick: Callable[[int, str], None]
            ) -> tuple[dict[str, WaterChain], dict[str, str]]:
    """Every site's water chain; the inference and the outlet units found for all at once."""
    graph = scene.graph
    graph.nearest_water_bodies([
        fid for fid, info in graph.info.items()
        if info.kind in ("water_source", "discharge_point", "facility", "pipe")
        and (fid not in graph.out_edges or fid not in graph.in_edges)])
    precompute_outlets(graph, [fid for fid, info in graph.info.items()
                               if info.kind in WATER_BODY_KINDS])
    tails = UnitTails(graph) if UnitTails.applies(graph) else None
    chains: dict[str, WaterChain] = {}
    failed: dict[str, str] = {}
    for k, ref in enumerate(refs):
        try:
            chains[ref] = water_chain(graph, ref, tails=tails)
        except GeoError as err:  # this site's links are broken; the others go on
            failed[ref] = str(err)
        if k % 64 == 0 or k == len(refs) - 1:  # a progress bar needs no 10,000 redraws
            tick(k, ref)
    return chains, failed


def assess_portfolio(ws: Workspace, *, bands_km: Iterable[float] | None = None,
                     progress: Progress | None = None) -> pd.DataFrame:
    """The portfolio table by the columnar engine (see :func:`geo.scope.portfolio.assess_all`).

    Raises
    ------
    GeoError
        For problems of the whole workspace, as the reference engine.
    """
    return run_portfolio(load_portfolio_scene(ws, bands_km), progress)
