"""The live status of a batch, kept in memory from committed changes: cheap to read, never SQL per read.

It is fed by the group-commit writer after each commit, so what it shows is durable.
Phase cursor moves are the one exception: they are progress hints, shown as they happen.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from engine.core.states import ItemState
from engine.core.triage import NEEDS_REVIEW, batch_result, result_counts, result_words
from engine.run.columns import EPOCH, GATES, NO_TIME, STATES
from engine.run.items import ItemColumns
from engine.store import (
    BatchMove,
    BatchUpdate,
    BulkMove,
    Change,
    EventRow,
    Interrupted,
    ItemMove,
    ItemRow,
    MoveBlock,
    Store,
    as_utc,
)

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
        self.priority: int = batch.get("priority") or 5
        self.workers: int | None = batch.get("settings", {}).get("workers")
        self.executor: str | None = batch.get("settings", {}).get("executor")  # its setting (None: the server's)
        if not isinstance(items, ItemColumns):
            items = ItemColumns.from_records(items)
        self._items = items  # products by seq, as planned: they never change
        self._position = items.position
        self._codes = items.state_codes().copy()  # each item's committed state, as a code (engine/run/columns.py)
        # running items: seq -> (attempt, started_at: a datetime, or microseconds as a move block gives it)
        self._running: dict[int, tuple[int, Any]] = {}
        self._phases: dict[int, str] = {}  # phase cursors of running items that reported one
        for row in items.rows_where("state", ItemState.RUNNING.value):
            self._running[int(row["seq"])] = (int(row["attempts"]), row.get("started_at"))
            if row.get("phase"):
                self._phases[int(row["seq"])] = row["phase"]
        self._early_phase: dict[int, str] = {}  # phases reported before their dispatch was committed
        counts = np.bincount(self._codes, minlength=len(STATES.values)).tolist()
        self._counts = Counter({STATES.values[code]: n for code, n in enumerate(counts) if n})
        gates = items.codes.get("gate")
        self._review = (self._codes == STATES.code(ItemState.COMPLETED.value)) & (
            gates == GATES.code(NEEDS_REVIEW) if gates is not None else False)
        self._finished_times: deque[float] = deque(maxlen=100_000)
        self._session_finished = 0
        self._active_since: float | None = self._wall() if self.state == "running" else None
        self._active_seconds = 0.0
        self._failures: deque[dict[str, Any]] = deque(maxlen=MAX_FAILURES)
        for row in items.newest(ItemState.FAILED.value, MAX_FAILURES):  # failed before this status existed
            self._failures.append(self._failure(row["seq"], row["attempts"], row["last_error"] or "", True,
                                                row["finished_at"]))
        self._events: deque[EventRow | ItemMove | tuple[MoveBlock, int]] = deque(maxlen=MAX_EVENTS)
        self.updated_at = datetime.now(UTC)
        self.halted: str | None = None  # why the engine stopped working on this batch, if it did
        self._total = len(self._codes)
        self._review_count: int | None = None  # once shed: the items completed but needing review
        self.stale = False  # shed, then told of a change it cannot follow without its items: read the store instead

    @property
    def items(self) -> ItemColumns | None:
        """The items as loaded (products by seq, as planned); None once shed."""
        return self._items

    @property
    def shed(self) -> bool:
        return self._review_count is not None

    def shed_items(self) -> bool:
        """Let go of the per-item columns (products, states: ~8 MB per 100,000 items) once the engine has let the
        batch go and every change posted for it is committed: what it shows after that is counts, the feed, the
        failures and the rates, which stay. A later item-level change it cannot follow makes it ``stale`` (the
        engine then reads the batch's status from the store). Kept as it is while items still show as running.
        True if shed."""
        with self._lock:
            if self.shed:
                return True
            if self._running or self._early_phase:
                return False
            self._review_count = int(np.count_nonzero(self._review))
            self._items = self._position = self._codes = self._review = None  # type: ignore[assignment]
            self._rates(self._wall())  # prune the finish times that left the recent window
            return True

    # ------------------------------------------------------------------ feeding
    def apply(self, changes: Sequence[Change]) -> None:
        with self._lock:
            for change in changes:
                if getattr(change, "batch_run_id", None) != self.batch_run_id:
                    continue
                if self.shed and not self._follows_shed(change):
                    self.stale = True
                    continue
                if isinstance(change, MoveBlock):
                    self._apply_block(change)
                elif isinstance(change, ItemMove):
                    self._apply_row(change)
                    self._remember_event(change)
                elif isinstance(change, ItemRow):
                    self._apply_row(change)
                elif isinstance(change, EventRow):
                    self._remember_event(change)
                elif isinstance(change, BulkMove):
                    self._apply_bulk(change)
                elif isinstance(change, Interrupted) and change.row is not None:  # (a remote worker died)
                    self._apply_row(change.row)
                    self._remember_event(change.row)
                elif isinstance(change, BatchMove):
                    self._apply_batch(change)
                elif isinstance(change, BatchUpdate):
                    self.priority = change.priority or self.priority
                    self.workers = change.workers or self.workers
                    if change.event is not None:
                        self._remember_event(change.event)
            self.updated_at = datetime.now(UTC)

    def set_phase(self, seq: int, phase: str) -> None:
        with self._lock:
            if self.shed:  # (no attempt of a batch the engine let go reports a phase)
                return
            if seq in self._running:
                self._phases[seq] = phase
            else:  # the dispatch is not committed yet: show the phase once it is
                self._early_phase[seq] = phase

    def _move(self, seq: int, new: str) -> str | None:
        at = self._position.get(seq)
        if at is None:
            return None
        old = STATES.values[self._codes[at]]
        if old != new:
            self._counts[old] -= 1
            self._counts[new] += 1
            self._codes[at] = STATES.code(new)
        return old

    def _failure(self, seq: int, attempt: int, error: str, final: bool, at: Any) -> dict[str, Any]:
        return {"seq": seq, **self._product(seq), "attempt": attempt, "error": error[:300], "final": final,
                "at": as_utc(at) or datetime.now(UTC)}

    def _apply_row(self, row: ItemRow | ItemMove) -> None:
        old = self._move(row.seq, row.state)
        at = self._position.get(row.seq)
        if at is not None:
            self._review[at] = row.state == ItemState.COMPLETED.value and row.gate == NEEDS_REVIEW
        early = self._early_phase.pop(row.seq, None)
        if row.state == ItemState.RUNNING.value:
            self._running[row.seq] = (row.attempts, row.started_at)
            if row.phase or early:
                self._phases[row.seq] = row.phase or early
        else:
            self._running.pop(row.seq, None)
            self._phases.pop(row.seq, None)
        if old == ItemState.RUNNING.value and row.state in _FINISHED:
            self._finished_times.append(self._wall())
            self._session_finished += 1
        # failures: a failed attempt, final or to be retried; a stopped item is not a failure
        if row.last_error and old == ItemState.RUNNING.value and row.state in _FAILED_OR_RETRIED:
            self._failures.appendleft(self._failure(row.seq, row.attempts, row.last_error,
                                                    row.state == ItemState.FAILED.value, row.finished_at))

    @staticmethod
    def _follows_shed(change: Change) -> bool:
        """Whether a shed status can follow ``change`` exactly: batch-level changes, and a bulk move of every item
        in its from-states (from the counts); not one item's move, nor a bulk move of named items."""
        if isinstance(change, (ItemMove, ItemRow, MoveBlock, Interrupted)):  # (a move block names its items)
            return False
        return not isinstance(change, BulkMove) or change.seqs is None

    def _apply_bulk(self, move: BulkMove) -> None:
        """Every item the move names, in one of its from-states, moves: vectorised over the state codes."""
        if self.shed:
            self._apply_bulk_to_counts(move)
            return
        chosen = np.isin(self._codes, STATES.codes(move.from_states))
        if move.seqs is not None:
            named = np.zeros(len(self._codes), bool)
            named[self._position.positions(move.seqs)] = True
            chosen &= named
        moved = int(np.count_nonzero(chosen))
        if moved:
            for code, n in enumerate(np.bincount(self._codes[chosen], minlength=len(STATES.values)).tolist()):
                if n:
                    self._counts[STATES.values[code]] -= n
            self._counts[move.to_state] += moved
            self._codes[chosen] = STATES.code(move.to_state)
            for seq in [seq for seq in self._running if chosen[self._position[seq]]]:
                del self._running[seq]
                self._phases.pop(seq, None)
        self._events.appendleft(EventRow(self.batch_run_id, None, move.at, "bulk_transition", "|".join(move.from_states),
                                         move.to_state, actor=move.actor, reason=f"{move.reason} ({moved} items)"))

    def _apply_block(self, block: MoveBlock) -> None:
        """Many items' same move at once (dispatched, or completed): counts and codes vectorised."""
        n = block.size
        positions = self._position.positions(block.seqs)
        if len(positions) != n:  # not all of this batch's: item by item
            for move in block.moves():
                self._apply_row(move)
                self._remember_event(move)
            return
        target = block.rows["state"]
        old = self._codes[positions]
        for code, count in enumerate(np.bincount(old, minlength=len(STATES.values)).tolist()):
            if count:
                self._counts[STATES.values[code]] -= count
        self._counts[target] += n
        self._codes[positions] = STATES.code(target)
        gates = block.rows["gate"]
        if target != ItemState.COMPLETED.value or gates is None:
            self._review[positions] = False
        elif isinstance(gates, str):
            self._review[positions] = gates == NEEDS_REVIEW
        else:
            self._review[positions] = np.asarray(gates, dtype=object) == NEEDS_REVIEW
        seqs = block.seqs.tolist()
        if target == ItemState.RUNNING.value:
            attempts, started = block.rows["attempts"], block.rows["started_at"]
            attempts = attempts.tolist() if isinstance(attempts, np.ndarray) else attempts
            if isinstance(attempts, int):
                attempts = [attempts] * n
            starts = started.tolist() if isinstance(started, np.ndarray) else [started] * n
            self._running.update(zip(seqs, zip(attempts, starts)))
            if self._early_phase:
                for seq in seqs:
                    early = self._early_phase.pop(seq, None)
                    if early:
                        self._phases[seq] = early
        else:
            running, phases = self._running, self._phases
            for seq in seqs:
                running.pop(seq, None)
            if phases:
                for seq in seqs:
                    phases.pop(seq, None)
            if target in _FINISHED:
                finished = int(np.count_nonzero(old == STATES.code(ItemState.RUNNING.value)))
                if finished:
                    self._finished_times.extend([self._wall()] * finished)
                    self._session_finished += finished
        self._events.extendleft((block, at) for at in range(max(0, n - MAX_EVENTS), n))

    def _apply_bulk_to_counts(self, move: BulkMove) -> None:
        """A shed status's bulk move of every item in its from-states (``seqs`` None): the counts move."""
        from_states = set(move.from_states)
        moved = sum(self._counts.get(state, 0) for state in from_states)
        for state in from_states:
            self._counts[state] = 0
        self._counts[move.to_state] += moved
        if ItemState.COMPLETED.value in from_states and move.to_state != ItemState.COMPLETED.value:
            self._review_count = 0
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
        return self._items.product(seq) if self._items is not None and seq in self._position else {}

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
            total = self._total
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
            phases = self._phases
            running = [{"seq": seq, **self._product(seq), "attempt": attempt, "phase": phases.get(seq),
                        "started_at": _aware(started)} for seq, (attempt, started) in sorted(self._running.items())]
            done = total - remaining
            review = self._review_count if self.shed else int(np.count_nonzero(self._review))
            outcomes = result_counts(counts, review)
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
                "priority": self.priority, "workers": self.workers, "executor": self.executor,
            }


