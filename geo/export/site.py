"""Exports of a site's physical scope for stakeholders, auditors and GIS users.

One pipeline for every format: :func:`collect` gathers the site's scope (every
feature relevant to the site, from :func:`geo.scope.assess.assess_site`), the site record,
the 1.1.1 checklist, the IWRA table and the provenance of every layer into an
:class:`ExportSet`; a renderer per format turns it into named byte strings in
memory; only then is anything written, each file atomically through
:mod:`geo.core.io`.  A failure while rendering therefore leaves no file at all.

Formats
-------
``geojson``  RFC 7946 FeatureCollection (WGS84 lon/lat, no ``crs`` member, exterior
             rings counter-clockwise and holes clockwise, ≤ 7 decimals, ``bbox`` on the
             collection and on every feature, ``id`` = the workspace feature id so two
             exports diff cleanly), plus one file per layer when written to a folder.
``gpkg``     GeoPackage, one layer per kind, QGIS styles in ``layer_styles`` (SLD and
             QML from the catalogue styles), the site record, checklist, IWRAs, findings
             and layer provenance as attribute tables.
``kml/kmz``  For Google Earth: a folder per layer, styles, names, HTML-escaped attribute
             tables as descriptions.  KMZ is the zipped ``doc.kml``.
``csv``      Point features with lon/lat columns, the IWRA table and the checklist.
``html``     The app's interactive map as one offline page (:mod:`geo.maps.build`).
``pdf/png``  The printable map sheet (:mod:`geo.export.sheet`).
``bundle``   A ZIP with all of the above, ``README.txt`` and ``metadata.json``.

Redaction (``redact="sensitive"``): water intakes and outfalls (kinds
``water_source`` and ``discharge_point``) are moved to the centre of their 1 km grid
cell in the site's UTM zone, or left out with ``redact="drop-sensitive"`` (RFC 7946
§10); each such feature says so in its ``redacted`` property and the metadata lists
them.  Names of files come from the validated AWS reference and layer ids only,
never from data values.

Modules
-------
This module holds :class:`ExportSet`, :func:`collect` and the dispatch (:func:`render`,
:func:`export_bytes`, :func:`export_site`); the renderers live beside it:
:mod:`geo.export.vector` (GeoJSON, GeoPackage with QGIS styles, CSV, value
serialisation), :mod:`geo.export.kml`, :mod:`geo.export.redact`,
:mod:`geo.export.tables` (the attribute tables) and :mod:`geo.export.bundle` (HTML map,
sheet parts, README, metadata, ZIP).  Import the
public names from here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import zipfile
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

import geopandas as gpd
from pandas.api.types import is_numeric_dtype

from geo.core.basis import BASIS_KINDS
from geo.core.crs import metric_crs
from geo.core.errors import DataWriteError, GeoError, SiteNotFoundError
from geo.core.io import atomic_path
from geo.core.records import AWS_REF_RE
from geo.core.workspace import Workspace
from geo.export.bundle import html_bytes, metadata, render_bundle, sheet_part
from geo.export.exportset import ExportSet, Redaction
from geo.export.kml import kml_bytes, kml_document, kmz_bytes
from geo.export.redact import (
    CLIPPED,
    COARSENED,
    SENSITIVE_KINDS,
    make_redactor,
)
from geo.export.tables import site_tables
from geo.export.vector import (
    EXTRA_COLUMNS,
    LEAD_COLUMNS,
    collection_bytes,
    feature_collection,
    foreign_members,
    geojson_bytes,
    gpkg_bytes,
    items_of,
    points_table,
    render_csv,
    render_geojson,
)
from geo.scope.claims import kind_of_summary

__all__ = [
    "CLIPPED",
    "COARSENED",
    "MIME_TYPES",
    "SENSITIVE_KINDS",
    "ExportFormat",
    "ExportSet",
    "NothingToExportError",
    "Redaction",
    "collect",
    "export_bytes",
    "export_site",
    "feature_collection",
    "geojson_bytes",
    "gpkg_bytes",
    "html_bytes",
    "kml_bytes",
    "kmz_bytes",
    "main_file_name",
    "metadata",
    "points_table",
    "render",
]


class ExportFormat(StrEnum):
    """The formats ``catchscope export`` writes."""

    GEOJSON = "geojson"
    GPKG = "gpkg"
    KML = "kml"
    KMZ = "kmz"
    CSV = "csv"
    HTML = "html"
    PDF = "pdf"
    PNG = "png"
    BUNDLE = "bundle"


class NothingToExportError(GeoError, LookupError):
    """A site has no features to export."""


MIME_TYPES: dict[ExportFormat, str] = {
    ExportFormat.GEOJSON: "application/geo+json",
    ExportFormat.GPKG: "application/geopackage+sqlite3",
    ExportFormat.KML: "application/vnd.google-earth.kml+xml",
    ExportFormat.KMZ: "application/vnd.google-earth.kmz",
    ExportFormat.CSV: "text/csv",
    ExportFormat.HTML: "text/html",
    ExportFormat.PDF: "application/pdf",
    ExportFormat.PNG: "image/png",
    ExportFormat.BUNDLE: "application/zip",
}


# --- collecting ----------------------------------


def collect(
    workspace: Workspace, aws_ref: str, *, redact: Redaction | str | None = None,
    scope: Any = None,
) -> ExportSet:
    """Gather a site's scope for export.

    Parameters
    ----------
    workspace : Workspace
        The opened workspace.
    aws_ref : str
        The site's AWS reference, e.g. ``"AWS-000522"``.
    redact : {"sensitive", "drop-sensitive"}, optional
        Coarsen (to 1 km) or drop water intakes and outfalls.
    scope : SiteScope, optional
        The site's scope if already assessed (the app passes its cached one, made
        with the sidebar's buffer bands); assessed here otherwise.

    Returns
    -------
    ExportSet
        Features in EPSG:4326.

    Raises
    ------
    SiteNotFoundError
        If ``aws_ref`` is not a site of the workspace.
    NothingToExportError
        If the site has no features at all.
    """
    redaction = _check_inputs(workspace, aws_ref, redact)
    if scope is None or getattr(scope, "aws_ref", aws_ref) != aws_ref:
        scope = _assess(workspace, aws_ref)
    features = _scope_features(workspace, aws_ref, scope)
    if features.empty:
        raise NothingToExportError(
            f"The scope of site {aws_ref} holds no features to export; run "
            f"`catchscope scope {aws_ref}` to see what is missing."
        )
    utm = getattr(scope, "metric_crs", None) or metric_crs(features)
    redactor = (make_redactor(redaction, utm, workspace) if redaction is not None else None)
    redacted_fids: list[str] = []
    if redactor is not None:
        before = set(features["fid"].astype(str))
        features = redactor(features)
        kept = set(features["fid"].astype(str))
        changed = features.loc[features["redacted"].notna(), "fid"].astype(str)
        redacted_fids = sorted(set(changed) | (before - kept))
    used = set(features["layer"].astype(str))
    specs = [spec for spec in workspace.specs.values() if spec.id in used]
    tables = site_tables(workspace, aws_ref, scope, specs)
    return ExportSet(
        workspace=workspace, aws_ref=aws_ref, record=workspace.records.get(aws_ref),
        features=features, tables=tables, specs=specs, redaction=redaction,
        redacted_fids=redacted_fids, generated=dt.datetime.now(dt.UTC).replace(microsecond=0),
        scope=scope, metric_crs=utm, _redactor=redactor,
    )


def _check_inputs(
    workspace: Workspace, aws_ref: str, redact: Redaction | str | None
) -> Redaction | None:
    if not isinstance(aws_ref, str) or not AWS_REF_RE.match(aws_ref):
        raise SiteNotFoundError(
            f"{aws_ref!r} is not an AWS reference (expected e.g. 'AWS-000522'); "
            "list the sites with `catchscope sites`."
        )
    linked = sum(int((workspace.load(spec.id)["aws_ref"] == aws_ref).sum())
                 for spec in workspace.specs.values() if not spec.is_raster)
    if aws_ref not in workspace.records and not linked:
        known = ", ".join(workspace.records) or "(none)"
        raise SiteNotFoundError(
            f"No site {aws_ref} in workspace {workspace.root}. Known sites: {known}."
        )
    if not linked:
        raise NothingToExportError(
            f"Site {aws_ref} has nothing to export: no feature of workspace {workspace.root} "
            f"has aws_ref = {aws_ref!r}. Add the site's parcels to a layer of kind 'site' "
            "(see `catchscope layers`), then run `catchscope check`."
        )
    if redact is None or redact == "":
        return None
    try:
        return Redaction(redact)
    except ValueError:
        known = ", ".join(r.value for r in Redaction)
        raise GeoError(f"Unknown redaction {redact!r}; use one of: {known}.") from None


def _assess(workspace: Workspace, aws_ref: str) -> Any:
    from geo.scope.assess import assess_site

    return assess_site(workspace, aws_ref)


def _scope_features(workspace: Workspace, aws_ref: str, scope: Any) -> gpd.GeoDataFrame:
    frame = getattr(scope, "features", None)
    if not isinstance(frame, gpd.GeoDataFrame) or frame.empty:
        return gpd.GeoDataFrame({c: [] for c in LEAD_COLUMNS}, geometry=[], crs="EPSG:4326")
    frame = frame.to_crs("EPSG:4326") if frame.crs is not None else frame.set_crs("EPSG:4326")
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    frame = frame.drop_duplicates(subset="fid", keep="first")
    # plain object columns: arrow-backed strings make row-wise serialisation slow
    frame = frame.astype({c: object for c in frame.columns
                          if c != frame.geometry.name and not is_numeric_dtype(frame[c])})
    for column in EXTRA_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame = _statement_bases(frame, scope)
    order = {layer_id: i for i, layer_id in enumerate(workspace.specs)}
    frame = frame.assign(_order=frame["layer"].map(order).fillna(len(order)))
    frame = frame.sort_values(["_order", "fid"], kind="stable").drop(columns="_order")
    return gpd.GeoDataFrame(frame.reset_index(drop=True), geometry="geometry", crs="EPSG:4326")


def _statement_bases(frame: gpd.GeoDataFrame, scope: Any) -> gpd.GeoDataFrame:
    """Each feature's statements beside its geometry's ``basis`` (issue 15), as properties.

    ``chain_link_basis`` — its links onward in the water chain (``→ target: basis``, one
    per line); ``scope_basis`` — why a catchment unit is relied on / affected;
    ``iwra_basis`` and ``distance_basis`` — that an IWRA is one, and its distance from
    the site.  Each with a ``…_kind`` (the weakest, for a filter or a style rule).
    """
    columns: dict[str, dict[str, list[tuple[str, str]]]] = {
        "chain_link": {}, "scope": {}, "iwra": {}, "distance": {}}
    chain = getattr(scope, "chain", None)
    if chain is not None:
        names = {n.fid: n.name for n in chain.nodes}
        for edge in chain.edges:
            if edge.basis is not None:
                columns["chain_link"].setdefault(edge.source, []).append(
                    (edge.basis.kind, f"→ {names.get(edge.target, edge.target)}: "
                                      f"{edge.basis.summary()}"))
    for side, units in (("relied on", getattr(scope, "relied_on", ())),
                        ("affected", getattr(scope, "affected", ()))):
        for unit in units:
            if unit.basis is not None:
                columns["scope"].setdefault(unit.fid, []).append(
                    (unit.basis.kind, f"{side}: {unit.basis.summary()}"))
    iwras = getattr(scope, "iwras", None)
    if iwras is not None and "basis" in iwras:
        for row in iwras.to_dict(orient="records"):
            for name, column in (("iwra", "basis"), ("distance", "distance_basis")):
                text = str(row.get(column) or "")
                if text:
                    columns[name].setdefault(str(row["fid"]), []).append(
                        (kind_of_summary(text), text))
    rank: dict[str, int] = {kind: n for n, kind in enumerate(BASIS_KINDS)}
    fids = frame["fid"].astype(str)
    for name, per_fid in columns.items():
        if not per_fid:
            continue
        frame[f"{name}_basis_kind"] = [max((k for k, _ in per_fid[f]), key=lambda k: rank.get(
            k, len(rank))) if f in per_fid else None for f in fids]
        frame[f"{name}_basis"] = ["\n".join(t for _, t in per_fid[f]) if f in per_fid else None
                                  for f in fids]
    return frame


# --- dispatch ----------------------------------

_RENDERERS: dict[ExportFormat, Callable[[ExportSet], dict[str, bytes]]] = {
    ExportFormat.GEOJSON: render_geojson,
    ExportFormat.GPKG: lambda data: {main_file_name(data.stem, "gpkg"): gpkg_bytes(data)},
    ExportFormat.KML: lambda data: {main_file_name(data.stem, "kml"): kml_document(data)},
    ExportFormat.KMZ: lambda data: {main_file_name(data.stem, "kmz"): kmz_bytes(data)},
    ExportFormat.CSV: render_csv,
    ExportFormat.HTML: lambda data: {main_file_name(data.stem, "html"): html_bytes(data)},
}


# --- public entry points ----------------------------------

_PAPERS = ("a4", "a3")


def _check_format(fmt: ExportFormat | str, paper: str) -> ExportFormat:
    try:
        fmt = ExportFormat(str(fmt).lower())
    except ValueError:
        known = ", ".join(f.value for f in ExportFormat)
        raise GeoError(f"Unknown export format {fmt!r}; use one of: {known}.") from None
    if paper not in _PAPERS:
        raise GeoError(f"Unknown paper size {paper!r}; use one of: {', '.join(_PAPERS)}.")
    return fmt


def render(data: ExportSet, fmt: ExportFormat | str, *, paper: str = "a4") -> dict[str, bytes]:
    """Render ``data`` in ``fmt`` to ``{relative file name: bytes}`` in memory.

    The first entry is the main file; GeoJSON adds per-layer files and CSV the IWRA
    and checklist tables.
    """
    fmt = _check_format(fmt, paper)
    if fmt is ExportFormat.BUNDLE:
        return render_bundle(data, paper, _RENDERERS)
    if fmt in (ExportFormat.PDF, ExportFormat.PNG):
        return sheet_part(data, fmt.value, paper)
    return _RENDERERS[fmt](data)


def export_bytes(
    workspace: Workspace,
    aws_ref: str,
    fmt: ExportFormat | str,
    *,
    redact: Redaction | str | None = None,
    paper: str = "a4",
    scope: Any = None,
) -> tuple[str, str, bytes]:
    """One download for the app: ``(file name, MIME type, bytes)``.

    GeoJSON is the single FeatureCollection; CSV is a ZIP of the points, IWRA and
    checklist tables; every other format is its one file.  ``scope``: as in
    :func:`collect`.

    Raises
    ------
    GeoError
        Unknown site, format or paper; a site with nothing to export.
    """
    fmt = _check_format(fmt, paper)
    data = collect(workspace, aws_ref, redact=redact, scope=scope)
    if fmt is ExportFormat.GEOJSON:
        name = f"{data.stem}-scope.geojson"
        return name, MIME_TYPES[fmt], collection_bytes(items_of(data), foreign_members(data))
    parts = render(data, fmt, paper=paper)
    if fmt is ExportFormat.CSV:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, payload in parts.items():
                archive.writestr(name, payload)
        return f"{data.stem}-tables.zip", "application/zip", buffer.getvalue()
    name, payload = next(iter(parts.items()))
    return name, MIME_TYPES[fmt], payload


_MAIN_FILES = {
    ExportFormat.GEOJSON: "scope.geojson", ExportFormat.GPKG: "scope.gpkg",
    ExportFormat.KML: "scope.kml", ExportFormat.KMZ: "scope.kmz",
    ExportFormat.CSV: "points.csv", ExportFormat.HTML: "map.html",
    ExportFormat.BUNDLE: "export.zip",
}


def main_file_name(aws_ref: str, fmt: ExportFormat | str, paper: str = "a4") -> str:
    """The name of an export's main file, e.g. ``AWS-000522-export.zip`` (no rendering)."""
    fmt = _check_format(fmt, paper)
    if fmt in (ExportFormat.PDF, ExportFormat.PNG):
        return f"{aws_ref}-sheet-{paper}.{fmt.value}"
    return f"{aws_ref}-{_MAIN_FILES[fmt]}"


