"""``catchscope new-site`` and ``catchscope confirm-iwra``: a site from its report, anywhere.

``new-site REPORT (--at LON,LAT | --parcels FILE) -w WS [--level N]`` reads the report
(:func:`geo.reports.review.read_report_files`, merged with a stored record of the site
as ``import-report`` does), places the site, drafts its scope from the workspace's public
layers (:func:`geo.scope.sitedraft.draft_site`), shows everything it would save — the
record, the level, the network, the IWRA candidates, the water chain with each name
match's score and basis — asks (or ``--yes``), saves it all in one step
(:func:`geo.store.batch.save_together`) and prints the 1.1.1 checklist with what remains
to map.  Bad input (a missing or unreadable report, a position outside the units, an
unknown level…) is a usage error: one message, exit status 2, nothing written.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from geo.core.errors import GeoError, ScopeError
from geo.core.workspace import Workspace, open_workspace
from geo.store.batch import Addition, save_batch, save_together

__all__ = ["draft_from_inputs", "run_confirm_iwra", "run_new_site", "save_draft"]

_STATUS = {"present": "bold green", "partial": "bold yellow", "missing": "bold red",
           "not applicable": "bold"}
_SHOWN = 12


def _usage(console: Console, err: GeoError | str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def parse_point(text: str) -> tuple[float, float]:
    """``"LON,LAT"`` in WGS84 degrees (a ScopeError says how to write it)."""
    try:
        lon, lat = (float(part) for part in text.split(","))
    except ValueError:
        raise ScopeError(f"--at {text!r}: give LON,LAT in WGS84 degrees, longitude first, "
                         "e.g. --at -70.735,-33.345.") from None
    return lon, lat


def draft_from_inputs(ws: Workspace, report: Path, *, at: str | None, parcels: str | None,
                      level: str | None, accuracy: str = "surveyed",
                      confirm: Sequence[str] = ()) -> tuple[Any, Any, Any]:
    """(imported report, import plan, draft) from the command's inputs; nothing written.

    Raises
    ------
    GeoError
        For any bad input (the message says which and what to do).
    """
    from geo.reports.parse import plan_import
    from geo.reports.review import read_report_files
    from geo.scope.sitedraft import draft_site, placeholder_parcel

    if (at is None) == (parcels is None):
        raise ScopeError("Place the site with exactly one of --at LON,LAT (a placeholder "
                         "parcel, marked illustrative) or --parcels FILE (its boundaries).")
    imported = read_report_files([report])[0]
    plan = plan_import(ws.records, imported)
    if at is not None:
        lon, lat = parse_point(at)
        frame = gpd.GeoDataFrame(geometry=[placeholder_parcel(lon, lat)], crs="EPSG:4326")
        draft = draft_site(ws, plan.record, frame, placement="point",
                           source=f"typed point {lon:.6f}, {lat:.6f} (catchscope new-site --at)",
                           level=level, confirm_iwras=confirm)
    else:
        assert parcels is not None
        frame, name = _read_parcels(ws, parcels)
        draft = draft_site(ws, plan.record, frame, placement="file", source=name, level=level,
                           accuracy=accuracy, confirm_iwras=confirm)
    return imported, plan, draft


def _read_parcels(ws: Workspace, file: str) -> tuple[gpd.GeoDataFrame, str]:
    from geo.ingest.importer import workspace_reference
    from geo.ingest.read import ImportOptions, ingest_bytes, read_user_file

    options = ImportOptions()
    data, name = read_user_file(file, limits=options.limits)
    result = ingest_bytes(data, name, options,
                          reference=lambda frame: workspace_reference(ws, frame))
    if result.rejected:
        reasons = "; ".join(f"{r.feature}: {r.reason}" for r in result.rejected[:3])
        raise ScopeError(f"{name}: {len(result.rejected)} parcel(s) cannot be used ({reasons}); "
                         "fix the file so that every parcel is a valid polygon.")
    return result.frame, name


def save_draft(ws: Workspace, draft: Any, *, author: str | None = None) -> list[Any]:
    """Save a :class:`~geo.scope.sitedraft.SiteDraft`: layers, record, settings, all or none."""
    return save_batch(ws, draft, action="new-site", author=author,
                      summary=f"new site {draft.aws_ref} from {draft.record.audit_number}")


# --- showing the draft --------------------------------------------------------------------


def _section(console: Console, title: str) -> None:
    console.print()
    console.print(Text(title, style="bold underline"))


def render_draft(console: Console, draft: Any) -> None:
    """The draft in words and tables (every value plain text, never markup)."""
    record = draft.record
    _section(console, "Placement")
    for layer in draft.layers:
        if layer.kind.value == "site":
            for row in layer.frame.itertuples():
                console.print(Text(f"{row.fid}: {row.name} — accuracy {row.accuracy}; "
                                   f"{row.note}"))
    _section(console, "Catchment level")
    held = ", ".join(draft.levels)
    console.print(Text(f"{draft.level} ({draft.level_why})"
                       + ("" if held in draft.level_why else f"; the workspace holds {held}")
                       + "."))
    one = draft.scope.one_catchment
    console.print(Text(f"0.1.1.1 one catchment: {'yes' if one.ok else 'no'} — {one.message}"))
    _section(console, "Network relied on and affected (from the public layers)")
    network = draft.network
    units = network[network["kind"] == "catchment_unit"]
    bodies = network[network["kind"] != "catchment_unit"]
    table = Table(show_header=True, box=None, pad_edge=False)
    for column in ("unit", "role", "water stress (Aqueduct 4.0)"):
        table.add_column(column)
    for row in units.itertuples():
        stress = row.bws_label if isinstance(row.bws_label, str) else "—"
        table.add_row(Text(f"{row.name} ({row.fid})"), Text(row.role), Text(stress))
    console.print(table)
    by_layer = bodies.groupby("layer")["name"].agg(list) if not bodies.empty else {}
    for layer_id, names in (by_layer.items() if len(bodies) else []):
        unique = list(dict.fromkeys(names))
        console.print(Text(f"{layer_id}: {len(names)} in these units — "
                           + ", ".join(unique[:6]) + (" …" if len(unique) > 6 else "")))
    _section(console, "IWRA candidates (WDPA / Ramsar): candidates, not IWRAs, until confirmed")
    if draft.candidates.empty:
        console.print("None: import WDPA or Ramsar for the region to screen protected areas.")
    else:
        table = Table(box=None, pad_edge=False)
        for column in ("fid", "name", "category", "distance", "band", "relation",
                       "report names it", "confirmed"):
            table.add_column(column)
        for row in draft.candidates.itertuples():
            band = "beyond" if pd.isna(row.band_km) else f"≤ {row.band_km:g} km"
            named = (f"“{row.named_as}” ({row.name_score:.2f})" if row.named_as else "no")
            table.add_row(Text(row.fid), Text(str(row.name)), Text(str(row.category or "")),
                          f"{row.distance_m / 1000:,.1f} km", band, Text(row.relation),
                          Text(named), "yes" if row.confirmed else "no")
        console.print(table)
    _section(console, "Water chain drafted from the report (name matches: inferred)")
    for match in draft.matches:
        console.print(Text(f"• {match.line()}"))
        if match.match is not None:
            console.print(Text(f"    basis: {match.match.basis.summary()}", style="dim"))
    for line in draft.scope.chain.lines():
        console.print(Text(f"  {line}"))
    _section(console, f"What saving {record.aws_ref} writes")
    for line in draft.summary():
        console.print(Text(f"• {line}"))
    console.print(Text(f"• the site record data/sites/{record.aws_ref}.json"
                       + ("" if draft.settings_text is None
                          else f"; catchscope.toml: catchment_level = {draft.level!r}")))
    for note in draft.notes:
        console.print(Text(f"Note: {note}", style="yellow"))


def render_checklist(console: Console, scope: Any, *, title: str) -> None:
    """The 1.1.1 checklist: each element's status and what remains to map."""
    _section(console, f"{title} — {scope.score}")
    for check in scope.checklist:
        console.print(Text.assemble((f"{check.status:>15}", _STATUS[check.status]),
                                    "  ", (check.title, "bold")))
        for missing in check.missing:
            console.print(Text(f"{'':17}→ {missing}"))
        for caveat in check.caveats[:3]:
            console.print(Text(f"{'':17}⚠ {caveat}", style="dim"))
    for gap in scope.chain.gaps:
        console.print(Text(f"gap: {gap}", style="yellow"))


