"""Scope questions answered with catchment units: 0.1.1.1 and the units relied on / affected.

* :func:`parcel_unit_overlaps` and :func:`judge_one_catchment` — do all of a site's
  parcels fall in one catchment unit of the workspace's declared level (AWS 0.1.1.1),
  with the overlap area of every parcel × unit (m², in the UTM zone of the parcels);
* :func:`relied_on_affected` — the units a site relies on (containing and upstream of
  its water sources and its provider's intakes, wherever they are, even in another
  basin) and affects (containing and downstream of its discharge points and receiving
  water bodies), walking the units' ``next_down`` links (no DEM needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.ops import substring

from geo.core.basis import Basis
from geo.core.records import SiteRecord
from geo.scope.checklist import ChecklistFacts, ElementCheck, Evidence, build_checklist
from geo.scope.flows import (
    WATER_BODY_KINDS,
    ChainNode,
    WaterChain,
    metric_groups,
    units_intersecting,
)
from geo.scope.scene import Scene

__all__ = [
    "OneCatchment",
    "ParcelOverlap",
    "ScopeUnit",
    "UnitPair",
    "chain_contacts",
    "judge_one_catchment",
    "parcel_unit_overlaps",
    "relied_on_affected",
    "site_checklist",
]

_MIN_OVERLAP_M2 = 1.0  # below this an intersection is a numerical sliver, not a straddle
_UNCOVERED_SHARE = 0.01  # more of a parcel than this outside every unit: not judged


@dataclass(frozen=True)
class ParcelOverlap:
    """How much of a parcel lies in one catchment unit (m², in a metric CRS)."""

    parcel_fid: str
    parcel_name: str
    unit_fid: str
    unit_name: str
    area_m2: float
    share: float


@dataclass(frozen=True)
class OneCatchment:
    """Indicator 0.1.1.1: whether all the site's parcels lie in one catchment unit."""

    ok: bool
    level: str
    units: tuple[str, ...]
    unit_names: tuple[str, ...]
    overlaps: tuple[ParcelOverlap, ...]
    message: str


@dataclass(frozen=True)
class ScopeUnit:
    """A catchment unit the site relies on or affects, and why it is in."""

    fid: str
    name: str
    level: str
    why: str
    steps: int = 0
    #: What its being relied on / affected rests on (:mod:`geo.scope.evidence`).
    basis: Basis | None = None



# --- 0.1.1.1: one catchment -------------------------------------------------------------


