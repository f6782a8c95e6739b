"""What the app keeps between reruns: the user's choice and cached workspace/analysis.

Caches are keyed on the workspace path plus a fingerprint of its files' modification
times, so editing a layer or a record outside the app shows up on the next rerun while a
site switch or a layer toggle reuses everything already loaded.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from geo.core.catalogue import Datum
from geo.core.errors import GeoError, UnsafeInputError
from geo.core.i18n import N_
from geo.core.records import AWS_REF_RE
from geo.core.workspace import Workspace, open_workspace, shared_store_stamp
from geo.maps.build import LayerData, MapData, display_bounds, prepare_map
from geo.scope.assess import SiteScope, assess_all, assess_site
from geo.serve.accounts import Action, Identity
from ui.i18n import _

__all__ = [
    "MAP_MODES",
    "Choice",
    "Workspace",
    "allowed_modes",
    "feature_workspace",
    "listed_workspace",
    "map_data",
    "map_key",
    "map_source",
    "parse_bands",
    "portfolio",
    "raster_overlays",
    "scope",
    "site_choices",
    "workspace",
]


#: Map modes (sidebar "Map mode"): what a click on the map does.  ``inspect`` shows the
#: clicked feature's attributes; ``edit`` adds drawing tools and the edit panel;
#: ``delineate`` turns a click into a catchment outlet.
MAP_MODES: dict[str, str] = {
    "inspect": N_("Inspect features"),
    "edit": N_("Draw and edit"),
    "delineate": N_("Delineate a catchment"),
}


@dataclass(frozen=True)
class ZoomRequest:
    """Frame ``bounds`` (WGS84 ``((south, west), (north, east))``) and highlight ``ref``.

    A new ``token`` frames afresh; the same one keeps the view the user has moved to.
    """

    token: int
    bounds: tuple[tuple[float, float], tuple[float, float]]
    ref: str


@dataclass(frozen=True)
class Choice:
    """What the sidebar says: workspace, site (None = all sites), basemap, layers, bands."""

    workspace: Workspace
    path: str | None
    site: str | None
    basemap: str
    layers: tuple[str, ...]
    bands: tuple[float, ...]
    #: What a click on the map does: one of :data:`MAP_MODES`.
    mode: str = "inspect"
    #: The user may see public copies only (a viewer): the map and the feature panel show
    #: intakes and outfalls redacted, and every export is redacted (server-side).
    public: bool = False
    #: Opacity (percent) of layers the user changed from their style: ``((id, pct), …)``.
    opacity: tuple[tuple[str, int], ...] = ()
    #: Draw the water chain arrows and the site pins.
    chain: bool = True
    pins: bool = True
    #: A "zoom to" the app asked for (a feature from the search or the attribute table).
    zoom: ZoomRequest | None = None
    #: The language of the interface (a key of ``geo.core.i18n.LANGUAGES``): the map's
    #: legend and controls are drawn in it.
    lang: str = "en"

    @functools.cached_property
    def key(self) -> tuple[str, tuple[tuple[str, float], ...]]:
        """Cache key of the workspace: its folder and the mtimes of its files.

        Read once per run (a Choice is made anew by every run; a save ends its run with a
        rerun): the run's nine cached look-ups need not walk the folders nine times.
        """
        return str(self.workspace.root), fingerprint(self.workspace.root)


def fingerprint(root: Path) -> tuple[tuple[str, float], ...]:
    """Modification times of everything in a workspace that the app reads."""
    items: list[tuple[str, float]] = []
    for folder in ("layers", "data"):
        base = root / folder
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d not in {"build", "__pycache__"}]
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    items.append((path, os.stat(path).st_mtime))
                except OSError:
                    continue
    settings = root / "catchscope.toml"
    if settings.exists():
        items.append((str(settings), settings.stat().st_mtime))
        with contextlib.suppress(GeoError):  # (opening the workspace then says what is wrong)
            stamp = shared_store_stamp(root)  # saves from other machines touch no file here
            if stamp is not None:
                items += [("store:latest-save", float(stamp[0])), ("store:layers", float(stamp[1]))]
    return tuple(sorted(items))


def _check_path(path: str) -> Path:
    """Refuse what is not a plain local folder path (URLs, GDAL virtual paths)."""
    if path.startswith(("/vsi", "\\\\")) or "://" in path:
        raise UnsafeInputError(
            f"{path!r} is not a folder on this machine. Type a local folder path such as "
            "/home/me/my-workspace."
        )
    folder = Path(path).expanduser()
    if not folder.is_absolute():
        raise UnsafeInputError(f"{path!r} is a relative path. Type the full path of the folder.")
    return folder


@st.cache_resource(show_spinner=False, max_entries=8)
def _open(root: str, stamp: tuple[tuple[str, float], ...]) -> Workspace:
    return open_workspace(None if root == "" else root)


def workspace(path: str | None) -> Workspace:
    """Open (cached) the bundled demo (``path`` None) or the folder the user typed."""
    if path is None:
        from geo.core.workspace import default_workspace_path

        root = default_workspace_path()
        return _open("", fingerprint(root))
    folder = _check_path(path)
    if not folder.is_dir():
        # Let open_workspace phrase the error the same way the CLI does.
        return open_workspace(folder)
    return _open(str(folder.resolve()), fingerprint(folder.resolve()))


def listed_workspace(path: Path) -> Workspace:
    """Open (cached) a workspace the server config lists (its path is already resolved)."""
    return _open(str(path), fingerprint(path))


def allowed_modes(who: Identity) -> list[str]:
    """The map modes this user may use: drawing and delineating into layers need EDIT."""
    if who.can(Action.EDIT):
        return list(MAP_MODES)
    return ["inspect"]


def site_choices(ws: Workspace) -> dict[str, str]:
    """AWS reference -> label of every site with a record or with site features."""
    from geo.core.catalogue import LayerKind

    labels = {ref: record.label for ref, record in sorted(ws.records.items())}
    frame = ws.load_kind(LayerKind.SITE)
    if not frame.empty:
        for ref in sorted({str(r) for r in frame["aws_ref"].dropna()}):
            if AWS_REF_RE.match(ref) and ref not in labels:
                labels[ref] = f"{ref} (no site record)"
    return labels


def parse_bands(text: str, default: tuple[float, ...]) -> tuple[float, ...]:
    """Parse "1, 10, 50" into increasing positive km; on a typo say so and keep the default."""
    try:
        bands = tuple(float(part) for part in text.replace(";", ",").split(",") if part.strip())
    except ValueError:
        bands = ()
    if not bands or any(b <= 0 for b in bands) or list(bands) != sorted(set(bands)):
        st.sidebar.warning(
            _("Buffer bands must be increasing positive distances in km, e.g. '1, 10, 50'; "
              "using {bands}.").format(bands=", ".join(f"{b:g}" for b in default))
        )
        return tuple(default)
    return bands


@st.cache_resource(show_spinner="Assessing the site's scope…", max_entries=32)
def _assess(key: tuple[Any, ...], _ws: Workspace, site: str,
            bands: tuple[float, ...]) -> SiteScope:
    return assess_site(_ws, site, bands_km=bands)


def scope(choice: Choice) -> SiteScope | None:
    """The site's scope (``geo.scope.assess.assess_site``), cached; None for all sites.

    A scope that cannot be assessed is a warning, not a failure: the map still shows.
    """
    if choice.site is None:
        return None
    try:
        return _assess((choice.key, choice.site, choice.bands), choice.workspace, choice.site,
                       choice.bands)
    except GeoError as err:
        from ui.panels import md_lines  # (ui.panels imports this module)

        st.warning(md_lines(_("The scope of {site} could not be assessed: {error}").format(
            site=choice.site, error=err)))
        return None


@st.cache_resource(show_spinner="Assessing all sites…", max_entries=8)
def _portfolio(key: tuple[Any, ...], _ws: Workspace, bands: tuple[float, ...]) -> pd.DataFrame:
    return assess_all(_ws, bands_km=bands)


def portfolio(choice: Choice) -> pd.DataFrame:
    """The portfolio table of all sites (``geo.scope.assess.assess_all``), cached."""
    return _portfolio((choice.key, choice.bands), choice.workspace, choice.bands)


@st.cache_resource(show_spinner="Preparing the map…", max_entries=16)
def _all_layers(key: tuple[Any, ...], _ws: Workspace, site: str | None, basemap: str,
                _scope: Any) -> MapData:
    # rasters are prepared one by one, only when drawn (raster_overlays)
    return prepare_map(_ws, _scope if _scope is not None else site, basemap=basemap, rasters=())


def map_key(choice: Choice) -> tuple[Any, ...]:
    """Cache key of the map: workspace files, site, basemap, layers, bands, mode, view, language."""
    return (choice.key, choice.site, choice.basemap, choice.layers, choice.bands, choice.mode,
            choice.opacity, choice.chain, choice.pins, choice.zoom, choice.public, choice.lang)


@st.cache_resource(show_spinner=False, max_entries=16)
def _public(key: tuple[Any, ...], _ws: Workspace, site: str | None,
            _scope: Any) -> tuple[Workspace, Any]:
    from geo.export.redact import RedactedScope, map_workspace, public_workspace
    from geo.export.site import collect

    if site is None or _scope is None:
        return public_workspace(_ws), None
    data = collect(_ws, site, redact="sensitive", scope=_scope)
    return map_workspace(data), RedactedScope(data)


def map_source(choice: Choice, current_scope: Any | None) -> tuple[Workspace, Any]:
    """The workspace and scope a map is drawn from: redacted for public users."""
    if not choice.public:
        return choice.workspace, current_scope
    return _public((choice.key, choice.site, choice.bands), choice.workspace, choice.site,
                   current_scope)


def feature_workspace(choice: Choice, current_scope: Any | None) -> Workspace:
    """The workspace the map and the feature panel read: redacted for public users."""
    return map_source(choice, current_scope)[0]


def map_data(choice: Choice, current_scope: Any | None) -> MapData:
    """Prepared (simplified, escaped) map layers for the current choice, cached.

    Every layer is prepared once per site and basemap; toggling layers only filters. A
    public user's map is drawn from the redacted features (as a public export is), while
    the scope itself was assessed on the true ones.
    """
    ws, drawn_scope = map_source(choice, current_scope)
    data = _all_layers((choice.key, choice.site, choice.basemap, choice.bands, choice.public),
                       ws, choice.site, choice.basemap, drawn_scope)
    by_id = {layer.layer_id: layer for layer in data.layers}
    opacity = dict(choice.opacity)
    layers = [_faded(by_id[lid], opacity[lid]) if lid in opacity else by_id[lid]
              for lid in choice.layers if lid in by_id]  # in drawing order, bottom first
    chosen = {f"layer:{lid}" for lid in choice.layers}
    extents = [e for e in data.extents if not e[0].startswith("layer:") or e[0] in chosen]
    fit, token, selected = data.fit, 0, None
    if choice.zoom is not None:
        token, selected = choice.zoom.token, choice.zoom.ref
        fit = display_bounds(choice.zoom.bounds, data.display_datum)
    return replace(data, layers=layers, extents=extents, fit=fit, selected=selected,
                   chain=data.chain if choice.chain else [],
                   pins=data.pins if choice.pins else [],
                   view_key=f"{choice.workspace.root}|{choice.site}|{token}", lang=choice.lang)


def _faded(layer: LayerData, percent: int) -> LayerData:
    """The layer drawn at ``percent`` of its style's opacity (stroke and fill)."""
    factor = min(max(percent, 0), 100) / 100
    style = dict(layer.style)
    for name in ("opacity", "fillOpacity"):
        style[name] = round(float(style.get(name, 1.0)) * factor, 3)
    return replace(layer, style=style)


@st.cache_resource(show_spinner="Preparing the raster overlay…", max_entries=32)
def _raster_overlay(key: tuple[Any, ...], _ws: Workspace, layer_id: str,
                    view: tuple[tuple[float, float], tuple[float, float]],
                    datum: Datum) -> tuple[list[Any], list[str]]:
    from geo.maps.rasters import prepare_raster_overlays

    return prepare_raster_overlays(_ws, view, layers=[layer_id], datum=datum)


def raster_overlays(choice: Choice, data: MapData,
                    ids: Sequence[str]) -> tuple[list[Any], list[str]]:
    """Overlays of the rasters ``ids`` for the map ``data``, and notes on any not drawn.

    Each is prepared once per site, basemap and workspace state, and only when it is
    drawn: a large raster the user has not chosen costs nothing.
    """
    view = data.view if data.view is not None else data.bounds
    overlays: list[Any] = []
    notes: list[str] = []
    for layer_id in ids:
        drawn, why = _raster_overlay((choice.key, choice.site, choice.basemap, choice.bands,
                                      layer_id), choice.workspace, layer_id, view,
                                     data.display_datum)
        overlays += drawn
        notes += why
    return overlays, notes
