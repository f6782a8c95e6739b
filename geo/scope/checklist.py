"""The AWS Standard v2.0 indicator 1.1.1 checklist: six elements, judged for one site.

:func:`build_checklist` turns gathered facts (:class:`ChecklistFacts`: the site's mapped
features, its water chain, the catchment units it relies on and affects, its record) into
one :class:`ElementCheck` per element: *present*, *partial* or *missing*, the features
that evidence it, what to do about what is missing — in words a site manager acts on —
and caveats (illustrative evidence, inferred links, record facts).  No geometry work
happens here; :mod:`geo.scope.assess` gathers the facts.

Status rules:

* *present* — mapped from surveyed, official or derived data; caveats say when a link
  is inferred.
* *partial* — something is mapped but the record or the chain shows what is not
  (a gap in the chain, a provider or receiving water the record names and no chain
  reaches, mapped area more than 25 % off the record's, no piping) — or the evidence
  includes features **placed illustratively**: illustrative evidence never gives a clean
  *present*; the caveat names the features to replace with surveyed data.
* *missing* — nothing evidences the element.
* *not applicable* — only for owned water sources: none is mapped and the site record
  says where the water comes from (a water service provider, and the report's own
  words quoted as the evidence) without mentioning a well, borehole or intake of the
  site.  A record that mentions one (or no record fact at all) makes it *missing*.
  Rainwater use the report mentions is pointed out as a source to map if the site
  collects it.
* Record names are matched to chain features by their most telling word (``Kuilei``
  for "Kuilei Lake"), case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from geo.core.basis import Basis
from geo.core.catalogue import AWS_ELEMENTS, AccuracyClass, AwsElement
from geo.core.records import SiteRecord
from geo.core.statements import sentences
from geo.scope.flows import WATER_BODY_KINDS, ChainNode, WaterChain

__all__ = [
    "RECORD_LAYER",
    "STATUSES",
    "ChecklistFacts",
    "ElementCheck",
    "Evidence",
    "Status",
    "build_checklist",
    "evidence_of",
    "missing_kind",
    "score_text",
]

Status = Literal["present", "partial", "missing", "not applicable"]
#: Every status, best first.
STATUSES: tuple[Status, ...] = ("present", "partial", "missing", "not applicable")
#: ``Evidence.layer`` / ``kind`` of a fact taken from the site record (no feature).
RECORD_LAYER = "site record"
_AREA_MISMATCH = 0.25  # mapped vs recorded site area: more than 25 % apart is "partial"
_NAME_STOPWORDS = {"the", "river", "lake", "and", "its", "tributaries", "of", "co", "ltd",
                   "water", "plant", "city", "section", "basin", "reservoir", "canal"}


@dataclass(frozen=True)
class Evidence:
    """A feature that evidences a checklist element."""

    layer: str
    fid: str
    name: str
    accuracy: str | None
    kind: str


@dataclass(frozen=True)
class ElementCheck:
    """One of the six 1.1.1 elements, judged for a site.

    ``missing`` says what to do, in words a site manager acts on; ``caveats`` say what the
    evidence rests on (illustrative features, inferred links, record facts); ``notes``
    add context that needs no action.
    """

    element: AwsElement
    title: str
    status: Status
    evidence: tuple[Evidence, ...] = ()
    missing: tuple[str, ...] = ()
    caveats: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    #: What the judgement rests on, the weakest input travelling
    #: (set by :func:`geo.scope.evidence.attach_bases`).
    basis: Basis | None = None


@dataclass(frozen=True)
class ChecklistFacts:
    """What the checklist of one site rests on (gathered by :mod:`geo.scope.assess`).

    ``parcels`` and ``owned`` are the site's features (``owned``: everything but parcels
    carrying its ``aws_ref``); ``relied_on`` / ``affected`` are unit counts and
    ``unit_evidence`` those units plus the site's own; ``containing`` the catchment
    polygons its parcels lie in; ``declared`` / ``empty_layers`` map a layer kind to its
    layer ids (to say why something is missing).
    """

    aws_ref: str
    record: SiteRecord | None
    chain: WaterChain
    parcels: tuple[Evidence, ...] = ()
    owned: tuple[Evidence, ...] = ()
    non_polygons: frozenset[str] = frozenset()
    area_m2: float = 0.0
    has_units: bool = False
    relied_on: int = 0
    affected: int = 0
    unit_evidence: tuple[Evidence, ...] = ()
    containing: tuple[Evidence, ...] = ()
    one_catchment_ok: bool = False
    one_catchment_message: str = ""
    declared: dict[str, list[str]] = field(default_factory=dict)
    empty_layers: dict[str, list[str]] = field(default_factory=dict)


def evidence_of(rows: pd.DataFrame) -> tuple[Evidence, ...]:
    """One :class:`Evidence` per row of a frame with the standard columns."""
    accuracy = rows["accuracy"] if "accuracy" in rows else pd.Series(None, index=rows.index)
    return tuple(
        Evidence(str(layer), str(fid), str(name), None if pd.isna(acc) else str(acc), str(kind))
        for layer, fid, name, acc, kind in zip(
            rows["layer"].tolist(), rows["fid"].tolist(), rows["name"].tolist(),
            accuracy.astype(object).tolist(), rows["kind"].tolist(), strict=True))


def _node_evidence(nodes: Iterable[ChainNode]) -> tuple[Evidence, ...]:
    return tuple(Evidence(n.layer, n.fid, n.name, n.accuracy, n.kind)
                 for n in nodes if n.kind != "site")


def _illustrative(evidence: Sequence[Evidence]) -> list[Evidence]:
    return [e for e in evidence if e.accuracy == AccuracyClass.ILLUSTRATIVE.value]


def _illustrative_caveat(evidence: Sequence[Evidence]) -> tuple[str, ...]:
    shaky = _illustrative(evidence)
    if not shaky:
        return ()
    names = ", ".join(e.name for e in shaky[:3]) + (
        f" and {len(shaky) - 3} more" if len(shaky) > 3 else "")
    return (f"{len(shaky)} of {len(evidence)} evidence feature(s) placed illustratively "
            f"({names}): replace with surveyed data (or official positions) — until then "
            "this element is at most partial.",)


def _inferred_caveat(chain: WaterChain, side: str) -> tuple[str, ...]:
    names = {n.fid: n.name for n in chain.nodes}
    sides = {n.fid: n.side for n in chain.nodes}
    out = []
    for e in chain.edges:
        if e.how == "inferred" and e.via == "nearest water body" and (
                sides.get(e.source) == side or sides.get(e.target) == side):
            out.append(f"Link {names.get(e.source, e.source)} → {names.get(e.target, e.target)} "
                       f"is inferred (nearest water body, {e.distance_m or 0:.0f} m); confirm it "
                       "and record it as flows_to.")
    return tuple(out)


def _key_word(name: str) -> str:
    words = [w for w in re.findall(r"[\w']+", name.lower()) if w not in _NAME_STOPWORDS]
    return max(words, key=len) if words else name.lower().strip()


def _unmatched(names: Iterable[str], nodes: Iterable[ChainNode]) -> list[str]:
    """Record names no chain node matches (by their most telling word)."""
    haystack = " ".join(n.name.lower() for n in nodes)
    return [name for name in names if name.strip() and _key_word(name) not in haystack]


def missing_kind(declared: dict[str, list[str]], empty: dict[str, list[str]], kind: str) -> str:
    """Why a site has no feature of ``kind``, in words (no layer, empty layers, no link)."""
    if kind not in declared:
        return f"the workspace has no layer of kind '{kind}'"
    if len(empty.get(kind, [])) == len(declared[kind]):
        return f"layer(s) {', '.join(declared[kind])} hold no features"
    return f"no feature of layer(s) {', '.join(declared[kind])} has this site's aws_ref"


def _check(element: AwsElement, status: Status, evidence: Sequence[Evidence] = (),
           missing: Sequence[str] = (), caveats: Sequence[str] = (),
           notes: Sequence[str] = ()) -> ElementCheck:
    evidence = tuple(dict.fromkeys(evidence))
    if status == "present" and _illustrative(evidence):
        status = "partial"  # illustrative positions are not a map an auditor can rely on
    return ElementCheck(element, AWS_ELEMENTS[element], status, evidence,
                        tuple(dict.fromkeys(missing)),
                        tuple(dict.fromkeys((*_illustrative_caveat(evidence), *caveats))),
                        tuple(notes))


def _check_boundaries(facts: ChecklistFacts) -> ElementCheck:
    aws_ref, record, parcels, area_m2 = facts.aws_ref, facts.record, facts.parcels, facts.area_m2
    element = AwsElement.SITE_BOUNDARIES
    if not parcels:
        return _check(element, "missing", missing=(
            "Map every parcel of the site as polygons "
            f"({missing_kind(facts.declared, facts.empty_layers, 'site')}); "
            f"give each aws_ref = {aws_ref!r}.",))
    evidence = tuple(parcels)
    missing = []
    points = [e.fid for e in parcels if e.fid in facts.non_polygons]
    if points:
        missing.append(f"Parcel(s) {', '.join(points)} are not polygons: "
                       "draw each boundary as a polygon.")
    notes = [f"{len(parcels)} parcel(s), {area_m2:,.0f} m² mapped."]
    if record is not None and record.area_m2:
        gap = abs(area_m2 - record.area_m2) / record.area_m2
        if gap > _AREA_MISMATCH:
            missing.append(
                f"The mapped parcels cover {area_m2:,.0f} m² but the site record says "
                f"{record.area_m2:,.0f} m²: map the missing blocks (1.1.1 asks for all "
                "parcels) or correct the record's area.")
        else:
            notes.append(f"Matches the record's {record.area_m2:,.0f} m² within "
                         f"{gap:.0%}.")
    return _check(element, "partial" if missing else "present", evidence, missing, notes=notes)


def _check_infrastructure(facts: ChecklistFacts) -> ElementCheck:
    aws_ref, owned = facts.aws_ref, facts.owned
    element = AwsElement.INFRASTRUCTURE
    pipes = [e for e in owned if e.kind == "pipe"]
    other = [e for e in owned if e.kind == "facility"]
    if not pipes and not other:
        return _check(element, "missing", missing=(
            "Map the water-related infrastructure the site owns or manages — the piping "
            "network (supply, rainwater, sewer), meters, tanks, treatment and reuse units — "
            f"in layers of kind 'pipe' / 'facility' with aws_ref = {aws_ref!r} "
            f"({missing_kind(facts.declared, facts.empty_layers, 'pipe')}).",))
    evidence = (*pipes, *other)
    if not pipes:
        return _check(element, "partial", evidence, missing=(
            "Map the site's piping network (supply, rainwater and sewer pipes) in a layer of "
            f"kind 'pipe' with aws_ref = {aws_ref!r}; 1.1.1 names piping explicitly.",))
    return _check(element, "present", evidence)


# What a record's words say about where the site's water comes from.  "well" alone is
# not matched: "as well as" is in every report.
_OWN_SOURCE = re.compile(
    r"\b(?:wells|boreholes?|groundwater (?:abstraction|extraction|pumping|wells?)"
    r"|(?:deep|tube|water|own|groundwater|private|site) well"
    r"|(?:own|self-owned|private|site's) (?:water )?(?:intakes?|sources?)"
    r"|self-supplied|abstracts? (?:ground|surface|river|lake) ?water)\b", re.IGNORECASE)
_PROVIDER_WORDS = re.compile(
    r"municipal water|tap water|water (?:company|group|supply company|utility|works)"
    r"|water service provider|public (?:water )?supply|supplied by|local water|自来水",
    re.IGNORECASE)
_RAIN_USE = re.compile(
    r"rain ?water (?:for|is (?:collected|harvested|reused)|harvest|reuse|recover|collect|recycl)"
    r"|(?:harvest|collect|reus|recover)\w* (?:the )?rain ?water", re.IGNORECASE)
_QUOTE_CHARS = 220


def _quote(sentence: str) -> str:
    sentence = " ".join(sentence.split())
    return sentence if len(sentence) <= _QUOTE_CHARS else sentence[:_QUOTE_CHARS - 1] + "…"


def _record_texts(record: SiteRecord) -> list[tuple[str, str]]:
    """(field, text) of the record's words about its water: background and 1.1.1."""
    texts = [("catchment_description", record.catchment_description),
             ("site_background", record.site_background)]
    texts += [(f"indicators[{i.id}]", i.comment) for i in record.indicators
              if i.id.startswith("1.1.") and i.comment]
    return [(name, text) for name, text in texts if text.strip()]


