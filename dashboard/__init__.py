"""IndexLab Batch dashboard (Panel). ``from dashboard import app; app(db=..., catalog=...)`` in Jupyter."""

from __future__ import annotations

from typing import Any


def app(db: str | None = None, catalog: str | None = None) -> Any:
    """The dashboard inline in a notebook cell (it shares the process's one engine)."""
    from dashboard.views.app import notebook_app

    return notebook_app(db=db, catalog=catalog)
