"""A table too big to hold in a session: one page at a time, read from the store off the event loop.

Tabulator's ``pagination='remote'`` still keeps every row in the session's memory; a batch of 100,000
items watched by several sessions should not. ``PagedTable`` asks its ``fetch(offset, limit)`` for the
page shown (an SQL ``LIMIT/OFFSET`` in the store) and draws only those rows.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import panel as pn
import param

from dashboard.views.offloop import off_loop, schedule
from dashboard.views.plain import TEXT_TOOLTIP
from dashboard.views.theme import TABLE_CSS
from engine.core.errors import IndexLabError

log = logging.getLogger("indexlab.dashboard")

# (rows of the page, rows in all pages or None when the source cannot count them cheaply)
Fetch = Callable[[int, int], tuple[pd.DataFrame, int | None]]


class PagedTable(pn.viewable.Viewer):
    """One page of rows with Prev/Next; the owner says what to read (``fetch``) and when to re-read it."""

    page = param.Integer(default=1, bounds=(1, None), doc="The page shown, from 1.")
    page_size = param.Integer(default=20, bounds=(1, 500), doc="Rows per page.")
    total = param.Integer(default=0, allow_None=True, doc="Rows in all pages; None when the source does not count them.")
    more = param.Boolean(default=False, doc="There is a page after this one (when total is None).")
    frame = param.DataFrame(default=pd.DataFrame(), doc="The rows of the page shown, as fetched (every column).")
    loading = param.Boolean(default=False, doc="A read is under way.")
    error = param.String(default="", doc="Why the last read failed (shown under the table).")
    empty_text = param.String(default="Nothing to show.", doc="Shown instead of the pager when there are no rows.")

    def __init__(self, fetch: Fetch, *, columns: list[str], titles: Mapping[str, str] | None = None,
                 widths: Mapping[str, int | str] | None = None, formatters: Mapping[str, Any] | None = None,
                 on_click: Callable[[dict[str, Any]], None] | None = None, height: int | None = None,
                 css_classes: list[str] | None = None, **params: Any) -> None:
        super().__init__(**params)
        self._fetch = fetch
        self._columns = columns
        self._on_click = on_click
        self._running = False
        self._again = False
        self._resend = False
        self._table = pn.widgets.Tabulator(
            pd.DataFrame(columns=columns), show_index=False, disabled=True, pagination=None,
            titles=dict(titles or {}), widths=dict(widths or {}), formatters=dict(formatters or {}),
            layout="fit_columns", sizing_mode="stretch_width", selectable=False, header_align="left",
            height=height, configuration={"columnDefaults": {"headerSort": False, "tooltip": TEXT_TOOLTIP}},
            stylesheets=[TABLE_CSS], css_classes=list(css_classes or []),
        )
        if on_click is not None:
            self._table.on_click(self._clicked)
        self._prev = pn.widgets.Button(label="‹ Prev", width=80, color="light", disabled=self.param.page.rx() <= 1)
        self._next = pn.widgets.Button(label="Next ›", width=80, color="light")
        pn.bind(self._step, self._prev.param.clicks, -1, watch=True)
        pn.bind(self._step, self._next.param.clicks, 1, watch=True)
        self.param.watch(self._show, ["frame"])
        self.param.watch(self._pager_state, ["page", "total", "more", "frame", "page_size"])
        self._pager_state()

    # ------------------------------------------------------------------ reading
    def load(self) -> None:
        """Read the page now, in this thread (scripts, notebooks and tests; the UI uses ``refresh``)."""
        self._apply(*self._read())

    async def refresh(self, *, resend: bool = False) -> None:
        """Re-read the page off the event loop; calls that arrive meanwhile collapse into one more read.

        ``resend`` sends the rows to the browser even if they did not change: Panel 1.9's Tabulator drops rows that
        arrive while the browser is still building the table (a first page under load), and the server cannot
        tell; an explicit Refresh is the user's way to get them.
        """
        self._resend = self._resend or resend
        if self._running:
            self._again = True
            return
        self._running = True
        self.loading = bool(self.frame is None or self.frame.empty)
        try:
            while True:
                self._again = False
                result = await off_loop(self._read)
                if not self._again:
                    self._apply(*result)  # shows changed rows (and consumes a resend)
                    if self._resend:
                        self._show()  # the same rows: sent again all the same
                    break
        finally:
            self._running = False
            self.loading = False

    def reset(self) -> None:
        """Back to page 1 and re-read (the owner changed what ``fetch`` reads)."""
        if self.page != 1:
            self.page = 1  # the watcher re-reads
        else:
            schedule(self.refresh)

    def _read(self) -> tuple[pd.DataFrame | None, int | None, bool, str]:
        offset, limit = (self.page - 1) * self.page_size, self.page_size
        try:
            frame, total = self._fetch(offset, limit + 1)
        except IndexLabError as exc:
            return None, 0, False, exc.message
        except Exception as exc:  # a page that cannot be read is a line under the table, not a broken session
            log.exception("reading a table page failed")
            return None, 0, False, f"could not read this page: {type(exc).__name__}: {exc}"
        more = len(frame) > limit
        return frame.iloc[:limit].reset_index(drop=True), total, more, ""

    def _apply(self, frame: pd.DataFrame | None, total: int | None, more: bool, error: str) -> None:
        if frame is None:
            frame = pd.DataFrame(columns=self._columns)
        self.param.update(frame=frame, total=total, more=more, error=error)
        if total is not None and total and self.page > self._pages(total):
            self.page = self._pages(total)

    @param.depends("page", "page_size", watch=True)
    def _page_changed(self) -> None:
        schedule(self.refresh)

    # ------------------------------------------------------------------ view
    def _pages(self, total: int) -> int:
        return max(1, -(-total // self.page_size))

    def _show(self, *_: object) -> None:
        # The table holds exactly its columns, always: Panel's Tabulator applies a change of columns even while its
        # table is still being built, which throws in the browser. A click reads its whole row from ``frame``.
        # And every column as objects, as in the empty table it starts with: a number column makes Panel add a sorter
        # to the table's configuration, and a new configuration rebuilds the table in the browser, which drops rows
        # that arrive while it builds (an empty page, then a filled one, under load: the old rows stayed for good).
        value = self.frame.reindex(columns=self._columns).astype(object)
        current, resend, self._resend = self._table.value, self._resend, False
        if current is not None and current.equals(value) and not resend:
            return  # the same rows: no redraw (Tabulator redraws on every new value)
        self._table.value = value

    def _pager_state(self, *_: object) -> None:
        if self.total is not None:
            last = self._pages(self.total)
            self._next.disabled = self.page >= last
        else:
            self._next.disabled = not self.more

    def _step(self, _clicks: int, delta: int) -> None:
        if delta < 0 and self.page > 1:
            self.page -= 1
        elif delta > 0 and not self._next.disabled:
            self.page += 1

    def _clicked(self, event: Any) -> None:
        if self._on_click is not None and 0 <= event.row < len(self.frame):
            self._on_click(self.frame.iloc[event.row].to_dict())

    @param.depends("page", "page_size", "total", "more", "frame", "error", "loading")
    def _pager_text(self) -> pn.viewable.Viewable:
        rows = len(self.frame) if self.frame is not None else 0
        if self.error:
            text = f'<span class="err">{html.escape(self.error)}</span>'
        elif self.loading:
            text = '<span class="muted">Loading…</span>'
        elif not rows and self.page == 1:
            text = f'<span class="muted">{html.escape(self.empty_text)}</span>'
        else:
            first = (self.page - 1) * self.page_size + 1
            span = f"{first:,}–{first + rows - 1:,}"
            text = (f"Page {self.page:,} of {self._pages(self.total):,} · rows {span} of {self.total:,}"
                    if self.total is not None else f"Page {self.page:,} · rows {span}")
        return pn.pane.HTML(text, stylesheets=[_PAGER_CSS], margin=(8, 10), sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        pager = pn.Row(self._prev, self._next, self._pager_text, sizing_mode="stretch_width", margin=(0, 0))
        return pn.Column(self._table, pager, sizing_mode="stretch_width", margin=0)


_PAGER_CSS = """
:host { font-size: 13px; color: var(--il-slate-600); }
.muted { color: var(--il-slate-400); }
.err { color: var(--il-red-700); }
"""
