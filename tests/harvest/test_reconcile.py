"""Choosing a value per field from the sources' statements."""

from __future__ import annotations

from engine.runners.harvest.reconcile import Evidence, reconcile
from engine.runners.harvest.values import parse_value
from tests.support.harvest import MOUSE

F = {f.name: f for f in MOUSE}


def say(field: str, text: str, tier: str, source_id: str | None = None) -> Evidence:
    return Evidence(field, parse_value(F[field], text), tier, source_id or f"{tier}-{text}", f"https://{tier}.example/",
                    f"snip-{tier}", "table", f"{field}: {text}")


def test_a_single_statement_is_the_value_without_conflict():
    result = reconcile(MOUSE, [say("weight", "58 g", "retailer")])["weight"]
    assert (result.value, result.tier, result.conflict, result.unit) == (58, "retailer", False, "g")


def test_the_higher_tier_wins_a_disagreement_of_equal_support():
    evidence = [say("weight", "61 g", "lab_review", "lab"), say("weight", "58 g", "manufacturer", "maker"),
                say("weight", "60 g", "retailer", "shop")]
    result = reconcile(MOUSE, evidence)["weight"]
    assert (result.value, result.tier, result.conflict) == (58, "manufacturer", True)


def test_agreement_outweighs_a_single_higher_tier():
    evidence = [say("max_dpi", "16000", "manufacturer", "m"), say("max_dpi", "26000", "lab_review", "l"),
                say("max_dpi", "26K", "retailer", "r1"), say("max_dpi", "26,000 DPI", "retailer", "r2")]
    result = reconcile(MOUSE, evidence)["max_dpi"]
    assert (result.value, result.support, result.conflict) == (26000, 4.0, True)


def test_a_tie_in_support_goes_to_the_better_tier():
    evidence = [say("weight", "58 g", "manufacturer", "m"), say("weight", "63 g", "lab_review", "l"),
                say("weight", "63 g", "retailer", "r")]
    assert reconcile(MOUSE, evidence)["weight"].value == 58


def test_numbers_within_one_percent_agree():
    evidence = [say("weight", "100 g", "manufacturer"), say("weight", "100.8 g", "lab_review")]
    result = reconcile(MOUSE, evidence)["weight"]
    assert (result.conflict, result.support) == (False, 5.0)


def test_the_precise_statement_speaks_for_a_group_with_a_rounded_one():
    evidence = [say("weight", "0.13 lb", "retailer", "r"), say("weight", "58 g", "retailer", "s")]
    result = reconcile(MOUSE, evidence)["weight"]
    assert (result.value, result.conflict) == (58, False)


def test_confidence_is_higher_for_agreement_than_for_conflict():
    agreed = reconcile(MOUSE, [say("weight", "58 g", "manufacturer", "m"), say("weight", "58 g", "retailer", "r")])
    disputed = reconcile(MOUSE, [say("weight", "58 g", "manufacturer", "m"), say("weight", "70 g", "retailer", "r")])
    assert 0 <= disputed["weight"].confidence < agreed["weight"].confidence <= 1


def test_fields_nobody_stated_are_absent():
    assert set(reconcile(MOUSE, [say("weight", "58 g", "retailer")])) == {"weight"}


def test_lists_agree_as_sets_and_text_case_insensitively():
    evidence = [say("connectivity", "USB-C, Bluetooth", "manufacturer"), say("connectivity", "bluetooth / usb-c", "retailer"),
                say("sensor", "Focus Pro 30K", "manufacturer"), say("sensor", "FOCUS PRO 30K", "retailer")]
    results = reconcile(MOUSE, evidence)
    assert not results["connectivity"].conflict and not results["sensor"].conflict


def test_a_rounded_figure_does_not_speak_over_precise_ones_it_agrees_with():
    evidence = [say("weight", "0.6 lbs", "lab_review", "lab"), say("weight", "263 g", "retailer", "r1"),
                say("weight", "9.3 oz", "retailer", "r2")]
    result = reconcile(MOUSE, evidence)["weight"]
    assert (result.value, result.conflict) == (263, False)


def test_a_coarse_manufacturer_figure_outweighs_one_precise_measurement():
    evidence = [say("weight", "1 kg", "manufacturer", "m"), say("weight", "1.03 kg", "lab_review", "l"),
                say("weight", "1 kg", "retailer", "r")]
    assert reconcile(MOUSE, evidence)["weight"].value == 1000


def test_a_rounded_kilo_figure_does_not_swallow_a_value_half_its_size():
    evidence = [say("polling_rate", "1K Hz", "manufacturer", "m"), say("polling_rate", "500 Hz", "retailer", "r")]
    result = reconcile(MOUSE, evidence)["polling_rate"]
    assert (result.value, result.conflict) == (1000, True)


def test_a_statement_joins_the_closest_group_it_agrees_with():
    evidence = [say("polling_rate", "500 Hz", "retailer", "a"), say("polling_rate", "1000 Hz", "retailer", "b"),
                say("polling_rate", "1 kHz", "retailer", "c")]
    result = reconcile(MOUSE, evidence)["polling_rate"]
    assert (result.value, result.support) == (1000, 2.0)
