"""Small public datasets written in code, in their exact published schemas (no downloads).

A made-up river basin on a 0.2° grid near 10°E, 47°N (Europe, HydroSHEDS region 2)::

        10.0   10.2    10.4    10.6    10.8    11.0
    47.4  .------B1------B2------E1------E0------.
          |      | trib. | trib. | endo. | endo. |
    47.2  A1-----A2------A3------A4------.       |
          | main river flows east →       sea    |
    47.0  '--------------------------------------'

* HydroBASINS level 8: the main stem A1 → A2 → A3 → A4 → the sea (NEXT_DOWN 0), two
  tributary basins B1 → A2 and B2 → A3, and an endorheic basin E0 → E1 (ENDO 2: a sink
  with no outlet to the sea).
* Level 12: each level-8 basin split into a west and an east half (PFAF_ID = the level-8
  code followed by 4 digits), west → east → the next basin's west half.
* HydroRIVERS reaches along the main river and the B1 tributary; HydroLAKES lakes in B1
  and E1; WDPA polygons (a wetland downstream of the site, a drinking-water protection
  zone upstream of the intake) and points (one with only REP_AREA, one with REP_AREA 0);
  an Aqueduct 4.0 baseline table keyed by the level-6 codes; an Overpass GeoJSON extract.

Every field list is the one the dataset is published with (HydroBASINS v1c, HydroRIVERS
v1.0, HydroLAKES v1.0, WDPA shapefile release, Aqueduct 4.0 baseline annual CSV); values
are invented.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

__all__ = [
    "BASINS_L8",
    "aqueduct_table",
    "basins_frame",
    "hydrobasins",
    "hydrolakes",
    "hydrorivers",
    "overpass_geojson",
    "wdpa_points",
    "wdpa_polygons",
    "write_shapefile_zip",
]

#: Level-8 basins: code → (PFAF_ID, box, NEXT_DOWN code or None, ENDO)
BASINS_L8: dict[str, tuple[int, tuple[float, float, float, float], str | None, int]] = {
    "A1": (21401900, (10.0, 47.0, 10.2, 47.2), "A2", 0),
    "A2": (21401700, (10.2, 47.0, 10.4, 47.2), "A3", 0),
    "A3": (21401500, (10.4, 47.0, 10.6, 47.2), "A4", 0),
    "A4": (21401100, (10.6, 47.0, 10.8, 47.2), None, 0),
    "B1": (21402800, (10.2, 47.2, 10.4, 47.4), "A2", 0),
    "B2": (21402600, (10.4, 47.2, 10.6, 47.4), "A3", 0),
    "E0": (21409300, (10.8, 47.2, 11.0, 47.4), "E1", 1),
    "E1": (21409100, (10.6, 47.2, 10.8, 47.4), None, 2),
}
_ORDER = {"A": 1, "B": 2, "E": 1}


def _hybas_id(level: int, serial: int, region: int = 2) -> int:
    """The region (2: Europe), the level, a 6-digit serial and side digit 0: 2080000010."""
    return int(f"{region}{level:02d}{serial:06d}0")


def _area_km2(box: tuple[float, float, float, float], crs: str = "EPSG:3035") -> float:
    geom = gpd.GeoSeries([shapely.box(*box)], crs="EPSG:4326").to_crs(crs)
    return round(float(geom.area.iloc[0]) / 1e6, 1)


def hydrobasins(level: int = 8) -> gpd.GeoDataFrame:
    """HydroBASINS v1c of the made-up basin at level 8 or 12 (13 fields, published order)."""
    return basins_frame(BASINS_L8, level, region=2, order=lambda code: _ORDER[code[0]],
                        upstream_half="w")


def basins_frame(basins: dict[str, tuple[int, tuple[float, float, float, float], str | None,
                                         int]],
                 level: int, *, region: int, order: Callable[[str], int],
                 upstream_half: str, coastal: bool = False,
                 area_crs: str = "EPSG:3035") -> gpd.GeoDataFrame:
    """HydroBASINS v1c rows of ``basins`` (code → PFAF_ID, box, NEXT_DOWN code, ENDO).

    Level 8 is ``basins`` as given; level 12 splits each box into a west (``w``) and an
    east (``e``) half: the ``upstream_half`` drains into the other, which drains into the
    next basin's upstream half (PFAF_ID = the level-8 code followed by 0003 upstream and
    0001 downstream).  ``coastal``: a basin draining to no other one (not endorheic) has
    COAST 1; areas are measured in ``area_crs`` (equal-area or local).
    """
    units: list[tuple[str, int, tuple[float, float, float, float], str | None, int]] = []
    down_half = "e" if upstream_half == "w" else "w"
    for code, (pfaf, box, down, endo) in basins.items():
        if level == 8:
            units.append((code, pfaf, box, down, endo))
            continue
        west, south, east, north = box
        mid = round((west + east) / 2, 6)
        halves = {"w": (west, south, mid, north), "e": (mid, south, east, north)}
        downstream_next = f"{down}{upstream_half}" if down else None
        units.append((f"{code}{upstream_half}", pfaf * 10_000 + 3, halves[upstream_half],
                      f"{code}{down_half}", 1 if endo else 0))
        units.append((f"{code}{down_half}", pfaf * 10_000 + 1, halves[down_half],
                      downstream_next, endo))
    serial = {code: k + 1 for k, (code, *_rest) in enumerate(units)}
    ids = {code: _hybas_id(level, serial[code], region) for code in serial}
    down_of = {code: down for code, _, _, down, _ in units}

    def sink(code: str) -> str:
        while down_of[code] is not None:
            code = str(down_of[code])
        return code

    area = {code: _area_km2(box, area_crs) for code, _, box, _, _ in units}
    upstream: dict[str, float] = dict(area)
    for code in serial:
        at = down_of[code]
        while at is not None:
            upstream[at] += area[code]
            at = down_of[at]
    rows = []
    for k, (code, pfaf, _box, down, endo) in enumerate(units):
        steps = 0
        at = down
        while at is not None:
            steps += 1
            at = down_of[at]
        rows.append({
            "HYBAS_ID": ids[code], "NEXT_DOWN": ids[down] if down else 0,
            "NEXT_SINK": ids[sink(code)], "MAIN_BAS": ids[sink(code)],
            "DIST_SINK": float(steps * 16.0), "DIST_MAIN": float(steps * 16.0),
            "SUB_AREA": area[code], "UP_AREA": round(upstream[code], 1), "PFAF_ID": pfaf,
            "ENDO": endo, "COAST": int(coastal and down is None and not endo),
            "ORDER": order(code), "SORT": k + 1,
        })
    return gpd.GeoDataFrame(rows, geometry=[shapely.box(*u[2]) for u in units],
                            crs="EPSG:4326")


def hydrorivers() -> gpd.GeoDataFrame:
    """HydroRIVERS v1.0 reaches: the main river to the sea and the B1 tributary."""
    lines = {
        20_000_001: ([(10.05, 47.1), (10.25, 47.1)], 20_000_002, 1),
        20_000_002: ([(10.25, 47.1), (10.45, 47.1)], 20_000_003, 2),
        20_000_003: ([(10.45, 47.1), (10.65, 47.1)], 20_000_004, 2),
        20_000_004: ([(10.65, 47.1), (10.8, 47.1)], 0, 2),
        20_000_005: ([(10.31, 47.38), (10.31, 47.22), (10.3, 47.1)], 20_000_002, 1),
    }
    rows = []
    for reach, (_, down, order) in lines.items():
        rows.append({
            "HYRIV_ID": reach, "NEXT_DOWN": down, "MAIN_RIV": 20_000_004,
            "LENGTH_KM": 15.2, "DIST_DN_KM": 30.0, "DIST_UP_KM": 12.0, "CATCH_SKM": 120.5,
            "UPLAND_SKM": 250.0 * order, "ENDORHEIC": 0, "DIS_AV_CMS": 3.5 * order,
            "ORD_STRA": order, "ORD_CLAS": 1, "ORD_FLOW": 6, "HYBAS_L12": 2120000010,
        })
    return gpd.GeoDataFrame(rows, geometry=[shapely.LineString(v[0]) for v in lines.values()],
                            crs="EPSG:4326")


_LAKE_FIELDS = ("Hylak_id", "Lake_name", "Country", "Continent", "Poly_src", "Lake_type",
                "Grand_id", "Lake_area", "Shore_len", "Shore_dev", "Vol_total", "Vol_res",
                "Vol_src", "Depth_avg", "Dis_avg", "Res_time", "Elevation", "Slope_100",
                "Wshd_area", "Pour_long", "Pour_lat")


def hydrolakes() -> gpd.GeoDataFrame:
    """HydroLAKES v1.0: a named reservoir in B1 and an unnamed terminal lake in E1."""
    rows = [
        dict.fromkeys(_LAKE_FIELDS, 0) | {
            "Hylak_id": 123456, "Lake_name": "Speicher Testtal", "Country": "Austria",
            "Continent": "Europe", "Poly_src": "SWBD", "Lake_type": 2, "Grand_id": 4321,
            "Lake_area": 1.8, "Pour_long": 10.31, "Pour_lat": 47.3},
        dict.fromkeys(_LAKE_FIELDS, 0) | {
            "Hylak_id": 123457, "Lake_name": None, "Country": "Austria", "Continent": "Europe",
            "Poly_src": "SWBD", "Lake_type": 1, "Lake_area": 0.9, "Pour_long": 10.7,
            "Pour_lat": 47.3},
    ]
    return gpd.GeoDataFrame(rows, geometry=[shapely.Point(10.31, 47.31).buffer(0.008),
                                            shapely.Point(10.7, 47.3).buffer(0.006)],
                            crs="EPSG:4326")


_WDPA_FIELDS = ("WDPAID", "WDPA_PID", "PA_DEF", "NAME", "ORIG_NAME", "DESIG", "DESIG_ENG",
                "DESIG_TYPE", "IUCN_CAT", "INT_CRIT", "MARINE", "REP_M_AREA", "GIS_M_AREA",
                "REP_AREA", "GIS_AREA", "NO_TAKE", "NO_TK_AREA", "STATUS", "STATUS_YR",
                "GOV_TYPE", "OWN_TYPE", "MANG_AUTH", "MANG_PLAN", "VERIF", "METADATAID",
                "SUB_LOC", "PARENT_ISO", "ISO3", "SUPP_INFO", "CONS_OBJ")


def _wdpa_row(wdpaid: int, name: str, desig: str, desig_eng: str, area: float,
              **extra: object) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(_WDPA_FIELDS, "Not Reported")
    row |= {"WDPAID": wdpaid, "WDPA_PID": str(wdpaid), "PA_DEF": "1", "NAME": name,
            "ORIG_NAME": name, "DESIG": desig, "DESIG_ENG": desig_eng,
            "DESIG_TYPE": "National", "IUCN_CAT": "IV", "INT_CRIT": "Not Applicable",
            "MARINE": "0", "REP_M_AREA": 0.0, "REP_AREA": area, "NO_TK_AREA": 0.0,
            "STATUS": "Designated", "STATUS_YR": 2004, "METADATAID": 1834, "ISO3": "AUT",
            "PARENT_ISO": "AUT"}
    return row | extra


def wdpa_polygons() -> gpd.GeoDataFrame:
    """WDPA polygons: a wetland reserve downstream (A3), a water protection zone upstream (B1)."""
    rows = [
        _wdpa_row(555001, "Testach-Moor", "Naturschutzgebiet", "Nature Reserve (wetland)", 4.2,
                  GIS_M_AREA=0.0, GIS_AREA=4.1),
        _wdpa_row(555002, "Wasserschongebiet Testtal", "Wasserschongebiet",
                  "Water Protection Area", 30.0, GIS_M_AREA=0.0, GIS_AREA=29.5),
    ]
    return gpd.GeoDataFrame(rows, geometry=[shapely.box(10.45, 47.05, 10.48, 47.08),
                                            shapely.box(10.25, 47.25, 10.35, 47.35)],
                            crs="EPSG:4326")


def wdpa_points() -> gpd.GeoDataFrame:
    """WDPA points (MultiPoint, as published): one with REP_AREA 12.5 km², one with 0."""
    rows = [
        _wdpa_row(555003, "Quellgebiet Testbach", "Landschaftsschutzgebiet",
                  "Landscape Protection Area", 12.5),
        _wdpa_row(555004, "Naturdenkmal Alte Linde", "Naturdenkmal", "Natural Monument", 0.0),
    ]
    rows = [{k: v for k, v in row.items() if k not in ("GIS_M_AREA", "GIS_AREA")}
            for row in rows]
    return gpd.GeoDataFrame(rows, geometry=[shapely.MultiPoint([(10.5, 47.3)]),
                                            shapely.MultiPoint([(10.2, 47.05)])],
                            crs="EPSG:4326")


def aqueduct_table() -> pd.DataFrame:
    """Aqueduct 4.0 baseline annual rows (a sub-basin split by province; a no-data row)."""
    labels = {0: "Low (<10%)", 1: "Low - Medium (10-20%)", 2: "Medium - High (20-40%)",
              3: "High (40-80%)", 4: "Extremely High (>80%)"}
    rows = []
    values = {214019: 1.2, 214017: 3.4, 214015: 3.1, 214011: 2.2, 214028: 0.4, 214026: 0.8,
              214093: 4.6, 214091: -9999.0}
    for k, (pfaf, score) in enumerate(values.items()):
        for province in ("AUT.8_1", "AUT.7_1") if pfaf == 214017 else ("AUT.8_1",):
            cat = -9999 if score < 0 else min(int(score), 4)
            rows.append({
                "string_id": f"{pfaf}-{province}-1234", "aq30_id": 1000 + k, "pfaf_id": pfaf,
                "gid_1": province, "aqid": 1234, "gid_0": "AUT", "name_0": "Austria",
                "name_1": "Tirol" if province == "AUT.8_1" else "Salzburg", "area_km2": 220.0,
                "bws_raw": -9999.0 if score < 0 else score / 5, "bws_score": score,
                "bws_cat": cat, "bws_label": "No Data" if score < 0 else labels[cat],
                "bwd_raw": 0.1, "bwd_score": 0.5, "bwd_cat": 0, "bwd_label": "Low (<5%)",
            })
    return pd.DataFrame(rows)


def overpass_geojson() -> bytes:
    """An Overpass turbo GeoJSON export: a named river, a lake and a wastewater plant."""
    features = [
        {"type": "Feature", "id": "way/100",
         "properties": {"@id": "way/100", "waterway": "river", "name": "Testach"},
         "geometry": {"type": "LineString",
                      "coordinates": [[10.05, 47.1], [10.45, 47.1], [10.8, 47.1]]}},
        {"type": "Feature", "id": "way/101",
         "properties": {"@id": "way/101", "natural": "water", "water": "reservoir",
                        "name": "Speicher Testtal"},
         "geometry": {"type": "Polygon", "coordinates": [[[10.30, 47.30], [10.32, 47.30],
                                                          [10.32, 47.32], [10.30, 47.30]]]}},
        {"type": "Feature", "id": "node/102",
         "properties": {"@id": "node/102", "man_made": "wastewater_plant",
                        "name": "ARA Testach-Mitte"},
         "geometry": {"type": "Point", "coordinates": [10.33, 47.095]}},
        {"type": "Feature", "id": "way/103",
         "properties": {"@id": "way/103", "highway": "primary", "name": "Talstrasse"},
         "geometry": {"type": "LineString", "coordinates": [[10.2, 47.0], [10.4, 47.0]]}},
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def write_shapefile_zip(frames: dict[str, gpd.GeoDataFrame], target: Path) -> Path:
    """Write frames as shapefiles (one per name) zipped together, as HydroSHEDS ships them."""
    folder = target.with_suffix("")
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, frame in frames.items():
            frame.to_file(folder / f"{name}.shp", engine="pyogrio")
            for part in sorted(folder.glob(f"{name}.*")):
                archive.write(part, f"{target.stem}/{part.name}")
    return target


def mix_levels() -> gpd.GeoDataFrame:
    """A HydroBASINS-like file holding level-8 and level-12 units together."""
    both = pd.concat([hydrobasins(8), hydrobasins(12)], ignore_index=True)
    return gpd.GeoDataFrame(both, geometry="geometry", crs="EPSG:4326")


def with_links(frame: gpd.GeoDataFrame, changes: dict[int, int]) -> gpd.GeoDataFrame:
    """A copy with some NEXT_DOWN values replaced (HYBAS_ID → NEXT_DOWN)."""
    out = frame.copy()
    for hybas, down in changes.items():
        out.loc[out["HYBAS_ID"] == hybas, "NEXT_DOWN"] = down
    return out


def hybas(level: int, code: str) -> int:
    """The HYBAS_ID the fixture gives a basin code (``"A2"``, or ``"A2w"`` at level 12)."""
    frame = hydrobasins(level)
    pfaf = BASINS_L8[code[:2]][0]
    if level == 12:
        pfaf = pfaf * 10_000 + (3 if code.endswith("w") else 1)
    return int(frame.loc[frame["PFAF_ID"] == pfaf, "HYBAS_ID"].iloc[0])


