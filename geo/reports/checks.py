"""The AWS Standard v2.0 indicator checklist and the consistency checks of a report.

A certification report states the same facts several times: the summary counts the
findings that the finding details list, the checklist answers No where a finding is
raised, the advanced indicators' scores add up to the total score, the status names
the level the score earns.  Where a report contradicts itself the importer keeps
what it read and tells the reviewer, as :class:`~geo.reports.facts.ReportWarning`.
"""

from __future__ import annotations

import re
from typing import Any

from geo.core.records import SiteRecord
from geo.core.statements import report_contradictions
from geo.reports.facts import ReportWarning, address_warnings

__all__ = ["ADVANCED_INDICATORS", "KNOWN_INDICATORS", "consistency_warnings",
           "missing_header_warning"]

# The indicator checklist of the AWS Standard v2.0 (2019) as the certification
# reports print it, derived from the two seed reports (AO-000516, AO-000517): both
# list the same 101 ids.  "*" marks advanced indicators; the seeds agree on all but
# 2.4.1, which AO-000516 labels "Advanced" while AO-000517 does not — it is core (no
# score in either report, and both reports' scores equal the sum without it).
_CHECKLIST: tuple[tuple[str, str], ...] = (
    ("0.1.1", "1 2 3"),
    ("1.1", "1"), ("1.2", "1 2"), ("1.3", "1 2 3 4 5 6 7 8"), ("1.4", "1 2 3*"),
    ("1.5", "1 2 3 4 5 6 7 8* 9*"), ("1.6", "1 2 3* 4*"), ("1.7", "1 2"),
    ("1.8", "1 2 3 4 5"),
    ("2.1", "1 2*"), ("2.2", "1"), ("2.3", "1 2 3* 4* 5*"), ("2.4", "1 2*"),
    ("3.1", "1 2 3* 4*"), ("3.2", "1 2"), ("3.3", "1 2 3 4*"), ("3.4", "1 2"),
    ("3.5", "1 2* 3*"), ("3.6", "1 2 3* 4*"), ("3.7", "1 2 3*"), ("3.8", "1"),
    ("3.9", "1 2 3 4 5 6* 7* 8* 9* 10* 11* 12* 13*"),
    ("4.1", "1 2 3 4*"), ("4.2", "1"), ("4.3", "1 2*"), ("4.4", "1"),
    ("5.1", "1"), ("5.2", "1"), ("5.3", "1 2* 3*"), ("5.4", "1 2"), ("5.5", "1 2 3"),
)
#: Every indicator id of the AWS Standard v2.0 checklist, in report order.
KNOWN_INDICATORS: tuple[str, ...] = tuple(
    f"{group}.{item.rstrip('*')}" for group, items in _CHECKLIST for item in items.split()
)
#: The advanced (scored, optional) indicators.
ADVANCED_INDICATORS: frozenset[str] = frozenset(
    f"{group}.{item.rstrip('*')}"
    for group, items in _CHECKLIST for item in items.split() if item.endswith("*")
)
# AWS v2.0 certification levels by total score of advanced indicators.
_LEVELS = (("Platinum", 80.0), ("Gold", 40.0), ("Core", 0.0))
_REQUIRED_HEADER = {
    "site": "site", "audit": "audit number", "status": "certification status",
    "decision": "date of certification decision", "valid": "validity of certificate",
    "standard": "audited service", "audit_type": "audit type", "start": "audit start date",
    "lead": "lead auditor",
}


def missing_header_warning(header: dict[str, Any], warnings: list[ReportWarning]) -> None:
    """Put one warning naming the header fields not found first in ``warnings``."""
    missing = [label for key, label in _REQUIRED_HEADER.items() if not header.get(key)]
    if missing:
        warnings.insert(0, ReportWarning(
            "missing-header",
            f"Header fields not found: {', '.join(missing)}. They are left empty; fill them "
            f"in the record if the report has them under another wording.",
        ))


