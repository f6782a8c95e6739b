"""Raster layers on the web map: windowed PNG overlays, legends, and delineation results.

:func:`prepare_raster_overlays` turns the catalogue's raster layers into
:class:`RasterOverlayData` for :mod:`geo.maps.build` (the app and the standalone HTML
export draw the same thing).  Each raster goes through :func:`geo.raster.overlay.render_overlay`:
decimated so neither side exceeds ``max_size`` pixels, warped to Web Mercator (what
Leaflet's image overlays stretch linearly), coloured by the layer's ``[raster]`` and
``[style]`` tables (``colormap``; class colours and labels for categorical rasters),
nodata transparent.  A raster small enough to ship whole (≤ ``max_size`` px a side)
is shown whole; a larger one only around the map's view (the view plus ``margin``
view-widths on every side), so a big DEM never reaches the browser in full.

The PNG travels as a ``data:`` URI (no request; the standalone page stays one file),
in its own map pane under the vector layers.  Its legend (colour bar with units, or
the class list) carries an opacity slider and follows the layer control.

:func:`delineation_layers` turns a catchment from :mod:`geo.raster.delineate` into map layers
(the catchment, the requested and the snapped outlet) for the app's delineate mode.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import branca.element
import folium
import geopandas as gpd
import numpy as np
import shapely
from jinja2 import Template
from numpy.typing import NDArray

from geo.core.catalogue import Datum, LayerSpec
from geo.core.crs import convert_datum
from geo.core.errors import GeoError
from geo.core.workspace import Workspace
from geo.maps.data import LayerData, escape_text, feature_ref
from geo.maps.draw import _RawMacro
from geo.raster.files import open_raster
from geo.raster.overlay import legend_spec, raster_style_args, render_overlay

__all__ = [
    "DEFAULT_MAX_SIZE",
    "RASTER_PANE",
    "RasterOverlayData",
    "add_raster_overlays",
    "delineation_layers",
    "overlay_payload_bytes",
    "png_data_uri",
    "prepare_raster_overlays",
    "raster_style_args",
    "with_opacity",
]

#: Longest side of an overlay image, in pixels.
DEFAULT_MAX_SIZE = 1024
#: Map pane of raster overlays: above tiles (200), under vector layers (400).
RASTER_PANE = "csRasters"
_RASTER_PANE_Z = 350
#: View-widths kept around the view when a raster is windowed (zooming out stays covered).
_MARGIN = 1.0
_DEFAULT_OPACITY = 0.7
_Bounds = tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class RasterOverlayData:
    """One raster ready to draw: a PNG data URI, its corners and its legend (escaped)."""

    layer_id: str
    title: str
    image: str
    #: ((south, west), (north, east)) in the display datum.
    bounds: _Bounds
    legend_html: str
    width: int
    height: int
    opacity: float
    show: bool
    #: True when only the part around the view was rendered.
    windowed: bool


def png_data_uri(rgba: NDArray[np.uint8]) -> str:
    """Encode an ``(h, w, 4)`` RGBA array as a ``data:image/png;base64,…`` URI."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba), mode="RGBA").save(buffer, format="PNG",
                                                                  optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _raster_bounds(dataset: Any, name: str) -> tuple[float, float, float, float]:
    import rasterio.warp

    if dataset.crs is None:
        raise GeoError(f"{name}: the raster has no CRS; assign it with "
                       "`gdal_edit.py -a_srs EPSG:… file.tif`.")
    west, south, east, north = rasterio.warp.transform_bounds(
        dataset.crs, "EPSG:4326", *dataset.bounds, densify_pts=21)
    return west, south, east, north


def _window(view: _Bounds, extent: tuple[float, float, float, float],
            margin: float) -> tuple[float, float, float, float] | None:
    (south, west), (north, east) = view
    dx, dy = (east - west) * margin, (north - south) * margin
    window = (max(west - dx, extent[0]), max(south - dy, extent[1]),
              min(east + dx, extent[2]), min(north + dy, extent[3]))
    if window[2] <= window[0] or window[3] <= window[1]:
        return None
    return window


