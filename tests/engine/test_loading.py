"""Loading a batch: one columnar read, kept as columns, with no Python object per item."""

import gc
from datetime import UTC

from engine.run.active import ActiveItem, ActiveItems
from engine.run.engine import BatchEngine
from engine.run.items import PRODUCT_KEYS, ItemColumns
from engine.run.live import LiveStatus
from engine.store import BulkMove, EventRow, ItemMove, ItemRow, utcnow
from tests.support.inline import InlineExecutor


def test_item_table_holds_every_item_in_seq_order(store, plan_batch):
    batch = plan_batch(6)
    table = store.item_table(batch)
    assert table.column("seq").to_pylist() == [1, 2, 3, 4, 5, 6]
    assert set(table.column("state").to_pylist()) == {"queued"}
    assert store.item_table("nope").num_rows == 0


def test_item_columns_read_what_item_records_read(inline_engine, plan_batch, script, store):
    batch = plan_batch(4, max_attempts=1)
    script.plan["p0001"] = ["fatal"]
    inline_engine.start(batch)
    inline_engine.drain()
    records = store.item_records(batch)
    columns = ItemColumns(store.item_table(batch))
    assert columns.seqs == [r["seq"] for r in records]
    for name in records[0]:
        assert columns.column(name) == [r[name] for r in records], name
    assert columns.product(2) == {key: records[1][key] for key in PRODUCT_KEYS}


def test_live_status_reads_columns_and_records_alike(store, plan_batch):
    batch = plan_batch(3)
    now = utcnow()
    store.commit([ItemRow(batch, 2, "running", 1, 0, None, "fetch", now, None, None, None)])
    from_columns = LiveStatus(store.get_batch(batch), ItemColumns(store.item_table(batch))).to_dict()
    from_records = LiveStatus(store.get_batch(batch), store.item_records(batch)).to_dict()
    assert {**from_columns, "updated_at": None} == {**from_records, "updated_at": None}
    [running] = from_columns["running"]
    second = store.item_records(batch)[1]
    assert running == {"seq": 2, **{key: second[key] for key in PRODUCT_KEYS}, "attempt": 1, "phase": "fetch",
                       "started_at": now.replace(tzinfo=UTC)}


def test_the_action_feed_names_each_move_newest_first(store, plan_batch):
    batch = plan_batch(3)
    status = LiveStatus(store.get_batch(batch), ItemColumns(store.item_table(batch)))
    now = utcnow()
    status.apply([ItemMove(batch, 1, "running", 1, 0, None, None, now, None, None, None, None, None, None,
                           "queued", now, 1, "engine", "dispatched"),
                  EventRow(batch, 1, now, "log", actor="runner", reason="not in the feed"),
                  BulkMove(batch, ("queued",), "skipped", now, "operator", "skipped by operator", seqs=(2, 3))])
    shown = status.to_dict()
    feed = shown["recent_events"]
    assert [(e["kind"], e["reason"]) for e in feed] == [("bulk_transition", "skipped by operator (2 items)"),
                                                        ("item_transition", "dispatched")]
    assert feed[0]["from_state"] == "queued" and feed[0]["occurred_at"].tzinfo is not None
    assert (feed[1]["seq"], feed[1]["from_state"], feed[1]["to_state"]) == (1, "queued", "running")
    assert (shown["counts"]["running"], shown["counts"]["skipped"], shown["running"][0]["seq"]) == (1, 2, 1)


def test_active_items_change_in_place_and_answer_by_state(store, plan_batch):
    batch = plan_batch(4)
    first, second = store.item_records(batch)[:2]
    items = ActiveItems(ItemColumns(store.item_table(batch)))
    assert len(items) == 4 and 4 in items and 5 not in items
    assert items[1] == ActiveItem(1, first["product_id"], "queued", 0, 0)
    changed = items.update(2, state="running", attempts=1)
    assert changed == items[2] and (changed.state, changed.attempts, changed.product_id) == ("running", 1, second["product_id"])
    assert items.state(2) == "running"
    assert items.seqs_in(("queued",)) == [1, 3, 4] and items.seqs_in(("queued", "running")) == [1, 2, 3, 4]


def test_loading_a_large_batch_makes_no_python_object_per_item(store, plan_batch):
    """A 5,000-item batch adds a few columns for the garbage collector to walk, not thousands of objects."""
    batch = plan_batch(5000)
    engine = BatchEngine(store, executor_factory=lambda n: InlineExecutor(), background=False).open()
    try:
        gc.collect()
        before = len(gc.get_objects())
        engine.status(batch)  # the live status of the planned batch
        engine.start(batch)  # the active run and its live status
        gc.collect()
        assert len(gc.get_objects()) - before < 500
        assert engine.status(batch)["counts"]["queued"] == 5000
    finally:
        engine.close()
