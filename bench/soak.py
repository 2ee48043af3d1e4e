"""Server memory over many page loads and closes: does a closed page give its memory back?

    python bench/soak.py [--catalog var/bench/catalog-100k.parquet | --catalog embedded] [--warmup 5] [--loads 45]
                         [--batches 10] [--json]
    python bench/ui.py --soak ...   (the same)

Serves the dashboard with ``indexlab serve`` over a fresh DuckDB file (``bench/ui.py``'s server, with
``INDEXLAB_DEBUG_SESSIONS=1``) and loads the page in headless Chromium (a fresh browser context each
time) until the builder grid shows its rows, then closes it. Prints the server's RSS (VmRSS):

* after start, before any page;
* after ``--warmup`` loads and closes, once their sessions are gone (the first loads fill caches that
  live as long as the process: Panel's templates, Bokeh's models, the catalog's shared view);
* the peak while ``--loads`` more pages load and close one after another;
* after those loads, once their sessions are gone: the growth from the warm-up figure is what each
  page load leaves behind;
* then ``--batches`` batches, each of the whole catalog with a ``command`` job that waits (so the batch is still
  running when it is paused; ``INDEXLAB_API_ALLOW_COMMAND=1``), planned, started, paused and force-stopped
  through the REST API while a page shows them in the Batch Run Summary (its periodic callback, charts,
  feed and items table live), the page closed after each; RSS once their sessions are gone. With the default
  50 page loads and 10 batches this is the "hour-equivalent" of issue #17.

"Gone" is read from the server (``/debug/sessions`` counts the objects sessions built, after a full
garbage collection); a server without that route gets a fixed 40 s (Bokeh's 15 s unused-session
lifetime plus its 17 s default check interval). Also counts tracebacks in the server's log (kept in
var/bench/soak-server.log).

Goals (100k catalog): the ``--loads`` loads add <= 40 MB after the warm-up; RSS <= 500 MB throughout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.common import ROOT, command_line, machine, machine_line, stop_server
from bench.make_catalog import write_catalog
from bench.served import CHROMIUM, CHROMIUM_ARGS, BenchFailure, new_page, rss_mb, server_errors, start_server

GOALS = {"growth_mb": 40.0, "rss_mb": 500.0}
RELEASE_DEADLINE_S = 120.0
FIXED_WAIT_S = 40.0


def load_and_close(browser, url: str) -> None:
    """One visitor: open the page, wait for the builder grid's rows, close the tab."""
    context, page, errors, outside = new_page(browser)
    try:
        page.goto(url, wait_until="commit")
        page.wait_for_function("() => window.__rows().length > 0", polling="raf", timeout=60_000)
        if errors or outside:
            raise BenchFailure(f"console errors {errors} / outside requests {outside}")
    finally:
        context.close()


API = "/api/v1/indexlab/batch"
WAITING_JOB = [sys.executable, "-c", "import time; time.sleep(600)"]  # force stop ends it


def batch_session(browser, url: str, api: httpx.Client, n: int) -> dict[str, Any]:
    """One operator's batch: plan the whole catalog (a job that waits), start it, watch it in the Summary, pause it,
    force-stop it."""
    plan = api.post(f"{API}/plan", json={"selection": {"all": True}, "confirm_large": True,
                                         "settings": {"runner": "command", "command": WAITING_JOB, "workers": 2}})
    if plan.status_code not in (200, 201):
        raise BenchFailure(f"plan {n}: {plan.status_code} {plan.text}")
    batch = plan.json()["batch_run_id"]
    context, page, errors, outside = new_page(browser)
    try:
        page.goto(url, wait_until="commit")
        page.wait_for_function("() => window.__rows().length > 0", polling="raf", timeout=60_000)
        page.locator(".bk-tab", has_text="Batch Run Summary").click()
        header = page.locator(".summary-header div").first
        header.wait_for(timeout=30_000)
        moves = []
        for action, body, state in (("start", {}, "running"), ("pause", {}, "paused"), ("stop", {"force": True}, "stopped")):
            response = api.post(f"{API}/{action}", json={"batch_run_id": batch, **body})
            if response.status_code != 200:
                raise BenchFailure(f"{action} of batch {n}: {response.status_code} {response.text}")
            deadline = time.monotonic() + 60
            while not (batch in header.inner_text() and state in header.inner_text().lower()):
                if time.monotonic() > deadline:
                    raise BenchFailure(f"the Summary never showed batch {batch} {state}: {header.inner_text()!r}")
                time.sleep(0.1)
            moves.append(state)
        if errors or outside:
            raise BenchFailure(f"console errors {errors} / outside requests {outside}")
        return {"batch_run_id": batch, "moves": moves}
    finally:
        context.close()


