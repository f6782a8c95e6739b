"""``catchscope serve-features`` as its users meet it: a real server read by real clients.

The service is started with the command line, as a user would (``catchscope
serve-features -w COPY --port PORT``), on copies of the demo workspace, once per module
for each of: the unredacted service (default host) and the public one (``--public``).
Independent clients read it: GDAL's OAPIF driver (Debian ``gdal-bin``: ``ogrinfo``,
``ogr2ogr``) and OWSLib's ``Features``; every expectation is computed from the workspace
itself (``open_workspace``, geopandas), never from the service's own code.

The unredacted copy holds one extra layer of 10,050 points (a real GeoPackage written
here) so that an absurd ``limit`` can be seen capped at the service's maximum; its title,
description and first labels are hostile values, which every page must show as text.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import box

from geo.core.catalogue import LayerKind
from geo.core.workspace import copy_workspace, open_workspace
from tests.conftest import HOSTILE_VALUES, REPO, write_layer_toml

CATCHSCOPE = Path(sys.executable).with_name("catchscope")
SENSITIVE = (LayerKind.WATER_SOURCE, LayerKind.DISCHARGE_POINT)
PARTS = ("scope", "record", "checklist")
MANY = "many_points"
MANY_COUNT = 10_050
#: Its title and description: markup, and what pygeoapi's YAML loader would interpolate.
HOSTILE_TITLE = "Many points </script><script>alert(1)</script>"
HOSTILE_DESCRIPTION = "Synthetic points ${HOME} <img src=x onerror=alert(1)>"
MAX_ITEMS = 10_000  # what the service promises to cap a page at (geo.publish.config)
#: Closer than this to an intake's or outfall's true position is a leak.
NEAR_M = 20.0
_SPEC = "http://www.opengis.net/spec"
DECLARED = {
    f"{_SPEC}/ogcapi-common-1/1.0/conf/core",
    f"{_SPEC}/ogcapi-common-1/1.0/conf/landing-page",
    f"{_SPEC}/ogcapi-common-1/1.0/conf/json",
    f"{_SPEC}/ogcapi-common-1/1.0/conf/html",
    f"{_SPEC}/ogcapi-common-1/1.0/conf/oas30",
    f"{_SPEC}/ogcapi-common-2/1.0/conf/collections",
    f"{_SPEC}/ogcapi-features-1/1.0/conf/core",
    f"{_SPEC}/ogcapi-features-1/1.0/conf/geojson",
    f"{_SPEC}/ogcapi-features-1/1.0/conf/html",
    f"{_SPEC}/ogcapi-features-1/1.0/conf/oas30",
}


# --- the server, started as a user starts it ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Answer:
    """One HTTP response."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    @property
    def type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()


def fetch(url: str, headers: dict[str, str] | None = None, timeout: float = 30) -> Answer:
    """GET ``url``; any status is an answer (no exception for 4xx/5xx)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, {k.lower(): v for k, v in response.headers.items()},
                          response.read())
    except urllib.error.HTTPError as err:
        return Answer(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


@contextlib.contextmanager
def serve_features(root: Path, log_dir: Path, *extra: str) -> Iterator[str]:
    """``catchscope serve-features -w ROOT --port PORT ...`` until the block ends."""
    port = _free_port()
    log_path = log_dir / f"serve-features-{port}.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen([str(CATCHSCOPE), "serve-features", "-w", str(root), "--port",
                             str(port), *extra],
                            stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "XDG_DATA_HOME": str(log_dir / "xdg")})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:  # poll the landing page until it answers
            with contextlib.suppress(OSError):
                if fetch(f"{url}/?f=json", timeout=5).status == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"serve-features did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _add_many_points(root: Path) -> None:
    """A layer of MANY_COUNT points (a GeoPackage) far from the demo's sites."""
    rng = np.random.default_rng(16)
    frame = gpd.GeoDataFrame(
        {"point_id": [f"pt-{i:05d}" for i in range(MANY_COUNT)],
         "label": [HOSTILE_VALUES[i] if i < len(HOSTILE_VALUES) else f"Point {i}"
                  for i in range(MANY_COUNT)],
         "value": rng.integers(0, 100, MANY_COUNT)},
        geometry=gpd.points_from_xy(rng.uniform(100, 101, MANY_COUNT),
                                    rng.uniform(10, 11, MANY_COUNT)),
        crs="EPSG:4326")
    (root / "data" / "test").mkdir()
    frame.to_file(root / "data" / "test" / "many.gpkg", layer="many", engine="pyogrio")
    write_layer_toml(root, MANY, title=HOSTILE_TITLE, kind="other", source="test/many.gpkg",
                     layer="many", id_field="point_id", label_field="label",
                     description=HOSTILE_DESCRIPTION)


