"""The shared edit store in PostGIS: versions, history and version-checked saves.

Chosen by ``store = "postgresql://…"`` in ``catchscope.toml`` (:mod:`geo.core.postgis` reads
the setting, the layers and the versions); it keeps the rules of every edit store
(:mod:`geo.store.interface`), so the app and the CLI work with it unchanged.  The rows and
snapshots are those of the GeoPackage store (:mod:`geo.store.rows`): a snapshot taken in one
store restores in the other.

How the rules hold here
-----------------------
* **One transaction per save** (READ COMMITTED).  It first takes a transaction-scoped
  advisory lock on the layer (``pg_advisory_xact_lock``), so writers of one layer queue,
  creators of a new layer (which has no row to lock yet) included; then it reads the layer's
  version row ``SELECT … FOR UPDATE`` and refuses the save unless that is the version the
  save was based on (:class:`~geo.core.errors.EditConflictError`, nothing written).  The
  feature table, the history row and the version row are written and committed together;
  writers of other layers do not wait.
* **A client killed midway** leaves a transaction the server rolls back when the connection
  drops: the old state, or, once committed, the new one; never a mix.
* **The store holds each layer's layer file** too: a layer moved into the store or created
  on one machine is read from the store on every machine.  After the commit the local
  ``layers/<id>.toml`` is written as well, for people and tools reading the folder; the
  store's copy has the last word, so a process killed before that write leaves nothing
  inconsistent.
* Locks are waited for at most 60 s, then the save fails saying so, nothing written.  The
  URL's password appears in no message (:func:`geo.core.postgis.redact`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import shapely

from geo.core.catalogue import AwsElement, LayerKind, LayerSpec, load_layer_spec
from geo.core.errors import (
    CatalogueError,
    DataWriteError,
    EditConflictError,
    GeoError,
    StoreConnectionError,
)
from geo.core.postgis import (
    HISTORY_TABLE,
    LAYERS_TABLE,
    STORE_SOURCE,
    StoreLocation,
    connect,
    overlay_stored_specs,
    scrub,
    stored_spec,
    stored_version,
)
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
from geo.store.layer_files import _store_toml, _write_spec
from geo.store.rows import _TEXT_COLUMNS, Rows, Schema, _diff, _frame_to_rows, _pack, _unpack

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

__all__ = ["PostgisStore"]

#: How the store is named in layer files it writes.
_WHERE = "the shared PostGIS edit store"
_LOCK_TIMEOUT = "60s"
_PG_TYPES = {"TEXT": "text", "INTEGER": "bigint", "REAL": "double precision",
             "BOOLEAN": "boolean"}
#: Length of a GeoPackage geometry blob's header with its xy envelope (geo.store.rows).
_GPKG_HEADER = 8 + 32
_ENSURED: set[tuple[str, str]] = set()


class PostgisStore:
    """The shared PostGIS edit store as an :class:`~geo.store.interface.EditStore`.

    Stateless: every method works on the store of the workspace it is given
    (``ws.store``, from ``store`` in its ``catchscope.toml``).
    """

    def describe(self, ws: Workspace) -> str:
        """The store's URL (password masked) and schema."""
        return _location(ws).label

    def is_store_layer(self, ws: Workspace, spec: LayerSpec) -> bool:
        """Whether the layer's features are in the shared store."""
        return spec.source == STORE_SOURCE and spec.layer == spec.id

    def fresh_spec(self, ws: Workspace, layer_id: str) -> LayerSpec:
        """The layer's spec now: the local layer file with the store's say on storage."""
        path = ws.layers_dir / f"{layer_id}.toml"
        local = (load_layer_spec(path) if _LAYER_ID.fullmatch(layer_id) and path.exists()
                 else None)
        text = stored_spec(_location(ws), layer_id) if _LAYER_ID.fullmatch(layer_id) else None
        spec = overlay_stored_specs({layer_id: local} if local else {},
                                    {layer_id: text} if text else {}).get(layer_id)
        if spec is None:
            return ws.spec(layer_id)  # unknown ids list the known ones
        if ws.specs.get(layer_id) != spec:
            ws.specs[layer_id] = spec
            ws.clear_cache()
        return spec

    def layer_version(self, ws: Workspace, layer_id: str) -> int:
        """The layer's current version: 0 while it still lives in its own file."""
        if not self.is_store_layer(ws, self.fresh_spec(ws, layer_id)):
            return 0
        return stored_version(_location(ws), layer_id)

    def history(self, ws: Workspace, layer_id: str) -> list[HistoryEntry]:
        """Every save of the layer, oldest first (empty while it is not in the store)."""
        if not self.is_store_layer(ws, self.fresh_spec(ws, layer_id)):
            return []
        with _reading(ws) as con:
            rows = con.execute(_sql(
                "SELECT layer_id, version, base_version, saved_at, author, action, summary, "
                "undoes, n_features FROM {} WHERE layer_id = %s ORDER BY version",
                HISTORY_TABLE, ws), (layer_id,)).fetchall()
        return [HistoryEntry(*row) for row in rows]

    def save_layer(self, ws: Workspace, layer_id: str, frame: gpd.GeoDataFrame, *,
                   base_version: int, action: str = "edit", summary: str = "",
                   author: str | None = None, new_kind: LayerKind | str | None = None,
                   title: str | None = None) -> SaveResult:
        """Replace the layer's features with ``frame`` if nobody saved since.

        The same contract as :func:`geo.store.gpkg.save_layer`.
        """
        schema, rows = _frame_to_rows(frame, layer_id)
        _check_text(layer_id, schema, rows)
        created = (_new_layer(ws, layer_id, new_kind, title=title, source=STORE_SOURCE,
                              where=_WHERE) if new_kind is not None else None)
        return self._apply(ws, layer_id, base_version=base_version, author=_author(author),
                           action=action, summary=summary, schema=schema, rows=rows,
                           undoes=None, created=created)

    def undo(self, ws: Workspace, layer_id: str, *, base_version: int | None = None,
             author: str | None = None) -> SaveResult:
        """Undo the latest save not undone yet (see :func:`geo.store.gpkg.undo`)."""
        spec = self.fresh_spec(ws, layer_id)
        if not self.is_store_layer(ws, spec):
            raise GeoError(f"Nothing to undo: layer {layer_id!r} has never been saved in the "
                           f"edit store (it is read from {spec.source}).")
        with _reading(ws) as con:
            entries = con.execute(_sql(
                "SELECT version, base_version, action, undoes, summary FROM {} "
                "WHERE layer_id = %s ORDER BY version DESC", HISTORY_TABLE, ws),
                (layer_id,)).fetchall()
            target = _undo_target(entries)
            current = entries[0][0] if entries else 0
            if target is None:
                raise GeoError(f"Nothing to undo on layer {layer_id!r}: every save since it "
                               "entered the edit store has been undone.")
            version, previous, _, _, summary = target
            schema, rows = _snapshot(con, ws, layer_id, previous)
        return self._apply(ws, layer_id,
                           base_version=current if base_version is None else base_version,
                           author=_author(author), action="undo",
                           summary=f"undo of version {version} ({summary})", schema=schema,
                           rows=rows, undoes=version)

    def create_layer(self, ws: Workspace, layer_id: str, kind: LayerKind | str, *,
                     title: str | None = None, evidences: Sequence[AwsElement] | None = None,
                     author: str | None = None) -> LayerSpec:
        """Create a new, empty store layer (and, after the commit, its local layer file)."""
        created = _new_layer(ws, layer_id, kind, title=title, evidences=evidences,
                             source=STORE_SOURCE, where=_WHERE)
        with _writing(ws, layer_id) as con:
            if _lock_version(con, ws, layer_id) is not None:
                raise _taken(layer_id)
            _create_rows(con, ws, layer_id, created, _author(author))
        return self._after_commit(ws, layer_id, created.path, created.text)

    # --- one save ------------------------------------------------------------------------

    def _apply(self, ws: Workspace, layer_id: str, *, base_version: int, author: str,
               action: str, summary: str, schema: Schema, rows: Rows, undoes: int | None,
               created: _NewLayer | None = None) -> SaveResult:
        """Write one save in one transaction; then the local layer file if it changed."""
        spec: LayerSpec | None = None
        layer_file: Path | None = None
        text: str | None = None
        if created is not None:
            _check_new(ws, layer_id)
            if base_version != 0:
                raise EditConflictError(
                    f"Layer {layer_id!r} does not exist yet, so no version {base_version} "
                    "exists; reload it.", current_version=0, base_version=base_version)
            layer_file, text = created.path, created.text
        else:
            spec = self.fresh_spec(ws, layer_id)
        migrate = spec is not None and not self.is_store_layer(ws, spec)
        original: tuple[Schema, Rows] | None = None
        if migrate:
            assert spec is not None
            if base_version != 0:
                raise EditConflictError(
                    f"Layer {layer_id!r} is not in the edit store, so no version "
                    f"{base_version} exists; reload it.", current_version=0,
                    base_version=base_version)
            original = _frame_to_rows(ws.load(layer_id), layer_id)
            _check_text(layer_id, *original)
            layer_file, text = _store_toml(ws, spec, source=STORE_SOURCE, where=_WHERE)
        with _writing(ws, layer_id) as con:
            current = _lock_version(con, ws, layer_id)
            old_state: tuple[Schema, Rows]
            if created is not None:
                if current is not None:
                    raise _taken(layer_id)
                assert text is not None
                _create_rows(con, ws, layer_id, created, author)
                version, old_state = 1, ([], [])
            elif migrate:
                assert spec is not None and original is not None and text is not None
                if current is not None:  # moved into the store elsewhere since we looked
                    raise _conflict(con, ws, layer_id, 0, current)
                _write_table(con, ws, layer_id, *original)
                _record(con, ws, layer_id, version=1, base_version=0, author=author,
                        action="migrate", summary=f"copied {len(original[1])} features from "
                        f"{spec.source}", undoes=None, schema=original[0], rows=original[1],
                        origin=spec.source, spec_text=text)
                version, old_state = 1, original
            else:
                version = current or 0
                if version != base_version:
                    raise _conflict(con, ws, layer_id, base_version, version)
                old_state = _snapshot(con, ws, layer_id, version)
            added, removed, changed = _diff(old_state, (schema, rows))
            label = summary or f"{added} added, {removed} removed, {changed} changed"
            _write_table(con, ws, layer_id, schema, rows)
            _record(con, ws, layer_id, version=version + 1, base_version=version,
                    author=author, action=action, summary=label, undoes=undoes,
                    schema=schema, rows=rows)
        self._after_commit(ws, layer_id, layer_file, text)
        return SaveResult(layer_id, version + 1, added, removed, changed, len(rows),
                          migrated_from=spec.source if migrate and spec is not None else None)

    def _after_commit(self, ws: Workspace, layer_id: str, layer_file: Path | None,
                      text: str | None) -> LayerSpec:
        """Write the local layer file (a courtesy copy) and refresh the workspace."""
        if layer_file is not None and text is not None:
            # saved: the store's copy of the layer file is the one in effect, so a local
            # file that cannot be written is no failure of the save
            with contextlib.suppress(GeoError, OSError):
                _write_spec(layer_file, text)
        ws.clear_cache()
        return self.fresh_spec(ws, layer_id)


