"""geo.maps.build: layers drawn, values escaped, coordinates rounded, payload bounded, offline."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box

from geo.core.errors import GeoError, SiteNotFoundError
from geo.core.workspace import open_workspace
from geo.maps.build import (
    BASEMAPS,
    GCJ02_NOTE,
    STATIC_DIR,
    build_map,
    escape_text,
    localise_assets,
    map_html,
    map_payload_bytes,
    prepare_map,
    render_map,
)
from geo.scope.flows import ChainEdge, ChainNode, WaterChain
from tests.conftest import HOSTILE_VALUES

REF = "AWS-000001"


@pytest.fixture
def small_ws(make_workspace, three_parcels, outfalls) -> Path:
    river = gpd.GeoDataFrame(
        {"fid": ["r1"], "name": ["Test river"], "accuracy": ["official"]},
        geometry=[LineString([(120.94, 31.17), (120.97, 31.178)])], crs="EPSG:4326")
    lake = gpd.GeoDataFrame(
        {"fid": ["l1"], "name": ["Test lake"], "accuracy": ["illustrative"]},
        geometry=[box(120.953, 31.183, 120.956, 31.186)], crs="EPSG:4326")
    outfalls = outfalls.assign(flows_to="l1")
    return make_workspace(layers={
        "sites": ("site", three_parcels, {"style": {"color": "#d62728"}}),
        "discharge_points": ("discharge_point", outfalls, {"style": {"marker": "triangle"}}),
        "rivers": ("river", river, {}),
        "lakes": ("lake", lake, {"style": {"color": "#1f77b4", "fill_color": "#9ecae1"}}),
    })


@pytest.fixture
def hostile_ws(make_workspace) -> Path:
    names = list(HOSTILE_VALUES)
    frame = gpd.GeoDataFrame(
        {"fid": [f"h{i}" for i in range(len(names))], "name": names,
         "aws_ref": [REF] * len(names), "accuracy": ["illustrative"] * len(names),
         "note": [v + " \\u{bad}" for v in names], "source": names},
        geometry=[box(121 + i * 0.001, 31.2, 121.0005 + i * 0.001, 31.2005)
                  for i in range(len(names))],
        crs="EPSG:4326")
    root = make_workspace(layers={"evil": ("site", frame, {})})
    toml = root / "layers" / "evil.toml"
    title = json.dumps(HOSTILE_VALUES[0] + " " + HOSTILE_VALUES[1])  # a valid TOML string
    toml.write_text(re.sub(r"(?m)^title = .*$", lambda _: f"title = {title}",
                           toml.read_text()))
    return root


def _coords(geojson: dict) -> np.ndarray:
    geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in geojson["features"]])
    return shapely.get_coordinates(geoms)


def test_escape_text_neutralises_html_and_template_literals() -> None:
    out = escape_text("<img src=x onerror=alert(1)> `${alert(1)}` \\ {{x}}")
    assert "<" not in out and ">" not in out
    assert "`" not in out and "${" not in out and "\\" not in out and "{" not in out
    assert out.startswith("&lt;img")
    assert escape_text(None) == "" and escape_text(float("nan")) == ""


def test_every_layer_is_drawn_with_legend_and_controls(small_ws: Path) -> None:
    ws = open_workspace(small_ws)
    page = map_html(build_map(ws, REF))
    for title in ("Sites (3)", "Discharge Points (2)", "Rivers (1)", "Lakes (1) — 1 illustrative"):
        assert json.dumps(title)[1:-1] in page
    legend = _legend_text(page)
    assert "<b>Dotted</b> outline, line or frame: <b>illustrative</b>" in legend
    assert 'Lakes <i class="cs-ill">(illustrative)</i>' in legend  # its only lake
    assert "Sites</span>" in legend and "Site location" in legend
    # the view is fitted in the browser, clear of the legend (measured there)
    assert "paddingBottomRight: [right, 20]" in page and "fitBounds" in page
    # every GeoJSON layer is added to its group, every group to the map
    for name in re.findall(r"var (geo_json_\w+) = L\.geoJson", page):
        assert re.search(rf"{name}\.addTo\(", page), name
    for control in ("L.control.scale", "L.control.mousePosition", "L.Control.Measure",
                    "L.control.fullscreen", "L.control.layers"):
        assert control in page, control


def _legend_text(page: str) -> str:
    """The legend's HTML as the browser receives it (a JSON string in the page)."""
    match = re.search(
        r'create\("div", "cs-legend"\);\s*\w+\.innerHTML = ("(?:[^"\\]|\\.)*");', page)
    assert match, "no legend in the page"
    return str(json.loads(match.group(1)))


