"""Make the screenshots of docs/new-site-example.md: the New site wizard and the new site's map.

Run from the repository root: ``.venv/bin/python docs/newsite_screenshots.py`` (needs the
``[test]`` extra and Chromium at /usr/bin/chromium).  It builds the worked example's
workspace in a temporary folder (the Maipo fixtures, imported), starts the app offline,
walks the wizard as tests/test_browser_newsite.py does and saves
``docs/new-site-draft.png`` (step 4, the draft, before saving) and ``docs/new-site-map.png``
(the new site and its water chain on the map) and ``docs/new-site-legend.png`` (the
map's legend, unscrolled, with the water stress of the site's catchment units).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import maipo_fixtures as mx  # noqa: E402
from tests.test_browser import ARGS, CHROMIUM, _idle, _map, choose, streamlit_server  # noqa: E402
from tests.test_browser_newsite import REF, _click, one_map, walk_wizard  # noqa: E402


def _whole(pg: Any, element: Any, path: Path) -> None:
    """Screenshot ``element`` with the window as tall as it, capped at 4,000 px.

    Streamlit paints only what is in view.
    """
    box = element.bounding_box()
    height = int(box["y"] + box["height"]) + 40 if box else 800
    pg.set_viewport_size({"width": 1280, "height": min(height, 4000)})
    _idle(pg)
    pg.mouse.move(0, 0)
    element.screenshot(path=path, animations="disabled")
    pg.set_viewport_size({"width": 1280, "height": 800})
    print(path.relative_to(REPO))


def main() -> None:
    """Build the example, walk the wizard, save the two pictures."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, \
            streamlit_server(Path(tmp), {"XDG_DATA_HOME": f"{tmp}/xdg"}) as url, \
            sync_playwright() as playwright:
        root = mx.build_workspace(Path(tmp) / "maipo")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 800})
        pg.goto(url)
        _idle(pg)
        panel = walk_wizard(pg, root, until_draft=True)
        _whole(pg, panel, REPO / "docs" / "new-site-draft.png")
        _click(pg, panel, f"Create {REF}")
        panel.get_by_text(f"Created {REF}", exact=False).wait_for(timeout=120_000)
        choose(pg, "Site", REF)
        one_map(pg)
        frame = _map(pg)
        frame.locator(".cs-layer-sites").first.wait_for(state="attached", timeout=120_000)
        frame.locator(".cs-zoomto select").select_option(label="Water chain")
        pg.wait_for_timeout(1500)
        frame.locator(".cs-legend details").evaluate("d => { d.open = true; }")
        pg.locator("iframe[src*='st_folium']").scroll_into_view_if_needed()
        pg.get_by_role("heading", name=REF, exact=False).scroll_into_view_if_needed()
        _idle(pg)
        pg.mouse.move(0, 0)
        pg.screenshot(path=REPO / "docs" / "new-site-map.png", animations="disabled")
        print("docs/new-site-map.png")
        legend = frame.locator(".cs-legend")
        legend.evaluate("d => { d.style.maxHeight = 'none'; }")  # the whole legend, unscrolled
        legend.screenshot(path=REPO / "docs" / "new-site-legend.png", animations="disabled")
        print("docs/new-site-legend.png")
        browser.close()


if __name__ == "__main__":
    main()
