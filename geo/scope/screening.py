"""IWRA band counts for a portfolio of many sites, in bounded memory and near-linear time.

:func:`count_site_iwras` gives exactly what :func:`geo.scope.iwra.count_iwras` gives (on-site
IWRAs and IWRAs within each band per site, distances measured in the UTM zone of each
site) for thousands of sites against hundreds of thousands of IWRAs:

* sites are prepared once (:func:`prepare_sites`: one geometry per site, its UTM zone,
  bounds and bounding circle, projected);
* candidate pairs come from one STRtree envelope query per chunk of sites, so memory
  stays bounded however many pairs there are (10,000 sites × 250,000 IWRAs is ~30 M);
* each pair's distance is first *bracketed* from per-geometry bounds — below by the
  boxes' gap and the bounding circles, above by points the geometries must have on
  each side of their boxes — and measured exactly only where a threshold falls inside
  the bracket (a few per cent of the pairs);
* counts are summed per site, so partitions of the IWRAs can be counted apart (on dask
  workers, :mod:`geo.scope.distributed`) and added.

A pair is counted within a threshold exactly when its exact distance is: where the
bracket decides, the exact distance lies on the same side (the bracket has a margin of
a micrometre over any rounding).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geo.scope.iwra import band_label
from geo.scope.network import metric_groups

__all__ = [
    "SiteGeometries",
    "count_pairs",
    "count_site_iwras",
    "prepare_sites",
    "query_boxes",
    "query_boxes_of",
]

_MARGIN_M = 1e-6  # bracket margin over floating-point rounding, metres
_CHUNK_PAIRS = 400_000  # candidate pairs per chunk (its arrays stay in cache)


@dataclass(frozen=True)
class _Shapes:
    """Projected geometries with what the brackets need of each, computed once.

    ``ax, ay`` is a point of the geometry (the centre of its first part's box where that
    lies inside it, else its first vertex), ``ar`` the farthest vertex from it and
    ``inner`` the radius of a disc about it inside the geometry; ``circles`` the farthest
    vertex from the box centre; ``bounds`` the boxes.
    """

    geoms: np.ndarray
    bounds: np.ndarray  # (n, 4)
    circles: np.ndarray  # (n, 3)
    ax: np.ndarray
    ay: np.ndarray
    ar: np.ndarray
    inner: np.ndarray  # radius of a disc about (ax, ay) inside the geometry (0: none)

    @classmethod
    def of(cls, geoms: np.ndarray) -> _Shapes:
        if not len(geoms):
            empty = np.zeros(0)
            return cls(geoms, np.zeros((0, 4)), np.zeros((0, 3)), empty, empty, empty, empty)
        bounds = shapely.bounds(geoms)
        centres = np.column_stack([(bounds[:, 0] + bounds[:, 2]) / 2,
                                   (bounds[:, 1] + bounds[:, 3]) / 2])
        coords, index = shapely.get_coordinates(geoms, return_index=True)
        starts = np.searchsorted(index, np.arange(len(geoms)))
        # the anchor: the box centre of the first part (a site's first parcel; a polygon
        # itself) where that lies inside it, else the first vertex
        first = geoms.copy()
        parts = np.isin(shapely.get_type_id(geoms), (4, 5, 6, 7))
        if parts.any():
            first[parts] = shapely.get_geometry(geoms[parts], 0)
        first_bounds = bounds.copy()
        first_bounds[parts] = shapely.bounds(first[parts])
        anchors = np.column_stack([(first_bounds[:, 0] + first_bounds[:, 2]) / 2,
                                   (first_bounds[:, 1] + first_bounds[:, 3]) / 2])
        polygonal = np.isin(shapely.get_type_id(first), (3, 6))
        inside = polygonal & shapely.contains_xy(first, anchors[:, 0], anchors[:, 1])
        anchors[~inside] = coords[starts[~inside]]
        reach = _reach(coords, index, anchors)
        return cls(geoms, bounds, _reach(coords, index, centres),
                   np.ascontiguousarray(reach[:, 0]), np.ascontiguousarray(reach[:, 1]),
                   np.ascontiguousarray(reach[:, 2]),
                   np.where(inside, _to_edges(coords, index, anchors, len(geoms)), 0.0))


@dataclass(frozen=True)
class _Zone:
    """The sites of one UTM zone, projected."""

    sites: np.ndarray  # positions into SiteGeometries.refs
    crs: pyproj.CRS
    shapes: _Shapes


@dataclass(frozen=True)
class SiteGeometries:
    """Every site as one geometry (its parcels), grouped by UTM zone for measuring."""

    refs: np.ndarray
    zones: tuple[_Zone, ...]
    lonlat_bounds: np.ndarray  # (n, 4) in EPSG:4326, per site


def _reach(coords: np.ndarray, index: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``(x, y, r)`` per geometry: the point and the largest distance from it to a vertex.

    Every point of a geometry lies in the convex hull of its vertices, so within ``r``.
    """
    out = np.zeros((len(points), 3))
    out[:, :2] = points
    reach = np.hypot(coords[:, 0] - points[index, 0], coords[:, 1] - points[index, 1])
    out[:, 2] = _per_geometry(np.maximum, reach, index, len(points), 0.0)
    return out


