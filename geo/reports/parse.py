"""Import AWS certification reports into site records.

An AWS (Alliance for Water Stewardship) certification report — the PDF AWS
publishes, or text extracted from it — becomes a :class:`~geo.core.records.SiteRecord`
plus a list of :class:`ReportWarning` (consistency checks a reviewer should see).
A record imported again for the same AWS reference is merged with the stored one
by :func:`merge_records`, which never overwrites what a person edited and reports
every difference.  The CLI (``catchscope import-report``) and the app call the same
functions::

    imported = read_report(uploaded_bytes, name="report.pdf")   # parse, check
    plan = plan_import(workspace.records, imported)               # merge + diff
    # show imported.warnings and plan.changes, ask, then:
    save_plan(workspace.data_dir, plan)                           # atomic

The parser reads the report's sections by their labels and tolerates what PDF
extraction does to them (tabs or spaces, HTML remnants, page headers in the middle
of a comment, the answer on the indicator's line or below it).  Indicator ids run
0.1.1.1 … 5.5.3 (AWS Standard v2.0, :data:`KNOWN_INDICATORS`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from geo.core.errors import RecordError, ReportError
from geo.core.records import (
    Finding,
    IndicatorAnswer,
    SiteRecord,
    load_record,
    record_path,
    save_record,
)
from geo.reports.checks import (
    ADVANCED_INDICATORS,
    KNOWN_INDICATORS,
    consistency_warnings,
    missing_header_warning,
)
from geo.reports.facts import ReportWarning, record_values
from geo.reports.merge import FieldChange, diff_records, merge_records
from geo.reports.text import (
    PAGE_HEADER_RE,
    clean_text,
    one_line,
    remove_page_headers,
    report_bytes_to_text,
)

__all__ = [
    "ADVANCED_INDICATORS",
    "KNOWN_INDICATORS",
    "FieldChange",
    "ImportPlan",
    "ImportedReport",
    "ReportWarning",
    "diff_records",
    "merge_records",
    "parse_report_text",
    "plan_import",
    "read_report",
    "review_facts",
    "save_plan",
]

_SECTIONS = frozenset(i.rsplit(".", 1)[0] for i in KNOWN_INDICATORS) | {"0.1"}

_INDICATOR_LINE_RE = re.compile(r"^\s*(\d\.\d{1,2}\.\d{1,2}(?:\.\d{1,2})?)(?=[\s*<]|$)(.*)$")
_SECTION_LINE_RE = re.compile(r"^\s*(\d(?:\.\d{1,2})?)(?:\s+|\t)+(?:[*<A-Z]|STEP\b)")
_ANSWER_RE = re.compile(r"(?:^|[\s*\u2713\u2714\u2717\u2718\u2193\u25a1])\**"
                        r"(Yes|No|N/A|Not applicable)\**\s*$", re.IGNORECASE)
_LEADING_ANSWER_RE = re.compile(r"^[\s\u2713\u2714\u2717\u2718]*\**(Yes|No|N/A)\**(?=\s|$)")
_COMMENT_RE = re.compile(r"^\s*Comments?\b\s*:?\s*(.*)$", re.IGNORECASE)
_SCORE_RE = re.compile(r"^\s*Score\s*:?\s*(\d+(?:\.\d+)?)\s*$", re.IGNORECASE)
_FINDING_REF_RE = re.compile(r"^\s*Finding No\.?\s*:?\s*([A-Z]{2,5}-\d+)\s*$", re.IGNORECASE)
_END_OF_CHECKLIST_RE = re.compile(r"^\s*Photographic Evidence", re.IGNORECASE)

_HEADINGS = {
    "site details", "certification details", "audit details", "additional info", "score",
    "findings", "finding details", "report details", "surveillance",
    "stakeholder announcements", "catchment information", "client description and site details",
    "client/site background", "site background", "summary of shared water challenges",
    "photographic evidence from audit",
}
# label in the report -> key; longer labels first so "Audit team participants" wins.
_HEADER_LABELS = {
    "aws reference number": "aws_ref", "aws reference": "aws_ref", "audit number": "audit",
    "site": "site", "address": "address", "contact person": "contact",
    "site structure": "structure", "certification status": "status",
    "date of certification decision": "decision", "certification decision date": "decision",
    "validity of certificate": "valid", "valid until": "valid",
    "audited service(s)": "standard", "audited service": "standard",
    "audit type(s)": "audit_type", "audit type": "audit_type",
    "audit start date": "start", "audit end date": "end", "lead auditor": "lead",
    "audit team participants": "team", "audit team": "team",
    "site participants": "participants", "summary of audit findings": "summary",
    "scope of assessment": "scope", "total score": "score", "score": "score",
}
_FINDING_LABELS = {
    "finding no": "id", "checklist item no": "indicator", "status": "status",
    "finding level": "level", "checklist item": "checklist_item", "findings": "text",
    "finding": "text", "corrective action": "corrective_action",
}


# ---------------------------------------------------------------------------
# Results


@dataclass
class ImportedReport:
    """A parsed report: the record it yields, the checks' warnings, its source name."""

    record: SiteRecord
    warnings: list[ReportWarning]
    name: str


