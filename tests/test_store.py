"""The edit store (geo/store/gpkg.py) under real failures: killed saves, racing writers, undo.

Every test works on a small workspace built in ``tmp_path`` whose ``parcels`` layer starts
in a GeoJSON file.  The killed-save and race tests run real Python processes
(``sys.executable``) that save through :mod:`geo.store.edits`, and kill them with SIGKILL;
they run against the shared PostGIS store too (``backend`` "postgis": a real server,
``tests/postgis_server.py``), with the same outcomes required: no lost update, and the
old state or the new one after a kill.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import Point, box

from geo.core.errors import EditConflictError, GeoError
from geo.core.postgis import STORE_SOURCE
from geo.core.workspace import Workspace, open_workspace
from geo.store import edits
from geo.store import gpkg as store
from tests.conftest import REPO
from tests.postgis_server import PostgisStore

LAYER = "parcels"
SITE = "AWS-000001"

#: Builds a layer's new state; run by the test and by the saving processes alike.
BUILD = '''
import geopandas as gpd
import numpy as np
import shapely

def build(n, prefix):
    i = np.arange(n)
    x = 120.9 + (i % 100) * 0.0005 + (0.0001 if prefix == "b" else 0.0)
    y = 31.1 + (i // 100) * 0.0005
    geoms = shapely.buffer(shapely.points(x, y), 0.0002, quad_segs=8)
    return gpd.GeoDataFrame(
        {"fid": [f"{prefix}-{k}" for k in i], "name": [f"Parcel {prefix} {k}" for k in i],
         "aws_ref": "AWS-000001", "area_class": (i % 7).astype("int64")},
        geometry=geoms, crs="EPSG:4326")
'''

#: A process that saves ``build(n, prefix)`` over the layer version it read at start.
SAVER = BUILD + '''
import sys
from geo.store import edits as store
from geo.core.errors import EditConflictError
from geo.core.workspace import open_workspace

root, n, prefix, wait = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "wait"
ws = open_workspace(root)
base = store.layer_version(ws, "parcels")
frame = build(n, prefix)
if wait:
    print("ready", base, flush=True)
    sys.stdin.readline()
else:
    print("saving", base, flush=True)
try:
    result = store.save_layer(ws, "parcels", frame, base_version=base, author=prefix)
except EditConflictError as err:
    print("refused", err, flush=True)
else:
    print("saved", result.version, flush=True)
'''

#: Imports once, then per line of stdin (a workspace folder) forks a child that saves
#: ``build(N, "new")`` there (the test kills some children midway), then reaps it.
FORKER = BUILD + '''
import os, sys
from geo.store import edits as store
from geo.core.workspace import open_workspace

frame = build(int(sys.argv[1]), "new")
for line in sys.stdin:
    root = line.strip()
    if not root:
        break
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        ws = open_workspace(root)
        base = store.layer_version(ws, "parcels")
        print("saving", os.getpid(), flush=True)
        result = store.save_layer(ws, "parcels", frame, base_version=base, author="new")
        print("saved", result.version, flush=True)
        os._exit(0)
    sys.stdin.readline()  # "reap": the test is done with this child
    _, status = os.waitpid(pid, 0)
    how = (f"signal{os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
           else f"code{os.WEXITSTATUS(status)}")
    print("exit", pid, how, flush=True)
'''

#: Features of the big save: large enough that its transaction lasts a good while.
N_BIG = 3000


def _build(n: int, prefix: str) -> gpd.GeoDataFrame:
    namespace: dict[str, Any] = {}
    exec(BUILD, namespace)  # our own constant code, shared with the processes
    build: Callable[[int, str], gpd.GeoDataFrame] = namespace["build"]
    return build(n, prefix)


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
def backend(request: pytest.FixtureRequest) -> str:
    """Which edit store: "gpkg" (the default) or, parametrised indirectly, "postgis"."""
    return str(getattr(request, "param", "gpkg"))


@pytest.fixture
def pg_store(backend: str, request: pytest.FixtureRequest) -> PostgisStore | None:
    """The test's PostGIS store (schema) when ``backend`` is "postgis"."""
    if backend != "postgis":
        return None
    found: PostgisStore = request.getfixturevalue("postgis_store")
    return found


