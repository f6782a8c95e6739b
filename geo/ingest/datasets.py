"""Public global datasets recognised by their published schemas, and turned into layers.

Each :class:`DatasetProfile` names the fields a dataset is published with, the layer
kind it becomes, the links it carries and its own licence, attribution and citation:

============  =======================================  =====================================
dataset       recognised by (any case)                 becomes
============  =======================================  =====================================
HydroBASINS   HYBAS_ID, NEXT_DOWN, NEXT_SINK, MAIN_BAS, catchment units: ``next_down`` =
              DIST_SINK, DIST_MAIN, SUB_AREA, UP_AREA,  ``hybas_<NEXT_DOWN>`` (0: a sink),
              PFAF_ID, ENDO, COAST, ORDER, SORT         ``level`` = ``pfafstetter_<digits>``
HydroRIVERS   HYRIV_ID, NEXT_DOWN, MAIN_RIV, LENGTH_KM, rivers: ``flows_to`` =
              DIST_DN_KM, UPLAND_SKM, ORD_STRA          ``hyriv_<NEXT_DOWN>``
HydroLAKES    Hylak_id, Lake_name, Country, Lake_type,  lakes
              Lake_area
WDPA          WDPAID, NAME, ORIG_NAME, DESIG_ENG,       IWRA *candidates* (kind ``other``,
              IUCN_CAT, STATUS, MARINE, REP_AREA        ``candidate_for = "iwra"``); a point
                                                        becomes a circle of REP_AREA km²,
                                                        accuracy ``derived``
Ramsar (RSIS) ramsarid + a name                         IWRA candidates (wetlands)
Aqueduct 4.0  pfaf_id, bws_score, bws_label             water stress joined to catchment
                                                        units by Pfafstetter code
OSM           osm_id (GDAL's OSM driver) or ``@id`` /   waterways → rivers, water bodies →
              ``id`` = ``way/…`` (Overpass GeoJSON)     lakes, wastewater plants and water
                                                        works → facilities
============  =======================================  =====================================

Protected areas are never IWRAs by themselves: a person confirms each one
(``catchscope confirm-iwra``).  The conversions here are pure (frames in, frames out);
reading and clipping live in :mod:`geo.ingest.dataset_read`, saving in
:mod:`geo.ingest.dataset_import`.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.core.catalogue import AccuracyClass, LayerKind
from geo.core.errors import DataReadError
from geo.ingest.dataset_read import local_metric_crs
from geo.ingest.hydronet import pfafstetter_levels
from geo.ingest.model import RejectedFeature

__all__ = [
    "CANDIDATE_MARK",
    "PROFILES",
    "Converted",
    "DatasetProfile",
    "aqueduct_table",
    "convert",
    "iwra_category",
    "join_water_stress",
    "level_name",
    "recognise",
]

#: Value of ``candidate_for`` on features that may become IWRAs once a person confirms.
CANDIDATE_MARK = "iwra"

_HYDROSHEDS_LICENCE = ("HydroSHEDS v1 licence agreement: free for non-commercial and "
                       "commercial use with attribution (check the licence shipped with "
                       "your download)")
_HYDROSHEDS_CITE = ("Lehner, B., Grill, G. (2013): Global river hydrography and network "
                    "routing: baseline data and new approaches to study the world's large "
                    "river systems. Hydrological Processes, 27(15): 2171–2186. Data is "
                    "available at www.hydrosheds.org.")


@dataclass(frozen=True)
class DatasetProfile:
    """What a published dataset looks like and what it becomes in a workspace."""

    key: str
    title: str
    fields: tuple[str, ...]
    kind: LayerKind | None
    layer_id: str
    accuracy: AccuracyClass
    licence: str
    attribution: str
    citation: str
    terms: str = ""
    links: str = ""
    style: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, names: Iterable[str]) -> bool:
        """Whether a file's field names (any case) hold every field of the profile."""
        lowered = {str(n).lower() for n in names}
        return all(f.lower() in lowered for f in self.fields)


