"""Recognise and clip a continental HydroBASINS-schema file to a 200 km area of interest.

Target (issue 17): a 1,000,000-polygon file recognised and clipped in ≤ 20 s with a peak
resident set of ≤ 4 GiB.  The file is made here, synthetically, in HydroBASINS v1c's
schema (the 13 published fields, level 12): a 1000 × 1000 grid of 0.05° cells over
0–50°E, 10–60°N, each flowing east to the next cell of its block of 50 columns and the
block's last cell to a sink (NEXT_DOWN 0), so downstream chains are up to 50 units long.
It is written as a GeoPackage (with its R-tree) or a zipped shapefile, and the measured
step runs in a fresh process so its peak RSS is the import's alone::

    .venv/bin/python bench/bench_datasets.py              # 1,000,000 polygons
    .venv/bin/python bench/bench_datasets.py --n 250000   # a smaller run
    .venv/bin/python bench/bench_datasets.py --keep /tmp/hybas   # keep (and reuse) the file
    .venv/bin/python bench/bench_datasets.py --format zip  # a zipped shapefile, as published

What is timed is :func:`geo.ingest.dataset_import.plan_dataset`: the schema peek, the
private copy, the whole file's NEXT_DOWN / PFAF_ID table (read without geometry, links and
levels checked), the bounding-box read through Arrow, the exact clip to the circle, the
downstream closure read back by FID, the conversion and the geometry / value checks.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CELL = 0.05
AOI = "25.0,35.0,200"  # a circle of 200 km in the middle of the grid


def make_file(path: Path, n: int) -> None:
    """Write ``n`` HydroBASINS-schema polygons (level 12): a GeoPackage or a zipped shapefile."""
    import geopandas as gpd
    import numpy as np
    import pyogrio
    import shapely

    side = int(np.sqrt(n) + 0.5)
    i = np.arange(side * side, dtype=np.int64)
    row, col = i // side, i % side
    x0, y0 = col * CELL, 10.0 + row * CELL
    geometry = shapely.box(x0, y0, x0 + CELL, y0 + CELL)
    hybas = 1_120_000_000 + i * 10 + 10  # region 1, level 12, serial, side digit 0
    last_of_block = (col % 50 == 49) | (col == side - 1)
    next_down = np.where(last_of_block, 0, hybas + 10)
    pfaf = 100_000_000_000 + i  # twelve digits: level 12
    area = np.full(len(i), 22.0)
    frame = gpd.GeoDataFrame({
        "HYBAS_ID": hybas, "NEXT_DOWN": next_down,
        "NEXT_SINK": hybas + (49 - col % 50) * 10, "MAIN_BAS": hybas + (49 - col % 50) * 10,
        "DIST_SINK": (49 - col % 50) * 4.0, "DIST_MAIN": (49 - col % 50) * 4.0,
        "SUB_AREA": area, "UP_AREA": area * (col % 50 + 1), "PFAF_ID": pfaf,
        "ENDO": np.zeros(len(i), dtype=np.int64), "COAST": np.zeros(len(i), dtype=np.int64),
        "ORDER": np.ones(len(i), dtype=np.int64), "SORT": i + 1,
    }, geometry=geometry, crs="EPSG:4326")
    if path.suffix == ".gpkg":
        pyogrio.write_dataframe(frame, path, layer="hybas_xx_lev12_v1c", driver="GPKG",
                                use_arrow=True)
        return
    import zipfile

    with tempfile.TemporaryDirectory() as folder:
        shp = Path(folder) / "hybas_xx_lev12_v1c.shp"
        pyogrio.write_dataframe(frame, shp, driver="ESRI Shapefile", use_arrow=True)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for part in sorted(shp.parent.iterdir()):
                archive.write(part, part.name)


def measure(path: Path) -> dict[str, float]:
    """Recognise and clip ``path`` in this (fresh) process: seconds and peak RSS."""
    from geo.core.check import init_workspace
    from geo.core.workspace import open_workspace
    from geo.ingest.dataset_import import plan_dataset
    from geo.ingest.dataset_read import parse_aoi

    with tempfile.TemporaryDirectory() as folder:
        ws = open_workspace(init_workspace(Path(folder) / "ws"))
        start = time.perf_counter()
        plan = plan_dataset(ws, path, aoi=parse_aoi(AOI))
        seconds = time.perf_counter() - start
    assert plan is not None and plan.profile.key == "hydrobasins"
    frame = plan.layers[0][0].frame
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"seconds": seconds, "peak_rss_mib": peak_kib / 1024, "units": len(frame),
            "level": float(plan.level or 0), "counts": " ".join(plan.counts)}  # type: ignore[dict-item]


def main() -> None:
    """Make the file (unless kept), then time the import step in a child process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="polygons (a square number)")
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the file in")
    parser.add_argument("--format", choices=("gpkg", "zip"), default="gpkg",
                        help="GeoPackage, or a zipped shapefile as HydroSHEDS ships it")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        sys.stdout.write(json.dumps(measure(args.measure)) + "\n")
        return
    with tempfile.TemporaryDirectory(prefix="bench-datasets-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"hybas_xx_lev12_{args.n}.{args.format}"
        if not path.exists():
            start = time.perf_counter()
            make_file(path, args.n)
            print(f"wrote {path.name}: {args.n:,} polygons, {path.stat().st_size / 1e6:,.0f} MB "
                  f"in {time.perf_counter() - start:.1f} s (not timed)")
        child = subprocess.run([sys.executable, __file__, "--measure", str(path)],
                               check=True, capture_output=True, text=True)
        result = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"recognised and clipped to {AOI} (lon,lat,km): {result['units']:,} units "
          f"at level {result['level']:.0f}")
    print(f"  {result['counts']}")
    ok_time = result["seconds"] <= 20.0
    ok_rss = result["peak_rss_mib"] <= 4096.0
    print(f"time {result['seconds']:.2f} s (target ≤ 20 s: {'ok' if ok_time else 'MISSED'}); "
          f"peak RSS {result['peak_rss_mib']:,.0f} MiB (target ≤ 4096 MiB: "
          f"{'ok' if ok_rss else 'MISSED'})")


if __name__ == "__main__":
    main()
