"""The printable map sheet of a site's physical scope (PDF / PNG, A4 or A3 landscape).

AWS asks that maps let "an external party identify the location, scale and physical
properties" of the scope.  The sheet therefore carries: a title with the site and
its catchment, the main map drawn in the site's UTM zone (so the scale bar is true),
a legend, a scale bar measured in metres, a north arrow pointing at true north, a
lon/lat graticule with labels, an inset locating the site in its wider basin
(catchment units and the site marker), the data sources with their dates, the
illustrative-feature caveat, the generation date and the software version.

Rendered server-side with matplotlib's object API (no pyplot state, no network).
Chinese names are drawn when a CJK font is installed (Debian ``fonts-noto-cjk``);
without one the sheet shows the English names only, silently.

A statement the sheet prints that no report states is marked ``*``, and a note at the
bottom lists every statement of the scope that is not *stated* (:mod:`geo.export.sheet_notes`).

Tests find the parts by ``gid``: ``legend``, ``scalebar``, ``north_arrow``,
``graticule``, ``inset``, ``sources``, ``caveat``, ``not_stated``, ``footer``.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import re
import textwrap
import threading
import unicodedata
from pathlib import Path
from typing import Any

import geopandas as gpd
import matplotlib
import pandas as pd
import pypdfium2 as pdfium
import shapely
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from PIL import PngImagePlugin
from pyproj import CRS, Transformer

from geo.core import __version__
from geo.core.catalogue import LayerKind, LayerSpec
from geo.core.errors import GeoError
from geo.export.exportset import ExportSet, sheet_caveat
from geo.export.sheet_draw import (
    INK,
    MARKERS,
    MUTED,
    draw_layer,
    draw_lines,
    draw_polygons,
    graticule,
    north_arrow,
    scale_bar,
)
from geo.export.sheet_notes import DETAIL_LEVELS, MARK, fact_basis, mark, not_stated_note
from geo.scope.claims import one_catchment_basis

__all__ = ["PAPER_SIZES", "build_sheet", "find_cjk_font", "render_sheet", "render_sheets",
           "warm_up"]

#: Landscape paper sizes in inches (width, height).
PAPER_SIZES: dict[str, tuple[float, float]] = {
    "a4": (297 / 25.4, 210 / 25.4),
    "a3": (420 / 25.4, 297 / 25.4),
}
_DPI = {"a4": 200, "a3": 150}
#: One sheet drawn at a time: matplotlib's rcParams (rc_context) and PDFium are
#: process-wide and not thread-safe, and the app serves each session (and the warm-up)
#: in its own thread.
_LOCK = threading.RLock()
#: Matplotlib settings of every sheet: DejaVu Sans (CJK font added per text by _font),
#: Type 3 fonts in the PDF (embedding subsets of the large CJK font is slower), and no
#: mathtext: text from data is drawn as it is written ('$x$' is not a formula, and a
#: broken one such as '$\frac$' would fail the sheet).
_RC = {"font.family": ["DejaVu Sans"], "pdf.fonttype": 3, "axes.unicode_minus": False,
       "text.parse_math": False}
_CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK", "Source Han Sans SC", "Source Han Sans",
                 "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback",
                 "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC", "Arial Unicode MS")
_CJK_RE = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]")
_INVISIBLE_RE = re.compile("[" + "".join(
    re.escape(chr(code)) for code in range(0x10000)
    if unicodedata.category(chr(code)) in ("Cc", "Cf") and chr(code) not in "\t\n")
    + "\U000e0000-\U000e007f]")
_MIN_SPAN_M = 2_500.0


def _cjk_family(installed: set[str]) -> str | None:
    for family in _CJK_FAMILIES:
        if family in installed:
            return family
    return next((name for name in sorted(installed) if "CJK" in name and "Mono" not in name),
                None)


@functools.lru_cache(maxsize=1)
def find_cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or None.

    Matplotlib caches the font list once per machine; a CJK font installed after that
    (``apt-get install fonts-noto-cjk`` after a first run) is not in the cache, so the
    system's font files are looked through once before giving up.
    """
    manager = font_manager.fontManager
    family = _cjk_family({font.name for font in manager.ttflist})
    if family is not None:
        return family
    known = {font.fname for font in manager.ttflist}
    for path in font_manager.findSystemFonts():
        name = Path(path).name
        if path not in known and ("CJK" in name or "SourceHan" in name):
            try:
                manager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue  # an unreadable font file is simply not used
    return _cjk_family({font.name for font in manager.ttflist})


