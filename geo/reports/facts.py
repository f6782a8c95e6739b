"""Site facts read from the free text of a certification report.

The scope of assessment, the site background, the catchment information and a few
auditor comments (1.1.1 physical scope, 1.3.6 on-site IWRAs, 1.5.5 catchment IWRAs,
1.6.1 shared challenges) state the facts Catchscope maps: addresses, area, staff,
providers, water sources, receiving waters, IWRAs.  The patterns below follow the
wording auditors use ("covers an area of", "finally discharged into", "identified
X as its on-site IWRA") rather than line positions, so they survive PDF extraction.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from geo.core.records import (
    Announcement,
    Finding,
    IndicatorAnswer,
    ManagedSource,
    Permit,
    SharedChallenge,
    SiteRecord,
)
from geo.core.statements import discharge_statements, sentences
from geo.reports.text import clean_text, one_line

__all__ = ["ReportWarning", "address_warnings", "record_values"]


@dataclass(frozen=True)
class ReportWarning:
    """A consistency problem found in a report, for the reviewer.

    These are returned as data (not raised with :mod:`warnings`) because the review
    screen lists them all; ``code`` is stable for tests and filters.
    """

    code: str
    message: str

    def __str__(self) -> str:
        return self.message


# ---------------------------------------------------------------------------
# Record values: header fields and site facts


def record_values(header: dict[str, Any], sections: dict[str, list[str]],
                   indicators: list[IndicatorAnswer], findings: list[Finding],
                   warnings: list[ReportWarning]) -> dict[str, Any]:
    """Field values of a :class:`SiteRecord` from the parsed parts of a report.

    Dates that cannot be read are left empty with a warning appended to ``warnings``.
    """
    scope = header.get("scope", "")
    background = clean_text("\n".join(sections.get("client/site background", [])
                                      or sections.get("site background", [])))
    catchment_text = clean_text("\n".join(
        line for line in sections.get("catchment information", [])
        if not re.search(r"\.(jpe?g|png|gif|tiff?)\s*$", line, re.IGNORECASE)
    ))
    comments = {i.id: i.comment for i in indicators}
    facts_text = "\n".join([scope, background])
    water_text = "\n".join([catchment_text, background, comments.get("1.1.1", "")])
    report_details = _report_details(sections.get("report details", []))
    values: dict[str, Any] = {
        "audit_number": header.get("audit", ""),
        "site_name": header.get("site", ""),
        "organisation": _organisation(header),
        "address": header.get("address", ""),
        "contact_person": header.get("contact", ""),
        "site_structure": header.get("structure", ""),
        "certification_status": header.get("status", ""),
        "standard": header.get("standard", ""),
        "audit_type": header.get("audit_type", ""),
        "lead_auditor": header.get("lead", ""),
        "audit_team": header.get("team", []),
        "site_participants": header.get("participants", []),
        "summary_of_findings": header.get("summary", ""),
        "scope_of_assessment": scope,
        "score": _score([*sections.get("score", []), header.get("score", "")]),
        "next_audit_date": _first_date(sections.get("surveillance", [])),
        "stakeholder_announcements": _announcements(sections.get("stakeholder announcements",
                                                                 [])),
        "report_prepared_by": report_details.get("prepared by", ""),
        "report_approved_by": report_details.get("approved by", ""),
        "report_approved_on": _iso_or_text(report_details.get("approved on", "")),
        "registration_address": next(iter(_addresses(scope, "Registration")), ""),
        "operation_addresses": (_addresses(scope, "Operation") + _addresses(scope, "Production")),
        "area_m2": _area(facts_text, r"(?:covers|covering|occupies|with) an? (?:total )?area of"),
        "construction_area_m2": _area(facts_text, r"construction area of"),
        "staff": _staff(facts_text),
        "capacity": _match(facts_text, r"total (?:capability|capacity|production capacity) "
                                       r"(?:is|was|of) (?:about )?(.+?)\.(?=\s|$)"),
        "products": _products(scope) or _products(background),
        "catchment_name": _catchment_name("\n".join([scope, catchment_text, background])),
        "catchment_description": catchment_text,
        "site_background": background,
        "water_service_provider": _water_provider(water_text),
        "water_provider_parent": _provider_parent(water_text),
        "discharges": discharge_statements([("catchment information", catchment_text),
                                            ("site background", background),
                                            ("1.1.1", comments.get("1.1.1", ""))]),
        "permits": _permits(comments),
        "managed_sources": _managed_sources([("catchment information", catchment_text),
                                             ("site background", background),
                                             *comments.items()]),
        "audit_end_date": _audit_end(header.get("end", ""), scope, warnings),
        "ultimate_water_sources": _water_sources(water_text),
        "wastewater_service_provider": _match(
            water_text, r"((?:[A-Z][\w-]*\s+)+(?:Sewage|Wastewater|Waste Water) Treatment Plant)"),
        "receiving_water_bodies": _receiving_bodies(water_text),
        "onsite_iwras": _onsite_iwras(comments.get("1.3.6", "") + "\n" + background),
        "catchment_iwras": _catchment_iwras(comments.get("1.5.5", "")),
        "catchment_iwra_count": _iwra_count(comments.get("1.5.5", "")),
        "shared_water_challenges": _challenges(sections.get("summary of shared water challenges",
                                                            []), comments.get("1.6.1", "")),
        "findings": findings,
        "indicators": indicators,
    }
    values["operation_addresses"] = _unique(values["operation_addresses"])
    for key, label in (("decision", "decision_date"), ("valid", "valid_until"),
                       ("start", "audit_start_date")):
        values[label] = _date(header.get(key, ""), label.replace("_", " "), warnings)
    return values


def _organisation(header: dict[str, Any]) -> str:
    for text, pattern in ((header.get("scope", ""), r"conformity of (.+?) against"),
                          (header.get("summary", ""), r"certification of (.+?) at \w+ level")):
        match = re.search(pattern, text)
        if match:
            return re.sub(r"Co\.,\s*Ltd", "Co., Ltd", match.group(1).strip())
    return ""


def _report_details(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        match = re.match(r"^\s*Report (prepared by|approved by|approved on)(?:\s*\(Date\))?"
                         r"\s*:?\s*(.*)$", line, re.IGNORECASE)
        if match:
            out[match.group(1).lower()] = one_line(match.group(2))
    return out


def _score(lines: list[str]) -> float | None:
    for line in lines:
        match = re.match(r"^\s*(\d{1,3}(?:\.\d+)?)\s*$", line)
        if match:
            return float(match.group(1))
    return None


_DATE_FORMATS = ("%Y-%b-%d", "%Y-%m-%d", "%d/%m/%Y", "%d %B %Y", "%d %b %Y", "%B %d, %Y",
                 "%b %d, %Y", "%d-%b-%Y", "%Y/%m/%d", "%d.%m.%Y")


def _parse_date(text: str) -> date | None:
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text.strip().rstrip("."))
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _date(text: str, label: str, warnings: list[ReportWarning]) -> date | None:
    if not text:
        return None
    parsed = _parse_date(text)
    if parsed is None:
        warnings.append(ReportWarning(
            "bad-date", f"The {label} {text!r} is not a date I can read; left empty."))
    return parsed


def _first_date(lines: list[str]) -> date | None:
    for line in lines:
        for token in re.findall(r"\d{4}-[A-Za-z]{3}-\d{1,2}|\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4}"
                                r"|\d{1,2} [A-Z][a-z]+ \d{4}", line):
            parsed = _parse_date(token)
            if parsed:
                return parsed
    return None


def _iso_or_text(text: str) -> str:
    parsed = _parse_date(text) if text else None
    return parsed.isoformat() if parsed else text


def _announcements(lines: list[str]) -> list[Announcement]:
    out = []
    for line in lines:
        match = re.match(r"^\s*(\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{2}-\d{2})\s+(\S+)\s*$", line)
        if match:
            out.append(Announcement(date=_iso_or_text(match.group(1)), location=match.group(2)))
    return out


def _match(text: str, pattern: str) -> str:
    match = re.search(pattern, text)
    return re.sub(r"\s+", " ", match.group(1)).strip() if match else ""


def _unique(items: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for item in items:
        item = item.strip(" ,;.")
        key = re.sub(r"[\s.,]", "", item).lower()
        if item and key not in seen:
            seen[key] = item
    return list(seen.values())


_ADDRESS_WORDS = re.compile(r"\d|Road|Street|Avenue|Lane|Town|City|Province|District|Zone|Park",
                            re.IGNORECASE)


def _addresses(text: str, kind: str) -> list[str]:
    """Addresses of one kind ('Registration', 'Operation', 'Production') in the scope text."""
    pattern = re.compile(
        r"Business ((?:(?:Registration|Operation|Production) Address)"
        r"(?:\s*/\s*(?:Business )?(?:Registration|Operation|Production) Address)*)"
        r"\s+(?:was|were|is|are)\s+(.+?)(?=,\s*the Business |\.\s+[A-Z][a-z]|\.\s*$)",
        re.DOTALL,
    )
    for match in pattern.finditer(text):
        if kind in match.group(1):
            return _split_addresses(match.group(2))
    return []


def _split_addresses(text: str) -> list[str]:
    parts = [p.strip(" ,;.") for p in re.split(r";|\s+and\s+", re.sub(r"\s+", " ", text))]
    merged: list[str] = []
    for part in parts:
        if not part:
            continue
        if merged and not _ADDRESS_WORDS.search(part):
            merged[-1] = f"{merged[-1]} and {part}"
        else:
            merged.append(part)
    return merged


_UNITS = {"m²": 1.0, "m2": 1.0, "square meters": 1.0, "square metres": 1.0, "sqm": 1.0,
          "sq m": 1.0, "hectares": 10_000.0, "ha": 10_000.0, "km²": 1e6, "km2": 1e6,
          "square kilometers": 1e6, "square kilometres": 1e6, "mu": 666.6667}


def _area(text: str, lead: str) -> float | None:
    units = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
    match = re.search(lead + r"\s+(?:about |approximately |around )?([\d,]+(?:\.\d+)?)\s*"
                      r"(" + units + r")\b", text, re.IGNORECASE)
    if not match and "²" in text:  # "\b" fails after "²"
        match = re.search(lead + r"\s+(?:about |approximately )?([\d,]+(?:\.\d+)?)\s*(m²|km²)",
                          text, re.IGNORECASE)
    if not match:
        return None
    return round(float(match.group(1).replace(",", "")) * _UNITS[match.group(2).lower()], 2)


def _staff(text: str) -> int | None:
    match = re.search(r"number of (?:employees|staff|workers)\s+(?:is|are|was|were)?\s*"
                      r"(?:about|approximately|around|nearly)?\s*([\d,]+)", text, re.IGNORECASE)
    if not match:
        match = re.search(r"(?:about|approximately|around)?\s*([\d,]+)\s+(?:employees|staff)\b",
                          text)
    return int(match.group(1).replace(",", "")) if match else None


def _products(text: str) -> str:
    return _match(text, r"The (?:site|facility|factory|plant) (?:is a |is an |mainly )?"
                        r"(?:design(?:s)? and |engaged in )?(?:produc\w*|manufactur\w*) (?:of )?"
                        r"(.+?)\.(?=\s+[A-Z])")


def _catchment_name(text: str) -> str:
    name = _match(text, r"(?:located|lies|is) in (?:the )?([A-Z][\w' -]*?(?:Basin|Catchment|"
                        r"Watershed))")
    if not name:
        name = _match(text, r"Outer Boundary of the \w+ is (?:the )?([A-Z][\w' -]*?(?:Basin|"
                            r"Catchment))")
    return name


def _water_provider(text: str) -> str:
    return _match(text, r"(?:supplied|provided) by (?:the )?([A-Z].{2,80}?)"
                        r"(?=,\s*which|\s*\(|;|\.\s+[A-Z]|\.?\s*$)")


def _provider_parent(text: str) -> str:
    suffix = r"(?:Group|Company|Corporation|Authority|Board|plc|S\.A\.|GmbH|Inc\.)"
    return _match(text, r"(?:affiliated (?:with|to)|a subsidiary of|owned by|belongs to|part of) "
                        r"(?:the )?([A-Z][\w&' -]{2,60}?(?:" + suffix + r"(?: Co\., ?Ltd\.?)?"
                        r"|Co\., ?Ltd\.?))(?=[\s,;).]|$)")


_MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"


def _audit_end(header_value: str, scope: str, warnings: list[ReportWarning]) -> date | None:
    """The last day of the audit: an 'Audit end date' line, or '1st to 3rd March 2023'."""
    if header_value:
        return _date(header_value, "audit end date", warnings)
    match = re.search(r"audit (?:was )?(?:conducted|carried out|performed|held) (?:on|from) "
                      r"(?:the )?\d{1,2}(?:st|nd|rd|th)?(?: (" + _MONTHS + r"))?(?: (\d{4}))?"
                      r"\s*(?:to|-|–|until|and)\s*(?:the )?(\d{1,2})(?:st|nd|rd|th)? (" + _MONTHS
                      + r") (\d{4})", scope, re.IGNORECASE)
    if match:
        return _parse_date(f"{match.group(3)} {match.group(4)} {match.group(5)}") or \
            _parse_date(f"{match.group(3)} {match.group(4)[:3]} {match.group(5)}")
    match = re.search(r"audit (?:was )?(?:conducted|carried out|performed|held) from "
                      r"(\d{4}-\d{2}-\d{2}) to (\d{4}-\d{2}-\d{2})", scope, re.IGNORECASE)
    return _parse_date(match.group(2)) if match else None


_PERMIT_RE = re.compile(
    r"((?:pollutant |waste ?water |effluent )?discharge (?:registration|permit|licen[cs]e|consent)"
    r"|water (?:abstraction|withdrawal|intake|use) (?:permit|licen[cs]e|right)"
    r"|drainage (?:permit|licen[cs]e)|(?:abstraction|environmental) (?:permit|licen[cs]e))"
    r"\s*\(?\s*(?:No\.?|number|#)?\s*:?\s*([A-Z0-9][A-Z0-9/-]{4,})?,?\s*"
    r"(?:valid (?:from (\d{4}-\d{2}-\d{2}) )?(?:to|until|till) (\d{4}-\d{2}-\d{2}))?",
    re.IGNORECASE)


def _permits(comments: dict[str, str]) -> list[Permit]:
    """Permits and registrations with a number or a validity, from the indicator comments."""
    out: list[Permit] = []
    seen: set[tuple[str, str]] = set()
    for indicator, comment in comments.items():
        for sentence in sentences(comment):
            for match in _PERMIT_RE.finditer(sentence):
                kind, number, start, end = match.groups()
                if not (number or end):
                    continue
                key = ((number or "").upper(), (end or ""))
                if key in seen:
                    continue
                seen.add(key)
                out.append(Permit(kind=" ".join(kind.lower().split()), number=number or "",
                                  valid_from=_parse_date(start) if start else None,
                                  valid_until=_parse_date(end) if end else None,
                                  section=indicator, quote=sentence))
    return out


_MANAGED = (
    ("rainwater reuse", re.compile(r"rain ?water (?:reuse|recycling|recovery|harvesting) "
                                   r"(?:project|system|facility)", re.I)),
    ("rainwater harvesting", re.compile(r"\b(?:uses?|used|using|collects?|collected|harvests?"
                                        r"|harvested) (?:the )?rain ?water (?:for|to)\b"
                                        r"|\brain ?water (?:is|was|are) (?:harvested|collected) "
                                        r"(?:for|to)\b", re.I)),
    ("wastewater reuse", re.compile(r"\b(?:uses?|used|using) (?:recycled?|reclaimed|treated) "
                                    r"water from (?:the )?waste ?water\b|\bwaste ?water (?:is )?"
                                    r"(?:treated \w+ )?(?:and )?reused\b", re.I)),
)
_VOLUME_RE = re.compile(r"(\d[\d,.]*\s*(?:tons?|t|m³|m3|cubic met(?:er|re)s)\s*(?:/|per)\s*"
                        r"(?:year|yr|a|annum|day|d))", re.I)
_USE_RE = re.compile(r"rain ?water (?:(?:is|was|are) (?:harvested|collected) )?(?:for|to) "
                     r"([a-z][\w ]{2,40}?)(?=[.,;]|\s+and\b|$)", re.I)
_REUSE_USE_RE = re.compile(r"waste ?water for ([a-z][\w ]{2,30}?)(?=[.,;]|\s+and\b|$)", re.I)


def _managed_sources(texts: list[tuple[str, str]]) -> list[ManagedSource]:
    """Water sources the site manages itself, each kind once, with its sentence.

    Rainwater harvesting and reuse, reuse of treated wastewater.
    """
    out: list[ManagedSource] = []
    seen: set[str] = set()
    for section, text in texts:
        for sentence in sentences(text):
            for kind, pattern in _MANAGED:
                if kind in seen or not pattern.search(sentence):
                    continue
                seen.add(kind)
                use = _USE_RE.search(sentence) if kind.startswith("rain") else \
                    _REUSE_USE_RE.search(sentence)
                volume = _VOLUME_RE.search(sentence)
                out.append(ManagedSource(
                    kind=kind,
                    use=" ".join(use.group(1).split()) if use else "",
                    volume=" ".join(volume.group(1).split()) if volume else "",
                    section=section, quote=sentence))
    return out


def _water_sources(text: str) -> list[str]:
    listed = _match(text, r"(?:two|three|dual|multiple|double) (?:water )?sources?,? "
                          r"(?:\(|of (?:the )?|from (?:the )?|: ?)([^).;]+)")
    if not listed:
        listed = _match(text, r"(?:water )?sources? (?:is|are) (?:the )?([A-Z][^.;]+)")
    return _unique([re.sub(r"^the ", "", p.strip()) for p in re.split(r",|\band\b", listed)])


def _receiving_bodies(text: str) -> list[str]:
    names = re.findall(r"(?:finally|ultimately|eventually) (?:discharged into|discharges? into|"
                       r"flows? (?:in)?to|enters?) (?:the )?([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)",
                       text)
    return _unique(names)


def _onsite_iwras(text: str) -> list[str]:
    names: list[str] = []
    for match in re.finditer(r"identified (.+?) as (?:its|their|the site's|an?) on-?site IWRAs?",
                             text, re.IGNORECASE):
        names += [re.sub(r"^the\s+", "", n.strip()) for n in re.split(r",|\band\b",
                                                                       match.group(1))
                  if n.strip()]
    return _unique(names)


def _catchment_iwras(comment: str) -> list[str]:
    names: list[str] = []
    for match in re.finditer(r"(?:i\.e\.,?|e\.g\.,?|such as:?|including:?)\s+(.+?)(?=\n|$)",
                             comment):
        for name in re.split(r";", match.group(1)):
            name = name.strip(" .,")
            if name and len(name) < 100 and name[0].isupper():
                names.append(name)
    return _unique(names) if re.search(r"IWRA|Important Water", comment) else []


def _iwra_count(comment: str) -> int | None:
    match = re.search(r"(\d+) (?:IWRAs|Important Water[- ]Related Areas)", comment)
    return int(match.group(1)) if match else None


def _challenges(lines: list[str], comment: str) -> list[SharedChallenge]:
    items = [clean_text(m.group(1)) for m in
             (re.match(r"^\s*\d{1,2}[.)]\s+(.+)$", line) for line in lines) if m]
    priorities: dict[int, str] = {}
    for match in re.finditer(r"(?:^|\s)(\d{1,2})\.\s+(.+?)(?=\s\d{1,2}\.\s+[A-Z]|\Z)",
                             comment, re.DOTALL):
        level = re.search(r"\bLevel\s*(\d+)", match.group(2))
        if level:
            priorities[int(match.group(1))] = f"Level {level.group(1)}"
        if not lines:
            items.append(clean_text(re.split(r"\(?\s*Level\s*\d", match.group(2))[0]))
    return [SharedChallenge(text=text, priority=priorities.get(number, ""))
            for number, text in enumerate(items, start=1) if text]


def _address_key(address: str) -> tuple[str, str]:
    match = re.match(r"No\.?\s*(\d+)[,\s]+(.*?)(?:,|$)", address)
    return (match.group(1), match.group(2).lower()) if match else ("", address.lower())


def address_warnings(record: SiteRecord) -> list[ReportWarning]:
    """Warn about addresses spelt two ways and a site background that contradicts the scope."""
    out = []
    keys = [(_address_key(a), a) for a in record.operation_addresses]
    for i, ((number, street), address) in enumerate(keys):
        for (number2, street2), address2 in keys[i + 1:]:
            if (number and number == number2 and street != street2
                    and difflib.SequenceMatcher(None, street, street2).ratio() > 0.8):
                out.append(ReportWarning(
                    "address-typo", f"Operation addresses {address!r} and {address2!r} look "
                                    f"like the same place spelt two ways."))
    background = record.site_background
    if background and record.operation_addresses:
        located = _match(background, r"(?:is located at|located at|address(?:es)? (?:is|are)) "
                                     r"(.+?)(?:respectively)?\.(?=\s+[A-Z])")
        for address in _split_addresses(located) if located else []:
            if _address_key(address) not in {k for k, _ in keys}:
                out.append(ReportWarning(
                    "background-address", f"The site background gives the address {address!r}, "
                                          f"which is not among the operation addresses of the "
                                          f"scope of assessment."))
    scope_products = _products(record.scope_of_assessment)
    background_products = _products(background)
    if scope_products and background_products and scope_products != background_products:
        out.append(ReportWarning(
            "background-products", f"The site background describes the products as "
                                   f"{background_products!r} but the scope of assessment as "
                                   f"{scope_products!r}; the background may be copied from "
                                   f"another site's report."))
    return out
