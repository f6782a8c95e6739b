"""The New site wizard in a real headless Chromium, as a person uses it (issue 17).

The workspace holds the Maipo fixtures' public layers (tests/maipo_fixtures.py); the
report is tests/reports/AO-009101-valle-verde.txt.  Offline: any request that would leave
the machine fails the test.  ``docs/newsite_screenshots.py`` walks the same steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import maipo_fixtures as mx
from tests.test_browser import (  # noqa: F401 - fixtures
    _idle,
    _map,
    _open_folder,
    _open_legend,
    browser,
    choose,
    open_tab,
    page,
    server,
)

pytestmark = pytest.mark.browser

REPORT = Path(__file__).parent / "reports" / "AO-009101-valle-verde.txt"
REF = "AWS-009101"


def _click(pg: Any, panel: Any, name: str) -> None:
    """Click a button of the panel once the run is over, and wait for the run it starts."""
    _idle(pg)
    panel.get_by_role("button", name=name, exact=True).click()
    _idle(pg)


def _number(pg: Any, panel: Any, label: str, value: float) -> None:
    field = panel.get_by_label(label)
    for _ in range(4):
        _idle(pg)
        field.fill(f"{value:.6f}")
        field.press("Enter")
        _idle(pg)
        if field.input_value() == f"{value:.6f}":
            return
    raise AssertionError(f"{label} did not take {value}")


def one_map(pg: Any) -> None:
    """Wait until the page holds one map for a while.

    The previous view's map goes once the new one is drawn (two for a moment).
    """
    count = "document.querySelectorAll(\"iframe[src*='st_folium']\").length"
    for _ in range(60):
        _idle(pg)
        pg.wait_for_function(f"{count} === 1", timeout=120_000)
        pg.wait_for_timeout(1500)
        if pg.evaluate(count) == 1:
            return
    raise AssertionError("the page kept two maps")


def walk_wizard(pg: Any, root: Path, *, until_draft: bool = False) -> Any:
    """Open ``root``, then report → point → level → (draft) → Create; return the panel."""
    _open_folder(pg, root)
    panel = open_tab(pg, "New site")
    panel.locator("input[type=file]").first.set_input_files(str(REPORT))
    panel.get_by_role("button", name="Use this record").wait_for(timeout=60_000)
    _click(pg, panel, "Use this record")
    _number(pg, panel, "Longitude (WGS84, east positive)", mx.SITE[0])
    _number(pg, panel, "Latitude (WGS84, north positive)", mx.SITE[1])
    _click(pg, panel, "Place the site here")
    _click(pg, panel, "Use this level")
    panel.get_by_text("What saving writes").wait_for(timeout=120_000)
    _idle(pg)
    if until_draft:
        return panel
    _click(pg, panel, f"Create {REF}")
    panel.get_by_text(f"Created {REF}", exact=False).wait_for(timeout=120_000)
    return panel


def test_a_person_creates_a_site_with_the_wizard(server: str, page: Any,  # noqa: F811
                                                 tmp_path: Path) -> None:
    pg, watch = page
    root = mx.build_workspace(tmp_path)
    pg.goto(server)
    _idle(pg)
    panel = walk_wizard(pg, root, until_draft=True)
    text = panel.inner_text()
    for shown in ("IWRA candidates", "candidates, not IWRAs", "Water chain drafted from the "
                  "report", "1.1.1 checklist once saved"):
        assert shown in text, shown
    assert not (root / "data" / "sites" / f"{REF}.json").exists()  # reviewed, not saved
    _click(pg, panel, f"Create {REF}")
    panel.get_by_text(f"Created {REF}", exact=False).wait_for(timeout=120_000)
    assert (root / "data" / "sites" / f"{REF}.json").exists()
    choose(pg, "Site", REF)
    one_map(pg)
    frame = _map(pg)
    frame.locator(".cs-layer-sites").first.wait_for(state="attached", timeout=120_000)
    _open_legend(frame)
    legend = frame.locator(".cs-legend").inner_text()
    assert "Baseline water stress" in legend and "High (40-80%)" in legend
    assert watch.external == [], watch.external
    assert watch.errors == [], watch.errors