def wait_released(base: str) -> dict[str, Any]:
    """Until the server holds no session objects; how long it took and whether the server could tell."""
    started = time.monotonic()
    probe = httpx.get(f"{base}/debug/sessions", timeout=60)
    if probe.status_code == 404:  # a server without the route
        time.sleep(FIXED_WAIT_S)
        return {"waited_s": FIXED_WAIT_S, "known": False}
    while True:
        live = httpx.get(f"{base}/debug/sessions", timeout=60).json()
        if live["total"] == 0:
            return {"waited_s": round(time.monotonic() - started, 1), "known": True}
        if time.monotonic() - started > RELEASE_DEADLINE_S:
            raise BenchFailure(f"sessions still alive {RELEASE_DEADLINE_S:g} s after their pages closed: {live}")
        time.sleep(0.5)


def soak(catalog: Path, warmup: int, loads: int, batches: int = 0) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise BenchFailure(f"Chromium not found at {CHROMIUM}: apt-get install chromium, or set INDEXLAB_CHROMIUM")
    os.environ["INDEXLAB_DEBUG_SESSIONS"] = "1"  # the server subprocess inherits these
    os.environ["INDEXLAB_API_ALLOW_COMMAND"] = "1"
    with tempfile.TemporaryDirectory(prefix="indexlab-bench-soak-") as tmp, sync_playwright() as pw:
        proc, url, which = start_server(Path(tmp), catalog)
        base = url.rstrip("/")
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            start = rss_mb(proc.pid)["rss_mb"]
            for _ in range(warmup):
                load_and_close(browser, url)
            warm_release = wait_released(base)
            warm = rss_mb(proc.pid)["rss_mb"]
            during = []
            began = time.monotonic()
            for _ in range(loads):
                load_and_close(browser, url)
                during.append(rss_mb(proc.pid)["rss_mb"])
            seconds_per_load = (time.monotonic() - began) / max(loads, 1)
            release = wait_released(base)
            after = rss_mb(proc.pid)
            batch_rss, batch_release = [], None
            with httpx.Client(base_url=base, timeout=120) as api:
                for n in range(batches):
                    batch_session(browser, url, api, n)
                    batch_rss.append(rss_mb(proc.pid)["rss_mb"])
            if batches:
                batch_release = wait_released(base)
            final = rss_mb(proc.pid)
        finally:
            browser.close()
            stop_server(proc)
        log = (Path(tmp) / "server.log").read_text(errors="replace")
    kept = ROOT / "var" / "bench" / "soak-server.log"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(log)
    return {
        "command": command_line(), "machine": machine(), "server": which, "catalog": str(catalog),
        "warmup": warmup, "loads": loads, "seconds_per_load": round(seconds_per_load, 2),
        "rss_start_mb": round(start), "rss_after_warmup_mb": round(warm), "rss_peak_during_loads_mb": round(max(during)),
        "rss_after_loads_mb": round(after["rss_mb"]), "peak_rss_mb": round(after["peak_rss_mb"]),
        "growth_mb": round(after["rss_mb"] - warm), "release_after_warmup": warm_release, "release_after_loads": release,
        "batches": batches, "rss_peak_during_batches_mb": round(max(batch_rss)) if batch_rss else None,
        "rss_after_each_batch_mb": [round(x) for x in batch_rss],
        "rss_after_batches_mb": round(final["rss_mb"]), "peak_rss_end_mb": round(final["peak_rss_mb"]),
        "release_after_batches": batch_release,
        "server_tracebacks": server_errors(log), "goals": GOALS,
        "load_average": os.getloadavg(),
    }


