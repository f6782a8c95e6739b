"""The app in a real headless Chromium (Playwright + Debian's /usr/bin/chromium).

A real ``streamlit run app.py`` is started on a free port.  Every request the page makes
is logged and anything not addressed to this machine is aborted and fails the test: the
app must work offline.  In CI (CI=true) missing Chromium or Playwright fails the tests;
elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from tests.conftest import HOSTILE_VALUES

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
MAP_FRAME = "iframe[src*='st_folium']"
#: How long a test waits for what a rerun shows (a save, an import's preview, a tab): an
#: upper bound for a loaded CI machine, not a speed target; waits end when it appears.
WAIT = 90_000
#: Extra hostile values that would set a flag instead of opening a dialog.
FLAG_VALUES = ("<img src=x onerror=\"window.top.__pwned=1\">",
               "${window.top.__pwned=2}", "{{ 7*7 }}")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: str) -> None:
    """Wait (up to 60 s) until a started Streamlit server answers its health check."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the server did not start; see {log}")
        time.sleep(0.3)


@contextlib.contextmanager
def streamlit_server(folder: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``streamlit run app.py`` on a free port (log in ``folder``), stopped afterwards."""
    port = _free_port()
    log = open(folder / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"),
         "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"],
        # .streamlit/config.toml (no usage statistics) applies: cwd is the repository
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log.name)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # The demo copy a test may make goes to a temporary folder, not the user's.
    folder = tmp_path_factory.mktemp("streamlit")
    with streamlit_server(folder, {"XDG_DATA_HOME": str(folder / "xdg")}) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    if not Path(CHROMIUM).exists():
        _unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Watch:
    """What a page did: console errors, dialogs, requests that tried to leave the machine."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.external: list[str] = []


@contextlib.contextmanager
def offline_page(browser: Any, *, console: bool = True,
                 **options: Any) -> Iterator[tuple[Any, Watch]]:
    """A page in its own context (``options``: viewport, touch…) that cannot leave the machine.

    Requests beyond this machine are aborted and listed in ``watch.external``; script
    errors (and, with ``console``, console errors) go to ``watch.errors``, dialogs to
    ``watch.dialogs`` (dismissed).
    """
    context = browser.new_context(**options)
    context.set_default_timeout(WAIT)  # clicks and fills too, not Playwright's 30 s
    watch = Watch()

    def route(route: Any) -> None:
        host = urlparse(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            watch.external.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    pg = context.new_page()
    if console:
        pg.on("console", lambda m: watch.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: watch.errors.append(str(e)))
    def dialog(d: Any) -> None:
        watch.dialogs.append(d.message)
        d.dismiss()

    pg.on("dialog", dialog)
    try:
        yield pg, watch
    finally:
        context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, Watch]]:
    with offline_page(browser, viewport={"width": 1400, "height": 1000}) as opened:
        yield opened


def _map(pg: Any, min_paths: int = 1) -> Any:
    # Generous: a cold server's first run (imports, assessment) under a loaded CI machine
    pg.wait_for_selector(MAP_FRAME, timeout=120_000)
    frame = pg.frame_locator(MAP_FRAME)
    # attached, not visible: the map frames the site, so other layers' paths lie outside
    frame.locator(".leaflet-overlay-pane path").nth(min_paths - 1).wait_for(state="attached",
                                                                            timeout=120_000)
    return frame


def _open_folder(pg: Any, path: Path) -> None:
    """Type a workspace folder as a user does; again if a rerun redrew the field meanwhile."""
    pg.get_by_text("Folder on this machine").click()
    field = pg.get_by_placeholder("/path/to/workspace (holds layers/ and data/)")
    asking = pg.get_by_text("Type the path of a workspace folder.")
    for _ in range(4):
        _idle(pg)
        field.fill(str(path))
        field.press("Enter")
        _idle(pg)
        if field.input_value() == str(path) and not asking.is_visible():
            return
    raise AssertionError(f"the app did not take the folder {path}")


def _open_legend(frame: Any) -> None:
    """Open the map's legend (closed by default where it would cover much of the map)."""
    frame.locator(".cs-legend details").evaluate("d => { d.open = true; }")


def open_tab(pg: Any, name: str) -> Any:
    """Open a tab once the run is over (again if a rerun redrew it); return its panel."""
    tab = pg.get_by_role("tab", name=name)
    for _ in range(4):
        _idle(pg)
        tab.click()
        _idle(pg)
        if tab.get_attribute("aria-selected") == "true":
            return pg.locator("[role=tabpanel]:visible").first
    raise AssertionError(f"the {name} tab did not open")


