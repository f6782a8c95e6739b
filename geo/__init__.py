"""Catchscope: map a water-stewardship site inside its catchment (AWS Standard v2.0).

The library behind the ``catchscope`` CLI and the Streamlit app.  It never imports
Streamlit.  The short public surface:

>>> from geo import open_workspace
>>> ws = open_workspace()            # the bundled Jinxi demo workspace
>>> sites = ws.load("sites")         # EPSG:4326, standard columns
"""

from geo.catalogue import AwsElement, LayerKind, LayerSpec
from geo.errors import GeoError
from geo.records import SiteRecord
from geo.workspace import Workspace, open_workspace

__all__ = [
    "AwsElement",
    "GeoError",
    "LayerKind",
    "LayerSpec",
    "SiteRecord",
    "Workspace",
    "__version__",
    "open_workspace",
]

__version__ = "0.1.0"
