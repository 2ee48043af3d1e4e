"""The Batch Run Builder in Debian's Chromium: served alone (tests/browser/apps/builder_app.py) by a real
``panel serve`` process over the embedded catalog (2,110 products, 65 brands, 43 grid pages)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from engine.core.catalog import default_catalog_path, load_catalog
from tests.support.polling import wait_until
from tests.support.servers import Server, panel_serve, stop_server

pytestmark = pytest.mark.browser

APP = Path(__file__).resolve().parent / "apps" / "builder_app.py"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(default_catalog_path()).products


@pytest.fixture(scope="module")
def builder_server(tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("builder")
    env = {"INDEXLAB_DB": str(tmp / "builder.duckdb"), "INDEXLAB_CATALOG": str(default_catalog_path()),
           "INDEXLAB_AUTO_RESUME": "0"}
    # ready: a static file answers without opening a session
    server = panel_serve(APP, log=tmp / "server.log", env=env, path="/builder_app", ready="/static/js/bokeh.min.js")
    yield server
    stop_server(server)


@pytest.fixture
def builder(builder_server, page):
    """The builder page, loaded: the grid shows its first rows."""
    p = page.page
    p.goto(builder_server.url)
    expect(p.locator(".tabulator-row").first).to_be_visible(timeout=30_000)
    expect(summary(p)).to_have_text("0 selected across 0 brands")
    yield page
    assert page.errors == [], page.errors
    assert page.outside_requests == [], page.outside_requests


def summary(p):
    return p.locator(".summary-text")


def rows(p):
    return p.locator(".tabulator-row")


def button(p, label: str):
    return p.get_by_role("button", name=label, exact=True)


def pick_brand(p, catalog, brand: str) -> int:
    """Choose ``brand`` in the Select Brand picker (labelled "Razer (212)"); returns its product count."""
    count = int((catalog["brand"] == brand).sum())
    p.locator(".builder-brand-picker select").select_option(label=f"{brand} ({count:,})")
    return count


def expect_page_checked(p, checked: bool = True) -> None:
    wait_until(lambda: rows(p).count() > 0 and all(
        c == checked for c in rows(p).locator("input[type=checkbox]").evaluate_all("els => els.map(e => e.checked)")),
        timeout=30, message=f"the page's rows are not all {'checked' if checked else 'unchecked'}")


def test_page_loads_without_console_errors(builder, tmp_path):
    p = builder.page
    for label in ("Select All", "Clear All", "Select Brand", "Invert Selection"):
        expect(button(p, label)).to_be_visible()
    expect(p.locator(".shown-text")).to_have_text("showing all 2,110 products")
    expect(p.locator(".preview-text")).to_have_text("preview: Select products to see what will run.")
    p.screenshot(path=str(tmp_path / "builder.png"), full_page=True)


def test_select_all_selects_every_product_on_every_page(builder, catalog):
    p = builder.page
    button(p, "Select All").click()
    expect(summary(p)).to_have_text(f"{len(catalog):,} selected across {catalog['brand'].nunique()} brands")
    expect_page_checked(p)
    p.locator(".tabulator-page[data-page=last]").click()
    expect(p.locator(".tabulator-page.active")).to_have_text("43")
    expect_page_checked(p)
    expect(p.locator(".preview-text")).to_contain_text(f"preview: {len(catalog):,} items", timeout=15_000)
    button(p, "Clear All").click()
    expect(summary(p)).to_have_text("0 selected across 0 brands")
    expect_page_checked(p, False)


def test_select_brand_selects_every_product_of_the_brand(builder, catalog):
    p = builder.page
    count = pick_brand(p, catalog, "Razer")
    button(p, "Select Brand").click()
    expect(summary(p)).to_have_text(f"{count:,} selected across 1 brand")
    expect(p.locator(".brand-order li.card")).to_have_count(1)
    expect(p.locator(".brand-order li.card .name")).to_have_text("Razer")
    expect(p.locator(".preview-text")).to_have_text(f"preview: {count:,} items; brands Razer", timeout=15_000)


def test_search_filters_the_grid_as_you_type(builder, catalog):
    p = builder.page
    hay = (catalog["brand"] + " " + catalog["model"] + " " + catalog["variant"] + " " + catalog["product_id"]).str.casefold()
    matches = int(hay.str.contains("deathadder", regex=False).sum())
    p.locator(".builder-search input").press_sequentially("DeathAdder", delay=20)
    expect(p.locator(".shown-text")).to_have_text(f"showing {matches:,} of {len(catalog):,} products")
    wait_until(lambda: (texts := rows(p).all_inner_texts()) and all("deathadder" in t.casefold() for t in texts),
               timeout=30, message="the grid does not show only matching rows")
    button(p, "Select All").click()
    expect(summary(p)).to_have_text(f"{matches:,} selected across 1 brand")


def _press_until(p, press, expected: str, checkbox, checked: bool) -> None:
    """Press a key on a row checkbox until the selection reads ``expected``.

    Each server answer redraws the checked rows, and a redraw can take focus from the checkbox between
    Playwright's focus and its key press: the key is then lost (the box and the selection unchanged).
    Only a press that provably did nothing is repeated, so a slow answer is never toggled twice.
    """
    before = summary(p).inner_text()
    for _ in range(3):
        press()
        try:
            wait_until(lambda: summary(p).inner_text().strip() == expected, timeout=5)
            break
        except AssertionError:
            if summary(p).inner_text() != before or checkbox.is_checked() is checked:
                break  # the press landed (no retry): its answer is only slow, and the expects below wait for it
    expect(summary(p)).to_have_text(expected)
    expect(checkbox).to_be_checked(checked=checked)


def test_a_row_checkbox_toggles_with_a_click_and_with_space(builder):
    p = builder.page
    rows(p).nth(2).locator("input[type=checkbox]").click()
    expect(summary(p)).to_have_text("1 selected across 1 brand")
    # locator.press focuses the current element and presses in one step.
    box = rows(p).nth(4).locator("input[type=checkbox]")
    _press_until(p, lambda: box.press("Space"), "2 selected across 1 brand", box, True)
    _press_until(p, lambda: box.press("Space"), "1 selected across 1 brand", box, False)
    nxt = rows(p).nth(5).locator("input[type=checkbox]")
    _press_until(p, lambda: nxt.press("Space"), "2 selected across 1 brand", nxt, True)


def test_invert_selection_works_within_the_search(builder, catalog):
    p = builder.page
    hay = (catalog["brand"] + " " + catalog["model"] + " " + catalog["variant"] + " " + catalog["product_id"]).str.casefold()
    matches = int(hay.str.contains("viper", regex=False).sum())
    p.locator(".builder-search input").fill("viper")
    p.locator(".builder-search input").press("Enter")
    expect(p.locator(".shown-text")).to_have_text(f"showing {matches:,} of {len(catalog):,} products")
    rows(p).nth(0).locator("input[type=checkbox]").click()
    expect(summary(p)).to_have_text("1 selected across 1 brand")
    button(p, "Invert Selection").click()
    expect(summary(p)).to_have_text(re.compile(rf"^{matches - 1:,} selected across \d+ brands?$"))


FOCUSED_TEXT = ("() => { let a = document.activeElement; while (a && a.shadowRoot && a.shadowRoot.activeElement)"
                " a = a.shadowRoot.activeElement; return a ? a.textContent.trim() : '' }")


def tab_to(p, label: str, *, presses: int) -> None:
    """Press Tab until the focused element reads ``label`` (focus is inside shadow roots), at most ``presses`` times."""
    for _ in range(presses):
        p.keyboard.press("Tab")
        if p.evaluate(FOCUSED_TEXT) == label:
            return
    pytest.fail(f"Tab never reached {label} in {presses} presses")


def test_toolbar_buttons_are_reachable_with_tab_and_work_with_enter(builder, catalog):
    p = builder.page
    p.locator(".builder-search input").focus()
    tab_to(p, "Select All", presses=60)  # through the filters and the pager to the first toolbar button
    p.keyboard.press("Enter")
    expect(summary(p)).to_have_text(f"{len(catalog):,} selected across {catalog['brand'].nunique()} brands")
    tab_to(p, "Clear All", presses=5)  # Undo, enabled by the Select All, may come first
    p.keyboard.press("Space")
    expect(summary(p)).to_have_text("0 selected across 0 brands")


def test_brand_order_buttons_move_brands_and_the_preview_by_keyboard(builder, catalog):
    p = builder.page
    for brand in ("Zowie", "Razer"):
        pick_brand(p, catalog, brand)
        button(p, "Select Brand").click()
    cards = p.locator(".brand-order li.card .name")
    expect(cards).to_have_text(["Zowie", "Razer"])
    expect(p.locator(".preview-text")).to_contain_text("brands Zowie, Razer", timeout=15_000)
    up = p.get_by_role("button", name="Move Razer up")
    up.focus()
    p.keyboard.press("Enter")
    expect(cards).to_have_text(["Razer", "Zowie"])
    expect(p.locator(".preview-text")).to_contain_text("brands Razer, Zowie", timeout=15_000)
    # Focus stays with Razer: its "up" is now disabled, so the next control of its card has it.
    focused = p.evaluate("() => { let a = document.activeElement; while (a && a.shadowRoot && a.shadowRoot.activeElement)"
                         " a = a.shadowRoot.activeElement; return a ? a.getAttribute('aria-label') : null }")
    assert focused is not None and "Razer" in focused
    pin = p.get_by_role("button", name="Pin Zowie")
    pin.focus()
    p.keyboard.press("Space")
    expect(cards).to_have_text(["Zowie", "Razer"])
    expect(p.get_by_role("button", name="Unpin Zowie")).to_have_attribute("aria-pressed", "true")
    expect(p.get_by_role("button", name="Move Zowie up")).to_be_disabled()
    expect(p.locator(".preview-text")).to_contain_text("brands Zowie, Razer", timeout=15_000)
