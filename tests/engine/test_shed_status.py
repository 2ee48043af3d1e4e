"""A batch the engine lets go keeps its live status (counts, feed, failures, rates) without its per-item columns.

Each whole-catalog batch started and stopped kept ~8 MB of columns per 100,000 items in its cached status
(bench/soak.py); a status of a batch no longer loaded sheds them once every change posted for it is committed.
"""

from __future__ import annotations

import gc
import weakref
from concurrent.futures import Future

from engine.run.items import ItemColumns
from engine.run.live import LiveStatus
from engine.store import BulkMove, ItemMove, ItemRow, utcnow
from tests.support.polling import wait_until

COMPARED = ("state", "total", "counts", "done", "progress", "running", "current", "recent_failures", "result",
            "outcomes", "result_text", "reason", "started_at", "finished_at", "priority", "workers")


def _fresh(store, batch: str) -> dict:
    """The status as a new live status over the stored items reads it (nothing shed)."""
    return LiveStatus(store.get_batch(batch), ItemColumns(store.item_table(batch))).to_dict()


def _same(shown: dict, fresh: dict) -> None:
    for key in COMPARED:
        assert shown[key] == fresh[key], key


# ------------------------------------------------------------------ unhappy paths first
def test_a_shed_status_told_of_one_item_move_goes_stale_and_the_engine_reads_the_store(inline_engine, plan_batch,
                                                                                        store):
    batch = plan_batch(4)
    inline_engine.start(batch)
    inline_engine.stop(batch)  # nothing ran: stopped at once, let go, shed
    live = inline_engine._statuses[batch]
    assert live.shed and not live.stale
    now = utcnow()
    move = ItemMove(batch, 2, "skipped", 0, 0, None, None, None, now, None, None, None, None, None,
                    "stopped", now, 0, "operator", "by hand")
    store.commit([move])  # a change it cannot follow without its items
    live.apply([move])
    assert live.stale
    shown = inline_engine.status(batch)
    assert shown["counts"]["skipped"] == 1 and shown["counts"]["stopped"] == 3  # from the store
    assert batch not in inline_engine._statuses  # the stale status is gone


def test_a_shed_status_told_of_a_bulk_move_of_named_items_goes_stale(store, plan_batch):
    batch = plan_batch(3)
    live = LiveStatus(store.get_batch(batch), ItemColumns(store.item_table(batch)))
    assert live.shed_items()
    live.apply([BulkMove(batch, ("queued",), "skipped", utcnow(), "operator", "skipped", seqs=(1,))])
    assert live.stale and live.to_dict()["counts"]["queued"] == 3  # unchanged: the engine reads the store instead


def test_a_shed_status_told_of_a_move_block_goes_stale(store, plan_batch):
    """A chunk's dispatch or completions come as one MoveBlock naming its items: a shed status cannot follow it
    (it has no state codes left to move) and must not try (the merge of chunks and shedding first crashed here)."""
    import numpy as np

    from engine.store import MoveBlock

    batch = plan_batch(3)
    live = LiveStatus(store.get_batch(batch), ItemColumns(store.item_table(batch)))
    assert live.shed_items()
    at = int(utcnow().timestamp() * 1_000_000)
    block = MoveBlock(batch, np.array([1, 2], np.int64), {"state": "running", "attempts": 1, "started_at": at},
                      "queued", at, 1, "engine", "dispatched")
    live.apply([block])
    assert live.stale and live.to_dict()["counts"]["queued"] == 3


def test_a_status_with_items_running_keeps_its_columns(store, plan_batch):
    batch = plan_batch(3)
    store.commit([ItemRow(batch, 2, "running", 1, 0, None, "fetch", utcnow(), None, None, None)])
    live = LiveStatus(store.get_batch(batch), ItemColumns(store.item_table(batch)))
    assert not live.shed_items()
    assert live.items is not None and live.to_dict()["running"][0]["product_id"] == live.items.product(2)["product_id"]


