"""The water chain a report describes, drafted as a new site's own features (name matches).

Part of :mod:`geo.scope.sitedraft`.  The report names a provider, its sources and where
each stream of wastewater goes; each name is matched to a feature of the public layers
(:func:`geo.scope.names.match_name`; among near-equal scores — one river in several
OpenStreetMap ways — the nearest wins) and the chain is drafted around the matches:

* per named source, an **intake** (kind ``water_source``, not the site's) where the named
  river passes closest to the provider's plant (a plant it operates within
  :data:`PLANT_RIVER_M` of the river) or else to the site, drawing from the reach of a
  linked river network (HydroRIVERS) there, so that a river both source and receiver
  keeps one feature on each side of the chain; the plant is drafted at its public
  position, flowing to the site;
* per discharged stream, an **outfall** on the parcel boundary linked to its first
  receiver: a wastewater plant (drafted at its public position, its ``flows_to`` the
  report's ultimate receivers) or a river or lake.

Every position we choose is *illustrative*; every link's basis is *inferred* (the rule, the
score, both names and the report's sentence, in the ``link_*`` columns).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.ops import nearest_points

from geo.core.basis import Basis
from geo.core.catalogue import AccuracyClass
from geo.core.records import SiteRecord
from geo.core.statements import value_basis
from geo.scope.names import NameMatch, match_name
from geo.scope.scene import Scene

__all__ = ["PLANT_RIVER_M", "ChainMatch", "DraftChain", "chain_candidates", "draft_chain",
           "fid_prefix"]

#: A provider's plant this close to a named source river is taken as the one drawing on it.
PLANT_RIVER_M = 5_000.0
_TIE = 0.02  # matches this close to the best score are told apart by distance
_WASTEWATER = re.compile(r"waste ?water|sewage|servidas|residuales|wwtp|effluent|depurad",
                         re.IGNORECASE)


def fid_prefix(aws_ref: str) -> str:
    """The prefix of a site's drafted feature ids: ``aws-009101``."""
    return aws_ref.lower()


@dataclass(frozen=True)
class ChainMatch:
    """A name of the report's water chain and the feature proposed for it (None: none)."""

    role: str
    name: str
    match: NameMatch | None
    alternatives: tuple[NameMatch, ...] = ()
    used_by: tuple[str, ...] = ()

    def line(self) -> str:
        """One line: role, the report's words, the feature and score (or why none)."""
        if self.match is None:
            return f"{self.role}: “{self.name}” → no feature of the public layers matches"
        others = ""
        if self.alternatives:
            others = "; also " + ", ".join(f"{m.feature_name} ({m.score:.2f})"
                                           for m in self.alternatives[:2])
        return f"{self.role}: {self.match.line()}{others}"



def chain_candidates(scene: Scene) -> gpd.GeoDataFrame:
    """Rivers, lakes and plants of the public layers (not a site's own) to match names to."""
    features = scene.features
    keep = features["kind"].isin(["river", "lake", "facility"]) & features["aws_ref"].isna()
    columns = [c for c in ("fid", "name", "layer", "kind", "accuracy", "source", "operator",
                           "facility_type", "flows_to", "geometry") if c in features.columns]
    return features.loc[keep, columns].reset_index(drop=True)


def _is_wastewater(row: pd.Series) -> bool:
    words = " ".join(str(row.get(c) or "") for c in ("facility_type", "name"))
    return bool(_WASTEWATER.search(words))


def _best(matches: list[NameMatch], frame: gpd.GeoDataFrame, anchor: Any, metric: Any
          ) -> tuple[NameMatch | None, tuple[NameMatch, ...]]:
    """The best match; among near-equal scores (one river in several ways) the nearest."""
    if not matches:
        return None, ()
    top = matches[0].score
    tied = [m for m in matches if m.score >= top - _TIE]
    if len(tied) > 1:
        geoms = frame.set_index("fid").loc[[m.fid for m in tied], "geometry"]
        far = gpd.GeoSeries(list(geoms), crs="EPSG:4326").to_crs(metric).distance(
            gpd.GeoSeries([anchor], crs="EPSG:4326").to_crs(metric).iloc[0]).to_numpy()
        tied = [tied[k] for k in np.argsort(far, kind="stable")]
    chosen = tied[0]
    seen = {chosen.feature_name}
    others = []
    for m in matches:
        if m.fid != chosen.fid and m.feature_name not in seen:
            seen.add(m.feature_name)
            others.append(m)
    return chosen, tuple(others)


