"""Make the screenshots in docs/ of the app: the map, the 1.1.1 checklist, the site record.

Run from the repository root: ``.venv/bin/python docs/screenshots.py`` (needs the
``[test]`` extra and Chromium at /usr/bin/chromium).  It starts the app on the bundled
demo (offline, a temporary data folder), picks the demo site AWS-000522 and saves
``docs/checklist.png``, ``docs/site-record.png`` and ``docs/map-vs-report.png`` at 1280 px
wide, and the page as a user
first sees it (the map framed on the site, its legend, the layer list) on a 1280×720 screen
(``docs/map-1280x720.png``) and a 390×844 phone (``docs/map-phone.png``), and in Chinese
(``?lang=zh-CN``) on a 1280×800 screen (``docs/map-zh-CN.png``).  Name pictures to make only
those: ``docs/screenshots.py map-vs-report.png checklist.png``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.test_browser import (  # noqa: E402
    ARGS,
    CHROMIUM,
    _idle,
    open_tab,
    streamlit_server,
)

SITE = "AWS-000522"
SHOTS = {"1.1.1 checklist": "checklist.png", "Site record": "site-record.png",
         "Map vs report": "map-vs-report.png"}
#: (width, height, interface language or None for the default) -> picture
SCREENS = {(1280, 720, None): "map-1280x720.png", (390, 844, None): "map-phone.png",
           (1280, 800, "zh-CN"): "map-zh-CN.png"}
MAP_FRAME = "iframe[src*='st_folium']"


def main(only: set[str]) -> None:
    """Start the app, open each tab and save a screenshot of the tab's panel.

    ``only``: the file names to make (all when empty).
    """
    from playwright.sync_api import sync_playwright

    shots = {tab: name for tab, name in SHOTS.items() if not only or name in only}
    screens = {size: name for size, name in SCREENS.items() if not only or name in only}

    with tempfile.TemporaryDirectory() as tmp, \
            streamlit_server(Path(tmp), {"XDG_DATA_HOME": f"{tmp}/xdg"}) as url, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 720})
        pg.goto(f"{url}/?site={SITE}")
        pg.get_by_role("heading", name=SITE, exact=False).wait_for(timeout=120_000)
        for tab, name in shots.items():
            panel = open_tab(pg, tab)
            panel.wait_for()
            _idle(pg)
            # Streamlit scrolls inside its own main area and leaves unpainted what is out of
            # view: a window as tall as the panel paints it whole (capped at 4,000 px)
            box = panel.bounding_box()
            height = int(box["y"] + box["height"]) + 40 if box else 720
            pg.set_viewport_size({"width": 1280, "height": min(height, 4000)})
            _idle(pg)
            pg.mouse.move(0, 0)  # no hover effect (heading anchors) in the picture
            panel.screenshot(path=REPO / "docs" / name, animations="disabled")
            pg.set_viewport_size({"width": 1280, "height": 720})
            print(f"docs/{name}")
        for (width, height, lang), name in screens.items():
            screen = browser.new_page(viewport={"width": width, "height": height})
            screen.goto(f"{url}/?site={SITE}" + (f"&lang={lang}" if lang else ""))
            screen.wait_for_selector(MAP_FRAME, timeout=120_000)
            frame = screen.frame_locator(MAP_FRAME)
            frame.locator(".cs-layer-sites").first.wait_for(timeout=120_000)
            _idle(screen)
            frame.locator(".leaflet-container:not(.leaflet-zoom-anim)").wait_for()
            if width < 500:  # on a phone the map is below the title: show it
                screen.locator(MAP_FRAME).scroll_into_view_if_needed()
            screen.mouse.move(0, 0)
            screen.screenshot(path=REPO / "docs" / name, animations="disabled")
            screen.close()
            print(f"docs/{name}")
        browser.close()


if __name__ == "__main__":
    main(set(sys.argv[1:]))
