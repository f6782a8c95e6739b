"""Where water comes from and goes to: the water chain of a site.

:class:`WaterChain` is, for one site, the ordered graph ultimate sources → intakes →
water plant → site → discharge points → wastewater plant → receiving water → … →
ultimate receiving body.  Edges come from link properties of the features
(``flows_to``, ``supplies``, ``receiving_body``, ``water_body``, ``serves``, a
feature's ``aws_ref``, a unit's ``next_down``) and are then "explicit"; where a feature
has no link, the nearest river or lake within the workspace's inference tolerance is
used and the edge is "inferred" (with the distance); where there is none within the
tolerance the chain records a *gap* — never a guess.  A river or lake that links nowhere
continues into the catchment-unit network (:mod:`geo.network`, re-exported here) to the
sink.

All geometry here is EPSG:4326; distances are measured in the metric CRS of
:func:`geo.crs.metric_crs`, one per UTM zone.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import FlowNetworkError
from geo.network import (
    UnitNetwork,
    build_unit_network,
    metric_groups,
    split_refs,
    units_intersecting,
)

__all__ = [
    "LINK_COLUMNS",
    "WATER_BODY_KINDS",
    "ChainEdge",
    "ChainNode",
    "FlowGraph",
    "UnitNetwork",
    "WaterChain",
    "build_flow_graph",
    "build_unit_network",
    "metric_groups",
    "split_refs",
    "units_intersecting",
    "water_chain",
]

#: Feature properties that link one element of the water chain to the next.
LINK_COLUMNS = ("flows_to", "supplies", "receiving_body", "water_body", "serves")
#: Kinds a chain may end in or be inferred to: surface water bodies.
WATER_BODY_KINDS = frozenset({"river", "lake"})
_POINTISH_KINDS = frozenset({"water_source", "discharge_point", "facility", "pipe"})
_WASTEWATER_WORDS = ("sewage", "wastewater", "waste water", "wwtp", "effluent", "污水")
_TYPE_COLUMNS = ("facility_type", "type", "category", "role", "function")

EdgeHow = Literal["explicit", "inferred"]
Side = Literal["supply", "site", "discharge"]


# --- the water chain --------------------------------------------------------------------


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
    """

    source: str
    target: str
    how: EdgeHow
    via: str
    distance_m: float | None = None


@dataclass(frozen=True)
class WaterChain:
    """The ordered graph of where a site's water comes from and where it goes.

    ``nodes`` are in flow order (supply side, the site, discharge side); ``gaps`` say in
    words where the chain could not be followed and what to map to close it.
    """

    aws_ref: str
    nodes: tuple[ChainNode, ...] = ()
    edges: tuple[ChainEdge, ...] = ()
    gaps: tuple[str, ...] = ()

    def node(self, fid: str) -> ChainNode:
        """The node with this fid (KeyError if absent)."""
        for node in self.nodes:
            if node.fid == fid:
                return node
        raise KeyError(fid)

    def fids(self, side: Side | None = None) -> list[str]:
        """Node fids in flow order, optionally of one side only."""
        return [n.fid for n in self.nodes if side is None or n.side == side]

    def nodes_with_role(self, role: str) -> list[ChainNode]:
        """Nodes playing ``role`` (e.g. "water plant"), in flow order."""
        return [n for n in self.nodes if n.role == role]

    def paths(self) -> list[list[str]]:
        """Every path as node fids: supply paths end at the site, discharge paths start there.

        Sources are nodes without incoming edges; the list is capped at 1,000 paths.
        """
        side = {n.fid: n.side for n in self.nodes}
        order = {n.fid: k for k, n in enumerate(self.nodes)}
        result: list[list[str]] = []
        for part in ("supply", "discharge"):
            allowed = {"site", part}
            edges = [e for e in self.edges
                     if side.get(e.source) in allowed and side.get(e.target) in allowed]
            out_edges: dict[str, list[str]] = {}
            has_in = {e.target for e in edges}
            for e in edges:
                out_edges.setdefault(e.source, []).append(e.target)
            starts = [n.fid for n in self.nodes if n.side in allowed and n.fid not in has_in
                      and (part == "supply" or n.side == "site")]
            for start in starts:
                stack = [[start]]
                while stack and len(result) < 1000:
                    path = stack.pop()
                    nexts = sorted(out_edges.get(path[-1], []), key=lambda f: -order.get(f, 0))
                    if not nexts and len(path) > 1:
                        result.append(path)
                    for nxt in nexts:
                        if nxt not in path:
                            stack.append([*path, nxt])
        return result

    def lines(self) -> list[str]:
        """The paths as readable lines: ``"Yangtze River → Intake → Plant → site"``.

        Inferred steps are marked ``⇢`` with their distance.
        """
        names = {n.fid: n.name for n in self.nodes}
        how = {(e.source, e.target): e for e in self.edges}
        lines = []
        for path in self.paths():
            text = names.get(path[0], path[0])
            for a, b in pairwise(path):
                edge = how[(a, b)]
                arrow = " → " if edge.how == "explicit" else (
                    f" ⇢({edge.distance_m:.0f} m) " if edge.distance_m else " ⇢ ")
                text += arrow + names.get(b, b)
            lines.append(text)
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "aws_ref": self.aws_ref,
            "nodes": [n.__dict__.copy() for n in self.nodes],
            "edges": [e.__dict__.copy() for e in self.edges],
            "gaps": list(self.gaps),
            "paths": self.lines(),
        }


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


