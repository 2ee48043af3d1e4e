"""Opening the service: the one place a face (a CLI command, the server's composition root) gets a store and, when
it runs batches, an engine. The face then holds only the service, which closes both."""

from __future__ import annotations

from pathlib import Path

from engine.core.catalog import Catalog
from engine.core.config import db_path
from engine.core.settings import BatchSettings, ServerSettings, load_server_settings
from engine.run.engine import BatchEngine
from engine.runners import check_runner, runner_names
from engine.service.batch import BatchService
from engine.store import Store

__all__ = ["open_service", "runner_names", "server_settings"]


def open_service(db: str | Path, catalog: Catalog | None = None, *, run: bool = False, auto_resume: bool = True,
                 defaults: BatchSettings | None = None, writes: bool = True) -> BatchService:
    """A service over the database ``db`` (one clear ``StoreError`` when it cannot be opened).

    ``run`` also opens a batch engine, which recovers the store (DESIGN §3 Restart) and, with ``auto_resume``,
    resumes the batch that was running; only one process may hold the file. ``service.close()`` (or
    ``with contextlib.closing(...)``) stops the engine and closes the store.
    """
    store = Store(db_path(db, writes=writes))
    try:
        engine = None
        if run:
            ids = catalog.products["product_id"] if catalog is not None else None
            engine = BatchEngine(store, catalog_ids=ids, auto_resume=auto_resume).open()
    except BaseException:
        store.close()
        raise
    return BatchService(store, catalog, engine, defaults, owns=True)


def server_settings(path: str | Path | None) -> ServerSettings:
    """The server's settings: ``path`` (a JSON or TOML file), else the built-in ones; a runner this process does
    not have is refused now, not when the first batch planned with it starts."""
    return load_server_settings(path, check_runner=check_runner) if path else ServerSettings()
