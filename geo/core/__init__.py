"""The ground floor of the pipeline.

Errors, CRS and datums, the layer catalogue and the grammar of its style values
(``styles``), escaping per output context (``markup``), the interface's translations
(``i18n``, catalogues in ``locale/``), file I/O, site records, the
workspace and its validation (``catchscope check``), and the read side of a shared PostGIS
edit store (``postgis``: the setting, masked passwords, the layers it holds).

May import: nothing else of ``geo`` (the standard library and third-party packages only).
"""

__all__ = ["__version__"]

#: The package version, written into every export (one place; ``geo.__version__`` too).
__version__ = "0.1.0"
