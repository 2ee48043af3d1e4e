"""``noop``: returns at once. It exists to measure the engine itself (bench/engine.py), not to harvest."""

from __future__ import annotations

from typing import Any

from engine.core.settings import BatchSettings
from engine.runners.base import Outcome, RunContext
from engine.runners.registry import register


@register("noop", durable_dispatch=False)
def run_noop(product: dict[str, Any], settings: BatchSettings, ctx: RunContext) -> Outcome:
    # no coverage: it reports no quality, so the quality gate does not apply to it
    return {"runner": "noop", "product_id": product["product_id"], "fields": {},
            "note": "noop runner: measures the engine, harvests nothing"}
