"""What each statement rests on, in the app (issue 15), run headless with AppTest.

The kind of every basis is a badge beside the statement (checklist elements, the
0.1.1.1 verdict, units, water-chain links, IWRA rows and distances, record facts) and
its detail opens in an expander; the Map vs report tab lists the disagreements and the
auditor's answers beside ours.  Values from data are Markdown-escaped in both the
labels and the details.  The browser side is tests/test_browser_evidence.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from geo.core.basis import Basis
from geo.core.records import SiteRecord
from tests.conftest import HOSTILE_VALUES
from ui.basis import badge, basis_detail, counts_badges, kind_of
from ui.cards import md

APP = str(Path(__file__).resolve().parents[1] / "app.py")
LANTO, LUXSHARE = "AWS-000522", "AWS-000521"


def _run(site: str | None = None, folder: Path | None = None, *,
         tab: str = "Map vs report") -> AppTest:
    """The app on ``site`` with ``tab`` open (the Map vs report tab and the water chain's
    links are drawn only while their tab is open; the other tabs always)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["tab"] = tab
    at.run()
    if folder is not None:
        next(w for w in at.radio if w.label == "Workspace").set_value(
            "Folder on this machine").run()
        next(w for w in at.text_input if w.label == "Workspace folder").input(
            str(folder)).run()
    if site is not None:
        next(w for w in at.selectbox if w.label == "Site").set_value(site).run()
    assert not at.exception, at.exception
    return at


def _expanders(at: AppTest) -> list[tuple[str, str]]:
    """(label, the Markdown inside) of each expander, in page order."""
    return [(str(e.label), "\n".join(str(m.value) for m in e.markdown)) for e in at.expander]


def _unescaped(raw: str, text: str) -> bool:
    """True when ``raw`` occurs in ``text`` not preceded by a Markdown escape."""
    return re.search(r"(?<!\\)" + re.escape(raw), text) is not None


def _markdown(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in at.markdown)


@pytest.fixture(scope="module")
def demo() -> None:
    from geo.core.workspace import open_workspace

    if not {LANTO, LUXSHARE} <= set(open_workspace().records):
        pytest.skip("the demo workspace has no records of AWS-000521 / AWS-000522")


# --- the helpers ---------------------------------------------------------------------------


def test_badges_name_the_kind_in_words() -> None:
    assert badge(Basis(kind="assumed", why="x")) == ":red-badge[assumed]"
    assert badge("borrowed — from AWS-000522") == ":orange-badge[borrowed]"
    assert badge("stated") == ":green-badge[stated]"
    assert badge(None) == ":gray-badge[no basis recorded]"
    assert kind_of("nonsense — x") == ""
    assert counts_badges(["stated", "assumed", "stated"]) == \
        "2 :green-badge[stated] · 1 :red-badge[assumed]"


def test_details_escape_every_value() -> None:
    hostile = Basis(kind="borrowed", from_record="AWS-000002](javascript:alert(1))",
                    report="![x](http://example.org/x.png)", section=":red[stated]",
                    quote="<img src=x onerror=alert(1)> **bold**", why="`${alert(1)}`")
    text = basis_detail(hostile)
    for raw in ("![x](", "<img", ":red[", "**bold**", "`$", "](javascript"):
        assert not _unescaped(raw, text), raw
    assert md("<img src=x onerror=alert(1)> **bold**") in text
    assert "**borrowed from:**" in text and "> “" in text  # our labels, the quote set apart
    summary_only = basis_detail("assumed — <b>drawn</b> by hand")
    assert not _unescaped("<b>", summary_only) and md("<b>drawn</b> by hand") in summary_only


# --- the demo in the app -------------------------------------------------------------------


