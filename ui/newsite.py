"""The "New site" tab: a site from its AWS report and the workspace's public layers.

The steps of ``catchscope new-site``, each confirmed with a button before the next opens:

1. the **report** (PDF or text): the facts read, its warnings → *Use this record*;
2. the **place**: a typed point (a 100 m placeholder parcel, marked illustrative) or a file
   of parcels (polygons) → *Place the site*;
3. the **catchment level** (the HydroBASINS levels the workspace holds) → *Use this level*;
4. the **draft**: the units, rivers and lakes relied on and affected, the IWRA candidates
   by distance and relation (any the user ticks become IWRAs: a person's decision), the
   water chain matched by name (score, basis), and the checklist it gives → *Create the
   site*, one all-or-nothing save (:func:`geo.store.batch.save_batch`).

The library does the work (:func:`geo.scope.sitedraft.draft_site`); every value from the
report or the data is shown as text (``st.dataframe``, :func:`ui.cards.md`).  Only an
editor sees the tab, and the save asks the server again (:func:`ui.auth.require`).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from geo.core.errors import GeoError
from geo.ingest.importer import workspace_reference
from geo.ingest.read import ImportOptions, ingest_bytes
from geo.reports.parse import plan_import, read_report, review_facts
from geo.scope.sitedraft import catchment_levels, draft_site, placeholder_parcel
from geo.serve.accounts import Action
from geo.store.batch import save_batch
from ui import auth, democopy, state
from ui.cards import md, md_lines

__all__ = ["new_site"]

_POINT = "A point (longitude, latitude)"
_FILE = "Parcels from a file (polygons)"
_PARCEL_TYPES = ["geojson", "json", "zip", "gpkg", "kml", "kmz"]
_ACCURACY = ["surveyed", "official", "derived", "illustrative"]


def _key(choice: state.Choice, name: str) -> str:
    return f"newsite:{choice.workspace.root}:{name}"


def _reset(choice: state.Choice, *steps: str) -> None:
    for step in steps:
        st.session_state.pop(_key(choice, step), None)


def new_site(choice: state.Choice) -> None:
    """The wizard (see the module docstring)."""
    if not democopy.writable(choice, "new_site"):
        return
    saved = st.session_state.pop(_key(choice, "saved"), None)
    if saved:
        _show_saved(choice, saved)
    st.caption("A site anywhere, from its AWS certification report and the public datasets "
               "of this workspace (HydroBASINS, HydroRIVERS, HydroLAKES, WDPA, Ramsar, "
               "Aqueduct, OpenStreetMap: import them first with Add data or `catchscope "
               "import`). Nothing is saved until the last step.")
    imported = _step_report(choice)
    if imported is None:
        return
    placed = _step_place(choice)
    if placed is None:
        return
    level = _step_level(choice)
    if level is None:
        return
    _step_draft(choice, imported, placed, level)


# --- 1. the report ------------------------------------------------------------------------


def _step_report(choice: state.Choice) -> Any:
    st.subheader("1 · The certification report", anchor=False)
    # a new key after each save: the uploader starts empty for the next site
    generation = st.session_state.get(_key(choice, "generation"), 0)
    upload = st.file_uploader("AWS certification report (PDF or text)", type=["pdf", "txt"],
                              key=_key(choice, f"upload:{generation}"))
    if upload is None:
        _reset(choice, "report", "place", "level", "draft")
        return None
    parsed = st.session_state.get(_key(choice, "parsed"))
    if parsed is not None and parsed[0] == upload.file_id:
        imported = parsed[1]  # a PDF is read once, not at every rerun
    else:
        try:
            imported = read_report(upload.getvalue(), name=upload.name)
        except GeoError as err:
            st.error(md_lines(f"This report cannot be used: {err}"))
            return None
        st.session_state[_key(choice, "parsed")] = (upload.file_id, imported)
    confirmed = st.session_state.get(_key(choice, "report")) == upload.file_id
    record = imported.record
    st.markdown(f"**{md(record.label)}**")
    if not confirmed:
        st.dataframe(pd.DataFrame(review_facts(record), columns=["fact", "read from the report"]),
                     hide_index=True, width="stretch")
        for warning in imported.warnings:
            st.warning(md(warning.message))
        if st.button("Use this record", key=_key(choice, "use_record"), type="primary"):
            st.session_state[_key(choice, "report")] = upload.file_id
            st.rerun()
        return None
    st.success(md(f"Record {record.aws_ref} from {upload.name}: confirmed."))
    if st.button("Change the report", key=_key(choice, "change_report")):
        _reset(choice, "report", "place", "level", "draft")
        st.rerun()
    return imported


# --- 2. the place -------------------------------------------------------------------------


def _step_place(choice: state.Choice) -> dict[str, Any] | None:
    st.subheader("2 · Where the site is", anchor=False)
    placed = st.session_state.get(_key(choice, "place"))
    if placed is not None:
        st.success(md(placed["label"]))
        if st.button("Place it elsewhere", key=_key(choice, "change_place")):
            _reset(choice, "place", "level", "draft")
            st.rerun()
        return dict(placed)
    how = st.radio("Place the site with", [_POINT, _FILE], key=_key(choice, "how"),
                   help="No geocoding offline: type the site's position, or give the site "
                        "plan's polygons. Draw the real boundary later in Draw and edit.")
    if how == _POINT:
        left, right = st.columns(2)
        lon = left.number_input("Longitude (WGS84, east positive)", value=None,
                                min_value=-180.0, max_value=180.0, format="%.6f",
                                key=_key(choice, "lon"))
        lat = right.number_input("Latitude (WGS84, north positive)", value=None,
                                 min_value=-80.0, max_value=84.0, format="%.6f",
                                 key=_key(choice, "lat"))
        if lon is None or lat is None:
            st.caption("A 100 m square around the point stands for the site, marked "
                       "illustrative, until its boundary is drawn.")
            return None
        if st.button("Place the site here", key=_key(choice, "place_point"), type="primary"):
            st.session_state[_key(choice, "place")] = {
                "how": "point", "lon": float(lon), "lat": float(lat),
                "label": f"A placeholder parcel around {lon:.6f}, {lat:.6f} (illustrative)."}
            st.rerun()
        return None
    upload = st.file_uploader("The site's parcels", type=_PARCEL_TYPES,
                              key=_key(choice, "parcels"))
    accuracy = st.selectbox("How well the file knows the boundaries", _ACCURACY,
                            key=_key(choice, "accuracy"))
    if upload is None:
        return None
    try:
        result = ingest_bytes(upload.getvalue(), upload.name, ImportOptions(),
                              reference=lambda f: workspace_reference(choice.workspace, f))
    except GeoError as err:
        st.error(md_lines(f"{upload.name} cannot be read: {err}"))
        return None
    st.caption(md(f"{len(result.frame)} feature(s) read from {upload.name}."))
    if st.button("Place the site with these parcels", key=_key(choice, "place_file"),
                 type="primary"):
        st.session_state[_key(choice, "place")] = {
            "how": "file", "frame": result.frame, "name": upload.name, "accuracy": accuracy,
            "label": f"{len(result.frame)} parcel(s) from {upload.name} ({accuracy})."}
        st.rerun()
    return None


def _parcels(placed: dict[str, Any]) -> gpd.GeoDataFrame:
    if placed["how"] == "point":
        return gpd.GeoDataFrame(geometry=[placeholder_parcel(placed["lon"], placed["lat"])],
                                crs="EPSG:4326")
    frame: gpd.GeoDataFrame = placed["frame"]
    return frame


# --- 3. the level -------------------------------------------------------------------------


def _step_level(choice: state.Choice) -> str | None:
    st.subheader("3 · The catchment level", anchor=False)
    chosen = st.session_state.get(_key(choice, "level"))
    if chosen is not None:
        st.success(md(f"0.1.1.1 is judged at {chosen}."))
        if st.button("Choose another level", key=_key(choice, "change_level")):
            _reset(choice, "level", "draft")
            st.rerun()
        return str(chosen)
    levels = list(catchment_levels(choice.workspace))
    if not levels:
        st.error("The workspace has no catchment units with a level: import HydroBASINS for "
                 "the region first (Add data, or `catchscope import hybas_…_levNN_v1c.zip`).")
        return None
    current = choice.workspace.settings.catchment_level
    level = st.selectbox("Catchment units of level", levels,
                         index=levels.index(current) if current in levels else 0,
                         key=_key(choice, "level_pick"),
                         help="The HydroBASINS Pfafstetter level at which the one-catchment "
                              "rule (0.1.1.1) is judged and the network walked; it becomes "
                              "the workspace's level.")
    if st.button("Use this level", key=_key(choice, "use_level"), type="primary"):
        st.session_state[_key(choice, "level")] = level
        st.rerun()
    return None


# --- 4. the draft -------------------------------------------------------------------------


def _draft(choice: state.Choice, imported: Any, placed: dict[str, Any], level: str,
           confirm: list[str]) -> Any:
    """The draft for these answers, kept in the session until an answer changes."""
    signature = (imported.record.model_dump_json(), placed["label"], level, tuple(confirm),
                 str(sorted(choice.workspace.specs)))
    cached = st.session_state.get(_key(choice, "draft"))
    if cached is not None and cached[0] == signature:
        return cached[1]
    plan = plan_import(choice.workspace.records, imported)
    source = (placed["name"] if placed["how"] == "file"
              else f"typed point {placed['lon']:.6f}, {placed['lat']:.6f} (New site wizard)")
    draft = draft_site(choice.workspace, plan.record, _parcels(placed),
                       placement=placed["how"], source=source, level=level,
                       accuracy=placed.get("accuracy", "surveyed"), confirm_iwras=confirm)
    st.session_state[_key(choice, "draft")] = (signature, draft)
    return draft


def _step_draft(choice: state.Choice, imported: Any, placed: dict[str, Any],
                level: str) -> None:
    st.subheader("4 · The draft", anchor=False)
    confirm = list(st.session_state.get(_key(choice, "confirm"), []))
    try:
        with st.spinner("Drafting the site from the public layers…"):
            draft = _draft(choice, imported, placed, level, confirm)
    except GeoError as err:
        st.error(md_lines(err))
        return
    st.markdown("**What saving writes**")
    st.markdown("\n".join(f"- {md(line)}" for line in draft.summary()))
    for note in draft.notes:
        st.info(md(note))
    st.markdown("**Network relied on and affected** (from the public layers)")
    st.dataframe(draft.network.rename(columns={"bws_label": "water stress"}),
                 hide_index=True, width="stretch", key=_key(choice, "network_table"))
    st.markdown("**IWRA candidates** (WDPA, Ramsar): candidates, not IWRAs, until you confirm")
    if draft.candidates.empty:
        st.caption("None: import WDPA or Ramsar for the region to screen protected areas.")
    else:
        shown = draft.candidates.assign(distance_km=(draft.candidates["distance_m"] / 1000)
                                        .round(1)).drop(columns=["distance_m"])
        st.dataframe(shown, hide_index=True, width="stretch",
                     key=_key(choice, "candidate_table"))
        names = dict(zip(draft.candidates["fid"], draft.candidates["name"], strict=True))
        picked = st.multiselect("Confirm as IWRAs (your decision, recorded with the site)",
                                list(names), default=confirm,
                                format_func=lambda f: f"{names[f]} ({f})",
                                key=_key(choice, "confirm_pick"))
        if picked != confirm:
            st.session_state[_key(choice, "confirm")] = picked
            st.rerun()
    st.markdown("**Water chain drafted from the report** (name matches: inferred)")
    st.dataframe(_matches(draft), hide_index=True, width="stretch",
                 key=_key(choice, "match_table"))
    scope = draft.scope
    st.markdown(f"**1.1.1 checklist once saved: {md(scope.score)}**")
    st.dataframe(_checklist(scope), hide_index=True, width="stretch",
                 key=_key(choice, "checklist_table"))
    if st.button(f"Create {draft.aws_ref}", key=_key(choice, "create"), type="primary"):
        try:
            auth.require(Action.EDIT, "creating a site")
            auth.require(Action.IMPORT_REPORT, "saving a site record")
            save_batch(choice.workspace, draft, action="new-site", author=auth.current().author,
                       summary=f"new site {draft.aws_ref} from {draft.record.audit_number} "
                               "(New site wizard)")
        except GeoError as err:
            st.error(md_lines(err))
            return
        _reset(choice, "report", "place", "level", "draft", "confirm", "parsed")
        generation = st.session_state.get(_key(choice, "generation"), 0)
        st.session_state[_key(choice, "generation")] = generation + 1
        st.session_state[_key(choice, "saved")] = draft.aws_ref
        st.rerun()


def _matches(draft: Any) -> pd.DataFrame:
    rows = []
    for m in draft.matches:
        rows.append({
            "role": m.role, "the report says": m.name,
            "feature": m.match.feature_name if m.match else "— no match",
            "layer": f"{m.match.layer}/{m.match.fid}" if m.match else "",
            "score": m.match.score if m.match else None,
            "basis": m.match.basis.summary() if m.match else "",
            "drafted as": ", ".join(m.used_by)})
    return pd.DataFrame(rows, columns=["role", "the report says", "feature", "layer", "score",
                                       "basis", "drafted as"])


def _checklist(scope: Any) -> pd.DataFrame:
    return pd.DataFrame({
        "element": [c.title for c in scope.checklist],
        "status": [c.status for c in scope.checklist],
        "what remains to map": ["\n".join(c.missing) or "—" for c in scope.checklist]})


def _show_saved(choice: state.Choice, aws_ref: str) -> None:
    st.success(md(f"Created {aws_ref}: its record and draft are saved. Choose it in the "
                  "sidebar's Site list to see it on the map; replace what is illustrative "
                  "in Draw and edit."))
    try:
        from geo.scope.assess import assess_site

        scope = assess_site(choice.workspace, aws_ref)
    except GeoError as err:
        st.error(md_lines(err))
        return
    st.markdown(f"**1.1.1 checklist of {md(aws_ref)}: {md(scope.score)}**")
    st.dataframe(_checklist(scope), hide_index=True, width="stretch",
                 key=_key(choice, "saved_checklist"))
