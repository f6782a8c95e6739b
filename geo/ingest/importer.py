"""Put features read by :mod:`geo.ingest.read` into a workspace layer, through the edit store.

:func:`import_into` maps the source's fields to ours, gives every feature the standard
columns (``fid`` kept if unique across the workspace, else generated; ``accuracy``
"surveyed" unless given; ``source`` = file name + import date; ``datum`` = the
coordinates' original datum; ``aws_ref``), refuses features whose geometry does not fit
the layer's kind (per feature, with the reason), and saves with the store's version
check.  A layer that does not exist yet is created when a kind is given.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.core.catalogue import AccuracyClass, LayerKind, LayerSpec
from geo.core.errors import CatalogueError, DataReadError, GeoError, LayerNotFoundError
from geo.core.workspace import STANDARD_COLUMNS, Workspace
from geo.ingest.read import FeatureRepair, IngestResult, RejectedFeature
from geo.store import edits as store

__all__ = [
    "ImportReport",
    "import_into",
    "parse_field_map",
    "workspace_reference",
]

#: Local kinds whose features serve as the reference for datum-offset detection.
_REFERENCE_KINDS = (LayerKind.SITE, LayerKind.DISCHARGE_POINT, LayerKind.WATER_SOURCE,
                    LayerKind.FACILITY, LayerKind.PIPE, LayerKind.IWRA, LayerKind.RIVER,
                    LayerKind.LAKE)

_POINT, _LINE, _POLYGON = "points", "lines", "polygons"
_EXPECTED: dict[LayerKind, str] = {
    LayerKind.DISCHARGE_POINT: _POINT,
    LayerKind.WATER_SOURCE: _POINT,
    LayerKind.RIVER: _LINE,
    LayerKind.PIPE: _LINE,
    LayerKind.SITE: _POLYGON,
    LayerKind.CATCHMENT: _POLYGON,
    LayerKind.CATCHMENT_UNIT: _POLYGON,
    LayerKind.LAKE: _POLYGON,
    LayerKind.IWRA: _POLYGON,
    LayerKind.ADMIN: _POLYGON,
}
_FAMILY = {"Point": _POINT, "MultiPoint": _POINT, "LineString": _LINE,
           "MultiLineString": _LINE, "Polygon": _POLYGON, "MultiPolygon": _POLYGON}
_NAME_CANDIDATES = ("name", "名称", "title", "label")


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    layer_id: str
    created: bool
    imported: int
    frame: gpd.GeoDataFrame
    rejected: list[RejectedFeature] = field(default_factory=list)
    repairs: list[FeatureRepair] = field(default_factory=list)
    fids_generated: int = 0
    notes: list[str] = field(default_factory=list)
    legal_note: str | None = None
    saved: store.SaveResult | None = None
    dry_run: bool = False

    def lines(self) -> list[str]:
        """Human-readable summary, one line per fact."""
        verb = "Would import" if self.dry_run else "Imported"
        out = [f"{verb} {self.imported} features into layer {self.layer_id!r}"
               + (" (new layer)" if self.created else "") + "."]
        out += self.notes
        if self.fids_generated:
            out.append(f"{self.fids_generated} features got a generated fid (missing or not "
                       "unique in the workspace).")
        out += [f"Repaired {r.feature}: {r.problem}; {r.change}." for r in self.repairs]
        out += [f"Rejected {r.feature}: {r.reason}." for r in self.rejected]
        if self.saved is not None:
            out.append(self.saved.message)
        elif self.dry_run:
            out.append("Dry run: nothing was saved.")
        return out


def parse_field_map(text: str | None) -> dict[str, str]:
    """Parse ``"src=dst,src2=dst2"`` into a mapping.

    Raises
    ------
    DataReadError
        If a pair is not ``source=target``.
    """
    mapping: dict[str, str] = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        src, sep, dst = pair.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise DataReadError(f"--field-map: {pair.strip()!r} is not source=target; write e.g. "
                                "--field-map 名称=name,编号=fid.")
        mapping[src.strip()] = dst.strip()
    return mapping


def workspace_reference(ws: Workspace, near: gpd.GeoDataFrame | None = None, *,
                        margin_deg: float = 0.2) -> gpd.GeoSeries:
    """Trusted local features of the workspace (EPSG:4326) to detect datum offsets against.

    With ``near``, only features within ``margin_deg`` of its bounds are kept.
    """
    frames = []
    for spec in ws.layers_of_kind(*_REFERENCE_KINDS):
        try:
            frames.append(ws.load(spec.id))
        except GeoError:
            continue
    frames = [f for f in frames if not f.empty]
    if not frames:
        return gpd.GeoSeries([], crs="EPSG:4326")
    # Illustrative features count too: they are placed on WGS84 evidence (a converted
    # geocode, a map), so an Amap copy of the same place still sits ~450 m off them.
    chosen = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs="EPSG:4326")
    if near is not None and not near.empty:
        minx, miny, maxx, maxy = near.total_bounds
        chosen = chosen.cx[minx - margin_deg:maxx + margin_deg, miny - margin_deg:maxy + margin_deg]
    return gpd.GeoSeries(chosen.geometry.values, crs="EPSG:4326")


def import_into(
    ws: Workspace,
    layer_id: str,
    result: IngestResult,
    *,
    kind: LayerKind | str | None = None,
    site: str | None = None,
    field_map: Mapping[str, str] | None = None,
    mode: str = "append",
    accuracy: AccuracyClass | str | None = None,
    dry_run: bool = False,
    base_version: int | None = None,
    author: str | None = None,
) -> ImportReport:
    """Import features read by :func:`geo.ingest.read.ingest_bytes` into a layer.

    Parameters
    ----------
    ws : Workspace
        The workspace (refreshed on success: ``ws.load`` returns the new state).
    layer_id : str
        Target layer; created as a new store layer when it does not exist and ``kind``
        is given.
    result : IngestResult
        The checked features (EPSG:4326).
    kind : LayerKind, optional
        Kind of a new layer (must match an existing layer's kind).
    site : str, optional
        AWS reference to link every feature to (``aws_ref``).
    field_map : mapping, optional
        Source field → our field, e.g. ``{"名称": "name", "编号": "fid"}``.
    mode : {"append", "replace"}
        Add to the layer's features, or replace them all.
    accuracy : AccuracyClass, optional
        Accuracy of features that do not say (default "surveyed": user data).
    dry_run : bool
        Check and report without saving anything.
    base_version : int, optional
        Version the user's preview was based on (default: the current one).

    Raises
    ------
    LayerNotFoundError, CatalogueError, SiteNotFoundError, DataReadError, EditConflictError
    """
    if mode not in ("append", "replace"):
        raise DataReadError(f"--mode must be append or replace, not {mode!r}.")
    spec, create_kind = _target(ws, layer_id, kind)
    target_kind = spec.kind if spec is not None else create_kind
    assert target_kind is not None
    if site is not None:
        ws.record(site)  # unknown refs list the known sites
    version = store.layer_version(ws, layer_id) if spec is not None else 0
    if base_version is not None:
        version = base_version
    features = _map_fields(result.frame, field_map or {}, result.filename)
    features, rejected = _fit_kind(features, target_kind, layer_id)
    if features.empty:
        reasons = "; ".join(f"{r.feature}: {r.reason}" for r in rejected[:5])
        raise DataReadError(f"{result.filename}: no feature fits layer {layer_id!r} ({reasons}).")
    if target_kind is LayerKind.CATCHMENT_UNIT:
        missing = [c for c in ("next_down", "level") if c not in features.columns]
        if missing:
            raise DataReadError(
                f"{result.filename}: catchment units need {' and '.join(missing)} columns "
                "(next_down: fid of the unit downstream, empty at the sink; level: e.g. "
                "'section'). Add them or map them with --field-map."
            )
    current = _current(ws, spec)
    features = _standardise(features, result, site=site, accuracy=accuracy)
    taken = _taken_fids(ws, layer_id) | (set(current["fid"].astype(str)) if mode == "append"
                                         else set())
    features, generated = _assign_fids(features, taken, layer_id)
    features, renamed = _storable_fields(features)
    new_state = (gpd.GeoDataFrame(pd.concat([current, features], ignore_index=True),
                                  crs="EPSG:4326")
                 if mode == "append" and not current.empty else features)
    report = ImportReport(layer_id=layer_id, created=spec is None, imported=len(features),
                          frame=features, rejected=[*result.rejected, *rejected],
                          repairs=list(result.repairs), fids_generated=generated,
                          notes=[*result.notes, *renamed], legal_note=result.legal_note,
                          dry_run=dry_run)
    if dry_run:
        return report
    # one step: a layer created for the import exists only if the import is saved
    report.saved = store.save_layer(
        ws, layer_id, new_state, base_version=version if spec is not None else 0,
        action="import", author=author,
        summary=f"import {result.filename} ({mode}): {len(features)} features",
        new_kind=target_kind if spec is None else None,
    )
    return report


def _target(ws: Workspace, layer_id: str, kind: LayerKind | str | None
            ) -> tuple[LayerSpec | None, LayerKind | None]:
    wanted: LayerKind | None = None
    if kind is not None:
        try:
            wanted = LayerKind(kind)
        except ValueError:
            known = ", ".join(k.value for k in LayerKind if k is not LayerKind.RASTER)
            raise CatalogueError(f"Unknown layer kind {kind!r}; use one of: {known}.") from None
    try:
        spec = store.fresh_spec(ws, layer_id)
    except LayerNotFoundError as err:
        if wanted is None:
            raise LayerNotFoundError(
                f"{err.message} To create it, add --kind KIND (e.g. --kind discharge_point)."
            ) from None
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", layer_id):
            raise CatalogueError(
                f"Layer id {layer_id!r} must start with a lower-case letter and hold only "
                "a-z, 0-9 and '_'."
            ) from None
        return None, wanted
    if spec.is_raster:
        raise CatalogueError(f"Layer {layer_id!r} is a raster; features cannot be imported "
                             "into it.")
    if wanted is not None and wanted is not spec.kind:
        raise CatalogueError(f"Layer {layer_id!r} is a {spec.kind.value} layer, not "
                             f"{wanted.value}; drop --kind or choose another layer id.")
    return spec, None


def _map_fields(frame: gpd.GeoDataFrame, field_map: Mapping[str, str],
                filename: str) -> gpd.GeoDataFrame:
    columns = [c for c in frame.columns if c != frame.geometry.name]
    unknown = [src for src in field_map if src not in columns]
    if unknown:
        raise DataReadError(f"--field-map: {filename} has no field {', '.join(unknown)}; its "
                            f"fields are: {', '.join(map(str, columns)) or '(none)'}.")
    out = frame.rename(columns=dict(field_map))
    geometry = out.geometry.name
    names: list[str] = []
    seen: set[str] = set()
    for column in out.columns:  # by position: a mapped name may equal another field's
        if column == geometry:
            names.append(column)
            continue
        new = str(column)
        if new.lower() in ("row_id", "geom", "layer", "kind", "geometry"):
            new = f"src_{new}"
        while new.lower() in seen:
            new = f"{new}_2"
        seen.add(new.lower())
        names.append(new)
    out.columns = names
    return out.set_geometry(geometry)


def _fit_kind(frame: gpd.GeoDataFrame, kind: LayerKind, layer_id: str
              ) -> tuple[gpd.GeoDataFrame, list[RejectedFeature]]:
    expected = _EXPECTED.get(kind)
    if expected is None:
        return frame, []
    families = frame.geometry.geom_type.map(_FAMILY)
    fits = families == expected
    rejected = [
        RejectedFeature(_feature_label(frame, i),
                        f"is a {frame.geometry.iloc[i].geom_type}; layer {layer_id!r} "
                        f"({kind.value}) takes {expected}")
        for i in range(len(frame)) if not fits.iloc[i]
    ]
    return frame[fits.to_numpy()].copy(), rejected


def _feature_label(frame: gpd.GeoDataFrame, i: int) -> str:
    row = frame.iloc[i]
    index = frame.index[i]
    number = int(index) + 1 if isinstance(index, int | np.integer) else i + 1
    for key in ("fid", "name"):
        if key in frame.columns and pd.notna(row[key]):
            return f"feature {number} ({key} {str(row[key])[:40]!r})"
    return f"feature {number}"


def _current(ws: Workspace, spec: LayerSpec | None) -> gpd.GeoDataFrame:
    if spec is None:
        return gpd.GeoDataFrame({c: [] for c in STANDARD_COLUMNS}, geometry=[], crs="EPSG:4326")
    frame = ws.load(spec.id)
    return frame.drop(columns=[c for c in ("layer", "kind") if c in frame.columns])


def _standardise(frame: gpd.GeoDataFrame, result: IngestResult, *, site: str | None,
                 accuracy: AccuracyClass | str | None) -> gpd.GeoDataFrame:
    out = frame.copy()
    if "name" not in out.columns:
        lowered = {str(c).lower(): c for c in out.columns}
        source = next((lowered[c] for c in _NAME_CANDIDATES if c in lowered), None)
        if source is not None:
            out = out.rename(columns={source: "name"})
    default = AccuracyClass(accuracy or AccuracyClass.SURVEYED).value
    if "accuracy" in out.columns:
        values = pd.Series([default if _blank(v) else str(v).strip().lower()
                            for v in out["accuracy"]], index=out.index, dtype=object)
        allowed = {a.value for a in AccuracyClass}
        bad = sorted(set(values) - allowed)
        if bad:
            raise DataReadError(f"{result.filename}: accuracy values {', '.join(bad[:5])} are "
                                f"not allowed; use {', '.join(sorted(allowed))}.")
        out["accuracy"] = values
    else:
        out["accuracy"] = default
    if "source" in out.columns:
        out = out.rename(columns={"source": _free_name(out.columns, "source_original")})
    out["source"] = f"{result.filename} (imported {dt.date.today().isoformat()})"
    if "datum" in out.columns:
        out = out.rename(columns={"datum": _free_name(out.columns, "datum_original")})
    out["datum"] = result.datum.value
    if site is not None:
        out["aws_ref"] = site
    elif "aws_ref" not in out.columns:
        out["aws_ref"] = None
    return out


def _taken_fids(ws: Workspace, layer_id: str) -> set[str]:
    taken: set[str] = set()
    for spec in ws.specs.values():
        if spec.id == layer_id or spec.is_raster:
            continue
        try:
            taken |= set(ws.load(spec.id)["fid"].astype(str))
        except GeoError:
            continue
    return taken


def _assign_fids(frame: gpd.GeoDataFrame, taken: set[str], layer_id: str
                 ) -> tuple[gpd.GeoDataFrame, int]:
    out = frame.copy()
    given = [None if _blank(v) else str(v).strip() for v in out["fid"]] \
        if "fid" in out.columns else [None] * len(out)
    used = set(taken)
    fids: list[str] = []
    generated = 0
    counter = 1
    for value in given:
        if value is not None and value not in used:
            fids.append(value)
            used.add(value)
            continue
        while f"{layer_id}-{counter}" in used:
            counter += 1
        fid = f"{layer_id}-{counter}"
        used.add(fid)
        fids.append(fid)
        generated += 1
    if "fid" in out.columns and generated:
        out = out.rename(columns={"fid": _free_name(out.columns, "fid_original")})
    out["fid"] = fids
    return out, generated


def _blank(value: object) -> bool:
    """None, NaN, pandas' NA or text of only spaces."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _free_name(columns: Iterable[Any], base: str) -> str:
    """``base``, or ``base_2``, ``base_3``… whichever no column takes (ignoring case)."""
    taken = {str(c).lower() for c in columns}
    name, counter = base, 1
    while name.lower() in taken:
        counter += 1
        name = f"{base}_{counter}"
    return name


def _storable_fields(frame: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Rename fields that equal a standard column or another field but for case.

    GeoPackage (SQLite) field names ignore case: ``Source`` beside our ``source`` would be
    refused by the store, so it becomes ``Source_2`` (with a note).
    """
    geometry = frame.geometry.name
    standard = [c for c in frame.columns if c in STANDARD_COLUMNS]
    taken = {str(c).lower() for c in standard}
    renames: dict[str, str] = {}
    notes = []
    for column in frame.columns:
        if column == geometry or column in standard:
            continue
        name = str(column)
        if name.lower() in taken:
            new = _free_name([*taken, *frame.columns], name)
            renames[column] = new
            notes.append(f"Field {name!r} renamed {new!r}: GeoPackage field names ignore "
                         "case, and another field has that name.")
            name = new
        taken.add(name.lower())
    return (frame.rename(columns=renames) if renames else frame), notes


def _geometry_types(frame: gpd.GeoDataFrame) -> set[str]:
    return set(shapely.get_type_id(frame.geometry.values).tolist())
