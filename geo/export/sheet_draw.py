"""Drawing on the map sheet's axes: layers in their catalogue styles and map furniture.

:func:`draw_layer` draws one layer as the app's map does (fill, outline, marker;
illustrative features dashed); :func:`graticule`, :func:`scale_bar` and
:func:`north_arrow` are the cartographic marks AWS's "mapped" bar needs.  The axes are
in a metric CRS (the site's UTM zone), so lengths on the scale bar are true.  Used by
:mod:`geo.export.sheet`, which composes the page.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import matplotlib
import numpy as np
import shapely
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.patches import FancyArrow, Rectangle
from matplotlib.path import Path as MplPath
from pyproj import Transformer

from geo.core.catalogue import LayerSpec

__all__ = ["INK", "MARKERS", "MUTED", "draw_layer", "draw_lines", "draw_polygons",
           "graticule", "nice_floor", "north_arrow", "scale_bar"]

#: Matplotlib markers for the catalogue's marker names.
MARKERS = {"circle": "o", "square": "s", "triangle": "^", "diamond": "D", "star": "*",
           "cross": "X"}
#: Text colours: ink for content, muted for annotations.
INK = "#222222"
MUTED = "#666666"


def nice_floor(value: float) -> float:
    """The largest 1, 2 or 5 × 10^n not above ``value``."""
    power = 10 ** math.floor(math.log10(value))
    return max(f * power for f in (1, 2, 5) if f * power <= value * (1 + 1e-9))


def _polygon_path(geometry: Any) -> MplPath:
    """A compound path of a (multi)polygon, holes included (even-odd filling)."""
    rings = []
    for polygon in getattr(geometry, "geoms", [geometry]):
        for ring in (polygon.exterior, *polygon.interiors):
            coords = np.asarray(ring.coords)[:, :2]
            codes = np.full(len(coords), MplPath.LINETO, dtype=np.uint8)
            codes[0], codes[-1] = MplPath.MOVETO, MplPath.CLOSEPOLY
            rings.append(MplPath(coords, codes))
    return MplPath.make_compound_path(*rings)


def _line_parts(geometry: Any) -> list[np.ndarray]:
    return [np.asarray(line.coords)[:, :2] for line in getattr(geometry, "geoms", [geometry])]


def draw_polygons(ax: Axes, geoms: Any, *, face: Any, edge: Any, width: float,
                   linestyle: Any = "solid", zorder: float = 1.0) -> None:
    """Fill and outline (multi)polygons (in the axes' CRS) as one collection."""
    paths = [_polygon_path(g) for g in geoms if g is not None and not g.is_empty]
    if paths:
        ax.add_collection(PathCollection(paths, facecolors=[face], edgecolors=[edge],
                                         linewidths=width, linestyles=linestyle,
                                         zorder=zorder), autolim=False)


def draw_lines(ax: Axes, geoms: Any, *, colour: Any, width: float, linestyle: Any = "solid",
                zorder: float = 1.0, alpha: float = 1.0) -> None:
    """Draw (multi)linestrings (in the axes' CRS) as one collection."""
    segments = [part for g in geoms if g is not None and not g.is_empty
                for part in _line_parts(g)]
    if segments:
        ax.add_collection(LineCollection(segments, colors=[colour], linewidths=width,
                                         linestyles=linestyle, zorder=zorder, alpha=alpha),
                          autolim=False)


def draw_layer(ax: Axes, frame: gpd.GeoDataFrame, spec: LayerSpec, *,
                zorder: float = 1.0) -> None:
    """Draw one layer in its catalogue style; illustrative features get dashed outlines."""
    style = spec.style
    fill = style.fill_color or style.color
    weight = style.weight * 0.6
    illustrative = (frame["accuracy"].astype(str).eq("illustrative").to_numpy()
                    if "accuracy" in frame else np.zeros(len(frame), dtype=bool))
    dims = frame.geometry.geom_type.str.replace("Multi", "").to_numpy()
    geoms = np.asarray(frame.geometry.values, dtype=object)
    for dashed in (False, True):
        linestyle: Any = (0, (4, 2)) if dashed else "solid"
        chosen = illustrative == dashed
        polys = geoms[chosen & (dims == "Polygon")]
        lines = geoms[chosen & (dims == "LineString")]
        points = geoms[chosen & (dims == "Point")]
        if len(polys):
            draw_polygons(ax, polys, face=matplotlib.colors.to_rgba(fill, style.fill_opacity),
                           edge=matplotlib.colors.to_rgba(style.color, style.opacity),
                           width=weight, linestyle=linestyle, zorder=zorder)
        if len(lines):
            draw_lines(ax, lines, colour=style.color, width=weight * 1.3, linestyle=linestyle,
                        zorder=zorder + 0.1, alpha=style.opacity)
        if len(points):
            ax.scatter(shapely.get_x(points), shapely.get_y(points), s=style.radius ** 2 * 1.4,
                       marker=MARKERS[style.marker], facecolor=fill, edgecolor=style.color,
                       linewidths=0.8, linestyle="--" if dashed else "-", zorder=zorder + 0.2)


def graticule(ax: Axes, to_metric: Transformer, to_wgs: Transformer, fontsize: float) -> None:
    """Lon/lat lines across the map, labelled on the bottom and left edges."""
    xmin, xmax = ax.get_xlim()
    ymin, ymax = ax.get_ylim()
    xs = np.array([xmin, xmax, xmax, xmin])
    ys = np.array([ymin, ymin, ymax, ymax])
    lons, lats = to_wgs.transform(xs, ys)
    lon_lo, lon_hi, lat_lo, lat_hi = lons.min(), lons.max(), lats.min(), lats.max()
    # at least three lines across the shorter side, in steps of 1, 2 or 5 × 10^n degrees
    step = nice_floor(min(lon_hi - lon_lo, lat_hi - lat_lo) / 3)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    line_kw: dict[str, Any] = {"color": "#7a7a7a", "linewidth": 0.4,
                               "linestyle": (0, (2, 2)), "zorder": 8, "gid": "graticule"}
    text_kw: dict[str, Any] = {"fontsize": fontsize, "color": MUTED}
    dense = np.linspace(0, 1, 60)
    for lon in np.arange(math.ceil(lon_lo / step) * step, lon_hi, step):
        x, y = to_metric.transform(np.full_like(dense, lon),
                                   lat_lo - step + dense * (lat_hi - lat_lo + 2 * step))
        ax.plot(x, y, **line_kw)
        x_bottom = float(np.interp(ymin, y, x))
        if xmin < x_bottom < xmax:
            label = f"{abs(lon):.{decimals}f}°{'E' if lon >= 0 else 'W'}"
            ax.text(x_bottom, ymin, label, ha="center", va="top",
                    transform=ax.transData, clip_on=False, gid="graticule_label",
                    **text_kw).set_y(ymin - (ymax - ymin) * 0.008)
    for lat in np.arange(math.ceil(lat_lo / step) * step, lat_hi, step):
        x, y = to_metric.transform(lon_lo - step + dense * (lon_hi - lon_lo + 2 * step),
                                   np.full_like(dense, lat))
        ax.plot(x, y, **line_kw)
        y_left = float(np.interp(xmin, x, y))
        if ymin < y_left < ymax:
            label = f"{abs(lat):.{decimals}f}°{'N' if lat >= 0 else 'S'}"
            ax.text(xmin - (xmax - xmin) * 0.006, y_left, label, ha="right",
                    va="center", rotation=90, clip_on=False, gid="graticule_label", **text_kw)
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)


