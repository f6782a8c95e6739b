"""Finding features: search by name, the attribute table, picking among overlapping ones.

Each of them ends in the same place: the map frames the feature (a "zoom request" with a
new token, see :class:`ui.state.Choice.zoom`), highlights it, and the panel beside the
map shows it as if it had been clicked.  Everything reads the workspace the map is drawn
from (:func:`ui.state.feature_workspace`: redacted for a viewer), so a row position here is
the ``ref`` the map's features carry.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import streamlit as st

from ui import state
from ui.i18n import _
from ui.panels import LOCAL_NAME_FIELDS, local_name, md

__all__ = ["attribute_table", "clicked", "overlapping", "pick_among", "request", "search"]

#: A zoom to a point frames at least this much around it (degrees, ~ 600 m).
_MIN_HALF = 0.003
#: Points closer than this to the clicked one are offered in the pick list (metres).
_NEAR_M = 40.0
_REQUEST = "zoom_request"
_PICKED = "picked_ref"
_RESULTS = 12


def request(wkey: str, site: str | None) -> state.ZoomRequest | None:
    """The standing zoom request for this workspace and site, if any."""
    asked = st.session_state.get(_REQUEST)
    if not asked or asked["where"] != (wkey, site):
        return None
    return state.ZoomRequest(token=asked["token"], bounds=asked["bounds"], ref=asked["ref"])


def _ask(wkey: str, site: str | None, ref: str, geometry: Any) -> None:
    """Frame ``geometry`` (WGS84) on the next map and show the feature ``ref``."""
    west, south, east, north = shapely.bounds(geometry)
    cx, cy = (west + east) / 2, (south + north) / 2
    half_x = max((east - west) / 2 * 1.3, _MIN_HALF)
    half_y = max((north - south) / 2 * 1.3, _MIN_HALF)
    previous = st.session_state.get(_REQUEST) or {"token": 0}
    st.session_state[_REQUEST] = {
        "where": (wkey, site), "token": previous["token"] + 1, "ref": ref,
        "bounds": ((float(cy - half_y), float(cx - half_x)),
                   (float(cy + half_y), float(cx + half_x)))}
    st.session_state[_PICKED] = {"where": (wkey, site), "ref": ref, "seen": False,
                                 "click": None}


def clicked(choice: state.Choice, returned: dict | None) -> dict | None:
    """What the panel beside the map shows: the last map click, or a feature picked here.

    A feature found by search or in the attribute table stands until the map is clicked
    again (the click counter of st_folium moves on).
    """
    wkey = str(choice.workspace.root)
    picked = st.session_state.get(_PICKED)
    ref = _ref_of(returned)
    if picked and picked["where"] == (wkey, choice.site):
        if not picked["seen"]:  # remember the click it supersedes
            picked["seen"], picked["click"] = True, ref
        if ref == picked["click"]:
            return {"last_active_drawing": {"properties": {"ref": picked["ref"]}}}
        st.session_state.pop(_PICKED, None)
    return returned


def _ref_of(returned: dict | None) -> str | None:
    drawing = (returned or {}).get("last_active_drawing") or {}
    ref = (drawing.get("properties") or {}).get("ref")
    return str(ref) if ref else None


def _frame(choice: state.Choice, scope: Any, layer_id: str) -> gpd.GeoDataFrame:
    ws = state.feature_workspace(choice, scope)
    return ws.load(layer_id).reset_index(drop=True)


def _label(row: pd.Series, fallback: str) -> str:
    """The feature's name, with its local name (Chinese) where the data has one."""
    name = row.get("name")
    if name is None or (isinstance(name, float) and name != name) or str(name).strip() == "":
        name = fallback
    local = local_name(row, name)
    return f"{name} {local}" if local else str(name)


def search(choice: state.Choice, scope: Any, container: Any) -> None:
    """A search box over the names (and ids) of every drawn layer's features."""
    wkey = str(choice.workspace.root)
    query = container.text_input(
        _("Find a feature"), key=f"find:{wkey}", placeholder=_("name, e.g. Baijiadang"),
        help=_("Searches the names (also the Chinese ones) and ids of the features in the "
               "layers drawn (offline: no address search). Pick a result to frame it on the "
               "map.")).strip()
    if not query:
        return
    needle = query.casefold()
    hits: list[tuple[int, str, str, str]] = []  # (rank, label, layer title, ref)
    for layer_id in reversed(choice.layers):  # top layer first
        frame = _frame(choice, scope, layer_id)
        title = choice.workspace.specs[layer_id].title
        names = frame["name"].astype("string").fillna("") if "name" in frame \
            else pd.Series([""] * len(frame), dtype="string")
        fids = frame["fid"].astype("string").fillna("") if "fid" in frame \
            else pd.Series([""] * len(frame), dtype="string")
        # every name of a feature: English and, where the data has them, local (白家荡)
        spellings = [names] + [frame[f].astype("string").fillna("")
                               for f in LOCAL_NAME_FIELDS if f in frame]
        folded_ids = fids.str.casefold()
        folded = [s.str.casefold() for s in spellings]
        found = folded_ids == needle
        for spelling in folded:
            found = found | spelling.str.contains(needle, regex=False)
        for position in np.flatnonzero(found.to_numpy(dtype=bool)):
            forms = [spelling.iloc[position] for spelling in folded]
            rank = 0 if needle in forms else \
                1 if any(form.startswith(needle) for form in forms) else 2
            hits.append((rank, _label(frame.iloc[position], str(fids.iloc[position])), title,
                         f"{layer_id}:{position}"))
    if not hits:
        container.caption(md(_("No feature in the layers drawn is named like “{query}”.")
                             .format(query=query)))
        return
    hits.sort(key=lambda hit: (hit[0], hit[1].casefold()))
    shown = hits[:_RESULTS]
    container.caption(
        (_("{count} found, first {shown} shown — pick one to frame it:") if len(hits) > _RESULTS
         else _("{count} found — pick one to frame it:")).format(count=len(hits),
                                                                 shown=_RESULTS))
    for _rank, label, title, ref in shown:
        if container.button(f"{md(label)} · {md(title)}", key=f"hit:{wkey}:{ref}",
                            width="stretch", type="tertiary"):
            _go_to(choice, scope, ref)


