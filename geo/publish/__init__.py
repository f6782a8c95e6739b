"""Publishing a workspace for stakeholders: a live OGC API – Features service, a static site.

``serve-features`` runs pygeoapi (its Flask app under waitress) over the workspace through
our provider (:mod:`geo.publish.provider`), with a config generated from the catalogue
(:mod:`geo.publish.config`); :mod:`geo.publish.service` starts it.  ``publish`` writes a
static folder of redacted downloads and an index of sites (:mod:`geo.publish.static`).

May import: ``geo.core``, ``geo.raster``, ``geo.scope``, ``geo.maps``, ``geo.export``.
"""

__all__: list[str] = []
