"""The batch a session follows (``RunState``): live status, progress series, action feed, triage, legal actions.

Every session has its own RunState; they share the process's one engine through the service. ``poll()`` reads the
engine's in-memory status (no SQL) and runs from the summary's periodic callback, so each browser session sees the
others' actions within a second. Store reads and lifecycle calls run off the event loop (``*_async``, through
``dashboard.views.offloop``); the sync twins are for notebooks, scripts and tests.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import param

from dashboard.views.formats import as_datetime
from dashboard.views.offloop import off_loop
from dashboard.views.run_reads import (
    FAILURES_KEEP,
    FEED_KINDS,
    event_key,
    failure_key,
    failures_seed,
    feed_seed,
    history_points,
    merged,
    num,
    paused_intervals,
)
from engine.core.errors import IndexLabError
from engine.core.states import BATCH_MOVES, BatchState, ItemState

log = logging.getLogger("indexlab.dashboard")

ITEM_STATES = [s.value for s in ItemState]
GROUPS_READ = 100  # failure groups read, for the summary's list and the items table's reason filter
ITEM_EVENTS_SHOWN = 200
ACTIONS = ("start", "pause", "resume", "stop", "force_stop", "retry_failed")
FEED_KEEP = 200
LIVE = frozenset({BatchState.RUNNING.value, BatchState.STOPPING.value})
SAMPLE_EVERY_S = 0.95  # one chart point a second while the batch runs (polls come every 0.5 s)
IDLE_SAMPLE_EVERY_S = 15.0  # ... and one every 15 s while it is paused
MAX_POINTS = 2_400  # past this the series is thinned to half (older points, every other one)
RECENT_READ = 30  # batches the Summary's picker offers


def batch_label(batch: Mapping[str, Any]) -> str:
    """'name · id · state' for the picker and the banner (plain text; the id alone when the batch has no name)."""
    parts = [str(batch.get("name") or "").strip(), str(batch.get("batch_run_id")), str(batch.get("state") or "")]
    return " · ".join(p for p in parts if p)


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
                                  "newer batch another session, the API or the CLI started. Choosing a batch (History's "
                                  "Watch, the picker, the banner) turns it off: the chosen batch stays.")
    newer = param.Dict(default={}, doc="A newer batch the view did not switch to (this one is pinned, still working, or "
                       "the newer one is only planned): batch_run_id, name, state. The banner offers it; {} for none.")
    recent = param.List(default=[], doc="Recent batches for the picker, newest first: batch_run_id, name, state, "
                        "created_at (read by look_around).")
    can_start = param.Boolean(default=False, doc="Start Batch is legal now (planned).")
    can_pause = param.Boolean(default=False, doc="Pause Batch is legal now (running).")
    can_resume = param.Boolean(default=False, doc="Resume Batch is legal now (paused or stopped).")
    can_stop = param.Boolean(default=False, doc="Stop Batch is legal now (running or paused).")
    can_force_stop = param.Boolean(default=False, doc="Force Stop is legal now (running, paused or stopping).")
    can_retry_failed = param.Boolean(default=False, doc="Retry failed is legal now (failed items, batch not working).")

    def __init__(self, context: Any, **params: Any) -> None:
        self.context = context
        self.service = context.service
        self._tickets = 0  # follows taken so far (see follow_async)
        super().__init__(**params)

    # ------------------------------------------------------------------ following a batch
    # Every follow takes a ticket; a read applies only if no later follow took one meanwhile (a slow read of an
    # earlier follow, or of follow-latest, never overrides the operator's later choice).
    def follow(self, batch_run_id: str | None) -> None:
        """Show ``batch_run_id`` (None: nothing). Reads the store here: off the event loop, use follow_async."""
        self.apply_read(self.read_for(batch_run_id))

    async def follow_async(self, batch_run_id: str | None) -> None:
        ticket = self._ticket()
        self.apply_read((ticket, await off_loop(self._read, batch_run_id) if batch_run_id else None))

    async def choose_async(self, batch_run_id: str) -> None:
        """The operator chose this batch (History's Watch, the picker, the banner): follow it and stay on it."""
        self.param.update(follow_latest=False, newer={})
        await self.follow_async(batch_run_id)

    def read_for(self, batch_run_id: str | None) -> tuple[int, dict[str, Any] | None]:
        """A ticket and the read of ``batch_run_id`` (this thread); ``apply_read`` shows it unless overtaken."""
        ticket = self._ticket()
        return ticket, self._read(batch_run_id) if batch_run_id else None

    def apply_read(self, ticketed: tuple[int, dict[str, Any] | None]) -> None:
        ticket, read = ticketed
        if ticket == self._tickets:
            self._apply(read)

    def _ticket(self) -> int:
        self._tickets += 1
        return self._tickets

    def restore(self) -> str | None:
        """Follow the latest batch that is running, paused or stopping, else the latest batch, else none."""
        ticket = self._ticket()
        self.apply_read((ticket, self._read(self._restorable())))
        return self.batch_run_id

    async def restore_async(self) -> str | None:
        ticket = self._ticket()
        self.apply_read((ticket, await off_loop(lambda: self._read(self._restorable()))))
        return self.batch_run_id

    def newer_batch(self) -> str | None:
        """The batch to switch to under ``follow_latest``, or None (reads the store)."""
        return self._look(self.batch_run_id, self.batch_state, self.follow_latest, recent=False)["switch"]

    def _look(self, current: str | None, state: str | None, follow_latest: bool, *, recent: bool) -> dict[str, Any]:
        """Reads (a worker thread): which newer batch to switch to, which to offer, and the picker's list."""
        latest = self.service.latest_batch()
        out: dict[str, Any] = {"switch": None, "newer": {}, "recent": None}
        if recent:
            out["recent"] = [{k: b.get(k) for k in ("batch_run_id", "name", "state", "created_at")}
                             for b in self.service.recent_batches(limit=RECENT_READ)]
        if latest is None or latest["batch_run_id"] == current:
            return out
        newest = self.service.recent_batches(limit=1)[0] if current is not None else latest  # planned ones too
        candidates = [b for b in (latest, newest) if current is None or b["batch_run_id"] > current]
        if not candidates:
            return out
        started = [b for b in candidates if b["state"] != BatchState.PLANNED.value]
        working = state in (*LIVE, BatchState.PLANNED.value, BatchState.QUEUED.value)
        if current is None:
            out["switch"] = latest["batch_run_id"]
        elif follow_latest and started and not working and (
                state != BatchState.PAUSED.value or started[0]["state"] in LIVE):  # paused: only for one that runs
            out["switch"] = started[0]["batch_run_id"]
        else:
            b = candidates[0]
            out["newer"] = {"batch_run_id": b["batch_run_id"], "name": b.get("name") or "", "state": b["state"]}
        return out

    async def look_around_async(self, *, recent: bool = True) -> bool:
        """Switch to a newer batch (under ``follow_latest``), note one to offer (``newer``), refresh the picker's
        list (``recent``). True when it switched."""
        ticket, current = self._tickets, self.batch_run_id
        look = await off_loop(self._look, current, self.batch_state, self.follow_latest, recent=recent)
        if ticket != self._tickets or current != self.batch_run_id:
            return False  # the operator chose meanwhile: this look is stale
        if look["recent"] is not None and look["recent"] != self.recent:
            self.recent = look["recent"]
        if look["switch"] is None or look["switch"] == current:
            if look["newer"] != self.newer:
                self.newer = look["newer"]
            return False
        self.newer = {}
        await self.follow_async(look["switch"])
        return True

    async def follow_newer_async(self) -> bool:
        """Switch to a newer batch if ``follow_latest`` allows one; True when it did (``newer`` names one it did not
        switch to)."""
        return await self.look_around_async(recent=False)

    def picker_options(self) -> dict[str, str]:
        """The picker's options, label -> batch id: 'name · id · state' (id alone when the batch has no name)."""
        rows = list(self.recent)
        if self.batch_run_id and all(b["batch_run_id"] != self.batch_run_id for b in rows) and self.batch:
            rows.insert(0, {"batch_run_id": self.batch_run_id, "name": self.batch.get("name"),
                            "state": self.batch_state or self.batch.get("state")})
        return {batch_label(b): b["batch_run_id"] for b in rows}

    def _restorable(self) -> str | None:
        latest = self.service.latest_batch()
        return latest["batch_run_id"] if latest else None

    def _read(self, batch_run_id: str | None) -> dict[str, Any] | None:
        """Everything following a batch needs from the store and the engine: runs in a worker thread."""
        if batch_run_id is None:
            return None
        status = self.service.status(batch_run_id)
        batch = self.service.batch(batch_run_id)
        feed = feed_seed(self.service, batch_run_id)
        return {"batch_run_id": batch_run_id, "status": status, "batch": batch,
                "series": history_points(self.service, batch_run_id, feed, batch), "feed": feed,
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
                self.tell(exc.message, "danger")

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
        self.sample(status)

    # ------------------------------------------------------------------ polling
    def poll(self) -> None:
        """Refresh from the engine's in-memory status: cheap, run every 0.5–1 s by the view's periodic callback."""
        if self.batch_run_id is None:
            return
        try:
            status = self.service.status(self.batch_run_id)
        except IndexLabError as exc:
            self.tell(exc.message, "danger")
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
        self.sample(status)

    def sample(self, status: Mapping[str, Any]) -> None:
        counts = status.get("counts") or {}
        tp = status.get("throughput") or {}
        now_ms = time.time() * 1000
        point = {"t": now_ms, "completed": int(counts.get("completed", 0)), "failed": int(counts.get("failed", 0)),
                 "recent_per_hour": num(tp.get("recent_per_hour")), "overall_per_hour": num(tp.get("overall_per_hour"))}
        last = self.series[-1] if self.series else None
        if last is not None:  # cumulative: never down, never back in time (a seed and the live counts may disagree)
            point["completed"] = max(point["completed"], last["completed"])
            point["t"] = max(point["t"], last["t"])
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

    def chart_window(self) -> tuple[float | None, float | None]:
        """The batch's start and (once it is over) finish, ms since the epoch: the charts' time axis."""
        def ms(key: str) -> float | None:
            when = as_datetime(self.status.get(key) or self.batch.get(key))
            return when.timestamp() * 1000 if when else None

        over = self.batch_state in (BatchState.COMPLETED.value, BatchState.STOPPED.value)
        return ms("started_at"), ms("finished_at") if over else None

    def pauses(self) -> list[tuple[float, float]]:
        """When the batch was paused (ms), from its batch moves: the charts shade them."""
        return paused_intervals(self.feed)

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
        self.tell(f"Planned batch {saved.batch_run_id}: the {saved.summary.total:,} products of batch {old} that "
                   f"need review, with the {profile} profile. It is shown here now: press Start Batch to run it "
                   "(History lists both).", "success")

    async def _act(self, call: Callable[[str], Any], done: Callable[[Any], str]) -> Any:
        """Commit an action off the loop; an illegal one is shown as a message, never raised. Returns what the
        call returned, None when it failed."""
        batch_run_id = self.batch_run_id
        if batch_run_id is None:
            self.tell("No batch to act on: plan one in the Batch Run Builder first.", "warning")
            return None
        if self.busy:
            return None
        self.busy = True
        result = None
        try:
            result = await off_loop(call, batch_run_id)
        except IndexLabError as exc:
            self.tell(exc.message, "danger")
        except Exception as exc:  # the operator sees a sentence; the log keeps the traceback
            log.exception("dashboard action on batch %s failed", batch_run_id)
            self.tell(f"The action failed: {type(exc).__name__}: {exc}", "danger")
        else:
            self.tell(done(result), "success")
        finally:
            self.busy = False
        self.poll()
        return result

    def tell(self, message: str, kind: str) -> None:
        """Show ``message`` (info, success, warning, danger) to the operator of this session."""
        self.param.update(message=message, message_kind=kind)

    # ------------------------------------------------------------------ reads for the items table (worker threads)
    def items_page(self, *, state: str | None = None, brand: str | None = None, search: str | None = None,
                   reason: str | None = None, offset: int = 0, limit: int = 20) -> tuple[pd.DataFrame, int]:
        """One page of the followed batch's items (empty without a batch). Reads the store: off the loop."""
        if self.batch_run_id is None:
            return pd.DataFrame(), 0
        return self.service.items(self.batch_run_id, state=state, brand=brand, search=search, reason=reason,
                                  offset=offset, limit=limit)

    def read_item(self, seq: int, limit: int = ITEM_EVENTS_SHOWN) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
        """Item ``seq`` of the followed batch with its newest ``limit`` events and their total. Reads the store."""
        batch_run_id = self.batch_run_id
        if batch_run_id is None:
            return {}, [], 0
        page, _ = self.service.items(batch_run_id, offset=max(0, seq - 1), limit=1)  # seq runs 1..N
        item = page.iloc[0].to_dict() if len(page) and int(page["seq"].iloc[0]) == seq else {"seq": seq}
        events, total = self.service.events(batch_run_id, seq=seq, limit=limit)
        return item, events, total

    def dismiss(self) -> None:
        self.message = ""
