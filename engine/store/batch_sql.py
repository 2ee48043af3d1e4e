"""The SQL of batch names, tags, the filtered batch list (History, the API's list, ``indexlab batches``), archive
and delete. Parameterised (named ``$x`` parameters); no value is ever formatted into SQL."""

from __future__ import annotations

from engine.store.sql import BATCH_COLUMNS

# A batch's result, as engine.core.triage.batch_result computes it from its items' counts: only a completed or
# stopped batch has one; succeeded when every item completed and passed its gate, failed when none did.
_RESULT_COUNTS = """SELECT batch_run_id, count(*) AS n_items,
        count(*) FILTER (WHERE state = 'completed') - count(*) FILTER (WHERE gate = 'needs_review') AS n_succeeded
    FROM batch_items WHERE batch_run_id IN (SELECT batch_run_id FROM batches WHERE state IN ('completed', 'stopped'))
    GROUP BY batch_run_id"""
_RESULT = """CASE WHEN state NOT IN ('completed', 'stopped') THEN NULL
    WHEN coalesce(n_items, 0) > 0 AND n_succeeded = n_items THEN 'succeeded'
    WHEN coalesce(n_succeeded, 0) = 0 THEN 'failed' ELSE 'partial' END"""
# Optional filters as "$x IS NULL OR ...": one statement whatever is given. The name matches as text contained
# in the name (any case) or as the whole batch id; the tag as one of the batch's (normalised) tags.
_FILTER = """($state::VARCHAR IS NULL OR state = $state)
    AND ($name::VARCHAR IS NULL OR contains(lower(coalesce(name, '')), lower($name)) OR batch_run_id = $name)
    AND ($tag::VARCHAR IS NULL OR list_contains(coalesce(tags, []), $tag))
    AND ($since::TIMESTAMP IS NULL OR created_at >= $since)
    AND ($until::TIMESTAMP IS NULL OR created_at < $until)
    AND ($archived::BOOLEAN OR archived_at IS NULL)"""
_FROM = "FROM batches"
_FROM_WITH_RESULT = f"FROM batches LEFT JOIN ({_RESULT_COUNTS}) USING (batch_run_id)"
_PAGE = "ORDER BY batch_run_id DESC LIMIT $limit OFFSET $offset"

SELECT_BATCH_PAGE = f"SELECT {BATCH_COLUMNS} {_FROM} WHERE {_FILTER} {_PAGE}"
COUNT_BATCH_PAGE = f"SELECT count(*) {_FROM} WHERE {_FILTER}"
SELECT_BATCH_PAGE_BY_RESULT = f"SELECT {BATCH_COLUMNS} {_FROM_WITH_RESULT} WHERE {_FILTER} AND {_RESULT} = $result {_PAGE}"
COUNT_BATCH_PAGE_BY_RESULT = f"SELECT count(*) {_FROM_WITH_RESULT} WHERE {_FILTER} AND {_RESULT} = $result"

# Seconds each batch spent running: from each move into 'running' to the batch's next move (or $now).
SELECT_RUNNING_SECONDS = """SELECT batch_run_id,
        coalesce(sum(epoch(coalesce(next_at, $now) - occurred_at)) FILTER (WHERE to_state = 'running'), 0)
    FROM (SELECT batch_run_id, occurred_at, to_state,
                 lead(occurred_at) OVER (PARTITION BY batch_run_id ORDER BY event_id) AS next_at
          FROM batch_events WHERE kind = 'batch_transition' AND list_contains($ids, batch_run_id))
    GROUP BY batch_run_id"""

SELECT_BATCH_FOR_UPDATE = "SELECT state, name, tags, archived_at, item_count FROM batches WHERE batch_run_id = ?"
UPDATE_BATCH_NAME = "UPDATE batches SET name = ?, updated_at = ? WHERE batch_run_id = ?"
UPDATE_BATCH_TAGS = "UPDATE batches SET tags = ?, updated_at = ? WHERE batch_run_id = ?"
UPDATE_BATCH_ARCHIVED = "UPDATE batches SET archived_at = ?, updated_at = ? WHERE batch_run_id = ?"
# Delete: everything of the batch, children first; the caller then writes the batch_deleted event that survives.
DELETE_BATCH = (
    "DELETE FROM outcome_fields WHERE batch_run_id = ?",
    "DELETE FROM product_outcomes WHERE batch_run_id = ?",
    "DELETE FROM batch_items WHERE batch_run_id = ?",
    "DELETE FROM batch_events WHERE batch_run_id = ?",
    "DELETE FROM batches WHERE batch_run_id = ?",
)
SELECT_DELETED_BATCHES = """SELECT batch_run_id, occurred_at, actor, reason, data FROM batch_events
    WHERE kind = 'batch_deleted' ORDER BY event_id DESC LIMIT ?"""
