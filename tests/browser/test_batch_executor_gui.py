"""Plan Preview's executor choice in Chromium, on ``indexlab serve --executor dask`` (a LocalCluster of two worker
processes): the form offers the server's default, its cluster and its threads; a batch started with "local" runs on
the server's threads and its status says so. On a server without a cluster there is nothing to choose."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.test_preview_form import open_preview, start_button
from tests.support.catalogs import numbered_rows, write_catalog
from tests.support.polling import wait_until
from tests.support.servers import Server, start_server, stop_server

pytestmark = pytest.mark.browser
B = "/api/v1/indexlab/batch"


@pytest.fixture
def dask_server(tmp_path) -> Iterator[Server]:
    catalog = write_catalog(tmp_path / "catalog.csv", numbered_rows(6))
    srv = start_server(tmp_path / "dask.duckdb", catalog, log=tmp_path / "server.log",
                       args=["--executor", "dask", "--dask-workers", "2"])
    yield srv
    stop_server(srv)


def test_a_batch_started_with_local_runs_on_the_servers_threads(dask_server, page):
    p = open_preview(dask_server, page)
    choice = p.locator(".setting-executor select").first
    expect(choice).to_be_visible(timeout=15_000)
    options = choice.locator("option").all_inner_texts()
    assert options == ["the server's default (dask)", "dask", "local"], options
    p.locator(".setting-runner select").first.select_option("noop")
    choice.select_option(label="local")
    expect(p.locator("table.fields th", has_text="executor").first).to_be_visible(timeout=15_000)  # in the snapshot
    start_button(p).click()
    newest = lambda: httpx.get(dask_server.url + B, timeout=30).json()["batches"]
    wait_until(lambda: newest() and newest()[0]["state"] == "completed", timeout=60,
               message=lambda: f"batches: {[(b['state'], b['batch_run_id']) for b in newest()]}")
    batch = newest()[0]["batch_run_id"]
    status = httpx.get(f"{dask_server.url}{B}/{batch}/status", timeout=30).json()
    assert status["executor"]["executor"] == "local" and status["executor"]["offered"] == ["dask", "local"]
    assert page.errors == [] and page.outside_requests == []


def test_a_server_without_a_cluster_offers_no_choice(server, page):
    p = open_preview(server, page)
    expect(p.locator(".setting-workers input").first).to_be_visible(timeout=15_000)
    assert not p.locator(".setting-executor select").first.is_visible()
