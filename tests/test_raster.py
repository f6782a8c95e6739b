"""Raster layers: safe opening, overlays, legends and zonal statistics (hand-computed)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box
from typer.testing import CliRunner

from geo.core.errors import CatalogueError, DataReadError, UnsafeInputError
from geo.raster.overlay import (
    cell_areas_m2,
    is_categorical,
    legend_spec,
    open_raster,
    raster_layer_path,
    render_overlay,
)
from geo.raster.zones import zonal_stats

UTM = "EPSG:32651"
X0, Y0 = 300_000.0, 3_460_000.0  # UTM 51N, near Kunshan


def write_tif(path: Path, data: np.ndarray, *, crs: str | None = UTM, cell: float = 10.0,
              transform: Affine | None = None, nodata: float | None = None,
              colormap: dict[int, tuple[int, int, int, int]] | None = None) -> Path:
    transform = transform or Affine(cell, 0, X0, 0, -cell, Y0)
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0],
                       count=1, dtype=data.dtype, crs=crs, transform=transform,
                       nodata=nodata) as dst:
        dst.write(data, 1)
        if colormap:
            dst.write_colormap(1, colormap)
    return path


def cells_box(col0: float, row0: float, col1: float, row1: float, cell: float = 10.0) -> object:
    """A polygon from cell-edge coordinates (columns/rows of a 10 m UTM test grid)."""
    return box(X0 + col0 * cell, Y0 - row1 * cell, X0 + col1 * cell, Y0 - row0 * cell)


# --- opening safely ------------------------------------------------------------------------


def _open(source: object, **options: int) -> None:
    with open_raster(source, **options):  # type: ignore[arg-type]
        pass



def test_opens_from_path_and_from_uploaded_bytes(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "a.tif", np.arange(12, dtype="float32").reshape(3, 4))
    with open_raster(path) as dataset:
        assert (dataset.width, dataset.height, dataset.driver) == (4, 3, "GTiff")
    with open_raster(path.read_bytes()) as dataset:
        assert dataset.read(1)[2, 3] == 11


def test_uploaded_vrt_is_refused(tmp_path: Path) -> None:
    target = write_tif(tmp_path / "inner.tif", np.ones((3, 3), dtype="uint8"))
    vrt = (
        '<VRTDataset rasterXSize="3" rasterYSize="3"><VRTRasterBand dataType="Byte" band="1">'
        f'<SimpleSource><SourceFilename relativeToVRT="0">{target}</SourceFilename>'
        "<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>"
    ).encode()
    with pytest.raises(UnsafeInputError, match="XML/VRT"):
        _open(vrt)
    disguised = tmp_path / "upload.tif"
    disguised.write_bytes(vrt)
    with pytest.raises(UnsafeInputError, match="Only GeoTIFF"):
        _open(disguised)


def test_text_pretending_to_be_a_tif_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "dem.tif"
    fake.write_text("elevation,42\n")
    with pytest.raises(UnsafeInputError, match="not a TIFF"):
        _open(fake)
    with pytest.raises(UnsafeInputError, match="zip archive"):
        _open(b"PK\x03\x04rest-of-a-zip")


def test_tiff_signature_with_garbage_is_a_read_error() -> None:
    with pytest.raises(DataReadError, match="cannot be read as a GeoTIFF"):
        _open(b"II*\x00" + b"\x00" * 64)


def test_urls_and_gdal_virtual_paths_are_refused() -> None:
    for text in ("/vsicurl/https://example.com/dem.tif", "https://example.com/dem.tif",
                 "/vsizip//tmp/x.zip/dem.tif"):
        with pytest.raises(UnsafeInputError, match="not a plain file path"):
            _open(text)


def test_oversize_raster_is_refused_right_after_open(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "big.tif", np.zeros((200, 300), dtype="float32"))
    with pytest.raises(DataReadError, match=r"300 × 200 px .* over the"):
        _open(path, max_bytes=100_000)
    with pytest.raises(DataReadError, match="over the"):
        _open(path.read_bytes(), max_bytes=100_000)


# --- cell areas ------------------------------------------------------------------------------


def test_geographic_cell_areas_sum_to_the_ellipsoid() -> None:
    areas = cell_areas_m2(Affine(1.0, 0, -180, 0, -1.0, 90), pyproj.CRS("EPSG:4326"), 180)
    assert areas.sum() * 360 / 1e6 == pytest.approx(510_065_621.7, rel=1e-6)
    assert areas[0, 0] < areas[89, 0]  # polar cells are smaller than equatorial ones


# --- zonal statistics --------------------------------------------------------------------------


def test_zonal_continuous_matches_hand_computed(tmp_path: Path) -> None:
    grid = np.arange(1, 17, dtype="float32").reshape(4, 4)
    grid[3, 3] = -9999  # nodata inside zone "b"
    path = write_tif(tmp_path / "c.tif", grid, nodata=-9999)
    zones = gpd.GeoDataFrame(
        {"fid": ["a", "b", "tiny"], "name": ["top-left", "bottom-right", "tiny"]},
        geometry=[cells_box(0, 0, 2, 2), cells_box(2, 2, 4, 4), cells_box(1.1, 1.1, 1.3, 1.3)],
        crs=UTM,
    ).to_crs("EPSG:4326")
    stats = zonal_stats(path, zones, categorical=False).set_index("zone")
    a = stats.loc["a"]  # cells 1, 2, 5, 6
    assert a["cells"] == 4 and a["mean"] == pytest.approx(3.5)
    assert (a["min"], a["max"]) == (1, 6)
    assert (a["p10"], a["p50"], a["p90"]) == pytest.approx((1.3, 3.5, 5.7))
    assert a["area_km2"] == pytest.approx(4 * 100 / 1e6)
    b = stats.loc["b"]  # cells 11, 12, 15 (16 is nodata)
    assert b["cells"] == 3 and b["mean"] == pytest.approx(38 / 3) and b["max"] == 15
    tiny = stats.loc["tiny"]  # inside cell (1, 1) without its centre
    assert tiny["cells_rule"] == "touched" and tiny["cells"] == 1 and tiny["mean"] == 6
    assert a["cells_rule"] == "centre"


def test_zonal_categorical_matches_hand_computed(tmp_path: Path) -> None:
    grid = np.array([[1, 1, 2, 2], [1, 3, 3, 2], [1, 1, 1, 1]], dtype="uint8")
    path = write_tif(tmp_path / "lc.tif", grid)
    zones = gpd.GeoDataFrame({"fid": ["all", "east"], "name": ["all", "east"]},
                             geometry=[cells_box(0, 0, 4, 3), cells_box(2, 0, 4, 2)], crs=UTM)
    stats = zonal_stats(path, zones, categorical=True, classes={1: "water", 2: "urban"})
    whole = stats[stats["zone"] == "all"].set_index("class")
    assert whole["cells"].to_dict() == {1: 7, 2: 3, 3: 2}
    assert whole["share_pct"].to_list() == pytest.approx([700 / 12, 25.0, 200 / 12])
    assert whole["area_km2"].to_list() == pytest.approx([7e-4, 3e-4, 2e-4])
    assert whole["label"].to_list() == ["water", "urban", "3"]
    east = stats[stats["zone"] == "east"].set_index("class")
    assert east["cells"].to_dict() == {2: 3, 3: 1}
    assert east["share_pct"].sum() == pytest.approx(100.0)


def test_zonal_categorical_on_geographic_raster_weights_by_area(tmp_path: Path) -> None:
    # Two rows of one class each; the southern row's cells are larger.
    grid = np.array([[1, 1], [2, 2]], dtype="uint8")
    transform = Affine(1.0, 0, 120.0, 0, -1.0, 61.0)
    path = write_tif(tmp_path / "geo.tif", grid, crs="EPSG:4326", transform=transform)
    zones = gpd.GeoDataFrame({"fid": ["z"]}, geometry=[box(120, 59, 122, 61)], crs="EPSG:4326")
    stats = zonal_stats(path, zones, categorical=True).set_index("class")
    rows = cell_areas_m2(transform, pyproj.CRS("EPSG:4326"), 2).ravel()
    assert stats.loc[1, "share_pct"] == pytest.approx(100 * rows[0] / rows.sum())
    assert stats.loc[1, "share_pct"] < 50 < stats.loc[2, "share_pct"]


# --- overlays and legends -----------------------------------------------------------------------


def test_overlay_is_web_mercator_rgba_with_transparent_nodata(tmp_path: Path) -> None:
    data = np.linspace(0, 100, 60 * 80, dtype="float32").reshape(60, 80)
    data[:, :20] = -1  # nodata on the western quarter
    transform = Affine(0.001, 0, 120.9, 0, -0.001, 31.2)
    path = write_tif(tmp_path / "dem.tif", data, crs="EPSG:4326", transform=transform, nodata=-1)
    image, bounds = render_overlay(path)
    assert image.dtype == np.uint8 and image.shape[2] == 4
    (south, west), (north, east) = bounds
    assert (west, east) == pytest.approx((120.9, 120.98), abs=1e-6)
    assert (south, north) == pytest.approx((31.14, 31.2), abs=1e-6)
    third = image.shape[1] // 5
    assert (image[:, :third, 3] == 0).all(), "nodata is transparent"
    assert (image[:, -third:, 3] == 255).all()
    legend = legend_spec(path)
    assert legend.kind == "continuous" and legend.colormap == "viridis"
    assert 0 <= legend.vmin < legend.vmax <= 100
    assert len(legend.colors) >= 5


def test_overlay_is_decimated_and_windowed(tmp_path: Path) -> None:
    data = np.random.default_rng(0).random((900, 1500)).astype("float32")
    path = write_tif(tmp_path / "big.tif", data, cell=10.0)
    image, bounds = render_overlay(path, max_size=256)
    assert max(image.shape[:2]) <= 256
    (south, west), (north, east) = bounds
    window = (west, south, (west + east) / 2, (south + north) / 2)
    part, part_bounds = render_overlay(path, bounds=window, max_size=256)
    assert max(part.shape[:2]) <= 256
    assert part_bounds[1][1] < east and part_bounds[1][0] < north
    with pytest.raises(DataReadError, match="does not overlap"):
        render_overlay(path, bounds=(0.0, 0.0, 1.0, 1.0))


def test_categorical_overlay_uses_legend_colours_and_file_colour_table(tmp_path: Path) -> None:
    grid = np.array([[1, 1, 2], [2, 3, 3]], dtype="uint8")
    table = {1: (0, 0, 255, 255), 2: (255, 0, 0, 255), 3: (0, 128, 0, 255)}
    path = write_tif(tmp_path / "lc.tif", grid, colormap=table)
    assert is_categorical(path)
    legend = legend_spec(path, classes={1: "water", 2: "built-up"})
    assert [(e.value, e.label, e.color) for e in legend.entries] == [
        (1, "water", "#0000ff"), (2, "built-up", "#ff0000"), (3, "3", "#008000")]
    image, _ = render_overlay(path, classes={1: "water", 2: "built-up"})
    colours = {tuple(px[:3]) for px in image.reshape(-1, 4) if px[3] == 255}
    assert colours == {(0, 0, 255), (255, 0, 0), (0, 128, 0)}
    plain = write_tif(tmp_path / "plain.tif", grid)
    assert legend_spec(plain).kind == "categorical"
    assert not is_categorical(write_tif(tmp_path / "f.tif", grid.astype("float32")))


def test_legend_html_escapes_labels(tmp_path: Path) -> None:
    from tests.conftest import HOSTILE_VALUES

    path = write_tif(tmp_path / "lc.tif", np.array([[1, 2]], dtype="uint8"))
    legend = legend_spec(path, title=HOSTILE_VALUES[0],
                         classes={1: HOSTILE_VALUES[2], 2: HOSTILE_VALUES[3]})
    text = legend.to_html()
    assert "<img" not in text and "<script>" not in text and '" onmouseover' not in text


def test_unknown_colormap_is_a_clear_error(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "c.tif", np.ones((2, 2), dtype="float32"))
    with pytest.raises(DataReadError, match="unknown colormap 'nope'"):
        render_overlay(path, colormap="nope")


# --- catalogue and CLI ---------------------------------------------------------------------------


def _workspace(root: Path) -> Path:
    (root / "layers").mkdir(parents=True)
    (root / "data").mkdir()
    write_tif(root / "data" / "lc.tif", np.array([[1, 1, 2, 2], [1, 3, 3, 2], [1, 1, 1, 1]],
                                                  dtype="uint8"))
    (root / "layers" / "landcover.toml").write_text(
        'id = "landcover"\ntitle = "Land cover"\nkind = "raster"\nsource = "lc.tif"\n'
        'crs = "EPSG:32651"\n', encoding="utf-8")
    zones = gpd.GeoDataFrame({"fid": ["p1"], "name": ["Parcel 1"]},
                             geometry=[cells_box(0, 0, 4, 3)], crs=UTM).to_crs("EPSG:4326")
    zones.to_file(root / "data" / "parcels.geojson")
    (root / "layers" / "parcels.toml").write_text(
        'id = "parcels"\ntitle = "Parcels"\nkind = "site"\nsource = "parcels.geojson"\n'
        'crs = "EPSG:4326"\n', encoding="utf-8")
    return root


def test_cli_zonal_prints_class_shares(tmp_path: Path) -> None:
    from geo.cli.main import app
    from geo.core.workspace import open_workspace

    root = _workspace(tmp_path / "ws")
    ws = open_workspace(root)
    assert ws.load("landcover").geometry.iloc[0].area > 0, "raster still loads as a footprint"
    with pytest.raises(CatalogueError, match="not a raster"):
        raster_layer_path(ws, "parcels")
    runner = CliRunner()
    result = runner.invoke(app, ["zonal", "parcels", "--raster", "landcover", "-w", str(root)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Parcel 1" in result.output and "58.33" in result.output
    bad = runner.invoke(app, ["zonal", "parcels", "--raster", "parcels", "-w", str(root)])
    assert bad.exit_code == 1 and "not a raster" in bad.output
