"""A stranger's workspace is data, never markup: the hostile corpus in tests/hostile/.

Each file of ``tests/hostile/MANIFEST.toml`` is either refused when loaded (a message
naming the file and the field) or loads, and then every output shows its values as
text: the map's legend, layer control, tooltips, popups, pins, water-chain labels and
raster legend (parsed here: no tag or attribute that our code does not write), the
standalone HTML export (nothing evaluated by a template engine), KML/KMZ (read back by
an XML parser and by GDAL's ``ogrinfo`` as the literal text) and the map sheet.
The same corpus runs in Chromium in ``tests/test_browser_hostile.py``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from geo.core.catalogue import LayerSpec, LayerStyle, load_layer_spec
from geo.core.check import check_workspace, report_lines
from geo.core.markup import balloon_text, html_text, xml_text
from geo.core.records import load_record
from geo.core.styles import css_colour, parse_colour, svg_dash
from geo.core.workspace import open_workspace
from geo.export.kml import _kml_colour
from geo.export.site import export_bytes
from geo.maps.build import prepare_map
from geo.maps.data import LayerData, _layer_style
from geo.maps.draw import _svg_symbol
from tests.hostile_corpus import (
    HOSTILE,
    SITE,
    SSTI_MARK,
    audit_html,
    entries,
    inert_workspace,
    map_fragments,
    refusal,
)

KML_NS = {"k": "http://www.opengis.net/kml/2.2"}
REFUSED = [e for e in entries() if e.expect == "refused"]
INERT = [e for e in entries() if e.expect == "inert"]
INERT_LAYERS = [e for e in INERT if e.kind == "layer"]
#: Raw markup that must never reach a page or document as markup.
RAW = ("<img src=x", "<svg onload", "</script><script>alert", "<iframe src=", SSTI_MARK)


@pytest.fixture(scope="module")
def hostile_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return inert_workspace(tmp_path_factory.mktemp("hostile") / "ws")


@pytest.fixture(scope="module")
def ws(hostile_ws: Path) -> Any:
    return open_workspace(hostile_ws)


@pytest.fixture(scope="module")
def map_data(ws: Any) -> Any:
    from geo.scope.assess import assess_site

    return prepare_map(ws, assess_site(ws, SITE), for_export=True)  # with the water chain


@pytest.fixture(scope="module")
def kml(ws: Any) -> bytes:
    return export_bytes(ws, SITE, "kml")[2]


# --- the corpus itself ---------------------------------------------------------------------


def test_corpus_lists_every_file_with_what_must_happen() -> None:
    listed = {e.path for e in entries()}
    on_disk = {str(p.relative_to(HOSTILE)) for p in HOSTILE.rglob("*")
               if p.is_file() and "uploads" not in p.relative_to(HOSTILE).parts}
    assert on_disk - listed == {"MANIFEST.toml", "README.md"}
    assert listed <= on_disk
    assert len(listed) >= 35
    assert {e.expect for e in entries()} == {"refused", "inert"}
    assert all(e.attacks for e in entries())
    assert all(e.field for e in REFUSED)


# --- refused at load, with the file and the field -------------------------------------------


@pytest.mark.parametrize("entry", REFUSED, ids=lambda e: e.id)
def test_refused_file_names_file_and_field(entry: Any) -> None:
    result = refusal(entry)
    assert result.clean, result.message
    assert len(result.message) < 2_000  # a 100 KB value does not make a 100 KB message


def test_check_reports_each_refused_layer_field_on_its_own_line(tmp_path: Path) -> None:
    root = inert_workspace(tmp_path / "ws")
    for entry in REFUSED:
        if entry.kind == "layer":
            shutil.copy2(entry.file, root / entry.path)
    lines = report_lines(check_workspace(root))
    for entry in REFUSED:
        if entry.kind != "layer":
            continue
        field = "" if entry.field == "(file)" else entry.field
        assert any(line.startswith(f"{entry.path}::{field}: error: ") for line in lines), \
            (entry.path, [line[:120] for line in lines if entry.path in line])


def test_a_refused_file_stops_the_workspace_with_its_name(tmp_path: Path) -> None:
    root = inert_workspace(tmp_path / "ws")
    shutil.copy2(HOSTILE / "layers" / "style_dash_svg_breakout.toml", root / "layers")
    from geo.core.errors import CatalogueError

    with pytest.raises(CatalogueError, match=r"(?s)style_dash_svg_breakout\.toml: invalid "
                                             r"layer file.*style\.dash: dash must be numbers"):
        open_workspace(root)


# --- loaded, and text everywhere -------------------------------------------------------------


@pytest.mark.parametrize("entry", [e for e in INERT if e.kind in ("layer", "record")],
                         ids=lambda e: e.id)
def test_inert_file_loads_alone(entry: Any) -> None:
    (load_layer_spec if entry.kind == "layer" else load_record)(entry.file)


def test_the_inert_workspace_opens_and_assesses(ws: Any) -> None:
    from geo.scope.assess import assess_site

    assert {e.file.stem for e in INERT_LAYERS} == set(ws.specs)
    scope = assess_site(ws, SITE)
    assert scope.chain.edges  # the water chain's labels carry hostile names too


def test_map_fragments_hold_no_markup_from_data(map_data: Any) -> None:
    fragments = map_fragments(map_data)
    assert len(fragments) > 30
    kinds = {name.split(" ")[0] for name in fragments}
    assert {"legend", "layer", "tooltip", "popup", "chain", "pin", "raster"} <= kinds
    for name, fragment in fragments.items():
        audit = audit_html(fragment)
        assert audit.problems == [], (name, audit.problems)
        assert SSTI_MARK not in fragment and SSTI_MARK not in audit.text, name
        # folium compiles most elements' scripts as Jinja templates a second time
        assert "{{" not in fragment and "{%" not in fragment, name


@pytest.mark.parametrize("entry", INERT_LAYERS, ids=lambda e: e.id)
def test_layer_title_shows_as_its_literal_text(entry: Any, ws: Any, map_data: Any) -> None:
    spec = ws.specs[entry.file.stem]
    fragments = map_fragments(map_data)
    if spec.is_raster:
        legend = audit_html(fragments[f"raster legend {spec.id}"]).text
        assert f"{spec.title} ({spec.raster.units})" in legend
        for item in spec.raster.classes:
            assert item.label in legend
        control = fragments[f"raster control {spec.id}"]
    else:
        assert spec.title in audit_html(fragments["legend"]).text
        control = fragments[f"layer control {spec.id}"]
    assert audit_html(control).text.startswith(spec.title)


def test_feature_values_show_as_their_literal_text(ws: Any, map_data: Any) -> None:
    fragments = map_fragments(map_data)
    for layer in map_data.layers:
        frame = ws.load(layer.layer_id).reset_index(drop=True)
        for feature in layer.geojson["features"]:
            position = int(feature["properties"]["ref"].split(":")[1])
            row = frame.iloc[position]
            tip = audit_html(fragments[f"tooltip {layer.layer_id}/{feature['id']}"]).text
            assert tip.startswith(str(row["name"]))
            popup = audit_html(fragments[f"popup {layer.layer_id}/{feature['id']}"]).text
            for key in row.index:
                if key != "geometry":
                    assert str(key) in popup


def test_site_record_and_settings_show_as_text(ws: Any, map_data: Any) -> None:
    record = ws.records[SITE]
    assert audit_html(map_data.title).text == record.label
    assert audit_html(map_fragments(map_data)["pin 0"]).text == record.label
    all_sites = prepare_map(ws, None)
    assert audit_html(all_sites.title).text == ws.settings.name


def test_standalone_html_export_evaluates_nothing(ws: Any) -> None:
    page = export_bytes(ws, SITE, "html")[2].decode("utf-8")
    for raw in RAW:
        assert raw not in page, raw
    # the raster's title reached the page as escaped text, not as the server's process id
    assert "cycler.__init__.__globals__.os.getpid()" in page
    assert f" {os.getpid()} " not in page


def test_kml_names_and_data_come_back_as_the_literal_text(ws: Any, kml: bytes) -> None:
    root = ET.fromstring(kml)
    document = root.find("k:Document", KML_NS)
    assert document is not None
    assert document.findtext("k:name", namespaces=KML_NS) == ws.records[SITE].label
    audit = audit_html(document.findtext("k:description", namespaces=KML_NS) or "")
    assert audit.problems == [] and ws.records[SITE].label in audit.text
    folders = {folder.findtext("k:name", namespaces=KML_NS)
               for folder in root.iter(f"{{{KML_NS['k']}}}Folder")}
    titles = {ws.specs[lid].title for lid in ws.specs if not ws.specs[lid].is_raster}
    assert folders and folders <= titles
    names = {}
    for spec in ws.specs.values():
        if not spec.is_raster:
            frame = ws.load(spec.id)
            names.update({xml_text(f): xml_text(n) for f, n in zip(frame["fid"], frame["name"],
                                                                   strict=True)})
    placemarks = list(root.iter(f"{{{KML_NS['k']}}}Placemark"))
    assert len(placemarks) >= 10
    for placemark in placemarks:
        fid = placemark.findtext("k:ExtendedData/k:Data[@name='fid']/k:value", namespaces=KML_NS)
        assert placemark.findtext("k:name", namespaces=KML_NS) == names[fid]
        description = audit_html(placemark.findtext("k:description", namespaces=KML_NS) or "")
        assert description.problems == [], description.problems
        assert "$[" not in (placemark.findtext("k:description", namespaces=KML_NS) or "")
    assert SSTI_MARK.encode() not in kml


def test_kmz_holds_the_same_document(ws: Any, kml: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(export_bytes(ws, SITE, "kmz")[2])) as archive:
        assert archive.read("doc.kml") == kml


def test_ogrinfo_reads_the_kml_names_literally(ws: Any, kml: bytes, tmp_path: Path) -> None:
    if shutil.which("ogrinfo") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("ogrinfo (Debian gdal-bin) must be installed in CI")
        pytest.skip("ogrinfo (Debian gdal-bin) is not installed")
    path = tmp_path / "hostile.kml"
    path.write_bytes(kml)
    out = subprocess.run(["ogrinfo", "-ro", "-al", "-geom=NO", str(path)], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    for name in ("<img src=x onerror=alert(1)>", "</script><script>alert(1)</script>",
                 "\"'><svg onload=alert(1)>", "</Placemark><Placemark><name>injected</name>",
                 "{{ 'SSTI' ~ '-RAN' }} {{ cycler.__init__.__globals__.os.getpid() }}"):
        assert f"Name (String) = {name}\n" in out, name
    assert "Name (String) = injected\n" not in out


def test_the_map_sheet_draws_hostile_text(ws: Any) -> None:
    # U+FEFF in a name failed matplotlib's PDF backend; '$…$' would be parsed as mathtext
    pdf = export_bytes(ws, SITE, "pdf")[2]
    assert pdf.startswith(b"%PDF")


# --- the grammar of style values, and the sinks' own checks ----------------------------------


def test_style_values_come_out_normalised(ws: Any) -> None:
    named = ws.specs["style_named_colours"].style
    assert (named.color, named.fill_color, named.dash) == ("#ff6347", "#aabbcc", "6,3")
    eight = ws.specs["title_css_expression"].style
    assert (eight.color, eight.fill_color) == ("#3388FFCC", "#663399")
    assert _kml_colour(eight.color, 1.0) == "ccff8833"  # its alpha times the layer opacity


@pytest.mark.parametrize(("value", "normal"), [
    ("#8e44ad", "#8e44ad"), ("#8E44AD", "#8E44AD"), ("#abc", "#aabbcc"), ("SteelBlue", "#4682b4"),
    ("#11223380", "#11223380"),
])
def test_colours_accepted(value: str, normal: str) -> None:
    assert parse_colour(value) == normal


@pytest.mark.parametrize("value", ["red;x:y", "#12345", "rgb(1,2,3)", "transparent", " red",
                                   "#abcd", "url(#a)", "", "currentColor"])
def test_colours_refused(value: str) -> None:
    with pytest.raises(ValueError, match="colour must be '#rgb', '#rrggbb', '#rrggbbaa' or a "
                                         "CSS colour name"):
        parse_colour(value)


@pytest.mark.parametrize(("value", "ok"), [
    ("4 2", True), ("6,3", True), ("1.5 3 0.5", True), (" 4 4 ", True), ("4, 2 ,1", True),
    ("4 2;", False), ("4\n2", False), ("-1 2", False), ("1e3", False), ("1001", False),
    ("1 " * 17, False), ("", False), ("4 2\"/><img src=x>", False),
])
def test_dash_patterns(value: str, ok: bool) -> None:
    assert (svg_dash(value) is not None) is ok


def test_sinks_check_style_values_again(tmp_path: Path) -> None:
    """A style that skipped validation (model_construct) still cannot write markup."""
    evil = LayerStyle.model_construct(
        color='#fff" onload="alert(1)', fill_color="url(javascript:alert(1))",
        dash='4 2"/><img src=x onerror=alert(1)><x a="', weight=2.0, fill_opacity=0.2,
        opacity=1.0, marker="circle", radius=6.0, colormap=None, z=0)
    spec = LayerSpec.model_construct(**{**LayerSpec(id="x", title="x", kind="lake",
                                                    source="x.geojson").__dict__, "style": evil})
    style = _layer_style(spec)
    assert (style["color"], style["fillColor"], style["dashArray"]) == ("#3388ff", "#3388ff", None)
    for geometry_type in ("point", "line", "polygon"):
        raw = {**style, "color": evil.color, "fillColor": evil.fill_color, "dashArray": evil.dash,
               "weight": '2" onclick="x', "fillOpacity": "1;x"}
        layer = LayerData(layer_id="x", title="x", kind="lake", geometry_type=geometry_type,
                          geojson={"type": "FeatureCollection", "features": []}, style=raw,
                          n_features=0, n_illustrative=0, cluster=False, show=True)
        audit = audit_html(_svg_symbol(layer))
        assert audit.problems == [], audit.problems
    assert _kml_colour(evil.color, 1.0) == "ffff8833"
    assert css_colour("red") == "#3388ff"


# --- the escaping helpers ------------------------------------------------------------------


def test_html_text_leaves_no_markup_nor_template_syntax() -> None:
    out = html_text("<b a=\"1\" b='2'>`${x}` {{ y }} \\ &amp;</b>")
    assert out == ("&lt;b a=&quot;1&quot; b=&#x27;2&#x27;&gt;&#96;&#36;&#123;x&#125;&#96; "
                   "&#123;&#123; y &#125;&#125; &#92; &amp;amp;&lt;/b&gt;")
    assert html_text(None) == html_text(float("nan")) == ""


def test_balloon_text_stops_google_earth_substitution() -> None:
    assert balloon_text("$[name] <b>&") == "&#36;[name] &lt;b&gt;&amp;"


def test_xml_text_drops_what_xml_cannot_hold() -> None:
    assert xml_text("a\x00b\x1bc\ud800d\tn\ufffee") == "a\ufffdb\ufffdc\ufffdd\tn\ufffde"
    ET.fromstring(ET.tostring(ET.Element("x", name=xml_text("\x01")), encoding="utf-8"))


def test_corpus_json_files_are_utf8_json() -> None:
    for entry in entries():
        if entry.file.suffix in (".json", ".geojson") and entry.expect == "inert":
            json.loads(entry.file.read_text(encoding="utf-8"))
