"""A second set of public datasets written in code: a schematic Maipo basin (Santiago, Chile).

The same published schemas as :mod:`tests.dataset_fixtures` (HydroBASINS v1c levels 8
and 12, HydroRIVERS v1.0, HydroLAKES v1.0, the WDPA shapefile release, an RSIS Ramsar
extract, Aqueduct 4.0 baseline annual, an Overpass GeoJSON export), around the fictional
brewery of ``tests/reports/AO-009101-valle-verde.txt`` in Quilicura.  The geography is
schematic — boxes on a grid, rivers as a few straight segments — and every value is
invented; only the names follow the places (Río Mapocho, Río Maipo, Estero Las Cruces,
La Farfana, Las Vizcachas, Batuco, El Yeso).  Nothing is downloaded::

     -71.70  -71.30  -70.95    -70.70    -70.45    -70.10
  -33.15 .-------.       .---------.---------.
         |       |       |   L2    |   L3    |  Estero Las Cruces (site, Batuco) ← Colina
  -33.38 |  C0   |-------|---------|---------|---------.
         | coast |  N1   |   N2    |   N3    |   N4    |  Río Mapocho, flowing west
  -33.55 |-------|-------|---------|---------|---------|
         |  S0   |  S1   |   S2    |   S3    |   S4    |  Río Maipo, flowing west
  -33.85 '-------'-------'---------'---------'---------'
          sea ←  S0 ← S1 ← S2 ← S3 ← S4;  N4 → N3 → N2 → N1 → S1;  L3 → L2 → N2

Level 12 splits each level-8 box into halves, east (upstream) → west → the next basin's
east half.  ``python -m tests.maipo_fixtures FOLDER`` writes every file, as published
(zipped shapefiles, GeoPackage, CSV, GeoJSON), for the worked example in
``docs/new-site-example.md``.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from tests.dataset_fixtures import (
    _LAKE_FIELDS,
    _wdpa_row,
    basins_frame,
    write_shapefile_zip,
)

__all__ = [
    "BASINS",
    "FILES",
    "SITE",
    "aqueduct_table",
    "build_workspace",
    "hybas",
    "hydrobasins",
    "hydrolakes",
    "hydrorivers",
    "overpass_geojson",
    "ramsar_sites",
    "wdpa_points",
    "wdpa_polygons",
    "write_all",
]

#: Where the brewery of AO-009101 stands (Quilicura), LON, LAT.
SITE = (-70.735, -33.345)

_C = {0: (-71.70, -71.30), 1: (-71.30, -70.95), 2: (-70.95, -70.70), 3: (-70.70, -70.45),
      4: (-70.45, -70.10)}
_R = {"L": (-33.38, -33.15), "N": (-33.55, -33.38), "S": (-33.85, -33.55)}


def _box(column: int, row: str) -> tuple[float, float, float, float]:
    return (_C[column][0], _R[row][0], _C[column][1], _R[row][1])


#: Level-8 basins: code → (PFAF_ID, box, NEXT_DOWN code or None, ENDO).
BASINS: dict[str, tuple[int, tuple[float, float, float, float], str | None, int]] = {
    "L3": (61612204, _box(3, "L"), "L2", 0),
    "L2": (61612202, _box(2, "L"), "N2", 0),
    "N4": (61612109, _box(4, "N"), "N3", 0),
    "N3": (61612107, _box(3, "N"), "N2", 0),
    "N2": (61612105, _box(2, "N"), "N1", 0),
    "N1": (61612103, _box(1, "N"), "S1", 0),
    "S4": (61611109, _box(4, "S"), "S3", 0),
    "S3": (61611107, _box(3, "S"), "S2", 0),
    "S2": (61611105, _box(2, "S"), "S1", 0),
    "S1": (61611103, _box(1, "S"), "S0", 0),
    "S0": (61611101, _box(0, "S"), None, 0),
    "C0": (61620001, (-71.70, -33.55, -71.30, -33.15), None, 0),
}
_ORDER = {"L": 2, "N": 2, "S": 1, "C": 1}

#: River lines (lon, lat), west-flowing; the Mapocho joins the Maipo at the confluence.
_CONFLUENCE = (-71.05, -33.62)
MAPOCHO = [(-70.30, -33.42), (-70.45, -33.43), (-70.70, -33.44), (-70.85, -33.47),
           (-70.95, -33.50), _CONFLUENCE]
MAIPO = [(-70.15, -33.72), (-70.45, -33.64), (-70.70, -33.66), (-70.95, -33.66), _CONFLUENCE,
         (-71.30, -33.60), (-71.62, -33.60)]
LAS_CRUCES = [(-70.71, -33.25), (-70.76, -33.34), (-70.82, -33.40), (-70.85, -33.47)]


def hydrobasins(level: int = 8) -> gpd.GeoDataFrame:
    """HydroBASINS v1c of the schematic Maipo basin (region 6, South America)."""
    return basins_frame(BASINS, level, region=6, order=lambda code: _ORDER[code[0]],
                        upstream_half="e", coastal=True, area_crs="EPSG:32719")


def hybas(level: int, code: str) -> int:
    """The HYBAS_ID of a basin code (``"L2"``, or ``"L2e"`` at level 12)."""
    frame = hydrobasins(level)
    pfaf = BASINS[code[:2]][0]
    if level == 12:
        pfaf = pfaf * 10_000 + (3 if code.endswith("e") else 1)
    return int(frame.loc[frame["PFAF_ID"] == pfaf, "HYBAS_ID"].iloc[0])


def hydrorivers() -> gpd.GeoDataFrame:
    """HydroRIVERS v1.0 reaches (no names, as published): Mapocho, Maipo, Las Cruces."""
    reaches: list[tuple[list[tuple[float, float]], str, int]] = []
    for line, name, order in ((MAPOCHO, "mapocho", 3), (MAIPO, "maipo", 4),
                              (LAS_CRUCES, "cruces", 1)):
        reaches += [([a, b], name, order) for a, b in itertools.pairwise(line)]
    ids = [60_100_001 + k for k in range(len(reaches))]
    starts = {(name, line[0]): ids[k] for k, (line, name, _) in enumerate(reaches)}
    rows = []
    for k, (line, name, order) in enumerate(reaches):
        end = line[1]
        down = starts.get((name, end), 0)
        if name == "mapocho" and end == _CONFLUENCE:
            down = starts[("maipo", _CONFLUENCE)]
        if name == "cruces" and end == LAS_CRUCES[-1]:
            down = starts[("mapocho", LAS_CRUCES[-1])]
        rows.append({
            "HYRIV_ID": ids[k], "NEXT_DOWN": down, "MAIN_RIV": 0,
            "LENGTH_KM": 24.0, "DIST_DN_KM": 40.0, "DIST_UP_KM": 30.0, "CATCH_SKM": 180.0,
            "UPLAND_SKM": 900.0 * order, "ENDORHEIC": 0, "DIS_AV_CMS": 12.0 * order,
            "ORD_STRA": order, "ORD_CLAS": 1, "ORD_FLOW": 5, "HYBAS_L12": 6120000010,
        })
    mouth = next(row["HYRIV_ID"] for row in rows if row["NEXT_DOWN"] == 0)
    for row in rows:
        row["MAIN_RIV"] = mouth
    return gpd.GeoDataFrame(rows, geometry=[shapely.LineString(r[0]) for r in reaches],
                            crs="EPSG:4326")


def hydrolakes() -> gpd.GeoDataFrame:
    """HydroLAKES v1.0: the El Yeso reservoir (upper Maipo) and the Batuco lagoon."""
    rows = [
        dict.fromkeys(_LAKE_FIELDS, 0) | {
            "Hylak_id": 1_400_001, "Lake_name": "Embalse El Yeso", "Country": "Chile",
            "Continent": "South America", "Poly_src": "SWBD", "Lake_type": 2,
            "Grand_id": 2_801, "Lake_area": 6.5, "Pour_long": -70.15, "Pour_lat": -33.70},
        dict.fromkeys(_LAKE_FIELDS, 0) | {
            "Hylak_id": 1_400_002, "Lake_name": "Laguna de Batuco", "Country": "Chile",
            "Continent": "South America", "Poly_src": "SWBD", "Lake_type": 1,
            "Lake_area": 1.1, "Pour_long": -70.86, "Pour_lat": -33.245},
    ]
    return gpd.GeoDataFrame(rows, geometry=[shapely.Point(-70.16, -33.69).buffer(0.012),
                                            shapely.Point(-70.86, -33.24).buffer(0.006)],
                            crs="EPSG:4326")


def _chile(row: dict[str, object]) -> dict[str, object]:
    return row | {"ISO3": "CHL", "PARENT_ISO": "CHL", "IUCN_CAT": "Not Reported",
                  "STATUS_YR": 2010}


def wdpa_polygons() -> gpd.GeoDataFrame:
    """WDPA polygons: Batuco wetland (the site's unit), Quebrada de La Plata, the Maipo mouth."""
    rows = [
        _chile(_wdpa_row(901001, "Humedal de Batuco", "Santuario de la Naturaleza",
                         "Nature Sanctuary", 15.8, GIS_M_AREA=0.0, GIS_AREA=15.2)),
        _chile(_wdpa_row(901002, "Quebrada de La Plata", "Santuario de la Naturaleza",
                         "Nature Sanctuary", 11.6, GIS_M_AREA=0.0, GIS_AREA=11.9)),
        _chile(_wdpa_row(901003, "Humedal Desembocadura del Río Maipo",
                         "Santuario de la Naturaleza", "Nature Sanctuary (wetland)", 0.6,
                         GIS_M_AREA=0.1, GIS_AREA=0.6, MARINE="1")),
    ]
    return gpd.GeoDataFrame(rows, geometry=[shapely.box(-70.88, -33.26, -70.84, -33.22),
                                            shapely.box(-70.93, -33.545, -70.89, -33.515),
                                            shapely.box(-71.64, -33.63, -71.58, -33.59)],
                            crs="EPSG:4326")


def wdpa_points() -> gpd.GeoDataFrame:
    """WDPA points (MultiPoint): Yerba Loca with REP_AREA only, El Morado with REP_AREA 0."""
    rows = [
        _chile(_wdpa_row(901004, "Yerba Loca", "Santuario de la Naturaleza",
                         "Nature Sanctuary", 39.0)),
        _chile(_wdpa_row(901005, "El Morado", "Monumento Natural", "Natural Monument", 0.0)),
    ]
    rows = [{k: v for k, v in row.items() if k not in ("GIS_M_AREA", "GIS_AREA")}
            for row in rows]
    return gpd.GeoDataFrame(rows, geometry=[shapely.MultiPoint([(-70.27, -33.48)]),
                                            shapely.MultiPoint([(-70.06, -33.80)])],
                            crs="EPSG:4326")


def ramsar_sites() -> gpd.GeoDataFrame:
    """Ramsar Sites Information Service polygons (fields as the RSIS shapefile has them)."""
    return gpd.GeoDataFrame(
        {"ramsarid": [2_376], "officialna": ["Humedal El Yali"], "iso3": ["CHL"],
         "country_en": ["Chile"], "area_off": [520.0], "desig_date": ["1996-12-02"]},
        geometry=[shapely.box(-71.80, -33.80, -71.72, -33.74)], crs="EPSG:4326")


def aqueduct_table() -> pd.DataFrame:
    """Aqueduct 4.0 baseline annual rows of the level-6 sub-basins (one split by region)."""
    labels = {2: "Medium - High (20-40%)", 3: "High (40-80%)", 4: "Extremely High (>80%)"}
    values = {616122: 3.4, 616121: 4.3, 616111: 4.7, 616200: 2.6}
    rows = []
    for k, (pfaf, score) in enumerate(values.items()):
        regions = ("CHL.13_1", "CHL.16_1") if pfaf == 616111 else ("CHL.13_1",)
        for region in regions:
            cat = min(int(score), 4)
            rows.append({
                "string_id": f"{pfaf}-{region}-5678", "aq30_id": 7000 + k, "pfaf_id": pfaf,
                "gid_1": region, "aqid": 5678, "gid_0": "CHL", "name_0": "Chile",
                "name_1": "Región Metropolitana de Santiago" if region == "CHL.13_1"
                else "Valparaíso", "area_km2": 1500.0, "bws_raw": score / 5,
                "bws_score": score, "bws_cat": cat, "bws_label": labels[cat],
                "bwd_raw": 0.2, "bwd_score": 1.5, "bwd_cat": 1,
                "bwd_label": "Low - Medium (5-25%)",
            })
    return pd.DataFrame(rows)


def overpass_geojson() -> bytes:
    """An Overpass turbo export: the rivers (Mapocho in two ways), a reservoir, the plants."""
    def line(fid: str, tags: dict[str, str], coords: list[tuple[float, float]]) -> dict:
        return {"type": "Feature", "id": fid, "properties": {"@id": fid, **tags},
                "geometry": {"type": "LineString", "coordinates": [list(c) for c in coords]}}

    def node(fid: str, tags: dict[str, str], lon: float, lat: float) -> dict:
        return {"type": "Feature", "id": fid, "properties": {"@id": fid, **tags},
                "geometry": {"type": "Point", "coordinates": [lon, lat]}}

    yeso = shapely.Point(-70.16, -33.69).buffer(0.011, quad_segs=4)
    features = [
        line("way/301", {"waterway": "river", "name": "Río Mapocho"}, MAPOCHO[:3]),
        line("way/302", {"waterway": "river", "name": "Río Mapocho"}, MAPOCHO[2:]),
        line("way/303", {"waterway": "river", "name": "Río Maipo"}, MAIPO),
        line("way/304", {"waterway": "stream", "name": "Estero Las Cruces"}, LAS_CRUCES),
        {"type": "Feature", "id": "way/305",
         "properties": {"@id": "way/305", "natural": "water", "water": "reservoir",
                        "name": "Embalse El Yeso"},
         "geometry": shapely.geometry.mapping(yeso)},
        node("node/306", {"man_made": "wastewater_plant", "operator": "Aguas Andinas",
                          "name": "Planta de Tratamiento de Aguas Servidas La Farfana"},
             -70.82, -33.478),
        node("node/307", {"man_made": "wastewater_plant", "operator": "Aguas Andinas",
                          "name": "Planta de Tratamiento de Aguas Servidas El Trebal"},
             -70.78, -33.57),
        node("node/308", {"man_made": "water_works", "operator": "Aguas Andinas S.A.",
                          "name": "Complejo Las Vizcachas"}, -70.53, -33.63),
        node("node/309", {"man_made": "water_works", "operator": "Aguas Andinas",
                          "name": "Planta La Florida"}, -70.57, -33.53),
        line("way/310", {"highway": "primary",
                         "name": "Avenida Presidente Eduardo Frei Montalva"},
             [(-70.75, -33.30), (-70.72, -33.40)]),
    ]
    return json.dumps({"type": "FeatureCollection", "features": features},
                      ensure_ascii=False).encode()


#: File names, as each dataset is distributed, in the order a new user imports them.
FILES = ("hybas_sa_lev08_v1c.zip", "hybas_sa_lev12_v1c.zip", "HydroRIVERS_v10_sa_shp.zip",
         "HydroLAKES_polys_v10.gpkg", "WDPA_Jan2025_Public_CHL_shp.zip",
         "ramsar_sites_chl.geojson", "Aqueduct40_baseline_annual_y2023m07d05.csv",
         "export.geojson")


def write_all(folder: Path) -> dict[str, Path]:
    """Write every dataset into ``folder`` as it is published; name → path."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name in FILES:
        path = folder / name
        if name.startswith("hybas_"):
            level = int(name.split("lev")[1][:2])
            write_shapefile_zip({name.removesuffix(".zip"): hydrobasins(level)}, path)
        elif name.startswith("HydroRIVERS"):
            write_shapefile_zip({"HydroRIVERS_v10_sa": hydrorivers()}, path)
        elif name.startswith("HydroLAKES"):
            hydrolakes().to_file(path, engine="pyogrio")
        elif name.startswith("WDPA"):
            write_shapefile_zip({"WDPA_Jan2025_Public_CHL_shp-polygons": wdpa_polygons(),
                                 "WDPA_Jan2025_Public_CHL_shp-points": wdpa_points()}, path)
        elif name.startswith("ramsar"):
            ramsar_sites().to_file(path, driver="GeoJSON", engine="pyogrio")
        elif name.startswith("Aqueduct"):
            aqueduct_table().to_csv(path, index=False)
        else:
            path.write_bytes(overpass_geojson())
        out[name] = path
    # write_shapefile_zip leaves its staging folders: the zips are what is published
    for staging in folder.iterdir():
        if staging.is_dir():
            for part in staging.iterdir():
                part.unlink()
            staging.rmdir()
    return out


def build_workspace(folder: Path) -> Path:
    """A new workspace in ``folder/ws`` with every dataset imported, as `catchscope import` does."""
    from geo.core.check import init_workspace
    from geo.core.workspace import open_workspace
    from geo.ingest.dataset_import import apply_plan, plan_dataset

    files = write_all(folder / "public")
    ws = open_workspace(init_workspace(folder / "ws"))
    for name in FILES:
        plan = plan_dataset(ws, files[name])
        if plan is None:
            raise AssertionError(f"{name} is not recognised as a public dataset")
        apply_plan(ws, plan)
        ws = open_workspace(ws.root)
    return ws.root


if __name__ == "__main__":  # python -m tests.maipo_fixtures FOLDER
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.maipo_fixtures FOLDER")
    for written in write_all(Path(sys.argv[1])).values():
        print(written)
