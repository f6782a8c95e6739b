"""Matching the names a report gives (rivers, lakes, plants, protected areas) to features.

A certification report says "Maipo River", "La Farfana Wastewater Treatment Plant" or
"Humedal de Batuco"; public layers call the same things "Río Maipo", "Planta de
Tratamiento de Aguas Servidas La Farfana" (OpenStreetMap), "Laguna de Batuco"
(HydroLAKES).  :func:`match_name` scores every candidate feature against one report
name and returns the best ones, each a :class:`NameMatch` with a score in [0, 1]:

1. both names are folded (accents and case dropped, punctuation to spaces) and split
   into words; the words any such name shares in English, Spanish, Portuguese, French
   or German (river, río, lake, laguna, plant, planta, wastewater, aguas servidas, S.A.,
   the, de, la…) are set aside, leaving the *telling* words ("maipo", "farfana");
2. each telling word of the report's name finds its closest telling word of the
   candidate (``difflib`` ratio; 0.8 or more counts, so "Rio"/"Río" or a plural match);
3. score = 0.9 × (0.75 × share of the report's telling words found + 0.25 × share of
   the candidate's telling words used) + 0.1 × likeness of the whole folded names.

A match at or above :data:`MATCH_THRESHOLD` is proposed; it is never a fact: its basis
is *inferred* (the rule, the score, both names), for a person to confirm.  Kinds keep
a match sensible: a name with a plant word only matches facilities, one with a
water-body word only rivers and lakes.  HydroRIVERS reaches carry no names (as
published); a river named in a report is found through a named layer (OpenStreetMap)
and reaches the HydroRIVERS network through the catchment units around it.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from geo.core.basis import Basis

__all__ = [
    "MATCH_THRESHOLD",
    "NameMatch",
    "fold",
    "match_name",
    "name_kinds",
    "telling_words",
]

#: A candidate scoring at least this is proposed as the feature a report name means.
MATCH_THRESHOLD = 0.6
_WORD_LIKENESS = 0.8
_RULE = "name match (telling words, accents and case ignored; a person confirms)"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Words that say what a thing is, not which one it is (folded: no accents, lower case).
_GENERIC = _words("""
the a an of and at on in to for its
river rivers lake lakes creek stream brook canal channel reservoir wetland wetlands marsh
swamp lagoon pond bay estuary spring springs basin catchment watershed tributary tributaries
wastewater waste water waters sewage sewer treatment plant plants works station stp wwtp wtp
facility municipal public city town company group holding holdings corporation corp co ltd
inc llc plc sa spa gmbh ag srl sas ltda nv bv
national natural nature park reserve sanctuary protected area site monument
rio lago laguna estero arroyo embalse represa humedal humedales desembocadura quebradas
planta plantas tratamiento aguas agua servidas residuales potable depuradora complejo
produccion empresa sociedad anonima santuario naturaleza parque nacional reserva
de del la las los el y e da do das dos em
fleuve riviere lac etang barrage station epuration usine du des le les et
fluss bach see speicher stausee klaranlage ara wasserwerk der die das und
""")
_PLANT_WORDS = _words("plant plants works wwtp wtp stp station planta plantas tratamiento "
                         "depuradora complejo usine klaranlage ara wasserwerk")
_WATER_WORDS = _words("river lake creek stream brook canal reservoir lagoon pond estuary "
                         "rio lago laguna estero arroyo embalse represa fleuve riviere lac "
                         "fluss bach see stausee")


@dataclass(frozen=True)
class NameMatch:
    """A feature proposed for a name of the report, with how well the names agree."""

    name: str
    fid: str
    feature_name: str
    layer: str
    kind: str
    score: float
    basis: Basis

    def line(self) -> str:
        """One line for a person: ``“Maipo River” → Río Maipo (osm_waterways/…), 0.95``."""
        return (f"“{self.name}” → {self.feature_name} ({self.layer}/{self.fid}), score "
                f"{self.score:.2f}")


def fold(text: str) -> str:
    """Lower case, accents dropped, anything but letters and digits a single space."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.findall(r"\w+", plain.lower()))


