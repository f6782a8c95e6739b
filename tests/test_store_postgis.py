"""The shared PostGIS edit store (geo/store/postgis.py) on a real server, end to end.

Every test gets a schema of its own in the session's throwaway server
(``tests/postgis_server.py``).  The killed-save and two-process race tests of
``tests/test_store.py`` run against this store too; here: history and undo, reads that
match the GeoPackage store's, two machines (two folders) sharing one store, the setting
(env references, passwords never shown), plain PostGIS tables, the CLI and the app.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pytest
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import Point, box
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from geo.cli.main import app as cli
from geo.core.errors import (
    CatalogueError,
    DataWriteError,
    EditConflictError,
    GeoError,
    StoreConnectionError,
    WorkspaceError,
)
from geo.core.postgis import STORE_SOURCE, redact, resolve_store
from geo.core.workspace import copy_workspace, open_workspace
from geo.store import edits
from tests.conftest import REPO
from tests.postgis_server import PASSWORD, PostgisStore

LAYER = "parcels"
SITE = "AWS-000001"
APP = str(REPO / "app.py")


def _parcels() -> gpd.GeoDataFrame:
    d = 0.001
    return gpd.GeoDataFrame(
        {"fid": ["p1", "p2", "p3"], "name": ["Block A", "Block B", "Block C"],
         "aws_ref": [SITE] * 3, "accuracy": ["surveyed"] * 3, "source": ["test survey"] * 3,
         "storeys": [2, 3, 1], "roofed": [True, False, True]},
        geometry=[box(120.95, 31.18, 120.95 + d, 31.18 + d),
                  box(120.95 + d, 31.18, 120.95 + 2 * d, 31.18 + d),
                  box(120.95, 31.18 + 2 * d, 120.95 + d, 31.18 + 3 * d)],
        crs="EPSG:4326",
    )


@pytest.fixture
def pg_ws(make_workspace: Callable[..., Path], postgis_store: PostgisStore) -> Path:
    """A workspace whose edit store is the test's PostGIS schema; ``parcels`` in GeoJSON."""
    return make_workspace(layers={LAYER: ("site", _parcels(), {})},
                          settings=postgis_store.settings)


