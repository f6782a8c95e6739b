"""Benchmark raster overlays and zonal statistics: what the browser receives, and how fast.

Run: ``.venv/bin/python bench/bench_rasters.py``.  Prints figures only.

1. Demo sites: map data and map page with the DEM overlay off and on (the demo DEM is
   7 × 5 px, so the overlay adds little: the point is the page stays the same size).
2. A synthetic 6,000 × 6,000 float32 DEM (30 m UTM cells, 180 km a side, 137 MiB
   uncompressed): overlay for a site view (a few km) and for a view of the whole raster
   — time, image size and PNG bytes.  Neither ships the raster whole: the image is at
   most 1,024 px a side and only around the view.
3. Zonal statistics of that DEM over 200 zones, and of the demo DEM over a demo scope.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import rasterio
from affine import Affine
from shapely.geometry import box

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geo.core.workspace import open_workspace  # noqa: E402
from geo.maps.build import MapData, map_html, map_payload_bytes, prepare_map, render_map  # noqa: E402
from geo.maps.rasters import prepare_raster_overlays  # noqa: E402
from geo.raster.zones import site_raster_stats, zonal_stats  # noqa: E402

UTM = "EPSG:32651"
CELL = 30.0
ORIGIN = (250_000.0, 3_520_000.0)
SIDE = 6000


def kb(n: int) -> str:
    return f"{n / 1024:,.1f} KiB"


def demo() -> None:
    ws = open_workspace()
    if "dem_sample" not in ws.specs:
        print("demo: no DEM layer; skipped")
        return
    for ref in sorted(ws.records):
        data = prepare_map(ws, ref)
        off = dataclasses.replace(data, rasters=[])
        on = dataclasses.replace(data, rasters=[dataclasses.replace(r, show=True)
                                                for r in data.rasters])
        page_off = len(map_html(render_map(off)).encode())
        page_on = len(map_html(render_map(on)).encode())
        shipped_off, shipped_on = (_shipped(d) for d in (off, on))
        [dem] = on.rasters
        print(f"{ref}: map data {kb(map_payload_bytes(off))} → {kb(map_payload_bytes(on))} "
              f"with the DEM on; st_folium ships {kb(shipped_off)} → {kb(shipped_on)}; "
              f"standalone page {kb(page_off)} → {kb(page_on)}; "
              f"overlay {dem.width}×{dem.height} px, PNG data URI {len(dem.image):,} B")


def _shipped(data: object) -> int:
    """Bytes of the arguments st_folium sends to its browser component (the app's map)."""
    import json

    from ui.mapview import _st_folium_args

    args = _st_folium_args(data, "../catchscope_static/", "map", 680, "inspect")  # type: ignore[arg-type]
    return len(json.dumps(args, default=str).encode())


def _big_dem(folder: Path) -> Path:
    rows, cols = np.mgrid[0:SIDE, 0:SIDE].astype("float32")
    z = 5.0 + 0.01 * cols + 0.02 * rows + 20 * np.sin(rows / 150) * np.cos(cols / 200)
    path = folder / "data" / "big_dem.tif"
    path.parent.mkdir(parents=True)
    with rasterio.open(path, "w", driver="GTiff", width=SIDE, height=SIDE, count=1,
                       dtype="float32", crs=UTM, compress="deflate", tiled=True,
                       transform=Affine(CELL, 0, ORIGIN[0], 0, -CELL, ORIGIN[1])) as dst:
        dst.write(z.astype("float32"), 1)
    (folder / "layers").mkdir()
    (folder / "layers" / "big_dem.toml").write_text(
        'id = "big_dem"\ntitle = "Big DEM"\nkind = "raster"\nsource = "big_dem.tif"\n\n'
        '[raster]\nunits = "m"\ncategorical = false\n', encoding="utf-8")
    return path


def big() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        path = _big_dem(folder)
        print(f"synthetic DEM {SIDE}×{SIDE} float32 ({SIDE * SIDE * 4 / 2**20:,.0f} MiB "
              f"uncompressed, {path.stat().st_size / 2**20:,.0f} MiB on disk) written in "
              f"{time.perf_counter() - started:.1f} s")
        ws = open_workspace(folder)
        to_wgs = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
        cx, cy = ORIGIN[0] + SIDE * CELL / 2, ORIGIN[1] - SIDE * CELL / 2
        (w, s), (e, n) = to_wgs.transform(cx - 2500, cy - 2500), to_wgs.transform(cx + 2500,
                                                                                  cy + 2500)
        (w0, s0), (e0, n0) = (to_wgs.transform(ORIGIN[0], ORIGIN[1] - SIDE * CELL),
                              to_wgs.transform(ORIGIN[0] + SIDE * CELL, ORIGIN[1]))
        for label, view in (("5 km site view", ((s, w), (n, e))),
                            ("whole-raster view", ((s0, w0), (n0, e0)))):
            started = time.perf_counter()
            [overlay], _ = prepare_raster_overlays(ws, view)
            took = time.perf_counter() - started
            shipped = _shipped(MapData(title="big", bounds=view, layers=[], rasters=[overlay]))
            print(f"  {label}: {took:.2f} s, image {overlay.width}×{overlay.height} px, "
                  f"PNG data URI {kb(len(overlay.image))} (windowed: {overlay.windowed}); "
                  f"st_folium ships {kb(shipped)} for a map with only this raster")
        zones = gpd.GeoDataFrame(
            {"fid": [f"z{i}" for i in range(200)]},
            geometry=[box(*to_wgs.transform(ORIGIN[0] + 800 * (i % 20) * CELL / 3,
                                            ORIGIN[1] - 800 * (i // 20) * CELL / 3 - 6000),
                          *to_wgs.transform(ORIGIN[0] + 800 * (i % 20) * CELL / 3 + 6000,
                                            ORIGIN[1] - 800 * (i // 20) * CELL / 3))
                      for i in range(200)], crs="EPSG:4326")
        started = time.perf_counter()
        table = zonal_stats(path, zones, categorical=False)
        print(f"  zonal statistics, 200 zones of 6 × 6 km ({int(table['cells'].sum()):,} "
              f"cells): {time.perf_counter() - started:.2f} s")


def demo_zonal() -> None:
    from geo.scope.assess import assess_site

    ws = open_workspace()
    for ref in sorted(ws.records):
        scope = assess_site(ws, ref)
        started = time.perf_counter()
        table = site_raster_stats(ws, scope)
        print(f"{ref}: zonal statistics of the demo rasters over {table['zone'].nunique()} "
              f"zones in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    demo()
    demo_zonal()
    big()
