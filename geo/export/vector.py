"""GeoJSON (RFC 7946), GeoPackage and CSV renderings of an :class:`~geo.export.site.ExportSet`.

Also the value serialisation every format shares: :func:`json_value` turns any cell
(numpy, pandas NA, dates, enums) into a JSON-safe value, :func:`plain_table` makes a
table GDAL, CSV and JSON take unchanged.  Coordinates are WGS84 lon/lat rounded to
:data:`DECIMALS` decimals.  Called through :func:`geo.export.site.render`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import json
import math
import re
import tempfile
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.core import __version__
from geo.core.catalogue import LayerStyle
from geo.core.errors import DataWriteError
from geo.core.styles import css_colour, rgb_alpha
from geo.core.workspace import STANDARD_COLUMNS
from geo.export.exportset import ExportSet
from geo.export.spreadsheet import neutralise_formulas

__all__ = [
    "DECIMALS",
    "EXTRA_COLUMNS",
    "LEAD_COLUMNS",
    "cell_text",
    "collection_bytes",
    "feature_collection",
    "feature_items",
    "foreign_members",
    "geojson_bytes",
    "geometries_of",
    "gpkg_bytes",
    "items_of",
    "json_value",
    "plain_table",
    "points_table",
    "properties_by_layer",
    "render_csv",
    "render_geojson",
    "safe_name",
]

#: Decimals kept in coordinates (about 1 cm; RFC 7946 §11.2).
DECIMALS = 7
EXTRA_COLUMNS = ("role", "aws_element", "redacted")
LEAD_COLUMNS = (*STANDARD_COLUMNS, *EXTRA_COLUMNS)
_SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")


# --- value serialisation ----------------------------------


def plain_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell a str/int/float/bool/None, so GDAL, CSV and JSON take it unchanged."""
    columns: dict[str, pd.Series] = {}
    for column in frame.columns:
        if column == "geometry":
            continue
        values = [json_value(v) for v in frame[column].tolist()]
        kinds = {type(v) for v in values if v is not None}
        if kinds <= {int} or kinds <= {float} or kinds <= {bool} or kinds <= {str}:
            cells = values
        elif kinds <= {int, float}:
            cells = [None if v is None else float(v) for v in values]
        else:
            cells = [cell_text(v) for v in values]
        columns[str(column)] = pd.Series(cells, dtype=object)
    # one construction: inserting column by column costs pandas a copy each time
    return pd.DataFrame(columns, index=range(len(frame)))


def json_value(value: Any) -> Any:
    """A JSON-safe value: NaN/NaT/NA → None, numpy → Python, dates → ISO text."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [json_value(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    with contextlib.suppress(TypeError, ValueError):
        if pd.isna(value):
            return None
    if isinstance(value, StrEnum):
        return value.value
    return str(value)


def cell_text(value: Any) -> str | None:
    """A table cell as text: :func:`json_value`, with lists and dicts as JSON."""
    value = json_value(value)
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def properties_by_layer(features: gpd.GeoDataFrame) -> dict[str, list[str]]:
    """Per layer: the standard columns, then its own non-empty attributes (sorted)."""
    attributes = [c for c in features.columns
                  if c not in LEAD_COLUMNS and c != features.geometry.name]
    present = features[attributes].notna().groupby(features["layer"].astype(str),
                                                    sort=False).any()
    return {
        str(layer_id): [*LEAD_COLUMNS, *sorted((c for c in attributes if flags[c]), key=str)]
        for layer_id, flags in present.iterrows()
    }


# --- GeoJSON (RFC 7946) ----------------------------------


def _rfc7946_geometry(geometry: Any) -> Any:
    """Round to 7 decimals, then orient: exteriors counter-clockwise, holes clockwise."""
    rounded = shapely.transform(geometry, lambda xy: np.round(xy, DECIMALS))
    return shapely.orient_polygons(rounded, exterior_cw=False)


def _bbox(bounds: Iterable[float]) -> list[float]:
    return [round(float(v), DECIMALS) for v in bounds]


def _geometry_json(geometry: Any) -> dict[str, Any]:
    mapped: dict[str, Any] = json.loads(shapely.to_geojson(geometry))
    return mapped


def feature_items(features: gpd.GeoDataFrame) -> tuple[list[dict[str, Any]], np.ndarray]:
    """RFC 7946 feature dicts (JSON-safe) and the oriented, rounded geometries they hold."""
    if features.crs is not None and not features.crs.equals("EPSG:4326"):
        features = features.to_crs("EPSG:4326")
    geoms = _rfc7946_geometry(np.asarray(features.geometry.values, dtype=object))
    layout = properties_by_layer(features) if "layer" in features.columns else {}
    default = [c for c in features.columns if c != features.geometry.name]
    records = pd.DataFrame(features.drop(columns=features.geometry.name)).to_dict("records")
    bounds = shapely.bounds(geoms) if len(geoms) else np.empty((0, 4))
    items = []
    for position, record in enumerate(records):
        columns = layout.get(str(record.get("layer")), default)
        items.append({
            "type": "Feature",
            "id": str(record["fid"]),
            "bbox": _bbox(bounds[position]),
            "properties": {c: json_value(record.get(c)) for c in columns},
            "geometry": _geometry_json(geoms[position]),
        })
    return items, geoms


def _serialised(data: ExportSet) -> tuple[list[dict[str, Any]], np.ndarray]:
    if "features" not in data.cache:
        data.cache["features"] = feature_items(data.features)
    return data.cache["features"]


def items_of(data: ExportSet) -> list[dict[str, Any]]:
    """The features as RFC 7946 feature dicts (JSON-safe properties), in order (made once)."""
    return _serialised(data)[0]


def geometries_of(data: ExportSet) -> np.ndarray:
    """The features' geometries as exported: rounded to 7 decimals, RFC 7946 winding."""
    return _serialised(data)[1]


