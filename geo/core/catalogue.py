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
from geo.core.i18n import N_
from geo.core.styles import _shown, parse_colour, parse_dash

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
    AwsElement.SITE_BOUNDARIES: N_("Site boundaries"),
    AwsElement.INFRASTRUCTURE: N_(
        "Water-related infrastructure, including piping network, owned or managed by the "
        "site or its parent organisation"
    ),
    AwsElement.OWNED_WATER_SOURCES: N_(
        "Water sources providing water to the site that are owned or managed by the site "
        "or its parent organisation"
    ),
    AwsElement.SERVICE_PROVIDER: N_("Water service provider and its ultimate water source"),
    AwsElement.DISCHARGE: N_(
        "Discharge points, wastewater service provider and ultimate receiving water body"
    ),
    AwsElement.CATCHMENTS: N_("Catchment(s) that the site affects and is reliant upon for water"),
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
#: A matplotlib colormap name (``viridis``, ``Blues_r``, ``tab20``).
_COLORMAP_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
# Control characters (C0, DEL, C1): never in a one-line value; a description may hold
# tabs and line breaks.  They break XML exports and hide text; a layer file has no use
# for them.  (Zero-width and right-to-left marks are real text in some scripts: allowed,
# and shown as inert text like everything else.)
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_TEXT_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _one_line(value: str | None) -> str | None:
    """A one-line text value: no control characters (tab and line breaks included)."""
    match = None if value is None else _CONTROL_RE.search(value)
    if match is not None:
        raise ValueError(f"must be one line of text without control characters; found "
                         f"U+{ord(match.group(0)):04X} at position {match.start()}")
    return value


def _text(value: str) -> str:
    """Free text (a description): tabs and line breaks allowed, other control characters not."""
    match = _CONTROL_IN_TEXT_RE.search(value)
    if match is not None:
        raise ValueError(f"must be text without control characters; found "
                         f"U+{ord(match.group(0)):04X} at position {match.start()}")
    return value


class LayerStyle(BaseModel):
    """How a layer is drawn in the app, the HTML export and the map sheet.

    Every value has a grammar (:mod:`geo.core.styles`): colours are colours, ``dash``
    is numbers, sizes are numbers in a range, so no style value can carry markup into
    the map's CSS and SVG, the KML or the QGIS styles.  Colours come out normalised
    (``#rrggbb`` or ``#rrggbbaa``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    color: str = "#3388ff"
    fill_color: str | None = None
    fill_opacity: float = Field(0.2, ge=0.0, le=1.0)
    weight: float = Field(2.0, ge=0.0, le=20.0)
    opacity: float = Field(1.0, ge=0.0, le=1.0)
    dash: str | None = None
    marker: Literal["circle", "square", "triangle", "diamond", "star", "cross"] = "circle"
    radius: float = Field(6.0, gt=0.0, le=40.0)
    colormap: str | None = None
    z: int = Field(0, ge=-10_000, le=10_000, description="Drawing order: higher draws on top.")

    @field_validator("color", "fill_color")
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        return None if value is None else parse_colour(value)

    @field_validator("dash")
    @classmethod
    def _dash(cls, value: str | None) -> str | None:
        return None if value is None else parse_dash(value)

    @field_validator("colormap")
    @classmethod
    def _colormap_name(cls, value: str | None) -> str | None:
        if value is not None and not _COLORMAP_RE.match(value):
            raise ValueError("must be a matplotlib colormap name such as 'viridis', 'terrain' "
                             f"or 'tab20' (letters, digits, '_', '.', '-'), got {_shown(value)}")
        return value


class RasterClass(BaseModel):
    """One class of a categorical raster: ``[[raster.classes]]`` in the layer file."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    value: float
    label: str = Field(max_length=200)
    color: str | None = None

    @field_validator("color")
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        return None if value is None else parse_colour(value)

    _label = field_validator("label")(_one_line)


class RasterOptions(BaseModel):
    """How a raster layer is read and shown: the ``[raster]`` table of its layer file.

    ``categorical`` None guesses (colour table / few integer values); ``units`` labels
    legends and statistics (e.g. ``"m"`` for a DEM); ``classes`` name and colour the
    values of a categorical raster (land cover).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    units: str = Field("", max_length=40)
    categorical: bool | None = None
    classes: tuple[RasterClass, ...] = Field((), max_length=256)

    _units = field_validator("units")(_one_line)


class LayerSpec(BaseModel):
    """One catalogue entry, as validated from ``layers/<id>.toml``.

    ``source`` is relative to the workspace's ``data/`` folder and may not leave it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str = Field(max_length=200)
    description: str = Field("", max_length=10_000)
    kind: LayerKind
    source: str = Field(max_length=1_000)
    layer: str | None = Field(None, max_length=255,
                              description="Layer name inside a multi-layer file.")
    crs: str | None = Field(
        None, max_length=10_000,
        description="CRS of the file; required when the file does not carry one.",
    )
    datum: Datum = Datum.WGS84
    accuracy: AccuracyClass | None = Field(
        None, description="Accuracy class of features that do not state their own."
    )
    id_field: str = Field("fid", min_length=1, max_length=255)
    label_field: str = Field("name", min_length=1, max_length=255)
    site_field: str | None = Field("aws_ref", min_length=1, max_length=255)
    evidences: tuple[AwsElement, ...] = ()
    style: LayerStyle = LayerStyle()
    raster: RasterOptions = RasterOptions()
    visible: bool = True
    attribution: str = Field("", max_length=1_000)
    licence: str = Field("", max_length=500)
    source_date: str = Field("", max_length=100)

    # Free text stays free text (shown escaped wherever it goes); only what no layer file
    # needs is refused: control characters, and lengths no legend or table can show.
    _one_line_fields = field_validator(
        "title", "source", "layer", "crs", "id_field", "label_field", "site_field",
        "attribution", "licence", "source_date")(_one_line)
    _text_fields = field_validator("description")(_text)

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
            msg = f"{_shown(problem['input'])} is not allowed; allowed values are {allowed}"
        elif problem["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        elif problem["type"] == "string_too_long":
            msg = f"{msg} (this one has {len(problem['input']):,})"
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
