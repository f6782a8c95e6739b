"""``catchscope check``: clean workspaces pass, each kind of breakage is named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from shapely.geometry import Polygon
from typer.testing import CliRunner

from geo.catalogue import Datum
from geo.check import check_workspace
from geo.cli import app
from geo.crs import convert_datum
from geo.errors import WorkspaceError
from geo.records import SiteRecord

RECORD = SiteRecord(aws_ref="AWS-000001", site_name="Test site")
runner = CliRunner()


@pytest.fixture
def clean(make_workspace, three_parcels, outfalls) -> Path:
    return make_workspace(
        layers={
            "sites": ("site", three_parcels, {"evidences": ["site_boundaries"]}),
            "outfalls": ("discharge_point", outfalls, {"evidences": ["discharge"]}),
        },
        records=[RECORD],
    )


def _messages(report) -> str:
    return "\n".join(f"{p.level} | {p.where} | {p.message}" for p in report.problems)


def test_clean_workspace_passes(clean: Path) -> None:
    report = check_workspace(clean)
    assert report.ok, _messages(report)
    assert report.problems == []
    assert (report.layers_checked, report.features_checked, report.sites_checked) == (2, 5, 1)


def test_wrong_kind_names_file_field_and_allowed(clean: Path) -> None:
    toml = clean / "layers" / "outfalls.toml"
    toml.write_text(toml.read_text().replace('"discharge_point"', '"outfall"'))
    report = check_workspace(clean)
    assert not report.ok
    (problem,) = report.errors
    assert problem.where == "layers/outfalls.toml"
    assert "kind: 'outfall' is not allowed" in problem.message
    assert "'discharge_point'" in problem.message


def test_missing_data_file(clean: Path) -> None:
    (clean / "data" / "outfalls.geojson").unlink()
    report = check_workspace(clean)
    assert [p.where for p in report.errors] == ["layer outfalls (outfalls.geojson)"]
    assert "data/outfalls.geojson does not exist" in report.errors[0].message


def test_layer_without_crs(make_workspace, three_parcels) -> None:
    root = make_workspace(layers={"sites": ("site", three_parcels, {})}, records=[RECORD])
    # rewrite the file as GeoJSON with a projected-looking CRS removed: a CSV has no CRS
    frame = three_parcels.copy()
    frame["wkt"] = frame.geometry.to_wkt()
    (root / "data" / "sites.csv").write_text(frame.drop(columns="geometry").to_csv(index=False))
    toml = root / "layers" / "sites.toml"
    toml.write_text(toml.read_text().replace("sites.geojson", "sites.csv"))
    report = check_workspace(root)
    assert not report.ok
    assert "no CRS and the layer file declares none" in report.errors[0].message
    toml.write_text(toml.read_text() + 'crs = "EPSG:4326"\n')
    assert check_workspace(root).ok


def test_invalid_polygon_names_layer_feature_and_reason(make_workspace, three_parcels) -> None:
    bowtie = Polygon([(120.95, 31.18), (120.951, 31.181), (120.951, 31.18), (120.95, 31.181)])
    frame = three_parcels.copy()
    frame.loc[1, "geometry"] = bowtie
    root = make_workspace(layers={"sites": ("site", frame, {})}, records=[RECORD])
    report = check_workspace(root)
    (problem,) = report.errors
    assert problem.where == "layer sites, feature p2"
    assert "invalid geometry: Self-intersection" in problem.message


def test_link_to_unknown_site(make_workspace, three_parcels) -> None:
    frame = three_parcels.copy()
    frame.loc[2, "aws_ref"] = "AWS-999999"
    root = make_workspace(layers={"sites": ("site", frame, {})}, records=[RECORD])
    report = check_workspace(root)
    (problem,) = report.errors
    assert problem.where == "layer sites, feature p3"
    assert "aws_ref 'AWS-999999' matches no site record (known: AWS-000001)" in problem.message


def test_gcj02_points_declared_wgs84_are_flagged(make_workspace, three_parcels, outfalls) -> None:
    shifted = convert_datum(outfalls, Datum.WGS84, Datum.GCJ02)
    root = make_workspace(
        layers={"sites": ("site", three_parcels, {}),
                "outfalls": ("discharge_point", shifted, {"datum": "wgs84"})},
        records=[RECORD],
    )
    report = check_workspace(root)
    assert report.ok  # a warning, not an error
    (warning,) = report.warnings
    assert warning.where == "layer outfalls (declared wgs84)"
    assert "GCJ-02-offset" in warning.message and 'datum = "gcj02"' in warning.message


def test_declaring_the_datum_fixes_the_offset(make_workspace, three_parcels, outfalls) -> None:
    shifted = convert_datum(outfalls, Datum.WGS84, Datum.GCJ02)
    root = make_workspace(
        layers={"sites": ("site", three_parcels, {}),
                "outfalls": ("discharge_point", shifted, {"datum": "gcj02"})},
        records=[RECORD],
    )
    report = check_workspace(root)
    assert report.problems == [], _messages(report)


def test_swapped_lat_lon_is_an_error(make_workspace, outfalls) -> None:
    swapped = outfalls.copy()
    swapped.geometry = swapped.geometry.map(lambda p: type(p)(p.y, p.x))
    swapped = swapped.set_crs("EPSG:4326", allow_override=True)
    root = make_workspace(layers={"outfalls": ("discharge_point", swapped, {})}, records=[RECORD])
    report = check_workspace(root)
    assert any("lat/lon given in the wrong order" in p.message for p in report.errors)


def test_broken_flow_link_and_duplicate_ids(make_workspace, three_parcels, outfalls) -> None:
    points = outfalls.copy()
    points["flows_to"] = ["lake-nowhere", None]
    points.loc[1, "fid"] = "p1"  # same id as a parcel
    root = make_workspace(
        layers={"sites": ("site", three_parcels, {}),
                "outfalls": ("discharge_point", points, {})},
        records=[RECORD],
    )
    text = _messages(check_workspace(root))
    assert "flows_to = 'lake-nowhere' names no feature" in text
    assert "feature id 'p1' is used in several layers" in text


def test_missing_provenance_warns(make_workspace, three_parcels) -> None:
    frame = three_parcels.drop(columns=["accuracy", "source"])
    root = make_workspace(layers={"sites": ("site", frame, {})}, records=[RECORD])
    report = check_workspace(root)
    assert report.ok
    text = _messages(report)
    assert "3 feature(s) without an accuracy class" in text
    assert "3 feature(s) without a source" in text


def test_not_a_workspace(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match=r"no layers/ folder.*catchscope init"):
        check_workspace(tmp_path)


def test_cli_exit_codes_and_messages(clean: Path, tmp_path: Path) -> None:
    ok = runner.invoke(app, ["check", "--workspace", str(clean)])
    assert ok.exit_code == 0, ok.output
    assert "OK with 0 warning(s)" in ok.output
    (clean / "data" / "sites.geojson").unlink()
    bad = runner.invoke(app, ["check", "-w", str(clean)])
    assert bad.exit_code == 1
    assert "FAILED: 1 error(s)" in bad.output
    missing = runner.invoke(app, ["check", "-w", str(tmp_path / "nope")])
    assert missing.exit_code == 1
    assert "does not exist" in missing.output and "Traceback" not in missing.output


def test_init_creates_a_workspace_that_checks_clean(tmp_path: Path) -> None:
    target = tmp_path / "new"
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert (target / "layers" / "_example.toml").read_text().startswith("# An example layer")
    report = check_workspace(target)
    assert report.ok and [p.message for p in report.warnings] == [
        "the catalogue has no layers yet; add layers/<id>.toml files"
    ]
    again = runner.invoke(app, ["init", str(target)])
    assert again.exit_code == 1 and "not empty" in again.output


def test_example_layer_file_is_a_valid_spec(tmp_path: Path) -> None:
    from geo.catalogue import load_layer_spec

    runner.invoke(app, ["init", str(tmp_path / "w")])
    example = tmp_path / "w" / "layers" / "_example.toml"
    copy = example.with_name("discharge_points.toml")
    copy.write_text(example.read_text())
    assert load_layer_spec(copy).kind.value == "discharge_point"


def test_console_script_runs_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "geo.cli", "check", "-w", str(tmp_path / "missing")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "does not exist" in result.stderr


def test_demo_workspace_checks_clean(repo_root: Path) -> None:
    report = check_workspace(repo_root)
    assert report.ok, _messages(report)
    assert report.warnings == [], _messages(report)
    assert report.sites_checked == 2 and report.layers_checked >= 10
