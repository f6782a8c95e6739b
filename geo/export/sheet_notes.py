"""What the map sheet says about its statements that no report states (issue 15).

An auditor reads the sheet on paper, without the app's badges: every statement the
sheet prints whose basis is not *stated* gets a mark (:data:`MARK`) beside it, and a
note at the bottom lists the scope's statements that no report states, grouped by kind
(assumed, borrowed, inferred, derived) and topic, pointing to the ``statements`` table of
the GeoPackage for each one's basis.  :func:`not_stated_note` writes that note at a
chosen level of detail, so the sheet can shorten it until it fits the page.
"""

from __future__ import annotations

from typing import Any

from geo.core.basis import Basis
from geo.core.statements import field_basis
from geo.scope.claims import Claim, claims

__all__ = ["DETAIL_LEVELS", "MARK", "fact_basis", "mark", "not_stated_note"]

#: The mark of a statement on the sheet that no report states.  An asterisk, not a dagger:
#: the sheet's PDF (Type 3 fonts) keeps the text of Latin-1 characters only, and the mark
#: must survive a search or a copy of the PDF's text.
MARK = "*"
#: (subjects named per group for assumed/borrowed/inferred, for derived), most detail first.
DETAIL_LEVELS = ((6, 2), (3, 0), (1, 0), (0, 0))
_ORDER = ("assumed", "borrowed", "inferred", "derived")
_KIND_SAYS = {
    "assumed": "Assumed (our own placement or guess)",
    "borrowed": "Borrowed (from another site's record)",
    "inferred": "Inferred (a rule and its tolerance)",
    "derived": "Derived (computed from mapped features)",
}
_TOPIC_SAYS = {
    "1.1.1 element": "1.1.1 elements", "0.1.1.1": "0.1.1.1 one catchment",
    "unit relied on": "catchment units relied on", "unit affected": "catchment units affected",
    "water-chain link": "water-chain links", "IWRA": "IWRAs not named by the report",
    "IWRA distance": "distances to IWRAs", "record fact": "record facts",
}


def fact_basis(record: Any, field: str) -> Basis | None:
    """The basis of a record field the sheet prints (None without a record)."""
    return field_basis(record, field) if record is not None else None


def mark(text: str, basis: Basis | None) -> str:
    """``text`` with :data:`MARK` after it when its basis is not *stated*."""
    return f"{text}{MARK}" if basis is not None and not basis.is_stated else text


def _subject(claim: Claim) -> str:
    name = claim.subject.split(",")[0] if claim.topic == "1.1.1 element" else claim.subject
    if claim.topic == "record fact":
        name = f"{name} ({claim.says}" + (f", from {claim.basis.from_record}"
                                          if claim.basis is not None and
                                          claim.basis.from_record else "") + ")"
    return name


def _group(items: list[Claim], named: int) -> str:
    topics: dict[str, list[Claim]] = {}
    for claim in items:
        topics.setdefault(claim.topic, []).append(claim)
    parts = []
    for topic, found in topics.items():
        label = _TOPIC_SAYS.get(topic, topic)
        if topic == "0.1.1.1":  # one statement: its label says it
            parts.append(label)
        elif named <= 0:
            parts.append(f"{label} ({len(found)})")
            continue
        else:
            shown = [_subject(c) for c in found[:named]]
            more = len(found) - len(shown)
            parts.append(f"{label}: {'; '.join(shown)}" + (f" and {more} more" if more
                                                          else ""))
    return " | ".join(parts)


def not_stated_note(scope: Any, level: int = 0) -> str:
    """The sheet's note of the statements no report states ("" when every one is stated).

    ``level`` indexes :data:`DETAIL_LEVELS`: 0 names the most statements, the last only
    counts them per topic.
    """
    found = claims(scope) if scope is not None else ()
    weak = [c for c in found if c.kind != "stated"]
    if not weak:
        return ""
    named, named_derived = DETAIL_LEVELS[min(max(level, 0), len(DETAIL_LEVELS) - 1)]
    parts = []
    for kind in _ORDER:
        items = [c for c in weak if c.kind == kind]
        if items:
            parts.append(f"{_KIND_SAYS[kind]}: "
                         f"{_group(items, named_derived if kind == 'derived' else named)}.")
    other = [c for c in weak if c.kind not in _ORDER]
    if other:
        parts.append(f"No basis recorded: {_group(other, named)}.")
    return (f"{MARK} Not stated in the report: {len(weak)} of the {len(found)} statements of "
            "this scope (each one's basis: the GeoPackage table 'statements'). "
            + " ".join(parts))
