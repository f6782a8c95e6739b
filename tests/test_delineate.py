"""Catchment delineation on synthetic DEMs with analytic answers, and on a real coarse DEM."""

from __future__ import annotations

import heapq
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rasterio
from affine import Affine
from typer.testing import CliRunner

from geo.core.errors import (
    CoarseDEMWarning,
    CRSError,
    DataReadError,
    DataWriteError,
    DelineationError,
    DelineationWarning,
    FlatTerrainWarning,
    UnsafeInputError,
)
from geo.raster.delineate import (
    add_catchment_layer,
    condition_dem,
    delineate_catchment,
    delineate_from_click,
    fill_depressions,
    flow_accumulation,
    flow_directions,
    snap_outlet,
    upstream_mask,
)
from geo.raster.overlay import cell_areas_m2

CELL = 30.0
ORIGIN = (300_000.0, 3_460_000.0)  # UTM zone 51N, near Kunshan
UTM = "EPSG:32651"
CELL_KM2 = CELL * CELL / 1e6
_TO_WGS = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


def write_dem(path: Path, z: np.ndarray, *, crs: str | None = UTM,
              transform: Affine | None = None, nodata: float | None = None) -> Path:
    transform = transform or Affine(CELL, 0, ORIGIN[0], 0, -CELL, ORIGIN[1])
    with rasterio.open(path, "w", driver="GTiff", width=z.shape[1], height=z.shape[0],
                       count=1, dtype="float32", crs=crs, transform=transform,
                       nodata=nodata) as dst:
        dst.write(z.astype("float32"), 1)
    return path


def lonlat(row: float, col: float) -> tuple[float, float]:
    """WGS84 position of the centre of cell (row, col) of the UTM test grids."""
    return _TO_WGS.transform(ORIGIN[0] + (col + 0.5) * CELL, ORIGIN[1] - (row + 0.5) * CELL)


def plane(height: int = 40, width: int = 50) -> np.ndarray:
    """Tilted plane, low edge west (2 m per cell), draining along it north to cell (0, 0)."""
    rows, cols = np.mgrid[0:height, 0:width]
    return 100.0 + 2.0 * cols + 1.0 * rows


def two_valleys(height: int = 60, width: int = 81) -> np.ndarray:
    """Two parallel valleys (floors at columns 20 and 60) draining north; divide at column 40."""
    rows, cols = np.mgrid[0:height, 0:width]
    across = np.where(cols <= 40, np.abs(cols - 20), np.abs(cols - 60))
    return 10.0 + 0.5 * rows + across


def reference_fill(z: np.ndarray) -> np.ndarray:
    """Textbook cell-by-cell Priority-Flood (Barnes et al. 2014, algorithm 1).

    Seeds: edge cells and cells next to nodata (NaN), which drain out of the grid.
    """
    height, width = z.shape
    out = z.copy()
    done = np.isnan(z)
    heap: list[tuple[float, int, int]] = []
    for r in range(height):
        for c in range(width):
            if done[r, c]:
                continue
            near_nodata = np.isnan(z[max(0, r - 1): r + 2, max(0, c - 1): c + 2]).any()
            if r in (0, height - 1) or c in (0, width - 1) or near_nodata:
                heapq.heappush(heap, (z[r, c], r, c))
                done[r, c] = True
    while heap:
        level, r, c = heapq.heappop(heap)
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                rr, cc = r + dr, c + dc
                if 0 <= rr < height and 0 <= cc < width and not done[rr, cc]:
                    done[rr, cc] = True
                    out[rr, cc] = max(z[rr, cc], level)
                    heapq.heappush(heap, (out[rr, cc], rr, cc))
    return out


def test_tilted_plane_drains_whole_grid_to_low_corner(tmp_path: Path) -> None:
    z = plane()
    dem = write_dem(tmp_path / "plane.tif", z)
    lon, lat = lonlat(0, 0)
    result = delineate_catchment(dem, lon, lat, snap_distance_m=0)
    row = result.iloc[0]
    assert row["cells"] == z.size
    assert row["area_km2"] == pytest.approx(z.size * CELL_KM2, abs=CELL_KM2)
    assert row["dem_resolution_m"] == pytest.approx(CELL)
    assert row["relief_m"] == pytest.approx(z.max() - z.min())
    assert row["warnings"] == ""
    assert result.crs.to_epsg() == 4326
    grid = (ORIGIN[0], ORIGIN[1] - z.shape[0] * CELL, ORIGIN[0] + z.shape[1] * CELL, ORIGIN[1])
    assert result.to_crs(UTM).total_bounds == pytest.approx(grid, abs=0.01)


