"""Where water comes from and goes to: the water chain of a site.

:class:`WaterChain` is, for one site, the ordered graph ultimate sources → intakes →
water plant → site → discharge points → wastewater plant → receiving water → … →
ultimate receiving body.  Edges come from link properties of the features
(``flows_to``, ``supplies``, ``receiving_body``, ``water_body``, ``serves``, a
feature's ``aws_ref``, a unit's ``next_down``) and are then "explicit"; where a feature
has no link, the nearest river or lake within the workspace's inference tolerance is
used and the edge is "inferred" (with the distance); where there is none within the
tolerance the chain records a *gap* — never a guess.  A river or lake that links nowhere
continues into the catchment-unit network (:mod:`geo.scope.network`, re-exported here) to the
sink.  The workspace-wide links and the inference live in :mod:`geo.scope.flowgraph`
(:class:`FlowGraph`, :func:`build_flow_graph`, re-exported here); this module walks
them for one site.  For many sites at once, :class:`UnitTails` builds each unit's way
down to its sink once and every chain that reaches the unit shares it
(``water_chain(..., tails=…)``): a portfolio does not walk the same ``next_down`` path
once per site.

All geometry here is EPSG:4326; distances are measured in the metric CRS of
:func:`geo.core.crs.metric_crs`, one per UTM zone.
"""

from __future__ import annotations

import dataclasses
import heapq
import weakref
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import geopandas as gpd
import numpy as np

from geo.core.basis import Basis, weakest
from geo.core.errors import FlowNetworkError
from geo.scope.flowgraph import (
    _POINTISH_KINDS,
    LINK_COLUMNS,
    WATER_BODY_KINDS,
    ChainEdge,
    ChainNode,
    EdgeHow,
    FlowGraph,
    Side,
    build_flow_graph,
    edge_basis,
)
from geo.scope.network import (
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
    "EdgeHow",
    "FlowGraph",
    "Side",
    "UnitNetwork",
    "UnitTails",
    "WaterChain",
    "build_flow_graph",
    "build_unit_network",
    "metric_groups",
    "precompute_outlets",
    "split_refs",
    "units_intersecting",
    "water_chain",
]


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

    def returns(self) -> list[ChainNode]:
        """Supply-side water bodies that the site's discharge flows back into.

        A site that takes its water from a river and discharges into the same river has the
        river once, as its ultimate water source, with an edge into it from the discharge
        side: it is also a receiving water body.
        """
        side = {n.fid: n.side for n in self.nodes}
        back = {e.target for e in self.edges if side.get(e.target) == "supply"
                and side.get(e.source) in ("site", "discharge")}
        return [n for n in self.nodes if n.fid in back]

    def discharge_nodes(self) -> list[ChainNode]:
        """The discharge side in flow order, with the water bodies it returns into last."""
        return [*(n for n in self.nodes if n.side == "discharge"), *self.returns()]

    def paths(self) -> list[list[str]]:
        """Every path as node fids: supply paths end at the site, discharge paths start there.

        Sources are nodes without incoming edges; the list is capped at 1,000 paths.
        """
        side = {n.fid: n.side for n in self.nodes}
        order = {n.fid: k for k, n in enumerate(self.nodes)}
        back = {n.fid for n in self.returns()}
        result: list[list[str]] = []
        for part in ("supply", "discharge"):
            allowed = {"site", part}

            def on(fid: str, part: str = part, allowed: set[str] = allowed) -> bool:
                # a source water body the discharge returns into is on the discharge paths
                return side.get(fid) in allowed or (part == "discharge" and fid in back)

            edges = [e for e in self.edges if on(e.source) and on(e.target)]
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
            "edges": [{**e.__dict__, "basis": e.basis.to_dict() if e.basis else None}
                      for e in self.edges],
            "gaps": list(self.gaps),
            "paths": self.lines(),
            "path_bases": [b.to_dict() if b else None for b in self.path_bases()],
        }

    def path_bases(self) -> list[Basis | None]:
        """The basis of each path of :meth:`paths`: its weakest link's (the weakest travels)."""
        how = {(e.source, e.target): e for e in self.edges}
        return [weakest(how[(a, b)].basis for a, b in pairwise(path)) for path in self.paths()]





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


