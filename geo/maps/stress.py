"""Baseline water stress in the map legend (part of :mod:`geo.maps.build`).

A scope whose catchment units carry WRI Aqueduct 4.0 water stress
(:attr:`geo.scope.assess.SiteScope.water_stress`) gets a block in the legend: the unit
the site lies in, and the most stressed unit it relies on and affects, each with the
category's colour (Aqueduct's own scale) and its label and score.  :func:`stress_rows`
prepares the rows (every value escaped with :func:`geo.core.markup.html_text`), and
:func:`stress_legend_html` draws them; the colours come from this module, never from data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from geo.core.markup import html_text

__all__ = ["STRESS_COLOURS", "stress_legend_html", "stress_rows"]

#: Aqueduct 4.0's colours of baseline water stress by ``bws_cat`` (-1: arid and low use).
STRESS_COLOURS = {0: "#ffff99", 1: "#ffe600", 2: "#ff9900", 3: "#ff1900", 4: "#990000",
                  -1: "#808080"}
_NO_DATA = "#4e4e4e"
def _(message: str) -> str:  # marks the labels for extraction; translated in the legend
    return message


_LABELS = {"site": _("Where the site lies"), "relied on": _("Most stressed relied on"),
           "affected": _("Most stressed affected")}


def _category(unit: Any) -> int | None:
    if unit.category is not None:
        return int(unit.category)
    if unit.score is None:
        return None
    return min(int(unit.score), 4)  # Aqueduct's bins are whole scores: 0-1 low … 4-5


def stress_rows(scope: Any) -> list[tuple[str, str]]:
    """(colour, escaped text) rows for the legend: the site's units, the worst on each side."""
    units = list(getattr(scope, "water_stress", ()) or ())
    if not units:
        return []
    chosen: list[tuple[str, Any]] = [("site", u) for u in units if u.role == "site"]
    for side in ("relied on", "affected"):
        group = [u for u in units if side in u.role and u.role != "site"]
        if group:
            chosen.append((side, max(group, key=lambda u: -1.0 if u.score is None else u.score)))
    rows = []
    for role, unit in chosen:
        category = _category(unit)
        colour = _NO_DATA if category is None else STRESS_COLOURS.get(category, _NO_DATA)
        rows.append((colour, f"{html_text(_LABELS[role])}: {html_text(unit.text())} "
                             f"<i class=\"cs-ill\">({html_text(unit.name)})</i>"))
    return rows


def _localised(text: str, gettext: Callable[[str], str]) -> str:
    """A row's text with its leading label (one of ours, see :func:`stress_rows`) translated."""
    for label in _LABELS.values():
        prefix = f"{html_text(label)}: "
        if text.startswith(prefix):
            return html_text(gettext(label)) + ": " + text[len(prefix):]
    return text


def stress_legend_html(rows: Iterable[tuple[str, str]],
                       gettext: Callable[[str], str] = str) -> str:
    """The legend block of :func:`stress_rows` (empty when there are none).

    ``gettext`` translates the block's own words (``geo.core.i18n.translator``); the
    units' names and Aqueduct's labels are data and stay as they are.
    """
    rows = list(rows)
    if not rows:
        return ""
    allowed = {*STRESS_COLOURS.values(), _NO_DATA}  # pasted into SVG: only our own colours
    body = "".join(
        f'<div class="row"><svg width="18" height="14"><rect x="1" y="2" width="16" '
        f'height="10" fill="{colour if colour in allowed else _NO_DATA}" stroke="#555" '
        f'stroke-width="0.5"/></svg><span>{_localised(text, gettext)}</span></div>'
        for colour, text in rows)
    heading = html_text(gettext("Baseline water stress"))
    return ('<div class="row cs-ill-row"><span><b>' + heading
            + "</b> (WRI Aqueduct 4.0)</span></div>" + body)
