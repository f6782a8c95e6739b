"""The "Import report" tab in a real headless Chromium, against a temp copy of the demo.

Upload a certification report (text or PDF) → review → differences with the stored
record → save on confirmation; a second import keeps what a person edited and asks
before replacing; bad files say so and write nothing.  The server, browser and page
fixtures (offline request guard included) come from tests/test_browser.py.
"""

# ruff: noqa: F811  (the server/browser/page fixtures are imported from tests/test_browser.py)
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.test_browser import (  # noqa: F401  (fixtures)
    WAIT,
    _open_folder,
    browser,
    page,
    server,
)
from tests.test_reports import MINI_REPORT, SEED_LANTO, _image_only_pdf, _text_pdf

pytestmark = pytest.mark.browser

MINI_REF = "AWS-009999"
UPLOAD = "[data-testid=stFileUploaderDropzoneInput]"
WORKSPACE_NAME = "Report import test"


def _import_tab(pg: Any, server: str, workspace: Path) -> None:
    settings = workspace / "catchscope.toml"
    settings.write_text(re.sub(r'(?m)^name = .*$', f'name = "{WORKSPACE_NAME}"',
                               settings.read_text()))
    pg.goto(server)
    pg.get_by_text("Folder on this machine").wait_for(timeout=120_000)
    _open_folder(pg, workspace)
    pg.get_by_role("heading", name=re.compile(WORKSPACE_NAME)).wait_for(timeout=120_000)
    pg.get_by_role("tab", name="Import report").click()
    pg.get_by_text("Upload an AWS certification report").wait_for(timeout=60_000)


def _upload(pg: Any, name: str, data: bytes, mime: str = "text/plain") -> None:
    # the Import report tab's uploader (the New site tab has one for reports too)
    uploader = pg.locator("[data-testid=stFileUploader]").filter(
        has=pg.get_by_text("Certification report", exact=True))
    uploader.locator(UPLOAD).set_input_files({"name": name, "mimeType": mime, "buffer": data})


def _main(pg: Any) -> str:
    return str(pg.locator("[data-testid=stMain]").inner_text())


def _changes(pg: Any) -> dict[str, list[str]]:
    """The differences table: field -> [stored, report, on save], as the user reads it."""
    pg.locator("[data-testid=stTable]").wait_for(timeout=WAIT)
    rows = pg.locator("[data-testid=stTable] tr").evaluate_all(
        "rows => rows.map(r => [...r.children].map(c => c.innerText.trim()))")
    return {row[-4]: row[-3:] for row in rows if len(row) >= 4 and row[-1] != "on save"}


def _sites(workspace: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((workspace / "data" / "sites").glob("*"))}


def test_pdf_import_review_save_then_merge_keeps_edits(server: str, page: Any,
                                                       demo_copy: Path) -> None:
    pg, watch = page
    stored = demo_copy / "data" / "sites" / f"{MINI_REF}.json"
    _import_tab(pg, server, demo_copy)
    # 1. a PDF of a new site: review, then save on confirmation
    _upload(pg, "example-works.pdf", _text_pdf(MINI_REPORT), "application/pdf")
    pg.get_by_text(f"{MINI_REF} is not in this workspace yet").wait_for(timeout=WAIT)
    text = _main(pg)
    assert f"{MINI_REF} — Example Works, Suzhou" in text
    assert not stored.exists()  # nothing saved before the user confirms
    pg.get_by_role("button", name=f"Save the new record {MINI_REF}").click()
    pg.get_by_text(f"Saved {MINI_REF}.json").wait_for(timeout=WAIT)
    saved = json.loads(stored.read_text())
    assert saved["site_name"] == "Example Works, Suzhou" and saved["score"] == 3.0
    assert [f["id"] for f in saved["findings"]] == ["TNR-000001"]
    # 2. a person edits the name (and the score goes stale); the same report again
    saved.update(site_name="Example Works (Suzhou plant 2)", score=1.0,
                 edited_fields=["site_name"])
    stored.write_text(json.dumps(saved, ensure_ascii=False, indent=2))
    _upload(pg, "example-works.txt", MINI_REPORT.encode())
    button = pg.get_by_role("button", name=re.compile(rf"^Replace \d+ field\(s\) of {MINI_REF}$"))
    button.wait_for(timeout=WAIT)
    changes = _changes(pg)
    assert changes.get("site_name") == ["Example Works (Suzhou plant 2)", "Example Works, Suzhou",
                                    "keep (edited by hand)"], changes
    assert changes.get("score") == ["1.0", "3.0", "replace with the report's value"], changes
    assert json.loads(stored.read_text())["score"] == 1.0  # asked, not yet replaced
    button.click()
    pg.get_by_text(f"Saved {MINI_REF}.json").wait_for(timeout=WAIT)
    merged = json.loads(stored.read_text())
    assert merged["score"] == 3.0
    assert merged["site_name"] == "Example Works (Suzhou plant 2)"  # the edit survived
    assert merged["edited_fields"] == ["site_name"]
    assert watch.external == [] and watch.errors == [], (watch.external, watch.errors)


