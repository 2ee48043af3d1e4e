"""Canonical values: units, enums, bools, lists, and tolerance-aware agreement."""

from __future__ import annotations

import pytest

from engine.runners.harvest.values import Parsed, parse_value, same_value
from tests.support.harvest import MOUSE

F = {f.name: f for f in MOUSE}


@pytest.mark.parametrize(("field", "text", "expected"), [
    ("weight", "58 g", 58),
    ("weight", "58g", 58),
    ("weight", "58 grams", 58),
    ("weight", "2.05 oz", 58.1),
    ("weight", "0.13 lb", 59),
    ("weight", "0.058 kg", 58),
    ("max_dpi", "26K DPI", 26000),
    ("max_dpi", "26k", 26000),
    ("max_dpi", "26,000 dpi", 26000),
    ("max_dpi", "26000 CPI", 26000),
    ("max_dpi", "100 - 26,000 DPI", 26000),
    ("polling_rate", "8000 Hz", 8000),
    ("polling_rate", "8 kHz", 8000),
    ("polling_rate", "1000Hz (1 ms)", 1000),
    ("battery_life", "70 hours", 70),
    ("battery_life", "Up to 70 h (RGB off)", 70),
    ("cable_length", "1.8 m", 1.8),
    ("cable_length", "180 cm", 1.8),
])
def test_numbers_are_converted_to_the_canonical_unit(field, text, expected):
    parsed = parse_value(F[field], text)
    assert parsed is not None
    assert parsed.value == pytest.approx(expected, rel=0.01)


def test_a_bare_number_takes_the_unit_named_in_its_label():
    assert parse_value(F["weight"], "2.05", label="Weight (oz)").value == pytest.approx(58.1, rel=0.01)


def test_a_number_in_another_kind_of_unit_is_not_a_value():
    assert parse_value(F["weight"], "70 hours") is None


def test_text_without_a_number_is_not_a_number():
    assert parse_value(F["weight"], "light") is None


def test_screen_sizes_convert_from_inches_quotes_and_centimetres():
    size = type(F["weight"])(name="screen_size", label="Screen size", type="number", unit="in")
    assert [parse_value(size, t).value for t in ('27"', "27 inch", "27”")] == [27, 27, 27]
    assert parse_value(size, "68.6 cm").value == pytest.approx(27.0, rel=0.01)


def test_response_time_reads_the_first_figure():
    response = type(F["weight"])(name="response_time", label="Response time", type="number", unit="ms")
    assert parse_value(response, "1ms (GtG)").value == 1


def test_a_rounded_imperial_weight_agrees_with_the_exact_metric_one():
    assert same_value(F["weight"], parse_value(F["weight"], "0.13 lb"), parse_value(F["weight"], "58 g"))


def test_numbers_more_than_one_percent_apart_disagree():
    assert not same_value(F["weight"], Parsed(58, 0.5), Parsed(60, 0.5))


def test_enum_matches_choices_case_insensitively():
    assert parse_value(F["shape"], "ERGONOMIC").value == "Ergonomic"
    assert parse_value(F["shape"], "Ergonomic (right-handed)").value == "Ergonomic"
    assert parse_value(F["shape"], "round") is None


@pytest.mark.parametrize(("text", "expected"), [("Yes", True), ("✓", True), ("true", True), ("No", False),
                                                ("✗", False), ("None", False)])
def test_bools(text, expected):
    assert parse_value(F["rgb"], text).value is expected


def test_a_bool_field_ignores_text_that_is_not_yes_or_no():
    assert parse_value(F["rgb"], "26000") is None


def test_lists_are_split_deduplicated_and_sorted():
    parsed = parse_value(F["connectivity"], "USB-C, Bluetooth and 2.4 GHz wireless, usb-c")
    assert parsed.value == ["2.4 GHz wireless", "Bluetooth", "USB-C"]


def test_lists_compare_as_sets():
    a, b = parse_value(F["connectivity"], "Bluetooth, USB-C"), parse_value(F["connectivity"], "usb-c / bluetooth")
    assert same_value(F["connectivity"], a, b)
