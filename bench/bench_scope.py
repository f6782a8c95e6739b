"""Benchmark: ``catchscope scope --all`` at scale, optionally against DuckDB spatial.

Run:  .venv/bin/python bench/bench_scope.py [--sites 1000] [--units 100000] [--iwras 25000]
      [--engine columnar|dask|reference] [--scheduler ADDRESS] [--partitions N]
      [--compare duckdb] [--curve] [--extent W,S,E,N] [--seed 3] [--keep DIR]

A synthetic workspace is written to a temporary folder — every layer GeoParquet
(Hilbert-sorted, bbox columns; units and IWRAs in folders of ``--partitions`` parts for
the dask engine), one JSON record per site — before any clock runs.  The layout, over a
regional extent (default the Yangtze delta and beyond, lon 114–124, lat 26–34, two UTM
zones):

* catchment units: a grid of ``--units`` cells, level "section", each draining east
  (``next_down`` = the cell to its east; the east column are sinks);
* IWRA polygons: ``--iwras`` random 10-sided polygons of 50–800 m radius;
* sites: ``--sites`` sites of 1–3 parcels (150–300 m squares), each with a discharge point
  (half link to a river with ``flows_to``, half are inferred to the nearest river or left
  as a gap), and records naming a water service provider;
* 60 rivers (east–west lines), 20 water plants each serving 1/20 of the sites, each fed
  by an intake on a river.

Then the real command runs in a fresh process, as a user would (interpreter start,
imports, 10,000 records, table, CSV): ``catchscope scope --all --csv … --engine E``, and
its wall time and peak RSS are printed.  ``--compare duckdb`` runs the portfolio's joins
in DuckDB spatial on the same files in the same run — parcels × units (overlap areas in
UTM), sites × IWRAs (counts within 50 m and each band, in UTM), discharge points → the
nearest river within 1 km (in UTM) — and prints, last, ``ratio catchscope/duckdb``: the
whole ``scope --all`` (which does those joins and more: water chains, the 1.1.1
checklist) over DuckDB's joins alone.  ``--curve`` runs 1k × 100k × 25k, 10k × 1M × 250k
and 50k × 5M × 1M (sites × units × IWRAs) and prints wall time and peak RSS of each; the
50k run uses ``--engine dask`` over 5× the area (a continent's portfolio, at the 10k
run's density of sites and units).
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
from shapely.geometry import LineString

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.core.geoparquet import write_geoparquet

DEFAULT_EXTENT = (114.0, 26.0, 124.0, 34.0)
#: The scale curve: (sites, units, IWRAs); the 50k run over 5× the area, with dask.
CURVE = ((1_000, 100_000, 25_000), (10_000, 1_000_000, 250_000), (50_000, 5_000_000, 1_000_000))


def _toml(layer_id: str, kind: str, source: str) -> str:
    return (f'id = "{layer_id}"\ntitle = "{layer_id}"\nkind = "{kind}"\nsource = "{source}"\n'
            f'crs = "EPSG:4326"\nid_field = "fid"\nlabel_field = "name"\n')


def _write(root: Path, layer_id: str, kind: str, frame: gpd.GeoDataFrame,
           partitions: int | None = None) -> None:
    write_geoparquet(frame, root / "data" / f"{layer_id}.parquet", partitions=partitions)
    (root / "layers" / f"{layer_id}.toml").write_text(
        _toml(layer_id, kind, f"{layer_id}.parquet"), encoding="utf-8")


def build(root: Path, n_sites: int, n_units: int, n_iwras: int,
          extent: tuple[float, float, float, float], seed: int,
          partitions: int | None = None) -> dict[str, int]:
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
    _write(root, "units", "catchment_unit", units, partitions)
    del units
    # IWRAs: random small polygons
    centres = shapely.points(rng.uniform(west, east, n_iwras), rng.uniform(south, north, n_iwras))
    radius = rng.uniform(50, 800, n_iwras) / 111_000.0
    iwras = gpd.GeoDataFrame(
        {"fid": np.char.add("iw", np.arange(n_iwras).astype(str)),
         "name": np.char.add("IWRA ", np.arange(n_iwras).astype(str)),
         "category": rng.choice(["wetland", "water source protection", "landscape"], n_iwras),
         "accuracy": "official"},
        geometry=shapely.buffer(centres, radius, quad_segs=3), crs="EPSG:4326")
    _write(root, "iwras", "iwra", iwras, partitions)
    del iwras
    # rivers: east-west lines
    n_rivers = 60
    river_y = np.linspace(south + 0.05, north - 0.05, n_rivers)
    rivers = gpd.GeoDataFrame(
        {"fid": [f"r{i}" for i in range(n_rivers)], "name": [f"River {i}" for i in range(n_rivers)],
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
    side = rng.uniform(150, 300, n_sites) / 111_000.0
    blocks = rng.integers(1, 4, n_sites)
    owner = np.repeat(np.arange(n_sites), blocks)
    j = np.arange(len(owner)) - np.repeat(np.cumsum(blocks) - blocks, blocks)
    px = sx[owner] + j * side[owner] * 1.1
    py = sy[owner]
    parcels = gpd.GeoDataFrame(
        {"fid": [f"p{i}_{b}" for i, b in zip(owner, j, strict=True)],
         "name": [f"Site {i} block {b}" for i, b in zip(owner, j, strict=True)],
         "aws_ref": np.asarray(refs, dtype=object)[owner], "accuracy": "surveyed"},
        geometry=shapely.box(px, py, px + side[owner], py + side[owner]), crs="EPSG:4326")
    _write(root, "sites", "site", parcels)
    nearest = np.abs(river_y[None, :] - sy[:, None]).argmin(axis=1)
    points = gpd.GeoDataFrame(
        {"fid": [f"dp{i}" for i in range(n_sites)],
         "name": [f"Outfall {i}" for i in range(n_sites)],
         "aws_ref": refs,
         "flows_to": [f"r{nearest[i]}" if i % 2 else None for i in range(n_sites)],
         "accuracy": "surveyed"},
        geometry=shapely.points(sx, sy), crs="EPSG:4326")
    _write(root, "discharge_points", "discharge_point", points)
    for i, ref in enumerate(refs):
        record = {"aws_ref": ref, "site_name": f"Synthetic site {i}",
                  "water_service_provider": "Synthetic Water Co."}
        (root / "data" / "sites" / f"{ref}.json").write_text(json.dumps(record),
                                                             encoding="utf-8")
    return {"sites": n_sites, "parcels": len(parcels), "units": n_units, "iwras": n_iwras,
            "rivers": n_rivers, "plants": n_plants}


def run_command(root: Path, engine: str, scheduler: str | None
                ) -> tuple[float, float, float, int, str]:
    """``catchscope scope --all --csv`` in a fresh process: wall s, CPU s, peak RSS GiB, rows.

    CPU is user + system of the command, its threads and its reaped children included (so
    with the dask engine's local cluster, its worker processes too): what the run costs,
    where wall time on a shared machine says as much about how busy the machine is.
    """
    exe = Path(sys.executable).with_name("catchscope")
    csv = root.parent / f"portfolio-{engine}.csv"
    command = [str(exe), "scope", "--all", "--csv", str(csv), "--overwrite", "-w", str(root),
               "--engine", engine]
    if scheduler:
        command += ["--scheduler", scheduler]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env={**os.environ, "COLUMNS": "100"})
    _, status, usage = os.wait4(child.pid, 0)
    took = time.perf_counter() - started
    stderr = child.stderr.read().decode("utf-8", "replace") if child.stderr else ""
    rows = len(pd.read_csv(csv)) if csv.exists() else 0
    code = os.waitstatus_to_exitcode(status)
    # ru_maxrss is in KiB on Linux
    return (took, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 2**20, rows,
            "" if code == 0 else f"exit {code}: {stderr[-800:]}")


def run_duckdb(root: Path, bands_km: tuple[float, ...] = (1.0, 10.0, 50.0),
               onsite_m: float = 50.0, tolerance_m: float = 1000.0) -> tuple[float, dict]:
    from bench.duckdb_joins import portfolio_joins

    started = time.perf_counter()
    result = portfolio_joins(root / "data", bands_km=bands_km, onsite_m=onsite_m,
                             tolerance_m=tolerance_m)
    return time.perf_counter() - started, result


def compare_results(root: Path, engine: str, duck: dict) -> str:
    """How many sites' IWRA counts agree between catchscope's CSV and DuckDB's."""
    csv = root.parent / f"portfolio-{engine}.csv"
    if not csv.exists():
        return "no catchscope CSV to compare"
    ours = pd.read_csv(csv).set_index("aws_ref")
    theirs = duck["iwra_counts"].reindex(ours.index).fillna(0).astype(int)
    columns = [c for c in theirs.columns if c in ours.columns]
    same = (ours[columns].astype(int) == theirs[columns]).all(axis=1)
    names = ours["catchment_unit"].fillna("").map(
        lambda text: ", ".join(sorted(text.split(", "))) if text else "")
    units_same = (names == duck["catchment_unit"].reindex(ours.index).fillna("")).mean()
    return (f"{int(same.sum())}/{len(same)} sites with the same IWRA counts in every band; "
            f"{units_same:.1%} with the same catchment unit(s)")


def one_run(args: argparse.Namespace, n_sites: int, n_units: int, n_iwras: int,
            extent: tuple[float, float, float, float], engine: str
            ) -> tuple[float, float, int]:
    root = (args.keep or Path(tempfile.mkdtemp(prefix="bench-scope-"))) / f"ws-{n_sites}"
    if root.exists():
        shutil.rmtree(root)
    partitions = args.partitions or (max(2, n_units // 250_000) if engine == "dask" else None)
    t0 = time.perf_counter()
    counts = build(root, n_sites, n_units, n_iwras, extent, args.seed, partitions)
    print(f"built {counts} over lon {extent[0]:g}–{extent[2]:g}, lat {extent[1]:g}–"
          f"{extent[3]:g}{f', {partitions} partitions' if partitions else ''} in "
          f"{time.perf_counter() - t0:.1f} s (not timed)", flush=True)
    load = os.getloadavg()[0]
    took, cpu, rss, rows, problem = run_command(root, engine, args.scheduler)
    print(f"`catchscope scope --all --csv --engine {engine}` in a fresh process: {took:.2f} s "
          f"({cpu:.1f} s CPU), peak RSS {rss:.2f} GiB, {rows} CSV rows (load average "
          f"{load:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores)"
          + (f"\n{problem}" if problem else ""), flush=True)
    if args.compare == "duckdb":
        print("DuckDB spatial: the same joins on the same files…", flush=True)
        duck_s, duck = run_duckdb(root)
        print(f"DuckDB spatial, the same joins on the same files: {duck_s:.2f} s "
              f"({duck['stages']})", flush=True)
        print("agreement:", compare_results(root, engine, duck))
        print(f"ratio catchscope/duckdb = {took / duck_s:.2f}")
    if args.keep is None:
        shutil.rmtree(root.parent, ignore_errors=True)
    return took, cpu, rss, rows


def scaled_extent(n_sites: int, base: tuple[float, float, float, float]) -> tuple[float, ...]:
    """The default extent grown (about its south-west corner) so density stays as at 10k."""
    west, south, east, north = base
    grow = max(1.0, float(np.sqrt(n_sites / 10_000)))
    return (west, south, west + (east - west) * grow, south + (north - south) * grow)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--iwras", type=int, default=25_000)
    parser.add_argument("--engine", default="columnar", choices=("columnar", "dask", "reference"))
    parser.add_argument("--scheduler", help="dask.distributed scheduler address (dask engine).")
    parser.add_argument("--partitions", type=int,
                        help="GeoParquet parts per big layer (default: 1 file; dask: 1 per "
                             "250,000 units).")
    parser.add_argument("--compare", choices=("duckdb",),
                        help="Run the same joins in DuckDB spatial and print the ratio.")
    parser.add_argument("--curve", action="store_true",
                        help="1k / 10k / 50k sites with units and IWRAs scaled alike.")
    parser.add_argument("--extent", help="west,south,east,north in degrees (default: "
                        f"{','.join(f'{v:g}' for v in DEFAULT_EXTENT)})")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Write the workspaces here and keep them.")
    args = parser.parse_args()
    extent = tuple(float(v) for v in args.extent.split(",")) if args.extent else DEFAULT_EXTENT
    if not args.curve:
        one_run(args, args.sites, args.units, args.iwras, extent, args.engine)  # type: ignore[arg-type]
        return
    rows = []
    for n_sites, n_units, n_iwras in CURVE:
        engine = "dask" if n_sites >= 50_000 else args.engine
        grown = scaled_extent(n_sites, extent)  # type: ignore[arg-type]
        took, cpu, rss, done = one_run(args, n_sites, n_units, n_iwras, grown,  # type: ignore[arg-type]
                                       engine)
        rows.append((n_sites, n_units, n_iwras, engine, took, cpu, rss, done))
    print("\nscale curve (fresh process each, `catchscope scope --all --csv`):")
    print(f"{'sites':>8} {'units':>10} {'IWRAs':>10} {'engine':>9} {'wall s':>8} {'CPU s':>7} "
          f"{'peak GiB':>9}")
    for n_sites, n_units, n_iwras, engine, took, cpu, rss, done in rows:
        print(f"{n_sites:>8,} {n_units:>10,} {n_iwras:>10,} {engine:>9} {took:>8.1f} {cpu:>7.1f} "
              f"{rss:>9.2f}" + ("" if done == n_sites else f"  ({done} rows!)"))


if __name__ == "__main__":
    main()
