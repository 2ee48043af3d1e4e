"""Where the engine runs product jobs: its pools, by kind. ``local`` is always there (this process's threads); a
server started with a cluster (engine/dask) also has ``dask``, and that is its default. A batch's ``executor``
setting picks one of the kinds the server offers (None: the default); it can never name a cluster or an address.

Each pool keeps what sizes its chunks (engine/run/chunks.py): a cluster's round trip costs more than a thread's
hand-over, so it asks for larger chunks, and its workers give back what a slow attempt holds up.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from engine.core.errors import PlanError
from engine.run.chunks import CHUNK_SECONDS

ExecutorFactory = Callable[[int], Executor]
LOCAL = "local"


def default_executor(workers: int) -> Executor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="indexlab-worker")


@dataclass(eq=False)
class Pool:
    """One place jobs run: the factory of its executor, the executor while it has one, and its chunk sizing."""

    kind: str
    factory: ExecutorFactory
    max_chunk: int
    chunk_seconds: float = CHUNK_SECONDS
    gives_back: bool = False  # its workers hand back what a slow attempt holds up (a remote executor's)
    executor: Executor | None = None

    @classmethod
    def of(cls, factory: ExecutorFactory, max_chunk: int) -> Pool:
        """A pool for ``factory``, which may say its kind and chunk sizing (a cluster does: engine/dask)."""
        return cls(str(getattr(factory, "kind", LOCAL)), factory,
                   max(1, getattr(factory, "max_chunk", max_chunk)),
                   getattr(factory, "chunk_seconds", CHUNK_SECONDS), bool(getattr(factory, "gives_back", False)))

    def get(self, workers: int) -> Executor:
        if self.executor is None:
            self.executor = self.factory(workers)
        return self.executor

    def let_go(self, *, cancel_futures: bool = False) -> None:
        """Stop handing work to the executor (a fresh one starts with the next dispatch): a thread pool's threads end
        as their attempts return; a cluster's executor stays up."""
        executor, self.executor = self.executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=cancel_futures)


class Pools:
    """The engine's pools: the factory it was given (its default kind), and local threads beside a cluster."""

    def __init__(self, factory: ExecutorFactory, max_chunk: int) -> None:
        default = Pool.of(factory, max_chunk)
        self.default = default.kind
        self.factory = factory  # the one it was given: a cluster's connection, closed with the engine
        self.by_kind: dict[str, Pool] = {default.kind: default}
        if default.kind != LOCAL:
            self.by_kind[LOCAL] = Pool(LOCAL, default_executor, max(1, max_chunk))

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds offered, the default first."""
        return (self.default, *(k for k in self.by_kind if k != self.default))

    def kind_of(self, executor: str | None) -> str:
        return executor or self.default

    def of(self, executor: str | None) -> Pool:
        """The pool for a batch's ``executor`` setting; PlanError naming the kinds offered when it is not one."""
        pool = self.by_kind.get(self.kind_of(executor))
        if pool is None:
            offered = " and ".join(repr(k) for k in self.kinds)
            raise PlanError(f"executor {executor!r} is not offered by this server (it offers {offered}); a server "
                               "runs jobs on Dask only when started with --executor dask or a scheduler address",
                               field="settings.executor")
        return pool

    def all(self) -> list[Pool]:
        return list(self.by_kind.values())

    def info(self, kind: str, max_workers: int) -> dict[str, Any]:
        """What the status shows of the pool ``kind``: a cluster's own account, or this process's threads."""
        pool = self.by_kind.get(kind)
        if pool is None:  # a batch planned for a cluster this server was not started with
            return {"executor": kind, "workers": 0, "worker_threads": 0, "status": "not offered by this server",
                    "max_workers": max_workers}
        info = getattr(pool.factory, "info", None)
        if info is None:
            return {"executor": LOCAL, "workers": 1, "worker_threads": max_workers, "max_workers": max_workers}
        return {**info(), "max_workers": max_workers}
