"""Folium maps of a site in its catchment, for the app and the standalone HTML export.

Two steps, so the app can cache the expensive one:

1. :func:`prepare_map` turns a workspace (and a site or a scope) into a
   :class:`MapData`: every vector layer simplified to what the map extent can
   show, coordinates rounded to 6 decimals (≈ 10 cm), every value from data
   HTML- and template-literal-escaped, optionally shifted to GCJ-02 for display
   over Amap tiles.  Plain, picklable data.
2. :func:`render_map` draws a :class:`MapData` as a :class:`folium.Map` with a
   legend, layer control, basemaps, scale bar, mouse coordinates, measuring and
   fullscreen.  :func:`build_map` does both.

Offline first: folium loads Leaflet and its plugins from CDNs by default.  The
files are vendored in ``geo/static/`` (see its README) and :func:`localise_assets`
points the map at a local URL (the app) while :func:`map_html` inlines them into a
standalone page (the export), so no request leaves the machine unless the user
picks an online basemap.

Security: folium renders popup and tooltip content as HTML and puts some text
inside JavaScript template literals, so every value that comes from data goes
through :func:`escape_text` before it reaches folium.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import branca.element
import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.utilities import JsCode
from jinja2 import Template

from geo.catalogue import AccuracyClass, Datum, LayerKind, LayerSpec
from geo.crs import convert_datum
from geo.errors import GeoError, SiteNotFoundError
from geo.workspace import Workspace

__all__ = [
    "BASEMAPS",
    "STATIC_DIR",
    "Basemap",
    "ChainLine",
    "LayerData",
    "MapData",
    "build_map",
    "escape_text",
    "feature_ref",
    "localise_assets",
    "map_html",
    "map_payload_bytes",
    "prepare_map",
    "render_map",
]

#: The vendored Leaflet/plugin files (committed; see README.md there).
STATIC_DIR = Path(__file__).resolve().parent / "static"

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
_ILLUSTRATIVE_DASH = "6 4"
_NO_TILES = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="
_OFFLINE_BACKGROUND = "#eef1f4"


@dataclass(frozen=True)
class Basemap:
    """A background tile layer the user can pick."""

    key: str
    label: str
    tiles: str
    attribution: str
    datum: Datum = Datum.WGS84
    subdomains: str = "abc"
    max_zoom: int = 19
    online: bool = True


#: The basemaps offered, keyed by the name :func:`build_map` takes.
BASEMAPS: dict[str, Basemap] = {
    "none": Basemap("none", "No basemap (offline)", _NO_TILES, "", online=False),
    "osm": Basemap(
        "osm", "OpenStreetMap", "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
    ),
    "light": Basemap(
        "light", "Light (CARTO Positron)",
        "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
        '&copy; OpenStreetMap contributors &copy; <a href="https://carto.com/attributions">CARTO</a>',
        subdomains="abcd", max_zoom=20,
    ),
    "satellite": Basemap(
        "satellite", "Satellite (Esri World Imagery)",
        "https://server.arcgisonline.com/ArcGIS/rest/services/World_Imagery/MapServer/tile/{z}/{y}/{x}",
        "Tiles &copy; Esri &mdash; Source: Esri, Maxar, Earthstar Geographics, and the GIS "
        "User Community",
        max_zoom=18,
    ),
    "amap": Basemap(
        "amap", "Amap / Gaode (GCJ-02)",
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
        "&x={x}&y={y}&z={z}",
        "&copy; AutoNavi / Amap (GCJ-02)", datum=Datum.GCJ02, subdomains="1234", max_zoom=18,
    ),
}

#: Shown on the map whenever data is shifted to GCJ-02 for display.
GCJ02_NOTE = (
    "Display only: the data are shifted from WGS84 to GCJ-02 to sit on the Amap tiles. "
    "Stored data and every export stay WGS84. Maps of China converted between GCJ-02 and "
    "WGS84 may not be published without approval under Chinese surveying and mapping law; "
    "use this view for internal review."
)

#: CDN resources folium and its plugins ask for -> the vendored file that replaces them.
_VENDORED: dict[str, str] = {
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "leaflet.js",
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": "leaflet.css",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/"
    "leaflet.markercluster.js": "leaflet.markercluster.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/"
    "MarkerCluster.css": "MarkerCluster.css",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/"
    "MarkerCluster.Default.css": "MarkerCluster.Default.css",
    "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.js":
        "leaflet-measure.min.js",
    "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min.css":
        "leaflet-measure.css",
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js":
        "Control.FullScreen.js",
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css":
        "Control.FullScreen.css",
    "https://cdn.jsdelivr.net/gh/ardhi/Leaflet.MousePosition/src/L.Control.MousePosition.min.js":
        "L.Control.MousePosition.js",
    "https://cdn.jsdelivr.net/gh/ardhi/Leaflet.MousePosition/src/L.Control.MousePosition.min.css":
        "L.Control.MousePosition.css",
    "https://cdn.jsdelivr.net/npm/leaflet-textpath@1.2.3/leaflet.textpath.min.js":
        "leaflet.textpath.js",
}
#: Map-level defaults none of our elements use (Bootstrap, jQuery, Font Awesome markers);
#: dropping them keeps the page small and offline.  folium.Popup and folium.Icon need them:
#: we draw with GeoJson popups/tooltips and circle/div markers instead.
_UNUSED = {"jquery", "bootstrap", "awesome_markers", "bootstrap_css", "glyphicons_css",
           "awesome_markers_font_css", "awesome_markers_css", "awesome_rotate_css"}

# Characters that matter to HTML, to JS template literals (` ${ \) or to Jinja ({ }).
_ESCAPES = {"`": "&#96;", "$": "&#36;", "\\": "&#92;", "{": "&#123;", "}": "&#125;"}
_ESCAPE_RE = re.compile("[`$\\\\{}]")


def escape_text(value: object) -> str:
    """Make a value from data safe to show inside folium HTML and JS template literals.

    HTML special characters become entities (``&lt;`` ...), and so do the backtick,
    ``$``, backslash and braces, which would otherwise end or interpolate a JavaScript
    template literal (folium's ``Tooltip`` and ``Popup`` templates use them) or a Jinja
    expression.  The browser shows the original characters as text.

    Parameters
    ----------
    value : object
        Anything; ``None`` and NaN become the empty string.

    Returns
    -------
    str
        Text safe to embed in HTML element content or attribute values.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = html.escape(str(value), quote=True)
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], text)


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


