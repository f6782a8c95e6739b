"""The attribute tables an export carries beside its features.

:func:`site_tables` gathers, for one site, the tables the GeoPackage stores as
attribute-only tables and the CSV export writes as files: the site record, the 1.1.1
checklist with the 0.1.1.1 one-catchment check, every statement of the scope with its
basis, the water chain's links, the screened IWRAs, the audit's
findings and indicators, zonal statistics of the workspace's rasters, and the sources
and licences of the layers used.  Called by :func:`geo.export.site.collect`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.core.basis import Basis, weakest
from geo.core.catalogue import AWS_ELEMENTS, AwsElement, LayerSpec
from geo.core.records import SiteRecord
from geo.core.workspace import Workspace
from geo.export.vector import cell_text, json_value, plain_table
from geo.scope.claims import claims, kind_of_summary, one_catchment_basis
from geo.scope.evidence import record_facts

__all__ = ["site_tables"]


def site_tables(
    workspace: Workspace, aws_ref: str, scope: Any, specs: list[LayerSpec]
) -> dict[str, pd.DataFrame]:
    """The attribute tables of a site's export, every cell plain (see :func:`plain_table`).

    ``site_record`` (field, value, and the basis of the facts the scope prints),
    ``checklist`` (1.1.1 elements and the 0.1.1.1 check, each with ``basis_kind`` and
    ``basis``), ``statements`` (every statement of the scope and what it rests on),
    ``water_chain`` (its links and their bases), ``map_vs_report``, ``auditor_answers``,
    ``iwras`` (with the bases of each row and distance), ``findings``,
    ``audit_indicators``, ``raster_zonal_stats`` (when the workspace has rasters) and
    ``layer_sources`` (provenance and licence of ``specs`` and of the rasters used); a
    table with nothing to say is left out.
    """
    record = workspace.records.get(aws_ref)
    tables: dict[str, pd.DataFrame] = {}
    if record is not None:
        tables["site_record"] = _record_frame(
            record, getattr(scope, "record_facts", None) or record_facts(record))
    checklist = _checklist_frame(scope)
    if checklist is not None:
        tables["checklist"] = checklist
    found = claims(scope) if scope is not None else ()
    if found:
        tables["statements"] = pd.DataFrame([c.to_dict() for c in found])
    chain = _chain_frame(scope)
    if chain is not None:
        tables["water_chain"] = chain
    versus = getattr(scope, "versus", ())
    if versus:
        tables["map_vs_report"] = pd.DataFrame([
            {"topic": d.topic, "report": d.report, "map": d.map, "note": d.note,
             "basis": "\n".join(b.summary() for b in d.bases)} for d in versus])
    answers = getattr(scope, "answers", ())
    if answers:
        tables["auditor_answers"] = pd.DataFrame([a.to_dict() for a in answers])
    iwras = _as_frame(getattr(scope, "iwras", None))
    if iwras is not None:
        if "basis" in iwras:
            iwras.insert(iwras.columns.get_loc("basis") + 1, "basis_kind",
                         [kind_of_summary(b) for b in iwras["basis"]])
        tables["iwras"] = iwras
    if record is not None and record.findings:
        tables["findings"] = pd.DataFrame([f.model_dump(mode="json") for f in record.findings])
    if record is not None and record.indicators:
        tables["audit_indicators"] = pd.DataFrame(
            [i.model_dump(mode="json") for i in record.indicators]
        )
    # Rasters: zonal statistics over the site's parcels, catchment units and IWRAs.
    from geo.raster.zones import site_raster_stats

    zonal = site_raster_stats(workspace, scope if scope is not None else aws_ref)
    if not zonal.empty:
        tables["raster_zonal_stats"] = zonal
        used = set(zonal["raster"])
        specs = [*specs, *(s for s in workspace.specs.values() if s.id in used)]
    tables["layer_sources"] = pd.DataFrame(
        [
            {
                "layer": s.id, "title": s.title, "kind": s.kind.value,
                "aws_elements": ", ".join(AWS_ELEMENTS[AwsElement(e)] for e in s.evidences),
                "source_file": s.source, "original_datum": s.datum.value,
                "attribution": s.attribution, "source_date": s.source_date,
                "licence": s.licence,
            }
            for s in specs
        ]
    )
    return {name: plain_table(frame) for name, frame in tables.items()}


def _checklist_frame(scope: Any) -> pd.DataFrame | None:
    """The 1.1.1 checklist (and the 0.1.1.1 one-catchment check) as one flat table."""
    checks = getattr(scope, "checklist", None)
    if not checks:
        return None
    rows = []
    for check in checks:
        evidence = getattr(check, "evidence", ())
        rows.append({
            "indicator": "1.1.1",
            "element": json_value(getattr(check, "element", "")),
            "title": getattr(check, "title", ""),
            "status": getattr(check, "status", ""),
            "evidence": "; ".join(str(getattr(e, "name", e)) for e in evidence),
            "evidence_fids": "; ".join(str(getattr(e, "fid", "")) for e in evidence),
            "missing": "\n".join(getattr(check, "missing", ())),
            "caveats": "\n".join(getattr(check, "caveats", ())),
            "notes": "\n".join(getattr(check, "notes", ())),
            "basis_kind": getattr(getattr(check, "basis", None), "kind", ""),
            "basis": _basis_text(getattr(check, "basis", None)),
        })
    one = getattr(scope, "one_catchment", None)
    if one is not None:
        basis = one_catchment_basis(scope)
        rows.append({
            "indicator": "0.1.1.1", "element": "one_catchment",
            "title": "The site occupies one catchment",
            "status": "present" if getattr(one, "ok", False) else "missing",
            "evidence": "; ".join(getattr(one, "unit_names", ())),
            "evidence_fids": "; ".join(getattr(one, "units", ())),
            "missing": "", "caveats": "", "notes": str(getattr(one, "message", "")),
            "basis_kind": basis.kind, "basis": basis.summary(),
        })
    return pd.DataFrame(rows)


def _basis_text(basis: Any) -> str:
    return basis.summary() if basis is not None and hasattr(basis, "summary") else ""


def _record_frame(record: SiteRecord, facts: Iterable[tuple[str, str, Basis]]) -> pd.DataFrame:
    """Field, value and — for the facts the scope prints — what each rests on.

    A list field's items may rest on different bases: ``basis`` then holds one line per
    item (``item: summary``) and ``basis_kind`` the weakest.
    """
    dumped = record.model_dump(mode="json", exclude={"findings", "indicators"})
    per_field: dict[str, list[tuple[str, Basis]]] = {}
    for field, value, basis in facts:
        per_field.setdefault(field, []).append((value, basis))
    kinds, texts = [], []
    for field in dumped:
        items = per_field.get(field, [])
        worst = weakest(b for _, b in items)
        kinds.append(worst.kind if worst is not None else "")
        texts.append(items[0][1].summary() if len(items) == 1 else
                     "\n".join(f"{value}: {b.summary()}" for value, b in items))
    return pd.DataFrame({"field": list(dumped), "value": [cell_text(v) for v in dumped.values()],
                         "basis_kind": kinds, "basis": texts})


def _chain_frame(scope: Any) -> pd.DataFrame | None:
    """The water chain's links, one row each, with what each rests on."""
    chain = getattr(scope, "chain", None)
    if chain is None or not getattr(chain, "edges", ()):
        return None
    names = {n.fid: n.name for n in chain.nodes}
    return pd.DataFrame([{
        "source": e.source, "source_name": names.get(e.source, e.source),
        "target": e.target, "target_name": names.get(e.target, e.target),
        "how": e.how, "via": e.via, "distance_m": e.distance_m,
        "basis_kind": e.basis.kind if e.basis is not None else "",
        "basis": e.basis.summary() if e.basis is not None else ""} for e in chain.edges])


def _as_frame(value: Any) -> pd.DataFrame | None:
    """A DataFrame from a DataFrame, a list of dataclasses / pydantic models / dicts."""
    if value is None:
        return None
    if isinstance(value, gpd.GeoDataFrame):
        value = pd.DataFrame(value.drop(columns=value.geometry.name))
    if isinstance(value, pd.DataFrame):
        return value.reset_index(drop=True)
    if hasattr(value, "to_frame") and callable(value.to_frame):
        return _as_frame(value.to_frame())
    items = list(value) if isinstance(value, Iterable) else []
    rows = []
    for item in items:
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            rows.append(dataclasses.asdict(item))
        elif hasattr(item, "model_dump"):
            rows.append(item.model_dump(mode="json"))
        elif isinstance(item, dict):
            rows.append(dict(item))
    return pd.DataFrame(rows) if rows else None
