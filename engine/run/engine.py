"""The batch engine: dispatches a batch's items in run order to an Executor, and owns their lifecycle.

One engine per process, one running batch at a time. Its in-memory view of the active batch is
the authority for what may happen next; the store (through the group-commit writer) is the
authority for what has happened, and the live status shows only what is committed.
Lifecycle semantics are DESIGN.md §3; every move is checked against engine.core.states.
"""

from __future__ import annotations

import heapq
import json
from contextlib import contextmanager
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

from engine.run.active import (ActiveItem, ActiveItems, ActiveRun, Attempt, OutcomeNotStorable, outcome_parts,
                           short_error)
from engine.core.errors import IllegalTransition, IndexLabError, NotFound, StoreError, StoreRejected
from engine.runners.orphans import job_id, sweep_orphans
from engine.run.items import ItemColumns
from engine.core.limits import (CancelToken, Cancelled, Clock, DeadlineExceeded, DomainLimiter, Limits, ProviderLimiter,
                           SystemClock, backoff_delay)
from engine.runners import get_runner
from engine.runners.base import RunContext, Runner
from engine.core.settings import BatchSettings
from engine.run.live import LiveStatus
from engine.core.states import (ACTIVE_BATCH_STATES, BatchState, ItemState, check_batch_move, check_item_move)
from engine.store import BatchMove, BulkMove, Change, EventRow, Interrupted, ItemMove, OutcomeRecord, Store, utcnow
from engine.core.text import storable
from engine.core.triage import NEEDS_REVIEW, batch_result, gate, result_counts, result_words
from engine.core.triage import fingerprint as triage_fingerprint
from engine.run.writer import GroupCommitWriter

log = logging.getLogger("indexlab.engine")
ABANDON_GRACE_S = 2.0  # past its deadline plus this, an attempt that ignores cancellation is abandoned
MAX_CACHED_STATUSES = 16
ENGINE = "engine"  # the actor of transitions the engine makes by itself

ExecutorFactory = Callable[[int], Executor]


def default_executor(workers: int) -> Executor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="indexlab-worker")

