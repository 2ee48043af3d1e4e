"""Batch Run Builder round trips in a real browser on the 100k-product catalog.

    python bench/ui.py [--catalog var/bench/catalog-100k.parquet] [--repeat 5] [--app script.py] [--arrow-pool system] [--json]
    python bench/ui.py --soak [--warmup 5] [--loads 45] [--batches 10]   (server memory: bench/soak.py)

Serves the builder in a real server subprocess on a free 127.0.0.1 port over a fresh DuckDB file:
``indexlab serve`` when ``dashboard/views/app.py`` mounts ``BatchRunBuilder``, otherwise the builder alone
(``panel serve tests/browser/apps/builder_app.py``); ``--app script.py`` serves another Panel script
(``--app tests/browser/apps/builder_app.py``: the builder alone). Debian's Chromium, headless.

Each figure is a round trip measured inside the page with ``performance.now()``, from the user's
action until the UI shows its result (polled on every animation frame):

* first paint: navigation start until the grid's first rows are visible (a fresh browser context
  each time: no cache). The first load of the server is reported on its own ("cold"): a script
  served with ``panel serve`` opens the store and catalog in its first session.
* Select All: click until the selection line reads "100,000 selected across 65 brands", every
  row on the grid's page is checked and the brand order shows 65 cards (after Clear All).
* Select Brand: with the largest brand picked in the picker (0.3 s earlier, as a person would),
  click until the line reads its count and the brand order shows that one brand (after Clear All).
* search: type a model name into the search box until the grid's rows all match and the count of
  shown products is the catalog's (includes the 150 ms typing debounce).
* server RSS: VmRSS of the server process after the actions, with one page open; and the peak
  (VmHWM) at the end, after the first-paint runs (their sessions linger until Bokeh drops them).

Order: the cold first load, then the actions in one page, then the other first paints. Whether
the plan preview is part of a round trip depends on the page: the builder alone uses
``BuilderState(live_preview=False)`` (previews on a worker thread, after the UI has answered); a
live preview is computed inside each click. The machine's load average is printed (a busy machine
gives slower figures), and the count of tracebacks in the server's log (kept in
var/bench/ui-server.log), which should be 0.

Goals: first paint <= 2 s, each action <= 1 s, server RSS <= 500 MB.

``indexlab serve`` allocates Arrow memory through the system pool (engine/core/memory.py: mimalloc kept what
the catalog load and previews freed, about 100 MB); ``--arrow-pool mimalloc`` runs it with pyarrow's default
instead, to compare (a ``panel serve`` script keeps pyarrow's default unless given ``--arrow-pool``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from bench.common import ROOT, command_line, machine, machine_line, stop_server
from bench.make_catalog import write_catalog
from bench.served import (
    CHROMIUM,
    CHROMIUM_ARGS,
    BenchFailure,
    new_page,
    rss_mb,
    server_errors,
    start_server,
)

GOALS = {"first_paint_s": 2.0, "select_all_s": 1.0, "select_brand_s": 1.0, "search_s": 1.0, "rss_mb": 500.0}
def first_paint(browser, url: str) -> float:
    """Seconds from navigation start until the grid's first row is on screen."""
    context, page, errors, _ = new_page(browser)
    try:
        page.goto(url, wait_until="commit")
        page.wait_for_function(
            "() => { const r = window.__rows()[0]; return r && r.getBoundingClientRect().height > 0 }",
            polling="raf", timeout=60_000)
        elapsed = page.evaluate("() => performance.now()") / 1000  # performance.now() counts from navigation start
        if errors:
            raise BenchFailure(f"console errors on load: {errors}")
        return elapsed
    finally:
        context.close()


def round_trip(page, act: str, done: str, timeout: float = 30.0) -> float:
    """Run ``act`` (JS) and poll ``done`` (JS) every frame; seconds between, measured in the page."""
    page.evaluate(f"() => {{ window.__t0 = performance.now(); {act}; }}")
    try:
        page.wait_for_function(f"() => ({done})", polling="raf", timeout=timeout * 1000)
    except Exception as exc:
        shown = page.evaluate(SHOWN)
        raise BenchFailure(f"the page never showed the result of {act!r}; it shows {shown}") from exc
    return page.evaluate("() => performance.now() - window.__t0") / 1000


SHOWN = """() => ({summary: window.__text('.summary-text'), shown: window.__text('.shown-text'),
  rows: window.__rows().length,
  checked: window.__rows().filter(r => r.querySelector('input[type=checkbox]').checked).length,
  selected: window.__rows().filter(r => r.classList.contains('tabulator-selected')).length,
  cards: window.__deepAll('.brand-order li.card').length})"""


def click(css: str) -> str:
    return f"window.__inner('{css}', 'button').click()"


