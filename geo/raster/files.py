"""Opening rasters safely, and the area of their cells.

:func:`open_raster` takes a catalogue path or uploaded ``bytes`` (read through a
:class:`rasterio.io.MemoryFile`, never a path string a user typed).  Only GeoTIFF
(Cloud-Optimized GeoTIFF included) is accepted: the first bytes must be a TIFF
signature *before* GDAL sees them, GDAL may only try its GTiff driver, and the
driver is checked again after opening.  VRT and every other format that can
reference other files or URLs is refused.  The raster's uncompressed size is
checked against a memory limit right after opening, before any pixel is read.

:func:`cell_areas_m2` gives each row's cell area: the projected cell size, or the
exact ellipsoidal area of a lon/lat quadrangle for geographic rasters.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pyproj
import rasterio
from affine import Affine
from numpy.typing import NDArray
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader, MemoryFile
from rasterio.windows import Window

from geo.core.errors import CRSError, DataReadError, UnsafeInputError

__all__ = [
    "ALLOWED_DRIVERS",
    "DEFAULT_MAX_BYTES",
    "RasterSource",
    "cell_areas_m2",
    "open_raster",
    "require_crs",
    "source_name",
    "window_transform",
]

#: Refuse rasters whose uncompressed pixels (all bands) exceed this many bytes.
DEFAULT_MAX_BYTES = 1 << 30
#: GDAL drivers we open: GeoTIFF (COG is a GeoTIFF layout).  VRT & co. never.
ALLOWED_DRIVERS = frozenset({"GTiff"})
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

RasterSource: TypeAlias = Path | str | bytes | DatasetReader


# --- opening -----------------------------------------------------------------------------


def source_name(source: RasterSource, where: str | None = None) -> str:
    """Name a raster source in messages: ``where`` if given, else its file name."""
    if where:
        return where
    if isinstance(source, bytes):
        return "uploaded raster"
    if isinstance(source, DatasetReader):
        return Path(source.name).name
    return Path(source).name


def _check_magic(head: bytes, name: str) -> None:
    if not any(head.startswith(magic) for magic in _TIFF_MAGIC):
        shown = head[:16].decode("ascii", errors="replace")
        if head.lstrip().startswith(b"<"):
            kind = "an XML/VRT or HTML document"
        elif head[:2] == b"PK":
            kind = "a zip archive"
        else:
            kind = f"not a TIFF (starts with {shown!r})"
        raise UnsafeInputError(
            f"{name} is {kind}. Only GeoTIFF / Cloud-Optimized GeoTIFF rasters are accepted; "
            "convert it with `gdal_translate -of COG in out.tif`."
        )


def _check_dataset(dataset: DatasetReader, name: str, max_bytes: int) -> None:
    if dataset.driver not in ALLOWED_DRIVERS:
        raise UnsafeInputError(
            f"{name} opened as {dataset.driver}, which may reference other files or URLs; "
            "only GeoTIFF is accepted. Convert it with `gdal_translate -of COG in out.tif`."
        )
    itemsize = max(np.dtype(dtype).itemsize for dtype in dataset.dtypes)
    needed = dataset.width * dataset.height * dataset.count * itemsize
    if needed > max_bytes:
        raise DataReadError(
            f"{name} is {dataset.width} × {dataset.height} px × {dataset.count} band(s) "
            f"of {dataset.dtypes[0]} = {needed / 2**20:,.0f} MiB uncompressed, over the "
            f"{max_bytes / 2**20:,.0f} MiB limit. Crop or resample it first "
            "(`gdalwarp -te … -tr …`) or raise the limit."
        )
    if dataset.transform.b != 0 or dataset.transform.d != 0:
        raise DataReadError(
            f"{name} has a rotated geotransform; warp it to a north-up grid with `gdalwarp`."
        )


@contextlib.contextmanager
def open_raster(
    source: RasterSource,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    where: str | None = None,
) -> Iterator[DatasetReader]:
    """Open a GeoTIFF safely, from a catalogue path or from uploaded bytes.

    Parameters
    ----------
    source : Path, str, bytes or DatasetReader
        A plain file path (from the catalogue, never a URL or ``/vsi…`` string),
        the bytes of an upload, or an already opened dataset (checked, not closed).
    max_bytes : int
        Refuse rasters whose uncompressed pixels exceed this (checked right after
        opening, before reading pixels).
    where : str, optional
        Names the raster in messages (e.g. the layer id).

    Yields
    ------
    DatasetReader
        The open dataset, in its own CRS.

    Raises
    ------
    UnsafeInputError
        If the input is not a TIFF (VRT, XML, zip, text…), a URL/VSI path, or GDAL
        opened it with another driver.
    DataReadError
        If the file is missing, unreadable, rotated or over ``max_bytes``.
    """
    name = source_name(source, where)
    if isinstance(source, DatasetReader):
        _check_dataset(source, name, max_bytes)
        yield source
        return
    if isinstance(source, bytes):
        _check_magic(source[:16], name)
        try:
            with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), \
                    MemoryFile(source) as memfile, memfile.open(driver="GTiff") as dataset:
                _check_dataset(dataset, name, max_bytes)
                yield dataset
        except RasterioError as err:
            raise DataReadError(f"{name}: cannot be read as a GeoTIFF ({err}).") from err
        return
    text = str(source)
    if text.startswith("/vsi") or "://" in text or text.upper().startswith(("GTIFF_", "VRT:")):
        raise UnsafeInputError(f"{text!r} is not a plain file path; refusing to open it.")
    path = Path(source)
    if not path.is_file():
        raise DataReadError(f"Raster {path} does not exist.")
    with open(path, "rb") as handle:
        _check_magic(handle.read(16), name)
    try:
        with rasterio.open(path, driver="GTiff") as dataset:
            _check_dataset(dataset, name, max_bytes)
            yield dataset
    except RasterioError as err:
        raise DataReadError(f"{name}: cannot be read as a GeoTIFF ({err}).") from err


def require_crs(dataset: DatasetReader, name: str) -> pyproj.CRS:
    """Return the dataset's CRS as a pyproj CRS; refuse a raster without one."""
    if dataset.crs is None:
        raise CRSError(
            f"{name} has no CRS. Assign the right one with "
            "`gdal_edit.py -a_srs EPSG:… file.tif` (never guess it)."
        )
    return pyproj.CRS.from_user_input(dataset.crs.to_wkt())