# --- connections and statements -----------------------------------------------------------


def _location(ws: Workspace) -> StoreLocation:
    if ws.store is None:
        raise StoreConnectionError(f"Workspace {ws.root} has no shared store (store in "
                                   "catchscope.toml).")
    return ws.store


def _sql(statement: str, table: str, ws: Workspace) -> sql.Composed:
    """``statement`` with ``{}`` replaced by the store table ``table`` (quoted)."""
    from psycopg import sql

    return sql.SQL(statement).format(sql.Identifier(_location(ws).schema, table))


@contextlib.contextmanager
def _reading(ws: Workspace) -> Iterator[psycopg.Connection[Any]]:
    """A short read-only connection; store errors become messages."""
    location = _location(ws)
    _ensure_store(location)
    try:
        with connect(location, autocommit=True) as con:
            yield con
    except GeoError:
        raise
    except Exception as err:
        raise StoreConnectionError(f"The edit store {location.label} failed: "
                                   f"{scrub(str(err), location)}.") from err


@contextlib.contextmanager
def _writing(ws: Workspace, layer_id: str) -> Iterator[psycopg.Connection[Any]]:
    """One write transaction holding the layer's advisory lock.

    Committed when the block ends, rolled back (nothing written) if it raises; errors
    become messages.
    """
    import psycopg

    location = _location(ws)
    _ensure_store(location)
    try:
        with connect(location) as con:  # commits on success, rolls back on an exception
            con.execute(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
            con.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                        (f"catchscope:{location.schema}:{layer_id}",))
            yield con
    except GeoError:
        raise
    except psycopg.errors.LockNotAvailable as err:
        raise DataWriteError(f"Layer {layer_id!r} is locked by another save for over "
                             f"{_LOCK_TIMEOUT}; try again in a moment. Nothing was saved."
                             ) from err
    except Exception as err:
        raise DataWriteError(f"Could not save layer {layer_id!r} to the edit store "
                             f"{location.label}: {scrub(str(err), location)}. Nothing was "
                             "saved.") from err


