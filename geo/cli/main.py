"""The ``catchscope`` command line.

Every subcommand calls the same library functions the app calls.  Shared options
(``--workspace``) are defined once.  A :class:`~geo.core.errors.GeoError` is printed as
its message and exits with status 1; a traceback reaching a user is a bug.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from geo.core.errors import GeoError

__all__ = ["app", "main"]

#: The exit statuses every subcommand keeps to (shown under each command's --help).
EXIT_CODES = "Exit status: 0 ok, 1 problems found (or an error), 2 usage error."

app = typer.Typer(
    name="catchscope",
    help="Map a water-stewardship site inside its catchment (AWS Standard v2.0).\n\n"
         "Conventions of every command: --json prints JSON on stdout (nothing else there); "
         "-o/--output FILE and --md FILE write files; messages and progress go to stderr. "
         + EXIT_CODES,
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print JSON on stdout (nothing else) instead of a table.")]

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (layers/ + data/). Default: the bundled Jinxi demo workspace.",
        show_default=False,
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def print_json(value: Any) -> None:
    """Write ``value`` as indented UTF-8 JSON on stdout, and nothing else."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def friendly_errors(func: F) -> F:
    """Turn a GeoError into its message on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GeoError as err:
            # Escape: messages quote user data (file, column names) that may look like markup.
            err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False,
                              markup=True, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


class CheckFormat(StrEnum):
    """How ``catchscope check`` prints its findings."""

    auto = "auto"
    table = "table"
    lines = "lines"
    json = "json"


@app.command(epilog=EXIT_CODES)
@friendly_errors
def check(
    workspace: WorkspaceOption = None,
    output_format: Annotated[CheckFormat, typer.Option(
        "--format", "-f",
        help="table: a readable table; lines: one 'path:feature:field: level: message' line "
             "per problem (summary on stderr); json: the whole report. auto: table on a "
             "terminal, lines otherwise.")] = CheckFormat.auto,
) -> None:
    """Validate the whole workspace: layer files, data files, CRS, geometries, links, datums.

    Exits 1 when any error is found (warnings alone exit 0).
    """
    from geo.core.check import check_workspace, render_report, report_lines, summary, verdict

    report = check_workspace(workspace)
    chosen = output_format
    if chosen is CheckFormat.auto:
        chosen = CheckFormat.table if console.is_terminal else CheckFormat.lines
    if chosen is CheckFormat.json:
        print_json(report.as_dict())
    elif chosen is CheckFormat.lines:
        for line in report_lines(report):
            sys.stdout.write(line + "\n")
        err_console.print(Text(f"{summary(report)} {verdict(report)}"))
    else:
        render_report(report, console)
    raise typer.Exit(0 if report.ok else 1)


@app.command(epilog=EXIT_CODES)
@friendly_errors
def init(
    path: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")],
) -> None:
    """Create an empty workspace with a commented example layer file."""
    from geo.core.check import init_workspace

    created = init_workspace(path)
    console.print(f"Created workspace [bold]{created}[/]:")
    for item in sorted(created.rglob("*")):
        console.print(f"  {item.relative_to(created)}")
    console.print("Next: put data files in data/, describe each in layers/<id>.toml, then "
                  f"run `catchscope check -w {path}`.")


@app.command(epilog=EXIT_CODES)
@friendly_errors
def layers(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List the layers of the catalogue."""
    from geo.core.workspace import open_workspace

    ws = open_workspace(workspace)
    if as_json:
        print_json([spec.model_dump(mode="json") for spec in ws.specs.values()])
        return
    table = Table(title=f"Layers of {ws.settings.name}")
    for column in ("id", "kind", "title", "source", "evidences"):
        table.add_column(column)
    for spec in ws.specs.values():
        table.add_row(*(Text(value) for value in (
            spec.id, spec.kind.value, spec.title, spec.source,
            ", ".join(e.value for e in spec.evidences))))
    console.print(table)