def report(r: dict[str, Any]) -> str:
    growth_ok = "ok" if r["growth_mb"] <= GOALS["growth_mb"] else "MISSED"
    highest = max(r["rss_after_loads_mb"], r["rss_peak_during_loads_mb"], r["rss_after_batches_mb"],
                  r["rss_peak_during_batches_mb"] or 0)
    rss_ok = "ok" if highest <= GOALS["rss_mb"] else "MISSED"
    batches = [
        f"  RSS peak during {r['batches']} batches (plan, start, pause, stop, watched)  {r['rss_peak_during_batches_mb']:6d} MB",
        f"  RSS as each batch's page closed           {' '.join(str(x) for x in r['rss_after_each_batch_mb'])} MB",
        f"  RSS after them, sessions gone             {r['rss_after_batches_mb']:6d} MB   (peak VmHWM {r['peak_rss_end_mb']} MB)",
    ] if r["batches"] else []
    gone = "once the server counted no session objects" if r["release_after_loads"]["known"] else \
        f"after a fixed {FIXED_WAIT_S:g} s (the server cannot say whether sessions are gone)"
    return "\n".join([
        f"Server memory over page loads and closes ({r['catalog']})",
        f"  server: {r['server']}",
        f"  RSS after start                          {r['rss_start_mb']:6d} MB",
        f"  RSS after {r['warmup']} warm-up loads and closes       {r['rss_after_warmup_mb']:6d} MB",
        f"  RSS peak during {r['loads']} more loads and closes  {r['rss_peak_during_loads_mb']:6d} MB"
        f"   ({r['seconds_per_load']:.1f} s per load)",
        f"  RSS after them                           {r['rss_after_loads_mb']:6d} MB   {gone}"
        f" ({r['release_after_loads']['waited_s']} s)",
        f"  growth over the {r['loads']} loads                {r['growth_mb']:+6d} MB   goal <= {GOALS['growth_mb']:g} MB   {growth_ok}",
        *batches,
        f"  highest RSS sampled                      {highest:6d} MB"
        f"   goal <= {GOALS['rss_mb']:g} MB   {rss_ok}",
        f"  machine: {machine_line(r['machine'])}",
        f"  load average (1/5/15 min) at the end: {' / '.join(f'{x:.2f}' for x in r['load_average'])}",
        f"  server tracebacks in its log: {r['server_tracebacks']} (var/bench/soak-server.log)",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default=str(ROOT / "var" / "bench" / "catalog-100k.parquet"),
                        help="a catalog file (written with bench/make_catalog.py when missing), or 'embedded'")
    parser.add_argument("--n", type=int, default=100_000, help="products when the catalog must be written")
    parser.add_argument("--warmup", type=int, default=5, help="page loads before the baseline (default: %(default)s)")
    parser.add_argument("--loads", type=int, default=45, help="page loads measured (default: %(default)s)")
    parser.add_argument("--batches", type=int, default=10, help="batches planned, started, paused and stopped while "
                        "watched in the Summary, after the loads (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.catalog == "embedded":
        from engine.core.catalog import default_catalog_path

        catalog = default_catalog_path()
    else:
        catalog = Path(args.catalog)
        if not catalog.exists():
            write_catalog(catalog, args.n)
    result = soak(catalog, args.warmup, args.loads, args.batches)
    print(json.dumps(result, indent=2, default=str) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
