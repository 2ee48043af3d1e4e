"""The wild pages corpus (fixtures/wild) is well formed: its sources point at documents, its gold is the
embedded gold for catalog products, every recorded statement is on its page, and it regenerates byte for byte."""

from __future__ import annotations

import gzip
import html
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WILD = ROOT / "fixtures" / "wild" / "corpus"
CATEGORIES = ("mouse", "keyboard", "monitor", "headset", "mousepad", "controller")
SOURCE_KEYS = ["source_id", "product_id", "category", "url", "domain", "tier", "doc_id", "layout"]


def _jsonl(path: Path) -> list[dict]:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


@pytest.fixture(scope="module")
def sources() -> list[dict]:
    return _jsonl(WILD / "sources.jsonl")


@pytest.fixture(scope="module")
def docs() -> dict[str, tuple[str, str]]:
    out = {}
    for cat in CATEGORIES:
        for row in _jsonl(WILD / "docs" / f"{cat}.jsonl.gz"):
            assert row["doc_id"] not in out, f"docs/{cat}.jsonl.gz: doc_id {row['doc_id']} appears twice"
            out[row["doc_id"]] = (cat, row["html"])
    return out


@pytest.fixture(scope="module")
def gold() -> list[dict]:
    return _jsonl(WILD / "gold.jsonl")


def test_every_source_has_its_document_in_its_category(sources, docs):
    assert sources, "sources.jsonl is empty"
    for i, s in enumerate(sources, 1):
        assert list(s) == SOURCE_KEYS, f"sources.jsonl line {i}: keys {list(s)}"
        assert s["tier"] in ("manufacturer", "lab_review", "retailer"), f"sources.jsonl line {i}: tier {s['tier']}"
        assert s["url"].startswith(f"https://{s['domain']}/"), f"sources.jsonl line {i}: url {s['url']} not on {s['domain']}"
        assert s["doc_id"] in docs, f"sources.jsonl line {i}: doc {s['doc_id']} missing"
        assert docs[s["doc_id"]][0] == s["category"], f"sources.jsonl line {i}: doc in docs/{docs[s['doc_id']][0]}"
    assert len({s["source_id"] for s in sources}) == len(sources), "source_id not unique"
    assert {s["doc_id"] for s in sources} == set(docs), "documents no source uses"


def test_products_pages_and_layouts(sources, gold):
    per_cat = Counter(g["category"] for g in gold)
    assert per_cat == dict.fromkeys(CATEGORIES, 50), per_cat
    pages = Counter(s["product_id"] for s in sources)
    assert set(pages) == {g["product_id"] for g in gold}, "a product without pages, or pages without gold"
    assert all(2 <= n <= 5 for n in pages.values()), Counter(pages.values())
    for pid in pages:
        domains = [s["domain"] for s in sources if s["product_id"] == pid]
        assert len(domains) == len(set(domains)), f"{pid}: two pages on one domain"
    layouts = Counter(s["layout"] for s in sources)
    assert len(layouts) >= 10, layouts


def test_gold_is_the_embedded_gold_for_catalog_products(gold):
    embedded = {g["product_id"]: g for g in _jsonl(ROOT / "fixtures" / "corpus" / "gold.jsonl")}
    catalog = {p.stem for p in (ROOT / "fixtures" / "catalog").glob("*/products/*.json")}
    assert [g["product_id"] for g in gold] == sorted(g["product_id"] for g in gold), "gold.jsonl not sorted"
    for g in gold:
        assert g["product_id"] in catalog, f"{g['product_id']} is not in fixtures/catalog"
        assert g == embedded[g["product_id"]], f"{g['product_id']}: gold differs from fixtures/corpus/gold.jsonl"


def test_choices_of_list_and_enum_gold_values_exist(gold):
    fields = {c: {f["name"]: f for f in json.loads((ROOT / "fixtures" / "fields" / f"{c}.json").read_text())["fields"]}
              for c in CATEGORIES}
    for g in gold:
        for name, value in g["fields"].items():
            f = fields[g["category"]][name]
            if f["type"] in ("list", "enum"):
                values = value if isinstance(value, list) else [value]
                assert set(values) <= set(f["choices"]), f"{g['product_id']}.{name}: {value}"


def test_every_recorded_statement_is_on_its_page_and_the_ceiling_is_high(sources, docs, gold):
    by_id = {s["source_id"]: s for s in sources}
    claims = _jsonl(WILD / "claims.jsonl.gz")
    gold_by = {g["product_id"]: g["fields"] for g in gold}
    stated_from_claims: dict[str, set[str]] = {}
    for c in claims:
        s = by_id[c["source_id"]]
        assert c["field"] in gold_by[s["product_id"]], f"claim on a field without gold: {c}"
        page = html.unescape(docs[s["doc_id"]][1])
        for text in c["texts"]:
            assert text in page or json.dumps(text, ensure_ascii=False)[1:-1] in page, \
                f"{c['source_id']} ({s['layout']}): {c['field']} text {text!r} is not on the page"
        stated_from_claims.setdefault(s["product_id"], set()).add(c["field"])
    stated = _jsonl(WILD / "stated.jsonl")
    assert [s["product_id"] for s in stated] == [g["product_id"] for g in gold]
    total = sum(len(f) for f in gold_by.values())
    hit = 0
    for row in stated:
        assert set(row["stated"]) == stated_from_claims.get(row["product_id"], set()), row["product_id"]
        assert set(row["stated"]) | set(row["unstated"]) == set(gold_by[row["product_id"]]), row["product_id"]
        hit += len(row["stated"])
    assert hit / total >= 0.95, f"ceiling {hit}/{total}"


def test_regeneration_is_byte_identical(tmp_path):
    out = tmp_path / "wild"
    subprocess.run([sys.executable, str(ROOT / "fixtures" / "wild" / "generate.py"), "--out", str(out)],
                   check=True, capture_output=True, timeout=120)
    committed = sorted(p.relative_to(WILD) for p in WILD.rglob("*") if p.is_file())
    fresh = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert fresh == committed
    for rel in committed:
        assert (out / rel).read_bytes() == (WILD / rel).read_bytes(), f"{rel} differs after regeneration"
