"""Exports of a site's physical scope for stakeholders, auditors and GIS users.

One pipeline for every format: :func:`collect` gathers the site's scope (every
feature relevant to the site, from :func:`geo.scope.assess_site`), the site record,
the 1.1.1 checklist, the IWRA table and the provenance of every layer into an
:class:`ExportSet`; a renderer per format turns it into named byte strings in
memory; only then is anything written, each file atomically through
:mod:`geo.io`.  A failure while rendering therefore leaves no file at all.

Formats
-------
``geojson``  RFC 7946 FeatureCollection (WGS84 lon/lat, no ``crs`` member, exterior
             rings counter-clockwise and holes clockwise, ≤ 7 decimals, ``bbox`` on the
             collection and on every feature, ``id`` = the workspace feature id so two
             exports diff cleanly), plus one file per layer when written to a folder.
``gpkg``     GeoPackage, one layer per kind, QGIS styles in ``layer_styles`` (SLD and
             QML from the catalogue styles), the site record, checklist, IWRAs, findings
             and layer provenance as attribute tables.
``kml/kmz``  For Google Earth: a folder per layer, styles, names, HTML-escaped attribute
             tables as descriptions.  KMZ is the zipped ``doc.kml``.
``csv``      Point features with lon/lat columns, the IWRA table and the checklist.
``html``     The app's interactive map as one offline page (:mod:`geo.webmap`).
``pdf/png``  The printable map sheet (:mod:`geo.sheet`).
``bundle``   A ZIP with all of the above, ``README.txt`` and ``metadata.json``.

Redaction (``redact="sensitive"``): water intakes and outfalls (kinds
``water_source`` and ``discharge_point``) are moved to the centre of their 1 km grid
cell in the site's UTM zone, or left out with ``redact="drop-sensitive"`` (RFC 7946
§10); each such feature says so in its ``redacted`` property and the metadata lists
them.  Names of files come from the validated AWS reference and layer ids only,
never from data values.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import html
import io
import json
import math
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pandas.api.types import is_numeric_dtype

import geo
from geo.catalogue import AWS_ELEMENTS, AwsElement, LayerKind, LayerSpec, LayerStyle
from geo.crs import metric_crs
from geo.errors import DataWriteError, GeoError, SiteNotFoundError
from geo.io import atomic_path
from geo.records import AWS_REF_RE, SiteRecord
from geo.workspace import STANDARD_COLUMNS, Workspace

__all__ = [
    "CLIPPED",
    "COARSENED",
    "MIME_TYPES",
    "SENSITIVE_KINDS",
    "ExportFormat",
    "ExportSet",
    "NothingToExportError",
    "Redaction",
    "collect",
    "export_bytes",
    "export_site",
    "feature_collection",
    "geojson_bytes",
    "gpkg_bytes",
    "kml_bytes",
    "render",
]


class ExportFormat(StrEnum):
    """The formats ``catchscope export`` writes."""

    GEOJSON = "geojson"
    GPKG = "gpkg"
    KML = "kml"
    KMZ = "kmz"
    CSV = "csv"
    HTML = "html"
    PDF = "pdf"
    PNG = "png"
    BUNDLE = "bundle"


class Redaction(StrEnum):
    """What to do with sensitive points (intakes, outfalls) in public exports."""

    SENSITIVE = "sensitive"  # coarsen to the centre of a 1 km grid cell
    DROP_SENSITIVE = "drop-sensitive"  # leave them out


class NothingToExportError(GeoError, LookupError):
    """A site has no features to export."""


#: Kinds whose locations RFC 7946 §10 asks us to protect in public exports.
SENSITIVE_KINDS = (LayerKind.WATER_SOURCE.value, LayerKind.DISCHARGE_POINT.value)
#: Grid cell (metres) sensitive points are snapped to.
REDACTION_GRID_M = 1_000.0
COARSENED = "coarsened to 1 km"
CLIPPED = "clipped 1 km short of water intakes and outfalls"

MIME_TYPES: dict[ExportFormat, str] = {
    ExportFormat.GEOJSON: "application/geo+json",
    ExportFormat.GPKG: "application/geopackage+sqlite3",
    ExportFormat.KML: "application/vnd.google-earth.kml+xml",
    ExportFormat.KMZ: "application/vnd.google-earth.kmz",
    ExportFormat.CSV: "text/csv",
    ExportFormat.HTML: "text/html",
    ExportFormat.PDF: "application/pdf",
    ExportFormat.PNG: "image/png",
    ExportFormat.BUNDLE: "application/zip",
}

_DECIMALS = 7
_EXTRA_COLUMNS = ("role", "aws_element", "redacted")
_LEAD_COLUMNS = (*STANDARD_COLUMNS, *_EXTRA_COLUMNS)
# attribute names that would give a redacted point's true position away
_COORDINATE_FIELD_RE = re.compile(
    r"^(lon|lng|lat|long|x|y|longitude|latitude|easting|northing|coords?|coordinates?)$",
    re.IGNORECASE,
)
_SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")


# --- collecting ----------------------------------


@dataclass
class ExportSet:
    """Everything an export of one site contains, gathered once for all formats.

    ``features`` is in EPSG:4326, sorted by catalogue order then feature id, one row
    per feature id, with the standard columns plus ``role``, ``aws_element`` and
    ``redacted`` and every original attribute.
    """

    workspace: Workspace
    aws_ref: str
    record: SiteRecord | None
    features: gpd.GeoDataFrame
    tables: dict[str, pd.DataFrame]
    specs: list[LayerSpec]
    redaction: Redaction | None
    redacted_fids: list[str]
    generated: dt.datetime
    scope: Any = None
    metric_crs: Any = None
    _redactor: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame] | None = field(
        default=None, repr=False
    )

    @functools.cached_property
    def _serialised(self) -> tuple[list[dict[str, Any]], np.ndarray]:
        return _feature_items(self.features)

    @property
    def items(self) -> list[dict[str, Any]]:
        """The features as RFC 7946 feature dicts (JSON-safe properties), in order."""
        return self._serialised[0]

    @property
    def geometries(self) -> np.ndarray:
        """The features' geometries as exported: rounded to 7 decimals, RFC 7946 winding."""
        return self._serialised[1]

    @property
    def title(self) -> str:
        """``'AWS-000522 — Luxshare - ... '`` or the bare reference."""
        return self.record.label if self.record is not None else self.aws_ref

    @property
    def stem(self) -> str:
        """Base of every file name: the (validated) AWS reference."""
        return self.aws_ref


