"""Value canonicalisation per field: footnote marks, number words, combined units, ranges, synonyms for
list and enum values, text forms, plausibility. Unhappy paths first."""

from __future__ import annotations

import pytest

from engine.runners.harvest.values import Parsed, parse_value, plausible
from tests.support.harvest import field


def value(category: str, name: str, text: str, label: str = ""):
    parsed = parse_value(field(category, name), text, label)
    return None if parsed is None else parsed.value


@pytest.mark.parametrize("category, name, text", [
    ("mouse", "connectivity", "Wireless"),  # which wireless: not a guess
    ("controller", "platform", "Universal"),
    ("keyboard", "layout", "US ANSI"),
    ("monitor", "hdr", "HDR compatible, see notes"),
    ("controller", "back_buttons", "many paddles"),
    ("mouse", "weight", "see box"),
])
def test_values_that_name_nothing_stay_unread(category, name, text):
    assert value(category, name, text) is None


@pytest.mark.parametrize("category, name, value_", [
    ("mouse", "weight", 5400), ("mouse", "max_dpi", 99999999), ("monitor", "refresh_rate", 2), ("mouse", "polling_rate", 8),
    ("monitor", "screen_size", 270), ("mousepad", "thickness", 40), ("controller", "back_buttons", 12),
])
def test_implausible_numbers_are_rejected(category, name, value_):
    fd = field(category, name)
    assert not plausible(fd, Parsed(value_), category)


def test_plausible_numbers_pass():
    assert plausible(field("mouse", "weight"), Parsed(54), "mouse")
    assert plausible(field("keyboard", "weight"), Parsed(1324), "keyboard")
    assert plausible(field("headset", "weight"), Parsed(4.5), "headset")  # one earbud


@pytest.mark.parametrize("category, name, text, expected", [
    ("headset", "frequency_response", "20 Hz - 40 kHz*", "20 Hz - 40 kHz"),
    ("monitor", "brightness", "400 cd/m²", 400),
    ("keyboard", "weight", "0.716 kg²", 716),
    ("mouse", "polling_rate", "8,000 Hz [1]", 8000),
    ("mouse", "rgb_lighting", "Yes†", True),
])
def test_footnote_marks_are_dropped(category, name, text, expected):
    assert value(category, name, text) == expected


@pytest.mark.parametrize("text, expected", [
    ("two back paddles", 2), ("Four remappable rear buttons", 4), ("No back buttons", 0), ("None", 0), ("2", 2),
])
def test_counts_in_words(text, expected):
    assert value("controller", "back_buttons", text) == expected


def test_combined_units_add_up():
    assert value("keyboard", "weight", "2 lb 1.6 oz") == pytest.approx(953, abs=1)
    assert value("mouse", "cable_length", "5 ft 11 in") == pytest.approx(1.8, abs=0.01)


def test_a_range_gives_its_maximum():
    assert value("mouse", "max_dpi", "100 - 26,000 DPI") == 26000
    assert value("monitor", "refresh_rate", "48–240 Hz") == 240


@pytest.mark.parametrize("category, name, text, expected", [
    ("mouse", "connectivity", "USB-C cable, 2.4G, BT 5.1", ["2.4 GHz wireless", "Bluetooth", "Wired"]),
    ("mouse", "connectivity", "Lightspeed wireless or Bluetooth", ["2.4 GHz wireless", "Bluetooth"]),
    ("keyboard", "connectivity", "USB-C, Bluetooth 5.1, 2.4 GHz", ["2.4 GHz wireless", "Bluetooth", "Wired"]),
    ("mouse", "connectivity", "USB", ["Wired"]),
    ("headset", "connectivity", "USB Type-C, 3.5mm jack", ["3.5 mm", "USB-C"]),
    ("controller", "platform", "PS5, PS4, PC (Windows 10/11)", ["PC", "PlayStation"]),
    ("controller", "platform", "Xbox Series X|S, Xbox One, Windows", ["PC", "Xbox"]),
    ("monitor", "ports", "2x HDMI 2.1, 1x DP 1.4, 3.5mm headphone out", ["DisplayPort 1.4", "HDMI 2.1", "Headphone out"]),
])
def test_list_synonyms(category, name, text, expected):
    assert value(category, name, text) == expected


