"""A workspace: a folder with ``layers/*.toml``, ``data/`` and optional ``catchscope.toml``.

The repository root is the bundled demo workspace.  :func:`open_workspace` checks
the layout and loads the catalogue and site records; :meth:`Workspace.load` reads a
layer through the loader registered for its kind and returns it in canonical WGS84
with the standard columns every part of Catchscope relies on:

``fid``  feature id (unique within the workspace), ``name``, ``layer``, ``kind``,
``aws_ref`` (site link or None), ``accuracy``, ``source``, ``datum`` (original datum).
"""

from __future__ import annotations

import os
import shutil
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geo.core.catalogue import (
    LayerKind,
    LayerSpec,
    get_spec,
    load_catalogue,
    specs_of_kind,
)
from geo.core.crs import to_wgs84
from geo.core.errors import CatalogueError, DataReadError, WorkspaceError
from geo.core.io import read_layer
from geo.core.postgis import (
    STORE_SOURCE,
    StoreLocation,
    overlay_stored_specs,
    read_stored_layer,
    resolve_store,
    store_stamp,
    stored_specs,
    stored_version,
)
from geo.core.records import SiteRecord, get_record, load_records

__all__ = [
    "STANDARD_COLUMNS",
    "Workspace",
    "WorkspaceSettings",
    "check_unit_columns",
    "copy_workspace",
    "default_workspace_path",
    "open_workspace",
    "register",
    "shared_store_stamp",
    "standardise",
]

SETTINGS_FILE = "catchscope.toml"
STANDARD_COLUMNS = ("fid", "name", "layer", "kind", "aws_ref", "accuracy", "source", "datum")


class ScopeSettings(BaseModel):
    """Tolerances and bands the scope engine uses (all configurable per workspace)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    onsite_tolerance_m: float = Field(50.0, ge=0, le=5_000)
    buffer_bands_km: tuple[float, ...] = (1.0, 10.0, 50.0)
    inference_tolerance_m: float = Field(1_000.0, ge=0, le=50_000)


class WorkspaceSettings(BaseModel):
    """``catchscope.toml``: the workspace's name and analysis settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "Catchscope workspace"
    description: str = ""
    catchment_level: str = Field(
        "section",
        description="Level of catchment_unit features at which 0.1.1.1 (one catchment) is judged.",
    )
    default_site: str | None = None
    store: str | None = Field(
        None, max_length=4_000,
        description="The edit store: a postgresql:// URL (or env:NAME) for a shared PostGIS "
                    "store; none for data/workspace.gpkg.",
    )
    store_schema: str = Field("catchscope", pattern=r"^[a-z_][a-z0-9_]{0,62}$",
                              description="The PostgreSQL schema of a shared store.")
    scope: ScopeSettings = ScopeSettings()


Loader = Callable[["Workspace", LayerSpec], gpd.GeoDataFrame]
_LOADERS: dict[LayerKind, Loader] = {}


def register(*kinds: LayerKind) -> Callable[[Loader], Loader]:
    """Register a loader for one or more layer kinds (``@register(LayerKind.RIVER)``)."""

    def decorate(func: Loader) -> Loader:
        for kind in kinds:
            _LOADERS[kind] = func
        return func

    return decorate


def _loader_for(kind: LayerKind) -> Loader:
    try:
        return _LOADERS[kind]
    except KeyError:
        known = ", ".join(sorted(k.value for k in _LOADERS))
        raise CatalogueError(
            f"No loader for layer kind {kind.value!r}; known kinds: {known}."
        ) from None


def default_workspace_path() -> Path:
    """The bundled demo workspace: the repository root (parent of ``geo/``)."""
    return Path(__file__).resolve().parents[2]