def _first_match(record: SiteRecord, pattern: re.Pattern[str],
                 also: str = "") -> tuple[str, str] | None:
    """(field, quoted sentence) of the first sentence matching ``pattern`` (or ``also``)."""
    for name, text in _record_texts(record):
        for sentence in sentences(text):
            if pattern.search(sentence) or (also and also.lower() in sentence.lower()):
                return name, _quote(sentence)
    return None


def _record_fact(aws_ref: str, field_name: str, text: str) -> Evidence:
    return Evidence(RECORD_LAYER, f"{aws_ref}#{field_name}", text, "record", "record")


def _check_owned_sources(facts: ChecklistFacts) -> ElementCheck:
    aws_ref, record, owned = facts.aws_ref, facts.record, facts.owned
    element = AwsElement.OWNED_WATER_SOURCES
    sources = [e for e in owned if e.kind == "water_source"]
    how_to_map = (f"map the wells, intakes or rainwater harvesting the site owns or manages "
                  f"(kind 'water_source', aws_ref = {aws_ref!r})")
    if sources:
        return _check(element, "present", sources)
    if record is None:
        return _check(element, "missing", missing=(
            f"Nothing says whether the site owns water sources (no site record): {how_to_map}; "
            "if a provider supplies all its water, import the certification report "
            "(catchscope import-report) or record the water service provider.",))
    if record.managed_sources:
        # Rainwater the site harvests, water it reuses: sources it manages (1.1.1 element 3).
        what = "; ".join(
            f"{m.kind}" + (f" for {m.use}" if m.use else "") + (f", {m.volume}" if m.volume
                                                                 else "")
            + (f" ({m.section}: “{_quote(m.quote)}”)" if m.quote else "")
            for m in record.managed_sources)
        managed = tuple(_record_fact(aws_ref, f"managed_sources[{k}]",
                                      f"Site record: {m.kind}"
                                      + (f" for {m.use}" if m.use else ""))
                         for k, m in enumerate(record.managed_sources))
        return _check(element, "missing", managed, missing=(
            f"The report describes water sources the site manages: {what}. None is mapped: "
            f"{how_to_map}.",))
    own = _first_match(record, _OWN_SOURCE)
    if own is not None:
        return _check(element, "missing", (_record_fact(aws_ref, *own),), missing=(
            f"The site record mentions a source of its own (“{own[1]}”, {own[0]}) but none "
            f"is mapped: {how_to_map}.",))
    provider = record.water_service_provider.strip()
    if not provider:
        return _check(element, "missing", missing=(
            f"No water source of the site is mapped and the record names no water service "
            f"provider: {how_to_map}; if a provider supplies all its water, record it "
            "(water_service_provider).",))
    said = _first_match(record, _PROVIDER_WORDS, also=_key_word(provider))
    # The quoted sentence is the evidence only when it names the provider; otherwise the
    # provider field is, and its basis (geo.core.statements.field_basis) says where the
    # name comes from — another report's words, for a borrowed name (issue 15).
    where = (said[0] if said and _key_word(provider).lower() in said[1].lower()
             else "water_service_provider")
    evidence = _record_fact(aws_ref, where, f"Site record ({where}): water supplied by "
                                            f"{provider}, no source of its own")
    report = f"report: “{said[1]}”" if said else f"record: water service provider {provider}"
    notes = [f"Not applicable — the site owns no water source; its water comes from "
             f"{provider} ({report})."]
    rain = _first_match(record, _RAIN_USE)
    if rain is not None:
        quoted = ("the same sentence" if said is not None and rain[1] == said[1]
                  else f"“{rain[1]}”")
        notes.append(f"The record also mentions rainwater use ({quoted}): if the site "
                     "collects rainwater itself, the collection is a source it manages — map "
                     f"its tanks or ponds (kind 'water_source', aws_ref = {aws_ref!r}).")
    return _check(element, "not applicable", (evidence,), notes=notes)