@pytest.fixture
def geojson_ws(make_workspace: Callable[..., Path], pg_store: PostgisStore | None) -> Path:
    """A workspace whose ``parcels`` layer is still read from its GeoJSON file."""
    return make_workspace(layers={LAYER: ("site", _parcels(), {})},
                          settings=pg_store.settings if pg_store else None)


@pytest.fixture
def stored_ws(geojson_ws: Path) -> Path:
    """The same workspace after one save: ``parcels`` lives in the edit store (version 2)."""
    ws = open_workspace(geojson_ws)
    frame = ws.load(LAYER)
    frame.loc[frame["fid"] == "p3", "name"] = "Block C (extended)"
    assert edits.save_layer(ws, LAYER, frame, base_version=0).version == 2
    return geojson_ws


def _state(frame: gpd.GeoDataFrame) -> list[tuple[str, str, bytes]]:
    """A layer's features as comparable values: fid, name and exact geometry."""
    return sorted(zip(frame["fid"].astype(str), frame["name"].astype(str),
                      shapely.to_wkb(frame.geometry.values, byte_order=1), strict=True))


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _spawn(root: Path, n: int, prefix: str, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SAVER, str(root), str(n), prefix, mode],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=REPO, env=_env(),
    )


def _store_file(root: Path) -> Path:
    return root / "data" / store.STORE_FILE


# --- a save killed midway -----------------------------------------------------------------


def _journal(journal: Path) -> str:
    """What a killed save left: a *hot* journal (SQLite must roll the file back: its magic
    number is written once the old pages are safely in it), a cold one (killed before
    that: the database file itself was not touched yet) or none."""
    if not journal.exists():
        return "no journal"
    with open(journal, "rb") as handle:
        magic = handle.read(8)
    return "hot journal" if magic == bytes.fromhex("d9d505f920a163d7") else "cold journal"


def _in_save(con: Any, schema: str, pid: int) -> bool:
    """Whether process ``pid`` is inside its save's transaction: its connection holds the
    layer's advisory lock (taken first thing in the transaction, released at its end)."""
    row = con.execute(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        "WHERE a.application_name = %s AND l.locktype = 'advisory' AND l.granted "
        "AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(%s, 0)",
        (f"catchscope/{pid}", f"catchscope:{schema}:{LAYER}")).fetchone()
    return bool(row and row[0])