@pytest.fixture(scope="module")
def true_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_workspace(REPO, tmp_path_factory.mktemp("features") / "demo")
    _add_many_points(root)
    return root


@pytest.fixture(scope="module")
def service(true_root: Path) -> Iterator[str]:
    with serve_features(true_root, true_root.parent) as url:
        yield url


@pytest.fixture(scope="module")
def public_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_workspace(REPO, tmp_path_factory.mktemp("public") / "demo")


@pytest.fixture(scope="module")
def public_service(public_root: Path) -> Iterator[str]:
    with serve_features(public_root, public_root.parent, "--public") as url:
        yield url


@pytest.fixture(scope="module")
def gdal() -> None:
    if shutil.which("ogrinfo") is None or shutil.which("ogr2ogr") is None:
        pytest.skip("ogrinfo/ogr2ogr (Debian gdal-bin) are not installed")


# --- what the workspace says -----------------------------------------------------------------


def expected_collections(root: Path) -> list[str]:
    """Every vector layer, then each site's scope, record and checklist."""
    ws = open_workspace(root)
    ids = [s.id for s in ws.specs.values() if not s.is_raster]
    for ref in sorted(ws.records):
        ids += [f"{ref}-{part}" for part in PARTS]
    return ids


def scope_features(root: Path, ref: str, redact: str | None = None) -> gpd.GeoDataFrame:
    from geo.export.site import collect

    return collect(open_workspace(root), ref, redact=redact).features


def _coordinates(geometry: dict[str, Any] | None) -> Iterator[tuple[float, float]]:
    if not geometry:
        return
    if geometry["type"] == "GeometryCollection":
        for part in geometry["geometries"]:
            yield from _coordinates(part)
        return

    def walk(value: Any) -> Iterator[tuple[float, float]]:
        if isinstance(value[0], int | float):
            yield float(value[0]), float(value[1])
        else:
            for item in value:
                yield from walk(item)

    yield from walk(geometry["coordinates"])


def all_items(url: str, collection: str, limit: int = 50, **params: str) -> list[dict[str, Any]]:
    """Every feature of a collection, page by page through the ``next`` links."""
    features: list[dict[str, Any]] = []
    page = f"{url}/collections/{collection}/items?" + urlencode({"f": "json", "limit": limit,
                                                                 **params})
    for _ in range(10_000):
        answer = fetch(page)
        assert answer.status == 200, (page, answer.text[:300])
        body = answer.json
        assert body["numberReturned"] == len(body["features"]) <= limit
        features += body["features"]
        following = [link["href"] for link in body["links"] if link["rel"] == "next"]
        if not following or not body["features"]:
            break
        page = following[0]
    return features


# --- landing page, conformance, OpenAPI ---------------------------------------------------------


