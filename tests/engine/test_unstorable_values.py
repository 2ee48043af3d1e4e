"""Issue #11 item 6: a value the store cannot hold fails (or is visibly sanitised in) that one item, never the writer.

Lone surrogates are what ``json.dumps`` of mis-decoded web text carries; DuckDB's JSON cast and Arrow's UTF-8
encoder both reject them. Each test runs a real threaded engine on a real DuckDB file.
"""

from __future__ import annotations

import json
from typing import Any

from engine.core.settings import BatchSettings
from engine.run.engine import BatchEngine
from engine.runners import RunnerError, register
from engine.store import EventRow, Store, utcnow
from tests.support.polling import wait_until

BAD = "caf\udce9 \ud800"  # what surrogateescape-decoded Latin-1 and a cut UTF-16 pair look like


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


HOSTILE: dict[str, Any] = {
    "p0001": lambda ctx: {"title": BAD, BAD: 1, "coverage": 1.0},  # plain outcome, bad key and value
    "p0002": lambda ctx: {"coverage": 0.5, "fields": [  # harvest-shaped: evidence rows
        {"field": "weight", "value": BAD, "unit": 5, "tier": ["manufacturer"], "source_url": BAD, "snippet_id": 7}]},
    "p0003": lambda ctx: (_ for _ in ()).throw(RunnerError(f"source said {BAD}")),  # error text
    "p0004": lambda ctx: (ctx.log(f"log line {BAD}"), ctx.phase("fetch\ud800"), {"ok": True})[-1],  # log + phase
    "p0005": lambda ctx: {"deep": _deep(5000)},  # json.dumps raises RecursionError
    "p0007": lambda ctx: {"nan": float("nan"), "inf": float("inf"), "nul": "a\x00b"},
}


@register("hostile")
def hostile_runner(product: dict[str, Any], settings: BatchSettings, ctx) -> dict[str, Any]:
    make = HOSTILE.get(product["product_id"])
    return make(ctx) if make else {"product_id": product["product_id"], "coverage": 1.0}


def _run_to_end(engine: BatchEngine, batch_run_id: str) -> dict[str, Any]:
    engine.start(batch_run_id)
    wait_until(lambda: engine.status(batch_run_id)["state"] in ("completed", "paused", "stopped"), timeout=30,
               message=lambda: f"batch did not finish: {engine.status(batch_run_id)}")
    return engine.status(batch_run_id)


def test_unstorable_outcomes_fail_or_sanitise_their_own_item_and_the_batch_goes_on(store, plan_batch):
    batch = plan_batch(10, runner="hostile", max_attempts=1, fail_fast_failures=0)
    engine = BatchEngine(store).open()
    try:
        status = _run_to_end(engine, batch)
        assert status["state"] == "completed", status
        assert status["halted"] is None
        items = {r["product_id"]: r for r in store.item_records(batch)}
        # every item reached a final state in the store, as in memory
        assert {r["state"] for r in items.values()} <= {"completed", "failed"}
        for pid in ("p0000", "p0006", "p0008", "p0009"):
            assert items[pid]["state"] == "completed"
        # text with lone surrogates is stored visibly repaired (U+FFFD), never dropped silently
        assert items["p0001"]["state"] == "completed"
        assert "\ufffd" in items["p0001"]["outcome"] and "repaired" in items["p0001"]["outcome"]
        assert items["p0002"]["state"] == "completed"
        outcome = store.latest_outcome("p0002")
        (weight,) = outcome["fields"]
        assert weight["value"] == "caf\ufffd \ufffd" and weight["unit"] == "5" and weight["snippet_id"] == "7"
        assert items["p0003"]["state"] == "failed" and "source said caf\ufffd" in items["p0003"]["last_error"]
        assert items["p0004"]["state"] == "completed"
        # an outcome that cannot be serialised at all fails its item, saying why
        assert items["p0005"]["state"] == "failed"
        assert "could not be stored" in items["p0005"]["last_error"]
        assert items["p0007"]["state"] == "completed"
        events = store.events(batch, limit=1000)
        assert any(e["kind"] == "log" and e["reason"] == "log line caf\ufffd \ufffd" for e in events)
        # the writer is alive: a lifecycle call after all of it commits
        again = plan_batch(2, runner="hostile")
        assert _run_to_end(engine, again)["state"] == "completed"
    finally:
        engine.close()


def test_a_rejected_row_is_left_out_of_its_group_and_the_writer_lives_on(store, plan_batch):
    """Bypassing every sanitiser: the writer retries the group without the bad change and keeps committing."""
    batch = plan_batch(3, runner="hostile")
    engine = BatchEngine(store).open()
    try:
        good = EventRow(batch, None, utcnow(), "operator_action", actor="test", reason="before")
        bad = EventRow(batch, None, utcnow(), "log", actor="test", reason="bad \ud800", data=json.dumps({"x": "\ud800"}))
        after = EventRow(batch, None, utcnow(), "operator_action", actor="test", reason="after")
        engine.writer.post([good])
        engine.writer.post([bad])
        engine.writer.post([after])
        engine.writer.flush()
        reasons = [e["reason"] for e in store.events(batch, limit=100)]
        assert "before" in reasons and "after" in reasons
        assert any(r and r.startswith("bad ") and "\ud800" not in r for r in reasons)  # stored as escaped text
        assert engine.writer.degraded is None
        assert _run_to_end(engine, batch)["state"] == "completed"
    finally:
        engine.close()


def test_restart_after_a_hostile_item_does_not_wedge_again(tmp_path, plan_batch, store):
    batch = plan_batch(8, runner="hostile", max_attempts=1, fail_fast_failures=0)
    engine = BatchEngine(store).open()
    try:
        assert _run_to_end(engine, batch)["state"] == "completed"
    finally:
        engine.close()
    path = store.path
    store.close()
    with Store(path) as reopened:
        engine = BatchEngine(reopened).open()
        try:
            assert engine.status(batch)["state"] == "completed"
            assert engine.writer.degraded is None
        finally:
            engine.close()
