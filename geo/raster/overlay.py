"""Raster layers: safe opening, and map overlays with legends.

Opening
    :func:`open_raster` (from :mod:`geo.raster.files`, re-exported here) takes a
    catalogue path or uploaded ``bytes``; only GeoTIFF / COG is accepted, VRT and
    other indirect formats are refused, and the size is checked right after opening.

Display
    :func:`render_overlay` reads a window, decimated so neither side exceeds
    ``max_size`` pixels (a large raster never ships whole to the browser), warps it
    to **EPSG:3857** (Web Mercator) and colours it as RGBA with nodata transparent.
    Web Mercator, not EPSG:4326, because Leaflet/folium ``ImageOverlay`` stretches
    the image linearly in screen space, which is Web Mercator: an image gridded in
    EPSG:3857 lands on the right pixels at every latitude, an EPSG:4326 one drifts
    north-south.  The bounds returned are WGS84 lat/lon corners in folium's order
    ``[[south, west], [north, east]]``.  :func:`legend_spec` describes the same
    colouring (same stretch, same palette) for a legend.

Zonal statistics over the workspace's zones are in :mod:`geo.raster.zones`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import pyproj
import rasterio
import rasterio.features
import rasterio.warp
from affine import Affine
from numpy.typing import NDArray
from rasterio.crs import CRS as RioCRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.windows import Window

from geo.core.errors import CatalogueError, DataReadError
from geo.core.markup import html_text
from geo.core.styles import css_colour
from geo.raster.files import (
    ALLOWED_DRIVERS,
    DEFAULT_MAX_BYTES,
    RasterSource,
    cell_areas_m2,
    open_raster,
    require_crs,
    source_name,
    window_transform,
)

if TYPE_CHECKING:
    from geo.core.catalogue import LayerSpec
    from geo.core.workspace import Workspace

__all__ = [
    "ALLOWED_DRIVERS",
    "DEFAULT_MAX_BYTES",
    "LegendEntry",
    "LegendSpec",
    "Overlay",
    "RasterSource",
    "cell_areas_m2",
    "is_categorical",
    "legend_spec",
    "open_raster",
    "raster_layer_path",
    "raster_style_args",
    "render_overlay",
]

#: Integer rasters with at most this many distinct values are shown as classes.
_MAX_CLASSES = 64
_DEFAULT_CONTINUOUS_CMAP = "viridis"
_DEFAULT_CATEGORICAL_CMAP = "tab20"
_STRETCH_PERCENTILES = (2.0, 98.0)
_LEGEND_STOPS = 7

# --- colouring -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LegendEntry:
    """One class of a categorical legend."""

    value: float
    label: str
    color: str


@dataclass(frozen=True)
class LegendSpec:
    """How a raster is coloured, for drawing a legend next to its overlay.

    ``kind`` is ``"continuous"`` (``vmin``/``vmax`` and ``stops``: colours along
    the ramp, ready for ``branca.colormap.LinearColormap(colors, vmin=…, vmax=…)``)
    or ``"categorical"`` (``entries``: value, label, colour).
    """

    kind: Literal["continuous", "categorical"]
    title: str
    colormap: str
    vmin: float | None = None
    vmax: float | None = None
    stops: tuple[tuple[float, str], ...] = ()
    entries: tuple[LegendEntry, ...] = ()
    note: str = ""

    @property
    def colors(self) -> list[str]:
        """The ramp's colours (continuous) or the class colours (categorical)."""
        if self.kind == "continuous":
            return [color for _, color in self.stops]
        return [entry.color for entry in self.entries]

    def to_html(self) -> str:
        """Render a small self-contained HTML legend; every text is escaped (``html_text``).

        The map adds the legend inside a script that folium compiles as a Jinja template,
        so braces are escaped too: a title such as ``{{ … }}`` must stay text, not run.

        Colours go into ``style`` attributes, so each is checked to be ``#rrggbb(aa)``
        (:func:`~geo.core.styles.css_colour`): a class colour that is not one is drawn in
        the default blue rather than pasted as CSS.
        """
        title = html_text(self.title)
        if self.kind == "continuous":
            gradient = ", ".join(css_colour(c) for c in self.colors)
            note = (f"<div style='font-size:10px'>{html_text(self.note)}</div>"
                    if self.note else "")
            return (
                f"<div class='catchscope-legend'><b>{title}</b>"
                f"<div style='height:10px;width:160px;background:linear-gradient(to right, "
                f"{gradient})'></div>"
                f"<div style='display:flex;justify-content:space-between;width:160px'>"
                f"<span>{self.vmin:.4g}</span><span>{self.vmax:.4g}</span></div>{note}</div>"
            )
        rows = "".join(
            f"<div><span style='display:inline-block;width:12px;height:12px;"
            f"background:{css_colour(e.color)}'></span> {html_text(e.label)}</div>"
            for e in self.entries
        )
        return f"<div class='catchscope-legend'><b>{title}</b>{rows}</div>"