# --- preparing data -----------------------------------------------------------------------


def prepare_map(
    workspace: Workspace,
    scope_or_site: object | None = None,
    *,
    basemap: str = "none",
    layers: Sequence[str] | None = None,
    for_export: bool = False,
) -> MapData:
    """Load, clip to what matters, simplify, round and escape the layers of a map.

    Parameters
    ----------
    workspace : Workspace
        The opened workspace; layers are read in EPSG:4326.
    scope_or_site : SiteScope, str or None
        A scope from :func:`geo.scope.assess_site` (map fitted to its features, water
        chain drawn), an AWS reference (map fitted to that site's features) or None
        (all sites).
    basemap : str
        A key of :data:`BASEMAPS`; ``"amap"`` shifts the data to GCJ-02 for display.
    layers : sequence of str, optional
        Layer ids to include (default: every vector layer of the catalogue).
    for_export : bool
        Put every attribute into the popups (a standalone page has no side panel).

    Returns
    -------
    MapData

    Raises
    ------
    GeoError
        Unknown basemap or layer id, unknown site, or a layer that cannot be read.
    """
    base = _check_basemap(basemap)
    focus_ref, scope = _resolve_target(workspace, scope_or_site)
    specs = _select_specs(workspace, layers)
    frames = {spec.id: workspace.load(spec.id) for spec in specs}
    roles = _scope_roles(scope)
    bounds = _map_bounds(frames, specs, focus_ref, scope)
    span = max(bounds[1][0] - bounds[0][0], bounds[1][1] - bounds[0][1], 1e-4)
    tolerance = span * _TOLERANCE_FRACTION
    prepared = [
        _prepare_layer(spec, _clip_context(spec, frames[spec.id], bounds),
                       tolerance=tolerance * (_CONTEXT_FACTOR if spec.kind is LayerKind.ADMIN
                                              else 1.0),
                       datum=base.datum, roles=roles, focus_ref=focus_ref,
                       for_export=for_export)
        for spec in specs
    ]
    chain = _chain_lines(scope, frames, base.datum)
    if base.datum is Datum.GCJ02:
        bounds = _shift_bounds(bounds)
    notes = [GCJ02_NOTE] if base.datum is Datum.GCJ02 else []
    pins = _site_pins(workspace, focus_ref, base.datum)
    title = workspace.settings.name
    if focus_ref is not None:
        record = workspace.records.get(focus_ref)
        title = record.label if record is not None else focus_ref
    return MapData(
        title=escape_text(title), bounds=bounds, layers=[p for p in prepared if p is not None],
        chain=chain, basemap=base.key, display_datum=base.datum, focus_ref=focus_ref,
        notes=notes, pins=pins,
    )


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
    style = spec.style
    return {
        "color": style.color,
        "fillColor": style.fill_color or style.color,
        "fillOpacity": style.fill_opacity,
        "weight": style.weight,
        "opacity": style.opacity,
        "dashArray": style.dash,
        "marker": style.marker,
        "radius": style.radius,
        # a CSS class per layer (ids are [a-z0-9_]): lets tests and stylesheets find features
        "className": f"cs-layer-{spec.id}",
    }


