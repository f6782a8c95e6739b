"""The Export tab in a real headless Chromium: prepare, download, open with GDAL.

Every format of ``catchscope export`` is chosen, prepared and downloaded as a person
would (Playwright download events); the files get the expected names and open with an
independent reader — GDAL's ``ogrinfo`` (Debian gdal-bin) for the vector formats, pypdf
for the PDF, the PNG header for the image — with the feature counts of the site's scope.
The server, browser and page fixtures come from tests/test_browser.py.
"""

# ruff: noqa: F811  (the server/browser/page fixtures are imported from tests/test_browser.py)
from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.test_browser import (  # noqa: F401  (fixtures)
    _idle,
    browser,
    choose,
    page,
    server,
)

pytestmark = pytest.mark.browser

REF = "AWS-000522"
LABELS = {"geojson": "GeoJSON", "gpkg": "GeoPackage", "kml": "KML —", "kmz": "KMZ",
          "csv": "CSV", "html": "HTML —", "pdf": "PDF", "png": "PNG", "bundle": "Bundle"}
REDACTIONS = {"": "None", "sensitive": "Coarsen", "drop-sensitive": "Leave"}


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    """Feature counts of the demo site's scope, per redaction, from the library."""
    if shutil.which("ogrinfo") is None:
        pytest.skip("ogrinfo (Debian gdal-bin) is not installed")
    from geo.core.workspace import open_workspace
    from geo.export.site import collect

    ws = open_workspace()
    if REF not in ws.records:
        pytest.skip(f"the demo workspace has no {REF}")
    out = {}
    for redact in REDACTIONS:
        features = collect(ws, REF, redact=redact or None).features
        out[redact] = {"features": len(features),
                       "points": int((features.geometry.geom_type == "Point").sum())}
    return out


