"""Rasters and delineation in a real headless Chromium, against temporary workspaces.

Reuses the server, browser and page fixtures of tests/test_browser.py (a real
``streamlit run app.py`` on a free port; every request leaving the machine fails the
test).  The workspaces are temporary: three parcels in Kunshan with the demo's real 0.2° DEM
switched on, and a synthetic tilted-plane DEM built in code (tests/test_rasterview.py).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests import test_browser
from tests.test_browser import WAIT, _map, _open_folder
from tests.test_rasterview import build_raster_workspace, cell_lonlat

pytestmark = pytest.mark.browser
# The server, browser and page fixtures of tests/test_browser.py, used here by name.
server = test_browser.server
browser = test_browser.browser
page = test_browser.page
REPO = Path(__file__).resolve().parents[1]

#: Position of a WGS84 point inside the map (st_folium keeps the Leaflet map as window.map).
_TO_PIXEL = """(body, [lat, lon]) => {
    const p = window.map.latLngToContainerPoint([lat, lon]);
    return [p.x, p.y];
}"""


def _mode(pg: Any, label: str) -> None:
    pg.locator("[data-testid=stSidebar]").get_by_text(label, exact=True).click()


@pytest.fixture
def kunshan_dem_workspace(make_workspace, three_parcels) -> Path:
    """Three parcels near Jinxi, Kunshan, and the demo's real 0.2° DEM, drawn by default."""
    layer = REPO / "layers" / "dem_sample.toml"
    if not layer.exists():
        pytest.skip("the demo workspace has no DEM")
    root = make_workspace(layers={"sites": ("site", three_parcels, {})})
    text = re.sub(r"(?m)^visible = false$", "visible = true", layer.read_text(encoding="utf-8"))
    (root / "layers" / "dem_sample.toml").write_text(text, encoding="utf-8")
    target = root / "data" / "reference" / "dem_sample.tif"
    target.parent.mkdir(parents=True)
    shutil.copyfile(REPO / "data" / "reference" / "dem_sample.tif", target)
    return root


def test_dem_overlay_has_a_legend_and_a_click_says_the_dem_is_too_coarse(
        server: str, page: Any, kunshan_dem_workspace: Path) -> None:
    pg, watch = page
    pg.goto(server)
    # the sidebar is enough: no need to wait for the bundled demo's map
    pg.get_by_text("Folder on this machine").wait_for(timeout=90_000)
    _open_folder(pg, kunshan_dem_workspace)
    pg.get_by_text("AWS-000001", exact=False).first.wait_for(timeout=60_000)
    frame = _map(pg, min_paths=3)
    overlay = frame.locator("img.leaflet-image-layer.cs-raster-dem_sample")
    overlay.wait_for(timeout=WAIT)
    assert overlay.get_attribute("src").startswith("data:image/png;base64,")
    legend = frame.locator(".cs-raster-legend")
    assert "Sample DEM" in legend.inner_text() and "(m)" in legend.inner_text()
    # the legend's slider changes the overlay's opacity in place (no rerun)
    legend.locator("input[type=range]").fill("20")
    assert float(overlay.evaluate("e => getComputedStyle(e).opacity")) == pytest.approx(0.2)
    # delineate: a click on the map is the outlet; the 0.2° DEM cannot answer
    _mode(pg, "Delineate a catchment")
    pg.get_by_text("Click the map where the catchment drains to").wait_for(timeout=WAIT)
    frame = _map(pg, min_paths=3)
    frame.locator(".leaflet-container").click(position={"x": 260, "y": 470})  # clear of the legend
    # its ~20 km cells: a 500 m snap distance cannot be kept; refused, saying what to do
    pg.get_by_text("more than the snap distance of 500 m", exact=False).wait_for(
        timeout=WAIT)
    snap = pg.get_by_label("Snap distance (m)", exact=True).and_(pg.locator("input"))
    snap.fill("0")
    snap.press("Enter")  # the same outlet again, the cell under it as it is
    pg.get_by_text("Requested outlet", exact=False).wait_for(timeout=WAIT)
    warning = pg.locator("[data-testid=stAlert]").filter(has_text="too coarse")
    warning.first.wait_for(timeout=10_000)
    main = pg.locator("[data-testid=stMain]").inner_text()
    assert "Snapped outlet" in main and "km²" in main
    # the one-cell answer is drawn, dashed (it carries a warning)
    catchment = _map(pg).locator("path.cs-layer-delineated_catchment")
    catchment.wait_for(timeout=WAIT)
    assert catchment.get_attribute("stroke-dasharray")
    assert watch.external == [] and watch.errors == [], (watch.external, watch.errors)


def test_tilted_plane_dem_gives_a_catchment_drawn_on_the_map(
        server: str, page: Any, tmp_path: Path) -> None:
    pg, watch = page
    root = build_raster_workspace(tmp_path / "plane")
    pg.goto(server)
    # the sidebar is enough: no need to wait for the bundled demo's map
    pg.get_by_text("Folder on this machine").wait_for(timeout=90_000)
    _open_folder(pg, root)
    pg.get_by_text("AWS-000001", exact=False).first.wait_for(timeout=60_000)
    _mode(pg, "Delineate a catchment")
    snap = pg.get_by_label("Snap distance (m)", exact=True).and_(pg.locator("input"))
    snap.fill("2000")
    snap.press("Enter")
    pg.get_by_text("Click the map where the catchment drains to").wait_for(timeout=WAIT)
    frame = _map(pg, min_paths=3)
    frame.locator("img.cs-raster-dem").wait_for(timeout=WAIT)  # the DEM is drawn
    pg.wait_for_timeout(500)
    lon, lat = cell_lonlat(20, 25)  # the middle of the DEM; snaps to the outlet corner
    x, y = frame.locator("body").evaluate(_TO_PIXEL, [lat, lon])
    frame.locator(".leaflet-container").click(position={"x": x, "y": y})
    pg.get_by_text("resolves this catchment", exact=False).wait_for(timeout=WAIT)
    catchment = _map(pg).locator("path.cs-layer-delineated_catchment")
    catchment.wait_for(timeout=WAIT)
    box = catchment.bounding_box()
    assert box is not None and box["width"] > 30 and box["height"] > 30
    main = pg.locator("[data-testid=stMain]").inner_text()
    assert "1.800 km²" in main or "1.8" in main
    assert "too coarse" not in main and "too flat" not in main
    assert watch.external == [] and watch.errors == [], (watch.external, watch.errors)
