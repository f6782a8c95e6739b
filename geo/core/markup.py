"""Escaping, one function per output context: every value from a workspace is data.

A workspace (layer files, data files, site records, ``catchscope.toml``) may have been
zipped by a stranger, so its text is written into a page or a document only through
the function for the context it lands in:

``html_text``     HTML element content and quoted attribute values (the map's legend,
                  tooltips, popups, layer control).  Also escapes what would end or
                  interpolate a JavaScript template literal (folium's tooltip template)
                  or a Jinja expression: the backtick, ``$``, backslash and braces.
``balloon_text``  Text in the HTML of a KML balloon (``<description>``), which Google
                  Earth renders as HTML after substituting ``$[field]`` entities: HTML
                  special characters and ``$`` become entities.
``xml_text``      Text and attribute values of an XML document built with ElementTree
                  (KML): ElementTree escapes ``< & >`` itself; this removes what XML
                  1.0 cannot hold at all (NUL and other control characters, lone
                  surrogates), which would otherwise make the file unreadable.

A value that reaches JavaScript goes as JSON through Jinja's ``tojson`` (which escapes
``< > & '``, so it cannot close the ``<script>``), never pasted into the code.  Colours
and dash patterns have their own grammar (:mod:`geo.core.styles`).
"""

from __future__ import annotations

import html
import math
import re

__all__ = ["balloon_text", "html_text", "xml_text"]

# Characters that matter to JS template literals (` ${ \) or to Jinja and Google Earth ({ } $[).
_HTML_EXTRA = {"`": "&#96;", "$": "&#36;", "\\": "&#92;", "{": "&#123;", "}": "&#125;"}
_HTML_EXTRA_RE = re.compile("[`$\\\\{}]")
# Not allowed anywhere in an XML 1.0 document (tab, LF and CR are).
_XML_ILLEGAL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _plain(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def html_text(value: object) -> str:
    """Make a value safe as HTML text or a quoted attribute value (and in a template literal).

    HTML special characters become entities (``&lt;`` ...), and so do the backtick,
    ``$``, backslash and braces, which would otherwise end or interpolate a JavaScript
    template literal (folium's ``Tooltip`` and ``Popup`` templates use them) or a Jinja
    expression.  The browser shows the original characters as text.

    Parameters
    ----------
    value : object
        Anything; ``None`` and NaN become the empty string.

    Returns
    -------
    str
        Text safe to embed in HTML element content or attribute values.
    """
    text = html.escape(_plain(value), quote=True)
    return _HTML_EXTRA_RE.sub(lambda m: _HTML_EXTRA[m.group(0)], text)


def balloon_text(value: object) -> str:
    """Make a value safe as text in a KML balloon's HTML (Google Earth's ``<description>``).

    HTML special characters become entities, and so does ``$``: Google Earth replaces
    ``$[name]`` in a description with the feature's fields before rendering it, so a
    value must not be able to pull other fields (or markup) in.
    """
    return html.escape(_plain(value), quote=True).replace("$", "&#36;")


def xml_text(value: object) -> str:
    """``value`` as text an XML 1.0 document can hold: illegal characters become U+FFFD.

    For ElementTree, which escapes ``<``, ``&`` and ``>`` itself but writes a NUL or a
    lone surrogate as it is (an unreadable file, or an encoding error).
    """
    return _XML_ILLEGAL_RE.sub("\ufffd", _plain(value))
