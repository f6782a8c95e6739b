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


def test_a_viewer_gets_public_copies_whatever_the_page_sends(
        demo_sites, calls, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """Served, signed in as a viewer: no 'None' redaction offered, and none accepted."""
    from geo.serve.accounts import Identity, hash_password
    from geo.serve.config import Role
    from geo.serve.launch import SERVER_CONFIG_ENV

    config = tmp_path / "server.toml"
    config.write_text(f'[accounts.vera]\nname = "Vera"\nrole = "viewer"\npassword_hash = '
                      f'"{hash_password("a long passphrase", rounds=4)}"\n', encoding="utf-8")
    monkeypatch.setenv(SERVER_CONFIG_ENV, str(config))
    at = _app()
    at.session_state["identity"] = Identity("vera", "Vera", Role.VIEWER, expires_at=4e9)
    at.run()
    assert not at.exception, at.exception
    _site(at)
    assert "Map mode" not in [r.label for r in at.radio]
    redaction = _by_label(at.selectbox, "Redaction")
    assert "" not in redaction.options and len(redaction.options) == 2
    next(b for b in at.button if str(b.label).startswith("Prepare download")).click().run()
    assert calls and all(redact == "sensitive" for _, _, redact in calls)
    assert _downloads(at) == [] or all("-public." in name for name in _downloads(at))
    # Whatever a crafted session state claims, the export is public.
    from dataclasses import replace

    from geo.core.workspace import open_workspace
    from ui.exports import public_redaction
    from ui.state import Choice

    choice = Choice(workspace=open_workspace(), path=None, site=REF, basemap="none",
                    layers=(), bands=(1.0,), public=True)
    assert public_redaction(choice, "") == "sensitive"
    assert public_redaction(choice, "drop-sensitive") == "drop-sensitive"
    assert public_redaction(replace(choice, public=False), "") == ""
