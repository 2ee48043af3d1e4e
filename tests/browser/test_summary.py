"""Batch Run Summary and History in Chromium against a real ``panel serve`` of tests/browser/apps/summary_app.py.

The batch is planned and started through the REST API (the ``dashboard.api.handlers`` plugin on the same server, so
the same engine); its items run the gated command job, which waits until the test creates the gate file.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import PageWithConsole, watch
from tests.support.catalogs import numbered_rows, write_catalog
from tests.support.polling import wait_until
from tests.support.summary import SummaryServer, assert_clean, badge, count, serve_summary, text

pytestmark = pytest.mark.browser

FIELDS_JOB = Path(__file__).parent / "jobs" / "fields_job.py"
N = 12
CATALOG = [*numbered_rows(N - 1, ("Logitech", "Razer", "Zowie"), id_format="p{:02d}"),
           ("p-evil", "mouse", "Evil", "<script>alert(1)</script>", "<b>v</b>")]


@pytest.fixture
def app(tmp_path) -> Iterator[SummaryServer]:
    yield from serve_summary(tmp_path, write_catalog(tmp_path / "catalog.csv", CATALOG))


@pytest.fixture
def sessions(browser) -> Iterator[object]:
    """sessions() -> a new browser context and page (its own Panel session), loopback only, console watched."""
    contexts = []

    def open_session() -> PageWithConsole:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        watched = watch(context)
        return watched

    yield open_session
    for context in contexts:
        context.close()


# --------------------------------------------------------------------------- page helpers
def open_summary(session: PageWithConsole, app: SummaryServer) -> object:
    page = session.page
    page.goto(app.page_url)
    wait_until(lambda: "Batch Run Summary" in text(page, "summary-header"), timeout=30, message="summary never rendered")
    return page


def enabled(page, label: str) -> bool:
    return page.get_by_role("button", name=label, exact=True).first.is_enabled()


CHART_POINTS = """() => {
  for (const model of window.Bokeh.documents[0].all_models)
    if (model.type === 'ColumnDataSource' && 'recent_per_hour' in model.data) return model.data.t.length;
  return -1;
}"""


def chart_points(page) -> int:
    """Points in the browser's copy of the charts' ColumnDataSource (streamed from the server)."""
    return page.evaluate(CHART_POINTS)


def started_jobs(app: SummaryServer) -> int:
    return len(app.job_log.read_text().splitlines()) if app.job_log.exists() else 0


# --------------------------------------------------------------------------- tests
def test_counters_move_to_completion(app, sessions, tmp_path):
    session = sessions()
    page = open_summary(session, app)
    wait_until(lambda: "No batch yet" in text(page, "summary-header"), timeout=30)
    batch = app.plan_gated(workers=2)
    app.post("start", {"batch_run_id": batch})
    wait_until(lambda: badge(page) == "running", timeout=30, message="the page never followed the new batch")
    wait_until(lambda: count(page, "running") == 2 and count(page, "queued") == N - 2, timeout=30)
    assert batch in text(page, "summary-header")
    assert "p00" in text(page, "summary-running") and "Logitech Model 0" in text(page, "summary-running")
    points = chart_points(page)
    wait_until(lambda: chart_points(page) >= points + 2, timeout=30, message="the charts got no new points")
    page.screenshot(path=str(tmp_path / "summary-running.png"), full_page=True)
    app.gate.touch()
    wait_until(lambda: count(page, "completed") == N, timeout=30, message="counters never reached completion")
    wait_until(lambda: badge(page) == "completed", timeout=30)
    assert count(page, "queued") == 0 and count(page, "running") == 0
    assert f"Succeeded: {N} succeeded" in text(page, "summary-progress")
    page.screenshot(path=str(tmp_path / "summary-completed.png"), full_page=True)
    assert_clean(session)


def test_controls_follow_the_batch_state(app, sessions):
    batch = app.plan_gated(workers=1)
    session = sessions()
    page = open_summary(session, app)
    wait_until(lambda: badge(page) == "planned", timeout=30)
    assert enabled(page, "Start Batch") and not enabled(page, "Pause Batch") and not enabled(page, "Resume Batch")
    page.get_by_role("button", name="Start Batch", exact=True).click()
    wait_until(lambda: badge(page) == "running" and enabled(page, "Pause Batch"), timeout=30)
    assert not enabled(page, "Start Batch") and not enabled(page, "Resume Batch") and enabled(page, "Stop Batch")
    assert app.status(batch)["state"] == "running"
    page.get_by_role("button", name="Pause Batch", exact=True).click()
    wait_until(lambda: badge(page) == "paused" and enabled(page, "Resume Batch"), timeout=30)
    assert not enabled(page, "Pause Batch") and app.status(batch)["state"] == "paused"
    page.get_by_role("button", name="Resume Batch", exact=True).click()
    wait_until(lambda: badge(page) == "running" and enabled(page, "Pause Batch"), timeout=30)
    assert not enabled(page, "Resume Batch") and not enabled(page, "Retry failed")
    assert_clean(session)


def test_force_stop_asks_for_confirmation(app, sessions):
    batch = app.plan_gated(workers=2)
    app.post("start", {"batch_run_id": batch})
    session = sessions()
    page = open_summary(session, app)
    wait_until(lambda: count(page, "running") == 2, timeout=15)
    page.get_by_role("button", name="Force Stop", exact=True).click()
    wait_until(lambda: page.get_by_role("button", name="Confirm force stop").is_visible(), timeout=30)
    assert "Force stop?" in text(page, "summary-confirm")
    assert app.status(batch)["state"] == "running"  # nothing happened yet
    page.get_by_role("button", name="Confirm force stop").click()
    wait_until(lambda: badge(page) == "stopped", timeout=30)
    assert app.status(batch)["counts"]["stopped"] == N and count(page, "stopped") == N
    assert enabled(page, "Resume Batch") and not enabled(page, "Force Stop")
    assert_clean(session)


def test_a_second_session_sees_an_action_of_the_first(app, sessions):
    """How fast is measured by bench/ui.py, not asserted here: tests never depend on timing."""
    batch = app.plan_gated(workers=2)
    app.post("start", {"batch_run_id": batch})
    first, second = sessions(), sessions()
    a, b = open_summary(first, app), open_summary(second, app)
    for page in (a, b):
        wait_until(lambda: badge(page) == "running" and enabled(page, "Pause Batch"), timeout=15)  # noqa: B023
    a.get_by_role("button", name="Pause Batch", exact=True).click()
    wait_until(lambda: badge(b) == "paused" and enabled(b, "Resume Batch"), timeout=15)
    b.get_by_role("button", name="Resume Batch", exact=True).click()
    wait_until(lambda: badge(a) == "running" and enabled(a, "Pause Batch"), timeout=15)
    feed = text(a, "summary-feed")
    assert "by dashboard" in feed and "paused" in feed.lower()
    assert_clean(first, second)


def test_a_new_session_after_a_restart_shows_the_paused_batch(app, sessions):
    batch = app.plan_gated(workers=2)
    app.post("start", {"batch_run_id": batch})
    wait_until(lambda: started_jobs(app) == 2, timeout=15)
    app.post("pause", {"batch_run_id": batch})
    app.gate.touch()  # the two in flight finish; nothing new starts
    wait_until(lambda: app.status(batch)["counts"]["completed"] == 2, timeout=15)
    app.stop()
    app.gate.unlink()
    app.start()
    session = sessions()
    page = open_summary(session, app)
    wait_until(lambda: badge(page) == "paused", timeout=15)
    assert count(page, "completed") == 2 and count(page, "queued") == N - 2 and batch in text(page, "summary-header")
    assert "2 succeeded, 10 not run yet" in text(page, "summary-progress")
    assert enabled(page, "Resume Batch") and not enabled(page, "Pause Batch")
    assert_clean(session)


def test_history_opens_a_batch_and_a_products_outcome_escaped(app, sessions, tmp_path):
    settings = {"runner": "command", "command": [sys.executable, str(FIELDS_JOB)], "workers": 4}
    batch = app.post("plan", {"selection": {"all": True}, "settings": settings})["batch_run_id"]
    app.post("start", {"batch_run_id": batch})
    wait_until(lambda: app.status(batch)["state"] == "completed", timeout=30)
    session = sessions()
    page = open_summary(session, app)
    page.locator(".bk-tab", has_text="History").click()
    history = page.locator(".history-batches .tabulator")
    wait_until(lambda: batch in history.inner_text(), timeout=30, message="the batch list never showed the batch")
    history.locator(".tabulator-cell", has_text=batch).click()
    wait_until(lambda: "COMPLETED" in text(page, "history-detail").upper()
               and page.locator(".history-items .tabulator-row").count() == N, timeout=30)
    page.locator(".history-items .tabulator-cell", has_text="p-evil").click()
    wait_until(lambda: "from batch" in text(page, "outcome-head"), timeout=30)
    heads = page.locator(".outcome-head div")
    debug = [heads.nth(i).inner_text()[:80] for i in range(heads.count())]
    assert "<script>alert(1)</script>" in text(page, "outcome-head"), debug  # shown as text, never run
    evidence = text(page, "outcome-evidence")
    assert "26,000 dpi" in evidence and "<script>alert(1)</script>" in evidence and "conflict" in evidence
    assert page.locator(".outcome-head script, .outcome-evidence script").count() == 0
    assert page.locator(".outcome-evidence a").count() == 1  # the https source; javascript: stays text
    page.screenshot(path=str(tmp_path / "history.png"), full_page=True)
    assert_clean(session)
