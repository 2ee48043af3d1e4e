"""Batch Run Summary: one batch, live (DESIGN §7). ``BatchRunSummary`` shows and drives a session's ``RunState``.

Every pane is bound to the state it shows (``pn.bind`` / ``.rx`` references): when ``RunState`` changes, the panes
follow; no watcher copies values into them. The periodic callback polls the engine's in-memory status and streams
the charts' new points into a Bokeh ColumnDataSource (never redrawn whole); store reads run off the event loop.

The view's parts (``header``, ``counters``, ``items`` ...) are public attributes: notebooks and tests read them.
They are built and laid out by ``SummaryPanes`` (``summary_panes.py``); this module keeps the view's params, its
watchers, the actions its buttons call, the items page read and the live updates.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import panel as pn
import param
from panel.io.callbacks import PeriodicCallback

from dashboard.views import summary_html as html
from dashboard.views.bokeh_edits import in_panel_order
from dashboard.views.charts import ProgressCharts
from dashboard.views.formats import esc
from dashboard.views.offloop import off_loop, on_loop, schedule
from dashboard.views.run_state import ITEM_STATES, RunState
from dashboard.views.summary_panes import SummaryPanes
from dashboard.views.summary_tables import items_for_display
from engine.core.settings import Profile

RECENT_EVERY = 4  # the picker's list is re-read every 4th look for a newer batch (every 6 s)


class BatchRunSummary(SummaryPanes, pn.viewable.Viewer):
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
        self._looks = 0
        self._message_at = 0.0
        self._build()
        self._layout = self._compose()
        self._stream()
        self._show_status()
        self._item_options()
        self._picker_options()
        self.picker.param.watch(self._picked, "value")

    # ------------------------------------------------------------------ status panes (a watcher, see below)
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

    @param.depends("run.recent", "run.batch_run_id", "run.batch_state", watch=True)
    def _picker_options(self) -> None:
        """The picker offers the recent batches (and the one followed) and shows the one followed."""
        options = self.run.picker_options()
        with param.parameterized.discard_events(self.picker):  # not a pick: nothing to follow
            if self.picker.options != options:
                self.picker.options = options
            self.picker.value = self.run.batch_run_id
        self.picker.param.trigger("options", "value")  # the widget shows them

    def _picked(self, event: Any) -> None:
        """The operator picked a batch: follow it and stay on it."""
        if event.new and event.new != self.run.batch_run_id and event.new in self.picker.options.values():
            schedule(self.run.choose_async, event.new)

    async def view_newer(self, _clicks: int = 0) -> None:
        """The banner's "View it": follow the newer batch (and stay on it)."""
        if self.run.newer.get("batch_run_id"):
            await self.run.choose_async(self.run.newer["batch_run_id"])

    @param.depends("run.follow_latest", watch=True)
    def _follow_latest_changed(self) -> None:
        if self.run.follow_latest:
            self._last_newer = 0.0  # look at once (next tick)

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
        """Bring the charts up to ``run.series``. Changes Bokeh models: only where the document is locked, and sent
        after whatever Panel has queued (the tab's own models, just shown: dashboard/views/bokeh_edits.py)."""
        run = self.run
        with in_panel_order():
            changed = self._charts.sync(run.series, run.series_version, window=run.chart_window(), pauses=run.pauses())
        if not changed:
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
        if now - self._last_newer >= self.newer_every_s:  # a newer batch: followed (follow latest) or offered
            self._last_newer = now
            self._looks += 1
            if await run.look_around_async(recent=self._looks % RECENT_EVERY == 1):
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
        # background: the poll is not the operator's activity, so it does not turn the header's busy spinner on
        callback = PeriodicCallback(callback=self.tick, period=self.poll_ms, background=True)
        callback.start()
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
