"""The panels beside and below the map.

Everything that comes from data is shown through widgets that render text
(``st.dataframe``, ``st.text``, ``st.json``, ``st.graphviz_chart`` labels) or through
:func:`md`, which escapes Markdown; nothing from data reaches ``unsafe_allow_html``.
Records, checklists and provenance are rows and cards that wrap (:mod:`ui.cards`), so
nothing needs sideways scrolling; the sortable, downloadable tables stay where a user
compares many rows (portfolio, IWRAs), or folded under the cards (the checklist).
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from typing import Any

import pandas as pd
import streamlit as st

from geo.core.catalogue import AWS_ELEMENTS, LayerKind
from geo.core.errors import GeoError
from geo.core.i18n import N_
from geo.core.records import Validity
from geo.core.records import certificate_validity as validity
from geo.maps.build import build_map, map_html
from geo.scope.claims import kind_of_summary, one_catchment_basis
from ui import exports, i18n, state, stress
from ui.basis import badge as basis_badge
from ui.basis import basis_detail, statement
from ui.basis import legend as basis_legend
from ui.cards import badge, bullets, md, md_lines, rows
from ui.cards import text_of as _text
from ui.i18n import _
from ui.record import show_record

__all__ = ["Validity", "checklist", "export", "iwras", "local_name", "md", "md_lines",
           "portfolio", "selection", "site_record", "validity", "water_chain"]

_STATUS_COLOURS = {N_("present"): "#c8ecc9", N_("partial"): "#ffe0a3", N_("missing"): "#f8c4c4",
                   N_("not applicable"): "#e6e6e6"}
#: Columns that hold a feature's name in another language (Chinese, the local script).
LOCAL_NAME_FIELDS = ("name_zh", "name_cn", "name_local")
#: The roles of the water chain's elements (geo.scope.flows), translated in the diagram.
_ROLES = (N_("ultimate water source"), N_("intake"), N_("water plant"), N_("site"),
          N_("discharge point"), N_("wastewater treatment plant"), N_("receiving water body"),
          N_("ultimate receiving water body"))


def local_name(row: Any, name: object = None) -> str:
    """The feature's name in its local language when the data has one ('' otherwise).

    ``row`` is a mapping (a frame's row); a local name already inside ``name`` is not
    repeated.
    """
    shown = _text(name if name is not None else row.get("name"))
    for field in LOCAL_NAME_FIELDS:
        local = _text(row.get(field)).strip()
        if local and local.lower() != "nan" and local not in shown:
            return local
    return ""


def _attributes(row: pd.Series) -> dict[str, str]:
    return {str(k): _text(v) for k, v in row.items() if k != "geometry"}


def _clicked_ref(returned: dict | None) -> str | None:
    if not returned:
        return None
    drawing = returned.get("last_active_drawing") or {}
    ref = (drawing.get("properties") or {}).get("ref")
    return str(ref) if ref else None


# --- beside the map ---------------------------------------------------------------------


def selection(choice: state.Choice, returned: dict | None, scope: Any = None) -> None:
    """Attributes and provenance of the clicked feature; a site's certification record.

    A public user (viewer) sees the feature as the map shows it: redacted.
    """
    ref = _clicked_ref(returned)
    if ref is None:
        st.subheader(_("Selected feature"), anchor=False)
        st.caption(_("Click a feature on the map to see its attributes and provenance here. "
                     "Click a site parcel to see its certification record."))
        _site_summary(choice)
        return
    layer_id, _sep, position = ref.partition(":")
    ws = state.feature_workspace(choice, scope)
    if layer_id not in ws.specs or not position.isdigit():
        st.warning(_("The clicked feature is not in this workspace any more; click again."))
        return
    frame = ws.load(layer_id).reset_index(drop=True)
    if int(position) >= len(frame):
        st.warning(_("The layer changed since the map was drawn; click the feature again."))
        return
    row = frame.iloc[int(position)]
    spec = ws.specs[layer_id]
    st.subheader(_("Selected feature"), anchor=False)
    local = local_name(row)  # both names where the data has them (st.text: plain text)
    st.text(f"{_text(row.get('name'))}{' ' + local if local else ''}\n"
            f"{spec.title} · {spec.kind.value}")
    if _text(row.get("accuracy")) == "illustrative":
        st.warning(_("Illustrative: placed plausibly from report facts, not surveyed. "
                     "Replace it with surveyed data before relying on its position."))
    st.markdown("**" + _("Provenance") + "**")
    provenance = {
        _("accuracy"): _text(row.get("accuracy")),
        _("source"): _text(row.get("source")),
        _("original datum"): _text(row.get("datum")),
        _("layer file"): f"layers/{spec.id}.toml → data/{spec.source}",
        _("attribution"): spec.attribution,
        _("licence"): spec.licence,
        _("source date"): spec.source_date,
    }
    rows(provenance)
    st.markdown("**" + _("Attributes") + "**")
    attributes = _attributes(row)
    # a long attribute list scrolls down inside its box, never sideways
    with st.container(height=320 if len(attributes) > 12 else "content", border=False,
                      key="selection_attributes"):
        rows(attributes, keep_empty=True)
    aws_ref = _text(row.get("aws_ref"))
    if spec.kind is LayerKind.SITE and aws_ref in ws.records:
        _certification(ws.records[aws_ref])


def _site_summary(choice: state.Choice) -> None:
    if choice.site is None or choice.site not in choice.workspace.records:
        return
    _certification(choice.workspace.records[choice.site])


# An expired certificate is a fact of the record, not an error of the app: a warning box
# (st.error is kept for what went wrong), worded "EXPIRED" so it cannot be missed.
_VALIDITY_SHOW = {"expired": (st.warning, ":material/event_busy:"),
                  "expiring": (st.warning, ":material/schedule:"),
                  "unknown": (st.info, ":material/help:"),
                  "valid": (st.success, ":material/verified:")}


def _show_validity(check: Validity, record: Any = None) -> None:
    show, icon = _VALIDITY_SHOW[check.state]
    show(_validity_message(check, record), icon=icon)


def _validity_message(check: Validity, record: Any) -> str:
    """The validity sentence in the user's language (English: the library's own words)."""
    end = getattr(record, "valid_until", None)
    if record is None or i18n.current() == i18n.DEFAULT_LANGUAGE or \
            (end is None and check.state != "unknown"):
        return check.message
    today = dt.date.today()
    audit = getattr(record, "next_audit_date", None)
    stale = _(" The audit planned for {date} is past.").format(date=audit.isoformat()) \
        if audit is not None and audit < today else ""
    if check.state == "unknown" or end is None:
        return _("The record gives no end date for the certificate; check the AWS "
                 "certified-sites list.") + stale
    days = (end - today).days
    if check.state == "expired":
        text = _("EXPIRED: the certificate ended on {end}, {days} days ago (today is {today}): "
                 "the site is not certified on this record. Import the re-certification "
                 "report or check the AWS certified-sites list.")
        return text.format(end=end.isoformat(), days=-days, today=today.isoformat()) + stale
    if check.state == "expiring":
        text = _("Certificate expires on {end}, in {days} days: re-certification is due.")
        return text.format(end=end.isoformat(), days=days) + stale
    return _("Certificate valid until {end} ({days} days left).").format(
        end=end.isoformat(), days=days) + stale


def _status_badge(status: str) -> str:
    """The checklist status badge (ui.cards.badge), its word in the user's language."""
    shown, word = badge(status), _(status)
    if word == status:
        return shown
    return shown.removesuffix(f"[{md(status)}]") + f"[{md(word)}]"


