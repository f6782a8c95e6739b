"""Panels that wrap, in a real headless Chromium at 1280×720 (issue 19).

The 1.1.1 checklist (evidence, caveats), the provenance and certification beside the map,
the portfolio, the edit history and the site record are rows and cards: nothing in them
scrolls sideways, and the site record is headed sections, its JSON folded away.  The
Export tab clears its download buttons while a new file is prepared.  Server, browser
and helpers come from tests/test_browser.py.
"""

# ruff: noqa: F811  (the server/browser fixtures are imported from tests/test_browser.py)
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_browser import (  # noqa: F401  (fixtures)
    MAP_FRAME,
    REPO,
    WAIT,
    Watch,
    _click_uncovered,
    _idle,
    _open_folder,
    _zoom_to_site,
    browser,
    choose,
    offline_page,
    open_tab,
    server,
)

pytestmark = pytest.mark.browser

REF = "AWS-000522"

#: What would need a sideways scroll: the main area scrolling, a box in the panel with a
#: horizontal scrollbar, or anything reaching past the panel's right edge (text that does
#: not wrap) — outside the sortable tables, which scroll on purpose.
_SIDEWAYS = """root => {
    const wide = [];
    const main = document.querySelector('[data-testid=stMain]');
    const right = root.getBoundingClientRect().right;
    const table = '[data-testid=stDataFrame], [data-testid=stJson], .stCode';
    if (main.scrollWidth > main.clientWidth + 1) wide.push('the main area scrolls sideways');
    for (const el of root.querySelectorAll('*')) {
        if (el.closest(table) || el.querySelector(table)) continue;
        if (!el.checkVisibility()) continue;  // folded (a closed expander) or another tab
        const scrolls = ['auto', 'scroll'].includes(getComputedStyle(el).overflowX)
            && el.scrollWidth > el.clientWidth + 1;
        if (scrolls || el.getBoundingClientRect().right > right + 1)
            wide.push(`${el.tagName}.${el.className} ${el.scrollWidth}>${el.clientWidth}: `
                      + (el.textContent || el.innerHTML).slice(0, 80));
    }
    return wide;
}"""


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, Watch]]:
    """A 1280×720 page (a laptop), offline: requests leaving the machine are aborted."""
    # script errors only: console errors are not counted here
    with offline_page(browser, console=False, viewport={"width": 1280, "height": 720}) as opened:
        yield opened


def _site(pg: Any, server: str, site: str = REF) -> None:
    pg.goto(f"{server}/?site={site}")
    if site != "All sites":
        pg.get_by_role("heading", name=site, exact=False).wait_for(timeout=120_000)
    pg.wait_for_selector(MAP_FRAME, timeout=120_000)
    _idle(pg)


def _no_sideways_scroll(area: Any) -> None:
    """Nothing in ``area`` needs a sideways scroll, and its text is text (no grid)."""
    assert area.locator("[data-testid=stDataFrame]:visible").count() <= 1  # the table kept
    wide = area.evaluate(_SIDEWAYS)
    assert wide == [], "\n".join(wide)


def test_checklist_cards_wrap_evidence_and_caveats(server: str, page: Any) -> None:
    pg, watch = page
    _site(pg, server)
    panel = open_tab(pg, "1.1.1 checklist")
    cards = panel.locator("[class*='st-key-check_']")
    cards.first.wait_for(timeout=WAIT)
    assert cards.count() == 6
    text = panel.inner_text()
    for heading in ("Caveats", "Evidence (", "placed illustratively"):
        assert heading in text, heading
    # the badges say the status in words (colour is not the only cue)
    assert re.search(r"\bpartial\b", cards.first.inner_text())
    _no_sideways_scroll(panel)
    # the sortable table is still there, folded
    panel.get_by_text("The checklist as a table", exact=False).click()
    panel.locator("[data-testid=stDataFrame]").wait_for(timeout=WAIT)
    assert watch.external == [] and watch.errors == [], (watch.external, watch.errors)


def test_site_record_is_headed_sections_with_the_json_folded(server: str,
                                                             page: Any) -> None:
    pg, watch = page
    _site(pg, server)
    panel = open_tab(pg, "Site record")
    panel.get_by_role("heading", name="Certificate").wait_for(timeout=WAIT)
    headings = panel.get_by_role("heading").all_inner_texts()
    for name in ("Certificate", "Site", "Water provider and sources", "Discharges", "IWRAs",
                 "Findings"):
        assert any(h.strip().startswith(name) for h in headings), (name, headings)
    text = panel.inner_text()
    assert "AWS reference: AWS-000522" in text and "water service provider:" in text
    assert '"aws_ref"' not in text  # no JSON on show ...
    assert panel.locator("[data-testid=stJson]").count() == 0 or \
        not panel.locator("[data-testid=stJson]").first.is_visible()
    panel.get_by_text("The record as stored (JSON)").click()  # ... until asked for
    panel.locator("[data-testid=stJson]").first.wait_for(timeout=WAIT)
    _no_sideways_scroll(panel)
    assert watch.external == [] and watch.errors == [], (watch.external, watch.errors)


