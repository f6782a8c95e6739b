"""A pygeoapi feature provider over a Catchscope workspace.

pygeoapi makes a provider per request from the collection's ``providers`` entry of the
config (:mod:`geo.publish.config` writes it)::

    name: geo.publish.provider.WorkspaceProvider
    type: feature
    data: /path/to/workspace
    options: {part: layer, key: rivers, redaction: sensitive}

Every provider of one workspace and redaction shares one
:class:`~geo.publish.sources.WorkspaceSource`, which reloads what an edit changed and
keeps the rest in memory.  A query filters the whole frame (``bbox`` through its spatial
index, property filters and ``q`` column-wise), sorts, and only then turns the one page
it returns into GeoJSON (RFC 7946: 7 decimals, exterior rings counter-clockwise), so a
page of 1,000 features costs the same in a layer of 100 or 100,000.

Not supported, and refused with a 400 rather than ignored: CQL ``filter``.  ``datetime``
is ignored (no collection has a time axis; the config declares no temporal extent).
"""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
    ProviderQueryError,
)
from pygeoapi.util import crs_transform

from geo.core.errors import GeoError, LayerNotFoundError, SiteNotFoundError
from geo.export.vector import DECIMALS, json_value
from geo.publish.sources import Collection, Part, WorkspaceSource, source_for

__all__ = ["WorkspaceProvider", "page_features"]

_TYPES = {"b": "boolean", "i": "integer", "u": "integer", "f": "number"}


class WorkspaceProvider(BaseProvider):
    """Features of one collection of a workspace (a layer or a part of a site's scope)."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        options = provider_def.get("options") or {}
        self.collection = Collection(Part(options["part"]), str(options["key"]))
        self.source: WorkspaceSource = source_for(self.data, options.get("redaction"))
        self.id_field = "fid"
        self.title_field = "name" if self.collection.part in (Part.LAYER, Part.SCOPE) else None
        self._fields = self.get_fields()

    def _frame(self) -> gpd.GeoDataFrame:
        try:
            return self.source.frame(self.collection)
        except (LayerNotFoundError, SiteNotFoundError) as err:
            raise ProviderItemNotFoundError(user_msg=str(err)) from None
        except GeoError as err:
            raise ProviderQueryError(user_msg=str(err)) from None

    def get_fields(self) -> dict[str, dict[str, str]]:
        """JSON Schema types of the collection's properties (what property filters accept)."""
        frame = self._frame()
        fields = {}
        for column in frame.columns:
            if column in (frame.geometry.name, "fid"):
                continue
            dtype = frame[column].dtype
            fields[str(column)] = {"type": _TYPES.get(dtype.kind, "string")}
        return fields

    @crs_transform
    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results",
              bbox: list[float] | None = None, datetime_: str | None = None,
              properties: list[tuple[str, str]] | None = None,
              sortby: list[dict[str, str]] | None = None,
              select_properties: list[str] | None = None, skip_geometry: bool = False,
              q: str | None = None, filterq: Any = None, **kwargs: Any) -> dict[str, Any]:
        """A page of features matching ``bbox``, ``properties`` and ``q``, sorted by ``sortby``."""
        if filterq is not None:
            raise ProviderInvalidQueryError(
                user_msg="filter (CQL) is not supported by this service; use property "
                         "filters (?name=...) and bbox instead.")
        frame = self._frame()
        mask = _matches(frame, bbox or [], properties or [], q)
        selected = frame if mask is None else frame.loc[mask]
        if sortby:
            selected = selected.sort_values([s["property"] for s in sortby],
                                             ascending=[s["order"] != "-" for s in sortby],
                                             kind="stable")
        result: dict[str, Any] = {"type": "FeatureCollection", "numberMatched": len(selected)}
        if resulttype == "hits":
            result.update(features=[], numberReturned=0)
            return result
        page = selected.iloc[offset:offset + limit]
        result["features"] = page_features(page, select_properties or None, skip_geometry)
        result["numberReturned"] = len(result["features"])
        return result

    @crs_transform
    def get(self, identifier: str, **kwargs: Any) -> dict[str, Any]:
        """One feature by its workspace id (404 with a message when there is none)."""
        frame = self._frame()
        hit = frame.loc[frame["fid"].astype(str) == str(identifier)]
        if hit.empty:
            raise ProviderItemNotFoundError(
                user_msg=f"No feature {identifier!r} in collection {self.collection.id!r}.")
        feature: dict[str, Any] = page_features(hit.iloc[:1], None, False)[0]
        return feature

    def __repr__(self) -> str:
        return f"<WorkspaceProvider> {self.collection.id}"


