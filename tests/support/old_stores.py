"""Databases as older versions of IndexLab left them, for the tests of migrating them."""

from __future__ import annotations

from pathlib import Path

from engine.store import Store

V6_OUTCOME = """INSERT INTO product_outcomes (batch_run_id, seq, product_id, attempt, recorded_at, coverage,
    confidence, conflicts, summary) VALUES ('b-old', 1, 'p-old', 1, now(), 1.0, 0.9, 0, '{}')"""
V6_FIELD = """INSERT INTO outcome_fields (batch_run_id, seq, product_id, field, value, unit, confidence, tier,
    source_url, snippet_id, conflict) VALUES ('b-old', 1, 'p-old', 'weight', '58', 'g', 0.9, 'manufacturer',
    'https://example.com/old', 'abc123', false)"""


def v6_database_with_an_outcome(path: Path) -> Path:
    """A schema-6 database (before snippets were kept) holding product p-old's outcome from batch b-old: one
    field, weight 58 g, from https://example.com/old, snippet id abc123."""
    with Store(path, target_version=6) as old:
        assert old.version == 6
        with old._transaction() as cur:  # written as version 6 wrote it: no snippet column
            cur.execute(V6_OUTCOME)
            cur.execute(V6_FIELD)
    return path
