"""Hostile catalog and job text is plain text in every view of the page, in Chromium against ``indexlab serve``.

The catalog's brands, categories, models, variants and product ids, and the job's stderr, errors,
phase and outcome (fields, values, units, tiers, source URLs, snippets, sources) all hold script and
markup payloads. The scenario goes through every view (builder filters, grid, search and brand order;
Plan Preview; a batch started from the page with running items, failures and the feed; History's
batches, items, events and a product's evidence), hovers every table cell that holds text and checks:

- no dialog ever opens (every payload that could run calls ``alert``);
- no element a payload would create exists anywhere, shadow roots included (each payload tag carries
  ``class=pwn``; no element has an ``on*`` attribute, no link points at ``javascript:``);
- the text is shown literally where the data is shown, tooltips included (a tooltip holds only text).

Each failed check is collected with the place it failed, so one run names every weak spot.
Screenshots of each view at 1440x900 and 1280x720 land in ``artifacts/hostile/``.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.support.browser import watch
from tests.support.hostile import (
    BRANDS,
    BY_ID,
    CATEGORIES,
    COLUMNS,
    ERROR,
    IMG,
    JOB,
    PHASE,
    PRODUCTS,
    SHOTS,
    STDERR,
    B,
    Scene,
    shown_with,
)
from tests.support.polling import wait_until
from tests.support.servers import start_server, stop_server
from tests.support.summary import badge, count, server_errors, text

pytestmark = [pytest.mark.browser, pytest.mark.slow]

@pytest.fixture
def scene(browser, tmp_path) -> Iterator[Scene]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    catalog = tmp_path / "hostile.csv"
    with catalog.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(PRODUCTS)
    gate = tmp_path / "gate"
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"runner": "command", "command": [sys.executable, str(JOB), str(gate)],
                                    "workers": 3, "max_attempts": 1, "max_run_seconds": 120}))
    log = tmp_path / "server.log"
    server = start_server(tmp_path / "hostile.duckdb", catalog, log=log, args=["--settings", str(settings)])
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    watched = watch(context)
    scene = Scene(server=server, page=watched.page, errors=watched.errors, outside=watched.outside_requests,
                  api=httpx.Client(base_url=server.url, timeout=30), gate=gate)
    scene.page.on("dialog", lambda dialog: (scene.dialogs.append(dialog.message), dialog.dismiss()))
    yield scene
    gate.touch()
    context.close()
    scene.api.close()
    stop_server(server)
    assert server_errors(log) == [], log.read_text(errors="replace")


# --------------------------------------------------------------------------- the views
def builder(s: Scene) -> None:
    """Filters with their options listed, the grid and its tooltips, search, Select All and the brand order."""
    p = s.page
    p.goto(s.server.url + "/")
    grid = ".builder-grid"
    wait_until(lambda: p.locator(f"{grid} .tabulator-row").count() == len(PRODUCTS), timeout=30,
               message="the grid never showed the hostile catalog")
    s.rows_literal(grid, "builder grid", ("brand", "model", "variant", "category"))
    s.hover_cells(grid, ("brand", "model", "variant", "product_id", "category"), "builder grid")
    s.scan("builder grid")

    picker = [t.strip() for t in p.locator(".builder-brand-picker select option").all_inner_texts()]
    sizes = {b: sum(row[2] == b for row in PRODUCTS) for b in BRANDS}
    s.check(sorted(picker) == sorted(f"{b} ({n})" for b, n in sizes.items()), "Select Brand picker options", picker)

    def options(label: str, box, expected: list[str]) -> None:
        box.locator("input.choices__input").first.click(timeout=30_000)
        listed = box.locator(".choices__list--dropdown .choices__item--choice")
        shown: list[str] = []

        def listed_all() -> bool:
            shown[:] = [t.strip() for t in listed.all_inner_texts()]
            return sorted(shown) == sorted(expected)

        s.attempt(f"{label} filter options", wait_until, listed_all, timeout=30, message=lambda: f"listed {shown}")
        s.scan(f"{label} filter open")
        s.shot(f"builder-{label.lower()}-open")
        p.keyboard.press("Escape")
        p.mouse.click(1, 1)

    chips = p.locator(".builder-brand-chips")
    s.attempt("Brands filter", options, "Brands", chips, BRANDS)
    s.attempt("Categories filter", options, "Categories",
              p.locator(".choices", has=p.get_by_placeholder("All categories")), CATEGORIES)

    def pick_brand() -> None:
        chips.locator("input.choices__input").first.click(timeout=30_000)
        chips.locator(".choices__list--dropdown .choices__item--choice", has_text="onerror").first.click(timeout=30_000)
        wait_until(lambda: p.locator(f"{grid} .tabulator-row").count() == 2, timeout=30,
                   message="picking the <img> brand did not filter the grid")
        chip = [t.strip() for t in chips.locator(".choices__list--multiple .choices__item").all_inner_texts()]
        s.check(any(IMG in c for c in chip), "brand chip", chip)
        s.check(set(s.cells(grid, "brand")) == {IMG}, "grid filtered by the <img> brand", s.cells(grid, "brand"))
        s.scan("brand chip")
        chips.locator(".choices__list--multiple .choices__button").first.click(timeout=30_000)
        p.mouse.click(1, 1)
        wait_until(lambda: p.locator(f"{grid} .tabulator-row").count() == len(PRODUCTS), timeout=30,
                   message="removing the brand chip did not show every product again")

    s.attempt("Brands filter: pick a brand", pick_brand)

    search = p.locator(".builder-search input")
    search.fill("<script>alert(2)")
    search.press("Enter")
    wait_until(lambda: s.cells(grid, "product_id") == ["ok-1"], timeout=30,
               message=lambda: f"search <script>alert(2) found {s.cells(grid, 'product_id')}")
    s.rows_literal(grid, "builder grid searched")
    search.fill("")
    search.press("Enter")
    wait_until(lambda: p.locator(f"{grid} .tabulator-row").count() == len(PRODUCTS), timeout=30)

    p.get_by_role("button", name="Select All", exact=True).click()
    names = p.locator(".brand-order .card .name")
    wait_until(lambda: names.count() == len(BRANDS), timeout=30, message="the brand order never showed the brands")
    shown = [t.strip() for t in names.all_inner_texts()]
    s.check(sorted(shown) == BRANDS, "brand order cards", shown)
    s.scan("builder, all selected")
    s.shot("builder")


def preview(s: Scene) -> None:
    """Plan Preview: categories, command and first items, literally; then Start Batch from the page."""
    p = s.page
    s.tab("Plan Preview")
    heading = f"{len(PRODUCTS)} products across {len(BRANDS)} brands"
    wait_until(lambda: p.get_by_text(heading).count() > 0, timeout=20, message="the preview never showed the plan")
    label = p.get_by_text("Categories", exact=True).locator("xpath=..")  # the line the label leads
    line = wait_until(lambda: label.count() and "Categories" in (t := label.first.inner_text()) and t, timeout=30,
                      message="the preview shows no categories line")
    line = line[line.index("Categories"):]
    for category in CATEGORIES:
        s.literal(line, category, "preview categories")
    first = ".preview-first-items"
    wait_until(lambda: len(s.cells(first, "product_id")) == len(PRODUCTS), timeout=30)
    s.rows_literal(first, "preview first items", ("brand", "model", "variant", "category"))
    for cell in p.locator(f"{first} .tabulator-cell[tabulator-field]:not([tabulator-field='_index'])").all():
        s.attempt("preview first items: hover", cell.hover, timeout=30_000)  # no tooltips there: any other handler
    s.scan("plan preview")
    s.shot("preview")
    start = p.get_by_role("button", name="Start Batch", exact=True)
    wait_until(lambda: any(start.nth(i).is_visible() and start.nth(i).is_enabled() for i in range(start.count())),
               timeout=20, message="Start Batch never enabled")
    next(start.nth(i) for i in range(start.count()) if start.nth(i).is_visible()).click()


def summary(s: Scene) -> str:
    """Batch Run Summary with two items held running, two failed: running, failures, feed and items."""
    p = s.page
    wait_until(lambda: count(p, "completed") == 4 and count(p, "failed") == 2 and count(p, "running") == 2,
               timeout=60, message=lambda: f"counts on the page: {[count(p, x) for x in ('completed', 'failed', 'running')]}")
    batch = s.api.get(B, params={"limit": 1}).json()["batches"][0]["batch_run_id"]
    wait_until(lambda: "hold-1" in text(p, "summary-running") and "hold-2" in text(p, "summary-running"), timeout=30,
               message=lambda: f"Now running shows {text(p, 'summary-running')!r}")
    running = text(p, "summary-running")
    for pid in ("hold-1", "hold-2"):
        row = BY_ID[pid]
        s.literal(running, f"{row['brand']} {row['model']} {row['variant']}", "now running")
        s.literal(running, pid, "now running")
    s.literal(running, PHASE, "now running phase")
    wait_until(lambda: text(p, "summary-failures").count("failed") >= 2, timeout=30,
               message=lambda: f"Recent failures shows {text(p, 'summary-failures')!r}")
    failures = text(p, "summary-failures")
    s.literal(failures, ERROR, "recent failures")
    s.literal(failures, f"{BY_ID['fail-1']['brand']} {BY_ID['fail-1']['model']}", "recent failures")
    s.literal(failures, f"{BY_ID['fail-2']['brand']} {BY_ID['fail-2']['model']} {BY_ID['fail-2']['variant']}",
              "recent failures")
    p.locator(".bk-tab.bk-active", has_text="Batch Run Summary").wait_for()
    p.locator(".summary-feed-toggle input[type=checkbox]").check()  # "show item moves"
    wait_until(lambda: "FAILED" in text(p, "summary-feed").upper(), timeout=30,
               message=lambda: f"the feed shows {text(p, 'summary-feed')!r}")
    s.literal(text(p, "summary-feed"), ERROR, "action feed with item moves")
    table = ".summary-items"
    wait_until(lambda: len(s.cells(table, "product_id")) == len(PRODUCTS)
               and s.cells(table, "last_error").count(ERROR) == 2, timeout=15,
               message=lambda: f"items table: {s.cells(table, 'last_error')}")
    s.rows_literal(table, "summary items")
    s.hover_cells(table, ("state", "brand", "model", "variant", "product_id", "phase", "last_error"), "summary items")
    s.attempt("summary triage", triage, s)
    s.scan("batch run summary")
    s.shot("summary-running")
    s.gate.touch()
    wait_until(lambda: count(p, "completed") == 6 and badge(p) == "completed", timeout=30,
               message="the held items never completed")
    return batch


def triage(s: Scene) -> None:
    """Failure groups, needs review, the items filters' options and one item's events (its stderr tail)."""
    p = s.page
    groups = ".summary-groups"
    wait_until(lambda: len(s.cells(groups, "reason")) == 1, timeout=15,
               message=lambda: f"failure groups: {s.cells(groups, 'reason')}")
    reason = s.cells(groups, "reason")[0]
    s.check(reason.startswith("exit 1: <img src=x onerror=alert(") and "class=pwn> failed" in reason,
            "failure group reason", reason)
    s.check("fail-1" in s.cells(groups, "examples")[0] and "fail-2" in s.cells(groups, "examples")[0],
            "failure group examples", s.cells(groups, "examples"))
    s.hover_cells(groups, ("reason", "examples"), "failure groups")
    review = shown_with(p, "summary-review", "products")
    for missing in ("<img src=x onerror=alert(38) class=pwn>", "**<b class=pwn>m</b>**"):
        s.literal(review, missing, "needs review missing fields")
    brands = [t.strip() for t in p.locator(".summary-item-brand select option").all_inner_texts()]
    s.check(sorted(brands) == sorted(["(all brands)", *BRANDS]), "items brand filter options", brands)
    reasons = [t.strip() for t in p.locator(".summary-item-reason select option").all_inner_texts()]
    s.check(len(reasons) == 2 and reasons[1].startswith(reason[:60]), "items reason filter options", reasons)
    p.locator(".summary-item-brand select").select_option(label=BY_ID["fail-2"]["brand"])
    table = ".summary-items"
    wait_until(lambda: s.cells(table, "product_id") == ["fail-2"], timeout=30,
               message=lambda: f"items of the {BY_ID['fail-2']['brand']!r} brand: {s.cells(table, 'product_id')}")
    s.rows_literal(table, "summary items by a hostile brand")
    p.locator(f"{table} .tabulator-cell[tabulator-field='product_id']", has_text="fail-2").click()
    events = shown_with(p, "summary-item-events", "stderr tail")
    for line in (*STDERR, ERROR.removeprefix("exit 1: ")):
        s.literal(events, line, "item events (stderr tail)")
    s.literal(events, f"{BY_ID['fail-2']['brand']} {BY_ID['fail-2']['model']} {BY_ID['fail-2']['variant']}",
              "item events product")
    s.scan("summary triage")
    p.locator(".summary-item-brand select").select_option(label="(all brands)")


def history(s: Scene, batch: str) -> None:
    """History: the batch list, the batch's items and events, and one product's evidence."""
    p = s.page
    s.tab("History")
    batches = ".history-batches"
    wait_until(lambda: batch in s.cells(batches, "batch_run_id"), timeout=15, message="History never listed the batch")
    s.hover_cells(batches, ("name", "batch_run_id", "state", "result", "outcome", "tags", "runner", "profile", "reason"),
                  "history batches")
    p.locator(f"{batches} .tabulator-cell", has_text=batch).click()
    items = ".history-items"
    wait_until(lambda: len(s.cells(items, "product_id")) == len(PRODUCTS), timeout=15,
               message="the batch's items never showed")
    s.rows_literal(items, "history items", ("product",))
    s.check(s.cells(items, "last_error").count(ERROR) == 2, "history items last_error", s.cells(items, "last_error"))
    s.hover_cells(items, ("product", "product_id", "last_error"), "history items")
    s.scan("history items")
    s.shot("history-items")

    p.locator(".bk-tab", has_text="Events").click()
    events = ".history-events"
    wait_until(lambda: len(s.cells(events, "reason")) > 0, timeout=15, message="the batch's events never showed")
    reasons = s.cells(events, "reason")
    s.check(any(line in reasons for line in STDERR) or any(ERROR in r for r in reasons), "history events reasons", reasons)
    s.hover_cells(events, ("kind", "move", "actor", "reason"), "history events")
    s.scan("history events")
    s.shot("history-events")

    p.locator(".bk-tab", has_text="Items").click()
    wait_until(lambda: len(s.cells(items, "product_id")) == len(PRODUCTS), timeout=15)
    p.locator(f"{items} .tabulator-cell[tabulator-field='product_id']", has_text=re.compile(r"^ok-1$")).click()
    head = shown_with(p, "outcome-head", "coverage")  # the placeholder says "latest outcome" too
    evidence = shown_with(p, "outcome-evidence", "Fields and evidence")
    ok1 = BY_ID["ok-1"]
    s.literal(head, f"{ok1['brand']} {ok1['model']} {ok1['variant']}", "outcome head")
    s.literal(head, "<b class=pwn>runner</b>", "outcome head runner")
    s.literal(head, "<img src=x onerror=alert(38) class=pwn>", "outcome head missing")
    for expected in ("<img src=x onerror=alert(31) class=pwn>", "<script>alert(32)</script> <b class=pwn>u</b>",
                     "<svg class=pwn onload=alert(33)>", "javascript:alert(34)", "<i class=pwn>s</i>",
                     "**<b class=pwn>v</b>** [x](javascript:alert(35))",
                     'https://example.com/"><img src=x onerror=alert(36) class=pwn>',
                     "<img src=x onerror=alert(37) class=pwn>, k: <b class=pwn>k</b>",  # a list, joined as text
                     "JaVaScRiPt:alert(39)", "<img src=x onerror=alert(40) class=pwn>"):
        s.literal(evidence, expected, "outcome evidence")
    links = p.locator(".outcome-evidence a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    s.check(all(h.startswith("https://") for h in hrefs) and len(hrefs) == 2, "outcome evidence links", hrefs)
    s.scan("outcome evidence")
    s.shot("history-outcome")


def test_hostile_text_shows_as_plain_text_in_every_view(scene):
    builder(scene)
    preview(scene)
    batch = summary(scene)
    history(scene, batch)
    scene.page.set_viewport_size({"width": 1280, "height": 720})
    for name, shown in (("Batch Run Builder", ".builder-grid .tabulator-row"), ("Plan Preview", ".preview-summary"),
                        ("Batch Run Summary", ".summary-header .badge"), ("History", ".history-batches .tabulator-row")):
        scene.tab(name)
        scene.page.locator(shown).first.wait_for(state="visible", timeout=20_000)
        scene.scan(f"{name} at 1280x720")
        scene.shot(name.lower().replace(" ", "-"))
    scene.scan("the end")
    assert scene.hovered >= 100, f"only {scene.hovered} cells hovered"
    problems = [*scene.findings, *(f"dialog opened: {m}" for m in scene.dialogs),
                *(f"console error: {e[:200]}" for e in scene.errors), *(f"request off loopback: {u}" for u in scene.outside)]
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
