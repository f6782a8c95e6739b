"""The offline HTML map, the map sheet's parts, and the bundle (ZIP + README + metadata).

:func:`render_bundle` gathers every format into one ZIP for a recipient, with a
``README.txt`` (what each file is, how to open it, CRS, provenance, licences) and a
machine-readable ``metadata.json``; the vector formats come from the renderers the
caller passes (:data:`geo.export.site._RENDERERS`), so a broken renderer fails the bundle
too.  Called through :func:`geo.export.site.render`.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from geo.core import __version__
from geo.core.errors import GeoError
from geo.export.exportset import ExportSet, sheet_caveat
from geo.export.redact import (
    COARSENED,
    REDACTION_GRID_M,
    SENSITIVE_KINDS,
    RedactedScope,
    Redaction,
    map_workspace,
)

__all__ = ["html_bytes", "metadata", "render_bundle", "sheet_part", "sheet_parts"]


# --- HTML (the app's map, standalone and offline) ------------------------------------

_EXTERNAL_ASSET_RE = re.compile(
    r"<(?:script|link)\b[^>]*(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE
)


def html_bytes(data: ExportSet) -> bytes:
    """The app's interactive map of the scope as one offline HTML page.

    Raises
    ------
    GeoError
        If the page would load a script or stylesheet from the network.
    """
    from geo.maps.build import build_map, map_html

    scope = data.scope
    if data._redactor is not None:
        scope = RedactedScope(data)
    page = map_html(build_map(map_workspace(data), scope, basemap="none", for_export=True),
                    title=f"Catchscope · {data.stem} · physical scope map")
    if _EXTERNAL_ASSET_RE.search(page):
        raise GeoError(
            "The HTML map would load scripts or styles from the network; it cannot be exported "
            "as an offline page. Check the vendored files in geo/maps/static/ (see its README)."
        )
    return page.encode("utf-8")


# --- the map sheet ----------------------------------


def sheet_part(data: ExportSet, fmt: str, paper: str) -> dict[str, bytes]:
    """The map sheet as ``{"<ref>-sheet-<paper>.<fmt>": bytes}`` (``fmt``: pdf or png)."""
    from geo.export.sheet import render_sheet

    return {f"{data.stem}-sheet-{paper}.{fmt}": render_sheet(data, fmt=fmt, paper=paper)}


# --- bundle ----------------------------------


def _licences(data: ExportSet) -> list[dict[str, str]]:
    return [{"layer": s.id, "title": s.title, "attribution": s.attribution,
             "licence": s.licence or "not stated", "source_date": s.source_date}
            for s in data.specs]


def metadata(data: ExportSet, files: Iterable[str] = ()) -> dict[str, Any]:
    """Machine-readable description of an export (``metadata.json``)."""
    counts = data.features.groupby("layer", sort=False).size()
    return {
        "site": {"aws_ref": data.aws_ref,
                 "name": data.record.site_name if data.record else None,
                 "organisation": data.record.organisation if data.record else None},
        "generated": data.generated.isoformat().replace("+00:00", "Z"),
        "software": {"name": "catchscope", "version": __version__},
        "crs": "EPSG:4326 (WGS84 longitude/latitude; RFC 7946 for GeoJSON)",
        "feature_count": len(data.features),
        "illustrative_count": int((data.features["accuracy"].astype(str)
                                   == "illustrative").sum()),
        "layers": [
            {"id": s.id, "title": s.title, "kind": s.kind.value,
             "features": int(counts.get(s.id, 0)), "original_datum": s.datum.value,
             "attribution": s.attribution, "source_date": s.source_date,
             "licence": s.licence or "not stated"}
            for s in data.specs
        ],
        "redaction": None if data.redaction is None else {
            "mode": data.redaction.value,
            "kinds": list(SENSITIVE_KINDS),
            "grid_m": REDACTION_GRID_M if data.redaction is Redaction.SENSITIVE else None,
            "pipes": ("clipped 1 km short of sensitive points"
                      if data.redaction is Redaction.SENSITIVE
                      else "pipes within 1 km of sensitive points left out"),
            "features": data.redacted_fids,
        },
        "licences": _licences(data),
        "files": sorted(files),
    }


def _readme(data: ExportSet, files: list[str]) -> str:
    stem = data.stem
    lines = [
        f"Catchscope export: {data.title}",
        "=" * 72,
        f"Generated {data.generated:%Y-%m-%d %H:%M} UTC by catchscope {__version__}.",
        "",
        sheet_caveat(data),
        "",
        "What each file is",
        "-" * 17,
        f"{stem}-scope.geojson      every feature of the site's physical scope, RFC 7946 GeoJSON",
        f"{stem}-layers/*.geojson   the same, one file per layer",
        f"{stem}-scope.gpkg         GeoPackage: one layer per kind with styles, plus tables",
        "                           site_record, checklist, statements (every statement",
        "                           and what it rests on), water_chain, map_vs_report,",
        "                           auditor_answers, iwras, findings, layer_sources",
        f"{stem}-scope.kml / .kmz   for Google Earth (a folder per layer, styled)",
        f"{stem}-points.csv         point features with lon/lat columns (UTF-8)",
        f"{stem}-iwras.csv          Important Water-Related Areas near the site",
        f"{stem}-checklist.csv      AWS 1.1.1 physical-scope checklist",
        f"{stem}-statements.csv     every statement of the scope and its basis (stated,",
        "                           derived, inferred, borrowed or assumed)",
        *([f"{stem}-raster_zonal_stats.csv  raster statistics per parcel, catchment unit "
             "and IWRA (also a GeoPackage table)"] if "raster_zonal_stats" in data.tables
          else []),
        f"{stem}-map.html           interactive map; works offline in any browser",
        f"{stem}-sheet-*.pdf/.png   printable map sheet for the audit file",
        "metadata.json              machine-readable: site, layers, counts, CRS, licences",
        "",
        "How to open",
        "-" * 11,
        "QGIS: Layer > Add Layer > Add Vector Layer, choose the .gpkg; every layer loads with",
        "  its style (stored in the GeoPackage's layer_styles table). The .geojson opens too.",
        "Google Earth (Pro or web): File > Open / Import KML file, choose the .kmz.",
        "Browser: open the .html file (no internet needed). Spreadsheet: open the .csv files.",
        "",
        "Coordinates and identifiers",
        "-" * 27,
        "All coordinates are WGS84 longitude/latitude (EPSG:4326), at most 7 decimals.",
        "Features recorded in Chinese web-map coordinates (GCJ-02, BD-09) were converted to",
        "WGS84; the 'datum' property keeps the datum they were originally recorded in.",
        "Feature ids ('id' in GeoJSON, 'fid' elsewhere) are stable between exports: compare",
        "two years' exports by id.",
        "",
        "Provenance",
        "-" * 10,
        "Each feature says where it came from ('source'), how well its position is known",
        "('accuracy': surveyed, official, derived or illustrative) and which AWS 1.1.1 element",
        "it evidences ('aws_element').",
    ]
    if data.redaction is not None:
        lines += ["", "Redaction", "-" * 9,
                  f"Mode '{data.redaction.value}': water intakes and outfalls "
                  + ("were moved to the centre of their 1 km grid cell (property "
                     f"redacted = '{COARSENED}'); pipes were cut 1 km short of them."
                     if data.redaction is Redaction.SENSITIVE
                     else "were left out, with the pipes that reach them."),
                  f"Features concerned: {', '.join(data.redacted_fids) or 'none'}."]
    lines += ["", "Data sources and licences", "-" * 25]
    for item in _licences(data):
        lines.append(f"- {item['title']} ({item['layer']}): {item['attribution'] or 'n/a'}; "
                     f"dated {item['source_date'] or 'n/a'}; licence: {item['licence']}")
    lines += ["", "Files in this bundle", "-" * 20, *sorted(files), ""]
    return "\n".join(lines)


def render_bundle(data: ExportSet, paper: str,
                  renderers: Mapping[Any, Callable[[ExportSet], dict[str, bytes]]],
                  ) -> dict[str, bytes]:
    """Every format in one ZIP under ``<ref>-export/``, with README.txt and metadata.json.

    ``renderers`` maps each single-file format to its renderer (the caller's
    dispatch table, in the order the files are made); the map sheets are added in
    PDF and PNG at ``paper`` size.
    """
    parts: dict[str, bytes] = {}
    for renderer in renderers.values():
        parts.update(renderer(data))
    parts.update(sheet_parts(data, paper))
    files = [*parts, "README.txt", "metadata.json"]
    parts["README.txt"] = _readme(data, files).encode("utf-8")
    parts["metadata.json"] = (json.dumps(metadata(data, files), ensure_ascii=False, indent=2)
                              + "\n").encode("utf-8")
    buffer = io.BytesIO()
    folder = f"{data.stem}-export"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(parts):
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=data.generated.timetuple()[:6])
            # PNG, PDF and KMZ are compressed already: deflating them again only costs time
            info.compress_type = (zipfile.ZIP_STORED if name.endswith((".png", ".pdf", ".kmz"))
                                  else zipfile.ZIP_DEFLATED)
            info.external_attr = 0o644 << 16
            archive.writestr(info, parts[name])
    return {f"{data.stem}-export.zip": buffer.getvalue()}


def sheet_parts(data: ExportSet, paper: str) -> dict[str, bytes]:
    """The map sheet in PDF and PNG, rendered once (figure built once for both)."""
    from geo.export.sheet import render_sheets

    rendered = render_sheets(data, paper=paper, formats=("pdf", "png"))
    return {f"{data.stem}-sheet-{paper}.{fmt}": payload for fmt, payload in rendered.items()}
