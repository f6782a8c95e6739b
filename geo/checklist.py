"""The AWS Standard v2.0 indicator 1.1.1 checklist: six elements, judged for one site.

:func:`build_checklist` turns gathered facts (:class:`ChecklistFacts`: the site's mapped
features, its water chain, the catchment units it relies on and affects, its record) into
one :class:`ElementCheck` per element: *present*, *partial* or *missing*, the features
that evidence it, what to do about what is missing — in words a site manager acts on —
and caveats (illustrative evidence, inferred links, record facts).  No geometry work
happens here; :mod:`geo.scope` gathers the facts.

Status rules:

* *present* — mapped; caveats say when the evidence is illustrative or inferred.
* *partial* — something is mapped but the record or the chain shows what is not
  (a gap in the chain, a provider or receiving water the record names and no chain
  reaches, mapped area more than 25 % off the record's, no piping).
* *missing* — nothing evidences the element.
* Owned water sources: a site with none mapped whose record names a water service
  provider is *present* with a note ("owns no water sources — record: supplied by …"),
  because the element asks only for sources the site owns or manages; the note says to
  map wells, intakes or rainwater harvesting if it has them.  Without that record fact
  the element is *missing*.
* Record names are matched to chain features by their most telling word (``Kuilei``
  for "Kuilei Lake"), case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from geo.catalogue import AWS_ELEMENTS, AccuracyClass, AwsElement
from geo.flows import WATER_BODY_KINDS, ChainNode, WaterChain
from geo.records import SiteRecord

__all__ = [
    "ChecklistFacts",
    "ElementCheck",
    "Evidence",
    "Status",
    "build_checklist",
    "evidence_of",
    "missing_kind",
]

Status = Literal["present", "partial", "missing"]
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


@dataclass(frozen=True)
class ChecklistFacts:
    """What the checklist of one site rests on (gathered by :mod:`geo.scope`).

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


def _illustrative_caveat(evidence: Sequence[Evidence]) -> tuple[str, ...]:
    shaky = [e for e in evidence if e.accuracy == AccuracyClass.ILLUSTRATIVE.value]
    if not shaky:
        return ()
    names = ", ".join(e.name for e in shaky[:3]) + (
        f" and {len(shaky) - 3} more" if len(shaky) > 3 else "")
    return (f"Rests on {len(shaky)} illustrative feature(s) placed without a source "
            f"({names}): replace them with surveyed or official positions.",)


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


def _check_owned_sources(facts: ChecklistFacts) -> ElementCheck:
    aws_ref, record, owned = facts.aws_ref, facts.record, facts.owned
    element = AwsElement.OWNED_WATER_SOURCES
    sources = [e for e in owned if e.kind == "water_source"]
    if sources:
        return _check(element, "present", sources)
    if record is not None and record.water_service_provider.strip():
        return _check(element, "present", caveats=(
            "Rests on the site record, not on mapped features.",), notes=(
            f"The site owns no water sources (record: supplied by "
            f"{record.water_service_provider}). If it also has wells, intakes or rainwater "
            f"harvesting it owns or manages, map them with aws_ref = {aws_ref!r}.",))
    return _check(element, "missing", missing=(
        "Map the wells, intakes or rainwater harvesting the site owns or manages (kind "
        f"'water_source', aws_ref = {aws_ref!r}); if it has none because a provider supplies "
        "it, record the water service provider in the site record.",))


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
        if not provider and any(e.kind == "water_source" for e in owned):
            return _check(element, "present", notes=(
                "Not applicable: the site is supplied by its own sources (no provider in the "
                "record or on the map).",))
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
    return _check(element, "partial" if missing else "present", evidence, missing, caveats)


def _check_discharge(facts: ChecklistFacts) -> ElementCheck:
    aws_ref, record, chain = facts.aws_ref, facts.record, facts.chain
    element = AwsElement.DISCHARGE
    side = [n for n in chain.nodes if n.side == "discharge"]
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


def build_checklist(facts: ChecklistFacts) -> tuple[ElementCheck, ...]:
    """Judge the six 1.1.1 elements of one site, in the indicator's order.

    Parameters
    ----------
    facts : ChecklistFacts
        Everything the judgement rests on, already gathered (no geometry work here).

    Returns
    -------
    tuple of ElementCheck
        One per :class:`~geo.catalogue.AwsElement`.
    """
    return (_check_boundaries(facts), _check_infrastructure(facts),
            _check_owned_sources(facts), _check_provider(facts), _check_discharge(facts),
            _check_catchments(facts))
