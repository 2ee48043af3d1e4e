"""Nothing is fetched from outside the server: every tab, and a product id clicked in the grid (which shows its
evidence in the Builder, without leaving it). Every request the page makes is recorded (``page.on("request")``) as
well as routed (tests/support/browser.py aborts and records any non-loopback one)."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.polling import wait_until

pytestmark = pytest.mark.browser
TABS = ("Batch Run Builder", "Plan Preview", "Batch Run Summary", "Running & queued", "History")


def record(page) -> list[str]:
    seen: list[str] = []
    page.page.on("request", lambda request: seen.append(request.url))
    return seen


def outside(urls: list[str]) -> list[str]:
    return [u for u in urls if not u.startswith(("data:", "blob:")) and urlsplit(u).hostname != "127.0.0.1"]


def active_tab(p) -> str:
    return p.locator(".bk-tab.bk-active").first.inner_text().strip()


def completed_batch(server, product_id: str) -> str:
    base = server.url + "/api/v1/indexlab/batch"
    batch = httpx.post(f"{base}/plan", json={"selection": {"product_ids": [product_id]}}).json()["batch_run_id"]
    httpx.post(f"{base}/start", json={"batch_run_id": batch})
    wait_until(lambda: httpx.get(f"{base}/{batch}/status").json()["state"] == "completed", timeout=60)
    return batch


def test_every_tab_loads_only_from_the_server(server, page):
    seen = record(page)
    p = page.page
    p.goto(server.url + "/")
    p.get_by_role("button", name="Select Brand", exact=True).first.click()
    for tab in (*TABS[1:], TABS[0]):
        p.get_by_text(tab, exact=True).first.click()
        wait_until(lambda t=tab: active_tab(p) == t, message=f"{tab} never became the active tab")
        expect(p.locator(".bk-panel-models-layout-Column:visible").first).to_be_visible(timeout=15_000)
    p.get_by_text("History", exact=True).first.click()
    expect(p.get_by_text("No batches (none yet, or none match the filters).")).to_be_visible(timeout=15_000)
    assert len(seen) > 10 and outside(seen) == [] and page.outside_requests == [], outside(seen)
    assert page.errors == [], page.errors


def test_a_product_id_click_shows_its_evidence_in_the_builder_and_loads_only_from_the_server(server, page):
    """History opened first: its outcome pane, updated while hidden, once made Panel name its CDN stylesheet."""
    completed_batch(server, "mouse-zowie-ec2-c")
    seen = record(page)
    p = page.page
    p.goto(server.url + "/")
    p.get_by_text("History", exact=True).first.click()
    expect(p.locator(".history-batches, .bk-panel-models-tabulator-DataTabulator").first).to_be_visible(timeout=15_000)
    p.get_by_text("Batch Run Builder", exact=True).first.click()
    p.get_by_placeholder("brand, model, variant or product id").fill("mouse-zowie-ec2-c")
    p.keyboard.press("Enter")
    cell = p.locator(".tabulator-cell[tabulator-field='product_id']", has_text="mouse-zowie-ec2-c").first
    cell.wait_for(timeout=15_000)
    cell.click()
    details = p.locator(".builder-outcome")
    expect(details).to_contain_text("zowie.benq.com", timeout=20_000)
    assert active_tab(p) == "Batch Run Builder"
    assert outside(seen) == [] and page.outside_requests == [], outside(seen) + page.outside_requests
    p.locator(".close-outcome button").click()
    expect(details).to_be_hidden(timeout=10_000)
    assert page.errors == [], page.errors
