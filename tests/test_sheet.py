"""The printable map sheet: its parts are found by what they are, not by pixels."""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
import pytest
from matplotlib.patches import FancyArrow, Rectangle
from pypdf import PdfReader
from shapely.geometry import Point

import geo
import geo.export.sheet as sheet
from geo.core.errors import GeoError
from geo.core.records import SiteRecord
from geo.core.workspace import open_workspace
from geo.export.site import collect

REF = "AWS-000001"
DEMO_REF = "AWS-000522"


@pytest.fixture(scope="module")
def demo():
    ws = open_workspace()
    if DEMO_REF not in ws.records:
        pytest.skip("the demo workspace has no record of AWS-000522")
    return collect(ws, DEMO_REF)


@pytest.fixture
def tiny(make_workspace, three_parcels, outfalls):
    parcels = three_parcels.copy()
    parcels["name_zh"] = ["甲区", "乙区", "丙区"]
    parcels.loc[0, "accuracy"] = "illustrative"
    intake = outfalls.iloc[:1].copy()
    intake["fid"] = ["ws1"]
    intake.geometry = [Point(120.96, 31.19)]
    root = make_workspace(
        layers={"sites": ("site", parcels, {"attribution": "Test survey (地块)",
                                            "source_date": "2024"}),
                "outfalls": ("discharge_point", outfalls, {"source_date": "2023"}),
                "intakes": ("water_source", intake, {})},
        records=[SiteRecord(aws_ref=REF, site_name="Test site", catchment_name="Test basin")],
    )
    return collect(open_workspace(root), REF)


def _gid_artists(fig, gid: str) -> list:
    return [a for a in fig.findobj() if a.get_gid() == gid]


def _texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))


def test_sheet_has_every_part_auditors_need(demo) -> None:
    fig = sheet.build_sheet(demo, paper="a4")
    for gid in ("legend", "scalebar", "north_arrow", "graticule", "inset", "sources",
                "caveat", "footer", "title"):
        assert _gid_artists(fig, gid), f"no {gid} on the sheet"
    legend = _gid_artists(fig, "legend")[0]
    labels = [t.get_text() for t in legend.get_texts()]
    assert "Site parcels" in labels and "Discharge points" in labels
    assert legend.get_title().get_text() == "Legend"
    assert any(isinstance(a, FancyArrow) for a in _gid_artists(fig, "north_arrow"))
    assert "N" in [a.get_text() for a in _gid_artists(fig, "north_arrow") if hasattr(a, "get_text")]
    labels = [a.get_text() for a in fig.findobj() if a.get_gid() == "graticule_label"]
    assert any(re.fullmatch(r"\d+\.\d+°E", t) for t in labels)
    assert any(re.fullmatch(r"\d+\.\d+°N", t) for t in labels)
    text = _texts(fig)
    assert f"catchscope {geo.__version__}" in text
    assert "illustrative" in text and "Generated " in text
    assert "Kunshan Section of Wusong River Basin" in text or "Wusong" in text
    assert demo.title in text


def test_scale_bar_measures_metres(demo) -> None:
    fig = sheet.build_sheet(demo, paper="a4")
    bars = [a for a in _gid_artists(fig, "scalebar") if (isinstance(a, Rectangle)
            and a.get_facecolor()[:3] in ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)))
            or (isinstance(a, Rectangle) and a.get_zorder() == 21)]
    segments = [a for a in bars if a.get_zorder() == 21]
    assert len(segments) == 4
    length_m = sum(a.get_width() for a in segments)  # the map is in metres (UTM)
    label = next(a.get_text() for a in _gid_artists(fig, "scalebar")
                 if hasattr(a, "get_text") and re.search(r"\d (k?m)$", a.get_text()))
    value, unit = label.split()
    assert length_m == pytest.approx(float(value) * (1000 if unit == "km" else 1))
    ax = next(a for a in fig.axes if a.get_gid() == "main_map")
    width_m = ax.get_xlim()[1] - ax.get_xlim()[0]
    assert 0.1 < length_m / width_m < 0.4


