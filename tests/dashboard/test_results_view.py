"""Honest outcomes on the dashboard without a browser: result badge and bar, reasons, triage panels, item events.

A real Store and BatchEngine; the ``triage`` runner decides by the product id: ``ok-*`` finds every field,
``low-*`` a third of them (below the gate), ``ta-*`` times out, ``nb-*`` has no parser (two reason groups).
"""

from __future__ import annotations

import asyncio
import re
import sys
from typing import Any

import pytest

from dashboard.context import AppContext
from dashboard.views import summary_html
from dashboard.views.formats import esc
from dashboard.views.history import History
from dashboard.views.plan_html import plan_html
from dashboard.views.run_state import RunState
from dashboard.views.state import BuilderState
from dashboard.views.summary import BatchRunSummary
from dashboard.views.theme import PALETTE, RESULT_COLORS
from engine.core.catalog import Catalog
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings, Capacity
from engine.run.engine import BatchEngine
from engine.runners import RunnerError, register
from engine.service import BatchService
from engine.store import Store
from tests.support.catalogs import products_frame
from tests.support.polling import wait_until

EVIL = "<img src=x onerror=alert(1)>"
HEALED: set[str] = set()  # product ids whose failure the test has "fixed"


@register("triage")
def triage_runner(product: dict[str, Any], settings: BatchSettings, ctx) -> dict[str, Any]:
    pid = product["product_id"]
    kind = pid.split("-")[0]
    if kind == "ta" and pid not in HEALED:
        raise RunnerError(f"source timeout after {len(pid) * 7} s for {product['model']}", retryable=False)
    if kind == "nb" and pid not in HEALED:
        raise RunnerError(f"no parser for {EVIL} page {len(pid)}", retryable=False)
    if kind == "low":
        return {"product_id": pid, "coverage": 0.3, "missing": ["weight", EVIL], "fields": {}}
    return {"product_id": pid, "coverage": 1.0, "fields": {}}


@register("triage-hold")
def held_runner(product: dict[str, Any], settings: BatchSettings, ctx) -> dict[str, Any]:
    while not ctx.cancel.wait(0.02):
        pass
    raise RunnerError("cancelled", retryable=False)


ROWS = ([(f"ok-{i}", "mouse", "Logitech", f"G{i}", "") for i in range(3)]
        + [(f"low-{i}", "mouse", "Razer", f"Viper {i}", "") for i in range(2)]
        + [(f"ta-{i}", "mouse", "Zowie", f"EC{i}", "") for i in range(3)]
        + [(f"nb-{i}", "mouse", EVIL, f"M{i}", "") for i in range(2)])


@pytest.fixture
def context(tmp_path):
    HEALED.clear()
    store = Store(tmp_path / "results.duckdb")
    catalog = Catalog(products=products_frame(ROWS), problems=(), source="test")
    engine = BatchEngine(store, abandon_grace=0.5).open()
    ctx = AppContext(store, catalog, engine, BatchService(store, catalog, engine))
    yield ctx
    engine.close()
    store.close()


def run_batch(ctx: AppContext, ids: list[str] | None = None, **settings: Any) -> str:
    settings = {"runner": "triage", "retry_backoff_seconds": 0.0, "max_attempts": 1, **settings}
    selection = Selection(product_ids=ids) if ids else Selection(all=True)
    request = PlanRequest(selection=selection, settings=BatchSettings(**settings), confirm_large=True)
    batch = ctx.service.plan(request).batch_run_id
    ctx.service.start(batch)
    wait_until(lambda: ctx.service.status(batch)["state"] in ("completed", "paused"), timeout=20)
    return batch


def followed(ctx: AppContext, batch: str) -> BatchRunSummary:
    run = RunState(ctx)
    run.follow(batch)
    return BatchRunSummary(run=run, restore_on_load=False)


def groups_text(view: BatchRunSummary) -> str:
    """The failure groups panel's text: each group's HTML, with its own Retry button beside it."""
    return view.groups_table.value.to_csv()


def plain(fragment: str) -> str:
    return re.sub(r"<[^>]+>", "", fragment)


def html_colours(text: str) -> set[str]:
    """Every colour a fragment paints, as hex: literal ones and the theme's CSS variables (var(--il-...))."""
    return ({c.lower() for c in re.findall(r"#[0-9a-fA-F]{6}", text)}
            | {PALETTE[name] for name in re.findall(r"var\(--il-([a-z0-9-]+)\)", text)})


# --------------------------------------------------------------------------- the result, in colour and words
def test_a_failed_batch_shows_a_red_failed_result_and_nothing_green(context):
    batch = run_batch(context, [r[0] for r in ROWS if r[0].startswith(("ta", "nb"))])
    view = followed(context, batch)
    header, progress = view.header.object, view.progress_text.object + view.bar.object
    assert 'class="result-badge"' in header and ">failed<" in header.lower()
    assert RESULT_COLORS["failed"] in header
    assert PALETTE["green-600"] not in html_colours(header + progress)
    assert "Failed: 0 succeeded, 5 failed" in plain(progress) and "of 5 done" not in progress


