"""GeoParquet layers: Hilbert-sorted with bbox columns, read whole, by bbox, near geometries."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from geo.core.errors import DataReadError, DataWriteError
from geo.core.geoparquet import (
    open_parquet_layer,
    read_geoparquet,
    read_geoparquet_columns,
    read_geoparquet_near,
    write_geoparquet,
)
from geo.core.io import read_layer, write_layer


@pytest.fixture(scope="module")
def cells() -> gpd.GeoDataFrame:
    rng = np.random.default_rng(11)
    x, y = rng.uniform(0, 10, 6000), rng.uniform(40, 50, 6000)
    return gpd.GeoDataFrame({"fid": [f"c{i}" for i in range(6000)], "v": np.arange(6000)},
                            geometry=shapely.box(x, y, x + 0.02, y + 0.02), crs="EPSG:4326")


@pytest.fixture(scope="module")
def stored(cells: gpd.GeoDataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gpq") / "cells.parquet"
    return write_geoparquet(cells, path, row_group_size=250)


def test_written_hilbert_sorted_with_bbox_columns_and_row_group_extents(
        stored: Path, cells: gpd.GeoDataFrame) -> None:
    layer = open_parquet_layer(stored)
    assert layer.num_rows == 6000 and layer.crs.to_epsg() == 4326
    assert layer.covering == ("bbox", "xmin", "ymin", "xmax", "ymax")
    assert layer.columns == ("fid", "v")
    extents = layer.extents()
    assert extents.shape == (24, 4) and not np.isnan(extents).any()
    # Hilbert order: a row group covers a compact area, not the whole map
    areas = (extents[:, 2] - extents[:, 0]) * (extents[:, 3] - extents[:, 1])
    assert np.median(areas) < 100 / 6
    whole = read_geoparquet(stored)
    assert sorted(whole["fid"]) == sorted(cells["fid"])
    assert set(whole.geometry.to_wkb()) == set(cells.geometry.to_wkb())


def test_near_reads_a_superset_skips_row_groups_and_gives_positions(
        stored: Path, cells: gpd.GeoDataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = read_geoparquet(stored)
    rng = np.random.default_rng(3)
    queries = np.concatenate([
        shapely.points(rng.uniform(2, 3, 40), rng.uniform(44, 45, 40)),
        [shapely.LineString([(0, 40), (10, 50)])]])       # long: marked piece by piece
    read_groups: list[int] = []
    original = pq.ParquetFile.read_row_group

    def counting(self: pq.ParquetFile, i: int, *args: object, **kwargs: object) -> pa.Table:
        read_groups.append(i)
        return original(self, i, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", counting)
    near, rows = read_geoparquet_near(stored, queries, distance=0.01)
    tree = shapely.STRtree(queries)
    hit = np.unique(tree.query(np.asarray(whole.geometry.values), predicate="dwithin",
                               distance=0.01)[0])
    assert set(whole["fid"].to_numpy()[hit]) <= set(near["fid"])
    assert len(near) < 0.5 * len(whole)
    assert (whole["fid"].to_numpy()[rows] == near["fid"].to_numpy()).all()
    assert len(set(read_groups)) < 24                      # row groups far away: unread
    columns = read_geoparquet_columns(stored, ["fid"])
    assert columns.num_rows == 6000 and columns.column("fid")[int(rows[0])].as_py() == \
        near["fid"].iloc[0]


def test_bbox_read_and_folder_of_parts_read_alike(stored: Path, cells: gpd.GeoDataFrame,
                                                  tmp_path: Path) -> None:
    folder = write_geoparquet(cells, tmp_path / "cells.parquet", partitions=4,
                              row_group_size=250)
    assert sorted(p.name for p in folder.iterdir()) == [f"part-0000{k}.parquet"
                                                        for k in range(4)]
    one = read_geoparquet(stored, bbox=(2, 42, 4, 44)).sort_values("fid")
    parts = read_geoparquet(folder, bbox=(2, 42, 4, 44)).sort_values("fid")
    assert one["fid"].tolist() == parts["fid"].tolist() and len(one) > 100
    inside = cells.cx[2:4, 42:44]
    assert set(inside["fid"]) <= set(one["fid"])
    assert read_geoparquet(folder)["fid"].tolist() == read_geoparquet(stored)["fid"].tolist()


def test_read_layer_and_write_layer_speak_parquet(cells: gpd.GeoDataFrame, tmp_path: Path) -> None:
    target = tmp_path / "m.parquet"
    write_layer(cells.to_crs("EPSG:3857").iloc[:50], target)
    back = read_layer(target)
    assert back.crs.to_epsg() == 3857 and len(back) == 50
    with pytest.raises(DataWriteError, match="already exists"):
        write_layer(cells.iloc[:5], target)
    write_layer(cells.iloc[:5], target, overwrite=True)
    assert len(read_layer(target, columns=["fid"])) == 5


def test_files_that_are_not_geoparquet_are_refused(tmp_path: Path, stored: Path) -> None:
    plain = tmp_path / "plain.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(plain)
    with pytest.raises(DataReadError, match="without GeoParquet metadata"):
        read_layer(plain)
    with pytest.raises(DataReadError, match="does not exist"):
        read_layer(tmp_path / "missing.parquet")
    with pytest.raises(DataReadError, match=r"no column\(s\) nope"):
        read_geoparquet(stored, columns=["nope"])
    with pytest.raises(DataWriteError, match=r"ends in \.parquet"):
        write_geoparquet(gpd.GeoDataFrame(geometry=[], crs="EPSG:4326"), tmp_path / "x.gpkg")
