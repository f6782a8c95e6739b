"""Rows of the edit store (part of :mod:`geo.store.gpkg`): GeoDataFrame <-> SQLite rows.

A layer's features become a schema (column name, SQL type) and rows of (GeoPackage
geometry blob, values); snapshots for the history are these, packed and compressed.
:func:`_diff` counts what a save added, removed and changed, by ``fid``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
import struct
import zlib
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.core.crs import WGS84
from geo.core.errors import DataWriteError

__all__ = ["Rows", "Schema"]

#: Columns the workspace computes from the catalogue; never stored.
_COMPUTED = ("layer", "kind")
#: Standard columns, always stored as TEXT.
_TEXT_COLUMNS = ("fid", "name", "aws_ref", "accuracy", "source", "datum")
_PK = "row_id"
_GEOM = "geom"
_RESERVED = {_PK, _GEOM}


# --- rows, schema, GeoPackage geometry blobs --------------------------------------------


def _gpkg_blob(geom: shapely.Geometry) -> bytes:
    minx, miny, maxx, maxy = geom.bounds
    header = b"GP" + bytes([0, 0b0000_0011]) + struct.pack("<i", 4326)
    envelope = struct.pack("<4d", minx, maxx, miny, maxy)
    return header + envelope + shapely.to_wkb(geom, byte_order=1, flavor="iso")


def _sql_type(name: str, series: pd.Series) -> str:
    if name in _TEXT_COLUMNS:
        return "TEXT"
    if pd.api.types.is_bool_dtype(series):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(series):
        return "INTEGER"
    if pd.api.types.is_float_dtype(series):
        return "REAL"
    values = [v for v in series if not _is_missing(v)]
    if values and all(isinstance(v, bool | np.bool_) for v in values):
        return "BOOLEAN"
    if values and all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        return "INTEGER"
    if values and all(isinstance(v, int | float | np.number) for v in values):
        return "REAL"
    return "TEXT"


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


_INT64 = (-(2**63), 2**63 - 1)


def _sql_value(value: Any, sql_type: str) -> Any:
    """The value as SQLite stores it; ValueError (the reason) for one no GeoPackage holds."""
    if _is_missing(value):
        return None
    if sql_type == "BOOLEAN":
        return int(bool(value))
    if sql_type == "INTEGER":
        number = int(value)
        if not _INT64[0] <= number <= _INT64[1]:
            raise ValueError(f"the integer {str(number)[:40]} is past the 64-bit range")
        return number
    if sql_type == "REAL":
        real = float(value)
        if math.isinf(real):
            raise ValueError(f"{real} is not a number a layer can hold")
        return None if math.isnan(real) else real
    if isinstance(value, dt.datetime | dt.date | pd.Timestamp):
        text = value.isoformat()
    elif isinstance(value, dict | list | tuple):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    if not _is_utf8(text):
        raise ValueError("its text is not valid Unicode (a lone UTF-16 surrogate)")
    return text


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


Schema = list[tuple[str, str]]
Rows = list[tuple[bytes, list[Any]]]


def _frame_to_rows(frame: gpd.GeoDataFrame, layer_id: str) -> tuple[Schema, Rows]:
    """Validate a layer's new state and turn it into a schema and rows (WGS84 WKB)."""
    if frame.crs is None:
        raise DataWriteError(f"Layer {layer_id!r}: the features have no CRS; nothing saved.")
    if not frame.crs.equals(WGS84):
        frame = frame.to_crs(WGS84)
    frame = frame.drop(columns=[c for c in _COMPUTED if c in frame.columns])
    columns = [str(c) for c in frame.columns if c != frame.geometry.name]
    lowered = [c.lower() for c in columns]
    for column in columns:
        if not column.strip() or not _is_utf8(column):
            raise DataWriteError(f"Layer {layer_id!r}: a field name {column!r} is empty or not "
                                 "valid Unicode; rename it. Nothing saved.")
        if column.lower() in _RESERVED:
            raise DataWriteError(
                f"Layer {layer_id!r}: a field may not be called {column!r} "
                f"({', '.join(sorted(_RESERVED))} are the store's own); rename it."
            )
        if lowered.count(column.lower()) > 1:
            raise DataWriteError(
                f"Layer {layer_id!r}: fields {column!r} differ only in case; GeoPackage "
                "field names are case-insensitive, rename one."
            )
    if "fid" not in columns:
        raise DataWriteError(f"Layer {layer_id!r}: features need a 'fid' column; nothing saved.")
    fids = frame["fid"]
    if fids.isna().any() or (fids.astype(str).str.strip() == "").any():
        raise DataWriteError(f"Layer {layer_id!r}: every feature needs a fid; nothing saved.")
    duplicated = fids.astype(str)[fids.astype(str).duplicated()].unique().tolist()
    if duplicated:
        raise DataWriteError(
            f"Layer {layer_id!r}: duplicate fid {', '.join(duplicated[:5])}; fids must be "
            "unique. Nothing saved."
        )
    geoms = np.asarray(frame.geometry.values, dtype=object)
    bad = [str(f) for f, g in zip(fids, geoms, strict=True) if g is None or g.is_empty]
    if bad:
        raise DataWriteError(
            f"Layer {layer_id!r}: features without geometry: {', '.join(bad[:5])}. "
            "Give each a geometry or delete it; nothing saved."
        )
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    odd = np.unique(owner[~np.isfinite(coords).all(axis=1)])
    if odd.size:
        bad = [repr(str(fids.iloc[i])[:40]) for i in odd[:5]]
        raise DataWriteError(f"Layer {layer_id!r}: features with NaN or infinite coordinates: "
                             f"{', '.join(bad)}; fix or delete them. Nothing saved.")
    ordered = ["fid", *[c for c in columns if c != "fid"]]
    schema: Schema = [(c, _sql_type(c, frame[c])) for c in ordered]
    value_columns = [frame[c].tolist() for c, _ in schema]
    rows: Rows = []
    for i, geom in enumerate(geoms):
        values = []
        for col, (name, sql_type) in zip(value_columns, schema, strict=True):
            try:
                values.append(_sql_value(col[i], sql_type))
            except (ValueError, TypeError, OverflowError) as err:
                raise DataWriteError(
                    f"Layer {layer_id!r}, feature {str(fids.iloc[i])[:60]!r}, field {name!r}: "
                    f"{err}. Nothing saved."
                ) from None
        rows.append((_gpkg_blob(geom), values))
    return schema, rows


