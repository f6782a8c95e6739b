"""Map mode "Draw and edit": draw features, edit their attributes, move and delete them.

The map (``ui/mapview.py``) gets Leaflet.draw's toolbar in edit mode (:func:`add_draw_control`,
served from the vendored ``geo/static/leaflet.draw.*``).  What the toolbar draws and what the
user clicks comes back from st_folium; :func:`panel`, beside the map, turns it into forms.

Every save goes through :mod:`geo.store` with the version this browser session loaded the
layer at (:func:`base_version`): when another session saved the same layer since, the
store refuses (:class:`~geo.errors.EditConflictError`), the panel says so and offers to
reload; nothing is overwritten.  Each layer's history lists the saves; the last one can be
undone.

The feature operations (:func:`add_feature`, :func:`update_feature`, :func:`delete_feature`)
are plain functions of a workspace, testable without Streamlit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import folium
import folium.plugins
import geopandas as gpd
import pandas as pd
import shapely
import streamlit as st
from shapely.geometry import mapping, shape

from geo import store
from geo.catalogue import AccuracyClass, Datum, LayerKind, LayerSpec
from geo.crs import convert_datum
from geo.errors import DataWriteError, EditConflictError, GeoError
from geo.workspace import Workspace
from ui import state

__all__ = ["EDIT_MAP_STATE", "KIND_FIELDS", "add_draw_control", "add_feature", "base_version",
           "delete_feature", "editable_layers", "fits", "history", "panel", "remember_loaded",
           "update_feature"]

#: Session-state key where st_folium's change callback leaves the edit map's latest value
#: (``app.MAP_KEY + ":edit"``): it survives the map being re-created after any save.
EDIT_MAP_STATE = "catchscope_map:edit"

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
_MAX_FIELDS = 14
_NO_SITE = "(no site)"


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


def _current(ws: Workspace, layer_id: str) -> gpd.GeoDataFrame:
    frame = ws.load(layer_id)
    return frame.drop(columns=[c for c in ("layer", "kind") if c in frame.columns])


def _author() -> str:
    return f"{store._author(None)} (app)"


def add_feature(ws: Workspace, layer_id: str, geojson: Mapping[str, Any],
                attrs: Mapping[str, Any], *, base_version: int,
                display_datum: Datum = Datum.WGS84) -> store.SaveResult:
    """Add one drawn feature to a layer through the store (version-checked).

    Parameters
    ----------
    geojson : mapping
        The drawn GeoJSON geometry or feature, in the map's display coordinates
        (EPSG:4326; GCJ-02 when ``display_datum`` is gcj02, converted back to WGS84).
    attrs : mapping
        ``name``, ``aws_ref``, ``accuracy`` and any kind-specific fields.
    base_version : int
        The layer version this session loaded (:func:`geo.store.layer_version`).

    Raises
    ------
    EditConflictError
        If someone saved the layer since ``base_version``; nothing is written.
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
    values = _clean(attrs)
    values.setdefault("accuracy", AccuracyClass.ILLUSTRATIVE.value)
    if values["accuracy"] is None:
        values["accuracy"] = AccuracyClass.ILLUSTRATIVE.value
    values["fid"] = _new_fid(ws, layer_id)
    values["source"] = f"drawn in Catchscope on {dt.date.today().isoformat()}"
    values["datum"] = display_datum.value if display_datum is Datum.GCJ02 else "wgs84"
    current = _current(ws, layer_id)
    row = gpd.GeoDataFrame([values], geometry=[geom], crs="EPSG:4326")
    new_state = gpd.GeoDataFrame(pd.concat([current, row], ignore_index=True), crs="EPSG:4326")
    label = values.get("name") or values["fid"]
    return store.save_layer(ws, layer_id, new_state, base_version=base_version, action="draw",
                            summary=f"drew {family} {label}", author=_author())


