"""The portfolio view: one summary row per site of a workspace (``catchscope scope --all``).

:func:`assess_all` does the heavy spatial work once for all sites — parcels × catchment
units, sites × IWRAs, inference of links — vectorised, not by looping over sites.  A site
that cannot be assessed gets its row with the reason in ``problem``; it does not stop the
others.  Three engines give the same rows (tests compare them row by row):

``columnar`` (default)
    :mod:`geo.scope.columnar`: GeoParquet layers read by bbox and row group, IWRA counts
    in bounded memory, each unit's way to its sink walked once for all chains.
``dask``
    :mod:`geo.scope.distributed`: the same, with the reads and joins over partitioned
    GeoParquet spread over a dask.distributed cluster.
``reference``
    Here: every layer loaded whole, one water chain walk per site through every unit.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from geo.core.errors import GeoError, ScopeError
from geo.core.workspace import Workspace
from geo.scope.flows import WaterChain, water_chain
from geo.scope.iwra import count_iwras
from geo.scope.scene import containing_catchments, load_scene, open_ws
from geo.scope.summary import (
    NOT_ASSESSED,
    PORTFOLIO_COLUMNS,
    Progress,
    areas_by_site,
    overlaps_by_site,
    portfolio_table,
)
from geo.scope.units import parcel_unit_overlaps, relied_on_affected

__all__ = ["ENGINES", "NOT_ASSESSED", "PORTFOLIO_COLUMNS", "Progress", "assess_all"]

#: The portfolio engines, the default first.
ENGINES = ("columnar", "dask", "reference")


def assess_all(
    workspace: Workspace | str | Path | None,
    *,
    bands_km: Iterable[float] | None = None,
    progress: Progress | None = None,
    engine: str = "columnar",
    scheduler: str | None = None,
) -> pd.DataFrame:
    """One summary row per site of the workspace (the portfolio view).

    The spatial work — parcels × catchment units, sites × IWRAs — runs once for all sites
    (vectorised), and so do the walks along the catchment units.  A site whose own data
    is broken (e.g. its ``flows_to`` links go round in a cycle) gets a row with
    ``checklist`` = :data:`NOT_ASSESSED` and the message in ``problem``; the other sites
    are assessed.

    Parameters
    ----------
    workspace : Workspace or path or None
        As for :func:`geo.scope.assess.assess_site`.
    bands_km : iterable of float, optional
        Proximity bands; default the workspace's.
    progress : callable, optional
        Called as ``progress(done, total, message)`` while sites are assessed.
    engine : str
        One of :data:`ENGINES` (see the module docstring); all give the same rows.
    scheduler : str, optional
        With ``engine="dask"``: the address of a dask.distributed scheduler
        (``tcp://host:8786``); None starts a local cluster for the run.

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
        units' ``next_down`` links, an unknown engine, a scheduler that cannot be
        reached), which no site could be assessed without.
    """
    if engine not in ENGINES:
        raise ScopeError(f"Unknown portfolio engine {engine!r}; use one of "
                         f"{', '.join(ENGINES)} (all give the same rows).")
    if scheduler is not None and engine != "dask":
        raise ScopeError("A scheduler address is for the dask engine: add --engine dask.")
    ws = open_ws(workspace)
    if engine == "columnar":
        from geo.scope.columnar import assess_portfolio

        return assess_portfolio(ws, bands_km=bands_km, progress=progress)
    if engine == "dask":
        from geo.scope.distributed import assess_portfolio_dask

        return assess_portfolio_dask(ws, bands_km=bands_km, progress=progress,
                                     scheduler=scheduler)
    return _assess_reference(ws, bands_km, progress)


def _assess_reference(ws: Workspace, bands_km: Iterable[float] | None,
                      progress: Progress | None) -> pd.DataFrame:
    """The reference engine: every layer whole, one chain walk per site."""
    scene = load_scene(ws, bands_km, None)
    refs = sorted(scene.site_names)
    total = len(refs) + 3

    def tick(done: int, message: str) -> None:
        if progress is not None:
            progress(done, total, message)

    tick(0, "catchment units")
    located = scene.parcels[scene.parcels["aws_ref"].notna()]
    overlaps = overlaps_by_site(parcel_unit_overlaps(located, scene.level_units))
    areas = areas_by_site(located)
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
    table = portfolio_table(scene, refs, overlaps=overlaps, areas=areas, containing=containing,
                            counts=counts, chains=chains, failed=failed, units=units)
    tick(total, "done")
    return table
