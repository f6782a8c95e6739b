"""Benchmark the app's map against issue 4's targets; ends with a table of both.

Run: ``.venv/bin/python bench/bench_app.py`` (needs /usr/bin/chromium and playwright for
the browser figures; they are skipped with a note otherwise).  Prints figures only.

1. Demo sites: bytes st_folium ships to the browser for the map (its component
   arguments: HTML, script with the GeoJSON, raster images; all layers on).
2. Server-side script time (timed inside app.py, via streamlit.testing AppTest): first
   run (cold), rerun with nothing changed (e.g. a click), site switch and layer toggle,
   each the first time and again (warm).
3. The app in headless Chromium: first map, zooming and panning (counted: messages the
   page sends to the server, i.e. reruns), a click on a feature until its attributes
   show, a site switch until the new map is drawn.
4. Synthetic workspace: one 200,000-vertex catchment polygon and 5,000 points:
   preparation time, payload, and time to first map in headless Chromium, as a
   standalone page (offline) and in the running app.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import Polygon

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geo.core.workspace import open_workspace  # noqa: E402
from geo.maps.build import build_map, map_html, map_payload_bytes, prepare_map, render_map  # noqa: E402

# the same uncovered-point finder the browser tests click with
from tests.test_browser import _FIND_UNCOVERED  # noqa: E402

#: (measure, target, measured, met) rows of the final table.
RESULTS: list[tuple[str, str, str, str]] = []


def result(measure: str, target: str, measured: str, met: bool | None) -> None:
    """Record one row of the summary table (met None: a figure without a target)."""
    RESULTS.append((measure, target, measured, "—" if met is None else "yes" if met else "NO"))


ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def kb(n: int) -> str:
    return f"{n / 1000:,.0f} KB"


def demo_payload() -> None:
    from geo.scope.assess import assess_site
    from ui.mapview import _st_folium_args

    ws = open_workspace()
    print("== Demo site maps, all layers on (vector layers, rasters, chain, pins)")
    for ref in sorted(ws.records):
        scope = assess_site(ws, ref)
        started = time.perf_counter()
        data = prepare_map(ws, scope)
        prepared = time.perf_counter()
        args = _st_folium_args(data, "../catchscope_static/", "map", 680, "inspect")
        rendered = time.perf_counter()
        shipped = len(json.dumps(args, default=str).encode())
        vertices = sum(len(shapely.get_coordinates(shapely.from_geojson(
            [json.dumps(f["geometry"]) for f in layer.geojson["features"]])))
            for layer in data.layers)
        print(f"{ref}: st_folium ships {kb(shipped)} (map data {kb(map_payload_bytes(data))}"
              f", {len(data.rasters)} raster overlay(s); Leaflet files served separately, "
              f"cached), {vertices:,} vertices in "
              f"{sum(layer.n_features for layer in data.layers)} features; prepare "
              f"{(prepared - started) * 1000:.0f} ms, render {(rendered - prepared) * 1000:.0f} ms")
        result(f"{ref} map shipped to the browser, all layers on", "<= 500 KB", kb(shipped),
               shipped <= 500_000)
        standalone = map_html(build_map(ws, scope, for_export=True))
        print(f"{ref}: standalone HTML export (Leaflet + plugins inlined) "
              f"{kb(len(standalone.encode()))}")


def rerun_times() -> None:
    from streamlit.testing.v1 import AppTest

    ws = open_workspace()
    refs = sorted(ws.records)
    print("== Server-side script time (timed inside app.py), demo workspace")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)

    def run(label: str, target_ms: float | None = None) -> None:
        at.run()
        assert not at.exception, at.exception
        ms = float(at.session_state["last_run_ms"])
        print(f"{label:<44} {ms:7.0f} ms")
        result(f"server-side: {label}", "—" if target_ms is None else f"<= {target_ms:.0f} ms",
               f"{ms:.0f} ms", None if target_ms is None else ms <= target_ms)

    run("first run (cold: load, assess, prepare)")
    run("rerun, nothing changed (e.g. a map click)", 300)
    site = next(w for w in at.selectbox if w.label == "Site")
    start = site.value
    other = next(r for r in refs if r != start) if len(refs) > 1 else start
    site.set_value(other)
    run(f"switch site to {other} (first time)")
    next(w for w in at.selectbox if w.label == "Site").set_value(start)
    run(f"switch back to {start} (warm)", 300)
    next(w for w in at.selectbox if w.label == "Site").set_value(other)
    run(f"switch to {other} again (warm)", 300)
    def layer_box() -> Any:  # the first layer's checkbox in the sidebar's layer list
        return next(w for w in at.checkbox if w.key and w.key.startswith("show:"))

    layer_box().uncheck()
    run("toggle a layer off (first time)")
    layer_box().check()
    run("toggle it on again (warm)", 300)
    layer_box().uncheck()
    run("toggle it off again (warm)", 300)


def make_synthetic(root: Path) -> Path:
    (root / "layers").mkdir(parents=True)
    (root / "data").mkdir()
    angles = np.linspace(0, 2 * np.pi, 200_000, endpoint=False)
    radius = 0.25 + 0.01 * np.sin(angles * 997) + 0.02 * np.sin(angles * 13)
    ring = np.column_stack([121 + radius * np.cos(angles), 31.3 + radius * np.sin(angles)])
    gpd.GeoDataFrame({"fid": ["big"], "name": ["Synthetic catchment"]},
                     geometry=[Polygon(ring)], crs="EPSG:4326").to_file(
        root / "data" / "catchment.geojson")
    rng = np.random.default_rng(7)
    n = 5_000
    gpd.GeoDataFrame(
        {"fid": [f"w{i}" for i in range(n)], "name": [f"Well {i}" for i in range(n)],
         "aws_ref": ["AWS-000999"] * n, "accuracy": ["surveyed"] * n},
        geometry=shapely.points(rng.uniform(120.8, 121.2, n), rng.uniform(31.1, 31.5, n)),
        crs="EPSG:4326").to_file(root / "data" / "wells.geojson")
    (root / "layers" / "catchment.toml").write_text(
        'id = "catchment"\ntitle = "Synthetic catchment"\nkind = "catchment"\n'
        'source = "catchment.geojson"\n')
    (root / "layers" / "wells.toml").write_text(
        'id = "wells"\ntitle = "Wells"\nkind = "water_source"\nsource = "wells.geojson"\n')
    return root


def synthetic(root: Path) -> Path | None:
    print("== Synthetic workspace: 200,000-vertex catchment + 5,000 points")
    ws = open_workspace(root)
    started = time.perf_counter()
    ws.load("catchment")
    ws.load("wells")
    loaded = time.perf_counter()
    data = prepare_map(ws)
    prepared = time.perf_counter()
    page = render_map(data).get_root().render()
    rendered = time.perf_counter()
    catch = next(layer for layer in data.layers if layer.layer_id == "catchment")
    kept = len(shapely.get_coordinates(shapely.from_geojson(
        json.dumps(catch.geojson["features"][0]["geometry"]))))
    print(f"load {(loaded - started):.2f} s, prepare {(prepared - loaded):.2f} s, render "
          f"{(rendered - prepared):.2f} s; catchment 200,000 -> {kept:,} vertices; "
          f"map data {kb(map_payload_bytes(data))}, map page {kb(len(page.encode()))}")
    result("synthetic: catchment vertices drawn (of 200,000)", "simplified", f"{kept:,}",
           kept < 20_000)
    result("synthetic: map page (5,000 points clustered)", "opens without freezing",
           kb(len(page.encode())), None)
    result("synthetic: prepare + render, server side", "—",
           f"{rendered - loaded:.2f} s", None)
    html_path = root / "map.html"
    html_path.write_text(map_html(build_map(ws)), encoding="utf-8")
    print(f"standalone HTML {kb(html_path.stat().st_size)}")
    return html_path


def _browser():  # type: ignore[no-untyped-def]
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path("/usr/bin/chromium").exists():
        return None
    return sync_playwright


def first_map_standalone(html_path: Path) -> None:
    sync_playwright = _browser()
    if sync_playwright is None:
        print("(browser figures skipped: playwright or /usr/bin/chromium missing)")
        return
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        external: list[str] = []
        page.on("request", lambda r: external.append(r.url)
                if r.url.startswith(("http:", "https:")) else None)
        started = time.perf_counter()
        page.goto(html_path.as_uri())
        page.wait_for_selector("path.cs-layer-catchment", timeout=60_000)
        page.wait_for_selector(".marker-cluster", timeout=60_000)
        first = time.perf_counter() - started
        # responsiveness: a zoom-in must finish promptly (no frozen main thread)
        started = time.perf_counter()
        page.locator(".leaflet-control-zoom-in").click()
        page.wait_for_selector(".leaflet-container:not(.leaflet-zoom-anim)")
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => r(1)))")
        zoom = time.perf_counter() - started
        clusters = page.locator(".marker-cluster").count()
        print(f"Chromium, standalone page (file://, offline): first map {first:.2f} s, "
              f"{clusters} clusters drawn, zoom step answered in {zoom * 1000:.0f} ms, "
              f"{len(external)} network requests")
        result("synthetic, standalone page: time to first map", "no freeze", f"{first:.2f} s",
               first < 10)
        result("synthetic, standalone page: one zoom step", "no freeze",
               f"{zoom * 1000:.0f} ms", zoom < 2)
        browser.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_SETTLED = "() => !document.querySelector('[data-testid=stStatusWidget]')"
#: A map iframe whose window is not the marked (previous) one, with its layers drawn.
_NEW_MAP = """() => { const f = document.querySelector("iframe[src*='st_folium']");
    const w = f && f.contentWindow, d = f && f.contentDocument;
    return !!w && !w.__old && d.querySelectorAll('.leaflet-overlay-pane path').length > 20; }"""


def _in_app_demo(page: Any, port: int, sent: list[float]) -> None:
    """First map, pan/zoom (must not rerun), click -> attributes, site switch -> new map."""
    started = time.perf_counter()
    page.goto(f"http://127.0.0.1:{port}/")
    frame = page.frame_locator("iframe[src*='st_folium']")
    frame.locator(".leaflet-overlay-pane path").nth(20).wait_for(timeout=120_000)
    first = time.perf_counter() - started
    print(f"Chromium, app on the demo workspace (cold server): first map {first:.2f} s")
    result("demo in the app: first map, cold server (imports, assess, prepare)", "—",
           f"{first:.2f} s", None)
    page.wait_for_function(_SETTLED, timeout=60_000)
    page.wait_for_timeout(1500)
    # A click on a feature: until its attributes show beside the map.
    index, x, y = frame.locator("body").evaluate(_FIND_UNCOVERED, "cs-layer-sites")
    before_click = len(sent)
    started = time.perf_counter()
    frame.locator("path.cs-layer-sites").nth(index).click(position={"x": x, "y": y})
    page.get_by_text("Attributes", exact=True).wait_for(timeout=60_000)
    click = time.perf_counter() - started
    print(f"click a site parcel -> its attributes beside the map: {click:.2f} s "
          f"({len(sent) - before_click} message(s) sent: the rerun a click asks for)")
    result("click a feature -> attributes shown (browser, end to end)", "—",
           f"{click:.2f} s", None)
    page.wait_for_function(_SETTLED, timeout=60_000)
    page.wait_for_timeout(1000)
    # Pan and zoom: the page must send nothing to the server (a rerun starts with a message).
    before = len(sent)
    container = frame.locator(".leaflet-container")
    frame.locator(".leaflet-control-zoom-in").click()
    frame.locator(".leaflet-control-zoom-out").click()
    box = container.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 150, box["y"] + 300)
    page.mouse.down()
    page.mouse.move(box["x"] + 250, box["y"] + 350, steps=8)
    page.mouse.up()
    container.hover(position={"x": 150, "y": 300})
    page.mouse.wheel(0, -300)
    page.wait_for_timeout(2000)
    reruns = len(sent) - before
    print(f"zoom in, zoom out, drag, wheel-zoom: {reruns} messages to the server")
    result("pan / zoom in the browser: reruns", "0", str(reruns), reruns == 0)
    page.wait_for_function(_SETTLED, timeout=60_000)
    for attempt in ("first time", "warm"):
        for option in ("All sites", "AWS-000521", "AWS-000522"):
            box_ = page.locator("[data-testid=stSelectbox]").filter(
                has=page.get_by_text("Site", exact=True)).first
            box_.locator("input").first.click()
            frame.locator("body").evaluate("() => { window.__old = 1; }")  # this map's window
            started = time.perf_counter()
            page.get_by_role("option", name=option).first.click()
            page.wait_for_function(_NEW_MAP, timeout=90_000)  # the new map, drawn
            took = time.perf_counter() - started
            page.wait_for_function(_SETTLED, timeout=60_000)
            print(f"switch site to {option} ({attempt}): new map drawn in {took:.2f} s")
            if attempt == "warm":
                result(f"switch site to {option} (warm), browser end to end", "—",
                       f"{took:.2f} s", None)


def first_map_in_app(root: Path) -> None:
    sync_playwright = _browser()
    if sync_playwright is None:
        return
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"),
         "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            sent: list[float] = []
            page.on("websocket", lambda ws: ws.on(
                "framesent", lambda _payload: sent.append(time.perf_counter())))
            _in_app_demo(page, port, sent)
            frame = page.frame_locator("iframe[src*='st_folium']")
            page.get_by_text("Folder on this machine").click()
            field = page.get_by_placeholder("/path/to/workspace (holds layers/ and data/)")
            field.fill(str(root))
            started = time.perf_counter()
            field.press("Enter")
            frame.locator("path.cs-layer-catchment").wait_for(timeout=120_000)
            frame.locator(".marker-cluster").first.wait_for(timeout=120_000)
            took = time.perf_counter() - started
            print(f"Chromium, app on the synthetic workspace: first map {took:.2f} s after "
                  "typing the path (cold)")
            result("synthetic in the app: time to first map (cold)", "no freeze",
                   f"{took:.2f} s", took < 30)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def table() -> None:
    """Print the targets beside the measured values."""
    widths = [max(len(row[i]) for row in [("measure", "target", "measured", "met"), *RESULTS])
              for i in range(4)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print("\n== Issue 4 targets vs measured")
    print(line.format("measure", "target", "measured", "met"))
    print(line.format(*("-" * w for w in widths)))
    for row in RESULTS:
        print(line.format(*row))


def main() -> None:
    demo_payload()
    rerun_times()
    with tempfile.TemporaryDirectory() as tmp:
        root = make_synthetic(Path(tmp) / "synthetic")
        html_path = synthetic(root)
        if html_path is not None:
            first_map_standalone(html_path)
            first_map_in_app(root)
    table()


if __name__ == "__main__":
    main()
