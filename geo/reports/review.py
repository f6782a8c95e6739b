"""Review and save imported certification reports (the ``import-report`` command).

The command's flow lives here so ``geo/cli/main.py`` stays a thin list of commands:
read every report first (a bad one stops everything before anything is written),
show a review of each (facts, warnings, differences with the stored record), ask,
then save atomically.  The app shows the same review with its own widgets from the
same objects (:class:`~geo.reports.parse.ImportedReport`, :class:`~geo.reports.parse.ImportPlan`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from geo.core.errors import ReportError
from geo.core.records import SiteRecord, record_path
from geo.core.workspace import open_workspace
from geo.reports.parse import (
    FieldChange,
    ImportedReport,
    ImportPlan,
    plan_import,
    read_report,
    review_facts,
    save_plan,
)

__all__ = ["import_reports", "read_report_files", "render_review"]

_MAX_CHANGE_ROWS = 40


def read_report_files(paths: list[Path]) -> list[ImportedReport]:
    """Read and parse report files named on the command line, all or none.

    Raises
    ------
    ReportError
        For the first file that is missing, unreadable or not a usable report.
    """
    imported = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise ReportError(f"{path}: no such file.") from None
        except IsADirectoryError:
            raise ReportError(f"{path}: is a folder; give the report file itself.") from None
        except OSError as err:
            raise ReportError(f"{path}: cannot be read ({err.strerror}).") from err
        imported.append(read_report(data, name=Path(path).name))
    return imported


def import_reports(
    paths: list[Path],
    *,
    workspace: Path | None = None,
    dry_run: bool = False,
    as_json: bool = False,
    yes: bool = False,
    console: Console | None = None,
    confirm: Callable[[str], bool] | None = None,
    interactive: bool | None = None,
) -> int:
    """Import reports into a workspace after review; return the exit status.

    Parameters
    ----------
    paths : list of Path
        Report files (PDF or text).
    workspace : Path, optional
        Workspace folder; default the bundled demo workspace.
    dry_run : bool
        Parse and review only; write nothing.
    as_json : bool
        Print the extracted records as a JSON array on stdout (the review then goes
        to stderr so stdout stays machine-readable).
    yes : bool
        Accept every save without asking.
    console : Console, optional
        Where the review goes.
    confirm : callable, optional
        Asks a yes/no question; default a prompt on the terminal.
    interactive : bool, optional
        Whether a person can answer; default: stdin is a terminal.

    Returns
    -------
    int
        0 when everything asked for was done, 1 when saving was refused.
    """
    review = console or Console(stderr=as_json)
    imported = read_report_files(paths)
    ws = open_workspace(workspace)
    records: dict[str, SiteRecord] = dict(ws.records)
    plans: list[ImportPlan] = []
    for report in imported:
        plan = plan_import(records, report)
        records[plan.record.aws_ref] = plan.record  # a 2nd report of a site merges into the 1st
        plans.append(plan)
        render_review(review, report, plan, record_path(ws.data_dir, plan.record.aws_ref))
    if as_json:
        sys.stdout.write(json.dumps([r.record.model_dump(mode="json") for r in imported],
                                    indent=2, ensure_ascii=False) + "\n")
    if dry_run:
        review.print("[bold]Dry run:[/] nothing written.")
        return 0
    to_save = [p for p in plans if p.is_new or p.record != p.existing]
    if not to_save:
        review.print("Nothing to save: the workspace records already match.")
        return 0
    if not yes:
        if not (sys.stdin.isatty() if interactive is None else interactive):
            review.print("[bold red]Not saved:[/] saving needs a confirmation and there is no "
                          "terminal to ask. Review with --dry-run, then rerun with --yes.",
                          highlight=False)
            return 1
        ask = confirm or (lambda question: _ask(review, question))
        to_save = [p for p in to_save if ask(_question(p))]
    last_plan = {p.record.aws_ref: p for p in to_save}  # the last plan of a site has all merges
    for plan in last_plan.values():
        path = save_plan(ws.data_dir, _against_disk(plan, ws.records))
        review.print(f"Saved [bold]{plan.record.aws_ref}[/] → {escape(str(path))}",
                     highlight=False)
    if not last_plan:
        review.print("Nothing saved.")
    return 0


def _against_disk(plan: ImportPlan, stored: dict[str, SiteRecord]) -> ImportPlan:
    """The plan of a site's last report, based on the record as loaded from disk.

    Several reports of one site merge in turn; the last plan's ``existing`` is the
    previous report's result, while the file still holds what the workspace loaded.
    """
    return ImportPlan(record=plan.record, existing=stored.get(plan.record.aws_ref),
                      changes=plan.changes)


def _question(plan: ImportPlan) -> str:
    ref = plan.record.aws_ref
    if plan.is_new:
        return f"Save the new site record {ref}?"
    return f"Replace {len(plan.updates)} field(s) of the stored record {ref}?"


def _ask(console: Console, question: str) -> bool:
    answer = console.input(escape(f"{question} [y/N] "))
    return answer.strip().lower() in ("y", "yes")


def render_review(console: Console, report: ImportedReport, plan: ImportPlan,
                  target: Path | None = None) -> None:
    """Print a readable review of one imported report and what saving it would do."""
    record = report.record
    console.rule(f"[bold]{escape(report.name)}[/] → {record.aws_ref} — "
                 f"{escape(record.site_name or '(no site name)')}")
    console.print(_facts_table(record))
    if record.findings:
        findings = Table(title="Findings", title_justify="left")
        for column in ("No.", "level", "indicator", "status", "finding"):
            findings.add_column(column)
        for f in record.findings:
            findings.add_row(f.id, f.level, f.indicator, f.status, _short(f.text, 90))
        console.print(findings)
    if report.warnings:
        console.print(f"[bold yellow]{len(report.warnings)} warning(s) to review:[/]")
        for warning in report.warnings:
            console.print(f"  [yellow]•[/] {escape(warning.message)}", highlight=False)
    else:
        console.print("[green]No consistency warnings.[/]")
    where = f" ({escape(str(target))})" if target else ""
    if plan.is_new:
        console.print(f"[bold]New record[/]{where}: no stored record of {record.aws_ref}.",
                      highlight=False)
    elif not plan.changes:
        console.print(f"The stored record{where} already holds exactly this.", highlight=False)
    else:
        console.print(_changes_table(plan.changes, where))


def _facts_table(record: SiteRecord) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for label, value in review_facts(record):
        table.add_row(label, escape(value) if value else "[dim]—[/]")
    return table


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    text = text.replace("\n", " ⏎ ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _around_difference(old: Any, new: Any, width: int = 60) -> tuple[str, str]:
    """Both values shortened to the part where they start to differ."""
    a, b = _short(old, 10**6), _short(new, 10**6)
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    cut = max(0, common - 15)
    if cut:
        a, b = "…" + a[cut:], "…" + b[cut:]
    return _short(a, width), _short(b, width)


_OUTCOME = {"update": "[green]replace[/]", "keep-edited": "[cyan]keep (edited by hand)[/]",
            "keep-existing": "[dim]keep (not in report)[/]"}


def _changes_table(changes: list[FieldChange], where: str) -> Table:
    table = Table(title=f"Differences with the stored record{where}", title_justify="left")
    for column in ("field", "stored", "report"):
        table.add_column(column, overflow="fold")
    table.add_column("import will", no_wrap=True)
    for change in changes[:_MAX_CHANGE_ROWS]:
        old, new = _around_difference(change.old, change.new)
        table.add_row(escape(change.path), escape(old), escape(new), _OUTCOME[change.outcome])
    if len(changes) > _MAX_CHANGE_ROWS:
        table.add_row(f"… {len(changes) - _MAX_CHANGE_ROWS} more", "", "", "")
    return table
