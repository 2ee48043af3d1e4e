"""Plan Preview's form in Chromium, served whole by ``indexlab serve`` (2,110 products): the large-batch
confirmation answers a click on its text, and the settings form refuses what the API refuses, next to the field."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.support.polling import wait_until

pytestmark = pytest.mark.browser


def open_preview(server, page, select: str = "Select All"):
    """The page with a selection made (``select``: a builder button) and the Plan Preview tab shown."""
    p = page.page
    p.goto(server.url + "/")
    p.get_by_role("button", name=select, exact=True).first.click()
    expect(p.locator(".summary-text")).not_to_have_text("0 selected across 0 brands", timeout=15_000)
    p.get_by_text("Plan Preview", exact=True).first.click()
    expect(p.locator(".preview-summary").first).to_be_visible(timeout=20_000)
    return p


def start_button(p):
    return p.get_by_role("button", name="Start Batch", exact=True)


def field(p, name: str):
    """The input of the settings form's field ``name`` (its css class is ``setting-<name>``)."""
    return p.locator(f".setting-{name} input").first


def batches(server) -> int:
    return len(httpx.get(server.url + "/api/v1/indexlab/batch").json()["batches"])


def test_clicking_the_confirmation_text_confirms_a_large_batch(server, page):
    p = open_preview(server, page)
    text = p.get_by_text("I confirm this batch of 2,110 items", exact=False)
    expect(text).to_be_visible(timeout=15_000)
    expect(start_button(p)).to_be_disabled()
    text.click()
    expect(start_button(p)).to_be_enabled(timeout=10_000)
    text.click()  # and again: withdrawn
    expect(start_button(p)).to_be_disabled(timeout=10_000)
    assert page.errors == [] and page.outside_requests == []


@pytest.mark.parametrize("typed", ["0", "500"])
def test_workers_out_of_bounds_shows_an_inline_error_and_saves_nothing(server, page, typed):
    p = open_preview(server, page, select="Select Brand")
    box = field(p, "workers")
    before = box.input_value()
    box.fill(typed)
    box.press("Enter")
    error = p.locator(".setting-error-workers")
    expect(error).to_contain_text("workers", timeout=10_000)
    expect(error).to_contain_text("64" if typed == "500" else "1")
    expect(start_button(p)).to_be_disabled()
    # The preview keeps the last good settings: the snapshot still shows the workers it had.
    expect(p.locator(".preview-summary")).to_contain_text(f"with {before} worker")
    assert batches(server) == 0
    box.fill("3")  # a good value clears the error and is used
    box.press("Enter")
    expect(error).to_be_hidden(timeout=10_000)
    expect(p.locator(".preview-summary")).to_contain_text("with 3 workers", timeout=15_000)
    expect(start_button(p)).to_be_enabled(timeout=15_000)
    assert page.errors == [] and page.outside_requests == []


def test_the_estimate_without_history_says_it_is_a_rough_guess(server, page):
    p = open_preview(server, page, select="Select Brand")
    expect(p.locator(".preview-summary")).to_contain_text("no history: rough guess", timeout=15_000)
    assert page.errors == [] and page.outside_requests == []


def test_a_start_from_the_page_names_the_session_in_the_audit_trail(server, page):
    p = open_preview(server, page, select="Select Brand")
    start_button(p).click()
    base = server.url + "/api/v1/indexlab/batch"
    wait_until(lambda: httpx.get(base).json()["batches"], timeout=30, message="no batch was saved")
    batch = httpx.get(base).json()["batches"][0]["batch_run_id"]
    wait_until(lambda: len(httpx.get(f"{base}/{batch}/events").json()["events"]) >= 2, timeout=30)
    actors = {e["actor"] for e in httpx.get(f"{base}/{batch}/events").json()["events"] if e.get("actor")}
    sessions = {a for a in actors if a.startswith("dashboard")}  # the engine's and runner's own events aside
    assert len(sessions) == 1 and next(iter(sessions)).startswith("dashboard:") and "dashboard" not in sessions, actors
    assert page.errors == [] and page.outside_requests == []
