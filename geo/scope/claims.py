"""Every statement of a site's scope as one flat list: what it says and what it rests on.

:mod:`geo.scope.evidence` puts a :class:`~geo.core.basis.Basis` on each statement where
it is made (a checklist element, a chain edge, a unit, an IWRA row, a record fact).
:func:`claims` gathers them into one list of :class:`Claim` rows, so that a reader — the
app, the exports' ``statements`` table, the map sheet's note of what is *not stated* —
sees them all in one place, each with its kind and its one-line basis.

:func:`one_catchment_basis` gives the 0.1.1.1 judgement its basis: the parcels overlaid
on the catchment units, as weak as the weakest parcel or unit (illustrative parcels make
it *assumed*).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from geo.core.basis import BASIS_KINDS, Basis, derive
from geo.scope.evidence import feature_bases

__all__ = ["TOPICS", "Claim", "claims", "kind_of_summary", "not_stated",
           "one_catchment_basis"]

#: Topic of each kind of statement, in the order :func:`claims` lists them.
TOPICS = ("1.1.1 element", "0.1.1.1", "unit relied on", "unit affected", "water-chain link",
          "IWRA", "IWRA distance", "record fact")


@dataclass(frozen=True)
class Claim:
    """One statement of the scope: its topic, what it is about, what it says, its basis.

    ``kind`` and ``summary`` are always set; ``basis`` is the full
    :class:`~geo.core.basis.Basis` where the scope keeps one (the IWRA table keeps only
    the summaries).  ``ref`` names the thing in the data (an element, a fid, a link
    ``source → target``, a record field).
    """

    topic: str
    subject: str
    says: str
    kind: str
    summary: str
    ref: str = ""
    basis: Basis | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the basis as its summary)."""
        return {"topic": self.topic, "subject": self.subject, "says": self.says,
                "basis_kind": self.kind, "basis": self.summary, "ref": self.ref}


def kind_of_summary(summary: object) -> str:
    """The kind a one-line basis summary starts with (``"stated — …"`` → ``"stated"``)."""
    head = str(summary or "").split(" — ", 1)[0].strip()
    return head if head in BASIS_KINDS else ""


def one_catchment_basis(scope: Any) -> Basis:
    """The basis of the 0.1.1.1 judgement: the parcels overlaid on the catchment units."""
    features = getattr(scope, "features", None)
    bases = feature_bases(features) if isinstance(features, pd.DataFrame) else {}
    parcels = getattr(scope, "parcels", None)
    parcel_ids = [str(f) for f in parcels["fid"]] if isinstance(parcels, pd.DataFrame) \
        and "fid" in parcels else []
    one = getattr(scope, "one_catchment", None)
    unit_ids = [str(u) for u in getattr(one, "units", ()) or ()]
    inputs = [(f"parcel {fid}", bases.get(fid)) for fid in parcel_ids]
    inputs += [(f"catchment unit {fid}", bases.get(fid)) for fid in unit_ids]
    return derive("parcels overlaid on the catchment units (0.1.1.1)", inputs,
                  features=[*parcel_ids, *unit_ids])


def _claim(topic: str, subject: str, says: str, basis: Basis | None, ref: str = "") -> Claim:
    if basis is None:
        return Claim(topic, subject, says, "", "no basis recorded", ref)
    return Claim(topic, subject, says, basis.kind, basis.summary(), ref, basis)


def _iwra_claims(iwras: Any) -> list[Claim]:
    if not isinstance(iwras, pd.DataFrame) or iwras.empty:
        return []
    out = []
    for row in iwras.to_dict(orient="records"):
        name, fid = str(row.get("name") or row.get("fid")), str(row.get("fid") or "")
        onsite = row.get("classification") == "onsite"
        identified = str(row.get("basis") or "")
        out.append(Claim("IWRA", name, "on-site IWRA (1.3.6)" if onsite
                         else "catchment IWRA (1.5.5)", kind_of_summary(identified),
                         identified or "no basis recorded", fid))
        distance = row.get("distance_m")
        if distance is not None and not pd.isna(distance):
            summary = str(row.get("distance_basis") or "")
            out.append(Claim("IWRA distance", name, f"{float(distance):,.0f} m from the site",
                             kind_of_summary(summary), summary or "no basis recorded", fid))
    return out


def claims(scope: Any) -> tuple[Claim, ...]:
    """Every statement of ``scope`` (a :class:`~geo.scope.assess.SiteScope`) with its basis.

    In :data:`TOPICS` order: the six 1.1.1 elements, 0.1.1.1, the units relied on and
    affected, the water chain's links, each IWRA (that it is one, and its distance) and
    the record facts the scope prints.
    """
    out: list[Claim] = []
    for check in getattr(scope, "checklist", ()):
        element = getattr(check.element, "value", str(check.element))
        out.append(_claim("1.1.1 element", check.title or element, str(check.status),
                          check.basis, element))
    one = getattr(scope, "one_catchment", None)
    if one is not None:
        out.append(_claim("0.1.1.1", "one catchment", ("yes — " if one.ok else "no — ")
                          + one.message, one_catchment_basis(scope), ", ".join(one.units)))
    for topic, units in (("unit relied on", getattr(scope, "relied_on", ())),
                         ("unit affected", getattr(scope, "affected", ()))):
        out += [_claim(topic, u.name, u.why, u.basis, u.fid) for u in units]
    chain = getattr(scope, "chain", None)
    if chain is not None:
        names = {n.fid: n.name for n in chain.nodes}
        for edge in chain.edges:
            says = edge.via if edge.how == "explicit" else f"inferred ({edge.via})"
            out.append(_claim("water-chain link", f"{names.get(edge.source, edge.source)} → "
                              f"{names.get(edge.target, edge.target)}", says, edge.basis,
                              f"{edge.source} → {edge.target}"))
    out += _iwra_claims(getattr(scope, "iwras", None))
    for field, value, basis in getattr(scope, "record_facts", ()):
        out.append(_claim("record fact", field.replace("_", " "), value, basis, field))
    return tuple(out)


def not_stated(scope: Any) -> tuple[Claim, ...]:
    """The statements of ``scope`` that no report states (every kind but *stated*)."""
    return tuple(c for c in claims(scope) if c.kind != "stated")
