"""Plain text out of a certification report: bytes in, clean text out.

AWS publishes its certification reports as PDFs; the text people copy out of them
(and what ``pypdf`` extracts) carries the remnants of the report generator: HTML
tags (``<p>``, ``<i>``, ``<ul style=...>``), tabs, check marks and boxes that stood
for glyphs the extractor could not map, and the page header repeated on every page.
This module turns uploaded bytes into text (:func:`report_bytes_to_text`) and
cleans the free-text fields (:func:`clean_text`); :mod:`geo.reports.parse` reads the
structure.  Input is always bytes from the caller, never a path a user typed.
"""

from __future__ import annotations

import html
import io
import re
import unicodedata

from geo.core.errors import ReportError

__all__ = [
    "PAGE_HEADER_RE",
    "clean_text",
    "normalise_text",
    "one_line",
    "pdf_to_text",
    "remove_page_headers",
    "report_bytes_to_text",
]

#: The header AWS repeats on each page of a certification report.
PAGE_HEADER_RE = re.compile(
    r"CERTIFICATION\s+REPORT\s+Alliance\s+for\s+Water\s+Stewardship\s*\(AWS\)\s*"
    r"Audit\s+Number:\s*(?P<audit>[A-Z]{1,4}-?\d+)?",
    re.IGNORECASE,
)
# Glyphs the PDF extractor left for check boxes / ticks / bullets it could not map,
# and the private-use area where symbol fonts (Wingdings, Symbol) land.
_STRAY_SYMBOLS_RE = re.compile("[\u25a1\u25a0\u2610\u2611\u2612\u2713\u2714\u2717\u2718"
                               "\u2193\u200b\u200c\u200d\u2060\ufeff\ue000-\uf8ff]")
_BOXED_RE = re.compile("\u25a1([^\u25a1\n]{1,24})\u25a1")  # □100%□: lost full-width ( )
_BLOCK_TAG_RE = re.compile(r"</?(?:p|div|br|tr|table|h\d)\b[^>]*>", re.IGNORECASE)
_LIST_TAG_RE = re.compile(r"</?(?:ul|ol)\b[^>]*>", re.IGNORECASE)
_ITEM_TAG_RE = re.compile(r"<li\b[^>]*>", re.IGNORECASE)
_ANY_TAG_RE = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*\b[^<>]*/?>")
_NUMBERED_ITEM_RE = re.compile(r"(?<=\S)\s*(?<!\d)(?=(?:[1-9]|1\d)\.\s+[A-Z])")
_BINARY_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"PK\x03\x04": "a zip archive (e.g. .docx, .xlsx)",
    b"\xd0\xcf\x11\xe0": "an old Office document (.doc, .xls)",
    b"\x1f\x8b": "a gzip archive",
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
}
_WHAT_TO_DO = "Give the report as the PDF AWS publishes or as its text (.txt, UTF-8)."


def report_bytes_to_text(data: bytes, name: str = "report") -> str:
    """Return the text of a report given as the bytes of a PDF or a text file.

    Parameters
    ----------
    data : bytes
        The file content as uploaded (never a path).
    name : str
        The file name, used in messages only.

    Returns
    -------
    str
        Normalised text (see :func:`normalise_text`); page headers are kept.

    Raises
    ------
    ReportError
        If the file is empty, binary and not a PDF, a PDF that cannot be read, or a
        PDF without a text layer (scanned).
    """
    if not data or not data.strip():
        raise ReportError(f"{name}: the file is empty. {_WHAT_TO_DO}")
    if data.lstrip()[:5] == b"%PDF-":
        return normalise_text(pdf_to_text(data, name))
    return normalise_text(_decode_text(data, name))


