"""Feature operations of the "Draw and edit" map mode, and the Draw toolbar (no session state).

:func:`add_feature`, :func:`update_feature` and :func:`delete_feature` change one feature
of a layer through :mod:`geo.store.edits` (version-checked; each save can be undone);
:func:`add_draw_control` puts Leaflet.draw's toolbar, served from the vendored
``geo/maps/static/leaflet.draw.*``, on a folium map.  Used by :mod:`ui.edit`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import folium
import folium.plugins
import geopandas as gpd
import pandas as pd
import pyproj
import shapely
from shapely.geometry import mapping, shape

from geo.core.catalogue import AccuracyClass, Datum, LayerKind, LayerSpec
from geo.core.crs import convert_datum
from geo.core.errors import DataWriteError, GeoError
from geo.core.workspace import Workspace
from geo.store import edits as store

__all__ = [
    "KIND_FIELDS",
    "PARCEL_CONFIRM_M2",
    "ParcelSizeError",
    "add_draw_control",
    "add_feature",
    "delete_feature",
    "editable_layers",
    "fits",
    "geometry_json",
    "parcel_size_problem",
    "update_feature",
]

_FAMILY = {"Point": "point", "MultiPoint": "point", "LineString": "line",
           "MultiLineString": "line", "Polygon": "polygon", "MultiPolygon": "polygon"}
#: The geometry family each kind takes (kinds not listed take any).
_KIND_FAMILY: dict[LayerKind, str] = {
    LayerKind.DISCHARGE_POINT: "point", LayerKind.WATER_SOURCE: "point",
    LayerKind.FACILITY: "point", LayerKind.RIVER: "line", LayerKind.PIPE: "line",
    LayerKind.SITE: "polygon", LayerKind.CATCHMENT: "polygon",
    LayerKind.CATCHMENT_UNIT: "polygon", LayerKind.LAKE: "polygon",
    LayerKind.IWRA: "polygon", LayerKind.ADMIN: "polygon",
}
#: Attributes the form offers per kind (besides name, site and accuracy), as the demo uses.
KIND_FIELDS: dict[LayerKind, tuple[str, ...]] = {
    LayerKind.DISCHARGE_POINT: ("discharge_type", "receiving_body", "flows_to"),
    LayerKind.WATER_SOURCE: ("source_type", "water_body", "owned_by_site", "operator",
                             "supplies", "flows_to"),
    LayerKind.FACILITY: ("facility_type", "operator", "owned_by_site", "serves", "capacity",
                         "flows_to"),
    LayerKind.PIPE: ("pipe_type", "operator", "owned_by_site", "flows_to"),
    LayerKind.SITE: ("site_name", "address"),
    LayerKind.RIVER: ("flows_to",),
    LayerKind.LAKE: ("flows_to",),
    LayerKind.IWRA: ("category", "status"),
    LayerKind.CATCHMENT_UNIT: ("level", "next_down"),
}
_FIXED = ("fid", "layer", "kind", "source", "datum", "geometry")


# --- feature operations (no Streamlit) ------------------------------------------------------


def editable_layers(ws: Workspace, family: str | None = None) -> list[LayerSpec]:
    """Vector layers of ``ws`` a user may edit, optionally only those taking ``family``."""
    return [spec for spec in ws.specs.values() if not spec.is_raster
            and (family is None or fits(spec.kind, family))]


def fits(kind: LayerKind, family: str) -> bool:
    """Whether a layer of ``kind`` takes geometries of ``family`` (point/line/polygon)."""
    expected = _KIND_FAMILY.get(kind)
    return expected is None or expected == family


def _geometry(geojson: Mapping[str, Any], display_datum: Datum) -> shapely.Geometry:
    """A drawn GeoJSON geometry (or feature) in WGS84, checked."""
    raw = geojson.get("geometry", geojson)
    try:
        geom = shape(raw)
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.ShapelyError) as err:
        raise DataWriteError(f"The drawn shape is not a geometry ({err}); draw it again.") \
            from None
    if geom.is_empty:
        raise DataWriteError("The drawn shape is empty; draw it again.")
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise DataWriteError("The drawn shape lies outside longitude -180…180 / latitude "
                             "-90…90; draw it again inside the map.")
    if not geom.is_valid:
        repaired = shapely.make_valid(geom)
        if _FAMILY.get(repaired.geom_type) != _FAMILY.get(geom.geom_type):
            raise DataWriteError(f"The drawn {geom.geom_type} crosses itself and cannot be "
                                 "repaired; draw it again without crossing edges.")
        geom = repaired
    if display_datum is Datum.GCJ02:  # drawn over Amap tiles: GCJ-02 screen coordinates
        geom = convert_datum(gpd.GeoSeries([geom], crs="EPSG:4326"), Datum.GCJ02,
                             Datum.WGS84).iloc[0]
    return geom


def _taken_fids(ws: Workspace) -> set[str]:
    taken: set[str] = set()
    for spec in editable_layers(ws):
        try:
            taken |= set(ws.load(spec.id)["fid"].astype(str))
        except GeoError:
            continue
    return taken


def _new_fid(ws: Workspace, layer_id: str) -> str:
    taken = _taken_fids(ws)
    counter = 1
    while f"{layer_id}-{counter}" in taken:
        counter += 1
    return f"{layer_id}-{counter}"


def _clean(attrs: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if key in _FIXED:
            continue
        text = value.strip() if isinstance(value, str) else value
        out[key] = None if text == "" else text
    if out.get("accuracy") is not None:
        out["accuracy"] = AccuracyClass(out["accuracy"]).value
    return out


_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0"}


def _like(column: pd.Series | None, value: Any) -> Any:
    """A typed-in value as the column's type (true/false, numbers), so types do not drift."""
    if column is None or value is None or not isinstance(value, str):
        return value
    known = column.dropna()
    if pd.api.types.is_bool_dtype(column) or (
            len(known) and all(isinstance(v, bool) for v in known)):
        lowered = value.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else value
    if pd.api.types.is_numeric_dtype(column):
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if pd.api.types.is_integer_dtype(column) and number.is_integer() \
            else number
    return value