def _match(role: str, name: str, frame: gpd.GeoDataFrame, anchor: Any, metric: Any,
           record: SiteRecord, field_name: str, *, kinds: Iterable[str] | None = None,
           said: tuple[str, str] | None = None) -> ChainMatch:
    """The feature a report name means; ``said`` (section, sentence) where the report says it."""
    if said is None or not said[1]:
        basis = value_basis(record, field_name, name)
        said = (basis.section, basis.quote)
    found = match_name(name, frame, kinds=kinds, limit=50, quote=said[1],
                       report=record.audit_number, section=said[0])
    best, others = _best(found, frame, anchor, metric)
    return ChainMatch(role, name, best, others)


def _nearest_point(line: Any, to: Any, metric: Any) -> Any:
    series = gpd.GeoSeries([line, to], crs="EPSG:4326").to_crs(metric)
    _, point = nearest_points(series.iloc[1], series.iloc[0])
    return gpd.GeoSeries([point], crs=metric).to_crs("EPSG:4326").iloc[0]


def _distance_m(a: Any, b: Any, metric: Any) -> float:
    series = gpd.GeoSeries([a, b], crs="EPSG:4326").to_crs(metric)
    return float(series.iloc[0].distance(series.iloc[1]))


def _network_reach(frame: gpd.GeoDataFrame, body: NameMatch, anchor: Any, metric: Any,
                   tolerance_m: float) -> tuple[str, str] | None:
    """The reach of a linked river network (HydroRIVERS) at a point of a named river.

    A river the site draws on may receive its discharge too (the Mapocho, the Maipo); a
    chain passes each feature once, so the intake draws from the network's reach nearest
    the point where the named river passes ``anchor`` (within ``tolerance_m``) and the
    discharge goes to the named river itself.  None when there is no such reach.
    """
    if body.kind != "river" or "flows_to" not in frame.columns:
        return None
    rivers = frame[frame["kind"] == "river"]
    linked = set(rivers.loc[rivers["flows_to"].notna(), "layer"].astype(str))
    reaches = rivers[rivers["layer"].astype(str).isin(linked - {body.layer})]
    if reaches.empty:
        return None
    line = frame.set_index("fid").loc[body.fid, "geometry"]
    entry = _nearest_point(line, anchor, metric)
    metric_entry = gpd.GeoSeries([entry], crs="EPSG:4326").to_crs(metric).iloc[0]
    far = reaches.geometry.to_crs(metric).distance(metric_entry).to_numpy()
    best = int(np.argmin(far))
    if far[best] > tolerance_m:
        return None
    reach = reaches.iloc[best]
    return str(reach["fid"]), (f"the {reach['layer']} reach {reach['fid']} where "
                               f"{body.feature_name} passes closest ({far[best]:,.0f} m)")


def _link(match: ChainMatch | None, **extra: Any) -> dict[str, Any]:
    """The ``link_*`` columns of a feature whose links rest on a name match."""
    if match is None or match.match is None:
        return {"link_basis": "assumed", "link_why": "no report name matched a feature; "
                "the link is ours", **extra}
    basis: Basis = match.match.basis
    return {"link_basis": "inferred", "link_source": basis.report,
            "link_section": basis.section, "link_quote": basis.quote,
            "link_rule": basis.rule, "link_why": basis.why,
            "match_score": match.match.score, "matched_fid": match.match.fid, **extra}


