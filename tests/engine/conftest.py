"""Engine fixtures: the scripted runner's script, batch factories, and inline or threaded engines."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from engine.core.catalog import Catalog
from engine.core.limits import FakeClock
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings
from engine.run.engine import BatchEngine
from engine.service import BatchService
from tests.support.catalogs import product_rows
from tests.support.inline import InlineExecutor
from tests.support.scripted import SCRIPT


@pytest.fixture
def script():
    SCRIPT.plan.clear()
    SCRIPT.calls.clear()
    SCRIPT.started.clear()
    SCRIPT.returned.clear()
    SCRIPT.default = "ok"
    SCRIPT.gate = threading.Event()
    yield SCRIPT
    SCRIPT.gate.set()  # release anything still blocked


@pytest.fixture
def plan_batch(store):
    """plan_batch(n, **settings) -> batch_run_id of a planned batch with the scripted runner."""

    def make(n: int = 6, **settings: Any) -> str:
        products = product_rows(n)
        service = BatchService(store, Catalog(products=products, problems=(), source="test"))
        settings.setdefault("runner", "scripted")
        settings.setdefault("retry_backoff_seconds", 1.0)
        request = PlanRequest(selection=Selection(all=True), settings=BatchSettings(**settings), confirm_large=True)
        return service.plan(request).batch_run_id

    return make


@pytest.fixture
def inline_engine(store):
    """A deterministic engine: inline executor, synchronous writer, fake clock; call drain()."""
    engine = BatchEngine(store, executor_factory=lambda n: InlineExecutor(), clock=FakeClock(), background=False).open()
    yield engine
    engine.close()


@pytest.fixture
def engine(store):
    """A real engine: thread pool, group-commit writer thread, system clock."""
    engine = BatchEngine(store, abandon_grace=0.5).open()
    yield engine
    engine.close()
