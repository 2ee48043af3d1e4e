"""History's download buttons in Chromium: the opened batch's items as CSV and Parquet, the same bytes the API
answers, through the page's own websocket (no CDN, nothing but loopback)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pyarrow.parquet as pq
import pytest

from tests.support.browser import watch
from tests.support.catalogs import write_catalog
from tests.support.polling import wait_until
from tests.support.summary import SummaryServer, assert_clean, serve_summary, text

pytestmark = pytest.mark.browser
CATALOG = [("p1", "mouse", "Logitech", "=HYPERLINK(\"http://x.example\")", ""),
           ("p2", "mouse", "Razer", "<script>alert(1)</script>", "Black")]


@pytest.fixture
def app(tmp_path) -> Iterator[SummaryServer]:
    yield from serve_summary(tmp_path, write_catalog(tmp_path / "catalog.csv", CATALOG))


def test_history_downloads_the_opened_batchs_items_as_csv_and_parquet(app, browser, tmp_path):
    batch = app.post("plan", {"selection": {"all": True}, "settings": {"runner": "noop"}})["batch_run_id"]
    app.post("start", {"batch_run_id": batch})
    wait_until(lambda: app.status(batch)["state"] == "completed", timeout=30)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    session = watch(context)
    page = session.page
    try:
        page.goto(app.page_url)
        page.locator(".bk-tab", has_text="History").click()
        csv_button = page.get_by_role("button", name="Items as CSV")
        assert not csv_button.is_enabled()  # no batch open yet
        history = page.locator(".history-batches .tabulator")
        wait_until(lambda: batch in history.inner_text(), timeout=15, message="the batch list never showed the batch")
        history.locator(".tabulator-cell", has_text=batch).click()
        wait_until(lambda: "COMPLETED" in text(page, "history-detail").upper() and csv_button.is_enabled(), timeout=15)
        answers = {}
        for fmt in ("csv", "parquet"):
            with page.expect_download(timeout=30_000) as download:
                page.get_by_role("button", name=f"Items as {'CSV' if fmt == 'csv' else 'Parquet'}").click()
            got = download.value
            assert got.suggested_filename == f"indexlab-items-{batch}.{fmt}"
            answers[fmt] = (tmp_path / got.suggested_filename)
            got.save_as(answers[fmt])
        api = app.client.get(f"/api/v1/indexlab/batch/{batch}/items.csv").content
        assert answers["csv"].read_bytes() == api and "'=HYPERLINK" in api.decode("utf-8-sig")
        table = pq.read_table(io.BytesIO(answers["parquet"].read_bytes()))
        assert table.column("product_id").to_pylist() == ["p1", "p2"] and table.num_rows == 2
        page.screenshot(path=str(tmp_path / "history-downloads.png"), full_page=True)
        assert_clean(session)
    finally:
        context.close()
