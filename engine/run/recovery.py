"""Start-up recovery, and what the engine does when the store does not take a write.

Part of BatchEngine (engine/run/engine.py).
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from engine.core.errors import StoreError, StoreRejected
from engine.core.settings import BatchSettings
from engine.core.states import ACTIVE_BATCH_STATES, BatchState, ItemState
from engine.run.active import ActiveRun, Attempt
from engine.run.changes import ENGINE
from engine.runners.orphans import job_id, sweep_orphans
from engine.store import BatchMove, Change, EventRow, Interrupted, ItemMove, MoveBlock, OutcomeRecord, utcnow

log = logging.getLogger("indexlab.engine")


class Recovery:
    """Re-queue what a dead process left running; undo or replace what the store refused."""

    def recover(self) -> None:
        """Re-queue items left running by a dead process; resume every batch it was running (highest priority
        first), finish the stop of those it was stopping, keep its queue in order (admitting what capacity
        allows); paused batches stay paused."""
        running = self.store.running_attempts()
        now = utcnow()
        changes: list = []
        for job, pgid, what in sweep_orphans({job_id(*attempt) for attempt in running}):
            log.warning("process group %d of job %s %s", pgid, job, what)
            batch_run_id, seq, attempt = job.split("/")
            changes.append(EventRow(batch_run_id, int(seq), now, "orphan_sweep", attempt=int(attempt), actor=ENGINE,
                                    reason=f"process group {pgid} of this attempt {what}"))
        changes += [Interrupted(b, now, self._settings_of(b).max_crashes, ENGINE)
                    for b in sorted({attempt[0] for attempt in running})]
        if changes:
            self.writer.write(changes)
        active = self.store.batches_in([s.value for s in ACTIVE_BATCH_STATES])  # queue order, then priority
        with self._lock:
            for batch in active:
                if batch["state"] == BatchState.QUEUED:
                    self._queue.append(batch["batch_run_id"])
                    self._ranks[batch["batch_run_id"]] = batch["queue_rank"] or self._next_rank()
            for batch in active:
                if batch["state"] in (BatchState.RUNNING, BatchState.STOPPING):
                    self._resume_after_restart(self._ensure_loaded(batch["batch_run_id"]))
            self._admit()
            self._kick()

    def _resume_after_restart(self, run: ActiveRun) -> None:
        """A batch that was running (or stopping) when the process ended: it resumes (or finishes its stop)."""
        if run.state == BatchState.STOPPING:
            self._finish_stop(run, ENGINE, "stop completed after restart", durable=True)
        elif not self.auto_resume:
            self.writer.write([self._batch_move(run, BatchState.PAUSED, ENGINE, "restarted; auto-resume is off")])
        elif (missing := self._missing_here(run)) is not None:
            self.writer.write([self._batch_move(run, BatchState.PAUSED, ENGINE, f"restarted; {missing}")])
        else:
            self.writer.write([self._event(run, "operator_action", ENGINE, "resumed after restart")])
            self._scheduler.join(run.batch_run_id, run.priority)
            self._configure_limits()
            return
        self._unload(run)

    def _settings_of(self, batch_run_id: str) -> BatchSettings:
        return BatchSettings(**self.store.get_batch(batch_run_id)["settings"])

    @contextmanager
    def _undone_unless_written(self, run: ActiveRun) -> Iterator[None]:
        """Operator actions change the run in memory as they build their changes: if the store does not
        take them, the run goes back to what it was, so memory never says what the store does not."""
        saved = run.snapshot()
        try:
            yield
        except StoreError:
            run.restore(saved)
            raise

    def _undispatch(self, run: ActiveRun, attempt: Attempt) -> None:
        """The store could not record a dispatch, so the runner never started: the item is queued again as
        it was (the store never saw it run), and is dispatched once the store writes again."""
        del run.inflight[attempt.seq]
        item = run.items[attempt.seq]
        run.items.update(attempt.seq, state=ItemState.QUEUED.value, attempts=item.attempts - 1, phase=None,
                         started_at=None)
        heapq.heappush(run.ready, attempt.seq)

    def _stored_instead(self, changes: tuple[Change, ...], error: StoreRejected) -> tuple[Change, ...]:
        """What to write when the store refuses posted changes (the writer's fallback, on its thread).

        Every item move, event and batch move is kept with its text made storable; an item that completed
        with an outcome the store refuses fails instead, saying why (the engine's memory follows at its next
        step). Runs without the engine lock: a caller holding it may be waiting on this very writer.
        """
        why = f"its outcome could not be stored: {error.message}"[:500]
        changes = tuple(c for change in changes for c in (change.moves() if type(change) is MoveBlock else (change,)))
        failing = {(c.batch_run_id, c.seq) for c in changes
                   if isinstance(c, ItemMove) and c.state == ItemState.COMPLETED.value}
        kept: list[Change] = []
        for change in changes:
            if isinstance(change, OutcomeRecord):
                continue
            if isinstance(change, ItemMove):
                fails = (change.batch_run_id, change.seq) in failing
                change = change._replace(
                    state=ItemState.FAILED.value if fails else change.state, outcome=None if fails else change.outcome,
                    gate=None if fails else change.gate, coverage=None if fails else change.coverage,
                    fingerprint="its outcome could not be stored" if fails else change.fingerprint,
                    last_error=why if fails else _escaped(change.last_error), phase=_escaped(change.phase),
                    reason=f"failed: {why}" if fails else _escaped(change.reason))
                if fails:
                    self._corrections.append((change.batch_run_id, change.seq, why))
            elif isinstance(change, EventRow):
                change = change._replace(reason=_escaped(change.reason), data=None)
            elif isinstance(change, BatchMove):
                change = change._replace(event=change.event._replace(reason=_escaped(change.event.reason), data=None))
            kept.append(change)
        return tuple(kept)

    def _apply_corrections(self) -> None:
        """Follow, in memory, the completions the store refused and recorded as failures instead."""
        while self._corrections:
            batch_run_id, seq, why = self._corrections.pop(0)
            run = self._runs.get(batch_run_id)
            if run is not None and seq in run.items \
                    and run.items.state(seq) == ItemState.COMPLETED.value:
                run.items.update(seq, state=ItemState.FAILED.value, last_error=why, outcome=None, gate=None,
                                 coverage=None, fingerprint="its outcome could not be stored")



def _escaped(text: str | None) -> str | None:
    """Text reduced to what any store holds: non-ASCII written as escapes (the fallback's last resort)."""
    return None if text is None else text.encode("ascii", "backslashreplace").decode("ascii")
