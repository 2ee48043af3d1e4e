"""History: past batches with their outcome counts; a batch's items and events; a product's latest outcome.

Every read is SQL, so every read runs off the event loop (``*_async``); the sync twins are for notebooks,
scripts and tests. Product text reaches the page only through Tabulator cells (plain text) or ``render.esc``.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import panel as pn
import param

from dashboard.views import render
from dashboard.views.render import BUTTON_CSS
from dashboard.views.paged import PagedTable, off_loop, schedule
from dashboard.views.plain import colored_text
from engine.core.errors import IndexLabError
from engine.core.states import ItemState

ITEM_STATES = [s.value for s in ItemState]
BATCH_COLUMNS = ["batch_run_id", "state", "result", "created", "items", "outcome", "runner", "profile", "reason"]
EVENT_COLUMNS = ["time", "kind", "seq", "move", "attempt", "actor", "reason"]
ITEM_COLUMNS = ["seq", "state", "brand", "model", "variant", "product_id", "attempts", "duration", "last_error"]
KIND_LABELS = {"batch_transition": "batch", "item_transition": "item", "operator_action": "action", "log": "log"}


def _text(value: Any) -> str:
    """A field value as one line of text: numbers and strings as they are, lists and objects as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (int, bool)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


class OutcomeView(pn.viewable.Viewer):
    """A product's latest outcome with its evidence. ``show(product_id)`` from any callback (the builder's grid)."""

    product_id = param.String(default=None, allow_None=True, doc="The product shown; None before one is picked.")
    outcome = param.Dict(default=None, allow_None=True, doc="service.outcome(product_id): quality, summary and fields.")
    product = param.Dict(default={}, doc="The product's catalog row (brand, model, variant, category), if still there.")
    error = param.String(default="", doc="Why there is no outcome to show (never run, unknown product).")
    loading = param.Boolean(default=False, doc="A read is under way.")

    def __init__(self, context: Any, **params: Any) -> None:
        self.context = context
        super().__init__(**params)
        self._head = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[render.CSS], margin=(0, 0),
                                  css_classes=["outcome-head"])
        self._evidence = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[render.CSS], margin=(0, 0),
                                      css_classes=["outcome-evidence"])
        self._spinner = pn.indicators.LoadingSpinner(value=True, size=22, visible=self.param.loading, margin=(4, 0))
        self.param.watch(self._render, ["outcome", "product", "error", "product_id"])
        self._render()

    # ------------------------------------------------------------------ reading
    def show(self, product_id: str) -> None:
        """Show ``product_id``'s latest outcome; the read runs off the event loop when served."""
        self.param.update(product_id=product_id, outcome=None, product={}, error="")
        schedule(self.load_async)

    def load(self) -> None:
        """Read the outcome now, in this thread."""
        if self.product_id is not None:
            self._apply(self.product_id, *self._read(self.product_id))

    async def load_async(self) -> None:
        wanted = self.product_id
        if wanted is None:
            return
        self.loading = True
        try:
            result = await off_loop(self._read, wanted)
        finally:
            self.loading = False
        if wanted == self.product_id:  # a newer show() wins
            self._apply(wanted, *result)

    def _read(self, product_id: str) -> tuple[dict | None, dict, str]:
        products = self.context.catalog.products
        rows = products.loc[products["product_id"] == product_id]
        product = {k: v for k, v in rows.iloc[0].to_dict().items() if isinstance(v, (str, int, float))} if len(rows) else {}
        try:
            return self.context.service.outcome(product_id), product, ""
        except IndexLabError as exc:
            return None, product, exc.message

    def _apply(self, product_id: str, outcome: dict | None, product: dict, error: str) -> None:
        self.param.update(outcome=outcome, product=product, error=error)

    # ------------------------------------------------------------------ showing
    def _render(self, *_: object) -> None:
        o, p = self.outcome, self.product
        if self.product_id is None:
            self._head.object = ('<div class="section">Product outcome</div><div class="empty">Pick a product (an item '
                                 'of a batch, or a row of the builder grid) to see its latest outcome and evidence.</div>')
        else:
            label = render.product_label(p) or render.esc(self.product_id)
            head = (f'<div class="section">{label}</div><div class="meta"><code>{render.esc(self.product_id)}</code>'
                    f'{" · " + render.esc(p["category"]) if p.get("category") else ""}</div>')
            if o is None:
                body = f'<div class="empty">{render.esc(self.error or "Loading…")}</div>'
            else:
                s = o.get("summary") or {}
                missing = ", ".join(render.esc(m) for m in s.get("missing") or []) or "none"
                runner = " ".join(str(x) for x in (s.get("runner"), s.get("profile")) if x)
                body = (
                    '<div class="kv" style="margin-top:6px">'
                    f'<span class="k">latest outcome</span><span>batch <code>{render.esc(o.get("batch_run_id"))}</code> · '
                    f'item #{int(o.get("seq") or 0)} · attempt {int(o.get("attempt") or 0)} · '
                    f'{render.clock(o.get("recorded_at"), date=True)} UTC</span>'
                    f'<span class="k">coverage</span><span>{_pct(o.get("coverage"))}</span>'
                    f'<span class="k">confidence</span><span>{_pct(o.get("confidence"))}</span>'
                    f'<span class="k">conflicts</span><span>{int(o.get("conflicts") or 0)}</span>'
                    f'<span class="k">missing</span><span>{missing}</span>'
                    + (f'<span class="k">runner</span><span>{render.esc(runner)}</span>' if runner else "")
                    + '</div>')
            self._head.object = head + body
        fields = (o or {}).get("fields") or []
        sources = ((o or {}).get("summary") or {}).get("sources") or []
        parts = []
        if o is not None:
            parts.append('<div style="height:10px"></div>')
            parts.append(render.section("Fields and evidence", f"{len(fields)} field{'s' if len(fields) != 1 else ''}"))
            parts.append(render.fields_html(fields, _text))
        if sources:
            parts.append('<div style="height:10px"></div>' + render.section("Sources", f"{len(sources)}"))
            parts.append(render.sources_html(sources))
        self._evidence.object = "".join(parts)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self._spinner, self._head, self._evidence, sizing_mode="stretch_width", margin=0)


