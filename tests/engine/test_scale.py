"""A batch at scale: items held as compact columns (engine/run/columns.py), bulk moves at once, bounded memory.

No timing is asserted: bench/scale.py measures start, force stop and memory (docs/benchmarks.md).
"""

from __future__ import annotations

import gc
import threading
import tracemalloc
from datetime import datetime

import numpy as np
import pyarrow as pa
import pytest

from engine.run.active import ActiveItem, ActiveItems
from engine.run.columns import Codes, SeqIndex, from_micros, to_micros
from engine.run.engine import BatchEngine
from engine.run.items import ItemColumns
from engine.run.live import LiveStatus
from engine.store import BulkMove, ItemMove, ItemRow, utcnow
from tests.support.inline import InlineExecutor
from tests.support.polling import wait_until


def test_a_started_batch_holds_under_200_bytes_per_item(store, plan_batch):
    """Before the columns: 762 bytes per item of Python heap alone at 100k (1,111 of RSS at 1M)."""
    n = 50_000
    batch = plan_batch(n)
    engine = BatchEngine(store, executor_factory=lambda _: InlineExecutor(), background=False).open()
    try:
        gc.collect()
        before = pa.total_allocated_bytes()
        tracemalloc.start()
        try:
            engine.start(batch)  # the active run, its items and its live status
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] + pa.total_allocated_bytes() - before
        finally:
            tracemalloc.stop()
        assert held / n < 200, f"{held / n:.0f} bytes per item"
        assert engine.status(batch)["counts"]["queued"] == n
    finally:
        engine.close()


def test_force_stop_of_a_large_running_batch_stops_every_queued_item_in_the_store_and_the_status(
        engine, plan_batch, script, store):
    n = 200_000
    batch = plan_batch(n, workers=2)
    script.default = "block"
    engine.start(batch)
    wait_until(lambda: engine.status(batch)["counts"]["running"] == 2, message="two items did not start")
    status = engine.stop(batch, force=True)
    assert status["state"] == "stopped" and status["counts"]["stopped"] == n and status["counts"]["queued"] == 0
    assert status["running"] == []
    assert store.counts_by_state(batch) == {"stopped": n}
    assert store.get_batch(batch)["state"] == "stopped"
    # planned, started, 2 dispatched, the other n - 2 stopped (queued), the 2 running stopped, the batch stopped
    assert store.count_events(batch) == 1 + 1 + 2 + (n - 2) + 2 + 1
    resumed = engine.start(batch)  # a stopped batch resumes: every stopped item is queued again
    assert resumed["counts"]["queued"] + resumed["counts"]["running"] == n
    engine.stop(batch, force=True)


def test_bulk_moves_change_only_the_items_named_and_in_their_from_state(store, plan_batch):
    batch = plan_batch(8)
    status = LiveStatus(store.get_batch(batch), ItemColumns(store.item_batches(batch)))
    now = utcnow()
    status.apply([ItemMove(batch, 2, "running", 1, 0, None, "fetch", now, None, None, None, None, None, None,
                           "queued", now, 1, "engine", "dispatched"),
                  BulkMove(batch, ("queued",), "skipped", now, "operator", "skip", seqs=(1, 2, 3, 99)),
                  BulkMove(batch, ("queued", "running"), "stopped", now, "operator", "stop", seqs=None)])
    shown = status.to_dict()
    assert shown["counts"] == {"queued": 0, "running": 0, "completed": 0, "failed": 0, "skipped": 2, "stopped": 6}
    assert shown["running"] == []
    assert [e["reason"] for e in shown["recent_events"][:2]] == ["stop (6 items)", "skip (2 items)"]


def test_active_items_move_at_once_and_undo_from_a_snapshot(store, plan_batch):
    batch = plan_batch(6)
    items = ActiveItems(ItemColumns(store.item_batches(batch)))
    now = utcnow().replace(microsecond=123456)
    items.update(3, state="running", attempts=1, phase="fetch", started_at=now)
    items.update(4, state="failed", attempts=2, last_error="boom", coverage=0.5, gate="needs_review", duration_s=1.5)
    assert items[3] == ActiveItem(3, items[3].product_id, "running", 1, 0, None, "fetch", now)
    assert (items[4].last_error, items[4].coverage, items[4].gate, items[4].duration_s) == ("boom", 0.5, "needs_review", 1.5)
    before = [items[seq] for seq in range(1, 7)]
    saved = items.snapshot()  # what an operator action changes: moves, and a force stop's in-flight items
    items.update(3, state="stopped", phase=None, finished_at=now, duration_s=2.0, last_error="force stopped")
    items.move(items.positions_in(("queued",)), "stopped", finished_at=now)
    assert items.seqs_in(("stopped",)) == [1, 2, 3, 5, 6] and items[3].phase is None and items[1].finished_at == now
    assert items.state_counts() == {"failed": 1, "stopped": 5}
    items.move(items.positions_of([4]), "queued", new_budget=True)
    assert (items[4].state, items[4].attempt_base, items[4].last_error) == ("queued", 2, "boom")
    items.restore(saved)
    assert [items[seq] for seq in range(1, 7)] == before


