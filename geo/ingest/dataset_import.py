"""Import a public dataset: recognise it, clip it, propose its layers, then save them.

:func:`plan_dataset` opens a file a user named (:mod:`geo.ingest.dataset_read`), tells
from its fields which published dataset it is (:mod:`geo.ingest.datasets`), reads only
what meets the area of interest — plus, for HydroBASINS and HydroRIVERS, everything
downstream of it to the sink, after checking the whole file's ``NEXT_DOWN`` links —
and converts it into layers.  Nothing is written: the :class:`DatasetPlan` says what
would be (layer, kind, links, licence, attribution, citation, terms) so a person can
confirm.  :func:`apply_plan` then saves each layer through the edit store
(:func:`geo.ingest.importer.import_into`) and writes the dataset's licence and
attribution into its ``layers/<id>.toml``.  Aqueduct is joined onto the workspace's
HydroBASINS units instead of becoming a layer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.core.catalogue import Datum, LayerKind, load_layer_spec, toml_value
from geo.core.errors import CatalogueError, DataReadError, GeoError
from geo.core.workspace import Workspace
from geo.ingest.dataset_read import Aoi, DatasetLimits, DatasetSource, Peek, open_source, peek
from geo.ingest.datasets import (
    AQUEDUCT,
    HYDROBASINS,
    HYDRORIVERS,
    OSM,
    Converted,
    DatasetProfile,
    aqueduct_table,
    convert,
    join_water_stress,
    recognise,
)
from geo.ingest.hydronet import LinkTable, check_levels, check_links, downstream_closure
from geo.ingest.importer import ImportReport, import_into
from geo.ingest.model import ImportOptions, IngestResult, Limits, RejectedFeature, SourceFormat
from geo.ingest.read import _check_geometries, ingest_bytes
from geo.ingest.values import clean_attributes, feature_label
from geo.store import edits as store
from geo.store.layer_files import _rewrite_top_level, _write_spec

__all__ = ["DatasetPlan", "WaterStressJoin", "apply_plan", "plan_dataset"]

#: Limits of a clipped public layer: more vertices than a hand-made upload.
_LAYER_LIMITS = Limits(max_features=250_000, max_vertices_per_feature=2_000_000,
                       max_vertices_total=25_000_000)
_NETWORKS = {HYDROBASINS.key: ("HYBAS_ID", "NEXT_DOWN"), HYDRORIVERS.key: ("HYRIV_ID", "NEXT_DOWN")}
_OSM_LAYERS = ("points", "lines", "multipolygons")


@dataclass
class WaterStressJoin:
    """Aqueduct's water stress joined onto one catchment-unit layer (not saved yet)."""

    layer_id: str
    frame: gpd.GeoDataFrame
    matched: int
    total: int


@dataclass
class DatasetPlan:
    """What importing a public dataset would do; :func:`apply_plan` does it."""

    profile: DatasetProfile
    source_name: str
    source_format: SourceFormat
    aoi_label: str | None
    layers: list[tuple[Converted, bool]] = field(default_factory=list)
    joins: list[WaterStressJoin] = field(default_factory=list)
    counts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejected: list[RejectedFeature] = field(default_factory=list)
    level: int | None = None

    def lines(self) -> list[str]:
        """The proposal in words, one fact per line, for the person who confirms."""
        title = self.profile.title + (f", Pfafstetter level {self.level}"
                                      if self.level is not None else "")
        out = [f"Recognised {self.source_name} as {title} (by its fields: "
               f"{', '.join(self.profile.fields[:8]) or 'OSM tags'}"
               f"{', …' if len(self.profile.fields) > 8 else ''})."]
        out.append(f"Area of interest: {self.aoi_label}." if self.aoi_label
                   else "No area of interest (--aoi): the whole file.")
        out += self.counts
        for converted, exists in self.layers:
            verb = "replaces the features of" if exists else "into a new"
            out.append(f"→ {len(converted.frame):,} features {verb} layer "
                       f"'{converted.layer_id}' (kind {converted.kind.value}, accuracy "
                       f"{self.profile.accuracy.value} unless a feature says otherwise).")
        for join in self.joins:
            out.append(f"→ water stress joined onto layer '{join.layer_id}': {join.matched:,} "
                       f"of {join.total:,} units matched by Pfafstetter code.")
        if self.profile.links:
            out.append(f"Links: {self.profile.links}.")
        out += self.notes
        out += [f"Left out {r.feature}: {r.reason}." for r in self.rejected[:10]]
        if len(self.rejected) > 10:
            out.append(f"… and {len(self.rejected) - 10} more left out.")
        out.append(f"Licence: {self.profile.licence}.")
        out.append(f"Attribution: {self.profile.attribution}.")
        out.append(f"Cite: {self.profile.citation}")
        if self.profile.terms:
            out.append(f"Terms: {self.profile.terms}")
        return out


