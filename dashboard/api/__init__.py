"""The REST API under /api/v1: handlers, request/response models, the OpenAPI document and the HTTP client CLI.

``panel serve dashboard/views/app.py --plugins dashboard.api`` reads ``ROUTES`` from here; it is built on first
access, so importing the models, the operations or the client does not install the server guard.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "ROUTES":
        from dashboard.api.handlers import ROUTES

        return ROUTES
    raise AttributeError(f"module 'dashboard.api' has no attribute {name!r}")
