"""``catchscope scope``: assess one site or all of them, print, write files.

Output conventions (the same in every subcommand): ``--json`` prints JSON to stdout and
nothing else, so it pipes; ``-o FILE`` sends that JSON to a file instead; ``--md FILE``
writes the Markdown report (``--md -``: to stdout); ``--csv FILE`` (with ``--all``) the
portfolio table. An existing file is refused before any work unless ``--overwrite``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from geo.core.errors import DataWriteError, ScopeError
from geo.core.io import atomic_write_bytes
from geo.core.workspace import open_workspace
from geo.export.spreadsheet import neutralise_formulas
from geo.raster.zones import render_zonal, site_raster_stats, zonal_markdown, zonal_records
from geo.scope.assess import assess_all, assess_site
from geo.scope.portfolio import ENGINES, NOT_ASSESSED
from geo.scope.report import md_cell, parse_bands, render_portfolio, render_scope, scope_markdown

__all__ = ["run_scope_command"]

STDOUT = "-"


def _write(path: Path, payload: bytes, overwrite: bool, console: Console) -> None:
    atomic_write_bytes(path, payload, overwrite=overwrite)
    console.print(Text(f"Wrote {path}"))


def _refuse_failed_sites(table: pd.DataFrame) -> None:
    """Exit status 1 when some sites could not be assessed (after the table is out)."""
    failed = table.loc[table["checklist"] == NOT_ASSESSED, "aws_ref"].astype(str).tolist()
    if failed:
        raise ScopeError(
            f"{len(failed)} of {len(table)} site(s) could not be assessed: "
            + ", ".join(failed[:10]) + (" …" if len(failed) > 10 else "")
            + ". The others were; the lines above (and the CSV's problem column) say what "
            "to fix.")


def _check_inputs(aws_ref: str | None, all_sites: bool, as_json: bool, output: Path | None,
                  md_path: str | None, csv_path: Path | None, overwrite: bool,
                  engine: str = "columnar", scheduler: str | None = None) -> None:
    if engine not in ENGINES:
        raise ScopeError(f"Unknown --engine {engine!r}; use one of {', '.join(ENGINES)}.")
    if not all_sites and (engine != "columnar" or scheduler is not None):
        raise ScopeError("--engine and --scheduler choose how the portfolio is computed: use "
                         "them with --all.")
    if scheduler is not None and engine != "dask":
        raise ScopeError("--scheduler is the address of a dask scheduler: add --engine dask.")
    if all_sites and aws_ref:
        raise ScopeError("Give either a site (e.g. AWS-000521) or --all, not both.")
    if not all_sites and not aws_ref:
        raise ScopeError("Which site? Give its AWS reference (e.g. `catchscope scope "
                         "AWS-000521`), or --all for every site; `catchscope sites` lists them.")
    if output is not None and not as_json:
        raise ScopeError("-o FILE writes the JSON: use it with --json (--md FILE writes "
                         "Markdown, --csv FILE the portfolio table).")
    if as_json and md_path == STDOUT:
        raise ScopeError("--json and --md - both want stdout: write one of them to a file "
                         "(-o FILE for the JSON, --md FILE for the Markdown).")
    if all_sites and md_path is not None:
        raise ScopeError("--md describes one site; with --all use --csv FILE or --json.")
    if not all_sites and csv_path is not None:
        raise ScopeError("--csv writes the portfolio table: use it with --all.")
    md_file = None if md_path in (None, STDOUT) else Path(md_path)
    # Refuse an existing output before the work, not after it.
    for path in (csv_path, md_file, output):
        if path is not None and path.exists() and not overwrite:
            raise DataWriteError(f"{path} already exists; pass --overwrite to replace it.")


def _emit_json(document: object, output: Path | None, overwrite: bool, console: Console) -> None:
    payload = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        sys.stdout.write(payload)  # stdout carries only the JSON, so it can be piped
    else:
        _write(output, payload.encode("utf-8"), overwrite, console)


def _portfolio(console: Console, ws: object, band_values: tuple[float, ...] | None, *,
               as_json: bool, output: Path | None, csv_path: Path | None,
               overwrite: bool, engine: str = "columnar", scheduler: str | None = None) -> None:
    quiet = as_json and output is None
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True) if quiet else console,
                  transient=True) as progress:
        task = progress.add_task("Assessing sites", total=None)

        def tick(done: int, total: int, message: str) -> None:
            progress.update(task, completed=done, total=total, description=f"Assessing {message}")

        table = assess_all(ws, bands_km=band_values, progress=tick,  # type: ignore[arg-type]
                           engine=engine, scheduler=scheduler)
    if as_json:
        _emit_json(json.loads(table.to_json(orient="records", force_ascii=False)), output,
                   overwrite, console)
    else:
        render_portfolio(table, console)
    if csv_path is not None:
        # site names come from reports: no cell a spreadsheet would run as a formula
        payload = neutralise_formulas(table).to_csv(index=False).encode("utf-8")
        _write(csv_path, payload, overwrite, Console(stderr=True) if quiet else console)
    _refuse_failed_sites(table)


def run_scope_command(
    console: Console,
    *,
    aws_ref: str | None,
    all_sites: bool,
    workspace: Path | None,
    as_json: bool = False,
    output: Path | None = None,
    md_path: str | None = None,
    csv_path: Path | None = None,
    bands: str | None = None,
    overwrite: bool = False,
    engine: str = "columnar",
    scheduler: str | None = None,
) -> None:
    """What ``catchscope scope`` does: assess one site or all, print, write files.

    Exit status (through the CLI): 0 when everything was assessed and written; 1 on bad
    input, and with ``--all`` when some sites could not be assessed (the table and the
    CSV are still printed and written, their rows saying why).

    Raises
    ------
    GeoError
        On any bad input (unknown site, no parcels, cycles, bad bands, existing file), and
        with ``--all`` after the output when some sites could not be assessed.
    """
    band_values = parse_bands(bands)
    _check_inputs(aws_ref, all_sites, as_json, output, md_path, csv_path, overwrite, engine,
                  scheduler)
    ws = open_workspace(workspace)
    if all_sites:
        _portfolio(console, ws, band_values, as_json=as_json, output=output,
                   csv_path=csv_path, overwrite=overwrite, engine=engine, scheduler=scheduler)
        return
    assert aws_ref is not None
    scope = assess_site(ws, aws_ref, bands_km=band_values)
    # Rasters in the workspace: zonal statistics over parcels, units and IWRAs.
    rasters = site_raster_stats(ws, scope)
    markdown = scope_markdown(scope)
    if not rasters.empty:
        markdown = markdown.rstrip("\n") + "\n\n" + zonal_markdown(rasters, md_cell)
    if as_json:
        document = scope.to_dict()
        if not rasters.empty:
            document["rasters"] = zonal_records(rasters)
        _emit_json(document, output, overwrite, console)
    elif md_path != STDOUT:
        render_scope(scope, console)
        if not rasters.empty:
            render_zonal(rasters, console)
    if md_path == STDOUT:
        sys.stdout.write(markdown)
    elif md_path is not None:
        _write(Path(md_path), markdown.encode("utf-8"), overwrite,
               Console(stderr=True) if as_json and output is None else console)