def test_two_valleys_outlet_does_not_capture_the_other_valley(tmp_path: Path) -> None:
    z = two_valleys()
    model = condition_dem(write_dem(tmp_path / "valleys.tif", z))
    outlet = snap_outlet(model, *lonlat(0, 20), snap_distance_m=0)
    inside = upstream_mask(model.receivers, outlet.cell).reshape(z.shape)
    assert inside[:, :40].all(), "the whole west valley drains to its outlet"
    assert not inside[:, 41:].any(), "nothing east of the divide is captured"
    east = snap_outlet(model, *lonlat(0, 60), snap_distance_m=0)
    east_inside = upstream_mask(model.receivers, east.cell).reshape(z.shape)
    assert east_inside[:, 41:].all() and not east_inside[:, :40].any()
    assert inside.sum() + east_inside.sum() == z.size
    result = delineate_catchment(model, *lonlat(0, 20), snap_distance_m=0)
    assert 40 * 60 * CELL_KM2 <= result["area_km2"].iloc[0] <= 41 * 60 * CELL_KM2 + 1e-9


def test_pit_is_filled_to_its_spill_level(tmp_path: Path) -> None:
    z = plane()
    z[20:23, 25:28] -= 30.0  # a 3 × 3 pit, 30 m deep
    # Its lowest way out is the rim cell north-west of it, (19, 24).
    spill = 100.0 + 2.0 * 24 + 19
    filled = fill_depressions(z)
    assert np.all(filled[20:23, 25:28] == spill)
    untouched = np.ones(z.shape, dtype=bool)
    untouched[20:23, 25:28] = False
    assert np.array_equal(filled[untouched], z[untouched])
    model = condition_dem(write_dem(tmp_path / "pit.tif", z))
    outlet = snap_outlet(model, *lonlat(0, 0), snap_distance_m=0)
    assert outlet.accumulation == z.size, "the filled pit no longer traps any cell"


def test_flat_is_resolved_and_flow_crosses_it(tmp_path: Path) -> None:
    z = plane()
    z[10:30, 15:35] = z[10, 15]  # a 20 × 20 terrace at the height of its lowest corner
    filled = fill_depressions(z)
    receivers, resolved = flow_directions(filled, dx_m=CELL, dy_m=CELL)
    assert resolved[11:29, 16:34].all(), "terrace interior had no downhill neighbour"
    assert (receivers.reshape(z.shape)[resolved] >= 0).all(), "every flat cell got a direction"
    accumulation = flow_accumulation(receivers)
    assert accumulation[0] == z.size, "flow crosses the terrace and reaches the outlet"
    # The far corner of the terrace drains through the terrace, not into a sink.
    path, cell = [], (29 * z.shape[1] + 34)
    while cell >= 0:
        path.append(cell)
        cell = int(receivers[cell])
    assert path[-1] == 0 and len(path) < z.size


def test_fill_matches_cell_by_cell_priority_flood() -> None:
    rng = np.random.default_rng(8)
    for trial in range(12):
        height, width = rng.integers(3, 30, size=2)
        z = rng.integers(0, 12, size=(height, width)).astype(float) if trial % 2 else \
            rng.random((height, width))
        if trial % 3 == 0:
            z[rng.random(z.shape) < 0.1] = np.nan  # nodata holes are outlets too
        filled = fill_depressions(z)
        assert np.array_equal(filled, reference_fill(z), equal_nan=True), f"trial {trial}"
        valid = np.isfinite(z)
        receivers, _ = flow_directions(filled)
        accumulation = flow_accumulation(receivers, valid.ravel())
        assert accumulation[receivers < 0].sum() == valid.sum(), "every cell drains out"


def test_nodata_is_an_outlet_not_a_cell(tmp_path: Path) -> None:
    z = plane(20, 20)
    z[8:12, 8:12] = np.nan  # a hole: cells around it drain into it
    filled = fill_depressions(z)
    assert np.isnan(filled[8:12, 8:12]).all()
    receivers, _ = flow_directions(filled)
    accumulation = flow_accumulation(receivers, np.isfinite(z).ravel())
    assert accumulation[receivers < 0].sum() == np.isfinite(z).sum()


