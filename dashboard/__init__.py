"""IndexLab Batch dashboard (Panel). ``from dashboard import app; app(db=..., catalog=...)`` in Jupyter."""

from __future__ import annotations

from typing import Any


def app(db: str | None = None, catalog: str | None = None) -> Any:
    """The dashboard as a Panel object: displays inline in a notebook, or ``.servable()``."""
    from dashboard.app import create_app

    return create_app(db=db, catalog=catalog)