HYDROBASINS = DatasetProfile(
    "hydrobasins", "HydroBASINS sub-basins",
    ("HYBAS_ID", "NEXT_DOWN", "NEXT_SINK", "MAIN_BAS", "DIST_SINK", "DIST_MAIN", "SUB_AREA",
     "UP_AREA", "PFAF_ID", "ENDO", "COAST", "ORDER", "SORT"),
    LayerKind.CATCHMENT_UNIT, "hydrobasins_l{level:02d}", AccuracyClass.DERIVED,
    _HYDROSHEDS_LICENCE, "HydroBASINS v1c (WWF / McGill University), www.hydrosheds.org",
    _HYDROSHEDS_CITE,
    links="next_down = hybas_<NEXT_DOWN> (0 = a sink: the sea or an endorheic sink); level = "
          "pfafstetter_<number of digits of PFAF_ID>",
    style={"color": "#2b6ca3", "fill_color": "#9ecae1", "fill_opacity": 0.08, "weight": 1.0,
           "z": 2})
HYDRORIVERS = DatasetProfile(
    "hydrorivers", "HydroRIVERS river reaches",
    ("HYRIV_ID", "NEXT_DOWN", "MAIN_RIV", "LENGTH_KM", "DIST_DN_KM", "UPLAND_SKM", "ORD_STRA"),
    LayerKind.RIVER, "hydrorivers", AccuracyClass.DERIVED,
    "CC BY 4.0 (HydroRIVERS v1.0; check the licence shipped with your download)",
    "HydroRIVERS v1.0 (WWF / McGill University), www.hydrosheds.org", _HYDROSHEDS_CITE,
    links="flows_to = hyriv_<NEXT_DOWN> (0 = the reach ends at the sea or an endorheic sink)",
    style={"color": "#4292c6", "weight": 1.5, "z": 4})
HYDROLAKES = DatasetProfile(
    "hydrolakes", "HydroLAKES lakes and reservoirs",
    ("Hylak_id", "Lake_name", "Country", "Lake_type", "Lake_area"),
    LayerKind.LAKE, "hydrolakes", AccuracyClass.DERIVED,
    "CC BY 4.0 (HydroLAKES v1.0)", "HydroLAKES v1.0 (Messager et al. 2016), www.hydrosheds.org",
    "Messager, M.L., Lehner, B., Grill, G., Nedeva, I., Schmitt, O. (2016): Estimating the "
    "volume and age of water stored in global lakes using a geo-statistical approach. Nature "
    "Communications: 13603. doi: 10.1038/ncomms13603.",
    links="none: a lake's water continues through the catchment units it lies in",
    style={"color": "#2171b5", "fill_color": "#6baed6", "fill_opacity": 0.5, "weight": 1.0,
           "z": 5})
_WDPA_TERMS = ("WDPA Terms of Use: the data may not be used commercially or redistributed "
               "(in whole or as a substantial part, derived maps included) without UNEP-WCMC's "
               "permission; commercial users go through IBAT. Keep WDPA features out of "
               "public exports unless your use is covered.")
WDPA = DatasetProfile(
    "wdpa", "WDPA protected areas (IWRA candidates)",
    ("WDPAID", "NAME", "ORIG_NAME", "DESIG_ENG", "IUCN_CAT", "STATUS", "MARINE", "REP_AREA"),
    LayerKind.OTHER, "wdpa_candidates", AccuracyClass.OFFICIAL,
    "WDPA Terms of Use (UNEP-WCMC and IUCN), non-commercial use",
    "UNEP-WCMC and IUCN, Protected Planet: The World Database on Protected Areas (WDPA), "
    "www.protectedplanet.net",
    "UNEP-WCMC and IUCN (YEAR), Protected Planet: The World Database on Protected Areas "
    "(WDPA) [On-line], [MONTH/YEAR], Cambridge, UK: UNEP-WCMC and IUCN. Available at: "
    "www.protectedplanet.net.", terms=_WDPA_TERMS,
    links="candidate_for = iwra; category from DESIG_ENG; a point becomes a circle of "
          "REP_AREA km² (accuracy derived)",
    style={"color": "#31a354", "fill_color": "#a1d99b", "fill_opacity": 0.15, "weight": 1.5,
           "dash": "2 4", "z": 3})
