"""The fair share of the server's workers between running batches: stride scheduling, weighted by priority.

Each running batch has a *pass*; the dispatcher gives the next free worker to the runnable batch with the
smallest pass, which then advances by its *stride* (``STRIDE_UNIT // priority``): over any stretch of time
a batch gets workers in proportion to its priority (priority 8 twice as often as priority 4), and no running
batch starves, since every dispatch to the others moves their pass past its own. The order is exact, not
random: with one worker and priorities 2 and 1 the dispatches go A B A A B A A B ...

A batch that (re)joins, or comes back after waiting (a backoff, its own ``workers`` cap), starts from the
pass of the last dispatch, not from where it left: time it spent idle is not credit to spend in one burst.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

MIN_PRIORITY, MAX_PRIORITY, DEFAULT_PRIORITY = 1, 10, 5
STRIDE_UNIT = 2520  # lcm(1..10): every priority's stride is a whole number, so the order is exact


@dataclass(slots=True)
class Share:
    priority: int
    stride: int
    pass_: int
    order: int  # when it joined: breaks ties after priority


class StrideScheduler:
    """Which running batch gets the next free worker. Not thread-safe: the engine calls it under its lock."""

    def __init__(self) -> None:
        self._shares: dict[str, Share] = {}
        self._now = 0  # the pass of the last dispatch
        self._joined = itertools.count()

    def join(self, batch_run_id: str, priority: int) -> None:
        """A batch starts (or resumes) running: it competes from now on."""
        share = self._shares.get(batch_run_id)
        if share is None:
            self._shares[batch_run_id] = Share(priority, STRIDE_UNIT // priority, self._now, next(self._joined))
        else:
            self.set_priority(batch_run_id, priority)
            share.pass_ = max(share.pass_, self._now)

    def leave(self, batch_run_id: str) -> None:
        self._shares.pop(batch_run_id, None)

    def set_priority(self, batch_run_id: str, priority: int) -> None:
        share = self._shares.get(batch_run_id)
        if share is not None:
            share.priority, share.stride = priority, STRIDE_UNIT // priority

    def pick(self, candidates: Iterable[str]) -> str | None:
        """The candidate whose turn it is (smallest pass, then higher priority, then first joined)."""
        best: Share | None = None
        chosen = None
        floor = self._now - STRIDE_UNIT
        for batch_run_id in candidates:
            share = self._shares.get(batch_run_id)
            if share is None:
                continue
            if share.pass_ < floor:  # it waited (a backoff, its cap): no burst of saved-up turns
                share.pass_ = floor
            if best is None or (share.pass_, -share.priority, share.order) < (best.pass_, -best.priority, best.order):
                best, chosen = share, batch_run_id
        return chosen

    def charge(self, batch_run_id: str, items: int = 1) -> None:
        """``batch_run_id`` got a worker for ``items`` attempts (a chunk): its pass advances by a stride for each."""
        share = self._shares[batch_run_id]
        self._now = share.pass_
        share.pass_ += share.stride * items
