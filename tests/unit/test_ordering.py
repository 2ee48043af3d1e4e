"""Derived run order: brand priority, then natural model, variant, product_id (DESIGN §2)."""

import tracemalloc

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.plan import brand_priority, order_items
from tests.support.catalogs import products_frame


def _order(df, priority):
    return order_items(df, priority)["product_id"].tolist()


def test_brand_priority_puts_pins_then_order_then_rest_alphabetically():
    brands = ["Zowie", "asus", "Razer", "Logitech", "Corsair"]
    assert brand_priority(brands, ["Razer", "Logitech"], ["Zowie"]) == ["Zowie", "Razer", "Logitech", "asus", "Corsair"]


def test_brand_priority_alphabetical_is_case_insensitive():
    assert brand_priority(["b", "A", "C"]) == ["A", "b", "C"]


def test_brand_priority_ignores_duplicates_and_brands_not_selected():
    assert brand_priority(["A", "B"], ["B", "B", "Nope"], ["B"]) == ["B", "A"]


def test_pinned_brand_wins_over_its_place_in_the_brand_order():
    assert brand_priority(["A", "B", "C"], ["A", "B", "C"], ["C"]) == ["C", "A", "B"]


def test_models_sort_naturally_within_a_brand():
    df = products_frame([
        ("p1", "mouse", "Logitech", "G502 X", ""),
        ("p2", "mouse", "Logitech", "G502", ""),
        ("p3", "mouse", "Logitech", "G305", ""),
        ("p4", "mouse", "Logitech", "g502 x plus", ""),
    ])
    assert _order(df, ["Logitech"]) == ["p3", "p2", "p1", "p4"]


def test_numbers_compare_as_numbers():
    df = products_frame([("a", "k", "B", "Model 10", ""), ("b", "k", "B", "Model 2", "")])
    assert _order(df, ["B"]) == ["b", "a"]


def test_model_sort_ignores_case():
    df = products_frame([("a", "k", "B", "beta", ""), ("b", "k", "B", "Alpha", ""), ("c", "k", "B", "ALPHA 2", "")])
    assert _order(df, ["B"]) == ["b", "c", "a"]


def test_empty_variant_comes_before_named_variants_then_variants_naturally():
    df = products_frame([
        ("c", "m", "B", "X", "Gen 10"), ("b", "m", "B", "X", "Gen 2"), ("a", "m", "B", "X", ""),
    ])
    assert _order(df, ["B"]) == ["a", "b", "c"]


def test_product_id_breaks_remaining_ties():
    df = products_frame([("z", "m", "B", "X", "Black"), ("a", "m", "B", "X", "Black")])
    assert _order(df, ["B"]) == ["a", "z"]


def test_remaining_ties_break_in_code_point_order_as_python_sorts_text():
    ids = ["é1", "e1", "Z", "ß", "😀", "a", "E1", "\u00a0x", "a\u0301"]
    df = products_frame([(i, "m", "B", "X", "Black") for i in ids])
    assert _order(df, ["B"]) == sorted(ids)
    models = ["02", "2", "Ä", "A", "a"]  # "02" and "2" are the same number: the raw text breaks the tie
    df = products_frame([(f"p{n}", "m", "B", model, "") for n, model in enumerate(models)])
    assert [df.set_index("product_id").loc[p, "model"] for p in _order(df, ["B"])] == ["02", "2", "A", "a", "Ä"]


def test_one_long_id_does_not_make_ordering_hold_every_id_at_its_width():
    """Text is ranked as Arrow strings: a numpy fixed-width array held 20,000 ids at 400 characters each (32 MB)."""
    rows = [(f"id{n:05d}", "m", "B", f"M{n % 997}", "") for n in range(20_000)]
    rows[7] = ("x" * 400, "m", "B", "M7" + "y" * 400, "")
    df = products_frame(rows)
    tracemalloc.start()
    try:
        ordered = order_items(df, ["B"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(ordered) == 20_000 and peak < 12 * 2**20, f"{peak / 2**20:.1f} MB"


def test_brand_priority_dominates_model_order():
    df = products_frame([("l", "m", "Logitech", "A1", ""), ("r", "m", "Razer", "Z9", "")])
    assert _order(df, ["Razer", "Logitech"]) == ["r", "l"]


def test_seq_numbers_from_one_in_run_order():
    df = products_frame([("b", "m", "B", "2", ""), ("a", "m", "A", "1", "")])
    ordered = order_items(df, ["A", "B"])
    assert ordered["seq"].tolist() == [1, 2] and ordered["product_id"].tolist() == ["a", "b"]


_text = st.text(alphabet="aAbB0129 -X", min_size=0, max_size=6)
_rows = st.lists(st.tuples(st.sampled_from(["Logitech", "Razer", "asus", "Zowie"]), _text, _text),
                 min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(rows=_rows, order=st.permutations(["Logitech", "Razer", "asus", "Zowie"]), data=st.data())
def test_order_depends_only_on_inputs_not_on_selection_order(rows, order, data):
    df = products_frame([(f"id{i}", "m", b, m or "M", v) for i, (b, m, v) in enumerate(rows)])
    shuffled = df.iloc[data.draw(st.permutations(list(range(len(df)))))].reset_index(drop=True)
    priority = brand_priority(df["brand"].unique(), order[:2])
    priority_shuffled = brand_priority(list(reversed(shuffled["brand"].unique())), order[:2])
    assert priority == priority_shuffled
    pd.testing.assert_frame_equal(order_items(df, priority), order_items(shuffled, priority_shuffled))
