"""The edit store.

Layers imported or drawn by users, with versions and history, in
``data/workspace.gpkg``; rewriting a migrated layer's ``layers/<id>.toml``.

May import: ``geo.core``.
"""

__all__: list[str] = []
