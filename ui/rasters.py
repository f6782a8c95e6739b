"""Rasters in the app: overlays on the map, zonal statistics, and delineation by click.

* :func:`sidebar` — which raster layers the map draws and how opaque they are.
* :func:`map_layers` — the prepared map with the chosen raster overlays and, in the
  delineate mode, the last delineated catchment and its outlets.
* :func:`delineate_panel` — beside the map in the delineate mode: a click is the
  outlet; DEM and snap distance; the answer (area, resolution, requested and snapped
  outlet, snap distance) with the library's warnings (too flat, too coarse), and a
  button that adds the catchment to the workspace as a layer.
* :func:`rasters_tab` — zonal statistics per site parcel, catchment unit and IWRA.

Everything from data is shown through widgets that render text (``st.dataframe``,
``st.text``) or escaped Markdown (numbers only); nothing reaches ``unsafe_allow_html``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from geo.core.errors import GeoError
from geo.maps.build import MapData
from geo.serve.accounts import Action
from ui import auth, democopy, state
from ui.i18n import _
from ui.panels import md, md_lines

__all__ = ["RasterChoice", "delineate_panel", "map_layers", "rasters_tab", "sidebar"]

#: Session-state key of the last delineation (kept across reruns and clicks).
RESULT_KEY = "delineation_result"
_LAYER_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class RasterChoice:
    """Raster layers to draw and their opacity (0–1)."""

    layers: tuple[str, ...] = ()
    opacity: float = 0.7


def _raster_ids(choice: state.Choice) -> list[str]:
    return [spec.id for spec in choice.workspace.specs.values() if spec.is_raster]


def _dem_ids(choice: state.Choice) -> list[str]:
    """Raster layers that can be DEMs (not declared categorical)."""
    return [spec.id for spec in choice.workspace.specs.values()
            if spec.is_raster and spec.raster.categorical is not True]


def sidebar(choice: state.Choice) -> RasterChoice:
    """Sidebar controls of the raster overlays (nothing when the workspace has none)."""
    ids = _raster_ids(choice)
    if not ids:
        return RasterChoice()
    ws = choice.workspace
    wkey = str(ws.root)
    default = [i for i in ids if ws.specs[i].visible]
    with st.sidebar.expander(_("Rasters"), expanded=False):
        chosen = st.multiselect(
            _("Rasters drawn"), ids, default=default, key=f"rasters:{wkey}",
            format_func=lambda lid: ws.specs[lid].title,
            help=_("Raster layers drawn under the vector layers. A large raster is sent "
                   "to the browser only around the map view, at most 1024 px a side."))
        opacity = st.slider(_("Raster opacity"), 0, 100, 70, step=5, format="%d%%",
                            key="raster_opacity",
                            help=_("The legend on the map has a slider too (no rerun)."))
    st.session_state["rasters_drawn"] = tuple(chosen)  # the "map as shown" HTML export
    return RasterChoice(layers=tuple(chosen), opacity=opacity / 100)


# --- the map ------------------------------------------------------------------------------


def _current_result(choice: state.Choice) -> dict[str, Any] | None:
    result = st.session_state.get(RESULT_KEY)
    if not result or result.get("workspace") != str(choice.workspace.root):
        return None
    return result


def _chosen_dem(choice: state.Choice) -> str | None:
    """The DEM picked in the delineate panel (its widget state), else the first DEM."""
    dems = _dem_ids(choice)
    picked = st.session_state.get(f"dem:{choice.workspace.root}")
    return picked if picked in dems else (dems[0] if dems else None)


def map_layers(choice: state.Choice, data: MapData,
               rasters: RasterChoice) -> tuple[MapData, tuple[Any, ...]]:
    """The map with the chosen rasters (and, in delineate mode, the DEM and the last result).

    In delineate mode the DEM in use is drawn too (the user sees where it has data) and
    the map is fitted to take in the last delineated catchment.  Returns the map data
    and what to add to the map's cache key.
    """
    from geo.maps.rasters import delineation_layers, with_opacity

    shown = list(rasters.layers)
    if choice.mode == "delineate":
        dem = _chosen_dem(choice)
        if dem is not None and dem not in shown:
            shown.append(dem)
    chosen, notes = state.raster_overlays(choice, data, shown)
    overlays = with_opacity(chosen, rasters.opacity, shown=shown)
    layers = list(data.layers)
    bounds = data.bounds
    result = _current_result(choice) if choice.mode == "delineate" else None
    stamp: Any = None
    if result is not None:
        drawn = delineation_layers(result["frame"], data.display_datum)
        layers += drawn
        (south, west), (north, east) = drawn[0].bounds
        (s0, w0), (n0, e0) = bounds
        bounds = ((min(south, s0), min(west, w0)), (max(north, n0), max(east, e0)))
        stamp = result["stamp"]
    updated = dataclasses.replace(data, rasters=overlays, layers=layers, bounds=bounds,
                                  notes=[*data.notes, *notes])
    return updated, (tuple(shown), rasters.opacity, stamp)


# --- delineate mode -----------------------------------------------------------------------


@st.cache_resource(show_spinner="Delineating (the first click conditions the DEM)…",
                   max_entries=16)
def _delineate(path: str, mtime: float, lon: float, lat: float,
               snap_m: float) -> gpd.GeoDataFrame:
    from geo.raster.delineate import delineate_from_click

    return delineate_from_click(path, lon, lat, snap_distance_m=snap_m)


def _click(returned: dict | None) -> tuple[float, float] | None:
    clicked = (returned or {}).get("last_clicked") or {}
    lat, lng = clicked.get("lat"), clicked.get("lng")
    if not isinstance(lat, (int, float)) or not isinstance(lng, (int, float)):
        return None
    return float(lng), float(lat)


def _to_wgs84_click(choice: state.Choice, lon: float, lat: float) -> tuple[float, float]:
    """A click on a GCJ-02 display (Amap) back to WGS84, where the DEM is."""
    from geo.maps.build import BASEMAPS

    if BASEMAPS[choice.basemap].datum.value != "gcj02":
        return lon, lat
    from geo.core.crs import gcj02_to_wgs84

    x, y = gcj02_to_wgs84(lon, lat)
    return float(x), float(y)


def delineate_panel(choice: state.Choice, returned: dict | None) -> None:
    """Beside the map in the delineate mode: outlet by click, DEM, snap distance, result."""
    st.subheader("Delineate a catchment", anchor=False)
    dems = _dem_ids(choice)
    ws = choice.workspace
    if not dems:
        st.info("This workspace has no DEM. Add an elevation GeoTIFF (metres) as a layer "
                "with `kind = \"raster\"` in layers/, then click the map here.")
        return
    dem = st.selectbox("DEM", dems, key=f"dem:{ws.root}",
                       format_func=lambda lid: ws.specs[lid].title,
                       help="Elevation raster (metres) used to route the water.")
    snap = st.number_input("Snap distance (m)", min_value=0.0, max_value=20_000.0, value=500.0,
                           step=100.0, key="snap_distance",
                           help="The outlet moves to the cell with the most upstream flow "
                                "within this distance of the click (the stream).")
    st.caption("Click the map where the catchment drains to: that point is the outlet.")
    typed = st.text_input("…or type the outlet (lon, lat)", key="outlet_text",
                          placeholder="120.95, 31.18",
                          help="WGS84 degrees, longitude first.")
    outlet = _requested_outlet(choice, returned, typed)
    result = _current_result(choice)
    pending = f"_delineate_outlet:{ws.root}"
    if outlet is not None:
        st.session_state[pending] = outlet  # kept when refused: a new snap distance retries
    elif st.session_state.get(pending) is not None:  # DEM or snap distance changed
        outlet = st.session_state[pending]
    elif result is not None:
        row = result["frame"].iloc[0]
        outlet = (float(row["requested_lon"]), float(row["requested_lat"]))
    if outlet is not None:
        lon, lat = outlet
        path = ws.source_path(ws.spec(dem))
        stamp = (dem, round(lon, 7), round(lat, 7), float(snap))
        if result is None or result["stamp"] != stamp:
            try:
                mtime = path.stat().st_mtime if path.is_file() else 0.0  # missing: says so
                frame = _delineate(str(path), mtime, lon, lat, float(snap))
            except GeoError as err:
                if st.session_state.pop(RESULT_KEY, None) is not None:
                    st.rerun()  # take the previous outlet's catchment off the map first
                st.error(md_lines(err))
                return
            st.session_state[RESULT_KEY] = {"workspace": str(ws.root), "stamp": stamp,
                                            "frame": frame, "dem": dem}
            st.rerun()  # draw the catchment on the map
    if result is None:
        return
    _show_result(choice, result)


def _requested_outlet(choice: state.Choice, returned: dict | None,
                      typed: str) -> tuple[float, float] | None:
    """The outlet asked for in this rerun: a new click or newly typed text (WGS84)."""
    requested = None
    click = _click(returned)
    if click is not None and click != st.session_state.get("_delineate_click"):
        st.session_state["_delineate_click"] = click
        requested = _to_wgs84_click(choice, *click)
    text = typed.strip()
    if text and text != st.session_state.get("_delineate_typed"):
        st.session_state["_delineate_typed"] = text
        try:
            lon, lat = (float(part) for part in text.replace(";", ",").split(","))
        except ValueError:
            st.error(f"Outlet {text!r}: type LON, LAT in degrees, e.g. 120.95, 31.18.")
            return None
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            st.error(f"Outlet {text!r} is not a WGS84 position (LON, LAT).")
            return None
        requested = (lon, lat)
    return requested


def _show_result(choice: state.Choice, result: dict[str, Any]) -> None:
    frame: gpd.GeoDataFrame = result["frame"]
    row = frame.iloc[0]
    # Numbers we computed (no text from data): safe as Markdown; metrics truncate here.
    st.markdown(f"**Area** {row['area_km2']:,.3f} km² · **DEM cell size** "
                f"{row['dem_resolution_m']:,.0f} m · **outlet moved** "
                f"{row['snap_distance_m']:,.0f} m (snap distance "
                f"{float(result['stamp'][3]):,.0f} m)")
    dem = choice.workspace.specs.get(result["dem"])
    st.text(f"Requested outlet: {row['requested_lon']:.6f}, {row['requested_lat']:.6f}\n"
            f"Snapped outlet:   {row['outlet_lon']:.6f}, {row['outlet_lat']:.6f}\n"
            f"Catchment: {int(row['cells']):,} DEM cells · relief {row['relief_m']:,.1f} m · "
            f"routed across flats {row['flat_share']:.0%}\n"
            f"DEM: {dem.title if dem is not None else result['dem']}")
    warnings = [w.strip() for w in str(row.get("warnings") or "").split(" | ") if w.strip()]
    for message in warnings:
        st.warning(message, icon="⚠️")
    if not warnings:
        st.success("The DEM resolves this catchment (enough cells and relief). It is a D8 "
                   "estimate: compare it with official catchment units before relying on it.")
    _add_layer_form(choice, frame, bool(warnings))


def _add_layer_form(choice: state.Choice, frame: gpd.GeoDataFrame, warned: bool) -> None:
    ws = choice.workspace
    st.markdown("**Add to the workspace**")
    if not democopy.writable(choice, "delineate"):
        return
    n = 1
    while f"delineated_{n}" in ws.specs:
        n += 1
    layer_id = st.text_input("Layer id", value=f"delineated_{n}", key="delineated_layer_id",
                             help="Lower-case letters, digits and _; the layer file is "
                                  "layers/<id>.toml, the data data/derived/<id>.geojson.")
    label = "Add as a catchment layer" + (" (with its warning)" if warned else "")
    if st.button(label, key="add_delineated"):
        if not _LAYER_ID_RE.match(layer_id):
            st.error(f"Layer id {layer_id!r}: use lower-case letters, digits and _, starting "
                     "with a letter.")
            return
        if layer_id in ws.specs:
            st.error(f"Layer {layer_id!r} already exists; pick another id.")
            return
        from geo.raster.delineate import add_catchment_layer

        try:
            auth.require(Action.EDIT, "adding a layer to the workspace")
            data_file, layer_file = add_catchment_layer(ws.root, layer_id, frame)
        except GeoError as err:
            st.error(md_lines(err))
            return
        st.success(f"Added layer {layer_id}: {layer_file.relative_to(ws.root)} → "
                   f"{data_file.relative_to(ws.root)}. Switch it on under Layers.")


# --- the Rasters tab ----------------------------------------------------------------------


@st.cache_resource(show_spinner="Zonal statistics…", max_entries=16)
def _zonal(key: tuple[Any, ...], _ws: Any, _target: Any) -> pd.DataFrame:
    from geo.raster.zones import site_raster_stats

    return site_raster_stats(_ws, _target)


_CONTINUOUS = ["zone_type", "name", "zone", "mean", "min", "max", "p10", "p50", "p90",
               "cells", "area_km2", "cells_rule"]
_CATEGORICAL = ["zone_type", "name", "zone", "class", "class_label", "share_pct", "area_km2",
                "cells", "cells_rule"]


def rasters_tab(choice: state.Choice, scope: Any) -> None:
    """Zonal statistics of a raster per site parcel, catchment unit and IWRA."""
    ids = _raster_ids(choice)
    if not ids:
        st.info("This workspace has no raster layer. Add a GeoTIFF (land cover, DEM, flood "
                "or water-stress grid) with `kind = \"raster\"` in layers/ to see zonal "
                "statistics here.")
        return
    ws = choice.workspace
    raster = st.selectbox("Raster", ids, key=f"zonal_raster:{ws.root}",
                          format_func=lambda lid: ws.specs[lid].title)
    target = scope if scope is not None else choice.site
    try:
        table = _zonal((choice.key, choice.site, choice.bands), ws, target)
    except GeoError as err:
        st.error(md_lines(err))
        return
    rows = table[table["raster"] == raster]
    where = ("the site's parcels, the catchment units it relies on or affects and the "
             "IWRAs screened for it" if choice.site else
             "every site parcel, catchment unit and IWRA")
    if rows.empty:
        st.info(f"{md(ws.specs[raster].title)} does not cover {where}.")
        return
    spec = ws.specs[raster]
    units = f" ({spec.raster.units})" if spec.raster.units else ""
    kind = str(rows["type"].iloc[0])
    st.caption(md(f"{spec.title}{units} over {where}. "
                  + ("Statistics of the cells whose centre lies in each zone; "
                     if kind == "continuous" else "Share of each class in each zone's area; ")
                  + "'touched': the zone is smaller than a cell, so every cell it touches "
                    "counts and the cell area overstates it."))
    columns = _CONTINUOUS if kind == "continuous" else _CATEGORICAL
    shown = rows[columns].rename(columns={"zone_type": "zone type", "class_label": "class name",
                                          "share_pct": "share %", "area_km2": "cells km²"})
    st.dataframe(shown, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.2f")
                                for c in ("mean", "min", "max", "p10", "p50", "p90", "share %",
                                          "cells km²")})
    st.download_button("Download (CSV)", table.to_csv(index=False).encode("utf-8"),
                       file_name=f"catchscope-{(choice.site or 'all-sites').lower()}-"
                                 "raster-zonal-stats.csv",
                       mime="text/csv", key="zonal_csv")
