"""Plan Preview: exactly what will run, in what order, with which settings — and the guarded Start Batch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, CustomJSTickFormatter, FactorRange
from bokeh.plotting import figure

from dashboard.views import render
from dashboard.views.plain import TEXT_TOOLTIP
from dashboard.views.state import UI_SETTINGS, BuilderState
from engine.core.errors import IndexLabError
from engine.core.plan import LARGE_BATCH_THRESHOLD
from engine.runners import runner_names

BAR_HEIGHT = 22
LABEL_CHARS = 40  # a longer brand is cut on the chart's axis (in full on the grid's hover), so the bars keep their room
PINNED = " (pinned)"
# Categorical axes ignore major_label_overrides, so a formatter cuts the brand (drawn on the canvas: text only).
SHORT_LABEL_JS = """
const note = tick.endsWith(pinned) ? pinned : "";
const brand = tick.slice(0, tick.length - note.length);
return (brand.length > n ? brand.slice(0, n - 1) + "\u2026" : brand) + note;
"""


def _html(text: str, **params) -> pn.pane.HTML:
    return pn.pane.HTML(text, stylesheets=[render.CSS], sizing_mode="stretch_width", **{"margin": (5, 10), **params})


def _brand_chart() -> tuple[figure, ColumnDataSource]:
    source = ColumnDataSource({"brand": [], "count": [], "label": []})
    fig = figure(y_range=FactorRange(), height=240, sizing_mode="stretch_width", toolbar_location=None,
                 title="Products per brand, in run order", x_axis_label="products")
    fig.hbar(y="brand", right="count", height=0.7, source=source, color="#2b6cb0")
    fig.text(x="count", y="brand", text="label", source=source, x_offset=4, y_offset=6, text_font_size="11px")
    fig.yaxis.formatter = CustomJSTickFormatter(args={"n": LABEL_CHARS, "pinned": PINNED}, code=SHORT_LABEL_JS)
    fig.y_range.range_padding = 0.05
    fig.x_range.start = 0
    fig.ygrid.grid_line_color = None
    return fig, source


class PlanPreview(pn.viewable.Viewer):
    """The preview of ``state``; Start Batch saves the plan, starts it, then calls ``on_started(batch_run_id)``."""

    state = param.ClassSelector(class_=BuilderState, doc="The builder state this preview shows.")
    confirm_large = param.Boolean(default=False, doc=f"The operator confirmed a batch of more than {LARGE_BATCH_THRESHOLD} items.")
    busy = param.Boolean(default=False, doc="A start is under way (the button waits).")
    message = param.String(default="", doc="The last error from starting, shown to the operator.")

    def __init__(self, on_started: Callable[[str], Awaitable[None] | None] | None = None, **params) -> None:
        super().__init__(**params)
        self._on_started = on_started
        self._chart, self._source = _brand_chart()
        self._first = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False, height=260,
                                           css_classes=["preview-first-items"],
                                           sizing_mode="stretch_width", pagination=None, layout="fit_data_table",
                                           configuration={"columnDefaults": {"tooltip": TEXT_TOOLTIP, "maxWidth": 300}})
        self._start = pn.widgets.Button(label="Start Batch", color="primary", width=160, disabled=True)
        self._start.on_click(self._start_batch)
        self._confirm = pn.widgets.Checkbox.from_param(self.param.confirm_large, label="I confirm this large batch",
                                                       visible=False, sizing_mode="stretch_width")
        self.state.param.watch(self._render, ["preview", "preview_error", "preview_pending"])
        self.param.watch(self._guard, ["confirm_large", "busy"])
        self._render()

    # ------------------------------------------------------------------ rendering
    def _render(self, *_: object) -> None:
        plan = self.state.preview
        if plan is None:
            self._source.data = {"brand": [], "count": [], "label": []}
            self._first.value = pd.DataFrame()
        else:
            brands = [b.brand + (PINNED if b.pinned else "") for b in plan.summary.brands]
            self._chart.y_range.factors = brands[::-1]
            self._chart.height = max(160, 60 + BAR_HEIGHT * len(brands))
            counts = [b.count for b in plan.summary.brands]
            self._source.data = {"brand": brands[::-1], "count": counts[::-1], "label": [str(c) for c in counts[::-1]]}
            first = pd.DataFrame([i.model_dump() for i in plan.summary.first_items])
            self._first.value = first[["seq", "brand", "model", "variant", "product_id", "category"]]
        self.confirm_large = False
        self._guard()

    def _guard(self, *_: object) -> None:
        plan = self.state.preview
        large = plan is not None and plan.summary.needs_confirmation
        self._confirm.visible = large
        self._confirm.label = (f"I confirm this batch of {plan.summary.total:,} items (more than {LARGE_BATCH_THRESHOLD})"
                              if large else "I confirm this large batch")
        self._start.disabled = (plan is None or self.busy or self.state.preview_pending
                                or (large and not self.confirm_large))

    @param.depends("state.preview", "state.preview_error", "state.preview_pending", "message")
    def _summary(self) -> pn.viewable.Viewable:
        plan = self.state.preview
        if self.state.preview_pending:
            return _html(render.alert("Updating the preview…", "info"))
        if plan is None:
            return _html(render.alert(self.state.preview_error or "Nothing selected.", "secondary"))
        parts = [_html(render.plan_html(plan.summary), css_classes=["preview-summary"])]
        parts += [_html(render.alert(w, "warning")) for w in plan.summary.warnings]
        if self.message:
            parts.append(_html(render.alert(self.message, "danger")))
        parts.append(_html(render.snapshot_html(plan.summary.settings), margin=(10, 10, 5, 10)))
        return pn.Column(*parts, sizing_mode="stretch_width")

    # ------------------------------------------------------------------ start
    async def _start_batch(self, _event: object) -> None:
        if self.busy or self.state.preview is None:
            return
        self.busy, self.message = True, ""
        request = self.state.plan_request(confirm_large=self.confirm_large)
        service = self.state.service
        loop = asyncio.get_running_loop()
        try:
            saved = await loop.run_in_executor(None, lambda: service.plan(request, actor="dashboard"))
            await loop.run_in_executor(None, lambda: service.start(saved.batch_run_id, actor="dashboard"))
        except IndexLabError as exc:
            self.message = exc.message
            return
        finally:
            self.busy = False
        if self._on_started is not None:
            result = self._on_started(saved.batch_run_id)
            if asyncio.iscoroutine(result):
                await result

    def _settings_panel(self) -> pn.viewable.Viewable:
        # `command` runs a program on the server: offered only when the server's settings name one
        names = [n for n in runner_names() if n != "command" or self.state.service.defaults.command] or ["harvest"]
        widgets = pn.Param(self.state.param, parameters=list(UI_SETTINGS), show_name=False, sizing_mode="stretch_width",
                           widgets={"runner": {"type": pn.widgets.Select, "options": names},
                                    "workers": {"type": pn.widgets.IntInput, "start": 1, "end": 64},
                                    "max_attempts": {"type": pn.widgets.IntInput, "start": 1, "end": 20},
                                    "max_run_seconds": {"type": pn.widgets.FloatInput, "start": 1, "end": 86_400},
                                    "domain_cooldown_seconds": {"type": pn.widgets.FloatInput, "start": 0,
                                                                "end": 3_600, "step": 0.1},
                                    "min_required_coverage": {"type": pn.widgets.FloatInput, "start": 0, "end": 1,
                                                              "step": 0.05}})
        return pn.Card(widgets, title="Settings", collapsible=False, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        left = pn.Column(self._summary, self._chart, pn.pane.Markdown("**First items in run order**"), self._first,
                         sizing_mode="stretch_width")
        right = pn.Column(self._settings_panel(), self._start, self._confirm, width=380)
        return pn.Row(left, right, sizing_mode="stretch_width")
