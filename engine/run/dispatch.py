"""The dispatch loop: runs the active batch's queued items on an Executor, enforces deadlines, records each attempt's end.

Part of BatchEngine (engine/run/engine.py).
"""

from __future__ import annotations

import heapq
import logging
import threading
from concurrent.futures import Future
from typing import Any

from engine.core.errors import StoreError
from engine.core.limits import Cancelled, CancelToken, DeadlineExceeded, backoff_delay
from engine.core.settings import BatchSettings
from engine.core.states import ACTIVE_BATCH_STATES, BatchState, ItemState, check_item_move
from engine.core.text import storable
from engine.core.triage import NEEDS_REVIEW, batch_result, gate, result_counts, result_words
from engine.core.triage import fingerprint as triage_fingerprint
from engine.run.active import ActiveItem, ActiveRun, Attempt, OutcomeNotStorable, outcome_parts, short_error
from engine.run.changes import ENGINE
from engine.runners.base import RunContext, Runner
from engine.store import utcnow

log = logging.getLogger("indexlab.engine")


class Dispatcher:
    """The dispatcher thread (or drain() inline): one step at a time under the engine lock."""

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
        if run.state not in ACTIVE_BATCH_STATES or (
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

    def _replace_executor(self, run: ActiveRun) -> None:
        """A worker is stuck in an abandoned attempt: new work goes to a fresh pool."""
        self._release_executor(run)

    @staticmethod
    def _release_executor(run: ActiveRun) -> None:
        if run.executor is not None:
            run.executor.shutdown(wait=False, cancel_futures=True)
            run.executor = None



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