def update_feature(ws: Workspace, layer_id: str, fid: str, *, base_version: int,
                   attrs: Mapping[str, Any] | None = None,
                   geojson: Mapping[str, Any] | None = None,
                   display_datum: Datum = Datum.WGS84) -> store.SaveResult:
    """Change a feature's attributes and/or replace its geometry (a move), version-checked.

    Raises
    ------
    EditConflictError, DataWriteError
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
        for key, value in _clean(attrs).items():
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
    style = {"color": "#d7301f", "weight": 4, "fill_opacity": 0.15}
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
    # Vendored (geo/static/vendor.py): local URLs pass localise_assets untouched.
    draw.default_js = [("leaflet_draw_js", prefix + "leaflet.draw.js")]
    draw.default_css = [("leaflet_draw_css", prefix + "leaflet.draw.css")]
    draw.add_to(fmap)
    return fmap


# --- session bookkeeping --------------------------------------------------------------------


def _versions(ws: Workspace) -> dict[str, int]:
    books = st.session_state.setdefault("edit_versions", {})
    return books.setdefault(str(ws.root), {})


def remember_loaded(ws: Workspace) -> None:
    """Note the version of every editable layer this session has not seen yet."""
    versions = _versions(ws)
    for spec in editable_layers(ws):
        if spec.id not in versions:
            versions[spec.id] = store.layer_version(ws, spec.id)


def base_version(ws: Workspace, layer_id: str) -> int:
    """The version of ``layer_id`` this session loaded (edits are based on it)."""
    versions = _versions(ws)
    if layer_id not in versions:
        versions[layer_id] = store.layer_version(ws, layer_id)
    return versions[layer_id]


def saved(ws: Workspace, result: store.SaveResult, message: str | None = None) -> None:
    """After a save by this session: its new base version, and a message for the rerun."""
    _versions(ws)[result.layer_id] = result.version
    st.session_state["edit_flash"] = message or result.message
    # What the map last sent refers to the map before this save: ignore it from now on.
    st.session_state["edit_stale"] = _value_id(st.session_state.get(EDIT_MAP_STATE))
    st.session_state.pop("edit_last_ref", None)
    selected = st.session_state.get("edit_selected")
    _remember_geometry(ws, tuple(selected) if selected else None,
                       Datum(st.session_state.get("edit_display_datum", "wgs84")))


def _reload(ws: Workspace, layer_id: str) -> None:
    version = store.layer_version(ws, layer_id)
    _versions(ws)[layer_id] = version
    st.session_state["edit_flash"] = (f"Reloaded layer {layer_id!r} at version {version}: the "
                                      "map shows the latest saves. Redo your change if needed.")
    st.session_state.pop("edit_selected", None)


def editing_key() -> tuple[Any, ...]:
    """What of this session's edit state the edit map depends on (part of its cache key)."""
    return (st.session_state.get("edit_selected"),
            _value_id(st.session_state.get("edit_selected_geom")))


def editable_geometry() -> dict[str, Any] | None:
    """The selected feature's geometry in display coordinates (None if nothing selected)."""
    if not st.session_state.get("edit_selected"):
        return None
    geom = st.session_state.get("edit_selected_geom")
    return geom if isinstance(geom, dict) else None


def _remember_geometry(ws: Workspace, selected: tuple[str, str] | None,
                       datum: Datum) -> None:
    """Keep the selected feature's current geometry (display datum) for the edit map."""
    geom = None
    if selected is not None and selected[0] in ws.specs:
        frame = ws.load(selected[0])
        rows = frame[frame["fid"].astype(str) == selected[1]]
        if not rows.empty:
            series = gpd.GeoSeries([rows.geometry.iloc[0]], crs="EPSG:4326")
            if datum is Datum.GCJ02:
                series = convert_datum(series, Datum.WGS84, Datum.GCJ02)
            geom = dict(mapping(series.iloc[0]))
    st.session_state["edit_selected_geom"] = geom


def show_flash() -> None:
    """The message left by the last save (shown once, after the rerun that redraws the map)."""
    message = st.session_state.pop("edit_flash", None)
    if message:
        st.success(message)


