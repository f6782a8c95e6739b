"""A new site drafted from its certification record and the workspace's public layers.

:func:`draft_site` is the planning half of ``catchscope new-site`` and the app's *New
site* wizard.  Given a site record (imported from the report, not saved yet) and where
the site is (its parcels, or a typed point that becomes a small placeholder parcel,
marked illustrative), it works out — writing nothing —

1. the **catchment level** at which the site is judged (a HydroBASINS Pfafstetter level
   the workspace holds: the one asked for, the workspace's, or the coarsest);
2. the **water chain** the report describes, drafted as the site's own features: the
   provider's plant and an intake on each named source, an outfall per discharged stream
   and the wastewater plant it goes to — each report name matched to a feature of the
   public layers (HydroLAKES, OpenStreetMap; :mod:`geo.scope.names`) with a score, every
   link's basis *inferred* (the rule, the score, the report's sentence), every position
   we chose *illustrative*;
3. the **network** the site relies on and affects: the catchment units (its own, those
   upstream of its sources and downstream of its discharges, to the sink) and the rivers
   and lakes in them;
4. the **IWRA candidates** (WDPA, Ramsar) by distance and hydrological relation, and
   whether the report names them — candidates only: an IWRA only once a person
   confirms it (``confirm_iwras``);
5. the **checklist** as it will be once saved (:func:`geo.scope.assess.assess_scene` on
   the scene extended with the draft), with what remains to map.

Saving is the caller's (:func:`geo.store.batch.save_batch`, which takes
:meth:`SiteDraft.additions` and :meth:`SiteDraft.files`): all or nothing.
Geometry is EPSG:4326; distances are measured in the site's UTM zone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.ops import nearest_points

from geo.core.basis import Basis
from geo.core.catalogue import AccuracyClass, AwsElement, LayerKind
from geo.core.crs import metric_crs
from geo.core.errors import ScopeError
from geo.core.records import AWS_REF_RE, SiteRecord, record_json, record_path
from geo.core.statements import value_basis
from geo.core.workspace import SETTINGS_FILE, Workspace
from geo.scope.assess import SiteScope, assess_scene
from geo.scope.iwra import iwra_relations, screen_iwras
from geo.scope.names import NameMatch, match_name
from geo.scope.scene import Scene, extend_scene, load_scene
from geo.scope.units import chain_contacts

__all__ = [
    "CANDIDATE_COLUMNS",
    "PLACEHOLDER_SIDE_M",
    "PLANT_RIVER_M",
    "ChainMatch",
    "DraftLayer",
    "SiteDraft",
    "catchment_levels",
    "confirm_iwras",
    "draft_site",
    "placeholder_parcel",
]

#: Side of the square placed around a typed point until the site's boundary is drawn.
PLACEHOLDER_SIDE_M = 100.0
#: A provider's plant this close to a named source river is taken as the one drawing on it.
PLANT_RIVER_M = 5_000.0
#: Columns of :attr:`SiteDraft.candidates`.
CANDIDATE_COLUMNS = ("fid", "name", "layer", "category", "designation", "accuracy",
                     "classification", "distance_m", "band_km", "relation", "relation_via",
                     "named_as", "name_score", "confirmed")
_TIE = 0.02  # matches this close to the best score are told apart by distance
_WASTEWATER = re.compile(r"waste ?water|sewage|servidas|residuales|wwtp|effluent|depurad",
                         re.IGNORECASE)
_DEFAULT_LAYERS = {
    LayerKind.SITE: ("sites", "Site parcels", (AwsElement.SITE_BOUNDARIES,)),
    LayerKind.WATER_SOURCE: ("water_sources", "Water sources (intakes)",
                             (AwsElement.SERVICE_PROVIDER,)),
    LayerKind.FACILITY: ("facilities", "Water and wastewater plants",
                         (AwsElement.SERVICE_PROVIDER, AwsElement.DISCHARGE)),
    LayerKind.DISCHARGE_POINT: ("discharge_points", "Discharge points",
                                (AwsElement.DISCHARGE,)),
    LayerKind.IWRA: ("iwras", "Important water-related areas (confirmed)", ()),
}


@dataclass(frozen=True)
class DraftLayer:
    """A new site's features for one layer (``exists``: the layer is there already)."""

    layer_id: str
    kind: LayerKind
    title: str
    frame: gpd.GeoDataFrame
    exists: bool
    evidences: tuple[AwsElement, ...] = ()


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


