"""The batch queue, and what an operator changes on a batch besides its state: priority, workers, queue place.

Part of BatchEngine (engine/run/engine.py). A batch started while ``max_running_batches`` batches run is
``queued``: it is not loaded (a queue of large batches costs no memory), its place is its ``queue_rank`` in
the store, and it is admitted (queued -> running) when a running batch pauses, stops or completes.
"""

from __future__ import annotations

import logging
from typing import Any

from engine.core.errors import IllegalTransition, IndexLabError, InvalidValue
from engine.core.settings import BatchSettings
from engine.core.states import BUSY_BATCH_STATES, FINISHED_BATCH_STATES, BatchState, check_batch_move
from engine.run.active import ActiveRun
from engine.run.changes import ENGINE
from engine.run.scheduler import MAX_PRIORITY, MIN_PRIORITY
from engine.store import BatchMove, BatchUpdate, BulkMove, Change, EventRow, Store, utcnow

log = logging.getLogger("indexlab.engine")
_WORKERS = BatchSettings.model_fields["workers"].metadata
MIN_WORKERS, MAX_WORKERS = (next(m.ge for m in _WORKERS if hasattr(m, "ge")),
                            next(m.le for m in _WORKERS if hasattr(m, "le")))


class BatchQueue:
    """Queue, admit, reorder; change a batch's priority and workers (each an audited operator action)."""

    # ------------------------------------------------------------------ operator actions
    def set_priority(self, batch_run_id: str, priority: int, *, actor: str = "operator") -> dict[str, Any]:
        """A batch's weight in the fair share of workers (1..10, higher runs more); takes effect at once."""
        _check_range("priority", priority, MIN_PRIORITY, MAX_PRIORITY)
        with self._lock:
            batch, run = self._changeable(batch_run_id)
            old = run.priority if run is not None else batch["priority"]
            if old != priority:
                self._update(batch_run_id, actor, f"priority {old} -> {priority}", priority=priority)
                if run is not None:
                    run.priority = priority
                    self._scheduler.set_priority(batch_run_id, priority)
        return self.status(batch_run_id)

    def set_workers(self, batch_run_id: str, workers: int, *, actor: str = "operator") -> dict[str, Any]:
        """A batch's own cap on products run at once (its settings' ``workers``, kept in its settings snapshot);
        the server's ``max_workers`` still bounds all batches together."""
        _check_range("workers", workers, MIN_WORKERS, MAX_WORKERS)
        with self._lock:
            batch, run = self._changeable(batch_run_id)
            old = run.settings.workers if run is not None else batch["settings"]["workers"]
            if old != workers:
                self._update(batch_run_id, actor, f"workers {old} -> {workers}", workers=workers)
                if run is not None:
                    run.settings = run.settings.model_copy(update={"workers": workers})
                    self._kick()
        return self.status(batch_run_id)

    def move_in_queue(self, batch_run_id: str, position: int, *, actor: str = "operator") -> dict[str, Any]:
        """Move a queued batch to ``position`` (1: admitted next) of the queue."""
        with self._lock:
            if batch_run_id not in self._queue:
                state = self.store.get_batch(batch_run_id)["state"]  # NotFound for an unknown id
                raise IllegalTransition(f"batch {batch_run_id} is {state}, not queued: only a queued batch has a "
                                        "place in the queue", field="batch_run_id")
            _check_range("position", position, 1, len(self._queue))
            old = self._queue.index(batch_run_id) + 1
            if old != position:
                order = [b for b in self._queue if b != batch_run_id]
                order.insert(position - 1, batch_run_id)
                now = utcnow()
                changes: list[Change] = []
                for rank, queued in enumerate(order, start=1):
                    event = EventRow(queued, None, now, "operator_action", actor=actor,
                                     reason=f"queue position {old} -> {position}") if queued == batch_run_id else None
                    if event is not None or self._ranks.get(queued) != rank:
                        changes.append(BatchUpdate(queued, now, event, queue_rank=rank))
                self.writer.write(changes)
                self._queue[:] = order
                self._ranks = {queued: rank for rank, queued in enumerate(order, start=1)}
        return self.status(batch_run_id)

    def queue(self) -> list[str]:
        """The queued batches, the one admitted next first."""
        with self._lock:
            return list(self._queue)

    # ------------------------------------------------------------------ internals
    def _changeable(self, batch_run_id: str) -> tuple[dict[str, Any], ActiveRun | None]:
        batch = self.store.get_batch(batch_run_id)  # NotFound for an unknown id
        run = self._runs.get(batch_run_id)
        state = run.state if run is not None else batch["state"]
        if state == BatchState.COMPLETED:
            raise IllegalTransition(f"batch {batch_run_id} is completed: nothing of it runs any more; retry its "
                                    "failed items first to run it again")
        return batch, run

    def _update(self, batch_run_id: str, actor: str, reason: str, **values: int) -> None:
        now = utcnow()
        event = EventRow(batch_run_id, None, now, "operator_action", actor=actor, reason=reason)
        self.writer.write([BatchUpdate(batch_run_id, now, event, **values)])

    def _running_count(self) -> int:
        return sum(1 for run in self._runs.values() if run.state in BUSY_BATCH_STATES)

    def _run_or_queue(self, run: ActiveRun, actor: str, reason: str, *, started: bool = False) -> list[Change]:
        """The move that runs ``run`` now, or queues it when ``max_running_batches`` batches run already."""
        running, limit = self._running_count(), self.capacity.max_running_batches
        if running < limit and not self._queue:
            return [self._batch_move(run, BatchState.RUNNING, actor, reason, started=started)]
        why = (f"{reason}; queued at position {len(self._queue) + 1}: {running} batches are running "
               f"(max_running_batches {limit})")
        move = self._batch_move(run, BatchState.QUEUED, actor, why)
        return [move._replace(queue_rank=self._next_rank())]

    def _next_rank(self) -> int:
        return max(self._ranks.values(), default=0) + 1

    def _after_move(self, run: ActiveRun) -> None:
        """After an operator's move of ``run`` is written: queue it, give it its share, or let it go; admit
        queued batches if a place freed; wake the dispatcher."""
        if run.state == BatchState.QUEUED and run.batch_run_id not in self._ranks:
            self._ranks[run.batch_run_id] = self._next_rank()
            self._queue.append(run.batch_run_id)
        if run.state == BatchState.RUNNING:
            self._scheduler.join(run.batch_run_id, run.priority)
            self._configure_limits()
        elif run.state not in BUSY_BATCH_STATES and not run.inflight:
            self._unload(run)
        self._admit()
        self._kick()

    def _leave_queue(self, batch_run_id: str, target: BatchState, actor: str, reason: str) -> bool:
        """Pause or stop a queued batch (it leaves the queue, without being loaded). False: it is not queued."""
        if batch_run_id not in self._queue:
            return False
        check_batch_move(BatchState.QUEUED, target, batch_run_id=batch_run_id)
        loaded = self._runs.get(batch_run_id)
        if loaded is not None:
            self._unload(loaded)
        now = utcnow()
        changes: list[Change] = []
        if target == BatchState.STOPPED:
            changes.append(BulkMove(batch_run_id, ("queued",), "stopped", now, actor, reason))
        event = EventRow(batch_run_id, None, now, "batch_transition", BatchState.QUEUED.value, target.value,
                         actor=actor, reason=reason)
        changes.append(BatchMove(batch_run_id, target.value, now, event, finished=target in FINISHED_BATCH_STATES))
        self.writer.write(changes)
        self._queue.remove(batch_run_id)
        self._ranks.pop(batch_run_id, None)
        return True

    def _admit(self) -> bool:
        """Admit queued batches, first first, while fewer than ``max_running_batches`` run. True if one was."""
        admitted = False
        while self._queue and not self._closed and self._running_count() < self.capacity.max_running_batches:
            batch_run_id = self._queue.pop(0)
            self._ranks.pop(batch_run_id, None)
            try:
                run = self._ensure_loaded(batch_run_id)
            except IndexLabError as exc:  # deleted meanwhile, or the store cannot read: it leaves the queue
                log.error("cannot admit queued batch %s: %s", batch_run_id, exc)
                continue
            if run.state != BatchState.QUEUED:
                continue
            missing = self._missing_here(run)
            if missing is not None:
                self.writer.post([self._batch_move(run, BatchState.PAUSED, ENGINE, f"left the queue: {missing}")])
                self._unload(run)
                continue
            self.writer.post([self._batch_move(run, BatchState.RUNNING, ENGINE, "admitted from the queue: a running "
                                               "batch paused, stopped or completed", started=True)])
            self._scheduler.join(batch_run_id, run.priority)
            self._configure_limits()
            admitted = True
        if admitted:
            self._kick()
        return admitted


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidValue(f"{name} must be a whole number from {low} to {high}, not {value!r}", field=name)


