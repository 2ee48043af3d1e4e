"""Batch Run Summary: one batch, live (DESIGN §7). ``BatchRunSummary`` shows and drives a session's ``RunState``.

Every pane is bound to the state it shows (``pn.bind`` / ``.rx`` references): when ``RunState`` changes, the panes
follow; no watcher copies values into them. The periodic callback polls the engine's in-memory status and streams
the charts' new points into a Bokeh ColumnDataSource (never redrawn whole); store reads run off the event loop.

The view's parts (``header``, ``counters``, ``items`` ...) are public attributes: notebooks and tests read them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn
import param

from dashboard.views import summary_html as html
from dashboard.views.charts import ProgressCharts
from dashboard.views.formats import alert, as_datetime, esc, section
from dashboard.views.offloop import off_loop, on_loop, schedule
from dashboard.views.paged import PagedTable
from dashboard.views.plain import TEXT_TOOLTIP
from dashboard.views.run_reads import EPOCH
from dashboard.views.run_state import GROUPS_READ, ITEM_STATES, RunState
from dashboard.views.summary_tables import GROUPS_CSS, ITEM_COLUMNS, groups_for_display, items_for_display
from dashboard.views.theme import BUTTON_CSS, CARD_STYLES, HTML_CSS, PAGE_STYLES, ROOT_CSS, hex_of, var
from engine.core.settings import Profile

COUNTERS = [*ITEM_STATES[:3], "needs_review", *ITEM_STATES[3:]]  # "needs review" beside "completed"
COUNTER_TONES = {"queued": "slate-500", "running": "blue-600", "completed": "green-600", "needs_review": "yellow-600",
                 "failed": "red-600", "skipped": "purple-600", "stopped": "orange-600"}
ZERO_TONE = "slate-400"  # a zero is grey: "Completed 0" is not success
GROUPS_SHOWN = 10  # failure groups listed on the summary (largest first)


def _html(text: Any = "", **kw: Any) -> pn.pane.HTML:
    kw.setdefault("sizing_mode", "stretch_width")
    return pn.pane.HTML(text, stylesheets=[HTML_CSS], **kw)


def _card(*objects: Any, styles: dict[str, str] | None = None, **kw: Any) -> pn.Column:
    return pn.Column(*objects, styles=dict(styles or CARD_STYLES), sizing_mode="stretch_width", margin=(6, 6), **kw)


def counts_shown(status: dict[str, Any]) -> dict[str, int]:
    """The counters' numbers: items per state, and the completed ones that need review."""
    counts = {**(status.get("counts") or {}), "needs_review": (status.get("outcomes") or {}).get("needs_review", 0)}
    return {state: int(counts.get(state, 0)) for state in COUNTERS}


def counter_tone(state: str, value: int) -> str:
    return COUNTER_TONES[state] if value else ZERO_TONE


