"""Shared fixtures: tiny workspaces built in code, the demo workspace, ../shared."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from geo.core.catalogue import toml_value
from geo.core.workspace import copy_workspace

# a throwaway PostGIS server (session) and a schema per test, started only when asked for
from tests.postgis_server import postgis_server, postgis_store  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

#: Values that must never run as HTML or JavaScript anywhere they are shown.
HOSTILE_VALUES = (
    "<img src=x onerror=alert(1)>",
    "`${alert(1)}`",
    "</script><script>alert(1)</script>",
    "\" onmouseover=\"alert(1)",
)


@pytest.fixture
def shared_dir() -> Path:
    """The read-only ../shared folder; tests using it skip on a user's machine without it."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present (only the project's CI and developers have it)")
    return SHARED


@pytest.fixture
def repo_root() -> Path:
    """The repository root, which is the bundled demo workspace."""
    return REPO


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    """A private copy of the demo workspace that tests may modify."""
    return copy_workspace(REPO, tmp_path / "demo")


def write_layer_toml(root: Path, layer_id: str, **fields: Any) -> Path:
    """Write ``layers/<layer_id>.toml`` with the given top-level fields."""
    lines = [f"id = {toml_value(layer_id)}"]
    style = fields.pop("style", None)
    for key, value in fields.items():
        lines.append(f"{key} = {toml_value(value)}")
    if style:
        lines.append("[style]")
        lines += [f"{key} = {toml_value(value)}" for key, value in style.items()]
    path = root / "layers" / f"{layer_id}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


MakeWorkspace = Callable[..., Path]


@pytest.fixture
def make_workspace(tmp_path: Path) -> MakeWorkspace:
    """Factory: ``make_workspace(layers={id: (kind, GeoDataFrame, {extra toml fields})},
    records=[SiteRecord...], settings="toml text")`` → workspace folder."""
    counter = {"n": 0}

    def make(
        layers: dict[str, tuple[str, gpd.GeoDataFrame, dict[str, Any]]] | None = None,
        records: list[Any] | None = None,
        settings: str | None = None,
    ) -> Path:
        from geo.core.records import save_record

        counter["n"] += 1
        root = tmp_path / f"ws{counter['n']}"
        (root / "layers").mkdir(parents=True)
        (root / "data" / "sites").mkdir(parents=True)
        for layer_id, (kind, frame, extra) in (layers or {}).items():
            source = extra.pop("source", f"{layer_id}.geojson")
            path = root / "data" / source
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                frame.to_file(path, layer=extra.get("layer"), engine="pyogrio")
            write_layer_toml(root, layer_id, title=layer_id.replace("_", " ").title(),
                             kind=kind, source=source, **extra)
        for record in records or []:
            save_record(root / "data", record)
        if settings is not None:
            (root / "catchscope.toml").write_text(settings, encoding="utf-8")
        return root

    return make


@pytest.fixture
def three_parcels() -> gpd.GeoDataFrame:
    """Three ~100 m squares of one site near Jinxi, Kunshan (WGS84)."""
    d = 0.001
    return gpd.GeoDataFrame(
        {
            "fid": ["p1", "p2", "p3"],
            "name": ["Block A", "Block B", "Block C"],
            "aws_ref": ["AWS-000001"] * 3,
            "accuracy": ["surveyed"] * 3,
            "source": ["test survey"] * 3,
        },
        geometry=[box(120.95, 31.18, 120.95 + d, 31.18 + d),
                  box(120.95 + d, 31.18, 120.95 + 2 * d, 31.18 + d),
                  box(120.95, 31.18 + 2 * d, 120.95 + d, 31.18 + 3 * d)],
        crs="EPSG:4326",
    )


@pytest.fixture
def outfalls() -> gpd.GeoDataFrame:
    """Two discharge points on the edge of the parcels (WGS84)."""
    return gpd.GeoDataFrame(
        {
            "fid": ["dp1", "dp2"],
            "name": ["Rainwater outfall", "Sewer connection"],
            "aws_ref": ["AWS-000001"] * 2,
            "accuracy": ["surveyed"] * 2,
            "source": ["test survey"] * 2,
        },
        geometry=[Point(120.9505, 31.1805), Point(120.9515, 31.1805)],
        crs="EPSG:4326",
    )
