"""What the dispatcher records when attempts end: a chunk's results, deadlines, abandoned and withdrawn attempts.

Part of BatchEngine (engine/run/engine.py). Completions are recorded together, as one move block per look at a
chunk; a failure is recorded on its own (it may retry the item, fail it, or pause the batch: fail-fast).
"""

from __future__ import annotations

import heapq
import logging
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import numpy as np

from engine.core.limits import Cancelled, DeadlineExceeded, backoff_delay
from engine.core.states import BatchState, ItemState, check_item_move
from engine.core.triage import NEEDS_REVIEW, gate
from engine.core.triage import fingerprint as triage_fingerprint
from engine.run.active import ActiveRun, Attempt, OutcomeNotStorable, outcome_parts, short_error
from engine.run.changes import ENGINE
from engine.run.chunks import STALL_SECONDS, Chunk, ExecutorLost, NotDispatched, WorkerLost
from engine.runners.outcome import OutcomeInvalid
from engine.store import Interrupted, MoveBlock, OutcomeRecord, utcnow

log = logging.getLogger("indexlab.engine")


class Endings:
    """Record attempts' ends, chunk by chunk (engine/run/chunks.py)."""

    def _watch(self, run: ActiveRun, chunk: Chunk, now: float) -> None:
        """Record what a chunk's worker has finished; enforce the deadline of the attempt it runs now; abandon
        that attempt past its grace, or take back the attempts it holds up (STALL_SECONDS)."""
        self._harvest(run, chunk)
        with chunk.lock:
            current = chunk.current()
            if current is None:
                return
            abandon = current.deadline + self.abandon_grace <= now
            stalled = chunk.stalled(now)
            withdrawn = chunk.withdraw(chunk.given_back if stalled and not abandon else None) \
                if abandon or stalled else []
        if current.deadline <= now:
            current.token.set("deadline")
        if withdrawn:
            self._withdraw(run, withdrawn, "held up behind an attempt that ignored cancellation past max_run_seconds"
                           if abandon else f"held up behind a slow item (over {STALL_SECONDS:g}s)")
        if abandon:
            self._finish(run, current, DeadlineExceeded(
                f"attempt {current.attempt} ignored cancellation past max_run_seconds "
                f"({run.settings.max_run_seconds:g}s) and was abandoned"))
            run.grown = 1
            self._let_go(run, chunk)
            self._replace_executor()

    def _withdraw(self, run: ActiveRun, attempts: list[Attempt], why: str, *, begun: bool = False) -> None:
        """Attempts handed to a worker that never began them (or, ``begun``, whose result was lost): their items are
        queued again, the attempt not counted."""
        seqs = sorted(a.seq for a in attempts if run.inflight.get(a.seq) is a)
        for seq in seqs:
            del run.inflight[seq]
        if seqs:
            words = f"queued again: {why}" if begun else f"withdrawn before it began: {why}"
            self.writer.post([self._bulk(run, (ItemState.RUNNING,), ItemState.QUEUED, ENGINE,
                                         f"{words} (not counted as an attempt)", seqs=seqs, interrupted=True)])

    def _let_go(self, run: ActiveRun, chunk: Chunk) -> None:
        """The chunk no longer holds a worker of the budget."""
        if chunk in run.chunks:
            run.chunks.remove(chunk)
            self._busy -= 1

    def _chunk_ended(self, run: ActiveRun, chunk: Chunk, future: Future) -> None:
        """A chunk's task is done (taken off ``_news`` by the dispatcher, under the lock)."""
        self._harvest(run, chunk)
        if chunk not in run.chunks:  # recorded whole already, or fenced (force-stopped, abandoned, closed)
            late = len(chunk.results) - chunk.taken
            if late > 0:
                log.info("discarding %d late result(s) of batch %s", late, run.batch_run_id)
            return
        error = future.exception() if not future.cancelled() else Cancelled("the attempt never started")
        rest = [a for a in chunk.attempts[len(chunk.results):] if run.inflight.get(a.seq) is a]
        if isinstance(error, WorkerLost | ExecutorLost):
            self._lost(run, chunk, error, rest)
            return self._done_with(run, chunk)
        for attempt in rest:
            chunk.failed = True
            if isinstance(error, NotDispatched):
                self._undispatch(run, attempt)
            else:
                self._finish(run, attempt, self._error_of(run, attempt, error or Cancelled("the attempt never started")))
        self._done_with(run, chunk)

    def _lost(self, run: ActiveRun, chunk: Chunk, error: WorkerLost | ExecutorLost, rest: list[Attempt]) -> None:
        """A remote chunk whose worker (or whose whole executor) went away. Nothing it did was recorded: the attempt
        its worker was running is interrupted (a crash of that item, counted towards ``max_crashes``); the others,
        never begun or finished with their results lost, go back to the queue, not counted. Losing the executor
        pauses the batch until it is back (engine/dask)."""
        chunk.failed = True
        current = chunk.attempts[error.current] if isinstance(error, WorkerLost) and error.current is not None \
            else None
        self._withdraw(run, [a for a in rest if a is not current], f"{error.message}; its result was not recorded",
                       begun=True)
        if current is not None and current in rest:
            self._crash(run, current, error.message)
        if isinstance(error, ExecutorLost) and run.state == BatchState.RUNNING:
            self.writer.post([self._batch_move(run, BatchState.PAUSED, ENGINE,
                                               f"paused: {error.message}; it resumes when the executor is back")])
            self._paused_for_executor.add(run.batch_run_id)

    def _crash(self, run: ActiveRun, attempt: Attempt, cause: str) -> None:
        """The process running ``attempt`` died: the item is queued again (the attempt refunded) or, at the batch's
        ``max_crashes``, failed; in memory and in the live status as the store's ``Interrupted`` does it (the same
        rule, the same words) in the same write."""
        del run.inflight[attempt.seq]
        positions = run.items.positions_of([attempt.seq])
        crashes = run.loaded.arrays.get("crashes")
        if crashes is None or not crashes.flags.writeable:
            crashes = run.loaded.arrays["crashes"] = (np.zeros(len(run.items), np.int32) if crashes is None
                                                      else crashes.copy())
        crashes[positions] += 1
        count, limit, now = int(crashes[positions][0]), run.settings.max_crashes, utcnow()
        if count >= limit:
            item = run.items.update(attempt.seq, state=ItemState.FAILED.value, phase=None, finished_at=now,
                                    last_error=f"crashed the worker {count} times",
                                    fingerprint="crashed the worker <n> times")
            reason = f"crashed the worker {count} times: {cause} during each of its last {count} attempts"
        else:
            run.items.move(positions, ItemState.QUEUED.value, refund=True)
            heapq.heappush(run.ready, attempt.seq)
            item = run.items[attempt.seq]
            reason = (f"interrupted: {cause} during attempt {attempt.attempt} (crash {count} of at most {limit}; "
                      "not counted as a failure)")
        row = self._item_move(run, item, ItemState.RUNNING.value, ENGINE, reason, attempt.attempt, now)
        self.writer.post([Interrupted(run.batch_run_id, now, limit, ENGINE, seqs=(attempt.seq,), cause=cause, row=row)])

    def _done_with(self, run: ActiveRun, chunk: Chunk) -> None:
        """Every attempt of the chunk is recorded (or taken back): its worker is free. The chunk size earned
        doubles when all of them completed, and is back to one at a failure."""
        run.grown = 1 if chunk.failed else min(self.pools.of(run.settings.executor).max_chunk, run.grown * 2)
        self._let_go(run, chunk)

    def _error_of(self, run: ActiveRun, attempt: Attempt, error: BaseException) -> BaseException:
        if isinstance(error, Cancelled) and attempt.token.reason == "deadline":
            return DeadlineExceeded(f"attempt {attempt.attempt} passed max_run_seconds "
                                    f"({run.settings.max_run_seconds:g}s) and was cancelled")
        return error

    def _harvest(self, run: ActiveRun, chunk: Chunk) -> None:
        """Record the attempts the chunk's worker ended since the last look: completions together, in one
        move block; a failure on its own (it may retry, fail the item, or pause the batch: fail-fast). Once all
        it will run are recorded, the chunk no longer holds a worker."""
        results, start = chunk.results, chunk.taken
        end = len(results)
        if end == start or chunk not in run.chunks:
            return
        chunk.taken = end
        done = _Completions()
        inflight, attempts, products, s = run.inflight, chunk.attempts, chunk.products, run.settings
        spent = 0.0
        for at in range(start, end):
            attempt = attempts[at]
            outcome, error, began, ended, seconds = results[at]
            spent += seconds
            if inflight.get(attempt.seq) is not attempt:  # fenced: abandoned, force-stopped or superseded
                log.info("discarding a late result of batch %s item %s attempt %s", run.batch_run_id, attempt.seq,
                         attempt.attempt)
                continue
            record = None
            if error is None:
                try:
                    text, record = outcome_parts(run.batch_run_id, attempt.seq, products[at][0],  # (product_id)
                                                 attempt.attempt, outcome, ended)
                except (OutcomeNotStorable, OutcomeInvalid) as exc:
                    error = exc
            if error is None:
                item_gate, coverage = gate(outcome, s.min_required_coverage)
                run.consecutive_failures = 0
                done.add(attempt, text, record, item_gate, coverage, began, ended, s.min_required_coverage)
            else:
                chunk.failed = True
                self._post_completions(run, done)
                done = _Completions()
                self._finish(run, attempt, self._error_of(run, attempt, error), ended=(began, ended))
        self._post_completions(run, done)
        pace = spent / (end - start)
        run.pace = pace if run.pace is None else 0.75 * run.pace + 0.25 * pace
        if end >= chunk.limit:  # (only this thread lowers the limit)
            self._done_with(run, chunk)

    def _post_completions(self, run: ActiveRun, done: _Completions) -> None:
        """Completed attempts (ascending seqs) move to completed, in memory and, as one move block, in the store."""
        if not done.seqs:
            return
        items, inflight = run.items, run.inflight
        positions = items.positions_of(done.seqs)
        ended = np.array(done.ended)
        finished = (ended * 1_000_000).astype(np.int64)
        durations = ended - np.array(done.began)
        coverage = np.array(done.coverage, dtype=np.float64)
        gates = done.gates if done.gated else None
        items.complete(positions, finished, durations, done.texts, gates, coverage)
        block = MoveBlock(run.batch_run_id, np.asarray(done.seqs, np.int64), {
            "state": ItemState.COMPLETED.value, "attempts": items.values_at("attempts", positions),
            "attempt_base": items.values_at("attempt_base", positions), "last_error": None, "phase": None,
            "started_at": items.values_at("started_at", positions), "finished_at": finished, "duration_s": durations,
            "outcome": done.texts, "gate": gates, "coverage": coverage, "fingerprint": None},
            ItemState.RUNNING.value, finished, done.numbers, ENGINE, done.reasons if done.review else "completed")
        for seq in done.seqs:
            del inflight[seq]
        self.writer.post((block, *done.records))

    def _finish(self, run: ActiveRun, attempt: Attempt, error: BaseException | None, outcome: Any = None,
                ended: tuple[float, float] | None = None) -> None:
        """Record one attempt's end: completed, queued again after a backoff, or failed. ``ended``: when its worker
        began and ended it (time.time()); else it ends now, having run since its dispatch."""
        del run.inflight[attempt.seq]
        item, s = run.items[attempt.seq], run.settings
        if ended is not None:
            now = datetime.fromtimestamp(ended[1], UTC).replace(tzinfo=None)
            duration: float | None = ended[1] - ended[0]
        else:
            now = utcnow()
            duration = (now - item.started_at).total_seconds() if item.started_at else None
        outcome_text, last_error, record = item.outcome, None, None
        item_gate = coverage = fingerprint = None
        if error is None:
            try:
                outcome_text, record = outcome_parts(run.batch_run_id, item.seq, item.product_id, attempt.attempt,
                                                     outcome, now)
            except (OutcomeNotStorable, OutcomeInvalid) as exc:
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
        changes: list = [self._item_move(run, item, "running", ENGINE, reason, attempt.attempt, now)]
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


class _Completions:
    """Completed attempts gathered for one move block."""

    __slots__ = ("seqs", "numbers", "texts", "records", "gates", "gated", "coverage", "began", "ended", "reasons",
                 "review")

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.numbers: list[int] = []
        self.texts: list[str] = []
        self.records: list[OutcomeRecord] = []
        self.gates: list[str | None] = []
        self.gated = False
        self.coverage: list[float | None] = []
        self.began: list[float] = []
        self.ended: list[float] = []
        self.reasons: list[str] = []
        self.review = False

    def add(self, attempt: Attempt, text: str, record: OutcomeRecord | None, item_gate: str | None,
            coverage: float | None, began: float, ended: float, required: float) -> None:
        self.seqs.append(attempt.seq)
        self.numbers.append(attempt.attempt)
        self.texts.append(text)
        if record is not None:
            self.records.append(record)
        self.gates.append(item_gate)
        self.gated = self.gated or item_gate is not None
        self.coverage.append(coverage)
        self.began.append(began)
        self.ended.append(ended)
        if item_gate == NEEDS_REVIEW:
            self.review = True
            self.reasons.append(f"completed; needs review: coverage {coverage:.0%} is below {required:.0%}")
        else:
            self.reasons.append("completed")
