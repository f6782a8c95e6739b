"""Opening workspaces: layout, settings, standard columns, caching, records."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from geo.core.errors import CatalogueError, RecordError, SiteNotFoundError, WorkspaceError
from geo.core.records import SiteRecord, load_records, save_record
from geo.core.workspace import STANDARD_COLUMNS, open_workspace

RECORD = SiteRecord(aws_ref="AWS-000001", site_name="Test site", area_m2=30000)


def test_standard_columns_and_canonical_crs(make_workspace, three_parcels) -> None:
    utm = three_parcels.to_crs("EPSG:32651")
    root = make_workspace(layers={"sites": ("site", utm, {})}, records=[RECORD])
    frame = open_workspace(root).load("sites")
    assert frame.crs.to_epsg() == 4326
    assert set(STANDARD_COLUMNS) <= set(frame.columns)
    assert list(frame["layer"].unique()) == ["sites"]
    assert list(frame["aws_ref"].unique()) == ["AWS-000001"]
    assert list(frame["datum"].unique()) == ["wgs84"]
    assert frame.geometry.iloc[0].bounds[0] == pytest.approx(120.95, abs=1e-7)


def test_gcj02_layer_is_converted_on_load(make_workspace, three_parcels) -> None:
    from geo.core.catalogue import Datum
    from geo.core.crs import convert_datum

    shifted = convert_datum(three_parcels, Datum.WGS84, Datum.GCJ02)
    root = make_workspace(layers={"sites": ("site", shifted, {"datum": "gcj02"})})
    frame = open_workspace(root).load("sites")
    assert frame.geometry.iloc[0].equals_exact(three_parcels.geometry.iloc[0], tolerance=1e-7)
    assert list(frame["datum"].unique()) == ["gcj02"]  # the ORIGINAL datum is recorded


def test_cache_follows_file_changes(make_workspace, three_parcels) -> None:
    root = make_workspace(layers={"sites": ("site", three_parcels, {})})
    ws = open_workspace(root)
    assert len(ws.load("sites")) == 3
    path = root / "data" / "sites.geojson"
    three_parcels.iloc[:1].to_file(path, engine="pyogrio")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    assert len(ws.load("sites")) == 1


def test_loaded_frames_are_copies(make_workspace, three_parcels) -> None:
    ws = open_workspace(make_workspace(layers={"sites": ("site", three_parcels, {})}))
    frame = ws.load("sites")
    frame.loc[0, "name"] = "changed"
    assert ws.load("sites").loc[0, "name"] == "Block A"


def test_bad_id_field_names_columns(make_workspace, three_parcels) -> None:
    root = make_workspace(layers={"sites": ("site", three_parcels, {"id_field": "parcel_no"})})
    with pytest.raises(CatalogueError, match=r"id_field 'parcel_no' is not a column.*fid, name"):
        open_workspace(root).load("sites")


def test_catchment_units_need_next_down(make_workspace, three_parcels) -> None:
    root = make_workspace(layers={"units": ("catchment_unit", three_parcels, {})})
    with pytest.raises(CatalogueError, match=r"catchment units need a 'next_down' column"):
        open_workspace(root).load("units")


def test_invalid_settings_named(make_workspace) -> None:
    root = make_workspace(settings="[scope]\nonsite_tolerance_m = -5\n")
    with pytest.raises(WorkspaceError, match=r"catchscope\.toml: scope\.onsite_tolerance_m"):
        open_workspace(root)


def test_records_round_trip_and_lookup(make_workspace) -> None:
    root = make_workspace(records=[RECORD])
    ws = open_workspace(root)
    assert ws.record("AWS-000001").area_m2 == 30000
    with pytest.raises(SiteNotFoundError, match=r"No site 'AWS-000002'.*Sites: AWS-000001"):
        ws.record("AWS-000002")


def test_bad_record_names_file_and_field(make_workspace) -> None:
    root = make_workspace()
    (root / "data" / "sites" / "AWS-000003.json").write_text('{"aws_ref": "AWS-000003"}')
    with pytest.raises(RecordError, match=r"AWS-000003\.json: site_name: Field required"):
        load_records(root / "data")


def test_save_record_is_atomic_and_readable(tmp_path: Path) -> None:
    path = save_record(tmp_path, RECORD)
    assert path == tmp_path / "sites" / "AWS-000001.json"
    assert load_records(tmp_path)["AWS-000001"] == RECORD
    assert [p.name for p in path.parent.iterdir()] == ["AWS-000001.json"]


def test_missing_workspace_message(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match=r"does not exist.*catchscope init"):
        open_workspace(tmp_path / "nothing")


def test_layer_accuracy_fills_features_without_their_own(make_workspace, three_parcels) -> None:
    frame = three_parcels.drop(columns="accuracy")
    frame["accuracy"] = [None, "surveyed", None]
    root = make_workspace(layers={"sites": ("site", frame, {"accuracy": "illustrative"})})
    loaded = open_workspace(root).load("sites")
    assert list(loaded["accuracy"]) == ["illustrative", "surveyed", "illustrative"]


def test_sink_and_unlinked_features_come_back_as_none(make_workspace, three_parcels) -> None:
    units = three_parcels.drop(columns="aws_ref")
    units["level"] = "section"
    units["next_down"] = ["p2", "p3", None]
    parcels = three_parcels.copy()
    parcels.loc[2, "aws_ref"] = None
    ws = open_workspace(make_workspace(layers={"units": ("catchment_unit", units, {}),
                                               "sites": ("site", parcels, {})}))
    assert list(ws.load("units")["next_down"]) == ["p2", "p3", None]
    assert ws.load("sites")["aws_ref"].iloc[2] is None
