"""DuckDB persistence: the schema, its migrations, and every SQL statement of IndexLab.

One process owns the database file. This module holds its only read-write connection;
every operation takes its own cursor, and writes are serialised by one lock so a
transition and its event land in one transaction. Timestamps are stored as naive UTC
``TIMESTAMP`` and handed out as timezone-aware UTC datetimes.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from engine.errors import NotFound, SchemaTooNew, StoreError, StoreLocked

# --------------------------------------------------------------------------- schema
# Position in this list is the schema version (1-based). Never edit a released entry:
# append a new one. Each is applied in its own transaction with its version row.
MIGRATIONS: list[tuple[str, ...]] = [
    (  # 1: batches, their items and the audit trail
        """CREATE TABLE batches (
            batch_run_id VARCHAR PRIMARY KEY,
            state VARCHAR NOT NULL,
            profile VARCHAR NOT NULL,
            runner VARCHAR NOT NULL,
            item_count INTEGER NOT NULL,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            started_at TIMESTAMP,
            finished_at TIMESTAMP,
            catalog_source VARCHAR,
            settings JSON NOT NULL,
            plan JSON NOT NULL
        )""",
        """CREATE TABLE batch_items (
            batch_run_id VARCHAR NOT NULL,
            seq INTEGER NOT NULL,
            product_id VARCHAR NOT NULL,
            category VARCHAR NOT NULL,
            brand VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            variant VARCHAR NOT NULL,
            state VARCHAR NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            attempt_base INTEGER NOT NULL DEFAULT 0,
            last_error VARCHAR,
            phase VARCHAR,
            queued_at TIMESTAMP,
            started_at TIMESTAMP,
            finished_at TIMESTAMP,
            duration_s DOUBLE,
            outcome JSON,
            PRIMARY KEY (batch_run_id, seq)
        )""",
        "CREATE SEQUENCE batch_event_ids START 1",
        """CREATE TABLE batch_events (
            event_id BIGINT NOT NULL DEFAULT nextval('batch_event_ids'),
            batch_run_id VARCHAR NOT NULL,
            seq INTEGER,
            occurred_at TIMESTAMP NOT NULL,
            kind VARCHAR NOT NULL,
            from_state VARCHAR,
            to_state VARCHAR,
            attempt INTEGER,
            actor VARCHAR,
            reason VARCHAR,
            data JSON
        )""",
    ),
    (  # 2: per-product outcomes: the quality summary and every field with its evidence
        """CREATE TABLE product_outcomes (
            batch_run_id VARCHAR NOT NULL,
            seq INTEGER NOT NULL,
            product_id VARCHAR NOT NULL,
            attempt INTEGER NOT NULL,
            recorded_at TIMESTAMP NOT NULL,
            coverage DOUBLE,
            confidence DOUBLE,
            conflicts INTEGER,
            summary JSON,
            PRIMARY KEY (batch_run_id, seq)
        )""",
        """CREATE TABLE outcome_fields (
            batch_run_id VARCHAR NOT NULL,
            seq INTEGER NOT NULL,
            product_id VARCHAR NOT NULL,
            field VARCHAR NOT NULL,
            value VARCHAR,
            unit VARCHAR,
            confidence DOUBLE,
            tier VARCHAR,
            source_url VARCHAR,
            snippet_id VARCHAR,
            conflict BOOLEAN NOT NULL DEFAULT FALSE
        )""",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)

CREATE_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"""
SELECT_VERSION = "SELECT coalesce(max(version), 0) FROM schema_version"
INSERT_VERSION = "INSERT INTO schema_version VALUES (?, ?)"