def _chain_lines(
    scope: object | None, frames: dict[str, gpd.GeoDataFrame], datum: Datum,
) -> list[ChainLine]:
    """Directed edges of the scope's water chain (``geo.flows.WaterChain``) as map lines.

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


# --- drawing -----------------------------------------------------------------------------


def build_map(
    workspace: Workspace,
    scope_or_site: object | None = None,
    *,
    basemap: str = "none",
    layers: Sequence[str] | None = None,
    for_export: bool = False,
) -> folium.Map:
    """Build a complete folium map of a site's scope (or all sites), no Streamlit involved.

    Parameters
    ----------
    workspace : Workspace
        The opened workspace (layers in EPSG:4326).
    scope_or_site : SiteScope, str or None
        A scope from :func:`geo.scope.assess_site`, an AWS reference, or None for all sites.
    basemap : str
        ``"none"`` (offline, the default), ``"osm"``, ``"light"``, ``"satellite"`` or
        ``"amap"`` (GCJ-02: data shifted for display only, with a note on the map).
    layers : sequence of str, optional
        Layer ids to draw (default: all vector layers).
    for_export : bool
        Standalone use: every attribute in the feature popups.

    Returns
    -------
    folium.Map
        Still pointing at CDN URLs for Leaflet; use :func:`map_html` for a standalone,
        offline page or :func:`localise_assets` to serve the vendored files.
    """
    data = prepare_map(workspace, scope_or_site, basemap=basemap, layers=layers,
                       for_export=for_export)
    return render_map(data, for_export=for_export)


def render_map(data: MapData, *, for_export: bool = False) -> folium.Map:
    """Draw prepared :class:`MapData` as a folium map (layers, legend, controls)."""
    fmap = folium.Map(location=_centre(data.bounds), zoom_start=12, tiles=None,
                      control_scale=True, prefer_canvas=False)
    figure: Any = fmap.get_root()
    figure.header.add_child(branca.element.Element(_PAGE_CSS), name="catchscope_css")
    _DefaultIcon().add_to(fmap)
    _add_basemaps(fmap, data.basemap)
    for layer in data.layers:
        _add_layer(fmap, layer, for_export=for_export)
    if data.chain:
        _add_chain(fmap, data.chain)
    if data.pins:
        _add_pins(fmap, data.pins)
    folium.LayerControl(collapsed=True, position="topright").add_to(fmap)
    folium.plugins.Fullscreen(position="topleft", title="Full screen",
                              title_cancel="Exit full screen").add_to(fmap)
    folium.plugins.MeasureControl(position="topleft", primary_length_unit="kilometers",
                                  secondary_length_unit="meters",
                                  primary_area_unit="hectares").add_to(fmap)
    prefix = "lat, lon (GCJ-02 display):" if data.display_datum is Datum.GCJ02 else "lat, lon:"
    folium.plugins.MousePosition(position="bottomleft", separator=" , ", prefix=prefix,
                                 num_digits=6, empty_string=" ").add_to(fmap)
    _Legend(_legend_html(data)).add_to(fmap)
    if data.notes:
        _Note(" ".join(escape_text(n) for n in data.notes)).add_to(fmap)
    fmap.fit_bounds([list(data.bounds[0]), list(data.bounds[1])], padding=(20, 20))
    return fmap


def _centre(bounds: tuple[tuple[float, float], tuple[float, float]]) -> tuple[float, float]:
    return ((bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2)


_PAGE_CSS = f"""<style>
.leaflet-container.leaflet-container {{ background: {_OFFLINE_BACKGROUND};
  font: 12px/1.4 system-ui, sans-serif; }}
