"""The physical scope of a site (AWS Standard v2.0 indicator 1.1.1) and the portfolio view.

:func:`assess_site` answers, for one site of a workspace:

1. the **1.1.1 checklist** — each of the six elements present / partial / missing, the
   features that evidence it and what to do about what is missing;
2. the **0.1.1.1 one-catchment check** — do all parcels fall in one catchment unit of
   the workspace's declared level (overlap areas when a parcel straddles units);
3. the catchment units **relied on** (containing and upstream of its water sources and
   its provider's intakes, wherever they are) and **affected** (containing and
   downstream of its discharge points and receiving waters);
4. **IWRA screening** (:mod:`geo.iwra`) — on-site (1.3.6) or catchment (1.5.5), distance,
   band, relation;
5. the **water chain** (:mod:`geo.flows`);

and collects every feature of the site's scope map in one GeoDataFrame
(:attr:`SiteScope.features`) that the app and the exports draw.

:func:`assess_all` gives one summary row per site, with the heavy spatial work done
once for all sites (one STRtree query per UTM zone), not by looping over sites.

The checklist's status rules live in :mod:`geo.checklist`; :class:`Evidence`,
:class:`ElementCheck` and :data:`Status` are re-exported here.  Distances and areas are
measured in the UTM zone of the features (:func:`geo.crs.metric_crs`), never in degrees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.catalogue import AwsElement, LayerKind
from geo.checklist import (
    ChecklistFacts,
    ElementCheck,
    Evidence,
    Status,
    build_checklist,
    evidence_of,
)
from geo.errors import ScopeError, SiteNotFoundError
from geo.flows import (
    WATER_BODY_KINDS,
    ChainNode,
    FlowGraph,
    WaterChain,
    build_flow_graph,
    metric_groups,
    units_intersecting,
    water_chain,
)
from geo.iwra import band_label, count_iwras, iwra_relations, screen_iwras
from geo.records import SiteRecord
from geo.workspace import STANDARD_COLUMNS, Workspace, open_workspace

__all__ = [
    "ElementCheck",
    "Evidence",
    "OneCatchment",
    "ParcelOverlap",
    "ScopeUnit",
    "SiteScope",
    "Status",
    "assess_all",
    "assess_site",
    "parcel_unit_overlaps",
]

Progress = Callable[[int, int, str], None]
_MIN_OVERLAP_M2 = 1.0  # below this an intersection is a numerical sliver, not a straddle


# --- public result types ----------------------------------------------------------------


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


@dataclass(frozen=True, eq=False)
class SiteScope:
    """The physical-scope assessment of one site (see the module docstring)."""

    aws_ref: str
    name: str
    record: SiteRecord | None
    parcels: gpd.GeoDataFrame
    checklist: tuple[ElementCheck, ...]
    one_catchment: OneCatchment
    relied_on: tuple[ScopeUnit, ...]
    affected: tuple[ScopeUnit, ...]
    iwras: pd.DataFrame
    chain: WaterChain
    features: gpd.GeoDataFrame
    bands_km: tuple[float, ...]
    onsite_tolerance_m: float
    inference_tolerance_m: float
    metric_crs: str
    notes: tuple[str, ...] = ()

    def element(self, element: AwsElement | str) -> ElementCheck:
        """The checklist entry of one element."""
        element = AwsElement(element)
        return next(c for c in self.checklist if c.element is element)

    @property
    def present_count(self) -> int:
        """How many of the six elements are present."""
        return sum(c.status == "present" for c in self.checklist)

    @property
    def score(self) -> str:
        """Checklist score as text: ``"5/6 present"``."""
        return f"{self.present_count}/{len(self.checklist)} present"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (geometry left out: export :attr:`features` for that)."""
        iwras = self.iwras.astype(object).where(self.iwras.notna(), None)
        return {
            "aws_ref": self.aws_ref,
            "name": self.name,
            "score": self.score,
            "settings": {"bands_km": list(self.bands_km),
                         "onsite_tolerance_m": self.onsite_tolerance_m,
                         "inference_tolerance_m": self.inference_tolerance_m,
                         "metric_crs": self.metric_crs},
            "checklist": [_element_dict(c) for c in self.checklist],
            "one_catchment": {**asdict(self.one_catchment),
                              "overlaps": [asdict(o) for o in self.one_catchment.overlaps]},
            "relied_on": [asdict(u) for u in self.relied_on],
            "affected": [asdict(u) for u in self.affected],
            "iwras": iwras.to_dict(orient="records"),
            "chain": self.chain.to_dict(),
            "features": [
                {k: _plain(v) for k, v in row.items()}
                for row in pd.DataFrame(self.features.drop(columns="geometry"))[
                    ["fid", "name", "layer", "kind", "role", "aws_element", "accuracy"]
                ].to_dict(orient="records")
            ],
            "notes": list(self.notes),
        }

    def to_markdown(self) -> str:
        """A readable report (GitHub-flavoured Markdown)."""
        from geo.scope_report import scope_markdown

        return scope_markdown(self)


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _element_dict(check: ElementCheck) -> dict[str, Any]:
    return {"element": check.element.value, "title": check.title, "status": check.status,
            "evidence": [asdict(e) for e in check.evidence], "missing": list(check.missing),
            "caveats": list(check.caveats), "notes": list(check.notes)}


