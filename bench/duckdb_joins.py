"""The portfolio's joins in DuckDB spatial, for bench_scope.py --compare duckdb.

The same questions catchscope's portfolio asks, on the same GeoParquet files, in the
metric CRS of each site's UTM zone (as catchscope measures):

* parcels × catchment units: the units each site's parcels overlap by at least 1 m²
  (0.1.1.1's "one catchment unit");
* sites × IWRAs: how many IWRAs lie within 50 m (on site) and within each band (1, 10,
  50 km) of each site's parcels;
* discharge points → the nearest river within the inference tolerance (1 km).

DuckDB's spatial extension loads from the ``duckdb-extension-spatial`` wheel (no
download).  Each join is the plain SQL a DuckDB user would write: a spatial join on
boxes (DuckDB's R-tree join), then exact ``ST_Distance`` / ``ST_Area`` on the pairs.
"""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["connect", "portfolio_joins"]


def connect() -> Any:
    """A DuckDB connection with the spatial extension loaded from its wheel."""
    import duckdb
    import duckdb_extension_spatial

    folder = os.path.join(os.path.dirname(duckdb_extension_spatial.__file__), "extensions")
    found = sorted(glob.glob(os.path.join(folder, "v*", "spatial.duckdb_extension")))
    if not found:
        raise RuntimeError(f"No spatial.duckdb_extension under {folder}.")
    con = duckdb.connect()
    con.execute(f"LOAD '{found[-1]}'")
    return con


def _source(data: Path, name: str) -> str:
    path = data / f"{name}.parquet"
    return f"'{path}/*.parquet'" if path.is_dir() else f"'{path}'"


def _zone(geom: str) -> str:
    """UTM zone (EPSG code) of a geometry, from a point on it, as catchscope picks it."""
    x, y = f"ST_X(ST_PointOnSurface({geom}))", f"ST_Y(ST_PointOnSurface({geom}))"
    zone = f"LEAST(GREATEST(CAST(floor(({x} + 180) / 6) AS INTEGER) + 1, 1), 60)"
    return f"(CASE WHEN {y} < 0 THEN 32700 ELSE 32600 END + {zone})"