def precompute_outlets(graph: FlowGraph, fids: Iterable[str]) -> None:
    """The outlet unit of many water bodies at once (one spatial query), into the cache.

    The same answer as the chain's own look-up, one water body at a time: the most
    downstream unit of the network the water body lies in, ties broken by unit id.
    """
    if graph.network is None or graph.units is None:
        return
    todo = [f for f in dict.fromkeys(fids)
            if f not in graph._outlets and graph.geometry(f) is not None]
    if not todo:
        return
    pairs = units_intersecting(gpd.GeoSeries([graph.geometry(f) for f in todo],
                                             crs="EPSG:4326"), graph.units)
    unit = pairs["unit"].to_numpy()
    order = np.lexsort((np.asarray(graph.network.fids, dtype=object)[unit].astype(str),
                        graph.network.depth[unit], pairs["geom"].to_numpy()))
    best: dict[int, int] = {}
    for g, u in zip(pairs["geom"].to_numpy()[order], unit[order], strict=True):
        best.setdefault(int(g), int(u))
    why = "catchment unit holding its outlet (most downstream unit it lies in)"
    for k, fid in enumerate(todo):
        graph._outlets[fid] = (graph.network.fids[best[k]], why) if k in best else None


class UnitTails:
    """Every unit's way down ``next_down`` to its sink, walked once for all chains.

    A chain that reaches a catchment unit continues, unit by unit, to the sink: the same
    nodes and edges for every site whose water reaches that unit.  With ``tails`` given,
    :func:`water_chain` stops its walk at the first unit and takes the rest from here
    (built on first use, each path once, sharing the downstream part of longer ones).

    Only valid when nothing but ``next_down`` leads out of a unit (:meth:`applies`); the
    portfolio checks it and walks unit by unit otherwise.
    """

    def __init__(self, graph: FlowGraph) -> None:
        if graph.network is None:
            raise ValueError("UnitTails needs a flow graph with catchment units.")
        self.graph = graph
        self.network: UnitNetwork = graph.network
        self._paths: dict[int, tuple[int, ...]] = {}
        self._nodes: dict[int, ChainNode] = {}
        self._edges: dict[int, ChainEdge] = {}

    @staticmethod
    def applies(graph: FlowGraph) -> bool:
        """Whether units lead only down ``next_down`` (no explicit link starts at a unit)."""
        network = graph.network
        if network is None:
            return False
        return not any(fid in network.index for fid in graph.out_edges) and not any(
            fid in network.index for fid in graph.info)

    def path(self, i: int) -> tuple[int, ...]:
        """Positions of the units strictly downstream of unit ``i``, nearest first."""
        if i in self._paths:
            return self._paths[i]
        parent = self.network.parent
        walked: list[int] = []
        j = int(parent[i])
        while j >= 0 and j not in self._paths:
            walked.append(j)
            j = int(parent[j])
        rest = () if j < 0 else (j, *self._paths[j])
        path = (*walked, *rest)
        self._paths[i] = path
        return path

    def node(self, i: int) -> ChainNode:
        """The chain node of unit ``i`` (discharge side; the sink is the ultimate receiver)."""
        node = self._nodes.get(i)
        if node is None:
            fid = self.network.fids[i]
            info = self.graph.lookup(fid)
            assert info is not None
            role = ("ultimate receiving water body" if self.network.parent[i] < 0
                    else "downstream catchment unit")
            node = ChainNode(fid, info.name, info.kind, info.layer, role, "discharge",
                             info.accuracy, info.aws_ref)
            self._nodes[i] = node
        return node

    def edge(self, i: int) -> ChainEdge:
        """The ``next_down`` edge out of unit ``i`` (not at a sink), with its basis."""
        edge = self._edges.get(i)
        if edge is None:
            plain = ChainEdge(self.network.fids[i], self.network.fids[int(self.network.parent[i])],
                              "explicit", "next_down")
            edge = dataclasses.replace(plain, basis=edge_basis(self.graph, plain))
            self._edges[i] = edge
        return edge

    def below(self, entries: Iterable[str], present: Iterable[str]
              ) -> tuple[list[ChainNode], list[ChainEdge]]:
        """Nodes downstream of ``entries`` not in ``present`` and every edge of the paths."""
        index = self.network.index
        seen = set(present)
        nodes: list[ChainNode] = []
        edges: list[ChainEdge] = []
        done: set[int] = set()
        for fid in entries:
            i = index[fid]
            for j in (i, *self.path(i)):
                if j in done:
                    break  # the rest of this path is already in
                done.add(j)
                if self.network.parent[j] >= 0:
                    edges.append(self.edge(j))
                if j != i and self.network.fids[j] not in seen:
                    seen.add(self.network.fids[j])
                    nodes.append(self.node(j))
        return nodes, edges


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
                    gaps: list[str], supply: set[str], extra_out: Extra,
                    stop_at_units: bool = False,
                    returns: set[tuple[str, str]] | None = None) -> list[str]:
    """The discharge side's nodes in discovery order; edges into ``edges``.

    An edge into a water body of the supply side (the site discharges into the river it
    takes its water from) goes into ``returns``: it flows back to a source, not round in
    a cycle, and the walk goes on downstream of it.  Explicit links to other supply-side
    features are not followed.
    """
    seen: list[str] = []
    queue = deque([aws_ref])
    tol = graph.tolerance_m
    while queue:
        fid = queue.popleft()
        kind = graph.kind(fid)
        if fid != aws_ref and kind == "site":
            continue
        if stop_at_units and kind == "catchment_unit":
            continue  # the rest of the way is the unit's shared tail
        outgoing = [e for e in [*graph.outgoing(fid), *extra_out.get(fid, [])]
                    if e.via != "supplies" and graph.kind(e.target) not in ("site", "water_source")
                    and (e.target not in supply or graph.kind(e.target) in WATER_BODY_KINDS)]
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
            if e.target in supply and returns is not None:
                returns.add((e.source, e.target))  # and on downstream of it, as any receiver
            if e.target not in seen and e.target != aws_ref:
                seen.append(e.target)
                queue.append(e.target)
    return seen


