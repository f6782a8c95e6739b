"""Context a scope carries beside the checklist: baseline water stress of its catchment units.

Catchment units imported from HydroBASINS can carry WRI Aqueduct 4.0 baseline water
stress (``bws_score`` 0–5, ``bws_label``, joined by Pfafstetter code at import).
:func:`water_stress_notes` says, for one site, how stressed the unit it lies in is and
the most stressed unit it relies on and affects — one line each, for the scope's notes
(terminal, Markdown, JSON).  Units without those columns (the demo's) add nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["water_stress_notes"]

_SOURCE = "WRI Aqueduct 4.0, baseline annual"


def _stress(units: pd.DataFrame) -> dict[str, tuple[float | None, str]]:
    if "bws_label" not in units.columns:
        return {}
    scores = pd.to_numeric(units.get("bws_score"), errors="coerce") \
        if "bws_score" in units.columns else pd.Series(float("nan"), index=units.index)
    out: dict[str, tuple[float | None, str]] = {}
    for fid, label, score in zip(units["fid"].astype(str), units["bws_label"], scores,
                                 strict=True):
        if label is None or pd.isna(label) or not str(label).strip():
            continue
        out[fid] = (None if pd.isna(score) else float(score), str(label))
    return out


def _describe(fid: str, name: str, value: tuple[float | None, str]) -> str:
    score, label = value
    return f"{name} ({fid}): {label}" + (f", score {score:.2f}/5" if score is not None else "")


def water_stress_notes(units: pd.DataFrame, site_units: Sequence[str],
                       relied_on: Sequence[Any], affected: Sequence[Any]) -> list[str]:
    """Lines on the water stress of the site's unit and its most stressed relied-on / affected.

    Parameters
    ----------
    units : DataFrame
        The workspace's catchment units (``fid``, ``name``, optional ``bws_score`` /
        ``bws_label``).
    site_units : sequence of str
        Fids of the unit(s) the site's parcels lie in.
    relied_on, affected : sequence of ScopeUnit
        The units the site relies on and affects (``fid``, ``name``).

    Returns
    -------
    list of str
        Empty when the units carry no water stress.
    """
    stress = _stress(units)
    if not stress:
        return []
    names = dict(zip(units["fid"].astype(str), units["name"].astype(str), strict=True))
    lines = []
    here = [f for f in site_units if f in stress]
    if here:
        lines.append(f"Baseline water stress ({_SOURCE}) where the site lies: "
                     + "; ".join(_describe(f, names.get(f, f), stress[f]) for f in here) + ".")
    for label, group in (("relied on", relied_on), ("affected", affected)):
        scored = [(stress[u.fid], u) for u in group if u.fid in stress]
        if not scored:
            continue
        worst = max(scored, key=lambda item: -1.0 if item[0][0] is None else item[0][0])
        lines.append(f"Most water-stressed unit {label} ({len(scored)} of {len(group)} with "
                     f"Aqueduct data): {_describe(worst[1].fid, worst[1].name, worst[0])}.")
    return lines
