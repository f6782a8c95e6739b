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

from geo.webmap import MapData, localise_assets, render_map

__all__ = ["show_map"]

#: Only clicks come back: panning and zooming must not rerun the script.
RETURNED = ("last_active_drawing",)


def _st_folium_args(data: MapData, static_url: str, key: str, height: int) -> dict[str, Any]:
    """Run st_folium with its component swapped for a recorder; return the arguments."""
    captured: dict[str, Any] = {}

    def record(**kwargs: Any) -> None:
        captured.update(kwargs)

    fmap = localise_assets(render_map(data), static_url)
    original = streamlit_folium._component_func
    streamlit_folium._component_func = record
    try:
        # render=False: st_folium then renders the map once instead of twice (fresh map).
        st_folium(fmap, key=key, height=height, use_container_width=True,
                  returned_objects=list(RETURNED), render=False)
    finally:
        streamlit_folium._component_func = original
    return captured


@st.cache_resource(show_spinner=False, max_entries=32)
def _cached_args(cache_key: tuple[Any, ...], _data: MapData, static_url: str, key: str,
                 height: int) -> dict[str, Any]:
    return _st_folium_args(_data, static_url, key, height)


def show_map(data: MapData, cache_key: tuple[Any, ...], *, static_url: str, key: str,
             height: int = 680) -> dict[str, Any] | None:
    """Show the map; return what the user clicked (``last_active_drawing`` ...)."""
    if not hasattr(streamlit_folium, "_component_func"):  # another streamlit-folium
        fmap = localise_assets(render_map(data), static_url)
        return st_folium(fmap, key=key, height=height, use_container_width=True,
                         returned_objects=list(RETURNED))
    args = _cached_args(cache_key, data, static_url, key, height)
    result: dict[str, Any] | None = streamlit_folium._component_func(**args)
    return result