# --- planning -------------------------------------------------------------------------------


def plan_dataset(ws: Workspace, path_text: str | Path, *, aoi: Aoi | None = None,
                 layer: str | None = None, kind: str | None = None,
                 src_layer: str | None = None, limits: DatasetLimits | None = None
                 ) -> DatasetPlan | None:
    """Recognise, read, clip and convert a public dataset; write nothing.

    Parameters
    ----------
    ws : Workspace
        The workspace the layers would go into.
    path_text : str or Path
        The file as the user typed it (checked, never handed to GDAL).
    aoi : Aoi, optional
        Only features meeting it are read (and, for networks, those downstream of them).
    layer, kind : str, optional
        The user's layer id / kind instead of the proposed ones (one output layer only).
    src_layer : str, optional
        A layer of a multi-layer file to read alone.

    Returns
    -------
    DatasetPlan or None
        None when the file is not a public dataset we recognise (import it as any file).

    Raises
    ------
    DataReadError, UnsafeInputError
        For broken links (naming the ids), mixed levels (with the counts), unreadable or
        refused files, or too many features for a layer (give a smaller --aoi).
    """
    limits = limits or DatasetLimits()
    first = peek(path_text, limits=limits)
    if first is None or not (first.osm or any(recognise(fields, first.sample) is not None
                                              for fields in first.fields)):
        return None  # not a public dataset: the plain import reads it (and says what is wrong)
    with open_source(path_text, limits=limits) as source:
        found = _recognise(source, src_layer, first)
        if found is None:
            return None
        profile, layers, fmt, frame = found
        plan = DatasetPlan(profile, source.name, fmt, aoi.label if aoi else None)
        if profile is AQUEDUCT:
            _plan_aqueduct(ws, source, layers, plan)
            return plan
        if frame is None:
            frame = _read_features(source, layers, profile, aoi, limits, plan)
        elif profile.key in _NETWORKS:
            frame = _network_in_memory(frame, profile, aoi, plan, source.name)
        elif aoi is not None:
            frame = _clip(frame, aoi)
    _check_size(frame, source.name, limits, aoi)
    outputs = convert(profile, frame, level=plan.level)
    for converted in outputs:
        _validate(converted, source.name)
    _choose_targets(ws, outputs, layer, kind, profile)
    plan.layers = [(c, c.layer_id in ws.specs) for c in outputs]
    for converted in outputs:
        plan.notes += converted.notes
        plan.rejected += converted.rejected
    return plan


def _recognise(source: DatasetSource, src_layer: str | None, first: Peek
               ) -> tuple[DatasetProfile, list[str], SourceFormat, gpd.GeoDataFrame | None] | None:
    if source.how == "table":
        profile = recognise(source.fields())
        return (profile, [], SourceFormat.CSV, None) if profile is not None else None
    if source.how == "ogr":
        layers = [src_layer] if src_layer else source.layers
        if src_layer and src_layer not in source.layers:
            raise DataReadError(f"{source.name} has no layer {src_layer!r}; it has: "
                                f"{', '.join(source.layers)}.")
        found = [(name, recognise(source.fields(name))) for name in layers]
        profiles = [p for _, p in found if p is not None]
        if not profiles:
            return None
        profile = profiles[0]
        fmt = SourceFormat.GPKG if source.path and source.path.suffix == ".gpkg" \
            else SourceFormat.SHAPEFILE_ZIP
        return profile, [n for n, p in found if p is profile], fmt, None
    assert source.data is not None
    if first.osm:
        return OSM, list(_OSM_LAYERS), SourceFormat.GEOJSON, None
    profile = recognise(first.fields[0], first.sample) if first.fields else None
    if profile is None:
        return None
    result = ingest_bytes(source.data, source.name, ImportOptions(datum=Datum.WGS84,
                                                                  limits=_LAYER_LIMITS))
    return profile, [], result.format, result.frame


