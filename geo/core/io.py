"""Reading and writing layers: one ``read_layer`` / ``write_layer`` pair.

All reads go through pyogrio (vector), pyarrow (GeoParquet, :mod:`geo.core.geoparquet`)
or rasterio (raster).  Paths come from the
catalogue (validated to stay inside ``data/``), never from a user: uploaded bytes
go through :func:`read_layer_bytes`, which hands GDAL a private temp copy.
Every write is atomic: the file is written beside its target under a temporary
name and renamed into place, so a failure leaves the old file (or nothing).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pyogrio
import pyogrio.errors

from geo.core.errors import DataReadError, DataWriteError
from geo.core.geoparquet import is_parquet_path, read_geoparquet, write_geoparquet

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "list_file_layers",
    "read_layer",
    "recover_interrupted_write",
    "write_layer",
]

#: Drivers we read and write by file suffix.
DRIVERS: dict[str, str] = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "ESRI Shapefile",
    ".kml": "KML",
    ".csv": "CSV",
    ".fgb": "FlatGeobuf",
    ".parquet": "Parquet",
    ".geoparquet": "Parquet",
}


_URL_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/")  # pathlib folds "://" into ":/"


def _check_plain_path(path: Path) -> None:
    text = str(path)
    if text.startswith("/vsi") or _URL_RE.match(text):
        raise DataReadError(f"{text!r} is not a plain file path; refusing to open it.")


def recover_interrupted_write(path: Path) -> None:
    """Roll back a GeoPackage (SQLite) write that was interrupted, if there is one.

    A process killed during a write leaves ``<file>-journal`` (a *hot* journal).  SQLite
    restores the old state from it the next time the file is opened read-write, but a
    read-only opening (GDAL's, or ``mode=ro``) fails with "attempt to write a readonly
    database".  So, when a journal is there, open the file read-write once and read:
    SQLite rolls the journal back (a journal of a save still running is not hot and is
    left alone).

    Raises
    ------
    DataReadError
        If the rollback is impossible (e.g. the folder is read-only).
    """
    journal = path.with_name(f"{path.name}-journal")
    if path.suffix.lower() != ".gpkg" or not journal.exists():
        return
    try:
        con = sqlite3.connect(path, timeout=30.0)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            con.close()
    except sqlite3.Error as err:
        raise DataReadError(
            f"{path.name}: a save was interrupted and its journal {journal.name} could not "
            f"be rolled back ({err}); make {path.parent} writable and open it again."
        ) from err


def list_file_layers(path: Path) -> list[str]:
    """Names of the layers inside a (multi-layer) vector file."""
    _check_plain_path(path)
    recover_interrupted_write(path)
    try:
        return [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except (pyogrio.errors.DataSourceError, OSError) as err:
        raise DataReadError(f"{path.name}: cannot be opened as vector data ({err}).") from err


def read_layer(
    path: Path,
    *,
    layer: str | None = None,
    columns: list[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> gpd.GeoDataFrame:
    """Read a vector layer from a file with pyogrio.

    Parameters
    ----------
    path : Path
        A plain file path (never a URL or ``/vsi…`` string).
    layer : str, optional
        Layer name inside a multi-layer file such as a GeoPackage.
    columns : list of str, optional
        Read only these attribute columns.
    bbox : tuple, optional
        ``(minx, miny, maxx, maxy)`` in the file's CRS; read only intersecting features.

    Returns
    -------
    GeoDataFrame
        In the file's own CRS (``crs`` is None when the file declares none).

    Raises
    ------
    DataReadError
        If the file is missing, unreadable, or the layer does not exist.
    """
    _check_plain_path(path)
    if is_parquet_path(path):  # GeoParquet (a file or a folder of parts): read by pyarrow
        return read_geoparquet(path, columns=columns, bbox=bbox)
    if not path.is_file():
        raise DataReadError(f"Data file {path} does not exist.")
    recover_interrupted_write(path)
    if layer is not None:
        available = list_file_layers(path)
        if layer not in available:
            raise DataReadError(
                f"{path.name} has no layer {layer!r}; it has: {', '.join(available)}."
            )
    try:
        return gpd.read_file(
            path, layer=layer, columns=columns, bbox=bbox, engine="pyogrio"
        )
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as err:
        raise DataReadError(f"{path.name}: cannot be read as vector data ({err}).") from err
    except ValueError as err:  # pyogrio raises ValueError for some malformed content
        raise DataReadError(f"{path.name}: malformed content ({err}).") from err


@contextlib.contextmanager
def atomic_path(target: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    On any exception the temporary file is removed and ``target`` is untouched.

    Raises
    ------
    DataWriteError
        If ``target`` exists and ``overwrite`` is False.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise DataWriteError(
            f"{target} already exists; pass --overwrite (or overwrite=True) to replace it."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix,
                                    dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # let the writer create it; GDAL refuses to write into some existing files
    try:
        yield tmp
        if not tmp.exists():
            raise DataWriteError(f"Writing {target.name} produced no file.")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_bytes(target: Path, payload: bytes, *, overwrite: bool = False) -> None:
    """Write ``payload`` to ``target`` atomically (temp file, fsync, rename)."""
    with atomic_path(target, overwrite=overwrite) as tmp:
        tmp.write_bytes(payload)


_NAMED_LAYER_DRIVERS = {"GPKG", "FlatGeobuf", "KML", "GeoJSON"}


def _write_shapefile(
    frame: gpd.GeoDataFrame, path: Path, *, overwrite: bool, **layer_options: object
) -> Path:
    """A shapefile is several files: write them all in a private folder, then move each."""
    if path.exists() and not overwrite:
        raise DataWriteError(
            f"{path} already exists; pass --overwrite (or overwrite=True) to replace it."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.stem}.", dir=path.parent))
    try:
        frame.to_file(staging / path.name, driver="ESRI Shapefile", engine="pyogrio",
                      **layer_options)
        # move the .shp last: a reader never sees a .shp whose sidecars are missing
        parts = sorted(staging.iterdir(), key=lambda p: p.suffix.lower() == ".shp")
        for part in parts:
            os.replace(part, path.with_suffix(part.suffix))
    except DataWriteError:
        raise
    except Exception as err:
        raise DataWriteError(f"Could not write {path.name}: {err}") from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def write_layer(
    frame: gpd.GeoDataFrame,
    path: Path,
    *,
    layer: str | None = None,
    driver: str | None = None,
    overwrite: bool = False,
    append_to_existing: bool = False,
    **layer_options: object,
) -> Path:
    """Write ``frame`` to ``path`` atomically.

    Parameters
    ----------
    frame : GeoDataFrame
        Features to write, in any CRS (written as they are).
    path : Path
        Target file; its suffix picks the driver unless ``driver`` is given.
    layer : str, optional
        Layer name (GeoPackage).
    overwrite : bool
        Replace an existing file.  Without it an existing file is an error.
    append_to_existing : bool
        For multi-layer formats: copy the existing file first and add/replace
        ``layer`` in the copy, then rename it into place (still atomic).
    **layer_options
        Passed to GDAL as layer creation options (e.g. ``RFC7946="YES"``).

    Raises
    ------
    DataWriteError
        If the target exists without ``overwrite``, or GDAL fails.
    """
    path = Path(path)
    driver = driver or DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise DataWriteError(
            f"Cannot tell the format of {path.name}; use one of {', '.join(DRIVERS)}."
        )
    exists_ok = overwrite or append_to_existing
    if layer is None and driver in _NAMED_LAYER_DRIVERS:
        layer = path.stem  # otherwise GDAL names the layer after the temporary file
    if driver == "GPKG":
        # GeoPackage reserves "fid" for its integer key; our string ids live in "fid".
        layer_options.setdefault("FID", "gpkg_fid")
    if driver == "ESRI Shapefile":
        return _write_shapefile(frame, path, overwrite=exists_ok, **layer_options)
    if driver == "Parquet":  # Hilbert-sorted GeoParquet with bbox columns
        return write_geoparquet(frame, path, overwrite=exists_ok)
    try:
        with atomic_path(path, overwrite=exists_ok) as tmp:
            if append_to_existing and path.exists():
                tmp.write_bytes(path.read_bytes())
            frame.to_file(tmp, layer=layer, driver=driver, engine="pyogrio",
                          **layer_options)
    except DataWriteError:
        raise
    except Exception as err:  # GDAL errors come in many classes; all mean "not written"
        raise DataWriteError(f"Could not write {path.name}: {err}") from err
    return path
