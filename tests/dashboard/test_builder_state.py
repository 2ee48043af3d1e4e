"""The Batch Run Builder's state, without a browser: selection, filters, brand order, preview and guards.

Each test builds ``BuilderState`` over a real store in ``tmp_path`` and a small catalog; run
history comes from real batches run by an inline engine with the ``noop`` runner.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.views.state import NEVER_RUN, BuilderState
from engine.core.catalog import Catalog
from engine.core.limits import FakeClock
from engine.core.plan import LARGE_BATCH_THRESHOLD, PlanRequest, Selection
from engine.core.settings import BatchSettings
from engine.run.engine import BatchEngine
from engine.service import BatchService
from tests.support.catalogs import SMALL_ROWS, products_frame
from tests.support.inline import InlineExecutor

SMALL = SMALL_ROWS


def catalog_of(rows) -> Catalog:
    products = products_frame(rows).sort_values("product_id").reset_index(drop=True)
    return Catalog(products=products, problems=(), source="test")


@pytest.fixture
def engine(store):
    engine = BatchEngine(store, executor_factory=lambda n: InlineExecutor(), clock=FakeClock(), background=False).open()
    yield engine
    engine.close()


@pytest.fixture
def service(store, engine) -> BatchService:
    return BatchService(store, catalog_of(SMALL), engine)


@pytest.fixture
def state(service) -> BuilderState:
    return BuilderState(service)


def run_batch(service: BatchService, product_ids: list[str]) -> None:
    """Run these products to completion with the noop runner (they get a last run, completed now)."""
    request = PlanRequest(selection=Selection(product_ids=product_ids), settings=BatchSettings(runner="noop"),
                          confirm_large=True)
    batch = service.plan(request).batch_run_id
    service.start(batch)
    service.engine.drain()


def brand_ids(state: BuilderState, brand: str) -> set[str]:
    return set(state.catalog.loc[state.catalog["brand"] == brand, "product_id"])


# ------------------------------------------------------------------ selection
def test_select_brand_adds_every_product_of_the_brand_whatever_the_filter(state):
    state.search = "g305"
    state.select_brand("Razer")
    assert set(state.selected) == {"m-raz-dav3", "k-raz-hunt"}
    assert state.summary_line == "2 selected across 1 brand"
    assert state.selected_counts == {"Razer": 2}


def test_select_brand_adds_to_the_selection_and_ignores_an_unknown_brand(state):
    state.select_brand("Zowie")
    state.select_brand("Logitech")
    state.select_brand("NoSuchBrand")
    assert set(state.selected) == {"m-zow-ec2"} | brand_ids(state, "Logitech")
    assert state.summary_line == "5 selected across 2 brands"


def test_select_all_selects_every_row_the_filter_shows_on_every_page(store, engine):
    rows = [(f"m-log-{i:03d}", "mouse", "Logitech", f"G{i}", "") for i in range(230)]
    rows += [(f"m-raz-{i:03d}", "mouse", "Razer", f"Viper {i}", "") for i in range(40)]
    state = BuilderState(BatchService(store, catalog_of(rows), engine))
    state.brand_filter = ["Logitech"]
    state.select_all()
    assert len(state.selected) == 230 > 50  # far more than one grid page
    assert set(state.selected) == brand_ids(state, "Logitech")
    assert list(state.selected_positions()) == list(range(230))


def test_select_all_keeps_what_was_selected_outside_the_filter(state):
    state.select_brand("Zowie")
    state.search = "falchion"
    state.select_all()
    assert set(state.selected) == {"m-zow-ec2", "k-asus-10", "k-asus-2"}


def test_invert_selection_flips_only_rows_inside_the_filter(state):
    state.param.update(selected=["m-log-g502x", "m-raz-dav3"])
    state.brand_filter = ["Logitech"]
    state.invert_selection()
    assert set(state.selected) == {"m-raz-dav3", "m-log-g502", "m-log-g305-w", "m-log-g305-b"}
    state.invert_selection()
    assert set(state.selected) == {"m-log-g502x", "m-raz-dav3"}


def test_clear_all_empties_the_selection_and_the_order(state):
    state.select_all()
    state.clear_all()
    assert state.selected == [] and state.brand_order == [] and state.summary_line == "0 selected across 0 brands"


def test_grid_checks_change_only_the_rows_on_view(state):
    state.select_brand("Razer")
    state.set_visible_selection({"m-log-g502"}, view_ids={"m-log-g502", "m-log-g502x", "m-raz-dav3"})
    assert set(state.selected) == {"m-log-g502", "k-raz-hunt"}


def test_search_is_case_insensitive_over_brand_model_variant_and_id(state):
    for text, expected in [("LOGITECH g305", {"m-log-g305-w", "m-log-g305-b"}), ("black", {"m-log-g305-b"}),
                           ("k-asus", {"k-asus-10", "k-asus-2"}), ("nova 7 wire", {"h-ss-nova"})]:
        state.search = text
        assert set(state.filtered["product_id"]) == expected, text
    state.search = ""
    assert len(state.filtered) == len(SMALL)


def test_brand_and_category_filters_narrow_each_other(state):
    state.param.update(brand_filter=["Razer", "ASUS"], category_filter=["keyboard"])
    assert set(state.filtered["product_id"]) == {"k-raz-hunt", "k-asus-10", "k-asus-2"}


def test_selected_positions_are_where_the_grid_shows_the_selected_rows(state):
    state.brand_filter = ["Logitech"]
    state.selected = ["m-log-g502", "m-raz-dav3"]
    shown = list(state.filtered["product_id"])
    assert [shown[i] for i in state.selected_positions()] == ["m-log-g502"]


# ------------------------------------------------------------------ bulk include / exclude
def test_exclude_recent_drops_products_completed_within_the_days(service, state):
    run_batch(service, ["m-log-g502", "m-raz-dav3"])
    state.refresh_catalog()
    state.select_all()
    state.exclude_recent(7)
    assert "m-log-g502" not in state.selected and "m-raz-dav3" not in state.selected
    assert len(state.selected) == len(SMALL) - 2


def test_exclude_recent_keeps_products_completed_before_the_window(service, state):
    run_batch(service, ["m-log-g502"])
    state.refresh_catalog()
    state.select_all()
    state.exclude_recent(7, now=datetime.now(UTC) + timedelta(days=30))  # the run is 30 days old by then
    assert len(state.selected) == len(SMALL)


def test_only_never_run_keeps_the_selected_products_without_history(service, state):
    run_batch(service, ["m-log-g502"])
    state.refresh_catalog()
    assert state.catalog.set_index("product_id").loc["m-zow-ec2", "last_status"] == NEVER_RUN
    state.select_brand("Logitech")
    state.only_never_run()
    assert set(state.selected) == brand_ids(state, "Logitech") - {"m-log-g502"}


def test_exclude_variants_drops_products_with_a_variant(state):
    state.select_all()
    state.exclude_variants()
    assert not {"m-log-g305-w", "m-log-g305-b", "h-ss-nova"} & set(state.selected)
    assert len(state.selected) == len(SMALL) - 3


def test_refresh_catalog_keeps_the_selection(service, state):
    state.select_brand("Razer")
    run_batch(service, ["m-raz-dav3"])
    state.refresh_catalog()
    assert set(state.selected) == {"m-raz-dav3", "k-raz-hunt"}
    assert state.catalog.set_index("product_id").loc["m-raz-dav3", "last_status"] == "completed"


# ------------------------------------------------------------------ brand order and the preview
def preview_brands(state: BuilderState) -> list[str]:
    return [b.brand for b in state.preview.summary.brands]


def test_brands_selected_together_are_ordered_a_to_z(state):
    state.brand_filter = ["Zowie", "ASUS", "Razer"]
    state.select_all()
    assert state.brand_order == ["ASUS", "Razer", "Zowie"] == preview_brands(state)


def test_a_newly_selected_brand_joins_the_end_of_the_order(state):
    for brand in ("Zowie", "ASUS", "Razer"):
        state.select_brand(brand)
    assert state.brand_order == ["Zowie", "ASUS", "Razer"] == preview_brands(state)


def test_moving_a_brand_moves_it_in_the_preview(state):
    for brand in ("ASUS", "Razer", "Zowie"):
        state.select_brand(brand)
    state.move("Zowie", -1)
    assert state.brand_order == ["ASUS", "Zowie", "Razer"] == preview_brands(state)
    assert state.preview.items["brand"].iloc[0] == "ASUS" and state.preview.items["brand"].iloc[-1] == "Razer"
    state.to_top("Razer")
    assert preview_brands(state) == ["Razer", "ASUS", "Zowie"]
    state.move("Razer", +1)
    assert preview_brands(state) == ["ASUS", "Razer", "Zowie"]


def test_moves_stop_at_the_ends(state):
    for brand in ("ASUS", "Razer"):
        state.select_brand(brand)
    state.move("ASUS", -1)
    state.move("Razer", +1)
    assert state.brand_order == ["ASUS", "Razer"]


def test_pinned_brands_lead_and_do_not_move(state):
    for brand in ("ASUS", "Razer", "Zowie"):
        state.select_brand(brand)
    state.toggle_pin("Zowie")
    assert state.pinned == ["Zowie"] and preview_brands(state) == ["Zowie", "ASUS", "Razer"]
    assert state.preview.summary.brands[0].pinned
    state.to_top("Razer")  # goes to the top of the unpinned brands, below the pin
    state.move("Zowie", +1)  # pinned: refused
    assert state.brand_order == ["Zowie", "Razer", "ASUS"]
    state.toggle_pin("Zowie")
    assert state.pinned == [] and state.brand_order == ["Zowie", "Razer", "ASUS"]


def test_place_puts_a_brand_at_a_position_among_the_unpinned(state):
    for brand in ("ASUS", "Logitech", "Razer", "Zowie"):
        state.select_brand(brand)
    state.toggle_pin("Razer")
    state.place("ASUS", 99)
    assert state.brand_order == ["Razer", "Logitech", "Zowie", "ASUS"]
    state.place("ASUS", 0)
    assert state.brand_order == ["Razer", "ASUS", "Logitech", "Zowie"]


def test_a_brand_leaving_the_selection_leaves_the_order_and_the_pins(state):
    for brand in ("ASUS", "Razer"):
        state.select_brand(brand)
    state.toggle_pin("Razer")
    state.set_visible_selection(set(), view_ids=brand_ids(state, "Razer"))
    assert state.brand_order == ["ASUS"] and state.pinned == []
    state.select_brand("Razer")
    assert state.brand_order == ["ASUS", "Razer"]  # back at the end, unpinned


def test_the_order_survives_a_selection_change_within_its_brands(state):
    for brand in ("ASUS", "Razer"):
        state.select_brand(brand)
    state.to_top("Razer")
    state.set_visible_selection(set(), view_ids={"k-asus-2"})
    assert state.brand_order == ["Razer", "ASUS"] == preview_brands(state)


def test_settings_changes_reach_the_preview(state):
    state.select_brand("Razer")
    state.workers = 3
    assert state.preview.summary.estimate.workers == 3
    state.workers = 8  # more than the server's budget of 4: the estimate runs 4 at a time, and says where
    estimate = state.preview.summary.estimate
    assert estimate.workers == 4 and estimate.basis_text.endswith("; 4 at a time on this server's threads")


# ------------------------------------------------------------------ guards
def test_empty_selection_has_no_preview_and_says_why(state):
    assert state.preview is None and "Select products" in state.preview_error
    state.select_brand("Razer")
    state.clear_all()
    assert state.preview is None and "Select products" in state.preview_error


def test_a_large_selection_needs_confirmation(store, engine):
    rows = [(f"m-{i:04d}", "mouse", "Brand" + "ABC"[i % 3], f"M{i}", "") for i in range(LARGE_BATCH_THRESHOLD + 1)]
    state = BuilderState(BatchService(store, catalog_of(rows), engine))
    state.brand_filter = ["BrandA"]
    state.select_all()
    assert not state.preview.summary.needs_confirmation
    state.brand_filter = []
    state.select_all()
    assert state.preview.summary.needs_confirmation and state.preview.summary.total == LARGE_BATCH_THRESHOLD + 1


def test_a_thorough_run_without_a_provider_key_warns(state, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    state.select_brand("Zowie")
    state.profile = "thorough"
    assert any("OPENAI_API_KEY" in w for w in state.preview.summary.warnings)


def test_a_runner_this_process_lacks_warns(state):
    state.select_brand("Zowie")
    state.runner = "no-such-runner"
    assert any("cannot start the batch" in w for w in state.preview.summary.warnings)


def test_settings_out_of_bounds_are_refused(state):
    with pytest.raises(ValueError):
        state.workers = 0
    with pytest.raises(ValueError):
        state.max_attempts = 99
    assert state.workers == 2 and state.max_attempts == 3


def test_unknown_product_ids_set_from_outside_show_as_a_preview_error(state):
    state.selected = ["m-zow-ec2", "no-such-product"]
    assert state.preview is None and "not in the catalog" in state.preview_error
    assert state.summary_line == "1 selected across 1 brand"


def test_the_plan_request_names_whole_brands_or_the_whole_catalog(state):
    state.select_brand("Razer")
    assert state.plan_request().selection == Selection(brands=["Razer"])
    state.set_visible_selection(set(), view_ids={"k-raz-hunt"})
    assert state.plan_request().selection == Selection(product_ids=["m-raz-dav3"])
    state.select_all()
    assert state.plan_request().selection == Selection(all=True)
    assert state.preview.summary.total == len(SMALL)


# ------------------------------------------------------------------ the deferred preview
def test_a_deferred_preview_is_marked_pending_and_computed_on_request(service):
    state = BuilderState(service, live_preview=False)
    state.select_brand("Razer")
    assert state.preview_pending and state.preview is None and state.preview_error == ""
    ticket, request = state.preview_ticket()
    plan, error = state.compute_preview(request)
    assert state.apply_preview(ticket, plan, error)
    assert not state.preview_pending and state.preview.summary.total == 2


def test_a_deferred_preview_overtaken_by_a_change_is_dropped(service):
    state = BuilderState(service, live_preview=False)
    state.select_brand("Razer")
    ticket, request = state.preview_ticket()
    plan, error = state.compute_preview(request)
    state.select_brand("Zowie")  # changed while the preview was computed
    assert not state.apply_preview(ticket, plan, error)
    assert state.preview_pending and state.preview is None
    state.refresh_preview()
    assert state.preview.summary.total == 3 and not state.preview_pending


def test_turning_the_live_preview_back_on_catches_up(service):
    state = BuilderState(service, live_preview=False)
    state.select_brand("Razer")
    state.live_preview = True
    assert not state.preview_pending and state.preview.summary.total == 2


# ------------------------------------------------------------------ memory shared between sessions
def test_sessions_share_one_catalog_view_while_the_runs_stay_the_same(service):
    """Each page load used to copy the catalog view (about 26 MB at 100k products) and keep it."""
    first, second = BuilderState(service), BuilderState(service)
    assert second.catalog is first.catalog


def test_a_session_opened_after_a_run_sees_it_and_the_earlier_one_keeps_its_rows(service):
    before = BuilderState(service)
    run_batch(service, ["m-log-g502"])
    after = BuilderState(service)
    assert after.catalog is not before.catalog
    assert after.catalog.set_index("product_id").loc["m-log-g502", "last_status"] == "completed"
    assert before.catalog.set_index("product_id").loc["m-log-g502", "last_status"] == NEVER_RUN
    assert BuilderState(service).catalog is after.catalog
