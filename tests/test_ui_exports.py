"""The Export tab's site downloads (ui/exports.py), run headless with AppTest."""

from __future__ import annotations

import zipfile
from io import BytesIO
from typing import Any

import pytest

import ui.exports
from tests.test_app import _app, _by_label, demo_sites  # noqa: F401  (fixture)
from ui.exports import download_name

REF = "AWS-000522"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Count the renders: AppTest runs the script in this process, on these modules."""
    made: list[tuple[Any, ...]] = []
    real = ui.exports.export_bytes

    def counting(workspace: Any, aws_ref: str, fmt: str, **kwargs: Any) -> Any:
        made.append((aws_ref, fmt, kwargs.get("redact")))
        return real(workspace, aws_ref, fmt, **kwargs)

    monkeypatch.setattr(ui.exports, "export_bytes", counting)
    return made


def _site(at: Any, ref: str = REF) -> Any:
    _by_label(at.selectbox, "Site").set_value(ref).run()
    assert not at.exception, at.exception
    return at


def _downloads(at: Any) -> list[str]:
    return [str(b.label) for b in at.get("download_button")
            if str(b.label).startswith(f"Download {REF}")]


def test_nothing_is_rendered_until_the_user_asks(demo_sites, calls) -> None:  # noqa: F811
    at = _site(_app().run())
    at.run()
    assert calls == [] and _downloads(at) == []
    at.selectbox(key="export_format").set_value("kml").run()
    assert calls == []  # choosing a format renders nothing either
    at.button(key="export_prepare").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert calls == [(REF, "kml", None)]
    assert [d.split(" (")[0] for d in _downloads(at)] == [f"Download {REF}-scope.kml"]
    at.selectbox(key="export_format").set_value("geojson").run()
    at.run()
    assert len(calls) == 1  # the prepared KML stays ready; nothing re-rendered
    assert [d.split(" (")[0] for d in _downloads(at)] == [f"Download {REF}-scope.kml"]


def test_the_sheet_renderer_is_warmed_up_once_after_the_page(demo_sites,  # noqa: F811
                                                            monkeypatch) -> None:
    import threading

    import geo.export.sheet

    made: list[str] = []
    monkeypatch.setattr(geo.export.sheet, "warm_up", lambda: made.append("warm-up"))
    ui.exports.warm_up_sheets.clear()
    at = _site(_app().run()).run()
    assert made == ["warm-up"]  # two runs, one warm-up per process
    assert at.session_state["last_run_ms"] > 0  # after the page was drawn
    assert not any(t.name.startswith("catchscope") for t in threading.enumerate())
    ui.exports.warm_up_sheets.clear()


def test_redacted_csv_is_named_public_and_coarsened(demo_sites,  # noqa: F811
                                                                 calls) -> None:
    at = _site(_app().run())
    at.selectbox(key="export_format").set_value("csv").run()
    at.selectbox(key="export_redact").set_value("sensitive").run()
    at.button(key="export_prepare").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert calls == [(REF, "csv", "sensitive")]
    button = next(b for b in at.get("download_button")
                  if str(b.label).startswith(f"Download {REF}-tables-public.zip"))
    assert button is not None
    prepared = at.session_state["export_prepared"]
    item = next(iter(prepared.values()))
    with zipfile.ZipFile(BytesIO(item.payload)) as archive:
        points = archive.read(f"{REF}-points.csv").decode("utf-8-sig")
    assert "coarsened to 1 km" in points


def test_a_site_is_needed(demo_sites) -> None:  # noqa: F811
    at = _app().run()
    _site(at, "All sites")
    assert any("Pick a site in the sidebar to export" in i.value for i in at.info)


def test_download_name_marks_public_copies() -> None:
    assert download_name(f"{REF}-scope.geojson", "") == f"{REF}-scope.geojson"
    assert download_name(f"{REF}-scope.geojson", "sensitive") == f"{REF}-scope-public.geojson"
    assert download_name(f"{REF}-sheet-a4.pdf", "drop-sensitive") == f"{REF}-sheet-a4-public.pdf"


def test_a_redacted_kmz_says_so() -> None:
    from geo.core.workspace import open_workspace
    from geo.export.site import export_bytes

    ws = open_workspace()
    if REF not in ws.records:
        pytest.skip("the demo workspace has no AWS-000522")
    name, mime, payload = export_bytes(ws, REF, "kmz", redact="drop-sensitive")
    assert (name, mime) == (f"{REF}-scope.kmz", "application/vnd.google-earth.kmz")
    with zipfile.ZipFile(BytesIO(payload)) as archive:
        assert archive.namelist() == ["doc.kml"]
        assert b"redacted (drop-sensitive)" in archive.read("doc.kml")