def _label(row: pd.Series, cjk: bool, seen_local: set[str]) -> str:
    """Feature label: the English name, plus the Chinese one (once) when it can be drawn.

    A parcel named ``"<site>: <block>"`` is labelled by its block: the title names the site.
    """
    name = str(row.get("name") or row.get("fid") or "")
    if row.get("kind") == LayerKind.SITE.value and ": " in name:
        name = name.split(": ", 1)[1]
    if not cjk and _CJK_RE.search(name):
        name = str(row.get("fid") or "")
    local = row.get("name_zh")
    if cjk and isinstance(local, str) and local.strip() and local not in name \
            and local not in seen_local:
        seen_local.add(local)
        return f"{name}\n{local}"
    return name


# --- geometry helpers ----------------------------------


def _extent(frame: gpd.GeoDataFrame, aspect: float, pad: float = 0.15,
            min_span: float = _MIN_SPAN_M) -> tuple[float, float, float, float]:
    """A box around ``frame`` (metric CRS) with the axes' width/height ratio."""
    xmin, ymin, xmax, ymax = frame.total_bounds
    width = max((xmax - xmin) * (1 + 2 * pad), min_span)
    height = max((ymax - ymin) * (1 + 2 * pad), min_span / aspect)
    if width / height < aspect:
        width = height * aspect
    else:
        height = width / aspect
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    return cx - width / 2, cx + width / 2, cy - height / 2, cy + height / 2


def _axes_aspect(fig: Figure, ax: Axes) -> float:
    box = ax.get_position()
    fig_w, fig_h = fig.get_size_inches()
    return (box.width * fig_w) / (box.height * fig_h)


# --- the parts of the sheet ----------------------------------


