"""Honest outcomes in Chromium: a failed batch is red and nowhere green, a mixed one amber ``partial`` with its counts,
a clean one green; failure groups group by reason and "Retry this group" re-queues exactly that group.

A real ``panel serve`` of tests/browser/apps/summary_app.py with the REST plugin; batches are planned and started
through the API and run tests/browser/jobs/outcome_job.py through the command runner. Screenshots of the failed and
the partial summary at 1440x900 and 1280x720 land in ``artifacts/results/`` (docs/img holds copies).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import PageWithConsole, watch
from tests.support.catalogs import write_catalog
from tests.support.polling import wait_until
from tests.support.summary import SummaryServer, assert_clean, badge, count, serve_summary, text

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "results"
JOB = Path(__file__).parent / "jobs" / "outcome_job.py"
ROWS = ([(f"ok-{i}", "Logitech", f"G{i}0{i}") for i in range(3)]
        + [(f"low-{i}", "Razer", f"Viper V{i}") for i in range(2)]
        + [(f"ta-{i}", "Zowie", f"EC{i}-C") for i in range(3)]
        + [(f"nb-{i}", "Pulsar", f"X{i}") for i in range(2)])
FAILING = [pid for pid, _, _ in ROWS if pid.startswith(("ta", "nb"))]
ZERO = dict.fromkeys(("queued", "running", "completed", "failed", "skipped", "stopped"), 0)
GREEN, AMBER, RED = "rgb(22, 163, 74)", "rgb(217, 119, 6)", "rgb(220, 38, 38)"

# Every colour the page paints (text, background, border), shadow roots included, with where it was found.
PAINTED = """() => {
  const found = [];
  const visit = (root) => {
    for (const el of root.querySelectorAll('*')) {
      const style = getComputedStyle(el);
      if (el.getClientRects().length)
        for (const c of [style.color, style.backgroundColor, style.borderLeftColor])
          found.push([c, el.tagName.toLowerCase() + '.' + [...el.classList].join('.'), (el.textContent || '').slice(0, 40)]);
      if (el.shadowRoot) visit(el.shadowRoot);
    }
  };
  visit(document);
  return found;
}"""
RESULT_BADGE = """() => {
  const find = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList.contains('result-badge')) return el;
      if (el.shadowRoot) { const hit = find(el.shadowRoot); if (hit) return hit; }
    }
    return null;
  };
  const el = find(document);
  return el ? [el.textContent.trim().toLowerCase(), getComputedStyle(el).backgroundColor] : null;
}"""


@pytest.fixture
def results_app(tmp_path) -> Iterator[SummaryServer]:
    catalog = tmp_path / "catalog.csv"
    write_catalog(catalog, [(pid, "mouse", brand, model, "") for pid, brand, model in ROWS])
    yield from serve_summary(tmp_path, catalog, "results.duckdb")


@pytest.fixture
def session(browser) -> Iterator[PageWithConsole]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    yield watch(context)
    context.close()


def run(app: SummaryServer, ids: list[str] | None = None) -> str:
    """Plan and start a batch of ``ids`` (every product: None) and wait for it to finish."""
    settings = {"runner": "command", "command": [sys.executable, str(JOB), str(app.gate)], "workers": 3,
                "max_attempts": 1, "max_run_seconds": 60}
    selection = {"product_ids": ids} if ids else {"all": True}
    batch = app.post("plan", {"selection": selection, "settings": settings})["batch_run_id"]
    app.post("start", {"batch_run_id": batch})
    wait_until(lambda: app.status(batch)["state"] == "completed", timeout=60,
               message=lambda: f"the batch never completed: {app.status(batch)}")
    return batch


def open_summary(session: PageWithConsole, app: SummaryServer, batch: str) -> object:
    page = session.page
    page.goto(app.page_url)
    wait_until(lambda: batch in text(page, "summary-header") and result_badge(page) is not None, timeout=30,
               message=lambda: f"the summary never showed the batch's result: {text(page, 'summary-header')!r}")
    return page


def result_badge(page) -> tuple[str, str] | None:
    found = page.evaluate(RESULT_BADGE)
    return tuple(found) if found else None


def painted(page, color: str) -> list[list[str]]:
    return [p for p in page.evaluate(PAINTED) if p[0] == color]


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1440, 900), (1280, 720)):
        page.set_viewport_size({"width": width, "height": height})
        page.mouse.move(1, 1)
        page.screenshot(path=str(SHOTS / f"{width}x{height}-{name}.png"))
    page.set_viewport_size({"width": 1440, "height": 900})


def groups(page) -> list[str]:
    """The failure groups table's rows, as text (" | " between cells), read in one step: counting the rows and then
    reading each raced a redraw (a row gone after a retry made the read wait out Playwright's 30 s timeout)."""
    return page.locator(".summary-groups .tabulator-row").evaluate_all(
        """rows => rows.map(row => ["count", "reason", "examples"].map(
               name => (row.querySelector(`.tabulator-cell[tabulator-field='${name}']`)?.innerText ?? "").trim()
           ).join(" | "))""")


# --------------------------------------------------------------------------- the result, in colour
def test_an_all_failing_batch_is_red_failed_and_nothing_is_green(results_app, session):
    batch = run(results_app, FAILING)
    page = open_summary(session, results_app, batch)
    assert result_badge(page) == ("failed", RED)
    assert badge(page) == "completed"
    wait_until(lambda: "Failed: 0 succeeded, 5 failed" in text(page, "summary-progress"), timeout=30,
               message=lambda: text(page, "summary-progress"))
    assert "of 5 done" not in text(page, "summary-progress")
    assert "every item finished" in text(page, "summary-header")
    assert count(page, "failed") == 5 and count(page, "completed") == 0
    wait_until(lambda: len(groups(page)) == 2, timeout=30, message=lambda: f"groups: {groups(page)}")
    assert painted(page, GREEN) == [], painted(page, GREEN)  # no green anywhere: no badge, bar, counter or button says success
    shot(page, "summary-failed")
    assert_clean(session)


def test_a_mixed_batch_is_amber_partial_with_its_failed_and_needs_review_counts(results_app, session):
    batch = run(results_app)
    page = open_summary(session, results_app, batch)
    assert result_badge(page) == ("partial", AMBER)
    wait_until(lambda: "Partial: 3 succeeded, 2 need review, 5 failed" in text(page, "summary-progress"), timeout=30,
               message=lambda: text(page, "summary-progress"))
    assert count(page, "needs_review") == 2 and count(page, "failed") == 5 and count(page, "completed") == 5
    review = text(page, "summary-review")
    assert "2 products" in review and "weight" in review and "sensor" in review
    segments = page.locator(".summary-bar .seg")
    wait_until(lambda: segments.count() == 3, timeout=30)
    widths = {segments.nth(i).get_attribute("data-outcome"): segments.nth(i).bounding_box()["width"] for i in range(3)}
    assert widths["failed"] > widths["succeeded"] > widths["needs_review"] > 0  # 5 : 3 : 2
    shot(page, "summary-partial")
    assert_clean(session)


def test_a_clean_batch_is_green_succeeded(results_app, session):
    batch = run(results_app, ["ok-0", "ok-1", "ok-2"])
    page = open_summary(session, results_app, batch)
    assert result_badge(page) == ("succeeded", GREEN)
    wait_until(lambda: "Succeeded: 3 succeeded" in text(page, "summary-progress"), timeout=30)
    assert groups(page) == [] and count(page, "needs_review") == 0
    assert_clean(session)


# --------------------------------------------------------------------------- triage
def test_failure_groups_group_by_reason_and_retry_this_group_requeues_exactly_it(results_app, session):
    batch = run(results_app)
    page = open_summary(session, results_app, batch)
    wait_until(lambda: len(groups(page)) == 2, timeout=30, message=lambda: f"groups: {groups(page)}")
    timeout_group, parser_group = groups(page)
    assert timeout_group.startswith("3") and "exit 1: source timeout after <n> s for <model>" in timeout_group
    assert parser_group.startswith("2") and "exit 3: no parser for page <n> of <brand>" in parser_group
    assert "ta-0" in timeout_group and "nb-1" in parser_group
    results_app.gate.touch()  # from now on every job succeeds: only what is retried can change
    row = page.locator(".summary-groups .tabulator-row", has_text="source timeout")
    row.locator(".tabulator-cell[tabulator-field='retry']").click()
    wait_until(lambda: results_app.status(batch)["state"] == "completed"
               and results_app.status(batch)["counts"] == {**ZERO, "completed": 8, "failed": 2}, timeout=30,
               message=lambda: f"status: {results_app.status(batch)['counts']}")
    items = {i["product_id"]: i for i in results_app.client.get(
        f"/api/v1/indexlab/batch/{batch}/items", params={"limit": 100}).json()["items"]}
    assert {p: items[p]["state"] for p in FAILING} == {"ta-0": "completed", "ta-1": "completed", "ta-2": "completed",
                                                     "nb-0": "failed", "nb-1": "failed"}
    assert all(items[p]["attempts"] == 1 for p in items if not p.startswith("ta"))  # nothing else ran again
    wait_until(lambda: len(groups(page)) == 1 and "no parser" in groups(page)[0], timeout=15,
               message=lambda: f"groups after the retry: {groups(page)}")
    wait_until(lambda: "Partial: 6 succeeded, 2 need review, 2 failed" in text(page, "summary-progress"), timeout=15)
    assert_clean(session)


def test_the_items_table_filters_and_an_item_shows_its_stderr_tail(results_app, session):
    batch = run(results_app)
    page = open_summary(session, results_app, batch)
    table = page.locator(".summary-items")
    ids = lambda: [t.strip() for t in table.locator(".tabulator-cell[tabulator-field='product_id']").all_inner_texts()]
    wait_until(lambda: len(ids()) == len(ROWS), timeout=15, message=lambda: f"items: {ids()}")
    search = page.locator(".summary-item-search input")
    search.fill("viper")
    search.press("Enter")
    wait_until(lambda: ids() == ["low-0", "low-1"], timeout=30, message=lambda: f"search viper: {ids()}")
    search.fill("")
    search.press("Enter")
    page.locator(".summary-item-brand select").select_option(label="Pulsar")
    wait_until(lambda: ids() == ["nb-0", "nb-1"], timeout=30, message=lambda: f"brand Pulsar: {ids()}")
    page.locator(".summary-item-brand select").select_option(label="(all brands)")
    reason = page.locator(".summary-item-reason select")
    label = next(o for o in reason.locator("option").all_inner_texts() if "source timeout" in o)
    reason.select_option(label=label)
    wait_until(lambda: sorted(ids()) == ["ta-0", "ta-1", "ta-2"], timeout=30, message=lambda: f"reason: {ids()}")
    table.locator(".tabulator-cell[tabulator-field='product_id']", has_text="ta-1").click()
    events = lambda: text(page, "summary-item-events")
    wait_until(lambda: "stderr tail" in events(), timeout=30, message=lambda: f"item events: {events()!r}")
    shown = events()
    assert "stderr tail (20 of 26 lines)" in shown and "source timeout after 35 s for EC1-C" in shown
    assert "fetch attempt 24 for ta-1" in shown
    assert_clean(session)


def test_rerun_needs_review_plans_a_new_batch_with_the_profile_picked_and_shows_it(results_app, session):
    batch = run(results_app)
    page = open_summary(session, results_app, batch)
    wait_until(lambda: "2 products" in text(page, "summary-review"), timeout=30)
    page.locator(".summary-rerun-profile select").select_option("fast")
    page.get_by_role("button", name="Re-run needs review", exact=True).click()
    wait_until(lambda: badge(page) == "planned" and batch not in text(page, "summary-header"), timeout=15,
               message=lambda: f"header: {text(page, 'summary-header')!r}")
    new = next(b for b in results_app.client.get("/api/v1/indexlab/batch", params={"limit": 5}).json()["batches"]
               if b["batch_run_id"] != batch)
    assert new["batch_run_id"] in text(page, "summary-header") and new["state"] == "planned"
    assert new["profile"] == "fast" and new["item_count"] == 2
    alert = page.locator(".summary-alert div").first.inner_text()
    assert new["batch_run_id"] in alert and batch in alert and "fast" in alert
    assert result_badge(page) is None and enabled_start(page)
    assert_clean(session)


def enabled_start(page) -> bool:
    return page.get_by_role("button", name="Start Batch", exact=True).first.is_enabled()
