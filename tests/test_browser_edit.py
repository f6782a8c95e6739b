"""Bring your own data in a real Chromium: upload, preview and save; draw and save; conflicts.

Reuses tests/test_browser.py's server (``streamlit run app.py`` on a free port), browser
and offline request guard.  Every test opens its own temporary copy of the demo
workspace through "Folder on this machine": the repository's data/ is never written.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from geo.core.catalogue import LayerKind
from geo.core.workspace import copy_workspace, open_workspace
from geo.store import gpkg as store
from tests.test_browser import (  # noqa: F401 - fixtures used by name
    MAP_FRAME,
    REPO,
    WAIT,
    _idle,
    _map,
    _open_folder,
    browser,
    choose,
    page,
    server,
)

pytestmark = pytest.mark.browser

SITE = "AWS-000522"
MAIN = "[data-testid=stMain]"


def _site_centre(root: Path) -> tuple[float, float]:
    sites = open_workspace(root).load_kind(LayerKind.SITE)
    ours = sites[sites["aws_ref"] == SITE]
    if ours.empty:
        pytest.skip(f"the demo workspace has no {SITE} parcels")
    centre = ours.geometry.union_all().centroid
    return centre.x, centre.y


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _edit_map(pg: Any) -> Any:
    """The map frame that has the Draw toolbar (the inspect map's frame may linger a while)."""
    for _ in range(300):
        for handle in pg.locator(MAP_FRAME).element_handles():
            if not handle.is_visible() or handle.get_attribute("width") == "-1":
                continue  # a map of the previous run, on its way out
            frame = handle.content_frame()
            if frame is not None and frame.locator(".leaflet-draw-draw-marker").count():
                return frame
        pg.wait_for_timeout(200)
    raise AssertionError("no map with the Draw toolbar appeared")


def _wait_on_map(pg: Any, css: str, count: int) -> None:
    """Wait until a map frame shows ``count`` elements matching ``css`` (frames get replaced)."""
    for _ in range(300):
        for handle in pg.locator(MAP_FRAME).element_handles():
            frame = handle.content_frame()
            if frame is not None and frame.locator(css).count() >= count:
                return
        pg.wait_for_timeout(200)
    raise AssertionError(f"the map never showed {count} {css}")


def _wait_on_map_text(pg: Any, text: str) -> None:
    """Wait until a map frame's page holds ``text`` (a feature's name, in its tooltip)."""
    for _ in range(300):
        for handle in pg.locator(MAP_FRAME).element_handles():
            frame = handle.content_frame()
            if frame is not None and text in frame.content():
                return
        pg.wait_for_timeout(200)
    raise AssertionError(f"no map shows {text!r}")


def _open(pg: Any, root: Path, *, mode: str | None = None, reload: bool = False) -> Any:
    """Open the workspace folder in a new session (``reload``: by reloading the page)."""
    if reload:
        pg.reload()
    else:
        pg.goto(pg.context.server_url)
    pg.get_by_text("Folder on this machine").wait_for(timeout=60_000)  # no need to wait
    _open_folder(pg, root)                                              # for the demo's map
    frame = _map(pg, min_paths=20)
    _idle(pg)
    if mode is not None:
        pg.get_by_test_id("stSidebarUserContent").get_by_text(mode, exact=True).click()
        _edit_map(pg)
        _idle(pg)
        frame = _edit_map(pg)
    return frame


def _open_side_by_side(pages: list[Any], root: Path, mode: str) -> list[Any]:
    """:func:`_open` in several pages at once (the server runs their sessions together)."""
    for pg in pages:
        pg.goto(pg.context.server_url)
    for pg in pages:
        pg.get_by_text("Folder on this machine").wait_for(timeout=60_000)
        _open_folder(pg, root)
    for pg in pages:
        _map(pg, min_paths=20)
        _idle(pg)
        pg.get_by_test_id("stSidebarUserContent").get_by_text(mode, exact=True).click()
    frames = []
    for pg in pages:
        _edit_map(pg)
        _idle(pg)
        frames.append(_edit_map(pg))
    return frames


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the demo for this module's tests (its analysis is cached once by the
    server); each test checks its own changes relative to what it found."""
    return copy_workspace(REPO, tmp_path_factory.mktemp("edit") / "demo")


@pytest.fixture
def session(server: str, page: tuple[Any, Any]) -> tuple[Any, Any]:  # noqa: F811
    pg, watch = page
    pg.context.server_url = server
    return pg, watch


def _upload(pg: Any, name: str, content: bytes) -> None:
    pg.get_by_role("tab", name="Add data").click()
    pg.get_by_label("File to import").get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": name, "mimeType": "application/octet-stream", "buffer": content}])




def _discharge_points(root: Path) -> Any:
    return open_workspace(root).load("discharge_points")


def _kml(name: str, lon: float, lat: float) -> bytes:
    """A KML file as GPS apps and Google Earth write it: one Placemark with a point."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2">
  <Document>
    <name>Site survey</name>
    <Placemark>
      <name>{name}</name>
      <description>Stormwater outfall to Baijiadang Lake</description>
      <ExtendedData><Data name="discharge_type"><value>stormwater</value></Data></ExtendedData>
      <Point><coordinates>{lon:.7f},{lat:.7f},0</coordinates></Point>
    </Placemark>
  </Document>
