"""Where the map and the report disagree, and the auditor's answer beside ours.

:func:`map_vs_report` lists every place where the workspace and the site's record (its
certification report) say different things — or where the report contradicts itself:
receiving waters, the catchment named vs the units relied on / affected, IWRAs counted vs
named vs mapped, the site's area, its addresses and named blocks.  Each
:class:`Disagreement` says what the report says, what the map says, and what to do, with
the bases of both sides.

:func:`auditor_answers` puts, for each indicator the product judges (0.1.1.1, 1.1.1,
1.3.6, 1.5.5), the report's answer and comment beside the product's judgement and says
why they differ (:class:`AnswerRow`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import pandas as pd

from geo.core.basis import Basis, weakest
from geo.core.records import SiteRecord
from geo.core.statements import (
    _STOPWORDS,
    discharge_statements,
    record_texts,
    report_contradictions,
    sentences,
)
from geo.scope.checklist import ElementCheck, score_text
from geo.scope.flows import WaterChain
from geo.scope.units import OneCatchment, ScopeUnit

__all__ = ["AnswerRow", "Disagreement", "auditor_answers", "map_vs_report"]

_COMMENT_CHARS = 320


@dataclass(frozen=True)
class Disagreement:
    """One place where the map and the report (or two parts of the report) differ."""

    topic: str
    report: str
    map: str
    note: str = ""
    bases: tuple[Basis, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"topic": self.topic, "report": self.report, "map": self.map,
                "note": self.note, "bases": [b.to_dict() for b in self.bases]}


@dataclass(frozen=True)
class AnswerRow:
    """The report's answer to an indicator beside the product's judgement."""

    indicator: str
    report_answer: str
    report_comment: str
    ours: str
    agree: bool
    why: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return dict(self.__dict__)


def _words(name: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[\w'-]+", name) if w.lower() not in _STOPWORDS}


def _matches(name: str, candidate: str) -> bool:
    wanted = _words(name)
    return bool(wanted) and wanted <= _words(candidate)


def _short(text: str, width: int = _COMMENT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


# --- map vs report ---------------------------------------------------------------------------


def _receiving(record: SiteRecord, chain: WaterChain) -> list[Disagreement]:
    out = [Disagreement("receiving waters (the report contradicts itself)",
                        c.message.split(": ", 1)[-1].split(". Which")[0], "—",
                        "Ask the site which river takes the effluent; map that link with "
                        "the answer as its source.", c.bases)
           for c in report_contradictions(record) if c.code == "receiving-waters"]
    nodes = chain.discharge_nodes()
    names = {n.fid: n.name for n in chain.nodes}
    edges = {(e.source, e.target): e for e in chain.edges}
    paths = [p for p in chain.paths() if p and p[0] == chain.aws_ref]
    for d in record.discharges or discharge_statements(record_texts(record)):
        if not d.discharged or not d.ultimate_receiver:
            continue
        said = Basis(kind="stated", report=record.audit_number, section=d.section,
                     quote=d.quote)
        hit = next((n for n in nodes if n.kind in ("river", "lake", "catchment_unit")
                    and _matches(d.ultimate_receiver, n.name)), None)
        report = f"{d.stream} → {d.ultimate_receiver} ({d.section})"
        if hit is None:
            out.append(Disagreement(
                "receiving waters", report, f"no mapped chain reaches the "
                f"{d.ultimate_receiver}", "Map it and link the discharge to it (flows_to), "
                "citing the report.", (said,)))
            continue
        through = [p for p in paths if hit.fid in p]
        beyond = sorted({names.get(p[-1], p[-1]) for p in through if p[-1] != hit.fid})
        path_basis = [weakest(edges[(a, b)].basis for a, b in pairwise(p)
                              if (a, b) in edges) for p in through]
        weak = weakest(path_basis)
        links = [e for p in through for e in (edges.get((a, b)) for a, b in
                                                   pairwise(p))
                 if e is not None and e.basis is not None and e.basis.kind == "assumed"
                 and p.index(e.source) >= p.index(hit.fid)]
        assumed = sorted({f"{names.get(e.source, e.source)} → {names.get(e.target, e.target)}"
                          for e in links})
        if beyond and assumed:
            out.append(Disagreement(
                "ultimate receiving water", report,
                f"the map continues past the {hit.name} to {', '.join(beyond)} through "
                f"assumed link(s): {'; '.join(assumed)}",
                "The report ends the stream at the water body it names; beyond it the map's "
                "links need a source (or stay assumed).",
                tuple(b for b in (said, weak) if b is not None)))
    return out


def _catchment(record: SiteRecord, one: OneCatchment, relied_on: Sequence[ScopeUnit],
               affected: Sequence[ScopeUnit]) -> list[Disagreement]:
    name = record.catchment_name
    if not name:
        return []
    outside_r = [u for u in relied_on if not _matches(name, u.name)]
    outside_a = [u for u in affected if not _matches(name, u.name)]
    site_units = [n for n in one.unit_names if not _matches(name, n)]
    if not (outside_r or outside_a or site_units):
        return []
    parts = [f"site in {', '.join(one.unit_names) or '(no unit)'}",
             f"relies on {len(relied_on)} unit(s)"
             + (f", {len(outside_r)} outside it: " + "; ".join(f"{u.name} ({u.why})"
                                                               for u in outside_r)
                if outside_r else ""),
             f"affects {len(affected)} unit(s)"
             + (f", {len(outside_a)} outside it: " + "; ".join(u.name for u in outside_a)
                if outside_a else "")]
    bases = tuple(b for b in [_stated(record, name)] + [u.basis for u in outside_r + outside_a]
                  if b is not None)
    return [Disagreement(
        "catchment", f"one catchment: {name}", "; ".join(parts),
        "Defensible — 1.1.1 asks for the catchments the site relies on (upstream of its "
        "sources, wherever they are) and affects (downstream of its discharges) — but it is "
        "not what the report names; say so to the auditor.", bases[:3])]


def _stated(record: SiteRecord, words: str) -> Basis:
    from geo.core.statements import find_statement

    found = find_statement(record, words)
    return Basis(kind="stated", report=record.audit_number,
                 section=found[0] if found else "", quote=found[1] if found else "")


def _iwras(record: SiteRecord, iwras: pd.DataFrame) -> list[Disagreement]:
    out = []
    catchment = iwras[iwras["classification"] != "onsite"] if not iwras.empty else iwras
    onsite = iwras[iwras["classification"] == "onsite"] if not iwras.empty else iwras
    count = record.catchment_iwra_count
    named = record.catchment_iwras
    mapped_named = [n for n in named if any(_matches(n, m) for m in catchment["name"])]
    if count is not None or named:
        counted = count if count is not None else len(named)
        if counted != len(named) or len(mapped_named) != len(named) or \
                len(catchment) < counted:
            missing = [n for n in named if n not in mapped_named]
            out.append(Disagreement(
                "catchment IWRAs (1.5.5)",
                f"{counted} counted, {len(named)} named",
                f"{len(catchment)} mapped ({len(mapped_named)} of the named)"
                + (f"; named but not mapped: {', '.join(missing)}" if missing else "")
                + (f"; {counted - len(named)} counted by the report are neither named nor "
                   "mapped" if counted > len(named) else ""),
                "Ask the site for its catchment background report's full list and map each "
                "IWRA from its official source.",
                (Basis(kind="stated", report=record.audit_number, section="1.5.5"),)))
    for name in record.onsite_iwras:
        if not any(_matches(name, m) for m in onsite["name"]):
            out.append(Disagreement(
                "on-site IWRAs (1.3.6)", f"{name} is an on-site IWRA",
                "no IWRA touching (or within the on-site tolerance of) a parcel carries "
                "that name", "Map it, or check the parcels' positions.",
                (_stated(record, name),)))
    return out


def _area(record: SiteRecord, area_m2: float, parcels: pd.DataFrame,
          parcel_bases: dict[str, Basis]) -> list[Disagreement]:
    if not record.area_m2:
        return []
    gap = abs(area_m2 - record.area_m2) / record.area_m2
    guessed = [f for f, b in parcel_bases.items() if b.kind == "assumed"]
    attrs = parcels["area_m2"].dropna().sum() if "area_m2" in parcels else None
    report = f"{record.area_m2:,.0f} m²"
    mapped = f"{area_m2:,.0f} m² mapped" + (f" ({gap:.0%} off)" if gap > 0.01 else "")
    if attrs:
        mapped += f"; the parcels' area_m2 attributes add up to {attrs:,.0f} m²"
    if gap > 0.01:
        note = "Map the missing blocks or correct the record's area."
    elif guessed:
        note = ("The totals match by construction: the illustrative parcels were drawn to "
                "add up to the report's area, so this is not a check.")
    else:
        return []
    return [Disagreement("site area", report, mapped, note,
                         (_stated(record, f"{record.area_m2:.0f}"),))]


_ADDRESS_RE = re.compile(r"No\.?\s*(\d+)[,\s]+((?:West of |East of )?[A-Z][a-z]+ Road)",
                         re.IGNORECASE)


def _address_key(text: str) -> tuple[str, str] | None:
    match = _ADDRESS_RE.search(text or "")
    return (match.group(1), match.group(2).lower()) if match else None


def _addresses(record: SiteRecord, parcels: pd.DataFrame) -> list[Disagreement]:
    out: list[Disagreement] = []
    if "address" not in parcels or not record.operation_addresses:
        return out
    reported = {k: a for a in record.operation_addresses if (k := _address_key(a))}
    mapped: dict[tuple[str, str], list[str]] = {}
    for fid, address in zip(parcels["fid"], parcels["address"], strict=True):
        key = _address_key(str(address)) if isinstance(address, str) else None
        if key:
            mapped.setdefault(key, []).append(str(fid))
    unmapped = [a for k, a in reported.items() if k not in mapped]
    unknown = [f"{', '.join(f)} ({k[0]} {k[1]})" for k, f in mapped.items() if k not in reported]
    shared = [f"{', '.join(f)} share No. {k[0]} {k[1].title()}" for k, f in mapped.items()
              if len(f) > 1]
    if unmapped or unknown or shared:
        out.append(Disagreement(
            "addresses", f"{len(reported)} operation address(es)",
            "; ".join(p for p in (
                f"{len(mapped)} address(es) on {len(parcels)} parcel(s)",
                f"not on any parcel: {'; '.join(unmapped)}" if unmapped else "",
                f"not in the report: {'; '.join(unknown)}" if unknown else "",
                "; ".join(shared)) if p),
            "Which parcel is at which address is the workspace's guess unless a source says "
            "so (see each parcel's attribute_basis).",
            (_stated(record, "Operation Address"),)))
    blocks = sorted({m.group(1).upper() for _, text in record_texts(record)
                     for s in sentences(text) for m in re.finditer(r"\b[Aa]rea ([A-Z])\b", s)})
    names = " ".join(str(v) for c in ("name", "block") if c in parcels for v in parcels[c])
    absent = [b for b in blocks if not re.search(rf"\bArea {b}\b|^\s*{b}\s*$", names)
              and b not in {str(v).strip() for v in parcels.get("block", [])}]
    if absent:
        out.append(Disagreement(
            "named blocks", f"the report names Area(s) {', '.join(blocks)} of the site",
            f"no parcel of the site is Area {', '.join(absent)}",
            "The report's sentence may be copied from another site's report, or the blocks "
            "are not mapped: ask the site.",
            (_stated(record, f"Area {absent[0]}"),)))
    return out


def map_vs_report(*, record: SiteRecord | None, chain: WaterChain, one: OneCatchment,
                  relied_on: Sequence[ScopeUnit], affected: Sequence[ScopeUnit],
                  iwras: pd.DataFrame, area_m2: float, parcels: pd.DataFrame,
                  parcel_bases: dict[str, Basis]) -> tuple[Disagreement, ...]:
    """Every place where the workspace and the record disagree (see the module docstring)."""
    if record is None:
        return ()
    others = [Disagreement("report", "contradicts itself", "—", c.message, c.bases)
              for c in report_contradictions(record)
              if c.code not in ("receiving-waters", "iwra-count")]
    return tuple([*_receiving(record, chain), *_catchment(record, one, relied_on, affected),
                  *_iwras(record, iwras), *_area(record, area_m2, parcels, parcel_bases),
                  *_addresses(record, parcels), *others])


# --- the auditor's answer beside ours ---------------------------------------------------------


def auditor_answers(*, record: SiteRecord | None, checklist: Sequence[ElementCheck],
                    one: OneCatchment, iwras: pd.DataFrame,
                    versus: Sequence[Disagreement]) -> tuple[AnswerRow, ...]:
    """The report's answer and comment for 0.1.1.1, 1.1.1, 1.3.6, 1.5.5 beside ours."""
    answers = {i.id: i for i in record.indicators} if record is not None else {}
    onsite = iwras[iwras["classification"] == "onsite"] if not iwras.empty else iwras
    catchment = iwras[iwras["classification"] != "onsite"] if not iwras.empty else iwras
    applicable = [c for c in checklist if c.status != "not applicable"]
    weak = [c for c in checklist if c.basis is not None and not c.basis.is_stated
            and c.basis.kind != "derived"]
    ours: dict[str, tuple[str, bool, str]] = {}
    ours["0.1.1.1"] = (("yes" if one.ok else "no") + f" — {one.message}", one.ok,
                       "" if one.ok else one.message)
    bad = [c for c in applicable if c.status != "present"]
    reasons = "; ".join(f"{c.title.split(',')[0]}: {c.status}"
                        + (f" ({_short((c.missing or c.caveats or ('',))[0], 140)})"
                           if c.missing or c.caveats else "") for c in bad)
    ours["1.1.1"] = (score_text([c.status for c in checklist]), not bad,
                     (f"Not every element is mapped from sound data — {reasons}."
                      if bad else "")
                     + (f" {len(weak)} of the six judgements rest on assumed or borrowed "
                        "inputs (see each basis)." if weak else ""))
    names = list(onsite["name"]) if not onsite.empty else []
    named = record.onsite_iwras if record is not None else []
    ours["1.3.6"] = (f"{len(names)} on-site IWRA(s) mapped" + (f": {', '.join(names)}"
                                                             if names else ""),
                     bool(names) or not named,
                     "" if names or not named else
                     f"The report names {', '.join(named)} but no mapped IWRA touches a parcel.")
    count = record.catchment_iwra_count if record is not None else None
    gap = next((d for d in versus if d.topic.startswith("catchment IWRAs")), None)
    ours["1.5.5"] = (f"{len(catchment)} catchment IWRA(s) mapped"
                     + (f" of {count} counted by the report" if count is not None else ""),
                     gap is None, f"{gap.map}." if gap is not None else "")
    rows = []
    for indicator, (judgement, ok, why) in ours.items():
        answer = answers.get(indicator)
        said = answer.answer if answer is not None else ""
        comment = _short(answer.comment) if answer is not None else ""
        agree = (said == "Yes") == ok if said in ("Yes", "No") else ok
        if not said:
            reason = "The record has no answer to this indicator." + (f" {why}" if why else "")
        elif agree:
            reason = "Agree." + (f" {why}" if why else "")
        else:
            reason = (f"The auditor answered {said} from the site's own documents (maps, "
                      f"background report); the product judges the workspace: {why}".strip())
        rows.append(AnswerRow(indicator, said or "(none)", comment, judgement, agree, reason))
    return tuple(rows)
