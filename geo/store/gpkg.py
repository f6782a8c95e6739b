"""The workspace's edit store: one GeoPackage (SQLite) file with history and version checks.

Layers a user edits or imports into live in ``data/workspace.gpkg``, one feature table
per layer (a real GeoPackage every GIS opens), beside two bookkeeping tables:

``catchscope_layers``   the current version of each stored layer;
``catchscope_history``  one row per save: who, when, what changed, and a compressed
                        snapshot of the layer *after* the save, so any save can be undone.

Rules
-----
* Every save states the version it was based on.  When someone else saved since,
  :class:`~geo.core.errors.EditConflictError` says so and nothing is written: no lost update.
* A save is one SQLite transaction (rollback journal, ``synchronous=FULL``): a process
  killed midway leaves the old state or the new one, never a broken file.
* Saves are serialised by an advisory lock (``flock`` on the workspace folder) so that
  the version check, the write and, for a layer still stored in its own file (such as
  the demo's GeoJSON) or created by the save, the store rows plus the atomic write of its
  ``layers/<id>.toml`` happen as one step.
* All or nothing: a save that fails for any reason (a conflict, a value no GeoPackage
  holds, a full disk, a bug) leaves every file of the workspace byte-identical to
  before: the transaction rolls back, and a layer file rewritten after the commit is
  put back together with the store's previous bytes.
* After a save the store file's mtime strictly increases, so ``Workspace.load`` (cached
  by mtime) returns the new state at once.

Geometries are stored in EPSG:4326; each feature's original datum stays in its
``datum`` column.

Split by concern: :mod:`geo.store.rows` (frames <-> SQLite rows, geometry blobs,
snapshots, diffs) and :mod:`geo.store.layer_files` (the layer TOMLs pointing at the store);
this module holds the lock, versions, saves, undo and layer creation.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import geopandas as gpd

from geo.core.catalogue import AwsElement, LayerKind, LayerSpec, load_layer_spec
from geo.core.crs import WGS84
from geo.core.errors import DataWriteError, EditConflictError, GeoError
from geo.core.io import recover_interrupted_write
from geo.core.workspace import Workspace
from geo.store.interface import (
    _LAYER_ID,
    HistoryEntry,
    SaveResult,
    _author,
    _check_new,
    _new_layer,
    _NewLayer,
    _undo_target,
)
from geo.store.layer_files import STORE_FILE, _restore_file, _store_toml, _write_spec
from geo.store.rows import (
    _TEXT_COLUMNS,
    Rows,
    Schema,
    _diff,
    _frame_to_rows,
    _pack,
    _quote,
    _unpack,
    _write_table,
)

__all__ = [
    "STORE_FILE",
    "GeoPackageStore",
    "HistoryEntry",
    "SaveResult",
    "create_layer",
    "history",
    "is_store_layer",
    "layer_version",
    "save_layer",
    "store_path",
    "undo",
]


_LOCK_TIMEOUT_S = 60.0


_WGS84_WKT = WGS84.to_wkt(version="WKT1_GDAL")

_SCHEMA_SQL = f"""
CREATE TABLE gpkg_spatial_ref_sys (
    srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
    organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
INSERT INTO gpkg_spatial_ref_sys VALUES
    ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian'),
    ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic'),
    ('WGS 84 geodetic', 4326, 'EPSG', 4326, '{_WGS84_WKT.replace("'", "''")}',
     'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');
CREATE TABLE gpkg_contents (
    table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
    description TEXT DEFAULT '',
    last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
    CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE gpkg_geometry_columns (
    table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
    srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
    CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
    CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
    CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE catchscope_layers (
    layer_id TEXT PRIMARY KEY, version INTEGER NOT NULL, origin TEXT NOT NULL DEFAULT '');
CREATE TABLE catchscope_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, layer_id TEXT NOT NULL, version INTEGER NOT NULL,
    base_version INTEGER NOT NULL, saved_at TEXT NOT NULL, author TEXT NOT NULL,
    action TEXT NOT NULL, summary TEXT NOT NULL, undoes INTEGER, n_features INTEGER NOT NULL,
    snapshot BLOB NOT NULL, UNIQUE (layer_id, version));
PRAGMA application_id = 1196444487;
PRAGMA user_version = 10300;
"""  # noqa: S608 - constant text, no user input


# --- paths, lock and connection -----------------------------------------------------------


def store_path(ws: Workspace) -> Path:
    """The store file of a workspace (``data/workspace.gpkg``; may not exist yet)."""
    return ws.data_dir / STORE_FILE


def is_store_layer(spec: LayerSpec) -> bool:
    """Whether a layer's catalogue entry points into the edit store."""
    return Path(spec.source).as_posix() == STORE_FILE and spec.layer == spec.id


@contextlib.contextmanager
def _exclusive(ws: Workspace) -> Iterator[None]:
    """Serialise writers of one workspace (advisory lock, released if the process dies).

    The lock is held on the workspace folder itself, not on a lock file: a save that is
    refused must leave the workspace exactly as it was, without a new file in it.
    """
    descriptor = os.open(ws.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        deadline = dt.datetime.now() + dt.timedelta(seconds=_LOCK_TIMEOUT_S)
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if dt.datetime.now() > deadline:
                    raise DataWriteError(
                        f"{ws.root} is locked by another save for over "
                        f"{_LOCK_TIMEOUT_S:.0f} s; try again in a moment."
                    ) from None
                import time

                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _all_or_nothing(ws: Workspace, layer_file: Path | None) -> Iterator[None]:
    """Undo every change of the block to the workspace's files if it raises (lock held).

    A store transaction rolls itself back; what else a save touches is put back here: the
    store file when this save created it (or, when the save also rewrites ``layer_file``,
    its bytes as they were, in case the rewrite fails after the commit), the layer file,
    and ``data/`` when it did not exist.  The result is byte-identical to before.
    """
    store = store_path(ws)
    had_data = ws.data_dir.exists()
    store_before = store.read_bytes() if layer_file is not None and store.exists() else None
    had_store = store.exists()
    layer_before = (layer_file.read_bytes() if layer_file is not None and layer_file.exists()
                    else None)
    try:
        yield
    except BaseException:
        if layer_file is not None:
            _restore_file(layer_file, layer_before)
        if not had_store:
            for leftover in (store, store.with_name(f"{STORE_FILE}-journal"),
                             store.with_name(f".{STORE_FILE}.creating")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
        elif store_before is not None:
            _restore_file(store, store_before)
        if not had_data:
            with contextlib.suppress(OSError):
                ws.data_dir.rmdir()
        raise


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("PRAGMA synchronous=FULL")
    return con


@contextlib.contextmanager
def _transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """Run the block as one write transaction on the store (the caller holds the lock).

    Committed when the block ends, rolled back if it raises; the connection is closed.
    """
    con = _connect(path)
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # e.g. COMMIT failed and rolled back
                con.execute("ROLLBACK")
            raise
    finally:
        con.close()


def _ensure_store(ws: Workspace) -> Path:
    """Create an empty store atomically if there is none (caller holds the lock)."""
    path = store_path(ws)
    if path.exists():
        return path
    ws.data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{STORE_FILE}.creating")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    con = sqlite3.connect(tmp, isolation_level=None)
    try:
        con.executescript(_SCHEMA_SQL)
    finally:
        con.close()
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def _read_connection(ws: Workspace) -> sqlite3.Connection | None:
    path = store_path(ws)
    if not path.exists():
        return None
    recover_interrupted_write(path)  # a read-only connection cannot roll back a hot journal
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)


# --- reading ---------------------------------------------------------------------------------


def layer_version(ws: Workspace, layer_id: str) -> int:
    """The current version of a layer: 0 while it still lives in its own file.

    Read it *before* loading the features you are going to edit and pass it to
    :func:`save_layer` as ``base_version``.
    """
    spec = _fresh_spec(ws, layer_id)
    if not is_store_layer(spec):
        return 0
    con = _read_connection(ws)
    if con is None:
        return 0
    try:
        return _version(con, layer_id)
    finally:
        con.close()


def _version(con: sqlite3.Connection, layer_id: str) -> int:
    row = con.execute(
        "SELECT version FROM catchscope_layers WHERE layer_id = ?", (layer_id,)
    ).fetchone()
    return int(row[0]) if row else 0


def history(ws: Workspace, layer_id: str) -> list[HistoryEntry]:
    """Every save of a layer, oldest first (empty while the layer is not in the store)."""
    if not is_store_layer(_fresh_spec(ws, layer_id)):  # unknown ids list the known ones
        return []  # (rows of a migration killed before its TOML rewrite are not in effect)
    con = _read_connection(ws)
    if con is None:
        return []
    try:
        rows = con.execute(
            "SELECT layer_id, version, base_version, saved_at, author, action, summary, "
            "undoes, n_features FROM catchscope_history WHERE layer_id = ? ORDER BY version",
            (layer_id,),
        ).fetchall()
    finally:
        con.close()
    return [HistoryEntry(*row) for row in rows]


def _fresh_spec(ws: Workspace, layer_id: str) -> LayerSpec:
    """The layer's spec as its TOML says *now* (another session may have migrated it)."""
    path = ws.layers_dir / f"{layer_id}.toml"
    if not _LAYER_ID.fullmatch(layer_id) or not path.exists():
        return ws.spec(layer_id)  # unknown ids list the known ones
    spec = load_layer_spec(path)
    if ws.specs.get(layer_id) != spec:
        ws.specs[layer_id] = spec
        ws.clear_cache()
    return spec



def _snapshot(con: sqlite3.Connection, layer_id: str, version: int) -> tuple[Schema, Rows]:
    if version <= 0:
        return [], []
    row = con.execute(
        "SELECT snapshot FROM catchscope_history WHERE layer_id = ? AND version = ?",
        (layer_id, version),
    ).fetchone()
    if row is None:
        raise DataWriteError(
            f"The edit store has no snapshot of layer {layer_id!r} version {version}; "
            f"{STORE_FILE} may have been edited by hand."
        )
    return _unpack(row[0])


def _record(con: sqlite3.Connection, layer_id: str, *, version: int, base_version: int,
            author: str, action: str, summary: str, undoes: int | None,
            schema: Schema, rows: Rows, origin: str | None = None) -> None:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    con.execute(
        "INSERT INTO catchscope_history (layer_id, version, base_version, saved_at, author, "
        "action, summary, undoes, n_features, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (layer_id, version, base_version, now, author, action, summary, undoes, len(rows),
         _pack(schema, rows)),
    )
    if origin is None:
        con.execute("UPDATE catchscope_layers SET version = ? WHERE layer_id = ?",
                    (version, layer_id))
    else:
        con.execute("INSERT OR REPLACE INTO catchscope_layers VALUES (?, ?, ?)",
                    (layer_id, version, origin))


def _touch(path: Path, before_ns: int) -> None:
    """Make the store's mtime strictly newer than before the save (mtime-keyed caches)."""
    stat = path.stat()
    if stat.st_mtime_ns <= before_ns + 1_000_000:
        os.utime(path, ns=(stat.st_atime_ns, before_ns + 1_000_000))


def _conflict(con: sqlite3.Connection, layer_id: str, base: int, current: int) -> EditConflictError:
    row = con.execute(
        "SELECT saved_at, author, action, summary FROM catchscope_history "
        "WHERE layer_id = ? AND version = ?", (layer_id, current),
    ).fetchone()
    who = f" ({row[0]} by {row[1]}: {row[3]})" if row else ""
    return EditConflictError(
        f"Layer {layer_id!r} changed since you loaded it: you started from version {base}, "
        f"but someone else saved version {current}{who}. Nothing was saved.",
        current_version=current, base_version=base,
    )


# --- writing -------------------------------------------------------------------------------


def save_layer(
    ws: Workspace,
    layer_id: str,
    frame: gpd.GeoDataFrame,
    *,
    base_version: int,
    action: str = "edit",
    summary: str = "",
    author: str | None = None,
    new_kind: LayerKind | str | None = None,
    title: str | None = None,
) -> SaveResult:
    """Replace a layer's features with ``frame``, atomically, if nobody saved since.

    Parameters
    ----------
    ws : Workspace
        The open workspace (its cache and specs are refreshed on success).
    layer_id : str
        The layer.  If it still lives in its own file (e.g. the demo's GeoJSON), it is
        first copied into the store (history version 1, "migrate") and its TOML is
        rewritten to point at the store; everything else in the TOML is kept.
    frame : GeoDataFrame
        The layer's complete new state, any CRS (stored in EPSG:4326), with a unique
        ``fid`` per feature.  ``layer``/``kind`` columns are ignored.
    base_version : int
        The version the edit started from (:func:`layer_version` before loading); 0
        with ``new_kind``.
    action, summary, author : str
        Recorded in the history.
    new_kind : LayerKind, optional
        Create the layer (as :func:`create_layer` does, history version 1) and save
        ``frame`` into it (version 2) in the same step: on any error neither happened.
    title : str, optional
        The new layer's title (with ``new_kind``).

    Returns
    -------
    SaveResult

    Raises
    ------
    EditConflictError
        If the layer's current version is not ``base_version``; nothing is written.
    DataWriteError
        If the features are unfit to store (no fid, duplicate fids, no geometry, a
        value no GeoPackage holds...) or the save failed; nothing is written.
    CatalogueError
        With ``new_kind``: if the layer exists or the id or kind is not allowed.
    """
    schema, rows = _frame_to_rows(frame, layer_id)
    created = _new_layer(ws, layer_id, new_kind, title=title) if new_kind is not None else None
    return _apply(ws, layer_id, base_version=base_version, author=_author(author),
                  action=action, summary=summary, schema=schema, rows=rows, undoes=None,
                  created=created)


def undo(ws: Workspace, layer_id: str, *, base_version: int | None = None,
         author: str | None = None) -> SaveResult:
    """Undo the latest save of a layer that has not been undone yet.

    The undo is itself a new version (so the history shows it); undoing again undoes
    the save before.  The first version (the migration or creation) cannot be undone.

    Raises
    ------
    GeoError
        If there is nothing to undo.
    EditConflictError
        If ``base_version`` is given and someone saved since.
    """
    spec = _fresh_spec(ws, layer_id)
    if not is_store_layer(spec):
        raise GeoError(f"Nothing to undo: layer {layer_id!r} has never been saved in the "
                       f"edit store (it is read from {spec.source}).")
    with _exclusive(ws):
        con = _connect(_ensure_store(ws))
        try:
            entries = con.execute(
                "SELECT version, base_version, action, undoes, summary FROM catchscope_history "
                "WHERE layer_id = ? ORDER BY version DESC", (layer_id,),
            ).fetchall()
            target = _undo_target(entries)
            current = entries[0][0] if entries else 0
        finally:
            con.close()
    if target is None:
        raise GeoError(f"Nothing to undo on layer {layer_id!r}: every save since it entered "
                       "the edit store has been undone.")
    version, previous, _, _, summary = target
    reader = _read_connection(ws)
    assert reader is not None
    try:
        schema, rows = _snapshot(reader, layer_id, previous)
    finally:
        reader.close()
    return _apply(ws, layer_id, base_version=current if base_version is None else base_version,
                  author=_author(author), action="undo",
                  summary=f"undo of version {version} ({summary})", schema=schema, rows=rows,
                  undoes=version)


def _apply(ws: Workspace, layer_id: str, *, base_version: int, author: str, action: str,
           summary: str, schema: Schema, rows: Rows, undoes: int | None,
           created: _NewLayer | None = None) -> SaveResult:
    """Write one save: store rows and history, plus a migrated or new layer file.

    All or nothing: on any error (a conflict, a full disk, a bug) every file of the
    workspace is as it was, and anything but a :class:`GeoError` is reported as a
    :class:`DataWriteError` (the cause chained).
    """
    with _exclusive(ws):
        if created is not None:
            _check_new(ws, layer_id)  # another session may have created it meanwhile
            if base_version != 0:
                raise EditConflictError(
                    f"Layer {layer_id!r} does not exist yet, so no version {base_version} "
                    "exists; reload it.", current_version=0, base_version=base_version)
            spec: LayerSpec | None = None
            layer_file: Path | None = created.path
            text: str | None = created.text
        else:
            spec = _fresh_spec(ws, layer_id)
            layer_file, text = None, None
        migrate = spec is not None and not is_store_layer(spec)
        original: tuple[Schema, Rows] | None = None
        if migrate:
            assert spec is not None
            if base_version != 0:
                raise EditConflictError(
                    f"Layer {layer_id!r} is not in the edit store, so no version "
                    f"{base_version} exists; reload it.", current_version=0,
                    base_version=base_version)
            original = _frame_to_rows(ws.load(layer_id), layer_id)
            layer_file, text = _store_toml(ws, spec)
        path = store_path(ws)
        old_state: tuple[Schema, Rows]
        try:
            with _all_or_nothing(ws, layer_file):
                path = _ensure_store(ws)
                before_ns = path.stat().st_mtime_ns
                with _transaction(path) as con:
                    if created is not None:
                        _create_rows(con, layer_id, created.kind, author)
                        current, old_state = 1, ([], [])
                    elif migrate:
                        assert spec is not None and original is not None
                        _forget(con, layer_id)  # leftovers of a save killed before its TOML
                        _write_table(con, layer_id, *original)
                        _record(con, layer_id, version=1, base_version=0, author=author,
                                action="migrate", summary=f"copied {len(original[1])} "
                                f"features from {spec.source}", undoes=None,
                                schema=original[0], rows=original[1], origin=spec.source)
                        current, old_state = 1, original
                    else:
                        current = _version(con, layer_id)
                        if current != base_version:
                            raise _conflict(con, layer_id, base_version, current)
                        old_state = _snapshot(con, layer_id, current)
                    added, removed, changed = _diff(old_state, (schema, rows))
                    label = summary or f"{added} added, {removed} removed, {changed} changed"
                    _write_table(con, layer_id, schema, rows)
                    _record(con, layer_id, version=current + 1, base_version=current,
                            author=author, action=action, summary=label, undoes=undoes,
                            schema=schema, rows=rows)
                if layer_file is not None and text is not None:
                    # after the commit: a save killed in between reads the old layer file,
                    # which ignores the store's rows (test_store); an error here restores
                    # the store's bytes
                    _write_spec(layer_file, text)
        except GeoError:
            raise
        except Exception as err:
            raise DataWriteError(f"Could not save layer {layer_id!r} to {path}: {err}. "
                                 "Nothing was saved.") from err
        with contextlib.suppress(OSError):  # saved: a clock that cannot be set is no error
            _touch(path, before_ns)
        if layer_file is not None:
            ws.specs[layer_id] = load_layer_spec(layer_file)
        ws.clear_cache()
    return SaveResult(layer_id, current + 1, added, removed, changed, len(rows),
                      migrated_from=spec.source if migrate and spec is not None else None)


def _forget(con: sqlite3.Connection, layer_id: str) -> None:
    con.execute(f"DROP TABLE IF EXISTS {_quote(layer_id)}")
    for table in ("catchscope_history", "catchscope_layers"):
        con.execute(f"DELETE FROM {table} WHERE layer_id = ?", (layer_id,))  # noqa: S608
    con.execute("DELETE FROM gpkg_geometry_columns WHERE table_name = ?", (layer_id,))
    con.execute("DELETE FROM gpkg_contents WHERE table_name = ?", (layer_id,))



def create_layer(
    ws: Workspace,
    layer_id: str,
    kind: LayerKind | str,
    *,
    title: str | None = None,
    evidences: Sequence[AwsElement] | None = None,
    author: str | None = None,
) -> LayerSpec:
    """Create a new, empty store layer and its ``layers/<id>.toml``.

    To create a layer *with* features, use :func:`save_layer` with ``new_kind``: one
    step, so a refused save leaves no empty layer behind.

    Raises
    ------
    CatalogueError
        If the id is taken or malformed, or the kind is unknown (the message lists kinds).
    """
    created = _new_layer(ws, layer_id, kind, title=title, evidences=evidences)
    with _exclusive(ws):
        _check_new(ws, layer_id)
        try:
            with _all_or_nothing(ws, created.path):
                store = _ensure_store(ws)
                before_ns = store.stat().st_mtime_ns
                with _transaction(store) as con:
                    _create_rows(con, layer_id, created.kind, _author(author))
                _write_spec(created.path, created.text)
        except GeoError:
            raise
        except Exception as err:
            raise DataWriteError(f"Could not create layer {layer_id!r}: {err}. Nothing was "
                                 "saved.") from err
        with contextlib.suppress(OSError):
            _touch(store, before_ns)
    spec = load_layer_spec(created.path)
    ws.specs[layer_id] = spec
    ws.clear_cache()
    return spec


def _create_rows(con: sqlite3.Connection, layer_id: str, kind: LayerKind, author: str) -> None:
    """A new layer's empty table and its history version 1 (in the caller's transaction)."""
    _forget(con, layer_id)
    schema: Schema = [(c, "TEXT") for c in _TEXT_COLUMNS]
    _write_table(con, layer_id, schema, [])
    _record(con, layer_id, version=1, base_version=0, author=author, action="create",
            summary=f"new {kind.value} layer", undoes=None, schema=schema, rows=[],
            origin="created")


class GeoPackageStore:
    """The GeoPackage edit store as an :class:`~geo.store.interface.EditStore` (the default).

    Stateless: every method works on the workspace it is given, through the functions above.
    """

    def describe(self, ws: Workspace) -> str:
        """The store file's path."""
        return str(store_path(ws))

    def is_store_layer(self, ws: Workspace, spec: LayerSpec) -> bool:
        """Whether the layer's catalogue entry points into ``data/workspace.gpkg``."""
        return is_store_layer(spec)

    def fresh_spec(self, ws: Workspace, layer_id: str) -> LayerSpec:
        """The layer's spec as its TOML says now."""
        return _fresh_spec(ws, layer_id)

    def layer_version(self, ws: Workspace, layer_id: str) -> int:
        """See :func:`layer_version`."""
        return layer_version(ws, layer_id)

    def history(self, ws: Workspace, layer_id: str) -> list[HistoryEntry]:
        """See :func:`history`."""
        return history(ws, layer_id)

    def save_layer(self, ws: Workspace, layer_id: str, frame: gpd.GeoDataFrame, *,
                   base_version: int, action: str = "edit", summary: str = "",
                   author: str | None = None, new_kind: LayerKind | str | None = None,
                   title: str | None = None) -> SaveResult:
        """See :func:`save_layer`."""
        return save_layer(ws, layer_id, frame, base_version=base_version, action=action,
                          summary=summary, author=author, new_kind=new_kind, title=title)

    def undo(self, ws: Workspace, layer_id: str, *, base_version: int | None = None,
             author: str | None = None) -> SaveResult:
        """See :func:`undo`."""
        return undo(ws, layer_id, base_version=base_version, author=author)

    def create_layer(self, ws: Workspace, layer_id: str, kind: LayerKind | str, *,
                     title: str | None = None, evidences: Sequence[AwsElement] | None = None,
                     author: str | None = None) -> LayerSpec:
        """See :func:`create_layer`."""
        return create_layer(ws, layer_id, kind, title=title, evidences=evidences,
                            author=author)
