"""The ``catchscope`` command line.

Subcommands that call the same library functions as the app.

May import: every other package of ``geo``.
"""

__all__: list[str] = []
