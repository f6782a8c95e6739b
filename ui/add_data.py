"""The "Add data" tab: upload a file, answer its questions, preview, map fields, save.

The bytes of the upload go to :func:`geo.ingest.read.ingest_bytes` (never a path).  What the
file cannot tell — its CRS, which GeoPackage/KML layer, which CSV columns, whether its
coordinates were copied from Amap/Baidu (GCJ-02/BD-09) or have latitude and longitude
swapped — is asked here, one widget per question, never guessed.  The repairs and
rejections are listed and the incoming features are previewed on a small map over the
site before anything is saved.  Saving goes through :func:`geo.ingest.importer.import_into`
(the edit store, with this session's version check), so the features appear at once on
the map, in the 1.1.1 checklist and in exports.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import folium
import geopandas as gpd
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo.core.catalogue import Datum, LayerKind
from geo.core.errors import EditConflictError, GeoError
from geo.ingest.importer import ImportReport, import_into, workspace_reference
from geo.ingest.read import ImportOptions, ImportQuestion, IngestResult, ingest_bytes
from geo.maps.build import localise_assets
from ui import democopy, edit, state
from ui.panels import md, md_lines

__all__ = ["add_data", "preview_map"]

UPLOAD_TYPES = ["geojson", "json", "zip", "gpkg", "kml", "kmz", "csv", "txt", "xlsx", "gpx"]
_KEEP = "(keep as is)"
_FILE_SITE = "(as in the file / none)"
_DETECT = "detect (ask if in doubt)"
_NEW = "New layer…"
_OUR_FIELDS = ("name", "fid", "aws_ref", "accuracy")
_PREFERRED = (LayerKind.DISCHARGE_POINT, LayerKind.PIPE, LayerKind.SITE, LayerKind.WATER_SOURCE,
              LayerKind.FACILITY)


def _file_key(name: str, data: bytes) -> str:
    return f"{name}:{hashlib.sha1(data).hexdigest()[:16]}"  # noqa: S324 - an id


def _options(answers: dict[str, Any]) -> ImportOptions:
    values = dict(answers)
    if "datum" in values:
        values["datum"] = Datum(values["datum"])
    return ImportOptions(**values)


def _ingest(choice: state.Choice, data: bytes, name: str, answers: dict[str, Any]
            ) -> IngestResult:
    cache = st.session_state.setdefault("import_cache", {})
    key = (_file_key(name, data), json.dumps(answers, sort_keys=True), str(choice.key))
    if key not in cache:
        ws = choice.workspace
        cache.clear()  # one upload at a time: keep memory small
        cache[key] = ingest_bytes(data, name, _options(answers),
                                  reference=lambda near: workspace_reference(ws, near))
    result: IngestResult = cache[key]
    return result


def _ask(question: ImportQuestion, answers: dict[str, Any], key: str) -> None:
    """One widget per open question; 'Apply' stores the answers and reruns the import."""
    st.warning(md_lines(question))
    with st.form(f"answers:{key}", border=True):
        given: dict[str, Any] = {}
        for option, prompt in question.questions.items():
            choices = question.choices.get(option)
            if option == "swap_axes":
                given[option] = st.radio(prompt, ["yes", "no"], key=f"q:{key}:{option}",
                                         horizontal=True) == "yes"
            elif choices:
                given[option] = st.selectbox(prompt, choices, key=f"q:{key}:{option}")
            else:
                given[option] = st.text_input(prompt, key=f"q:{key}:{option}",
                                              placeholder="EPSG:4326").strip() or None
        if st.form_submit_button("Apply answer", type="primary"):
            answers.update({k: v for k, v in given.items() if v is not None})
            st.rerun()


def _report(result: IngestResult) -> None:
    st.text(f"{result.filename}: {result.format.value}, {len(result.frame)} features, "
            f"CRS {result.source_crs}, coordinates' datum {result.datum.value}"
            + (f", layer {result.source_layer}" if result.source_layer else ""))
    for note in result.notes:
        st.caption(md(note))
    if result.legal_note:  # once per import, not per feature
        st.warning(result.legal_note)
    if result.repairs:
        st.markdown(f"**Repaired geometries ({len(result.repairs)})**")
        st.dataframe(pd.DataFrame([vars(r) for r in result.repairs]), hide_index=True,
                     width="stretch")
    if result.rejected:
        st.markdown(f"**Left out ({len(result.rejected)})**")
        st.dataframe(pd.DataFrame([vars(r) for r in result.rejected]), hide_index=True,
                     width="stretch")


def _target(choice: state.Choice, result: IngestResult, key: str
            ) -> tuple[str, LayerKind | None]:
    ws = choice.workspace
    families = {edit._FAMILY.get(t, "") for t in result.frame.geom_type}
    layers = [spec.id for spec in edit.editable_layers(ws)
              if all(edit.fits(spec.kind, f) for f in families)]
    # A site's own features first: what a user brings is mostly these.
    layers.sort(key=lambda lid: _PREFERRED.index(ws.specs[lid].kind)
                if ws.specs[lid].kind in _PREFERRED else len(_PREFERRED))
    options = [*layers, _NEW]
    layer = st.selectbox("Into layer", options, key=f"target:{key}",
                         format_func=lambda lid: lid if lid == _NEW else
                         f"{ws.specs[lid].title} ({ws.specs[lid].kind.value})")
    if layer != _NEW:
        return layer, None
    left, right = st.columns(2)
    new_id = left.text_input("New layer id", key=f"newid:{key}", placeholder="e.g. outfalls",
                             help="Lower-case letters, digits and '_'.").strip()
    kinds = [k for k in LayerKind if k is not LayerKind.RASTER
             and all(edit.fits(k, f) for f in families)]
    kind = right.selectbox("Kind", kinds, key=f"newkind:{key}", format_func=lambda k: k.value)
    return new_id, kind


def _field_map(choice: state.Choice, result: IngestResult, layer_id: str, key: str
               ) -> dict[str, str]:
    ws = choice.workspace
    columns = [str(c) for c in result.frame.columns if c != result.frame.geometry.name]
    if not columns:
        return {}
    ours = list(_OUR_FIELDS)
    if layer_id in ws.specs:
        ours += edit._fields_for(ws, ws.specs[layer_id])
    ours = list(dict.fromkeys(ours))
    mapping: dict[str, str] = {}
    with st.expander(f"Map the file's fields to ours ({len(columns)} fields)", expanded=False):
        st.caption("Fields named like ours (name, fid, aws_ref, accuracy…) are used as they "
                   "are; the others are kept under their own names unless you map them.")
        grid = st.columns(2)
        for i, column in enumerate(columns[:40]):
            options = [_KEEP, *(f for f in ours if f != column)]
            target = grid[i % 2].selectbox(column, options, key=f"map:{key}:{column}")
            if target != _KEEP:
                mapping[column] = target
    return mapping


def preview_map(choice: state.Choice, incoming: gpd.GeoDataFrame, layer_id: str | None
                ) -> folium.Map:
    """A small offline map: the site's parcels and the target layer (grey), the file (red)."""
    ws = choice.workspace
    minx, miny, maxx, maxy = (float(v) for v in incoming.total_bounds)
    fmap = folium.Map(tiles=None, control_scale=True, zoom_start=14,
                      location=[(miny + maxy) / 2, (minx + maxx) / 2])
    context = []
    if choice.site is not None:
        sites = ws.load_kind(LayerKind.SITE)
        context.append(sites[sites["aws_ref"] == choice.site])
    if layer_id in ws.specs:
        context.append(ws.load(layer_id))
    grey = {"color": "#666666", "weight": 1, "fillOpacity": 0.15}
    for frame in context:
        if frame.empty:
            continue
        folium.GeoJson(frame.geometry.to_json(), style_function=lambda _f: grey,
                       marker=folium.CircleMarker(radius=4, color="#666666", fill=True),
                       name="context").add_to(fmap)
    red = {"color": "#d7301f", "weight": 3, "fillOpacity": 0.35}
    folium.GeoJson(gpd.GeoSeries(incoming.geometry.values, crs="EPSG:4326").to_json(),
                   style_function=lambda _f: red, name="incoming",
                   marker=folium.CircleMarker(radius=7, color="#d7301f", fill=True,
                                              fill_opacity=0.8)).add_to(fmap)
    pad = 0.002
    fmap.fit_bounds([[miny - pad, minx - pad], [maxy + pad, maxx + pad]])
    return fmap


