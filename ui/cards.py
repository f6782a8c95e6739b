"""Text that wraps: label/value rows, bullet lists, status badges, bordered cards.

The panels show records, checklists, provenance and histories as readable rows instead of
wide tables that scroll sideways.  Everything from data goes through :func:`md` (Markdown
escaped, so ``![x](url)`` or ``<b>`` in a value is text), and nothing here uses
``unsafe_allow_html``.  Labels are ours, escaped all the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import streamlit as st

__all__ = ["badge", "bullets", "md", "md_lines", "rows", "rows_text", "text_of"]

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$])")
#: Streamlit badge colours per checklist status (text on a light tint: readable contrast).
_BADGES = {"present": "green", "partial": "orange", "missing": "red",
           "not applicable": "gray"}


def md(text: object) -> str:
    """Escape Markdown (and HTML-looking) characters so data shows as plain text."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def md_lines(text: object) -> str:
    """:func:`md`, keeping the line breaks (an error message listing problems line by line).

    Every ``st.error``/``st.warning`` body is Markdown, and library messages quote
    workspace values (a layer title, the refused value): ``![x](url)`` would load an image.
    """
    return "  \n".join(md(line) for line in str(text).splitlines())


def text_of(value: Any) -> str:
    """A value as display text: None/NaN empty, lists joined, dicts as JSON."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, (list, tuple)):
        return "; ".join(text_of(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def badge(status: str) -> str:
    """A coloured badge (Markdown) for a checklist status: green, amber, red or grey."""
    colour = _BADGES.get(status, "gray")
    return f":{colour}-badge[{md(status)}]"


def bullets(items: Iterable[object]) -> str:
    """A Markdown bullet list of escaped items (empty string for none)."""
    return "\n".join(f"- {md_lines(item)}" for item in items if text_of(item))


def rows_text(facts: Mapping[str, Any], *, keep_empty: bool = False) -> str:
    """``**label:** value`` lines (Markdown); empty values left out unless asked."""
    lines = []
    for label, value in facts.items():
        shown = text_of(value)
        if shown or keep_empty:
            lines.append(f"**{md(label)}:** {md_lines(shown) if shown else '—'}")
    return "  \n".join(lines)


def rows(facts: Mapping[str, Any], *, keep_empty: bool = False) -> None:
    """Show label/value rows that wrap in any width (nothing when every value is empty)."""
    text = rows_text(facts, keep_empty=keep_empty)
    if text:
        st.markdown(text)
