"""Every interpretation of CRS and datum input happens here.

Policy
------
* Canonical storage and display CRS is EPSG:4326 (WGS84, lon/lat order).
* Distances, areas and buffers run in a metric CRS chosen for the area
  (:func:`metric_crs`, the UTM zone from ``estimate_utm_crs``).
* Data is *transformed*, never re-labelled: a CRS is only assigned to data that
  has none and whose CRS the catalogue declares.  Data with no CRS at all is
  rejected with a message.
* GCJ-02 ("Mars coordinates": Amap/Gaode, Tencent, DataV) and BD-09 (Baidu) are
  not CRSs PROJ knows; they are non-linear obfuscations of WGS84 inside China.
  We convert them here, forward analytically and backward by fixed-point
  iteration to better than 1e-7°.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj.exceptions import CRSError as PyprojCRSError

from geo.core.catalogue import Datum
from geo.core.errors import CRSError

__all__ = [
    "WGS84",
    "DatumSuspicion",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "convert_datum",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_china",
    "looks_swapped",
    "metric_crs",
    "parse_crs",
    "suspect_datum_offset",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

WGS84 = pyproj.CRS.from_epsg(4326)

# Krasovsky 1940 ellipsoid parameters used by the GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0
_INVERSE_TOLERANCE = 1e-9
_MAX_ITERATIONS = 30

Coordinates = tuple[NDArray[np.float64], NDArray[np.float64]]


def parse_crs(value: object, *, where: str = "") -> pyproj.CRS:
    """Interpret a CRS given as EPSG code, authority string, WKT or pyproj CRS.

    Raises
    ------
    CRSError
        If ``value`` is empty or PROJ does not understand it.
    """
    prefix = f"{where}: " if where else ""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise CRSError(f"{prefix}no CRS given. Declare one, e.g. crs = \"EPSG:4326\".")
    try:
        return pyproj.CRS.from_user_input(value)
    except PyprojCRSError as err:
        raise CRSError(
            f"{prefix}unknown CRS {value!r}. Use an EPSG code such as \"EPSG:4326\"."
        ) from err


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Rough mainland-China box within which GCJ-02 applies (as the algorithm's users do)."""
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    return (lon_a > 72.004) & (lon_a < 137.8347) & (lat_a > 0.8293) & (lat_a < 55.8271)