# --- loading: everything the engine needs, once ------------------------------------------


@dataclass(eq=False)
class _Scene:
    """A workspace's layers, loaded once and indexed for scope questions."""

    workspace: Workspace
    bands_km: tuple[float, ...]
    onsite_tolerance_m: float
    inference_tolerance_m: float
    level: str
    features: gpd.GeoDataFrame
    parcels: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    level_units: gpd.GeoDataFrame
    iwras: gpd.GeoDataFrame
    catchments: gpd.GeoDataFrame
    graph: FlowGraph
    site_names: dict[str, str]
    declared: dict[str, list[str]]
    empty_layers: dict[str, list[str]]
    owned: dict[str, list[Evidence]] = field(default_factory=dict)
    non_polygons: set[str] = field(default_factory=set)


def _open(workspace: Workspace | str | Path | None) -> Workspace:
    return workspace if isinstance(workspace, Workspace) else open_workspace(workspace)


def _bands(bands_km: Iterable[float] | None, default: Sequence[float]) -> tuple[float, ...]:
    bands = tuple(sorted(float(b) for b in (bands_km if bands_km is not None else default)))
    if not bands or any(not np.isfinite(b) or b <= 0 for b in bands):
        raise ScopeError(f"Buffer bands must be positive distances in km, got {list(bands)}; "
                         "e.g. --bands 1,10,50.")
    return bands