def _inset(fig: Figure, rect: tuple[float, float, float, float], data: ExportSet,
           metric: CRS, main_extent: tuple[float, float, float, float], fs: float,
           cjk: bool) -> list[LayerSpec]:
    """Draw the site in its wider basin; return the layers drawn there as points.

    Catchment units (those in scope shaded), lakes and rivers, the water chain's points
    (intakes, plants) and the site marker.
    """
    ax = fig.add_axes(rect)
    ax.set_gid("inset")
    units = _load_kinds(data.workspace, LayerKind.CATCHMENT_UNIT).to_crs(metric)
    scope_units = set(data.features.loc[data.features["kind"] == LayerKind.CATCHMENT_UNIT.value,
                                        "fid"].astype(str))
    site = data.features[data.features["kind"] == LayerKind.SITE.value].to_crs(metric)
    if site.empty:
        site = data.features.to_crs(metric)
    centre = shapely.centroid(shapely.union_all(site.geometry.values))
    if not units.empty:
        in_scope = units["fid"].astype(str).isin(scope_units)
        for part, face, edge in ((units[~in_scope], "#f2f2f2", "#9a9a9a"),
                                 (units[in_scope], "#d6e6f4", "#2b6ca3")):
            draw_polygons(ax, part.geometry.values, face=face, edge=edge, width=0.5)
    water = _load_kinds(data.workspace, LayerKind.LAKE, LayerKind.RIVER).to_crs(metric)
    if not water.empty:
        kinds = water.geometry.geom_type.str.replace("Multi", "").to_numpy()
        draw_polygons(ax, water.geometry.values[kinds == "Polygon"], face="#9ecae1",
                       edge="#6baed6", width=0.3, zorder=2)
        draw_lines(ax, water.geometry.values[kinds == "LineString"], colour="#6baed6",
                    width=0.5, zorder=2)
    # the water chain's points outside the main map: intakes, plants, treatment works
    specs = {spec.id: spec for spec in data.specs}
    chain_points = data.features[data.features["kind"].isin(
        [LayerKind.WATER_SOURCE.value, LayerKind.FACILITY.value])
        & (data.features.geometry.geom_type == "Point")].to_crs(metric)
    drawn = []
    for layer_id, rows in chain_points.groupby("layer", sort=False):
        spec = specs.get(str(layer_id))
        if spec is None:
            continue
        ax.scatter(rows.geometry.x, rows.geometry.y, s=fs * 2.2,
                   marker=MARKERS[spec.style.marker],
                   facecolor=spec.style.fill_color or spec.style.color,
                   edgecolor=spec.style.color, linewidths=0.5, zorder=4)
        drawn.append(spec)
    xmin, xmax, ymin, ymax = main_extent
    ax.add_patch(Rectangle((xmin, ymin), xmax - xmin, ymax - ymin, fill=False,
                           edgecolor="#b2182b", linewidth=0.8, zorder=5))
    ax.plot([centre.x], [centre.y], marker="*", markersize=fs * 1.8, color="#b2182b",
            markeredgecolor="white", markeredgewidth=0.6, zorder=6, gid="inset_site")
    one = getattr(data.scope, "one_catchment", None)
    home = ", ".join(getattr(one, "unit_names", ()) or ())
    if home:
        label = _drawable(mark(f"Site's catchment unit: {home}",
                               one_catchment_basis(data.scope)), cjk)
        ax.text(0.02, 0.02, label, **_font(label),
                transform=ax.transAxes, fontsize=fs * 0.85, color="#1d4f7a", va="bottom",
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5})
    ext = _extent(units if not units.empty else site, _axes_aspect(fig, ax), pad=0.02,
                  min_span=20_000)
    ax.set_xlim(ext[0], ext[1])
    ax.set_ylim(ext[2], ext[3])
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title("Location in the wider basin\nblue: catchment units in scope; points: "
                 "intakes and plants of the water chain",
                 fontsize=fs, loc="left", color=INK)
    for spine in ax.spines.values():
        spine.set_edgecolor("#9a9a9a")
    return drawn


def _load_kinds(ws: Any, *kinds: LayerKind) -> gpd.GeoDataFrame:
    try:
        frame = ws.load_kind(*kinds)
    except GeoError:
        frame = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    return frame[frame.geometry.notna()] if not frame.empty else frame


def _legend(fig: Figure, renderer: Any, anchor: tuple[float, float], drawn: list[LayerSpec],
            frames: dict[str, gpd.GeoDataFrame], any_illustrative: bool, fs: float,
            cjk: bool, any_not_stated: bool = False) -> float:
    """Draw the legend with its top-left at ``anchor``; return the figure y of its bottom."""
    handles: list[Any] = []
    for spec in drawn:
        style = spec.style
        title = _drawable(spec.title, cjk)
        dims = set(frames[spec.id].geometry.geom_type.str.replace("Multi", ""))
        if "Polygon" in dims:
            handles.append(Patch(facecolor=matplotlib.colors.to_rgba(
                style.fill_color or style.color, max(style.fill_opacity, 0.12)),
                edgecolor=style.color, label=title))
        elif "LineString" in dims:
            handles.append(Line2D([], [], color=style.color, linewidth=style.weight * 0.8,
                                  label=title))
        else:
            handles.append(Line2D([], [], linestyle="none", marker=MARKERS[style.marker],
                                  markersize=fs, markerfacecolor=style.fill_color or style.color,
                                  markeredgecolor=style.color, label=title))
    if any_illustrative:
        handles.append(Patch(facecolor="white", edgecolor=INK, linestyle=(0, (4, 2)),
                             label="Dashed outline: illustrative, not surveyed"))
    handles.append(Line2D([], [], linestyle="none", marker="*", markersize=fs * 1.3,
                          color="#b2182b", label="The site (inset map)"))
    if any_not_stated:
        handles.append(Patch(facecolor="none", edgecolor="none",
                             label=f"{MARK} not stated in the report (see the note below)"))
    legend = fig.legend(handles=handles, loc="upper left", bbox_to_anchor=anchor,
                        bbox_transform=fig.transFigure, fontsize=fs, frameon=False,
                        title="Legend", title_fontsize=fs * 1.2, alignment="left",
                        borderaxespad=0.0, borderpad=0.0, handlelength=2.0, labelspacing=0.45)
    legend.set_gid("legend")
    for label in legend.get_texts():
        if _font(label.get_text()):
            label.set_fontfamily(_font(label.get_text())["fontfamily"])
    legend.get_title().set_fontweight("bold")
    box = legend.get_window_extent(renderer).transformed(fig.transFigure.inverted())
    return float(box.y0)


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.fill(part, width=width) if part else ""
                     for part in text.split("\n"))