RAMSAR = DatasetProfile(
    "ramsar", "Ramsar Sites (IWRA candidates)", ("ramsarid",),
    LayerKind.OTHER, "ramsar_candidates", AccuracyClass.OFFICIAL,
    "Ramsar Sites Information Service terms of use (attribution)",
    "Ramsar Sites Information Service (RSIS), rsis.ramsar.org",
    "Ramsar Sites Information Service, https://rsis.ramsar.org (accessed [DATE]).",
    links="candidate_for = iwra; category wetland ecosystem",
    style={"color": "#31a354", "fill_color": "#74c476", "fill_opacity": 0.2, "weight": 1.5,
           "dash": "2 4", "z": 3})
AQUEDUCT = DatasetProfile(
    "aqueduct", "WRI Aqueduct 4.0 baseline water stress", ("pfaf_id", "bws_score", "bws_label"),
    None, "", AccuracyClass.DERIVED, "CC BY 4.0 (WRI Aqueduct 4.0)",
    "World Resources Institute, Aqueduct 4.0 (2023)",
    "Kuzma, S., M.F.P. Bierkens, S. Lakshman, T. Luo, L. Saccoccia, E. H. Sutanudjaja, and "
    "R. Van Beek. 2023. Aqueduct 4.0: Updated decision-relevant global water risk "
    "indicators. Technical Note. Washington, DC: World Resources Institute. "
    "doi.org/10.46830/writn.23.00061.",
    links="joined to catchment units by Pfafstetter code (Aqueduct's pfaf_id is level 6: a "
          "finer unit takes its first 6 digits)")
OSM = DatasetProfile(
    "osm", "OpenStreetMap waterways, water bodies and treatment plants", (),
    LayerKind.RIVER, "osm", AccuracyClass.DERIVED,
    "ODbL 1.0 (Open Database License)", "© OpenStreetMap contributors",
    "© OpenStreetMap contributors, available under the Open Database License "
    "(openstreetmap.org/copyright).",
    terms="ODbL: share-alike for a derived database; credit “© OpenStreetMap contributors” "
          "on every map made from it.",
    links="waterways → rivers (osm_waterways), water bodies → lakes (osm_water), wastewater "
          "plants and water works → facilities (osm_treatment)")

#: Every profile, in the order they are tried.
PROFILES: tuple[DatasetProfile, ...] = (HYDROBASINS, HYDRORIVERS, HYDROLAKES, WDPA, RAMSAR,
                                        AQUEDUCT)
_OSM_ID = re.compile(r"^(node|way|relation)/\d+$")


def recognise(names: Iterable[str], sample: pd.DataFrame | None = None) -> DatasetProfile | None:
    """The profile a file's fields match (None: not a public dataset we know).

    ``sample`` (a few rows) lets an Overpass GeoJSON be told by its ``way/123`` ids.
    """
    names = [str(n) for n in names]
    for profile in PROFILES:
        if profile.matches(names):
            return profile
    lowered = {n.lower() for n in names}
    tags = {"waterway", "natural", "man_made", "water", "landuse"}
    if "osm_id" in lowered and lowered & tags:
        return OSM
    if sample is not None and lowered & tags:
        for column in ("@id", "id"):
            if column in sample.columns and sample[column].astype(str).str.match(
                    _OSM_ID.pattern).any():
                return OSM
    return None


def level_name(level: int) -> str:
    """The ``level`` value of HydroBASINS units: ``pfafstetter_8``."""
    return f"pfafstetter_{int(level)}"


# --- conversions ----------------------------------------------------------------------------


@dataclass
class Converted:
    """Features of one layer to save, with what the conversion noted and left out."""

    layer_id: str
    kind: LayerKind
    title: str
    frame: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)
    rejected: list[RejectedFeature] = field(default_factory=list)


