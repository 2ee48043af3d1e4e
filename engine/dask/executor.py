"""The control plane's side of the Dask executor: the engine's chunks (engine/run/chunks.py) run as Dask tasks.

The engine dispatches through a ``concurrent.futures.Executor``; ``DaskExecutor`` is one whose tasks are the
dispatcher's chunks, sent to the cluster as plain data (engine/dask/worker.py) and mirrored here, in the ``Chunk``
the dispatcher watches: a worker's "began" event moves the chunk's cursor and starts the attempt's deadline on the
engine's clock, its phase and log events reach the attempt's context (the live status and the item's events), and
its results, when the task returns, become the chunk's results. So deadlines, force stop, fencing of late results
and the chunk-by-chunk recording work as for local threads, and only the control plane writes the store.

One relay thread (engine/dask/relay.py) takes the cluster's events off a queue and sends each running chunk's
cancellations (force stop, a deadline, withdrawn attempts) to its worker; one monitor thread (engine/dask/health.py)
watches the scheduler and the cluster's limiter.

Faults: a worker process that dies (``KilledWorker``; the cluster is told ``allowed-failures: 0`` so no task runs
twice by itself) fails the chunk's future with ``WorkerLost``, naming the attempt it was running; the scheduler going
away fails it with ``ExecutorLost``. The engine decides what becomes of the items (engine/run/endings.py).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from typing import Any

from engine.core.limits import Clock
from engine.core.settings import BatchSettings
from engine.dask.health import ClusterHealth
from engine.dask.relay import ChunkRelay, Remote
from engine.dask.worker import TOPIC, ChunkSpec, RemoteResult, cancel_name, error_of, run_remote_chunk
from engine.run.chunks import Chunk, ExecutorLost, NotDispatched, WorkerLost, run_chunk

log = logging.getLogger("indexlab.dask")


class DaskCluster(ChunkRelay, ClusterHealth):
    """The engine's connection to a Dask cluster: a ``Client``, the relay thread, the chunks in flight; the engine's
    ``executor_factory`` (``connect()`` in engine/dask/cluster.py makes one)."""

    # A task's round trip through the scheduler costs about a millisecond of its CPU (1.2-1.4 ms an item for
    # client.map of a no-op on 2 local workers): chunks hold ten times the work a thread's do, and may be larger.
    kind = "dask"  # what a batch's ``executor`` setting names to run here (engine/run/pools.py)
    chunk_seconds = 0.05
    max_chunk = 1024
    gives_back = True  # a worker hands back what a slow attempt holds up (engine/dask/worker.py): the engine's clock
    # sees "began" events late, and an attempt it took back by that clock could still begin on the worker

    def __init__(self, client: Any, cluster: Any = None, *, limits: Any = None, address: str | None = None,
                 owns_client: bool = True) -> None:
        self.client = client
        self.owns_client = owns_client  # close() closes the client (and the LocalCluster); else only lets go of it
        self.cluster = cluster  # the LocalCluster this started, closed with it; None for a scheduler of its own
        self.address = address  # the scheduler's address as given (None: the LocalCluster's)
        self.limits = limits  # the cluster limiter's handle (engine/dask/limits.py), handed to every chunk
        self.limit_values: dict[str, float] = {}  # what the limiter was last configured with
        self._inflight: dict[str, Remote] = {}
        self._lock = threading.Lock()
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = threading.Event()
        self._gone = threading.Event()  # a chunk failed because the scheduler went away: watch for its return
        self._on_back: Any = None
        self._wanted_limits: dict[str, float] = {}
        self._info: dict[str, Any] = {}
        self._limiter_gone = threading.Event()
        client.subscribe_topic(TOPIC, self._events.put)
        self._relay = threading.Thread(target=self._relay_loop, name="indexlab-dask-relay", daemon=True)
        self._relay.start()
        self._monitor = threading.Thread(target=self._monitor_loop, name="indexlab-dask-monitor", daemon=True)
        self._monitor.start()

    # -- the engine's Executor ----------------------------------------------------------------------------------

    def __call__(self, workers: int = 0) -> DaskExecutor:
        """An Executor, as BatchEngine's ``executor_factory`` makes one (the budget ``workers`` is the engine's)."""
        return DaskExecutor(self)

    def watch(self, on_back: Any) -> None:
        """``on_back()`` is called (on the monitor thread) when the scheduler answers again after it went away."""
        self._on_back = on_back

    def submit_chunk(self, chunk: Chunk, settings: BatchSettings, clock: Clock,
                     dispatched: Future[None] | None) -> Future:
        local: Future = Future()
        local.set_running_or_notify_cancel()
        key = f"indexlab-chunk-{uuid.uuid4().hex}"
        remote = Remote(key, chunk, clock, settings.max_run_seconds, local)
        spec = ChunkSpec(key, chunk.batch, settings.runner, settings,
                         tuple((a.seq, a.attempt) for a in chunk.attempts), tuple(chunk.products), self.limits)
        with self._lock:
            self._inflight[key] = remote

        def send(_: Any = None) -> None:
            if dispatched is not None:
                error = dispatched.exception()
                if error is not None:
                    return self._end(remote, NotDispatched(f"the dispatch could not be recorded: {error}"))
            try:
                future = self.client.submit(run_remote_chunk, spec, key=key, pure=False, retries=0)
            except Exception as exc:  # the client is closed or cannot reach its scheduler
                self._gone.set()
                return self._end(remote, ExecutorLost(f"the Dask scheduler at {self._where()} cannot take work "
                                                      f"({type(exc).__name__})"))
            future.add_done_callback(lambda f: self._task_done(remote, f))

        if dispatched is None:
            send()
        else:
            dispatched.add_done_callback(send)
        return local

    def _task_done(self, remote: Remote, future: Any) -> None:
        """A chunk's task ended (on a Dask callback thread): its results become the chunk's, or it failed whole."""
        try:
            results: list[RemoteResult]
            results, remote.watched = future.result()
        except Exception as exc:
            return self._end(remote, self._lost(remote, exc))
        chunk = remote.chunk
        ended = [(outcome, error_of(failure) if failure is not None else None, began, ended_at, seconds)
                 for outcome, failure, began, ended_at, seconds in results]
        with chunk.lock:
            chunk.started = max(chunk.started, len(ended))
            chunk.results.extend(ended)
        self._end(remote, None)

    def _lost(self, remote: Remote, exc: BaseException) -> BaseException:
        from distributed import KilledWorker

        with remote.chunk.lock:
            current = remote.chunk.started - 1 if remote.chunk.started else None
        if current is None and len(remote.chunk.attempts) == 1:
            current = 0  # its "began" never arrived (the worker died first): a chunk of one can only blame that one
        if isinstance(exc, KilledWorker):
            self._limiter_gone.set()  # (it may have lived on that worker: the monitor looks)
            where = f" {remote.where[2]} (pid {remote.where[0]} on {remote.where[1]})" if remote.where else ""
            return WorkerLost(f"the Dask worker{where} died", current)
        if self.client.status != "running" or not self._answers():
            self._gone.set()
            return ExecutorLost(f"the Dask scheduler at {self._where()} went away")
        return ExecutorLost(f"the cluster lost the chunk ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")

    def _end(self, remote: Remote, error: BaseException | None) -> None:
        with self._lock:
            if self._inflight.pop(remote.key, None) is None:  # ended already (close() ends what is in flight)
                return
        if error is None:
            remote.local.set_result(None)
        else:
            remote.local.set_exception(error)
        if remote.version or remote.watched:  # its cancel variable or event were used: drop them from the scheduler
            try:
                from distributed import Event, Variable

                if remote.version:
                    Variable(cancel_name(remote.key), client=self.client).delete()
                Event(cancel_name(remote.key), client=self.client).clear()
            except Exception:
                pass

    def close(self) -> None:
        self._closed.set()
        self._relay.join(timeout=2)
        self._monitor.join(timeout=2)
        self._send_cancellations()  # the engine set its attempts' tokens ("engine closed"): the workers stop them
        with self._lock:
            remotes = list(self._inflight.values())
            self._inflight.clear()
        for remote in remotes:
            if not remote.local.done():
                remote.local.set_exception(ExecutorLost("the engine closed its Dask connection"))
        try:
            self.client.unsubscribe_topic(TOPIC)
        except Exception:
            pass
        if not self.owns_client:
            return
        with quiet_shutdown():
            try:
                self.client.close()
            finally:
                if self.cluster is not None:
                    self.cluster.close()


@contextlib.contextmanager
def quiet_shutdown() -> Iterator[None]:
    """While we close a cluster we own, its scheduler can find a retiring worker's comm closed; ``distributed``
    logs that with a traceback ("Batched Comm Closed", INFO), which reads as a crash in the server's log on every
    stop. Only that logger, only during our close; its warnings and errors still show."""
    logger = logging.getLogger("distributed.batched")
    level = logger.level
    logger.setLevel(max(logging.WARNING, level))
    try:
        yield
    finally:
        logger.setLevel(level)


class DaskExecutor(Executor):
    """The dispatcher's Executor on a Dask cluster: takes ``run_chunk`` tasks only, and sends them to the cluster.
    Shutting it down leaves the cluster up (the engine replaces its executor after an abandoned attempt)."""

    def __init__(self, cluster: DaskCluster) -> None:
        self.cluster = cluster

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        if fn is not run_chunk:
            raise TypeError("the Dask executor runs the engine's chunks (run_chunk) only")
        chunk, _runner, settings, clock, *rest = args
        return self.cluster.submit_chunk(chunk, settings, clock, rest[0] if rest else None)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass
