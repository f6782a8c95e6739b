"""The declarative layer catalogue: one ``layers/<id>.toml`` file per layer.

Each file is parsed with :mod:`tomllib` and validated into a frozen
:class:`LayerSpec`.  A bad file fails at load time with its name, the field and
what is allowed (pygeoapi's declarative resources, validated earlier).

Example ``layers/discharge_points.toml``::

    id = "discharge_points"
    title = "Discharge points"
    kind = "discharge_point"
    source = "demo/discharge_points.geojson"
    crs = "EPSG:4326"
    datum = "wgs84"
    id_field = "fid"
    label_field = "name"
    site_field = "aws_ref"
    evidences = ["discharge"]

    [style]
    color = "#8e44ad"
    marker = "circle"
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from geo.core.errors import CatalogueError, LayerNotFoundError

__all__ = [
    "AWS_ELEMENTS",
    "AccuracyClass",
    "AwsElement",
    "Datum",
    "LayerKind",
    "LayerSpec",
    "LayerStyle",
    "RasterClass",
    "RasterOptions",
    "get_spec",
    "iter_catalogue_problems",
    "load_catalogue",
    "load_layer_spec",
    "specs_of_kind",
    "toml_value",
]


class LayerKind(StrEnum):
    """What a layer holds; drives loading, analysis and styling."""

    SITE = "site"
    CATCHMENT = "catchment"
    CATCHMENT_UNIT = "catchment_unit"
    RIVER = "river"
    LAKE = "lake"
    IWRA = "iwra"
    DISCHARGE_POINT = "discharge_point"
    WATER_SOURCE = "water_source"
    FACILITY = "facility"
    PIPE = "pipe"
    ADMIN = "admin"
    RASTER = "raster"
    OTHER = "other"


class AwsElement(StrEnum):
    """The six elements of AWS Standard v2.0 indicator 1.1.1 (physical scope)."""

    SITE_BOUNDARIES = "site_boundaries"
    INFRASTRUCTURE = "infrastructure"
    OWNED_WATER_SOURCES = "owned_water_sources"
    SERVICE_PROVIDER = "service_provider"
    DISCHARGE = "discharge"
    CATCHMENTS = "catchments"


#: Human wording of each 1.1.1 element, as the indicator text has it.
AWS_ELEMENTS: dict[AwsElement, str] = {
    AwsElement.SITE_BOUNDARIES: "Site boundaries",
    AwsElement.INFRASTRUCTURE: (
        "Water-related infrastructure, including piping network, owned or managed by the "
        "site or its parent organisation"
    ),
    AwsElement.OWNED_WATER_SOURCES: (
        "Water sources providing water to the site that are owned or managed by the site "
        "or its parent organisation"
    ),
    AwsElement.SERVICE_PROVIDER: "Water service provider and its ultimate water source",
    AwsElement.DISCHARGE: (
        "Discharge points, wastewater service provider and ultimate receiving water body"
    ),
    AwsElement.CATCHMENTS: "Catchment(s) that the site affects and is reliant upon for water",
}


class AccuracyClass(StrEnum):
    """How well a feature's position is known, best first."""

    SURVEYED = "surveyed"
    OFFICIAL = "official"
    DERIVED = "derived"
    ILLUSTRATIVE = "illustrative"


class Datum(StrEnum):
    """Geodetic datum / coordinate convention the coordinates were *originally* in."""

    WGS84 = "wgs84"
    CGCS2000 = "cgcs2000"
    GCJ02 = "gcj02"
    BD09 = "bd09"
    UNKNOWN = "unknown"


_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


class LayerStyle(BaseModel):
    """How a layer is drawn in the app, the HTML export and the map sheet."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    color: str = "#3388ff"
    fill_color: str | None = None
    fill_opacity: float = Field(0.2, ge=0.0, le=1.0)
    weight: float = Field(2.0, ge=0.0, le=20.0)
    opacity: float = Field(1.0, ge=0.0, le=1.0)
    dash: str | None = None
    marker: Literal["circle", "square", "triangle", "diamond", "star", "cross"] = "circle"
    radius: float = Field(6.0, gt=0.0, le=40.0)
    colormap: str | None = None
    z: int = Field(0, description="Drawing order: higher draws on top.")

    @field_validator("color", "fill_color")
    @classmethod
    def _hex_colour(cls, value: str | None) -> str | None:
        if value is not None and not _COLOR_RE.match(value):
            raise ValueError(f"colour must be '#rrggbb', got {value!r}")
        return value


class RasterClass(BaseModel):
    """One class of a categorical raster: ``[[raster.classes]]`` in the layer file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: float
    label: str
    color: str | None = None

    @field_validator("color")
    @classmethod
    def _hex_colour(cls, value: str | None) -> str | None:
        if value is not None and not _COLOR_RE.match(value):
            raise ValueError(f"colour must be '#rrggbb', got {value!r}")
        return value