def _sorted(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.sort_values("fid").reset_index(drop=True)


# --- history and undo ------------------------------------------------------------------------


def test_history_and_undo_restore_each_previous_state_exactly(pg_ws: Path) -> None:
    ws = open_workspace(pg_ws)
    original = _sorted(ws.load(LAYER))
    geojson = (pg_ws / "data" / f"{LAYER}.geojson").read_bytes()
    assert edits.history(ws, LAYER) == [] and edits.layer_version(ws, LAYER) == 0
    one = original.copy()
    one.loc[one["fid"] == "p1", "storeys"] = 9
    first = edits.save_layer(ws, LAYER, one, base_version=0, summary="taller A", author="ann")
    assert (first.version, first.migrated_from) == (2, f"{LAYER}.geojson")
    state_2 = _sorted(open_workspace(pg_ws).load(LAYER))
    two = one[one["fid"] != "p2"]
    result = edits.save_layer(ws, LAYER, two, base_version=2, author="bo")
    assert (result.version, result.added, result.removed, result.changed) == (3, 0, 1, 0)
    entries = edits.history(open_workspace(pg_ws), LAYER)
    assert [(e.version, e.base_version, e.action, e.author) for e in entries] == [
        (1, 0, "migrate", entries[0].author), (2, 1, "edit", "ann"), (3, 2, "edit", "bo")]
    assert entries[1].summary == "taller A" and [e.n_features for e in entries] == [3, 3, 2]
    undone = edits.undo(ws, LAYER, base_version=3, author="cy")
    assert (undone.version, undone.added) == (4, 1)
    assert_geodataframe_equal(_sorted(open_workspace(pg_ws).load(LAYER)), state_2)
    with pytest.raises(EditConflictError, match="changed since you loaded it"):
        edits.undo(ws, LAYER, base_version=3)  # stale, like any save
    edits.undo(ws, LAYER)
    restored = _sorted(open_workspace(pg_ws).load(LAYER))
    assert_geodataframe_equal(restored, original, check_like=True, check_dtype=False)
    assert restored["storeys"].tolist() == [2, 3, 1] and restored["roofed"].dtype == bool
    with pytest.raises(GeoError, match="Nothing to undo"):
        edits.undo(ws, LAYER)
    # the layer file now points at the store; the GeoJSON is untouched
    assert open_workspace(pg_ws).spec(LAYER).source == STORE_SOURCE
    assert "shared PostGIS edit store" in (pg_ws / "layers" / f"{LAYER}.toml").read_text()
    assert (pg_ws / "data" / f"{LAYER}.geojson").read_bytes() == geojson
    assert not (pg_ws / "data" / "workspace.gpkg").exists()  # nothing went to the GeoPackage


def test_a_layer_reads_the_same_from_either_store(make_workspace: Callable[..., Path],
                                                   postgis_store: PostgisStore) -> None:
    """Same frame saved into the GeoPackage store and into PostGIS: equal frames and dtypes."""
    frame = gpd.GeoDataFrame(
        {"fid": ["a", "b", "c"], "name": ["Ä <b>", None, "c"], "count": [1, None, 3],
         "whole": [4, 5, 6], "ratio": [0.5, None, 1e-300], "flag": [True, None, False],
         "ok": [True, False, True], "empty": [None, None, None],
         "note": ["tab\there", "line\nbreak", "emoji 🌊"]},
        geometry=[Point(120.95, 31.18), box(120.9, 31.1, 120.91, 31.11),
                  Point(-70.123456789012, -33.5)], crs="EPSG:4326")
    loaded = []
    for settings in (None, postgis_store.settings):
        root = make_workspace(settings=settings)
        ws = open_workspace(root)
        edits.save_layer(ws, "things", frame, base_version=0, new_kind="facility")
        loaded.append(open_workspace(root).load("things"))
    gpkg, pg = loaded
    assert_geodataframe_equal(pg, gpkg)  # values, dtypes, column order, exact geometries
    assert list(pg.dtypes.astype(str)) == list(gpkg.dtypes.astype(str))


def test_text_postgresql_cannot_hold_is_refused_naming_feature_and_field(pg_ws: Path) -> None:
    ws = open_workspace(pg_ws)
    frame = ws.load(LAYER)
    frame.loc[frame["fid"] == "p2", "name"] = "bad\x00name"
    with pytest.raises(DataWriteError, match=r"feature 'p2', field 'name': .*NUL"):
        edits.save_layer(ws, LAYER, frame, base_version=0)
    assert edits.layer_version(open_workspace(pg_ws), LAYER) == 0  # nothing written


def test_layers_are_plain_postgis_tables(pg_ws: Path, postgis_store: PostgisStore) -> None:
    ws = open_workspace(pg_ws)
    edits.save_layer(ws, LAYER, ws.load(LAYER), base_version=0)
    with postgis_store.server.admin_connect() as con:
        row = con.execute("SELECT srid, type FROM geometry_columns WHERE f_table_schema = %s "
                          "AND f_table_name = %s", (postgis_store.schema, LAYER)).fetchone()
        assert row == (4326, "GEOMETRY")  # QGIS lists it as a layer
        kinds = con.execute(f'SELECT DISTINCT GeometryType(geom), ST_IsValid(geom) FROM '
                            f'{postgis_store.schema}."{LAYER}"').fetchall()
        assert kinds == [("POLYGON", True)]
        indexes = con.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND "
                              "tablename = %s", (postgis_store.schema, LAYER)).fetchall()
        assert any("gist (geom)" in d for (d,) in indexes)
        types = dict(con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s", (postgis_store.schema, LAYER)))
        assert types["storeys"] == "bigint" and types["roofed"] == "boolean"


# --- two machines, one store -----------------------------------------------------------------


def test_two_folders_on_one_store_see_each_others_layers_and_conflicts(
        pg_ws: Path, tmp_path: Path) -> None:
    """Two machines: each its own copy of the workspace folder, one shared store."""
    other = tmp_path / "other-machine"
    shutil.copytree(pg_ws, other)
    mine, theirs = open_workspace(pg_ws), open_workspace(other)  # both before any save
    # here: move parcels into the store and create a new layer
    edits.save_layer(mine, LAYER, mine.load(LAYER).iloc[:2], base_version=0, author="ann")
    outfalls = gpd.GeoDataFrame({"fid": ["o1"], "name": ["Outfall"], "aws_ref": [SITE]},
                                geometry=[Point(120.951, 31.181)], crs="EPSG:4326")
    edits.save_layer(mine, "outfalls", outfalls, base_version=0, new_kind="discharge_point",
                     author="ann")
    # there, the stale session's migration is refused: the layer moved into the store since
    frame = theirs.load(LAYER)
    assert len(frame) == 3
    with pytest.raises(EditConflictError, match=r"someone else saved version 2.*by ann"):
        edits.save_layer(theirs, LAYER, frame, base_version=0, author="bo")
    # reopened there: the store's layers are read, although that folder's layer file for
    # parcels still points at its GeoJSON and it has no outfalls.toml at all
    assert "geojson" in (other / "layers" / f"{LAYER}.toml").read_text()
    assert not (other / "layers" / "outfalls.toml").exists()
    theirs = open_workspace(other)
    assert theirs.spec(LAYER).source == STORE_SOURCE and len(theirs.load(LAYER)) == 2
    assert theirs.load("outfalls")["name"].tolist() == ["Outfall"]
    assert theirs.spec("outfalls").kind.value == "discharge_point"
    base = edits.layer_version(theirs, LAYER)
    edits.save_layer(theirs, LAYER, theirs.load(LAYER).iloc[:1], base_version=base, author="bo")
    # and back here, the same Workspace object sees bo's save at once (cache by version)
    assert len(mine.load(LAYER)) == 1
    assert [e.author for e in edits.history(mine, LAYER)][-2:] == ["ann", "bo"]
    with pytest.raises(CatalogueError, match="already exists"):
        edits.save_layer(theirs, "outfalls", outfalls, base_version=0,
                         new_kind="discharge_point")


# --- the setting: env references, passwords ----------------------------------------------------


def test_the_url_can_come_from_the_environment(pg_ws: Path, postgis_store: PostgisStore,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    user_url = postgis_store.url.replace(f":{PASSWORD}@", ":${CATCHSCOPE_TEST_PW}@")
    (pg_ws / "catchscope.toml").write_text(
        f'store = "env:CATCHSCOPE_TEST_STORE"\nstore_schema = "{postgis_store.schema}"\n')
    with pytest.raises(WorkspaceError, match="variable CATCHSCOPE_TEST_STORE is not set"):
        open_workspace(pg_ws)
    monkeypatch.setenv("CATCHSCOPE_TEST_STORE", postgis_store.url)
    ws = open_workspace(pg_ws)
    edits.save_layer(ws, LAYER, ws.load(LAYER), base_version=0)
    # ${NAME}: a placeholder for the password only
    (pg_ws / "catchscope.toml").write_text(
        f'store = "{user_url}"\nstore_schema = "{postgis_store.schema}"\n')
    with pytest.raises(WorkspaceError, match=r"\$\{CATCHSCOPE_TEST_PW\}"):
        open_workspace(pg_ws)
    monkeypatch.setenv("CATCHSCOPE_TEST_PW", PASSWORD)
    assert edits.layer_version(open_workspace(pg_ws), LAYER) == 2


def test_resolving_the_setting_never_shows_the_password() -> None:
    url = "postgresql://ann:p%40ss-w0rd@db.example.org:5433/gis?password=x2&sslmode=require"
    location = resolve_store(url, "team")
    assert location is not None
    for shown in (str(location), repr(location), location.label):
        assert "p%40ss-w0rd" not in shown and "p@ss" not in shown and "x2" not in shown
        assert "ann:***@db.example.org:5433/gis" in shown and "sslmode=require" in shown
    assert redact("postgresql://ann@db/gis") == "postgresql://ann@db/gis"
    assert resolve_store(None, "catchscope") is None
    with pytest.raises(WorkspaceError) as caught:
        resolve_store("mysql://ann:hunter2@db/gis", "team")
    assert "hunter2" not in str(caught.value)
    env = {"PW": "a@b:c/d"}
    resolved = resolve_store("postgresql://ann:${PW}@db/gis", "team", environ=env)
    assert resolved is not None and resolved.url == "postgresql://ann:a%40b%3Ac%2Fd@db/gis"


def test_a_wrong_password_or_a_dead_server_says_so_without_the_password(
        pg_ws: Path, postgis_store: PostgisStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "Wr0ng-Secret-Pw"
    wrong = postgis_store.url.replace(PASSWORD, secret)
    dead = f"postgresql://catchscope:{secret}@127.0.0.1:1/catchscope"
    for url, what in ((wrong, "password authentication failed"), (dead, "Connection refused")):
        (pg_ws / "catchscope.toml").write_text(
            f'store = "{url}"\nstore_schema = "{postgis_store.schema}"\n')
        with pytest.raises(StoreConnectionError) as caught:
            open_workspace(pg_ws)
        message = str(caught.value)
        assert what in message and "catchscope:***@127.0.0.1" in message
        assert secret not in message
        result = CliRunner().invoke(cli, ["layers", "-w", str(pg_ws)])
        assert result.exit_code == 1 and "Cannot connect to the edit store" in result.output
        assert secret not in result.output
    assert secret not in caplog.text


# --- the CLI and the app -------------------------------------------------------------------


def test_cli_import_history_and_undo_on_a_postgis_workspace(pg_ws: Path, tmp_path: Path,
                                                             postgis_store: PostgisStore) -> None:
    """The real ``catchscope`` command, in its own processes."""
    upload = tmp_path / "outfalls.geojson"
    gpd.GeoDataFrame({"name": ["Rain outfall", "Sewer"]},
                     geometry=[Point(120.9505, 31.1805), Point(120.9515, 31.1805)],
                     crs="EPSG:4326").to_file(upload, engine="pyogrio")
    command = [sys.executable, "-m", "geo.cli.main"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*command, *args, "-w", str(pg_ws)], capture_output=True,
                              text=True, cwd=REPO, timeout=120,
                              env={**os.environ, "COLUMNS": "200"})  # a save a line

    imported = run("import", str(upload), "--layer", "outfalls", "--kind", "discharge_point")
    assert imported.returncode == 0, imported.stderr
    assert "version 2" in imported.stdout
    history = run("history", "outfalls", "--json")
    assert history.returncode == 0, history.stderr
    entries = json.loads(history.stdout)
    assert [(e["version"], e["action"]) for e in entries] == [(1, "create"), (2, "import")]
    assert entries[1]["n_features"] == 2 and "outfalls.geojson" in entries[1]["summary"]
    table = run("history", "outfalls")
    assert "import outfalls.geojson" in table.stdout and "create" in table.stdout
    assert run("undo", "outfalls").returncode == 0
    assert run("layers").returncode == 0
    for out in (imported, history, table):
        assert PASSWORD not in out.stdout + out.stderr
    ws = open_workspace(pg_ws)
    assert ws.load("outfalls").empty and len(edits.history(ws, "outfalls")) == 3
    with postgis_store.server.admin_connect() as con:  # the rows are in PostGIS
        assert con.execute(f"SELECT count(*) FROM {postgis_store.schema}.catchscope_history "
                           "WHERE layer_id = 'outfalls'").fetchone() == (3,)


def _app_in(root: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90).run()
    next(r for r in at.radio if r.label == "Workspace").set_value("Folder on this machine").run()
    next(t for t in at.text_input if t.label == "Workspace folder").input(str(root)).run()
    return at


def test_app_on_a_postgis_workspace_shows_saves_from_elsewhere_and_undoes(
        tmp_path: Path, postgis_store: PostgisStore) -> None:
    """The demo workspace with a PostGIS store, in the app's script (AppTest)."""
    from ui import edit

    root = copy_workspace(REPO, tmp_path / "demo")
    settings = root / "catchscope.toml"
    settings.write_text(postgis_store.settings + settings.read_text(encoding="utf-8"),
                        encoding="utf-8")
    point = {"type": "Point", "coordinates": [120.9579, 31.1910]}
    ws = open_workspace(root)
    edit.add_feature(ws, "discharge_points", point, {"name": "First"}, base_version=0)
    at = _app_in(root)
    assert not at.exception, at.exception
    next(r for r in at.radio if r.label == "Map mode").set_value("edit").run()
    next(s for s in at.selectbox if s.label == "Layer").set_value("discharge_points").run()
    assert not at.exception, at.exception
    texts = " ".join(m.value for m in [*at.markdown, *at.caption, *at.text])
    assert "drew point First" in texts
    # another machine saves (no local file changes): this session's undo is refused...
    edit.add_feature(ws, "discharge_points", point, {"name": "Second"},
                     base_version=edits.layer_version(ws, "discharge_points"))
    next(b for b in at.button if b.label == "Undo the last save").click().run()
    assert not at.exception, at.exception
    assert any("changed since you loaded it" in e.value for e in at.error)
    # ...and after Reload it goes through, into PostGIS
    next(b for b in at.button if b.label == "Reload discharge_points").click().run()
    next(b for b in at.button if b.label == "Undo the last save").click().run()
    assert not at.exception, at.exception
    assert any("Undone" in s.value for s in at.success)
    names = set(open_workspace(root).load("discharge_points")["name"])
    assert "First" in names and "Second" not in names
    assert not (root / "data" / "workspace.gpkg").exists()
    entries = edits.history(open_workspace(root), "discharge_points")
    assert [e.action for e in entries] == ["migrate", "draw", "draw", "undo"]


def test_check_reads_the_layers_of_the_store(pg_ws: Path) -> None:
    from geo.core.check import check_workspace

    ws = open_workspace(pg_ws)
    edits.save_layer(ws, LAYER, ws.load(LAYER), base_version=0)
    report = check_workspace(pg_ws)
    assert report.layers_checked == 1 and report.features_checked == 3
    assert not [p for p in report.problems if p.field == "source" and p.level == "error"]
    assert {p.path for p in report.problems} <= {f"{STORE_SOURCE}/{LAYER}", "layers"}


def test_feature_service_serves_saves_made_on_another_machine(pg_ws: Path,
                                                              tmp_path: Path) -> None:
    """serve-features' source: a save from another folder changes no file here."""
    from geo.publish.sources import WorkspaceSource

    ws = open_workspace(pg_ws)
    edits.save_layer(ws, LAYER, ws.load(LAYER), base_version=0)
    source = WorkspaceSource(pg_ws, layer_version=edits.layer_version)
    collection = source.collection(LAYER)
    assert len(source.frame(collection)) == 3
    etag = source.validators(collection).etag
    other = tmp_path / "other-machine"
    shutil.copytree(pg_ws, other)
    theirs = open_workspace(other)
    edits.save_layer(theirs, LAYER, theirs.load(LAYER).iloc[:1],
                     base_version=edits.layer_version(theirs, LAYER))
    assert len(source.frame(collection)) == 1
    assert source.validators(collection).etag != etag


def test_the_apps_workspace_cache_key_changes_with_a_save_from_elsewhere(pg_ws: Path) -> None:
    from ui.state import fingerprint

    ws = open_workspace(pg_ws)
    edits.save_layer(ws, LAYER, ws.load(LAYER), base_version=0)
    before = fingerprint(pg_ws)
    # another machine's save: through the store only, no file of this folder is touched
    edits.save_layer(ws, LAYER, ws.load(LAYER).iloc[:2], base_version=2)
    after = fingerprint(pg_ws)
    assert after != before

    def files(items: tuple[tuple[str, float], ...]) -> list[tuple[str, float]]:
        return [item for item in items if not item[0].startswith("store:")]

    assert files(after) == files(before)  # only the store's stamp told