def parcel_unit_overlaps(parcels: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> pd.DataFrame:
    """Area of every parcel inside every catchment unit it meets, for many sites at once.

    Parameters
    ----------
    parcels : GeoDataFrame
        Site parcels (EPSG:4326) with ``aws_ref``, ``fid``, ``name``.
    units : GeoDataFrame
        Catchment units (EPSG:4326) with ``fid``, ``name``.

    Returns
    -------
    DataFrame
        ``aws_ref, parcel_fid, parcel_name, parcel_area_m2, unit_fid, unit_name, area_m2``:
        one row per parcel × unit with an overlap of at least 1 m², plus one row with
        ``unit_fid`` None for each parcel that meets no unit.  Areas in m², measured in
        the metric CRS of each site group's UTM zone.
    """
    columns = ["aws_ref", "parcel_fid", "parcel_name", "parcel_area_m2", "unit_fid",
               "unit_name", "area_m2"]
    if parcels.empty:
        return pd.DataFrame(columns=columns)
    parcels = parcels.reset_index(drop=True)
    units = units.reset_index(drop=True)
    parts = []
    for mask, metric in metric_groups(parcels):
        group = parcels[mask]
        parcel_m = np.asarray(group.geometry.to_crs(metric).values)
        parcel_area = shapely.area(parcel_m)
        if units.empty:
            p_idx = np.array([], dtype=np.int64)
            u_idx = np.array([], dtype=np.int64)
        else:
            # sorted: the units of a parcel in the layer's order, however the tree is built
            p_idx, u_idx = units.sindex.query(np.asarray(group.geometry.values),
                                              predicate="intersects", sort=True)
        needed = np.unique(u_idx)
        unit_m = np.empty(len(units), dtype=object)
        if len(needed):
            unit_m[needed] = np.asarray(units.geometry.iloc[needed].to_crs(metric).values)
        area = shapely.area(shapely.intersection(parcel_m[p_idx], unit_m[u_idx])) if len(
            p_idx) else np.array([])
        keep = area >= _MIN_OVERLAP_M2
        p_idx, u_idx, area = p_idx[keep], u_idx[keep], area[keep]
        lonely = np.setdiff1d(np.arange(len(group)), p_idx)
        rows = np.concatenate([p_idx, lonely])
        parts.append(pd.DataFrame({
            "aws_ref": group["aws_ref"].astype(str).to_numpy()[rows],
            "parcel_fid": group["fid"].astype(str).to_numpy()[rows],
            "parcel_name": group["name"].astype(str).to_numpy()[rows],
            "parcel_area_m2": parcel_area[rows],
            # the pairs' units only: a million units are not all converted per zone
            "unit_fid": np.concatenate([units["fid"].iloc[u_idx].astype(str).to_numpy(),
                                        np.full(len(lonely), None, dtype=object)]),
            "unit_name": np.concatenate([units["name"].iloc[u_idx].astype(str).to_numpy(),
                                         np.full(len(lonely), None, dtype=object)]),
            "area_m2": np.concatenate([area, np.zeros(len(lonely))]),
        }))
    return pd.concat(parts, ignore_index=True)[columns]


def judge_one_catchment(rows: Sequence[Any], level: str, has_units: bool) -> OneCatchment:
    """Judge 0.1.1.1 for one site: do all its parcels lie in one catchment unit.

    Parameters
    ----------
    rows : sequence of named tuples
        The site's rows of :func:`parcel_unit_overlaps` (``itertuples``).
    level : str
        The workspace's declared catchment level (named in the message).
    has_units : bool
        Whether the workspace has catchment units at all.

    Returns
    -------
    OneCatchment
        ``ok``, the units and their names, per-parcel overlaps (m², share of the parcel)
        and a message saying which parcels straddle or lie outside every unit.
    """
    if not has_units:
        return OneCatchment(False, level, (), (), (), (
            "No catchment units in the workspace, so 0.1.1.1 cannot be checked: add a layer "
            "of kind 'catchment_unit' (with next_down and level) covering the site."))
    placed = [r for r in rows if r.unit_fid is not None and not pd.isna(r.unit_fid)]
    units = dict.fromkeys((str(r.unit_fid), str(r.unit_name)) for r in placed)
    records = tuple(
        ParcelOverlap(str(r.parcel_fid), str(r.parcel_name), str(r.unit_fid), str(r.unit_name),
                      round(float(r.area_m2), 1),
                      round(float(r.area_m2) / float(r.parcel_area_m2), 4)
                      if r.parcel_area_m2 else 0.0)
        for r in placed)
    lonely = [str(r.parcel_fid) for r in rows if r.unit_fid is None or pd.isna(r.unit_fid)]
    # A parcel only partly covered by units: its outer part lies in no known catchment.
    covered: dict[str, float] = {}
    for o in records:
        covered[o.parcel_fid] = covered.get(o.parcel_fid, 0.0) + o.share
    partly = {fid: share for fid, share in covered.items() if share < 1.0 - _UNCOVERED_SHARE}
    names = tuple(name for _, name in units)
    ok = len(units) == 1 and not lonely and not partly
    if ok:
        message = f"All parcels lie in one catchment unit at level {level!r}: {names[0]}."
    elif len(units) == 1 and partly:
        message = f"The mapped part of the parcels lies in one catchment unit: {names[0]}."
    elif len(units) > 1:
        per_parcel: dict[str, set[str]] = {}
        for r in placed:
            per_parcel.setdefault(str(r.parcel_fid), set()).add(str(r.unit_fid))
        straddling = [fid for fid, seen in per_parcel.items() if len(seen) > 1]
        message = (f"The parcels fall in {len(units)} catchment units at level {level!r} "
                   f"({', '.join(names)})"
                   + (f"; parcel(s) {', '.join(straddling)} straddle a boundary"
                      if straddling else "")
                   + ". AWS 0.1.1.1 needs one catchment or an exception granted by AWS.")
    else:
        message = ""
    if lonely:
        message += (f" Parcel(s) {', '.join(lonely)} lie in no catchment unit at level "
                    f"{level!r}: extend the units to cover them.")
    if partly:
        outside = ", ".join(f"{fid} ({1 - share:.0%})" for fid, share in partly.items())
        message += (f" Part of parcel(s) {outside} lies outside every catchment unit at level "
                    f"{level!r}, so 0.1.1.1 cannot be confirmed: extend the units to cover "
                    "the whole site.")
    return OneCatchment(ok, level, tuple(fid for fid, _ in units), names, records,
                        message.strip())


# --- relied on / affected ---------------------------------------------------------------


def _seed_geometries(scene: Scene, chain: WaterChain) -> list[tuple[str, str, Any]]:
    """(side, fid, geometry) of each seed: water sources / intakes; discharges / receivers.

    A river reached from upstream is seeded by the point where the water enters it, so
    the reaches upstream of the confluence are not counted as affected.
    """
    graph = scene.graph
    seeds: list[tuple[str, str, Any]] = []
    predecessor: dict[str, str] = {}
    for edge in chain.edges:
        predecessor.setdefault(edge.target, edge.source)
    back = {n.fid for n in chain.returns()}  # source water bodies the discharge goes into
    for node in chain.nodes:
        geom = graph.geometry(node.fid)
        if geom is None:
            continue
        if node.side == "supply" and node.kind == "water_source":
            seeds.append(("relied", node.fid, geom))
        if (node.side == "discharge" or node.fid in back) and node.kind in (
                "discharge_point", *WATER_BODY_KINDS):
            prev = graph.geometry(predecessor.get(node.fid, ""))
            if node.kind == "river" and prev is not None:
                geom = shapely.get_point(shapely.shortest_line(prev, geom), 1)
            seeds.append(("affected", node.fid, geom))
    return seeds


UnitPair = tuple[tuple[ScopeUnit, ...], tuple[ScopeUnit, ...]]


def relied_on_affected(scene: Scene, chains: dict[str, WaterChain], *,
                       walk: bool = True) -> dict[str, UnitPair]:
    """Relied-on and affected units of each site, seeds located in one spatial query.

    Seeds are the chain's water sources and intakes (relied on) and its discharge points
    and receiving water bodies (affected), wherever they lie — an intake in another basin
    brings that basin's unit in.

    Parameters
    ----------
    scene : Scene
        The loaded workspace (units of the declared level, the unit network).
    chains : dict
        AWS reference → the site's :class:`~geo.scope.flows.WaterChain`.
    walk : bool
        With False only the units containing the seeds are returned (enough for the
        portfolio's checklist); with True the walks up and down ``next_down`` are added.

    Returns
    -------
    dict
        AWS reference → (relied-on units, affected units), each unit once with why it is
        in; affected units ordered from the site towards the sink.
    """
    network = scene.graph.network
    out: dict[str, UnitPair] = {ref: ((), ()) for ref in chains}
    if network is None or scene.level_units.empty:
        return out
    seeds = [(ref, *seed) for ref, chain in chains.items()
             for seed in _seed_geometries(scene, chain)]
    pairs = units_intersecting(gpd.GeoSeries([g for *_, g in seeds], crs="EPSG:4326"),
                               scene.level_units)
    # the fids of the units the seeds lie in (not of a million units)
    unit_fids = scene.level_units["fid"].iloc[pairs["unit"].to_numpy()].astype(object).tolist()
    found: dict[str, dict[str, dict[str, ScopeUnit]]] = {
        ref: {"relied": {}, "affected": {}} for ref in chains}
    names = {ref: {n.fid: (n.role, n.name) for n in chain.nodes} for ref, chain in chains.items()}
    for g, fid_of_unit in zip(pairs["geom"].tolist(), unit_fids, strict=True):
        ref, side, fid, _ = seeds[g]
        unit = str(fid_of_unit)
        if unit not in found[ref][side]:
            role, name = names[ref][fid]
            found[ref][side][unit] = _scope_unit(network, unit,
                                                 f"contains {role} {name} ({fid})", 0)
    for ref, chain in chains.items():
        result = found[ref]
        for node in chain.nodes:  # units the chain itself runs through are affected too
            if node.side == "discharge" and node.kind == "catchment_unit":
                result["affected"].setdefault(node.fid, _scope_unit(
                    network, node.fid, "on the water chain downstream of the site", 0))
        if walk:
            for fid, seed, steps in network.upstream(list(result["relied"])):
                result["relied"].setdefault(fid, _scope_unit(
                    network, fid, f"upstream of {network.names[network.index[seed]]} ({seed})",
                    steps))
            for fid, seed, steps in network.downstream(list(result["affected"])):
                result["affected"].setdefault(fid, _scope_unit(
                    network, fid,
                    f"downstream of {network.names[network.index[seed]]} ({seed})", steps))
        affected = sorted(result["affected"].values(),
                          key=lambda u: -int(network.depth[network.index[u.fid]]))
        out[ref] = (tuple(result["relied"].values()), tuple(affected))
    return out


def chain_contacts(scene: Scene, chain: WaterChain) -> tuple[gpd.GeoDataFrame,
                                                                gpd.GeoDataFrame]:
    """Chain features an IWRA can meet: sources and intakes; outfalls and receiving waters.

    A river counts only upstream of the intake it feeds, or downstream of where the
    discharge enters it.

    Returns
    -------
    tuple of GeoDataFrame
        (supply side, discharge side), each with ``fid``, ``name`` and geometry in
        EPSG:4326, for :func:`geo.scope.iwra.iwra_relations`.
    """
    graph = scene.graph
    after: dict[str, str] = {}
    before: dict[str, str] = {}
    for edge in chain.edges:
        after.setdefault(edge.source, edge.target)
        before.setdefault(edge.target, edge.source)

    def stretch(node: ChainNode) -> Any:
        """A river's geometry where it meets the chain: above the intake, below the entry.

        Rivers are digitised in the direction of flow (HydroRIVERS, OpenStreetMap
        waterways), so the part upstream of the point nearest the intake is the water the
        site relies on, and the part downstream of where the discharge enters it the water
        it affects; an IWRA on the rest of the river is neither.
        """
        geom = graph.geometry(node.fid)
        other = graph.geometry((after if node.side == "supply" else before).get(node.fid, ""))
        if node.kind != "river" or other is None or geom.geom_type != "LineString":
            return geom
        at = geom.project(shapely.get_point(shapely.shortest_line(other, geom), 1))
        part = (substring(geom, 0.0, at) if node.side == "supply"
                else substring(geom, at, geom.length))
        return part if not part.is_empty and part.length > 0 else geom

    def frame(nodes: list[ChainNode]) -> gpd.GeoDataFrame:
        nodes = [n for n in nodes if graph.geometry(n.fid) is not None]
        return gpd.GeoDataFrame({"fid": [n.fid for n in nodes], "name": [n.name for n in nodes]},
                                geometry=[stretch(n) for n in nodes], crs="EPSG:4326")

    return (frame([n for n in chain.nodes if n.side == "supply"
                   and (n.kind == "water_source" or n.role == "ultimate water source")]),
            frame([n for n in chain.discharge_nodes()
                   if n.kind in ("discharge_point", *WATER_BODY_KINDS)]))


def _scope_unit(network: Any, fid: str, why: str, steps: int) -> ScopeUnit:
    i = network.index[fid]
    return ScopeUnit(fid, network.names[i], network.levels[i], why, steps)


def site_checklist(scene: Scene, aws_ref: str, record: SiteRecord | None, area_m2: float,
                   chain: WaterChain, relied_on: Sequence[ScopeUnit],
                   affected: Sequence[ScopeUnit], one: OneCatchment,
                   containing: Sequence[Evidence]) -> tuple[ElementCheck, ...]:
    """Gather one site's facts from the scene and judge its 1.1.1 checklist."""
    everything = scene.owned.get(aws_ref, [])
    unit_fids = dict.fromkeys([*one.units, *(u.fid for u in relied_on),
                               *(u.fid for u in affected)])
    infos = [(f, scene.graph.lookup(f)) for f in unit_fids]
    return build_checklist(ChecklistFacts(
        aws_ref=aws_ref, record=record, chain=chain,
        parcels=tuple(e for e in everything if e.kind == "site"),
        owned=tuple(e for e in everything if e.kind != "site"),
        non_polygons=frozenset(scene.non_polygons), area_m2=area_m2,
        has_units=not scene.units.empty, relied_on=len(relied_on), affected=len(affected),
        unit_evidence=tuple(Evidence(i.layer, f, i.name, i.accuracy, i.kind)
                            for f, i in infos if i is not None),
        containing=tuple(containing), one_catchment_ok=one.ok,
        one_catchment_message=one.message, declared=scene.declared,
        empty_layers=scene.empty_layers))

