"""Running & queued: every batch the server is working on, side by side, and the controls of the shared budget.

The running batches share the server's worker slots (``max_workers``) by priority; a batch started while
``max_running_batches`` run waits in the queue. Here an operator sees each one's share (products in flight, its
workers cap, its priority, throughput, progress) and the queue in admission order, and changes a batch's priority or
workers or its place in the queue. Every read and every change goes through the service, off the event loop; each
change is an audited operator action (the API has the same operations). Batch names are plain text (Tabulator cells).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
import param

from dashboard.views.formats import esc
from dashboard.views.offloop import off_loop, schedule
from dashboard.views.plain import TEXT_TOOLTIP, colored_text
from dashboard.views.theme import BATCH_COLORS, BUTTON_CSS, CARD_STYLES, HTML_CSS
from engine.core.errors import IndexLabError

NOW_STATES = ("running", "stopping", "paused", "queued")  # what the server is working on, or will
COLUMNS = ["name", "state", "queue", "priority", "workers", "in_flight", "progress", "per_hour", "batch_run_id"]
TITLES = {"queue": "queue #", "in_flight": "in flight", "per_hour": "items/h", "batch_run_id": "batch id"}
REFRESH_MS = 2000
MAX_ROWS = 200


def read_now(service: Any) -> dict[str, Any]:
    """The batches the server is working on (running first by priority, then paused, then the queue in order) and the
    server's budget. Blocking reads: call it off the event loop."""
    queue = service.queue()
    positions = {q.batch_run_id: q.position for q in queue.queued}
    rows: list[dict[str, Any]] = []
    for state in NOW_STATES:
        batches, _ = service.batch_list(state=state, limit=MAX_ROWS)
        for b in batches:
            status = service.status(b["batch_run_id"])
            per_hour = (status.get("throughput") or {}).get("recent_per_hour") or \
                (status.get("throughput") or {}).get("overall_per_hour")
            rows.append({"name": b.get("name") or "", "state": b["state"],
                         "queue": positions.get(b["batch_run_id"]), "priority": int(status.get("priority") or 5),
                         "workers": status.get("workers"), "in_flight": len(status.get("running") or []),
                         "progress": f"{status['done']:,} / {status['total']:,}",
                         "per_hour": None if per_hour is None else round(per_hour),
                         "batch_run_id": b["batch_run_id"]})
    order = {"running": 0, "stopping": 1, "paused": 2, "queued": 3}
    rows.sort(key=lambda r: (order[r["state"]], r["queue"] or 0, -r["priority"], r["batch_run_id"]))
    return {"rows": rows, "max_workers": queue.max_workers, "max_running_batches": queue.max_running_batches,
            "executor": queue.executor.model_dump() if queue.executor is not None else None}


def budget_html(now: dict[str, Any]) -> str:
    """One line: the server's slots, how many are taken, how many batches run and wait."""
    rows = now.get("rows") or []
    running = sum(1 for r in rows if r["state"] in ("running", "stopping"))
    queued = sum(1 for r in rows if r["state"] == "queued")
    in_flight = sum(r["in_flight"] for r in rows)
    slots = now.get("max_workers")
    limit = now.get("max_running_batches")
    if slots is None:
        return '<div class="meta">No engine in this process: the budget is the server\'s.</div>'
    return (f'<div class="budget"><b>{in_flight}</b> of <b>{slots}</b> worker slots busy · '
            f'<b>{running}</b> of <b>{limit}</b> batches running · <b>{queued}</b> queued'
            f'{executor_html(now.get("executor"))}</div>')


