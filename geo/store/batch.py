"""Several layers and files saved as one step: all of them, or none (``catchscope new-site``).

:func:`save_together` adds features to several layers of the edit store — creating the
layers that do not exist yet, moving a layer that still lives in its own file into the
store — and writes a few other files of the workspace (a site record, ``catchscope.toml``)
in one locked step.  The rules of :mod:`geo.store.gpkg` hold for the whole batch:

* one advisory lock on the workspace folder for the whole step, and one SQLite
  transaction for every layer's rows and history;
* each layer is read *under the lock*, so features saved by someone else a moment
  before are kept (the batch only adds); a fid already in the layer is refused;
* each extra file states the bytes it expects to replace (None: it must not exist), so
  a record another session saved since the review is never overwritten;
* on any error — a refused value, a conflict, a full disk, a bug — every file of the
  workspace is byte-identical to before: the store, every layer file, every extra file.

It writes the GeoPackage store (:mod:`geo.store.gpkg`); a workspace whose store is a
shared PostGIS database is refused, with nothing written.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import geopandas as gpd
import pandas as pd

from geo.core.catalogue import AwsElement, LayerKind, LayerSpec, load_layer_spec, toml_value
from geo.core.errors import CatalogueError, DataWriteError, GeoError
from geo.core.io import atomic_write_bytes
from geo.core.workspace import Workspace
from geo.store.gpkg import (
    _create_rows,
    _ensure_store,
    _exclusive,
    _forget,
    _fresh_spec,
    _record,
    _snapshot,
    _touch,
    _transaction,
    _version,
    is_store_layer,
    store_path,
)
from geo.store.interface import SaveResult, _author, _new_layer, _NewLayer
from geo.store.layer_files import (
    STORE_FILE,
    _check_spec,
    _restore_file,
    _store_toml,
    _write_spec,
)
from geo.store.rows import Rows, Schema, _diff, _frame_to_rows, _write_table

__all__ = ["Addition", "Batch", "FileWrite", "save_batch", "save_together"]


@dataclass(frozen=True)
class Addition:
    """Features to add to one layer (created with ``kind`` and ``title`` if it is new)."""

    layer_id: str
    kind: LayerKind
    title: str
    frame: gpd.GeoDataFrame
    evidences: tuple[AwsElement, ...] | None = None
    #: The ``[style]`` table of a layer this creates (a layer that exists keeps its own).
    style: Mapping[str, object] | None = None


@dataclass(frozen=True)
class FileWrite:
    """A file of the workspace to write: its new bytes and the bytes it must hold now."""

    path: Path
    data: bytes
    expected: bytes | None


class Batch(Protocol):
    """What :func:`save_batch` saves (e.g. :class:`geo.scope.sitedraft.SiteDraft`)."""

    def additions(self) -> Sequence[tuple[str, LayerKind, str, gpd.GeoDataFrame,
                                          tuple[AwsElement, ...], Mapping[str, object]]]:
        """(layer id, kind, title, features, evidences, style) of each layer to add to."""
        ...

    def files(self, ws: Workspace) -> Sequence[tuple[Path, bytes, bytes | None]]:
        """(path, new bytes, bytes expected there now) of each other file to write."""
        ...


def save_batch(ws: Workspace, batch: Batch, *, action: str, summary: str,
               author: str | None = None) -> list[SaveResult]:
    """Save a batch's layers and files with :func:`save_together` (all or nothing)."""
    additions = [Addition(layer_id, kind, title, frame, tuple(evidences) or None,
                          dict(style) or None)
                 for layer_id, kind, title, frame, evidences, style in batch.additions()]
    files = [FileWrite(Path(path), data, expected) for path, data, expected in batch.files(ws)]
    return save_together(ws, additions, files=files, action=action, summary=summary,
                         author=author)


@dataclass
class _Step:
    addition: Addition
    created: _NewLayer | None = None
    spec: LayerSpec | None = None
    layer_file: Path | None = None
    layer_text: str | None = None
    original: tuple[Schema, Rows] | None = None
    rows: tuple[Schema, Rows] | None = None


