"""The "Import report" tab (ui/reports.py), run headless with streamlit.testing.v1.AppTest."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.test_app import _app, _open_folder
from tests.test_reports import MINI_REPORT, _image_only_pdf, _text_pdf
from ui.panels import md

REF = "AWS-009999"


def _upload(at: AppTest, name: str, data: bytes, mime: str) -> AppTest:
    uploader = next(w for w in at.get("file_uploader")
                    if getattr(w, "label", "") == "Certification report")
    uploader.set_value((name, data, mime)).run()
    assert not at.exception, at.exception
    return at


def _button(at: AppTest, prefix: str):
    return next(b for b in at.button if str(b.label).startswith(prefix))


def test_review_then_save_then_merge_keeps_edits(demo_copy: Path) -> None:
    stored = demo_copy / "data" / "sites" / f"{REF}.json"
    at = _open_folder(_app().run(), demo_copy)
    _upload(at, "works.pdf", _text_pdf(MINI_REPORT), "application/pdf")
    assert any(md(f"{REF} is not in this workspace yet") in i.value for i in at.info)
    facts = next(df.value for df in at.dataframe if "fact" in df.value.columns)
    assert "Catchment" in set(facts["fact"])
    assert not stored.exists()  # reviewed, not saved
    _button(at, f"Save the new record {REF}").click().run()
    assert not at.exception, at.exception
    assert any(md(f"Saved {REF}.json") in s.value for s in at.success)
    record = json.loads(stored.read_text())
    assert record["score"] == 3.0
    # a person edits the name; the score goes stale; the same report again
    record.update(site_name="Hand-edited name", score=1.0, edited_fields=["site_name"])
    stored.write_text(json.dumps(record))
    _upload(at, "works.txt", MINI_REPORT.encode(), "text/plain")
    table = at.table[0].value
    assert md("keep (edited by hand)") in set(table["on save"])
    replace = _button(at, "Replace ")
    assert json.loads(stored.read_text())["score"] == 1.0  # nothing replaced before the click
    replace.click().run()
    assert not at.exception, at.exception
    merged = json.loads(stored.read_text())
    assert merged["score"] == 3.0 and merged["site_name"] == "Hand-edited name"


def test_bad_files_show_a_message_and_write_nothing(demo_copy: Path) -> None:
    sites = demo_copy / "data" / "sites"
    before = sorted(p.name for p in sites.iterdir())
    at = _open_folder(_app().run(), demo_copy)
    for name, data, mime, words in [
        ("empty.txt", b"", "text/plain", "the file is empty"),
        ("photo.pdf", b"\x89PNG\r\n\x1a\n" + bytes(200), "application/pdf", "not a report"),
        ("scan.pdf", _image_only_pdf(), "application/pdf", "no text layer"),
    ]:
        _upload(at, name, data, mime)
        assert [e.value for e in at.error if "Nothing was imported" in e.value], name
        assert md(words) in at.error[0].value and md(name) in at.error[0].value  # as text
        assert not [b for b in at.button if str(b.label).startswith(("Save the", "Replace "))]
    assert sorted(p.name for p in sites.iterdir()) == before


def test_report_values_are_escaped_in_the_differences_table(demo_copy: Path) -> None:
    at = _open_folder(_app().run(), demo_copy)
    _upload(at, "works.txt", MINI_REPORT.encode(), "text/plain")
    _button(at, f"Save the new record {REF}").click().run()
    hostile = MINI_REPORT.replace("Li Ming\n", "[click](javascript:alert(1))\n", 1)
    _upload(at, "works2.txt", hostile.encode(), "text/plain")
    table = at.table[0].value
    shown = " ".join(str(v) for v in table.to_numpy().ravel())
    # a Markdown link in a report is shown as text, never as a link (st.table renders Markdown)
    assert md("[click](javascript:alert(1))") in shown
