"""Links that open the same view: the app's URL carries site, layers, map mode and tab."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.test_browser import (  # noqa: F401 - fixtures used by name
    MAP_FRAME,
    WAIT,
    _idle,
    _map,
    browser,
    page,
    server,
)

pytestmark = pytest.mark.browser
SIDEBAR = "[data-testid=stSidebarUserContent]"


def _layers_drawn(pg: Any) -> set[str]:
    frame = pg.frame_locator(MAP_FRAME)
    classes = frame.locator(".leaflet-overlay-pane path").evaluate_all(
        "ps => ps.map(p => [...p.classList].find(c => c.startsWith('cs-layer-')))")
    return {c.removeprefix("cs-layer-") for c in classes if c}


def _parcels(pg: Any) -> None:
    """Wait for the map to hold the site parcels (at the chain's scale they are dots)."""
    pg.wait_for_selector(MAP_FRAME, timeout=120_000)
    pg.frame_locator(MAP_FRAME).locator(".cs-layer-sites").first.wait_for(state="attached",
                                                                       timeout=120_000)
    _idle(pg)


def test_a_link_opens_the_same_site_layers_and_tab(server: str,  # noqa: F811
                                                   page: Any) -> None:  # noqa: F811
    pg, watch = page
    pg.goto(f"{server}/?site=AWS-000521&layers=sites,lakes&tab=IWRAs")
    _parcels(pg)
    assert "AWS-000521" in pg.locator("h2").first.inner_text()
    assert pg.get_by_role("tab", name="IWRAs").get_attribute("aria-selected") == "true"
    assert _layers_drawn(pg) <= {"sites", "lakes"} and "sites" in _layers_drawn(pg)
    # The address follows the view, and the sidebar offers it to copy.
    pg.get_by_role("tab", name="Water chain").click()
    _idle(pg)
    pg.wait_for_function("() => location.search.includes('tab=Water')", timeout=WAIT)
    query = parse_qs(urlparse(pg.url).query)
    assert query["site"] == ["AWS-000521"]
    assert sorted(query["layers"][0].split(",")) == ["lakes", "sites"]
    pg.locator(SIDEBAR).get_by_text("Link to this view").click()
    code = pg.locator(SIDEBAR).locator("code").first
    code.filter(has_text="tab=Water").wait_for(timeout=WAIT)  # the run after the tab click
    link = code.inner_text()
    assert link.startswith(server) and "site=AWS-000521" in link and "tab=Water" in link
    # Opened in a new page, the link shows that view again.
    other = pg.context.new_page()
    other.goto(link)
    _parcels(other)
    assert "AWS-000521" in other.locator("h2").first.inner_text()
    assert other.get_by_role("tab", name="Water chain").get_attribute("aria-selected") == "true"
    other.close()
    assert watch.external == [] and watch.dialogs == []


def test_a_link_with_values_the_workspace_lacks_opens_the_default_view(
        server: str, page: Any) -> None:  # noqa: F811
    pg, watch = page
    pg.goto(f"{server}/?site=../../etc/passwd&layers=%3Cscript%3E&mode=root&tab=Nope"
            "&basemap=javascript:alert(1)")
    _map(pg)
    _idle(pg)
    text = pg.locator("[data-testid=stMain]").inner_text()
    assert "passwd" not in text and "Traceback" not in text
    assert pg.get_by_role("tab", name="1.1.1 checklist").get_attribute("aria-selected") == "true"
    assert len(_layers_drawn(pg)) > 3
    assert watch.external == [] and watch.dialogs == []
