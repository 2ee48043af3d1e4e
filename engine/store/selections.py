"""The Store's saved builder selections: what each dashboard user had selected, kept across page reloads and server
restarts (one row per user and catalog). Part of Store (engine/store/__init__.py).

Server-side rather than in the browser's storage: a selection belongs to a user, not to one browser; 100,000 ids
would not fit a cookie; and ids read back from a browser would be untrusted input to re-check on every load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.store.reads import as_utc, utcnow

UPSERT_SELECTION = """INSERT OR REPLACE INTO saved_selections (user_name, catalog_source, product_ids, brand_order,
    pinned, saved_at) VALUES (?, ?, ?, ?, ?, ?)"""
SELECT_SELECTION = """SELECT product_ids, brand_order, pinned, saved_at FROM saved_selections
    WHERE user_name = ? AND catalog_source = ?"""


class SavedSelections:
    """Mixed into Store: it provides ``_transaction`` and ``_cursor``."""

    def save_selection(self, user: str, catalog_source: str, product_ids: Sequence[str], brand_order: Sequence[str],
                       pinned: Sequence[str]) -> None:
        with self._transaction() as cur:  # type: ignore[attr-defined]
            cur.execute(UPSERT_SELECTION, [user, catalog_source, list(product_ids), list(brand_order), list(pinned),
                                           utcnow()])

    def load_selection(self, user: str, catalog_source: str) -> dict[str, Any] | None:
        with self._cursor() as cur:  # type: ignore[attr-defined]
            row = cur.execute(SELECT_SELECTION, [user, catalog_source]).fetchone()
        if row is None:
            return None
        ids, order, pinned, saved_at = row
        return {"product_ids": list(ids or []), "brand_order": list(order or []), "pinned": list(pinned or []),
                "saved_at": as_utc(saved_at)}
