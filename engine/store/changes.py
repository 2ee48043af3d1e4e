"""What the engine writes: item rows, events, bulk moves, batch moves and outcomes, and their Arrow shapes.

They are named tuples, not frozen dataclasses: the engine makes two or more per item, thousands a
second, and a named tuple is built five times faster (a frozen dataclass sets every field through
``object.__setattr__``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
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


class MoveBlock(NamedTuple):
    """Many items of one batch making the same move at once (queued -> running, running -> completed), as
    columns: what a run of ItemMoves says, without a Python object per item or per value.

    The engine dispatches and completes items by the chunk, tens of thousands a second. ``rows`` maps every
    ItemRow field after ``seq`` to one value for all the items or a sequence (list, numpy array) of one value per
    item; timestamps (``started_at``, ``finished_at``, ``occurred_at``) are int64 microseconds since the epoch,
    naive UTC (``NO_TIME``: none). ``rows["state"]`` is one value: the move's target. ``attempt`` and
    ``reason`` (one or per item) belong to each item's ``item_transition`` event.
    """

    batch_run_id: str
    seqs: np.ndarray  # int64
    rows: dict[str, Any]
    from_state: str
    occurred_at: Any  # int micros, or an int64 array of them
    attempt: Any  # int, or one per item
    actor: str
    reason: Any  # str, or one per item

    kind = "item_transition"

    @property
    def size(self) -> int:
        return len(self.seqs)

    @property
    def to_state(self) -> str:
        return self.rows["state"]

    def value(self, name: str, at: int) -> Any:
        """Item ``at``'s value of a row field, ``occurred_at``, ``attempt`` or ``reason`` (timestamps as datetimes)."""
        column = self.rows[name] if name in self.rows else getattr(self, name)
        value = column[at] if isinstance(column, (list, tuple, np.ndarray)) else column
        if isinstance(value, np.generic):
            value = value.item()
        if name in _TIME_FIELDS:
            return None if value is None or value == NO_TIME else EPOCH + timedelta(microseconds=value)
        if isinstance(value, float) and value != value:  # NaN: none
            return None
        return value

    def move(self, at: int) -> ItemMove:
        """Item ``at``'s move as an ItemMove (for the rare paths: a group the store refused, the action feed)."""
        v = self.value
        return ItemMove(self.batch_run_id, int(self.seqs[at]), *(v(name, at) for name in ITEM_ROW_FIELDS[2:]),
                        self.from_state, v("occurred_at", at), v("attempt", at), self.actor, v("reason", at))

    def moves(self) -> list[ItemMove]:
        return [self.move(at) for at in range(self.size)]



def block_tables(blocks: list[MoveBlock]) -> tuple[pa.Table, pa.Table]:
    """The rows after the moves (ITEM_ROW_SCHEMA) and their ``item_transition`` events (EVENT_SCHEMA) of a run of
    move blocks, in order: each column built once for all of them, not per block."""
    sizes = [b.size for b in blocks]
    n = sum(sizes)
    ids = _stack([b.batch_run_id for b in blocks], sizes, pa.string(), n)
    seqs = pa.array(np.concatenate([b.seqs for b in blocks]) if len(blocks) > 1 else blocks[0].seqs, pa.int32())
    rows = [ids, seqs] + [_stack([b.rows[f.name] for b in blocks], sizes, f.type, n) for f in list(ITEM_ROW_SCHEMA)[2:]]
    string = pa.string()
    events = [ids, seqs, _stack([b.occurred_at for b in blocks], sizes, pa.timestamp("us"), n),
              pa.repeat(pa.scalar(MoveBlock.kind), n), _stack([b.from_state for b in blocks], sizes, string, n),
              rows[2], _stack([b.attempt for b in blocks], sizes, pa.int32(), n),
              _stack([b.actor for b in blocks], sizes, string, n), _stack([b.reason for b in blocks], sizes, string, n),
              pa.nulls(n, string)]
    return pa.Table.from_arrays(rows, schema=ITEM_ROW_SCHEMA), pa.Table.from_arrays(events, schema=EVENT_SCHEMA)


EPOCH = datetime(1970, 1, 1)
NO_TIME = np.iinfo(np.int64).min  # a timestamp column's None, in microseconds
_TIME_FIELDS = frozenset(("started_at", "finished_at", "occurred_at"))


