"""The run summary's two charts: throughput and completed over time, streamed point by point."""

from __future__ import annotations

import math
import time
from typing import Any

from bokeh.models import ColumnDataSource, DatetimeTickFormatter, HoverTool, NumeralTickFormatter, Range1d, VStrip
from bokeh.plotting import figure

from dashboard.views.theme import hex_of

SERIES_COLUMNS = ("t", "completed", "failed", "recent_per_hour", "overall_per_hour")


def columns(points: list[dict[str, Any]]) -> dict[str, list]:
    return {c: [p[c] for p in points] for c in SERIES_COLUMNS}


class ProgressCharts:
    """Throughput and completed over time: one ColumnDataSource, streamed; ranges set here, so an empty or
    one-point series still draws its axes and a long batch never rescales the whole page. The x axis is fitted to
    the batch (its start to its finish once finished); paused times are shaded (one strip each)."""

    MIN_SPAN_MS = 60_000  # while the batch runs: at least a minute ahead
    PAD = 0.02

    def __init__(self) -> None:
        self.source = ColumnDataSource(columns([]))
        self.pauses = ColumnDataSource({"x0": [], "x1": []})
        now = time.time() * 1000
        self.x_range = Range1d(start=now - self.MIN_SPAN_MS, end=now)
        self.speed_range = Range1d(start=0, end=100)
        self.done_range = Range1d(start=0, end=10)
        self.speed, self.done = self._figures()
        self._version, self._cursor = -1, 0
        self._t0 = self._t1 = None
        self._top_speed = self._top_done = 0.0
        self._window: tuple[float | None, float | None] = (None, None)
        self._pauses: list[tuple[float, float]] = []

    def sync(self, series: list[dict[str, Any]], version: int, *, window: tuple[float | None, float | None] = (None, None),
             pauses: list[tuple[float, float]] | None = None) -> bool:
        """Stream the points past the cursor (reload after a reset); fit the axes to ``window`` (the batch's start
        and finish, ms; None: unknown or still running); shade ``pauses``. True when a model changed.

        Changes Bokeh models directly: call it where the document is locked (the periodic callback)."""
        changed = False
        if self._version != version:
            self.source.data = columns(series)
            self._version, self._cursor = version, len(series)
            self._t0 = self._t1 = None
            self._top_speed = self._top_done = 0.0
            self._grow(series)
            changed = True
        elif len(series) > self._cursor:
            new = series[self._cursor:]
            self.source.stream(columns(new))
            self._cursor = len(series)
            self._grow(new)
            changed = True
        pauses = list(pauses or [])
        if pauses != self._pauses:
            self._pauses = pauses
            self.pauses.data = {"x0": [a for a, _ in pauses], "x1": [b for _, b in pauses]}
            changed = True
        if changed or window != self._window:
            self._window = window
            self._fit()
            changed = True
        return changed

    def _grow(self, points: list[dict[str, Any]]) -> None:
        for p in points:
            self._t0 = p["t"] if self._t0 is None else self._t0
            self._t1 = p["t"]
            self._top_done = max(self._top_done, p["completed"], p["failed"])
            for key in ("recent_per_hour", "overall_per_hour"):
                if math.isfinite(p[key]):
                    self._top_speed = max(self._top_speed, p[key])
        self.done_range.end = max(10.0, self._top_done * 1.1)
        self.speed_range.end = max(100.0, self._top_speed * 1.15)

    def _fit(self) -> None:
        start, finish = self._window
        first = start if start is not None else self._t0
        if first is None:
            return
        if finish is not None:  # finished: exactly the batch, a little margin
            last = max(finish, self._t1 or finish)
            span = max(last - first, 1_000.0)
            self.x_range.update(start=first - span * self.PAD, end=last + span * self.PAD)
        else:
            last = max(self._t1 or first, time.time() * 1000 if start is not None else first)
            span = max(last - first, self.MIN_SPAN_MS)
            self.x_range.update(start=first, end=first + span * (1 + self.PAD))

    def _figures(self) -> tuple[figure, figure]:
        def base(title: str, y_label: str, y_range: Range1d) -> figure:
            fig = figure(title=title, height=250, sizing_mode="stretch_width", x_axis_type="datetime",
                         x_range=self.x_range, y_range=y_range, toolbar_location=None, tools="", min_border_left=50)
            fig.xaxis.formatter = DatetimeTickFormatter(seconds="%H:%M:%S", minsec="%H:%M:%S", minutes="%H:%M",
                                                        hourmin="%H:%M", hours="%H:%M", days="%b %d")
            fig.xaxis.axis_label = "time (UTC)"
            fig.yaxis.axis_label = y_label
            fig.yaxis.formatter = NumeralTickFormatter(format="0,0")
            fig.yaxis.ticker.min_interval = 1  # counts and rates: no fractional ticks
            fig.title.text_font_size = "14px"
            fig.xgrid.grid_line_color = None
            fig.outline_line_color = None
            return fig

        source = self.source
        speed = base("Throughput", "products / hour", self.speed_range)
        done = base("Completed over time", "products", self.done_range)
        for fig in (speed, done):  # paused times, under the lines
            fig.add_glyph(self.pauses, VStrip(x0="x0", x1="x1", fill_color=hex_of("slate-400"), fill_alpha=0.18,
                                              line_color=None))
        recent = speed.line("t", "recent_per_hour", source=source, line_width=2.5, color=hex_of("blue-600"),
                            legend_label="last 2 min")
        speed.line("t", "overall_per_hour", source=source, line_width=2, color=hex_of("slate-400"), line_dash="dashed",
                   legend_label="overall")
        speed.add_tools(HoverTool(renderers=[recent], mode="vline", formatters={"@t": "datetime"},
                                  tooltips=[("time", "@t{%H:%M:%S}"), ("last 2 min", "@recent_per_hour{0,0}/h"),
                                            ("overall", "@overall_per_hour{0,0}/h")]))
        done.varea("t", y1=0, y2="completed", source=source, color=hex_of("green-600"), alpha=0.12)
        ok = done.line("t", "completed", source=source, line_width=2.5, color=hex_of("green-600"), legend_label="completed")
        done.line("t", "failed", source=source, line_width=2, color=hex_of("red-600"), legend_label="failed")
        done.add_tools(HoverTool(renderers=[ok], mode="vline", formatters={"@t": "datetime"},
                                 tooltips=[("time", "@t{%H:%M:%S}"), ("completed", "@completed{0,0}"),
                                           ("failed", "@failed{0,0}")]))
        for fig in (speed, done):
            legend = fig.legend[0]
            legend.orientation = "horizontal"
            legend.location = "top_right"
            legend.label_text_font_size = "11.5px"
            legend.border_line_alpha = 0
            legend.margin = 0
            legend.padding = 2
            legend.spacing = 14
            fig.add_layout(legend, "above")  # over the plot area, never over a line
        return speed, done
