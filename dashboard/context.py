"""The one store, catalog and batch engine a server process shares across every browser session and API call."""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.catalog import Catalog, default_catalog_path, load_catalog
from engine.core.config import Config, capacity_overrides, load_config
from engine.core.settings import ApiAllow
from engine.service import BatchService, ExecutorChoice, open_service, server_settings

if TYPE_CHECKING:  # the parts the service owns, named for tests and the start-up line
    from engine.run.engine import BatchEngine
    from engine.store import Store


@dataclass(frozen=True, eq=False)
class AppContext:
    store: Store
    catalog: Catalog
    engine: BatchEngine
    service: BatchService
    api_allow: ApiAllow = ApiAllow()  # what API plans may choose besides the server's settings (its settings file)
    _closed: bool = False

    def close(self) -> None:
        """Stop dispatching and close the database; idempotent (serve and atexit may both call it)."""
        if self._closed:
            return
        object.__setattr__(self, "_closed", True)
        self.engine.close()
        self.store.close()


_lock = threading.Lock()
_contexts: dict[tuple[str, str], AppContext] = {}


def get_context(db: str | Path | None = None, catalog: str | Path | None = None,
                settings: str | Path | None = None, config: Config | None = None) -> AppContext:
    """Open (once per process) the store, catalog and engine named; every session and request reuses them.

    What is not named comes from ``config`` (``INDEXLAB_DB``, ``INDEXLAB_CATALOG``, ``INDEXLAB_SETTINGS``,
    ``INDEXLAB_AUTO_RESUME``; ``INDEXLAB_MAX_WORKERS`` and ``INDEXLAB_MAX_RUNNING_BATCHES`` over the settings
    file's), read from the environment when not given (``panel serve --plugins dashboard.api``:
    the app and the API share one engine). Opening the engine recovers the store (DESIGN §3 Restart). The settings
    file is read when the context is first opened.
    """
    config = config or load_config()
    db_file = Path(db or config.db).resolve()
    catalog_path = Path(catalog or config.catalog or default_catalog_path()).resolve()
    key = (str(db_file), str(catalog_path))
    with _lock:
        if key not in _contexts:
            cat = load_catalog(catalog_path)
            chosen = server_settings(settings or config.settings)  # refuses a runner this process lacks
            capacity = chosen.capacity.model_copy(update=capacity_overrides(config))  # the environment wins
            service = open_service(db_file, cat, run=True, auto_resume=config.auto_resume,
                                   defaults=chosen.defaults, capacity=capacity, executor=ExecutorChoice.of(config, chosen))
            _contexts[key] = context = AppContext(service.store, cat, service.engine, service,
                                                  chosen.api_allow)
            atexit.register(context.close)  # `panel serve` exits without telling us: flush and close
        return _contexts[key]