def test_a_mixed_batch_is_partial_in_amber_with_its_counts(context):
    batch = run_batch(context)
    view = followed(context, batch)
    header = view.header.object
    assert ">partial<" in header.lower() and RESULT_COLORS["partial"] in header
    assert "Partial: 3 succeeded, 2 need review, 5 failed" in plain(view.progress_text.object)
    assert view.counters["needs_review"].value == 2 and view.counters["failed"].value == 5


def test_a_clean_batch_succeeds_in_green(context):
    batch = run_batch(context, ["ok-0", "ok-1"])
    view = followed(context, batch)
    assert ">succeeded<" in view.header.object.lower() and RESULT_COLORS["succeeded"] in view.header.object
    assert "Succeeded: 2 succeeded" in plain(view.progress_text.object)


def test_a_running_batch_keeps_its_state_badge_and_no_result():
    status = {"state": "running", "total": 4, "done": 1, "progress": 0.25, "result": None,
              "outcomes": {"succeeded": 1, "unfinished": 3}, "result_text": "1 succeeded, 3 not run yet",
              "reason": "started by dashboard"}
    header = summary_html.header_html("b1", status, {})
    assert "result-badge" not in header and ">running<" in header
    assert "started by dashboard" in header


def test_the_bar_has_one_segment_per_outcome_in_proportion():
    bar = summary_html.outcome_bar({"succeeded": 2, "needs_review": 1, "failed": 1, "skipped": 0, "stopped": 0,
                              "unfinished": 0})
    widths = dict(re.findall(r'data-outcome="(\w+)" style="width:([\d.]+)%', bar))
    assert widths == {"succeeded": "50.00", "needs_review": "25.00", "failed": "25.00"}


def test_the_header_shows_why_the_batch_paused_with_its_reason_group(context):
    batch = run_batch(context, [r[0] for r in ROWS if r[0].startswith("ta")], fail_fast_failures=2)
    view = followed(context, batch)
    assert context.service.status(batch)["state"] == "paused"
    assert "fail-fast" in view.header.object and "source timeout after &lt;n&gt; s" in view.header.object


def test_stopped_items_never_show_as_failures(context):
    settings = BatchSettings(runner="triage-hold", workers=2)
    batch = context.service.plan(PlanRequest(selection=Selection(all=True), settings=settings)).batch_run_id
    context.service.start(batch)
    wait_until(lambda: len(context.service.status(batch)["running"]) == 2, timeout=10)
    context.service.stop(batch, force=True)
    wait_until(lambda: context.service.status(batch)["state"] == "stopped", timeout=10)
    view = followed(context, batch)
    view.run.load_triage()
    stopped = [g for g in view.run.failure_groups if "stop" in g["reason"].lower()]
    assert stopped == [] and "stopped" not in view.failures.object.lower().replace("no failures", "")


# --------------------------------------------------------------------------- triage panels
def test_failure_groups_list_each_reason_with_counts_and_examples(context):
    batch = run_batch(context)
    view = followed(context, batch)
    view.run.load_triage()
    groups = {g["reason"]: g for g in view.run.failure_groups}
    assert {g["count"] for g in groups.values()} == {3, 2}
    panel = groups_text(view)
    assert "source timeout after <n> s for <model>" in panel and "#8 ta-0, #9 ta-1, #10 ta-2" in panel
    assert "no parser for <brand> page <n>" in panel


def test_retry_this_group_requeues_exactly_that_group(context):
    batch = run_batch(context)
    view = followed(context, batch)
    view.run.load_triage()
    timeout_group = next(g["reason"] for g in view.run.failure_groups if g["reason"].startswith("source timeout"))
    HEALED.update({"ta-0", "ta-1", "ta-2", "nb-0", "nb-1"})  # only the group retried may run again
    row = list(view.groups_table.value["reason"]).index(timeout_group)
    asyncio.run(view.group_clicked(row, "retry"))
    wait_until(lambda: context.service.status(batch)["state"] == "completed", timeout=20)
    items, _ = context.service.items(batch)
    states = dict(zip(items["product_id"], items["state"]))
    assert [states[f"ta-{i}"] for i in range(3)] == ["completed"] * 3
    assert [states[f"nb-{i}"] for i in range(2)] == ["failed"] * 2
    assert "Re-queued 3 failed items" in view.run.message


def test_rerun_needs_review_with_another_profile_plans_a_new_batch_and_shows_it(context):
    batch = run_batch(context)
    view = followed(context, batch)
    view.run.load_triage()
    assert "2 products" in view.review.object and "weight" in view.review.object
    assert esc(EVIL) in view.review.object and EVIL not in view.review.object
    view.rerun_profile = "thorough"
    asyncio.run(view.rerun_needs_review())
    new = view.run.batch_run_id
    assert new != batch and view.run.batch_state == "planned"
    saved = context.service.batch(new)
    assert saved["profile"] == "thorough" and saved["item_count"] == 2
    assert new in view.run.message and "thorough" in view.run.message


