"""What a statement rests on: the basis of every claim the product makes.

A checkable map answers "says who?" for each line of its checklist, each link of the
water chain, each distance and each record fact.  :class:`Basis` is that answer, in
one of five kinds, strongest first:

``stated``
    A report says so: which report, which section or indicator, the quoted words.
``derived``
    Computed from features by a method (a distance between mapped geometries, a
    ``next_down`` walk, a containment test) whose inputs are themselves sound.
``inferred``
    A rule applied with a tolerance (the nearest water body within 1,000 m).
``borrowed``
    Taken from another record or report (another site's report names the provider).
``assumed``
    Nothing supports it but our own placement or guess (illustrative geometry, a link
    in our data no report states), with why.

**The weakest basis travels**: a statement derived from inputs is only as strong as
the weakest of them (:func:`derive`), so a distance measured to an illustrative parcel
is ``assumed``, however exact the arithmetic.  This module imports nothing else of
``geo``; records carry bases (:attr:`geo.core.records.SiteRecord.field_bases`) and the
scope puts one on every statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BASIS_KINDS",
    "Basis",
    "BasisKind",
    "accuracy_basis",
    "derive",
    "weakest",
]

BasisKind = Literal["stated", "derived", "inferred", "borrowed", "assumed"]
#: Every kind, strongest first.
BASIS_KINDS: tuple[BasisKind, ...] = ("stated", "derived", "inferred", "borrowed", "assumed")
_RANK = {kind: rank for rank, kind in enumerate(BASIS_KINDS)}
_QUOTE_CHARS = 200


class Basis(BaseModel):
    """What one statement rests on (see the module docstring for the kinds).

    Only the fields of its kind are usually set: ``report`` / ``section`` / ``quote``
    for *stated*, ``features`` / ``method`` for *derived*, ``rule`` / ``tolerance_m``
    for *inferred*, ``from_record`` (plus the lender's report, section and quote) for
    *borrowed*, ``why`` for *assumed*.  ``why`` may also say, on a derived statement,
    which input made it weaker.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: BasisKind
    report: str = Field("", description="The report (audit number) that states it.")
    section: str = Field("", description="Section or indicator of the report, e.g. '1.1.1'.")
    quote: str = Field("", description="The report's own words.")
    features: tuple[str, ...] = Field((), description="Feature ids it is derived from.")
    method: str = Field("", description="How it is derived from the features.")
    rule: str = Field("", description="The inference rule.")
    tolerance_m: float | None = Field(None, description="The rule's tolerance, metres.")
    from_record: str = Field("", description="The other record (AWS ref) it is borrowed from.")
    why: str = Field("", description="Why it is assumed, or which input weakened it.")

    @property
    def rank(self) -> int:
        """0 for *stated* … 4 for *assumed*: higher is weaker."""
        return _RANK[self.kind]

    @property
    def is_stated(self) -> bool:
        """True when a report states it (the only kind an auditor takes as given)."""
        return self.kind == "stated"

    def summary(self) -> str:
        """One line a person reads: ``stated — AO-000517 §1.1.1: “…”``."""
        where = " ".join(p for p in (self.report, f"§{self.section}" if self.section else "")
                         if p)
        quote = _short(self.quote)
        if self.kind == "stated":
            text = where or "the site record"
            return f"stated — {text}" + (f": “{quote}”" if quote else "")
        if self.kind == "borrowed":
            lender = self.from_record + (f" ({where})" if where else "")
            text = f"borrowed — from {lender or 'another record'}"
            text += f": “{quote}”" if quote else ""
            return text + (f"; {self.why}" if self.why else "")
        if self.kind == "inferred":
            tol = f" within {self.tolerance_m:,.0f} m" if self.tolerance_m is not None else ""
            text = f"inferred — {self.rule or 'a rule'}{tol}"
            return text + (f"; {self.why}" if self.why else "")
        if self.kind == "derived":
            text = f"derived — {self.method or 'computed'}"
            if self.features:
                shown = ", ".join(self.features[:4]) + (" …" if len(self.features) > 4 else "")
                text += f" (from {shown})"
            return text + (f"; {self.why}" if self.why else "")
        return f"assumed — {self.why or 'nothing supports it but our own data'}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form with the one-line summary."""
        return {**self.model_dump(mode="json", exclude_defaults=True), "kind": self.kind,
                "summary": self.summary()}


def _short(text: str, width: int = _QUOTE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def weakest(bases: Iterable[Basis | None]) -> Basis | None:
    """The weakest of ``bases`` (the first of equals); None when there is none."""
    found: Basis | None = None
    for basis in bases:
        if basis is not None and (found is None or basis.rank > found.rank):
            found = basis
    return found


def derive(method: str, inputs: Iterable[tuple[str, Basis | None]] = (), *,
           features: Iterable[str] = ()) -> Basis:
    """The basis of a statement computed by ``method`` from ``inputs``: the weakest travels.

    Parameters
    ----------
    method : str
        How the statement is computed ("distance from the nearest parcel, metric CRS").
    inputs : iterable of (label, Basis)
        What it is computed from; ``label`` names the input for the reader.
    features : iterable of str
        Feature ids it rests on.

    Returns
    -------
    Basis
        *derived* when every input is stated or derived; otherwise the weakest input's
        kind, with ``why`` naming that input and its own basis.
    """
    pairs = [(label, b) for label, b in inputs if b is not None]
    fids = tuple(dict.fromkeys(features))
    worst = max(pairs, key=lambda p: p[1].rank, default=None)
    if worst is None or worst[1].rank <= _RANK["derived"]:
        return Basis(kind="derived", method=method, features=fids)
    label, basis = worst
    return Basis(kind=basis.kind, method=method, features=fids, rule=basis.rule,
                 tolerance_m=basis.tolerance_m, from_record=basis.from_record,
                 report=basis.report, section=basis.section, quote=basis.quote,
                 why=_short(f"{method}, resting on {label}: {basis.summary()}", 400))


def accuracy_basis(accuracy: str | None, *, fid: str = "", source: str = "",
                   note: str = "") -> Basis:
    """The basis of a feature's geometry from its provenance (``accuracy``, ``source``).

    surveyed / official → *stated* by its source; derived → *derived*; illustrative or
    unknown → *assumed* (the feature's note says why).
    """
    acc = (accuracy or "").strip().lower()
    features = (fid,) if fid else ()
    if acc in ("surveyed", "official"):
        return Basis(kind="stated", report=source or acc, features=features)
    if acc == "derived":
        return Basis(kind="derived", method=f"derived geometry ({source or 'see the layer'})",
                     features=features)
    why = ("placed illustratively" if acc == "illustrative"
           else "no accuracy recorded") + (f" ({fid})" if fid else "")
    if note:
        why += f": {_short(note)}"
    return Basis(kind="assumed", why=why, features=features)
