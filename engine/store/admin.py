"""The Store's batch administration: the filtered batch list, names and tags, archive and delete (SQL in
batch_sql.py). Part of Store (engine/store/__init__.py).

Each change reads the batch's row inside its own write transaction, checks it, changes it and writes its audit
event, so a refusal (a batch in the wrong state) changes nothing and no other write slips in between.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

import duckdb

from engine.core.errors import IllegalTransition, NotFound
from engine.store.batch_sql import (
    COUNT_BATCH_PAGE,
    COUNT_BATCH_PAGE_BY_RESULT,
    DELETE_BATCH,
    SELECT_BATCH_FOR_UPDATE,
    SELECT_BATCH_PAGE,
    SELECT_BATCH_PAGE_BY_RESULT,
    SELECT_DELETED_BATCHES,
    SELECT_RUNNING_SECONDS,
    UPDATE_BATCH_ARCHIVED,
    UPDATE_BATCH_NAME,
    UPDATE_BATCH_TAGS,
)
from engine.store.reads import _batch_row, as_utc, utcnow
from engine.store.sql import INSERT_EVENT

_UPDATES = {"name": UPDATE_BATCH_NAME, "tags": UPDATE_BATCH_TAGS, "archived_at": UPDATE_BATCH_ARCHIVED}
Describe = Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]  # the row before -> (reason, data) of the event
Change = Callable[[dict[str, Any], datetime], tuple[Any, str, dict[str, Any]]]  # row, now -> (value, reason, data)


def _naive(when: datetime | None) -> datetime | None:
    """A filter bound as the store compares it: naive UTC (a naive one is taken as UTC already)."""
    if when is None or when.tzinfo is None:
        return when
    return as_utc(when).replace(tzinfo=None)


class BatchAdmin:
    """Batch list filters and operator changes of a Store (needs its ``_cursor`` and ``_transaction``)."""

    def batch_page(self, *, state: str | None = None, result: str | None = None, name: str | None = None,
                   tag: str | None = None, since: datetime | None = None, until: datetime | None = None,
                   archived: bool = False, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Batches newest first that match every filter given, and how many match in all (one page, one count)."""
        where: dict[str, Any] = {"state": state, "name": name, "tag": tag, "since": _naive(since),
                                 "until": _naive(until), "archived": bool(archived)}
        page, count = SELECT_BATCH_PAGE, COUNT_BATCH_PAGE
        if result is not None:
            page, count, where = SELECT_BATCH_PAGE_BY_RESULT, COUNT_BATCH_PAGE_BY_RESULT, {**where, "result": result}
        with self._cursor() as cur:
            rows = cur.execute(page, {**where, "limit": limit, "offset": offset}).fetchall()
            names = [d[0] for d in cur.description]
            total = cur.execute(count, where).fetchone()[0]
        return [_batch_row(names, r) for r in rows], total

    def running_seconds(self, batch_run_ids: Sequence[str]) -> dict[str, float]:
        """Seconds each batch named has spent running (its paused and queued time left out), up to now."""
        seconds = dict.fromkeys(batch_run_ids, 0.0)
        with self._cursor() as cur:
            for batch_run_id, s in cur.execute(SELECT_RUNNING_SECONDS, {"ids": list(batch_run_ids),
                                                                        "now": utcnow()}).fetchall():
                seconds[batch_run_id] = float(s or 0.0)
        return seconds

    def deleted_batches(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """The audit records deleted batches left, newest first: id, when, who, why, and what the batch was."""
        with self._cursor() as cur:
            rows = cur.execute(SELECT_DELETED_BATCHES, [limit]).fetchall()
        return [{"batch_run_id": b, "deleted_at": as_utc(at), "actor": actor, "reason": reason,
                 **(json.loads(data) if data else {})} for b, at, actor, reason, data in rows]

    # ------------------------------------------------------------------ operator changes (audited)
    def change_batch(self, batch_run_id: str, column: str, change: Change, *, actor: str,
                     states: Collection[str] | None = None, refusal: str = "") -> dict[str, Any]:
        """Set ``column`` (name, tags or archived_at) of a batch to what ``change`` makes of its row, with its
        operator_action event, in one transaction; IllegalTransition (nothing written) when ``states`` is given
        and the batch is in another. Returns the row before the change."""
        now = utcnow()
        with self._transaction() as cur:
            before = _locked_row(cur, batch_run_id, states, refusal)
            value, reason, data = change(before, now)
            cur.execute(_UPDATES[column], [value, now, batch_run_id])
            cur.execute(INSERT_EVENT, [batch_run_id, None, now, "operator_action", None, None, None, actor, reason,
                                       json.dumps(data, default=str)])
        return before

    def delete_batch(self, batch_run_id: str, *, actor: str, describe: Describe, states: Collection[str],
                     refusal: str) -> dict[str, Any]:
        """Delete a batch with its items, outcomes, outcome fields and events in ONE transaction, and leave a
        ``batch_deleted`` event (id, name, item count, actor, ...) that survives it; IllegalTransition (nothing
        deleted) when the batch is not in ``states``."""
        now = utcnow()
        with self._transaction() as cur:
            before = _locked_row(cur, batch_run_id, states, refusal)
            reason, data = describe(before)
            for statement in DELETE_BATCH:
                cur.execute(statement, [batch_run_id])
            cur.execute(INSERT_EVENT, [batch_run_id, None, now, "batch_deleted", before["state"], None, None, actor,
                                       reason, json.dumps(data, default=str)])
        return before


def _locked_row(cur: duckdb.DuckDBPyConnection, batch_run_id: str, states: Collection[str] | None,
                refusal: str) -> dict[str, Any]:
    row = cur.execute(SELECT_BATCH_FOR_UPDATE, [batch_run_id]).fetchone()
    if row is None:
        raise NotFound(f"no batch {batch_run_id!r}", field="batch_run_id")
    before = dict(zip(("state", "name", "tags", "archived_at", "item_count"), row))
    before["tags"] = list(before["tags"] or [])
    if states is not None and before["state"] not in states:
        raise IllegalTransition(refusal.format(state=before["state"], batch_run_id=batch_run_id), field="batch_run_id")
    return before
