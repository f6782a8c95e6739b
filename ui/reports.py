"""Import an AWS certification report in the app: upload → review → save.

The same library calls as ``catchscope import-report``: :func:`geo.reports.parse.read_report`
parses the uploaded bytes (PDF or text), :func:`geo.reports.parse.plan_import` works out what
saving would change, and :func:`geo.reports.parse.save_plan` writes the record atomically —
refusing if the stored record changed since the review.  Nothing is saved until the user
presses the button; every value from the report is shown as data, never as HTML.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from geo.core.errors import GeoError
from geo.reports.parse import ImportPlan, plan_import, read_report, review_facts, save_plan
from geo.serve.accounts import Action
from ui import auth, democopy, state
from ui.panels import md, md_lines

__all__ = ["import_report"]

_OUTCOMES = {
    "update": "replace with the report's value",
    "keep-edited": "keep (edited by hand)",
    "keep-existing": "keep (not in the report)",
}
MAX_REPORT_BYTES = 30 * 1024 * 1024


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _changes_table(plan: ImportPlan) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "field": [c.path for c in plan.changes],
            "stored": [_cell(c.old) for c in plan.changes],
            "report": [_cell(c.new) for c in plan.changes],
            "on save": [_OUTCOMES.get(c.outcome, c.outcome) for c in plan.changes],
        }
    )


def import_report(choice: state.Choice) -> None:
    """The "Import report" tab: upload a report, review what it yields, save it."""
    if not democopy.writable(choice, "import_report"):
        return
    st.caption(
        "Upload an AWS certification report (the PDF AWS publishes, or its text). "
        "Review what was read, then save it as the site's record. Fields a person "
        "edited by hand are never overwritten."
    )
    upload = st.file_uploader("Certification report", type=["pdf", "txt"],
                              key=f"report_upload:{choice.workspace.root}")
    saved = st.session_state.pop("report_saved", None)
    if saved:
        st.success(md(f"Saved {saved}."))
    if upload is None:
        return
    if upload.size > MAX_REPORT_BYTES:
        st.error(f"{upload.name} is {upload.size / 1e6:.0f} MB; reports are at most "
                 f"{MAX_REPORT_BYTES / 1e6:.0f} MB.")
        return
    try:
        imported = read_report(upload.getvalue(), name=upload.name)
    except GeoError as err:  # empty, binary, scanned: say so here, the other tabs still work
        st.error(md_lines(f"Nothing was imported: {err}"))
        return
    record = imported.record
    plan = plan_import(choice.workspace.records, imported)
    st.subheader(md(record.label), anchor=False)
    for warning in imported.warnings:
        st.warning(md(warning.message))
    facts = review_facts(record)
    st.dataframe(pd.DataFrame(facts, columns=["fact", "read from the report"]),
                 hide_index=True, use_container_width=True)
    findings = pd.DataFrame([f.model_dump() for f in record.findings])
    if not findings.empty:
        st.markdown("**Findings**")
        st.dataframe(findings, hide_index=True, use_container_width=True)
    if plan.is_new:
        label = f"Save the new record {record.aws_ref}"
        st.info(md(f"{record.aws_ref} is not in this workspace yet; saving adds it."))
    else:
        updates = len(plan.updates)
        st.markdown(md(f"{record.aws_ref} is already in this workspace. "
                       f"{len(plan.changes)} difference(s); saving replaces {updates}."))
        if plan.changes:  # a table, not a grid: the reviewer reads every value in full;
            # st.table renders Markdown, so every cell is escaped by md()
            st.table(_changes_table(plan).map(md).set_index("field"))
        if not updates:
            st.success("Nothing to replace: the stored record already holds what the report "
                       "says (or a person edited it).")
            return
        label = f"Replace {updates} field(s) of {record.aws_ref}"
    if st.button(label, type="primary", key=f"save_report:{upload.file_id}"):
        try:
            auth.require(Action.IMPORT_REPORT, "saving a site record")
            path = save_plan(choice.workspace.data_dir, plan)
        except GeoError as err:  # the stored record changed since this review
            st.error(md_lines(err))
            return
        st.session_state["report_saved"] = path.name
        st.rerun()
