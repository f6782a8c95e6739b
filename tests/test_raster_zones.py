"""Zonal statistics of rasters per site parcel, catchment unit and IWRA; scope output; exports.

The DEM is the tilted plane z = 100 + 2·col + row on a 30 m grid
(tests/test_rasterview.py), so each zone's statistics have exact answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import Point
from typer.testing import CliRunner

from geo.cli.main import app
from geo.core.workspace import open_workspace
from geo.raster.zones import ZONAL_COLUMNS, site_raster_stats, site_zones, zonal_markdown
from geo.scope.report import md_cell
from tests.conftest import HOSTILE_VALUES, write_layer_toml
from tests.test_rasterview import REF, build_raster_workspace, cell_lonlat


@pytest.fixture
def raster_ws(tmp_path: Path) -> Path:
    return build_raster_workspace(tmp_path / "ws")


def _row(table, raster: str, zone: str, cls: float | None = None):
    rows = table[(table["raster"] == raster) & (table["zone"] == zone)]
    if cls is not None:
        rows = rows[rows["class"] == cls]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_continuous_statistics_have_the_analytic_values(raster_ws: Path) -> None:
    table = site_raster_stats(open_workspace(raster_ws), REF)
    assert list(table.columns) == ZONAL_COLUMNS
    parcel = _row(table, "dem", "p1")  # rows 5–14, cols 10–19
    assert parcel["zone_type"] == "site parcel" and parcel["units"] == "m"
    assert parcel["cells"] == 100 and parcel["cells_rule"] == "centre"
    assert parcel["mean"] == pytest.approx(100 + 2 * 14.5 + 9.5)
    assert (parcel["min"], parcel["max"]) == (125.0, 152.0)
    assert parcel["p50"] == pytest.approx(138.5, abs=1.0)
    assert parcel["area_km2"] == pytest.approx(0.09, rel=1e-6)
    iwra = _row(table, "dem", "i1")  # rows 20–29, cols 20–29
    assert iwra["zone_type"] == "IWRA" and iwra["mean"] == pytest.approx(173.5)
    unit = _row(table, "dem", "u1")  # the west half; its WGS84 edges cut a few edge cells
    assert unit["zone_type"] == "catchment unit"
    assert 950 <= unit["cells"] <= 1000 and unit["mean"] == pytest.approx(143.5, abs=1.0)


def test_categorical_shares_sum_to_100_with_class_names(raster_ws: Path) -> None:
    table = site_raster_stats(open_workspace(raster_ws), REF)
    paddy, built = _row(table, "landcover", "i1", 1.0), _row(table, "landcover", "i1", 2.0)
    assert (paddy["class_label"], built["class_label"]) == ("Paddy", "Built-up")
    assert paddy["share_pct"] == pytest.approx(50.0) and built["share_pct"] == pytest.approx(50.0)
    assert paddy["area_km2"] == pytest.approx(0.045, rel=1e-6)
    assert _row(table, "landcover", "p1", 1.0)["share_pct"] == pytest.approx(100.0)
    for _, group in table[table["type"] == "categorical"].groupby(["raster", "zone"]):
        assert group["share_pct"].sum() == pytest.approx(100.0)


def test_zones_of_a_site_leave_out_other_sites_parcels(raster_ws: Path) -> None:
    ws = open_workspace(raster_ws)
    assert set(site_zones(ws, REF)["fid"]) == {"p1", "u1", "i1"}
    assert set(site_zones(ws, "AWS-999999")["fid"]) == {"u1", "i1"}
    assert site_raster_stats(ws, REF, rasters=["landcover"])["raster"].unique().tolist() == [
        "landcover"]


def test_a_workspace_without_rasters_gives_an_empty_table(make_workspace,
                                                          three_parcels) -> None:
    root = make_workspace(layers={"sites": ("site", three_parcels, {})})
    table = site_raster_stats(open_workspace(root), "AWS-000001")
    assert table.empty and list(table.columns) == ZONAL_COLUMNS


def test_markdown_escapes_names_from_data(raster_ws: Path) -> None:
    table = site_raster_stats(open_workspace(raster_ws), REF)
    table.loc[table["zone"] == "p1", "name"] = HOSTILE_VALUES[0]
    text = zonal_markdown(table, md_cell)
    assert "## Rasters: zonal statistics" in text and "### Test DEM (dem)" in text
    assert "<img" not in text and "&lt;img" in text
    assert "mean 138.5 m" in text and "Paddy: 50.0 %" in text


def _scope(*args: str):
    return CliRunner().invoke(app, ["scope", *args])


def test_scope_command_reports_zonal_statistics(raster_ws: Path, tmp_path: Path) -> None:
    result = _scope(REF, "--workspace", str(raster_ws), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    rows = {(r["raster"], r["zone"], r.get("class")): r for r in document["rasters"]}
    assert rows[("dem", "p1", None)]["mean"] == pytest.approx(138.5)
    assert rows[("landcover", "i1", 2.0)]["class_label"] == "Built-up"
    assert "mean" not in rows[("landcover", "i1", 2.0)]  # no empty columns in JSON
    md = tmp_path / "scope.md"
    result = _scope(REF, "--workspace", str(raster_ws), "--md", str(md))
    assert result.exit_code == 0, result.output
    assert "Test DEM (dem): zonal statistics" in result.output  # the terminal table
    text = md.read_text(encoding="utf-8")
    assert "## Rasters: zonal statistics" in text and "Block A (p1)" in text


def test_scope_without_rasters_has_no_raster_section(make_workspace, three_parcels) -> None:
    root = make_workspace(layers={"sites": ("site", three_parcels, {})})
    result = _scope("AWS-000001", "--workspace", str(root), "--json")
    assert result.exit_code == 0, result.output
    assert "rasters" not in json.loads(result.stdout)


def test_exports_carry_the_zonal_table(raster_ws: Path, tmp_path: Path) -> None:
    from geo.export.site import export_site

    # an outfall: the CSV export needs a point feature (points_table fails without one)
    outfall = gpd.GeoDataFrame({"fid": ["d1"], "name": ["Outfall"], "aws_ref": [REF]},
                               geometry=[Point(*cell_lonlat(8, 9))], crs="EPSG:4326")
    outfall.to_file(raster_ws / "data" / "outfalls.geojson", engine="pyogrio")
    write_layer_toml(raster_ws, "outfalls", title="Outfalls", kind="discharge_point",
                     source="outfalls.geojson")
    ws = open_workspace(raster_ws)
    written = export_site(ws, REF, "csv", tmp_path / "csv")
    csv = next(p for p in written if p.name == f"{REF}-raster_zonal_stats.csv")
    lines = csv.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].split(",")[:6] == ZONAL_COLUMNS[:6] and len(lines) == 1 + 7
    gpkg = export_site(ws, REF, "gpkg", tmp_path / "scope.gpkg")[0]
    table = pyogrio.read_dataframe(gpkg, layer="raster_zonal_stats", read_geometry=False)
    assert len(table) == 7 and set(table["raster"]) == {"dem", "landcover"}
    sources = pyogrio.read_dataframe(gpkg, layer="layer_sources", read_geometry=False)
    assert {"dem", "landcover"} <= set(sources["layer"])  # the rasters' provenance
