"""The catchment-unit network and the water chain, on tiny layouts with known answers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

from geo.core.errors import FlowNetworkError
from geo.scope.flows import build_flow_graph, build_unit_network, split_refs, water_chain


def units_frame(links: dict[str, str | None], level: str = "section") -> gpd.GeoDataFrame:
    fids = list(links)
    return gpd.GeoDataFrame(
        {"fid": fids, "name": [f"Unit {f}" for f in fids], "layer": "units",
         "kind": "catchment_unit", "next_down": list(links.values()), "level": level,
         "aws_ref": None, "accuracy": "derived"},
        geometry=[box(i, 0, i + 1, 1) for i in range(len(fids))], crs="EPSG:4326")


# A branching network: a and b join at c, c flows to d, d to the sea; x → x_sea is another basin.
BRANCHING = {"a": "c", "b": "c", "c": "d", "d": "sea", "sea": None, "x": "x_sea", "x_sea": None}


def test_upstream_and_downstream_on_a_branching_network() -> None:
    net = build_unit_network(units_frame(BRANCHING))
    assert [f for f, _, _ in net.downstream(["a"])] == ["c", "d", "sea"]
    assert {f for f, _, _ in net.upstream(["c"])} == {"a", "b"}
    assert {f for f, _, _ in net.upstream(["sea"])} == {"a", "b", "c", "d"}
    assert net.upstream(["a"]) == []  # a headwater has nothing upstream
    assert [f for f, _, _ in net.downstream(["x"])] == ["x_sea"]
    # steps and the seed each unit was reached from
    assert net.downstream(["b"])[1] == ("d", "b", 2)
    idx = net.index
    a = np.array([idx["a"], idx["b"], idx["d"], idx["x"], idx["c"], -1])
    b = np.array([idx["c"], idx["a"], idx["a"], idx["sea"], idx["c"], idx["c"]])
    assert net.upstream_or_same(a, b).tolist() == [True, False, False, False, True, False]
    assert dict(zip(net.fids, net.depth.tolist(), strict=True)) == {
        "a": 3, "b": 3, "c": 2, "d": 1, "sea": 0, "x": 1, "x_sea": 0}


def test_long_chain_depth_and_cycle_at_its_end() -> None:
    links = {f"u{i}": f"u{i + 1}" for i in range(999)} | {"u999": None}
    net = build_unit_network(units_frame(links))
    assert int(net.depth[net.index["u0"]]) == 999
    links["u999"] = "u500"  # the last 500 units now loop; the first 500 drain into the loop
    with pytest.raises(FlowNetworkError, match="cycle: Unit u500"):
        build_unit_network(units_frame(links))


def test_cycle_names_the_units_in_it() -> None:
    links = {"a": "b", "b": "c", "c": "a", "d": None}
    with pytest.raises(FlowNetworkError, match=r"cycle: Unit a \(a\) → Unit b \(b\) → Unit c "
                       r"\(c\) → Unit a \(a\)"):
        build_unit_network(units_frame(links))


def test_self_loop_and_dangling_link_are_refused() -> None:
    with pytest.raises(FlowNetworkError, match=r"cycle: Unit a \(a\) → Unit a \(a\)"):
        build_unit_network(units_frame({"a": "a"}))
    with pytest.raises(FlowNetworkError, match="next_down 'nowhere' names no catchment unit"):
        build_unit_network(units_frame({"a": "nowhere"}))


def test_split_refs() -> None:
    assert split_refs("a, b,,c ") == ["a", "b", "c"]
    assert split_refs(None) == [] and split_refs(float("nan")) == []


def chain_features() -> gpd.GeoDataFrame:
    """Intake on a river → plant → site; outfall → lake; sewer → WWTP → river; lonely outfall."""
    rows = [
        # fid, name, kind, aws_ref, flows_to, serves, geometry
        ("river_y", "Big River", "river", None, None, None,
         LineString([(120.0, 31.50), (120.2, 31.50)])),
        ("intake", "Big River intake", "water_source", None, "plant", None,
         Point(120.1, 31.5003)),                                   # ≈ 33 m from the river
        ("plant", "City Water Plant", "facility", None, None, "S1", Point(120.3, 31.3)),
        ("lake", "Small Lake", "lake", None, "river_z", None,
         box(120.505, 31.2, 120.51, 31.205)),
        ("river_z", "Small River", "river", None, None, None,
         LineString([(120.52, 31.21), (120.6, 31.21)])),
        ("dp_rain", "Rain outfall", "discharge_point", "S1", "lake", None, Point(120.501, 31.2)),
        ("dp_sewer", "Sewer", "discharge_point", "S1", "wwtp", None, Point(120.5, 31.201)),
        ("wwtp", "Town Sewage Treatment Plant", "facility", None, None, None,
         Point(120.55, 31.2105)),                                  # ≈ 55 m from river_z
        ("dp_lonely", "Lonely outfall", "discharge_point", "S1", None, None,
         Point(120.45, 31.1)),                                     # km from any water body
    ]
    return gpd.GeoDataFrame(
        {"fid": [r[0] for r in rows], "name": [r[1] for r in rows], "kind": [r[2] for r in rows],
         "layer": [r[2] + "s" for r in rows], "aws_ref": [r[3] for r in rows],
         "flows_to": [r[4] for r in rows], "serves": [r[5] for r in rows],
         "accuracy": "illustrative"},
        geometry=[r[6] for r in rows], crs="EPSG:4326")


def test_water_chain_explicit_inferred_and_gaps() -> None:
    graph = build_flow_graph(chain_features(), site_names={"S1": "Site one"},
                             inference_tolerance_m=1000.0)
    chain = water_chain(graph, "S1")
    order = chain.fids()
    assert order.index("river_y") < order.index("intake") < order.index("plant") < order.index("S1")
    assert order.index("S1") < order.index("dp_rain") < order.index("lake") < order.index("river_z")
    edges = {(e.source, e.target): e for e in chain.edges}
    assert edges[("intake", "plant")].how == "explicit"
    assert edges[("plant", "S1")].via == "serves"
    inferred = edges[("river_y", "intake")]
    # 33 m geodesic; the 20 km river edge is a straight chord in UTM, a few metres off the parallel
    assert inferred.how == "inferred" and inferred.distance_m == pytest.approx(33.3, abs=5.0)
    assert edges[("wwtp", "river_z")].how == "inferred"
    assert chain.node("plant").role == "water plant"
    assert chain.node("river_y").role == "ultimate water source"
    assert chain.node("wwtp").role == "wastewater treatment plant"
    assert chain.node("river_z").role == "ultimate receiving water body"
    assert chain.node("lake").role == "receiving water body"
    # the lonely outfall is a gap, not a guess
    assert ("dp_lonely", "river_z") not in edges and not any(
        e.source == "dp_lonely" for e in chain.edges)
    assert any(g.startswith("discharge point Lonely outfall (dp_lonely): no water body within "
                            "1000 m") for g in chain.gaps)
    lines = chain.lines()
    assert "Big River ⇢(29 m) Big River intake → City Water Plant → Site one" in lines


def test_wastewater_plant_serving_a_site_points_downstream() -> None:
    frame = chain_features()
    frame.loc[frame["fid"] == "dp_sewer", "flows_to"] = None
    frame.loc[frame["fid"] == "wwtp", "serves"] = "S1"
    graph = build_flow_graph(frame, site_names={"S1": "Site one"})
    chain = water_chain(graph, "S1")
    assert chain.node("wwtp").side == "discharge"
    assert any(e.source == "S1" and e.target == "wwtp" for e in chain.edges)


def test_flows_to_cycle_is_refused() -> None:
    frame = chain_features()
    frame.loc[frame["fid"] == "river_z", "flows_to"] = "lake"
    graph = build_flow_graph(frame, site_names={"S1": "Site one"})
    with pytest.raises(FlowNetworkError, match=r"water chain of S1 goes round in a cycle: "
                       r"Small Lake \(lake, layer lakes\) —flows_to→ Small River \(river_z, "
                       r"layer rivers\) —flows_to→ Small Lake .*fix the flows_to"):
        water_chain(graph, "S1")


def test_unknown_link_target_is_reported() -> None:
    frame = chain_features()
    frame.loc[frame["fid"] == "lake", "flows_to"] = "atlantis"
    graph = build_flow_graph(frame, site_names={"S1": "Site one"})
    chain = water_chain(graph, "S1")
    assert any("flows_to = 'atlantis' names no feature" in g for g in chain.gaps)


@pytest.mark.parametrize("link", [None, "river_y"], ids=["inferred", "flows_to"])
def test_discharge_back_into_the_source_river_is_downstream_not_a_cycle(link: str | None
                                                                        ) -> None:
    """A site taking water from a river and discharging into it again (common: the
    Wusong River serves and receives) has one river node, its ultimate source, which
    the discharge side flows back into."""
    frame = chain_features()
    frame.loc[frame["fid"] == "dp_lonely", "geometry"] = Point(120.15, 31.5004)  # ≈ 44 m
    frame.loc[frame["fid"] == "dp_lonely", "flows_to"] = link
    graph = build_flow_graph(frame, site_names={"S1": "Site one"}, inference_tolerance_m=1000.0)
    chain = water_chain(graph, "S1")
    assert chain.node("river_y").side == "supply"
    assert chain.node("river_y").role == "ultimate water source"
    assert [n.fid for n in chain.returns()] == ["river_y"]
    assert chain.discharge_nodes()[-1].fid == "river_y"
    edge = next(e for e in chain.edges if (e.source, e.target) == ("dp_lonely", "river_y"))
    assert edge.how == ("explicit" if link else "inferred")
    arrow = " → " if link else " ⇢(41 m) "
    assert f"Site one → Lonely outfall{arrow}Big River" in chain.lines()
    assert "Big River ⇢(29 m) Big River intake → City Water Plant → Site one" in chain.lines()
    assert not any("Lonely outfall" in g for g in chain.gaps)
    # the 1.1.1 discharge element sees the river as a receiving water body
    receivers = [n for n in chain.discharge_nodes() if n.kind == "river"]
    assert {n.fid for n in receivers} == {"river_y", "river_z"}


def test_cycle_below_the_site_is_named_even_with_a_way_out_of_it() -> None:
    """The left-over nodes of the sort include those downstream of a cycle (here the
    sea, first by id); the message names the cycle itself."""
    frame = chain_features()
    frame.loc[frame["fid"] == "river_z", "flows_to"] = "lake, a_sea"
    sea = gpd.GeoDataFrame({"fid": ["a_sea"], "name": ["East Sea"], "kind": ["lake"],
                            "layer": ["lakes"], "aws_ref": [None], "flows_to": [None],
                            "serves": [None], "accuracy": ["illustrative"]},
                           geometry=[box(121.0, 31.0, 121.5, 31.5)], crs="EPSG:4326")
    frame = gpd.GeoDataFrame(pd.concat([frame, sea], ignore_index=True), crs="EPSG:4326")
    graph = build_flow_graph(frame, site_names={"S1": "Site one"})
    with pytest.raises(FlowNetworkError, match=r"cycle: Small Lake \(lake, layer lakes\) "
                       r"—flows_to→ Small River \(river_z, layer rivers\) —flows_to→ Small Lake"):
        water_chain(graph, "S1")
