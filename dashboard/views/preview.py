"""Plan Preview: exactly what will run, in what order, with which settings — and the guarded Start Batch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, CustomJSTickFormatter, FactorRange
from bokeh.plotting import figure

from dashboard.views.formats import alert
from dashboard.views.offloop import off_loop
from dashboard.views.plain import TEXT_TOOLTIP
from dashboard.views.plan_html import plan_html, snapshot_html
from dashboard.views.state import UI_SETTINGS, BuilderState
from dashboard.views.theme import HTML_CSS, ROOT_CSS, hex_of
from engine.core.errors import IndexLabError
from engine.core.plan import LARGE_BATCH_THRESHOLD
from engine.service import runner_names

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
    return pn.pane.HTML(text, stylesheets=[HTML_CSS], sizing_mode="stretch_width", **{"margin": (5, 10), **params})


def _brand_chart() -> tuple[figure, ColumnDataSource]:
    source = ColumnDataSource({"brand": [], "count": [], "label": []})
    fig = figure(y_range=FactorRange(), height=240, sizing_mode="stretch_width", toolbar_location=None,
                 title="Products per brand, in run order", x_axis_label="products")
    fig.hbar(y="brand", right="count", height=0.7, source=source, color=hex_of("accent"))
    fig.text(x="count", y="brand", text="label", source=source, x_offset=4, y_offset=6, text_font_size="11px")
    fig.yaxis.formatter = CustomJSTickFormatter(args={"n": LABEL_CHARS, "pinned": PINNED}, code=SHORT_LABEL_JS)
    fig.y_range.range_padding = 0.05
    fig.x_range.start = 0
    fig.ygrid.grid_line_color = None
    return fig, source


def first_items(plan: Any) -> pd.DataFrame:
    """The plan's first items in run order, as the grid shows them."""
    if plan is None:
        return pd.DataFrame()
    first = pd.DataFrame([i.model_dump() for i in plan.summary.first_items])
    return first[["seq", "brand", "model", "variant", "product_id", "category"]]


def confirm_label(plan: Any) -> str:
    large = plan is not None and plan.summary.needs_confirmation
    return (f"I confirm this batch of {plan.summary.total:,} items (more than {LARGE_BATCH_THRESHOLD})"
            if large else "I confirm this large batch")


def start_blocked(plan: Any, pending: bool, busy: bool, confirmed: bool) -> bool:
    """Start Batch waits for a preview that is current, for a start under way, and for a large batch's confirmation."""
    return plan is None or busy or pending or (plan.summary.needs_confirmation and not confirmed)


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
        self.first_items = pn.widgets.Tabulator(self.state.param.preview.rx.pipe(first_items), disabled=True, show_index=False, height=260,
                                           css_classes=["preview-first-items"],
                                           sizing_mode="stretch_width", pagination=None, layout="fit_data_table",
                                           configuration={"columnDefaults": {"tooltip": TEXT_TOOLTIP, "maxWidth": 300}})
        preview = self.state.param.preview.rx()
        large = preview.rx.pipe(lambda plan: plan is not None and plan.summary.needs_confirmation)
        self.start_button = pn.widgets.Button(
            label="Start Batch", color="primary", width=160,
            disabled=pn.bind(start_blocked, self.state.param.preview, self.state.param.preview_pending,
                             self.param.busy, self.param.confirm_large))
        self.start_button.on_click(self.start_batch)
        self.confirm = pn.widgets.Checkbox.from_param(self.param.confirm_large, visible=large,
                                                      label=preview.rx.pipe(confirm_label),
                                                      sizing_mode="stretch_width")
        self._draw_chart()

    # ------------------------------------------------------------------ a new preview (actions, not copies)
    @param.depends("state.preview", watch=True)
    def _draw_chart(self) -> None:
        """The chart's Bokeh models take the new plan's brands (set in place: Bokeh is not bound to params)."""
        plan = self.state.preview
        if plan is None:
            self._source.data = {"brand": [], "count": [], "label": []}
            return
        brands = [b.brand + (PINNED if b.pinned else "") for b in plan.summary.brands]
        self._chart.y_range.factors = brands[::-1]
        self._chart.height = max(160, 60 + BAR_HEIGHT * len(brands))
        counts = [b.count for b in plan.summary.brands]
        self._source.data = {"brand": brands[::-1], "count": counts[::-1], "label": [str(c) for c in counts[::-1]]}

    @param.depends("state.preview", "state.preview_error", "state.preview_pending", watch=True)
    def _withdraw_confirmation(self) -> None:
        """A confirmation was for the plan it saw: any change of the preview asks for it again."""
        self.confirm_large = False

    # ------------------------------------------------------------------ rendering
    @param.depends("state.preview", "state.preview_error", "state.preview_pending", "message")
    def summary(self) -> pn.viewable.Viewable:
        plan = self.state.preview
        if self.state.preview_pending:
            return _html(alert("Updating the preview…", "info"))
        if plan is None:
            return _html(alert(self.state.preview_error or "Nothing selected.", "secondary"))
        parts = [_html(plan_html(plan.summary), css_classes=["preview-summary"])]
        parts += [_html(alert(w, "warning")) for w in plan.summary.warnings]
        if self.message:
            parts.append(_html(alert(self.message, "danger")))
        parts.append(_html(snapshot_html(plan.summary.settings), margin=(10, 10, 5, 10)))
        return pn.Column(*parts, sizing_mode="stretch_width")

    # ------------------------------------------------------------------ start
    async def start_batch(self, _event: object = None) -> None:
        """Start Batch pressed: save the plan and start it (off the loop), then hand the batch to on_started."""
        if self.busy or self.state.preview is None:
            return
        self.busy, self.message = True, ""
        request = self.state.plan_request(confirm_large=self.confirm_large)
        service = self.state.service
        try:
            saved = await off_loop(service.plan, request, actor="dashboard")
            await off_loop(service.start, saved.batch_run_id, actor="dashboard")
        except IndexLabError as exc:
            self.message = exc.message
            return
        finally:
            self.busy = False
        if self._on_started is not None:
            result = self._on_started(saved.batch_run_id)
            if asyncio.iscoroutine(result):
                await result

    def settings_form(self) -> pn.Param:
        """The settings the form edits; each number's start and end are the BatchSettings bounds (via the params)."""
        # `command` runs a program on the server: offered only when the server's settings name one
        names = [n for n in runner_names() if n != "command" or self.state.service.defaults.command] or ["harvest"]
        return pn.Param(self.state.param, parameters=list(UI_SETTINGS), show_name=False, sizing_mode="stretch_width",
                        widgets={"runner": {"type": pn.widgets.Select, "options": names},
                                 "workers": pn.widgets.IntInput, "max_attempts": pn.widgets.IntInput,
                                 "max_run_seconds": pn.widgets.FloatInput,
                                 "domain_cooldown_seconds": {"type": pn.widgets.FloatInput, "step": 0.1},
                                 "min_required_coverage": {"type": pn.widgets.FloatInput, "step": 0.05}})

    def settings_panel(self) -> pn.viewable.Viewable:
        return pn.Card(self.settings_form(), title="Settings", collapsible=False, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        left = pn.Column(self.summary, self._chart, pn.pane.Markdown("**First items in run order**"), self.first_items,
                         sizing_mode="stretch_width")
        right = pn.Column(self.settings_panel(), self.start_button, self.confirm, width=380)
        return pn.Row(left, right, sizing_mode="stretch_width", stylesheets=[ROOT_CSS])
