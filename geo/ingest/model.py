"""What an import is told and what it returns (part of :mod:`geo.ingest.read`).

Limits, the user's answers (:class:`ImportOptions`), the result and its repairs and
rejections, and :class:`ImportQuestion`, raised when the user must answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import geopandas as gpd

from geo.core.catalogue import Datum
from geo.core.errors import NeedsAnswerError

__all__ = [
    "LEGAL_NOTE_CHINA",
    "FeatureRepair",
    "ImportOptions",
    "ImportQuestion",
    "IngestResult",
    "Limits",
    "RejectedFeature",
    "SourceFormat",
]

#: Shown once whenever GCJ-02 / BD-09 coordinates are converted.
LEGAL_NOTE_CHINA = (
    "Legal note: coordinates were converted from GCJ-02/BD-09 to WGS84 for analysis in "
    "this workspace. Publishing maps of China made from converted coordinates may be "
    "restricted by Chinese surveying and mapping law (maps for publication need review); "
    "check before you publish exports of these features."
)


@dataclass(frozen=True)
class Limits:
    """What an upload may hold; every refusal names the limit it hit."""

    max_bytes: int = 50 * 1024 * 1024
    max_zip_entries: int = 200
    max_unzipped_bytes: int = 250 * 1024 * 1024
    max_ratio: float = 100.0
    ratio_floor_bytes: int = 1024 * 1024  # small members may compress as well as they like
    max_features: int = 200_000
    max_vertices_per_feature: int = 250_000
    max_vertices_total: int = 2_000_000
    max_fields: int = 500
    max_field_name_chars: int = 63
    #: Characters per text value (a 10 MB description is refused, never cut silently).
    max_value_chars: int = 100_000


@dataclass(frozen=True)
class ImportOptions:
    """The user's answers; ``None`` means "detect, and ask if in doubt"."""

    crs: str | None = None
    datum: Datum | None = None
    swap_axes: bool = False
    src_layer: str | None = None
    lon_col: str | None = None
    lat_col: str | None = None
    limits: Limits = field(default_factory=Limits)


class SourceFormat(StrEnum):
    """Formats an upload may be in (as sniffed from its content)."""

    GEOJSON = "GeoJSON"
    SHAPEFILE_ZIP = "zipped Shapefile"
    GPKG = "GeoPackage"
    KML = "KML"
    KMZ = "KMZ"
    CSV = "CSV"
    XLSX = "XLSX"
    GPX = "GPX"
    ZIP = "zip archive"


@dataclass(frozen=True)
class FeatureRepair:
    """An invalid geometry that ``make_valid`` repaired."""

    feature: str
    problem: str
    change: str


@dataclass(frozen=True)
class RejectedFeature:
    """A feature left out of the import, and why."""

    feature: str
    reason: str


@dataclass
class IngestResult:
    """What was read: features in EPSG:4326 plus everything the user should know."""

    filename: str
    format: SourceFormat
    frame: gpd.GeoDataFrame
    source_crs: str
    datum: Datum
    source_layers: list[str] = field(default_factory=list)
    source_layer: str | None = None
    repairs: list[FeatureRepair] = field(default_factory=list)
    rejected: list[RejectedFeature] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    legal_note: str | None = None


class ImportQuestion(NeedsAnswerError):
    """The import needs an answer; ``choices`` lists allowed answers, ``preview`` the data.

    ``preview`` holds the features as read (EPSG:4326 when the CRS is known, else None)
    so an app can show them while asking.
    """

    def __init__(self, message: str, *, questions: dict[str, str],
                 choices: dict[str, list[str]] | None = None,
                 preview: gpd.GeoDataFrame | None = None) -> None:
        self.choices = dict(choices or {})
        self.preview = preview
        super().__init__(message, questions=questions)
