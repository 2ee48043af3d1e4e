"""Browser fixtures: a real ``indexlab serve`` process on 127.0.0.1 and Debian's Chromium via Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, PageWithConsole, watch
from tests.support.servers import Server, start_server, stop_server

# Playwright's expect() waits 5 s by default: a round trip and a redraw on a loaded CI machine can take longer. It
# only waits this long when a test is failing; a passing test goes on as soon as its condition holds.
EXPECT_TIMEOUT_MS = 30_000


@pytest.fixture(scope="session", autouse=True)
def patient_expect() -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@pytest.fixture
def server(tmp_path) -> Iterator[Server]:
    srv = start_server(tmp_path / "browser.duckdb", log=tmp_path / "server.log")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def browser():
    """One Chromium per module: Playwright's sync API runs an event loop in this thread while it lives."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make test` (it installs Debian's chromium) "
                    "or set INDEXLAB_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:  # Playwright gives each launch a fresh, empty user data dir
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator[PageWithConsole]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield watch(context)
    context.close()