def scale_bar(ax: Axes, fontsize: float, paper_width_m: float, paper: str) -> str:
    """A four-segment scale bar in metres (the map is in a metric CRS); returns its text."""
    xmin, xmax = ax.get_xlim()
    ymin, ymax = ax.get_ylim()
    width = xmax - xmin
    length = nice_floor(width * 0.25)
    unit, divisor = ("km", 1000.0) if length >= 1000 else ("m", 1.0)
    x0 = xmin + width * 0.04
    y0 = ymin + (ymax - ymin) * 0.045
    height = (ymax - ymin) * 0.011
    ax.add_patch(Rectangle((x0 - width * 0.015, y0 - height * 2.4), length + width * 0.05,
                           height * 6.2, facecolor="white", edgecolor="none", alpha=0.85,
                           zorder=20, gid="scalebar"))
    segments = 4
    for i in range(segments):
        ax.add_patch(Rectangle((x0 + i * length / segments, y0), length / segments, height,
                               facecolor=INK if i % 2 == 0 else "white", edgecolor=INK,
                               linewidth=0.6, zorder=21, gid="scalebar"))
    for value in (0, length / 2, length):
        text = f"{value / divisor:g}"
        if value == length:
            text += f" {unit}"
        ax.text(x0 + value, y0 + height * 1.6, text, ha="center", va="bottom",
                fontsize=fontsize, color=INK, zorder=22, gid="scalebar")
    label = f"Scale 1:{width / paper_width_m:,.0f} printed on {paper.upper()}"
    ax.text(x0, y0 - height * 0.9, label, ha="left", va="top", fontsize=fontsize * 0.85,
            color=MUTED, zorder=22, gid="scalebar")
    return f"{length / divisor:g} {unit}"


def north_arrow(ax: Axes, to_metric: Transformer, to_wgs: Transformer, fontsize: float) -> None:
    """An arrow to true north (UTM grid north differs by the meridian convergence)."""
    xmin, xmax = ax.get_xlim()
    ymin, ymax = ax.get_ylim()
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    lon, lat = to_wgs.transform(cx, cy)
    nx, ny = to_metric.transform(lon, lat + 0.01)
    angle = math.atan2(nx - cx, ny - cy)  # clockwise from grid north
    width, height = xmax - xmin, ymax - ymin
    length = height * 0.075
    base_x, base_y = xmax - width * 0.05, ymax - height * 0.17
    dx, dy = length * math.sin(angle), length * math.cos(angle)
    ax.add_patch(Rectangle((base_x - width * 0.025, base_y - height * 0.025), width * 0.05,
                           height * 0.155, facecolor="white", edgecolor="none", alpha=0.85,
                           zorder=20, gid="north_arrow"))
    ax.add_patch(FancyArrow(base_x, base_y, dx, dy, width=width * 0.006,
                            head_width=width * 0.02, head_length=length * 0.35,
                            length_includes_head=True, color=INK, zorder=21,
                            gid="north_arrow"))
    ax.text(base_x + dx * 1.25, base_y + dy * 1.25, "N", ha="center", va="bottom",
            fontsize=fontsize * 1.6, fontweight="bold", color=INK, zorder=22,
            gid="north_arrow")
