"""Benchmark: the full export bundle of a demo site (target ≤ 3 s).

Usage: ``.venv/bin/python bench/bench_export.py [AWS-ref] [--repeat N] [--no-cli]``

Three ways a user meets the bundle, each timed:

* **app** — the Export tab's *Prepare*: the site's scope is already assessed (the app
  passes its cached one to :func:`geo.export.site.collect`), so this is collect + every
  format + ZIP.  Median of the warm runs.
* **with assessment** — the same plus the scope assessment, in a warm process.
* **CLI** — ``catchscope export SITE -f bundle -o DIR`` end to end in a fresh process
  (Python start-up and imports included), median of three.

Then a breakdown per part.  The machine's load average is printed too: on a busy
shared machine wall time exceeds CPU time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import geo.export.site as export
from geo import open_workspace
from geo.export.bundle import sheet_parts
from geo.scope.assess import assess_site


def timed(func: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = func(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def warm_median(label: str, repeat: int, func: Callable[[], Any]) -> None:
    walls, cpus = [], []
    for _ in range(repeat):
        _, wall, cpu = timed(func)
        walls.append(wall)
        cpus.append(cpu)
    print(f"{label}: warm median {statistics.median(walls):.2f} s wall, "
          f"{statistics.median(cpus):.2f} s CPU over {repeat} runs "
          f"(min {min(walls):.2f}, max {max(walls):.2f} s wall)")


def cli_runs(ref: str, runs: int = 3) -> None:
    script = Path(sys.executable).with_name("catchscope")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "geo.cli.main"]
    walls = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        for run in range(runs):
            target = Path(folder) / f"run{run}.zip"
            started = time.perf_counter()
            subprocess.run([*command, "export", ref, "-f", "bundle", "-o", str(target)],
                           check=True, capture_output=True)
            walls.append(time.perf_counter() - started)
    print(f"CLI `catchscope export {ref} -f bundle` (fresh process, imports included): "
          f"median {statistics.median(walls):.2f} s wall over {runs} runs")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("ref", nargs="?", default="AWS-000522")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI runs")
    args = parser.parse_args()

    ws = open_workspace()
    scope, wall, _ = timed(assess_site, ws, args.ref)
    parts, bundle_wall, _ = timed(
        lambda: export.render(export.collect(ws, args.ref, scope=scope), "bundle"))
    size = sum(len(v) for v in parts.values())
    print(f"bundle {args.ref}: first in this process {wall + bundle_wall:.2f} s wall "
          f"(assessment {wall:.2f} s, fonts and templates loaded) — "
          f"{size / 1e6:.1f} MB zip")
    warm_median("bundle, app (scope already assessed)", args.repeat,
                lambda: export.render(export.collect(ws, args.ref, scope=scope), "bundle"))
    warm_median("bundle with scope assessment", args.repeat,
                lambda: export.render(export.collect(ws, args.ref), "bundle"))

    _, wall, cpu = timed(assess_site, ws, args.ref)
    print(f"  scope assessment           {wall:6.2f} s wall {cpu:6.2f} s CPU")
    data, wall, cpu = timed(export.collect, ws, args.ref, scope=scope)
    print(f"  collect (assessed scope)   {wall:6.2f} s wall {cpu:6.2f} s CPU")
    for fmt in ("geojson", "gpkg", "kml", "kmz", "csv", "html"):
        _, wall, cpu = timed(export._RENDERERS[export.ExportFormat(fmt)], data)
        print(f"  {fmt:26s} {wall:6.2f} s wall {cpu:6.2f} s CPU")
    _, wall, cpu = timed(sheet_parts, data, "a4")
    print(f"  {'map sheet (pdf + png)':26s} {wall:6.2f} s wall {cpu:6.2f} s CPU")
    if not args.no_cli:
        cli_runs(args.ref)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs; target: bundle ≤ 3 s")


if __name__ == "__main__":
    main()