def _text(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


def _infos(frame: pd.DataFrame) -> dict[str, _Info]:
    n = len(frame)

    def column(name: str) -> list[Any]:
        return frame[name].astype(object).tolist() if name in frame.columns else [None] * n

    types = [" ".join(t for t in row if t) for row in zip(
        *([_text(v) for v in column(c)] for c in _TYPE_COLUMNS), strict=True)] if n else []
    return {
        str(fid): _Info(str(name), str(kind), str(layer), _text(acc), _text(ref), words, geom)
        for fid, name, kind, layer, acc, ref, words, geom in zip(
            column("fid"), column("name"), column("kind"), column("layer"),
            column("accuracy"), column("aws_ref"), types, frame.geometry.tolist(), strict=True)
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
                self._unit_columns.update({
                    c: self.units[c].to_numpy(dtype=object) if c in self.units else
                    np.full(len(self.units), None, dtype=object)
                    for c in ("layer", "accuracy")})
                self._unit_columns["geometry"] = np.asarray(self.units.geometry.values)
            i = self.network.index[fid]
            cols = self._unit_columns
            info = _Info(self.network.names[i], "catchment_unit", str(cols["layer"][i] or ""),
                         _text(cols["accuracy"][i]), None, "", cols["geometry"][i])
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


def _outlet_unit(graph: FlowGraph, fid: str) -> tuple[str, str] | None:
    """The most downstream unit a water body lies in, and why (for chain continuation)."""
    if graph.network is None or graph.units is None:
        return None
    if fid in graph._outlets:
        return graph._outlets[fid]
    geom = gpd.GeoSeries([graph.geometry(fid)], crs="EPSG:4326")
    pairs = units_intersecting(geom, graph.units)
    outlet = None
    if not pairs.empty:
        unit_fids = np.asarray(graph.network.fids, dtype=object)[pairs["unit"].to_numpy()]
        idx = pairs["unit"].to_numpy()
        best = idx[np.lexsort((unit_fids.astype(str), graph.network.depth[idx]))[0]]
        outlet = (graph.network.fids[best],
                  "catchment unit holding its outlet (most downstream unit it lies in)")
    graph._outlets[fid] = outlet
    return outlet


def _role(graph: FlowGraph, fid: str, side: Side, aws_ref: str, terminal: bool) -> str:
    kind = graph.kind(fid)
    if kind == "site":
        return "site" if fid == aws_ref else "other site"
    if side == "supply":
        return {
            "water_source": "owned water source" if _aws_ref(graph, fid) == aws_ref else "intake",
            "facility": "water plant",
            "river": "ultimate water source",
            "lake": "ultimate water source",
            "catchment_unit": "catchment unit",
        }.get(kind, kind)
    if terminal and (kind in WATER_BODY_KINDS or kind == "catchment_unit"):
        return "ultimate receiving water body"
    return {
        "discharge_point": "discharge point",
        "facility": "wastewater treatment plant",
        "river": "receiving water body",
        "lake": "receiving water body",
        "catchment_unit": "downstream catchment unit",
        "water_source": "water source",
    }.get(kind, kind)


def _aws_ref(graph: FlowGraph, fid: str) -> str | None:
    info = graph.lookup(fid)
    return info.aws_ref if info is not None else None


def _describe(graph: FlowGraph, fid: str) -> str:
    if fid in graph.site_names:
        return f"site {fid}"
    kind = graph.kind(fid).replace("_", " ")
    return f"{kind} {graph.lookup(fid).name} ({fid})"  # type: ignore[union-attr]


Extra = dict[str, list[ChainEdge]]


def _walk_supply(graph: FlowGraph, aws_ref: str, edges: dict[tuple[str, str], ChainEdge],
                 gaps: list[str], extra_in: Extra) -> list[str]:
    seen = [aws_ref]
    queue = deque([aws_ref])
    tol = graph.tolerance_m
    while queue:
        fid = queue.popleft()
        incoming = [e for e in [*graph.in_edges.get(fid, []), *extra_in.get(fid, [])]
                    if e.via != "next_down"]
        if fid != aws_ref and graph.kind(fid) in WATER_BODY_KINDS | {"site"}:
            continue  # a water body is the ultimate source; another site is not followed
        if not incoming and fid != aws_ref:
            near = (graph.nearest_water_bodies([fid])[fid]
                    if graph.kind(fid) in _POINTISH_KINDS else None)
            if near is not None:
                incoming = [ChainEdge(near[0], fid, "inferred", "nearest water body", near[1])]
            elif graph.kind(fid) in _POINTISH_KINDS:
                gaps.append(f"{_describe(graph, fid)}: no water body within {tol:.0f} m and no "
                            "link says where its water comes from; add `supplies`/`flows_to` "
                            "from its river or lake (or map that water body).")
        if fid == aws_ref and not incoming:
            gaps.append(f"site {aws_ref}: no water source or provider is linked to the site; map "
                        "its supply (own wells/intakes with aws_ref, or the provider's plant "
                        "with serves/flows_to naming the site).")
        for e in incoming:
            edges[(e.source, e.target)] = e
            if e.source not in seen:
                seen.append(e.source)
                queue.append(e.source)
    return seen[1:]


def _walk_discharge(graph: FlowGraph, aws_ref: str, edges: dict[tuple[str, str], ChainEdge],
                    gaps: list[str], supply: set[str], extra_out: Extra) -> list[str]:
    seen: list[str] = []
    queue = deque([aws_ref])
    tol = graph.tolerance_m
    while queue:
        fid = queue.popleft()
        kind = graph.kind(fid)
        if fid != aws_ref and kind == "site":
            continue
        outgoing = [e for e in [*graph.outgoing(fid), *extra_out.get(fid, [])]
                    if e.via != "supplies" and e.target not in supply
                    and graph.kind(e.target) not in ("site", "water_source")]
        if not outgoing and fid == aws_ref:
            gaps.append(f"site {aws_ref}: no discharge point is linked to the site; map its "
                        "outfalls and sewer connections with aws_ref = "
                        f"{aws_ref!r}.")
        elif not outgoing and kind in _POINTISH_KINDS:
            near = graph.nearest_water_bodies([fid])[fid]
            if near is not None:
                outgoing = [ChainEdge(fid, near[0], "inferred", "nearest water body", near[1])]
            else:
                gaps.append(f"{_describe(graph, fid)}: no water body within {tol:.0f} m and no "
                            "flows_to link; say where it discharges (flows_to = the receiving "
                            "river, lake or treatment plant).")
        elif not outgoing and kind in WATER_BODY_KINDS:
            outlet = _outlet_unit(graph, fid)
            if outlet is not None:
                outgoing = [ChainEdge(fid, outlet[0], "inferred", outlet[1], 0.0)]
        for e in outgoing:
            edges[(e.source, e.target)] = e
            if e.target not in seen and e.target != aws_ref:
                seen.append(e.target)
                queue.append(e.target)
    return seen


def _flow_order(nodes: list[str], edges: Iterable[ChainEdge],
                rank: dict[str, tuple[int, int]]) -> list[str]:
    """Topological order, ties broken by side and discovery order; cycles are refused."""
    indeg = dict.fromkeys(nodes, 0)
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for e in edges:
        succ[e.source].append(e.target)
        indeg[e.target] += 1
    import heapq

    ready = [(rank[n], n) for n in nodes if indeg[n] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                heapq.heappush(ready, (rank[m], m))
    if len(order) < len(nodes):
        stuck = [n for n in nodes if n not in set(order)]
        raise FlowNetworkError(
            "flows_to / supplies / serves links form a cycle among: "
            + ", ".join(stuck[:8])
            + ". Each link must point downstream (to the next element of the chain); "
            "fix the link of one of these features.")
    return order


def water_chain(graph: FlowGraph, aws_ref: str) -> WaterChain:
    """Follow a site's water from its ultimate sources to its ultimate receiving bodies.

    Parameters
    ----------
    graph : FlowGraph
        From :func:`build_flow_graph`.
    aws_ref : str
        The site's AWS reference (a key of ``graph.site_names``).

    Returns
    -------
    WaterChain
        Nodes in flow order with roles, explicit and inferred edges, and gaps.

    Raises
    ------
    FlowNetworkError
        If the links reached from this site form a cycle.
    """
    edges: dict[tuple[str, str], ChainEdge] = {}
    gaps: list[str] = []
    extra_in: Extra = {}
    extra_out: Extra = {}
    supply = _walk_supply(graph, aws_ref, edges, gaps, extra_in)
    discharge = _walk_discharge(graph, aws_ref, edges, gaps, set(supply), extra_out)
    # `serves` is a fallback: a provider's plant serving the site that no other link brings
    # in.  The site's own facilities (e.g. on-site treatment and reuse with zero discharge)
    # join the chain only through their own links.
    unreached = [f for f in graph.serves.get(aws_ref, [])
                 if f not in {*supply, *discharge} and _aws_ref(graph, f) != aws_ref]
    if unreached:
        for fid in unreached:
            if graph.is_wastewater_plant(fid):
                extra_out.setdefault(aws_ref, []).append(
                    ChainEdge(aws_ref, fid, "explicit", "serves"))
            else:
                extra_in.setdefault(aws_ref, []).append(
                    ChainEdge(fid, aws_ref, "explicit", "serves"))
        edges.clear()
        gaps.clear()
        supply = _walk_supply(graph, aws_ref, edges, gaps, extra_in)
        discharge = _walk_discharge(graph, aws_ref, edges, gaps, set(supply), extra_out)
    gaps += [p for p in graph.problems if any(f"({f})" in p for f in [*supply, *discharge])]
    nodes = list(dict.fromkeys([*supply, aws_ref, *discharge]))
    rank: dict[str, tuple[int, int]] = {}
    for k, fid in enumerate(reversed(supply)):
        rank[fid] = (0, k)
    rank[aws_ref] = (1, 0)
    for k, fid in enumerate(discharge):
        rank.setdefault(fid, (2, k))
    order = _flow_order(nodes, edges.values(), rank)
    has_out = {e.source for e in edges.values()}
    chain_nodes = []
    for fid in order:
        side: Side = "site" if fid == aws_ref else ("supply" if rank[fid][0] == 0 else "discharge")
        terminal = fid not in has_out
        if fid in graph.site_names:
            chain_nodes.append(ChainNode(fid, graph.site_names[fid], "site", "", _role(
                graph, fid, side, aws_ref, terminal), side, None, fid))
            continue
        info = graph.lookup(fid)
        assert info is not None
        chain_nodes.append(ChainNode(
            fid, info.name, info.kind, info.layer, _role(graph, fid, side, aws_ref, terminal),
            side, info.accuracy, info.aws_ref))
    position = {fid: k for k, fid in enumerate(order)}
    ordered_edges = sorted(edges.values(), key=lambda e: (position[e.source], position[e.target]))
    return WaterChain(aws_ref, tuple(chain_nodes), tuple(ordered_edges), tuple(dict.fromkeys(gaps)))