def _certification(record: Any) -> None:
    st.markdown("**" + _("Certification record") + "**")
    check = validity(record)
    _show_validity(check, record)
    facts = {
        _("AWS reference"): record.aws_ref,
        _("site"): record.site_name,
        _("status"): record.certification_status
        + (_(" — LAPSED") if check.state == "expired" else ""),
        _("decision date"): record.decision_date,
        _("valid until"): f"{_text(record.valid_until)}"
        + (_(" — EXPIRED") if check.state == "expired" else ""),
        _("standard"): record.standard,
        _("audit"): f"{record.audit_type} {record.audit_start_date or ''}".strip(),
        _("score"): record.score,
        _("next audit"): record.next_audit_date,
    }
    rows(facts)
    if record.findings:
        st.markdown("**" + _("Findings ({count})").format(count=len(record.findings)) + "**")
        for finding in record.findings:
            with st.container(border=True):
                head = " · ".join(md(v) for v in (finding.id, finding.indicator,
                                                   finding.level, finding.status) if v)
                st.markdown(f"**{head}**" if head else "**" + _("Finding") + "**")
                rows({_("finding"): finding.text,
                      _("corrective action"): finding.corrective_action})


# --- tabs ---------------------------------------------------------------------------------


def _need_site(choice: state.Choice, scope: Any) -> bool:
    if choice.site is None:
        st.info(_("Pick a site in the sidebar to see this panel; 'All sites' shows the "
                  "portfolio table."))
        return False
    if scope is None:
        st.info(_("This site's scope could not be assessed (see the warning above)."))
        return False
    return True


