"""Raster overlays on the web map: windowed, downsampled PNGs with legends, and delineations."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
from affine import Affine
from PIL import Image
from shapely.geometry import box

from geo.core.catalogue import Datum
from geo.core.workspace import open_workspace
from geo.maps.build import build_map, map_html, map_payload_bytes, prepare_map, render_map
from geo.maps.rasters import (
    DEFAULT_MAX_SIZE,
    delineation_layers,
    prepare_raster_overlays,
    raster_style_args,
    with_opacity,
)
from tests.conftest import write_layer_toml

CELL = 30.0
ORIGIN = (300_000.0, 3_460_000.0)  # UTM 51N, near Kunshan
UTM = "EPSG:32651"
REF = "AWS-000001"
_TO_WGS = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


def cell_box(row0: int, col0: int, rows: int, cols: int) -> object:
    """WGS84 box covering grid cells [row0, row0+rows) × [col0, col0+cols)."""
    x0, y1 = ORIGIN[0] + col0 * CELL, ORIGIN[1] - row0 * CELL
    x1, y0 = x0 + cols * CELL, y1 - rows * CELL
    (w, s), (e, n) = _TO_WGS.transform(x0, y0), _TO_WGS.transform(x1, y1)
    return box(w, s, e, n)


def cell_lonlat(row: float, col: float) -> tuple[float, float]:
    """WGS84 centre of a cell of the test grids."""
    return _TO_WGS.transform(ORIGIN[0] + (col + 0.5) * CELL, ORIGIN[1] - (row + 0.5) * CELL)


def write_tif(path: Path, z: np.ndarray, *, dtype: str = "float32", nodata: float | None = None,
              cell: float = CELL) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=z.shape[1], height=z.shape[0], count=1,
                       dtype=dtype, crs=UTM, nodata=nodata, compress="deflate",
                       transform=Affine(cell, 0, ORIGIN[0], 0, -cell, ORIGIN[1])) as dst:
        dst.write(z.astype(dtype), 1)
    return path


def tilted_plane(height: int = 40, width: int = 50) -> np.ndarray:
    """z = 100 + 2·col + row: slopes up east and south, all water drains to cell (0, 0)."""
    rows, cols = np.mgrid[0:height, 0:width]
    return 100.0 + 2.0 * cols + 1.0 * rows


def land_cover(height: int = 40, width: int = 50) -> np.ndarray:
    """Class 1 (west half) and 2 (east half); a nodata (0) strip in the last row."""
    z = np.where(np.mgrid[0:height, 0:width][1] < width // 2, 1, 2).astype("uint8")
    z[-1, :] = 0
    return z


def build_raster_workspace(root: Path) -> Path:
    """A workspace with a parcel, a catchment unit, an IWRA, a DEM and a land-cover raster.

    The DEM is :func:`tilted_plane` on a 30 m UTM grid; the parcel covers cells rows
    5–14 × cols 10–19, the unit the west half (cols 0–24), the IWRA rows 20–29 × cols 20–29.
    """
    (root / "layers").mkdir(parents=True, exist_ok=True)
    (root / "data" / "sites").mkdir(parents=True, exist_ok=True)
    vectors = {
        "parcels": ("site", gpd.GeoDataFrame(
            {"fid": ["p1"], "name": ["Block A"], "aws_ref": [REF], "accuracy": ["surveyed"]},
            geometry=[cell_box(5, 10, 10, 10)], crs="EPSG:4326")),
        "units": ("catchment_unit", gpd.GeoDataFrame(
            {"fid": ["u1"], "name": ["West unit"], "next_down": [None], "level": ["section"]},
            geometry=[cell_box(0, 0, 40, 25)], crs="EPSG:4326")),
        "iwras": ("iwra", gpd.GeoDataFrame(
            {"fid": ["i1"], "name": ["Wetland"], "category": ["wetland"]},
            geometry=[cell_box(20, 20, 10, 10)], crs="EPSG:4326")),
    }
    for layer_id, (kind, frame) in vectors.items():
        frame.to_file(root / "data" / f"{layer_id}.geojson", engine="pyogrio")
        write_layer_toml(root, layer_id, title=layer_id.title(), kind=kind,
                         source=f"{layer_id}.geojson")
    write_tif(root / "data" / "rasters" / "dem.tif", tilted_plane())
    write_tif(root / "data" / "rasters" / "landcover.tif", land_cover(), dtype="uint8", nodata=0)
    (root / "layers" / "dem.toml").write_text(
        'id = "dem"\ntitle = "Test DEM"\nkind = "raster"\nsource = "rasters/dem.tif"\n'
        "visible = true\n\n[raster]\nunits = \"m\"\ncategorical = false\n", encoding="utf-8")
    (root / "layers" / "landcover.toml").write_text(
        'id = "landcover"\ntitle = "Land cover"\nkind = "raster"\n'
        'source = "rasters/landcover.tif"\nvisible = false\n\n[raster]\n'
        '[[raster.classes]]\nvalue = 1\nlabel = "Paddy"\ncolor = "#00aa00"\n'
        '[[raster.classes]]\nvalue = 2\nlabel = "Built-up"\ncolor = "#cc0000"\n',
        encoding="utf-8")
    return root


@pytest.fixture
def raster_ws(tmp_path: Path) -> Path:
    return build_raster_workspace(tmp_path / "rasters")


def _png(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_layer_file_drives_colours_and_classes(raster_ws: Path) -> None:
    ws = open_workspace(raster_ws)
    dem = raster_style_args(ws.spec("dem"))
    assert dem == {"categorical": False, "colormap": "terrain", "classes": None}
    cover = raster_style_args(ws.spec("landcover"))
    assert cover["categorical"] is True
    assert cover["classes"] == {1.0: ("Paddy", "#00aa00"), 2.0: ("Built-up", "#cc0000")}


def test_dem_overlay_has_units_in_its_legend_and_sits_on_the_grid(raster_ws: Path) -> None:
    ws = open_workspace(raster_ws)
    view = ((31.2, 120.8), (31.3, 120.95))
    overlays, notes = prepare_raster_overlays(ws, view)
    assert notes == []
    dem = next(o for o in overlays if o.layer_id == "dem")
    assert dem.show and not dem.windowed
    assert "Test DEM (m)" in dem.legend_html and "linear-gradient" in dem.legend_html
    image = _png(dem.image)
    assert image.shape[2] == 4 and max(image.shape[:2]) <= DEFAULT_MAX_SIZE
    # corners: the raster's own extent in WGS84 (to a fraction of a cell)
    (south, west), (north, east) = dem.bounds
    (w0, s0), (e0, n0) = (_TO_WGS.transform(ORIGIN[0], ORIGIN[1] - 40 * CELL),
                          _TO_WGS.transform(ORIGIN[0] + 50 * CELL, ORIGIN[1]))
    assert abs(west - w0) < 3e-4 and abs(east - e0) < 3e-4
    assert abs(south - s0) < 3e-4 and abs(north - n0) < 3e-4
    # the low north-west corner and the high south-east corner get different colours
    assert not np.array_equal(image[1, 1], image[-2, -2])


def test_categorical_overlay_uses_class_colours_and_nodata_is_transparent(
        raster_ws: Path) -> None:
    ws = open_workspace(raster_ws)
    overlays, _ = prepare_raster_overlays(ws, ((31.2, 120.8), (31.3, 120.95)),
                                          layers=["landcover"])
    [cover] = overlays
    assert not cover.show  # visible = false: in the layer control, off
    assert cover.opacity == 0.7  # no fill_opacity in its file: not the vector default 0.2
    assert "Paddy" in cover.legend_html and "#00aa00" in cover.legend_html
    image = _png(cover.image)
    colours = {tuple(int(v) for v in px) for px in image.reshape(-1, 4)}
    assert (0, 170, 0, 255) in colours and (204, 0, 0, 255) in colours
    assert image[-1, image.shape[1] // 2, 3] == 0  # the nodata row
    assert colours <= {(0, 170, 0, 255), (204, 0, 0, 255)} | {c for c in colours if c[3] == 0}


def test_a_large_raster_ships_only_around_the_view(tmp_path: Path) -> None:
    root = build_raster_workspace(tmp_path / "ws")
    # 2500 × 2500 cells of 30 m = 75 km a side; the view is a few km
    big = np.add.outer(np.arange(2500, dtype="float32"), np.arange(2500, dtype="float32"))
    write_tif(root / "data" / "rasters" / "dem.tif", big)
    ws = open_workspace(root)
    lon, lat = cell_lonlat(1250, 1250)
    view = ((lat - 0.01, lon - 0.01), (lat + 0.01, lon + 0.01))
    [dem] = prepare_raster_overlays(ws, view, layers=["dem"])[0]
    assert dem.windowed
    assert max(dem.width, dem.height) <= DEFAULT_MAX_SIZE
    (south, west), (north, east) = dem.bounds
    # the view plus one view-width each side (plus a cell), not the 75 km raster
    assert west > lon - 0.035 and east < lon + 0.035
    assert south > lat - 0.035 and north < lat + 0.035
    assert len(dem.image) < 1_500_000
    # a view far away: nothing to draw, nothing shipped
    far = ((lat + 5, lon + 5), (lat + 5.02, lon + 5.02))
    assert prepare_raster_overlays(ws, far, layers=["dem"])[0] == []


def test_a_broken_raster_is_a_note_not_a_failure(raster_ws: Path) -> None:
    (raster_ws / "data" / "rasters" / "dem.tif").write_text("<VRTDataset/>", encoding="utf-8")
    ws = open_workspace(raster_ws)
    overlays, notes = prepare_raster_overlays(ws, ((31.2, 120.8), (31.3, 120.95)))
    assert [o.layer_id for o in overlays] == ["landcover"]
    assert len(notes) == 1 and "dem" in notes[0] and "GeoTIFF" in notes[0]


def test_webmap_draws_overlays_under_vectors_with_legend_and_slider(raster_ws: Path) -> None:
    ws = open_workspace(raster_ws)
    data = prepare_map(ws, REF)
    assert {r.layer_id for r in data.rasters} == {"dem", "landcover"}
    page = map_html(render_map(data))
    assert page.count("L.imageOverlay(") == 2
    assert '"pane": "csRasters"' in page and "createPane" in page
    assert "cs-raster-legend" in page and "overlay.setOpacity(input.value / 100)" in page
    assert "Test DEM (raster)" in page  # in the layer control
    assert map_payload_bytes(data) > sum(len(r.image) for r in data.rasters)
    # the GCJ-02 display shifts the overlay like the vectors (by ~ 500 m here)
    shifted = prepare_map(ws, REF, basemap="amap")
    (s0, w0), _ = next(r for r in data.rasters if r.layer_id == "dem").bounds
    (s1, w1), _ = next(r for r in shifted.rasters if r.layer_id == "dem").bounds
    assert 0.001 < abs(w1 - w0) + abs(s1 - s0) < 0.02


@pytest.mark.parametrize("basemap", ["none", "amap"])
def test_overlays_added_later_match_those_prepared_with_the_map(raster_ws: Path,
                                                                basemap: str) -> None:
    ws = open_workspace(raster_ws)
    whole = prepare_map(ws, REF, basemap=basemap)
    bare = prepare_map(ws, REF, basemap=basemap, rasters=())
    assert bare.rasters == [] and bare.view is not None
    assert [lay.layer_id for lay in bare.layers] == [lay.layer_id for lay in whole.layers]
    later, notes = prepare_raster_overlays(ws, bare.view, layers=["dem"],
                                           datum=bare.display_datum)
    assert notes == [] and len(later) == 1
    dem = next(r for r in whole.rasters if r.layer_id == "dem")
    assert later[0].image == dem.image and later[0].bounds == dem.bounds


def test_opacity_and_choice_apply_without_re_rendering(raster_ws: Path) -> None:
    overlays, _ = prepare_raster_overlays(open_workspace(raster_ws),
                                          ((31.2, 120.8), (31.3, 120.95)))
    changed = with_opacity(overlays, 0.35, shown=["landcover"])
    assert [o.opacity for o in changed] == [0.35, 0.35]
    assert {o.layer_id: o.show for o in changed} == {"dem": False, "landcover": True}
    assert changed[0].image is overlays[0].image


def test_standalone_html_export_carries_the_overlay(raster_ws: Path) -> None:
    from geo.export.site import export_bytes

    name, _, payload = export_bytes(open_workspace(raster_ws), REF, "html")
    page = payload.decode("utf-8")
    assert name.endswith(".html")
    assert "L.imageOverlay(" in page and "data:image/png;base64," in page
    assert "Test DEM (m)" in page


def test_demo_dem_overlay_is_tiny_and_hidden_by_default() -> None:
    ws = open_workspace()
    if "dem_sample" not in ws.specs:
        pytest.skip("the demo workspace has no DEM")
    fmap = build_map(ws, None, layers=["dem_sample", "sites"])
    page = map_html(fmap)
    assert page.count("L.imageOverlay(") == 1
    data = prepare_map(ws, None, layers=["dem_sample"])
    [dem] = data.rasters
    assert not dem.show and dem.width <= 8 and "(m)" in dem.legend_html


def test_delineation_layers_draw_catchment_and_both_outlets() -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["Catchment <b>x</b>"], "area_km2": [1.8], "dem_resolution_m": [30.0],
         "requested_lon": [120.9], "requested_lat": [31.25], "outlet_lon": [120.901],
         "outlet_lat": [31.251], "snap_distance_m": [140.0], "warnings": [""]},
        geometry=[box(120.9, 31.24, 120.92, 31.26)], crs="EPSG:4326")
    layers = delineation_layers(frame)
    assert [layer.layer_id for layer in layers] == [
        "delineated_catchment", "delineation_requested", "delineation_outlet"]
    tip = layers[0].geojson["features"][0]["properties"]["tip"]
    assert "&lt;b&gt;x" in tip and "1.800 km²" in tip
    assert layers[2].geojson["features"][0]["geometry"]["coordinates"] == [120.901, 31.251]
    shifted = delineation_layers(frame, Datum.GCJ02)
    assert shifted[2].geojson["features"][0]["geometry"]["coordinates"] != [120.901, 31.251]


@pytest.mark.parametrize("layer_id", ["dem", "landcover"])
def test_overlay_coloured_from_its_legend_equals_the_plain_overlay(raster_ws: Path,
                                                                   layer_id: str) -> None:
    from geo.raster.overlay import legend_spec, render_overlay

    spec = open_workspace(raster_ws).spec(layer_id)
    path = raster_ws / "data" / spec.source
    style = raster_style_args(spec)
    plain = render_overlay(path, **style)
    reused = render_overlay(path, legend=legend_spec(path, **style))
    assert np.array_equal(plain.image, reused.image) and plain.bounds == reused.bounds
