"""The scope engine on tiny synthetic workspaces with known answers (and the demo, once present)."""

from __future__ import annotations

import json
import math
import re
from itertools import pairwise
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import LineString, Point, box

from geo.core.catalogue import AwsElement
from geo.core.errors import FlowNetworkError, ScopeError, SiteNotFoundError
from geo.core.records import SiteRecord, save_record
from geo.scope.assess import SiteScope, assess_all, assess_site
from geo.scope.report import scope_markdown
from tests.conftest import write_layer_toml

REF = "AWS-000001"
REF2 = "AWS-000002"


def frame(rows: list[dict[str, Any]], crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    geoms = [r.pop("geometry") for r in rows]
    out = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs="EPSG:4326")
    for column in ("accuracy", "source"):
        if column not in out:
            out[column] = "surveyed" if column == "accuracy" else "test"
    return out.to_crs(crs)


# Units on a 0.5° grid.  Branching: a and b join at c, c → d → sea; x → x_sea is another basin.
UNITS = {
    "u_a": ((120.0, 31.0), "u_c"), "u_b": ((120.5, 31.5), "u_c"), "u_c": ((120.5, 31.0), "u_d"),
    "u_d": ((121.0, 31.0), "u_sea"), "u_sea": ((121.5, 31.0), None),
    "u_x": ((120.0, 31.5), "u_xsea"), "u_xsea": ((119.5, 31.5), None),
}
SITE = box(120.745, 31.245, 120.747, 31.247)           # ≈ 190 × 220 m, inside u_c
SITE_B = box(120.748, 31.245, 120.750, 31.247)         # second parcel, same site


def layers(crs_units: str = "EPSG:4326", crs_iwra: str = "EPSG:4326",
           with_discharge: bool = True) -> dict[str, tuple[str, gpd.GeoDataFrame, dict[str, Any]]]:
    units = frame([{"fid": f, "name": f"Unit {f}", "next_down": nd, "level": "section",
                    "accuracy": "derived", "geometry": box(x, y, x + 0.5, y + 0.5)}
                   for f, ((x, y), nd) in UNITS.items()], crs_units)
    sites = frame([
        {"fid": "p1", "name": "Block A", "aws_ref": REF, "geometry": SITE},
        {"fid": "p2", "name": "Block B", "aws_ref": REF, "geometry": SITE_B},
        # site 2 straddles the u_c / u_d boundary at lon 121.0: 60 % west, 40 % east
        {"fid": "q1", "name": "Straddler", "aws_ref": REF2,
         "geometry": box(120.997, 31.30, 121.002, 31.302)},
    ])
    rivers = frame([
        {"fid": "river_x", "name": "Far River",
         "geometry": LineString([(120.1, 31.75), (120.4, 31.75)])},
        {"fid": "river_d", "name": "Down River",
         "geometry": LineString([(120.9, 31.2), (121.3, 31.2)])},
    ])
    lakes = frame([{"fid": "lake_l", "name": "Site Lake", "flows_to": "river_d",
                    "accuracy": "illustrative", "geometry": box(120.75, 31.245, 120.76, 31.25)}])
    sources = frame([{"fid": "intake_x", "name": "Far intake", "flows_to": "plant",
                      "geometry": Point(120.25, 31.7503)}])
    facilities = frame([{"fid": "plant", "name": "City Water Plant", "serves": f"{REF},{REF2}",
                         "geometry": Point(120.7, 31.2)}])
    out: dict[str, tuple[str, gpd.GeoDataFrame, dict[str, Any]]] = {
        "units": ("catchment_unit", units, {}),
        "sites": ("site", sites, {"evidences": ["site_boundaries"]}),
        "rivers": ("river", rivers, {}),
        "lakes": ("lake", lakes, {}),
        "sources": ("water_source", sources, {}),
        "facilities": ("facility", facilities, {}),
        "iwras": ("iwra", iwra_frame(crs_iwra), {}),
    }
    if with_discharge:
        dps = frame([
            {"fid": "dp_rain", "name": "Rain outfall", "aws_ref": REF, "flows_to": "lake_l",
             "geometry": Point(120.7495, 31.246)},
            {"fid": "dp_far", "name": "Far outfall", "aws_ref": REF,
             "geometry": Point(120.6, 31.1)},           # > 1 km from every water body
        ])
        out["discharge_points"] = ("discharge_point", dps, {})
    return out


