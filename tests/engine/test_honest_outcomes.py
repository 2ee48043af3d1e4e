"""Issue #12: a batch never looks successful when it is not, and its failures can be triaged by the thousand.

Deterministic: an inline engine (inline executor, synchronous writer, fake clock) on a real DuckDB file,
read through the service as every face reads it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from engine.core.catalog import Catalog
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings
from engine.runners import RunnerError, register
from engine.service import BatchService
from engine.store import utcnow
from tests.support.catalogs import product_rows


def _service(store, engine, n: int) -> BatchService:
    return BatchService(store, Catalog(products=product_rows(n), problems=(), source="test"), engine)


def _run(inline_engine, batch: str) -> dict[str, Any]:
    inline_engine.start(batch)
    inline_engine.drain()
    return inline_engine.status(batch)


def test_a_batch_whose_items_all_failed_is_failed_not_green(inline_engine, plan_batch, script, store):
    batch = plan_batch(6, max_attempts=1, fail_fast_failures=0)
    script.default = "fatal"
    status = _run(inline_engine, batch)
    assert status["state"] == "completed" and status["result"] == "failed"
    assert status["outcomes"] == {"succeeded": 0, "needs_review": 0, "failed": 6, "skipped": 0, "stopped": 0,
                                  "unfinished": 0}
    assert status["reason"] == "every item finished: Failed: 0 succeeded, 6 failed"
    assert store.get_batch(batch)["reason"] == status["reason"]  # persisted, not only in memory
    assert _service(store, None, 6).batches()[0]["result"] == "failed"


def test_a_mixed_batch_is_partial_and_a_clean_one_succeeded(inline_engine, plan_batch, script, store):
    mixed = plan_batch(6, max_attempts=1, fail_fast_failures=0)
    script.plan = {"p0001": ["fatal"], "p0004": ["fatal"]}
    status = _run(inline_engine, mixed)
    assert status["result"] == "partial" and status["outcomes"]["succeeded"] == 4
    assert status["result_text"] == "Partial: 4 succeeded, 2 failed"
    script.plan = {}
    clean = plan_batch(3)
    assert _run(inline_engine, clean)["result"] == "succeeded"
    by_id = {b["batch_run_id"]: b for b in _service(store, None, 6).batches()}
    assert (by_id[mixed]["result"], by_id[clean]["result"]) == ("partial", "succeeded")


@register("half-covered")
def half_covered(product: dict[str, Any], settings: BatchSettings, ctx) -> dict[str, Any]:
    """Odd products find every required field; even ones lack weight and sensor (coverage 0.5)."""
    full = int(product["product_id"][1:]) % 2
    return {"product_id": product["product_id"], "coverage": 1.0 if full else 0.5,
            "missing": [] if full else ["weight", "sensor"], "fields": []}


def test_products_below_the_quality_gate_need_review_and_the_batch_is_partial(inline_engine, plan_batch, store):
    batch = plan_batch(6, runner="half-covered")  # default gate: 0.8
    status = _run(inline_engine, batch)
    assert status["state"] == "completed" and status["counts"]["completed"] == 6
    assert status["result"] == "partial" and status["outcomes"]["needs_review"] == 3
    service = _service(store, inline_engine, 6)
    review = service.needs_review(batch)
    assert review["count"] == 3 and review["min_required_coverage"] == 0.8
    assert review["missing_fields"] == [{"field": "sensor", "products": 3}, {"field": "weight", "products": 3}]
    page, total = service.items(batch, gate="needs_review")
    assert total == 3 and set(page["coverage"]) == {0.5}
    # the operator re-runs just those, as a new batch with another profile
    rerun = service.rerun(batch, which="needs_review", settings={"profile": "thorough"})
    assert rerun.summary.total == 3
    again = service.batch(rerun.batch_run_id)
    assert again["settings"]["profile"] == "thorough" and again["settings"]["runner"] == "half-covered"
    assert sorted(store.items(rerun.batch_run_id)["product_id"]) == sorted(page["product_id"])


def test_a_gate_of_zero_is_off(inline_engine, plan_batch):
    batch = plan_batch(4, runner="half-covered", min_required_coverage=0)
    assert _run(inline_engine, batch)["result"] == "succeeded"


def test_force_stopped_items_are_never_failures(engine, plan_batch, script, store):
    from tests.support.polling import wait_until

    batch = plan_batch(6, workers=2)
    script.default = "block"
    engine.start(batch)
    wait_until(lambda: engine.status(batch)["counts"]["running"] == 2)
    status = engine.stop(batch, force=True)
    assert status["counts"]["stopped"] == 6 and status["counts"]["failed"] == 0
    assert status["recent_failures"] == [] and status["result"] == "failed"  # nothing succeeded
    assert status["reason"] == "force stop"
    assert _service(store, None, 6).failure_groups(batch) == []


def test_fail_fast_leaves_its_reason_and_group_and_a_later_status_shows_the_failures(inline_engine, plan_batch,
                                                                                       script, store):
    batch = plan_batch(10, max_attempts=1, fail_fast_failures=3)
    script.default = "fatal"
    status = _run(inline_engine, batch)
    assert status["state"] == "paused"
    assert status["reason"].startswith("fail-fast: 3 failures in a row (reason group: bad product <product_id>)")
    # another process reads the store: the reason and the failures are there (before: halted null, failures [])
    offline = _service(store, None, 10).status(batch)
    assert offline["reason"] == status["reason"] and len(offline["recent_failures"]) == 3
    assert offline["recent_failures"][0]["error"].startswith("bad product")


@register("five-reasons", durable_dispatch=False)
def five_reasons(product: dict[str, Any], settings: BatchSettings, ctx) -> dict[str, Any]:
    """Fails every product, for one of five reasons, each message carrying what varies per product."""
    pid = product["product_id"]
    i = int(pid[1:])
    messages = (f"exit 1: source timeout for {pid} after {i % 7}.{i % 10}s",
                f"exit 1: GET https://shop.example/{pid}?page={i} returned 503",
                f"exit 3: parser failed at line {i} of /tmp/pages/{pid}.html",
                f"exit 1: checksum {uuid.uuid4()} mismatch",
                f"{product['model']} has no price ({i} offers seen)")
    raise RunnerError(messages[i % 5], retryable=False)


def test_thousands_of_failures_group_into_their_five_reasons_and_one_group_is_retried(engine, plan_batch, store):
    n = 3000
    batch = plan_batch(n, runner="five-reasons", max_attempts=1, fail_fast_failures=0, workers=8)
    engine.start(batch)
    assert engine.wait_idle(120) and engine.status(batch)["result"] == "failed"
    service = _service(store, engine, n)
    groups = service.failure_groups(batch)
    assert sorted(g["reason"] for g in groups) == sorted([
        "exit 1: source timeout for <product_id> after <n>s", "exit 1: GET <url> returned <n>",
        "exit 3: parser failed at line <n> of <path>", "exit 1: checksum <id> mismatch",
        "<model> has no price (<n> offers seen)"])
    assert [g["count"] for g in groups] == [600] * 5
    timeout = next(g for g in groups if "timeout" in g["reason"])
    in_run_order = store.item_ids(batch, state="failed", reason=timeout["reason"])
    assert [(e["seq"], e["product_id"]) for e in timeout["examples"]] == in_run_order[:5]  # the first five in run order
    assert {int(pid[1:]) % 5 for _, pid in in_run_order} == {0}
    assert timeout["first_seen"] <= timeout["last_seen"] and "source timeout for p" in timeout["example_error"]
    page, total = service.items(batch, reason=timeout["reason"], limit=10)
    assert total == 600 and set(page["state"]) == {"failed"}

    assert service.retry_failed(batch, reason=timeout["reason"]) == 600  # re-queued and run again (and failed again)
    assert engine.wait_idle(120)
    retried = [e for e in store.events(batch, limit=100_000) if e["reason"] == "retry failed"]
    assert sorted(e["seq"] for e in retried) == sorted(seq for seq, _ in in_run_order)  # exactly that group
    assert store.count_items(batch, state="failed") == n
    assert [g["count"] for g in service.failure_groups(batch)] == [600] * 5


def test_estimates_learn_only_from_real_runs_and_say_so(inline_engine, plan_batch, store):
    service = _service(store, inline_engine, 12)
    request = PlanRequest(selection=Selection(all=True), settings=BatchSettings(runner="half-covered"))
    assert service.preview(request).summary.estimate.basis == "profile_default"
    assert "no history: rough guess" in service.preview(request).summary.estimate.basis_text
    batch = plan_batch(12, runner="half-covered")
    _run(inline_engine, batch)
    estimate = service.preview(request).summary.estimate
    assert estimate.basis == "history" and estimate.history_samples == 12
    assert estimate.basis_text.startswith("from 12 runs of the standard profile with runner half-covered in the last 30 days")
    # an old run, or a run that found nothing (coverage 0: no sources), is no basis
    assert store.completed_durations("standard", "half-covered", since=utcnow() + timedelta(days=1)) == []


@register("no-sources")
def no_sources(product: dict[str, Any], settings: BatchSettings, ctx) -> dict[str, Any]:
    return {"product_id": product["product_id"], "coverage": 0.0, "missing": ["weight"], "fields": []}


def test_instant_non_runs_teach_the_estimate_nothing(inline_engine, plan_batch, store):
    batch = plan_batch(8, runner="no-sources")
    status = _run(inline_engine, batch)
    assert status["result"] == "failed" and status["outcomes"]["needs_review"] == 8  # none passed its gate
    assert store.completed_durations("standard", "no-sources", since=utcnow() - timedelta(days=1)) == []
