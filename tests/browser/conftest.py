"""Browser tests: a real ``indexlab serve`` process on 127.0.0.1 and Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import wait_until

CHROMIUM = os.environ.get("INDEXLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync", "--disable-quic", "--disable-dev-shm-usage",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(db: Path, catalog: Path | None = None, *, log: Path) -> Server:
    port = free_port()
    exe = shutil.which("indexlab", path=str(Path(sys.executable).parent))
    argv = [exe, "serve", "--db", str(db), "--port", str(port)]
    if catalog:
        argv += ["--catalog", str(catalog)]
    handle = log.open("w")
    process = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = Server(url=f"http://127.0.0.1:{port}", process=process, log=log)

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{server.output()}")
        try:
            return httpx.get(server.url + "/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=60, message="server did not answer on /")
    return server


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=15)


@pytest.fixture
def server(tmp_path) -> Iterator[Server]:
    srv = start_server(tmp_path / "browser.duckdb", log=tmp_path / "server.log")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def browser():
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


@pytest.fixture
def page(browser) -> Iterator[PageWithConsole]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    watched = PageWithConsole(page=page)

    def loopback_only(route):
        host = urlsplit(route.request.url).hostname or ""
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            watched.outside_requests.append(route.request.url)
            route.abort()

    context.route("**/*", loopback_only)
    page.on("console", lambda msg: watched.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
    yield watched
    context.close()