def _ensure_store(location: StoreLocation) -> None:
    """Create the store's schema and tables if missing (once per process and store)."""
    key = (location.url, location.schema)
    if key in _ENSURED:
        return
    import psycopg
    from psycopg import sql

    schema = sql.Identifier(location.schema)
    layers = sql.Identifier(location.schema, LAYERS_TABLE)
    history = sql.Identifier(location.schema, HISTORY_TABLE)
    try:
        with connect(location) as con:
            con.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                        (f"catchscope:{location.schema}",))
            if con.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'"
                           ).fetchone() is None:
                con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
            con.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (layer_id text PRIMARY KEY, "
                "version integer NOT NULL, origin text NOT NULL DEFAULT '', "
                "spec text NOT NULL)").format(layers))
            con.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (id bigint GENERATED ALWAYS AS IDENTITY "
                "PRIMARY KEY, layer_id text NOT NULL, version integer NOT NULL, "
                "base_version integer NOT NULL, saved_at text NOT NULL, author text NOT NULL, "
                "action text NOT NULL, summary text NOT NULL, undoes integer, "
                "n_features integer NOT NULL, snapshot bytea NOT NULL, "
                "UNIQUE (layer_id, version))").format(history))
    except psycopg.errors.InsufficientPrivilege as err:
        raise StoreConnectionError(
            f"The edit store {location.label} cannot be set up: {scrub(str(err), location)}. "
            "Ask the database's administrator to run CREATE EXTENSION postgis; and to let "
            "this user create the schema (or create it for them).") from err
    except psycopg.Error as err:
        raise StoreConnectionError(f"The edit store {location.label} cannot be set up: "
                                   f"{scrub(str(err), location)}.") from err
    _ENSURED.add(key)