def _columns(frame: pd.DataFrame) -> dict[str, str]:
    return {str(c).lower(): str(c) for c in frame.columns}


def _int_column(frame: pd.DataFrame, col: dict[str, str], name: str) -> np.ndarray:
    values = pd.to_numeric(frame[col[name.lower()]], errors="coerce")
    if values.isna().any():
        raise DataReadError(f"{name} holds {int(values.isna().sum())} empty or non-numeric "
                            "value(s); a published file has an id in every row.")
    return values.to_numpy(dtype=np.int64)


def _kept(frame: pd.DataFrame, col: dict[str, str], names: Iterable[str],
          rename: Mapping[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        if name in col:
            out[(rename or {}).get(name, name)] = frame[col[name]].to_numpy()
    return out


def convert(profile: DatasetProfile, frame: gpd.GeoDataFrame, *, level: int | None = None
            ) -> list[Converted]:
    """The layer(s) a dataset's features (EPSG:4326) become, ready for the import.

    Raises
    ------
    DataReadError
        For values the dataset's schema does not allow (an id that is not a number…).
    """
    if profile is HYDROBASINS:
        return [_hydrobasins(frame, level)]
    if profile is HYDRORIVERS:
        return [_hydrorivers(frame)]
    if profile is HYDROLAKES:
        return [_hydrolakes(frame)]
    if profile in (WDPA, RAMSAR):
        return [_candidates(frame, profile)]
    if profile is OSM:
        return _osm(frame)
    raise DataReadError(f"{profile.title} has no features to import as a layer.")


def _frame(data: dict[str, Any], geometry: Any) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(np.asarray(geometry, dtype=object),
                                                         crs="EPSG:4326"), crs="EPSG:4326")


def _hydrobasins(frame: gpd.GeoDataFrame, level: int | None) -> Converted:
    col = _columns(frame)
    ids = _int_column(frame, col, "HYBAS_ID")
    down = _int_column(frame, col, "NEXT_DOWN")
    pfaf = _int_column(frame, col, "PFAF_ID")
    levels = pfafstetter_levels(pfaf)
    level = int(level if level is not None else (levels[0] if len(levels) else 0))
    endo = pd.to_numeric(frame[col["endo"]], errors="coerce").fillna(0).to_numpy(dtype=int)
    data: dict[str, Any] = {
        "fid": [f"hybas_{i}" for i in ids],
        "name": [f"Sub-basin {p} (HydroBASINS level {level})" for p in pfaf],
        "next_down": [f"hybas_{d}" if d else None for d in down],
        "level": level_name(level),
        "hybas_id": ids, "pfaf_id": pfaf, "hybas_next_down": down,
    }
    data |= _kept(frame, col, ("next_sink", "main_bas", "dist_sink", "dist_main", "sub_area",
                               "up_area", "endo", "coast", "order", "sort", "lake"),
                  rename={"order": "river_order", "sort": "sort_order"})
    out = _frame(data, frame.geometry.values)
    sinks = int((down == 0).sum())
    endorheic = int((endo == 2).sum())
    inland = (f", {endorheic:,} of them endorheic (ENDO = 2: no outlet to the sea)"
              if endorheic else "")
    notes = [f"{len(out):,} sub-basins at Pfafstetter level {level}; {sinks:,} end at a sink "
             f"(next_down empty){inland}."]
    return Converted(HYDROBASINS.layer_id.format(level=level), LayerKind.CATCHMENT_UNIT,
                     f"HydroBASINS sub-basins, level {level}", out, notes)


def _hydrorivers(frame: gpd.GeoDataFrame) -> Converted:
    col = _columns(frame)
    ids = _int_column(frame, col, "HYRIV_ID")
    down = _int_column(frame, col, "NEXT_DOWN")
    order = pd.to_numeric(frame[col["ord_stra"]], errors="coerce").fillna(0).astype(int)
    data: dict[str, Any] = {
        "fid": [f"hyriv_{i}" for i in ids],
        "name": [f"River reach {i} (Strahler order {o})" for i, o in zip(ids, order,
                                                                          strict=True)],
        "flows_to": [f"hyriv_{d}" if d else None for d in down],
        "hyriv_id": ids, "hyriv_next_down": down,
    }
    data |= _kept(frame, col, ("main_riv", "length_km", "dist_dn_km", "dist_up_km", "catch_skm",
                               "upland_skm", "endorheic", "dis_av_cms", "ord_stra", "ord_clas",
                               "ord_flow", "hybas_l12"))
    notes = [f"{len(ids):,} river reaches; HydroRIVERS carries no river names, so matching a "
             "report's river names needs named waterways (OpenStreetMap) as well."]
    return Converted(HYDRORIVERS.layer_id, LayerKind.RIVER, HYDRORIVERS.title,
                     _frame(data, frame.geometry.values), notes)


_LAKE_TYPES = {1: "lake", 2: "reservoir", 3: "lake control (regulated lake)"}


def _hydrolakes(frame: gpd.GeoDataFrame) -> Converted:
    col = _columns(frame)
    ids = _int_column(frame, col, "Hylak_id")
    names = frame[col["lake_name"]].astype(object).tolist()
    types = pd.to_numeric(frame[col["lake_type"]], errors="coerce").fillna(0).astype(int)
    data: dict[str, Any] = {
        "fid": [f"hylak_{i}" for i in ids],
        "name": [str(n).strip() if isinstance(n, str) and n.strip() else f"Lake {i} (HydroLAKES)"
                 for n, i in zip(names, ids, strict=True)],
        "lake_kind": [_LAKE_TYPES.get(int(t), "") for t in types],
        "hylak_id": ids,
    }
    data |= _kept(frame, col, ("lake_name", "country", "continent", "poly_src", "lake_type",
                               "grand_id", "lake_area", "shore_len", "vol_total", "depth_avg",
                               "dis_avg", "res_time", "elevation", "wshd_area", "pour_long",
                               "pour_lat"))
    return Converted(HYDROLAKES.layer_id, LayerKind.LAKE, HYDROLAKES.title,
                     _frame(data, frame.geometry.values),
                     [f"{len(ids):,} lakes ({int((types == 2).sum()):,} reservoirs)."])


# --- protected areas: IWRA candidates -------------------------------------------------------

_CATEGORY_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), category) for pattern, category in (
        (r"ramsar|wetland|marsh|mire|\bbog\b|peat|lagoon|estuar|floodplain",
         "wetland ecosystem"),
        (r"water (?:source|supply|protection|resource)|drinking|aquifer|groundwater|"
         r"watershed|catchment protection|reservoir protection",
         "water source & quality protection"),
        (r"world heritage|landscape|scenic|cultural|heritage|monument|sacred|geopark|"
         r"recreation", "natural & cultural landscape"),
        (r"bird|wildlife|nature reserve|national park|biosphere|natura 2000|habitats directive|"
         r"birds directive|sanctuary|tiger|biodiversity|conservation|forest|fauna|flora|"
         r"reserve", "biodiversity protected area"),
    ))