@app.command("to-geoparquet", epilog=EXIT_CODES)
@friendly_errors
def to_geoparquet(
    layer: Annotated[str, typer.Argument(help="Layer id, e.g. catchment_units.")],
    partitions: Annotated[int | None, typer.Option(
        "--partitions", help="Write a folder of N parts (one dask partition each) instead "
        "of one file.", show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing "
                                            "GeoParquet file.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Store a big layer as GeoParquet (Hilbert-sorted, bbox columns) for the portfolio.

    The layer file then points at data/<name>.parquet; the old data file is kept.
    """
    from geo.cli.parquet_cmd import convert_to_geoparquet

    convert_to_geoparquet(console, layer_id=layer, workspace=workspace, partitions=partitions,
                          overwrite=overwrite)


@app.command(epilog=EXIT_CODES)
@friendly_errors
def sites(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List the site records of the workspace, with the validity of each certificate today."""
    from geo.core.records import certificate_validity
    from geo.core.workspace import open_workspace

    ws = open_workspace(workspace)
    if as_json:
        print_json([record.model_dump(mode="json") | {
            "validity": certificate_validity(record).state} for record in ws.records.values()])
        return
    table = Table(title=Text(f"Sites of {ws.settings.name}"))
    for column in ("AWS ref", "site", "status", "valid until", "validity today", "score"):
        table.add_column(column)
    for record in ws.records.values():
        score = "" if record.score is None else f"{record.score:.2f}"
        validity = certificate_validity(record)
        style = {"expired": "bold red", "expiring": "yellow"}.get(validity.state, "")
        table.add_row(Text(record.aws_ref), Text(record.site_name),
                      Text(record.certification_status), Text(str(record.valid_until or "")),
                      Text(validity.short, style=style), score)
    console.print(table)


@app.command("import-report", epilog=EXIT_CODES)
@friendly_errors
def import_report(
    reports: Annotated[list[Path], typer.Argument(help="AWS certification report(s): PDF or text.",
                                                  show_default=False, metavar="REPORT...")],
    workspace: WorkspaceOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Review only; write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the extracted records as a JSON "
                                          "array on stdout (review on stderr).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Save without asking.")] = False,
) -> None:
    """Import AWS certification reports into site records, after a review.

    Fields edited by hand (the record's edited_fields) are never overwritten.
    """
    from geo.reports.review import import_reports

    raise typer.Exit(import_reports(reports, workspace=workspace, dry_run=dry_run,
                                    as_json=as_json, yes=yes,
                                    console=err_console if as_json else console))


# --- any site, anywhere (issue 17): new-site, confirm-iwra --------------------------------


@app.command("new-site", epilog=EXIT_CODES)
@friendly_errors
def new_site(
    report: Annotated[Path, typer.Argument(help="The site's AWS certification report: PDF or "
                                           "text.", show_default=False)],
    at: Annotated[str | None, typer.Option(
        "--at", help="Where the site is, LON,LAT (WGS84): a 100 m placeholder parcel, marked "
        "illustrative, until its boundary is drawn.", show_default=False)] = None,
    parcels: Annotated[str | None, typer.Option(
        "--parcels", help="The site's parcels (polygons): GeoJSON, zipped Shapefile, "
        "GeoPackage, KML/KMZ…", show_default=False)] = None,
    level: Annotated[str | None, typer.Option(
        "--level", help="Catchment unit level for 0.1.1.1: N (HydroBASINS Pfafstetter level "
        "N) or a level name. Default: the workspace's, else the coarsest.",
        show_default=False)] = None,
    accuracy: Annotated[str, typer.Option(
        "--accuracy", help="With --parcels: surveyed, official, derived or illustrative.")
    ] = "surveyed",
    confirm_iwra: Annotated[list[str] | None, typer.Option(
        "--confirm-iwra", help="Confirm this IWRA candidate (fid, repeatable) as an IWRA.",
        show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the draft and the checklist "
                                          "it would give; write nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Save without asking.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the draft (and the saved "
                                          "scope) as JSON on stdout; the review on stderr.")
                       ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """A new site from its AWS report and the workspace's public layers, anywhere.

    Imports the report's record, places the site, picks the catchment level, pulls the
    units, rivers and lakes it relies on and affects, lists IWRA candidates (WDPA, Ramsar)
    by distance and relation, drafts the water chain from the report's names (each match
    scored, its basis inferred) and prints the 1.1.1 checklist with what remains to map.
    Bad input exits 2 and writes nothing; the save is one all-or-nothing step.
    """
    from geo.cli.newsite_cmd import run_new_site

    run_new_site(console, err_console, report, workspace=workspace, at=at, parcels=parcels,
                 level=level, accuracy=accuracy, confirm=confirm_iwra or (), dry_run=dry_run,
                 yes=yes, as_json=as_json)


@app.command("confirm-iwra", epilog=EXIT_CODES)
@friendly_errors
def confirm_iwra_command(
    fids: Annotated[list[str], typer.Argument(help="IWRA candidate fid(s), e.g. wdpa_901001 "
                                              "(`catchscope scope` / `new-site` list them).",
                                              show_default=False, metavar="FID...")],
    site: Annotated[str, typer.Option("--site", help="The site (AWS-…) the IWRA is confirmed "
                                      "for.", show_default=False)],
    workspace: WorkspaceOption = None,
) -> None:
    """Confirm WDPA / Ramsar candidates as IWRAs (a person's decision, recorded in the layer)."""
    from geo.cli.newsite_cmd import run_confirm_iwra

    run_confirm_iwra(console, err_console, fids, site=site, workspace=workspace)


@app.command(epilog=EXIT_CODES)
@friendly_errors
def delineate(
    dem: Annotated[Path, typer.Option("--dem", help="DEM GeoTIFF (metres, any CRS).",
                                      show_default=False)],
    outlet: Annotated[str, typer.Option("--outlet", help="Outlet as LON,LAT (WGS84 degrees).",
                                        show_default=False)],
    snap_distance: Annotated[float, typer.Option(
        "--snap-distance", help="Snap the outlet to the highest-flow cell within this many metres."
    )] = 500.0,
    out: Annotated[Path | None, typer.Option(
        "-o", "--output", "--out", help="Also write the catchment to FILE (.geojson, .gpkg, …).",
        show_default=False)] = None,
    add_layer: Annotated[str | None, typer.Option(
        "--add-layer", help="Add the catchment to the workspace catalogue under this layer id."
    )] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Delineate the catchment upstream of an outlet from a DEM (fill, D8, snap, trace)."""
    import warnings

    from geo.core.errors import DelineationError, DelineationWarning
    from geo.core.io import write_layer
    from geo.raster.delineate import add_catchment_layer, delineate_catchment

    try:
        lon, lat = (float(part) for part in outlet.split(","))
    except ValueError:
        raise DelineationError(f"--outlet {outlet!r}: give LON,LAT, e.g. 120.95,31.18.") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise DelineationError(f"--outlet {outlet!r} is not a WGS84 LON,LAT position.")
    with warnings.catch_warnings(record=True) as caught, \
            console.status("Conditioning the DEM (fill, flats, flow directions)…"):
        warnings.simplefilter("always", DelineationWarning)
        catchment = delineate_catchment(dem, lon, lat, snap_distance_m=snap_distance)
    row = catchment.iloc[0]
    table = Table(title=f"Catchment from {dem.name}", show_header=False)
    for label, value in (
        ("area", f"{row['area_km2']:,.3f} km²"),
        ("DEM cells", f"{row['cells']:,} of {row['dem_resolution_m']:,.1f} m"),
        ("relief", f"{row['relief_m']:,.1f} m"),
        ("requested outlet", f"{row['requested_lon']:.6f}, {row['requested_lat']:.6f}"),
        ("snapped outlet", f"{row['outlet_lon']:.6f}, {row['outlet_lat']:.6f}"),
        ("snap distance", f"{row['snap_distance_m']:,.1f} m"),
    ):
        table.add_row(label, value)
    console.print(table)
    for warning in caught:
        console.print(f"[yellow]warning:[/] {warning.message}", highlight=False)
    if out is not None:
        write_layer(catchment, out, overwrite=overwrite)
        console.print(f"Wrote {out}")
    if add_layer is not None:
        from geo.core.workspace import open_workspace

        ws = open_workspace(workspace)
        data_file, layer_file = add_catchment_layer(ws.root, add_layer, catchment,
                                                    overwrite=overwrite)
        console.print(f"Added layer [bold]{add_layer}[/]: {layer_file.relative_to(ws.root)} "
                      f"→ {data_file.relative_to(ws.root)}")


@app.command(epilog=EXIT_CODES)
@friendly_errors
def zonal(
    layer_id: Annotated[str, typer.Argument(help="Zones: a vector layer id (sites, IWRAs, …).")],
    raster: Annotated[str, typer.Option("--raster", help="A raster layer id.",
                                        show_default=False)],
    categorical: Annotated[bool | None, typer.Option(
        "--categorical/--continuous", help="Class shares or statistics (default: guessed)."
    )] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Zonal statistics of a raster layer over each feature of a vector layer."""
    from geo.core.workspace import open_workspace
    from geo.raster.zones import zonal_stats_for_layers

    ws = open_workspace(workspace)
    stats = zonal_stats_for_layers(ws, layer_id, raster, categorical=categorical)
    if as_json:
        sys.stdout.write(stats.to_json(orient="records", force_ascii=False, indent=2) + "\n")
        return
    table = Table(title=f"{raster} over {layer_id}")
    for column in stats.columns:
        table.add_column(str(column), justify="left" if stats[column].dtype == object else "right")
    for values in stats.itertuples(index=False):
        table.add_row(*(f"{v:,.4g}" if isinstance(v, float) else str(v) for v in values))
    console.print(table)


# --- bring your own data (issue 7): import, history, undo -------------------------------


@app.command("import", epilog=EXIT_CODES)
@friendly_errors
def import_file(
    file: Annotated[str, typer.Argument(
        help="GeoJSON, zipped Shapefile, GeoPackage, KML/KMZ, CSV/XLSX (lon/lat) or GPX; "
        "or a public dataset (HydroBASINS, HydroRIVERS, HydroLAKES, WDPA, Ramsar, Aqueduct "
        "4.0, OpenStreetMap), recognised by its fields.")],
    layer: Annotated[str | None, typer.Option(
        "--layer", help="Target layer id (proposed for a public dataset).")] = None,
    kind: Annotated[str | None, typer.Option(
        "--kind", help="Create the layer with this kind if it does not exist.")] = None,
    site: Annotated[str | None, typer.Option(
        "--site", help="Link every feature to this site (AWS-…).")] = None,
    datum: Annotated[str | None, typer.Option(
        "--datum", help="Datum the coordinates were taken in: wgs84, cgcs2000, gcj02 "
        "(Amap/Tencent) or bd09 (Baidu); gcj02/bd09 are converted to WGS84.")] = None,
    crs: Annotated[str | None, typer.Option(
        "--crs", help="CRS of files that declare none, e.g. EPSG:4326.")] = None,
    swap_axes: Annotated[bool, typer.Option(
        "--swap-axes", help="Coordinates are latitude/longitude: swap them.")] = False,
    src_layer: Annotated[str | None, typer.Option(
        "--src-layer", help="Layer/sheet/shapefile inside the file.")] = None,
    lon_col: Annotated[str | None, typer.Option("--lon-col", help="CSV/XLSX longitude column.")
                       ] = None,
    lat_col: Annotated[str | None, typer.Option("--lat-col", help="CSV/XLSX latitude column.")
                       ] = None,
    field_map: Annotated[str | None, typer.Option(
        "--field-map", help="Rename source fields: src=dst,src2=dst2.")] = None,
    mode: Annotated[str, typer.Option("--mode", help="append or replace.")] = "append",
    accuracy: Annotated[str | None, typer.Option(
        "--accuracy", help="surveyed (default), official, derived or illustrative.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and report only.")] = False,
    aoi: Annotated[str | None, typer.Option(
        "--aoi", help="Public datasets: read only the area of interest, LON,LAT,RADIUS_KM or "
        "WEST,SOUTH,EAST,NORTH (networks keep what lies downstream of it).")] = None,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Public datasets: import the proposed layers without asking.")
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Import your own features into a layer (safely; nothing saved on bad input).

    A public dataset is recognised by its fields: its layers, links and licence are
    proposed for you to confirm (--yes), clipped to --aoi.
    """
    from geo.cli.dataset_cmd import import_public_dataset
    from geo.core.catalogue import Datum
    from geo.core.errors import CRSError, DataReadError
    from geo.core.workspace import open_workspace
    from geo.ingest.importer import import_into, parse_field_map, workspace_reference
    from geo.ingest.read import ImportOptions, ingest_bytes, read_user_file

    if import_public_dataset(console, file, workspace=workspace, layer=layer, kind=kind,
                             aoi=aoi, src_layer=src_layer, yes=yes, dry_run=dry_run):
        return
    if layer is None:
        raise DataReadError(f"{file}: give the target layer with --layer ID (public datasets "
                            "are recognised by their fields and need none; this file is not "
                            "one).")
    try:
        datum_value = Datum(datum.lower()) if datum else None
    except ValueError:
        raise CRSError(f"--datum {datum!r} is not one of wgs84, cgcs2000, gcj02, bd09.") from None
    ws = open_workspace(workspace)
    options = ImportOptions(crs=crs, datum=datum_value, swap_axes=swap_axes,
                            src_layer=src_layer, lon_col=lon_col, lat_col=lat_col)
    mapping = parse_field_map(field_map)
    data, name = read_user_file(file, limits=options.limits)
    result = ingest_bytes(data, name, options,
                          reference=lambda frame: workspace_reference(ws, frame))
    report = import_into(ws, layer, result, kind=kind, site=site, field_map=mapping,
                         mode=mode, accuracy=accuracy, dry_run=dry_run)
    console.print(f"Read {name} as {result.format.value}, CRS {result.source_crs}, "
                  f"datum {result.datum.value}.", markup=False, highlight=False)
    for line in report.lines():
        console.print(line, markup=False, highlight=False)
    if report.legal_note:
        console.print(report.legal_note, markup=False, highlight=False, style="yellow")


@app.command(epilog=EXIT_CODES)
@friendly_errors
def history(
    layer: Annotated[str, typer.Argument(help="Layer id.")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show every save of a layer in the edit store (undo with `catchscope undo LAYER`)."""
    import dataclasses

    from geo.core.workspace import open_workspace
    from geo.store.edits import history as layer_history

    ws = open_workspace(workspace)
    entries = layer_history(ws, layer)
    if as_json:
        print_json([dataclasses.asdict(entry) for entry in entries])
        return
    if not entries:
        console.print(f"Layer {layer!r} has no history: it is read from "
                      f"{ws.spec(layer).source} and has never been saved in the edit store.",
                      markup=False)
        return
    table = Table(title=f"History of {layer}")
    for column in ("version", "saved (UTC)", "by", "action", "features", "what"):
        table.add_column(column)
    for entry in entries:
        table.add_row(str(entry.version), entry.saved_at, escape(entry.author), entry.action,
                      str(entry.n_features), escape(entry.summary))
    console.print(table)


@app.command(epilog=EXIT_CODES)
@friendly_errors
def undo(
    layer: Annotated[str, typer.Argument(help="Layer id.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Undo the latest save of a layer (the undo is itself recorded in the history)."""
    from geo.core.workspace import open_workspace
    from geo.store.edits import undo as undo_save

    ws = open_workspace(workspace)
    result = undo_save(ws, layer)
    console.print(result.message, markup=False, highlight=False)

@app.command(epilog=EXIT_CODES)
@friendly_errors
def scope(
    aws_ref: Annotated[str | None, typer.Argument(
        help="AWS reference of the site, e.g. AWS-000521.", show_default=False)] = None,
    all_sites: Annotated[bool, typer.Option(
        "--all", help="Every site of the workspace, one summary row each.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the assessment as JSON to stdout (nothing else).")] = False,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="With --json: write the JSON to FILE instead of stdout.",
        show_default=False)] = None,
    md_path: Annotated[str | None, typer.Option(
        "--md", help="Write a Markdown report to FILE ('-': to stdout).",
        show_default=False)] = None,
    csv_path: Annotated[Path | None, typer.Option(
        "--csv", help="With --all: write the portfolio table as CSV.", show_default=False)] = None,
    bands: Annotated[str | None, typer.Option(
        "--bands", help="IWRA proximity bands in km, e.g. 1,10,50 (default: the workspace's).",
        show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files.")] = False,
    engine: Annotated[str, typer.Option(
        "--engine", help="With --all: columnar (one process, GeoParquet layers read in part), "
        "dask (the joins on a dask.distributed cluster) or reference (every layer whole); "
        "all give the same rows.")] = "columnar",
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="With --engine dask: the scheduler's address, e.g. "
        "tcp://10.0.0.5:8786 (default: a local cluster for this run).",
        show_default=False)] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Physical scope of a site (AWS 1.1.1 checklist, one catchment, IWRAs, water chain).

    Exit 1 on bad input, or with --all if a site could not be assessed (its row says why).
    """
    from geo.cli.scope_cmd import run_scope_command

    run_scope_command(console, aws_ref=aws_ref, all_sites=all_sites, workspace=workspace,
                      as_json=as_json, output=output, md_path=md_path, csv_path=csv_path,
                      bands=bands, overwrite=overwrite, engine=engine, scheduler=scheduler)


@app.command(epilog=EXIT_CODES)
@friendly_errors
def export(
    aws_ref: Annotated[str, typer.Argument(help="AWS reference of the site, e.g. AWS-000522.")],
    fmt: Annotated[str, typer.Option(
        "--format", "-f",
        help="geojson, gpkg, kml, kmz, csv, html, pdf, png or bundle (a ZIP of everything).")
    ] = "bundle",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File, or folder for every file of the format (GeoJSON then "
        "adds one file per layer). Default: the current folder.", show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files.")] = False,
    redact: Annotated[str | None, typer.Option(
        "--redact", help="'sensitive': coarsen intakes and outfalls to 1 km; 'drop-sensitive': "
        "leave them out (for public exports).", show_default=False)] = None,
    paper: Annotated[str, typer.Option("--paper", help="Map sheet paper: a4 or a3 (landscape).")
                     ] = "a4",
    workspace: WorkspaceOption = None,
) -> None:
    """Export a site's physical scope for stakeholders (GeoJSON, GeoPackage, KML, map sheet...)."""
    from geo.core.workspace import open_workspace
    from geo.export.site import export_site

    ws = open_workspace(workspace)
    with console.status(f"Exporting {escape(aws_ref)} as {escape(fmt)}…"):
        written = export_site(ws, aws_ref, fmt, output, overwrite=overwrite, redact=redact,
                              paper=paper)
    for path in written:
        console.print(f"wrote {escape(str(path))} ({path.stat().st_size:,} bytes)",
                      highlight=False)


# --- serving to other people (issue 14): serve, hash-password -----------------------------


@app.command(epilog=EXIT_CODES)
@friendly_errors
def serve(
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="Server config (TOML): [server], [[workspaces]], [accounts.*]. "
        "Without it: this machine only, no sign-in, the bundled demo.",
        show_default=False)] = None,
    host: Annotated[str | None, typer.Option(
        "--host", help="Address to bind (overrides [server] host). Beyond 127.0.0.1 the "
        "config must have accounts.", show_default=False)] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (overrides [server] port).",
                                             show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Check the config and print the server command; start nothing.")
    ] = False,
) -> None:
    """Serve the app to others: sign-in and roles, the workspaces the config lists.

    Runs Streamlit with the settings a server needs (XSRF protection, an upload limit
    equal to the import limit, no file watcher, no usage statistics). Put it behind a
    reverse proxy with TLS (README: Serving to a network).
    """
    from geo.serve.launch import server_command

    command, env = server_command(config, host=host, port=port)
    console.print(Text(" ".join(command)), highlight=False)
    if dry_run:
        return
    import subprocess

    try:
        raise typer.Exit(subprocess.call(command, env=env))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@app.command("hash-password", epilog=EXIT_CODES)
@friendly_errors
def hash_password_command(
    stdin: Annotated[bool, typer.Option(
        "--stdin", help="Read the password from the first line of stdin (for scripts).")
    ] = False,
) -> None:
    """Print the bcrypt hash of a password, for an account's password_hash in a server config."""
    from geo.core.errors import ServerConfigError
    from geo.serve.accounts import hash_password

    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True,
                                err=True)
    try:
        sys.stdout.write(hash_password(password) + "\n")
    except ValueError as err:
        raise ServerConfigError(f"Password refused: {err}.") from None


# --- publishing for stakeholders (issue 16): serve-features, publish ------------------------


@app.command("serve-features", epilog=EXIT_CODES)
@friendly_errors
def serve_features_command(
    workspace: WorkspaceOption = None,
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="Port (0: a free one).")] = 5000,
    host: Annotated[str, typer.Option(
        "--host", help="Address to bind. Beyond 127.0.0.1 only with --public.")] = "127.0.0.1",
    public: Annotated[bool, typer.Option(
        "--public", help="Serve redacted copies only: water intakes and outfalls coarsened to "
        "1 km (pipes clipped around them), as a public export.")] = False,
    drop_sensitive: Annotated[bool, typer.Option(
        "--drop-sensitive", help="Public, with intakes and outfalls left out (implies "
        "--public).")] = False,
    url: Annotated[str | None, typer.Option(
        "--url", help="Base URL clients use, when behind a proxy (default http://HOST:PORT).",
        show_default=False)] = None,
) -> None:
    """Publish the workspace as OGC API - Features (pygeoapi) for QGIS, ArcGIS, GDAL, web maps.

    One collection per layer, and per site its physical scope, record and 1.1.1 checklist.
    Edits saved in the app show on the next request. Ctrl-C stops it.
    """
    from geo.core.errors import ServerConfigError
    from geo.core.workspace import open_workspace
    from geo.publish.service import check_host, serve_features
    from geo.store.edits import layer_version

    redaction = "drop-sensitive" if drop_sensitive else ("sensitive" if public else None)
    try:  # a usage error (exit 2): the options contradict each other
        check_host(host, public=redaction is not None)
    except ServerConfigError as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False,
                          soft_wrap=True)
        raise typer.Exit(2) from None
    root = open_workspace(workspace).root

    def ready(base: str) -> None:
        what = f"public copies ({redaction})" if redaction else "unredacted, this machine only"
        err_console.print(Text(f"Serving OGC API - Features of {root} on {base}/ ({what}); "
                               "Ctrl-C to stop."), highlight=False, soft_wrap=True)

    serve_features(root, host=host, port=port, redaction=redaction, url=url,
                   layer_version=layer_version, announce=ready)