def _load_scene(ws: Workspace, bands_km: Iterable[float] | None,
                onsite_tolerance_m: float | None) -> _Scene:
    cfg = ws.settings.scope
    tolerance = cfg.onsite_tolerance_m if onsite_tolerance_m is None else float(onsite_tolerance_m)
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ScopeError(f"The on-site tolerance must be ≥ 0 m, got {tolerance}.")
    frames: dict[str, gpd.GeoDataFrame] = {}
    declared: dict[str, list[str]] = {}
    empty: dict[str, list[str]] = {}
    for spec in ws.specs.values():
        if spec.is_raster:
            continue
        declared.setdefault(spec.kind.value, []).append(spec.id)
        frame = ws.load(spec.id)
        if frame.empty:
            empty.setdefault(spec.kind.value, []).append(spec.id)
        else:
            frames[spec.id] = frame
    if frames:
        features = gpd.GeoDataFrame(pd.concat(frames.values(), ignore_index=True),
                                    geometry="geometry", crs="EPSG:4326")
    else:
        features = gpd.GeoDataFrame({c: pd.Series(dtype="object") for c in STANDARD_COLUMNS},
                                    geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")
    features["aws_ref"] = features["aws_ref"].astype("object").where(
        features["aws_ref"].notna(), None)

    def of(*kinds: LayerKind) -> gpd.GeoDataFrame:
        return features[features["kind"].isin([k.value for k in kinds])].reset_index(drop=True)

    parcels = of(LayerKind.SITE)
    units = of(LayerKind.CATCHMENT_UNIT)
    level = ws.settings.catchment_level
    level_units = units
    if not units.empty and "level" in units.columns and (units["level"] == level).any():
        level_units = units[units["level"] == level].reset_index(drop=True)
    site_names = {ref: rec.site_name for ref, rec in ws.records.items()}
    for ref in features["aws_ref"].dropna().astype(str).unique():
        site_names.setdefault(ref, ref)
    chain_kinds = (LayerKind.WATER_SOURCE, LayerKind.FACILITY, LayerKind.DISCHARGE_POINT,
                   LayerKind.PIPE, LayerKind.RIVER, LayerKind.LAKE)
    parcel_sites = dict(zip(parcels["fid"].astype(str), parcels["aws_ref"], strict=True))
    graph = build_flow_graph(of(*chain_kinds), site_names=site_names,
                             parcels={k: str(v) for k, v in parcel_sites.items() if v},
                             units=units if not units.empty else None,
                             inference_tolerance_m=cfg.inference_tolerance_m)
    scene = _Scene(ws, _bands(bands_km, cfg.buffer_bands_km), tolerance,
                   cfg.inference_tolerance_m, level, features, parcels, units, level_units,
                   of(LayerKind.IWRA), of(LayerKind.CATCHMENT), graph, site_names, declared,
                   empty)
    owned = features[features["aws_ref"].notna()]
    for ref, evidence in zip(owned["aws_ref"].tolist(), evidence_of(owned), strict=True):
        scene.owned.setdefault(str(ref), []).append(evidence)
    scene.non_polygons = set(parcels.loc[~parcels.geom_type.isin(["Polygon", "MultiPolygon"]),
                                         "fid"].astype(object).tolist())
    return scene


def _check_site(scene: _Scene, aws_ref: str) -> None:
    if aws_ref in scene.site_names:
        return
    known = ", ".join(sorted(scene.site_names)) or "(none: the workspace has no sites)"
    raise SiteNotFoundError(f"No site {aws_ref!r} in this workspace. Sites: {known}.")


def _site_parcels(scene: _Scene, aws_ref: str) -> gpd.GeoDataFrame:
    parcels = scene.parcels[scene.parcels["aws_ref"] == aws_ref]
    if not parcels.empty:
        return parcels.reset_index(drop=True)
    if "site" not in scene.declared:
        where = "the workspace has no layer of kind 'site'"
    elif len(scene.empty_layers.get("site", [])) == len(scene.declared["site"]):
        where = f"layer(s) {', '.join(scene.declared['site'])} hold no features"
    else:
        where = f"no feature of layer(s) {', '.join(scene.declared['site'])} has this aws_ref"
    raise ScopeError(
        f"Site {aws_ref} has no parcels to assess: {where}. Draw the site's boundary "
        f"polygons in a layer of kind 'site' with aws_ref = {aws_ref!r}, then run "
        "`catchscope check`.")


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
            p_idx, u_idx = units.sindex.query(np.asarray(group.geometry.values),
                                              predicate="intersects")
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
            "unit_fid": np.concatenate([units["fid"].astype(str).to_numpy()[u_idx],
                                        np.full(len(lonely), None, dtype=object)]),
            "unit_name": np.concatenate([units["name"].astype(str).to_numpy()[u_idx],
                                         np.full(len(lonely), None, dtype=object)]),
            "area_m2": np.concatenate([area, np.zeros(len(lonely))]),
        }))
    return pd.concat(parts, ignore_index=True)[columns]


def _one_catchment(rows: Sequence[Any], level: str, has_units: bool) -> OneCatchment:
    """Judge 0.1.1.1 from one site's rows of :func:`parcel_unit_overlaps` (as tuples)."""
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
    names = tuple(name for _, name in units)
    ok = len(units) == 1 and not lonely
    if ok:
        message = f"All parcels lie in one catchment unit at level {level!r}: {names[0]}."
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
    return OneCatchment(ok, level, tuple(fid for fid, _ in units), names, records,
                        message.strip())


# --- relied on / affected ---------------------------------------------------------------