def _lock_version(con: psycopg.Connection[Any], ws: Workspace, layer_id: str) -> int | None:
    """The layer's version, its row locked until the commit (None: no such layer)."""
    row = con.execute(_sql("SELECT version FROM {} WHERE layer_id = %s FOR UPDATE",
                           LAYERS_TABLE, ws), (layer_id,)).fetchone()
    return int(row[0]) if row else None


def _taken(layer_id: str) -> CatalogueError:
    return CatalogueError(f"Layer {layer_id!r} already exists in the shared edit store "
                          "(created from another session since you looked); reload, then "
                          "import into it without --kind.")


def _conflict(con: psycopg.Connection[Any], ws: Workspace, layer_id: str, base: int,
              current: int) -> EditConflictError:
    row = con.execute(_sql("SELECT saved_at, author, action, summary FROM {} "
                           "WHERE layer_id = %s AND version = %s", HISTORY_TABLE, ws),
                      (layer_id, current)).fetchone()
    who = f" ({row[0]} by {row[1]}: {row[3]})" if row else ""
    return EditConflictError(
        f"Layer {layer_id!r} changed since you loaded it: you started from version {base}, "
        f"but someone else saved version {current}{who}. Nothing was saved.",
        current_version=current, base_version=base,
    )


def _snapshot(con: psycopg.Connection[Any], ws: Workspace, layer_id: str,
              version: int) -> tuple[Schema, Rows]:
    if version <= 0:
        return [], []
    row = con.execute(_sql("SELECT snapshot FROM {} WHERE layer_id = %s AND version = %s",
                           HISTORY_TABLE, ws), (layer_id, version)).fetchone()
    if row is None:
        raise DataWriteError(f"The edit store has no snapshot of layer {layer_id!r} version "
                             f"{version}; its tables may have been edited by hand.")
    return _unpack(bytes(row[0]))