@dataclass
class ImportPlan:
    """What saving an imported record would do to a workspace."""

    record: SiteRecord
    existing: SiteRecord | None
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def is_new(self) -> bool:
        """True when the workspace has no record of this AWS reference yet."""
        return self.existing is None

    @property
    def updates(self) -> list[FieldChange]:
        """The changes that would replace stored values."""
        return [c for c in self.changes if c.outcome == "update"]


# ---------------------------------------------------------------------------
# Reading


def read_report(data: bytes, name: str = "report") -> ImportedReport:
    """Parse a certification report given as bytes (PDF or text).

    Parameters
    ----------
    data : bytes
        The uploaded file's content.  Never a path: callers read the file.
    name : str
        The file name, for messages and the record's ``source``.

    Returns
    -------
    ImportedReport
        The record (not saved) and the consistency warnings.

    Raises
    ------
    ReportError
        Empty or binary file, unreadable or scanned PDF, or no AWS reference.
    """
    return parse_report_text(report_bytes_to_text(data, name), name=name)


def parse_report_text(text: str, name: str = "report") -> ImportedReport:
    """Parse the text of a certification report into a record and warnings.

    Raises
    ------
    ReportError
        If the text has no AWS reference number (the key of a site record), or the
        values found cannot form a valid record.
    """
    warnings: list[ReportWarning] = []
    first_header = PAGE_HEADER_RE.search(text)
    text = remove_page_headers(text)
    lines = text.split("\n")
    start, end = _checklist_bounds(lines)
    header = _read_header(lines[:start])
    if first_header and first_header.group("audit") and not header.get("audit"):
        header["audit"] = first_header.group("audit")
    aws_ref = _aws_ref(header, text, name, warnings)
    sections = _sections(lines[:start])
    if "surveillance" not in sections:  # no heading: the lines after "...next audit"
        at = next((i for i, line in enumerate(lines[:start])
                   if re.search(r"next (?:surveillance )?audit", line, re.IGNORECASE)), None)
        if at is not None:
            sections["surveillance"] = lines[at:at + 4]
    indicators, finding_refs = _read_checklist(lines[start:end], warnings)
    findings = _read_findings(sections.get("finding details", []), warnings)
    values = record_values(header, sections, indicators, findings, warnings)
    values.update(aws_ref=aws_ref, source=_source(header, name))
    try:
        record = SiteRecord.model_validate(values)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise ReportError(f"{name}: the values read do not form a site record ({problems}). "
                          f"Check the report or fill the record by hand.") from err
    missing_header_warning(header, warnings)
    warnings.extend(consistency_warnings(record, header, sections, finding_refs))
    return ImportedReport(record=record, warnings=warnings, name=name)


def _checklist_bounds(lines: list[str]) -> tuple[int, int]:
    """Where the indicator checklist starts and ends.

    It starts at "0.1 General Requirements…" (or 0.1.1.1) when the report has it,
    else at the first indicator id that is not the value of a label such as
    "Checklist Item No:" whose value an extractor put on the next line.
    """
    def previous(i: int) -> str:
        return next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")

    candidates = [i for i, line in enumerate(lines)
                  if (_INDICATOR_LINE_RE.match(line) or re.match(r"^\s*0\.1\s", line))
                  and not previous(i).endswith(":")]
    general = [i for i in candidates if re.match(r"^\s*0\.1(?:\.1(?:\.1)?)?\s", lines[i])]
    start = (general or candidates or [len(lines)])[0]
    end = next((i for i in range(start, len(lines)) if _END_OF_CHECKLIST_RE.match(lines[i])),
               len(lines))
    return start, end


