"""Several layers and files saved together, all or nothing (geo.store.batch)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from geo.core.catalogue import LayerKind
from geo.core.check import init_workspace
from geo.core.errors import CatalogueError, DataWriteError
from geo.core.workspace import Workspace, open_workspace
from geo.store import batch
from geo.store.batch import Addition, FileWrite, save_together
from geo.store.gpkg import history, save_layer


def _tree(root: Path) -> dict[str, str]:
    """Every file of a workspace and its hash (folders too): byte-identical or not."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest()
                                       if p.is_file() else "dir")
            for p in sorted(root.rglob("*"))}


def _points(*fids: str, name: str = "x", value: object = 1) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"fid": list(fids), "name": [name] * len(fids),
                             "value": [value] * len(fids)},
                            geometry=[shapely.Point(10 + k / 100, 47) for k in range(len(fids))],
                            crs="EPSG:4326")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return open_workspace(init_workspace(tmp_path / "ws"))


def test_layers_and_files_are_saved_in_one_step(ws: Workspace, tmp_path: Path) -> None:
    record = ws.root / "data" / "notes" / "note.json"
    results = save_together(ws, [
        Addition("outfalls", LayerKind.DISCHARGE_POINT, "Outfalls", _points("o1", "o2")),
        Addition("intakes", LayerKind.WATER_SOURCE, "Intakes", _points("i1")),
    ], files=[FileWrite(record, b'{"a": 1}\n', None)], action="new-site", summary="test")
    assert [(r.layer_id, r.n_features) for r in results] == [("outfalls", 2), ("intakes", 1)]
    assert json.loads(record.read_text()) == {"a": 1}
    again = open_workspace(ws.root)
    assert again.spec("outfalls").kind is LayerKind.DISCHARGE_POINT
    assert [h.action for h in history(again, "intakes")] == ["create", "new-site"]
    info = subprocess.run(["ogrinfo", "-so", "-al", str(ws.root / "data" / "workspace.gpkg")],
                          capture_output=True, text=True, check=True).stdout
    assert "Layer name: outfalls" in info and "Feature Count: 2" in info
    assert "Layer name: intakes" in info and "Feature Count: 1" in info


def test_an_existing_layer_keeps_its_features_and_gains_the_new(ws: Workspace) -> None:
    save_layer(ws, "outfalls", _points("o1"), base_version=0,
               new_kind=LayerKind.DISCHARGE_POINT)
    save_together(ws, [Addition("outfalls", LayerKind.DISCHARGE_POINT, "Outfalls",
                                _points("o2", "o3"))])
    assert sorted(open_workspace(ws.root).load("outfalls")["fid"]) == ["o1", "o2", "o3"]


def test_a_layer_in_its_own_file_moves_into_the_store(ws: Workspace) -> None:
    (ws.root / "data" / "own").mkdir(parents=True)
    _points("p1").to_file(ws.root / "data" / "own" / "sites.geojson", driver="GeoJSON",
                          engine="pyogrio")
    (ws.layers_dir / "sites.toml").write_text(
        'id = "sites"\ntitle = "Sites"\nkind = "site"\nsource = "own/sites.geojson"\n',
        encoding="utf-8")
    ws = open_workspace(ws.root)
    result = save_together(ws, [Addition("sites", LayerKind.SITE, "Sites", _points("p2"))])[0]
    assert result.migrated_from == "own/sites.geojson"
    again = open_workspace(ws.root)
    assert again.spec("sites").source == "workspace.gpkg"
    assert sorted(again.load("sites")["fid"]) == ["p1", "p2"]


@pytest.mark.parametrize("failure", ["value", "fid", "kind", "expected", "late"])
def test_any_failure_leaves_the_workspace_byte_identical(ws: Workspace, failure: str,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    save_layer(ws, "outfalls", _points("o1"), base_version=0,
               new_kind=LayerKind.DISCHARGE_POINT)
    record = ws.root / "data" / "sites" / "AWS-000001.json"
    before = _tree(ws.root)
    additions = [Addition("intakes", LayerKind.WATER_SOURCE, "Intakes", _points("i1")),
                 Addition("outfalls", LayerKind.DISCHARGE_POINT, "Outfalls", _points("o2"))]
    files = [FileWrite(record, b"{}\n", None)]
    expected: type[Exception] = DataWriteError
    if failure == "value":
        additions[1] = Addition("outfalls", LayerKind.DISCHARGE_POINT, "Outfalls",
                                _points("o2", value=float("inf")))
    elif failure == "fid":
        additions[1] = Addition("outfalls", LayerKind.DISCHARGE_POINT, "Outfalls",
                                _points("o1"))
    elif failure == "kind":
        additions[1] = Addition("outfalls", LayerKind.SITE, "Outfalls", _points("o2"))
        expected = CatalogueError
    elif failure == "expected":
        files = [FileWrite(record, b"{}\n", b"something else\n")]
    else:  # the store committed, then writing the record fails (a full disk, a bug)
        def broken(*args: object, **kwargs: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(batch, "atomic_write_bytes", broken)
    with pytest.raises(expected):
        save_together(ws, additions, files=files)
    assert _tree(ws.root) == before
    assert "intakes" not in open_workspace(ws.root).specs


def test_a_file_outside_the_workspace_is_refused(ws: Workspace, tmp_path: Path) -> None:
    before = _tree(ws.root)
    with pytest.raises(DataWriteError, match="not inside the workspace"):
        save_together(ws, [Addition("intakes", LayerKind.WATER_SOURCE, "Intakes",
                                    _points("i1"))],
                      files=[FileWrite(tmp_path / "elsewhere.json", b"{}", None)])
    assert _tree(ws.root) == before and not (tmp_path / "elsewhere.json").exists()


def test_a_shared_postgis_store_is_refused_before_anything_is_written(ws: Workspace) -> None:
    import dataclasses

    shared = dataclasses.replace(ws, store=object())
    before = _tree(ws.root)
    with pytest.raises(DataWriteError, match="shared PostGIS"):
        save_together(shared, [Addition("intakes", LayerKind.WATER_SOURCE, "Intakes",
                                        _points("i1"))])
    assert _tree(ws.root) == before
