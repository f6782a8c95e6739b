"""IWRA screening: on-site vs catchment, distances in metres, bands, counts, relations."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import LineString, Point, box

from geo.scope.iwra import band_counts, band_label, count_iwras, iwra_relations, screen_iwras

D = 0.001  # ≈ 95 m of longitude / 111 m of latitude at 31° N


def sites() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"aws_ref": ["AWS-000001", "AWS-000001", "AWS-000002"], "fid": ["a", "b", "c"]},
        geometry=[box(120.0, 31.0, 120.0 + D, 31.0 + D),
                  box(120.0 + 2 * D, 31.0, 120.0 + 3 * D, 31.0 + D),
                  box(121.0, 31.5, 121.0 + D, 31.5 + D)],
        crs="EPSG:4326")


def iwras(rows: list[tuple[str, object]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"fid": [r[0] for r in rows], "name": [f"IWRA {r[0]}" for r in rows],
         "category": "wetland", "layer": "iwras", "accuracy": "official"},
        geometry=[r[1] for r in rows], crs="EPSG:4326")


def test_touching_is_onsite_at_zero_distance() -> None:
    # shares parcel a's north edge exactly
    frame = iwras([("touch", box(120.0, 31.0 + D, 120.0 + D, 31.0 + 2 * D))])
    out = screen_iwras(sites(), frame, onsite_tolerance_m=0.0)
    row = out[out["aws_ref"] == "AWS-000001"].iloc[0]
    assert row["distance_m"] == 0.0 and row["classification"] == "onsite"
    assert row["band_km"] == 1.0


def test_tolerance_makes_a_near_iwra_onsite() -> None:
    # 0.0003° north of parcel a ≈ 33 m
    frame = iwras([("near", box(120.0, 31.0 + D + 0.0003, 120.0 + D, 31.0 + D + 0.001))])
    tight = screen_iwras(sites(), frame, onsite_tolerance_m=10.0)
    loose = screen_iwras(sites(), frame, onsite_tolerance_m=50.0)
    one = "AWS-000001"
    assert tight.loc[tight["aws_ref"] == one, "classification"].item() == "catchment"
    assert loose.loc[loose["aws_ref"] == one, "classification"].item() == "onsite"
    assert loose.loc[loose["aws_ref"] == one, "distance_m"].item() == pytest.approx(33.3, abs=0.5)


def test_distance_is_to_the_nearest_parcel_in_geodesic_metres() -> None:
    # 0.1° east of parcel b's east edge, same latitudes: a geodesic along the parallel
    east = 120.0 + 3 * D
    frame = iwras([("east", box(east + 0.1, 31.0, east + 0.11, 31.0 + D))])
    out = screen_iwras(sites(), frame)
    got = out.loc[out["aws_ref"] == "AWS-000001", "distance_m"].item()
    _, _, expected = Geod(ellps="WGS84").inv(east, 31.0 + D, east + 0.1, 31.0 + D)
    assert got == pytest.approx(expected, rel=1e-3)      # ≈ 9.54 km, not 0.1 "degrees"
    assert got == pytest.approx(9_540, rel=0.01)
    assert out.loc[out["aws_ref"] == "AWS-000001", "band_km"].item() == 10.0


def test_bands_max_distance_and_order() -> None:
    frame = iwras([("far", box(121.5, 31.0, 121.51, 31.01)),       # ≈ 143 km from site 1
                   ("mid", box(120.2, 31.0, 120.21, 31.01)),       # ≈ 19 km
                   ("on", box(120.0, 31.0, 120.0005, 31.0005))])   # inside parcel a
    out = screen_iwras(sites(), frame, bands_km=(1, 10, 50))
    one = out[out["aws_ref"] == "AWS-000001"]
    assert one["fid"].tolist() == ["on", "mid", "far"]
    assert math.isnan(one["band_km"].iloc[2]) and one["band_km"].iloc[1] == 50.0
    capped = screen_iwras(sites(), frame, max_distance_m=50_000)
    assert "far" not in capped.loc[capped["aws_ref"] == "AWS-000001", "fid"].tolist()
    counts = band_counts(out, ["AWS-000001", "AWS-000002", "AWS-000009"], (1, 10, 50))
    assert counts.loc["AWS-000001"].tolist() == [1, 1, 1, 2]
    assert counts.loc["AWS-000009"].tolist() == [0, 0, 0, 0]
    assert band_label(10) == "iwras_within_10km"


def test_counts_match_the_listing_on_random_layouts() -> None:
    rng = np.random.default_rng(5)
    n_sites, n_iwras = 40, 3000
    x, y = rng.uniform(119, 123, n_sites), rng.uniform(30, 32, n_sites)
    parcels = gpd.GeoDataFrame(
        {"aws_ref": [f"AWS-{i:06d}" for i in range(n_sites)]},
        geometry=[box(a, b, a + 0.003, b + 0.002) for a, b in zip(x, y, strict=True)],
        crs="EPSG:4326")
    cx, cy = rng.uniform(118.5, 123.5, n_iwras), rng.uniform(29.5, 32.5, n_iwras)
    frame = iwras([(f"i{k}", Point(a, b).buffer(rng.uniform(0.0005, 0.01)))
                   for k, (a, b) in enumerate(zip(cx, cy, strict=True))])
    refs = parcels["aws_ref"].tolist()
    listed = band_counts(screen_iwras(parcels, frame, onsite_tolerance_m=50.0), refs,
                         (1, 10, 50))
    counted = count_iwras(parcels, frame, onsite_tolerance_m=50.0, site_refs=refs)
    pd.testing.assert_frame_equal(listed, counted)
    assert counted[band_label(50)].sum() > 1000  # the layout really exercises the bands


def test_relations_from_chain_contact_then_units() -> None:
    units = gpd.GeoDataFrame(
        {"fid": ["up", "mid", "down", "side"], "name": ["Up", "Mid", "Down", "Side"]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1), box(1, 1, 2, 2)],
        crs="EPSG:4326")
    frame = iwras([("in_up", box(0.2, 0.2, 0.3, 0.3)), ("in_down", box(2.2, 0.2, 2.3, 0.3)),
                   ("in_mid", box(1.2, 0.2, 1.3, 0.3)), ("in_side", box(1.2, 1.2, 1.3, 1.3)),
                   ("on_lake", box(1.6, 0.6, 1.7, 0.7))])
    lake = gpd.GeoDataFrame({"fid": ["lake"], "name": ["Site Lake"]},
                            geometry=[box(1.65, 0.65, 1.8, 0.8)], crs="EPSG:4326")
    intake = gpd.GeoDataFrame({"fid": ["intake"], "name": ["Intake"]},
                              geometry=[LineString([(0.5, 0.5), (0.6, 0.6)])], crs="EPSG:4326")
    out = iwra_relations(frame, units, relied_on=["up", "mid"], affected=["mid", "down"],
                         supply_features=intake, discharge_features=lake)
    assert out.loc["in_up", "relation"] == "upstream of water source"
    assert out.loc["in_down", "relation"] == "downstream of discharge"
    assert out.loc["in_mid", "relation"] == "both"              # the shared unit
    assert out.loc["in_side", "relation"] == "neither"
    assert out.loc["on_lake", "relation"] == "downstream of discharge"  # chain decides
    assert "Site Lake" in out.loc["on_lake", "relation_via"]
    assert out.loc["in_mid", "relation_via"] == "in Mid (relied on and affected)"
    assert out.loc["in_up", "relation_via"] == "in Up (relied on)"