@app.command(epilog=EXIT_CODES)
@friendly_errors
def publish(
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Folder to write (created; must be empty unless --overwrite).")],
    workspace: WorkspaceOption = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace the folder's contents.")] = False,
    drop_sensitive: Annotated[bool, typer.Option(
        "--drop-sensitive", help="Leave intakes and outfalls out instead of coarsening them.")
    ] = False,
    paper: Annotated[str, typer.Option("--paper", help="Map sheet paper: a4 or a3.")] = "a4",
) -> None:
    """Write a static site anyone can host or open from disk: public (redacted) copies only.

    index.html lists the sites (portfolio table); per site: the offline HTML map, the map
    sheet (PDF, PNG), GeoJSON and GeoPackage downloads and the 1.1.1 checklist.
    """
    from geo.core.workspace import open_workspace
    from geo.publish.static import publish_static

    ws = open_workspace(workspace)
    with console.status("Publishing…") as status:
        written = publish_static(
            ws, output, overwrite=overwrite, paper=paper,
            redaction="drop-sensitive" if drop_sensitive else "sensitive",
            progress=lambda text: status.update(escape(text)))
    err_console.print(Text(f"wrote {len(written)} files into {output}; open "
                           f"{output / 'index.html'}"), highlight=False)

# --- end of publishing (issue 16) -------------------------------------------------------------


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except GeoError as err:  # a command that forgot @friendly_errors
        err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
