"""Catalog problems: each reported with its file, line and field; the entry is left out and the rest loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from engine.core.catalog import CORE_COLUMNS, load_catalog
from engine.core.errors import CatalogError
from tests.support.catalog_files import GOOD_TREE, HEADER, only_problem, product, write, write_jsonl, write_tree
from tests.support.unprivileged import unprivileged

# --- problems: each reported with file, line and field; the row is left out, the rest loads ---


def test_unreadable_file_is_reported_and_others_load(tmp_path):
    root = write_tree(tmp_path / "cat", GOOD_TREE)
    (root / "mice/products/gone.json").symlink_to(root / "nowhere.json")
    catalog = load_catalog(root)
    problem = only_problem(catalog)
    assert problem.source == str(root / "mice/products/gone.json")
    assert problem.message == "cannot read file: No such file or directory"
    assert catalog.products["product_id"].tolist() == ["g502"]


def test_file_that_is_not_utf8_is_reported(tmp_path):
    root = write_tree(tmp_path / "cat", {**GOOD_TREE, "mice/products/bad.json": b'{"brand": "\xff"}'})
    problem = only_problem(load_catalog(root))
    assert problem.source.endswith("bad.json")
    assert problem.message.startswith("cannot read file: not UTF-8 text")


def test_jsonl_line_that_is_not_utf8_is_reported_with_its_line(tmp_path):
    path = write(tmp_path / "c.jsonl", json.dumps(product("p1")).encode() + b'\n{"brand": "\xff"}\n')
    catalog = load_catalog(path)
    assert (only_problem(catalog).line, catalog.products["product_id"].tolist()) == (2, ["p1"])


def test_malformed_json_file_reports_line_and_column(tmp_path):
    bad = '{\n  "brand": "L",\n  "model" "M"\n}'
    root = write_tree(tmp_path / "cat", {**GOOD_TREE, "mice/products/bad.json": bad})
    problem = only_problem(load_catalog(root))
    assert (problem.source, problem.line) == (str(root / "mice/products/bad.json"), 3)
    assert problem.message == "malformed JSON at line 3 column 11: Expecting ':' delimiter"


def test_malformed_jsonl_line_is_reported_and_other_lines_load(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [product("p1"), '{"product_id": "p2",', "", product("p3")])
    catalog = load_catalog(path)
    problem = only_problem(catalog)
    assert (problem.source, problem.line) == (str(path), 2)
    assert problem.message.startswith("malformed JSON at line 2 column 21:")
    assert catalog.products["product_id"].tolist() == ["p1", "p3"]


def test_jsonl_blank_lines_are_skipped_and_line_numbers_stay_physical(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", ["", product("p1"), "   ", product("p2", brand="")])
    assert only_problem(load_catalog(path)).line == 4


@pytest.mark.parametrize("content, kind", [("[1, 2]", "array"), ('"x"', "string"), ("null", "null")])
def test_tree_file_that_is_not_an_object_is_reported(tmp_path, content, kind):
    root = write_tree(tmp_path / "cat", {**GOOD_TREE, "mice/products/bad.json": content})
    problem = only_problem(load_catalog(root))
    assert (problem.source, problem.message) == (str(root / "mice/products/bad.json"),
                                                 f"expected a JSON object, got {kind}")


def test_jsonl_line_that_is_not_an_object_is_reported(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [product("p1"), [1, 2]])
    problem = only_problem(load_catalog(path))
    assert (problem.line, problem.message) == (2, "expected a JSON object, got array")


def test_json_list_element_that_is_not_an_object_is_reported_by_index(tmp_path):
    path = write(tmp_path / "c.json", json.dumps([product("p1"), 42, product("p3")]))
    catalog = load_catalog(path)
    problem = only_problem(catalog)
    assert (problem.line, problem.message) == (2, "expected a JSON object, got number")
    assert catalog.products["product_id"].tolist() == ["p1", "p3"]


def test_json_file_that_is_not_a_list_raises_as_empty_catalog(tmp_path):
    path = write(tmp_path / "c.json", json.dumps(product("p1")))
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert err.value.problems[0].message == "expected a JSON array of product objects, got object"


@pytest.mark.parametrize("field", ["brand", "model", "category", "product_id"])
def test_missing_required_field_is_reported(tmp_path, field):
    bad = product("p2")
    del bad[field]
    path = write_jsonl(tmp_path / "c.jsonl", [product("p1"), bad])
    catalog = load_catalog(path)
    problem = only_problem(catalog)
    assert (problem.source, problem.line, problem.field) == (str(path), 2, field)
    assert problem.message == f"{field} is missing"
    assert catalog.products["product_id"].tolist() == ["p1"]


@pytest.mark.parametrize("field", ["brand", "model", "category", "product_id"])
def test_blank_required_field_is_reported(tmp_path, field):
    bad = dict(zip(CORE_COLUMNS, ["p2", "mice", "L", "M", ""])) | {field: "   "}
    path = write(tmp_path / "c.csv", HEADER + "p1,mice,L,M,\n" + ",".join(bad.values()) + "\n")
    catalog = load_catalog(path)
    problem = only_problem(catalog)
    assert (problem.line, problem.field, problem.message) == (3, field, f"{field} is empty")
    assert catalog.products["product_id"].tolist() == ["p1"]


@pytest.mark.parametrize("field, value, message", [
    ("brand", 42, "brand must be a string, got number 42"),
    ("brand", ["Logitech"], "brand must be a string, got array ['Logitech']"),
    ("model", True, "model must be a string, got boolean True"),
    ("variant", 2, "variant must be a string or null, got number 2"),
    ("category", {"x": 1}, "category must be a string, got object {'x': 1}"),
])
def test_wrong_type_is_reported(tmp_path, field, value, message):
    path = write_jsonl(tmp_path / "c.jsonl", [product("p1"), product("p2", **{field: value})])
    catalog = load_catalog(path)
    problem = only_problem(catalog)
    assert (problem.line, problem.field, problem.message, problem.product_id) == (2, field, message, "p2")
    assert catalog.products["product_id"].tolist() == ["p1"]


def test_parquet_column_of_wrong_type_is_reported_per_row(tmp_path):
    path = tmp_path / "c.parquet"
    pd.DataFrame({"product_id": ["p1", "p2"], "category": ["mice"] * 2, "brand": ["L", "R"],
                  "model": [1, None]}).to_parquet(path)
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert [(p.line, p.field, p.message) for p in err.value.problems] == [
        (1, "model", "model must be a string, got number 1.0"), (2, "model", "model is missing")]


@pytest.mark.parametrize("pid", ["-lead", "has space", "x" * 129, "ü1", "a/b"])
def test_invalid_product_id_is_reported(tmp_path, pid):
    path = write_jsonl(tmp_path / "c.jsonl", [product("ok:1.a_b-c"), product(pid)])
    catalog = load_catalog(path)
    problem = only_problem(catalog)
    assert (problem.line, problem.field, problem.product_id) == (2, "product_id", pid)
    assert problem.message.startswith(f"product_id {pid!r} is not valid")
    assert catalog.products["product_id"].tolist() == ["ok:1.a_b-c"]


def test_duplicate_product_id_keeps_first_and_names_where_it_is(tmp_path):
    path = write(tmp_path / "c.csv", HEADER + "p1,mice,First,M,\np2,mice,L,M,\np1,mice,Second,M,\n")
    catalog = load_catalog(path)
    problem = only_problem(catalog)
    assert (problem.line, problem.field, problem.product_id) == (4, "product_id", "p1")
    assert problem.message == (f"duplicate product_id 'p1': the first one, at {path}:2, is kept;"
                               " this one is not loaded")
    assert catalog.products.set_index("product_id")["brand"].to_dict() == {"p1": "First", "p2": "L"}


def test_duplicate_ignores_an_earlier_row_that_was_not_loaded(tmp_path):
    path = write(tmp_path / "c.csv", HEADER + "p1,mice,,M,\np1,mice,Kept,M,\n")
    catalog = load_catalog(path)
    assert [(p.line, p.message) for p in catalog.problems] == [(2, "brand is empty")]
    assert catalog.products["brand"].tolist() == ["Kept"]


def test_duplicate_across_tree_files_keeps_the_first_in_sorted_walk_order(tmp_path):
    root = write_tree(tmp_path / "cat", {
        "mice/products/x1.json": {"brand": "Second", "model": "M"},
        "keyboards/products/x1.json": {"brand": "First", "model": "K"},
    })
    catalog = load_catalog(root)
    problem = only_problem(catalog)
    assert problem.source == str(root / "mice/products/x1.json")
    assert f"at {root / 'keyboards/products/x1.json'}, is kept" in problem.message
    assert catalog.products["brand"].tolist() == ["First"]


def test_category_that_disagrees_with_its_folder_is_reported(tmp_path):
    root = write_tree(tmp_path / "cat", {**GOOD_TREE, "mice/products/k70.json":
                                         {"brand": "Corsair", "model": "K70", "category": "keyboards"}})
    catalog = load_catalog(root)
    problem = only_problem(catalog)
    assert (problem.source, problem.field) == (str(root / "mice/products/k70.json"), "category")
    assert problem.message == "category 'keyboards' does not match its folder 'mice'"
    assert catalog.products["product_id"].tolist() == ["g502"]


def test_product_id_that_disagrees_with_its_file_name_is_reported(tmp_path):
    root = write_tree(tmp_path / "cat", {**GOOD_TREE, "mice/products/k70.json":
                                         {"brand": "Corsair", "model": "K70", "product_id": "k70-v2"}})
    problem = only_problem(load_catalog(root))
    assert (problem.source, problem.field) == (str(root / "mice/products/k70.json"), "product_id")
    assert problem.message == "product_id 'k70-v2' does not match its file name 'k70'"


@pytest.mark.parametrize("rel", ["stray.json", "mice/g502.json", "mice/products/old/x.json", "mice/kit/x.json"])
def test_json_file_outside_the_layout_is_reported(tmp_path, rel):
    root = write_tree(tmp_path / "cat", {**GOOD_TREE, rel: {"brand": "L", "model": "M"}})
    problem = only_problem(load_catalog(root))
    assert problem.source == str(root / rel)
    assert problem.message == "not in the <category>/products/<product_id>.json layout; not loaded"


def test_csv_without_a_required_column_is_reported_once(tmp_path):
    path = write(tmp_path / "c.csv", "product_id,category,model\np1,mice,M\n")
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert [(p.line, p.field) for p in err.value.problems] == [(1, "brand")]
    assert "required column 'brand' is missing (columns: product_id, category, model)" in str(err.value)


@pytest.mark.parametrize("extra_row", ["", "p2,L,L,mice,M,x\n"])  # the fast reader and the ragged-row reader
def test_csv_with_a_core_column_twice_is_reported_once(tmp_path, extra_row):
    path = write(tmp_path / "c.csv", "product_id,brand,brand,category,model\np1,A,B,mice,M\n" + extra_row)
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert (1, "brand") in [(p.line, p.field) for p in err.value.problems]
    assert "column 'brand' appears more than once" in str(err.value)


def test_csv_row_longer_than_header_is_reported_and_others_load(tmp_path):
    path = write(tmp_path / "c.csv", HEADER + 'p1,mice,L,"M\n2",\np2,mice,L,M,,extra\np3,mice,L,M,\n')
    catalog = load_catalog(path)
    problem = only_problem(catalog)
    assert (problem.line, problem.message) == (4, "6 fields, header has 5; not loaded")
    assert catalog.products["product_id"].tolist() == ["p1", "p3"]


def test_csv_where_every_row_has_a_trailing_comma_loads_nothing_shifted(tmp_path):
    """pandas took the extra cell for an index and shifted every column left (product_id became the category)."""
    path = write(tmp_path / "catalog.csv", HEADER + "p1,mice,L,M,,\np2,mice,L,M,x,\n")
    with pytest.raises(CatalogError) as err:
        load_catalog(path)
    assert [str(p) for p in err.value.problems] == [f"{path}:2: 6 fields, header has 5; not loaded",
                                                    f"{path}:3: 6 fields, header has 5; not loaded"]


def test_csv_row_shorter_than_header_is_reported_and_others_load(tmp_path):
    path = write(tmp_path / "c.csv", HEADER + "p1,mice,L,M\np2,mice,L,M,\n")
    catalog = load_catalog(path)
    assert (only_problem(catalog).line, only_problem(catalog).message) == (2, "4 fields, header has 5; not loaded")
    assert catalog.products["product_id"].tolist() == ["p2"]


def test_csv_unbalanced_quote_is_reported_where_it_opens_and_the_rest_loads(tmp_path):
    path = write(tmp_path / "c.csv", HEADER + 'p1,mice,L,M,\np2,mice,L,"M,\np3,mice,L,M,\np4,mice,L,M,\n')
    catalog = load_catalog(path)
    problem = only_problem(catalog)
    assert (problem.line, problem.field) == (3, None)
    assert problem.message.startswith("unbalanced quote: the quoted field that opens on this line never closes")
    assert catalog.products["product_id"].tolist() == ["p1", "p3", "p4"]
    with pytest.raises(CatalogError, match="unbalanced quote"):
        load_catalog(path, strict=True)


def test_csv_text_after_a_closing_quote_is_reported(tmp_path):
    path = write(tmp_path / "c.csv", HEADER + 'p1,mice,L,"M"x,\np2,mice,L,M,\n')
    catalog = load_catalog(path)
    assert (only_problem(catalog).line, catalog.products["product_id"].tolist()) == (2, ["p2"])
    assert only_problem(catalog).message.startswith("malformed CSV:")


def test_csv_line_numbers_are_physical_lines(tmp_path):
    text = HEADER + 'p1,mice,L,"two\nline model",\n\np2,mice,L,"a\r\nb\nc",\r\n\np3,mice,,M,\n'
    problem = only_problem(load_catalog(write(tmp_path / "c.csv", text)))
    assert (problem.line, problem.field) == (9, "brand")


# --- text that is not valid Unicode: the entry is left out with its place; nothing of it loads ---

LONE = '"L\\ud800"'  # JSON text of a string whose escape is an unpaired surrogate


def test_tree_file_with_an_unpaired_surrogate_is_reported_and_others_load(tmp_path):
    """json.loads accepts "\\ud800"; pandas' string dtype and DuckDB then refuse the text (it crashed the loader)."""
    root = write_tree(tmp_path / "cat", {**GOOD_TREE, "mice/products/bad.json": '{"brand": %s, "model": "M"}' % LONE})
    catalog = load_catalog(root)
    problem = only_problem(catalog)
    assert (problem.source, problem.line, problem.field) == (str(root / "mice/products/bad.json"), None, "brand")
    assert problem.message == "brand holds an unpaired surrogate '\\ud800', which is not Unicode text; not loaded"
    assert catalog.products["product_id"].tolist() == ["g502"]