def summary_is(text: str) -> str:
    return f"window.__text('.summary-text') === {json.dumps(text)}"


def order_cards(count: int, first: str | None = None) -> str:
    """The brand order shows ``count`` cards (the first one naming ``first``)."""
    cards = "window.__deepAll('.brand-order li.card')"
    check = f"{cards}.length === {count}"
    if first is not None:
        check += f" && {cards}[0].dataset.brand === {json.dumps(first)}"
    return check


ALL_ROWS_CHECKED = ("(() => { const rows = window.__rows(); return rows.length > 0 && "
                    "rows.every(r => r.classList.contains('tabulator-selected') && r.querySelector('input').checked); })()")


def ensure_cleared(page) -> None:
    round_trip(page, click(".clear-all"), summary_is("0 selected across 0 brands") + " && " + order_cards(0))


def measure_actions(page, expect: dict[str, Any], repeat: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"select_all_s": [], "select_brand_s": [], "search_s": []}
    search_input = "window.__inner('.builder-search', 'input')"
    for _ in range(repeat):
        ensure_cleared(page)
        done = " && ".join([summary_is(expect["all_line"]), ALL_ROWS_CHECKED, order_cards(expect["brands"])])
        out["select_all_s"].append(round_trip(page, click(".select-all"), done))

        ensure_cleared(page)
        pick = (f"const s = window.__inner('.builder-brand-picker', 'select'); "
                f"s.value = [...s.options].find(o => o.textContent.startsWith({json.dumps(expect['brand'] + ' (')})).value; "
                f"s.dispatchEvent(new Event('change', {{bubbles: true}}))")
        page.evaluate(f"() => {{ {pick}; }}")
        time.sleep(0.3)  # as a person would: the pick reaches the server before the click
        done = summary_is(expect["brand_line"]) + " && " + order_cards(1, expect["brand"])
        out["select_brand_s"].append(round_trip(page, click(".select-brand"), done))

        term = expect["term"]
        typed = (f"const i = {search_input}; i.focus(); i.value = {json.dumps(term)}; "
                 f"i.dispatchEvent(new Event('input', {{bubbles: true}}))")
        rows_match = (f"window.__text('.shown-text') === {json.dumps(expect['term_shown'])} && "
                      f"window.__rows().length > 0 && "
                      f"window.__rows().every(r => r.textContent.toLowerCase().includes({json.dumps(term.lower())}))")
        out["search_s"].append(round_trip(page, typed, rows_match))
        cleared = (f"const i = {search_input}; i.value = ''; i.dispatchEvent(new Event('input', {{bubbles: true}})); "
                   f"i.dispatchEvent(new Event('change', {{bubbles: true}}))")
        round_trip(page, cleared, f"window.__text('.shown-text') === {json.dumps(expect['all_shown'])}")
    return out


def expectations(catalog: Path) -> dict[str, Any]:
    """What the page must show after each action, computed from the catalog itself."""
    import pandas as pd

    products = pd.read_parquet(catalog, columns=["product_id", "brand", "model", "variant"])
    n, sizes = len(products), products["brand"].value_counts()
    brand = str(sizes.index[0])
    hay = (products["brand"] + " " + products["model"] + " " + products["variant"] + " " + products["product_id"]).str.casefold()
    # A model family word ("Viper", "Arctis") matching a few hundred products: more than a page, far from all.
    words = products["model"].str.split(" ").str[0].value_counts()
    term = ""
    for word in words.index:
        matches = int(hay.str.contains(word.casefold(), regex=False).sum())
        if 200 <= matches <= 2000 and re.fullmatch(r"[A-Za-z][\w-]{3,}", word):
            term = word
            break
    term = term or str(products["model"].iloc[0])
    matches = int(hay.str.contains(term.casefold(), regex=False).sum())
    brands = products["brand"].nunique()
    return {
        "all_line": f"{n:,} selected across {brands} brand{'s' if brands != 1 else ''}",
        "brand": brand, "brand_line": f"{int(sizes.iloc[0]):,} selected across 1 brand",
        "term": term, "term_matches": matches, "term_shown": f"showing {matches:,} of {n:,} products",
        "all_shown": f"showing all {n:,} products", "products": n, "brands": brands,
    }


