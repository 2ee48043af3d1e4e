"""A harvest batch over real HTTP through the real engine: domain caps, throttling, cooldowns."""

from __future__ import annotations

import pytest

from engine.core.catalog import Catalog
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings
from engine.run.engine import BatchEngine
from engine.service import BatchService
from engine.store import Store
from tests.support.catalogs import products_frame
from tests.support.harvest import page, spec_table, write_corpus
from tests.support.polling import wait_until
from tests.support.sites import SiteServer

PRODUCTS = [f"mouse-acme-swift-{i}" for i in range(4)]
DOMAINS = {"manufacturer": "acme.test", "lab_review": "lab.test", "retailer": "shop.test"}
BASE_COOLDOWN = 0.05


def _page(tier: str, i: int) -> str:
    if tier == "manufacturer":
        return page(spec_table({"Weight": "58 g", "Max DPI": f"{20 + i},000 DPI", "Sensor": f"Focus {i}"}))
    if tier == "lab_review":
        return page(f"<p>The sensor is rated for {20 + i}K DPI and it weighs 58 grams.</p>")
    return page("<ul><li>Weight: 2.05 oz</li><li>Polling rate: 8 kHz</li></ul>")


@pytest.fixture(scope="module")
def site():
    pages = {f"/{domain}/{pid}.html": _page(tier, i)
             for i, pid in enumerate(PRODUCTS) for tier, domain in DOMAINS.items()}
    server = SiteServer(pages, throttle={"lab.test": [429], "shop.test": [503]}, retry_after=1).start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def http_corpus(tmp_path_factory, site):
    sources = [{"source_id": f"{pid}-{tier}", "product_id": pid, "tier": tier, "domain": domain,
                "doc_id": f"{pid}-{tier}", "url": site.url(domain, f"{pid}.html")}
               for pid in PRODUCTS for tier, domain in DOMAINS.items()]
    return write_corpus(tmp_path_factory.mktemp("remote"), sources, docs=None)


@pytest.fixture(scope="module")
def batch_store(tmp_path_factory):
    with Store(tmp_path_factory.mktemp("db") / "indexlab.duckdb") as store:
        yield store


@pytest.fixture(scope="module")
def finished_batch(batch_store, http_corpus):
    """Plan and run one batch to completion on a real engine (once for the module); yields (engine, batch_run_id)."""
    store = batch_store
    catalog = Catalog(products=products_frame([(pid, "mouse", "Acme", f"Swift {i}", "") for i, pid in enumerate(PRODUCTS)]),
                      problems=(), source="test")
    settings = BatchSettings(runner="harvest", corpus=str(http_corpus), workers=4, domain_concurrency=1,
                             domain_cooldown_seconds=BASE_COOLDOWN, max_attempts=1, max_run_seconds=60)
    batch_id = BatchService(store, catalog).plan(
        PlanRequest(selection=Selection(all=True), settings=settings, confirm_large=True)).batch_run_id
    engine = BatchEngine(store, abandon_grace=0.5).open()
    try:
        engine.start(batch_id)
        wait_until(lambda: engine.status(batch_id)["state"] == "completed", timeout=60,
                   message=f"batch did not complete: {engine.status(batch_id)['counts']}")
        engine.wait_idle(60)
        yield engine, batch_id
    finally:
        engine.close()


def test_the_batch_completes_with_fields_extracted_over_http(batch_store, finished_batch):
    store = batch_store
    _, batch_id = finished_batch
    assert set(store.items(batch_id)["state"]) == {"completed"}
    for i, pid in enumerate(PRODUCTS):
        outcome = store.latest_outcome(pid)
        fields = {f["field"]: f for f in outcome["fields"]}
        assert fields["weight"]["value"] == 58 and not fields["weight"]["conflict"]
        assert fields["max_dpi"]["value"] == (20 + i) * 1000
        assert fields["polling_rate"]["value"] == 8000
        assert {s["status"] for s in outcome["summary"]["sources"]} == {"ok"}


def test_the_per_domain_concurrency_cap_is_never_exceeded(site, finished_batch):
    engine, _ = finished_batch
    for domain in DOMAINS.values():
        assert site.max_active[domain] == 1, domain
        assert engine.limits.domains.max_in_flight_seen(domain) == 1, domain


def test_throttled_domains_grow_their_cooldown_and_honour_retry_after(site, finished_batch):
    engine, _ = finished_batch
    assert engine.limits.domains.cooldown("lab.test") > BASE_COOLDOWN
    assert engine.limits.domains.cooldown("shop.test") > BASE_COOLDOWN
    assert engine.limits.domains.cooldown("acme.test") == pytest.approx(BASE_COOLDOWN)
    for domain in ("lab.test", "shop.test"):
        log = site.requests_to(domain)
        for before, after in zip(log, log[1:]):
            if before["status"] in (429, 503):
                assert after["started"] - before["ended"] >= 0.9, f"{domain} retried before Retry-After: 1 elapsed"


def test_throttled_requests_were_retried_not_recorded_as_errors(site, finished_batch):
    assert [r["status"] for r in site.requests_to("lab.test")][:1] == [429]
    assert [r["status"] for r in site.requests_to("shop.test")][:1] == [503]
    assert sum(r["status"] == 200 for r in site.requests_to("lab.test")) == len(PRODUCTS)
    assert sum(r["status"] == 200 for r in site.requests_to("shop.test")) == len(PRODUCTS)


def test_an_unreachable_source_is_an_error_of_that_source(tmp_path, site):
    from tests.support.harvest import run, source

    corpus = write_corpus(tmp_path / "c", [
        {**source("up", "manufacturer", None), "domain": "acme.test", "url": site.url("acme.test", f"{PRODUCTS[0]}.html"),
         "product_id": PRODUCTS[0]},
        {**source("down", "retailer", None), "domain": "gone.test", "url": "http://127.0.0.1:9/nothing.html",
         "product_id": PRODUCTS[0]},
        {**source("404", "retailer", None), "domain": "acme.test", "url": site.url("acme.test", "missing.html"),
         "product_id": PRODUCTS[0]}])
    outcome = run({"product_id": PRODUCTS[0], "category": "mouse", "brand": "Acme", "model": "Swift 0", "variant": ""},
                  corpus=str(corpus))
    statuses = {s["source_id"]: (s["status"], s["error"]) for s in outcome["sources"]}
    assert statuses["up"] == ("ok", None)
    assert statuses["down"][0] == "error" and "ConnectError" in statuses["down"][1]
    assert statuses["404"] == ("error", "HTTP 404")
    assert {f["field"] for f in outcome["fields"]} >= {"weight", "max_dpi"}