def _check_rows(scope: Any) -> list[dict[str, str]]:
    rows_ = []
    for check in scope.checklist:
        rows_.append({
            "element": check.title or AWS_ELEMENTS.get(check.element, str(check.element)),
            "status": str(check.status),
            # what makes it amber or red first, the evidence after (the widest column)
            "caveats": "; ".join((*check.caveats, *check.notes)),
            "missing": "; ".join(check.missing),
            "evidence": "; ".join(_evidence(e) for e in check.evidence),
            "basis": check.basis.summary() if getattr(check, "basis", None) else "",
        })
    return rows_


def _evidence(item: Any) -> str:
    return f"{item.name} ({item.layer}{', ' + item.accuracy if item.accuracy else ''})"


def _check_card(check: Any) -> None:
    title = check.title or AWS_ELEMENTS.get(check.element, str(check.element))
    with st.container(border=True, key=f"check_{check.element}"):
        # the element's title is one of AWS_ELEMENTS (translated); another stays as it is
        shown = _(title)  # (not extracted: a msgid of AWS_ELEMENTS, or data)
        st.markdown(f"{_status_badge(str(check.status))} **{md(shown)}**")
        statement("**" + _("What this judgement rests on") + "**", getattr(check, "basis", None))
        # what makes it amber or red first, then the evidence
        for label, items in ((_("What is missing"), check.missing),
                             (_("Caveats"), check.caveats), (_("Notes"), check.notes),
                             (_("Evidence ({count})").format(count=len(check.evidence)),
                              [_evidence(e) for e in check.evidence])):
            if items:
                st.markdown(f"**{md(label)}**\n\n{bullets(items)}")
        if not (check.missing or check.caveats or check.notes or check.evidence):
            st.caption(_("No evidence, caveat or missing item recorded."))


def checklist(choice: state.Choice, scope: Any) -> None:
    """The AWS 1.1.1 physical-scope checklist: one card per element, the table folded."""
    if not _need_site(choice, scope):
        return
    counts = pd.Series([str(c.status) for c in scope.checklist]).value_counts()
    st.caption(" · ".join(f"{counts.get(s, 0)} {word}"
                          for s, word in ((s, _(s)) for s in _STATUS_COLOURS))
               + _(". Green: mapped from surveyed or official data · amber: partly mapped, or "
                   "resting on illustrative (not surveyed) data, see the caveats · red: "
                   "nothing mapped · grey: not applicable."))
    basis_legend()
    columns = st.columns(2, gap="small")
    for n, check in enumerate(scope.checklist):
        with columns[n % 2]:
            _check_card(check)
    one = getattr(scope, "one_catchment", None)
    if one is not None:
        (st.success if one.ok else st.warning)(
            md(_("0.1.1.1 one catchment: {message}").format(message=one.message)))
        statement("**" + _("What 0.1.1.1 rests on") + "**", one_catchment_basis(scope))
    relied = getattr(scope, "relied_on", ())
    affected = getattr(scope, "affected", ())
    if relied or affected:
        left, right = st.columns(2, gap="small")
        for column, label, units in ((left, _("Catchment units relied on"), relied),
                                     (right, _("Catchment units affected"), affected)):
            if units:
                with column.container(border=True):
                    st.markdown(f"**{label} ({len(units)})**")
                    for unit in units:
                        statement(md(f"{unit.name} ({unit.why})"), unit.basis)
    stress.water_stress(scope)  # Aqueduct 4.0, when the units carry it
    with st.expander(_("The checklist as a table (sort, download as CSV)"), expanded=False):
        table = pd.DataFrame(_check_rows(scope)).style.map(
            lambda v: f"background-color: {_STATUS_COLOURS.get(v, 'transparent')}",
            subset=["status"])
        st.dataframe(table, hide_index=True, width="stretch",
                     column_config={"element": st.column_config.TextColumn(width="medium"),
                                    "caveats": st.column_config.TextColumn(width="large"),
                                    "missing": st.column_config.TextColumn(width="medium"),
                                    "evidence": st.column_config.TextColumn(width="large"),
                                    "basis": st.column_config.TextColumn(width="large")})


