"""Showing a scope: Markdown, rich terminal tables, and the ``catchscope scope`` command.

The assessment itself lives in :mod:`geo.scope.assess`; this module only presents it.  Every
value that comes from data (names, ids, messages) is escaped for where it goes: rich
markup for the terminal, Markdown and HTML for the report, since a layer may hold text
such as ``<img onerror=…>`` or ``[link](javascript:…)``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from geo.core.errors import ScopeError
from geo.scope.portfolio import NOT_ASSESSED

if TYPE_CHECKING:
    from geo.scope.assess import SiteScope

__all__ = [
    "md_cell",
    "parse_bands",
    "render_portfolio",
    "render_scope",
    "scope_markdown",
]

_STATUS_MARK = {"present": "✅ present", "partial": "🟡 partial", "missing": "❌ missing",
                "not applicable": "⚪ not applicable"}
_STATUS_STYLE = {"present": "bold green", "partial": "bold yellow", "missing": "bold red",
                 "not applicable": "bold"}
#: Short element names for narrow terminals (the report keeps the AWS wording).
_SHORT = {
    "site_boundaries": "1 Site boundaries",
    "infrastructure": "2 Water infrastructure incl. piping",
    "owned_water_sources": "3 Owned water sources",
    "service_provider": "4 Water service provider & ultimate source",
    "discharge": "5 Discharge points, WWTP & receiving water",
    "catchments": "6 Catchments affected & relied on",
}
_MD_SPECIAL = str.maketrans({"|": "\\|", "\n": " ", "<": "&lt;", ">": "&gt;", "&": "&amp;",
                             "[": "\\[", "]": "\\]", "`": "\\`", "*": "\\*", "_": "\\_"})


def md_cell(text: object) -> str:
    """``text`` safe inside a Markdown table cell (pipes, brackets, markup escaped)."""
    return str(text).translate(_MD_SPECIAL)


def parse_bands(text: str | None) -> tuple[float, ...] | None:
    """Parse ``"1,10,50"`` into kilometres (None stays None: the workspace default).

    Raises
    ------
    ScopeError
        If a part is not a positive number.
    """
    if text is None:
        return None
    try:
        bands = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ScopeError(f"--bands {text!r}: give kilometres separated by commas, "
                         "e.g. --bands 1,10,50.") from None
    if not bands or any(not math.isfinite(b) or b <= 0 for b in bands):
        raise ScopeError(f"--bands {text!r}: every band must be a positive number of km.")
    return bands


# --- Markdown ---------------------------------------------------------------------------


def scope_markdown(scope: SiteScope) -> str:
    """The assessment as a GitHub-flavoured Markdown report (values escaped)."""
    lines = [f"# Physical scope of {md_cell(scope.name)} ({md_cell(scope.aws_ref)})", ""]
    lines += [f"AWS Standard v2.0 indicator 1.1.1 checklist: **{scope.score}**.", ""]
    if scope.certificate is not None:
        lines += [f"Certificate: {md_cell(scope.certificate['message'])}", ""]
    lines += ["Every statement says what it rests on: **stated** (a report, its section and "
              "words), **derived** (computed from features), **inferred** (a rule and its "
              "tolerance), **borrowed** (another record's report), **assumed** (our own "
              "placement or guess). A statement is only as strong as its weakest input.", ""]
    lines += _versus_md(scope)
    lines += _answers_md(scope)
    lines += ["## 1.1.1 checklist", "",
              "| element | status | evidence | to do (→) · caveats (⚠) | basis |",
              "|---|---|---|---|---|"]
    for c in scope.checklist:
        evidence = "; ".join(
            f"{md_cell(e.name)} ({md_cell(e.layer)}/{md_cell(e.fid)}, "
            f"{md_cell(e.accuracy or 'accuracy ?')})"
            for e in c.evidence[:8])
        if len(c.evidence) > 8:
            evidence += f"; … {len(c.evidence) - 8} more"
        todo = "<br>".join([*(f"→ {md_cell(m)}" for m in c.missing),
                            *(f"⚠ {md_cell(t)}" for t in c.caveats)])
        lines.append(f"| {md_cell(c.title)} | {_STATUS_MARK[c.status]} | {evidence} | {todo} | "
                     f"{_basis_cell(c.basis)} |")
    caveats = [(c.title, t) for c in scope.checklist for t in c.notes]
    if caveats:
        lines += ["", "Notes:", ""]
        lines += [f"- *{md_cell(title)}*: {md_cell(text)}" for title, text in caveats]
    one = scope.one_catchment
    lines += ["", "## 0.1.1.1 one catchment", "",
              f"**{'yes' if one.ok else 'no'}** — {md_cell(one.message)}", ""]
    if one.overlaps:
        lines += ["| parcel | catchment unit | area (m²) | share |", "|---|---|---|---|"]
        lines += [f"| {md_cell(o.parcel_name)} | {md_cell(o.unit_name)} | {o.area_m2:,.0f} | "
                  f"{o.share:.1%} |" for o in one.overlaps]
    for title, units in (("Catchment units relied on", scope.relied_on),
                         ("Catchment units affected", scope.affected)):
        lines += ["", f"## {title}", ""]
        if not units:
            lines.append("None found (see the checklist for what to map).")
        lines += [f"{k}. {md_cell(u.name)} ({md_cell(u.fid)}) — {md_cell(u.why)}. "
                  f"Basis: {_basis_cell(u.basis)}"
                  for k, u in enumerate(units, 1)]
    lines += _stress_md(scope)
    lines += ["", "## IWRAs", "", f"On-site (1.3.6): touching a parcel or within "
              f"{scope.onsite_tolerance_m:g} m; catchment (1.5.5) otherwise. Bands: "
              + ", ".join(f"{b:g} km" for b in scope.bands_km) + ".", ""]
    if scope.iwras.empty:
        lines.append("No IWRA features in this workspace.")
    else:
        lines += ["| IWRA | category | class | distance (m) | band | relation | because | "
                  "identified (basis) | distance basis |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in scope.iwras.to_dict(orient="records"):
            kind = r.get("distance_basis_kind") or ""
            distance = f"{r['distance_m']:,.0f}" + (f" ({kind})" if kind and kind not in (
                "stated", "derived") else "")
            lines.append(f"| {md_cell(r['name'])} | {md_cell(r['category'] or '')} | "
                         f"{_klass(r['classification'])} | {distance} | "
                         f"{_band(r['band_km'])} | {r['relation']} | "
                         f"{md_cell(r.get('relation_via', ''))} | "
                         f"{md_cell(r.get('basis') or '')} | "
                         f"{md_cell(r.get('distance_basis') or '')} |")
    lines += ["", "## Water chain", "", "→ a link in our data; ⇢ inferred (nearest "
              "water body with its distance, or the catchment unit holding a water body's "
              "outlet). Each path is as strong as its weakest link (basis after it).", ""]
    path_bases = scope.chain.path_bases()
    lines += [f"- {md_cell(line)} — *{b.kind if b else '?'}*"
              for line, b in zip(scope.chain.lines(), path_bases, strict=True)]
    lines += ["", md_cell(_link_summary(scope.chain))]
    lines += [f"- inferred: {md_cell(text)}" for text in _inferred_links(scope.chain)]
    names = {n.fid: n.name for n in scope.chain.nodes}
    lines += ["", "| link | via | basis |", "|---|---|---|"]
    lines += [f"| {md_cell(names.get(e.source, e.source))} → "
              f"{md_cell(names.get(e.target, e.target))} | {md_cell(e.via)} | "
              f"{_basis_cell(e.basis)} |" for e in scope.chain.edges]
    if scope.record_facts:
        lines += ["", "## Record facts and their basis", "", "| field | value | basis |",
                  "|---|---|---|"]
        lines += [f"| {md_cell(f)} | {md_cell(v)} | {_basis_cell(b)} |"
                  for f, v, b in scope.record_facts]
    if scope.chain.gaps:
        lines += ["", "Gaps in the chain:", ""] + [f"- {md_cell(g)}" for g in scope.chain.gaps]
    if scope.notes:
        lines += ["", "## Notes", ""] + [f"- {md_cell(n)}" for n in scope.notes]
    lines += ["", f"Distances and areas measured in {scope.metric_crs}.", ""]
    return "\n".join(lines)


_ROLE_WORDS = {"site": "the site lies in it"}


def _stress_md(scope: SiteScope) -> list[str]:
    """The water stress of the scope's units, when they carry it (Aqueduct 4.0)."""
    rows = getattr(scope, "water_stress", ())
    if not rows:
        return []
    from geo.scope.context import STRESS_SOURCE

    lines = ["", "## Baseline water stress", "", f"{md_cell(STRESS_SOURCE)}.", "",
             "| catchment unit | in the scope as | water stress | score (0–5) |",
             "|---|---|---|---|"]
    lines += [f"| {md_cell(u.name)} ({md_cell(u.fid)}) | {md_cell(_ROLE_WORDS.get(u.role, u.role))}"
              f" | {md_cell(u.label)} | "
              + ("—" if u.score is None else f"{u.score:.2f}") + " |" for u in rows]
    return lines