def test_landing_page_conformance_and_openapi(service: str, true_root: Path) -> None:
    landing = fetch(f"{service}/?f=json")
    assert landing.status == 200 and landing.type == "application/json"
    rels = {link["rel"]: link["href"] for link in landing.json["links"]}
    for rel in ("self", "conformance", "data", "service-desc", "service-doc"):
        assert rel in rels, rel
    assert "(Catchscope)" in landing.json["title"]
    assert "Unredacted" in landing.json["description"]

    html = fetch(f"{service}/?f=html")
    assert html.status == 200 and html.type == "text/html"
    assert open_workspace(true_root).settings.name in html.text

    conformance = fetch(rels["conformance"] + "?f=json")
    assert conformance.status == 200
    # exactly the classes the tests here exercise: no Part 2 (CRS), 3, 4 (editing) or 5
    assert set(conformance.json["conformsTo"]) == DECLARED
    again = fetch(rels["conformance"] + "?f=json").json["conformsTo"]
    assert again == conformance.json["conformsTo"]  # one list, however often asked
    assert fetch(f"{service}/conformance?f=html").type == "text/html"

    openapi = fetch(f"{service}/openapi?f=json")
    assert openapi.status == 200
    document = openapi.json
    assert document["openapi"].startswith("3.0")
    for collection in expected_collections(true_root):
        assert f"/collections/{collection}/items" in document["paths"], collection
        assert f"/collections/{collection}/items/{{featureId}}" in document["paths"]
    assert fetch(f"{service}/openapi?f=html").type == "text/html"


def test_collections_list_every_layer_and_site_part(service: str, true_root: Path) -> None:
    body = fetch(f"{service}/collections?f=json").json
    assert [c["id"] for c in body["collections"]] == expected_collections(true_root)
    ws = open_workspace(true_root)
    rivers = next(c for c in body["collections"] if c["id"] == "rivers")
    assert rivers["title"] == ws.spec("rivers").title
    assert "AWS 1.1.1" in rivers["keywords"]
    iwras = next(c for c in body["collections"] if c["id"] == "iwras")
    assert {"AWS 1.3.6", "AWS 1.5.5"} <= set(iwras["keywords"])
    frame = ws.load("rivers")
    bbox = rivers["extent"]["spatial"]["bbox"][0]
    assert bbox == pytest.approx(list(frame.total_bounds), abs=1e-5)
    assert fetch(f"{service}/collections?f=html").type == "text/html"


# --- GDAL ----------------------------------------------------------------------------------------


