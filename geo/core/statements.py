"""What a site record's own words say, and where they contradict each other.

A certification report states its facts in prose, often twice (the catchment
information and the auditor's comment on 1.1.1), and not always the same way.  This
module reads a :class:`~geo.core.records.SiteRecord`'s texts sentence by sentence:

* :func:`record_texts` — the record's prose by report section;
* :func:`find_statement` — the first sentence containing some words, with its section;
* :func:`field_basis` / :func:`value_basis` — the :class:`~geo.core.basis.Basis` of a
  record field: *stated* (with the sentence that says it), or what the record's
  ``field_bases`` declares (*borrowed*, *assumed*…), or *assumed* for a hand edit no
  sentence of the report supports;
* :func:`discharge_statements` — where each stream (domestic, industrial, storm) goes,
  one :class:`~geo.core.records.Discharge` per sentence that says it;
* :func:`report_contradictions` — the places where the report contradicts itself
  (the same effluent sent to two different rivers, IWRAs counted but not named).

The importer (:mod:`geo.reports`) raises the contradictions as review warnings and the
scope (:mod:`geo.scope`) lists them in its "map vs report" section; both call here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from geo.core.basis import Basis
from geo.core.records import Discharge, SiteRecord

__all__ = [
    "Contradiction",
    "discharge_statements",
    "field_basis",
    "find_statement",
    "record_texts",
    "report_contradictions",
    "sentences",
    "value_basis",
]

_ABBREVIATIONS = ("co.", "ltd.", "no.", "inc.", "corp.", "st.", "e.g.", "i.e.", "approx.",
                  "i.e.,", "e.g.,")
_STOPWORDS = {"the", "river", "lake", "and", "its", "tributaries", "of", "co", "ltd", "water",
              "plant", "city", "section", "basin", "reservoir", "canal", "group", "company",
              "treatment", "sewage", "wastewater", "municipal", "local", "no"}


def sentences(text: str) -> list[str]:
    """Sentences of report text; "Co." / "Ltd." / "No." / "i.e." do not end one."""
    out: list[str] = []
    for line in text.splitlines():
        start = 0
        for end in re.finditer(r"[.!?;。]\s+(?=\S)", line):
            head = line[start:end.start() + 1]
            if head.lower().endswith(_ABBREVIATIONS):
                continue
            out.append(head)
            start = end.end()
        out.append(line[start:])
    return [" ".join(s.split()) for s in out if s.strip()]


def record_texts(record: SiteRecord) -> list[tuple[str, str]]:
    """(section, text) of the record's prose, in the order a reader meets it.

    Sections: ``scope of assessment``, ``catchment information``, ``site background``
    and each indicator's comment by its id (``1.1.1``).
    """
    texts = [("scope of assessment", record.scope_of_assessment),
             ("catchment information", record.catchment_description),
             ("site background", record.site_background)]
    texts += [(i.id, i.comment) for i in record.indicators if i.comment]
    return [(section, text) for section, text in texts if text and text.strip()]


def find_statement(record: SiteRecord, words: str,
                   sections: tuple[str, ...] | None = None,
                   also: re.Pattern[str] | None = None) -> tuple[str, str] | None:
    """(section, sentence) of the first sentence holding ``words`` (case and spaces aside).

    With ``sections``, only those sections are read; with ``also``, only sentences that
    match it too.
    """
    needle = _norm(words)
    if not needle:
        return None
    for section, text in record_texts(record):
        if sections is not None and section not in sections:
            continue
        for sentence in sentences(text):
            if needle in _norm(sentence) and (also is None or also.search(sentence)):
                return section, sentence
    return None


# Where a field's value is said: (sections, a word the sentence must hold), tried first.
_FIELD_HINTS: dict[str, tuple[tuple[str, ...] | None, re.Pattern[str] | None]] = {
    "receiving_water_bodies": (None, re.compile(r"discharg|flows?\b|drains?", re.I)),
    "onsite_iwras": (("1.3.6",), None),
    "catchment_iwras": (("1.5.5",), None),
    "ultimate_water_sources": (None, re.compile(r"sources?\b", re.I)),
}


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[.,;:()]", " ", text.lower()).split())


def key_word(name: str) -> str:
    """The most telling word of a name (``Kuilei`` for "Kuilei Lake")."""
    words = [w for w in re.findall(r"[\w'-]+", name) if w.lower() not in _STOPWORDS]
    return max(words, key=len) if words else name


def value_basis(record: SiteRecord, field: str, value: str) -> Basis:
    """The basis of one value of a record field (one item of a list field, or the field).

    ``record.field_bases[field]`` wins when set (a hand-recorded *borrowed* or
    *assumed*).  Otherwise the value is *stated* when a sentence of the report holds it
    (whole, or its most telling word), quoted with its section; a field corrected by hand
    that no sentence supports is *assumed*; any other value is *stated* by the report's
    header or tables (no sentence to quote).
    """
    declared = record.field_bases.get(field)
    if declared is not None:
        return declared
    report = record.audit_number
    sections, also = _FIELD_HINTS.get(field, (None, None))
    found = find_statement(record, value, sections, also) if value and (sections or also) \
        else None
    found = found or (find_statement(record, value) if value else None)
    # A short name ("Kuilei Lake") may be quoted by its telling word alone ("Kuilei"); a
    # long one ("Kunshan Water Group Co., Ltd.") only whole: "Kunshan" is in every line.
    if found is None and value and key_word(value) != value and len(value.split()) <= 3:
        found = find_statement(record, key_word(value))
    if found is not None:
        return Basis(kind="stated", report=report, section=found[0], quote=found[1])
    if field in record.edited_fields:
        return Basis(kind="assumed", why=f"{field} was corrected by hand and no sentence of "
                                         f"report {report or '(none)'} holds {value!r}; see "
                                         "the record's notes")
    return Basis(kind="stated", report=report or record.source,
                 section="header" if value else "")


def field_basis(record: SiteRecord, field: str) -> Basis:
    """The basis of a whole record field (its value as text; lists: the first item)."""
    value = getattr(record, field, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value_basis(record, field, "" if value is None else str(value))


# --- where each stream goes --------------------------------------------------------------

_NAME = r"([A-Z][\w'-]*(?:\s+(?:[A-Z][\w'-]*|of|de|du|del|la|le))*)"
_ULTIMATE = re.compile(r"(?:finally|ultimately|eventually|then) (?:be )?(?:is )?"
                       r"(?:discharged|discharges?|flows?|drains?|goes|enters?|ends?)"
                       r"(?: (?:in)?to| into| in)? (?:the )?" + _NAME)
_PLANT = re.compile(r"((?:[A-Z][\w'-]*\s+){1,8}(?:Sewage|Wastewater|Waste Water|Effluent) "
                    r"Treatment (?:Plant|Works))")
_FIRST = re.compile(r"(?:discharged|discharges?|flows?|drains?|sent|goes) (?:in)?to "
                    r"(?:the |a |an )?"
                    r"([a-z][\w -]{2,60}?)(?=\s+\(|,|\s+and\b|\s+then\b|\s+before\b|\.|$)")
_NOT_DISCHARGED = re.compile(r"\b(?:not discharged?|no discharge|zero (?:liquid )?discharge|"
                             r"without (?:any )?discharge|not released)\b", re.IGNORECASE)
_STREAMS = (("storm", re.compile(r"\b(?:rain ?water|storm ?water|run-?off)\b", re.I)),
            ("industrial", re.compile(r"\b(?:industr\w* (?:waste ?water|effluent|sewage)|"
                                      r"(?:process|production) (?:waste ?water|effluent))\b",
                                      re.I)),
            ("domestic", re.compile(r"\b(?:domestic|sanitary) (?:waste ?water|sewage|effluent)\b",
                                    re.I)),
            ("wastewater", re.compile(r"\b(?:waste ?water|sewage|effluent)\b", re.I)))
_DISCHARGE_SECTIONS = ("catchment information", "site background", "1.1.1")


def discharge_statements(texts: list[tuple[str, str]]) -> list[Discharge]:
    """Every sentence saying where a stream of the site's water goes, as a Discharge.

    ``texts`` are (section, text) pairs (:func:`record_texts` of a record, or the parts
    of a report being imported).  Only the catchment information, the site background
    and the 1.1.1 comment are read: they describe the site's own streams.
    """
    out: list[Discharge] = []
    seen: set[tuple[str, str, str, str, bool]] = set()
    for section, text in texts:
        if section not in _DISCHARGE_SECTIONS:
            continue
        for sentence in sentences(text):
            discharge = _discharge(section, sentence)
            if discharge is None:
                continue
            key = (discharge.stream, discharge.provider, discharge.receiver,
                   discharge.ultimate_receiver, discharge.discharged)
            if key not in seen:
                seen.add(key)
                out.append(discharge)
    return out


def _discharge(section: str, sentence: str) -> Discharge | None:
    stream = next((name for name, pattern in _STREAMS if pattern.search(sentence)), None)
    if stream is None:
        return None
    if stream == "storm" and re.search(r"\bused? rain ?water for\b", sentence, re.I) and \
            not _ULTIMATE.search(sentence):
        return None  # rainwater *use* is a managed source, not a discharge
    not_discharged = bool(_NOT_DISCHARGED.search(sentence))
    ultimate = _ULTIMATE.search(sentence)
    plant = _PLANT.search(sentence)
    first = _FIRST.search(sentence)
    if not (ultimate or plant or first or not_discharged):
        return None
    provider = " ".join(plant.group(1).split()) if plant else ""
    if not provider and re.search(r"\bmunicipal (?:WWTP|sewage plant|sewer)", sentence):
        provider = "municipal wastewater treatment plant"
    receiver = provider or (" ".join(first.group(1).split()) if first else "")
    return Discharge(
        stream=stream,
        provider=provider,
        receiver=receiver,
        ultimate_receiver=" ".join(ultimate.group(1).split()) if ultimate else "",
        discharged=not not_discharged,
        section=section, quote=sentence)


# --- contradictions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Contradiction:
    """A place where the report contradicts itself (``code`` stable for tests)."""

    code: str
    message: str
    bases: tuple[Basis, ...] = ()


def report_contradictions(record: SiteRecord) -> list[Contradiction]:
    """Every place where the record's report says two different things.

    * ``receiving-waters`` — the effluent of one treatment plant (or one stream) is sent
      to different ultimate receiving waters in different sections;
    * ``iwra-count`` — the report counts more catchment IWRAs than it names.
    """
    out: list[Contradiction] = []
    groups: dict[str, list[Discharge]] = {}
    for d in record.discharges or discharge_statements(record_texts(record)):
        if d.discharged and d.ultimate_receiver:
            groups.setdefault(d.provider.lower() or d.stream, []).append(d)
    for items in groups.values():
        targets = list(dict.fromkeys(d.ultimate_receiver for d in items))
        if len(targets) < 2:
            continue
        what = (f"the effluent of {items[0].provider}" if items[0].provider
                else f"the {items[0].stream} stream")
        said = "; ".join(f"to the {t} ({_where(items, t)})" for t in targets)
        bases = tuple(Basis(kind="stated", report=record.audit_number, section=d.section,
                            quote=d.quote) for d in items)
        out.append(Contradiction(
            "receiving-waters",
            f"The report sends {what} to {len(targets)} different ultimate receiving waters: "
            f"{said}. Which one is it? Ask the site, and record the answer as a discharge "
            "with its source.", bases))
    named = len(record.catchment_iwras)
    if record.catchment_iwra_count is not None and record.catchment_iwra_count > named:
        quote = find_statement(record, f"{record.catchment_iwra_count} IWRA", ("1.5.5",))
        out.append(Contradiction(
            "iwra-count",
            f"The report counts {record.catchment_iwra_count} catchment IWRAs (1.5.5) but names "
            f"{named}: {record.catchment_iwra_count - named} are neither named nor mappable "
            "from the report; ask for the catchment background report's list.",
            (Basis(kind="stated", report=record.audit_number, section="1.5.5",
                   quote=quote[1] if quote else ""),)))
    return out


def _where(items: list[Discharge], target: str) -> str:
    d = next(d for d in items if d.ultimate_receiver == target)
    quote = d.quote if len(d.quote) <= 160 else d.quote[:159] + "…"
    return f"{d.section}: “{quote}”"
