"""Map mode "Draw and edit": draw features, edit their attributes, move and delete them.

The map (``ui/mapview.py``) gets Leaflet.draw's toolbar in edit mode (:func:`add_draw_control`,
served from the vendored ``geo/maps/static/leaflet.draw.*``).  What the toolbar draws and what the
user clicks comes back from st_folium; :func:`panel`, beside the map, turns it into forms.

Every save goes through :mod:`geo.store.edits` with the version this browser session loaded the
layer at (:func:`base_version`): when another session saved the same layer since, the
store refuses (:class:`~geo.core.errors.EditConflictError`), the panel says so and offers to
reload; nothing is overwritten.  Each layer's history lists the saves; the last one can be
undone.

The feature operations (:func:`add_feature`, :func:`update_feature`, :func:`delete_feature`)
and the Draw toolbar live in :mod:`ui.edit_ops` (plain functions of a workspace, testable
without Streamlit) and are re-exported here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import shapely
import streamlit as st
from shapely.geometry import mapping, shape

from geo.core.catalogue import AccuracyClass, Datum, LayerKind, LayerSpec
from geo.core.crs import convert_datum
from geo.core.errors import EditConflictError, GeoError
from geo.core.workspace import Workspace
from geo.store import edits as store
from ui import democopy, state
from ui.edit_ops import (
    _FAMILY,
    _FIXED,
    KIND_FIELDS,
    ParcelSizeError,
    _author,
    add_draw_control,
    add_feature,
    delete_feature,
    editable_layers,
    fits,
    update_feature,
)
from ui.panels import md, md_lines

__all__ = ["EDIT_MAP_STATE", "KIND_FIELDS", "add_draw_control", "add_feature", "base_version",
           "delete_feature", "editable_layers", "fits", "history", "panel", "remember_loaded",
           "update_feature"]

#: Session-state key where st_folium's change callback leaves the edit map's latest value
#: (``app.MAP_KEY + ":edit"``): it survives the map being re-created after any save.
EDIT_MAP_STATE = "catchscope_map:edit"

_MAX_FIELDS = 14
_NO_SITE = "(no site)"



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
        st.success(md_lines(message))


def conflict(ws: Workspace, err: EditConflictError, layer_id: str, key: str) -> None:
    """Say that someone else saved the layer; offer to reload it."""
    st.error(md_lines(err))
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
                # What this map sent holds the previous selection under the edit tool: it
                # is not a new drawing (it would offer to save a duplicate). The map is
                # drawn again for the new selection; its own value counts from then on.
                st.session_state["edit_stale"] = _value_id(st.session_state.get(EDIT_MAP_STATE))
                st.rerun()
    selected = st.session_state.get("edit_selected")
    return (str(selected[0]), str(selected[1])) if selected else None


def _site_options(choice: state.Choice) -> list[str]:
    return [_NO_SITE, *state.site_choices(choice.workspace)]


def _display_datum(choice: state.Choice) -> Datum:
    from geo.maps.build import BASEMAPS

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
        warning = _size_warning("move", signature)
        if warning:
            st.warning(md(warning))
        label = (f"Use this shape for {fid} anyway" if warning
                 else f"Use this shape for {fid} (move / reshape it)")
        if st.button(md(label), key=f"move:{signature}:{bool(warning)}", type="primary"):
            _save(ws, layer_id, signature, lambda base: update_feature(
                ws, layer_id, fid, base_version=base, geojson=feature, display_datum=datum,
                size_confirmed=bool(warning)), kind="move")
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
        warning = _size_warning("new", signature)
        confirmed = False
        if warning:
            st.warning(md(warning))
            confirmed = st.checkbox("Save it anyway: I have checked its size",
                                    key=f"sizeok:{signature}")
        submitted = st.form_submit_button("Save feature", type="primary")
    if submitted:
        _save(ws, layer_id, signature, lambda base: add_feature(
            ws, layer_id, feature, values, base_version=base, display_datum=datum,
            size_confirmed=confirmed))
    if st.button("Discard this drawing", key=f"discard:{signature}"):
        st.session_state.setdefault("edit_consumed", set()).add(signature)
        st.rerun()


def _save(ws: Workspace, layer_id: str, signature: str | None, action: Any,
          kind: str = "new") -> None:
    """Run a save with this session's base version; on success redraw, on conflict say so.

    A site parcel far larger than the site is not saved: the form asks to confirm it.
    """
    try:
        result = action(base_version(ws, layer_id))
    except ParcelSizeError as err:
        st.session_state["edit_size_warning"] = (kind, signature, str(err))
        st.rerun()
    except EditConflictError as err:
        conflict(ws, err, layer_id, signature or layer_id)
        return
    except GeoError as err:
        st.error(md_lines(err))
        return
    if signature:
        st.session_state.setdefault("edit_consumed", set()).add(signature)
    st.session_state.pop("edit_size_warning", None)
    saved(ws, result)
    st.rerun()


def _size_warning(kind: str, signature: str) -> str | None:
    """The size warning a save of this drawing raised (see :func:`_save`), if any."""
    warning = st.session_state.get("edit_size_warning")
    if isinstance(warning, tuple) and warning[:2] == (kind, signature):
        return str(warning[2])
    return None


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
        st.warning(md(f"{fid} is no longer in {spec.title}."))
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
    confirm = st.checkbox(md(f"Yes, delete {fid}"), key=f"confirm:{layer_id}:{fid}")
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
        st.caption(md(f"{ws.specs[layer_id].title}: no saves yet (read from its own file)."))
        return
    # one wrapping row per save, newest first; a long history scrolls down in its box
    lines = [f"**v{e.version}** · {md(e.saved_at[:16].replace('T', ' '))} · "
             f"{md(e.action)}{' by ' + md(e.author) if e.author else ''}  \n"
             f"{md(e.summary)} ({e.n_features} feature{'s' if e.n_features != 1 else ''})"
             for e in reversed(entries)]
    with st.container(height=300 if len(lines) > 6 else "content", border=True,
                      key=f"history_{key}"):
        st.markdown("\n\n".join(lines))
    undoable = any(e.action not in ("migrate", "create", "undo") for e in entries)
    if st.button("Undo the last save", key=f"undo:{key}:{layer_id}", disabled=not undoable):
        try:
            result = store.undo(ws, layer_id, base_version=base_version(ws, layer_id),
                                author=_author())
        except EditConflictError as err:
            conflict(ws, err, layer_id, f"undo:{key}")
            return
        except GeoError as err:
            st.error(md_lines(err))
            return
        saved(ws, result, f"Undone: {result.message}")
        st.rerun()


def panel(choice: state.Choice, returned: dict | None) -> None:
    """Beside the map in edit mode: the new drawing's form, the selected feature's, history."""
    if not democopy.writable(choice, "edit"):
        return
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
        # keyed: it stays open when a flash message above it comes or goes
        with st.expander("History and undo", expanded=False, key="edit_history_open"):
            default = selected[0] if selected and selected[0] in layers else layers[0]
            layer_id = st.selectbox("Layer", layers, index=layers.index(default),
                                    format_func=_layer_label(ws), key="history_layer")
            history(ws, layer_id, "panel")