class BatchRunSummary(pn.viewable.Viewer):
    """The "Batch Run Summary" tab: header, controls, counters, progress, charts, running items, failures,
    action feed and the items table. Mount one per session: ``BatchRunSummary(run=RunState(context))``."""

    run = param.ClassSelector(class_=RunState, doc="The session's RunState this view shows and drives.")
    item_state = param.Selector(default="all", objects=["all", *ITEM_STATES], doc="Items table: show only this state.")
    item_search = param.String(default="", doc="Items table: only items whose product id, brand, model or variant "
                               "holds this text (case-blind).")
    item_brand = param.Selector(default="", objects={"(all brands)": ""}, doc="Items table: only this brand "
                                "(options: the batch's brands).")
    item_reason = param.Selector(default="", objects={"(all reasons)": ""}, doc="Items table: only the failed items "
                                 "of this failure group (options: the batch's groups).")
    rerun_profile = param.Selector(default=Profile.THOROUGH.value, objects=[p.value for p in Profile],
                                   doc="The profile of the new batch \"Re-run needs review\" plans.")
    show_item_moves = param.Boolean(default=False, doc="Action feed: also list the latest item moves.")
    confirming_force_stop = param.Boolean(default=False, doc="Force Stop was pressed; the confirmation is shown.")
    item_shown = param.Integer(default=None, allow_None=True, doc="The item whose events show under the items table.")
    item_read = param.Tuple(default=None, allow_None=True, length=3, doc="(item, events, total) of item_shown.")
    poll_ms = param.Integer(default=500, bounds=(200, 5_000), doc="How often the view reads the live status.")
    message_seconds = param.Number(default=8.0, bounds=(1, None), doc="How long a success message stays up.")
    items_every_s = param.Number(default=2.0, bounds=(0.5, 60), doc="Least time between re-reads of the items page.")
    newer_every_s = param.Number(default=1.5, bounds=(0.5, 60), doc="How often to look for a newer batch to follow.")
    restore_on_load = param.Boolean(default=True, doc="On page load with no batch followed, call run.restore_async().")

    def __init__(self, run: RunState | None = None, context: Any = None, **params: Any) -> None:
        if run is None:
            if context is None:
                raise TypeError("BatchRunSummary needs run=RunState(context) or context=")
            run = RunState(context)
        super().__init__(run=run, **params)
        self._charts = ProgressCharts()
        self._attached: set[int] = set()
        self._callbacks: list[Any] = []
        self._last_items, self._items_counts = 0.0, None
        self._last_newer = 0.0
        self._message_at = 0.0
        self._build()
        self._layout = self._compose()
        self._stream()
        self._show_status()
        self._item_options()

    # ------------------------------------------------------------------ building (every pane bound to state)
    def _build(self) -> None:
        run, rx = self.run, self.run.param
        self.header = _html(margin=(0, 0),
                            css_classes=["summary-header"], sizing_mode=None,
                            styles={"flex": "1 1 420px", "min-width": "0"})
        self.buttons = {
            "start": self._button("Start Batch", rx.can_start, run.start, "primary"),
            "pause": self._button("Pause Batch", rx.can_pause, run.pause, "warning"),
            "resume": self._button("Resume Batch", rx.can_resume, run.resume, "success"),
            "stop": self._button("Stop Batch", rx.can_stop, run.stop, "danger", outline=True),
            "force_stop": self._button("Force Stop", rx.can_force_stop, self.ask_force_stop, "danger"),
            "retry_failed": self._button("Retry failed", rx.can_retry_failed, run.retry_failed, "primary",
                                         outline=True),
        }
        confirm = pn.widgets.Button(label="Confirm force stop", color="danger", width=170)
        cancel = pn.widgets.Button(label="Cancel", color="light", width=90)
        pn.bind(self.confirm_force_stop, confirm.param.clicks, watch=True)
        pn.bind(self._cancel_force_stop, cancel.param.clicks, watch=True)
        self.confirm_text = _html(pn.bind(self._confirm_html, self.param.confirming_force_stop), margin=(8, 10),
                                  css_classes=["summary-confirm"])
        self._confirm_bar = pn.Row(self.confirm_text, confirm, cancel, visible=self.param.confirming_force_stop,
                                   sizing_mode="stretch_width",
                                   styles={"background": var("red-50"), "border": f"1px solid {var('red-200')}",
                                           "border-radius": "8px"})
        shown = rx.message.rx.pipe(bool)
        self.alert = _html(pn.bind(lambda m, k: alert(m, k) if m else "", rx.message, rx.message_kind),
                           visible=shown, margin=(0, 0), css_classes=["summary-alert"])
        dismiss = pn.widgets.Button(label="Dismiss", color="light", width=90)
        pn.bind(lambda _: self.run.dismiss(), dismiss.param.clicks, watch=True)
        self._alert_row = pn.Row(self.alert, dismiss, visible=shown, sizing_mode="stretch_width")
        counts = rx.status.rx.pipe(counts_shown)
        self.counters = {}
        for s in COUNTERS:
            value = counts.rx.pipe(lambda c, s=s: c[s])
            tone = value.rx.pipe(lambda v, s=s: counter_tone(s, v))
            self.counters[s] = pn.indicators.Number(
                label=s.replace("_", " ").capitalize(), value=value, format="{value:,}", font_size="26pt",
                title_size="10.5pt", default_color=tone.rx.pipe(hex_of), sizing_mode="stretch_width", margin=(6, 6),
                css_classes=[f"summary-count-{s}"],
                styles=tone.rx.pipe(lambda t: {**CARD_STYLES, "border-left": f"5px solid {var(t)}"}))
        self.bar = _html(margin=(0, 0), css_classes=["summary-bar"])
        self.progress_text = _html(margin=(0, 0), css_classes=["summary-progress"])
        self._speed_pane = pn.pane.Bokeh(self._charts.speed, sizing_mode="stretch_width", height=250)
        self._done_pane = pn.pane.Bokeh(self._charts.done, sizing_mode="stretch_width", height=250)
        self.running = _html(margin=(0, 0), css_classes=["summary-running"])
        self.failures = _html(rx.failures.rx.pipe(html.failures_html), margin=(0, 0), css_classes=["summary-failures"])
        self.feed = _html(pn.bind(self._feed_html, rx.feed, rx.status, self.param.show_item_moves), margin=(0, 0),
                          css_classes=["summary-feed"])
        self.items = PagedTable(
            self._fetch_items, page_size=20, empty_text="No items match.", css_classes=["summary-items"],
            columns=ITEM_COLUMNS, on_click=lambda row: self.show_item(int(row["seq"])),
            titles={"seq": "#", "duration": "duration", "finished": "finished (UTC)", "last_error": "last error",
                    "gate": "quality"},
            widths={"seq": 55, "state": 95, "attempts": 80, "phase": 90, "duration": 80, "finished": 110,
                    "gate": 105},
        )
        self.groups_head = _html(pn.bind(self._groups_head_html, rx.failure_groups), margin=(0, 0),
                                 css_classes=["summary-groups-head"])
        # Tabulator cells are plain text (the reasons and product ids are the jobs' and the catalog's words);
        # a click on a row's last cell ("Retry this group") retries that group.
        self.groups_table = pn.widgets.Tabulator(
            rx.failure_groups.rx.pipe(lambda g: groups_for_display(g[:GROUPS_SHOWN])), show_index=False,
            disabled=True, pagination=None, layout="fit_columns", sizing_mode="stretch_width",
            selectable=False, header_align="left", css_classes=["summary-groups"], max_height=260,
            titles={"count": "items", "reason": "reason group", "seen": "first – last (UTC)",
                    "examples": "examples", "retry": ""},
            widths={"count": 60, "seen": 150, "examples": 180, "retry": 130},
            formatters={"reason": {"type": "textarea"}, "seen": {"type": "textarea"}, "examples": {"type": "textarea"}},
            configuration={"columnDefaults": {"headerSort": False, "tooltip": TEXT_TOOLTIP},
                           "placeholder": "No failures."},
            stylesheets=[GROUPS_CSS])
        async def group_cell_clicked(event: Any) -> None:
            await self.group_clicked(event.row, event.column)

        self.groups_table.on_click(group_cell_clicked)
        self.review = _html(rx.needs_review.rx.pipe(
            lambda r: html.review_html(r) if r else '<div class="empty">No product needs review.</div>'),
            margin=(0, 0), css_classes=["summary-review"])
        self._rerun = pn.widgets.Button(label="Re-run needs review", color="primary", variant="outline", width=190,
                                        margin=(4, 4), stylesheets=[BUTTON_CSS],
                                        disabled=rx.needs_review.rx.pipe(lambda r: not (r or {}).get("count"))
                                        | rx.busy)
        pn.bind(self.rerun_needs_review, self._rerun.param.clicks, watch=True)
        self.item_events = _html(self.param.item_read.rx.pipe(lambda r: html.item_events_html(*r) if r else ""),
                                 margin=(0, 0), css_classes=["summary-item-events"])

    def _button(self, label: str, enabled: param.Parameter, action: Callable[[], Any], kind: str, *,
                outline: bool = False) -> pn.widgets.Button:
        button = pn.widgets.Button(label=label, color=kind, variant="outline" if outline else "solid",
                                   disabled=enabled.rx.not_(), width=128, margin=(4, 4), stylesheets=[BUTTON_CSS])

        async def clicked(_clicks: int) -> None:
            await action()

        pn.bind(clicked, button.param.clicks, watch=True)
        return button

    # ------------------------------------------------------------------ what the bound panes show
    def _confirm_html(self, confirming: bool) -> str:
        running = len(self.run.status.get("running") or []) if confirming else 0
        return (f'<b>Force stop?</b> The {running} running product{"s" if running != 1 else ""} '
                'are cancelled now (external jobs are killed) and become stopped; queued ones become stopped too.')

    def _feed_html(self, feed: list[dict[str, Any]], status: dict[str, Any], show_item_moves: bool) -> str:
        events = list(feed)
        if show_item_moves:
            moves = [e for e in status.get("recent_events") or [] if e.get("kind") == "item_transition"]
            events = sorted(events + moves, key=lambda e: as_datetime(e.get("occurred_at")) or EPOCH, reverse=True)
        return html.feed_html(events)

    def _groups_head_html(self, groups: list[dict[str, Any]]) -> str:
        failed = int((self.run.status.get("counts") or {}).get("failed", 0))
        note = (f"{failed:,} failed item{'s' if failed != 1 else ''} in {len(groups)}"
                f"{'+' if len(groups) >= GROUPS_READ else ''} reason group{'s' if len(groups) != 1 else ''}"
                if groups else "")
        head = section("Failure groups", note or "none")
        if len(groups) > GROUPS_SHOWN:
            head += (f'<div class="meta">the {GROUPS_SHOWN} largest shown; filter the items by '
                     'any group below</div>')
        return head

    @param.depends("run.status", "run.batch", "run.batch_run_id", watch=True)
    def _show_status(self) -> None:
        # Still a watcher (as before issue #13): with these four bound as `.rx` references the GUI proof's "first
        # running items shown" check failed; it fails the same way on the base commit under this machine's load, so
        # the references were not shown guilty, but they stay set here until the proof passes with them.
        run, status = self.run, self.run.status
        self.header.object = html.header_html(run.batch_run_id, status, run.batch)
        self.bar.object = html.outcome_bar(status.get("outcomes") or {}) if status else ""
        self.progress_text.object = html.progress_html(status) if status else ""
        self.running.object = html.running_html(status.get("running") or [], status.get("state"))

    # ------------------------------------------------------------------ actions (watchers that act, not copy)
    @param.depends("run.can_force_stop", watch=True)
    def _force_stop_illegal(self) -> None:
        """Force Stop became illegal (the batch finished meanwhile): the pending confirmation is withdrawn."""
        if not self.run.can_force_stop:
            self.confirming_force_stop = False

    @param.depends("run.message", "run.message_kind", watch=True)
    def _message_shown(self) -> None:
        """A new message: start its timer (tick dismisses a success after message_seconds); a danger also pops up."""
        message, kind = self.run.message, self.run.message_kind
        self._message_at = time.monotonic()
        notifications = pn.state.notifications
        if message and kind == "danger" and notifications is not None:
            notifications.error(esc(message), duration=6000)

    @param.depends("run.batch_run_id", watch=True)
    def _batch_changed(self) -> None:
        """Another batch: drop what belonged to the old one and re-read the items page."""
        self.param.update(confirming_force_stop=False, item_shown=None, item_read=None)
        self._items_counts = None
        self.items.reset()

    @param.depends("run.batch", "run.failure_groups", watch=True)
    def _item_options(self) -> None:
        """The brand and reason filters offer what this batch has (its brands, its failure groups); a choice that
        is no longer offered falls back to all."""
        brands = [b.get("brand") for b in ((self.run.batch.get("plan") or {}).get("summary") or {}).get("brands") or []]
        brand_options = {"(all brands)": "", **{b: b for b in brands if isinstance(b, str) and b}}
        reasons = {f"{g['reason'][:70]}{'…' if len(g['reason']) > 70 else ''} ({int(g['count']):,})": g["reason"]
                   for g in self.run.failure_groups}
        reason_options = {"(all reasons)": "", **reasons}
        keep_brand = self.item_brand if self.item_brand in brand_options.values() else ""
        keep_reason = self.item_reason if self.item_reason in reason_options.values() else ""
        if self.param.item_brand.names != brand_options:
            self.param.item_brand.objects = brand_options  # the widget follows (an event on "objects")
        if self.param.item_reason.names != reason_options:
            self.param.item_reason.objects = reason_options
        self.param.update(item_brand=keep_brand, item_reason=keep_reason)

    @param.depends("item_state", "item_search", "item_brand", "item_reason", watch=True)
    def _filters_changed(self) -> None:
        self.items.reset()

    async def ask_force_stop(self) -> None:
        """Force Stop pressed: show the confirmation (nothing stops yet)."""
        self.confirming_force_stop = True

    async def confirm_force_stop(self, _clicks: int = 0) -> None:
        self.confirming_force_stop = False
        await self.run.force_stop()

    def _cancel_force_stop(self, _clicks: int) -> None:
        self.confirming_force_stop = False

    async def group_clicked(self, row: int, column: str = "retry") -> None:
        """A click on the failure groups table: its "Retry this group" cell retries that group (when legal)."""
        shown = self.groups_table.value
        if column != "retry" or not 0 <= row < len(shown):
            return
        reason = shown["reason"].iloc[row]
        if not self.run.can_retry_failed:
            self.run.tell("Retry waits until the batch is not running: pause or stop it first.", "warning")
            return
        await self.run.retry_group(reason)

    async def rerun_needs_review(self, _clicks: int = 0) -> None:
        await self.run.rerun_needs_review(self.rerun_profile)

    def show_item(self, seq: int) -> None:
        """Show one item's events (its job's stderr tail among them) under the items table."""
        self.item_shown = seq
        if on_loop():
            schedule(self._show_item_async, seq)
        else:
            self._apply_item(seq, self.run.read_item(seq))

    async def _show_item_async(self, seq: int) -> None:
        self._apply_item(seq, await off_loop(self.run.read_item, seq))

    def _apply_item(self, seq: int, read: tuple[dict[str, Any], list[dict[str, Any]], int]) -> None:
        if seq == self.item_shown:
            self.item_read = read

    # ------------------------------------------------------------------ items table (SQL pages, off the loop)
    def _fetch_items(self, offset: int, limit: int) -> tuple[pd.DataFrame, int]:
        page, total = self.run.items_page(state=None if self.item_state == "all" else self.item_state,
                                          brand=self.item_brand or None, search=self.item_search.strip() or None,
                                          reason=self.item_reason or None, offset=offset, limit=limit)
        return items_for_display(page), total

    # ------------------------------------------------------------------ live updates
    def _stream(self) -> None:
        """Bring the charts up to ``run.series``. Changes Bokeh models: only where the document is locked."""
        if not self._charts.sync(self.run.series, self.run.series_version):
            return
        if not (pn.state.curdoc and pn.state.curdoc.session_context):
            try:  # a notebook: in-place Bokeh changes are pushed explicitly
                pn.io.push_notebook(self._speed_pane, self._done_pane)
            except Exception:  # noqa: BLE001  (nothing displayed yet)
                pass

    async def tick(self) -> None:
        """The periodic callback: status (memory), chart points, then the slower reads off the loop."""
        run = self.run
        run.poll()
        self._stream()
        now = time.monotonic()
        if run.follow_latest and now - self._last_newer >= self.newer_every_s:
            self._last_newer = now
            if await run.follow_newer_async():
                self._stream()
        if run.message and run.message_kind in ("success", "info") and now - self._message_at >= self.message_seconds:
            run.dismiss()
        counts = run.status.get("counts")
        if counts != self._items_counts and now - self._last_items >= self.items_every_s:
            self._items_counts, self._last_items = counts, now
            await self.items.refresh()
            await run.load_triage_async()

    async def _on_load(self) -> None:
        """Runs unlocked (an async callback): params only; the charts catch up on the next tick."""
        if self.restore_on_load and self.run.batch_run_id is None:
            await self.run.restore_async()
        await self.items.refresh()

    def _attach(self) -> None:
        """Once per document: poll on a periodic callback scoped to the session, restore on load."""
        doc = pn.state.curdoc
        key = id(doc)
        if key in self._attached:
            return
        self._attached.add(key)
        callback = pn.state.add_periodic_callback(self.tick, period=self.poll_ms)
        self._callbacks.append(callback)
        if doc is not None and doc.session_context is not None:
            pn.state.on_session_destroyed(lambda _ctx: callback.stop())
            pn.state.onload(self._on_load)
        elif on_loop():
            schedule(self._on_load)
        else:  # a script or test without a loop: read now
            if self.restore_on_load and self.run.batch_run_id is None:
                self.run.restore()
            self._stream()
            self.items.load()

    def stop(self) -> None:
        """Stop polling (the session's end does this by itself)."""
        for callback in self._callbacks:
            callback.stop()
        self._callbacks.clear()

    def __panel__(self) -> pn.viewable.Viewable:
        self._attach()
        return self._layout

    def _compose(self) -> pn.viewable.Viewable:
        controls = pn.Row(*self.buttons.values(), margin=(0, 0))
        head = pn.FlexBox(self.header, controls, flex_wrap="wrap", justify_content="space-between",
                          align_items="flex-end", gap="6px 12px", sizing_mode="stretch_width", margin=0)
        top = _card(head, self._confirm_bar, self._alert_row)
        counters = pn.Row(*self.counters.values(), sizing_mode="stretch_width", margin=(0, 0))
        progress = _card(self.bar, self.progress_text)
        charts = pn.Row(_card(self._speed_pane), _card(self._done_pane), sizing_mode="stretch_width", margin=0)
        scroll = {"max-height": "270px", "overflow-y": "auto"}
        feed_toggle = pn.widgets.Checkbox.from_param(self.param.show_item_moves, label="show item moves", margin=(2, 0))

        def listing(title: Any, body: pn.viewable.Viewable) -> pn.Column:
            return _card(title, pn.Column(body, styles=scroll, sizing_mode="stretch_width", margin=0), height=330)

        lists = pn.Row(
            listing(_html(section("Now running", "product · phase cursor"), margin=(0, 0, 6, 0)), self.running),
            listing(_html(section("Recent failures", "newest first"), margin=(0, 0, 6, 0)), self.failures),
            listing(pn.Row(_html(section("Action feed"), margin=(0, 0, 6, 0)), feed_toggle,
                           sizing_mode="stretch_width", margin=0), self.feed),
            sizing_mode="stretch_width", margin=0,
        )
        filter_ = pn.widgets.RadioButtonGroup.from_param(
            self.param.item_state, options={s.capitalize(): s for s in self.param.item_state.objects},
            color="light", variant="outline", margin=(4, 0))
        search = pn.widgets.TextInput.from_param(self.param.item_search, name="", placeholder="Search id, brand, model",
                                                 width=240, margin=(4, 8, 4, 0), css_classes=["summary-item-search"])
        brand = pn.widgets.Select.from_param(self.param.item_brand, name="", width=200, margin=(4, 8, 4, 0),
                                             css_classes=["summary-item-brand"])
        reason = pn.widgets.Select.from_param(self.param.item_reason, name="", width=380, margin=(4, 8, 4, 0),
                                              css_classes=["summary-item-reason"])
        items = _card(pn.Row(_html(section("Items", "click one for its events")), filter_,
                             sizing_mode="stretch_width"),
                      pn.Row(search, brand, reason, sizing_mode="stretch_width", margin=0), self.items,
                      self.item_events)
        profile = pn.widgets.Select.from_param(self.param.rerun_profile, name="", width=120, margin=(4, 4),
                                               css_classes=["summary-rerun-profile"])
        groups = _card(self.groups_head, self.groups_table, styles={**CARD_STYLES, "flex": "3 1 0%"})
        review = _card(_html(section("Needs review", "below the quality gate"), margin=(0, 0, 6, 0)),
                       pn.Column(self.review, styles=scroll, sizing_mode="stretch_width", margin=0),
                       pn.Row(_html('<span class="meta">re-run them with profile</span>', margin=(10, 0),
                                    sizing_mode=None, width=150), profile, self._rerun, margin=0),
                       styles={**CARD_STYLES, "flex": "2 1 0%"})
        triage = pn.Row(groups, review, sizing_mode="stretch_width", margin=0)
        return pn.Column(top, counters, progress, triage, charts, lists, items, sizing_mode="stretch_width",
                         styles=PAGE_STYLES, stylesheets=[ROOT_CSS], margin=0)
