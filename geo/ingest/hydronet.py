"""Checks and walks of a published network's id links (HydroBASINS, HydroRIVERS), in arrays.

HydroBASINS links each sub-basin to the one downstream (``NEXT_DOWN``: its ``HYBAS_ID``,
0 at a sink — the sea or an endorheic sink); HydroRIVERS does the same for river reaches
(``HYRIV_ID``, ``NEXT_DOWN``).  Before such a file becomes a layer,
:func:`check_links` refuses links that name no feature of the file and links that go
round in a cycle, naming the ids, and :func:`check_levels` refuses a HydroBASINS file
that mixes Pfafstetter levels (the digits of ``PFAF_ID``), with the count per level.
:func:`downstream_closure` adds, to the features clipped to an area of interest, every
feature downstream of them to the sink, so that "affected" still reaches the sea.

Everything here works on the file's whole link table (a million rows are a few
vectorised passes), never on geometry.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.core.errors import DataReadError

__all__ = [
    "LinkTable",
    "check_levels",
    "check_links",
    "downstream_closure",
    "pfafstetter_levels",
]

_SHOWN = 5  # ids named in a message before "and N more"


@dataclass(frozen=True)
class LinkTable:
    """The id links of a whole file: ``ids[i]`` flows to ``next_ids[i]`` (0: a sink).

    ``rows`` are the file's feature ids (FIDs, for reading features back by row), aligned
    with ``ids``; ``parent`` is the position of the downstream feature (-1 at a sink).
    """

    ids: np.ndarray
    next_ids: np.ndarray
    rows: np.ndarray
    parent: np.ndarray

    @classmethod
    def build(cls, ids: np.ndarray, next_ids: np.ndarray, rows: np.ndarray) -> LinkTable:
        """Index the links (positions of the downstream features), unchecked."""
        ids = np.asarray(ids, dtype=np.int64)
        next_ids = np.asarray(next_ids, dtype=np.int64)
        index = pd.Index(ids)
        parent = (index.get_indexer(next_ids).astype(np.int64) if index.is_unique
                  else np.full(len(ids), -1, dtype=np.int64))  # check_links refuses it
        parent[next_ids == 0] = -1
        return cls(ids, next_ids, np.asarray(rows, dtype=np.int64), parent)


def _ids_text(values: list[int]) -> str:
    shown = ", ".join(str(v) for v in values[:_SHOWN])
    return shown + (f" and {len(values) - _SHOWN} more" if len(values) > _SHOWN else "")


def check_links(table: LinkTable, *, name: str, id_field: str, next_field: str) -> None:
    """Refuse links that name no feature, repeated ids and cycles; the message names the ids.

    Raises
    ------
    DataReadError
        With the file, the fields and the ids at fault.
    """
    ids, next_ids, parent = table.ids, table.next_ids, table.parent
    index = pd.Index(ids)
    if not index.is_unique:
        twice = sorted(set(ids[index.duplicated()].tolist()))
        raise DataReadError(
            f"{name}: {id_field} {_ids_text(twice)} is used by more than one feature; "
            f"{next_field} links would be ambiguous. Is this an unmodified HydroSHEDS file?")
    dangling = np.flatnonzero((parent < 0) & (next_ids != 0))
    if len(dangling):
        pairs = [f"{ids[i]} → {next_ids[i]}" for i in dangling[:_SHOWN]]
        more = f" and {len(dangling) - _SHOWN} more" if len(dangling) > _SHOWN else ""
        raise DataReadError(
            f"{name}: {next_field} names an id that no feature of the file has "
            f"({id_field} → {next_field}: {', '.join(pairs)}{more}). A published file links "
            f"every feature to one in the same file, or to 0 at a sink: import the whole "
            "(continental) file with --aoi rather than a clip of it, or fix the ids.")
    cycle = _first_cycle(parent)
    if cycle:
        chain = " → ".join(str(ids[i]) for i in [*cycle, cycle[0]])
        raise DataReadError(
            f"{name}: {next_field} links go round in a cycle ({id_field} {chain}); water "
            f"must reach a sink ({next_field} = 0). Fix the {next_field} of one of these "
            "features.")


def _first_cycle(parent: np.ndarray) -> list[int]:
    """Positions of one cycle of ``parent`` links (empty when every chain reaches a sink).

    Pointer jumping: after k rounds each feature knows its ancestor 2**k steps down; a
    feature whose ancestor after log2(n) + 1 rounds still has a parent is on, or drains
    into, a cycle.
    """
    n = len(parent)
    if n == 0:
        return []
    up = np.where(parent >= 0, parent, np.arange(n))
    for _ in range(int(np.ceil(np.log2(max(n, 2)))) + 1):
        up = up[up]
    stuck = np.flatnonzero(parent[up] >= 0)
    if not len(stuck):
        return []
    seen: dict[int, int] = {}
    i = int(stuck[0])
    while i not in seen:  # walk until a position repeats: that one is on the cycle
        seen[i] = len(seen)
        i = int(parent[i])
    order = sorted(seen, key=seen.__getitem__)
    return order[seen[i]:]


def pfafstetter_levels(pfaf_ids: np.ndarray) -> np.ndarray:
    """The Pfafstetter level of each code: its number of digits (``21404052`` → 8)."""
    codes = np.asarray(pfaf_ids, dtype=np.int64)
    digits = np.char.str_len(np.abs(codes).astype(str)).astype(np.int64)
    return np.where(codes > 0, digits, 0)


def check_levels(pfaf_ids: np.ndarray, *, name: str) -> int:
    """The one Pfafstetter level of a HydroBASINS file; mixed levels are refused.

    Raises
    ------
    DataReadError
        If the ``PFAF_ID`` codes have different numbers of digits (the message counts the
        units per level), or none is a valid code.
    """
    levels = pfafstetter_levels(pfaf_ids)
    counts = Counter(int(v) for v in levels.tolist())
    counts.pop(0, None)
    bad = int((levels < 1).sum() + (levels > 12).sum())
    if bad or not counts:
        raise DataReadError(f"{name}: {bad or len(levels)} PFAF_ID value(s) are not "
                            "Pfafstetter codes of 1 to 12 digits.")
    if len(counts) > 1:
        listed = ", ".join(f"level {level}: {count:,} unit(s)"
                           for level, count in sorted(counts.items()))
        raise DataReadError(
            f"{name} mixes Pfafstetter levels ({listed}; the level is the number of digits "
            "of PFAF_ID). One layer holds one level, so that 0.1.1.1 is judged at one: "
            "import each level's file (hybas_*_levNN) on its own.")
    return next(iter(counts))


def downstream_closure(table: LinkTable, selected: np.ndarray) -> np.ndarray:
    """Positions of ``selected`` plus every feature downstream of them, to the sinks.

    Parameters
    ----------
    table : LinkTable
        The whole file's links (checked: no cycle).
    selected : array of int
        Positions (into ``table.ids``) of the features chosen, e.g. by an area of interest.

    Returns
    -------
    array of int
        Sorted positions, ``selected`` included.
    """
    seen = np.zeros(len(table.ids), dtype=bool)
    frontier = np.unique(np.asarray(selected, dtype=np.int64))
    seen[frontier] = True
    while len(frontier):
        nxt = table.parent[frontier]
        nxt = np.unique(nxt[nxt >= 0])
        nxt = nxt[~seen[nxt]]
        seen[nxt] = True
        frontier = nxt
    return np.flatnonzero(seen)