def test_north_arrow_points_to_true_north(demo) -> None:
    fig = sheet.build_sheet(demo, paper="a4")
    arrow = next(a for a in _gid_artists(fig, "north_arrow") if isinstance(a, FancyArrow))
    xy = arrow.get_xy()
    tip = xy[np.argmax(xy[:, 1])]
    base = xy.mean(axis=0)
    angle = np.degrees(np.arctan2(tip[0] - base[0], tip[1] - base[1]))
    assert abs(angle) < 3  # UTM grid convergence near Kunshan is under 1°


def test_pdf_text_shows_legend_scale_and_north(demo) -> None:
    pdf = sheet.render_sheet(demo, fmt="pdf", paper="a4")
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    text = page.extract_text()
    assert "Legend" in text
    assert re.search(r"\b\d+(\.\d+)? k?m\b", text)
    assert re.search(r"^N$", text, re.MULTILINE)
    assert "Data sources" in text and geo.__version__ in text
    width, height = float(page.mediabox.width), float(page.mediabox.height)
    assert (width, height) == pytest.approx((841.89, 595.28), abs=0.5)  # A4 landscape


def test_a3_and_png(tiny) -> None:
    out = sheet.render_sheets(tiny, paper="a3", formats=("pdf", "png"))
    page = PdfReader(io.BytesIO(out["pdf"])).pages[0]
    assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(
        (1190.55, 841.89), abs=0.5)
    assert out["png"].startswith(b"\x89PNG")
    with pytest.raises(GeoError, match="paper size"):
        sheet.build_sheet(tiny, paper="letter")


def test_without_a_cjk_font_the_sheet_shows_english_only_and_warns_nothing(
        tiny, monkeypatch) -> None:
    monkeypatch.setattr(sheet, "find_cjk_font", lambda: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph would warn
        fig = sheet.build_sheet(tiny)
        sheet.render_sheets(tiny, formats=("png", "pdf"))
    text = _texts(fig)
    assert re.search(r"[\u4e00-\u9fff]", text) is None
    assert "Test survey" in text and "()" not in text


def test_with_a_cjk_font_chinese_names_are_drawn(tiny) -> None:
    if sheet.find_cjk_font() is None:
        pytest.skip("no CJK font installed (Debian fonts-noto-cjk)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = sheet.build_sheet(tiny)
        sheet.render_sheets(tiny, formats=("png",))
    assert "甲区" in _texts(fig) and "Test survey (地块)" in _texts(fig)


@pytest.mark.parametrize("cjk", [True, False])
def test_warm_up_renders_quietly_with_or_without_a_cjk_font(monkeypatch, cjk: bool) -> None:
    if not cjk:
        monkeypatch.setattr(sheet, "find_cjk_font", lambda: None)
    elif sheet.find_cjk_font() is None:
        pytest.skip("no CJK font installed (Debian fonts-noto-cjk)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph would warn
        sheet.warm_up()


def test_sheets_drawn_from_several_threads_equal_one_drawn_alone(tiny) -> None:
    """The app draws sheets from session threads (and warms up in another): no mix-ups."""
    import threading

    alone = sheet.render_sheets(tiny, formats=("png",))["png"]
    results: list[bytes] = []
    failures: list[BaseException] = []

    def draw() -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a glyph mixed up between threads would warn
                for _ in range(3):
                    results.append(sheet.render_sheets(tiny, formats=("png",))["png"])
        except BaseException as err:  # reported below, in the test's thread
            failures.append(err)

    threads = [*(threading.Thread(target=draw) for _ in range(4)),
               threading.Thread(target=sheet.warm_up)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert len(results) == 12 and all(png == alone for png in results)


def test_an_expired_certificate_says_so_on_the_sheet(tiny) -> None:
    import dataclasses
    import datetime as dt

    record = tiny.record.model_copy(update={"certification_status": "Certified Gold",
                                            "valid_until": dt.date(2026, 7, 2)})
    before = dataclasses.replace(tiny, record=record,
                                 generated=dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    after = dataclasses.replace(tiny, record=record,
                                generated=dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    assert "Certified Gold, valid until 2026-07-02" in sheet._site_facts(before)
    assert "Certified Gold, EXPIRED on 2026-07-02" in sheet._site_facts(after)
