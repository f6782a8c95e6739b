"""The flow graph of a workspace: explicit links between water features, and inference.

:func:`build_flow_graph` collects, once per workspace, every link the data states between
the features of water chains — ``flows_to``, ``supplies``, ``receiving_body``,
``water_body``, ``serves``, a feature's ``aws_ref`` and, through :mod:`geo.scope.network`, the
catchment units' ``next_down`` — as "explicit" :class:`ChainEdge` s.  :class:`FlowGraph`
also answers the spatial inference question (the nearest river or lake within a
tolerance, vectorised and cached) that :mod:`geo.scope.flows` uses where a feature has no link.

All geometry here is EPSG:4326; distances are measured in the metric CRS of
:func:`geo.core.crs.metric_crs`, one per UTM zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.core.basis import BASIS_KINDS, Basis, accuracy_basis
from geo.scope.network import UnitNetwork, build_unit_network, metric_groups, split_refs

__all__ = [
    "LINK_BASIS_COLUMNS",
    "LINK_COLUMNS",
    "WATER_BODY_KINDS",
    "ChainEdge",
    "ChainNode",
    "EdgeHow",
    "FlowGraph",
    "Side",
    "build_flow_graph",
    "edge_basis",
]

#: Feature properties that link one element of the water chain to the next.
LINK_COLUMNS = ("flows_to", "supplies", "receiving_body", "water_body", "serves")
#: Feature properties saying what the feature's links rest on: ``link_basis`` (a basis
#: kind), ``link_source`` (the report, e.g. "AO-000517"), ``link_section`` ("1.1.1"),
#: ``link_quote`` (its words), ``link_why`` (why assumed) and ``link_rule`` (the rule of an
#: inferred link, e.g. a name match).  A link without them is *assumed* on an illustrative
#: feature and *derived* on one from a dataset.
LINK_BASIS_COLUMNS = ("link_basis", "link_source", "link_section", "link_quote", "link_why",
                      "link_rule")
#: Kinds a chain may end in or be inferred to: surface water bodies.
WATER_BODY_KINDS = frozenset({"river", "lake"})
_POINTISH_KINDS = frozenset({"water_source", "discharge_point", "facility", "pipe"})
_WASTEWATER_WORDS = ("sewage", "wastewater", "waste water", "wwtp", "effluent", "污水")
_TYPE_COLUMNS = ("facility_type", "type", "category", "role", "function")

EdgeHow = Literal["explicit", "inferred"]
Side = Literal["supply", "site", "discharge"]



@dataclass(frozen=True)
class ChainNode:
    """One element of a site's water chain."""

    fid: str
    name: str
    kind: str
    layer: str
    role: str
    side: Side
    accuracy: str | None = None
    aws_ref: str | None = None


@dataclass(frozen=True)
class ChainEdge:
    """Water passes from ``source`` to ``target`` (fids; a site is its AWS reference).

    ``how`` is "explicit" when a link property says so (``via`` names it) and "inferred"
    when it rests on proximity (``via`` says which rule, ``distance_m`` how far).
    ``basis`` says what the link rests on (:func:`edge_basis`): an explicit link in our
    data is *stated* only when the feature cites the report that states it.
    """

    source: str
    target: str
    how: EdgeHow
    via: str
    distance_m: float | None = None
    basis: Basis | None = None


@dataclass(frozen=True)
class _Info:
    """What the chain needs of a feature, looked up by fid without pandas."""

    name: str
    kind: str
    layer: str
    accuracy: str | None
    aws_ref: str | None
    type_words: str
    geometry: Any
    source: str | None = None
    note: str | None = None
    link: tuple[str | None, ...] = ()