@dataclass(frozen=True, eq=False)
class SiteDraft:
    """Everything ``new-site`` would save, and the scope the site would then have."""

    record: SiteRecord
    level: str
    level_why: str
    levels: tuple[str, ...]
    placement: Literal["point", "file"]
    layers: tuple[DraftLayer, ...]
    matches: tuple[ChainMatch, ...]
    candidates: pd.DataFrame
    network: pd.DataFrame
    scope: SiteScope
    settings_text: str | None
    notes: tuple[str, ...] = ()
    confirmed: tuple[str, ...] = field(default=())
    #: The bytes of the record file and ``catchscope.toml`` when the draft was made (None:
    #: absent): the save refuses to overwrite either if it changed meanwhile.
    before: tuple[bytes | None, bytes | None] = (None, None)

    @property
    def aws_ref(self) -> str:
        """The site's AWS reference."""
        return self.record.aws_ref

    def additions(self) -> list[tuple[str, LayerKind, str, gpd.GeoDataFrame,
                                      tuple[AwsElement, ...]]]:
        """(layer id, kind, title, features, evidences) of every layer to add to."""
        return [(d.layer_id, d.kind, d.title, d.frame.drop(columns=["layer", "kind"],
                                                             errors="ignore"), d.evidences)
                for d in self.layers if not d.frame.empty]

    def files(self, ws: Workspace) -> list[tuple[Path, bytes, bytes | None]]:
        """(path, new bytes, bytes expected there now) of the record and the settings."""
        out: list[tuple[Path, bytes, bytes | None]] = [
            (record_path(ws.data_dir, self.aws_ref), record_json(self.record), self.before[0])]
        if self.settings_text is not None:
            out.append((ws.root / SETTINGS_FILE, self.settings_text.encode("utf-8"),
                        self.before[1]))
        return out

    def summary(self) -> list[str]:
        """What saving would do, one line each."""
        lines = [f"Catchment level {self.level} ({self.level_why})."]
        for d in self.layers:
            if d.frame.empty:
                continue
            verb = "add to layer" if d.exists else "new layer"
            lines.append(f"{len(d.frame)} feature(s) → {verb} '{d.layer_id}' ({d.kind.value}): "
                         + ", ".join(str(n) for n in d.frame["name"].head(4))
                         + (" …" if len(d.frame) > 4 else ""))
        return lines


# --- inputs -------------------------------------------------------------------------------


def catchment_levels(ws: Workspace) -> tuple[str, ...]:
    """The ``level`` values of the workspace's catchment units (``pfafstetter_8``…)."""
    levels: set[str] = set()
    for spec in ws.layers_of_kind(LayerKind.CATCHMENT_UNIT):
        frame = ws.load(spec.id)
        if "level" in frame.columns:
            levels |= {str(v) for v in frame["level"].dropna().unique()}
    return tuple(sorted(levels, key=_level_order))


def _level_order(level: str) -> tuple[int, str]:
    match = re.fullmatch(r"pfafstetter_(\d+)", level)
    return (int(match.group(1)) if match else 99, level)


