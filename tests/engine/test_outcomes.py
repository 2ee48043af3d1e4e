"""Outcomes persisted with their evidence, and each product's latest run for the catalog view."""

import pytest

from engine.core.errors import NotFound


def test_fielded_outcome_is_stored_with_every_field_and_its_evidence(inline_engine, plan_batch, store):
    batch = plan_batch(2, runner="fielded")
    inline_engine.start(batch)
    inline_engine.drain()
    product = store.items(batch)["product_id"][0]
    outcome = store.latest_outcome(product)
    assert (outcome["batch_run_id"], outcome["coverage"], outcome["conflicts"]) == (batch, 0.75, 1)
    assert outcome["summary"]["missing"] == ["weight"] and "fields" not in outcome["summary"]
    by_name = {f["field"]: f for f in outcome["fields"]}
    assert by_name["max_dpi"]["value"] == 26000 and by_name["max_dpi"]["tier"] == "manufacturer"
    assert by_name["connectivity"]["value"] == ["Bluetooth", "USB-C"] and by_name["connectivity"]["conflict"]
    assert '"fields_found": 2' in store.items(batch)["outcome"][0]


def test_latest_outcome_of_a_product_never_run_is_not_found(store):
    with pytest.raises(NotFound, match="no recorded outcome"):
        store.latest_outcome("nope")


def test_product_runs_show_the_latest_status_time_and_quality(inline_engine, plan_batch, store, script):
    first = plan_batch(3, runner="fielded")
    inline_engine.start(first)
    inline_engine.drain()
    second = plan_batch(3, max_attempts=1)
    failing = store.items(second)["product_id"][0]
    script.plan[failing] = ["fatal"]
    inline_engine.start(second)
    inline_engine.drain()
    runs = store.product_runs().set_index("product_id")
    assert runs.loc[failing, "last_status"] == "failed" and runs.loc[failing, "last_batch_run_id"] == second
    other = store.items(first)["product_id"][1]
    assert runs.loc[other, "last_status"] == "completed" and runs.loc[other, "last_run_at"].tzinfo is not None
    assert len(runs) == 3


def test_a_plain_outcome_stays_on_the_item_only(inline_engine, plan_batch, store, script):
    batch = plan_batch(1)
    inline_engine.start(batch)
    inline_engine.drain()
    assert "26000" in store.items(batch)["outcome"][0]
    with pytest.raises(NotFound):
        store.latest_outcome(store.items(batch)["product_id"][0])