def _running(pid: int) -> bool:
    """Whether child ``pid`` still runs (not exited: a zombie until reaped counts as done)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _kill_during_save(forker: subprocess.Popen[str], root: Path, delay: float | None,
                      pg: PostgisStore | None = None) -> str:
    """Have ``forker`` save the big layer into ``root`` from a fresh child process, and
    SIGKILL that child ``delay`` s after its write began (-1: as soon as the journal is
    hot; None: let it finish).  The write has begun when SQLite's journal appears, or, in
    PostGIS (``pg``), when the child's transaction holds the layer's lock.

    Returns what was left: "finished", the journal's state after the kill, or, in
    PostGIS, "in transaction" / "after transaction" (where the kill landed).
    """
    assert forker.stdin is not None and forker.stdout is not None
    forker.stdin.write(f"{root}\n")
    forker.stdin.flush()
    line = forker.stdout.readline()
    assert line.startswith("saving"), line
    pid = int(line.split()[1])
    if delay is None:
        line = forker.stdout.readline()
        assert line.startswith("saved"), line
        left = "finished"
    elif pg is not None:
        schema = _schema_of(root)
        with pg.server.admin_connect() as con:
            deadline = time.monotonic() + 120
            while (not _in_save(con, schema, pid) and _running(pid)
                   and time.monotonic() < deadline):
                time.sleep(0.001)
            time.sleep(max(delay, 0.0))
            inside = _in_save(con, schema, pid)
            os.kill(pid, signal.SIGKILL)  # (a child that already exited is a zombie: harmless)
        left = "in transaction" if inside else "after transaction"
    else:
        journal = root / "data" / f"{store.STORE_FILE}-journal"
        deadline = time.monotonic() + 120
        while not journal.exists() and time.monotonic() < deadline:
            time.sleep(0.0005)
        if delay < 0:  # wait for SQLite to start writing the database file itself
            while _journal(journal) == "cold journal" and time.monotonic() < deadline:
                time.sleep(0.0005)
        time.sleep(max(delay, 0.0))
        os.kill(pid, signal.SIGKILL)  # (a child that already exited is a zombie: harmless)
        left = _journal(journal)
    forker.stdin.write("reap\n")
    forker.stdin.flush()
    line = forker.stdout.readline()
    while line.startswith("saved"):  # finished just before the kill
        left = "no journal"
        line = forker.stdout.readline()
    assert line.split()[:2] == ["exit", str(pid)], line
    if left not in ("no journal", "after transaction") and delay is not None:
        assert line.split()[2] == f"signal{signal.SIGKILL.value}", line
    return left


def _assert_old_or_new(root: Path, old: list[tuple[str, str, bytes]], old_version: int,
                       new: list[tuple[str, str, bytes]], pg: PostgisStore | None = None) -> str:
    """The workspace opens with exactly the old or the new state, and stays usable."""
    ws = open_workspace(root)
    got = _state(ws.load(LAYER))  # read-only (GDAL) first: the journal is still there
    assert got in (old, new), f"{len(got)} features: neither the old nor the new state"
    outcome = "new" if got == new else "old"
    version = edits.layer_version(ws, LAYER)
    entries = edits.history(ws, LAYER)
    assert [e.version for e in entries] == list(range(1, len(entries) + 1))
    if outcome == "new":  # (a save that moves the layer into the store is version 2)
        assert version == max(old_version + 1, 2) == entries[-1].version
        assert entries[-1].author == "new" and entries[-1].n_features == N_BIG
    else:
        assert version == old_version
        assert (entries[-1].version if entries else 0) == old_version
    if entries:
        assert entries[-1].n_features == len(got)
    if pg is None:
        _assert_sqlite_sound(root, version, entries)
    else:
        _assert_postgis_sound(pg, root, version, len(got))
    # the lock is not stuck: the next save goes through at once
    after = _build(5, "after")
    result = edits.save_layer(ws, LAYER, after, base_version=version, author="next")
    assert result.version == max(version + 1, 2)
    assert _state(open_workspace(root).load(LAYER)) == _state(after)
    return outcome


def _assert_sqlite_sound(root: Path, version: int, entries: list[store.HistoryEntry]) -> None:
    with sqlite3.connect(_store_file(root)) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        tables = {r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")}
        assert (LAYER in tables) == (version > 0)
    assert _journal(root / "data" / f"{store.STORE_FILE}-journal") != "hot journal"
    ro = sqlite3.connect(f"file:{_store_file(root)}?mode=ro", uri=True)
    try:  # read-only readers (GDAL, other sessions) work again
        assert ro.execute("SELECT count(*) FROM catchscope_history").fetchone()[0] >= \
            len(entries)
    finally:
        ro.close()
    spec = tomllib.loads((root / "layers" / f"{LAYER}.toml").read_text(encoding="utf-8"))
    assert (spec["source"] == store.STORE_FILE) == (version > 0)


def _schema_of(root: Path) -> str:
    settings = tomllib.loads((root / "catchscope.toml").read_text(encoding="utf-8"))
    return str(settings["store_schema"])


def _assert_postgis_sound(pg: PostgisStore, root: Path, version: int, n_features: int) -> None:
    """The store's tables agree with each other, and no killed save left a transaction."""
    schema = _schema_of(root)
    with pg.server.admin_connect() as con:
        rows = con.execute(f"SELECT version FROM {schema}.catchscope_layers "
                           "WHERE layer_id = %s", (LAYER,)).fetchall()
        assert [r[0] for r in rows] == ([version] if version else [])
        latest = con.execute(f"SELECT max(version) FROM {schema}.catchscope_history "
                             "WHERE layer_id = %s", (LAYER,)).fetchone()
        assert latest is not None and (latest[0] or 0) == version
        if version:
            count = con.execute(f'SELECT count(*) FROM {schema}."{LAYER}"').fetchone()
            assert count is not None and count[0] == n_features
        else:  # the table of a killed migration was rolled back with it
            assert con.execute("SELECT to_regclass(%s)", (f'{schema}."{LAYER}"',)
                               ).fetchone() == (None,)
    # the layer file in effect: the store's say, whatever the local file was left saying
    assert (open_workspace(root).spec(LAYER).source == STORE_SOURCE) == (version > 0)


