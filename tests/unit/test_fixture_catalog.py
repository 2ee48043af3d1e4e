"""The embedded default catalog (fixtures/catalog) and the synthetic bench catalog keep their contract."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fixtures import generate_catalog  # noqa: E402
from fixtures.vocabulary import REQUIRED_CATEGORIES, brands_by_size, product_id  # noqa: E402

CATALOG = ROOT / "fixtures" / "catalog"
REQUIRED_FIELDS = ("product_id", "category", "brand", "model")
ID_PATTERN = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def _load_make_catalog():
    spec = importlib.util.spec_from_file_location("bench_make_catalog", ROOT / "bench" / "make_catalog.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_catalog = _load_make_catalog()


@pytest.fixture(scope="module")
def committed() -> dict[Path, dict]:
    """Every committed product file, parsed, keyed by its path."""
    return {path: json.loads(path.read_text(encoding="utf-8")) for path in sorted(CATALOG.glob("*/products/*.json"))}


@pytest.fixture(scope="module")
def products(committed) -> list[dict]:
    return list(committed.values())


def test_catalog_has_at_least_1500_products(products):
    assert len(products) >= 1500


def test_catalog_has_at_least_40_brands(products):
    assert len({p["brand"] for p in products}) >= 40


def test_required_categories_are_present(products):
    assert set(REQUIRED_CATEGORIES) <= {p["category"] for p in products}


def test_several_brands_span_three_or_more_categories(products):
    categories = {}
    for p in products:
        categories.setdefault(p["brand"], set()).add(p["category"])
    wide = {b for b, cats in categories.items() if len(cats) >= 3}
    assert len(wide) >= 6
    assert {"Logitech", "Razer", "Corsair", "SteelSeries", "HyperX", "ASUS"} <= wide


def test_product_ids_are_unique_and_equal_file_stems(committed):
    ids = [p["product_id"] for p in committed.values()]
    assert len(ids) == len(set(ids))
    assert all(path.stem == p["product_id"] for path, p in committed.items())


def test_product_ids_are_lowercase_slugs_built_from_the_product(products):
    for p in products:
        pid = p["product_id"]
        assert ID_PATTERN.fullmatch(pid) and len(pid) <= 120, pid
        assert pid == product_id(p["category"], p["brand"], p["model"], p["variant"])


def test_every_file_category_equals_its_folder(committed):
    assert all(path.parent.parent.name == p["category"] for path, p in committed.items())


def test_required_fields_are_non_empty_strings_and_variant_a_string(products):
    for p in products:
        for field in REQUIRED_FIELDS:
            assert isinstance(p[field], str) and p[field].strip() == p[field] != "", (p, field)
        assert isinstance(p["variant"], str), p
        assert isinstance(p["release_year"], int) and 2010 <= p["release_year"] <= 2025, p
        assert isinstance(p["sku"], str) and p["sku"], p


def test_at_least_30_percent_of_products_have_no_variant(products):
    empty = sum(1 for p in products if p["variant"] == "")
    assert 0.30 <= empty / len(products) <= 0.60


def test_big_brands_have_more_products_than_small_ones(products):
    counts = Counter(p["brand"] for p in products)
    assert counts["Logitech"] > 100 and counts["Razer"] > 100
    assert min(counts.values()) < 10


def test_natural_sort_traps_are_in_the_catalog(products):
    logitech_mice = {p["model"] for p in products if p["brand"] == "Logitech" and p["category"] == "mouse"}
    assert {"G305", "G502", "G502 X", "G502 X Plus"} <= logitech_mice
    keychron = {p["model"] for p in products if p["brand"] == "Keychron"}
    assert {"Q2", "Q10", "K2", "K10"} <= keychron


def test_files_are_pretty_printed_with_sorted_keys_and_trailing_newline(committed):
    for path, p in committed.items():
        assert path.read_bytes() == (json.dumps(p, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def test_regenerating_reproduces_the_committed_tree_byte_for_byte(tmp_path):
    generate_catalog.generate(tmp_path)
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    kept = {p.relative_to(CATALOG): p.read_bytes() for p in CATALOG.glob("*/products/*") if p.is_file()}
    assert sorted(fresh) == sorted(kept), "run: python fixtures/generate_catalog.py"
    assert fresh == kept, "run: python fixtures/generate_catalog.py"


def test_generate_deletes_stale_product_files_and_keeps_other_files(tmp_path):
    stale = tmp_path / "mouse" / "products" / "mouse-acme-gone.json"
    old_category = tmp_path / "toaster" / "products" / "toaster-acme-t1.json"
    readme = tmp_path / "README.md"
    for path in (stale, old_category, readme):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}\n")
    generate_catalog.generate(tmp_path)
    assert not stale.exists() and not old_category.parent.parent.exists()
    assert readme.exists()


def test_make_catalog_gives_unique_ids_for_2000_products():
    rows = make_catalog.generate_rows(2000, seed=0)
    assert all(len(column) == 2000 for column in rows.values())
    assert len(set(rows["product_id"])) == 2000
    assert all(ID_PATTERN.fullmatch(pid) and len(pid) <= 120 for pid in rows["product_id"])


def test_make_catalog_is_deterministic_for_a_seed():
    assert make_catalog.generate_rows(2000, seed=7) == make_catalog.generate_rows(2000, seed=7)
    assert make_catalog.generate_rows(2000, seed=7) != make_catalog.generate_rows(2000, seed=8)


def test_make_catalog_distribution_looks_real():
    rows = make_catalog.generate_rows(2000, seed=0)
    brands = Counter(rows["brand"])
    empty = sum(1 for v in rows["variant"] if v == "") / 2000
    assert 0.40 <= empty <= 0.50
    assert len(brands) >= 40 and len(brands_by_size()) >= 60
    assert brands.most_common(1)[0][1] > 10 * min(brands.values())  # Zipf-like: a long tail
    assert all(pid == product_id(c, b, m, v) for pid, c, b, m, v in zip(
        rows["product_id"], rows["category"], rows["brand"], rows["model"], rows["variant"]))


def test_make_catalog_writes_one_parquet_file(tmp_path):
    out = tmp_path / "sub" / "catalog.parquet"
    make_catalog.main(["--n", "500", "--out", str(out), "--seed", "3"])
    table = pq.read_table(out)
    assert table.num_rows == 500
    assert table.column_names == list(make_catalog.COLUMNS)