def _hex(rgba: tuple[float, ...] | NDArray[np.float64]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(round(float(c) * 255) for c in rgba[:3]))


def _cmap(name: str, where: str) -> Any:
    from matplotlib import colormaps

    try:
        return colormaps[name]
    except KeyError:
        raise DataReadError(
            f"{where}: unknown colormap {name!r}; use a matplotlib name such as "
            "'viridis', 'terrain', 'Blues' (continuous) or 'tab20' (classes)."
        ) from None


def _preview(dataset: DatasetReader, size: int = 512) -> np.ma.MaskedArray:
    """Band 1 decimated to at most ``size`` px a side (nearest: keeps class values)."""
    scale = max(dataset.width, dataset.height) / size
    shape = (
        (max(1, round(dataset.height / scale)), max(1, round(dataset.width / scale)))
        if scale > 1
        else (dataset.height, dataset.width)
    )
    return dataset.read(1, out_shape=shape, masked=True, resampling=Resampling.nearest)


def _file_colour_table(dataset: DatasetReader) -> dict[int, tuple[int, ...]] | None:
    try:
        table = dataset.colormap(1)
    except ValueError:
        return None
    return dict(table) if table else None


def is_categorical(source: RasterSource) -> bool:
    """Whether a raster holds classes: it has a colour table, or integers with ≤ 64 values."""
    with open_raster(source) as dataset:
        if _file_colour_table(dataset) is not None:
            return True
        if not np.issubdtype(np.dtype(dataset.dtypes[0]), np.integer):
            return False
        values = np.unique(_preview(dataset).compressed())
        return len(values) <= _MAX_CLASSES


ClassesArg = Mapping[float, str] | Mapping[float, tuple[str, str]] | None


@dataclass
class _Style:
    legend: LegendSpec
    lookup: dict[float, tuple[int, int, int]] = field(default_factory=dict)