def _check_provider(facts: ChecklistFacts) -> ElementCheck:
    aws_ref, record, chain, owned = facts.aws_ref, facts.record, facts.chain, facts.owned
    element = AwsElement.SERVICE_PROVIDER
    supply = [n for n in chain.nodes if n.side == "supply"]
    plants = [n for n in supply if n.role == "water plant"]
    sources = [n for n in supply if n.role == "ultimate water source"]
    provider = record.water_service_provider.strip() if record is not None else ""
    evidence = _node_evidence(n for n in supply if n.role != "owned water source")
    gaps = [g for g in chain.gaps if any(f"({n.fid})" in g for n in supply)
            or g.startswith(f"site {aws_ref}: no water source")]
    caveats = _inferred_caveat(chain, "supply")
    if not plants:
        own = [e for e in owned if e.kind == "water_source"]
        if not provider and own:
            return _check(element, "not applicable", own, notes=(
                "Not applicable — the site is supplied by its own sources (mapped) and "
                "neither the record nor the map names a water service provider.",))
        what = (f"Map the plant(s) of {provider} that supply the site"
                if provider else "Record who supplies the site's water and map their plant")
        return _check(element, "missing", evidence, (
            f"{what} (kind 'facility', serves = {aws_ref!r} or flows_to = {aws_ref!r}), its "
            "intakes and the water bodies they draw from.", *gaps), caveats)
    missing = list(gaps)
    if not sources:
        missing.append("Map the provider's intakes and the rivers or lakes they draw from, "
                       "and link them to the plant (flows_to / supplies).")
    if record is not None:
        for name in _unmatched(record.ultimate_water_sources, supply):
            missing.append(f"The site record names {name} as an ultimate water source but no "
                           "mapped chain reaches it: map its intake and link it to the plant.")
    if provider and _unmatched([provider], plants):
        # A weak signal (plants are often named for their town), so a caveat, not a gap.
        caveats = (*caveats, f"The site record names {provider} as water service provider "
                   f"but no mapped plant carries that name ({', '.join(n.name for n in plants)}"
                   "): check that the plant is theirs, or rename it.")
    return _check(element, "partial" if missing else "present", evidence, missing, caveats)


