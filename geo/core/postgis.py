"""The workspace's shared edit store in PostGIS, as the workspace reads it.

``store = "postgresql://…"`` in ``catchscope.toml`` keeps the edit store (the layers users
import or draw, their versions and history with authors) in a PostGIS database instead of
``data/workspace.gpkg``, so that a team can edit one workspace from several machines.  This
module is its read side, which :class:`~geo.core.workspace.Workspace` uses: the setting (a
URL, or a reference to environment variables), the URL with its password masked for every
message, connections, which layers the store holds (its copy of each one's layer file), a
layer's features, and stamps that tell caches when someone saved.  The write side (versions,
history, version-checked saves, undo) is :mod:`geo.store.postgis`.

Tables, in the schema ``store_schema`` of ``catchscope.toml`` (default ``catchscope``):

``catchscope_layers``   layer id, current version, origin and the layer file (TOML text);
``catchscope_history``  one row per save, as in the GeoPackage store;
``"<layer id>"``        each layer's features: ``row_id``, ``geom geometry(Geometry, 4326)``
                        and one column per field, a plain PostGIS table QGIS opens.

The store is the authority on which layers it holds: a layer it holds is read from it
whatever this machine's ``layers/<id>.toml`` says about where the features are (another
machine may have moved it into the store), while the local file, when there is one,
still gives the title, style and the rest.
"""

from __future__ import annotations

import os
import re
import threading
import tomllib
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pydantic import ValidationError

from geo.core.catalogue import LayerSpec
from geo.core.errors import CatalogueError, StoreConnectionError, WorkspaceError

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "HISTORY_TABLE",
    "LAYERS_TABLE",
    "STORAGE_KEYS",
    "STORE_SOURCE",
    "StoreLocation",
    "connect",
    "overlay_stored_specs",
    "parse_stored_spec",
    "read_stored_layer",
    "redact",
    "resolve_store",
    "scrub",
    "store_stamp",
    "stored_spec",
    "stored_specs",
    "stored_version",
]

#: The ``source`` of a layer whose features live in the shared PostGIS store.
STORE_SOURCE = "postgis:edit-store"
LAYERS_TABLE = "catchscope_layers"
HISTORY_TABLE = "catchscope_history"
#: The layer-file keys that say where and how a layer's features are stored: for a layer
#: the store holds, these come from the store's copy of its layer file.
STORAGE_KEYS = ("source", "layer", "crs", "datum", "id_field", "label_field", "site_field")

_SCHEMES = ("postgresql://", "postgres://")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CONNECT_TIMEOUT_S = 10


# --- the setting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreLocation:
    """Where a workspace's shared edit store is: a PostgreSQL URL and a schema.

    ``str()`` and ``repr()`` show the URL with its password masked; only :func:`connect`
    reads ``url`` itself.
    """

    url: str = field(repr=False)
    schema: str

    @property
    def label(self) -> str:
        """The store for messages: its URL, password masked, and schema."""
        return f"{redact(self.url)} (schema {self.schema})"

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return f"StoreLocation({self.label!r})"


def redact(url: str) -> str:
    """A PostgreSQL URL with any password (in the user part or the query) masked."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "postgresql://…"  # malformed: show nothing of it
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    query = re.sub(r"(?i)(^|&)(password)=[^&]*", r"\1\2=***", parts.query)
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def resolve_store(value: str | None, schema: str, *,
                  environ: Mapping[str, str] | None = None) -> StoreLocation | None:
    """The store a workspace's ``store`` setting names (None: the GeoPackage store).

    ``value`` is a ``postgresql://`` URL, ``env:NAME`` (the URL is in the environment
    variable ``NAME``), or a URL with ``${NAME}`` placeholders, each replaced by that
    variable's value, percent-encoded (e.g. ``postgresql://ann:${CATCHSCOPE_PW}@db/gis``).
    libpq's own ``PGPASSWORD`` and ``~/.pgpass`` work too, for URLs without a password.

    Raises
    ------
    WorkspaceError
        If a variable is not set or the result is not a PostgreSQL URL (the message never
        shows the value, which may hold a password).
    """
    if value is None or not value.strip():
        return None
    env = os.environ if environ is None else environ
    url = value.strip()
    if url.startswith("env:"):
        name = url[4:].strip()
        if not _ENV_NAME.fullmatch(name):
            raise WorkspaceError(f"catchscope.toml: store = \"env:NAME\" needs a variable name, "
                                 f"got {name[:40]!r}.")
        if not env.get(name):
            raise WorkspaceError(
                f"catchscope.toml: store = \"env:{name}\", but the environment variable {name} "
                "is not set; set it to the store's postgresql:// URL.")
        url = env[name].strip()

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise WorkspaceError(
                f"catchscope.toml: store refers to ${{{name}}}, but the environment variable "
                f"{name} is not set.")
        return urllib.parse.quote(env[name], safe="")

    url = _PLACEHOLDER.sub(substitute, url)
    if not url.startswith(_SCHEMES):
        raise WorkspaceError(
            "catchscope.toml: store must be a postgresql:// URL (e.g. "
            "\"postgresql://ann@db.example.org/gis\"), env:NAME or nothing (the GeoPackage "
            "store in data/); the value given is not one.")
    return StoreLocation(url=url, schema=schema)


# --- connections ----------------------------------------------------------------------------


def scrub(text: str, location: StoreLocation) -> str:
    """An error text with the store's URL and password masked, should a driver quote them."""
    password = urllib.parse.urlsplit(location.url).password
    text = text.replace(location.url, redact(location.url))
    if password:
        for secret in {password, urllib.parse.unquote(password)}:
            text = text.replace(secret, "***")
    return " ".join(text.split())


