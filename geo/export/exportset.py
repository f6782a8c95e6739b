"""The export set: everything an export of one site contains, gathered once for all formats.

The format writers (:mod:`geo.export.vector`, :mod:`geo.export.kml`, the sheet, the bundle)
take an :class:`ExportSet`; :func:`geo.export.site.collect` makes one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.core.catalogue import LayerSpec
from geo.core.records import SiteRecord
from geo.core.workspace import Workspace

__all__ = ["ExportSet", "Redaction", "sheet_caveat"]


class Redaction(StrEnum):
    """What to do with sensitive points (intakes, outfalls) in public exports."""

    SENSITIVE = "sensitive"  # coarsen to the centre of a 1 km grid cell
    DROP_SENSITIVE = "drop-sensitive"  # leave them out



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
    #: What the format writers derive once per export set and share (the serialised
    #: features for GeoJSON/GPKG/KML, the KML document for .kml and .kmz).
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def title(self) -> str:
        """``'AWS-000522 — Luxshare - ... '`` or the bare reference."""
        return self.record.label if self.record is not None else self.aws_ref

    @property
    def stem(self) -> str:
        """Base of every file name: the (validated) AWS reference."""
        return self.aws_ref


def sheet_caveat(data: ExportSet) -> str:
    """The sentence every sheet, KML and README carries: scope, CRS, illustrative, redaction."""
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
