"""What the engine writes: item rows, events, bulk moves, batch moves and outcomes, and their Arrow shapes.

They are named tuples, not frozen dataclasses: the engine makes two or more per item, thousands a
second, and a named tuple is built five times faster (a frozen dataclass sets every field through
``object.__setattr__``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import pyarrow as pa


class ItemRow(NamedTuple):
    """An item's mutable columns after a transition: the whole row, so the last one written wins."""

    batch_run_id: str
    seq: int
    state: str
    attempts: int
    attempt_base: int  # attempts made before the operator last re-queued it: the retry budget starts here
    last_error: str | None
    phase: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    outcome: str | None  # JSON text
    gate: str | None = None  # a completed item's quality gate: passed | needs_review; None: not gated
    coverage: float | None = None  # the required coverage its outcome reported
    fingerprint: str | None = None  # a failed item's reason group (engine/core/triage.py)


class EventRow(NamedTuple):
    batch_run_id: str
    seq: int | None
    occurred_at: datetime
    kind: str
    from_state: str | None = None
    to_state: str | None = None
    attempt: int | None = None
    actor: str | None = None
    reason: str | None = None
    data: str | None = None  # JSON text


class ItemMove(NamedTuple):
    """One item's transition as one change: its whole row after the move (the ItemRow fields, in order)
    and the move's ``item_transition`` event.

    The engine makes two per item, thousands a second. As one object, not a row and an event, there
    is half as much waiting in the writer's queue for the cyclic garbage collector to promote.
    """

    batch_run_id: str
    seq: int
    state: str  # the move's target
    attempts: int
    attempt_base: int
    last_error: str | None
    phase: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    outcome: str | None
    gate: str | None
    coverage: float | None
    fingerprint: str | None
    from_state: str
    occurred_at: datetime
    attempt: int
    actor: str
    reason: str

    kind = "item_transition"  # with to_state and data, it reads as its own EventRow
    data = None

    @property
    def to_state(self) -> str:
        return self.state


class BulkMove(NamedTuple):
    """Every item of a batch in ``from_states`` (optionally only ``seqs``) moves to ``to_state``."""

    batch_run_id: str
    from_states: tuple[str, ...]
    to_state: str
    at: datetime
    actor: str
    reason: str
    seqs: tuple[int, ...] | None = None
    new_budget: bool = False  # an operator retry: the moved items get a fresh max_attempts
    interrupted: bool = False  # a restart re-queues them: the lost attempt does not use up the budget


class Interrupted(NamedTuple):
    """Every item of a batch a dead process left ``running``: back to ``queued`` with its lost attempt
    refunded, or ``failed`` once it has crashed the worker ``max_crashes`` times (its crash count grows by one)."""

    batch_run_id: str
    at: datetime
    max_crashes: int
    actor: str


class BatchMove(NamedTuple):
    batch_run_id: str
    state: str
    at: datetime
    event: EventRow
    started: bool = False  # set started_at (first start only)
    finished: bool = False  # set finished_at


class OutcomeRecord(NamedTuple):
    """A product run's result: the quality summary and every field with its evidence."""

    batch_run_id: str
    seq: int
    product_id: str
    attempt: int
    recorded_at: datetime
    coverage: float | None
    confidence: float | None
    conflicts: int | None
    summary: str  # JSON text: the outcome without its fields
    fields: tuple[dict[str, Any], ...]  # field, value (JSON text), unit, confidence, tier, source_url, snippet_id, conflict


Change = ItemRow | EventRow | ItemMove | BulkMove | Interrupted | BatchMove | OutcomeRecord
ITEM_ROW_FIELDS = list(ItemRow._fields)  # also the leading fields of ItemMove, in order
OUTCOME_FIELDS = [name for name in OutcomeRecord._fields if name != "fields"]
EVENT_FIELDS = list(EventRow._fields)

ITEM_ROW_SCHEMA = pa.schema([
    ("batch_run_id", pa.string()), ("seq", pa.int32()), ("state", pa.string()), ("attempts", pa.int32()),
    ("attempt_base", pa.int32()), ("last_error", pa.string()), ("phase", pa.string()), ("started_at", pa.timestamp("us")),
    ("finished_at", pa.timestamp("us")), ("duration_s", pa.float64()), ("outcome", pa.string()),
    ("gate", pa.string()), ("coverage", pa.float64()), ("fingerprint", pa.string()),
])
OUTCOME_SCHEMA = pa.schema([
    ("batch_run_id", pa.string()), ("seq", pa.int32()), ("product_id", pa.string()), ("attempt", pa.int32()),
    ("recorded_at", pa.timestamp("us")), ("coverage", pa.float64()), ("confidence", pa.float64()),
    ("conflicts", pa.int32()), ("summary", pa.string()),
])
FIELD_SCHEMA = pa.schema([
    ("batch_run_id", pa.string()), ("seq", pa.int32()), ("product_id", pa.string()), ("field", pa.string()),
    ("value", pa.string()), ("unit", pa.string()), ("confidence", pa.float64()), ("tier", pa.string()),
    ("source_url", pa.string()), ("snippet_id", pa.string()), ("conflict", pa.bool_()),
])
EVENT_SCHEMA = pa.schema([
    ("batch_run_id", pa.string()), ("seq", pa.int32()), ("occurred_at", pa.timestamp("us")),
    ("kind", pa.string()), ("from_state", pa.string()), ("to_state", pa.string()), ("attempt", pa.int32()),
    ("actor", pa.string()), ("reason", pa.string()), ("data", pa.string()),
])