def _main_target(aws_ref: str, fmt: ExportFormat, paper: str, output: Path | None) -> Path:
    """Where :func:`_targets` will put the main file."""
    name = main_file_name(aws_ref, fmt, paper)
    if output is None:
        return Path.cwd() / name
    return output / name if output.is_dir() or not output.suffix else output


def _refuse_existing(paths: list[Path]) -> DataWriteError:
    listed = ", ".join(str(p) for p in paths)
    verb = "already exists" if len(paths) == 1 else "already exist"
    return DataWriteError(f"{listed} {verb}; pass --overwrite to replace "
                          f"{'it' if len(paths) == 1 else 'them'}, or choose another output "
                          "path with -o.")


def _targets(parts: dict[str, bytes], output: Path | None, fmt: ExportFormat) -> dict[Path, bytes]:
    """Where each rendered part goes.

    No ``output``: the main file (and the CSV tables) in the current folder.  An
    existing folder, or a path without a suffix: every part inside it.  A file path:
    the main file there; CSV tables beside it as ``<stem>-iwras.csv`` etc.
    """
    names = list(parts)
    main = names[0]
    if output is None:
        chosen = names if fmt is ExportFormat.CSV else [main]
        return {Path.cwd() / name: parts[name] for name in chosen}
    if output.is_dir() or not output.suffix:
        return {output / name: payload for name, payload in parts.items()}
    targets = {output: parts[main]}
    if fmt is ExportFormat.CSV:
        for name in names[1:]:
            suffix = name.removeprefix(main.rsplit("-", 1)[0])  # "-iwras.csv"
            targets[output.with_name(output.stem + suffix)] = parts[name]
    return targets


