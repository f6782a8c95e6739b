"""Rasters.

Safe opening, colouring for display, zonal statistics, DEM conditioning and catchment
delineation.

May import: ``geo.core``.
"""

__all__: list[str] = []