def iwra_frame(crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    return frame([
        # shares the east edge of parcel p2 exactly: touching, on-site
        {"fid": "iw_touch", "name": "Touching wetland", "category": "wetland",
         "geometry": box(120.750, 31.2455, 120.7502, 31.2465)},
        {"fid": "iw_near", "name": "Near park", "category": "landscape",
         "geometry": box(120.745, 31.2500, 120.746, 31.2510)},   # ≈ 330 m north: 1 km band
        {"fid": "iw_down", "name": "Downstream reserve", "category": "wetland",
         "geometry": box(121.2, 31.3, 121.21, 31.31)},           # in u_d, ≈ 43 km
        {"fid": "iw_side", "name": "Side-branch forest", "category": "landscape",
         "geometry": box(120.8, 31.7, 120.81, 31.71)},           # in u_b: upstream branch, neither
        {"fid": "iw_source", "name": "Source protection zone", "category": "water source",
         "geometry": box(120.24, 31.74, 120.26, 31.76)},         # around the far intake, in u_x
    ], crs)


RECORD = SiteRecord(aws_ref=REF, site_name="Test site", area_m2=85_000.0,
                    water_service_provider="City Water Group",
                    ultimate_water_sources=["Far River"], receiving_water_bodies=["Site Lake"])
RECORD2 = SiteRecord(aws_ref=REF2, site_name="Straddling site")


def build_workspace(root: Path, ws_layers: dict[str, tuple[str, gpd.GeoDataFrame,
                                                             dict[str, Any]]],
                    records: list[SiteRecord]) -> Path:
    """Write layers/*.toml + data files + records (like conftest's make_workspace)."""
    (root / "layers").mkdir(parents=True)
    (root / "data" / "sites").mkdir(parents=True)
    for layer_id, (kind, data, extra) in ws_layers.items():
        extra = dict(extra)
        source = extra.pop("source", f"{layer_id}.geojson")
        data.to_file(root / "data" / source, engine="pyogrio")
        write_layer_toml(root, layer_id, title=layer_id, kind=kind, source=source, **extra)
    for record in records:
        save_record(root / "data", record)
    return root


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workspace(tmp_path_factory.mktemp("scope") / "ws", layers(),
                           [RECORD, RECORD2])


@pytest.fixture(scope="module")
def scope_one(workspace: Path) -> SiteScope:
    return assess_site(workspace, REF)


def test_checklist_chain_units_and_iwras(scope_one: SiteScope) -> None:
    scope = scope_one
    assert scope.name == "Test site" and scope.record is not None
    status = {c.element: c.status for c in scope.checklist}
    assert len(scope.checklist) == 6
    assert status[AwsElement.SITE_BOUNDARIES] == "present"
    assert status[AwsElement.INFRASTRUCTURE] == "missing"   # no pipe / facility of the site
    # the record names a provider and no source of its own: not applicable, the record as evidence
    owned = scope.element("owned_water_sources")
    assert status[AwsElement.OWNED_WATER_SOURCES] == "not applicable"
    assert owned.notes[0].startswith("Not applicable — the site owns no water source; its water "
                                     "comes from City Water Group (record: water service "
                                     "provider City Water Group)")
    assert [(e.layer, e.fid, e.kind) for e in owned.evidence] == [
        ("site record", f"{REF}#water_service_provider", "record")]
    assert status[AwsElement.SERVICE_PROVIDER] == "present"
    assert status[AwsElement.DISCHARGE] == "partial"         # the far outfall is a gap
    discharge = scope.element(AwsElement.DISCHARGE)
    assert any("Far outfall (dp_far): no water body within 1000 m" in m for m in discharge.missing)
    assert any("illustrative" in c for c in discharge.caveats)
    assert scope.score == "3/5 present (1 partial, 1 missing, 1 not applicable)"
    # the intake in another basin counts: relied on = its unit (nothing upstream of it)
    assert [u.fid for u in scope.relied_on] == ["u_x"]
    assert "contains intake Far intake" in scope.relied_on[0].why
    # affected: where the outfall and lake are, and downstream, not the side branches
    assert [u.fid for u in scope.affected] == ["u_c", "u_d", "u_sea"]
    assert {"u_a", "u_b"}.isdisjoint(u.fid for u in scope.affected)
    # chain: Far River ⇢ intake → plant → site → outfall → lake → Down River ⇢ u_d → sea
    fids = scope.chain.fids()
    assert fids[:4] == ["river_x", "intake_x", "plant", REF]
    assert fids.index("lake_l") < fids.index("river_d") < fids.index("u_d") < fids.index("u_sea")
    assert scope.chain.node("u_sea").role == "ultimate receiving water body"
    iw = scope.iwras.set_index("fid")
    assert iw.loc["iw_touch", "classification"] == "onsite"
    assert iw.loc["iw_touch", "distance_m"] == 0.0
    assert iw.loc["iw_near", "classification"] == "catchment"
    assert iw.loc["iw_near", "distance_m"] == pytest.approx(333.6, abs=3)
    assert iw.loc["iw_near", "band_km"] == 1.0
    assert iw.loc["iw_down", "band_km"] == 50.0
    assert math.isnan(iw.loc["iw_source", "band_km"])          # ≈ 70 km: beyond all bands
    assert iw.loc["iw_down", "relation"] == "downstream of discharge"
    assert iw.loc["iw_source", "relation"] == "upstream of water source"
    assert iw.loc["iw_side", "relation"] == "neither"
    assert iw.loc["iw_touch", "relation"] == "downstream of discharge"
    assert scope.iwras["fid"].iloc[0] == "iw_touch"              # on-site first


def test_features_frame_is_the_scope_map(scope_one: SiteScope) -> None:
    scope = scope_one
    feats = scope.features.set_index("fid")
    assert scope.features.crs.to_epsg() == 4326
    assert not scope.features["fid"].duplicated().any()
    assert feats.loc["p1", "role"] == "site parcel"
    assert feats.loc["p1", "aws_element"] == "site_boundaries"
    assert feats.loc["plant", "role"] == "water plant"
    assert feats.loc["intake_x", "aws_element"] == "service_provider"
    assert "on-site IWRA" in feats.loc["iw_touch", "role"]
    assert "iw_source" not in feats.index                     # beyond the largest band
    assert "relied-on catchment unit" in feats.loc["u_x", "role"]
    assert "affected" in feats.loc["u_d", "role"]
    for column in ("fid", "name", "layer", "kind", "aws_ref", "accuracy", "source", "datum",
                   "aws_element", "role"):
        assert column in scope.features.columns


def test_one_catchment_and_straddling_parcel(workspace: Path, scope_one: SiteScope) -> None:
    one = scope_one.one_catchment
    assert one.ok and one.units == ("u_c",) and one.level == "section"
    two = assess_site(workspace, REF2).one_catchment
    assert not two.ok and set(two.units) == {"u_c", "u_d"}
    areas = {o.unit_fid: o for o in two.overlaps}
    total = areas["u_c"].area_m2 + areas["u_d"].area_m2
    assert areas["u_c"].area_m2 / total == pytest.approx(0.6, abs=0.01)
    assert areas["u_c"].share == pytest.approx(0.6, abs=0.01)
    assert total == pytest.approx(475 * 222, rel=0.02)       # 0.005° × 0.002° at 31.3° N
    assert "straddle" in two.message and "q1" in two.message


def test_geographic_distance_is_geodesic_metres(make_workspace: Any) -> None:
    ws_layers = layers()
    north = box(120.745, 31.290, 120.747, 31.291)             # 0.043° north of the parcels
    ws_layers["iwras"] = ("iwra", frame([{"fid": "iw", "name": "North", "geometry": north}]), {})
    root = make_workspace(layers=ws_layers, records=[RECORD])
    scope = assess_site(root, REF)
    _, _, expected = Geod(ellps="WGS84").inv(120.746, 31.247, 120.746, 31.290)
    assert expected == pytest.approx(4767, abs=5)
    assert scope.iwras.loc[0, "distance_m"] == pytest.approx(expected, rel=1e-3)


def test_layers_in_other_crs_give_identical_results(make_workspace: Any,
                                                     scope_one: SiteScope) -> None:
    plain = scope_one
    utm = assess_site(make_workspace(layers=layers(crs_units="EPSG:32651",
                                                   crs_iwra="EPSG:32651"),
                                     records=[RECORD]), REF)
    cols = ["fid", "classification", "band_km", "relation"]
    pd.testing.assert_frame_equal(plain.iwras[cols], utm.iwras[cols])
    assert plain.iwras["distance_m"].to_numpy() == pytest.approx(
        utm.iwras["distance_m"].to_numpy(), abs=0.01)
    assert [u.fid for u in plain.affected] == [u.fid for u in utm.affected]
    assert plain.one_catchment.units == utm.one_catchment.units
    assert [c.status for c in plain.checklist] == [c.status for c in utm.checklist]


def test_missing_layer_kind_is_an_element_missing(make_workspace: Any) -> None:
    root = make_workspace(layers=layers(with_discharge=False), records=[RECORD])
    scope = assess_site(root, REF)
    discharge = scope.element("discharge")
    assert discharge.status == "missing"
    assert "no layer of kind 'discharge_point'" in discharge.missing[0]
    assert scope.affected == ()
    assert scope.element("catchments").status == "partial"


def test_unknown_site_lists_the_known_ones(workspace: Path) -> None:
    with pytest.raises(SiteNotFoundError, match=r"No site 'AWS-999999'.*AWS-000001, AWS-000002"):
        assess_site(workspace, "AWS-999999")


def test_empty_site_layer_is_a_clear_message(make_workspace: Any) -> None:
    ws_layers = layers()
    kind, sites, extra = ws_layers["sites"]
    # a GeoPackage keeps its columns when empty (GPKG reserves 'fid', so the id is 'uid')
    empty = sites.iloc[0:0].rename(columns={"fid": "uid"})
    ws_layers["sites"] = (kind, empty, {**extra, "source": "sites.gpkg", "id_field": "uid"})
    root = make_workspace(layers=ws_layers, records=[RECORD])
    with pytest.raises(ScopeError, match=r"AWS-000001 has no parcels.*hold no features"):
        assess_site(root, REF)


def test_cycle_in_next_down_is_a_clear_message(make_workspace: Any) -> None:
    ws_layers = layers()
    units = ws_layers["units"][1]
    units.loc[units["fid"] == "u_sea", "next_down"] = "u_c"
    root = make_workspace(layers=ws_layers, records=[RECORD])
    with pytest.raises(FlowNetworkError, match=r"cycle: .*Unit u_c \(u_c\) → Unit u_d"):
        assess_site(root, REF)


def test_bad_bands_are_refused(workspace: Path) -> None:
    with pytest.raises(ScopeError, match="positive distances"):
        assess_site(workspace, REF, bands_km=[0, 10])


def test_to_dict_is_json_and_markdown_reads(workspace: Path) -> None:
    scope = assess_site(workspace, REF, bands_km=[2, 20])
    data = json.loads(json.dumps(scope.to_dict()))
    assert data["score"] == "3/5 present (1 partial, 1 missing, 1 not applicable)"
    assert data["status_counts"] == {"present": 3, "partial": 1, "missing": 1,
                                     "not applicable": 1}
    assert data["settings"]["bands_km"] == [2.0, 20.0]
    assert data["checklist"][0]["status"] == "present"
    assert data["iwras"][0]["fid"] == "iw_touch"
    md = scope_markdown(scope)
    assert "## 1.1.1 checklist" in md and "Touching wetland" in md and "❌ missing" in md


# --- the command line -------------------------------------------------------------------


def run_cli(*args: str) -> Any:
    from typer.testing import CliRunner

    from geo.cli.main import app

    return CliRunner().invoke(app, list(args))


def test_cli_report_json_md_and_no_overwrite(workspace: Path, tmp_path: Path) -> None:
    shown = run_cli("scope", REF, "-w", str(workspace))
    assert shown.exit_code == 0, shown.output
    assert "1.1.1 checklist" in shown.output and "3/5 present" in shown.output
    piped = run_cli("scope", REF, "--json", "-w", str(workspace))
    assert piped.exit_code == 0
    assert json.loads(piped.stdout)["aws_ref"] == REF
    md, js = tmp_path / "r.md", tmp_path / "r.json"
    wrote = run_cli("scope", REF, "--md", str(md), "--json", "-o", str(js), "--bands", "2,20",
                    "-w", str(workspace))
    assert wrote.exit_code == 0, wrote.output
    assert "## IWRAs" in md.read_text(encoding="utf-8")
    assert json.loads(js.read_text(encoding="utf-8"))["settings"]["bands_km"] == [2.0, 20.0]
    again = run_cli("scope", REF, "--md", str(md), "-w", str(workspace))
    assert again.exit_code == 1 and "already exists" in again.output
    assert run_cli("scope", REF, "--md", str(md), "--overwrite",
                   "-w", str(workspace)).exit_code == 0


@pytest.mark.parametrize(("args", "message"), [
    (("AWS-999999",), "No site 'AWS-999999'"),
    ((), "Which site?"),
    ((REF, "--bands", "1,x"), "--bands"),
    ((REF, "--all"), "not both"),
    ((REF, "--csv", "x.csv"), "use it with --all"),
])
def test_cli_bad_input_is_a_message(workspace: Path, args: tuple[str, ...],
                                    message: str) -> None:
    result = run_cli("scope", *args, "-w", str(workspace))
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_cli_cycle_is_a_message(tmp_path: Path) -> None:
    ws_layers = layers()
    units = ws_layers["units"][1]
    units.loc[units["fid"] == "u_sea", "next_down"] = "u_a"
    root = build_workspace(tmp_path / "ws", ws_layers, [RECORD])
    for args in (("scope", REF), ("scope", "--all")):
        result = run_cli(*args, "-w", str(root))
        assert result.exit_code == 1 and "form a cycle" in result.output
        assert "Traceback" not in result.output


def test_hostile_names_are_escaped_in_markdown(tmp_path: Path) -> None:
    from tests.conftest import HOSTILE_VALUES

    ws_layers = layers()
    iw = ws_layers["iwras"][1]
    iw.loc[iw["fid"] == "iw_touch", "name"] = HOSTILE_VALUES[0] + " [x](javascript:alert(1))"
    root = build_workspace(tmp_path / "ws", ws_layers, [RECORD])
    md = scope_markdown(assess_site(root, REF))
    assert "<img" not in md and "&lt;img" in md
    assert "[x](javascript" not in md
    shown = run_cli("scope", REF, "-w", str(root))
    assert shown.exit_code == 0 and "<img src=x" in shown.output  # plain text in a terminal


# --- the bundled demo workspace ----------------------------------------------------------

DEMO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo() -> dict[str, SiteScope]:
    if not (DEMO / "layers" / "sites.toml").exists():
        pytest.skip("the demo workspace's layers are not present")
    return {ref: assess_site(None, ref) for ref in ("AWS-000521", "AWS-000522")}


def test_demo_both_sites_in_the_kunshan_section(demo: dict[str, SiteScope]) -> None:
    for scope in demo.values():
        assert scope.one_catchment.ok
        assert scope.one_catchment.units == ("cu-wusong-kunshan",)
        assert "Kunshan section" in scope.one_catchment.unit_names[0]
        # the demo's site-scale features are illustrative: never a clean "present"
        assert scope.score == "1/6 present (4 partial, 1 missing)"
        for element in ("site_boundaries", "infrastructure", "service_provider", "discharge"):
            check = scope.element(element)
            assert check.status == "partial" and not check.missing
            assert any("placed illustratively" in c and "replace with surveyed data" in c
                       for c in check.caveats)
        assert scope.element("catchments").status == "present"       # derived units
        # issue 15: the reports describe rainwater harvested for afforestation and a
        # rainwater reuse project — sources the site manages, so element 3 is not "n/a"
        owned = scope.element("owned_water_sources")
        assert owned.status == "missing"
        assert owned.evidence[0].fid == f"{scope.aws_ref}#managed_sources[0]"
        assert "rainwater harvesting for afforestation watering" in owned.missing[0]
        assert "rainwater reuse" in owned.missing[0]


def test_demo_iwras(demo: dict[str, SiteScope]) -> None:
    named = {"Yangcheng Lake (Kunshan) Wetland", "Dianshan Lake (Kunshan City) Wetland",
             "Kuilei Lake Drinking Water Source Protection Area",
             "Kunshan Urban Ecological Forest Park", "Tinglin Scenic Area"}
    for scope in demo.values():
        iw = scope.iwras.set_index("fid")
        assert iw.loc["iwra-baijiadang", "classification"] == "onsite"
        assert iw.loc["iwra-baijiadang", "distance_m"] <= scope.onsite_tolerance_m
        assert iw.loc["iwra-baijiadang", "relation"] == "downstream of discharge"
        catchment = scope.iwras[scope.iwras["classification"] == "catchment"]
        assert named <= set(catchment["name"])
        assert (catchment["distance_m"] > 50).all()
        assert catchment["band_km"].notna().all()                 # all within 50 km
        assert iw.loc["iwra-kuilei-dwspa", "relation"] == "upstream of water source"
        assert set(scope.iwras["relation"]) <= {
            "upstream of water source", "downstream of discharge", "both", "neither"}


def test_demo_water_chain(demo: dict[str, SiteScope]) -> None:
    chain = demo["AWS-000521"].chain
    lines = chain.lines()
    assert any(line.startswith("Yangtze River") and line.endswith("Luxshare - (158) Kunshan, "
                                                                  "China") for line in lines)
    assert any(line.startswith("Kuilei Lake") for line in lines)
    order = chain.fids()

    def before(*fids: str) -> bool:
        return all(order.index(a) < order.index(b) for a, b in pairwise(fids))

    assert before("water-yangtze-changshu-taicang", "ws-intake-yangtze",
                  "fac-ksw-plant-yangtze", "AWS-000521")
    assert before("lake-kuilei", "ws-intake-kuilei", "fac-ksw-plant-kuilei", "AWS-000521")
    assert before("AWS-000521", "dp-521-rain-d", "lake-baijiadang", "river-wusong-kunshan")
    assert before("AWS-000521", "dp-521-domestic", "fac-jinxi-wwtp", "river-xiaojieing",
                  "river-wusong-kunshan", "river-wusong-shanghai", "cu-yangtze-estuary")
    assert chain.node("fac-jinxi-wwtp").role == "wastewater treatment plant"
    assert chain.node("cu-yangtze-estuary").role == "ultimate receiving water body"
    assert chain.gaps == ()
    # the on-site zero-discharge treatment plant is infrastructure, not a guessed outfall
    assert "fac-521-onsite-wwtp" not in order


def test_demo_relied_on_and_affected(demo: dict[str, SiteScope]) -> None:
    scope = demo["AWS-000522"]
    relied = [u.fid for u in scope.relied_on]
    affected = [u.fid for u in scope.affected]
    assert "cu-yangtze-south-bank" in relied          # the Yangtze intake's other basin
    assert {"cu-wusong-kunshan", "cu-wusong-suzhou", "cu-taihu-lake"} <= set(relied)
    assert affected[0] == "cu-wusong-kunshan" and affected[-1] == "cu-yangtze-estuary"
    assert "cu-wusong-suzhou" not in affected          # upstream of the discharges


def test_demo_portfolio() -> None:
    if not (DEMO / "layers" / "sites.toml").exists():
        pytest.skip("the demo workspace's layers are not present")
    table = assess_all(None).set_index("aws_ref")
    assert table.loc[["AWS-000521", "AWS-000522"], "single_catchment"].tolist() == ["yes"] * 2
    assert (table.loc[["AWS-000521", "AWS-000522"], "iwras_onsite"] >= 1).all()


@pytest.mark.parametrize("typed", ["aws-000001", "AWS-1", "000001"])
def test_a_mistyped_site_is_pointed_to_the_right_one(workspace: Path, typed: str) -> None:
    with pytest.raises(SiteNotFoundError, match=r"Did you mean AWS-000001\? Sites: AWS-000001, "
                       r"AWS-000002"):
        assess_site(workspace, typed)
    result = run_cli("scope", typed, "-w", str(workspace))
    assert result.exit_code == 1 and "Did you mean AWS-000001?" in result.output


def test_a_broken_link_is_a_gap_in_words(tmp_path: Path) -> None:
    ws_layers = layers()
    ws_layers["lakes"][1].loc[0, "flows_to"] = "river_nowhere"
    root = build_workspace(tmp_path / "ws", ws_layers, [RECORD])
    scope = assess_site(root, REF)
    gap = "Site Lake (lake_l): flows_to = 'river_nowhere' names no feature or site"
    assert any(gap in g for g in scope.chain.gaps)
    assert any(gap in m for m in scope.element("discharge").missing)
    shown = run_cli("scope", REF, "-w", str(root))
    assert shown.exit_code == 0 and "river_nowhere" in shown.output


def test_chain_edges_say_explicit_or_inferred(scope_one: SiteScope) -> None:
    edges = scope_one.to_dict()["chain"]["edges"]
    kinds = {(e["source"], e["target"]): (e["how"], e["via"]) for e in edges}
    assert kinds[("intake_x", "plant")] == ("explicit", "flows_to")
    assert kinds[("dp_rain", "lake_l")] == ("explicit", "flows_to")
    assert kinds[("river_x", "intake_x")] == ("inferred", "nearest water body")
    inferred = [e for e in edges if e["how"] == "inferred"]
    assert all(e["distance_m"] is not None for e in inferred)
    md = scope_markdown(scope_one)
    # a link in our data is not "stated" unless a report is cited for it (issue 15)
    assert f"{len(edges)} links: {len(edges) - len(inferred)} in our data" in md
    assert "- inferred: Far River ⇢ Far intake (nearest water body, " in md
    assert "⚪ not applicable" in md


def test_onsite_tolerance_decides_a_near_iwra(make_workspace: Any) -> None:
    ws_layers = layers()
    # 30 m east of parcel p2's east edge (lon 120.750) at 31.246° N
    east = 120.750 + 30 / (111_320 * math.cos(math.radians(31.246)))
    ws_layers["iwras"] = ("iwra", frame([{"fid": "iw30", "name": "Close marsh",
                                          "geometry": box(east, 31.2455, east + 0.001,
                                                          31.2465)}]), {})
    root = make_workspace(layers=ws_layers, records=[RECORD])
    default = assess_site(root, REF).iwras.set_index("fid").loc["iw30"]
    assert default["classification"] == "onsite"                     # within 50 m
    assert default["distance_m"] == pytest.approx(30.0, abs=0.5)
    strict = assess_site(root, REF, onsite_tolerance_m=10).iwras.set_index("fid").loc["iw30"]
    assert strict["classification"] == "catchment" and strict["band_km"] == 1.0


def test_parcel_partly_outside_every_unit_is_not_confirmed(make_workspace: Any) -> None:
    ws_layers = layers()
    kind, _, extra = ws_layers["sites"]
    # half in u_a (lon ≥ 120.0, lat 31.0–31.5), half west of every unit
    edge = frame([{"fid": "e1", "name": "Edge block", "aws_ref": REF,
                   "geometry": box(119.998, 31.2, 120.002, 31.202)}])
    ws_layers["sites"] = (kind, edge, extra)
    scope = assess_site(make_workspace(layers=ws_layers, records=[RECORD]), REF)
    one = scope.one_catchment
    assert not one.ok and one.units == ("u_a",)
    assert one.overlaps[0].share == pytest.approx(0.5, abs=0.01)
    assert re.search(r"Part of parcel\(s\) e1 \((49|50|51)%\) lies outside every catchment unit",
                     one.message)
    assert "cannot be confirmed" in one.message