def _flow_order(nodes: list[str], edges: Iterable[ChainEdge],
                rank: dict[str, tuple[int, int]]) -> list[str]:
    """Topological order, ties broken by side and discovery order.

    Raises :class:`_Cycle` (with the nodes of one cycle) when the links go round.
    """
    indeg = dict.fromkeys(nodes, 0)
    succ: dict[str, list[ChainEdge]] = {n: [] for n in nodes}
    for e in edges:
        succ[e.source].append(e)
        indeg[e.target] += 1
    ready = [(rank[n], n) for n in nodes if indeg[n] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for e in succ[n]:
            indeg[e.target] -= 1
            if indeg[e.target] == 0:
                heapq.heappush(ready, (rank[e.target], e.target))
    if len(order) < len(nodes):
        raise _Cycle(_one_cycle(set(nodes) - set(order), succ))
    return order


class _Cycle(Exception):
    def __init__(self, edges: list[ChainEdge]) -> None:
        super().__init__()
        self.edges = edges


def _one_cycle(stuck: set[str], succ: dict[str, list[ChainEdge]]) -> list[ChainEdge]:
    """The edges of one cycle among ``stuck`` (the nodes a topological sort left over).

    Nodes downstream of a cycle are left over too without being on one: those without a
    left-over successor are peeled off first, so the walk starts on a cycle.
    """
    stuck = set(stuck)
    while True:
        ends = {n for n in stuck if not any(e.target in stuck for e in succ[n])}
        if not ends:
            break
        stuck -= ends
    start = min(stuck)
    path: list[ChainEdge] = []
    where: dict[str, int] = {start: 0}
    node = start
    while True:
        edge = next(e for e in succ[node] if e.target in stuck)
        path.append(edge)
        node = edge.target
        if node in where:
            return path[where[node]:]
        where[node] = len(path)


def _cycle_error(graph: FlowGraph, aws_ref: str, cycle: list[ChainEdge]) -> FlowNetworkError:
    def name(fid: str) -> str:
        if fid in graph.site_names:
            return f"site {fid}"
        info = graph.lookup(fid)
        return f"{info.name} ({fid}, layer {info.layer})" if info is not None else fid

    text = name(cycle[0].source) + "".join(f" —{e.via}→ {name(e.target)}" for e in cycle)
    links = sorted({e.via for e in cycle if e.via not in ("aws_ref", "next_down")})
    return FlowNetworkError(
        f"The water chain of {aws_ref} goes round in a cycle: {text}. Each link must point "
        "downstream, to the next element of the chain: fix the "
        f"{' / '.join(links) or 'link'} of one of these features.")


#: Edges with their basis, per graph: many chains share an edge, and its basis is the same.
_BASED: weakref.WeakKeyDictionary[FlowGraph, dict[ChainEdge, ChainEdge]] = \
    weakref.WeakKeyDictionary()


def _with_basis(graph: FlowGraph, edge: ChainEdge, based: dict[ChainEdge, ChainEdge]
                ) -> ChainEdge:
    out = based.get(edge)
    if out is None:
        out = dataclasses.replace(edge, basis=edge_basis(graph, edge))
        based[edge] = out
    return out


def water_chain(graph: FlowGraph, aws_ref: str, *, tails: UnitTails | None = None
                ) -> WaterChain:
    """Follow a site's water from its ultimate sources to its ultimate receiving bodies.

    Parameters
    ----------
    graph : FlowGraph
        From :func:`build_flow_graph`.
    aws_ref : str
        The site's AWS reference (a key of ``graph.site_names``).
    tails : UnitTails, optional
        Shared unit paths (for many sites, where :meth:`UnitTails.applies`): the walk stops
        at the first catchment unit and the units below it come from ``tails``.  The
        chain has the same nodes, edges and gaps; the units below the first come last.

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
    stop = tails is not None
    returns: set[tuple[str, str]] = set()
    supply = _walk_supply(graph, aws_ref, edges, gaps, extra_in)
    discharge = _walk_discharge(graph, aws_ref, edges, gaps, set(supply), extra_out, stop,
                                returns)
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
        returns.clear()
        supply = _walk_supply(graph, aws_ref, edges, gaps, extra_in)
        discharge = _walk_discharge(graph, aws_ref, edges, gaps, set(supply), extra_out, stop,
                                    returns)
    below: tuple[list[ChainNode], list[ChainEdge]] = ([], [])
    if tails is not None:
        entries = [f for f in discharge if graph.kind(f) == "catchment_unit"]
        below = tails.below(entries, [*supply, aws_ref, *discharge])
    reached = [*supply, *discharge, *(n.fid for n in below[0])]
    gaps += [p for p in graph.problems if any(f"({f})" in p for f in reached)]
    nodes = list(dict.fromkeys([*supply, aws_ref, *discharge]))
    rank: dict[str, tuple[int, int]] = {}
    for k, fid in enumerate(reversed(supply)):
        rank[fid] = (0, k)
    rank[aws_ref] = (1, 0)
    for k, fid in enumerate(discharge):
        rank.setdefault(fid, (2, k))
    try:  # back into a source water body is downstream, not round: not an order constraint
        order = _flow_order(nodes, [e for k, e in edges.items() if k not in returns], rank)
    except _Cycle as cycle:
        raise _cycle_error(graph, aws_ref, cycle.edges) from None
    has_out = {e.source for e in edges.values()} | {e.source for e in below[1]}
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
    chain_nodes += below[0]
    position = {n.fid: k for k, n in enumerate(chain_nodes)}
    based = _BASED.setdefault(graph, {})
    ordered_edges = sorted((*(_with_basis(graph, e, based) for e in edges.values()), *below[1]),
                           key=lambda e: (position[e.source], position[e.target]))
    return WaterChain(aws_ref, tuple(chain_nodes), tuple(ordered_edges), tuple(dict.fromkeys(gaps)))
