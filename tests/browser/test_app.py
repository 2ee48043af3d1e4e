"""The whole page served by `indexlab serve`: build a selection, preview it, start it, watch it finish."""

import pytest

from tests.support.polling import wait_until
from tests.support.summary import count

pytestmark = pytest.mark.browser


def test_a_batch_started_from_the_page_runs_to_completion(server, page, tmp_path):
    p = page.page
    p.goto(server.url + "/")
    p.get_by_text("Select All", exact=True).first.wait_for(timeout=30_000)
    brand = p.locator(".builder-brand-picker select")  # the `Select Brand` picker: its first brand is 8BitDo (19 products)
    # the picker shows "8BitDo (19)"; this was `... or brand.count()`, true on any page with the picker
    assert brand.input_value().startswith("8BitDo ("), brand.input_value()
    p.get_by_role("button", name="Select Brand", exact=True).first.click()
    wait_until(lambda: p.get_by_text("19 selected across 1 brand").count() > 0, timeout=15)
    p.get_by_text("Plan Preview", exact=True).first.click()
    wait_until(lambda: p.get_by_text("19 products across 1 brand").count() > 0, timeout=15)
    start = p.get_by_role("button", name="Start Batch", exact=True)
    wait_until(lambda: any(start.nth(i).is_visible() and start.nth(i).is_enabled() for i in range(start.count())))
    next(start.nth(i) for i in range(start.count()) if start.nth(i).is_visible()).click()
    wait_until(lambda: count(p, "completed") == 19, timeout=60, message="counters never reached 19 completed")
    p.screenshot(path=str(tmp_path / "summary.png"))
    assert count(p, "failed") == 0 and count(p, "queued") == 0
    assert page.errors == [] and page.outside_requests == []


def test_clicking_a_product_id_in_the_grid_shows_its_evidence(server, page):
    import httpx

    base = server.url + "/api/v1/indexlab/batch"
    batch = httpx.post(f"{base}/plan", json={"selection": {"product_ids": ["mouse-zowie-ec2-c"]}}).json()["batch_run_id"]
    httpx.post(f"{base}/start", json={"batch_run_id": batch})
    wait_until(lambda: httpx.get(f"{base}/{batch}/status").json()["state"] == "completed", timeout=60)
    p = page.page
    p.goto(server.url + "/")
    p.get_by_text("Select All", exact=True).first.wait_for(timeout=30_000)
    p.get_by_placeholder("brand, model, variant or product id").fill("mouse-zowie-ec2-c")
    p.keyboard.press("Enter")
    cell = p.locator(".tabulator-cell[tabulator-field='product_id']", has_text="mouse-zowie-ec2-c").first
    cell.wait_for(timeout=15_000)
    cell.click()
    wait_until(lambda: p.get_by_text("max_dpi").count() > 0 or p.get_by_text("Max DPI").count() > 0, timeout=20,
               message="the outcome's fields never showed")
    assert p.get_by_text("zowie.benq.com").count() > 0 and page.errors == []
