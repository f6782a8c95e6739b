r"""Field names and attribute values of an upload, made storable before anything is saved.

Part of :mod:`geo.ingest.read`: every reader's features pass through
:func:`clean_attributes`, so the edit store (a GeoPackage: SQLite INTEGER, REAL, TEXT in
UTF-8) and every export (strict JSON, XML, CSV) can take each value as it is.  What a GIS
user would expect, and what we do (each conversion is a note naming the field and the
first feature; each refusal a :class:`~geo.core.errors.DataReadError` naming both):

===============================  ==========================================================
integers past ±(2**53 - 1)       the field is kept as **text** (all its values), so no digit
                                 is lost: past that, decimals, JavaScript (the map), GeoJSON
                                 readers (RFC 7493's I-JSON range) and GDAL's reading of an
                                 integer field with empty values round them; past 2**63 a
                                 GeoPackage INTEGER cannot hold them at all
NaN, Infinity                    → **null** (not numbers JSON or most GIS can hold)
lone surrogates (``"\ud800"``)   → U+FFFD (the replacement character), as browsers do
control characters               removed, except tab and newline (CR LF → LF)
text over ``Limits.max_value_chars``   **refused** (shorten it; nothing is cut silently)
nested objects / arrays          stored as **JSON text** (as GDAL does)
mixed types in one field         integers and decimals → decimals; any other mix → text
                                 (numbers as JSON writes them: ``1``, ``2.5``, ``true``)
binary values (BLOBs)            the field is **left out** (a layer cannot show them)
dates and times                  ISO 8601 text (``datetime64`` fields stay dates)
field names                      cleaned like text; empty → ``field_<n>``; longer than
                                 ``Limits.max_field_name_chars`` → cut; ``geometry`` →
                                 ``src_geometry``; names equal but for case → ``_2``, ``_3``
===============================  ==========================================================
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geo.core.errors import DataReadError, UnsafeInputError
from geo.ingest.model import Limits

__all__ = ["NonFinite", "clean_attributes", "clean_text", "feature_label"]

#: Integers beyond this magnitude are kept as text (RFC 7493 I-JSON; exact in a double).
_EXACT_INT = 2**53 - 1
#: Anything a cleaned text may not hold: C0/C1 controls (tab, LF and CR are handled
#: apart), DEL, lone surrogates and the XML-forbidden noncharacters U+FFFE/U+FFFF.
_ODD = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff]")


class NonFinite:
    """A ``NaN``/``Infinity`` token of a JSON file (not JSON; Python's parser accepts it).

    The GeoJSON reader parses those tokens into this marker, so that an explicit NaN is
    told apart from a property a feature simply lacks (both are NaN in pandas).
    """

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token

    def __repr__(self) -> str:
        return self.token


def feature_label(number: int, props: Any) -> str:
    """``feature 3 (name 'Outfall A')``: the feature's 1-based number and its fid or name."""
    for key in ("fid", "name", "Name", "NAME", "id"):
        value = props.get(key) if hasattr(props, "get") else None
        if value is None or isinstance(value, NonFinite) or value is pd.NA:
            continue
        if isinstance(value, float) and np.isnan(value):
            continue
        if isinstance(value, dict | list | bytes):
            continue
        return f"feature {number} ({key} {str(value)[:40]!r})"
    return f"feature {number}"


def clean_text(text: str) -> tuple[str, list[str]]:
    """Text any UTF-8 file, JSON, XML and CSV can hold, and what was changed.

    Lone surrogates become U+FFFD, CR LF and lone CR become LF, and other control
    characters (except tab and newline) and U+FFFE/U+FFFF are removed.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not _ODD.search(text):
        return text, []
    changes = []
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
        changes.append("invalid characters (lone UTF-16 surrogates) replaced by U+FFFD")
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
        changes.append("control characters removed")
    return text, changes


# --- notes, collected per field and problem -----------------------------------------------


@dataclass
class _Notes:
    """Conversions per (field, problem): how many values, the first feature, the outcome."""

    label: Callable[[int], str]
    seen: dict[tuple[str, str], list[Any]] = field(default_factory=dict)

    def add(self, column: str, problem: str, row: int, example: str = "") -> None:
        entry = self.seen.setdefault((column, problem), [0, row, example])
        entry[0] += 1

    def lines(self) -> list[str]:
        out = []
        for (column, problem), (count, row, example) in self.seen.items():
            if problem.startswith("mixes "):
                out.append(f"Field {column!r} {problem}; it is kept as text.")
                continue
            first = self.label(row) + (f": {example}" if example else "")
            more = f" and {count - 1} more" if count > 1 else ""
            then = _OUTCOMES.get(problem, "")
            out.append(f"Field {column!r}: {problem} ({first}{more}){then}.")
        return out


# --- field names ----------------------------------------------------------------------------


def _clean_names(names: list[Any], limits: Limits, source: str) -> tuple[list[str], list[str]]:
    if len(names) > limits.max_fields:
        raise UnsafeInputError(f"{source} has {len(names):,} fields, over the limit of "
                               f"{limits.max_fields:,}; keep the fields you need.")
    out: list[str] = []
    notes: list[str] = []
    taken: set[str] = set()
    for position, original in enumerate(names, start=1):
        text, changes = clean_text(str(original))
        name = text.strip()
        why = list(changes)
        if not name:
            name, why = f"field_{position}", ["it is empty"]
        if len(name) > limits.max_field_name_chars:
            name = name[:limits.max_field_name_chars].rstrip()
            why.append(f"longer than {limits.max_field_name_chars} characters, cut")
        if name.lower() == "geometry":
            name = f"src_{name}"
            why.append("'geometry' is the features' own")
        base, counter = name, 1
        while name.lower() in taken:  # GeoPackage (SQLite) field names ignore case
            counter += 1
            suffix = f"_{counter}"
            name = base[:limits.max_field_name_chars - len(suffix)] + suffix
            if counter == 2:
                why.append("another field has the same name but for case")
        taken.add(name.lower())
        out.append(name)
        if name != original:
            shown = str(original)[:60]
            notes.append(f"Field {shown!r} renamed {name!r} ({'; '.join(why) or 'cleaned'}).")
    return out, notes


# --- values ---------------------------------------------------------------------------------


def _json_ready(value: Any, depth: int = 0) -> Any:
    """A nested value with clean text and non-finite numbers as null (for JSON text)."""
    if depth > 64:
        raise ValueError("nested more than 64 levels deep")
    if isinstance(value, dict):
        return {clean_text(str(k))[0]: _json_ready(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v, depth + 1) for v in value]
    if isinstance(value, str):
        return clean_text(value)[0]
    if isinstance(value, NonFinite):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float):
        return value
    return clean_text(str(value))[0]


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


def _scalar(value: Any) -> Any:
    """Python values for numpy scalars; pandas' missing values as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None  # pandas' "missing" (a property a feature lacks, an empty cell)
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "text"


_KIND_WORDS = {"bool": "true/false", "int": "integers", "float": "decimals", "text": "text"}


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return _json_text(value)
    return str(value)


class _Column:
    """One field's values, cleaned; the storable type is decided once all are seen."""

    def __init__(self, name: str, values: list[Any], notes: _Notes, limits: Limits,
                 source: str) -> None:
        self.name, self.notes, self.limits, self.source = name, notes, limits, source
        self.dropped = False
        self.values: list[Any] = []
        self.kinds: dict[str, int] = {}  # kind -> first row
        for row, value in enumerate(values):
            cleaned = self._value(_scalar(value), row)
            if self.dropped:
                return
            if cleaned is not None:
                self.kinds.setdefault(_kind(cleaned), row)
            self.values.append(cleaned)

    def _text(self, text: str, row: int) -> str:
        text, changes = clean_text(text)
        for change in changes:
            self.notes.add(self.name, change, row)
        if len(text) > self.limits.max_value_chars:
            raise DataReadError(
                f"{self.source}: {self.notes.label(row)}, field {self.name!r}: a value of "
                f"{len(text):,} characters, over the limit of {self.limits.max_value_chars:,} "
                "per value. Shorten it (or remove the field) and import again; nothing was "
                "saved."
            )
        return text

    def _value(self, value: Any, row: int) -> Any:
        if value is None or isinstance(value, bool | int):
            return value
        if isinstance(value, NonFinite) or (isinstance(value, float)
                                            and not math.isfinite(value)):
            self.notes.add(self.name, "NaN/Infinity is not a number a layer can hold", row,
                           repr(value))
            return None
        if isinstance(value, float):
            return value
        if isinstance(value, str):
            return self._text(value, row)
        if isinstance(value, dict | list | tuple):
            try:
                text = _json_text(_json_ready(value))
            except (ValueError, RecursionError) as err:
                raise DataReadError(
                    f"{self.source}: {self.notes.label(row)}, field {self.name!r}: a nested "
                    f"value that cannot be stored ({err}); flatten it and import again."
                ) from None
            self.notes.add(self.name, "nested objects/arrays", row)
            return self._text(text, row)
        if isinstance(value, bytes | bytearray | memoryview):
            self.notes.add(self.name, "binary data (a BLOB), which a layer cannot show", row)
            self.dropped = True
            return None
        if isinstance(value, dt.datetime | dt.date | dt.time | pd.Timestamp):
            return value.isoformat()
        return self._text(str(value), row)

    def series(self, index: pd.Index) -> pd.Series | None:
        """The storable column, or None when it is left out."""
        if self.dropped:
            return None
        kinds = set(self.kinds)
        if kinds == {"bool"}:
            return pd.Series(pd.array(self.values, dtype="boolean"), index=index)
        if kinds == {"int"} or kinds == {"int", "float"} or kinds == {"float"}:
            inexact = [i for i, v in enumerate(self.values)
                       if isinstance(v, int) and abs(v) > _EXACT_INT]
            for row in inexact:
                self.notes.add(self.name, _TOO_LONG, row, str(self.values[row])[:40])
            if inexact:
                return self._text_series(index)
            if kinds == {"int"}:
                return pd.Series(pd.array(self.values, dtype="Int64"), index=index)
            return pd.Series([np.nan if v is None else float(v) for v in self.values],
                             index=index, dtype="float64")
        if len(kinds) > 1:
            mix = ", ".join(f"{_KIND_WORDS[k]} ({self.notes.label(r)})"
                            for k, r in sorted(self.kinds.items(), key=lambda kr: kr[1]))
            self.notes.add(self.name, f"mixes {mix}", min(self.kinds.values()))
            return self._text_series(index)
        return pd.Series(self.values, index=index, dtype=object)

    def _text_series(self, index: pd.Index) -> pd.Series:
        return pd.Series([_as_text(v) for v in self.values], index=index, dtype=object)


_TOO_LONG = "integers past ±9,007,199,254,740,991 (2**53 - 1), which maps and GIS round"
_OUTCOMES = {
    _TOO_LONG: "; the field is kept as text, so no digit is lost",
    "NaN/Infinity is not a number a layer can hold": "; stored as empty (null)",
    "nested objects/arrays": "; stored as JSON text",
    "binary data (a BLOB), which a layer cannot show": "; the field is left out",
}


def _typed_series(column: pd.Series, name: str, notes: _Notes) -> pd.Series | None:
    """Fast path for numpy-typed columns (from GDAL): None when the object path must run."""
    dtype = column.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return column
    if not isinstance(dtype, np.dtype):
        return None
    if dtype.kind == "b":
        return column
    if dtype.kind in "iu":
        if len(column) and max(abs(int(column.min())), abs(int(column.max()))) > _EXACT_INT:
            return None  # the object path turns the field into text, with its note
        return column.astype("int64")
    if dtype.kind == "f":
        values = column.to_numpy()
        infinite = np.flatnonzero(np.isinf(values))
        if infinite.size == 0:
            return column
        for row in infinite:
            notes.add(name, "NaN/Infinity is not a number a layer can hold", int(row),
                      repr(float(values[row])))
        return column.where(~np.isinf(values), np.nan)
    return None


def clean_attributes(table: pd.DataFrame, source: str, limits: Limits,
                     label: Callable[[int], str]) -> tuple[pd.DataFrame, list[str]]:
    """Field names and values fit for the edit store and every export (see module doc).

    Parameters
    ----------
    table : DataFrame
        The attributes only (no geometry column); duplicate column labels allowed.
    source : str
        The file's name, for messages.
    limits : Limits
        ``max_value_chars``, ``max_field_name_chars``, ``max_fields``.
    label : callable
        Row position → how the feature is called in messages (``feature 3 (name 'A')``).

    Returns
    -------
    (DataFrame, list of str)
        The cleaned attributes (same index) and one note per conversion.

    Raises
    ------
    DataReadError
        A value over the per-value limit, or a nested value that cannot be stored.
    UnsafeInputError
        More fields than ``limits.max_fields``.
    """
    names, notes = _clean_names(list(table.columns), limits, source)
    collected = _Notes(label)
    columns: dict[str, pd.Series] = {}
    for position, name in enumerate(names):
        column = table.iloc[:, position]
        typed = _typed_series(column, name, collected)
        if typed is None:
            typed = _Column(name, column.tolist(), collected, limits, source).series(table.index)
        if typed is not None:
            columns[name] = typed.set_axis(table.index)
    frame = pd.DataFrame(columns, index=table.index)
    return frame, notes + collected.lines()