def _seed_geometries(scene: _Scene, chain: WaterChain) -> list[tuple[str, str, Any]]:
    """(side, fid, geometry) of each seed: water sources / intakes; discharges / receivers.

    A river reached from upstream is seeded by the point where the water enters it, so
    the reaches upstream of the confluence are not counted as affected.
    """
    graph = scene.graph
    seeds: list[tuple[str, str, Any]] = []
    predecessor: dict[str, str] = {}
    for edge in chain.edges:
        predecessor.setdefault(edge.target, edge.source)
    for node in chain.nodes:
        geom = graph.geometry(node.fid)
        if geom is None:
            continue
        if node.side == "supply" and node.kind == "water_source":
            seeds.append(("relied", node.fid, geom))
        elif node.side == "discharge" and node.kind in ("discharge_point", *WATER_BODY_KINDS):
            prev = graph.geometry(predecessor.get(node.fid, ""))
            if node.kind == "river" and prev is not None:
                geom = shapely.get_point(shapely.shortest_line(prev, geom), 1)
            seeds.append(("affected", node.fid, geom))
    return seeds


UnitPair = tuple[tuple[ScopeUnit, ...], tuple[ScopeUnit, ...]]


def _relied_on_affected(scene: _Scene, chains: dict[str, WaterChain], *,
                        walk: bool = True) -> dict[str, UnitPair]:
    """Relied-on and affected units of each site, seeds located in one spatial query.

    With ``walk`` False only the units containing the seeds are returned (enough for the
    portfolio's checklist); with it, the upstream / downstream walks are added.
    """
    network = scene.graph.network
    out: dict[str, UnitPair] = {ref: ((), ()) for ref in chains}
    if network is None or scene.level_units.empty:
        return out
    seeds = [(ref, *seed) for ref, chain in chains.items()
             for seed in _seed_geometries(scene, chain)]
    pairs = units_intersecting(gpd.GeoSeries([g for *_, g in seeds], crs="EPSG:4326"),
                               scene.level_units)
    unit_fids = scene.level_units["fid"].astype(object).to_numpy()
    found: dict[str, dict[str, dict[str, ScopeUnit]]] = {
        ref: {"relied": {}, "affected": {}} for ref in chains}
    names = {ref: {n.fid: (n.role, n.name) for n in chain.nodes} for ref, chain in chains.items()}
    for g, u in zip(pairs["geom"].tolist(), pairs["unit"].tolist(), strict=True):
        ref, side, fid, _ = seeds[g]
        unit = str(unit_fids[u])
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


def _chain_contacts(scene: _Scene, chain: WaterChain) -> tuple[gpd.GeoDataFrame,
                                                                gpd.GeoDataFrame]:
    """Chain features an IWRA can meet: sources and intakes; outfalls and receiving waters."""
    def frame(nodes: list[ChainNode]) -> gpd.GeoDataFrame:
        nodes = [n for n in nodes if scene.graph.geometry(n.fid) is not None]
        return gpd.GeoDataFrame({"fid": [n.fid for n in nodes], "name": [n.name for n in nodes]},
                                geometry=[scene.graph.geometry(n.fid) for n in nodes],
                                crs="EPSG:4326")

    return (frame([n for n in chain.nodes if n.side == "supply"
                   and (n.kind == "water_source" or n.role == "ultimate water source")]),
            frame([n for n in chain.nodes if n.side == "discharge"
                   and n.kind in ("discharge_point", *WATER_BODY_KINDS)]))


def _scope_unit(network: Any, fid: str, why: str, steps: int) -> ScopeUnit:
    i = network.index[fid]
    return ScopeUnit(fid, network.names[i], network.levels[i], why, steps)


# --- the 1.1.1 checklist (judged in geo.checklist) ----------------------------------


def _containing_catchments(scene: _Scene, parcels: gpd.GeoDataFrame) -> dict[str,
                                                                             list[Evidence]]:
    """Catchment polygons (kind 'catchment') each site's parcels lie in, for all at once."""
    out: dict[str, list[Evidence]] = {}
    if scene.catchments.empty or parcels.empty:
        return out
    pairs = units_intersecting(parcels.geometry.reset_index(drop=True), scene.catchments)
    refs = parcels["aws_ref"].astype(object).to_numpy()
    evidence = evidence_of(scene.catchments)
    for g, u in zip(pairs["geom"].tolist(), pairs["unit"].tolist(), strict=True):
        found = out.setdefault(str(refs[g]), [])
        if evidence[u] not in found:
            found.append(evidence[u])
    return out