@pytest.mark.parametrize("record", [
    '{"product_id": "p2", "category": "mice", "brand": "L", "model": "M", "notes": ["ok", {"x": %s}]}' % LONE,
    '{"product_id": "p2", "category": "mice", "brand": "L", "model": "M", %s: 1}' % LONE,
])
def test_jsonl_line_with_an_unpaired_surrogate_anywhere_is_reported(tmp_path, record):
    path = write_jsonl(tmp_path / "c.jsonl", [product("p1"), record, '{"product_id": "p3", "category": "mice",'
                                              ' "brand": "\\ud83d\\ude00", "model": "M"}'])
    catalog = load_catalog(path)
    problem = only_problem(catalog)
    assert problem.line == 2 and problem.field in ("notes", "L\\ud800") and "unpaired surrogate" in problem.message
    assert catalog.products["brand"].tolist() == ["Logitech", "\N{GRINNING FACE}"]  # a proper pair is fine


def test_json_list_element_with_an_unpaired_surrogate_is_reported_by_index(tmp_path):
    path = write(tmp_path / "c.json", '[%s, {"product_id": "p2", "category": "mice", "brand": "L", "model": %s}]'
                 % (json.dumps(product("p1")), LONE))
    catalog = load_catalog(path)
    assert (only_problem(catalog).line, only_problem(catalog).field) == (2, "model")
    assert catalog.products["product_id"].tolist() == ["p1"]