def _show_preview(choice: state.Choice, frame: gpd.GeoDataFrame, layer_id: str | None,
                  static_url: str, key: str) -> None:
    st.caption(f"Preview: the {len(frame)} incoming features in red, the site and the "
               "layer's current features in grey. Nothing is saved yet.")
    st_folium(localise_assets(preview_map(choice, frame, layer_id), static_url),
              key=f"preview:{key}", height=340, use_container_width=True, returned_objects=[])


def _save(choice: state.Choice, result: IngestResult, layer_id: str, kind: LayerKind | None,
          site: str | None, mapping: dict[str, str], mode: str) -> None:
    ws = choice.workspace
    base = edit.base_version(ws, layer_id) if layer_id in ws.specs else None
    try:
        report = import_into(ws, layer_id, result, kind=kind, site=site, field_map=mapping,
                             mode=mode, base_version=base, author=edit._author())
    except EditConflictError as err:
        edit.conflict(ws, err, layer_id, f"import:{layer_id}")
        return
    except GeoError as err:
        st.error(md_lines(err))
        return
    assert report.saved is not None
    edit.saved(ws, report.saved, " ".join(report.lines()))
    st.session_state["import_flash"] = st.session_state.pop("edit_flash")
    st.session_state["upload_round"] = st.session_state.get("upload_round", 0) + 1
    st.rerun()


