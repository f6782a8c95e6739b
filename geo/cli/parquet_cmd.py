"""``catchscope to-geoparquet LAYER``: a big reference layer as Hilbert-sorted GeoParquet.

A catalogue layer's data file (catchment units, IWRAs, …, in any vector format) is
written as GeoParquet beside it — Hilbert-sorted, GeoParquet 1.1 bbox columns, row
groups of 50,000 features, optionally a folder of ``--partitions`` parts for the dask
engine — and its ``layers/<id>.toml`` points at it (comments kept).  The old file stays
where it was.  The portfolio (``catchscope scope --all``) then reads such a layer in
part; everything else reads it whole, as before.  Layers in the edit store (edited in
the app, with history) stay there.
"""

from __future__ import annotations

from pathlib import Path

import tomlkit
from rich.console import Console

from geo.core.catalogue import load_catalogue
from geo.core.errors import CatalogueError, DataWriteError
from geo.core.geoparquet import DEFAULT_ROW_GROUP_SIZE, is_parquet_path, write_geoparquet
from geo.core.io import atomic_write_bytes, read_layer
from geo.core.workspace import open_workspace

__all__ = ["convert_to_geoparquet"]

_STORE_FILES = ("workspace.gpkg",)


def convert_to_geoparquet(console: Console, *, layer_id: str, workspace: Path | None,
                          partitions: int | None = None,
                          row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
                          overwrite: bool = False) -> Path:
    """Write the layer as GeoParquet and point its layer file at it; the new data path.

    Raises
    ------
    GeoError
        For a raster, a layer of the edit store, an existing target without
        ``overwrite``, or a layer file the catalogue would no longer accept.
    """
    ws = open_workspace(workspace)
    spec = ws.spec(layer_id)
    if spec.is_raster:
        raise CatalogueError(f"Layer {layer_id!r} is a raster; GeoParquet holds vector layers.")
    source = ws.source_path(spec) if ":" not in spec.source else None
    if source is None or source.name in _STORE_FILES:
        raise CatalogueError(
            f"Layer {layer_id!r} lives in the edit store (edits and their history); "
            "GeoParquet is for big reference layers that are not edited in the app.")
    if is_parquet_path(source):
        raise CatalogueError(f"Layer {layer_id!r} is GeoParquet already ({spec.source}).")
    if partitions is not None and partitions < 1:
        raise CatalogueError("--partitions must be at least 1.")
    target_name = str(Path(spec.source).with_suffix(".parquet"))
    target = ws.data_dir / target_name
    if target.exists() and not overwrite:
        raise DataWriteError(f"{target} already exists; pass --overwrite to replace it.")
    frame = read_layer(source, layer=spec.layer)
    if frame.crs is None and spec.crs:
        frame = frame.set_crs(spec.crs)
    toml_path = ws.layers_dir / f"{layer_id}.toml"
    document = tomlkit.parse(toml_path.read_text(encoding="utf-8"))
    document["source"] = target_name
    if "layer" in document:
        del document["layer"]
    text = tomlkit.dumps(document)
    _check_catalogue(ws.layers_dir, layer_id, text)
    write_geoparquet(frame, target, partitions=partitions, row_group_size=row_group_size,
                     overwrite=overwrite)
    atomic_write_bytes(toml_path, text.encode("utf-8"), overwrite=True)
    loaded = open_workspace(ws.root).load(layer_id)
    console.print(f"Wrote {target} ({len(frame):,} features, Hilbert-sorted"
                  + (f", {partitions} parts" if partitions else "") + f"); layers/{layer_id}"
                  f".toml now reads it ({len(loaded):,} features). {spec.source} is kept.",
                  markup=False, highlight=False)
    return target


def _check_catalogue(layers: Path, layer_id: str, text: str) -> None:
    """The rewritten layer file must still load, before anything is written."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "layers"
        shutil.copytree(layers, copy)
        (copy / f"{layer_id}.toml").write_text(text, encoding="utf-8")
        load_catalogue(copy)