# --------------------------------------------------------------------------- items table and item events
def test_the_items_table_searches_and_filters_by_brand_and_reason(context):
    batch = run_batch(context)
    view = followed(context, batch)
    view.item_search = "viper"
    view.items.load()
    assert list(view.items.frame["product_id"]) == ["low-0", "low-1"]
    view.param.update(item_search="", item_brand=EVIL)
    view.items.load()
    assert list(view.items.frame["product_id"]) == ["nb-0", "nb-1"]
    view.run.load_triage()
    reason = next(g["reason"] for g in view.run.failure_groups if g["reason"].startswith("source timeout"))
    view.param.update(item_brand="", item_reason=reason)
    view.items.load()
    assert list(view.items.frame["product_id"]) == ["ta-0", "ta-1", "ta-2"]
    assert EVIL in view.param.item_brand.objects


def test_an_items_events_show_its_jobs_stderr_tail_as_text(context, tmp_path):
    script = tmp_path / "failing.py"
    script.write_text("import sys\nfor i in range(30):\n    print(f'<b>line {i}</b>', file=sys.stderr)\nsys.exit(3)\n")
    batch = run_batch(context, ["ok-0"], runner="command", command=[sys.executable, str(script)])
    view = followed(context, batch)
    view.show_item(1)
    text = view.item_events.object
    assert "stderr tail (20 of 30 lines)" in text and "&lt;b&gt;line 29&lt;/b&gt;" in text and "<b>line" not in text


# --------------------------------------------------------------------------- history, preview, builder
def test_history_lists_each_batch_with_its_result_and_reason(context):
    failed = run_batch(context, ["ta-0"])
    clean = run_batch(context, ["ok-0"])
    history = History(context)
    history.batches.load()
    rows = {r["batch_run_id"]: r for r in history.batches.frame.to_dict("records")}
    assert rows[failed]["result"] == "failed" and rows[clean]["result"] == "succeeded"
    assert "every item finished" in rows[failed]["reason"]


def test_plan_preview_shows_the_quality_gate_and_the_estimates_basis(context):
    state = BuilderState(context.service, runner="triage")
    state.select_all()
    html = plan_html(state.preview.summary)
    assert "Quality gate" in html and "80%" in html and esc(state.preview.summary.estimate.basis_text) in html
    state.min_required_coverage = 0.0
    assert "Quality gate</b> off" in plan_html(state.preview.summary)
    assert state.settings().min_required_coverage == 0.0


# --------------------------------------------------------------------------- at scale
REASONS = ["source timeout after 31 s", "no parser for page 12", "HTTP 503 from https://x.example/p/9",
           "rate limited by provider 7", "schema mismatch in field 4"]


@register("triage-many")
def many_runner(product: dict[str, Any], settings: BatchSettings, ctx) -> dict[str, Any]:
    pid = product["product_id"]
    if pid in HEALED:
        return {"product_id": pid, "coverage": 1.0, "fields": {}}
    raise RunnerError(f"{REASONS[int(pid.split('-')[1]) % 5]} ({pid})", retryable=False)


def test_thousands_of_failures_group_into_five_and_one_group_retries_alone(tmp_path):
    n = 2_500
    rows = [(f"f-{i}", "mouse", ["A", "B", "C"][i % 3], f"M{i}", "") for i in range(n)]
    store = Store(tmp_path / "many.duckdb")
    catalog = Catalog(products=products_frame(rows), problems=(), source="test")
    engine = BatchEngine(store, abandon_grace=0.5, capacity=Capacity(max_workers=8)).open()  # 8 at once, as before
    ctx = AppContext(store, catalog, engine, BatchService(store, catalog, engine))
    try:
        batch = run_batch(ctx, runner="triage-many", workers=8, fail_fast_failures=0)
        view = followed(ctx, batch)
        table = view.groups_table.value
        assert sorted(table["count"]) == [500] * 5 and len(table) == 5
        assert "HTTP <n> from <url>" in " ".join(table["reason"])
        row = next(i for i, r in enumerate(table["reason"]) if r.startswith("no parser"))
        group = {f"f-{i}" for i in range(n) if i % 5 == 1}
        HEALED.update(f"f-{i}" for i in range(n))  # anything that runs again now succeeds
        asyncio.run(view.group_clicked(row, "retry"))
        wait_until(lambda: ctx.service.status(batch)["state"] == "completed", timeout=60)
        items, _ = ctx.service.items(batch)
        assert set(items.loc[items["state"] == "completed", "product_id"]) == group
        assert (items["state"] == "failed").sum() == n - 500
        view.run.load_triage()
        assert sorted(view.groups_table.value["count"]) == [500] * 4
    finally:
        engine.close()
        store.close()