def add_data(choice: state.Choice, static_url: str) -> None:
    """The tab: upload → questions → report → preview → target, site, fields → save."""
    if not democopy.writable(choice, "add_data"):
        return
    ws = choice.workspace
    edit.remember_loaded(ws)
    flash = st.session_state.pop("import_flash", None)
    if flash:
        st.success(md_lines(flash))
    upload = st.file_uploader(
        "File to import", type=UPLOAD_TYPES,
        key=f"upload:{st.session_state.get('upload_round', 0)}",
        help="GeoJSON, zipped Shapefile (.shp .shx .dbf .prj), GeoPackage, KML/KMZ, CSV/XLSX "
             "with longitude/latitude columns, GPX. The content decides the format, not the "
             "extension.")
    if upload is None:
        st.caption("Nothing is saved until you press Save. Every save can be undone "
                   "(Map mode 'Draw and edit' → History and undo).")
        return
    data = upload.getvalue()
    key = _file_key(upload.name, data)
    answers = st.session_state.setdefault("import_answers", {}).setdefault(key, {})
    datum = st.selectbox("Coordinates taken from", [_DETECT, "wgs84", "gcj02", "bd09"],
                         key=f"datum:{key}",
                         help="wgs84: GPS, Google Earth, most GIS files · gcj02: Amap/Gaode, "
                              "Tencent · bd09: Baidu. Detection compares the file with the "
                              "workspace's own features.")
    previous = st.session_state.setdefault("import_datum_box", {}).get(key)
    if datum != _DETECT:
        answers["datum"] = datum
    elif previous not in (None, _DETECT):  # back to detection: forget the box's datum
        answers.pop("datum", None)
    st.session_state["import_datum_box"][key] = datum
    try:
        result = _ingest(choice, data, upload.name, answers)
    except ImportQuestion as question:
        _ask(question, answers, key)
        if question.preview is not None and not question.preview.empty:
            _show_preview(choice, question.preview, None, static_url, key)
        return
    except GeoError as err:
        st.error(md_lines(err))
        return
    _report(result)
    layer_id, kind = _target(choice, result, key)
    sites = [_FILE_SITE, *state.site_choices(ws)]
    default_site = sites.index(choice.site) if choice.site in sites else 0
    left, right = st.columns(2)
    site = left.selectbox("Site (AWS reference) of every feature", sites, index=default_site,
                          key=f"site:{key}")
    mode = right.radio("Mode", ["append", "replace"], key=f"mode:{key}", horizontal=True,
                       help="append: add to the layer's features · replace: the file becomes "
                            "the layer (undo brings the old features back).")
    mapping = _field_map(choice, result, layer_id, key)
    if not layer_id:
        st.info("Type the new layer's id.")
        return
    try:
        dry: ImportReport = import_into(ws, layer_id, result, kind=kind,
                                        site=None if site == _FILE_SITE else site,
                                        field_map=mapping, mode=mode, dry_run=True)
    except GeoError as err:
        st.error(md_lines(err))
        return
    _show_preview(choice, dry.frame, layer_id if layer_id in ws.specs else None, static_url,
                  key)
    for line in dry.lines():
        st.text(line)
    if st.button("Save", type="primary", key=f"save:{key}"):
        _save(choice, result, layer_id, kind, None if site == _FILE_SITE else site, mapping,
              mode)
