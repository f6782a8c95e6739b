"""The one root of every Catchscope error and warning.

Every exception the library raises on purpose descends from :class:`GeoError` and,
where it fits, from the builtin a caller would naturally catch (``ValueError``,
``OSError``, ``LookupError``).  Its ``str()`` is a message for a person: what was
wrong, where (file, layer, feature, field) and what to do.  ``app.py`` and the CLI
catch ``GeoError`` in one place and show that message; a traceback reaching a user
is a bug.

Warnings are classes too, so tests can pin them with ``pytest.warns``.
"""

from __future__ import annotations

__all__ = [
    "CRSError",
    "CatalogueError",
    "CatchscopeWarning",
    "CoarseDEMWarning",
    "DataReadError",
    "DataWriteError",
    "DelineationError",
    "DelineationWarning",
    "EditConflictError",
    "FlatTerrainWarning",
    "FlowNetworkError",
    "GeoError",
    "GeographicCRSWarning",
    "IllustrativeDataWarning",
    "LayerNotFoundError",
    "NeedsAnswerError",
    "NotPermittedError",
    "RecordError",
    "ReportError",
    "ScopeError",
    "ServerConfigError",
    "SiteNotFoundError",
    "StoreConnectionError",
    "SuspectedDatumWarning",
    "SuspectedGCJ02Warning",
    "SwappedAxesWarning",
    "UnknownLanguageError",
    "UnsafeInputError",
    "WorkspaceError",
]


class GeoError(Exception):
    """Root of all Catchscope errors; ``str(err)`` is meant for the user."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} {hint}")


class WorkspaceError(GeoError, ValueError):
    """The workspace folder is missing, malformed or inconsistent."""


class CatalogueError(WorkspaceError):
    """A ``layers/*.toml`` file does not parse or has an invalid field.

    ``file`` names the layer file and ``fields`` lists ``(field, problem)`` pairs (dotted
    TOML keys such as ``style.dash``), so ``catchscope check`` can report each on its own.
    """

    def __init__(self, message: str, *, file: str = "",
                 fields: list[tuple[str, str]] | None = None, hint: str | None = None) -> None:
        self.file = file
        self.fields = list(fields or [])
        super().__init__(message, hint=hint)


class ServerConfigError(GeoError, ValueError):
    """The server config (``server.toml``: accounts, roles, workspaces) is missing or invalid."""


class NotPermittedError(GeoError, PermissionError):
    """The signed-in account's role does not allow this (e.g. a viewer saving an edit)."""


class CRSError(GeoError, ValueError):
    """A CRS or datum is missing, unknown or cannot be used for this operation."""


class DataReadError(GeoError, OSError):
    """A data file is missing, unreadable or not what it claims to be."""


class DataWriteError(GeoError, OSError):
    """Writing a file failed or was refused (e.g. it exists and overwrite was not asked)."""


class LayerNotFoundError(GeoError, LookupError):
    """A layer id is not in the catalogue."""


class SiteNotFoundError(GeoError, LookupError):
    """An AWS reference does not match any site record."""


class RecordError(GeoError, ValueError):
    """A site record file is malformed."""


class FlowNetworkError(GeoError, ValueError):
    """Downstream links (``next_down``, ``flows_to``) form a cycle or name no feature."""


class ScopeError(GeoError, ValueError):
    """A site's physical scope cannot be assessed (e.g. the site has no parcels)."""


class ReportError(GeoError, ValueError):
    """A certification report cannot be read (empty, binary, scanned PDF, no AWS reference)."""


class UnsafeInputError(GeoError, ValueError):
    """User input was refused because it is unsafe (a path, URL, archive trick...)."""


class UnknownLanguageError(GeoError, LookupError):
    """No translation of the interface exists for the language asked for."""


class DelineationError(GeoError, ValueError):
    """A catchment cannot be delineated (outlet outside the DEM, on nodata...)."""


class NeedsAnswerError(GeoError, ValueError):
    """An import cannot go on until the user answers (CRS, datum, axis order, layer...).

    ``questions`` maps each option to pass (e.g. ``"crs"``, ``"datum"``) to its prompt.
    """

    def __init__(
        self, message: str, *, questions: dict[str, str] | None = None, hint: str | None = None
    ) -> None:
        self.questions = dict(questions or {})
        super().__init__(message, hint=hint)


class StoreConnectionError(GeoError, ConnectionError):
    """The workspace's shared edit store (PostGIS) cannot be reached or used.

    The message names the store with its password masked (never the password itself).
    """


class EditConflictError(GeoError, RuntimeError):
    """A save was based on a layer version that someone else has saved over since."""

    def __init__(self, message: str, *, current_version: int, base_version: int) -> None:
        self.current_version = current_version
        self.base_version = base_version
        super().__init__(message, hint="Reload the layer to see their changes, then redo yours.")


class CatchscopeWarning(UserWarning):
    """Root of all Catchscope warnings."""


class GeographicCRSWarning(CatchscopeWarning):
    """A distance or area was asked of data in a geographic CRS."""


class SuspectedDatumWarning(CatchscopeWarning):
    """Coordinates look offset from their declared datum."""


class SuspectedGCJ02Warning(SuspectedDatumWarning):
    """Coordinates declared WGS84 look like GCJ-02 (Amap, Tencent, DataV)."""


class SwappedAxesWarning(SuspectedDatumWarning):
    """Coordinates look like latitude/longitude given in the wrong order."""


class IllustrativeDataWarning(CatchscopeWarning):
    """Evidence rests on illustrative features that no source places."""


class DelineationWarning(CatchscopeWarning):
    """A delineated catchment should not be trusted as drawn."""


class CoarseDEMWarning(DelineationWarning):
    """The DEM's cells are too large for the catchment: few cells, blocky outline."""


class FlatTerrainWarning(DelineationWarning):
    """The terrain is too flat for flow directions to mean much (plains, polders)."""
