"""Web maps.

Prepared layers (clipped, simplified, escaped), the folium map, raster overlays and the
vendored Leaflet assets in ``static/`` (offline).

May import: ``geo.core``, ``geo.raster``, ``geo.scope``.
"""

__all__: list[str] = []