_SEQUENCES = (list, tuple, np.ndarray)


def _stack(values: list[Any], sizes: list[int], kind: pa.DataType, n: int) -> pa.Array:
    """One column of several blocks: each block's value for all its items, or its sequence of them."""
    first = values[0]
    if not any(isinstance(v, _SEQUENCES) for v in values) and all(v == first for v in values):
        return _column(first, kind, n)  # one value for every item (None included)
    if pa.types.is_string(kind):
        joined: list[Any] = []
        for value, size in zip(values, sizes):
            joined.extend(value if isinstance(value, _SEQUENCES) else [value] * size)
        return pa.array(joined, kind)
    timestamp, floating = pa.types.is_timestamp(kind), pa.types.is_floating(kind)
    dtype = np.int64 if timestamp else np.float64 if floating else np.int64
    fill = NO_TIME if timestamp else np.nan
    parts = [np.asarray(v, dtype) if isinstance(v, _SEQUENCES) else np.full(size, fill if v is None else v, dtype)
             for v, size in zip(values, sizes)]
    return _column(np.concatenate(parts), kind, n)


def _column(value: Any, kind: pa.DataType, n: int) -> pa.Array:
    """``n`` values of one column: ``value`` for all, or a sequence of one per item."""
    if isinstance(value, np.ndarray):
        if pa.types.is_timestamp(kind):
            return pa.array(value.astype(np.int64, copy=False), pa.int64(), mask=value == NO_TIME).cast(kind)
        if value.dtype.kind == "f":
            return pa.array(value, kind, mask=np.isnan(value))
        return pa.array(value, kind)
    if isinstance(value, (list, tuple)):
        return pa.array(value, kind)
    if value is None:
        return pa.nulls(n, kind)
    if pa.types.is_timestamp(kind):
        return pa.repeat(pa.scalar(value, pa.int64()), n).cast(kind)
    return pa.repeat(pa.scalar(value, kind), n)


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
    """Every item of a batch a dead process left ``running`` (or those of ``seqs``): back to ``queued`` with its lost attempt
    refunded, or ``failed`` once it has crashed the worker ``max_crashes`` times (its crash count grows by one)."""

    batch_run_id: str
    at: datetime
    max_crashes: int
    actor: str
    seqs: tuple[int, ...] | None = None  # only these items (a remote worker died during them); None: all running
    cause: str = "the process died"  # what the reason says happened
    row: ItemMove | None = None  # with seqs: the engine's own account of the item after it (the live status's; the
    # store computes the same from its columns)


class BatchMove(NamedTuple):
    batch_run_id: str
    state: str
    at: datetime
    event: EventRow
    started: bool = False  # set started_at (first start only)
    finished: bool = False  # set finished_at
    queue_rank: int | None = None  # its place in the batch queue (a move into ``queued``); any other move clears it


class BatchUpdate(NamedTuple):
    """An operator's change to a batch that is not a move: its priority, its ``workers`` (in its settings
    snapshot) or its place in the queue; None leaves a value as it is. ``event`` audits it (None: a side
    effect of another batch's change, such as the queue closing up)."""

    batch_run_id: str
    at: datetime
    event: EventRow | None
    priority: int | None = None
    workers: int | None = None
    queue_rank: int | None = None


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
    # field, value (JSON text), unit, confidence, tier, source_url, snippet_id, snippet (the source's words), conflict
    fields: tuple[dict[str, Any], ...]


Change = ItemRow | EventRow | ItemMove | MoveBlock | BulkMove | Interrupted | BatchMove | BatchUpdate | OutcomeRecord
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
    ("source_url", pa.string()), ("snippet_id", pa.string()), ("snippet", pa.string()), ("conflict", pa.bool_()),
])
EVENT_SCHEMA = pa.schema([
    ("batch_run_id", pa.string()), ("seq", pa.int32()), ("occurred_at", pa.timestamp("us")),
    ("kind", pa.string()), ("from_state", pa.string()), ("to_state", pa.string()), ("attempt", pa.int32()),
    ("actor", pa.string()), ("reason", pa.string()), ("data", pa.string()),
])