def test_portfolio_cards_wrap_and_the_table_stays(server: str, page: Any) -> None:
    pg, watch = page
    _site(pg, server, "All sites")
    site = pg.get_by_role("combobox", name="Site")
    for _ in range(4):
        if site.input_value() == "All sites":
            break
        _idle(pg)
        site.click()
        pg.get_by_role("option", name="All sites", exact=True).click()
        _idle(pg)
    panel = open_tab(pg, "Portfolio")
    panel.get_by_text("All sites as a table").wait_for(timeout=60_000)
    text = panel.inner_text()
    assert "AWS-000521" in text and "AWS-000522" in text and "1.1.1 checklist:" in text
    panel.locator("[data-testid=stDataFrame]").wait_for(timeout=WAIT)
    _no_sideways_scroll(panel)
    assert watch.external == [] and watch.errors == [], (watch.external, watch.errors)


def test_provenance_and_certification_beside_the_map_wrap(server: str, page: Any) -> None:
    pg, watch = page
    _site(pg, server)
    frame = pg.frame_locator(MAP_FRAME)
    frame.locator(".cs-site-pin").first.wait_for(timeout=120_000)
    _idle(pg)
    parcel = frame.locator("path.cs-layer-sites").first.bounding_box()
    if parcel is None or parcel["width"] < 20:  # not framed on the site: zoom in on it
        _zoom_to_site(pg, frame)
    _click_uncovered(frame, "cs-layer-sites")
    pg.get_by_text("Attributes", exact=True).wait_for(timeout=WAIT)
    beside = pg.locator("[data-testid=stColumn]").filter(has_text="Provenance").last
    text = beside.inner_text()
    assert "accuracy: illustrative" in text and "layer file: layers/sites.toml" in text
    assert "AWS reference: AWS-00052" in text and "Findings (" in text
    _no_sideways_scroll(beside)
    assert watch.external == [] and watch.errors == [], (watch.external, watch.errors)


@pytest.fixture
def edited(tmp_path: Path) -> tuple[Path, str]:
    """A copy of the demo with two saves of discharge_points, long words in them."""
    from geo.core.workspace import copy_workspace, open_workspace
    from geo.store.gpkg import layer_version, save_layer

    root = copy_workspace(REPO, tmp_path / "demo")
    summary = "renamed " + "Lanto-rainwater-outfall-to-Baijiadang-Lake-" * 3 + "(surveyed)"
    for n in (1, 2):
        ws = open_workspace(root)
        frame = ws.load("discharge_points")
        frame.loc[frame.index[0], "name"] = f"Outfall {n}"
        save_layer(ws, "discharge_points", frame,
                   base_version=layer_version(ws, "discharge_points"),
                   summary=f"{summary} {n}", author="Vera Auditor, Bureau Veritas Shanghai")
    return root, summary


def test_edit_history_rows_wrap(server: str, page: Any, edited: tuple[Path, str]) -> None:
    pg, watch = page
    root, summary = edited
    pg.goto(server)
    pg.get_by_text("Folder on this machine").wait_for(timeout=120_000)
    _open_folder(pg, root)
    pg.wait_for_selector(MAP_FRAME, timeout=120_000)
    _idle(pg)
    pg.get_by_test_id("stSidebarUserContent").get_by_text("Draw and edit", exact=True).click()
    _idle(pg)
    pg.get_by_text("History and undo", exact=True).click()
    choose(pg, "Layer", "Discharge points")
    history = pg.locator(".st-key-history_panel")
    history.get_by_text(f"{summary} 2", exact=False).wait_for(timeout=WAIT)
    text = history.inner_text()
    assert "by Vera Auditor" in text and text.index(f"{summary} 2") < text.index(f"{summary} 1")
    _no_sideways_scroll(history)
    assert watch.external == [] and watch.errors == [], (watch.external, watch.errors)


#: Record, on every change of the panel, whether it shows the progress note and which
#: download buttons it shows (in ``window.__exportStates``).
_WATCH_STATES = """panel => {
    window.__exportStates = [];
    const record = () => {
        const text = panel.innerText;
        window.__exportStates.push({
            preparing: text.includes('the prepared files come back here'),
            downloads: [...panel.querySelectorAll('[data-testid=stDownloadButton]')]
                .filter(b => b.checkVisibility()).map(b => b.innerText.trim())});
    };
    new MutationObserver(record).observe(panel, {subtree: true, childList: true,
                                                 characterData: true, attributes: true});
}"""


def test_export_clears_the_old_download_while_preparing(server: str, page: Any) -> None:
    pg, watch = page
    _site(pg, server)
    panel = open_tab(pg, "Export")
    choose(pg, "Format", "GeoJSON")
    pg.get_by_role("button", name="Prepare download: GeoJSON").click()
    old = pg.get_by_role("button", name=re.compile(rf"^Download {REF}-scope\.geojson"))
    old.wait_for(timeout=60_000)
    choose(pg, "Format", "PDF")
    # Every state of the panel from the click on, as the page shows it: the sheet renders
    # in about a second, a window a polling check can miss on a loaded machine.
    panel.evaluate(_WATCH_STATES)
    pg.get_by_role("button", name="Prepare download: PDF map sheet").click()
    new = pg.get_by_role("button", name=re.compile(rf"^Download {REF}-sheet-a4\.pdf"))
    new.wait_for(timeout=120_000)
    old.wait_for(timeout=WAIT)  # the GeoJSON comes back, still valid
    states = panel.evaluate("() => window.__exportStates")
    # while the sheet renders: the progress is shown and no download button at all
    preparing = [s for s in states if s["preparing"]]
    assert preparing, states
    assert not [s for s in preparing if s["downloads"]], preparing
    assert watch.external == [] and watch.errors == [], (watch.external, watch.errors)
