"""Chunks: the attempts one worker is handed at once, run one after another in that worker.

Part of BatchEngine (engine/run/engine.py). An executor task per attempt (a Future, a work item, a done
callback, a wake-up of the dispatcher) cost more than a fast runner's whole attempt, on a GIL shared by
the dispatcher, the writer and the workers. The dispatcher therefore hands a worker as many attempts as fit
in about ``CHUNK_SECONDS`` of the batch's measured pace, and records their ends by the chunk.

Each attempt is still its own: its own cancel token and deadline (which starts when the worker begins it),
phase and log, outcome or error, and its own transitions in the store. A chunk only changes when an item
moves to ``running``: when its chunk is handed out, not when its worker begins it, so an item may wait a few
milliseconds in ``running`` behind the items before it. The size grows from one (doubling after each chunk
whose attempts all completed) and falls back to one at the first failure, so failing batches run item by
item, as fail-fast and backoff expect. An item that runs far past the pace (``STALL_SECONDS``) has the
attempts behind it taken back (withdrawn: queued again, the attempt not counted) for other workers.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from engine.core.errors import StoreError
from engine.core.limits import Clock
from engine.core.settings import BatchSettings
from engine.run.active import Attempt
from engine.run.items import PRODUCT_KEYS
from engine.runners.base import RunContext, Runner

CHUNK_SECONDS = 0.005  # a chunk holds about this much work at the batch's measured pace
MAX_CHUNK = 64  # attempts in one chunk at most
STALL_SECONDS = 0.25  # an attempt running this long holds up the attempts behind it: they are withdrawn
DISPATCH_COMMIT_TIMEOUT_S = 60.0


class NotDispatched(StoreError):
    """The store could not record an item's dispatch: its runner did not start."""


class WorkerLost(Exception):
    """The worker process running a chunk died (a remote executor's): the attempt it was running (``current``, an
    index into the chunk, None when unknown) is interrupted and counts towards the item's crash cap; the others go
    back to the queue, not counted."""

    def __init__(self, message: str, current: int | None) -> None:
        super().__init__(message)
        self.message, self.current = message, current


class ExecutorLost(Exception):
    """The executor itself went away (a Dask scheduler): the chunk's attempts go back to the queue, not counted, and
    the batch pauses until the executor is back."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# One attempt's end, as the worker records it: outcome, error, wall clock when it began and ended (time.time()),
# and how long it ran on the engine's clock (the batch's pace: test clocks make it exact).
Result = tuple[Any, BaseException | None, float, float, float]


@dataclass(eq=False, slots=True)
class Chunk:
    """Attempts of one batch handed to one worker, and what became of them so far. The worker makes each attempt's
    product dict and context as it begins it: objects that live only while the attempt runs."""

    attempts: list[Attempt]
    batch: str  # its batch's id
    products: list[tuple[str | None, ...]]  # each attempt's product, in PRODUCT_KEYS order
    context: Callable[[Attempt], RunContext]  # makes an attempt's context
    began_clock: float = math.inf  # engine clock when the attempt running now began
    started: int = 0  # attempts the worker has begun
    limit: int = 0  # the worker begins no attempt from here on (withdrawn ones)
    taken: int = 0  # results the dispatcher has recorded
    gives_back: bool = False  # its worker hands back what a slow attempt holds up (``given_back``; a remote one's)
    given_back: int | None = None  # the worker will begin no attempt from here on (it said so): withdraw the rest
    failed: bool = False  # an attempt of it did not complete
    results: list[Result] = field(default_factory=list)  # appended by the worker, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.limit = len(self.attempts)

    def current(self) -> Attempt | None:
        """The attempt its worker is running now, if any (call with ``lock`` held)."""
        at = self.started - 1
        return self.attempts[at] if at >= len(self.results) and at >= 0 else None

    def withdraw(self, start: int | None = None) -> list[Attempt]:
        """Take back the attempts the worker has not begun, or those from ``start`` on (call with ``lock`` held)."""
        start = self.started if start is None else max(start, self.started)
        taken_back = self.attempts[start:self.limit]
        self.limit = min(self.limit, start)
        return taken_back

    def stalled(self, now: float) -> bool:
        """Whether attempts wait behind a slow one (call with ``lock`` held). A worker that gives back decides that
        itself, by its own clock: the engine's sees its "began" only when it arrives, and taking back an attempt the
        worker then begins anyway would run that product twice."""
        if self.started >= self.limit:
            return False
        if self.gives_back:
            return self.given_back is not None and self.given_back < self.limit
        return now - self.began_clock >= STALL_SECONDS


def run_chunk(chunk: Chunk, runner: Runner, settings: BatchSettings, clock: Clock,
              dispatched: Future[None] | None = None) -> None:
    """A worker's task: run the chunk's attempts in order, each ended in ``chunk.results``. Each attempt's
    deadline starts when it begins. Raises NotDispatched (and begins nothing) when the store could not record
    the dispatch that durable-dispatch runners wait for."""
    if dispatched is not None:
        try:
            dispatched.result(timeout=DISPATCH_COMMIT_TIMEOUT_S)
        except (StoreError, TimeoutError) as exc:
            raise NotDispatched(f"the dispatch could not be recorded: {exc}") from None
    results, lock, attempts, products, context = chunk.results, chunk.lock, chunk.attempts, chunk.products, chunk.context
    monotonic, wall, limit = clock.monotonic, time.time, settings.max_run_seconds
    while True:
        with lock:
            at = chunk.started
            if at >= chunk.limit:
                return
            chunk.started = at + 1
            began = chunk.began_clock = monotonic()
            attempt = attempts[at]
            attempt.deadline = began + limit
        began_wall = wall()
        try:
            attempt.raise_if_cancelled()
            outcome = runner(dict(zip(PRODUCT_KEYS, products[at])), settings, context(attempt))
        except BaseException as exc:  # recorded as this attempt's failure, as a Future would hold it
            results.append((None, exc, began_wall, wall(), monotonic() - began))
        else:
            results.append((outcome, None, began_wall, wall(), monotonic() - began))


def chunk_size(pace: float | None, grown: int, ready: int, workers: int, largest: int,
               seconds: float = CHUNK_SECONDS) -> int:
    """How many attempts to hand the next worker: what fits in ``seconds`` at ``pace`` (seconds per attempt,
    None: not measured yet), at most ``grown`` (the size earned so far), ``largest``, and an even share of the
    ``ready`` items among the batch's ``workers``."""
    if pace is None or largest <= 1:
        return 1
    fits = int(seconds / pace) if pace > 0 else largest
    return max(1, min(fits, grown, largest, ready // max(1, workers)))
