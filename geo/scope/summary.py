"""The portfolio table: one summary row per site, whichever engine did the spatial work.

Every portfolio engine (:mod:`geo.scope.portfolio`'s reference, :mod:`geo.scope.columnar`,
:mod:`geo.scope.distributed`) computes the same intermediate results — parcel × unit
overlaps, mapped areas, containing catchments, IWRA counts, water chains and the units
relied on / affected — and :func:`portfolio_table` turns them into the rows, so the rows
cannot differ by engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.core.records import certificate_validity
from geo.scope.checklist import STATUSES, Evidence, score_text
from geo.scope.flows import WaterChain, metric_groups
from geo.scope.iwra import band_label
from geo.scope.scene import Scene
from geo.scope.units import UnitPair, judge_one_catchment, site_checklist

__all__ = ["NOT_ASSESSED", "PORTFOLIO_COLUMNS", "Counts", "Progress", "areas_by_site",
           "overlaps_by_site", "portfolio_table"]

Progress = Callable[[int, int, str], None]
#: IWRA counts per site: AWS reference → {column: count}.
Counts = dict[str, dict[str, int]]

#: Columns of the portfolio table; the band columns (``iwras_within_<b>km``, one per
#: band) come after ``iwras_onsite``.
PORTFOLIO_COLUMNS = ("aws_ref", "name", "certificate", "catchment_unit", "single_catchment",
                     "checklist", "present", "partial", "missing", "not_applicable", "iwras_onsite",
                     "chain_gaps", "problem")
#: The ``checklist`` value of a site that could not be assessed (``problem`` says why).
NOT_ASSESSED = "not assessed"


def overlaps_by_site(overlaps: pd.DataFrame) -> dict[str, list[Any]]:
    """The rows of :func:`geo.scope.units.parcel_unit_overlaps`, grouped by site."""
    out: dict[str, list[Any]] = {}
    # object columns: itertuples over Arrow-backed strings is slow
    for pair in overlaps.astype(object).itertuples(index=False):
        out.setdefault(str(pair.aws_ref), []).append(pair)
    return out


def areas_by_site(parcels: gpd.GeoDataFrame) -> dict[str, float]:
    """Mapped area of each site (union of its parcels, m²), per UTM zone at once."""
    if parcels.empty:
        return {}
    out: dict[str, float] = {}
    for mask, metric in metric_groups(parcels):
        group = parcels[mask]
        geoms = np.asarray(group.geometry.to_crs(metric).values)
        # what GeoDataFrame.dissolve does (a union per site, parcels in layer order),
        # without pandas' per-group overhead
        codes, refs = pd.factorize(group["aws_ref"].astype(str).to_numpy(), sort=True)
        order = np.argsort(codes, kind="stable")
        parts = np.split(geoms[order], np.cumsum(np.bincount(codes))[:-1])
        out.update({str(ref): float(shapely.area(shapely.union_all(p)))
                    for ref, p in zip(refs, parts, strict=True)})
    return out


def portfolio_table(scene: Scene, refs: Sequence[str], *, overlaps: dict[str, list[Any]],
                    areas: dict[str, float], containing: dict[str, list[Evidence]],
                    counts: Counts | Callable[[], Counts], chains: dict[str, WaterChain],
                    failed: dict[str, str], units: dict[str, UnitPair]) -> pd.DataFrame:
    """One row per site from the engine's intermediate results (see the module docstring).

    ``counts`` (the IWRA columns per site) may be a function giving them: it is called
    once the other columns are built, so an engine can still be counting meanwhile.  An
    engine that reads a layer only in part still gives the scene a frame with every row
    of its catchment units (geometry only where read), so ``scene.units`` and
    ``scene.level_units`` say whether there are units at all.
    """
    ws = scene.workspace
    rows = []
    has_units = not scene.level_units.empty
    band_columns = [band_label(b) for b in scene.bands_km]
    for ref in refs:
        one = judge_one_catchment(overlaps.get(ref, []), scene.level, has_units)
        row: dict[str, Any] = {
            "aws_ref": ref, "name": scene.site_names[ref],
            "certificate": (certificate_validity(ws.records[ref]).short
                            if ref in ws.records else "no record"),
            "catchment_unit": ", ".join(one.unit_names),
            "single_catchment": "yes" if one.ok else "no",
        }
        if ref in failed:
            rows.append({**row, "checklist": NOT_ASSESSED,
                         "problem": f"could not be assessed: {failed[ref]}"})
            continue
        relied_on, affected = units[ref]
        checklist = site_checklist(scene, ref, ws.records.get(ref), areas.get(ref, 0.0),
                                   chains[ref], relied_on, affected, one,
                                   containing.get(ref, []))
        statuses = [c.status for c in checklist]
        rows.append({
            **row,
            "checklist": score_text(statuses),
            **{s.replace(" ", "_"): statuses.count(s) for s in STATUSES},
            "chain_gaps": len(chains[ref].gaps),
            "problem": "" if ref in areas else "no parcels mapped",
        })
    columns = [*PORTFOLIO_COLUMNS[:11], *band_columns, *PORTFOLIO_COLUMNS[11:]]
    per_site = counts() if callable(counts) else counts
    for row in rows:
        row.update(per_site[row["aws_ref"]])
    table = pd.DataFrame(rows, columns=columns)
    counted = ["present", "partial", "missing", "not_applicable", "chain_gaps"]
    table[counted] = table[counted].astype("Int64")  # empty (not 0) where not assessed
    return table