def _heading(line: str) -> str | None:
    key = re.sub(r"[*#\s]+", " ", line).strip().lower()
    return key if key in _HEADINGS else None


def _labelled(lines: list[str], labels: dict[str, str],
              stop_at_headings: bool = True) -> list[tuple[str, list[str]]]:
    """Split lines into (key, value lines) at ``Label: value`` lines."""
    pattern = re.compile(
        r"^\s*\**(" + "|".join(re.escape(k) for k in sorted(labels, key=len, reverse=True))
        + r")\**\s*:\s*(.*)$", re.IGNORECASE,
    )
    out: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in lines:
        match = pattern.match(line)
        if match:
            current = [match.group(2)]
            out.append((labels[match.group(1).lower()], current))
        elif stop_at_headings and _heading(line):
            current = None
        elif current is not None:
            current.append(line)
    return out


def _read_header(lines: list[str]) -> dict[str, Any]:
    header: dict[str, Any] = {}
    for key, value_lines in _labelled(lines, _HEADER_LABELS):
        if key in header:
            continue  # the first occurrence is the header's; later ones are quotes
        if key in ("team", "participants"):
            header[key] = [v for v in (one_line(x) for x in value_lines) if v]
        elif key in ("summary", "scope"):
            header[key] = clean_text("\n".join(value_lines))
        else:
            header[key] = one_line(" ".join(value_lines))
    return header


def _sections(lines: list[str]) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        key = _heading(line)
        if key is not None:
            current = sections.setdefault(key, [])
        elif current is not None:
            current.append(line)
    return sections


def _aws_ref(header: dict[str, Any], text: str, name: str,
             warnings: list[ReportWarning]) -> str:
    value = header.get("aws_ref", "")
    match = re.search(r"AWS-\d{6}", value)
    if match:
        return match.group(0)
    found = sorted(set(re.findall(r"\bAWS-\d{6}\b", text)))
    if len(found) == 1:
        warnings.append(ReportWarning(
            "aws-ref-from-text",
            f"No 'AWS Reference Number:' line; using {found[0]}, the only AWS reference in "
            f"the text. Check it is this site's.",
        ))
        return found[0]
    what = (f"it names several ({', '.join(found)})" if found
            else "none was found")
    raise ReportError(
        f"{name}: no 'AWS Reference Number: AWS-nnnnnn' line ({what}). The AWS reference "
        f"is the key of a site record, so the report cannot be imported. Check that this is "
        f"an AWS certification report, or add the line to the text and import it again."
    )


def _source(header: dict[str, Any], name: str) -> str:
    audit = header.get("audit", "")
    return f"AWS certification report {audit} ({name})".replace("  ", " ").replace(" ()", "")


# ---------------------------------------------------------------------------
# The indicator checklist


@dataclass
class _Block:
    id: str
    head: list[str] = field(default_factory=list)
    comment: list[str] = field(default_factory=list)
    in_comment: bool = False
    score: float | None = None
    finding_refs: list[str] = field(default_factory=list)


def _read_checklist(
    lines: list[str], warnings: list[ReportWarning]
) -> tuple[list[IndicatorAnswer], dict[str, list[str]]]:
    blocks: list[_Block] = []
    block: _Block | None = None
    for line in lines:
        indicator = _INDICATOR_LINE_RE.match(line)
        if indicator:
            block = _Block(indicator.group(1), head=[indicator.group(2)])
            blocks.append(block)
            continue
        section = _SECTION_LINE_RE.match(line)
        if section and (section.group(1) in _SECTIONS or "." not in section.group(1)):
            block = None
            continue
        if block is None:
            continue
        _feed(block, line)
    answers: list[IndicatorAnswer] = []
    refs: dict[str, list[str]] = {}
    seen: set[str] = set()
    for block in blocks:
        answer = _answer(block.head)
        is_known = block.id in KNOWN_INDICATORS
        if not is_known and not answer and not block.in_comment and block.score is None:
            continue  # a heading such as "0.1.1 Eligibility Criteria"
        if block.id in seen:
            warnings.append(ReportWarning(
                "duplicate-indicator",
                f"Indicator {block.id} appears twice in the checklist; the first is kept.",
            ))
            continue
        seen.add(block.id)
        labelled = "advanced indicator" in " ".join(block.head).lower()
        advanced = block.id in ADVANCED_INDICATORS if is_known else labelled
        if is_known and labelled != advanced:
            warnings.append(ReportWarning(
                "advanced-label",
                f"Indicator {block.id} is {'labelled' if labelled else 'not labelled'} "
                f"'Advanced Indicator' in the report but is "
                f"{'an advanced' if advanced else 'a core'} indicator of AWS v2.0; "
                f"recorded as {'advanced' if advanced else 'core'}.",
            ))
        answers.append(IndicatorAnswer(
            id=block.id,
            answer=answer,
            advanced=advanced,
            score=block.score,
            comment=clean_text("\n".join(block.comment)),
        ))
        if block.finding_refs:
            refs[block.id] = block.finding_refs
    return answers, refs