def test_gdal_lists_every_collection(gdal: None, service: str, true_root: Path) -> None:
    run = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{service}/"], capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    listed = re.findall(r"^\d+: (\S+) \(title:", run.stdout, flags=re.MULTILINE)
    assert listed == expected_collections(true_root)


@pytest.mark.parametrize("collection", ["admin_districts", "rivers", "water_sources",
                                        "AWS-000522-scope", "AWS-000522-checklist"])
def test_ogr2ogr_copies_a_collection(gdal: None, service: str, true_root: Path,
                                     tmp_path: Path, collection: str) -> None:
    out = tmp_path / "out.gpkg"
    run = subprocess.run(["ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{service}/", collection],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    ws = open_workspace(true_root)
    if collection.endswith("-scope"):
        truth = scope_features(true_root, collection.removesuffix("-scope"))
        expected, names = len(truth), set(truth["name"])
    elif collection.endswith("-checklist"):
        expected, names = 7, None  # six 1.1.1 elements and 0.1.1.1
    else:
        truth = ws.load(collection)
        expected, names = len(truth), set(truth["name"])
    info = subprocess.run(["ogrinfo", "-ro", "-so", str(out), collection], capture_output=True,
                          text=True, timeout=60, check=True).stdout
    assert f"Feature Count: {expected}" in info, info
    if names is not None:
        with contextlib.closing(sqlite3.connect(out)) as con:
            copied = {r[0] for r in con.execute(f'SELECT name FROM "{collection}"')}
        assert copied == names


# --- OWSLib --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def owslib_features(service: str) -> Any:
    from owslib.ogcapi.features import Features

    return Features(f"{service}/", timeout=60)


def test_owslib_reads_collections_and_conformance(owslib_features: Any,
                                                  true_root: Path) -> None:
    ids = [c["id"] for c in owslib_features.collections()["collections"]]
    assert ids == expected_collections(true_root)
    assert set(owslib_features.conformance()["conformsTo"]) == DECLARED
    assert owslib_features.collection("sites")["title"] == open_workspace(true_root).spec(
        "sites").title


def test_owslib_pages_through_a_layer(owslib_features: Any, true_root: Path) -> None:
    truth = open_workspace(true_root).load("admin_districts")
    seen: list[str] = []
    for offset in range(0, len(truth) + 4, 4):
        page = owslib_features.collection_items("admin_districts", limit=4, offset=offset)
        assert page["numberMatched"] == len(truth)
        assert page["numberReturned"] == len(page["features"]) <= 4
        seen += [f["id"] for f in page["features"]]
    assert seen == truth["fid"].tolist()  # catalogue order, each once


def test_owslib_bbox_and_property_filters(owslib_features: Any, true_root: Path) -> None:
    truth = open_workspace(true_root).load("rivers")
    area = [120.8, 31.0, 121.1, 31.4]
    page = owslib_features.collection_items("rivers", bbox=area, limit=100)
    assert {f["id"] for f in page["features"]} == set(truth.loc[truth.intersects(box(*area)),
                                                                "fid"])
    name = truth["name"].iloc[1]
    page = owslib_features.collection_items("rivers", name=name)
    assert [f["id"] for f in page["features"]] == truth.loc[truth["name"] == name,
                                                            "fid"].tolist()
    assert page["features"][0]["properties"]["name"] == name
    flows = truth["flows_to"].dropna().iloc[0]
    page = owslib_features.collection_items("rivers", flows_to=flows, limit=100)
    assert {f["id"] for f in page["features"]} == set(truth.loc[truth["flows_to"] == flows,
                                                                "fid"])
    one = owslib_features.collection_item("rivers", truth["fid"].iloc[0])
    assert one["id"] == truth["fid"].iloc[0] and one["properties"]["name"] == truth[
        "name"].iloc[0]


def test_an_absurd_limit_is_capped(owslib_features: Any) -> None:
    page = owslib_features.collection_items(MANY, limit=99_999_999)
    assert page["numberMatched"] == MANY_COUNT
    assert page["numberReturned"] == len(page["features"]) == MAX_ITEMS


# --- bbox against the workspace -----------------------------------------------------------------


@pytest.mark.parametrize("layer", ["sites", "rivers", "lakes", "catchment_units", "facilities"])
@pytest.mark.parametrize("area", [
    (120.85, 31.10, 121.00, 31.25),       # around the sites
    (120.95, 31.18, 120.96, 31.19),       # a small window
    (121.50, 30.00, 120.90, 32.00),       # west > east: across the antimeridian
    (0.0, 0.0, 1.0, 1.0),                 # nothing there
])
def test_bbox_keeps_exactly_the_features_that_intersect(service: str, true_root: Path,
                                                        layer: str, area: tuple[float, ...]
                                                        ) -> None:
    truth = open_workspace(true_root).load(layer)
    west, south, east, north = area
    window = (box(west, south, east, north) if west <= east else
              shapely.union(box(west, south, 180, north), box(-180, south, east, north)))
    expected = set(truth.loc[truth.intersects(window), "fid"])
    served = {f["id"] for f in all_items(service, layer, limit=100,
                                         bbox=",".join(map(str, area)))}
    assert served == expected
    six = {f["id"] for f in all_items(service, layer, limit=100,
                                      bbox=f"{west},{south},-10,{east},{north},10")}
    assert six == expected


# --- non-spatial collections, formats ----------------------------------------------------------


def test_site_record_and_checklist_are_collections_without_geometry(service: str,
                                                                    true_root: Path) -> None:
    ws = open_workspace(true_root)
    for ref, record in ws.records.items():
        features = all_items(service, f"{ref}-record")
        assert len(features) == 1 and features[0]["id"] == ref
        assert features[0]["geometry"] is None
        assert features[0]["properties"]["aws_ref"] == ref
        assert features[0]["properties"]["site_name"] == record.site_name
        checklist = all_items(service, f"{ref}-checklist")
        assert len(checklist) == 7 and all(f["geometry"] is None for f in checklist)
        from geo.export.site import collect

        table = collect(ws, ref).tables["checklist"]
        assert {f["properties"]["element"]: f["properties"]["status"] for f in checklist} == \
            dict(zip(table["element"], table["status"], strict=True))
        assert {"site_boundaries", "infrastructure"} <= set(table["element"])
        page = fetch(f"{service}/collections/{ref}-checklist/items?f=html")
        assert page.status == 200 and page.type == "text/html"
        assert "Site boundaries" in page.text
        scope = all_items(service, f"{ref}-scope")
        assert sorted(f["id"] for f in scope) == sorted(scope_features(true_root, ref)["fid"])


def test_items_as_geojson_and_html(service: str, true_root: Path) -> None:
    truth = open_workspace(true_root).load("facilities")
    as_json = fetch(f"{service}/collections/facilities/items?f=json&limit=100")
    assert as_json.status == 200 and as_json.type == "application/geo+json"
    assert as_json.json["type"] == "FeatureCollection"
    assert {f["id"] for f in as_json.json["features"]} == set(truth["fid"])
    by_accept = fetch(f"{service}/collections/facilities/items",
                      headers={"Accept": "application/geo+json"})
    assert by_accept.status == 200 and by_accept.type == "application/geo+json"
    as_html = fetch(f"{service}/collections/facilities/items?f=html&limit=100")
    assert as_html.status == 200 and as_html.type == "text/html"
    for name in truth["name"]:
        assert name.replace("&", "&amp;") in as_html.text or name in as_html.text, name
    one = fetch(f"{service}/collections/facilities/items/{truth['fid'].iloc[0]}?f=json")
    assert one.status == 200 and one.type == "application/geo+json"
    assert one.json["id"] == truth["fid"].iloc[0]
    (x, y), = _coordinates(one.json["geometry"])
    true_point = truth.geometry.iloc[0]
    assert (x, y) == pytest.approx((true_point.x, true_point.y), abs=1e-7)
    page = fetch(f"{service}/collections/facilities/items/{truth['fid'].iloc[0]}?f=html")
    assert page.status == 200 and page.type == "text/html"


def test_hostile_values_are_text_on_every_page(service: str) -> None:
    listed = next(c for c in fetch(f"{service}/collections?f=json").json["collections"]
                  if c["id"] == MANY)
    assert listed["title"] == HOSTILE_TITLE  # not interpolated from the environment
    assert listed["description"] == HOSTILE_DESCRIPTION
    markup = [v for v in (*HOSTILE_VALUES, HOSTILE_TITLE, HOSTILE_DESCRIPTION) if "<" in v]
    for path in ("/?f=html", "/collections?f=html", f"/collections/{MANY}?f=html",
                 f"/collections/{MANY}/items?f=html&limit=10",
                 f"/collections/{MANY}/items/pt-00000?f=html",
                 f"/collections/{MANY}/items/pt-00002?f=html",
                 f"/collections/{MANY}/queryables?f=html"):
        page = fetch(f"{service}{path}")
        assert page.status == 200, path
        for value in markup:
            assert value not in page.text, (path, value)
        assert "<script>alert(1)" not in page.text and "<img src=x" not in page.text, path


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "status", "says"), [
    ("/collections/no-such-layer", 404, "not found"),
    ("/collections/no-such-layer/items", 404, "not found"),
    ("/collections/rivers/items/no-such-feature", 404, "no-such-feature"),
    ("/collections/rivers/items?bbox=1,2,3", 400, "bbox"),
    ("/collections/rivers/items?bbox=a,b,c,d", 400, "bbox"),
    ("/collections/rivers/items?bbox=120,32,121,31", 400, "bbox"),
    ("/collections/rivers/items?bbox=nan,31,121,32", 400, "bbox"),
    ("/collections/rivers/items?bbox=120,31,inf,32", 400, "bbox"),
    ("/collections/rivers/items?limit=abc", 400, "limit"),
    ("/collections/rivers/items?limit=0", 400, "limit"),
    ("/collections/rivers/items?offset=-1", 400, "offset"),
    ("/collections/rivers/items?filter=name%3D%27x%27", 400, "filter"),
    ("/collections/rivers/items?f=xml", 400, "format"),
])
def test_bad_requests_get_a_json_message(service: str, path: str, status: int,
                                         says: str) -> None:
    answer = fetch(f"{service}{path}" + ("&" if "?" in path else "?") + "f=json")
    assert answer.status == status, answer.text
    assert answer.type == "application/json"
    assert says.lower() in answer.json["description"].lower(), answer.json
    assert "Traceback" not in answer.text