def iwra_category(designation: str) -> str:
    """The IWRA category a protected area's designation suggests (a candidate's, to confirm).

    AWS counts legally protected areas, wetlands, drinking-water source zones and areas of
    cultural or recreational value as IWRAs; the first rule that matches the English
    designation decides, else "legally protected area".
    """
    for pattern, category in _CATEGORY_RULES:
        if pattern.search(designation or ""):
            return category
    return "legally protected area"


def _circles(points: np.ndarray, areas_km2: np.ndarray) -> np.ndarray:
    """A circle of each area (km²) around each point, drawn in an equal-area CRS there."""
    out = np.empty(len(points), dtype=object)
    for i, (point, area) in enumerate(zip(points, areas_km2, strict=True)):
        parts = list(shapely.get_parts(point))
        radius = float(np.sqrt(area * 1e6 / len(parts) / np.pi))
        circles = []
        for part in parts:
            crs = local_metric_crs(part.x, part.y, equal_area=True)
            circle = shapely.Point(0, 0).buffer(radius, quad_segs=16)
            circles.append(gpd.GeoSeries([circle], crs=crs).to_crs("EPSG:4326").iloc[0])
        out[i] = shapely.union_all(circles) if len(circles) > 1 else circles[0]
    return out


def _candidates(frame: gpd.GeoDataFrame, profile: DatasetProfile) -> Converted:
    col = _columns(frame)
    is_wdpa = profile is WDPA
    if is_wdpa:
        pid = col.get("wdpa_pid")
        keys = frame[pid].astype(str).to_numpy() if pid else frame[col["wdpaid"]].astype(
            "Int64").astype(str).to_numpy()
        names = frame[col["name"]].astype(str).to_numpy()
        designation = frame[col["desig_eng"]].astype(str).fillna("").to_numpy()
        area = pd.to_numeric(frame[col["rep_area"]], errors="coerce").to_numpy(dtype=float)
        prefix = "wdpa"
    else:
        keys = frame[col["ramsarid"]].astype(str).to_numpy()
        name_col = next((col[c] for c in ("officialna", "officialname", "site_name", "name")
                         if c in col), None)
        names = (frame[name_col].astype(str).to_numpy() if name_col
                 else np.array([f"Ramsar Site {k}" for k in keys], dtype=object))
        designation = np.full(len(frame), "Ramsar Site, Wetland of International Importance",
                              dtype=object)
        area_col = next((col[c] for c in ("area_off", "area_ha", "area") if c in col), None)
        area = (pd.to_numeric(frame[area_col], errors="coerce").to_numpy(dtype=float) / 100.0
                if area_col else np.full(len(frame), np.nan))  # RSIS areas are hectares
        prefix = "ramsar"
    geoms = np.asarray(frame.geometry.values, dtype=object)
    types = shapely.get_type_id(geoms)
    is_point = np.isin(types, [0, 4])  # Point, MultiPoint
    rejected: list[RejectedFeature] = []
    usable = ~is_point | (np.isfinite(area) & (area > 0))
    for i in np.flatnonzero(~usable):
        rejected.append(RejectedFeature(
            f"{names[i]} ({prefix} {keys[i]})",
            "a point with no reported area (REP_AREA 0 or empty): no extent to draw or screen; "
            "map its boundary if it matters"))
    geometry = geoms.copy()
    drawn = is_point & usable
    if drawn.any():
        geometry[drawn] = _circles(geoms[drawn], area[drawn])
    data: dict[str, Any] = {
        "fid": [f"{prefix}_{k}" for k in keys],
        "name": names,
        "candidate_for": CANDIDATE_MARK,
        "category": [iwra_category(str(d)) for d in designation],
        "designation": designation,
        "accuracy": np.where(is_point, AccuracyClass.DERIVED.value, AccuracyClass.OFFICIAL.value),
        "geometry_basis": np.where(
            is_point, [f"circle of the reported area ({a:g} km²) around the reported point"
                       if np.isfinite(a) else "" for a in area],
            "boundary as published"),
        "reported_area_km2": area,
    }
    if is_wdpa:
        data |= _kept(frame, col, ("wdpaid", "wdpa_pid", "orig_name", "desig", "desig_type",
                                   "iucn_cat", "int_crit", "marine", "status", "status_yr",
                                   "gov_type", "own_type", "mang_auth", "iso3", "parent_iso3",
                                   "parent_iso"))
    out = _frame(data, geometry)[usable].reset_index(drop=True)
    notes = [f"{len(out):,} protected areas as IWRA candidates ({int(drawn.sum()):,} drawn as "
             "circles of their reported area, accuracy derived): none is an IWRA until a "
             "person confirms it (catchscope confirm-iwra)."]
    if is_wdpa and "status" in out.columns:
        proposed = int(out["status"].astype(str).isin(["Proposed", "Not Reported"]).sum())
        if proposed:
            notes.append(f"{proposed} of them are not designated yet (STATUS Proposed / Not "
                         "Reported).")
    if is_wdpa and "marine" in out.columns:
        marine = int((out["marine"].astype(str) == "2").sum())
        if marine:
            notes.append(f"{marine} are marine (MARINE = 2): rarely IWRAs of a site's "
                         "freshwater catchment.")
    return Converted(profile.layer_id, LayerKind.OTHER, profile.title, out, notes, rejected)


