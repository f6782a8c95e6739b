"""The workspace as the feature service reads it: collections, their frames, their versions.

A :class:`WorkspaceSource` serves one workspace folder, true or public (redacted).  It
never holds a stale view: every call stats the catalogue (``catchscope.toml``,
``layers/*.toml``, ``data/sites/*.json``) and the files a collection rests on, and
reloads what changed, so an edit saved in the app's edit store (whose file's mtime
strictly increases with every save; a shared PostGIS store's versions and latest save
are asked instead) or a replaced GeoJSON is served on the next request, without a
restart.  What did not change is served from memory.

Collections
-----------
``<layer id>``            one per vector layer of the catalogue (rasters are not features);
``<AWS ref>-scope``       the site's physical scope, as its export has it
                          (:func:`geo.export.site.collect`);
``<AWS ref>-record``      the site record, one feature without geometry;
``<AWS ref>-checklist``   the 1.1.1 checklist (and 0.1.1.1), one feature per row, no geometry.

Public sources redact exactly as the public exports do: layers through
:func:`geo.export.redact.public_workspace` (rebuilt whenever an intake or outfall layer
changes, since the pipes are clipped around the true points), site collections through
``collect(..., redact=...)``.  Nothing a request can say turns redaction off: the
redaction is fixed when the source is made.

Versions: a layer in the edit store has the store's version (read by the function the
command line injects, ``layer_version``, since this package may not import
``geo.store``); a layer in its own file has the file's mtime; site collections a digest
of every layer's state.  :meth:`WorkspaceSource.validators` turns them into an ETag and
a Last-Modified time.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.core.catalogue import LayerKind
from geo.core.errors import LayerNotFoundError
from geo.core.workspace import Workspace, open_workspace, shared_store_stamp
from geo.export.exportset import ExportSet, Redaction
from geo.export.redact import SENSITIVE_KINDS, public_workspace

__all__ = [
    "Collection",
    "LayerVersion",
    "Part",
    "Validators",
    "WorkspaceSource",
    "collection_id",
    "source_for",
]

#: ``layer_version(workspace, layer_id) -> int``: the edit store's version, 0 off the store.
LayerVersion = Callable[[Workspace, str], int]
_State = tuple[Any, ...]


class Part(StrEnum):
    """What a collection holds."""

    LAYER = "layer"
    SCOPE = "scope"
    RECORD = "record"
    CHECKLIST = "checklist"


@dataclass(frozen=True)
class Collection:
    """One collection of the service: a layer, or a part of a site's export."""

    part: Part
    key: str  # the layer id, or the site's AWS reference

    @property
    def id(self) -> str:
        """The collection id in URLs (``rivers``, ``AWS-000522-scope``)."""
        return collection_id(self.part, self.key)


def collection_id(part: Part, key: str) -> str:
    """``rivers`` for a layer, ``AWS-000522-checklist`` for a part of a site."""
    return key if part is Part.LAYER else f"{key}-{part.value}"


@dataclass(frozen=True)
class Validators:
    """What HTTP caches compare: an opaque tag and the time of the latest change."""

    etag: str
    modified: float  # POSIX seconds


def _stat(path: Path) -> tuple[int, int]:
    try:
        status = path.stat()
    except OSError:
        return (-1, -1)
    return (status.st_mtime_ns, status.st_size)


def _digest(state: object) -> str:
    return hashlib.sha256(repr(state).encode()).hexdigest()[:16]


