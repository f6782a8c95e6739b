"""Baseline water stress (Aqueduct 4.0 joined to the units) in the scope, the app and the legend.

A site drafted with ``catchscope new-site`` in the schematic Maipo basin
(tests/maipo_fixtures.py), whose HydroBASINS units carry the Aqueduct table's bws_*.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from geo.cli.main import app
from geo.core.workspace import copy_workspace, open_workspace
from geo.maps.build import build_map, map_html, prepare_map
from geo.maps.draw import _legend_html
from geo.scope.assess import assess_site
from geo.scope.report import render_scope, scope_markdown
from geo.store.gpkg import layer_version, save_layer
from tests import maipo_fixtures as mx

REPORT = Path(__file__).parent / "reports" / "AO-009101-valle-verde.txt"
REF = "AWS-009101"
APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def placed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = mx.build_workspace(tmp_path_factory.mktemp("stress"))
    result = CliRunner().invoke(app, ["new-site", str(REPORT), "-w", str(root), "--at",
                                      f"{mx.SITE[0]},{mx.SITE[1]}", "--yes"])
    assert result.exit_code == 0, result.output
    return root


def test_the_scope_lists_the_stress_of_its_units(placed: Path) -> None:
    scope = assess_site(open_workspace(placed), REF)
    first = scope.water_stress[0]
    assert (first.role, first.label, first.score, first.category) == (
        "site", "High (40-80%)", pytest.approx(3.4), 3)
    roles = {u.role for u in scope.water_stress}
    assert {"relied on", "affected"} <= roles | {r.split(" and ")[0] for r in roles}
    assert len({u.fid for u in scope.water_stress}) == len(scope.water_stress)
    assert max(u.score for u in scope.water_stress) == pytest.approx(4.7)
    as_json = scope.to_dict()["water_stress"]
    assert as_json[0]["label"] == "High (40-80%)" and as_json[0]["role"] == "site"


def test_the_markdown_and_the_terminal_show_it(placed: Path) -> None:
    result = CliRunner().invoke(app, ["scope", REF, "-w", str(placed), "--md", "-"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    section = text[text.index("## Baseline water stress"):]
    assert "| catchment unit | in the scope as | water stress | score (0–5) |" in section
    assert "the site lies in it | High (40-80%) | 3.40 |" in section
    assert "Extremely High (&gt;80%) | 4.70" in section
    console = Console(record=True, width=200)
    render_scope(assess_site(open_workspace(placed), REF), console)
    assert "Baseline water stress" in console.export_text()


def test_the_map_legend_shows_the_site_and_the_worst_on_each_side(placed: Path) -> None:
    ws = open_workspace(placed)
    data = prepare_map(ws, assess_site(ws, REF))
    assert [colour for colour, _ in data.water_stress] == ["#ff1900", "#990000", "#990000"]
    legend = _legend_html(data)
    assert "Baseline water stress</b> (WRI Aqueduct 4.0)" in legend
    assert "Where the site lies: High (40-80%), score 3.40/5" in legend
    assert "Most stressed relied on: Extremely High (&gt;80%), score 4.70/5" in legend
    page = map_html(build_map(ws, assess_site(ws, REF), for_export=True))
    assert "Baseline water stress" in page  # the standalone HTML map has it too


def test_no_block_without_water_stress() -> None:
    ws = open_workspace()  # the demo's units carry no Aqueduct data
    scope = assess_site(ws, sorted(ws.records)[0])
    assert scope.water_stress == ()
    assert "Baseline water stress" not in scope_markdown(scope)
    assert "Baseline water stress" not in _legend_html(prepare_map(ws, scope))


def test_a_hostile_label_is_text_everywhere(placed: Path, tmp_path: Path) -> None:
    root = copy_workspace(placed, tmp_path / "ws", edits=True)
    ws = open_workspace(root)
    units = ws.load("hydrobasins_l08")
    hostile = "<img src=x onerror=alert(1)>{{7*7}} `${x}` [a](javascript:alert(1))"
    units["bws_label"] = hostile
    save_layer(ws, "hydrobasins_l08", units, base_version=layer_version(ws, "hydrobasins_l08"))
    ws = open_workspace(root)
    scope = assess_site(ws, REF)
    legend = _legend_html(prepare_map(ws, scope))
    assert "<img" not in legend and "&lt;img src=x" in legend
    assert "{{" not in legend and "&#123;&#123;7*7&#125;&#125;" in legend
    assert "${" not in legend
    markdown = scope_markdown(scope)
    assert "<img" not in markdown and "\\[a\\](javascript" in markdown


def test_the_app_shows_it_under_the_checklist(placed: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=90).run()
    next(w for w in at.radio if w.label == "Workspace").set_value(
        "Folder on this machine").run()
    next(w for w in at.text_input if w.label == "Workspace folder").input(str(placed)).run()
    assert not at.exception, at.exception
    assert next(w for w in at.selectbox if w.label == "Site").value == REF
    tables = [df.value for df in at.dataframe if "water stress" in df.value.columns]
    assert tables, [list(df.value.columns) for df in at.dataframe]
    stress = tables[0]
    assert stress.iloc[0]["in the scope as"] == "the site lies in it"
    assert stress.iloc[0]["water stress"] == "High (40-80%)"