def _delta(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> Coordinates:
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> Coordinates:
    return np.asarray(lon, dtype=float).copy(), np.asarray(lat, dtype=float).copy()


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Coordinates:
    """WGS84 → GCJ-02 (vectorised; points outside China are returned unchanged)."""
    lon_a, lat_a = _as_arrays(lon, lat)
    dlon, dlat = _delta(lon_a, lat_a)
    inside = in_china(lon_a, lat_a)
    return np.where(inside, lon_a + dlon, lon_a), np.where(inside, lat_a + dlat, lat_a)


Transform = Callable[[ArrayLike, ArrayLike], Coordinates]


def _invert(forward: Transform, lon: ArrayLike, lat: ArrayLike) -> Coordinates:
    """Invert a near-identity forward transform by fixed-point iteration."""
    target_lon, target_lat = _as_arrays(lon, lat)
    guess_lon, guess_lat = target_lon.copy(), target_lat.copy()
    for _ in range(_MAX_ITERATIONS):
        fwd_lon, fwd_lat = forward(guess_lon, guess_lat)
        err_lon, err_lat = fwd_lon - target_lon, fwd_lat - target_lat
        guess_lon -= err_lon
        guess_lat -= err_lat
        if np.all(np.abs(err_lon) < _INVERSE_TOLERANCE) and np.all(
            np.abs(err_lat) < _INVERSE_TOLERANCE
        ):
            break
    return guess_lon, guess_lat


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Coordinates:
    """GCJ-02 → WGS84 by iterating the forward transform (error < 1e-7°)."""
    return _invert(wgs84_to_gcj02, lon, lat)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Coordinates:
    """GCJ-02 → BD-09 (Baidu)."""
    lon_a, lat_a = _as_arrays(lon, lat)
    z = np.hypot(lon_a, lat_a) + 0.00002 * np.sin(lat_a * _X_PI)
    theta = np.arctan2(lat_a, lon_a) + 0.000003 * np.cos(lon_a * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Coordinates:
    """BD-09 → GCJ-02, iterated to the exact inverse of :func:`gcj02_to_bd09`."""
    return _invert(gcj02_to_bd09, lon, lat)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Coordinates:
    """WGS84 → BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> Coordinates:
    """BD-09 → WGS84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_TO_WGS84: dict[Datum, Transform] = {Datum.GCJ02: gcj02_to_wgs84, Datum.BD09: bd09_to_wgs84}
_FROM_WGS84: dict[Datum, Transform] = {Datum.GCJ02: wgs84_to_gcj02, Datum.BD09: wgs84_to_bd09}
# CGCS2000 differs from WGS84 by centimetres: no shift at the accuracy we map.
_NO_SHIFT = {Datum.WGS84, Datum.CGCS2000}


def _shift_geometries(geoms: NDArray[np.object_], func: Transform) -> NDArray[np.object_]:
    def apply(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        lon, lat = func(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geoms, apply)


def convert_datum(
    frame: gpd.GeoDataFrame | gpd.GeoSeries, source: Datum | str, target: Datum | str
) -> gpd.GeoDataFrame | gpd.GeoSeries:
    """Shift lon/lat geometries from one datum convention to another.

    Parameters
    ----------
    frame : GeoDataFrame or GeoSeries
        Geometries in lon/lat degrees (EPSG:4326 axis order).
    source, target : Datum
        ``wgs84``, ``cgcs2000``, ``gcj02`` or ``bd09``.

    Returns
    -------
    Same type as ``frame``, a copy with shifted coordinates.
    """
    source, target = Datum(source), Datum(target)
    if Datum.UNKNOWN in (source, target):
        raise CRSError("Cannot convert from or to an unknown datum; declare the datum first.")
    out = frame.copy()
    geoms = np.asarray(out.geometry.values, dtype=object)
    if source not in _NO_SHIFT:
        geoms = _shift_geometries(geoms, _TO_WGS84[source])
    if target not in _NO_SHIFT:
        geoms = _shift_geometries(geoms, _FROM_WGS84[target])
    if isinstance(out, gpd.GeoDataFrame):
        return out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs))
    return gpd.GeoSeries(geoms, index=out.index, crs=out.crs)


def to_wgs84(
    frame: gpd.GeoDataFrame,
    *,
    declared_crs: str | None = None,
    datum: Datum | str = Datum.WGS84,
    where: str = "",
) -> gpd.GeoDataFrame:
    """Bring a frame into canonical WGS84 (EPSG:4326), datum shifts included.

    Parameters
    ----------
    frame : GeoDataFrame
        As read from its file.
    declared_crs : str, optional
        The catalogue's CRS.  Assigned only when the file has none; when both are
        present and disagree, the file's CRS wins and the data is transformed.
    datum : Datum
        The coordinates' original datum convention; GCJ-02/BD-09 are shifted to WGS84.
    where : str
        Names the layer/file in messages.

    Raises
    ------
    CRSError
        If neither the file nor the catalogue gives a CRS.
    """
    datum = Datum(datum)
    if frame.crs is None:
        if declared_crs is None:
            raise CRSError(
                f"{where}: the data has no CRS and the layer file declares none. "
                "Add crs = \"EPSG:…\" to the layer's TOML (the CRS the coordinates are in)."
            )
        frame = frame.set_crs(parse_crs(declared_crs, where=where))
    if not frame.crs.equals(WGS84):
        frame = frame.to_crs(WGS84)
    if datum in (Datum.GCJ02, Datum.BD09):
        frame = convert_datum(frame, datum, Datum.WGS84)
    return frame


def metric_crs(frame: gpd.GeoDataFrame | gpd.GeoSeries) -> pyproj.CRS:
    """A metric CRS (WGS84 / UTM zone) suited to the frame's extent, for distances and areas.

    The zone is the one containing the centre of the frame's WGS84 bounds, computed
    directly (``estimate_utm_crs`` asks the PROJ database each time, ~0.2 s a call).
    """
    if frame.crs is None:
        raise CRSError("Cannot choose a metric CRS for data without a CRS.")
    series = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
    if series.is_empty.all():
        raise CRSError("Cannot choose a metric CRS for empty geometries.")
    minx, miny, maxx, maxy = (
        series.total_bounds if series.crs.equals(WGS84) else series.to_crs(WGS84).total_bounds
    )
    lon, lat = (minx + maxx) / 2.0, (miny + maxy) / 2.0
    if not (-180.0 <= lon <= 180.0 and -80.0 <= lat <= 84.0):
        raise CRSError("No UTM zone fits this extent; data may not be in lon/lat.")
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return _utm_crs(zone, north=lat >= 0)


@functools.lru_cache(maxsize=128)
def _utm_crs(zone: int, *, north: bool) -> pyproj.CRS:
    return pyproj.CRS.from_epsg((32600 if north else 32700) + zone)


def looks_swapped(frame: gpd.GeoDataFrame) -> bool:
    """Whether lon/lat frame coordinates look given as lat/lon.

    True when some |y| exceeds 90° while every |x| ≤ 90° (impossible as lon/lat but
    fine swapped), or when the whole frame sits in open ocean at the mirrored spot of
    China (x in 15–55 and y in 73–135): coordinates copied as "lat, lon".
    """
    if frame.empty:
        return False
    minx, miny, maxx, maxy = frame.total_bounds
    if (abs(miny) > 90 or abs(maxy) > 90) and max(abs(minx), abs(maxx)) <= 90:
        return True
    return bool(minx >= 15 and maxx <= 55 and miny >= 73 and maxy <= 135)


@dataclass(frozen=True)
class DatumSuspicion:
    """Evidence that a layer declared in one datum is really in another."""

    datum: Datum
    distance_as_declared_m: float
    distance_if_converted_m: float

    @property
    def message(self) -> str:
        """Readable summary for check reports."""
        return (
            f"coordinates look {self.datum.value.upper().replace('GCJ02', 'GCJ-02')}"
            f"-offset: median distance to the reference features is "
            f"{self.distance_as_declared_m:.0f} m as declared and "
            f"{self.distance_if_converted_m:.0f} m after converting from "
            f"{self.datum.value}. Set datum = \"{self.datum.value}\" in the layer file "
            "if the coordinates came from a Chinese web map."
        )


def _median_distance_m(
    geoms: gpd.GeoSeries, reference: gpd.GeoSeries, metric: pyproj.CRS
) -> float:
    a = geoms.to_crs(metric)
    b = reference.to_crs(metric)
    tree = shapely.STRtree(np.asarray(b.values))
    _, distances = tree.query_nearest(np.asarray(a.values), return_distance=True, all_matches=False)
    return float(np.median(distances)) if len(distances) else math.inf


def suspect_datum_offset(
    frame: gpd.GeoDataFrame,
    reference: gpd.GeoSeries,
    *,
    min_gain_m: float = 100.0,
    min_ratio: float = 2.0,
) -> DatumSuspicion | None:
    """Test whether converting ``frame`` from GCJ-02 or BD-09 fits ``reference`` better.

    The reference holds trusted WGS84 features the frame should sit on or next to
    (e.g. site parcels for discharge points, official boundaries for an admin layer).
    A conversion is suspected when it brings the median distance from each feature
    to its nearest reference down by at least ``min_gain_m`` metres *and* by a factor
    of at least ``min_ratio``.  Both in EPSG:4326.
    """
    if frame.empty or reference.empty:
        return None
    inside = in_china(*np.asarray(frame.geometry.representative_point().get_coordinates()).T)
    if not inside.any():
        return None
    metric = metric_crs(reference)
    declared = _median_distance_m(frame.geometry, reference, metric)
    best: DatumSuspicion | None = None
    for datum in (Datum.GCJ02, Datum.BD09):
        converted = convert_datum(frame.geometry, datum, Datum.WGS84)
        distance = _median_distance_m(converted, reference, metric)
        gain = declared - distance
        if gain >= min_gain_m and declared >= min_ratio * max(distance, 1.0) and (
            best is None or distance < best.distance_if_converted_m
        ):
            best = DatumSuspicion(datum, declared, distance)
    return best
