"""``catchscope new-site``: a site anywhere, from its AWS report and public datasets (issue 17).

The workspace holds the public layers of a schematic Maipo basin (tests/maipo_fixtures.py:
real files in the published schemas, imported as `catchscope import` does); the report is
tests/reports/AO-009101-valle-verde.txt, a fictional brewery in Quilicura, Chile.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from typer.testing import CliRunner

from geo.cli.main import app
from geo.core.check import check_workspace
from geo.core.workspace import copy_workspace, open_workspace
from geo.reports.parse import read_report
from geo.scope.names import MATCH_THRESHOLD
from geo.scope.sitedraft import draft_site, placeholder_parcel
from geo.store import batch
from tests import maipo_fixtures as mx

REPORT = Path(__file__).parent / "reports" / "AO-009101-valle-verde.txt"
AT = f"{mx.SITE[0]},{mx.SITE[1]}"
REF = "AWS-009101"


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with every Maipo dataset imported (then copied for each test)."""
    return mx.build_workspace(tmp_path_factory.mktemp("maipo"))


@pytest.fixture
def ws_root(public: Path, tmp_path: Path) -> Path:
    return copy_workspace(public, tmp_path / "ws", edits=True)


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest()
                                       if p.is_file() else "dir")
            for p in sorted(root.rglob("*"))}


def _new_site(root: Path, *args: str) -> object:
    return CliRunner().invoke(app, ["new-site", str(REPORT), "-w", str(root), *args])


def _ogr_layers(root: Path) -> dict[str, int]:
    """Feature count of every layer of the store, as GDAL (ogrinfo) reads the file."""
    path = str(root / "data" / "workspace.gpkg")
    listing = subprocess.run(["ogrinfo", "-q", "-ro", path], capture_output=True, text=True,
                             check=True).stdout
    names = [line.split(":", 1)[1].split(" (")[0].strip() for line in listing.splitlines()
             if ":" in line and not line.strip().endswith("(None)")]
    counts = {}
    for name in names:
        info = subprocess.run(["ogrinfo", "-so", "-ro", path, name], capture_output=True,
                              text=True, check=True).stdout
        counts[name] = int(next(line.split(":", 1)[1] for line in info.splitlines()
                                if line.startswith("Feature Count:")))
    return counts


def _draft(root: Path, **kwargs: object) -> object:
    ws = open_workspace(root)
    record = read_report(REPORT.read_bytes(), name=REPORT.name).record
    parcel = gpd.GeoDataFrame(geometry=[placeholder_parcel(*mx.SITE)], crs="EPSG:4326")
    return draft_site(ws, record, parcel, placement="point", source="test", **kwargs)


# --- from nothing to the checklist ----------------------------------------------------------