def _checklist(scene: _Scene, aws_ref: str, record: SiteRecord | None, area_m2: float,
               chain: WaterChain, relied_on: Sequence[ScopeUnit],
               affected: Sequence[ScopeUnit], one: OneCatchment,
               containing: Sequence[Evidence]) -> tuple[ElementCheck, ...]:
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


# --- the scope map's features -----------------------------------------------------------

_ROLE_ELEMENT = {
    "owned water source": AwsElement.OWNED_WATER_SOURCES,
    "intake": AwsElement.SERVICE_PROVIDER,
    "water plant": AwsElement.SERVICE_PROVIDER,
    "ultimate water source": AwsElement.SERVICE_PROVIDER,
    "discharge point": AwsElement.DISCHARGE,
    "wastewater treatment plant": AwsElement.DISCHARGE,
    "receiving water body": AwsElement.DISCHARGE,
    "ultimate receiving water body": AwsElement.DISCHARGE,
    "downstream catchment unit": AwsElement.CATCHMENTS,
}


def _scope_features(scene: _Scene, aws_ref: str, parcels: gpd.GeoDataFrame,
                    chain: WaterChain, relied_on: Sequence[ScopeUnit],
                    affected: Sequence[ScopeUnit], one: OneCatchment,
                    iwras: pd.DataFrame) -> gpd.GeoDataFrame:
    """Every feature of the site's scope map, each once, with ``role`` and ``aws_element``."""
    feats = scene.features.set_index(scene.features["fid"].astype(str), drop=False)
    feats = feats[~feats.index.duplicated(keep="first")]
    roles: dict[str, list[str]] = {}
    elements: dict[str, str | None] = {}

    def add(fids: Iterable[str], role: str, element: AwsElement | None) -> None:
        for fid in fids:
            if fid not in feats.index:
                continue
            roles.setdefault(fid, [])
            if role not in roles[fid]:
                roles[fid].append(role)
            if elements.get(fid) is None:
                elements[fid] = element.value if element is not None else None

    add(parcels["fid"].astype(str), "site parcel", AwsElement.SITE_BOUNDARIES)
    add([e.fid for e in scene.owned.get(aws_ref, []) if e.kind in ("pipe", "facility")],
        "site infrastructure", AwsElement.INFRASTRUCTURE)
    for node in chain.nodes:
        add([node.fid], node.role, _ROLE_ELEMENT.get(node.role))
    add(one.units, "site catchment unit", AwsElement.CATCHMENTS)
    relied = {u.fid for u in relied_on}
    hit = {u.fid for u in affected}
    for u in [*relied_on, *affected]:
        role = ("relied-on and affected catchment unit" if u.fid in relied and u.fid in hit
                else "relied-on catchment unit" if u.fid in relied else "affected catchment unit")
        add([u.fid], role, AwsElement.CATCHMENTS)
    add([e.fid for e in _containing_catchments(scene, parcels).get(aws_ref, [])], "catchment",
        AwsElement.CATCHMENTS)
    largest = max(scene.bands_km) * 1000.0
    near = iwras[iwras["distance_m"] <= largest]
    for fid, cls in zip(near["fid"], near["classification"], strict=True):
        add([str(fid)], "on-site IWRA (1.3.6)" if cls == "onsite" else "catchment IWRA (1.5.5)",
            None)
    # Rivers and lakes around the site and its chain, for context on the map.
    anchors = [parcels.geometry]
    chain_fids = [n.fid for n in chain.nodes if n.kind in ("water_source", "facility",
                                                           "discharge_point", "pipe")]
    if chain_fids:
        anchors.append(feats.loc[[f for f in chain_fids if f in feats.index], "geometry"])
    anchor = gpd.GeoSeries(pd.concat(anchors, ignore_index=True), crs="EPSG:4326")
    metric = _site_metric(anchor)
    extent = shapely.box(*anchor.to_crs(metric).total_bounds).buffer(min(scene.bands_km) * 1000.0)
    extent_4326 = gpd.GeoSeries([extent], crs=metric).to_crs("EPSG:4326").iloc[0]
    bodies = feats[feats["kind"].isin(WATER_BODY_KINDS)]
    if not bodies.empty:
        inside = bodies.index[bodies.sindex.query(extent_4326, predicate="intersects")]
        add(inside, "water body", None)
    fids = list(roles)
    out = feats.loc[fids].copy()
    out["role"] = ["; ".join(roles[f]) for f in fids]
    out["aws_element"] = [elements.get(f) for f in fids]
    out = out.reset_index(drop=True)
    front = [*STANDARD_COLUMNS, "aws_element", "role"]
    rest = [c for c in out.columns if c not in front and c != "geometry"]
    return gpd.GeoDataFrame(out[[*front, *rest, "geometry"]], geometry="geometry",
                            crs="EPSG:4326")