# --- validators and edits ------------------------------------------------------------------------


def test_an_edit_saved_through_the_store_shows_without_restart(service: str,
                                                               true_root: Path) -> None:
    from geo.store.gpkg import layer_version, save_layer

    url = f"{service}/collections/facilities/items?f=json&limit=100"
    first = fetch(url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    source = open_workspace(true_root).source_path(open_workspace(true_root).spec("facilities"))
    assert modified == time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                     time.gmtime(int(source.stat().st_mtime)))
    assert fetch(url, headers={"If-None-Match": etag}).status == 304
    html = fetch(url.replace("f=json", "f=html"))
    assert html.headers["etag"] != etag  # another representation, another tag
    metadata = fetch(f"{service}/collections/facilities?f=json").headers["etag"]

    for round_ in (1, 2):  # the first save moves the layer into the store, the second not
        ws = open_workspace(true_root)
        frame = ws.load("facilities").drop(columns=["layer", "kind"])
        fid = frame["fid"].iloc[0]
        frame.loc[frame.index[0], "name"] = f"Renamed in the app ({round_})"
        save_layer(ws, "facilities", frame, base_version=layer_version(ws, "facilities"),
                   author="tests")
        after = fetch(url)
        assert after.status == 200
        assert next(f for f in after.json["features"] if f["id"] == fid)["properties"][
            "name"] == f"Renamed in the app ({round_})"
        assert after.headers["etag"] != etag
        assert f"-v{layer_version(open_workspace(true_root), 'facilities')}-" in \
            after.headers["etag"]
        assert fetch(url, headers={"If-None-Match": etag}).status == 200  # old tag: new body
        assert fetch(url, headers={"If-None-Match": after.headers["etag"]}).status == 304
        assert fetch(f"{service}/collections/facilities?f=json").headers["etag"] != metadata
        etag = after.headers["etag"]
        metadata = fetch(f"{service}/collections/facilities?f=json").headers["etag"]
    scope = all_items(service, "AWS-000521-scope")  # site collections see the edit too
    assert {f["properties"]["name"] for f in scope if f["id"] == fid} <= {
        "Renamed in the app (2)"}



