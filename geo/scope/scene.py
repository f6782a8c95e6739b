"""Everything the scope engine needs from a workspace, loaded once: the :class:`Scene`.

:func:`load_scene` reads every vector layer of a workspace once into one frame
(EPSG:4326, standard columns), picks out parcels, catchment units (those of the
declared level for 0.1.1.1), IWRAs and catchment polygons, builds the workspace's flow
graph (:mod:`geo.scope.flowgraph`) and indexes which features each site owns.  The single-site
assessment (:mod:`geo.scope.assess`) and the portfolio (:mod:`geo.scope.portfolio`) share it, and
:func:`geo.scope.units.site_checklist` gathers one site's facts for the checklist.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.core.catalogue import LayerKind
from geo.core.errors import ScopeError, SiteNotFoundError
from geo.core.workspace import STANDARD_COLUMNS, Workspace, open_workspace
from geo.scope.checklist import Evidence, evidence_of
from geo.scope.flows import FlowGraph, build_flow_graph, units_intersecting

__all__ = [
    "Scene",
    "check_site",
    "containing_catchments",
    "extend_scene",
    "load_scene",
    "open_ws",
    "site_parcels",
]


@dataclass(eq=False)
class Scene:
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


def open_ws(workspace: Workspace | str | Path | None) -> Workspace:
    """An opened workspace as is; a folder (or None: the bundled demo) opened."""
    return workspace if isinstance(workspace, Workspace) else open_workspace(workspace)


def _bands(bands_km: Iterable[float] | None, default: Sequence[float]) -> tuple[float, ...]:
    bands = tuple(sorted(float(b) for b in (bands_km if bands_km is not None else default)))
    if not bands or any(not np.isfinite(b) or b <= 0 for b in bands):
        raise ScopeError(f"Buffer bands must be positive distances in km, got {list(bands)}; "
                         "e.g. --bands 1,10,50.")
    return bands


def load_scene(ws: Workspace, bands_km: Iterable[float] | None,
               onsite_tolerance_m: float | None) -> Scene:
    """Load every vector layer of ``ws`` once and index it for scope questions.

    Parameters
    ----------
    ws : Workspace
        The opened workspace (layers are read in EPSG:4326).
    bands_km : iterable of float or None
        IWRA proximity bands; None for the workspace's ``scope.buffer_bands_km``.
    onsite_tolerance_m : float or None
        On-site distance for IWRAs; None for the workspace's ``scope.onsite_tolerance_m``.

    Returns
    -------
    Scene

    Raises
    ------
    ScopeError
        If the bands or the tolerance are not positive numbers.
    FlowNetworkError
        If the catchment units' ``next_down`` links are broken or form a cycle.
    """
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
    return _index(ws, frames, declared, empty, _bands(bands_km, cfg.buffer_bands_km),
                  tolerance)


def extend_scene(scene: Scene, extra: dict[str, tuple[LayerKind, gpd.GeoDataFrame]], *,
                 workspace: Workspace | None = None) -> Scene:
    """The scene as it would be with ``extra`` features added (nothing is written).

    Parameters
    ----------
    scene : Scene
        A loaded scene.
    extra : dict
        Layer id → (kind, features in EPSG:4326 with the standard columns): added to
        the layer's features (a new id declares a new layer).
    workspace : Workspace, optional
        The workspace to answer from instead of the scene's (e.g. with a new record).

    Returns
    -------
    Scene
        A new scene; the links, parcels, units and site index are rebuilt.
    """
    ws = workspace or scene.workspace
    frames = {layer: group.drop(columns=[]) for layer, group in
              scene.features.groupby("layer", sort=False)} if not scene.features.empty else {}
    declared = {kind: list(ids) for kind, ids in scene.declared.items()}
    empty = {kind: list(ids) for kind, ids in scene.empty_layers.items()}
    for layer_id, (kind, frame) in extra.items():
        if frame.empty:
            continue
        frame = frame.assign(layer=layer_id, kind=kind.value)
        if layer_id in frames:
            frames[layer_id] = gpd.GeoDataFrame(pd.concat([frames[layer_id], frame],
                                                          ignore_index=True),
                                                geometry="geometry", crs="EPSG:4326")
        else:
            frames[layer_id] = frame
            if layer_id not in declared.setdefault(kind.value, []):
                declared[kind.value].append(layer_id)
        if layer_id in empty.get(kind.value, []):
            empty[kind.value].remove(layer_id)
    return _index(ws, frames, declared, empty, scene.bands_km, scene.onsite_tolerance_m)


def _index(ws: Workspace, frames: dict[str, gpd.GeoDataFrame], declared: dict[str, list[str]],
           empty: dict[str, list[str]], bands: tuple[float, ...], tolerance: float) -> Scene:
    """A scene of loaded layer frames: features, parcels, units, links, owned features."""
    cfg = ws.settings.scope
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
    # The chain and the walks run through units of the declared level only: with several
    # levels (HydroBASINS 8 and 12) a water body's outlet unit must be of that level too.
    graph = build_flow_graph(of(*chain_kinds), site_names=site_names,
                             parcels={k: str(v) for k, v in parcel_sites.items() if v},
                             units=level_units if not level_units.empty else None,
                             inference_tolerance_m=cfg.inference_tolerance_m)
    scene = Scene(ws, bands, tolerance, cfg.inference_tolerance_m, level, features, parcels,
                  units, level_units, of(LayerKind.IWRA), of(LayerKind.CATCHMENT), graph,
                  site_names, declared, empty)
    owned = features[features["aws_ref"].notna()]
    for ref, evidence in zip(owned["aws_ref"].tolist(), evidence_of(owned), strict=True):
        scene.owned.setdefault(str(ref), []).append(evidence)
    scene.non_polygons = set(parcels.loc[~parcels.geom_type.isin(["Polygon", "MultiPolygon"]),
                                         "fid"].astype(object).tolist())
    return scene


def check_site(scene: Scene, aws_ref: str) -> None:
    """Refuse an AWS reference no record or feature of the workspace carries.

    The message lists the known sites and suggests the likely one (``aws-521`` →
    ``AWS-000521``): a different case, a missing prefix or zero padding.
    """
    if aws_ref in scene.site_names:
        return
    refs = sorted(scene.site_names)
    known = ", ".join(refs[:20]) + (f" and {len(refs) - 20} more" if len(refs) > 20 else "")
    digits = "".join(ch for ch in aws_ref if ch.isdigit()).lstrip("0")
    same = [r for r in refs if r.lower() == aws_ref.lower()
            or (digits and "".join(ch for ch in r if ch.isdigit()).lstrip("0") == digits)]
    guess = same or difflib.get_close_matches(aws_ref, refs, n=1, cutoff=0.8)
    hint = f" Did you mean {guess[0]}?" if guess else ""
    if not refs:
        raise SiteNotFoundError(
            f"No site {aws_ref!r}: this workspace has no sites yet. Import a certification "
            "report (catchscope import-report) or draw parcels with an aws_ref, then "
            "`catchscope sites` lists them.")
    raise SiteNotFoundError(f"No site {aws_ref!r} in this workspace.{hint} Sites: {known} "
                            "(`catchscope sites` lists them).")


def site_parcels(scene: Scene, aws_ref: str) -> gpd.GeoDataFrame:
    """The site's parcels (EPSG:4326); a :class:`ScopeError` saying why when it has none."""
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


def containing_catchments(scene: Scene,
                          parcels: gpd.GeoDataFrame) -> dict[str, list[Evidence]]:
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
