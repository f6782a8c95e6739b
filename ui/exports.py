"""The site downloads of the Export tab: every format of ``catchscope export``.

Nothing is rendered on a rerun: the user picks a format (and, for public copies, a
redaction), presses *Prepare*, and only then does :func:`geo.export.site.export_bytes` run
(the map sheet takes seconds).  Prepared files stay in the session, keyed on the
workspace's fingerprint, so switching tabs or preparing a second format keeps the
first download ready, and editing the workspace makes them stale (and dropped).
Downloading does not rerun the script.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import streamlit as st

from geo.core.errors import GeoError
from geo.export.site import ExportFormat, Redaction, export_bytes
from ui import state

__all__ = ["FORMATS", "REDACTIONS", "Prepared", "download_name", "site_downloads"]

#: What each format is, in the words a recipient needs.
FORMATS: dict[str, str] = {
    ExportFormat.GEOJSON: "GeoJSON (RFC 7946) — every feature of the scope, for GIS and diffs",
    ExportFormat.GPKG: "GeoPackage — one layer per kind with QGIS styles, plus the tables",
    ExportFormat.KML: "KML — for Google Earth",
    ExportFormat.KMZ: "KMZ — zipped KML for Google Earth",
    ExportFormat.CSV: "CSV tables (ZIP) — points with lon/lat, IWRAs, 1.1.1 checklist",
    ExportFormat.HTML: "HTML — the interactive map, one file, works offline",
    ExportFormat.PDF: "PDF map sheet — printable, for the audit file",
    ExportFormat.PNG: "PNG map sheet — the same sheet as an image",
    ExportFormat.BUNDLE: "Bundle (ZIP) — all of the above with a README and metadata",
}
#: Redaction choices: None keeps true positions (internal use).
REDACTIONS: dict[str, str] = {
    "": "None — true positions (internal use)",
    Redaction.SENSITIVE: "Coarsen intakes and outfalls to 1 km (public)",
    Redaction.DROP_SENSITIVE: "Leave intakes and outfalls out (public)",
}
_SHEETS = (ExportFormat.PDF, ExportFormat.PNG, ExportFormat.BUNDLE)
_PREPARED = "export_prepared"


@dataclass(frozen=True)
class Prepared:
    """A rendered download, kept in the session until the workspace changes."""

    name: str
    mime: str
    payload: bytes
    seconds: float
    stamp: tuple[Any, ...]


def download_name(name: str, redact: str) -> str:
    """``AWS-000522-scope.geojson`` → ``AWS-000522-scope-public.geojson`` when redacted.

    A redacted copy must never be mistaken for the internal one once downloaded.
    """
    if not redact:
        return name
    stem, dot, suffix = name.partition(".")
    return f"{stem}-public{dot}{suffix}"


def _size(payload: bytes) -> str:
    size = len(payload)
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{max(size / 1e3, 0.1):.0f} kB"


def public_redaction(choice: state.Choice, redact: str) -> str:
    """The redaction a download gets: a public user's is never "none", whatever was sent."""
    if choice.public and redact not in (Redaction.SENSITIVE, Redaction.DROP_SENSITIVE):
        return Redaction.SENSITIVE.value
    return redact


def _prepare(choice: state.Choice, scope: Any, fmt: str, redact: str, paper: str,
             stamp: tuple[Any, ...]) -> Prepared:
    started = time.perf_counter()
    redact = public_redaction(choice, redact)  # enforced here, not only by the widget
    # the app's scope was assessed with the sidebar's bands: reuse it (same IWRA table)
    reuse = scope if scope is not None and getattr(scope, "aws_ref", None) == choice.site \
        else None
    name, mime, payload = export_bytes(choice.workspace, str(choice.site), fmt,
                                       redact=redact or None, paper=paper, scope=reuse)
    return Prepared(name=download_name(name, redact), mime=mime, payload=payload,
                    seconds=time.perf_counter() - started, stamp=stamp)


def _prepared(stamp: tuple[Any, ...]) -> dict[tuple[str, ...], Prepared]:
    """The session's prepared files, without those of an older state of the workspace."""
    kept = {key: item for key, item in st.session_state.get(_PREPARED, {}).items()
            if item.stamp == stamp}
    st.session_state[_PREPARED] = kept
    return kept


