"""The active batch as the engine holds it in memory, and how a runner's outcome becomes stored rows."""

from __future__ import annotations

import json
import threading
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.errors import IndexLabError
from engine.limits import CancelToken
from engine.runners.base import Runner
from engine.settings import BatchSettings
from engine.store import OutcomeRecord, utcnow


@dataclass(slots=True)
class ActiveItem:
    seq: int
    product: dict[str, Any]
    state: str
    attempts: int
    attempt_base: int
    last_error: str | None = None
    phase: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None
    outcome: str | None = None


@dataclass(slots=True)
class Attempt:
    seq: int
    attempt: int
    token: CancelToken
    deadline: float


@dataclass
class ActiveRun:
    """The active batch as the engine works on it."""

    batch_run_id: str
    settings: BatchSettings
    state: str
    items: dict[int, ActiveItem]
    runner: Runner | None
    ready: list[int] = field(default_factory=list)  # heap of queued seqs
    delayed: list[tuple[float, int]] = field(default_factory=list)  # heap of (due, seq) waiting out a backoff
    inflight: dict[int, Attempt] = field(default_factory=dict)
    consecutive_failures: int = 0
    executor: Executor | None = None
    thread: threading.Thread | None = None


MAX_OUTCOME_JSON = 64_000  # bytes of a non-harvest outcome kept on the item row


def outcome_parts(batch_run_id: str, item: ActiveItem, attempt: int, outcome: Any) -> tuple[str, OutcomeRecord | None]:
    """The item's outcome summary (JSON), and the product outcome record when the outcome lists fields."""
    fields = outcome.get("fields") if isinstance(outcome, dict) else None
    if not isinstance(fields, list):
        text = json.dumps(outcome, default=str)
        return (text if len(text) <= MAX_OUTCOME_JSON else json.dumps({"truncated": True, "bytes": len(text)})), None
    summary = {k: v for k, v in outcome.items() if k != "fields"}
    compact = {k: outcome.get(k) for k in ("coverage", "confidence", "conflicts", "missing")}
    compact["fields_found"] = len(fields)
    rows = tuple(
        {"field": str(f.get("field")), "value": json.dumps(f.get("value"), default=str), "unit": f.get("unit"),
         "confidence": _number(f.get("confidence")), "tier": f.get("tier"), "source_url": f.get("source_url"),
         "snippet_id": f.get("snippet_id"), "conflict": bool(f.get("conflict"))}
        for f in fields if isinstance(f, dict) and f.get("field")
    )
    record = OutcomeRecord(batch_run_id, item.seq, item.product["product_id"], attempt, item.finished_at or utcnow(),
                           _number(outcome.get("coverage")), _number(outcome.get("confidence")),
                           _int(outcome.get("conflicts")), json.dumps(summary, default=str), rows)
    return json.dumps(compact, default=str), record


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def short_error(error: BaseException) -> str:
    text = error.message if isinstance(error, IndexLabError) else f"{type(error).__name__}: {error}"
    return text.strip().splitlines()[-1][:500] if text.strip() else type(error).__name__

