"""Offline assets and basemaps of the web map (part of :mod:`geo.maps.build`).

folium loads Leaflet and its plugins from CDNs by default.  The files are vendored in
``geo/maps/static/`` (see its README): :func:`localise_assets` points a map at a local URL
(the app serves the folder) and :func:`map_html` inlines them into a standalone page
(the export), so no request leaves the machine unless the user picks an online basemap.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import branca.element
import folium

from geo.core.catalogue import Datum
from geo.core.errors import GeoError
from geo.core.i18n import N_

__all__ = ["BASEMAPS", "GCJ02_NOTE", "STATIC_DIR", "Basemap", "localise_assets", "map_html"]

#: The vendored Leaflet/plugin files (committed; see README.md there).
STATIC_DIR = Path(__file__).resolve().parent / "static"

_NO_TILES = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="


@dataclass(frozen=True)
class Basemap:
    """A background tile layer the user can pick."""

    key: str
    label: str  # English; the app shows it translated (geo.core.i18n)
    tiles: str
    attribution: str
    datum: Datum = Datum.WGS84
    subdomains: str = "abc"
    max_zoom: int = 19
    online: bool = True


#: The basemaps offered, keyed by the name :func:`build_map` takes.
BASEMAPS: dict[str, Basemap] = {
    "none": Basemap("none", N_("No basemap (offline)"), _NO_TILES, "", online=False),
    "osm": Basemap(
        "osm", "OpenStreetMap", "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
    ),
    "light": Basemap(
        "light", N_("Light (CARTO Positron)"),
        "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
        '&copy; OpenStreetMap contributors &copy; <a href="https://carto.com/attributions">CARTO</a>',
        subdomains="abcd", max_zoom=20,
    ),
    "satellite": Basemap(
        "satellite", N_("Satellite (Esri World Imagery)"),
        "https://server.arcgisonline.com/ArcGIS/rest/services/World_Imagery/MapServer/tile/{z}/{y}/{x}",
        "Tiles &copy; Esri &mdash; Source: Esri, Maxar, Earthstar Geographics, and the GIS "
        "User Community",
        max_zoom=18,
    ),
    "amap": Basemap(
        "amap", N_("Amap / Gaode (GCJ-02)"),
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
        "&x={x}&y={y}&z={z}",
        "&copy; AutoNavi / Amap (GCJ-02)", datum=Datum.GCJ02, subdomains="1234", max_zoom=18,
    ),
}

#: Shown on the map whenever data is shifted to GCJ-02 for display.
GCJ02_NOTE = N_(
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
        URL prefix under which ``geo/maps/static/`` is served, e.g. ``"/component/x/"``.

    Raises
    ------
    GeoError
        If an element asks for a resource that is not vendored (the map would need the
        network); vendor it in ``geo/maps/static/vendor.py`` or draw it differently.
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
                        "vendored in geo/maps/static/: the map would not work offline. Add it to "
                        "geo/maps/static/vendor.py or draw the element differently."
                    )
                else:
                    local.append((name, url))
            setattr(element, attribute, local)


def map_html(fmap: folium.Map, title: str = "Catchscope map", lang: str = "en") -> str:
    """Render the map as one standalone HTML page, Leaflet and plugins inlined (offline).

    The page names its language and has a title (the tab, bookmarks and screen readers
    read it); ``title`` is text, escaped here.
    """
    _rewrite_assets(fmap, lambda name: f"catchscope-static:{name}")
    page = fmap.get_root().render()
    page = page.replace("<html>", f'<html lang="{html.escape(lang, quote=True)}">', 1)
    page = page.replace("<head>", f"<head>\n    <title>{html.escape(title)}</title>", 1)

    def inline_js(match: re.Match[str]) -> str:
        source = (STATIC_DIR / match.group(1)).read_text(encoding="utf-8")
        return "<script>" + source.replace("</script", "<\\/script") + "</script>"

    def inline_css(match: re.Match[str]) -> str:
        return "<style>" + (STATIC_DIR / match.group(1)).read_text(encoding="utf-8") + "</style>"

    page = re.sub(r'<script src="catchscope-static:([^"]+)"></script>', inline_js, page)
    page = re.sub(r'<link rel="stylesheet" href="catchscope-static:([^"]+)"\s*/>', inline_css, page)
    return page



def _data_uri(name: str) -> str:
    return "data:image/png;base64," + base64.b64encode((STATIC_DIR / name).read_bytes()).decode()

