"""The portfolio engines give the same rows: reference, columnar (GeoParquet in part), dask.

Row by row on a synthetic portfolio of a few hundred sites (tests/portfolio_fixtures.py)
and on the demo workspace with its units and IWRAs converted to GeoParquet.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo.core.errors import FlowNetworkError
from geo.core.workspace import copy_workspace, default_workspace_path, open_workspace
from geo.scope.columnar import load_portfolio_scene
from geo.scope.flows import UnitTails, water_chain
from geo.scope.portfolio import NOT_ASSESSED, assess_all
from geo.scope.scene import load_scene
from tests.portfolio_fixtures import build_portfolio


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_portfolio(tmp_path_factory.mktemp("engines") / "ws")


@pytest.fixture(scope="module")
def reference(portfolio: Path) -> pd.DataFrame:
    return assess_all(portfolio, engine="reference")


def assert_same_rows(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    """Equal tables; on failure, the first differing rows and columns, named."""
    assert list(got.columns) == list(expected.columns)
    assert got["aws_ref"].tolist() == expected["aws_ref"].tolist()
    left, right = expected.astype(object), got.astype(object)
    differ = ~((left == right) | (left.isna() & right.isna()))
    rows = differ.any(axis=1)
    shown = [f"{expected.loc[i, 'aws_ref']}: " + ", ".join(
        f"{c} {left.loc[i, c]!r} vs {right.loc[i, c]!r}" for c in differ.columns[differ.loc[i]])
        for i in np.flatnonzero(rows)[:5]]
    assert not rows.any(), f"{int(rows.sum())} row(s) differ: " + "; ".join(shown)
    pd.testing.assert_frame_equal(got, expected)


def test_the_synthetic_portfolio_has_every_case(reference: pd.DataFrame) -> None:
    # the comparison below is only worth something if the table is not trivial
    rows = reference.set_index("aws_ref")
    assert len(rows) == 241
    # the lake ↔ river loop, and sites whose outfall is inferred into the river their own
    # intake draws from (the chain engine calls that a cycle too)
    assert 1 <= (rows["checklist"] == NOT_ASSESSED).sum() <= 10
    assert "goes round in a cycle: Loop Lake" in rows.loc["AWS-500008", "problem"]
    assert rows.loc["AWS-599999", "problem"] == "no parcels mapped"
    assert (rows["single_catchment"] == "no").sum() > 20                    # straddlers
    assert rows["catchment_unit"].str.contains(", ").sum() > 20
    assert rows["iwras_within_1km"].gt(0).sum() > 50
    assert rows["iwras_onsite"].gt(0).sum() > 5
    assert rows["chain_gaps"].gt(0).sum() > 20
    assert rows["checklist"].nunique() >= 4


def test_columnar_engine_gives_the_reference_rows(portfolio: Path,
                                                   reference: pd.DataFrame) -> None:
    assert_same_rows(reference, assess_all(portfolio, engine="columnar"))


def test_columnar_engine_reads_big_layers_in_part(portfolio: Path) -> None:
    ws = open_workspace(portfolio)
    scene = load_portfolio_scene(ws, None).scene
    units = scene.units[scene.units["level"] == "section"]
    read = ~units.geometry.is_empty
    assert len(units) == 1280                       # every unit is there, for the network
    assert 0 < read.sum() < len(units) * 0.6       # geometry only near parcels and chains
    assert scene.graph.network is not None and len(scene.graph.network) == 1280
    # IWRAs: all of the small GeoJSON layer, the GeoParquet ones near the sites only
    assert scene.iwras["layer"].value_counts()["iwras_small"] == 100
    assert len(scene.iwras) <= 1500


def test_shared_unit_tails_give_each_site_its_reference_chain(portfolio: Path) -> None:
    ws = open_workspace(portfolio)
    full = load_scene(ws, None, None)
    part = load_portfolio_scene(ws, None).scene
    assert UnitTails.applies(part.graph)
    tails = UnitTails(part.graph)
    long_tail = 0
    for ref in sorted(full.site_names)[:120]:
        try:
            expected = water_chain(full.graph, ref)
        except FlowNetworkError as err:             # a cycle: the tails refuse it alike
            with pytest.raises(FlowNetworkError, match=re.escape(str(err))):
                water_chain(part.graph, ref, tails=tails)
            continue
        got = water_chain(part.graph, ref, tails=tails)
        assert {n.fid: n for n in got.nodes} == {n.fid: n for n in expected.nodes}, ref
        assert {(e.source, e.target): e for e in got.edges} == {
            (e.source, e.target): e for e in expected.edges}, ref
        assert got.gaps == expected.gaps, ref
        # the head of the chain (everything above the first unit) keeps its order
        head = [n.fid for n in expected.nodes if n.kind != "catchment_unit"]
        assert [n.fid for n in got.nodes if n.kind != "catchment_unit"] == head
        long_tail = max(long_tail, sum(n.kind == "catchment_unit" for n in got.nodes))
    assert long_tail >= 20                          # some chains do walk the units far


def _demo_in_parquet(root: Path) -> Path:
    """A copy of the demo whose catchment units and IWRAs are GeoParquet (by the CLI)."""
    from tests.test_scope import run_cli

    copy = copy_workspace(default_workspace_path(), root)
    before = (copy / "layers" / "catchment_units.toml").read_text(encoding="utf-8")
    result = run_cli("to-geoparquet", "catchment_units", "-w", str(copy))
    assert result.exit_code == 0, result.output
    assert "catchment_units.parquet" in result.output and "is kept" in result.output
    after = (copy / "layers" / "catchment_units.toml").read_text(encoding="utf-8")
    assert 'source = "reference/catchment_units.parquet"' in after
    assert "\nlayer =" not in after and after.count("#") == before.count("#")  # comments kept
    result = run_cli("to-geoparquet", "iwras", "--partitions", "2", "-w", str(copy))
    assert result.exit_code == 0, result.output
    assert len(list((copy / "data" / "demo" / "iwras.parquet").iterdir())) == 2
    # refused: a raster, a second time, a layer of the edit store
    assert "is a raster" in run_cli("to-geoparquet", "dem_sample", "-w", str(copy)).output
    again = run_cli("to-geoparquet", "iwras", "-w", str(copy))
    assert again.exit_code == 1 and "GeoParquet already" in again.output
    return copy


def test_demo_workspace_rows_agree_across_engines_and_formats(tmp_path: Path) -> None:
    expected = assess_all(None, engine="reference")
    assert len(expected) >= 2 and set(expected["aws_ref"]) >= {"AWS-000521", "AWS-000522"}
    assert_same_rows(expected, assess_all(None, engine="columnar"))
    converted = _demo_in_parquet(tmp_path / "demo")
    ws = open_workspace(converted)
    assert ws.source_path(ws.spec("catchment_units")).suffix == ".parquet"
    assert len(load_portfolio_scene(ws, None).scene.units) == len(ws.load("catchment_units"))
    assert_same_rows(expected, assess_all(converted, engine="columnar"))
    assert_same_rows(expected, assess_all(converted, engine="reference"))


def test_unknown_engine_and_scheduler_without_dask_are_refused(portfolio: Path) -> None:
    from geo.core.errors import ScopeError

    with pytest.raises(ScopeError, match=r"Unknown portfolio engine 'spark'; use one of "
                                         r"columnar, dask, reference"):
        assess_all(portfolio, engine="spark")
    with pytest.raises(ScopeError, match="scheduler address is for the dask engine"):
        assess_all(portfolio, engine="columnar", scheduler="tcp://127.0.0.1:1")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A dask.distributed LocalCluster of two worker processes, for this module's tests."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=logging.ERROR) as local:
        yield local.scheduler_address


def test_dask_engine_gives_the_reference_rows(portfolio: Path, reference: pd.DataFrame,
                                              cluster: str) -> None:
    ws = open_workspace(portfolio)
    assert ws.source_path(ws.spec("units")).is_dir()           # partitioned GeoParquet
    assert len(list(ws.source_path(ws.spec("iwras")).iterdir())) == 3
    assert_same_rows(reference, assess_all(portfolio, engine="dask", scheduler=cluster))


def test_cli_scope_all_on_its_own_local_cluster_writes_the_same_csv(portfolio: Path,
                                                                     tmp_path: Path) -> None:
    from tests.test_scope import run_cli

    single, spread = tmp_path / "columnar.csv", tmp_path / "dask.csv"
    assert run_cli("scope", "--all", "--csv", str(single), "-w", str(portfolio)).exit_code == 1
    # no --scheduler: the command starts (and stops) a LocalCluster of its own
    result = run_cli("scope", "--all", "--engine", "dask", "--csv", str(spread),
                     "-w", str(portfolio))
    assert result.exit_code == 1, result.output  # 1: the sites whose chains go round
    assert "could not be assessed" in result.output and "Traceback" not in result.output
    assert spread.read_bytes() == single.read_bytes()


def test_unreachable_scheduler_and_misplaced_options_are_refused(portfolio: Path) -> None:
    import dask

    from tests.test_scope import run_cli

    with dask.config.set({"catchscope.scheduler-timeout": "1s"}):
        result = run_cli("scope", "--all", "--engine", "dask", "--scheduler",
                         "tcp://127.0.0.1:9", "-w", str(portfolio))
    assert result.exit_code == 1 and "Cannot reach the dask scheduler at tcp://127.0.0.1:9" \
        in " ".join(result.output.split())
    result = run_cli("scope", "AWS-500001", "--engine", "dask", "-w", str(portfolio))
    assert result.exit_code == 1 and "use them with --all" in result.output
    result = run_cli("scope", "--all", "--scheduler", "tcp://127.0.0.1:9", "-w", str(portfolio))
    assert result.exit_code == 1 and "add --engine dask" in result.output


def test_a_link_out_of_a_unit_makes_the_engine_walk_unit_by_unit(tmp_path: Path) -> None:
    from tests.test_scope import RECORD, RECORD2, build_workspace, layers

    ws_layers = layers()
    kind, sources, extra = ws_layers["sources"]
    ws_layers["sources"] = (kind, sources.assign(water_body="u_x"), extra)  # unit → intake
    root = build_workspace(tmp_path / "ws", ws_layers, [RECORD, RECORD2])
    scene = load_portfolio_scene(open_workspace(root), None).scene
    assert not UnitTails.applies(scene.graph)
    assert_same_rows(assess_all(root, engine="reference"), assess_all(root, engine="columnar"))
