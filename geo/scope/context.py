"""Context a scope carries beside the checklist: baseline water stress of its catchment units.

Catchment units imported from HydroBASINS can carry WRI Aqueduct 4.0 baseline water
stress (``bws_score`` 0–5, ``bws_cat``, ``bws_label``, joined by Pfafstetter code at
import).  :func:`water_stress_rows` gives one :class:`UnitStress` per unit the site lies
in, relies on or affects (the scope's table: terminal, Markdown, JSON, the app, the map
legend); :func:`water_stress_notes` says in one line each how stressed the site's unit is
and the most stressed unit it relies on and affects.  Units without those columns (the
demo's) add nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["STRESS_SOURCE", "UnitStress", "water_stress_notes", "water_stress_rows"]

_SOURCE = "WRI Aqueduct 4.0, baseline annual"
#: Where the water stress of the units comes from (said with every table of it).
STRESS_SOURCE = (f"{_SOURCE} water stress (bws: demand over renewable supply), joined to the "
                 "catchment units by Pfafstetter code")


@dataclass(frozen=True)
class UnitStress:
    """Baseline water stress of one catchment unit of a site's scope.

    ``role`` is how the unit belongs to the scope: "site" (the site lies in it),
    "relied on", "affected" or "relied on and affected"; ``category`` is Aqueduct's
    ``bws_cat`` (0 low … 4 extremely high, -1 arid and low water use), None if absent.
    """

    fid: str
    name: str
    role: str
    label: str
    score: float | None = None
    category: int | None = None

    def text(self) -> str:
        """``High (40-80%), score 3.40/5``."""
        return self.label + (f", score {self.score:.2f}/5" if self.score is not None else "")


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


def water_stress_rows(units: pd.DataFrame, site_units: Sequence[str],
                      relied_on: Sequence[Any], affected: Sequence[Any]) -> tuple[UnitStress, ...]:
    """The water stress of every unit of the scope that has it: the site's first.

    Parameters are those of :func:`water_stress_notes`.  Units are listed once, the
    site's units first, then relied on, then affected (walk order); empty when the units
    carry no water stress.
    """
    stress = _stress(units)
    if not stress:
        return ()
    names = dict(zip(units["fid"].astype(str), units["name"].astype(str), strict=True))
    cats: dict[str, int] = {}
    if "bws_cat" in units.columns:
        values = pd.to_numeric(units["bws_cat"], errors="coerce")
        cats = {str(f): int(v) for f, v in zip(units["fid"], values, strict=True)
                if pd.notna(v)}
    relied = {u.fid for u in relied_on}
    hit = {u.fid for u in affected}
    order = [*site_units, *(u.fid for u in relied_on), *(u.fid for u in affected)]
    rows = []
    for fid in dict.fromkeys(order):
        if fid not in stress:
            continue
        role = ("site" if fid in site_units else "relied on and affected"
                if fid in relied and fid in hit else "relied on" if fid in relied
                else "affected")
        score, label = stress[fid]
        rows.append(UnitStress(fid, names.get(fid, fid), role, label, score, cats.get(fid)))
    return tuple(rows)


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
