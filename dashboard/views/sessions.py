"""What each browser session holds, and proof that a closed page gives it back.

Every page load builds its own tabs and state (``dashboard.views.app.build_tabs``); they must die with the
session, or each reload of the page would keep tens of megabytes for good. ``track`` names a
session's objects weakly; ``live_session_objects`` counts the ones still alive. With
``INDEXLAB_DEBUG_SESSIONS=1`` the server answers ``GET /debug/sessions`` with that count (tests and
``bench/soak.py`` read it); otherwise the route does not exist.
"""

from __future__ import annotations

import gc
import logging
import weakref
from collections import Counter
from typing import Any

from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler
from tornado.websocket import WebSocketClosedError

_tracked: weakref.WeakSet[Any] = weakref.WeakSet()


def track(*objects: Any) -> None:
    """Name objects that belong to one session (weakly: tracking keeps nothing alive)."""
    for obj in objects:
        _tracked.add(obj)


def live_session_objects() -> dict[str, int]:
    """Tracked objects still alive, per type, after a full collection (sessions hold reference cycles)."""
    gc.collect()
    return dict(Counter(type(obj).__name__ for obj in list(_tracked)))


class SessionsHandler(RequestHandler):
    def get(self) -> None:
        objects = live_session_objects()
        self.write({"session_objects": objects, "total": sum(objects.values())})


def debug_routes(enabled: bool) -> list[tuple[str, type[RequestHandler]]]:
    """``/debug/sessions`` when ``enabled`` (``INDEXLAB_DEBUG_SESSIONS=1``), else nothing."""
    return [("/debug/sessions", SessionsHandler)] if enabled else []


class ClosedPageFilter(logging.Filter):
    """Keep out of the log the traceback of a write to a page the browser already closed.

    Panel writes each update as several websocket messages; when the page closes between two of them,
    the first write's task fails with ``WebSocketClosedError`` and nobody awaits it, so asyncio logs
    "Task exception was never retrieved" with a traceback (holoviz/panel#3341). Nothing is wrong: the
    reader went away. Such records become one debug line; every other error is logged as before.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or not _closed_page(record):
            return True
        logging.getLogger("indexlab.dashboard").debug("a page closed while the server was writing to it")
        return False


def _closed_page(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    return isinstance(exc, (WebSocketClosedError, StreamClosedError))


def quiet_closed_pages() -> None:
    """Filter asyncio's and Tornado's loggers (where those tracebacks go); idempotent."""
    for name in ("asyncio", "tornado.application", "tornado.general"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, ClosedPageFilter) for f in logger.filters):
            logger.addFilter(ClosedPageFilter())