def telling_words(text: str) -> list[str]:
    """The words of a name that say which one it is ("maipo" of "Maipo River")."""
    words = fold(text).split()
    # "S.A." folds to "s a": single letters are initials of a legal form, not a name
    return [w for w in words if w not in _GENERIC and len(w) > 1]


def name_kinds(text: str) -> frozenset[str] | None:
    """Layer kinds a name can mean: plant words → facilities, water words → rivers and lakes.

    None when the name says neither (any kind may do).
    """
    words = set(fold(text).split())
    if words & _PLANT_WORDS and not words & _WATER_WORDS - {"reservoir", "embalse"}:
        return frozenset({"facility"})
    if words & _WATER_WORDS:
        return frozenset({"river", "lake"})
    return None


def _likeness(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _score(wanted: Sequence[str], folded: str, candidate: str) -> float:
    found = telling_words(candidate)
    if not wanted or not found:
        return 0.0
    best = [max(_likeness(w, f) for f in found) for w in wanted]
    covered = sum(b for b in best if b >= _WORD_LIKENESS) / len(wanted)
    used = sum(any(_likeness(w, f) >= _WORD_LIKENESS for w in wanted) for f in found)
    words = 0.75 * covered + 0.25 * used / len(found)
    if words == 0.0:
        return 0.0
    return round(0.9 * words + 0.1 * _likeness(folded, fold(candidate)), 3)


def match_name(name: str, candidates: pd.DataFrame, *, kinds: Iterable[str] | None = None,
               also: Sequence[str] = ("operator",), limit: int = 3,
               quote: str = "", report: str = "", section: str = "") -> list[NameMatch]:
    """The candidates that ``name`` most likely means, best first (at most ``limit``).

    Parameters
    ----------
    name : str
        The report's words ("Maipo River").
    candidates : DataFrame
        Features with ``fid``, ``name``, ``layer`` and ``kind`` (and optionally the
        columns of ``also``, e.g. ``operator``: a provider is matched to the plants it
        runs).
    kinds : iterable of str, optional
        Only candidates of these kinds; default :func:`name_kinds` of the name (or all).
    limit : int
        How many matches at or above :data:`MATCH_THRESHOLD` to return.
    quote, report, section : str
        Where the report says it, for each match's basis.

    Returns
    -------
    list of NameMatch
        Empty when no candidate reaches the threshold (the name may be unmapped, or only
        in a layer the workspace does not have).
    """
    wanted = telling_words(name)
    if not wanted or candidates.empty:
        return []
    allowed = frozenset(kinds) if kinds is not None else name_kinds(name)
    frame = candidates
    if allowed is not None:
        frame = frame[frame["kind"].astype(str).isin(allowed)]
    folded = fold(name)
    scored: list[tuple[float, int, str]] = []
    for position, row in enumerate(frame.itertuples(index=False)):
        texts = [("", str(getattr(row, "name", "") or ""))]
        texts += [(c, str(v)) for c in also
                  if isinstance(v := getattr(row, c, None), str) and v]
        score, via = max((_score(wanted, folded, text), f" by its {column} “{text}”"
                          if column else "") for column, text in texts)
        if score >= MATCH_THRESHOLD:
            scored.append((score, position, via))
    scored.sort(key=lambda item: -item[0])
    out = []
    for score, position, via in scored[:limit]:
        row = frame.iloc[position]
        basis = Basis(kind="inferred", rule=_RULE, report=report, section=section,
                      quote=quote, features=(str(row["fid"]),),
                      why=f"“{name}” ↔ “{row['name']}”{via} ({row['layer']}), score "
                          f"{score:.2f}")
        out.append(NameMatch(name, str(row["fid"]), str(row["name"]), str(row["layer"]),
                             str(row["kind"]), score, basis))
    return out
