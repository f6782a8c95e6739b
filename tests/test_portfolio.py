"""The portfolio (``catchscope scope --all``): one row per site, honest about broken sites."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

from geo.core.errors import FlowNetworkError
from geo.scope.assess import assess_all, assess_site
from tests.test_scope import RECORD, RECORD2, REF, REF2, build_workspace, frame, layers, run_cli


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workspace(tmp_path_factory.mktemp("portfolio") / "ws", layers(),
                           [RECORD, RECORD2])


def test_portfolio_one_row_per_site(workspace: Path) -> None:
    seen: list[tuple[int, int]] = []
    table = assess_all(workspace, progress=lambda done, total, _msg: seen.append((done, total)))
    assert table["aws_ref"].tolist() == [REF, REF2]
    rows = table.set_index("aws_ref")
    assert rows.loc[REF, "single_catchment"] == "yes"
    assert rows.loc[REF2, "single_catchment"] == "no"
    assert rows.loc[REF, "catchment_unit"] == "Unit u_c"
    assert rows.loc[REF, "iwras_onsite"] == 1
    assert rows.loc[REF, "iwras_within_1km"] == 2
    assert rows.loc[REF, "iwras_within_50km"] == 3
    assert rows.loc[REF, "checklist"] == assess_site(workspace, REF).score
    assert seen and seen[-1][0] == seen[-1][1] and seen[0][0] == 0



def test_cli_portfolio_csv(workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "portfolio.csv"
    result = run_cli("scope", "--all", "--csv", str(out), "-w", str(workspace))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert table["aws_ref"].tolist() == [REF, REF2]
    assert table["single_catchment"].tolist() == ["yes", "no"]



def _with_broken_site(root: Path) -> Path:
    """The test layers plus a third site whose outfall leads into a lake ↔ river cycle."""
    ws_layers = layers()
    kind, sites, extra = ws_layers["sites"]
    sites = pd.concat([sites, frame([{"fid": "r1", "name": "Broken block", "aws_ref": "AWS-000003",
                                      "geometry": box(120.70, 31.40, 120.702, 31.402)}])],
                      ignore_index=True)
    ws_layers["sites"] = (kind, gpd.GeoDataFrame(sites, crs="EPSG:4326"), extra)
    dps = ws_layers["discharge_points"][1]
    ws_layers["discharge_points"] = ("discharge_point", gpd.GeoDataFrame(pd.concat([dps, frame([
        {"fid": "dp_loop", "name": "Loop outfall", "aws_ref": "AWS-000003",
         "flows_to": "lake_loop", "geometry": Point(120.703, 31.401)}])], ignore_index=True),
        crs="EPSG:4326"), {})
    lakes = ws_layers["lakes"][1]
    ws_layers["lakes"] = ("lake", gpd.GeoDataFrame(pd.concat([lakes, frame([
        {"fid": "lake_loop", "name": "Loop Lake", "flows_to": "river_loop",
         "geometry": box(120.704, 31.40, 120.71, 31.405)}])], ignore_index=True),
        crs="EPSG:4326"), {})
    rivers = ws_layers["rivers"][1]
    ws_layers["rivers"] = ("river", gpd.GeoDataFrame(pd.concat([rivers, frame([
        {"fid": "river_loop", "name": "Loop River", "flows_to": "lake_loop",
         "geometry": LineString([(120.71, 31.402), (120.75, 31.402)])}])], ignore_index=True),
        crs="EPSG:4326"), {})
    return build_workspace(root, ws_layers, [RECORD, RECORD2])


def test_portfolio_reports_a_broken_site_and_assesses_the_others(tmp_path: Path) -> None:
    root = _with_broken_site(tmp_path / "ws")
    with pytest.raises(FlowNetworkError, match=r"water chain of AWS-000003 goes round in a "
                       r"cycle: Loop Lake \(lake_loop, layer lakes\) —flows_to→ Loop River"):
        assess_site(root, "AWS-000003")
    table = assess_all(root).set_index("aws_ref")
    assert table.loc["AWS-000003", "checklist"] == "not assessed"
    assert "could not be assessed" in table.loc["AWS-000003", "problem"]
    assert "fix the flows_to" in table.loc["AWS-000003", "problem"]
    assert pd.isna(table.loc["AWS-000003", "present"])             # empty, not a zero
    assert table.loc["AWS-000003", "single_catchment"] == "yes"     # what could be judged is
    assert table.loc[REF, "checklist"] == assess_site(root, REF).score
    assert table.loc[REF, "problem"] == ""
    # the command prints the table and writes the CSV, then exits 1 naming the site
    out = tmp_path / "portfolio.csv"
    result = run_cli("scope", "--all", "--csv", str(out), "-w", str(root))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "1 of 3 site(s) could not be assessed: AWS-000003" in result.output
    assert "Portfolio: 3 site(s)" in result.output
    assert "AWS-000003: could not be assessed: The water chain of AWS-000003" in " ".join(
        result.output.split())
    written = pd.read_csv(out).set_index("aws_ref")
    assert written.loc["AWS-000003", "checklist"] == "not assessed"
    assert written.loc[REF, "present"] == 3


def test_existing_csv_is_refused_before_the_work(workspace: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import geo.cli.scope_cmd

    out = tmp_path / "p.csv"
    out.write_text("keep me", encoding="utf-8")
    seen: list[int] = []
    original = geo.cli.scope_cmd.assess_all

    def spy(*args: Any, **kwargs: Any) -> pd.DataFrame:
        seen.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(geo.cli.scope_cmd, "assess_all", spy)
    result = run_cli("scope", "--all", "--csv", str(out), "-w", str(workspace))
    assert result.exit_code == 1 and "already exists" in result.output
    assert out.read_text(encoding="utf-8") == "keep me" and not seen
    # with --overwrite the same spy sees the work done
    assert run_cli("scope", "--all", "--csv", str(out), "--overwrite",
                   "-w", str(workspace)).exit_code == 0
    assert seen and out.read_text(encoding="utf-8").startswith("aws_ref,")


def test_empty_workspace_portfolio_says_so(tmp_path: Path) -> None:
    root = build_workspace(tmp_path / "ws", {}, [])
    assert assess_all(root).empty
    result = run_cli("scope", "--all", "-w", str(root))
    assert result.exit_code == 0 and "No sites in this workspace yet" in result.output
    result = run_cli("scope", REF, "-w", str(root))
    assert result.exit_code == 1 and "this workspace has no sites yet" in result.output


def test_long_portfolio_draws_the_first_rows_and_lists_every_failure(workspace: Path) -> None:
    from rich.console import Console

    from geo.scope.report import render_portfolio

    table = assess_all(workspace)
    many = pd.concat([table] * 3, ignore_index=True)
    many.loc[5, ["checklist", "problem"]] = ["not assessed", "could not be assessed: loop"]
    many.loc[5, ["present", "partial", "missing", "not_applicable", "chain_gaps"]] = pd.NA
    console = Console(record=True, width=100)
    render_portfolio(many, console, max_rows=2)
    text = " ".join(console.export_text().split())
    assert "Portfolio: 6 site(s), the first 2 shown" in text
    assert "… 4 more site(s) not drawn: the CSV (--csv PATH) has every row" in text
    assert f"{many.loc[5, 'aws_ref']}: could not be assessed: loop" in text
    assert "6 site(s): 3 in one catchment unit;" in text and "1 not assessed." in text


def test_expired_certificate_flagged_in_portfolio_and_scope(tmp_path: Path) -> None:
    """A certificate that ended long ago says EXPIRED in the portfolio, JSON and terminal."""
    from datetime import date

    lapsed = RECORD.model_copy(update={"valid_until": date(2001, 6, 30)})
    root = build_workspace(tmp_path / "ws", layers(), [lapsed, RECORD2])
    rows = assess_all(root).set_index("aws_ref")
    assert rows.loc[REF, "certificate"].startswith("EXPIRED")
    assert rows.loc[REF2, "certificate"] == "unknown"  # no end date on record
    certificate = assess_site(root, REF).to_dict()["certificate"]
    assert certificate["state"] == "expired" and "2001-06-30" in certificate["message"]
    result = run_cli("scope", REF, "--workspace", str(root))
    assert "EXPIRED: the certificate ended on 2001-06-30" in " ".join(result.output.split())