class WorkspaceSource:
    """One workspace as served (thread-safe: waitress answers from several threads).

    Parameters
    ----------
    root : Path
        The workspace folder.
    redaction : Redaction, optional
        Serve public copies only: intakes and outfalls coarsened or dropped.
    layer_version : callable, optional
        The edit store's ``layer_version``; without it versions are file mtimes.
    """

    def __init__(self, root: Path, *, redaction: Redaction | None = None,
                 layer_version: LayerVersion | None = None) -> None:
        self.root = Path(root).resolve()
        self.redaction = redaction
        self.layer_version = layer_version
        self._lock = threading.RLock()
        self._catalogue: _State | None = None
        self._workspace: Workspace | None = None
        self._public: tuple[_State, Workspace] | None = None
        self._frames: dict[str, tuple[_State, gpd.GeoDataFrame]] = {}
        self._exports: dict[str, tuple[_State, ExportSet]] = {}

    @property
    def public(self) -> bool:
        """Whether this source serves redacted copies only."""
        return self.redaction is not None

    # --- the workspace, reopened when its catalogue or records change ---------------------

    def workspace(self) -> Workspace:
        """The (true) workspace as its files are now."""
        state = self._catalogue_state()
        with self._lock:
            if self._workspace is None or state != self._catalogue:
                self._workspace = open_workspace(self.root)
                self._catalogue = state
                self._public = None
            return self._workspace

    def catalogue_state(self) -> _State:
        """What the list of collections rests on (stats of the catalogue and the records)."""
        return self._catalogue_state()

    def _catalogue_state(self) -> _State:
        paths = [self.root / "catchscope.toml", *sorted((self.root / "layers").glob("*.toml")),
                 *sorted((self.root / "data" / "sites").glob("*.json"))]
        # a shared PostGIS store: saves from other machines change no file here
        return (*((p.name, *_stat(p)) for p in paths), shared_store_stamp(self.root))

    def _layer_state(self, ws: Workspace, layer_id: str) -> _State:
        spec = ws.spec(layer_id)
        version = self.layer_version(ws, layer_id) if ws.store and self.layer_version else 0
        return (layer_id, *_stat(ws.layers_dir / f"{layer_id}.toml"),
                *_stat(ws.source_path(spec)), version)

    def _sensitive_state(self, ws: Workspace) -> _State:
        kinds = tuple(LayerKind(k) for k in SENSITIVE_KINDS)
        return tuple(self._layer_state(ws, s.id) for s in ws.layers_of_kind(*kinds))

    def _all_state(self, ws: Workspace) -> _State:
        return (self._catalogue,
                tuple(self._layer_state(ws, s.id) for s in ws.specs.values()))

    def _served(self, ws: Workspace) -> Workspace:
        """The workspace layers are loaded from: the redacted one for a public source."""
        if self.redaction is None:
            return ws
        state = self._sensitive_state(ws)
        with self._lock:
            if self._public is None or self._public[0] != state:
                self._public = (state, public_workspace(ws, self.redaction))
            return self._public[1]

    # --- collections ----------------------------------------------------------------------

    def collections(self) -> list[Collection]:
        """Every collection: the vector layers in catalogue order, then each site's parts."""
        ws = self.workspace()
        found = [Collection(Part.LAYER, s.id) for s in ws.specs.values() if not s.is_raster]
        for aws_ref in self.sites(ws):
            found += [Collection(part, aws_ref)
                      for part in (Part.SCOPE, Part.RECORD, Part.CHECKLIST)]
        return found

    def sites(self, ws: Workspace) -> list[str]:
        """The AWS references of sites with features (those whose scope can be exported)."""
        refs: set[str] = set()
        for spec in ws.layers_of_kind(LayerKind.SITE):
            refs |= {str(r) for r in ws.load(spec.id)["aws_ref"].dropna()}
        return sorted(refs)

    def collection(self, collection_id_: str) -> Collection:
        """The collection with this id (LookupError naming it otherwise)."""
        for found in self.collections():
            if found.id == collection_id_:
                return found
        raise LayerNotFoundError(f"No collection {collection_id_!r} in workspace {self.root}.")

    def frame(self, collection: Collection) -> gpd.GeoDataFrame:
        """The collection's features as served now (EPSG:4326; no geometry for tables).

        The frame is shared between requests: do not modify it.
        """
        ws = self.workspace()
        state = self._state(ws, collection)
        with self._lock:
            cached = self._frames.get(collection.id)
            if cached is not None and cached[0] == state:
                return cached[1]
        frame = self._load(ws, collection)
        with self._lock:
            self._frames[collection.id] = (state, frame)
        return frame

    def _state(self, ws: Workspace, collection: Collection) -> _State:
        if collection.part is Part.LAYER:
            state = self._layer_state(ws, collection.key)
            return (state, self._sensitive_state(ws)) if self.public else state
        return self._all_state(ws)

    def _load(self, ws: Workspace, collection: Collection) -> gpd.GeoDataFrame:
        if collection.part is Part.LAYER:
            frame = self._served(ws).load(collection.key)
            return gpd.GeoDataFrame(frame.reset_index(drop=True), geometry="geometry",
                                    crs="EPSG:4326")
        data = self.export_set(collection.key)
        if collection.part is Part.SCOPE:
            return data.features
        table = data.tables.get("site_record" if collection.part is Part.RECORD else "checklist")
        if table is None:
            return _no_rows()
        if collection.part is Part.RECORD:
            row = {"fid": collection.key, **dict(zip(table["field"], table["value"], strict=True))}
            table = pd.DataFrame([row])
        else:
            table = table.assign(fid=[f"{collection.key}-{i}" for i in table["indicator"]]
                                 if table["indicator"].is_unique else
                                 [f"{collection.key}-{e}" for e in table["element"]])
            table = table[["fid", *[c for c in table.columns if c != "fid"]]]
        return gpd.GeoDataFrame(table.reset_index(drop=True),
                                geometry=[None] * len(table), crs="EPSG:4326")

    def export_set(self, aws_ref: str) -> ExportSet:
        """The site's export set (redacted for a public source), reassessed after a change."""
        from geo.export.site import collect

        ws = self.workspace()
        state = self._all_state(ws)
        with self._lock:
            cached = self._exports.get(aws_ref)
            if cached is not None and cached[0] == state:
                return cached[1]
        data = collect(ws, aws_ref, redact=self.redaction)
        with self._lock:
            self._exports[aws_ref] = (state, data)
        return data

    # --- versions ---------------------------------------------------------------------------

    def validators(self, collection: Collection) -> Validators:
        """ETag and Last-Modified of a collection as it is now."""
        ws = self.workspace()
        if collection.part is Part.LAYER:
            spec = ws.spec(collection.key)
            files = [ws.layers_dir / f"{spec.id}.toml", ws.source_path(spec)]
            version = self.layer_version(ws, spec.id) if self.layer_version else 0
            tag = (f"v{version}" if version else
                   f"m{_stat(ws.source_path(spec))[0]}")
            if self.public:
                sensitive = ws.layers_of_kind(*(LayerKind(k) for k in SENSITIVE_KINDS))
                files += [ws.source_path(s) for s in sensitive]
                tag += f"-r{_digest(self._sensitive_state(ws))[:8]}"
        else:
            files = [ws.layers_dir / f"{s.id}.toml" for s in ws.specs.values()]
            files += [ws.source_path(s) for s in ws.specs.values()]
            files += [ws.data_dir / "sites" / f"{collection.key}.json"]
            tag = _digest(self._all_state(ws))
        modified = max((_stat(p)[0] for p in files), default=0) / 1e9
        return Validators(etag=f"{collection.id}-{tag}", modified=max(modified, 0.0))


def _no_rows() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"fid": pd.Series(dtype=object)}, geometry=[], crs="EPSG:4326")


_SOURCES: dict[tuple[Path, Redaction | None], WorkspaceSource] = {}
_SOURCES_LOCK = threading.Lock()


def source_for(root: Path | str, redaction: Redaction | str | None = None, *,
               layer_version: LayerVersion | None = None) -> WorkspaceSource:
    """The one source of a workspace and redaction in this process (made on first use).

    pygeoapi makes a provider per request; they share the source, and so its caches.
    ``layer_version`` is remembered from the first call that gives it.
    """
    key = (Path(root).resolve(), Redaction(redaction) if redaction else None)
    with _SOURCES_LOCK:
        source = _SOURCES.get(key)
        if source is None:
            source = _SOURCES[key] = WorkspaceSource(key[0], redaction=key[1],
                                                     layer_version=layer_version)
        elif layer_version is not None and source.layer_version is None:
            source.layer_version = layer_version
        return source
