"""Every SQL statement of IndexLab, parameterised with ``?``; no value is ever formatted into SQL.

The statements of batch names, tags, the filtered batch list, archive and delete are in ``batch_sql.py``.
"""

from __future__ import annotations

INSERT_BATCH = """INSERT INTO batches (batch_run_id, state, profile, runner, item_count, created_at,
    updated_at, catalog_source, settings, plan, name, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
INSERT_ITEMS_FROM_ARROW = """INSERT INTO batch_items (batch_run_id, seq, product_id, category, brand,
    model, variant, state, attempts, queued_at)
    SELECT ?, seq, product_id, category, brand, model, variant, ?, 0, ? FROM plan_items"""
INSERT_EVENT = """INSERT INTO batch_events (batch_run_id, seq, occurred_at, kind, from_state, to_state,
    attempt, actor, reason, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
BATCH_COLUMNS = """batch_run_id, state, profile, runner, item_count, created_at, updated_at,
    started_at, finished_at, catalog_source, settings, plan, reason, name, coalesce(tags, []) AS tags,
    coalesce(priority, 5) AS priority, queue_rank, archived_at"""
SELECT_BATCH = f"SELECT {BATCH_COLUMNS} FROM batches WHERE batch_run_id = ?"
SELECT_BATCHES = f"SELECT {BATCH_COLUMNS} FROM batches ORDER BY batch_run_id DESC LIMIT ? OFFSET ?"
# The batches in some states, as the engine resumes them: queue order, then priority (higher first), oldest first.
SELECT_BATCHES_IN = f"""SELECT {BATCH_COLUMNS} FROM batches WHERE list_contains(?, state)
    ORDER BY queue_rank NULLS LAST, coalesce(priority, 5) DESC, batch_run_id"""
SELECT_LATEST_BATCH_IN = f"""SELECT {BATCH_COLUMNS} FROM batches
    WHERE list_contains(?, state) ORDER BY batch_run_id DESC LIMIT 1"""
ITEM_COLUMNS = """batch_run_id, seq, product_id, category, brand, model, variant, state, attempts,
    attempt_base, coalesce(crashes, 0) AS crashes, last_error, phase, queued_at, started_at, finished_at, duration_s,
    outcome, gate, coverage, fingerprint"""
# A failed item's reason group: its fingerprint (items that failed before fingerprints existed: their error).
REASON = "coalesce(fingerprint, last_error, '(no message)')"
# Optional filters as "$x IS NULL OR ..." keep one parameterised statement per query (named parameters:
# batch_run_id, state, brand, search, reason, gate).
ITEM_FILTER = f"""batch_run_id = $batch_run_id AND ($state::VARCHAR IS NULL OR state = $state)
    AND ($brand::VARCHAR IS NULL OR lower(brand) = lower($brand))
    AND ($search::VARCHAR IS NULL OR contains(lower(concat_ws(' ', product_id, brand, model, variant)), lower($search)))
    AND ($reason::VARCHAR IS NULL OR (state = 'failed' AND {REASON} = $reason))
    AND ($gate::VARCHAR IS NULL OR gate = $gate)"""
SELECT_ITEMS = f"SELECT {ITEM_COLUMNS} FROM batch_items WHERE {ITEM_FILTER} ORDER BY seq LIMIT $limit OFFSET $offset"
SELECT_ALL_ITEMS = f"SELECT {ITEM_COLUMNS} FROM batch_items WHERE batch_run_id = ? ORDER BY seq"
SELECT_ITEM_TABLE = f"SELECT {ITEM_COLUMNS} FROM batch_items WHERE batch_run_id = ? ORDER BY seq"
COUNT_ITEMS = f"SELECT count(*) FROM batch_items WHERE {ITEM_FILTER}"
COUNT_ITEMS_BY_STATE = "SELECT state, count(*) FROM batch_items WHERE batch_run_id = ? GROUP BY state"
COUNT_ITEMS_BY_BATCH_AND_STATE = """SELECT batch_run_id, state, count(*), count(*) FILTER (WHERE gate = 'needs_review')
    FROM batch_items WHERE list_contains(?, batch_run_id) GROUP BY batch_run_id, state"""
SELECT_FAILURE_GROUPS = f"""SELECT {REASON} AS reason, count(*) AS count, min(finished_at) AS first_seen,
    max(finished_at) AS last_seen, arg_max(last_error, finished_at) AS example_error,
    list(struct_pack(seq := seq, product_id := product_id) ORDER BY seq)[1:5] AS examples
    FROM batch_items WHERE batch_run_id = ? AND state = 'failed'
    GROUP BY reason ORDER BY count DESC, reason LIMIT ?"""
SELECT_MISSING_FIELDS = """SELECT field, count(*) AS products FROM (
        SELECT unnest(CAST(json_extract(outcome, '$.missing') AS VARCHAR[])) AS field FROM batch_items
        WHERE batch_run_id = ? AND state = 'completed' AND gate = 'needs_review')
    GROUP BY field ORDER BY products DESC, field"""
SELECT_ITEM_IDS = f"SELECT seq, product_id FROM batch_items WHERE {ITEM_FILTER} ORDER BY seq"
EVENT_FILTER = "batch_run_id = $batch_run_id AND ($seq::INTEGER IS NULL OR seq = $seq)"
SELECT_EVENTS = f"""SELECT event_id, batch_run_id, seq, occurred_at, kind, from_state, to_state, attempt, actor,
    reason, data FROM batch_events WHERE {EVENT_FILTER} ORDER BY event_id LIMIT $limit OFFSET $offset"""
COUNT_EVENTS = f"SELECT count(*) FROM batch_events WHERE {EVENT_FILTER}"
# Recent durations of products that really ran with a profile: the basis of runtime estimates. An item
# whose outcome found nothing at all (coverage 0: no source, say) took no real run's time and is left out.
SELECT_COMPLETED_DURATIONS = """SELECT i.duration_s FROM batch_items i JOIN batches b USING (batch_run_id)
    WHERE b.profile = ? AND b.runner = ? AND i.state = 'completed' AND i.duration_s IS NOT NULL
    AND (i.coverage IS NULL OR i.coverage > 0) AND i.finished_at >= ?
    ORDER BY i.finished_at DESC LIMIT ?"""

# Engine writes: set-based, so a group of transitions costs a few statements, not one per row.
UPDATE_ITEMS_FROM_ARROW = """UPDATE batch_items SET state = u.state, attempts = u.attempts, attempt_base = u.attempt_base,
    last_error = u.last_error,
    phase = u.phase, started_at = u.started_at, finished_at = u.finished_at, duration_s = u.duration_s,
    outcome = u.outcome, gate = u.gate, coverage = u.coverage, fingerprint = u.fingerprint
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
UPDATE_BATCH_STATE = """UPDATE batches SET state = ?, updated_at = ?, started_at = coalesce(started_at, ?),
    finished_at = CASE WHEN ? THEN ? ELSE finished_at END, reason = ?, queue_rank = ? WHERE batch_run_id = ?"""
# An operator's change of a batch's priority, workers (its settings snapshot) or queue place; NULL keeps the value.
UPDATE_BATCH_FIELDS = """UPDATE batches SET priority = coalesce($priority, priority),
    settings = CASE WHEN $workers::INTEGER IS NULL THEN settings
                    ELSE json_merge_patch(settings, json_object('workers', $workers::INTEGER)) END,
    queue_rank = coalesce($queue_rank, queue_rank), updated_at = $at WHERE batch_run_id = $batch_run_id"""
UPSERT_OUTCOMES_FROM_ARROW = """INSERT OR REPLACE INTO product_outcomes (batch_run_id, seq, product_id, attempt,
    recorded_at, coverage, confidence, conflicts, summary) SELECT batch_run_id, seq, product_id, attempt, recorded_at,
    coverage, confidence, conflicts, summary FROM new_outcomes"""
DELETE_OUTCOME_FIELDS_FROM_ARROW = """DELETE FROM outcome_fields WHERE EXISTS (SELECT 1 FROM new_outcomes n
    WHERE n.batch_run_id = outcome_fields.batch_run_id AND n.seq = outcome_fields.seq)"""
INSERT_OUTCOME_FIELDS_FROM_ARROW = """INSERT INTO outcome_fields (batch_run_id, seq, product_id, field, value, unit,
    confidence, tier, source_url, snippet_id, snippet, conflict) SELECT batch_run_id, seq, product_id, field, value,
    unit, confidence, tier, source_url, snippet_id, snippet, conflict FROM new_fields"""
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
    summary FROM product_outcomes WHERE product_id = ?
    ORDER BY coalesce(batch_run_id = ?, false) DESC, recorded_at DESC, batch_run_id DESC LIMIT 1"""
SELECT_OUTCOME_FIELDS = """SELECT field, value, unit, confidence, tier, source_url, snippet_id, snippet, conflict
    FROM outcome_fields WHERE batch_run_id = ? AND seq = ? ORDER BY field"""
# A batch's status read straight from the store (a batch the engine has not loaded): a few small aggregates.
SELECT_STATUS_COUNTS = """SELECT state, count(*), count(*) FILTER (WHERE gate = 'needs_review')
    FROM batch_items WHERE batch_run_id = ? GROUP BY state"""
SELECT_STATUS_ITEMS = """SELECT seq, product_id, category, brand, model, variant, state, attempts, phase, started_at,
    last_error, finished_at FROM batch_items WHERE batch_run_id = ? AND state = ?
    ORDER BY finished_at DESC NULLS LAST, seq LIMIT ?"""
SELECT_STATUS_EVENTS = """SELECT occurred_at, kind, seq, from_state, to_state, actor, reason FROM batch_events
    WHERE batch_run_id = ? AND seq IS NULL ORDER BY event_id DESC LIMIT ?"""
SELECT_BATCHES_WITH_RUNNING_ITEMS = "SELECT DISTINCT batch_run_id FROM batch_items WHERE state = 'running'"
SELECT_RUNNING_ATTEMPTS = """SELECT batch_run_id, seq, attempts FROM batch_items WHERE state = 'running'
    ORDER BY batch_run_id, seq"""
# Items a dead process left running. Each such death is a crash of the item: below the batch's
# max_crashes it goes back to the queue (the lost attempt does not use up its retry budget), at it
# the item fails. Parameters: max_crashes, then the time, actor, batch_run_id, seqs (NULL: every running item) and
# the cause (what died).
_CRASH = "coalesce(crashes, 0) + 1"
_CRASHED_OUT = f"{_CRASH} >= $max_crashes"
_CHOSEN = "($seqs::BIGINT[] IS NULL OR list_contains($seqs::BIGINT[], seq))"
INSERT_INTERRUPTED_EVENTS = f"""INSERT INTO batch_events (batch_run_id, seq, occurred_at, kind, from_state, to_state,
    attempt, actor, reason) SELECT batch_run_id, seq, $at, 'item_transition', 'running',
    CASE WHEN {_CRASHED_OUT} THEN 'failed' ELSE 'queued' END, attempts, $actor,
    CASE WHEN {_CRASHED_OUT} THEN 'crashed the worker ' || {_CRASH} || ' times: ' || $cause || ' during each of its last '
              || {_CRASH} || ' attempts'
         ELSE 'interrupted: ' || $cause || ' during attempt ' || attempts || ' (crash ' || {_CRASH} || ' of at most '
              || $max_crashes || '; not counted as a failure)' END
    FROM batch_items WHERE batch_run_id = $batch_run_id AND state = 'running' AND {_CHOSEN} ORDER BY seq"""
UPDATE_INTERRUPTED = f"""UPDATE batch_items SET crashes = {_CRASH}, phase = NULL,
    state = CASE WHEN {_CRASHED_OUT} THEN 'failed' ELSE 'queued' END,
    attempt_base = CASE WHEN {_CRASHED_OUT} THEN attempt_base ELSE attempt_base + 1 END,
    last_error = CASE WHEN {_CRASHED_OUT} THEN 'crashed the worker ' || {_CRASH} || ' times' ELSE last_error END,
    fingerprint = CASE WHEN {_CRASHED_OUT} THEN 'crashed the worker <n> times' ELSE fingerprint END,
    finished_at = CASE WHEN {_CRASHED_OUT} THEN $at ELSE finished_at END
    WHERE batch_run_id = $batch_run_id AND state = 'running' AND {_CHOSEN}"""
UPSERT_PROBE = "INSERT OR REPLACE INTO store_probe VALUES (1, ?)"

# Issue 15, the CLI: batches in some states (what `run --resume` could mean), a batch's items for export, and a
# consistent copy of the whole database (a snapshot for analysts: DuckDB locks the live file).
SELECT_NEWEST_BATCHES_IN = f"SELECT {BATCH_COLUMNS} FROM batches WHERE list_contains(?, state) ORDER BY batch_run_id DESC"
# One row per item: the product, how its run went, and the quality its outcome reported (the outcome column holds the
# compact summary: coverage, confidence, conflicts, missing, fields_found).
SELECT_EXPORT_ITEMS = """SELECT seq, product_id, category, brand, model, variant, state, attempts, last_error,
    duration_s, gate, coverage, TRY_CAST(json_extract(outcome, '$.confidence') AS DOUBLE) AS confidence,
    TRY_CAST(json_extract(outcome, '$.conflicts') AS INTEGER) AS conflicts,
    TRY_CAST(json_extract(outcome, '$.fields_found') AS INTEGER) AS fields_found, fingerprint
    FROM batch_items WHERE batch_run_id = ? ORDER BY seq"""
SELECT_DATABASE_NAME = "SELECT current_database()"
ATTACH_SNAPSHOT = "ATTACH ? AS indexlab_snapshot"
DETACH_SNAPSHOT = "DETACH indexlab_snapshot"
# The live database's name is an identifier (not a value): quoted by the store, never taken from a request.
COPY_DATABASE_TO_SNAPSHOT = "COPY FROM DATABASE {database} TO indexlab_snapshot"
# What DuckDB itself holds in memory (buffer cache, indexes...): benchmarks subtract it from the process's RSS.
SELECT_MEMORY_BYTES = "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()"
