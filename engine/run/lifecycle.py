"""The operator's actions on a batch (DESIGN §3): start or resume, pause, stop (graceful or force), retry failed, skip.

Part of BatchEngine (engine/run/engine.py): each action checks the move, changes the run in memory and
writes the same change durably before it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.core.errors import IllegalTransition, IndexLabError, StoreError
from engine.core.states import ACTIVE_BATCH_STATES, BatchState, ItemState, check_batch_move
from engine.run.active import ActiveRun
from engine.runners import get_runner
from engine.store import Change, utcnow


class Lifecycle:
    """Start, pause, resume, stop, force stop, retry and skip."""

    def start(self, batch_run_id: str, *, actor: str = "operator", reason: str | None = None) -> dict[str, Any]:
        """Start a planned batch, resume a paused one, or resume a stopped one (its stopped items re-queue). With
        ``max_running_batches`` batches running already, the batch is queued instead: it runs when one of them
        pauses, stops or completes (``queue_position`` in its status)."""
        with self._settled(batch_run_id):
            run = self._runs.get(batch_run_id)
            state = run.state if run is not None else self.store.get_batch(batch_run_id)["state"]
            if state == BatchState.COMPLETED:
                raise IllegalTransition(f"batch {batch_run_id} is completed; retry its failed items to run it again")
            if state == BatchState.QUEUED:
                raise IllegalTransition(f"batch {batch_run_id} is already queued (position "
                                        f"{self.queue_position(batch_run_id)} of {len(self._queue)}): it runs when "
                                        "capacity frees; move it in the queue to run it sooner")
            check_batch_move(state, BatchState.RUNNING, batch_run_id=batch_run_id)
            self._paused_for_executor.discard(batch_run_id)  # resumed: no longer the executor's to resume
            run = self._ensure_loaded(batch_run_id)
            if run.runner is None:
                get_runner(run.settings.runner)  # raises: unknown runner, naming the known ones
            self._check_executor(run)
            with self._undone_unless_written(run):
                changes: list = []
                if state == BatchState.STOPPED:
                    changes.append(self._bulk(run, (ItemState.STOPPED,), ItemState.QUEUED, actor, "batch resumed"))
                verb = {"planned": "started", "paused": "resumed", "stopped": "resumed"}[state]
                changes += self._run_or_queue(run, actor, reason or verb, started=state == "planned")
                self.writer.write(changes)
            self._after_move(run)
        return self.status(batch_run_id)

    resume = start

    def _missing_here(self, run: ActiveRun) -> str | None:
        """Why the batch cannot run on this server (its runner or its executor is not here), or None."""
        if run.runner is None:
            return f"runner {run.settings.runner!r} is not available here"
        try:
            self.pools.of(run.settings.executor)
        except IndexLabError as exc:
            return exc.message
        return None

    def _check_executor(self, run: ActiveRun) -> None:
        """IllegalTransition when the batch's ``executor`` is not one this server offers (planned on a server started
        with a Dask cluster, started on one without)."""
        try:
            self.pools.of(run.settings.executor)
        except IndexLabError as exc:
            raise IllegalTransition(f"batch {run.batch_run_id} cannot run here: {exc.message}",
                                    field="settings.executor") from None

    def pause(self, batch_run_id: str, *, actor: str = "operator", reason: str | None = None) -> dict[str, Any]:
        """No new dispatch; in-flight items finish and record their outcome. A queued batch leaves the queue."""
        with self._settled(batch_run_id):
            if self._leave_queue(batch_run_id, BatchState.PAUSED, actor, reason or "paused"):
                return self.status(batch_run_id)
            run = self._runs.get(batch_run_id)
            if run is None:
                state = self.store.get_batch(batch_run_id)["state"]  # NotFound for an unknown id
                check_batch_move(state, BatchState.PAUSED, batch_run_id=batch_run_id)
                raise IllegalTransition(f"batch {batch_run_id} is {state}; only a running batch can be paused")
            check_batch_move(run.state, BatchState.PAUSED, batch_run_id=batch_run_id)
            with self._undone_unless_written(run):
                self.writer.write([self._batch_move(run, BatchState.PAUSED, actor, reason or "paused")])
            self._after_move(run)
        return self.status(batch_run_id)

    def stop(self, batch_run_id: str, *, force: bool = False, actor: str = "operator",
             reason: str | None = None) -> dict[str, Any]:
        """Graceful: in-flight items finish, queued ones become stopped. Force: in-flight ones are cancelled now.
        A queued batch leaves the queue, stopped."""
        if force:
            with self._settled(batch_run_id):
                if self._leave_queue(batch_run_id, BatchState.STOPPED, actor, reason or "force stop"):
                    return self.status(batch_run_id)
            self._force_stop(batch_run_id, actor, reason or "force stop")
            return self.status(batch_run_id)
        with self._settled(batch_run_id):
            if self._leave_queue(batch_run_id, BatchState.STOPPED, actor, reason or "stopped"):
                return self.status(batch_run_id)
            run = self._ensure_loaded(batch_run_id)
            check_batch_move(run.state, BatchState.STOPPING, batch_run_id=batch_run_id)
            with self._undone_unless_written(run):
                changes = [self._batch_move(run, BatchState.STOPPING, actor, reason or "stop requested")]
                if not run.inflight:  # nothing to wait for: stopping and stopped in one write
                    changes += self._stop_changes(run, actor, "stopped: nothing was running")
                self.writer.write(changes)
            if run.state == BatchState.STOPPED:
                run.ready.clear()
                run.delayed.clear()
            self._after_move(run)
        return self.status(batch_run_id)

    def retry_failed(self, batch_run_id: str, seqs: Sequence[int] | None = None, *, actor: str = "operator") -> int:
        """Re-queue failed items (all, or ``seqs``) with a fresh attempt budget; runs them if the batch is idle."""
        with self._settled(batch_run_id):
            run = self._ensure_loaded(batch_run_id)
            targets = self._select(run, seqs, ItemState.FAILED, ItemState.QUEUED)
            if not targets:
                return 0
            if run.state == BatchState.COMPLETED:  # it runs again
                self._check_executor(run)
            with self._undone_unless_written(run):
                changes = [self._bulk(run, (ItemState.FAILED,), ItemState.QUEUED, actor, "retry failed",
                                      seqs=targets, new_budget=True)]
                if run.state == BatchState.COMPLETED:
                    changes += self._run_or_queue(run, actor, f"retrying {len(targets)} failed items")
                self.writer.write(changes)
            self._after_move(run)
            return len(targets)

    def skip(self, batch_run_id: str, seqs: Sequence[int], *, actor: str = "operator", reason: str = "skipped by operator") -> int:
        """Skip queued items; every one must be queued, or nothing changes."""
        with self._settled(batch_run_id):
            run = self._ensure_loaded(batch_run_id)
            targets = self._select(run, seqs, ItemState.QUEUED, ItemState.SKIPPED)
            with self._undone_unless_written(run):
                self.writer.write([self._bulk(run, (ItemState.QUEUED,), ItemState.SKIPPED, actor, reason, seqs=targets)])
            self._after_move(run)
            return len(targets)

    def _force_stop(self, batch_run_id: str, actor: str, reason: str) -> None:
        """Record the stop first; only once it is committed are the in-flight attempts cancelled.

        The write (a million queued items stopped is a million events) is awaited without the engine lock, so
        status reads, other batches' dispatch and other lifecycle calls go on meanwhile. The run is stopped in
        memory before the lock is let go, its in-flight attempts fenced (a late result is discarded); if the store
        does not take the write, the run goes back to what it was and its dispatcher is kicked again.
        """
        with self._settled(batch_run_id):
            run = self._ensure_loaded(batch_run_id)
            check_batch_move(run.state, BatchState.STOPPED, batch_run_id=batch_run_id)
            for chunk in list(run.chunks):  # attempts that ended already are recorded as they ended, not stopped
                self._harvest(run, chunk)
            saved = run.snapshot()
            changes: list = []
            for attempt in run.inflight.values():
                item, now = run.items[attempt.seq], utcnow()
                item = run.items.update(item.seq, state=ItemState.STOPPED.value, phase=None, finished_at=now,
                                        duration_s=(now - item.started_at).total_seconds() if item.started_at else None,
                                        last_error="force stopped")
                changes.append(self._item_move(run, item, "running", actor, reason, attempt.attempt))
            changes += self._stop_changes(run, actor, reason)
            fenced, chunks = dict(run.inflight), set(run.chunks)
            self._busy -= len(chunks)
            run.inflight.clear()
            run.chunks.clear()
            run.ready.clear()
            run.delayed.clear()
            written = self.writer.submit(changes)
            self._writing.add(batch_run_id)  # stays loaded: a call meanwhile sees it stopped, not the store's state
        try:
            written.result(timeout=30.0)
        except StoreError:
            with self._lock:
                self._writing.discard(batch_run_id)
                self._written.notify_all()
                run.restore(saved)
                run.inflight.update(fenced)
                run.chunks.update(chunks)
                self._busy += len(chunks)
                if run.state in ACTIVE_BATCH_STATES:
                    self._kick(run)
            raise
        except BaseException:  # (a write that did not answer in time): the stop is in memory; let waiting calls go on
            with self._lock:
                self._writing.discard(batch_run_id)
                self._written.notify_all()
            raise
        with self._lock:
            self._writing.discard(batch_run_id)
            self._written.notify_all()
            for attempt in fenced.values():
                attempt.token.set("force stop")
            if fenced:  # attempts that ignore cancellation keep their threads: new work goes to a fresh pool
                self._replace_executor()
            if self._runs.get(batch_run_id) is run:
                self._after_move(run)
            else:  # let go and loaded again while the write went on: its current run is not this one's to move
                self._admit()
                self._kick()

    def _stop_changes(self, run: ActiveRun, actor: str, reason: str) -> list[Change]:
        """Queued items become stopped, and so does the batch."""
        return [self._bulk(run, (ItemState.QUEUED,), ItemState.STOPPED, actor, reason),
                self._batch_move(run, BatchState.STOPPED, actor, reason)]

    def _finish_stop(self, run: ActiveRun, actor: str, reason: str = "stopped: in-flight items finished", *,
                     durable: bool) -> None:
        """The last in-flight item of a stopping batch ended: the batch is stopped (posted from the dispatcher,
        which must not wait on the store)."""
        if durable:
            with self._undone_unless_written(run):
                self.writer.write(self._stop_changes(run, actor, reason))
        else:
            self.writer.post(self._stop_changes(run, actor, reason))
        run.ready.clear()
        run.delayed.clear()
