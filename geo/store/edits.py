"""The edit store of a workspace, whichever it is: what the CLI, the app and the importer call.

``store`` in ``catchscope.toml`` picks the backend: none (the default) is the GeoPackage
``data/workspace.gpkg`` (:mod:`geo.store.gpkg`), a ``postgresql://`` URL a shared PostGIS
database (:mod:`geo.store.postgis`).  Both keep the rules of :mod:`geo.store.interface`: a
save names its base version and a stale one is refused, a save is one transaction, every
save is in the history and can be undone.

>>> from geo.store import edits
>>> base = edits.layer_version(ws, "sites")          # before loading what you edit
>>> edits.save_layer(ws, "sites", frame, base_version=base, author="ann")
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd

from geo.core.catalogue import AwsElement, LayerKind, LayerSpec
from geo.core.workspace import Workspace
from geo.store.gpkg import GeoPackageStore
from geo.store.interface import EditStore, HistoryEntry, SaveResult

__all__ = [
    "EditStore",
    "HistoryEntry",
    "SaveResult",
    "create_layer",
    "describe",
    "fresh_spec",
    "history",
    "is_store_layer",
    "layer_version",
    "open_store",
    "save_layer",
    "undo",
]

_GEOPACKAGE = GeoPackageStore()


def open_store(ws: Workspace) -> EditStore:
    """The workspace's edit store: PostGIS when ``catchscope.toml`` names one, else GeoPackage."""
    if ws.store is None:
        return _GEOPACKAGE
    from geo.store.postgis import PostgisStore  # psycopg is imported only for such stores

    return PostgisStore()


def describe(ws: Workspace) -> str:
    """Where the workspace's edit store is (a file path, or a URL with the password masked)."""
    return open_store(ws).describe(ws)


def is_store_layer(ws: Workspace, spec: LayerSpec) -> bool:
    """Whether a layer's features live in the workspace's edit store."""
    return open_store(ws).is_store_layer(ws, spec)


def fresh_spec(ws: Workspace, layer_id: str) -> LayerSpec:
    """A layer's spec as it is now (another session may have moved it into the store).

    Raises
    ------
    LayerNotFoundError
        If there is no such layer (the message lists the known ones).
    """
    return open_store(ws).fresh_spec(ws, layer_id)


def layer_version(ws: Workspace, layer_id: str) -> int:
    """The current version of a layer: 0 while it still lives in its own file.

    Read it *before* loading the features you are going to edit and pass it to
    :func:`save_layer` as ``base_version``.
    """
    return open_store(ws).layer_version(ws, layer_id)


def history(ws: Workspace, layer_id: str) -> list[HistoryEntry]:
    """Every save of a layer, oldest first (empty while the layer is not in the store)."""
    return open_store(ws).history(ws, layer_id)


def save_layer(ws: Workspace, layer_id: str, frame: gpd.GeoDataFrame, *, base_version: int,
               action: str = "edit", summary: str = "", author: str | None = None,
               new_kind: LayerKind | str | None = None, title: str | None = None
               ) -> SaveResult:
    """Replace a layer's features with ``frame``, atomically, if nobody saved since.

    Parameters and errors as :func:`geo.store.gpkg.save_layer`: ``frame`` is the layer's
    complete new state (any CRS, a unique ``fid`` per feature), ``base_version`` the version
    the edit started from; ``new_kind`` creates the layer in the same step.

    Raises
    ------
    EditConflictError
        If the layer's current version is not ``base_version``; nothing is written.
    DataWriteError
        If the features are unfit to store or the save failed; nothing is written.
    CatalogueError
        With ``new_kind``: if the layer exists or the id or kind is not allowed.
    StoreConnectionError
        If a shared store cannot be reached.
    """
    return open_store(ws).save_layer(ws, layer_id, frame, base_version=base_version,
                                     action=action, summary=summary, author=author,
                                     new_kind=new_kind, title=title)


def undo(ws: Workspace, layer_id: str, *, base_version: int | None = None,
         author: str | None = None) -> SaveResult:
    """Undo the latest save of a layer not undone yet; the undo is itself a new version.

    Raises
    ------
    GeoError
        If there is nothing to undo.
    EditConflictError
        If ``base_version`` is given and someone saved since.
    """
    return open_store(ws).undo(ws, layer_id, base_version=base_version, author=author)


def create_layer(ws: Workspace, layer_id: str, kind: LayerKind | str, *,
                 title: str | None = None, evidences: Sequence[AwsElement] | None = None,
                 author: str | None = None) -> LayerSpec:
    """Create a new, empty store layer and its ``layers/<id>.toml``.

    Raises
    ------
    CatalogueError
        If the id is taken or malformed, or the kind is unknown (the message lists kinds).
    """
    return open_store(ws).create_layer(ws, layer_id, kind, title=title, evidences=evidences,
                                       author=author)
