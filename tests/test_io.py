"""read_layer / write_layer over formats; atomic writes never leave partial files."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest

from geo.core.errors import DataReadError, DataWriteError
from geo.core.io import atomic_path, atomic_write_bytes, list_file_layers, read_layer, write_layer


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".shp", ".fgb"])
def test_round_trip_per_format(tmp_path: Path, three_parcels: gpd.GeoDataFrame,
                               suffix: str) -> None:
    target = write_layer(three_parcels, tmp_path / f"parcels{suffix}")
    back = read_layer(target).sort_values("fid", ignore_index=True)  # FlatGeobuf reorders
    assert back.crs.to_epsg() == 4326
    assert list(back["fid"]) == ["p1", "p2", "p3"]
    # shapefiles store rings clockwise: compare normalised shapes
    assert back.geometry.normalize().geom_equals_exact(
        three_parcels.geometry.normalize(), tolerance=1e-9
    ).all()


def test_write_refuses_overwrite_unless_asked(tmp_path: Path, three_parcels) -> None:
    target = write_layer(three_parcels, tmp_path / "p.geojson")
    before = target.read_bytes()
    with pytest.raises(DataWriteError, match=r"already exists; pass --overwrite"):
        write_layer(three_parcels.iloc[:1], target)
    assert target.read_bytes() == before
    write_layer(three_parcels.iloc[:1], target, overwrite=True)
    assert len(read_layer(target)) == 1


def test_failed_write_leaves_old_file_and_no_temp(tmp_path: Path, three_parcels) -> None:
    target = write_layer(three_parcels, tmp_path / "p.geojson")
    before = target.read_bytes()
    with pytest.raises(RuntimeError), atomic_path(target, overwrite=True) as tmp:
        tmp.write_text("half a file")
        raise RuntimeError("disk full")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.geojson"]


def test_gdal_failure_is_a_write_error(tmp_path: Path, three_parcels) -> None:
    with pytest.raises(DataWriteError, match="Cannot tell the format"):
        write_layer(three_parcels, tmp_path / "p.unknown")
    assert list(tmp_path.iterdir()) == []


def test_append_layer_to_geopackage_atomically(tmp_path: Path, three_parcels, outfalls) -> None:
    target = write_layer(three_parcels, tmp_path / "ws.gpkg", layer="parcels")
    write_layer(outfalls, target, layer="outfalls", append_to_existing=True)
    assert sorted(list_file_layers(target)) == ["outfalls", "parcels"]
    assert len(read_layer(target, layer="outfalls")) == 2


def test_missing_layer_lists_available(tmp_path: Path, three_parcels) -> None:
    target = write_layer(three_parcels, tmp_path / "ws.gpkg", layer="parcels")
    with pytest.raises(DataReadError, match=r"has no layer 'pipes'; it has: parcels"):
        read_layer(target, layer="pipes")


@pytest.mark.parametrize("text", ["/vsicurl/http://example.com/x.geojson", "http://example.com/x"])
def test_urls_and_vsi_paths_refused(text: str) -> None:
    with pytest.raises(DataReadError, match="not a plain file path"):
        read_layer(Path(text))


def test_malformed_file_is_a_read_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [')
    with pytest.raises(DataReadError, match=r"bad\.geojson"):
        read_layer(bad)


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_layer_is_named_after_the_file_not_the_temp_file(tmp_path: Path, three_parcels,
                                                          suffix: str) -> None:
    target = write_layer(three_parcels, tmp_path / f"site_parcels{suffix}")
    assert list_file_layers(target) == ["site_parcels"]


def test_atomic_write_bytes(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "x.json"
    atomic_write_bytes(target, b"{}")
    assert target.read_bytes() == b"{}"
    with pytest.raises(DataWriteError):
        atomic_write_bytes(target, b"[]")
    assert target.read_bytes() == b"{}"
