"""Catchscope — a water-stewardship site in its catchment (Streamlit wiring only).

Run with ``streamlit run app.py`` (``make app``).  Everything that is not Streamlit lives
in ``geo/``; the map is built by :mod:`geo.maps.build`, the panels beside and below it by
``ui/panels.py``.  Errors from the library (``GeoError``) are caught in one place,
:func:`main`, and shown as a message, never a traceback.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import streamlit as st
import streamlit.components.v1 as components

from geo.core.errors import GeoError
from geo.core.i18n import N_
from geo.maps.build import BASEMAPS, STATIC_DIR
from geo.serve.accounts import Action, Identity
from ui import (
    add_data,
    admin,
    auth,
    edit,
    exports,
    finder,
    i18n,
    layerpanel,
    mapview,
    newsite,
    panels,
    rasters,
    reports,
    state,
    versus,
)
from ui.i18n import _

st.set_page_config(page_title="Catchscope", page_icon="💧", layout="wide")

# Serve the vendored Leaflet files from this server (offline first): a path-only component
# makes Streamlit serve geo/static/ with proper content types at /component/<name>/.
_STATIC = components.declare_component("catchscope_static", path=str(STATIC_DIR))
# Relative to the st_folium iframe (/component/streamlit_folium.st_folium/index.html).
STATIC_URL = f"../{_STATIC.name}/"

ALL_SITES = N_("All sites")  # an option value (and URL-free): shown translated
MAP_KEY = "catchscope_map"


def _workspace(who: Identity) -> tuple[state.Workspace, str | None]:
    """The workspace: any folder in local mode; one the server lists otherwise."""
    sb = st.sidebar
    config = auth.server_config()
    if not who.can(Action.LOCAL_FOLDERS) and config is not None and config.workspaces:
        entries = {entry.name: entry for entry in config.workspaces}
        name = sb.selectbox(_("Workspace"), list(entries), key="ws", bind="query-params",
                            format_func=lambda n: entries[n].label)
        return state.listed_workspace(entries[name].path), str(entries[name].path)
    if not who.can(Action.LOCAL_FOLDERS):
        return state.workspace(None), None  # a server that lists none serves the demo
    source = sb.radio(_("Workspace"), [N_("Bundled demo"), N_("Folder on this machine")],
                      key="ws_source", format_func=i18n.gettext())
    path: str | None = None
    if source == "Folder on this machine":
        path = sb.text_input(_("Workspace folder"), key="ws_path",
                             placeholder=_("/path/to/workspace (holds layers/ and data/)"),
                             help=_("A folder with layers/*.toml and data/; "
                                    "create one with `catchscope init PATH`.")).strip() or None
        if path is None:
            sb.info(_("Type the path of a workspace folder."))
            st.stop()
    return state.workspace(path), path


def _fresh_view(workspace_key: str, options: dict[str, list[str]]) -> None:
    """Another workspace starts from its own defaults; a value it lacks is dropped.

    On the first run the values come from the URL (a shared link), and are kept when the
    workspace has them.
    """
    previous = st.session_state.get("view_workspace")
    st.session_state["view_workspace"] = workspace_key
    for key, allowed in options.items():
        if key not in st.session_state:
            continue
        value = st.session_state[key]
        values = value if isinstance(value, list) else [value]
        if (previous is not None and previous != workspace_key) or \
                any(v not in allowed for v in values):
            del st.session_state[key]


def _from_url(key: str, options: list[str]) -> str | None:
    """The URL's value for ``key`` when it is one of ``options`` (else None: ignored)."""
    value = st.query_params.get(key)
    return value if value in options else None


def _url_list(key: str, options: list[str]) -> list[str] | None:
    """The URL's comma-separated values for ``key`` that are ``options`` (None: none)."""
    values = [v for raw in st.query_params.get_all(key) for v in raw.split(",")]
    kept = [v for v in values if v in options]
    return kept or None


def _to_url(view: dict[str, str | None]) -> None:
    """Keep the address bar on the current view (None: the default, left out)."""
    for key, value in view.items():
        if value is None:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != value:
            st.query_params[key] = value