def test_illustrative_features_are_dotted_and_counted(small_ws: Path) -> None:
    ws = open_workspace(small_ws)
    data = prepare_map(ws, REF)
    lakes = next(layer for layer in data.layers if layer.layer_id == "lakes")
    assert lakes.n_illustrative == 1
    page = render_map(data).get_root().render()
    # the illustrative lake's style is dotted (round caps), unlike the layer's dashes
    assert re.search(r'"dashArray": "1 5", [^}]*"lineCap": "round"', page)


def test_neighbouring_site_labels_go_to_opposite_sides(small_ws: Path) -> None:
    from dataclasses import replace

    data = prepare_map(open_workspace(small_ws), REF)
    pins = [(31.18, 120.95, "AWS-000001 — A"), (31.18, 120.951, "AWS-000002 — B")]
    page = render_map(replace(data, pins=pins)).get_root().render()
    assert page.count("cs-site-pin cs-left") == 1 and page.count("cs-site-pin") >= 2


def test_standalone_html_needs_no_network(small_ws: Path) -> None:
    page = map_html(build_map(open_workspace(small_ws), REF))
    assert not re.search(r'<script[^>]+src="(https?:)?//', page)
    assert not re.search(r'<link[^>]+href="(https?:)?//', page)
    assert (STATIC_DIR / "leaflet.js").read_text()[:200] in page


def test_localise_assets_points_at_the_vendored_files(small_ws: Path) -> None:
    fmap = localise_assets(build_map(open_workspace(small_ws), REF), "/static/x/")
    page = fmap.get_root().render()
    urls = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page)
    assert urls and all(u.startswith("/static/x/") for u in urls)
    for url in urls:
        assert (STATIC_DIR / url.removeprefix("/static/x/")).is_file()


def test_an_unvendored_plugin_is_refused() -> None:
    fmap = folium.Map(tiles=None)
    folium.plugins.Draw().add_to(fmap)
    with pytest.raises(GeoError, match="not vendored"):
        localise_assets(fmap, "/x/")


@pytest.mark.parametrize("hostile", HOSTILE_VALUES)
def test_hostile_values_never_reach_the_page_raw(hostile_ws: Path, hostile: str) -> None:
    ws = open_workspace(hostile_ws)
    for for_export in (False, True):
        page = map_html(build_map(ws, REF, for_export=for_export))
        assert hostile not in page
        assert "<img src=x" not in page and "${alert" not in page
    data = prepare_map(ws, REF, for_export=True)
    for feature in data.layers[0].geojson["features"]:
        for value in feature["properties"].values():
            text = str(value)
            assert "`" not in text and "${" not in text and "\\u{" not in text
            assert "<img" not in text and "<script" not in text and "</script" not in text


def test_coordinates_are_rounded_to_six_decimals(small_ws: Path) -> None:
    data = prepare_map(open_workspace(small_ws), REF)
    for layer in data.layers:
        coords = _coords(layer.geojson)
        assert np.allclose(coords, np.round(coords, 6), atol=0, rtol=0)


def test_big_polygon_is_simplified_and_many_points_clustered(make_workspace) -> None:
    # bench/bench_app.py measures the full 200,000 vertices / 5,000 points; smaller here
    angles = np.linspace(0, 2 * np.pi, 50_000, endpoint=False)
    radius = 0.2 + 0.002 * np.sin(angles * 997)
    ring = np.column_stack([121 + radius * np.cos(angles), 31.3 + radius * np.sin(angles)])
    catchment = gpd.GeoDataFrame({"fid": ["c1"], "name": ["Big"]},
                                 geometry=[Polygon(ring)], crs="EPSG:4326")
    rng = np.random.default_rng(1)
    points = gpd.GeoDataFrame(
        {"fid": [f"p{i}" for i in range(1000)], "name": [f"P{i}" for i in range(1000)]},
        geometry=shapely.points(rng.uniform(120.9, 121.1, 1000), rng.uniform(31.2, 31.4, 1000)),
        crs="EPSG:4326")
    root = make_workspace(layers={"catchment": ("catchment", catchment, {}),
                                  "wells": ("water_source", points, {})})
    data = prepare_map(open_workspace(root))
    catch = next(layer for layer in data.layers if layer.layer_id == "catchment")
    assert len(_coords(catch.geojson)) < 5_000
    wells = next(layer for layer in data.layers if layer.layer_id == "wells")
    assert wells.cluster and wells.n_features == 1000
    assert "L.markerClusterGroup" in render_map(data).get_root().render()
    assert map_payload_bytes(data) < 400_000