def pdf_to_text(data: bytes, name: str = "report.pdf") -> str:
    """Extract the text layer of a PDF with pypdf, page by page.

    Raises
    ------
    ReportError
        If pypdf cannot read the file, it is encrypted with a password, or no page
        has a text layer (a scanned report: OCR it first).
    """
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ReportError(f"{name}: the PDF is password-protected. Save an unprotected "
                              f"copy and import that.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except ReportError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as err:
        raise ReportError(f"{name}: not a readable PDF ({err}). {_WHAT_TO_DO}") from err
    text = "\n".join(pages)
    if len(re.sub(r"\s", "", text)) < 20:
        raise ReportError(
            f"{name}: the PDF has {len(pages)} page(s) but no text layer; it looks scanned "
            f"(pictures of pages). Run OCR on it first (e.g. `ocrmypdf {name} out.pdf`) or "
            f"download the text PDF from the AWS certificate page, then import again."
        )
    return text


def _decode_text(data: bytes, name: str) -> str:
    for magic, kind in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise ReportError(f"{name}: this is {kind}, not a report. {_WHAT_TO_DO}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as err:
            raise ReportError(f"{name}: broken UTF-16 text ({err}). {_WHAT_TO_DO}") from err
    head = data[:8192]
    controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 12, 13))
    if b"\x00" in head or controls > len(head) * 0.02:
        raise ReportError(f"{name}: binary data, neither a PDF nor text. {_WHAT_TO_DO}")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("cp1252", errors="replace")


def normalise_text(text: str) -> str:
    """Unify line ends, spaces and compatibility characters; keep tabs and lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\u00a0", " ").replace("\u3000", " ").replace("\u2009", " ")
    text = re.sub("[\u200b\u200c\u200d\u2060\ufeff]", "", text)
    text = re.sub("[\ue000-\uf8ff]", "", text)  # symbol-font glyphs (Wingdings ticks)
    return "\n".join(line.rstrip() for line in text.split("\n"))


_PAGE_NUMBER_RE = re.compile(r"^[ \t]*Page[ \t]+\d+[ \t]*(?:of|/)[ \t]*\d+[ \t]*$",
                             re.IGNORECASE | re.MULTILINE)


def remove_page_headers(text: str) -> str:
    """Drop every repeated page header (and "Page n of m" lines), leaving a line break."""
    return _PAGE_NUMBER_RE.sub("", PAGE_HEADER_RE.sub("\n", text))


def clean_text(raw: str) -> str:
    """Clean one free-text field (a comment, a finding) for people and for JSON.

    HTML remnants become line breaks or disappear, entities are decoded, bullets
    become ``- `` list lines, stray check marks/boxes and tabs go, runs of spaces
    collapse, and empty lines are dropped.  Markdown emphasis (``*...*``) left by the
    extractor is removed.
    """
    text = remove_page_headers(raw)
    had_list = bool(_LIST_TAG_RE.search(text))
    text = _ITEM_TAG_RE.sub("\n- ", text)
    text = _LIST_TAG_RE.sub("\n", text)
    text = _BLOCK_TAG_RE.sub("\n", text)
    text = _ANY_TAG_RE.sub("", text)  # inline tags (<i>, <b>, <span>) sit inside words
    text = html.unescape(text)
    text = _BOXED_RE.sub(r"(\1)", text)
    text = _STRAY_SYMBOLS_RE.sub(" ", text)
    text = text.replace("**", "")
    text = re.sub(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])", r"\1", text)
    text = re.sub(r"\s*[\u2022\u25cf\u25aa\u00b7]\s+", "\n- ", text)
    if had_list or re.search(r"(?:^|\s)1\.\s+[A-Z].*?\s2\.\s+[A-Z]", text, re.DOTALL):
        # "<ol>1. No secondary ... sewage.2. There was": one numbered item per line
        text = _NUMBERED_ITEM_RE.sub("\n", text)
    text = text.replace("\t", " ")
    lines = (re.sub(r" +(?=[.,;:](?:\s|$))", "", re.sub(r" {2,}", " ", line)).strip()
             for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def one_line(text: str) -> str:
    """Clean a short field (a name, a date) to a single line."""
    return re.sub(r"\s+", " ", clean_text(text).replace("\n", " ")).strip()