def _text(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


def _codes(values: pd.Series | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A units column as codes into its few distinct values, not a million objects.

    The values are as ``to_numpy(dtype=object)`` gives them; the last one stands for a
    missing value.
    """
    if values is None:
        return np.full(n, 0, dtype=np.int64), np.array([None], dtype=object)
    codes, uniques = pd.factorize(values)
    missing = values[values.isna()]
    gap = missing.iloc[:1].to_numpy(dtype=object)[0] if len(missing) else None
    table = np.append(np.asarray(uniques, dtype=object), np.array([gap], dtype=object))
    return np.where(codes < 0, len(table) - 1, codes), table


def _infos(frame: pd.DataFrame) -> dict[str, _Info]:
    n = len(frame)

    def column(name: str) -> list[Any]:
        return frame[name].astype(object).tolist() if name in frame.columns else [None] * n

    types = [" ".join(t for t in row if t) for row in zip(
        *([_text(v) for v in column(c)] for c in _TYPE_COLUMNS), strict=True)] if n else []
    links = list(zip(*([_text(v) for v in column(c)] for c in LINK_BASIS_COLUMNS),
                     strict=True)) if n else []
    return {
        str(fid): _Info(str(name), str(kind), str(layer), _text(acc), _text(ref), words, geom,
                        _text(src), _text(note), link)
        for fid, name, kind, layer, acc, ref, words, geom, src, note, link in zip(
            column("fid"), column("name"), column("kind"), column("layer"),
            column("accuracy"), column("aws_ref"), types, frame.geometry.tolist(),
            column("source"), column("note"), links, strict=True)
    }


@dataclass(eq=False)
class FlowGraph:
    """Workspace-wide explicit links between chain features, plus cached inference.

    Build it once with :func:`build_flow_graph`, then ask :func:`water_chain` for each
    site.  ``features`` is indexed by fid, EPSG:4326.
    """

    features: gpd.GeoDataFrame
    site_names: dict[str, str]
    out_edges: dict[str, list[ChainEdge]]
    in_edges: dict[str, list[ChainEdge]]
    problems: list[str]
    network: UnitNetwork | None
    units: gpd.GeoDataFrame | None
    tolerance_m: float
    serves: dict[str, list[str]] = field(default_factory=dict)
    info: dict[str, _Info] = field(default_factory=dict)
    _nearest: dict[str, tuple[str, float] | None] = field(default_factory=dict)
    _outlets: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    _unit_columns: dict[str, np.ndarray] = field(default_factory=dict)

    def lookup(self, fid: str) -> _Info | None:
        """Name, kind, layer, accuracy, site and geometry of a feature (None if unknown).

        Catchment units are described on first use, so a workspace with 100,000 units
        does not pay for the ones no chain reaches.
        """
        info = self.info.get(fid)
        if info is None and self.network is not None and fid in self.network.index \
                and self.units is not None:
            if not self._unit_columns:
                for c in ("layer", "accuracy"):
                    self._unit_columns[c], self._unit_columns[f"{c} values"] = _codes(
                        self.units.get(c), len(self.units))
                self._unit_columns["geometry"] = np.asarray(self.units.geometry.values)
            i = self.network.index[fid]
            cols = self._unit_columns
            layer = cols["layer values"][cols["layer"][i]]
            accuracy = cols["accuracy values"][cols["accuracy"][i]]
            info = _Info(self.network.names[i], "catchment_unit", str(layer or ""),
                         _text(accuracy), None, "", cols["geometry"][i])
            self.info[fid] = info
        return info

    def kind(self, fid: str) -> str:
        """Kind of a node ("site" for an AWS reference)."""
        if fid in self.site_names:
            return "site"
        info = self.lookup(fid)
        return info.kind if info is not None else "unknown"

    def geometry(self, fid: str) -> Any:
        """The feature's shapely geometry (EPSG:4326), None for sites and unknown ids."""
        info = self.lookup(fid)
        return info.geometry if info is not None else None

    def outgoing(self, fid: str) -> list[ChainEdge]:
        """Explicit edges leaving ``fid`` (a unit's ``next_down`` included)."""
        edges = self.out_edges.get(fid, [])
        if self.network is not None and fid in self.network.index:
            parent = int(self.network.parent[self.network.index[fid]])
            if parent >= 0:
                edges = [*edges, ChainEdge(fid, self.network.fids[parent], "explicit",
                                           "next_down")]
        return edges

    def nearest_water_bodies(self, fids: Sequence[str]) -> dict[str, tuple[str, float] | None]:
        """Nearest river or lake within the tolerance of each feature (cached, vectorised).

        Returns
        -------
        dict
            fid → (water body fid, distance in metres), or None when no water body lies
            within ``tolerance_m``.
        """
        todo = [f for f in dict.fromkeys(fids) if f not in self._nearest and f in self.info]
        if todo:
            self._nearest.update(_nearest_water_bodies(self.features, todo, self.tolerance_m))
        return {f: self._nearest.get(f) for f in fids}

    def is_wastewater_plant(self, fid: str) -> bool:
        """Whether a facility treats wastewater (by its type or name, else by its links)."""
        info = self.lookup(fid)
        words = f"{info.type_words} {info.name}".lower() if info is not None else ""
        if any(w in words for w in _WASTEWATER_WORDS):
            return True
        targets = [e.target for e in self.out_edges.get(fid, []) if e.via == "flows_to"]
        return any(self.kind(t) in WATER_BODY_KINDS for t in targets)


def edge_basis(graph: FlowGraph, edge: ChainEdge) -> Basis:
    """What one link of a chain rests on.

    * inferred — the rule (nearest water body, the unit holding an outlet) and tolerance;
    * ``next_down`` — derived from the catchment units' links;
    * ``aws_ref`` — derived: the feature carries the site's reference;
    * any other link — the basis its holder declares (``link_basis`` … columns), else
      *derived* from a dataset feature and *assumed* on an illustrative one: a link in our
      data that no report states is not a fact.
    """
    if edge.how == "inferred":
        return Basis(kind="inferred", rule=edge.via, features=(edge.source, edge.target),
                     tolerance_m=graph.tolerance_m if edge.via == "nearest water body" else None,
                     why=(f"{edge.distance_m:,.0f} m apart" if edge.distance_m else ""))
    if edge.via == "next_down":
        return Basis(kind="derived", method="next_down of the catchment units",
                     features=(edge.source, edge.target))
    if edge.via == "aws_ref":
        holder = edge.source if graph.kind(edge.source) != "site" else edge.target
        site = edge.source if holder == edge.target else edge.target
        return Basis(kind="derived", method=f"the feature carries aws_ref = {site}",
                     features=(holder,))
    holder = edge.target if edge.via == "water_body" else edge.source
    if edge.via == "serves" and graph.kind(holder) == "site":
        holder = edge.target
    info = graph.lookup(holder)
    if info is None:
        return Basis(kind="assumed", why=f"{edge.via} link of an unknown feature {holder}")
    kind, report, section, quote, why, rule = (info.link + (None,) * 6)[:6]
    if kind in BASIS_KINDS:
        return Basis(kind=kind, report=report or "", section=section or "",
                     quote=quote or "", why=why or "", features=(holder,),
                     rule=(rule or "") if kind == "inferred" else "",
                     method=f"{edge.via} of {holder}" if kind in ("derived", "inferred")
                     else "")
    position = accuracy_basis(info.accuracy, fid=holder, source=info.source or "")
    if position.kind in ("stated", "derived"):
        return Basis(kind="derived", method=f"{edge.via} link in layer {info.layer} "
                                            f"({info.source or 'no source given'})",
                     features=(holder,))
    return Basis(kind="assumed", features=(holder,),
                 why=f"{edge.via} = {edge.target if holder == edge.source else edge.source} is "
                     f"a link in our data ({holder}, {info.accuracy or 'no accuracy'}) that no "
                     "report is cited for")


def _nearest_water_bodies(features: gpd.GeoDataFrame, fids: list[str],
                          tolerance_m: float) -> dict[str, tuple[str, float] | None]:
    result: dict[str, tuple[str, float] | None] = dict.fromkeys(fids)
    bodies = features[features["kind"].isin(WATER_BODY_KINDS)]
    if bodies.empty:
        return result
    position = pd.Index(features.index).get_indexer(fids)
    candidates = features.iloc[position]
    # One metric CRS per UTM zone, so a workspace spanning zones still measures in metres.
    for mask, metric in metric_groups(candidates):
        group = candidates[mask]
        group_m = group[["geometry"]].to_crs(metric)
        bodies_m = bodies[["geometry"]].to_crs(metric)
        bodies_m["wb"] = bodies.index.to_numpy()
        joined = gpd.sjoin_nearest(group_m, bodies_m, how="inner", max_distance=tolerance_m,
                                   distance_col="distance_m")
        joined = joined.sort_values(["distance_m", "wb"])
        joined = joined[~joined.index.duplicated(keep="first")]
        for fid, wb, dist in zip(joined.index, joined["wb"], joined["distance_m"], strict=True):
            result[str(fid)] = (str(wb), float(dist))
    return result


def build_flow_graph(
    features: gpd.GeoDataFrame,
    *,
    site_names: dict[str, str],
    parcels: dict[str, str] | None = None,
    units: gpd.GeoDataFrame | None = None,
    inference_tolerance_m: float = 1000.0,
) -> FlowGraph:
    """Collect the explicit links of every chain feature of a workspace.

    Link properties (fids or AWS references, comma-separated):

    * ``flows_to`` — the next element downstream.  It wins: where a feature has it,
      its summary links ``supplies`` / ``receiving_body`` are not drawn again.
    * ``supplies`` (water sources) and ``receiving_body`` (discharge points) — used
      where the feature has no ``flows_to``.
    * ``water_body`` (water sources) — the river or lake the intake draws from (an
      edge *into* the intake).
    * ``serves`` (facilities) — the sites a plant serves; a fallback used by
      :func:`water_chain` only when no other link brings the plant into the site's chain.
      Wastewater plants (by ``facility_type`` / name, or because they flow into a water
      body) receive from the site; water plants supply it.
    * a feature's ``aws_ref`` — the site's own water sources supply it; its discharge
      points, and its pipes and facilities that lead somewhere, receive from it.
    * ``next_down`` (catchment units) — the chain continues through the units to the sink.

    A link to a site parcel counts as a link to its site.

    Parameters
    ----------
    features : GeoDataFrame
        Water sources, facilities, discharge points, pipes, rivers and lakes (EPSG:4326,
        standard columns) with any of the link columns above.
    site_names : dict
        AWS reference → display name of every site of the workspace.
    parcels : dict, optional
        Parcel fid → AWS reference, so links may name a parcel.
    units : GeoDataFrame, optional
        Catchment units (with ``next_down``).
    inference_tolerance_m : float
        How far a feature without links may be from the nearest water body for an
        inferred edge.

    Returns
    -------
    FlowGraph

    Raises
    ------
    FlowNetworkError
        If the units' ``next_down`` links are broken (see :func:`build_unit_network`).
    """
    parcels = dict(parcels or {})
    network = None
    if units is not None and not units.empty:
        network = build_unit_network(units)
        units = units.reset_index(drop=True)
    allf = gpd.GeoDataFrame(features.copy(), geometry="geometry", crs="EPSG:4326")
    allf["fid"] = allf["fid"].astype(str).astype(object)
    allf = allf[~allf["fid"].duplicated(keep="first")]
    allf = allf.set_index(pd.Index(allf["fid"].to_numpy(dtype=object)), drop=False)
    graph = FlowGraph(allf, dict(site_names), {}, {}, [], network,
                      units if network is not None else None, inference_tolerance_m)
    graph.info = _infos(allf)
    known = set(graph.info) | set(site_names) | set(parcels)
    if network is not None:
        known |= set(network.index)

    def add(edge: ChainEdge) -> None:
        if edge.source == edge.target:
            return
        graph.out_edges.setdefault(edge.source, []).append(edge)
        graph.in_edges.setdefault(edge.target, []).append(edge)

    # Link columns as plain dicts of the features that have them (few, even when the
    # workspace holds 100,000 units).
    links: dict[str, dict[str, Any]] = {}
    for column in LINK_COLUMNS:
        if column in allf.columns and column in features.columns:
            values = features[column]
            mask = values.notna().to_numpy()
            links[column] = dict(zip(features["fid"].astype(str).to_numpy()[mask],
                                     values.to_numpy(dtype=object)[mask], strict=True))

    def targets(fid: str, column: str) -> list[str]:
        out = []
        for target in split_refs(links.get(column, {}).get(fid)):
            if target not in known:
                graph.problems.append(
                    f"{graph.lookup(fid).name} ({fid}): {column} = {target!r} "  # type: ignore[union-attr]
                    "names no feature "
                    "or site of the workspace; fix the link.")
                continue
            out.append(parcels.get(target, target))
        return out

    for fid in dict.fromkeys(f for column in links.values() for f in column):
        if fid not in graph.info:
            continue
        downstream = targets(fid, "flows_to")
        via = "flows_to"
        if not downstream:
            downstream, via = targets(fid, "supplies"), "supplies"
        if not downstream:
            downstream, via = targets(fid, "receiving_body"), "receiving_body"
        for target in downstream:
            add(ChainEdge(fid, target, "explicit", via))
        for body in targets(fid, "water_body"):
            add(ChainEdge(body, fid, "explicit", "water_body"))
        for site in targets(fid, "serves"):
            if site in site_names:
                graph.serves.setdefault(site, []).append(fid)
    _link_owned(graph, site_names, add)
    return graph


def _link_owned(graph: FlowGraph, site_names: dict[str, str], add: Any) -> None:
    """Edges implied by ownership: a site's sources feed it, its outlets receive from it."""
    for fid, info in list(graph.info.items()):
        ref, kind = info.aws_ref, info.kind
        if ref is None or ref not in site_names:
            continue
        outgoing = graph.out_edges.get(fid, [])
        if kind == "water_source":
            if not outgoing:
                add(ChainEdge(fid, ref, "explicit", "aws_ref"))
        elif fid in graph.in_edges:
            continue
        elif kind == "discharge_point" or (
                kind in ("pipe", "facility") and outgoing
                and not any(e.target == ref for e in outgoing)):
            add(ChainEdge(ref, fid, "explicit", "aws_ref"))
