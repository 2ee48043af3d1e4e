"""The database schema as an ordered list of migrations: position is version, each in its own transaction."""

from __future__ import annotations

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
    (  # 3: crashes per item (a product that keeps killing the process is failed), and a row /healthz writes
        "ALTER TABLE batch_items ADD COLUMN crashes INTEGER DEFAULT 0",
        "CREATE TABLE store_probe (id INTEGER PRIMARY KEY, probed_at TIMESTAMP NOT NULL)",
    ),
    (  # 4: honest outcomes: each item's quality gate and coverage, each failure's reason group, and why a
       # batch is in its state (the reason of its last transition)
        "ALTER TABLE batch_items ADD COLUMN gate VARCHAR",
        "ALTER TABLE batch_items ADD COLUMN coverage DOUBLE",
        "ALTER TABLE batch_items ADD COLUMN fingerprint VARCHAR",
        "ALTER TABLE batches ADD COLUMN reason VARCHAR",
    ),
    (  # 5: many batches at once: a human name and free tags, a priority (weight in the shared worker budget),
       # a place in the queue of batches waiting for capacity, and archiving (hidden from History, kept on disk)
        "ALTER TABLE batches ADD COLUMN name VARCHAR",
        "ALTER TABLE batches ADD COLUMN tags VARCHAR[] DEFAULT []",
        "ALTER TABLE batches ADD COLUMN priority INTEGER DEFAULT 5",
        "ALTER TABLE batches ADD COLUMN queue_rank BIGINT",
        "ALTER TABLE batches ADD COLUMN archived_at TIMESTAMP",
    ),
    (  # 6: each dashboard user's builder selection (and brand order), kept across reloads and restarts
        """CREATE TABLE saved_selections (
            user_name VARCHAR NOT NULL,
            catalog_source VARCHAR NOT NULL,
            product_ids VARCHAR[] NOT NULL,
            brand_order VARCHAR[] NOT NULL,
            pinned VARCHAR[] NOT NULL,
            saved_at TIMESTAMP NOT NULL,
            PRIMARY KEY (user_name, catalog_source)
        )""",
    ),
    (  # 7: each field's evidence in the source's own words (the runner's snippet, at most MAX_SNIPPET_CHARS);
       # fields stored before it have none, and the faces fall back to the snippet id
        "ALTER TABLE outcome_fields ADD COLUMN snippet VARCHAR",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)

CREATE_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"""
SELECT_VERSION = "SELECT coalesce(max(version), 0) FROM schema_version"
INSERT_VERSION = "INSERT INTO schema_version VALUES (?, ?)"
