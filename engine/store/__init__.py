"""DuckDB persistence: the Store, over the schema (schema.py), the statements (sql.py) and the changes it writes (changes.py);
its batch list filters, names, tags, archive and delete are in admin.py (statements in batch_sql.py).

One process owns the database file. This module holds its only read-write connection;
every operation takes its own cursor, and writes are serialised by one lock so a
transition and its event land in one transaction. Timestamps are stored as naive UTC
``TIMESTAMP`` and handed out as timezone-aware UTC datetimes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.core.errors import IndexLabError, SchemaTooNew, StoreError, StoreLocked, StoreRejected, StoreUnavailable
from engine.store.admin import BatchAdmin
from engine.store.changes import (
    EVENT_SCHEMA,
    FIELD_SCHEMA,
    ITEM_ROW_FIELDS,
    ITEM_ROW_SCHEMA,
    OUTCOME_FIELDS,
    OUTCOME_SCHEMA,
    BatchMove,
    BatchUpdate,
    BulkMove,
    Change,
    EventRow,
    Interrupted,
    ItemMove,
    ItemRow,
    MoveBlock,
    OutcomeRecord,
    block_tables,
)
from engine.store.exports import Exports
from engine.store.reads import ItemFilter, Reads, as_utc, utcnow  # noqa: F401  (ItemFilter, as_utc: re-exported)
from engine.store.schema import CREATE_VERSION_TABLE, INSERT_VERSION, MIGRATIONS, SCHEMA_VERSION, SELECT_VERSION
from engine.store.selections import SavedSelections
from engine.store.sql import (
    DELETE_OUTCOME_FIELDS_FROM_ARROW,
    INSERT_BATCH,
    INSERT_BULK_MOVE_EVENTS,
    INSERT_EVENT,
    INSERT_EVENTS_FROM_ARROW,
    INSERT_INTERRUPTED_EVENTS,
    INSERT_ITEMS_FROM_ARROW,
    INSERT_OUTCOME_FIELDS_FROM_ARROW,
    UPDATE_BATCH_FIELDS,
    UPDATE_BATCH_STATE,
    UPDATE_BULK_MOVE,
    UPDATE_INTERRUPTED,
    UPDATE_ITEMS_FROM_ARROW,
    UPSERT_OUTCOMES_FROM_ARROW,
    UPSERT_PROBE,
)

log = logging.getLogger("indexlab.store")
_LOCK_PID = re.compile(r"PID (\d+)")
_QUOTED_PATH = re.compile(r'"(/[^"]*)"')
# Errors that say the database cannot be written now, whatever is written: disk full, read-only
# directory, I/O failure. Anything else a write raises means the data itself was refused.
_CANNOT_WRITE = (duckdb.IOException, duckdb.FatalException, duckdb.OutOfMemoryException,
                 duckdb.InterruptException, OSError, MemoryError)


class Store(Reads, BatchAdmin, Exports, SavedSelections):
    """The IndexLab database: open it once per process and share it."""

    def __init__(self, path: str | Path, *, target_version: int = SCHEMA_VERSION) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(self.path), config=_duckdb_config())
        except duckdb.IOException as exc:
            raise _open_error(self.path, exc) from None
        except duckdb.Error as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from None
        self._write_lock = threading.RLock()
        self._broken = False  # DuckDB invalidated the connection (a fatal error): reopen before the next use
        self._closed = False  # closed for good: every later read or write is one clear StoreError
        try:
            self.version = self._migrate(target_version)
        except BaseException:
            self._con.close()
            raise

    # ------------------------------------------------------------------ plumbing
    def close(self, timeout: float = 5.0) -> None:
        """Close the database; a read still running on another thread's cursor (a status poll) is let finish.
        Idempotent. A read or write that comes later (a page's read, as a server shuts down) raises StoreError."""
        deadline = time.monotonic() + timeout
        with self._write_lock:
            self._closed = True
            while True:
                try:
                    self._con.close()
                    return
                except duckdb.Error as exc:  # "connection is busy with another call"
                    if "busy" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self._connection().cursor()
        try:
            yield cur
        except duckdb.Error as exc:
            if self._closed:
                raise _closed_error() from exc
            if _fatal(exc):
                self._broken = True
                raise StoreUnavailable(f"the database failed: {_cause(exc)}") from exc
            raise
        finally:
            cur.close()

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write transaction: all or nothing, one writer at a time.

        Raises StoreUnavailable when the database cannot be written now (nothing was written; the
        connection stays usable, or is reopened on next use), StoreRejected when it refused the data.
        """
        with self._write_lock:
            cur = self._connection().cursor()
            try:
                cur.begin()
                yield cur
                self._commit(cur)
            except BaseException as exc:
                _rollback(cur)
                raise self._write_error(exc) from exc
            finally:
                cur.close()

    def _commit(self, cur: duckdb.DuckDBPyConnection) -> None:
        """COMMIT. When DuckDB commits durably but then fails its automatic checkpoint (it cannot remove its
        WAL, say), it invalidates the database: the write happened, so it is not an error here (a retry would
        write it twice), but the connection is reopened before the next use."""
        try:
            cur.commit()
        except duckdb.FatalException as exc:
            if "succeeded and is durable" not in str(exc):
                raise
            self._broken = True
            log.warning("database %s: a commit succeeded but its checkpoint failed (%s); reopening it", self.path.name,
                        _cause(exc))

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._closed:
            raise _closed_error()
        if self._broken:
            with self._write_lock:
                if self._broken:
                    try:
                        self._con.close()
                    except duckdb.Error:
                        pass
                    try:
                        self._con = duckdb.connect(str(self.path), config=_duckdb_config())
                    except duckdb.Error as exc:
                        raise StoreUnavailable(f"the database cannot be opened again: {_cause(exc)}") from None
                    self._broken = False
        return self._con

    def _write_error(self, exc: BaseException) -> BaseException:
        if isinstance(exc, (IndexLabError, KeyboardInterrupt, SystemExit)):
            return exc
        if self._closed:
            return _closed_error()
        if isinstance(exc, _CANNOT_WRITE) or _fatal(exc) or (
                isinstance(exc, duckdb.TransactionException) and "commit" in str(exc).lower()):
            self._broken = self._broken or _fatal(exc)
            return StoreUnavailable(f"the database cannot be written: {_cause(exc)}")
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return StoreRejected(f"the database refused the data: {first[:300]}")

    def probe(self) -> str | None:
        """Can the database be written now? None if so, else why not (a one-row write, for /healthz)."""
        try:
            with self._transaction() as cur:
                cur.execute(UPSERT_PROBE, [utcnow()])
        except StoreError as exc:
            return exc.message
        return None

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
                json.dumps(batch["settings"]), json.dumps(batch["plan"]), batch.get("name"), list(batch.get("tags") or []),
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
            rows = _Rows()
            for change in changes:
                kind = type(change)
                if kind is ItemMove:
                    rows.move(change)
                elif kind is MoveBlock:
                    rows.block(change)
                elif kind is ItemRow:
                    rows.row(change)
                elif kind is EventRow:
                    rows.event(change)
                elif kind is OutcomeRecord:
                    rows.outcomes[(change.batch_run_id, change.seq)] = change
                else:
                    rows.flush(cur)
                    if kind is BulkMove:
                        self._bulk_move(cur, change)
                    elif kind is BatchUpdate:
                        self._batch_update(cur, change)
                    elif kind is Interrupted:
                        params = {"at": change.at, "max_crashes": change.max_crashes, "batch_run_id": change.batch_run_id,
                                  "seqs": list(change.seqs) if change.seqs is not None else None}
                        cur.execute(INSERT_INTERRUPTED_EVENTS, {**params, "actor": change.actor, "cause": change.cause})
                        cur.execute(UPDATE_INTERRUPTED, params)
                    else:
                        self._batch_move(cur, change)
            rows.flush(cur)

    @staticmethod
    def _bulk_move(cur: duckdb.DuckDBPyConnection, move: BulkMove) -> None:
        seqs = list(move.seqs) if move.seqs is not None else None
        where = [move.batch_run_id, list(move.from_states), seqs, seqs]
        cur.execute(INSERT_BULK_MOVE_EVENTS, [move.at, move.to_state, move.actor, move.reason, *where])
        cur.execute(UPDATE_BULK_MOVE, [move.to_state, move.new_budget, move.interrupted, move.to_state, move.at, *where])

    @staticmethod
    def _batch_move(cur: duckdb.DuckDBPyConnection, move: BatchMove) -> None:
        cur.execute(UPDATE_BATCH_STATE, [move.state, move.at, move.at if move.started else None,
                                         move.finished, move.at, move.event.reason, move.queue_rank, move.batch_run_id])
        _insert_event(cur, move.event)

    @staticmethod
    def _batch_update(cur: duckdb.DuckDBPyConnection, update: BatchUpdate) -> None:
        cur.execute(UPDATE_BATCH_FIELDS, {"priority": update.priority, "workers": update.workers,
                                          "queue_rank": update.queue_rank, "at": update.at,
                                          "batch_run_id": update.batch_run_id})
        if update.event is not None:
            _insert_event(cur, update.event)


def _move_event(m: ItemMove) -> tuple:
    """An ItemMove's event as an EventRow's values, in EVENT_FIELDS order."""
    return (m.batch_run_id, m.seq, m.occurred_at, m.kind, m.from_state, m.state, m.attempt, m.actor, m.reason, None)


class _Rows:
    """A run of row changes (item rows, item moves, move blocks, events, outcomes) in commit order, written by
    one statement per table: item rows (the last change of an item wins), events (in order), outcomes."""

    def __init__(self) -> None:
        self.rows: list[pa.Table] = []  # segments, in order
        self.events: list[pa.Table] = []
        self.outcomes: dict[tuple[str, int], OutcomeRecord] = {}
        self._row_tuples: list[tuple] = []  # the segment being gathered: ItemRow / ItemMove values
        self._event_tuples: list[tuple] = []
        self._blocks: list[MoveBlock] = []  # or: move blocks

    def move(self, m: ItemMove) -> None:
        self._close_blocks()
        self._row_tuples.append(m)  # it reads as its row (the ItemRow fields lead)
        self._event_tuples.append(_move_event(m))  # and as its event

    def row(self, r: ItemRow) -> None:
        self._close_blocks()
        self._row_tuples.append(r)

    def event(self, e: EventRow) -> None:
        self._close_blocks()
        self._event_tuples.append(e)

    def block(self, b: MoveBlock) -> None:
        if b.size:
            self._close_tuples()
            self._blocks.append(b)

    def _close_blocks(self) -> None:
        if self._blocks:
            rows, events = block_tables(self._blocks)
            self.rows.append(rows)
            self.events.append(events)
            self._blocks = []

    def _close_segments(self) -> None:
        self._close_blocks()
        self._close_tuples()

    def _close_tuples(self) -> None:
        if self._row_tuples:  # columns by one transposition, not a getattr per cell
            columns = list(zip(*self._row_tuples))[:len(ITEM_ROW_FIELDS)]
            self.rows.append(pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, ITEM_ROW_SCHEMA)],
                                                  schema=ITEM_ROW_SCHEMA))
            self._row_tuples = []
        if self._event_tuples:
            columns = list(zip(*self._event_tuples))
            self.events.append(pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, EVENT_SCHEMA)],
                                                    schema=EVENT_SCHEMA))
            self._event_tuples = []

    def flush(self, cur: duckdb.DuckDBPyConnection) -> None:
        self._close_segments()
        if self.rows:
            _execute_with(cur, "item_updates", _last_per_item(self.rows), UPDATE_ITEMS_FROM_ARROW)
            self.rows = []
        if self.events:
            table = self.events[0] if len(self.events) == 1 else pa.concat_tables(self.events)
            _execute_with(cur, "new_events", table, INSERT_EVENTS_FROM_ARROW)
            self.events = []
        if self.outcomes:
            _write_outcomes(cur, list(self.outcomes.values()))
            self.outcomes = {}


def _last_per_item(segments: list[pa.Table]) -> pa.Table:
    """The rows of ``segments`` (in change order), only the last of each (batch_run_id, seq): an UPDATE must not
    see one item twice (its dispatch and its end are often in the same commit)."""
    table = segments[0] if len(segments) == 1 else pa.concat_tables(segments)
    seqs = table.column("seq").to_numpy().astype(np.int64)
    ids = pc.dictionary_encode(table.column("batch_run_id")).combine_chunks().indices.to_numpy().astype(np.int64)
    keys = (ids << 32) | seqs
    _, first_from_end = np.unique(keys[::-1], return_index=True)
    if len(first_from_end) == len(keys):
        return table
    return table.take(np.sort(len(keys) - 1 - first_from_end))


def _write_outcomes(cur: duckdb.DuckDBPyConnection, records: list[OutcomeRecord]) -> None:
    table = pa.table({name: [getattr(o, name) for o in records] for name in OUTCOME_FIELDS}, schema=OUTCOME_SCHEMA)
    fields = [{"batch_run_id": o.batch_run_id, "seq": o.seq, "product_id": o.product_id, **f}
              for o in records for f in o.fields]
    with _registered(cur, "new_outcomes", table):
        cur.execute(UPSERT_OUTCOMES_FROM_ARROW)
        cur.execute(DELETE_OUTCOME_FIELDS_FROM_ARROW)
        if fields:
            _execute_with(cur, "new_fields", pa.Table.from_pylist(fields, schema=FIELD_SCHEMA),
                          INSERT_OUTCOME_FIELDS_FROM_ARROW)


def _insert_event(cur: duckdb.DuckDBPyConnection, e: EventRow) -> None:
    cur.execute(INSERT_EVENT, [e.batch_run_id, e.seq, e.occurred_at, e.kind, e.from_state, e.to_state,
                               e.attempt, e.actor, e.reason, e.data])


def _execute_with(cur: duckdb.DuckDBPyConnection, name: str, table: pa.Table, sql: str, params: list | None = None) -> None:
    """Run one set-based statement that reads ``table`` under ``name``."""
    with _registered(cur, name, table):
        cur.execute(sql, params or [])


@contextmanager
def _registered(cur: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    """``table`` readable as ``name`` for the block. When the block fails, DuckDB has aborted the transaction and
    refuses the unregister too: that refusal is dropped, so the error raised (and shown) is the block's own."""
    cur.register(name, table)
    try:
        yield
    except BaseException:
        try:
            cur.unregister(name)
        except duckdb.Error:
            pass
        raise
    cur.unregister(name)


def _duckdb_config() -> dict[str, str]:
    """DuckDB's settings. Its allocator (jemalloc) gives freed memory back from background threads: without
    them, the pages a 100k-item plan or force stop freed stayed with the process (a server grew 10-20 MB per
    such batch, bench/soak.py). An operator may tune ``INDEXLAB_CHECKPOINT_THRESHOLD``, DuckDB's
    ``checkpoint_threshold`` (WAL size that triggers a checkpoint; DuckDB's default is 16MB)."""
    config = {"allocator_background_threads": "true"}
    threshold = os.environ.get("INDEXLAB_CHECKPOINT_THRESHOLD")
    return {**config, "checkpoint_threshold": threshold} if threshold else config


def _closed_error() -> StoreError:
    return StoreError("the database is closed (this process is shutting down); nothing was read or written")


def _fatal(exc: BaseException) -> bool:
    """DuckDB invalidates a database after a fatal error: every later statement fails until it is reopened."""
    return isinstance(exc, duckdb.FatalException) or "invalidated" in str(exc)


def _cause(exc: BaseException) -> str:
    """The reason in a database error, without the server's file paths (the API shows it to clients)."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    files = [Path(p).name for p in _QUOTED_PATH.findall(text)]
    reason = _QUOTED_PATH.sub(lambda m: Path(m.group(1)).name, text).rsplit(": ", 1)[-1]
    return f"{reason} ({', '.join(files)})" if files and not any(f in reason for f in files) else reason


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    """Roll back if a transaction is still open (a failed COMMIT has already ended it)."""
    try:
        cur.rollback()
    except duckdb.Error:
        pass


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