def _basis_cell(basis: Any) -> str:
    """A basis as a Markdown cell: its kind in bold, then the one-line summary."""
    if basis is None:
        return "—"
    summary = basis.summary()
    rest = summary.split(" — ", 1)[1] if " — " in summary else ""
    return f"**{basis.kind}**" + (f" — {md_cell(rest)}" if rest else "")


def _versus_md(scope: SiteScope) -> list[str]:
    lines = ["## Map vs report", ""]
    if scope.record is None:
        return [*lines, "No site record: nothing to compare.", ""]
    if not scope.versus:
        return [*lines, "The map and the record agree on everything compared (receiving "
                "waters, catchment, IWRAs, area, addresses).", ""]
    lines += ["| topic | the report says | the map says | what to do |", "|---|---|---|---|"]
    lines += [f"| {md_cell(d.topic)} | {md_cell(d.report)} | {md_cell(d.map)} | "
              f"{md_cell(d.note)} |" for d in scope.versus]
    return [*lines, ""]


def _answers_md(scope: SiteScope) -> list[str]:
    if not scope.answers:
        return []
    lines = ["## The auditor's answer beside ours", "",
             "| indicator | report | auditor's comment | product | why they differ |",
             "|---|---|---|---|---|"]
    lines += [f"| {a.indicator} | {md_cell(a.report_answer)} | {md_cell(a.report_comment)} | "
              f"{md_cell(a.ours)} | {md_cell(a.why)} |" for a in scope.answers]
    return [*lines, ""]


