"""Drawing prepared map data with folium: layers, legend, controls (part of :mod:`geo.maps.build`).

The folium elements, JavaScript snippets and CSS of the map.  Every text that reaches
them comes from a :class:`~geo.maps.data.MapData`, i.e. is already escaped; every style
value pasted into CSS or SVG here is checked again at the paste (:func:`_css`,
:func:`_num`, :func:`~geo.core.styles.svg_dash`), whatever built the ``MapData``.
"""

from __future__ import annotations

from string import Formatter
from typing import Any

import branca.element
import folium
import folium.plugins
from folium.utilities import JsCode
from jinja2 import Template

from geo.core.catalogue import Datum
from geo.core.crs import gcj02_to_wgs84
from geo.core.i18n import translator
from geo.core.markup import html_text
from geo.core.styles import css_colour, svg_dash
from geo.maps.assets import BASEMAPS, _data_uri
from geo.maps.data import _ILLUSTRATIVE_DASH, ChainLine, LayerData, MapData
from geo.maps.stress import stress_legend_html

__all__: list[str] = []  # private helpers of geo.maps.build.render_map

_OFFLINE_BACKGROUND = "#eef1f4"

def _fill(template: str, **markup: str) -> str:
    """A translated ``template`` as HTML: its text escaped, its ``{fields}`` set to ``markup``.

    ``markup`` values are HTML already (our own tags, escaped data, numbers); the text of
    the template itself, whatever a translator wrote, is escaped like data.
    """
    parts = []
    for literal, field, _spec, _conversion in Formatter().parse(template):
        parts.append(html_text(literal))
        if field is not None:
            parts.append(markup[field])
    return "".join(parts)


