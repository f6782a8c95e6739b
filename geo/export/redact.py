"""Redaction of sensitive points for public exports (RFC 7946 §10).

Water intakes and outfalls (kinds ``water_source`` and ``discharge_point``) are
moved to the centre of their 1 km grid cell in the site's UTM zone
(``redact="sensitive"``) or left out (``"drop-sensitive"``); pipes lose every part
within 1 km of their true positions, and attributes that look like coordinates are
blanked.  :class:`RedactedWorkspace` and :class:`RedactedScope` let the HTML map and
the map sheet draw the redacted features only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.core.catalogue import LayerKind
from geo.core.crs import metric_crs
from geo.core.workspace import Workspace
from geo.export.exportset import ExportSet, Redaction

__all__ = [
    "CLIPPED",
    "COARSENED",
    "REDACTION_GRID_M",
    "SENSITIVE_KINDS",
    "RedactedScope",
    "RedactedWorkspace",
    "Redaction",
    "make_redactor",
    "map_workspace",
    "public_workspace",
]


#: Kinds whose locations RFC 7946 §10 asks us to protect in public exports.
SENSITIVE_KINDS = (LayerKind.WATER_SOURCE.value, LayerKind.DISCHARGE_POINT.value)
#: Grid cell (metres) sensitive points are snapped to.
REDACTION_GRID_M = 1_000.0
COARSENED = "coarsened to 1 km"
CLIPPED = "clipped 1 km short of water intakes and outfalls"
# attribute names that would give a redacted point's true position away
_COORDINATE_FIELD_RE = re.compile(
    r"^(lon|lng|lat|long|x|y|longitude|latitude|easting|northing|coords?|coordinates?)$",
    re.IGNORECASE,
)


def make_redactor(
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


@dataclass
class RedactedWorkspace(Workspace):
    """A workspace whose layers come back redacted (for maps drawn from the workspace)."""

    redactor: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame] | None = None

    def load(self, layer_id: str) -> gpd.GeoDataFrame:
        """The layer as :meth:`Workspace.load` gives it, redacted."""
        frame = super().load(layer_id)
        return self.redactor(frame) if self.redactor is not None else frame


def map_workspace(data: ExportSet) -> Workspace:
    """The workspace a map of ``data`` is drawn from: redacted if the export is."""
    if data._redactor is None:
        return data.workspace
    ws = data.workspace
    return RedactedWorkspace(root=ws.root, settings=ws.settings, specs=ws.specs,
                             records=ws.records, redactor=data._redactor)


def public_workspace(workspace: Workspace,
                     redaction: Redaction = Redaction.SENSITIVE) -> Workspace:
    """The whole workspace as a public user may see it (intakes and outfalls redacted).

    Every site's are redacted the same way a site's public export redacts them.
    The 1 km grid is laid in the metric CRS of the sensitive points together (their UTM
    zone), so a point lands in the same cell as in a site export from the same zone.
    """
    true_points = workspace.load_kind(*(LayerKind(k) for k in SENSITIVE_KINDS))
    if true_points.empty:
        return workspace
    redactor = make_redactor(redaction, metric_crs(true_points), workspace)
    return RedactedWorkspace(root=workspace.root, settings=workspace.settings,
                             specs=workspace.specs, records=workspace.records,
                             redactor=redactor)


class RedactedScope:
    """The site's scope as the map sees it: the exported (redacted) features.

    The water chain keeps its nodes and edges (ids only); the map anchors them on
    the redacted geometries, so no arrow points at a true intake or outfall.
    """

    def __init__(self, data: ExportSet) -> None:
        self.aws_ref = data.aws_ref
        self.record = data.record
        self.features = data.features
        self.chain = getattr(data.scope, "chain", None)
