"""The pygeoapi configuration of a workspace, generated from its catalogue (one source of truth).

Every collection's title, description, keywords, licence, attribution and extent comes
from ``layers/*.toml`` (and, for a site's collections, from its record and export); the
server's name and description from ``catchscope.toml``.  Nothing is written into the
workspace: :func:`write_config` writes the YAML into a folder the caller owns (a
temporary one).

The values are data.  pygeoapi reads its YAML with a loader that replaces ``${NAME}``
in plain scalars with the environment variable ``NAME``, so a title such as
``${HOME}`` would leak the server's environment into the landing page: every string is
written double-quoted (quoted scalars are never interpolated).  pygeoapi's HTML
templates autoescape; the two that embed data in a script are overridden in
``geo/publish/templates`` (see the README there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from geo.core import __version__
from geo.core.catalogue import AWS_ELEMENTS, LayerKind, LayerSpec
from geo.export.exportset import Redaction
from geo.export.redact import REDACTION_GRID_M
from geo.publish.sources import Collection, Part, WorkspaceSource

__all__ = ["CRS", "DEFAULT_ITEMS", "MAX_ITEMS", "TEMPLATES", "pygeoapi_config", "write_yaml"]

#: Features per page when a request names no limit, and the most a request gets.
DEFAULT_ITEMS = 10
MAX_ITEMS = 10_000
#: Our overrides of pygeoapi's templates (searched before pygeoapi's own).
TEMPLATES = Path(__file__).resolve().parent / "templates"
PROVIDER = "geo.publish.provider.WorkspaceProvider"
_CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_WORLD = (-180.0, -90.0, 180.0, 90.0)
#: What ``crs=`` may ask for (OGC API – Features Part 2); features are stored in CRS84.
CRS = (_CRS84, "http://www.opengis.net/def/crs/EPSG/0/4326",
       "http://www.opengis.net/def/crs/EPSG/0/3857")


def pygeoapi_config(source: WorkspaceSource, *, url: str, host: str, port: int) -> dict[str, Any]:
    """The whole pygeoapi config of ``source``'s workspace, served at ``url``."""
    ws = source.workspace()
    collections = source.collections()
    resources = {c.id: _resource(source, c) for c in collections}
    return {
        "server": {
            "bind": {"host": host, "port": port},
            "url": url,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "language": "en-US",
            "cors": False,
            "pretty_print": False,
            "gzip": False,
            "limits": {"default_items": DEFAULT_ITEMS, "max_items": MAX_ITEMS,
                       "on_exceed": "throttle"},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                    "attribution": "&copy; OpenStreetMap contributors"},
            "templates": {"path": str(TEMPLATES)},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": f"{ws.settings.name} (Catchscope)",
                "description": _service_description(source),
                "keywords": ["AWS Standard v2.0", "AWS 1.1.1", "physical scope", "catchment",
                             "water stewardship"],
                "keywords_type": "theme",
                "terms_of_service": "Each collection states its own licence and attribution.",
                "url": url,
            },
            "license": {"name": "See each collection's licence",
                        "url": f"{url}/collections?f=html"},
            "provider": {"name": f"Catchscope {__version__}"},
            "contact": {"name": "The publisher of this workspace"},
        },
        "resources": resources,
    }


def _redaction_text(redaction: Redaction) -> str:
    km = REDACTION_GRID_M / 1000
    if redaction is Redaction.DROP_SENSITIVE:
        return ("Public copy: water intakes and outfalls are left out, and pipes lose every "
                f"part within {km:g} km of them.")
    return (f"Public copy: water intakes and outfalls are coarsened to the centre of their "
            f"{km:g} km grid cell, and pipes lose every part within {km:g} km of them.")


def _service_description(source: WorkspaceSource) -> str:
    ws = source.workspace()
    text = (ws.settings.description or "Water-stewardship sites (AWS Standard v2.0) in their "
            "catchment: one collection per layer, and per site its physical scope (1.1.1), "
            "its record and its checklist.")
    if source.redaction is not None:
        text += " " + _redaction_text(source.redaction)
    else:
        text += " Unredacted: true positions of water intakes and outfalls (this machine only)."
    return text


def _keywords(spec: LayerSpec) -> list[str]:
    words = [spec.kind.value]
    if spec.evidences:
        words.append("AWS 1.1.1")
        words += [f"AWS 1.1.1: {AWS_ELEMENTS[e]}" for e in spec.evidences]
    if spec.kind is LayerKind.IWRA:
        words += ["AWS 1.3.6", "AWS 1.5.5", "IWRA"]
    return words


def _resource(source: WorkspaceSource, collection: Collection) -> dict[str, Any]:
    ws = source.workspace()
    if collection.part is Part.LAYER:
        spec = ws.spec(collection.key)
        title, keywords = spec.title, _keywords(spec)
        parts = [spec.description]
        if spec.attribution:
            parts.append(f"Attribution: {spec.attribution}.")
        if spec.licence:
            parts.append(f"Licence: {spec.licence}.")
        if spec.source_date:
            parts.append(f"Source date: {spec.source_date}.")
        redacts = spec.kind.value in ("water_source", "discharge_point", "pipe")
        frame = source.frame(collection)
    else:
        data = source.export_set(collection.key)
        site = data.title
        title, parts, keywords, redacts, frame = {
            Part.SCOPE: (f"{site}: physical scope",
                         ["Every feature relevant to the site's physical scope (AWS 1.1.1), "
                          "with its role and the 1.1.1 element it evidences."],
                         ["AWS 1.1.1", "AWS 1.3.6", "AWS 1.5.5", "physical scope"], True,
                         data.features),
            Part.RECORD: (f"{site}: site record",
                          ["The certification record of the site (no geometry)."],
                          ["AWS Standard v2.0", "certification"], False, data.features),
            Part.CHECKLIST: (f"{site}: 1.1.1 checklist",
                             ["The AWS 1.1.1 checklist (six elements) and the 0.1.1.1 "
                              "one-catchment check, with evidence (no geometry)."],
                             ["AWS 1.1.1", "AWS 0.1.1.1", "checklist"], False, data.features),
        }[collection.part]
        keywords = [*keywords, collection.key]
        licences = sorted({s.licence for s in data.specs if s.licence})
        if licences:
            parts.append("Licences of the layers used: " + "; ".join(licences) + ".")
    if source.redaction is not None and redacts:
        parts.append(_redaction_text(source.redaction))
    provider: dict[str, Any] = {
        "type": "feature", "name": PROVIDER, "data": str(source.root), "id_field": "fid",
        "crs": list(CRS), "storage_crs": _CRS84,
        "options": {"part": collection.part.value, "key": collection.key,
                    "redaction": source.redaction.value if source.redaction else ""},
    }
    if collection.part in (Part.LAYER, Part.SCOPE):
        provider["title_field"] = "name"
    return {
        "type": "collection",
        "title": title,
        "description": " ".join(p for p in parts if p),
        "keywords": keywords,
        "links": [],
        "extents": {"spatial": {"bbox": _bbox(frame), "crs": _CRS84}},
        "providers": [provider],
    }


def _bbox(frame: Any) -> list[float]:
    geometry = frame.geometry
    present = geometry[geometry.notna() & ~geometry.is_empty]
    if present.empty:
        return list(_WORLD)
    return [round(float(v), 6) for v in present.total_bounds]


def write_yaml(value: Any, path: Path) -> Path:
    """Write ``value`` as YAML with every string double-quoted (see the module docstring)."""
    path.write_text(yaml.safe_dump(value, default_style='"', allow_unicode=True, sort_keys=False,
                                   width=10_000), encoding="utf-8")
    return path