# --- the sheet ----------------------------------


def build_sheet(data: ExportSet, *, paper: str = "a4") -> Figure:
    """Compose the map sheet of an export set as a matplotlib Figure.

    Parameters
    ----------
    data : ExportSet
        From :func:`geo.export.site.collect` (features in EPSG:4326; drawn in the site's UTM zone).
    paper : {"a4", "a3"}
        Landscape paper size.

    Returns
    -------
    Figure
        Not attached to pyplot; save it with ``fig.savefig`` or :func:`render_sheet`.
    """
    if paper not in PAPER_SIZES:
        raise GeoError(f"Unknown paper size {paper!r}; use one of: {', '.join(PAPER_SIZES)}.")
    cjk = find_cjk_font()
    with _LOCK, matplotlib.rc_context(_RC):
        return _compose(data, paper, cjk is not None)


def _compose(data: ExportSet, paper: str, cjk: bool) -> Figure:
    width_in, height_in = PAPER_SIZES[paper]
    fs = 7.0 * width_in / PAPER_SIZES["a4"][0]
    # laid out at the PNG resolution so text metrics measured here are reused when saving
    fig = Figure(figsize=(width_in, height_in), facecolor="white", dpi=_DPI[paper])
    renderer = FigureCanvasAgg(fig).get_renderer()
    metric = CRS.from_user_input(data.metric_crs)
    to_metric = Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    to_wgs = Transformer.from_crs(metric, "EPSG:4326", always_xy=True)
    features = data.features.to_crs(metric)
    record = data.record

    def text(x: float, y: float, value: str, **kwargs: Any) -> float:
        """Draw text with its top at ``y``; return the figure y of its bottom."""
        value = _drawable(value, cjk)
        artist = fig.text(x, y, value, va="top", **_font(value), **kwargs)
        box = artist.get_window_extent(renderer).transformed(fig.transFigure.inverted())
        return float(box.y0)

    # title band
    text(0.03, 0.975, f"Physical scope map: {data.title}", fontsize=fs * 2.0,
         fontweight="bold", color=INK, gid="title")
    catchment = (record.catchment_name if record is not None and record.catchment_name
                 else "catchment not recorded")
    text(0.03, 0.925, f"AWS Standard v2.0, indicator 1.1.1 (physical scope) · Catchment: "
         f"{catchment}", fontsize=fs * 1.25, color=MUTED)

    # main map
    map_rect = (0.045, 0.315, 0.585, 0.585)
    ax = fig.add_axes(map_rect, gid="main_map")
    ax.set_facecolor("#fbfbf8")
    site_linked = features[features["aws_ref"].astype(str) == data.aws_ref]
    extent = _extent(site_linked if not site_linked.empty else features, _axes_aspect(fig, ax))
    box = shapely.box(extent[0], extent[2], extent[1], extent[3])
    drawn: list[LayerSpec] = []
    frames: dict[str, gpd.GeoDataFrame] = {}
    for spec in sorted(data.specs, key=lambda s: s.style.z):
        frame = features[(features["layer"] == spec.id) & features.intersects(box)]
        if frame.empty:
            continue
        draw_layer(ax, frame, spec, zorder=2 + spec.style.z * 0.01)
        drawn.append(spec)
        frames[spec.id] = frame
    labelled = features[features.intersects(box) & (
        (features["aws_ref"].astype(str) == data.aws_ref)
        | features["kind"].isin([LayerKind.FACILITY.value, LayerKind.LAKE.value,
                                 LayerKind.WATER_SOURCE.value,
                                 LayerKind.DISCHARGE_POINT.value]))]
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    _labels(ax, renderer, labelled, box, cjk, fs)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_aspect("equal", adjustable="box")
    graticule(ax, to_metric, to_wgs, fs)
    scale_bar(ax, fs, width_in * map_rect[2] * 0.0254, paper)
    north_arrow(ax, to_metric, to_wgs, fs)
    below = text(map_rect[0], map_rect[1] - 0.03,
                 f"Map projection {metric.name} (EPSG:{metric.to_epsg()}); graticule WGS84 "
                 "longitude/latitude (EPSG:4326). Exports are WGS84 (RFC 7946).",
                 fontsize=fs * 0.85, color=MUTED)

    map_chars = int(map_rect[2] * width_in * 72 / (fs * 0.95 * 0.55))
    below = text(map_rect[0], below - 0.008, _wrap(sheet_caveat(data), map_chars),
                 fontsize=fs * 0.95, color="#8a1c1c", gid="caveat", linespacing=1.25)

    # right panel: inset, legend, site facts
    panel_x, panel_w = 0.665, 0.31
    for spec in _inset(fig, (panel_x, 0.625, panel_w, 0.275), data, metric, extent, fs, cjk):
        if spec not in drawn:
            drawn.append(spec)
            frames[spec.id] = features[features["layer"] == spec.id]
    any_illustrative = bool((features["accuracy"].astype(str) == "illustrative").any())
    note = not_stated_note(data.scope)
    legend_bottom = _legend(fig, renderer, (panel_x, 0.595), drawn, frames,
                            any_illustrative, fs, cjk, any_not_stated=bool(note))
    panel_chars = int(panel_w * width_in * 72 / (fs * 0.55))
    facts_bottom = text(panel_x, legend_bottom - 0.015, _wrap(_site_facts(data), panel_chars),
                        fontsize=fs, color=INK, gid="site_facts", linespacing=1.25)

    # bottom band: data sources in two columns, the note of what is not stated, the footer
    top = min(below, facts_bottom, 0.215) - 0.012
    text(0.03, top, "Data sources and their dates", fontsize=fs * 1.05, fontweight="bold",
         color=INK, gid="sources")
    # layers sharing source, date and licence share one entry
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for spec in data.specs:
        key = (spec.attribution or "source not stated", spec.source_date or "undated",
               spec.licence or "not stated")
        grouped.setdefault(key, []).append(spec.title)
    entries = [f"• {', '.join(titles)}: {source} ({date}); licence: {licence}"
               for (source, date, licence), titles in grouped.items()]
    half = (len(entries) + 1) // 2
    column_chars = int(0.46 * width_in * 72 / (fs * 0.8 * 0.55))
    sources_bottom = top - 0.025
    for column, chunk in enumerate((entries[:half], entries[half:])):
        if chunk:
            sources_bottom = min(sources_bottom, text(
                0.03 + column * 0.48, top - 0.025,
                "\n".join(_wrap(e, column_chars) for e in chunk), fontsize=fs * 0.8,
                color=INK, gid="sources", linespacing=1.2))
    if note:
        _not_stated(fig, renderer, data.scope, sources_bottom - 0.012, fs,
                    int(0.945 * width_in * 72 / (fs * 0.8 * 0.55)), cjk)
    generated = data.generated.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    fig.text(0.975, 0.012, f"Generated {generated} by catchscope {__version__} · "
             f"{paper.upper()} landscape", fontsize=fs * 0.85, color=MUTED,
             ha="right", va="bottom", gid="footer")
    return fig


