"""The map component: st_folium, with its (expensive) rendering cached per map.

st_folium renders the whole folium figure on every rerun (Jinja templates over the
GeoJSON: ~0.3–0.5 s for a demo site).  A click on a feature reruns the script with the
same map, so we capture the arguments st_folium hands to its frontend component once
per prepared map and replay them; the browser sees exactly what st_folium would send.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
import streamlit_folium
from streamlit_folium import st_folium

from geo.maps.build import MapData, localise_assets, render_map

__all__ = ["show_map"]

#: What st_folium sends back, per map mode (``ui.state.MAP_MODES``).  Only clicks come
#: back: panning and zooming must not rerun the script.
RETURNED: dict[str, tuple[str, ...]] = {
    "inspect": ("last_active_drawing",),
    "edit": ("last_active_drawing", "all_drawings"),
    "delineate": ("last_clicked",),
}


def _folium_map(data: MapData, static_url: str, mode: str) -> Any:
    """The folium map of ``data`` for a map mode (tools added per mode)."""
    fmap = render_map(data, layer_control=False)  # the sidebar switches layers
    if mode == "edit":
        from ui.edit import add_draw_control, editable_geometry

        add_draw_control(fmap, static_url, editable=editable_geometry())
    return localise_assets(fmap, static_url)


def _st_folium_args(data: MapData, static_url: str, key: str, height: int,
                    mode: str) -> dict[str, Any]:
    """Run st_folium with its component swapped for a recorder; return the arguments."""
    captured: dict[str, Any] = {}

    def record(**kwargs: Any) -> None:
        captured.update(kwargs)

    fmap = _folium_map(data, static_url, mode)
    original = streamlit_folium._component_func
    streamlit_folium._component_func = record
    try:
        # render=False: st_folium then renders the map once instead of twice (fresh map).
        st_folium(fmap, key=key, height=height, use_container_width=True,
                  returned_objects=list(RETURNED[mode]), render=False)
    finally:
        streamlit_folium._component_func = original
    return captured


@st.cache_resource(show_spinner=False, max_entries=32)
def _cached_args(cache_key: tuple[Any, ...], _data: MapData, static_url: str, key: str,
                 height: int, mode: str) -> dict[str, Any]:
    return _st_folium_args(_data, static_url, key, height, mode)


def show_map(data: MapData, cache_key: tuple[Any, ...], *, static_url: str, key: str,
             height: int = 680, mode: str = "inspect") -> dict[str, Any] | None:
    """Show the map; return what the user clicked or drew (see :data:`RETURNED`)."""
    if not hasattr(streamlit_folium, "_component_func"):  # another streamlit-folium
        return st_folium(_folium_map(data, static_url, mode), key=key, height=height,
                         use_container_width=True, returned_objects=list(RETURNED[mode]))
    if mode == "edit":  # the selected feature sits under the Draw toolbar's edit tool
        from ui.edit import editing_key

        cache_key = (*cache_key, editing_key())
    args = _cached_args(cache_key, data, static_url, key, height, mode)
    result: dict[str, Any] | None = streamlit_folium._component_func(**args)
    return result
