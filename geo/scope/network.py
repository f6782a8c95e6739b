"""The catchment-unit network: units linked by ``next_down``, walked up and down.

Every unit has at most one unit downstream (``next_down``: its fid, empty at a sink), so
the network is a forest rooted at the sinks.  :func:`build_unit_network` indexes it with
arrays (parents, children in CSR form, depths by pointer jumping), refuses links that
name no unit and cycles with a message naming the units, and :class:`UnitNetwork` walks
upstream (everything draining into a unit) and downstream (to the sink).  Also here:
which units a geometry lies in (:func:`units_intersecting`) and the metric CRS of each
UTM zone (:func:`metric_groups`), shared by the scope engine's modules.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
import shapely
from shapely.geometry import Point

from geo.core.crs import metric_crs
from geo.core.errors import FlowNetworkError

__all__ = [
    "UnitNetwork",
    "build_unit_network",
    "metric_groups",
    "split_refs",
    "units_intersecting",
]


def split_refs(value: object) -> list[str]:
    """Split a link property (``"a, b"``, a list, None/NaN) into a list of ids."""
    if value is None or value is pd.NA:
        return []
    if isinstance(value, float) and np.isnan(value):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


@lru_cache(maxsize=128)
def _zone_crs(zone: int, south: bool) -> pyproj.CRS:
    centre = Point(zone * 6.0 - 183.0, -10.0 if south else 10.0)
    return metric_crs(gpd.GeoSeries([centre], crs="EPSG:4326"))


def metric_groups(geoms: gpd.GeoSeries | gpd.GeoDataFrame) -> list[tuple[np.ndarray, pyproj.CRS]]:
    """Split EPSG:4326 geometries by UTM zone: ``(boolean mask, metric CRS)`` per zone.

    The CRS is :func:`geo.core.crs.metric_crs` of the zone, looked up once per zone and process
    (the lookup queries the PROJ database and costs about half a second).
    """
    series = geoms.geometry if isinstance(geoms, gpd.GeoDataFrame) else geoms
    if len(series) == 0:
        return []
    points = series.representative_point()
    zone = np.clip(np.floor((points.x.to_numpy() + 180.0) / 6.0).astype(int) + 1, 1, 60)
    south = points.y.to_numpy() < 0
    key = np.where(south, -zone, zone)
    return [(key == k, _zone_crs(abs(int(k)), bool(k < 0))) for k in np.unique(key)]


# --- the catchment-unit network ---------------------------------------------------------


@dataclass(frozen=True, eq=False)
class UnitNetwork:
    """Catchment units and their ``next_down`` links, ready for upstream/downstream walks.

    Build it with :func:`build_unit_network`.  Arrays are aligned with ``fids``;
    ``parent`` is the index of the unit downstream (-1 at a sink), ``depth`` the number of
    ``next_down`` steps to the sink.
    """

    fids: tuple[str, ...]
    names: tuple[str, ...]
    levels: tuple[str, ...]
    index: dict[str, int]
    parent: np.ndarray
    depth: np.ndarray
    child_order: np.ndarray
    child_start: np.ndarray
    _tour: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def euler_tour(self) -> tuple[np.ndarray, np.ndarray]:
        """Euler-tour intervals ``(tin, tout)`` over the forest rooted at the sinks.

        Unit *a* is upstream of (or equal to) unit *b* exactly when
        ``tin[b] <= tin[a] < tout[b]``.  Computed on first use.
        """
        if not self._tour:
            n = len(self.fids)
            tin = np.full(n, -1, dtype=np.int64)
            tout = np.full(n, -1, dtype=np.int64)
            clock = 0
            for root in np.flatnonzero(self.parent < 0):
                stack = [(int(root), False)]
                while stack:
                    i, done = stack.pop()
                    if done:
                        tout[i] = clock
                        continue
                    tin[i] = clock
                    clock += 1
                    stack.append((i, True))
                    stack.extend((int(c), False) for c in self.children(i))
            self._tour.update(tin=tin, tout=tout)
        return self._tour["tin"], self._tour["tout"]

    def __len__(self) -> int:
        return len(self.fids)

    def children(self, i: int) -> np.ndarray:
        """Indices of the units draining directly into unit ``i``."""
        return self.child_order[self.child_start[i]:self.child_start[i + 1]]

    def downstream(self, seeds: Iterable[str]) -> list[tuple[str, str, int]]:
        """Units strictly downstream of ``seeds``, nearest first.

        Returns
        -------
        list of (fid, seed fid, steps)
            Each downstream unit once, with the seed it was first reached from and the
            number of ``next_down`` steps.
        """
        seen = {self.index[s] for s in seeds if s in self.index}
        out: list[tuple[str, str, int]] = []
        frontier = [(i, i) for i in sorted(seen, key=lambda j: self.fids[j])]
        steps = 0
        while frontier:
            steps += 1
            nxt = []
            for i, seed in frontier:
                p = int(self.parent[i])
                if p >= 0 and p not in seen:
                    seen.add(p)
                    out.append((self.fids[p], self.fids[seed], steps))
                    nxt.append((p, seed))
            frontier = nxt
        return out

    def upstream(self, seeds: Iterable[str]) -> list[tuple[str, str, int]]:
        """Units strictly upstream of ``seeds`` (everything draining into them), nearest first.

        Returns
        -------
        list of (fid, seed fid, steps)
            As :meth:`downstream`, walking against the flow.
        """
        seen = {self.index[s] for s in seeds if s in self.index}
        out: list[tuple[str, str, int]] = []
        queue = deque((i, i, 0) for i in sorted(seen, key=lambda j: self.fids[j]))
        while queue:
            i, seed, steps = queue.popleft()
            for c in self.children(i):
                c = int(c)
                if c not in seen:
                    seen.add(c)
                    out.append((self.fids[c], self.fids[seed], steps + 1))
                    queue.append((c, seed, steps + 1))
        return out

    def upstream_or_same(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Vectorised test: is unit ``a[k]`` upstream of, or the same as, unit ``b[k]``.

        ``a`` and ``b`` are index arrays (see :attr:`index`); ``-1`` means "no unit" and
        gives False.
        """
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        valid = (a >= 0) & (b >= 0)
        a0, b0 = np.where(valid, a, 0), np.where(valid, b, 0)
        tin, tout = self.euler_tour()
        return valid & (tin[b0] <= tin[a0]) & (tin[a0] < tout[b0])