def test_gcj02_basemap_shifts_data_for_display_and_says_so(small_ws: Path) -> None:
    ws = open_workspace(small_ws)
    plain = prepare_map(ws, REF)
    shifted = prepare_map(ws, REF, basemap="amap")
    a = _coords(plain.layers[0].geojson)
    b = _coords(shifted.layers[0].geojson)
    offset_m = np.hypot(*(b - a).mean(axis=0) * [95_000, 111_000])
    assert 300 < offset_m < 700  # GCJ-02 is ~450-550 m off WGS84 near Kunshan
    page = render_map(shifted).get_root().render()
    assert escape_text(GCJ02_NOTE)[:60] in page
    assert "autonavi" in page and "openstreetmap" not in page
    assert GCJ02_NOTE[:40] not in render_map(plain).get_root().render()


def test_default_basemap_is_offline(small_ws: Path) -> None:
    page = map_html(build_map(open_workspace(small_ws), REF))
    assert BASEMAPS["none"].tiles in page
    # online basemaps are offered but not shown: only the offline one is added to the map
    assert re.search(r'tile_layer_\w+\s*=\s*L\.tileLayer\(\s*"data:image/gif', page)


def test_water_chain_is_drawn_as_directed_lines(small_ws: Path) -> None:
    ws = open_workspace(small_ws)
    chain = WaterChain(
        aws_ref=REF,
        nodes=(ChainNode("r1", "Test river", "river", "rivers", "source", "supply"),
               ChainNode(REF, "Site", "site", "sites", "site", "site"),
               ChainNode("dp1", "Outfall", "discharge_point", "discharge_points",
                         "discharge point", "discharge"),
               ChainNode("l1", "Lake", "lake", "lakes", "receiving water", "discharge")),
        edges=(ChainEdge("r1", REF, "inferred", "nearest", 450.0),
               ChainEdge(REF, "dp1", "explicit", "aws_ref"),
               ChainEdge("dp1", "l1", "explicit", "flows_to")),
    )
    scope = SimpleNamespace(aws_ref=REF, chain=chain, features=ws.load("sites"))
    data = prepare_map(ws, scope)
    assert len(data.chain) == 3
    page = render_map(data).get_root().render()
    assert "setText" in page and "Water chain (direction of flow)" in page
    assert "Test river → Site (inferred: nearest, 450 m)" in page


def test_site_map_is_fitted_to_the_site(small_ws: Path) -> None:
    data = prepare_map(open_workspace(small_ws), REF)
    (south, west), (north, east) = data.bounds
    assert west < 120.95 < 120.952 < east and south < 31.18 < 31.183 < north
    assert east - west < 0.1


def test_errors_name_what_is_wrong(small_ws: Path) -> None:
    ws = open_workspace(small_ws)
    with pytest.raises(GeoError, match=r"Unknown basemap 'google'.*none, osm"):
        build_map(ws, REF, basemap="google")
    with pytest.raises(SiteNotFoundError, match="AWS-999999"):
        build_map(ws, "AWS-999999")


def test_demo_site_maps_stay_under_500_kb(repo_root: Path) -> None:
    ws = open_workspace(repo_root)
    if not ws.records:
        pytest.skip("the demo workspace has no sites yet")
    scope_module = pytest.importorskip("geo.scope.assess")
    for ref in ws.records:
        data = prepare_map(ws, scope_module.assess_site(ws, ref))
        page = render_map(data).get_root().render()
        assert map_payload_bytes(data) <= 500_000
        assert len(page.encode()) <= 500_000, ref


def test_points_keep_their_position(small_ws: Path) -> None:
    data = prepare_map(open_workspace(small_ws), REF)
    dps = next(layer for layer in data.layers if layer.layer_id == "discharge_points")
    assert _coords(dps.geojson).tolist() == [[120.9505, 31.1805], [120.9515, 31.1805]]
    assert Point(120.9505, 31.1805)


def test_standalone_page_names_its_language_and_an_escaped_title(small_ws: Path) -> None:
    page = map_html(build_map(open_workspace(small_ws), REF), title='Site <b>"A"</b> & co')
    head = page[: page.index("</head>")]
    assert page.splitlines()[1] == '<html lang="en">'
    assert head.count("<title>") == 1
    assert "<title>Site &lt;b&gt;&quot;A&quot;&lt;/b&gt; &amp; co</title>" in head