.leaflet-control.cs-legend {{ font-size: 11px; line-height: 1.3;
  background: rgba(255,255,255,.92); padding: 6px 8px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,.3); max-height: 45vh; overflow-y: auto; max-width: 250px; }}
.cs-legend summary {{ cursor: pointer; margin-bottom: 3px; }}
.cs-legend .row {{ display: flex; align-items: center; gap: 6px; margin: 2px 0; }}
.cs-legend svg {{ flex: none; }}
.leaflet-control.cs-note {{ background: #fff4d6; border: 1px solid #e0b84a; padding: 4px 8px;
  max-width: 420px; border-radius: 4px; font-size: 11px; }}
.cs-attrs th {{ text-align: left; padding-right: 6px; vertical-align: top; color: #555; }}
.cs-site-pin {{ font: bold 12px system-ui, sans-serif; color: #7a0b0b; white-space: nowrap;
  text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 3px #fff; }}
.cs-site-pin span {{ font-size: 18px; color: #d62728; }}
.cs-illustrative .cs-pin {{ outline: 1.5px dashed #555; outline-offset: -1px;
  background: rgba(255,255,255,.55); border-radius: 3px; }}
.cs-pin {{ font-size: 18px; line-height: 18px; text-align: center;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff; }}
</style>"""


def _add_basemaps(fmap: folium.Map, chosen: str) -> None:
    gcj = BASEMAPS[chosen].datum is Datum.GCJ02
    for key, base in BASEMAPS.items():
        # Over GCJ-02 data only GCJ-02 tiles line up, and the other way round.
        if (base.datum is Datum.GCJ02) != gcj and key != "none":
            continue
        folium.TileLayer(
            tiles=base.tiles, attr=base.attribution or " ", name=base.label, overlay=False,
            control=True, show=key == chosen, max_zoom=base.max_zoom, max_native_zoom=base.max_zoom,
            subdomains=base.subdomains,
        ).add_to(fmap)


_MARKER_GLYPHS = {"square": "■", "triangle": "▲", "diamond": "◆", "star": "★", "cross": "✚"}




def _add_layer(fmap: folium.Map, layer: LayerData, *, for_export: bool) -> None:
    group = folium.FeatureGroup(name=_layer_label(layer), show=layer.show, overlay=True)
    group.add_to(fmap)
    container: folium.MacroElement = group
    if layer.cluster:
        container = folium.plugins.MarkerCluster(name=layer.title, control=False,
                                                 options={"disableClusteringAtZoom": 17})
        container.add_to(group)
    style = {k: v for k, v in layer.style.items() if k not in {"marker", "radius"}}
    if layer.geometry_type == "line":
        style["fillOpacity"] = 0.0
    marker: folium.Marker | folium.CircleMarker | None = None
    if layer.geometry_type == "point":
        glyph = _MARKER_GLYPHS.get(str(layer.style["marker"]))
        if glyph is None:
            marker = folium.CircleMarker(radius=float(layer.style["radius"]), fill=True)
            style["fillOpacity"] = max(float(style["fillOpacity"]), 0.8)
            style["color"] = "#ffffff" if style["weight"] else style["color"]
            style["weight"] = 1.5
        else:
            size = int(layer.style["radius"] * 2 + 4)
            icon = folium.DivIcon(
                html=f'<div class="cs-pin" style="color:{layer.style["color"]}">{glyph}</div>',
                icon_size=(size, size), icon_anchor=(size // 2, size // 2), class_name="cs-div",
            )
            marker = folium.Marker(icon=icon)
    geojson = _GeoJson(
        layer.geojson, name=layer.title, marker=marker,
        style_function=_Styler(style), zoom_on_click=False, embed=True, control=False,
        on_each_feature=JsCode(_BIND_EXPORT if for_export else _BIND),
    )
    geojson.known_bounds = [list(layer.bounds[0]), list(layer.bounds[1])]
    geojson.add_to(container)


def _layer_label(layer: LayerData) -> str:
    extra = f" — {layer.n_illustrative} illustrative" if layer.n_illustrative else ""
    return f"{layer.title} ({layer.n_features}){extra}"


# Tooltip (and, in a standalone export, popup) from the feature's pre-escaped HTML: one
# line of JS per layer instead of a GeoJsonTooltip element (each costs a Jinja compile).
_BIND = "function(feature, layer) { layer.bindTooltip(feature.properties.tip, {sticky: true}); }"
_BIND_EXPORT = (
    "function(feature, layer) { layer.bindTooltip(feature.properties.tip, {sticky: true});"
    " layer.bindPopup(feature.properties.popup, {maxWidth: 420}); }"
)


class _RawScript(branca.element.Element):
    """Already-rendered JavaScript, added to the page as it is.

    branca wraps each element's rendered script in a new ``Element``, i.e. compiles it
    as a Jinja template again: slow for big GeoJSON (≈ 1 s/MB) and a second template
    pass over data.  This element skips both.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def render(self, **kwargs: Any) -> str:
        """Return the script text unchanged."""
        return self._text


_RENDERED_SCRIPT = Template(
    "{% macro script(this, kwargs) %}{{ this._script_text }}{% endmacro %}")


class _GeoJson(folium.GeoJson):
    """folium.GeoJson whose (large) script is added raw, not re-compiled by Jinja."""

    known_bounds: list[list[float | None]] | None = None

    def _get_self_bounds(self) -> list[list[float | None]]:
        """Bounds computed by shapely when the layer was prepared (folium loops in Python)."""
        if self.known_bounds is not None:
            return self.known_bounds
        return super()._get_self_bounds()

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]
        """Compute the style map as folium does, then add the script without recompiling."""
        from folium.elements import ElementAddToElement
        from folium.features import GeoJsonStyleMapper
        from folium.utilities import get_obj_in_upper_tree

        parent: Any = self._parent
        if self.show:  # what folium's Layer.render does: add the layer to its parent
            self.add_child(ElementAddToElement(element_name=self.get_name(),
                                               element_parent_name=parent.get_name()),
                           name=self.get_name() + "_add")
        self.parent_map: Any = get_obj_in_upper_tree(self, folium.Map)
        if self.style and self.data["features"]:
            mapper = GeoJsonStyleMapper(self.data, self.feature_identifier, self)
            self.style_map = mapper.get_style_map(self.style_function)
        figure: Any = self.get_root()
        script = self._template.module.__dict__["script"]
        self._script_text = script(self, kwargs)
        figure.script.add_child(_RawScript(self._script_text), name=self.get_name())
        # Later callers (st_folium walks every element's script macro) get the same text
        # without serialising the GeoJSON again.
        self._template = _RENDERED_SCRIPT
        for child in self._children.values():
            child.render(**kwargs)


class _Styler:
    """Per-feature style: the layer style, dashed and paler when illustrative, bolder in focus.

    folium groups features by the distinct styles this returns (three at most), so the
    page carries each style once plus the feature ids.
    """

    def __init__(self, style: dict[str, Any]) -> None:
        self.style = style

    def __call__(self, feature: dict[str, Any]) -> dict[str, Any]:
        style = dict(self.style)
        properties = feature.get("properties", {})
        if properties.get("illustrative"):
            style["dashArray"] = _ILLUSTRATIVE_DASH
            style["fillOpacity"] = round(float(style["fillOpacity"]) * 0.6, 3)
            # also on point symbols (div icons take the class): a dashed frame, see CSS
            style["className"] = f"{style.get('className', '')} cs-illustrative".strip()
        if properties.get("focus"):
            style["weight"] = float(style["weight"]) + 1.5
        return style


def _add_chain(fmap: folium.Map, chain: list[ChainLine]) -> None:
    group = folium.FeatureGroup(name="Water chain (direction of flow)", show=True, overlay=True)
    group.add_to(fmap)
    for line in chain:
        tooltip = line.label or "water chain"
        polyline = folium.PolyLine([line.start, line.end], color="#0b5394", weight=3,
                                   opacity=0.9, dash_array="8 6", tooltip=tooltip)
        polyline.add_to(group)
        folium.plugins.PolyLineTextPath(
            polyline, "     ►     ", repeat=True, center=False, offset=5,
            attributes={"fill": "#0b5394", "font-size": "14", "font-weight": "bold"},
        ).add_to(group)


def _add_pins(fmap: folium.Map, pins: list[tuple[float, float, str]]) -> None:
    group = folium.FeatureGroup(name="Site location", show=True, overlay=True)
    group.add_to(fmap)
    for lat, lon, label in pins:
        short = label.split(" — ")[0]
        icon = folium.DivIcon(
            html=f'<div class="cs-site-pin"><span>★</span> {short}</div>',
            icon_size=(120, 22), icon_anchor=(9, 11), class_name="cs-div",
        )
        # Not interactive: a click on the pin reaches the parcel beneath it.
        folium.Marker((lat, lon), icon=icon, interactive=False, keyboard=False).add_to(group)


def _svg_symbol(layer: LayerData) -> str:
    s = layer.style
    colour, fill = s["color"], s["fillColor"]
    dash = f' stroke-dasharray="{s["dashArray"]}"' if s.get("dashArray") else ""
    if layer.geometry_type == "point":
        glyph = _MARKER_GLYPHS.get(str(s["marker"]))
        if glyph:
            return (f'<svg width="18" height="14"><text x="3" y="12" fill="{colour}" '
                    f'font-size="13">{glyph}</text></svg>')
        return (f'<svg width="18" height="14"><circle cx="9" cy="7" r="5" fill="{fill}" '
                f'stroke="#fff" stroke-width="1.5"/></svg>')
    if layer.geometry_type == "line":
        return (f'<svg width="18" height="14"><line x1="1" y1="10" x2="17" y2="4" '
                f'stroke="{colour}" stroke-width="{min(float(s["weight"]), 5)}"{dash}/></svg>')
    return (f'<svg width="18" height="14"><rect x="1" y="2" width="16" height="10" '
            f'fill="{fill}" fill-opacity="{max(float(s["fillOpacity"]), 0.15)}" '
            f'stroke="{colour}" stroke-width="1.5"{dash}/></svg>')


def _legend_html(data: MapData) -> str:
    rows = [f'<div class="row">{_svg_symbol(layer)}<span>{layer.title}</span></div>'
            for layer in data.layers]
    if data.chain:
        rows.append('<div class="row"><svg width="18" height="14"><line x1="1" y1="7" x2="13" '
                    'y2="7" stroke="#0b5394" stroke-width="3" stroke-dasharray="4 3"/>'
                    '<text x="10" y="11" fill="#0b5394" font-size="10">►</text></svg>'
                    '<span>Water chain: source → site → discharge → receiving water</span></div>')
    if any(layer.n_illustrative for layer in data.layers):
        rows.append('<div class="row"><svg width="18" height="14"><rect x="1" y="2" width="16" '
                    'height="10" fill="none" stroke="#555" stroke-width="1.5" '
                    f'stroke-dasharray="{_ILLUSTRATIVE_DASH}"/></svg>'
                    '<span><i>Dashed outline or frame: illustrative (placed plausibly, not '
                    'surveyed)</i></span></div>')
    return (f'<details open><summary><b>{data.title}</b></summary>' + "".join(rows)
            + "</details>")


class _Legend(branca.element.MacroElement):
    """A legend control; its HTML is built from escaped values and passed as a JSON string."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: "bottomright"});
        {{ this.get_name() }}.onAdd = function (map) {
            var div = L.DomUtil.create("div", "cs-legend");
            div.innerHTML = {{ this.html|tojson }};
            L.DomEvent.disableScrollPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, html_text: str) -> None:
        super().__init__()
        self._name = "Legend"
        self.html = html_text


def _data_uri(name: str) -> str:
    return "data:image/png;base64," + base64.b64encode((STATIC_DIR / name).read_bytes()).decode()


class _DefaultIcon(branca.element.MacroElement):
    """Leaflet's default marker images as data URIs (no image requests; used by measuring)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        L.Icon.Default.include({_getIconUrl: function (name) {
            return this.options[name + "Url"]; }});
        L.Icon.Default.mergeOptions({{ this.urls|tojson }});
        {% endmacro %}
    """)

    def __init__(self) -> None:
        super().__init__()
        self._name = "DefaultIcon"
        self.urls = {"iconUrl": _data_uri("marker-icon.png"),
                     "iconRetinaUrl": _data_uri("marker-icon-2x.png"),
                     "shadowUrl": _data_uri("marker-shadow.png")}


class _Note(_Legend):
    """A visible note at the top of the map (e.g. the GCJ-02 display shift)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: "bottomleft"});
        {{ this.get_name() }}.onAdd = function (map) {
            var div = L.DomUtil.create("div", "cs-note");
            div.innerHTML = {{ this.html|tojson }};
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)


