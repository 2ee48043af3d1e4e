"""The one store and catalog a server process shares across every browser session."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from engine.catalog import Catalog, default_catalog_path, load_catalog
from engine.cli import default_db
from engine.service import BatchService
from engine.store import Store


@dataclass(frozen=True)
class AppContext:
    store: Store
    catalog: Catalog
    service: BatchService


_lock = threading.Lock()
_contexts: dict[tuple[str, str], AppContext] = {}


def get_context(db: str | Path | None = None, catalog: str | Path | None = None) -> AppContext:
    """Open (once per process) the store and catalog named, and reuse them for every session."""
    db_path = Path(db or default_db()).resolve()
    catalog_path = Path(catalog or default_catalog_path()).resolve()
    key = (str(db_path), str(catalog_path))
    with _lock:
        if key not in _contexts:
            store = Store(db_path)
            cat = load_catalog(catalog_path)
            _contexts[key] = AppContext(store=store, catalog=cat, service=BatchService(store, cat))
        return _contexts[key]
