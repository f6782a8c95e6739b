"""Map data: layers clipped, simplified, rounded and escaped (part of :mod:`geo.maps.build`).

The private steps of :func:`geo.maps.build.prepare_map` and the plain, picklable
dataclasses they produce (:class:`MapData`, :class:`LayerData`, :class:`ChainLine`).

Security: folium renders popup and tooltip content as HTML and puts some text inside
JavaScript template literals, so every value that comes from data goes through
:func:`escape_text` before it reaches folium.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.core.catalogue import AccuracyClass, Datum, LayerKind, LayerSpec
from geo.core.crs import convert_datum
from geo.core.errors import GeoError, SiteNotFoundError
from geo.core.markup import html_text
from geo.core.styles import css_colour, svg_dash
from geo.core.workspace import Workspace
from geo.maps.assets import BASEMAPS, Basemap

__all__ = ["CLUSTER_THRESHOLD", "ChainLine", "LayerData", "MapData", "escape_text",
           "feature_ref"]

#: Points beyond this many in one layer are clustered (MarkerCluster).
CLUSTER_THRESHOLD = 200
#: Simplification tolerance as a fraction of the map extent: ≈ ⅓ pixel at the fitted zoom
#: of an 800 px map, so one zoom level in still looks exact.
_TOLERANCE_FRACTION = 1 / 2500
#: Context layers (admin boundaries) are simplified this much more and clipped to the view.
_CONTEXT_FACTOR = 3.0
#: How far beyond the fitted view context features are kept (fraction of the view span).
_CONTEXT_MARGIN = 0.5
_DECIMALS = 6
#: Illustrative features are dotted (layer styles use dashes: admin lines, pipes, IWRAs).
_ILLUSTRATIVE_DASH = "1 5"


def escape_text(value: object) -> str:
    """Make a value from data safe to show inside folium HTML and JS template literals.

    :func:`geo.core.markup.html_text`: HTML special characters become entities, and so
    do the backtick, ``$``, backslash and braces (JavaScript template literals, Jinja).
    ``None`` and NaN become the empty string.
    """
    return html_text(value)


def feature_ref(layer_id: str, position: int) -> str:
    """Return the id a map feature carries back on click: ``"<layer id>:<row position>"``.

    Layer ids are validated ``[a-z0-9_]``, so the reference is safe and unambiguous;
    the app resolves it against the layer's frame to show the raw attributes.
    """
    return f"{layer_id}:{position}"


@dataclass(frozen=True)
class LayerData:
    """One layer ready to draw: escaped GeoJSON plus how to draw it."""

    layer_id: str
    title: str
    kind: str
    geometry_type: str  # "point", "line" or "polygon" (the layer's dominant type)
    geojson: dict[str, Any]
    style: dict[str, Any]
    n_features: int
    n_illustrative: int
    cluster: bool
    show: bool
    #: ((south, west), (north, east)) of the drawn geometries.
    bounds: tuple[tuple[float, float], tuple[float, float]] = ((0.0, 0.0), (0.0, 0.0))


@dataclass(frozen=True)
class ChainLine:
    """A directed edge of the water chain, from ``start`` to ``end`` (lat, lon)."""

    start: tuple[float, float]
    end: tuple[float, float]
    label: str  # escaped
    kind: str


@dataclass(frozen=True)
class MapData:
    """Everything :func:`render_map` needs; plain data (cacheable, picklable)."""

    title: str
    bounds: tuple[tuple[float, float], tuple[float, float]]  # ((south, west), (north, east))
    layers: list[LayerData]
    chain: list[ChainLine] = field(default_factory=list)
    basemap: str = "none"
    display_datum: Datum = Datum.WGS84
    focus_ref: str | None = None
    notes: list[str] = field(default_factory=list)
    #: (lat, lon, escaped label) of each site, pinned so a site stays visible at any zoom.
    pins: list[tuple[float, float, str]] = field(default_factory=list)
    #: Raster overlays (``geo.maps.rasters.RasterOverlayData``), drawn under the vectors.
    rasters: list[Any] = field(default_factory=list)
    #: The view in WGS84, before any display shift: what overlays added later are cut to.
    view: tuple[tuple[float, float], tuple[float, float]] | None = None
    #: What the map's "Zoom to" menu offers: (id, escaped label, bounds in display datum),
    #: the site first when one is in focus (``"site"``), then the water chain (``"chain"``),
    #: each layer (``"layer:<id>"``) and all of them (``"all"``).
    extents: list[tuple[str, str, tuple[tuple[float, float], tuple[float, float]]]] = field(
        default_factory=list)
    #: What a fresh map frames (display datum; default: ``bounds``): the site in focus.
    fit: tuple[tuple[float, float], tuple[float, float]] | None = None
    #: Baseline water stress rows of the legend: (colour, escaped text) (geo.maps.stress).
    water_stress: list[tuple[str, str]] = field(default_factory=list)
    #: Where the browser keeps the view across re-renders of the same map (basemap, mode,
    #: layers, save, undo): maps with the same key open where the last one was left.
    #: ``None`` (the standalone export): every page load frames ``fit``.
    view_key: str | None = None
    #: The ``ref`` of a feature to highlight when the map opens (found by the app's search).
    selected: str | None = None
    #: The language of the legend and the map's controls (a key of
    #: ``geo.core.i18n.LANGUAGES``); data (titles, names) is drawn as it is.
    lang: str = "en"



def _site_pins(
    workspace: Workspace, focus_ref: str | None, datum: Datum,
) -> list[tuple[float, float, str]]:
    sites = workspace.load_kind(LayerKind.SITE)
    if sites.empty:
        return []
    sites = sites[sites["aws_ref"].notna()]
    if focus_ref is not None:
        sites = sites[sites["aws_ref"] == focus_ref]
    pins = []
    for ref, group in sites.groupby("aws_ref"):
        point = gpd.GeoSeries([shapely.union_all(group.geometry.values).representative_point()],
                              crs="EPSG:4326")
        if datum is not Datum.WGS84:
            point = convert_datum(point, Datum.WGS84, datum)
        record = workspace.records.get(str(ref))
        label = record.label if record is not None else str(ref)
        pins.append((round(point.iloc[0].y, _DECIMALS), round(point.iloc[0].x, _DECIMALS),
                     escape_text(label)))
    return pins


def _check_basemap(basemap: str) -> Basemap:
    try:
        return BASEMAPS[basemap]
    except KeyError:
        known = ", ".join(BASEMAPS)
        raise GeoError(f"Unknown basemap {basemap!r}; choose one of: {known}.") from None


def _resolve_target(
    workspace: Workspace, target: object | None,
) -> tuple[str | None, object | None]:
    if target is None:
        return None, None
    if isinstance(target, str):
        if target not in workspace.records and not _site_has_features(workspace, target):
            known = ", ".join(workspace.records) or "(none)"
            raise SiteNotFoundError(
                f"No site {target!r} in workspace {workspace.root}. Known sites: {known}."
            )
        return target, None
    # A SiteScope (duck-typed so this module does not depend on the scope engine's internals).
    ref = getattr(target, "aws_ref", None)
    if ref is None:
        record = getattr(target, "record", None)
        ref = getattr(record, "aws_ref", None)
    return (str(ref) if ref is not None else None), target


def _site_has_features(workspace: Workspace, aws_ref: str) -> bool:
    frame = workspace.load_kind(LayerKind.SITE)
    return bool((frame["aws_ref"] == aws_ref).any()) if not frame.empty else False


def _select_specs(workspace: Workspace, layers: Sequence[str] | None) -> list[LayerSpec]:
    if layers is None:
        return [spec for spec in workspace.specs.values() if not spec.is_raster]
    return [workspace.spec(layer_id) for layer_id in layers
            if not workspace.spec(layer_id).is_raster]


def _scope_roles(scope: object | None) -> dict[str, str]:
    """Map fid -> role in the site's scope (from ``SiteScope.features``), when a scope is given."""
    features = getattr(scope, "features", None)
    if not isinstance(features, pd.DataFrame) or features.empty or "fid" not in features:
        return {}
    if "role" not in features:
        return {}
    grouped = features.groupby(features["fid"].astype(str))["role"].agg(
        lambda roles: ", ".join(sorted({str(r) for r in roles if r is not None and r == r}))
    )
    return dict(grouped)