def _check_discharge(facts: ChecklistFacts) -> ElementCheck:
    aws_ref, record, chain = facts.aws_ref, facts.record, facts.chain
    element = AwsElement.DISCHARGE
    side = chain.discharge_nodes()  # with the source water bodies it flows back into
    points = [n for n in side if n.kind == "discharge_point"]
    if not points:
        return _check(element, "missing", missing=(
            "Map the site's discharge points — rainwater outfalls, sewer connections, "
            f"effluent outfalls — in a layer of kind 'discharge_point' with aws_ref = "
            f"{aws_ref!r} "
            f"({missing_kind(facts.declared, facts.empty_layers, 'discharge_point')}), "
            "and say where each flows (flows_to).",))
    evidence = _node_evidence(side)
    gaps = [g for g in chain.gaps if any(f"({n.fid})" in g for n in side)]
    missing = list(gaps)
    receivers = [n for n in side if n.kind in WATER_BODY_KINDS or n.kind == "catchment_unit"]
    if not receivers:
        missing.append("No receiving water body is reached: link the discharge points (or the "
                       "wastewater plant) to the river or lake they discharge into (flows_to).")
    if record is not None and record.wastewater_service_provider.strip() and not any(
            n.kind == "facility" for n in side):
        missing.append(f"The site record names {record.wastewater_service_provider} as "
                       "wastewater service provider: map its treatment plant (kind 'facility') "
                       "and link the sewer connection to it (flows_to).")
    if record is not None:
        for name in _unmatched(record.receiving_water_bodies, side):
            missing.append(f"The site record names {name} as a receiving water body but no "
                           "mapped chain reaches it: map it and link the discharge to it.")
    return _check(element, "partial" if missing else "present", evidence, missing,
                  _inferred_caveat(chain, "discharge"))


