"""``catchscope publish``: a static folder of public (redacted) copies anyone can host.

::

    site/
      index.html                    the portfolio table, a link per site
      AWS-000522/index.html         the site: record summary, 1.1.1 checklist, downloads
      AWS-000522/AWS-000522-map.html, -sheet-a4.pdf, -sheet-a4.png,
                 -scope.geojson (+ -layers/), -scope.gpkg, -points.csv, -checklist.csv, …

Every file is rendered by the exports (:func:`geo.export.site.render`) from one
redacted :class:`~geo.export.exportset.ExportSet` per site; there is no unredacted path.
The pages are plain HTML without scripts, every value escaped
(:func:`geo.core.markup.html_text`); they work from disk (relative links).

The folder is built beside the target and moved into place when complete, so a failure
leaves no half-written site; a non-empty target is refused unless ``overwrite``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from geo.core import __version__
from geo.core.errors import DataWriteError, GeoError
from geo.core.markup import html_text
from geo.core.workspace import Workspace
from geo.export.exportset import ExportSet, Redaction, sheet_caveat
from geo.export.site import collect, render

__all__ = ["PUBLISHED_FORMATS", "publish_static"]

#: What each site's folder gets, in the order its page lists them.
PUBLISHED_FORMATS = ("html", "pdf", "png", "geojson", "gpkg", "csv")
_LABELS = {"html": "Interactive map (offline HTML)", "pdf": "Map sheet (PDF)",
           "png": "Map sheet (PNG)", "geojson": "GeoJSON (RFC 7946)", "gpkg": "GeoPackage",
           "csv": "Tables (CSV)"}
_CSS = """body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .5rem;
vertical-align:top;text-align:left}th{background:#f3f3f3}.note{color:#555;font-size:.9rem}"""


def publish_static(
    workspace: Workspace,
    output: Path | str,
    *,
    overwrite: bool = False,
    redaction: Redaction | str = Redaction.SENSITIVE,
    paper: str = "a4",
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write the static site of ``workspace`` into ``output``.

    Parameters
    ----------
    workspace : Workspace
        The opened workspace.
    output : Path or str
        The folder to write; created, or replaced with ``overwrite``.
    redaction : {"sensitive", "drop-sensitive"}
        How intakes and outfalls are redacted (there is no unredacted choice).
    paper : {"a4", "a3"}
        Map sheet paper.
    progress : callable, optional
        Called with a line of text before each site.

    Returns
    -------
    list of Path
        Every file written, inside ``output``.

    Raises
    ------
    DataWriteError
        ``output`` is not empty (without ``overwrite``), is a file, or holds the workspace.
    """
    redaction = Redaction(redaction)
    target = _check_target(workspace, Path(output), overwrite=overwrite)
    staging = target.parent / f".{target.name}.publishing-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        rows, sites = _portfolio(workspace)
        published: dict[str, list[str]] = {}
        problems: dict[str, str] = {}
        for aws_ref in sites:
            if progress is not None:
                progress(f"Publishing {aws_ref}…")
            try:
                data = collect(workspace, aws_ref, redact=redaction)
                published[aws_ref] = _write_site(staging / aws_ref, data, paper)
            except GeoError as err:
                problems[aws_ref] = str(err)
        _write(staging / "index.html", _index_page(workspace, rows, published, problems,
                                                    redaction))
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(p for p in target.rglob("*") if p.is_file())


def _check_target(workspace: Workspace, target: Path, *, overwrite: bool) -> Path:
    target = target.expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise DataWriteError(f"{target} is a file; publish writes a folder: choose a folder "
                             "path with -o.")
    real = target.resolve()
    if workspace.root == real or workspace.root.is_relative_to(real):
        raise DataWriteError(f"{target} holds the workspace {workspace.root}; publish into a "
                             "folder outside it.")
    if real.is_relative_to(workspace.root):
        raise DataWriteError(f"{target} is inside the workspace {workspace.root}; publish "
                             "into a folder outside it.")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise DataWriteError(f"{target} is not empty; pass --overwrite to replace its "
                             "contents, or choose another folder with -o.")
    return target


def _swap_in(staging: Path, target: Path) -> None:
    """Move the finished folder into place (the old one removed only after the move)."""
    if not target.exists():
        staging.rename(target)
        return
    old = target.parent / f".{target.name}.replaced-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    target.rename(old)
    try:
        staging.rename(target)
    except BaseException:
        old.rename(target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)


def _portfolio(workspace: Workspace) -> tuple[pd.DataFrame, list[str]]:
    from geo.scope.portfolio import assess_all

    rows = assess_all(workspace)
    return rows, [str(r) for r in rows["aws_ref"]]


def _write_site(folder: Path, data: ExportSet, paper: str) -> list[str]:
    """Every published format of one site, and its page; the files' relative names."""
    names: list[str] = []
    for fmt in PUBLISHED_FORMATS:
        for name, payload in render(data, fmt, paper=paper).items():
            _write(folder / name, payload)
            names.append(name)
    _write(folder / "index.html", _site_page(data, names))
    return names


# --- pages -------------------------------------------------------------------------------


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html_text(title)}</title><style>{_CSS}</style></head>\n"
            f"<body>\n{body}\n<p class=\"note\">Generated "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by catchscope "
            f"{html_text(__version__)}.</p>\n</body></html>\n")