@dataclass
class DraftChain:
    """The chain features being drafted, per kind."""

    sources: list[dict[str, Any]] = field(default_factory=list)
    plants: list[dict[str, Any]] = field(default_factory=list)
    outfalls: list[dict[str, Any]] = field(default_factory=list)
    matches: list[ChainMatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _draft_supply(record: SiteRecord, frame: gpd.GeoDataFrame, site: Any, metric: Any,
                  source: str, chain: DraftChain, tolerance_m: float) -> None:
    slug, ref = fid_prefix(record.aws_ref), record.aws_ref
    provider = record.water_service_provider.strip()
    plants: list[NameMatch] = []
    provider_match: ChainMatch | None = None
    if provider:
        water_plants = frame[(frame["kind"] == "facility")
                             & ~frame.apply(_is_wastewater, axis=1)]
        said = value_basis(record, "water_service_provider", provider)
        plants = match_name(provider, water_plants, kinds=("facility",), limit=10,
                            quote=said.quote, report=record.audit_number,
                            section=said.section)
        best, others = _best(plants, frame, site, metric)
        provider_match = ChainMatch("water service provider", provider, best, others)
        chain.matches.append(provider_match)
    placed: dict[str, str] = {}  # matched plant fid → draft fid

    def plant_for(match: NameMatch) -> str:
        if match.fid not in placed:
            row = frame.set_index("fid").loc[match.fid]
            fid = f"{slug}-plant-{len(placed) + 1}"
            placed[match.fid] = fid
            chain.plants.append({
                "fid": fid, "name": f"{match.feature_name} ({provider})",
                "facility_type": "water_plant", "operator": provider, "owned_by_site": False,
                "flows_to": ref, "aws_ref": None,
                "accuracy": str(row.get("accuracy") or AccuracyClass.DERIVED.value),
                "source": f"{source}: position of {match.layer}/{match.fid}",
                "note": f"The plant of {provider} matched by name ({match.feature_name}); "
                        "check that it supplies the site.",
                "geometry": row["geometry"],
                **_link(ChainMatch("water service provider", provider, match)),
            })
        return placed[match.fid]

    for k, name in enumerate(record.ultimate_water_sources, 1):
        found = _match("ultimate water source", name, frame, site, metric, record,
                       "ultimate_water_sources", kinds=("river", "lake"))
        if found.match is None:
            chain.matches.append(found)
            chain.notes.append(f"No river or lake of the public layers is named like the "
                               f"report's source “{name}”: map its intake by hand.")
            continue
        body = frame.set_index("fid").loc[found.match.fid, "geometry"]
        near = sorted(((_distance_m(body, frame.set_index("fid").loc[p.fid, "geometry"],
                                    metric), p) for p in plants), key=lambda t: t[0])
        plant = near[0][1] if near and near[0][0] <= PLANT_RIVER_M else None
        anchor = frame.set_index("fid").loc[plant.fid, "geometry"] if plant else site
        intake = _nearest_point(body, anchor, metric)
        reach = _network_reach(frame, found.match, intake, metric, tolerance_m)
        fid = f"{slug}-intake-{k}"
        target = plant_for(plant) if plant is not None else ref
        where = (f"where {found.match.feature_name} passes closest to "
                 + (f"the plant {plant.feature_name}" if plant else "the site"))
        link = _link(found)
        if reach is not None:  # the named river may receive the discharge too: see below
            link["link_why"] = f"{link['link_why']}; drawn from {reach[1]}"
        chain.sources.append({
            "fid": fid, "name": f"{provider or 'Supply'} intake on {found.match.feature_name}",
            "source_type": "surface_intake", "owned_by_site": False,
            "operator": provider or None,
            "water_body": reach[0] if reach is not None else found.match.fid,
            "flows_to": target, "aws_ref": None,
            "accuracy": AccuracyClass.ILLUSTRATIVE.value, "source": source,
            "note": f"Placed {where}: the report names the source, not the intake; replace "
                    "it with the intake's position.",
            "geometry": intake, **link,
        })
        chain.matches.append(dataclasses.replace(found, used_by=(fid,)))
        if plant is None and provider:
            chain.notes.append(f"No plant of {provider} lies within {PLANT_RIVER_M / 1000:g} km "
                               f"of {found.match.feature_name}: its intake is linked straight "
                               "to the site; map the plant it feeds.")
    if provider_match is not None and provider_match.match is not None and not placed:
        plant_for(provider_match.match)  # a provider and no source: its plant still supplies
    if provider_match is not None and placed:
        used = [m for m in plants if m.fid in placed]
        position = chain.matches.index(provider_match)
        chain.matches[position] = ChainMatch(
            provider_match.role, provider, used[0],
            tuple(m for m in plants if m.fid not in placed), tuple(placed.values()))


def _streams(record: SiteRecord) -> list[tuple[str, str, list[str], str, str]]:
    """(stream, first receiver, ultimate receivers, section, quote) per discharged stream."""
    if record.discharges:
        return [(d.stream, d.receiver.strip(), [d.ultimate_receiver] if d.ultimate_receiver
                 else [], d.section, d.quote) for d in record.discharges if d.discharged]
    receiver = record.wastewater_service_provider.strip()
    bodies = list(record.receiving_water_bodies)
    if not receiver and not bodies:
        return []
    return [("wastewater", receiver or bodies[0], bodies if receiver else bodies[1:], "", "")]


def _draft_discharge(record: SiteRecord, frame: gpd.GeoDataFrame, parcels: gpd.GeoDataFrame,
                     metric: Any, source: str, chain: DraftChain) -> None:
    slug, ref = fid_prefix(record.aws_ref), record.aws_ref
    streams = _streams(record)
    if not streams:
        chain.notes.append("The report says nowhere where the site's water goes: map its "
                           "discharge points by hand.")
        return
    outline = parcels.geometry.union_all().boundary
    site = parcels.geometry.union_all()
    wwtps: dict[str, dict[str, Any]] = {}
    for k, (stream, receiver, ultimates, section, quote) in enumerate(streams, 1):
        fid = f"{slug}-outfall-{stream}"
        first = (_match(f"receiver of the {stream} discharge", receiver, frame, site, metric,
                        record, "wastewater_service_provider" if stream != "storm"
                        else "receiving_water_bodies", said=(section, quote))
                 if receiver else None)
        target: str | None = None
        point = outline.interpolate(k / (len(streams) + 1), normalized=True)
        if first is not None and first.match is not None:
            if first.match.kind == "facility":
                target = _wwtp(record, frame, first, ultimates, metric, source, chain, wwtps,
                               said=(section, quote))
            else:
                target = first.match.fid
        if first is not None:
            chain.matches.append(dataclasses.replace(first, used_by=(fid,)))
        elif receiver == "":
            chain.notes.append(f"The report names no receiver of the {stream} discharge.")
        said = (f"the report: “{quote}”" if quote else "the record")
        link = _link(first)
        chain.outfalls.append({
            "fid": fid, "name": f"{stream.capitalize()} discharge"
                    + (f" to {first.match.feature_name}" if first and first.match else ""),
            "discharge_type": stream, "receiving_body": target, "flows_to": target,
            "aws_ref": ref, "accuracy": AccuracyClass.ILLUSTRATIVE.value, "source": source,
            "note": f"Placed on the parcel boundary: {said} gives no position; replace it with "
                    "the real outfall or sewer connection.",
            "geometry": point, **link,
        })


def _wwtp(record: SiteRecord, frame: gpd.GeoDataFrame, first: ChainMatch,
          ultimates: list[str], metric: Any, source: str, chain: DraftChain,
          wwtps: dict[str, dict[str, Any]], *, said: tuple[str, str]) -> str:
    """The draft wastewater plant for a matched one; its flows_to gains the ultimate receivers."""
    assert first.match is not None
    row = frame.set_index("fid").loc[first.match.fid]
    plant = wwtps.get(first.match.fid)
    if plant is None:
        fid = f"{fid_prefix(record.aws_ref)}-wwtp-{len(wwtps) + 1}"
        plant = {
            "fid": fid, "name": first.match.feature_name,
            "facility_type": "wastewater_treatment_plant",
            "operator": str(row.get("operator")) if isinstance(row.get("operator"), str)
            else None, "owned_by_site": False, "serves": record.aws_ref, "flows_to": None,
            "aws_ref": None,
            "accuracy": str(row.get("accuracy") or AccuracyClass.DERIVED.value),
            "source": f"{source}: position of {first.match.layer}/{first.match.fid}",
            "note": f"The wastewater plant the report names ({first.name}), at the position "
                    "of the public feature it matched.",
            "geometry": row["geometry"], **_link(first),
        }
        wwtps[first.match.fid] = plant
        chain.plants.append(plant)
    targets = [t for t in str(plant["flows_to"] or "").split(",") if t]
    for name in ultimates:
        found = _match(f"ultimate receiver via {first.match.feature_name}", name, frame,
                       row["geometry"], metric, record, "receiving_water_bodies",
                       kinds=("river", "lake"), said=said)
        chain.matches.append(dataclasses.replace(found, used_by=(plant["fid"],)))
        if found.match is not None and found.match.fid not in targets:
            targets.append(found.match.fid)
            plant["link_why"] = "; ".join(dict.fromkeys([str(plant.get("link_why") or ""),
                                                         found.match.basis.why]))
    if len(targets) > 1:
        plant["note"] += (" The report sends its effluent to " + " and to ".join(ultimates)
                          + ": ask the site which one it is.")
    plant["flows_to"] = ",".join(targets) or None
    return str(plant["fid"])


def draft_chain(record: SiteRecord, candidates: gpd.GeoDataFrame, parcels: gpd.GeoDataFrame,
                metric: Any, source: str, tolerance_m: float) -> DraftChain:
    """The supply and discharge features of a site's draft, and every name match.

    Parameters
    ----------
    record : SiteRecord
        The site's record (provider, sources, discharges, with their sentences).
    candidates : GeoDataFrame
        :func:`chain_candidates` of the workspace's scene.
    parcels : GeoDataFrame
        The site's parcels (EPSG:4326).
    metric : CRS
        A metric CRS of the site (distances).
    source : str
        The drafted features' ``source``.
    tolerance_m : float
        How far a network reach may be from the named river (the scope's inference
        tolerance).
    """
    chain = DraftChain()
    _draft_supply(record, candidates, parcels.geometry.union_all(), metric, source, chain,
                  tolerance_m)
    _draft_discharge(record, candidates, parcels, metric, source, chain)
    return chain
