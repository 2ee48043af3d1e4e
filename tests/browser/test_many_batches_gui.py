"""Two batches at once in Chromium: the Running & queued tab shows both running within the server's budget and a third
queued, an operator raises one's priority, views it in the Summary and pauses it there, and the queued batch is
admitted in its place. Real ``panel serve`` with the REST plugin, the gated command job, INDEXLAB_MAX_WORKERS=2,
INDEXLAB_MAX_RUNNING_BATCHES=2."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.support.browser import PageWithConsole, watch
from tests.support.catalogs import numbered_rows, write_catalog
from tests.support.hostile import IMG
from tests.support.polling import wait_until
from tests.support.summary import JOB, SummaryServer, assert_clean, badge, serve_summary

pytestmark = pytest.mark.browser
BUDGET = {"INDEXLAB_MAX_WORKERS": "2", "INDEXLAB_MAX_RUNNING_BATCHES": "2"}


@pytest.fixture
def app(tmp_path) -> Iterator[SummaryServer]:
    yield from serve_summary(tmp_path, write_catalog(tmp_path / "catalog.csv", numbered_rows(6)), env=BUDGET)


@pytest.fixture
def session(browser) -> Iterator[PageWithConsole]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    yield watch(context)
    context.close()


def _plan(app: SummaryServer, name: str) -> str:
    settings = {"runner": "command", "command": [sys.executable, str(JOB), str(app.job_log), str(app.gate)],
                "workers": 2, "max_run_seconds": 120}
    return app.post("plan", {"selection": {"all": True}, "settings": settings, "name": name})["batch_run_id"]


def _rows(page) -> list[tuple[str, str, str, str]]:
    """(name, state, queue #, priority) of each row of the Running & queued table."""
    fields = ("name", "state", "queue", "priority")
    return [tuple(row.locator(f'.tabulator-cell[tabulator-field="{f}"]').inner_text().strip() for f in fields)
            for row in page.locator(".running-now .tabulator-row").all()]


def _shows(page, expected: list[tuple[str, str, str, str]], what: str) -> None:
    wait_until(lambda: _rows(page) == expected, timeout=20, message=lambda: f"{what}: the table shows {_rows(page)}")


def test_two_batches_run_at_once_a_third_queues_priority_changes_and_a_pause_admits_the_queue(app, session):
    alpha, bravo, third = _plan(app, "alpha"), _plan(app, "bravo"), _plan(app, IMG)
    for batch in (alpha, bravo, third):
        app.post("start", {"batch_run_id": batch})
    assert app.status(third)["state"] == "queued"
    wait_until(lambda: len(app.job_log.read_text().splitlines()) >= 2 if app.job_log.exists() else False,
               timeout=30, message="both running batches start an item")

    page = session.page
    page.goto(app.page_url)
    page.locator(".bk-tab", has_text="Running & queued").click()
    _shows(page, [("alpha", "running", "", "5"), ("bravo", "running", "", "5"), (IMG, "queued", "1", "5")],
           "two running, the hostile-named one queued first")
    budget = page.locator(".running-budget div").first
    wait_until(lambda: "2 of 2 worker slots busy" in budget.inner_text().replace("\n", " "), timeout=20,
               message=lambda: f"the budget line reads {budget.inner_text()!r}")
    assert "2 of 2 batches running · 1 queued" in budget.inner_text().replace("\n", " ")
    # the two slots are the whole server's: the running batches together hold two products in flight (no preemption:
    # the batch started first may hold both until one of its products ends; tests/engine/test_many_batches.py proves
    # the shares as products end)
    assert sum(app.status(b)["counts"]["running"] for b in (alpha, bravo, third)) == 2

    page.locator('.running-now .tabulator-cell[tabulator-field="name"]', has_text="bravo").click()
    box = page.locator(".bk-input-group", has_text="Priority").locator("input")
    box.fill("9")
    box.press("Enter")
    page.get_by_role("button", name="Set priority", exact=True).click()
    _shows(page, [("bravo", "running", "", "9"), ("alpha", "running", "", "5"), (IMG, "queued", "1", "5")],
           "bravo first by priority")
    assert app.status(bravo)["priority"] == 9

    page.locator('.running-now .tabulator-cell[tabulator-field="name"]', has_text="alpha").click()
    page.get_by_role("button", name="View in Summary", exact=True).click()
    wait_until(lambda: badge(page) == "running", timeout=15, message="the Summary shows alpha")
    page.get_by_role("button", name="Pause Batch", exact=True).click()
    wait_until(lambda: app.status(alpha)["state"] == "paused", timeout=15, message="alpha pauses")
    wait_until(lambda: app.status(third)["state"] == "running", timeout=15, message="the queued batch is admitted")

    page.locator(".bk-tab", has_text="Running & queued").click()
    wait_until(lambda: [r[:2] for r in _rows(page)] == [("bravo", "running"), (IMG, "running"), ("alpha", "paused")],
               timeout=20, message=lambda: f"after the pause the table shows {_rows(page)}")
    app.gate.touch()
    for batch in (bravo, third):
        wait_until(lambda batch=batch: app.status(batch)["state"] == "completed", timeout=60,
                   message=f"{batch} completes")
    assert_clean(session)