def draft_json(draft: Any, *, saved: bool) -> dict[str, Any]:
    """The draft as JSON-able data (``--json``)."""
    def plain(frame: pd.DataFrame) -> list[dict[str, Any]]:
        table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
        return json.loads(table.to_json(orient="records", force_ascii=False))

    return {
        "aws_ref": draft.aws_ref, "saved": saved, "level": draft.level,
        "level_why": draft.level_why, "levels": list(draft.levels),
        "placement": draft.placement,
        "layers": [{"layer": d.layer_id, "kind": d.kind.value, "exists": d.exists,
                    "features": plain(d.frame)} for d in draft.layers if not d.frame.empty],
        "matches": [{"role": m.role, "name": m.name, "used_by": list(m.used_by),
                     "match": None if m.match is None else {
                         "fid": m.match.fid, "feature_name": m.match.feature_name,
                         "layer": m.match.layer, "kind": m.match.kind,
                         "score": m.match.score, "basis": m.match.basis.to_dict()},
                     "alternatives": [{"fid": a.fid, "feature_name": a.feature_name,
                                       "score": a.score} for a in m.alternatives]}
                    for m in draft.matches],
        "candidates": plain(draft.candidates),
        "network": plain(draft.network),
        "notes": list(draft.notes),
        "scope": draft.scope.to_dict(),
    }


