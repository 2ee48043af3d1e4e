"""Debian's Chromium for browser tests, and a page that records console errors and every non-loopback request."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

CHROMIUM = os.environ.get("INDEXLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync", "--disable-quic", "--disable-dev-shm-usage",
]


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