def _collection(items: list[dict[str, Any]], foreign: dict[str, Any] | None) -> dict[str, Any]:
    collection: dict[str, Any] = {"type": "FeatureCollection"}
    if foreign:
        collection.update(foreign)
    if items:
        boxes = np.array([item["bbox"] for item in items])
        collection["bbox"] = [float(boxes[:, 0].min()), float(boxes[:, 1].min()),
                              float(boxes[:, 2].max()), float(boxes[:, 3].max())]
    collection["features"] = items
    return collection


def collection_bytes(items: list[dict[str, Any]], foreign: dict[str, Any] | None) -> bytes:
    """GeoJSON text with one feature per line, so two exports diff line by line."""
    collection = _collection(items, foreign)
    collection.pop("features")
    head = json.dumps(collection, ensure_ascii=False)[:-1]  # drop the closing brace
    body = ",\n".join(json.dumps(f, ensure_ascii=False, allow_nan=False) for f in items)
    return f"{head}, \"features\": [\n{body}\n]}}\n".encode()


def feature_collection(
    features: gpd.GeoDataFrame, *, foreign: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Build an RFC 7946 FeatureCollection dict of standardised features.

    Parameters
    ----------
    features : GeoDataFrame
        Features in EPSG:4326 (transformed to it otherwise) with at least ``fid``.
    foreign : dict, optional
        Foreign members to add to the collection (RFC 7946 §6.1).

    Returns
    -------
    dict
        ``{"type": "FeatureCollection", "bbox": [w, s, e, n], "features": [...]}``;
        each feature has ``id`` = ``fid`` and its own ``bbox``.  No ``crs`` member.
    """
    return _collection(feature_items(features)[0], foreign)


def geojson_bytes(features: gpd.GeoDataFrame, *, foreign: dict[str, Any] | None = None) -> bytes:
    """Encode features as RFC 7946 GeoJSON text, one feature per line."""
    return collection_bytes(feature_items(features)[0], foreign)


def foreign_members(data: ExportSet) -> dict[str, Any]:
    """RFC 7946 §6.1 foreign members of an export: its name, site, software, redaction."""
    return {
        "name": f"{data.aws_ref} physical scope",
        "catchscope": {
            "aws_ref": data.aws_ref,
            "software": f"catchscope {__version__}",
            "redaction": data.redaction.value if data.redaction else None,
        },
    }


def render_geojson(data: ExportSet) -> dict[str, bytes]:
    """The scope as one FeatureCollection, plus one file per layer under ``<ref>-layers/``."""
    items = items_of(data)
    out = {f"{data.stem}-scope.geojson": collection_bytes(items, foreign_members(data))}
    by_layer: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_layer.setdefault(str(item["properties"]["layer"]), []).append(item)
    for layer_id, layer_items in by_layer.items():
        name = safe_name(f"{layer_id}.geojson")
        out[f"{data.stem}-layers/{name}"] = collection_bytes(layer_items, foreign_members(data))
    return out


# --- styles: SLD and QML for QGIS ----------------------------------

_SLD_MARKS = {"circle": "circle", "square": "square", "triangle": "triangle",
              "diamond": "square", "star": "star", "cross": "cross"}
_PX_TO_MM = 0.26


def _dimension(geometry_type: str) -> str:
    kind = geometry_type.replace("Multi", "")
    return {"Point": "point", "LineString": "line"}.get(kind, "polygon")


def _rgba(colour: str, alpha: float) -> str:
    """QGIS ``r,g,b,a``; a checked colour (never other text), its own alpha times ``alpha``."""
    red, green, blue, own = rgb_alpha(css_colour(colour))
    return f"{red},{green},{blue},{round(alpha * own * 255)}"


def _sld_colour(colour: str) -> str:
    """SLD ``#rrggbb``: a checked colour (never other text), its alpha dropped."""
    return css_colour(colour)[:7]


def _sld(layer_name: str, dimension: str, styles: list[tuple[str, str, LayerStyle]]) -> str:
    """SLD 1.1 (SE) with one rule per catalogue layer, filtered on the ``layer`` column."""
    rules = []
    for layer_id, title, style in styles:
        fill = _sld_colour(style.fill_color or style.color)
        stroke = (f'<se:Stroke><se:SvgParameter name="stroke">{_sld_colour(style.color)}'
                  "</se:SvgParameter>"
                  f'<se:SvgParameter name="stroke-width">{style.weight * _PX_TO_MM:.2f}'
                  f'</se:SvgParameter><se:SvgParameter name="stroke-opacity">{style.opacity}'
                  "</se:SvgParameter></se:Stroke>")
        if dimension == "point":
            rotation = "<se:Rotation>45</se:Rotation>" if style.marker == "diamond" else ""
            symbolizer = (
                "<se:PointSymbolizer><se:Graphic><se:Mark>"
                f"<se:WellKnownName>{_SLD_MARKS[style.marker]}</se:WellKnownName>"
                f'<se:Fill><se:SvgParameter name="fill">{fill}</se:SvgParameter></se:Fill>'
                f"{stroke}</se:Mark><se:Size>{style.radius * 2 * _PX_TO_MM:.2f}</se:Size>"
                f"{rotation}</se:Graphic></se:PointSymbolizer>"
            )
        elif dimension == "line":
            symbolizer = f"<se:LineSymbolizer>{stroke}</se:LineSymbolizer>"
        else:
            symbolizer = (
                "<se:PolygonSymbolizer><se:Fill>"
                f'<se:SvgParameter name="fill">{fill}</se:SvgParameter>'
                f'<se:SvgParameter name="fill-opacity">{style.fill_opacity}</se:SvgParameter>'
                f"</se:Fill>{stroke}</se:PolygonSymbolizer>"
            )
        rules.append(
            f"<se:Rule><se:Name>{html.escape(layer_id)}</se:Name><se:Description><se:Title>"
            f"{html.escape(title)}</se:Title></se:Description><ogc:Filter><ogc:PropertyIsEqualTo>"
            "<ogc:PropertyName>layer</ogc:PropertyName>"
            f"<ogc:Literal>{html.escape(layer_id)}</ogc:Literal></ogc:PropertyIsEqualTo>"
            f"</ogc:Filter>{symbolizer}</se:Rule>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<StyledLayerDescriptor version="1.1.0" xmlns="http://www.opengis.net/sld" '
        'xmlns:ogc="http://www.opengis.net/ogc" xmlns:se="http://www.opengis.net/se" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.opengis.net/sld '
        'http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd">'
        f"<NamedLayer><se:Name>{html.escape(layer_name)}</se:Name><UserStyle>"
        f"<se:Name>{html.escape(layer_name)}</se:Name><se:FeatureTypeStyle>{''.join(rules)}"
        "</se:FeatureTypeStyle></UserStyle></NamedLayer></StyledLayerDescriptor>"
    )


def _qml_options(options: dict[str, str]) -> str:
    # QGIS ≥ 3.26 reads <Option>, older 3.x reads <prop>: write both, as QGIS itself did.
    opt = "".join(f'<Option name="{k}" type="QString" value="{html.escape(v)}"/>'
                  for k, v in options.items())
    props = "".join(f'<prop k="{k}" v="{html.escape(v)}"/>' for k, v in options.items())
    return f'<Option type="Map">{opt}</Option>{props}'


def _qml(dimension: str, styles: list[tuple[str, str, LayerStyle]]) -> str:
    """A QGIS style (categorised on the ``layer`` column, one symbol per catalogue layer)."""
    categories, symbols = [], []
    for index, (layer_id, title, style) in enumerate(styles):
        fill = style.fill_color or style.color
        width = f"{style.weight * _PX_TO_MM:.2f}"
        line_style = "dash" if style.dash else "solid"
        if dimension == "point":
            symbol_type, layer_class = "marker", "SimpleMarker"
            options = {"name": style.marker, "color": _rgba(fill, 1.0),
                       "outline_color": _rgba(style.color, style.opacity),
                       "outline_width": "0.3", "size": f"{style.radius * 2 * _PX_TO_MM:.2f}",
                       "size_unit": "MM"}
        elif dimension == "line":
            symbol_type, layer_class = "line", "SimpleLine"
            options = {"line_color": _rgba(style.color, style.opacity), "line_width": width,
                       "line_width_unit": "MM", "line_style": line_style}
        else:
            symbol_type, layer_class = "fill", "SimpleFill"
            options = {"color": _rgba(fill, style.fill_opacity), "style": "solid",
                       "outline_color": _rgba(style.color, style.opacity),
                       "outline_width": width, "outline_width_unit": "MM",
                       "outline_style": line_style}
        categories.append(f'<category value="{html.escape(layer_id)}" symbol="{index}" '
                          f'label="{html.escape(title)}" render="true"/>')
        symbols.append(
            f'<symbol type="{symbol_type}" name="{index}" alpha="1" clip_to_extent="1" '
            f'force_rhr="0"><layer class="{layer_class}" enabled="1" locked="0" pass="0">'
            f"{_qml_options(options)}</layer></symbol>"
        )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.28.0" styleCategories="Symbology">'
        '<renderer-v2 type="categorizedSymbol" attr="layer" symbollevels="0" '
        'enableorderby="0" forceraster="0">'
        f"<categories>{''.join(categories)}</categories><symbols>{''.join(symbols)}</symbols>"
        "</renderer-v2></qgis>"
    )