def _matches(frame: gpd.GeoDataFrame, bbox: list[float], properties: list[tuple[str, str]],
             q: str | None) -> np.ndarray | None:
    """A boolean mask of the rows a query keeps (None: every row)."""
    mask: np.ndarray | None = None

    def both(condition: np.ndarray) -> None:
        nonlocal mask
        mask = condition if mask is None else mask & condition

    if bbox:
        west, south, east, north = (bbox[0], bbox[1], bbox[3], bbox[4]) if len(bbox) == 6 \
            else bbox
        # west > east crosses the antimeridian (OGC API - Features Part 1, 7.15.3)
        area = (shapely.box(west, south, east, north) if west <= east else
                shapely.union(shapely.box(west, south, 180, north),
                              shapely.box(-180, south, east, north)))
        hits = np.zeros(len(frame), dtype=bool)
        if frame.geometry.notna().any():
            hits[frame.sindex.query(area, predicate="intersects")] = True
        both(hits)
    for name, wanted in properties:
        both(_equals(frame[name], wanted))
    if q:
        words = [w.casefold() for w in q.split(",") if w.strip()]
        text = pd.Series("", index=frame.index)
        for column in frame.columns:
            if column != frame.geometry.name and not is_numeric_dtype(frame[column]):
                text = text + " " + frame[column].astype(str).str.casefold()
        both(np.logical_or.reduce([text.str.contains(w.strip(), regex=False).to_numpy()
                                   for w in words]) if words else np.ones(len(frame), bool))
    return mask


def _equals(column: pd.Series, wanted: str) -> np.ndarray:
    """Rows whose value equals the query text, compared as the column's type."""
    if is_bool_dtype(column):
        return (column == (wanted.lower() in ("true", "1", "yes"))).to_numpy()
    if is_numeric_dtype(column):
        try:
            number = float(wanted)
        except ValueError:
            return np.zeros(len(column), dtype=bool)
        return np.isclose(column.to_numpy(dtype=float), number, rtol=0, atol=1e-9)
    return (column.astype(str) == wanted).to_numpy() & column.notna().to_numpy()


def page_features(page: gpd.GeoDataFrame, select: list[str] | None,
                  skip_geometry: bool) -> list[dict[str, Any]]:
    """The rows of ``page`` as GeoJSON features (JSON-safe values, RFC 7946 geometry)."""
    geometry_name = page.geometry.name
    # the id is the feature's ``id``; a ``fid`` property would clash with GeoPackage's FID
    columns = [c for c in page.columns
               if c not in (geometry_name, "fid") and (select is None or c in select)]
    geometries: list[Any] = [None] * len(page)
    if not skip_geometry:
        geoms = np.asarray(page.geometry.values, dtype=object)
        present = np.array([g is not None and not shapely.is_empty(g) for g in geoms], bool)
        if present.any():
            shaped = shapely.orient_polygons(
                shapely.transform(geoms[present], lambda xy: np.round(xy, DECIMALS)),
                exterior_cw=False)
            texts = shapely.to_geojson(shaped)
            for position, text in zip(np.flatnonzero(present), texts, strict=True):
                geometries[position] = json.loads(text)
    features = []
    values = {c: page[c].tolist() for c in columns}
    ids = page["fid"].astype(str).tolist()
    for row in range(len(page)):
        properties = {str(c): json_value(values[c][row]) for c in columns}
        features.append({"type": "Feature", "id": ids[row],
                         "geometry": geometries[row], "properties": properties})
    return features
