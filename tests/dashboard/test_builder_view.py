"""The Batch Run Builder view over its state, without a browser: buttons, grid checks, pages, brand order."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from dashboard.views.builder import BatchRunBuilder
from dashboard.views.order import BrandOrder
from dashboard.views.state import BuilderState
from engine.core.catalog import Catalog
from engine.service import BatchService
from tests.support.catalogs import products_frame

ROWS = ([(f"m-log-{i:03d}", "mouse", "Logitech", f"G{i}", "") for i in range(120)]
        + [(f"m-raz-{i:03d}", "mouse", "Razer", f"Viper {i}", "Black" if i % 2 else "") for i in range(30)]
        + [(f"k-asu-{i:03d}", "keyboard", "ASUS", f"Falchion {i}", "") for i in range(10)])


@pytest.fixture
def state(store) -> BuilderState:
    products = products_frame(ROWS).sort_values("product_id").reset_index(drop=True)
    return BuilderState(BatchService(store, Catalog(products=products, problems=(), source="test")))


@pytest.fixture
def view(state) -> BatchRunBuilder:
    view = BatchRunBuilder(state=state)
    view.__panel__().get_root()  # models exist, as in a served page
    return view


def click(view: BatchRunBuilder, label: str) -> None:
    view._widgets[label].clicks += 1


def grid_ids(view: BatchRunBuilder, positions) -> set[str]:
    return set(view._grid.value["product_id"].iloc[list(positions)])


def test_select_all_selects_every_filtered_row_and_checks_the_page(view, state):
    state.brand_filter = ["Logitech"]
    click(view, "Select All")
    assert len(state.selected) == 120
    assert sorted(view._grid.selection) == list(range(50))  # the page on screen is checked


def test_the_next_page_shows_its_rows_checked(view, state):
    click(view, "Select All")
    state.search = "logitech"
    view._grid.page = 2
    assert sorted(view._grid.selection) == list(range(50, 100))


def test_a_check_in_the_grid_selects_that_product_only(view, state):
    view._grid.selection = [3]  # what Tabulator's selection event does
    assert state.selected == list(grid_ids(view, [3]))
    view._grid.selection = [3, 7]
    assert set(state.selected) == grid_ids(view, [3, 7])
    view._grid.selection = [7]
    assert set(state.selected) == grid_ids(view, [7])


def test_unchecking_one_row_after_select_all_keeps_the_other_pages(view, state):
    click(view, "Select All")
    view._grid.selection = [i for i in view._grid.selection if i != 0]
    assert len(state.selected) == len(ROWS) - 1 and grid_ids(view, [0]).isdisjoint(state.selected)


def test_select_brand_uses_the_picked_brand(view, state):
    view.brand_to_select = "ASUS"
    click(view, "Select Brand")
    assert state.summary_line == "10 selected across 1 brand"


def test_clear_and_invert_buttons(view, state):
    state.brand_filter = ["ASUS"]
    click(view, "Invert Selection")
    assert len(state.selected) == 10
    click(view, "Clear All")
    assert state.selected == [] and view._grid.selection == []


def test_bulk_buttons_reach_the_state(view, state):
    click(view, "Select All")
    click(view, "Exclude variants")
    assert len(state.selected) == len(ROWS) - 15
    click(view, "Only never run")  # nothing has run yet: all stay
    view.recent_days = 3
    click(view, "Exclude completed")
    assert len(state.selected) == len(ROWS) - 15


def test_a_filter_change_shows_the_new_rows_with_their_checks(view, state):
    state.select_brand("Razer")
    state.search = "viper 1"
    assert set(view._grid.value["product_id"]) == set(state.filtered["product_id"])
    assert grid_ids(view, view._grid.selection) == set(state.filtered["product_id"])
    assert view._grid.page == 1


def test_sorted_grid_checks_the_rows_on_its_sorted_page(view, state):
    state.select_brand("ASUS")
    view._grid.sorters = [{"field": "brand", "dir": "asc"}]  # ASUS rows come first when sorted by brand
    assert grid_ids(view, view._grid.selection) == set(state.selected)


def test_brand_order_controls_call_the_state(state):
    for brand in ("ASUS", "Logitech", "Razer"):
        state.select_brand(brand)
    order = BrandOrder(state=state)
    order.act({"action": "down", "brand": "ASUS"})
    order.act({"action": "top", "brand": "Razer"})
    assert state.brand_order == ["Razer", "Logitech", "ASUS"]
    order.act({"action": "pin", "brand": "ASUS"})
    order.act({"action": "up", "brand": "Logitech"})  # already first of the unpinned
    order.act({"action": "place", "brand": "Razer", "position": 1})
    order.act({"action": "explode", "brand": "Razer"})  # unknown: ignored
    assert state.brand_order == ["ASUS", "Logitech", "Razer"] and state.pinned == ["ASUS"]
    assert order._cards.order["cards"][0] == {"brand": "ASUS", "count": 10, "pinned": True}
    state.clear_all()
    assert order._cards.order == {"cards": []}


def test_typing_in_the_search_box_filters_once_typing_pauses(view, state):
    async def type_quickly():  # each keystroke reaches the server as a new value_input
        # Both begin in one pass of the loop, before either pause can end, however slow the machine: the second
        # keystroke comes within the first one's pause.
        await asyncio.gather(view._typing(SimpleNamespace(new="vip")), view._typing(SimpleNamespace(new="viper 1")))

    seen = []
    state.param.watch(lambda e: seen.append(e.new), "search")
    asyncio.run(type_quickly())
    assert seen == ["viper 1"] and len(view._grid.value) == 11  # "vip" was overtaken: one refilter


def test_enter_in_the_search_box_filters_at_once_and_a_search_set_elsewhere_shows_in_it(view, state):
    box = view._widgets["search"]
    box.value = "falchion"  # Enter (or leaving the box)
    assert state.search == "falchion"
    state.search = "g1"
    assert box.value == "g1"


def test_a_search_set_from_the_box_is_never_written_back_over_later_typing(view, state):
    box = view._widgets["search"]
    box.value_input = "Death"  # the operator typed on while the debounced "Dea" was being applied
    view._search_from_box("Dea")
    assert state.search == "Dea" and box.value == ""  # the box keeps what was typed
    state.search = "razer"  # set elsewhere (a link, a script): the box shows it
    assert box.value == "razer"


def test_a_builder_over_100k_products_keeps_no_per_row_python_objects(store):
    """Tabulator mapped row positions to labels in a dict, one entry per row: 11 MB per page load at 100k."""
    import gc
    import tracemalloc

    rows = [(f"p-{i:06d}", "mouse", f"Brand {i % 60}", f"Model {i}", "") for i in range(100_000)]
    state = BuilderState(BatchService(store, Catalog(products=products_frame(rows), problems=(), source="test")))
    gc.collect()
    tracemalloc.start()
    try:
        view = BatchRunBuilder(state=state)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert kept < 4_000_000, f"a builder over 100,000 products keeps {kept / 1e6:.1f} MB"
    grid = view._grid
    state.search = "model 99"  # a filtered grid still finds the row a click names
    assert grid._index_mapping.get(0, 0) == grid._processed.index[0]