def conflict(ws: Workspace, err: EditConflictError, layer_id: str, key: str) -> None:
    """Say that someone else saved the layer; offer to reload it."""
    st.error(str(err))
    st.button(f"Reload {layer_id}", key=f"reload:{key}", on_click=_reload, args=(ws, layer_id),
              type="primary", help="Take the latest version of the layer as your base.")


# --- the panel beside the map -------------------------------------------------------------


def _signature(feature: Mapping[str, Any]) -> str:
    text = json.dumps(feature.get("geometry"), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]  # noqa: S324 - an id, not security


def _value_id(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _latest(returned: dict | None) -> dict:
    """What the map sent last (clicks, drawings), unless it predates this session's save."""
    latest = st.session_state.get(EDIT_MAP_STATE)
    if not (isinstance(latest, dict) and latest):
        latest = returned or {}
    if _value_id(latest) == st.session_state.get("edit_stale"):
        return {}
    return latest


def _pending_drawing(value: dict) -> dict | None:
    drawings = value.get("all_drawings") or []
    consumed = st.session_state.setdefault("edit_consumed", set())
    untouched = editable_geometry()
    for feature in reversed(drawings):
        if isinstance(feature, dict) and feature.get("geometry") \
                and _signature(feature) not in consumed \
                and not _same(feature["geometry"], untouched):
            return feature
    return None


def _same(geometry: Any, other: dict[str, Any] | None) -> bool:
    """Whether a returned geometry is the selected feature as it was put on the map."""
    if other is None:
        return False
    try:
        return bool(shape(geometry).equals_exact(shape(other), tolerance=1e-7))
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.ShapelyError):
        return False


def _take_selection(ws: Workspace, value: dict, datum: Datum) -> tuple[str, str] | None:
    """The clicked feature as (layer id, fid), remembered across map re-creation.

    A new selection reruns the script so that the map puts the feature under the Draw
    toolbar's edit tool (its vertices can then be moved).
    """
    drawing = value.get("last_active_drawing") or {}
    ref = str((drawing.get("properties") or {}).get("ref") or "")
    if ref and ref != st.session_state.get("edit_last_ref"):
        st.session_state["edit_last_ref"] = ref
        layer_id, _, position = ref.partition(":")
        if layer_id in ws.specs and position.isdigit():
            frame = ws.load(layer_id).reset_index(drop=True)
            if int(position) < len(frame):
                fid = str(frame.iloc[int(position)]["fid"])
                st.session_state["edit_selected"] = (layer_id, fid)
                _remember_geometry(ws, (layer_id, fid), datum)
                st.rerun()
    selected = st.session_state.get("edit_selected")
    return tuple(selected) if selected else None  # type: ignore[return-value]


def _site_options(choice: state.Choice) -> list[str]:
    return [_NO_SITE, *state.site_choices(choice.workspace)]


def _display_datum(choice: state.Choice) -> Datum:
    from geo.webmap import BASEMAPS

    base = BASEMAPS.get(choice.basemap)
    return base.datum if base is not None else Datum.WGS84


def _fields_for(ws: Workspace, spec: LayerSpec) -> list[str]:
    try:
        columns = [str(c) for c in ws.load(spec.id).columns]
    except GeoError:
        columns = []
    fields = [*KIND_FIELDS.get(spec.kind, ()),
              *(c for c in columns if c not in (*_FIXED, "name", "aws_ref", "accuracy"))]
    return list(dict.fromkeys(fields))[:_MAX_FIELDS]


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def _attribute_inputs(choice: state.Choice, spec: LayerSpec, row: Mapping[str, Any],
                      key: str) -> dict[str, Any]:
    """Name, site, accuracy and the layer's fields as form inputs; returns the values."""
    ws = choice.workspace
    values: dict[str, Any] = {"name": st.text_input("Name", value=_text(row.get("name")),
                                                    key=f"{key}:name")}
    sites = _site_options(choice)
    current_site = _text(row.get("aws_ref")) or (choice.site or _NO_SITE)
    if current_site not in sites:
        sites.append(current_site)
    site = st.selectbox("Site (AWS reference)", sites, index=sites.index(current_site),
                        key=f"{key}:site")
    values["aws_ref"] = None if site == _NO_SITE else site
    accuracies = [a.value for a in AccuracyClass]
    accuracy = _text(row.get("accuracy")) or AccuracyClass.ILLUSTRATIVE.value
    values["accuracy"] = st.selectbox(
        "Accuracy class", accuracies,
        index=accuracies.index(accuracy) if accuracy in accuracies else 0, key=f"{key}:acc",
        help="surveyed: measured on site · official: from an authority's dataset · "
             "derived: computed · illustrative: placed by eye, not to be relied on.")
    for field in _fields_for(ws, spec):
        values[field] = st.text_input(field.replace("_", " "), value=_text(row.get(field)),
                                      key=f"{key}:{field}")
    return values


