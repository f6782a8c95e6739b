"""Baseline water stress of a site's catchment units, under the checklist (WRI Aqueduct 4.0).

The rows are the scope's (:attr:`geo.scope.assess.SiteScope.water_stress`); shown in a
table (``st.dataframe`` renders text, never markup), nothing when the units carry none.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from geo.scope.context import STRESS_SOURCE
from ui.cards import md

__all__ = ["water_stress"]

_ROLES = {"site": "the site lies in it"}


def water_stress(scope: Any) -> None:
    """A card with the water stress of the units the site lies in, relies on and affects."""
    rows = getattr(scope, "water_stress", ()) or ()
    if not rows:
        return
    with st.container(border=True, key="water_stress"):
        st.markdown("**Baseline water stress** (WRI Aqueduct 4.0)")
        st.caption(md(STRESS_SOURCE) + ".")
        table = pd.DataFrame({
            "catchment unit": [f"{u.name} ({u.fid})" for u in rows],
            "in the scope as": [_ROLES.get(u.role, u.role) for u in rows],
            "water stress": [u.label for u in rows],
            "score (0–5)": [u.score for u in rows],
        })
        st.dataframe(table, hide_index=True, width="stretch",
                     column_config={"score (0–5)": st.column_config.NumberColumn(
                         format="%.2f")})