# --- orchestration ----------------------------------------------------------------------


def _site_area_m2(parcels: gpd.GeoDataFrame) -> tuple[float, str]:
    metric = _site_metric(parcels)
    return float(parcels.geometry.to_crs(metric).union_all().area), metric.to_string()


def _site_metric(geoms: gpd.GeoSeries | gpd.GeoDataFrame) -> Any:
    """The metric CRS of the zone holding most of ``geoms``."""
    groups = metric_groups(geoms)
    return max(groups, key=lambda g: int(g[0].sum()))[1]


def assess_site(
    workspace: Workspace | str | Path | None,
    aws_ref: str,
    *,
    bands_km: Iterable[float] | None = None,
    onsite_tolerance_m: float | None = None,
) -> SiteScope:
    """Assess the physical scope of one site (AWS 1.1.1, 0.1.1.1, 1.3.6, 1.5.5).

    Parameters
    ----------
    workspace : Workspace or path or None
        An opened workspace, a workspace folder, or None for the bundled demo.
    aws_ref : str
        The site's AWS reference, e.g. ``"AWS-000521"``.
    bands_km : iterable of float, optional
        Proximity bands for IWRAs; default the workspace's ``scope.buffer_bands_km``.
    onsite_tolerance_m : float, optional
        IWRAs this close to a parcel are on-site; default ``scope.onsite_tolerance_m``.

    Returns
    -------
    SiteScope
        Geometry in EPSG:4326; distances and areas measured in the site's UTM zone.

    Raises
    ------
    SiteNotFoundError
        If no record and no feature carries ``aws_ref`` (the message lists the sites).
    ScopeError
        If the site has no parcels, or the bands / tolerance are invalid.
    FlowNetworkError
        If ``next_down`` or ``flows_to`` links form a cycle or name no feature.
    """
    ws = _open(workspace)
    scene = _load_scene(ws, bands_km, onsite_tolerance_m)
    return _assess(scene, aws_ref.strip())


def _assess(scene: _Scene, aws_ref: str) -> SiteScope:
    _check_site(scene, aws_ref)
    record = scene.workspace.records.get(aws_ref)
    parcels = _site_parcels(scene, aws_ref)
    area_m2, metric = _site_area_m2(parcels)
    overlaps = parcel_unit_overlaps(parcels, scene.level_units)
    one = _one_catchment(list(overlaps.itertuples(index=False)), scene.level,
                         not scene.level_units.empty)
    chain = water_chain(scene.graph, aws_ref)
    relied_on, affected = _relied_on_affected(scene, {aws_ref: chain})[aws_ref]
    iwras = screen_iwras(parcels, scene.iwras, bands_km=scene.bands_km,
                         onsite_tolerance_m=scene.onsite_tolerance_m).drop(columns="aws_ref")
    supply, discharge = _chain_contacts(scene, chain)
    relation = iwra_relations(scene.iwras, scene.units,
                              relied_on=[u.fid for u in relied_on],
                              affected=[u.fid for u in affected],
                              supply_features=supply, discharge_features=discharge)
    relation = relation.reindex(iwras["fid"])
    iwras["relation"] = relation["relation"].fillna("neither").to_numpy()
    iwras["relation_via"] = relation["relation_via"].fillna("").to_numpy()
    checklist = _checklist(scene, aws_ref, record, area_m2, chain, relied_on, affected, one,
                           _containing_catchments(scene, parcels).get(aws_ref, []))
    features = _scope_features(scene, aws_ref, parcels, chain, relied_on, affected, one, iwras)
    notes = []
    if scene.level_units is scene.units and not scene.units.empty:
        notes.append(f"No catchment unit has level {scene.level!r}; all units were used.")
    return SiteScope(
        aws_ref=aws_ref, name=scene.site_names[aws_ref], record=record, parcels=parcels,
        checklist=checklist, one_catchment=one, relied_on=relied_on, affected=affected,
        iwras=iwras, chain=chain, features=features, bands_km=scene.bands_km,
        onsite_tolerance_m=scene.onsite_tolerance_m,
        inference_tolerance_m=scene.inference_tolerance_m, metric_crs=metric,
        notes=tuple(notes))


