"""The run summary's two charts: throughput and completed over time, streamed point by point."""

from __future__ import annotations

import math
import time
from typing import Any

from bokeh.models import ColumnDataSource, DatetimeTickFormatter, HoverTool, NumeralTickFormatter, Range1d
from bokeh.plotting import figure

from dashboard.views.theme import hex_of

SERIES_COLUMNS = ("t", "completed", "failed", "recent_per_hour", "overall_per_hour")


def columns(points: list[dict[str, Any]]) -> dict[str, list]:
    return {c: [p[c] for p in points] for c in SERIES_COLUMNS}


class ProgressCharts:
    """Throughput and completed over time: one ColumnDataSource, streamed; ranges set here, so an empty or
    one-point series still draws its axes and a long batch never rescales the whole page."""

    MIN_SPAN_MS = 60_000

    def __init__(self) -> None:
        self.source = ColumnDataSource(columns([]))
        now = time.time() * 1000
        self.x_range = Range1d(start=now - self.MIN_SPAN_MS, end=now)
        self.speed_range = Range1d(start=0, end=100)
        self.done_range = Range1d(start=0, end=10)
        self.speed, self.done = self._figures()
        self._version, self._cursor = -1, 0
        self._t0 = self._t1 = None
        self._top_speed = self._top_done = 0.0

    def sync(self, series: list[dict[str, Any]], version: int) -> bool:
        """Stream the points past the cursor (reload after a reset); True when the source changed.

        Changes Bokeh models directly: call it where the document is locked (the periodic callback)."""
        if self._version != version:
            self.source.data = columns(series)
            self._version, self._cursor = version, len(series)
            self._t0 = self._t1 = None
            self._top_speed = self._top_done = 0.0
            self._grow(series)
        elif len(series) > self._cursor:
            new = series[self._cursor:]
            self.source.stream(columns(new))
            self._cursor = len(series)
            self._grow(new)
        else:
            return False
        return True

    def _grow(self, points: list[dict[str, Any]]) -> None:
        for p in points:
            self._t0 = p["t"] if self._t0 is None else self._t0
            self._t1 = p["t"]
            self._top_done = max(self._top_done, p["completed"], p["failed"])
            for key in ("recent_per_hour", "overall_per_hour"):
                if math.isfinite(p[key]):
                    self._top_speed = max(self._top_speed, p[key])
        if self._t0 is not None:
            span = max(self._t1 - self._t0, self.MIN_SPAN_MS)
            self.x_range.update(start=self._t0, end=self._t0 + span * 1.02)
        self.done_range.end = max(10.0, self._top_done * 1.1)
        self.speed_range.end = max(100.0, self._top_speed * 1.15)

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
        recent = speed.line("t", "recent_per_hour", source=source, line_width=2.5, color=hex_of("blue-600"),
                            legend_label="last 2 min")
        speed.line("t", "overall_per_hour", source=source, line_width=2, color=hex_of("slate-400"), line_dash="dashed",
                   legend_label="overall")
        speed.add_tools(HoverTool(renderers=[recent], mode="vline", formatters={"@t": "datetime"},
                                  tooltips=[("time", "@t{%H:%M:%S}"), ("last 2 min", "@recent_per_hour{0,0}/h"),
                                            ("overall", "@overall_per_hour{0,0}/h")]))
        done = base("Completed over time", "products", self.done_range)
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
