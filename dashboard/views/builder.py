"""The Batch Run Builder tab: toolbar, brand chips, the product grid, the selection line and the brand order.

Everything it shows lives on ``BuilderState``; this view lays out widgets bound to it and turns
clicks into state method calls. The grid uses remote pagination, so only the page on screen
travels to the browser; `Select All` is therefore a server action (the header checkbox only
checks the page). Grid checks and ``state.selected`` are kept in step both ways:

* a check in the grid -> ``state.set_visible_selection`` with just the rows that changed;
* any state change (Select All, Select Brand, a bulk rule) -> the grid's selection, set only when
  it differs, with a guard so the grid's own echo is not taken for a user's check.
"""

from __future__ import annotations

import asyncio
import html
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param
import pyarrow as pa
from bokeh.models.widgets.tables import DateFormatter, NumberFormatter
from panel.viewable import Viewer

from dashboard.views.offloop import off_loop, schedule
from dashboard.views.order import BrandOrder
from dashboard.views.plain import TEXT_TOOLTIP, option_labels
from dashboard.views.state import BuilderState
from dashboard.views.theme import ROOT_CSS
from engine.core.plan import BatchPlan, PlanRequest

GRID_COLUMNS = ["brand", "model", "variant", "product_id", "category", "last_status", "last_run_at", "coverage"]
GRID_TITLES = {"brand": "brand", "model": "model", "variant": "variant", "product_id": "product_id",
               "category": "category", "last_status": "last run status", "last_run_at": "last run at",
               "coverage": "quality"}
# Fixed widths (room for each title and its sort arrow, even in a wide font such as DejaVu Sans)
# except product_id, which takes the rest, at least 180 px: 1,020 px in all, so the grid fits
# beside the brand order at 1,400 px; narrower, the grid scrolls sideways.
GRID_WIDTHS = {"brand": 100, "model": 130, "variant": 100, "category": 105,
               "last_status": 145, "last_run_at": 125, "coverage": 95}
GRID_COLUMN_OPTIONS = [{"field": "product_id", "minWidth": 180}]
# Selectors long enough to win over the Tabulator theme sheets a design (Bootstrap) loads after
# these. Panel ends each row with an empty 1 px cell; the Bootstrap theme's padding would make it
# 10 px and the grid would scroll sideways by that much.
GRID_CSS = """
:host .tabulator, :host .tabulator .tabulator-header { font-size: 13px; }
:host .tabulator.tabulator .tabulator-tableholder .tabulator-table .tabulator-row.tabulator-selected {
  background-color: var(--il-row-selected); color: var(--il-body-text); }
:host .tabulator.tabulator .tabulator-tableholder .tabulator-table .tabulator-row.tabulator-selected:hover {
  background-color: var(--il-row-selected-hover); }
:host .tabulator .tabulator-row input[type=checkbox]:focus-visible { outline: 2px solid var(--il-focus); outline-offset: 1px; }
:host .tabulator .tabulator-tableholder .tabulator-table .tabulator-row .tabulator-cell.empty { padding: 0 !important; }
"""
SEARCH_DEBOUNCE_SECONDS = 0.15  # typing pauses shorter than this do not refilter 100k rows

_followed: weakref.WeakSet[BuilderState] = weakref.WeakSet()


class _RowLabels(Mapping):
    """Row position -> index label of the rows a Tabulator shows, looked up when asked."""

    def __init__(self, rows: pd.DataFrame | None) -> None:
        self._index = rows.index if isinstance(rows, pd.DataFrame) else pd.RangeIndex(0)

    def __getitem__(self, row: int) -> Any:
        if not isinstance(row, (int, np.integer)) or not 0 <= row < len(self._index):
            raise KeyError(row)
        return self._index[row]

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self._index)))


class _Grid(pn.widgets.Tabulator):
    """Tabulator whose ``configuration["columns"]`` options reach the column they name.

    Panel 1.9.4 merges them by position, one column off when the checkbox column leads (the
    options for product_id land on model, renaming it); here they are merged by field.
    Its map from row position to index label is looked up, not built: Panel builds a dict with an
    entry per row, 11 MB for 100,000 rows, in every session and on every new filter.
    """

    def _update_index_mapping(self) -> None:
        self._index_mapping = _RowLabels(self._processed)

    def _get_configuration(self, columns):
        options = {c["field"]: c for c in self._configuration.get("columns", [])}
        saved, self._configuration = self._configuration, {k: v for k, v in self._configuration.items() if k != "columns"}
        try:
            configuration = super()._get_configuration(columns)
        finally:
            self._configuration = saved
        for column in configuration["columns"]:
            column.update(options.get(column.get("field"), {}))
        return configuration


