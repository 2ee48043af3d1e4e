"""The Summary follows the batch the operator chose (issue #17), in Chromium against a real `indexlab serve`.

"Watch in Batch Run Summary" shows the Summary tab with that batch; the batch stays when a newer one runs (a banner
offers the newer one: "View it"); the picker chooses any recent batch; "Follow the latest batch" switches again.
"""

import httpx
import pytest

from tests.support.polling import wait_until
from tests.support.summary import text

pytestmark = pytest.mark.browser
PRODUCTS = ["mouse-zowie-ec2-c"]


def finished_batch(server) -> str:
    base = server.url + "/api/v1/indexlab/batch"
    body = {"selection": {"product_ids": PRODUCTS}, "settings": {"runner": "noop"}}
    batch = httpx.post(f"{base}/plan", json=body, timeout=30).json()["batch_run_id"]
    httpx.post(f"{base}/start", json={"batch_run_id": batch}, timeout=30)
    wait_until(lambda: httpx.get(f"{base}/{batch}/status", timeout=30).json()["state"] == "completed", timeout=60)
    return batch


X_SPAN = """() => {
  for (const model of window.Bokeh.documents[0].all_models)
    if (model.type === 'Range1d' && model.start > 1e12) return model.end - model.start;
  return -1;
}"""


def x_span_ms(p) -> float:
    """The charts' time axis span in the browser's copy of the Bokeh models."""
    return p.evaluate(X_SPAN)


def summary_shown(p) -> bool:
    header = p.locator(".summary-header div")
    return header.count() > 0 and header.first.is_visible()


def test_watch_switches_to_the_summary_and_the_chosen_batch_stays(server, page):
    older, newer = finished_batch(server), finished_batch(server)
    p = page.page
    p.goto(server.url + "/")
    p.get_by_text("Select All", exact=True).first.wait_for(timeout=30_000)
    p.locator(".bk-tab", has_text="History").click()
    history = p.locator(".history-batches .tabulator")
    wait_until(lambda: older in history.inner_text(), timeout=20, message="History never listed the older batch")
    history.locator(".tabulator-cell", has_text=older).click()
    wait_until(lambda: older in text(p, "history-detail"), timeout=15)
    p.get_by_role("button", name="Watch in Batch Run Summary").click()
    wait_until(lambda: summary_shown(p) and older in text(p, "summary-header"), timeout=15,
               message="Watch did not show the Summary with the chosen batch")
    newest = finished_batch(server)
    # the view looked for newer batches after `newest` existed (the banner names it) and stayed on the chosen one
    wait_until(lambda: newest in text(p, "summary-newer"), timeout=20, message="no banner for the newer batch")
    assert older in text(p, "summary-header") and newest not in text(p, "summary-header")
    p.get_by_role("button", name="View it").click()
    wait_until(lambda: newest in text(p, "summary-header"), timeout=15)
    # the charts show the finished one-product batch fitted to its run, not on a 60-second axis
    wait_until(lambda: 0 < x_span_ms(p) < 20_000, timeout=15, message=lambda: f"x axis spans {x_span_ms(p)} ms")
    # the picker: any recent batch, by id
    picker = p.locator(".summary-picker select")
    wait_until(lambda: newer in picker.inner_text(), timeout=20, message="the picker never offered the batch")
    picker.select_option(label=next(o for o in picker.locator("option").all_inner_texts() if newer in o))
    wait_until(lambda: newer in text(p, "summary-header"), timeout=15, message="the picked batch was not shown")
    # follow the latest again: the view goes back to the newest batch
    p.locator(".summary-follow input").check()
    wait_until(lambda: newest in text(p, "summary-header"), timeout=15)
    assert page.errors == [] and page.outside_requests == []
