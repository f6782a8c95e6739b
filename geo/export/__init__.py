"""Exports of a site's physical scope for stakeholders.

GeoJSON, GeoPackage, KML/KMZ, CSV, standalone HTML, the printed map sheet (PDF/PNG) and
the bundle, with redaction.

May import: ``geo.core``, ``geo.raster``, ``geo.scope``, ``geo.maps``.
"""

__all__: list[str] = []