def _layer_label(ws: Workspace) -> Any:
    return lambda lid: f"{ws.specs[lid].title} ({ws.specs[lid].kind.value})"


def _new_drawing_form(choice: state.Choice, feature: dict,
                      selected: tuple[str, str] | None) -> None:
    ws = choice.workspace
    family = _FAMILY.get(str((feature.get("geometry") or {}).get("type")), "")
    st.subheader(f"New {family or 'shape'}", anchor=False)
    coords = json.dumps((feature.get("geometry") or {}).get("coordinates"))
    st.caption(f"Drawn, not saved yet: {coords[:120]}{'…' if len(coords) > 120 else ''}")
    signature = _signature(feature)
    datum = _display_datum(choice)
    if selected is not None and selected[0] in ws.specs \
            and fits(ws.specs[selected[0]].kind, family):
        layer_id, fid = selected
        if st.button(f"Use this shape for {fid} (move / reshape it)", key=f"move:{signature}",
                     type="primary"):
            _save(ws, layer_id, signature, lambda base: update_feature(
                ws, layer_id, fid, base_version=base, geojson=feature, display_datum=datum))
    layers = [spec.id for spec in editable_layers(ws, family)]
    if not layers:
        st.warning(f"No layer of this workspace takes {family}s.")
        return
    preferred = next((lid for lid in layers if choice.site and
                      ws.specs[lid].kind in (LayerKind.DISCHARGE_POINT, LayerKind.PIPE,
                                             LayerKind.SITE)), layers[0])
    layer_id = st.selectbox("Layer", layers, index=layers.index(preferred),
                            format_func=_layer_label(ws), key=f"newlayer:{signature}")
    spec = ws.specs[layer_id]
    with st.form(f"new:{signature}:{layer_id}", border=True):
        values = _attribute_inputs(choice, spec, {"accuracy": "illustrative",
                                                  "aws_ref": choice.site}, f"new:{signature}")
        submitted = st.form_submit_button("Save feature", type="primary")
    if submitted:
        _save(ws, layer_id, signature, lambda base: add_feature(
            ws, layer_id, feature, values, base_version=base, display_datum=datum))
    if st.button("Discard this drawing", key=f"discard:{signature}"):
        st.session_state.setdefault("edit_consumed", set()).add(signature)
        st.rerun()


def _save(ws: Workspace, layer_id: str, signature: str | None, action: Any) -> None:
    """Run a save with this session's base version; on success redraw, on conflict say so."""
    try:
        result = action(base_version(ws, layer_id))
    except EditConflictError as err:
        conflict(ws, err, layer_id, signature or layer_id)
        return
    except GeoError as err:
        st.error(str(err))
        return
    if signature:
        st.session_state.setdefault("edit_consumed", set()).add(signature)
    saved(ws, result)
    st.rerun()