def _current(ws: Workspace, layer_id: str) -> gpd.GeoDataFrame:
    frame = ws.load(layer_id)
    return frame.drop(columns=[c for c in ("layer", "kind") if c in frame.columns])


def _author() -> str:
    """Who is saving: the signed-in account (or the local user), for the edit history.

    Every save of the app asks for it first, so this is also where a role that may not
    edit is refused on the server, whatever the page sent.
    """
    from geo.serve.accounts import Action
    from ui import auth

    auth.require(Action.EDIT, "saving changes to a layer")
    return auth.current().author


#: A site's parcels larger than this (in all) are saved only once the user confirms the
#: size, when the record states no site area (the demo sites are 0.2 and 0.33 km²; a
#: large factory campus is a few km²; a polygon around the town is tens).
PARCEL_CONFIRM_M2 = 10_000_000.0
#: With a site area stated in the record: parcels past this multiple of it need confirming.
PARCEL_STATED_FACTOR = 1.5
_GEOD = pyproj.Geod(ellps="WGS84")


class ParcelSizeError(DataWriteError):
    """A site parcel far larger than the site: saved only when the user confirms it."""


def _area_text(m2: float) -> str:
    return f"{m2 / 1e6:,.1f} km²" if m2 >= 1e6 else f"{m2:,.0f} m²"


def parcel_size_problem(ws: Workspace, layer_id: str, geom: shapely.Geometry,
                        aws_ref: str | None, fid: str | None = None) -> str | None:
    """Why a new or reshaped site parcel looks too large to be the site, or None.

    The site's parcels in all (``fid`` replaced by ``geom``) are compared with the site
    area the record states, else with :data:`PARCEL_CONFIRM_M2`.  Areas are geodesic
    (WGS84 ellipsoid).
    """
    if ws.spec(layer_id).kind is not LayerKind.SITE or geom.is_empty:
        return None
    area = abs(_GEOD.geometry_area_perimeter(geom)[0])
    others = 0.0
    if aws_ref:
        current = _current(ws, layer_id)
        mine = current[(current.get("aws_ref", pd.Series(index=current.index, dtype=object))
                        .astype(str) == aws_ref)
                       & (current["fid"].astype(str) != str(fid))]
        others = float(sum(abs(_GEOD.geometry_area_perimeter(g)[0])
                           for g in mine.geometry if g is not None and not g.is_empty))
    record = ws.records.get(aws_ref) if aws_ref else None
    stated = getattr(record, "area_m2", None)
    total = area + others
    if stated and total > PARCEL_STATED_FACTOR * stated:
        return (f"With this parcel ({_area_text(area)}) the parcels of {aws_ref} cover "
                f"{_area_text(total)}, {total / stated:,.0f}× the site area its record states "
                f"({_area_text(stated)}). Check the polygon goes round the site, not the town "
                "or the catchment.")
    if not stated and area > PARCEL_CONFIRM_M2:
        return (f"This parcel covers {_area_text(area)}, more than "
                f"{_area_text(PARCEL_CONFIRM_M2)}; a site's parcels are usually far smaller. "
                "Check the polygon goes round the site, not the town or the catchment.")
    return None