def _centre(bounds: tuple[tuple[float, float], tuple[float, float]]) -> tuple[float, float]:
    return ((bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2)


_PAGE_CSS = f"""<style>
.leaflet-container.leaflet-container {{ background: {_OFFLINE_BACKGROUND};
  font: 12px/1.4 system-ui, sans-serif; }}
.leaflet-control.cs-legend {{ font-size: 11px; line-height: 1.3;
  background: rgba(255,255,255,.92); padding: 6px 8px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,.3); max-height: 60vh; overflow-y: auto; max-width: 240px; }}
.cs-zoomto select {{ font: 12px system-ui, sans-serif; border: 0; padding: 4px 2px;
  max-width: 110px; background: #fff; border-radius: 4px; cursor: pointer; }}
.cs-print a {{ font-size: 18px; line-height: 30px; color: #222; }}
.leaflet-interactive.cs-selected {{ filter: drop-shadow(0 0 3px #ffd400)
  drop-shadow(0 0 2px #ffd400); }}
.cs-selected .cs-pin {{ outline: 3px solid #ffd400; border-radius: 3px; }}
@media print {{
  .leaflet-control-zoom, .leaflet-control-layers, .leaflet-control-measure,
  .leaflet-control-zoom-fullscreen, .cs-zoomto, .cs-print, .leaflet-draw,
  .leaflet-control-mouseposition {{ display: none !important; }}
  .leaflet-control.cs-legend {{ max-height: none !important; box-shadow: none;
    border: 1px solid #999; }}
}}
.cs-legend .cs-ill {{ color: #555; }}
.cs-legend .cs-ill-row {{ border-top: 1px solid #ddd; padding-top: 3px; }}
.cs-legend summary {{ cursor: pointer; margin-bottom: 3px; }}
.cs-legend .row {{ display: flex; align-items: center; gap: 6px; margin: 2px 0; }}
.cs-legend svg {{ flex: none; }}
.leaflet-control.cs-note {{ background: #fff4d6; border: 1px solid #e0b84a; padding: 4px 8px;
  max-width: 235px; border-radius: 4px; font-size: 11px; line-height: 1.3; }}
.cs-attrs th {{ text-align: left; padding-right: 6px; vertical-align: top; color: #555; }}
.cs-site-pin {{ font: bold 12px system-ui, sans-serif; color: #7a0b0b; white-space: nowrap;
  text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 3px #fff; }}
.cs-site-pin span {{ font-size: 18px; color: #d62728; }}
.cs-site-pin.cs-left {{ text-align: right; }}
.cs-illustrative .cs-pin {{ outline: 2px dotted #333; outline-offset: -1px;
  background: rgba(255,255,255,.55); border-radius: 3px; }}
.cs-pin {{ font-size: 18px; line-height: 18px; text-align: center;
  text-shadow: 0 0 2px #fff, 0 0 2px #fff; }}
</style>"""


def _add_basemaps(fmap: folium.Map, chosen: str, *, switchable: bool = True) -> None:
    """The basemaps the layer control offers (only ``chosen`` when there is none)."""
    gcj = BASEMAPS[chosen].datum is Datum.GCJ02
    for key, base in BASEMAPS.items():
        if not switchable and key != chosen:
            continue
        # Over GCJ-02 data only GCJ-02 tiles line up, and the other way round.
        if (base.datum is Datum.GCJ02) != gcj and key != "none":
            continue
        folium.TileLayer(
            tiles=base.tiles, attr=base.attribution or " ", name=base.label, overlay=False,
            control=True, show=key == chosen, max_zoom=base.max_zoom, max_native_zoom=base.max_zoom,
            subdomains=base.subdomains,
        ).add_to(fmap)


_MARKER_GLYPHS = {"square": "■", "triangle": "▲", "diamond": "◆", "star": "★", "cross": "✚"}




def _add_layer(fmap: folium.Map, layer: LayerData, *, for_export: bool,
               lang: str = "en") -> None:
    group = folium.FeatureGroup(name=_layer_label(layer, lang), show=layer.show, overlay=True)
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
                html=f'<div class="cs-pin" style="color:{_css(layer.style["color"])};'
                     f'opacity:{_num(layer.style.get("opacity", 1), 0, 1)}">{glyph}</div>',
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


def _layer_label(layer: LayerData, lang: str = "en") -> str:
    _ = translator(lang)
    extra = _fill(_(" — {count} illustrative"), count=str(layer.n_illustrative)) \
        if layer.n_illustrative else ""
    return f"{layer.title} ({layer.n_features}){extra}"


# Tooltip (and, in a standalone export, popup) from the feature's pre-escaped HTML: one
# line of JS per layer instead of a GeoJsonTooltip element (each costs a Jinja compile).
_BIND = ("function(feature, layer) { layer.bindTooltip(feature.properties.tip, {sticky: true});"
         " layer.on('click', function () { if (window.csSelect) window.csSelect(layer); }); }")
_BIND_EXPORT = (
    "function(feature, layer) { layer.bindTooltip(feature.properties.tip, {sticky: true});"
    " layer.bindPopup(feature.properties.popup, {maxWidth: 420});"
    " layer.on('click', function () { if (window.csSelect) window.csSelect(layer); }); }"
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


class _RawMacro(branca.element.MacroElement):
    """A MacroElement whose rendered script goes onto the page as it is.

    branca adds each element's rendered script as a new ``Element``, i.e. compiles it as
    a Jinja template a second time and renders that: text from data inside it (a
    legend's layer titles, a note) that reads ``{{ … }}`` would be evaluated on the
    server.  The texts are escaped (braces become entities) before they get here; this
    keeps the second pass away from them as well.
    """

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]
        """Add the script macro's output to the page without compiling it again."""
        figure: Any = self.get_root()
        script = self._template.module.__dict__["script"]
        figure.script.add_child(_RawScript(script(self, kwargs)), name=self.get_name())
        for child in self._children.values():
            child.render(**kwargs)


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
            style["lineCap"] = "round"  # round caps turn the short dashes into dots
            style["fillOpacity"] = round(float(style["fillOpacity"]) * 0.6, 3)
            if style.get("color") == "#ffffff":  # circle markers: a visible dotted ring
                style["color"], style["weight"] = "#333333", 2.0
            # also on point symbols (div icons take the class): a dashed frame, see CSS
            style["className"] = f"{style.get('className', '')} cs-illustrative".strip()
        if properties.get("focus"):
            style["weight"] = float(style["weight"]) + 1.5
        return style


def _add_chain(fmap: folium.Map, chain: list[ChainLine], lang: str = "en") -> None:
    _ = translator(lang)
    group = folium.FeatureGroup(name=html_text(_("Water chain (direction of flow)")), show=True,
                                overlay=True)
    group.add_to(fmap)
    for line in chain:
        tooltip = line.label or html_text(_("water chain"))
        polyline = folium.PolyLine([line.start, line.end], color="#0b5394", weight=3,
                                   opacity=0.9, dash_array="8 6", tooltip=tooltip)
        polyline.add_to(group)
        folium.plugins.PolyLineTextPath(
            polyline, "     ►     ", repeat=True, center=False, offset=5,
            attributes={"fill": "#0b5394", "font-size": "14", "font-weight": "bold"},
        ).add_to(group)


def _add_pins(fmap: folium.Map, pins: list[tuple[float, float, str]], lang: str = "en") -> None:
    _ = translator(lang)
    group = folium.FeatureGroup(name=html_text(_("Site location")), show=True, overlay=True)
    group.add_to(fmap)
    # Neighbouring sites (the demo's two are 2 km apart) would print their labels over
    # each other: from west to east, every other label goes on the left of its star.
    for index, (lat, lon, label) in enumerate(sorted(pins, key=lambda pin: pin[1])):
        short = label.split(" — ")[0]
        if len(pins) > 1 and index % 2 == 0:
            html = f'<div class="cs-site-pin cs-left">{short} <span>★</span></div>'
            anchor = (111, 11)
        else:
            html = f'<div class="cs-site-pin"><span>★</span> {short}</div>'
            anchor = (9, 11)
        icon = folium.DivIcon(html=html, icon_size=(120, 22), icon_anchor=anchor,
                              class_name="cs-div")
        # Not interactive: a click on the pin reaches the parcel beneath it.
        folium.Marker((lat, lon), icon=icon, interactive=False, keyboard=False).add_to(group)


def _css(colour: object) -> str:
    """A colour for a CSS or SVG attribute: a checked ``#rrggbb(aa)``, never other text."""
    return css_colour(colour)


def _num(value: object, low: float, high: float) -> str:
    """A number for an SVG attribute, clamped to ``[low, high]`` (0 when it is not one)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = 0.0
    if number != number:  # NaN
        number = 0.0
    return str(min(max(number, low), high))


def _svg_symbol(layer: LayerData) -> str:
    s = layer.style
    colour = _css(s["color"])
    fill = css_colour(s.get("fillColor"), colour)
    pattern = svg_dash(s.get("dashArray"))
    dash = f' stroke-dasharray="{pattern}"' if pattern else ""
    if layer.geometry_type == "point":
        glyph = _MARKER_GLYPHS.get(str(s["marker"]))
        if glyph:
            return (f'<svg width="18" height="14"><text x="3" y="12" fill="{colour}" '
                    f'font-size="13">{glyph}</text></svg>')
        return (f'<svg width="18" height="14"><circle cx="9" cy="7" r="5" fill="{fill}" '
                f'stroke="#fff" stroke-width="1.5"/></svg>')
    if layer.geometry_type == "line":
        return (f'<svg width="18" height="14"><line x1="1" y1="10" x2="17" y2="4" '
                f'stroke="{colour}" stroke-width="{_num(s["weight"], 0, 5)}"{dash}/></svg>')
    return (f'<svg width="18" height="14"><rect x="1" y="2" width="16" height="10" '
            f'fill="{fill}" fill-opacity="{_num(s["fillOpacity"], 0.15, 1)}" '
            f'stroke="{colour}" stroke-width="1.5"{dash}/></svg>')


def _legend_html(data: MapData) -> str:
    _ = translator(data.lang)  # the legend's own words; titles and names are data
    rows = []
    for layer in data.layers:
        extra = ""
        if layer.n_illustrative:
            share = (_fill(_("(illustrative)")) if layer.n_illustrative == layer.n_features
                     else _fill(_("({count} of {total} illustrative)"),
                                count=str(layer.n_illustrative), total=str(layer.n_features)))
            extra = f' <i class="cs-ill">{share}</i>'
        rows.append(f'<div class="row">{_svg_symbol(layer)}<span>{layer.title}{extra}</span>'
                    "</div>")
    if data.pins:
        rows.append('<div class="row"><svg width="18" height="14"><text x="1" y="13" '
                    'fill="#d62728" font-size="15">★</text></svg><span>'
                    + _fill(_("Site location (AWS reference)")) + "</span></div>")
    if data.chain:
        rows.append('<div class="row"><svg width="18" height="14"><line x1="1" y1="7" x2="13" '
                    'y2="7" stroke="#0b5394" stroke-width="3" stroke-dasharray="4 3"/>'
                    '<text x="10" y="11" fill="#0b5394" font-size="10">►</text></svg><span>'
                    + _fill(_("Water chain (direction of flow): source → site → discharge → "
                              "receiving water")) + "</span></div>")
    if any(layer.n_illustrative for layer in data.layers):
        dotted = _fill(_("{dotted} outline, line or frame: {illustrative} — placed plausibly "
                         "from report facts, not surveyed"),
                       dotted="<b>" + _fill(_("Dotted")) + "</b>",
                       illustrative="<b>" + _fill(_("illustrative")) + "</b>")
        rows.append('<div class="row cs-ill-row"><svg width="18" height="14"><rect x="1.5" '
                    'y="2" width="15" height="10" fill="none" stroke="#333" stroke-width="2" '
                    f'stroke-linecap="round" stroke-dasharray="{_ILLUSTRATIVE_DASH}"/></svg>'
                    f"<span>{dotted}</span></div>")
    # empty without Aqueduct data
    rows.append(stress_legend_html(data.water_stress, gettext=_))
    return ("<details open><summary><b>" + _fill(_("Legend")) + f"</b> · {data.title}</summary>"
            + "".join(rows) + "</details>")


class _FitView(_RawMacro):
    """Frame the site, keep the view across re-renders, and a "Zoom to" menu.

    A fresh map frames ``fit`` (the site in focus), keeping it clear of the legend (top
    right; its real width is measured in the browser).  With a ``key``, the view is kept
    in the tab's ``sessionStorage`` on every move: a map rebuilt with the same key (another
    basemap, map mode or layer set, a save, an undo) opens where the user left it; another
    key (another site, a "zoom to" request from the app) frames afresh.  The standalone
    export has no key.  The menu's labels are escaped text (``MapData.extents``).
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function (map) {
            // Leaflet focuses the map on mousedown (keyboard panning) and puts back only the
            // scroll of its own window: in the app's iframe the focus scrolls the page, the
            // map moves under the pointer between press and release, and the click is lost.
            var keys = map.keyboard;
            if (keys && keys._onMouseDown) {
                L.DomEvent.off(map.getContainer(), "mousedown", keys._onMouseDown, keys);
                keys._onMouseDown = function () {
                    if (!this._focused) { this._map.getContainer().focus({preventScroll: true}); }
                };
                L.DomEvent.on(map.getContainer(), "mousedown", keys._onMouseDown, keys);
            }
            var extents = {{ this.extents|tojson }};
            var key = {{ this.key|tojson }}, storeKey = "catchscope.view", store = null;
            // The view is kept in WGS84: over Amap tiles the map shows GCJ-02, ~500 m off.
            var shift = {{ this.shift|tojson }};
            function frame(bounds) {
                if (map._animatingZoom) {  // Leaflet would drop a view asked for mid-zoom
                    map.once("zoomend", function () { frame(bounds); });
                    return;
                }
                // clear of the legend: beside it when open (if 180 px are left for the
                // data), below it when closed (its summary line)
                var size = map.getSize(), right = 20, top = 20;
                var legend = map.getContainer().querySelector(".cs-legend");
                if (legend && legend.querySelector("details[open]")) {
                    if (size.x - legend.offsetWidth - 16 - 50 >= 180) {
                        right = legend.offsetWidth + 16;
                    }
                } else if (legend) {
                    top = Math.max(20, legend.offsetTop + legend.offsetHeight + 8);
                }
                map.fitBounds(bounds, {paddingTopLeft: [50, top],
                                       paddingBottomRight: [right, 20]});
            }
            var saved = null;
            if (key !== null) {
                try {
                    store = window.sessionStorage;
                    saved = JSON.parse(store.getItem(storeKey) || "null");
                } catch (err) { store = null; }
            }
            if (saved && saved.key === key && isFinite(saved.zoom)) {
                map.setView([saved.center[0] + shift[0], saved.center[1] + shift[1]],
                            saved.zoom, {animate: false});
            } else {
                frame({{ this.fit|tojson }});
            }
            if (store !== null) {
                map.on("moveend", function () {
                    var c = map.getCenter();
                    try {
                        store.setItem(storeKey, JSON.stringify({key: key, zoom: map.getZoom(),
                            center: [c.lat - shift[0], c.lng - shift[1]]}));
                    } catch (err) { /* storage full or refused: the view is not kept */ }
                });
            }
            var control = L.control({position: "topleft"});
            control.onAdd = function () {
                var div = L.DomUtil.create("div", "leaflet-bar cs-zoomto");
                var select = L.DomUtil.create("select", "", div);
                select.setAttribute("aria-label", {{ this.words.zoom_to|tojson }});
                select.title = {{ this.words.title|tojson }};
                var first = document.createElement("option");
                first.value = "";
                first.textContent = {{ this.words.first|tojson }};
                select.appendChild(first);
                extents.forEach(function (entry, index) {
                    var option = document.createElement("option");
                    option.value = String(index);
                    option.innerHTML = entry[0];  // escaped text (MapData.extents)
                    select.appendChild(option);
                });
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                L.DomEvent.on(select, "change", function () {
                    if (select.value !== "") { frame(extents[Number(select.value)][1]); }
                    select.value = "";
                });
                return div;
            };
            control.addTo(map);
            // The selected feature stands out (a yellow halo) until another is picked, and
            // again after a re-render of the same map (its ref is kept beside the view).
            function mark(layer, on) {
                var element = layer.getElement ? layer.getElement() : null;
                if (element) { element.classList.toggle("cs-selected", on); }
                if (layer.setStyle && layer.options) {
                    if (on) {
                        layer._csStyle = {color: layer.options.color,
                                          weight: layer.options.weight};
                        layer.setStyle({color: "#ffb000", weight: (layer.options.weight || 2) + 3});
                    } else if (layer._csStyle) {
                        layer.setStyle(layer._csStyle);
                    }
                }
            }
            window.csSelect = function (layer) {
                if (window.csSelected && window.csSelected !== layer) {
                    mark(window.csSelected, false);
                }
                window.csSelected = layer;
                mark(layer, true);
                var ref = layer.feature && layer.feature.properties.ref;
                if (store !== null && ref) {
                    try {
                        store.setItem("catchscope.selected", JSON.stringify({key: key, ref: ref}));
                    } catch (err) { /* not kept */ }
                }
            };
            var picked = null;
            try { picked = store && JSON.parse(store.getItem("catchscope.selected") || "null"); }
            catch (err) { picked = null; }
            if (!(picked && picked.key === key) && {{ this.selected|tojson }} !== null) {
                picked = {key: key, ref: {{ this.selected|tojson }}};
            }
            if (picked && picked.key === key) {
                map.eachLayer(function (layer) {  // every feature drawn, groups' too
                    if (layer.feature && layer.feature.properties &&
                        layer.feature.properties.ref === picked.ref) {
                        window.csSelect(layer);
                    }
                });
            }
        })({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, data: MapData) -> None:
        super().__init__()
        self._name = "FitView"
        self.fit = [list(b) for b in (data.fit or data.bounds)]
        self.extents = [[_extent_label(data, entry, label), [list(b[0]), list(b[1])]]
                        for entry, label, b in data.extents]
        _ = translator(data.lang)
        self.words = {"zoom_to": _("Zoom to"),
                      "title": _("Zoom to the site, the water chain or a layer"),
                      "first": _("Zoom to…")}
        self.key = data.view_key
        self.selected = data.selected
        self.shift = _display_shift(data)


def _extent_label(data: MapData, entry: str, label: str) -> str:
    """The "Zoom to" label of an extent in the map's language (escaped HTML)."""
    if data.lang == "en":
        return label  # as prepared (geo.maps.data._extents)
    _ = translator(data.lang)
    fixed = {"site": _("The site"), "all": _("All layers"),
             "chain": _("Water chain") if any(e[0] == "site" for e in data.extents)
             else _("The sites' water chains")}
    if entry in fixed:
        return html_text(fixed[entry])
    titles = {f"layer:{layer.layer_id}": layer.title for layer in data.layers}  # escaped
    if entry in titles:
        return _fill(_("Layer: {title}"), title=titles[entry])
    return label


def _display_shift(data: MapData) -> list[float]:
    """``[dlat, dlon]`` from WGS84 to the display datum near the map's focus (0 in WGS84).

    GCJ-02's offset changes by metres over tens of kilometres, so one offset at the focus
    carries a kept view between an Amap map and a WGS84 one.
    """
    if data.display_datum is not Datum.GCJ02:
        return [0.0, 0.0]
    (south, west), (north, east) = data.fit or data.bounds
    lat, lon = (south + north) / 2, (west + east) / 2
    wgs_lon, wgs_lat = gcj02_to_wgs84(lon, lat)
    return [float(lat - wgs_lat), float(lon - wgs_lon)]


class _Print(_RawMacro):
    """A button that prints the map as it is on screen (the browser's print dialog).

    The print style sheet (``_PAGE_CSS``) hides the buttons and keeps the legend, the
    scale and the notes, so the printout says what it shows.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function (map) {
            var control = L.control({position: "topleft"});
            control.onAdd = function () {
                var div = L.DomUtil.create("div", "leaflet-bar cs-print");
                var button = L.DomUtil.create("a", "", div);
                button.href = "#";
                button.setAttribute("role", "button");
                button.setAttribute("aria-label", {{ this.label|tojson }});
                button.title = {{ this.label|tojson }};
                button.innerHTML = '<svg width="16" height="16" viewBox="0 0 16 16" ' +
                    'aria-hidden="true" style="vertical-align:middle"><path fill="#333" ' +
                    'd="M4 1h8v4H4zM2 6h12a1 1 0 0 1 1 1v5h-3v3H4v-3H1V7a1 1 0 0 1 1-1zm3 ' +
                    '5v3h6v-3zm8-3a.8.8 0 1 0 0 1.6.8.8 0 0 0 0-1.6z"/></svg>';
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.on(button, "click", function (event) {
                    L.DomEvent.preventDefault(event);
                    var legend = map.getContainer().querySelector(".cs-legend details");
                    if (legend) { legend.open = true; }
                    window.print();
                });
                return div;
            };
            control.addTo(map);
        })({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, label: str = "Print this view") -> None:
        super().__init__()
        self._name = "Print"
        self.label = label


class _Legend(_RawMacro):
    """A legend control; its HTML is built from escaped values and passed as a JSON string."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: "topright"});
        {{ this.get_name() }}.onAdd = function (map) {
            var div = L.DomUtil.create("div", "cs-legend");
            div.innerHTML = {{ this.html|tojson }};
            L.DomEvent.disableScrollPropagation(div);
            L.DomEvent.disableClickPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        (function (map, div) {
            // Top right, below the layer control and the notes (one column: never over
            // them), as wide and tall as the map leaves room for; closed when open it
            // would cover more than a quarter of the map (a phone, a small map).
            var details = div.querySelector("details");
            function fit() {
                var size = map.getSize();
                div.style.maxWidth = Math.max(120, Math.min(260, size.x - 150)) + "px";
                div.style.maxHeight = Math.max(60, size.y - (div.offsetTop || 10) - 40) + "px";
            }
            fit();
            var size = map.getSize();
            if (details && (size.x < 480 ||
                            div.offsetWidth * div.offsetHeight > 0.25 * size.x * size.y)) {
                details.open = false;
            }
            map.on("resize", fit);
            if (details) { details.addEventListener("toggle", fit); }
        })({{ this._parent.get_name() }}, {{ this.get_name() }}.getContainer());
        {% endmacro %}
    """)

    def __init__(self, html_text: str) -> None:
        super().__init__()
        self._name = "Legend"
        self.html = html_text



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
    """A visible note at the top right, above the legend's column (e.g. the GCJ-02 shift)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: "topright"});
        {{ this.get_name() }}.onAdd = function (map) {
            var div = L.DomUtil.create("div", "cs-note");
            div.innerHTML = {{ this.html|tojson }};
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)
