"""Lifecycle, retries and fail-fast, deterministic: inline executor, synchronous writer, fake clock."""

import pytest

from engine.core.errors import IllegalTransition, NotFound


def test_start_runs_every_item_in_seq_order_and_completes(inline_engine, plan_batch, script, store):
    batch = plan_batch(6)
    inline_engine.start(batch)
    inline_engine.drain()
    order = store.items(batch)["product_id"].tolist()
    assert [pid for pid, _ in script.calls] == order
    assert store.get_batch(batch)["state"] == "completed"
    assert store.counts_by_state(batch) == {"completed": 6}
    status = inline_engine.status(batch)
    assert status["counts"]["completed"] == 6 and status["state"] == "completed" and status["progress"] == 1.0


def test_each_completion_is_durable_with_its_outcome(inline_engine, plan_batch, script, store):
    batch = plan_batch(2)
    inline_engine.start(batch)
    inline_engine.drain()
    items = store.items(batch)
    assert items["attempts"].tolist() == [1, 1] and items["outcome"].str.contains('"dpi": 26000').all()
    kinds = [(e["from_state"], e["to_state"]) for e in store.events(batch) if e["kind"] == "item_transition"]
    assert kinds.count(("queued", "running")) == 2 and kinds.count(("running", "completed")) == 2


def test_retryable_failure_retries_after_backoff_then_completes(inline_engine, plan_batch, script, store):
    batch = plan_batch(3, max_attempts=3)
    first = store.items(batch)["product_id"][0]
    script.plan[first] = ["fail", "fail", "ok"]
    inline_engine.start(batch)
    inline_engine.drain()
    item = store.items(batch).set_index("product_id").loc[first]
    assert item["state"] == "completed" and item["attempts"] == 3 and item["last_error"] is None
    assert len(inline_engine.clock.sleeps) >= 1  # waited out the backoff on the fake clock
    assert [c for c in script.calls if c[0] == first] == [(first, 1), (first, 2), (first, 3)]


def test_attempts_exhausted_fails_with_last_error(inline_engine, plan_batch, script, store):
    batch = plan_batch(2, max_attempts=2)
    bad = store.items(batch)["product_id"][1]
    script.plan[bad] = ["fail"]
    inline_engine.start(batch)
    inline_engine.drain()
    item = store.items(batch).set_index("product_id").loc[bad]
    assert (item["state"], item["attempts"]) == ("failed", 2) and "source timeout" in item["last_error"]
    assert store.get_batch(batch)["state"] == "completed"
    assert inline_engine.status(batch)["recent_failures"][0]["final"] is True


def test_non_retryable_failure_fails_at_once(inline_engine, plan_batch, script, store):
    batch = plan_batch(1, max_attempts=5)
    script.default = "fatal"
    inline_engine.start(batch)
    inline_engine.drain()
    assert store.items(batch)[["state", "attempts"]].values.tolist() == [["failed", 1]]


def test_unexpected_exception_is_a_retryable_failure(inline_engine, plan_batch, script, store):
    batch = plan_batch(1, max_attempts=2)
    pid = store.items(batch)["product_id"][0]
    script.plan[pid] = ["raise", "ok"]
    inline_engine.start(batch)
    inline_engine.drain()
    assert store.items(batch)[["state", "attempts"]].values.tolist() == [["completed", 2]]


def test_fail_fast_pauses_the_batch_and_says_why(inline_engine, plan_batch, script, store):
    batch = plan_batch(10, max_attempts=1, fail_fast_failures=3)
    script.default = "fail"
    inline_engine.start(batch)
    inline_engine.drain()
    assert store.get_batch(batch)["state"] == "paused"
    assert store.counts_by_state(batch) == {"failed": 3, "queued": 7}
    last = [e for e in store.events(batch) if e["kind"] == "batch_transition"][-1]
    assert last["to_state"] == "paused" and "fail-fast: 3 failures in a row" in last["reason"]


