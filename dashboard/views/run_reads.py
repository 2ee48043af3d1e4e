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
import pandas as pd

from dashboard.views.formats import as_datetime
from engine.core.states import ItemState
from engine.service import BatchService
from engine.service.reads import FAILURES_KEEP, FEED_KINDS

SEED_POINTS = 1_200  # history drawn when a batch is followed mid-run
MIN_RATE_S = 5.0  # running time before a drawn rate means anything (a short batch's first seconds spike)
RECENT_WINDOW_MS = 120_000  # as the engine's "recent" throughput (engine.run.live.RECENT_WINDOW_S)
__all__ = ["EPOCH", "FAILURES_KEEP", "FEED_KINDS", "event_key", "failure_key", "failures_seed", "feed_seed",
           "history_points", "merged", "num", "paused_intervals", "series_points"]
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


def history_points(service: BatchService, batch_run_id: str, feed: list[dict[str, Any]] | None = None,
                   batch: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Completed and failed over time, with the rates, rebuilt from the items' finish times and the batch's pauses
    (its feed): the same lines a page drew live. Reads the store: a worker thread."""
    done = service.finish_times(batch_run_id)
    if done.empty:
        return []
    batch = batch if batch is not None else service.batch(batch_run_id)
    started = as_datetime(batch.get("started_at"))
    started_ms = started.timestamp() * 1000 if started else None
    return series_points(done, started_ms=started_ms, pauses=paused_intervals(feed or []))


def series_points(done: pd.DataFrame, *, started_ms: float | None, pauses: list[tuple[float, float]]
                  ) -> list[dict[str, Any]]:
    """The chart points of ``done`` (state, finished_at in finishing order), thinned to SEED_POINTS. Counts are
    cumulative (monotonic); a rate is NaN until the batch has run MIN_RATE_S (a short batch draws no ramp); the
    overall rate leaves out the paused time, as the engine's does."""
    t = done["finished_at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype("int64")
    t = np.maximum.accumulate(t.astype(float))
    states = done["state"].to_numpy()
    completed = np.cumsum(states == ItemState.COMPLETED.value)
    failed = np.cumsum(states == ItemState.FAILED.value)
    start = float(t[0]) if started_ms is None else min(float(started_ms), float(t[0]))
    paused = np.zeros(len(t))
    for a, b in pauses:  # paused time before each point
        paused += np.clip(np.minimum(t, b) - a, 0, None) if b > a else 0
    active_s = (t - start - paused) / 1000.0
    finished = np.arange(1, len(t) + 1)
    overall = np.where(active_s >= MIN_RATE_S, finished / np.maximum(active_s, 1e-9) * 3600.0, np.nan)
    first = np.searchsorted(t, t - RECENT_WINDOW_MS, side="right")
    window_s = np.minimum(RECENT_WINDOW_MS / 1000.0, active_s)
    recent = np.where(active_s >= MIN_RATE_S, (finished - first) / np.maximum(window_s, 1e-9) * 3600.0, np.nan)
    keep = np.unique(np.linspace(0, len(t) - 1, min(len(t), SEED_POINTS)).round().astype(int))
    return [{"t": float(t[i]), "completed": int(completed[i]), "failed": int(failed[i]),
             "recent_per_hour": float(recent[i]), "overall_per_hour": float(overall[i])} for i in keep]


def paused_intervals(feed: list[Mapping[str, Any]], now_ms: float | None = None) -> list[tuple[float, float]]:
    """(start, end) in ms of the times the batch was paused, oldest first, from its batch moves (any order); a pause
    not ended yet lasts until ``now_ms`` (default: now)."""
    moves = sorted(((when.timestamp() * 1000, e.get("to_state")) for e in feed
                    if e.get("kind") == "batch_transition" and (when := as_datetime(e.get("occurred_at")))),
                   key=lambda m: m[0])
    out, since = [], None
    for at, state in moves:
        if state == "paused" and since is None:
            since = at
        elif state != "paused" and since is not None:
            out.append((since, at))
            since = None
    if since is not None:
        out.append((since, now_ms if now_ms is not None else datetime.now(UTC).timestamp() * 1000))
    return out
