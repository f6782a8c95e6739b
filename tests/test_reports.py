"""Importing AWS certification reports (text and PDF) into site records."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geo.cli.main import app
from geo.core.errors import ReportError
from geo.core.records import SiteRecord, load_record, save_record
from geo.reports.parse import (
    ADVANCED_INDICATORS,
    KNOWN_INDICATORS,
    diff_records,
    merge_records,
    parse_report_text,
    plan_import,
    read_report,
)
from geo.reports.text import clean_text

SEED_158 = "seeds/000_fe7e7c1c91d954c1.txt"
SEED_LANTO = "seeds/001_46638ca9e96d7e34.txt"

# A small report in the seeds' layout: tabs, HTML remnants, a page header inside a
# comment, answers on the indicator line and below it.
MINI_REPORT = """\
CERTIFICATION REPORT

Alliance for Water Stewardship (AWS)

Audit Number: AO-009001

SITE DETAILS

Site: **Example Works, Suzhou**

Address: No. 1, River Road, Suzhou, CHINA

Contact Person: Li Ming

AWS Reference Number: AWS-009999

Site Structure: Single Site

CERTIFICATION DETAILS

Certification status: Certified Core

Date of certification decision: 2024-May-06

Validity of certificate: 2027-May-05

AUDIT DETAILS

Audited Service(s): AWS Standard v2.0 (2019)

Audit Type(s): Initial Audit

Audit Start Date: 2024-Mar-11

Lead Auditor: Ann Auditor (Some Body)

Audit team participants:

Bo Second (Some Body)

Site Participants:

Li Ming, EHS Manager

ADDITIONAL INFO

Summary of Audit Findings: A total of 1 finding was raised during the certification audit, \
0 major non-conformity, 1 minor non-conformity, 0 observation.

Scope of Assessment: The scope covers the initial audit of Example Works Co., Ltd. against \
the AWS Standard. The Business Registration Address/ Business Operation Address was No. 1 River \
Road, Suzhou, Jiangsu Province, China. The site covers an area of 12,500 m², with a total \
construction area of 8000 square meters. At present, the number of employees are about 300. \
The facility is located in the Suzhou Section of Grand Canal Basin.

SCORE

3.00

FINDINGS

Minor\t1

FINDING DETAILS

Finding No:\tTNR-000001
Checklist Item No:\t1.3.8
Status:\tOpen
Finding level:\tMinor
Checklist item:\tLevels of access and adequacy of WASH at the site shall be identified.
Findings:\t<p>No <b>drinking water</b> point in workshop 2.</p>
Corrective action:\tInstall one.

Report Details

Report\tValue
Report prepared by\tAnn Auditor (Some Body)
Report approved by\tC. Approver
Report approved on (Date)\t5 June 2024

Surveillance

Proposed date for next audit
2025-Mar-11

Stakeholder Announcements

Date of publication\tLocation
01/02/2024\thttps://example.org/announcement.pdf

Catchment Information

The municipal water plant has two sources (Taipu River and Yangcheng Lake). The domestic \
wastewater is discharged into Suzhou Example Sewage Treatment Plant and finally discharged \
into the Grand Canal.

Summary of Shared Water Challenges

1. Water quality.
2. Flooding.

1.1.1\t<p><i>The physical scope of the site shall be mapped.</i></p>\t\u2714 Yes
Comment\t<p>The site has a map.</p> <ul style="list-style-type: none"> \u2022 Site boundaries \
\u2022 Pipes </ul>\t
1.3.6\t<i>On-site Important Water-Related Areas shall be identified.</i>\t Yes
Comment\tThe site identified Little Pond as its on-site IWRA.\t
1.3.8 *Levels of access and adequacy of WASH at the site shall be identified.*

 No

CERTIFICATION REPORT

Alliance for Water Stewardship (AWS)

Audit Number: AO-009001

Comment Drinking water \u25a1 points are missing in one workshop.

Finding No: TNR-000001

1.4.3 *Advanced Indicator
The embedded water use of primary inputs in catchment(s) of origin shall be quantified.*

Yes

Comment Quantified for the main supplier.

Score 3

2.4.2\t<i>Advanced Indicator A plan for climate change risks shall be identified.</i>\t No
Comment\tThe site does not perform this indicator.\t

Photographic Evidence from Audit

