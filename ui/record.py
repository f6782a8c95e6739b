"""The Site record tab: a certification record as readable sections, the JSON folded away.

Sections follow what an auditor looks for — the certificate, the site, its water provider
and sources, its discharges, the IWRAs, findings, indicator answers — and any field the
sections do not name still shows, under *Other fields*, so a new field is never hidden.
Every value goes through :mod:`ui.cards` (escaped Markdown).  Each fact the scope prints
carries its basis (:mod:`ui.basis`): a badge beside the value, the detail in the section's
*What these facts rest on*.
"""

from __future__ import annotations

import functools
from typing import Any

import streamlit as st

from geo.core.basis import Basis
from geo.core.records import SiteRecord
from geo.core.statements import value_basis
from geo.scope.evidence import record_facts
from ui.basis import badge, basis_detail, counts_badges
from ui.cards import bullets, md, md_lines, rows, text_of

__all__ = ["SECTIONS", "show_record"]

#: Section title → the record fields it shows, with their labels.
SECTIONS: dict[str, dict[str, str]] = {
    "Certificate": {
        "aws_ref": "AWS reference", "audit_number": "audit number",
        "certification_status": "status", "decision_date": "decision date",
        "valid_until": "valid until", "standard": "standard", "audit_type": "audit type",
        "audit_start_date": "audit start", "score": "score",
        "next_audit_date": "next audit", "lead_auditor": "lead auditor",
        "audit_team": "audit team", "site_participants": "site participants",
        "report_prepared_by": "report prepared by",
        "report_approved_by": "report approved by", "report_approved_on": "approved on",
    },
    "Site": {
        "site_name": "name", "organisation": "organisation", "address": "address",
        "registration_address": "registration address",
        "operation_addresses": "operation addresses", "contact_person": "contact person",
        "site_structure": "site structure", "area_m2": "area (m²)",
        "construction_area_m2": "construction area (m²)", "staff": "staff",
        "capacity": "capacity", "products": "products", "site_background": "background",
    },
    "Catchment": {
        "catchment_name": "catchment", "catchment_description": "description",
    },
    "Water provider and sources": {
        "water_service_provider": "water service provider",
        "water_provider_parent": "provider's parent organisation",
        "ultimate_water_sources": "ultimate water sources",
    },
    "Discharges": {
        "wastewater_service_provider": "wastewater service provider",
        "receiving_water_bodies": "receiving water bodies",
    },
    "IWRAs": {
        "onsite_iwras": "on site (1.3.6)", "catchment_iwras": "in the catchment (1.5.5)",
        "catchment_iwra_count": "catchment IWRAs counted",
    },
    "Assessment": {
        "scope_of_assessment": "scope of assessment",
        "summary_of_findings": "summary of findings",
    },
    "About this record": {
        "source": "source", "edited_fields": "edited by hand (never overwritten by an import)",
        "notes": "notes",
    },
}
#: Fields shown in sections of their own below the label/value ones.
_OWN_SECTIONS = ("shared_water_challenges", "findings", "indicators",
                 "stakeholder_announcements")
#: Fields whose values are lists better read one per line.
_LISTS = {"audit_team", "site_participants", "operation_addresses", "ultimate_water_sources",
          "receiving_water_bodies", "onsite_iwras", "catchment_iwras", "edited_fields"}


