"""Catchscope — a water-stewardship site in its catchment (Streamlit wiring only).

Run with ``streamlit run app.py`` (``make app``).  Everything that is not Streamlit lives
in ``geo/``; the map is built by :mod:`geo.maps.build`, the panels beside and below it by
``ui/panels.py``.  Errors from the library (``GeoError``) are caught in one place,
:func:`main`, and shown as a message, never a traceback.
"""

from __future__ import annotations

import time

import streamlit as st
import streamlit.components.v1 as components

from geo.core.errors import GeoError
from geo.maps.build import BASEMAPS, STATIC_DIR
from ui import add_data, edit, exports, mapview, panels, rasters, reports, state

st.set_page_config(page_title="Catchscope", page_icon="💧", layout="wide")

# Serve the vendored Leaflet files from this server (offline first): a path-only component
# makes Streamlit serve geo/static/ with proper content types at /component/<name>/.
_STATIC = components.declare_component("catchscope_static", path=str(STATIC_DIR))
# Relative to the st_folium iframe (/component/streamlit_folium.st_folium/index.html).
STATIC_URL = f"../{_STATIC.name}/"

ALL_SITES = "All sites"
MAP_KEY = "catchscope_map"


def _sidebar() -> state.Choice:
    sb = st.sidebar
    sb.title("Catchscope")
    source = sb.radio("Workspace", ["Bundled demo", "Folder on this machine"], key="ws_source")
    path: str | None = None
    if source == "Folder on this machine":
        path = sb.text_input("Workspace folder", key="ws_path",
                             placeholder="/path/to/workspace (holds layers/ and data/)",
                             help="A folder with layers/*.toml and data/; "
                                  "create one with `catchscope init PATH`.").strip() or None
        if path is None:
            sb.info("Type the path of a workspace folder.")
            st.stop()
    ws = state.workspace(path)
    sites = state.site_choices(ws)
    labels = {ALL_SITES: ALL_SITES, **sites}
    default = ws.settings.default_site if ws.settings.default_site in sites else None
    options = list(labels)
    index = options.index(default) if default else (1 if len(options) > 1 else 0)
    # Widget keys carry the workspace: another workspace starts from its own defaults.
    wkey = str(ws.root)
    site = sb.selectbox("Site", options, index=index, format_func=labels.__getitem__,
                        key=f"site:{wkey}")
    basemap = sb.selectbox("Basemap", list(BASEMAPS), format_func=lambda k: BASEMAPS[k].label,
                           key="basemap",
                           help="Only 'No basemap' works offline. Amap shifts the data to "
                                "GCJ-02 for display only.")
    layer_ids = [spec.id for spec in ws.specs.values() if not spec.is_raster]
    default_layers = [spec.id for spec in ws.specs.values() if not spec.is_raster and spec.visible]
    with sb.expander("Layers", expanded=False):
        chosen = st.multiselect("Layers drawn", layer_ids, default=default_layers,
                                key=f"layers:{wkey}", format_func=lambda lid: ws.specs[lid].title,
                                help="The map's layer control also switches layers on and off "
                                     "without a rerun.")
    bands = state.parse_bands(
        sb.text_input("IWRA buffer bands (km)", key=f"bands:{wkey}",
                      value=", ".join(f"{b:g}" for b in ws.settings.scope.buffer_bands_km),
                      help="Distances from the site that band the IWRA table, e.g. 1, 10, 50."),
        ws.settings.scope.buffer_bands_km,
    )
    mode = sb.radio("Map mode", list(state.MAP_MODES), format_func=state.MAP_MODES.__getitem__,
                    key="map_mode", horizontal=False,
                    help="What a click on the map does: show a feature, draw and edit "
                         "features, or place a catchment outlet on a DEM.")
    return state.Choice(workspace=ws, path=path, site=None if site == ALL_SITES else site,
                        basemap=basemap, layers=tuple(chosen), bands=bands, mode=mode)


def _map(choice: state.Choice, scope: object | None,
         raster_choice: rasters.RasterChoice) -> dict | None:
    data = state.map_data(choice, scope)
    data, extra_key = rasters.map_layers(choice, data, raster_choice)
    return mapview.show_map(data, (*state.map_key(choice), extra_key), static_url=STATIC_URL,
                            key=f"{MAP_KEY}:{choice.mode}", mode=choice.mode)


def run() -> None:
    started = time.perf_counter()
    choice = _sidebar()
    raster_choice = rasters.sidebar(choice)
    scope = state.scope(choice)
    title = choice.workspace.settings.name
    st.header(panels.md(title if choice.site is None else f"{title} · {choice.site}"),
              anchor=False)
    left, right = st.columns([5, 2], gap="medium")
    with left:  # the map stays outside tabs: st_folium maps go blank inside later tabs
        returned = _map(choice, scope, raster_choice)
    with right:
        if choice.mode == "delineate":
            rasters.delineate_panel(choice, returned)
        elif choice.mode == "edit":
            edit.panel(choice, returned)
        else:
            panels.selection(choice, returned)
    # on_change="rerun": the app knows the open tab (tab.open) and skips hidden heavy content
    tabs = st.tabs(["1.1.1 checklist", "IWRAs", "Water chain", "Portfolio", "Site record",
                    "Export", "Import report", "Rasters", "Add data"], key="tabs",
                   on_change="rerun")
    with tabs[0]:
        panels.checklist(choice, scope)
    with tabs[1]:
        panels.iwras(choice, scope)
    with tabs[2]:
        panels.water_chain(choice, scope, draw=tabs[2].open is not False)
    with tabs[3]:
        panels.portfolio(choice)
    with tabs[4]:
        panels.site_record(choice)
    with tabs[5]:
        panels.export(choice, scope)
    with tabs[6]:
        reports.import_report(choice)
    with tabs[7]:
        rasters.rasters_tab(choice, scope)
    with tabs[8]:
        add_data.add_data(choice, STATIC_URL)
    # Read by bench/bench_app.py (server-side time of this rerun).
    st.session_state["last_run_ms"] = (time.perf_counter() - started) * 1000
    exports.warm_up_sheets()  # once per process, after the page is drawn


def main() -> None:
    try:
        run()
    except GeoError as err:  # the one place library errors reach the user
        st.error(str(err))


main()
