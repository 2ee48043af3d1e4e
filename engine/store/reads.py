"""The Store's reads: batches, items, events, outcomes and the aggregates the faces show (all SQL in sql.py).

Part of Store (engine/store/__init__.py); every read takes its own cursor. Also the timestamp helpers
(stored naive UTC, handed out aware) and ItemFilter, which reads and writes share.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pandas as pd
import pyarrow as pa

from engine.core.errors import NotFound
from engine.store.sql import (
    COUNT_EVENTS,
    COUNT_ITEMS,
    COUNT_ITEMS_BY_BATCH_AND_STATE,
    COUNT_ITEMS_BY_STATE,
    SELECT_ALL_ITEMS,
    SELECT_BATCH,
    SELECT_BATCHES,
    SELECT_BATCHES_IN,
    SELECT_BATCHES_WITH_RUNNING_ITEMS,
    SELECT_COMPLETED_DURATIONS,
    SELECT_EVENTS,
    SELECT_FAILURE_GROUPS,
    SELECT_ITEM_IDS,
    SELECT_ITEM_TABLE,
    SELECT_ITEMS,
    SELECT_LATEST_BATCH_IN,
    SELECT_LATEST_OUTCOME,
    SELECT_MEMORY_BYTES,
    SELECT_MISSING_FIELDS,
    SELECT_OUTCOME_FIELDS,
    SELECT_PRODUCT_RUNS,
    SELECT_RUNNING_ATTEMPTS,
    SELECT_STATUS_COUNTS,
    SELECT_STATUS_EVENTS,
    SELECT_STATUS_ITEMS,
)


def utcnow() -> datetime:
    """Naive UTC now, the form stored in TIMESTAMP columns."""
    return datetime.now(UTC).replace(tzinfo=None)


def as_utc(value: datetime | None) -> datetime | None:
    """A stored naive-UTC timestamp as an aware UTC datetime (what callers and JSON see)."""
    if value is None:
        return None
    if type(value) is not datetime:  # from a DataFrame: a pandas Timestamp, or NaT (the engine's own are datetimes)
        if pd.isna(value):
            return None
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ItemFilter(NamedTuple):
    """Which items of a batch a read takes; None: any."""

    batch_run_id: str
    state: str | None = None
    brand: str | None = None
    search: str | None = None  # in product id, brand, model or variant (case-insensitive)
    reason: str | None = None  # a failed item's reason group (fingerprint)
    gate: str | None = None  # passed | needs_review


class Reads:
    """Reads of a Store (needs its ``_cursor``)."""

    def product_runs(self) -> pd.DataFrame:
        """Each product's latest run: last_status, last_run_at (UTC), last_batch_run_id, coverage, confidence, conflicts."""
        with self._cursor() as cur:
            frame = cur.execute(SELECT_PRODUCT_RUNS).df()
        frame["last_run_at"] = pd.to_datetime(frame["last_run_at"]).dt.tz_localize("UTC")
        return frame

    def latest_outcome(self, product_id: str, prefer_batch: str | None = None) -> dict[str, Any]:
        """The product's latest recorded outcome (in ``prefer_batch`` if it has one) with every field and its evidence."""
        with self._cursor() as cur:
            row = cur.execute(SELECT_LATEST_OUTCOME, [product_id, prefer_batch]).fetchone()
            if row is None:
                raise NotFound(f"no recorded outcome for product {product_id!r}", field="product_id")
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

    def memory_bytes(self) -> int:
        """Bytes DuckDB holds in memory (its buffer cache of pages read, indexes, ...)."""
        with self._cursor() as cur:
            return int(cur.execute(SELECT_MEMORY_BYTES).fetchone()[0])

    def running_attempts(self) -> list[tuple[str, int, int]]:
        """(batch_run_id, seq, attempt) of every item stored as running: what a dead process was doing."""
        with self._cursor() as cur:
            return [tuple(r) for r in cur.execute(SELECT_RUNNING_ATTEMPTS).fetchall()]

    # ------------------------------------------------------------------ reads
    def get_batch(self, batch_run_id: str) -> dict[str, Any]:
        with self._cursor() as cur:
            row = cur.execute(SELECT_BATCH, [batch_run_id]).fetchone()
            names = [d[0] for d in cur.description]
        if row is None:
            raise NotFound(f"no batch {batch_run_id!r}", field="batch_run_id")
        return _batch_row(names, row)

    def list_batches(self, *, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        with self._cursor() as cur:
            rows = cur.execute(SELECT_BATCHES, [limit, offset]).fetchall()
            names = [d[0] for d in cur.description]
        return [_batch_row(names, r) for r in rows]

    def batches_in(self, states: Sequence[str]) -> list[dict[str, Any]]:
        """Every batch in one of ``states``: queue order first, then higher priority, then oldest."""
        with self._cursor() as cur:
            rows = cur.execute(SELECT_BATCHES_IN, [list(states)]).fetchall()
            names = [d[0] for d in cur.description]
        return [_batch_row(names, r) for r in rows]

    def status_parts(self, batch_run_id: str, *, failures: int, events: int) -> dict[str, Any]:
        """What a status shows of a batch, from small aggregates (no row per item): items per state, completed
        ones needing review, the running items, the ``failures`` newest failed ones and the ``events`` newest
        batch-level events (newest first); dict rows, timestamps aware UTC."""
        with self._cursor() as cur:
            counts = cur.execute(SELECT_STATUS_COUNTS, [batch_run_id]).fetchall()
            running = _dicts(cur, SELECT_STATUS_ITEMS, [batch_run_id, "running", 10_000])
            failed = _dicts(cur, SELECT_STATUS_ITEMS, [batch_run_id, "failed", failures])
            feed = _dicts(cur, SELECT_STATUS_EVENTS, [batch_run_id, events])
        for row in (*running, *failed, *feed):
            for key in ("started_at", "finished_at", "occurred_at"):
                if key in row:
                    row[key] = as_utc(row[key])
        return {"counts": {state: n for state, n, _ in counts}, "needs_review": sum(r for _, _, r in counts),
                "running": running, "failed": failed, "events": feed}

    def latest_batch(self, states: Sequence[str] | None = None) -> dict[str, Any] | None:
        """The newest batch, or the newest in one of ``states``."""
        if states is None:
            batches = self.list_batches(limit=1)
            return batches[0] if batches else None
        with self._cursor() as cur:
            row = cur.execute(SELECT_LATEST_BATCH_IN, [list(states)]).fetchone()
            names = [d[0] for d in cur.description]
        return None if row is None else _batch_row(names, row)

    def items(self, batch_run_id: str, *, offset: int = 0, limit: int | None = None, **where: str | None) -> pd.DataFrame:
        """Items of a batch in run order (``seq``), filtered by ``where`` (see ``ItemFilter``)."""
        with self._cursor() as cur:
            frame = cur.execute(SELECT_ITEMS, {**ItemFilter(batch_run_id, **where)._asdict(),
                                               "limit": limit, "offset": offset}).df()
        for column in ("queued_at", "started_at", "finished_at"):
            frame[column] = pd.to_datetime(frame[column]).dt.tz_localize("UTC")
        return frame

    def item_records(self, batch_run_id: str) -> list[dict[str, Any]]:
        """Every item of a batch as plain dicts (None for missing values, naive-UTC datetimes), in seq order."""
        with self._cursor() as cur:
            rows = cur.execute(SELECT_ALL_ITEMS, [batch_run_id]).fetchall()
            names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in rows]

    def item_ids(self, batch_run_id: str, **where: str | None) -> list[tuple[int, str]]:
        """(seq, product_id) of the items ``where`` selects, in seq order."""
        with self._cursor() as cur:
            return [tuple(r) for r in cur.execute(SELECT_ITEM_IDS, ItemFilter(batch_run_id, **where)._asdict()).fetchall()]

    def item_table(self, batch_run_id: str) -> pa.Table:
        """Every item of a batch as one Arrow table in seq order (naive-UTC timestamps).

        One columnar read, with no Python object per row: the engine loads a batch with it while
        the API keeps answering. Empty (not NotFound) for an unknown batch.
        """
        with self._cursor() as cur:
            return cur.sql(SELECT_ITEM_TABLE, params=[batch_run_id]).to_arrow_table()

    def item_batches(self, batch_run_id: str, rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """``item_table`` as record batches of ``rows``, read as they are consumed: a large batch is never whole in
        memory as Arrow (the engine keeps a compact copy of each batch, engine/run/items.py)."""
        with self._cursor() as cur:
            reader = cur.sql(SELECT_ITEM_TABLE, params=[batch_run_id]).to_arrow_reader(rows)
            yield from reader

    def count_items(self, batch_run_id: str, **where: str | None) -> int:
        with self._cursor() as cur:
            return cur.execute(COUNT_ITEMS, ItemFilter(batch_run_id, **where)._asdict()).fetchone()[0]

    def counts_by_state(self, batch_run_id: str) -> dict[str, int]:
        with self._cursor() as cur:
            return dict(cur.execute(COUNT_ITEMS_BY_STATE, [batch_run_id]).fetchall())

    def outcome_counts(self, batch_run_ids: Sequence[str]) -> dict[str, tuple[dict[str, int], int]]:
        """Each batch named: its items per state, and how many completed ones need review (one grouped query)."""
        counts: dict[str, tuple[dict[str, int], int]] = {b: ({}, 0) for b in batch_run_ids}
        with self._cursor() as cur:
            rows = cur.execute(COUNT_ITEMS_BY_BATCH_AND_STATE, [list(batch_run_ids)]).fetchall()
        for batch_run_id, state, n, review in rows:
            by_state, reviews = counts[batch_run_id]
            by_state[state] = n
            counts[batch_run_id] = (by_state, reviews + review)
        return counts

    def failure_groups(self, batch_run_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """The batch's failed items grouped by reason, largest group first: count, first/last seen, examples."""
        with self._cursor() as cur:
            rows = cur.execute(SELECT_FAILURE_GROUPS, [batch_run_id, limit]).fetchall()
            names = [d[0] for d in cur.description]
        groups = [dict(zip(names, r)) for r in rows]
        for group in groups:
            group["first_seen"], group["last_seen"] = as_utc(group["first_seen"]), as_utc(group["last_seen"])
        return groups

    def missing_fields(self, batch_run_id: str) -> list[tuple[str, int]]:
        """The required fields products that need review lack, with how many lack each, most often first."""
        with self._cursor() as cur:
            return [tuple(r) for r in cur.execute(SELECT_MISSING_FIELDS, [batch_run_id]).fetchall()]

    def events(self, batch_run_id: str, *, seq: int | None = None, offset: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """The batch's events in order (only one item's with ``seq``)."""
        with self._cursor() as cur:
            rows = cur.execute(SELECT_EVENTS, {"batch_run_id": batch_run_id, "seq": seq, "limit": limit,
                                               "offset": offset}).fetchall()
            names = [d[0] for d in cur.description]
        events = [dict(zip(names, r)) for r in rows]
        for event in events:
            event["occurred_at"] = as_utc(event["occurred_at"])
            event["data"] = json.loads(event["data"]) if event["data"] else None
        return events

    def count_events(self, batch_run_id: str, *, seq: int | None = None) -> int:
        with self._cursor() as cur:
            return cur.execute(COUNT_EVENTS, {"batch_run_id": batch_run_id, "seq": seq}).fetchone()[0]

    def completed_durations(self, profile: str, runner: str, *, since: datetime, limit: int = 500) -> list[float]:
        """Durations of products that really ran (see SELECT_COMPLETED_DURATIONS) since ``since``, newest first."""
        with self._cursor() as cur:
            return [r[0] for r in cur.execute(SELECT_COMPLETED_DURATIONS, [profile, runner, since, limit]).fetchall()]


def _dicts(cur: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    rows = cur.execute(sql, params).fetchall()
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in rows]


def _batch_row(names: list[str], row: tuple) -> dict[str, Any]:
    batch = dict(zip(names, row))
    for key in ("created_at", "updated_at", "started_at", "finished_at", "archived_at"):
        batch[key] = as_utc(batch[key])
    batch["tags"] = list(batch["tags"] or [])
    batch["settings"] = json.loads(batch["settings"])
    batch["plan"] = json.loads(batch["plan"])
    return batch