def connect(location: StoreLocation, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """A new connection to the store (``application_name`` ``catchscope/<pid>``).

    Raises
    ------
    StoreConnectionError
        If psycopg is missing or the server cannot be reached or refuses the login.
    """
    try:
        import psycopg
    except ImportError as err:  # pragma: no cover - a runtime dependency
        raise StoreConnectionError(
            f"The edit store {location.label} is PostgreSQL, which needs psycopg: "
            "pip install 'psycopg[binary]'.") from err
    try:
        return psycopg.connect(location.url, autocommit=autocommit,
                               connect_timeout=_CONNECT_TIMEOUT_S,
                               application_name=f"catchscope/{os.getpid()}")
    except psycopg.Error as err:
        raise StoreConnectionError(
            f"Cannot connect to the edit store {location.label}: {scrub(str(err), location)}. "
            "Check store in catchscope.toml, that the server runs, and the password "
            "(PGPASSWORD or ~/.pgpass).") from err


_READERS: dict[tuple[int, str], tuple[threading.Lock, Any]] = {}
_READERS_LOCK = threading.Lock()
_T = TypeVar("_T")


@contextmanager
def _reader(location: StoreLocation) -> Iterator[psycopg.Connection[Any]]:
    """The autocommit connection of this process for reads (one per store, all threads)."""
    key = (os.getpid(), location.url)  # a forked child opens its own
    with _READERS_LOCK:
        entry = _READERS.get(key)
        if entry is None:
            entry = (threading.Lock(), None)
            _READERS[key] = entry
    lock = entry[0]
    with lock:
        con = _READERS[key][1]
        if con is None or con.closed or con.broken:
            con = connect(location, autocommit=True)
            _READERS[key] = (lock, con)
        yield con


def _read(location: StoreLocation, query: Callable[[psycopg.Connection[Any]], _T],
          *, missing: _T) -> _T:
    """Run a read; ``missing`` when the store's tables do not exist yet (a new store).

    A connection the server dropped (a restart) is opened again, once.
    """
    import psycopg

    for attempt in (1, 2):
        try:
            with _reader(location) as con:
                return query(con)
        except psycopg.errors.UndefinedTable:
            return missing
        except psycopg.OperationalError as err:
            if attempt == 2:
                raise StoreConnectionError(
                    f"The edit store {location.label} failed: {scrub(str(err), location)}."
                ) from err
        except psycopg.Error as err:
            raise StoreConnectionError(
                f"The edit store {location.label} failed: {scrub(str(err), location)}."
            ) from err
    raise AssertionError("unreachable")  # pragma: no cover


def _table(location: StoreLocation, name: str) -> Any:
    from psycopg import sql

    return sql.Identifier(location.schema, name)


# --- what the store holds -----------------------------------------------------------------


def stored_specs(location: StoreLocation) -> dict[str, str]:
    """The store's copy of the layer file of every layer it holds, by layer id."""
    from psycopg import sql

    def query(con: psycopg.Connection[Any]) -> dict[str, str]:
        rows = con.execute(sql.SQL("SELECT layer_id, spec FROM {} ORDER BY layer_id").format(
            _table(location, LAYERS_TABLE))).fetchall()
        return {str(layer_id): str(spec) for layer_id, spec in rows}

    return _read(location, query, missing={})


def stored_spec(location: StoreLocation, layer_id: str) -> str | None:
    """The store's copy of one layer's layer file (None: the store does not hold it)."""
    from psycopg import sql

    def query(con: psycopg.Connection[Any]) -> str | None:
        row = con.execute(sql.SQL("SELECT spec FROM {} WHERE layer_id = %s").format(
            _table(location, LAYERS_TABLE)), (layer_id,)).fetchone()
        return str(row[0]) if row else None

    return _read(location, query, missing=None)


def stored_version(location: StoreLocation, layer_id: str) -> int:
    """A layer's current version in the store (0: the store does not hold it)."""
    from psycopg import sql

    def query(con: psycopg.Connection[Any]) -> int:
        row = con.execute(sql.SQL("SELECT version FROM {} WHERE layer_id = %s").format(
            _table(location, LAYERS_TABLE)), (layer_id,)).fetchone()
        return int(row[0]) if row else 0

    return _read(location, query, missing=0)


def store_stamp(location: StoreLocation) -> tuple[int, int]:
    """What changes whenever anyone saves: the latest history row and the layer count."""
    from psycopg import sql

    def query(con: psycopg.Connection[Any]) -> tuple[int, int]:
        row = con.execute(sql.SQL(
            "SELECT (SELECT coalesce(max(id), 0) FROM {}), (SELECT count(*) FROM {})").format(
            _table(location, HISTORY_TABLE), _table(location, LAYERS_TABLE))).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    return _read(location, query, missing=(0, 0))


def parse_stored_spec(layer_id: str, text: str) -> LayerSpec:
    """The store's copy of a layer file as a spec (refused with a message if broken)."""
    try:
        spec = LayerSpec.model_validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValidationError) as err:
        raise CatalogueError(f"The edit store's copy of layer {layer_id!r}'s layer file is "
                             f"invalid ({err}); it may have been edited by hand.") from err
    if spec.id != layer_id:
        raise CatalogueError(f"The edit store's copy of layer {layer_id!r} says id = "
                             f"{spec.id!r}; it may have been edited by hand.")
    return spec