gate.JPG
"""


def _report(text: str = MINI_REPORT, **replace: str) -> str:
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def _codes(imported) -> list[str]:
    return [w.code for w in imported.warnings]


def _workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "layers").mkdir(parents=True)
    (root / "data").mkdir()
    return root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


# ---------------------------------------------------------------------------
# The small report


def test_mini_report_fields() -> None:
    imported = parse_report_text(MINI_REPORT, name="mini.txt")
    record = imported.record
    assert record.aws_ref == "AWS-009999"
    assert record.audit_number == "AO-009001"
    assert record.site_name == "Example Works, Suzhou"
    assert record.certification_status == "Certified Core"
    assert str(record.decision_date) == "2024-05-06"
    assert str(record.valid_until) == "2027-05-05"
    assert str(record.audit_start_date) == "2024-03-11"
    assert str(record.next_audit_date) == "2025-03-11"
    assert record.report_approved_on == "2024-06-05"
    assert record.score == 3.0
    assert record.audit_team == ["Bo Second (Some Body)"]
    assert record.site_participants == ["Li Ming, EHS Manager"]
    assert record.area_m2 == 12500
    assert record.construction_area_m2 == 8000
    assert record.staff == 300
    assert record.catchment_name == "Suzhou Section of Grand Canal Basin"
    assert record.ultimate_water_sources == ["Taipu River", "Yangcheng Lake"]
    assert record.wastewater_service_provider == "Suzhou Example Sewage Treatment Plant"
    assert record.receiving_water_bodies == ["Grand Canal"]
    assert record.onsite_iwras == ["Little Pond"]
    assert [c.text for c in record.shared_water_challenges] == ["Water quality.", "Flooding."]
    assert record.stakeholder_announcements[0].date == "2024-02-01"
    [finding] = record.findings
    assert (finding.id, finding.indicator, finding.level, finding.status) == (
        "TNR-000001", "1.3.8", "Minor", "Open")
    assert finding.text == "No drinking water point in workshop 2."
    answers = {i.id: (i.answer, i.advanced, i.score) for i in record.indicators}
    assert answers == {
        "1.1.1": ("Yes", False, None),
        "1.3.6": ("Yes", False, None),
        "1.3.8": ("No", False, None),
        "1.4.3": ("Yes", True, 3.0),
        "2.4.2": ("No", True, None),
    }
    comments = {i.id: i.comment for i in record.indicators}
    assert comments["1.1.1"] == "The site has a map.\n- Site boundaries\n- Pipes"
    assert comments["1.3.8"] == "Drinking water points are missing in one workshop."
    # a consistent report: only the checklist's incompleteness is reported
    assert _codes(imported) == ["missing-indicators"]


def test_missing_header_fields_leave_fields_empty_and_warn() -> None:
    text = _report(**{"Lead Auditor: Ann Auditor (Some Body)\n": "",
                      "Audit Start Date: 2024-Mar-11\n": "",
                      "Site: **Example Works, Suzhou**\n": ""})
    imported = parse_report_text(text)
    assert imported.record.lead_auditor == ""
    assert imported.record.audit_start_date is None
    assert imported.record.site_name == ""
    [warning] = [w for w in imported.warnings if w.code == "missing-header"]
    assert "site" in warning.message
    assert "lead auditor" in warning.message
    assert "audit start date" in warning.message


def test_unknown_indicator_id_is_kept_and_warned() -> None:
    text = _report(**{"Photographic Evidence": "6.1.1\t<i>Not an AWS indicator.</i>\t Yes\n"
                                               "Comment\tSomething.\t\n\nPhotographic Evidence"})
    imported = parse_report_text(text)
    assert "6.1.1" in [i.id for i in imported.record.indicators]
    [warning] = [w for w in imported.warnings if w.code == "unknown-indicator"]
    assert "6.1.1" in warning.message


def test_no_aws_reference_is_an_error() -> None:
    text = _report(**{"AWS Reference Number: AWS-009999\n": ""})
    with pytest.raises(ReportError, match="no 'AWS Reference Number"):
        parse_report_text(text, name="noref.txt")


def test_findings_summary_and_no_without_finding_are_checked() -> None:
    text = _report(**{"A total of 1 finding": "A total of 2 findings",
                      "1 minor non-conformity": "2 minor non-conformities",
                      "1.3.6\t<i>On-site Important Water-Related Areas shall be identified.</i>\t"
                      " Yes": "1.3.6\t<i>On-site Important Water-Related Areas shall be "
                              "identified.</i>\t No"})
    imported = parse_report_text(text)
    messages = [w.message for w in imported.warnings]
    assert any("total of 2 finding(s) but 1 are listed" in m for m in messages)
    assert any("2 minor finding(s) but 1 are listed" in m for m in messages)
    [no] = [w for w in imported.warnings if w.code == "no-without-finding"]
    assert "1.3.6" in no.message
    # advanced indicators answered No carry no finding: not a warning
    assert "2.4.2" not in " ".join(messages)


def test_score_sum_and_missing_answer_are_checked() -> None:
    text = _report(**{"SCORE\n\n3.00": "SCORE\n\n5.00", "\nYes\n\nComment Quantified":
                      "\n\nComment Quantified"})
    codes = _codes(parse_report_text(text))
    assert "score-sum" in codes
    assert "no-answer" in codes


def test_clean_text_removes_remnants() -> None:
    raw = ("<p>First <i>para</i>.</p> <p>Rate \u25a1100%\u25a1 &amp; more\t\u2714</p>"
           "<ul style=\"x\"> \u2022 one \u2022 two </ul>\n\nCERTIFICATION REPORT\n\n"
           "Alliance for Water Stewardship (AWS)\n\nAudit Number: AO-000001\n\nEnd\uf0fc.")
    assert clean_text(raw) == "First para.\nRate (100%) & more\n- one\n- two\nEnd."


# ---------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("data", [b"", b"   \n\t\n"])
def test_empty_file(data: bytes) -> None:
    with pytest.raises(ReportError, match=r"empty\.txt: the file is empty"):
        read_report(data, name="empty.txt")


@pytest.mark.parametrize(("data", "what"), [
    (b"\x89PNG\r\n\x1a\n" + bytes(200), "PNG image"),
    (b"PK\x03\x04" + bytes(100), "zip archive"),
    (bytes(range(256)) * 8, "binary data"),
])
def test_binary_file_that_is_not_a_pdf(data: bytes, what: str) -> None:
    with pytest.raises(ReportError, match=rf"blob\.bin: .*{what}.*PDF"):
        read_report(data, name="blob.bin")


def test_broken_pdf() -> None:
    with pytest.raises(ReportError, match=r"bad\.pdf: not a readable PDF"):
        read_report(b"%PDF-1.7\n" + b"garbage " * 50, name="bad.pdf")


def _image_only_pdf() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig = plt.figure(figsize=(2, 3))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(np.random.default_rng(0).random((60, 40)), cmap="gray")
    ax.axis("off")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="pdf")
    plt.close(fig)
    return buffer.getvalue()


def test_scanned_pdf_without_text_layer() -> None:
    with pytest.raises(ReportError, match=r"scan\.pdf: .*no text layer; it looks scanned.*OCR"):
        read_report(_image_only_pdf(), name="scan.pdf")


def _text_pdf(text: str) -> bytes:
    """A minimal PDF (Helvetica, one text line per report line) of ``text``."""
    lines = [line.replace("\t", "    ") for line in text.split("\n")]
    pages = [lines[i:i + 100] for i in range(0, len(lines), 100)]

    def literal(line: str) -> bytes:
        raw = line.encode("cp1252", "ignore")  # glyphs Helvetica lacks (ticks, boxes) vanish
        return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"

    kids = [4 + 2 * i for i in range(len(pages))]
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % k for k in kids)
        + b"] /Count %d >>" % len(pages),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for kid, page in zip(kids, pages, strict=True):
        stream = b"BT /F1 6 Tf 8 TL 20 790 Td " + b" ".join(
            literal(line) + b" Tj T*" for line in page) + b" ET"
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 6000 800] /Resources "
                       b"<< /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (kid + 1))
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def test_pdf_of_mini_report_imports_like_text() -> None:
    from_text = read_report(MINI_REPORT.encode(), name="r")
    from_pdf = read_report(_text_pdf(MINI_REPORT), name="r")
    assert from_pdf.record == from_text.record
    assert _codes(from_pdf) == _codes(from_text)


# ---------------------------------------------------------------------------
# Merge


def test_second_report_merges_without_losing_edits() -> None:
    first = parse_report_text(MINI_REPORT).record
    edited = first.model_copy(update={
        "site_name": "Example Works (corrected)",
        "indicators": [i.model_copy(update={"answer": "N/A"}) if i.id == "2.4.2" else i
                       for i in first.indicators],
        "edited_fields": ["site_name", "indicators[2.4.2]"],
        "notes": "site name corrected by hand",
    })
    second = parse_report_text(_report(**{
        "Audit Number: AO-009001": "Audit Number: AO-009002",
        "Audit Type(s): Initial Audit": "Audit Type(s): Surveillance Audit",
        "SCORE\n\n3.00": "SCORE\n\n3.00",
        "At present, the number of employees are about 300. ": "",
        "2.4.2\t<i>Advanced Indicator A plan for climate change risks shall be identified.</i>"
        "\t No": "2.4.2\t<i>Advanced Indicator A plan for climate change risks shall be "
                 "identified.</i>\t Yes",
    })).record
    merged, changes = merge_records(edited, second)
    assert merged.site_name == "Example Works (corrected)"          # edited: kept
    assert {i.id: i.answer for i in merged.indicators}["2.4.2"] == "N/A"
    assert merged.audit_number == "AO-009002"                       # new audit: taken
    assert merged.audit_type == "Surveillance Audit"
    assert merged.staff == 300                                      # not in report: kept
    assert merged.notes == "site name corrected by hand"
    assert merged.edited_fields == ["site_name", "indicators[2.4.2]"]
    outcome = {c.path: c.outcome for c in changes}
    assert outcome["audit_number"] == "update"
    assert outcome["audit_type"] == "update"
    assert outcome["indicators[2.4.2].answer"] == "keep-edited"
    assert outcome["staff"] == "keep-existing"
    assert outcome["site_name"] == "keep-edited"
    # what changed between the stored and the merged record is exactly the updates
    assert {c.path for c in diff_records(edited, merged)} == {
        path for path, how in outcome.items() if how == "update"}


def test_merge_reports_edited_field_when_report_differs() -> None:
    stored = parse_report_text(MINI_REPORT).record.model_copy(
        update={"lead_auditor": "A. Auditor", "edited_fields": ["lead_auditor"]})
    imported = parse_report_text(MINI_REPORT).record
    merged, changes = merge_records(stored, imported)
    assert merged.lead_auditor == "A. Auditor"
    assert [(c.path, c.old, c.new, c.outcome) for c in changes] == [
        ("lead_auditor", "A. Auditor", "Ann Auditor (Some Body)", "keep-edited")]
    plan = plan_import({stored.aws_ref: stored}, imported)
    assert not plan.is_new and plan.updates == [] and plan.record == stored


def test_merge_refuses_another_site() -> None:
    record = parse_report_text(MINI_REPORT).record
    other = record.model_copy(update={"aws_ref": "AWS-000001"})
    with pytest.raises(ReportError, match="AWS-000001"):
        merge_records(other, record)


def test_records_without_new_fields_still_load(tmp_path: Path) -> None:
    """JSON written before the report fields existed stays valid (backward compatible)."""
    path = tmp_path / "sites" / "AWS-000123.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"aws_ref": "AWS-000123", "site_name": "Old"}), encoding="utf-8")
    record = load_record(path)
    assert record.registration_address == "" and record.site_background == ""


# ---------------------------------------------------------------------------
# The seed reports


@pytest.mark.seeds
def test_seed_158_facts(shared_dir: Path) -> None:
    imported = read_report((shared_dir / SEED_158).read_bytes(), name="000.txt")
    r = imported.record
    assert (r.aws_ref, r.audit_number) == ("AWS-000521", "AO-000516")
    assert r.site_name == "Luxshare - (158) Kunshan, China"
    assert r.organisation == "Luxshare Electronic Technology (Kunshan) Co., Ltd."
    assert r.certification_status == "Certified Gold"
    assert (str(r.decision_date), str(r.valid_until)) == ("2023-07-03", "2026-07-02")
    assert str(r.audit_start_date) == "2023-03-01"
    assert str(r.next_audit_date) == "2024-03-01"
    assert r.score == 57.0
    assert r.lead_auditor == "Layla Chen (TUV Rheinland)"
    assert r.audit_team == ["Lingyun Yu (TUV Rheinland)"]
    assert len(r.site_participants) == 8
    assert r.standard == "AWS Standard v2.0 (2019)" and r.audit_type == "Initial Audit"
    assert r.report_approved_by == "Mia Antoni-Naidoo" and r.report_approved_on == "2023-06-05"
    assert len(r.stakeholder_announcements) == 4
    assert r.registration_address.startswith("No.158 Jinchang Road")
    assert len(r.operation_addresses) == 4
    assert r.operation_addresses[3].startswith("No. 88 West of Jinyu Road")
    assert (r.area_m2, r.construction_area_m2, r.staff) == (200000, 137250, 2500)
    assert r.capacity == "1597889057 pcs/year"
    assert r.catchment_name == "Kunshan Section of Wusong River Basin"
    assert r.water_service_provider == ""  # the report only says "the local water company"
    assert r.ultimate_water_sources == ["Yangtze River", "Kuilei Lake"]
    assert r.wastewater_service_provider == "Kunshan Jinxi Sewage Treatment Plant"
    assert r.receiving_water_bodies == ["Wusong River", "Baijiadang Lake"]
    assert r.onsite_iwras == ["Baijiadang Lake"]
    assert r.catchment_iwras == [] and r.catchment_iwra_count is None
    assert [c.priority for c in r.shared_water_challenges] == [
        "Level 4", "Level 4", "Level 3", "Level 1", "Level 3", "Level 2"]
    [finding] = r.findings
    assert (finding.id, finding.indicator, finding.level, finding.status) == (
        "TNR-003765", "3.6.1", "Minor", "Open")
    assert finding.corrective_action.startswith("Installing portable eye washer")
    assert [i.id for i in r.indicators] == list(KNOWN_INDICATORS)
    answers = {i.id: i for i in r.indicators}
    assert answers["3.6.1"].answer == "No" and answers["2.3.5"].answer == "No"
    assert answers["1.5.8"].answer == "N/A"
    assert answers["3.9.10"].score == 4 and answers["3.9.10"].answer == ""
    assert sum(i.score or 0 for i in r.indicators) == 57
    assert {i.id for i in r.indicators if i.advanced} == ADVANCED_INDICATORS
    assert sorted(set(_codes(imported))) == [
        "advanced-label", "background-address", "background-products", "level-summary",
        "no-answer"]


@pytest.mark.seeds
def test_seed_lanto_facts(shared_dir: Path) -> None:
    imported = read_report((shared_dir / SEED_LANTO).read_bytes(), name="001.txt")
    r = imported.record
    assert (r.aws_ref, r.audit_number) == ("AWS-000522", "AO-000517")
    assert r.site_name == "Luxshare - Lanto (399) Kunshan, China"
    assert r.organisation == "Lanto Electronic Ltd."
    assert r.certification_status == "Certified Gold"
    assert str(r.audit_start_date) == "2023-02-14"
    assert str(r.next_audit_date) == "2024-02-16"
    assert r.score == 60.0
    assert r.lead_auditor == "Layla Chen (TUV Rheinland)"
    assert r.report_prepared_by == "" and r.report_approved_on == ""  # empty in the report
    assert (r.area_m2, r.construction_area_m2, r.staff) == (334000, None, 6800)
    assert r.water_service_provider == "Kunshan Water Group Co., Ltd."
    assert r.wastewater_service_provider == "Kunshan Jinxi Sewage Treatment Plant"
    assert "Xiaojieing River" in r.receiving_water_bodies
    assert r.onsite_iwras == ["Baijiadang Lake"]
    assert r.catchment_iwra_count == 14
    assert "Yangcheng Lake (Kunshan) Wetland" in r.catchment_iwras
    assert "Tinglin Scenic Area" in r.catchment_iwras
    [finding] = r.findings
    assert (finding.id, finding.indicator, finding.level) == ("TNR-003766", "3.2.1", "Minor")
    assert finding.text.split("\n")[1].startswith("2. There was a rainwater well")
    assert [i.id for i in r.indicators] == list(KNOWN_INDICATORS)
    assert {i.id: i.answer for i in r.indicators}["3.2.1"] == "No"
    assert sum(i.score or 0 for i in r.indicators) == 60
    # report-internal contradictions (issue 15): the WWTP effluent goes to the Wusong River
    # (catchment information) and to the Xiaojieing River (1.1.1); 14 IWRAs counted, 5 named
    assert _codes(imported) == ["address-typo", "receiving-waters", "iwra-count"]


@pytest.mark.seeds
@pytest.mark.parametrize("seed", [SEED_158, SEED_LANTO])
def test_seed_text_is_clean(shared_dir: Path, seed: str) -> None:
    record = read_report((shared_dir / seed).read_bytes()).record
    texts = [i.comment for i in record.indicators] + [
        f.text for f in record.findings] + [record.scope_of_assessment, record.site_background]
    for text in texts:
        for remnant in ("<p>", "<i>", "<ul", "</", "\t", "\u25a1", "\u2714", "\u2713",
                        "CERTIFICATION REPORT", "Audit Number", "**"):
            assert remnant not in text, (remnant, text[:200])
    assert sum(bool(i.comment) for i in record.indicators) == 98  # 0.1.1.x have none


@pytest.mark.seeds
def test_pdf_made_from_seed_imports_like_text(shared_dir: Path) -> None:
    text = (shared_dir / SEED_158).read_text(encoding="utf-8")
    from_text = read_report(text.encode(), name="158")
    from_pdf = read_report(_text_pdf(text), name="158")
    assert from_pdf.record == from_text.record
    assert _codes(from_pdf) == _codes(from_text)


@pytest.mark.seeds
@pytest.mark.parametrize(("seed", "ref"), [(SEED_158, "AWS-000521"), (SEED_LANTO, "AWS-000522")])
def test_committed_demo_records_are_the_import_plus_documented_corrections(
    shared_dir: Path, repo_root: Path, seed: str, ref: str
) -> None:
    committed = load_record(repo_root / "data" / "sites" / f"{ref}.json")
    imported = read_report((shared_dir / seed).read_bytes(), name=Path(seed).name).record
    merged, changes = merge_records(committed, imported)
    assert merged == committed  # re-importing changes nothing
    assert {c.outcome for c in changes} == {"keep-edited"}
    differing = {re.match(r"[^.\[]+(\[[^\]]+\])?", c.path).group(0) for c in changes}
    assert differing == set(committed.edited_fields)  # every correction is a real difference
    readme = (repo_root / "data" / "sites" / "README.md").read_text(encoding="utf-8")
    for name in committed.edited_fields:
        assert name.split("[")[0] in committed.notes
        assert f"`{name}`" in readme


# ---------------------------------------------------------------------------
# The command line


@pytest.fixture
def mini_file(tmp_path: Path) -> Path:
    path = tmp_path / "mini.txt"
    path.write_text(MINI_REPORT, encoding="utf-8")
    return path


def test_cli_imports_with_yes(tmp_path: Path, mini_file: Path) -> None:
    ws = _workspace(tmp_path)
    result = CliRunner().invoke(app, ["import-report", str(mini_file), "-w", str(ws), "--yes"])
    assert result.exit_code == 0, result.output
    assert "AWS-009999" in result.output and "Saved" in result.output
    saved = load_record(ws / "data" / "sites" / "AWS-009999.json")
    assert saved == read_report(MINI_REPORT.encode(), name="mini.txt").record


def test_cli_dry_run_writes_nothing(tmp_path: Path, mini_file: Path) -> None:
    ws = _workspace(tmp_path)
    stored = parse_report_text(MINI_REPORT).record.model_copy(update={"score": 1.0})
    save_record(ws / "data", stored)
    before = _snapshot(ws)
    result = CliRunner().invoke(app, ["import-report", str(mini_file), "-w", str(ws),
                                      "--dry-run", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Dry run" in result.output and "score" in result.output
    assert _snapshot(ws) == before


def test_cli_without_terminal_or_yes_refuses(tmp_path: Path, mini_file: Path) -> None:
    ws = _workspace(tmp_path)
    before = _snapshot(ws)
    result = CliRunner().invoke(app, ["import-report", str(mini_file), "-w", str(ws)])
    assert result.exit_code == 1
    assert "--yes" in result.output
    assert _snapshot(ws) == before


@pytest.mark.parametrize(("content", "message"), [
    (b"", "the file is empty"),
    (b"\x89PNG\r\n\x1a\n" + bytes(64), "PNG image"),
    (MINI_REPORT.replace("AWS Reference Number: AWS-009999\n", "").encode(), "AWS Reference"),
])
def test_cli_bad_input_exits_1_and_writes_nothing(tmp_path: Path, mini_file: Path,
                                                  content: bytes, message: str) -> None:
    ws = _workspace(tmp_path)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    before = _snapshot(ws)
    # the good report first: nothing may be saved when a later one is bad
    result = CliRunner().invoke(app, ["import-report", str(mini_file), str(bad), "-w", str(ws),
                                      "--yes"])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert _snapshot(ws) == before


def test_cli_missing_file(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    result = CliRunner().invoke(app, ["import-report", str(tmp_path / "nope.pdf"), "-w", str(ws)])
    assert result.exit_code == 1
    assert "no such file" in result.output


def test_cli_json_prints_records(tmp_path: Path, mini_file: Path) -> None:
    ws = _workspace(tmp_path)
    result = CliRunner().invoke(app, ["import-report", str(mini_file), "-w", str(ws),
                                      "--json", "--dry-run"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [r["aws_ref"] for r in payload] == ["AWS-009999"]
    assert SiteRecord.model_validate(payload[0]).staff == 300


def test_cli_second_report_shows_differences_and_keeps_edits(tmp_path: Path,
                                                             mini_file: Path) -> None:
    ws = _workspace(tmp_path)
    stored = parse_report_text(MINI_REPORT).record.model_copy(update={
        "lead_auditor": "Corrected Name", "score": 2.0, "edited_fields": ["lead_auditor"]})
    save_record(ws / "data", stored)
    result = CliRunner().invoke(app, ["import-report", str(mini_file), "-w", str(ws), "--yes"])
    assert result.exit_code == 0, result.output
    assert "Differences with the stored record" in result.output
    assert "keep (edited by hand)" in result.output and "replace" in result.output
    saved = load_record(ws / "data" / "sites" / "AWS-009999.json")
    assert saved.lead_auditor == "Corrected Name"
    assert saved.score == 3.0


@pytest.mark.parametrize(("answer", "saved"), [(False, False), (True, True)])
def test_asks_before_saving(tmp_path: Path, mini_file: Path, answer: bool, saved: bool) -> None:
    from rich.console import Console

    from geo.reports.review import import_reports

    ws = _workspace(tmp_path)
    questions: list[str] = []

    def confirm(question: str) -> bool:
        questions.append(question)
        return answer

    status = import_reports([mini_file], workspace=ws, console=Console(file=io.StringIO()),
                            confirm=confirm, interactive=True)
    assert status == 0
    assert questions == ["Save the new site record AWS-009999?"]
    assert (ws / "data" / "sites" / "AWS-009999.json").exists() is saved


def test_page_numbers_and_headers_inside_a_comment_are_dropped() -> None:
    text = _report(**{"Comment Quantified for the main supplier.":
                      "Comment Quantified for the main\nPage 7 of 20\nsupplier."})
    comments = {i.id: i.comment for i in parse_report_text(text).record.indicators}
    assert comments["1.4.3"] == "Quantified for the main\nsupplier."
    assert comments["1.3.8"] == "Drinking water points are missing in one workshop."


def test_bom_and_windows_line_ends_import_the_same() -> None:
    plain = read_report(MINI_REPORT.encode(), name="r").record
    windows = read_report(b"\xef\xbb\xbf" + MINI_REPORT.replace("\n", "\r\n").encode(), name="r")
    assert windows.record == plain


def test_review_facts_for_the_app() -> None:
    from geo.reports.parse import review_facts

    rows = dict(review_facts(parse_report_text(MINI_REPORT).record))
    assert rows["Area"] == "12,500 m² (construction 8,000 m²)"
    assert rows["On-site IWRAs"] == "Little Pond"
    assert rows["Indicators"].startswith("5: Yes 3 · No 2 · N/A 0")


@pytest.mark.seeds
@pytest.mark.parametrize("seed", [SEED_158, SEED_LANTO])
def test_seed_without_tabs_or_blank_lines_imports_the_same(shared_dir: Path, seed: str) -> None:
    """Extractors differ in whitespace: tabs as spaces, no empty lines."""
    text = (shared_dir / seed).read_text(encoding="utf-8")
    squashed = "\n".join(line.replace("\t", " ") for line in text.split("\n") if line.strip())
    assert read_report(squashed.encode()).record == read_report(text.encode()).record


def test_several_findings() -> None:
    second = ("Finding No:\tTNR-000002\nChecklist Item No:\t2.4.2\nStatus:\tClosed\n"
              "Finding level:\tMajor non-conformity\nChecklist item:\tA plan.\n"
              "Findings:\tNo plan.\nCorrective action:\tWrite one.\n\nReport Details")
    text = _report(**{"\nReport Details": "\n" + second,
                      "A total of 1 finding": "A total of 2 findings",
                      "0 major non-conformity": "1 major non-conformity"})
    imported = parse_report_text(text)
    assert [(f.id, f.level, f.indicator, f.status) for f in imported.record.findings] == [
        ("TNR-000001", "Minor", "1.3.8", "Open"), ("TNR-000002", "Major", "2.4.2", "Closed")]
    assert "findings-count" not in _codes(imported)  # summary 2 = 1 major + 1 minor listed


def test_other_layout_of_score_and_next_audit() -> None:
    text = _report(**{"SCORE\n\n3.00\n": "Total score: 3.00\n",
                      "Surveillance\n\nProposed date for next audit\n2025-Mar-11":
                      "Proposed date for next audit: 11 March 2025"})
    record = parse_report_text(text).record
    assert record.score == 3.0
    assert str(record.next_audit_date) == "2025-03-11"


def test_save_refuses_when_the_record_changed_since_review(tmp_path: Path) -> None:
    from geo.core.errors import RecordError
    from geo.reports.parse import save_plan

    data = tmp_path / "data"
    stored = parse_report_text(MINI_REPORT).record
    save_record(data, stored)
    plan = plan_import({stored.aws_ref: stored},
                       parse_report_text(_report(**{"SCORE\n\n3.00": "SCORE\n\n4.00"})))
    save_record(data, stored.model_copy(update={"notes": "edited in another tab"}))
    with pytest.raises(RecordError, match="changed since this import was reviewed"):
        save_plan(data, plan)
    assert load_record(data / "sites" / "AWS-009999.json").notes == "edited in another tab"
    fresh = plan_import({stored.aws_ref: load_record(data / "sites" / "AWS-009999.json")},
                        parse_report_text(_report(**{"SCORE\n\n3.00": "SCORE\n\n4.00"})))
    save_plan(data, fresh)
    saved = load_record(data / "sites" / "AWS-009999.json")
    assert (saved.score, saved.notes) == (4.0, "edited in another tab")


def test_two_reports_of_one_site_in_one_run(tmp_path: Path, mini_file: Path) -> None:
    ws = _workspace(tmp_path)
    later = tmp_path / "later.txt"
    later.write_text(_report(**{"SCORE\n\n3.00": "SCORE\n\n4.00"}), encoding="utf-8")
    result = CliRunner().invoke(app, ["import-report", str(mini_file), str(later), "-w", str(ws),
                                      "--yes"])
    assert result.exit_code == 0, result.output
    assert load_record(ws / "data" / "sites" / "AWS-009999.json").score == 4.0


def test_password_protected_pdf() -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    writer.encrypt("secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(ReportError, match=r"locked\.pdf: the PDF is password-protected"):
        read_report(buffer.getvalue(), name="locked.pdf")


def test_finding_table_with_values_on_their_own_lines() -> None:
    """Extractors may put each table cell on its own line, ids included."""
    table_layout = ("Finding No:\nTNR-000001\nChecklist Item No:\n1.3.8\nStatus:\nOpen\n"
                    "Finding level:\nMinor\nChecklist item:\nLevels of access and adequacy of "
                    "WASH at the site shall be identified.\nFindings:\nNo drinking water point."
                    "\nCorrective action:\nInstall one.\n")
    start = MINI_REPORT.index("Finding No:")
    end = MINI_REPORT.index("\nReport Details")
    imported = parse_report_text(MINI_REPORT[:start] + table_layout + MINI_REPORT[end:])
    [finding] = imported.record.findings
    assert (finding.id, finding.indicator, finding.level) == ("TNR-000001", "1.3.8", "Minor")
    assert finding.text == "No drinking water point."
    assert len(imported.record.indicators) == 5
    assert _codes(imported) == ["missing-indicators"]


def test_answer_right_after_the_indicator_id() -> None:
    text = _report(**{"1.3.6\t<i>On-site Important Water-Related Areas shall be identified.</i>"
                      "\t Yes": "1.3.6 Yes On-site Important Water-Related Areas shall be "
                                "identified."})
    answers = {i.id: i.answer for i in parse_report_text(text).record.indicators}
    assert answers["1.3.6"] == "Yes"