BAD_FILES = [
    ("empty.txt", b"", r"the file is empty"),
    ("photo.pdf", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, r"PNG image, not a report"),
    ("scan.pdf", None, r"no text layer; it looks scanned"),
]


def test_bad_files_say_so_and_write_nothing(server: str, page: Any, demo_copy: Path) -> None:
    pg, watch = page
    before = _sites(demo_copy)
    _import_tab(pg, server, demo_copy)
    for name, data, message in BAD_FILES:
        _upload(pg, name, _image_only_pdf() if data is None else data,
                "application/pdf" if name.endswith(".pdf") else "text/plain")
        alert = pg.locator("[data-testid=stAlertContentError]").filter(
            has_text=f"Nothing was imported: {name}")
        alert.wait_for(timeout=WAIT)
        assert re.search(message, alert.inner_text()), alert.inner_text()
        assert pg.get_by_role("button", name=re.compile("^(Save|Replace)")).count() == 0
        assert "Traceback" not in _main(pg)
        assert _sites(demo_copy) == before
    pg.get_by_role("tab", name="Export").click()  # the rest of the app still works
    pg.get_by_text("Export the site's scope").wait_for(timeout=10_000)
    assert watch.external == [] and watch.errors == [], (watch.external, watch.errors)


def test_seed_report_shows_differences_with_the_demo_record(server: str, page: Any,
                                                           demo_copy: Path,
                                                           shared_dir: Path) -> None:
    pg, watch = page
    seed = (shared_dir / SEED_LANTO).read_bytes()
    stored = demo_copy / "data" / "sites" / "AWS-000522.json"
    record = json.loads(stored.read_text())
    edited = list(record["edited_fields"])
    record["certification_status"] = "Certified Core"  # stale, not edited by hand
    stored.write_text(json.dumps(record, ensure_ascii=False, indent=2))
    _import_tab(pg, server, demo_copy)
    _upload(pg, SEED_LANTO.rsplit("/", 1)[-1], seed)
    button = pg.get_by_role("button", name=re.compile(r"^Replace \d+ field\(s\) of AWS-000522$"))
    button.wait_for(timeout=WAIT)
    text = _main(pg)
    assert "AWS-000522 is already in this workspace" in text
    changes = _changes(pg)
    assert changes.get("certification_status") == ["Certified Core", "Certified Gold",
                                               "replace with the report's value"], changes
    for field in edited:  # the demo record's hand edits are listed as kept
        assert changes[field][2] == "keep (edited by hand)", (field, changes)
    button.click()
    pg.get_by_text("Saved AWS-000522.json").wait_for(timeout=WAIT)
    after = json.loads(stored.read_text())
    assert after["certification_status"] == "Certified Gold"
    for field in edited:
        assert after[field] == record[field]
    assert watch.external == [] and watch.errors == [], (watch.external, watch.errors)