def _choose_level(levels: Sequence[str], wanted: str | int | None,
                  current: str) -> tuple[str, str]:
    if not levels:
        raise ScopeError("The workspace has no catchment units with a level: import a "
                         "HydroBASINS file first (catchscope import hybas_…_levNN_v1c.zip "
                         "--aoi LON,LAT,RADIUS_KM).")
    if wanted is not None and str(wanted).strip():
        text = str(wanted).strip()
        name = f"pfafstetter_{int(text)}" if text.isdigit() else text  # as the import names it
        if name not in levels:
            raise ScopeError(f"--level {text}: the workspace's catchment units are at "
                             f"{', '.join(levels)}; choose one of them (a number N means "
                             "pfafstetter_N).")
        return name, "as asked"
    if current in levels:
        return current, "the workspace's catchment level"
    return levels[0], (f"the coarsest of the workspace's levels ({', '.join(levels)}); "
                       "--level N for another")


def placeholder_parcel(lon: float, lat: float,
                       side_m: float = PLACEHOLDER_SIDE_M) -> shapely.Polygon:
    """A square of ``side_m`` metres around a WGS84 point (drawn in the local UTM zone).

    Raises
    ------
    ScopeError
        If the point is not a longitude / latitude.
    """
    if not (np.isfinite(lon) and np.isfinite(lat) and -180 <= lon <= 180 and -80 <= lat <= 84):
        raise ScopeError(f"--at {lon},{lat}: give LON,LAT in WGS84 degrees (longitude "
                         "first, -180…180; latitude -80…84).")
    point = gpd.GeoSeries([shapely.Point(lon, lat)], crs="EPSG:4326")
    metric = metric_crs(point)
    square = point.to_crs(metric).buffer(side_m / 2.0, cap_style="square")
    return square.to_crs("EPSG:4326").iloc[0]


def _slug(aws_ref: str) -> str:
    return aws_ref.lower()


def _check_record(ws: Workspace, record: SiteRecord, scene: Scene) -> None:
    if not AWS_REF_RE.match(record.aws_ref):
        raise ScopeError(f"{record.aws_ref!r} is not an AWS reference.")
    owned = scene.features[(scene.features["aws_ref"] == record.aws_ref)
                           | scene.features["fid"].astype(str).str.startswith(
                               _slug(record.aws_ref) + "-")]
    if not owned.empty:
        layers = ", ".join(sorted(set(owned["layer"].astype(str))))
        raise ScopeError(f"{record.aws_ref} is placed already ({len(owned)} feature(s) in "
                         f"{layers}): new-site starts a site from nothing. Edit it in the app "
                         f"(Draw and edit) or re-import its report with catchscope "
                         "import-report.")


def _parcels(record: SiteRecord, parcels: gpd.GeoDataFrame, placement: str, source: str,
             accuracy: str) -> gpd.GeoDataFrame:
    if parcels.empty:
        raise ScopeError(f"{source}: no parcel to place the site with.")
    if parcels.crs is None or not parcels.crs.equals("EPSG:4326"):
        parcels = parcels.to_crs("EPSG:4326")
    kinds = parcels.geom_type.to_numpy()
    bad = [str(k + 1) for k, t in enumerate(kinds) if t not in ("Polygon", "MultiPolygon")]
    if bad:
        raise ScopeError(f"{source}: feature(s) {', '.join(bad[:5])} are not polygons "
                         f"({', '.join(sorted(set(kinds)))}); a site's parcels are its "
                         "boundaries — give polygons, or --at LON,LAT for a placeholder.")
    if accuracy not in {a.value for a in AccuracyClass}:
        raise ScopeError(f"--accuracy {accuracy!r}: one of "
                         + ", ".join(a.value for a in AccuracyClass) + ".")
    names = (parcels["name"].astype(object).tolist() if "name" in parcels.columns
             else [None] * len(parcels))
    slug = _slug(record.aws_ref)
    site = record.site_name or record.aws_ref
    if placement == "point":
        note = (f"Placeholder: a {PLACEHOLDER_SIDE_M:g} m square around the point typed for "
                f"{record.aws_ref}, not its boundary; draw the real parcels (Draw and edit) "
                "or replace them with the site plan.")
    else:
        note = f"Parcel from {source}."
    return gpd.GeoDataFrame({
        "fid": [f"{slug}-parcel-{k + 1}" for k in range(len(parcels))],
        "name": [str(n) if isinstance(n, str) and n.strip() else
                 (site if len(parcels) == 1 else f"{site}: parcel {k + 1}")
                 for k, n in enumerate(names)],
        "aws_ref": record.aws_ref, "site_name": site,
        "accuracy": AccuracyClass.ILLUSTRATIVE.value if placement == "point" else accuracy,
        "source": source, "datum": "wgs84", "note": note,
    }, geometry=list(parcels.geometry.values), crs="EPSG:4326")