# ---------------------------------------------------------------------- without an engine (the headless CLI)
def change_stored_batch(store: Store, batch_run_id: str, *, actor: str, priority: int | None = None,
                        workers: int | None = None) -> None:
    """``set_priority`` / ``set_workers`` where no engine holds the batch (the headless CLI; a server holds its
    database locked): the same checks and audit event, written straight to the store."""
    if priority is not None:
        _check_range("priority", priority, MIN_PRIORITY, MAX_PRIORITY)
    if workers is not None:
        _check_range("workers", workers, MIN_WORKERS, MAX_WORKERS)
    batch = store.get_batch(batch_run_id)  # NotFound for an unknown id
    if batch["state"] == BatchState.COMPLETED:
        raise IllegalTransition(f"batch {batch_run_id} is completed: nothing of it runs any more; retry its "
                                "failed items first to run it again")
    now, reasons = utcnow(), []
    if priority is not None and priority != batch["priority"]:
        reasons.append(f"priority {batch['priority']} -> {priority}")
    if workers is not None and workers != batch["settings"]["workers"]:
        reasons.append(f"workers {batch['settings']['workers']} -> {workers}")
    if reasons:
        event = EventRow(batch_run_id, None, now, "operator_action", actor=actor, reason="; ".join(reasons))
        store.commit([BatchUpdate(batch_run_id, now, event, priority=priority, workers=workers)])


def move_stored_in_queue(store: Store, batch_run_id: str, position: int, *, actor: str) -> None:
    """``move_in_queue`` where no engine holds the queue: the queue as stored, reordered and audited."""
    order = [b["batch_run_id"] for b in store.batches_in([BatchState.QUEUED.value])]
    if batch_run_id not in order:
        state = store.get_batch(batch_run_id)["state"]  # NotFound for an unknown id
        raise IllegalTransition(f"batch {batch_run_id} is {state}, not queued: only a queued batch has a "
                                "place in the queue", field="batch_run_id")
    _check_range("position", position, 1, len(order))
    old = order.index(batch_run_id) + 1
    if old == position:
        return
    order.remove(batch_run_id)
    order.insert(position - 1, batch_run_id)
    now = utcnow()
    store.commit([BatchUpdate(b, now, EventRow(b, None, now, "operator_action", actor=actor,
                                               reason=f"queue position {old} -> {position}") if b == batch_run_id
                              else None, queue_rank=rank) for rank, b in enumerate(order, start=1)])