def _read_features(source: DatasetSource, layers: list[str], profile: DatasetProfile,
                   aoi: Aoi | None, limits: DatasetLimits, plan: DatasetPlan
                   ) -> gpd.GeoDataFrame:
    frames = []
    for name in layers:
        if profile.key in _NETWORKS:
            frames.append(_read_network(source, name, profile, aoi, limits, plan))
            continue
        if aoi is None:
            _check_count(source, name, limits)
        # (an OSM XML / PBF file is read by GDAL's OSM driver from memory)
        frame = _to_wgs84(source.read(name, aoi=aoi), source.name, name)
        if aoi is not None:
            frame = _clip(frame, aoi)
        frames.append(frame)
        plan.counts.append(f"Layer {name}: {len(frame):,} feature(s) read"
                           + (" in the area of interest." if aoi else "."))
    frames = [f for f in frames if not f.empty]
    if not frames:
        raise DataReadError(f"{source.name}: no feature of the dataset lies in "
                            f"{plan.aoi_label or 'the file'}; check --aoi (LON,LAT order).")
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry",
                            crs="EPSG:4326")


def _check_count(source: DatasetSource, name: str, limits: DatasetLimits) -> None:
    if source.how != "ogr":
        return
    count = int(source.info(name).get("features") or 0)
    if count > limits.max_features_out:
        raise DataReadError(
            f"{source.name}: layer {name!r} holds {count:,} features, more than a layer "
            f"takes ({limits.max_features_out:,}); give the area of interest with --aoi "
            "LON,LAT,RADIUS_KM so only the features around the site are read.")


def _read_network(source: DatasetSource, name: str, profile: DatasetProfile, aoi: Aoi | None,
                  limits: DatasetLimits, plan: DatasetPlan) -> gpd.GeoDataFrame:
    """A network's features in the area and downstream of them, after checking all links."""
    id_name, next_name = _NETWORKS[profile.key]
    fields = {f.lower(): f for f in source.fields(name)}
    id_field, next_field = fields[id_name.lower()], fields[next_name.lower()]
    columns = [id_field, next_field]
    if profile is HYDROBASINS:
        columns.append(fields["pfaf_id"])
    table = source.read(name, columns=columns, geometry=False)
    links = LinkTable.build(pd.to_numeric(table[id_field], errors="coerce").fillna(-1),
                            pd.to_numeric(table[next_field], errors="coerce").fillna(-1),
                            table.index.to_numpy())
    check_links(links, name=source.name, id_field=id_name, next_field=next_name)
    if profile is HYDROBASINS:
        plan.level = check_levels(pd.to_numeric(table[fields["pfaf_id"]], errors="coerce")
                                  .fillna(0).to_numpy(dtype=np.int64), name=source.name)
    total = len(links.ids)
    if aoi is None:
        _check_count(source, name, limits)
        frame = _to_wgs84(source.read(name), source.name, name)
        plan.counts.append(f"{total:,} features read (the whole file).")
        return frame
    inside = _clip(_to_wgs84(source.read(name, aoi=aoi), source.name, name), aoi)
    selected = pd.Index(links.rows).get_indexer(inside.index.to_numpy())
    closure = downstream_closure(links, selected)
    extra_rows = np.setdiff1d(links.rows[closure], inside.index.to_numpy())
    downstream = _to_wgs84(source.read(name, fids=extra_rows), source.name, name) \
        if len(extra_rows) else inside.iloc[0:0]
    frame = pd.concat([inside, downstream])
    plan.counts.append(
        f"{len(inside):,} of {total:,} features meet the area of interest; "
        f"{len(downstream):,} more lie downstream of them, to the sink(s), and are kept so "
        "that the affected chain is whole.")
    upstream_out = _upstream_outside(links, closure)
    if upstream_out:
        plan.notes.append(f"{upstream_out:,} feature(s) outside the area drain into it: a site "
                          "relying on water from there needs a wider --aoi.")
    return gpd.GeoDataFrame(frame, geometry=frame.geometry.name, crs="EPSG:4326")


def _upstream_outside(links: LinkTable, closure: np.ndarray) -> int:
    """How many features outside ``closure`` drain directly into one inside it."""
    inside = np.zeros(len(links.ids), dtype=bool)
    inside[closure] = True
    has_parent = links.parent >= 0
    return int((has_parent & ~inside & inside[np.where(has_parent, links.parent, 0)]).sum())