def test_columns_read_in_record_batches_equal_the_whole_table(inline_engine, plan_batch, script, store):
    batch = plan_batch(40, max_attempts=1)
    script.plan["p0001"] = ["fatal"]
    inline_engine.start(batch)
    inline_engine.drain()
    whole = ItemColumns(store.item_table(batch))
    small = ItemColumns(store.item_batches(batch, rows=7))
    for name in store.item_table(batch).column_names:
        assert small.column(name) == whole.column(name), name
    assert small.newest("failed", 5) == whole.newest("failed", 5) != []
    assert small.product(40) == whole.product(40)


def test_planned_columns_that_hold_one_value_cost_one_value(store, plan_batch):
    batch = plan_batch(1000)
    columns = ItemColumns(store.item_batches(batch))
    assert all(columns.arrays[name].strides == (0,) for name in ("attempts", "started_at", "coverage"))
    assert columns.column("attempts") == [0] * 1000 and columns.column("started_at") == [None] * 1000


def test_seq_index_answers_for_gaps_and_unknown_seqs():
    index = SeqIndex(np.array([2, 5, 9], np.int64))
    assert [index.get(s) for s in (2, 5, 9, 3, 10, "2", True)] == [0, 1, 2, None, None, None, None]
    assert index.positions([9, 4, 2]).tolist() == [2, 0]
    with pytest.raises(KeyError):
        index[4]
    consecutive = SeqIndex(np.arange(1, 6))
    assert (consecutive.get(1), consecutive.get(5), consecutive.get(6), 0 in consecutive) == (0, 4, None, False)


def test_codes_and_timestamps_round_trip():
    codes = Codes(["a"])
    assert codes.encode(pa.array(["b", None, "a", "b"])).tolist() == [2, 0, 1, 2] and codes.values == [None, "a", "b"]
    when = datetime(2026, 12, 6, 1, 2, 3, 456789)
    assert from_micros(to_micros(when)) == when and from_micros(to_micros(None)) is None


def test_a_row_written_over_a_loaded_one_shows_in_the_status(store, plan_batch):
    batch = plan_batch(3)
    store.commit([ItemRow(batch, 2, "completed", 1, 0, None, None, utcnow(), utcnow(), 1.0, "{}", "needs_review", 0.2)])
    status = LiveStatus(store.get_batch(batch), ItemColumns(store.item_batches(batch)))
    assert status.to_dict()["outcomes"]["needs_review"] == 1
    status.apply([ItemRow(batch, 2, "queued", 1, 1, None, None, None, None, None, None)])
    assert status.to_dict()["outcomes"]["needs_review"] == 0 and status.to_dict()["counts"]["queued"] == 3


def test_a_force_stop_waits_for_its_write_without_the_engine_lock(engine, plan_batch, script, store, monkeypatch):
    """A bulk move being written (a million events, a second or more) must not hold up the engine: status
    reads, other lifecycle calls and dispatch take the engine lock meanwhile."""
    batch = plan_batch(50, workers=2)
    script.default = "block"
    engine.start(batch)
    wait_until(lambda: engine.status(batch)["counts"]["running"] == 2, message="two items did not start")
    writing, release = threading.Event(), threading.Event()
    commit = store.commit

    def slow_commit(changes):
        if any(isinstance(c, BulkMove) for c in changes):
            writing.set()
            assert release.wait(30)
        commit(changes)

    monkeypatch.setattr(store, "commit", slow_commit)
    answers: list = []
    stopper = threading.Thread(target=lambda: answers.append(engine.stop(batch, force=True)))
    stopper.start()
    try:
        assert writing.wait(30), "the force stop's bulk move never reached the store"
        taken = threading.Event()
        threading.Thread(target=lambda: (engine.active_batch_id(), taken.set()), daemon=True).start()
        wait_until(taken.is_set, message="the engine lock was held while the bulk move was being written")
        assert engine.status(batch)["state"] == "running"  # nothing shows before it is committed
    finally:
        release.set()
        stopper.join(30)
    assert answers and answers[0]["state"] == "stopped" and answers[0]["counts"]["stopped"] == 50
    assert store.counts_by_state(batch) == {"stopped": 50}
