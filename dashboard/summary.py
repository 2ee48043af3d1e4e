"""Batch Run Summary: one batch, live (DESIGN §7). ``RunState`` is the session's state, ``BatchRunSummary`` its view.

Every session has its own RunState and view; they share the process's one engine. ``poll()`` reads the
engine's in-memory status (no SQL) and runs from the view's periodic callback, so each browser session
sees the others' actions within a second. Store reads and lifecycle calls run off the event loop. The
charts stream new points into a Bokeh ColumnDataSource from that same locked callback: never redrawn whole.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import panel as pn
import param

from dashboard import render
from dashboard.paged import PagedTable, off_loop
from dashboard.run_charts import ProgressCharts
from dashboard.run_reads import (EPOCH, FAILURES_KEEP, FEED_KINDS, event_key, failure_key, failures_seed, feed_seed,
                                 history_points, merged, num)
from engine.errors import IndexLabError
from engine.states import BATCH_MOVES, BatchState, ItemState

log = logging.getLogger("indexlab.dashboard")

ITEM_STATES = [s.value for s in ItemState]
ACTIONS = ("start", "pause", "resume", "stop", "force_stop", "retry_failed")
FEED_KEEP = 200
LIVE = frozenset({BatchState.RUNNING.value, BatchState.STOPPING.value})
SAMPLE_EVERY_S = 0.95  # one chart point a second while the batch runs (polls come every 0.5 s)
IDLE_SAMPLE_EVERY_S = 15.0  # ... and one every 15 s while it is paused
MAX_POINTS = 2_400  # past this the series is thinned to half (older points, every other one)


def allowed_actions(state: str | None, counts: Mapping[str, int] | None = None) -> dict[str, bool]:
    """Which controls are legal in ``state``, read off the one transition table (engine.states.BATCH_MOVES).

    Start: planned. Pause: running. Resume: paused or stopped. Stop: running or paused. Force Stop: running,
    paused or stopping. Retry failed: failed items exist and the batch is not working (running, stopping).
    """
    if not state:
        return dict.fromkeys(ACTIONS, False)
    current = BatchState(state)
    moves = BATCH_MOVES[current]
    B = BatchState
    return {
        "start": current == B.PLANNED and B.RUNNING in moves,
        "pause": B.PAUSED in moves,
        "resume": current in (B.PAUSED, B.STOPPED) and B.RUNNING in moves,
        "stop": B.STOPPING in moves,
        "force_stop": B.STOPPED in moves,
        "retry_failed": bool((counts or {}).get("failed")) and current.value not in LIVE,
    }


class RunState(param.Parameterized):
    """The batch a session follows: its live status, progress series, action feed and what may be done next.

    One per browser session (or notebook), built on the process's shared context (store, engine, service).
    ``follow``/``restore`` read the store in the calling thread; the UI awaits ``follow_async``/``restore_async``.
    """

    batch_run_id = param.String(default=None, allow_None=True, doc="The batch followed; None before any batch exists.")
    status = param.Dict(default={}, doc="The engine's live status of the batch (engine.snapshot.LiveStatus.to_dict()).")
    batch = param.Dict(default={}, doc="The batch as planned (store row): runner, profile, settings, created_at.")
    batch_state = param.String(default=None, allow_None=True, doc="status['state'], for bindings; None without a batch.")
    series = param.List(default=[], doc="Progress points, oldest first: t (ms since the epoch, UTC), completed, failed, "
                        "recent_per_hour, overall_per_hour. poll() replaces it with a longer list; views stream the tail.")
    series_version = param.Integer(default=0, doc="Bumped when `series` is replaced, not extended (another batch, "
                                   "thinning): views then reload it whole.")
    feed = param.List(default=[], doc="Operator actions and batch moves, newest first; kept across polls so a fast "
                      "batch's item moves cannot push them out of the engine's short recent_events.")
    failures = param.List(default=[], doc="Recent failures with reasons, newest first: the engine's live ones merged "
                          "with the failed items in the store (so they survive a server restart).")
    busy = param.Boolean(default=False, doc="An action is being committed; every control waits.")
    message = param.String(default="", doc="What the last action did, or why it was refused (shown, never raised).")
    message_kind = param.Selector(default="info", objects=["info", "success", "warning", "danger"],
                                  doc="How the message is shown.")
    actor = param.String(default="dashboard", doc="Who the audit trail names for actions taken here.")
    follow_latest = param.Boolean(default=True, doc="When the batch followed is finished (or none is), switch to a "
                                  "newer batch another session or the API planned or started.")
    can_start = param.Boolean(default=False, doc="Start Batch is legal now (planned).")
    can_pause = param.Boolean(default=False, doc="Pause Batch is legal now (running).")
    can_resume = param.Boolean(default=False, doc="Resume Batch is legal now (paused or stopped).")
    can_stop = param.Boolean(default=False, doc="Stop Batch is legal now (running or paused).")
    can_force_stop = param.Boolean(default=False, doc="Force Stop is legal now (running, paused or stopping).")
    can_retry_failed = param.Boolean(default=False, doc="Retry failed is legal now (failed items, batch not working).")

    def __init__(self, context: Any, **params: Any) -> None:
        self.context = context
        self.service = context.service
        super().__init__(**params)

    # ------------------------------------------------------------------ following a batch
    def follow(self, batch_run_id: str | None) -> None:
        """Show ``batch_run_id`` (None: nothing). Reads the store here: off the event loop, use follow_async."""
        self._apply(self._read(batch_run_id) if batch_run_id else None)

    async def follow_async(self, batch_run_id: str | None) -> None:
        self._apply(await off_loop(self._read, batch_run_id) if batch_run_id else None)

    def restore(self) -> str | None:
        """Follow the latest batch that is running, paused or stopping, else the latest batch, else none."""
        self._apply(self._read(self._restorable()))
        return self.batch_run_id

    async def restore_async(self) -> str | None:
        self._apply(await off_loop(lambda: self._read(self._restorable())))
        return self.batch_run_id

    def newer_batch(self) -> str | None:
        """The batch to switch to under ``follow_latest``, or None (reads the store)."""
        if not self.follow_latest:
            return None
        current, state = self.batch_run_id, self.batch_state
        if state in (*LIVE, BatchState.PLANNED.value):
            return None  # working, or planned by this operator to be started: stay
        candidate = self.service.latest_batch()
        if candidate is None or candidate["batch_run_id"] == current:
            return None
        newer = current is None or candidate["batch_run_id"] > current
        if state == BatchState.PAUSED.value:  # a paused batch gives way only to a newer one that runs
            return candidate["batch_run_id"] if newer and candidate["state"] in LIVE else None
        return candidate["batch_run_id"] if newer else None

    async def follow_newer_async(self) -> bool:
        """Switch to a newer batch if ``newer_batch`` names one; True when it did."""
        newer = await off_loop(self.newer_batch)
        if newer is None or newer == self.batch_run_id:
            return False
        await self.follow_async(newer)
        return True

    def _restorable(self) -> str | None:
        latest = self.service.latest_batch()
        return latest["batch_run_id"] if latest else None

    def _read(self, batch_run_id: str | None) -> dict[str, Any] | None:
        """Everything following a batch needs from the store and the engine: runs in a worker thread."""
        if batch_run_id is None:
            return None
        status = self.service.status(batch_run_id)
        batch = self.service.batch(batch_run_id)
        return {"batch_run_id": batch_run_id, "status": status, "batch": batch,
                "series": history_points(self.service, batch_run_id), "feed": feed_seed(self.service, batch_run_id),
                "failures": failures_seed(self.service, batch_run_id)}

    def _apply(self, read: dict[str, Any] | None) -> None:
        if read is None:
            self.param.update(batch_run_id=None, status={}, batch={}, series=[], feed=[], failures=[],
                              series_version=self.series_version + 1)
            return
        status = read["status"]
        feed = merged([], [e for e in status.get("recent_events", []) if e.get("kind") in FEED_KINDS] + read["feed"],
                       event_key, "occurred_at", FEED_KEEP)
        failures = merged([], list(status.get("recent_failures") or []) + read["failures"], failure_key, "at",
                           FAILURES_KEEP)
        self.param.update(batch_run_id=read["batch_run_id"], batch=read["batch"], status=status,
                          series=read["series"], series_version=self.series_version + 1, feed=feed or [],
                          failures=failures or [],
                          message="" if read["batch_run_id"] != self.batch_run_id else self.message)
        self._sample(status)

    # ------------------------------------------------------------------ polling
    def poll(self) -> None:
        """Refresh from the engine's in-memory status: cheap, run every 0.5–1 s by the view's periodic callback."""
        if self.batch_run_id is None:
            return
        try:
            status = self.service.status(self.batch_run_id)
        except IndexLabError as exc:
            self._tell(exc.message, "danger")
            return
        changes: dict[str, Any] = {"status": status}
        feed = merged(self.feed, [e for e in status.get("recent_events", []) if e.get("kind") in FEED_KINDS],
                       event_key, "occurred_at", FEED_KEEP)
        if feed is not None:
            changes["feed"] = feed
        failures = merged(self.failures, status.get("recent_failures") or [], failure_key, "at", FAILURES_KEEP)
        if failures is not None:
            changes["failures"] = failures
        self.param.update(**changes)
        self._sample(status)

    def _sample(self, status: Mapping[str, Any]) -> None:
        counts = status.get("counts") or {}
        tp = status.get("throughput") or {}
        now_ms = time.time() * 1000
        point = {"t": now_ms, "completed": int(counts.get("completed", 0)), "failed": int(counts.get("failed", 0)),
                 "recent_per_hour": num(tp.get("recent_per_hour")), "overall_per_hour": num(tp.get("overall_per_hour"))}
        last = self.series[-1] if self.series else None
        changed = last is None or (last["completed"], last["failed"]) != (point["completed"], point["failed"])
        gap = (now_ms - last["t"]) / 1000 if last else math.inf
        state = status.get("state")
        if not (changed or (state in LIVE and gap >= SAMPLE_EVERY_S)
                or (state == BatchState.PAUSED.value and gap >= IDLE_SAMPLE_EVERY_S)):
            return
        if last is not None and gap < SAMPLE_EVERY_S and state in LIVE:
            return  # at most one point a second; the next poll carries the change
        series = [*self.series, point]
        if len(series) > MAX_POINTS:
            keep = len(series) // 2
            self.param.update(series=series[:keep:2] + series[keep:], series_version=self.series_version + 1)
        else:
            self.series = series

    # ------------------------------------------------------------------ derived
    @param.depends("status", "busy", watch=True, on_init=True)
    def _derive(self) -> None:
        state = self.status.get("state") if self.status else None
        allowed = allowed_actions(state, self.status.get("counts") if self.status else None)
        self.param.update(batch_state=state, **{f"can_{name}": ok and not self.busy for name, ok in allowed.items()})

    # ------------------------------------------------------------------ actions (buttons)
    async def start(self) -> None:
        await self._act(lambda b: self.service.start(b, actor=self.actor), lambda _: "Batch started.")

    async def pause(self) -> None:
        await self._act(lambda b: self.service.pause(b, actor=self.actor),
                        lambda _: "Batch paused: running items finish, nothing new starts.")

    async def resume(self) -> None:
        await self._act(lambda b: self.service.resume(b, actor=self.actor), lambda _: "Batch resumed.")

    async def stop(self) -> None:
        await self._act(lambda b: self.service.stop(b, force=False, actor=self.actor),
                        lambda _: "Stopping: running items finish, queued ones become stopped.")

    async def force_stop(self) -> None:
        await self._act(lambda b: self.service.stop(b, force=True, actor=self.actor),
                        lambda _: "Force stopped: running items were cancelled.")

    async def retry_failed(self) -> None:
        await self._act(lambda b: self.service.retry_failed(b, actor=self.actor),
                        lambda n: f"Re-queued {n} failed item{'s' if n != 1 else ''}." if n else "No failed items to retry.")

    async def _act(self, call: Callable[[str], Any], done: Callable[[Any], str]) -> None:
        """Commit an action off the loop; an illegal one is shown as a message, never raised."""
        batch_run_id = self.batch_run_id
        if batch_run_id is None:
            self._tell("No batch to act on: plan one in the Batch Run Builder first.", "warning")
            return
        if self.busy:
            return
        self.busy = True
        try:
            result = await off_loop(call, batch_run_id)
        except IndexLabError as exc:
            self._tell(exc.message, "danger")
        except Exception as exc:  # the operator sees a sentence; the log keeps the traceback
            log.exception("dashboard action on batch %s failed", batch_run_id)
            self._tell(f"The action failed: {type(exc).__name__}: {exc}", "danger")
        else:
            self._tell(done(result), "success")
        finally:
            self.busy = False
        self.poll()

    def _tell(self, message: str, kind: str) -> None:
        self.param.update(message=message, message_kind=kind)

    def dismiss(self) -> None:
        self.message = ""


# =========================================================================== the view
_PROGRESS_CSS = """
progress { height: 14px; border-radius: 7px; box-shadow: none; margin: 0; }
progress[value]::-webkit-progress-bar { background-color: #e2e8f0; border-radius: 7px; box-shadow: none; }
progress[value]::-webkit-progress-value { border-radius: 7px; }
"""


def _html(text: str = "", **kw: Any) -> pn.pane.HTML:
    kw.setdefault("sizing_mode", "stretch_width")
    return pn.pane.HTML(text, stylesheets=[render.CSS], **kw)


def _card(*objects: Any, **kw: Any) -> pn.Column:
    return pn.Column(*objects, styles=dict(render.CARD_STYLES), sizing_mode="stretch_width", margin=(6, 6), **kw)


def _on_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class BatchRunSummary(pn.viewable.Viewer):
    """The "Batch Run Summary" tab: header, controls, counters, progress, charts, running items, failures,
    action feed and the items table. Mount one per session: ``BatchRunSummary(run=RunState(context))``."""

    run = param.ClassSelector(class_=RunState, doc="The session's RunState this view shows and drives.")
    item_state = param.Selector(default="all", objects=["all", *ITEM_STATES], doc="Items table: show only this state.")
    show_item_moves = param.Boolean(default=False, doc="Action feed: also list the latest item moves.")
    confirming_force_stop = param.Boolean(default=False, doc="Force Stop was pressed; the confirmation is shown.")
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
        self.run.param.watch(self._show_status, ["status", "batch", "batch_run_id"])
        self.run.param.watch(self._show_feed, ["feed"])
        self.run.param.watch(self._show_failures, ["failures"])
        self.run.param.watch(self._show_message, ["message", "message_kind"])
        self.run.param.watch(self._batch_changed, ["batch_run_id"])
        self.param.watch(self._show_feed, ["show_item_moves"])
        self.param.watch(lambda *_: self._items.reset(), ["item_state"])
        self._stream()
        self._show_status()
        self._show_feed()
        self._show_failures()
        self._show_message()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        run = self.run
        self._header = _html(margin=(0, 0), css_classes=["summary-header"], sizing_mode=None,
                             styles={"flex": "1 1 420px", "min-width": "0"})
        self._buttons = {
            "start": self._button("Start Batch", run.param.can_start, run.start, "primary"),
            "pause": self._button("Pause Batch", run.param.can_pause, run.pause, "warning"),
            "resume": self._button("Resume Batch", run.param.can_resume, run.resume, "success"),
            "stop": self._button("Stop Batch", run.param.can_stop, run.stop, "danger", outline=True),
            "force_stop": self._button("Force Stop", run.param.can_force_stop, self._ask_force_stop, "danger"),
            "retry_failed": self._button("Retry failed", run.param.can_retry_failed, run.retry_failed, "primary",
                                         outline=True),
        }
        confirm = pn.widgets.Button(label="Confirm force stop", color="danger", width=170)
        cancel = pn.widgets.Button(label="Cancel", color="light", width=90)
        pn.bind(self._force_stop, confirm.param.clicks, watch=True)
        pn.bind(self._cancel_force_stop, cancel.param.clicks, watch=True)
        self._confirm_text = _html(margin=(8, 10), css_classes=["summary-confirm"])
        self._confirm_bar = pn.Row(self._confirm_text, confirm, cancel, visible=self.param.confirming_force_stop,
                                   sizing_mode="stretch_width",
                                   styles={"background": "#fef2f2", "border": "1px solid #fecaca", "border-radius": "8px"})
        self._alert = _html(visible=False, margin=(0, 0), css_classes=["summary-alert"])
        dismiss = pn.widgets.Button(label="Dismiss", color="light", width=90)
        pn.bind(lambda _: self.run.dismiss(), dismiss.param.clicks, watch=True)
        self._alert_row = pn.Row(self._alert, dismiss, visible=False, sizing_mode="stretch_width")
        self._counters = {
            s: pn.indicators.Number(label=s.capitalize(), value=0, format="{value:,}", font_size="26pt",
                                    title_size="10.5pt", default_color=render.ITEM_COLORS[s], sizing_mode="stretch_width",
                                    styles={**render.CARD_STYLES, "border-left": f"5px solid {render.ITEM_COLORS[s]}"},
                                    margin=(6, 6), css_classes=[f"summary-count-{s}"])
            for s in ITEM_STATES
        }
        self._progress = pn.indicators.Progress(value=0, max=1000, bar_color="primary", sizing_mode="stretch_width",
                                                height=14, margin=(4, 0, 8, 0), stylesheets=[_PROGRESS_CSS])
        self._progress_text = _html(margin=(0, 0), css_classes=["summary-progress"])
        self._speed_pane = pn.pane.Bokeh(self._charts.speed, sizing_mode="stretch_width", height=250)
        self._done_pane = pn.pane.Bokeh(self._charts.done, sizing_mode="stretch_width", height=250)
        self._running = _html(margin=(0, 0), css_classes=["summary-running"])
        self._failures = _html(margin=(0, 0), css_classes=["summary-failures"])
        self._feed = _html(margin=(0, 0), css_classes=["summary-feed"])
        self._items = PagedTable(
            self._fetch_items, page_size=20, empty_text="No items in this state.", css_classes=["summary-items"],
            columns=["seq", "state", "brand", "model", "variant", "product_id", "attempts", "phase", "duration",
                     "finished", "last_error"],
            titles={"seq": "#", "duration": "duration", "finished": "finished (UTC)", "last_error": "last error"},
            widths={"seq": 55, "state": 95, "attempts": 80, "phase": 90, "duration": 80, "finished": 110},
        )

    def _button(self, label: str, enabled: param.Parameter, action: Callable[[], Any], kind: str, *,
                outline: bool = False) -> pn.widgets.Button:
        button = pn.widgets.Button(label=label, color=kind, variant="outline" if outline else "solid",
                                   disabled=enabled.rx.not_(), width=128, margin=(4, 4), stylesheets=[render.BUTTON_CSS])

        async def clicked(_clicks: int) -> None:
            await action()

        pn.bind(clicked, button.param.clicks, watch=True)
        return button

    # ------------------------------------------------------------------ force stop, confirmed
    async def _ask_force_stop(self) -> None:
        running = len(self.run.status.get("running") or [])
        self._confirm_text.object = (
            f'<b>Force stop?</b> The {running} running product{"s" if running != 1 else ""} '
            'are cancelled now (external jobs are killed) and become stopped; queued ones become stopped too.')
        self.confirming_force_stop = True

    async def _force_stop(self, _clicks: int) -> None:
        self.confirming_force_stop = False
        await self.run.force_stop()

    def _cancel_force_stop(self, _clicks: int) -> None:
        self.confirming_force_stop = False

    # ------------------------------------------------------------------ showing the state
    def _show_status(self, *_: object) -> None:
        run, status = self.run, self.run.status
        self._header.object = render.header_html(run.batch_run_id, status, run.batch)
        counts = status.get("counts") or {}
        for state, number in self._counters.items():
            number.value = int(counts.get(state, 0))
        self._progress.value = int(round(1000 * (status.get("progress") or 0.0))) if status else 0
        self._progress.bar_color = {"completed": "success", "paused": "warning", "stopping": "warning",
                                    "stopped": "danger"}.get(status.get("state"), "primary")
        self._progress_text.object = render.progress_html(status) if status else ""
        self._running.object = render.running_html(status.get("running") or [], status.get("state"))

        if not self.run.can_force_stop:
            self.confirming_force_stop = False
        if self.show_item_moves:
            self._show_feed()

    def _show_failures(self, *_: object) -> None:
        self._failures.object = render.failures_html(self.run.failures)

    def _show_feed(self, *_: object) -> None:
        events = list(self.run.feed)
        if self.show_item_moves:
            moves = [e for e in self.run.status.get("recent_events") or [] if e.get("kind") == "item_transition"]
            events = sorted(events + moves, key=lambda e: render.as_datetime(e.get("occurred_at")) or EPOCH,
                            reverse=True)
        self._feed.object = render.feed_html(events)

    def _show_message(self, *_: object) -> None:
        message, kind = self.run.message, self.run.message_kind
        self._message_at = time.monotonic()
        self._alert.object = render.alert(message, kind) if message else ""
        self._alert.visible = self._alert_row.visible = bool(message)
        notifications = pn.state.notifications
        if message and kind == "danger" and notifications is not None:
            notifications.error(render.esc(message), duration=6000)

    def _batch_changed(self, *_: object) -> None:
        self.confirming_force_stop = False
        self._items_counts = None
        self._items.reset()

    # ------------------------------------------------------------------ items table (SQL pages, off the loop)
    def _fetch_items(self, offset: int, limit: int) -> tuple[pd.DataFrame, int]:
        batch_run_id = self.run.batch_run_id
        if batch_run_id is None:
            return pd.DataFrame(), 0
        state = None if self.item_state == "all" else self.item_state
        page, total = self.run.service.items(batch_run_id, state=state, offset=offset, limit=limit)
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
            await self._items.refresh()

    async def _on_load(self) -> None:
        """Runs unlocked (an async callback): params only; the charts catch up on the next tick."""
        if self.restore_on_load and self.run.batch_run_id is None:
            await self.run.restore_async()
        await self._items.refresh()

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
        elif _on_loop():
            pn.state.execute(self._on_load)
        else:  # a script or test without a loop: read now
            if self.restore_on_load and self.run.batch_run_id is None:
                self.run.restore()
            self._stream()
            self._items.load()

    def stop(self) -> None:
        """Stop polling (the session's end does this by itself)."""
        for callback in self._callbacks:
            callback.stop()
        self._callbacks.clear()

    def __panel__(self) -> pn.viewable.Viewable:
        self._attach()
        return self._layout

    def _compose(self) -> pn.viewable.Viewable:
        controls = pn.Row(*self._buttons.values(), margin=(0, 0))
        head = pn.FlexBox(self._header, controls, flex_wrap="wrap", justify_content="space-between",
                          align_items="flex-end", gap="6px 12px", sizing_mode="stretch_width", margin=0)
        top = _card(head, self._confirm_bar, self._alert_row)
        counters = pn.Row(*self._counters.values(), sizing_mode="stretch_width", margin=(0, 0))
        progress = _card(self._progress, self._progress_text)
        charts = pn.Row(_card(self._speed_pane), _card(self._done_pane), sizing_mode="stretch_width", margin=0)
        scroll = {"max-height": "270px", "overflow-y": "auto"}
        feed_toggle = pn.widgets.Checkbox.from_param(self.param.show_item_moves, label="show item moves", margin=(2, 0))
        def listing(title: Any, body: pn.viewable.Viewable) -> pn.Column:
            return _card(title, pn.Column(body, styles=scroll, sizing_mode="stretch_width", margin=0), height=330)

        lists = pn.Row(
            listing(_html(render.section("Now running", "product · phase cursor"), margin=(0, 0, 6, 0)), self._running),
            listing(_html(render.section("Recent failures", "newest first"), margin=(0, 0, 6, 0)), self._failures),
            listing(pn.Row(_html(render.section("Action feed"), margin=(0, 0, 6, 0)), feed_toggle,
                           sizing_mode="stretch_width", margin=0), self._feed),
            sizing_mode="stretch_width", margin=0,
        )
        filter_ = pn.widgets.RadioButtonGroup.from_param(
            self.param.item_state, options={s.capitalize(): s for s in self.param.item_state.objects},
            color="light", variant="outline", margin=(4, 0))
        items = _card(pn.Row(_html(render.section("Items")), filter_, sizing_mode="stretch_width"), self._items)
        return pn.Column(top, counters, progress, charts, lists, items, sizing_mode="stretch_width",
                         styles={"background": "#f8fafc"}, margin=0)


def items_for_display(page: pd.DataFrame) -> pd.DataFrame:
    """The items page as the table shows it: plain strings for times and durations (UTC)."""
    if page.empty:
        return pd.DataFrame(columns=["seq", "state", "brand", "model", "variant", "product_id", "attempts", "phase",
                                     "duration", "finished", "last_error"])
    out = page[["seq", "state", "brand", "model", "variant", "product_id", "attempts", "phase", "last_error"]].copy()
    out["duration"] = [render.duration(d) if d == d and d is not None else "" for d in page["duration_s"]]
    out["finished"] = [render.clock(t) if t is not None and t == t else "" for t in page["finished_at"]]
    out["phase"] = out["phase"].fillna("")
    out["last_error"] = out["last_error"].fillna("")
    return out
