"""Benchmark: the full export bundle of a demo site (target ≤ 3 s).

Usage: ``.venv/bin/python bench/bench_export.py [AWS-ref] [--repeat N]``

Prints the first (cold: layers read, fonts loaded) and the median of the warm runs
for the whole bundle (scope assessment + every format + ZIP), wall and CPU time,
then a breakdown per part.  The machine's load average is printed too: on a busy
shared machine wall time exceeds CPU time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import geo.export as export
from geo import open_workspace
from geo.export_bundle import sheet_parts


def timed(func, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    result = func(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def bundle(ws, ref):
    data = export.collect(ws, ref)
    return export.render(data, "bundle")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ref", nargs="?", default="AWS-000522")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    ws = open_workspace()
    parts, wall, cpu = timed(bundle, ws, args.ref)
    size = sum(len(v) for v in parts.values())
    print(f"bundle {args.ref}: cold {wall:.2f} s wall, {cpu:.2f} s CPU ({size / 1e6:.1f} MB zip)")
    walls, cpus = [], []
    for _ in range(args.repeat):
        _, wall, cpu = timed(bundle, ws, args.ref)
        walls.append(wall)
        cpus.append(cpu)
    print(f"bundle {args.ref}: warm median {statistics.median(walls):.2f} s wall, "
          f"{statistics.median(cpus):.2f} s CPU over {args.repeat} runs "
          f"(min {min(walls):.2f} s wall)")

    data, wall, cpu = timed(export.collect, ws, args.ref)
    print(f"  collect (scope assessment) {wall:6.2f} s wall {cpu:6.2f} s CPU")
    for fmt in ("geojson", "gpkg", "kml", "kmz", "csv", "html"):
        _, wall, cpu = timed(export._RENDERERS[export.ExportFormat(fmt)], data)
        print(f"  {fmt:26s} {wall:6.2f} s wall {cpu:6.2f} s CPU")
    _, wall, cpu = timed(sheet_parts, data, "a4")
    print(f"  {'map sheet (pdf + png)':26s} {wall:6.2f} s wall {cpu:6.2f} s CPU")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs; target: bundle ≤ 3 s")


if __name__ == "__main__":
    main()
