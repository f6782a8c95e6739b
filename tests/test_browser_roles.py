"""Served with accounts: sign-in, roles and sign-out in a real Chromium.

The server is started as an operator would start it, ``catchscope serve --config
server.toml`` (on 127.0.0.1 and a free port), with one listed workspace (a copy of the
demo) and three accounts. A viewer sees maps, tables and public copies only; an editor's
save is recorded under the editor's name; a signed-out session sees the sign-in page only.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from geo.core.catalogue import LayerKind
from geo.core.workspace import copy_workspace, open_workspace
from geo.serve.accounts import hash_password
from geo.store import gpkg as store
from tests.test_browser import (  # noqa: F401 - fixtures used by name
    MAP_FRAME,
    REPO,
    WAIT,
    _free_port,
    _idle,
    _map,
    browser,
    choose,
    page,
    wait_healthy,
)
from tests.test_browser_edit import _kml, _upload

pytestmark = pytest.mark.browser

SITE = "AWS-000522"
MAIN = "[data-testid=stMain]"
SIDEBAR = "[data-testid=stSidebarUserContent]"
PASSWORDS = {"vera": "viewer-pass-1", "eddie": "editor-pass-1", "ada": "admin-pass-01"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """``catchscope serve`` on a copy of the demo: (url, workspace, config file)."""
    base = tmp_path_factory.mktemp("served")
    root = copy_workspace(REPO, base / "jinxi")
    roles = {"vera": ("Vera Viewer", "viewer"), "eddie": ("Eddie Editor", "editor"),
             "ada": ("Ada Admin", "admin")}
    accounts = "".join(
        f'\n[accounts.{user}]\nname = "{name}"\nrole = "{role}"\n'
        f'password_hash = "{hash_password(PASSWORDS[user], rounds=4)}"\n'
        for user, (name, role) in roles.items())
    port = _free_port()
    config = base / "server.toml"
    config.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\nsession_minutes = 30\n\n'
        f'[[workspaces]]\nname = "jinxi"\ntitle = "Jinxi (served copy)"\npath = "jinxi"\n'
        + accounts, encoding="utf-8")
    log = open(base / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "geo.cli.main", "serve", "--config",
                             str(config)], cwd=base, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log.name)
        yield url, root, config
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _sign_in(pg: Any, url: str, user: str, password: str | None = None) -> None:
    pg.goto(url)
    pg.get_by_label("User name").fill(user)
    pg.get_by_label("Password", exact=True).fill(password or PASSWORDS[user])
    pg.get_by_role("button", name="Sign in").click()


def _signed_in(pg: Any, url: str, user: str) -> Any:
    _sign_in(pg, url, user)
    frame = _map(pg, min_paths=20)
    _idle(pg)
    return frame


def _tabs(pg: Any) -> list[str]:
    return [t.strip() for t in pg.get_by_role("tab").all_inner_texts()]


def test_signed_out_session_sees_the_sign_in_page_only(served: Any, page: Any) -> None:  # noqa: F811
    url, _, _ = served
    pg, watch = page
    pg.goto(url)
    pg.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    _idle(pg)
    assert pg.locator(MAP_FRAME).count() == 0 and _tabs(pg) == []
    assert pg.locator(SIDEBAR).count() == 0 or "Site" not in pg.locator(SIDEBAR).inner_text()
    _sign_in(pg, url, "vera", "not her password")
    pg.get_by_text("Wrong user name or password.").wait_for(timeout=WAIT)
    _sign_in(pg, url, "nobody", "whatever-it-is")
    pg.get_by_text("Wrong user name or password.").wait_for(timeout=WAIT)
    assert pg.locator(MAP_FRAME).count() == 0
    assert watch.external == [] and watch.dialogs == []


def test_viewer_sees_maps_tables_and_public_copies_only(served: Any, page: Any) -> None:  # noqa: F811
    url, root, _ = served
    pg, watch = page
    frame = _signed_in(pg, url, "vera")
    sidebar = pg.locator(SIDEBAR).inner_text()
    assert "Signed in as Vera Viewer (vera, viewer)" in " ".join(sidebar.split())
    assert "Map mode" not in sidebar and "Folder on this machine" not in sidebar
    tabs = _tabs(pg)
    assert "Add data" not in tabs and "Import report" not in tabs and "Admin" not in tabs
    assert {"1.1.1 checklist", "IWRAs", "Water chain", "Export"} <= set(tabs)
    # No Draw toolbar, and the map holds no true intake or outfall position.
    assert frame.locator(".leaflet-draw-draw-marker").count() == 0
    ws = open_workspace(root)
    sensitive = ws.load_kind(LayerKind.DISCHARGE_POINT, LayerKind.WATER_SOURCE)
    html = "".join(h.content_frame().content() for h in pg.locator(MAP_FRAME).element_handles()
                   if h.content_frame() is not None)
    drawn = [(float(x), float(y)) for x, y in
             re.findall(r"\[(-?\d+\.\d+), (-?\d+\.\d+)\]", html)]
    assert len(drawn) > 100  # the map's GeoJSON was found
    for point in sensitive.geometry:  # none within ~2 m of a true position
        assert not any(abs(x - point.x) < 2e-5 and abs(y - point.y) < 2e-5 for x, y in drawn)
    # Export: only public copies are offered.
    pg.get_by_role("tab", name="Export").click()
    pg.get_by_role("combobox", name="Redaction").click()
    options = pg.get_by_role("option").all_inner_texts()
    pg.keyboard.press("Escape")
    assert options and all("public" in o for o in options), options
    # Asking for the edit mode or a tab in the URL changes nothing: a new page is a new
    # session (sign in again), and the role decides what it offers.
    _sign_in(pg, f"{url}/?mode=edit&tab=Add+data&map_mode=edit", "vera")
    _map(pg, min_paths=20)
    _idle(pg)
    assert "Map mode" not in pg.locator(SIDEBAR).inner_text()
    assert "Add data" not in _tabs(pg)
    assert watch.external == [] and watch.dialogs == []


def test_editor_save_is_recorded_under_the_editors_name(served: Any, page: Any) -> None:  # noqa: F811
    url, root, _ = served
    pg, watch = page
    _signed_in(pg, url, "eddie")
    ws = open_workspace(root)
    parcels = ws.load_kind(LayerKind.SITE)
    centre = parcels[parcels["aws_ref"] == SITE].geometry.union_all().centroid
    _upload(pg, "outfall.kml", _kml("Outfall by Eddie", centre.x + 0.0004, centre.y - 0.0003))
    pg.get_by_text("Preview: the 1 incoming features", exact=False).wait_for(timeout=WAIT)
    choose(pg, "Into layer", "Discharge points (discharge_point)")
    pg.get_by_role("button", name="Save", exact=True).click()
    pg.get_by_text("Imported 1 features into layer 'discharge_points'", exact=False) \
        .wait_for(timeout=WAIT)
    entries = store.history(open_workspace(root), "discharge_points")
    assert entries[-1].author == "eddie (Eddie Editor)"
    # ... and the app's History shows it.
    pg.locator(SIDEBAR).get_by_text("Draw and edit", exact=True).click()
    _idle(pg)
    pg.get_by_text("History and undo", exact=True).click()
    choose(pg, "Layer", "Discharge points (discharge_point)")
    # one row per save (wrapping text, not a grid): the newest names its author
    pg.locator("[data-testid=stMain]").get_by_text("eddie (Eddie Editor)", exact=False) \
        .first.wait_for(timeout=WAIT)
    assert watch.external == [] and watch.dialogs == []


def test_admin_adds_an_account_that_can_then_sign_in(
        served: Any, page: Any, browser: Any) -> None:  # noqa: F811
    url, _, config = served
    pg, watch = page
    _signed_in(pg, url, "ada")
    pg.get_by_role("tab", name="Admin").click()
    pg.get_by_label("User name", exact=True).fill("olga")
    pg.get_by_label("Full name").fill("Olga Observer")
    pg.get_by_label("Password (10+ characters)").fill("observer-pass-1")
    pg.get_by_role("button", name="Save account").click()
    pg.get_by_text("Saved account olga (viewer).").wait_for(timeout=WAIT)
    assert re.search(r"\[accounts\.olga\]\s+name = \"Olga Observer\"", config.read_text())
    other = browser.new_context().new_page()
    try:
        _sign_in(other, url, "olga", "observer-pass-1")
        _map(other, min_paths=20)
        assert "Olga Observer" in other.locator(SIDEBAR).inner_text()
        other.locator(SIDEBAR).get_by_role("button", name="Sign out").click()
        other.get_by_text("You have signed out.").wait_for(timeout=WAIT)
        assert other.locator(MAP_FRAME).count() == 0
    finally:
        other.context.close()
    assert watch.external == [] and watch.dialogs == []