def _shift(bounds: _Bounds, datum: Datum) -> _Bounds:
    """Corners moved to the display datum (GCJ-02 over Amap; display only)."""
    if datum is Datum.WGS84:
        return bounds
    (south, west), (north, east) = bounds
    points = gpd.GeoSeries(shapely.points([west, east], [south, north]), crs="EPSG:4326")
    moved = convert_datum(points, Datum.WGS84, datum)
    xs, ys = shapely.get_x(moved.values), shapely.get_y(moved.values)
    return ((float(ys[0]), float(xs[0])), (float(ys[1]), float(xs[1])))


def _legend_title(spec: LayerSpec) -> str:
    units = spec.raster.units.strip()
    return f"{spec.title} ({units})" if units else spec.title


def prepare_raster_overlays(
    workspace: Workspace,
    view: _Bounds,
    *,
    layers: Sequence[str] | None = None,
    datum: Datum = Datum.WGS84,
    max_size: int = DEFAULT_MAX_SIZE,
    margin: float = _MARGIN,
) -> tuple[list[RasterOverlayData], list[str]]:
    """Render the workspace's raster layers for a map fitted to ``view``.

    Parameters
    ----------
    workspace : Workspace
        The opened workspace.
    view : tuple
        ``((south, west), (north, east))`` of the map view, WGS84 degrees.
    layers : sequence of str, optional
        Layer ids to consider (default: all layers); only rasters are rendered.
    datum : Datum
        Display datum: GCJ-02 shifts the corners for Amap tiles (display only).
    max_size : int
        Longest side of each image, in pixels.
    margin : float
        View-widths kept on each side of the view when a raster is windowed.

    Returns
    -------
    tuple
        The overlays (rasters missing the view are left out) and notes naming each
        raster that could not be drawn and why (the map still shows).
    """
    ids = list(workspace.specs) if layers is None else list(layers)
    specs = [workspace.specs[i] for i in ids if i in workspace.specs
             and workspace.specs[i].is_raster]
    overlays: list[RasterOverlayData] = []
    notes: list[str] = []
    for spec in specs:
        try:
            overlay = _prepare_one(workspace, spec, view, datum=datum, max_size=max_size,
                                   margin=margin)
        except GeoError as err:
            notes.append(f"Raster {spec.id} not drawn: {err}")
            continue
        if overlay is not None:
            overlays.append(overlay)
    return overlays, notes


def _prepare_one(workspace: Workspace, spec: LayerSpec, view: _Bounds, *, datum: Datum,
                 max_size: int, margin: float) -> RasterOverlayData | None:
    path = workspace.source_path(spec)
    with open_raster(path, where=spec.id) as dataset:  # opened once for all three steps
        extent = _raster_bounds(dataset, spec.id)
        windowed = max(dataset.width, dataset.height) > max_size
        window = _window(view, extent, margin) if windowed else None
        if windowed and window is None:
            return None  # nowhere near the view
        style = raster_style_args(spec)
        legend = legend_spec(dataset, title=_legend_title(spec), **style)
        image, corners = render_overlay(dataset, bounds=window, max_size=max_size,
                                        legend=legend)
    (south, west), (north, east) = corners
    bounds = _shift(((south, west), (north, east)), datum)
    rounded = tuple(tuple(round(v, 7) for v in corner) for corner in bounds)
    return RasterOverlayData(
        layer_id=spec.id, title=escape_text(spec.title), image=png_data_uri(image),
        bounds=rounded,  # type: ignore[arg-type]
        legend_html=legend.to_html(), width=int(image.shape[1]), height=int(image.shape[0]),
        opacity=_opacity(spec),
        show=spec.visible, windowed=windowed,
    )


def _opacity(spec: LayerSpec) -> float:
    """``[style] fill_opacity`` when the layer file sets it, else 0.7."""
    # (the vector default fill_opacity, 0.2, would leave a raster barely visible)
    if "fill_opacity" in spec.style.model_fields_set:
        return float(spec.style.fill_opacity)
    return _DEFAULT_OPACITY


