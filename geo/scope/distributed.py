"""The portfolio on a dask.distributed cluster: the big layers' joins spread over workers.

``catchscope scope --all --engine dask [--scheduler tcp://host:8786]`` runs the columnar
engine (:mod:`geo.scope.columnar`) with its two heavy steps on a cluster, over the
partitions (one per file of a GeoParquet folder) that dask-geopandas reads:

* **units near the sites and chains** — the client marks where its parcels and chain
  features reach on a cell grid (small, sent once); each worker reads one partition of
  units and sends back the geometries of the units that come near, with their row
  positions, so the client's scene is the one the single-process engine builds;
* **IWRA counts** — the sites, prepared once (one geometry per site, per UTM zone,
  projected), are scattered to every worker; each worker counts the IWRAs of its
  partition within each band of each site (:func:`geo.scope.screening.count_pairs`), and
  the client adds the counts up.  IWRAs never come to the client.

Everything else (the network walks, water chains, the checklist) runs on the client as
in the columnar engine, so the rows are the same — a test compares them row by row.
Without ``scheduler`` a :class:`distributed.LocalCluster` is started for the run (one
worker process per core).  Workers read the layers from the paths the client sees: on a
real cluster the workspace must be on storage mounted at the same path on every worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.core.catalogue import LayerSpec
from geo.core.crs import to_wgs84
from geo.core.errors import GeoError, ScopeError
from geo.core.geoparquet import ParquetLayer, Reach
from geo.core.workspace import Workspace
from geo.scope.columnar import (
    PortfolioScene,
    big_layer_columns,
    load_portfolio_scene,
    run_portfolio,
)
from geo.scope.scene import Scene
from geo.scope.screening import SiteGeometries, count_pairs, counts_table, prepare_sites
from geo.scope.summary import Progress

__all__ = ["SchedulerError", "assess_portfolio_dask", "dask_client"]


class SchedulerError(ScopeError):
    """The dask scheduler cannot be reached (or the cluster cannot start)."""


@contextlib.contextmanager
def dask_client(scheduler: str | None) -> Iterator[Any]:
    """A distributed Client: to ``scheduler``, or to a local cluster started for the run.

    The time to wait for a scheduler is dask's configuration value
    ``catchscope.scheduler-timeout`` (default ``"10s"``; from the environment:
    ``DASK_CATCHSCOPE__SCHEDULER_TIMEOUT=60s``).

    Raises
    ------
    SchedulerError
        If the scheduler does not answer in time, or dask is not installed.
    """
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as err:
        raise SchedulerError("The dask engine needs dask[distributed] and dask-geopandas: "
                             "pip install -e '.[scale]'.") from err
    if scheduler is not None:
        try:
            client = Client(scheduler,
                            timeout=dask.config.get("catchscope.scheduler-timeout", "10s"))
        except (OSError, TimeoutError) as err:
            raise SchedulerError(
                f"Cannot reach the dask scheduler at {scheduler} ({err}). Start one with "
                "`dask scheduler` and workers with `dask worker ADDRESS` (see README), or "
                "leave out --scheduler to run on a local cluster.") from err
        with client:
            yield client
        return
    workers = max(1, min(os.cpu_count() or 1, 4))
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        yield client


def _partitions(layer: ParquetLayer, columns: list[str]) -> list[Any]:
    """One delayed GeoDataFrame per file of the layer, read by dask-geopandas."""
    import dask_geopandas

    frame = dask_geopandas.read_parquet(
        [str(p.path) for p in layer.parts], columns=[*columns, layer.geometry],
        split_row_groups=False)
    parts = frame.to_delayed()
    if len(parts) != len(layer.parts):
        raise ScopeError(f"{layer.path.name}: dask read {len(parts)} partitions from "
                         f"{len(layer.parts)} files; expected one per file.")
    return list(parts)


def _near_part(part: gpd.GeoDataFrame, expected: int, offset: int, reach: Reach
               ) -> tuple[np.ndarray, gpd.GeoDataFrame]:
    """On a worker: the rows of one partition near the query geometries, and where."""
    if len(part) != expected:
        raise ScopeError(f"A partition has {len(part)} rows where its file has {expected}.")
    keep = np.flatnonzero(reach.hits(part.geometry.bounds.to_numpy()))
    return offset + keep, part.iloc[keep].reset_index(drop=True)


def _count_part(part: gpd.GeoDataFrame, spec: LayerSpec, sites: SiteGeometries,
                thresholds: list[float]) -> np.ndarray:
    """On a worker: IWRAs of one partition within each threshold of each site."""
    moved = to_wgs84(part, declared_crs=spec.crs, datum=spec.datum,
                     where=f"layer {spec.id!r} ({spec.source})")
    return count_pairs(sites, moved.geometry, thresholds)


class _Cluster:
    """The client side of the dask engine: reads near geometries, counts per partition."""

    def __init__(self, client: Any, ws: Workspace) -> None:
        self.client = client
        self.ws = ws

    def read_near(self, layer: ParquetLayer, geometries: np.ndarray, distance: float,
                  columns: list[str]) -> tuple[gpd.GeoDataFrame, np.ndarray]:
        """The columnar engine's row reader, one task per partition."""
        import dask

        reach = self.client.scatter(Reach.of(np.asarray(geometries, dtype=object), distance),
                                    broadcast=True)
        tasks = [dask.delayed(_near_part)(part, sum(p.rows), p.offset, reach)
                 for part, p in zip(_partitions(layer, columns), layer.parts, strict=True)]
        results = dask.compute(*tasks)
        rows = np.concatenate([r[0] for r in results]).astype(np.int64)
        frames = [r[1] for r in results if len(r[1])]
        if not frames:
            return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=layer.crs),
                                    crs=layer.crs), rows
        frame = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=layer.crs)
        return frame, rows

    def count(self, portfolio: PortfolioScene) -> Any:
        """The columnar engine's IWRA counter: big layers on the workers, small here."""
        import dask

        def counter(scene: Scene, located: gpd.GeoDataFrame,
                    refs: list[str]) -> dict[str, dict[str, int]]:
            bands = sorted(scene.bands_km)
            thresholds = [min(scene.onsite_tolerance_m, bands[-1] * 1000.0),
                          *(b * 1000.0 for b in bands)]
            sites = prepare_sites(located)
            counts = count_pairs(sites, scene.iwras.geometry, thresholds)  # small layers
            shared = self.client.scatter(sites, broadcast=True)
            tasks = []
            for layer_id, layer in portfolio.iwra_layers.items():
                spec = self.ws.spec(layer_id)
                big_layer_columns(spec, layer, ())  # the checks the single-process read makes
                tasks += [dask.delayed(_count_part)(part, spec, shared, thresholds)
                          for part in _partitions(layer, [])]
            for part in dask.compute(*tasks):
                counts += part
            return counts_table(sites.refs, counts, bands, refs).to_dict(orient="index")

        return counter


def assess_portfolio_dask(ws: Workspace, *, bands_km: Iterable[float] | None = None,
                          progress: Progress | None = None,
                          scheduler: str | None = None) -> pd.DataFrame:
    """The portfolio table by the dask engine (see :func:`geo.scope.portfolio.assess_all`).

    Raises
    ------
    SchedulerError
        If the scheduler cannot be reached.
    GeoError
        For problems of the whole workspace, as the other engines.
    """
    with dask_client(scheduler) as client:
        cluster = _Cluster(client, ws)
        try:
            portfolio = load_portfolio_scene(ws, bands_km, reader=cluster.read_near,
                                             read_iwras=False)
            return run_portfolio(portfolio, progress, counter=cluster.count(portfolio))
        except GeoError:
            raise
        except OSError as err:  # a worker lost, the scheduler gone
            raise SchedulerError(f"The dask cluster failed during the run ({err}).") from err
