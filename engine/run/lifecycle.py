"""The operator's actions on a batch (DESIGN §3): start or resume, pause, stop (graceful or force), retry failed, skip.

Part of BatchEngine (engine/run/engine.py): each action checks the move, changes the run in memory and
writes the same change durably before it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.core.errors import IllegalTransition
from engine.core.states import BatchState, ItemState, check_batch_move
from engine.run.active import ActiveRun
from engine.runners import get_runner
from engine.store import Change, utcnow


class Lifecycle:
    """Start, pause, resume, stop, force stop, retry and skip."""

    def start(self, batch_run_id: str, *, actor: str = "operator", reason: str | None = None) -> dict[str, Any]:
        """Start a planned batch, resume a paused one, or resume a stopped one (its stopped items re-queue)."""
        with self._lock:
            run = self._ensure_loaded(batch_run_id)
            state = run.state
            if state == BatchState.COMPLETED:
                raise IllegalTransition(f"batch {batch_run_id} is completed; retry its failed items to run it again")
            check_batch_move(state, BatchState.RUNNING, batch_run_id=batch_run_id)
            if run.runner is None:
                get_runner(run.settings.runner)  # raises: unknown runner, naming the known ones
            with self._undone_unless_written(run):
                changes: list = []
                if state == BatchState.STOPPED:
                    changes.append(self._bulk(run, (ItemState.STOPPED,), ItemState.QUEUED, actor, "batch resumed"))
                verb = {"planned": "started", "paused": "resumed", "stopped": "resumed"}[state]
                changes.append(self._batch_move(run, BatchState.RUNNING, actor, reason or verb, started=state == "planned"))
                self.writer.write(changes)
            self._kick(run)
        return self.status(batch_run_id)

    resume = start

    def pause(self, batch_run_id: str, *, actor: str = "operator", reason: str | None = None) -> dict[str, Any]:
        """No new dispatch; in-flight items finish and record their outcome."""
        with self._lock:
            run = self._require_active(batch_run_id)
            check_batch_move(run.state, BatchState.PAUSED, batch_run_id=batch_run_id)
            with self._undone_unless_written(run):
                self.writer.write([self._batch_move(run, BatchState.PAUSED, actor, reason or "paused")])
            self._wake.notify_all()
        return self.status(batch_run_id)

    def stop(self, batch_run_id: str, *, force: bool = False, actor: str = "operator",
             reason: str | None = None) -> dict[str, Any]:
        """Graceful: in-flight items finish, queued ones become stopped. Force: in-flight ones are cancelled now."""
        with self._lock:
            run = self._ensure_loaded(batch_run_id)
            if force:
                check_batch_move(run.state, BatchState.STOPPED, batch_run_id=batch_run_id)
                self._force_stop(run, actor, reason or "force stop")
            else:
                check_batch_move(run.state, BatchState.STOPPING, batch_run_id=batch_run_id)
                with self._undone_unless_written(run):
                    changes = [self._batch_move(run, BatchState.STOPPING, actor, reason or "stop requested")]
                    if not run.inflight:  # nothing to wait for: stopping and stopped in one write
                        changes += self._stop_changes(run, actor, "stopped: nothing was running")
                    self.writer.write(changes)
                if run.state == BatchState.STOPPED:
                    run.ready.clear()
                    run.delayed.clear()
            self._wake.notify_all()
        return self.status(batch_run_id)

    def retry_failed(self, batch_run_id: str, seqs: Sequence[int] | None = None, *, actor: str = "operator") -> int:
        """Re-queue failed items (all, or ``seqs``) with a fresh attempt budget; runs them if the batch is idle."""
        with self._lock:
            run = self._ensure_loaded(batch_run_id)
            targets = self._select(run, seqs, ItemState.FAILED, ItemState.QUEUED)
            if not targets:
                return 0
            with self._undone_unless_written(run):
                changes = [self._bulk(run, (ItemState.FAILED,), ItemState.QUEUED, actor, "retry failed",
                                      seqs=targets, new_budget=True)]
                if run.state == BatchState.COMPLETED:
                    changes.append(self._batch_move(run, BatchState.RUNNING, actor, f"retrying {len(targets)} failed items"))
                self.writer.write(changes)
            self._kick(run)
            return len(targets)

    def skip(self, batch_run_id: str, seqs: Sequence[int], *, actor: str = "operator", reason: str = "skipped by operator") -> int:
        """Skip queued items; every one must be queued, or nothing changes."""
        with self._lock:
            run = self._ensure_loaded(batch_run_id)
            targets = self._select(run, seqs, ItemState.QUEUED, ItemState.SKIPPED)
            with self._undone_unless_written(run):
                self.writer.write([self._bulk(run, (ItemState.QUEUED,), ItemState.SKIPPED, actor, reason, seqs=targets)])
            self._wake.notify_all()
            return len(targets)

    def _force_stop(self, run: ActiveRun, actor: str, reason: str) -> None:
        """Record the stop first; only once it is committed are the in-flight attempts cancelled."""
        with self._undone_unless_written(run):
            changes: list = []
            for attempt in run.inflight.values():
                item, now = run.items[attempt.seq], utcnow()
                item = run.items.update(item.seq, state=ItemState.STOPPED.value, phase=None, finished_at=now,
                                        duration_s=(now - item.started_at).total_seconds() if item.started_at else None,
                                        last_error="force stopped")
                changes.append(self._item_move(run, item, "running", actor, reason, attempt.attempt))
            changes += self._stop_changes(run, actor, reason)
            self.writer.write(changes)
        for attempt in run.inflight.values():
            attempt.token.set("force stop")
        run.inflight.clear()
        run.ready.clear()
        run.delayed.clear()
        self._release_executor(run)

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