def _record(con: psycopg.Connection[Any], ws: Workspace, layer_id: str, *, version: int,
            base_version: int, author: str, action: str, summary: str, undoes: int | None,
            schema: Schema, rows: Rows, origin: str | None = None,
            spec_text: str | None = None) -> None:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    con.execute(_sql(
        "INSERT INTO {} (layer_id, version, base_version, saved_at, author, action, summary, "
        "undoes, n_features, snapshot) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        HISTORY_TABLE, ws),
        (layer_id, version, base_version, now, author, action, summary, undoes, len(rows),
         _pack(schema, rows)))
    if origin is None:
        con.execute(_sql("UPDATE {} SET version = %s WHERE layer_id = %s", LAYERS_TABLE, ws),
                    (version, layer_id))
    else:
        assert spec_text is not None
        con.execute(_sql("INSERT INTO {} (layer_id, version, origin, spec) VALUES "
                         "(%s, %s, %s, %s)", LAYERS_TABLE, ws),
                    (layer_id, version, origin, spec_text))


def _create_rows(con: psycopg.Connection[Any], ws: Workspace, layer_id: str,
                 created: _NewLayer, author: str) -> None:
    """A new layer's empty table, history version 1 and its row (in the transaction)."""
    schema: Schema = [(c, "TEXT") for c in _TEXT_COLUMNS]
    _write_table(con, ws, layer_id, schema, [])
    _record(con, ws, layer_id, version=1, base_version=0, author=author, action="create",
            summary=f"new {created.kind.value} layer", undoes=None, schema=schema, rows=[],
            origin="created", spec_text=created.text)


def _write_table(con: psycopg.Connection[Any], ws: Workspace, layer_id: str, schema: Schema,
                 rows: Rows) -> None:
    """(Re)create a layer's feature table with its rows (inside the caller's transaction)."""
    from psycopg import sql

    table = sql.Identifier(_location(ws).schema, layer_id)
    fields = [sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(_PG_TYPES[sql_type]))
              for name, sql_type in schema]
    con.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
    con.execute(sql.SQL(
        "CREATE TABLE {} (row_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        "geom geometry(Geometry, 4326) NOT NULL{}{})").format(
        table, sql.SQL(", " if fields else ""), sql.SQL(", ").join(fields)))
    names = sql.SQL(", ").join([sql.Identifier("geom"),
                                *(sql.Identifier(name) for name, _ in schema)])
    booleans = [i for i, (_, sql_type) in enumerate(schema) if sql_type == "BOOLEAN"]
    geometries = _ewkb_hex([blob for blob, _ in rows])
    with con.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(table, names)) as copy:
        for geometry, (_, values) in zip(geometries, rows, strict=True):
            out = list(values)
            for i in booleans:  # the rows hold SQLite's 0/1
                out[i] = None if out[i] is None else bool(out[i])
            copy.write_row([geometry, *out])
    con.execute(sql.SQL("CREATE INDEX ON {} USING gist (geom)").format(table))


def _ewkb_hex(blobs: list[bytes]) -> list[str]:
    """GeoPackage geometry blobs as hex EWKB with SRID 4326 (what PostGIS's input reads)."""
    if not blobs:
        return []
    geometries = shapely.from_wkb([blob[_GPKG_HEADER:] for blob in blobs])
    geometries = shapely.set_srid(geometries, 4326)
    return list(shapely.to_wkb(geometries, hex=True, include_srid=True, flavor="extended"))


def _check_text(layer_id: str, schema: Schema, rows: Rows) -> None:
    """Refuse text PostgreSQL cannot hold (NUL characters), naming feature and field."""
    text_columns = [i for i, (_, sql_type) in enumerate(schema) if sql_type == "TEXT"]
    for _, values in rows:
        for i in text_columns:
            value = values[i]
            if isinstance(value, str) and "\x00" in value:
                raise DataWriteError(
                    f"Layer {layer_id!r}, feature {str(values[0])[:60]!r}, field "
                    f"{schema[i][0]!r}: its text holds a NUL character, which PostgreSQL "
                    "cannot store; remove it. Nothing saved.")
