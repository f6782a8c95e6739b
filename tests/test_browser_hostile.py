"""The hostile workspace corpus in a real headless Chromium: nothing from data runs.

The workspace made of every inert file of ``tests/hostile/`` (see its MANIFEST.toml) is
opened in the app (sidebar "Folder on this machine") and exported as the standalone
HTML map; every tooltip and popup is opened at once, and the pages are searched for
what only data could have put there (``tests/hostile_corpus.py:INJECTED_JS``: inline
event handlers, ``javascript:`` URLs, ``<img src=x>``, images from the network, the
``__pwned`` flag).  Dialogs are counted by Playwright.  A workspace holding the known
``[style] dash`` break-out is refused with the file and field named.  Run with ``-s``
for the counts.  The server, browser and page fixtures come from tests/test_browser.py.
"""

# ruff: noqa: F811  (the server/browser/page fixtures are imported from tests/test_browser.py)
from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.hostile_corpus import (
    HOSTILE,
    IMAGES_SETTLED_JS,
    INJECTED_JS,
    OPEN_ALL_JS,
    SITE,
    SSTI_MARK,
    entries,
    inert_workspace,
    refusal,
)
from tests.test_browser import (  # noqa: F401  (fixtures)
    MAP_FRAME,
    WAIT,
    Watch,
    _idle,
    _open_folder,
    _settled,
    browser,
    page,
    server,
)

pytestmark = pytest.mark.browser

_TWO_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


@pytest.fixture(scope="module")
def hostile_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return inert_workspace(tmp_path_factory.mktemp("hostile") / "ws")


def _corpus_counts() -> str:
    refused = [e for e in entries() if e.expect == "refused"]
    inert = [e for e in entries() if e.expect == "inert"]
    clean = sum(refusal(e).clean for e in refused)
    return (f"{len(entries())} files: refused cleanly {clean}/{len(refused)}, "
            f"loaded inert {len(inert)}/{len(inert)}")


def _everything_opened(frame: Any) -> dict[str, int]:
    """Open every tooltip and popup, then wait until each image has loaded or failed."""
    opened: dict[str, int] = frame.evaluate(OPEN_ALL_JS)
    frame.wait_for_function(IMAGES_SETTLED_JS, timeout=WAIT)
    frame.evaluate(_TWO_FRAMES)
    return opened


def _injected(frame: Any) -> list[str]:
    found = frame.evaluate(INJECTED_JS)
    return [*found["found"], *([f"__pwned={found['pwned']}"] if found["pwned"] is not None
                               else [])]


def test_standalone_html_export_runs_nothing(browser: Any, hostile_root: Path,
                                             tmp_path: Path) -> None:
    from geo.core.workspace import open_workspace
    from geo.export.site import export_bytes

    ws = open_workspace(hostile_root)
    name, _, payload = export_bytes(ws, SITE, "html")
    path = tmp_path / name
    path.write_bytes(payload)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    watch = Watch()

    def route(route: Any) -> None:  # the page itself and its data: URIs; nothing else
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            watch.external.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    pg = context.new_page()
    pg.on("dialog", lambda d: (watch.dialogs.append(d.message), d.dismiss()))
    pg.on("pageerror", lambda e: watch.errors.append(str(e)))
    try:
        pg.goto(path.as_uri())
        pg.locator(".cs-legend").wait_for(timeout=60_000)
        pg.locator(".leaflet-overlay-pane path").first.wait_for(timeout=60_000)
        opened = _everything_opened(pg)
        injected = _injected(pg)
        legend = pg.locator(".cs-legend").inner_text()
        controls = pg.locator(".leaflet-control-layers").text_content() or ""  # collapsed
        raster = pg.locator(".cs-raster-legend").inner_text()
        popups = pg.locator(".leaflet-popup-content").all_inner_texts()
    finally:
        context.close()
    print(f"\nhostile corpus: {_corpus_counts()}")
    print(f"standalone HTML export: {opened['tooltips']} tooltips and {opened['popups']} popups "
          f"opened; dialogs {len(watch.dialogs)}, injected elements {len(injected)}")
    assert opened["tooltips"] >= 20 and opened["popups"] >= 20
    assert watch.dialogs == [] and injected == [], (watch.dialogs, injected)
    assert watch.errors == [] and watch.external == [], (watch.errors, watch.external)
    for spec in ws.specs.values():  # every title reads as its own text
        if spec.is_raster:
            assert spec.title in raster and spec.title in controls
        else:
            assert spec.title in legend, spec.title
    assert ws.records[SITE].label in legend
    assert any("<img src=x onerror=alert(1)>" in text for text in popups)
    assert SSTI_MARK not in legend + controls + raster + "".join(popups)