def _pct(value: Any) -> str:
    return f"{100 * value:.0f}%" if isinstance(value, (int, float)) else "–"


class History(pn.viewable.Viewer):
    """Past batches, newest first, with counts per state; open one to page through its items and events."""

    selected = param.String(default=None, allow_None=True, doc="The batch opened below the list.")
    detail = param.Dict(default={}, doc="The opened batch's store row with its counts per item state.")
    item_state = param.Selector(default="all", objects=["all", *ITEM_STATES], doc="Items table: show only this state.")

    def __init__(self, context: Any, *, run_state: Any = None, outcome: OutcomeView | None = None, **params: Any) -> None:
        self.context = context
        self.service = context.service
        self.run_state = run_state
        super().__init__(**params)
        self.outcome = outcome or OutcomeView(context)
        self._batches = PagedTable(
            self._fetch_batches, columns=BATCH_COLUMNS, page_size=10, empty_text="No batches yet.",
            css_classes=["history-batches"], on_click=lambda row: self.open(row["batch_run_id"]),
            titles={"batch_run_id": "batch", "created": "created (UTC)", "outcome": "items came out"},
            widths={"batch_run_id": 270, "state": 95, "result": 85, "created": 135, "items": 65, "runner": 85,
                    "profile": 80},
            formatters={"result": colored_text(render.RESULT_COLORS), "outcome": {"type": "textarea"},
                        "reason": {"type": "textarea"}})
        self._items = PagedTable(
            self._fetch_items, columns=ITEM_COLUMNS, page_size=15, empty_text="No items.",
            css_classes=["history-items"], on_click=lambda row: self.outcome.show(row["product_id"]),
            titles={"seq": "#", "last_error": "last error"},
            widths={"seq": 55, "state": 95, "attempts": 80, "duration": 80},
            formatters={"last_error": {"type": "textarea"}})
        self._events = PagedTable(
            self._fetch_events, columns=EVENT_COLUMNS, page_size=15, empty_text="No events.",
            css_classes=["history-events"], titles={"time": "time (UTC)", "seq": "#"},
            widths={"time": 165, "kind": 55, "seq": 50, "move": 150, "attempt": 70, "actor": 75},
            formatters={"reason": {"type": "textarea"}})
        self._detail = pn.pane.HTML(sizing_mode="stretch_width", stylesheets=[render.CSS], margin=(0, 0),
                                    css_classes=["history-detail"])
        self.param.watch(self._show_detail, ["detail", "selected"])
        self.param.watch(lambda *_: self._items.reset(), ["item_state"])
        if run_state is not None:  # a batch moved in this session's view: the list's counts are stale
            run_state.param.watch(lambda *_: self.refresh(), ["batch_state", "batch_run_id"])
        self._loaded: set[int] = set()
        self._show_detail()
        self._layout = self._compose()

    # ------------------------------------------------------------------ actions
    def refresh(self) -> None:
        """Re-read the list (and the opened batch) off the event loop."""
        schedule(self.refresh_async)

    async def refresh_async(self) -> None:
        if self.selected:
            await self.open_async(self.selected, keep_page=True)  # re-reads the list too
        else:
            await self._batches.refresh()

    def open(self, batch_run_id: str) -> None:
        """Open a batch: its counts, items and events (read off the event loop when served)."""
        self.selected = batch_run_id
        schedule(self.open_async, batch_run_id)

    async def open_async(self, batch_run_id: str, *, keep_page: bool = False) -> None:
        self.selected = batch_run_id
        detail = await off_loop(self._read_detail, batch_run_id)
        if self.selected != batch_run_id:
            return
        self.detail = detail
        await self._batches.refresh()  # its counts move with the batch
        for table in (self._items, self._events):
            if not keep_page:
                with param.discard_events(table):
                    table.page = 1
            await table.refresh()

    def open_now(self, batch_run_id: str) -> None:
        """``open`` in this thread (scripts, notebooks, tests)."""
        self.selected = batch_run_id
        self.detail = self._read_detail(batch_run_id)
        for table in (self._items, self._events):
            with param.discard_events(table):
                table.page = 1
            table.load()

    async def _watch_live(self) -> None:
        if self.run_state is not None and self.selected:
            await self.run_state.follow_async(self.selected)

    # ------------------------------------------------------------------ reads (worker threads)
    def _read_detail(self, batch_run_id: str) -> dict[str, Any]:
        try:
            return self.service.batch_with_counts(batch_run_id)
        except IndexLabError as exc:
            return {"batch_run_id": batch_run_id, "error": exc.message}

    def _fetch_batches(self, offset: int, limit: int) -> tuple[pd.DataFrame, int | None]:
        rows = []
        for b in self.service.batches(limit=limit, offset=offset):
            words = b["result_text"] or ""  # "Partial: 3 succeeded, ...": the result has its own column
            rows.append({"batch_run_id": b["batch_run_id"], "state": b["state"], "result": b["result"] or "",
                         "created": render.clock(b["created_at"], date=True), "items": b["item_count"],
                         "outcome": words.split(": ", 1)[1] if b["result"] and ": " in words else words,
                         "runner": b["runner"], "profile": b["profile"], "reason": b.get("reason") or ""})
        return pd.DataFrame(rows, columns=BATCH_COLUMNS), None

    def _fetch_items(self, offset: int, limit: int) -> tuple[pd.DataFrame, int]:
        if not self.selected:
            return pd.DataFrame(columns=ITEM_COLUMNS), 0
        state = None if self.item_state == "all" else self.item_state
        page, total = self.service.items(self.selected, state=state, offset=offset, limit=limit)
        if page.empty:
            return pd.DataFrame(columns=ITEM_COLUMNS), total
        out = page[["seq", "state", "brand", "model", "variant", "product_id", "attempts", "last_error"]].copy()
        out["duration"] = [render.duration(d) if d == d and d is not None else "" for d in page["duration_s"]]
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
        rows = [{"time": render.stamp(e["occurred_at"]),
                 "kind": KIND_LABELS.get(e["kind"], e["kind"]), "seq": "" if e["seq"] is None else int(e["seq"]),
                 "move": " → ".join(x for x in (e.get("from_state"), e.get("to_state")) if x),
                 "attempt": "" if e.get("attempt") is None else int(e["attempt"]),
                 "actor": e.get("actor") or "", "reason": e.get("reason") or ""} for e in events]
        return pd.DataFrame(rows, columns=EVENT_COLUMNS), total

    # ------------------------------------------------------------------ view
    def _show_detail(self, *_: object) -> None:
        d = self.detail
        if not self.selected:
            self._detail.object = ('<div class="section">Batch</div>'
                                   '<div class="empty">Click a batch above to see its items and events.</div>')
            return
        if not d or d.get("batch_run_id") != self.selected:
            self._detail.object = f'<div class="section">Batch <code>{render.esc(self.selected)}</code></div>'
            return
        if d.get("error"):
            self._detail.object = f'<div class="alert danger">{render.esc(d["error"])}</div>'
            return
        counts = d.get("counts") or {}
        chips = " ".join(f'{render.badge(s, render.ITEM_COLORS)}<b>{counts.get(s, 0):,}</b>&nbsp;&nbsp;'
                         for s in ITEM_STATES if counts.get(s))
        times = " · ".join(f"{label} {render.clock(d.get(key), date=True)} UTC"
                           for label, key in (("created", "created_at"), ("started", "started_at"),
                                              ("finished", "finished_at")) if d.get(key))
        reason = f'<div class="why"><span class="k">reason</span> {render.esc(d["reason"])}</div>' if d.get("reason") else ""
        self._detail.object = (
            f'<div class="head"><div class="idline">{render.result_badge(d.get("result"))}{render.badge(d.get("state"))}'
            f'<code class="bid">{render.esc(d["batch_run_id"])}</code></div>'
            f'<div class="meta">{render.esc(d.get("runner"))} · {render.esc(d.get("profile"))} · '
            f'{int(d.get("item_count") or 0):,} items · {times}</div>'
            f'<div class="result-text">{render.esc(d.get("result_text"))}</div>{reason}'
            f'<div style="margin-top:6px">{chips}</div></div>')

    def _attach(self) -> None:
        key = id(pn.state.curdoc)
        if key in self._loaded:
            return
        self._loaded.add(key)
        doc = pn.state.curdoc
        if doc is not None and doc.session_context is not None:
            pn.state.onload(self._batches.refresh)
        else:
            self._batches.load()

    def __panel__(self) -> pn.viewable.Viewable:
        self._attach()
        return self._layout

    def _compose(self) -> pn.viewable.Viewable:
        card = dict(styles=dict(render.CARD_STYLES), sizing_mode="stretch_width", margin=(6, 6))
        refresh = pn.widgets.Button(label="Refresh", color="default", variant="outline", width=90)
        pn.bind(lambda _: self.refresh(), refresh.param.clicks, watch=True)
        listing = pn.Column(
            pn.Row(pn.pane.HTML(render.section("History", "past batches, newest first · click one to open it"),
                                stylesheets=[render.CSS], sizing_mode="stretch_width"), refresh,
                   sizing_mode="stretch_width"),
            self._batches, **card)
        header = [self._detail]
        if self.run_state is not None:
            watch = pn.widgets.Button(label="Watch in Batch Run Summary", color="primary", width=230,
                                      disabled=self.param.selected.rx.is_(None), stylesheets=[BUTTON_CSS])

            async def watch_live(_clicks: int) -> None:
                await self._watch_live()

            pn.bind(watch_live, watch.param.clicks, watch=True)
            header = [pn.Row(self._detail, watch, sizing_mode="stretch_width")]
        filter_ = pn.widgets.RadioButtonGroup.from_param(
            self.param.item_state, options={s.capitalize(): s for s in self.param.item_state.objects},
            color="light", variant="outline", margin=(4, 0))
        tabs = pn.Tabs(("Items", pn.Column(filter_, self._items, sizing_mode="stretch_width")),
                       ("Events", self._events), sizing_mode="stretch_width", dynamic=True)
        detail = pn.Column(*header, tabs, **{**card, "styles": {**card["styles"], "flex": "3 1 0%"}})
        outcome = pn.Column(self.outcome, **{**card, "styles": {**card["styles"], "flex": "2 1 0%"}})
        return pn.Column(listing, pn.Row(detail, outcome, sizing_mode="stretch_width", margin=0),
                         sizing_mode="stretch_width", margin=0)