def _copy_link() -> None:
    """The address of this view (site, layers, mode, tab), with a copy button."""
    base = (st.context.url or "").split("?", 1)[0]
    query = urlencode([(k, v) for k in st.query_params for v in st.query_params.get_all(k)],
                      safe=",")
    with st.sidebar.expander(_("Link to this view"), expanded=False):
        st.code(f"{base}?{query}" if query else base, language=None, wrap_lines=True)
        st.caption(_("Copy it (the icon at the right) to send this site, layers, map mode, "
                     "tab and language. Whoever opens it signs in first, and sees what their "
                     "role allows."))


def _sidebar(who: Identity) -> tuple[Any, state.Choice]:
    sb = st.sidebar
    sb.title("Catchscope")
    i18n.selector(sb)
    auth.sign_out_button(who)
    ws, path = _workspace(who)
    sites = state.site_choices(ws)
    labels = {ALL_SITES: _(ALL_SITES), **sites}
    default = ws.settings.default_site if ws.settings.default_site in sites else None
    options = list(labels)
    index = options.index(default) if default else (1 if len(options) > 1 else 0)
    wkey = str(ws.root)
    layer_ids = [spec.id for spec in ws.specs.values() if not spec.is_raster]
    _fresh_view(wkey, {"site": options, "basemap": list(BASEMAPS)})
    # The view is in the URL (?site=AWS-000522&layers=sites,rivers&mode=edit&tab=IWRAs): a
    # widget created in this session starts from the URL's value when the workspace has it
    # (anything else in the URL is ignored), and the URL follows every change.
    url_site = _from_url("site", options)
    site = sb.selectbox(_("Site"), options, format_func=labels.__getitem__, key="site",
                        index=options.index(url_site) if url_site else index)
    find_slot = sb.container()  # the feature search, filled once the scope is known
    url_basemap = _from_url("basemap", list(BASEMAPS))
    shown = i18n.gettext()  # (format_func may be called outside this run)
    basemap = sb.selectbox(_("Basemap"), list(BASEMAPS),
                           format_func=lambda k: shown(BASEMAPS[k].label),
                           key="basemap", index=list(BASEMAPS).index(url_basemap or "none"),
                           help=_("Only 'No basemap' works offline. Amap shifts the data to "
                                  "GCJ-02 for display only."))
    default_layers = [spec.id for spec in ws.specs.values() if not spec.is_raster and spec.visible]
    with sb.expander(_("Layers"), expanded=True):
        st.caption(_("The top of the list is drawn on top."))
        view = layerpanel.layer_panel(ws, wkey, layer_ids,
                                      _url_list("layers", layer_ids) or default_layers)
    drawn = [lid for lid in layer_ids if lid in view.layers]  # catalogue order, for the URL
    bands = state.parse_bands(
        sb.text_input(_("IWRA buffer bands (km)"), key=f"bands:{wkey}",
                      value=", ".join(f"{b:g}" for b in ws.settings.scope.buffer_bands_km),
                      help=_("Distances from the site that band the IWRA table, "
                             "e.g. 1, 10, 50.")),
        ws.settings.scope.buffer_bands_km,
    )
    modes = state.allowed_modes(who)
    if len(modes) > 1:
        url_mode = _from_url("mode", modes)
        mode = sb.radio(_("Map mode"), modes, format_func=lambda m: shown(state.MAP_MODES[m]),
                        key="mode", index=modes.index(url_mode or "inspect"), horizontal=False,
                        help=_("What a click on the map does: show a feature, draw and edit "
                               "features, or place a catchment outlet on a DEM."))
    else:
        mode = modes[0]
    if mode not in modes:  # whatever the widget state says, the role decides
        mode = "inspect"
    _to_url({"site": site if site != options[index] else None,
             "basemap": basemap if basemap != "none" else None,
             "layers": ",".join(drawn) if drawn != default_layers else None,
             "mode": mode if mode != "inspect" else None})
    site_ref = None if site == ALL_SITES else site
    return find_slot, state.Choice(workspace=ws, path=path, site=site_ref,
                        basemap=basemap, layers=view.layers, bands=bands, mode=mode,
                        public=not who.can(Action.EXPORT_FULL), opacity=view.opacity,
                        lang=i18n.current(),
                        chain=view.chain, pins=view.pins, zoom=finder.request(wkey, site_ref))