def iwras(choice: state.Choice, scope: Any) -> None:
    """IWRAs on site and in the catchment, with distance, band and relation (sortable)."""
    if not _need_site(choice, scope):
        return
    table = getattr(scope, "iwras", None)
    if table is None or len(table) == 0:
        st.info(_("No IWRA features in this workspace's layers."))
        return
    frame = pd.DataFrame(table).drop(columns=["geometry"], errors="ignore")
    st.caption(_("Bands (km): {bands} — change them in the sidebar. Click a column header to "
                 "sort.").format(bands=", ".join(f"{b:g}" for b in choice.bands)))
    onsite = int((frame.get("classification") == "onsite").sum()) if "classification" in frame \
        else 0
    st.text(_("{onsite} on site (1.3.6) · {catchment} in the catchment (1.5.5)").format(
        onsite=onsite, catchment=len(frame) - onsite))
    _add_local_names(frame, scope)
    if "basis" in frame and "name" in frame:  # the kinds beside what they qualify
        frame.insert(frame.columns.get_loc("name") + 1, "basis_kind",
                     [kind_of_summary(b) for b in frame["basis"]])
    if "distance_basis_kind" in frame and "distance_m" in frame:
        kinds = frame.pop("distance_basis_kind")
        frame.insert(frame.columns.get_loc("distance_m") + 1, "distance_basis_kind", kinds)
    st.dataframe(
        frame.astype({c: "string" for c in frame.columns if frame[c].dtype == object}),
        hide_index=True, width="stretch",
        column_config={
            "name_local": st.column_config.TextColumn(_("local name")),
            "basis_kind": st.column_config.TextColumn(_("IWRA: basis"), width="small"),
            "distance_m": st.column_config.NumberColumn(_("distance (m)"), format="%.0f"),
            "distance_basis_kind": st.column_config.TextColumn(_("distance: basis"),
                                                               width="small"),
            "band_km": st.column_config.NumberColumn(_("within (km)"), format="%g"),
            "classification": st.column_config.TextColumn(_("on site / catchment")),
            "relation_via": st.column_config.TextColumn(_("why"), width="large"),
            "basis": st.column_config.TextColumn(_("IWRA: what it rests on"), width="large"),
            "distance_basis": st.column_config.TextColumn(_("distance: what it rests on"),
                                                          width="large"),
        },
    )
    _iwra_bases(frame)


def _local_names(scope: Any) -> dict[str, str]:
    """Feature id -> local name, for the features of the scope that have one."""
    features = getattr(scope, "features", None)
    if not isinstance(features, pd.DataFrame) or "fid" not in features:
        return {}
    fields = [f for f in LOCAL_NAME_FIELDS if f in features]
    if not fields:
        return {}
    names = {}
    for row in features[["fid", "name", *fields]].to_dict(orient="records"):
        local = local_name(row)
        if local:
            names[str(row["fid"])] = local
    return names


def _add_local_names(frame: pd.DataFrame, scope: Any) -> None:
    """A ``name_local`` column beside ``name`` when some of the rows have a local name."""
    names = _local_names(scope)
    if "fid" not in frame or "name" not in frame or "name_local" in frame:
        return
    local = [names.get(str(fid), "") for fid in frame["fid"]]
    if any(local):
        frame.insert(frame.columns.get_loc("name") + 1, "name_local", local)


