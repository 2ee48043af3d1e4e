"""The builder's undo of bulk actions, and a selection saved per user in the store and restored on a reload."""

from __future__ import annotations

import pytest

from dashboard.views.state import BuilderState
from engine.core.catalog import Catalog
from engine.service import BatchService
from engine.store import Store
from tests.support.catalogs import SMALL_ROWS, products_frame


@pytest.fixture
def service(store) -> BatchService:
    return BatchService(store, Catalog(products=products_frame(SMALL_ROWS), problems=(), source="small"))


@pytest.fixture
def state(service) -> BuilderState:
    return BuilderState(service, live_preview=False)


def test_undo_with_nothing_to_undo_changes_nothing(state):
    state.set_visible_selection({state.catalog["product_id"].iloc[0]}, {state.catalog["product_id"].iloc[0]})
    before = list(state.selected)
    assert state.undo() == "" and state.selected == before and state.undo_label == ""


def test_undo_takes_back_the_last_bulk_actions_in_turn(state):
    brands = state.brands
    state.select_brand(brands[0])
    first = sorted(state.selected)
    state.to_top(brands[0])
    state.select_all()
    assert state.undo_label == "Select All"
    state.clear_all()
    assert state.undo() == "Clear All" and len(state.selected) == len(state.catalog)
    assert state.undo() == "Select All" and sorted(state.selected) == first
    assert state.undo_label == f"Select Brand {brands[0]}"
    assert state.undo() == f"Select Brand {brands[0]}" and state.selected == [] and state.undo() == ""


def test_remove_brand_is_undone_with_the_brand_order(state):
    a, b = state.brands[:2]
    state.select_brand(a)
    state.select_brand(b)
    state.to_top(b)
    order = list(state.brand_order)
    state.remove_brand(b)
    assert b not in state.selected_brands
    state.undo()
    assert state.brand_order == order


def test_a_saved_selection_comes_back_for_its_user_only(service, store, tmp_path):
    state = BuilderState(service, live_preview=False)
    a, b = state.brands[:2]
    state.select_brand(a)
    state.select_brand(b)
    state.toggle_pin(b)
    service.save_selection("ann", list(state.selected), list(state.brand_order), list(state.pinned))
    saved = service.saved_selection("ann")
    assert service.saved_selection("bob") is None
    again = BuilderState(service, live_preview=False)
    again.restore(saved["product_ids"], saved["brand_order"], saved["pinned"])
    assert sorted(again.selected) == sorted(state.selected) and again.brand_order == [b, a] and again.pinned == [b]


def test_a_saved_selection_survives_a_restart_and_drops_unknown_ids(store, tmp_path):
    service = BatchService(store, Catalog(products=products_frame(SMALL_ROWS), problems=(), source="small"))
    known = SMALL_ROWS[0][0]
    service.save_selection("ann", [known, "<script>gone</script>"], [], [])
    path = store.path
    store.close()
    reopened = Store(path)
    try:
        service = BatchService(reopened, Catalog(products=products_frame(SMALL_ROWS), problems=(), source="small"))
        assert service.saved_selection("ann")["product_ids"] == [known]
    finally:
        reopened.close()
