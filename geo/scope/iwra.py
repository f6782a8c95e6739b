"""IWRA screening: which Important Water-Related Areas lie on site, near it, upstream, downstream.

AWS Standard v2.0 asks for on-site IWRAs (indicator 1.3.6) and catchment IWRAs (1.5.5).
:func:`screen_iwras` measures the distance from every site to every IWRA in a metric
CRS (:func:`geo.core.crs.metric_crs`, one per UTM zone), classifies each as

* ``"onsite"`` — it intersects or touches a parcel, or lies within ``onsite_tolerance_m``;
* ``"catchment"`` — otherwise,

and puts it in the smallest proximity band containing it (IBAT-style bands, default
1 / 10 / 50 km).  All sites are screened at once with one STRtree query per UTM zone.
:func:`iwra_relations` then says, through the catchment-unit network, whether an IWRA
lies upstream of a water source the site relies on, downstream of its discharges, both
or neither (at the resolution of the catchment units).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.scope.network import metric_groups, units_intersecting

__all__ = [
    "IWRA_COLUMNS",
    "RELATIONS",
    "band_counts",
    "band_label",
    "count_iwras",
    "iwra_relations",
    "screen_iwras",
]

#: Columns of :func:`screen_iwras`' result, in order.
IWRA_COLUMNS = ("aws_ref", "fid", "name", "category", "layer", "accuracy", "classification",
                "distance_m", "band_km")
#: The hydrological relations an IWRA can have to a site.
RELATIONS = ("upstream of water source", "downstream of discharge", "both", "neither")
_CATEGORY_COLUMNS = ("category", "iwra_category", "iwra_type", "type")


def band_label(band_km: float) -> str:
    """Column name of a band: ``iwras_within_10km``."""
    return f"iwras_within_{band_km:g}km"


def _category(iwras: pd.DataFrame) -> pd.Series:
    for column in _CATEGORY_COLUMNS:
        if column in iwras.columns:
            return iwras[column].astype("object").where(iwras[column].notna(), None)
    return pd.Series([None] * len(iwras), index=iwras.index, dtype="object")


def screen_iwras(
    sites: gpd.GeoDataFrame,
    iwras: gpd.GeoDataFrame,
    *,
    bands_km: Sequence[float] = (1.0, 10.0, 50.0),
    onsite_tolerance_m: float = 50.0,
    max_distance_m: float | None = None,
) -> pd.DataFrame:
    """Distance, on-site/catchment class and band of every (site, IWRA) pair.

    Parameters
    ----------
    sites : GeoDataFrame
        Site parcels in EPSG:4326 with an ``aws_ref`` column; several rows per site are
        fine (the distance is to the nearest parcel).
    iwras : GeoDataFrame
        IWRA features in EPSG:4326 with the standard columns.
    bands_km : sequence of float
        Proximity bands in kilometres.
    onsite_tolerance_m : float
        An IWRA this close to a parcel (or touching it) is on-site.
    max_distance_m : float, optional
        Leave out pairs farther apart than this (the portfolio uses the largest band);
        None keeps every IWRA of the workspace.

    Returns
    -------
    DataFrame
        Columns :data:`IWRA_COLUMNS`, sorted by site, on-site first, then distance.
        ``band_km`` is the smallest band containing the IWRA, NaN when beyond them all.
    """
    empty = pd.DataFrame({c: pd.Series(dtype="float64" if c in ("distance_m", "band_km")
                                       else "object") for c in IWRA_COLUMNS})
    if sites.empty or iwras.empty:
        return empty
    bands = np.sort(np.asarray(list(bands_km), dtype=float))
    refs, site_pos, iwra_pos, distance = _pairs(sites, iwras, max_distance_m)
    if len(site_pos) == 0:
        return empty

    def column(name: str) -> np.ndarray:
        if name not in iwras.columns:
            return np.full(len(iwra_pos), None, dtype=object)
        return iwras[name].to_numpy(dtype=object)[iwra_pos]

    out = pd.DataFrame({
        "aws_ref": np.asarray(refs, dtype=object)[site_pos],
        "fid": iwras["fid"].astype(str).to_numpy(dtype=object)[iwra_pos],
        "name": iwras["name"].astype(str).to_numpy(dtype=object)[iwra_pos],
        "category": _category(iwras).to_numpy(dtype=object)[iwra_pos],
        "layer": column("layer"),
        "accuracy": column("accuracy"),
        "classification": np.where(distance <= onsite_tolerance_m, "onsite", "catchment"),
        "distance_m": distance,
    })
    slot = np.searchsorted(bands * 1000.0, out["distance_m"].to_numpy(), side="left")
    out["band_km"] = np.where(slot < len(bands), bands[np.minimum(slot, len(bands) - 1)], np.nan)
    order = np.lexsort((out["fid"].to_numpy(), out["distance_m"].to_numpy(),
                        out["classification"].to_numpy() != "onsite", out["aws_ref"].to_numpy()))
    return out.iloc[order].reset_index(drop=True)


def _near_in_degrees(sites: gpd.GeoSeries, iwras: gpd.GeoSeries,
                     distance_m: float) -> np.ndarray:
    """Positions of IWRAs whose box comes within ``distance_m`` of the sites' box (generous)."""
    xmin, ymin, xmax, ymax = sites.total_bounds
    dlat = distance_m / 110_000.0 * 1.05
    coslat = max(np.cos(np.radians(min(max(abs(ymin), abs(ymax)) + dlat, 89.0))), 0.01)
    dlon = dlat / coslat
    return np.unique(iwras.sindex.query(shapely.box(xmin - dlon, ymin - dlat, xmax + dlon,
                                                    ymax + dlat)))