# --- cell areas ----------------------------------------------------------------------------


def _ellipsoid_zone_area(lat_deg: NDArray[np.float64], ellipsoid: Any) -> NDArray[np.float64]:
    """Area (m²) per radian of longitude between the equator and ``lat_deg``."""
    a = ellipsoid.semi_major_metre
    b = ellipsoid.semi_minor_metre
    e = math.sqrt(1.0 - (b / a) ** 2)
    s = np.sin(np.radians(lat_deg))
    if e == 0.0:
        return a * a * s
    q = s / (1.0 - (e * s) ** 2) + np.log((1.0 + e * s) / (1.0 - e * s)) / (2.0 * e)
    return b * b * q / 2.0


def cell_areas_m2(transform: Affine, crs: pyproj.CRS, height: int) -> NDArray[np.float64]:
    """Area of one cell of each row, in m² (a column vector broadcastable to the grid).

    Projected grids: ``|a·e|`` times the squared unit factor.  Geographic grids:
    the exact ellipsoidal area of each row's lat/lon quadrangle.

    Parameters
    ----------
    transform : Affine
        North-up geotransform of the grid (or of a window).
    crs : pyproj.CRS
        The grid's CRS.
    height : int
        Number of rows.
    """
    if crs.is_geographic:
        if crs.ellipsoid is None:
            raise CRSError(f"CRS {crs.name} has no ellipsoid; cannot measure its cells.")
        top = transform.f + transform.e * np.arange(height)
        bottom = top + transform.e
        lat_top = np.clip(np.maximum(top, bottom), -90.0, 90.0)
        lat_bottom = np.clip(np.minimum(top, bottom), -90.0, 90.0)
        zone = _ellipsoid_zone_area(lat_top, crs.ellipsoid) - _ellipsoid_zone_area(
            lat_bottom, crs.ellipsoid
        )
        return (zone * math.radians(abs(transform.a)))[:, None]
    unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return np.full((height, 1), abs(transform.a * transform.e) * unit * unit)


def window_transform(dataset: DatasetReader, window: Window) -> Affine:
    """Return the geotransform of a window of ``dataset``."""
    # rasterio's own window_transform still uses the deprecated Affine "*" form.
    return dataset.transform @ Affine.translation(window.col_off, window.row_off)
