"""The "New site" tab (ui/newsite.py), run headless with streamlit.testing.v1.AppTest.

The workspace holds the Maipo fixtures' public layers (tests/maipo_fixtures.py); the report
is the fictional Chilean brewery of tests/reports/AO-009101-valle-verde.txt.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from streamlit.testing.v1 import AppTest

from geo.core.workspace import copy_workspace, open_workspace
from tests import maipo_fixtures as mx
from tests.test_app import _app, _open_folder
from ui.cards import md

REPORT = Path(__file__).parent / "reports" / "AO-009101-valle-verde.txt"
REF = "AWS-009101"


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mx.build_workspace(tmp_path_factory.mktemp("maipo_ui"))


@pytest.fixture
def ws_root(public: Path, tmp_path: Path) -> Path:
    return copy_workspace(public, tmp_path / "ws", edits=True)


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest()
                                       if p.is_file() else "dir")
            for p in sorted(root.rglob("*"))}


def _uploader(at: AppTest, label: str):
    return next(w for w in at.get("file_uploader") if getattr(w, "label", "") == label)


def _button(at: AppTest, label: str):
    return next(b for b in at.button if str(b.label) == label)


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, at.exception
    return at


def _to_level(at: AppTest) -> AppTest:
    """Upload the report, confirm it, place the site at its point."""
    _uploader(at, "AWS certification report (PDF or text)").set_value(
        (REPORT.name, REPORT.read_bytes(), "text/plain")).run()
    _ok(at)
    facts = next(df.value for df in at.dataframe if "read from the report" in df.value.columns)
    assert "Aguas Andinas S.A." in " ".join(facts["read from the report"])
    _ok(_button(at, "Use this record").click().run())
    lon = next(w for w in at.number_input if w.label.startswith("Longitude"))
    lat = next(w for w in at.number_input if w.label.startswith("Latitude"))
    lon.set_value(mx.SITE[0]).run()
    lat.set_value(mx.SITE[1]).run()
    return _ok(_button(at, "Place the site here").click().run())


def test_the_wizard_drafts_confirms_and_creates_the_site(ws_root: Path) -> None:
    at = _to_level(_open_folder(_app().run(), ws_root))
    level = next(w for w in at.selectbox if w.label == "Catchment units of level")
    assert level.options == ["pfafstetter_8", "pfafstetter_12"]
    level.set_value("pfafstetter_12").run()
    _ok(_button(at, "Use this level").click().run())
    tables = {tuple(df.value.columns): df.value for df in at.dataframe}
    matches = next(v for k, v in tables.items() if "the report says" in k)
    farfana = matches[matches["the report says"] == "La Farfana Wastewater Treatment Plant"]
    assert set(farfana["feature"]) == {"Planta de Tratamiento de Aguas Servidas La Farfana"}
    assert all(b.startswith("inferred") for b in farfana["basis"])
    candidates = next(v for k, v in tables.items() if "relation" in k and "named_as" in k)
    assert "Humedal de Batuco" in set(candidates["name"])
    checklist = next(v for k, v in tables.items() if "what remains to map" in k)
    assert len(checklist) == 6
    assert not (ws_root / "data" / "sites" / f"{REF}.json").exists()  # nothing saved yet
    pick = next(w for w in at.multiselect if w.label.startswith("Confirm as IWRAs"))
    pick.set_value(["wdpa_901001"]).run()
    _ok(at)
    _ok(_button(at, f"Create {REF}").click().run())
    assert any(md(f"Created {REF}") in s.value for s in at.success)
    ws = open_workspace(ws_root)
    assert REF in ws.records and ws.settings.catchment_level == "pfafstetter_12"
    assert ws.load("sites").iloc[0]["aws_ref"] == REF
    assert list(ws.load("iwras")["fid"]) == ["iwra-wdpa_901001"]
    assert len(ws.load("discharge_points")) == 3
    # the sidebar offers the new site
    sites = next(w for w in at.selectbox if w.label == "Site").options
    assert any(o.startswith(REF) for o in sites)


def test_parcels_from_a_file_and_bad_input_write_nothing(ws_root: Path, tmp_path: Path
                                                         ) -> None:
    before = _tree(ws_root)
    at = _open_folder(_app().run(), ws_root)
    _uploader(at, "AWS certification report (PDF or text)").set_value(
        ("photo.pdf", b"\x89PNG\r\n\x1a\n" + bytes(200), "application/pdf")).run()
    assert any(md("cannot be used") in e.value for e in at.error)
    _uploader(at, "AWS certification report (PDF or text)").set_value(
        (REPORT.name, REPORT.read_bytes(), "text/plain")).run()
    _ok(_button(at, "Use this record").click().run())
    next(w for w in at.radio if w.label == "Place the site with").set_value(
        "Parcels from a file (polygons)").run()
    far = tmp_path / "far.geojson"  # a site plan on the wrong side of the world
    gpd.GeoDataFrame(geometry=[shapely.box(10.30, 47.10, 10.31, 47.11)],
                     crs="EPSG:4326").to_file(far, driver="GeoJSON", engine="pyogrio")
    _uploader(at, "The site's parcels").set_value(
        ("far.geojson", far.read_bytes(), "application/geo+json")).run()
    _ok(_button(at, "Place the site with these parcels").click().run())
    _ok(_button(at, "Use this level").click().run())
    assert any(md("outside every catchment unit") in e.value for e in at.error)
    assert not [b for b in at.button if str(b.label).startswith("Create ")]
    assert _tree(ws_root) == before


def test_a_viewer_has_no_new_site_tab(ws_root: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from geo.serve.accounts import Identity, hash_password
    from geo.serve.config import Role
    from geo.serve.launch import SERVER_CONFIG_ENV

    config = tmp_path / "server.toml"
    config.write_text(f'[accounts.vera]\nname = "Vera"\nrole = "viewer"\npassword_hash = '
                      f'"{hash_password("a long passphrase", rounds=4)}"\n', encoding="utf-8")
    monkeypatch.setenv(SERVER_CONFIG_ENV, str(config))
    at = _app()
    at.session_state["identity"] = Identity("vera", "Vera", Role.VIEWER, expires_at=4e9)
    at.run()
    _ok(at)
    labels = [t.label for t in at.tabs]
    assert "1.1.1 checklist" in labels and "New site" not in labels
    assert "Add data" not in labels