def _pairs(sites: gpd.GeoDataFrame, iwras: gpd.GeoDataFrame, max_distance_m: float | None,
           thresholds_m: Sequence[float] | None = None,
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(site refs, site position, IWRA position, distance m) of every pair within reach.

    With ``thresholds_m`` (for counting), a pair's exact distance is measured only where
    its bounding boxes leave a threshold undecided; elsewhere the box gap stands in, which
    falls on the same side of every threshold.
    """
    sites = sites[~sites.geometry.is_empty & sites.geometry.notna()]
    # One geometry per site (a collection of its parcels): distance to it is the distance
    # to the nearest parcel, and each site is queried once.
    codes, refs = pd.factorize(sites["aws_ref"].astype(object))
    refs = np.asarray(refs, dtype=object)
    # a site's parcels need not be next to each other in the layer (a Hilbert-sorted file)
    order = np.argsort(codes, kind="stable")
    site_geoms = gpd.GeoSeries(
        shapely.geometrycollections(np.asarray(sites.geometry.values)[order],
                                    indices=codes[order]),
        crs="EPSG:4326")
    iwra_geoms = iwras.geometry.reset_index(drop=True)
    parts = []
    for mask, metric in metric_groups(site_geoms):
        site_m = np.asarray(site_geoms[mask].to_crs(metric).values)
        site_idx = np.flatnonzero(mask)
        if max_distance_m is None:
            candidates = np.arange(len(iwra_geoms))
        else:
            candidates = _near_in_degrees(site_geoms[mask], iwra_geoms, max_distance_m)
        iwra_m = np.asarray(iwra_geoms.iloc[candidates].to_crs(metric).values)
        if max_distance_m is None:
            left = np.repeat(np.arange(len(site_m)), len(iwra_m))
            right = np.tile(np.arange(len(iwra_m)), len(site_m))
        else:
            # envelope query, then one exact distance per pair (cheaper than "dwithin",
            # which measures every pair before we would measure it again)
            xmin, ymin, xmax, ymax = shapely.bounds(site_m).T
            d = max_distance_m
            left, right = shapely.STRtree(iwra_m).query(
                shapely.box(xmin - d, ymin - d, xmax + d, ymax + d))
        if thresholds_m is None:
            distance = shapely.distance(site_m[left], iwra_m[right])
        else:
            distance = _bracketed_distance(site_m[left], iwra_m[right], thresholds_m)
        keep = distance <= (np.inf if max_distance_m is None else max_distance_m)
        parts.append((site_idx[left[keep]], candidates[right[keep]], distance[keep]))
    if not parts:
        empty = np.array([], dtype=np.int64)
        return refs, empty, empty, np.array([], dtype=float)
    return (refs, np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]))


def _bracketed_distance(a: np.ndarray, b: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Distances, exact only where the bounding boxes cannot tell the side of a threshold."""
    ab, bb = shapely.bounds(a), shapely.bounds(b)
    gap_x = np.maximum(0.0, np.maximum(bb[:, 0] - ab[:, 2], ab[:, 0] - bb[:, 2]))
    gap_y = np.maximum(0.0, np.maximum(bb[:, 1] - ab[:, 3], ab[:, 1] - bb[:, 3]))
    low = np.hypot(gap_x, gap_y)
    # the true distance is at most the distance from a's bounding box to b's farthest corner
    span_x = np.maximum(bb[:, 2] - ab[:, 0], ab[:, 2] - bb[:, 0])
    span_y = np.maximum(bb[:, 3] - ab[:, 1], ab[:, 3] - bb[:, 1])
    high = np.hypot(span_x, span_y)
    undecided = np.zeros(len(a), dtype=bool)
    for t in thresholds:
        undecided |= (low <= t) & (high > t)
    distance = low.copy()
    distance[undecided] = shapely.distance(a[undecided], b[undecided])
    return distance


def count_iwras(
    sites: gpd.GeoDataFrame,
    iwras: gpd.GeoDataFrame,
    *,
    bands_km: Sequence[float] = (1.0, 10.0, 50.0),
    onsite_tolerance_m: float = 50.0,
    site_refs: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Per site: on-site IWRAs and IWRAs within each band, without listing the pairs.

    The same measurement as :func:`screen_iwras` (+ :func:`band_counts`), counted with
    ``numpy.bincount``, for the portfolio of many sites.

    Returns
    -------
    DataFrame
        Indexed by ``aws_ref`` (every site of ``site_refs``, zeros included):
        ``iwras_onsite`` and one :func:`band_label` column per band.
    """
    bands = sorted(float(b) for b in bands_km)
    thresholds = [onsite_tolerance_m, *(b * 1000.0 for b in bands)]
    refs, site_pos, _, distance = _pairs(sites, iwras, max(bands) * 1000.0, thresholds)
    wanted = list(dict.fromkeys(site_refs if site_refs is not None else refs))
    counts = {"iwras_onsite": np.bincount(site_pos[distance <= onsite_tolerance_m],
                                          minlength=len(refs))}
    for band in bands:
        counts[band_label(band)] = np.bincount(site_pos[distance <= band * 1000.0],
                                               minlength=len(refs))
    table = pd.DataFrame(counts, index=pd.Index(refs, name="aws_ref"))
    return table.reindex(wanted, fill_value=0).astype(int)


def band_counts(screen: pd.DataFrame, site_refs: Iterable[str],
                bands_km: Sequence[float]) -> pd.DataFrame:
    """Per site: on-site IWRAs and IWRAs within each band (cumulative), zeros included.

    Parameters
    ----------
    screen : DataFrame
        From :func:`screen_iwras`.
    site_refs : iterable of str
        Every site to report, even with no IWRA nearby.
    bands_km : sequence of float
        The bands, in kilometres.

    Returns
    -------
    DataFrame
        Indexed by ``aws_ref``: ``iwras_onsite`` and one :func:`band_label` column per band.
    """
    refs = list(dict.fromkeys(site_refs))
    out = pd.DataFrame(index=pd.Index(refs, name="aws_ref"))
    grouped = screen.groupby("aws_ref")
    onsite = grouped["classification"].apply(lambda s: int((s == "onsite").sum()))
    out["iwras_onsite"] = onsite.reindex(refs).fillna(0).astype(int)
    for band in sorted(bands_km):
        within = screen[screen["distance_m"] <= band * 1000.0].groupby("aws_ref").size()
        out[band_label(band)] = within.reindex(refs).fillna(0).astype(int)
    return out


def iwra_relations(
    iwras: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    relied_on: Iterable[str],
    affected: Iterable[str],
    supply_features: gpd.GeoDataFrame | None = None,
    discharge_features: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """Hydrological relation of each IWRA to one site, and what it rests on.

    The water chain decides first: an IWRA that meets a feature of the supply chain
    (an intake, the river or lake it draws from) is "upstream of water source"; one that
    meets a discharge point or a receiving water body is "downstream of discharge".
    Otherwise the catchment units decide: an IWRA in a unit the site relies on (containing
    or upstream of its water sources and its provider's intakes) is upstream, one in a
    unit it affects (containing or downstream of its discharges and receiving waters) is
    downstream.  Either can give "both"; nothing gives "neither".  The unit answer is only
    as fine as the units: an IWRA in the same unit as an intake counts as upstream of it.

    Parameters
    ----------
    iwras : GeoDataFrame
        IWRAs (EPSG:4326) with ``fid``.
    units : GeoDataFrame
        The catchment units the relied-on / affected fids refer to (EPSG:4326).
    relied_on, affected : iterable of str
        Unit fids.
    supply_features, discharge_features : GeoDataFrame, optional
        Chain features (EPSG:4326, with ``name``) on either side of the site.

    Returns
    -------
    DataFrame
        Indexed by IWRA fid: ``relation`` (one of :data:`RELATIONS`) and ``relation_via``
        (in words: which chain features or units it rests on).
    """
    fids = iwras["fid"].astype(str).to_numpy()
    out = pd.DataFrame({"relation": "neither", "relation_via": ""},
                       index=pd.Index(fids, name="fid"))
    if iwras.empty:
        return out
    geoms = iwras.geometry.reset_index(drop=True)
    touched: dict[str, dict[str, list[str]]] = {"up": {}, "down": {}}
    for side, chain in (("up", supply_features), ("down", discharge_features)):
        if chain is None or chain.empty:
            continue
        chain = chain.reset_index(drop=True)
        i_idx, c_idx = chain.sindex.query(np.asarray(geoms.values), predicate="intersects")
        names = chain["name"].astype(str).to_numpy()
        for i, c in zip(i_idx, c_idx, strict=True):
            touched[side].setdefault(fids[i], []).append(names[c])
    in_units: dict[str, dict[str, list[str]]] = {"up": {}, "down": {}}
    if not units.empty:
        pairs = units_intersecting(geoms, units.reset_index(drop=True))
        unit_fids = units["fid"].astype(str).to_numpy()[pairs["unit"].to_numpy()]
        unit_names = units["name"].astype(str).to_numpy()[pairs["unit"].to_numpy()]
        relied, hit = set(relied_on), set(affected)
        for i, u, name in zip(pairs["geom"].to_numpy(), unit_fids, unit_names, strict=True):
            if u in relied:
                in_units["up"].setdefault(fids[i], []).append(name)
            if u in hit:
                in_units["down"].setdefault(fids[i], []).append(name)
    relation, via = [], []
    for fid in fids:
        if fid in touched["up"] or fid in touched["down"]:
            up, down = fid in touched["up"], fid in touched["down"]
            parts = []
            if up:
                parts.append("meets " + ", ".join(dict.fromkeys(touched["up"][fid]))
                             + " (supply chain)")
            if down:
                parts.append("meets " + ", ".join(dict.fromkeys(touched["down"][fid]))
                             + " (discharge chain)")
        else:
            up, down = fid in in_units["up"], fid in in_units["down"]
            ups = list(dict.fromkeys(in_units["up"].get(fid, [])))
            downs = list(dict.fromkeys(in_units["down"].get(fid, [])))
            if up and down and ups == downs:  # one unit both relied on and affected
                parts = ["in " + ", ".join(ups) + " (relied on and affected)"]
            else:
                parts = []
                if up:
                    parts.append("in " + ", ".join(ups) + " (relied on)")
                if down:
                    parts.append("in " + ", ".join(downs) + " (affected)")
        relation.append("both" if up and down else "upstream of water source" if up
                        else "downstream of discharge" if down else "neither")
        via.append("; ".join(parts))
    out["relation"] = relation
    out["relation_via"] = via
    return out