def bench(catalog: Path, repeat: int, arrow_pool: str | None = None, app: Path | None = None) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise BenchFailure(f"Chromium not found at {CHROMIUM}: apt-get install chromium, or set INDEXLAB_CHROMIUM")
    expect = expectations(catalog)
    with tempfile.TemporaryDirectory(prefix="indexlab-bench-ui-") as tmp, sync_playwright() as pw:
        proc, url, which = start_server(Path(tmp), catalog, arrow_pool, app)
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            load_before = os.getloadavg()
            cold = first_paint(browser, url)
            time.sleep(3)  # its session is dropped (builder alone) before the page the actions use opens
            context, page, errors, outside = new_page(browser)
            page.goto(url)
            page.wait_for_function("() => window.__rows().length > 0", polling="raf", timeout=60_000)
            actions = measure_actions(page, expect, repeat)
            memory = rss_mb(proc.pid)
            if errors or outside:
                raise BenchFailure(f"console errors {errors} / outside requests {outside}")
            context.close()
            warm = [first_paint(browser, url) for _ in range(repeat)]
            memory["peak_rss_mb"] = rss_mb(proc.pid)["peak_rss_mb"]
            load_after = os.getloadavg()
            server_log = (Path(tmp) / "server.log").read_text(errors="replace")
            kept_log = ROOT / "var" / "bench" / "ui-server.log"  # for a look at any traceback
            kept_log.parent.mkdir(parents=True, exist_ok=True)
            kept_log.write_text(server_log)
        except BenchFailure as exc:
            log = (Path(tmp) / "server.log").read_text(errors="replace")
            raise BenchFailure(f"{exc}\n--- server log (end) ---\n{log[-12000:]}") from exc
        finally:
            browser.close()
            stop_server(proc)
    figures = {"first_paint_s": warm, **actions}
    return {
        "command": command_line(), "machine": machine(), "server": which, "catalog": str(catalog),
        "arrow_memory_pool": arrow_pool or os.environ.get("ARROW_DEFAULT_MEMORY_POOL") or (
            "system (indexlab serve's)" if which.startswith("indexlab serve") else "pyarrow's default (mimalloc)"),
        "products": expect["products"], "brand": expect["brand"], "search_term": expect["term"],
        "search_matches": expect["term_matches"], "repeat": repeat, "cold_first_paint_s": cold,
        "figures": {k: {"median": statistics.median(v), "max": max(v), "runs": v} for k, v in figures.items()},
        **memory, "goals": GOALS, "load_average": {"before": load_before, "after": load_after},
        "server_tracebacks": server_errors(server_log),
    }


def report(result: dict[str, Any]) -> str:
    f = result["figures"]

    def line(label: str, key: str) -> str:
        median, worst, goal = f[key]["median"], f[key]["max"], GOALS[key]
        verdict = "ok" if median <= goal else "MISSED"
        return f"  {label:<14} median {median:6.3f} s   max {worst:6.3f} s   goal <= {goal:g} s   {verdict}"

    rss_ok = "ok" if result["rss_mb"] <= GOALS["rss_mb"] else "MISSED"
    return "\n".join([
        f"Batch Run Builder UI, {result['products']:,} products, {result['repeat']} runs each",
        f"  server: {result['server']}; Arrow memory pool: {result['arrow_memory_pool']}",
        line("first paint", "first_paint_s") + f"   (cold first load {result['cold_first_paint_s']:.3f} s)",
        line("Select All", "select_all_s"),
        line("Select Brand", "select_brand_s") + f"   ({result['brand']})",
        line("search", "search_s") + f"   ({result['search_term']!r}: {result['search_matches']:,} rows)",
        f"  server RSS     {result['rss_mb']:6.0f} MB with one page open (peak {result['peak_rss_mb']:.0f} MB)"
        f"   goal <= {GOALS['rss_mb']:g} MB   {rss_ok}",
        f"  machine: {machine_line(result['machine'])}",
        "  load average (1 min) before/after: {:.2f} / {:.2f}".format(result["load_average"]["before"][0],
                                                                   result["load_average"]["after"][0]),
        f"  server tracebacks in its log: {result['server_tracebacks']} (var/bench/ui-server.log)",
    ])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--soak" in argv:  # the soak mode: server memory over page loads and batches (bench/soak.py)
        from bench.soak import main as soak_main

        return soak_main([a for a in argv if a != "--soak"])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=ROOT / "var" / "bench" / "catalog-100k.parquet",
                        help="Parquet catalog; written with bench/make_catalog.py when missing")
    parser.add_argument("--n", type=int, default=100_000, help="products when the catalog must be written")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each measurement (default: %(default)s)")
    parser.add_argument("--arrow-pool", choices=["system", "mimalloc", "jemalloc"],
                        help="ARROW_DEFAULT_MEMORY_POOL for the server (default: as the environment has it)")
    parser.add_argument("--app", type=Path, help="serve this Panel script with panel serve instead (A/B a variant); "
                        "default: indexlab serve when dashboard/views/app.py mounts the builder, else the builder alone")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if not args.catalog.exists():
        write_catalog(args.catalog, args.n)
    result = bench(args.catalog, args.repeat, args.arrow_pool, args.app)
    print(json.dumps(result, indent=2, default=str) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