def save_together(ws: Workspace, additions: Sequence[Addition], *,
                  files: Sequence[FileWrite] = (), action: str = "import",
                  summary: str = "", author: str | None = None) -> list[SaveResult]:
    """Add features to several layers and write ``files``, all or nothing.

    Parameters
    ----------
    ws : Workspace
        The open workspace (specs and cache refreshed on success).
    additions : sequence of Addition
        Features (any CRS; stored in EPSG:4326) with a ``fid`` each, new to their layer.
    files : sequence of FileWrite
        Other files of the workspace (inside its folder) to write atomically after the
        store commit, each only if it still holds ``expected``.
    action, summary, author : str
        Recorded in each layer's history.

    Returns
    -------
    list of SaveResult
        One per addition, in order.

    Raises
    ------
    CatalogueError
        A layer id that is malformed, or taken by a layer of another kind.
    DataWriteError
        Features unfit to store, a fid the layer holds already, a file outside the
        workspace or changed since it was read, or a write that failed; nothing is
        written.
    """
    if getattr(ws, "store", None) is not None:
        raise DataWriteError(
            "This workspace's edit store is a shared PostGIS database; saving several layers "
            "and files in one step is done for the GeoPackage store (data/workspace.gpkg) "
            "only. Nothing was saved: draft the site in a GeoPackage workspace, or save its "
            "layers one by one with catchscope import.")
    steps = [_prepare(ws, a) for a in additions]
    root = ws.root.resolve()
    for write in files:
        if not write.path.resolve().is_relative_to(root):
            raise DataWriteError(f"{write.path} is not inside the workspace {ws.root}; "
                                 "nothing was saved.")
    author = _author(author)
    with _exclusive(ws):
        for step in steps:
            _read_current(ws, step)
        for write in files:
            current = write.path.read_bytes() if write.path.exists() else None
            if current != write.expected:
                raise DataWriteError(
                    f"{write.path.name} changed since this was reviewed (another session "
                    "saved it); nothing was saved. Review again.")
        results = _write(ws, steps, files, action=action, summary=summary, author=author)
    for step in steps:
        if step.layer_file is not None:
            ws.specs[step.addition.layer_id] = load_layer_spec(step.layer_file)
    ws.clear_cache()
    return results


def _prepare(ws: Workspace, addition: Addition) -> _Step:
    """Check one addition's layer and features before the lock (nothing read from the store)."""
    frame = addition.frame
    if frame.empty:
        raise DataWriteError(f"Layer {addition.layer_id!r}: nothing to add.")
    _frame_to_rows(frame, addition.layer_id)  # refuse unstorable values early, by name
    step = _Step(addition)
    path = ws.layers_dir / f"{addition.layer_id}.toml"
    if addition.layer_id not in ws.specs and not path.exists():
        step.created = _new_layer(ws, addition.layer_id, addition.kind, title=addition.title,
                                  evidences=addition.evidences)
        text = step.created.text
        if addition.style:
            text += "\n[style]\n" + "".join(f"{key} = {toml_value(value)}\n"
                                            for key, value in addition.style.items())
            _check_spec(step.created.path, text)  # a bad style refused before anything
        step.layer_file, step.layer_text = step.created.path, text
        return step
    spec = _fresh_spec(ws, addition.layer_id)
    if spec.kind is not addition.kind:
        raise CatalogueError(f"Layer {addition.layer_id!r} is a {spec.kind.value} layer, not "
                             f"{addition.kind.value}; nothing was saved.")
    step.spec = spec
    return step


def _read_current(ws: Workspace, step: _Step) -> None:
    """The layer's features now (under the lock), with the addition appended, as rows."""
    layer_id = step.addition.layer_id
    new = step.addition.frame.to_crs("EPSG:4326")
    if step.created is not None:
        if layer_id in ws.specs or step.created.path.exists():
            raise CatalogueError(f"Layer {layer_id!r} was created by another session meanwhile; "
                                 "nothing was saved. Try again.")
        step.rows = _frame_to_rows(new, layer_id)
        return
    spec = _fresh_spec(ws, layer_id)
    step.spec = spec
    current = ws.load(layer_id)
    taken = set(current["fid"].astype(str)) & set(new["fid"].astype(str))
    if taken:
        raise DataWriteError(f"Layer {layer_id!r} holds feature(s) {', '.join(sorted(taken))} "
                             "already; nothing was saved.")
    if not is_store_layer(spec):
        step.original = _frame_to_rows(current, layer_id)
        step.layer_file, step.layer_text = _store_toml(ws, spec)
    merged = pd.concat([current.drop(columns=["layer", "kind"], errors="ignore"), new],
                       ignore_index=True)
    step.rows = _frame_to_rows(gpd.GeoDataFrame(merged, geometry="geometry", crs="EPSG:4326"),
                               layer_id)