# --- matching the chain -------------------------------------------------------------------


def _candidates(scene: Scene) -> gpd.GeoDataFrame:
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
class _Chain:
    """The chain features being drafted, per kind."""

    sources: list[dict[str, Any]] = field(default_factory=list)
    plants: list[dict[str, Any]] = field(default_factory=list)
    outfalls: list[dict[str, Any]] = field(default_factory=list)
    matches: list[ChainMatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _draft_supply(record: SiteRecord, frame: gpd.GeoDataFrame, site: Any, metric: Any,
                  source: str, chain: _Chain, tolerance_m: float) -> None:
    slug, ref = _slug(record.aws_ref), record.aws_ref
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
                     metric: Any, source: str, chain: _Chain) -> None:
    slug, ref = _slug(record.aws_ref), record.aws_ref
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
          ultimates: list[str], metric: Any, source: str, chain: _Chain,
          wwtps: dict[str, dict[str, Any]], *, said: tuple[str, str]) -> str:
    """The draft wastewater plant for a matched one; its flows_to gains the ultimate receivers."""
    assert first.match is not None
    row = frame.set_index("fid").loc[first.match.fid]
    plant = wwtps.get(first.match.fid)
    if plant is None:
        fid = f"{_slug(record.aws_ref)}-wwtp-{len(wwtps) + 1}"
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


# --- candidates and network ---------------------------------------------------------------


def _iwra_candidates(scene: Scene, preview: Scene, scope: SiteScope, record: SiteRecord,
                     confirm: Sequence[str]) -> pd.DataFrame:
    found = _candidate_features(scene)
    if found.empty:
        return pd.DataFrame(columns=list(CANDIDATE_COLUMNS))
    parcels = scope.parcels.assign(aws_ref=record.aws_ref)
    screen = screen_iwras(parcels, found, bands_km=scene.bands_km,
                          onsite_tolerance_m=scene.onsite_tolerance_m).set_index("fid")
    supply, discharge = chain_contacts(preview, scope.chain)
    relation = iwra_relations(found, preview.level_units,
                              relied_on=[u.fid for u in scope.relied_on],
                              affected=[u.fid for u in scope.affected],
                              supply_features=supply, discharge_features=discharge)
    rows = []
    for row in found.itertuples(index=False):
        fid = str(row.fid)
        named, score = _named_as(record, str(row.name))
        rows.append({
            "fid": fid, "name": row.name, "layer": row.layer,
            "category": getattr(row, "category", None),
            "designation": getattr(row, "designation", None), "accuracy": row.accuracy,
            "classification": screen.loc[fid, "classification"],
            "distance_m": float(screen.loc[fid, "distance_m"]),
            "band_km": screen.loc[fid, "band_km"],
            "relation": relation.loc[fid, "relation"],
            "relation_via": relation.loc[fid, "relation_via"],
            "named_as": named, "name_score": score, "confirmed": fid in confirm,
        })
    return pd.DataFrame(rows, columns=list(CANDIDATE_COLUMNS)).sort_values(
        "distance_m", kind="stable").reset_index(drop=True)


