"""Catalog loading: every format, every problem kind, and the lenient/strict policy."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.catalog import CORE_COLUMNS, default_catalog_path, load_catalog
from engine.core.errors import CatalogError
from tests.support.catalog_files import GOOD_TREE, HEADER, product, write, write_jsonl, write_tree

# --- formats ---------------------------------------------------------------------------------


def test_tree_takes_category_from_folder_and_product_id_from_file_name(tmp_path):
    root = write_tree(tmp_path / "cat", {
        "mice/products/lg-g502.json": {"brand": "Logitech", "model": "G502", "variant": "X"},
        "keyboards/products/k70.json": {"brand": "Corsair", "model": "K70", "category": "keyboards",
                                        "product_id": "k70"},
    })
    catalog = load_catalog(root)
    assert catalog.problems == ()
    assert catalog.products[list(CORE_COLUMNS)].values.tolist() == [
        ["k70", "keyboards", "Corsair", "K70", ""],
        ["lg-g502", "mice", "Logitech", "G502", "X"],
    ]
    assert catalog.source == str(root)


def test_csv_loads(tmp_path):
    path = write(tmp_path / "c.csv", HEADER + "p1,mice,Logitech,G502,Hero\np2,mice,Razer,Viper,\n")
    products = load_catalog(path).products
    assert products["product_id"].tolist() == ["p1", "p2"]
    assert products["variant"].tolist() == ["Hero", ""]


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_jsonl_loads(tmp_path, suffix):
    path = write_jsonl(tmp_path / f"c{suffix}", [product("p1"), product("p2", brand="Razer")])
    assert load_catalog(path).products["brand"].tolist() == ["Logitech", "Razer"]


def test_parquet_loads(tmp_path):
    path = tmp_path / "c.parquet"
    pd.DataFrame([product("p2"), product("p1", variant=None)]).to_parquet(path)
    catalog = load_catalog(path)
    assert catalog.problems == ()
    assert catalog.products["product_id"].tolist() == ["p1", "p2"]


def test_json_list_loads(tmp_path):
    path = write(tmp_path / "c.json", json.dumps([product("p1"), product("p2")]))
    assert load_catalog(path).products["product_id"].tolist() == ["p1", "p2"]


def test_products_frame_has_core_columns_first_as_text_sorted_with_range_index(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [product("b", price=10), product("a", price=20)])
    products = load_catalog(path).products
    assert tuple(products.columns[:5]) == CORE_COLUMNS
    assert all(pd.api.types.is_string_dtype(products[c]) for c in CORE_COLUMNS)
    assert products["product_id"].tolist() == ["a", "b"]
    assert isinstance(products.index, pd.RangeIndex) and products.index.tolist() == [0, 1]


def test_extra_columns_are_kept_as_is(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [product("p1", dpi=25600, specs={"weight_g": 89})])
    row = load_catalog(path).products.iloc[0]
    assert row["dpi"] == 25600
    assert row["specs"] == {"weight_g": 89}


def test_csv_extra_columns_are_kept_as_text(tmp_path):
    path = write(tmp_path / "c.csv", HEADER.strip() + ",sku\np1,mice,L,M,,00123\n")
    assert load_catalog(path).products["sku"].tolist() == ["00123"]


def test_null_or_absent_variant_becomes_empty_string(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [product("p1", variant=None), product("p2")])
    assert load_catalog(path).products["variant"].tolist() == ["", ""]


def test_csv_without_variant_column_gets_empty_variant(tmp_path):
    path = write(tmp_path / "c.csv", "product_id,category,brand,model\np1,mice,L,M\n")
    assert load_catalog(path).products["variant"].tolist() == [""]


def test_core_fields_are_stripped(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"product_id": " p1 ", "category": " mice", "brand": "L ",
                                               "model": "\tG502\n", "variant": "  "}])
    catalog = load_catalog(path)
    assert catalog.problems == ()
    assert catalog.products[list(CORE_COLUMNS)].values.tolist() == [["p1", "mice", "L", "G502", ""]]


def test_csv_na_brand_is_text_not_missing(tmp_path):
    path = write(tmp_path / "c.csv", HEADER + "p1,mice,NA,null,N/A\n")
    catalog = load_catalog(path)
    assert catalog.problems == ()
    assert catalog.products[["brand", "model", "variant"]].values.tolist() == [["NA", "null", "N/A"]]


def test_non_json_files_in_tree_are_ignored(tmp_path):
    root = write_tree(tmp_path / "cat", {**GOOD_TREE, "README.md": "# hi", "mice/products/notes.txt": "x"})
    assert load_catalog(root).problems == ()


# --- policy: strict, and what always raises -------------------------------------------------


def test_strict_raises_with_every_problem(tmp_path):
    path = write(tmp_path / "c.csv", HEADER + "p1,mice,L,M,\np2,mice,,M,\np1,mice,L,M,\n")
    with pytest.raises(CatalogError) as err:
        load_catalog(path, strict=True)
    assert [(p.line, p.field) for p in err.value.problems] == [(3, "brand"), (4, "product_id")]
    assert str(err.value).startswith(f"catalog {path} has 2 problems")
    assert f"{path}:3 [brand]: brand is empty" in str(err.value)


def test_strict_loads_a_clean_catalog(tmp_path):
    path = write(tmp_path / "c.csv", HEADER + "p1,mice,L,M,\n")
    assert len(load_catalog(path, strict=True).products) == 1


def test_missing_path_raises(tmp_path):
    with pytest.raises(CatalogError, match="^catalog not found: .*nope.csv$"):
        load_catalog(tmp_path / "nope.csv")


def test_unsupported_extension_raises_naming_the_supported_ones(tmp_path):
    path = write(tmp_path / "c.xlsx", "x")
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert str(err.value) == (f"unsupported catalog format '.xlsx': {path}; use a directory (JSON tree)"
                              " or a .csv, .json, .jsonl, .ndjson, .parquet file")


def test_catalog_without_a_valid_product_raises_with_its_problems(tmp_path):
    path = write(tmp_path / "c.csv", HEADER + "p1,mice,,M,\n")
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert err.value.message == f"catalog {path} has no valid products (1 problem)"
    assert [p.field for p in err.value.problems] == ["brand"]


@pytest.mark.parametrize("name, content", [("c.csv", ""), ("c.csv", HEADER), ("c.jsonl", "\n"), ("c.json", "[]")])
def test_empty_file_raises(tmp_path, name, content):
    with pytest.raises(CatalogError, match="has no valid products"):
        load_catalog(write(tmp_path / name, content))


def test_empty_directory_raises(tmp_path):
    with pytest.raises(CatalogError, match="has no valid products"):
        load_catalog(tmp_path)


# --- the Catalog object ---------------------------------------------------------------------


def test_brands_and_categories_are_sorted_case_insensitively(tmp_path):
    rows = [product("p1", brand="razer"), product("p2", brand="ASUS", category="kb"),
            product("p3", brand="Logitech"), product("p4", brand="razer")]
    catalog = load_catalog(write_jsonl(tmp_path / "c.jsonl", rows))
    assert catalog.brands == ["ASUS", "Logitech", "razer"]
    assert catalog.categories == ["kb", "mice"]


def test_summary_counts_products_brands_categories_and_problems(tmp_path):
    path = write(tmp_path / "c.csv", HEADER + "p1,mice,b,M,\np2,kb,A,M,\np3,mice,A,M,\np4,mice,,M,\n")
    assert load_catalog(path).summary() == {
        "source": str(path), "products": 3, "brands": 2, "categories": 2,
        "brand_counts": {"A": 2, "b": 1}, "category_counts": {"kb": 1, "mice": 2}, "problems": 1,
    }


def test_default_catalog_path_is_fixtures_catalog_in_the_repo():
    assert default_catalog_path() == Path(__file__).resolve().parents[2] / "fixtures" / "catalog"


@pytest.mark.skipif(not default_catalog_path().exists(), reason="embedded catalog not generated yet")
def test_embedded_catalog_loads_without_problems():
    catalog = load_catalog(strict=True)
    assert catalog.problems == () and len(catalog.products) > 0


# --- property: any valid CSV round-trips ------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from(',"\n'), min_size=1,
                max_size=12).filter(lambda s: s.strip() == s)
_row = st.tuples(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,15}", fullmatch=True), _text, _text, _text,
                 st.one_of(st.just(""), _text))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row, min_size=1, max_size=25, unique_by=lambda r: r[0]))
def test_csv_of_valid_rows_round_trips(tmp_path, rows):
    path = tmp_path / "c.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([CORE_COLUMNS, *rows])
    catalog = load_catalog(path)
    assert catalog.problems == ()
    assert catalog.products[list(CORE_COLUMNS)].values.tolist() == sorted(map(list, rows))
