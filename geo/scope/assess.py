"""The physical scope of a site (AWS Standard v2.0 indicator 1.1.1) and the portfolio view.

:func:`assess_site` answers, for one site of a workspace:

1. the **1.1.1 checklist** — each of the six elements present / partial / missing /
   not applicable, the features (or record facts) that evidence it and what to do about
   what is missing;
2. the **0.1.1.1 one-catchment check** — do all parcels fall in one catchment unit of
   the workspace's declared level (overlap areas when a parcel straddles units);
3. the catchment units **relied on** (containing and upstream of its water sources and
   its provider's intakes, wherever they are) and **affected** (containing and
   downstream of its discharge points and receiving waters);
4. **IWRA screening** (:mod:`geo.scope.iwra`) — on-site (1.3.6) or catchment (1.5.5), distance,
   band, relation;
5. the **water chain** (:mod:`geo.scope.flows`);

and collects every feature of the site's scope map in one GeoDataFrame
(:attr:`SiteScope.features`) that the app and the exports draw.

:func:`assess_all` gives one summary row per site, with the heavy spatial work done
once for all sites (one STRtree query per UTM zone), not by looping over sites.

The work is split by concern, and re-exported here so ``from geo.scope.assess import …`` keeps
working: the checklist's status rules in :mod:`geo.scope.checklist` (:class:`Evidence`,
:class:`ElementCheck`, :data:`Status`); loading the workspace once in :mod:`geo.scope.scene`;
0.1.1.1 and the relied-on / affected units in :mod:`geo.scope.units`
(:class:`OneCatchment`, :class:`ParcelOverlap`, :class:`ScopeUnit`,
:func:`parcel_unit_overlaps`); the portfolio in :mod:`geo.scope.portfolio` (:func:`assess_all`).
Distances and areas are measured in the UTM zone of the features
(:func:`geo.core.crs.metric_crs`), never in degrees.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.core.catalogue import AwsElement
from geo.core.records import SiteRecord, certificate_validity
from geo.core.workspace import STANDARD_COLUMNS, Workspace
from geo.scope.checklist import STATUSES, ElementCheck, Evidence, Status, score_text
from geo.scope.context import UnitStress, water_stress_notes, water_stress_rows
from geo.scope.evidence import attach_bases
from geo.scope.flows import WATER_BODY_KINDS, WaterChain, metric_groups, water_chain
from geo.scope.iwra import iwra_relations, screen_iwras
from geo.scope.portfolio import PORTFOLIO_COLUMNS, Progress, assess_all
from geo.scope.scene import (
    Scene,
    check_site,
    containing_catchments,
    load_scene,
    open_ws,
    site_parcels,
)
from geo.scope.units import (
    OneCatchment,
    ParcelOverlap,
    ScopeUnit,
    chain_contacts,
    judge_one_catchment,
    parcel_unit_overlaps,
    relied_on_affected,
    site_checklist,
)
from geo.scope.versus import AnswerRow, Disagreement, auditor_answers, map_vs_report

__all__ = [
    "PORTFOLIO_COLUMNS",
    "STATUSES",
    "ElementCheck",
    "Evidence",
    "OneCatchment",
    "ParcelOverlap",
    "Progress",
    "ScopeUnit",
    "SiteScope",
    "Status",
    "assess_all",
    "assess_scene",
    "assess_site",
    "parcel_unit_overlaps",
]


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
    #: Where the map and the record / report disagree (:mod:`geo.scope.versus`).
    versus: tuple[Disagreement, ...] = ()
    #: The report's answers to 0.1.1.1, 1.1.1, 1.3.6, 1.5.5 beside the product's.
    answers: tuple[AnswerRow, ...] = ()
    #: (field, value, basis) of the record facts the scope prints.
    record_facts: tuple[tuple[str, str, Any], ...] = ()
    #: Baseline water stress (Aqueduct 4.0) of the units the site lies in, relies on and
    #: affects, when the units carry it (:mod:`geo.scope.context`).
    water_stress: tuple[UnitStress, ...] = ()

    def element(self, element: AwsElement | str) -> ElementCheck:
        """The checklist entry of one element."""
        element = AwsElement(element)
        return next(c for c in self.checklist if c.element is element)

    @property
    def present_count(self) -> int:
        """How many of the six elements are present."""
        return sum(c.status == "present" for c in self.checklist)

    @property
    def status_counts(self) -> dict[str, int]:
        """How many elements have each status (every status of :data:`STATUSES`)."""
        return {s: sum(c.status == s for c in self.checklist) for s in STATUSES}

    @property
    def score(self) -> str:
        """Checklist score as text: ``"1/5 present (4 partial, 1 not applicable)"``.

        Elements that do not apply to the site are left out of the denominator.
        """
        return score_text([c.status for c in self.checklist])

    @property
    def certificate(self) -> dict[str, str] | None:
        """The record's certificate validity as of today (None without a record)."""
        if self.record is None:
            return None
        check = certificate_validity(self.record)
        return {"state": check.state, "message": check.message, "short": check.short}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (geometry left out: export :attr:`features` for that)."""
        iwras = self.iwras.astype(object).where(self.iwras.notna(), None)
        return {
            "aws_ref": self.aws_ref,
            "name": self.name,
            "score": self.score,
            "status_counts": self.status_counts,
            "certificate": self.certificate,
            "settings": {"bands_km": list(self.bands_km),
                         "onsite_tolerance_m": self.onsite_tolerance_m,
                         "inference_tolerance_m": self.inference_tolerance_m,
                         "metric_crs": self.metric_crs},
            "checklist": [_element_dict(c) for c in self.checklist],
            "one_catchment": {**asdict(self.one_catchment),
                              "overlaps": [asdict(o) for o in self.one_catchment.overlaps]},
            "relied_on": [_unit_dict(u) for u in self.relied_on],
            "affected": [_unit_dict(u) for u in self.affected],
            "iwras": iwras.to_dict(orient="records"),
            "chain": self.chain.to_dict(),
            "features": [
                {k: _plain(v) for k, v in row.items()}
                for row in pd.DataFrame(self.features.drop(columns="geometry"))[
                    ["fid", "name", "layer", "kind", "role", "aws_element", "accuracy",
                     "basis_kind", "basis"]
                ].to_dict(orient="records")
            ],
            "notes": list(self.notes),
            "map_vs_report": [d.to_dict() for d in self.versus],
            "auditor_answers": [a.to_dict() for a in self.answers],
            "record_facts": [{"field": f, "value": v, "basis": b.to_dict()}
                             for f, v, b in self.record_facts],
            "water_stress": [asdict(u) for u in self.water_stress],
        }


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _element_dict(check: ElementCheck) -> dict[str, Any]:
    return {"element": check.element.value, "title": check.title, "status": check.status,
            "evidence": [asdict(e) for e in check.evidence], "missing": list(check.missing),
            "caveats": list(check.caveats), "notes": list(check.notes),
            "basis": check.basis.to_dict() if check.basis is not None else None}


def _unit_dict(unit: ScopeUnit) -> dict[str, Any]:
    return {**{k: v for k, v in unit.__dict__.items() if k != "basis"},
            "basis": unit.basis.to_dict() if unit.basis is not None else None}


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


def _scope_features(scene: Scene, aws_ref: str, parcels: gpd.GeoDataFrame,
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
    add([e.fid for e in containing_catchments(scene, parcels).get(aws_ref, [])], "catchment",
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
    ws = open_ws(workspace)
    scene = load_scene(ws, bands_km, onsite_tolerance_m)
    return _assess(scene, aws_ref.strip())


def assess_scene(scene: Scene, aws_ref: str) -> SiteScope:
    """Assess one site of an already loaded (or extended) :class:`~geo.scope.scene.Scene`.

    :func:`geo.scope.scene.extend_scene` gives a scene with features not saved yet, so a
    draft (``catchscope new-site``) is assessed exactly as it will be once saved.
    """
    return _assess(scene, aws_ref.strip())


def _assess(scene: Scene, aws_ref: str) -> SiteScope:
    check_site(scene, aws_ref)
    record = scene.workspace.records.get(aws_ref)
    parcels = site_parcels(scene, aws_ref)
    area_m2, metric = _site_area_m2(parcels)
    overlaps = parcel_unit_overlaps(parcels, scene.level_units)
    one = judge_one_catchment(list(overlaps.itertuples(index=False)), scene.level,
                              not scene.level_units.empty)
    chain = water_chain(scene.graph, aws_ref)
    relied_on, affected = relied_on_affected(scene, {aws_ref: chain})[aws_ref]
    iwras = screen_iwras(parcels, scene.iwras, bands_km=scene.bands_km,
                         onsite_tolerance_m=scene.onsite_tolerance_m).drop(columns="aws_ref")
    supply, discharge = chain_contacts(scene, chain)
    relation = iwra_relations(scene.iwras, scene.units,
                              relied_on=[u.fid for u in relied_on],
                              affected=[u.fid for u in affected],
                              supply_features=supply, discharge_features=discharge)
    relation = relation.reindex(iwras["fid"])
    iwras["relation"] = relation["relation"].fillna("neither").to_numpy()
    iwras["relation_via"] = relation["relation_via"].fillna("").to_numpy()
    checklist = site_checklist(scene, aws_ref, record, area_m2, chain, relied_on, affected,
                               one, containing_catchments(scene, parcels).get(aws_ref, []))
    features = _scope_features(scene, aws_ref, parcels, chain, relied_on, affected, one, iwras)
    based = attach_bases(aws_ref=aws_ref, record=record, features=features,
                         parcels=parcels["fid"].astype(str), checklist=checklist, chain=chain,
                         relied_on=relied_on, affected=affected, iwras=iwras,
                         iwra_features=scene.iwras)
    checklist, relied_on, affected = based["checklist"], based["relied_on"], based["affected"]
    iwras = based["iwras"]
    bases = based["feature_bases"]
    features["basis_kind"] = [bases[str(f)].kind if str(f) in bases else None
                              for f in features["fid"]]
    features["basis"] = [bases[str(f)].summary() if str(f) in bases else None
                         for f in features["fid"]]
    versus = map_vs_report(record=record, chain=chain, one=one, relied_on=relied_on,
                           affected=affected, iwras=iwras, area_m2=area_m2, parcels=parcels,
                           parcel_bases={str(f): bases[str(f)] for f in parcels["fid"]
                                         if str(f) in bases})
    answers = auditor_answers(record=record, checklist=checklist, one=one, iwras=iwras,
                              versus=versus)
    notes = []
    if scene.level_units is scene.units and not scene.units.empty:
        notes.append(f"No catchment unit has level {scene.level!r}; all units were used.")
    site_units = one.units or tuple(dict.fromkeys(o.unit_fid for o in one.overlaps))
    notes += water_stress_notes(scene.level_units, site_units, relied_on, affected)
    return SiteScope(
        aws_ref=aws_ref, name=scene.site_names[aws_ref], record=record, parcels=parcels,
        checklist=checklist, one_catchment=one, relied_on=relied_on, affected=affected,
        iwras=iwras, chain=chain, features=features, bands_km=scene.bands_km,
        onsite_tolerance_m=scene.onsite_tolerance_m,
        inference_tolerance_m=scene.inference_tolerance_m, metric_crs=metric,
        notes=tuple(notes), versus=versus, answers=answers,
        record_facts=based["record_facts"],
        water_stress=water_stress_rows(scene.level_units, site_units, relied_on, affected))


