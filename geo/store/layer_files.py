"""The catalogue side of the edit store (part of :mod:`geo.store.gpkg`).

A stored layer's ``layers/<id>.toml`` points at the store file; these helpers rewrite a
TOML's top-level keys when a layer moves into the store (keeping everything else) and
write layer files atomically, validated first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from pathlib import Path

from geo.core.catalogue import AwsElement, LayerKind, LayerSpec, load_layer_spec, toml_value
from geo.core.errors import CatalogueError, DataWriteError
from geo.core.workspace import Workspace

__all__ = ["DEFAULT_EVIDENCE", "STORE_FILE"]

#: The store's file name inside the workspace's ``data/`` folder.
STORE_FILE = "workspace.gpkg"

#: Which AWS 1.1.1 element a new layer of each kind evidences by default.
DEFAULT_EVIDENCE: dict[LayerKind, tuple[AwsElement, ...]] = {
    LayerKind.SITE: (AwsElement.SITE_BOUNDARIES,),
    LayerKind.FACILITY: (AwsElement.INFRASTRUCTURE,),
    LayerKind.PIPE: (AwsElement.INFRASTRUCTURE,),
    LayerKind.WATER_SOURCE: (AwsElement.OWNED_WATER_SOURCES,),
    LayerKind.DISCHARGE_POINT: (AwsElement.DISCHARGE,),
    LayerKind.CATCHMENT: (AwsElement.CATCHMENTS,),
    LayerKind.CATCHMENT_UNIT: (AwsElement.CATCHMENTS,),
}


# --- the catalogue side ----------------------------------------------------------------------

_STORE_KEYS = {
    "source": STORE_FILE,
    "layer": None,  # filled with the layer id
    "crs": "EPSG:4326",
    "datum": "wgs84",
    "id_field": "fid",
    "label_field": "name",
    "site_field": "aws_ref",
}


def _rewrite_top_level(text: str, values: dict[str, str]) -> str:
    """Set top-level ``key = "value"`` lines of a TOML text, keeping everything else."""
    lines = text.splitlines()
    first_table = next((i for i, line in enumerate(lines)
                        if re.match(r"^\s*\[", line)), len(lines))
    head, tail = lines[:first_table], lines[first_table:]
    pending = dict(values)
    for i, line in enumerate(head):
        match = re.match(r"^\s*([A-Za-z0-9_-]+)\s*=", line)
        if match and match.group(1) in pending:
            key = match.group(1)
            head[i] = f"{key} = {toml_value(pending.pop(key))}"
    while head and not head[-1].strip():
        head.pop()
    head += [f"{key} = {toml_value(value)}" for key, value in pending.items()]
    return "\n".join([*head, "", *tail] if tail else head) + "\n"


def _store_toml(ws: Workspace, spec: LayerSpec, *, source: str = STORE_FILE,
                where: str = f"the edit store ({STORE_FILE})") -> tuple[Path, str]:
    """The layer file of ``spec`` rewritten to point at the store (checked, not written).

    ``source`` is the store's ``source`` value, ``where`` names it in the first comment.
    """
    path = ws.layers_dir / f"{spec.id}.toml"
    keys = {**_STORE_KEYS, "source": source}
    values = {k: (spec.id if v is None else v) for k, v in keys.items()}
    old = path.read_text(encoding="utf-8")
    new = _rewrite_top_level(old, values)
    if not old.lstrip().startswith("#") or "moved into the edit store" not in old:
        new = (f"# Moved into {where} on "
               f"{dt.date.today().isoformat()}; it was read from {spec.source}.\n") + new
    _check_spec(path, new)
    return path, new


def _point_toml_at_store(ws: Workspace, spec: LayerSpec) -> None:
    path, text = _store_toml(ws, spec)
    _write_spec(path, text)
    ws.specs[spec.id] = load_layer_spec(path)


def _check_spec(path: Path, text: str) -> None:
    """Refuse a layer TOML text that would not load."""
    import tomllib

    from pydantic import ValidationError

    try:
        LayerSpec.model_validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValidationError) as err:
        raise CatalogueError(f"{path.name}: refusing to write an invalid layer file ({err}).") \
            from err


def _write_spec(path: Path, text: str) -> None:
    """Validate a layer TOML text, then write it atomically."""
    _check_spec(path, text)
    # Not geo.core.io.atomic_write_bytes: its temp name ends in .toml, and a leftover from a
    # killed process would then be read as a (broken) layer file by the catalogue.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(tmp, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise DataWriteError(f"Could not write {path}: {err}.") from err
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _restore_file(path: Path, content: bytes | None) -> None:
    """Put a file back as it was (``None``: it did not exist), atomically."""
    if content is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    with contextlib.suppress(FileNotFoundError):
        if path.read_bytes() == content:
            return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.restore")
    try:
        with open(tmp, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
