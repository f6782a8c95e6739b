"""Trying the bundled demo never changes the checkout: edits go to the user's own copy."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest

from geo.core.workspace import open_workspace
from tests.test_browser import (  # noqa: F401 - fixtures used by name
    REPO,
    WAIT,
    _idle,
    _map,
    browser,
    page,
    streamlit_server,
)
from tests.test_browser_edit import _draw_point, _edit_map

pytestmark = pytest.mark.browser
SIDEBAR = "[data-testid=stSidebarUserContent]"


def _checkout_digest() -> dict[str, str]:
    """Every file of the demo as shipped (layers/, data/, catchscope.toml)."""
    files = [REPO / "catchscope.toml", *(REPO / "layers").rglob("*"), *(REPO / "data").rglob("*")]
    return {str(p.relative_to(REPO)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(files) if p.is_file() and "__pycache__" not in p.parts}


def _git_status() -> str:
    done = subprocess.run(["git", "status", "--porcelain", "--", "layers", "data",
                           "catchscope.toml"], cwd=REPO, capture_output=True, text=True,
                          check=False)
    return done.stdout if done.returncode == 0 else "(not a git checkout)"


def test_drawing_on_the_demo_goes_to_a_copy_and_the_checkout_stays_clean(
        tmp_path: Path, page: Any) -> None:  # noqa: F811
    pg, watch = page
    before, status = _checkout_digest(), _git_status()
    with streamlit_server(tmp_path, {"XDG_DATA_HOME": str(tmp_path / "xdg")}) as url:
        pg.goto(url)
        _map(pg, min_paths=20)
        _idle(pg)
        pg.locator(SIDEBAR).get_by_text("Draw and edit", exact=True).click()
        pg.get_by_text("The bundled demo is read-only").first.wait_for(timeout=60_000)
        pg.get_by_role("button", name="Make my own copy of the demo").first.click()
        copy = tmp_path / "xdg" / "catchscope" / "demo"
        pg.get_by_text(f"Opened your own copy of the demo at {copy}").first.wait_for(
            timeout=60_000)
        assert pg.get_by_placeholder("/path/to/workspace (holds layers/ and data/)") \
            .input_value() == str(copy)
        frame = _edit_map(pg)
        _idle(pg)
        frame = _edit_map(pg)
        _draw_point(pg, frame, 260, 470)
        pg.get_by_label("Name", exact=True).fill("Drawn in my copy")
        pg.get_by_role("button", name="Save feature").click()
        pg.get_by_text("Saved layer 'discharge_points'", exact=False).wait_for(timeout=WAIT)
        assert "Drawn in my copy" in set(open_workspace(copy).load("discharge_points")["name"])
        # Reset: the copy starts again from the bundled demo.
        pg.get_by_role("button", name="Reset my copy of the demo").first.click()
        pg.get_by_text(f"Reset your copy of the demo at {copy}").first.wait_for(timeout=60_000)
        assert "Drawn in my copy" not in set(open_workspace(copy).load("discharge_points")["name"])
    assert _checkout_digest() == before and _git_status() == status
    assert not (REPO / "data" / "workspace.gpkg").exists() or "workspace.gpkg" in str(before)
    assert watch.external == [] and watch.dialogs == []
