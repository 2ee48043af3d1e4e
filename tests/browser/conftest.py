"""Browser tests: a real ``indexlab serve`` process on 127.0.0.1 and Debian's Chromium via Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.servers import Server, start_server, stop_server

CHROMIUM = os.environ.get("INDEXLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync", "--disable-quic", "--disable-dev-shm-usage",
]


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


@dataclass
class PageWithConsole:
    page: object
    errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)  # anything not on loopback: must stay empty


def watch(context) -> PageWithConsole:
    """A new page in ``context``: loopback-only requests, console errors and page errors collected."""
    watched = PageWithConsole(page=context.new_page())

    def loopback_only(route):
        host = urlsplit(route.request.url).hostname or ""
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            watched.outside_requests.append(route.request.url)
            route.abort()

    context.route("**/*", loopback_only)
    watched.page.on("console", lambda msg: watched.errors.append(msg.text) if msg.type == "error" else None)
    watched.page.on("pageerror", lambda exc: watched.errors.append(f"{exc}\n{getattr(exc, 'stack', '')}"))
    return watched


@pytest.fixture
def page(browser) -> Iterator[PageWithConsole]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield watch(context)
    context.close()