def stored_status(store: Store, batch: dict[str, Any]) -> dict[str, Any]:
    """The status of a batch no engine holds, as the store last recorded it: the same fields as
    ``LiveStatus.to_dict`` from a few small aggregates (no row per item), so any number of batches can be
    polled while others run. No throughput (nothing is running it here); the feed shows batch-level events."""
    parts = store.status_parts(batch["batch_run_id"], failures=MAX_FAILURES, events=MAX_EVENTS)
    counts = {s.value: int(parts["counts"].get(s.value, 0)) for s in ItemState}
    total = sum(counts.values())
    remaining = counts["queued"] + counts["running"] + counts["stopped"]
    outcomes = result_counts(counts, parts["needs_review"])
    result = batch_result(batch["state"], outcomes)
    product = ("product_id", "category", "brand", "model", "variant")
    running = [{"seq": r["seq"], **{k: r[k] for k in product}, "attempt": r["attempts"], "phase": r["phase"],
                "started_at": r["started_at"]} for r in parts["running"]]
    failures = [{"seq": r["seq"], **{k: r[k] for k in product}, "attempt": r["attempts"],
                 "error": (r["last_error"] or "")[:300], "final": True, "at": r["finished_at"] or datetime.now(UTC)}
                for r in parts["failed"]]
    return {
        "batch_run_id": batch["batch_run_id"], "state": batch["state"], "total": total, "counts": counts,
        "done": total - remaining, "progress": (total - remaining) / total if total else 1.0,
        "throughput": {"recent_per_hour": None, "overall_per_hour": None, "window_seconds": RECENT_WINDOW_S},
        "eta": {"seconds": 0.0, "low_seconds": 0.0, "high_seconds": 0.0} if remaining == 0 else None,
        "running": running, "current": running[0] if running else None, "recent_failures": failures,
        "recent_events": parts["events"], "created_at": batch["created_at"], "started_at": batch["started_at"],
        "finished_at": batch["finished_at"], "updated_at": batch["updated_at"], "halted": None,
        "result": result.value if result else None, "outcomes": outcomes, "result_text": result_words(result, outcomes),
        "reason": batch.get("reason"), "priority": batch.get("priority") or 5, "workers": batch["settings"].get("workers"),
        "executor": batch["settings"].get("executor"),
    }


def _aware(value: Any) -> datetime | None:
    """A start time as held (a datetime, or microseconds from a move block) as an aware UTC datetime."""
    if isinstance(value, int):
        return None if value == NO_TIME else (EPOCH + timedelta(microseconds=value)).replace(tzinfo=UTC)
    return as_utc(value)


def _feed_entry(event: EventRow | ItemMove | tuple[MoveBlock, int]) -> dict[str, Any]:
    if type(event) is tuple:  # (block, at): one item of a move block
        block, at = event
        event = block.move(at)
    return {"occurred_at": as_utc(event.occurred_at), "kind": event.kind, "seq": event.seq,
            "from_state": event.from_state, "to_state": event.to_state, "actor": event.actor, "reason": event.reason}
