"""The portfolio view: one summary row per site of a workspace (``catchscope scope --all``).

:func:`assess_all` does the heavy spatial work once for all sites — parcels × catchment
units, sites × IWRAs, inference of links — vectorised with one STRtree query per UTM
zone, not by looping over sites; only the small graph walks of each site's water chain
run site by site.  A site that cannot be assessed gets its row with the reason in
``problem``; it does not stop the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.core.errors import GeoError
from geo.core.records import certificate_validity
from geo.core.workspace import Workspace
from geo.scope.checklist import STATUSES, score_text
from geo.scope.flows import WaterChain, metric_groups, water_chain
from geo.scope.iwra import band_label, count_iwras
from geo.scope.scene import containing_catchments, load_scene, open_ws
from geo.scope.units import (
    judge_one_catchment,
    parcel_unit_overlaps,
    relied_on_affected,
    site_checklist,
)

__all__ = ["NOT_ASSESSED", "PORTFOLIO_COLUMNS", "Progress", "assess_all"]

Progress = Callable[[int, int, str], None]


#: Columns of :func:`assess_all`'s table; the band columns (``iwras_within_<b>km``,
#: one per band) come after ``iwras_onsite``.
PORTFOLIO_COLUMNS = ("aws_ref", "name", "certificate", "catchment_unit", "single_catchment",
                     "checklist", "present", "partial", "missing", "not_applicable", "iwras_onsite",
                     "chain_gaps", "problem")
#: The ``checklist`` value of a site that could not be assessed (``problem`` says why).
NOT_ASSESSED = "not assessed"


def assess_all(
    workspace: Workspace | str | Path | None,
    *,
    bands_km: Iterable[float] | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """One summary row per site of the workspace (the portfolio view).

    The spatial work — parcels × catchment units, sites × IWRAs — runs once for all sites
    (vectorised, one STRtree query per UTM zone); only the small per-site graph walks of
    the water chain run site by site.  A site whose own data is broken (e.g. its
    ``flows_to`` links go round in a cycle) gets a row with ``checklist`` =
    :data:`NOT_ASSESSED` and the message in ``problem``; the other sites are assessed.

    Parameters
    ----------
    workspace : Workspace or path or None
        As for :func:`geo.scope.assess.assess_site`.
    bands_km : iterable of float, optional
        Proximity bands; default the workspace's.
    progress : callable, optional
        Called as ``progress(done, total, message)`` while sites are assessed.

    Returns
    -------
    DataFrame
        :data:`PORTFOLIO_COLUMNS` with one ``iwras_within_<b>km`` column per band:
        ``single_catchment`` "yes"/"no", ``checklist`` the score in words
        ("1/5 present (4 partial, 1 not applicable)"), the status counts, IWRA counts
        (on-site; within each band, cumulative), ``chain_gaps`` and ``problem`` (empty,
        "no parcels mapped", or why the site could not be assessed).

    Raises
    ------
    GeoError
        Only for problems of the whole workspace (bad bands, a cycle in the catchment
        units' ``next_down`` links), which no site could be assessed without.
    """
    ws = open_ws(workspace)
    scene = load_scene(ws, bands_km, None)
    refs = sorted(scene.site_names)
    total = len(refs) + 3

    def tick(done: int, message: str) -> None:
        if progress is not None:
            progress(done, total, message)

    tick(0, "catchment units")
    located = scene.parcels[scene.parcels["aws_ref"].notna()]
    overlaps: dict[str, list[Any]] = {}
    for pair in parcel_unit_overlaps(located, scene.level_units).itertuples(index=False):
        overlaps.setdefault(str(pair.aws_ref), []).append(pair)
    areas = _areas_by_site(located)
    containing = containing_catchments(scene, located)
    tick(1, "IWRAs")
    counts = count_iwras(located, scene.iwras, bands_km=scene.bands_km,
                         onsite_tolerance_m=scene.onsite_tolerance_m,
                         site_refs=refs).to_dict(orient="index")
    tick(2, "water chains")
    # Inference for every feature that may need it, in one vectorised join, not per site.
    graph = scene.graph
    graph.nearest_water_bodies([
        fid for fid, info in graph.info.items()
        if info.kind in ("water_source", "discharge_point", "facility", "pipe")
        and (fid not in graph.out_edges or fid not in graph.in_edges)])
    chains: dict[str, WaterChain] = {}
    failed: dict[str, str] = {}
    for k, ref in enumerate(refs):
        try:
            chains[ref] = water_chain(graph, ref)
        except GeoError as err:  # this site's links are broken; the others go on
            failed[ref] = str(err)
        tick(3 + k, ref)
    units = relied_on_affected(scene, chains, walk=False)
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
            **counts[ref],
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
    tick(total, "done")
    columns = [*PORTFOLIO_COLUMNS[:11], *band_columns, *PORTFOLIO_COLUMNS[11:]]
    table = pd.DataFrame(rows, columns=columns)
    counted = ["present", "partial", "missing", "not_applicable", "chain_gaps"]
    table[counted] = table[counted].astype("Int64")  # empty (not 0) where not assessed
    return table


def _areas_by_site(parcels: gpd.GeoDataFrame) -> dict[str, float]:
    """Mapped area of each site (union of its parcels, m²), per UTM zone at once."""
    if parcels.empty:
        return {}
    out: dict[str, float] = {}
    for mask, metric in metric_groups(parcels):
        group = parcels[mask]
        projected = gpd.GeoDataFrame({"aws_ref": group["aws_ref"].astype(str).to_numpy()},
                                     geometry=group.geometry.to_crs(metric).to_numpy(),
                                     crs=metric)
        dissolved = projected.dissolve("aws_ref")
        out.update({str(k): float(v) for k, v in dissolved.area.items()})
    return out