def test_a_new_site_from_its_report_and_a_typed_point(ws_root: Path) -> None:
    result = _new_site(ws_root, "--at", AT, "--yes", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["saved"] and out["level"] == "pfafstetter_8"  # the coarsest of 8 and 12
    ws = open_workspace(ws_root)
    assert ws.records[REF].water_service_provider == "Aguas Andinas S.A."
    assert ws.settings.catchment_level == "pfafstetter_8"
    # real files: GDAL reads every layer the command wrote, with its features
    layers = _ogr_layers(ws_root)
    assert {k: layers[k] for k in ("sites", "water_sources", "facilities",
                                   "discharge_points")} == {
        "sites": 1, "water_sources": 2, "facilities": 2, "discharge_points": 3}
    assert "iwras" not in layers  # candidates are never IWRAs without a person's word
    assert ws.spec("discharge_points").style.marker == "circle"  # styled as the demo's
    parcel = ws.load("sites").iloc[0]
    assert parcel["aws_ref"] == REF and parcel["accuracy"] == "illustrative"
    area = gpd.GeoSeries([parcel.geometry], crs="EPSG:4326").to_crs("EPSG:32719").area
    assert area.iloc[0] == pytest.approx(10_000, rel=0.01)
    assert check_workspace(ws_root).ok
    stderr = result.stderr
    assert "1.1.1 checklist of AWS-009101" in stderr and "→ " in stderr
    assert "IWRA candidates" in stderr and "candidates, not IWRAs" in stderr


def test_the_chain_is_drafted_from_the_reports_names_with_scores_and_inferred_bases(
        ws_root: Path) -> None:
    result = _new_site(ws_root, "--at", AT, "--yes", "--json")
    matches = {(m["role"], m["name"]): m["match"] for m in json.loads(result.stdout)["matches"]}
    expected = {
        ("water service provider", "Aguas Andinas S.A."): "Complejo Las Vizcachas",
        ("ultimate water source", "Maipo River"): "Río Maipo",
        ("ultimate water source", "Mapocho River"): "Río Mapocho",
        ("receiver of the industrial discharge", "La Farfana Wastewater Treatment Plant"):
            "Planta de Tratamiento de Aguas Servidas La Farfana",
        ("receiver of the storm discharge", "the Estero Las Cruces"): "Estero Las Cruces",
    }
    for key, feature in expected.items():
        assert matches[key]["feature_name"] == feature
        assert matches[key]["score"] >= MATCH_THRESHOLD
        assert matches[key]["basis"]["kind"] == "inferred"
        assert key[1] in matches[key]["basis"]["why"]
    from geo.scope.assess import assess_site

    scope = assess_site(open_workspace(ws_root), REF)
    names = {n.fid: n.name for n in scope.chain.nodes}
    links = {(names[e.source], names[e.target]): e for e in scope.chain.edges}
    to_wwtp = links[("Domestic discharge to Planta de Tratamiento de Aguas Servidas La Farfana",
                     "Planta de Tratamiento de Aguas Servidas La Farfana")]
    assert to_wwtp.basis.kind == "inferred" and "score 0.9" in to_wwtp.basis.why
    assert "domestic wastewater" in to_wwtp.basis.quote  # the report's own sentence
    # the plant's effluent: both rivers the report names (it contradicts itself)
    wwtp = open_workspace(ws_root).load("facilities").set_index("facility_type").loc[
        "wastewater_treatment_plant"]
    assert set(wwtp["flows_to"].split(",")) == {"osm_way_302", "osm_way_303"}
    assert "ask the site which one" in wwtp["note"]
    # every position we chose is illustrative; matched plants keep their public position
    intakes = open_workspace(ws_root).load("water_sources")
    assert set(intakes["accuracy"]) == {"illustrative"}
    assert set(intakes["water_body"]) <= {f"hyriv_{i}" for i in range(60_100_001, 60_100_015)}
    assert set(open_workspace(ws_root).load("facilities")["accuracy"]) == {"derived"}


def test_the_network_follows_next_down_to_the_sea(ws_root: Path) -> None:
    draft = _draft(ws_root)
    units = draft.network[draft.network["kind"] == "catchment_unit"].set_index("fid")
    unit = {code: f"hybas_{mx.hybas(8, code)}" for code in mx.BASINS}
    assert "site's unit" in units.loc[unit["L2"], "role"]
    assert "relied on" in units.loc[unit["S4"], "role"]  # above the Maipo intake (El Yeso)
    assert "relied on" in units.loc[unit["N4"], "role"]  # above the Mapocho intake
    assert "affected" in units.loc[unit["S0"], "role"]  # the Maipo's mouth, the sink
    assert unit["C0"] not in units.index  # a coastal basin the site neither uses nor affects
    affected = [u.fid for u in draft.scope.affected]
    assert affected[-1] == unit["S0"]
    bodies = set(draft.network.loc[draft.network["kind"] != "catchment_unit", "name"])
    assert {"Embalse El Yeso", "Laguna de Batuco", "Río Maipo"} <= bodies


def test_iwra_candidates_by_distance_and_relation_never_iwras(ws_root: Path) -> None:
    draft = _draft(ws_root)
    table = draft.candidates.set_index("name")
    assert list(draft.candidates["distance_m"]) == sorted(draft.candidates["distance_m"])
    assert table.loc["Humedal de Batuco", "named_as"] == "Humedal de Batuco"
    assert table.loc["Quebrada de La Plata", "named_as"].endswith("Quebrada de La Plata")
    assert table.loc["Humedal Desembocadura del Río Maipo", "relation"] == \
        "downstream of discharge"
    assert table.loc["Yerba Loca", "relation"] == "upstream of water source"
    assert table.loc["Yerba Loca", "accuracy"] == "derived"  # a circle of its REP_AREA
    assert table.loc["Humedal El Yali", "relation"] == "neither"
    assert "El Morado" not in table.index  # a point with REP_AREA 0: no extent
    assert not table["confirmed"].any() and draft.scope.iwras.empty
    assert any("Las Cruces riparian strip" in n for n in draft.notes)


def test_confirmed_candidates_become_iwras(ws_root: Path) -> None:
    result = _new_site(ws_root, "--at", AT, "--yes", "--confirm-iwra", "wdpa_901001")
    assert result.exit_code == 0, result.output
    iwras = open_workspace(ws_root).load("iwras").set_index("fid")
    assert iwras.loc["iwra-wdpa_901001", "reported_by"] == REF  # the report names it
    again = CliRunner().invoke(app, ["confirm-iwra", "wdpa_901003", "--site", REF,
                                     "-w", str(ws_root)])
    assert again.exit_code == 0, again.output
    from geo.scope.assess import assess_site

    scope = assess_site(open_workspace(ws_root), REF)
    rows = scope.iwras.set_index("fid")
    assert set(rows.index) == {"iwra-wdpa_901001", "iwra-wdpa_901003"}
    assert rows.loc["iwra-wdpa_901001", "basis"].startswith("stated")
    assert rows.loc["iwra-wdpa_901003", "relation"] == "downstream of discharge"
    assert _ogr_layers(ws_root)["iwras"] == 2


@pytest.mark.parametrize("fmt", ["geojson", "shp.zip", "kml"])
def test_parcels_from_a_file_at_a_chosen_level(ws_root: Path, tmp_path: Path,
                                               fmt: str) -> None:
    # one parcel across the two level-12 halves of the site's level-8 unit
    west, south = -70.83, -33.30
    parcels = gpd.GeoDataFrame({"name": ["Brewery, north block"]},
                               geometry=[shapely.box(west, south, west + 0.01, south + 0.008)],
                               crs="EPSG:4326")
    path = tmp_path / f"plan.{fmt}"
    if fmt == "shp.zip":
        from tests.dataset_fixtures import write_shapefile_zip

        write_shapefile_zip({"plan": parcels}, path)
    else:
        parcels.to_file(path, driver="GeoJSON" if fmt == "geojson" else "KML",
                        engine="pyogrio")
    result = _new_site(ws_root, "--parcels", str(path), "--level", "12", "--yes", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["level"] == "pfafstetter_12"
    one = out["scope"]["one_catchment"]
    assert not one["ok"] and "straddle" in one["message"]
    ws = open_workspace(ws_root)
    assert ws.settings.catchment_level == "pfafstetter_12"
    site = ws.load("sites").iloc[0]
    assert site["name"] == "Brewery, north block" and site["accuracy"] == "surveyed"


def test_the_level_decides_one_catchment(ws_root: Path) -> None:
    straddling = gpd.GeoDataFrame(geometry=[shapely.box(-70.83, -33.30, -70.82, -33.292)],
                                  crs="EPSG:4326")
    ws = open_workspace(ws_root)
    record = read_report(REPORT.read_bytes(), name=REPORT.name).record
    at8 = draft_site(ws, record, straddling, placement="file", source="plan", level=8)
    at12 = draft_site(ws, record, straddling, placement="file", source="plan", level="12")
    assert at8.scope.one_catchment.ok
    assert not at12.scope.one_catchment.ok
    assert {u.level for u in at12.scope.affected} == {"pfafstetter_12"}


# --- bad input: a clear message, exit 2, nothing written -------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--at", AT, "--parcels", "x.geojson"], "exactly one of --at"),
    ([], "exactly one of --at"),
    (["--at", "north of Santiago"], "give LON,LAT"),
    (["--at", "-33.345,-70.735"], "outside every catchment unit"),  # swapped: lat first
    (["--at", "10.3,47.1"], "outside every catchment unit"),  # the other side of the world
    (["--at", "-200,95"], "LON,LAT in WGS84"),
    (["--at", AT, "--level", "7"], "pfafstetter_8, pfafstetter_12"),
    (["--at", AT, "--confirm-iwra", "wdpa_123"], "not an IWRA candidate"),
    (["--parcels", "missing.geojson"], "missing.geojson"),
    (["--parcels", "points.geojson"], "not polygons"),
    (["--parcels", "plan.geojson", "--accuracy", "rough"], "--accuracy"),
])
def test_bad_input_exits_2_and_writes_nothing(ws_root: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    gpd.GeoDataFrame(geometry=[shapely.Point(*mx.SITE)], crs="EPSG:4326").to_file(
        tmp_path / "points.geojson", driver="GeoJSON", engine="pyogrio")
    gpd.GeoDataFrame(geometry=[placeholder_parcel(*mx.SITE)], crs="EPSG:4326").to_file(
        tmp_path / "plan.geojson", driver="GeoJSON", engine="pyogrio")
    before = _tree(ws_root)
    result = _new_site(ws_root, *args, "--yes")
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    assert _tree(ws_root) == before


@pytest.mark.parametrize("report", ["missing.txt", "binary.pdf", "folder"])
def test_a_report_that_cannot_be_read_exits_2(ws_root: Path, tmp_path: Path,
                                              report: str) -> None:
    path = tmp_path / report
    if report == "binary.pdf":
        path.write_bytes(b"%PDF-1.4\n\x00\x01\x02 not a report")
    elif report == "folder":
        path.mkdir()
    before = _tree(ws_root)
    result = CliRunner().invoke(app, ["new-site", str(path), "--at", AT, "-w", str(ws_root),
                                      "--yes"])
    assert result.exit_code == 2, result.output
    assert report in result.stderr
    assert _tree(ws_root) == before


def test_a_site_placed_already_is_refused(ws_root: Path) -> None:
    assert _new_site(ws_root, "--at", AT, "--yes").exit_code == 0
    before = _tree(ws_root)
    again = _new_site(ws_root, "--at", AT, "--yes")
    assert again.exit_code == 2 and "placed already" in again.stderr
    assert _tree(ws_root) == before


def test_a_failed_save_leaves_the_workspace_byte_identical(ws_root: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    before = _tree(ws_root)

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(batch, "atomic_write_bytes", full_disk)  # after the store commit
    result = _new_site(ws_root, "--at", AT, "--yes")
    assert result.exit_code == 1 and "Nothing was saved" in result.stderr
    assert _tree(ws_root) == before


def test_a_dry_run_or_no_confirmation_writes_nothing(ws_root: Path) -> None:
    before = _tree(ws_root)
    dry = _new_site(ws_root, "--at", AT, "--dry-run")
    assert dry.exit_code == 0 and "Dry run" in dry.stdout
    assert "1.1.1 checklist once saved (preview)" in dry.stdout
    unasked = _new_site(ws_root, "--at", AT)  # no terminal to ask, no --yes
    assert unasked.exit_code == 1 and "Not saved" in unasked.stdout
    assert _tree(ws_root) == before


def test_the_preview_is_the_checklist_the_saved_site_gets(ws_root: Path) -> None:
    from geo.scope.assess import assess_site

    dry = json.loads(_new_site(ws_root, "--at", AT, "--dry-run", "--json").stdout)
    assert _new_site(ws_root, "--at", AT, "--yes").exit_code == 0
    saved = assess_site(open_workspace(ws_root), REF).to_dict()
    assert [(c["element"], c["status"], c["missing"]) for c in dry["scope"]["checklist"]] == [
        (c["element"], c["status"], c["missing"]) for c in saved["checklist"]]


def test_a_record_saved_meanwhile_is_never_overwritten(ws_root: Path) -> None:
    from geo.cli.newsite_cmd import save_draft
    from geo.core.errors import DataWriteError

    draft = _draft(ws_root)
    other = CliRunner().invoke(app, ["import-report", str(REPORT), "-w", str(ws_root), "--yes"])
    assert other.exit_code == 0, other.output  # another session saved the record meanwhile
    before = _tree(ws_root)
    with pytest.raises(DataWriteError, match="changed since this was reviewed"):
        save_draft(open_workspace(ws_root), draft)
    assert _tree(ws_root) == before


def test_the_report_may_be_the_pdf_aws_publishes(ws_root: Path, tmp_path: Path) -> None:
    from tests.test_reports import _text_pdf

    pdf = tmp_path / "AO-009101.pdf"
    pdf.write_bytes(_text_pdf(REPORT.read_text(encoding="utf-8")))
    result = CliRunner().invoke(app, ["new-site", str(pdf), "--at", AT, "-w", str(ws_root),
                                      "--yes", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["aws_ref"] == REF and out["saved"]
    provider = next(m for m in out["matches"] if m["role"] == "water service provider")
    assert provider["match"]["feature_name"] == "Complejo Las Vizcachas"


@pytest.mark.parametrize(("args", "message"), [
    (["wdpa_123", "--site", REF], "not an IWRA candidate"),
    (["wdpa_901001", "--site", "AWS-000001"], "No site record 'AWS-000001'"),
])
def test_confirm_iwra_refuses_bad_input_and_writes_nothing(ws_root: Path, args: list[str],
                                                           message: str) -> None:
    assert _new_site(ws_root, "--at", AT, "--yes").exit_code == 0
    before = _tree(ws_root)
    result = CliRunner().invoke(app, ["confirm-iwra", *args, "-w", str(ws_root)])
    assert result.exit_code == 2 and message in result.stderr
    assert _tree(ws_root) == before
