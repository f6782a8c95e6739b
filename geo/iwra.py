"""IWRA screening: which Important Water-Related Areas lie on site, near it, upstream, downstream.

AWS Standard v2.0 asks for on-site IWRAs (indicator 1.3.6) and catchment IWRAs (1.5.5).
:func:`screen_iwras` measures the distance from every site to every IWRA in a metric
CRS (:func:`geo.crs.metric_crs`, one per UTM zone), classifies each as

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

from geo.flows import metric_groups, units_intersecting

__all__ = [
    "IWRA_COLUMNS",
    "RELATIONS",
    "band_counts",
    "band_label",
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
    sites = sites[~sites.geometry.is_empty & sites.geometry.notna()]
    bands = np.sort(np.asarray(list(bands_km), dtype=float))
    parts = []
    iwra_geoms_4326 = iwras.geometry.reset_index(drop=True)
    for mask, metric in metric_groups(sites):
        group = sites[mask]
        site_m = np.asarray(group.geometry.to_crs(metric).values)
        iwra_m = np.asarray(iwra_geoms_4326.to_crs(metric).values)
        if max_distance_m is None:
            left = np.repeat(np.arange(len(site_m)), len(iwra_m))
            right = np.tile(np.arange(len(iwra_m)), len(site_m))
        else:
            tree = shapely.STRtree(iwra_m)
            left, right = tree.query(site_m, predicate="dwithin", distance=max_distance_m)
        distance = shapely.distance(site_m[left], iwra_m[right])
        parts.append(pd.DataFrame({
            "aws_ref": group["aws_ref"].astype(str).to_numpy()[left],
            "iwra": right,
            "distance_m": distance,
        }))
    pairs = pd.concat(parts, ignore_index=True)
    if pairs.empty:
        return empty
    pairs = pairs.groupby(["aws_ref", "iwra"], sort=False, as_index=False)["distance_m"].min()
    rows = iwras.reset_index(drop=True).iloc[pairs["iwra"].to_numpy()]
    out = pd.DataFrame({
        "aws_ref": pairs["aws_ref"].to_numpy(),
        "fid": rows["fid"].astype(str).to_numpy(),
        "name": rows["name"].astype(str).to_numpy(),
        "category": _category(rows).to_numpy(),
        "layer": rows["layer"].to_numpy() if "layer" in rows else None,
        "accuracy": rows["accuracy"].to_numpy() if "accuracy" in rows else None,
        "classification": np.where(pairs["distance_m"].to_numpy() <= onsite_tolerance_m,
                                   "onsite", "catchment"),
        "distance_m": pairs["distance_m"].to_numpy(),
    })
    slot = np.searchsorted(bands * 1000.0, out["distance_m"].to_numpy(), side="left")
    out["band_km"] = np.where(slot < len(bands), bands[np.minimum(slot, len(bands) - 1)], np.nan)
    order = np.lexsort((out["fid"].to_numpy(), out["distance_m"].to_numpy(),
                        out["classification"].to_numpy() != "onsite", out["aws_ref"].to_numpy()))
    return out.iloc[order].reset_index(drop=True)


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
            parts = []
            if up:
                parts.append("in " + ", ".join(dict.fromkeys(in_units["up"][fid]))
                             + " (relied on)")
            if down:
                parts.append("in " + ", ".join(dict.fromkeys(in_units["down"][fid]))
                             + " (affected)")
        relation.append("both" if up and down else "upstream of water source" if up
                        else "downstream of discharge" if down else "neither")
        via.append("; ".join(parts))
    out["relation"] = relation
    out["relation_via"] = via
    return out