def choose(pg: Any, label: str, option: str) -> None:
    """Pick the option of the selectbox ``label`` whose text starts with ``option``.

    As a person would: open the list, click the option, wait for the run it starts,
    and check the box shows it; again if a rerun closed the list or reset the box.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = pg.get_by_role("combobox", name=label, exact=True)
    wanted = pg.get_by_role("option", name=re.compile("^" + re.escape(option)))
    for _ in range(5):
        _idle(pg)
        if box.input_value().startswith(option):
            return
        box.click()
        try:
            wanted.first.click(timeout=10_000)
        except PlaywrightTimeout:  # the list closed during a rerun: open it again
            pg.keyboard.press("Escape")
    _idle(pg)
    if not box.input_value().startswith(option):
        raise AssertionError(f"could not choose {option!r} in {label!r}: {box.input_value()!r}")


def _idle(pg: Any) -> None:
    """Wait until the script run is over (Streamlit's running indicator has gone)."""
    pg.wait_for_timeout(300)
    pg.wait_for_function("!document.querySelector('[data-testid=stStatusWidget]')",
                         timeout=120_000)


_FIND_UNCOVERED = """(body, cls) => {
    const paths = [...document.querySelectorAll('path.' + cls)];
    for (let i = 0; i < paths.length; i++) {
        const b = paths[i].getBoundingClientRect();
        for (let fy = 0.2; fy < 0.9; fy += 0.1) for (let fx = 0.2; fx < 0.9; fx += 0.1) {
            const x = b.x + b.width * fx, y = b.y + b.height * fy;
            if (document.elementFromPoint(x, y) === paths[i])
                return [i, b.width * fx, b.height * fy];
        }
    }
    return [0, 1, 1];
}"""


def _zoom_to_site(pg: Any, frame: Any, levels: int = 5) -> None:
    """Double-click the site pin (it lets clicks through to the map) to zoom in on it."""
    for _ in range(levels):
        frame.locator(".cs-site-pin").first.dblclick(position={"x": 9, "y": 11}, force=True)
        pg.wait_for_timeout(450)


def _click_uncovered(frame: Any, css_class: str) -> None:
    """Click a feature of a layer where no other feature covers it, as a person would."""
    index, x, y = frame.locator("body").evaluate(_FIND_UNCOVERED, css_class)
    frame.locator(f"path.{css_class}").nth(index).click(position={"x": x, "y": y})


def _demo_layer_ids() -> list[str]:
    from geo.core.workspace import open_workspace

    ws = open_workspace()
    if not ws.records:
        pytest.skip("the demo workspace has no sites yet")
    return [spec.id for spec in ws.specs.values() if not spec.is_raster and spec.visible]


def test_demo_map_loads_offline_with_its_layers(server: str, page: Any) -> None:
    pg, watch = page
    layer_ids = _demo_layer_ids()
    started = time.monotonic()
    pg.goto(server)
    frame = _map(pg, min_paths=20)
    first_map_s = time.monotonic() - started
    for layer_id in layer_ids:
        assert frame.locator(f".cs-layer-{layer_id}").count() > 0, layer_id
    # one layer switcher: the sidebar's (the map has no Leaflet layer control of its own)
    assert frame.locator(".leaflet-control-layers").count() == 0
    sidebar = pg.locator("[data-testid=stSidebarUserContent]").inner_text()
    assert "Water chain (direction of flow)" in sidebar and "Site location" in sidebar
    _open_legend(frame)
    assert frame.locator(".cs-legend").inner_text().count("\n") >= len(layer_ids)
    for control in (".leaflet-control-scale", ".leaflet-control-mouseposition",
                    ".leaflet-control-measure", ".leaflet-control-zoom-fullscreen"):
        assert frame.locator(control).count() == 1, control
    # mouse coordinates follow the pointer; fullscreen works inside Streamlit's iframe
    frame.locator(".leaflet-container").hover(position={"x": 200, "y": 200})
    assert re.search(r"lat, lon: 3\d\.\d{6} , 12\d\.\d{6}",
                     frame.locator(".leaflet-control-mouseposition").inner_text())
    frame.locator(".leaflet-control-zoom-fullscreen").click()
    frame.locator("body").evaluate("() => new Promise(r => document.fullscreenElement ? r(1) "
                                   ": document.addEventListener('fullscreenchange', r))")
    frame.locator(".leaflet-control-zoom-fullscreen").click()  # and back
    frame.locator("body").evaluate("() => new Promise(r => !document.fullscreenElement ? r(1) "
                                   ": document.addEventListener('fullscreenchange', r))")
    # measure a distance, as a person would
    frame.locator(".leaflet-control-measure").hover()
    frame.get_by_text("Create a new measurement").click()
    container = frame.locator(".leaflet-container")
    # two points in the map's left half: the legend takes the lower right corner
    container.click(position={"x": 120, "y": 300})
    container.click(position={"x": 320, "y": 300})
    frame.get_by_text("Finish measurement").click()
    assert "Kilometers" in frame.locator(".leaflet-popup-content").inner_text()
    assert watch.external == [], watch.external
    assert watch.errors == [], watch.errors
    print(f"first map in {first_map_s:.1f} s")  # bench/bench_app.py measures it properly


def test_clicking_a_site_parcel_shows_it_beside_the_map(server: str, page: Any) -> None:
    pg, watch = page
    _demo_layer_ids()
    pg.goto(server)
    frame = _map(pg, min_paths=20)
    _zoom_to_site(pg, frame)
    _click_uncovered(frame, "cs-layer-sites")
    pg.get_by_text("Attributes", exact=True).wait_for(timeout=WAIT)
    main = pg.locator("[data-testid=stMain]").inner_text()
    assert "Site parcels · site" in main and "Provenance" in main
    assert "Certification record" in main and "Findings" in main
    from datetime import date

    from geo.core.workspace import open_workspace

    ends = {r.valid_until for r in open_workspace().records.values()}
    if all(end is not None and end < date.today() for end in ends):  # the demo's: 2026-07-02
        assert "EXPIRED: the certificate ended on" in main  # whichever site was clicked
    assert watch.external == [] and watch.errors == [], (watch.external, watch.errors)


@pytest.fixture
def hostile_workspace(make_workspace) -> Path:
    values = [*HOSTILE_VALUES, *FLAG_VALUES]
    parcels = gpd.GeoDataFrame(
        {"fid": [f"h{i}" for i in range(len(values))], "name": values,
         "aws_ref": ["AWS-000001"] * len(values), "accuracy": ["illustrative"] * len(values),
         "source": values, "note": values},
        geometry=[box(121 + i * 0.002, 31.2, 121.0015 + i * 0.002, 31.2015)
                  for i in range(len(values))], crs="EPSG:4326")
    outfalls = gpd.GeoDataFrame(
        {"fid": ["d1"], "name": [FLAG_VALUES[0]], "aws_ref": ["AWS-000001"]},
        geometry=[Point(121.001, 31.199)], crs="EPSG:4326")
    return make_workspace(
        layers={"evil": ("site", parcels, {}), "outfalls": ("discharge_point", outfalls, {})},
        settings=f"name = {json.dumps(FLAG_VALUES[0] + HOSTILE_VALUES[1])}\n")


def _settled(frame: Any) -> None:
    """Wait until Leaflet has finished fitting the view (no zoom animation running)."""
    frame.locator(".leaflet-container:not(.leaflet-zoom-anim)").wait_for(timeout=WAIT)
    frame.locator("body").evaluate(
        "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def _hover_until_tooltip(frame: Any, path: Any, deadline_s: float = 30) -> Any:
    """Hover a feature until its tooltip shows (a map re-render can swallow one hover)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    tooltip = frame.locator(".leaflet-tooltip").first
    deadline = time.monotonic() + deadline_s
    while True:
        _settled(frame)
        path.hover(force=True)
        try:
            tooltip.wait_for(state="visible", timeout=2_000)
            return tooltip
        except PlaywrightTimeout:  # hover again once the map is still
            if time.monotonic() > deadline:
                raise


def test_hostile_values_show_as_text_and_run_nothing(server: str, page: Any,
                                                      hostile_workspace: Path) -> None:
    pg, watch = page
    requested: list[str] = []
    pg.on("request", lambda request: requested.append(request.url))
    pg.goto(server)
    pg.wait_for_selector(MAP_FRAME, timeout=60_000)
    _open_folder(pg, hostile_workspace)
    pg.get_by_text("AWS-000001", exact=False).first.wait_for(timeout=60_000)
    # Wait for the hostile workspace's own map: the demo map (already on the page, with more
    # paths than this one) stays until the new one replaces it.
    frame = pg.frame_locator(MAP_FRAME)
    parcels = frame.locator("path.cs-layer-evil")
    parcels.nth(len(HOSTILE_VALUES) + len(FLAG_VALUES) - 1).wait_for(timeout=60_000)
    # hover: the tooltip shows a hostile name as text (parcels overlap, so the one under
    # the pointer may be another hostile parcel than the first: any of them, literally)
    tooltip = _hover_until_tooltip(frame, parcels.first)
    shown = tooltip.inner_text()
    assert any(value in shown for value in (*HOSTILE_VALUES, *FLAG_VALUES)), shown
    # click a parcel where nothing covers it (the water chain line crosses some): the side
    # panel shows its name as text (st.text, beside the map)
    _settled(frame)
    index, x, y = frame.locator("body").evaluate(_FIND_UNCOVERED, "cs-layer-evil")
    parcels.nth(index).click(position={"x": x, "y": y})
    name = [*HOSTILE_VALUES, *FLAG_VALUES][index]
    pg.locator("[data-testid=stText]").filter(has_text=name).first.wait_for(timeout=WAIT)
    pg.get_by_text("Attributes", exact=True).wait_for(timeout=WAIT)
    for index in range(parcels.count()):
        parcels.nth(index).hover(force=True)
    # every tooltip has been opened; a script injected by one would have run by now
    frame.locator("body").evaluate(
        "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert watch.dialogs == []
    assert pg.evaluate("window.__pwned") is None
    assert frame.locator("body").evaluate("() => window.top.__pwned") is None
    assert frame.locator(".leaflet-tooltip img, .cs-legend img").count() == 0
    assert "49" not in frame.locator(".leaflet-tooltip").first.inner_text()
    assert not [url for url in requested if urlparse(url).path.endswith("/x")]  # <img src=x>
    assert watch.external == [], watch.external
