"""Nothing the operator needs is clipped (issue #17): ids, batch ids, times with seconds, sub-second durations, and a
long error is one line (ellipsis) in History's items table with the full text in a plain-text tooltip."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.support.catalogs import numbered_rows, write_catalog
from tests.support.polling import wait_until
from tests.support.summary import SummaryServer, assert_clean, serve_summary, text

pytestmark = pytest.mark.browser

LONG_ID = "mouse-logitech-g-pro-x-superlight-2-dex-white-edition"
CATALOG = [*numbered_rows(2, ("Logitech",), id_format="p{:02d}"), (LONG_ID, "mouse", "Logitech", "G Pro X", "White")]
ERROR = "<b>upstream</b> " + " ".join(f"word{i}" for i in range(150))
FAILING = [sys.executable, "-c", f"import sys; sys.stderr.write({ERROR!r}); sys.exit(3)"]

CLIPPED = """(sel) => [...document.querySelectorAll(sel)].flatMap(host => [...(host.shadowRoot || host)
  .querySelectorAll('.tabulator-cell[tabulator-field="product_id"], .tabulator-cell[tabulator-field="batch_run_id"],'
  + ' .tabulator-cell[tabulator-field="time"], .tabulator-cell[tabulator-field="finished"]')])
  .filter(c => c.textContent.trim() && c.scrollWidth > c.clientWidth + 1).map(c => c.textContent)"""


@pytest.fixture
def app(tmp_path) -> Iterator[SummaryServer]:
    yield from serve_summary(tmp_path, write_catalog(tmp_path / "catalog.csv", CATALOG))


def test_ids_times_and_errors_are_readable(app, browser):
    settings = {"runner": "command", "command": FAILING, "workers": 2, "max_attempts": 1}
    batch = app.post("plan", {"selection": {"all": True}, "settings": settings})["batch_run_id"]
    app.post("start", {"batch_run_id": batch})
    wait_until(lambda: app.status(batch)["state"] == "completed", timeout=60)
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    from tests.support.browser import watch

    session = watch(context)
    p = session.page
    try:
        p.goto(app.page_url)
        wait_until(lambda: batch in text(p, "summary-header"), timeout=30)
        items = p.locator(".summary-items .tabulator")
        wait_until(lambda: LONG_ID in items.inner_text(), timeout=20, message="the items table never showed the ids")
        durations = p.locator(".summary-items .tabulator-cell[tabulator-field='duration']").all_inner_texts()
        assert durations and "0 s" not in [d.strip() for d in durations], durations  # "40 ms", "0.4 s"
        assert p.evaluate(CLIPPED, ".summary-items") == []
        p.locator(".bk-tab", has_text="History").click()
        history = p.locator(".history-batches .tabulator")
        wait_until(lambda: batch in history.inner_text(), timeout=20)
        assert p.evaluate(CLIPPED, ".history-batches") == []
        history.locator(".tabulator-cell", has_text=batch[:8]).first.click()
        rows = p.locator(".history-items .tabulator-row")
        wait_until(lambda: rows.count() == 3, timeout=20)
        def heights() -> list[float] | None:  # None while the table redraws under us (a row has no box then)
            boxes = [rows.nth(i).bounding_box() for i in range(3)]
            return None if None in boxes else [b["height"] for b in boxes]
        heights = wait_until(heights, timeout=20, message="History's item rows never settled")
        assert max(heights) < 60, heights  # the error on one line (an id may wrap once), not 8 lines
        assert p.evaluate(CLIPPED, ".history-items") == []  # ids and times; the error is meant to end in "…"
        cell = p.locator(".history-items .tabulator-cell[tabulator-field='last_error']").first
        cell.scroll_into_view_if_needed()
        p.mouse.move(0, 0)  # off the batch cell clicked above: its tooltip goes
        cell.hover()
        tip = p.locator(".tabulator-tooltip")
        full = cell.evaluate("c => c.textContent.trim()")  # the whole stored error (the engine caps its length)
        assert len(full) > 200 and cell.evaluate("c => c.scrollWidth > c.clientWidth")  # one line, ellipsis
        wait_until(lambda: any(t.strip() == full for t in tip.all_inner_texts()), timeout=30,
                   message=lambda: f"no tooltip with the whole error: {tip.all_inner_texts()}")
        assert "<b>upstream</b>" in full  # as text
        p.locator(".bk-tab", has_text="Events").click()
        times = p.locator(".history-events .tabulator-cell[tabulator-field='time']")
        wait_until(lambda: times.count() > 0, timeout=15)
        assert all(len(t.strip()) == 19 for t in times.all_inner_texts())  # 2026-12-06 07:31:05
        assert p.evaluate(CLIPPED, ".history-events") == []
        assert_clean(session)
    finally:
        context.close()