# --------------------------------------------------------------------------- statements
INSERT_BATCH = """INSERT INTO batches (batch_run_id, state, profile, runner, item_count, created_at,
    updated_at, catalog_source, settings, plan) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
INSERT_ITEMS_FROM_ARROW = """INSERT INTO batch_items (batch_run_id, seq, product_id, category, brand,
    model, variant, state, attempts, queued_at)
    SELECT ?, seq, product_id, category, brand, model, variant, ?, 0, ? FROM plan_items"""
INSERT_EVENT = """INSERT INTO batch_events (batch_run_id, seq, occurred_at, kind, from_state, to_state,
    attempt, actor, reason, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
BATCH_COLUMNS = """batch_run_id, state, profile, runner, item_count, created_at, updated_at,
    started_at, finished_at, catalog_source, settings, plan"""
SELECT_BATCH = f"SELECT {BATCH_COLUMNS} FROM batches WHERE batch_run_id = ?"
SELECT_BATCHES = f"SELECT {BATCH_COLUMNS} FROM batches ORDER BY batch_run_id DESC LIMIT ? OFFSET ?"
SELECT_LATEST_BATCH_IN = f"""SELECT {BATCH_COLUMNS} FROM batches
    WHERE list_contains(?, state) ORDER BY batch_run_id DESC LIMIT 1"""
ITEM_COLUMNS = """batch_run_id, seq, product_id, category, brand, model, variant, state, attempts,
    attempt_base, last_error, phase, queued_at, started_at, finished_at, duration_s, outcome"""
# Optional filters as "? IS NULL OR ..." keep one parameterised statement per query.
ITEM_FILTER = """batch_run_id = ? AND (?::VARCHAR IS NULL OR state = ?)
    AND (?::VARCHAR IS NULL OR lower(brand) = lower(?))"""
SELECT_ITEMS = f"SELECT {ITEM_COLUMNS} FROM batch_items WHERE {ITEM_FILTER} ORDER BY seq LIMIT ? OFFSET ?"
COUNT_ITEMS = f"SELECT count(*) FROM batch_items WHERE {ITEM_FILTER}"
COUNT_ITEMS_BY_STATE = "SELECT state, count(*) FROM batch_items WHERE batch_run_id = ? GROUP BY state"
SELECT_EVENTS = """SELECT event_id, batch_run_id, seq, occurred_at, kind, from_state, to_state, attempt, actor,
    reason, data FROM batch_events WHERE batch_run_id = ? ORDER BY event_id LIMIT ? OFFSET ?"""
COUNT_EVENTS = "SELECT count(*) FROM batch_events WHERE batch_run_id = ?"
# Recent durations of completed products run with a profile: the basis of runtime estimates.
SELECT_COMPLETED_DURATIONS = """SELECT i.duration_s FROM batch_items i JOIN batches b USING (batch_run_id)
    WHERE b.profile = ? AND b.runner = ? AND i.state = 'completed' AND i.duration_s IS NOT NULL
    ORDER BY i.finished_at DESC LIMIT ?"""

# Engine writes: set-based, so a group of transitions costs a few statements, not one per row.
UPDATE_ITEMS_FROM_ARROW = """UPDATE batch_items SET state = u.state, attempts = u.attempts, attempt_base = u.attempt_base,
    last_error = u.last_error,
    phase = u.phase, started_at = u.started_at, finished_at = u.finished_at, duration_s = u.duration_s,
    outcome = u.outcome
    FROM item_updates u WHERE batch_items.batch_run_id = u.batch_run_id AND batch_items.seq = u.seq"""
INSERT_EVENTS_FROM_ARROW = """INSERT INTO batch_events (batch_run_id, seq, occurred_at, kind, from_state, to_state,
    attempt, actor, reason, data) SELECT batch_run_id, seq, occurred_at, kind, from_state, to_state, attempt,
    actor, reason, data FROM new_events"""
# A bulk move: one event per moved item, then the move itself, both by one statement each.
BULK_MOVE_FILTER = """batch_run_id = ? AND list_contains(?, state)
    AND (?::INTEGER[] IS NULL OR list_contains(?::INTEGER[], seq))"""
INSERT_BULK_MOVE_EVENTS = f"""INSERT INTO batch_events (batch_run_id, seq, occurred_at, kind, from_state, to_state,
    attempt, actor, reason) SELECT batch_run_id, seq, ?, 'item_transition', state, ?, attempts, ?, ?
    FROM batch_items WHERE {BULK_MOVE_FILTER} ORDER BY seq"""
UPDATE_BULK_MOVE = f"""UPDATE batch_items SET state = ?, phase = NULL,
    attempt_base = CASE WHEN ? THEN attempts WHEN ? THEN attempt_base + 1 ELSE attempt_base END,
    finished_at = CASE WHEN ? IN ('stopped', 'skipped') THEN ? ELSE finished_at END
    WHERE {BULK_MOVE_FILTER}"""
UPDATE_BATCH_STATE = """UPDATE batches SET state = ?, updated_at = ?, started_at = coalesce(?, started_at),
    finished_at = CASE WHEN ? THEN ? ELSE finished_at END WHERE batch_run_id = ?"""
UPSERT_OUTCOMES_FROM_ARROW = """INSERT OR REPLACE INTO product_outcomes (batch_run_id, seq, product_id, attempt,
    recorded_at, coverage, confidence, conflicts, summary) SELECT batch_run_id, seq, product_id, attempt, recorded_at,
    coverage, confidence, conflicts, summary FROM new_outcomes"""
DELETE_OUTCOME_FIELDS_FROM_ARROW = """DELETE FROM outcome_fields WHERE EXISTS (SELECT 1 FROM new_outcomes n
    WHERE n.batch_run_id = outcome_fields.batch_run_id AND n.seq = outcome_fields.seq)"""
INSERT_OUTCOME_FIELDS_FROM_ARROW = """INSERT INTO outcome_fields (batch_run_id, seq, product_id, field, value, unit,
    confidence, tier, source_url, snippet_id, conflict) SELECT batch_run_id, seq, product_id, field, value, unit,
    confidence, tier, source_url, snippet_id, conflict FROM new_fields"""
# Each product's latest run (an item that started), with its quality when it produced an outcome.
SELECT_PRODUCT_RUNS = """SELECT r.product_id, r.state AS last_status, r.last_run_at, r.batch_run_id AS last_batch_run_id,
    o.coverage, o.confidence, o.conflicts
    FROM (SELECT product_id, state, batch_run_id, seq, coalesce(finished_at, started_at) AS last_run_at,
            row_number() OVER (PARTITION BY product_id
                               ORDER BY coalesce(finished_at, started_at) DESC, batch_run_id DESC) AS rn
          FROM batch_items WHERE started_at IS NOT NULL) r
    LEFT JOIN product_outcomes o ON o.batch_run_id = r.batch_run_id AND o.seq = r.seq
    WHERE r.rn = 1"""
SELECT_LATEST_OUTCOME = """SELECT batch_run_id, seq, product_id, attempt, recorded_at, coverage, confidence, conflicts,
    summary FROM product_outcomes WHERE product_id = ? ORDER BY recorded_at DESC, batch_run_id DESC LIMIT 1"""
SELECT_OUTCOME_FIELDS = """SELECT field, value, unit, confidence, tier, source_url, snippet_id, conflict
    FROM outcome_fields WHERE batch_run_id = ? AND seq = ? ORDER BY field"""
SELECT_BATCHES_WITH_RUNNING_ITEMS = "SELECT DISTINCT batch_run_id FROM batch_items WHERE state = 'running'"

_LOCK_PID = re.compile(r"PID (\d+)")


# --------------------------------------------------------------------------- engine changes
@dataclass(frozen=True, slots=True)
class ItemRow:
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


@dataclass(frozen=True, slots=True)
class EventRow:
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


@dataclass(frozen=True, slots=True)
class BulkMove:
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


@dataclass(frozen=True, slots=True)
class BatchMove:
    batch_run_id: str
    state: str
    at: datetime
    event: EventRow
    started: bool = False  # set started_at (first start only)
    finished: bool = False  # set finished_at


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
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


Change = ItemRow | EventRow | BulkMove | BatchMove | OutcomeRecord
_ITEM_ROW_FIELDS = [f.name for f in fields(ItemRow)]
_OUTCOME_FIELDS = [f.name for f in fields(OutcomeRecord) if f.name != "fields"]
_EVENT_FIELDS = [f.name for f in fields(EventRow)]


def utcnow() -> datetime:
    """Naive UTC now, the form stored in TIMESTAMP columns."""
    return datetime.now(UTC).replace(tzinfo=None)


def as_utc(value: datetime | None) -> datetime | None:
    """A stored naive-UTC timestamp as an aware UTC datetime (what callers and JSON see)."""
    if value is None or pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Store:
    """The IndexLab database: open it once per process and share it."""

    def __init__(self, path: str | Path, *, target_version: int = SCHEMA_VERSION) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            raise _open_error(self.path, exc) from None
        except duckdb.Error as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from None
        self._write_lock = threading.RLock()
        try:
            self.version = self._migrate(target_version)
        except BaseException:
            self._con.close()
            raise

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        with self._write_lock:
            self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self._con.cursor()
        try:
            yield cur
        finally:
            cur.close()

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write transaction: all or nothing, one writer at a time."""
        with self._write_lock, self._cursor() as cur:
            cur.begin()
            try:
                yield cur
            except BaseException:
                cur.rollback()
                raise
            cur.commit()

    def _migrate(self, target: int) -> int:
        with self._write_lock, self._cursor() as cur:
            cur.execute(CREATE_VERSION_TABLE)
            current = cur.execute(SELECT_VERSION).fetchone()[0]
        if current > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"database {self.path} has schema version {current}, but this IndexLab knows only up to "
                f"version {SCHEMA_VERSION}: upgrade indexlab, or use another --db"
            )
        for version in range(current + 1, target + 1):
            with self._transaction() as cur:
                for statement in MIGRATIONS[version - 1]:
                    cur.execute(statement)
                cur.execute(INSERT_VERSION, [version, utcnow()])
        return max(current, target)

    # ------------------------------------------------------------------ plans
    def save_plan(self, batch: dict[str, Any], items: pa.Table, *, actor: str, reason: str) -> None:
        """Create a planned batch, its queued items (set-based, one statement) and its event, atomically.

        ``items`` carries seq, product_id, category, brand, model, variant in run order.
        """
        now = utcnow()
        with self._transaction() as cur:
            cur.execute(INSERT_BATCH, [
                batch["batch_run_id"], batch["state"], batch["profile"], batch["runner"],
                batch["item_count"], now, now, batch.get("catalog_source"),
                json.dumps(batch["settings"]), json.dumps(batch["plan"]),
            ])
            _execute_with(cur, "plan_items", items, INSERT_ITEMS_FROM_ARROW, [batch["batch_run_id"], "queued", now])
            cur.execute(INSERT_EVENT, [
                batch["batch_run_id"], None, now, "batch_transition", None, batch["state"], None,
                actor, reason, json.dumps({"items": batch["item_count"]}),
            ])

    # ------------------------------------------------------------------ engine writes
    def commit(self, changes: Sequence[Change]) -> None:
        """Apply engine changes in order, in ONE transaction; runs of rows become set-based statements."""
        with self._transaction() as cur:
            rows: dict[tuple[str, int], ItemRow] = {}
            events: list[EventRow] = []
            outcomes: dict[tuple[str, int], OutcomeRecord] = {}
            for change in changes:
                if isinstance(change, ItemRow):
                    rows[(change.batch_run_id, change.seq)] = change
                elif isinstance(change, EventRow):
                    events.append(change)
                elif isinstance(change, OutcomeRecord):
                    outcomes[(change.batch_run_id, change.seq)] = change
                else:
                    self._flush_rows(cur, rows, events, outcomes)
                    rows, events, outcomes = {}, [], {}
                    if isinstance(change, BulkMove):
                        self._bulk_move(cur, change)
                    else:
                        self._batch_move(cur, change)
            self._flush_rows(cur, rows, events, outcomes)

    @staticmethod
    def _flush_rows(cur: duckdb.DuckDBPyConnection, rows: dict[tuple[str, int], ItemRow], events: list[EventRow],
                    outcomes: dict[tuple[str, int], OutcomeRecord]) -> None:
        if rows:
            table = pa.table({name: [getattr(r, name) for r in rows.values()] for name in _ITEM_ROW_FIELDS},
                             schema=_ITEM_ROW_SCHEMA)
            _execute_with(cur, "item_updates", table, UPDATE_ITEMS_FROM_ARROW)
        if events:
            table = pa.table({name: [getattr(e, name) for e in events] for name in _EVENT_FIELDS},
                             schema=_EVENT_SCHEMA)
            _execute_with(cur, "new_events", table, INSERT_EVENTS_FROM_ARROW)
        if outcomes:
            records = list(outcomes.values())
            table = pa.table({name: [getattr(o, name) for o in records] for name in _OUTCOME_FIELDS},
                             schema=_OUTCOME_SCHEMA)
            fields = [{"batch_run_id": o.batch_run_id, "seq": o.seq, "product_id": o.product_id, **f}
                      for o in records for f in o.fields]
            cur.register("new_outcomes", table)
            try:
                cur.execute(UPSERT_OUTCOMES_FROM_ARROW)
                cur.execute(DELETE_OUTCOME_FIELDS_FROM_ARROW)
                if fields:
                    _execute_with(cur, "new_fields", pa.Table.from_pylist(fields, schema=_FIELD_SCHEMA),
                                  INSERT_OUTCOME_FIELDS_FROM_ARROW)
            finally:
                cur.unregister("new_outcomes")

    @staticmethod
    def _bulk_move(cur: duckdb.DuckDBPyConnection, move: BulkMove) -> None:
        seqs = list(move.seqs) if move.seqs is not None else None
        where = [move.batch_run_id, list(move.from_states), seqs, seqs]
        cur.execute(INSERT_BULK_MOVE_EVENTS, [move.at, move.to_state, move.actor, move.reason, *where])
        cur.execute(UPDATE_BULK_MOVE, [move.to_state, move.new_budget, move.interrupted, move.to_state, move.at, *where])

    @staticmethod
    def _batch_move(cur: duckdb.DuckDBPyConnection, move: BatchMove) -> None:
        cur.execute(UPDATE_BATCH_STATE, [move.state, move.at, move.at if move.started else None,
                                         move.finished, move.at, move.batch_run_id])
        e = move.event
        cur.execute(INSERT_EVENT, [e.batch_run_id, e.seq, e.occurred_at, e.kind, e.from_state, e.to_state,
                                   e.attempt, e.actor, e.reason, e.data])

    def product_runs(self) -> pd.DataFrame:
        """Each product's latest run: last_status, last_run_at (UTC), last_batch_run_id, coverage, confidence, conflicts."""
        with self._cursor() as cur:
            frame = cur.execute(SELECT_PRODUCT_RUNS).df()
        frame["last_run_at"] = pd.to_datetime(frame["last_run_at"]).dt.tz_localize("UTC")
        return frame

    def latest_outcome(self, product_id: str) -> dict[str, Any]:
        """The product's latest recorded outcome with every field and its evidence."""
        with self._cursor() as cur:
            row = cur.execute(SELECT_LATEST_OUTCOME, [product_id]).fetchone()
            if row is None:
                raise NotFound(f"no recorded outcome for product {product_id!r} in {self.path}", field="product_id")
            names = [d[0] for d in cur.description]
            outcome = dict(zip(names, row))
            fields = cur.execute(SELECT_OUTCOME_FIELDS, [outcome["batch_run_id"], outcome["seq"]]).fetchall()
            field_names = [d[0] for d in cur.description]
        outcome["recorded_at"] = as_utc(outcome["recorded_at"])
        outcome["summary"] = json.loads(outcome["summary"]) if outcome["summary"] else {}
        outcome["fields"] = [dict(zip(field_names, f)) for f in fields]
        for field in outcome["fields"]:
            field["value"] = json.loads(field["value"]) if field["value"] is not None else None
        return outcome

    def batches_with_running_items(self) -> list[str]:
        with self._cursor() as cur:
            return [r[0] for r in cur.execute(SELECT_BATCHES_WITH_RUNNING_ITEMS).fetchall()]

    # ------------------------------------------------------------------ reads
    def get_batch(self, batch_run_id: str) -> dict[str, Any]:
        with self._cursor() as cur:
            row = cur.execute(SELECT_BATCH, [batch_run_id]).fetchone()
            names = [d[0] for d in cur.description]
        if row is None:
            raise NotFound(f"no batch {batch_run_id!r} in {self.path}", field="batch_run_id")
        return _batch_row(names, row)

    def list_batches(self, *, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        with self._cursor() as cur:
            rows = cur.execute(SELECT_BATCHES, [limit, offset]).fetchall()
            names = [d[0] for d in cur.description]
        return [_batch_row(names, r) for r in rows]

    def latest_batch(self, states: Sequence[str] | None = None) -> dict[str, Any] | None:
        """The newest batch, or the newest in one of ``states``."""
        if states is None:
            batches = self.list_batches(limit=1)
            return batches[0] if batches else None
        with self._cursor() as cur:
            row = cur.execute(SELECT_LATEST_BATCH_IN, [list(states)]).fetchone()
            names = [d[0] for d in cur.description]
        return None if row is None else _batch_row(names, row)

    def items(self, batch_run_id: str, *, state: str | None = None, brand: str | None = None,
              offset: int = 0, limit: int | None = None) -> pd.DataFrame:
        """Items of a batch in run order (``seq``), optionally filtered by state and brand."""
        params = [batch_run_id, state, state, brand, brand, limit, offset]
        with self._cursor() as cur:
            frame = cur.execute(SELECT_ITEMS, params).df()
        for column in ("queued_at", "started_at", "finished_at"):
            frame[column] = pd.to_datetime(frame[column]).dt.tz_localize("UTC")
        return frame

    def item_records(self, batch_run_id: str) -> list[dict[str, Any]]:
        """Every item of a batch as plain dicts (None for missing values, naive-UTC datetimes), in seq order."""
        with self._cursor() as cur:
            rows = cur.execute(SELECT_ITEMS, [batch_run_id, None, None, None, None, None, 0]).fetchall()
            names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in rows]

    def count_items(self, batch_run_id: str, *, state: str | None = None, brand: str | None = None) -> int:
        with self._cursor() as cur:
            return cur.execute(COUNT_ITEMS, [batch_run_id, state, state, brand, brand]).fetchone()[0]

    def counts_by_state(self, batch_run_id: str) -> dict[str, int]:
        with self._cursor() as cur:
            return dict(cur.execute(COUNT_ITEMS_BY_STATE, [batch_run_id]).fetchall())

    def events(self, batch_run_id: str, *, offset: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        with self._cursor() as cur:
            rows = cur.execute(SELECT_EVENTS, [batch_run_id, limit, offset]).fetchall()
            names = [d[0] for d in cur.description]
        events = [dict(zip(names, r)) for r in rows]
        for event in events:
            event["occurred_at"] = as_utc(event["occurred_at"])
            event["data"] = json.loads(event["data"]) if event["data"] else None
        return events

    def count_events(self, batch_run_id: str) -> int:
        with self._cursor() as cur:
            return cur.execute(COUNT_EVENTS, [batch_run_id]).fetchone()[0]

    def completed_durations(self, profile: str, runner: str, *, limit: int = 500) -> list[float]:
        with self._cursor() as cur:
            return [r[0] for r in cur.execute(SELECT_COMPLETED_DURATIONS, [profile, runner, limit]).fetchall()]


_ITEM_ROW_SCHEMA = pa.schema([
    ("batch_run_id", pa.string()), ("seq", pa.int32()), ("state", pa.string()), ("attempts", pa.int32()),
    ("attempt_base", pa.int32()), ("last_error", pa.string()), ("phase", pa.string()), ("started_at", pa.timestamp("us")),
    ("finished_at", pa.timestamp("us")), ("duration_s", pa.float64()), ("outcome", pa.string()),
])
_OUTCOME_SCHEMA = pa.schema([
    ("batch_run_id", pa.string()), ("seq", pa.int32()), ("product_id", pa.string()), ("attempt", pa.int32()),
    ("recorded_at", pa.timestamp("us")), ("coverage", pa.float64()), ("confidence", pa.float64()),
    ("conflicts", pa.int32()), ("summary", pa.string()),
])
_FIELD_SCHEMA = pa.schema([
    ("batch_run_id", pa.string()), ("seq", pa.int32()), ("product_id", pa.string()), ("field", pa.string()),
    ("value", pa.string()), ("unit", pa.string()), ("confidence", pa.float64()), ("tier", pa.string()),
    ("source_url", pa.string()), ("snippet_id", pa.string()), ("conflict", pa.bool_()),
])
_EVENT_SCHEMA = pa.schema([
    ("batch_run_id", pa.string()), ("seq", pa.int32()), ("occurred_at", pa.timestamp("us")),
    ("kind", pa.string()), ("from_state", pa.string()), ("to_state", pa.string()), ("attempt", pa.int32()),
    ("actor", pa.string()), ("reason", pa.string()), ("data", pa.string()),
])


def _execute_with(cur: duckdb.DuckDBPyConnection, name: str, table: pa.Table, sql: str, params: list | None = None) -> None:
    """Run one set-based statement that reads ``table`` under ``name``."""
    cur.register(name, table)
    try:
        cur.execute(sql, params or [])
    finally:
        cur.unregister(name)


def _batch_row(names: list[str], row: tuple) -> dict[str, Any]:
    batch = dict(zip(names, row))
    for key in ("created_at", "updated_at", "started_at", "finished_at"):
        batch[key] = as_utc(batch[key])
    batch["settings"] = json.loads(batch["settings"])
    batch["plan"] = json.loads(batch["plan"])
    return batch


def _open_error(path: Path, exc: duckdb.IOException) -> StoreError:
    text = str(exc)
    if "lock" in text.lower():
        match = _LOCK_PID.search(text)
        pid = int(match.group(1)) if match else None
        holder = f"process {pid}" if pid else "another process"
        return StoreLocked(
            f"database {path} is in use by {holder}: one IndexLab process owns a database at a time. "
            f"Stop that process, talk to it through its API (indexlab batch ... --url), or use another --db.",
            pid=pid,
        )
    return StoreError(f"cannot open database {path}: {text}")