@pytest.mark.parametrize("category, name, text, expected", [
    ("keyboard", "layout", "Tenkeyless", "TKL"), ("keyboard", "layout", "Full size (104 keys)", "Full-size"),
    ("keyboard", "backlight", "Per-key RGB", "RGB"), ("keyboard", "backlight", "No", "None"),
    ("keyboard", "keycap_material", "Doubleshot PBT", "Double-shot PBT"),
    ("monitor", "resolution", "QHD", "2560 x 1440"), ("monitor", "resolution", "2560×1440 @ 240 Hz", "2560 x 1440"),
    ("monitor", "hdr", "VESA DisplayHDR True Black 400", "DisplayHDR True Black 400"),
    ("headset", "design", "Closed", "Closed-back"), ("headset", "microphone", "Detachable boom mic", "Detachable"),
    ("mousepad", "surface", "Fabric", "Cloth"),
])
def test_enum_synonyms(category, name, text, expected):
    assert value(category, name, text) == expected


def test_text_values_lose_a_trailing_remark_and_invisible_marks():
    assert value("keyboard", "switch_type", "\u200eGateron Jupiter Red (linear)") == "Gateron Jupiter Red"
    assert value("mouse", "weight", "\u200e2.05 ounces") == 58.1


@pytest.mark.parametrize("text", ["20Hz–20kHz", "20 - 20,000 Hz", "20 Hz to 20 kHz", "20 Hz - 20 kHz",
                                  "20-20000Hz"])
def test_frequency_response_has_one_spelling(text):
    assert value("headset", "frequency_response", text) == "20 Hz - 20 kHz"


@pytest.mark.parametrize("text, expected", [
    ("Focus Pro 35K Optical Sensor", "Focus Pro 35K"), ("PixArt PAW3395 sensor", "PAW3395"),
    ("HERO 25K", "HERO 25K"), ("PMW3325 Optical Sensor", "PMW3325"), ("HERO Optical Sensor", "HERO"),
    ("Owl-Eye optical sensor", "Owl-Eye"), ("Advanced Optical Sensor", "Advanced Optical"), ("5G Optical", "5G Optical"),
])
def test_sensor_names(text, expected):  # "Advanced Optical" is a name; "PMW3325 optical sensor" is a code
    assert value("mouse", "sensor", text) == expected


def test_text_values_lose_their_own_noun_and_trademarks():
    assert value("mousepad", "base", "Natural rubber base") == "Natural rubber"
    assert value("keyboard", "switch_type", "Gateron Jupiter Red mechanical switches") == "Gateron Jupiter Red"
    assert value("keyboard", "switch_type", "Red Switch") == "Red Switch"
    assert value("keyboard", "switch_type", "Analog Optical Switch") == "Analog Optical Switch"
    assert value("keyboard", "switch_type", "Razer™ Green") == "Razer Green"


@pytest.mark.parametrize("category, name, text, expected", [
    ("controller", "vibration", "Dual rumble motors", True), ("mouse", "rgb_lighting", "Per-key RGB, 3 zones", True),
    ("monitor", "curved", "1800R", True), ("monitor", "curved", "Flat", False),
    ("controller", "hall_effect_sticks", "Hall effect sensors on both sticks", True),
    ("mousepad", "stitched_edges", "No stitching (laser-cut edges)", False),
    ("keyboard", "hot_swappable", "Hot-swap, 3/5-pin", True), ("controller", "vibration", "Blue", None),
])
def test_bools_described_instead_of_yes_no(category, name, text, expected):
    assert value(category, name, text) == expected


def test_a_list_stops_at_an_exclusion():
    assert value("controller", "platform", "Xbox Series X|S, PC (not compatible with PlayStation)") == ["PC", "Xbox"]


def test_a_maximum_field_takes_the_largest_of_several_figures():
    assert value("headset", "battery_life", "30 hours (ANC on), 40 hours (ANC off)") == 40
    assert value("mouse", "weight", "54 g (63 g with battery cover)") == 54  # weight is not a maximum


def test_usb_a_downstream_ports_are_a_usb_hub():
    assert value("monitor", "ports", "HDMI 2.1 x2, DP 1.4, 2x USB-A 3.2") == ["DisplayPort 1.4", "HDMI 2.1", "USB hub"]