def _cycle_message(parent: np.ndarray, start: int, fids: Sequence[str],
                   names: Sequence[str], layers: Sequence[str]) -> str:
    order: dict[int, int] = {}
    i = start
    while i not in order:
        order[i] = len(order)
        i = int(parent[i])
    cycle = [j for j, pos in sorted(order.items(), key=lambda kv: kv[1]) if pos >= order[i]]
    shown = [*cycle, cycle[0]] if len(cycle) <= 8 else [*cycle[:6], -1, cycle[-1], cycle[0]]
    chain = " → ".join(f"… {len(cycle) - 7} more …" if j < 0 else f"{names[j]} ({fids[j]})"
                       for j in shown)
    where = ", ".join(sorted({layers[j] for j in cycle}))
    return (f"Catchment units' next_down links form a cycle: {chain} (layer {where}). "
            "Water must reach a sink: set next_down of one of these units to the unit "
            "really downstream, or leave it empty at the outlet.")


def build_unit_network(units: gpd.GeoDataFrame | pd.DataFrame) -> UnitNetwork:
    """Index catchment units by their ``next_down`` links.

    Parameters
    ----------
    units : GeoDataFrame
        Catchment units with the standard columns (``fid``, ``name``, ``layer``) plus
        ``next_down`` (fid of the unit downstream; None/empty at a sink) and ``level``.

    Returns
    -------
    UnitNetwork

    Raises
    ------
    FlowNetworkError
        If a fid is repeated, a ``next_down`` names no unit, or links form a cycle; the
        message names the units and the layer.
    """
    def column(name: str, default: str, few: bool = False) -> list[str]:
        """``str(value)``, or ``default`` where missing, for every unit (vectorised).

        With ``few`` (a level, a layer: a handful of values for a million units) the
        distinct values are converted once and shared, not a million strings made.
        """
        if name not in units:
            return [default] * len(units)
        values = units[name]
        if few:
            codes, uniques = pd.factorize(values)
            texts = np.array([str(v) for v in uniques] + [default], dtype=object)
            return texts[np.where(codes < 0, len(texts) - 1, codes)].tolist()
        present = values.notna().to_numpy()
        given = values[present] if not present.all() else values
        if pd.api.types.is_string_dtype(given):
            texts = given.to_numpy(dtype=object)  # text already: str(v) is v
        else:
            texts = given.astype(object).map(str).to_numpy(dtype=object)
        if present.all():
            return texts.tolist()
        out = np.full(len(units), default, dtype=object)
        out[present] = texts
        return out.tolist()

    fids = column("fid", "")
    names = column("name", "") if "name" in units else list(fids)
    layers = column("layer", "catchment units", few=True)
    levels = column("level", "", few=True)
    index = dict(zip(fids, range(len(fids)), strict=True))
    if len(index) < len(fids):
        twice = int(np.flatnonzero(pd.Index(fids, dtype=object).duplicated())[0])
        raise FlowNetworkError(
            f"Catchment unit id {fids[twice]!r} is used twice (layer {layers[twice]}); "
            "give every unit its own fid so next_down links are unambiguous.")
    n = len(fids)
    # the first id of next_down, stripped (Arrow's trim is Python's strip, for every
    # character), looked up among the fids: all in Arrow's kernels, not a Python loop
    first = pc.utf8_trim_whitespace(pc.list_element(pc.split_pattern(
        pa.array(column("next_down", ""), type=pa.large_string()), ",", max_splits=1), 0))
    parent = pc.index_in(first, value_set=pa.array(fids, type=pa.large_string())) \
        .fill_null(-1).to_numpy().astype(np.int64)
    dangling = np.flatnonzero((parent < 0) & (pc.utf8_length(first).to_numpy() > 0))
    if len(dangling):
        i = int(dangling[0])
        raise FlowNetworkError(
            f"Catchment unit {names[i]} ({fids[i]}, layer {layers[i]}): next_down "
            f"{first[i].as_py()!r} names no catchment unit. Use the fid of the unit downstream, "
            "or leave next_down empty at the outlet to the sea or a terminal lake.")
    # Children in CSR form, so the Euler tour and upstream walks are array lookups.
    has_parent = parent >= 0
    child_order = np.argsort(np.where(has_parent, parent, n), kind="stable")
    counts = np.bincount(parent[has_parent], minlength=n)
    child_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    child_order = child_order[: int(has_parent.sum())]
    # Pointer jumping: after k rounds each unit knows its ancestor 2^k steps down and the
    # steps to it, so depths and sinks take log2(n) vectorised rounds, not a Python walk.
    # A unit whose chain never reaches a sink is on, or drains into, a cycle.
    up = np.where(has_parent, parent, np.arange(n))
    depth = has_parent.astype(np.int64)
    for _ in range(max(1, int(np.ceil(np.log2(max(n, 2))))) + 1):
        depth, up = depth + depth[up], up[up]  # a sink points at itself with 0 steps
    stuck = np.flatnonzero(parent[up] >= 0) if n else np.array([], dtype=np.int64)
    if len(stuck):
        raise FlowNetworkError(_cycle_message(parent, int(stuck[0]), fids, names, layers))
    return UnitNetwork(tuple(fids), tuple(names), tuple(levels), index, parent, depth,
                       child_order, child_start)


def units_intersecting(geoms: gpd.GeoSeries, units: gpd.GeoDataFrame) -> pd.DataFrame:
    """Which units each geometry lies in (interiors meet; touching a boundary does not count).

    Parameters
    ----------
    geoms : GeoSeries
        Any geometries, same CRS as ``units`` (topological predicates need no metric CRS).
    units : GeoDataFrame
        Catchment units.

    Returns
    -------
    DataFrame
        Columns ``geom`` (positional index into ``geoms``) and ``unit`` (positional index
        into ``units``), one row per pair.
    """
    if len(geoms) == 0 or len(units) == 0:
        return pd.DataFrame({"geom": np.array([], dtype=np.int64),
                             "unit": np.array([], dtype=np.int64)})
    g_idx, u_idx = units.sindex.query(np.asarray(geoms.values), predicate="intersects")
    a = np.asarray(geoms.values)[g_idx]
    b = np.asarray(units.geometry.values)[u_idx]
    keep = ~shapely.touches(a, b)
    return pd.DataFrame({"geom": g_idx[keep], "unit": u_idx[keep]})