def _per_geometry(ufunc: np.ufunc, values: np.ndarray, owner: np.ndarray, n: int,
                  empty: float) -> np.ndarray:
    """``ufunc``-reduce ``values`` per owner (``owner`` sorted); ``empty`` where none."""
    out = np.full(n, empty)
    if not len(values):
        return out
    starts = np.flatnonzero(np.concatenate([[True], owner[1:] != owner[:-1]]))
    out[owner[starts]] = ufunc.reduceat(values, starts)
    return out


def _to_edges(coords: np.ndarray, index: np.ndarray, points: np.ndarray, n: int) -> np.ndarray:
    """Per geometry: the distance from its point to the nearest of its edges.

    Every pair of consecutive vertices counts as an edge (the jump from one ring or part
    to the next too), so this is at most the distance to the boundary: a disc of that
    radius about a point inside the geometry lies inside it.
    """
    same = np.flatnonzero(index[1:] == index[:-1])
    if not len(same):
        return np.zeros(n)
    owner = index[same]
    ax, ay = coords[same, 0], coords[same, 1]
    ex, ey = coords[same + 1, 0] - ax, coords[same + 1, 1] - ay
    px, py = points[owner, 0] - ax, points[owner, 1] - ay
    length = ex * ex + ey * ey
    t = np.clip(np.divide(px * ex + py * ey, length, out=np.zeros_like(length),
                          where=length > 0), 0.0, 1.0)
    dist = np.hypot(px - t * ex, py - t * ey)
    return _per_geometry(np.minimum, dist, owner, n, 0.0)


def prepare_sites(parcels: gpd.GeoDataFrame) -> SiteGeometries:
    """One geometry per site (a collection of its parcels), per UTM zone, projected.

    The same grouping and projection as :func:`geo.scope.iwra.count_iwras`, so distances
    are the same numbers.

    Parameters
    ----------
    parcels : GeoDataFrame
        Site parcels in EPSG:4326 with ``aws_ref``.
    """
    parcels = parcels[~parcels.geometry.is_empty & parcels.geometry.notna()]
    codes, refs = pd.factorize(parcels["aws_ref"].astype(object))
    order = np.argsort(codes, kind="stable")  # a site's parcels, in the layer's order
    site_geoms = gpd.GeoSeries(
        shapely.geometrycollections(np.asarray(parcels.geometry.values)[order],
                                    indices=codes[order]),
        crs="EPSG:4326")
    zones = []
    for mask, metric in metric_groups(site_geoms):
        geoms = np.asarray(site_geoms[mask].to_crs(metric).values)
        zones.append(_Zone(np.flatnonzero(mask), metric, _Shapes.of(geoms)))
    return SiteGeometries(np.asarray(refs, dtype=object), tuple(zones),
                          shapely.bounds(np.asarray(site_geoms.values)))