def _link_summary(chain: Any) -> str:
    explicit = sum(e.how == "explicit" for e in chain.edges)
    kinds = [e.basis.kind for e in chain.edges if e.basis is not None]
    counts = ", ".join(f"{kinds.count(k)} {k}" for k in dict.fromkeys(
        ("stated", "derived", "inferred", "borrowed", "assumed")) if kinds.count(k))
    return (f"{len(chain.edges)} links: {explicit} in our data (flows_to, supplies, "
            f"serves, aws_ref, next_down…), {len(chain.edges) - explicit} inferred"
            + (f"; by basis: {counts}" if counts else "") + ".")


def _inferred_links(chain: Any) -> list[str]:
    """Each inferred edge in words: which features, by which rule, how far."""
    names = {n.fid: n.name for n in chain.nodes}
    out = []
    for e in chain.edges:
        if e.how != "inferred":
            continue
        far = f", {e.distance_m:,.0f} m" if e.distance_m else ""
        out.append(f"{names.get(e.source, e.source)} ⇢ {names.get(e.target, e.target)} "
                   f"({e.via}{far}): confirm it and record it as flows_to")
    return out


def _klass(value: str) -> str:
    return "on-site (1.3.6)" if value == "onsite" else "catchment (1.5.5)"


def _band(value: Any) -> str:
    return "beyond" if value is None or pd.isna(value) else f"≤ {value:g} km"


# --- the terminal -----------------------------------------------------------------------