def portfolio_joins(data: Path, *, bands_km: tuple[float, ...] = (1.0, 10.0, 50.0),
                    onsite_m: float = 50.0, tolerance_m: float = 1000.0) -> dict:
    """Run the three joins; timings per stage and the answers, for comparison."""
    con = connect()
    stages = {}
    started = time.perf_counter()
    reach = max(bands_km) * 1000.0

    def stage(name: str, sql: str) -> None:
        t = time.perf_counter()
        con.execute(sql)
        stages[name] = round(time.perf_counter() - t, 2)

    stage("read", f"""
        CREATE TABLE parcels AS SELECT fid, aws_ref, geometry AS geom
            FROM read_parquet({_source(data, 'sites')}) WHERE aws_ref IS NOT NULL;
        CREATE TABLE units AS SELECT fid, name, geometry AS geom
            FROM read_parquet({_source(data, 'units')});
        CREATE TABLE iwras AS SELECT fid, geometry AS geom
            FROM read_parquet({_source(data, 'iwras')});
        CREATE TABLE outfalls AS SELECT fid, geometry AS geom
            FROM read_parquet({_source(data, 'discharge_points')});
        CREATE TABLE rivers AS SELECT fid, geometry AS geom
            FROM read_parquet({_source(data, 'rivers')});
    """)
    # parcels x units: the spatial join on geometry, areas in the parcel's UTM zone
    stage("parcels x units", f"""
        CREATE TABLE parcel_zone AS SELECT *, {_zone('geom')} AS epsg FROM parcels;
        CREATE TABLE parcel_units AS
        SELECT p.aws_ref, u.name AS unit,
               ST_Area(ST_Intersection(
                   ST_Transform(p.geom, 'EPSG:4326', 'EPSG:' || p.epsg, always_xy := true),
                   ST_Transform(u.geom, 'EPSG:4326', 'EPSG:' || p.epsg, always_xy := true)))
                   AS area_m2
        FROM parcel_zone p JOIN units u ON ST_Intersects(p.geom, u.geom);
    """)
    # sites x IWRAs: one geometry per site; IWRAs projected once per zone; the join on
    # boxes widened by the largest band, the exact distance on every pair
    zones = [row[0] for row in con.execute(f"""
        CREATE TABLE sites AS SELECT aws_ref, ST_Collect(list(geom)) AS geom
            FROM parcels GROUP BY aws_ref;
        CREATE TABLE site_zone AS SELECT aws_ref, geom, {_zone('geom')} AS epsg FROM sites;
        SELECT DISTINCT epsg FROM site_zone ORDER BY epsg;
    """).fetchall()]
    t = time.perf_counter()
    parts = []
    bands = "".join(f", count(*) FILTER (WHERE d <= {b * 1000.0}) AS \"iwras_within_{b:g}km\""
                    for b in sorted(bands_km))
    for epsg in zones:
        crs = f"'EPSG:{epsg}'"
        con.execute(f"""
            CREATE OR REPLACE TABLE s AS
            SELECT aws_ref, ST_Transform(geom, 'EPSG:4326', {crs}, always_xy := true) AS g
            FROM site_zone WHERE epsg = {epsg};
            CREATE OR REPLACE TABLE sbox AS
            SELECT aws_ref, g, ST_MakeEnvelope(ST_XMin(g) - {reach}, ST_YMin(g) - {reach},
                                              ST_XMax(g) + {reach}, ST_YMax(g) + {reach}) AS box
            FROM s;
            CREATE OR REPLACE TABLE iw AS
            SELECT fid, ST_Transform(geom, 'EPSG:4326', {crs}, always_xy := true) AS g
            FROM iwras;
        """)
        parts.append(con.execute(f"""
            SELECT aws_ref, count(*) FILTER (WHERE d <= {onsite_m}) AS iwras_onsite{bands}
            FROM (SELECT sbox.aws_ref, ST_Distance(sbox.g, iw.g) AS d
                  FROM sbox JOIN iw ON ST_Intersects(sbox.box, iw.g))
            GROUP BY aws_ref
        """).df())
    stages["sites x IWRAs"] = round(time.perf_counter() - t, 2)
    # outfalls -> nearest river within the tolerance, per zone
    t = time.perf_counter()
    nearest = []
    for epsg in [r[0] for r in con.execute(
            f"SELECT DISTINCT {_zone('geom')} FROM outfalls").fetchall()]:
        crs = f"'EPSG:{epsg}'"
        nearest.append(con.execute(f"""
            WITH o AS (SELECT fid, ST_Transform(geom, 'EPSG:4326', {crs}, always_xy := true) AS g
                       FROM outfalls WHERE {_zone('geom')} = {epsg}),
                 r AS (SELECT fid, ST_Transform(geom, 'EPSG:4326', {crs}, always_xy := true) AS g
                       FROM rivers),
                 ob AS (SELECT fid, g, ST_MakeEnvelope(ST_X(g) - {tolerance_m},
                        ST_Y(g) - {tolerance_m}, ST_X(g) + {tolerance_m},
                        ST_Y(g) + {tolerance_m}) AS box FROM o)
            SELECT ob.fid, arg_min(r.fid, ST_Distance(ob.g, r.g)) AS river,
                   min(ST_Distance(ob.g, r.g)) AS distance_m
            FROM ob JOIN r ON ST_Intersects(ob.box, r.g)
            WHERE ST_Distance(ob.g, r.g) <= {tolerance_m}
            GROUP BY ob.fid
        """).df())
    stages["outfalls -> rivers"] = round(time.perf_counter() - t, 2)
    overlaps = con.execute(
        "SELECT aws_ref, unit FROM parcel_units WHERE area_m2 >= 1").df()
    units = overlaps.groupby("aws_ref")["unit"].agg(lambda s: ", ".join(sorted(set(s))))
    counts = pd.concat(parts, ignore_index=True).set_index("aws_ref")
    return {"seconds": round(time.perf_counter() - started, 2), "stages": stages,
            "iwra_counts": counts, "catchment_unit": units,
            "nearest_river": pd.concat(nearest, ignore_index=True) if nearest else None}
