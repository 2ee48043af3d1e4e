"""Selection, guards and estimates of a batch plan."""

import pytest

from engine.core.errors import PlanError
from engine.core.plan import LARGE_BATCH_THRESHOLD, MIN_HISTORY_SAMPLES, PlanRequest, Selection, build_plan, estimate
from engine.core.settings import PROFILE_SECONDS_PER_PRODUCT, BatchSettings, Profile
from tests.support.catalogs import products_frame


def _plan(products, env=None, durations=(), **request):
    request.setdefault("selection", Selection(all=True))
    return build_plan(products, PlanRequest(**request), env=env or {}, durations=durations)


def test_empty_selection_is_an_error(small_products):
    with pytest.raises(PlanError, match="nothing selected") as info:
        _plan(small_products, selection=Selection())
    assert info.value.field == "selection"


def test_selection_matching_nothing_is_an_error(small_products):
    with pytest.raises(PlanError, match="matches no products"):
        _plan(small_products, selection=Selection(search="no such thing"))


def test_unknown_product_ids_are_named(small_products):
    with pytest.raises(PlanError, match="'nope'") as info:
        _plan(small_products, selection=Selection(product_ids=["m-log-g502", "nope"]))
    assert info.value.field == "selection.product_ids"


def test_unknown_brand_suggests_the_close_one(small_products):
    with pytest.raises(PlanError, match="did you mean 'Logitech'"):
        _plan(small_products, selection=Selection(brands=["Logitec"]))


def test_brand_filter_is_case_insensitive_and_narrows_by_category(small_products):
    plan = _plan(small_products, selection=Selection(brands=["razer"], categories=["mouse"]))
    assert plan.items["product_id"].tolist() == ["m-raz-dav3"]


def test_search_matches_model_variant_and_id_case_insensitively(small_products):
    plan = _plan(small_products, selection=Selection(search="WHITE"))
    assert plan.items["product_id"].tolist() == ["m-log-g305-w"]


def test_brand_counts_follow_run_order_with_pins(small_products):
    plan = _plan(small_products, brand_order=["Zowie", "razer"], pinned_brands=["SteelSeries"])
    assert [(b.brand, b.count, b.pinned) for b in plan.summary.brands] == [
        ("SteelSeries", 1, True), ("Zowie", 1, False), ("Razer", 2, False), ("ASUS", 2, False), ("Logitech", 4, False)]


def test_changing_brand_order_changes_first_items(small_products):
    first = _plan(small_products).summary.first_items[0].brand
    reordered = _plan(small_products, brand_order=["Zowie"]).summary.first_items[0].brand
    assert (first, reordered) == ("ASUS", "Zowie")


def test_brand_in_order_without_selected_products_is_a_warning(small_products):
    plan = _plan(small_products, selection=Selection(brands=["Razer"]), brand_order=["Zowie"])
    assert any("'Zowie'" in w for w in plan.summary.warnings)


def test_missing_provider_key_for_thorough_profile_is_a_warning(small_products):
    settings = BatchSettings(profile=Profile.THOROUGH, llm_api_key_env="MY_KEY")
    assert any("MY_KEY is not set" in w for w in _plan(small_products, settings=settings).summary.warnings)
    assert _plan(small_products, settings=settings, env={"MY_KEY": "x"}).summary.warnings == []


def test_standard_profile_needs_no_provider_key(small_products):
    assert _plan(small_products, settings=BatchSettings(profile=Profile.STANDARD)).summary.warnings == []


def test_more_than_threshold_items_needs_confirmation():
    rows = [(f"p{i}", "mouse", "B", f"M{i}", "") for i in range(LARGE_BATCH_THRESHOLD + 1)]
    assert _plan(products_frame(rows)).summary.needs_confirmation
    assert not _plan(products_frame(rows[:LARGE_BATCH_THRESHOLD])).summary.needs_confirmation


def test_estimate_uses_profile_defaults_without_history():
    est = estimate(10, BatchSettings(profile=Profile.FAST, workers=2))
    low, high = PROFILE_SECONDS_PER_PRODUCT[Profile.FAST]
    assert est.basis == "profile_default" and (est.runtime_seconds_low, est.runtime_seconds_high) == (5 * low, 5 * high)
    assert est.job_count == 10 and est.max_job_count == 30 and "fast" in est.runtime_text


def test_estimate_uses_history_quartiles_when_there_is_enough():
    est = estimate(4, BatchSettings(workers=1), durations=[1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert est.basis == "history" and est.history_samples == 9
    assert (est.seconds_per_product_low, est.seconds_per_product_high) == (3.0, 7.0)


def test_a_little_history_is_used_and_called_rough():
    """A fast job that ran in 2 s must not be estimated at the profile's minutes; a few runs are said to be few."""
    est = estimate(4, BatchSettings(workers=4), durations=[2.0] * (MIN_HISTORY_SAMPLES - 1))
    assert est.basis == "history" and est.runtime_seconds_high == 2.0
    assert est.basis_text.startswith("only from 4 runs") and "rough estimate" in est.basis_text


def test_no_history_says_it_is_a_rough_guess():
    est = estimate(4, BatchSettings())
    assert est.basis == "profile_default" and est.basis_text.startswith("no history: rough guess")


def test_settings_reject_command_runner_without_argv():
    with pytest.raises(ValueError, match="needs a command"):
        BatchSettings(runner="command")


def test_settings_refuse_unknown_fields():
    with pytest.raises(ValueError):
        BatchSettings(wokers=3)
