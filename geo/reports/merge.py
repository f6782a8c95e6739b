"""Compare and merge site records without losing what people edited.

An import produces a fresh :class:`~geo.core.records.SiteRecord`; when the workspace
already holds one for the same AWS reference, :func:`merge_records` combines them:
fields a person edited (listed in ``edited_fields``, whole fields or single
checklist items / findings) keep the stored value, fields the new report leaves
empty keep the stored value, everything else takes the imported value.  Every
difference is reported as a :class:`FieldChange` so the user can review it first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from geo.core.errors import ReportError
from geo.core.records import SiteRecord

__all__ = ["FieldChange", "diff_records", "merge_records"]


@dataclass(frozen=True)
class FieldChange:
    """One difference between a stored record and an imported one.

    ``outcome`` says what the merge did: ``"update"`` (the imported value is taken),
    ``"keep-edited"`` (a person edited the field: the stored value stays) or
    ``"keep-existing"`` (the report has no value for it: the stored value stays).
    """

    path: str
    old: Any
    new: Any
    outcome: Literal["update", "keep-edited", "keep-existing"] = "update"


_PERSON_FIELDS = ("edited_fields", "notes", "field_bases")
_KEYED_LISTS = {"indicators": "id", "findings": "id"}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _dump(record: SiteRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")


def diff_records(old: SiteRecord, new: SiteRecord) -> list[FieldChange]:
    """Every difference between two records, field by field.

    Checklist indicators and findings are compared item by item (path
    ``indicators[3.6.1].answer``); other fields as a whole.
    """
    a, b = _dump(old), _dump(new)
    changes: list[FieldChange] = []
    for name in SiteRecord.model_fields:
        if name in _KEYED_LISTS:
            changes += _diff_keyed(name, a[name], b[name])
        elif a[name] != b[name]:
            changes.append(FieldChange(name, a[name], b[name]))
    return changes


def _diff_keyed(name: str, old: list[dict[str, Any]],
                new: list[dict[str, Any]]) -> list[FieldChange]:
    key = _KEYED_LISTS[name]
    old_items = {item[key]: item for item in old}
    new_items = {item[key]: item for item in new}
    changes = []
    for item_id in list(old_items) + [k for k in new_items if k not in old_items]:
        before, after = old_items.get(item_id), new_items.get(item_id)
        path = f"{name}[{item_id}]"
        if before is None or after is None:
            changes.append(FieldChange(path, before, after))
            continue
        changes += [FieldChange(f"{path}.{attr}", before[attr], after.get(attr))
                    for attr in before if before[attr] != after.get(attr)]
    return changes


def merge_records(existing: SiteRecord,
                  imported: SiteRecord) -> tuple[SiteRecord, list[FieldChange]]:
    """Merge an imported record into the stored one of the same site.

    Rules: a field listed in ``existing.edited_fields`` (or one indicator / finding
    listed as ``indicators[<id>]`` / ``findings[<id>]``) keeps the stored value; a
    field the report leaves empty keeps the stored value; ``edited_fields``,
    ``notes`` and ``field_bases`` belong to people and always stay; everything else
    takes the imported value.

    Returns
    -------
    (SiteRecord, list of FieldChange)
        The merged record and every difference between stored and imported, each
        with the merge's outcome.

    Raises
    ------
    ReportError
        If the two records are of different sites.
    """
    if existing.aws_ref != imported.aws_ref:
        raise ReportError(f"Cannot merge a report of {imported.aws_ref} into the record of "
                          f"{existing.aws_ref}.")
    edited = set(existing.edited_fields)
    old, new = _dump(existing), _dump(imported)
    merged: dict[str, Any] = {}
    changes: list[FieldChange] = []
    for name in SiteRecord.model_fields:
        if name in _PERSON_FIELDS:
            merged[name] = old[name]
        elif name in edited:
            merged[name] = old[name]
            if old[name] != new[name]:
                changes.append(FieldChange(name, old[name], new[name], "keep-edited"))
        elif name in _KEYED_LISTS:
            merged[name], item_changes = _merge_keyed(name, old[name], new[name], edited)
            changes += item_changes
        elif _empty(new[name]) and not _empty(old[name]):
            merged[name] = old[name]
            changes.append(FieldChange(name, old[name], new[name], "keep-existing"))
        else:
            merged[name] = new[name]
            if old[name] != new[name]:
                changes.append(FieldChange(name, old[name], new[name]))
    return SiteRecord.model_validate(merged), changes


def _merge_keyed(name: str, old: list[dict[str, Any]], new: list[dict[str, Any]],
                 edited: set[str]) -> tuple[list[dict[str, Any]], list[FieldChange]]:
    key = _KEYED_LISTS[name]
    protected = {m.group(1) for e in edited
                 if (m := re.fullmatch(re.escape(name) + r"\[(.+)\]", e))}
    old_items = {item[key]: item for item in old}
    if _empty(new) and old:
        return old, [FieldChange(name, old, new, "keep-existing")]
    merged = [old_items[item[key]] if item[key] in protected and item[key] in old_items
              else item for item in new]
    present = {item[key] for item in merged}
    merged += [old_items[k] for k in protected if k in old_items and k not in present]
    changes = [
        FieldChange(c.path, c.old, c.new,
                    "keep-edited" if _item_id(c.path) in protected else "update")
        for c in _diff_keyed(name, old, new)
    ]
    return merged, changes


def _item_id(path: str) -> str | None:
    """``'indicators[3.6.1].answer'`` -> ``'3.6.1'``."""
    match = re.match(r"[^\[]+\[(.+?)\]", path)
    return match.group(1) if match else None
