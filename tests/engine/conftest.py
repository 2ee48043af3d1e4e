"""Engine test kit: a scripted runner whose behaviour each test sets per product, and batch factories."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.run.engine import BatchEngine
from engine.core.catalog import Catalog
from engine.core.limits import FakeClock
from engine.core.plan import PlanRequest, Selection
from engine.runners import RunnerError, register
from engine.service import BatchService
from engine.core.settings import BatchSettings
from tests.conftest import products_frame


@dataclass
class Script:
    """Per product_id, a list of behaviours, one per attempt (the last one repeats)."""

    plan: dict[str, list[str]] = field(default_factory=dict)
    default: str = "ok"
    calls: list[tuple[str, int]] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)  # "block" waits for it
    started: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def behaviour(self, product_id: str, attempt: int) -> str:
        steps = self.plan.get(product_id, [self.default])
        return steps[min(attempt, len(steps)) - 1]


SCRIPT = Script()


@register("scripted")
def scripted_runner(product: dict[str, Any], settings: BatchSettings, ctx) -> dict[str, Any]:
    pid = product["product_id"]
    with SCRIPT.lock:
        SCRIPT.calls.append((pid, ctx.attempt))
        SCRIPT.started.append(pid)
    action = SCRIPT.behaviour(pid, ctx.attempt)
    ctx.phase("discover")
    if action == "ok":
        ctx.phase("finalize")
        return {"product_id": pid, "fields": {"dpi": 26000}, "coverage": 1.0}
    if action == "fail":
        raise RunnerError(f"source timeout for {pid}")
    if action == "fatal":
        raise RunnerError(f"bad product {pid}", retryable=False)
    if action == "raise":
        raise ValueError("unexpected parser state")
    if action == "block":  # cooperative: waits for the gate or its cancel token
        while not SCRIPT.gate.wait(0.01):
            ctx.cancel.raise_if_cancelled()
        return {"product_id": pid, "fields": {}}
    if action == "ignore-cancel":  # ignores its cancel token entirely
        SCRIPT.gate.wait(30)
        return {"product_id": pid, "fields": {"late": True}}
    raise AssertionError(f"unknown behaviour {action}")


@pytest.fixture
def script():
    SCRIPT.plan.clear()
    SCRIPT.calls.clear()
    SCRIPT.started.clear()
    SCRIPT.default = "ok"
    SCRIPT.gate = threading.Event()
    yield SCRIPT
    SCRIPT.gate.set()  # release anything still blocked


def product_rows(n: int, brands=("Logitech", "Razer", "Zowie")):
    return products_frame([(f"p{i:04d}", "mouse", brands[i % len(brands)], f"Model {i}", "") for i in range(n)])


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
    from tests.engine.inline import InlineExecutor

    engine = BatchEngine(store, executor_factory=lambda n: InlineExecutor(), clock=FakeClock(), background=False).open()
    yield engine
    engine.close()


@pytest.fixture
def engine(store):
    """A real engine: thread pool, group-commit writer thread, system clock."""
    engine = BatchEngine(store, abandon_grace=0.5).open()
    yield engine
    engine.close()


@register("fielded")
def fielded_runner(product: dict[str, Any], settings: BatchSettings, ctx) -> dict[str, Any]:
    """Returns an outcome in the harvest shape: fields with evidence and a quality summary."""
    return {"runner": "fielded", "product_id": product["product_id"], "coverage": 0.75, "confidence": 0.9,
            "conflicts": 1, "missing": ["weight"],
            "fields": [{"field": "max_dpi", "value": 26000, "unit": "dpi", "confidence": 0.95, "tier": "manufacturer",
                        "source_url": "https://example.com/p", "snippet_id": "abc123", "conflict": False},
                       {"field": "connectivity", "value": ["Bluetooth", "USB-C"], "unit": None, "confidence": 0.6,
                        "tier": "retailer", "source_url": "https://shop.example/p", "snippet_id": "def456",
                        "conflict": True}]}