def _style(
    dataset: DatasetReader,
    name: str,
    *,
    categorical: bool | None,
    colormap: str | None,
    classes: ClassesArg,
    title: str | None,
) -> _Style:
    if categorical is None:
        categorical = classes is not None or is_categorical(dataset)
    title = title or name
    preview = _preview(dataset)
    values = preview.compressed()
    if not categorical:
        cmap_name = colormap or _DEFAULT_CONTINUOUS_CMAP
        cmap = _cmap(cmap_name, name)
        if values.size == 0:
            vmin, vmax = 0.0, 1.0
        else:
            low, high = np.percentile(values.astype(np.float64), _STRETCH_PERCENTILES)
            vmin, vmax = float(low), float(high)
            if vmax <= vmin:
                vmin, vmax = float(values.min()), float(values.max())
            if vmax <= vmin:
                vmax = vmin + 1.0
        stops = tuple(
            (vmin + (vmax - vmin) * i / (_LEGEND_STOPS - 1), _hex(cmap(i / (_LEGEND_STOPS - 1))))
            for i in range(_LEGEND_STOPS)
        )
        note = "colour stretch: 2nd–98th percentile; values beyond are clipped"
        return _Style(LegendSpec("continuous", title, cmap_name, vmin, vmax, stops, note=note))

    given: dict[float, tuple[str, str | None]] = {}
    for value, item in (classes or {}).items():
        label, color = (item, None) if isinstance(item, str) else (item[0], item[1])
        given[float(value)] = (str(label), color)
    present = [float(v) for v in np.unique(values)][:256]
    ordered = list(given) + [v for v in present if v not in given]
    table = _file_colour_table(dataset)
    cmap_name = colormap or ("file colour table" if table else _DEFAULT_CATEGORICAL_CMAP)
    cmap = None if (table and not colormap) else _cmap(colormap or _DEFAULT_CATEGORICAL_CMAP, name)
    entries = []
    lookup: dict[float, tuple[int, int, int]] = {}
    for index, value in enumerate(ordered):
        label, color = given.get(value, (f"{value:g}", None))
        if color is None:
            if cmap is None and table is not None and int(value) in table:
                color = "#{:02x}{:02x}{:02x}".format(*table[int(value)][:3])
            else:
                ramp = cmap if cmap is not None else _cmap(_DEFAULT_CATEGORICAL_CMAP, name)
                color = _hex(ramp(index % ramp.N))
        rgb = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
        lookup[value] = rgb  # type: ignore[assignment]
        entries.append(LegendEntry(value, label, color))
    return _Style(LegendSpec("categorical", title, cmap_name, entries=tuple(entries)), lookup)


def _style_from(legend: LegendSpec) -> _Style:
    lookup = {e.value: (int(e.color[1:3], 16), int(e.color[3:5], 16), int(e.color[5:7], 16))
              for e in legend.entries}
    return _Style(legend, lookup)


def legend_spec(
    source: RasterSource,
    *,
    categorical: bool | None = None,
    colormap: str | None = None,
    classes: ClassesArg = None,
    title: str | None = None,
) -> LegendSpec:
    """Describe the legend of :func:`render_overlay` called with the same arguments.

    Parameters
    ----------
    source : Path, str, bytes or DatasetReader
        The raster (see :func:`open_raster`).
    categorical : bool, optional
        Classes or a continuous ramp; None guesses (colour table / few integers).
    colormap : str, optional
        A matplotlib colormap name (the layer style's ``colormap``).  Defaults:
        ``viridis`` (continuous), the file's colour table or ``tab20`` (classes).
    classes : dict, optional
        ``{value: label}`` or ``{value: (label, "#rrggbb")}`` for categorical rasters.
    title : str, optional
        Legend title (default: the file name).
    """
    with open_raster(source) as dataset:
        return _style(dataset, source_name(source, None), categorical=categorical,
                      colormap=colormap, classes=classes, title=title).legend


# --- overlays ------------------------------------------------------------------------------


class Overlay(NamedTuple):
    """An RGBA image in EPSG:3857 and its WGS84 corners ``[[south, west], [north, east]]``.

    Unpacks as ``image, bounds = render_overlay(...)``; pass both straight to
    ``folium.raster_layers.ImageOverlay(image=image, bounds=bounds, opacity=…)``.
    """

    image: NDArray[np.uint8]
    bounds: list[list[float]]


_WEB_MERCATOR = "EPSG:3857"
_MERCATOR_LAT_LIMIT = 85.0


def _window_for(
    dataset: DatasetReader, bounds: tuple[float, float, float, float] | None
) -> Window:
    full = Window(0, 0, dataset.width, dataset.height)
    if bounds is None:
        return full
    west, south, east, north = bounds
    left, bottom, right, top = rasterio.warp.transform_bounds(
        "EPSG:4326", dataset.crs, west, south, east, north, densify_pts=21
    )
    inverse = ~dataset.transform
    cols, rows = zip(*(inverse @ (x, y) for x in (left, right) for y in (bottom, top)),
                     strict=True)
    col0, col1 = max(0, math.floor(min(cols))), min(dataset.width, math.ceil(max(cols)))
    row0, row1 = max(0, math.floor(min(rows))), min(dataset.height, math.ceil(max(rows)))
    if col1 <= col0 or row1 <= row0:
        raise DataReadError(
            f"The view {bounds} does not overlap raster {Path(dataset.name).name}."
        )
    return Window(col0, row0, col1 - col0, row1 - row0)


