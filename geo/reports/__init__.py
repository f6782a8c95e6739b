"""AWS certification reports.

Text extraction, fact parsing, consistency checks, merging into a site record and the
review shown before a save.

May import: ``geo.core``.
"""

__all__: list[str] = []