def _network(preview: Scene, scope: SiteScope) -> pd.DataFrame:
    """Units relied on / affected (and the site's), with the rivers and lakes in them."""
    roles: dict[str, list[str]] = {}
    for fid in scope.one_catchment.units or tuple(o.unit_fid for o in
                                                  scope.one_catchment.overlaps):
        roles.setdefault(fid, []).append("site's unit")
    for u in scope.relied_on:
        roles.setdefault(u.fid, []).append("relied on")
    for u in scope.affected:
        roles.setdefault(u.fid, []).append("affected")
    units = preview.level_units[preview.level_units["fid"].astype(str).isin(list(roles))]
    rows = [{"fid": str(u.fid), "name": u.name, "layer": u.layer, "kind": "catchment_unit",
             "role": ", ".join(roles[str(u.fid)]),
             "bws_label": getattr(u, "bws_label", None)} for u in units.itertuples()]
    bodies = preview.features[preview.features["kind"].isin(["river", "lake"])
                              & preview.features["aws_ref"].isna()].reset_index(drop=True)
    if not units.empty and not bodies.empty:
        _, hit = bodies.sindex.query(units.geometry.values, predicate="intersects")
        for k in np.unique(hit):
            body = bodies.iloc[int(k)]
            rows.append({"fid": str(body["fid"]), "name": body["name"],
                         "layer": body["layer"], "kind": body["kind"],
                         "role": "in the network", "bws_label": None})
    return pd.DataFrame(rows, columns=["fid", "name", "layer", "kind", "role", "bws_label"])


def _candidate_features(scene: Scene) -> gpd.GeoDataFrame:
    features = scene.features
    if "candidate_for" not in features.columns:
        return features.iloc[0:0]
    mask = features["kind"].eq("other") & features["candidate_for"].astype(str).eq("iwra")
    return features[mask].reset_index(drop=True)


def _named_as(record: SiteRecord | None, name: str) -> tuple[str, float | None]:
    """The report's IWRA name a candidate's name matches best (and the score), or ""."""
    if record is None:
        return "", None
    one = pd.DataFrame([{"fid": "x", "name": name, "layer": "", "kind": "other"}])
    best: tuple[str, float | None] = ("", None)
    for said in [*record.onsite_iwras, *record.catchment_iwras]:
        hit = match_name(said, one, kinds=("other",), limit=1)
        if hit and (best[1] is None or hit[0].score > best[1]):
            best = (said, hit[0].score)
    return best


def _confirmed_iwras(scene: Scene, record: SiteRecord | None, aws_ref: str,
                     fids: Sequence[str]) -> gpd.GeoDataFrame:
    """IWRA features for the candidates a person confirmed (new ones only)."""
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")
    if not fids:
        return empty
    found = _candidate_features(scene)
    known = found.set_index(found["fid"].astype(str))
    missing = [f for f in fids if f not in known.index]
    if missing:
        shown = ", ".join(known.index[:8]) + (" …" if len(known) > 8 else "") or "none"
        raise ScopeError(f"{', '.join(missing)}: not an IWRA candidate of this workspace "
                         f"(candidates: {shown}); import WDPA or Ramsar first.")
    taken = set(scene.iwras["fid"].astype(str)) if not scene.iwras.empty else set()
    rows = []
    today = dt.date.today().isoformat()
    for fid in dict.fromkeys(fids):
        if f"iwra-{fid}" in taken:
            continue  # confirmed already (for another site: an IWRA is the catchment's)
        row = known.loc[fid]
        named, _ = _named_as(record, str(row["name"]))
        rows.append({
            "fid": f"iwra-{fid}", "name": row["name"], "category": row.get("category"),
            "designation": row.get("designation"), "candidate_of": fid,
            "reported_by": aws_ref if named else None, "confirmed_on": today,
            "confirmed_for": aws_ref, "aws_ref": None, "accuracy": row.get("accuracy"),
            "source": f"{row['layer']} ({row.get('source') or 'public dataset'}), confirmed "
                      f"as IWRA for {aws_ref} on {today}",
            "datum": "wgs84", "geometry": row["geometry"],
        })
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326") if rows else empty