def test_outlet_off_the_stream_snaps_to_it(tmp_path: Path) -> None:
    z = two_valleys()
    dem = write_dem(tmp_path / "valleys.tif", z)
    lon, lat = lonlat(10, 24)  # on the hillside, 4 cells (120 m) east of the valley floor
    snapped = delineate_catchment(dem, lon, lat, snap_distance_m=200).iloc[0]
    model = condition_dem(dem)
    outlet = snap_outlet(model, lon, lat, 200)
    row, col = divmod(outlet.cell, z.shape[1])
    assert col == 20, "snapped onto the valley floor"
    assert snapped["snap_distance_m"] >= 120 - 1
    assert snapped["requested_lon"] == lon and snapped["outlet_lon"] != lon
    assert snapped["cells"] > 20 * (z.shape[0] - row)
    with pytest.warns(CoarseDEMWarning):  # a hillside cell drains only a few cells
        unsnapped = delineate_catchment(dem, lon, lat, snap_distance_m=0).iloc[0]
    assert unsnapped["snap_distance_m"] < CELL
    assert unsnapped["cells"] < snapped["cells"] / 5


def test_an_outlet_moving_beyond_the_snap_distance_is_refused(tmp_path: Path) -> None:
    # 0.2° cells (~20 km): the centre of the cell under the point lies kilometres away
    transform = Affine(0.2, 0, 120.3, 0, -0.2, 31.73)
    dem = write_dem(tmp_path / "coarse.tif", plane(5, 7), crs="EPSG:4326", transform=transform)
    with pytest.raises(DelineationError,
                       match=r"would move [\d,]+ m.*snap distance of 500 m.*cells of about "
                             r"[\d,]+ m.*raise the snap distance to at least [\d,]+ m.*0"):
        delineate_catchment(dem, 120.95, 31.18, snap_distance_m=500)
    with pytest.warns(CoarseDEMWarning):  # 0: the cell under the point, as it is
        row = delineate_catchment(dem, 120.95, 31.18, snap_distance_m=0).iloc[0]
    assert row["snap_distance_m"] > 500


def test_flat_terrain_warns(tmp_path: Path) -> None:
    z = np.full((30, 30), 3.0)
    dem = write_dem(tmp_path / "flat.tif", z)
    with pytest.warns(DelineationWarning) as caught:
        result = delineate_catchment(dem, *lonlat(0, 15), snap_distance_m=0)
    assert FlatTerrainWarning in {w.category for w in caught}
    assert "too flat" in result["warnings"].iloc[0]


def test_plain_like_kunshan_warns_flat_even_with_a_fine_dem(tmp_path: Path) -> None:
    # 6 km × 6 km at 30 m: 2–4 m above sea level, half-metre noise, dug canals.
    rng = np.random.default_rng(3)
    z = 3.0 + rng.normal(0.0, 0.5, (200, 200))
    z[::25, :] -= 1.5
    z[:, ::40] -= 1.5
    dem = write_dem(tmp_path / "plain.tif", z)
    with pytest.warns(FlatTerrainWarning, match="canals and polders"):
        result = delineate_catchment(dem, *lonlat(100, 100), snap_distance_m=500)
    assert result["relief_m"].iloc[0] > 5.0, "noise spikes alone must not hide the flatness"


def test_coarse_dem_warns(tmp_path: Path) -> None:
    dem = write_dem(tmp_path / "small.tif", plane(6, 8))
    with pytest.warns(CoarseDEMWarning, match="too coarse"):
        delineate_catchment(dem, *lonlat(0, 0), snap_distance_m=0)


