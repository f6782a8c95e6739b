"""Bringing a user's file in.

Sniffing the format, guarded reading from bytes, questions the file cannot answer,
repairs, and saving into a layer through the edit store.

May import: ``geo.core``, ``geo.store``.
"""

__all__: list[str] = []