def _check_parcel(ws: Workspace, layer_id: str, geom: shapely.Geometry, aws_ref: Any,
                  fid: str | None, confirmed: bool) -> None:
    problem = parcel_size_problem(ws, layer_id, geom, str(aws_ref) if aws_ref else None, fid)
    if problem and not confirmed:
        raise ParcelSizeError(problem)


def add_feature(ws: Workspace, layer_id: str, geojson: Mapping[str, Any],
                attrs: Mapping[str, Any], *, base_version: int,
                display_datum: Datum = Datum.WGS84,
                size_confirmed: bool = False) -> store.SaveResult:
    """Add one drawn feature to a layer through the store (version-checked).

    Parameters
    ----------
    geojson : mapping
        The drawn GeoJSON geometry or feature, in the map's display coordinates
        (EPSG:4326; GCJ-02 when ``display_datum`` is gcj02, converted back to WGS84).
    attrs : mapping
        ``name``, ``aws_ref``, ``accuracy`` and any kind-specific fields.
    base_version : int
        The layer version this session loaded (:func:`geo.store.edits.layer_version`).
    size_confirmed : bool
        The user confirmed a site parcel :func:`parcel_size_problem` finds too large.

    Raises
    ------
    EditConflictError
        If someone saved the layer since ``base_version``; nothing is written.
    ParcelSizeError
        If a site parcel looks far larger than the site and ``size_confirmed`` is false.
    DataWriteError
        If the geometry is unusable or does not fit the layer's kind.
    """
    spec = ws.spec(layer_id)
    geom = _geometry(geojson, display_datum)
    family = _FAMILY.get(geom.geom_type, "")
    if not fits(spec.kind, family):
        raise DataWriteError(f"Layer {spec.title!r} ({spec.kind.value}) takes "
                             f"{_KIND_FAMILY[spec.kind]}s, not a {family}; pick another layer "
                             "or draw another shape.")
    current = _current(ws, layer_id)
    values = {key: _like(current.get(key), value) for key, value in _clean(attrs).items()}
    _check_parcel(ws, layer_id, geom, values.get("aws_ref"), None, size_confirmed)
    values.setdefault("accuracy", AccuracyClass.ILLUSTRATIVE.value)
    if values["accuracy"] is None:
        values["accuracy"] = AccuracyClass.ILLUSTRATIVE.value
    values["fid"] = _new_fid(ws, layer_id)
    values["source"] = f"drawn in Catchscope on {dt.date.today().isoformat()}"
    values["datum"] = display_datum.value if display_datum is Datum.GCJ02 else "wgs84"
    row = gpd.GeoDataFrame([values], geometry=[geom], crs="EPSG:4326")
    new_state = gpd.GeoDataFrame(pd.concat([current, row], ignore_index=True), crs="EPSG:4326")
    label = values.get("name") or values["fid"]
    return store.save_layer(ws, layer_id, new_state, base_version=base_version, action="draw",
                            summary=f"drew {family} {label}", author=_author())