def _open_tab(pg: Any, name: str, shows: str) -> None:
    """Open a tab once the script run is over; again if a rerun redrew it unselected."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(4):
        _idle(pg)
        pg.get_by_role("tab", name=name).click()
        try:
            pg.get_by_text(shows).first.wait_for(timeout=20_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"the {name} tab did not open")


def test_app_shows_the_hostile_workspace_as_text(server: str, page: Any,
                                                 hostile_root: Path) -> None:
    pg, watch = page
    pg.goto(server)
    pg.wait_for_selector(MAP_FRAME, timeout=120_000)
    _open_folder(pg, hostile_root)
    frame = pg.frame_locator(MAP_FRAME)
    # the hostile workspace's own map (10 parcels), not the demo's still on the page
    frame.locator("path.cs-layer-title_script").nth(9).wait_for(timeout=120_000)
    _settled(frame)
    map_frame = next(f for f in pg.frames if "st_folium" in f.url)
    opened = _everything_opened(map_frame)
    # the panels: checklist (one-catchment verdict), water chain (lines and gaps), record
    _open_tab(pg, "Water chain", "Blue: supply side")
    _open_tab(pg, "Site record", "The record as stored (JSON)")
    _open_tab(pg, "1.1.1 checklist", "0.1.1.1 one catchment")
    _idle(pg)
    pg.wait_for_function(IMAGES_SETTLED_JS, timeout=WAIT)
    injected = _injected(pg.main_frame) + _injected(map_frame)
    header = pg.get_by_role("heading", level=2).first.inner_text()
    legend = map_frame.locator(".cs-legend").text_content() or ""  # open or closed
    main = pg.locator("[data-testid=stMain]").inner_text()
    print(f"\napp: {opened['tooltips']} tooltips opened, tabs Water chain, Site record, "
          f"checklist; dialogs {len(watch.dialogs)}, injected elements {len(injected)}")
    assert opened["tooltips"] >= 20
    assert watch.dialogs == [] and injected == [], (watch.dialogs, injected)
    assert watch.external == [], watch.external
    from geo.core.workspace import open_workspace

    ws = open_workspace(hostile_root)
    assert ws.settings.name in header  # Markdown escaped: shown as typed
    for spec in ws.specs.values():
        if not spec.is_raster:
            assert spec.title in legend, spec.title
    assert "0.1.1.1 one catchment" in main
    assert SSTI_MARK not in main + legend


@pytest.mark.parametrize(("layer_file", "key", "says"), [
    ("style_dash_svg_breakout.toml", "dash", "style.dash: dash must be numbers separated by"),
    # the refusal quotes the value, and st.error shows Markdown: an image unless escaped
    ("style_color_markdown.toml", "color", "style.color: colour must be '#rgb', '#rrggbb'"),
])
def test_app_refuses_a_hostile_layer_file_naming_file_and_field(
        server: str, page: Any, hostile_root: Path, tmp_path: Path, layer_file: str, key: str,
        says: str) -> None:
    pg, watch = page
    root = tmp_path / "ws"
    shutil.copytree(hostile_root, root)
    shutil.copy2(HOSTILE / "layers" / layer_file, root / "layers")
    value = tomllib.loads((HOSTILE / "layers" / layer_file).read_text())["style"][key]
    pg.goto(server)
    pg.wait_for_selector(MAP_FRAME, timeout=120_000)
    _open_folder(pg, root)
    alert = pg.locator("[data-testid=stAlertContentError]").filter(
        has_text=f"{layer_file}: invalid layer file")
    alert.wait_for(timeout=60_000)
    text = alert.inner_text()
    _idle(pg)
    pg.wait_for_function(IMAGES_SETTLED_JS, timeout=WAIT)
    injected = _injected(pg.main_frame)
    print(f"\napp, workspace with {layer_file}: refused; dialogs {len(watch.dialogs)}, "
          f"injected elements {len(injected)}")
    assert says in text
    assert value in text  # the refused value, quoted as text
    assert watch.dialogs == [] and injected == [], (watch.dialogs, injected)
