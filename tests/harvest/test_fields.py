"""Matching a page's label to a field."""

from __future__ import annotations

import pytest

from engine.runners.harvest.fields import LabelMatcher, normalise
from engine.runners.harvest.values import UNIT_WORDS
from tests.support.harvest import MOUSE


@pytest.fixture
def matcher() -> LabelMatcher:
    return LabelMatcher(MOUSE, unit_words=UNIT_WORDS)


def test_normalise_strips_case_punctuation_and_accents():
    assert normalise("  Max. DPI: ") == "max dpi"
    assert normalise("Poids (Gewicht)") == "poids gewicht"
    assert normalise("Résolution") == "resolution"


@pytest.mark.parametrize(("label", "field"), [
    ("Max DPI", "max_dpi"), ("MAX. DPI:", "max_dpi"), ("CPI", "max_dpi"), ("Weight (g)", "weight"),
    ("Weight grams", "weight"), ("Approx. weight", "weight"), ("Polling rate", "polling_rate"),
    ("Report Rate", "polling_rate"), ("max_dpi", "max_dpi"), ("Battery life (hours)", "battery_life"),
])
def test_labels_match_by_alias(matcher, label, field):
    found = matcher.match(label)
    assert found is not None and found.name == field


@pytest.mark.parametrize("label", ["Min DPI", "Weight of the box", "Price", "", "DPI " * 60])
def test_labels_that_are_not_an_alias_match_nothing(matcher, label):
    assert matcher.match(label) is None


def test_an_alias_two_fields_share_names_neither():
    fields = tuple(type(MOUSE[0]).from_dict(d) for d in (
        {"name": "a", "type": "text", "aliases": ["size"]}, {"name": "b", "type": "text", "aliases": ["size"]}))
    assert LabelMatcher(fields).match("Size") is None
