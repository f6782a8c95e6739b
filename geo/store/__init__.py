"""The edit store.

Layers imported or drawn by users, with versions and history: in ``data/workspace.gpkg``
(``gpkg``, the default) or in a shared PostGIS database (``postgis``, chosen by ``store``
in ``catchscope.toml``), behind one interface (``interface``) that callers reach through
``edits``; rewriting a migrated layer's ``layers/<id>.toml`` (``layer_files``).

May import: ``geo.core``.
"""

__all__: list[str] = []