def export_site(
    workspace: Workspace,
    aws_ref: str,
    fmt: ExportFormat | str,
    output: Path | str | None = None,
    *,
    overwrite: bool = False,
    redact: Redaction | str | None = None,
    paper: str = "a4",
) -> list[Path]:
    """Export a site's scope to files (``catchscope export``).

    Everything is rendered in memory first; then each file is written atomically.
    If writing one fails, the files this call already wrote are removed again.

    Parameters
    ----------
    workspace : Workspace
        The opened workspace.
    aws_ref : str
        The site, e.g. ``"AWS-000522"``.
    fmt : str
        One of :class:`ExportFormat`.
    output : Path, optional
        A file, or a folder (an existing one, or a path without a suffix) for every
        file of the format (GeoJSON then adds one file per layer).  Default: the
        current folder, standard file names.
    overwrite : bool
        Replace existing files; without it an existing target is an error.
    redact : {"sensitive", "drop-sensitive"}, optional
        Coarsen or drop water intakes and outfalls.
    paper : {"a4", "a3"}
        Paper size of the map sheet (landscape).

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    DataWriteError
        A target exists and ``overwrite`` is False, or writing failed.
    GeoError
        Unknown site, format or paper, or nothing to export.
    """
    fmt = _check_format(fmt, paper)
    out = Path(output) if output is not None else None
    if not overwrite and isinstance(aws_ref, str) and AWS_REF_RE.match(aws_ref):
        # refuse before the seconds of rendering, not after
        main = _main_target(aws_ref, fmt, paper, out)
        if main.exists():
            raise _refuse_existing([main])
    data = collect(workspace, aws_ref, redact=redact)
    parts = render(data, fmt, paper=paper)
    targets = _targets(parts, out, fmt)
    existing = [path for path in targets if path.exists()]
    if existing and not overwrite:
        raise _refuse_existing(existing)
    written: list[Path] = []
    try:
        for path, payload in targets.items():
            with atomic_path(path, overwrite=overwrite) as tmp:
                tmp.write_bytes(payload)
            written.append(path)
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    return written

