"""``catchscope check``: clean workspaces pass, each kind of breakage is named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from shapely.geometry import Polygon
from typer.testing import CliRunner

from geo.cli.main import app
from geo.core.catalogue import Datum
from geo.core.check import check_workspace
from geo.core.crs import convert_datum
from geo.core.errors import WorkspaceError
from geo.core.records import SiteRecord

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
    assert (problem.path, problem.feature, problem.field) == ("layers/outfalls.toml", "", "kind")
    assert "'outfall' is not allowed" in problem.message
    assert "'discharge_point'" in problem.message
    assert problem.line().startswith("layers/outfalls.toml::kind: error: 'outfall' is not")


def test_missing_data_file(clean: Path) -> None:
    (clean / "data" / "outfalls.geojson").unlink()
    report = check_workspace(clean)
    assert [(p.path, p.field) for p in report.errors] == [("layers/outfalls.toml", "source")]
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
    assert (problem.path, problem.feature, problem.field) == ("data/sites.geojson", "p2",
                                                             "geometry")
    assert "invalid geometry: Self-intersection" in problem.message


def test_link_to_unknown_site(make_workspace, three_parcels) -> None:
    frame = three_parcels.copy()
    frame.loc[2, "aws_ref"] = "AWS-999999"
    root = make_workspace(layers={"sites": ("site", frame, {})}, records=[RECORD])
    report = check_workspace(root)
    (problem,) = report.errors
    assert problem.line().startswith("data/sites.geojson:p3:aws_ref: error: aws_ref 'AWS-999")
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
    assert (warning.path, warning.field) == ("layers/outfalls.toml", "datum")
    assert warning.message.startswith("declared wgs84: ")
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
    assert "feature id 'p1' of layer outfalls is also used in layer sites" in text
    assert "feature id 'p1' of layer sites is also used in layer outfalls" in text


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
    from geo.core.catalogue import load_layer_spec

    runner.invoke(app, ["init", str(tmp_path / "w")])
    example = tmp_path / "w" / "layers" / "_example.toml"
    copy = example.with_name("discharge_points.toml")
    copy.write_text(example.read_text())
    assert load_layer_spec(copy).kind.value == "discharge_point"


def test_console_script_runs_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "geo.cli.main", "check", "-w", str(tmp_path / "missing")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "does not exist" in result.stderr


def test_demo_workspace_checks_clean(repo_root: Path) -> None:
    report = check_workspace(repo_root)
    assert report.ok, _messages(report)
    assert report.warnings == [], _messages(report)
    assert report.sites_checked == 2 and report.layers_checked >= 10


def _broken_demo(repo_root: Path, tmp_path: Path) -> Path:
    """A copy of the demo workspace with a broken ``layers/sites.toml``."""
    import shutil

    root = tmp_path / "broken"
    for name in ("layers", "data"):
        shutil.copytree(repo_root / name, root / name,
                        ignore=shutil.ignore_patterns("workspace.gpkg*", "build"))
    shutil.copy(repo_root / "catchscope.toml", root / "catchscope.toml")
    toml = root / "layers" / "sites.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('kind = "site"', 'kind = "sitez"'),
                    encoding="utf-8")
    return root


def test_piped_check_prints_one_greppable_line_per_problem(repo_root: Path,
                                                           tmp_path: Path) -> None:
    """``catchscope check -w BROKEN | grep sites.toml`` finds the broken layer file."""
    root = _broken_demo(repo_root, tmp_path)
    result = subprocess.run(
        f"{sys.executable} -m geo.cli.main check -w {root} | grep sites.toml",
        shell=True, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    line, *consequences = result.stdout.splitlines()  # errors come first
    assert line.startswith("layers/sites.toml::kind: error: 'sitez' is not allowed; allowed ")
    assert all(": warning: " in other for other in consequences)
    # Links into the unread layer are named as a consequence, not as errors of their own.
    full = subprocess.run([sys.executable, "-m", "geo.cli.main", "check", "-w", str(root)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert full.returncode == 1
    lines = full.stdout.splitlines()
    assert all(len(line.split(": ", 2)) == 3 and line.count(":") >= 4 for line in lines)
    assert [line for line in lines if ": error: " in line] == [line]
    assert any(": warning: " in x and "could not be read (fix that first)" in x for x in lines)
    assert "FAILED: 1 error(s)" in full.stderr and "Checked workspace" in full.stderr


def test_check_json_is_the_whole_report(repo_root: Path, tmp_path: Path) -> None:
    import json

    root = _broken_demo(repo_root, tmp_path)
    result = runner.invoke(app, ["check", "-w", str(root), "--format", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["errors"] == 1
    assert report["problems"][0] == {
        "path": "layers/sites.toml", "feature": "", "field": "kind", "level": "error",
        "message": report["problems"][0]["message"]}
    assert set(report) >= {"workspace", "layers_checked", "features_checked", "warnings"}


def test_check_table_keeps_file_names_whole_at_80_columns(repo_root: Path,
                                                          tmp_path: Path) -> None:
    from rich.console import Console

    from geo.core.check import render_report

    root = _broken_demo(repo_root, tmp_path)
    console = Console(width=80, record=True, force_terminal=False)
    render_report(check_workspace(root), console)
    text = console.export_text()
    lines = [line.strip() for line in text.splitlines()]
    assert "layers/sites.toml" in lines  # each file heads its own table, whole
    assert "data/demo/pipes.geojson" in lines
    assert "FAILED: 1 error(s)" in text


def test_markup_in_a_problem_is_printed_as_text(clean: Path) -> None:
    from rich.console import Console

    from geo.core.check import render_report

    toml = clean / "layers" / "outfalls.toml"
    toml.write_text(toml.read_text().replace('"discharge_point"', '"[bold red]x[/]"'))
    console = Console(width=120, record=True)
    render_report(check_workspace(clean), console)
    assert "'[bold red]x[/]' is not allowed" in console.export_text()


@pytest.mark.parametrize("command", [
    "check", "init", "layers", "sites", "import-report", "delineate", "zonal", "import",
    "history", "undo", "scope", "export"])
def test_every_command_documents_its_exit_codes(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Exit status: 0 ok, 1 problems found" in " ".join(result.output.split())


def test_usage_errors_exit_2(clean: Path) -> None:
    result = runner.invoke(app, ["check", "-w", str(clean), "--format", "bogus"])
    assert result.exit_code == 2
    assert runner.invoke(app, ["no-such-command"]).exit_code == 2