def _network_in_memory(frame: gpd.GeoDataFrame, profile: DatasetProfile, aoi: Aoi | None,
                       plan: DatasetPlan, name: str) -> gpd.GeoDataFrame:
    """A small network read whole: links checked, then clipped with its downstream chain."""
    id_name, next_name = _NETWORKS[profile.key]
    fields = {str(c).lower(): str(c) for c in frame.columns}
    frame = frame.reset_index(drop=True)
    links = LinkTable.build(pd.to_numeric(frame[fields[id_name.lower()]], errors="coerce"
                                          ).fillna(-1),
                            pd.to_numeric(frame[fields[next_name.lower()]], errors="coerce"
                                          ).fillna(-1), np.arange(len(frame)))
    check_links(links, name=name, id_field=id_name, next_field=next_name)
    if profile is HYDROBASINS:
        plan.level = check_levels(pd.to_numeric(frame[fields["pfaf_id"]], errors="coerce")
                                  .fillna(0).to_numpy(dtype=np.int64), name=name)
    if aoi is None:
        plan.counts.append(f"{len(frame):,} features read (the whole file).")
        return frame
    inside = frame.sindex.query(aoi.geometry, predicate="intersects")
    closure = downstream_closure(links, inside)
    plan.counts.append(
        f"{len(np.unique(inside)):,} of {len(frame):,} features meet the area of interest; "
        f"{len(closure) - len(np.unique(inside)):,} more lie downstream of them, to the "
        "sink(s), and are kept so that the affected chain is whole.")
    return frame.iloc[closure]


def _to_wgs84(frame: pd.DataFrame, name: str, layer: str) -> gpd.GeoDataFrame:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise DataReadError(f"{name}: layer {layer!r} has no geometry.")
    if frame.crs is None:
        raise DataReadError(f"{name}: layer {layer!r} declares no CRS; published files are in "
                            "WGS84 (EPSG:4326) and ship a .prj: include it.")
    out = frame.to_crs("EPSG:4326")
    if out.geometry.name != "geometry":
        out = out.rename_geometry("geometry")
    return out


def _clip(frame: gpd.GeoDataFrame, aoi: Aoi) -> gpd.GeoDataFrame:
    """Features that meet the area of interest (whole: a unit is never cut)."""
    if frame.empty:
        return frame
    hits = frame.sindex.query(aoi.geometry, predicate="intersects")
    return frame.iloc[np.sort(hits)]


def _check_size(frame: gpd.GeoDataFrame, name: str, limits: DatasetLimits,
                aoi: Aoi | None) -> None:
    if len(frame) > limits.max_features_out:
        where = "in the area of interest" if aoi else "in the file"
        raise DataReadError(f"{name}: {len(frame):,} features {where}, more than a layer "
                            f"takes ({limits.max_features_out:,}); give a smaller --aoi.")


def _validate(converted: Converted, name: str) -> None:
    """Storable values and valid geometries, as for every upload (repairs noted)."""
    frame = converted.frame
    attributes = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    table, notes = clean_attributes(
        attributes, name, _LAYER_LIMITS,
        lambda row: feature_label(row + 1, attributes.iloc[row]))
    frame = gpd.GeoDataFrame(table, geometry=frame.geometry.values, crs="EPSG:4326")
    frame, rejected, repairs = _check_geometries(frame.reset_index(drop=True), name,
                                                 _LAYER_LIMITS)
    converted.frame = frame
    converted.notes += notes
    converted.rejected += rejected
    if repairs:
        converted.notes.append(f"{len(repairs)} invalid geometries repaired with make_valid "
                               f"(e.g. {repairs[0].feature}: {repairs[0].problem}).")


def _choose_targets(ws: Workspace, outputs: list[Converted], layer: str | None,
                    kind: str | None, profile: DatasetProfile) -> None:
    if kind is not None:
        wanted = {c.kind.value for c in outputs}
        if kind not in wanted:
            hint = (" Protected areas are IWRA candidates, never IWRAs by import: confirm "
                    "them one by one with `catchscope confirm-iwra FID`."
                    if kind == LayerKind.IWRA.value and profile.kind is LayerKind.OTHER else "")
            raise CatalogueError(f"{profile.title} becomes kind {', '.join(sorted(wanted))}, "
                                 f"not {kind}; drop --kind.{hint}")
    if layer is not None:
        if len(outputs) > 1:
            raise CatalogueError(f"{profile.title} becomes {len(outputs)} layers "
                                 f"({', '.join(c.layer_id for c in outputs)}); drop --layer.")
        outputs[0].layer_id = layer
    for converted in outputs:
        spec = ws.specs.get(converted.layer_id)
        if spec is not None and spec.kind is not converted.kind:
            raise CatalogueError(f"Layer {converted.layer_id!r} exists as a {spec.kind.value} "
                                 f"layer; {profile.title} needs kind {converted.kind.value}: "
                                 "choose another id with --layer.")