_CHAIN_KINDS = {LayerKind.SITE.value, LayerKind.DISCHARGE_POINT.value,
                LayerKind.WATER_SOURCE.value, LayerKind.FACILITY.value, LayerKind.PIPE.value}


def _map_bounds(
    frames: dict[str, gpd.GeoDataFrame],
    specs: list[LayerSpec],
    focus_ref: str | None,
    scope: object | None,
) -> tuple[tuple[float, float], tuple[float, float]]:
    features = getattr(scope, "features", None)
    if isinstance(features, gpd.GeoDataFrame) and not features.empty:
        # Fit to the water chain around the site (parcels, sources, plants, outfalls,
        # pipes); the catchment and the big water bodies are a zoom-out away.
        near = features[features["kind"].isin(_CHAIN_KINDS)] if "kind" in features else features
        total = (near if not near.empty else features).to_crs("EPSG:4326").total_bounds
    else:
        parts = []
        for spec in specs:
            frame = frames[spec.id]
            if frame.empty:
                continue
            if focus_ref is not None:
                frame = frame[frame["aws_ref"] == focus_ref]
            elif spec.kind.value not in _CHAIN_KINDS:
                continue  # all sites: fit their water chains, not the whole basin
            if not frame.empty:
                parts.append(frame.total_bounds)
        if not parts:
            parts = [frames[s.id].total_bounds for s in specs
                     if not frames[s.id].empty and s.kind is not LayerKind.ADMIN]
        if not parts:
            parts = [frames[s.id].total_bounds for s in specs if not frames[s.id].empty]
        if not parts:
            return ((-60.0, -170.0), (75.0, 170.0))
        stacked = np.vstack(parts)
        total = np.array([stacked[:, 0].min(), stacked[:, 1].min(),
                          stacked[:, 2].max(), stacked[:, 3].max()])
    west, south, east, north = (float(v) for v in total)
    # A site alone is a few hundred metres across: show at least ~3 km around it.
    min_half = 0.015
    cx, cy = (west + east) / 2, (south + north) / 2
    half_x = max((east - west) / 2 * 1.1, min_half)
    half_y = max((north - south) / 2 * 1.1, min_half)
    return ((cy - half_y, cx - half_x), (cy + half_y, cx + half_x))