def update_feature(ws: Workspace, layer_id: str, fid: str, *, base_version: int,
                   attrs: Mapping[str, Any] | None = None,
                   geojson: Mapping[str, Any] | None = None,
                   display_datum: Datum = Datum.WGS84,
                   size_confirmed: bool = False) -> store.SaveResult:
    """Change a feature's attributes and/or replace its geometry (a move), version-checked.

    Raises
    ------
    EditConflictError, ParcelSizeError, DataWriteError
        As :func:`add_feature`; DataWriteError also if ``fid`` is not in the layer.
    """
    spec = ws.spec(layer_id)
    current = _current(ws, layer_id)
    hits = current.index[current["fid"].astype(str) == str(fid)]
    if len(hits) == 0:
        raise DataWriteError(f"Feature {fid!r} is no longer in layer {layer_id!r}; someone "
                             "may have deleted it. Reload the layer.")
    index = hits[0]
    what = []
    if attrs:
        for key, text in _clean(attrs).items():
            value = _like(current.get(key), text)
            if key not in current.columns:
                current[key] = None
            current[key] = current[key].astype(object)
            current.at[index, key] = value
        what.append("attributes")
    if geojson is not None:
        geom = _geometry(geojson, display_datum)
        family = _FAMILY.get(geom.geom_type, "")
        if not fits(spec.kind, family):
            raise DataWriteError(f"Layer {spec.title!r} ({spec.kind.value}) takes "
                                 f"{_KIND_FAMILY[spec.kind]}s, not a {family}; draw a "
                                 f"{_KIND_FAMILY[spec.kind]}.")
        _check_parcel(ws, layer_id, geom, current.at[index, "aws_ref"]
                      if "aws_ref" in current.columns else None, str(fid), size_confirmed)
        current.loc[[index], current.geometry.name] = gpd.GeoSeries([geom], index=[index],
                                                                    crs="EPSG:4326")
        current.at[index, "datum"] = "gcj02" if display_datum is Datum.GCJ02 else "wgs84"
        what.append("geometry")
    return store.save_layer(ws, layer_id, current, base_version=base_version,
                            action="edit", summary=f"edited {' and '.join(what)} of {fid}",
                            author=_author())


def delete_feature(ws: Workspace, layer_id: str, fid: str, *, base_version: int
                   ) -> store.SaveResult:
    """Delete one feature from a layer, version-checked (undo brings it back)."""
    current = _current(ws, layer_id)
    keep = current["fid"].astype(str) != str(fid)
    if keep.all():
        raise DataWriteError(f"Feature {fid!r} is no longer in layer {layer_id!r}; reload it.")
    return store.save_layer(ws, layer_id, current[keep.to_numpy()].copy(),
                            base_version=base_version, action="delete",
                            summary=f"deleted {fid}", author=_author())


# --- the map's Draw toolbar ---------------------------------------------------------------


def _editable_layer(geometry: Mapping[str, Any]) -> Any | None:
    """A folium marker/line/polygon of one (display) geometry, for Leaflet.draw's edit tool."""
    geom = shape(geometry)
    style: dict[str, Any] = {"color": "#d7301f", "weight": 4, "fill_opacity": 0.15}
    if geom.geom_type == "Point":
        return folium.Marker([geom.y, geom.x])
    if geom.geom_type == "LineString":
        return folium.PolyLine([[y, x] for x, y in geom.coords], **style)
    if geom.geom_type == "Polygon":
        rings = [[[y, x] for x, y in ring.coords[:-1]]
                 for ring in (geom.exterior, *geom.interiors)]
        return folium.Polygon(rings if len(rings) > 1 else rings[0], **style)
    return None  # multi-part geometries: replace them by drawing instead


def add_draw_control(fmap: folium.Map, static_url: str,
                     editable: Mapping[str, Any] | None = None) -> folium.Map:
    """Add Leaflet.draw's toolbar (points, lines, polygons) served from ``static_url``.

    ``editable`` (a GeoJSON geometry in display coordinates) is put into the toolbar's
    feature group, so its vertices can be moved with the edit tool.
    """
    group = None
    layer = _editable_layer(editable) if editable else None
    if layer is not None:
        group = folium.FeatureGroup(name="Editing", control=False)
        layer.add_to(group)
        group.add_to(fmap)
    draw = folium.plugins.Draw(
        position="topleft", show_geometry_on_click=False, feature_group=group,
        draw_options={"polyline": {"shapeOptions": {"color": "#d7301f"}},
                      "polygon": {"allowIntersection": False,
                                  "shapeOptions": {"color": "#d7301f"}},
                      "rectangle": False, "circle": False, "circlemarker": False,
                      "marker": True},
        edit_options={"edit": True, "remove": True},
    )
    prefix = static_url if static_url.endswith("/") else static_url + "/"
    # Vendored (geo/maps/static/vendor.py): local URLs pass localise_assets untouched.
    draw.default_js = [("leaflet_draw_js", prefix + "leaflet.draw.js")]
    draw.default_css = [("leaflet_draw_css", prefix + "leaflet.draw.css")]
    draw.add_to(fmap)
    return fmap


def geometry_json(geom: shapely.Geometry) -> dict[str, Any]:
    """A shapely geometry as a GeoJSON mapping (for tests and previews)."""
    return dict(mapping(geom))
