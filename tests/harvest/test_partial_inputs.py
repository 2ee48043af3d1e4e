"""Reconciliation that knows its inputs are partial: tier-weighted votes, lone low-tier values flagged,
confidence that predicts correctness, coverage that counts only values above the gate's confidence."""

from __future__ import annotations

from engine.runners.harvest.reconcile import Evidence, reconcile
from engine.runners.harvest.runner import COVERAGE_CONFIDENCE
from engine.runners.harvest.values import parse_value
from tests.support.harvest import MOUSE, PRODUCT, page, run, source, spec_table, write_corpus

F = {f.name: f for f in MOUSE}


def say(field: str, text: str, tier: str, source_id: str, method: str = "table") -> Evidence:
    return Evidence(field, parse_value(F[field], text), tier, source_id, f"https://{source_id}.example/",
                    f"snip-{source_id}", method, f"{field}: {text}")


def test_a_lone_retailer_value_for_a_required_field_is_flagged_and_not_confident():
    result = reconcile(MOUSE, [say("connectivity", "Wired, Bluetooth", "retailer", "shop")])["connectivity"]
    assert result.flag == "lone retailer value"
    assert result.confidence < 0.5


def test_two_retailers_disputing_a_value_stay_under_the_coverage_gate():
    result = reconcile(MOUSE, [say("connectivity", "Wired", "retailer", "shop-a"),
                               say("connectivity", "Wired, Bluetooth", "retailer", "shop-b")])["connectivity"]
    assert result.conflict and result.confidence < COVERAGE_CONFIDENCE


def test_a_lone_manufacturer_value_is_not_flagged_but_needs_corroboration_for_0_9():
    alone = reconcile(MOUSE, [say("weight", "54 g", "manufacturer", "maker")])["weight"]
    backed = reconcile(MOUSE, [say("weight", "54 g", "manufacturer", "maker"),
                               say("weight", "54 g", "retailer", "shop")])["weight"]
    assert alone.flag is None and 0.8 <= alone.confidence < 0.9
    assert backed.confidence >= 0.9


def test_an_optional_field_from_one_retailer_is_not_flagged():
    assert reconcile(MOUSE, [say("battery_life", "70 h", "retailer", "shop")])["battery_life"].flag is None


def test_a_conflict_lowers_confidence_even_when_the_manufacturer_wins():
    agreed = reconcile(MOUSE, [say("weight", "54 g", "manufacturer", "m"), say("weight", "54 g", "lab_review", "l")])
    disputed = reconcile(MOUSE, [say("weight", "54 g", "manufacturer", "m"), say("weight", "57 g", "lab_review", "l")])
    assert disputed["weight"].value == 54 and disputed["weight"].confidence < agreed["weight"].confidence


def test_a_sentence_is_trusted_a_little_less_than_a_labelled_cell():
    cell = reconcile(MOUSE, [say("weight", "54 g", "lab_review", "l")])["weight"].confidence
    sentence = reconcile(MOUSE, [say("weight", "54 g", "lab_review", "l", method="prose")])["weight"].confidence
    assert sentence < cell


def test_the_same_source_twice_is_not_corroboration():
    once = reconcile(MOUSE, [say("weight", "54 g", "lab_review", "l")])["weight"].confidence
    twice = reconcile(MOUSE, [say("weight", "54 g", "lab_review", "l"), say("weight", "54 g", "lab_review", "l")])
    assert twice["weight"].confidence == once


def test_coverage_counts_only_required_values_above_the_gate_confidence(tmp_path):
    shop_a = page(spec_table({"Connectivity": "Wired", "Weight": "58 g", "Max DPI": "26,000", "Polling rate": "1000 Hz",
                              "Sensor": "Focus Pro 30K"}))
    shop_b = page(spec_table({"Connectivity": "Wired, Bluetooth", "Weight": "58 g"}))
    index = write_corpus(tmp_path / "c", [source("shop-a", "retailer", "a", domain="a.example"),
                                          source("shop-b", "retailer", "b", domain="b.example")],
                         {"a": shop_a, "b": shop_b})
    outcome = run(PRODUCT, corpus=str(index))
    assert outcome["unconfirmed"] == ["connectivity"] and outcome["missing"] == []
    assert outcome["coverage"] == 0.8  # 4 of 5 required fields, connectivity disputed
    assert {f["field"] for f in outcome["flagged"]} == {"connectivity", "max_dpi", "polling_rate", "sensor"}
