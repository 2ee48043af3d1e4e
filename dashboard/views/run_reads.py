"""What following a batch reads besides the live status, and how new rows merge into kept lists.

The engine's live status holds the last 50 events and 20 failures, in memory: a session that opens
mid-batch, or after a restart, starts from the store instead. The seeds are the service's reads
(``feed_seed``, ``failures_seed``, ``finish_times``) as the rows a session keeps: call them from a worker thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from dashboard.views.formats import as_datetime
from engine.core.states import ItemState
from engine.service import BatchService
from engine.service.reads import FAILURES_KEEP, FEED_KINDS

SEED_POINTS = 1_200  # history drawn when a batch is followed mid-run
SEED_MIN_WINDOW = 5  # finishes in the window before a drawn rate means anything (the first seconds spike)
RECENT_WINDOW_MS = 120_000  # as the engine's "recent" throughput (engine.run.live.RECENT_WINDOW_S)
__all__ = ["EPOCH", "FAILURES_KEEP", "FEED_KINDS", "event_key", "failure_key", "failures_seed", "feed_seed",
           "history_points", "merged", "num"]
EPOCH = datetime.min.replace(tzinfo=UTC)


def num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else math.nan


def merged(current: list[dict[str, Any]], incoming: list[dict[str, Any]], key: Callable[[Mapping[str, Any]], tuple],
            when: str, keep: int) -> list[dict[str, Any]] | None:
    """``current`` plus the ``incoming`` rows it lacks, newest first, at most ``keep``; None when nothing is new."""
    seen = {key(row) for row in current}
    fresh = {}
    for row in incoming:
        k = key(row)
        if k not in seen and k not in fresh:
            fresh[k] = row
    if not fresh:
        return None
    rows = sorted([*current, *fresh.values()], key=lambda r: as_datetime(r.get(when)) or EPOCH, reverse=True)
    return rows[:keep]


def failure_key(failure: Mapping[str, Any]) -> tuple:
    return failure.get("seq"), failure.get("attempt"), bool(failure.get("final"))


def event_key(event: Mapping[str, Any]) -> tuple:
    when = as_datetime(event.get("occurred_at"))
    return (when.isoformat() if when else None, event.get("kind"), event.get("seq"), event.get("from_state"),
            event.get("to_state"), event.get("reason"))


def feed_seed(service: BatchService, batch_run_id: str) -> list[dict[str, Any]]:
    """The feed's start (``BatchService.feed_seed``) as the rows the feed keeps."""
    return [event.model_dump() for event in service.feed_seed(batch_run_id)]


def failures_seed(service: BatchService, batch_run_id: str) -> list[dict[str, Any]]:
    """The newest failed items as failures (``BatchService.failures_seed``) as the rows the list keeps."""
    return [failure.model_dump() for failure in service.failures_seed(batch_run_id, keep=FAILURES_KEEP)]


def history_points(service: BatchService, batch_run_id: str) -> list[dict[str, Any]]:
    """Completed and failed over time (and the recent rate) from the items' finish times, thinned to SEED_POINTS."""
    done = service.finish_times(batch_run_id)
    if done.empty:
        return []
    t = done["finished_at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype("int64")
    completed = np.cumsum(done["state"].to_numpy() == ItemState.COMPLETED.value)
    failed = np.cumsum(done["state"].to_numpy() == ItemState.FAILED.value)
    first = np.searchsorted(t, t - RECENT_WINDOW_MS, side="right")
    n = np.arange(len(t)) - first + 1
    span_s = np.maximum((t - t[first]) / 1000.0, 1.0)
    recent = np.where(n >= SEED_MIN_WINDOW, n / span_s * 3600.0, np.nan)
    keep = np.unique(np.linspace(0, len(t) - 1, min(len(t), SEED_POINTS)).round().astype(int))
    return [{"t": float(t[i]), "completed": int(completed[i]), "failed": int(failed[i]),
             "recent_per_hour": float(recent[i]), "overall_per_hour": math.nan} for i in keep]