def _iwra_bases(frame: pd.DataFrame) -> None:
    """Each IWRA row's two statements (it is an IWRA; its distance), badges and details."""
    if "basis" not in frame:
        return
    st.markdown("**" + _("What each row rests on") + "**")
    basis_legend()
    for row in frame.to_dict(orient="records"):
        distance = row.get("distance_m")
        far = f"{distance:,.0f} m" if isinstance(distance, (int, float)) and \
            distance == distance else _("distance")
        name = _text(row.get("name"))
        local = _text(row.get("name_local"))
        label = (f"{md(name + (' ' + local if local else ''))} · "
                 + _("identified: {basis}").format(basis=basis_badge(row.get("basis")))
                 + " · " + _("{distance} away: {basis}").format(
                     distance=md(far), basis=basis_badge(row.get("distance_basis"))))
        with st.expander(label):
            st.markdown("**" + _("That it is an IWRA ({classification})").format(
                classification=md(_text(row.get("classification")))) + "**"
                f"\n\n{basis_detail(row.get('basis'))}")
            st.markdown("**" + _("Its distance from the site ({distance})").format(
                distance=md(far)) + "**"
                f"\n\n{basis_detail(row.get('distance_basis'))}")


def water_chain(choice: state.Choice, scope: Any, *, draw: bool = True) -> None:
    """The water chain as a top-down diagram (Graphviz, rendered in the browser).

    ``draw=False`` (its tab is not open) skips the diagram: the browser lays Graphviz out
    on its main thread, 0.2-2.5 s per site switch measured, delaying the map; and the
    list of links with their bases (one expander each).
    """
    if not _need_site(choice, scope):
        return
    chain = scope.chain
    if not chain.nodes:
        st.info(_("No water chain could be followed for this site."))
    elif draw:
        st.graphviz_chart(chain_dot(chain, local_names=_local_names(scope), gettext=_),
                          width="content")
        st.caption(_("Blue: supply side · red: the site · green: discharge side. Solid arrows: "
                     "links a report states or that follow from the data; dashed: inferred "
                     "(nearest water body, or the unit holding an outlet); dotted red and "
                     "labelled: assumed or borrowed — no report says so. Dashed boxes: "
                     "illustrative features."))
    paths = list(zip(chain.lines(), chain.path_bases(), strict=True))
    if paths:
        st.markdown("**" + _("Paths") + "** " + _("(each as strong as its weakest link)")
                    + "\n\n" + "\n".join(
            f"- {md(line)} · {basis_badge(basis)}" for line, basis in paths))
    for gap in chain.gaps:
        st.warning(md(gap))
    if chain.edges and draw:  # one line per link: only while the tab is open
        names = {n.fid: n.name for n in chain.nodes}
        st.markdown("**" + _("Links ({count}) and what each rests on").format(
            count=len(chain.edges)) + "**")
        basis_legend()
        for edge in chain.edges:
            via = edge.via if edge.how == "explicit" else _("inferred: {via}").format(
                via=edge.via)
            statement(md(f"{names.get(edge.source, edge.source)} → "
                         f"{names.get(edge.target, edge.target)} ({via})"), edge.basis)


def _dot(text: object) -> str:
    return json.dumps(str(text), ensure_ascii=False)  # a DOT quoted string, escapes " and \


_SIDE_COLOURS = {"supply": "#d9ecff", "site": "#ffe1e1", "discharge": "#e8f5e1"}


