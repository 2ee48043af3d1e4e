"""History: past batches with their outcome counts; a batch's items and events; a product's latest outcome.

Every read is SQL, so every read runs off the event loop (``*_async``); the sync twins are for notebooks,
scripts and tests. Product text reaches the page only through Tabulator cells (plain text) or ``esc``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn
import param

from dashboard.views.downloads import ItemDownloads
from dashboard.views.formats import badge, clock, duration, esc, result_badge, section, stamp
from dashboard.views.history_actions import BatchActions
from dashboard.views.history_filters import HistoryFilters
from dashboard.views.offloop import off_loop, schedule
from dashboard.views.outcome import OutcomeView
from dashboard.views.paged import PagedTable
from dashboard.views.plain import colored_text
from dashboard.views.theme import BUTTON_CSS, CARD_STYLES, HTML_CSS, ITEM_COLORS, RESULT_COLORS, ROOT_CSS
from engine.core.errors import IndexLabError
from engine.core.states import ItemState

ITEM_STATES = [s.value for s in ItemState]
BATCH_COLUMNS = ["name", "batch_run_id", "state", "result", "created", "items", "duration", "throughput", "outcome",
                 "tags", "runner", "profile", "reason"]
EVENT_COLUMNS = ["time", "kind", "seq", "move", "attempt", "actor", "reason"]
# brand, model and variant in one "product" column: three narrow ones were clipped to a letter each at 1280 px
ITEM_COLUMNS = ["seq", "state", "product", "product_id", "attempts", "duration", "last_error"]
KIND_LABELS = {"batch_transition": "batch", "item_transition": "item", "operator_action": "action", "log": "log"}


def detail_html(selected: str | None, d: dict[str, Any]) -> str:
    """The opened batch: result and state, runner, profile, items, times, result in words, counts per state."""
    if not selected:
        return ('<div class="section">Batch</div>'
                '<div class="empty">Click a batch above to see its items and events.</div>')
    if not d or d.get("batch_run_id") != selected:
        return f'<div class="section">Batch <code>{esc(selected)}</code></div>'
    if d.get("error"):
        return f'<div class="alert danger">{esc(d["error"])}</div>'
    counts = d.get("counts") or {}
    chips = " ".join(f'{badge(s, ITEM_COLORS)}<b>{counts.get(s, 0):,}</b>&nbsp;&nbsp;'
                     for s in ITEM_STATES if counts.get(s))
    times = " · ".join(f"{label} {clock(d.get(key), date=True)} UTC"
                       for label, key in (("created", "created_at"), ("started", "started_at"),
                                          ("finished", "finished_at")) if d.get(key))
    reason = f'<div class="why"><span class="k">reason</span> {esc(d["reason"])}</div>' if d.get("reason") else ""
    tags = "".join(f'<span class="tag">{esc(t)}</span> ' for t in d.get("tags") or [])
    archived = " · archived" if d.get("archived_at") else ""
    return (f'<div class="head"><div class="bname" style="font-weight:600">{esc(d.get("name") or "")}</div>'
            f'<div class="idline">{result_badge(d.get("result"))}{badge(d.get("state"))}'
            f'<code class="bid">{esc(d["batch_run_id"])}</code> {tags}</div>'
            f'<div class="meta">{esc(d.get("runner"))} · {esc(d.get("profile"))} · '
            f'{int(d.get("item_count") or 0):,} items · {times}{archived}</div>'
            f'<div class="result-text">{esc(d.get("result_text"))}</div>{reason}'
            f'<div style="margin-top:6px">{chips}</div></div>')


class History(pn.viewable.Viewer):
    """Past batches, newest first, with counts per state; open one to page through its items and events."""

    selected = param.String(default=None, allow_None=True, doc="The batch opened below the list.")
    detail = param.Dict(default={}, doc="The opened batch's store row with its counts per item state.")
    item_state = param.Selector(default="all", objects=["all", *ITEM_STATES], doc="Items table: show only this state.")

    def __init__(self, context: Any, *, run_state: Any = None, outcome: OutcomeView | None = None,
                 on_watch: Callable[[], None] | None = None, **params: Any) -> None:
        self.context = context
        self.on_watch = on_watch  # "Watch in Batch Run Summary": the page shows that tab (dashboard.views.app)
        self.service = context.service
        self.run_state = run_state
        super().__init__(**params)
        self.outcome = outcome or OutcomeView(context)
        self.filters = HistoryFilters(on_change=lambda: self.batches.reset())
        self.actions = BatchActions(self.service, done=self._acted)
        self.batches = PagedTable(
            self._fetch_batches, columns=BATCH_COLUMNS, page_size=10, empty_text="No batches (none yet, or none match the filters).",
            css_classes=["history-batches"], on_click=lambda row: self.open(row["batch_run_id"]),
            titles={"batch_run_id": "batch id", "created": "created (UTC)", "outcome": "items came out",
                    "duration": "running", "throughput": "items/min"},
            widths={"name": 220, "batch_run_id": 120, "state": 95, "result": 85, "created": 135, "items": 65,
                    "duration": 85, "throughput": 80, "tags": 110, "runner": 85, "profile": 80},
            formatters={"result": colored_text(RESULT_COLORS), "outcome": {"type": "textarea"},
                        "reason": {"type": "textarea"}})
        self.items = PagedTable(
            self._fetch_items, columns=ITEM_COLUMNS, page_size=15, empty_text="No items.",
            css_classes=["history-items"], on_click=lambda row: self.outcome.show(row["product_id"], self.selected),
            # one line each; the whole error in the tooltip. Short titles and fixed widths for the short columns:
            # product, product id and last error share what is left of a card half the page wide (at 1280 px too)
            titles={"seq": "#", "product_id": "product id", "attempts": "tries", "duration": "time",
                    "last_error": "last error"},
            widths={"seq": 40, "state": 105, "product_id": 200, "attempts": 70, "duration": 78})
        self.events = PagedTable(
            self._fetch_events, columns=EVENT_COLUMNS, page_size=15, empty_text="No events.",
            css_classes=["history-events"], titles={"time": "time (UTC)", "seq": "#"},
            widths={"time": 175, "kind": 55, "seq": 50, "move": 150, "attempt": 70, "actor": 75},
            formatters={"reason": {"type": "textarea"}})
        self.detail_pane = pn.pane.HTML(pn.bind(detail_html, self.param.selected, self.param.detail),
                                        sizing_mode="stretch_width", stylesheets=[HTML_CSS], margin=(0, 0),
                                        css_classes=["history-detail"])
        self.param.watch(self._show_actions, ["selected", "detail"])
        if run_state is not None:  # a batch moved in this session's view: the list's counts are stale (a re-read)
            run_state.param.watch(lambda *_: self.refresh(), ["batch_state", "batch_run_id"])
        self._loaded: set[int] = set()
        self._layout = self._compose()

    # ------------------------------------------------------------------ actions
    def refresh(self, *, resend: bool = False) -> None:
        """Re-read the list (and the opened batch) off the event loop; ``resend`` (the Refresh button) sends the
        tables' rows to the browser even when they did not change, in case it dropped them."""
        schedule(self.refresh_async, resend=resend)

    async def refresh_async(self, *, resend: bool = False) -> None:
        if self.selected:
            await self.open_async(self.selected, keep_page=True, resend=resend)  # re-reads the list too
        else:
            await self.batches.refresh(resend=resend)

    def open(self, batch_run_id: str) -> None:
        """Open a batch: its counts, items and events (read off the event loop when served)."""
        self.selected = batch_run_id
        schedule(self.open_async, batch_run_id)

    async def open_async(self, batch_run_id: str, *, keep_page: bool = False, resend: bool = False) -> None:
        self.selected = batch_run_id
        detail = await off_loop(self._read_detail, batch_run_id)
        if self.selected != batch_run_id:
            return
        self.detail = detail
        await self.batches.refresh(resend=resend)  # its counts move with the batch
        for table in (self.items, self.events):
            if not keep_page:
                with param.discard_events(table):
                    table.page = 1
            await table.refresh(resend=resend)

    def open_now(self, batch_run_id: str) -> None:
        """``open`` in this thread (scripts, notebooks, tests)."""
        self.selected = batch_run_id
        self.detail = self._read_detail(batch_run_id)
        for table in (self.items, self.events):
            with param.discard_events(table):
                table.page = 1
            table.load()

    def _show_actions(self, *_events: Any) -> None:
        """The actions act on the batch shown, and on none while the opened batch's row is still being read: else
        Delete… stays enabled for the batch opened before, a click then asks (and confirms) about that one, and the
        row arriving a moment later cancels the confirmation."""
        self.actions.detail = self.detail if self.detail.get("batch_run_id") == self.selected else {}

    async def _acted(self, batch_run_id: str, action: str) -> None:
        """After archive, unarchive or delete: re-read the list; a deleted batch is closed."""
        if action == "delete" and self.selected == batch_run_id:
            self.param.update(selected=None, detail={})
            for table in (self.batches, self.items, self.events):
                await table.refresh()
        else:
            await self.open_async(batch_run_id, keep_page=True)

    async def watch_live(self) -> None:
        """Follow the opened batch in this session's Batch Run Summary (and stay on it), and show that tab."""
        if self.run_state is not None and self.selected:
            if self.on_watch is not None:
                self.on_watch()
            await self.run_state.choose_async(self.selected)

    # ------------------------------------------------------------------ reads (worker threads)
    def _read_detail(self, batch_run_id: str) -> dict[str, Any]:
        try:
            return self.service.batch_with_counts(batch_run_id)
        except IndexLabError as exc:
            return {"batch_run_id": batch_run_id, "error": exc.message}

    def _fetch_batches(self, offset: int, limit: int) -> tuple[pd.DataFrame, int | None]:
        rows = []
        batches, total = self.service.batch_list(limit=limit, offset=offset, **self.filters.as_kwargs())
        for b in batches:
            words = b["result_text"] or ""  # "Partial: 3 succeeded, ...": the result has its own column
            per_minute = b.get("items_per_minute")
            rows.append({"name": b.get("name") or "", "batch_run_id": b["batch_run_id"], "state": b["state"],
                         "result": b["result"] or "", "created": clock(b["created_at"], date=True),
                         "items": b["item_count"], "duration": duration(b["running_s"]) if b.get("running_s") else "",
                         "throughput": "" if per_minute is None else f"{per_minute:,.1f}",
                         "outcome": words.split(": ", 1)[1] if b["result"] and ": " in words else words,
                         "tags": ", ".join(b.get("tags") or []) + (" (archived)" if b.get("archived_at") else ""),
                         "runner": b["runner"], "profile": b["profile"], "reason": b.get("reason") or ""})
        return pd.DataFrame(rows, columns=BATCH_COLUMNS), total

    def _fetch_items(self, offset: int, limit: int) -> tuple[pd.DataFrame, int]:
        if not self.selected:
            return pd.DataFrame(columns=ITEM_COLUMNS), 0
        state = None if self.item_state == "all" else self.item_state
        page, total = self.service.items(self.selected, state=state, offset=offset, limit=limit)
        if page.empty:
            return pd.DataFrame(columns=ITEM_COLUMNS), total
        out = page[["seq", "state", "product_id", "attempts", "last_error"]].copy()
        out.insert(2, "product", [" ".join(str(x) for x in parts if isinstance(x, str) and x)
                                  for parts in zip(page["brand"], page["model"], page["variant"])])
        out["duration"] = [duration(d) if d == d and d is not None else "" for d in page["duration_s"]]
        out["last_error"] = out["last_error"].fillna("")
        return out, total

    def _fetch_events(self, offset: int, limit: int) -> tuple[pd.DataFrame, int]:
        """Newest first: page 1 is the end of the audit trail."""
        if not self.selected:
            return pd.DataFrame(columns=EVENT_COLUMNS), 0
        _, total = self.service.events(self.selected, limit=0)
        end = max(0, total - offset)
        start = max(0, end - limit)
        events = self.service.events(self.selected, offset=start, limit=end - start)[0][::-1] if end else []
        rows = [{"time": stamp(e["occurred_at"]),
                 "kind": KIND_LABELS.get(e["kind"], e["kind"]), "seq": "" if e["seq"] is None else int(e["seq"]),
                 "move": " → ".join(x for x in (e.get("from_state"), e.get("to_state")) if x),
                 "attempt": "" if e.get("attempt") is None else int(e["attempt"]),
                 "actor": e.get("actor") or "", "reason": e.get("reason") or ""} for e in events]
        return pd.DataFrame(rows, columns=EVENT_COLUMNS), total

    # ------------------------------------------------------------------ view
    def _attach(self) -> None:
        key = id(pn.state.curdoc)
        if key in self._loaded:
            return
        self._loaded.add(key)
        doc = pn.state.curdoc
        if doc is not None and doc.session_context is not None:
            pn.state.onload(self.batches.refresh)
        else:
            self.batches.load()

    def __panel__(self) -> pn.viewable.Viewable:
        self._attach()
        return self._layout

    def _compose(self) -> pn.viewable.Viewable:
        card = {"styles": dict(CARD_STYLES), "sizing_mode": "stretch_width", "margin": (6, 6)}
        refresh = pn.widgets.Button(label="Refresh", color="default", variant="outline", width=90)
        pn.bind(lambda _: self.refresh(resend=True), refresh.param.clicks, watch=True)
        listing = pn.Column(
            pn.Row(pn.pane.HTML(section("History", "past batches, newest first · click one to open it"),
                                stylesheets=[HTML_CSS], sizing_mode="stretch_width"), refresh,
                   sizing_mode="stretch_width"),
            self.filters, self.batches, **card)
        header = [self.detail_pane]
        if self.run_state is not None:
            watch = pn.widgets.Button(label="Watch in Batch Run Summary", color="primary", width=230,
                                      disabled=self.param.selected.rx.is_(None), stylesheets=[BUTTON_CSS])

            async def watch_clicked(_clicks: int) -> None:
                await self.watch_live()

            pn.bind(watch_clicked, watch.param.clicks, watch=True)
            header = [pn.Row(self.detail_pane, watch, sizing_mode="stretch_width")]
        header.append(ItemDownloads(self.service, batch_run_id=self.param.selected))  # the opened batch's items
        filter_ = pn.widgets.RadioButtonGroup.from_param(
            self.param.item_state, options={s.capitalize(): s for s in self.param.item_state.objects},
            color="light", variant="outline", margin=(4, 0))
        tabs = pn.Tabs(("Items", pn.Column(filter_, self.items, sizing_mode="stretch_width")),
                       ("Events", self.events), sizing_mode="stretch_width", dynamic=True)
        detail = pn.Column(*header, self.actions, tabs, **{**card, "styles": {**card["styles"], "flex": "3 1 0%"}})
        outcome = pn.Column(self.outcome, **{**card, "styles": {**card["styles"], "flex": "2 1 0%"}},
                            css_classes=["outcome-card"])
        return pn.Column(listing, pn.Row(detail, outcome, sizing_mode="stretch_width", margin=0),
                         sizing_mode="stretch_width", margin=0, stylesheets=[ROOT_CSS])

    @param.depends("item_state", watch=True)
    def _filter_changed(self) -> None:
        self.items.reset()  # a re-read of the items page
