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

from dashboard.views import render
from dashboard.views.paged import PagedTable, off_loop, schedule
from dashboard.views.plain import TEXT_TOOLTIP
from dashboard.views.charts import ProgressCharts
from dashboard.views.run_reads import (EPOCH, FAILURES_KEEP, FEED_KINDS, event_key, failure_key, failures_seed, feed_seed,
                                 history_points, merged, num)
from engine.core.errors import IndexLabError
from engine.core.settings import Profile
from engine.core.states import BATCH_MOVES, BatchState, ItemState

log = logging.getLogger("indexlab.dashboard")

ITEM_STATES = [s.value for s in ItemState]
COUNTERS = [*ITEM_STATES[:3], "needs_review", *ITEM_STATES[3:]]  # "needs review" beside "completed"
COUNTER_COLORS = {**render.ITEM_COLORS, "needs_review": "#ca8a04"}
ZERO_COLOR = "#94a3b8"
GROUPS_SHOWN = 10  # failure groups listed on the summary (largest first) ...
GROUPS_READ = 100  # ... and read, for the items table's reason filter
ITEM_EVENTS_SHOWN = 200
ACTIONS = ("start", "pause", "resume", "stop", "force_stop", "retry_failed")
FEED_KEEP = 200
LIVE = frozenset({BatchState.RUNNING.value, BatchState.STOPPING.value})
SAMPLE_EVERY_S = 0.95  # one chart point a second while the batch runs (polls come every 0.5 s)
IDLE_SAMPLE_EVERY_S = 15.0  # ... and one every 15 s while it is paused
MAX_POINTS = 2_400  # past this the series is thinned to half (older points, every other one)