def render_overlay(
    source: RasterSource,
    bounds: tuple[float, float, float, float] | None = None,
    max_size: int = 1024,
    *,
    categorical: bool | None = None,
    colormap: str | None = None,
    classes: ClassesArg = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    legend: LegendSpec | None = None,
) -> Overlay:
    """Colour a raster (or the part in view) as an RGBA image for a web map.

    Parameters
    ----------
    source : Path, str, bytes or DatasetReader
        The raster (see :func:`open_raster`).
    bounds : tuple, optional
        ``(west, south, east, north)`` in WGS84 degrees: read only this part.
    max_size : int
        Neither side of the image exceeds this many pixels (decimated read).
    categorical, colormap, classes
        As for :func:`legend_spec` (call it with the same values for the legend).
    max_bytes : int
        Memory limit checked right after opening.
    legend : LegendSpec, optional
        Colour with this legend (from :func:`legend_spec`) instead of working the
        colouring out again (saves a second read of the raster's overview).

    Returns
    -------
    Overlay
        ``(image, bounds)``: an ``(h, w, 4)`` uint8 RGBA array gridded in EPSG:3857
        (nodata and outside-the-raster pixels fully transparent) and its corners in
        WGS84 as ``[[south, west], [north, east]]`` (folium's order).

    Raises
    ------
    DataReadError, UnsafeInputError, CRSError
        Unreadable, refused or CRS-less rasters; a view that misses the raster.
    """
    if max_size < 2:
        raise DataReadError(f"max_size must be at least 2 pixels, got {max_size}.")
    with open_raster(source, max_bytes=max_bytes) as dataset:
        name = source_name(source, None)
        crs = require_crs(dataset, name)
        style = _style_from(legend) if legend is not None else _style(
            dataset, name, categorical=categorical, colormap=colormap, classes=classes,
            title=None)
        is_classes = style.legend.kind == "categorical"
        window = _window_for(dataset, bounds)
        scale = max(window.width, window.height) / max_size
        out_h = max(1, math.ceil(window.height / scale)) if scale > 1 else int(window.height)
        out_w = max(1, math.ceil(window.width / scale)) if scale > 1 else int(window.width)
        data = dataset.read(
            1, window=window, out_shape=(out_h, out_w), masked=True,
            resampling=Resampling.nearest if is_classes else Resampling.average,
        )
        src_transform = window_transform(dataset, window) @ Affine.scale(
            window.width / out_w, window.height / out_h
        )
        values = data.astype(np.float64).filled(np.nan)
        image, mercator_bounds = _to_web_mercator(values, src_transform, crs, max_size,
                                                  is_classes)
    rgba = _colourise(image, style)
    west, south, east, north = rasterio.warp.transform_bounds(
        _WEB_MERCATOR, "EPSG:4326", *mercator_bounds
    )
    return Overlay(rgba, [[south, west], [north, east]])


