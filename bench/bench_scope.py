"""Benchmark: ``catchscope scope --all`` for 1,000 sites, 100,000 catchment units, 50,000 IWRAs.

Run:  .venv/bin/python bench/bench_scope.py [--sites 1000] [--units 100000] [--iwras 50000]
      [--extent 114,26,124,34] [--seed 3] [--keep DIR]

A synthetic workspace is written to a temporary folder (GeoPackage layers, one JSON record
per site) and then assessed exactly as the CLI does: ``open_workspace`` + ``assess_all``,
reading every file.  The layout, over a regional extent (default the Yangtze delta and
beyond, lon 114–124, lat 26–34, two UTM zones):

* catchment units: a grid of ``--units`` cells, level "section", each draining east
  (``next_down`` = the cell to its east; the east column are sinks) — 100,000 units in a
  forest of depth up to the number of columns;
* IWRA polygons: ``--iwras`` random 10-sided polygons of 50–800 m radius;
* sites: ``--sites`` sites of 1–3 parcels (150–300 m squares), each with a discharge point
  (half link to a river with ``flows_to``, half are inferred to the nearest river or left
  as a gap), and records naming a water service provider;
* 60 rivers (east–west lines), 20 water plants each serving 50 sites, each fed by an
  intake on a river.

Timings are wall-clock on this machine; the synthetic data is built before the clock runs.
Then the real command runs once as a user would, in a fresh process (interpreter start,
imports, table, CSV): ``catchscope scope --all --csv … -w <workspace>`` (``--no-cli`` skips).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Point

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.core.workspace import open_workspace
from geo.scope.assess import assess_all


def _toml(layer_id: str, kind: str, source: str, id_field: str = "uid") -> str:
    return (f'id = "{layer_id}"\ntitle = "{layer_id}"\nkind = "{kind}"\nsource = "{source}"\n'
            f'crs = "EPSG:4326"\nid_field = "{id_field}"\nlabel_field = "name"\n')


def _write(root: Path, layer_id: str, kind: str, frame: gpd.GeoDataFrame) -> None:
    # GeoPackage reserves the column name "fid" for its integer key: ids go in "uid".
    frame = frame.rename(columns={"fid": "uid"})
    frame.to_file(root / "data" / f"{layer_id}.gpkg", engine="pyogrio", layer=layer_id)
    (root / "layers" / f"{layer_id}.toml").write_text(_toml(layer_id, kind, f"{layer_id}.gpkg"),
                                                       encoding="utf-8")


def build(root: Path, n_sites: int, n_units: int, n_iwras: int,
          extent: tuple[float, float, float, float], seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    west, south, east, north = extent
    (root / "layers").mkdir(parents=True)
    (root / "data" / "sites").mkdir(parents=True)
    # units: a grid draining east
    ratio = (east - west) / (north - south)
    cols = max(1, round(float(np.sqrt(n_units * ratio))))
    rows = int(np.ceil(n_units / cols))
    dx, dy = (east - west) / cols, (north - south) / rows
    k = np.arange(rows * cols)[:n_units]
    r, c = k // cols, k % cols
    x0, y0 = west + c * dx, south + r * dy
    fids = np.char.add("u", k.astype(str))
    nxt = np.where((c + 1 < cols) & (k + 1 < n_units), np.char.add("u", (k + 1).astype(str)), "")
    units = gpd.GeoDataFrame({"fid": fids, "name": np.char.add("Unit ", k.astype(str)),
                              "next_down": nxt, "level": "section", "accuracy": "derived"},
                             geometry=shapely.box(x0, y0, x0 + dx, y0 + dy), crs="EPSG:4326")
    units["next_down"] = units["next_down"].replace("", None)
    _write(root, "units", "catchment_unit", units)
    # IWRAs: random small polygons
    centres = shapely.points(rng.uniform(west, east, n_iwras), rng.uniform(south, north, n_iwras))
    radius = rng.uniform(50, 800, n_iwras) / 111_000.0
    iwras = gpd.GeoDataFrame(
        {"fid": [f"iw{i}" for i in range(n_iwras)], "name": [f"IWRA {i}" for i in range(n_iwras)],
         "category": rng.choice(["wetland", "water source protection", "landscape"], n_iwras),
         "accuracy": "official"},
        geometry=shapely.buffer(centres, radius, quad_segs=3), crs="EPSG:4326")
    _write(root, "iwras", "iwra", iwras)
    # rivers: east-west lines
    river_y = np.linspace(south + 0.05, north - 0.05, 60)
    rivers = gpd.GeoDataFrame(
        {"fid": [f"r{i}" for i in range(60)], "name": [f"River {i}" for i in range(60)],
         "accuracy": "official"},
        geometry=[LineString([(west, y), (east, y)]) for y in river_y], crs="EPSG:4326")
    _write(root, "rivers", "river", rivers)
    # plants and intakes
    n_plants = 20
    plants_x = rng.uniform(west, east, n_plants)
    plants_y = rng.uniform(south, north, n_plants)
    refs = [f"AWS-{100000 + i:06d}" for i in range(n_sites)]
    serves = [",".join(refs[p::n_plants]) for p in range(n_plants)]
    plants = gpd.GeoDataFrame(
        {"fid": [f"plant{p}" for p in range(n_plants)],
         "name": [f"Water plant {p}" for p in range(n_plants)], "serves": serves,
         "facility_type": "water_plant", "accuracy": "official"},
        geometry=shapely.points(plants_x, plants_y), crs="EPSG:4326")
    _write(root, "plants", "facility", plants)
    nearest_river = river_y[np.abs(river_y[:, None] - plants_y[None, :]).argmin(axis=0)]
    intakes = gpd.GeoDataFrame(
        {"fid": [f"intake{p}" for p in range(n_plants)],
         "name": [f"Intake {p}" for p in range(n_plants)],
         "flows_to": [f"plant{p}" for p in range(n_plants)], "accuracy": "official"},
        geometry=shapely.points(plants_x, nearest_river + 0.002), crs="EPSG:4326")
    _write(root, "intakes", "water_source", intakes)
    # sites, parcels, discharge points, records
    sx = rng.uniform(west + 0.1, east - 0.1, n_sites)
    sy = rng.uniform(south + 0.1, north - 0.1, n_sites)
    parcels, points = [], []
    for i, ref in enumerate(refs):
        side = rng.uniform(150, 300) / 111_000.0
        for j in range(int(rng.integers(1, 4))):
            x = sx[i] + j * side * 1.1
            parcels.append({"fid": f"p{i}_{j}", "name": f"Site {i} block {j}", "aws_ref": ref,
                            "accuracy": "surveyed",
                            "geometry": shapely.box(x, sy[i], x + side, sy[i] + side)})
        points.append({"fid": f"dp{i}", "name": f"Outfall {i}", "aws_ref": ref,
                       "flows_to": f"r{int(np.abs(river_y - sy[i]).argmin())}" if i % 2 else None,
                       "accuracy": "surveyed",
                       "geometry": Point(sx[i], sy[i])})
    _write(root, "sites", "site", gpd.GeoDataFrame(
        pd.DataFrame(parcels).drop(columns="geometry"),
        geometry=[p["geometry"] for p in parcels], crs="EPSG:4326"))
    _write(root, "discharge_points", "discharge_point", gpd.GeoDataFrame(
        pd.DataFrame(points).drop(columns="geometry"),
        geometry=[p["geometry"] for p in points], crs="EPSG:4326"))
    for i, ref in enumerate(refs):
        record = {"aws_ref": ref, "site_name": f"Synthetic site {i}",
                  "water_service_provider": "Synthetic Water Co."}
        (root / "data" / "sites" / f"{ref}.json").write_text(json.dumps(record),
                                                             encoding="utf-8")
    return {"sites": n_sites, "parcels": len(parcels), "units": n_units, "iwras": n_iwras,
            "rivers": 60, "plants": n_plants}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--iwras", type=int, default=50_000)
    parser.add_argument("--extent", default="114,26,124,34",
                        help="west,south,east,north in degrees (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Write the workspace here and keep it.")
    parser.add_argument("--no-cli", action="store_true",
                        help="Skip timing the real `catchscope scope --all` command.")
    args = parser.parse_args()
    extent = tuple(float(v) for v in args.extent.split(","))
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-scope-")) / "ws"
    t0 = time.perf_counter()
    counts = build(root, args.sites, args.units, args.iwras, extent, args.seed)  # type: ignore[arg-type]
    print(f"built {counts} over lon {extent[0]:g}–{extent[2]:g}, lat {extent[1]:g}–{extent[3]:g} "
          f"in {time.perf_counter() - t0:.1f} s (not timed below)")
    stages: list[tuple[float, str]] = []
    start = time.perf_counter()
    cpu_start = time.process_time()
    ws = open_workspace(root)
    opened = time.perf_counter()

    def progress(done: int, total: int, message: str) -> None:
        if done <= 3 or done == total:
            stages.append((time.perf_counter(), message))

    table = assess_all(ws, progress=progress)
    end = time.perf_counter()
    cpu = time.process_time() - cpu_start
    print(f"open_workspace (catalogue + {len(ws.records)} records): {opened - start:6.2f} s")
    last = opened
    for stamp, message in stages:
        print(f"  … until '{message}' began/ended: {stamp - last:6.2f} s")
        last = stamp
    print(f"assess_all total:                  {end - opened:6.2f} s")
    print(f"scope --all equivalent (open + assess_all): {end - start:.2f} s for "
          f"{len(table)} sites ({cpu:.2f} s CPU; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    band_cols = [c for c in table.columns if c.startswith("iwras_")]
    print("IWRAs per site (mean):", {c: round(float(table[c].mean()), 1) for c in band_cols})
    print("single catchment:", table["single_catchment"].value_counts().to_dict(),
          "| checklist:", table["checklist"].value_counts().to_dict())
    if not args.no_cli:
        exe = Path(sys.executable).with_name("catchscope")
        csv = root.parent / "portfolio.csv"
        started = time.perf_counter()
        run = subprocess.run([str(exe), "scope", "--all", "--csv", str(csv), "--overwrite",
                              "-w", str(root)], capture_output=True, text=True,
                             env={**os.environ, "COLUMNS": "100"}, check=False)
        took = time.perf_counter() - started
        rows = len(pd.read_csv(csv)) if csv.exists() else 0
        print(f"`catchscope scope --all --csv` in a fresh process: {took:.2f} s, exit "
              f"{run.returncode}, {rows} CSV rows"
              + (f"\n{run.stderr.strip()[-500:]}" if run.returncode else ""))
    if args.keep is None:
        shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