def _pack(schema: Schema, rows: Rows) -> bytes:
    payload = {"schema": schema, "rows": [[blob.hex(), values] for blob, values in rows]}
    return zlib.compress(json.dumps(payload, ensure_ascii=False).encode("utf-8"), 6)


def _unpack(snapshot: bytes) -> tuple[Schema, Rows]:
    payload = json.loads(zlib.decompress(snapshot).decode("utf-8"))
    schema = [(str(n), str(t)) for n, t in payload["schema"]]
    return schema, [(bytes.fromhex(blob), values) for blob, values in payload["rows"]]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _write_table(con: sqlite3.Connection, table: str, schema: Schema, rows: Rows) -> None:
    """(Re)create a layer's feature table and register it (inside the caller's transaction)."""
    con.execute(f"DROP TABLE IF EXISTS {_quote(table)}")
    fields = ", ".join(f"{_quote(name)} {sql_type}" for name, sql_type in schema)
    con.execute(
        f"CREATE TABLE {_quote(table)} ({_PK} INTEGER PRIMARY KEY AUTOINCREMENT, "
        f"{_GEOM} GEOMETRY{', ' + fields if fields else ''})"
    )
    placeholders = ", ".join("?" for _ in range(len(schema) + 1))
    names = ", ".join([_GEOM, *(_quote(n) for n, _ in schema)])
    con.executemany(
        f"INSERT INTO {_quote(table)} ({names}) VALUES ({placeholders})",  # noqa: S608
        ([blob, *values] for blob, values in rows),
    )
    bounds = _bounds(rows)
    con.execute("DELETE FROM gpkg_geometry_columns WHERE table_name = ?", (table,))
    con.execute("DELETE FROM gpkg_contents WHERE table_name = ?", (table,))
    con.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
        "last_change, min_x, min_y, max_x, max_y, srs_id) VALUES (?, 'features', ?, '', "
        "strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?, ?, ?, ?, 4326)",
        (table, table, *bounds),
    )
    con.execute(
        "INSERT INTO gpkg_geometry_columns VALUES (?, ?, 'GEOMETRY', 4326, 0, 0)", (table, _GEOM)
    )


def _bounds(rows: Rows) -> tuple[float | None, ...]:
    if not rows:
        return (None, None, None, None)
    envelopes = np.array([struct.unpack_from("<4d", blob, 8) for blob, _ in rows])
    return (float(envelopes[:, 0].min()), float(envelopes[:, 2].min()),
            float(envelopes[:, 1].max()), float(envelopes[:, 3].max()))


def _diff(old: tuple[Schema, Rows], new: tuple[Schema, Rows]) -> tuple[int, int, int]:
    """Added, removed and changed features by fid (a field that is empty counts as absent)."""

    def keyed(schema: Schema, rows: Rows) -> dict[str, tuple[bytes, str]]:
        names = [n for n, _ in schema]
        return {
            str(values[0]): (blob, json.dumps(
                {n: v for n, v in zip(names, values, strict=True) if v is not None},
                sort_keys=True, default=str))
            for blob, values in rows
        }

    before, after = keyed(*old), keyed(*new)
    added = len(after.keys() - before.keys())
    removed = len(before.keys() - after.keys())
    changed = sum(1 for fid in after.keys() & before.keys() if after[fid] != before[fid])
    return added, removed, changed
