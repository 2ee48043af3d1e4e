"""The Summary's charts (issue #17): reset on another batch, monotonic, the same lines after a reload, fitted to a
finished batch, pauses drawn. ProgressCharts and the series' pure builders, no browser."""

from __future__ import annotations

import math

import pandas as pd

from dashboard.views.charts import ProgressCharts
from dashboard.views.run_reads import paused_intervals, series_points
from dashboard.views.run_state import RunState

T0 = 1_700_000_000_000.0  # ms


def point(t: float, completed: int, failed: int = 0) -> dict:
    return {"t": t, "completed": completed, "failed": failed, "recent_per_hour": math.nan, "overall_per_hour": math.nan}


def finishes(seconds: list[float], states: list[str] | None = None) -> pd.DataFrame:
    at = pd.to_datetime([T0 + 1000 * s for s in seconds], unit="ms", utc=True)
    return pd.DataFrame({"state": states or ["completed"] * len(seconds), "finished_at": at})


def test_following_another_batch_resets_the_series_and_the_axes():
    charts = ProgressCharts()
    charts.sync([point(T0, 0), point(T0 + 60_000, 20)], 1, window=(T0, None), pauses=[])
    later = T0 + 3_600_000
    charts.sync([], 2, window=(later, None), pauses=[])  # the new batch has no point yet
    assert list(charts.source.data["t"]) == []
    assert charts.x_range.start >= later  # not the old batch's hour
    assert charts.done_range.end == 10  # not scaled to the old batch's 20


def test_a_finished_batch_fills_the_axis():
    charts = ProgressCharts()
    series = [point(T0 + 1000 * s, s) for s in range(6)]  # a 5-second batch
    charts.sync(series, 1, window=(T0, T0 + 5_000), pauses=[])
    span = charts.x_range.end - charts.x_range.start
    assert T0 - 1_000 <= charts.x_range.start <= T0 and span <= 6_000  # not a 60-second axis with 5 s at its left


def test_pauses_are_drawn_from_the_feed():
    feed = [  # newest first, as RunState keeps it
        {"kind": "batch_transition", "to_state": "running", "occurred_at": pd.Timestamp(T0 + 50_000, unit="ms", tz="UTC")},
        {"kind": "batch_transition", "to_state": "paused", "occurred_at": pd.Timestamp(T0 + 20_000, unit="ms", tz="UTC")},
        {"kind": "batch_transition", "to_state": "running", "occurred_at": pd.Timestamp(T0, unit="ms", tz="UTC")},
        {"kind": "batch_transition", "to_state": "paused", "occurred_at": pd.Timestamp(T0 + 70_000, unit="ms", tz="UTC")},
    ]
    assert paused_intervals(feed, now_ms=T0 + 90_000) == [(T0 + 20_000, T0 + 50_000), (T0 + 70_000, T0 + 90_000)]
    charts = ProgressCharts()
    charts.sync([point(T0, 0)], 1, window=(T0, None), pauses=paused_intervals(feed, now_ms=T0 + 90_000))
    assert list(charts.pauses.data["x0"]) == [T0 + 20_000, T0 + 70_000]


def test_the_series_rebuilt_from_the_store_is_monotonic_with_an_overall_rate():
    done = finishes([10, 20, 30, 40, 50, 60, 61, 62], ["completed", "failed", *["completed"] * 6])
    points = series_points(done, started_ms=T0, pauses=[(T0 + 35_000, T0 + 45_000)])
    completed = [p["completed"] for p in points]
    assert completed == sorted(completed) and completed[-1] == 7 and points[-1]["failed"] == 1
    assert all(math.isfinite(p["overall_per_hour"]) for p in points)  # never NaN after a reload
    last = points[-1]  # 8 finished in 62 s of which 10 s paused: 52 s running
    assert abs(last["overall_per_hour"] - 8 / 52 * 3600) < 1


def test_a_short_batch_draws_no_rate_ramp():
    points = series_points(finishes([0.2, 0.4, 0.6, 0.8, 1.0, 1.2]), started_ms=T0, pauses=[])
    assert all(math.isnan(p["recent_per_hour"]) and math.isnan(p["overall_per_hour"]) for p in points)


def test_the_live_completed_line_never_goes_down():
    run = RunState.__new__(RunState)  # sample() alone: no service needed
    RunState.__init__(run, type("Ctx", (), {"service": None})())
    run.series = [point(T0, 26)]
    run.sample({"state": "running", "counts": {"completed": 15, "failed": 0}, "throughput": {}})
    run.sample({"state": "running", "counts": {"completed": 40, "failed": 0}, "throughput": {}})
    completed = [p["completed"] for p in run.series]
    assert completed == sorted(completed), completed
