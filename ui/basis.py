"""What a statement rests on, as the app shows it: a badge per kind, the detail on click.

Every statement the panels print (a checklist element, a water-chain link, a unit, an
IWRA row and its distance, a record fact) carries a basis (:mod:`geo.core.basis`).  The
kind is a badge that is always visible — *stated*, *derived*, *inferred*, *borrowed*,
*assumed*, in words, not only in colour — and the detail (report, section and quoted
words; method; rule and tolerance; the record it was borrowed from; why it is assumed)
opens in an expander: a native disclosure, so a click, a tap or Enter/Space opens it.

Everything from data goes through :func:`ui.cards.md` (Markdown escaped); the badge
markup and the labels are ours.  Nothing here uses ``unsafe_allow_html``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import streamlit as st

from geo.core.basis import BASIS_KINDS, Basis
from geo.scope.claims import kind_of_summary
from ui.cards import md

__all__ = ["KIND_MEANING", "badge", "basis_detail", "counts_badges", "kind_of", "legend",
           "statement"]

#: Badge colour per kind (Streamlit's badge palette: text on a light tint, readable).
_COLOURS = {"stated": "green", "derived": "blue", "inferred": "violet", "borrowed": "orange",
            "assumed": "red"}
#: What each kind means, in a reader's words.
KIND_MEANING = {
    "stated": "a report says so (its section and words are quoted)",
    "derived": "computed from mapped features whose own basis is sound",
    "inferred": "a rule applied with a tolerance, not stated anywhere",
    "borrowed": "taken from another site's record or report, not this site's",
    "assumed": "nothing supports it but our own placement or guess",
}


def kind_of(basis: Basis | str | None) -> str:
    """The kind of a basis, of a kind's name or of a one-line summary (``"assumed — …"``).

    "" when there is none.
    """
    if basis is None:
        return ""
    if isinstance(basis, Basis):
        return basis.kind
    return basis if basis in BASIS_KINDS else kind_of_summary(basis)


def badge(basis: Basis | str | None) -> str:
    """The kind as a coloured badge (Markdown), e.g. ``:red-badge[assumed]``."""
    kind = kind_of(basis)
    if not kind:
        return ":gray-badge[no basis recorded]"
    return f":{_COLOURS[kind]}-badge[{md(kind)}]"


def counts_badges(kinds: Iterable[str]) -> str:
    """``3 :green-badge[stated] · 1 :red-badge[assumed]`` for the kinds given, strongest first."""
    counts = Counter(kinds)
    parts = [f"{counts[k]} {badge(k)}" for k in BASIS_KINDS if counts.get(k)]
    if counts.get(""):
        parts.append(f"{counts['']} {badge(None)}")
    return " · ".join(parts)


def basis_detail(basis: Basis | str | None) -> str:
    """The detail of a basis as Markdown lines (every value escaped)."""
    kind = kind_of(basis)
    if basis is None or not kind:
        return "No basis is recorded for this statement."
    lines = [f"{badge(kind)} {md(KIND_MEANING[kind])}"]
    if not isinstance(basis, Basis):  # only the one-line summary is kept (the IWRA table)
        rest = str(basis).split(" — ", 1)[1] if " — " in str(basis) else ""
        return "  \n".join([*lines, md(rest)] if rest else lines)
    facts: list[tuple[str, Any]] = [
        ("report", basis.report), ("section", basis.section),
        ("borrowed from", basis.from_record), ("method", basis.method),
        ("rule", basis.rule),
        ("tolerance", f"{basis.tolerance_m:,.0f} m" if basis.tolerance_m is not None else ""),
        ("features", ", ".join(basis.features)), ("why", basis.why)]
    lines += [f"**{md(label)}:** {md(value)}" for label, value in facts if value]
    text = "  \n".join(lines)
    if basis.quote:
        text += f"\n\n> “{md(basis.quote)}”"
    return text


def statement(label: str, basis: Basis | str | None, *, expanded: bool = False) -> None:
    """One statement: ``label`` (Markdown, already escaped) with its kind badge; the detail
    of its basis opens on click, tap or keyboard."""
    with st.expander(f"{label} · {badge(basis)}", expanded=expanded):
        st.markdown(basis_detail(basis))


def legend() -> None:
    """What the five kinds mean, folded (badges never sit in a caption: its faded text
    would take them below a readable contrast)."""
    with st.expander("What stated, derived, inferred, borrowed and assumed mean"):
        st.markdown("\n".join(f"- {badge(k)} {md(KIND_MEANING[k])}" for k in BASIS_KINDS)
                    + "\n\nA statement is only as strong as its weakest input. Click, tap or "
                      "press Enter on a line to read what it rests on.")
