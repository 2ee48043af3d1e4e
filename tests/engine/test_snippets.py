"""Issue #17: each outcome field keeps its evidence in the source's own words (the runner's ``snippet``).

Hostile snippets (lone surrogates, NUL, 100k characters, markup, bidi controls, not text at all) are stored as
text, repaired or cut visibly, and never fail the batch; a database from before the column keeps its outcomes.
Each engine test runs a real threaded engine (group-commit writer) on a real DuckDB file.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.core.errors import StoreRejected
from engine.run.active import MAX_SNIPPET_CHARS
from engine.run.engine import BatchEngine
from engine.runners import register
from engine.store import ItemMove, OutcomeRecord, Store, utcnow
from tests.support.old_stores import v6_database_with_an_outcome
from tests.support.polling import wait_until

SCRIPT_TAG = "<script>alert(1)</script> <b>58 g</b>"
BIDI = "Weight: \u202e85 g\u202c \u2066isolated\u2069"
HUGE = "Weight: 58 g. " + "x" * 100_000

SNIPPETS: dict[str, Any] = {
    "p0000": SCRIPT_TAG,
    "p0001": BIDI,
    "p0002": "caf\udce9 weighs \ud800 58 g",  # lone surrogates: what surrogateescape and a cut UTF-16 pair make
    "p0003": "Weight:\x00 58 g\x1b[2J",  # NUL and an ANSI escape
    "p0004": HUGE,
    "p0005": 58,  # not text: kept as its text, like the other evidence columns
    "p0006": "",  # empty: no snippet
}


def _field(pid: str) -> dict[str, Any]:
    field = {"field": "weight", "value": 58, "unit": "g", "confidence": 0.9, "tier": "manufacturer",
             "source_url": f"https://example.com/{pid}", "snippet_id": f"s-{pid}", "conflict": False}
    if pid in SNIPPETS:
        field["snippet"] = SNIPPETS[pid]
    return field


@register("snippets")
def snippet_runner(product: dict[str, Any], settings, ctx) -> dict[str, Any]:
    pid = product["product_id"]
    fields = [_field(pid)]
    if pid == "p0007":  # a field the store cannot hold at all: its item fails, the others go on
        deep: Any = "bottom"
        for _ in range(5000):
            deep = [deep]
        fields.append({"field": "deep", "value": deep, "snippet": "fine words"})
    return {"product_id": pid, "coverage": 1.0, "confidence": 0.9, "conflicts": 0, "fields": fields}


def _run(store: Store, plan_batch, n: int) -> tuple[str, dict[str, dict[str, Any]]]:
    batch = plan_batch(n, runner="snippets", max_attempts=1, fail_fast_failures=0)
    engine = BatchEngine(store).open()
    try:
        engine.start(batch)
        wait_until(lambda: engine.status(batch)["state"] in ("completed", "paused", "stopped"), timeout=30,
                   message=lambda: f"batch did not finish: {engine.status(batch)}")
        assert engine.status(batch)["state"] == "completed" and engine.writer.degraded is None
    finally:
        engine.close()
    return batch, {r["product_id"]: r for r in store.item_records(batch)}


def _snippet(store: Store, pid: str) -> str | None:
    (field,) = [f for f in store.latest_outcome(pid)["fields"] if f["field"] == "weight"]
    return field["snippet"]


def test_unstorable_snippets_are_repaired_visibly_and_the_batch_completes(store, plan_batch):
    batch, items = _run(store, plan_batch, 9)
    assert {pid: r["state"] for pid, r in items.items() if pid != "p0007"} == dict.fromkeys(
        [f"p{i:04d}" for i in range(9) if i != 7], "completed")
    assert _snippet(store, "p0002") == "caf\ufffd weighs \ufffd 58 g"
    assert json.loads(items["p0002"]["outcome"])["repaired_characters"] == 2  # the item says it was repaired
    assert _snippet(store, "p0003") == "Weight:\x00 58 g\x1b[2J"  # held as is; each face neutralises it


def test_a_huge_snippet_is_cut_to_the_cap_and_says_so(store, plan_batch):
    _run(store, plan_batch, 5)
    cut = _snippet(store, "p0004")
    assert len(cut) == MAX_SNIPPET_CHARS == 1_000
    assert cut.startswith("Weight: 58 g. xxx") and cut.endswith("x…")


def test_a_field_the_store_cannot_hold_fails_its_item_only_saying_why(store, plan_batch):
    batch, items = _run(store, plan_batch, 9)
    assert items["p0007"]["state"] == "failed" and "could not be stored" in items["p0007"]["last_error"]
    assert items["p0008"]["state"] == "completed" and _snippet(store, "p0000") == SCRIPT_TAG


def test_markup_bidi_controls_and_non_text_are_kept_as_text(store, plan_batch):
    _run(store, plan_batch, 7)
    assert _snippet(store, "p0000") == SCRIPT_TAG
    assert _snippet(store, "p0001") == BIDI
    assert _snippet(store, "p0005") == "58"
    assert _snippet(store, "p0006") is None


def test_a_snippet_the_store_refuses_fails_that_item_not_the_group(store, plan_batch):
    """Bypassing the sanitiser: the writer commits the group entry by entry; the refused one fails its item."""
    batch = plan_batch(2, runner="snippets")
    engine = BatchEngine(store).open()
    try:
        now = utcnow()
        for seq, snippet in ((1, "bad \ud800"), (2, "Weight: 58 g")):
            running = ItemMove(batch, seq, "running", 1, 0, None, None, now, None, None, None, None, None, None,
                               "queued", now, 1, "engine", "dispatched")
            done = running._replace(state="completed", from_state="running", finished_at=now, outcome="{}",
                                    reason="completed")
            record = OutcomeRecord(batch, seq, f"p{seq - 1:04d}", 1, now, 1.0, 0.9, 0, "{}",
                                   ({**_field("x"), "value": "58", "snippet": snippet},))
            engine.writer.post([running])
            engine.writer.post([done, record])
        engine.writer.flush()
        states = {r["seq"]: r for r in store.item_records(batch)}
        assert states[1]["state"] == "failed" and "could not be stored" in states[1]["last_error"]
        assert states[2]["state"] == "completed" and _snippet(store, "p0001") == "Weight: 58 g"
        assert engine.writer.degraded is None
    finally:
        engine.close()


def test_snippets_round_trip_through_the_store(store, plan_batch):
    batch = plan_batch(1, runner="snippets")
    now = utcnow()
    fields = ({**_field("a"), "field": "a", "value": "58", "snippet": SCRIPT_TAG},
              {**_field("b"), "field": "b", "value": "1", "snippet": None})
    store.commit([OutcomeRecord(batch, 1, "p0000", 1, now, 1.0, 0.9, 0, "{}", fields)])
    shown = {f["field"]: f for f in store.latest_outcome("p0000")["fields"]}
    assert shown["a"]["snippet"] == SCRIPT_TAG and shown["a"]["snippet_id"] == "s-a"
    assert shown["b"]["snippet"] is None and shown["b"]["snippet_id"] == "s-b"


@pytest.fixture
def v6_database(tmp_path):
    return v6_database_with_an_outcome(tmp_path / "v6.duckdb")


def test_a_version_6_database_gains_the_snippet_column_and_keeps_its_outcomes(v6_database):
    with Store(v6_database) as new:
        assert new.version == 7
        outcome = new.latest_outcome("p-old")
    (field,) = outcome["fields"]
    assert (field["value"], field["source_url"], field["snippet_id"], field["snippet"]) == (
        58, "https://example.com/old", "abc123", None)


def test_a_refused_outcome_names_its_own_cause_not_the_aborted_transaction(store, plan_batch):
    """DuckDB refuses every statement after a failed one; the store's error is the first refusal's reason."""
    batch = plan_batch(1, runner="snippets")
    field = {k: v for k, v in _field("a").items() if k != "conflict"} | {"value": "58"}  # past the sanitiser
    with pytest.raises(StoreRejected, match=r'NOT NULL constraint failed: outcome_fields\."conflict"'):
        store.commit([OutcomeRecord(batch, 1, "p0000", 1, utcnow(), 1.0, 0.9, 0, "{}", (field,))])