def _to_web_mercator(
    values: NDArray[np.float64],
    src_transform: Affine,
    crs: pyproj.CRS,
    max_size: int,
    is_classes: bool,
) -> tuple[NDArray[np.float64], tuple[float, float, float, float]]:
    height, width = values.shape
    left, top = src_transform @ (0, 0)
    right, bottom = src_transform @ (width, height)
    src_crs = RioCRS.from_wkt(crs.to_wkt())
    try:
        if crs.is_geographic:  # Web Mercator ends short of the poles
            bottom = max(bottom, -_MERCATOR_LAT_LIMIT)
            top = min(top, _MERCATOR_LAT_LIMIT)
        x0, y0, x1, y1 = rasterio.warp.transform_bounds(
            src_crs, _WEB_MERCATOR, left, bottom, right, top, densify_pts=21
        )
    except (RasterioError, ValueError) as err:
        raise DataReadError(f"Cannot reproject the raster to Web Mercator ({err}).") from err
    # Square pixels, about as many as the source has, on a grid covering its extent exactly.
    pixel = math.sqrt((x1 - x0) * (y1 - y0) / (width * height))
    dst_w = max(1, round((x1 - x0) / pixel))
    dst_h = max(1, round((y1 - y0) / pixel))
    shrink = max(dst_w, dst_h) / max_size
    if shrink > 1:
        dst_w, dst_h = max(1, math.floor(dst_w / shrink)), max(1, math.floor(dst_h / shrink))
    dst_transform = Affine((x1 - x0) / dst_w, 0.0, x0, 0.0, -(y1 - y0) / dst_h, y1)
    destination = np.full((dst_h, dst_w), np.nan)
    rasterio.warp.reproject(
        values, destination, src_transform=src_transform, src_crs=src_crs,
        src_nodata=np.nan, dst_transform=dst_transform, dst_crs=_WEB_MERCATOR,
        dst_nodata=np.nan, resampling=Resampling.nearest if is_classes else Resampling.bilinear,
    )
    return destination, (x0, y0, x1, y1)


def _colourise(values: NDArray[np.float64], style: _Style) -> NDArray[np.uint8]:
    rgba = np.zeros((*values.shape, 4), dtype=np.uint8)
    valid = np.isfinite(values)
    legend = style.legend
    if legend.kind == "continuous":
        assert legend.vmin is not None and legend.vmax is not None
        cmap = _cmap(legend.colormap, legend.title)
        norm = np.clip((values - legend.vmin) / (legend.vmax - legend.vmin), 0.0, 1.0)
        colours = cmap(np.where(valid, norm, 0.0), bytes=True)
        rgba[valid] = colours[valid]
        rgba[valid, 3] = 255
        return rgba
    for value, rgb in style.lookup.items():
        hit = valid & (values == value)
        rgba[hit, :3] = rgb
        rgba[hit, 3] = 255
    return rgba


# --- catalogue helpers (CLI, app, scope engine) ----------------------------------------------


def raster_layer_path(workspace: Workspace, layer_id: str) -> Path:
    """Return the data file of a ``kind = "raster"`` catalogue layer.

    Raises
    ------
    LayerNotFoundError
        If the id is not in the catalogue (the message lists the known ids).
    CatalogueError
        If the layer is not a raster.
    """
    spec = workspace.spec(layer_id)
    if not spec.is_raster:
        rasters = ", ".join(s.id for s in workspace.specs.values() if s.is_raster) or "(none)"
        raise CatalogueError(
            f"Layer {layer_id!r} is a {spec.kind.value} layer, not a raster. "
            f"Raster layers: {rasters}."
        )
    return workspace.source_path(spec)


def raster_style_args(spec: LayerSpec) -> dict[str, Any]:
    """Keyword arguments of :func:`geo.raster.overlay.render_overlay` / ``legend_spec`` for a layer.

    ``categorical`` comes from ``[raster] categorical`` (None: guessed), the colour map
    from ``[style] colormap`` (a DEM layer without one gets ``terrain``), class labels
    and colours from ``[[raster.classes]]``.
    """
    options = spec.raster
    classes: dict[float, Any] | None = None
    if options.classes:
        classes = {c.value: (c.label, c.color) if c.color else c.label for c in options.classes}
    categorical = options.categorical
    if categorical is None and classes is not None:
        categorical = True
    colormap = spec.style.colormap
    elevation = options.units.strip().lower() in {"m", "metres", "meters"}
    if colormap is None and categorical is False and elevation:
        colormap = "terrain"
    return {"categorical": categorical, "colormap": colormap, "classes": classes}
