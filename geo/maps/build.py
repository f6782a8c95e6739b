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

The code is split by concern: :mod:`geo.maps.data` (preparing, escaping),
:mod:`geo.maps.draw` (folium elements, legend, CSS) and :mod:`geo.maps.assets`
(basemaps, vendored Leaflet files); this module is the API and re-exports their
public names.

Security: folium renders popup and tooltip content as HTML and puts some text
inside JavaScript template literals, so every value that comes from data goes
through :func:`escape_text` before it reaches folium.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import branca.element
import folium
import folium.plugins

from geo.core.catalogue import Datum, LayerKind
from geo.core.i18n import translator
from geo.core.workspace import Workspace
from geo.maps.assets import BASEMAPS, GCJ02_NOTE, STATIC_DIR, Basemap, localise_assets, map_html
from geo.maps.data import (
    _CONTEXT_FACTOR,
    _TOLERANCE_FRACTION,
    CLUSTER_THRESHOLD,
    ChainLine,
    LayerData,
    MapData,
    _chain_lines,
    _check_basemap,
    _clip_context,
    _extents,
    _map_bounds,
    _prepare_layer,
    _resolve_target,
    _scope_roles,
    _select_specs,
    _shift_bounds,
    _site_bounds,
    _site_pins,
    escape_text,
    feature_ref,
)
from geo.maps.draw import (
    _PAGE_CSS,
    _add_basemaps,
    _add_chain,
    _add_layer,
    _add_pins,
    _centre,
    _DefaultIcon,
    _FitView,
    _Legend,
    _legend_html,
    _Note,
    _Print,
)
from geo.maps.stress import stress_rows

__all__ = [
    "BASEMAPS",
    "CLUSTER_THRESHOLD",
    "GCJ02_NOTE",
    "STATIC_DIR",
    "Basemap",
    "ChainLine",
    "LayerData",
    "MapData",
    "build_map",
    "display_bounds",
    "escape_text",
    "feature_ref",
    "localise_assets",
    "map_html",
    "map_payload_bytes",
    "prepare_map",
    "render_map",
]


def prepare_map(
    workspace: Workspace,
    scope_or_site: object | None = None,
    *,
    basemap: str = "none",
    layers: Sequence[str] | None = None,
    rasters: Sequence[str] | None = None,
    for_export: bool = False,
) -> MapData:
    """Load, clip to what matters, simplify, round and escape the layers of a map.

    Parameters
    ----------
    workspace : Workspace
        The opened workspace; layers are read in EPSG:4326.
    scope_or_site : SiteScope, str or None
        A scope from :func:`geo.scope.assess.assess_site` (map fitted to its features, water
        chain drawn), an AWS reference (map fitted to that site's features) or None
        (all sites).
    basemap : str
        A key of :data:`BASEMAPS`; ``"amap"`` shifts the data to GCJ-02 for display.
    layers : sequence of str, optional
        Layer ids to include (default: every layer of the catalogue).
    rasters : sequence of str, optional
        Raster layer ids to render (default: the rasters among ``layers``); ``()``
        renders none, e.g. to add them one by one later with
        :func:`geo.maps.rasters.prepare_raster_overlays` and ``MapData.view``.
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
    from geo.maps.rasters import prepare_raster_overlays  # rasters: windowed PNG overlays

    overlays, raster_notes = prepare_raster_overlays(
        workspace, bounds, layers=layers if rasters is None else rasters, datum=base.datum)
    view = bounds
    site = _site_bounds(frames, specs, focus_ref) if focus_ref is not None else None
    if base.datum is Datum.GCJ02:
        bounds = _shift_bounds(bounds)
        site = _shift_bounds(site) if site is not None else None
    kept = [p for p in prepared if p is not None]
    notes = ([GCJ02_NOTE] if base.datum is Datum.GCJ02 else []) + raster_notes
    pins = _site_pins(workspace, focus_ref, base.datum)
    title = workspace.settings.name
    if focus_ref is not None:
        record = workspace.records.get(focus_ref)
        title = record.label if record is not None else focus_ref
    return MapData(
        title=escape_text(title), bounds=bounds, layers=kept,
        chain=chain, basemap=base.key, display_datum=base.datum, focus_ref=focus_ref,
        notes=notes, pins=pins, rasters=overlays, view=view,
        extents=_extents(site, bounds, kept), fit=site or bounds,
        water_stress=stress_rows(scope),
    )



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
        A scope from :func:`geo.scope.assess.assess_site`, an AWS reference, or None for all sites.
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


def render_map(data: MapData, *, for_export: bool = False,
               layer_control: bool = True) -> folium.Map:
    """Draw prepared :class:`MapData` as a folium map (layers, legend, controls).

    ``layer_control=False`` leaves out Leaflet's layer switcher: the app switches layers
    and basemaps in its sidebar, one switcher for both (the standalone export keeps it).
    """
    _ = translator(data.lang)  # the controls' words; data is drawn as it is
    fmap = folium.Map(location=_centre(data.bounds), zoom_start=12, tiles=None,
                      control_scale=True, prefer_canvas=False)
    figure: Any = fmap.get_root()
    figure.header.add_child(branca.element.Element(_PAGE_CSS), name="catchscope_css")
    _DefaultIcon().add_to(fmap)
    _add_basemaps(fmap, data.basemap, switchable=layer_control)
    if data.rasters:
        from geo.maps.rasters import add_raster_overlays

        add_raster_overlays(fmap, data.rasters)
    for layer in data.layers:
        _add_layer(fmap, layer, for_export=for_export, lang=data.lang)
    if data.chain:
        _add_chain(fmap, data.chain, data.lang)
    if data.pins:
        _add_pins(fmap, data.pins, data.lang)
    if layer_control:
        folium.LayerControl(collapsed=True, position="topright").add_to(fmap)
    folium.plugins.Fullscreen(position="topleft", title=_("Full screen"),
                              title_cancel=_("Exit full screen")).add_to(fmap)
    folium.plugins.MeasureControl(position="topleft", primary_length_unit="kilometers",
                                  secondary_length_unit="meters",
                                  primary_area_unit="hectares").add_to(fmap)
    prefix = _("lat, lon (GCJ-02 display):") if data.display_datum is Datum.GCJ02 \
        else _("lat, lon:")
    folium.plugins.MousePosition(position="bottomleft", separator=" , ", prefix=prefix,
                                 num_digits=6, empty_string=" ").add_to(fmap)
    if data.notes:  # top right, in one column: layer control, notes, legend
        _Note(" ".join(escape_text(_(n) if n == GCJ02_NOTE else n)
                       for n in data.notes)).add_to(fmap)
    _Legend(_legend_html(data)).add_to(fmap)
    _FitView(data).add_to(fmap)  # after the legend: keeps the data clear of it
    _Print(_("Print this view")).add_to(fmap)
    return fmap



def display_bounds(
    bounds: tuple[tuple[float, float], tuple[float, float]], datum: Datum,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """WGS84 ``((south, west), (north, east))`` as drawn over a basemap in ``datum``."""
    return _shift_bounds(bounds) if datum is Datum.GCJ02 else bounds


def map_payload_bytes(data: MapData) -> int:
    """Bytes of map data (GeoJSON of all layers + chain + raster images) for this map."""
    total = sum(len(json.dumps(layer.geojson, separators=(",", ":"))) for layer in data.layers)
    total += sum(len(r.image) + len(r.legend_html) for r in data.rasters)
    return total + sum(len(line.label) + 80 for line in data.chain)
