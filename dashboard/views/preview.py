"""Plan Preview: exactly what will run, in what order, with which settings — and the guarded Start Batch."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Awaitable, Callable
from typing import Any

import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, CustomJSTickFormatter, FactorRange
from bokeh.plotting import figure

from dashboard.views.bokeh_edits import in_panel_order
from dashboard.views.formats import alert
from dashboard.views.offloop import off_loop
from dashboard.views.plain import TEXT_TOOLTIP
from dashboard.views.plan_html import plan_html, snapshot_html
from dashboard.views.settings_form import SettingsForm
from dashboard.views.state import BuilderState
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


FIRST_ITEM_COLUMNS = ["seq", "brand", "model", "variant", "product_id", "category"]


def first_items(plan: Any) -> pd.DataFrame:
    """The plan's first items in run order, as the grid shows them. The columns never change: Panel's Tabulator
    applies a change of columns even while its table is still being built, which throws in the browser."""
    if plan is None:
        return pd.DataFrame(columns=FIRST_ITEM_COLUMNS)
    return pd.DataFrame([i.model_dump() for i in plan.summary.first_items], columns=FIRST_ITEM_COLUMNS)


def confirm_label(plan: Any) -> str:
    large = plan is not None and plan.summary.needs_confirmation
    return (f"I confirm this batch of {plan.summary.total:,} items (more than {LARGE_BATCH_THRESHOLD})"
            if large else "I confirm this large batch")


def start_blocked(plan: Any, pending: bool, busy: bool, confirmed: bool, errors: dict | None = None) -> bool:
    """Start Batch waits for a preview that is current, for a start under way, for a large batch's confirmation,
    and for every refused setting to be fixed (the preview shows the last good settings, not what the form reads)."""
    return plan is None or busy or pending or bool(errors) or (plan.summary.needs_confirmation and not confirmed)


class PlanPreview(pn.viewable.Viewer):
    """The preview of ``state``; Start Batch saves the plan, starts it, then calls ``on_started(batch_run_id)``."""

    state = param.ClassSelector(class_=BuilderState, doc="The builder state this preview shows.")
    confirm_large = param.Boolean(default=False, doc=f"The operator confirmed a batch of more than {LARGE_BATCH_THRESHOLD} items.")
    busy = param.Boolean(default=False, doc="A start is under way (the button waits).")
    message = param.String(default="", doc="The last error from starting, shown to the operator.")
    progress = param.String(default="", doc="What a start under way is doing now (shown under the button at once).")
    actor = param.String(default="dashboard", doc="Who the audit trail names for a start from here (the session's user).")

    def __init__(self, on_started: Callable[[str], Awaitable[None] | None] | None = None, **params) -> None:
        super().__init__(**params)
        self._on_started = on_started
        self._chart, self._source = _brand_chart()
        # `command` runs a program on the server: offered only when the server's settings name one
        runners = [n for n in runner_names() if n != "command" or self.state.service.defaults.command] or ["harvest"]
        self.form = SettingsForm(runners, state=self.state)
        self.first_items = pn.widgets.Tabulator(self.state.param.preview.rx.pipe(first_items), disabled=True, show_index=False, height=260,
                                           css_classes=["preview-first-items"],
                                           sizing_mode="stretch_width", pagination=None, layout="fit_data_table",
                                           configuration={"columnDefaults": {"tooltip": TEXT_TOOLTIP, "maxWidth": 300}})
        preview = self.state.param.preview.rx()
        large = preview.rx.pipe(lambda plan: plan is not None and plan.summary.needs_confirmation)
        self.start_button = pn.widgets.Button(
            label="Start Batch", color="primary", width=160,
            loading=self.param.busy,  # Panel's spinner over the button while a start is under way
            disabled=pn.bind(start_blocked, self.state.param.preview, self.state.param.preview_pending,
                             self.param.busy, self.param.confirm_large, self.form.param.errors))
        self.start_button.on_click(self.start_batch)
        self.progress_line = pn.pane.HTML(self.param.progress.rx().rx.pipe(lambda t: f'<span role="status">{html.escape(t)}</span>'),
                                          visible=self.param.progress.rx().rx.pipe(bool), css_classes=["start-progress"],
                                          margin=(0, 10))
        # A one-option CheckBoxGroup, not a Checkbox: Bokeh draws a Checkbox's text as a <div> beside the box, so
        # only the small box answered a click; a group's option is a <label> around its box and text.
        self.confirm = pn.widgets.CheckBoxGroup(options=preview.rx.pipe(lambda plan: [confirm_label(plan)]), value=[],
                                                visible=large, sizing_mode="stretch_width", css_classes=["confirm-large"])
        self.confirm.param.watch(self._confirm_clicked, "value")
        self._draw_chart()

    # ------------------------------------------------------------------ a new preview (actions, not copies)
    @param.depends("state.preview", watch=True)
    def _draw_chart(self) -> None:
        """The chart's Bokeh models take the new plan's brands (set in place: Bokeh is not bound to params), sent after
        whatever Panel has queued (the tab's own models, just shown: dashboard/views/bokeh_edits.py)."""
        with in_panel_order():
            self._set_chart(self.state.preview)

    def _set_chart(self, plan: Any) -> None:
        if plan is None:
            self._source.data = {"brand": [], "count": [], "label": []}
            return
        brands = [b.brand + (PINNED if b.pinned else "") for b in plan.summary.brands]
        self._chart.y_range.factors = brands[::-1]
        self._chart.height = max(160, 60 + BAR_HEIGHT * len(brands))
        counts = [b.count for b in plan.summary.brands]
        self._source.data = {"brand": brands[::-1], "count": counts[::-1], "label": [str(c) for c in counts[::-1]]}

    def _confirm_clicked(self, event: param.parameterized.Event) -> None:
        self.confirm_large = bool(event.new)

    @param.depends("confirm_large", watch=True)
    def _show_confirmation(self) -> None:
        wanted = list(self.confirm.options[:1]) if self.confirm_large else []
        if self.confirm.value != wanted:
            self.confirm.value = wanted

    @property
    def confirm_text(self) -> str:
        """The confirmation's words (the one option of the box)."""
        return self.confirm.options[0] if self.confirm.options else ""

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
        total = self.state.preview.summary.total
        # Feedback before any work: the button spins and says what is happening (a 100k start takes seconds).
        self.param.update(busy=True, message="", progress=f"Saving the plan of {total:,} items…")
        request = self.state.plan_request(confirm_large=self.confirm_large)
        service = self.state.service
        try:
            saved = await off_loop(service.plan, request, actor=self.actor)
            self.progress = f"Starting batch {saved.batch_run_id}…"
            await off_loop(service.start, saved.batch_run_id, actor=self.actor)
        except IndexLabError as exc:
            self.message = exc.message
            return
        finally:
            self.param.update(busy=False, progress="")
        if self._on_started is not None:
            result = self._on_started(saved.batch_run_id)
            if asyncio.iscoroutine(result):
                await result

    def settings_form(self) -> SettingsForm:
        """The settings the form edits, each checked against the BatchSettings bounds, its error under it."""
        return self.form

    def settings_panel(self) -> pn.viewable.Viewable:
        return pn.Card(self.form, title="Settings", collapsible=False, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        left = pn.Column(self.summary, self._chart, pn.pane.Markdown("**First items in run order**"), self.first_items,
                         sizing_mode="stretch_width")
        right = pn.Column(self.settings_panel(), self.start_button, self.progress_line, self.confirm, width=380)
        return pn.Row(left, right, sizing_mode="stretch_width", stylesheets=[ROOT_CSS])
