"""The builder's grid at 2,110 products (43 pages), served whole by ``indexlab serve``: select all matching after the
header checkbox, a page jump, undo of bulk actions, the Brands box, and the selection kept across a reload."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"  # a test never writes tracked files


def open_builder(server, page):
    p = page.page
    p.goto(server.url + "/")
    expect(p.locator(".tabulator-row").first).to_be_visible(timeout=30_000)
    return p


def summary(p):
    return p.locator(".summary-text")


def button(p, label: str):
    return p.get_by_role("button", name=label, exact=True)


def active_page(p) -> str:
    return p.locator(".tabulator-page.active").inner_text().strip()


def test_select_all_matching_after_the_page_checkbox(server, page):
    p = open_builder(server, page)
    p.locator(".tabulator-header input[type=checkbox]").first.click()
    expect(summary(p)).to_have_text("50 selected across 5 brands", timeout=10_000)
    banner = p.locator(".select-matching-banner")
    expect(banner).to_contain_text("All 50 products on this page are selected.", timeout=10_000)
    button(p, "Select all 2,110 matching").click()
    expect(summary(p)).to_have_text("2,110 selected across 65 brands", timeout=10_000)
    expect(banner).to_contain_text("All 2,110 products matching the filter are selected.")
    button(p, "Clear selection").click()
    expect(summary(p)).to_have_text("0 selected across 0 brands", timeout=10_000)
    expect(banner).to_be_hidden()
    assert page.errors == [] and page.outside_requests == []


def test_a_page_jump_refuses_pages_that_do_not_exist(server, page):
    p = open_builder(server, page)
    box = p.locator(".page-jump input")
    for wrong in ("0", "-1", "99999"):
        box.fill(wrong)
        box.press("Enter")
        expect(p.locator(".page-jump-error")).to_contain_text(f"No page {int(wrong):,}: pages are 1 to 43.", timeout=10_000)
        assert active_page(p) == "1"
    box.fill("7")
    box.press("Enter")
    expect(p.locator(".tabulator-page.active")).to_have_text("7", timeout=10_000)
    expect(p.locator(".page-jump-error")).to_be_hidden()
    assert page.errors == [] and page.outside_requests == []


def test_undo_takes_back_bulk_actions_and_is_off_with_nothing_to_undo(server, page):
    p = open_builder(server, page)
    undo = p.locator(".undo button")
    expect(undo).to_be_disabled()
    undo.click(force=True)  # nothing to undo: nothing happens
    expect(summary(p)).to_have_text("0 selected across 0 brands")
    button(p, "Select Brand").click()  # the picker's first brand: 8BitDo (19)
    expect(summary(p)).to_have_text("19 selected across 1 brand", timeout=10_000)
    button(p, "Select All").click()
    expect(summary(p)).to_have_text("2,110 selected across 65 brands", timeout=10_000)
    expect(undo).to_have_text("Undo Select All")
    undo.click()
    expect(summary(p)).to_have_text("19 selected across 1 brand", timeout=10_000)
    expect(undo).to_have_text("Undo Select Brand 8BitDo")
    button(p, "Remove Brand").click()
    expect(summary(p)).to_have_text("0 selected across 0 brands", timeout=10_000)
    undo.click()
    expect(summary(p)).to_have_text("19 selected across 1 brand", timeout=10_000)
    assert page.errors == [] and page.outside_requests == []


def test_the_brands_box_does_not_say_all_brands_next_to_a_chip(server, page):
    p = open_builder(server, page)
    chips = p.locator(".builder-brand-chips")
    expect(chips.locator("input[placeholder='All brands']")).to_have_count(1)
    chips.locator("input").first.click()
    p.keyboard.type("Razer")
    p.keyboard.press("Enter")
    expect(p.locator(".shown-text")).to_contain_text("of 2,110 products", timeout=10_000)
    expect(chips.locator("input[placeholder='All brands']")).to_have_count(0, timeout=10_000)
    assert page.errors == [] and page.outside_requests == []


def test_the_selection_is_kept_across_a_reload(server, page):
    p = open_builder(server, page)
    button(p, "Select Brand").click()
    expect(summary(p)).to_have_text("19 selected across 1 brand", timeout=10_000)
    p.locator(".tabulator-row").nth(0).locator("input[type=checkbox]").click()  # 8BitDo's first row: off again
    expect(summary(p)).to_have_text("18 selected across 1 brand", timeout=10_000)
    p.reload()
    expect(p.locator(".tabulator-row").first).to_be_visible(timeout=30_000)
    expect(summary(p)).to_have_text("18 selected across 1 brand", timeout=15_000)
    assert page.errors == [] and page.outside_requests == []


@pytest.mark.parametrize("width,height", [(1440, 900), (1280, 720)])
def test_builder_screenshots(server, browser, width, height):
    from tests.support.browser import watch

    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        watched = watch(context)
        p = open_builder(server, watched)
        p.locator(".tabulator-header input[type=checkbox]").first.click()
        expect(p.locator(".select-matching-banner")).to_be_visible(timeout=10_000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        p.screenshot(path=str(SHOTS / f"builder-{width}x{height}.png"))
        overflow = p.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the page scrolls sideways by {overflow} px at {width}x{height}"
        assert watched.errors == [] and watched.outside_requests == []
    finally:
        context.close()
