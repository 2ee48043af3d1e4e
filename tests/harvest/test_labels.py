"""Label matching beyond exact aliases: normalisation, site vocabularies, qualifiers, and labels that
must never match. Unhappy paths first."""

from __future__ import annotations

import pytest

from engine.runners.harvest.fields import LabelMatcher
from engine.runners.harvest.values import UNIT_WORDS
from tests.support.harvest import fields


def matched(category: str, label: str) -> str | None:
    fd = LabelMatcher(fields(category), unit_words=UNIT_WORDS).match(label)
    return fd.name if fd else None


@pytest.mark.parametrize("category, label", [
    ("mouse", "Shipping weight"), ("mouse", "Package weight"), ("mouse", "Weight (with cable)"),
    ("monitor", "Weight (with stand)"), ("headset", "Mic frequency response"), ("headset", "Microphone frequency response"),
    ("mouse", "Lift-off distance"), ("mouse", "DPI steps"), ("mouse", "Click latency"), ("headset", "Charging time"),
    ("headset", "Weight (charging case)"), ("mouse", "Receiver weight"), ("mouse", "Battery type"),
    ("keyboard", "Switch actuation force"), ("mouse", "Min. DPI"), ("mouse", "Warranty"),
    ("mouse", "Sensor resolution steps"), ("mouse", "Model number"), ("monitor", "Brightness (HDR, peak)"),
])
def test_labels_that_must_never_match(category, label):
    assert matched(category, label) is None


@pytest.mark.parametrize("category, label, name", [
    ("mouse", "Item Weight", "weight"), ("mouse", "Connectivity Technology", "connectivity"),
    ("controller", "Hardware Platform", "platform"), ("controller", "Rear paddles", "back_buttons"),
    ("mouse", "Mass", "weight"), ("mouse", "Max. resolution", "max_dpi"), ("monitor", "Max. resolution", "resolution"),
    ("monitor", "Connectivity", "ports"), ("monitor", "Display Resolution Maximum", "resolution"),
    ("mouse", "Movement resolution (DPI)", None), ("keyboard", "Keyboard size", "layout"),
    ("mousepad", "Material", "surface"), ("headset", "Noise Control", "noise_cancelling"),
])
def test_retailer_and_review_site_vocabularies(category, label, name):
    assert matched(category, label) == name


@pytest.mark.parametrize("label, name", [
    ("Weight (mouse only)", "weight"), ("Weight without cable", "weight"), ("Mouse weight", "weight"),
    ("Total weight", "weight"), ("Polling rate (wireless)", "polling_rate"), ("MAX. POLLING RATE:", "polling_rate"),
    ("Weight (g)", "weight"), ("Weight, approx.", "weight"), ("Multi-mode connection", "connectivity"),
    ("Wireless connectivity", "connectivity"), ("Battery life (up to)", "battery_life"),
])
def test_qualified_labels_name_their_field(label, name):
    assert matched("mouse", label) == name


def test_an_alias_of_one_field_is_not_borrowed_by_another_category_field():
    assert matched("monitor", "Max resolution") == "resolution"  # not the mouse's max_dpi vocabulary
    assert matched("headset", "Mic") == "microphone"  # an alias as a whole wins over the never-match words