def test_a_layer_added_while_serving_is_a_collection_without_restart(
        gdal: None, tmp_path: Path) -> None:
    """``catchscope import --layer NEW --kind ...`` while the service runs: GDAL reads it."""
    root = copy_workspace(REPO, tmp_path / "demo")
    wells = tmp_path / "wells.geojson"
    wells.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": f"Monitoring well {i}"},
         "geometry": {"type": "Point", "coordinates": [120.95 + i / 1000, 31.19]}}
        for i in range(3)]}), encoding="utf-8")
    with serve_features(root, tmp_path) as url:
        before = [c["id"] for c in fetch(f"{url}/collections?f=json").json["collections"]]
        assert "monitoring_wells" not in before
        run = subprocess.run([str(CATCHSCOPE), "import", str(wells), "-w", str(root),
                              "--layer", "monitoring_wells", "--kind", "water_source"],
                             capture_output=True, text=True, timeout=120, check=False,
                             env={**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")})
        assert run.returncode == 0, run.stdout + run.stderr
        after = [c["id"] for c in fetch(f"{url}/collections?f=json").json["collections"]]
        assert after == expected_collections(root) and "monitoring_wells" in after
        items = fetch(f"{url}/collections/monitoring_wells/items?f=json")
        assert items.status == 200 and len(items.json["features"]) == 3
        assert "/collections/monitoring_wells/items" in json.dumps(
            fetch(f"{url}/openapi?f=json").json["paths"])
        listed = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{url}/", "monitoring_wells"],
                                capture_output=True, text=True, timeout=120, check=False)
        assert listed.returncode == 0 and "Feature Count: 3" in listed.stdout, listed.stderr
        # and removing a layer file takes it out again
        (root / "layers" / "monitoring_wells.toml").unlink()
        gone = [c["id"] for c in fetch(f"{url}/collections?f=json").json["collections"]]
        assert "monitoring_wells" not in gone
        assert fetch(f"{url}/collections/monitoring_wells/items?f=json").status == 404


# --- binding --------------------------------------------------------------------------------------


def _other_address() -> str | None:
    """An IPv4 address of this machine beyond the loopback, if it has one."""
    found: list[str] = []
    with contextlib.suppress(OSError):  # Linux: the local routes name every address
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
        found += [lines[i - 1].split()[-1] for i, line in enumerate(lines)
                  if "/32 host LOCAL" in line and i > 0]
    with contextlib.suppress(OSError):
        found += [str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None,
                                                                 socket.AF_INET)]
    return next((a for a in found if not a.startswith("127.")), None)


