"""The batch engine: dispatches a batch's items in run order to an Executor, and owns their lifecycle.

One engine per process, one running batch at a time. Its in-memory view of the active batch is
the authority for what may happen next; the store (through the group-commit writer) is the
authority for what has happened, and the live status shows only what is committed.
Lifecycle semantics are DESIGN.md §3; every move is checked against engine.core.states.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from engine.core.limits import Clock, DomainLimiter, Limits, ProviderLimiter, SystemClock
from engine.core.states import ItemState
from engine.run.active import ActiveRun
from engine.run.changes import ENGINE, ChangeBuilders
from engine.run.dispatch import Dispatcher
from engine.run.lifecycle import Lifecycle
from engine.run.live import LiveStatus
from engine.run.loading import Loading
from engine.run.recovery import Recovery
from engine.run.writer import GroupCommitWriter
from engine.store import BulkMove, Store, utcnow

ABANDON_GRACE_S = 2.0  # past its deadline plus this, an attempt that ignores cancellation is abandoned
ExecutorFactory = Callable[[int], Executor]


def default_executor(workers: int) -> Executor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="indexlab-worker")


class BatchEngine(Lifecycle, Recovery, Loading, ChangeBuilders, Dispatcher):
    """Start, pause, resume, stop, force stop, retry and skip; recovery on ``open()``; live status."""

    def __init__(self, store: Store, *, executor_factory: ExecutorFactory = default_executor,
                 limits: Limits | None = None, clock: Clock | None = None, background: bool = True,
                 auto_resume: bool = True, catalog_ids: Iterable[str] | None = None,
                 rng: random.Random | None = None, abandon_grace: float = ABANDON_GRACE_S) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self.limits = limits or Limits(DomainLimiter(clock=self.clock), ProviderLimiter(clock=self.clock))
        self.background = background
        self.auto_resume = auto_resume
        self.catalog_ids = frozenset(catalog_ids) if catalog_ids is not None else None
        self.abandon_grace = abandon_grace
        self._executor_factory = executor_factory
        self._rng = rng or random.Random()
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._run: ActiveRun | None = None
        self._statuses: dict[str, LiveStatus] = {}
        self._closed = False
        self._corrections: list[tuple[str, int, str]] = []  # (batch, seq, error): completions the store refused
        self.writer = GroupCommitWriter(store, threaded=background, fallback=self._stored_instead)
        self.writer.add_listener(self._on_commit)

    def open(self) -> BatchEngine:
        """Start-up, once, before any other call: start the writer, then recover the store (sweep orphaned job
        processes, re-queue what a dead process left running) and resume the batch it was on, starting its
        dispatcher (DESIGN §3 Restart). The constructor does none of this. Returns the engine."""
        self.writer.start()
        self.recover()
        return self

    def active_batch_id(self) -> str | None:
        with self._lock:
            return self._run.batch_run_id if self._run else None

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until the dispatcher has nothing left to do (tests, headless CLI)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._run is not None and self._run.thread is not None and self._run.thread.is_alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(min(left, 0.05))
        self.writer.flush()
        return True

    def drain(self) -> None:
        """Run the active batch's queue to empty in the calling thread (``background=False``)."""
        if self.background:
            raise RuntimeError("drain() is for engines built with background=False; use wait_idle()")
        with self._lock:
            run = self._run
        if run is not None:
            self._loop(run)

    def close(self) -> None:
        """Stop dispatching; leave states as they are so the next start recovers them."""
        with self._lock:
            self._closed = True
            run = self._run
            if run is not None and run.inflight:
                for attempt in run.inflight.values():
                    attempt.token.set("engine closed")
                # a shutdown, not a crash: the attempts are refunded and do not count towards max_crashes
                self.writer.post([BulkMove(run.batch_run_id, (ItemState.RUNNING.value,), ItemState.QUEUED.value, utcnow(),
                                           ENGINE, "interrupted: the server shut down during this attempt (not counted "
                                           "as a failure)", seqs=tuple(run.inflight), interrupted=True)])
            self._wake.notify_all()
        if run is not None and run.thread is not None:
            run.thread.join(timeout=5)
        if run is not None and run.executor is not None:
            run.executor.shutdown(wait=False, cancel_futures=True)
        self.writer.close()

    def _on_commit(self, changes: Sequence[Any]) -> None:
        for status in list(self._statuses.values()):
            status.apply(changes)
