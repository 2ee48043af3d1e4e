"""Change builders: each move of the run in memory, described for the store (ItemMove, BulkMove, BatchMove, EventRow).

Part of BatchEngine (engine/run/engine.py).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from engine.core.errors import IllegalTransition, NotFound
from engine.core.states import (
    FINISHED_BATCH_STATES,
    SET_ASIDE_ITEM_STATES,
    BatchState,
    ItemState,
    check_batch_move,
    check_item_move,
)
from engine.run.active import ActiveItem, ActiveRun
from engine.store import BatchMove, BulkMove, EventRow, ItemMove, utcnow

ENGINE = "engine"  # the actor of transitions the engine makes by itself


class ChangeBuilders:
    """Move items and the batch in memory, checked against the table of moves; return the change to write."""

    def _item_move(self, run: ActiveRun, item: ActiveItem, from_state: str, actor: str, reason: str,
                   attempt: int, at: datetime | None = None) -> ItemMove:
        """The item's row as it now is, and the event of the move that made it so (at ``at``, default now)."""
        return ItemMove(run.batch_run_id, item.seq, item.state, item.attempts, item.attempt_base, item.last_error,
                        item.phase, item.started_at, item.finished_at, item.duration_s, item.outcome, item.gate,
                        item.coverage, item.fingerprint, from_state, at or utcnow(), attempt, actor, reason)

    def _event(self, run: ActiveRun, kind: str, actor: str, reason: str, *, seq: int | None = None, from_state: str | None = None,
               to_state: str | None = None, attempt: int | None = None, data: dict | None = None) -> EventRow:
        return EventRow(run.batch_run_id, seq, utcnow(), kind, from_state, to_state, attempt, actor, reason,
                        json.dumps(data) if data else None)

    def _batch_move(self, run: ActiveRun, target: BatchState, actor: str, reason: str, *, started: bool = False) -> BatchMove:
        previous = run.state
        check_batch_move(previous, target, batch_run_id=run.batch_run_id)
        run.state = target.value
        event = self._event(run, "batch_transition", actor, reason, from_state=previous, to_state=target.value)
        finished = target in FINISHED_BATCH_STATES
        return BatchMove(run.batch_run_id, target.value, event.occurred_at, event, started=started, finished=finished)

    def _bulk(self, run: ActiveRun, sources: tuple[ItemState, ...], target: ItemState, actor: str, reason: str, *,
              seqs: Sequence[int] | None = None, new_budget: bool = False, interrupted: bool = False) -> BulkMove:
        """Move items in memory, all at once, and describe the same move for the store (one statement there)."""
        if seqs is None:
            positions = run.items.positions_in(tuple(source.value for source in sources))
        else:
            positions = np.sort(run.items.positions_of(seqs))
        for state, seq in run.items.first_in_each_state(positions):  # the table of moves, once per state moved from
            check_item_move(state, target, what=f"item {seq}")
        now = utcnow()
        run.items.move(positions, target.value, finished_at=now if target in SET_ASIDE_ITEM_STATES else None,
                       new_budget=new_budget, refund=interrupted)
        if target == ItemState.QUEUED and len(positions):
            moved = run.items.seqs_at(positions)
            if run.ready:
                for seq in moved:
                    heapq.heappush(run.ready, seq)
            else:
                run.ready = moved  # in seq order: already a heap
        return BulkMove(run.batch_run_id, tuple(s.value for s in sources), target.value, now, actor, reason,
                        seqs=tuple(seqs) if seqs is not None else None, new_budget=new_budget, interrupted=interrupted)

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