class BatchEngine:
    """Start, pause, resume, stop, force stop, retry and skip; recovery on open; live status."""

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
        self.recover()

    # ================================================================== operator actions
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

    # ================================================================== reading
    def status(self, batch_run_id: str) -> dict[str, Any]:
        """The live status: from memory for loaded batches, loaded once from the store otherwise."""
        status = self._statuses.get(batch_run_id)  # no engine lock: readers never wait for a lifecycle write
        if status is None:
            with self._lock:
                status = self._statuses.get(batch_run_id) or self._new_status(self.store.get_batch(batch_run_id))
        return status.to_dict()

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

    # ================================================================== recovery
    def recover(self) -> None:
        """Re-queue items left running by a dead process; resume or keep paused the batch it was on."""
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
        active = [b for b in self.store.list_batches(limit=1000) if b["state"] in ACTIVE_BATCH_STATES]
        for older in active[1:]:  # one batch at a time: anything older waits, paused
            if older["state"] == BatchState.RUNNING:
                self._commit_move_unloaded(older, BatchState.PAUSED, "another batch was active at restart")
        if not active:
            return
        latest = active[0]
        with self._lock:
            run = self._ensure_loaded(latest["batch_run_id"])
            if run.state == BatchState.STOPPING:
                self._finish_stop(run, ENGINE, "stop completed after restart", durable=True)
            elif run.state == BatchState.RUNNING and not self.auto_resume:
                self.writer.write([self._batch_move(run, BatchState.PAUSED, ENGINE, "restarted; auto-resume is off")])
            elif run.state == BatchState.RUNNING and run.runner is None:
                self.writer.write([self._batch_move(
                    run, BatchState.PAUSED, ENGINE, f"restarted; runner {run.settings.runner!r} is not available here")])
            elif run.state == BatchState.RUNNING:
                self.writer.write([self._event(run, "operator_action", ENGINE, "resumed after restart")])
                self._kick(run)

    def _settings_of(self, batch_run_id: str) -> BatchSettings:
        return BatchSettings(**self.store.get_batch(batch_run_id)["settings"])

    def _commit_move_unloaded(self, batch: dict[str, Any], target: BatchState, reason: str) -> None:
        check_batch_move(batch["state"], target, batch_run_id=batch["batch_run_id"])
        now = utcnow()
        event = EventRow(batch["batch_run_id"], None, now, "batch_transition", batch["state"], target.value,
                         actor=ENGINE, reason=reason)
        self.writer.write([BatchMove(batch["batch_run_id"], target.value, now, event)])

    # ================================================================== loading
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
        if current is not None and (current.state in (BatchState.RUNNING, BatchState.STOPPING) or current.inflight):
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

    # ================================================================== when the store does not take a write
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
            run = self._run
            if run is not None and run.batch_run_id == batch_run_id and seq in run.items \
                    and run.items.state(seq) == ItemState.COMPLETED.value:
                run.items.update(seq, state=ItemState.FAILED.value, last_error=why, outcome=None, gate=None,
                                 coverage=None, fingerprint="its outcome could not be stored")

    # ================================================================== change builders
    def _item_move(self, run: ActiveRun, item: ActiveItem, from_state: str, actor: str, reason: str,
                   attempt: int) -> ItemMove:
        """The item's row as it now is, and the event of the move that made it so."""
        return ItemMove(run.batch_run_id, item.seq, item.state, item.attempts, item.attempt_base, item.last_error,
                        item.phase, item.started_at, item.finished_at, item.duration_s, item.outcome, item.gate,
                        item.coverage, item.fingerprint, from_state, utcnow(), attempt, actor, reason)

    def _event(self, run: ActiveRun, kind: str, actor: str, reason: str, *, seq: int | None = None, from_state: str | None = None,
               to_state: str | None = None, attempt: int | None = None, data: dict | None = None) -> EventRow:
        return EventRow(run.batch_run_id, seq, utcnow(), kind, from_state, to_state, attempt, actor, reason,
                        json.dumps(data) if data else None)

    def _batch_move(self, run: ActiveRun, target: BatchState, actor: str, reason: str, *, started: bool = False) -> BatchMove:
        previous = run.state
        check_batch_move(previous, target, batch_run_id=run.batch_run_id)
        run.state = target.value
        event = self._event(run, "batch_transition", actor, reason, from_state=previous, to_state=target.value)
        finished = target in (BatchState.COMPLETED, BatchState.STOPPED)
        return BatchMove(run.batch_run_id, target.value, event.occurred_at, event, started=started, finished=finished)

    def _bulk(self, run: ActiveRun, sources: tuple[ItemState, ...], target: ItemState, actor: str, reason: str, *,
              seqs: Sequence[int] | None = None, new_budget: bool = False) -> BulkMove:
        """Move items in memory and describe the same move for the store (one statement there)."""
        chosen = seqs if seqs is not None else run.items.seqs_in(tuple(source.value for source in sources))
        now = utcnow()
        ends = target in (ItemState.STOPPED, ItemState.SKIPPED)
        for seq in chosen:
            item = run.items[seq]
            check_item_move(item.state, target, what=f"item {seq}")
            run.items.update(seq, state=target.value, phase=None,
                             attempt_base=item.attempts if new_budget else item.attempt_base,
                             finished_at=now if ends else item.finished_at)
        if target == ItemState.QUEUED:
            for seq in chosen:
                heapq.heappush(run.ready, seq)
        return BulkMove(run.batch_run_id, tuple(s.value for s in sources), target.value, now, actor, reason,
                        seqs=tuple(chosen) if seqs is not None else None, new_budget=new_budget)

    def _select(self, run: ActiveRun, seqs: Sequence[int] | None, source: ItemState, target: ItemState) -> list[int]:
        if seqs is None:
            return run.items.seqs_in((source.value,))
        unknown = [s for s in seqs if s not in run.items]
        if unknown:
            raise NotFound(f"batch {run.batch_run_id} has no item with seq {unknown[:10]}", field="seqs")
        for seq in seqs:
            state = run.items.state(seq)
            check_item_move(state, target, what=f"item {seq}")
            if state != source:
                raise IllegalTransition(f"item {seq} is {state}, not {source.value}", field="seqs")
        return sorted(set(seqs))

    # ================================================================== dispatch
    def _kick(self, run: ActiveRun) -> None:
        """Make sure a dispatcher works on ``run`` (a thread, or drain() in inline mode)."""
        if self.background and (run.thread is None or not run.thread.is_alive()):
            run.thread = threading.Thread(target=self._loop, args=(run,), name="indexlab-dispatch", daemon=True)
            run.thread.start()
        self._wake.notify_all()

    def _loop(self, run: ActiveRun) -> None:
        with self._lock:
            while True:
                wait = self._step(run)
                if wait is None:
                    self._wake.notify_all()
                    return
                if self.background:
                    self._wake.wait(wait)
                else:
                    self._lock.release()
                    try:
                        self.clock.sleep(wait)
                    finally:
                        self._lock.acquire()

    def _step(self, run: ActiveRun) -> float | None:
        """One pass: enforce deadlines, dispatch what may run, settle the batch. Returns how long to wait, or None to end."""
        if self._closed or self._run is not run:
            return None
        self._apply_corrections()
        cannot_write = self.writer.degraded
        status = self._statuses.get(run.batch_run_id)
        if status is not None:
            status.halted = (f"the store cannot write ({cannot_write}): nothing new starts until it can; "
                             "running items finish and are recorded then") if cannot_write else None
        now = self.clock.monotonic()
        for attempt in list(run.inflight.values()):
            if attempt.deadline <= now:
                attempt.token.set("deadline")
            if attempt.deadline + self.abandon_grace <= now:
                self._finish(run, attempt, DeadlineExceeded(
                    f"attempt {attempt.attempt} ignored cancellation past max_run_seconds "
                    f"({run.settings.max_run_seconds:g}s) and was abandoned"))
                self._replace_executor(run)
        while run.delayed and run.delayed[0][0] <= now:
            heapq.heappush(run.ready, heapq.heappop(run.delayed)[1])
        if run.state == BatchState.RUNNING and cannot_write is None:
            while run.ready and len(run.inflight) < run.settings.workers and run.state == BatchState.RUNNING:
                seq = heapq.heappop(run.ready)
                if run.items.state(seq) == ItemState.QUEUED:
                    self._dispatch(run, run.items[seq])
            if not run.ready and not run.delayed and not run.inflight and run.state == BatchState.RUNNING:
                self.writer.post([self._batch_move(run, BatchState.COMPLETED, ENGINE, self._finished_words(run))])
                return None
        if run.state == BatchState.STOPPING and not run.inflight:
            self._finish_stop(run, ENGINE, durable=False)
        if run.state in (BatchState.STOPPED, BatchState.COMPLETED, BatchState.PLANNED) or (
                run.state == BatchState.PAUSED and not run.inflight):
            self._release_executor(run)
            return None
        waits = [1.0] + [a.deadline - now for a in run.inflight.values()]
        waits += [a.deadline + self.abandon_grace - now for a in run.inflight.values()]
        if run.delayed and run.state == BatchState.RUNNING:
            waits.append(run.delayed[0][0] - now)
        return max(0.0, min(waits)) + (0.001 if not self.background else 0.0)

    def _dispatch(self, run: ActiveRun, item: ActiveItem) -> None:
        if self.catalog_ids is not None and item.product_id not in self.catalog_ids:
            self.writer.post([self._bulk(run, (ItemState.QUEUED,), ItemState.SKIPPED, ENGINE,
                                           "its product left the catalog", seqs=[item.seq])])
            return
        check_item_move(item.state, ItemState.RUNNING, what=f"item {item.seq}")
        item = run.items.update(item.seq, state=ItemState.RUNNING.value, attempts=item.attempts + 1, phase=None,
                                started_at=utcnow(), finished_at=None, duration_s=None, gate=None, coverage=None,
                                fingerprint=None)
        deadline = self.clock.monotonic() + run.settings.max_run_seconds
        attempt = Attempt(item.seq, item.attempts, CancelToken(deadline=deadline, clock=self.clock), deadline)
        run.inflight[item.seq] = attempt
        move = self._item_move(run, item, "queued", ENGINE, "dispatched", item.attempts)
        dispatched: Future[None] | None = None
        if getattr(run.runner, "durable_dispatch", True):
            dispatched = self.writer.submit((move,))  # the runner starts once its attempt is on record
        else:
            self.writer.post((move,))
        ctx = RunContext(run.batch_run_id, item.seq, item.attempts, attempt.token, self.limits,
                         on_phase=lambda name: self._on_phase(run, attempt, name),
                         on_log=lambda level, msg: self._on_log(run, attempt, level, msg))
        if run.executor is None:
            run.executor = self._executor_factory(run.settings.workers)
        try:
            future = run.executor.submit(_execute, run.runner, run.loaded.product(item.seq), run.settings, ctx, dispatched)
        except RuntimeError:  # the interpreter is shutting down: the item stays running, recovery re-queues it
            log.warning("executor refused work (interpreter shutting down); dispatch stops")
            self._closed = True
            return
        future.add_done_callback(lambda f: self._on_done(run, attempt, f))

    def _on_phase(self, run: ActiveRun, attempt: Attempt, name: str) -> None:
        with self._lock:
            if run.inflight.get(attempt.seq) is attempt:
                name = storable(name)[:64]
                run.items.update(attempt.seq, phase=name)
                self._statuses[run.batch_run_id].set_phase(attempt.seq, name)

    def _on_log(self, run: ActiveRun, attempt: Attempt, level: str, message: str) -> None:
        self.writer.post([self._event(run, "log", "runner", storable(message), seq=attempt.seq, attempt=attempt.attempt,
                                      data={"level": storable(level)})])

    def _on_done(self, run: ActiveRun, attempt: Attempt, future: Future) -> None:
        with self._lock:
            if self._closed:  # the item stays running in the store: the next start re-queues it as interrupted
                return
            if run.inflight.get(attempt.seq) is not attempt:  # fenced: abandoned, force-stopped or superseded
                log.info("discarding a late result of batch %s item %s attempt %s", run.batch_run_id, attempt.seq, attempt.attempt)
                return
            error = future.exception() if not future.cancelled() else Cancelled("the attempt never started")
            if isinstance(error, Cancelled) and attempt.token.reason == "deadline":
                error = DeadlineExceeded(f"attempt {attempt.attempt} passed max_run_seconds "
                                         f"({run.settings.max_run_seconds:g}s) and was cancelled")
            if isinstance(error, NotDispatched):
                self._undispatch(run, attempt)
            else:
                self._finish(run, attempt, error, None if error else future.result())
            self._wake.notify_all()

    def _finish(self, run: ActiveRun, attempt: Attempt, error: BaseException | None, outcome: Any = None) -> None:
        """Record one attempt's end: completed, queued again after a backoff, or failed."""
        del run.inflight[attempt.seq]
        item, s = run.items[attempt.seq], run.settings
        now = utcnow()
        duration = (now - item.started_at).total_seconds() if item.started_at else None
        outcome_text, last_error, record = item.outcome, None, None
        item_gate = coverage = fingerprint = None
        if error is None:
            try:
                outcome_text, record = outcome_parts(run.batch_run_id, item, attempt.attempt, outcome, now)
            except OutcomeNotStorable as exc:
                error = exc
        if error is None:
            target, reason = ItemState.COMPLETED, "completed"
            item_gate, coverage = gate(outcome, s.min_required_coverage)
            if item_gate == NEEDS_REVIEW:
                reason = f"completed; needs review: coverage {coverage:.0%} is below {s.min_required_coverage:.0%}"
            run.consecutive_failures = 0
        else:
            last_error = message = short_error(error)
            retryable = getattr(error, "retryable", True) and not (
                isinstance(error, Cancelled) and not isinstance(error, DeadlineExceeded))
            run.consecutive_failures += 1
            if retryable and item.attempts - item.attempt_base < s.max_attempts:
                target = ItemState.QUEUED
                delay = backoff_delay(item.attempts - item.attempt_base, s.retry_backoff_seconds,
                                      s.retry_backoff_max_seconds, self._rng)
                heapq.heappush(run.delayed, (self.clock.monotonic() + delay, item.seq))
                reason = f"attempt {item.attempts} failed, retry in {delay:.1f}s: {message}"
            else:
                target = ItemState.FAILED
                reason = f"failed after {item.attempts - item.attempt_base} attempt(s): {message}"
                fingerprint = triage_fingerprint(message, run.loaded.product(item.seq))
        check_item_move(item.state, target, what=f"item {item.seq}")
        item = run.items.update(item.seq, state=target.value, phase=None, finished_at=now, duration_s=duration,
                                last_error=last_error, outcome=outcome_text, gate=item_gate, coverage=coverage,
                                fingerprint=fingerprint)
        changes: list = [self._item_move(run, item, "running", ENGINE, reason, attempt.attempt)]
        if record is not None:
            changes.append(record)
        limit = s.fail_fast_failures
        if limit and run.consecutive_failures >= limit and run.state == BatchState.RUNNING:
            group = f" (reason group: {item.fingerprint})" if item.fingerprint else ""
            changes.append(self._batch_move(run, BatchState.PAUSED, ENGINE,
                                            f"fail-fast: {run.consecutive_failures} failures in a row{group}; "
                                            f"last: {item.last_error}"))
            run.consecutive_failures = 0
        self.writer.post(changes)

    @staticmethod
    def _finished_words(run: ActiveRun) -> str:
        """Why the batch is completed, and what came out: every item has finished, not "all is well"."""
        counts: dict[str, int] = {}
        for state in run.items.column_values("state"):
            counts[state] = counts.get(state, 0) + 1
        review = sum(1 for g, st in zip(run.items.column_values("gate"), run.items.column_values("state"))
                     if g == NEEDS_REVIEW and st == ItemState.COMPLETED.value)
        outcomes = result_counts(counts, review)
        return "every item finished: " + result_words(batch_result(BatchState.COMPLETED.value, outcomes), outcomes)

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

    def _replace_executor(self, run: ActiveRun) -> None:
        """A worker is stuck in an abandoned attempt: new work goes to a fresh pool."""
        self._release_executor(run)

    @staticmethod
    def _release_executor(run: ActiveRun) -> None:
        if run.executor is not None:
            run.executor.shutdown(wait=False, cancel_futures=True)
            run.executor = None

    # ================================================================== live status
    def _on_commit(self, changes: Sequence[Any]) -> None:
        for status in list(self._statuses.values()):
            status.apply(changes)

class NotDispatched(StoreError):
    """The store could not record an item's dispatch: its runner did not start."""


DISPATCH_COMMIT_TIMEOUT_S = 60.0


def _execute(runner: Runner, product: dict[str, Any], settings: BatchSettings, ctx: RunContext,
             dispatched: Future[None] | None = None) -> Any:
    if dispatched is not None:
        try:
            dispatched.result(timeout=DISPATCH_COMMIT_TIMEOUT_S)
        except (StoreError, TimeoutError) as exc:
            raise NotDispatched(f"the dispatch could not be recorded: {exc}") from None
    ctx.cancel.raise_if_cancelled()
    return runner(product, settings, ctx)


def _escaped(text: str | None) -> str | None:
    """Text reduced to what any store holds: non-ASCII written as escapes (the fallback's last resort)."""
    return None if text is None else text.encode("ascii", "backslashreplace").decode("ascii")