def test_without_public_it_listens_on_the_loopback_only(service: str) -> None:
    port = int(service.rsplit(":", 1)[1])
    address = _other_address()
    if address is None:
        pytest.skip("this machine has no address beyond the loopback")
    with socket.socket() as sock, pytest.raises(OSError):
        sock.settimeout(5)
        sock.connect((address, port))


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "example.org"])
def test_a_host_beyond_the_loopback_without_public_is_a_usage_error(true_root: Path,
                                                                    host: str) -> None:
    port = _free_port()
    run = subprocess.run([str(CATCHSCOPE), "serve-features", "-w", str(true_root), "--host",
                          host, "--port", str(port)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 2, run.stderr
    assert "--public" in run.stderr and host in run.stderr
    assert "Traceback" not in run.stderr
    with socket.socket() as sock, pytest.raises(OSError):
        sock.connect(("127.0.0.1", port))


def test_bad_command_line_input_is_a_message(true_root: Path, tmp_path: Path) -> None:
    run = subprocess.run([str(CATCHSCOPE), "serve-features", "--port", "70000"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2 and "--port" in run.stderr
    run = subprocess.run([str(CATCHSCOPE), "serve-features", "-w", str(tmp_path / "nowhere"),
                          "--port", "0"], capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "nowhere" in run.stderr


# --- the public service ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Truth:
    """The true intakes and outfalls of a workspace: ids and lon/lat (and metres per degree)."""

    fids: frozenset[str]
    lonlat: np.ndarray

    def nearest_m(self, x: float, y: float) -> float:
        """Metres from (x, y) to the nearest true intake or outfall (equirectangular)."""
        dx = (self.lonlat[:, 0] - x) * 111_320 * math.cos(math.radians(y))
        dy = (self.lonlat[:, 1] - y) * 110_574
        return float(np.hypot(dx, dy).min())

    def near_pairs(self, text: str) -> list[tuple[float, float]]:
        """Consecutive numbers in ``text`` that, read as lon, lat, lie near a true point."""
        numbers = [float(n) for n in re.findall(r"-?\d{1,3}\.\d{3,}", text)]
        return [(x, y) for x, y in itertools.pairwise(numbers)
                if -180 <= x <= 180 and -90 <= y <= 90 and self.nearest_m(x, y) < NEAR_M]


@pytest.fixture(scope="module")
def truth(public_root: Path) -> Truth:
    points = open_workspace(public_root).load_kind(*SENSITIVE)
    assert len(points) >= 5  # the demo's intakes and outfalls
    return Truth(frozenset(points["fid"]), np.array([[g.x, g.y] for g in points.geometry]))


def test_public_landing_page_says_the_copy_is_redacted(public_service: str) -> None:
    landing = fetch(f"{public_service}/?f=json").json
    assert "Public copy" in landing["description"] and "coarsened" in landing["description"]
    html = fetch(f"{public_service}/?f=html").text
    assert "Public copy" in html and "coarsened" in html
    water = fetch(f"{public_service}/collections/water_sources?f=json").json
    assert "Public copy" in water["description"]


def test_public_serves_no_true_position_of_an_intake_or_outfall(
        public_service: str, public_root: Path, truth: Truth) -> None:
    ids = [c["id"] for c in fetch(f"{public_service}/collections?f=json").json["collections"]]
    assert ids == expected_collections(public_root)  # no other collection to ask
    sensitive_seen = set()
    for collection in ids:
        for feature in all_items(public_service, collection, limit=7):
            kind = feature["properties"].get("kind")
            points = list(_coordinates(feature["geometry"]))
            if feature["id"] in truth.fids or kind in {k.value for k in SENSITIVE}:
                sensitive_seen.add(feature["id"])
                assert points, feature  # coarsened, not dropped, by --public
                for x, y in points:
                    assert truth.nearest_m(x, y) > NEAR_M, (collection, feature["id"], x, y)
                assert feature["properties"].get("redacted")
            elif kind == LayerKind.PIPE.value:  # pipes lose every part within 1 km
                for x, y in points:
                    assert truth.nearest_m(x, y) > 900, (collection, feature["id"])
    assert sensitive_seen == truth.fids


def test_no_request_gets_an_unredacted_feature(public_service: str, truth: Truth,
                                               service: str) -> None:
    from pyproj import Transformer

    intake = sorted(f for f in truth.fids if f.startswith("ws-"))[0]
    for path in ("items?f=json", "items?f=html", f"items/{intake}?f=jsonld"):
        answer = fetch(f"{service}/collections/water_sources/{path}")  # the scan finds them
        assert len(truth.near_pairs(answer.text)) >= 1, path

    mercator = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    crs_3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
    queries = ["f=json", "f=jsonld", "f=html", "f=json&redaction=none", "f=json&public=false",
               "f=json&redact=", "f=json&skipGeometry=false", "f=json&properties=name",
               "f=json&sortby=-name", f"f=json&bbox={min(truth.lonlat[:, 0]) - .01},"
               f"{min(truth.lonlat[:, 1]) - .01},{max(truth.lonlat[:, 0]) + .01},"
               f"{max(truth.lonlat[:, 1]) + .01}"]
    for collection in ("water_sources", "discharge_points"):
        for base in (f"/collections/{collection}", f"/collections/{collection}/items",
                     f"/collections/{collection}/queryables",
                     f"/collections/{collection}/schema"):
            for query in queries:
                answer = fetch(f"{public_service}{base}?{query}&limit=100")
                assert answer.status in (200, 400), (base, query, answer.status)
                assert truth.near_pairs(answer.text) == [], (base, query)
        projected = fetch(f"{public_service}/collections/{collection}/items?f=json&limit=100&"
                          + urlencode({"crs": crs_3857}))
        assert projected.status == 200
        for feature in projected.json["features"]:
            for x, y in _coordinates(feature["geometry"]):
                assert truth.nearest_m(*mercator.transform(x, y)) > NEAR_M
    for fid in sorted(truth.fids):
        kind = "water_sources" if fid.startswith("ws-") else "discharge_points"
        for form in ("json", "jsonld", "html"):
            for path in (f"/collections/{kind}/items/{fid}",
                         f"/collections/{kind}/items/{fid}/",
                         f"/collections/{kind}/../{kind}/items/{fid}"):
                answer = fetch(f"{public_service}{path}?f={form}")
                assert answer.status in (200, 404), (path, answer.status)
                assert truth.near_pairs(answer.text) == [], (path, form)
    for path in ("/openapi?f=json", "/collections?f=json", "/collections?f=html", "/?f=json",
                 "/stac?f=json", "/processes?f=json", "/jobs?f=json"):
        answer = fetch(f"{public_service}{path}")
        assert truth.near_pairs(answer.text) == [], path
    for method in ("POST", "PUT", "DELETE", "PATCH"):  # read-only: nothing to write through
        request = urllib.request.Request(f"{public_service}/collections/water_sources/items",
                                         method=method, data=b"{}",
                                         headers={"Content-Type": "application/geo+json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code in (400, 404, 405), method


def test_drop_sensitive_leaves_intakes_and_outfalls_out(public_root: Path) -> None:
    from geo.export.exportset import Redaction
    from geo.publish.sources import Collection as Served
    from geo.publish.sources import Part, WorkspaceSource

    source = WorkspaceSource(public_root, redaction=Redaction.DROP_SENSITIVE)
    for layer in ("water_sources", "discharge_points"):
        assert source.frame(Served(Part.LAYER, layer)).empty
    scope = source.frame(Served(Part.SCOPE, "AWS-000522"))
    assert not scope["kind"].isin([k.value for k in SENSITIVE]).any()
    assert len(scope) > 0