# --- the commands -------------------------------------------------------------------------


def run_new_site(console: Console, err_console: Console, report: Path, *,
                 workspace: Path | None, at: str | None, parcels: str | None,
                 level: str | None, accuracy: str, confirm: Sequence[str], dry_run: bool,
                 yes: bool, as_json: bool, interactive: bool | None = None,
                 ask: Callable[[str], bool] | None = None) -> None:
    """The ``new-site`` command (see the module docstring); exits 2 on bad input."""
    out = err_console if as_json else console
    try:
        ws = open_workspace(workspace)
        with out.status("Reading the report and drafting the site…"):
            imported, plan, draft = draft_from_inputs(ws, report, at=at, parcels=parcels,
                                                      level=level, accuracy=accuracy,
                                                      confirm=confirm)
    except GeoError as err:
        raise _usage(err_console, err) from None
    from geo.core.records import record_path
    from geo.reports.review import render_review

    render_review(out, imported, plan, record_path(ws.data_dir, plan.record.aws_ref))
    render_draft(out, draft)
    if dry_run:
        render_checklist(out, draft.scope, title="1.1.1 checklist once saved (preview)")
        out.print("[bold]Dry run:[/] nothing was saved.")
        if as_json:
            sys.stdout.write(json.dumps(draft_json(draft, saved=False), ensure_ascii=False,
                                        indent=2) + "\n")
        return
    if not yes:
        if not (sys.stdin.isatty() if interactive is None else interactive):
            out.print("[bold red]Not saved:[/] a new site needs a confirmation of its draft and "
                      "there is no terminal to ask. Review with --dry-run, then rerun with "
                      "--yes.", highlight=False)
            raise typer.Exit(1)
        question = f"Save {draft.aws_ref} with this draft?"
        answer = ask or (lambda q: out.input(escape(f"{q} [y/N] ")).strip().lower()
                         in ("y", "yes"))
        if not answer(question):
            out.print("Nothing saved.")
            raise typer.Exit(1)
    with out.status("Saving…"):
        results = save_draft(ws, draft)
    for result in results:
        out.print(Text(result.message), highlight=False)
    out.print(Text(f"Saved the record of {draft.aws_ref} and its draft in one step."))
    from geo.scope.assess import assess_site

    scope = assess_site(open_workspace(ws.root), draft.aws_ref)
    render_checklist(out, scope, title=f"1.1.1 checklist of {draft.aws_ref}")
    out.print(Text(f"Next: replace what is illustrative (catchscope scope {draft.aws_ref} -w "
                   f"{ws.root} --md - says what rests on what); confirm IWRA candidates with "
                   f"catchscope confirm-iwra FID --site {draft.aws_ref}."))
    if as_json:
        sys.stdout.write(json.dumps(draft_json(draft, saved=True) | {"scope": scope.to_dict()},
                                    ensure_ascii=False, indent=2) + "\n")


def run_confirm_iwra(console: Console, err_console: Console, fids: Sequence[str], *,
                     site: str, workspace: Path | None) -> None:
    """The ``confirm-iwra`` command: candidates become IWRAs, because a person says so."""
    from geo.scope.sitedraft import confirm_iwras

    try:
        ws = open_workspace(workspace)
        if site not in ws.records:
            raise ScopeError(f"No site record {site!r} in this workspace (sites: "
                             f"{', '.join(ws.records) or 'none'}); the IWRA is confirmed "
                             "for a site.")
        layer = confirm_iwras(ws, site, fids)
    except GeoError as err:
        raise _usage(err_console, err) from None
    if layer.frame.empty:
        console.print(Text(f"Nothing to do: {', '.join(fids)} confirmed already."))
        return
    results = save_together(ws, [Addition(layer.layer_id, layer.kind, layer.title,
                                           layer.frame, layer.evidences or None,
                                           None if layer.exists else layer.style)],
                            action="confirm-iwra", summary=f"confirmed for {site}: "
                            + ", ".join(layer.frame["candidate_of"]))
    for row in layer.frame.itertuples():
        named = " (named by the site's report)" if row.reported_by else ""
        console.print(Text(f"{row.candidate_of} → IWRA {row.fid}: {row.name}, "
                           f"{row.category}{named}"))
    console.print(Text(results[0].message))