</kml>
""".encode()


def test_upload_kml_preview_save_shows_on_map_and_checklist(session: Any,
                                                            workspace: Path) -> None:
    pg, watch = session
    lon, lat = _site_centre(workspace)
    name = "Surveyed outfall BW-7"
    frame = _open(pg, workspace)
    before = frame.locator(".cs-layer-discharge_points").count()
    n_before = len(_discharge_points(workspace))
    _upload(pg, "outfall.kml", _kml(name, lon + 0.0004, lat - 0.0003))
    pg.get_by_text("Preview: the 1 incoming features", exact=False).wait_for(timeout=WAIT)
    choose(pg, "Into layer", "Discharge points (discharge_point)")
    preview = pg.frame_locator("iframe[src*='st_folium'] >> nth=1")
    preview.locator(".leaflet-overlay-pane path").first.wait_for(timeout=WAIT)
    assert "Would import 1 features into layer 'discharge_points'" in pg.locator(MAIN).inner_text()
    assert len(_discharge_points(workspace)) == n_before  # nothing saved by the preview
    pg.get_by_role("button", name="Save", exact=True).click()
    pg.get_by_text("Imported 1 features into layer 'discharge_points'", exact=False) \
        .wait_for(timeout=WAIT)
    saved = _discharge_points(workspace)
    assert name in set(saved["name"]) and set(saved.loc[saved["name"] == name, "aws_ref"]) == {SITE}
    row = saved[saved["name"] == name].iloc[0]
    assert row["discharge_type"] == "stormwater"  # the KML's ExtendedData came along
    assert row.geometry.x == pytest.approx(lon + 0.0004, abs=1e-6)
    assert row.geometry.y == pytest.approx(lat - 0.0003, abs=1e-6)
    _wait_on_map(pg, ".cs-layer-discharge_points", before + 1)
    _wait_on_map_text(pg, name)
    pg.get_by_role("tab", name="1.1.1 checklist").click()
    # the discharge-points element's card lists the new point among its evidence
    card = pg.locator(".st-key-check_discharge")
    card.wait_for(timeout=WAIT)
    card.get_by_text(f"{name} (discharge_points, ", exact=False).wait_for(timeout=WAIT)
    assert watch.external == [], watch.external
    assert watch.errors == [], watch.errors


def test_bad_upload_shows_message_and_changes_nothing(session: Any, workspace: Path) -> None:
    pg, watch = session
    before = _digest(workspace)
    _open(pg, workspace)
    _upload(pg, "outfall.geojson", b'{"type": "FeatureCollection", "features": [{"type": "Fe')
    error = pg.locator("[data-testid=stAlertContentError]").filter(has_text="outfall.geojson")
    error.wait_for(timeout=WAIT)
    assert "JSON" in error.inner_text(), error.inner_text()
    assert "Traceback" not in pg.locator(MAIN).inner_text()
    assert pg.get_by_role("button", name="Save", exact=True).count() == 0
    assert _digest(workspace) == before
    assert watch.external == [], watch.external


def _draw_point(pg: Any, frame: Any, x: int, y: int) -> None:
    frame.locator(".leaflet-draw-draw-marker").click()
    frame.locator(".leaflet-container").click(position={"x": x, "y": y})
    pg.get_by_text("Drawn, not saved yet", exact=False).wait_for(timeout=WAIT)


def test_draw_a_point_fill_the_form_save_it_persists(session: Any, workspace: Path) -> None:
    pg, watch = session
    frame = _open(pg, workspace, mode="Draw and edit")
    on_map = frame.locator(".cs-layer-discharge_points").count()
    _draw_point(pg, frame, 260, 470)
    pg.get_by_label("Name", exact=True).fill("Drawn outfall")
    pg.get_by_label("discharge type").fill("rainwater")
    pg.get_by_role("button", name="Save feature").click()
    pg.get_by_text("Saved layer 'discharge_points'", exact=False).wait_for(timeout=WAIT)
    saved = _discharge_points(workspace)
    row = saved[saved["name"] == "Drawn outfall"]
    assert len(row) == 1
    assert row.iloc[0]["discharge_type"] == "rainwater" and row.iloc[0]["aws_ref"] == SITE
    assert row.iloc[0]["accuracy"] == "illustrative" and row.iloc[0].geometry.geom_type == "Point"
    # the map is drawn again from the store: one more discharge point on it
    _wait_on_map(pg, ".cs-layer-discharge_points", on_map + 1)
    # reload the page (a new session): the point is still on the map
    frame = _open(pg, workspace, reload=True)
    _wait_on_map_text(pg, "Drawn outfall")
    assert frame.locator(".cs-layer-discharge_points").count() == on_map + 1
    assert watch.external == [] and watch.errors == [], (watch.external, watch.errors)


def test_second_session_saving_a_stale_layer_is_refused(session: Any, browser: Any,  # noqa: F811
                                                        workspace: Path) -> None:
    pg_a, watch = session
    context_b = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        pg_b = context_b.new_page()
        pg_b.context.server_url = pg_a.context.server_url
        frame_b, frame_a = _open_side_by_side([pg_b, pg_a], workspace, "Draw and edit")
        _draw_point(pg_a, frame_a, 260, 470)
        pg_a.get_by_label("Name", exact=True).fill("From A")
        pg_a.get_by_role("button", name="Save feature").click()
        pg_a.get_by_text("Saved layer 'discharge_points'", exact=False).wait_for(timeout=WAIT)
        _draw_point(pg_b, frame_b, 300, 500)
        pg_b.get_by_label("Name", exact=True).fill("From B")
        pg_b.get_by_role("button", name="Save feature").click()
        error = pg_b.locator("[data-testid=stAlertContentError]").filter(
            has_text="changed since you loaded it")
        error.wait_for(timeout=WAIT)
        assert "discharge_points" in error.inner_text() and "Nothing was saved" in \
            error.inner_text()
        names = set(_discharge_points(workspace)["name"])
        assert "From A" in names and "From B" not in names
        # reload, then the same drawing saves on top of A's
        pg_b.get_by_role("button", name="Reload discharge_points").click()
        pg_b.get_by_text("Reloaded layer 'discharge_points'", exact=False).wait_for(timeout=WAIT)
        pg_b.get_by_label("Name", exact=True).fill("From B")
        pg_b.get_by_role("button", name="Save feature").click()
        pg_b.get_by_text("Saved layer 'discharge_points'", exact=False).wait_for(timeout=WAIT)
        assert {"From A", "From B"} <= set(_discharge_points(workspace)["name"])
    finally:
        context_b.close()
    assert watch.external == [], watch.external


def test_select_a_feature_drag_it_with_the_edit_tool_and_save(session: Any,
                                                              workspace: Path) -> None:
    pg, watch = session
    frame = _open(pg, workspace, mode="Draw and edit")
    # a click on the point's own element (points of a site overlap at this zoom)
    frame.locator("path.cs-layer-discharge_points").last.dispatch_event("click")
    pg.get_by_text("Selected feature", exact=True).wait_for(timeout=WAIT)
    fid = pg.locator(MAIN).inner_text().split("Selected feature\n", 1)[1].split("\n")[1] \
        .rsplit(" · ", 1)[-1]
    before = open_workspace(workspace).load("discharge_points").set_index("fid").geometry[fid]
    _idle(pg)  # the map is drawn again with the feature under the edit tool
    frame = _edit_map(pg)
    frame.locator("img.leaflet-marker-icon").first.wait_for(timeout=WAIT)
    frame.locator(".leaflet-draw-edit-edit").click()
    marker = frame.locator(".leaflet-marker-draggable").first
    box = marker.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] - 3
    pg.mouse.move(x, y)
    pg.mouse.down()
    pg.mouse.move(x + 60, y + 40, steps=8)
    pg.mouse.up()
    frame.get_by_text("Save", exact=True).click()
    pg.get_by_role("button", name=f"Use this shape for {fid}").click()
    pg.get_by_text("Saved layer 'discharge_points'", exact=False).wait_for(timeout=WAIT)
    after = open_workspace(workspace).load("discharge_points").set_index("fid").geometry[fid]
    assert after.x > before.x and after.y < before.y  # dragged right and down
    history = store.history(open_workspace(workspace), "discharge_points")
    assert history[-1].summary == f"edited geometry of {fid}"
    assert watch.external == [], watch.external


def _selected_fid(pg: Any) -> str:
    text = pg.locator(MAIN).inner_text()
    return text.split("Selected feature\n", 1)[1].split("\n")[1].rsplit(" · ", 1)[-1]


def test_selecting_another_feature_offers_no_new_drawing(session: Any, workspace: Path) -> None:
    """The feature put under the edit tool is not a 'new drawing' once another is picked."""
    pg, watch = session
    frame = _open(pg, workspace, mode="Draw and edit")
    frame.locator("path.cs-layer-discharge_points").last.dispatch_event("click")
    pg.get_by_text("Selected feature", exact=True).wait_for(timeout=WAIT)
    first = _selected_fid(pg)
    _idle(pg)
    frame = _edit_map(pg)
    frame.locator("img.leaflet-marker-icon").first.wait_for(timeout=WAIT)  # under the tool
    frame.locator("path.cs-layer-discharge_points").first.dispatch_event("click")
    pg.wait_for_function(
        "first => { const m = document.querySelector('[data-testid=stMain]');"
        " return m && m.innerText.includes('Selected feature') && !m.innerText.includes(first); }",
        arg=f" · {first}", timeout=WAIT)
    _idle(pg)
    main = pg.locator(MAIN).inner_text()
    assert "New point" not in main and "Drawn, not saved" not in main, main[:600]
    assert pg.get_by_role("button", name=re.compile("^Use this shape for")).count() == 0
    assert watch.external == [], watch.external


def test_a_parcel_round_the_town_is_saved_only_when_confirmed(session: Any,
                                                              workspace: Path) -> None:
    pg, watch = session
    frame = _open(pg, workspace, mode="Draw and edit")
    frame.locator("body").evaluate("() => map.setZoom(11, {animate: false})")
    frame.locator(".leaflet-draw-draw-polygon").click()
    container = frame.locator(".leaflet-container")
    corners = [(150, 250), (450, 250), (450, 500), (150, 500)]  # ~20 × 16 km at zoom 11
    for x, y in [*corners, corners[0]]:  # the first vertex again closes the ring
        # as a hand does: move there, press, release (Leaflet.draw follows the pointer);
        # where the map is on the page is read each time (the page may have scrolled)
        box = container.bounding_box()
        pg.mouse.move(box["x"] + x, box["y"] + y, steps=4)
        pg.mouse.down()
        pg.mouse.up()
    pg.get_by_text("New polygon", exact=True).wait_for(timeout=WAIT)
    choose(pg, "Layer", "Site parcels")
    pg.get_by_label("Name", exact=True).fill("Round the town")
    pg.get_by_role("button", name="Save feature").click()
    warning = pg.get_by_text("the site area its record states", exact=False)
    warning.wait_for(timeout=WAIT)
    assert "Round the town" not in set(open_workspace(workspace).load("sites")["name"])
    pg.get_by_text("Save it anyway: I have checked its size").click()
    pg.get_by_role("button", name="Save feature").click()
    pg.get_by_text("Saved layer 'sites'", exact=False).wait_for(timeout=WAIT)
    assert "Round the town" in set(open_workspace(workspace).load("sites")["name"])
    assert watch.external == [], watch.external


def _open_history(pg: Any) -> None:
    """Open "History and undo" once the runs are over (again if a rerun redrew it closed)."""
    layer = pg.get_by_role("combobox", name="Layer", exact=True)
    for _ in range(4):
        _idle(pg)
        if layer.is_visible():
            return
        pg.get_by_text("History and undo", exact=True).click()
        _idle(pg)
    layer.wait_for(timeout=10_000)


def test_after_an_undo_the_map_is_drawn_with_all_its_layers(session: Any,
                                                           workspace: Path) -> None:
    pg, watch = session
    frame = _open(pg, workspace, mode="Draw and edit")
    parcels = frame.locator(".cs-layer-sites").count()
    on_map = frame.locator(".cs-layer-discharge_points").count()
    _draw_point(pg, frame, 260, 470)
    pg.get_by_label("Name", exact=True).fill("Undone outfall")
    pg.get_by_role("button", name="Save feature").click()
    pg.get_by_text("Saved layer 'discharge_points'", exact=False).wait_for(timeout=WAIT)
    _wait_on_map(pg, ".cs-layer-discharge_points", on_map + 1)
    _idle(pg)
    _open_history(pg)
    choose(pg, "Layer", "Discharge points")
    pg.get_by_role("button", name="Undo the last save").click()
    pg.get_by_text("Undone:", exact=False).wait_for(timeout=WAIT)
    assert "Undone outfall" not in set(_discharge_points(workspace)["name"])
    _idle(pg)
    # the map is there, with every layer, the point gone (not a blank map)
    frame = _edit_map(pg)
    frame.locator(".cs-layer-sites").first.wait_for(state="attached", timeout=60_000)
    assert frame.locator(".cs-layer-sites").count() == parcels
    assert frame.locator(".cs-layer-discharge_points").count() == on_map
    assert frame.locator(".leaflet-container").bounding_box()["height"] > 300
    assert "Undone outfall" not in frame.content()
    assert watch.external == [] and watch.errors == [], (watch.external, watch.errors)