def render_scope(scope: SiteScope, console: Console) -> None:
    """Print the assessment as rich tables (data values are plain text, never markup)."""
    console.print(Text.assemble(("Physical scope of ", "bold"), (scope.name, "bold"),
                                f" ({scope.aws_ref}) — AWS 1.1.1 checklist: ",
                                (scope.score, "bold")))
    if scope.certificate is not None:
        style = {"expired": "bold red", "expiring": "yellow", "valid": "green"}
        console.print(Text(scope.certificate["message"],
                           style=style.get(scope.certificate["state"], "")))
    table = Table(title="1.1.1 checklist", show_lines=True, expand=True)
    table.add_column("element", ratio=2)
    table.add_column("status", no_wrap=True, min_width=7)
    table.add_column("evidence (accuracy)", ratio=3)
    table.add_column("to do · caveats (⚠) · notes", ratio=4)
    for c in scope.checklist:
        names = [f"{e.name} ({e.accuracy or '?'})" for e in c.evidence[:4]]
        if len(c.evidence) > 4:
            names.append(f"… {len(c.evidence) - 4} more")
        todo = "\n".join([*(f"→ {m}" for m in c.missing), *(f"⚠ {t}" for t in c.caveats),
                          *(f"· {t}" for t in c.notes)])
        table.add_row(Text(_SHORT.get(c.element.value, c.title)),
                      Text(c.status, style=_STATUS_STYLE[c.status]),
                      Text("\n".join(names) or "—"), Text(todo))
    console.print(table)
    one = scope.one_catchment
    console.print(Text.assemble(("0.1.1.1 one catchment: ", "bold"),
                                ("yes" if one.ok else "no", "green" if one.ok else "red"),
                                " — ", one.message))
    if not one.ok and one.overlaps:
        overlaps = Table(title="Parcels by catchment unit")
        for column in ("parcel", "unit", "area m²", "share"):
            overlaps.add_column(column, justify="right" if column in ("area m²", "share")
                                else "left")
        for o in one.overlaps:
            overlaps.add_row(Text(o.parcel_name), Text(o.unit_name), f"{o.area_m2:,.0f}",
                             f"{o.share:.1%}")
        console.print(overlaps)
    units = Table(title="Catchment units relied on and affected")
    for column in ("", "unit", "why"):
        units.add_column(column)
    for label, group in (("relied on", scope.relied_on), ("affected", scope.affected)):
        for u in group:
            units.add_row(label, Text(f"{u.name} ({u.fid})"), Text(u.why))
        if not group:
            units.add_row(label, Text("none found"), Text("see the checklist"))
    console.print(units)
    if getattr(scope, "water_stress", ()):
        from geo.scope.context import STRESS_SOURCE

        stress = Table(title="Baseline water stress", caption=STRESS_SOURCE)
        for column in ("unit", "in the scope as", "water stress"):
            stress.add_column(column)
        for row in scope.water_stress:
            stress.add_row(Text(f"{row.name} ({row.fid})"),
                           Text(_ROLE_WORDS.get(row.role, row.role)), Text(row.text()))
        console.print(stress)
    _render_iwras(scope, console)
    console.print(Text("Water chain (→ stated link, ⇢ inferred)", style="bold"))
    for line in scope.chain.lines():
        console.print(Text(f"  {line}"))
    console.print(Text(f"  {_link_summary(scope.chain)}", style="dim"))
    for text in _inferred_links(scope.chain):
        console.print(Text(f"  inferred: {text}", style="dim"))
    for gap in scope.chain.gaps:
        console.print(Text(f"  gap: {gap}", style="yellow"))
    for note in scope.notes:
        console.print(Text(f"Note: {note}"))
    console.print(Text(f"Distances and areas in {scope.metric_crs}.", style="dim"))


def _render_iwras(scope: SiteScope, console: Console) -> None:
    if scope.iwras.empty:
        console.print("No IWRA features in this workspace.")
        return
    table = Table(title=f"IWRAs (on-site within {scope.onsite_tolerance_m:g} m; bands "
                  + ", ".join(f"{b:g} km" for b in scope.bands_km) + ")")
    for column in ("IWRA (category)", "class", "distance m", "band", "relation"):
        table.add_column(column, justify="right" if column == "distance m" else "left",
                         ratio=3 if column == "relation" else 2 if column[0] == "I" else None)
    for r in scope.iwras.to_dict(orient="records"):
        name = Text(str(r["name"]))
        if r["category"]:
            name.append(f"\n({r['category']})", style="dim")
        table.add_row(name, _klass(r["classification"]), f"{r['distance_m']:,.0f}",
                      _band(r["band_km"]), _relation_cell(r))
    console.print(table)
    console.print(Text("relation: meets a chain feature (intake, outfall, receiving water), "
                       "else shares a catchment unit the site relies on / affects — as coarse "
                       "as the units.", style="dim"))


def _relation_cell(row: dict[str, Any]) -> Text:
    """The relation and, dimmed under it, what it rests on."""
    cell = Text(str(row["relation"]))
    via = str(row.get("relation_via") or "")
    if via:
        cell.append("\n" + via, style="dim")
    return cell