def _export_tab(pg: Any, server: str) -> None:
    pg.goto(server)
    pg.get_by_role("tab", name="Export").wait_for(timeout=120_000)
    site = pg.get_by_role("combobox", name="Site")
    site.click()
    pg.keyboard.type(REF)
    pg.keyboard.press("Enter")
    pg.get_by_role("heading", name=re.compile(REF)).wait_for(timeout=120_000)
    # The header shows before the site switch's run is over; a tab clicked during that run
    # can be redrawn unselected. Click once the run is over, and again if it did not take.
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    fmt = pg.get_by_role("combobox", name="Format")
    for _ in range(4):
        _idle(pg)
        pg.get_by_role("tab", name="Export").click()
        try:
            fmt.wait_for(timeout=20_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError("the Export tab did not open")




def _download(pg: Any, folder: Path, fmt: str, redact: str = "") -> Path:
    """Choose, prepare and download one format; return the saved file."""
    choose(pg, "Format", LABELS[fmt])
    pg.get_by_role("button", name=re.compile(
        "^Prepare download: " + re.escape(LABELS[fmt].split(" ")[0]))).wait_for()
    choose(pg, "Redaction", REDACTIONS[redact])
    pg.wait_for_timeout(300)
    pg.get_by_role("button", name=re.compile("^Prepare download")).click()
    name = _expected_name(fmt, redact)
    button = pg.get_by_role("button", name=re.compile(rf"^Download {re.escape(name)} \("))
    button.wait_for(timeout=120_000)
    with pg.expect_download(timeout=60_000) as event:
        button.click()
    download = event.value
    assert download.suggested_filename == name
    target = folder / download.suggested_filename
    download.save_as(target)
    return target


def _expected_name(fmt: str, redact: str) -> str:
    names = {"geojson": "scope.geojson", "gpkg": "scope.gpkg", "kml": "scope.kml",
             "kmz": "scope.kmz", "csv": "tables.zip", "html": "map.html",
             "pdf": "sheet-a4.pdf", "png": "sheet-a4.png", "bundle": "export.zip"}
    stem, suffix = names[fmt].split(".")
    return f"{REF}-{stem}{'-public' if redact else ''}.{suffix}"


def _ogr_counts(source: str, *options: str) -> dict[str, int]:
    """Feature count per layer with a geometry, as GDAL's ogrinfo reads it."""
    result = subprocess.run(["ogrinfo", "-ro", "-so", "-al", *options, source],
                            capture_output=True, text=True, timeout=60, check=True)
    counts: dict[str, int] = {}
    for block in result.stdout.split("Layer name: ")[1:]:
        name = block.splitlines()[0].strip()
        geometry = re.search(r"^Geometry: (.+)$", block, re.MULTILINE)
        count = re.search(r"^Feature Count: (\d+)$", block, re.MULTILINE)
        if geometry and geometry.group(1) != "None" and count:
            counts[name] = int(count.group(1))
    return counts


def test_vector_formats_download_and_open_in_gdal(server: str, page: Any, tmp_path: Path,
                                                  expected: dict[str, Any]) -> None:
    pg, watch = page
    _export_tab(pg, server)
    total = expected[""]["features"]
    geojson = _download(pg, tmp_path, "geojson")
    assert sum(_ogr_counts(str(geojson)).values()) == total
    assert "crs" not in json.loads(geojson.read_text())  # RFC 7946
    gpkg = _download(pg, tmp_path, "gpkg")
    assert sum(_ogr_counts(str(gpkg)).values()) == total
    kml = _download(pg, tmp_path, "kml")
    assert sum(_ogr_counts(str(kml)).values()) == total
    kmz = _download(pg, tmp_path, "kmz")
    assert sum(_ogr_counts(str(kmz)).values()) == total
    tables = _download(pg, tmp_path, "csv")
    points = _ogr_counts(f"/vsizip/{tables}/{REF}-points.csv",
                         "-oo", "X_POSSIBLE_NAMES=lon", "-oo", "Y_POSSIBLE_NAMES=lat")
    assert points == {f"{REF}-points": expected[""]["points"]}
    with zipfile.ZipFile(tables) as archive:
        assert {f"{REF}-points.csv", f"{REF}-checklist.csv"} <= set(archive.namelist())
    assert watch.external == [] and watch.errors == [], (watch.external, watch.errors)


def test_map_sheet_and_html_download(server: str, page: Any, tmp_path: Path,
                                     expected: dict[str, Any]) -> None:
    from pypdf import PdfReader

    pg, watch = page
    _export_tab(pg, server)
    pdf = PdfReader(_download(pg, tmp_path, "pdf"))
    assert len(pdf.pages) == 1
    box = pdf.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (842, 595)  # A4 landscape
    assert REF in pdf.pages[0].extract_text()
    png = _download(pg, tmp_path, "png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width > height > 1000
    page_html = _download(pg, tmp_path, "html").read_text(encoding="utf-8")
    assert "leaflet" in page_html.lower()
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']?(https?:)?//", page_html)
    assert watch.external == [] and watch.errors == [], (watch.external, watch.errors)


def test_public_copies_are_named_and_redacted(server: str, page: Any, tmp_path: Path,
                                              expected: dict[str, Any]) -> None:
    pg, watch = page
    _export_tab(pg, server)
    dropped = _download(pg, tmp_path, "geojson", "drop-sensitive")
    collection = json.loads(dropped.read_text())
    kinds = {f["properties"]["kind"] for f in collection["features"]}
    assert not kinds & {"water_source", "discharge_point"}
    assert sum(_ogr_counts(str(dropped)).values()) == expected["drop-sensitive"]["features"]
    bundle = _download(pg, tmp_path, "bundle", "sensitive")
    folder = f"{REF}-export"
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        metadata = json.loads(archive.read(f"{folder}/metadata.json"))
        readme = archive.read(f"{folder}/README.txt").decode("utf-8")
    for part in ("scope.geojson", "scope.gpkg", "scope.kml", "scope.kmz", "points.csv",
                 "map.html", "sheet-a4.pdf", "sheet-a4.png"):
        assert f"{folder}/{REF}-{part}" in names, part
    assert metadata["redaction"]["mode"] == "sensitive"
    assert "Redaction" in readme
    count = expected["sensitive"]["features"]
    assert sum(_ogr_counts(f"/vsizip/{bundle}/{folder}/{REF}-scope.gpkg").values()) == count
    assert sum(_ogr_counts(f"/vsizip/{bundle}/{folder}/{REF}-scope.geojson").values()) == count
    assert watch.external == [] and watch.errors == [], (watch.external, watch.errors)
