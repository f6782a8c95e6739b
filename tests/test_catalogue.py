"""The layer catalogue: TOML files validated into frozen models, bad files named."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from geo.core.catalogue import AwsElement, LayerKind, LayerSpec, load_catalogue, load_layer_spec
from geo.core.errors import CatalogueError, LayerNotFoundError
from geo.core.workspace import open_workspace
from tests.conftest import write_layer_toml

BASE = {"title": "Outfalls", "kind": "discharge_point", "source": "outfalls.geojson"}


def test_valid_file_loads_into_frozen_model(tmp_path: Path) -> None:
    path = write_layer_toml(tmp_path, "outfalls", evidences=["discharge"],
                            style={"color": "#8e44ad", "radius": 5}, **BASE)
    spec = load_layer_spec(path)
    assert spec.kind is LayerKind.DISCHARGE_POINT
    assert spec.evidences == (AwsElement.DISCHARGE,)
    assert spec.style.color == "#8e44ad"
    with pytest.raises(ValidationError):
        spec.title = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fields", "pattern"),
    [
        ({"kind": "outfall"},
         r"(?s)outfalls\.toml.*kind: 'outfall' is not allowed; allowed values are 'site'"
         r".*'discharge_point'"),
        ({"source": "../../etc/passwd"}, r"source.*inside the workspace's data/"),
        ({"source": "/vsicurl/http://x/y.tif"}, r"source.*relative path"),
        ({"evidences": ["pipes"]}, r"evidences\.0: 'pipes' is not allowed.*'infrastructure'"),
        ({"style": {"color": "reddish"}}, r"style\.color.*#rrggbb.*CSS colour name"),
        ({"style": {"dash": "4 2;"}}, r"style\.dash: dash must be numbers separated by spaces"),
        ({"colour": "#ffffff"}, r"colour: unknown field; known fields are: .*attribution"),
    ],
)
def test_bad_field_names_file_field_and_allowed(tmp_path: Path, fields: dict, pattern: str) -> None:
    write_layer_toml(tmp_path, "outfalls", **{**BASE, **fields})
    with pytest.raises(CatalogueError, match=pattern):
        load_layer_spec(tmp_path / "layers" / "outfalls.toml")


def test_missing_required_field(tmp_path: Path) -> None:
    write_layer_toml(tmp_path, "outfalls", title="x", kind="site")
    with pytest.raises(CatalogueError, match=r"source: this required field is missing"):
        load_layer_spec(tmp_path / "layers" / "outfalls.toml")


def test_id_must_match_file_name(tmp_path: Path) -> None:
    path = write_layer_toml(tmp_path, "outfalls", **BASE)
    path.rename(tmp_path / "layers" / "other.toml")
    with pytest.raises(CatalogueError, match=r"other\.toml: id 'outfalls' differs"):
        load_layer_spec(tmp_path / "layers" / "other.toml")


def test_not_toml(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("id = [unclosed\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"broken\.toml: not valid TOML"):
        load_layer_spec(tmp_path / "broken.toml")


def test_templates_starting_with_underscore_are_ignored(tmp_path: Path) -> None:
    write_layer_toml(tmp_path, "outfalls", **BASE)
    (tmp_path / "layers" / "_example.toml").write_text("not = 'a layer'\n", encoding="utf-8")
    assert list(load_catalogue(tmp_path / "layers")) == ["outfalls"]


def test_catalogue_in_drawing_order(tmp_path: Path) -> None:
    write_layer_toml(tmp_path, "top", title="t", kind="site", source="a.geojson", style={"z": 90})
    write_layer_toml(tmp_path, "bottom", title="b", kind="admin", source="b.geojson",
                     style={"z": 1})
    assert list(load_catalogue(tmp_path / "layers")) == ["bottom", "top"]


def test_unknown_layer_lists_known(make_workspace, three_parcels) -> None:
    root = make_workspace(layers={"sites": ("site", three_parcels, {})})
    ws = open_workspace(root)
    with pytest.raises(LayerNotFoundError, match=r"No layer 'rivers'.*Known layers: sites"):
        ws.spec("rivers")


def test_every_kind_has_a_loader() -> None:
    from geo.core.workspace import _LOADERS

    assert set(_LOADERS) == set(LayerKind)


def test_spec_model_rejects_bad_id() -> None:
    with pytest.raises(ValidationError, match="lower-case"):
        LayerSpec(id="Bad-Id", title="x", kind=LayerKind.SITE, source="a.geojson")