def _feed(block: _Block, line: str) -> None:
    score = _SCORE_RE.match(line)
    if score:
        block.score = float(score.group(1))
        return
    ref = _FINDING_REF_RE.match(line)
    if ref:
        block.finding_refs.append(ref.group(1))
        return
    comment = _COMMENT_RE.match(line)
    if comment and not block.in_comment:
        block.in_comment = True
        block.comment.append(comment.group(1))
        return
    (block.comment if block.in_comment else block.head).append(line)


def _answer(head: list[str]) -> Literal["Yes", "No", "N/A", ""]:
    """The answer at the end of a line of the indicator's text, or right after its id."""
    match = None
    for line in reversed(head):
        match = _ANSWER_RE.search(line.replace("</p>", "").replace("</i>", "").rstrip())
        if match:
            break
    if match is None and head:  # "1.2.2 Yes Current and potential…" (answer column first)
        match = _LEADING_ANSWER_RE.match(head[0])
    if match is None:
        return ""
    word = match.group(1).lower()
    return "Yes" if word == "yes" else "No" if word == "no" else "N/A"


# ---------------------------------------------------------------------------
# Findings


def _read_findings(lines: list[str], warnings: list[ReportWarning]) -> list[Finding]:
    findings: list[Finding] = []
    current: dict[str, str] = {}
    for key, value_lines in _labelled(lines, _FINDING_LABELS, stop_at_headings=False):
        if key == "id" and current:
            findings.append(_finding(current, warnings))
            current = {}
        value = "\n".join(value_lines)
        current[key] = clean_text(value) if key in ("text", "corrective_action",
                                                    "checklist_item") else one_line(value)
    if current:
        findings.append(_finding(current, warnings))
    return findings


def _finding(values: dict[str, str], warnings: list[ReportWarning]) -> Finding:
    level_text = values.get("level", "").lower()
    levels: tuple[Literal["Major", "Minor", "Observation"], ...] = ("Major", "Minor",
                                                                   "Observation")
    level: Literal["Major", "Minor", "Observation", ""] = next(
        (lvl for lvl in levels if lvl.lower() in level_text), "")
    if level_text and not level:
        warnings.append(ReportWarning(
            "finding-level",
            f"Finding {values.get('id', '?')}: level {values['level']!r} is not Major, Minor "
            f"or Observation; left empty.",
        ))
    indicator = re.search(r"\d\.\d{1,2}\.\d{1,2}(?:\.\d{1,2})?", values.get("indicator", ""))
    return Finding(
        id=values.get("id", "") or "?",
        indicator=indicator.group(0) if indicator else values.get("indicator", ""),
        status=values.get("status", ""),
        level=level,
        checklist_item=values.get("checklist_item", ""),
        text=values.get("text", ""),
        corrective_action=values.get("corrective_action", ""),
    )


def plan_import(records: dict[str, SiteRecord],
                imported: ImportedReport | SiteRecord) -> ImportPlan:
    """Work out what importing ``imported`` into a workspace would save.

    Parameters
    ----------
    records : dict
        The workspace's records by AWS reference (``Workspace.records``).
    imported : ImportedReport or SiteRecord
        A parsed report.

    Returns
    -------
    ImportPlan
        The record to save (merged if the site exists), the stored one, the changes.
    """
    record = imported.record if isinstance(imported, ImportedReport) else imported
    existing = records.get(record.aws_ref)
    if existing is None:
        return ImportPlan(record=record, existing=None, changes=[])
    merged, changes = merge_records(existing, record)
    return ImportPlan(record=merged, existing=existing, changes=changes)


