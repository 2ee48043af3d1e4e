"""The dashboard on a server whose product jobs run on Dask (``INDEXLAB_EXECUTOR=dask``: a LocalCluster of two
worker processes): the Running & queued tab says so, with a link to the Dask dashboard, a batch of command jobs runs
to completion on the cluster, and the server's log holds no error. Real ``panel serve`` with the REST plugin."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.support.browser import PageWithConsole, watch
from tests.support.catalogs import numbered_rows, write_catalog
from tests.support.polling import wait_until
from tests.support.summary import JOB, SummaryServer, assert_clean, serve_summary

pytestmark = pytest.mark.browser


@pytest.fixture
def app(tmp_path) -> Iterator[SummaryServer]:
    yield from serve_summary(tmp_path, write_catalog(tmp_path / "catalog.csv", numbered_rows(4)),
                             env={"INDEXLAB_EXECUTOR": "dask"})


@pytest.fixture
def session(browser) -> Iterator[PageWithConsole]:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    yield watch(context)
    context.close()


def test_the_running_tab_names_the_cluster_and_a_batch_completes_on_it(app, session):
    settings = {"runner": "command", "command": [sys.executable, str(JOB), str(app.job_log), str(app.gate)],
                "workers": 2, "max_run_seconds": 120}
    batch = app.post("plan", {"selection": {"all": True}, "settings": settings, "name": "on dask"})["batch_run_id"]
    app.post("start", {"batch_run_id": batch})
    page = session.page
    page.goto(app.page_url)
    page.locator(".bk-tab", has_text="Running & queued").click()
    budget = page.locator(".running-budget div").first
    wait_until(lambda: "jobs run on Dask: 2 workers, 4 threads at tcp://127.0.0.1:" in budget.inner_text()
               .replace("\n", " "), timeout=30, message=lambda: f"the budget line reads {budget.inner_text()!r}")
    link = budget.locator("a", has_text="Dask dashboard")
    href = link.get_attribute("href")
    assert href.startswith("http://127.0.0.1:") and link.get_attribute("target") == "_blank"
    assert httpx.get(href, timeout=30, follow_redirects=True).status_code == 200  # the scheduler's own dashboard
    executor = app.status(batch)["executor"]
    assert (executor["executor"], executor["workers"], executor["dashboard_link"]) == ("dask", 2, href)
    app.gate.touch()  # the gated jobs may finish
    wait_until(lambda: app.status(batch)["state"] == "completed", timeout=60,
               message=lambda: f"the batch is {app.status(batch)['state']}")
    assert app.status(batch)["counts"]["completed"] == 4
    assert_clean(session)