def with_opacity(overlays: Sequence[RasterOverlayData], opacity: float,
                 shown: Sequence[str] | None = None) -> list[RasterOverlayData]:
    """The overlays with one opacity (0–1), shown when their id is in ``shown`` (if given)."""
    value = min(max(float(opacity), 0.0), 1.0)
    return [replace(o, opacity=value, show=o.show if shown is None else o.layer_id in shown)
            for o in overlays]


def overlay_payload_bytes(overlays: Sequence[RasterOverlayData]) -> int:
    """Bytes the overlays add to a page (data URIs and legends)."""
    return sum(len(o.image) + len(o.legend_html) for o in overlays)


# --- drawing -------------------------------------------------------------------------------

_CSS = """<style>
.leaflet-control.cs-raster-legend { font-size: 11px; line-height: 1.3;
  background: rgba(255,255,255,.92); padding: 6px 8px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,.3); max-width: 230px; max-height: 35vh; overflow-y: auto; }
.cs-raster-legend label { display: flex; align-items: center; gap: 4px; margin-top: 4px; }
.cs-raster-legend input[type=range] { width: 110px; }
</style>"""


class _RasterLegend(_RawMacro):
    """Legend of one overlay with an opacity slider; shown while the overlay is on."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var overlay = {{ this.overlay_name }};
            var control = L.control({position: "bottomright"});
            control.onAdd = function (map) {
                var div = L.DomUtil.create("div", "cs-raster-legend");
                div.setAttribute("data-layer", {{ this.layer_id|tojson }});
                div.innerHTML = {{ this.html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                var input = div.querySelector("input");
                input.addEventListener("input", function () {
                    overlay.setOpacity(input.value / 100);
                });
                div.style.display = map.hasLayer(overlay) ? "" : "none";
                map.on("overlayadd", function (e) {
                    if (e.layer === overlay) { div.style.display = ""; } });
                map.on("overlayremove", function (e) {
                    if (e.layer === overlay) { div.style.display = "none"; } });
                return div;
            };
            control.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
    """)

    def __init__(self, overlay_name: str, layer_id: str, html_text: str) -> None:
        super().__init__()
        self._name = "RasterLegend"
        self.overlay_name = overlay_name
        self.layer_id = layer_id
        self.html = html_text


def _legend_with_slider(overlay: RasterOverlayData) -> str:
    percent = round(overlay.opacity * 100)
    note = (f"<div style='font-size:10px;color:#555'>{overlay.width}×{overlay.height} px"
            + (", around this view" if overlay.windowed else "") + "</div>")
    return (overlay.legend_html + note
            + f"<label>opacity <input type='range' min='0' max='100' value='{percent}' "
              f"aria-label='{overlay.title} opacity'></label>")  # title: escaped already


def add_raster_overlays(fmap: folium.Map, overlays: Sequence[RasterOverlayData]) -> None:
    """Draw the overlays on ``fmap`` (own pane under the vectors), each with its legend."""
    if not overlays:
        return
    figure: Any = fmap.get_root()
    figure.header.add_child(branca.element.Element(_CSS), name="catchscope_raster_css")
    folium.map.CustomPane(RASTER_PANE, z_index=_RASTER_PANE_Z, pointer_events=False).add_to(fmap)
    for overlay in overlays:
        (south, west), (north, east) = overlay.bounds
        image = folium.raster_layers.ImageOverlay(
            image=overlay.image, bounds=[[south, west], [north, east]], opacity=overlay.opacity,
            name=f"{overlay.title} (raster)", show=overlay.show, pane=RASTER_PANE,
            interactive=False, className=f"cs-raster cs-raster-{overlay.layer_id}",
        )
        image.add_to(fmap)
        _RasterLegend(image.get_name(), overlay.layer_id, _legend_with_slider(overlay)).add_to(fmap)


# --- delineation results -------------------------------------------------------------------

