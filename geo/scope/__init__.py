"""The assessment of a site.

The scene, the unit network and water chain, IWRA screening, the 1.1.1 checklist,
0.1.1.1, the portfolio of all sites (reference, columnar and dask engines: ``portfolio``,
``columnar``, ``distributed``, with ``summary`` building their rows and ``screening``
counting IWRAs per band) and the scope report.

May import: ``geo.core``, ``geo.raster`` (zonal statistics in the report).
"""

__all__: list[str] = []
