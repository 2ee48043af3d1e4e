"""What each browser session holds, and proof that a closed page gives it back.

Every page load builds its own tabs and state (``dashboard.app.build_tabs``); they must die with the
session, or each reload of the page would keep tens of megabytes for good. ``track`` names a
session's objects weakly; ``live_session_objects`` counts the ones still alive. With
``INDEXLAB_DEBUG_SESSIONS=1`` the server answers ``GET /debug/sessions`` with that count (tests and
``bench/soak.py`` read it); otherwise the route does not exist.
"""

from __future__ import annotations

import gc
import os
import weakref
from collections import Counter
from typing import Any

from tornado.web import RequestHandler

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


def debug_routes() -> list[tuple[str, type[RequestHandler]]]:
    """``/debug/sessions`` when ``INDEXLAB_DEBUG_SESSIONS=1``, else nothing."""
    return [("/debug/sessions", SessionsHandler)] if os.environ.get("INDEXLAB_DEBUG_SESSIONS") == "1" else []