# --- GeoPackage ----------------------------------


def _gpkg_layers(data: ExportSet) -> dict[str, gpd.GeoDataFrame]:
    """One layer per kind; a kind mixing points, lines and polygons is split by dimension."""
    groups: dict[str, dict[str, list[int]]] = {}
    pairs = zip(items_of(data), geometries_of(data), strict=True)
    for position, (item, geometry) in enumerate(pairs):
        kind = str(item["properties"]["kind"])
        groups.setdefault(kind, {}).setdefault(_dimension(geometry.geom_type), []).append(
            position)
    layers: dict[str, gpd.GeoDataFrame] = {}
    for kind, by_dimension in groups.items():
        for dimension, positions in by_dimension.items():
            name = kind if len(by_dimension) == 1 else f"{kind}_{dimension}s"
            table = plain_table(pd.DataFrame([items_of(data)[i]["properties"] for i in positions]))
            layers[safe_name(name)] = gpd.GeoDataFrame(
                table, geometry=gpd.GeoSeries(geometries_of(data)[positions], crs="EPSG:4326"))
    return layers


@contextlib.contextmanager
def _fast_sqlite() -> Any:
    """No fsync and an in-memory journal per GeoPackage layer write.

    Safe here: the file is a private temporary copy, read back at once; a failed
    export discards it whole.
    """
    options = {"OGR_SQLITE_SYNCHRONOUS": "OFF", "OGR_SQLITE_JOURNAL": "MEMORY"}
    previous = {key: pyogrio.get_gdal_config_option(key) for key in options}
    pyogrio.set_gdal_config_options(options)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(previous)