def _check_catchments(facts: ChecklistFacts) -> ElementCheck:
    element = AwsElement.CATCHMENTS
    if not facts.has_units:
        return _check(element, "missing", facts.containing, (
            "Add catchment units (kind 'catchment_unit', with next_down and level) covering the "
            "site, its water sources and its receiving waters "
            f"({missing_kind(facts.declared, facts.empty_layers, 'catchment_unit')}).",))
    evidence = (*facts.unit_evidence, *facts.containing)
    missing = []
    if not facts.relied_on:
        missing.append("No catchment unit contains the site's water sources or its provider's "
                       "intakes: map them (see the supply elements) inside the units, or extend "
                       "the units to where the water is taken.")
    if not facts.affected:
        missing.append("No catchment unit contains the site's discharge points or receiving "
                       "waters: map them (see the discharge element) inside the units.")
    notes = [f"Relied on: {facts.relied_on} unit(s); affected: {facts.affected} unit(s)."]
    if not facts.one_catchment_ok:
        notes.append(facts.one_catchment_message)
    status: Status = ("present" if not missing
                      else "partial" if facts.relied_on or facts.affected else "missing")
    return _check(element, status, evidence, missing, notes=notes)


def score_text(statuses: Sequence[str]) -> str:
    """The checklist score in words: ``"1/5 present (4 partial, 1 not applicable)"``.

    Elements that do not apply are left out of the denominator.
    """
    statuses = list(statuses)
    applicable = sum(s != "not applicable" for s in statuses)
    extras = [f"{statuses.count(s)} {s}" for s in STATUSES[1:] if statuses.count(s)]
    return (f"{statuses.count('present')}/{applicable} present"
            + (f" ({', '.join(extras)})" if extras else ""))


def build_checklist(facts: ChecklistFacts) -> tuple[ElementCheck, ...]:
    """Judge the six 1.1.1 elements of one site, in the indicator's order.

    Parameters
    ----------
    facts : ChecklistFacts
        Everything the judgement rests on, already gathered (no geometry work here).

    Returns
    -------
    tuple of ElementCheck
        One per :class:`~geo.core.catalogue.AwsElement`.
    """
    return (_check_boundaries(facts), _check_infrastructure(facts),
            _check_owned_sources(facts), _check_provider(facts), _check_discharge(facts),
            _check_catchments(facts))