# --- OpenStreetMap --------------------------------------------------------------------------

_WATERWAYS = {"river", "stream", "canal", "drain", "ditch", "brook", "tidal_channel"}
_HSTORE = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


def _tags(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """One column per OSM tag of interest, from flat tags, ``other_tags`` or ``tags``."""
    wanted = ("name", "waterway", "natural", "water", "landuse", "man_made", "name:en",
              "operator")
    rows: list[dict[str, str]] = []
    col = _columns(frame)
    for record in frame.drop(columns=frame.geometry.name).to_dict(orient="records"):
        tags: dict[str, str] = {}
        for key in ("other_tags", "tags"):
            value = record.get(col.get(key, ""))
            if isinstance(value, str) and value:
                if value.lstrip().startswith("{"):
                    with contextlib.suppress(ValueError, AttributeError):
                        tags |= {str(k): str(v) for k, v in json.loads(value).items()}
                else:
                    tags |= dict(_HSTORE.findall(value))
            elif isinstance(value, dict):
                tags |= {str(k): str(v) for k, v in value.items()}
        for key in wanted:
            value = record.get(col.get(key, ""))
            if isinstance(value, str) and value:
                tags[key] = value
        rows.append({k: tags.get(k, "") for k in wanted})
    return pd.DataFrame(rows, index=frame.index, columns=list(wanted))


def _osm_ids(frame: gpd.GeoDataFrame) -> list[str]:
    col = _columns(frame)
    out = []
    for k, record in enumerate(frame.drop(columns=frame.geometry.name).to_dict(
            orient="records")):
        value = next((record.get(col[c]) for c in ("@id", "id", "osm_id", "osm_way_id")
                      if c in col and record.get(col[c]) not in (None, "")), None)
        text = str(value) if value is not None else f"feature/{k + 1}"
        if "/" not in text:
            text = f"{'way' if record.get(col.get('osm_way_id', '')) else 'osm'}/{text}"
        out.append("osm_" + re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_"))
    return out


def _osm(frame: gpd.GeoDataFrame) -> list[Converted]:
    tags = _tags(frame)
    geoms = np.asarray(frame.geometry.values, dtype=object)
    family = shapely.get_dimensions(geoms)
    fids = np.asarray(_osm_ids(frame), dtype=object)
    names = np.where(tags["name"] != "", tags["name"], tags["name:en"])
    waterway = tags["waterway"].isin(_WATERWAYS).to_numpy() & (family == 1)
    water = ((tags["natural"] == "water") | (tags["water"] != "")
             | tags["landuse"].isin(["reservoir", "basin"])
             | (tags["waterway"] == "riverbank")).to_numpy() & (family == 2)
    wastewater = (tags["man_made"] == "wastewater_plant").to_numpy()
    works = (tags["man_made"] == "water_works").to_numpy()
    out = []

    def layer(mask: np.ndarray, layer_id: str, kind: LayerKind, title: str,
              extra: dict[str, Any], default: str) -> None:
        if not mask.any():
            return
        data: dict[str, Any] = {
            "fid": fids[mask],
            "name": [n or f"{default} ({f.removeprefix('osm_').replace('_', '/')})"
                     for n, f in zip(names[mask], fids[mask], strict=True)],
            "osm_name": names[mask],
            **{k: (np.asarray(v)[mask] if isinstance(v, (pd.Series, np.ndarray)) else v)
               for k, v in extra.items()},
        }
        out.append(Converted(layer_id, kind, title, _frame(data, geoms[mask]),
                             [f"{int(mask.sum()):,} {title.lower()}."]))

    layer(waterway, "osm_waterways", LayerKind.RIVER, "OSM waterways",
          {"waterway": tags["waterway"].to_numpy()}, "Unnamed waterway")
    layer(water, "osm_water", LayerKind.LAKE, "OSM water bodies",
          {"water": tags["water"].to_numpy()}, "Unnamed water body")
    plants = wastewater | works
    layer(plants, "osm_treatment", LayerKind.FACILITY, "OSM treatment plants",
          {"facility_type": np.where(wastewater, "wastewater treatment plant",
                                     "water treatment plant"),
           # who runs a plant: how a report's water service provider is matched to it
           "operator": tags["operator"].where(tags["operator"] != "").to_numpy()},
          "Unnamed treatment plant")
    if not out:
        raise DataReadError("The OpenStreetMap extract holds no waterway (river, stream, "
                            "canal…), water body (natural=water) or treatment plant "
                            "(man_made=wastewater_plant / water_works).")
    left = int((~(waterway | water | plants)).sum())
    if left:
        out[0].notes.append(f"{left:,} other OSM features (roads, buildings, untagged "
                            "nodes…) were left out.")
    return out


# --- Aqueduct: water stress by sub-basin ----------------------------------------------------

_AQUEDUCT_COLUMNS = ("pfaf_id", "bws_raw", "bws_score", "bws_cat", "bws_label")


def aqueduct_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Baseline water stress per level-6 sub-basin (one row per ``pfaf_id``).

    Aqueduct splits sub-basins by province and aquifer; water stress is the sub-basin's,
    so the first row with a score is kept.  Scores of -9999 (no data) become empty.
    """
    col = _columns(frame)
    table = pd.DataFrame({c: frame[col[c]] for c in _AQUEDUCT_COLUMNS if c in col})
    table["pfaf_id"] = pd.to_numeric(table["pfaf_id"], errors="coerce")
    table = table.dropna(subset=["pfaf_id"])
    table["pfaf_id"] = table["pfaf_id"].astype(np.int64)
    for c in ("bws_raw", "bws_score", "bws_cat"):
        if c in table:
            values = pd.to_numeric(table[c], errors="coerce")
            table[c] = values.where(values > -9999)
    table["bws_label"] = table["bws_label"].astype(object).where(table["bws_label"].notna(), None)
    table = table.sort_values("bws_score", na_position="last", kind="stable")
    has = table["bws_score"].notna()
    table = pd.concat([table[has], table[~has]]).drop_duplicates("pfaf_id", keep="first")
    return table.set_index("pfaf_id").sort_index()


def join_water_stress(units: pd.DataFrame, table: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """Water stress of each unit, by its Pfafstetter code: the table's rows aligned to units.

    A unit at level 6 or finer takes its level-6 sub-basin's values (the first 6 digits
    of its code); a coarser unit takes the worst (highest score) of the level-6 sub-basins
    it holds, and its label says so.

    Returns
    -------
    (Series of bool, DataFrame)
        Whether each unit was matched, and ``bws_*`` columns aligned with ``units``.
    """
    pfaf = pd.to_numeric(units["pfaf_id"], errors="coerce").fillna(0).astype(np.int64).to_numpy()
    levels = pfafstetter_levels(pfaf)
    key = np.where(levels >= 6, pfaf // (10 ** np.maximum(levels - 6, 0)), -1)
    joined = table.reindex(key)
    joined.index = units.index
    coarse = np.flatnonzero((levels > 0) & (levels < 6))
    if len(coarse):
        prefixes = table.index.to_numpy()
        for i in coarse:
            held = table[(prefixes // 10 ** (6 - levels[i])) == pfaf[i]]
            held = held[held["bws_score"].notna()]
            if not held.empty:
                worst = held.sort_values("bws_score").iloc[-1]
                joined.iloc[i] = worst
                joined.iloc[i, joined.columns.get_loc("bws_label")] = (
                    f"up to {worst['bws_label']} (worst of {len(held)} sub-basins)")
    matched = pd.Series(joined["bws_label"].notna().to_numpy(), index=units.index)
    return matched, joined.reset_index(drop=True).set_index(units.index)