@dataclass
class Workspace:
    """An opened workspace.  Build it with :func:`open_workspace`."""

    root: Path
    settings: WorkspaceSettings
    specs: dict[str, LayerSpec]
    records: dict[str, SiteRecord]
    _cache: dict[str, tuple[float, gpd.GeoDataFrame]] = field(default_factory=dict, repr=False)
    #: The shared PostGIS edit store (``store`` in catchscope.toml); None: the GeoPackage.
    store: StoreLocation | None = None

    @property
    def layers_dir(self) -> Path:
        """The catalogue folder."""
        return self.root / "layers"

    @property
    def data_dir(self) -> Path:
        """The data folder (layer sources and site records)."""
        return self.root / "data"

    def spec(self, layer_id: str) -> LayerSpec:
        """The catalogue entry of ``layer_id`` (unknown ids list the known ones)."""
        return get_spec(self.specs, layer_id)

    def record(self, aws_ref: str) -> SiteRecord:
        """The site record of ``aws_ref`` (unknown refs list the known sites)."""
        return get_record(self.records, aws_ref)

    def source_path(self, spec: LayerSpec) -> Path:
        """Absolute path of a layer's data file, guaranteed to lie inside ``data/``."""
        path = (self.data_dir / spec.source).resolve()
        if not path.is_relative_to(self.data_dir.resolve()):
            raise CatalogueError(f"{spec.id}.toml: source {spec.source!r} leaves data/.")
        return path

    def layers_of_kind(self, *kinds: LayerKind) -> list[LayerSpec]:
        """Specs of the given kinds, in catalogue (drawing) order."""
        return specs_of_kind(self.specs.values(), *kinds)

    def load(self, layer_id: str) -> gpd.GeoDataFrame:
        """Load a layer in EPSG:4326 with the standard columns (cached by file mtime).

        A raster layer loads as its footprint polygon; read its pixels with ``geo.raster.overlay``.
        """
        spec = self.spec(layer_id)
        if self.store is not None and spec.source == STORE_SOURCE:
            # (versions are small counts, mtimes seconds since 1970: never equal)
            mtime = float(stored_version(self.store, spec.layer or spec.id))
        else:
            path = self.source_path(spec)
            mtime = path.stat().st_mtime if path.exists() else -1.0
        cached = self._cache.get(layer_id)
        if cached is not None and cached[0] == mtime:
            return cached[1].copy()
        frame = _loader_for(spec.kind)(self, spec)
        self._cache[layer_id] = (mtime, frame)
        return frame.copy()

    def load_kind(self, *kinds: LayerKind) -> gpd.GeoDataFrame:
        """All vector layers of the given kinds concatenated (empty frame when none)."""
        frames = [self.load(spec.id) for spec in self.layers_of_kind(*kinds) if not spec.is_raster]
        frames = [f for f in frames if not f.empty]
        if not frames:
            return _empty_frame()
        return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:4326")

    def clear_cache(self) -> None:
        """Forget loaded layers (after an edit outside this object)."""
        self._cache.clear()