def _go_to(choice: state.Choice, scope: Any, ref: str) -> None:
    layer_id, _sep, position = ref.partition(":")
    frame = _frame(choice, scope, layer_id)
    if not position.isdigit() or int(position) >= len(frame):
        st.warning(_("That feature is not in the layer any more; search again."))
        return
    geometry = frame.geometry.iloc[int(position)]
    if geometry is None or geometry.is_empty:
        st.warning(_("That feature has no geometry to frame."))
        return
    _ask(str(choice.workspace.root), choice.site, ref, geometry)
    st.rerun()


def attribute_table(choice: state.Choice, scope: Any) -> None:
    """One layer's features as a table; selecting a row frames and shows that feature."""
    wkey = str(choice.workspace.root)
    if not choice.layers:
        st.info(_("No layer is drawn: switch one on under Layers in the sidebar."))
        return
    specs = choice.workspace.specs
    top_first = list(reversed(choice.layers))
    layer_id = st.selectbox(_("Layer to list"), top_first, key=f"table_layer:{wkey}",
                            format_func=lambda lid: specs[lid].title)
    frame = _frame(choice, scope, layer_id)
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    for column in table.columns:  # one type per column for Arrow; shown as text
        if table[column].dtype == object:
            table[column] = table[column].map(lambda v: None if v is None else str(v))
    st.caption(md(_("{count} features in {layer}. Select a row to frame the feature on the "
                    "map and show it beside the map.").format(count=len(frame),
                                                             layer=specs[layer_id].title)))
    event = st.dataframe(table, key=f"table:{wkey}:{layer_id}", hide_index=True,
                         width="stretch", height=min(420, 38 + 35 * max(len(table), 1)),
                         on_select="rerun", selection_mode="single-row")
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    if rows:
        ref = f"{layer_id}:{int(rows[0])}"
        asked = st.session_state.get(_REQUEST) or {}
        if asked.get("ref") != ref or asked.get("where") != (wkey, choice.site):
            _go_to(choice, scope, ref)


def overlapping(choice: state.Choice, scope: Any, ref: str) -> list[tuple[str, str]]:
    """Other point features of the drawn layers within a few metres of the clicked one."""
    layer_id, _sep, position = ref.partition(":")
    if layer_id not in choice.layers or not position.isdigit():
        return []
    frame = _frame(choice, scope, layer_id)
    if int(position) >= len(frame):
        return []
    here = frame.geometry.iloc[int(position)]
    if here is None or here.is_empty or here.geom_type != "Point":
        return []
    # metres from degrees near the point: good enough to find points on top of each other
    scale = np.array([111_320.0 * np.cos(np.radians(here.y)), 110_540.0])
    found: list[tuple[str, str]] = []
    for other_id in reversed(choice.layers):
        other = _frame(choice, scope, other_id)
        points = other[other.geometry.geom_type == "Point"]
        if points.empty:
            continue
        offsets = np.column_stack([points.geometry.x - here.x, points.geometry.y - here.y])
        near = np.flatnonzero(np.hypot(*(offsets * scale).T) <= _NEAR_M)
        title = choice.workspace.specs[other_id].title
        for index in near:
            row_position = int(other.index.get_loc(points.index[index]))
            label = _label(other.iloc[row_position],
                           _("feature {number}").format(number=row_position + 1))
            found.append((f"{other_id}:{row_position}", f"{label} · {title}"))
    return found if len(found) > 1 else []


def pick_among(choice: state.Choice, scope: Any, returned: dict | None) -> dict | None:
    """With several points under the click, let the user pick which one the panel shows."""
    ref = _ref_of(returned)
    if ref is None:
        return returned
    here = overlapping(choice, scope, ref)
    if not here:
        return returned
    refs = [r for r, _label_text in here]
    labels = dict(here)
    chosen = st.radio(_("{count} features at this spot — show:").format(count=len(here)), refs,
                      index=refs.index(ref) if ref in refs else 0,
                      format_func=lambda r: md(labels[r]), key=f"pick:{ref}")
    return {"last_active_drawing": {"properties": {"ref": chosen}}}