@st.cache_resource(show_spinner=False)
def warm_up_sheets() -> bool:
    """Once per app process: load the map sheet's fonts and renderers (about a second).

    app.py calls this after the page is drawn, so the user sees the map meanwhile and
    the first *Prepare* of a sheet or bundle is as fast as the next.  Not in a
    background thread: matplotlib drawing from a second thread alongside the script
    run looked up wrong glyphs in tests.  Returns whether it worked.
    """
    from geo.export.sheet import warm_up

    try:
        warm_up()
    except Exception:  # an optimisation only: *Prepare* reports real errors to the user
        logging.getLogger(__name__).warning("map sheet warm-up failed", exc_info=True)
        return False
    return True


def site_downloads(choice: state.Choice, scope: Any) -> None:
    """Pick a format and a redaction, prepare the file, download it."""
    st.markdown("**Export the site's scope**")
    if choice.site is None:
        st.info("Pick a site in the sidebar to export its scope (GeoJSON, GeoPackage, KML, "
                "CSV, HTML, the PDF/PNG map sheet or everything as one ZIP).")
        return
    left, middle, right = st.columns([3, 3, 1])
    fmt = left.selectbox("Format", list(FORMATS), format_func=FORMATS.__getitem__,
                         key="export_format")
    options = [r for r in REDACTIONS if r or not choice.public]  # viewers: public copies only
    redact = public_redaction(choice, middle.selectbox(
        "Redaction", options, format_func=REDACTIONS.__getitem__,
        key="export_redact",
        help="For copies leaving the organisation (RFC 7946 §10): water intakes and "
             "outfalls are moved to the centre of their 1 km grid cell, or left out; "
             "pipes stop 1 km short of them. The metadata lists what was redacted."
             + (" Your account exports public copies only." if choice.public else "")))
    # Only the sheets have a paper size; a disabled box would be grey text too faint to read
    # (axe-core colour contrast), so other formats say so in words instead.
    if fmt in _SHEETS:
        paper = right.selectbox("Paper", ["a4", "a3"], format_func=str.upper,
                                key="export_paper",
                                help="Map sheet size (landscape); used by PDF, PNG and bundle.")
    else:
        paper = st.session_state.get("export_paper", "a4")
        right.caption("Paper: for the PDF, PNG and bundle map sheets.")
    stamp = (*choice.key, choice.site, choice.bands)
    prepared = _prepared(stamp)
    key = (choice.site, fmt, redact, paper if fmt in _SHEETS else "")
    short = FORMATS[fmt].split(" — ")[0]
    clicked = st.button(f"Prepare download: {short}", key="export_prepare", type="primary",
                        help="Renders the file on the server (the map sheet takes a few "
                             "seconds).")
    # One slot for the progress, one for the whole list of downloads: while a file is
    # prepared the list is cleared at once, so no stale button (an older file, or another
    # format's) can be clicked meanwhile.
    progress, downloads = st.empty(), st.empty()
    if clicked:
        downloads.caption(f"Preparing {short}…; the prepared files come back here when it "
                          "is done.")
        try:
            with progress, st.spinner(f"Preparing {short}…"):
                prepared.pop(key, None)  # re-prepared: moves to the top of the list
                prepared[key] = _prepare(choice, scope, fmt, redact, paper, stamp)
        except GeoError as err:
            from ui.panels import md_lines  # (ui.panels imports this module)

            progress.error(md_lines(err))
    _download_list(downloads, [(k, item) for k, item in prepared.items()
                               if k[0] == choice.site])


def _download_list(slot: Any, mine: list[tuple[tuple[str, ...], Prepared]]) -> None:
    """The prepared files of this site, newest first, as download buttons in ``slot``."""
    if not mine:
        slot.caption("Prepared files appear here, ready to download.")
        return
    with slot.container(key="export_downloads"):
        for (site, item_fmt, item_redact, item_paper), item in reversed(mine):
            label = f"Download {item.name} ({_size(item.payload)})"
            st.download_button(
                label, item.payload, file_name=item.name, mime=item.mime, on_click="ignore",
                key=f"export_download:{site}:{item_fmt}:{item_redact}:{item_paper}",
                help=f"Prepared in {item.seconds:.1f} s.")
