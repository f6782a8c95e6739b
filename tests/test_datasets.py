"""Public datasets recognised by their published schemas, clipped, checked and imported.

Fixtures are written in code in the exact published schemas (tests/dataset_fixtures.py):
nothing is downloaded.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.core.catalogue import LayerKind
from geo.core.check import init_workspace
from geo.core.errors import CatalogueError, DataReadError, UnsafeInputError
from geo.core.workspace import Workspace, open_workspace
from geo.ingest.dataset_import import apply_plan, plan_dataset
from geo.ingest.dataset_read import parse_aoi
from geo.ingest.datasets import AQUEDUCT, HYDROBASINS, iwra_category, recognise
from tests import dataset_fixtures as fx


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return open_workspace(init_workspace(tmp_path / "ws"))


def _write(tmp_path: Path, name: str) -> Path:
    """One fixture file in the format the dataset is distributed in."""
    path = tmp_path / name
    if name == "hybas_eu_lev08_v1c.zip":
        fx.write_shapefile_zip({"hybas_eu_lev08_v1c": fx.hydrobasins(8)}, path)
    elif name == "hybas_eu_lev12_v1c.gpkg":
        fx.hydrobasins(12).to_file(path, engine="pyogrio")
    elif name == "HydroRIVERS_v10_eu.shp":
        fx.hydrorivers().to_file(path, engine="pyogrio")
    elif name == "HydroLAKES_polys_v10.gpkg":
        fx.hydrolakes().to_file(path, engine="pyogrio")
    elif name == "WDPA_Jan2025_Public_shp.zip":
        fx.write_shapefile_zip({"WDPA_Jan2025_Public_shp-polygons": fx.wdpa_polygons(),
                                "WDPA_Jan2025_Public_shp-points": fx.wdpa_points()}, path)
    elif name == "Aqueduct40_baseline_annual_y2023m07d05.csv":
        fx.aqueduct_table().to_csv(path, index=False)
    elif name == "export.geojson":
        path.write_bytes(fx.overpass_geojson())
    else:
        raise AssertionError(name)
    return path


def _import(ws: Workspace, path: Path, aoi: str | None = None, **kwargs: str) -> None:
    plan = plan_dataset(ws, path, aoi=parse_aoi(aoi) if aoi else None, **kwargs)
    assert plan is not None
    apply_plan(ws, plan)


# --- recognition ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "key", "layers"), [
    ("hybas_eu_lev08_v1c.zip", "hydrobasins", {"hydrobasins_l08": LayerKind.CATCHMENT_UNIT}),
    ("hybas_eu_lev12_v1c.gpkg", "hydrobasins", {"hydrobasins_l12": LayerKind.CATCHMENT_UNIT}),
    ("HydroRIVERS_v10_eu.shp", "hydrorivers", {"hydrorivers": LayerKind.RIVER}),
    ("HydroLAKES_polys_v10.gpkg", "hydrolakes", {"hydrolakes": LayerKind.LAKE}),
    ("WDPA_Jan2025_Public_shp.zip", "wdpa", {"wdpa_candidates": LayerKind.OTHER}),
    ("export.geojson", "osm", {"osm_waterways": LayerKind.RIVER, "osm_water": LayerKind.LAKE,
                               "osm_treatment": LayerKind.FACILITY}),
])
def test_import_recognises_each_dataset(tmp_path: Path, ws: Workspace, name: str, key: str,
                                        layers: dict[str, LayerKind]) -> None:
    plan = plan_dataset(ws, _write(tmp_path, name))
    assert plan is not None and plan.profile.key == key
    assert {c.layer_id: c.kind for c, _ in plan.layers} == layers
    text = "\n".join(plan.lines())
    assert "Licence:" in text and "Attribution:" in text and "Cite:" in text
    apply_plan(ws, plan)
    for layer_id, kind in layers.items():
        spec = open_workspace(ws.root).spec(layer_id)
        assert spec.kind is kind
        assert spec.licence == plan.profile.licence[:500]
        assert spec.attribution.startswith(plan.profile.attribution[:40])


def test_aqueduct_is_recognised_and_joined_to_units(tmp_path: Path, ws: Workspace) -> None:
    _import(ws, _write(tmp_path, "hybas_eu_lev08_v1c.zip"))
    plan = plan_dataset(ws, _write(tmp_path, "Aqueduct40_baseline_annual_y2023m07d05.csv"))
    assert plan is not None and plan.profile is AQUEDUCT and not plan.layers
    assert [(j.layer_id, j.matched, j.total) for j in plan.joins] == [("hydrobasins_l08", 8, 8)]
    apply_plan(ws, plan)
    units = open_workspace(ws.root).load("hydrobasins_l08").set_index("pfaf_id")
    assert units.loc[21401700, "bws_label"] == "High (40-80%)"  # two provinces, one sub-basin
    assert units.loc[21401700, "bws_score"] == pytest.approx(3.4)
    assert np.isnan(units.loc[21409100, "bws_score"])  # -9999: no data
    assert "Aqueduct" in open_workspace(ws.root).spec("hydrobasins_l08").attribution


def test_aqueduct_before_any_units_says_what_to_import_first(tmp_path: Path,
                                                              ws: Workspace) -> None:
    with pytest.raises(DataReadError, match="Import a HydroBASINS file first"):
        plan_dataset(ws, _write(tmp_path, "Aqueduct40_baseline_annual_y2023m07d05.csv"))


def test_a_file_of_no_public_dataset_is_left_to_the_plain_import(tmp_path: Path,
                                                                 ws: Workspace) -> None:
    path = tmp_path / "outfalls.geojson"
    gpd.GeoDataFrame({"name": ["Outfall A"]}, geometry=[shapely.Point(10.3, 47.1)],
                     crs="EPSG:4326").to_file(path, driver="GeoJSON", engine="pyogrio")
    assert plan_dataset(ws, path) is None
    assert recognise(["fid", "name", "NEXT_DOWN"]) is None


def test_recognition_ignores_the_case_of_field_names() -> None:
    assert recognise([f.lower() for f in HYDROBASINS.fields]) is HYDROBASINS


# --- HydroBASINS: links, levels, clipping ---------------------------------------------------


def test_hydrobasins_units_carry_next_down_links_and_the_pfafstetter_level(
        tmp_path: Path, ws: Workspace) -> None:
    _import(ws, _write(tmp_path, "hybas_eu_lev08_v1c.zip"))
    units = open_workspace(ws.root).load("hydrobasins_l08").set_index("fid")
    a2, a3 = f"hybas_{fx.hybas(8, 'A2')}", f"hybas_{fx.hybas(8, 'A3')}"
    assert units.loc[a2, "next_down"] == a3
    assert units.loc[f"hybas_{fx.hybas(8, 'A4')}", "next_down"] is None  # 0: the sea
    assert units.loc[f"hybas_{fx.hybas(8, 'E1')}", "next_down"] is None  # endorheic sink
    assert int(units.loc[f"hybas_{fx.hybas(8, 'E1')}", "endo"]) == 2
    assert set(units["level"]) == {"pfafstetter_8"}
    assert set(units["accuracy"]) == {"derived"}


def test_a_clip_keeps_everything_downstream_to_the_sink(tmp_path: Path, ws: Workspace) -> None:
    path = _write(tmp_path, "hybas_eu_lev08_v1c.zip")
    plan = plan_dataset(ws, path, aoi=parse_aoi("10.02,47.02,3"))  # inside A1 only
    assert plan is not None
    fids = set(plan.layers[0][0].frame["fid"])
    assert fids == {f"hybas_{fx.hybas(8, c)}" for c in ("A1", "A2", "A3", "A4")}
    assert any("downstream of them" in line for line in plan.counts)


def test_a_clip_by_bounding_box_reads_only_what_meets_it(tmp_path: Path, ws: Workspace) -> None:
    plan = plan_dataset(ws, _write(tmp_path, "hybas_eu_lev12_v1c.gpkg"),
                        aoi=parse_aoi("10.81,47.21,10.99,47.39"))  # E0's east half
    assert plan is not None
    assert set(plan.layers[0][0].frame["fid"]) == {
        f"hybas_{fx.hybas(12, c)}" for c in ("E0w", "E0e", "E1w", "E1e")}


@pytest.mark.parametrize("text", ["10,47", "200,10,5", "10,47,-1", "a,b,c", "11,47,10,46"])
def test_a_bad_area_of_interest_says_how_to_write_one(text: str) -> None:
    with pytest.raises(DataReadError, match="--aoi"):
        parse_aoi(text)


def test_a_circle_aoi_is_measured_on_the_ground() -> None:
    aoi = parse_aoi("10.0,60.0,100")
    west, south, east, north = aoi.bounds
    assert north - south == pytest.approx(2 * 100 / 111.4, rel=0.02)
    assert east - west == pytest.approx(2 * 100 / (111.4 * np.cos(np.radians(60))), rel=0.03)


def test_broken_next_down_names_the_unknown_ids(tmp_path: Path, ws: Workspace) -> None:
    a3 = fx.hybas(8, "A3")
    broken = fx.with_links(fx.hydrobasins(8), {a3: 2089999990})
    path = tmp_path / "hybas_broken.gpkg"
    broken.to_file(path, engine="pyogrio")
    with pytest.raises(DataReadError, match=rf"{a3} → 2089999990") as err:
        plan_dataset(ws, path)
    assert "names an id that no feature of the file has" in str(err.value)


def test_a_next_down_cycle_is_refused_naming_its_ids(tmp_path: Path, ws: Workspace) -> None:
    a2, a3, a4 = (fx.hybas(8, c) for c in ("A2", "A3", "A4"))
    path = tmp_path / "hybas_cycle.gpkg"
    fx.with_links(fx.hydrobasins(8), {a4: a2}).to_file(path, engine="pyogrio")
    with pytest.raises(DataReadError, match="cycle") as err:
        plan_dataset(ws, path)
    for hybas in (a2, a3, a4):
        assert str(hybas) in str(err.value)


def test_mixed_levels_are_refused_with_the_level_counts(tmp_path: Path, ws: Workspace) -> None:
    path = tmp_path / "hybas_mixed.gpkg"
    fx.mix_levels().to_file(path, engine="pyogrio")
    with pytest.raises(DataReadError, match=r"level 8: 8 unit\(s\), level 12: 16 unit\(s\)"):
        plan_dataset(ws, path)


def test_duplicate_ids_are_refused(tmp_path: Path, ws: Workspace) -> None:
    frame = fx.hydrobasins(8)
    frame.loc[1, "HYBAS_ID"] = frame.loc[0, "HYBAS_ID"]
    path = tmp_path / "hybas_twice.gpkg"
    frame.to_file(path, engine="pyogrio")
    with pytest.raises(DataReadError, match="more than one feature"):
        plan_dataset(ws, path)


def test_hydrorivers_reaches_flow_to_the_next_reach(tmp_path: Path, ws: Workspace) -> None:
    _import(ws, _write(tmp_path, "HydroRIVERS_v10_eu.shp"))
    rivers = open_workspace(ws.root).load("hydrorivers").set_index("fid")
    assert rivers.loc["hyriv_20000001", "flows_to"] == "hyriv_20000002"
    assert pd.isna(rivers.loc["hyriv_20000004", "flows_to"])


def test_hydrolakes_keep_their_names_and_name_the_unnamed(tmp_path: Path, ws: Workspace) -> None:
    _import(ws, _write(tmp_path, "HydroLAKES_polys_v10.gpkg"))
    lakes = open_workspace(ws.root).load("hydrolakes").set_index("fid")
    assert lakes.loc["hylak_123456", "name"] == "Speicher Testtal"
    assert lakes.loc["hylak_123456", "lake_kind"] == "reservoir"
    assert lakes.loc["hylak_123457", "name"] == "Lake 123457 (HydroLAKES)"


# --- WDPA: IWRA candidates ------------------------------------------------------------------


def test_a_wdpa_point_with_only_rep_area_becomes_a_circle_of_that_area(
        tmp_path: Path, ws: Workspace) -> None:
    plan = plan_dataset(ws, _write(tmp_path, "WDPA_Jan2025_Public_shp.zip"))
    assert plan is not None
    frame = plan.layers[0][0].frame.set_index("fid")
    circle = frame.loc["wdpa_555003"]
    area_km2 = gpd.GeoSeries([circle.geometry], crs="EPSG:4326").to_crs(
        "+proj=laea +lat_0=47.3 +lon_0=10.5").area.iloc[0] / 1e6
    assert area_km2 == pytest.approx(12.5, rel=0.01)
    assert circle["accuracy"] == "derived"
    assert "circle of the reported area (12.5 km²)" in circle["geometry_basis"]
    assert shapely.Point(10.5, 47.3).within(circle.geometry)
    assert frame.loc["wdpa_555001", "accuracy"] == "official"
    assert "wdpa_555004" not in frame.index  # REP_AREA 0: no extent
    assert any("555004" in r.feature for r in plan.rejected)


def test_protected_areas_are_candidates_never_iwras(tmp_path: Path, ws: Workspace) -> None:
    path = _write(tmp_path, "WDPA_Jan2025_Public_shp.zip")
    with pytest.raises(CatalogueError, match="IWRA candidates, never IWRAs by import"):
        plan_dataset(ws, path, kind="iwra")
    _import(ws, path)
    candidates = open_workspace(ws.root).load("wdpa_candidates").set_index("fid")
    assert set(candidates["candidate_for"]) == {"iwra"}
    assert candidates.loc["wdpa_555001", "category"] == "wetland ecosystem"
    assert candidates.loc["wdpa_555002", "category"] == "water source & quality protection"
    assert candidates.loc["wdpa_555003", "category"] == "natural & cultural landscape"
    assert not open_workspace(ws.root).layers_of_kind(LayerKind.IWRA)


@pytest.mark.parametrize(("designation", "category"), [
    ("Ramsar Site, Wetland of International Importance", "wetland ecosystem"),
    ("Drinking Water Protection Zone", "water source & quality protection"),
    ("World Heritage Site (natural or mixed)", "natural & cultural landscape"),
    ("Special Protection Area (Birds Directive)", "biodiversity protected area"),
    ("Protected Area", "legally protected area"),
])
def test_the_category_comes_from_the_designation(designation: str, category: str) -> None:
    assert iwra_category(designation) == category


# --- OpenStreetMap --------------------------------------------------------------------------


def test_an_osm_xml_extract_is_read_by_gdals_osm_driver_from_memory(
        tmp_path: Path, ws: Workspace) -> None:
    path = tmp_path / "extract.osm"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">\n'
        ' <node id="1" lat="47.10" lon="10.05" version="1"/>\n'
        ' <node id="2" lat="47.10" lon="10.45" version="1"/>\n'
        ' <node id="3" lat="47.095" lon="10.33" version="1">'
        '<tag k="man_made" v="wastewater_plant"/><tag k="name" v="ARA Testach-Mitte"/></node>\n'
        ' <way id="10" version="1"><nd ref="1"/><nd ref="2"/>'
        '<tag k="waterway" v="river"/><tag k="name" v="Testach"/></way>\n</osm>\n',
        encoding="utf-8")
    plan = plan_dataset(ws, path)
    assert plan is not None and plan.profile.key == "osm"
    frames = {c.layer_id: c.frame for c, _ in plan.layers}
    assert frames["osm_waterways"]["name"].tolist() == ["Testach"]
    assert frames["osm_treatment"]["facility_type"].tolist() == ["wastewater treatment plant"]


def test_osm_xml_with_entities_is_not_taken_for_osm(tmp_path: Path, ws: Workspace) -> None:
    path = tmp_path / "evil.osm"
    path.write_text('<?xml version="1.0"?><!DOCTYPE osm [<!ENTITY x SYSTEM "file:///etc/'
                    'passwd">]><osm version="0.6"><node id="1" lat="1" lon="1"/></osm>',
                    encoding="utf-8")
    assert plan_dataset(ws, path) is None


# --- safety ---------------------------------------------------------------------------------


def test_a_url_or_gdal_path_is_never_opened(ws: Workspace) -> None:
    for text in ("/vsicurl/https://example.org/hybas.zip", "https://example.org/x.gpkg"):
        assert plan_dataset(ws, text) is None  # left to the plain import, which refuses it
        with pytest.raises(UnsafeInputError):
            open_source_now(text)


def open_source_now(text: str) -> None:
    from geo.ingest.dataset_read import open_source

    with open_source(text):
        pass


def test_a_zip_entry_that_leaves_the_archive_is_refused(tmp_path: Path, ws: Workspace) -> None:
    import zipfile

    folder = tmp_path / "parts"
    folder.mkdir()
    fx.hydrobasins(8).to_file(folder / "hybas.shp", engine="pyogrio")
    path = tmp_path / "hybas_evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for part in folder.iterdir():
            archive.write(part, f"../../{part.name}")
    with pytest.raises(UnsafeInputError, match="zip-slip"):
        plan_dataset(ws, path)


def test_a_file_too_big_without_an_aoi_asks_for_one(tmp_path: Path, ws: Workspace) -> None:
    from geo.ingest.dataset_read import DatasetLimits

    path = _write(tmp_path, "hybas_eu_lev12_v1c.gpkg")
    with pytest.raises(DataReadError, match="--aoi"):
        plan_dataset(ws, path, limits=DatasetLimits(max_features_out=10))


# --- the scope over public layers -----------------------------------------------------------


def _site_layers(ws: Workspace, tmp_path: Path) -> None:
    """Two sites: one in A2 straddling its level-12 halves, one in the endorheic basin."""
    data = ws.root / "data" / "site"
    data.mkdir(parents=True, exist_ok=True)
    layers = {
        "sites": ("site", gpd.GeoDataFrame(
            {"fid": ["p1", "p2"], "name": ["Works", "Inland works"],
             "aws_ref": ["AWS-100001", "AWS-100002"]},
            geometry=[shapely.box(10.295, 47.12, 10.305, 47.13),
                      shapely.box(10.90, 47.30, 10.91, 47.31)], crs="EPSG:4326")),
        "outfalls": ("discharge_point", gpd.GeoDataFrame(
            {"fid": ["d1", "d2"], "name": ["Outfall", "Soakaway"],
             "aws_ref": ["AWS-100001", "AWS-100002"]},
            geometry=[shapely.Point(10.33, 47.1005), shapely.Point(10.905, 47.305)],
            crs="EPSG:4326")),
        "intakes": ("water_source", gpd.GeoDataFrame(
            {"fid": ["w1"], "name": ["Intake Testtal"], "flows_to": ["AWS-100001"]},
            geometry=[shapely.Point(10.31, 47.3)], crs="EPSG:4326")),
    }
    for layer_id, (kind, frame) in layers.items():
        frame.to_file(data / f"{layer_id}.geojson", driver="GeoJSON", engine="pyogrio")
        (ws.layers_dir / f"{layer_id}.toml").write_text(
            f'id = "{layer_id}"\ntitle = "{layer_id}"\nkind = "{kind}"\n'
            f'source = "site/{layer_id}.geojson"\naccuracy = "surveyed"\n', encoding="utf-8")


def _set_level(ws: Workspace, level: str) -> Workspace:
    path = ws.root / "catchscope.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r'(?m)^catchment_level = ".*"$', f'catchment_level = "{level}"',
                           text), encoding="utf-8")
    return open_workspace(ws.root)


@pytest.fixture
def public_ws(tmp_path: Path, ws: Workspace) -> Workspace:
    for name in ("hybas_eu_lev08_v1c.zip", "hybas_eu_lev12_v1c.gpkg", "HydroRIVERS_v10_eu.shp"):
        _import(ws, _write(tmp_path, name))
    _site_layers(ws, tmp_path)
    return open_workspace(ws.root)


def test_relied_on_and_affected_follow_next_down_to_the_sink(public_ws: Workspace) -> None:
    from geo.scope.assess import assess_site

    ws = _set_level(public_ws, "pfafstetter_8")
    scope = assess_site(ws, "AWS-100001")
    unit = {c: f"hybas_{fx.hybas(8, c)}" for c in fx.BASINS_L8}
    assert [u.fid for u in scope.affected] == [unit["A2"], unit["A3"], unit["A4"]]
    assert {u.fid for u in scope.relied_on} == {unit["B1"]}  # the intake's basin, not A1
    inland = assess_site(ws, "AWS-100002")
    assert [u.fid for u in inland.affected] == [unit["E0"], unit["E1"]]
    units = ws.load("hydrobasins_l08").set_index("fid")
    assert int(units.loc[inland.affected[-1].fid, "endo"]) == 2  # the endorheic sink


def test_one_catchment_is_judged_at_the_chosen_pfafstetter_level(public_ws: Workspace) -> None:
    from geo.scope.assess import assess_site

    at8 = assess_site(_set_level(public_ws, "pfafstetter_8"), "AWS-100001").one_catchment
    assert at8.ok and at8.level == "pfafstetter_8"
    assert at8.units == (f"hybas_{fx.hybas(8, 'A2')}",)
    ws12 = _set_level(open_workspace(public_ws.root), "pfafstetter_12")
    at12 = assess_site(ws12, "AWS-100001").one_catchment
    assert not at12.ok and at12.level == "pfafstetter_12"
    assert set(at12.units) == {f"hybas_{fx.hybas(12, 'A2w')}", f"hybas_{fx.hybas(12, 'A2e')}"}
    assert "straddle" in at12.message
    # the walks stay at the chosen level: every affected unit is a level-12 unit
    affected = assess_site(ws12, "AWS-100001").affected
    assert affected and all(u.level == "pfafstetter_12" for u in affected)


def test_water_stress_is_shown_in_the_scope(tmp_path: Path, public_ws: Workspace) -> None:
    from rich.console import Console

    from geo.scope.assess import assess_site
    from geo.scope.report import render_scope, scope_markdown

    _import(public_ws, _write(tmp_path, "Aqueduct40_baseline_annual_y2023m07d05.csv"))
    scope = assess_site(_set_level(open_workspace(public_ws.root), "pfafstetter_8"),
                        "AWS-100001")
    notes = " ".join(scope.notes)
    assert "where the site lies" in notes and "High (40-80%), score 3.40/5" in notes
    assert "Most water-stressed unit affected" in notes
    assert "High (40-80%)" in scope_markdown(scope)
    console = Console(record=True, width=200)
    render_scope(scope, console)
    assert "Aqueduct 4.0" in console.export_text()