def chain_dot(chain: Any, *, local_names: dict[str, str] | None = None,
              gettext: Any = str) -> str:
    """Graphviz DOT source of a :class:`geo.scope.flows.WaterChain` (labels quoted, never HTML).

    Top to bottom: where the water comes from (blue), the site (red), where it goes
    (green); pipes are small grey notes; illustrative elements have dashed outlines.
    ``local_names`` (feature id -> local name) adds each element's name in its own
    language on a second line; ``gettext`` translates the roles and link labels.
    """
    local_names = local_names or {}
    lines = ["digraph chain {", "rankdir=TB; nodesep=0.25; ranksep=0.28; size=\"9,40\";",
             'node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=10, '
             'margin="0.12,0.05"];',
             'edge [fontname="sans-serif", fontsize=9, color="#0b5394"];']
    for node in chain.nodes:
        name = textwrap.fill(str(node.name), 30)
        if local_names.get(str(node.fid)):
            name = f"{name}\n{textwrap.fill(local_names[str(node.fid)], 12)}"  # CJK: wide
        role = gettext(str(node.role)) if node.role in _ROLES else node.role
        label = f"{name}\n({role})" if node.role and node.kind != "pipe" else name
        colour = _SIDE_COLOURS.get(str(node.side), "#eeeeee")
        style = "rounded,filled,dashed" if node.accuracy == "illustrative" else "rounded,filled"
        extra = ', fontsize=9, fillcolor="#f4f4f4", shape=note' if node.kind == "pipe" else ""
        lines.append(f'{_dot(node.fid)} [label={_dot(label)}, fillcolor="{colour}", '
                     f'style="{style}"{extra}];')
    for edge in chain.edges:
        kind = edge.basis.kind if getattr(edge, "basis", None) is not None else ""
        style = "solid" if edge.how == "explicit" else "dashed"
        label = "" if edge.how == "explicit" else (
            gettext("inferred, {distance} m").format(distance=f"{edge.distance_m:,.0f}")
            if edge.distance_m else gettext("inferred"))
        colour = ""
        if kind in ("assumed", "borrowed"):  # never drawn like a stated link
            style, colour = "dotted", ', color="#b2182b", fontcolor="#b2182b", penwidth=1.6'
            word = gettext(N_("assumed")) if kind == "assumed" else gettext(N_("borrowed"))
            label = f"{word}, {label}" if label else word
        lines.append(f"{_dot(edge.source)} -> {_dot(edge.target)} "
                     f"[style={style}, label={_dot(label)}{colour}];")
    lines.append("}")
    return "\n".join(lines)


def portfolio(choice: state.Choice) -> None:
    """One row per site: certificate validity, status of the scope elements, IWRA counts."""
    if choice.site is not None:
        st.info(_("Pick 'All sites' in the sidebar to compare every site of the workspace."))
        return
    try:
        table = state.portfolio(choice)
    except GeoError as err:
        st.warning(md_lines(_("The portfolio could not be assessed: {error}").format(
            error=err)))
        return
    frame = pd.DataFrame(table).drop(columns=["geometry"], errors="ignore")
    records = choice.workspace.records
    checks = {ref: validity(records[ref]) for ref in frame.get("aws_ref", []) if ref in records}
    lapsed = [ref for ref, check in checks.items() if check.state == "expired"]
    if lapsed:
        st.warning(_("{count} of {total} sites have an EXPIRED certificate on record "
                     "({sites}), as of {date}.").format(
                         count=len(lapsed), total=len(frame), sites=", ".join(lapsed),
                         date=dt.date.today().isoformat()),
                   icon=":material/event_busy:")
    columns = st.columns(min(max(len(frame), 1), 3), gap="small")
    for n, (_index, site) in enumerate(frame.iterrows()):
        with columns[n % len(columns)]:
            _portfolio_card(site)
    st.markdown("**" + _("All sites as a table") + "**")
    st.caption(_("Click a column header to sort; the icon at the table's top right downloads "
                 "it as CSV."))
    styled = frame.style.map(
        lambda v: "background-color: #f8c4c4; font-weight: bold"
        if str(v).startswith("EXPIRED") else
        "background-color: #ffe0a3" if str(v).startswith("expires") else "",
        subset=["certificate"])
    st.dataframe(styled, hide_index=True, width="stretch", column_config=_portfolio_columns())


