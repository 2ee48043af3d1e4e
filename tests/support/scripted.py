"""Runners engine tests steer: ``scripted`` does per product and attempt what the test's Script says; ``fielded``
returns an outcome in the harvest shape. Importing this module registers both."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from engine.core.settings import BatchSettings
from engine.runners import RunnerError, register


@dataclass
class Script:
    """Per product_id, a list of behaviours, one per attempt (the last one repeats)."""

    plan: dict[str, list[str]] = field(default_factory=dict)
    default: str = "ok"
    calls: list[tuple[str, int]] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)  # "block" waits for it
    started: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)  # products whose "ignore-cancel" attempt has returned
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
        with SCRIPT.lock:
            SCRIPT.returned.append(pid)
        return {"product_id": pid, "fields": {"late": True}}
    raise AssertionError(f"unknown behaviour {action}")


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