def gpkg_bytes(data: ExportSet) -> bytes:
    """The scope as a GeoPackage (see the module docstring), as bytes."""
    specs = {spec.id: spec for spec in data.specs}
    style_rows = []
    with tempfile.TemporaryDirectory(prefix="catchscope-gpkg-") as folder, _fast_sqlite():
        path = Path(folder) / f"{data.stem}.gpkg"
        for name, frame in _gpkg_layers(data).items():
            pyogrio.write_dataframe(frame, path, layer=name, driver="GPKG", FID="gpkg_fid",
                                    promote_to_multi=None, append=path.exists(),
                                    dataset_options={"VERSION": "1.2"} if not path.exists()
                                    else None)
            dimension = _dimension(str(frame.geometry.geom_type.iloc[0]))
            layer_styles = [(lid, specs[lid].title, specs[lid].style)
                            for lid in dict.fromkeys(frame["layer"].astype(str)) if lid in specs]
            style_rows.append({
                "f_table_catalog": "", "f_table_schema": "", "f_table_name": name,
                "f_geometry_column": "geom", "styleName": name,
                "styleQML": _qml(dimension, layer_styles),
                "styleSLD": _sld(name, dimension, layer_styles), "useAsDefault": True,
                "description": "Catchscope style (from the layer catalogue)",
                "owner": "catchscope", "ui": None,
                "update_time": data.generated.strftime("%Y-%m-%dT%H:%M:%SZ"),
            })
        tables = dict(data.tables)
        if style_rows:
            tables["layer_styles"] = pd.DataFrame(style_rows)
        for name, table in tables.items():
            if table.empty:
                continue
            options = {"FID": "id" if name == "layer_styles" else "gpkg_fid"}
            pyogrio.write_dataframe(table, path, layer=name, driver="GPKG",
                                    append=path.exists(), **options)
        return path.read_bytes()


