"""History in Chromium: batch names (hostile ones as text), tags, the filter bar and archive / delete with a
confirmation, against a real ``panel serve`` of tests/browser/apps/summary_app.py with the REST plugin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.browser import PageWithConsole, watch
from tests.support.catalogs import numbered_rows, write_catalog
from tests.support.hostile import IMG
from tests.support.polling import wait_until
from tests.support.summary import SummaryServer, assert_clean, serve_summary, text

pytestmark = pytest.mark.browser
B = "/api/v1/indexlab/batch"


@pytest.fixture
def app(tmp_path) -> Iterator[SummaryServer]:
    yield from serve_summary(tmp_path, write_catalog(tmp_path / "catalog.csv", numbered_rows(6)))


@pytest.fixture
def session(browser) -> Iterator[PageWithConsole]:
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    yield watch(context)
    context.close()


def _names(page) -> list[str]:
    cells = page.locator('.history-batches .tabulator-row .tabulator-cell[tabulator-field="name"]')
    return cells.all_inner_texts()  # one read: the rows are redrawn as the list is re-read


def _shows(page, names: list[str], what: str) -> None:
    wait_until(lambda: _names(page) == names, timeout=15, message=lambda: f"{what}: History shows {_names(page)}")


def _type(page, key: str, value: str) -> None:
    box = page.locator(f".history-filter-{key} input")
    box.fill(value)
    box.press("Enter")


def test_history_filters_names_tags_archive_and_delete(app, session):
    hostile = app.post("plan", {"selection": {"all": True}, "settings": {"runner": "noop"}, "name": IMG,
                                "tags": ["Q4"]})["batch_run_id"]
    plain = app.post("plan", {"selection": {"all": True}, "settings": {"runner": "noop"}, "name": "plain batch",
                              "tags": ["q3"]})["batch_run_id"]
    done = app.post("plan", {"selection": {"all": True}, "settings": {"runner": "noop"}})["batch_run_id"]
    app.post("start", {"batch_run_id": done})
    wait_until(lambda: app.status(done)["state"] == "completed", timeout=30)
    default = "Logitech + 3 more brands mouse, 6 products"

    page = session.page
    page.goto(app.page_url)
    page.locator(".bk-tab", has_text="History").click()
    _shows(page, [default, "plain batch", IMG], "all batches")
    assert page.locator(".pwn").count() == 0  # the hostile name is text, never an element

    _type(page, "tag", "q4")
    _shows(page, [IMG], "tag q4")
    _type(page, "tag", "no-such-tag")
    _shows(page, [], "an unknown tag")
    _type(page, "tag", "")
    _type(page, "name", "PLAIN")
    _shows(page, ["plain batch"], "name contains PLAIN")
    page.locator(".history-filter-clear button").click()
    page.locator(".history-filter-result select").select_option("succeeded")
    _shows(page, [default], "result succeeded")
    page.locator(".history-filter-clear button").click()
    _shows(page, [default, "plain batch", IMG], "filters cleared")

    # archive the finished batch: gone from the list until "Show archived"
    page.locator(".history-batches .tabulator-cell", has_text=done).click()
    archive = page.locator(".history-archive button")
    wait_until(lambda: archive.is_enabled() and archive.inner_text().strip() == "Archive", timeout=15)
    archive.click()
    _shows(page, ["plain batch", IMG], "after archiving")
    page.locator(".history-filter-archived input").check()
    _shows(page, [default, "plain batch", IMG], "show archived")
    assert app.client.get(f"{B}/{done}").json()["archived_at"]

    # delete the hostile planned batch, after the confirmation
    page.locator(".history-batches .tabulator-cell", has_text=hostile).click()
    delete = page.locator(".history-delete button")
    # its id shows at once, its row (the name) once read: Delete… is enabled for that batch only from then on
    wait_until(lambda: IMG in text(page, "history-detail") and delete.is_enabled(), timeout=15,
               message=lambda: f"History shows {text(page, 'history-detail')[:200]!r}")
    delete.click()
    confirm = page.locator(".history-delete-confirm button")
    wait_until(lambda: confirm.is_visible(), timeout=15)
    assert app.client.get(f"{B}/{hostile}").status_code == 200  # asking deleted nothing
    confirm.click()
    _shows(page, [default, "plain batch"], "after deleting")
    assert app.client.get(f"{B}/{hostile}").status_code == 404
    assert app.client.get(f"{B}/{plain}").status_code == 200
    assert page.locator(".pwn").count() == 0
    assert_clean(session)