def test_click_returns_warnings_instead_of_raising(tmp_path: Path) -> None:
    dem = write_dem(tmp_path / "small.tif", plane(6, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DelineationWarning)
        result = delineate_from_click(dem, *lonlat(0, 0), snap_distance_m=0)
    assert "too coarse" in result["warnings"].iloc[0]


def test_geographic_dem_area_is_geodesic(tmp_path: Path) -> None:
    z = plane(40, 50)
    transform = Affine(0.001, 0, 120.9, 0, -0.001, 31.2)
    dem = write_dem(tmp_path / "lonlat.tif", z, crs="EPSG:4326", transform=transform)
    row = delineate_catchment(dem, 120.9005, 31.1995, snap_distance_m=0).iloc[0]
    expected = cell_areas_m2(transform, pyproj.CRS("EPSG:4326"), 40).sum() * 50 / 1e6
    assert row["area_km2"] == pytest.approx(expected, rel=1e-3)
    assert row["dem_resolution_m"] == pytest.approx(np.sqrt(95.3 * 110.9), rel=0.01)


def test_bad_outlets_and_dems_are_refused(tmp_path: Path) -> None:
    dem = write_dem(tmp_path / "plane.tif", plane())
    with pytest.raises(DelineationError, match="outside DEM"):
        delineate_catchment(dem, 121.5, 31.0)
    with pytest.raises(DelineationError, match="snap distance"):
        delineate_catchment(dem, *lonlat(0, 0), snap_distance_m=-1)
    with pytest.raises(CRSError, match="no CRS"):
        delineate_catchment(write_dem(tmp_path / "nocrs.tif", plane(), crs=None), 0.5, 0.5)
    with pytest.raises(DataReadError, match="delineation is limited to 1,000"):
        condition_dem(dem, max_cells=1_000)
    fake = tmp_path / "fake.tif"
    fake.write_text("not a raster")
    with pytest.raises(UnsafeInputError, match="Only GeoTIFF"):
        delineate_catchment(fake, *lonlat(0, 0))


def test_real_cnmaps_dem_is_read_and_flagged_too_coarse(shared_dir: Path) -> None:
    dem = shared_dir / "geodata" / "dem_cnmaps_sample_0p2deg_bbox.tif"
    model = condition_dem(dem)
    assert model.shape == (5, 7)
    assert model.resolution_m() > 15_000  # 0.2° cells: ~19 km × 22 km
    with pytest.warns(DelineationWarning) as caught:
        result = delineate_catchment(dem, 120.96, 31.19, snap_distance_m=20_000)
    assert CoarseDEMWarning in {w.category for w in caught}
    row = result.iloc[0]
    assert row["cells"] < 35 and row["area_km2"] > 300
    assert "too coarse" in row["warnings"]


def test_add_layer_puts_the_catchment_in_the_catalogue(tmp_path: Path) -> None:
    from geo.core.workspace import open_workspace

    root = tmp_path / "ws"
    (root / "layers").mkdir(parents=True)
    (root / "data").mkdir()
    result = delineate_catchment(write_dem(tmp_path / "plane.tif", plane()), *lonlat(0, 0),
                                 snap_distance_m=0)
    data_file, layer_file = add_catchment_layer(root, "plane_catchment", result)
    spec = tomllib.loads(layer_file.read_text(encoding="utf-8"))
    assert spec["kind"] == "catchment" and spec["source"] == "derived/plane_catchment.geojson"
    assert spec["accuracy"] == "derived" and spec["evidences"] == ["catchments"]
    ws = open_workspace(root)
    loaded = ws.load("plane_catchment")
    assert loaded["fid"].tolist() == ["plane_catchment"]
    assert loaded["area_km2"].iloc[0] == pytest.approx(result["area_km2"].iloc[0])
    with pytest.raises(DataWriteError, match="already exists"):
        add_catchment_layer(root, "plane_catchment", result)
    assert data_file.exists()


def test_cli_delineate_and_add_layer(tmp_path: Path) -> None:
    from geo.cli.main import app

    root = tmp_path / "ws"
    (root / "layers").mkdir(parents=True)
    (root / "data").mkdir()
    dem = write_dem(tmp_path / "valleys.tif", two_valleys())
    lon, lat = lonlat(10, 24)
    runner = CliRunner()
    result = runner.invoke(app, ["delineate", "--dem", str(dem), "--outlet", f"{lon},{lat}",
                                 "--snap-distance", "200", "--add-layer", "west_valley",
                                 "-w", str(root)])
    assert result.exit_code == 0, result.output
    assert "km²" in result.output and "snap" in result.output.lower()
    assert (root / "layers" / "west_valley.toml").exists()
    bad = runner.invoke(app, ["delineate", "--dem", str(dem), "--outlet", "31.2,120.9"])
    assert bad.exit_code == 1 and "LON,LAT" in bad.output
    outside = runner.invoke(app, ["delineate", "--dem", str(dem), "--outlet", "100,20"])
    assert outside.exit_code == 1 and "outside DEM" in outside.output
    assert "Traceback" not in bad.output + outside.output
