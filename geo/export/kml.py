"""KML 2.2 and KMZ renderings of an :class:`~geo.export.site.ExportSet` (Google Earth).

A folder per layer, the catalogue's styles as KML styles (colours are aabbggrr),
names, and every attribute both as an HTML-escaped description table and as
``ExtendedData``.  Called through :func:`geo.export.site.render`.

Every value is data: names and ``ExtendedData`` are XML text (ElementTree escapes them;
:func:`~geo.core.markup.xml_text` drops what XML cannot hold), so a GIS reads back the
literal text; descriptions are what Google Earth renders as HTML balloons, so their
text is HTML-escaped first (:func:`~geo.core.markup.balloon_text`, which also stops
Google Earth's ``$[field]`` substitution).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any
from xml.etree import ElementTree as ET

from geo.core.markup import balloon_text, xml_text
from geo.core.styles import css_colour, rgb_alpha
from geo.export.exportset import ExportSet, sheet_caveat
from geo.export.vector import DECIMALS, geometries_of, items_of, json_value

__all__ = ["kml_bytes", "kml_document", "kmz_bytes"]


def _kml_colour(colour: str, alpha: float) -> str:
    """KML colours are aabbggrr; a ``#rrggbbaa`` colour's own alpha multiplies ``alpha``."""
    red, green, blue, own = rgb_alpha(css_colour(colour))
    return f"{round(alpha * own * 255):02x}{blue:02x}{green:02x}{red:02x}"


_KML_NS = "http://www.opengis.net/kml/2.2"
_KML_ICONS = {  # Google Earth's built-in shape icons, tinted by IconStyle colour
    "circle": "http://maps.google.com/mapfiles/kml/shapes/placemark_circle.png",
    "square": "http://maps.google.com/mapfiles/kml/shapes/square.png",
    "triangle": "http://maps.google.com/mapfiles/kml/shapes/triangle.png",
    "diamond": "http://maps.google.com/mapfiles/kml/shapes/open-diamond.png",
    "star": "http://maps.google.com/mapfiles/kml/shapes/star.png",
    "cross": "http://maps.google.com/mapfiles/kml/shapes/cross-hairs.png",
}


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = xml_text(text)
    return element


def _kml_coordinates(coords: Any) -> str:
    return " ".join(f"{_num(x)},{_num(y)}" for x, y, *_ in coords)


def _num(value: float) -> str:
    text = f"{value:.{DECIMALS}f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


def _kml_geometry(parent: ET.Element, geometry: Any) -> None:
    kind = geometry.geom_type
    if kind == "Point":
        _sub(_sub(parent, "Point"), "coordinates", _kml_coordinates(geometry.coords))
    elif kind == "LineString":
        line = _sub(parent, "LineString")
        _sub(line, "tessellate", "1")
        _sub(line, "coordinates", _kml_coordinates(geometry.coords))
    elif kind == "Polygon":
        polygon = _sub(parent, "Polygon")
        _sub(polygon, "tessellate", "1")
        outer = _sub(_sub(polygon, "outerBoundaryIs"), "LinearRing")
        _sub(outer, "coordinates", _kml_coordinates(geometry.exterior.coords))
        for ring in geometry.interiors:
            inner = _sub(_sub(polygon, "innerBoundaryIs"), "LinearRing")
            _sub(inner, "coordinates", _kml_coordinates(ring.coords))
    else:  # Multi* and collections
        multi = _sub(parent, "MultiGeometry")
        for part in geometry.geoms:
            _kml_geometry(multi, part)


def _description(properties: dict[str, Any]) -> str:
    """An HTML table of the attributes, every key and value escaped (Google Earth renders it)."""
    rows = "".join(
        f"<tr><th align='left'>{balloon_text(k)}</th><td>{balloon_text(_display(v))}</td></tr>"
        for k, v in properties.items() if v is not None and v != ""
    )
    return f"<table border='1' cellpadding='2' style='border-collapse:collapse'>{rows}</table>"


def _display(value: Any) -> str:
    value = json_value(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def kml_bytes(data: ExportSet) -> bytes:
    """The scope as KML 2.2 for Google Earth: a folder per layer, styles, descriptions."""
    ET.register_namespace("", _KML_NS)
    root = ET.Element("kml", xmlns=_KML_NS)
    document = _sub(root, "Document")
    _sub(document, "name", data.title)
    _sub(document, "description", balloon_text(sheet_caveat(data)))  # a balloon: HTML
    specs = {spec.id: spec for spec in data.specs}
    for spec in data.specs:
        style_el = _sub(document, "Style")
        style_el.set("id", f"style-{spec.id}")
        style = spec.style
        icon_style = _sub(style_el, "IconStyle")
        _sub(icon_style, "color", _kml_colour(style.fill_color or style.color, 1.0))
        _sub(icon_style, "scale", f"{max(style.radius / 6.0, 0.5):.2f}")
        _sub(_sub(icon_style, "Icon"), "href", _KML_ICONS[style.marker])
        line_style = _sub(style_el, "LineStyle")
        _sub(line_style, "color", _kml_colour(style.color, style.opacity))
        _sub(line_style, "width", f"{style.weight:g}")
        poly_style = _sub(style_el, "PolyStyle")
        _sub(poly_style, "color", _kml_colour(style.fill_color or style.color, style.fill_opacity))
    folders: dict[str, ET.Element] = {}
    for item, geometry in zip(items_of(data), geometries_of(data), strict=True):
        properties = item["properties"]
        layer_id = str(properties["layer"])
        if layer_id not in folders:
            folder = _sub(document, "Folder")
            _sub(folder, "name", specs[layer_id].title if layer_id in specs else layer_id)
            folders[layer_id] = folder
        placemark = _sub(folders[layer_id], "Placemark")
        placemark.set("id", f"f-{_xml_id(item['id'])}")
        _sub(placemark, "name", str(properties.get("name") or item["id"]))
        _sub(placemark, "description", _description(properties))
        _sub(placemark, "styleUrl", f"#style-{layer_id}")
        extended = _sub(placemark, "ExtendedData")
        for key, value in properties.items():
            if value is None:
                continue
            entry = _sub(extended, "Data")
            entry.set("name", xml_text(key))
            _sub(entry, "value", _display(value))
        _kml_geometry(placemark, geometry)
    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _xml_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def kml_document(data: ExportSet) -> bytes:
    """The KML document of ``data``, made once and kept in ``data.cache`` (KML and KMZ share it)."""
    cached = data.cache.get("kml")
    if cached is None:
        cached = data.cache["kml"] = kml_bytes(data)
    return cached


def kmz_bytes(data: ExportSet) -> bytes:
    """KMZ: ``doc.kml`` zipped (Google Earth's packaged form).

    The document is :func:`kml_document`: made once per export set for both KML and KMZ.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("doc.kml", kml_document(data))
    return buffer.getvalue()