_CATCHMENT_STYLE = {"color": "#d7301f", "fillColor": "#fc8d59", "fillOpacity": 0.25,
                    "weight": 3.0, "opacity": 1.0, "dashArray": None, "marker": "circle",
                    "radius": 6.0}


def _point_layer(layer_id: str, title: str, lon: float, lat: float, tip: str, *,
                 colour: str, marker: str, radius: float) -> LayerData:
    style = {**_CATCHMENT_STYLE, "color": colour, "fillColor": colour, "fillOpacity": 0.9,
             "weight": 1.5, "marker": marker, "radius": radius,
             "className": f"cs-layer-{layer_id}"}
    geojson = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "id": 0,
        "properties": {"ref": feature_ref(layer_id, 0), "tip": tip, "illustrative": False},
        "geometry": {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]}}]}
    return LayerData(layer_id=layer_id, title=title, kind="delineation", geometry_type="point",
                     geojson=geojson, style=style, n_features=1, n_illustrative=0,
                     cluster=False, show=True, bounds=((lat, lon), (lat, lon)))


def delineation_layers(catchment: gpd.GeoDataFrame, datum: Datum = Datum.WGS84,
                       ) -> list[LayerData]:
    """Map layers of a delineated catchment: its outline, the requested and snapped outlet.

    Parameters
    ----------
    catchment : GeoDataFrame
        One row from :func:`geo.raster.delineate.delineate_catchment` (EPSG:4326).
    datum : Datum
        Display datum (GCJ-02 over Amap tiles: shifted for display only).

    Returns
    -------
    list of LayerData
        Layers ``delineated_catchment``, ``delineation_requested`` and
        ``delineation_outlet`` for :func:`geo.maps.build.render_map`.
    """
    frame = catchment.to_crs("EPSG:4326").reset_index(drop=True)
    row = frame.iloc[0]
    points = gpd.GeoSeries(shapely.points([row["requested_lon"], row["outlet_lon"]],
                                          [row["requested_lat"], row["outlet_lat"]]),
                           crs="EPSG:4326")
    geometry = frame.geometry
    if datum is not Datum.WGS84:
        geometry = convert_datum(gpd.GeoSeries(geometry), Datum.WGS84, datum)
        points = convert_datum(points, Datum.WGS84, datum)
    polygon = shapely.set_precision(geometry.iloc[0], 1e-7)
    warning = str(row.get("warnings") or "")
    tip = (f"<b>{escape_text(row['name'])}</b><br>{float(row['area_km2']):,.3f} km² · "
           f"DEM cells {float(row['dem_resolution_m']):,.0f} m"
           + ("<br><i>warning: see the panel</i>" if warning else ""))
    west, south, east, north = (float(v) for v in polygon.bounds)
    layers = [LayerData(
        layer_id="delineated_catchment", title="Delineated catchment", kind="delineation",
        geometry_type="polygon",
        geojson={"type": "FeatureCollection", "features": [{
            "type": "Feature", "id": 0,
            "properties": {"ref": feature_ref("delineated_catchment", 0), "tip": tip,
                           "illustrative": False},
            "geometry": shapely.geometry.mapping(polygon)}]},
        style={**_CATCHMENT_STYLE, "dashArray": "6 4" if warning else None,
               "className": "cs-layer-delineated_catchment"},
        n_features=1, n_illustrative=0, cluster=False, show=True,
        bounds=((south, west), (north, east)),
    )]
    (req, snapped) = points.iloc[0], points.iloc[1]
    layers.append(_point_layer("delineation_requested", "Outlet as clicked", req.x, req.y,
                               "Outlet as clicked", colour="#444444", marker="cross",
                               radius=7.0))
    distance = float(row["snap_distance_m"])
    layers.append(_point_layer(
        "delineation_outlet", "Outlet snapped to the stream", snapped.x, snapped.y,
        f"Outlet snapped to the stream ({distance:,.0f} m from the click)",
        colour="#d7301f", marker="circle", radius=6.0))
    return layers
