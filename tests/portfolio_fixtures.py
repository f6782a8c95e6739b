"""A synthetic portfolio for the engine tests: a few hundred sites, GeoParquet big layers.

Built in code (no committed data).  Over a 1° × 0.8° area at lon 120–121 (UTM zones 50
and 51, so two metric CRSs), with the cases where engines could part ways:

* catchment units on a grid of level ``section`` draining east (a GeoParquet folder of
  parts, Hilbert-sorted, so a site's parcels and a unit's neighbours are scattered over
  the file), plus a coarser level ``basin`` in a GeoJSON file (filtered out by level);
* parcels of 1–3 blocks, some straddling unit boundaries, written Hilbert-sorted (a site's
  parcels are not next to each other in the file);
* IWRAs: a GeoParquet layer in EPSG:4326, a second in EPSG:3857 (read through boxes
  transformed to the file's CRS) and a small GeoJSON one;
* water chains: plants serving sites, intakes inferred to rivers, outfalls linked to
  rivers, inferred or left as gaps, one flowing into a unit directly (its chain walks the
  units to the sink), a lake with no links (its outlet unit found by the engine), a
  wastewater plant, a broken site (lake ↔ river cycle), a record without parcels;
* a catchment polygon (containing catchments) and a unit carrying a site's aws_ref.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Point, box

from geo.core.geoparquet import write_geoparquet
from geo.core.records import SiteRecord, save_record
from tests.conftest import write_layer_toml

WEST, SOUTH, EAST, NORTH = 119.6, 31.0, 120.6, 31.8  # lon 120 splits UTM zones 50 | 51


def _frame(data: dict, geometry: object, crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.DataFrame(data), geometry=geometry, crs=crs)


def build_portfolio(root: Path, n_sites: int = 240, seed: int = 7, *,
                    partitions: int | None = 3) -> Path:
    """Write the synthetic workspace at ``root`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    (root / "layers").mkdir(parents=True)
    (root / "data" / "sites").mkdir(parents=True)

    def layer(layer_id: str, kind: str, frame: gpd.GeoDataFrame, suffix: str = "parquet",
              parts: int | None = None, **extra: object) -> None:
        source = f"{layer_id}.{suffix}"
        if suffix == "parquet":
            write_geoparquet(frame, root / "data" / source, partitions=parts,
                             row_group_size=200)
        else:
            frame.to_file(root / "data" / source, engine="pyogrio")
        write_layer_toml(root, layer_id, title=layer_id, kind=kind, source=source, **extra)

    # units: 40 × 32 grid, level "section", draining east; the east column are sinks
    cols, rows = 40, 32
    dx, dy = (EAST - WEST) / cols, (NORTH - SOUTH) / rows
    k = np.arange(cols * rows)
    r, c = k // cols, k % cols
    x0, y0 = WEST + c * dx, SOUTH + r * dy
    units = _frame({"fid": [f"u{i}" for i in k], "name": [f"Unit {i}" for i in k],
                    "next_down": [f"u{i + 1}" if (i % cols) + 1 < cols else None for i in k],
                    "level": "section", "accuracy": "derived",
                    "aws_ref": [None] * len(k)}, shapely.box(x0, y0, x0 + dx, y0 + dy))
    units.loc[5, "accuracy"] = "illustrative"
    layer("units", "catchment_unit", units, parts=partitions)
    basins = _frame({"fid": ["basin_w", "basin_e"], "name": ["West basin", "East basin"],
                     "next_down": [None, None], "level": "basin"},
                    [box(WEST, SOUTH, 120.1, NORTH), box(120.1, SOUTH, EAST, NORTH)])
    layer("basins", "catchment_unit", basins, suffix="geojson")
    layer("catchment", "catchment",
          _frame({"fid": ["catch1"], "name": ["Upper catchment"]},
                 [box(WEST, 31.4, 120.2, NORTH)]), suffix="geojson")
    # rivers: 8 east-west lines; a lake upstream with no links; a loop for a broken site
    river_y = np.linspace(SOUTH + 0.05, NORTH - 0.05, 8)
    rivers = _frame({"fid": [f"r{i}" for i in range(8)], "name": [f"River {i}" for i in range(8)],
                     "accuracy": "official", "flows_to": [None] * 8},
                    [LineString([(WEST + 0.02, y), (EAST - 0.3, y)]) for y in river_y])
    rivers = pd.concat([rivers, _frame(
        {"fid": ["river_loop"], "name": ["Loop River"], "accuracy": "official",
         "flows_to": ["lake_loop"]}, [LineString([(120.45, 31.03), (120.5, 31.03)])])],
        ignore_index=True)
    layer("rivers", "river", gpd.GeoDataFrame(rivers, crs="EPSG:4326"), suffix="geojson")
    lakes = _frame({"fid": ["lake_still", "lake_loop"], "name": ["Still Lake", "Loop Lake"],
                    "flows_to": [None, "river_loop"], "accuracy": ["illustrative", "official"]},
                   [box(119.9, 31.55, 119.93, 31.57), box(120.43, 31.02, 120.45, 31.04)])
    layer("lakes", "lake", lakes, suffix="geojson")
    # sites: parcels of 1-3 blocks
    refs = [f"AWS-{500000 + i:06d}" for i in range(n_sites)]
    sx = rng.uniform(WEST + 0.05, EAST - 0.05, n_sites)
    sy = rng.uniform(SOUTH + 0.05, NORTH - 0.05, n_sites)
    side = rng.uniform(150, 400, n_sites) / 111_000.0
    blocks = rng.integers(1, 4, n_sites)
    owner = np.repeat(np.arange(n_sites), blocks)
    j = np.arange(len(owner)) - np.repeat(np.cumsum(blocks) - blocks, blocks)
    px = sx[owner] + j * side[owner] * 1.05
    parcels = _frame({"fid": [f"p{i}_{b}" for i, b in zip(owner, j, strict=True)],
                      "name": [f"Site {i} block {b}" for i, b in zip(owner, j, strict=True)],
                      "aws_ref": np.asarray(refs, dtype=object)[owner],
                      "accuracy": np.where(owner % 7 == 0, "illustrative", "surveyed")},
                     shapely.box(px, sy[owner], px + side[owner], sy[owner] + side[owner]))
    layer("sites", "site", parcels)
    # plants (water supply) serving sites, fed by intakes near rivers; one wastewater plant
    plants_x = rng.uniform(WEST, EAST, 6)
    plants_y = rng.uniform(SOUTH, NORTH, 6)
    plants = _frame({"fid": [f"plant{p}" for p in range(6)],
                     "name": [f"Water plant {p}" for p in range(6)],
                     "serves": [",".join(refs[p::6]) for p in range(6)],
                     "facility_type": "water_plant", "flows_to": [None] * 6},
                    shapely.points(plants_x, plants_y))
    plants = pd.concat([plants, _frame(
        {"fid": ["wwtp"], "name": ["City wastewater plant"], "serves": [",".join(refs[::10])],
         "facility_type": "wastewater", "flows_to": ["r3"]}, [Point(120.2, 31.4)])],
        ignore_index=True)
    layer("plants", "facility", gpd.GeoDataFrame(plants, crs="EPSG:4326"), suffix="geojson")
    nearest = river_y[np.abs(river_y[:, None] - plants_y[None, :]).argmin(axis=0)]
    intakes = _frame({"fid": [f"intake{p}" for p in range(6)],
                      "name": [f"Intake {p}" for p in range(6)],
                      "flows_to": [f"plant{p}" for p in range(6)]},
                     shapely.points(np.clip(plants_x, WEST + 0.03, EAST - 0.31), nearest + 0.004))
    layer("intakes", "water_source", intakes, suffix="geojson")
    # outfalls: linked to the nearest river (odd), to a unit (every 9th), to the lake or
    # the loop (one each), else inferred or a gap
    near_river = np.abs(river_y[None, :] - sy[:, None]).argmin(axis=1)
    flows = [f"r{near_river[i]}" if i % 2 else None for i in range(n_sites)]
    for i in range(0, n_sites, 9):
        cell = int((sy[i] - SOUTH) // dy) * cols + int((sx[i] - WEST) // dx)
        flows[i] = f"u{cell}"
    flows[4], flows[8] = "lake_still", "lake_loop"
    outfalls = _frame({"fid": [f"dp{i}" for i in range(n_sites)],
                       "name": [f"Outfall {i}" for i in range(n_sites)], "aws_ref": refs,
                       "flows_to": flows}, shapely.points(sx, sy))
    layer("outfalls", "discharge_point", outfalls, suffix="geojson")
    # IWRAs: random 8-gons and thin boxes, three layers
    n = 1500
    centres = shapely.points(rng.uniform(WEST, EAST, n), rng.uniform(SOUTH, NORTH, n))
    shapes = shapely.buffer(centres, rng.uniform(30, 900, n) / 111_000.0, quad_segs=2)
    iwras = _frame({"fid": [f"iw{i}" for i in range(n)], "name": [f"IWRA {i}" for i in range(n)],
                    "category": rng.choice(["wetland", "landscape"], n)}, shapes)
    layer("iwras", "iwra", iwras.iloc[:1000], parts=partitions)
    layer("iwras_3857", "iwra", iwras.iloc[1000:1400].to_crs("EPSG:3857"), crs="EPSG:3857")
    layer("iwras_small", "iwra", iwras.iloc[1400:], suffix="geojson")
    for i, ref in enumerate(refs):
        save_record(root / "data", SiteRecord(
            aws_ref=ref, site_name=f"Synthetic site {i}",
            water_service_provider="Synthetic Water Co." if i % 3 else "",
            receiving_water_bodies=["River 2"] if i % 5 == 0 else [],
            area_m2=float(rng.uniform(2e4, 2e5)) if i % 4 == 0 else None))
    save_record(root / "data", SiteRecord(aws_ref="AWS-599999", site_name="No parcels yet"))
    return root