def assess_all(
    workspace: Workspace | str | Path | None,
    *,
    bands_km: Iterable[float] | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """One summary row per site of the workspace (the portfolio view).

    The spatial work — parcels × catchment units, sites × IWRAs — runs once for all sites
    (vectorised, one STRtree query per UTM zone); only the small per-site graph walks of
    the water chain run site by site.

    Parameters
    ----------
    workspace : Workspace or path or None
        As for :func:`assess_site`.
    bands_km : iterable of float, optional
        Proximity bands; default the workspace's.
    progress : callable, optional
        Called as ``progress(done, total, message)`` while sites are assessed.

    Returns
    -------
    DataFrame
        Columns ``aws_ref, name, catchment_unit, single_catchment ("yes"/"no"), checklist
        ("5/6 present"), present, partial, missing, iwras_onsite, iwras_within_<b>km…,
        chain_gaps, problem`` (``problem`` says why a site could not be assessed, e.g. no
        parcels; empty otherwise).
    """
    ws = _open(workspace)
    scene = _load_scene(ws, bands_km, None)
    refs = sorted(scene.site_names)
    total = len(refs) + 3

    def tick(done: int, message: str) -> None:
        if progress is not None:
            progress(done, total, message)

    tick(0, "catchment units")
    located = scene.parcels[scene.parcels["aws_ref"].notna()]
    overlaps: dict[str, list[Any]] = {}
    for row in parcel_unit_overlaps(located, scene.level_units).itertuples(index=False):
        overlaps.setdefault(str(row.aws_ref), []).append(row)
    areas = _areas_by_site(located)
    containing = _containing_catchments(scene, located)
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
    for k, ref in enumerate(refs):
        chains[ref] = water_chain(graph, ref)
        tick(3 + k, ref)
    units = _relied_on_affected(scene, chains, walk=False)
    rows = []
    has_units = not scene.level_units.empty
    for ref in refs:
        one = _one_catchment(overlaps.get(ref, []), scene.level, has_units)
        relied_on, affected = units[ref]
        checklist = _checklist(scene, ref, ws.records.get(ref), areas.get(ref, 0.0),
                               chains[ref], relied_on, affected, one, containing.get(ref, []))
        statuses = [c.status for c in checklist]
        rows.append({
            "aws_ref": ref, "name": scene.site_names[ref],
            "catchment_unit": ", ".join(one.unit_names),
            "single_catchment": "yes" if one.ok else "no",
            "checklist": f"{statuses.count('present')}/{len(statuses)} present",
            "present": statuses.count("present"),
            "partial": statuses.count("partial"),
            "missing": statuses.count("missing"),
            **counts[ref],
            "chain_gaps": len(chains[ref].gaps),
            "problem": "" if ref in areas else "no parcels mapped",
        })
    tick(total, "done")
    columns = ["aws_ref", "name", "catchment_unit", "single_catchment", "checklist",
               "present", "partial", "missing", "iwras_onsite",
               *(band_label(b) for b in scene.bands_km), "chain_gaps", "problem"]
    return pd.DataFrame(rows, columns=columns)


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
