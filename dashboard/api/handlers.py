"""REST API under /api/v1 on the dashboard's own Tornado server (also a ``panel serve --plugins`` module).

The routes are derived from the operations declared in ``dashboard.api.operations``; the handlers are in
``dashboard.api.endpoints`` (on ``dashboard.api.base``: JSON in and out, errors as bodies, work off the event
loop). Importing this module installs the server guard (``dashboard.guard``) before Panel binds.
"""

from __future__ import annotations

from collections.abc import Callable

from tornado.web import RequestHandler

from dashboard import guard
from dashboard.api.base import PREFIX, ApiError, ApiHandler, NotFoundHandler
from dashboard.api.openapi import openapi_document
from dashboard.api.operations import OPERATIONS
from dashboard.context import AppContext, get_context

__all__ = ["PREFIX", "ROUTES", "ApiError", "ApiHandler", "OpenApiHandler", "routes"]


class OpenApiHandler(ApiHandler):
    async def get(self) -> None:
        self.send(openapi_document())


def routes(context: Callable[[], AppContext] = get_context) -> list[tuple[str, type[RequestHandler], dict]]:
    """Tornado routes for ``pn.serve(extra_patterns=...)``: one per declared path (a path's methods share its
    handler), fixed paths first (``.../batch/priority`` is not a ``.../batch/{batch_run_id}``), each kind in
    declaration order; then the document and a JSON 404."""
    c = {"context": context}
    table: list[tuple[str, type[RequestHandler], dict]] = []
    seen: set[str] = set()
    for op in sorted(OPERATIONS, key=lambda op: "{" in op.path):  # stable: declaration order within each kind
        if op.pattern not in seen:
            seen.add(op.pattern)
            table.append((op.pattern, op.handler, {**c, **op.handler_kwargs}))
    table += [("/api/v1/openapi.json", OpenApiHandler, c), (r"/api/.*", NotFoundHandler, c)]
    return table


# ``panel serve dashboard/views/app.py --plugins dashboard.api``: Panel reads ROUTES. Importing this module is also
# what installs the server guard there (network addresses need auth; bodies are capped) before Panel binds.
guard.install()
ROUTES = routes()
