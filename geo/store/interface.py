"""What every edit store offers, and what its backends share (part of :mod:`geo.store`).

:class:`EditStore` is the interface the callers (the CLI, the app, the importer) use through
:mod:`geo.store.edits`; :mod:`geo.store.gpkg` (``data/workspace.gpkg``, the default) and
:mod:`geo.store.postgis` (a shared PostGIS database) implement it with the same rules:

* every save names the version it was based on, and a stale one is refused with
  :class:`~geo.core.errors.EditConflictError` and nothing written (no lost update);
* a save is one transaction: a process killed midway leaves the old state or the new one;
* each save is a new version in the history, with who, when, what and a snapshot, so any
  save can be undone (the undo is itself a version).

Here: :class:`HistoryEntry`, :class:`SaveResult`, the checks of a new layer and the choice of
the save an undo reverts, which both backends use.
"""

from __future__ import annotations

import datetime as dt
import getpass
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import geopandas as gpd

from geo.core.catalogue import AwsElement, LayerKind, LayerSpec, toml_value
from geo.core.errors import CatalogueError
from geo.core.workspace import Workspace
from geo.store.layer_files import _STORE_KEYS, DEFAULT_EVIDENCE, STORE_FILE, _check_spec

__all__ = ["EditStore", "HistoryEntry", "SaveResult"]

_BASELINE_ACTIONS = ("migrate", "create")
_LAYER_ID = re.compile(r"[a-z][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class HistoryEntry:
    """One save of a stored layer."""

    layer_id: str
    version: int
    base_version: int
    saved_at: str
    author: str
    action: str
    summary: str
    undoes: int | None
    n_features: int


@dataclass(frozen=True)
class SaveResult:
    """What a save did."""

    layer_id: str
    version: int
    added: int
    removed: int
    changed: int
    n_features: int
    migrated_from: str | None = None

    @property
    def message(self) -> str:
        """One line for the user."""
        moved = (f" (moved into the edit store from {self.migrated_from})"
                 if self.migrated_from else "")
        return (
            f"Saved layer {self.layer_id!r} as version {self.version}: {self.added} added, "
            f"{self.removed} removed, {self.changed} changed, {self.n_features} features"
            f"{moved}."
        )


class EditStore(Protocol):
    """An edit store: versioned, version-checked saves of whole layers, with history.

    The functions of :mod:`geo.store.edits` pick the workspace's store and call these;
    their docstrings there say what each does and raises.
    """

    def describe(self, ws: Workspace) -> str:
        """Where the store is, for messages (a password never shows)."""
        ...

    def is_store_layer(self, ws: Workspace, spec: LayerSpec) -> bool:
        """Whether the layer's features are in this store."""
        ...

    def fresh_spec(self, ws: Workspace, layer_id: str) -> LayerSpec:
        """The layer's spec as it is *now* (another session may have moved it)."""
        ...

    def layer_version(self, ws: Workspace, layer_id: str) -> int:
        """The layer's current version; 0 while it still lives in its own file."""
        ...

    def history(self, ws: Workspace, layer_id: str) -> list[HistoryEntry]:
        """Every save of the layer, oldest first."""
        ...

    def save_layer(self, ws: Workspace, layer_id: str, frame: gpd.GeoDataFrame, *,
                   base_version: int, action: str = "edit", summary: str = "",
                   author: str | None = None, new_kind: LayerKind | str | None = None,
                   title: str | None = None) -> SaveResult:
        """Replace the layer's features, atomically, if nobody saved since."""
        ...

    def undo(self, ws: Workspace, layer_id: str, *, base_version: int | None = None,
             author: str | None = None) -> SaveResult:
        """Undo the latest save not undone yet (itself a new version)."""
        ...

    def create_layer(self, ws: Workspace, layer_id: str, kind: LayerKind | str, *,
                     title: str | None = None, evidences: Sequence[AwsElement] | None = None,
                     author: str | None = None) -> LayerSpec:
        """Create a new, empty store layer."""
        ...


def _author(author: str | None) -> str:
    if author:
        return author
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True)
class _NewLayer:
    """A layer to create in the same step as a save: its kind and checked layer file."""

    kind: LayerKind
    path: Path
    text: str


def _new_layer(ws: Workspace, layer_id: str, kind: LayerKind | str, *, title: str | None,
               evidences: Sequence[AwsElement] | None = None, source: str = STORE_FILE,
               where: str = f"the edit store ({STORE_FILE})") -> _NewLayer:
    """Check a new layer's id and kind and write its layer file's text (not the file).

    ``source`` is the store's ``source`` value and ``where`` names the store in the
    file's first comment line.
    """
    try:
        kind = LayerKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in LayerKind if k is not LayerKind.RASTER)
        raise CatalogueError(f"Unknown layer kind {kind!r}; use one of: {known}.") from None
    if kind is LayerKind.RASTER:
        raise CatalogueError("Raster layers cannot be created by import or drawing; "
                             "add the GeoTIFF to data/ and describe it in layers/<id>.toml.")
    if not _LAYER_ID.fullmatch(layer_id):
        raise CatalogueError(f"Layer id {layer_id!r} must start with a lower-case letter and "
                             "hold only a-z, 0-9 and '_' (at most 63).")
    _check_new(ws, layer_id)
    if layer_id.startswith(("gpkg_", "sqlite_", "rtree_", "catchscope_")):
        raise CatalogueError(f"Layer id {layer_id!r} uses a prefix reserved by GeoPackage or "
                             "Catchscope; choose another id.")
    evidence = tuple(evidences) if evidences is not None else DEFAULT_EVIDENCE.get(kind, ())
    keys = {**_STORE_KEYS, "source": source}
    lines = [
        f"# Created by Catchscope on {dt.date.today().isoformat()}; features live in "
        f"{where}.",
        f"id = {toml_value(layer_id)}",
        f"title = {toml_value(title or layer_id.replace('_', ' ').capitalize())}",
        f"kind = {toml_value(kind.value)}",
        *(f"{key} = {toml_value(spec_value)}" for key, spec_value in
          {k: (layer_id if v is None else v) for k, v in keys.items()}.items()),
        "evidences = [" + ", ".join(toml_value(e.value) for e in evidence) + "]",
    ]
    path = ws.layers_dir / f"{layer_id}.toml"
    text = "\n".join(lines) + "\n"
    _check_spec(path, text)
    return _NewLayer(kind, path, text)


def _check_new(ws: Workspace, layer_id: str) -> None:
    if layer_id in ws.specs or (ws.layers_dir / f"{layer_id}.toml").exists():
        raise CatalogueError(f"Layer {layer_id!r} already exists; import into it without --kind.")


def _undo_target(entries: Sequence[tuple[int, int, str, int | None, str]]
                 ) -> tuple[int, int, str, int | None, str] | None:
    """The save an undo reverts: the latest that is no undo, no baseline, not undone yet.

    ``entries`` are (version, base_version, action, undoes, summary), newest first.
    """
    undone = {row[3] for row in entries if row[3] is not None}
    return next((row for row in entries if row[2] != "undo"
                 and row[2] not in _BASELINE_ACTIONS and row[0] not in undone), None)
