"""``catchscope import FILE`` for public datasets: recognise, propose, confirm, save.

A file whose fields are those of a published dataset (HydroBASINS, HydroRIVERS,
HydroLAKES, WDPA, Ramsar, Aqueduct 4.0, an OpenStreetMap extract) is not imported as
"any file": it is clipped to the area of interest (``--aoi``), the layers it becomes are
proposed with their links and the dataset's own licence, attribution and citation, and
saved once a person says yes (or ``--yes``), as ``import-report`` asks.  Any other file
goes on through the plain import.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from geo.core.errors import DataReadError
from geo.core.workspace import open_workspace
from geo.ingest.dataset_import import apply_plan, plan_dataset
from geo.ingest.dataset_read import parse_aoi
from geo.ingest.importer import ImportReport

__all__ = ["import_public_dataset"]


def import_public_dataset(
    console: Console,
    file: str,
    *,
    workspace: Path | None,
    layer: str | None,
    kind: str | None,
    aoi: str | None,
    src_layer: str | None,
    yes: bool,
    dry_run: bool,
    interactive: bool | None = None,
    confirm: Callable[[str], bool] | None = None,
) -> bool:
    """Import ``file`` as a public dataset if it is one; False when it is not.

    Raises
    ------
    typer.Exit
        With status 1 when the save needs a confirmation no one can give (no terminal,
        no ``--yes``) or the person said no.
    GeoError
        For refused or broken input (the message names the ids or fields at fault).
    """
    ws = open_workspace(workspace)
    area = parse_aoi(aoi) if aoi else None
    with console.status("Recognising the file…"):
        plan = plan_dataset(ws, file, aoi=area, layer=layer, kind=kind, src_layer=src_layer)
    if plan is None:
        if area is not None:
            raise DataReadError(
                f"--aoi clips public datasets (HydroBASINS, HydroRIVERS, HydroLAKES, WDPA, "
                f"Ramsar, Aqueduct, OpenStreetMap); {Path(file).name} is none of them by its "
                "fields. Import it without --aoi.")
        return False
    for line in plan.lines():
        style = "bold" if line.startswith(("Recognised", "→")) else ""
        console.print(Text(line, style=style), highlight=False)
    if dry_run:
        console.print("[bold]Dry run:[/] nothing was saved.")
        return True
    if not yes:
        if not (sys.stdin.isatty() if interactive is None else interactive):
            console.print("[bold red]Not saved:[/] importing a public dataset needs a "
                          "confirmation of its layers and terms, and there is no terminal to "
                          "ask. Review with --dry-run, then rerun with --yes.", highlight=False)
            raise typer.Exit(1)
        ask = confirm or (lambda q: console.input(escape(f"{q} [y/N] ")).strip().lower()
                          in ("y", "yes"))
        if not ask("Import it with these layers, links and terms?"):
            console.print("Nothing saved.")
            raise typer.Exit(1)
    with console.status("Saving…"):
        done = apply_plan(ws, plan)
    for result in done:
        if isinstance(result, ImportReport):
            for line in result.lines():
                if line.startswith(("Rejected", "Repaired")):
                    continue  # said in the proposal
                console.print(Text(line), highlight=False)
        else:
            console.print(Text(result.message), highlight=False)
    return True