def _not_stated(fig: Figure, renderer: Any, scope: Any, top: float, fs: float,
                chars: int, cjk: bool) -> None:
    """The note of what no report states, as detailed as fits above the footer."""
    for level in range(len(DETAIL_LEVELS)):
        value = _drawable(_wrap(not_stated_note(scope, level), chars), cjk)
        artist = fig.text(0.03, top, value, va="top", fontsize=fs * 0.8, color="#8a1c1c",
                          gid="not_stated", linespacing=1.2, **_font(value))
        box = artist.get_window_extent(renderer).transformed(fig.transFigure.inverted())
        if box.y0 >= 0.03 or level == len(DETAIL_LEVELS) - 1:
            return
        artist.remove()


def _font(value: str) -> dict[str, Any]:
    """Font keywords for a text: the CJK font as fallback only where Chinese is drawn.

    Falling back on every text would make matplotlib lay out all text through the
    large CJK font, several times slower.
    """
    family = find_cjk_font()
    if family and _CJK_RE.search(value):
        return {"fontfamily": ["DejaVu Sans", family]}
    return {}


def _drawable(value: str, cjk: bool) -> str:
    """Text as the sheet can draw it: invisible characters dropped, Chinese without a CJK font.

    Control and format characters (zero-width, direction marks, U+FEFF: Unicode classes
    Cc and Cf) print as nothing or as a box, and U+FEFF fails matplotlib's PDF backend, so
    text from data loses them (tabs and line breaks stay).  Without a CJK font, Chinese text (and
    the brackets it leaves empty) is dropped too.
    """
    value = _INVISIBLE_RE.sub("", value)
    if cjk or not _CJK_RE.search(value):
        return value
    stripped = _CJK_RE.sub("", value)
    stripped = re.sub(r"\s*[(（]\s*[)）]", "", stripped)
    return re.sub(r"[ \t]{2,}", " ", stripped)