def _map(choice: state.Choice, scope: object | None,
         raster_choice: rasters.RasterChoice) -> dict | None:
    data = state.map_data(choice, scope)
    data, extra_key = rasters.map_layers(choice, data, raster_choice)
    return mapview.show_map(data, (*state.map_key(choice), extra_key), static_url=STATIC_URL,
                            key=f"{MAP_KEY}:{choice.mode}", mode=choice.mode)


def run() -> None:
    started = time.perf_counter()
    i18n.start()  # the language of this run, before anything is drawn (the sign-in page too)
    who = auth.identity()  # served: the sign-in page until someone signs in
    find_slot, choice = _sidebar(who)
    raster_choice = rasters.sidebar(choice)
    scope = state.scope(choice)
    finder.search(choice, scope, find_slot)
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
        else:  # a click, or a feature found by search / in the attribute table
            shown = finder.pick_among(choice, scope, finder.clicked(choice, returned))
            panels.selection(choice, shown, scope)
    # on_change="rerun": the app knows the open tab (tab.open) and skips hidden heavy content
    # (English names, also the URL's ?tab=; shown in the user's language by i18n.tabs)
    names = [N_("1.1.1 checklist"), N_("IWRAs"), N_("Water chain"), N_("Map vs report"),
             N_("Portfolio"), N_("Site record"), N_("Attribute table"), N_("Export")]
    if who.can(Action.IMPORT_REPORT):
        names.append(N_("Import report"))
    names.append(N_("Rasters"))
    if who.can(Action.EDIT):
        names += [N_("Add data"), N_("New site")]
    if who.can(Action.ADMIN) and not who.local:
        names.append(N_("Admin"))
    tabs = i18n.tabs(names, key="tab")
    def shown(name: str) -> bool:  # False only where the tab is known to be closed
        return tabs[name].open is not False

    # A closed tab without widgets of its own is left empty until it is opened (its
    # content is made then): the IWRA table alone was a sixth of a run's server time.
    # Tabs with widgets (exports, rasters, add data…) are always made, or their state
    # would be dropped while another tab is open.
    with tabs["1.1.1 checklist"]:
        panels.checklist(choice, scope)
    with tabs["IWRAs"]:
        if shown("IWRAs"):
            panels.iwras(choice, scope)
    with tabs["Water chain"]:
        panels.water_chain(choice, scope, draw=shown("Water chain"))
    with tabs["Map vs report"]:
        if shown("Map vs report"):
            versus.map_vs_report(choice, scope)
    with tabs["Portfolio"]:
        if shown("Portfolio"):
            panels.portfolio(choice)
    with tabs["Site record"]:
        if shown("Site record"):
            panels.site_record(choice)
    with tabs["Attribute table"]:
        if shown("Attribute table"):
            finder.attribute_table(choice, scope)
    with tabs["Export"]:
        panels.export(choice, scope)
    if "Import report" in tabs:
        with tabs["Import report"]:
            reports.import_report(choice)
    with tabs["Rasters"]:
        rasters.rasters_tab(choice, scope)
    if "Add data" in tabs:
        with tabs["Add data"]:
            add_data.add_data(choice, STATIC_URL)
    if "New site" in tabs:
        with tabs["New site"]:
            newsite.new_site(choice)
    if "Admin" in tabs:
        with tabs["Admin"]:
            admin.panel(who)
    _copy_link()
    # Read by bench/bench_app.py (server-side time of this rerun).
    st.session_state["last_run_ms"] = (time.perf_counter() - started) * 1000
    exports.warm_up_sheets()  # once per process, after the page is drawn


def main() -> None:
    try:
        run()
    except GeoError as err:  # the one place library errors reach the user
        st.error(panels.md_lines(err))  # it quotes workspace values: text, not Markdown


main()
