"""The Map vs report tab: where the map and the report disagree, and the auditor's answer.

First how the scope's statements stand (how many each kind: stated, derived, inferred,
borrowed, assumed), then every disagreement of :attr:`SiteScope.versus` as a card (what
the report says, what the map says, what to do, the basis of each side), then, for each
indicator the product judges (0.1.1.1, 1.1.1, 1.3.6, 1.5.5), the auditor's answer and
comment beside the product's judgement — with what that judgement rests on — and why they
differ (:attr:`SiteScope.answers`).
Every value goes through :func:`ui.cards.md` (escaped Markdown).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from geo.scope.claims import Claim, claims
from ui import state
from ui.basis import basis_detail, counts_badges
from ui.basis import legend as basis_legend
from ui.cards import md, rows

__all__ = ["INDICATORS", "map_vs_report"]

#: What each judged indicator asks, in short.
INDICATORS = {
    "0.1.1.1": "the site lies in one catchment",
    "1.1.1": "the physical scope is mapped",
    "1.3.6": "on-site Important Water-Related Areas",
    "1.5.5": "Important Water-Related Areas of the catchment",
}


def _statements(scope: Any) -> None:
    found = claims(scope)
    weak = [c for c in found if c.kind != "stated"]
    st.markdown(f"**{len(found)} statements in this scope:** "
                f"{counts_badges(c.kind for c in found)}")
    if weak:
        st.caption(f"{len(weak)} of them no report states: the checklist cards, the water "
                   "chain's links, the IWRA rows and the site record's facts say which and why.")


def _disagreement(n: int, item: Any) -> None:
    with st.container(border=True, key=f"versus_{n}"):
        st.markdown(f"**{md(item.topic)}**")
        rows({"the report says": item.report, "the map says": item.map,
              "what to do": item.note})
        if item.bases:
            with st.expander(f"What each side rests on · "
                             f"{counts_badges(b.kind for b in item.bases)}"):
                st.markdown("\n\n---\n\n".join(basis_detail(b) for b in item.bases))


def _resting(indicator: str, found: tuple[Claim, ...]) -> list[Claim]:
    """The statements the product's judgement of ``indicator`` rests on."""
    if indicator == "0.1.1.1":
        return [c for c in found if c.topic == "0.1.1.1"]
    if indicator == "1.1.1":
        return [c for c in found if c.topic == "1.1.1 element"]
    onsite = indicator == "1.3.6"
    ids = {c.ref for c in found if c.topic == "IWRA" and ("1.3.6" in c.says) == onsite}
    return [c for c in found if c.topic in ("IWRA", "IWRA distance") and c.ref in ids]


def _our_basis(indicator: str, found: tuple[Claim, ...]) -> None:
    resting = _resting(indicator, found)
    if not resting:
        return
    with st.expander(f"What this judgement rests on · {counts_badges(c.kind for c in resting)}"):
        st.markdown("\n\n".join(
            f"**{md(c.subject)}** ({md(c.topic)}: {md(c.says)})  \n"
            f"{basis_detail(c.basis or c.summary)}" for c in resting))


def _answer(row: Any, found: tuple[Claim, ...]) -> None:
    verdict = ":green-badge[agree]" if row.agree else ":orange-badge[differ]"
    with st.container(border=True, key=f"answer_{row.indicator.replace('.', '_')}"):
        st.markdown(f"**{md(row.indicator)}** {md(INDICATORS.get(row.indicator, ''))} "
                    f"· {verdict}")
        auditor, ours = st.columns(2, gap="small")
        with auditor:
            st.markdown("**The auditor (the report)**")
            rows({"answer": row.report_answer, "comment": row.report_comment},
                 keep_empty=True)
        with ours:
            st.markdown("**Catchscope (this workspace)**")
            rows({"judgement": row.ours})
            _our_basis(row.indicator, found)
        st.markdown(f"**{'Why they differ' if not row.agree else 'Why'}:** {md(row.why)}")


def map_vs_report(choice: state.Choice, scope: Any) -> None:
    """Disagreements between the map and the report, and the auditor's answers beside ours."""
    if choice.site is None:
        st.info("Pick a site in the sidebar to compare its map with its report.")
        return
    if scope is None:
        st.info("This site's scope could not be assessed (see the warning above).")
        return
    _statements(scope)
    if getattr(scope, "record", None) is None:
        st.info(f"There is no site record for {choice.site}: nothing to compare the map with. "
                "Import its certification report (Import report tab).")
        return
    versus = getattr(scope, "versus", ())
    st.subheader(f"Where the map and the report disagree ({len(versus)})", anchor=False)
    st.caption("Receiving waters, the catchment named vs the units relied on and affected, "
               "IWRAs counted, named and mapped, the site's area, addresses and named "
               "blocks — and where the report contradicts itself.")
    if not versus:
        st.success("The map and the report agree on every point compared.")
    for n, item in enumerate(versus):
        _disagreement(n, item)
    answers = getattr(scope, "answers", ())
    st.subheader("The auditor's answer beside ours", anchor=False)
    st.caption("For each indicator Catchscope judges: the report's answer and the auditor's "
               "comment, the product's judgement from this workspace, and why they differ.")
    found = claims(scope)
    for row in answers:
        _answer(row, found)
    basis_legend()