def test_a_status_is_not_shed_while_the_store_cannot_write(inline_engine, plan_batch, store, monkeypatch):
    batch = plan_batch(3)
    inline_engine.start(batch)
    live = inline_engine._statuses[batch]
    failed: Future = Future()
    failed.set_exception(RuntimeError("the store cannot write"))
    monkeypatch.setattr(inline_engine.writer, "submit", lambda changes: failed)
    inline_engine._shed_when_written(batch)
    assert not live.shed and live.items is not None


# ------------------------------------------------------------------ what a shed status reads
def test_a_finished_batch_sheds_its_columns_and_its_status_reads_the_same(inline_engine, plan_batch, script, store):
    batch = plan_batch(6, max_attempts=1, fail_fast_failures=0)
    script.plan = {"p0001": ["fatal"], "p0004": ["fatal"]}
    inline_engine.start(batch)
    columns = weakref.ref(inline_engine._statuses[batch].items)
    inline_engine.drain()
    live = inline_engine._statuses[batch]
    assert live.shed and live.items is None
    gc.collect()
    assert columns() is None  # nothing else holds the batch's columns
    shown = inline_engine.status(batch)
    assert shown["state"] == "completed" and shown["result"] == "partial" and shown["counts"]["failed"] == 2
    assert len(shown["recent_failures"]) == 2 and shown["recent_failures"][0]["product_id"]
    _same(shown, _fresh(store, batch))
    assert shown["throughput"]["recent_per_hour"]  # the finish times stay (within their recent window)


def test_a_shed_status_keeps_the_items_needing_review(inline_engine, plan_batch, store):
    batch = plan_batch(4, runner="fielded")  # coverage 0.75, under the default gate: every item needs review
    inline_engine.start(batch)
    inline_engine.drain()
    assert inline_engine._statuses[batch].shed
    shown = inline_engine.status(batch)
    assert shown["outcomes"]["needs_review"] == 4 and shown["result"] != "succeeded"
    _same(shown, _fresh(store, batch))


def test_a_stopped_batch_reads_correctly_once_shed_and_resumes_with_its_items(inline_engine, plan_batch, script, store):
    batch = plan_batch(5)
    inline_engine.start(batch)
    inline_engine.stop(batch)
    assert inline_engine._statuses[batch].shed
    shown = inline_engine.status(batch)
    assert shown["state"] == "stopped" and shown["counts"]["stopped"] == 5 and shown["done"] == 0
    _same(shown, _fresh(store, batch))
    inline_engine.start(batch)  # loaded again: a new status with its items
    assert not inline_engine._statuses[batch].shed
    inline_engine.drain()
    shown = inline_engine.status(batch)
    assert shown["state"] == "completed" and shown["counts"]["completed"] == 5
    _same(shown, _fresh(store, batch))


def test_a_shed_status_follows_a_bulk_move_of_every_item_in_its_from_states(store, plan_batch):
    batch = plan_batch(4)
    live = LiveStatus(store.get_batch(batch), ItemColumns(store.item_table(batch)))
    assert live.shed_items() and live.shed_items()  # idempotent
    live.apply([BulkMove(batch, ("queued",), "stopped", utcnow(), "operator", "stopped")])
    shown = live.to_dict()
    assert not live.stale and shown["counts"]["stopped"] == 4 and shown["counts"]["queued"] == 0
    assert shown["recent_events"][0]["reason"] == "stopped (4 items)"


def test_a_batch_let_go_by_the_dispatcher_sheds_once_its_completion_is_committed(engine, plan_batch, script, store):
    """The threaded engine: the dispatcher posts the completion and lets the run go before the writer commits it."""
    batch = plan_batch(4)
    engine.start(batch)
    wait_until(lambda: engine._statuses[batch].shed, message=lambda: str(engine.status(batch)["counts"]))
    shown = engine.status(batch)
    assert shown["state"] == "completed" and shown["counts"]["completed"] == 4 and not engine._statuses[batch].stale
    _same(shown, _fresh(store, batch))
