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
   public layers (HydroLAKES, OpenStreetMap; :mod:`geo.scope.names`, drafted by
   :mod:`geo.scope.chaindraft`) with a score, every
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.core.catalogue import AccuracyClass, AwsElement, LayerKind
from geo.core.crs import metric_crs
from geo.core.errors import ScopeError
from geo.core.records import AWS_REF_RE, SiteRecord, record_json, record_path
from geo.core.workspace import SETTINGS_FILE, Workspace
from geo.scope.assess import SiteScope, assess_scene
from geo.scope.chaindraft import (
    PLANT_RIVER_M,
    ChainMatch,
    chain_candidates,
    draft_chain,
    fid_prefix,
)
from geo.scope.iwra import iwra_relations, screen_iwras
from geo.scope.names import match_name
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
#: Columns of :attr:`SiteDraft.candidates`.
CANDIDATE_COLUMNS = ("fid", "name", "layer", "category", "designation", "accuracy",
                     "classification", "distance_m", "band_km", "relation", "relation_via",
                     "named_as", "name_score", "confirmed")
_DEFAULT_LAYERS: dict[LayerKind, tuple[str, str, tuple[AwsElement, ...], dict[str, Any]]] = {
    LayerKind.SITE: ("sites", "Site parcels", (AwsElement.SITE_BOUNDARIES,),
                     {"color": "#b2182b", "fill_color": "#ef8a62", "fill_opacity": 0.55,
                      "weight": 2.5, "z": 10}),
    LayerKind.WATER_SOURCE: ("water_sources", "Water sources (intakes)",
                             (AwsElement.SERVICE_PROVIDER,),
                             {"color": "#08519c", "fill_color": "#4292c6", "fill_opacity": 0.9,
                              "marker": "triangle", "radius": 8.0, "z": 12}),
    LayerKind.FACILITY: ("facilities", "Water and wastewater plants",
                         (AwsElement.SERVICE_PROVIDER, AwsElement.DISCHARGE),
                         {"color": "#252525", "fill_color": "#969696", "fill_opacity": 0.9,
                          "marker": "square", "radius": 8.0, "z": 12}),
    LayerKind.DISCHARGE_POINT: ("discharge_points", "Discharge points",
                                (AwsElement.DISCHARGE,),
                                {"color": "#54278f", "fill_color": "#9e9ac8",
                                 "fill_opacity": 0.9, "marker": "circle", "radius": 6.0,
                                 "z": 13}),
    LayerKind.IWRA: ("iwras", "Important water-related areas (confirmed)", (),
                     {"color": "#238b45", "fill_color": "#74c476", "fill_opacity": 0.3,
                      "weight": 2.0, "dash": "6 4", "z": 7}),
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
    #: The ``[style]`` of the layer when it is new (as the demo's layers of the kind).
    style: dict[str, Any] = field(default_factory=dict)


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
                                      tuple[AwsElement, ...], dict[str, Any]]]:
        """(layer id, kind, title, features, evidences, style) of every layer to add to."""
        return [(d.layer_id, d.kind, d.title,
                 d.frame.drop(columns=["layer", "kind"], errors="ignore"), d.evidences,
                 {} if d.exists else d.style)
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


def _check_record(ws: Workspace, record: SiteRecord, scene: Scene) -> None:
    if not AWS_REF_RE.match(record.aws_ref):
        raise ScopeError(f"{record.aws_ref!r} is not an AWS reference.")
    owned = scene.features[(scene.features["aws_ref"] == record.aws_ref)
                           | scene.features["fid"].astype(str).str.startswith(
                               fid_prefix(record.aws_ref) + "-")]
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
    slug = fid_prefix(record.aws_ref)
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
    target = _target_layer(ws, LayerKind.IWRA)
    frame = _confirmed_iwras(scene, ws.records.get(aws_ref), aws_ref, fids)
    return dataclasses.replace(target, frame=frame)


# --- the draft ----------------------------------------------------------------------------


def _frame(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    if not rows:
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    frame["datum"] = "wgs84"
    return frame


def _target_layer(ws: Workspace, kind: LayerKind) -> DraftLayer:
    """The layer a kind of drafted feature goes to (empty): its own id, or a free one."""
    default, title, evidences, style = _DEFAULT_LAYERS[kind]
    layer_id, k = default, 2
    while layer_id in ws.specs and ws.specs[layer_id].kind is not kind:
        layer_id, k = f"{default}_{k}", k + 1
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")
    return DraftLayer(layer_id, kind, title, empty, layer_id in ws.specs, evidences, style)


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
    src = f"catchscope new-site from {record.audit_number or record.aws_ref}"
    chain = draft_chain(record, chain_candidates(scene), site_parcels, metric, src,
                        scene.inference_tolerance_m)
    drafted = {
        LayerKind.SITE: site_parcels,
        LayerKind.WATER_SOURCE: _frame(chain.sources),
        LayerKind.FACILITY: _frame(chain.plants),
        LayerKind.DISCHARGE_POINT: _frame(chain.outfalls),
    }
    targets = {kind: _target_layer(ws, kind) for kind in _DEFAULT_LAYERS}
    preview = extend_scene(scene, {targets[k].layer_id: (k, f) for k, f in drafted.items()},
                           workspace=at_level)
    scope = assess_scene(preview, record.aws_ref)
    candidate_table = _iwra_candidates(scene, preview, scope, record, confirm_iwras)
    confirmed = _confirmed_iwras(scene, record, record.aws_ref, confirm_iwras)
    if not confirmed.empty:
        drafted[LayerKind.IWRA] = confirmed
        preview = extend_scene(scene, {targets[k].layer_id: (k, f)
                                       for k, f in drafted.items()}, workspace=at_level)
        scope = assess_scene(preview, record.aws_ref)
    layers = tuple(dataclasses.replace(targets[kind], frame=frame)
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