# --- offline assets ----------------------------------------------------------------------


def _elements(root: branca.element.Element) -> Iterable[branca.element.Element]:
    yield root
    for child in list(root._children.values()):
        yield from _elements(child)


def localise_assets(fmap: folium.Map, base_url: str) -> folium.Map:
    """Point every Leaflet/plugin resource of ``fmap`` at the vendored copy under ``base_url``.

    Parameters
    ----------
    fmap : folium.Map
        A map from :func:`build_map` (modified in place and returned).
    base_url : str
        URL prefix under which ``geo/static/`` is served, e.g. ``"/component/x/"``.

    Raises
    ------
    GeoError
        If an element asks for a resource that is not vendored (the map would need the
        network); vendor it in ``geo/static/vendor.py`` or draw it differently.
    """
    prefix = base_url if base_url.endswith("/") else base_url + "/"
    _rewrite_assets(fmap, lambda name: prefix + name)
    return fmap


def _rewrite_assets(fmap: folium.Map, locate: Any) -> None:
    for element in _elements(fmap):
        for attribute in ("default_js", "default_css"):
            resources = getattr(element, attribute, None)
            if not resources:
                continue
            local = []
            for name, url in resources:
                if name in _UNUSED:
                    continue
                if url in _VENDORED:
                    local.append((name, locate(_VENDORED[url])))
                elif url.startswith(("http://", "https://", "//")):
                    raise GeoError(
                        f"Map element {type(element).__name__} needs {url}, which is not "
                        "vendored in geo/static/: the map would not work offline. Add it to "
                        "geo/static/vendor.py or draw the element differently."
                    )
                else:
                    local.append((name, url))
            setattr(element, attribute, local)


def map_html(fmap: folium.Map) -> str:
    """Render the map as one standalone HTML page, Leaflet and plugins inlined (offline)."""
    _rewrite_assets(fmap, lambda name: f"catchscope-static:{name}")
    page = fmap.get_root().render()

    def inline_js(match: re.Match[str]) -> str:
        source = (STATIC_DIR / match.group(1)).read_text(encoding="utf-8")
        return "<script>" + source.replace("</script", "<\\/script") + "</script>"

    def inline_css(match: re.Match[str]) -> str:
        return "<style>" + (STATIC_DIR / match.group(1)).read_text(encoding="utf-8") + "</style>"

    page = re.sub(r'<script src="catchscope-static:([^"]+)"></script>', inline_js, page)
    page = re.sub(r'<link rel="stylesheet" href="catchscope-static:([^"]+)"\s*/>', inline_css, page)
    return page


def map_payload_bytes(data: MapData) -> int:
    """Bytes of map data (GeoJSON of all layers + chain) a browser receives for this map."""
    total = sum(len(json.dumps(layer.geojson, separators=(",", ":"))) for layer in data.layers)
    return total + sum(len(line.label) + 80 for line in data.chain)
