"""Loading a batch into memory (and letting it go), the shared limits' settings, and the live statuses.

Part of BatchEngine (engine/run/engine.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from engine.core.errors import IllegalTransition, IndexLabError
from engine.core.settings import BatchSettings
from engine.core.states import ACTIVE_BATCH_STATES, BUSY_BATCH_STATES, ItemState
from engine.run.active import ActiveItems, ActiveRun
from engine.run.items import ItemColumns
from engine.run.live import LiveStatus, stored_status
from engine.runners import get_runner
from engine.runners.base import Runner

MAX_CACHED_STATUSES = 16  # live statuses kept for batches no longer loaded (a loaded batch's is always kept)
MAX_STORED_STATUSES = 1024  # statuses read from the store, kept until their batch changes
T = TypeVar("T")


class Loading:
    """The loaded runs and their live statuses, read without the engine lock."""

    def status(self, batch_run_id: str) -> dict[str, Any]:
        """The live status: from memory for a loaded batch (or one recently loaded), else from small store
        aggregates. Never takes the engine lock, never loads a batch: a status poll cannot stall dispatch."""
        status = self._statuses.get(batch_run_id)
        if status is not None and status.stale:  # shed, then changed in a way it cannot follow: the store knows
            if self._statuses.get(batch_run_id) is status:
                self._statuses.pop(batch_run_id, None)
            status = None
        if status is not None:
            view = status.to_dict()
        else:
            view = dict(self._stored.get(batch_run_id) or self._read_stored(batch_run_id))
        view["queue_position"] = self.queue_position(batch_run_id)
        return view

    def status_version(self, batch_run_id: str) -> tuple[int, int, bool]:
        """Changes when what ``status`` says about the batch as a whole may have changed (its state, settings, queue
        place, a halt), not with every item: a cache of statuses (the REST API's) keyed on it never shows a state
        another face already changed. Reads two dicts, takes no lock: cheap enough for an event loop."""
        status = self._statuses.get(batch_run_id)
        return (self._batch_moves.get(batch_run_id, 0),
                -1 if status is not None and not status.stale else self._stored_changes.get(batch_run_id, 0),
                status is not None and status.halted is not None)

    def _read_stored(self, batch_run_id: str) -> dict[str, Any]:
        """A batch's status from the store, kept until a commit changes that batch (``_on_commit``): polling
        the same batches over and over costs one read each per change, not one per poll."""
        seen = self._stored_changes.get(batch_run_id, 0)
        view = stored_status(self.store, self.store.get_batch(batch_run_id))  # NotFound for an unknown id
        if self._stored_changes.get(batch_run_id, 0) == seen:  # no commit of it meanwhile: still true
            self._stored[batch_run_id] = view
            while len(self._stored) > MAX_STORED_STATUSES:
                self._stored.pop(next(iter(self._stored)), None)
        return view

    def queue_position(self, batch_run_id: str) -> int | None:
        """1 for the batch admitted next, ...; None for a batch not in the queue."""
        queue = tuple(self._queue)  # a copy, without the lock
        return queue.index(batch_run_id) + 1 if batch_run_id in queue else None

    def _new_status(self, batch: dict[str, Any], items: ItemColumns | None = None) -> LiveStatus:
        if items is None:
            items = ItemColumns(self.store.item_batches(batch["batch_run_id"]))
        status = LiveStatus(batch, items)
        self._statuses[batch["batch_run_id"]] = status
        evictable = [k for k in self._statuses if k not in self._runs and k != batch["batch_run_id"]]
        for key in evictable[:max(0, len(evictable) - MAX_CACHED_STATUSES)]:
            del self._statuses[key]
        return status

    def _ensure_loaded(self, batch_run_id: str) -> ActiveRun:
        """The batch as a loaded run, loading it from the store (and letting idle loaded runs go)."""
        self._apply_corrections()
        run = self._runs.get(batch_run_id)
        if run is not None:
            return run
        batch = self.store.get_batch(batch_run_id)  # NotFound for an unknown id
        for idle in [r for r in self._runs.values() if r.state not in BUSY_BATCH_STATES and not r.inflight]:
            self._unload(idle)
        self.writer.flush()  # what was posted about this batch when it was last loaded is in the store now
        settings = BatchSettings(**batch["settings"])
        loaded = ItemColumns(self.store.item_batches(batch_run_id))  # one columnar read, shared with the live status
        items = ActiveItems(loaded)
        try:
            runner: Runner | None = get_runner(settings.runner)
        except IndexLabError:
            runner = None  # status and stop still work; start refuses and says why
        run = ActiveRun(batch_run_id, settings, batch["state"], items, runner, loaded, priority=batch["priority"])
        run.ready = items.seqs_in((ItemState.QUEUED.value,))  # in seq order, so already a heap
        self._runs[batch_run_id] = run
        self._new_status(batch, loaded)
        return run

    def _unload(self, run: ActiveRun) -> None:
        """Let an idle run go (its live status stays, fed by commits, until evicted). A stale run (its batch was let
        go and loaded again since, while a caller waited without the lock) changes nothing: the batch's current run
        keeps its place and its share."""
        if self._runs.get(run.batch_run_id) is not run or run.batch_run_id in self._writing:
            return  # (a move being written: reloading it from the store now would read the state before it)
        del self._runs[run.batch_run_id]
        self._scheduler.leave(run.batch_run_id)
        self._configure_limits()
        self._shed_when_written(run.batch_run_id)

    def _shed_when_written(self, batch_run_id: str) -> None:
        """The live status of a batch let go sheds its per-item columns once every change posted for it so far is
        committed (a completion posted by the dispatcher may still be on its way); if the store cannot write, it
        keeps them. Its counts, feed, failures and rates stay: ten whole-catalog batches at 100,000 items kept
        ~80 MB of columns for statuses nobody follows item by item (bench/soak.py)."""
        status = self._statuses.get(batch_run_id)
        if status is None or status.shed:
            return
        written = self.writer.submit([])  # resolves after what was queued before it
        written.add_done_callback(lambda done: done.exception() is None and status.shed_items())

    def _configure_limits(self) -> None:
        """The shared limits follow the strictest settings of the running batches (see BatchEngine)."""
        running = [r.settings for r in self._runs.values() if r.state in BUSY_BATCH_STATES]
        if not running:
            return
        values = {"domain_concurrency": min(s.domain_concurrency for s in running),
                  "domain_cooldown": max(s.domain_cooldown_seconds for s in running),
                  "provider_rate_per_minute": min(s.provider_rate_per_minute for s in running)}
        self.limits.configure(**values)
        cluster = getattr(self._executor_factory, "configure_limits", None)
        if cluster is not None:  # a cluster's one limiter (engine/dask/limits.py) follows, off this lock
            cluster(**values)

    def forget(self, batch_run_id: str, delete: Callable[[], T]) -> T:
        """Run ``delete`` (the batch's rows going from the store) with the lifecycle lock held, so no start or retry
        slips in, then drop what this engine holds of the batch (its live status, its stored status, its run).
        Refused while items of it are still finishing here."""
        with self._lock:
            run = self._runs.get(batch_run_id)
            if run is not None and run.inflight and run.state not in ACTIVE_BATCH_STATES:  # (the delete refuses those)
                raise IllegalTransition(f"batch {batch_run_id} has {len(run.inflight)} items still finishing in this "
                                        "server: wait until they have", field="batch_run_id")
            result = delete()
            self._statuses.pop(batch_run_id, None)
            self._stored.pop(batch_run_id, None)
            if run is not None:
                self._unload(run)
        return result