def query_boxes(sites: SiteGeometries, distance_m: float) -> np.ndarray:
    """Boxes (EPSG:4326) around each site holding everything within ``distance_m`` of it.

    As generous as :func:`geo.scope.iwra.count_iwras`' choice of candidates.
    """
    return query_boxes_of(sites.lonlat_bounds, distance_m)


def query_boxes_of(bounds: np.ndarray, distance_m: float) -> np.ndarray:
    """Boxes around ``(n, 4)`` lon/lat bounds holding everything within ``distance_m``."""
    xmin, ymin, xmax, ymax = np.asarray(bounds, dtype=float).T
    dlat = distance_m / 110_000.0 * 1.1
    coslat = np.maximum(np.cos(np.radians(np.minimum(
        np.maximum(np.abs(ymin), np.abs(ymax)) + dlat, 89.0))), 0.01)
    dlon = dlat / coslat
    return shapely.box(xmin - dlon, ymin - dlat, xmax + dlon, ymax + dlat)


def _bracket(ab: np.ndarray, bb: np.ndarray, ac: np.ndarray, bc: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the distance of each pair, from bounds and circles.

    Below: the gap between the boxes, and the centres' distance less both radii.  Above:
    a geometry touches every side of its box, so the distance is at most that between a
    point on a side of one box and a point on a side of the other (the nearest pair of
    sides, at the farthest offset along them); and at most the reach to the far corner.
    """
    gap_x = np.maximum(0.0, np.maximum(bb[:, 0] - ab[:, 2], ab[:, 0] - bb[:, 2]))
    gap_y = np.maximum(0.0, np.maximum(bb[:, 1] - ab[:, 3], ab[:, 1] - bb[:, 3]))
    low = np.maximum(np.hypot(gap_x, gap_y),
                     np.hypot(bc[:, 0] - ac[:, 0], bc[:, 1] - ac[:, 1]) - ac[:, 2] - bc[:, 2])
    span_x = np.maximum(bb[:, 2] - ab[:, 0], ab[:, 2] - bb[:, 0])
    span_y = np.maximum(bb[:, 3] - ab[:, 1], ab[:, 3] - bb[:, 1])
    side_x = np.minimum(np.minimum(np.abs(ab[:, 0] - bb[:, 0]), np.abs(ab[:, 0] - bb[:, 2])),
                        np.minimum(np.abs(ab[:, 2] - bb[:, 0]), np.abs(ab[:, 2] - bb[:, 2])))
    side_y = np.minimum(np.minimum(np.abs(ab[:, 1] - bb[:, 1]), np.abs(ab[:, 1] - bb[:, 3])),
                        np.minimum(np.abs(ab[:, 3] - bb[:, 1]), np.abs(ab[:, 3] - bb[:, 3])))
    high = np.minimum(np.hypot(span_x, span_y),
                      np.minimum(np.hypot(side_x, span_y), np.hypot(span_x, side_y)))
    return low - _MARGIN_M, high + _MARGIN_M


def _classes(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many (sorted) thresholds lie below each value: the pair is within the rest."""
    out = np.zeros(len(values), dtype=np.int8)
    for t in thresholds:
        out += values > t
    return out


def _count_chunk(zone: _Zone, rows: np.ndarray, tree: shapely.STRtree, iwras: _Shapes,
                 thresholds: np.ndarray) -> np.ndarray:
    """Counts ``(len(rows), thresholds)`` of IWRAs within each threshold of these sites.

    A first, cheap bracket from one point inside each geometry (the distance between the
    points less the discs about them that the geometries hold bounds it above; less the
    reaches to every vertex, below) decides most pairs; the undecided are bracketed again
    from their boxes and circles, and the rest measured exactly.
    """
    sites = zone.shapes
    reach = float(thresholds[-1])
    slots = len(thresholds) + 1
    b = sites.bounds[rows]
    left, right = tree.query(shapely.box(b[:, 0] - reach, b[:, 1] - reach,
                                         b[:, 2] + reach, b[:, 3] + reach))
    if not len(left):
        return np.zeros((len(rows), len(thresholds)), dtype=np.int64)
    per_site = np.bincount(left, minlength=len(rows))  # `left` comes sorted
    dx = iwras.ax[right] - np.repeat(sites.ax[rows], per_site)
    dy = iwras.ay[right] - np.repeat(sites.ay[rows], per_site)
    apart = np.sqrt(dx * dx + dy * dy)
    del dx, dy
    # the discs inside both bound the distance above, the reaches to every vertex below
    high = np.maximum(apart - iwras.inner[right] - np.repeat(sites.inner[rows], per_site), 0.0)
    low = apart - iwras.ar[right] - np.repeat(sites.ar[rows], per_site)
    del apart
    # classes of high (+margin); undecided when the threshold just below it is ≥ low
    cls = _classes(high, thresholds - _MARGIN_M)
    below = np.concatenate([[-np.inf], thresholds + _MARGIN_M])[cls]
    undecided = np.flatnonzero(low - _MARGIN_M <= below - _MARGIN_M)
    if len(undecided):
        l2, r2 = left[undecided], right[undecided]
        fine_low, fine_high = _bracket(sites.bounds[rows][l2], iwras.bounds[r2],
                                       sites.circles[rows][l2], iwras.circles[r2])
        fine_low = np.maximum(fine_low, low[undecided] - _MARGIN_M)
        fine_high = np.minimum(fine_high, high[undecided] + _MARGIN_M)
        top = _classes(fine_high, thresholds)
        exact = np.flatnonzero(_classes(fine_low, thresholds) != top)
        if len(exact):
            value = shapely.distance(sites.geoms[rows][l2[exact]], iwras.geoms[r2[exact]])
            top[exact] = _classes(value, thresholds)
        cls[undecided] = top
    # a pair is within thresholds[k] for every k ≥ its class
    histogram = np.bincount(left * slots + cls, minlength=len(rows) * slots)
    return np.cumsum(histogram.reshape(len(rows), slots), axis=1)[:, :-1]


def count_pairs(sites: SiteGeometries, iwras: gpd.GeoSeries, thresholds_m: Sequence[float], *,
                workers: int = 1) -> np.ndarray:
    """How many of ``iwras`` lie within each threshold of each site.

    Parameters
    ----------
    sites : SiteGeometries
        From :func:`prepare_sites`.
    iwras : GeoSeries
        IWRA geometries in EPSG:4326 (any subset: counts of disjoint subsets add up).
    thresholds_m : sequence of float
        Distances in metres.
    workers : int
        Threads (shapely and numpy release the GIL in the heavy parts).

    Returns
    -------
    ndarray
        ``(len(sites.refs), len(thresholds_m))`` integer counts.
    """
    given = np.asarray(list(thresholds_m), dtype=float)
    order = np.argsort(given, kind="stable")
    thresholds = given[order]  # the classes below need them sorted
    counts = np.zeros((len(sites.refs), len(thresholds)), dtype=np.int64)
    geoms = np.asarray(iwras.values)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if not len(geoms) or not len(sites.refs):
        return counts[:, np.argsort(order)]
    reach = float(thresholds.max())
    lonlat = gpd.GeoSeries(geoms, crs="EPSG:4326")
    lonlat_tree = shapely.STRtree(geoms)

    def prepare(zone: _Zone) -> list[tuple[_Zone, np.ndarray, shapely.STRtree, _Shapes]]:
        """The zone's IWRAs projected, and its sites cut into chunks of bounded pairs."""
        # candidates: the IWRAs in the zone's sites' box, widened by the largest band
        zone_box = np.concatenate([sites.lonlat_bounds[zone.sites, :2].min(axis=0),
                                   sites.lonlat_bounds[zone.sites, 2:].max(axis=0)])
        near = lonlat_tree.query(query_boxes_of(zone_box[None, :], reach)[0])
        if not len(near):
            return []
        shapes = _Shapes.of(np.asarray(lonlat.iloc[near].to_crs(zone.crs).values))
        tree = shapely.STRtree(shapes.geoms)
        per_site = max(1.0, len(tree.query(shapely.box(*_sample_box(zone, reach)))))
        step = int(max(16, min(len(zone.sites), _CHUNK_PAIRS / per_site)))
        return [(zone, np.arange(start, min(start + step, len(zone.sites))), tree, shapes)
                for start in range(0, len(zone.sites), step)]

    def run(job: tuple[_Zone, np.ndarray, shapely.STRtree, _Shapes]
            ) -> tuple[np.ndarray, np.ndarray]:
        zone, rows = job[0], job[1]
        return zone.sites[rows], _count_chunk(*job, thresholds)

    # one zone at a time (its projected IWRAs are the memory), its chunks in parallel
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for zone in sites.zones:
            results: Iterable[tuple[np.ndarray, np.ndarray]] = pool.map(run, prepare(zone))
            for positions, part in results:
                counts[positions] += part
    out = np.empty_like(counts)
    out[:, order] = counts
    return out


def _sample_box(zone: _Zone, reach: float) -> tuple[float, float, float, float]:
    """The query box of the zone's median site (to size the chunks)."""
    b = zone.shapes.bounds[len(zone.shapes.bounds) // 2]
    return (b[0] - reach, b[1] - reach, b[2] + reach, b[3] + reach)


def count_site_iwras(parcels: gpd.GeoDataFrame, iwras: gpd.GeoSeries | gpd.GeoDataFrame, *,
                     bands_km: Sequence[float] = (1.0, 10.0, 50.0),
                     onsite_tolerance_m: float = 50.0, site_refs: Iterable[str] | None = None,
                     workers: int = 1) -> pd.DataFrame:
    """Per site: on-site IWRAs and IWRAs within each band (as :func:`count_iwras`).

    Parameters
    ----------
    parcels : GeoDataFrame
        Site parcels (EPSG:4326) with ``aws_ref``.
    iwras : GeoSeries or GeoDataFrame
        IWRAs in EPSG:4326 (those within the largest band of some site suffice).
    bands_km, onsite_tolerance_m, site_refs
        As for :func:`geo.scope.iwra.count_iwras`.
    workers : int
        Threads.

    Returns
    -------
    DataFrame
        Indexed by ``aws_ref``: ``iwras_onsite`` and one column per band.
    """
    bands = sorted(float(b) for b in bands_km)
    # count_iwras keeps the pairs within the largest band only, the on-site ones included
    thresholds = [min(onsite_tolerance_m, bands[-1] * 1000.0), *(b * 1000.0 for b in bands)]
    sites = prepare_sites(parcels)
    geoms = iwras.geometry if isinstance(iwras, gpd.GeoDataFrame) else iwras
    counts = count_pairs(sites, geoms, thresholds, workers=workers)
    return counts_table(sites.refs, counts, bands, site_refs)


def counts_table(refs: np.ndarray, counts: np.ndarray, bands: Sequence[float],
                 site_refs: Iterable[str] | None) -> pd.DataFrame:
    """The counts of :func:`count_pairs` as the portfolio's IWRA columns."""
    columns = ["iwras_onsite", *(band_label(b) for b in sorted(bands))]
    table = pd.DataFrame(counts, index=pd.Index(refs, name="aws_ref"), columns=columns)
    wanted = list(dict.fromkeys(site_refs if site_refs is not None else refs))
    return table.reindex(wanted, fill_value=0).astype(int)
