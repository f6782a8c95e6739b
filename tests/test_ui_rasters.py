"""ui/rasters.py in the Streamlit script (AppTest): raster choice, zonal tab, delineate mode."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from geo.core.workspace import open_workspace
from tests.test_rasterview import CELL, build_raster_workspace, cell_lonlat

APP = str(Path(__file__).resolve().parents[1] / "app.py")
ALL_SITES = "All sites"  # the Site box's first option (app.py)
PLANE_KM2 = 40 * 50 * CELL * CELL / 1e6  # the whole 40 × 50 grid drains to cell (0, 0)


def _by_label(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=90)


def _open_folder(at: AppTest, path: Path) -> AppTest:
    _by_label(at.radio, "Workspace").set_value("Folder on this machine").run()
    _by_label(at.text_input, "Workspace folder").input(str(path)).run()
    return at


def _delineate(at: AppTest, outlet: str, snap: float | None = None) -> AppTest:
    _by_label(at.radio, "Map mode").set_value("delineate").run()
    if snap is not None:
        _by_label(at.number_input, "Snap distance (m)").set_value(snap).run()
    _by_label(at.text_input, "…or type the outlet (lon, lat)").input(outlet).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture(scope="module")
def demo_has_dem() -> None:
    if "dem_sample" not in open_workspace().specs:
        pytest.skip("the demo workspace has no DEM")


def test_demo_rasters_tab_shows_zonal_statistics(demo_has_dem: None) -> None:
    at = _app().run()
    assert not at.exception, at.exception
    assert "Rasters" in [t.label for t in at.tabs]
    tables = [df.value for df in at.dataframe if "p90" in df.value.columns]
    assert tables, "no zonal statistics table"
    zones = set(tables[0]["zone type"])
    assert {"site parcel", "catchment unit", "IWRA"} <= zones
    # the raster can be drawn (sidebar), with an opacity
    _by_label(at.multiselect, "Rasters drawn").set_value(["dem_sample"]).run()
    _by_label(at.slider, "Raster opacity").set_value(40).run()
    assert not at.exception, at.exception


def test_demo_delineation_says_too_coarse_and_too_flat(demo_has_dem: None) -> None:
    # 0.2° cells: a 500 m snap distance would move the outlet ~8 km; refused, saying so
    at = _delineate(_app().run(), "120.95, 31.18")
    refusal = " ".join(e.value for e in at.error)
    assert "would move" in refusal and "snap distance of 500 m" in refusal
    assert "set it to 0" in refusal and not [m for m in at.markdown
                                             if m.value.startswith("**Area**")]
    # 0 takes the cell under the point: answered, with the warnings (same outlet kept)
    _by_label(at.number_input, "Snap distance (m)").set_value(0).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    warnings = " ".join(w.value for w in at.warning)
    assert "too coarse" in warnings and "too flat" in warnings
    summary = next(m.value for m in at.markdown if m.value.startswith("**Area**"))
    assert "km²" in summary and "**DEM cell size** 20," in summary
    assert "**outlet moved**" in summary and "(snap distance 0 m)" in summary
    assert "Requested outlet: 120.950000, 31.180000" in at.text[0].value
    assert any("read-only" in i.value for i in at.info)  # the demo is not written to


def test_tilted_plane_workspace_gives_the_whole_grid_and_adds_a_layer(tmp_path: Path) -> None:
    root = build_raster_workspace(tmp_path / "ws")
    lon, lat = cell_lonlat(2, 3)  # near the outlet cell (0, 0): snaps to it
    at = _delineate(_open_folder(_app().run(), root), f"{lon:.6f}, {lat:.6f}", snap=200)
    summary = next(m.value for m in at.markdown if m.value.startswith("**Area**"))
    area = float(re.search(r"\*\*Area\*\* ([\d.,]+) km²", summary).group(1))
    assert area == pytest.approx(PLANE_KM2, rel=0.02)
    assert "**DEM cell size** 30 m" in summary and "(snap distance 200 m)" in summary
    warnings = " ".join(w.value for w in at.warning)
    assert "too coarse" not in warnings and "too flat" not in warnings
    assert any("resolves this catchment" in s.value for s in at.success)
    _by_label(at.text_input, "Layer id").input("plane_catchment").run()
    _by_label(at.button, "Add as a catchment layer").click().run()
    assert not at.exception, at.exception
    assert any("Added layer plane_catchment" in s.value for s in at.success)
    spec = tomllib.loads((root / "layers" / "plane_catchment.toml").read_text(encoding="utf-8"))
    assert spec["kind"] == "catchment" and spec["evidences"] == ["catchments"]
    frame = open_workspace(root).load("plane_catchment")
    assert float(frame["area_km2"].iloc[0]) == pytest.approx(PLANE_KM2, rel=0.02)


def test_an_outlet_outside_the_dem_is_a_message(tmp_path: Path) -> None:
    root = build_raster_workspace(tmp_path / "ws")
    at = _delineate(_open_folder(_app().run(), root), "100.0, 20.0")
    assert any("outside DEM" in e.value for e in at.error)
    at = _delineate(at, "not a point")
    assert any("type LON, LAT" in e.value for e in at.error)
    (root / "data" / "rasters" / "dem.tif").unlink()  # a DEM gone missing: a message too
    at = _delineate(at, "120.91, 31.25")
    assert any("does not exist" in e.value for e in at.error)


def test_a_workspace_without_rasters_says_how_to_add_one(make_workspace, three_parcels) -> None:
    root = make_workspace(layers={"sites": ("site", three_parcels, {})})
    at = _open_folder(_app().run(), root)
    _by_label(at.radio, "Map mode").set_value("delineate").run()
    assert not at.exception, at.exception
    infos = " ".join(i.value for i in at.info)
    assert "no DEM" in infos and "no raster layer" in infos


def test_a_raster_is_read_for_the_map_only_once_drawn(tmp_path: Path, monkeypatch) -> None:
    import geo.maps.rasters

    real = geo.maps.rasters.prepare_raster_overlays
    asked: list[str] = []

    def recording(workspace, view, *, layers=None, **kwargs):
        asked.extend(layers if layers is not None else ["<all>"])
        return real(workspace, view, layers=layers, **kwargs)

    monkeypatch.setattr(geo.maps.rasters, "prepare_raster_overlays", recording)
    root = build_raster_workspace(tmp_path / "ws")
    at = _open_folder(_app().run(), root)
    _by_label(at.multiselect, "Rasters drawn").set_value([]).run()
    asked.clear()
    _by_label(at.selectbox, "Site").set_value(ALL_SITES).run()  # another map: all sites
    assert not at.exception, at.exception
    assert asked == []  # no raster chosen: none read for the map
    _by_label(at.multiselect, "Rasters drawn").set_value(["landcover"]).run()
    assert not at.exception, at.exception
    assert asked == ["landcover"]


def test_land_cover_tab_shows_class_shares(tmp_path: Path) -> None:
    root = build_raster_workspace(tmp_path / "ws")
    at = _open_folder(_app().run(), root)
    _by_label(at.selectbox, "Raster").set_value("landcover").run()
    assert not at.exception, at.exception
    table = next(df.value for df in at.dataframe if "share %" in df.value.columns)
    wetland = table[table["zone"] == "i1"].set_index("class name")["share %"]
    assert wetland.to_dict() == pytest.approx({"Paddy": 50.0, "Built-up": 50.0})
    # the land cover can be drawn too; its legend lists the classes
    _by_label(at.multiselect, "Rasters drawn").set_value(["dem", "landcover"]).run()
    assert not at.exception, at.exception
