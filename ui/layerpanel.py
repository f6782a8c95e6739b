"""The one layer switcher: which layers the map draws, in what order, how opaque.

The map has no Leaflet layer control of its own in the app (the standalone export keeps
one): a layer switched here is switched in the URL and the exports' choice too, so the
two can never disagree.  The list reads top to bottom as the map stacks the layers (the
top one drawn last), as in a GIS; each row has a checkbox and a menu with the layer's
opacity and its place in the order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st

from geo.core.workspace import Workspace
from ui.i18n import _
from ui.panels import md

__all__ = ["LayerView", "layer_panel"]


@dataclass(frozen=True)
class LayerView:
    """What the panel says: layers drawn (bottom first), opacities changed, chain, pins."""

    layers: tuple[str, ...]
    opacity: tuple[tuple[str, int], ...]
    chain: bool
    pins: bool


def _order_key(wkey: str) -> str:
    return f"layer_order:{wkey}"


def _move(wkey: str, layer_id: str, step: int) -> None:
    """Move a layer up (``step=-1``, towards the top of the list) or down."""
    order: list[str] = st.session_state[_order_key(wkey)]
    index = order.index(layer_id)
    target = min(max(index + step, 0), len(order) - 1)
    order.insert(target, order.pop(index))


def layer_panel(ws: Workspace, wkey: str, layer_ids: Sequence[str],
                shown: Sequence[str]) -> LayerView:
    """Draw the switcher in the current container; return what it says.

    ``layer_ids`` are in the catalogue's order, which is the drawing order (the first at
    the bottom); ``shown`` is what a fresh session starts with (the URL's layers or the
    catalogue's visible ones).  A layer added since (Add data) comes in on top.
    """
    order_key = _order_key(wkey)
    order: list[str] = st.session_state.setdefault(order_key, list(reversed(layer_ids)))
    order[:] = [lid for lid in reversed(layer_ids) if lid not in order] + \
        [lid for lid in order if lid in layer_ids]
    initial = set(shown)
    drawn = [layer_id for layer_id in order
             if st.checkbox(md(ws.specs[layer_id].title), value=layer_id in initial,
                            key=f"show:{wkey}:{layer_id}",
                            help=md(ws.specs[layer_id].description)
                            if ws.specs[layer_id].description else None)]
    kept: dict[str, int] = st.session_state.setdefault(f"opacities:{wkey}", {})
    if not order:
        st.caption(_("This workspace has no vector layers yet (Add data adds one)."))
        return LayerView(layers=(), opacity=(), chain=True, pins=True)
    with st.popover(_("Opacity and order"), icon=":material/tune:", width="stretch",
                    key=f"style_menu:{wkey}"):
        layer_id = st.selectbox(_("Layer to style"), order, key=f"style_layer:{wkey}",
                                format_func=lambda lid: ws.specs[lid].title)
        position = order.index(layer_id)
        widget = f"opacity:{wkey}:{layer_id}"
        st.slider(_("Opacity"), 0, 100, kept.get(layer_id, 100), step=5, format="%d %%",
                  key=widget, on_change=lambda: kept.__setitem__(
                      layer_id, int(st.session_state[widget])))
        up, down = st.columns(2)
        up.button(_("Move up"), key=f"up:{wkey}", disabled=position == 0, on_click=_move,
                  args=(wkey, layer_id, -1), width="stretch", icon=":material/arrow_upward:")
        down.button(_("Move down"), key=f"down:{wkey}", disabled=position == len(order) - 1,
                    on_click=_move, args=(wkey, layer_id, 1), width="stretch",
                    icon=":material/arrow_downward:")
    opacity = [(lid, kept[lid]) for lid in order if kept.get(lid, 100) != 100]
    chain = st.checkbox(_("Water chain (direction of flow)"), value=True, key=f"chain:{wkey}")
    pins = st.checkbox(_("Site location (AWS reference)"), value=True, key=f"pins:{wkey}")
    return LayerView(layers=tuple(reversed(drawn)), opacity=tuple(opacity), chain=chain,
                     pins=pins)