def test_retry_failed_requeues_with_a_fresh_budget(inline_engine, plan_batch, script, store):
    batch = plan_batch(3, max_attempts=1)
    bad = store.items(batch)["product_id"][0]
    script.plan[bad] = ["fail", "ok"]
    inline_engine.start(batch)
    inline_engine.drain()
    assert store.get_batch(batch)["state"] == "completed" and store.counts_by_state(batch)["failed"] == 1
    assert inline_engine.retry_failed(batch) == 1
    inline_engine.drain()
    assert store.counts_by_state(batch) == {"completed": 3} and store.get_batch(batch)["state"] == "completed"


def test_skip_queued_items(inline_engine, plan_batch, script, store):
    batch = plan_batch(4)
    assert inline_engine.skip(batch, [2, 3]) == 2
    inline_engine.start(batch)
    inline_engine.drain()
    assert store.items(batch)["state"].tolist() == ["completed", "skipped", "skipped", "completed"]
    assert len(script.calls) == 2


def test_skipping_an_item_that_is_not_queued_changes_nothing(inline_engine, plan_batch, script, store):
    batch = plan_batch(3)
    inline_engine.start(batch)
    inline_engine.drain()
    events = store.count_events(batch)
    with pytest.raises(IllegalTransition, match="item 1 is completed"):
        inline_engine.skip(batch, [1])
    assert store.count_events(batch) == events


def test_illegal_batch_move_raises_and_writes_nothing(inline_engine, plan_batch, store):
    batch = plan_batch(2)
    with pytest.raises(IllegalTransition, match="is planned; it cannot become stopping"):
        inline_engine.stop(batch)
    assert store.get_batch(batch)["state"] == "planned" and store.count_events(batch) == 1


def test_unknown_batch_is_not_found(inline_engine):
    with pytest.raises(NotFound):
        inline_engine.start("0000-nope")


def test_completed_batch_cannot_be_started_again(inline_engine, plan_batch, script):
    batch = plan_batch(1)
    inline_engine.start(batch)
    inline_engine.drain()
    with pytest.raises(IllegalTransition, match="retry its failed items"):
        inline_engine.start(batch)


def test_stop_of_a_paused_batch_stops_every_queued_item_and_resume_finishes_them(inline_engine, plan_batch, script, store):
    batch = plan_batch(5, max_attempts=1, fail_fast_failures=1)
    script.plan[store.items(batch)["product_id"][0]] = ["fail"]
    inline_engine.start(batch)
    inline_engine.drain()  # fail-fast paused it after the first item
    inline_engine.stop(batch)
    assert store.get_batch(batch)["state"] == "stopped" and store.counts_by_state(batch) == {"failed": 1, "stopped": 4}
    status = inline_engine.status(batch)
    assert (status["done"], status["progress"], status["eta"]) == (1, 0.2, None)  # stopped items are still to do
    inline_engine.start(batch)  # resume a stopped batch: its stopped items re-queue
    inline_engine.drain()
    assert store.counts_by_state(batch) == {"failed": 1, "completed": 4}
    status = inline_engine.status(batch)
    assert (status["done"], status["progress"], status["eta"]["seconds"]) == (5, 1.0, 0.0)


def test_product_that_left_the_catalog_is_skipped(store, plan_batch, script):
    from engine.core.limits import FakeClock
    from engine.run.engine import BatchEngine
    from tests.support.inline import InlineExecutor

    batch = plan_batch(3)
    keep = set(store.items(batch)["product_id"][1:])
    engine = BatchEngine(store, executor_factory=lambda n: InlineExecutor(), clock=FakeClock(), background=False,
                         catalog_ids=keep).open()
    engine.start(batch)
    engine.drain()
    engine.close()
    first = store.items(batch).iloc[0]
    assert first["state"] == "skipped" and len(script.calls) == 2


def test_a_phase_reported_before_the_dispatch_commits_is_not_lost(store, plan_batch):
    from engine.run.live import LiveStatus
    from engine.store import ItemRow, utcnow

    batch = plan_batch(1)
    status = LiveStatus(store.get_batch(batch), store.item_records(batch))
    status.set_phase(1, "discover")  # the runner is faster than the group commit
    status.apply([ItemRow(batch, 1, "running", 1, 0, None, None, utcnow(), None, None, None)])
    assert status.to_dict()["running"][0]["phase"] == "discover"
