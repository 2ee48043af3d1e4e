"""The DuckDB store: migrations, plan save/load, and the one-process-per-file rule."""

import os
import subprocess
import sys
import textwrap

import pyarrow as pa
import pytest

from engine.core.catalog import Catalog
from engine.core.errors import (
    ConfirmationRequired,
    NotFound,
    SchemaTooNew,
    StoreError,
    StoreLocked,
    StoreUnavailable,
)
from engine.core.plan import PlanRequest, PlanSummary, Selection
from engine.service import BatchService
from engine.store import SCHEMA_VERSION, EventRow, ItemMove, Store, utcnow
from engine.store.sql import INSERT_ITEMS_FROM_ARROW
from tests.support.catalogs import products_frame


def _service(store, products):
    return BatchService(store, Catalog(products=products, problems=(), source="test"))


def test_duckdb_hands_freed_memory_back_from_background_threads(tmp_path, monkeypatch):
    """Its allocator's background threads purge freed pages (a server kept them, bench/soak.py); the operator's
    checkpoint threshold still applies beside it."""
    monkeypatch.setenv("INDEXLAB_CHECKPOINT_THRESHOLD", "1MB")
    with Store(tmp_path / "tuned.duckdb") as store:
        setting = "SELECT current_setting('allocator_background_threads'), current_setting('checkpoint_threshold')"
        background, threshold = store._con.execute(setting).fetchone()
    assert background is True and threshold == "976.5 KiB"  # 1MB, as DuckDB spells it


def test_new_database_is_at_the_current_schema_version(store):
    assert store.version == SCHEMA_VERSION >= 2


def test_opening_an_older_database_migrates_it_and_keeps_its_data(tmp_path, small_products):
    path = tmp_path / "old.duckdb"
    with Store(path, target_version=1) as old:
        assert old.version == 1
        items = pa.Table.from_pandas(small_products.assign(seq=range(1, len(small_products) + 1)), preserve_index=False)
        with old._transaction() as cur:  # a batch as version 1 wrote it (save_plan writes today's columns)
            cur.execute("INSERT INTO batches (batch_run_id, state, profile, runner, item_count, created_at, updated_at, "
                        "settings, plan) VALUES ('b-old', 'planned', 'standard', 'noop', ?, now(), now(), '{}', '{}')",
                        [len(small_products)])
            cur.register("plan_items", items)
            cur.execute(INSERT_ITEMS_FROM_ARROW, ["b-old", "queued", None])
    with Store(path) as new:
        assert new.version == SCHEMA_VERSION
        assert new.get_batch("b-old")["item_count"] == len(small_products)
        assert new.count_items("b-old") == len(small_products)
        assert set(new.item_table("b-old").column("crashes").to_pylist()) == {0}  # added columns start empty


def test_reopening_a_current_database_applies_nothing(tmp_path):
    path = tmp_path / "db.duckdb"
    Store(path).close()
    with Store(path) as again:
        assert again.version == SCHEMA_VERSION


def test_database_from_a_newer_version_is_refused_clearly(tmp_path, monkeypatch):
    path = tmp_path / "future.duckdb"
    import engine.store as store_module

    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, ("CREATE TABLE future (x INT)",)])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    Store(path, target_version=SCHEMA_VERSION + 1).close()
    monkeypatch.undo()
    with pytest.raises(SchemaTooNew, match=f"schema version {SCHEMA_VERSION + 1}.*upgrade indexlab"):
        Store(path)


def test_saved_plan_round_trips(store, small_products):
    service = _service(store, small_products)
    request = PlanRequest(selection=Selection(all=True), brand_order=["Zowie"], pinned_brands=["Razer"])
    saved = service.plan(request)
    batch = store.get_batch(saved.batch_run_id)
    assert batch["state"] == "planned" and batch["created_at"].tzinfo is not None
    assert PlanRequest(**batch["plan"]["request"], settings=batch["settings"]) == request
    assert PlanSummary(**batch["plan"]["summary"], settings=batch["settings"]) == saved.summary
    items, total = service.items(saved.batch_run_id)
    preview = service.preview(request).items
    assert total == len(small_products)
    assert items["product_id"].tolist() == preview["product_id"].tolist()
    assert items["seq"].tolist() == list(range(1, total + 1))
    assert set(items["state"]) == {"queued"} and set(items["attempts"]) == {0}


