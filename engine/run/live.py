"""The live status of a batch, kept in memory from committed changes: cheap to read, never SQL per read.

It is fed by the group-commit writer after each commit, so what it shows is durable.
Phase cursor moves are the one exception: they are progress hints, shown as they happen.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from engine.core.states import ItemState
from engine.core.triage import NEEDS_REVIEW, batch_result, result_counts, result_words
from engine.run.items import ItemColumns
from engine.store import BatchMove, BulkMove, Change, EventRow, ItemMove, ItemRow, as_utc

RECENT_WINDOW_S = 120.0  # throughput "recent" window
MAX_FAILURES = 20
MAX_EVENTS = 50
_FINISHED = (ItemState.COMPLETED.value, ItemState.FAILED.value)
_FAILED_OR_RETRIED = (ItemState.FAILED.value, ItemState.QUEUED.value)


class LiveStatus:
    """One batch's counters, throughput, ETA, running items, failures and action feed."""

    def __init__(self, batch: dict[str, Any], items: ItemColumns | Iterable[dict[str, Any]], *,
                 wall: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._wall = wall
        self.batch_run_id: str = batch["batch_run_id"]
        self.state: str = batch["state"]
        self.created_at = batch["created_at"]
        self.started_at = batch["started_at"]
        self.finished_at = batch["finished_at"]
        self.reason: str | None = batch.get("reason")  # the reason of the batch's last transition (stored)
        if not isinstance(items, ItemColumns):
            items = ItemColumns.from_records(items)
        self._items = items  # products by seq, as planned: they never change
        self._states: dict[int, str] = dict(zip(items.seqs, items.column("state")))
        self._running: dict[int, dict[str, Any]] = {
            int(row["seq"]): {"attempt": int(row["attempts"]), "phase": row.get("phase"),
                              "started_at": as_utc(row.get("started_at"))}
            for row in items.rows_where("state", ItemState.RUNNING.value)
        }
        self._early_phase: dict[int, str] = {}  # phases reported before their dispatch was committed
        self._counts = Counter(self._states.values())
        self._review: set[int] = {seq for seq, state, g in zip(items.seqs, items.column("state"), items.column("gate"))
                                  if state == ItemState.COMPLETED.value and g == NEEDS_REVIEW}
        self._finished_times: deque[float] = deque(maxlen=100_000)
        self._session_finished = 0
        self._active_since: float | None = self._wall() if self.state == "running" else None
        self._active_seconds = 0.0
        self._failures: deque[dict[str, Any]] = deque(maxlen=MAX_FAILURES)
        for row in items.newest(ItemState.FAILED.value, MAX_FAILURES):  # failed before this status existed
            self._failures.append(self._failure(row["seq"], row["attempts"], row["last_error"] or "", True,
                                                row["finished_at"]))
        self._events: deque[EventRow | ItemMove] = deque(maxlen=MAX_EVENTS)
        self.updated_at = datetime.now(UTC)
        self.halted: str | None = None  # why the engine stopped working on this batch, if it did

    # ------------------------------------------------------------------ feeding
    def apply(self, changes: Sequence[Change]) -> None:
        with self._lock:
            for change in changes:
                if getattr(change, "batch_run_id", None) != self.batch_run_id:
                    continue
                if isinstance(change, ItemMove):
                    self._apply_row(change)
                    self._remember_event(change)
                elif isinstance(change, ItemRow):
                    self._apply_row(change)
                elif isinstance(change, EventRow):
                    self._remember_event(change)
                elif isinstance(change, BulkMove):
                    self._apply_bulk(change)
                elif isinstance(change, BatchMove):
                    self._apply_batch(change)
            self.updated_at = datetime.now(UTC)

    def set_phase(self, seq: int, phase: str) -> None:
        with self._lock:
            if seq in self._running:
                self._running[seq]["phase"] = phase
            else:  # the dispatch is not committed yet: show the phase once it is
                self._early_phase[seq] = phase

    def _move(self, seq: int, new: str) -> str:
        old = self._states.get(seq)
        if old != new:
            self._counts[old] -= 1
            self._counts[new] += 1
            self._states[seq] = new
        return old

    def _failure(self, seq: int, attempt: int, error: str, final: bool, at: Any) -> dict[str, Any]:
        return {"seq": seq, **self._product(seq), "attempt": attempt, "error": error[:300], "final": final,
                "at": as_utc(at) or datetime.now(UTC)}

    def _apply_row(self, row: ItemRow | ItemMove) -> None:
        old = self._move(row.seq, row.state)
        if row.state == ItemState.COMPLETED.value and row.gate == NEEDS_REVIEW:
            self._review.add(row.seq)
        else:
            self._review.discard(row.seq)
        early = self._early_phase.pop(row.seq, None)
        if row.state == ItemState.RUNNING.value:
            self._running[row.seq] = {"attempt": row.attempts, "phase": row.phase or early,
                                      "started_at": as_utc(row.started_at)}
        else:
            self._running.pop(row.seq, None)
        if old == ItemState.RUNNING.value and row.state in _FINISHED:
            self._finished_times.append(self._wall())
            self._session_finished += 1
        # failures: a failed attempt, final or to be retried; a stopped item is not a failure
        if row.last_error and old == ItemState.RUNNING.value and row.state in _FAILED_OR_RETRIED:
            self._failures.appendleft(self._failure(row.seq, row.attempts, row.last_error,
                                                    row.state == ItemState.FAILED.value, row.finished_at))

    def _apply_bulk(self, move: BulkMove) -> None:
        seqs = move.seqs if move.seqs is not None else list(self._states)
        moved = 0
        for seq in seqs:
            if self._states.get(seq) in move.from_states:
                self._move(seq, move.to_state)
                self._running.pop(seq, None)
                moved += 1
        self._events.appendleft(EventRow(self.batch_run_id, None, move.at, "bulk_transition", "|".join(move.from_states),
                                         move.to_state, actor=move.actor, reason=f"{move.reason} ({moved} items)"))

    def _apply_batch(self, move: BatchMove) -> None:
        now = self._wall()
        if move.state == "running" and self._active_since is None:
            self._active_since = now
        elif move.state != "running" and self._active_since is not None:
            self._active_seconds += now - self._active_since
            self._active_since = None
        self.state = move.state
        self.reason = move.event.reason
        if move.started and self.started_at is None:
            self.started_at = as_utc(move.at)
        if move.finished:
            self.finished_at = as_utc(move.at)
        self._remember_event(move.event)

    def _remember_event(self, event: EventRow | ItemMove) -> None:
        if event.kind != "log":  # runner log lines stay in the store; the feed shows actions and transitions
            self._events.appendleft(event)  # two per item: made a feed entry only when read

    # ------------------------------------------------------------------ reading
    def _product(self, seq: int) -> dict[str, Any]:
        return self._items.product(seq) if seq in self._items.position else {}

    def _rates(self, now: float) -> tuple[float | None, float | None]:
        """(recent, overall) finished products per hour, or None where there is no basis yet."""
        window = self._finished_times  # in finishing order: drop what left the window
        while window and now - window[0] > RECENT_WINDOW_S:
            window.popleft()
        active = self._active_seconds + (now - self._active_since if self._active_since is not None else 0.0)
        recent = None
        if len(window) >= 2:
            span = max(now - window[0], 1.0)
            recent = len(window) / span * 3600
        overall = self._session_finished / active * 3600 if active >= 1.0 and self._session_finished else None
        return recent, overall

    def to_dict(self) -> dict[str, Any]:
        """A consistent copy for the dashboard and the API."""
        with self._lock:
            now = self._wall()
            counts = {s.value: int(self._counts.get(s.value, 0)) for s in ItemState}
            total = len(self._states)
            remaining = counts["queued"] + counts["running"] + counts["stopped"]  # stopped items run on resume
            recent, overall = self._rates(now)
            rates = [r for r in (recent, overall) if r]
            eta = None
            if remaining == 0:
                eta = {"seconds": 0.0, "low_seconds": 0.0, "high_seconds": 0.0}
            elif rates and self.state == "running":
                best = recent or overall
                eta = {"seconds": remaining / best * 3600, "low_seconds": remaining / max(rates) * 3600,
                       "high_seconds": remaining / min(rates) * 3600}
            running = [{"seq": seq, **self._product(seq), **info}
                       for seq, info in sorted(self._running.items())]
            done = total - remaining
            outcomes = result_counts(counts, len(self._review))
            result = batch_result(self.state, outcomes)
            return {
                "batch_run_id": self.batch_run_id, "state": self.state, "total": total, "counts": counts,
                "done": done, "progress": done / total if total else 1.0,
                "throughput": {"recent_per_hour": recent, "overall_per_hour": overall,
                               "window_seconds": RECENT_WINDOW_S},
                "eta": eta, "running": running,
                "current": running[0] if running else None,
                "recent_failures": list(self._failures), "recent_events": [_feed_entry(e) for e in self._events],
                "created_at": self.created_at, "started_at": self.started_at, "finished_at": self.finished_at,
                "updated_at": self.updated_at, "halted": self.halted,
                "result": result.value if result else None, "outcomes": outcomes,
                "result_text": result_words(result, outcomes), "reason": self.reason,
            }


def _feed_entry(event: EventRow | ItemMove) -> dict[str, Any]:
    return {"occurred_at": as_utc(event.occurred_at), "kind": event.kind, "seq": event.seq,
            "from_state": event.from_state, "to_state": event.to_state, "actor": event.actor, "reason": event.reason}
