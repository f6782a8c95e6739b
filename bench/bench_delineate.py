"""Benchmark: catchment delineation on a 3,000 × 3,000 synthetic DEM, catchscope vs pysheds.

Run:  .venv/bin/python bench/bench_delineate.py [--size 3000] [--seed 7]
pysheds is optional (``pip install -e '.[bench]'``); without it only catchscope runs.

The DEM: fractal terrain (spectral synthesis, β = 3), a regional tilt, a few long
sine ridges and 3,000 dug pits (1–3 cells wide, 2–20 m deep), 30 m cells in UTM
51N, written as a GeoTIFF so both tools read the same file.  Per step we report
wall time, the peak of Python-tracked allocations (tracemalloc: numpy arrays
included) and the peak resident set size above the step's start (sampled every
5 ms from /proc), which also sees memory numba and GDAL allocate.  Agreement:
intersection over union (IoU) of the catchments' cells for three outlets, each
the highest-accumulation cell of a quarter of the grid (interior only).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import tempfile
import threading
import time
import tracemalloc
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.raster.delineate import (
    condition_dem,
    delineate_catchment,
    fill_depressions,
    flow_accumulation,
    flow_directions,
    snap_outlet,
    upstream_mask,
)

CELL = 30.0
CRS = "EPSG:32651"
ORIGIN = (300_000.0, 3_500_000.0)
PAGE = os.sysconf("SC_PAGE_SIZE")


def synthetic_dem(size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius = np.hypot(fx, fy)
    radius[0, 0] = 1.0
    spectrum = (rng.normal(size=radius.shape) + 1j * rng.normal(size=radius.shape)) / radius**1.5
    spectrum[0, 0] = 0.0
    terrain = np.fft.irfft2(spectrum, s=(size, size))
    del spectrum, radius
    terrain = (terrain - terrain.min()) / np.ptp(terrain) * 300.0
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    terrain += 0.01 * CELL * (rows + 0.5 * cols)  # regional tilt towards the north-west
    terrain += 15.0 * np.sin(cols / 170.0) * np.cos(rows / 230.0)
    del rows, cols
    for _ in range(3000):  # dug pits: the depressions a real DEM is full of
        r, c = rng.integers(5, size - 5, size=2)
        w = int(rng.integers(1, 4))
        terrain[r: r + w, c: c + w] -= rng.uniform(2.0, 20.0)
    return terrain.astype(np.float32)


def write_dem(path: Path, dem: np.ndarray) -> None:
    transform = Affine(CELL, 0, ORIGIN[0], 0, -CELL, ORIGIN[1])
    with rasterio.open(path, "w", driver="GTiff", width=dem.shape[1], height=dem.shape[0],
                       count=1, dtype="float32", crs=CRS, transform=transform, nodata=-9999.0,
                       tiled=True, compress="deflate") as dst:
        dst.write(dem, 1)


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


class Step:
    """Time one step and its peak RSS above the step's start; or (trace=True) only its
    tracemalloc peak, in a separate run, because tracing slows allocation-heavy code."""

    def __init__(self, tool: str, name: str, rows: list[dict[str, Any]],
                 trace: bool = False) -> None:
        self.tool, self.name, self.rows, self.trace = tool, name, rows, trace

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, _rss())
            time.sleep(0.005)

    def __enter__(self) -> Step:
        gc.collect()
        if self.trace:
            tracemalloc.start()
            return self
        self._rss0 = self._peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.trace:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            for row in self.rows:
                if (row["tool"], row["step"]) == (self.tool, self.name):
                    row["traced_mib"] = peak / 2**20
            return
        seconds = time.perf_counter() - self._t0
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, _rss())
        self.rows.append({"tool": self.tool, "step": self.name, "seconds": seconds,
                          "traced_mib": float("nan"),
                          "rss_mib": (self._peak - self._rss0) / 2**20})


def timed(tool: str, name: str, rows: list[dict[str, Any]], func: Callable[[], Any],
          trace: bool = False) -> Any:
    with Step(tool, name, rows, trace):
        return func()


def outlets_from(accumulation: np.ndarray, size: int) -> list[tuple[int, int]]:
    grid = accumulation.reshape(size, size)
    half, margin = size // 2, size // 10
    picks = []
    for r0, c0 in ((margin, margin), (margin, half), (half, margin)):
        block = grid[r0: r0 + half - margin, c0: c0 + half - margin]
        r, c = np.unravel_index(np.argmax(block), block.shape)
        picks.append((r0 + int(r), c0 + int(c)))
    return picks


def run_catchscope(path: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    model = timed("catchscope", "condition_dem (read+fill+route+accumulate)", rows,
                  lambda: condition_dem(path))
    size = model.shape[0]
    valid = np.isfinite(model.dem)
    dem = model.dem
    for trace in (False, True):  # timing run, then a tracemalloc run for memory
        filled = timed("catchscope", "fill_depressions (priority-flood)", rows,
                       partial(fill_depressions, dem, valid), trace)
        receivers, flats = timed("catchscope", "flow_directions + resolve_flats", rows,
                                 partial(flow_directions, filled, valid, dx_m=CELL, dy_m=CELL),
                                 trace)
        accumulation = timed("catchscope", "flow_accumulation", rows,
                             partial(flow_accumulation, receivers, valid), trace)
        assert np.array_equal(accumulation, model.accumulation)
        outlets = outlets_from(accumulation, size)
        masks = [
            timed("catchscope", f"catchment #{k + 1} (upstream cells)", rows,
                  partial(upstream_mask, receivers, r * size + c), trace)
            for k, (r, c) in enumerate(outlets)
        ]
        lon, lat = _lonlat(outlets[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = timed("catchscope", "delineate_catchment #1 (snap+trace+polygon)", rows,
                          partial(delineate_catchment, model, lon, lat, snap_distance_m=0),
                          trace)
    snapped = snap_outlet(model, lon, lat, 0)
    assert snapped.cell == outlets[0][0] * size + outlets[0][1]
    interior = np.zeros(model.shape, dtype=bool)
    interior[1:-1, 1:-1] = True
    undirected = int(((receivers.reshape(model.shape) < 0) & interior & valid).sum())
    return {"size": size, "undirected": undirected, "outlets": outlets, "masks": masks,
            "flat_share": float(flats.mean()),
            "area_km2": float(frame["area_km2"].iloc[0]), "accumulation": accumulation}


def _lonlat(cell: tuple[int, int]) -> tuple[float, float]:
    import pyproj

    r, c = cell
    to_wgs = pyproj.Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    return to_wgs.transform(ORIGIN[0] + (c + 0.5) * CELL, ORIGIN[1] - (r + 0.5) * CELL)


def run_pysheds(path: Path, rows: list[dict[str, Any]], outlets: list[tuple[int, int]]) -> Any:
    from pysheds.grid import Grid

    if not hasattr(np, "in1d"):  # pysheds 0.5 still calls np.in1d, removed in numpy 2.4
        np.in1d = np.isin  # type: ignore[attr-defined]
    # numba compiles on first use: warm every step up on a small DEM, and say how long it took.
    start = time.perf_counter()
    small = Path(path).with_name("small.tif")
    write_dem(small, synthetic_dem(64, 1))
    grid = Grid.from_raster(str(small))
    dem = grid.read_raster(str(small))
    fdir = grid.flowdir(grid.resolve_flats(grid.fill_depressions(grid.fill_pits(dem))))
    grid.accumulation(fdir)
    grid.catchment(x=ORIGIN[0] + 10 * CELL, y=ORIGIN[1] - 10 * CELL, fdir=fdir)
    compile_seconds = time.perf_counter() - start

    grid = Grid.from_raster(str(path))
    dem = grid.read_raster(str(path))
    pits = timed("pysheds", "fill_pits", rows, lambda: grid.fill_pits(dem))
    flooded = timed("pysheds", "fill_depressions", rows, lambda: grid.fill_depressions(pits))
    inflated = timed("pysheds", "resolve_flats", rows, lambda: grid.resolve_flats(flooded))
    fdir = timed("pysheds", "flowdir", rows, lambda: grid.flowdir(inflated))
    acc = timed("pysheds", "accumulation", rows, lambda: grid.accumulation(fdir))
    masks, snapped = [], []
    acc_grid = np.asarray(acc)
    for k, (r, c) in enumerate(outlets):
        catch = timed("pysheds", f"catchment #{k + 1}", rows,
                      partial(grid.catchment, x=c, y=r, fdir=fdir, xytype="index"))
        masks.append(np.asarray(catch).astype(bool).ravel())
        # Flats are routed differently, so the streams may part by a cell or two:
        # also snap to pysheds' own highest-accumulation cell within 5 cells (150 m).
        window = acc_grid[r - 5: r + 6, c - 5: c + 6]
        dr, dc = np.unravel_index(np.argmax(window), window.shape)
        rs, cs = r - 5 + int(dr), c - 5 + int(dc)
        catch = grid.catchment(x=cs, y=rs, fdir=fdir, xytype="index")
        snapped.append(np.asarray(catch).astype(bool).ravel())
    fdir_grid = np.asarray(fdir)
    undirected = int(np.isin(fdir_grid, (-1, -2)).sum())  # flats (-1) and pits (-2) left
    # Where does each cell's pysheds flow path end?  (dirmap order: N NE E SE S SW W NW)
    size = fdir_grid.shape[1]
    moves = {64: -size, 128: -size + 1, 1: 1, 2: size + 1, 4: size, 8: size - 1, 16: -1,
             32: -size - 1}
    flat = fdir_grid.ravel()
    index = np.arange(flat.size)
    receivers = np.full(flat.size, -1, dtype=np.int64)
    for code, step in moves.items():
        hit = flat == code
        receivers[hit] = index[hit] + step
    rows, cols = np.divmod(receivers, size)
    off = (receivers < 0) | (rows >= fdir_grid.shape[0]) | (np.abs(cols - index % size) > 1)
    receivers[off] = -1
    end = np.where(receivers >= 0, receivers, index)
    while not np.array_equal(end[end], end):
        end = end[end]
    stuck = np.isin(flat[end], (-1, -2))
    return masks, snapped, acc_grid.ravel(), compile_seconds, undirected, stuck


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dem.tif"
        start = time.perf_counter()
        write_dem(path, synthetic_dem(args.size, args.seed))
        print(f"DEM {args.size} × {args.size} cells of {CELL:g} m "
              f"({args.size**2 / 1e6:.1f} M cells), built in {time.perf_counter() - start:.1f} s")
        ours = run_catchscope(path, rows)
        print(f"catchscope: {ours['flat_share']:.2%} of cells routed across flats; "
              f"catchment #1 = {ours['area_km2']:,.1f} km²")
        theirs = None
        try:
            import pysheds  # noqa: F401
        except ImportError:
            print("pysheds is not installed (pip install -e '.[bench]'): comparison skipped.")
        else:
            theirs = run_pysheds(path, rows, ours["outlets"])
    print()
    print(f"{'tool':<11} {'step':<44} {'seconds':>8} {'tracemalloc MiB':>16} {'ΔRSS MiB':>9}")
    for row in rows:
        print(f"{row['tool']:<11} {row['step']:<44} {row['seconds']:>8.2f} "
              f"{row['traced_mib']:>16.0f} {row['rss_mib']:>9.0f}")
    for tool in ("catchscope", "pysheds"):
        total = sum(r["seconds"] for r in rows if r["tool"] == tool and not
                    r["step"].startswith("condition_dem"))
        if total:
            print(f"{tool:<11} {'total':<44} {total:>8.2f}")
    print(f"peak RSS of the whole run: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    if theirs is not None:
        masks, snapped, accumulation, compile_seconds, undirected, stuck = theirs
        print(f"pysheds numba compilation (warm-up on 64 × 64, not in the table): "
              f"{compile_seconds:.1f} s")
        print(f"cells left without a flow direction after conditioning: catchscope "
              f"{ours['undirected']:,}, pysheds {undirected:,} (flats/pits its resolve_flats "
              "did not resolve: their upstream cells stop there)")
        for k, ours_mask in enumerate(ours["masks"]):
            for label, their_mask in (("same cell", masks[k]), ("pysheds snapped", snapped[k])):
                union = np.logical_or(ours_mask, their_mask).sum()
                iou = np.logical_and(ours_mask, their_mask).sum() / union
                print(f"catchment #{k + 1} at cell {ours['outlets'][k]} ({label}): catchscope "
                      f"{ours_mask.sum():,} cells, pysheds {their_mask.sum():,}, IoU {iou:.4f}")
            only_ours = ours_mask & ~snapped[k]
            if only_ours.any():
                print(f"    cells only catchscope includes: {only_ours.sum():,}, of which "
                      f"{stuck[only_ours].mean():.1%} end, in pysheds, on a cell it left "
                      "without a direction")
        same = np.mean(ours["accumulation"] == accumulation.astype(np.int64))
        print(f"accumulation identical on {same:.2%} of cells")


if __name__ == "__main__":
    main()