def _facts(data: dict[str, Any], fields: dict[str, str],
           flags: dict[str, str]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    facts: dict[str, Any] = {}
    lists: dict[str, list[Any]] = {}
    for field, label in fields.items():
        value = data.get(field)
        if field in _LISTS and isinstance(value, list) and len(value) > 1:
            lists[label] = value
        elif field.endswith("_m2") and isinstance(value, (int, float)):
            facts[label] = f"{value:,.0f}"
        else:
            facts[label] = f"{text_of(value)}{flags.get(field, '')}" if text_of(value) \
                else value
    return facts, lists


#: A field's bases: (value as the scope prints it, its basis), one per list item.
Bases = dict[str, list[tuple[str, Basis]]]


def record_bases(record: Any) -> Bases:
    """The basis of each record fact the scope prints (:func:`geo.scope.evidence.record_facts`),
    and of any other field the record declares a basis for or that was edited by hand.

    Reading the record's prose for each fact takes ~50 ms: kept per record (by its JSON,
    so an edited record is read again), not redone on every rerun.
    """
    return _record_bases(record.model_dump_json())


@functools.lru_cache(maxsize=16)
def _record_bases(dumped: str) -> Bases:
    record = SiteRecord.model_validate_json(dumped)
    bases: Bases = {}
    for field, shown, basis in record_facts(record):
        bases.setdefault(field, []).append((shown, basis))
    for field in (*record.field_bases, *record.edited_fields):
        value = getattr(record, field, None)
        if field in bases or field not in type(record).model_fields or not text_of(value):
            continue
        items = value if isinstance(value, list) else [value]
        bases[field] = [(text_of(v), value_basis(record, field, text_of(v))) for v in items]
    return bases


def _item_badge(bases: list[tuple[str, Basis]], item: object) -> str:
    found = next((b for v, b in bases if v == text_of(item)), None)
    return f" {badge(found)}" if found is not None else ""


def _section(title: str, data: dict[str, Any], fields: dict[str, str],
             flags: dict[str, str], bases: Bases | None = None) -> None:
    facts, lists = _facts(data, fields, flags)
    if not any(text_of(v) for v in facts.values()) and not lists:
        return
    bases = bases or {}
    labels = {label: field for field, label in fields.items()}
    with st.container(border=True):
        st.markdown(f"#### {md(title)}")
        lines = []
        for label, value in facts.items():
            field = labels.get(label, "")
            if text_of(value):
                based = bases.get(field, [])
                kind = f" {badge(based[0][1])}" if len(based) == 1 else \
                    _item_badge(based, data.get(field))
                lines.append(f"**{md(label)}:** {md_lines(text_of(value))}{kind}")
        if lines:
            st.markdown("  \n".join(lines))
        for label, items in lists.items():
            based = bases.get(labels.get(label, ""), [])
            st.markdown(f"**{md(label)}:**\n\n" + "\n".join(
                f"- {md_lines(item)}{_item_badge(based, item)}" for item in items
                if text_of(item)))
        shown = [(fields[f], v, b) for f in fields if f in bases and text_of(data.get(f))
                 for v, b in bases[f]]
        if shown:
            kinds = counts_badges(b.kind for *_, b in shown)
            with st.expander(f"What these facts rest on · {kinds}"):
                st.markdown("\n\n".join(f"**{md(label)}:** {md(value)}\n\n{basis_detail(b)}"
                                          for label, value, b in shown))


def _findings(findings: list[dict[str, Any]]) -> None:
    if not findings:
        return
    with st.container(border=True):
        st.markdown(f"#### Findings ({len(findings)})")
        for finding in findings:
            head = " · ".join(md(text_of(finding.get(k))) for k in
                              ("id", "indicator", "level", "status") if text_of(finding.get(k)))
            st.markdown(f"**{head}**" if head else "**Finding**")
            rows({"checklist item": finding.get("checklist_item"),
                  "finding": finding.get("text"),
                  "corrective action": finding.get("corrective_action")})


def _challenges(challenges: list[dict[str, Any]]) -> None:
    if not challenges:
        return
    with st.container(border=True):
        st.markdown(f"#### Shared water challenges ({len(challenges)})")
        st.markdown(bullets(
            f"{c.get('text', '')}" + (f" (priority: {c['priority']})" if c.get("priority")
                                      else "") for c in challenges))


def _announcements(items: list[dict[str, Any]]) -> None:
    if not items:
        return
    with st.container(border=True):
        st.markdown(f"#### Stakeholder announcements ({len(items)})")
        st.markdown(bullets(f"{a.get('date', '')}: {a.get('location', '')}" for a in items))


def _indicators(items: list[dict[str, Any]]) -> None:
    if not items:
        return
    with st.expander(f"Indicator answers ({len(items)})", expanded=False):
        lines = []
        for item in items:
            parts = [text_of(item.get("answer")) or "no answer"]
            if item.get("advanced"):
                parts.append("advanced")
            if text_of(item.get("score")):
                parts.append(f"score {text_of(item.get('score'))}")
            line = f"**{md(text_of(item.get('id')))}:** {md(' · '.join(parts))}"
            if text_of(item.get("comment")):
                line += f" — {md_lines(item['comment'])}"
            lines.append(line)
        st.markdown("  \n".join(lines))


def show_record(record: Any, *, expired: bool) -> None:
    """Every field of a site record, grouped; the stored JSON in a collapsed expander."""
    data = record.model_dump(mode="json")
    flags = {"valid_until": " — EXPIRED", "certification_status": " — LAPSED"} if expired \
        else {}
    left, right = st.columns(2, gap="medium")
    named = {f for fields in SECTIONS.values() for f in fields} | set(_OWN_SECTIONS)
    other = {k: k.replace("_", " ") for k in data if k not in named}
    halves = [("Certificate", "Site", "Catchment"),
              ("Water provider and sources", "Discharges", "IWRAs", "Assessment",
               "About this record")]
    bases = record_bases(record)
    for column, titles in zip((left, right), halves, strict=True):
        with column:
            for title in titles:
                _section(title, data, SECTIONS[title], flags, bases)
    with left:
        _findings(data.get("findings") or [])
    with right:
        _challenges(data.get("shared_water_challenges") or [])
        _announcements(data.get("stakeholder_announcements") or [])
        if other:
            _section("Other fields", data, other, {}, bases)
    _indicators(data.get("indicators") or [])
    with st.expander("The record as stored (JSON)", expanded=False):
        st.json(data, expanded=1)
