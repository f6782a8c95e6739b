"""Evidence for every claim (issue 15) in what leaves the app: exports and the map sheet.

The GeoPackage tables and the GeoJSON properties carry each statement's basis, read
back by an independent reader (GDAL's ``ogrinfo``); the printed sheet marks what no
report states and lists it in a note, read back from the PDF's text (pypdf).  On the
demo site AWS-000522 and its neighbour AWS-000521, whose water provider is borrowed
from AWS-000522's report.
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

import geo.export.sheet as sheet
from geo.core.workspace import open_workspace
from geo.export.sheet_notes import DETAIL_LEVELS, MARK, not_stated_note
from geo.export.site import collect, export_site
from geo.scope.claims import TOPICS, claims, not_stated, one_catchment_basis
from tests.test_export import _ogrinfo

LANTO, LUXSHARE = "AWS-000522", "AWS-000521"


@pytest.fixture(scope="module")
def demo():
    ws = open_workspace()
    if not {LANTO, LUXSHARE} <= set(ws.records):
        pytest.skip("the demo workspace has no records of AWS-000521 / AWS-000522")
    return {ref: collect(ws, ref) for ref in (LANTO, LUXSHARE)}


def _sql(source: Path, query: str) -> list[dict[str, str]]:
    """Rows of an OGR SQL query, as ogrinfo prints them (``name (Type) = value``)."""
    result = subprocess.run([_ogrinfo(), "-ro", "-q", str(source), "-sql", query],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and "ERROR" not in result.stderr, result.stderr
    rows: list[dict[str, str]] = []
    for line in result.stdout.splitlines():
        if line.startswith("OGRFeature("):
            rows.append({})
        elif " = " in line and rows:
            name, value = line.strip().split(" = ", 1)
            rows[-1][name.split(" (", 1)[0]] = value
    return rows


# --- the statements, one list --------------------------------------------------------------


def test_every_statement_is_listed_with_its_basis(demo) -> None:
    scope = demo[LANTO].scope
    found = claims(scope)
    assert [t for t in TOPICS if any(c.topic == t for c in found)] == list(TOPICS)
    assert all(c.kind and c.summary.startswith(f"{c.kind} — ") for c in found)
    links = {c.subject: c.kind for c in found if c.topic == "water-chain link"}
    assert links["Baijiadang Lake → Wusong River (Kunshan section)"] == "assumed"
    assert links["Kunshan Jinxi Sewage Treatment Plant → Xiaojieing River"] == "stated"
    # the weakest travels: illustrative parcels make 0.1.1.1 and every IWRA distance assumed
    assert one_catchment_basis(scope).kind == "assumed"
    assert {c.kind for c in found if c.topic == "IWRA distance"} == {"assumed"}
    assert all(c.kind != "stated" for c in not_stated(scope))
    borrowed = [c for c in claims(demo[LUXSHARE].scope) if c.kind == "borrowed"]
    assert [c.subject for c in borrowed] == ["water service provider", "water provider parent"]
    assert all(c.basis is not None and c.basis.from_record == LANTO for c in borrowed)


# --- exports, read back by ogrinfo ---------------------------------------------------------


def test_geopackage_tables_carry_the_basis(demo, tmp_path: Path) -> None:
    gpkg = export_site(demo[LUXSHARE].workspace, LUXSHARE, "gpkg", tmp_path)[0]
    record = {r["field"]: r for r in _sql(gpkg, "SELECT field, basis_kind, basis "
                                                "FROM site_record WHERE basis_kind <> ''")}
    assert record["water_service_provider"]["basis_kind"] == "borrowed"
    assert f"borrowed — from {LANTO}" in record["water_service_provider"]["basis"]
    assert record["catchment_name"]["basis_kind"] == "stated"
    checklist = _sql(gpkg, "SELECT indicator, element, basis_kind, basis FROM checklist")
    assert len(checklist) == 7 and all(r["basis_kind"] and r["basis"] for r in checklist)
    assert {r["element"]: r["basis_kind"] for r in checklist}["one_catchment"] == "assumed"
    chain = _sql(gpkg, "SELECT source, target, basis_kind, basis FROM water_chain")
    assert len(chain) == len(demo[LUXSHARE].scope.chain.edges)
    kinds = {(r["source"], r["target"]): r["basis_kind"] for r in chain}
    assert kinds[("lake-baijiadang", "river-wusong-kunshan")] == "assumed"
    iwras = _sql(gpkg, "SELECT fid, basis_kind, distance_basis_kind FROM iwras")
    assert iwras and all(r["distance_basis_kind"] == "assumed" for r in iwras)
    assert {r["fid"]: r["basis_kind"] for r in iwras}["iwra-baijiadang"] == "stated"
    counts = _sql(gpkg, "SELECT basis_kind, COUNT(*) AS n FROM statements GROUP BY basis_kind")
    by_kind = {r["basis_kind"]: int(r["n"]) for r in counts}
    assert by_kind["borrowed"] == 2 and by_kind["assumed"] > 0 and by_kind["stated"] > 0
    assert sum(by_kind.values()) == len(claims(demo[LUXSHARE].scope))
    # the feature layers too: a lake's onward link, in the GeoPackage layer of its kind
    lake = _sql(gpkg, "SELECT fid, chain_link_basis_kind, chain_link_basis FROM lake "
                      "WHERE fid = 'lake-baijiadang'")
    assert lake[0]["chain_link_basis_kind"] == "assumed"
    assert "no report says where Baijiadang drains" in lake[0]["chain_link_basis"]


def test_geojson_properties_carry_the_basis(demo, tmp_path: Path) -> None:
    main = export_site(demo[LANTO].workspace, LANTO, "geojson", tmp_path)[0]
    layer = f"{LANTO} physical scope"
    rows = {r["fid"]: r for r in _sql(main, f'SELECT fid, basis_kind, chain_link_basis_kind, '
                                            f'scope_basis_kind, iwra_basis_kind, '
                                            f'distance_basis_kind FROM "{layer}"')}
    assert rows["lake-baijiadang"]["chain_link_basis_kind"] == "assumed"
    assert rows["lake-baijiadang"]["basis_kind"] == "assumed"  # its geometry: illustrative
    assert rows["river-xiaojieing"]["chain_link_basis_kind"] == "assumed"
    assert rows["iwra-baijiadang"]["iwra_basis_kind"] == "stated"
    assert rows["iwra-baijiadang"]["distance_basis_kind"] == "assumed"
    assert rows["cu-yangtze-south-bank"]["scope_basis_kind"] == "assumed"
    document = json.loads(main.read_text(encoding="utf-8"))
    props = next(f["properties"] for f in document["features"]
                 if f["id"] == "iwra-baijiadang")
    assert props["iwra_basis"].startswith("stated — AO-000517 §1.3.6")


# --- the map sheet -------------------------------------------------------------------------


def _pdf_text(data, paper: str = "a4") -> str:
    pdf = sheet.render_sheet(data, fmt="pdf", paper=paper)
    return " ".join(" ".join(page.extract_text() or "" for page in
                             PdfReader(io.BytesIO(pdf)).pages).split())


@pytest.mark.parametrize("paper", ["a4", "a3"])
def test_the_sheet_says_what_the_report_does_not_state(demo, paper: str) -> None:
    text = _pdf_text(demo[LUXSHARE], paper)
    assert f"{MARK} Not stated in the report" in text
    assert f"{MARK} not stated in the report (see the note below)" in text  # the legend
    weak, total = len(not_stated(demo[LUXSHARE].scope)), len(claims(demo[LUXSHARE].scope))
    assert f"{weak} of the {total} statements" in text
    # the marks: the borrowed provider, the checklist, the one-catchment unit (illustrative
    # parcels), and the note names the borrowed fact and where it is borrowed from
    assert f"Water provider: Kunshan Water Group Co., Ltd.{MARK}" in text
    assert f"1.1.1 checklist: {demo[LUXSHARE].scope.score}{MARK}" in text
    assert f"Site's catchment unit: Wusong River, Kunshan section{MARK}" in text
    assert f"from {LANTO}" in text and "Borrowed" in text and "Assumed" in text
    # what a report states is not marked
    assert f"Certified Gold{MARK}" not in text and f"m²{MARK}" not in text


def test_the_note_fits_above_the_footer(demo) -> None:
    for data in demo.values():
        fig = sheet.build_sheet(data, paper="a4")
        note = [a for a in fig.findobj() if a.get_gid() == "not_stated"]
        assert len(note) == 1
        box = note[0].get_window_extent(fig.canvas.get_renderer()).transformed(
            fig.transFigure.inverted())
        assert box.y0 >= 0.03, box  # the footer's band stays free
        # as much detail as fits: names, not only counts, on the demo sites
        shown = " ".join(note[0].get_text().split())
        assert shown in {" ".join(not_stated_note(data.scope, level).split())
                         for level in range(len(DETAIL_LEVELS) - 1)}


def test_a_scope_stated_throughout_has_no_note(demo, monkeypatch) -> None:
    monkeypatch.setattr(sheet, "not_stated_note", lambda scope, level=0: "")
    fig = sheet.build_sheet(demo[LANTO], paper="a4")
    assert not [a for a in fig.findobj() if a.get_gid() == "not_stated"]
    legend = next(a for a in fig.findobj() if a.get_gid() == "legend")
    assert not any(MARK in t.get_text() for t in legend.get_texts())