def _site_facts(data: ExportSet) -> str:
    record = data.record
    lines = [f"Site: {data.title}"]
    if record is not None:
        if record.organisation:
            lines.append(f"Organisation: {record.organisation}")
        if record.address:
            lines.append(mark(f"Address: {record.address}", fact_basis(record, "address")))
        details = []
        if record.area_m2:
            details.append(mark(f"area {record.area_m2:,.0f} m²", fact_basis(record, "area_m2")))
        if record.certification_status:
            valid = f", valid until {record.valid_until}" if record.valid_until else ""
            if record.valid_until and record.valid_until < data.generated.date():
                # an auditor reads the sheet on its date: say the certificate had ended
                valid = f", EXPIRED on {record.valid_until} (before this sheet's date)"
            details.append(f"{record.certification_status}{valid}")
        if details:
            joined = "; ".join(details)
            lines.append(joined[:1].upper() + joined[1:])  # keep "Certified Gold", "EXPIRED"
        if record.water_service_provider:
            lines.append(mark(f"Water provider: {record.water_service_provider}",
                              fact_basis(record, "water_service_provider")))
    checklist = getattr(data.scope, "checklist", ())
    if checklist:
        weak = [c for c in checklist if c.basis is not None and not c.basis.is_stated]
        lines.append(mark(f"1.1.1 checklist: {data.scope.score}",
                          weak[0].basis if weak else None))
    layers = data.features["layer"].nunique()
    lines.append(f"In scope: {len(data.features)} features in {layers} layers "
                 "(all listed in the GeoPackage / GeoJSON export)")
    return "\n".join(lines)