class RasterOptions(BaseModel):
    """How a raster layer is read and shown: the ``[raster]`` table of its layer file.

    ``categorical`` None guesses (colour table / few integer values); ``units`` labels
    legends and statistics (e.g. ``"m"`` for a DEM); ``classes`` name and colour the
    values of a categorical raster (land cover).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    units: str = ""
    categorical: bool | None = None
    classes: tuple[RasterClass, ...] = ()


class LayerSpec(BaseModel):
    """One catalogue entry, as validated from ``layers/<id>.toml``.

    ``source`` is relative to the workspace's ``data/`` folder and may not leave it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    description: str = ""
    kind: LayerKind
    source: str
    layer: str | None = Field(None, description="Layer name inside a multi-layer file.")
    crs: str | None = Field(
        None, description="CRS of the file; required when the file does not carry one."
    )
    datum: Datum = Datum.WGS84
    accuracy: AccuracyClass | None = Field(
        None, description="Accuracy class of features that do not state their own."
    )
    id_field: str = "fid"
    label_field: str = "name"
    site_field: str | None = "aws_ref"
    evidences: tuple[AwsElement, ...] = ()
    style: LayerStyle = LayerStyle()
    raster: RasterOptions = RasterOptions()
    visible: bool = True
    attribution: str = ""
    licence: str = ""
    source_date: str = ""

    @field_validator("id")
    @classmethod
    def _id_form(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError(
                "must start with a lower-case letter and hold only a-z, 0-9 and '_' "
                f"(≤ 63 characters), got {value!r}"
            )
        return value

    @field_validator("source")
    @classmethod
    def _source_inside_data(cls, value: str) -> str:
        path = Path(value)
        if value.strip() == "" or path.is_absolute() or ".." in path.parts:
            raise ValueError(
                f"must be a relative path inside the workspace's data/ folder, got {value!r}"
            )
        if re.match(r"^(/vsi|[a-zA-Z][a-zA-Z0-9+.-]*://)", value):
            raise ValueError(f"must be a plain file path, not a URL or GDAL VSI path: {value!r}")
        return value

    @property
    def is_raster(self) -> bool:
        """Whether the layer is a raster (GeoTIFF) rather than vector features."""
        return self.kind is LayerKind.RASTER


def _describe_validation_error(path: Path, err: ValidationError) -> CatalogueError:
    lines: list[tuple[str, str]] = []
    for problem in err.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "(file)"
        msg = problem["msg"]
        if problem["type"] == "enum":
            allowed = problem.get("ctx", {}).get("expected", "")
            msg = f"{problem['input']!r} is not allowed; allowed values are {allowed}"
        elif problem["type"] == "extra_forbidden":
            known = ", ".join(sorted(LayerSpec.model_fields))
            msg = f"unknown field; known fields are: {known}"
        elif problem["type"] == "missing":
            msg = "this required field is missing"
        lines.append((field, msg))
    text = "\n".join(f"  - {field}: {msg}" for field, msg in lines)
    return CatalogueError(f"{path.name}: invalid layer file\n{text}", file=path.name,
                          fields=lines)


def load_layer_spec(path: Path) -> LayerSpec:
    """Parse and validate one ``layers/<id>.toml`` file.

    Parameters
    ----------
    path : Path
        The TOML file.

    Returns
    -------
    LayerSpec
        The frozen, validated spec.

    Raises
    ------
    CatalogueError
        If the file is not valid TOML, or a field is missing or invalid; the message
        names the file, the field and what is allowed.
    """
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise CatalogueError(f"{path.name}: not valid TOML ({err}).", file=path.name) from err
    except (OSError, UnicodeDecodeError) as err:
        raise CatalogueError(f"{path.name}: cannot be read ({err}).", file=path.name) from err
    try:
        spec = LayerSpec.model_validate(raw)
    except ValidationError as err:
        raise _describe_validation_error(path, err) from err
    if spec.id != path.stem:
        raise CatalogueError(
            f"{path.name}: id {spec.id!r} differs from the file name; "
            f"name the file {spec.id}.toml or set id = {path.stem!r}.",
            file=path.name, fields=[("id", f"{spec.id!r} differs from the file name; name the "
                                            f"file {spec.id}.toml or set id = {path.stem!r}")],
        )
    return spec


def toml_value(value: Any) -> str:
    """``value`` (bool, number, string or a list of them) as a TOML value for a layer file.

    Strings become TOML basic strings (a JSON string is one: quotes, backslashes and
    control characters escaped), so any title or path from data is written safely.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def load_catalogue(layers_dir: Path) -> dict[str, LayerSpec]:
    """Load every ``*.toml`` in ``layers_dir``, keyed by layer id, in drawing order.

    Raises
    ------
    CatalogueError
        On the first invalid file (use :func:`iter_catalogue_problems` to see all).
    """
    specs, problems = _scan(layers_dir)
    if problems:
        raise problems[0]
    return specs


def _scan(layers_dir: Path) -> tuple[dict[str, LayerSpec], list[CatalogueError]]:
    specs: dict[str, LayerSpec] = {}
    problems: list[CatalogueError] = []
    for path in sorted(layers_dir.glob("*.toml")):
        if path.name.startswith("_"):  # templates such as _example.toml are not layers
            continue
        try:
            spec = load_layer_spec(path)
        except CatalogueError as err:
            problems.append(err)
            continue
        specs[spec.id] = spec
    ordered = dict(sorted(specs.items(), key=lambda item: (item[1].style.z, item[0])))
    return ordered, problems


def iter_catalogue_problems(layers_dir: Path) -> tuple[dict[str, LayerSpec], list[CatalogueError]]:
    """Load what is valid and collect every invalid file's error (for ``catchscope check``)."""
    return _scan(layers_dir)


def get_spec(specs: dict[str, LayerSpec], layer_id: str) -> LayerSpec:
    """Look a layer up by id; an unknown id lists the known ones."""
    try:
        return specs[layer_id]
    except KeyError:
        known = ", ".join(specs) or "(none)"
        raise LayerNotFoundError(
            f"No layer {layer_id!r} in the catalogue. Known layers: {known}."
        ) from None


def specs_of_kind(specs: Iterable[LayerSpec], *kinds: LayerKind) -> list[LayerSpec]:
    """The specs whose kind is one of ``kinds``, in catalogue order."""
    return [spec for spec in specs if spec.kind in kinds]
