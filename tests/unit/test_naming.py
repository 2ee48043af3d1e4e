"""Batch names and tags: what they may hold, tag normalisation, the default name from a selection."""

import pytest

from engine.core.naming import MAX_NAME, check_name, check_tags, default_name


@pytest.mark.parametrize(("brands", "categories", "name"), [
    (["Razer"] * 3 + ["Logitech"] * 2, ["mice"] * 5, "Razer + Logitech mice, 5 products"),
    (["Razer"], ["mice"], "Razer mice, 1 product"),
    (["A", "B", "B", "C", "D"], ["mice", "keyboards", "mice", "mice", "mice"], "B + 3 more brands, 2 categories, 5 products"),
    ([], [], "Empty batch"),
    (["x" * 500] * 240, ["m" * 500] * 240, "x" * 39 + "… " + "m" * 29 + "…, 240 products"),
    (["Bad\x00Brand"], ["mice"], "1 brand, 1 product"),
])
def test_default_name_from_the_selection(brands, categories, name):
    assert default_name(brands, categories) == name
    assert len(name) <= MAX_NAME


def test_hostile_markup_is_kept_as_text():
    assert check_name("<img src=x onerror=alert(1)>") == "<img src=x onerror=alert(1)>"


def test_tags_are_stripped_case_folded_and_unique():
    assert check_tags([" Q4 ", "q4", "Straße", "  two   words "]) == ["q4", "strasse", "two words"]