def test_every_statement_shows_its_basis(demo) -> None:
    at = _run(LANTO, tab="Water chain")
    found = _expanders(at)
    shown = dict(found)
    judgements = [label for label, _ in found
                  if label.startswith("**What this judgement rests on** · ")]
    assert len(judgements) == 6
    assert sum(":red-badge[assumed]" in label for label in judgements) == 4
    assert any(label.startswith("**What 0.1.1.1 rests on** · :red-badge[assumed]")
               for label in shown)
    # a unit relied on, because it holds an illustrative intake
    assert any("ws\\-intake\\-yangtze" in label and label.endswith(":red-badge[assumed]")
               for label in shown)
    # the water chain: a link no report states is assumed, and says why when opened
    link = next(label for label in shown
                if label.startswith(md("Baijiadang Lake → Wusong River (Kunshan section)")))
    assert link.endswith(":red-badge[assumed]")
    assert md("no report says where Baijiadang drains") in shown[link]
    stated = next(label for label in shown if label.startswith(
        md("Kunshan Jinxi Sewage Treatment Plant → Xiaojieing River")))
    assert stated.endswith(":green-badge[stated]") and "**section:** 1\\.1\\.1" in shown[stated]
    at.query_params["tab"] = at.session_state["tab"] = "IWRAs"  # made when its tab opens
    shown = dict(_expanders(at.run()))
    # each IWRA row: that it is one, and its distance (from illustrative parcels: assumed)
    iwra = next(label for label in shown if label.startswith("Baijiadang Lake \\(on\\-site IWRA"))
    assert "identified: :green-badge[stated]" in iwra and "away: :red-badge[assumed]" in iwra
    assert md("Lanto identified Baijiadang Lake as its on-site IWRA.") in shown[iwra]
    assert not at.error


def test_map_vs_report_tab_lists_disagreements_and_answers(demo) -> None:
    at = _run(LANTO)
    text = _markdown(at)
    assert md("receiving waters (the report contradicts itself)") in text
    assert md("Xiaojieing River") in text and md("Wusong River") in text
    assert md("14 counted, 5 named") in text
    assert md("9 counted by the report are neither named nor mapped") in text
    for indicator in ("0.1.1.1", "1.1.1", "1.3.6", "1.5.5"):
        assert f"**{md(indicator)}**" in text, indicator
    assert ":orange-badge[differ]" in text and ":green-badge[agree]" in text
    assert "**Why they differ:**" in text
    assert "**The auditor (the report)**" in text and "**Catchscope (this workspace)**" in text
    ours = [label for label, _ in _expanders(at)
            if label.startswith("What this judgement rests on")]
    assert len(ours) == 4 and all("badge[" in label for label in ours)


def test_a_borrowed_record_fact_is_never_shown_as_plain_fact(demo) -> None:
    at = _run(LUXSHARE)
    # the sheet-free summary of the scope's statements, on the Map vs report tab
    assert "2 :orange-badge[borrowed]" in _markdown(at)
    at.query_params["tab"] = at.session_state["tab"] = "Site record"  # made when it opens
    text = _markdown(at.run())
    assert (f"**water service provider:** {md('Kunshan Water Group Co., Ltd.')} "
            ":orange-badge[borrowed]") in text
    section = next(body for label, body in _expanders(at)
                   if label.startswith("What these facts rest on") and "borrowed" in label)
    assert f"**borrowed from:** {md(LANTO)}" in section


# --- hostile values ------------------------------------------------------------------------


def test_hostile_bases_show_as_text(make_workspace, three_parcels) -> None:
    evil = " ".join((*HOSTILE_VALUES, "![x](http://example.org/x.png)", ":red-badge[stated]"))
    record = SiteRecord(
        aws_ref="AWS-000001", site_name="Test site", audit_number=evil[:40],
        catchment_name=evil, water_service_provider=evil,
        field_bases={"water_service_provider": Basis(kind="borrowed", from_record=evil,
                                                     quote=evil, why=evil)})
    root = make_workspace(layers={"sites": ("site", three_parcels, {})}, records=[record],
                          settings=f"name = {json.dumps('Hostile')}\n")
    at = _run("AWS-000001", folder=root)
    assert not at.error, [e.value for e in at.error]
    labels = [str(e.label) for e in at.expander]
    bodies = [str(m.value) for m in at.markdown] + labels
    for raw in ("![x](", "<img", "</script>", ":red-badge[stated]"):
        assert not any(_unescaped(raw, body) for body in bodies), raw
    assert any(md(evil) in body for body in bodies)
    assert any(":orange-badge[borrowed]" in body for body in bodies)