def allowed_actions(state: str | None, counts: Mapping[str, int] | None = None) -> dict[str, bool]:
    """Which controls are legal in ``state``, read off the one transition table (engine.core.states.BATCH_MOVES).

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
    status = param.Dict(default={}, doc="The engine's live status of the batch (engine.run.live.LiveStatus.to_dict()).")
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
    failure_groups = param.List(default=[], doc="service.failure_groups of the batch: reason, count, first/last seen, "
                                "examples; read with load_triage (store reads) when the counts move.")
    needs_review = param.Dict(default={}, doc="service.needs_review of the batch: count, gate, missing fields.")
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
                "failures": failures_seed(self.service, batch_run_id), **self._read_triage(batch_run_id)}

    # ------------------------------------------------------------------ triage (store reads)
    def _read_triage(self, batch_run_id: str) -> dict[str, Any]:
        return {"batch_run_id": batch_run_id,
                "groups": self.service.failure_groups(batch_run_id, limit=GROUPS_READ),
                "review": self.service.needs_review(batch_run_id)}

    def _apply_triage(self, read: dict[str, Any]) -> None:
        if read["batch_run_id"] == self.batch_run_id:  # not a read for a batch no longer followed
            self.param.update(failure_groups=read["groups"], needs_review=read["review"])

    def load_triage(self) -> None:
        """Re-read the failure groups and the needs-review summary now, in this thread."""
        if self.batch_run_id is not None:
            self._apply_triage(self._read_triage(self.batch_run_id))

    async def load_triage_async(self) -> None:
        if self.batch_run_id is not None:
            try:
                self._apply_triage(await off_loop(self._read_triage, self.batch_run_id))
            except IndexLabError as exc:
                self._tell(exc.message, "danger")

    def _apply(self, read: dict[str, Any] | None) -> None:
        if read is None:
            self.param.update(batch_run_id=None, status={}, batch={}, series=[], feed=[], failures=[],
                              failure_groups=[], needs_review={}, series_version=self.series_version + 1)
            return
        status = read["status"]
        feed = merged([], [e for e in status.get("recent_events", []) if e.get("kind") in FEED_KINDS] + read["feed"],
                       event_key, "occurred_at", FEED_KEEP)
        failures = merged([], list(status.get("recent_failures") or []) + read["failures"], failure_key, "at",
                           FAILURES_KEEP)
        self.param.update(batch_run_id=read["batch_run_id"], batch=read["batch"], status=status,
                          series=read["series"], series_version=self.series_version + 1, feed=feed or [],
                          failures=failures or [], failure_groups=read["groups"], needs_review=read["review"],
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

    async def retry_group(self, reason: str) -> None:
        """Re-queue every failed item of one failure group (its reason), and only those."""
        await self._act(lambda b: self.service.retry_failed(b, reason=reason, actor=self.actor),
                        lambda n: f"Re-queued {n} failed item{'s' if n != 1 else ''} of the group: {reason}")
        await self.load_triage_async()

    async def rerun_needs_review(self, profile: str) -> None:
        """Plan a new batch of the products that need review with ``profile``, and show it here (not started)."""
        old = self.batch_run_id
        saved = await self._act(
            lambda b: self.service.rerun(b, which="needs_review", settings={"profile": profile}, actor=self.actor),
            lambda saved: "")
        if saved is None:
            return
        await self.follow_async(saved.batch_run_id)
        self._tell(f"Planned batch {saved.batch_run_id}: the {saved.summary.total:,} products of batch {old} that "
                   f"need review, with the {profile} profile. It is shown here now: press Start Batch to run it "
                   "(History lists both).", "success")

    async def _act(self, call: Callable[[str], Any], done: Callable[[Any], str]) -> Any:
        """Commit an action off the loop; an illegal one is shown as a message, never raised. Returns what the
        call returned, None when it failed."""
        batch_run_id = self.batch_run_id
        if batch_run_id is None:
            self._tell("No batch to act on: plan one in the Batch Run Builder first.", "warning")
            return None
        if self.busy:
            return None
        self.busy = True
        result = None
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
        return result

    def _tell(self, message: str, kind: str) -> None:
        self.param.update(message=message, message_kind=kind)

    def dismiss(self) -> None:
        self.message = ""


# =========================================================================== the view
def _html(text: str = "", **kw: Any) -> pn.pane.HTML:
    kw.setdefault("sizing_mode", "stretch_width")
    return pn.pane.HTML(text, stylesheets=[render.CSS], **kw)


def _card(*objects: Any, styles: dict[str, str] | None = None, **kw: Any) -> pn.Column:
    return pn.Column(*objects, styles=dict(styles or render.CARD_STYLES), sizing_mode="stretch_width", margin=(6, 6),
                     **kw)


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
        self.run.param.watch(self._show_groups, ["failure_groups"])
        self.run.param.watch(self._show_review, ["needs_review"])
        self.run.param.watch(self._item_options, ["batch", "failure_groups"])
        self.param.watch(lambda *_: self._items.reset(), ["item_state", "item_search", "item_brand", "item_reason"])
        self._stream()
        self._show_status()
        self._show_feed()
        self._show_failures()
        self._show_groups()
        self._show_review()
        self._item_options()
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
            s: pn.indicators.Number(label=s.replace("_", " ").capitalize(), value=0, format="{value:,}",
                                    font_size="26pt", title_size="10.5pt", default_color=ZERO_COLOR,
                                    sizing_mode="stretch_width", margin=(6, 6), css_classes=[f"summary-count-{s}"],
                                    styles={**render.CARD_STYLES, "border-left": f"5px solid {ZERO_COLOR}"})
            for s in COUNTERS
        }
        self._bar = _html(margin=(0, 0), css_classes=["summary-bar"])
        self._progress_text = _html(margin=(0, 0), css_classes=["summary-progress"])
        self._speed_pane = pn.pane.Bokeh(self._charts.speed, sizing_mode="stretch_width", height=250)
        self._done_pane = pn.pane.Bokeh(self._charts.done, sizing_mode="stretch_width", height=250)
        self._running = _html(margin=(0, 0), css_classes=["summary-running"])
        self._failures = _html(margin=(0, 0), css_classes=["summary-failures"])
        self._feed = _html(margin=(0, 0), css_classes=["summary-feed"])
        self._items = PagedTable(
            self._fetch_items, page_size=20, empty_text="No items match.", css_classes=["summary-items"],
            columns=ITEM_COLUMNS, on_click=lambda row: self.show_item(int(row["seq"])),
            titles={"seq": "#", "duration": "duration", "finished": "finished (UTC)", "last_error": "last error",
                    "gate": "quality"},
            widths={"seq": 55, "state": 95, "attempts": 80, "phase": 90, "duration": 80, "finished": 110,
                    "gate": 105},
        )
        self._groups_head = _html(margin=(0, 0), css_classes=["summary-groups-head"])
        # Tabulator cells are plain text (the reasons and product ids are the jobs' and the catalog's words);
        # a click on a row's last cell ("Retry this group") retries that group.
        self._groups_table = pn.widgets.Tabulator(
            pd.DataFrame(columns=GROUP_COLUMNS), show_index=False, disabled=True, pagination=None,
            layout="fit_columns", sizing_mode="stretch_width",
            selectable=False, header_align="left", css_classes=["summary-groups"], max_height=260,
            titles={"count": "items", "reason": "reason group", "seen": "first – last (UTC)",
                    "examples": "examples", "retry": ""},
            widths={"count": 60, "seen": 150, "examples": 180, "retry": 130},
            formatters={"reason": {"type": "textarea"}, "seen": {"type": "textarea"}, "examples": {"type": "textarea"}},
            configuration={"columnDefaults": {"headerSort": False, "tooltip": TEXT_TOOLTIP},
                           "placeholder": "No failures."},
            stylesheets=[_GROUPS_CSS])
        self._groups_table.on_click(self._group_clicked)
        self._review = _html(margin=(0, 0), css_classes=["summary-review"])
        self._rerun = pn.widgets.Button(label="Re-run needs review", color="primary", variant="outline", width=190,
                                        margin=(4, 4), stylesheets=[render.BUTTON_CSS],
                                        disabled=self.run.param.needs_review.rx.pipe(
                                            lambda r: not (r or {}).get("count")) | self.run.param.busy)
        pn.bind(self._rerun_clicked, self._rerun.param.clicks, watch=True)
        self._item_events = _html(margin=(0, 0), css_classes=["summary-item-events"])
        self._item_shown: int | None = None

    async def _rerun_clicked(self, _clicks: int) -> None:
        await self.run.rerun_needs_review(self.rerun_profile)

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
        counts = {**(status.get("counts") or {}), "needs_review": (status.get("outcomes") or {}).get("needs_review", 0)}
        for state, number in self._counters.items():
            value = int(counts.get(state, 0))
            color = COUNTER_COLORS[state] if value else ZERO_COLOR  # a zero is grey: "Completed 0" is not success
            if number.default_color != color:
                number.param.update(default_color=color,
                                    styles={**render.CARD_STYLES, "border-left": f"5px solid {color}"})
            number.value = value
        self._bar.object = render.outcome_bar(status.get("outcomes") or {}) if status else ""
        self._progress_text.object = render.progress_html(status) if status else ""
        self._running.object = render.running_html(status.get("running") or [], status.get("state"))

        if not self.run.can_force_stop:
            self.confirming_force_stop = False
        if self.show_item_moves:
            self._show_feed()

    def _show_failures(self, *_: object) -> None:
        self._failures.object = render.failures_html(self.run.failures)

    def _show_groups(self, *_: object) -> None:
        groups = self.run.failure_groups
        shown = groups[:GROUPS_SHOWN]
        failed = int((self.run.status.get("counts") or {}).get("failed", 0))
        note = (f"{failed:,} failed item{'s' if failed != 1 else ''} in {len(groups)}"
                f"{'+' if len(groups) >= GROUPS_READ else ''} reason group{'s' if len(groups) != 1 else ''}"
                if groups else "")
        self._groups_head.object = render.section("Failure groups", note or "none")
        self._groups_table.value = groups_for_display(shown)
        more = len(groups) - len(shown)
        if more > 0:
            self._groups_head.object += (f'<div class="meta">the {GROUPS_SHOWN} largest shown; filter the items by '
                                         'any group below</div>')

    async def _group_clicked(self, event: Any) -> None:
        if event.column != "retry" or not 0 <= event.row < len(self._groups_table.value):
            return
        reason = self._groups_table.value["reason"].iloc[event.row]
        if not self.run.can_retry_failed:
            self.run._tell("Retry waits until the batch is not running: pause or stop it first.", "warning")
            return
        await self.run.retry_group(reason)

    def _show_review(self, *_: object) -> None:
        self._review.object = render.review_html(self.run.needs_review) if self.run.needs_review else \
            '<div class="empty">No product needs review.</div>'

    def _item_options(self, *_: object) -> None:
        """The brand and reason filters offer what this batch has: its brands, its failure groups."""
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

    def show_item(self, seq: int) -> None:
        """Show one item's events (its job's stderr tail among them) under the items table."""
        self._item_shown = seq
        if _on_loop():
            schedule(self._show_item_async, seq)
        else:
            self._apply_item(seq, self._read_item(seq))

    async def _show_item_async(self, seq: int) -> None:
        read = await off_loop(self._read_item, seq)
        self._apply_item(seq, read)

    def _read_item(self, seq: int) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
        batch_run_id = self.run.batch_run_id
        if batch_run_id is None:
            return {}, [], 0
        page, _ = self.run.service.items(batch_run_id, offset=max(0, seq - 1), limit=1)  # seq runs 1..N
        item = page.iloc[0].to_dict() if len(page) and int(page["seq"].iloc[0]) == seq else {"seq": seq}
        events, total = self.run.service.events(batch_run_id, seq=seq, limit=ITEM_EVENTS_SHOWN)
        return item, events, total

    def _apply_item(self, seq: int, read: tuple[dict[str, Any], list[dict[str, Any]], int]) -> None:
        if seq == self._item_shown:
            self._item_events.object = render.item_events_html(*read)

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
        self._item_shown = None
        self._item_events.object = ""
        self._items.reset()

    # ------------------------------------------------------------------ items table (SQL pages, off the loop)
    def _fetch_items(self, offset: int, limit: int) -> tuple[pd.DataFrame, int]:
        batch_run_id = self.run.batch_run_id
        if batch_run_id is None:
            return pd.DataFrame(), 0
        state = None if self.item_state == "all" else self.item_state
        page, total = self.run.service.items(batch_run_id, state=state, brand=self.item_brand or None,
                                             search=self.item_search.strip() or None, reason=self.item_reason or None,
                                             offset=offset, limit=limit)
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
            await run.load_triage_async()

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
        progress = _card(self._bar, self._progress_text)
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
        search = pn.widgets.TextInput.from_param(self.param.item_search, name="", placeholder="Search id, brand, model",
                                                 width=240, margin=(4, 8, 4, 0), css_classes=["summary-item-search"])
        brand = pn.widgets.Select.from_param(self.param.item_brand, name="", width=200, margin=(4, 8, 4, 0),
                                             css_classes=["summary-item-brand"])
        reason = pn.widgets.Select.from_param(self.param.item_reason, name="", width=380, margin=(4, 8, 4, 0),
                                              css_classes=["summary-item-reason"])
        items = _card(pn.Row(_html(render.section("Items", "click one for its events")), filter_,
                             sizing_mode="stretch_width"),
                      pn.Row(search, brand, reason, sizing_mode="stretch_width", margin=0), self._items,
                      self._item_events)
        profile = pn.widgets.Select.from_param(self.param.rerun_profile, name="", width=120, margin=(4, 4),
                                               css_classes=["summary-rerun-profile"])
        groups = _card(self._groups_head, self._groups_table, styles={**render.CARD_STYLES, "flex": "3 1 0%"})
        review = _card(_html(render.section("Needs review", "below the quality gate"), margin=(0, 0, 6, 0)),
                       pn.Column(self._review, styles=scroll, sizing_mode="stretch_width", margin=0),
                       pn.Row(_html('<span class="meta">re-run them with profile</span>', margin=(10, 0),
                                    sizing_mode=None, width=150), profile, self._rerun, margin=0),
                       styles={**render.CARD_STYLES, "flex": "2 1 0%"})
        triage = pn.Row(groups, review, sizing_mode="stretch_width", margin=0)
        return pn.Column(top, counters, progress, triage, charts, lists, items, sizing_mode="stretch_width",
                         styles={"background": "#f8fafc"}, margin=0)


GROUP_COLUMNS = ["count", "reason", "seen", "examples", "retry"]
RETRY_GROUP_LABEL = "Retry this group"
_GROUPS_CSS = """
.tabulator { font-size: 13px; border-radius: 6px; }
.tabulator .tabulator-header .tabulator-col { background: #f5f7fa; }
.tabulator-row .tabulator-cell { padding: 5px 8px; }
.tabulator-row .tabulator-cell[tabulator-field="reason"] { font-family: ui-monospace, Menlo, Consolas, monospace;
  font-size: 12.5px; color: #991b1b; }
.tabulator-row .tabulator-cell[tabulator-field="retry"] { color: #1d4ed8; font-weight: 600; cursor: pointer;
  text-decoration: underline; }
"""


def groups_for_display(groups: list[dict[str, Any]]) -> pd.DataFrame:
    """Failure groups as the table shows them: plain strings (UTC times, '#3 ta-0, #4 ta-1 …')."""
    rows = []
    for g in groups:
        examples = ", ".join(f"#{int(e.get('seq', 0))} {e.get('product_id')}" for e in g.get("examples") or [])
        more = int(g.get("count") or 0) - len(g.get("examples") or [])
        rows.append({"count": int(g.get("count") or 0), "reason": g.get("reason") or "",
                     "seen": f"{render.clock(g.get('first_seen'), date=True)} –\n{render.clock(g.get('last_seen'), date=True)}",
                     "examples": examples + (f" and {more:,} more" if more > 0 else ""), "retry": RETRY_GROUP_LABEL})
    return pd.DataFrame(rows, columns=GROUP_COLUMNS)


ITEM_COLUMNS = ["seq", "state", "gate", "brand", "model", "variant", "product_id", "attempts", "phase", "duration",
                "finished", "last_error"]
GATE_WORDS = {"passed": "passed", "needs_review": "needs review"}


def items_for_display(page: pd.DataFrame) -> pd.DataFrame:
    """The items page as the table shows it: plain strings for times, durations and the quality gate (UTC)."""
    if page.empty:
        return pd.DataFrame(columns=ITEM_COLUMNS)
    out = page[["seq", "state", "brand", "model", "variant", "product_id", "attempts", "phase", "last_error"]].copy()
    out["gate"] = [GATE_WORDS.get(g, "") if isinstance(g, str) else "" for g in page["gate"]]
    out["duration"] = [render.duration(d) if d == d and d is not None else "" for d in page["duration_s"]]
    out["finished"] = [render.clock(t) if t is not None and t == t else "" for t in page["finished_at"]]
    out["phase"] = out["phase"].fillna("")
    out["last_error"] = out["last_error"].fillna("")
    return out