def render_portfolio(table: pd.DataFrame, console: Console, *, max_rows: int = 60) -> None:
    """Print the portfolio (one row per site) as a compact rich table; the CSV has it all.

    Beyond ``max_rows`` sites only the first rows are drawn (a terminal table of 1,000
    sites is unreadable and takes rich seconds to lay out) and a summary says the rest is
    in the CSV; sites that could not be assessed are always listed.
    """
    if table.empty:
        console.print("No sites in this workspace yet: import a certification report "
                      "(catchscope import-report) or draw site parcels with an aws_ref.")
        return
    shown = table.head(max_rows)
    out = Table(pad_edge=False, title=f"Portfolio: {len(table)} site(s)"
                + (f", the first {len(shown)} shown" if len(shown) < len(table) else ""))
    out.add_column("site", ratio=3, min_width=10)
    out.add_column("catchment", ratio=2, min_width=8)
    out.add_column("one\nunit")
    out.add_column("1.1.1", no_wrap=True, min_width=9)
    bands = [c for c in table.columns if c.startswith("iwras_within_")]
    out.add_column("IWRA\nsite", justify="right")
    for column in bands:
        out.add_column("IWRA\n≤" + column.removeprefix("iwras_within_").removesuffix("km"),
                       justify="right")
    out.add_column("gaps", justify="right")
    for row in shown.to_dict(orient="records"):
        cells: list[Text | str] = [
                 _site_cell(row), Text(str(row["catchment_unit"])),
                 Text(str(row["single_catchment"]),
                      style="green" if row["single_catchment"] == "yes" else "red"),
                 _checklist_cell(row),
                 str(row["iwras_onsite"]), *(str(row[c]) for c in bands),
                 "" if pd.isna(row["chain_gaps"]) else str(row["chain_gaps"])]
        out.add_row(*cells)
    console.print(out)
    console.print(Text("under each site: its certificate's validity as of today; "
                       "one unit: all parcels in one catchment unit (0.1.1.1); 1.1.1: elements "
                       "present of those that apply, then partial / missing / n/a; IWRA site: "
                       "on-site IWRAs; IWRA ≤ n: IWRAs within n km (cumulative); gaps: where "
                       "the water chain could not be followed.", style="dim"))
    console.print(Text(_portfolio_summary(table), style="bold"))
    # Problems under the table, in full: a column would be a sliver at 80 characters.
    failed = table["checklist"].astype(str) == NOT_ASSESSED
    noted = table[failed | (table.index.isin(shown.index) & table["problem"].astype(bool))]
    for row in noted.to_dict(orient="records"):
        bad = str(row["checklist"]) == NOT_ASSESSED
        console.print(Text.assemble((f"{row['aws_ref']}: ", "bold red" if bad else "bold yellow"),
                                    str(row["problem"])))
    if len(shown) < len(table):
        console.print(Text(f"… {len(table) - len(shown)} more site(s) not drawn: the CSV "
                           "(--csv PATH) has every row and column.", style="dim"))


def _site_cell(row: dict[str, Any]) -> Text:
    """Reference, name and certificate validity (red when expired) of one portfolio row."""
    certificate = str(row.get("certificate") or "")
    style = "bold red" if certificate.startswith("EXPIRED") else "dim"
    return Text.assemble(f"{row['aws_ref']}\n{row['name']}\n", (certificate, style))


def _portfolio_summary(table: pd.DataFrame) -> str:
    """One line over all sites: one catchment, fully present, problems, not assessed."""
    failed = int((table["checklist"].astype(str) == NOT_ASSESSED).sum())
    assessed = table[table["checklist"].astype(str) != NOT_ASSESSED]
    complete = int((assessed["present"] == assessed[["present", "partial", "missing"]]
                    .sum(axis=1)).sum())
    problems = int(table["problem"].astype(bool).sum()) - failed
    return (f"{len(table)} site(s): {int((table['single_catchment'] == 'yes').sum())} in one "
            f"catchment unit; {complete} with every applicable 1.1.1 element present; "
            f"{problems} with a problem noted; {failed} not assessed.")


def _checklist_cell(row: dict[str, Any]) -> Text:
    """``1/5 ✓`` over ``4 partial`` …: the 1.1.1 score, short enough for 80 columns."""
    if pd.isna(row.get("present")):
        return Text(str(row["checklist"]).replace(" ", "\n"), style="red")
    applicable = int(row["present"]) + int(row["partial"]) + int(row["missing"])
    parts = [f"{row['present']}/{applicable} ✓"]
    parts += [f"{row[key]} {label}" for key, label in (
        ("partial", "partial"), ("missing", "missing"), ("not_applicable", "n/a")) if row[key]]
    style = ("green" if row["present"] == applicable
             else "red" if row["missing"] else "yellow")
    return Text("\n".join(parts), style=style)
