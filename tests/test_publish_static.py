"""``catchscope publish -o DIR``: the static site, as the person who opens it gets it.

The command runs once per module on a copy of the demo workspace.  The index and the
site pages are read as HTML (every link resolves inside the folder), the downloads with
an independent reader (GDAL's ``ogrinfo``, Debian ``gdal-bin``; the csv module), the
coordinates against the workspace's true intakes and outfalls, and the HTML map and
pages are opened from disk in a headless Chromium that may load nothing but ``file:``.
"""

# ruff: noqa: F811  (the browser fixture is imported from tests/test_browser.py)
from __future__ import annotations

import csv
import itertools
import math
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.core.catalogue import LayerKind
from geo.core.workspace import copy_workspace, open_workspace
from tests.conftest import REPO
from tests.test_browser import WAIT, browser  # noqa: F401  (fixture)

CATCHSCOPE = Path(sys.executable).with_name("catchscope")
SENSITIVE = {LayerKind.WATER_SOURCE.value, LayerKind.DISCHARGE_POINT.value}
#: Closer than this to an intake's or outfall's true position is a leak.
NEAR_M = 20.0


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href, self._text = dict(attrs).get("href") or "", []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text)))
            self._href = None


def links(page: Path) -> list[tuple[str, str]]:
    """The (href, text) of every link on an HTML page."""
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.links


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(workspace copy, published folder)."""
    base = tmp_path_factory.mktemp("static")
    root = copy_workspace(REPO, base / "demo")
    site = base / "site"
    run = subprocess.run([str(CATCHSCOPE), "publish", "-w", str(root), "-o", str(site)],
                         capture_output=True, text=True, timeout=300, check=False,
                         env={**os.environ, "XDG_DATA_HOME": str(base / "xdg")})
    assert run.returncode == 0, run.stderr
    assert "wrote" in run.stderr and "Traceback" not in run.stderr
    return root, site


@pytest.fixture(scope="module")
def gdal() -> None:
    if shutil.which("ogrinfo") is None:
        pytest.skip("ogrinfo (Debian gdal-bin) is not installed")


def _public_features(root: Path, ref: str) -> gpd.GeoDataFrame:
    from geo.export.site import collect

    return collect(open_workspace(root), ref, redact="sensitive").features


def test_the_index_lists_every_site(published: tuple[Path, Path]) -> None:
    root, site = published
    ws = open_workspace(root)
    assert sorted(ws.records) == ["AWS-000521", "AWS-000522"]
    index = site / "index.html"
    text = index.read_text(encoding="utf-8")
    assert "Public copies" in text and "coarsened" in text
    hrefs = {href: label for href, label in links(index)}
    for ref, record in ws.records.items():
        assert hrefs.get(f"{ref}/index.html") == ref
        assert record.site_name.replace("&", "&amp;") in text or record.site_name in text


def test_each_site_has_its_map_sheet_downloads_and_checklist(published: tuple[Path, Path]
                                                             ) -> None:
    root, site = published
    ws = open_workspace(root)
    from geo.export.site import collect

    for ref in ws.records:
        folder = site / ref
        page = folder / "index.html"
        for href, _ in links(page):  # every link stays in the folder and resolves
            assert not urlparse(href).scheme and not href.startswith("/"), href
            target = (folder / unquote(href)).resolve()
            assert target.is_relative_to(site.resolve()) and target.is_file(), href
        names = {unquote(h) for h, _ in links(page)}
        for suffix in ("map.html", "sheet-a4.pdf", "sheet-a4.png", "scope.geojson",
                       "scope.gpkg", "checklist.csv"):
            assert f"{ref}-{suffix}" in names, suffix
        assert (folder / f"{ref}-sheet-a4.pdf").read_bytes().startswith(b"%PDF-")
        assert (folder / f"{ref}-sheet-a4.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        expected = collect(ws, ref, redact="sensitive").tables["checklist"]
        with open(folder / f"{ref}-checklist.csv", encoding="utf-8-sig", newline="") as file:
            rows = list(csv.DictReader(file))
        assert [(r["element"], r["status"]) for r in rows] == list(
            zip(expected["element"], expected["status"], strict=True))
        text = page.read_text(encoding="utf-8")
        assert "AWS 1.1.1 checklist" in text and "Site boundaries" in text


def _ogr_counts(path: Path) -> dict[str, int]:
    run = subprocess.run(["ogrinfo", "-ro", "-so", "-al", str(path)], capture_output=True,
                         text=True, timeout=60, check=True)
    names = re.findall(r"^Layer name: (.+)$", run.stdout, flags=re.MULTILINE)
    counts = [int(c) for c in re.findall(r"^Feature Count: (\d+)$", run.stdout,
                                         flags=re.MULTILINE)]
    geometry = re.findall(r"^Geometry: (.+)$", run.stdout, flags=re.MULTILINE)
    assert len(names) == len(counts) == len(geometry), run.stdout
    return {n: c for n, c, g in zip(names, counts, geometry, strict=True) if g != "None"} | {
        f"table:{n}": c for n, c, g in zip(names, counts, geometry, strict=True) if g == "None"}


def test_geojson_and_geopackage_read_by_gdal_with_the_right_counts(
        gdal: None, published: tuple[Path, Path]) -> None:
    root, site = published
    for ref in open_workspace(root).records:
        truth = _public_features(root, ref)
        counts = _ogr_counts(site / ref / f"{ref}-scope.geojson")
        assert list(counts.values()) == [len(truth)]
        gpkg = _ogr_counts(site / ref / f"{ref}-scope.gpkg")
        spatial = {k: v for k, v in gpkg.items() if not k.startswith("table:")}
        assert sum(spatial.values()) == len(truth)
        assert spatial["water_source"] == int((truth["kind"] == "water_source").sum())
        assert gpkg["table:checklist"] == 7
        layers = sorted((site / ref / f"{ref}-layers").glob("*.geojson"))
        per_layer = {p.stem: _ogr_counts(p) for p in layers}
        assert sum(sum(c.values()) for c in per_layer.values()) == len(truth)


class _Truth:
    """The true intakes and outfalls, and the coordinates public features may share."""

    def __init__(self, root: Path) -> None:
        points = open_workspace(root).load_kind(LayerKind.WATER_SOURCE,
                                                LayerKind.DISCHARGE_POINT)
        self.fids = set(points["fid"])
        self.lonlat = np.array([[g.x, g.y] for g in points.geometry])
        self.allowed = np.empty((0, 2))

    def metres(self, x: float, y: float, to: np.ndarray) -> float:
        if len(to) == 0:
            return math.inf
        dx = (to[:, 0] - x) * 111_320 * math.cos(math.radians(y))
        return float(np.hypot(dx, (to[:, 1] - y) * 110_574).min())

    def leaks(self, text: str) -> list[tuple[float, float]]:
        """Number pairs near a true point that are not a vertex of a public feature."""
        numbers = [float(n) for n in re.findall(r"-?\d{1,3}\.\d{3,}", text)]
        return [(x, y) for x, y in itertools.pairwise(numbers)
                if -180 <= x <= 180 and -90 <= y <= 90
                and self.metres(x, y, self.lonlat) < NEAR_M
                and self.metres(x, y, self.allowed) > 3]


def test_only_redacted_copies_are_published(published: tuple[Path, Path]) -> None:
    root, site = published
    truth = _Truth(root)
    for ref in open_workspace(root).records:
        folder = site / ref
        scope = gpd.read_file(folder / f"{ref}-scope.geojson", engine="pyogrio")
        ordinary = scope.loc[~scope["kind"].isin(SENSITIVE)]
        truth.allowed = shapely.get_coordinates(ordinary.geometry.values)
        frames = {"geojson": scope,
                  **{f"gpkg:{k}": gpd.read_file(folder / f"{ref}-scope.gpkg", layer=k,
                                                engine="pyogrio")
                     for k in ("water_source", "discharge_point", "pipe")},
                  **{f"layers:{p.stem}": gpd.read_file(p, engine="pyogrio")
                     for p in (folder / f"{ref}-layers").glob("*.geojson")}}
        sensitive_seen = 0
        for where, frame in frames.items():
            for _, feature in frame.iterrows():
                coords = shapely.get_coordinates(feature.geometry)
                if feature["kind"] in SENSITIVE:
                    sensitive_seen += 1
                    assert feature["redacted"], (where, feature["fid"])
                    floor = NEAR_M
                elif feature["kind"] == LayerKind.PIPE.value:
                    floor = 900.0  # pipes lose every part within 1 km
                else:
                    continue
                for x, y in coords:
                    assert truth.metres(x, y, truth.lonlat) > floor, (where, feature["fid"])
        assert sensitive_seen >= 3 * 3  # intakes and outfalls in all three downloads
        with open(folder / f"{ref}-points.csv", encoding="utf-8-sig", newline="") as file:
            for row in csv.DictReader(file):
                if row["kind"] in SENSITIVE:
                    assert truth.metres(float(row["lon"]), float(row["lat"]),
                                        truth.lonlat) > NEAR_M, row["fid"]
        for page in (folder / f"{ref}-map.html", folder / "index.html", site / "index.html",
                     *folder.glob("*.csv")):
            assert truth.leaks(page.read_text(encoding="utf-8-sig")) == [], page.name


@pytest.mark.browser
def test_the_map_opens_from_disk_offline_without_errors(browser: Any,
                                                        published: tuple[Path, Path]) -> None:
    root, site = published
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    requests: list[str] = []
    errors: list[str] = []

    def route(route: Any) -> None:  # the files themselves and data: URIs; nothing else
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            requests.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    pg = context.new_page()
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        pg.goto((site / "index.html").as_uri())
        for ref in open_workspace(root).records:
            pg.goto((site / "index.html").as_uri())
            pg.get_by_role("link", name=ref, exact=True).click()
            pg.get_by_role("heading", name=re.compile(ref)).wait_for(timeout=WAIT)
            pg.get_by_role("link", name=f"{ref}-map.html").click()
            drawn = pg.locator(".leaflet-overlay-pane path:not([d='M0 0'])")  # in view
            drawn.first.wait_for(timeout=60_000)
            pg.locator(".cs-legend").wait_for(timeout=WAIT)
            assert pg.url == (site / ref / f"{ref}-map.html").as_uri()
            assert drawn.count() >= 10
            assert ref in pg.locator(".cs-legend").inner_text()
    finally:
        context.close()
    assert requests == [], requests
    assert errors == [], errors


def test_publish_refuses_a_folder_it_would_overwrite(published: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    root, site = published
    before = sorted(p.relative_to(site) for p in site.rglob("*"))
    for target, says in ((site, "not empty"), (root, "holds the workspace"),
                         (root.parent, "holds the workspace"),
                         (root / "data" / "site", "inside the workspace"),
                         (site / "index.html", "is a file")):
        run = subprocess.run([str(CATCHSCOPE), "publish", "-w", str(root), "-o", str(target)],
                             capture_output=True, text=True, timeout=120, check=False)
        assert run.returncode == 1, (target, run.stderr)
        assert says in run.stderr and "Traceback" not in run.stderr
    assert sorted(p.relative_to(site) for p in site.rglob("*")) == before