def save_plan(data_dir: Path, plan: ImportPlan) -> Path:
    """Save the record of a reviewed :class:`ImportPlan` atomically; return its path.

    ``data_dir`` is the workspace's ``data/`` folder (``Workspace.data_dir``).  The
    stored record must still be the one the plan was made from, so an edit saved
    in the meantime (another tab, another person) is never silently overwritten.

    Raises
    ------
    RecordError
        If the stored record changed (or appeared) since the plan was made.
    """
    path = record_path(data_dir, plan.record.aws_ref)
    current = load_record(path) if path.exists() else None
    if current != plan.existing:
        raise RecordError(
            f"{path.name} changed since this import was reviewed; nothing was saved. "
            f"Review the import again against the current record."
        )
    return save_record(data_dir, plan.record)


def review_facts(record: SiteRecord) -> list[tuple[str, str]]:
    """The facts a reviewer checks before saving, as (label, text) rows.

    The CLI prints them as a table; the app can show the same rows.
    """
    answers = [i.answer for i in record.indicators]
    scored = [i.score for i in record.indicators if i.score is not None]
    rows: list[tuple[str, str]] = [
        ("Audit", f"{record.audit_number} · {record.audit_type} · "
                  f"{record.audit_start_date or '?'} to {record.audit_end_date or '?'} · lead "
                  f"{record.lead_auditor}"),
        ("Certification", f"{record.certification_status} · decided {record.decision_date or '?'}"
                          f" · valid until {record.valid_until or '?'} · next audit "
                          f"{record.next_audit_date or '?'}"),
        ("Score", "" if record.score is None else f"{record.score:.2f}"),
        ("Organisation", record.organisation),
        ("Registration address", record.registration_address or record.address),
        ("Operation addresses", "\n".join(record.operation_addresses)),
        ("Area", _number(record.area_m2, "m²")
         + (f" (construction {_number(record.construction_area_m2, 'm²')})"
            if record.construction_area_m2 else "")),
        ("Staff / capacity", f"{record.staff or '?'} · {record.capacity or '?'}"),
        ("Catchment", record.catchment_name),
        ("Water supply", f"{record.water_service_provider or '(provider not named)'}"
                         + (f" (part of {record.water_provider_parent})"
                            if record.water_provider_parent else "")
                         + f" ← {', '.join(record.ultimate_water_sources) or '?'}"),
        ("Discharges", "\n".join(
            f"{d.stream}: "
            + ("not discharged" if not d.discharged else
               " → ".join(p for p in (d.receiver, d.ultimate_receiver) if p) or "?")
            + f" ({d.section})" for d in record.discharges)),
        ("Managed sources", "\n".join(
            f"{m.kind}" + (f" for {m.use}" if m.use else "") + (f", {m.volume}" if m.volume
                                                                 else "") + f" ({m.section})"
            for m in record.managed_sources)),
        ("Permits", "\n".join(
            f"{p.kind} {p.number}".strip() + (f", valid {p.valid_from or '?'} to "
                                               f"{p.valid_until}" if p.valid_until else "")
            for p in record.permits)),
        ("Wastewater", f"{record.wastewater_service_provider or '?'} → "
                       f"{', '.join(record.receiving_water_bodies) or '?'}"),
        ("On-site IWRAs", ", ".join(record.onsite_iwras)),
        ("Catchment IWRAs", (f"{record.catchment_iwra_count} stated; " if
                             record.catchment_iwra_count is not None else "")
         + ", ".join(record.catchment_iwras)),
        ("Shared challenges", "\n".join(
            f"{c.text}" + (f" ({c.priority})" if c.priority else "")
            for c in record.shared_water_challenges)),
        ("Indicators", f"{len(record.indicators)}: Yes {answers.count('Yes')} · No "
                       f"{answers.count('No')} · N/A {answers.count('N/A')} · unanswered "
                       f"{answers.count('')}; {sum(i.advanced for i in record.indicators)} "
                       f"advanced, scores add up to {sum(scored):g}"),
        ("Announcements", str(len(record.stakeholder_announcements))),
    ]
    return rows


def _number(value: float | None, unit: str) -> str:
    return "?" if value is None else f"{value:,.0f} {unit}"
