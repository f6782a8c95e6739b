"""Speed of ``catchscope serve-features``: items of the demo's largest layer, and a
1,000-feature page of a 100,000-feature layer.

Starts the real service with the command line (127.0.0.1, a free port) twice: on a copy
of the demo workspace, and on a synthetic workspace written here (one layer of 100,000
small polygons with five attributes, in a real GeoPackage).  Each URL is requested once
(the service has loaded every layer at start, to write the extents into its config), then
``--repeat`` times warm; prints the start-up time, the first request's time and the warm
median / p95 / max, response size and feature count.  Targets (issue 16): the largest
demo layer's items ≤ 200 ms warm; a 1,000-feature page of the 100,000-feature layer ≤ 1 s.

    .venv/bin/python bench/bench_features.py
    .venv/bin/python bench/bench_features.py --repeat 50 --features 200000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402

from geo.core.workspace import copy_workspace, open_workspace  # noqa: E402

CATCHSCOPE = Path(sys.executable).with_name("catchscope")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _service(root: Path) -> Iterator[str]:
    port = _free_port()
    log = open(root.parent / f"serve-{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([str(CATCHSCOPE), "serve-features", "-w", str(root), "--port",
                             str(port)], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "XDG_DATA_HOME": str(root.parent / "xdg")})
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    try:
        deadline = started + 120
        while True:  # wait until the landing page answers
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/?f=json",
                                                                      timeout=5):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"serve-features did not start; see {log.name}")
            time.sleep(0.1)
        print(f"    service up (landing page answers) {time.monotonic() - started:.1f} s after "
              "the command started (it loads every collection to write the config)")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _get(url: str) -> tuple[float, int, int]:
    """Seconds, bytes and features of one GET (the whole body read and parsed)."""
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        body = response.read()
    elapsed = time.perf_counter() - start
    return elapsed, len(body), len(json.loads(body).get("features", []))


def _measure(label: str, url: str, repeat: int, target_s: float | None) -> None:
    cold, size, count = _get(url)
    warm = sorted(_get(url)[0] for _ in range(repeat))
    p95 = warm[min(len(warm) - 1, round(0.95 * (len(warm) - 1)))]
    median = statistics.median(warm)
    verdict = "" if target_s is None else (
        f"  target ≤ {target_s * 1000:.0f} ms: {'met' if median <= target_s else 'MISSED'}")
    print(f"{label}\n    {url.split('/', 3)[3]}\n    {count} features, {size / 1024:.0f} KiB; "
          f"first {cold * 1000:.0f} ms; warm median {median * 1000:.0f} ms, p95 "
          f"{p95 * 1000:.0f} ms, max {warm[-1] * 1000:.0f} ms ({repeat} requests){verdict}")


def _largest_layer(root: Path) -> tuple[str, int, int]:
    """The demo layer with the most vertices: id, features, vertices."""
    ws = open_workspace(root)
    sizes = []
    for spec in ws.specs.values():
        if spec.is_raster:
            continue
        frame = ws.load(spec.id)
        sizes.append((int(shapely.get_num_coordinates(frame.geometry.values).sum()),
                      spec.id, len(frame)))
    vertices, layer_id, features = max(sizes)
    return layer_id, features, vertices


def _synthetic_workspace(root: Path, count: int) -> None:
    """One layer of ``count`` ~50 m squares around Kunshan, in a GeoPackage."""
    rng = np.random.default_rng(16)
    x = rng.uniform(120.5, 121.5, count)
    y = rng.uniform(30.8, 31.6, count)
    frame = gpd.GeoDataFrame(
        {"parcel_id": [f"parcel-{i:06d}" for i in range(count)],
         "name": [f"Parcel {i}" for i in range(count)],
         "land_use": rng.choice(["industrial", "residential", "farmland", "water"], count),
         "area_m2": rng.uniform(500, 5_000, count).round(1),
         "surveyed": rng.random(count) < 0.5},
        geometry=shapely.box(x, y, x + 0.0005, y + 0.0005), crs="EPSG:4326")
    (root / "layers").mkdir(parents=True)
    (root / "data" / "sites").mkdir(parents=True)
    frame.to_file(root / "data" / "parcels.gpkg", layer="parcels", engine="pyogrio")
    (root / "layers" / "parcels.toml").write_text(
        'id = "parcels"\ntitle = "Synthetic parcels"\nkind = "other"\n'
        'source = "parcels.gpkg"\nlayer = "parcels"\nid_field = "parcel_id"\n'
        'label_field = "name"\ndescription = "100,000 synthetic squares (benchmark)."\n',
        encoding="utf-8")
    (root / "catchscope.toml").write_text('name = "Feature service benchmark"\n',
                                          encoding="utf-8")


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="warm requests per URL")
    parser.add_argument("--features", type=int, default=100_000,
                        help="features of the synthetic layer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-features-") as folder:
        demo = copy_workspace(REPO, Path(folder) / "demo" / "ws")
        layer_id, features, vertices = _largest_layer(demo)
        print(f"demo: largest layer {layer_id!r}, {features} features, {vertices:,} vertices")
        with _service(demo) as url:
            _measure(f"items of {layer_id} (all of them, GeoJSON)",
                     f"{url}/collections/{layer_id}/items?f=json&limit={features}",
                     args.repeat, 0.2)
            _measure(f"items of {layer_id} (the default page of 10)",
                     f"{url}/collections/{layer_id}/items?f=json", args.repeat, 0.2)
            _measure("the physical scope of AWS-000522 (all features)",
                     f"{url}/collections/AWS-000522-scope/items?f=json&limit=1000",
                     args.repeat, None)
        synthetic = Path(folder) / "synthetic" / "ws"
        start = time.perf_counter()
        _synthetic_workspace(synthetic, args.features)
        print(f"\nsynthetic: {args.features:,} polygons written to a GeoPackage in "
              f"{time.perf_counter() - start:.1f} s")
        with _service(synthetic) as url:
            items = f"{url}/collections/parcels/items?f=json&limit=1000"
            _measure("1,000-feature page, offset 0", items, args.repeat, 1.0)
            _measure("1,000-feature page, offset 90,000", items + "&offset=90000",
                     args.repeat, 1.0)
            _measure("1,000-feature page, bbox (a tenth of the area)",
                     items + "&bbox=120.9,31.1,121.2,31.3", args.repeat, 1.0)
            _measure("1,000-feature page, property filter (land_use=water)",
                     items + "&land_use=water", args.repeat, 1.0)


if __name__ == "__main__":
    main()
