"""Catchscope: map a water-stewardship site inside its catchment (AWS Standard v2.0).

The library behind the ``catchscope`` CLI and the Streamlit app.  It never imports
Streamlit.  The short public surface:

>>> from geo import assess_site, open_workspace
>>> ws = open_workspace()            # the bundled Jinxi demo workspace
>>> sites = ws.load("sites")         # EPSG:4326, standard columns
>>> scope = assess_site(ws, "AWS-000521")   # the 1.1.1 scoping of one site

The stage packages below (``geo.core`` … ``geo.cli``, see DESIGN.md) hold the rest; the
heavier names here are imported on first use, so ``import geo`` stays quick.
"""

from importlib import import_module
from typing import Any

from geo.core import __version__
from geo.core.catalogue import AwsElement, LayerKind, LayerSpec
from geo.core.errors import GeoError
from geo.core.records import SiteRecord
from geo.core.workspace import Workspace, open_workspace

#: Public names defined further down the pipeline, imported when first asked for.
_LAZY = {
    "assess_site": "geo.scope.assess",
    "assess_all": "geo.scope.portfolio",
    "collect_export": ("geo.export.site", "collect"),
    "render_export": ("geo.export.site", "render"),
}

__all__ = [
    "AwsElement",
    "GeoError",
    "LayerKind",
    "LayerSpec",
    "SiteRecord",
    "Workspace",
    "__version__",
    "assess_all",
    "assess_site",
    "collect_export",
    "open_workspace",
    "render_export",
]


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'geo' has no attribute {name!r}")
    module, attr = where if isinstance(where, tuple) else (where, name)
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value