def collect(
    workspace: Workspace, aws_ref: str, *, redact: Redaction | str | None = None,
    scope: Any = None,
) -> ExportSet:
    """Gather a site's scope for export.

    Parameters
    ----------
    workspace : Workspace
        The opened workspace.
    aws_ref : str
        The site's AWS reference, e.g. ``"AWS-000522"``.
    redact : {"sensitive", "drop-sensitive"}, optional
        Coarsen (to 1 km) or drop water intakes and outfalls.
    scope : SiteScope, optional
        The site's scope if already assessed (the app passes its cached one, made
        with the sidebar's buffer bands); assessed here otherwise.

    Returns
    -------
    ExportSet
        Features in EPSG:4326.

    Raises
    ------
    SiteNotFoundError
        If ``aws_ref`` is not a site of the workspace.
    NothingToExportError
        If the site has no features at all.
    """
    redaction = _check_inputs(workspace, aws_ref, redact)
    if scope is None or getattr(scope, "aws_ref", aws_ref) != aws_ref:
        scope = _assess(workspace, aws_ref)
    features = _scope_features(workspace, aws_ref, scope)
    if features.empty:
        raise NothingToExportError(
            f"The scope of site {aws_ref} holds no features to export; run "
            f"`catchscope scope {aws_ref}` to see what is missing."
        )
    utm = getattr(scope, "metric_crs", None) or metric_crs(features)
    redactor = (_make_redactor(redaction, utm, workspace) if redaction is not None else None)
    redacted_fids: list[str] = []
    if redactor is not None:
        before = set(features["fid"].astype(str))
        features = redactor(features)
        kept = set(features["fid"].astype(str))
        changed = features.loc[features["redacted"].notna(), "fid"].astype(str)
        redacted_fids = sorted(set(changed) | (before - kept))
    used = set(features["layer"].astype(str))
    specs = [spec for spec in workspace.specs.values() if spec.id in used]
    tables = _tables(workspace, aws_ref, scope, specs)
    return ExportSet(
        workspace=workspace, aws_ref=aws_ref, record=workspace.records.get(aws_ref),
        features=features, tables=tables, specs=specs, redaction=redaction,
        redacted_fids=redacted_fids, generated=dt.datetime.now(dt.UTC).replace(microsecond=0),
        scope=scope, metric_crs=utm, _redactor=redactor,
    )


def _check_inputs(
    workspace: Workspace, aws_ref: str, redact: Redaction | str | None
) -> Redaction | None:
    if not isinstance(aws_ref, str) or not AWS_REF_RE.match(aws_ref):
        raise SiteNotFoundError(
            f"{aws_ref!r} is not an AWS reference (expected e.g. 'AWS-000522'); "
            "list the sites with `catchscope sites`."
        )
    linked = sum(int((workspace.load(spec.id)["aws_ref"] == aws_ref).sum())
                 for spec in workspace.specs.values() if not spec.is_raster)
    if aws_ref not in workspace.records and not linked:
        known = ", ".join(workspace.records) or "(none)"
        raise SiteNotFoundError(
            f"No site {aws_ref} in workspace {workspace.root}. Known sites: {known}."
        )
    if not linked:
        raise NothingToExportError(
            f"Site {aws_ref} has nothing to export: no feature of workspace {workspace.root} "
            f"has aws_ref = {aws_ref!r}. Add the site's parcels to a layer of kind 'site' "
            "(see `catchscope layers`), then run `catchscope check`."
        )
    if redact is None or redact == "":
        return None
    try:
        return Redaction(redact)
    except ValueError:
        known = ", ".join(r.value for r in Redaction)
        raise GeoError(f"Unknown redaction {redact!r}; use one of: {known}.") from None


def _assess(workspace: Workspace, aws_ref: str) -> Any:
    from geo.scope import assess_site

    return assess_site(workspace, aws_ref)


def _scope_features(workspace: Workspace, aws_ref: str, scope: Any) -> gpd.GeoDataFrame:
    frame = getattr(scope, "features", None)
    if not isinstance(frame, gpd.GeoDataFrame) or frame.empty:
        return gpd.GeoDataFrame({c: [] for c in _LEAD_COLUMNS}, geometry=[], crs="EPSG:4326")
    frame = frame.to_crs("EPSG:4326") if frame.crs is not None else frame.set_crs("EPSG:4326")
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    frame = frame.drop_duplicates(subset="fid", keep="first")
    # plain object columns: arrow-backed strings make row-wise serialisation slow
    frame = frame.astype({c: object for c in frame.columns
                          if c != frame.geometry.name and not is_numeric_dtype(frame[c])})
    for column in _EXTRA_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    order = {layer_id: i for i, layer_id in enumerate(workspace.specs)}
    frame = frame.assign(_order=frame["layer"].map(order).fillna(len(order)))
    frame = frame.sort_values(["_order", "fid"], kind="stable").drop(columns="_order")
    return gpd.GeoDataFrame(frame.reset_index(drop=True), geometry="geometry", crs="EPSG:4326")


# --- redaction ----------------------------------


