"""ui/edit.py and ui/add_data.py without a browser: feature operations and the app script.

The feature operations are plain functions over a workspace (a temporary copy of the
demo); the Streamlit side runs under ``streamlit.testing.v1.AppTest``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import folium
import geopandas as gpd
import pytest
from shapely.geometry import Point, mapping
from streamlit.testing.v1 import AppTest

from geo.core.catalogue import Datum
from geo.core.crs import wgs84_to_gcj02
from geo.core.errors import DataWriteError, EditConflictError
from geo.core.workspace import open_workspace
from geo.store import gpkg as store
from ui import edit
from ui.add_data import preview_map

APP = str(Path(__file__).resolve().parents[1] / "app.py")
POINT = {"type": "Point", "coordinates": [120.9579, 31.1910]}


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_add_feature_goes_to_the_store_with_standard_columns(demo_copy: Path) -> None:
    ws = open_workspace(demo_copy)
    result = edit.add_feature(ws, "discharge_points", POINT,
                              {"name": "New outfall", "aws_ref": "AWS-000522",
                               "accuracy": "surveyed", "discharge_type": " rainwater "},
                              base_version=store.layer_version(ws, "discharge_points"))
    assert result.added == 1 and result.removed == 0
    frame = open_workspace(demo_copy).load("discharge_points")
    row = frame[frame["name"] == "New outfall"].iloc[0]
    assert row["fid"] == "discharge_points-1" and row["discharge_type"] == "rainwater"
    assert row["accuracy"] == "surveyed" and row["datum"] == "wgs84"
    assert row["source"].startswith("drawn in Catchscope")
    assert row.geometry.equals(Point(120.9579, 31.1910))
    assert [e.action for e in store.history(ws, "discharge_points")] == ["migrate", "draw"]


def test_drawn_over_amap_is_converted_and_datum_recorded(demo_copy: Path) -> None:
    ws = open_workspace(demo_copy)
    lon, lat = wgs84_to_gcj02(120.9579, 31.1910)
    shown = {"type": "Point", "coordinates": [float(lon), float(lat)]}
    edit.add_feature(ws, "discharge_points", shown, {"name": "Amap"}, base_version=0,
                     display_datum=Datum.GCJ02)
    frame = open_workspace(demo_copy).load("discharge_points")
    row = frame[frame["name"] == "Amap"].iloc[0]
    assert row["datum"] == "gcj02"
    assert row.geometry.distance(Point(120.9579, 31.1910)) < 1e-5  # back on WGS84


def test_wrong_geometry_for_the_kind_is_refused_and_nothing_changes(demo_copy: Path) -> None:
    ws = open_workspace(demo_copy)
    before = _digest(demo_copy)
    line = {"type": "LineString", "coordinates": [[120.95, 31.19], [120.96, 31.2]]}
    with pytest.raises(DataWriteError, match="takes points, not a line"):
        edit.add_feature(ws, "discharge_points", line, {}, base_version=0)
    with pytest.raises(DataWriteError, match="outside longitude"):
        edit.add_feature(ws, "discharge_points", {"type": "Point", "coordinates": [200, 31]},
                         {}, base_version=0)
    with pytest.raises(DataWriteError, match="not a geometry"):
        edit.add_feature(ws, "discharge_points", {"type": "Blob"}, {}, base_version=0)
    assert _digest(demo_copy) == before


def test_update_move_and_delete_then_undo(demo_copy: Path) -> None:
    ws = open_workspace(demo_copy)
    result = edit.update_feature(ws, "discharge_points", "dp-522-rain", base_version=0,
                                 attrs={"name": "Renamed", "receiving_body": "Lake"})
    moved = mapping(Point(120.96, 31.19))
    result = edit.update_feature(ws, "discharge_points", "dp-522-rain",
                                 base_version=result.version, geojson=moved)
    frame = open_workspace(demo_copy).load("discharge_points")
    row = frame[frame["fid"] == "dp-522-rain"].iloc[0]
    assert row["name"] == "Renamed" and row["receiving_body"] == "Lake"
    assert row.geometry.equals(Point(120.96, 31.19)) and result.changed == 1
    result = edit.delete_feature(ws, "discharge_points", "dp-522-rain",
                                 base_version=result.version)
    assert result.removed == 1
    assert "dp-522-rain" not in set(open_workspace(demo_copy).load("discharge_points")["fid"])
    store.undo(ws, "discharge_points", base_version=result.version)
    assert "dp-522-rain" in set(open_workspace(demo_copy).load("discharge_points")["fid"])
    with pytest.raises(DataWriteError, match="no longer in layer"):
        edit.delete_feature(ws, "discharge_points", "nope", base_version=result.version + 1)


def test_stale_session_is_refused_and_nothing_is_lost(demo_copy: Path) -> None:
    session_a, session_b = open_workspace(demo_copy), open_workspace(demo_copy)
    base_b = store.layer_version(session_b, "discharge_points")
    edit.add_feature(session_a, "discharge_points", POINT, {"name": "A"},
                     base_version=store.layer_version(session_a, "discharge_points"))
    with pytest.raises(EditConflictError, match="changed since you loaded it"):
        edit.add_feature(session_b, "discharge_points", POINT, {"name": "B"},
                         base_version=base_b)
    names = set(open_workspace(demo_copy).load("discharge_points")["name"])
    assert "A" in names and "B" not in names


def test_editable_layers_by_geometry_family(demo_copy: Path) -> None:
    ws = open_workspace(demo_copy)
    points = {spec.id for spec in edit.editable_layers(ws, "point")}
    assert {"discharge_points", "water_sources", "facilities"} <= points
    assert "sites" not in points and "pipes" not in points
    assert "pipes" in {spec.id for spec in edit.editable_layers(ws, "line")}


def test_draw_control_is_served_from_the_vendored_files() -> None:
    fmap = edit.add_draw_control(folium.Map(tiles=None), "../static/")
    html = fmap.get_root().render()
    assert "../static/leaflet.draw.js" in html and "../static/leaflet.draw.css" in html
    assert "leaflet.draw/1.0.2" not in html  # folium's CDN address is gone
    static = Path(__file__).resolve().parents[1] / "geo" / "maps" / "static"
    assert (static / "leaflet.draw.js").stat().st_size > 10_000
    assert "data:image/svg+xml" in (static / "leaflet.draw.css").read_text(encoding="utf-8")


def test_preview_map_draws_incoming_over_context(demo_copy: Path) -> None:
    from ui.state import Choice

    ws = open_workspace(demo_copy)
    choice = Choice(workspace=ws, path=str(demo_copy), site="AWS-000522", basemap="none",
                    layers=(), bands=(1.0,))
    incoming = gpd.GeoDataFrame({"name": ["<b>x</b>"]}, geometry=[Point(120.9579, 31.191)],
                                crs="EPSG:4326")
    html = preview_map(choice, incoming, "discharge_points").get_root().render()
    assert "<b>x</b>" not in html  # geometry only: no data values reach the page
    assert "<b>x</b>" not in html and html.count("L.geoJson(") >= 2


def _app_in(root: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    next(r for r in at.radio if r.label == "Workspace").set_value("Folder on this machine").run()
    next(t for t in at.text_input if t.label == "Workspace folder").input(str(root)).run()
    return at


def test_app_edit_mode_shows_the_edit_panel_and_history(demo_copy: Path) -> None:
    at = _app_in(demo_copy)
    next(r for r in at.radio if r.label == "Map mode").set_value("edit").run()
    assert not at.exception, at.exception
    assert any(s.value == "Draw and edit" for s in at.subheader)
    assert any("Use the toolbar on the map" in c.value for c in at.caption)
    # a save elsewhere shows up in the history list of this session
    ws = open_workspace(demo_copy)
    edit.add_feature(ws, "discharge_points", POINT, {"name": "Elsewhere"}, base_version=0)
    next(s for s in at.selectbox if s.label == "Layer").set_value("discharge_points").run()
    assert not at.exception, at.exception
    assert any(b.label == "Undo the last save" for b in at.button)
    texts = " ".join(m.value for m in [*at.markdown, *at.caption, *at.text])  # history rows
    assert "drew point Elsewhere" in texts


def test_app_undo_button_undoes_and_a_stale_undo_is_refused(demo_copy: Path) -> None:
    ws = open_workspace(demo_copy)
    edit.add_feature(ws, "discharge_points", POINT, {"name": "First"}, base_version=0)
    at = _app_in(demo_copy)
    next(r for r in at.radio if r.label == "Map mode").set_value("edit").run()
    next(s for s in at.selectbox if s.label == "Layer").set_value("discharge_points").run()
    # another session saves after this one loaded the layer: Undo here is refused
    edit.add_feature(ws, "discharge_points", POINT, {"name": "Second"},
                     base_version=store.layer_version(ws, "discharge_points"))
    next(b for b in at.button if b.label == "Undo the last save").click().run()
    assert not at.exception, at.exception
    assert any("changed since you loaded it" in e.value for e in at.error)
    assert {"First", "Second"} <= set(open_workspace(demo_copy).load("discharge_points")["name"])
    next(b for b in at.button if b.label == "Reload discharge_points").click().run()
    next(b for b in at.button if b.label == "Undo the last save").click().run()
    assert not at.exception, at.exception
    assert any("Undone" in s.value for s in at.success)
    names = set(open_workspace(demo_copy).load("discharge_points")["name"])
    assert "First" in names and "Second" not in names


def test_typed_attributes_keep_their_column_type(demo_copy: Path) -> None:
    ws = open_workspace(demo_copy)
    fid = ws.load("facilities")["fid"].iloc[0]
    edit.update_feature(ws, "facilities", fid, base_version=0,
                        attrs={"owned_by_site": "true", "capacity": "1200"})
    frame = open_workspace(demo_copy).load("facilities").set_index("fid")
    assert bool(frame.loc[fid, "owned_by_site"]) is True
    assert frame["owned_by_site"].dtype == bool and frame.loc[fid, "capacity"] == "1200"


def test_imported_and_drawn_features_reach_checklist_and_export_at_once(demo_copy: Path) -> None:
    import json

    from geo.core.catalogue import AwsElement, LayerKind
    from geo.export.site import export_bytes
    from geo.ingest import importer
    from geo.ingest.read import ingest_bytes
    from geo.scope.assess import assess_site

    ws = open_workspace(demo_copy)
    site = "AWS-000522"
    before = assess_site(ws, site)
    sites = ws.load_kind(LayerKind.SITE)
    centre = sites[sites["aws_ref"] == site].geometry.union_all().centroid
    kml = (
        '<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2">'
        "<Document><Placemark><name>KML outfall K-1</name><Point><coordinates>"
        f"{centre.x + 0.0004},{centre.y - 0.0003},0</coordinates></Point></Placemark>"
        "</Document></kml>"
    ).encode()
    read = ingest_bytes(kml, "outfall.kml", reference=importer.workspace_reference(ws))
    report = importer.import_into(ws, "discharge_points", read, site=site)
    assert report.saved is not None and report.saved.added == 1
    drawn = edit.add_feature(ws, "facilities", {"type": "Point",
                                                "coordinates": [centre.x + 0.0002, centre.y]},
                             {"name": "Drawn pump house", "aws_ref": site},
                             base_version=store.layer_version(ws, "facilities"))
    assert drawn.added == 1
    # the same Workspace object, no reopening: the checklist sees both at once
    after = assess_site(ws, site)

    def names(scope: object, element: AwsElement) -> set[str]:
        return {e.name for e in scope.element(element).evidence}  # type: ignore[attr-defined]

    assert "KML outfall K-1" not in names(before, AwsElement.DISCHARGE)
    assert "KML outfall K-1" in names(after, AwsElement.DISCHARGE)
    assert "Drawn pump house" not in names(before, AwsElement.INFRASTRUCTURE)
    assert "Drawn pump house" in names(after, AwsElement.INFRASTRUCTURE)
    evidence = {e.name: e for e in after.element(AwsElement.DISCHARGE).evidence}
    assert evidence["KML outfall K-1"].accuracy == "surveyed"
    # and the GeoJSON export carries both, with their layer and site
    _, mime, payload = export_bytes(ws, site, "geojson")
    assert mime.startswith("application/geo+json")
    features = {f["properties"].get("name"): f for f in json.loads(payload)["features"]}
    outfall, pump = features["KML outfall K-1"], features["Drawn pump house"]
    assert outfall["properties"]["layer"] == "discharge_points"
    assert pump["properties"]["layer"] == "facilities"
    assert outfall["properties"]["aws_ref"] == pump["properties"]["aws_ref"] == site
    assert outfall["geometry"]["coordinates"] == pytest.approx(
        [centre.x + 0.0004, centre.y - 0.0003], abs=1e-7)


def _square(lon: float, lat: float, km: float) -> dict:
    """A square about ``km`` on a side at (lon, lat), as the Draw toolbar sends it."""
    from shapely.geometry import box

    half_lat = km / 111.32 / 2
    half_lon = half_lat / 0.856  # cos(31.2°)
    return mapping(box(lon - half_lon, lat - half_lat, lon + half_lon, lat + half_lat))


def test_a_site_parcel_far_larger_than_the_site_needs_confirming(demo_copy: Path) -> None:
    from ui.edit_ops import ParcelSizeError, parcel_size_problem

    ws = open_workspace(demo_copy)
    before = _digest(demo_copy)
    town = _square(120.95, 31.19, 11.4)  # ~130 km²: a polygon round the town
    with pytest.raises(ParcelSizeError) as err:
        edit.add_feature(ws, "sites", town, {"name": "Whole town", "aws_ref": "AWS-000521"},
                         base_version=store.layer_version(ws, "sites"))
    text = str(err.value)
    # the record states 200,000 m²: the parcels would cover ~650 times that
    assert "AWS-000521" in text and "(200,000 m²)" in text and "648×" in text, text
    assert float(text.split(" cover ")[1].split(" km²")[0].replace(",", "")) > 125
    assert _digest(demo_copy) == before  # nothing written
    # a parcel of the size the report states is no problem; nor a site without a record
    # until it passes 10 km²
    assert parcel_size_problem(ws, "sites", shape_of(_square(120.95, 31.19, 0.1)),
                               "AWS-000521") is None
    assert parcel_size_problem(ws, "sites", shape_of(_square(120.95, 31.19, 2)), None) is None
    assert "more than 10.0 km²" in str(parcel_size_problem(
        ws, "sites", shape_of(town), None))
    assert parcel_size_problem(ws, "lakes", shape_of(town), "AWS-000521") is None  # not a site
    # confirmed, it is saved (and can be undone like any save)
    result = edit.add_feature(ws, "sites", town, {"name": "Whole town", "aws_ref": "AWS-000521"},
                              base_version=store.layer_version(ws, "sites"), size_confirmed=True)
    assert "Whole town" in set(open_workspace(demo_copy).load("sites")["name"])
    # reshaping an existing parcel into the town is checked the same way
    fid = str(open_workspace(demo_copy).load("sites").iloc[0]["fid"])
    with pytest.raises(ParcelSizeError):
        edit.update_feature(ws, "sites", fid, base_version=result.version, geojson=town)


def shape_of(geojson: dict) -> object:
    from shapely.geometry import shape

    return shape(geojson)