def _labels(ax: Axes, renderer: Any, frame: gpd.GeoDataFrame, box: Any, cjk: bool,
            fs: float) -> None:
    """Label features inside the map frame, skipping a label that would hide another."""
    taken: list[Any] = []
    seen_local: set[str] = set()
    frame_box = ax.get_window_extent(renderer)
    offsets = ((4, 3, "left", "bottom"), (-4, 3, "right", "bottom"),
               (4, -3, "left", "top"), (-4, -3, "right", "top"))
    for _, row in frame.iterrows():
        geom = row.geometry.intersection(box)
        if geom.is_empty:
            continue
        anchor = geom if geom.geom_type == "Point" else geom.representative_point()
        text = _drawable(_label(row, cjk, seen_local), cjk)
        for dx, dy, ha, va in offsets:
            label = ax.annotate(text, (anchor.x, anchor.y), xytext=(dx, dy), **_font(text),
                                textcoords="offset points", ha=ha, va=va, fontsize=fs * 0.8,
                                color=INK, zorder=30, annotation_clip=True,
                                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white",
                                      "alpha": 0.75, "edgecolor": "none"})
            extent = label.get_window_extent(renderer)
            inside = (extent.x0 >= frame_box.x0 and extent.x1 <= frame_box.x1
                      and extent.y0 >= frame_box.y0 and extent.y1 <= frame_box.y1)
            if inside and not any(extent.overlaps(other) for other in taken):
                taken.append(extent)
                break
            label.remove()


def render_sheets(data: ExportSet, *, paper: str = "a4",
                  formats: tuple[str, ...] = ("pdf",)) -> dict[str, bytes]:
    """Render the sheet once and return it in each of ``formats`` (``pdf``, ``png``).

    The PNG is the PDF rasterised (PDFium): both show exactly the same page, and the
    text is drawn once (into the PDF) instead of once per format.
    """
    with _LOCK:
        pdf = _pdf(build_sheet(data, paper=paper), dpi=_DPI[paper],
                   metadata={"Title": f"Physical scope map — {data.title}",
                             "Creator": f"catchscope {__version__}"})
        rendered = {"pdf": pdf, "png": _png(pdf, _DPI[paper]) if "png" in formats else b""}
    return {fmt: rendered[fmt] for fmt in formats}


def _pdf(fig: Figure, **savefig: Any) -> bytes:
    """The figure as PDF bytes, with the sheet's matplotlib settings."""
    buffer = io.BytesIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buffer, format="pdf", **savefig)
    return buffer.getvalue()


def _png(pdf: bytes, dpi: int) -> bytes:
    """The one-page PDF as an RGB PNG at ``dpi`` (the page is opaque white: no alpha).

    Light zlib compression: several times faster than the default level, ~2 % larger.
    """
    document = pdfium.PdfDocument(pdf)
    try:
        image = document[0].render(scale=dpi / 72).to_pil()
    finally:
        document.close()
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", f"catchscope {__version__}")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, compress_level=1, dpi=(dpi, dpi))
    return buffer.getvalue()


def warm_up() -> None:
    """Load what a process's first sheet would: fonts, the PDF backend, PDFium.

    About a second, once per process; the app runs it in the background at start so
    the first *Prepare* of a map sheet or bundle is as fast as the next ones.
    """
    sample = "Scope 1:25,000 Wusong 吴淞江" if find_cjk_font() else "Scope 1:25,000"
    with _LOCK:
        fig = Figure(figsize=(3, 1), dpi=72)
        fig.text(0.05, 0.5, sample, **_font(sample))
        fig.text(0.05, 0.1, sample, fontweight="bold", **_font(sample))
        _png(_pdf(fig), 72)


def render_sheet(data: ExportSet, *, fmt: str = "pdf", paper: str = "a4") -> bytes:
    """The map sheet as PDF or PNG bytes (A4 or A3 landscape)."""
    if fmt not in ("pdf", "png"):
        raise GeoError(f"The map sheet is PDF or PNG, not {fmt!r}.")
    return render_sheets(data, paper=paper, formats=(fmt,))[fmt]