def executor_html(executor: dict[str, Any] | None) -> str:
    """Where jobs run, after the budget: the server's threads, or the Dask cluster with a link to its dashboard
    (the link is the scheduler's own, from the server's configuration; shown as text, escaped)."""
    if not executor:
        return ""
    if executor["executor"] == "local":
        return " · jobs run in this server's threads"
    state = "" if executor.get("status") in (None, "running") else f' ({esc(executor["status"])})'
    text = (f' · jobs run on Dask: <b>{executor["workers"]}</b> workers, <b>{executor["worker_threads"]}</b> threads'
            f' at {esc(executor.get("scheduler") or "")}{state}')
    link = executor.get("dashboard_link")
    if link and link.startswith(("http://", "https://")):
        text += f' · <a href="{esc(link)}" target="_blank" rel="noopener noreferrer">Dask dashboard</a>'
    return text


class RunningNow(pn.viewable.Viewer):
    """The batches the server is working on, and their priority, workers and queue place."""

    selected = param.String(default=None, allow_None=True, doc="The batch the controls act on.")
    now = param.Dict(default={}, doc="The last read_now().")
    message = param.String(default="", doc="What the last change did, or why it was refused (plain text).")
    failed = param.Boolean(default=False)

    def __init__(self, context: Any, *, run_state: Any = None, on_view: Any = None, refresh: bool = True,
                 shown: Any = None, **params: Any) -> None:
        super().__init__(**params)
        self.service = context.service
        self.run_state = run_state
        self._on_view = on_view  # async (batch_run_id) -> show it in the Summary
        # () -> is this tab on screen? Panel resolves the stylesheets of models updated while their tab is hidden
        # against its CDN, which the browser then fetches when the tab is shown: no refresh while hidden.
        self._shown = shown or (lambda: True)
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(columns=COLUMNS), show_index=False, disabled=True, selectable=1, layout="fit_columns",
            sizing_mode="stretch_width", height=260, titles=TITLES, css_classes=["running-now"],
            formatters={"state": colored_text(BATCH_COLORS), **{c: {"type": "plaintext"} for c in ("name", "batch_run_id")}},
            # no sort arrows (a few rows, in the server's order): the titles get the room and read whole at 1280 px;
            # the name takes what the fixed columns leave
            configuration={"columnDefaults": {"tooltip": TEXT_TOOLTIP, "headerSort": False}},
            widths={"state": 100, "queue": 100, "priority": 100, "workers": 105, "in_flight": 105, "progress": 110,
                    "per_hour": 100, "batch_run_id": 190})
        self.table.on_click(self._clicked)
        self.priority = pn.widgets.IntInput(label="Priority (1-10)", start=1, end=10, value=5, width=120)
        self.workers = pn.widgets.IntInput(label="Workers (1-64)", start=1, end=64, value=2, width=120)
        self.position = pn.widgets.IntInput(label="Queue place", start=1, value=1, width=110)
        self.set_priority_button = pn.widgets.Button(label="Set priority", stylesheets=[BUTTON_CSS])
        self.set_workers_button = pn.widgets.Button(label="Set workers", stylesheets=[BUTTON_CSS])
        self.move_button = pn.widgets.Button(label="Move in queue", stylesheets=[BUTTON_CSS])
        self.view_button = pn.widgets.Button(label="View in Summary", color="primary", stylesheets=[BUTTON_CSS])
        for button, action in ((self.set_priority_button, self.apply_priority), (self.set_workers_button, self.apply_workers),
                               (self.move_button, self.apply_move), (self.view_button, self.view)):
            button.on_click(lambda _e, action=action: schedule(action))
        self.param.watch(self._selection_changed, ["selected", "now"])
        self._selection_changed()
        self._layout = self._compose()
        if refresh and pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.onload(self.refresh_async)
            self._callback = pn.state.add_periodic_callback(self.refresh_async, period=REFRESH_MS)

    # ------------------------------------------------------------------ reads
    async def refresh_async(self) -> None:
        if not self._shown():
            return
        try:
            now = await off_loop(read_now, self.service)
        except IndexLabError as exc:
            self.param.update(message=exc.message, failed=True)
            return
        self._show(now)

    def refresh(self) -> None:
        """Re-read off the event loop (when served)."""
        schedule(self.refresh_async)

    def refresh_now(self) -> None:
        """``refresh_async`` in this thread (scripts, notebooks, tests)."""
        self._show(read_now(self.service))

    def _show(self, now: dict[str, Any]) -> None:
        shown = [{**row, "queue": "" if row["queue"] is None else str(row["queue"]),  # an empty cell, not NaN
                  "per_hour": "" if row["per_hour"] is None else f"{row['per_hour']:,}"} for row in now["rows"]]
        frame = pd.DataFrame(shown, columns=COLUMNS)
        self.table.value = frame
        if self.selected and self.selected not in set(frame["batch_run_id"]):
            self.selected = None
        self.now = now

    # ------------------------------------------------------------------ actions
    def _clicked(self, event: Any) -> None:
        frame = self.table.value
        if 0 <= event.row < len(frame):
            self.selected = str(frame.iloc[event.row]["batch_run_id"])

    def _row(self) -> dict[str, Any] | None:
        for row in (self.now or {}).get("rows") or []:
            if row["batch_run_id"] == self.selected:
                return row
        return None

    def _selection_changed(self, *_: Any) -> None:
        row = self._row()
        for widget in (self.priority, self.workers, self.set_priority_button, self.set_workers_button, self.view_button):
            widget.disabled = row is None
        queued = row is not None and row["state"] == "queued"
        self.position.disabled = self.move_button.disabled = not queued
        if row is not None and self.selected != getattr(self, "_filled", None):
            self._filled = self.selected  # fill the inputs once per selection, not on every refresh
            self.priority.value = row["priority"]
            self.workers.value = int(row["workers"] or 1)
            self.position.value = int(row["queue"] or 1)

    async def _change(self, method: str, value: int, words: str) -> None:
        batch_run_id = self.selected
        if not batch_run_id:
            return
        try:
            await off_loop(getattr(self.service, method), batch_run_id, value, actor="dashboard")
        except IndexLabError as exc:
            self.param.update(message=exc.message, failed=True)
            return
        row = self._row() or {}
        self.param.update(message=f"{words} of {row.get('name') or batch_run_id}: {value}.", failed=False)
        await self.refresh_async()

    async def apply_priority(self) -> None:
        await self._change("set_priority", int(self.priority.value), "Priority")

    async def apply_workers(self) -> None:
        await self._change("set_workers", int(self.workers.value), "Workers")

    async def apply_move(self) -> None:
        await self._change("move_in_queue", int(self.position.value), "Queue place")

    async def view(self) -> None:
        if self.selected and self._on_view is not None:
            await self._on_view(self.selected)

    # ------------------------------------------------------------------ layout
    def _message_html(self, message: str, failed: bool) -> str:
        if not message:
            return ""
        return f'<div class="alert {"danger" if failed else "info"}">{esc(message)}</div>'

    def _selected_html(self, selected: str | None, now: dict[str, Any]) -> str:
        row = self._row()
        if row is None:
            return '<div class="empty">Click a batch to change its priority, workers or place in the queue.</div>'
        return (f'<div class="picked"><b>{esc(row["name"] or row["batch_run_id"])}</b> · {esc(row["state"])} · '
                f'<code>{esc(row["batch_run_id"])}</code></div>')

    def _compose(self) -> pn.viewable.Viewable:
        html = {"sizing_mode": "stretch_width", "stylesheets": [HTML_CSS], "margin": (0, 0)}
        return pn.Column(
            pn.pane.HTML('<div class="section">Running &amp; queued</div>', **html),
            pn.pane.HTML(pn.bind(budget_html, self.param.now), css_classes=["running-budget"], **html),
            self.table,
            pn.pane.HTML(pn.bind(self._selected_html, self.param.selected, self.param.now), **html),
            pn.Row(self.priority, self.set_priority_button, self.workers, self.set_workers_button,
                   self.position, self.move_button, self.view_button, align="end"),
            pn.pane.HTML(pn.bind(self._message_html, self.param.message, self.param.failed),
                         css_classes=["running-message"], **html),
            styles=CARD_STYLES, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