def test_plan_is_recorded_as_an_event(store, small_products):
    saved = _service(store, small_products).plan(PlanRequest(selection=Selection(all=True)))
    [event] = store.events(saved.batch_run_id)
    assert (event["kind"], event["to_state"], event["actor"]) == ("batch_transition", "planned", "operator")


def test_an_item_move_writes_the_row_and_the_event_of_the_transition(store, small_products):
    batch = _service(store, small_products).plan(PlanRequest(selection=Selection(all=True))).batch_run_id
    now = utcnow()
    store.commit([ItemMove(batch, 1, "running", 1, 0, None, None, now, None, None, None, None, None, None,
                           "queued", now, 1, "engine", "dispatched")])
    item = store.items(batch).iloc[0]
    assert (item["seq"], item["state"], item["attempts"]) == (1, "running", 1)
    event = store.events(batch)[-1]
    assert (event["kind"], event["seq"], event["from_state"], event["to_state"], event["attempt"], event["actor"],
            event["reason"], event["data"]) == ("item_transition", 1, "queued", "running", 1, "engine", "dispatched", None)


def test_large_plan_without_confirmation_writes_nothing(store):
    products = products_frame([(f"p{i}", "mouse", "B", f"M{i}", "") for i in range(201)])
    with pytest.raises(ConfirmationRequired):
        _service(store, products).plan(PlanRequest(selection=Selection(all=True)))
    assert store.list_batches() == []
    saved = _service(store, products).plan(PlanRequest(selection=Selection(all=True), confirm_large=True))
    assert store.count_items(saved.batch_run_id) == 201


def test_items_filter_by_state_and_brand_and_page(store, small_products):
    saved = _service(store, small_products).plan(PlanRequest(selection=Selection(all=True)))
    page, total = _service(store, small_products).items(saved.batch_run_id, brand="logitech", offset=1, limit=2)
    assert total == 4 and len(page) == 2 and set(page["brand"]) == {"Logitech"}
    assert store.count_items(saved.batch_run_id, state="running") == 0


def test_unknown_batch_is_not_found(store, small_products):
    with pytest.raises(NotFound, match="no batch 'nope'"):
        _service(store, small_products).items("nope")


def test_newest_batch_lists_first(store, small_products):
    service = _service(store, small_products)
    ids = [service.plan(PlanRequest(selection=Selection(all=True))).batch_run_id for _ in range(3)]
    assert [b["batch_run_id"] for b in store.list_batches()] == ids[::-1]
    assert store.latest_batch(["planned"])["batch_run_id"] == ids[-1]
    assert store.latest_batch(["running"]) is None


def test_a_database_held_by_another_process_names_its_pid(tmp_path):
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, duckdb
            con = duckdb.connect({str(path)!r})
            print("ready", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ},
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLocked, match=f"in use by process {holder.pid}") as info:
            Store(path)
        assert info.value.pid == holder.pid
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    with Store(path) as store:  # free again once the holder is gone
        assert store.version == SCHEMA_VERSION


def test_a_read_after_the_store_closed_is_a_clear_store_error_not_a_duckdb_traceback(tmp_path):
    """A server shutting down closes the store while a page's read may still be on its way (a red CI run logged
    "Connection already closed!" with a traceback): such a read gets one sentence, and so does a later read or write."""
    store = Store(tmp_path / "closing.duckdb")
    with pytest.raises(StoreError, match="the database is closed") as inflight, store._cursor() as cur:
        store.close()  # a read was already under way
        cur.execute("SELECT 1").fetchone()
    assert not isinstance(inflight.value, StoreUnavailable)  # not "cannot be written now": it will not come back
    with pytest.raises(StoreError, match="the database is closed"):
        store.get_batch("b-1")
    with pytest.raises(StoreError, match="the database is closed"):
        store.commit([EventRow("b", None, utcnow(), "note", reason="late")])
    store.close()  # idempotent
