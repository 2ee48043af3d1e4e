"""RunState, BatchRunSummary and History without a browser: a real Store, a real BatchEngine, a small catalog."""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any

import pytest

from dashboard.context import AppContext
from dashboard.views import summary_html
from dashboard.views.history import History
from dashboard.views.outcome import OutcomeView
from dashboard.views.run_state import MAX_POINTS, RunState, allowed_actions
from dashboard.views.summary import BatchRunSummary
from engine.core.catalog import Catalog
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings, Capacity
from engine.run.engine import BatchEngine
from engine.runners import RunnerError, register
from engine.service import BatchService
from engine.store import Store
from tests.support.catalogs import products_frame
from tests.support.polling import wait_until

EVIL = "<script>alert(1)</script>"


class Gate:
    """What the test runners do: wait for the gate, or fail for chosen products."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.fail: set[str] = set()


GATE = Gate()


@register("summary-gated")
def gated_runner(product: dict[str, Any], settings: BatchSettings, ctx) -> dict[str, Any]:
    ctx.phase("discover")
    while not GATE.open.wait(0.02):
        ctx.phase("fetch")  # again and again: a phase set before the dispatch is committed is not shown
    ctx.phase("finalize")
    return {"product_id": product["product_id"], "coverage": 1.0, "confidence": 0.9, "conflicts": 0,
            "fields": [{"field": "max_dpi", "value": 26000, "unit": "dpi", "confidence": 0.95, "tier": "manufacturer",
                        "source_url": "javascript:alert(1)", "snippet_id": "s-1", "conflict": False}]}


@register("summary-flaky")
def flaky_runner(product: dict[str, Any], settings: BatchSettings, ctx) -> dict[str, Any]:
    if product["product_id"] in GATE.fail:
        raise RunnerError(f"source timeout for {product['model']}", retryable=False)
    return {"product_id": product["product_id"], "fields": {}}


@pytest.fixture(autouse=True)
def gate():
    GATE.open.clear()
    GATE.fail = set()
    yield GATE
    GATE.open.set()


ROWS = [(f"p{i:02d}", "mouse", ["Logitech", "Razer"][i % 2], f"Model {i}", "") for i in range(6)]
ROWS.append(("p-evil", "mouse", "Evil", EVIL, "<b>v</b>"))


@pytest.fixture
def context(tmp_path):
    store = Store(tmp_path / "summary.duckdb")
    catalog = Catalog(products=products_frame(ROWS), problems=(), source="test")
    engine = BatchEngine(store, abandon_grace=0.5, capacity=Capacity(max_workers=8)).open()  # 7 run at once below
    ctx = AppContext(store, catalog, engine, BatchService(store, catalog, engine))
    yield ctx
    GATE.open.set()
    engine.close()
    store.close()


def plan(ctx: AppContext, runner: str = "summary-gated", **settings: Any) -> str:
    settings.setdefault("retry_backoff_seconds", 0.0)
    request = PlanRequest(selection=Selection(all=True), settings=BatchSettings(runner=runner, **settings))
    return ctx.service.plan(request).batch_run_id


def controls(run: RunState) -> set[str]:
    return {name for name in ("start", "pause", "resume", "stop", "force_stop", "retry_failed")
            if getattr(run, f"can_{name}")}


def polled(run: RunState, condition, timeout: float = 60.0):
    def check():
        run.poll()
        return condition()
    return wait_until(check, timeout=timeout)


# --------------------------------------------------------------------------- the enabled-controls table
@pytest.mark.parametrize("state,failed,expected", [
    ("planned", 0, {"start"}),
    ("running", 0, {"pause", "stop", "force_stop"}),
    ("running", 2, {"pause", "stop", "force_stop"}),
    ("paused", 0, {"resume", "stop", "force_stop"}),
    ("paused", 2, {"resume", "stop", "force_stop", "retry_failed"}),
    ("stopping", 2, {"force_stop"}),
    ("stopped", 0, {"resume"}),
    ("stopped", 1, {"resume", "retry_failed"}),
    ("completed", 0, set()),
    ("completed", 3, {"retry_failed"}),
    (None, 0, set()),
])
def test_controls_are_enabled_only_where_the_transition_table_allows(state, failed, expected):
    allowed = allowed_actions(state, {"failed": failed})
    assert {name for name, ok in allowed.items() if ok} == expected


# --------------------------------------------------------------------------- restore and follow
def test_restore_without_batches_follows_nothing_and_disables_every_control(context):
    run = RunState(context)
    assert run.restore() is None
    assert run.batch_run_id is None and controls(run) == set() and run.status == {}


def test_restore_prefers_the_active_batch_over_a_newer_planned_one(context):
    active = plan(context)
    context.service.start(active)
    newer = plan(context, runner="noop")
    run = RunState(context)
    assert run.restore() == active and newer > active
    assert run.batch_state == "running" and controls(run) == {"pause", "stop", "force_stop"}


def test_restore_falls_back_to_the_latest_batch(context):
    plan(context, runner="noop")
    latest = plan(context, runner="noop")
    run = RunState(context)
    assert run.restore() == latest and run.batch_state == "planned" and controls(run) == {"start"}


def test_poll_moves_the_counters_and_the_running_items(context, gate):
    batch = plan(context, workers=2)
    run = RunState(context)
    run.follow(batch)
    context.service.start(batch)
    polled(run, lambda: [r["phase"] for r in run.status["running"]] == ["fetch", "fetch"])
    assert run.status["counts"]["queued"] == 5 and run.status["current"]["product_id"] == run.status["running"][0]["product_id"]
    gate.open.set()
    polled(run, lambda: run.batch_state == "completed")
    assert run.status["counts"]["completed"] == 7 and run.status["progress"] == 1.0 and controls(run) == set()


def test_follow_reads_a_finished_batch_with_its_history_and_feed(context):
    batch = plan(context, runner="noop")
    context.service.start(batch)
    assert context.engine.wait_idle(60)
    run = RunState(context)
    run.follow(batch)
    assert run.batch_state == "completed" and run.batch["runner"] == "noop"
    assert run.series and run.series[-1]["completed"] == 7
    assert [(e["from_state"], e["to_state"]) for e in run.feed] == [("running", "completed"), ("planned", "running"),
                                                                    (None, "planned")]


def test_follow_async_reads_off_the_loop(context):
    batch = plan(context, runner="noop")
    run = RunState(context)
    asyncio.run(run.follow_async(batch))
    assert run.batch_run_id == batch and run.can_start


# --------------------------------------------------------------------------- actions
def test_pause_resume_stop_through_the_actions_update_the_controls(context, gate):
    batch = plan(context)
    run = RunState(context)
    run.follow(batch)
    asyncio.run(run.start())
    assert run.message_kind == "success" and run.batch_state == "running"
    assert controls(run) == {"pause", "stop", "force_stop"}
    # two items held at the gate through pause, resume and stop: the stop finds them in flight ("stopping")
    polled(run, lambda: run.status["counts"]["running"] == 2)
    asyncio.run(run.pause())
    assert run.batch_state == "paused" and controls(run) == {"resume", "stop", "force_stop"}
    asyncio.run(run.resume())
    assert run.batch_state == "running" and controls(run) == {"pause", "stop", "force_stop"}
    asyncio.run(run.stop())
    assert run.batch_state == "stopping" and controls(run) == {"force_stop"}
    gate.open.set()
    polled(run, lambda: run.batch_state == "stopped")
    assert controls(run) == {"resume"} and run.status["counts"]["stopped"] == 5


def test_force_stop_cancels_running_items_at_once(context):
    batch = plan(context, workers=2)
    run = RunState(context)
    run.follow(batch)
    asyncio.run(run.start())
    polled(run, lambda: run.status["counts"]["running"] == 2)
    asyncio.run(run.force_stop())
    assert run.batch_state == "stopped" and run.status["counts"]["stopped"] == 7 and run.status["running"] == []


def test_an_illegal_action_is_a_message_not_an_exception(context):
    batch = plan(context, runner="noop")
    run = RunState(context)
    run.follow(batch)
    asyncio.run(run.pause())
    assert run.message_kind == "danger" and "planned" in run.message and run.batch_state == "planned"
    assert not run.busy and controls(run) == {"start"}


def test_starting_while_another_batch_runs_runs_both(context):
    """Was test_starting_while_another_batch_runs_names_the_running_one (a refusal): now the second runs too."""
    first = plan(context)
    context.service.start(first)
    run = RunState(context)
    second = plan(context, runner="noop")
    run.follow(second)
    asyncio.run(run.start())
    assert run.message_kind != "danger", run.message
    polled(run, lambda: run.batch_state == "completed")
    assert context.service.status(first)["state"] == "running"


def test_an_action_without_a_batch_says_what_to_do(context):
    run = RunState(context)
    asyncio.run(run.start())
    assert run.message_kind == "warning" and "Batch Run Builder" in run.message


def test_retry_failed_requeues_and_runs_the_failed_items(context, gate):
    gate.fail = {"p01", "p03"}
    batch = plan(context, runner="summary-flaky", max_attempts=1)
    run = RunState(context)
    run.follow(batch)
    asyncio.run(run.start())
    polled(run, lambda: run.batch_state == "completed")
    assert run.status["counts"]["failed"] == 2 and controls(run) == {"retry_failed"}
    assert {f["product_id"] for f in run.failures} == {"p01", "p03"} and all(f["final"] for f in run.failures)
    gate.fail = set()
    asyncio.run(run.retry_failed())
    assert run.message == "Re-queued 2 failed items."
    polled(run, lambda: run.batch_state == "completed" and run.status["counts"]["completed"] == 7)
    assert controls(run) == set()


# --------------------------------------------------------------------------- series, feed, failures
def test_the_series_grows_by_poll_and_is_thinned_past_its_cap(context):
    batch = plan(context, runner="noop")
    run = RunState(context)
    run.follow(batch)
    version = run.series_version
    context.service.start(batch)
    assert context.engine.wait_idle(60)
    run.poll()
    assert run.series[-1]["completed"] == 7 and run.series_version == version  # extended, not replaced
    run.series = [{"t": float(i), "completed": i, "failed": 0, "recent_per_hour": math.nan,
                   "overall_per_hour": math.nan} for i in range(MAX_POINTS)]
    run.status = {}
    run.sample({"state": "completed", "counts": {"completed": 10**6, "failed": 0}, "throughput": {}})
    assert run.series_version == version + 1 and len(run.series) < MAX_POINTS and run.series[-1]["completed"] == 10**6


def test_the_feed_keeps_operator_actions_however_many_items_move(context):
    batch = plan(context, runner="noop")
    run = RunState(context)
    run.follow(batch)
    asyncio.run(run.start())
    assert context.engine.wait_idle(60)
    run.poll()  # the engine's recent_events hold 50 events: 14 item moves, then the batch's own
    actors = [(e["to_state"], e["actor"]) for e in run.feed]
    assert ("running", "dashboard") in actors and ("completed", "engine") in actors
    assert all(e["kind"] != "item_transition" for e in run.feed)


def test_failures_and_counters_survive_a_restart(context, tmp_path, gate):
    gate.fail = {"p02"}
    batch = plan(context, runner="summary-flaky", max_attempts=1)
    context.service.start(batch)
    assert context.engine.wait_idle(60)
    context.engine.close()
    engine = BatchEngine(context.store).open()  # a new process on the same file: its memory starts empty
    try:
        restarted = AppContext(context.store, context.catalog, engine, BatchService(context.store, context.catalog, engine))
        run = RunState(restarted)
        assert run.restore() == batch
        assert run.status["counts"] == {"queued": 0, "running": 0, "completed": 6, "failed": 1, "skipped": 0,
                                        "stopped": 0}
        assert [f["product_id"] for f in run.failures] == ["p02"] and "source timeout" in run.failures[0]["error"]
    finally:
        engine.close()


def test_a_finished_batch_gives_way_to_a_newer_one_a_planned_one_does_not(context):
    first = plan(context, runner="noop")
    context.service.start(first)
    assert context.engine.wait_idle(60)
    run = RunState(context)
    run.follow(first)
    second = plan(context, runner="noop")
    context.service.start(second)
    assert asyncio.run(run.follow_newer_async()) and run.batch_run_id == second
    assert context.engine.wait_idle(60)
    third = plan(context, runner="noop")
    run.follow(third)
    plan(context, runner="noop")
    assert not asyncio.run(run.follow_newer_async()) and run.batch_run_id == third


# --------------------------------------------------------------------------- the view, without a browser
def test_force_stop_asks_for_confirmation_first(context):
    batch = plan(context, workers=2)
    context.service.start(batch)
    view = BatchRunSummary(context=context)
    view.__panel__()  # no server: restores at once
    run = view.run
    polled(run, lambda: run.status["counts"]["running"] == 2)
    assert not view.buttons["force_stop"].disabled and view.buttons["start"].disabled
    view.buttons["force_stop"].clicks += 1
    assert view.confirming_force_stop and run.batch_state == "running"
    assert "2 running products" in view.confirm_text.object
    asyncio.run(view.confirm_force_stop())
    assert not view.confirming_force_stop and run.batch_state == "stopped"
    assert view.buttons["force_stop"].disabled and not view.buttons["resume"].disabled


def test_the_view_shows_counters_and_escapes_product_text(context, gate):
    batch = plan(context, workers=7)
    context.service.start(batch)
    view = BatchRunSummary(context=context)
    view.__panel__()
    polled(view.run, lambda: view.run.status["counts"]["running"] == 7)
    assert view.counters["running"].value == 7 and view.counters["queued"].value == 0
    assert EVIL not in view.running.object and "&lt;script&gt;" in view.running.object
    assert view.items.total == 7  # read when shown
    view.item_state = "running"
    view.items.load()
    assert view.items.total == 7
    gate.open.set()
    polled(view.run, lambda: view.run.batch_state == "completed")
    view.stop()


def test_the_items_table_filters_by_state(context, gate):
    gate.fail = {"p00"}
    batch = plan(context, runner="summary-flaky", max_attempts=1)
    context.service.start(batch)
    assert context.engine.wait_idle(60)
    view = BatchRunSummary(context=context)
    view.__panel__()
    view.item_state = "failed"
    view.items.load()
    assert view.items.total == 1 and list(view.items.frame["product_id"]) == ["p00"]
    assert "source timeout" in view.items.frame["last_error"].iloc[0]


# --------------------------------------------------------------------------- history and outcomes
def test_history_lists_batches_with_counts_and_opens_items_and_events(context, gate):
    gate.fail = {"p04"}
    batch = plan(context, runner="summary-flaky", max_attempts=1)
    context.service.start(batch)
    assert context.engine.wait_idle(60)
    history = History(context)
    history.__panel__()
    row = history.batches.frame.iloc[0]
    assert row["batch_run_id"] == batch and (row["outcome"], row["result"]) == ("6 succeeded, 1 failed", "partial")
    history.open_now(batch)
    assert history.detail["counts"] == {"completed": 6, "failed": 1}
    assert history.items.total == 7 and history.events.total == context.store.count_events(batch)
    assert history.events.frame.iloc[0]["kind"] == "batch"  # newest first: the batch completed
    history.item_state = "failed"
    history.items.load()
    assert list(history.items.frame["product_id"]) == ["p04"]


def test_outcome_view_shows_fields_with_evidence_escaped(context, gate):
    gate.open.set()
    batch = plan(context)
    context.service.start(batch)
    assert context.engine.wait_idle(60)
    view = OutcomeView(context)
    view.product_id = "p-evil"
    view.load()
    assert view.outcome["fields"][0]["field"] == "max_dpi"
    html = view.head.object + view.evidence.object
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "26,000 dpi" in html and "manufacturer" in html and "s-1" in html
    assert 'href="javascript' not in html  # only http(s) sources become links


def test_outcome_view_says_when_a_product_never_ran(context):
    view = OutcomeView(context)
    view.show("p00")  # no server: the read runs at once
    assert view.outcome is None and "no recorded outcome" in view.error and "no recorded outcome" in view.head.object


def test_render_escapes_every_data_field():
    row = {"seq": 1, "brand": EVIL, "model": "<b>m</b>", "variant": "&", "product_id": "<i>", "attempt": 1,
           "error": "<img src=x onerror=alert(1)>", "final": True, "phase": "<x>"}
    for text in (summary_html.running_html([row], "running"), summary_html.failures_html([row]),
                 summary_html.feed_html([{"kind": "<k>", "reason": EVIL, "actor": "<a>", "to_state": "<s>"}])):
        assert "<script>" not in text and "<img" not in text and "<b>m" not in text and "<x>" not in text


def test_history_hands_a_batch_to_the_run_summary(context):
    older = plan(context, runner="noop")
    plan(context, runner="noop")
    run = RunState(context)
    run.restore()
    history = History(context, run_state=run)
    history.open_now(older)
    asyncio.run(history.watch_live())
    assert run.batch_run_id == older and run.can_start