def _link(href: str, text: str) -> str:
    return f'<a href="{html_text(quote(href))}">{html_text(text)}</a>'


def _table(frame: pd.DataFrame, first_column_links: dict[str, str] | None = None) -> str:
    head = "".join(f"<th>{html_text(c)}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for position, value in enumerate(record):
            text = "" if value is None or (isinstance(value, float) and pd.isna(value)) \
                else str(value)
            link = (first_column_links or {}).get(text) if position == 0 else None
            cells.append(f"<td>{_link(link, text) if link else html_text(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(rows) + \
        "\n</tbody></table>"


def _redaction_note(redaction: Redaction) -> str:
    if redaction is Redaction.DROP_SENSITIVE:
        return ("Public copies: water intakes and outfalls are left out, and pipes lose every "
                "part within 1 km of them.")
    return ("Public copies: water intakes and outfalls are coarsened to the centre of their "
            "1 km grid cell, and pipes lose every part within 1 km of them.")


def _index_page(workspace: Workspace, rows: pd.DataFrame, published: dict[str, list[str]],
                problems: dict[str, str], redaction: Redaction) -> str:
    name = workspace.settings.name
    links = {ref: f"{ref}/index.html" for ref in published}
    body = [f"<h1>{html_text(name)}</h1>",
            f"<p>{html_text(workspace.settings.description)}</p>"
            if workspace.settings.description else "",
            f'<p class="note">{html_text(_redaction_note(redaction))} Coordinates WGS84 '
            "(EPSG:4326).</p>",
            "<h2>Sites (AWS Standard v2.0 physical scope, indicator 1.1.1)</h2>",
            _table(rows, links)]
    if problems:
        body.append("<h2>Not published</h2><ul>" + "".join(
            f"<li>{html_text(ref)}: {html_text(text)}</li>" for ref, text in problems.items())
            + "</ul>")
    return _page(name, "\n".join(b for b in body if b))


def _site_page(data: ExportSet, names: list[str]) -> str:
    downloads = []
    for fmt in PUBLISHED_FORMATS:
        files = [n for n in names if _format_of(n) == fmt]
        if files:
            downloads.append(f"<li>{html_text(_LABELS[fmt])}: " + ", ".join(
                _link(n, n) for n in files) + "</li>")
    body = [f"<p>{_link('../index.html', 'All sites')}</p>",
            f"<h1>{html_text(data.title)}</h1>",
            f'<p class="note">{html_text(sheet_caveat(data))}</p>',
            "<h2>Downloads</h2><ul>" + "".join(downloads) + "</ul>"]
    checklist = data.tables.get("checklist")
    if checklist is not None:
        shown = checklist.drop(columns=[c for c in ("evidence_fids",) if c in checklist])
        body += ["<h2>AWS 1.1.1 checklist</h2>", _table(shown)]
    record = data.tables.get("site_record")
    if record is not None:
        body += ["<h2>Site record</h2>", _table(record)]
    return _page(data.title, "\n".join(body))


def _format_of(name: str) -> str:
    suffix = name.rsplit(".", 1)[-1]
    return suffix if suffix in PUBLISHED_FORMATS else ""