def _copy_workspace(source: Path, target: Path, pg: PostgisStore | None, i: int) -> Path:
    """A copy of the workspace folder; in PostGIS with a schema of its own (a store each)."""
    shutil.copytree(source, target)
    if pg is not None:
        (target / "catchscope.toml").write_text(
            f'store = "{pg.url}"\nstore_schema = "{pg.schema}_{i}"\n', encoding="utf-8")
    return target


@pytest.mark.parametrize("backend", ["gpkg", "postgis"], indirect=True)
@pytest.mark.parametrize("start", ["stored", "geojson"])
def test_a_save_killed_midway_leaves_the_old_or_the_new_state(
        start: str, backend: str, geojson_ws: Path, tmp_path: Path,
        pg_store: PostgisStore | None) -> None:
    # kill at several points of the write (and once not at all), in parallel copies
    # (-1: as soon as the journal turns hot, i.e. while the database file itself is written;
    # in PostGIS the delays count from the moment the save's transaction holds its lock)
    if pg_store is None:
        delays: list[float | None] = ([0.0, -1, -1, 0.1, None] if start == "stored"
                                      else [0.0, -1, 0.3, None])
    else:
        delays = ([0.0, 0.0, 0.02, 0.1, 0.3, None] if start == "stored"
                  else [0.0, 0.0, 0.05, 0.3, None])
    roots = [_copy_workspace(geojson_ws, tmp_path / f"copy{i}", pg_store, i)
             for i in range(len(delays))]
    for root in roots:
        if start == "stored":
            ws = open_workspace(root)
            edits.save_layer(ws, LAYER, ws.load(LAYER).iloc[:2], base_version=0)
    base = open_workspace(roots[0])
    old, old_version = _state(base.load(LAYER)), edits.layer_version(base, LAYER)
    new = _state(_build(N_BIG, "new"))
    forker = subprocess.Popen([sys.executable, "-c", FORKER, str(N_BIG)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=REPO, env=_env())
    try:
        left = [_kill_during_save(forker, root, delay, pg_store)
                for root, delay in zip(roots, delays, strict=True)]
        assert forker.stdin is not None
        forker.stdin.write("\n")
        forker.stdin.flush()
        assert forker.wait(timeout=60) == 0
    finally:
        if forker.poll() is None:
            forker.kill()
            forker.wait()
    outcomes = [_assert_old_or_new(root, old, old_version, new, pg_store) for root in roots]
    assert left[-1] == "finished" and outcomes[-1] == "new"
    if pg_store is None:
        # the kills did land inside the write: SQLite had to roll a journal back
        assert "hot journal" in left, left
    else:
        # the kills did land inside the save's transaction, which the server rolled back
        assert "in transaction" in left, left
        assert all(o == "old" for o, w in zip(outcomes, left, strict=True)
                   if w == "in transaction"), (left, outcomes)
    assert "old" in outcomes, (left, outcomes)


# --- two writers, one stale -------------------------------------------------------------------


def test_stale_writer_is_refused_then_saves_after_reloading(stored_ws: Path) -> None:
    first, second = open_workspace(stored_ws), open_workspace(stored_ws)
    base = store.layer_version(first, LAYER)
    assert store.layer_version(second, LAYER) == base
    mine, theirs = first.load(LAYER), second.load(LAYER)
    mine.loc[mine["fid"] == "p1", "name"] = "Block A (first writer)"
    theirs = theirs[theirs["fid"] != "p2"]  # the second writer deletes p2
    store.save_layer(first, LAYER, mine, base_version=base, author="first")
    before = _store_file(stored_ws).read_bytes()
    with pytest.raises(EditConflictError) as caught:
        store.save_layer(second, LAYER, theirs, base_version=base, author="second")
    message = str(caught.value)
    assert f"Layer '{LAYER}' changed since you loaded it" in message
    assert f"version {base}" in message and f"version {base + 1}" in message
    assert "by first" in message and "Nothing was saved" in message
    assert "Reload the layer" in message  # what to do
    assert caught.value.current_version == base + 1 and caught.value.base_version == base
    assert _store_file(stored_ws).read_bytes() == before  # not a byte written
    assert _state(open_workspace(stored_ws).load(LAYER)) == _state(mine)
    # the second writer reloads, redoes the deletion, and both changes are there
    base = store.layer_version(second, LAYER)
    reloaded = second.load(LAYER)
    store.save_layer(second, LAYER, reloaded[reloaded["fid"] != "p2"], base_version=base,
                     author="second")
    final = open_workspace(stored_ws).load(LAYER).set_index("fid")
    assert final.loc["p1", "name"] == "Block A (first writer)" and "p2" not in final.index
    assert [e.author for e in store.history(first, LAYER)][-2:] == ["first", "second"]


@pytest.mark.parametrize("backend", ["gpkg", "postgis"], indirect=True)
def test_two_processes_saving_from_the_same_version_one_wins_one_is_refused(
        backend: str, stored_ws: Path) -> None:
    base = edits.layer_version(open_workspace(stored_ws), LAYER)
    procs = [_spawn(stored_ws, 400, prefix, "wait") for prefix in ("a", "b")]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.split() == ["ready", str(base)], line + proc.stderr.read()  # type: ignore[union-attr]
        for proc in procs:  # both go at once, from the same version
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert all(proc.returncode == 0 for proc in procs), outputs
    results = [out.strip() for out, _ in outputs]
    saved = [r for r in results if r.startswith("saved")]
    refused = [r for r in results if r.startswith("refused")]
    assert len(saved) == 1 and len(refused) == 1, results
    assert saved[0] == f"saved {base + 1}"
    assert f"Layer '{LAYER}' changed since you loaded it" in refused[0]
    winner = "a" if results[0].startswith("saved") else "b"
    ws = open_workspace(stored_ws)
    assert _state(ws.load(LAYER)) == _state(_build(400, winner))
    entries = edits.history(ws, LAYER)
    assert [e.version for e in entries] == list(range(1, base + 2))
    assert entries[-1].author == winner and entries[-1].n_features == 400


# --- history and undo ----------------------------------------------------------------------------


def _frame_of(ws: Workspace) -> gpd.GeoDataFrame:
    return ws.load(LAYER).sort_values("fid").reset_index(drop=True)


def test_history_lists_saves_and_undo_restores_each_previous_state_exactly(
        geojson_ws: Path) -> None:
    ws = open_workspace(geojson_ws)
    original = _frame_of(ws)
    geojson = (geojson_ws / "data" / f"{LAYER}.geojson").read_bytes()
    assert store.history(ws, LAYER) == []
    one = original.copy()
    one.loc[one["fid"] == "p1", "storeys"] = 9
    store.save_layer(ws, LAYER, one, base_version=0, summary="taller A", author="ann")
    state_2 = _frame_of(open_workspace(geojson_ws))
    two = gpd.GeoDataFrame(
        [*one.to_dict("records"), {**one.iloc[0].to_dict(), "fid": "p4", "name": "Block D",
                                   "geometry": Point(120.953, 31.183)}],
        crs="EPSG:4326")
    two = two[two["fid"] != "p2"]
    result = store.save_layer(ws, LAYER, two, base_version=2, author="bo")
    assert (result.version, result.added, result.removed, result.changed) == (3, 1, 1, 0)
    entries = store.history(ws, LAYER)
    assert [(e.version, e.base_version, e.action, e.author) for e in entries] == [
        (1, 0, "migrate", entries[0].author), (2, 1, "edit", "ann"), (3, 2, "edit", "bo")]
    assert entries[1].summary == "taller A"
    assert entries[2].summary == "1 added, 1 removed, 0 changed"
    assert [e.n_features for e in entries] == [3, 3, 3]
    # undo version 3: version 2's state, exactly (values, types, geometries)
    undone = store.undo(ws, LAYER, base_version=3)
    assert (undone.version, undone.added, undone.removed) == (4, 1, 1)
    assert_geodataframe_equal(_frame_of(open_workspace(geojson_ws)), state_2)
    # a stale undo is refused like any save
    with pytest.raises(EditConflictError, match="changed since you loaded it"):
        store.undo(ws, LAYER, base_version=3)
    # undo again: version 2 is undone, back to the file's original features
    store.undo(ws, LAYER)
    restored = _frame_of(open_workspace(geojson_ws))
    # (the GeoJSON driver reads integers as int32, the store as int64: same values)
    assert_geodataframe_equal(restored, original, check_like=True, check_dtype=False)
    assert restored["storeys"].tolist() == [2, 3, 1] and restored["roofed"].dtype == bool
    entries = store.history(ws, LAYER)
    assert [(e.action, e.undoes) for e in entries[3:]] == [("undo", 3), ("undo", 2)]
    assert entries[-1].summary == "undo of version 2 (taller A)"
    # the migration itself is not undone (store.py: the first version cannot be undone):
    # the layer stays in the store, its TOML keeps pointing there, the GeoJSON is untouched
    with pytest.raises(GeoError, match="Nothing to undo"):
        store.undo(ws, LAYER)
    spec = tomllib.loads((geojson_ws / "layers" / f"{LAYER}.toml").read_text(encoding="utf-8"))
    assert (spec["source"], spec["layer"]) == (store.STORE_FILE, LAYER)
    assert (geojson_ws / "data" / f"{LAYER}.geojson").read_bytes() == geojson
    assert len(store.history(ws, LAYER)) == 5


def test_undo_of_a_layer_never_saved_says_where_it_is_read_from(geojson_ws: Path) -> None:
    ws = open_workspace(geojson_ws)
    with pytest.raises(GeoError, match=r"never been saved in the edit store.*parcels\.geojson"):
        store.undo(ws, LAYER)
    assert not _store_file(geojson_ws).exists()


def test_migration_killed_before_its_toml_rewrite_reads_the_old_file(geojson_ws: Path) -> None:
    """The one step outside the SQLite transaction: a layer moving into the store is
    committed there first, then its TOML is rewritten.  A kill in between leaves the
    committed rows and the old TOML; recreate exactly that state on disk."""
    toml = geojson_ws / "layers" / f"{LAYER}.toml"
    old_toml = toml.read_bytes()
    ws = open_workspace(geojson_ws)
    old = _state(ws.load(LAYER))
    store.save_layer(ws, LAYER, _build(4, "lost"), base_version=0)
    toml.write_bytes(old_toml)  # as if killed just before the rewrite
    ws = open_workspace(geojson_ws)
    assert _state(ws.load(LAYER)) == old  # the file's features, as before the save
    assert store.layer_version(ws, LAYER) == 0 and store.history(ws, LAYER) == []
    with pytest.raises(GeoError, match="never been saved"):
        store.undo(ws, LAYER)
    # the next save starts over from the file: the leftovers do not resurface
    result = store.save_layer(ws, LAYER, _build(2, "next"), base_version=0, author="next")
    assert (result.version, result.migrated_from) == (2, f"{LAYER}.geojson")
    entries = store.history(ws, LAYER)
    assert [(e.version, e.action) for e in entries] == [(1, "migrate"), (2, "edit")]
    assert entries[0].n_features == 3 and entries[1].author == "next"
    assert _state(open_workspace(geojson_ws).load(LAYER)) == _state(_build(2, "next"))