def confirm_iwras(ws: Workspace, aws_ref: str, fids: Sequence[str]) -> DraftLayer:
    """The IWRA features confirming candidates ``fids`` for a site (``catchscope confirm-iwra``).

    An IWRA comes from a WDPA / Ramsar candidate only when a person says so; its
    ``reported_by`` names the site when the site's report names it (by name match).

    Raises
    ------
    ScopeError
        A fid that is no candidate of the workspace.
    """
    scene = load_scene(ws, None, None)
    layer_id, title, exists, evidences = _target_layer(ws, LayerKind.IWRA)
    frame = _confirmed_iwras(scene, ws.records.get(aws_ref), aws_ref, fids)
    return DraftLayer(layer_id, LayerKind.IWRA, title, frame, exists, evidences)


# --- the draft ----------------------------------------------------------------------------


def _frame(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    if not rows:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    frame["datum"] = "wgs84"
    return frame


def _target_layer(ws: Workspace, kind: LayerKind) -> tuple[str, str, bool, tuple[AwsElement, ...]]:
    default, title, evidences = _DEFAULT_LAYERS[kind]
    layer_id, k = default, 2
    while layer_id in ws.specs and ws.specs[layer_id].kind is not kind:
        layer_id, k = f"{default}_{k}", k + 1
    return layer_id, title, layer_id in ws.specs, evidences


def _settings_text(ws: Workspace, level: str) -> str | None:
    if ws.settings.catchment_level == level:
        return None
    path = ws.root / SETTINGS_FILE
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    line = f'catchment_level = "{level}"'
    head, sep, tail = text.partition("\n[")
    if re.search(r"(?m)^catchment_level\s*=.*$", head):
        head = re.sub(r"(?m)^catchment_level\s*=.*$", line, head, count=1)
    else:
        head = head.rstrip("\n") + ("\n" if head.strip() else "") + line + "\n"
    return head + sep + tail


def draft_site(ws: Workspace, record: SiteRecord, parcels: gpd.GeoDataFrame, *,
               placement: Literal["point", "file"], source: str, level: str | int | None = None,
               accuracy: str = AccuracyClass.SURVEYED.value,
               confirm_iwras: Sequence[str] = ()) -> SiteDraft:
    """Draft a new site in ``ws`` from its record and parcels; nothing is written.

    Parameters
    ----------
    ws : Workspace
        The workspace holding the public layers (catchment units with a level, rivers,
        lakes, treatment plants, IWRA candidates).
    record : SiteRecord
        The site's record as it would be saved (a report's, merged with a stored one).
    parcels : GeoDataFrame
        The site's polygons (any CRS); with ``placement="point"`` the placeholder from
        :func:`placeholder_parcel`.
    placement : {"point", "file"}
        How the site was placed (a point's parcel is illustrative).
    source : str
        Where the parcels come from, for their provenance.
    level : str or int, optional
        The catchment level (a number N: ``pfafstetter_N``); default the workspace's if it
        holds units of it, else the coarsest.
    accuracy : str
        The parcels' accuracy when they come from a file.
    confirm_iwras : sequence of str
        Fids of IWRA candidates a person confirmed: they become IWRAs of the workspace.

    Returns
    -------
    SiteDraft

    Raises
    ------
    ScopeError
        A site placed already, no catchment units or an unknown level, parcels that are
        not polygons or lie outside every unit of the level, an unknown candidate.
    """
    before = tuple(p.read_bytes() if p.exists() else None for p in (
        record_path(ws.data_dir, record.aws_ref), ws.root / SETTINGS_FILE))
    levels = catchment_levels(ws)
    chosen, why = _choose_level(levels, level, ws.settings.catchment_level)
    settings = ws.settings.model_copy(update={"catchment_level": chosen})
    at_level = dataclasses.replace(ws, settings=settings,
                                   records={**ws.records, record.aws_ref: record})
    scene = load_scene(at_level, None, None)
    _check_record(ws, record, scene)
    site_parcels = _parcels(record, parcels, placement, source, accuracy)
    _check_inside(site_parcels, scene, chosen)
    metric = metric_crs(site_parcels)
    candidates = _candidates(scene)
    site_geom = site_parcels.geometry.union_all()
    src = f"catchscope new-site from {record.audit_number or record.aws_ref}"
    chain = _Chain()
    _draft_supply(record, candidates, site_geom, metric, src, chain,
                  scene.inference_tolerance_m)
    _draft_discharge(record, candidates, site_parcels, metric, src, chain)
    drafted = {
        LayerKind.SITE: site_parcels,
        LayerKind.WATER_SOURCE: _frame(chain.sources),
        LayerKind.FACILITY: _frame(chain.plants),
        LayerKind.DISCHARGE_POINT: _frame(chain.outfalls),
    }
    targets = {kind: _target_layer(ws, kind) for kind in _DEFAULT_LAYERS}
    preview = extend_scene(scene, {targets[k][0]: (k, f) for k, f in drafted.items()},
                           workspace=at_level)
    scope = assess_scene(preview, record.aws_ref)
    candidate_table = _iwra_candidates(scene, preview, scope, record, confirm_iwras)
    confirmed = _confirmed_iwras(scene, record, record.aws_ref, confirm_iwras)
    if not confirmed.empty:
        drafted[LayerKind.IWRA] = confirmed
        preview = extend_scene(scene, {targets[k][0]: (k, f) for k, f in drafted.items()},
                               workspace=at_level)
        scope = assess_scene(preview, record.aws_ref)
    layers = tuple(DraftLayer(targets[kind][0], kind, targets[kind][1], frame,
                              targets[kind][2], targets[kind][3])
                   for kind, frame in drafted.items())
    notes = list(chain.notes)
    matched = set(candidate_table["named_as"]) if not candidate_table.empty else set()
    unmatched = [n for n in [*record.onsite_iwras, *record.catchment_iwras] if n not in matched]
    if unmatched:
        notes.append("The report names IWRA(s) no WDPA / Ramsar candidate matches: "
                     + "; ".join(unmatched) + ". Map each from its own source (kind 'iwra'), "
                     "e.g. an on-site riparian strip from the site plan.")
    if not candidate_table.empty:
        left = int((~candidate_table["confirmed"].astype(bool)).sum())
        notes.append(f"{len(candidate_table)} IWRA candidate(s) from WDPA / Ramsar; {left} not "
                     "confirmed: a candidate is no IWRA until a person confirms it "
                     "(catchscope confirm-iwra FID --site " + record.aws_ref + ").")
    if ws.records and chosen != ws.settings.catchment_level:
        others = [r for r in ws.records if r != record.aws_ref]
        if others:
            notes.append(f"The workspace's catchment level changes from "
                         f"{ws.settings.catchment_level!r} to {chosen!r}: 0.1.1.1 of "
                         f"{', '.join(others)} is judged at it too.")
    return SiteDraft(record=record, level=chosen, level_why=why, levels=levels,
                     placement=placement, layers=layers, matches=tuple(chain.matches),
                     candidates=candidate_table, network=_network(preview, scope),
                     scope=scope, settings_text=_settings_text(ws, chosen),
                     notes=tuple(notes), confirmed=tuple(confirmed["fid"]) if not
                     confirmed.empty else (), before=(before[0], before[1]))


def _check_inside(parcels: gpd.GeoDataFrame, scene: Scene, level: str) -> None:
    units = scene.level_units
    hits = units.sindex.query(parcels.geometry.values, predicate="intersects")
    if len(set(hits[0].tolist())) == len(parcels):
        return
    outside = sorted(set(range(len(parcels))) - set(hits[0].tolist()))
    west, south, east, north = units.total_bounds
    point = parcels.geometry.iloc[outside[0]].representative_point()
    raise ScopeError(
        f"The site ({point.x:.4f}, {point.y:.4f}) lies outside every catchment unit of level "
        f"{level} (they cover {west:.2f}…{east:.2f} E, {south:.2f}…{north:.2f} N): check the "
        "position (LON,LAT: longitude first) or import the HydroBASINS units of its region.")
