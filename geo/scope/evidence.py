"""The basis of every statement of a site's scope (issue 15: "says who?").

:func:`attach_bases` takes what :mod:`geo.scope.assess` computed and puts a
:class:`~geo.core.basis.Basis` on each statement, the weakest input travelling into
each derived one (:func:`geo.core.basis.derive`):

* each **feature** of the scope map — from its provenance (illustrative → *assumed*);
* each **checklist element** — judged from its evidence features, the chain links of its
  side and the record facts it cites;
* each **relied-on / affected unit** — the feature it contains (an intake, an outfall)
  or the unit it lies upstream / downstream of, through ``next_down``;
* each **IWRA row** — that it is an IWRA (*stated* when the site's report names it) and
  its **distance** (derived from the parcels' and the IWRA's geometry: an illustrative
  parcel makes the distance *assumed*);
* the **record facts** the scope prints (provider, sources, receivers…), with the
  sentence of the report that holds them, or their declared basis (*borrowed*).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from geo.core.basis import Basis, accuracy_basis, derive, weakest
from geo.core.records import SiteRecord
from geo.core.statements import field_basis, find_statement, key_word, value_basis
from geo.scope.checklist import RECORD_LAYER, ElementCheck
from geo.scope.flows import WaterChain
from geo.scope.units import ScopeUnit

__all__ = ["RECORD_FACT_FIELDS", "attach_bases", "feature_bases", "record_facts"]

#: The record fields the scope prints, in the order it prints them.
RECORD_FACT_FIELDS = ("catchment_name", "area_m2", "operation_addresses",
                      "water_service_provider", "water_provider_parent",
                      "ultimate_water_sources", "wastewater_service_provider",
                      "receiving_water_bodies", "onsite_iwras", "catchment_iwras",
                      "catchment_iwra_count")
_ELEMENT_SIDE = {"service_provider": "supply", "discharge": "discharge"}
_FID_IN_PARENS = re.compile(r"\(([^()\s]+)\)\s*$")


def feature_bases(features: pd.DataFrame) -> dict[str, Basis]:
    """Fid → basis of the feature's geometry, from its ``accuracy`` / ``source`` / ``note``."""
    def col(name: str) -> list[Any]:
        return features[name].astype(object).tolist() if name in features else \
            [None] * len(features)

    return {str(fid): accuracy_basis(None if pd.isna(acc) else str(acc), fid=str(fid),
                                     source="" if pd.isna(src) else str(src),
                                     note="" if pd.isna(note) else str(note))
            for fid, acc, src, note in zip(col("fid"), col("accuracy"), col("source"),
                                           col("note"), strict=True)}


def record_facts(record: SiteRecord | None) -> tuple[tuple[str, str, Basis], ...]:
    """(field, value, basis) of every record fact the scope prints, one row per list item."""
    if record is None:
        return ()
    rows: list[tuple[str, str, Basis]] = []
    for name in RECORD_FACT_FIELDS:
        value = getattr(record, name)
        if value in (None, "", []):
            continue
        if isinstance(value, list):
            rows += [(name, str(v), value_basis(record, name, str(v))) for v in value]
        elif name == "catchment_iwra_count":
            found = find_statement(record, f"{value} IWRA", ("1.5.5",))
            rows.append((name, str(value), record.field_bases.get(name) or Basis(
                kind="stated", report=record.audit_number, section="1.5.5",
                quote=found[1] if found else "")))
        else:
            shown = f"{value:,.0f} m²" if name == "area_m2" else str(value)
            rows.append((name, shown, field_basis(record, name)))
    return tuple(rows)


def _record_evidence_basis(record: SiteRecord | None, fid: str) -> Basis | None:
    if record is None or "#" not in fid:
        return None
    name = fid.split("#", 1)[1]
    if name.startswith("managed_sources"):
        source = next((m for m in record.managed_sources if m.quote), None)
        return Basis(kind="stated", report=record.audit_number,
                     section=source.section if source else "", quote=source.quote if source
                     else "")
    if name.startswith("indicators["):
        indicator = name[len("indicators["):-1]
        return Basis(kind="stated", report=record.audit_number, section=indicator)
    if name in SiteRecord.model_fields:
        return field_basis(record, name)
    return Basis(kind="stated", report=record.audit_number, section=name)


def _element_basis(check: ElementCheck, chain: WaterChain, record: SiteRecord | None,
                   bases: dict[str, Basis]) -> Basis:
    inputs: list[tuple[str, Basis | None]] = []
    for e in check.evidence:
        if e.layer == RECORD_LAYER:
            inputs.append((f"the record's {e.fid.split('#', 1)[-1]}",
                           _record_evidence_basis(record, e.fid)))
        else:
            inputs.append((f"{e.name} ({e.fid})", bases.get(e.fid) or accuracy_basis(
                e.accuracy, fid=e.fid)))
    side = _ELEMENT_SIDE.get(check.element.value)
    if side is not None:
        sides = {n.fid: n.side for n in chain.nodes}
        names = {n.fid: n.name for n in chain.nodes}
        for edge in chain.edges:
            if sides.get(edge.source) in (side, "site") and sides.get(edge.target) in (side,
                                                                                       "site"):
                inputs.append((f"the link {names.get(edge.source, edge.source)} → "
                               f"{names.get(edge.target, edge.target)}", edge.basis))
    if check.status == "missing" and not inputs:
        return Basis(kind="derived", method="nothing in the workspace evidences it")
    fids = [e.fid for e in check.evidence if e.layer != RECORD_LAYER]
    if not fids and inputs:  # judged from the record's words alone: their basis is its basis
        found = weakest(b for _, b in inputs)
        if found is not None:
            return found
    what = ("judged from the record's words" if not fids
            else f"judged from {len(fids)} mapped feature(s)"
            + (" and the record" if len(fids) < len(check.evidence) else ""))
    return derive(what, inputs, features=fids)


