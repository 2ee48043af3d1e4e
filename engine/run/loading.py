"""Loading a batch as the active run, and the cache of live statuses.

Part of BatchEngine (engine/run/engine.py).
"""

from __future__ import annotations

from typing import Any

from engine.core.errors import IllegalTransition, IndexLabError
from engine.core.settings import BatchSettings
from engine.core.states import BUSY_BATCH_STATES, ItemState
from engine.run.active import ActiveItems, ActiveRun
from engine.run.items import ItemColumns
from engine.run.live import LiveStatus
from engine.runners import get_runner
from engine.runners.base import Runner

MAX_CACHED_STATUSES = 16


class Loading:
    """The active run (one at a time) and the live statuses, read without the engine lock."""

    def status(self, batch_run_id: str) -> dict[str, Any]:
        """The live status: from memory for loaded batches, loaded once from the store otherwise."""
        status = self._statuses.get(batch_run_id)  # no engine lock: readers never wait for a lifecycle write
        if status is None:
            with self._lock:
                status = self._statuses.get(batch_run_id) or self._new_status(self.store.get_batch(batch_run_id))
        return status.to_dict()

    def _new_status(self, batch: dict[str, Any], items: ItemColumns | None = None) -> LiveStatus:
        if items is None:
            items = ItemColumns(self.store.item_table(batch["batch_run_id"]))
        status = LiveStatus(batch, items)
        self._statuses[batch["batch_run_id"]] = status
        while len(self._statuses) > MAX_CACHED_STATUSES:
            oldest = next(k for k in self._statuses if not (self._run and k == self._run.batch_run_id))
            del self._statuses[oldest]
        return status

    def _ensure_loaded(self, batch_run_id: str) -> ActiveRun:
        """The batch as the active run, loading it from the store; refuses while another one is busy."""
        self._apply_corrections()
        if self._run is not None and self._run.batch_run_id == batch_run_id:
            return self._run
        batch = self.store.get_batch(batch_run_id)
        current = self._run
        if current is not None and (current.state in BUSY_BATCH_STATES or current.inflight):
            raise IllegalTransition(
                f"batch {current.batch_run_id} is {current.state}: one batch runs at a time; "
                f"pause or stop it before working on {batch_run_id}")
        settings = BatchSettings(**batch["settings"])
        loaded = ItemColumns(self.store.item_table(batch_run_id))  # one columnar read, shared with the live status
        items = ActiveItems(loaded)
        try:
            runner: Runner | None = get_runner(settings.runner)
        except IndexLabError:
            runner = None  # status and stop still work; start refuses and says why
        run = ActiveRun(batch_run_id, settings, batch["state"], items, runner, loaded)
        self.limits.configure(domain_concurrency=settings.domain_concurrency,
                              domain_cooldown=settings.domain_cooldown_seconds,
                              provider_rate_per_minute=settings.provider_rate_per_minute)
        run.ready = items.seqs_in((ItemState.QUEUED.value,))  # in seq order, so already a heap
        if current is not None and current.executor is not None:
            current.executor.shutdown(wait=False)
        self._run = run
        self._new_status(batch, loaded)
        return run

    def _require_active(self, batch_run_id: str) -> ActiveRun:
        self._apply_corrections()
        if self._run is None or self._run.batch_run_id != batch_run_id:
            state = self.store.get_batch(batch_run_id)["state"]  # NotFound for an unknown id
            raise IllegalTransition(f"batch {batch_run_id} is {state}; only the active batch can be paused")
        return self._run
