"""The dispatch loop: hands the running batches' queued items to an Executor by the chunk (engine/run/chunks.py) and
records what ended (engine/run/endings.py), enforces deadlines, settles batches.

Part of BatchEngine (engine/run/engine.py).
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from concurrent.futures import Future
from functools import partial

import numpy as np

from engine.core.states import BUSY_BATCH_STATES, BatchState, ItemState, check_item_move
from engine.core.text import storable
from engine.core.triage import NEEDS_REVIEW, batch_result, result_counts, result_words
from engine.run.active import ActiveRun, Attempt
from engine.run.changes import ENGINE
from engine.run.chunks import STALL_SECONDS, Chunk, chunk_size, run_chunk
from engine.run.columns import STATES
from engine.run.endings import Endings
from engine.runners.base import RunContext
from engine.store import MoveBlock

log = logging.getLogger("indexlab.engine")


class Dispatcher(Endings):
    """The one dispatcher thread (or drain() inline) for every running batch: one step at a time under the engine lock.
    What it records when attempts end is in Endings (engine/run/endings.py)."""

    def _kick(self, run: ActiveRun | None = None) -> None:
        """Make sure the dispatcher works (a thread, or drain() in inline mode); ``run`` joins the fair share."""
        if run is not None and run.state == BatchState.RUNNING:
            self._scheduler.join(run.batch_run_id, run.priority)
        if self.background and self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._loop, name="indexlab-dispatch", daemon=True)
            self._thread.start()
        self._news.put(None)  # wake it: something changed

    def _loop(self) -> None:
        """Step, then wait for news (an attempt ended, an operator acted) or the next deadline, outside the lock.

        Workers never take the engine lock: an attempt's end is put on ``_news`` and recorded by the next step,
        many at a time, so the dispatcher and the workers do not hand the lock (and the GIL) back and forth."""
        me = threading.current_thread()
        try:
            while True:
                with self._lock:
                    wait = self._step()
                    if wait is None:
                        if self._thread is me:
                            self._thread = None  # decided under the lock: a _kick from now on starts a new thread
                        self._wake.notify_all()
                        return
                if self.background:
                    if wait > 0:
                        try:
                            self._news.put(self._news.get(timeout=wait))  # back for the next step to record
                        except queue.Empty:
                            pass
                else:
                    self.clock.sleep(wait)
        finally:
            with self._lock:
                if self._thread is me:
                    self._thread = None
                self._wake.notify_all()

    def _drain_news(self) -> None:
        """Record the attempts that ended since the last step."""
        news = self._news
        while True:
            try:
                ended = news.get_nowait()
            except queue.Empty:
                return
            if ended is not None:
                self._chunk_ended(*ended)

    def _step(self) -> float | None:
        """One pass over every loaded batch: enforce deadlines, dispatch what may run, settle batches, admit queued
        ones. Returns how long to wait, or None when no batch has anything left to do."""
        if self._closed:
            return None
        self._drain_news()
        self._apply_corrections()
        cannot_write = self.writer.degraded
        halted = (f"the store cannot write ({cannot_write}): nothing new starts until it can; "
                  "running items finish and are recorded then") if cannot_write else None
        now = self.clock.monotonic()
        runs = list(self._runs.values())
        for run in runs:
            status = self._statuses.get(run.batch_run_id)
            if status is not None:
                status.halted = halted
            for chunk in list(run.chunks):
                self._watch(run, chunk, now)
            while run.delayed and run.delayed[0][0] <= now:
                heapq.heappush(run.ready, heapq.heappop(run.delayed)[1])
        if cannot_write is None:
            self._dispatch_free_workers()
        waits = [1.0]
        for run in runs:
            if run.state == BatchState.RUNNING and cannot_write is None and not run.ready and not run.delayed \
                    and not run.inflight:
                self.writer.post([self._batch_move(run, BatchState.COMPLETED, ENGINE, self._finished_words(run))])
            if run.state == BatchState.STOPPING and not run.inflight:
                self._finish_stop(run, ENGINE, durable=False)
            if run.state not in BUSY_BATCH_STATES and not run.inflight:
                self._unload(run)
                continue
            for chunk in run.chunks:
                with chunk.lock:
                    current, held = chunk.current(), chunk.started < chunk.limit
                    if current is not None:
                        waits += [current.deadline - now, current.deadline + self.abandon_grace - now]
                        if held:
                            waits.append(chunk.began_clock + STALL_SECONDS - now)
            if run.chunks:  # an attempt begun after this step has a deadline this step has not seen
                waits.append(run.settings.max_run_seconds)
            if run.delayed and run.state == BatchState.RUNNING:
                waits.append(run.delayed[0][0] - now)
        if self._admit():
            return 0.0
        if not self._runs:
            self._release_executor()
            return None
        return max(0.0, min(waits)) + (0.001 if not self.background else 0.0)

    def _dispatch_free_workers(self) -> None:
        """Give every free worker of the server's budget a chunk of the running batch whose turn it is."""
        limit = self.capacity.max_workers
        while self._busy < limit:
            runnable = [run.batch_run_id for run in self._runs.values()
                        if run.state == BatchState.RUNNING and run.ready and len(run.chunks) < run.settings.workers]
            if not runnable:
                return
            chosen = self._scheduler.pick(runnable) if len(runnable) > 1 else runnable[0]
            run = self._runs[chosen]
            pool = self.pools.of(run.settings.executor)
            seqs = self._take(run, chunk_size(run.pace, run.grown, len(run.ready), run.settings.workers,
                                              pool.max_chunk, pool.chunk_seconds))
            if seqs:
                self._scheduler.charge(chosen, len(seqs))
                self._dispatch(run, seqs)
            if self._closed:
                return

    @staticmethod
    def _take(run: ActiveRun, size: int) -> list[int]:
        """Up to ``size`` queued items off the front of the run's ready heap, in run order. An item found running
        when the process died (``crashes``) goes alone: should it kill the process again, the restart blames it
        and what really ran beside it, not items that only waited in its chunk."""
        ready, seqs = run.ready, []
        crashes = run.loaded.arrays.get("crashes")
        while ready and len(seqs) < size:
            popped = [heapq.heappop(ready) for _ in range(min(size - len(seqs), len(ready)))]
            positions = run.items.positions_of(popped)
            queued = (run.items.codes_at(positions) == _QUEUED).tolist()
            crashed = (crashes[positions] > 0).tolist() if crashes is not None else [False] * len(popped)
            for at, (seq, ok, alone) in enumerate(zip(popped, queued, crashed)):
                if not ok or (seqs and seq == seqs[-1]):  # (a seq pushed twice pops twice, side by side)
                    continue
                if alone:
                    if not seqs:
                        seqs.append(seq)
                        at += 1
                    for back in popped[at:]:
                        heapq.heappush(ready, back)
                    return seqs
                seqs.append(seq)
        return seqs

    def _dispatch(self, run: ActiveRun, seqs: list[int]) -> None:
        """Hand a worker the attempts of ``seqs`` (queued, ascending): each item moves to running now."""
        if self.catalog_ids is not None:
            gone = {seq for seq in seqs if run.loaded.product(seq)["product_id"] not in self.catalog_ids}
            if gone:
                self.writer.post([self._bulk(run, (ItemState.QUEUED,), ItemState.SKIPPED, ENGINE,
                                               "its product left the catalog", seqs=sorted(gone))])
                seqs = [seq for seq in seqs if seq not in gone]
                if not seqs:
                    return
        check_item_move(ItemState.QUEUED, ItemState.RUNNING, what=f"item {seqs[0]}")
        items, at = run.items, time.time_ns() // 1000
        positions = items.positions_of(seqs)
        items.begin(positions, at)
        numbers = items.values_at("attempts", positions)
        block = MoveBlock(run.batch_run_id, np.asarray(seqs, np.int64), {
            "state": ItemState.RUNNING.value, "attempts": numbers, "attempt_base": items.values_at("attempt_base", positions),
            "last_error": items.values_at("last_error", positions), "phase": None, "started_at": at,
            "finished_at": None, "duration_s": None, "outcome": items.values_at("outcome", positions), "gate": None,
            "coverage": None, "fingerprint": None}, ItemState.QUEUED.value, at, numbers, ENGINE, "dispatched")
        dispatched: Future[None] | None = None
        if getattr(run.runner, "durable_dispatch", True):
            dispatched = self.writer.submit((block,))  # the runners start once their attempts are on record
        else:
            self.writer.post((block,))
        clock = self.clock
        attempts = [Attempt(seq, number, clock) for seq, number in zip(seqs, numbers.tolist())]
        run.inflight.update(zip(seqs, attempts))
        pool = self.pools.of(run.settings.executor)
        chunk = Chunk(attempts, run.batch_run_id, run.loaded.product_rows(positions), partial(self._context, run),
                      gives_back=pool.gives_back)
        run.chunks.add(chunk)
        self._busy += 1
        try:
            executor = pool.get(self.capacity.max_workers)
            future = executor.submit(run_chunk, chunk, run.runner, run.settings, self.clock, dispatched)
        except RuntimeError:  # the interpreter is shutting down: the items stay running, recovery re-queues them
            log.warning("executor refused work (interpreter shutting down); dispatch stops")
            self._closed = True
            return
        if self.background:
            news = self._news
            future.add_done_callback(lambda f: news.put((run, chunk, f)))  # no lock in the worker: see _loop
        else:  # inline: the executor ran it in this thread, under the lock; recorded at once, deterministically
            future.add_done_callback(lambda f: self._chunk_ended(run, chunk, f))

    def _context(self, run: ActiveRun, attempt: Attempt) -> RunContext:
        """An attempt's context (made by its worker as it begins it)."""
        return RunContext(run.batch_run_id, attempt.seq, attempt.attempt, attempt, self.limits,
                          on_phase=partial(self._on_phase, run, attempt), on_log=partial(self._on_log, run, attempt))

    def _on_phase(self, run: ActiveRun, attempt: Attempt, name: str) -> None:
        with self._lock:
            if run.inflight.get(attempt.seq) is attempt:
                name = storable(name)[:64]
                run.items.update(attempt.seq, phase=name)
                status = self._statuses.get(run.batch_run_id)
                if status is not None:
                    status.set_phase(attempt.seq, name)

    def _on_log(self, run: ActiveRun, attempt: Attempt, level: str, message: str) -> None:
        self.writer.post([self._event(run, "log", "runner", storable(message), seq=attempt.seq, attempt=attempt.attempt,
                                      data={"level": storable(level)})])

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

    def _replace_executor(self) -> None:
        """A worker is stuck in an abandoned attempt: new work goes to fresh executors (a thread pool's threads end
        as their attempts return; nothing waiting in it is cancelled; a cluster's executor stays as it is)."""
        for pool in self.pools.all():
            pool.let_go()

    def _release_executor(self) -> None:
        """Nothing is in flight: let the pools' threads end (new ones start with the next dispatch)."""
        if not self._busy:
            for pool in self.pools.all():
                pool.let_go(cancel_futures=True)


_QUEUED = STATES.code(ItemState.QUEUED.value)