def _preview_and_release(state: BuilderState, request: PlanRequest) -> tuple[BatchPlan | None, str]:
    """The preview, on a worker thread; then Arrow's allocator hands back the memory the plan freed
    (mimalloc, pyarrow's default where ``indexlab serve`` did not choose the system pool, keeps it per thread
    otherwise: about 25 MB more RSS after a few 100k previews)."""
    try:
        return state.compute_preview(request)
    finally:
        pa.default_memory_pool().release_unused()


def follow_preview(state: BuilderState) -> None:
    """Keep ``state.preview`` current off the event loop when ``state.live_preview`` is False.

    Each time the state marks the preview pending, the plan is built on a worker thread (it reads
    the store and takes up to a second at 100k products) and handed back in a next-tick callback,
    which holds the document lock, so views that change Bokeh models directly may watch the
    preview. A result overtaken by a newer change is dropped and the newest computed. Idempotent.
    """
    if state in _followed:
        return
    _followed.add(state)
    running = False

    async def refresh(*_events: param.parameterized.Event) -> None:
        nonlocal running
        if running or not state.preview_pending or state.live_preview:
            return
        ticket, request = state.preview_ticket()
        if request is None:
            return
        running = True
        try:
            result = await off_loop(_preview_and_release, state, request)
        finally:
            running = False
        schedule(show, ticket, *result, later=True)

    def show(ticket: int, plan: BatchPlan | None, error: str) -> None:
        if not state.apply_preview(ticket, plan, error) and state.preview_pending:
            schedule(refresh)  # something changed meanwhile: compute the newest

    state.param.watch(refresh, "preview_pending")