def _make_redactor(
    redaction: Redaction, utm: Any, workspace: Workspace
) -> Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame]:
    """A function that redacts any frame of the workspace the same way.

    Sensitive points move to the centre of their 1 km cell (or are dropped).  Pipes
    lose every part within 1 km of a sensitive point's true position, since a pipe
    ending at an intake would show where the intake is.
    """
    true_points = workspace.load_kind(*(LayerKind(k) for k in SENSITIVE_KINDS))
    mask = (shapely.union_all(true_points.to_crs(utm).geometry.values).buffer(REDACTION_GRID_M)
            if not true_points.empty else None)

    def redact(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        if frame.empty or "kind" not in frame.columns:
            return frame
        out = frame.copy()
        out["redacted"] = (out["redacted"].astype(object) if "redacted" in out.columns
                           else pd.Series(None, index=out.index, dtype=object))
        out = _clip_pipes(out, mask, utm, drop=redaction is Redaction.DROP_SENSITIVE)
        sensitive = out["kind"].astype(str).isin(SENSITIVE_KINDS).to_numpy()
        if not sensitive.any():
            return out
        if redaction is Redaction.DROP_SENSITIVE:
            return out.loc[~sensitive].reset_index(drop=True)
        points = out.geometry[sensitive].to_crs(utm).representative_point()
        cell = REDACTION_GRID_M
        snapped = shapely.points(np.floor(points.x.to_numpy() / cell) * cell + cell / 2,
                                 np.floor(points.y.to_numpy() / cell) * cell + cell / 2)
        geometry = out.geometry.copy()
        geometry[sensitive] = gpd.GeoSeries(snapped, crs=utm).to_crs(out.crs).to_numpy()
        out = out.set_geometry(geometry)
        out.loc[sensitive, "redacted"] = COARSENED
        for column in out.columns:
            if isinstance(column, str) and _COORDINATE_FIELD_RE.match(column):
                out[column] = out[column].astype(object)
                out.loc[sensitive, column] = None
        return out

    return redact


def _clip_pipes(frame: gpd.GeoDataFrame, mask: Any, utm: Any, *, drop: bool) -> gpd.GeoDataFrame:
    """Pipes touching the 1 km mask: clipped outside it (or dropped with ``drop``)."""
    pipes = (frame["kind"].astype(str) == LayerKind.PIPE.value).to_numpy()
    if mask is None or not pipes.any():
        return frame
    metric = frame.geometry[pipes].to_crs(utm)
    touching = metric.intersects(mask).to_numpy()
    if not touching.any():
        return frame
    index = frame.index[pipes][touching]
    if drop:
        return frame.drop(index=index).reset_index(drop=True)
    clipped = gpd.GeoSeries(metric[touching].difference(mask), crs=utm).to_crs(frame.crs)
    geometry = frame.geometry.copy()
    geometry[index] = clipped.to_numpy()
    out = frame.set_geometry(geometry)
    out.loc[index, "redacted"] = CLIPPED
    out = out[~(out.geometry.isna() | out.geometry.is_empty)]
    return out.reset_index(drop=True)


# --- tables (attribute-only) ----------------------------------


def _tables(
    workspace: Workspace, aws_ref: str, scope: Any, specs: list[LayerSpec]
) -> dict[str, pd.DataFrame]:
    record = workspace.records.get(aws_ref)
    tables: dict[str, pd.DataFrame] = {}
    if record is not None:
        dumped = record.model_dump(mode="json", exclude={"findings", "indicators"})
        tables["site_record"] = pd.DataFrame(
            {"field": list(dumped), "value": [_cell_text(v) for v in dumped.values()]}
        )
    checklist = _checklist_frame(scope)
    if checklist is not None:
        tables["checklist"] = checklist
    iwras = _as_frame(getattr(scope, "iwras", None))
    if iwras is not None:
        tables["iwras"] = iwras
    if record is not None and record.findings:
        tables["findings"] = pd.DataFrame([f.model_dump(mode="json") for f in record.findings])
    if record is not None and record.indicators:
        tables["audit_indicators"] = pd.DataFrame(
            [i.model_dump(mode="json") for i in record.indicators]
        )
    # Rasters: zonal statistics over the site's parcels, catchment units and IWRAs.
    from geo.raster_zones import site_raster_stats

    zonal = site_raster_stats(workspace, scope if scope is not None else aws_ref)
    if not zonal.empty:
        tables["raster_zonal_stats"] = zonal
        used = set(zonal["raster"])
        specs = [*specs, *(s for s in workspace.specs.values() if s.id in used)]
    tables["layer_sources"] = pd.DataFrame(
        [
            {
                "layer": s.id, "title": s.title, "kind": s.kind.value,
                "aws_elements": ", ".join(AWS_ELEMENTS[AwsElement(e)] for e in s.evidences),
                "source_file": s.source, "original_datum": s.datum.value,
                "attribution": s.attribution, "source_date": s.source_date,
                "licence": s.licence,
            }
            for s in specs
        ]
    )
    return {name: _plain_table(frame) for name, frame in tables.items()}


def _checklist_frame(scope: Any) -> pd.DataFrame | None:
    """The 1.1.1 checklist (and the 0.1.1.1 one-catchment check) as one flat table."""
    checks = getattr(scope, "checklist", None)
    if not checks:
        return None
    rows = []
    for check in checks:
        evidence = getattr(check, "evidence", ())
        rows.append({
            "indicator": "1.1.1",
            "element": _json_value(getattr(check, "element", "")),
            "title": getattr(check, "title", ""),
            "status": getattr(check, "status", ""),
            "evidence": "; ".join(str(getattr(e, "name", e)) for e in evidence),
            "evidence_fids": "; ".join(str(getattr(e, "fid", "")) for e in evidence),
            "missing": "\n".join(getattr(check, "missing", ())),
            "caveats": "\n".join(getattr(check, "caveats", ())),
            "notes": "\n".join(getattr(check, "notes", ())),
        })
    one = getattr(scope, "one_catchment", None)
    if one is not None:
        rows.append({
            "indicator": "0.1.1.1", "element": "one_catchment",
            "title": "The site occupies one catchment",
            "status": "present" if getattr(one, "ok", False) else "missing",
            "evidence": "; ".join(getattr(one, "unit_names", ())),
            "evidence_fids": "; ".join(getattr(one, "units", ())),
            "missing": "", "caveats": "", "notes": str(getattr(one, "message", "")),
        })
    return pd.DataFrame(rows)


def _as_frame(value: Any) -> pd.DataFrame | None:
    """A DataFrame from a DataFrame, a list of dataclasses / pydantic models / dicts."""
    if value is None:
        return None
    if isinstance(value, gpd.GeoDataFrame):
        value = pd.DataFrame(value.drop(columns=value.geometry.name))
    if isinstance(value, pd.DataFrame):
        return value.reset_index(drop=True)
    if hasattr(value, "to_frame") and callable(value.to_frame):
        return _as_frame(value.to_frame())
    items = list(value) if isinstance(value, Iterable) else []
    rows = []
    for item in items:
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            rows.append(dataclasses.asdict(item))
        elif hasattr(item, "model_dump"):
            rows.append(item.model_dump(mode="json"))
        elif isinstance(item, dict):
            rows.append(dict(item))
    return pd.DataFrame(rows) if rows else None


def _plain_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell a str/int/float/bool/None, so GDAL, CSV and JSON take it unchanged."""
    out = pd.DataFrame(index=range(len(frame)))
    for column in frame.columns:
        if column == "geometry":
            continue
        values = [_json_value(v) for v in frame[column].tolist()]
        kinds = {type(v) for v in values if v is not None}
        if kinds <= {int} or kinds <= {float} or kinds <= {bool} or kinds <= {str}:
            out[str(column)] = pd.Series(values, dtype=object)
        elif kinds <= {int, float}:
            out[str(column)] = pd.Series([None if v is None else float(v) for v in values],
                                         dtype=object)
        else:
            out[str(column)] = pd.Series([_cell_text(v) for v in values], dtype=object)
    return out


# --- value serialisation ----------------------------------


def _json_value(value: Any) -> Any:
    """A JSON-safe value: NaN/NaT/NA → None, numpy → Python, dates → ISO text."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [_json_value(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    with contextlib.suppress(TypeError, ValueError):
        if pd.isna(value):
            return None
    if isinstance(value, StrEnum):
        return value.value
    return str(value)


def _cell_text(value: Any) -> str | None:
    value = _json_value(value)
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _properties_by_layer(features: gpd.GeoDataFrame) -> dict[str, list[str]]:
    """Per layer: the standard columns, then its own non-empty attributes (sorted)."""
    attributes = [c for c in features.columns
                  if c not in _LEAD_COLUMNS and c != features.geometry.name]
    present = features[attributes].notna().groupby(features["layer"].astype(str),
                                                    sort=False).any()
    return {
        str(layer_id): [*_LEAD_COLUMNS, *sorted((c for c in attributes if flags[c]), key=str)]
        for layer_id, flags in present.iterrows()
    }


# --- GeoJSON (RFC 7946) ----------------------------------


def _rfc7946_geometry(geometry: Any) -> Any:
    """Round to 7 decimals, then orient: exteriors counter-clockwise, holes clockwise."""
    rounded = shapely.transform(geometry, lambda xy: np.round(xy, _DECIMALS))
    return shapely.orient_polygons(rounded, exterior_cw=False)


def _bbox(bounds: Iterable[float]) -> list[float]:
    return [round(float(v), _DECIMALS) for v in bounds]


def _geometry_json(geometry: Any) -> dict[str, Any]:
    mapped: dict[str, Any] = json.loads(shapely.to_geojson(geometry))
    return mapped


def _feature_items(features: gpd.GeoDataFrame) -> tuple[list[dict[str, Any]], np.ndarray]:
    """RFC 7946 feature dicts (JSON-safe) and the oriented, rounded geometries they hold."""
    if features.crs is not None and not features.crs.equals("EPSG:4326"):
        features = features.to_crs("EPSG:4326")
    geoms = _rfc7946_geometry(np.asarray(features.geometry.values, dtype=object))
    layout = _properties_by_layer(features) if "layer" in features.columns else {}
    default = [c for c in features.columns if c != features.geometry.name]
    records = pd.DataFrame(features.drop(columns=features.geometry.name)).to_dict("records")
    bounds = shapely.bounds(geoms) if len(geoms) else np.empty((0, 4))
    items = []
    for position, record in enumerate(records):
        columns = layout.get(str(record.get("layer")), default)
        items.append({
            "type": "Feature",
            "id": str(record["fid"]),
            "bbox": _bbox(bounds[position]),
            "properties": {c: _json_value(record.get(c)) for c in columns},
            "geometry": _geometry_json(geoms[position]),
        })
    return items, geoms


def _collection(items: list[dict[str, Any]], foreign: dict[str, Any] | None) -> dict[str, Any]:
    collection: dict[str, Any] = {"type": "FeatureCollection"}
    if foreign:
        collection.update(foreign)
    if items:
        boxes = np.array([item["bbox"] for item in items])
        collection["bbox"] = [float(boxes[:, 0].min()), float(boxes[:, 1].min()),
                              float(boxes[:, 2].max()), float(boxes[:, 3].max())]
    collection["features"] = items
    return collection


def _collection_bytes(items: list[dict[str, Any]], foreign: dict[str, Any] | None) -> bytes:
    """GeoJSON text with one feature per line, so two exports diff line by line."""
    collection = _collection(items, foreign)
    collection.pop("features")
    head = json.dumps(collection, ensure_ascii=False)[:-1]  # drop the closing brace
    body = ",\n".join(json.dumps(f, ensure_ascii=False, allow_nan=False) for f in items)
    return f"{head}, \"features\": [\n{body}\n]}}\n".encode()


def feature_collection(
    features: gpd.GeoDataFrame, *, foreign: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Build an RFC 7946 FeatureCollection dict of standardised features.

    Parameters
    ----------
    features : GeoDataFrame
        Features in EPSG:4326 (transformed to it otherwise) with at least ``fid``.
    foreign : dict, optional
        Foreign members to add to the collection (RFC 7946 §6.1).

    Returns
    -------
    dict
        ``{"type": "FeatureCollection", "bbox": [w, s, e, n], "features": [...]}``;
        each feature has ``id`` = ``fid`` and its own ``bbox``.  No ``crs`` member.
    """
    return _collection(_feature_items(features)[0], foreign)


def geojson_bytes(features: gpd.GeoDataFrame, *, foreign: dict[str, Any] | None = None) -> bytes:
    """Encode features as RFC 7946 GeoJSON text, one feature per line."""
    return _collection_bytes(_feature_items(features)[0], foreign)


def _foreign(data: ExportSet) -> dict[str, Any]:
    return {
        "name": f"{data.aws_ref} physical scope",
        "catchscope": {
            "aws_ref": data.aws_ref,
            "software": f"catchscope {geo.__version__}",
            "redaction": data.redaction.value if data.redaction else None,
        },
    }


def _render_geojson(data: ExportSet) -> dict[str, bytes]:
    items = data.items
    out = {f"{data.stem}-scope.geojson": _collection_bytes(items, _foreign(data))}
    by_layer: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_layer.setdefault(str(item["properties"]["layer"]), []).append(item)
    for layer_id, layer_items in by_layer.items():
        name = _safe_name(f"{layer_id}.geojson")
        out[f"{data.stem}-layers/{name}"] = _collection_bytes(layer_items, _foreign(data))
    return out


# --- styles: SLD and QML for QGIS, KML colours ----------------------------------

_SLD_MARKS = {"circle": "circle", "square": "square", "triangle": "triangle",
              "diamond": "square", "star": "star", "cross": "cross"}
_PX_TO_MM = 0.26


def _dimension(geometry_type: str) -> str:
    kind = geometry_type.replace("Multi", "")
    return {"Point": "point", "LineString": "line"}.get(kind, "polygon")


def _rgba(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"{red},{green},{blue},{round(alpha * 255)}"


def _sld(layer_name: str, dimension: str, styles: list[tuple[str, str, LayerStyle]]) -> str:
    """SLD 1.1 (SE) with one rule per catalogue layer, filtered on the ``layer`` column."""
    rules = []
    for layer_id, title, style in styles:
        fill = style.fill_color or style.color
        stroke = (f'<se:Stroke><se:SvgParameter name="stroke">{style.color}</se:SvgParameter>'
                  f'<se:SvgParameter name="stroke-width">{style.weight * _PX_TO_MM:.2f}'
                  f'</se:SvgParameter><se:SvgParameter name="stroke-opacity">{style.opacity}'
                  "</se:SvgParameter></se:Stroke>")
        if dimension == "point":
            rotation = "<se:Rotation>45</se:Rotation>" if style.marker == "diamond" else ""
            symbolizer = (
                "<se:PointSymbolizer><se:Graphic><se:Mark>"
                f"<se:WellKnownName>{_SLD_MARKS[style.marker]}</se:WellKnownName>"
                f'<se:Fill><se:SvgParameter name="fill">{fill}</se:SvgParameter></se:Fill>'
                f"{stroke}</se:Mark><se:Size>{style.radius * 2 * _PX_TO_MM:.2f}</se:Size>"
                f"{rotation}</se:Graphic></se:PointSymbolizer>"
            )
        elif dimension == "line":
            symbolizer = f"<se:LineSymbolizer>{stroke}</se:LineSymbolizer>"
        else:
            symbolizer = (
                "<se:PolygonSymbolizer><se:Fill>"
                f'<se:SvgParameter name="fill">{fill}</se:SvgParameter>'
                f'<se:SvgParameter name="fill-opacity">{style.fill_opacity}</se:SvgParameter>'
                f"</se:Fill>{stroke}</se:PolygonSymbolizer>"
            )
        rules.append(
            f"<se:Rule><se:Name>{html.escape(layer_id)}</se:Name><se:Description><se:Title>"
            f"{html.escape(title)}</se:Title></se:Description><ogc:Filter><ogc:PropertyIsEqualTo>"
            "<ogc:PropertyName>layer</ogc:PropertyName>"
            f"<ogc:Literal>{html.escape(layer_id)}</ogc:Literal></ogc:PropertyIsEqualTo>"
            f"</ogc:Filter>{symbolizer}</se:Rule>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<StyledLayerDescriptor version="1.1.0" xmlns="http://www.opengis.net/sld" '
        'xmlns:ogc="http://www.opengis.net/ogc" xmlns:se="http://www.opengis.net/se" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.opengis.net/sld '
        'http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd">'
        f"<NamedLayer><se:Name>{html.escape(layer_name)}</se:Name><UserStyle>"
        f"<se:Name>{html.escape(layer_name)}</se:Name><se:FeatureTypeStyle>{''.join(rules)}"
        "</se:FeatureTypeStyle></UserStyle></NamedLayer></StyledLayerDescriptor>"
    )


def _qml_options(options: dict[str, str]) -> str:
    # QGIS ≥ 3.26 reads <Option>, older 3.x reads <prop>: write both, as QGIS itself did.
    opt = "".join(f'<Option name="{k}" type="QString" value="{html.escape(v)}"/>'
                  for k, v in options.items())
    props = "".join(f'<prop k="{k}" v="{html.escape(v)}"/>' for k, v in options.items())
    return f'<Option type="Map">{opt}</Option>{props}'


def _qml(dimension: str, styles: list[tuple[str, str, LayerStyle]]) -> str:
    """A QGIS style (categorised on the ``layer`` column, one symbol per catalogue layer)."""
    categories, symbols = [], []
    for index, (layer_id, title, style) in enumerate(styles):
        fill = style.fill_color or style.color
        width = f"{style.weight * _PX_TO_MM:.2f}"
        line_style = "dash" if style.dash else "solid"
        if dimension == "point":
            symbol_type, layer_class = "marker", "SimpleMarker"
            options = {"name": style.marker, "color": _rgba(fill, 1.0),
                       "outline_color": _rgba(style.color, style.opacity),
                       "outline_width": "0.3", "size": f"{style.radius * 2 * _PX_TO_MM:.2f}",
                       "size_unit": "MM"}
        elif dimension == "line":
            symbol_type, layer_class = "line", "SimpleLine"
            options = {"line_color": _rgba(style.color, style.opacity), "line_width": width,
                       "line_width_unit": "MM", "line_style": line_style}
        else:
            symbol_type, layer_class = "fill", "SimpleFill"
            options = {"color": _rgba(fill, style.fill_opacity), "style": "solid",
                       "outline_color": _rgba(style.color, style.opacity),
                       "outline_width": width, "outline_width_unit": "MM",
                       "outline_style": line_style}
        categories.append(f'<category value="{html.escape(layer_id)}" symbol="{index}" '
                          f'label="{html.escape(title)}" render="true"/>')
        symbols.append(
            f'<symbol type="{symbol_type}" name="{index}" alpha="1" clip_to_extent="1" '
            f'force_rhr="0"><layer class="{layer_class}" enabled="1" locked="0" pass="0">'
            f"{_qml_options(options)}</layer></symbol>"
        )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.28.0" styleCategories="Symbology">'
        '<renderer-v2 type="categorizedSymbol" attr="layer" symbollevels="0" '
        'enableorderby="0" forceraster="0">'
        f"<categories>{''.join(categories)}</categories><symbols>{''.join(symbols)}</symbols>"
        "</renderer-v2></qgis>"
    )


def _kml_colour(colour: str, alpha: float) -> str:
    """KML colours are aabbggrr."""
    return f"{round(alpha * 255):02x}{colour[5:7]}{colour[3:5]}{colour[1:3]}".lower()


# --- GeoPackage ----------------------------------


def _gpkg_layers(data: ExportSet) -> dict[str, gpd.GeoDataFrame]:
    """One layer per kind; a kind mixing points, lines and polygons is split by dimension."""
    groups: dict[str, dict[str, list[int]]] = {}
    for position, (item, geometry) in enumerate(zip(data.items, data.geometries, strict=True)):
        kind = str(item["properties"]["kind"])
        groups.setdefault(kind, {}).setdefault(_dimension(geometry.geom_type), []).append(
            position)
    layers: dict[str, gpd.GeoDataFrame] = {}
    for kind, by_dimension in groups.items():
        for dimension, positions in by_dimension.items():
            name = kind if len(by_dimension) == 1 else f"{kind}_{dimension}s"
            table = _plain_table(pd.DataFrame([data.items[i]["properties"] for i in positions]))
            layers[_safe_name(name)] = gpd.GeoDataFrame(
                table, geometry=gpd.GeoSeries(data.geometries[positions], crs="EPSG:4326"))
    return layers


@contextlib.contextmanager
def _fast_sqlite() -> Any:
    """No fsync per GeoPackage layer: the file is a private temp copy read back at once."""
    key = "OGR_SQLITE_SYNCHRONOUS"
    previous = pyogrio.get_gdal_config_option(key)
    pyogrio.set_gdal_config_options({key: "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({key: previous})


def gpkg_bytes(data: ExportSet) -> bytes:
    """The scope as a GeoPackage (see the module docstring), as bytes."""
    specs = {spec.id: spec for spec in data.specs}
    style_rows = []
    with tempfile.TemporaryDirectory(prefix="catchscope-gpkg-") as folder, _fast_sqlite():
        path = Path(folder) / f"{data.stem}.gpkg"
        for name, frame in _gpkg_layers(data).items():
            pyogrio.write_dataframe(frame, path, layer=name, driver="GPKG", FID="gpkg_fid",
                                    promote_to_multi=None, append=path.exists(),
                                    dataset_options={"VERSION": "1.2"} if not path.exists()
                                    else None)
            dimension = _dimension(str(frame.geometry.geom_type.iloc[0]))
            layer_styles = [(lid, specs[lid].title, specs[lid].style)
                            for lid in dict.fromkeys(frame["layer"].astype(str)) if lid in specs]
            style_rows.append({
                "f_table_catalog": "", "f_table_schema": "", "f_table_name": name,
                "f_geometry_column": "geom", "styleName": name,
                "styleQML": _qml(dimension, layer_styles),
                "styleSLD": _sld(name, dimension, layer_styles), "useAsDefault": True,
                "description": "Catchscope style (from the layer catalogue)",
                "owner": "catchscope", "ui": None,
                "update_time": data.generated.strftime("%Y-%m-%dT%H:%M:%SZ"),
            })
        tables = dict(data.tables)
        if style_rows:
            tables["layer_styles"] = pd.DataFrame(style_rows)
        for name, table in tables.items():
            if table.empty:
                continue
            options = {"FID": "id" if name == "layer_styles" else "gpkg_fid"}
            pyogrio.write_dataframe(table, path, layer=name, driver="GPKG",
                                    append=path.exists(), **options)
        return path.read_bytes()


# --- KML / KMZ ----------------------------------

_KML_NS = "http://www.opengis.net/kml/2.2"
_KML_ICONS = {  # Google Earth's built-in shape icons, tinted by IconStyle colour
    "circle": "http://maps.google.com/mapfiles/kml/shapes/placemark_circle.png",
    "square": "http://maps.google.com/mapfiles/kml/shapes/square.png",
    "triangle": "http://maps.google.com/mapfiles/kml/shapes/triangle.png",
    "diamond": "http://maps.google.com/mapfiles/kml/shapes/open-diamond.png",
    "star": "http://maps.google.com/mapfiles/kml/shapes/star.png",
    "cross": "http://maps.google.com/mapfiles/kml/shapes/cross-hairs.png",
}


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _kml_coordinates(coords: Any) -> str:
    return " ".join(f"{_num(x)},{_num(y)}" for x, y, *_ in coords)


def _num(value: float) -> str:
    text = f"{value:.{_DECIMALS}f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


def _kml_geometry(parent: ET.Element, geometry: Any) -> None:
    kind = geometry.geom_type
    if kind == "Point":
        _sub(_sub(parent, "Point"), "coordinates", _kml_coordinates(geometry.coords))
    elif kind == "LineString":
        line = _sub(parent, "LineString")
        _sub(line, "tessellate", "1")
        _sub(line, "coordinates", _kml_coordinates(geometry.coords))
    elif kind == "Polygon":
        polygon = _sub(parent, "Polygon")
        _sub(polygon, "tessellate", "1")
        outer = _sub(_sub(polygon, "outerBoundaryIs"), "LinearRing")
        _sub(outer, "coordinates", _kml_coordinates(geometry.exterior.coords))
        for ring in geometry.interiors:
            inner = _sub(_sub(polygon, "innerBoundaryIs"), "LinearRing")
            _sub(inner, "coordinates", _kml_coordinates(ring.coords))
    else:  # Multi* and collections
        multi = _sub(parent, "MultiGeometry")
        for part in geometry.geoms:
            _kml_geometry(multi, part)


def _description(properties: dict[str, Any]) -> str:
    """An HTML table of the attributes, every key and value escaped (Google Earth renders it)."""
    rows = "".join(
        f"<tr><th align='left'>{html.escape(str(k))}</th><td>{html.escape(_display(v))}</td></tr>"
        for k, v in properties.items() if v is not None and v != ""
    )
    return f"<table border='1' cellpadding='2' style='border-collapse:collapse'>{rows}</table>"


def _display(value: Any) -> str:
    value = _json_value(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def kml_bytes(data: ExportSet) -> bytes:
    """The scope as KML 2.2 for Google Earth: a folder per layer, styles, descriptions."""
    ET.register_namespace("", _KML_NS)
    root = ET.Element("kml", xmlns=_KML_NS)
    document = _sub(root, "Document")
    _sub(document, "name", data.title)
    _sub(document, "description", _sheet_caveat(data))
    specs = {spec.id: spec for spec in data.specs}
    for spec in data.specs:
        style_el = _sub(document, "Style")
        style_el.set("id", f"style-{spec.id}")
        style = spec.style
        icon_style = _sub(style_el, "IconStyle")
        _sub(icon_style, "color", _kml_colour(style.fill_color or style.color, 1.0))
        _sub(icon_style, "scale", f"{max(style.radius / 6.0, 0.5):.2f}")
        _sub(_sub(icon_style, "Icon"), "href", _KML_ICONS[style.marker])
        line_style = _sub(style_el, "LineStyle")
        _sub(line_style, "color", _kml_colour(style.color, style.opacity))
        _sub(line_style, "width", f"{style.weight:g}")
        poly_style = _sub(style_el, "PolyStyle")
        _sub(poly_style, "color", _kml_colour(style.fill_color or style.color, style.fill_opacity))
    folders: dict[str, ET.Element] = {}
    for item, geometry in zip(data.items, data.geometries, strict=True):
        properties = item["properties"]
        layer_id = str(properties["layer"])
        if layer_id not in folders:
            folder = _sub(document, "Folder")
            _sub(folder, "name", specs[layer_id].title if layer_id in specs else layer_id)
            folders[layer_id] = folder
        placemark = _sub(folders[layer_id], "Placemark")
        placemark.set("id", f"f-{_xml_id(item['id'])}")
        _sub(placemark, "name", str(properties.get("name") or item["id"]))
        _sub(placemark, "description", _description(properties))
        _sub(placemark, "styleUrl", f"#style-{layer_id}")
        extended = _sub(placemark, "ExtendedData")
        for key, value in properties.items():
            if value is None:
                continue
            entry = _sub(extended, "Data")
            entry.set("name", str(key))
            _sub(entry, "value", _display(value))
        _kml_geometry(placemark, geometry)
    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _xml_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def kmz_bytes(data: ExportSet) -> bytes:
    """KMZ: ``doc.kml`` zipped (Google Earth's packaged form)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("doc.kml", kml_bytes(data))
    return buffer.getvalue()


# --- CSV ----------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_safe(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe (CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    safe = frame.map(_csv_safe) if not frame.empty else frame
    # UTF-8 with BOM: Excel then shows Chinese names correctly
    return safe.to_csv(index=False, lineterminator="\n").encode("utf-8-sig")


def points_table(data: ExportSet) -> pd.DataFrame:
    """Point features as a table with ``lon`` and ``lat`` (WGS84, 7 decimals)."""
    points = data.features[data.features.geometry.geom_type == "Point"]
    layout = _properties_by_layer(data.features)
    columns = list(dict.fromkeys(c for layer_id in dict.fromkeys(points["layer"].astype(str))
                                 for c in layout[layer_id]))
    table = _plain_table(pd.DataFrame(points[columns]).reset_index(drop=True))
    # our lon/lat are the geometry's; an attribute of the same name keeps its value aside
    table = table.rename(columns={c: f"{c}_attribute" for c in ("lon", "lat") if c in table})
    table.insert(1, "lon", np.round(points.geometry.x.to_numpy(), _DECIMALS))
    table.insert(2, "lat", np.round(points.geometry.y.to_numpy(), _DECIMALS))
    return table


def _render_csv(data: ExportSet) -> dict[str, bytes]:
    out = {f"{data.stem}-points.csv": _csv_bytes(points_table(data))}
    for name in ("iwras", "checklist", "raster_zonal_stats"):
        if name in data.tables:
            out[f"{data.stem}-{name}.csv"] = _csv_bytes(data.tables[name])
    return out


# --- HTML (the app's map, standalone and offline) ------------------------------------


@dataclass
class _RedactedWorkspace(Workspace):
    """A workspace whose layers come back redacted (for maps drawn from the workspace)."""

    redactor: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame] | None = None

    def load(self, layer_id: str) -> gpd.GeoDataFrame:
        frame = super().load(layer_id)
        return self.redactor(frame) if self.redactor is not None else frame


def _map_workspace(data: ExportSet) -> Workspace:
    if data._redactor is None:
        return data.workspace
    ws = data.workspace
    return _RedactedWorkspace(root=ws.root, settings=ws.settings, specs=ws.specs,
                              records=ws.records, redactor=data._redactor)


_EXTERNAL_ASSET_RE = re.compile(
    r"<(?:script|link)\b[^>]*(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE
)


def html_bytes(data: ExportSet) -> bytes:
    """The app's interactive map of the scope as one offline HTML page.

    Raises
    ------
    GeoError
        If the page would load a script or stylesheet from the network.
    """
    from geo.webmap import build_map, map_html

    scope = data.scope
    if data._redactor is not None:
        scope = _RedactedScope(data)
    page = map_html(build_map(_map_workspace(data), scope, basemap="none", for_export=True))
    if _EXTERNAL_ASSET_RE.search(page):
        raise GeoError(
            "The HTML map would load scripts or styles from the network; it cannot be exported "
            "as an offline page. Check the vendored files in geo/static/ (see its README)."
        )
    return page.encode("utf-8")


class _RedactedScope:
    """The site's scope as the map sees it: the exported (redacted) features.

    The water chain keeps its nodes and edges (ids only); the map anchors them on
    the redacted geometries, so no arrow points at a true intake or outfall.
    """

    def __init__(self, data: ExportSet) -> None:
        self.aws_ref = data.aws_ref
        self.record = data.record
        self.features = data.features
        self.chain = getattr(data.scope, "chain", None)


# --- the map sheet ----------------------------------


def _sheet_caveat(data: ExportSet) -> str:
    illustrative = int((data.features["accuracy"].astype(str) == "illustrative").sum())
    text = (f"Physical scope of {data.title} (AWS Standard v2.0, indicator 1.1.1). "
            "Coordinates WGS84 (EPSG:4326).")
    if illustrative:
        text += (f" {illustrative} feature(s) are illustrative: placed plausibly from "
                 "descriptions, not surveyed; replace them with surveyed data before relying "
                 "on their position.")
    if data.redaction is not None:
        text += f" Water intakes and outfalls are redacted ({data.redaction.value})."
    return text


def _render_sheet(data: ExportSet, fmt: ExportFormat, paper: str) -> dict[str, bytes]:
    from geo.sheet import render_sheet

    return {f"{data.stem}-sheet-{paper}.{fmt.value}": render_sheet(data, fmt=fmt.value,
                                                                   paper=paper)}


# --- bundle ----------------------------------


def _licences(data: ExportSet) -> list[dict[str, str]]:
    return [{"layer": s.id, "title": s.title, "attribution": s.attribution,
             "licence": s.licence or "not stated", "source_date": s.source_date}
            for s in data.specs]


def metadata(data: ExportSet, files: Iterable[str] = ()) -> dict[str, Any]:
    """Machine-readable description of an export (``metadata.json``)."""
    counts = data.features.groupby("layer", sort=False).size()
    return {
        "site": {"aws_ref": data.aws_ref,
                 "name": data.record.site_name if data.record else None,
                 "organisation": data.record.organisation if data.record else None},
        "generated": data.generated.isoformat().replace("+00:00", "Z"),
        "software": {"name": "catchscope", "version": geo.__version__},
        "crs": "EPSG:4326 (WGS84 longitude/latitude; RFC 7946 for GeoJSON)",
        "feature_count": len(data.features),
        "illustrative_count": int((data.features["accuracy"].astype(str)
                                   == "illustrative").sum()),
        "layers": [
            {"id": s.id, "title": s.title, "kind": s.kind.value,
             "features": int(counts.get(s.id, 0)), "original_datum": s.datum.value,
             "attribution": s.attribution, "source_date": s.source_date,
             "licence": s.licence or "not stated"}
            for s in data.specs
        ],
        "redaction": None if data.redaction is None else {
            "mode": data.redaction.value,
            "kinds": list(SENSITIVE_KINDS),
            "grid_m": REDACTION_GRID_M if data.redaction is Redaction.SENSITIVE else None,
            "pipes": ("clipped 1 km short of sensitive points"
                      if data.redaction is Redaction.SENSITIVE
                      else "pipes within 1 km of sensitive points left out"),
            "features": data.redacted_fids,
        },
        "licences": _licences(data),
        "files": sorted(files),
    }


def _readme(data: ExportSet, files: list[str]) -> str:
    stem = data.stem
    lines = [
        f"Catchscope export: {data.title}",
        "=" * 72,
        f"Generated {data.generated:%Y-%m-%d %H:%M} UTC by catchscope {geo.__version__}.",
        "",
        _sheet_caveat(data),
        "",
        "What each file is",
        "-" * 17,
        f"{stem}-scope.geojson      every feature of the site's physical scope, RFC 7946 GeoJSON",
        f"{stem}-layers/*.geojson   the same, one file per layer",
        f"{stem}-scope.gpkg         GeoPackage: one layer per kind with styles, plus tables",
        "                           site_record, checklist, iwras, findings, layer_sources",
        f"{stem}-scope.kml / .kmz   for Google Earth (a folder per layer, styled)",
        f"{stem}-points.csv         point features with lon/lat columns (UTF-8)",
        f"{stem}-iwras.csv          Important Water-Related Areas near the site",
        f"{stem}-checklist.csv      AWS 1.1.1 physical-scope checklist",
        f"{stem}-map.html           interactive map; works offline in any browser",
        f"{stem}-sheet-*.pdf/.png   printable map sheet for the audit file",
        "metadata.json              machine-readable: site, layers, counts, CRS, licences",
        "",
        "How to open",
        "-" * 11,
        "QGIS: Layer > Add Layer > Add Vector Layer, choose the .gpkg; every layer loads with",
        "  its style (stored in the GeoPackage's layer_styles table). The .geojson opens too.",
        "Google Earth (Pro or web): File > Open / Import KML file, choose the .kmz.",
        "Browser: open the .html file (no internet needed). Spreadsheet: open the .csv files.",
        "",
        "Coordinates and identifiers",
        "-" * 27,
        "All coordinates are WGS84 longitude/latitude (EPSG:4326), at most 7 decimals.",
        "Features recorded in Chinese web-map coordinates (GCJ-02, BD-09) were converted to",
        "WGS84; the 'datum' property keeps the datum they were originally recorded in.",
        "Feature ids ('id' in GeoJSON, 'fid' elsewhere) are stable between exports: compare",
        "two years' exports by id.",
        "",
        "Provenance",
        "-" * 10,
        "Each feature says where it came from ('source'), how well its position is known",
        "('accuracy': surveyed, official, derived or illustrative) and which AWS 1.1.1 element",
        "it evidences ('aws_element').",
    ]
    if data.redaction is not None:
        lines += ["", "Redaction", "-" * 9,
                  f"Mode '{data.redaction.value}': water intakes and outfalls "
                  + ("were moved to the centre of their 1 km grid cell (property "
                     f"redacted = '{COARSENED}'); pipes were cut 1 km short of them."
                     if data.redaction is Redaction.SENSITIVE
                     else "were left out, with the pipes that reach them."),
                  f"Features concerned: {', '.join(data.redacted_fids) or 'none'}."]
    lines += ["", "Data sources and licences", "-" * 25]
    for item in _licences(data):
        lines.append(f"- {item['title']} ({item['layer']}): {item['attribution'] or 'n/a'}; "
                     f"dated {item['source_date'] or 'n/a'}; licence: {item['licence']}")
    lines += ["", "Files in this bundle", "-" * 20, *sorted(files), ""]
    return "\n".join(lines)


def _render_bundle(data: ExportSet, paper: str) -> dict[str, bytes]:
    parts: dict[str, bytes] = {}
    for fmt in (ExportFormat.GEOJSON, ExportFormat.GPKG, ExportFormat.KML, ExportFormat.KMZ,
                ExportFormat.CSV, ExportFormat.HTML):
        parts.update(_RENDERERS[fmt](data))
    parts.update(_render_sheets(data, paper))
    files = [*parts, "README.txt", "metadata.json"]
    parts["README.txt"] = _readme(data, files).encode("utf-8")
    parts["metadata.json"] = (json.dumps(metadata(data, files), ensure_ascii=False, indent=2)
                              + "\n").encode("utf-8")
    buffer = io.BytesIO()
    folder = f"{data.stem}-export"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(parts):
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=data.generated.timetuple()[:6])
            # PNG, PDF and KMZ are compressed already: deflating them again only costs time
            info.compress_type = (zipfile.ZIP_STORED if name.endswith((".png", ".pdf", ".kmz"))
                                  else zipfile.ZIP_DEFLATED)
            info.external_attr = 0o644 << 16
            archive.writestr(info, parts[name])
    return {f"{data.stem}-export.zip": buffer.getvalue()}


def _render_sheets(data: ExportSet, paper: str) -> dict[str, bytes]:
    from geo.sheet import render_sheets

    rendered = render_sheets(data, paper=paper, formats=("pdf", "png"))
    return {f"{data.stem}-sheet-{paper}.{fmt}": payload for fmt, payload in rendered.items()}


_RENDERERS: dict[ExportFormat, Callable[[ExportSet], dict[str, bytes]]] = {
    ExportFormat.GEOJSON: _render_geojson,
    ExportFormat.GPKG: lambda data: {f"{data.stem}-scope.gpkg": gpkg_bytes(data)},
    ExportFormat.KML: lambda data: {f"{data.stem}-scope.kml": kml_bytes(data)},
    ExportFormat.KMZ: lambda data: {f"{data.stem}-scope.kmz": kmz_bytes(data)},
    ExportFormat.CSV: _render_csv,
    ExportFormat.HTML: lambda data: {f"{data.stem}-map.html": html_bytes(data)},
}


# --- public entry points ----------------------------------

_PAPERS = ("a4", "a3")


def _check_format(fmt: ExportFormat | str, paper: str) -> ExportFormat:
    try:
        fmt = ExportFormat(str(fmt).lower())
    except ValueError:
        known = ", ".join(f.value for f in ExportFormat)
        raise GeoError(f"Unknown export format {fmt!r}; use one of: {known}.") from None
    if paper not in _PAPERS:
        raise GeoError(f"Unknown paper size {paper!r}; use one of: {', '.join(_PAPERS)}.")
    return fmt


def render(data: ExportSet, fmt: ExportFormat | str, *, paper: str = "a4") -> dict[str, bytes]:
    """Render ``data`` in ``fmt`` to ``{relative file name: bytes}`` in memory.

    The first entry is the main file; GeoJSON adds per-layer files and CSV the IWRA
    and checklist tables.
    """
    fmt = _check_format(fmt, paper)
    if fmt is ExportFormat.BUNDLE:
        return _render_bundle(data, paper)
    if fmt in (ExportFormat.PDF, ExportFormat.PNG):
        return _render_sheet(data, fmt, paper)
    return _RENDERERS[fmt](data)


def export_bytes(
    workspace: Workspace,
    aws_ref: str,
    fmt: ExportFormat | str,
    *,
    redact: Redaction | str | None = None,
    paper: str = "a4",
    scope: Any = None,
) -> tuple[str, str, bytes]:
    """One download for the app: ``(file name, MIME type, bytes)``.

    GeoJSON is the single FeatureCollection; CSV is a ZIP of the points, IWRA and
    checklist tables; every other format is its one file.  ``scope``: as in
    :func:`collect`.

    Raises
    ------
    GeoError
        Unknown site, format or paper; a site with nothing to export.
    """
    fmt = _check_format(fmt, paper)
    data = collect(workspace, aws_ref, redact=redact, scope=scope)
    if fmt is ExportFormat.GEOJSON:
        name = f"{data.stem}-scope.geojson"
        return name, MIME_TYPES[fmt], _collection_bytes(data.items, _foreign(data))
    parts = render(data, fmt, paper=paper)
    if fmt is ExportFormat.CSV:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, payload in parts.items():
                archive.writestr(name, payload)
        return f"{data.stem}-tables.zip", "application/zip", buffer.getvalue()
    name, payload = next(iter(parts.items()))
    return name, MIME_TYPES[fmt], payload


def _safe_name(name: str) -> str:
    if not _SAFE_NAME_RE.match(name) or ".." in name:
        raise DataWriteError(f"Refusing to write a file named {name!r}: not a plain file name.")
    return name


def _targets(parts: dict[str, bytes], output: Path | None, fmt: ExportFormat) -> dict[Path, bytes]:
    """Where each rendered part goes.

    No ``output``: the main file (and the CSV tables) in the current folder.  An
    existing folder, or a path without a suffix: every part inside it.  A file path:
    the main file there; CSV tables beside it as ``<stem>-iwras.csv`` etc.
    """
    names = list(parts)
    main = names[0]
    if output is None:
        chosen = names if fmt is ExportFormat.CSV else [main]
        return {Path.cwd() / name: parts[name] for name in chosen}
    if output.is_dir() or not output.suffix:
        return {output / name: payload for name, payload in parts.items()}
    targets = {output: parts[main]}
    if fmt is ExportFormat.CSV:
        for name in names[1:]:
            suffix = name.removeprefix(main.rsplit("-", 1)[0])  # "-iwras.csv"
            targets[output.with_name(output.stem + suffix)] = parts[name]
    return targets


def export_site(
    workspace: Workspace,
    aws_ref: str,
    fmt: ExportFormat | str,
    output: Path | str | None = None,
    *,
    overwrite: bool = False,
    redact: Redaction | str | None = None,
    paper: str = "a4",
) -> list[Path]:
    """Export a site's scope to files (``catchscope export``).

    Everything is rendered in memory first; then each file is written atomically.
    If writing one fails, the files this call already wrote are removed again.

    Parameters
    ----------
    workspace : Workspace
        The opened workspace.
    aws_ref : str
        The site, e.g. ``"AWS-000522"``.
    fmt : str
        One of :class:`ExportFormat`.
    output : Path, optional
        A file, or a folder (an existing one, or a path without a suffix) for every
        file of the format (GeoJSON then adds one file per layer).  Default: the
        current folder, standard file names.
    overwrite : bool
        Replace existing files; without it an existing target is an error.
    redact : {"sensitive", "drop-sensitive"}, optional
        Coarsen or drop water intakes and outfalls.
    paper : {"a4", "a3"}
        Paper size of the map sheet (landscape).

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    DataWriteError
        A target exists and ``overwrite`` is False, or writing failed.
    GeoError
        Unknown site, format or paper, or nothing to export.
    """
    fmt = _check_format(fmt, paper)
    data = collect(workspace, aws_ref, redact=redact)
    parts = render(data, fmt, paper=paper)
    targets = _targets(parts, Path(output) if output is not None else None, fmt)
    existing = [str(path) for path in targets if path.exists()]
    if existing and not overwrite:
        raise DataWriteError(
            f"{', '.join(existing)} already exist(s); pass --overwrite (or overwrite=True) "
            "to replace, or choose another output path with -o."
        )
    written: list[Path] = []
    try:
        for path, payload in targets.items():
            with atomic_path(path, overwrite=overwrite) as tmp:
                tmp.write_bytes(payload)
            written.append(path)
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    return written
