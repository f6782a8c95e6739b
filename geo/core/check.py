"""``catchscope check``: validate a whole workspace and report every problem found.

Unlike :func:`geo.core.workspace.open_workspace`, which stops at the first broken file,
the check goes on and collects every problem, each naming the file, layer, feature
and field it concerns.  Errors make the workspace unusable (exit status 1);
warnings (datum suspicions, missing provenance, unused records) do not.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from geo.core.catalogue import AccuracyClass, Datum, LayerKind, LayerSpec, iter_catalogue_problems
from geo.core.crs import in_china, looks_swapped, suspect_datum_offset
from geo.core.errors import GeoError
from geo.core.postgis import (
    STORE_SOURCE,
    StoreLocation,
    overlay_stored_specs,
    resolve_store,
    stored_specs,
)
from geo.core.records import SiteRecord, load_record
from geo.core.workspace import (
    SETTINGS_FILE,
    Workspace,
    WorkspaceSettings,
    _check_layout,
    _read_settings,
    default_workspace_path,
)

__all__ = [
    "CheckReport",
    "Problem",
    "check_workspace",
    "init_workspace",
    "render_report",
    "report_lines",
    "summary",
    "verdict",
]

Level = Literal["error", "warning"]

#: Kinds whose features are local (site-scale): they serve as each other's reference
#: when testing for datum offsets.  Regional layers (admin, catchments) are too coarse.
_LOCAL_KINDS = {
    LayerKind.SITE,
    LayerKind.DISCHARGE_POINT,
    LayerKind.WATER_SOURCE,
    LayerKind.FACILITY,
    LayerKind.PIPE,
    LayerKind.IWRA,
    LayerKind.RIVER,
    LayerKind.LAKE,
}
_ALLOWED_ACCURACY = {a.value for a in AccuracyClass}
_ALLOWED_DATUM = {d.value for d in Datum}
_LINK_COLUMNS = ("flows_to", "next_down")


@dataclass(frozen=True)
class Problem:
    """One finding of the check, located as precisely as it can be.

    ``path`` is the file it concerns, relative to the workspace (``layers/sites.toml``,
    ``data/sites.geojson``, ``data/sites/AWS-000521.json``); ``feature`` the feature id and
    ``field`` the column or layer-file key (dotted, ``style.dash``), each ``""`` when the
    problem is about the whole file or feature.
    """

    level: Level
    path: str
    message: str
    feature: str = ""
    field: str = ""

    @property
    def where(self) -> str:
        """``'data/sites.geojson, feature site-521-a, field accuracy'`` (for a table)."""
        parts = [self.path]
        if self.feature:
            parts.append(f"feature {self.feature}")
        if self.field:
            parts.append(f"field {self.field}")
        return ", ".join(parts)

    def line(self) -> str:
        """``path:feature:field: level: message`` on one line (as compilers and ruff print)."""
        message = " ".join(self.message.split())
        return f"{self.path}:{self.feature}:{self.field}: {self.level}: {message}"

    def as_dict(self) -> dict[str, str]:
        """The problem as plain JSON-able values."""
        return {"path": self.path, "feature": self.feature, "field": self.field,
                "level": self.level, "message": self.message}


@dataclass
class CheckReport:
    """Everything ``catchscope check`` found."""

    root: Path
    problems: list[Problem] = field(default_factory=list)
    layers_checked: int = 0
    features_checked: int = 0
    sites_checked: int = 0

    @property
    def errors(self) -> list[Problem]:
        """Problems that make the workspace unusable."""
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Problems worth a look that do not fail the check."""
        return [p for p in self.problems if p.level == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def add(self, level: Level, path: str, message: str, *, feature: object = "",
            field: str = "") -> None:
        """Record a problem about ``path`` (and one of its features / fields)."""
        self.problems.append(Problem(level, path, message, str(feature), field))

    def sorted_problems(self) -> list[Problem]:
        """Errors first, then by file, feature and field."""
        return sorted(self.problems,
                      key=lambda p: (p.level != "error", p.path, p.feature, p.field))

    def as_dict(self) -> dict[str, object]:
        """The whole report as plain JSON-able values (``catchscope check --format json``)."""
        return {
            "workspace": str(self.root),
            "ok": self.ok,
            "layers_checked": self.layers_checked,
            "features_checked": self.features_checked,
            "sites_checked": self.sites_checked,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [p.as_dict() for p in self.sorted_problems()],
        }


def check_workspace(path: Path | str | None = None) -> CheckReport:
    """Validate the workspace at ``path`` (default: the bundled demo).

    Returns
    -------
    CheckReport
        Every problem found; ``report.ok`` is False when any is an error.

    Raises
    ------
    WorkspaceError
        Only when ``path`` is not a workspace at all (no folder, no ``layers/``).
    """
    root = Path(path).expanduser().resolve() if path is not None else default_workspace_path()
    _check_layout(root)
    report = CheckReport(root=root)
    settings = _check_settings(root, report)
    specs = _check_layer_files(root, report)
    unread = [p.path for p in report.problems if p.path.startswith("layers/")]
    records = _check_records(root, report)
    store, specs = _check_store(settings, specs, report)
    workspace = Workspace(root=root, settings=settings, specs=specs, records=records,
                          store=store)
    frames = _check_layers(workspace, report)
    _check_ids_and_links(workspace, frames, report, unread=unread)
    _check_site_links(workspace, frames, records, report)
    _check_datums(workspace, frames, report)
    if not specs and not report.errors:
        report.add("warning", "layers",
                   "the catalogue has no layers yet; add layers/<id>.toml files")
    return report


def _check_settings(root: Path, report: CheckReport) -> WorkspaceSettings:
    try:
        return _read_settings(root)
    except GeoError as err:
        report.add("error", SETTINGS_FILE, str(err))
        return WorkspaceSettings()


def _check_store(settings: WorkspaceSettings, specs: dict[str, LayerSpec], report: CheckReport
                 ) -> tuple[StoreLocation | None, dict[str, LayerSpec]]:
    """The shared PostGIS store, if any, and the catalogue with the layers it holds."""
    try:
        store = resolve_store(settings.store, settings.store_schema)
        if store is None:
            return None, specs
        return store, overlay_stored_specs(specs, stored_specs(store))
    except GeoError as err:
        report.add("error", SETTINGS_FILE, str(err), field="store")
        return None, specs


def _check_layer_files(root: Path, report: CheckReport) -> dict[str, LayerSpec]:
    specs, problems = iter_catalogue_problems(root / "layers")
    for problem in problems:
        path = f"layers/{problem.file}"
        if problem.fields:
            for name, message in problem.fields:
                report.add("error", path, message, field="" if name == "(file)" else name)
            continue
        message = str(problem)
        if message.startswith(f"{problem.file}: "):
            message = message[len(problem.file) + 2:]
        report.add("error", path, message)
    return specs


def _check_records(root: Path, report: CheckReport) -> dict[str, SiteRecord]:
    records: dict[str, SiteRecord] = {}
    folder = root / "data" / "sites"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = load_record(path)
        except GeoError as err:
            report.add("error", f"data/sites/{path.name}", str(err))
            continue
        records[record.aws_ref] = record
    report.sites_checked = len(records)
    return records


def _check_layers(workspace: Workspace, report: CheckReport) -> dict[str, gpd.GeoDataFrame]:
    frames: dict[str, gpd.GeoDataFrame] = {}
    for spec in workspace.specs.values():
        where = _data_path(spec)
        path = workspace.data_dir / spec.source
        if spec.source != STORE_SOURCE and not path.exists():
            report.add("error", f"layers/{spec.id}.toml",
                       f"data file data/{spec.source} does not exist; add it or fix source",
                       field="source")
            continue
        try:
            frame = workspace.load(spec.id)
        except GeoError as err:
            report.add("error", where, f"layer {spec.id}: {err}")
            continue
        report.layers_checked += 1
        report.features_checked += len(frame)
        frames[spec.id] = frame
        if frame.empty:
            report.add("warning", where, f"layer {spec.id} has no features")
            continue
        _check_geometries(spec, frame, report)
        _check_provenance(spec, frame, report)
    return frames


def _data_path(spec: LayerSpec) -> str:
    """Where a layer's features are, as the check names it (``data/<source>``)."""
    if spec.source == STORE_SOURCE:  # the shared PostGIS store
        return f"{STORE_SOURCE}/{spec.layer or spec.id}"
    return f"data/{spec.source}"


def _check_geometries(spec: LayerSpec, frame: gpd.GeoDataFrame, report: CheckReport) -> None:
    where = _data_path(spec)
    geoms = np.asarray(frame.geometry.values)
    invalid = ~shapely.is_valid(geoms)
    for fid, geom in zip(frame.loc[invalid, "fid"], geoms[invalid], strict=True):
        report.add("error", where,
                   f"invalid geometry: {shapely.is_valid_reason(geom)}; repair it in a GIS "
                   "(or with shapely.make_valid) and save again", feature=fid, field="geometry")
    empty = shapely.is_empty(geoms)
    for fid in frame.loc[empty, "fid"]:
        report.add("warning", where, "empty geometry", feature=fid, field="geometry")
    bounds = shapely.bounds(geoms[~empty]) if (~empty).any() else np.empty((0, 4))
    if len(bounds) and (np.abs(bounds[:, [1, 3]]) > 90).any():
        report.add("error", where,
                   f"layer {spec.id}: latitudes beyond ±90°: the coordinates look like lat/lon "
                   "given in the wrong order (or a projected CRS declared as EPSG:4326); swap "
                   "the axes or fix crs")
    elif looks_swapped(frame):
        report.add("warning", where,
                   f"layer {spec.id}: the coordinates sit where China would be with lat and lon "
                   "swapped; check the axis order of the source")


def _check_provenance(spec: LayerSpec, frame: gpd.GeoDataFrame, report: CheckReport) -> None:
    where = _data_path(spec)
    accuracy = frame["accuracy"]
    missing = frame.loc[accuracy.isna(), "fid"].tolist()
    if missing:
        report.add("warning", where,
                   f"{len(missing)} feature(s) without an accuracy class (e.g. {missing[0]}); "
                   f"set accuracy to one of {', '.join(sorted(_ALLOWED_ACCURACY))}",
                   field="accuracy")
    bad = frame.loc[accuracy.notna() & ~accuracy.isin(list(_ALLOWED_ACCURACY))]
    for fid, value in zip(bad["fid"], bad["accuracy"], strict=True):
        report.add("error", where,
                   f"accuracy {value!r} is not one of {', '.join(sorted(_ALLOWED_ACCURACY))}",
                   feature=fid, field="accuracy")
    bad_datum = frame.loc[~frame["datum"].isin(list(_ALLOWED_DATUM))]
    for fid, value in zip(bad_datum["fid"], bad_datum["datum"], strict=True):
        report.add("error", where,
                   f"datum {value!r} is not one of {', '.join(sorted(_ALLOWED_DATUM))}",
                   feature=fid, field="datum")
    no_source = frame.loc[frame["source"].isna(), "fid"].tolist()
    if no_source:
        report.add("warning", where,
                   f"{len(no_source)} feature(s) without a source (e.g. {no_source[0]}); say "
                   "where each feature came from, or set attribution in the layer file",
                   field="source")


def _check_ids_and_links(
    workspace: Workspace, frames: dict[str, gpd.GeoDataFrame], report: CheckReport, *,
    unread: list[str],
) -> None:
    """Feature ids unique; every ``flows_to`` / ``next_down`` names a feature or a site.

    A ``flows_to`` may name a site by its AWS reference (a record's, or a feature's
    ``aws_ref``), as the water chain reads it.  A link into a layer that could not be
    read (``unread`` layer files) is not an error of its own: it is reported as a warning
    that names the files to fix first.
    """
    owners: dict[str, list[str]] = {}
    sites = set(workspace.records)
    for frame in frames.values():
        if "aws_ref" in frame.columns:
            sites |= {str(ref) for ref in frame["aws_ref"].dropna()}
    for layer_id, frame in frames.items():
        for fid in frame["fid"]:
            owners.setdefault(fid, []).append(layer_id)
        counts = Counter(frame["fid"])
        for fid, count in counts.items():
            if count > 1:
                report.add("error", _data_path(workspace.specs[layer_id]),
                           f"feature id {fid!r} is used {count} times; ids must be unique",
                           feature=fid, field="fid")
    for fid, layer_ids in owners.items():
        distinct = sorted(set(layer_ids))
        if len(distinct) > 1:
            for layer_id in distinct:
                others = ", ".join(other for other in distinct if other != layer_id)
                report.add("error", _data_path(workspace.specs[layer_id]),
                           f"feature id {fid!r} of layer {layer_id} is also used in layer "
                           f"{others}; links between features need ids unique across the "
                           "workspace", feature=fid, field="fid")
    for layer_id, frame in frames.items():
        for column in _LINK_COLUMNS:
            if column not in frame.columns:
                continue
            for fid, target in zip(frame["fid"], frame[column], strict=True):
                for ref in _split_refs(target):
                    if ref in owners or (column == "flows_to" and ref in sites):
                        continue
                    if unread:
                        report.add("warning", _data_path(workspace.specs[layer_id]),
                                   f"{column} = {ref!r} names no feature of the layers read; "
                                   f"it may be in {', '.join(sorted(set(unread)))}, which "
                                   "could not be read (fix that first)",
                                   feature=fid, field=column)
                    else:
                        report.add("error", _data_path(workspace.specs[layer_id]),
                                   f"{column} = {ref!r} names no feature of the workspace",
                                   feature=fid, field=column)


def _split_refs(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return []
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _check_site_links(
    workspace: Workspace, frames: dict[str, gpd.GeoDataFrame], records: dict[str, SiteRecord],
    report: CheckReport,
) -> None:
    linked: set[str] = set()
    for layer_id, frame in frames.items():
        refs = frame.loc[frame["aws_ref"].notna(), ["fid", "aws_ref"]]
        for fid, ref in zip(refs["fid"], refs["aws_ref"], strict=True):
            linked.add(str(ref))
            if str(ref) not in records:
                known = ", ".join(records) or "none"
                report.add("error", _data_path(workspace.specs[layer_id]),
                           f"aws_ref {ref!r} matches no site record (known: {known}); add "
                           f"data/sites/{ref}.json (catchscope import-report) or fix the link",
                           feature=fid, field="aws_ref")
    for ref in records:
        if ref not in linked and frames:
            report.add("warning", f"data/sites/{ref}.json",
                       "no feature links to this site; map its parcels with aws_ref = "
                       f"{ref!r}")


def _check_datums(
    workspace: Workspace, frames: dict[str, gpd.GeoDataFrame], report: CheckReport
) -> None:
    local = {lid: f for lid, f in frames.items()
             if workspace.specs[lid].kind in _LOCAL_KINDS and not f.empty}
    for layer_id, frame in local.items():
        spec = workspace.specs[layer_id]
        if spec.datum not in (Datum.WGS84, Datum.CGCS2000):
            continue
        points = frame.geometry.representative_point().get_coordinates()
        if not in_china(points["x"], points["y"]).any():
            continue
        others = [f.geometry for lid, f in local.items() if lid != layer_id]
        if not others:
            continue
        reference = gpd.GeoSeries(pd.concat(others, ignore_index=True), crs="EPSG:4326")
        suspicion = suspect_datum_offset(frame, reference)
        if suspicion is not None:
            report.add("warning", f"layers/{layer_id}.toml",
                       f"declared {spec.datum.value}: {suspicion.message}", field="datum")


def verdict(report: CheckReport) -> str:
    """``'OK with 2 warning(s)'`` or ``'FAILED: 1 error(s), 2 warning(s)'`` (plain text)."""
    if report.ok:
        return f"OK with {len(report.warnings)} warning(s)"
    return f"FAILED: {len(report.errors)} error(s), {len(report.warnings)} warning(s)"


def summary(report: CheckReport) -> str:
    """What was checked, in one line."""
    return (f"Checked workspace {report.root}: {report.layers_checked} layer(s), "
            f"{report.features_checked} feature(s), {report.sites_checked} site record(s).")


def render_report(report: CheckReport, console: Console) -> None:
    """Print the report as a readable table with a one-line verdict (for a terminal).

    Every value is printed as text, never as rich markup: messages quote file contents.
    """
    console.print(Text(summary(report)))
    by_file: dict[str, list[Problem]] = {}
    for problem in report.sorted_problems():
        by_file.setdefault(problem.path, []).append(problem)
    for path, problems in by_file.items():  # files with errors first
        # One table per file: the file name heads it whole (a column would wrap it at 80).
        table = Table(title=Text(path, style="bold"), title_justify="left", expand=True,
                      box=box.SIMPLE_HEAD, show_edge=False)
        table.add_column("level", no_wrap=True)
        table.add_column("feature", overflow="fold")
        table.add_column("field", overflow="fold")
        table.add_column("problem", overflow="fold", ratio=1)
        for problem in problems:
            colour = "red" if problem.level == "error" else "yellow"
            table.add_row(Text(problem.level, style=colour), Text(problem.feature),
                          Text(problem.field), Text(problem.message))
        console.print(table)
    console.print(Text(verdict(report), style="green" if report.ok else "red"))


def report_lines(report: CheckReport) -> list[str]:
    """One ``path:feature:field: level: message`` line per problem (for pipes and editors)."""
    return [problem.line() for problem in report.sorted_problems()]


_EXAMPLE_LAYER = '''\
# An example layer file.  Files whose name starts with "_" are ignored; copy this to
# layers/<id>.toml (the file name must equal the id) and adapt it.
#
# id: lower-case letters, digits and "_" — also the file name.
id = "discharge_points"
title = "Discharge points"
description = "Where the site's rainwater and wastewater leave it."
# kind: site, catchment, catchment_unit, river, lake, iwra, discharge_point,
#       water_source, facility, pipe, admin, raster, other
kind = "discharge_point"
# source: a file inside data/ (GeoJSON, GeoPackage, Shapefile, KML, GeoTIFF...)
source = "discharge_points.geojson"
# layer = "name inside a GeoPackage"
# crs: needed only when the file carries no CRS of its own.
crs = "EPSG:4326"
# datum the coordinates were ORIGINALLY in: wgs84, cgcs2000, gcj02 (Amap, Tencent),
# bd09 (Baidu) or unknown.  gcj02/bd09 coordinates are converted to WGS84 on load.
datum = "wgs84"
id_field = "fid"          # unique id of each feature across the workspace
label_field = "name"
site_field = "aws_ref"    # links each feature to data/sites/<AWS ref>.json
# Which AWS 1.1.1 elements this layer evidences: site_boundaries, infrastructure,
# owned_water_sources, service_provider, discharge, catchments
evidences = ["discharge"]
attribution = "Site survey 2026"
licence = "internal"
source_date = "2026-01"

[style]
color = "#8e44ad"
marker = "circle"
radius = 6
z = 50
'''

_SETTINGS = '''\
# Catchscope workspace settings.
name = "{name}"
description = ""
# Level of catchment_unit features at which indicator 0.1.1.1 (one catchment) is judged.
catchment_level = "section"
# default_site = "AWS-000000"

[scope]
onsite_tolerance_m = 50        # an IWRA this close to a parcel counts as on-site (1.3.6)
buffer_bands_km = [1, 10, 50]  # proximity bands for catchment IWRAs (1.5.5)
inference_tolerance_m = 1000   # nearest water body searched for unlinked discharges
'''


def init_workspace(path: Path | str) -> Path:
    """Create an empty workspace at ``path``: layers/, data/sites/, settings, example layer.

    Raises
    ------
    WorkspaceError
        If ``path`` exists and is not an empty folder.
    """
    from geo.core.errors import WorkspaceError

    root = Path(path).expanduser().resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise WorkspaceError(f"{root} exists and is not empty; choose a new folder.")
    (root / "layers").mkdir(parents=True, exist_ok=True)
    (root / "data" / "sites").mkdir(parents=True, exist_ok=True)
    (root / "layers" / "_example.toml").write_text(_EXAMPLE_LAYER, encoding="utf-8")
    (root / SETTINGS_FILE).write_text(_SETTINGS.format(name=root.name), encoding="utf-8")
    return root