def _plan_aqueduct(ws: Workspace, source: DatasetSource, layers: list[str],
                   plan: DatasetPlan) -> None:
    if source.how == "table":
        fields = source.fields()
        wanted = [f for f in fields if f.lower() in ("pfaf_id", "bws_raw", "bws_score",
                                                      "bws_cat", "bws_label")]
        raw = source.read_table(wanted)
    else:
        name = layers[0]
        fields = [f for f in source.fields(name) if f.lower() in (
            "pfaf_id", "bws_raw", "bws_score", "bws_cat", "bws_label")]
        raw = source.read(name, columns=fields, geometry=False)
    table = aqueduct_table(raw)
    plan.counts.append(f"{len(table):,} sub-basins (level 6) with baseline water stress.")
    targets = [spec for spec in ws.layers_of_kind(LayerKind.CATCHMENT_UNIT)]
    for spec in targets:
        units = ws.load(spec.id)
        if "pfaf_id" not in units.columns:
            continue
        matched, joined = join_water_stress(units, table)
        frame = units.drop(columns=[c for c in ("layer", "kind", *joined.columns)
                                    if c in units.columns])
        for column in joined.columns:
            frame[column] = joined[column].astype(object).where(joined[column].notna(), None)
        plan.joins.append(WaterStressJoin(spec.id, gpd.GeoDataFrame(frame, crs="EPSG:4326"),
                                          int(matched.sum()), len(units)))
    if not plan.joins:
        raise DataReadError(
            f"{source.name} is {AQUEDUCT.title}: it joins onto HydroBASINS units by their "
            "Pfafstetter code, and this workspace has none with a pfaf_id. Import a "
            "HydroBASINS file first (catchscope import hybas_…_levNN… --aoi …).")


# --- applying -------------------------------------------------------------------------------


def apply_plan(ws: Workspace, plan: DatasetPlan, *, author: str | None = None
               ) -> list[ImportReport | store.SaveResult]:
    """Save what :func:`plan_dataset` proposed; each layer's TOML gets the dataset's terms.

    Raises
    ------
    EditConflictError, DataWriteError, CatalogueError
        From the edit store; a layer saved before the error stays saved.
    """
    done: list[ImportReport | store.SaveResult] = []
    for converted, exists in plan.layers:
        result = IngestResult(filename=plan.source_name, format=plan.source_format,
                              frame=converted.frame, source_crs="EPSG:4326",
                              datum=Datum.WGS84, notes=[], rejected=[])
        report = import_into(ws, converted.layer_id, result,
                             kind=None if exists else converted.kind,
                             mode="replace" if exists else "append",
                             accuracy=plan.profile.accuracy.value, author=author)
        _describe_layer(ws, converted.layer_id, plan, converted.title,
                        style=None if exists else plan.profile.style)
        done.append(report)
    for join in plan.joins:
        saved = store.save_layer(ws, join.layer_id, join.frame,
                                 base_version=store.layer_version(ws, join.layer_id),
                                 action="import", author=author,
                                 summary=f"water stress from {plan.source_name}: "
                                         f"{join.matched} of {join.total} units")
        _add_attribution(ws, join.layer_id, plan)
        done.append(saved)
    return done


def _describe_layer(ws: Workspace, layer_id: str, plan: DatasetPlan, title: str, *,
                    style: Mapping[str, object] | None) -> None:
    """Write the dataset's title, description, licence and attribution into its layer file."""
    path = ws.layers_dir / f"{layer_id}.toml"
    profile = plan.profile
    description = (f"{profile.title} from {plan.source_name}"
                   + (f", clipped to {plan.aoi_label}" if plan.aoi_label else "")
                   + f". Cite: {profile.citation}" + (f" {profile.terms}" if profile.terms
                                                       else ""))
    values = {"title": title, "description": description, "licence": profile.licence[:500],
              "attribution": profile.attribution[:1000],
              "source_date": f"as published in {plan.source_name} (imported "
                             f"{dt.date.today().isoformat()})"[:100]}
    text = _rewrite_top_level(path.read_text(encoding="utf-8"), values)
    if style and "[style]" not in text:
        text = text.rstrip("\n") + "\n\n[style]\n" + "".join(
            f"{key} = {toml_value(value)}\n" for key, value in style.items())
    _write_spec(path, text)
    ws.specs[layer_id] = load_layer_spec(path)


def _add_attribution(ws: Workspace, layer_id: str, plan: DatasetPlan) -> None:
    spec = ws.spec(layer_id)
    extra = f"water stress: {plan.profile.attribution} ({plan.profile.licence})"
    if extra in spec.attribution:
        return
    path = ws.layers_dir / f"{layer_id}.toml"
    attribution = "; ".join(a for a in (spec.attribution, extra) if a)[:1000]
    try:
        _write_spec(path, _rewrite_top_level(path.read_text(encoding="utf-8"),
                                             {"attribution": attribution}))
    except GeoError:
        return  # the join is saved; the layer file keeps its old attribution
    ws.specs[layer_id] = load_layer_spec(path)