def _site_bounds(
    frames: dict[str, gpd.GeoDataFrame], specs: list[LayerSpec], focus_ref: str,
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The parcels of one site with a margin (at least ~2 km across), or None."""
    parts = [frames[spec.id][frames[spec.id]["aws_ref"] == focus_ref].total_bounds
             for spec in specs
             if spec.kind is LayerKind.SITE and not frames[spec.id].empty
             and "aws_ref" in frames[spec.id]
             and (frames[spec.id]["aws_ref"] == focus_ref).any()]
    if not parts:
        return None
    stacked = np.vstack(parts)
    return _padded(stacked[:, 0].min(), stacked[:, 1].min(), stacked[:, 2].max(),
                   stacked[:, 3].max(), min_half=0.009, factor=1.25)


def _padded(west: float, south: float, east: float, north: float, *, min_half: float,
            factor: float) -> tuple[tuple[float, float], tuple[float, float]]:
    cx, cy = (west + east) / 2, (south + north) / 2
    half_x = max((east - west) / 2 * factor, min_half)
    half_y = max((north - south) / 2 * factor, min_half)
    return ((float(cy - half_y), float(cx - half_x)), (float(cy + half_y), float(cx + half_x)))


def _extents(
    site: tuple[tuple[float, float], tuple[float, float]] | None,
    chain: tuple[tuple[float, float], tuple[float, float]],
    layers: list[LayerData],
) -> list[tuple[str, str, tuple[tuple[float, float], tuple[float, float]]]]:
    """The "Zoom to" entries: the site, the water chain, each layer, all layers."""
    entries = [("site", "The site", site)] if site is not None else []
    entries.append(("chain", "Water chain" if site is not None else "The sites' water chains",
                    chain))
    drawn = [layer for layer in layers if layer.n_features]
    entries += [(f"layer:{layer.layer_id}", f"Layer: {layer.title}", layer.bounds)
                for layer in drawn]
    if drawn:
        south = min(layer.bounds[0][0] for layer in drawn)
        west = min(layer.bounds[0][1] for layer in drawn)
        north = max(layer.bounds[1][0] for layer in drawn)
        east = max(layer.bounds[1][1] for layer in drawn)
        entries.append(("all", "All layers", ((south, west), (north, east))))
    return entries


def _clip_context(
    spec: LayerSpec,
    frame: gpd.GeoDataFrame,
    bounds: tuple[tuple[float, float], tuple[float, float]],
) -> gpd.GeoDataFrame:
    """Keep only admin (context) features near the view, cut to a margin around it."""
    if spec.kind is not LayerKind.ADMIN or frame.empty:
        return frame
    (south, west), (north, east) = bounds
    margin = max(north - south, east - west) * _CONTEXT_MARGIN
    window = shapely.box(west - margin, south - margin, east + margin, north + margin)
    near = frame[frame.geometry.intersects(window)].copy()
    near["geometry"] = near.geometry.intersection(window)
    return near[~near.geometry.is_empty]


def _shift_bounds(
    bounds: tuple[tuple[float, float], tuple[float, float]],
) -> tuple[tuple[float, float], tuple[float, float]]:
    (south, west), (north, east) = bounds
    frame = gpd.GeoSeries(shapely.points([west, east], [south, north]), crs="EPSG:4326")
    shifted = convert_datum(frame, Datum.WGS84, Datum.GCJ02)
    xs, ys = shapely.get_x(shifted.values), shapely.get_y(shifted.values)
    return ((float(ys[0]), float(xs[0])), (float(ys[1]), float(xs[1])))


def _geometry_type(frame: gpd.GeoDataFrame) -> str:
    types = frame.geometry.geom_type.str.replace("Multi", "").value_counts()
    dominant = str(types.index[0]) if len(types) else "Polygon"
    return {"Point": "point", "LineString": "line"}.get(dominant, "polygon")


def _round_coords(geoms: np.ndarray) -> np.ndarray:
    return shapely.transform(geoms, lambda coords: np.round(coords, _DECIMALS))


def _simplify(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    is_point = shapely.get_type_id(geoms) == 0
    out = geoms.copy()
    if (~is_point).any():
        out[~is_point] = shapely.simplify(geoms[~is_point], tolerance, preserve_topology=True)
    return out


def _prepare_layer(
    spec: LayerSpec,
    frame: gpd.GeoDataFrame,
    *,
    tolerance: float,
    datum: Datum,
    roles: dict[str, str],
    focus_ref: str | None,
    for_export: bool,
) -> LayerData | None:
    if frame.empty:
        return None
    frame = frame.reset_index(drop=True)
    if datum is not Datum.WGS84:
        frame = convert_datum(frame, Datum.WGS84, datum)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    geoms = _round_coords(_simplify(geoms, tolerance))
    keep = ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
    features: list[dict[str, Any]] = []
    n_illustrative = 0
    records = frame.drop(columns=frame.geometry.name).to_dict("records")
    for position in np.flatnonzero(keep).tolist():
        row = records[position]
        illustrative = str(row.get("accuracy") or "") == AccuracyClass.ILLUSTRATIVE.value
        n_illustrative += illustrative
        properties = _feature_properties(spec, row, position, illustrative=illustrative,
                                         role=roles.get(str(row["fid"])),
                                         focus=focus_ref is not None
                                         and row.get("aws_ref") == focus_ref,
                                         for_export=for_export)
        features.append({"type": "Feature", "id": len(features), "properties": properties,
                         "geometry": shapely.geometry.mapping(geoms[position])})
    if not features:
        return None
    kind = spec.kind.value
    geometry_type = _geometry_type(frame)
    return LayerData(
        layer_id=spec.id, title=escape_text(spec.title), kind=kind,
        geometry_type=geometry_type,
        geojson={"type": "FeatureCollection", "features": features},
        style=_layer_style(spec), n_features=len(features), n_illustrative=n_illustrative,
        cluster=geometry_type == "point" and len(features) > CLUSTER_THRESHOLD,
        show=spec.visible, bounds=_bounds_of(geoms[keep]),
    )


def _bounds_of(geoms: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    west, south, east, north = (float(v) for v in shapely.total_bounds(geoms))
    return ((south, west), (north, east))


_TIP_FIELDS = ("name", "name_zh", "name_cn")
_HIDDEN_FIELDS = {"geometry"}


def _feature_properties(
    spec: LayerSpec,
    row: dict[str, Any],
    position: int,
    *,
    illustrative: bool,
    role: str | None,
    focus: bool,
    for_export: bool,
) -> dict[str, Any]:
    name = escape_text(row.get("name"))
    local = next((escape_text(row[f]) for f in _TIP_FIELDS[1:]
                  if row.get(f) is not None and str(row[f]) not in ("", "nan")), "")
    lines = [f"<b>{name}</b>" + (f" {local}" if local else ""),
             f"{escape_text(spec.title)}" + (f" · {escape_text(role)}" if role else "")]
    if illustrative:
        lines.append("<i>illustrative: placed plausibly, not surveyed</i>")
    properties: dict[str, Any] = {
        "ref": feature_ref(spec.id, int(position)),
        "tip": "<br>".join(lines),
        "illustrative": illustrative,
    }
    if focus:
        properties["focus"] = True
    if for_export:
        rows = "".join(
            f"<tr><th>{escape_text(key)}</th><td>{escape_text(_plain(value))}</td></tr>"
            for key, value in row.items() if key not in _HIDDEN_FIELDS
        )
        properties["popup"] = f"<table class='cs-attrs'>{rows}</table>"
    return properties


def _plain(value: object) -> object:
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def _layer_style(spec: LayerSpec) -> dict[str, Any]:
    # The catalogue has validated every value; checked again here, the map's one source
    # of style (CSS, SVG legend, Leaflet options), so no other path can carry markup in.
    style = spec.style
    colour = css_colour(style.color)
    return {
        "color": colour,
        "fillColor": css_colour(style.fill_color, colour),
        "fillOpacity": float(style.fill_opacity),
        "weight": float(style.weight),
        "opacity": float(style.opacity),
        "dashArray": svg_dash(style.dash),
        "marker": style.marker,
        "radius": float(style.radius),
        # a CSS class per layer (ids are [a-z0-9_]): lets tests and stylesheets find features
        "className": f"cs-layer-{spec.id}",
    }


def _chain_lines(
    scope: object | None, frames: dict[str, gpd.GeoDataFrame], datum: Datum,
) -> list[ChainLine]:
    """Directed edges of the scope's water chain (``geo.scope.flows.WaterChain``) as map lines.

    Nodes are feature ids (a site node is its AWS reference, drawn from its parcels).
    A point or a site is anchored at its representative point; a river, lake or
    catchment at its point nearest the other end, so arrows meet the water they reach.
    """
    chain = getattr(scope, "chain", None)
    nodes = getattr(chain, "nodes", ()) or ()
    edges = getattr(chain, "edges", ()) or ()
    if not edges:
        return []
    geometry = _node_geometries(frames, getattr(scope, "features", None))
    names = {str(n.fid): str(getattr(n, "name", n.fid)) for n in nodes}
    lines = []
    for edge in edges:
        source, target = str(edge.source), str(edge.target)
        start_end = _anchor_pair(geometry.get(source), geometry.get(target))
        if start_end is None:
            continue
        start, end = start_end
        if datum is not Datum.WGS84:
            shifted = convert_datum(gpd.GeoSeries([start, end], crs="EPSG:4326"),
                                    Datum.WGS84, datum)
            start, end = shifted.iloc[0], shifted.iloc[1]
        how = str(getattr(edge, "how", ""))
        via = str(getattr(edge, "via", "") or "")
        distance = getattr(edge, "distance_m", None)
        detail = how + (f": {via}" if via else "") + (
            f", {distance:,.0f} m" if isinstance(distance, (int, float)) else "")
        label = f"{names.get(source, source)} → {names.get(target, target)} ({detail})"
        lines.append(ChainLine(
            start=(round(start.y, _DECIMALS), round(start.x, _DECIMALS)),
            end=(round(end.y, _DECIMALS), round(end.x, _DECIMALS)),
            label=escape_text(label), kind=escape_text(how),
        ))
    return lines


def _node_geometries(
    frames: dict[str, gpd.GeoDataFrame], scope_features: object,
) -> dict[str, tuple[shapely.Geometry, bool]]:
    """Map fid (or AWS reference for sites) -> (geometry in WGS84, is it small: point or site)."""
    parts = [f[["fid", "kind", "aws_ref", "geometry"]] for f in frames.values() if not f.empty]
    if isinstance(scope_features, gpd.GeoDataFrame) and not scope_features.empty:
        cols = [c for c in ("fid", "kind", "aws_ref", "geometry") if c in scope_features]
        parts.append(scope_features.to_crs("EPSG:4326")[cols])
    if not parts:
        return {}
    allf = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
    allf = allf[allf.geometry.notna()].drop_duplicates(subset="fid")
    out: dict[str, tuple[shapely.Geometry, bool]] = {}
    for fid, kind, geom in zip(allf["fid"], allf["kind"], allf.geometry, strict=True):
        out[str(fid)] = (geom, geom.geom_type == "Point" or kind == LayerKind.SITE.value)
    sites = allf[(allf["kind"] == LayerKind.SITE.value) & allf["aws_ref"].notna()]
    for ref, group in sites.groupby("aws_ref"):
        out.setdefault(str(ref), (shapely.union_all(group.geometry.values), True))
    return out


def _anchor_pair(
    a: tuple[shapely.Geometry, bool] | None, b: tuple[shapely.Geometry, bool] | None,
) -> tuple[shapely.Point, shapely.Point] | None:
    if a is None or b is None:
        return None
    (geom_a, small_a), (geom_b, small_b) = a, b
    start = geom_a.representative_point() if small_a else None
    end = geom_b.representative_point() if small_b else None
    if start is None and end is None:
        line = shapely.shortest_line(geom_a, geom_b)
        start, end = shapely.Point(line.coords[0]), shapely.Point(line.coords[-1])
    elif start is None:
        start = shapely.Point(shapely.shortest_line(geom_a, end).coords[0])
    elif end is None:
        end = shapely.Point(shapely.shortest_line(start, geom_b).coords[-1])
    if start.distance(end) < 1e-5:  # ~1 m: nothing to draw
        return None
    return start, end