def overlay_stored_specs(specs: Mapping[str, LayerSpec],
                         stored: Mapping[str, str]) -> dict[str, LayerSpec]:
    """The catalogue in effect: local layer files, with the store's say on its layers.

    A layer the store holds takes :data:`STORAGE_KEYS` from the store's copy of its layer
    file and everything else (title, style, …) from the local file; one with no local file
    (created on another machine) is the store's copy.  Local order first, then the rest.
    """
    merged = dict(specs)
    for layer_id, text in stored.items():
        ours = parse_stored_spec(layer_id, text)
        local = merged.get(layer_id)
        merged[layer_id] = ours if local is None else local.model_copy(
            update={key: getattr(ours, key) for key in STORAGE_KEYS})
    return merged


# --- a layer's features ---------------------------------------------------------------------

_INT8, _BOOL, _FLOAT8 = 20, 16, 701


def read_stored_layer(location: StoreLocation, layer_id: str) -> gpd.GeoDataFrame:
    """A stored layer's features in EPSG:4326, typed as GDAL reads the GeoPackage store.

    Integers and booleans with empty values come back as floats (NaN), as pyogrio gives
    them, so a layer reads the same whichever store holds it.

    Raises
    ------
    StoreConnectionError
        If the store cannot be read or does not hold the layer.
    """
    from psycopg import sql

    def query(con: psycopg.Connection[Any]) -> tuple[list[tuple[str, int]], list[Any]]:
        cursor = con.execute(sql.SQL("SELECT * FROM {} ORDER BY row_id").format(
            _table(location, layer_id)))
        described = [(str(c.name), int(c.type_code)) for c in cursor.description or []]
        return described, cursor.fetchall()

    nothing: tuple[list[tuple[str, int]], list[Any]] = ([], [])
    columns, rows = _read(location, query, missing=nothing)
    if not columns:
        raise StoreConnectionError(f"The edit store {location.label} has no table for layer "
                                   f"{layer_id!r}; it may have been dropped by hand.")
    data: dict[str, Any] = {}
    geometry: Any = None
    for index, (name, type_code) in enumerate(columns):
        values = [row[index] for row in rows]
        if name == "row_id":
            continue
        if name == "geom":
            geometry = shapely.from_wkb(np.array(values, dtype=object)) if values else []
            continue
        data[name] = _column(values, type_code)
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometry, crs="EPSG:4326"),
                            crs="EPSG:4326")


def _column(values: list[Any], type_code: int) -> pd.Series:
    has_null = any(v is None for v in values)
    if type_code == _INT8:
        if has_null:
            return pd.Series([np.nan if v is None else float(v) for v in values],
                             dtype="float64")
        return pd.Series(values, dtype="int64")
    if type_code == _BOOL:
        if has_null:
            return pd.Series([np.nan if v is None else float(v) for v in values],
                             dtype="float64")
        return pd.Series(values, dtype="bool")
    if type_code == _FLOAT8:
        return pd.Series([np.nan if v is None else v for v in values], dtype="float64")
    if not values or all(v is None for v in values):
        return pd.Series(values, dtype=object)
    return pd.Series(values)