def _selected_form(choice: state.Choice, selected: tuple[str, str]) -> None:
    ws = choice.workspace
    layer_id, fid = selected
    if layer_id not in ws.specs:
        st.session_state.pop("edit_selected", None)
        return
    spec = ws.specs[layer_id]
    frame = ws.load(layer_id)
    rows = frame[frame["fid"].astype(str) == fid]
    st.subheader("Selected feature", anchor=False)
    if rows.empty:
        st.warning(f"{fid} is no longer in {spec.title}.")
        st.session_state.pop("edit_selected", None)
        return
    row = rows.iloc[0]
    st.text(f"{_text(row.get('name')) or fid}\n{spec.title} · {spec.kind.value} · {fid}")
    with st.form(f"attrs:{layer_id}:{fid}", border=True):
        values = _attribute_inputs(choice, spec, row, f"attrs:{layer_id}:{fid}")
        submitted = st.form_submit_button("Save attributes", type="primary")
    if submitted:
        _save(ws, layer_id, None, lambda base: update_feature(
            ws, layer_id, fid, base_version=base, attrs=values))
    st.caption("To move or reshape it: drag its vertices with the edit tool (the pencil "
               "button under the drawing tools, then 'Save' in the toolbar), or draw its new "
               "shape; then press 'Use this shape for …'.")
    confirm = st.checkbox(f"Yes, delete {fid}", key=f"confirm:{layer_id}:{fid}")
    if st.button("Delete feature", key=f"delete:{layer_id}:{fid}", disabled=not confirm):
        st.session_state.pop("edit_selected", None)
        _save(ws, layer_id, None, lambda base: delete_feature(ws, layer_id, fid,
                                                              base_version=base))
    if st.button("Clear selection", key=f"clear:{layer_id}:{fid}"):
        st.session_state.pop("edit_selected", None)
        st.rerun()


def history(ws: Workspace, layer_id: str, key: str) -> None:
    """The saves of a layer, newest first, with Undo of the last one."""
    entries = store.history(ws, layer_id)
    if not entries:
        st.caption(f"{ws.specs[layer_id].title}: no saves yet (read from its own file).")
        return
    st.dataframe(pd.DataFrame([
        {"version": e.version, "saved": e.saved_at[:19].replace("T", " "), "by": e.author,
         "action": e.action, "what": e.summary, "features": e.n_features}
        for e in reversed(entries)]), hide_index=True, width="stretch")
    undoable = any(e.action not in ("migrate", "create", "undo") for e in entries)
    if st.button("Undo the last save", key=f"undo:{key}:{layer_id}", disabled=not undoable):
        try:
            result = store.undo(ws, layer_id, base_version=base_version(ws, layer_id),
                                author=_author())
        except EditConflictError as err:
            conflict(ws, err, layer_id, f"undo:{key}")
            return
        except GeoError as err:
            st.error(str(err))
            return
        saved(ws, result, f"Undone: {result.message}")
        st.rerun()


def panel(choice: state.Choice, returned: dict | None) -> None:
    """Beside the map in edit mode: the new drawing's form, the selected feature's, history."""
    ws = choice.workspace
    remember_loaded(ws)
    show_flash()
    value = _latest(returned)
    datum = _display_datum(choice)
    st.session_state["edit_display_datum"] = datum.value
    selected = _take_selection(ws, value, datum)
    drawing = _pending_drawing(value)
    if drawing is None and selected is None:
        st.subheader("Draw and edit", anchor=False)
        st.caption("Use the toolbar on the map: a marker for a point (discharge point, "
                   "water source, facility), a line (pipe, river) or a polygon (site parcel, "
                   "lake). Then fill in the form here and save. Click an existing feature to "
                   "edit its attributes, move or delete it.")
    if drawing is not None:
        _new_drawing_form(choice, drawing, selected)
    if selected is not None:
        _selected_form(choice, selected)
    layers = [spec.id for spec in editable_layers(ws)]
    if layers:
        with st.expander("History and undo", expanded=False):
            default = selected[0] if selected and selected[0] in layers else layers[0]
            layer_id = st.selectbox("Layer", layers, index=layers.index(default),
                                    format_func=_layer_label(ws), key="history_layer")
            history(ws, layer_id, "panel")


def geometry_json(geom: shapely.Geometry) -> dict[str, Any]:
    """A shapely geometry as a GeoJSON mapping (for tests and previews)."""
    return dict(mapping(geom))
