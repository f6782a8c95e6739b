"""Accessibility scan (axe-core) of the app's main page and of the standalone HTML map.

axe-core is the copy bundled in the ``axe-playwright-python`` wheel (the ``[test]``
extra, pinned in constraints.txt): no network.  axe runs in each frame on its own (the
app's own document, tab by tab, and the map's iframe) and the test fails on any
*critical* violation, and on a *serious* one in the app's own document; the failure
message lists them with the elements they hit.  Run
``pytest tests/test_browser_a11y.py -s`` to see the counts per impact.
"""
# ruff: noqa: F811  (the server/browser/page fixtures are imported from tests/test_browser.py)
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.test_browser import (  # noqa: F401  (fixtures)
    MAP_FRAME,
    Watch,
    _idle,
    browser,
    open_tab,
    page,
    server,
)

pytestmark = pytest.mark.browser

REF = "AWS-000522"
#: Rules axe cannot judge on a Leaflet map fairly: none. Kept empty on purpose; a rule
#: added here must say why.
DISABLED_RULES: dict[str, str] = {}


def _axe_script() -> str:
    try:
        from axe_playwright_python.base import AXE_SCRIPT
    except ImportError:  # the [test] extra installs it
        pytest.skip("axe-playwright-python is not installed (pip install -e '.[test]')")
    return str(AXE_SCRIPT)


def scan(frame: Any, *, exclude: list[str] | None = None) -> list[dict[str, Any]]:
    """axe-core's violations in one frame (a Playwright Page or Frame), iframes excluded.

    Each frame is scanned on its own (the map's iframe separately), so a violation names
    the document it is in.
    """
    if not frame.evaluate("() => typeof window.axe !== 'undefined'"):
        frame.evaluate(_axe_script())
    options = {"resultTypes": ["violations"], "iframes": False,
               "rules": {rule: {"enabled": False} for rule in DISABLED_RULES}}
    context = {"exclude": [[s] for s in (exclude or [])]} if exclude else None
    result = frame.evaluate(
        "([context, options]) => axe.run(context || document, options)", [context, options])
    return list(result["violations"])


def counts(violations: list[dict[str, Any]]) -> dict[str, int]:
    """Violated nodes per impact (critical, serious, moderate, minor)."""
    tally: Counter[str] = Counter()
    for violation in violations:
        tally[str(violation.get("impact"))] += len(violation["nodes"])
    return dict(tally)


def _report(violations: list[dict[str, Any]], impacts: tuple[str, ...]) -> str:
    lines = []
    for violation in violations:
        if violation.get("impact") in impacts:
            targets = [f"{node['html'][:120]} ({(node.get('failureSummary') or '')[-120:]})"
                       for node in violation["nodes"][:5]]
            lines.append(f"{violation['impact']} {violation['id']}: {violation['help']} "
                         f"({len(violation['nodes'])} nodes) e.g. {json.dumps(targets)}")
    return "\n".join(lines)


def _print(where: str, violations: list[dict[str, Any]]) -> None:
    print(f"\naxe {where}: {counts(violations)}")  # -s shows the figures
    report = _report(violations, ("critical", "serious", "moderate", "minor"))
    if report:
        print(report)


def map_drawn(pg: Any) -> Any:
    """The app's map iframe once its vector layers are in the page (in view or not)."""
    pg.wait_for_selector(MAP_FRAME, timeout=120_000)
    frame = pg.frame_locator(MAP_FRAME)
    frame.locator(".leaflet-overlay-pane path").first.wait_for(state="attached",
                                                               timeout=120_000)
    return frame


def _open_site(pg: Any, server: str) -> None:
    pg.goto(server)
    map_drawn(pg)
    site = pg.get_by_role("combobox", name="Site")
    if REF not in site.input_value():
        site.click()
        pg.keyboard.type(REF)
        pg.keyboard.press("Enter")
    pg.get_by_role("heading", name=REF, exact=False).wait_for(timeout=120_000)
    _idle(pg)
    map_drawn(pg)


#: The tabs scanned besides the one open at start (hidden tabs are not scanned by axe).
TABS = ("Site record", "IWRAs", "Map vs report", "Export")


def test_main_page_has_no_critical_accessibility_violations(server: str, page: Any) -> None:
    pg, watch = page
    _open_site(pg, server)
    pg.get_by_role("tab", name="1.1.1 checklist").wait_for()
    main = scan(pg.main_frame, exclude=["iframe"])
    _print("app page (inspect mode, demo, 1.1.1 checklist tab)", main)
    mapframe = next(f for f in pg.frames if "st_folium" in f.url)
    in_map = scan(mapframe)
    _print("app map iframe", in_map)
    found = list(main)
    for name in TABS:
        open_tab(pg, name)
        tab = scan(pg.main_frame, exclude=["iframe"])
        _print(f"app page, {name} tab", tab)
        found += tab
    # the app's own page (ui/): nothing critical or serious; the map's iframe (geo/maps):
    # nothing critical
    serious = [v for v in found if v.get("impact") in ("critical", "serious")]
    assert not serious, _report(found, ("critical", "serious"))
    critical = [v for v in in_map if v.get("impact") == "critical"]
    assert not critical, _report(in_map, ("critical", "serious"))
    assert watch.external == [], watch.external


def test_html_map_export_has_no_critical_accessibility_violations(
        browser: Any, tmp_path: Path) -> None:
    from geo.core.workspace import open_workspace
    from geo.export.site import export_bytes

    ws = open_workspace()
    if REF not in ws.records:
        pytest.skip(f"the demo workspace has no {REF}")
    name, _, payload = export_bytes(ws, REF, "html")
    path = tmp_path / name
    path.write_bytes(payload)
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    watch = Watch()

    def route(route: Any) -> None:  # the file and its data: URIs; nothing else
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            watch.external.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    pg = context.new_page()
    try:
        pg.goto(path.as_uri())
        pg.locator(".cs-legend").wait_for(timeout=60_000)
        pg.locator(".leaflet-overlay-pane path").first.wait_for(state="attached",
                                                                timeout=60_000)
        violations = scan(pg.main_frame)
    finally:
        context.close()
    _print("standalone HTML map export", violations)
    # nothing critical or serious: the page names its language and has a title
    serious = [v for v in violations if v.get("impact") in ("critical", "serious")]
    assert not serious, _report(violations, ("critical", "serious"))
    assert watch.external == [], watch.external
