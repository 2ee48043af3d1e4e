"""``indexlab priority | workers | queue`` over a database no server holds (the headless CLI), the unhappy
paths first; the same through a server (``indexlab batch ... --url``) is in tests/integration/test_cli_client.py."""

from __future__ import annotations

import json

import pytest

from engine.core.catalog import Catalog
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings, Capacity
from engine.run.engine import BatchEngine
from engine.service import BatchService
from engine.store import Store
from tests.support.catalogs import product_rows
from tests.support.cli import run
from tests.support.scripted import SCRIPT


@pytest.fixture
def queued(db):
    """A database left by a server that ran one batch and had two queued behind it: (running, first, second)."""
    SCRIPT.default, SCRIPT.gate = "block", __import__("threading").Event()
    with Store(db) as store:
        service = BatchService(store, Catalog(products=product_rows(3), problems=(), source="test"))
        request = PlanRequest(selection=Selection(all=True), settings=BatchSettings(runner="scripted"))
        batches = [service.plan(request).batch_run_id for _ in range(3)]
        engine = BatchEngine(store, capacity=Capacity(max_running_batches=1)).open()
        for batch in batches:
            engine.start(batch)
        SCRIPT.gate.set()
        engine.close()
    SCRIPT.default = "ok"
    return batches


def _actions(db, batch):
    with Store(db) as store:
        return [(e["actor"], e["reason"]) for e in store.events(batch) if e["kind"] == "operator_action"]


def test_out_of_range_values_are_refused_naming_the_field_and_change_nothing(capsys, db, queued):
    batch = queued[1]
    code, _, err = run(capsys, "priority", batch, "11", "--db", db)
    assert code == 1 and "priority must be a whole number from 1 to 10, not 11" in err
    code, _, err = run(capsys, "workers", batch, "0", "--db", db)
    assert code == 1 and "workers must be a whole number from 1 to 64, not 0" in err
    code, _, err = run(capsys, "queue", "--move", queued[0], "1", "--db", db)
    assert code == 1 and f"batch {queued[0]} is running, not queued" in err
    code, _, err = run(capsys, "queue", "--move", batch, "first", "--db", db)
    assert code == 1 and "not 'first'" in err
    code, _, err = run(capsys, "priority", "no-such-batch", "3", "--db", db)
    assert code == 1 and "no batch 'no-such-batch'" in err
    assert _actions(db, batch) == []


def test_priority_and_workers_are_changed_and_audited(capsys, db, queued):
    batch = queued[1]
    code, out, _ = run(capsys, "priority", batch, "8", "--db", db)
    assert code == 0 and f"batch {batch}: queued, priority 8, workers 2" in out
    code, out, _ = run(capsys, "workers", batch, "3", "--db", db, "--json")
    assert code == 0 and (json.loads(out)["workers"], json.loads(out)["priority"]) == (3, 8)
    assert _actions(db, batch) == [("cli", "priority 5 -> 8"), ("cli", "workers 2 -> 3")]


def test_the_queue_is_listed_in_order_and_a_batch_moved_in_it(capsys, db, queued):
    running, first, second = queued
    code, out, _ = run(capsys, "queue", "--db", db)
    assert code == 0 and f"running   1: {running}" in out
    assert out.index(f"1. {first}") < out.index(f"2. {second}")
    code, out, _ = run(capsys, "queue", "--move", second, "1", "--db", db, "--json")
    assert code == 0 and [q["batch_run_id"] for q in json.loads(out)["queued"]] == [second, first]
    assert _actions(db, second) == [("cli", "queue position 2 -> 1")]
    with Store(db) as store:  # a server started on this database admits them in the new order
        engine = BatchEngine(store, capacity=Capacity(max_running_batches=1), auto_resume=False).open()
        try:  # auto-resume off: the running batch is paused, so the queue's first is admitted, then the next
            assert engine.wait_idle(20)
            admitted = {b: [e["event_id"] for e in store.events(b) if e["kind"] == "batch_transition"
                            and (e["from_state"], e["to_state"]) == ("queued", "running")][0] for b in (first, second)}
        finally:
            engine.close()
        assert admitted[second] < admitted[first]