_NUMBER_WORDS = {"no": 0, "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
                 "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}


def _count(text: str, pattern: str) -> int | None:
    match = re.search(r"\b(\d+|" + "|".join(_NUMBER_WORDS) + r")\s+" + pattern, text,
                      re.IGNORECASE)
    if not match:
        return None
    word = match.group(1).lower()
    return int(word) if word.isdigit() else _NUMBER_WORDS[word]


def consistency_warnings(record: SiteRecord, header: dict[str, Any],
                         sections: dict[str, list[str]],
                         finding_refs: dict[str, list[str]]) -> list[ReportWarning]:
    """Every contradiction between the parts of an imported report."""
    out: list[ReportWarning] = []
    add = out.append
    by_level = {lvl: sum(f.level == lvl for f in record.findings)
                for lvl in ("Major", "Minor", "Observation")}
    summary = record.summary_of_findings
    stated = {
        "total": _count(summary, r"findings?\b"),
        "Major": _count(summary, r"major"),
        "Minor": _count(summary, r"minor"),
        "Observation": _count(summary, r"observations?"),
    }
    if stated["total"] is not None and stated["total"] != len(record.findings):
        add(ReportWarning("findings-count",
                          f"The summary says a total of {stated['total']} finding(s) but "
                          f"{len(record.findings)} are listed in the finding details."))
    for level in ("Major", "Minor", "Observation"):
        if stated[level] is not None and stated[level] != by_level[level]:
            add(ReportWarning("findings-count",
                              f"The summary says {stated[level]} {level.lower()} finding(s) but "
                              f"{by_level[level]} are listed."))
    for line in sections.get("findings", []):
        match = re.match(r"^\s*(Major|Minor|Observations?)\s*[:\t ]\s*(\d+)", line, re.I)
        if match:
            level = match.group(1).capitalize().rstrip("s")
            if int(match.group(2)) != by_level.get(level, 0):
                add(ReportWarning("findings-count",
                                  f"The findings table gives {level} {match.group(2)} but "
                                  f"{by_level.get(level, 0)} {level.lower()} finding(s) are "
                                  f"listed."))
    answers = {i.id: i for i in record.indicators}
    flagged = {f.indicator for f in record.findings}
    listed_ids = {f.id for f in record.findings}
    for indicator in record.indicators:
        if indicator.id not in KNOWN_INDICATORS:
            add(ReportWarning("unknown-indicator",
                              f"Indicator {indicator.id} is not in the AWS Standard v2.0 "
                              f"checklist (0.1.1.1 … 5.5.3); check the id in the report."))
        if not indicator.answer:
            add(ReportWarning("no-answer",
                              f"Indicator {indicator.id} has no Yes / No / N/A answer"
                              + (f" although it has a score ({indicator.score:g})."
                                 if indicator.score is not None else ".")))
        elif indicator.answer == "No" and not indicator.advanced and indicator.id not in flagged:
            add(ReportWarning("no-without-finding",
                              f"Core indicator {indicator.id} is answered No but no finding "
                              f"is raised on it."))
        if indicator.score is not None and indicator.answer in ("No", "N/A"):
            add(ReportWarning("score-without-yes",
                              f"Indicator {indicator.id} is answered {indicator.answer} but has "
                              f"a score ({indicator.score:g})."))
    for finding in record.findings:
        target = answers.get(finding.indicator)
        if record.indicators and target is None:
            add(ReportWarning("finding-indicator",
                              f"Finding {finding.id} is on indicator {finding.indicator!r}, "
                              f"which is not in the checklist."))
        elif target is not None and target.answer == "Yes":
            add(ReportWarning("finding-indicator",
                              f"Finding {finding.id} is on indicator {finding.indicator}, which "
                              f"is answered Yes."))
    for indicator_id, refs in finding_refs.items():
        for ref in refs:
            if ref not in listed_ids:
                add(ReportWarning("finding-ref",
                                  f"Indicator {indicator_id} refers to finding {ref}, which is "
                                  f"not in the finding details."))
    if record.indicators:
        missing = [i for i in KNOWN_INDICATORS if i not in answers]
        if missing:
            shown = ", ".join(missing[:12]) + (" …" if len(missing) > 12 else "")
            add(ReportWarning("missing-indicators",
                              f"{len(missing)} of the {len(KNOWN_INDICATORS)} AWS v2.0 "
                              f"indicators are not in the checklist: {shown}."))
        scored = [i.score for i in record.indicators if i.score is not None]
        if record.score is not None and scored and abs(sum(scored) - record.score) > 0.01:
            add(ReportWarning("score-sum",
                              f"The report's score is {record.score:g} but the advanced "
                              f"indicator scores add up to {sum(scored):g}."))
    else:
        add(ReportWarning("no-checklist", "No indicator checklist (0.1.1.1 … 5.5.3) was found."))
    out.extend(_level_checks(record))
    out.extend(address_warnings(record))
    out.extend(ReportWarning(c.code, c.message) for c in report_contradictions(record))
    return out


def _level_checks(record: SiteRecord) -> list[ReportWarning]:
    out = []
    status_level = next((name for name, _ in _LEVELS
                         if name.lower() in record.certification_status.lower()), None)
    if status_level and record.score is not None:
        expected = next(name for name, floor in _LEVELS if record.score >= floor)
        if expected != status_level:
            out.append(ReportWarning(
                "level-score", f"Status {record.certification_status!r} but a score of "
                               f"{record.score:g} is {expected} level in AWS v2.0."))
    recommended = re.search(r"certification of .+? at (\w+) level", record.summary_of_findings)
    if status_level and recommended and recommended.group(1).lower() != status_level.lower():
        out.append(ReportWarning(
            "level-summary", f"The summary recommends certification at {recommended.group(1)!r} "
                             f"level but the status is {record.certification_status!r}."))
    return out