def _portfolio_columns() -> dict[str, Any]:
    """The portfolio table's column headers, in the user's language."""
    return {
        "aws_ref": st.column_config.TextColumn(_("AWS ref"), width="small", pinned=True),
        "name": st.column_config.TextColumn(_("site"), width="medium"),
        "certificate": st.column_config.TextColumn(_("certificate"), width="medium"),
        "catchment_unit": st.column_config.TextColumn(_("catchment unit"), width="medium"),
        "single_catchment": st.column_config.TextColumn(_("one catchment"), width="small"),
        "checklist": st.column_config.TextColumn(_("1.1.1 checklist"), width="medium"),
        "present": st.column_config.NumberColumn(_("present"), width="small"),
        "partial": st.column_config.NumberColumn(_("partial"), width="small"),
        "missing": st.column_config.NumberColumn(_("missing"), width="small"),
        "not_applicable": st.column_config.NumberColumn(_("n/a"), width="small"),
        "iwras_onsite": st.column_config.NumberColumn(_("IWRAs on site"), width="small"),
        "iwras_within_1km": st.column_config.NumberColumn("≤ 1 km", width="small"),
        "iwras_within_10km": st.column_config.NumberColumn("≤ 10 km", width="small"),
        "iwras_within_50km": st.column_config.NumberColumn("≤ 50 km", width="small"),
        "chain_gaps": st.column_config.NumberColumn(_("chain gaps"), width="small"),
        "problem": st.column_config.TextColumn(_("problem"), width="medium"),
    }


def _portfolio_card(site: pd.Series) -> None:
    """One site of the portfolio: certificate, catchment, checklist, IWRAs, problems."""
    certificate = _text(site.get("certificate"))
    with st.container(border=True):
        st.markdown(f"**{md(_text(site.get('aws_ref')))}** · {md(_text(site.get('name')))}")
        if certificate.startswith("EXPIRED"):
            st.markdown(f":red-badge[{md(certificate)}]")
        elif certificate.startswith("expires"):
            st.markdown(f":orange-badge[{md(certificate)}]")
        iwra_bands = [c for c in site.index if str(c).startswith("iwras_within_")]
        rows({
            _("certificate"): "" if certificate.startswith(("EXPIRED", "expires"))
            else certificate,
            _("catchment unit"): site.get("catchment_unit"),
            _("one catchment (0.1.1.1)"): site.get("single_catchment"),
            _("1.1.1 checklist"): site.get("checklist"),
            _("IWRAs"): " · ".join(
                [_("{count} on site").format(count=_text(site.get("iwras_onsite")))]
                + [_("{count} within {band}").format(
                    count=_text(site.get(c)), band=str(c).removeprefix("iwras_within_"))
                   for c in iwra_bands]) if "iwras_onsite" in site.index else "",
            _("water chain gaps"): site.get("chain_gaps"),
            _("problem"): site.get("problem"),
        })


def site_record(choice: state.Choice) -> None:
    """The whole site record of the chosen site: grouped sections, the JSON folded."""
    if choice.site is None:
        st.info(_("Pick a site in the sidebar."))
        return
    record = choice.workspace.records.get(choice.site)
    if record is None:
        st.info(_("No site record for {site}; add data/sites/{site}.json or import its "
                  "certification report.").format(site=choice.site))
        return
    check = validity(record)
    _show_validity(check, record)
    show_record(record, expired=check.state == "expired")


# === Export ================================================================================
# Issue 5 (geo.export.site) adds its download buttons here: GeoJSON, GPKG, KML, map sheet...
# Keep this function the one place the app offers downloads.


def export(choice: state.Choice, scope: Any) -> None:
    """Downloads: the site's scope in every export format, and the current map view."""
    exports.site_downloads(choice, scope)
    st.divider()
    st.markdown("**" + _("The map as shown above") + "**")
    st.caption(_("Standalone map of the current view (site, layers, basemap): one HTML file "
                 "with Leaflet inlined, opens offline in any browser."))
    if st.button(_("Prepare the map as HTML"), key="export_html"):
        try:
            drawn = [*choice.layers, *st.session_state.get("rasters_drawn", ())]  # + rasters
            ws, drawn_scope = state.map_source(choice, scope)  # redacted for viewers
            fmap = build_map(ws, drawn_scope if drawn_scope is not None else choice.site,
                             basemap=choice.basemap, layers=drawn, for_export=True)
            page = map_html(fmap, title=f"Catchscope · {choice.site or 'all sites'} · map")
        except GeoError as err:
            st.error(md_lines(err))
            return
        name = (choice.site or "all-sites").lower()
        st.download_button(_("Download map (HTML)"), page.encode("utf-8"),
                           file_name=f"catchscope-{name}-map.html", mime="text/html",
                           key="export_html_download")