def _unit_bases(units: Sequence[ScopeUnit], bases: dict[str, Basis]) -> tuple[ScopeUnit, ...]:
    """Each unit's basis: what its ``why`` names (a feature, or the unit it follows)."""
    done: dict[str, Basis] = {}
    out = []
    for unit in sorted(units, key=lambda u: u.steps):
        match = _FID_IN_PARENS.search(unit.why)
        ref = match.group(1) if match else ""
        rests = done.get(ref) or bases.get(ref)
        label = f"{ref}" if ref else "the water chain"
        method = (f"{unit.why} (catchment units' next_down)" if unit.steps else
                  f"{unit.why} (containment in the unit's polygon)")
        basis = derive(method, [(label, rests)], features=[f for f in (ref,) if f])
        done[unit.fid] = basis
        out.append(dataclasses.replace(unit, basis=basis))
    order = {u.fid: k for k, u in enumerate(units)}
    return tuple(sorted(out, key=lambda u: order[u.fid]))


def _iwra_frame(iwras: pd.DataFrame, record: SiteRecord | None, parcels: Iterable[str],
                bases: dict[str, Basis], aws_ref: str,
                reported_by: dict[str, str]) -> pd.DataFrame:
    iwras = iwras.copy()
    parcel_inputs = [(f"parcel {p}", bases.get(p)) for p in parcels]
    basis_col, distance_col = [], []
    for row in iwras.to_dict(orient="records"):
        fid = str(row["fid"])
        own = bases.get(fid) or accuracy_basis(row.get("accuracy"), fid=fid)
        reported = reported_by.get(fid) or ""
        indicator = "1.3.6" if row.get("classification") == "onsite" else "1.5.5"
        named: Basis | None = None
        if record is not None and aws_ref in [r.strip() for r in reported.split(",")]:
            name = re.sub(r"\s*\(on-site IWRA\)$", "", str(row["name"]))
            found = (find_statement(record, name, ("1.3.6", "1.5.5"))
                     or find_statement(record, key_word(name), ("1.3.6", "1.5.5"))
                     or find_statement(record, key_word(name)))
            named = Basis(kind="stated", report=record.audit_number,
                          section=found[0] if found else indicator,
                          quote=found[1] if found else "")
        identified = named or Basis(kind="derived", method="an IWRA of the workspace's "
                                                           "layers, not named by the report",
                                    features=(fid,))
        basis_col.append(identified.summary())
        distance = derive("distance from the nearest parcel, in the site's metric CRS",
                          [*parcel_inputs, (f"the IWRA's geometry ({fid})", own)],
                          features=[*(p for p, _ in parcel_inputs), fid])
        distance_col.append(distance.summary())
    iwras["basis"] = basis_col
    iwras["distance_basis"] = distance_col
    iwras["distance_basis_kind"] = [
        s.split(" — ", 1)[0] for s in distance_col]
    return iwras


def attach_bases(*, aws_ref: str, record: SiteRecord | None, features: pd.DataFrame,
                 parcels: Iterable[str], checklist: Sequence[ElementCheck], chain: WaterChain,
                 relied_on: Sequence[ScopeUnit], affected: Sequence[ScopeUnit],
                 iwras: pd.DataFrame, iwra_features: pd.DataFrame) -> dict[str, Any]:
    """Bases for every statement of a scope (see the module docstring).

    Returns
    -------
    dict
        ``checklist``, ``relied_on``, ``affected`` (copies with ``basis`` set), ``iwras``
        (with ``basis``, ``distance_basis`` and ``distance_basis_kind`` columns),
        ``feature_bases`` (fid → Basis) and ``record_facts``.
    """
    bases = {**feature_bases(iwra_features), **feature_bases(features)}
    reported_by = ({str(f): str(r) for f, r in zip(iwra_features["fid"],
                                                    iwra_features["reported_by"], strict=True)
                    if isinstance(r, str)} if "reported_by" in iwra_features else {})
    parcels = list(parcels)
    return {
        "checklist": tuple(dataclasses.replace(c, basis=_element_basis(c, chain, record, bases))
                           for c in checklist),
        "relied_on": _unit_bases(relied_on, bases),
        "affected": _unit_bases(affected, bases),
        "iwras": _iwra_frame(iwras, record, parcels, bases, aws_ref, reported_by),
        "feature_bases": bases,
        "record_facts": record_facts(record),
    }
