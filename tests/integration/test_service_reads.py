"""The service's typed reads (engine.service.models) on a real DuckDB file after a real engine ran a batch:
what the views start from when they follow a batch, and what History and the outcome view show."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.catalog import Catalog
from engine.core.errors import NotFound
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings
from engine.run.engine import BatchEngine
from engine.runners import RunnerError, register
from engine.service import BatchService, Failure, FeedEvent
from engine.service.reads import FEED_KINDS
from tests.support.catalogs import products_frame
from tests.support.polling import wait_until

PRODUCTS = [(f"p{i}", "mouse", "Zowie", f"Model {i}", "") for i in range(6)]


@register("reads-odd-fail")
def _odd_fail(product: dict[str, Any], settings: BatchSettings, ctx) -> dict[str, Any]:
    if int(product["product_id"][1:]) % 2:
        raise RunnerError(f"source timeout for {product['product_id']}", retryable=False)
    return {"product_id": product["product_id"], "fields": {"dpi": 26000}, "coverage": 1.0}


@pytest.fixture
def ran(store):
    engine = BatchEngine(store, abandon_grace=0.5).open()
    service = BatchService(store, Catalog(products=products_frame(PRODUCTS), problems=(), source="test"), engine)
    settings = BatchSettings(runner="reads-odd-fail", max_attempts=1, fail_fast_failures=0)
    batch = service.plan(PlanRequest(selection=Selection(all=True), settings=settings)).batch_run_id
    service.start(batch)
    wait_until(lambda: service.batch_status(batch).state.value == "completed", timeout=30)
    yield service, batch
    engine.close()


def test_following_a_finished_batch_starts_from_its_stored_failures_feed_and_finish_times(ran):
    service, batch = ran
    failures = service.failures_seed(batch)
    assert all(isinstance(f, Failure) and f.final for f in failures)
    assert sorted(f.product_id for f in failures) == ["p1", "p3", "p5"]
    assert [f.at for f in failures] == sorted((f.at for f in failures), reverse=True)  # newest first
    assert {f.error for f in failures} == {f"source timeout for p{i}" for i in (1, 3, 5)}
    assert len(service.failures_seed(batch, keep=2)) == 2

    feed = service.feed_seed(batch)
    assert feed and all(isinstance(e, FeedEvent) and e.kind in FEED_KINDS for e in feed)
    assert ("running", "completed") in {(e.from_state, e.to_state) for e in feed if e.kind == "batch_transition"}

    done = service.finish_times(batch)
    assert list(done.columns) == ["state", "finished_at"] and len(done) == 6
    assert done["finished_at"].is_monotonic_increasing


def test_history_reads_one_page_of_batches_with_results_and_no_outcome_for_a_failed_product(ran):
    service, batch = ran
    page = service.batch_page(limit=10)
    assert [b.batch_run_id for b in page.batches] == [batch]
    summary = page.batches[0]
    assert summary == service.batch_summary(batch)
    assert summary.result == "partial" and summary.outcomes.failed == 3 and summary.outcomes.succeeded == 3

    with pytest.raises(NotFound):
        service.product_outcome("p1")  # failed: it never recorded an outcome
    with pytest.raises(NotFound):
        service.feed_seed("no-such-batch")


def test_typed_reads_match_the_untyped_ones(ran):
    service, batch = ran
    assert service.batch_status(batch).model_dump(mode="json")["counts"] == service.status(batch)["counts"]
    report = service.failure_report(batch, limit=1)
    assert report.failed == 3 and len(report.groups) == 1
    items = service.item_page(batch, state="failed", limit=2)
    assert items.total == 3 and [i.product_id for i in items.items] == ["p1", "p3"]
    events = service.event_page(batch, limit=5)
    assert events.total == service.events(batch)[1] and len(events.events) == 5
    assert service.review_report(batch).count == 0
    assert service.batch_settings(batch).runner == "reads-odd-fail"
    assert service.product_page(status="never run").total == 0
    assert service.product_page(search="model 1", limit=1).products[0].product_id == "p1"