def _empty_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({col: pd.Series(dtype="object") for col in STANDARD_COLUMNS},
                            geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")


def _read_settings(root: Path) -> WorkspaceSettings:
    path = root / SETTINGS_FILE
    if not path.exists():
        return WorkspaceSettings()
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        return WorkspaceSettings.model_validate(raw)
    except tomllib.TOMLDecodeError as err:
        raise WorkspaceError(f"{SETTINGS_FILE}: not valid TOML ({err}).") from err
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise WorkspaceError(f"{SETTINGS_FILE}: {problems}.") from err


def _check_layout(root: Path) -> None:
    if not root.is_dir():
        raise WorkspaceError(
            f"Workspace {root} does not exist. Create one with `catchscope init {root}`."
        )
    if not (root / "layers").is_dir():
        raise WorkspaceError(
            f"{root} is not a workspace: it has no layers/ folder. "
            f"Create one with `catchscope init {root}`."
        )
    _check_confined(root)


def _check_confined(root: Path) -> None:
    """Refuse a workspace whose folders or files lead out of it through symlinks.

    A workspace handed around as a ZIP may hold a ``layers/x.toml`` or ``data/`` entry that
    links to ``/etc`` or another user's files; everything the app reads must lie inside.
    """
    real = root.resolve()
    candidates = [root / "catchscope.toml", root / "layers", root / "data"]
    candidates += sorted((root / "layers").glob("*.toml"))
    sites = root / "data" / "sites"
    if sites.is_dir() and sites.resolve().is_relative_to(real):
        # a file that is no symlink, in a folder inside, is inside: only the links are
        # resolved (10,000 records of a portfolio are one directory read, not 10,000 stats)
        with os.scandir(sites) as entries:
            links = sorted(Path(e.path) for e in entries
                           if e.name.endswith(".json") and e.is_symlink())
        candidates += [sites, *links]
    for path in candidates:
        if (path.exists() or path.is_symlink()) and not path.resolve().is_relative_to(real):
            raise WorkspaceError(
                f"{path.relative_to(root)} leads out of the workspace (a symlink to "
                f"{path.resolve()}); a workspace may only read files inside {root}. "
                "Replace the link with the file itself.")


def shared_store_stamp(root: Path) -> tuple[int, int] | None:
    """What changes whenever anyone saves into the workspace's shared PostGIS store.

    None for the GeoPackage store, whose file's modification time says as much.  Caches
    keyed by file times (the app's, the feature service's) add this, since a save from
    another machine changes no file here.

    Raises
    ------
    WorkspaceError, StoreConnectionError
        If ``catchscope.toml`` is invalid or the store cannot be reached.
    """
    settings = _read_settings(root)
    store = resolve_store(settings.store, settings.store_schema)
    return None if store is None else store_stamp(store)


def copy_workspace(source: Path, target: Path, *, edits: bool = False) -> Path:
    """Copy a workspace (``layers/``, ``data/``, ``catchscope.toml``) to a new ``target``.

    Build scripts' folders and caches are left behind, and so is the edit store
    (``data/workspace.gpkg``) unless ``edits``: the copy starts as the files ship.
    """
    ignored = ["build", "__pycache__"] + ([] if edits else ["workspace.gpkg*"])
    target.mkdir(parents=True)
    shutil.copytree(source / "layers", target / "layers")
    shutil.copytree(source / "data", target / "data", ignore=shutil.ignore_patterns(*ignored))
    if (source / SETTINGS_FILE).exists():
        shutil.copy2(source / SETTINGS_FILE, target / SETTINGS_FILE)
    return target


def open_workspace(path: Path | str | None = None) -> Workspace:
    """Open the workspace at ``path`` (default: the bundled demo workspace).

    Raises
    ------
    WorkspaceError
        If the folder is not a workspace, or a layer file or site record is invalid
        (the message names the file and the field).
    """
    root = Path(path).expanduser().resolve() if path is not None else default_workspace_path()
    _check_layout(root)
    settings = _read_settings(root)
    store = resolve_store(settings.store, settings.store_schema)
    specs = load_catalogue(root / "layers")
    if store is not None:  # the shared store has the say on the layers it holds
        specs = overlay_stored_specs(specs, stored_specs(store))
    records = load_records(root / "data")
    return Workspace(root=root, settings=settings, specs=specs, records=records, store=store)


# --- loaders, registered by kind -------------------------------------------------------


def _standardise(frame: gpd.GeoDataFrame, spec: LayerSpec) -> gpd.GeoDataFrame:
    where = f"layer {spec.id!r} ({spec.source})"
    if spec.id_field not in frame.columns:
        raise CatalogueError(
            f"{spec.id}.toml: id_field {spec.id_field!r} is not a column of {spec.source}; "
            f"columns are: {', '.join(map(str, frame.columns.drop('geometry')))}."
        )
    out = frame.copy()
    out["fid"] = out[spec.id_field].astype(str)
    out["name"] = (
        out[spec.label_field].astype("string").fillna(out["fid"])
        if spec.label_field in out.columns
        else out["fid"]
    )
    out["layer"] = spec.id
    out["kind"] = spec.kind.value
    if spec.site_field and spec.site_field in out.columns:
        site_refs = out[spec.site_field].astype(object)
        out["aws_ref"] = site_refs.where(site_refs.notna() & (site_refs != ""), None)
    else:
        out["aws_ref"] = None
    default_accuracy = spec.accuracy.value if spec.accuracy else None
    if "accuracy" not in out.columns:
        out["accuracy"] = default_accuracy
    elif default_accuracy is not None:
        out["accuracy"] = out["accuracy"].fillna(default_accuracy)
    if "source" not in out.columns:
        out["source"] = spec.attribution or None
    if "datum" not in out.columns:
        out["datum"] = spec.datum.value
    else:
        out["datum"] = out["datum"].fillna(spec.datum.value)
    if out.geometry.isna().any():
        missing = out.loc[out.geometry.isna(), "fid"].tolist()[:5]
        raise DataReadError(f"{where}: features without geometry: {', '.join(missing)}.")
    return out


def _read_vector(workspace: Workspace, spec: LayerSpec) -> gpd.GeoDataFrame:
    if spec.source == STORE_SOURCE:
        if workspace.store is None:
            raise CatalogueError(
                f"{spec.id}.toml: the layer lives in a shared PostGIS edit store (source = "
                f"{STORE_SOURCE!r}), but catchscope.toml names none; add store = "
                "\"postgresql://…\" there.")
        frame = read_stored_layer(workspace.store, spec.layer or spec.id)
    else:
        frame = read_layer(workspace.source_path(spec), layer=spec.layer)
    frame = to_wgs84(frame, declared_crs=spec.crs, datum=spec.datum,
                     where=f"layer {spec.id!r} ({spec.source})")
    return _standardise(frame, spec)


@register(
    LayerKind.SITE,
    LayerKind.CATCHMENT,
    LayerKind.RIVER,
    LayerKind.LAKE,
    LayerKind.IWRA,
    LayerKind.DISCHARGE_POINT,
    LayerKind.WATER_SOURCE,
    LayerKind.FACILITY,
    LayerKind.PIPE,
    LayerKind.ADMIN,
    LayerKind.OTHER,
)
def load_vector(workspace: Workspace, spec: LayerSpec) -> gpd.GeoDataFrame:
    """Default loader: read, bring to WGS84, add the standard columns."""
    return _read_vector(workspace, spec)


@register(LayerKind.CATCHMENT_UNIT)
def load_catchment_units(workspace: Workspace, spec: LayerSpec) -> gpd.GeoDataFrame:
    """Load catchment units, which need ``next_down`` and ``level`` columns.

    ``next_down`` is the fid of the unit downstream (empty at the sink); a missing
    column is an error naming the layer.
    """
    frame = _read_vector(workspace, spec)
    check_unit_columns(spec, frame.columns)
    frame["next_down"] = _next_down(frame["next_down"])
    return frame


def check_unit_columns(spec: LayerSpec, columns: Iterable[str]) -> None:
    """Refuse catchment units without ``next_down`` or ``level``, naming the layer."""
    for column in ("next_down", "level"):
        if column not in columns:
            raise CatalogueError(
                f"Layer {spec.id!r} ({spec.source}): catchment units need a {column!r} column "
                "(next_down: fid of the unit downstream, empty at the sink; level: e.g. 'section')."
            )


def _next_down(values: pd.Series) -> pd.Series:
    # object dtype: pandas' string dtype would turn None back into NaN at the sink
    next_down = values.astype(object)
    return next_down.where(next_down.notna() & (next_down.astype(str) != ""), None)


def standardise(frame: gpd.GeoDataFrame, spec: LayerSpec) -> gpd.GeoDataFrame:
    """A layer's features as read (in EPSG:4326) with the standard columns its loader adds.

    For readers that take a layer in part (the portfolio over GeoParquet layers): the
    same columns and values, row for row, as :meth:`Workspace.load` gives; catchment
    units get ``next_down`` None at a sink.
    """
    out = _standardise(frame, spec)
    if spec.kind == LayerKind.CATCHMENT_UNIT and "next_down" in out.columns:
        out["next_down"] = _next_down(out["next_down"])
    return out


@register(LayerKind.RASTER)
def load_raster_footprint(workspace: Workspace, spec: LayerSpec) -> gpd.GeoDataFrame:
    """A raster's footprint as one polygon feature (the pixels are read by geo.raster.overlay)."""
    import rasterio
    from rasterio.errors import RasterioIOError
    from shapely.geometry import box

    path = workspace.source_path(spec)
    try:
        with rasterio.open(path) as dataset:
            crs = dataset.crs.to_string() if dataset.crs else spec.crs
            footprint = gpd.GeoDataFrame(
                {spec.id_field: [spec.id], "name": [spec.title]},
                geometry=[box(*dataset.bounds)],
                crs=crs,
            )
    except RasterioIOError as err:
        raise DataReadError(
            f"Layer {spec.id!r}: cannot open raster {spec.source} ({err})."
        ) from err
    footprint = to_wgs84(footprint, declared_crs=spec.crs, where=f"layer {spec.id!r}")
    return _standardise(footprint, spec)