# --- CSV ----------------------------------

def _csv_bytes(frame: pd.DataFrame) -> bytes:
    # no cell a spreadsheet would run as a formula (CSV injection; geo.export.spreadsheet)
    safe = neutralise_formulas(frame)
    # UTF-8 with BOM: Excel then shows Chinese names correctly
    return safe.to_csv(index=False, lineterminator="\n").encode("utf-8-sig")


def points_table(data: ExportSet) -> pd.DataFrame:
    """Point features as a table with ``lon`` and ``lat`` (WGS84, 7 decimals)."""
    points = data.features[data.features.geometry.geom_type == "Point"]
    if points.empty:  # a site mapped with parcels and lines only: the header, no rows
        header = [STANDARD_COLUMNS[0], "lon", "lat", *STANDARD_COLUMNS[1:]]
        return pd.DataFrame(columns=header)
    layout = properties_by_layer(data.features)
    columns = list(dict.fromkeys(c for layer_id in dict.fromkeys(points["layer"].astype(str))
                                 for c in layout[layer_id]))
    table = plain_table(pd.DataFrame(points[columns]).reset_index(drop=True))
    # our lon/lat are the geometry's; an attribute of the same name keeps its value aside
    table = table.rename(columns={c: f"{c}_attribute" for c in ("lon", "lat") if c in table})
    table.insert(1, "lon", np.round(points.geometry.x.to_numpy(), DECIMALS))
    table.insert(2, "lat", np.round(points.geometry.y.to_numpy(), DECIMALS))
    return table


def render_csv(data: ExportSet) -> dict[str, bytes]:
    """Points with lon/lat, and the IWRA, checklist, statements and raster tables, as CSV."""
    out = {f"{data.stem}-points.csv": _csv_bytes(points_table(data))}
    for name in ("iwras", "checklist", "statements", "raster_zonal_stats"):
        if name in data.tables:
            out[f"{data.stem}-{name}.csv"] = _csv_bytes(data.tables[name])
    return out


def safe_name(name: str) -> str:
    """``name`` if it is a plain file name (no folders, no ``..``).

    Raises
    ------
    DataWriteError
        Otherwise: file names come from validated ids only, never from data values.
    """
    if not _SAFE_NAME_RE.match(name) or ".." in name:
        raise DataWriteError(f"Refusing to write a file named {name!r}: not a plain file name.")
    return name
