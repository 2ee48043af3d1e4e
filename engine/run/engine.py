"""The batch engine: dispatches the items of every running batch, in run order, to its executors (engine/run/pools.py:
this process's threads, or a cluster's workers as a batch's ``executor`` setting chooses), and owns their lifecycle.

One engine per process; many batches run at once within the server's ``Capacity``: at most ``max_workers``
products in flight in all (each batch at most its own ``workers``), shared fairly by priority
(engine/run/scheduler.py), and at most ``max_running_batches`` batches running; a batch started beyond that
waits in the batch queue. Items go to workers by the chunk (engine/run/chunks.py): as many attempts as fit in a few
milliseconds of the batch's measured pace, each still its own attempt. Its in-memory view of each running batch is
the authority for what may happen next; the store (through the group-commit writer) is the authority for what
has happened, and the live status shows only what is committed. Lifecycle semantics are DESIGN.md §3; every move
is checked against engine.core.states.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from engine.core.errors import IndexLabError
from engine.core.limits import Clock, DomainLimiter, Limits, ProviderLimiter, SystemClock
from engine.core.settings import Capacity
from engine.core.states import BUSY_BATCH_STATES, ItemState
from engine.run.active import ActiveRun
from engine.run.changes import ENGINE, ChangeBuilders
from engine.run.chunks import MAX_CHUNK
from engine.run.dispatch import Dispatcher
from engine.run.lifecycle import Lifecycle
from engine.run.live import LiveStatus
from engine.run.loading import Loading
from engine.run.pools import ExecutorFactory, Pools, default_executor
from engine.run.queue import BatchQueue
from engine.run.recovery import Recovery
from engine.run.scheduler import StrideScheduler
from engine.run.writer import GroupCommitWriter
from engine.store import BatchMove, BatchUpdate, BulkMove, Store, utcnow

_BATCH_LEVEL = (BatchMove, BatchUpdate)  # changes of a batch's state, settings or queue place (not its items')
log = logging.getLogger("indexlab.engine")

ABANDON_GRACE_S = 2.0  # past its deadline plus this, an attempt that ignores cancellation is abandoned


class BatchEngine(Lifecycle, BatchQueue, Recovery, Loading, ChangeBuilders, Dispatcher):
    """Start, pause, resume, stop, force stop, retry and skip; priority, workers and the batch queue; recovery on
    ``open()``; live status.

    Shared limits: one ``DomainLimiter`` and one ``ProviderLimiter`` (``limits``) serve every running batch, so a
    domain's cooldown and a provider's token bucket hold across all of them. They have one configuration: when
    running batches were planned with different limit settings, the strictest of each applies to all of them
    (the smallest ``domain_concurrency`` and ``provider_rate_per_minute``, the longest ``domain_cooldown_seconds``),
    recomputed whenever a batch starts or stops running.
    """

    def __init__(self, store: Store, *, executor_factory: ExecutorFactory = default_executor,
                 limits: Limits | None = None, clock: Clock | None = None, background: bool = True,
                 auto_resume: bool = True, catalog_ids: Iterable[str] | None = None,
                 rng: random.Random | None = None, abandon_grace: float = ABANDON_GRACE_S,
                 capacity: Capacity | None = None, max_chunk: int = MAX_CHUNK) -> None:
        self.store = store
        self.capacity = capacity or Capacity()
        self.clock = clock or SystemClock()
        self.limits = limits or Limits(DomainLimiter(clock=self.clock), ProviderLimiter(clock=self.clock))
        self.background = background
        self.auto_resume = auto_resume
        self.catalog_ids = frozenset(catalog_ids) if catalog_ids is not None else None
        self.abandon_grace = abandon_grace
        # where jobs run (engine/run/pools.py): the factory given (a cluster's, engine/dask, says its kind and chunk
        # sizing), and local threads beside a cluster; a batch's ``executor`` setting picks one
        self.pools = Pools(executor_factory, max_chunk)
        self._executor_factory = executor_factory
        self._rng = rng or random.Random()
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._runs: dict[str, ActiveRun] = {}  # the loaded batches: running or stopping, and any being acted on
        self._queue: list[str] = []  # queued batches (not loaded), first admitted first
        self._ranks: dict[str, int] = {}  # their queue_rank in the store
        self._scheduler = StrideScheduler()
        self._thread: threading.Thread | None = None  # the one dispatcher thread, while there is work
        self._busy = 0  # chunks in flight over all batches: busy workers of the budget
        self._writing: set[str] = set()  # batches whose move is being written without the lock: kept loaded
        self._written = threading.Condition(self._lock)  # notified when a batch leaves ``_writing``
        self._news: queue.SimpleQueue = queue.SimpleQueue()  # ended attempts, and wake-ups, for the dispatcher
        self._statuses: dict[str, LiveStatus] = {}
        self._stored: dict[str, dict[str, Any]] = {}  # statuses of batches not loaded, as last read from the store
        self._stored_changes: dict[str, int] = {}  # commits per batch: a stored status read across one is not kept
        self._batch_moves: dict[str, int] = {}  # committed batch moves and updates per batch (``status_version``)
        self._closed = False
        self._paused_for_executor: set[str] = set()  # batches the engine paused when its executor went away
        self._corrections: list[tuple[str, int, str]] = []  # (batch, seq, error): completions the store refused
        self.writer = GroupCommitWriter(store, threaded=background, fallback=self._stored_instead)
        self.writer.add_listener(self._on_commit)
        if hasattr(executor_factory, "watch"):  # a cluster (engine/dask) tells when its scheduler is back
            executor_factory.watch(self.executor_back)

    def open(self) -> BatchEngine:
        """Start-up, once, before any other call: start the writer, then recover the store (sweep orphaned job
        processes, re-queue what a dead process left running) and resume the batches it was running, starting
        the dispatcher (DESIGN §3 Restart). The constructor does none of this. Returns the engine."""
        self.writer.start()
        self.recover()
        return self

    @contextmanager
    def _settled(self, batch_run_id: str) -> Iterator[None]:
        """The engine lock, once no move of ``batch_run_id`` is being written without it: a lifecycle call on a batch
        whose force stop is still being written waits for that write, so it never acts on the state before it (a
        resume then saw the batch paused and wrote paused -> running after paused -> stopped)."""
        with self._lock:
            while batch_run_id in self._writing:
                self._written.wait()
            yield

    def active_batch_id(self) -> str | None:
        """A batch this engine is dispatching (the highest priority one), else one it holds loaded, else None."""
        with self._lock:
            runs = sorted(self._runs.values(), key=lambda r: (r.state not in BUSY_BATCH_STATES, -r.priority))
            return runs[0].batch_run_id if runs else None

    def running_batch_ids(self) -> list[str]:
        """The batches running (or stopping) now, highest priority first."""
        with self._lock:
            runs = sorted((r for r in self._runs.values() if r.state in BUSY_BATCH_STATES), key=lambda r: -r.priority)
            return [r.batch_run_id for r in runs]

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until the dispatcher has nothing left to do, in any batch (tests, headless CLI)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._thread is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(min(left, 0.05))
        self.writer.flush()
        return True

    def executor_info(self, executor: str | None = None) -> dict[str, Any]:
        """Where product jobs run (``executor``: a batch's setting; None: the server's default): ``local`` (this
        process's threads) or a cluster's own account (``dask``: its scheduler, workers, threads and dashboard link);
        ``max_workers`` is the server's budget either way, shared by every pool; ``offered``: the kinds a batch may
        choose."""
        kind = self.pools.kind_of(executor)
        return {**self.pools.info(kind, self.capacity.max_workers), "offered": list(self.pools.kinds)}

    def offered_executor(self, executor: str | None) -> str:
        """The kind of pool a batch with this ``executor`` setting runs on; PlanError when this server offers none."""
        return self.pools.of(executor).kind

    def executor_back(self) -> list[str]:
        """The executor is back after it went away: resume the batches the engine paused then (those still paused;
        an operator's later action wins). Returns their ids."""
        with self._lock:
            paused, self._paused_for_executor = sorted(self._paused_for_executor), set()
        resumed = []
        for batch_run_id in paused:
            try:
                self.start(batch_run_id, actor=ENGINE, reason="resumed: the executor is back")
                resumed.append(batch_run_id)
            except IndexLabError as exc:
                log.info("batch %s stays as it is after the executor came back: %s", batch_run_id, exc)
        return resumed

    def drain(self) -> None:
        """Run every running batch's queue to empty in the calling thread (``background=False``)."""
        if self.background:
            raise RuntimeError("drain() is for engines built with background=False; use wait_idle()")
        self._loop()

    def close(self) -> None:
        """Stop dispatching; leave states as they are so the next start recovers them."""
        with self._lock:
            self._closed = True
            for run in self._runs.values():
                for chunk in list(run.chunks):  # attempts that ended already are recorded, not re-run
                    self._harvest(run, chunk)
                if not run.inflight:
                    continue
                for attempt in run.inflight.values():
                    attempt.token.set("engine closed")
                # a shutdown, not a crash: the attempts are refunded and do not count towards max_crashes
                self.writer.post([BulkMove(run.batch_run_id, (ItemState.RUNNING.value,), ItemState.QUEUED.value, utcnow(),
                                           ENGINE, "interrupted: the server shut down during this attempt (not counted "
                                           "as a failure)", seqs=tuple(run.inflight), interrupted=True)])
            thread, executors = self._thread, [p.executor for p in self.pools.all()]
            for pool in self.pools.all():
                pool.executor = None
            self._news.put(None)
            self._wake.notify_all()
        if thread is not None:
            thread.join(timeout=5)
        for executor in executors:
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
        self.writer.close()
        closer = getattr(self._executor_factory, "close", None)
        if closer is not None:  # a cluster connection (engine/dask) the engine was given: it ends with the engine
            closer()

    def _on_commit(self, changes: Sequence[Any]) -> None:
        """Feed each live status the committed changes of its own batch (every change names its batch first)."""
        by_batch: dict[str, list[Any]] = {}
        for change in changes:
            by_batch.setdefault(change[0], []).append(change)
            if type(change) in _BATCH_LEVEL:
                self._batch_moves[change[0]] = self._batch_moves.get(change[0], 0) + 1
        for batch_run_id, own in by_batch.items():
            self._stored_changes[batch_run_id] = self._stored_changes.get(batch_run_id, 0) + 1
            self._stored.pop(batch_run_id, None)
            status = self._statuses.get(batch_run_id)
            if status is not None:
                status.apply(own)