def test_tree_folder_name_that_is_not_utf8_is_reported(tmp_path):
    root = write_tree(tmp_path / "cat", GOOD_TREE)
    folder = root / os.fsdecode(b"mi\xffce") / "products"
    write(folder / "x.json", json.dumps({"brand": "L", "model": "M"}))
    catalog = load_catalog(root)
    problem = only_problem(catalog)
    assert problem.source == f"{root}/mi\\udcffce/products/x.json"  # escaped: a problem is plain text too
    assert problem.message == "file name is not valid UTF-8; not loaded"
    assert catalog.products["product_id"].tolist() == ["g502"]


def test_csv_row_with_invalid_utf8_is_reported_at_its_line_and_others_load(tmp_path):
    path = write(tmp_path / "c.csv", HEADER.encode() + b"p1,mice,L,M,\np2,mice,L\xff,M,\np3,mice,L,M,\n")
    catalog = load_catalog(path)
    problem = only_problem(catalog)
    assert (problem.line, problem.field, problem.product_id) == (3, "brand", "p2")
    assert problem.message == "brand is not valid UTF-8 (byte 0xFF); not loaded"
    assert catalog.products["product_id"].tolist() == ["p1", "p3"]


def test_parquet_row_with_invalid_utf8_is_reported_by_row_and_others_load(tmp_path):
    """pyarrow keeps such bytes in a string column; converting them raised an ArrowException (a traceback)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "c.parquet"
    brands = pa.array([b"L", b"R\xfe", b"Z"], pa.binary()).view(pa.string())  # view: no UTF-8 check
    pq.write_table(pa.table({"product_id": ["p1", "p2", "p3"], "category": ["mice"] * 3, "brand": brands,
                             "model": ["M"] * 3}), path)
    catalog = load_catalog(path)
    problem = only_problem(catalog)
    assert (problem.line, problem.field, problem.message) == (2, "brand", "brand is not valid UTF-8 (byte 0xFE); not loaded")
    assert catalog.products["product_id"].tolist() == ["p1", "p3"]


# --- permissions, for real: a child process without root's power to read anything -------------

_PROBLEMS = ("import json, sys; from engine.core.catalog import load_catalog;"
             "print(json.dumps([[p.source, p.message] for p in load_catalog(sys.argv[1]).problems]))")


def problems_in_child(root: Path) -> list[list[str]]:
    result = subprocess.run(unprivileged([sys.executable, "-c", _PROBLEMS, str(root)]), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_unreadable_directory_of_a_tree_is_reported_and_the_rest_loads(tmp_path):
    """rglob skipped a directory it could not list, silently."""
    root = write_tree(tmp_path / "cat", {**GOOD_TREE, "keyboards/products/k70.json": {"brand": "C", "model": "K"}})
    (root / "keyboards/products").chmod(0)
    try:
        problems = problems_in_child(root)
    finally:
        (root / "keyboards/products").chmod(0o755)
    assert problems == [[str(root / "keyboards/products"), "cannot read directory: Permission denied; nothing in it"
                         " is loaded"]]


def test_unreadable_file_of_a_tree_is_reported(tmp_path):
    root = write_tree(tmp_path / "cat", {**GOOD_TREE, "mice/products/locked.json": {"brand": "C", "model": "K"}})
    (root / "mice/products/locked.json").chmod(0)
    assert problems_in_child(root) == [[str(root / "mice/products/locked.json"), "cannot read file: Permission denied"]]


def test_parquet_with_product_id_as_index_and_categorical_columns_loads(tmp_path):
    path = tmp_path / "c.parquet"
    frame = pd.DataFrame([product("p2"), product("p1"), product("p0")]).astype({"category": "category"})
    frame.iloc[:2].set_index("product_id").to_parquet(path)
    catalog = load_catalog(path)
    assert catalog.problems == ()
    assert catalog.products[["product_id", "category"]].values.tolist() == [["p1", "mice"], ["p2", "mice"]]


def test_parquet_rows_are_numbered_from_one(tmp_path):
    path = tmp_path / "c.parquet"
    pd.DataFrame([product("p1"), product("p2", brand=" ")]).to_parquet(path)
    assert only_problem(load_catalog(path)).line == 2


def test_a_row_with_several_problems_reports_each(tmp_path):
    path = write(tmp_path / "c.csv", HEADER + "p1,mice,L,M,\nbad id,,,M,\n")
    fields = [p.field for p in load_catalog(path).problems]
    assert fields == ["product_id", "category", "brand"]
