"""Opening the service: the one place a face (a CLI command, the server's composition root) gets a store and, when
it runs batches, an engine. The face then holds only the service, which closes both."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.core.catalog import Catalog
from engine.core.config import Config, db_path
from engine.core.settings import BatchSettings, Capacity, ServerSettings, load_server_settings
from engine.run.engine import BatchEngine
from engine.runners import RunnerUnavailable, check_runner, resolve, runner_info, runner_names
from engine.service.batch import BatchService
from engine.service.models import RunnerEntry, RunnerList
from engine.store import Store

MAX_BUDGET = 256  # the most workers a server's budget may hold (Capacity's bound)

__all__ = ["ExecutorChoice", "open_service", "runner_names", "runners", "server_settings"]


def open_service(db: str | Path, catalog: Catalog | None = None, *, run: bool = False, auto_resume: bool = True,
                 defaults: BatchSettings | None = None, writes: bool = True,
                 capacity: Capacity | None = None, executor: ExecutorChoice | None = None) -> BatchService:
    """A service over the database ``db`` (one clear ``StoreError`` when it cannot be opened).

    ``run`` also opens a batch engine, which recovers the store (DESIGN §3 Restart) and, with ``auto_resume``,
    resumes the batches that were running, within ``capacity`` (the server's worker budget, default ``Capacity()``);
    only one process may hold the file. ``executor`` says where the engine runs product jobs (default: this
    process's threads; ``dask``: a cluster, engine/dask). ``service.close()`` (or
    ``with contextlib.closing(...)``) stops the engine and closes the store.
    """
    store = Store(db_path(db, writes=writes))
    cluster = None
    try:
        engine = None
        if run:
            ids = catalog.products["product_id"] if catalog is not None else None
            options: dict = {}
            if executor is not None and executor.kind == "dask":
                cluster = open_cluster(executor)
                capacity = _cluster_budget(capacity or Capacity(), cluster, executor)
                options["executor_factory"] = cluster
            engine = BatchEngine(store, catalog_ids=ids, auto_resume=auto_resume, capacity=capacity, **options).open()
    except BaseException:
        if cluster is not None and engine is None:
            cluster.close()
        store.close()
        raise
    return BatchService(store, catalog, engine, defaults, owns=True)


@dataclass(frozen=True)
class ExecutorChoice:
    """Where product jobs run: ``local`` threads, or ``dask`` on the scheduler at ``scheduler`` (None: a LocalCluster
    of ``workers`` processes started here). ``max_workers_set``: the server's budget was set explicitly; otherwise a
    cluster's budget is its threads."""

    kind: str = "local"
    scheduler: str | None = None
    workers: int | None = None
    max_workers_set: bool = False

    @classmethod
    def of(cls, config: Config, server: ServerSettings | None = None) -> ExecutorChoice:
        """The environment's (and command line's) choice over the server's settings file."""
        server = server or ServerSettings()
        scheduler = config.dask_scheduler or (server.dask_scheduler if config.executor in (None, "dask") else None)
        kind = config.executor or ("dask" if config.dask_scheduler else server.executor)
        return cls(kind, scheduler, config.dask_workers or server.dask_workers,
                   config.max_workers is not None or "max_workers" in server.model_fields_set)


def open_cluster(choice: ExecutorChoice) -> Any:
    """The Dask cluster connection (engine/dask) for ``choice``; ``ClusterUnavailable`` says why there is none."""
    from engine.dask.cluster import connect  # distributed is an optional extra: imported only when asked for

    return connect(choice.scheduler, n_workers=choice.workers)


def _cluster_budget(capacity: Capacity, cluster: Any, choice: ExecutorChoice) -> Capacity:
    threads = cluster.worker_threads()
    if choice.max_workers_set or threads < 1:
        return capacity
    return capacity.model_copy(update={"max_workers": min(threads, MAX_BUDGET)})


def server_settings(path: str | Path | None) -> ServerSettings:
    """The server's settings: ``path`` (a JSON or TOML file), else the built-in ones; a runner this process does
    not have is refused now, not when the first batch planned with it starts."""
    return load_server_settings(path, check_runner=check_runner) if path else ServerSettings()


def runners(*, check: bool = False) -> RunnerList:
    """Every runner this process can be asked for, plugins included, without importing any plugin; ``check`` loads
    each one now, so ``problem`` says why one cannot run (an operator's check after installing a plugin)."""
    entries = []
    for info in runner_info():
        problem = info.problem
        if check and problem is None:
            try:
                resolve(info.name)
            except RunnerUnavailable as exc:
                problem = exc.message
        entries.append(RunnerEntry(name=info.name, origin=info.origin, distribution=info.distribution,
                                   version=info.version, entry_point=info.entry_point, problem=problem))
    return RunnerList(runners=entries)