class BatchRunBuilder(Viewer):
    """Pick products in a fast grid, set the brand order, and see the selection count live."""

    state = param.ClassSelector(class_=BuilderState, doc="What is being built; shared with the preview.")
    brand_to_select = param.Selector(default=None, objects=[], doc="The brand `Select Brand` adds.")
    recent_days = param.Integer(default=30, bounds=(1, 3650), doc="`Exclude completed` drops products completed this recently.")
    page_size = param.Integer(default=50, bounds=(10, 500), constant=True, doc="Grid rows per page.")
    grid_height = param.Integer(default=480, bounds=(200, None), constant=True, doc="Grid height in pixels (rows scroll).")
    details_open = param.Boolean(default=False, doc="The product outcome (``details``) is shown above the grid.")
    banner = param.String(default="", doc=(
        'The line over the grid after a whole page is checked: "page" (offer every product that matches the filter), '
        '"all" (every one is selected: offer to clear), or "" (none).'))

    def __init__(self, details: pn.viewable.Viewable | None = None, **params) -> None:
        """``details``: what a product id click shows (its outcome), in this tab, above the grid."""
        super().__init__(**params)
        self._details = details
        state = self.state
        sizes = state.brand_sizes()
        brands = state.brands
        self.param.brand_to_select.objects = brands
        if brands and self.brand_to_select is None:
            self.brand_to_select = brands[0]
        self._brand_labels = {f"{b} ({sizes[b]:,})": b for b in brands}
        self._syncing = False
        self._typed = 0
        self._typing_search = False
        self._grid = self._make_grid()
        self._widgets = self._make_widgets()
        self._order = BrandOrder(state=state, height=self.grid_height - 52)
        state.param.watch(self._show_filtered, "filtered")
        state.param.watch(self._show_selected, "selected")
        self._grid.param.watch(self._grid_checked, "selection")
        self._grid.param.watch(self._show_selected, ["page", "page_size", "sorters"])
        state.param.watch(self._update_banner, ["selected", "filtered"])
        self._grid.param.watch(self._update_banner, ["page", "page_size", "sorters"])
        if not state.live_preview:
            follow_preview(state)

    # ------------------------------------------------------------------ widgets
    def _make_grid(self) -> pn.widgets.Tabulator:
        grid = _Grid(
            self.state.filtered[GRID_COLUMNS], pagination="remote", page_size=self.page_size,
            selectable="checkbox", show_index=False, disabled=True, titles=GRID_TITLES, widths=GRID_WIDTHS,
            formatters={"last_run_at": DateFormatter(format="%Y-%m-%d %H:%M", nan_format=""),
                        "coverage": NumberFormatter(format="0%", nan_format="", text_align="right")},
            layout="fit_columns", height=self.grid_height, min_width=300, sizing_mode="stretch_width",
            header_align="left", css_classes=["builder-grid"], margin=(0, 5),
            configuration={"columnDefaults": {"tooltip": TEXT_TOOLTIP},  # truncated text shows in full on hover
                           "columns": GRID_COLUMN_OPTIONS},
            # No editors at all (not just disabled ones): a cell with an editor takes keyboard focus,
            # so Tab would stop on every cell of every row (and lose focus there) between checkboxes.
            editors=dict.fromkeys(GRID_COLUMNS),
            stylesheets=[GRID_CSS],
        )
        grid.selection = self._page_selection(grid)
        return grid

    def on_product_click(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(product_id)`` when the operator clicks a product id in the grid (to see its evidence)."""
        def clicked(event: Any) -> None:
            if getattr(event, "column", None) == "product_id" and event.value:
                callback(str(event.value))
        self._grid.on_click(clicked)

    def _make_widgets(self) -> dict[str, pn.viewable.Viewable]:
        state = self.state
        # Not from_param: a two-way link would echo each debounced search back into the box and
        # overwrite what the operator typed meanwhile. Typing (debounced) and Enter set state.search;
        # a search set elsewhere is shown in the box.
        search = pn.widgets.TextInput(value=state.search, label="Search", width=280, css_classes=["builder-search"],
                                      placeholder="brand, model, variant or product id",
                                      description=state.param.search.doc)
        search.param.watch(self._typing, "value_input")
        search.param.watch(self._entered, "value")
        state.param.watch(self._searched, "search")
        # The placeholder reads "All ..." only while no chip is chosen: next to a chip it said the opposite of the filter.
        chips = pn.widgets.MultiChoice.from_param(
            state.param.brand_filter, label="Brands", options=option_labels(state.brands),
            placeholder=state.param.brand_filter.rx().rx.pipe(lambda v: "" if v else "All brands"),
            width=380, solid=False, css_classes=["builder-brand-chips"])
        categories = pn.widgets.MultiChoice.from_param(
            state.param.category_filter, label="Categories",
            options=option_labels(sorted(state.catalog["category"].unique())),
            placeholder=state.param.category_filter.rx().rx.pipe(lambda v: "" if v else "All categories"),
            width=260, solid=False, css_classes=["builder-category-chips"])
        undo = pn.widgets.Button(label=state.param.undo_label.rx().rx.pipe(lambda a: f"Undo {a}" if a else "Undo"),
                                 disabled=state.param.undo_label.rx().rx.pipe(lambda a: not a), align="end",
                                 css_classes=["undo"], description="Take back the last bulk action")
        pn.bind(lambda _clicks: state.undo(), undo.param.clicks, watch=True)
        jump = pn.widgets.IntInput(value=None, width=120, css_classes=["page-jump"], placeholder="Go to page",
                                   description="Type a page number and press Enter", margin=(0, 5))
        jump.param.watch(lambda e: self.go_to_page(e.new), "value")
        jump_error = pn.pane.HTML("", visible=False, css_classes=["page-jump-error"], margin=(0, 5),
                                  styles={"color": "var(--il-red-700)", "font-size": "12.5px"})
        banner_text = pn.pane.HTML(pn.bind(self._banner_html, self.param.banner), margin=(6, 5),
                                   css_classes=["select-matching-text"])
        banner_button = pn.widgets.Button(label=self.param.banner.rx().rx.pipe(self._banner_action), color="light",
                                          css_classes=["select-matching"], margin=(2, 5))
        pn.bind(lambda _clicks: self._banner_clicked(), banner_button.param.clicks, watch=True)
        banner = pn.Row(banner_text, banner_button, visible=self.param.banner.rx().rx.pipe(bool), align="center",
                        css_classes=["select-matching-banner"], sizing_mode="stretch_width",
                        styles={"background": "var(--il-row-selected)", "border-radius": "6px"})
        buttons = {label: pn.widgets.Button(label=label, color=kind, css_classes=[css], align="end")
                   for label, kind, css in [("Select All", "primary", "select-all"), ("Clear All", "default", "clear-all"),
                                            ("Invert Selection", "default", "invert-selection"),
                                            ("Select Brand", "primary", "select-brand"),
                                            ("Remove Brand", "default", "remove-brand"),
                                            ("Exclude completed", "default", "exclude-recent"),
                                            ("Only never run", "default", "only-never-run"),
                                            ("Exclude variants", "default", "exclude-variants")]}
        actions = {"Select All": state.select_all, "Clear All": state.clear_all,
                   "Invert Selection": state.invert_selection,
                   "Select Brand": lambda: self.brand_to_select and state.select_brand(self.brand_to_select),
                   "Remove Brand": lambda: self.brand_to_select and state.remove_brand(self.brand_to_select),
                   "Exclude completed": lambda: state.exclude_recent(self.recent_days),
                   "Only never run": state.only_never_run, "Exclude variants": state.exclude_variants}
        for label, button in buttons.items():
            pn.bind(lambda _clicks, act=actions[label]: act(), button.param.clicks, watch=True)
        brand = pn.widgets.Select.from_param(self.param.brand_to_select, label="Brand", options=self._brand_labels,
                                             width=220, css_classes=["builder-brand-picker"])
        days = pn.widgets.IntInput.from_param(self.param.recent_days, label="Completed in last N days", width=170)
        summary = pn.pane.HTML(pn.bind(self._summary_html, state.param.summary_line), css_classes=["selection-summary"],
                               margin=(0, 5), styles={"font-size": "15px", "font-weight": "600"})
        shown = pn.pane.HTML(pn.bind(self._shown_text, state.param.filtered), css_classes=["filter-summary"],
                             margin=(0, 5), styles={"font-size": "13px", "color": "var(--il-muted-text)"})
        return {"search": search, "chips": chips, "categories": categories, "brand": brand, "days": days,
                "summary": summary, "shown": shown, "undo": undo, "jump": jump, "jump_error": jump_error,
                "banner": banner, **buttons}

    @staticmethod
    def _summary_html(line: str) -> str:
        return f'<span class="summary-text" role="status" aria-live="polite">{html.escape(line)}</span>'

    def _shown_text(self, filtered: pd.DataFrame) -> str:
        total = len(self.state.catalog)
        text = f"showing all {total:,} products" if len(filtered) == total else f"showing {len(filtered):,} of {total:,} products"
        return f'<span class="shown-text">{text}</span>'

    # ------------------------------------------------------------------ search as you type
    async def _typing(self, event: param.parameterized.Event) -> None:
        self._typed += 1
        ticket = self._typed
        await asyncio.sleep(SEARCH_DEBOUNCE_SECONDS)
        if ticket == self._typed and self.state.search != event.new:
            self._search_from_box(event.new)

    def _entered(self, event: param.parameterized.Event) -> None:
        self._typed += 1  # Enter wins over a pending debounce
        self._search_from_box(event.new)

    def _search_from_box(self, text: str) -> None:
        self._typing_search = True  # never written back: the operator may have typed on meanwhile
        try:
            self.state.search = text
        finally:
            self._typing_search = False

    def _searched(self, event: param.parameterized.Event) -> None:
        box = self._widgets["search"]
        if not self._typing_search and event.new != box.value_input:  # set elsewhere (not typed here): show it
            box.value = event.new

    # ------------------------------------------------------------------ grid <-> state
    @contextmanager
    def _grid_sync(self):
        self._syncing = True
        try:
            yield
        finally:
            self._syncing = False

    def _show_filtered(self, *_events: Any) -> None:
        """New filter: new rows, first page, then the checks (Tabulator clears them when the rows change)."""
        frame = self.state.filtered[GRID_COLUMNS]
        with self._grid_sync():
            self._grid.param.update(value=frame, page=1)
            self._grid.selection = self._page_selection(self._grid)

    def _page_rows(self, grid: pn.widgets.Tabulator) -> np.ndarray:
        """Positions (within the grid's rows) of the rows on the page the grid shows."""
        size = grid.page_size or self.page_size
        start = (grid.page - 1) * size
        if grid.sorters:  # remote pagination sorts on the server: the page is a slice of the sorted view
            return grid.value.index.get_indexer(grid.current_view.index[start:start + size])
        return np.arange(start, min(start + size, len(grid.value)))

    def _page_selection(self, grid: pn.widgets.Tabulator) -> list[int]:
        """The checked rows of the page on screen.

        Only the page's rows travel to the browser, so only they need checking: setting 100,000
        positions would cost Tabulator a Python loop over all of them (0.4 s) on every change.
        Descending, because Tabulator scrolls to each row it checks: the last is then the topmost.
        """
        rows = self._page_rows(grid)
        return rows[self.state.selected_flags()[rows]][::-1].tolist()

    def _show_selected(self, *_events: Any) -> None:
        """The selection or the page changed: check what the page should show, if it does not already."""
        wanted = self._page_selection(self._grid)
        if set(wanted) == set(self._grid.selection):
            return  # the grid already shows it (the change came from the grid)
        with self._grid_sync():
            self._grid.selection = wanted

    def _grid_checked(self, event: param.parameterized.Event) -> None:
        """The operator checked or unchecked rows (one, or the page with the header box)."""
        if self._syncing:
            return
        old, new = set(event.old), set(event.new)
        added, changed = new - old, new ^ old
        if not changed:
            return
        ids = self._grid.value["product_id"].to_numpy()
        self.state.set_visible_selection({ids[i] for i in added}, {ids[i] for i in changed})

    # ------------------------------------------------------------------ select all matching, page jump
    def _update_banner(self, *_events: Any) -> None:
        """Like a mail client: once the page's rows are all checked and more products match, offer them all."""
        shown = len(self.state.filtered)
        rows = self._page_rows(self._grid)
        flags = self.state.selected_flags()
        page_full = len(rows) > 0 and bool(flags[rows].all())
        if shown <= len(rows) or not page_full:
            self.banner = ""
        else:
            self.banner = "all" if self.state.selected_matching() == shown else "page"

    def _banner_html(self, banner: str) -> str:
        shown, rows = len(self.state.filtered), len(self._page_rows(self._grid))
        if banner == "page":
            text = f"All {rows:,} products on this page are selected."
        elif banner == "all":
            text = f"All {shown:,} products matching the filter are selected."
        else:
            return ""
        return f'<span class="banner-text">{html.escape(text)}</span>'

    def _banner_action(self, banner: str) -> str:
        return f"Select all {len(self.state.filtered):,} matching" if banner == "page" else "Clear selection"

    def _banner_clicked(self) -> None:
        if self.banner == "page":
            self.state.select_all()
        elif self.banner == "all":
            self.state.clear_all()

    def pages(self) -> int:
        return max(1, -(-len(self.state.filtered) // (self._grid.page_size or self.page_size)))

    def go_to_page(self, page: int | None) -> None:
        """The "Go to page" box: a page that exists is shown; any other number is named under the box, page unchanged."""
        error = self._widgets["jump_error"]
        if page is None:
            error.visible = False
            return
        last = self.pages()
        if not 1 <= page <= last:
            error.param.update(object=html.escape(f"No page {page:,}: pages are 1 to {last:,}."), visible=True)
            return
        error.visible = False
        self._grid.page = page

    def show_details(self) -> None:
        self.details_open = True

    def _details_card(self) -> pn.viewable.Viewable | None:
        """The clicked product's outcome in this tab: switching to History moved the operator off the builder, and
        History's pane, updated while its tab was hidden, had Panel name its CDN stylesheet (fetched offline)."""
        if self._details is None:
            return None
        close = pn.widgets.Button(label="Close", color="light", align="end", width=80, css_classes=["close-outcome"])
        pn.bind(lambda _c: self.param.update(details_open=False), close.param.clicks, watch=True)
        return pn.Column(pn.Row(pn.pane.HTML("<b>Product outcome</b>", margin=(8, 5)), pn.Spacer(), close,
                                sizing_mode="stretch_width"),
                         self._details, visible=self.param.details_open, sizing_mode="stretch_width",
                         css_classes=["builder-outcome"], margin=(0, 5, 10, 5),
                         styles={"border": "1px solid var(--il-card-border)", "border-radius": "6px", "padding": "4px 8px"})

    # ------------------------------------------------------------------ layout
    def __panel__(self) -> pn.viewable.Viewable:
        w = self._widgets
        filters = pn.FlexBox(w["search"], w["chips"], w["categories"], align_items="end",
                             sizing_mode="stretch_width", css_classes=["builder-filters"])
        selection = pn.FlexBox(
            pn.Row(w["Select All"], w["Clear All"], w["Invert Selection"], w["undo"], align="end"),
            pn.Row(w["brand"], w["Select Brand"], w["Remove Brand"], align="end"),
            pn.Row(w["days"], w["Exclude completed"], w["Only never run"], w["Exclude variants"], align="end"),
            align_items="flex-end", gap="0 24px", sizing_mode="stretch_width", css_classes=["builder-actions"])
        status = pn.Row(w["summary"], w["shown"], pn.layout.HSpacer(), w["jump_error"], w["jump"], align="center",
                        sizing_mode="stretch_width")
        grid = pn.Column(status, w["banner"], self._grid, sizing_mode="stretch_width", styles={"flex": "1 1 640px", "min-width": "0"})
        order = pn.Column(self._order, width=310, css_classes=["builder-order"])
        body = pn.FlexBox(grid, order, flex_wrap="wrap", gap="12px", sizing_mode="stretch_width")
        details = self._details_card()
        parts = [filters, selection, *([details] if details is not None else []), body]
        return pn.Column(*parts, sizing_mode="stretch_width", css_classes=["batch-run-builder"],
                         stylesheets=[ROOT_CSS])