def _write(ws: Workspace, steps: Sequence[_Step], files: Sequence[FileWrite], *, action: str,
           summary: str, author: str) -> list[SaveResult]:
    """The batch's writes (lock held); every file put back as it was if any of them fails."""
    store = store_path(ws)
    had_data, had_store = ws.data_dir.exists(), store.exists()
    store_before = store.read_bytes() if had_store else None
    before = {p: (p.read_bytes() if p.exists() else None)
              for p in [s.layer_file for s in steps if s.layer_file is not None]
              + [w.path for w in files]}
    made = [d for w in files for d in (w.path.parent, *w.path.parent.parents)
            if d.is_relative_to(ws.root) and not d.exists()]
    results: list[SaveResult] = []
    try:
        store = _ensure_store(ws)
        before_ns = store.stat().st_mtime_ns
        with _transaction(store) as con:
            for step in steps:
                results.append(_write_layer(con, step, action=action, summary=summary,
                                            author=author))
        for step in steps:
            if step.layer_file is not None and step.layer_text is not None:
                _write_spec(step.layer_file, step.layer_text)
        for write in files:
            write.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(write.path, write.data, overwrite=True)
    except BaseException as err:
        for path, content in before.items():
            _restore_file(path, content)
        if store_before is None:
            for leftover in (store, store.with_name(f"{STORE_FILE}-journal"),
                             store.with_name(f".{STORE_FILE}.creating")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
        else:
            _restore_file(store, store_before)
        for folder in sorted(made, key=lambda d: -len(d.parts)):
            with contextlib.suppress(OSError):
                folder.rmdir()
        if not had_data:
            with contextlib.suppress(OSError):
                _remove_empty_tree(ws.data_dir)
        if isinstance(err, GeoError) or not isinstance(err, Exception):
            raise
        raise DataWriteError(f"Could not save to {ws.root}: {err}. Nothing was saved.") from err
    with contextlib.suppress(OSError):
        _touch(store, before_ns)
    return results


def _write_layer(con: sqlite3.Connection, step: _Step, *, action: str, summary: str,
                 author: str) -> SaveResult:
    assert step.rows is not None
    layer_id = step.addition.layer_id
    schema, rows = step.rows
    migrated_from = None
    old_state: tuple[Schema, Rows]
    if step.created is not None:
        _create_rows(con, layer_id, step.created.kind, author)
        current, old_state = 1, ([], [])
    elif step.original is not None:
        assert step.spec is not None
        _forget(con, layer_id)
        _write_table(con, layer_id, *step.original)
        _record(con, layer_id, version=1, base_version=0, author=author, action="migrate",
                summary=f"copied {len(step.original[1])} features from {step.spec.source}",
                undoes=None, schema=step.original[0], rows=step.original[1],
                origin=step.spec.source)
        current, old_state = 1, step.original
        migrated_from = step.spec.source
    else:
        current = _version(con, layer_id)
        old_state = _snapshot(con, layer_id, current)
    added, removed, changed = _diff(old_state, (schema, rows))
    _write_table(con, layer_id, schema, rows)
    _record(con, layer_id, version=current + 1, base_version=current, author=author,
            action=action, summary=summary or f"{added} added", undoes=None, schema=schema,
            rows=rows)
    return SaveResult(layer_id, current + 1, added, removed, changed, len(rows),
                      migrated_from=migrated_from)


def _remove_empty_tree(folder: Path) -> None:
    """Remove ``folder`` if it holds nothing but empty folders (a save that made it)."""
    for child in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
        if child.is_dir():
            child.rmdir()
        else:
            return
    folder.rmdir()
