"""The Streamlit script, run headless with streamlit.testing.v1.AppTest."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box
from streamlit.testing.v1 import AppTest

from tests.conftest import HOSTILE_VALUES
from ui.panels import md

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 60


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def _tab(at: AppTest, name: str) -> AppTest:
    """Open a tab as a click on it does (closed tabs without widgets are left empty)."""
    at.session_state["tab"] = name
    return at.run()


def _by_label(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def _open_folder(at: AppTest, path: Path | str) -> AppTest:
    _by_label(at.radio, "Workspace").set_value("Folder on this machine").run()
    _by_label(at.text_input, "Workspace folder").input(str(path)).run()
    return at


def _texts(at: AppTest) -> str:
    parts = [h.value for h in at.header] + [m.value for m in at.markdown]
    parts += [t.value for t in at.text] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


@pytest.fixture(scope="module")
def demo_sites() -> list[str]:
    from geo.core.workspace import open_workspace

    refs = sorted(open_workspace().records)
    if not refs:
        pytest.skip("the demo workspace has no sites yet")
    return refs


def test_demo_runs_and_switches_site(demo_sites: list[str]) -> None:
    at = _app().run()
    assert not at.exception, at.exception
    assert not at.error
    site = _by_label(at.selectbox, "Site")
    assert site.value in demo_sites
    other = next(ref for ref in demo_sites if ref != site.value) if len(demo_sites) > 1 \
        else site.value
    site.set_value(other).run()
    assert not at.exception, at.exception
    assert md(other) in at.header[0].value
    # the checklist tab lists the six 1.1.1 elements
    assert any(len(df.value) == 6 for df in at.dataframe)


def test_all_sites_shows_the_portfolio(demo_sites: list[str]) -> None:
    at = _app().run()
    _by_label(at.selectbox, "Site").set_value("All sites").run()
    _tab(at, "Portfolio")
    assert not at.exception, at.exception
    assert not at.error
    sizes = [len(df.value) for df in at.dataframe]
    assert len(demo_sites) in sizes  # one portfolio row per site


def test_buffer_bands_are_validated(demo_sites: list[str]) -> None:
    at = _tab(_app().run(), "IWRAs")
    bands = _by_label(at.text_input, "IWRA buffer bands (km)")
    bands.input("10, 1").run()
    assert any("increasing positive" in w.value for w in at.warning)
    _by_label(at.text_input, "IWRA buffer bands (km)").input("2, 20").run()
    assert not at.exception, at.exception
    assert "Bands (km): 2, 20" in _texts(at)
    iwra = next(df.value for df in at.dataframe if "band_km" in df.value.columns)
    assert set(iwra["band_km"].dropna()) <= {2.0, 20.0}  # recomputed with the new bands


def test_a_missing_workspace_shows_a_message_not_a_traceback(tmp_path: Path) -> None:
    at = _open_folder(_app().run(), tmp_path / "nowhere")
    assert not at.exception, at.exception
    assert len(at.error) == 1
    assert "does not exist" in at.error[0].value and "catchscope init" in at.error[0].value


def test_a_broken_layer_file_names_the_file(make_workspace, three_parcels) -> None:
    root = make_workspace(layers={"sites": ("site", three_parcels, {})})
    (root / "layers" / "broken.toml").write_text('id = "broken"\nkind = "volcano"\n')
    at = _open_folder(_app().run(), root)
    assert not at.exception, at.exception
    assert md("broken.toml") in at.error[0].value  # shown as text: Markdown escaped


def test_a_url_is_refused_as_workspace_path() -> None:
    at = _open_folder(_app().run(), "https://example.org/ws")
    assert not at.exception, at.exception
    assert "not a folder on this machine" in at.error[0].value


def test_hostile_values_show_as_text(make_workspace) -> None:
    names = list(HOSTILE_VALUES)
    frame = gpd.GeoDataFrame(
        {"fid": [f"h{i}" for i in range(len(names))], "name": names,
         "aws_ref": ["AWS-000001"] * len(names), "accuracy": ["surveyed"] * len(names)},
        geometry=[box(121 + i * 0.001, 31.2, 121.0005 + i * 0.001, 31.2005)
                  for i in range(len(names))], crs="EPSG:4326")
    root = make_workspace(layers={"evil": ("site", frame, {})},
                          settings=f"name = {json.dumps(HOSTILE_VALUES[0])}\n")
    at = _open_folder(_app().run(), root)
    assert not at.exception, at.exception
    assert not at.error
    header = at.header[0].value
    assert "<img" not in header.replace("\\<img", "")  # markdown-escaped, shown as text
    assert "img src=x onerror=alert\\(1\\)" in header


def test_the_map_downloads_as_standalone_html(demo_sites: list[str]) -> None:
    at = _app().run()
    at.button(key="export_html").click().run()
    assert not at.exception, at.exception
    assert not at.error
    assert at.get("download_button"), "no download button after preparing the map"


def test_an_empty_workspace_opens(make_workspace) -> None:
    at = _open_folder(_app().run(), make_workspace())
    assert not at.exception, at.exception
    assert not at.error
    assert _by_label(at.selectbox, "Site").value == "All sites"


def test_certificate_validity_is_judged_against_the_day() -> None:
    from datetime import date
    from types import SimpleNamespace

    from ui.panels import validity

    record = SimpleNamespace(valid_until=date(2026, 7, 2), next_audit_date=date(2024, 2, 16))
    expired = validity(record, today=date(2026, 11, 23))
    assert expired.state == "expired" and expired.short == "EXPIRED 144 days ago"
    assert "EXPIRED: the certificate ended on 2026-07-02" in expired.message
    assert "2024-02-16 is past" in expired.message
    assert validity(record, today=date(2026, 5, 1)).state == "expiring"  # 62 days left
    assert validity(record, today=date(2026, 7, 2)).state == "expiring"  # its last day
    current = validity(record, today=date(2023, 7, 3))
    assert current.state == "valid" and "2024-02-16" not in current.message
    assert validity(SimpleNamespace(valid_until=None, next_audit_date=None),
                    today=date(2026, 1, 1)).state == "unknown"


def test_an_expired_certificate_is_flagged_in_record_and_portfolio(demo_sites: list[str]) -> None:
    from datetime import date

    from geo.core.workspace import open_workspace

    records = open_workspace().records
    expired = sorted(r for r in demo_sites if records[r].valid_until < date.today())
    if not expired:
        pytest.skip("no demo certificate has expired yet")
    at = _tab(_app().run(), "Site record")
    assert any("EXPIRED: the certificate ended on" in w.value for w in at.warning)  # record
    _by_label(at.selectbox, "Site").set_value("All sites").run()
    _tab(at, "Portfolio")
    assert not at.exception, at.exception
    assert any(f"EXPIRED certificate on record ({', '.join(expired)}" in w.value
               for w in at.warning)
    table = next(df.value for df in at.dataframe if "certificate" in df.value.columns)
    flagged = table[table["certificate"].str.startswith("EXPIRED")]["aws_ref"]
    assert sorted(flagged) == expired
