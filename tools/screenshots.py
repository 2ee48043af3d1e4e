"""Screenshots of the Builder, Batch Run Summary, Running & queued, History and the evidence view at 1440x900 and
1280x720 (docs/screenshots/).

    INDEXLAB_CHROMIUM=/usr/bin/chromium .venv/bin/python tools/screenshots.py [--dask-only]

A real `indexlab serve` on a fresh database with the embedded catalog; one batch (the Zowie mice) run with the test
evidence job (tests/browser/jobs/evidence_job.py), paused and resumed on the way so the charts shade a pause. Then
three slow batches at a server limit of two running batches (one queued), one with a hostile name that must show as
plain text, for the Running & queued tab; the same tab again on a server running its jobs on Dask.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.polling import wait_until  # noqa: E402
from tests.support.servers import start_server, stop_server  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
JOB = ROOT / "tests" / "browser" / "jobs" / "evidence_job.py"
SLOW_JOB = "import sys, time, runpy; time.sleep(0.4); runpy.run_path(sys.argv[1], run_name='__main__')"
SLOWER_JOB = "import sys, time, runpy; time.sleep(3); runpy.run_path(sys.argv[1], run_name='__main__')"
HOSTILE = '<img src=x onerror=alert(1)> Razer "rush" & co'
CONCURRENT = (("Razer", HOSTILE, 8), ("Logitech", None, 3), ("Pulsar", "Pulsar re-scan", 5))
B = "/api/v1/indexlab/batch"


def main() -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    if "--dask-only" not in sys.argv:
        shoot_all(sync_playwright)
    shoot_running_on_dask(sync_playwright)


def shoot_running_on_dask(sync_playwright) -> None:
    """Running & queued on a server whose jobs run on Dask (a LocalCluster of two worker processes): the budget line
    names the cluster and links its dashboard."""
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "dask.duckdb", log=Path(tmp) / "server.log",
                              env={"INDEXLAB_API_ALLOW_COMMAND": "1", "INDEXLAB_MAX_RUNNING_BATCHES": "2",
                                   "INDEXLAB_EXECUTOR": "dask"})
        try:
            api = httpx.Client(base_url=server.url, timeout=60)
            settings = {"runner": "command", "command": [sys.executable, "-c", SLOWER_JOB, str(JOB)], "workers": 2}
            many = start_concurrent(api, settings)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                for width, height in ((1440, 900), (1280, 720)):
                    shoot_running(browser, server.url, width, height, name="running-dask")
                browser.close()
            for batch in many:
                api.post(f"{B}/stop", json={"batch_run_id": batch, "force": True})
        finally:
            stop_server(server)


def shoot_all(sync_playwright) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "shots.duckdb", log=Path(tmp) / "server.log",
                              env={"INDEXLAB_API_ALLOW_COMMAND": "1", "INDEXLAB_MAX_RUNNING_BATCHES": "2"})
        try:
            api = httpx.Client(base_url=server.url, timeout=60)
            settings = {"runner": "command", "command": [sys.executable, "-c", SLOW_JOB, str(JOB)], "workers": 2}
            batch = api.post(f"{B}/plan", json={"selection": {"brands": ["Zowie"]}, "settings": settings}).json()
            batch = batch["batch_run_id"]
            api.post(f"{B}/start", json={"batch_run_id": batch})
            wait_until(lambda: api.get(f"{B}/{batch}/status").json()["counts"]["completed"] >= 4, timeout=60)
            api.post(f"{B}/pause", json={"batch_run_id": batch})
            time.sleep(6)  # a visible pause on the time axis (a picture, not a test)
            api.post(f"{B}/resume", json={"batch_run_id": batch})
            wait_until(lambda: api.get(f"{B}/{batch}/status").json()["state"] == "completed", timeout=120)
            item = api.get(f"{B}/{batch}/items", params={"limit": 1}).json()
            product = (item.get("items") or [{}])[0].get("product_id")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                for width, height in ((1440, 900), (1280, 720)):
                    shoot(browser, server.url, batch, product, width, height)
                many = start_concurrent(api, dict(settings, command=[sys.executable, "-c", SLOWER_JOB, str(JOB)]))
                for width, height in ((1440, 900), (1280, 720)):
                    shoot_running(browser, server.url, width, height)
                browser.close()
            for queued_or_running in many:
                api.post(f"{B}/stop", json={"batch_run_id": queued_or_running, "force": True})
        finally:
            stop_server(server)


def start_concurrent(api: httpx.Client, settings: dict) -> list[str]:
    """Three slow batches, each started with its own priority: two run, the third waits in the queue."""
    many = []
    for brand, name, priority in CONCURRENT:
        body = {"selection": {"brands": [brand]}, "settings": settings, **({"name": name} if name else {})}
        many.append(api.post(f"{B}/plan", json=body).json()["batch_run_id"])
        api.post(f"{B}/start", json={"batch_run_id": many[-1]})
        api.post(f"{B}/priority", json={"batch_run_id": many[-1], "priority": priority})
    return many


def shoot_running(browser, url: str, width: int, height: int, name: str = "running") -> None:
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.goto(url + "/")
    page.get_by_text("Select All", exact=True).first.wait_for(timeout=30_000)
    page.locator(".bk-tab", has_text="Running & queued").click()
    cells = page.locator(".running-now .tabulator-cell")  # (inner_text stops at Panel's shadow roots)
    wait_until(lambda: cells.filter(has_text="queued").count() and cells.filter(has_text="onerror").count(), timeout=30)
    cells.filter(has_text="Logitech").first.click()  # the controls, filled in for the picked batch
    time.sleep(1)  # the next refresh (a picture, not a test)
    page.screenshot(path=str(OUT / f"{name}-{width}x{height}.png"), full_page=True)
    page.context.close()


def shoot(browser, url: str, batch: str, product: str | None, width: int, height: int) -> None:
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.goto(url + "/")
    page.get_by_text("Select All", exact=True).first.wait_for(timeout=30_000)
    page.get_by_text("Clear All", exact=True).first.click()  # the selection is kept per user across page loads
    header = page.locator(".tabulator-header input[type=checkbox]").first
    wait_until(lambda: not header.is_checked(), timeout=30)
    header.click()  # this page: offers all matching
    page.locator(".select-matching-banner").wait_for(timeout=30_000)
    page.screenshot(path=str(OUT / f"builder-{width}x{height}.png"))
    page.locator(".bk-tab", has_text="Batch Run Summary").click()
    page.locator(".summary-header div").first.wait_for(timeout=30_000)
    wait_until(lambda: batch in page.locator(".summary-header div").first.inner_text(), timeout=30)
    time.sleep(2)  # the charts' first tick
    page.screenshot(path=str(OUT / f"summary-{width}x{height}.png"), full_page=True)
    page.locator(".bk-Figure, .bk-Canvas").first.scroll_into_view_if_needed()
    page.screenshot(path=str(OUT / f"summary-charts-{width}x{height}.png"))
    page.locator(".bk-tab", has_text="History").click()
    history = page.locator(".history-batches .tabulator")
    wait_until(lambda: batch in history.inner_text(), timeout=30)
    history.locator(".tabulator-cell", has_text=batch[:13]).first.click()
    rows = page.locator(".history-items .tabulator-row")
    wait_until(lambda: rows.count() > 0, timeout=30)
    rows.first.locator(".tabulator-cell").nth(1).click()
    wait_until(lambda: "connection" in page.locator(".outcome-evidence div").first.inner_text(), timeout=30)
    page.screenshot(path=str(OUT / f"history-{width}x{height}.png"), full_page=True)
    page.locator(".outcome-evidence").first.screenshot(path=str(OUT / f"evidence-{width}x{height}.png"))
    page.context.close()


if __name__ == "__main__":
    main()
